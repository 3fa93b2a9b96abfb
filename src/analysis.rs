//! Analysis layer, the one way to run the engine over a capture, for the command line, the
//! terminal interface, the tests and library users: [`Analysis`] says what to read (a file,
//! bytes or a stream) and with what ([`Setup`]: descriptions, keys,
//! threads, limits), then hands over the calls in capture order (a callback, an iterator, a
//! vector) or as they end ([`CallSink`]), and returns the [`Run`]: summary and endpoints.
//!
//! A capture is read once, files and streams alike, so both give the same output. A call whose
//! connection's bind was not captured waits (bounded) for an endpoint-mapper answer naming its
//! interface later in the capture ([`crate::dcerpc::unlabelled`]), and each call is handed
//! over as soon as its place in the order is certain.
//!
//! ```
//! # fn main() -> Result<(), rpcscope::RunError> {
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/02-epm-map-samr.pcap");
//! use rpcscope::{Analysis, model::Outcome};
//!
//! let (calls, run) = Analysis::from_path(path).calls()?;
//! let answered = calls.iter().filter(|c| c.outcome == Outcome::Response).count();
//! assert_eq!(run.summary.calls, calls.len() as u64);
//! println!("{answered} of {} calls answered", calls.len());
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use crate::auth::keys::Keyring;
use crate::engine::{Engine, Limits};
use crate::epm::resolver::EndpointRecord;
use crate::filter::Filter;
use crate::idl::Library;
use crate::model::{Call, PduRecord};
use crate::output::order::{InOrder, MAX_HELD_CALLS};
use crate::pipeline;
use crate::report::AnomalyExample;
use crate::source::file::{CaptureReader, SourceError};
use crate::summary::Summary;

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// Totals over the frames that could be read.
    pub summary: Summary,
    /// Endpoints learned from endpoint-mapper and OXID answers.
    pub endpoints: Vec<EndpointRecord>,
    /// Why reading stopped early (a truncated or corrupt file), if it did.
    pub stopped_by: Option<SourceError>,
}

/// Why a run could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input is not a capture (bad magic, empty, unreadable header).
    #[error("{0}")]
    Source(#[from] SourceError),
    /// Writing a call failed (a closed pipe included).
    #[error("{0}")]
    Output(io::Error),
    /// The capture could not be opened.
    #[error("{0}")]
    Open(io::Error),
    /// The analysis threads could not be started.
    #[error("starting the analysis threads: {0}")]
    Threads(io::Error),
}

/// What a run knows before it starts.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Interface descriptions (IDL) whose operations' pipes are decoded.
    pub library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing protected stubs.
    pub keys: Option<Arc<Keyring>>,
    /// Only the summary's account of endpoints is wanted: [`Run::endpoints`] stays empty and
    /// memory does not grow with the connections that used them
    /// ([`Engine::without_endpoint_records`]).
    pub without_endpoint_records: bool,
    /// Threads for the analysis: 1 (or 0) runs it on the calling thread; more run the
    /// transport stage, the session stage and the output on three ([`pipeline`]), with the
    /// same output. A stream is read on one thread, as each call is wanted as soon as it ends.
    pub threads: usize,
    /// The limits the user moved ([`Engine::with_limits`]).
    pub limits: Limits,
    /// Only the calls this filter chooses are handed over and counted in the summary
    /// ([`Engine::with_filter`]).
    pub filter: Option<Arc<Filter>>,
}

/// Where a run hands its calls: as they end, with how far their capture order is settled.
/// [`crate::output::order`] puts them back in capture order; the `summary` and `endpoints`
/// commands need no order at all.
pub trait CallSink {
    /// Calls that ended, in the order they ended. The sink takes out of `calls` those it keeps;
    /// the driver frees the rest on the thread that made them (with several threads, freeing
    /// on another thread contends for the allocator's lock).
    ///
    /// # Errors
    /// Writing them failed; the run stops with [`RunError::Output`].
    fn calls(&mut self, calls: &mut Vec<Call>) -> io::Result<()>;
    /// No call handed over from now on sorts before first frame `settled`.
    ///
    /// # Errors
    /// As [`CallSink::calls`].
    fn settled(&mut self, settled: u64) -> io::Result<()>;
}

