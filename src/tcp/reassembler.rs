//! Per-direction TCP reassembly: out-of-order segments are held until the hole before them is
//! filled; retransmissions and overlaps keep the bytes delivered (or buffered) first; a hole is
//! declared a gap when the peer acknowledges past it (as [`super::late`] hands that
//! acknowledgement over: once the late segment had its chance to come), when the buffer limits
//! are reached, or when the connection ends.
//!
//! Limits: [`MAX_PENDING_BYTES`] and [`MAX_PENDING_SEGMENTS`] of out-of-order data per direction.
//! Reaching one skips the oldest hole (reported as a gap and counted in
//! [`ReassemblyStats::forced_gaps`]).

use std::collections::BTreeMap;

use super::{Origin, StreamSink};

/// Out-of-order bytes buffered per direction before the oldest hole is declared lost (1 MiB).
pub const MAX_PENDING_BYTES: usize = 1024 * 1024;
/// Out-of-order segments buffered per direction before the oldest hole is declared lost.
pub const MAX_PENDING_SEGMENTS: usize = 2048;

/// Counters for one direction (summed into the run's summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Bytes delivered in order.
    pub bytes: u64,
    /// Segments that arrived before a hole was filled.
    pub out_of_order_segments: u64,
    /// Bytes received again after they had been delivered or buffered.
    pub duplicate_bytes: u64,
    /// Gaps declared.
    pub gaps: u64,
    /// Bytes never seen.
    pub gap_bytes: u64,
    /// Gaps declared because a buffer limit was reached.
    pub forced_gaps: u64,
}

impl ReassemblyStats {
    /// Adds another direction's counters to these.
    pub fn add(&mut self, other: &Self) {
        self.bytes += other.bytes;
        self.out_of_order_segments += other.out_of_order_segments;
        self.duplicate_bytes += other.duplicate_bytes;
        self.gaps += other.gaps;
        self.gap_bytes += other.gap_bytes;
        self.forced_gaps += other.forced_gaps;
    }
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    origin: Origin,
    /// Bytes after `data` that the snap length cut off (known lost).
    lost_tail: u64,
}

