//! Stream framing: turns one direction's reassembled TCP byte stream into whole PDUs.
//!
//! Framing only answers "do I have `frag_length` bytes?"; bodies are parsed later from the exact
//! slice. The framer starts by waiting for a TCP segment that begins with a plausible header
//! ([`crate::dcerpc::pdu::Header::is_plausible`]), because a capture may start in the middle of a
//! PDU. After a gap it either keeps its place (the gap fell inside a PDU of known length: the PDU
//! is delivered marked `damaged`, its missing bytes zero-filled) or hunts byte by byte for the
//! next plausible header that is followed by another plausible header or the end of the data.
//!
//! Limits: a PDU is at most 65,535 bytes (the field is 16 bits), so the buffer holds at most one
//! PDU plus one segment; a gap is zero-filled only up to [`MAX_GAP_FILL`] bytes; hunting keeps
//! only the last 15 bytes of data in which no header was found.

use std::collections::VecDeque;

use super::pdu::{HEADER_LEN, Header, parse_header};
use crate::tcp::{Held, Origin, Span};

/// Largest gap inside a PDU that is zero-filled to keep framing in place.
pub const MAX_GAP_FILL: u64 = 65_535;

/// A whole PDU cut from the stream.
#[derive(Debug)]
pub struct FramedPdu<'a> {
    /// Exactly `frag_length` bytes.
    pub bytes: &'a [u8],
    /// Frame (and time) carrying the PDU's first byte.
    pub first: Origin,
    /// The frame that completed the PDU (highest frame among those carrying its bytes).
    pub last: Origin,
    /// Some bytes of the PDU were never captured (zero-filled).
    pub damaged: bool,
    /// Stream offset of the first byte.
    pub offset: u64,
}

/// What the framer reports.
#[derive(Debug)]
pub enum FrameEvent<'a> {
    /// A PDU.
    Pdu(FramedPdu<'a>),
    /// A PDU whose header was seen but whose end was lost in a gap.
    Truncated {
        /// Its header.
        header: Header,
        /// Frame of its first byte.
        first: Origin,
    },
    /// Bytes were lost where no PDU boundary is known; PDUs may have been lost entirely.
    Lost,
    /// Bytes that were not DCE/RPC were skipped while looking for a header (after a gap, at the
    /// start of a capture, or after an impossible header).
    Skipped {
        /// How many bytes.
        bytes: u64,
        /// Why: `"start"`, `"gap"` or `"bad_header"`.
        reason: &'static str,
    },
}

