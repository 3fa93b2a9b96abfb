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

    fn feed(
        &mut self,
        dir: Dir,
        tally: &mut Tally,
        cx: &mut SessionContext,
        input: impl FnOnce(&mut Framer, &mut dyn FnMut(FrameEvent<'_>)),
    ) -> Verdict {
        let Self {
            framers,
            assoc,
            confirmed,
            probes,
            ..
        } = self;
        let mut reject = false;
        let mut handle = |ev: FrameEvent<'_>| {
            if reject {
                return;
            }
            if !*confirmed {
                match probe(&ev, &mut probes[dir.index()]) {
                    Probe::Pass => return,
                    Probe::Rejected => {
                        reject = true;
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
        if reject {
            Verdict::Rejected
        } else {
            Verdict::Alive
        }
    }

    /// The channel ended: every open call is reported.
    pub fn finish(&mut self, cx: &mut SessionContext) {
        if self.confirmed {
            self.assoc.finish_all(cx);
        }
    }
}
