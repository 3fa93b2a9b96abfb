//! rpcscope: makes Microsoft RPC (DCE/RPC, MS-RPCE) traffic readable.
//!
//! # Layers
//!
//! ```text
//! source   (pcap / pcapng, file or stdin)            Frame {number, ts, link type, bytes}
//!   └─ link     (Ethernet/VLAN, SLL, SLL2, raw, null)   TcpSegment | Ipv4Fragment
//!       ├─ ip_defrag (IPv4 fragments, capped)           TcpSegment
//!       └─ tcp       (flow table, both directions with late segments waiting, reassembly per dir)
//!           │                                           data(offset, bytes, origin) | gap
//!           │  engine::transport → SessionEvents: opened | data | gap | closed | frame_done
//!           └─ engine::sessions (what a connection carries: SMB, Kerberos, DCE/RPC)
//!               ├─ kdc       (Kerberos on port 88, with keys: keys learned)
//!               ├─ smb       (named pipes over SMB1/2/3)
//!               └─ dcerpc::framing    (PDU boundaries, resync after gaps)   FramedPdu
//!                   └─ dcerpc::association (contexts, calls, fragments)      Call
//!                       │  dcerpc::security (auth contexts; unsealing with auth::*)
//!                       └─ summary / output (JSON Lines, tables, summary)
//! ```
//!
//! Each layer consumes the one above it and knows nothing of the ones below; identifiers they
//! all share (UUIDs, codes, names) are in [`dce`]. The [`engine`] does no I/O; [`run`] reads a
//! capture into it, on one thread or, with [`Setup::threads`], as a [`pipeline`] of its two
//! stages and the output. Every buffer and table is bounded by a named constant in the module
//! that owns it; reaching a limit is counted in the summary.

#![forbid(unsafe_code)]

pub mod auth;
pub mod context;
pub mod dce;
pub mod dcerpc;
pub mod dcom;
pub mod engine;
pub mod epm;
pub mod hash;
pub mod idl;
pub mod ip_defrag;
pub mod kdc;
pub mod knowledge;
pub mod link;
pub mod live;
pub mod model;
pub mod ndr;
pub mod netlogon;
pub mod outbox;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod smb;
pub mod source;
pub mod status;
pub mod summary;
pub mod tcp;
pub mod tui;

use std::io::{self, Read};
use std::sync::Arc;

use engine::Engine;
use epm::resolver::{EndpointRecord, Prior};
use idl::Library;
use model::{Call, PduNote};
use source::file::{CaptureReader, SourceError};
use summary::Summary;

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
    /// The capture could not be opened (for its first or its second reading).
    #[error("{0}")]
    Open(io::Error),
    /// The analysis threads of the first reading could not be started.
    #[error("starting the analysis threads: {0}")]
    Threads(io::Error),
}

/// What a run knows before it starts.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Endpoints a [`first_pass`] over the same capture found, so that connections that began
    /// before the answer announcing their endpoint are labelled too.
    pub prior: Prior,
    /// Interface descriptions (IDL) whose operations' pipes are decoded.
    pub library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing protected stubs.
    pub keys: Option<Arc<auth::keys::Keyring>>,
    /// Only the summary's account of endpoints is wanted: [`Run::endpoints`] stays empty and
    /// memory does not grow with the connections that used them
    /// ([`Engine::without_endpoint_records`]).
    pub without_endpoint_records: bool,
    /// Threads for the analysis: 1 (or 0) runs it on the calling thread; more run the
    /// transport stage, the session stage and the output on three ([`pipeline`]), with the
    /// same output. Standard input and other streams are read on one thread, as each call is
    /// wanted as soon as it ends.
    pub threads: usize,
    /// TCP connections tracked at once, when not
    /// [`tcp::flow_table::MAX_CONNECTIONS`] ([`Engine::with_max_connections`]).
    pub max_connections: Option<usize>,
}

/// Where a run hands its calls: as they end, with how far their capture order is settled.
/// [`output::order`] puts them back in capture order; the `summary` and `endpoints` commands
/// need no order at all.
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

