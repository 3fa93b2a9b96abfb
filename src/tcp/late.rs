//! TCP layer, both directions of a connection (RFC 9293 §3.4 on acknowledgements): segments
//! captured after the peer's acknowledgement of them.
//!
//! A capture point sees the two directions of a connection through different queues, so a data
//! segment may be captured after the segment of the peer that acknowledges it (and after the
//! peer's answer). An acknowledgement tells the order the two sides saw: a segment that
//! acknowledges bytes the other direction has not delivered yet was sent after they arrived.
//! Such a segment waits ([`Streams`]), and so does every later one in the same position, in
//! arrival order, so that the session layer still sees a request before the answer the peer
//! sent after receiving it, and a hole the peer acknowledged is not declared lost while the
//! late segment may still come. When it comes, the waiting segments follow it; when it does not
//! come within [`MAX_LATE_SEGMENTS`] segments of the connection (or the connection ends, or the
//! waiting bytes of all connections reach [`MAX_LATE_BYTES_TOTAL`]), the waiting segments are
//! replayed in the order they arrived, exactly as they would have been processed at once (a
//! hole with data buffered behind it is then declared lost; one with nothing behind it stays
//! open, for data that may still come).

use std::collections::{BTreeMap, VecDeque};

use super::reassembler::{Reassembler, ReassemblyStats};
use super::{Dir, Origin, StreamSink};

/// Segments of a connection (both directions) after which a hole acknowledged by the peer that
/// is still open is declared lost.
pub const MAX_LATE_SEGMENTS: u64 = 64;
/// Payload bytes of segments waiting for an acknowledged hole, all connections together; beyond
/// this the hole of the connection adding more is declared lost.
pub const MAX_LATE_BYTES_TOTAL: usize = 8 * 1024 * 1024;
/// Out-of-order bytes the reassemblers of all connections hold together (each direction also
/// has its own [`super::reassembler::MAX_PENDING_BYTES`], which 100,000 connections would
/// multiply to 200 GB); beyond this the connection adding more declares its holes lost
/// (`limit_tcp_pending_bytes`).
pub const MAX_PENDING_BYTES_TOTAL: usize = 16 * 1024 * 1024;

/// A segment as the two streams of its connection take it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Its direction.
    pub dir: Dir,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number, when the ACK flag is set.
    pub ack: Option<u32>,
    /// Payload (empty for a SYN).
    pub payload: &'a [u8],
    /// Payload bytes cut off by the snap length.
    pub missing_tail: u32,
    /// The FIN flag is set.
    pub fin: bool,
    /// Frame that carried it.
    pub origin: Origin,
}

/// Receiver of the stream events of both directions of a connection.
pub trait ConnectionSink {
    /// In-order bytes of direction `dir` ([`StreamSink::data`]).
    fn data(&mut self, dir: Dir, offset: u64, bytes: &[u8], origin: Origin);
    /// Bytes of direction `dir` that will never arrive ([`StreamSink::gap`]).
    fn gap(&mut self, dir: Dir, offset: u64, len: u64);
}

/// One direction of a [`ConnectionSink`].
struct OneWay<'a, C: ?Sized> {
    dir: Dir,
    sink: &'a mut C,
}

impl<C: ConnectionSink + ?Sized> StreamSink for OneWay<'_, C> {
    fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin) {
        self.sink.data(self.dir, offset, bytes, origin);
    }

    fn gap(&mut self, offset: u64, len: u64) {
        self.sink.gap(self.dir, offset, len);
    }
}

/// Counters of late segments over a run (in the summary's counters when not zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LateStats {
    /// Segments that waited for bytes of the other direction they acknowledge.
    pub segments_waited: u64,
    /// Of those, processed once the bytes came.
    pub segments_released: u64,
    /// Of those, processed without them after [`MAX_LATE_SEGMENTS`] or at the end of the
    /// connection.
    pub segments_given_up: u64,
    /// Of those, processed without them because [`MAX_LATE_BYTES_TOTAL`] was reached.
    pub segments_given_up_to_limit: u64,
    /// Times a connection declared its holes lost because the out-of-order data of all
    /// connections passed [`MAX_PENDING_BYTES_TOTAL`].
    pub holes_given_up_to_limit: u64,
}

