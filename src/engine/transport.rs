//! Transport stage of the engine: frames in, connection events out. Link decode
//! ([`crate::link`]) → IP defragmentation ([`crate::ip_defrag`]) → connection lookup and
//! reassembly ([`crate::tcp`]); what comes out goes to a [`SessionEvents`] receiver, in capture
//! order: a connection opened, in-order bytes or a gap in one direction, a connection closed, a
//! Kerberos datagram, the end of a frame. The stage knows nothing of what the connections carry,
//! so it can run on its own thread ([`crate::pipeline`]) or call the session stage directly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dcerpc::connectionless;
use crate::ip_defrag::{DefragStats, Defragmenter};
use crate::kdc::KDC_PORT;
use crate::link::{self, Decoded, LinkError, TcpSegment, UdpDatagram};
use crate::report::Tally;
use crate::source::{Frame, Timestamp};
use crate::summary::CaptureTotals;
use crate::tcp::flow_table::{Connection, FlowStats, FlowTable};
use crate::tcp::late::{Budget, ConnectionSink, Segment};
use crate::tcp::reassembler::ReassemblyStats;
use crate::tcp::{Dir, Origin};

/// Whether the session stage still wants a connection's bytes. It says no once the connection
/// turned out not to carry anything it reads; the transport stage then stops handing them over
/// (it still reassembles, so its counters do not depend on the session stage's speed).
#[derive(Clone, Debug, Default)]
pub struct Interest(Arc<AtomicBool>);

impl Interest {
    /// The session stage will ignore the connection's bytes from now on.
    pub fn lose(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn wanted(&self) -> bool {
        !self.0.load(Ordering::Relaxed)
    }
}

/// A connection appeared (its first segment, or a SYN that reused the ports of another).
#[derive(Clone, Debug)]
pub struct Opened {
    /// Run-unique connection number.
    pub id: u64,
    /// The side that sent the SYN, or the guessed client.
    pub initiator: SocketAddr,
    /// The other side.
    pub responder: SocketAddr,
    /// Capture time of the segment that opened it.
    pub ts: Timestamp,
    /// Set by the session stage when it no longer wants the connection's bytes.
    pub interest: Interest,
}

/// A connection left the table (ended and lingered, idle, evicted, reused, or end of capture);
/// its streams were flushed before.
#[derive(Clone, Copy, Debug)]
pub struct Closed {
    /// Run-unique connection number.
    pub id: u64,
    /// The side that sent the SYN, or the guessed client.
    pub initiator: SocketAddr,
    /// The other side.
    pub responder: SocketAddr,
    /// The handshake was captured.
    pub saw_syn: bool,
    /// Holes in both directions together.
    pub gaps: u64,
    /// Bytes in those holes.
    pub gap_bytes: u64,
}

/// The receiver of the transport stage's events, in capture order.
pub trait SessionEvents {
    /// A connection appeared.
    fn opened(&mut self, c: &Opened);
    /// In-order bytes of connection `conn` in direction `dir`, from stream offset `offset`.
    fn data(&mut self, conn: u64, dir: Dir, offset: u64, bytes: &[u8], origin: Origin);
    /// `len` bytes from `offset` of connection `conn` in direction `dir` were never captured.
    fn gap(&mut self, conn: u64, dir: Dir, offset: u64, len: u64);
    /// A connection left the table.
    fn closed(&mut self, c: &Closed);
    /// A UDP datagram to or from the Kerberos port (only when keys were given).
    fn kdc_datagram(&mut self, payload: &[u8]);
    /// A UDP datagram from `src` to `dst` whose payload starts like a connectionless DCE/RPC
    /// PDU ([`crate::dcerpc::connectionless::parse_header`]): its first byte came in
    /// `first` (its first IP fragment), the frame `last` completed it.
    fn rpc_datagram(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        first: Origin,
        last: Origin,
    );
    /// Everything frame `frame` carried has been handed over.
    fn frame_done(&mut self, frame: u64);
}

/// What the transport stage counted over the run.
#[derive(Debug, Default)]
pub struct TransportEnd {
    /// Frame and segment totals (the connection totals are the session stage's).
    pub totals: CaptureTotals,
    /// Connection table counters.
    pub flows: FlowStats,
    /// Reassembly counters over every connection that left the table.
    pub reassembly: ReassemblyStats,
    /// IP reassembly counters, per version.
    pub defrag: DefragStats,
    /// Undecodable frames and late segments.
    pub tally: Tally,
}

/// The transport stage. Feed frames with [`Transport::process`], then call
/// [`Transport::finish`].
#[derive(Debug, Default)]
pub struct Transport {
    flows: FlowTable<Interest>,
    defrag: Defragmenter,
    totals: CaptureTotals,
    reassembly: ReassemblyStats,
    /// Segments waiting for late segments, all connections together.
    late: Budget,
    tally: Tally,
    retired: Vec<Connection<Interest>>,
    /// Kerberos datagrams are handed over (keys were given).
    pub(super) kdc_datagrams: bool,
}

/// Stream events of one connection, handed to the session stage while it wants them.
struct Feed<'a, S: SessionEvents> {
    conn: u64,
    interest: &'a Interest,
    up: &'a mut S,
}

