//! A DCE/RPC channel: the two byte streams of one association (a TCP connection for
//! `ncacn_ip_tcp`, one named pipe for `ncacn_np`), each with its framer, feeding one
//! [`Association`]. A channel not known to carry DCE/RPC is probed: its first framed PDU must
//! parse, and after [`MAX_PROBE_CHUNKS`] chunks without a header in one direction it gives up.

use super::association::Association;
use super::call::TransportInfo;
use super::call_report::Reporter;
use super::framing::{FrameEvent, Framer, MAX_GAP_FILL};
use super::pdu::parse_pdu;
use crate::context::SessionContext;
use crate::report::Tally;
use crate::tcp::{Dir, Span};

/// Data chunks (TCP segments, pipe reads or writes) examined per direction before a channel that
/// was never confirmed is judged not DCE/RPC.
pub const MAX_PROBE_CHUNKS: u32 = 16;

/// What probing concluded from one framing event of an unconfirmed channel.
enum Probe {
    Pass,
    Confirmed,
    Rejected,
}

fn probe(ev: &FrameEvent<'_>, skipped: &mut u32) -> Probe {
    match ev {
        FrameEvent::Pdu(p) if parse_pdu(p.bytes).is_ok() => Probe::Confirmed,
        FrameEvent::Pdu(_) | FrameEvent::Truncated { .. } => Probe::Rejected,
        FrameEvent::Skipped { .. } => {
            *skipped += 1;
            if *skipped >= MAX_PROBE_CHUNKS {
                Probe::Rejected
            } else {
                Probe::Pass
            }
        }
        FrameEvent::Lost => Probe::Pass,
    }
}

/// Whether a channel still carries (possible) DCE/RPC after an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep feeding it.
    Alive,
    /// Not DCE/RPC: drop it.
    Rejected,
}

/// Framers and association of one channel.
#[derive(Debug)]
pub struct Channel {
    framers: [Framer; 2],
    /// Next stream offset per direction.
    next: [u64; 2],
    assoc: Association<Reporter>,
    confirmed: bool,
    probes: [u32; 2],
}

impl Channel {
    /// A channel; `confirmed` when the transport already says it is DCE/RPC (port 135).
    #[must_use]
    pub fn new(info: TransportInfo, confirmed: bool) -> Self {
        Self {
            framers: [Framer::new(), Framer::new()],
            next: [0, 0],
            assoc: Association::new(info, Reporter),
            confirmed,
            probes: [0, 0],
        }
    }

    /// True once a PDU has parsed (or the transport said so).
    #[must_use]
    pub fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// The sender of each direction, indexed by [`Dir::index`].
    #[must_use]
    pub fn senders(&self) -> [std::net::SocketAddr; 2] {
        self.assoc.info().senders
    }

    /// The server greeted with RPC over HTTP version 1's banner ([`crate::rpch::BANNER`]): the
    /// channel carries DCE/RPC, over `ncacn_http`.
    pub fn speaks_http_v1(&mut self) {
        self.confirmed = true;
        self.assoc.info_mut().transport = crate::rpch::TRANSPORT;
    }

    /// The association, to adjust transport facts learned later (e.g. a pipe name).
    pub fn association(&mut self) -> &mut Association<Reporter> {
        &mut self.assoc
    }

    /// In-order bytes of direction `dir`.
    pub fn data(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        span: Span,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) -> Verdict {
        let i = dir.index();
        let offset = self.next[i];
        self.next[i] += bytes.len() as u64;
        self.feed(dir, tally, cx, |framer, handle| {
            framer.data(offset, bytes, span, handle);
        })
    }

    /// `len` bytes of direction `dir` were never captured.
    pub fn gap(
        &mut self,
        dir: Dir,
        len: u64,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) -> Verdict {
        let i = dir.index();
        let offset = self.next[i];
        self.next[i] += len;
        self.feed(dir, tally, cx, |framer, handle| {
            framer.gap(offset, len, handle);
        })
    }

    /// An unknown number of bytes of direction `dir` were lost.
    pub fn lost(&mut self, dir: Dir, tally: &mut Tally, cx: &mut SessionContext) -> Verdict {
        // Longer than any gap the framer fills: it resynchronises on the next header.
        self.gap(dir, MAX_GAP_FILL + 1, tally, cx)
    }

