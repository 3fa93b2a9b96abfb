//! The analysis engine: frames in, call records and tallies out. It has no I/O, so the same
//! engine serves files, stdin and tests, and its output is deterministic for a given capture.
//!
//! Per frame: link decode ([`crate::link`]) → IPv4 defragmentation ([`crate::ip_defrag`]) →
//! connection lookup and reassembly ([`crate::tcp`]) → DCE/RPC detection → framing and
//! association state ([`crate::dcerpc`]). A connection is DCE/RPC when it uses the endpoint
//! mapper's port 135, or when a TCP segment in either direction starts with a PDU that passes the
//! strict header test and parses (at most [`MAX_PROBE_SEGMENTS`] segments per direction are
//! examined before a connection is ignored).

use std::net::{IpAddr, SocketAddr};

use crate::dcerpc::association::{Association, TransportInfo};
use crate::dcerpc::framing::Framer;
use crate::dcerpc::pdu::{HEADER_LEN, parse_header, parse_pdu};
use crate::event::CallRecord;
use crate::ip_defrag::Defragmenter;
use crate::link::{self, Decoded, LinkError, TcpSegment};
use crate::report::Tally;
use crate::source::Frame;
use crate::summary::{CaptureTotals, Summary};
use crate::tcp::flow_table::{Connection, FlowTable};
use crate::tcp::reassembler::ReassemblyStats;
use crate::tcp::{Dir, Origin, StreamSink};

/// Data-carrying segments examined per direction before a connection is judged not DCE/RPC.
pub const MAX_PROBE_SEGMENTS: u32 = 16;
/// The endpoint mapper's well-known port: connections to it are DCE/RPC without probing.
pub const EPM_PORT: u16 = 135;

/// What rpcscope knows about a connection's payload.
#[derive(Debug)]
pub enum ConnState {
    /// Not yet recognised; data-carrying segments examined per direction.
    Probing([u32; 2]),
    /// DCE/RPC over TCP.
    DceRpc(Box<DceConn>),
    /// Not DCE/RPC.
    Ignored,
}

/// DCE/RPC state of a connection: one framer per direction and the association.
#[derive(Debug)]
pub struct DceConn {
    framers: [Framer; 2],
    assoc: Association,
}

impl DceConn {
    fn new(senders: [SocketAddr; 2]) -> Self {
        Self {
            framers: [Framer::new(), Framer::new()],
            assoc: Association::new(TransportInfo {
                transport: "ncacn_ip_tcp",
                pipe: None,
                senders,
            }),
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Analysis {
    /// Every call, in the documented order (first request frame, then last frame, then call id).
    pub calls: Vec<CallRecord>,
    /// Counters, per-interface statistics and anomalies.
    pub summary: Summary,
}

/// The engine. Feed frames with [`Engine::process`], then call [`Engine::finish`].
#[derive(Debug, Default)]
pub struct Engine {
    flows: FlowTable<ConnState>,
    defrag: Defragmenter,
    tally: Tally,
    calls: Vec<CallRecord>,
    totals: CaptureTotals,
    reassembly: ReassemblyStats,
    retired: Vec<Connection<ConnState>>,
}

struct DirSink<'a> {
    app: &'a mut ConnState,
    dir: Dir,
    senders: [SocketAddr; 2],
    tally: &'a mut Tally,
    calls: &'a mut Vec<CallRecord>,
}

impl StreamSink for DirSink<'_> {
    fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin) {
        if let ConnState::Probing(seen) = self.app {
            if starts_with_pdu(bytes) {
                self.tally.count("connections_found_by_heuristic");
                *self.app = ConnState::DceRpc(Box::new(DceConn::new(self.senders)));
            } else {
                seen[self.dir.index()] += 1;
                if seen.iter().all(|&n| n >= MAX_PROBE_SEGMENTS)
                    || seen[self.dir.index()] >= MAX_PROBE_SEGMENTS * 4
                {
                    *self.app = ConnState::Ignored;
                }
                return;
            }
        }
        if let ConnState::DceRpc(d) = self.app {
            let DceConn { framers, assoc } = &mut **d;
            let (dir, tally, calls) = (self.dir, &mut *self.tally, &mut *self.calls);
            framers[dir.index()].data(offset, bytes, origin, &mut |ev| {
                assoc.on_event(dir, ev, tally, calls);
            });
        }
    }

    fn gap(&mut self, offset: u64, len: u64) {
        if let ConnState::DceRpc(d) = self.app {
            let DceConn { framers, assoc } = &mut **d;
            let (dir, tally, calls) = (self.dir, &mut *self.tally, &mut *self.calls);
            framers[dir.index()].gap(offset, len, &mut |ev| {
                assoc.on_event(dir, ev, tally, calls);
            });
        }
    }
}

/// The heuristic: a segment that starts with a plausible header whose PDU (when wholly inside
/// the segment) parses, and is followed by another plausible header or by nothing.
fn starts_with_pdu(bytes: &[u8]) -> bool {
    let Ok(h) = parse_header(bytes) else {
        return false;
    };
    if !h.is_plausible() || !h.flags_plausible() {
        return false;
    }
    let len = usize::from(h.frag_len);
    match bytes.get(..len) {
        Some(pdu) => {
            if parse_pdu(pdu).is_err() {
                return false;
            }
            match bytes.get(len..) {
                Some(rest) if rest.len() >= HEADER_LEN => {
                    parse_header(rest).is_ok_and(|n| n.is_plausible())
                }
                _ => true,
            }
        }
        None => true,
    }
}

