//! Connection lookup: maps a segment to its connection and direction, opens connections on SYN
//! (or on the first segment of a connection that was already open when the capture started),
//! detects port reuse (a new SYN on a finished connection, or one with a different initial
//! sequence number), and bounds the table.
//!
//! A connection that ended (both FINs or a RST) lingers [`FINISHED_LINGER_SECS`] of capture
//! time for its last acknowledgements and retransmissions, then is handed back to be finished,
//! so the table holds the connections still open, not every connection of the capture. Its
//! ports are remembered ([`MAX_CLOSED_CONNECTIONS`]): a new SYN on them is a port reuse, and
//! any other late segment is dropped and counted rather than taken for a new connection.
//!
//! A connection that stays silent for [`IDLE_TIMEOUT_SECS`] of capture time is handed back too
//! (as Zeek and Suricata time out idle flows): a capture with many connections left open, or
//! never closed in the capture, keeps only the recent ones. Should it speak again, it starts
//! over as a connection that was already open (counted: `resumed_after_idle`).
//!
//! Limits: [`MAX_CONNECTIONS`] connections (or the number given to
//! [`FlowTable::with_max_connections`]) are tracked at once; when the table is full the
//! least recently active connections are evicted and handed back to the caller to be finished.
//! [`MAX_CLOSED_CONNECTIONS`] closed port pairs are remembered; the oldest are forgotten first.

use crate::hash::FastMap;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::Dir;
use super::late::Streams;
use crate::link::TcpSegment;
use crate::source::Timestamp;

/// Connections tracked at once; beyond this the least recently active are evicted.
pub const MAX_CONNECTIONS: usize = 50_000;
/// A connection that ended is handed back this long (capture time) after its last packet.
pub const FINISHED_LINGER_SECS: i64 = 60;
/// Port pairs of connections handed back after ending, remembered for port reuse and late
/// segments; beyond this the oldest are forgotten (a later segment on them opens a connection).
pub const MAX_CLOSED_CONNECTIONS: usize = 16_384;
/// A connection silent this long (capture time) is handed back.
pub const IDLE_TIMEOUT_SECS: i64 = 3600;

/// One TCP connection and the upper-layer state `A` attached to it.
#[derive(Debug)]
pub struct Connection<A> {
    /// Run-unique connection number, in order of first appearance.
    pub id: u64,
    /// The side that sent the SYN (or the guessed client when the handshake was not captured).
    pub initiator: SocketAddr,
    /// The other side.
    pub responder: SocketAddr,
    /// Reassembly of both directions.
    pub streams: Streams,
    /// Upper-layer state.
    pub app: A,
    /// True when the handshake was captured.
    pub saw_syn: bool,
    /// Initial sequence number of the initiator, when seen.
    isn: Option<u32>,
    /// FIN seen per direction.
    pub fin: [bool; 2],
    /// RST seen.
    pub rst: bool,
    last_seen: Timestamp,
    last_order: u64,
}

impl<A> Connection<A> {
    /// Direction of a segment sent by `src`.
    #[must_use]
    pub fn dir_of(&self, src: SocketAddr) -> Dir {
        if src == self.initiator {
            Dir::FromInitiator
        } else {
            Dir::FromResponder
        }
    }

    /// Sender of a direction.
    #[must_use]
    pub fn sender(&self, dir: Dir) -> SocketAddr {
        match dir {
            Dir::FromInitiator => self.initiator,
            Dir::FromResponder => self.responder,
        }
    }

    /// True once both sides finished or the connection was reset.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.rst || (self.fin[0] && self.fin[1])
    }
}

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Connections opened (including reused ports).
    pub connections: u64,
    /// Connections closed because a new SYN reused their ports.
    pub port_reuses: u64,
    /// Connections evicted because the table was full.
    pub evicted: u64,
    /// Connections handed back after [`IDLE_TIMEOUT_SECS`] of silence.
    pub idle: u64,
    /// Of those, the ones that spoke again (and started over).
    pub resumed_after_idle: u64,
    /// Port pairs of closed connections forgotten at [`MAX_CLOSED_CONNECTIONS`].
    pub closed_forgotten: u64,
}

/// A connection waiting to be handed back once it has lingered after its end, or been idle.
#[derive(Debug)]
struct Deadline {
    key: FlowKey,
    id: u64,
    /// Capture second from which it may go (its last packet plus the linger or the timeout).
    due: i64,
}

/// Why a port pair is remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Closed {
    id: u64,
    /// Handed back for silence, not after its end.
    idle: bool,
}