/// Reports the whole, frameable PDUs at the start of `bytes` (a chunk at stream `offset` that
/// starts at a PDU boundary) straight from it; returns how many bytes they took.
fn emit_whole(
    offset: u64,
    bytes: &[u8],
    span: Span,
    out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized),
) -> usize {
    let mut at = 0;
    while let Some(rest) = bytes.get(at..)
        && let Ok(h) = parse_header(rest)
        && h.is_frameable()
        && let Some(pdu) = rest.get(..usize::from(h.frag_len))
    {
        out(FrameEvent::Pdu(FramedPdu {
            bytes: pdu,
            first: span.first,
            last: span.last,
            damaged: false,
            offset: offset + at as u64,
        }));
        at += pdu.len();
    }
    at
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Waiting for a segment that starts with a header.
    AwaitingBoundary,
    /// At a PDU boundary (or inside a PDU whose header is buffered).
    Synced,
    /// Scanning byte by byte for a header.
    Hunting(&'static str),
}

/// Framer for one direction.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Read position in `buf`.
    pos: usize,
    /// Stream offset of `buf[0]`.
    buf_start: u64,
    /// (stream offset, frames) of each chunk that entered the buffer.
    origins: VecDeque<(u64, Span)>,
    /// Zero-filled ranges (stream offsets).
    holes: Vec<(u64, u64)>,
    mode: Mode,
    next_offset: Option<u64>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer that waits for a segment starting with a PDU header.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            buf_start: 0,
            origins: VecDeque::new(),
            holes: Vec::new(),
            mode: Mode::AwaitingBoundary,
            next_offset: None,
        }
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn read_offset(&self) -> u64 {
        self.buf_start + self.pos as u64
    }

    /// Adds in-order bytes and reports every PDU they complete.
    pub fn data(
        &mut self,
        offset: u64,
        bytes: &[u8],
        span: Span,
        out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized),
    ) {
        if self.next_offset.is_some_and(|n| n != offset) {
            // Defensive: the reassembler always reports gaps, so this is a gap of unknown content.
            self.lose_place("gap", out);
        }
        self.next_offset = Some(offset + bytes.len() as u64);
        if self.mode == Mode::AwaitingBoundary {
            // A candidate header may arrive over several short segments: keep collecting while
            // the bytes so far could begin a header, then decide on the whole 16 bytes.
            let candidate_open = !self.buf.is_empty();
            // the candidate's first bytes (all that is tested), without copying the rest
            let mut head = [0u8; HEADER_LEN];
            let total = self.buf.len() + bytes.len();
            let probe = &mut head[..total.min(HEADER_LEN)];
            for (to, from) in probe.iter_mut().zip(self.buf.iter().chain(bytes)) {
                *to = *from;
            }
            let probe = &*probe;
            if total < HEADER_LEN && could_start_header(probe) {
                if !candidate_open {
                    self.reset_buffer(offset);
                }
                self.origins.push_back((offset, span));
                self.buf.extend_from_slice(bytes);
                return;
            }
            if !parse_header(probe).is_ok_and(|h| h.is_plausible() && h.flags_plausible()) {
                out(FrameEvent::Skipped {
                    bytes: total as u64,
                    reason: "start",
                });
                self.reset_buffer(offset + bytes.len() as u64);
                return;
            }
            if !candidate_open {
                self.reset_buffer(offset);
            }
            self.mode = Mode::Synced;
        }
        // At a boundary with nothing buffered, the PDUs wholly inside the chunk are reported
        // from it; only what is left (a PDU's start) is buffered.
        let whole =
            if self.mode == Mode::Synced && self.unread().is_empty() && self.holes.is_empty() {
                emit_whole(offset, bytes, span, out)
            } else {
                0
            };
        let (offset, bytes) = (offset + whole as u64, bytes.get(whole..).unwrap_or(&[]));
        if whole > 0 {
            self.reset_buffer(offset);
            if bytes.is_empty() {
                return;
            }
        }
        if self.buf.is_empty() {
            self.reset_buffer(offset);
        }
        self.origins.push_back((offset, span));
        self.buf.extend_from_slice(bytes);
        self.process(out);
    }

    /// The room its buffer takes, and the frame of the first byte it holds unread.
    #[must_use]
    pub fn held(&self) -> Held {
        Held {
            bytes: self.buf.capacity(),
            since: (!self.unread().is_empty())
                .then(|| self.origins.front().map(|(_, span)| span.first.frame))
                .flatten(),
        }
    }

    /// Frees its buffer because the run holds too much: a PDU begun in it is reported
    /// truncated, as when a gap it cannot fill cuts it, and the framer hunts for the next
    /// header; with nothing unread, only the room is given back.
    pub fn give_up(&mut self, out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized)) {
        let unread = self.unread().len();
        let end = self.read_offset() + unread as u64;
        if unread > 0 && self.mode == Mode::Synced {
            match parse_header(self.unread()) {
                Ok(header) => {
                    let first = self.origin_at(self.read_offset());
                    out(FrameEvent::Truncated { header, first });
                }
                Err(_) => out(FrameEvent::Lost),
            }
            self.mode = Mode::Hunting("gap");
        }
        self.reset_buffer(end);
        self.buf = Vec::new();
    }

    /// Reports `len` missing bytes at `offset`.
    pub fn gap(&mut self, offset: u64, len: u64, out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized)) {
        self.next_offset = Some(offset + len);
        match self.mode {
            Mode::AwaitingBoundary => {
                self.reset_buffer(offset + len);
                return;
            }
            Mode::Hunting(_) => {
                out(FrameEvent::Lost);
                self.reset_buffer(offset + len);
                self.mode = Mode::Hunting("gap");
                return;
            }
            Mode::Synced => {}
        }
        let pending = self.unread();
        if let Ok(h) = parse_header(pending) {
            let pdu_end = self.read_offset() + u64::from(h.frag_len);
            if h.is_frameable() && offset + len <= pdu_end && len <= MAX_GAP_FILL {
                self.holes.push((offset, offset + len));
                let fill = usize::try_from(len).unwrap_or(0);
                self.buf.resize(self.buf.len() + fill, 0);
                self.process(out);
                return;
            }
            let first = self.origin_at(self.read_offset());
            out(FrameEvent::Truncated { header: h, first });
        } else {
            out(FrameEvent::Lost);
        }
        self.reset_buffer(offset + len);
        self.mode = Mode::Hunting("gap");
    }

    fn origin_at(&self, offset: u64) -> Origin {
        self.origins
            .iter()
            .take_while(|(o, _)| *o <= offset)
            .last()
            .map_or(
                Origin {
                    frame: 0,
                    ts: crate::source::Timestamp::default(),
                },
                |(_, span)| span.first,
            )
    }

    fn lose_place(
        &mut self,
        reason: &'static str,
        out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized),
    ) {
        if self.mode == Mode::AwaitingBoundary {
            return;
        }
        out(FrameEvent::Lost);
        let at = self.next_offset.unwrap_or(0);
        self.reset_buffer(at);
        self.mode = Mode::Hunting(reason);
    }

    fn reset_buffer(&mut self, offset: u64) {
        self.buf.clear();
        self.pos = 0;
        self.buf_start = offset;
        self.origins.clear();
        self.holes.clear();
    }

    fn process(&mut self, out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized)) {
        loop {
            match self.mode {
                Mode::AwaitingBoundary => return,
                Mode::Hunting(reason) => {
                    if !self.hunt(reason, out) {
                        self.compact();
                        return;
                    }
                }
                Mode::Synced => {
                    let Ok(h) = parse_header(self.unread()) else {
                        self.compact();
                        return;
                    };
                    if !h.is_frameable() {
                        self.mode = Mode::Hunting("bad_header");
                        continue;
                    }
                    let len = usize::from(h.frag_len);
                    if self.unread().len() < len {
                        self.compact();
                        return;
                    }
                    self.emit(len, out);
                }
            }
        }
    }

    /// Looks for a header; returns true when found (mode is then Synced).
    fn hunt(
        &mut self,
        reason: &'static str,
        out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized),
    ) -> bool {
        let data = self.unread();
        let mut found = None;
        let mut i = 0;
        while i + HEADER_LEN <= data.len() {
            if data[i] == 5 && is_resync_point(data.get(i..).unwrap_or(&[])) {
                found = Some(i);
                break;
            }
            i += 1;
        }
        let skip = found.unwrap_or_else(|| data.len().saturating_sub(HEADER_LEN - 1));
        if skip > 0 {
            out(FrameEvent::Skipped {
                bytes: skip as u64,
                reason,
            });
            self.pos += skip;
        }
        if found.is_some() {
            self.mode = Mode::Synced;
            true
        } else {
            false
        }
    }

    fn emit(&mut self, len: usize, out: &mut (impl FnMut(FrameEvent<'_>) + ?Sized)) {
        let start = self.read_offset();
        let end = start + len as u64;
        let mut first = None;
        let mut last: Option<Origin> = None;
        for (i, &(o, span)) in self.origins.iter().enumerate() {
            let next = self.origins.get(i + 1).map_or(u64::MAX, |n| n.0);
            if next <= start {
                continue;
            }
            if o >= end {
                break;
            }
            if first.is_none() {
                first = Some(span.first);
            }
            if last.is_none_or(|l| span.last.frame >= l.frame) {
                last = Some(span.last);
            }
        }
        let damaged = self.holes.iter().any(|&(a, b)| a < end && b > start);
        let fallback = Origin {
            frame: 0,
            ts: crate::source::Timestamp::default(),
        };
        let first = first.unwrap_or(fallback);
        let bytes = self.buf.get(self.pos..self.pos + len).unwrap_or(&[]);
        out(FrameEvent::Pdu(FramedPdu {
            bytes,
            first,
            last: last.unwrap_or(first),
            damaged,
            offset: start,
        }));
        self.pos += len;
        self.holes.retain(|&(_, b)| b > end);
    }

    /// Drops consumed bytes and origins that no unread byte needs.
    fn compact(&mut self) {
        let read_at = self.read_offset();
        while self.origins.len() > 1 && self.origins.get(1).is_some_and(|n| n.0 <= read_at) {
            self.origins.pop_front();
        }
        if self.pos > 0 && (self.pos >= self.buf.len() || self.pos > 64 * 1024) {
            self.buf.drain(..self.pos);
            self.buf_start += self.pos as u64;
            self.pos = 0;
        }
    }
}

/// True when `b` (shorter than a header) could be the start of a plausible header.
fn could_start_header(b: &[u8]) -> bool {
    let ok = |i: usize, f: &dyn Fn(u8) -> bool| b.get(i).is_none_or(|&v| f(v));
    !b.is_empty()
        && ok(0, &|v| v == 5)
        && ok(1, &|v| v <= 1)
        && ok(2, &|v| {
            crate::dce::codes::PacketType(v).is_connection_oriented()
        })
        && ok(4, &|v| v & 0xee == 0)
        && ok(5, &|v| v <= 3)
        && ok(6, &|v| v == 0)
        && ok(7, &|v| v == 0)
}

/// A position is a resynchronisation point when a plausible header starts there and, if the
/// data holds that whole PDU and at least a header more, a plausible header follows it.
fn is_resync_point(data: &[u8]) -> bool {
    let Ok(h) = parse_header(data) else {
        return false;
    };
    if !h.is_plausible() || !h.flags_plausible() {
        return false;
    }
    let len = usize::from(h.frag_len);
    match data.get(len..) {
        Some(rest) if rest.len() >= HEADER_LEN => {
            parse_header(rest).is_ok_and(|n| n.is_plausible())
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;

    fn pdu(call_id: u32, stub: usize) -> Vec<u8> {
        let len = (24 + stub) as u16;
        let mut p = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
        p.extend(len.to_le_bytes());
        p.extend(0u16.to_le_bytes());
        p.extend(call_id.to_le_bytes());
        p.extend((stub as u32).to_le_bytes());
        p.extend([0, 0, 1, 0]);
        p.extend(std::iter::repeat_n(0xab, stub));
        p
    }

    fn o(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp::default(),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        Pdu(u32, u64, u64, bool),
        Truncated(u32),
        Lost,
        Skipped(u64),
    }

    fn run(f: &mut Framer, steps: &[(&str, u64, Vec<u8>, u64)]) -> Vec<Ev> {
        let mut evs = Vec::new();
        let mut push = |e: FrameEvent<'_>| {
            evs.push(match e {
                FrameEvent::Pdu(p) => Ev::Pdu(
                    parse_header(p.bytes).unwrap().call_id,
                    p.first.frame,
                    p.last.frame,
                    p.damaged,
                ),
                FrameEvent::Truncated { header, .. } => Ev::Truncated(header.call_id),
                FrameEvent::Lost => Ev::Lost,
                FrameEvent::Skipped { bytes, .. } => Ev::Skipped(bytes),
            });
        };
        for (kind, offset, bytes, frame) in steps {
            if *kind == "data" {
                f.data(*offset, bytes, Span::single(o(*frame)), &mut push);
            } else {
                f.gap(*offset, bytes.len() as u64, &mut push);
            }
        }
        evs
    }

    #[test]
    fn frames_pdus_split_and_coalesced() {
        let mut stream = pdu(1, 10);
        stream.extend(pdu(2, 100));
        stream.extend(pdu(3, 0));
        let (a, b) = stream.split_at(40);
        let mut f = Framer::new();
        let evs = run(
            &mut f,
            &[("data", 0, a.to_vec(), 1), ("data", 40, b.to_vec(), 2)],
        );
        assert_eq!(
            evs,
            [
                Ev::Pdu(1, 1, 1, false),
                Ev::Pdu(2, 1, 2, false),
                Ev::Pdu(3, 2, 2, false)
            ]
        );
    }

    #[test]
    fn whole_pdus_in_a_chunk_and_a_pdu_across_chunks_keep_their_frames() {
        let (p1, p2, p3, p4, p5) = (pdu(1, 4), pdu(2, 8), pdu(3, 0), pdu(4, 30), pdu(5, 2));
        let chunk1 = [p1.clone(), p2.clone()].concat();
        let half = p4.len() / 2;
        let chunk2 = [p3.clone(), p4[..half].to_vec()].concat();
        let at2 = chunk1.len() as u64;
        let at3 = at2 + chunk2.len() as u64;
        let at4 = at3 + (p4.len() - half) as u64;
        let mut f = Framer::new();
        let evs = run(
            &mut f,
            &[
                ("data", 0, chunk1, 1),
                ("data", at2, chunk2, 2),
                ("data", at3, p4[half..].to_vec(), 3),
                ("data", at4, p5, 4),
            ],
        );
        assert_eq!(
            evs,
            [
                Ev::Pdu(1, 1, 1, false),
                Ev::Pdu(2, 1, 1, false),
                Ev::Pdu(3, 2, 2, false),
                Ev::Pdu(4, 2, 3, false),
                Ev::Pdu(5, 4, 4, false)
            ]
        );
    }

    #[test]
    fn waits_for_a_segment_that_starts_a_pdu() {
        let p = pdu(9, 4);
        let mut f = Framer::new();
        let evs = run(&mut f, &[("data", 0, vec![1, 2, 3], 1), ("data", 3, p, 2)]);
        assert_eq!(evs, [Ev::Skipped(3), Ev::Pdu(9, 2, 2, false)]);
    }

    #[test]
    fn header_split_over_one_byte_segments_is_found() {
        let p = pdu(4, 2);
        let steps: Vec<_> = p
            .iter()
            .enumerate()
            .map(|(i, &b)| ("data", i as u64, vec![b], i as u64 + 1))
            .collect();
        let mut f = Framer::new();
        assert_eq!(run(&mut f, &steps), [Ev::Pdu(4, 1, 26, false)]);
    }

    #[test]
    fn gap_inside_pdu_keeps_place_and_marks_damage() {
        let mut stream = pdu(1, 100);
        stream.extend(pdu(2, 8));
        let mut f = Framer::new();
        let evs = run(
            &mut f,
            &[
                ("data", 0, stream[..50].to_vec(), 1),
                ("gap", 50, stream[50..80].to_vec(), 0),
                ("data", 80, stream[80..].to_vec(), 3),
            ],
        );
        assert_eq!(evs, [Ev::Pdu(1, 1, 3, true), Ev::Pdu(2, 3, 3, false)]);
    }

    #[test]
    fn gap_across_boundary_resynchronises_on_next_header() {
        let mut stream = pdu(1, 100);
        stream.extend(pdu(2, 40));
        stream.extend(pdu(3, 8));
        stream.extend(pdu(4, 8));
        let cut = 110; // inside PDU 2's header region → PDU 1 truncated
        let resume = 140; // inside PDU 2's stub
        let mut f = Framer::new();
        let evs = run(
            &mut f,
            &[
                ("data", 0, stream[..cut - 30].to_vec(), 1),
                (
                    "gap",
                    (cut - 30) as u64,
                    stream[cut - 30..resume].to_vec(),
                    0,
                ),
                ("data", resume as u64, stream[resume..].to_vec(), 5),
            ],
        );
        assert_eq!(
            evs,
            [
                Ev::Truncated(1),
                Ev::Skipped((188 - resume) as u64),
                Ev::Pdu(3, 5, 5, false),
                Ev::Pdu(4, 5, 5, false)
            ]
        );
    }
}
