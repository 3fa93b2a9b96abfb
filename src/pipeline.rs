//! Analysis on three threads (a driver between the capture reader and the outputs): the
//! transport stage ([`crate::engine::transport`]: reading, link, IPv4, TCP) on one, the session
//! stage ([`crate::engine::sessions`]: SMB, DCE/RPC, what connections teach each other) on a
//! second, and the call stage ([`crate::engine::calls`]) with the caller's output (rendering,
//! ordering, writing) on the calling thread.
//!
//! The transport stage records its events into batches (the bytes copied into the batch) and
//! the session stage replays them in the same order, so every call, every counter and the
//! settled frame come out exactly as on one thread: the output does not depend on the thread
//! count, nor on where batches are cut (at the end of a frame, or inside one that releases
//! much: a hole declared lost may deliver megabytes the connection held).
//!
//! Limits: a batch is sent once it holds [`BATCH_EVENTS`] events or [`BATCH_BYTES`] bytes (it
//! may exceed that by one event's bytes); at most [`BATCHES_IN_FLIGHT`] batches wait between
//! two stages, so memory does not grow when a later stage is slower.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::ops::Range;
use std::panic::resume_unwind;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread;

use crate::engine::sessions::{Sessions, SessionsEnd};
use crate::engine::transport::{Closed, Opened, SessionEvents, Transport, TransportEnd};
use crate::engine::{Engine, Finished};
use crate::model::{Call, PduRecord};
use crate::source::file::{CaptureReader, SourceError};
use crate::tcp::{Dir, Origin};

/// Events in a batch before it is sent.
pub const BATCH_EVENTS: usize = 2048;
/// Stream bytes in a batch before it is sent.
pub const BATCH_BYTES: usize = 256 << 10;
/// Batches (or released call lists) waiting between two stages; the sending stage waits.
pub const BATCHES_IN_FLIGHT: usize = 8;

/// One transport event, its bytes in the batch's buffer. Rare events are boxed so that every
/// event, most of them `Data` and `FrameDone`, takes little room in the batch.
#[derive(Debug)]
enum Event {
    Opened(Box<Opened>),
    Data {
        conn: u64,
        dir: Dir,
        offset: u64,
        bytes: Range<usize>,
        origin: Origin,
    },
    Gap {
        conn: u64,
        dir: Dir,
        offset: u64,
        len: u64,
    },
    Closed(Box<Closed>),
    KdcDatagram(Range<usize>),
    RpcDatagram(Box<RpcDatagram>),
    FrameDone(u64),
}

/// A UDP payload that may be connectionless DCE/RPC, its bytes in the batch's buffer.
#[derive(Debug)]
struct RpcDatagram {
    src: SocketAddr,
    dst: SocketAddr,
    bytes: Range<usize>,
    first: Origin,
    last: Origin,
}

/// Events of whole frames, in capture order.
#[derive(Debug, Default)]
struct Batch {
    events: Vec<Event>,
    bytes: Vec<u8>,
}

impl Batch {
    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn is_full(&self) -> bool {
        self.events.len() >= BATCH_EVENTS || self.bytes.len() >= BATCH_BYTES
    }

    /// Hands every event to the session stage; PDU records are taken after each
    /// frame (as one thread does), so their limit applies the same way.
    fn replay(&mut self, sessions: &mut Sessions, pdus: &mut Vec<PduRecord>) {
        let bytes = &self.bytes;
        for event in self.events.drain(..) {
            match event {
                Event::Opened(c) => sessions.opened(&c),
                Event::Data {
                    conn,
                    dir,
                    offset,
                    bytes: range,
                    origin,
                } => sessions.data(conn, dir, offset, &bytes[range], origin),
                Event::Gap {
                    conn,
                    dir,
                    offset,
                    len,
                } => sessions.gap(conn, dir, offset, len),
                Event::Closed(c) => sessions.closed(&c),
                Event::KdcDatagram(range) => sessions.kdc_datagram(&bytes[range]),
                Event::RpcDatagram(d) => {
                    let RpcDatagram {
                        src,
                        dst,
                        bytes: range,
                        first,
                        last,
                    } = *d;
                    sessions.rpc_datagram(src, dst, &bytes[range], first, last);
                }
                Event::FrameDone(frame) => {
                    sessions.frame_done(frame);
                    if sessions.wants_pdu_records() {
                        pdus.extend(sessions.take_pdu_records());
                    }
                }
            }
        }
        self.bytes.clear();
    }
}