/// A connection's two ends in a fixed order, packed for cheap hashing and comparing: each end
/// is its address as IPv6 (IPv4 mapped) in four words, most significant first, then its port
/// with bit 16 set for IPv6. Words of 32 bits keep it at 40 bytes (a `u128` would be aligned
/// to 16 and pad each end to 32): it is stored in the table and in every deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey([[u32; 5]; 2]);

fn key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    let end = |s: SocketAddr| {
        let (ip, port) = match s.ip() {
            IpAddr::V4(ip) => (ip.to_ipv6_mapped(), u32::from(s.port())),
            IpAddr::V6(ip) => (ip, u32::from(s.port()) | 1 << 16),
        };
        let o = ip.octets();
        let word = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        [word(0), word(4), word(8), word(12), port]
    };
    let (a, b) = (end(a), end(b));
    FlowKey(if a <= b { [a, b] } else { [b, a] })
}

/// Guesses which endpoint is the server when the handshake was not captured: a well-known port
/// (below 1024, or the endpoint mapper's 135) wins, otherwise the lower port.
fn guess_initiator(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let (sp, dp) = (src.port(), dst.port());
    let dst_is_server = dp < 1024 || (sp >= 1024 && dp < sp);
    if dst_is_server || sp == dp {
        (src, dst)
    } else {
        (dst, src)
    }
}

/// Drops the deadlines of connections no longer in the table (evicted or reused before their
/// deadline) once the queue holds twice the table's limit, so churn cannot grow it: a
/// connection in the table has at most one deadline per queue.
fn compact<A>(
    queue: &mut VecDeque<Deadline>,
    map: &FastMap<FlowKey, Box<Connection<A>>>,
    max_connections: usize,
) {
    if queue.len() >= 2 * max_connections {
        queue.retain(|d| map.get(&d.key).is_some_and(|c| c.id == d.id));
    }
}

/// The connection table, generic over the upper-layer state.
#[derive(Debug)]
pub struct FlowTable<A> {
    /// Boxed: the table's slots stay small, so its growth by doubling costs little (inline,
    /// 100,000 connections took 164 MB of slots).
    map: FastMap<FlowKey, Box<Connection<A>>>,
    next_id: u64,
    order: u64,
    stats: FlowStats,
    /// Connections that ended, in the order they ended.
    ending: VecDeque<Deadline>,
    /// Every connection, in the order of its last check for silence.
    idle: VecDeque<Deadline>,
    /// Port pairs of connections handed back after ending or for silence, and their order.
    closed: FastMap<FlowKey, Closed>,
    closed_order: VecDeque<(FlowKey, u64)>,
    /// The capture second deadlines were last checked at.
    checked_secs: Option<i64>,
    /// Connections tracked at once ([`MAX_CONNECTIONS`] unless set).
    max_connections: usize,
}