/// A reader of the capture, boxed so that files, bytes and streams are read the same way.
type Reader<'a> = Box<dyn Read + Send + 'a>;

/// What an analysis reads.
enum Input<'a> {
    /// A capture opened when the analysis runs (a file, bytes).
    Open(Box<dyn FnOnce() -> io::Result<Reader<'a>> + 'a>),
    /// A stream (standard input, a FIFO, a socket), read on one thread.
    Stream(Reader<'a>),
}

impl<'a> Input<'a> {
    /// The reader, and whether it is a stream.
    fn open(self) -> Result<(Reader<'a>, bool), RunError> {
        match self {
            Self::Open(open) => Ok((open().map_err(RunError::Open)?, false)),
            Self::Stream(reader) => Ok((reader, true)),
        }
    }
}

/// One analysis of one capture; see the [module documentation](self).
pub struct Analysis<'a> {
    input: Input<'a>,
    setup: Setup,
    on_pdu: Option<&'a mut dyn FnMut(PduRecord)>,
}

impl std::fmt::Debug for Analysis<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis")
            .field("stream", &matches!(self.input, Input::Stream(_)))
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

impl<'a> Analysis<'a> {
    /// A capture file. An error opening it is reported when the analysis runs
    /// ([`RunError::Open`]).
    #[must_use]
    pub fn from_path(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        Self::opening(move || File::open(&path))
    }