impl<S: SessionEvents> ConnectionSink for Feed<'_, S> {
    fn data(&mut self, dir: Dir, offset: u64, bytes: &[u8], origin: Origin) {
        if self.interest.wanted() {
            self.up.data(self.conn, dir, offset, bytes, origin);
        }
    }

    fn gap(&mut self, dir: Dir, offset: u64, len: u64) {
        if self.interest.wanted() {
            self.up.gap(self.conn, dir, offset, len);
        }
    }
}

/// The connection ended: segments still waiting are replayed and every hole left in either
/// direction is a gap.
fn flush_streams(conn: &mut Connection<Interest>, late: &mut Budget, up: &mut impl SessionEvents) {
    let mut feed = Feed {
        conn: conn.id,
        interest: &conn.app,
        up,
    };
    conn.streams.flush(&mut feed, late);
}

impl Transport {
    /// Tracks at most `max` connections at once ([`FlowTable::with_max_connections`]); set
    /// before the first frame.
    pub(super) fn limit_connections(&mut self, max: usize) {
        self.flows = FlowTable::with_max_connections(max);
    }

    /// Reads one frame. Never fails: undecodable frames are counted.
    pub fn process(&mut self, frame: &Frame<'_>, up: &mut impl SessionEvents) {
        let t = &mut self.totals;
        t.frames += 1;
        t.bytes += frame.data.len() as u64;
        if t.first_ts.is_none() {
            t.first_ts = Some(frame.ts);
        }
        t.last_ts = Some(frame.ts);
        if frame.is_truncated() {
            t.cut_by_snaplen += 1;
        }
        let origin = Origin {
            frame: frame.number,
            ts: frame.ts,
        };
        match link::decode(frame.link_type, frame.data) {
            Ok(Decoded::Tcp(seg)) => {
                self.totals.tcp_segments += 1;
                self.tcp(&seg, origin, up);
            }
            Ok(Decoded::Udp(d)) => self.udp(&d, origin, origin, up),
            Ok(Decoded::IpFragment(f)) => {
                if let Some(dg) = self.defrag.add(&f, frame.number, frame.ts) {
                    let first = Origin {
                        frame: dg.first_frame,
                        ts: dg.first_ts,
                    };
                    let (src, dst) = (dg.src, dg.dst);
                    match link::upper_layer(src, dg.protocol, &dg.payload) {
                        (6, payload) => match link::parse_tcp(src, dst, payload) {
                            Ok(seg) => {
                                self.totals.tcp_segments += 1;
                                self.tcp(&seg, origin, up);
                            }
                            Err(e) => self.link_error(e, frame.number),
                        },
                        (17, payload) => match link::parse_udp(src, dst, payload) {
                            Some(d) => self.udp(&d, first, origin, up),
                            None => self.totals.not_tcp += 1,
                        },
                        _ => {}
                    }
                }
            }
            Ok(Decoded::Other) => self.totals.not_tcp += 1,
            Err(LinkError::UnsupportedLinkType(l)) if l.is_netmon_metadata() => {
                self.tally.count("netmon_metadata_frames");
            }
            Err(e) => self.link_error(e, frame.number),
        }
        self.flows.retire_due(frame.ts, &mut self.retired);
        self.retire_handed_back(up);
        // Data of earlier frames waiting for a late segment, and datagrams whose first
        // fragments came in earlier frames, may still complete calls.
        let waiting = [self.late.floor(), self.defrag.oldest_frame(frame.ts)];
        up.frame_done(waiting.into_iter().flatten().fold(frame.number, u64::min));
    }