    /// Feeds direction `dir`'s framer through `input` and its events to the association (or
    /// the probe), then counts the framer's buffer in the run's [`crate::context::FramerBytes`]:
    /// past the run's limit, the framer gives up what it holds.
    fn feed(
        &mut self,
        dir: Dir,
        tally: &mut Tally,
        cx: &mut SessionContext,
        input: impl FnOnce(&mut Framer, &mut dyn FnMut(FrameEvent<'_>)),
    ) -> Verdict {
        let i = dir.index();
        let before = self.framers[i].held();
        let mut reject = false;
        self.with_framer(dir, &mut reject, tally, cx, input);
        if !reject && cx.framer_bytes.update(before, self.framers[i].held()) {
            cx.framer_bytes.gave_up();
            let held = self.framers[i].held();
            self.with_framer(dir, &mut reject, tally, cx, |framer, handle| {
                framer.give_up(handle);
            });
            cx.framer_bytes.update(held, self.framers[i].held());
        }
        if reject {
            self.release(cx);
            Verdict::Rejected
        } else {
            Verdict::Alive
        }
    }

    /// Runs `input` on direction `dir`'s framer, handing its events to the association, or to
    /// the probe while the channel is not known to carry DCE/RPC (`reject` is set when the probe
    /// says it does not).
    fn with_framer(
        &mut self,
        dir: Dir,
        reject: &mut bool,
        tally: &mut Tally,
        cx: &mut SessionContext,
        input: impl FnOnce(&mut Framer, &mut dyn FnMut(FrameEvent<'_>)),
    ) {
        let Self {
            framers,
            assoc,
            confirmed,
            probes,
            ..
        } = self;
        let mut handle = |ev: FrameEvent<'_>| {
            if *reject {
                return;
            }
            if !*confirmed {
                match probe(&ev, &mut probes[dir.index()]) {
                    Probe::Pass => return,
                    Probe::Rejected => {
                        *reject = true;
                        return;
                    }
                    Probe::Confirmed => {
                        *confirmed = true;
                        tally.count("channels_found_by_heuristic");
                    }
                }
            }
            assoc.on_event(dir, ev, tally, cx);
        };
        input(&mut framers[dir.index()], &mut handle);
    }

    /// Frees both framers' buffers and takes them out of the run's count (the channel is
    /// finished or given up).
    pub fn release(&mut self, cx: &mut SessionContext) {
        for framer in &mut self.framers {
            let held = framer.held();
            framer.give_up(&mut |_| {});
            cx.framer_bytes.update(held, framer.held());
        }
    }

    /// The channel ended: every open call is reported and the framers' buffers freed.
    pub fn finish(&mut self, cx: &mut SessionContext) {
        self.release(cx);
        if self.confirmed {
            self.assoc.finish_all(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MAX_FRAMER_BYTES_TOTAL;
    use crate::source::Timestamp;
    use crate::tcp::Origin;

    /// Connections each holding the start of a 65,535-byte request that never ends: together
    /// their framers stay within the run's limit (plus what one more may hold), the framers
    /// past it report their PDU truncated, and nothing is counted once they are finished.
    #[test]
    fn pdus_that_never_end_are_bounded_for_the_run() {
        let mut pdu = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
        pdu.extend(0xffffu16.to_le_bytes());
        pdu.extend([0, 0]);
        pdu.extend(1u32.to_le_bytes());
        pdu.resize(60_000, 0);
        let (mut tally, mut cx) = (Tally::default(), SessionContext::default());
        let connections = MAX_FRAMER_BYTES_TOTAL / pdu.len() + 16;
        let mut channels = Vec::new();
        for n in 0..connections {
            let info = TransportInfo::tcp_for_tests("10.0.0.1:50000", "10.0.0.2:135");
            let mut c = Channel::new(info, true);
            let at = Origin {
                frame: n as u64,
                ts: Timestamp::default(),
            };
            let verdict = c.data(
                Dir::FromInitiator,
                &pdu,
                Span::single(at),
                &mut tally,
                &mut cx,
            );
            assert_eq!(verdict, Verdict::Alive);
            assert!(
                cx.framer_bytes.held() <= MAX_FRAMER_BYTES_TOTAL + 2 * pdu.len(),
                "{} bytes held",
                cx.framer_bytes.held()
            );
            channels.push(c);
        }
        assert!(cx.framer_bytes.given_up() > 0);
        assert_eq!(
            tally.counters.get("pdus_truncated_by_gap").copied(),
            Some(cx.framer_bytes.given_up())
        );
        for c in &mut channels {
            c.finish(&mut cx);
        }
        assert_eq!(cx.framer_bytes.held(), 0);
    }
}
