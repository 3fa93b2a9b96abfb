//! The bounded queue between the capture thread and the analysis. Pushing never waits: a packet
//! that does not fit is dropped and counted, so a slow analysis (or a busy terminal) costs
//! packets, never the capture itself.
//!
//! Limits: [`MAX_QUEUED_PACKETS`] packets and [`MAX_QUEUED_BYTES`] captured bytes wait at once
//! (by default; tests use smaller ones); the packets dropped beyond them are counted in
//! [`PacketQueue::dropped`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::Packet;

/// Packets waiting for the analysis at most.
pub const MAX_QUEUED_PACKETS: usize = 100_000;
/// Captured bytes waiting for the analysis at most (64 MiB).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
struct State {
    packets: VecDeque<Packet>,
    bytes: usize,
    closed: bool,
}

/// What [`PacketQueue::pop_batch`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Popped {
    /// Packets were moved to the batch (possibly more to come).
    Some,
    /// Nothing arrived within the wait.
    Empty,
    /// The capture ended and every packet has been taken.
    Closed,
}

/// A bounded multi-producer queue of captured packets.
#[derive(Debug)]
pub struct PacketQueue {
    state: Mutex<State>,
    arrived: Condvar,
    max_packets: usize,
    max_bytes: usize,
    dropped: AtomicU64,
}

impl Default for PacketQueue {
    fn default() -> Self {
        Self::with_limits(MAX_QUEUED_PACKETS, MAX_QUEUED_BYTES)
    }
}

impl PacketQueue {
    /// A queue holding at most `max_packets` packets and `max_bytes` captured bytes.
    #[must_use]
    pub fn with_limits(max_packets: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            max_packets: max_packets.max(1),
            max_bytes,
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a queue that is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `packet` unless the queue is full or closed; returns whether it was queued. A
    /// packet not queued is counted in [`PacketQueue::dropped`].
    pub fn push(&self, packet: Packet) -> bool {
        let mut s = self.lock();
        let size = packet.data.len();
        let full = s.packets.len() >= self.max_packets
            || (s.bytes + size > self.max_bytes && !s.packets.is_empty());
        if full || s.closed {
            drop(s);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        s.bytes += size;
        s.packets.push_back(packet);
        drop(s);
        self.arrived.notify_one();
        true
    }

    /// No more packets will come: [`PacketQueue::pop_batch`] returns [`Popped::Closed`] once
    /// the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_all();
    }

    /// Moves every waiting packet to `batch`, waiting up to `wait` for the first one.
    pub fn pop_batch(&self, batch: &mut Vec<Packet>, wait: Duration) -> Popped {
        let mut s = self.lock();
        if s.packets.is_empty() && !s.closed {
            s = self
                .arrived
                .wait_timeout_while(s, wait, |s| s.packets.is_empty() && !s.closed)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        if s.packets.is_empty() {
            return if s.closed {
                Popped::Closed
            } else {
                Popped::Empty
            };
        }
        s.bytes = 0;
        batch.extend(s.packets.drain(..));
        Popped::Some
    }

    /// Packets dropped because the queue was full (or already closed).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