    fn link_error(&mut self, e: LinkError, frame: u64) {
        self.totals.undecodable += 1;
        let kind = match e {
            LinkError::UnsupportedLinkType(_) => "unsupported_link_type",
            LinkError::Malformed(_) => "undecodable_frame",
        };
        self.tally.anomaly(kind, frame, || e.to_string());
    }

    /// A UDP datagram: one that starts like a connectionless DCE/RPC PDU is handed over; with
    /// keys, so is a Kerberos message to or from port 88 for the keys it carries.
    fn udp(
        &mut self,
        d: &UdpDatagram<'_>,
        first: Origin,
        last: Origin,
        up: &mut impl SessionEvents,
    ) {
        self.totals.not_tcp += 1;
        if self.kdc_datagrams && (d.src.port() == KDC_PORT || d.dst.port() == KDC_PORT) {
            up.kdc_datagram(d.payload);
        } else if connectionless::parse_header(d.payload).is_some() {
            up.rpc_datagram(d.src, d.dst, d.payload, first, last);
        }
    }

    fn tcp(&mut self, seg: &TcpSegment<'_>, origin: Origin, up: &mut impl SessionEvents) {
        let mut is_new = false;
        let new_interest = |_, _| {
            is_new = true;
            Interest::default()
        };
        let Some(conn) = self
            .flows
            .lookup(seg, origin.ts, new_interest, &mut self.retired)
        else {
            self.tally.count("tcp_segments_after_close");
            return;
        };
        if is_new {
            up.opened(&Opened {
                id: conn.id,
                initiator: conn.initiator,
                responder: conn.responder,
                ts: origin.ts,
                interest: conn.app.clone(),
            });
        }
        let was_finished = conn.is_finished();
        let dir = conn.dir_of(seg.src);
        let mut feed = Feed {
            conn: conn.id,
            interest: &conn.app,
            up,
        };
        let segment = Segment {
            dir,
            seq: seg.seq,
            ack: seg.flags.ack.then_some(seg.ack),
            payload: if seg.flags.syn { &[][..] } else { seg.payload },
            missing_tail: seg.missing_tail,
            fin: seg.flags.fin,
            origin,
        };
        conn.streams.segment(&segment, &mut feed, &mut self.late);
        if seg.flags.fin {
            conn.fin[dir.index()] = true;
        }
        if seg.flags.rst {
            conn.rst = true;
        }
        if conn.is_finished() {
            flush_streams(conn, &mut self.late, up);
            if !was_finished {
                let id = conn.id;
                self.flows.ended(seg, id, origin.ts);
            }
        }
        self.retire_handed_back(up);
    }

    /// Closes the connections the flow table handed back (evicted, reused, or ended).
    fn retire_handed_back(&mut self, up: &mut impl SessionEvents) {
        for c in std::mem::take(&mut self.retired) {
            self.retire(c, up);
        }
    }

    fn retire(&mut self, mut conn: Connection<Interest>, up: &mut impl SessionEvents) {
        flush_streams(&mut conn, &mut self.late, up);
        let [a, b] = [Dir::FromInitiator, Dir::FromResponder].map(|d| conn.streams.stats(d));
        self.reassembly.add(&a);
        self.reassembly.add(&b);
        up.closed(&Closed {
            id: conn.id,
            initiator: conn.initiator,
            responder: conn.responder,
            saw_syn: conn.saw_syn,
            gaps: a.gaps + b.gaps,
            gap_bytes: a.gap_bytes + b.gap_bytes,
        });
    }

    /// Ends the run: closes every connection still in the table, and returns the counters.
    pub fn finish(mut self, up: &mut impl SessionEvents) -> TransportEnd {
        let mut flows = std::mem::take(&mut self.flows);
        for conn in flows.drain() {
            self.retire(conn, up);
        }
        self.flows = flows;
        let late = self.late.stats();
        self.tally
            .add("tcp_late_segments_waited", late.segments_waited);
        self.tally
            .add("tcp_late_segments_released", late.segments_released);
        self.tally
            .add("tcp_late_segments_given_up", late.segments_given_up);
        self.tally
            .add("limit_tcp_late_bytes", late.segments_given_up_to_limit);
        self.tally
            .add("limit_tcp_pending_bytes", late.holes_given_up_to_limit);
        TransportEnd {
            totals: self.totals,
            flows: self.flows.stats(),
            reassembly: self.reassembly,
            defrag: self.defrag.stats(),
            tally: self.tally,
        }
    }
}