/// What goes from the transport stage to the session stage.
enum ToSessions {
    Batch(Batch),
    End(Box<TransportEnd>),
}

/// What the session stage released after a batch: the calls that ended (in the order they
/// ended), the settled frame after them (see [`Engine::settled`]) and, when wanted, the PDU records
/// of non-call PDUs.
#[derive(Debug)]
pub struct Released {
    /// Calls that ended, in the order they ended.
    pub calls: Vec<Call>,
    /// No call released later sorts before this first frame.
    pub settled: u64,
    /// Notes of non-call PDUs (when the engine collects them).
    pub pdus: Vec<PduRecord>,
}

enum FromSessions {
    Released(Released),
    Finished(Box<SessionsEnd>),
}

/// The transport stage's side of the channel: records events, sends full batches.
struct Batcher {
    batch: Batch,
    to_sessions: SyncSender<ToSessions>,
    spare: Receiver<Batch>,
    /// The session stage stopped (its caller failed): nothing more is recorded.
    gone: bool,
}

impl Batcher {
    fn send(&mut self) {
        if self.gone || self.batch.events.is_empty() {
            return;
        }
        let next = self.spare.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        self.gone = self.to_sessions.send(ToSessions::Batch(full)).is_err();
    }

    /// Records `event`; a batch that is full goes at once, also inside a frame.
    fn push(&mut self, event: Event) {
        if !self.gone {
            self.batch.events.push(event);
            if self.batch.is_full() {
                self.send();
            }
        }
    }
}

impl SessionEvents for Batcher {
    fn opened(&mut self, c: &Opened) {
        self.push(Event::Opened(Box::new(c.clone())));
    }

    fn data(&mut self, conn: u64, dir: Dir, offset: u64, bytes: &[u8], origin: Origin) {
        if self.gone {
            return;
        }
        let bytes = self.batch.keep(bytes);
        self.push(Event::Data {
            conn,
            dir,
            offset,
            bytes,
            origin,
        });
    }

    fn gap(&mut self, conn: u64, dir: Dir, offset: u64, len: u64) {
        self.push(Event::Gap {
            conn,
            dir,
            offset,
            len,
        });
    }

    fn closed(&mut self, c: &Closed) {
        self.push(Event::Closed(Box::new(*c)));
    }

    fn kdc_datagram(&mut self, payload: &[u8]) {
        if self.gone {
            return;
        }
        let bytes = self.batch.keep(payload);
        self.push(Event::KdcDatagram(bytes));
    }

    fn rpc_datagram(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        first: Origin,
        last: Origin,
    ) {
        if self.gone {
            return;
        }
        let bytes = self.batch.keep(payload);
        self.push(Event::RpcDatagram(Box::new(RpcDatagram {
            src,
            dst,
            bytes,
            first,
            last,
        })));
    }

    fn frame_done(&mut self, frame: u64) {
        self.push(Event::FrameDone(frame));
    }
}

