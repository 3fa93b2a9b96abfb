//! What associations report to the engine while the capture is read: finished calls, put in
//! output order as soon as that order is certain (so output streams and memory does not grow
//! with the number of calls), endpoints learned from answers, and named pipes opened.
//!
//! Calls are ordered by the frame of their first request byte (or first response byte when the
//! request was not captured), then by their last frame and call id. A finished call is released
//! once no call still open, and no call yet to come, can sort before it: its first frame must be
//! below the first frame of every open call and below the frame being read.
//!
//! A live capture asks for completion order instead ([`Outbox::in_completion_order`]): a call is
//! ready the moment it finishes, so nothing waits behind a call that never gets an answer.
//!
//! Limit: at most [`MAX_HELD_CALLS`] finished calls wait behind an open one (a call that never
//! gets an answer holds back those after it until the association ends). Beyond that the
//! earliest are released out of order and the `output_order_limit` anomaly is recorded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use crate::epm::resolver::Learned;
use crate::event::CallRecord;
use crate::report::Tally;

/// Finished calls held back to keep the output in order.
pub const MAX_HELD_CALLS: usize = 100_000;
/// PDU notes waiting to be taken (they are taken after every frame); beyond this they are
/// dropped.
pub const MAX_PENDING_NOTES: usize = 10_000;
/// DCOM interface pointers (IPID → IID) remembered per run; later ones are not kept.
pub const MAX_IPIDS: usize = 65_536;