impl Engine {
    /// A new engine.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Analyses one frame. Never fails: undecodable frames are counted.
    pub fn process(&mut self, frame: &Frame<'_>) {
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
                self.tcp(&seg, origin);
            }
            Ok(Decoded::Ipv4Fragment(f)) => {
                self.totals.ip_fragments += 1;
                if let Some(dg) = self.defrag.add(&f, frame.ts)
                    && dg.protocol == 6
                {
                    match link::parse_tcp(IpAddr::from(dg.src), IpAddr::from(dg.dst), &dg.payload) {
                        Ok(seg) => {
                            self.totals.tcp_segments += 1;
                            self.tcp(&seg, origin);
                        }
                        Err(e) => self.link_error(e, frame.number),
                    }
                }
            }
            Ok(Decoded::Other) => self.totals.not_tcp += 1,
            Err(e) => self.link_error(e, frame.number),
        }
    }

    fn link_error(&mut self, e: LinkError, frame: u64) {
        self.totals.undecodable += 1;
        let kind = match e {
            LinkError::UnsupportedLinkType(_) => "unsupported_link_type",
            LinkError::Malformed(_) => "undecodable_frame",
        };
        self.tally.anomaly(kind, frame, || e.to_string());
    }

    fn tcp(&mut self, seg: &TcpSegment<'_>, origin: Origin) {
        let new_state = |initiator, responder| {
            if seg.src.port() == EPM_PORT || seg.dst.port() == EPM_PORT {
                ConnState::DceRpc(Box::new(DceConn::new([initiator, responder])))
            } else {
                ConnState::Probing([0, 0])
            }
        };
        let conn = self
            .flows
            .lookup(seg, origin.ts, new_state, &mut self.retired);
        let dir = conn.dir_of(seg.src);
        let senders = [conn.initiator, conn.responder];
        let Connection { streams, app, .. } = conn;
        if seg.flags.ack {
            let rev = dir.reverse();
            let mut sink = DirSink {
                app,
                dir: rev,
                senders,
                tally: &mut self.tally,
                calls: &mut self.calls,
            };
            streams[rev.index()].peer_ack(seg.ack, &mut sink);
        }
        let mut sink = DirSink {
            app,
            dir,
            senders,
            tally: &mut self.tally,
            calls: &mut self.calls,
        };
        let payload = if seg.flags.syn { &[][..] } else { seg.payload };
        streams[dir.index()].segment(seg.seq, payload, seg.missing_tail, origin, &mut sink);
        if seg.flags.fin {
            conn.fin[dir.index()] = true;
        }
        if seg.flags.rst {
            conn.rst = true;
        }
        if conn.is_finished() {
            for d in [Dir::FromInitiator, Dir::FromResponder] {
                let mut sink = DirSink {
                    app: &mut conn.app,
                    dir: d,
                    senders,
                    tally: &mut self.tally,
                    calls: &mut self.calls,
                };
                conn.streams[d.index()].flush(&mut sink);
            }
        }
        let retired: Vec<_> = self.retired.drain(..).collect();
        for c in retired {
            self.retire(c);
        }
    }

    fn retire(&mut self, mut conn: Connection<ConnState>) {
        let senders = [conn.initiator, conn.responder];
        for d in [Dir::FromInitiator, Dir::FromResponder] {
            let mut sink = DirSink {
                app: &mut conn.app,
                dir: d,
                senders,
                tally: &mut self.tally,
                calls: &mut self.calls,
            };
            conn.streams[d.index()].flush(&mut sink);
            let s = conn.streams[d.index()].stats();
            let r = &mut self.reassembly;
            r.bytes += s.bytes;
            r.out_of_order_segments += s.out_of_order_segments;
            r.duplicate_bytes += s.duplicate_bytes;
            r.gaps += s.gaps;
            r.gap_bytes += s.gap_bytes;
            r.forced_gaps += s.forced_gaps;
        }
        if let ConnState::DceRpc(d) = &mut conn.app {
            self.totals.dcerpc_connections += 1;
            if !conn.saw_syn {
                self.tally.count("dcerpc_connections_already_open");
            }
            let [a, b] = [conn.streams[0].stats(), conn.streams[1].stats()];
            if a.gaps + b.gaps > 0 {
                self.tally.anomaly("tcp_gap", 0, || {
                    format!(
                        "{} <-> {}: {} gap(s), {} bytes never captured",
                        conn.initiator,
                        conn.responder,
                        a.gaps + b.gaps,
                        a.gap_bytes + b.gap_bytes
                    )
                });
            }
            d.assoc.finish_all(&mut self.calls);
        }
    }

    /// Ends the run: flushes every connection and returns the calls (sorted) and the summary.
    #[must_use]
    pub fn finish(mut self) -> Analysis {
        for conn in self.flows.drain() {
            self.retire(conn);
        }
        self.calls.sort_by_key(CallRecord::sort_key);
        let flows = self.flows.stats();
        let summary = Summary::build(
            &self.totals,
            flows,
            self.reassembly,
            self.defrag.stats(),
            self.tally,
            &self.calls,
        );
        Analysis {
            calls: self.calls,
            summary,
        }
    }
}
