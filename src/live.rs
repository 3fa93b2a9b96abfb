//! Live capture: a capture thread reads packets from a [`PacketSource`] (libpcap with the `live`
//! feature, see `live::libpcap`; any source in tests), numbers them from 1, writes every one to a
//! pcapng file when asked (`-w`), and hands them to the analysis through a bounded
//! [`queue::PacketQueue`]. The capture thread never waits for the analysis or the terminal: a
//! packet that does not fit in the queue is dropped and counted, and still written to the file.
//!
//! [`drive`] feeds queued packets to the same [`Engine`] offline reading uses; calls are shown
//! as they end, not put back in capture order.

#[cfg(feature = "live")]
pub mod libpcap;
pub mod pcapng;
pub mod queue;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::source::{Frame, LinkType, Timestamp};
use pcapng::{ClosingCounts, PcapngWriter};
use queue::{PacketQueue, Popped};

/// How long the analysis waits for packets before it looks at its other duties (output, the
/// statistics shown, a stop asked by a signal).
pub const TICK: Duration = Duration::from_millis(100);
/// How often the capture thread refreshes the interface counters and flushes the file.
const COUNTS_EVERY: Duration = Duration::from_secs(1);
/// Packets processed between two hand-overs of their calls when packets keep arriving.
const PACKETS_PER_HANDOVER: usize = 1000;

/// A captured packet, numbered in capture order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Frame number (from 1), the same as in the `-w` file.
    pub number: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of the interface.
    pub link_type: LinkType,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub original_len: u32,
}

impl Packet {
    /// The packet as a frame for the engine.
    #[must_use]
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            number: self.number,
            ts: self.ts,
            link_type: self.link_type,
            data: &self.data,
            original_len: self.original_len,
        }
    }
}

/// What a source yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A packet: time, captured bytes, length on the wire.
    Packet(Timestamp, Vec<u8>, u32),
    /// Nothing arrived within the source's read timeout.
    Timeout,
    /// The source has no more packets.
    End,
}

/// Counters an interface keeps (libpcap's `pcap_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounts {
    /// Packets that passed the filter.
    pub received: u64,
    /// Packets dropped by the kernel because its buffer was full.
    pub kernel_dropped: u64,
    /// Packets dropped by the network interface or its driver.
    pub interface_dropped: u64,
}

/// A source of live packets.
pub trait PacketSource: Send {
    /// Link type of every packet.
    fn link_type(&self) -> LinkType;
    /// Snap length (for the capture file's interface description).
    fn snaplen(&self) -> u32;
    /// Interface name (for the capture file and messages).
    fn name(&self) -> &str;
    /// The next packet; [`Next::Timeout`] regularly when idle, so a stop request is seen.
    ///
    /// # Errors
    /// The capture failed (the interface went away, ...), as a one-line reason.
    fn next(&mut self) -> Result<Next, String>;
    /// The interface's counters, when it keeps them.
    fn counts(&mut self) -> Option<InterfaceCounts>;
    /// A function that makes a blocked [`PacketSource::next`] return at once (from another
    /// thread), for sources whose read timeout is not reliable.
    fn waker(&mut self) -> Option<Waker> {
        None
    }
}

/// Wakes a capture blocked in a read (see [`PacketSource::waker`]).
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// Capture statistics at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets rpcscope read from the interface.
    pub captured: u64,
    /// Packets the interface received (that passed the filter), by libpcap's count.
    pub received: u64,
    /// Packets the kernel dropped (its buffer was full).
    pub kernel_dropped: u64,
    /// Packets the interface or its driver dropped.
    pub interface_dropped: u64,
    /// Packets rpcscope dropped because its analysis queue was full.
    pub queue_dropped: u64,
    /// Packets written to the `-w` file.
    pub written: u64,
}

impl CaptureStats {
    /// One line: `1234 packets captured (2468 seen by the kernel filter), dropped: 0 by the
    /// kernel, 0 by the interface, 0 by rpcscope (queue full)`.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "{} packets captured ({} seen by the kernel filter), dropped: {} by the kernel, {} by the interface, \
             {} by rpcscope (queue full)",
            self.captured,
            self.received,
            self.kernel_dropped,
            self.interface_dropped,
            self.queue_dropped
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    captured: AtomicU64,
    received: AtomicU64,
    kernel_dropped: AtomicU64,
    interface_dropped: AtomicU64,
    written: AtomicU64,
}