#[derive(Debug, PartialEq, Eq)]
struct Held {
    key: (u64, u64, u32),
    seq: u64,
    record: CallRecord,
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.key, self.seq).cmp(&(other.key, other.seq))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A named pipe opened on an SMB connection (for linking endpoint-mapper answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeOpened {
    /// SMB client.
    pub client: std::net::SocketAddr,
    /// SMB server.
    pub server: std::net::SocketAddr,
    /// Pipe name as opened.
    pub pipe: String,
    /// When.
    pub ts: crate::source::Timestamp,
}

/// The buffer between associations and the engine.
#[derive(Debug, Default)]
pub struct Outbox {
    learned: Vec<Learned>,
    /// Notes of non-call PDUs, when someone wants them (the terminal interface).
    notes: Option<Vec<crate::event::PduNote>>,
    /// DCOM IPIDs seen in answers, and the interface each was created for.
    ipids: crate::hash::FastMap<crate::dcerpc::Uuid, crate::dcerpc::Uuid>,
    pipes: Vec<PipeOpened>,
    /// First frames of the calls still open (a multiset).
    open: BTreeMap<u64, u32>,
    held: BinaryHeap<Reverse<Held>>,
    ready: VecDeque<CallRecord>,
    seq: u64,
    /// Calls are ready as they finish, not in capture order.
    completion_order: bool,
    /// Limits finished calls ran into, until the next release (one entry per kind).
    anomalies: Tally,
}

impl Outbox {
    /// An empty queue.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes calls ready as they finish (live capture) rather than in capture order.
    pub fn in_completion_order(&mut self) {
        self.completion_order = true;
    }

    /// A call whose first byte is in `first_frame` was opened.
    pub fn opened(&mut self, first_frame: u64) {
        *self.open.entry(first_frame).or_default() += 1;
    }

    /// A call opened with `first_frame` is finished.
    pub fn finished(&mut self, record: CallRecord, first_frame: u64) {
        if let Some(n) = self.open.get_mut(&first_frame) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&first_frame);
            }
        }
        if self.completion_order {
            self.ready.push_back(record);
            return;
        }
        self.seq += 1;
        self.held.push(Reverse(Held {
            key: record.sort_key(),
            seq: self.seq,
            record,
        }));
    }

    /// Moves every call that can no longer be overtaken to the ready list; `reading` is the
    /// frame being read (`u64::MAX` at the end of the capture).
    pub fn release(&mut self, reading: u64, tally: &mut Tally) {
        if !self.anomalies.anomalies.is_empty() {
            tally.absorb(std::mem::take(&mut self.anomalies));
        }
        let open_min = self.open.keys().next().copied().unwrap_or(u64::MAX);
        let bar = open_min.min(reading);
        while let Some(Reverse(top)) = self.held.peek() {
            let over_limit = self.held.len() > MAX_HELD_CALLS;
            if top.key.0 >= bar && !over_limit {
                break;
            }
            if over_limit && top.key.0 >= bar {
                tally.anomaly("output_order_limit", top.key.0, || {
                    format!("more than {MAX_HELD_CALLS} finished calls waited behind an open one")
                });
            }
            if let Some(Reverse(h)) = self.held.pop() {
                self.ready.push_back(h.record);
            }
        }
    }

    /// A finished call ran into a limit (`limit_*`), counted in the run's tally at the next
    /// release.
    pub fn anomaly(&mut self, kind: &'static str, frame: u64, detail: impl FnOnce() -> String) {
        self.anomalies.anomaly(kind, frame, detail);
    }

    /// An endpoint was learned from an answer.
    pub fn learn(&mut self, l: Learned) {
        self.learned.push(l);
    }

    /// An answer created the DCOM interface pointer `ipid` for interface `iid`.
    pub fn learn_ipid(&mut self, ipid: crate::dcerpc::Uuid, iid: crate::dcerpc::Uuid) {
        if self.ipids.len() < MAX_IPIDS || self.ipids.contains_key(&ipid) {
            self.ipids.insert(ipid, iid);
        }
    }

    /// The interface a DCOM IPID was created for, when its answer was seen.
    #[must_use]
    pub fn ipid_interface(&self, ipid: crate::dcerpc::Uuid) -> Option<crate::dcerpc::Uuid> {
        self.ipids.get(&ipid).copied()
    }

    /// Starts collecting notes of non-call PDUs.
    pub fn enable_notes(&mut self) {
        self.notes.get_or_insert_with(Vec::new);
    }

    /// True when notes are collected.
    #[must_use]
    pub fn wants_notes(&self) -> bool {
        self.notes.is_some()
    }

    /// A non-call PDU, when notes are collected.
    pub fn note(&mut self, n: crate::event::PduNote) {
        if let Some(v) = self.notes.as_mut()
            && v.len() < MAX_PENDING_NOTES
        {
            v.push(n);
        }
    }

    /// Takes the notes collected so far.
    pub fn take_notes(&mut self) -> Vec<crate::event::PduNote> {
        self.notes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A named pipe was opened.
    pub fn pipe_opened(&mut self, p: PipeOpened) {
        self.pipes.push(p);
    }

    /// Takes the endpoints learned and pipes opened since the last call.
    pub fn take_news(&mut self) -> (Vec<Learned>, Vec<PipeOpened>) {
        (
            std::mem::take(&mut self.learned),
            std::mem::take(&mut self.pipes),
        )
    }

    /// Takes the calls released so far, in order.
    pub fn take_ready(&mut self) -> impl Iterator<Item = CallRecord> + '_ {
        self.ready.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PduSpan;

    fn record(call_id: u32, first: u64, last: u64) -> CallRecord {
        CallRecord {
            kind: "call",
            client: String::new(),
            server: String::new(),
            transport: "ncacn_ip_tcp",
            pipe: None,
            pipe_source: None,
            file_id: None,
            call_id,
            context_id: 0,
            interface: None,
            interface_source: None,
            opnum: Some(0),
            operation: None,
            request: Some(PduSpan {
                frames: [first, last],
                fragments: 1,
                stub_len: 0,
            }),
            response: None,
            outcome: "no_response",
            fault_status: None,
            fault_name: None,
            auth_type: None,
            auth_level: None,
            decryption: None,
            decryption_reason: None,
            signature: None,
            start: String::new(),
            duration_us: None,
            status: None,
            object: None,
            transfer_syntax: None,
            endpoint_frame: None,
            heads: Default::default(),
            verifier: None,
            span_us: (0, 0),
            pipes: None,
            decoded: None,
            stubs: None,
            epm: None,
            oxid: None,
            netlogon: None,
        }
    }

    fn ids(q: &mut Outbox) -> Vec<u32> {
        q.take_ready().map(|r| r.call_id).collect()
    }

    #[test]
    fn holds_finished_calls_behind_an_open_earlier_call() {
        let mut q = Outbox::new();
        let mut t = Tally::default();
        q.opened(10);
        q.opened(20);
        q.finished(record(2, 20, 21), 20);
        q.release(30, &mut t);
        assert!(ids(&mut q).is_empty(), "call 1 (frame 10) is still open");
        q.finished(record(1, 10, 40), 10);
        q.release(41, &mut t);
        assert_eq!(ids(&mut q), [1, 2]);
    }

    #[test]
    fn completion_order_never_waits_behind_an_open_call() {
        let mut q = Outbox::new();
        q.in_completion_order();
        let mut t = Tally::default();
        q.opened(10);
        q.opened(20);
        q.finished(record(2, 20, 21), 20);
        q.release(21, &mut t);
        assert_eq!(ids(&mut q), [2], "call 1 (frame 10) is still open");
        q.finished(record(1, 10, 40), 10);
        q.release(40, &mut t);
        assert_eq!(ids(&mut q), [1]);
        assert!(q.open.is_empty());
    }

    #[test]
    fn never_releases_a_call_a_later_frame_could_precede() {
        let mut q = Outbox::new();
        let mut t = Tally::default();
        q.opened(5);
        q.finished(record(1, 5, 5), 5);
        q.release(5, &mut t);
        assert!(
            ids(&mut q).is_empty(),
            "frame 5 may still open a call that sorts first"
        );
        q.release(6, &mut t);
        assert_eq!(ids(&mut q), [1]);
    }

    #[test]
    fn releases_out_of_order_past_the_limit_and_says_so() {
        let mut q = Outbox::new();
        let mut t = Tally::default();
        q.opened(1);
        for i in 0..=MAX_HELD_CALLS as u64 {
            q.opened(i + 2);
            q.finished(record(7, i + 2, i + 2), i + 2);
        }
        q.release(u64::MAX - 1, &mut t);
        assert_eq!(q.take_ready().count(), 1);
        assert_eq!(t.anomalies["output_order_limit"].count, 1);
    }
}