/// The transport stage's thread: reads frames until the end, an error, or the session stage
/// stopping; then closes every connection and sends its counters.
fn transport_stage<R: Read>(
    mut reader: CaptureReader<R>,
    mut transport: Transport,
    mut out: Batcher,
) -> Option<SourceError> {
    let stopped_by = loop {
        match reader.next_frame() {
            Ok(Some(frame)) => transport.process(&frame, &mut out),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        if out.gone {
            break None;
        }
    };
    let end = transport.finish(&mut out);
    out.send();
    if !out.gone {
        let _ = out.to_sessions.send(ToSessions::End(Box::new(end)));
    }
    stopped_by
}

/// The session stage's thread: replays batches, releases the calls after each, and ends with
/// [`Sessions::finish`]. The calls the caller did not keep come back in `spent` to be freed here, by the
/// thread whose allocator made them.
fn session_stage(
    from_transport: &Receiver<ToSessions>,
    spare: &Sender<Batch>,
    spent: &Receiver<Vec<Call>>,
    mut sessions: Sessions,
    out: &SyncSender<FromSessions>,
) {
    for message in from_transport {
        spent.try_iter().for_each(drop);
        match message {
            ToSessions::Batch(mut batch) => {
                let mut pdus = Vec::new();
                batch.replay(&mut sessions, &mut pdus);
                let released = Released {
                    calls: sessions.take_calls(),
                    settled: sessions.settled(),
                    pdus,
                };
                if out.send(FromSessions::Released(released)).is_err() {
                    return;
                }
                let _ = spare.send(batch);
            }
            ToSessions::End(end) => {
                let finished = sessions.finish(*end);
                let _ = out.send(FromSessions::Finished(Box::new(finished)));
                return;
            }
        }
    }
}

/// Runs `engine` over `reader` on three threads, handing what the session stage releases,
/// passed through the call stage, to `on_release` on the calling thread (the calls it leaves
/// in [`Released::calls`] are freed by the session stage); returns what the engine's
/// [`Engine::finish`] returns and the error that ended the reading early, if any.
///
/// # Errors
/// The first error of `on_release`; the other stages then stop.
pub fn run<R: Read + Send>(
    engine: Engine,
    reader: CaptureReader<R>,
    mut on_release: impl FnMut(&mut Released) -> io::Result<()>,
) -> io::Result<(Finished, Option<SourceError>)> {
    let (transport, sessions, mut calls) = engine.into_stages();
    let (to_sessions, from_transport) = sync_channel(BATCHES_IN_FLIGHT);
    let (spare_tx, spare_rx) = channel();
    let (out_tx, out_rx) = sync_channel(BATCHES_IN_FLIGHT);
    let (spent_tx, spent_rx) = channel();
    let batcher = Batcher {
        batch: Batch::default(),
        to_sessions,
        spare: spare_rx,
        gone: false,
    };
    thread::scope(|scope| {
        let reading = thread::Builder::new()
            .name("rpcscope-transport".into())
            .spawn_scoped(scope, move || transport_stage(reader, transport, batcher))?;
        let analysing = thread::Builder::new()
            .name("rpcscope-sessions".into())
            .spawn_scoped(scope, move || {
                session_stage(&from_transport, &spare_tx, &spent_rx, sessions, &out_tx);
            })?;
        let mut ended = None;
        let mut failed = None;
        for message in &out_rx {
            match message {
                FromSessions::Released(mut r) => {
                    calls.pass(&mut r.calls);
                    if let Err(e) = on_release(&mut r) {
                        failed = Some(e);
                        break;
                    }
                    let _ = spent_tx.send(r.calls);
                }
                FromSessions::Finished(end) => ended = Some(end),
            }
        }
        // the other stages see their channels close and stop
        drop(out_rx);
        let analysed = analysing.join();
        let stopped_by = reading.join().unwrap_or_else(|p| resume_unwind(p));
        if let Err(p) = analysed {
            resume_unwind(p);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let ended = ended.ok_or_else(|| io::Error::other("the session stage stopped"))?;
        Ok((calls.finish(*ended), stopped_by))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_takes_no_more_room_than_a_data_event_needs() {
        // Data: connection, direction, offset, range in the batch, frame and time
        assert!(
            std::mem::size_of::<Event>() <= 64,
            "{}",
            std::mem::size_of::<Event>()
        );
    }
}