impl Counters {
    fn set_interface(&self, c: InterfaceCounts) {
        self.received.store(c.received, Ordering::Relaxed);
        self.kernel_dropped
            .store(c.kernel_dropped, Ordering::Relaxed);
        self.interface_dropped
            .store(c.interface_dropped, Ordering::Relaxed);
    }
}

/// Why a live capture failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Opening the interface or the capture failed (permission, unknown interface, bad filter:
    /// the message says which).
    #[error("{0}")]
    Open(String),
    /// The capture failed while running.
    #[error("capture on {interface} failed: {reason}")]
    Capture {
        /// Interface.
        interface: String,
        /// libpcap's reason.
        reason: String,
    },
    /// The `-w` file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The pcapng file `-w` asked for.
#[derive(Debug)]
struct CaptureFile {
    path: PathBuf,
    writer: PcapngWriter<BufWriter<File>>,
}

/// A running capture: its thread, its queue and its counters.
pub struct Capture {
    queue: Arc<PacketQueue>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    waker: Option<Waker>,
    thread: Option<JoinHandle<Result<(), LiveError>>>,
    interface: String,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("interface", &self.interface)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Starts capturing from `source` on a thread, into a default-sized queue; with `write_to`,
    /// every packet is also written to that pcapng file (created or truncated now).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn start<S: PacketSource + 'static>(
        source: S,
        write_to: Option<&Path>,
    ) -> Result<Self, LiveError> {
        Self::start_with_queue(source, write_to, PacketQueue::default())
    }

    /// Like [`Capture::start`], with a given queue (its limits).
    ///
    /// # Errors
    /// As [`Capture::start`].
    pub fn start_with_queue<S: PacketSource + 'static>(
        mut source: S,
        write_to: Option<&Path>,
        queue: PacketQueue,
    ) -> Result<Self, LiveError> {
        let file = match write_to {
            Some(path) => {
                let write_err = |source| LiveError::Write {
                    path: path.to_path_buf(),
                    source,
                };
                let out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(write_err)?);
                let writer =
                    PcapngWriter::new(out, source.link_type(), source.snaplen(), source.name())
                        .map_err(write_err)?;
                Some(CaptureFile {
                    path: path.to_path_buf(),
                    writer,
                })
            }
            None => None,
        };
        let queue = Arc::new(queue);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let interface = source.name().to_string();
        let waker = source.waker();
        let thread = {
            let (queue, counters, stop) =
                (Arc::clone(&queue), Arc::clone(&counters), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("capture".into())
                .spawn(move || {
                    let result = capture_loop(&mut source, &queue, &counters, &stop, file);
                    queue.close();
                    result
                })
                .map_err(|e| LiveError::Open(format!("cannot start the capture thread: {e}")))?
        };
        Ok(Self {
            queue,
            counters,
            stop,
            waker,
            thread: Some(thread),
            interface,
        })
    }

    /// The queue the analysis takes packets from.
    #[must_use]
    pub fn queue(&self) -> &PacketQueue {
        &self.queue
    }

    /// The flag that stops the capture when set (for a signal handler); [`drive`] sees it
    /// within a [`TICK`] and wakes the capture thread.
    #[must_use]
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// True once a stop was asked for.
    #[must_use]
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Asks the capture to stop and wakes its thread; it ends at once.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(wake) = &self.waker {
            wake();
        }
    }

    /// The interface captured.
    #[must_use]
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The counters now.
    #[must_use]
    pub fn stats(&self) -> CaptureStats {
        let c = &self.counters;
        CaptureStats {
            captured: c.captured.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            kernel_dropped: c.kernel_dropped.load(Ordering::Relaxed),
            interface_dropped: c.interface_dropped.load(Ordering::Relaxed),
            queue_dropped: self.queue.dropped(),
            written: c.written.load(Ordering::Relaxed),
        }
    }

    /// Stops the capture, waits for its thread (the capture file is complete when this
    /// returns) and gives the final counters, with the error that ended the capture, if one did.
    #[must_use]
    pub fn finish(mut self) -> (CaptureStats, Option<LiveError>) {
        self.stop();
        let error = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r.err(),
            Some(Err(_)) => Some(LiveError::Capture {
                interface: self.interface.clone(),
                reason: "the capture thread panicked".into(),
            }),
            None => None,
        };
        (self.stats(), error)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The capture thread's loop: until the source ends, `stop` is set, or an error.