impl<A> Default for FlowTable<A> {
    fn default() -> Self {
        Self {
            map: FastMap::default(),
            next_id: 0,
            order: 0,
            stats: FlowStats::default(),
            ending: VecDeque::new(),
            idle: VecDeque::new(),
            closed: FastMap::default(),
            closed_order: VecDeque::new(),
            checked_secs: None,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

impl<A> FlowTable<A> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table that tracks at most `max` connections at once (at least 10).
    #[must_use]
    pub fn with_max_connections(max: usize) -> Self {
        Self {
            max_connections: max.max(10),
            ..Self::default()
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Finds the connection of `seg`, creating it with `new_app` when needed; `None` for a
    /// late segment of a connection that ended and was handed back (counted). Connections that
    /// had to leave the table (port reuse or eviction) are pushed to `retired` for the caller to
    /// finish.
    pub fn lookup(
        &mut self,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        new_app: impl FnOnce(SocketAddr, SocketAddr) -> A,
        retired: &mut Vec<Connection<A>>,
    ) -> Option<&mut Connection<A>> {
        let k = key(seg.src, seg.dst);
        let is_client_syn = seg.flags.syn && !seg.flags.ack;
        // A SYN from the former responder, on a finished connection, or with a new initial
        // sequence number starts a new connection on the same ports.
        let known = self.map.get(&k).map(|existing| {
            let new_isn = existing.isn.is_some_and(|isn| isn != seg.seq);
            is_client_syn && (existing.is_finished() || existing.initiator != seg.src || new_isn)
        });
        match known {
            Some(true) => {
                if let Some(old) = self.map.remove(&k) {
                    self.stats.port_reuses += 1;
                    retired.push(*old);
                }
            }
            Some(false) => {}
            // ports of a connection handed back (never also in the table)
            None => {
                if let Some(&closed) = self.closed.get(&k) {
                    if is_client_syn {
                        self.stats.port_reuses += 1;
                    } else if closed.idle {
                        self.stats.resumed_after_idle += 1;
                    } else {
                        return None;
                    }
                    self.closed.remove(&k);
                }
            }
        }
        if known != Some(false) {
            if self.map.len() >= self.max_connections {
                self.evict(retired);
            }
            compact(&mut self.idle, &self.map, self.max_connections);
        }
        self.order += 1;
        let order = self.order;
        let stats = &mut self.stats;
        let next_id = &mut self.next_id;
        let idle = &mut self.idle;
        let conn = self.map.entry(k).or_insert_with(|| {
            stats.connections += 1;
            *next_id += 1;
            idle.push_back(Deadline {
                key: k,
                id: *next_id,
                due: ts.secs.saturating_add(IDLE_TIMEOUT_SECS),
            });
            let (initiator, responder) = if seg.flags.syn {
                if seg.flags.ack {
                    (seg.dst, seg.src)
                } else {
                    (seg.src, seg.dst)
                }
            } else {
                guess_initiator(seg.src, seg.dst)
            };
            Box::new(Connection {
                id: *next_id,
                initiator,
                responder,
                streams: Streams::new(),
                app: new_app(initiator, responder),
                saw_syn: false,
                isn: None,
                fin: [false; 2],
                rst: false,
                last_seen: ts,
                last_order: order,
            })
        });
        conn.last_seen = ts;
        conn.last_order = order;
        if seg.flags.syn {
            conn.saw_syn = true;
            let dir = conn.dir_of(seg.src);
            if dir == Dir::FromInitiator && !seg.flags.ack {
                conn.isn = Some(seg.seq);
            }
            conn.streams.syn(dir, seg.seq);
        }
        Some(conn)
    }

    /// The connection of `seg` has just ended (both FINs or a RST): it is handed back by
    /// [`FlowTable::retire_due`] once it has lingered.
    pub fn ended(&mut self, seg: &TcpSegment<'_>, id: u64, ts: Timestamp) {
        compact(&mut self.ending, &self.map, self.max_connections);
        self.ending.push_back(Deadline {
            key: key(seg.src, seg.dst),
            id,
            due: ts.secs.saturating_add(FINISHED_LINGER_SECS),
        });
    }

    /// Hands back the connections that ended and whose last packet is more than
    /// [`FINISHED_LINGER_SECS`] older than `now`, and those silent for [`IDLE_TIMEOUT_SECS`], and
    /// remembers their ports. O(1) when none is due: they wait in deadline order.
    pub fn retire_due(&mut self, now: Timestamp, retired: &mut Vec<Connection<A>>) {
        // deadlines are whole seconds: nothing new falls due within one
        if self.checked_secs == Some(now.secs) {
            return;
        }
        self.checked_secs = Some(now.secs);
        self.retire_from(false, now, retired);
        self.retire_from(true, now, retired);
    }

    fn retire_from(&mut self, idle: bool, now: Timestamp, retired: &mut Vec<Connection<A>>) {
        let wait = if idle {
            IDLE_TIMEOUT_SECS
        } else {
            FINISHED_LINGER_SECS
        };
        while self
            .deadlines(idle)
            .front()
            .is_some_and(|d| d.due <= now.secs)
        {
            let Some(d) = self.deadlines(idle).pop_front() else {
                break;
            };
            let Some(conn) = self.map.get(&d.key).filter(|c| c.id == d.id) else {
                continue; // gone meanwhile
            };
            let due = conn.last_seen.secs.saturating_add(wait);
            if due > now.secs {
                // it spoke since: wait again from its last packet
                self.deadlines(idle).push_back(Deadline { due, ..d });
                continue;
            }
            if let Some(conn) = self.map.remove(&d.key) {
                retired.push(*conn);
                if idle {
                    self.stats.idle += 1;
                }
                self.remember_closed(d.key, Closed { id: d.id, idle });
            }
        }
    }

    fn deadlines(&mut self, idle: bool) -> &mut VecDeque<Deadline> {
        if idle {
            &mut self.idle
        } else {
            &mut self.ending
        }
    }

    fn remember_closed(&mut self, k: FlowKey, closed: Closed) {
        if self.closed_order.len() >= MAX_CLOSED_CONNECTIONS
            && let Some((old, old_id)) = self.closed_order.pop_front()
            && self.closed.get(&old).is_some_and(|c| c.id == old_id)
        {
            self.closed.remove(&old);
            self.stats.closed_forgotten += 1;
        }
        self.closed.insert(k, closed);
        self.closed_order.push_back((k, closed.id));
    }

    /// Evicts the least recently active tenth of the table.
    fn evict(&mut self, retired: &mut Vec<Connection<A>>) {
        let mut orders: Vec<(u64, FlowKey)> =
            self.map.iter().map(|(k, c)| (c.last_order, *k)).collect();
        orders.sort_unstable();
        let n = (self.max_connections / 10).max(1);
        for (_, k) in orders.into_iter().take(n) {
            if let Some(c) = self.map.remove(&k) {
                self.stats.evicted += 1;
                retired.push(*c);
            }
        }
    }

    /// Removes every connection (end of capture), oldest first, one at a time: only their keys
    /// are held aside (a full table of connections moved into a list doubled its memory).
    pub fn drain(&mut self) -> impl Iterator<Item = Connection<A>> + '_ {
        let mut order: Vec<(u64, FlowKey)> = self.map.iter().map(|(k, c)| (c.id, *k)).collect();
        order.sort_unstable_by_key(|(id, _)| *id);
        order
            .into_iter()
            .filter_map(|(_, k)| self.map.remove(&k).map(|c| *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::TcpFlags;

    fn seg(src: &str, dst: &str, seq: u32, syn: bool, ack: bool) -> TcpSegment<'static> {
        TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack: 0,
            flags: TcpFlags {
                syn,
                ack,
                fin: false,
                rst: false,
            },
            payload: &[],
            missing_tail: 0,
        }
    }

    #[test]
    fn finished_connections_are_retired_after_lingering() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let at = |secs| Timestamp { secs, nanos: 0 };
        let open = seg("10.0.0.1:5000", "10.0.0.2:135", 1, true, false);
        t.lookup(&open, at(100), |_, _| (), &mut retired).unwrap();
        let reset = seg("10.0.0.1:5001", "10.0.0.2:135", 1, true, false);
        let c = t.lookup(&reset, at(100), |_, _| (), &mut retired).unwrap();
        c.rst = true;
        let id = c.id;
        t.ended(&reset, id, at(100));
        t.retire_due(at(150), &mut retired);
        assert!(retired.is_empty(), "still lingering");
        t.retire_due(at(161), &mut retired);
        assert_eq!(retired.len(), 1, "only the finished one");
        assert_eq!(retired[0].initiator.port(), 5001);
        assert_eq!(t.stats().evicted, 0);
        // its ports are remembered: a late segment is dropped, a new SYN reuses them
        let late = seg("10.0.0.2:135", "10.0.0.1:5001", 9, false, true);
        assert!(t.lookup(&late, at(170), |_, _| (), &mut retired).is_none());
        let again = seg("10.0.0.1:5001", "10.0.0.2:135", 500, true, false);
        let c = t.lookup(&again, at(180), |_, _| (), &mut retired).unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(t.stats().port_reuses, 1);
        assert_eq!(t.stats().connections, 3);
    }

    #[test]
    fn a_connection_busy_after_its_end_lingers_from_its_last_packet() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let at = |secs| Timestamp { secs, nanos: 0 };
        let s = seg("10.0.0.1:5000", "10.0.0.2:135", 1, true, false);
        let c = t.lookup(&s, at(100), |_, _| (), &mut retired).unwrap();
        c.fin = [true, true];
        let id = c.id;
        t.ended(&s, id, at(100));
        let ack = seg("10.0.0.2:135", "10.0.0.1:5000", 9, false, true);
        t.lookup(&ack, at(150), |_, _| (), &mut retired).unwrap();
        t.retire_due(at(161), &mut retired);
        assert!(retired.is_empty(), "a packet at 150 restarts the linger");
        t.retire_due(at(211), &mut retired);
        assert_eq!(retired.len(), 1);
    }

    #[test]
    fn a_silent_connection_is_handed_back_and_starts_over_if_it_speaks() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let at = |secs| Timestamp { secs, nanos: 0 };
        let quiet = seg("10.0.0.1:5000", "10.0.0.2:135", 1, false, true);
        let busy = seg("10.0.0.1:5001", "10.0.0.2:135", 1, false, true);
        t.lookup(&quiet, at(0), |_, _| (), &mut retired).unwrap();
        for secs in (0..=IDLE_TIMEOUT_SECS + 10).step_by(600) {
            t.lookup(&busy, at(secs), |_, _| (), &mut retired).unwrap();
            t.retire_due(at(secs), &mut retired);
        }
        t.retire_due(at(IDLE_TIMEOUT_SECS + 10), &mut retired);
        assert_eq!(retired.len(), 1, "only the silent one");
        assert_eq!(retired[0].initiator.port(), 5000);
        assert_eq!(t.stats().idle, 1);
        // it speaks again: a new connection, not a late segment
        let c = t
            .lookup(&quiet, at(IDLE_TIMEOUT_SECS + 20), |_, _| (), &mut retired)
            .unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(t.stats().resumed_after_idle, 1);
        assert_eq!(t.stats().port_reuses, 0);
    }

    #[test]
    fn closed_port_pairs_are_forgotten_oldest_first_past_the_limit() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let at = |secs| Timestamp { secs, nanos: 0 };
        let n = MAX_CLOSED_CONNECTIONS + 2;
        let segs: Vec<TcpSegment<'static>> = (0..n)
            .map(|i| {
                let client = format!("10.{}.{}.1:5000", i / 256, i % 256);
                seg(&client, "10.0.0.2:135", 1, true, false)
            })
            .collect();
        for s in &segs {
            let c = t.lookup(s, at(0), |_, _| (), &mut retired).unwrap();
            c.rst = true;
            let id = c.id;
            t.ended(s, id, at(0));
        }
        t.retire_due(at(FINISHED_LINGER_SECS + 1), &mut retired);
        assert_eq!(retired.len(), n);
        assert_eq!(t.stats().closed_forgotten, 2);
        // the first pair is forgotten: its late segment opens a connection; the last is not
        let late = |s: &TcpSegment<'static>| TcpSegment {
            flags: TcpFlags {
                syn: false,
                ack: true,
                fin: false,
                rst: false,
            },
            ..*s
        };
        let now = at(FINISHED_LINGER_SECS + 2);
        assert!(
            t.lookup(&late(&segs[0]), now, |_, _| (), &mut retired)
                .is_some()
        );
        assert!(
            t.lookup(&late(&segs[n - 1]), now, |_, _| (), &mut retired)
                .is_none()
        );
    }

    #[test]
    fn deadlines_of_evicted_connections_do_not_pile_up() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        for i in 0..3 * MAX_CONNECTIONS {
            let client = format!("10.{}.{}.{}:5000", i >> 16, (i >> 8) & 255, i & 255);
            let s = seg(&client, "10.0.0.2:135", 1, true, false);
            t.lookup(&s, Timestamp::default(), |_, _| (), &mut retired)
                .unwrap();
            retired.clear();
        }
        assert!(t.stats().evicted > 0);
        assert!(t.idle.len() <= 2 * MAX_CONNECTIONS, "{}", t.idle.len());
    }

    #[test]
    fn new_syn_on_finished_connection_starts_a_new_one() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let ts = Timestamp::default();
        let c = t
            .lookup(
                &seg("10.0.0.1:4000", "10.0.0.2:135", 1, true, false),
                ts,
                |_, _| (),
                &mut retired,
            )
            .unwrap();
        assert_eq!((c.id, c.initiator.port()), (1, 4000));
        c.fin = [true, true];
        // a retransmitted SYN of the same connection is not a new connection
        let c = t
            .lookup(
                &seg("10.0.0.2:135", "10.0.0.1:4000", 9, true, true),
                ts,
                |_, _| (),
                &mut retired,
            )
            .unwrap();
        assert_eq!(c.id, 1);
        let c = t
            .lookup(
                &seg("10.0.0.1:4000", "10.0.0.2:135", 777, true, false),
                ts,
                |_, _| (),
                &mut retired,
            )
            .unwrap();
        assert_eq!(c.id, 2);
        assert_eq!(retired.len(), 1);
        assert_eq!(t.stats().port_reuses, 1);
    }

    #[test]
    fn guesses_the_server_when_the_handshake_was_missed() {
        let mut t: FlowTable<()> = FlowTable::new();
        let mut retired = Vec::new();
        let ts = Timestamp::default();
        let c = t
            .lookup(
                &seg("10.0.0.2:135", "10.0.0.1:4000", 5, false, true),
                ts,
                |_, _| (),
                &mut retired,
            )
            .unwrap();
        assert_eq!(c.initiator.to_string(), "10.0.0.1:4000");
        assert_eq!(
            c.dir_of("10.0.0.2:135".parse().unwrap()),
            Dir::FromResponder
        );
    }
}