    /// A capture held in memory.
    #[must_use]
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        Self::opening(move || Ok(bytes))
    }

    /// A capture that `open` opens when the analysis runs (a file seen through a progress
    /// counter, say).
    #[must_use]
    pub fn opening<R: Read + Send + 'a>(open: impl FnOnce() -> io::Result<R> + 'a) -> Self {
        Self {
            input: Input::Open(Box::new(move || open().map(|r| Box::new(r) as Reader<'a>))),
            setup: Setup::default(),
            on_pdu: None,
        }
    }

    /// A stream (standard input, a FIFO, a socket), read on one thread so that each call is
    /// handed over as soon as its place is certain.
    #[must_use]
    pub fn from_reader(reader: impl Read + Send + 'a) -> Self {
        Self {
            input: Input::Stream(Box::new(reader)),
            setup: Setup::default(),
            on_pdu: None,
        }
    }

    /// Runs with `setup`.
    #[must_use]
    pub fn setup(mut self, setup: Setup) -> Self {
        self.setup = setup;
        self
    }

    /// Decodes the pipes of the operations `library` describes, and their parameters when it
    /// says [`Library::decode_parameters`].
    #[must_use]
    pub fn library(mut self, library: Arc<Library>) -> Self {
        self.setup.library = Some(library);
        self
    }

    /// Unseals protected stubs with the user's secrets.
    #[must_use]
    pub fn keys(mut self, keys: Arc<Keyring>) -> Self {
        self.setup.keys = Some(keys);
        self
    }

    /// Runs on `threads` threads ([`Setup::threads`]).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.setup.threads = threads;
        self
    }

    /// Hands a record of every PDU read to `on_pdu` too, in the order they were read (after
    /// each frame, on the calling thread), as `rpcscope pdus` and the call-flow view need them.
    ///
    /// ```
    /// # fn main() -> Result<(), rpcscope::RunError> {
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/02-epm-map-samr.pcap");
    /// use rpcscope::dce::body::Body;
    ///
    /// let mut accepted = 0;
    /// let mut count = |pdu: rpcscope::model::PduRecord| {
    ///     if let Body::BindAck(ack) = &pdu.body {
    ///         accepted += ack.results.iter().filter(|r| r.result == 0).count();
    ///     }
    /// };
    /// let (_, run) = rpcscope::Analysis::from_path(path).pdus(&mut count).calls()?;
    /// assert!(accepted > 0);
    /// assert_eq!(run.summary.counters.get("contexts_accepted"), Some(&(accepted as u64)));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn pdus(mut self, on_pdu: &'a mut dyn FnMut(PduRecord)) -> Self {
        self.on_pdu = Some(on_pdu);
        self
    }

    /// Runs, handing calls to `sink` as they end (with several threads, on the calling
    /// thread).
    ///
    /// # Errors
    /// [`RunError::Open`] when the capture cannot be opened; [`RunError::Source`] when it is
    /// not a capture at all; [`RunError::Output`] when `sink` fails; [`RunError::Threads`] when
    /// the analysis threads cannot be started. An error later in the file does not fail the
    /// run: the frames before it are analysed and the error is in [`Run::stopped_by`].
    pub fn into_sink(self, sink: &mut dyn CallSink) -> Result<Run, RunError> {
        let Self {
            input,
            setup,
            on_pdu,
        } = self;
        let (reader, stream) = input.open()?;
        let threads = if stream { 1 } else { setup.threads };
        let engine = engine_for(&setup, on_pdu.is_some());
        drive(engine, reader, threads, sink, on_pdu)
    }

    /// Runs, handing each call to `on_call` in capture order as soon as its place is certain.
    ///
    /// # Errors
    /// As [`Analysis::into_sink`], with `on_call`'s errors as [`RunError::Output`].
    pub fn for_each_call(
        self,
        on_call: impl FnMut(Call) -> io::Result<()>,
    ) -> Result<Run, RunError> {
        let mut sink = InOrderSink {
            order: InOrder::default(),
            on_call,
        };
        let mut run = self.into_sink(&mut sink)?;
        report_out_of_order(&sink.order, &mut run.summary);
        Ok(run)
    }

    /// Runs to the end and returns every call, in capture order, with the run.
    ///
    /// # Errors
    /// As [`Analysis::into_sink`].
    pub fn calls(self) -> Result<(Vec<Call>, Run), RunError> {
        let mut calls = Vec::new();
        let run = self.for_each_call(|c| {
            calls.push(c);
            Ok(())
        })?;
        Ok((calls, run))
    }

    /// The calls in capture order as an iterator that reads the capture as it is consumed (on
    /// the calling thread, whatever [`Setup::threads`] says); [`Calls::run`] gives the run
    /// once the iterator is exhausted.
    ///
    /// ```
    /// # fn main() -> Result<(), rpcscope::RunError> {
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/02-epm-map-samr.pcap");
    /// let mut calls = rpcscope::Analysis::from_path(path).iter()?;
    /// let operations: Vec<String> = calls
    ///     .by_ref()
    ///     .filter_map(|c| c.operation.map(|o| o.to_string()))
    ///     .collect();
    /// assert!(!operations.is_empty());
    /// let run = calls.run().expect("the capture was read to its end");
    /// assert_eq!(run.summary.calls as usize, operations.len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`RunError::Open`] or [`RunError::Source`] when the capture cannot be opened or is not
    /// a capture.
    pub fn iter(self) -> Result<Calls<'a>, RunError> {
        let Self {
            input,
            setup,
            on_pdu,
        } = self;
        let (reader, _) = input.open()?;
        Ok(Calls {
            reader: CaptureReader::new(reader)?,
            engine: Some(engine_for(&setup, on_pdu.is_some())),
            on_pdu,
            order: InOrder::default(),
            ready: VecDeque::new(),
            run: None,
        })
    }
    /// The PDU records of the capture in the order they are read, as an iterator that reads
    /// the capture as it is consumed (on the calling thread); [`Pdus::run`] gives the run once
    /// the iterator is exhausted. The calls are counted in the run's summary, not handed over
    /// (to have both, give [`Analysis::pdus`] a callback and take the calls another way).
    ///
    /// ```
    /// # fn main() -> Result<(), rpcscope::RunError> {
    /// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/real/02-epm-map-samr.pcap");
    /// use rpcscope::dce::body::Body;
    ///
    /// let mut pdus = rpcscope::Analysis::from_path(path).pdu_iter()?;
    /// let binds = pdus.by_ref().filter(|p| matches!(p.body, Body::Bind(_))).count();
    /// assert_eq!(Some(&(binds as u64)), pdus.run().unwrap().summary.pdus.get("bind"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Analysis::iter`].
    pub fn pdu_iter(self) -> Result<Pdus<'a>, RunError> {
        let Self { input, setup, .. } = self;
        let (reader, _) = input.open()?;
        Ok(Pdus {
            reader: CaptureReader::new(reader)?,
            engine: Some(engine_for(&setup, true)),
            ready: VecDeque::new(),
            run: None,
        })
    }
}