/// What all connections hold together: the payload of waiting segments against
/// [`MAX_LATE_BYTES_TOTAL`], the out-of-order data of their reassemblers against
/// [`MAX_PENDING_BYTES_TOTAL`], and the first frame whose data waits, per connection, so that
/// the output order does not pass it.
#[derive(Debug, Default)]
pub struct Budget {
    bytes: usize,
    /// Out-of-order bytes the reassemblers of all connections hold.
    pending: usize,
    /// First frames of the connections waiting (a multiset: frame → connections).
    floors: BTreeMap<u64, u32>,
    stats: LateStats,
}

impl Budget {
    /// The first frame whose data still waits in any connection: no stream event of an earlier
    /// frame is certain to have been delivered.
    #[must_use]
    pub fn floor(&self) -> Option<u64> {
        self.floors.keys().next().copied()
    }

    /// Bytes held for all connections now: waiting segments' payload and out-of-order data.
    #[must_use]
    pub fn held(&self) -> usize {
        self.bytes + self.pending
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> LateStats {
        self.stats
    }

    fn add_floor(&mut self, frame: u64) {
        *self.floors.entry(frame).or_default() += 1;
    }

    fn remove_floor(&mut self, frame: u64) {
        if let Some(n) = self.floors.get_mut(&frame) {
            *n -= 1;
            if *n == 0 {
                self.floors.remove(&frame);
            }
        }
    }
}

/// A segment waiting for the other direction to deliver what it acknowledges.
#[derive(Debug)]
struct Waiting {
    dir: Dir,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
    missing_tail: u32,
    fin: bool,
    origin: Origin,
    /// [`Episode::segments`] when it arrived.
    arrived: u64,
}

impl Waiting {
    fn segment(&self) -> Segment<'_> {
        Segment {
            dir: self.dir,
            seq: self.seq,
            ack: Some(self.ack),
            payload: &self.payload,
            missing_tail: self.missing_tail,
            fin: self.fin,
            origin: self.origin,
        }
    }
}

/// Segments waiting for acknowledged bytes of a connection.
#[derive(Debug)]
struct Episode {
    queue: VecDeque<Waiting>,
    /// Segments of the connection since the first one waited.
    segments: u64,
    /// First frame whose data waits (registered in [`Budget`]).
    floor: u64,
}

/// Both directions of a connection: their reassembly and the segments waiting for an
/// acknowledged hole.
#[derive(Debug, Default)]
pub struct Streams {
    dirs: [Reassembler; 2],
    /// Out-of-order bytes of both directions as last counted in the [`Budget`].
    pending: usize,
    episode: Option<Box<Episode>>,
}

impl Streams {
    /// Streams with no data yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a SYN of direction `dir`.
    pub fn syn(&mut self, dir: Dir, isn: u32) {
        self.dirs[dir.index()].syn(isn);
    }

    /// Counters of direction `dir`.
    #[must_use]
    pub fn stats(&self, dir: Dir) -> ReassemblyStats {
        self.dirs[dir.index()].stats()
    }

