//! The analysis engine: frames in, call records and tallies out. It has no I/O, so the same
//! engine serves files, stdin and tests, and its output is deterministic for a given capture.
//!
//! Per frame: link decode ([`crate::link`]) → IPv4 defragmentation ([`crate::ip_defrag`]) →
//! connection lookup and reassembly ([`crate::tcp`]) → DCE/RPC detection → framing and
//! association state ([`crate::dcerpc`]). A connection is DCE/RPC when it uses the endpoint
//! mapper's port 135, or when, in either direction, a TCP segment starts with a header that
//! passes the strict test and the PDU it frames parses (see [`crate::dcerpc::channel`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::auth::keys::Keyring;
use crate::idl::Library;

use crate::dcerpc::call::TransportInfo;
use crate::dcerpc::channel::{Channel, Verdict};
use crate::dcerpc::pdu::parse_header;
use crate::epm::resolver::{EndpointRecord, Expectation, MAX_ENDPOINTS, Prior, Resolver};
use crate::event::CallRecord;
use crate::ip_defrag::Defragmenter;
use crate::kdc::{self, KDC_PORT, KdcStream};
use crate::link::{self, Decoded, LinkError, TcpSegment, UdpDatagram};
use crate::outbox::Outbox;
use crate::report::Tally;
use crate::smb::SmbConn;
use crate::source::Frame;
use crate::summary::{CaptureTotals, Summary, SummaryBuilder};
use crate::tcp::flow_table::{Connection, FlowTable};
use crate::tcp::reassembler::ReassemblyStats;
use crate::tcp::{Dir, Origin, Span, StreamSink};

/// The endpoint mapper's well-known port: connections to it are DCE/RPC without probing.
pub const EPM_PORT: u16 = 135;

/// SMB ports (direct TCP and NetBIOS session service): DCE/RPC runs over named pipes there.
pub const SMB_PORTS: [u16; 2] = [445, 139];

/// What rpcscope knows about a connection's payload.
#[derive(Debug)]
pub enum ConnState {
    /// DCE/RPC directly over TCP, or possibly so while no PDU has parsed yet.
    Dce(Box<Channel>),
    /// SMB (ports 445 and 139): DCE/RPC over named pipes.
    Smb(Box<SmbConn>),
    /// Kerberos (port 88), read for keys when the user gave some.
    Kdc(Box<KdcStream>),
    /// Not DCE/RPC: the connection is no longer examined.
    Ignored,
}

/// What is left at the end of a run.
#[derive(Debug)]
pub struct Finished {
    /// The calls not taken yet with [`Engine::take_calls`], in the order they ended (all are
    /// settled).
    pub calls: Vec<CallRecord>,
    /// Counters, per-interface statistics and anomalies over the whole run.
    pub summary: Summary,
    /// Endpoints learned from endpoint-mapper and OXID answers, with the connections that used
    /// them.
    pub endpoints: Vec<EndpointRecord>,
}

/// The engine. Feed frames with [`Engine::process`], then call [`Engine::finish`].
#[derive(Debug, Default)]
pub struct Engine {
    flows: FlowTable<ConnState>,
    defrag: Defragmenter,
    tally: Tally,
    queue: Outbox,
    summary: SummaryBuilder,
    totals: CaptureTotals,
    reassembly: ReassemblyStats,
    retired: Vec<Connection<ConnState>>,
    resolver: Resolver,
    /// A first pass: only endpoint-mapper connections are analysed.
    epm_only: bool,
    /// Interface descriptions for decoding pipes.
    library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing.
    keys: Option<Arc<Keyring>>,
}

/// Stream events of one direction of one connection, handed to its upper layer.
struct DirSink<'a> {
    app: &'a mut ConnState,
    dir: Dir,
    tally: &'a mut Tally,
    calls: &'a mut Outbox,
}

