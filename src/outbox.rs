//! Analysis layer, between the associations and the engine: finished calls in the order they
//! end, the calls still open, and how far the output order is settled.
//!
//! Calls are ordered for output by the frame of their first request byte (or first response
//! byte when the request was not captured), then by their last frame and call id
//! ([`Call::sort_key`]). The outbox does not hold calls back for that order: it hands them
//! over as they end, with the *settled* frame ([`Outbox::settled`]): no call still open, and no
//! call yet to come, can sort before it. The output layer ([`crate::output::order`]) holds calls
//! until they are settled, in memory or, for long outputs, in temporary files.

use std::collections::{BTreeMap, VecDeque};

use crate::model::Call;
use crate::report::Tally;

/// Calls awaiting completion over the whole run (every association together): past it, an
/// association that opens a call first ends its own oldest (`limit_open_calls_total`), so the
/// run holds at most this many plus one per association.
pub const MAX_OPEN_CALLS_TOTAL: usize = 8_192;

/// The buffer between associations and the engine.
#[derive(Debug, Default)]
pub struct Outbox {
    /// First frames of the calls still open (a multiset).
    open: BTreeMap<u64, u32>,
    /// Calls still open.
    open_calls: usize,
    /// First frames of the calls that ended but wait for their interface
    /// ([`crate::dcerpc::unlabelled`]), a multiset.
    held: BTreeMap<u64, u32>,
    /// Finished calls not taken yet, in the order they ended.
    ready: VecDeque<Call>,
    /// No call taken later sorts before this first frame.
    settled: u64,
    /// Limits finished calls ran into, until the next settling (one entry per kind).
    anomalies: Tally,
    /// Open calls allowed in the run, when not [`MAX_OPEN_CALLS_TOTAL`].
    max_open_calls: Option<usize>,
}

impl Outbox {
    /// An empty queue.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A call whose first byte is in `first_frame` was opened.
    pub fn opened(&mut self, first_frame: u64) {
        *self.open.entry(first_frame).or_default() += 1;
        self.open_calls += 1;
    }

    /// Allows `max` open calls in the run instead of [`MAX_OPEN_CALLS_TOTAL`].
    pub fn limit_open_calls(&mut self, max: usize) {
        self.max_open_calls = Some(max);
    }

    /// How many calls may be open in the run.
    #[must_use]
    pub fn max_open_calls(&self) -> usize {
        self.max_open_calls.unwrap_or(MAX_OPEN_CALLS_TOTAL)
    }

    /// True when more than [`Outbox::max_open_calls`] calls are open in the run.
    #[must_use]
    pub fn too_many_open_calls(&self) -> bool {
        self.open_calls > self.max_open_calls()
    }

    /// A call opened with `first_frame` is finished.
    pub fn finished(&mut self, record: Call, first_frame: u64) {
        if take_one(&mut self.open, first_frame) {
            self.open_calls -= 1;
        }
        self.ready.push_back(record);
    }

    /// A call opened with `first_frame` ended, but its record waits for its interface: it no
    /// longer counts as open, and the order stays settled below it until
    /// [`Outbox::released`].
    pub fn held(&mut self, first_frame: u64) {
        if take_one(&mut self.open, first_frame) {
            self.open_calls -= 1;
        }
        *self.held.entry(first_frame).or_default() += 1;
    }

    /// The record of a call [`Outbox::held`] with `first_frame`.
    pub fn released(&mut self, record: Call, first_frame: u64) {
        take_one(&mut self.held, first_frame);
        self.ready.push_back(record);
    }

    /// Moves the settled frame on after frame `reading` was read (`u64::MAX` at the end of the
    /// capture), and hands the anomalies of finished calls to `tally`.
    pub fn settle(&mut self, reading: u64, tally: &mut Tally) {
        if !self.anomalies.anomalies.is_empty() {
            tally.absorb(std::mem::take(&mut self.anomalies));
        }
        let first = |m: &BTreeMap<u64, u32>| m.keys().next().copied().unwrap_or(u64::MAX);
        self.settled = first(&self.open).min(first(&self.held)).min(reading);
    }

    /// Every call taken from now on sorts at or after this first frame (as of the last
    /// [`Outbox::settle`]), so those taken before that sort below it can be written.
    #[must_use]
    pub fn settled(&self) -> u64 {
        self.settled
    }

    /// A finished call ran into a limit (`limit_*`), counted in the run's tally at the next
    /// release.
    pub fn anomaly(&mut self, kind: &'static str, frame: u64, detail: impl FnOnce() -> String) {
        self.anomalies.anomaly(kind, frame, detail);
    }

    /// Takes the calls finished so far, in the order they ended.
    pub fn take_ready(&mut self) -> impl Iterator<Item = Call> + '_ {
        self.ready.drain(..)
    }
}

/// Takes one `key` out of the multiset `m`; false when it held none.
fn take_one(m: &mut BTreeMap<u64, u32>, key: u64) -> bool {
    let Some(n) = m.get_mut(&key) else {
        return false;
    };
    *n -= 1;
    if *n == 0 {
        m.remove(&key);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_below_the_earliest_open_call_and_the_frame_being_read() {
        let mut q = Outbox::new();
        let mut t = Tally::default();
        q.opened(10);
        q.opened(20);
        q.settle(30, &mut t);
        assert_eq!(q.settled(), 10, "call 1 (frame 10) is still open");
        q.opened(10);
        q.finished(crate::model::Call::for_tests(1, 10, 40), 10);
        q.settle(41, &mut t);
        assert_eq!(
            q.settled(),
            10,
            "a second call opened in frame 10 is still open"
        );
        q.finished(crate::model::Call::for_tests(2, 10, 42), 10);
        q.settle(43, &mut t);
        assert_eq!(q.settled(), 20);
        q.finished(crate::model::Call::for_tests(3, 20, 44), 20);
        q.settle(45, &mut t);
        assert_eq!(q.settled(), 45, "frame 45 may still open a call");
        q.settle(u64::MAX, &mut t);
        assert_eq!(q.settled(), u64::MAX);
        let ids: Vec<u32> = q.take_ready().map(|r| r.call_id).collect();
        assert_eq!(ids, [1, 2, 3], "in the order they ended");
    }

    #[test]
    fn a_held_call_keeps_the_order_below_it_without_counting_as_open() {
        let mut q = Outbox::new();
        let mut t = Tally::default();
        q.opened(10);
        q.opened(10);
        q.held(10);
        assert!(!q.too_many_open_calls());
        assert_eq!(q.open_calls, 1, "the held call is no longer open");
        q.finished(crate::model::Call::for_tests(2, 10, 30), 10);
        q.settle(50, &mut t);
        assert_eq!(q.settled(), 10, "the held call still sorts at frame 10");
        q.released(crate::model::Call::for_tests(1, 10, 20), 10);
        q.settle(51, &mut t);
        assert_eq!(q.settled(), 51);
        let ids: Vec<u32> = q.take_ready().map(|r| r.call_id).collect();
        assert_eq!(ids, [2, 1]);
    }
}