/// A sink that puts calls back in capture order in memory ([`output::order::InOrder`]) and
/// hands them to a callback.
struct InOrderSink<F> {
    order: output::order::InOrder<Call>,
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

impl<F> InOrderSink<F> {
    /// Says in `summary` how many calls went out before their turn.
    fn report(&self, summary: &mut Summary) {
        let (n, first) = self.order.out_of_order();
        if n > 0 {
            let entry = summary
                .anomalies
                .entry("output_order_limit".to_string())
                .or_default();
            entry.count += n;
            entry.examples.push(report::AnomalyExample {
                frame: first.unwrap_or(0),
                detail: format!(
                    "more than {} finished calls waited behind an open one",
                    output::order::MAX_HELD_CALLS
                ),
            });
        }
    }
}

/// Runs `read` with a sink that hands calls to `on_call` in capture order, and says in the
/// summary how many went out before their turn.
fn in_capture_order<F: FnMut(Call) -> io::Result<()>>(
    on_call: F,
    read: impl FnOnce(&mut dyn CallSink) -> Result<Run, RunError>,
) -> Result<Run, RunError> {
    let mut sink = InOrderSink {
        order: output::order::InOrder::default(),
        on_call,
    };
    let mut run = read(&mut sink)?;
    sink.report(&mut run.summary);
    Ok(run)
}

/// Reads a whole capture from `input`, handing each call to `on_call` in capture order as soon
/// as its place is certain.
///
/// Endpoint-mapper answers label the connections made after them; to label earlier ones too,
/// read the capture twice: [`run_twice`] ([`first_pass`], then [`run_with`] with its endpoints).
///
/// # Errors
/// [`RunError::Source`] when the input is not a capture at all; [`RunError::Output`] when
/// `on_call` fails. An error later in the file does not fail the run: the frames before it are
/// analysed and the error is returned in [`Run::stopped_by`].
pub fn run<R: Read + Send>(
    input: R,
    on_call: impl FnMut(Call) -> io::Result<()>,
) -> Result<Run, RunError> {
    run_with(input, &Setup::default(), on_call, None)
}

/// Like [`run`], with what is known beforehand; with `on_note`, every non-call PDU (bind,
/// bind_ack, alter_context, auth3, ...) is handed to it too, as the call-flow view needs them.
///
/// Calls wait in memory for their turn ([`output::order::InOrder`]); [`run_into`] hands them
/// over as they end instead.
///
/// # Errors
/// As [`run`].
pub fn run_with<R: Read + Send>(
    input: R,
    setup: &Setup,
    on_call: impl FnMut(Call) -> io::Result<()>,
    on_note: Option<&mut dyn FnMut(PduNote)>,
) -> Result<Run, RunError> {
    in_capture_order(on_call, |sink| run_into(input, setup, sink, on_note))
}

/// Like [`run_with`], handing calls to `sink` as they end.
///
/// # Errors
/// As [`run`], with `sink`'s errors as [`RunError::Output`].
pub fn run_into<R: Read + Send>(
    input: R,
    setup: &Setup,
    sink: &mut dyn CallSink,
    on_note: Option<&mut dyn FnMut(PduNote)>,
) -> Result<Run, RunError> {
    let mut engine = Engine::with_prior(&setup.prior);
    if let Some(lib) = &setup.library {
        engine = engine.with_library(Arc::clone(lib));
    }
    if let Some(keys) = &setup.keys {
        engine = engine.with_keys(Arc::clone(keys));
    }
    if on_note.is_some() {
        engine = engine.with_notes();
    }
    if setup.without_endpoint_records {
        engine = engine.without_endpoint_records();
    }
    if let Some(max) = setup.max_connections {
        engine = engine.with_max_connections(max);
    }
    drive(engine, input, setup.threads, sink, on_note)
}

/// Reads a capture that can be opened twice (a file), the way the command line, the terminal
/// interface and the tests all do: first its endpoint-mapper conversations ([`first_pass`]),
/// so that connections that began before the answer announcing their endpoint are labelled
/// too, then all of it with what they announced ([`run_with`]). `open` gives a new reader each
/// time (a progress counter may wrap the file); `setup.prior` is replaced by what the first
/// reading found.
///
/// # Errors
/// [`RunError::Open`] when `open` fails; otherwise as [`run`].
pub fn run_twice<R: Read + Send>(
    open: impl Fn() -> io::Result<R>,
    setup: &Setup,
    on_call: impl FnMut(Call) -> io::Result<()>,
    on_note: Option<&mut dyn FnMut(PduNote)>,
) -> Result<Run, RunError> {
    in_capture_order(on_call, |sink| run_twice_into(open, setup, sink, on_note))
}

/// Like [`run_twice`], handing calls to `sink` as they end.
///
/// # Errors
/// As [`run_twice`], with `sink`'s errors as [`RunError::Output`].
pub fn run_twice_into<R: Read + Send>(
    open: impl Fn() -> io::Result<R>,
    setup: &Setup,
    sink: &mut dyn CallSink,
    on_note: Option<&mut dyn FnMut(PduNote)>,
) -> Result<Run, RunError> {
    let prior = first_pass_on(open().map_err(RunError::Open)?, setup.threads)?;
    let setup = Setup {
        prior,
        ..setup.clone()
    };
    run_into(open().map_err(RunError::Open)?, &setup, sink, on_note)
}

/// Reads a capture following only endpoint-mapper connections (fast), and returns the endpoints
/// their answers announced. Errors inside the file end the pass early without failing it.
///
/// # Errors
/// [`RunError::Source`] when the input is not a capture at all.
pub fn first_pass<R: Read + Send>(input: R) -> Result<Prior, RunError> {
    first_pass_on(input, 1)
}

/// [`first_pass`] on `threads` threads ([`Setup::threads`]).
fn first_pass_on<R: Read + Send>(input: R, threads: usize) -> Result<Prior, RunError> {
    let mut reader = CaptureReader::new(input)?;
    if threads > 1 {
        return pipeline::first_pass(Engine::first_pass(), reader).map_err(RunError::Threads);
    }
    let mut engine = Engine::first_pass();
    while let Ok(Some(frame)) = reader.next_frame() {
        engine.process(&frame);
        engine.take_calls();
    }
    Ok(engine.finish_first_pass())
}

fn drive<R: Read + Send>(
    engine: Engine,
    input: R,
    threads: usize,
    sink: &mut dyn CallSink,
    mut on_note: Option<&mut dyn FnMut(PduNote)>,
) -> Result<Run, RunError> {
    let mut reader = CaptureReader::new(input)?;
    let mut settled = 0;
    let mut release = |calls: &mut Vec<Call>, now: u64, notes: Vec<PduNote>| {
        let ended = !calls.is_empty();
        if ended {
            sink.calls(calls)?;
        }
        if ended || now != settled {
            settled = now;
            sink.settled(settled)?;
        }
        if let Some(f) = on_note.as_mut() {
            notes.into_iter().for_each(f);
        }
        Ok(())
    };
    let (finished, stopped_by) = if threads > 1 {
        pipeline::run(engine, reader, |r| {
            release(&mut r.calls, r.settled, std::mem::take(&mut r.notes))
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
            let (mut calls, notes) = (engine.take_calls(), engine.take_notes());
            release(&mut calls, engine.settled(), notes).map_err(RunError::Output)?;
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

/// Reads a whole capture held in memory (both passes) and returns every call with the run
/// (convenient for small captures and tests; [`run`] streams).
///
/// # Errors
/// As [`run`].
pub fn analyze(capture: &[u8]) -> Result<(Vec<Call>, Run), RunError> {
    analyze_with(capture, None)
}

/// Like [`analyze`], decoding the pipes of the operations `library` describes (and their
/// parameters when it says [`Library::decode_parameters`]).
///
/// # Errors
/// As [`run`].
pub fn analyze_with(
    capture: &[u8],
    library: Option<Arc<Library>>,
) -> Result<(Vec<Call>, Run), RunError> {
    let setup = Setup {
        prior: Prior::default(),
        library,
        keys: None,
        without_endpoint_records: false,
        threads: 1,
        max_connections: None,
    };
    let mut calls = Vec::new();
    let run = run_twice(
        || Ok(capture),
        &setup,
        |c| {
            calls.push(c);
            Ok(())
        },
        None,
    )?;
    Ok((calls, run))
}