fn capture_loop<S: PacketSource>(
    source: &mut S,
    queue: &PacketQueue,
    counters: &Counters,
    stop: &AtomicBool,
    mut file: Option<CaptureFile>,
) -> Result<(), LiveError> {
    let link_type = source.link_type();
    let mut number = 0u64;
    let mut refreshed = Instant::now();
    let write_err = |f: &CaptureFile, source| LiveError::Write {
        path: f.path.clone(),
        source,
    };
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        match source.next() {
            Ok(Next::Packet(ts, data, original_len)) => {
                number += 1;
                counters.captured.store(number, Ordering::Relaxed);
                if let Some(f) = file.as_mut() {
                    if let Err(e) = f.writer.packet(ts, &data, original_len) {
                        break Err(write_err(f, e));
                    }
                    counters.written.fetch_add(1, Ordering::Relaxed);
                }
                queue.push(Packet {
                    number,
                    ts,
                    link_type,
                    data,
                    original_len,
                });
            }
            Ok(Next::Timeout) => {}
            Ok(Next::End) => break Ok(()),
            Err(reason) => {
                break Err(LiveError::Capture {
                    interface: source.name().to_string(),
                    reason,
                });
            }
        }
        if refreshed.elapsed() >= COUNTS_EVERY {
            refreshed = Instant::now();
            if let Some(c) = source.counts() {
                counters.set_interface(c);
            }
            if let Some(f) = file.as_mut()
                && let Err(e) = f.writer.flush()
            {
                break Err(write_err(f, e));
            }
        }
    };
    let counts = source.counts();
    if let Some(c) = counts {
        counters.set_interface(c);
    }
    if let Some(f) = file {
        let c = counts.unwrap_or_default();
        let closing = ClosingCounts {
            received: c.received,
            interface_dropped: c.interface_dropped,
            kernel_dropped: c.kernel_dropped,
        };
        let path = f.path;
        if let Err(source) = f.writer.close(closing) {
            return result.and(Err(LiveError::Write { path, source }));
        }
    }
    result
}

/// Feeds the packets of `capture` to `engine` until the capture ends (a stop asked through
/// [`Capture::stop_flag`] included). `hand_over` runs after every thousand
/// packets and at least every [`TICK`] (to take calls and notes, refresh a display); an error
/// from it ends the loop and is returned.
///
/// # Errors
/// What `hand_over` returned.
pub fn drive(
    capture: &Capture,
    engine: &mut Engine,
    mut hand_over: impl FnMut(&mut Engine) -> io::Result<()>,
) -> io::Result<()> {
    let mut batch = Vec::new();
    loop {
        if capture.stopping() {
            capture.stop();
        }
        let popped = capture.queue().pop_batch(&mut batch, TICK);
        for (i, p) in batch.drain(..).enumerate() {
            engine.process(&p.frame());
            if (i + 1) % PACKETS_PER_HANDOVER == 0 {
                hand_over(engine)?;
            }
        }
        hand_over(engine)?;
        if popped == Popped::Closed {
            return Ok(());
        }
    }
}