/// The PDU records of an [`Analysis`] in the order they are read ([`Analysis::pdu_iter`]).
pub struct Pdus<'a> {
    reader: CaptureReader<Reader<'a>>,
    /// None once the capture was read to its end.
    engine: Option<Engine>,
    /// Records read, not yet taken.
    ready: VecDeque<PduRecord>,
    run: Option<Run>,
}

impl std::fmt::Debug for Pdus<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdus")
            .field("ready", &self.ready.len())
            .field("ended", &self.run.is_some())
            .finish_non_exhaustive()
    }
}

impl Pdus<'_> {
    /// The run, once every record was taken.
    #[must_use]
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }
}

impl Iterator for Pdus<'_> {
    type Item = PduRecord;

    fn next(&mut self) -> Option<PduRecord> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Some(p);
            }
            let engine = self.engine.as_mut()?;
            let stopped_by = match self.reader.next_frame() {
                Ok(Some(frame)) => {
                    engine.process(&frame);
                    drop(engine.take_calls());
                    self.ready.extend(engine.take_pdu_records());
                    continue;
                }
                Ok(None) => None,
                Err(e) => Some(e),
            };
            let mut engine = self.engine.take()?;
            self.ready.extend(engine.take_pdu_records());
            let finished = engine.finish();
            self.run = Some(Run {
                summary: finished.summary,
                endpoints: finished.endpoints,
                stopped_by,
            });
        }
    }
}

/// The calls of an [`Analysis`] in capture order, read as they are consumed
/// ([`Analysis::iter`]).
pub struct Calls<'a> {
    reader: CaptureReader<Reader<'a>>,
    /// None once the capture was read to its end.
    engine: Option<Engine>,
    on_pdu: Option<&'a mut dyn FnMut(PduRecord)>,
    order: InOrder<Call>,
    /// Calls whose turn came, not yet taken.
    ready: VecDeque<Call>,
    run: Option<Run>,
}

impl std::fmt::Debug for Calls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("ready", &self.ready.len())
            .field("ended", &self.run.is_some())
            .finish_non_exhaustive()
    }
}

impl Calls<'_> {
    /// The run, once every call was taken.
    #[must_use]
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// Moves the settled calls to `ready`.
    fn release(&mut self, calls: Vec<Call>, settled: u64) {
        for call in calls {
            self.order.push(call.sort_key(), call);
        }
        let ready = &mut self.ready;
        let _ = self.order.release(settled, |c| {
            ready.push_back(c);
            Ok::<(), ()>(())
        });
    }
}