    /// Adds a segment: its acknowledgement first (for the other direction), then its payload.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        sink: &mut impl ConnectionSink,
        budget: &mut Budget,
    ) {
        match seg.ack {
            Some(ack) if self.waits(seg.dir, ack) => self.hold(seg, ack, budget),
            _ => self.feed(seg, sink),
        }
        if let Some(episode) = self.episode.as_mut() {
            episode.segments += 1;
            self.advance(sink, budget);
        }
        self.account(sink, budget);
    }

    /// Counts this connection's out-of-order bytes in the budget; past
    /// [`MAX_PENDING_BYTES_TOTAL`] for all connections, this one declares its holes lost and
    /// delivers what it held (so the total stays within the limit plus one connection's own).
    fn account(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget) {
        let held = |s: &Self| s.dirs.iter().map(Reassembler::pending_bytes).sum::<usize>();
        let now = held(self);
        budget.pending = budget.pending - self.pending + now;
        self.pending = now;
        if budget.pending > MAX_PENDING_BYTES_TOTAL && now > 0 {
            budget.stats.holes_given_up_to_limit += 1;
            for dir in [Dir::FromInitiator, Dir::FromResponder] {
                self.dirs[dir.index()].flush(&mut OneWay {
                    dir,
                    sink: &mut *sink,
                });
            }
            let now = held(self);
            budget.pending = budget.pending - self.pending + now;
            self.pending = now;
        }
    }

    /// End of the connection or of the capture: segments still waiting are processed (in
    /// arrival order, each as soon as what it acknowledges is there or the first of them
    /// otherwise), then every hole left is a gap.
    pub fn flush(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget) {
        self.give_up_all(sink, budget, false);
        for dir in [Dir::FromInitiator, Dir::FromResponder] {
            self.dirs[dir.index()].flush(&mut OneWay {
                dir,
                sink: &mut *sink,
            });
        }
        budget.pending -= self.pending;
        self.pending = 0;
    }

    /// True when a segment of `dir` acknowledging `ack` must wait: the other direction has not
    /// delivered the bytes it acknowledges.
    fn waits(&self, dir: Dir, ack: u32) -> bool {
        self.dirs[dir.reverse().index()].is_behind(ack)
    }

    fn hold(&mut self, seg: &Segment<'_>, ack: u32, budget: &mut Budget) {
        let episode = self.episode.get_or_insert_with(|| {
            budget.add_floor(seg.origin.frame);
            Box::new(Episode {
                queue: VecDeque::new(),
                segments: 0,
                floor: seg.origin.frame,
            })
        });
        budget.bytes += seg.payload.len();
        budget.stats.segments_waited += 1;
        episode.queue.push_back(Waiting {
            dir: seg.dir,
            seq: seg.seq,
            ack,
            payload: seg.payload.to_vec(),
            missing_tail: seg.missing_tail,
            fin: seg.fin,
            origin: seg.origin,
            arrived: episode.segments,
        });
    }

    /// Gives the segment's acknowledgement to the other direction, then its payload to its own.
    fn feed(&mut self, seg: &Segment<'_>, sink: &mut impl ConnectionSink) {
        let (dir, rev) = (seg.dir, seg.dir.reverse());
        if let Some(ack) = seg.ack {
            self.dirs[rev.index()].peer_ack(
                ack,
                &mut OneWay {
                    dir: rev,
                    sink: &mut *sink,
                },
            );
        }
        let stream = &mut self.dirs[dir.index()];
        stream.segment(
            seg.seq,
            seg.payload,
            seg.missing_tail,
            seg.origin,
            &mut OneWay { dir, sink },
        );
        if seg.fin {
            stream.fin(seg.seq, seg.payload.len() + seg.missing_tail as usize);
        }
    }

    /// After a segment of a connection with waiting segments: processes those whose
    /// acknowledged bytes are now there, and gives up waiting for the first one once it waited
    /// [`MAX_LATE_SEGMENTS`] segments (or all of them past [`MAX_LATE_BYTES_TOTAL`]).
    fn advance(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget) {
        self.feed_ready(sink, budget);
        if budget.bytes > MAX_LATE_BYTES_TOTAL {
            self.give_up_all(sink, budget, true);
            return;
        }
        while let Some(episode) = self.episode.as_ref()
            && episode
                .queue
                .front()
                .is_some_and(|w| episode.segments - w.arrived >= MAX_LATE_SEGMENTS)
        {
            budget.stats.segments_given_up += 1;
            self.give_up_one(sink, budget);
        }
        self.settle(budget);
    }

    /// Processes, as long as there is one, the first waiting segment whose acknowledged bytes
    /// the other direction delivered.
    fn feed_ready(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget) {
        while let Some(i) = self.first_ready() {
            budget.stats.segments_released += 1;
            self.feed_waiting(i, false, sink, budget);
        }
    }

    /// The first waiting segment whose acknowledged bytes the other direction delivered.
    fn first_ready(&self) -> Option<usize> {
        let episode = self.episode.as_ref()?;
        episode.queue.iter().position(|w| !self.waits(w.dir, w.ack))
    }

    /// Processes waiting segment `i`; `given_up`: the bytes it acknowledges are not coming (the
    /// other direction declares them lost first).
    fn feed_waiting(
        &mut self,
        i: usize,
        given_up: bool,
        sink: &mut impl ConnectionSink,
        budget: &mut Budget,
    ) {
        let Some(w) = self.episode.as_mut().and_then(|e| e.queue.remove(i)) else {
            return;
        };
        budget.bytes -= w.payload.len();
        if given_up {
            let rev = w.dir.reverse();
            self.dirs[rev.index()].lost_before(
                w.ack,
                &mut OneWay {
                    dir: rev,
                    sink: &mut *sink,
                },
            );
        }
        self.feed(&w.segment(), sink);
    }

    /// Gives up waiting for one segment, then processes those it unblocks. The one is the
    /// first waiting for bytes that no waiting segment carries (bytes the capture lacks): giving
    /// up on a segment whose bytes wait in the queue would declare them lost before they are
    /// processed. When every one waits for another (acknowledgements that contradict each
    /// other), the first.
    fn give_up_one(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget) {
        let Some(episode) = self.episode.as_ref() else {
            return;
        };
        let queue = &episode.queue;
        let carried = |w: &Waiting| {
            queue.iter().any(|carrier| {
                carrier.dir == w.dir.reverse()
                    && !carrier.payload.is_empty()
                    && (carrier.seq.wrapping_sub(w.ack) as i32) < 0
                    && self.dirs[carrier.dir.index()]
                        .is_behind(carrier.seq.wrapping_add(carrier.payload.len() as u32))
            })
        };
        let i = queue.iter().position(|w| !carried(w)).unwrap_or(0);
        self.feed_waiting(i, true, sink, budget);
        self.feed_ready(sink, budget);
    }

    /// Stops waiting: gives up on one segment after the other ([`Streams::give_up_one`]) until
    /// none waits.
    fn give_up_all(&mut self, sink: &mut impl ConnectionSink, budget: &mut Budget, limit: bool) {
        while self.episode.as_ref().is_some_and(|e| !e.queue.is_empty()) {
            budget.stats.segments_given_up += 1;
            if limit {
                budget.stats.segments_given_up_to_limit += 1;
            }
            self.give_up_one(sink, budget);
        }
        self.settle(budget);
    }

    /// Ends the episode once nothing waits, or moves its floor to the first frame whose data
    /// still waits: the first waiting segment's, or data buffered behind a hole it waits for.
    fn settle(&mut self, budget: &mut Budget) {
        let Some(episode) = self.episode.as_mut() else {
            return;
        };
        let Some(first) = episode.queue.front() else {
            budget.remove_floor(episode.floor);
            self.episode = None;
            return;
        };
        let buffered = self.dirs[first.dir.reverse().index()].oldest_pending_frame();
        let floor = buffered.map_or(first.origin.frame, |f| f.min(first.origin.frame));
        if floor != episode.floor {
            budget.remove_floor(episode.floor);
            budget.add_floor(floor);
            episode.floor = floor;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;

    /// Everything delivered, as (direction, text) runs and gaps.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl ConnectionSink for Log {
        fn data(&mut self, dir: Dir, offset: u64, bytes: &[u8], _origin: Origin) {
            let side = if dir == Dir::FromInitiator { 'C' } else { 'S' };
            self.0
                .push(format!("{side}{offset}:{}", String::from_utf8_lossy(bytes)));
        }

        fn gap(&mut self, dir: Dir, offset: u64, len: u64) {
            let side = if dir == Dir::FromInitiator { 'C' } else { 'S' };
            self.0.push(format!("{side}{offset}:gap{len}"));
        }
    }

    const C: Dir = Dir::FromInitiator;
    const S: Dir = Dir::FromResponder;

    /// A segment of `dir` at stream offset `at` with `payload`, acknowledging `ack` bytes of
    /// the other direction (streams start at sequence number 1000 both ways).
    fn seg(dir: Dir, at: u32, payload: &'static str, ack: u32, frame: u64) -> Segment<'static> {
        Segment {
            dir,
            seq: 1000 + at,
            ack: Some(1000 + ack),
            payload: payload.as_bytes(),
            missing_tail: 0,
            fin: false,
            origin: Origin {
                frame,
                ts: Timestamp::default(),
            },
        }
    }

    fn run(segments: &[Segment<'static>]) -> (Vec<String>, LateStats, Option<u64>) {
        let mut streams = Streams::new();
        streams.syn(C, 999);
        streams.syn(S, 999);
        let (mut log, mut budget) = (Log::default(), Budget::default());
        let mut floor_during = None;
        for s in segments {
            streams.segment(s, &mut log, &mut budget);
            floor_during = floor_during.or(budget.floor());
        }
        streams.flush(&mut log, &mut budget);
        assert_eq!(budget.floor(), None, "no floor once flushed");
        assert_eq!(budget.bytes, 0, "no bytes counted once flushed");
        (log.0, budget.stats(), floor_during)
    }

    #[test]
    fn in_order_traffic_is_delivered_at_once() {
        let (log, stats, floor) = run(&[
            seg(C, 0, "req", 0, 1),
            seg(S, 0, "resp", 3, 2),
            seg(C, 3, "req2", 4, 3),
        ]);
        assert_eq!(log, ["C0:req", "S0:resp", "C3:req2"]);
        assert_eq!(stats, LateStats::default());
        assert_eq!(floor, None);
    }

    #[test]
    fn a_segment_captured_after_its_acknowledgement_comes_before_the_answer() {
        // The client's "b" is captured after the server acknowledged it and answered.
        let (log, stats, floor) = run(&[
            seg(C, 0, "a", 0, 1),
            seg(C, 2, "c", 0, 2),
            seg(S, 0, "resp", 3, 3),
            seg(C, 1, "b", 0, 4),
            seg(C, 3, "next", 4, 5),
        ]);
        assert_eq!(log, ["C0:a", "C1:b", "C2:c", "S0:resp", "C3:next"]);
        assert_eq!(stats.segments_released, 1);
        assert_eq!(stats.segments_waited, 1);
        assert_eq!(stats.segments_given_up, 0);
        assert_eq!(
            floor,
            Some(2),
            "the buffered \"c\" of frame 2 bounds the output order"
        );
    }

    #[test]
    fn segments_that_need_the_waiting_answer_wait_behind_it() {
        // The client's next request acknowledges the answer, which waits for "b": it waits too.
        let (log, stats, _) = run(&[
            seg(C, 0, "a", 0, 1),
            seg(C, 2, "c", 0, 2),
            seg(S, 0, "resp", 3, 3),
            seg(C, 3, "next", 4, 4),
            seg(C, 1, "b", 0, 5),
        ]);
        assert_eq!(log, ["C0:a", "C1:b", "C2:c", "S0:resp", "C3:next"]);
        assert_eq!(stats.segments_waited, 2);
        assert_eq!(stats.segments_released, 2);
    }

    #[test]
    fn a_hole_never_filled_is_lost_as_at_the_acknowledgement() {
        let mut segments = vec![
            seg(C, 0, "a", 0, 1),
            seg(C, 2, "c", 0, 2),
            seg(S, 0, "resp", 3, 3),
        ];
        for i in 0..MAX_LATE_SEGMENTS {
            segments.push(seg(S, 4, "", 3, 4 + i));
        }
        let (log, stats, _) = run(&segments);
        assert_eq!(log, ["C0:a", "C1:gap1", "C2:c", "S0:resp"]);
        assert_eq!(stats.segments_given_up, 1, "the answer");
        // The acknowledgements after it follow at once (the last one no longer waits).
        assert_eq!(stats.segments_released, MAX_LATE_SEGMENTS - 1);
    }

    #[test]
    fn the_end_of_the_connection_replays_what_waits() {
        let (log, stats, _) = run(&[
            seg(C, 0, "a", 0, 1),
            seg(C, 2, "c", 0, 2),
            seg(S, 0, "resp", 3, 3),
        ]);
        assert_eq!(log, ["C0:a", "C1:gap1", "C2:c", "S0:resp"]);
        assert_eq!(stats.segments_given_up, 1);
    }

    #[test]
    fn an_answer_captured_before_the_request_it_acknowledges_follows_it() {
        let (log, stats, floor) = run(&[
            seg(C, 0, "a", 0, 1),
            seg(S, 0, "resp", 4, 2),
            seg(C, 1, "bcd", 0, 3),
        ]);
        assert_eq!(log, ["C0:a", "C1:bcd", "S0:resp"]);
        assert_eq!(stats.segments_released, 1);
        assert_eq!(floor, Some(2));
    }

    #[test]
    fn acknowledged_bytes_never_captured_are_lost_once_waited_for() {
        // The answer acknowledges "bcd", never captured: after MAX_LATE_SEGMENTS it follows a
        // gap, and the acknowledgements after it at once.
        let mut segments = vec![seg(C, 0, "a", 0, 1), seg(S, 0, "resp", 4, 2)];
        for i in 1..MAX_LATE_SEGMENTS {
            segments.push(seg(S, 4, "", 4, 3 + i));
        }
        segments.push(seg(C, 4, "e", 4, 100));
        let (log, stats, _) = run(&segments);
        assert_eq!(log, ["C0:a", "C1:gap3", "S0:resp", "C4:e"]);
        assert_eq!(stats.segments_given_up, 1);
        assert_eq!(stats.segments_released, MAX_LATE_SEGMENTS - 1);
    }

    #[test]
    fn the_acknowledgement_of_a_fin_waits_for_nothing() {
        let fin = Segment {
            fin: true,
            ..seg(C, 0, "req", 0, 1)
        };
        let (log, stats, _) = run(&[fin, seg(S, 0, "resp", 4, 2)]);
        assert_eq!(log, ["C0:req", "S0:resp"]);
        assert_eq!(stats, LateStats::default());
    }

    #[test]
    fn waiting_bytes_of_all_connections_are_bounded() {
        let mut budget = Budget {
            bytes: MAX_LATE_BYTES_TOTAL,
            ..Budget::default()
        };
        let mut streams = Streams::new();
        streams.syn(C, 999);
        streams.syn(S, 999);
        let mut log = Log::default();
        for s in [
            seg(C, 0, "a", 0, 1),
            seg(C, 2, "c", 0, 2),
            seg(S, 0, "resp", 3, 3),
        ] {
            streams.segment(&s, &mut log, &mut budget);
        }
        assert_eq!(log.0, ["C0:a", "C1:gap1", "C2:c", "S0:resp"]);
        assert_eq!(budget.stats().segments_given_up_to_limit, 1);
        assert_eq!(budget.floor(), None);
    }

    /// Many connections each holding out-of-order data behind a hole: together they stay within
    /// [`MAX_PENDING_BYTES_TOTAL`] (plus the one connection that passed it), the connection
    /// that passes it delivers what it held after a gap, and nothing is counted once all are
    /// flushed.
    #[test]
    fn out_of_order_data_of_all_connections_is_bounded_together() {
        let chunk = vec![b'x'; 60_000];
        let per_connection = 16; // 960,000 bytes: under the per-direction limit
        let connections = MAX_PENDING_BYTES_TOTAL / (per_connection * chunk.len()) + 8;
        let mut budget = Budget::default();
        let mut all = Vec::new();
        let mut delivered = 0u64;
        for _ in 0..connections {
            let mut streams = Streams::new();
            streams.syn(C, 999);
            let mut log = Counting::default();
            // byte 0 never comes: everything after it waits
            for k in 0..per_connection {
                let at = 1 + (k * chunk.len()) as u32;
                let s = Segment {
                    dir: C,
                    seq: 1000 + at,
                    ack: None,
                    payload: &chunk,
                    missing_tail: 0,
                    fin: false,
                    origin: Origin {
                        frame: 1,
                        ts: Timestamp::default(),
                    },
                };
                streams.segment(&s, &mut log, &mut budget);
                assert!(
                    budget.pending <= MAX_PENDING_BYTES_TOTAL + per_connection * chunk.len(),
                    "{} bytes held",
                    budget.pending
                );
            }
            delivered += log.bytes;
            all.push((streams, log));
        }
        let stats = budget.stats();
        assert!(stats.holes_given_up_to_limit > 0, "the limit was reached");
        assert!(delivered > 0, "a connection past it delivered what it held");
        for (streams, log) in &mut all {
            streams.flush(log, &mut budget);
        }
        assert_eq!(
            budget.pending, 0,
            "nothing counted once every connection ended"
        );
    }

    /// Counts delivered bytes.
    #[derive(Default)]
    struct Counting {
        bytes: u64,
    }

    impl ConnectionSink for Counting {
        fn data(&mut self, _: Dir, _: u64, bytes: &[u8], _: Origin) {
            self.bytes += bytes.len() as u64;
        }

        fn gap(&mut self, _: Dir, _: u64, _: u64) {}
    }
}
