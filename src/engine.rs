//! The analysis engine: frames in, call records and tallies out. It has no I/O, so the same
//! engine serves files, stdin and tests, and its output is deterministic for a given capture.
//!
//! Per frame: link decode ([`crate::link`]) → IPv4 defragmentation ([`crate::ip_defrag`]) →
//! connection lookup and reassembly ([`crate::tcp`]) → DCE/RPC detection → framing and
//! association state ([`crate::dcerpc`]). A connection is DCE/RPC when it uses the endpoint
//! mapper's port 135, or when, in either direction, a TCP segment starts with a header that
//! passes the strict test and the PDU it frames parses (at most [`MAX_PROBE_SEGMENTS`]
//! segments per direction are examined before a connection is ignored).

use std::net::{IpAddr, SocketAddr};

use crate::call_queue::CallQueue;
use crate::dcerpc::association::{Association, TransportInfo};
use crate::dcerpc::framing::{FrameEvent, Framer};
use crate::dcerpc::pdu::parse_pdu;
use crate::event::CallRecord;
use crate::ip_defrag::Defragmenter;
use crate::link::{self, Decoded, LinkError, TcpSegment};
use crate::report::Tally;
use crate::source::Frame;
use crate::summary::{CaptureTotals, Summary, SummaryBuilder};
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
    /// DCE/RPC, or possibly DCE/RPC while no PDU has parsed yet.
    Dce(Box<DceConn>),
    /// Not DCE/RPC: the connection is no longer examined.
    Ignored,
}

/// DCE/RPC state of a connection: one framer per direction and the association.
#[derive(Debug)]
pub struct DceConn {
    framers: [Framer; 2],
    assoc: Association,
    /// A PDU has parsed (or the port is the endpoint mapper's).
    confirmed: bool,
    /// Segments skipped per direction while looking for a first PDU.
    probes: [u32; 2],
}

impl DceConn {
    fn new(senders: [SocketAddr; 2], confirmed: bool) -> Self {
        Self {
            framers: [Framer::new(), Framer::new()],
            assoc: Association::new(TransportInfo {
                transport: "ncacn_ip_tcp",
                pipe: None,
                senders,
            }),
            confirmed,
            probes: [0, 0],
        }
    }
}

/// What is left at the end of a run.
#[derive(Debug)]
pub struct Finished {
    /// The calls not taken yet with [`Engine::take_calls`], in order.
    pub calls: Vec<CallRecord>,
    /// Counters, per-interface statistics and anomalies over the whole run.
    pub summary: Summary,
}

/// The engine. Feed frames with [`Engine::process`], then call [`Engine::finish`].
#[derive(Debug, Default)]
pub struct Engine {
    flows: FlowTable<ConnState>,
    defrag: Defragmenter,
    tally: Tally,
    queue: CallQueue,
    summary: SummaryBuilder,
    totals: CaptureTotals,
    reassembly: ReassemblyStats,
    retired: Vec<Connection<ConnState>>,
}

struct DirSink<'a> {
    app: &'a mut ConnState,
    dir: Dir,
    tally: &'a mut Tally,
    calls: &'a mut CallQueue,
}

/// What probing concluded from one framing event of an unconfirmed connection.
enum Probe {
    Pass,
    Confirmed,
    Rejected,
}

/// Probing of a connection not known to be DCE/RPC: the first PDU framed must parse; after
/// [`MAX_PROBE_SEGMENTS`] segments without a header in one direction the connection is dropped.
fn probe(ev: &FrameEvent<'_>, skipped: &mut u32) -> Probe {
    match ev {
        FrameEvent::Pdu(p) if parse_pdu(p.bytes).is_ok() => Probe::Confirmed,
        FrameEvent::Pdu(_) | FrameEvent::Truncated { .. } => Probe::Rejected,
        FrameEvent::Skipped { .. } => {
            *skipped += 1;
            if *skipped >= MAX_PROBE_SEGMENTS {
                Probe::Rejected
            } else {
                Probe::Pass
            }
        }
        FrameEvent::Lost => Probe::Pass,
    }
}