impl Iterator for Calls<'_> {
    type Item = Call;

    fn next(&mut self) -> Option<Call> {
        loop {
            if let Some(call) = self.ready.pop_front() {
                return Some(call);
            }
            let engine = self.engine.as_mut()?;
            let stopped_by = match self.reader.next_frame() {
                Ok(Some(frame)) => {
                    engine.process(&frame);
                    let (calls, settled) = (engine.take_calls(), engine.settled());
                    if let Some(f) = self.on_pdu.as_mut() {
                        engine.take_pdu_records().into_iter().for_each(&mut **f);
                    }
                    self.release(calls, settled);
                    continue;
                }
                Ok(None) => None,
                Err(e) => Some(e),
            };
            let finished = self.engine.take()?.finish();
            self.release(finished.calls, u64::MAX);
            let mut summary = finished.summary;
            report_out_of_order(&self.order, &mut summary);
            self.run = Some(Run {
                summary,
                endpoints: finished.endpoints,
                stopped_by,
            });
        }
    }
}

/// Reads a whole capture held in memory and returns every call with the run:
/// `Analysis::from_bytes(capture).calls()`.
///
/// # Errors
/// As [`Analysis::into_sink`].
pub fn analyze(capture: &[u8]) -> Result<(Vec<Call>, Run), RunError> {
    Analysis::from_bytes(capture).calls()
}

/// Like [`analyze`], decoding the pipes of the operations `library` describes (and their
/// parameters when it says [`Library::decode_parameters`]).
///
/// # Errors
/// As [`Analysis::into_sink`].
pub fn analyze_with(
    capture: &[u8],
    library: Option<Arc<Library>>,
) -> Result<(Vec<Call>, Run), RunError> {
    let analysis = Analysis::from_bytes(capture);
    match library {
        Some(lib) => analysis.library(lib),
        None => analysis,
    }
    .calls()
}

/// A sink that puts calls back in capture order in memory and hands them to a callback.
struct InOrderSink<F> {
    order: InOrder<Call>,
    on_call: F,
}

impl<F: FnMut(Call) -> io::Result<()>> CallSink for InOrderSink<F> {
    fn calls(&mut self, calls: &mut Vec<Call>) -> io::Result<()> {
        for call in calls.drain(..) {
            self.order.push(call.sort_key(), call);
        }
        Ok(())
    }

    fn settled(&mut self, settled: u64) -> io::Result<()> {
        self.order.release(settled, &mut self.on_call)
    }
}

/// Says in `summary` how many calls went out before their turn.
fn report_out_of_order(order: &InOrder<Call>, summary: &mut Summary) {
    let (n, first) = order.out_of_order();
    if n > 0 {
        let entry = summary
            .anomalies
            .entry("output_order_limit".to_string())
            .or_default();
        entry.count += n;
        entry.examples.push(AnomalyExample {
            frame: first.unwrap_or(0),
            detail: format!("more than {MAX_HELD_CALLS} finished calls waited behind an open one"),
        });
    }
}

/// The engine a run with `setup` uses.
fn engine_for(setup: &Setup, pdus: bool) -> Engine {
    let mut engine = Engine::new();
    if let Some(lib) = &setup.library {
        engine = engine.with_library(Arc::clone(lib));
    }
    if let Some(keys) = &setup.keys {
        engine = engine.with_keys(Arc::clone(keys));
    }
    if pdus {
        engine = engine.with_pdu_records();
    }
    if setup.without_endpoint_records {
        engine = engine.without_endpoint_records();
    }
    if let Some(filter) = &setup.filter {
        engine = engine.with_filter(Arc::clone(filter));
    }
    engine.with_limits(&setup.limits)
}