/// Writes each call as one JSON line and flushes it, until the capture ends; then the calls
/// still open. Returns the engine's end-of-run results.
///
/// # Errors
/// Writing failed (the capture is stopped first).
pub fn json_lines<W: Write>(
    capture: &Capture,
    mut engine: Engine,
    out: &mut W,
) -> io::Result<crate::engine::Finished> {
    let written = drive(capture, &mut engine, |e| {
        let calls = e.take_calls();
        for c in &calls {
            crate::output::json::write_call(out, c)?;
        }
        if calls.is_empty() {
            Ok(())
        } else {
            out.flush()
        }
    });
    if let Err(e) = written {
        capture.stop();
        return Err(e);
    }
    let finished = engine.finish();
    for c in &finished.calls {
        crate::output::json::write_call(out, c)?;
    }
    out.flush()?;
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Yields prepared packets as fast as asked, then ends.
    struct FakeSource {
        packets: VecDeque<Vec<u8>>,
        gate: Option<Arc<AtomicBool>>,
    }

    impl PacketSource for FakeSource {
        fn link_type(&self) -> LinkType {
            LinkType::RAW
        }
        fn snaplen(&self) -> u32 {
            65_535
        }
        fn name(&self) -> &str {
            "fake0"
        }
        fn next(&mut self) -> Result<Next, String> {
            if let Some(g) = &self.gate
                && !g.load(Ordering::Relaxed)
            {
                std::thread::sleep(Duration::from_millis(1));
                return Ok(Next::Timeout);
            }
            Ok(match self.packets.pop_front() {
                Some(d) => {
                    let len = u32::try_from(d.len()).unwrap();
                    Next::Packet(Timestamp { secs: 1, nanos: 0 }, d, len)
                }
                None => Next::End,
            })
        }
        fn counts(&mut self) -> Option<InterfaceCounts> {
            Some(InterfaceCounts {
                received: 1000,
                kernel_dropped: 3,
                interface_dropped: 1,
            })
        }
    }

    fn fake(n: usize) -> FakeSource {
        FakeSource {
            packets: (0..n)
                .map(|i| vec![u8::try_from(i % 251).unwrap(); 10])
                .collect(),
            gate: None,
        }
    }

    /// Waits (at most ten seconds) until `done` holds.
    fn wait_for(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking_the_capture() {
        // Nobody takes packets: the capture still runs to the end of the source.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.pcapng");
        let queue = PacketQueue::with_limits(10, 1 << 20);
        let capture = Capture::start_with_queue(fake(1000), Some(&path), queue).unwrap();
        wait_for(|| capture.stats().captured == 1000);
        let mut kept = Vec::new();
        while capture.queue().pop_batch(&mut kept, TICK) != Popped::Closed {}
        let stats = capture.finish().0;
        assert_eq!(stats.captured, 1000);
        assert_eq!(stats.queue_dropped, 990);
        let numbers: Vec<u64> = kept.iter().map(|p| p.number).collect();
        assert_eq!(
            numbers,
            (1..=10).collect::<Vec<_>>(),
            "the first ten were kept"
        );
        assert_eq!(stats.written, 1000, "every packet goes to the file");
        let interface = (
            stats.received,
            stats.kernel_dropped,
            stats.interface_dropped,
        );
        assert_eq!(interface, (1000, 3, 1));
        let bytes = std::fs::read(&path).unwrap();
        let mut r = crate::source::file::CaptureReader::new(bytes.as_slice()).unwrap();
        let mut n = 0u64;
        while let Some(f) = r.next_frame().unwrap() {
            assert_eq!(f.data, &[u8::try_from(n % 251).unwrap(); 10][..]);
            n += 1;
        }
        assert_eq!(n, 1000, "the closed file is complete and readable");
    }

    #[test]
    fn a_consumer_that_keeps_up_gets_every_packet_in_order() {
        let capture = Capture::start(fake(5000), None).unwrap();
        let mut got = Vec::new();
        while capture.queue().pop_batch(&mut got, TICK) != Popped::Closed {}
        let stats = capture.finish().0;
        assert_eq!(stats.queue_dropped, 0);
        let numbers: Vec<u64> = got.iter().map(|p| p.number).collect();
        assert_eq!(numbers, (1..=5000).collect::<Vec<_>>());
    }

    #[test]
    fn byte_limit_applies_but_one_large_packet_always_fits() {
        let q = PacketQueue::with_limits(100, 25);
        let p = |n, size| Packet {
            number: n,
            ts: Timestamp::default(),
            link_type: LinkType::RAW,
            data: vec![0; size],
            original_len: 0,
        };
        assert!(q.push(p(1, 100)), "an empty queue takes any packet");
        assert!(!q.push(p(2, 1)), "the byte limit is reached");
        let mut b = Vec::new();
        assert_eq!(q.pop_batch(&mut b, Duration::ZERO), Popped::Some);
        assert!(q.push(p(3, 20)));
        assert!(!q.push(p(4, 10)));
        assert!(q.push(p(5, 5)));
        q.close();
        assert!(!q.push(p(6, 1)), "a closed queue takes nothing");
        assert_eq!(q.pop_batch(&mut b, Duration::ZERO), Popped::Some);
        assert_eq!(q.pop_batch(&mut b, Duration::ZERO), Popped::Closed);
        let numbers: Vec<u64> = b.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [1, 3, 5]);
        assert_eq!(q.dropped(), 3);
    }

    #[test]
    fn stop_ends_an_idle_capture_and_the_analysis() {
        let source = FakeSource {
            gate: Some(Arc::new(AtomicBool::new(false))),
            ..fake(5)
        };
        let capture = Capture::start(source, None).unwrap();
        let stop = capture.stop_flag();
        let mut engine = Engine::new();
        let mut rounds = 0;
        drive(&capture, &mut engine, |_| {
            rounds += 1;
            if rounds == 3 {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
        assert!(rounds >= 3);
        assert_eq!(capture.finish().0.captured, 0);
    }
}