/// Transport facts of a DCE/RPC connection over TCP.
fn tcp_info(
    senders: [SocketAddr; 2],
    expected: Option<Expectation>,
    library: Option<&Arc<Library>>,
    keys: Option<&Arc<Keyring>>,
) -> TransportInfo {
    TransportInfo {
        transport: "ncacn_ip_tcp",
        pipe: None,
        file_id: None,
        expected,
        library: library.cloned(),
        keys: keys.cloned(),
        senders,
    }
}

/// A chunk that starts with a plausible DCE/RPC header.
fn starts_like_dcerpc(bytes: &[u8]) -> bool {
    parse_header(bytes).is_ok_and(|h| h.is_plausible() && h.flags_plausible())
}

impl StreamSink for DirSink<'_> {
    fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin) {
        let verdict = match self.app {
            ConnState::Dce(c) => c.data(
                self.dir,
                bytes,
                Span::single(origin),
                self.tally,
                self.calls,
            ),
            ConnState::Smb(s) if !s.seen_smb() && starts_like_dcerpc(bytes) => {
                // DCE/RPC straight on an SMB port, without SMB framing.
                let mut channel = Channel::new(tcp_info(s.senders(), None, None, None), false);
                let verdict = channel.data(
                    self.dir,
                    bytes,
                    Span::single(origin),
                    self.tally,
                    self.calls,
                );
                *self.app = ConnState::Dce(Box::new(channel));
                verdict
            }
            ConnState::Smb(s) => {
                s.data(self.dir, offset, bytes, origin, self.tally, self.calls);
                return;
            }
            ConnState::Kdc(k) => {
                k.data(self.dir, bytes, origin.frame, self.tally);
                return;
            }
            ConnState::Ignored => return,
        };
        if verdict == Verdict::Rejected {
            *self.app = ConnState::Ignored;
        }
    }

    fn gap(&mut self, offset: u64, len: u64) {
        let verdict = match self.app {
            ConnState::Dce(c) => c.gap(self.dir, len, self.tally, self.calls),
            ConnState::Smb(s) => {
                s.gap(self.dir, offset, len, self.tally, self.calls);
                return;
            }
            ConnState::Kdc(k) => {
                k.gap(self.dir);
                return;
            }
            ConnState::Ignored => return,
        };
        if verdict == Verdict::Rejected {
            *self.app = ConnState::Ignored;
        }
    }
}