/// Reads the capture into `engine`, on one thread or as a [`pipeline`], handing calls and
/// PDU records over after each frame.
fn drive<R: Read + Send>(
    engine: Engine,
    input: R,
    threads: usize,
    sink: &mut dyn CallSink,
    mut on_pdu: Option<&mut dyn FnMut(PduRecord)>,
) -> Result<Run, RunError> {
    let mut reader = CaptureReader::new(input)?;
    let mut settled = 0;
    let mut release = |calls: &mut Vec<Call>, now: u64, pdus: Vec<PduRecord>| {
        let ended = !calls.is_empty();
        if ended {
            sink.calls(calls)?;
        }
        if ended || now != settled {
            settled = now;
            sink.settled(settled)?;
        }
        if let Some(f) = on_pdu.as_mut() {
            pdus.into_iter().for_each(f);
        }
        Ok(())
    };
    let (finished, stopped_by) = if threads > 1 {
        pipeline::run(engine, reader, |r| {
            release(&mut r.calls, r.settled, std::mem::take(&mut r.pdus))
        })
        .map_err(RunError::Output)?
    } else {
        let mut engine = engine;
        let stopped_by = loop {
            match reader.next_frame() {
                Ok(Some(frame)) => engine.process(&frame),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
            let (mut calls, pdus) = (engine.take_calls(), engine.take_pdu_records());
            release(&mut calls, engine.settled(), pdus).map_err(RunError::Output)?;
        };
        (engine.finish(), stopped_by)
    };
    let mut last = finished.calls;
    sink.calls(&mut last).map_err(RunError::Output)?;
    sink.settled(u64::MAX).map_err(RunError::Output)?;
    Ok(Run {
        summary: finished.summary,
        endpoints: finished.endpoints,
        stopped_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/captures/real/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(path).expect("a shipped capture")
    }

    #[test]
    fn every_way_of_taking_the_calls_gives_the_same_calls() {
        let bytes = capture("02-epm-map-samr.pcap");
        let (collected, run) = Analysis::from_bytes(&bytes).calls().unwrap();
        assert!(!collected.is_empty());
        let mut iter = Analysis::from_bytes(&bytes).iter().unwrap();
        let iterated: Vec<Call> = iter.by_ref().collect();
        assert_eq!(iterated, collected);
        let iter_run = iter.run().unwrap();
        assert_eq!(
            serde_json::to_string(&iter_run.summary).unwrap(),
            serde_json::to_string(&run.summary).unwrap()
        );
        assert_eq!(iter_run.endpoints, run.endpoints);
        let (threaded, _) = Analysis::from_bytes(&bytes).threads(2).calls().unwrap();
        assert_eq!(threaded, collected);
        let (streamed, _) = Analysis::from_reader(&bytes[..]).calls().unwrap();
        assert_eq!(streamed.len(), collected.len());
    }

    #[test]
    fn the_pdu_iterator_gives_what_the_callback_gets() {
        let bytes = capture("05-ntlm-sign.pcap");
        let mut seen = Vec::new();
        let mut keep = |p| seen.push(p);
        let (_, run) = Analysis::from_bytes(&bytes)
            .pdus(&mut keep)
            .calls()
            .unwrap();
        let mut iter = Analysis::from_bytes(&bytes).pdu_iter().unwrap();
        let iterated: Vec<PduRecord> = iter.by_ref().collect();
        assert!(seen.len() > 20);
        assert_eq!(iterated, seen);
        assert_eq!(iter.run().unwrap().summary.calls, run.summary.calls);
    }

    /// Every shipped capture, on one and two threads (the session stage checks at its end that
    /// every connection gave back the bytes its framers held).
    #[test]
    fn every_shipped_capture_runs_to_its_end() {
        let dir = format!("{}/captures/real", env!("CARGO_MANIFEST_DIR"));
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                continue;
            }
            for threads in [1, 2] {
                let (calls, run) = Analysis::from_path(&path).threads(threads).calls().unwrap();
                assert_eq!(calls.len() as u64, run.summary.calls, "{}", path.display());
            }
            read += 1;
        }
        assert!(read > 40, "{read} captures");
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_open_error() {
        let err = Analysis::from_path("/nonexistent/capture.pcap")
            .calls()
            .unwrap_err();
        assert!(matches!(err, RunError::Open(_)), "{err:?}");
    }

    #[test]
    fn bytes_that_are_not_a_capture_are_a_source_error() {
        let err = Analysis::from_bytes(b"not a capture at all")
            .iter()
            .unwrap_err();
        assert!(matches!(err, RunError::Source(_)), "{err:?}");
    }
}