/// Reassembly state of one direction of a connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Next stream offset to deliver.
    offset: u64,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// Stream offset of the FIN (the end of the data of the segment that carried it), once seen:
    /// the sequence number it takes is acknowledged like a byte but never delivered.
    fin_at: Option<u64>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// A direction with no data yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// True when `ack` acknowledges bytes this direction has not delivered yet (the FIN's
    /// sequence number, once all data before it was delivered, is not such a byte).
    #[must_use]
    pub fn is_behind(&self, ack: u32) -> bool {
        self.relative(ack)
            .is_some_and(|acked| acked > self.offset && !self.acks_only_fin(acked))
    }

    /// Records a FIN at the end of the segment `seq` with `len` payload bytes.
    pub fn fin(&mut self, seq: u32, len: usize) {
        if let Some(start) = self.relative(seq) {
            self.fin_at = Some(start + len as u64);
        }
    }

    fn acks_only_fin(&self, acked: u64) -> bool {
        self.fin_at == Some(self.offset) && acked == self.offset + 1
    }

    /// Bytes of out-of-order data waiting behind a hole.
    #[must_use]
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// True when data waits behind a hole.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The first frame among the data waiting behind a hole.
    #[must_use]
    pub fn oldest_pending_frame(&self) -> Option<u64> {
        self.pending.values().map(|p| p.origin.frame).min()
    }

    /// Records the initial sequence number from a SYN (data starts at `isn + 1`).
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// Stream offset of sequence number `seq`, relative to the next expected byte; `None` before
    /// the stream started.
    fn relative(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let expected = base.wrapping_add(self.offset as u32);
        let delta = i64::from(seq.wrapping_sub(expected) as i32);
        Some(self.offset.saturating_add_signed(delta))
    }

    /// Adds a segment's payload (`lost_tail` bytes after it were cut by the snap length).
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        lost_tail: u32,
        origin: Origin,
        sink: &mut impl StreamSink,
    ) {
        if payload.is_empty() && lost_tail == 0 {
            return;
        }
        if self.base.is_none() {
            self.base = Some(seq.wrapping_sub(self.offset as u32));
        }
        let Some(start) = self.relative(seq) else {
            return;
        };
        let lost_tail = u64::from(lost_tail);
        let end = start + payload.len() as u64;
        if end + lost_tail <= self.offset {
            self.stats.duplicate_bytes += payload.len() as u64;
            return;
        }
        if start <= self.offset {
            let skip = usize::try_from(self.offset - start).unwrap_or(usize::MAX);
            self.stats.duplicate_bytes += skip.min(payload.len()) as u64;
            let fresh = payload.get(skip..).unwrap_or(&[]);
            self.deliver(fresh, origin, sink);
            if lost_tail > 0 && end + lost_tail > self.offset {
                let len = end + lost_tail - self.offset;
                self.declare_gap(len, sink);
            }
            self.drain(sink);
            return;
        }
        self.stats.out_of_order_segments += 1;
        self.insert_pending(start, payload, lost_tail, origin);
        while self.pending_bytes > MAX_PENDING_BYTES || self.pending.len() > MAX_PENDING_SEGMENTS {
            self.stats.forced_gaps += 1;
            if !self.skip_first_hole(sink) {
                break;
            }
        }
    }

    /// The peer acknowledged `ack`: every hole below it that has buffered data behind it is lost
    /// (bytes the peer received but the capture did not). Holes with nothing buffered behind them
    /// are left open, so a capture that shows an ACK before the data it acknowledges still gets
    /// the data.
    pub fn peer_ack(&mut self, ack: u32, sink: &mut impl StreamSink) {
        let Some(acked) = self.relative(ack) else {
            return;
        };
        while let Some(&first) = self.pending.keys().next() {
            if acked <= self.offset {
                return;
            }
            let gap_end = acked.min(first);
            if gap_end > self.offset {
                self.declare_gap(gap_end - self.offset, sink);
            }
            self.drain(sink);
        }
    }

    /// The bytes below `ack` will not be captured any more (the peer received them long ago):
    /// every hole below it is lost, with data buffered behind it or not.
    pub fn lost_before(&mut self, ack: u32, sink: &mut impl StreamSink) {
        self.peer_ack(ack, sink);
        if let Some(acked) = self.relative(ack)
            && acked > self.offset
            && !self.acks_only_fin(acked)
        {
            self.declare_gap(acked - self.offset, sink);
        }
    }

    /// End of the connection or of the capture: every remaining hole is a gap.
    pub fn flush(&mut self, sink: &mut impl StreamSink) {
        while self.skip_first_hole(sink) {}
    }

    fn deliver(&mut self, bytes: &[u8], origin: Origin, sink: &mut impl StreamSink) {
        if bytes.is_empty() {
            return;
        }
        sink.data(self.offset, bytes, origin);
        self.offset += bytes.len() as u64;
        self.stats.bytes += bytes.len() as u64;
    }

    fn declare_gap(&mut self, len: u64, sink: &mut impl StreamSink) {
        sink.gap(self.offset, len);
        self.offset += len;
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
    }

    /// Declares the hole before the first buffered segment lost and delivers what follows.
    /// Returns false when nothing was buffered.
    fn skip_first_hole(&mut self, sink: &mut impl StreamSink) -> bool {
        let Some(&first) = self.pending.keys().next() else {
            return false;
        };
        if first > self.offset {
            self.declare_gap(first - self.offset, sink);
        }
        self.drain(sink);
        true
    }

    fn drain(&mut self, sink: &mut impl StreamSink) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.offset {
                break;
            }
            let p = entry.remove();
            self.pending_bytes -= p.data.len();
            let end = start + p.data.len() as u64;
            if end + p.lost_tail <= self.offset {
                self.stats.duplicate_bytes += p.data.len() as u64;
                continue;
            }
            let skip = usize::try_from(self.offset - start).unwrap_or(usize::MAX);
            self.deliver(p.data.get(skip..).unwrap_or(&[]), p.origin, sink);
            if p.lost_tail > 0 && end + p.lost_tail > self.offset {
                let len = end + p.lost_tail - self.offset;
                self.declare_gap(len, sink);
            }
        }
    }

    /// Buffers the parts of `[start, start + payload.len())` not already buffered.
    fn insert_pending(&mut self, start: u64, payload: &[u8], lost_tail: u64, origin: Origin) {
        let end = start + payload.len() as u64;
        let mut covered: Vec<(u64, u64)> = Vec::new();
        if let Some((&k, p)) = self.pending.range(..=start).next_back() {
            covered.push((k, k + p.data.len() as u64));
        }
        covered.extend(
            self.pending
                .range(start..end)
                .map(|(&k, p)| (k, k + p.data.len() as u64)),
        );
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cursor = start;
        for (a, b) in covered {
            if b <= cursor {
                continue;
            }
            if a > cursor {
                pieces.push((cursor, a.min(end)));
            }
            cursor = cursor.max(b);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        let fresh: u64 = pieces.iter().map(|(a, b)| b - a).sum();
        self.stats.duplicate_bytes += payload.len() as u64 - fresh;
        if payload.is_empty() && lost_tail > 0 && !self.pending.contains_key(&start) {
            pieces.push((start, start));
        }
        for (a, b) in pieces {
            let from = usize::try_from(a - start).unwrap_or(0);
            let to = usize::try_from(b - start).unwrap_or(0);
            let data = payload.get(from..to).unwrap_or(&[]).to_vec();
            self.pending_bytes += data.len();
            let tail = if b == end { lost_tail } else { 0 };
            self.pending.insert(
                a,
                Pending {
                    data,
                    origin,
                    lost_tail: tail,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;

    #[derive(Default)]
    struct Collect {
        bytes: Vec<u8>,
        frames: Vec<u64>,
        gaps: Vec<(u64, u64)>,
    }

    impl StreamSink for Collect {
        fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin) {
            assert_eq!(offset as usize, self.bytes.len(), "data must be contiguous");
            self.bytes.extend_from_slice(bytes);
            self.frames.push(origin.frame);
        }
        fn gap(&mut self, offset: u64, len: u64) {
            assert_eq!(offset as usize, self.bytes.len());
            self.gaps.push((offset, len));
            self.bytes.extend(std::iter::repeat_n(b'?', len as usize));
        }
    }

    fn o(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp::default(),
        }
    }

    #[test]
    fn reorders_and_removes_duplicates() {
        let mut r = Reassembler::new();
        let mut c = Collect::default();
        r.syn(999);
        r.segment(1006, b"world", 0, o(2), &mut c);
        r.segment(1000, b"hello ", 0, o(3), &mut c);
        r.segment(1000, b"hello ", 0, o(4), &mut c);
        r.segment(1003, b"lo wor", 0, o(5), &mut c);
        r.flush(&mut c);
        assert_eq!(c.bytes, b"hello world");
        assert_eq!(c.frames, [3, 2]);
        assert!(c.gaps.is_empty());
        assert_eq!(r.stats().out_of_order_segments, 1);
    }

    #[test]
    fn declares_gap_when_peer_acks_past_hole() {
        let mut r = Reassembler::new();
        let mut c = Collect::default();
        r.segment(u32::MAX - 1, b"ab", 0, o(1), &mut c); // wraps around zero
        r.segment(4, b"ef", 0, o(3), &mut c);
        r.peer_ack(2, &mut c); // not past the hole yet (hole is 0..4)
        assert_eq!(c.bytes, b"ab??");
        r.peer_ack(6, &mut c);
        assert_eq!(c.bytes, b"ab????ef");
        assert_eq!(c.gaps, [(2, 2), (4, 2)]);
    }

    #[test]
    fn one_ack_past_several_holes_releases_them_all() {
        let mut r = Reassembler::new();
        let mut c = Collect::default();
        r.syn(99);
        r.segment(100, b"a", 0, o(1), &mut c);
        r.segment(103, b"d", 0, o(2), &mut c);
        r.segment(106, b"g", 0, o(3), &mut c);
        r.peer_ack(105, &mut c); // past the holes at 101..103 and 104..105
        assert_eq!(c.bytes, b"a??d?");
        assert_eq!(c.gaps, [(1, 2), (4, 1)]);
        r.peer_ack(107, &mut c);
        assert_eq!(c.bytes, b"a??d??g");
    }

    #[test]
    fn snap_length_cut_becomes_gap() {
        let mut r = Reassembler::new();
        let mut c = Collect::default();
        r.segment(10, b"abc", 2, o(1), &mut c);
        r.segment(15, b"f", 0, o(2), &mut c);
        assert_eq!(c.bytes, b"abc??f");
        assert_eq!(c.gaps, [(3, 2)]);
    }

    #[test]
    fn buffer_limit_forces_gap() {
        let mut r = Reassembler::new();
        let mut c = Collect::default();
        r.segment(0, b"x", 0, o(1), &mut c);
        let chunk = vec![7u8; 64 * 1024];
        for i in 0..20u32 {
            r.segment(10 + i * chunk.len() as u32, &chunk, 0, o(2), &mut c);
        }
        assert!(r.stats().forced_gaps >= 1);
        assert_eq!(c.gaps.first(), Some(&(1, 9)));
    }
}