/// The connection ended: every hole left in either direction is a gap.
fn flush_streams(conn: &mut Connection<ConnState>, tally: &mut Tally, queue: &mut Outbox) {
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

impl Engine {
    /// A new engine.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine for a first pass that only follows endpoint-mapper connections (port 135) and
    /// collects their answers (see [`Engine::finish_first_pass`]).
    #[must_use]
    pub fn first_pass() -> Self {
        Self {
            epm_only: true,
            ..Self::default()
        }
        .without_endpoint_records()
    }

    /// An engine that knows the endpoints a first pass found, so connections that began before
    /// the answer announcing their endpoint are labelled too.
    #[must_use]
    pub fn with_prior(prior: &Prior) -> Self {
        Self {
            resolver: Resolver::with_prior(prior),
            ..Self::default()
        }
    }

    /// Ends a first pass: the endpoints learned.
    #[must_use]
    pub fn finish_first_pass(mut self) -> Prior {
        for conn in self.flows.drain() {
            self.retire(conn);
        }
        self.queue.settle(u64::MAX, &mut self.tally);
        self.absorb_news();
        self.resolver.prior()
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
            Ok(Decoded::Udp(d)) => self.udp(&d),
            Ok(Decoded::Ipv4Fragment(f)) => {
                self.totals.ip_fragments += 1;
                if let Some(dg) = self.defrag.add(&f, frame.ts) {
                    let (src, dst) = (IpAddr::from(dg.src), IpAddr::from(dg.dst));
                    match dg.protocol {
                        6 => match link::parse_tcp(src, dst, &dg.payload) {
                            Ok(seg) => {
                                self.totals.tcp_segments += 1;
                                self.tcp(&seg, origin);
                            }
                            Err(e) => self.link_error(e, frame.number),
                        },
                        17 => match link::parse_udp(src, dst, &dg.payload) {
                            Some(d) => self.udp(&d),
                            None => self.totals.not_tcp += 1,
                        },
                        _ => {}
                    }
                }
            }
            Ok(Decoded::Other) => self.totals.not_tcp += 1,
            Err(e) => self.link_error(e, frame.number),
        }
        self.flows.retire_due(frame.ts, &mut self.retired);
        self.retire_handed_back();
        self.queue.settle(frame.number, &mut self.tally);
        self.absorb_news();
    }

    /// Feeds endpoints learned and pipes opened into the resolver.
    fn absorb_news(&mut self) {
        let (learned, pipes) = self.queue.take_news();
        for l in learned {
            self.resolver.learn(l);
        }
        for p in pipes {
            self.resolver.pipe_opened(p.client, p.server, &p.pipe, p.ts);
        }
    }

    /// Decodes the pipes of the operations `library` describes.
    #[must_use]
    pub fn with_library(mut self, library: Arc<Library>) -> Self {
        self.library = Some(library);
        self
    }

    /// Unseals protected stubs with the user's secrets.
    #[must_use]
    pub fn with_keys(mut self, keys: Arc<Keyring>) -> Self {
        self.summary.keys_loaded(keys.len());
        self.keys = Some(keys);
        self
    }

    /// Keeps only what the summary says of endpoints: [`Finished::endpoints`] is empty, and
    /// the resolver counts the connections that used an endpoint instead of listing them, so
    /// its memory does not grow with the connections of a long capture.
    #[must_use]
    pub fn without_endpoint_records(mut self) -> Self {
        self.resolver.summary_only();
        self
    }

    /// Collects notes of non-call PDUs (binds, acks, auth3, ...) for [`Engine::take_notes`].
    #[must_use]
    pub fn with_notes(mut self) -> Self {
        self.queue.enable_notes();
        self
    }

    /// The endpoints learned so far, when they changed since `seen` (a live view shows them
    /// before the run ends); `seen` is updated.
    pub fn endpoints_if_changed(&self, seen: &mut u64) -> Option<Vec<EndpointRecord>> {
        let now = self.resolver.revision();
        (now != *seen).then(|| {
            *seen = now;
            self.resolver.records()
        })
    }

    /// Takes the notes of non-call PDUs seen since the last call.
    pub fn take_notes(&mut self) -> Vec<crate::event::PduNote> {
        self.queue.take_notes()
    }

    /// Takes the calls that ended since the last call, in the order they ended. Call after each
    /// frame to stream; [`Engine::settled`] says which of them can be written in capture order.
    pub fn take_calls(&mut self) -> Vec<CallRecord> {
        let calls: Vec<CallRecord> = self.queue.take_ready().collect();
        for c in &calls {
            self.summary.add(c);
        }
        calls
    }

    /// Every call taken from now on sorts at or after this first frame (see
    /// [`crate::output::order`], which puts calls back in capture order with it).
    #[must_use]
    pub fn settled(&self) -> u64 {
        self.queue.settled()
    }

    fn link_error(&mut self, e: LinkError, frame: u64) {
        self.totals.undecodable += 1;
        let kind = match e {
            LinkError::UnsupportedLinkType(_) => "unsupported_link_type",
            LinkError::Malformed(_) => "undecodable_frame",
        };
        self.tally.anomaly(kind, frame, || e.to_string());
    }

    /// A UDP datagram: with keys, a Kerberos message to or from port 88 is read for the keys it
    /// carries; nothing else over UDP is analysed.
    fn udp(&mut self, d: &UdpDatagram<'_>) {
        self.totals.not_tcp += 1;
        if let Some(keys) = &self.keys
            && (d.src.port() == KDC_PORT || d.dst.port() == KDC_PORT)
        {
            kdc::datagram(d.payload, keys, &mut self.tally);
        }
    }

    fn tcp(&mut self, seg: &TcpSegment<'_>, origin: Origin) {
        // A first pass follows only the endpoint mapper: other segments need no connection.
        if self.epm_only && seg.src.port() != EPM_PORT && seg.dst.port() != EPM_PORT {
            return;
        }
        let resolver = &mut self.resolver;
        let epm_only = self.epm_only;
        let library = self.library.as_ref();
        let keys = self.keys.as_ref();
        let new_state = |initiator, responder| {
            let ports = [seg.src.port(), seg.dst.port()];
            if let Some(k) = keys
                && ports.contains(&KDC_PORT)
            {
                return ConnState::Kdc(Box::new(KdcStream::new(Arc::clone(k))));
            }
            if ports.iter().any(|p| SMB_PORTS.contains(p)) && !epm_only {
                return ConnState::Smb(Box::new(SmbConn::new(
                    [initiator, responder],
                    library.cloned(),
                    keys.cloned(),
                )));
            }
            // An endpoint announced by an endpoint-mapper or OXID answer is DCE/RPC.
            let expected = resolver
                .connection(initiator, responder, origin.ts)
                .or_else(|| resolver.connection(responder, initiator, origin.ts));
            let confirmed = ports.contains(&EPM_PORT) || expected.is_some();
            ConnState::Dce(Box::new(Channel::new(
                tcp_info([initiator, responder], expected, library, keys),
                confirmed,
            )))
        };
        let Some(conn) = self
            .flows
            .lookup(seg, origin.ts, new_state, &mut self.retired)
        else {
            self.tally.count("tcp_segments_after_close");
            return;
        };
        let was_finished = conn.is_finished();
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
            if !was_finished {
                let id = conn.id;
                self.flows.ended(seg, id, origin.ts);
            }
        }
        self.retire_handed_back();
    }

    /// Finishes the connections the flow table handed back (evicted, reused, or ended).
    fn retire_handed_back(&mut self) {
        for c in std::mem::take(&mut self.retired) {
            self.retire(c);
        }
    }

    fn retire(&mut self, mut conn: Connection<ConnState>) {
        flush_streams(&mut conn, &mut self.tally, &mut self.queue);
        for stream in &conn.streams {
            self.reassembly.add(&stream.stats());
        }
        if let ConnState::Smb(smb) = &mut conn.app {
            self.totals.smb_connections += 1;
            self.totals.pipe_associations += smb.finish(&mut self.tally, &mut self.queue);
        }
        if let ConnState::Dce(d) = &mut conn.app
            && d.confirmed()
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
            d.finish(&mut self.queue);
        }
    }

    /// Ends the run: flushes every connection and returns the calls not taken yet and the
    /// summary of the whole run.
    #[must_use]
    pub fn finish(mut self) -> Finished {
        for conn in self.flows.drain() {
            self.retire(conn);
        }
        self.queue.settle(u64::MAX, &mut self.tally);
        self.absorb_news();
        let calls = self.take_calls();
        if self.resolver.not_kept() > 0 {
            let n = self.resolver.not_kept();
            self.tally.anomaly("limit_endpoints", 0, || {
                format!("{n} endpoints beyond the first {MAX_ENDPOINTS} were not kept")
            });
        }

        let flows = self.flows.stats();
        self.tally.add("tcp_connections_idle_closed", flows.idle);
        self.tally.add(
            "tcp_connections_resumed_after_idle",
            flows.resumed_after_idle,
        );
        self.tally
            .add("tcp_closed_ports_forgotten", flows.closed_forgotten);
        let endpoints = if self.resolver.keeps_records() {
            self.resolver.records()
        } else {
            Vec::new()
        };
        let summary = self.summary.finish(
            &self.totals,
            self.flows.stats(),
            self.reassembly,
            self.defrag.stats(),
            self.tally,
            self.resolver.resolution(),
        );
        Finished {
            calls,
            summary,
            endpoints,
        }
    }
}