impl DirSink<'_> {
    fn feed(&mut self, chunk: Option<(u64, &[u8], Origin)>, gap: Option<(u64, u64)>) {
        let ConnState::Dce(d) = self.app else {
            return;
        };
        let DceConn {
            framers,
            assoc,
            confirmed,
            probes,
        } = &mut **d;
        let (dir, tally, calls) = (self.dir, &mut *self.tally, &mut *self.calls);
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
                        tally.count("connections_found_by_heuristic");
                    }
                }
            }
            assoc.on_event(dir, ev, tally, calls);
        };
        let framer = &mut framers[dir.index()];
        if let Some((offset, bytes, origin)) = chunk {
            framer.data(offset, bytes, origin, &mut handle);
        }
        if let Some((offset, len)) = gap {
            framer.gap(offset, len, &mut handle);
        }
        if reject {
            *self.app = ConnState::Ignored;
        }
    }
}

/// The connection ended: every hole left in either direction is a gap.
fn flush_streams(conn: &mut Connection<ConnState>, tally: &mut Tally, queue: &mut CallQueue) {
    for d in [Dir::FromInitiator, Dir::FromResponder] {
        let mut sink = DirSink {
            app: &mut conn.app,
            dir: d,
            tally,
            calls: queue,
        };
        conn.streams[d.index()].flush(&mut sink);
    }
}

impl StreamSink for DirSink<'_> {
    fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin) {
        self.feed(Some((offset, bytes, origin)), None);
    }

    fn gap(&mut self, offset: u64, len: u64) {
        self.feed(None, Some((offset, len)));
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
        self.queue.release(frame.number, &mut self.tally);
    }

    /// Takes the calls that can no longer be overtaken by another call, in output order
    /// (first request frame, then last frame, then call id). Call after each frame to stream.
    pub fn take_calls(&mut self) -> Vec<CallRecord> {
        let calls: Vec<CallRecord> = self.queue.take_ready().collect();
        for c in &calls {
            self.summary.add(c);
        }
        calls
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
            let epm = seg.src.port() == EPM_PORT || seg.dst.port() == EPM_PORT;
            ConnState::Dce(Box::new(DceConn::new([initiator, responder], epm)))
        };
        let conn = self
            .flows
            .lookup(seg, origin.ts, new_state, &mut self.retired);
        let dir = conn.dir_of(seg.src);
        let Connection { streams, app, .. } = conn;
        if seg.flags.ack {
            let rev = dir.reverse();
            let mut sink = DirSink {
                app,
                dir: rev,
                tally: &mut self.tally,
                calls: &mut self.queue,
            };
            streams[rev.index()].peer_ack(seg.ack, &mut sink);
        }
        let mut sink = DirSink {
            app,
            dir,
            tally: &mut self.tally,
            calls: &mut self.queue,
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
            flush_streams(conn, &mut self.tally, &mut self.queue);
        }
        let retired: Vec<_> = self.retired.drain(..).collect();
        for c in retired {
            self.retire(c);
        }
    }

    fn retire(&mut self, mut conn: Connection<ConnState>) {
        flush_streams(&mut conn, &mut self.tally, &mut self.queue);
        for stream in &conn.streams {
            self.reassembly.add(&stream.stats());
        }
        if let ConnState::Dce(d) = &mut conn.app
            && d.confirmed
        {
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
            d.assoc.finish_all(&mut self.queue);
        }
    }

    /// Ends the run: flushes every connection and returns the calls not taken yet and the
    /// summary of the whole run.
    #[must_use]
    pub fn finish(mut self) -> Finished {
        for conn in self.flows.drain() {
            self.retire(conn);
        }
        self.queue.release(u64::MAX, &mut self.tally);
        let calls = self.take_calls();
        let summary = self.summary.finish(
            &self.totals,
            self.flows.stats(),
            self.reassembly,
            self.defrag.stats(),
            self.tally,
        );
        Finished { calls, summary }
    }
}
