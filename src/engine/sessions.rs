//! Session stage of the engine: connection events in, call records out. Decides what each
//! connection carries (DCE/RPC straight over TCP, SMB named pipes, Kerberos), hands its bytes
//! to that layer ([`crate::dcerpc::channel`], [`crate::smb`], [`crate::kdc`]), and keeps what
//! one connection teaches about others: endpoints announced by endpoint-mapper and OXID
//! answers ([`crate::epm::resolver`], fed from [`crate::knowledge`] after each frame; each
//! answer releases the calls that waited for it in [`crate::dcerpc::unlabelled`]) and DCOM
//! interface pointers; with finished calls ([`crate::outbox`]) they are the
//! [`crate::context::SessionContext`] lent to each connection. A connection is DCE/RPC when it uses the endpoint mapper's port 135,
//! when an answer announced its endpoint, or when, in either direction, a TCP segment starts
//! with a header that passes the strict test and the PDU it frames parses.

use std::net::SocketAddr;
use std::sync::Arc;

use super::transport::{Closed, Interest, Opened, SessionEvents, TransportEnd};
use super::{EPM_PORT, SMB_PORTS};
use crate::auth::keys::Keyring;
use crate::context::SessionContext;
use crate::dcerpc::association::CallObserver;
use crate::dcerpc::call::KeptStubBytes;
use crate::dcerpc::call::TransportInfo;
use crate::dcerpc::call_report;
use crate::dcerpc::call_report::Reporter;
use crate::dcerpc::channel::{Channel, Verdict};
use crate::dcerpc::connectionless::{self, ConnectionlessSection, Datagrams};
use crate::dcerpc::pdu::{parse_header, parse_pdu};
use crate::epm::resolver::{EndpointRecord, Expectation, ResolutionSection, Resolver};
use crate::hash::FastMap;
use crate::idl::Library;
use crate::ip_defrag::DefragStats;
use crate::kdc::{self, KDC_PORT, KdcStream};
use crate::model::{Call, PduRecord};
use crate::report::Tally;
use crate::rpch::{
    self, ChannelKind, Cookie, Delivery, HeldAnswerBytes, HttpChannel, VirtualStreams,
};
use crate::smb::SmbConn;
use crate::source::Timestamp;
use crate::summary::CaptureTotals;
use crate::tcp::flow_table::FlowStats;
use crate::tcp::reassembler::ReassemblyStats;
use crate::tcp::{Dir, Held, Origin, Span};

/// What rpcscope reads on a connection.
#[derive(Debug)]
enum Carried {
    /// DCE/RPC directly over TCP, or possibly so while no PDU has parsed yet.
    Dce(Box<Channel>),
    /// SMB (ports 445 and 139): DCE/RPC over named pipes.
    Smb(Box<SmbConn>),
    /// Kerberos (port 88), read for keys when the user gave some.
    Kdc(Box<KdcStream>),
    /// An RPC over HTTP version 2 channel ([`crate::rpch`]).
    Http(Box<HttpChannel>),
}

/// An RPC over HTTP version 2 virtual connection: the association its IN and OUT channels
/// carry.
#[derive(Debug)]
struct VirtualConnection {
    channel: Channel,
    /// The two channels' streams on their way to the association.
    streams: VirtualStreams,
    /// Channels joined and not yet closed.
    open: u8,
}

impl VirtualConnection {
    /// Runs `step` on the streams, handing what they pass on to the association; the bytes
    /// the streams hold count with the run's framer bytes, past whose limit they let go.
    fn through_streams(
        &mut self,
        held: &mut HeldAnswerBytes,
        tally: &mut Tally,
        cx: &mut SessionContext,
        step: impl FnOnce(&mut VirtualStreams, &mut HeldAnswerBytes, &mut dyn FnMut(Dir, &[u8], Span)),
    ) {
        let Self {
            channel, streams, ..
        } = self;
        let before = streams.cutting();
        step(streams, held, &mut |dir, bytes, span| {
            channel.data(dir, bytes, span, tally, cx);
        });
        let after = streams.cutting();
        if cx.framer_bytes.update(before, after) {
            cx.framer_bytes.gave_up();
            streams.let_go(held, &mut |dir, bytes, span| {
                channel.data(dir, bytes, span, tally, cx);
            });
            cx.framer_bytes.update(after, Held::default());
        }
    }

    /// Bytes of the client's (IN) or server's (OUT) stream.
    fn bytes(
        &mut self,
        (dir, bytes, span): (Dir, &[u8], Span),
        held: &mut HeldAnswerBytes,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        self.through_streams(held, tally, cx, |streams, held, out| {
            streams.bytes(dir, bytes, span, held, out);
        });
    }

    /// `len` bytes of the stream in direction `dir` were never captured.
    fn gap(
        &mut self,
        (dir, len): (Dir, u64),
        held: &mut HeldAnswerBytes,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        self.through_streams(held, tally, cx, |streams, held, out| {
            streams.gap(dir, held, out);
        });
        self.channel.gap(dir, len, tally, cx);
    }

    /// A channel closed: the answers held for requests hand over as they are.
    fn channel_closed(
        &mut self,
        held: &mut HeldAnswerBytes,
        tally: &mut Tally,
        cx: &mut SessionContext,
    ) {
        self.through_streams(held, tally, cx, |streams, held, out| {
            streams.release_all(held, out);
        });
    }

    /// The virtual connection ended: what the streams hold goes on, then every open call is
    /// reported.
    fn finish(&mut self, held: &mut HeldAnswerBytes, tally: &mut Tally, cx: &mut SessionContext) {
        self.through_streams(held, tally, cx, |streams, held, out| {
            streams.let_go(held, out);
        });
        self.channel.finish(cx);
    }

    /// The OUT channel request's own PDU: recorded when PDU records are wanted, counted.
    fn aside(&mut self, bytes: &[u8], span: Span, tally: &mut Tally, cx: &mut SessionContext) {
        let Ok(pdu) = parse_pdu(bytes) else {
            return;
        };
        tally.pdu(pdu.header.ptype.name().unwrap_or("unknown"));
        let info = self.channel.association().info();
        Reporter.pdu_read(info, Dir::FromInitiator, &pdu, span.last, cx);
    }
}

/// A connection the session stage still reads.
#[derive(Debug)]
struct Session {
    carried: Carried,
    interest: Interest,
}

/// The session stage.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Connections still read, by connection number (those found to carry nothing readable
    /// are dropped; the transport stage's table bounds this one).
    sessions: FastMap<u64, Session>,
    /// What the connections share: finished calls, what they learned, PDU records.
    cx: SessionContext,
    /// The latest capture time seen (for the calls waiting for an interface).
    now: Timestamp,
    tally: Tally,
    dcerpc_connections: u64,
    smb_connections: u64,
    pipe_associations: u64,
    /// Interface descriptions for decoding pipes.
    library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing.
    keys: Option<Arc<Keyring>>,
    /// Stub bytes the open calls of every connection keep for decoders.
    kept_stub_bytes: KeptStubBytes,
    /// Connectionless calls (over UDP).
    datagrams: Datagrams,
    /// RPC over HTTP version 2 virtual connections.
    virtual_connections: Virtuals,
}

/// The RPC over HTTP version 2 virtual connections of the run.
#[derive(Debug, Default)]
struct Virtuals {
    /// By cookie (bounded by the connections: each has at least one open channel).
    by_cookie: FastMap<Cookie, VirtualConnection>,
    /// Answers they all hold for their requests.
    held: HeldAnswerBytes,
}

/// Transport facts of a DCE/RPC connection over TCP.
fn tcp_info(
    senders: [SocketAddr; 2],
    expected: Option<Expectation>,
    library: Option<&Arc<Library>>,
    keys: Option<&Arc<Keyring>>,
    kept_stub_bytes: &KeptStubBytes,
) -> TransportInfo {
    TransportInfo {
        transport: "ncacn_ip_tcp",
        pipe: None,
        file_id: None,
        sec_addr: None,
        expected,
        library: library.cloned(),
        keys: keys.cloned(),
        senders,
        kept_stub_bytes: kept_stub_bytes.clone(),
    }
}

/// What the session stage lends a new RPC over HTTP association.
struct Shared<'a> {
    library: Option<&'a Arc<Library>>,
    keys: Option<&'a Arc<Keyring>>,
    kept_stub_bytes: &'a KeptStubBytes,
}

/// Bytes of an RPC over HTTP version 2 channel: what belongs to its virtual connection goes
/// to that connection's association (created when the first of its channels joins).
fn http_data(
    http: &mut HttpChannel,
    virtuals: &mut Virtuals,
    shared: &Shared<'_>,
    (dir, bytes, origin): (Dir, &[u8], Origin),
    tally: &mut Tally,
    cx: &mut SessionContext,
) {
    let mut cookie = http.cookie();
    let endpoints = http.endpoints();
    let before = http.held();
    http.data(dir, bytes, origin, &mut |d| match d {
        Delivery::Joined { kind, cookie: c } => {
            cookie = Some(c);
            let vc = virtuals
                .by_cookie
                .entry(c)
                .or_insert_with(|| VirtualConnection {
                    channel: Channel::new(
                        TransportInfo {
                            transport: rpch::TRANSPORT,
                            ..tcp_info(
                                endpoints,
                                None,
                                shared.library,
                                shared.keys,
                                shared.kept_stub_bytes,
                            )
                        },
                        true,
                    ),
                    streams: VirtualStreams::default(),
                    open: 0,
                });
            vc.open = vc.open.saturating_add(1);
            if kind == ChannelKind::In {
                // the calls are the IN channel's client's
                vc.channel.association().info_mut().senders = endpoints;
            }
        }
        Delivery::Bytes { dir, bytes, span } => {
            if let Some(vc) = cookie.and_then(|c| virtuals.by_cookie.get_mut(&c)) {
                vc.bytes((dir, bytes, span), &mut virtuals.held, tally, cx);
            }
        }
        Delivery::Aside { bytes, span } => {
            if let Some(vc) = cookie.and_then(|c| virtuals.by_cookie.get_mut(&c)) {
                vc.aside(bytes, span, tally, cx);
            }
        }
        Delivery::Gap { dir, len } => {
            if let Some(vc) = cookie.and_then(|c| virtuals.by_cookie.get_mut(&c)) {
                vc.gap((dir, len), &mut virtuals.held, tally, cx);
            }
        }
    });
    // what the channel holds counts with the run's framer bytes; past the limit it gives up
    let after = http.held();
    if cx.framer_bytes.update(before, after) {
        cx.framer_bytes.gave_up();
        http.give_up();
        cx.framer_bytes.update(after, Held::default());
    }
}

/// A chunk that starts with a plausible DCE/RPC header.
fn starts_like_dcerpc(bytes: &[u8]) -> bool {
    parse_header(bytes).is_ok_and(|h| h.is_plausible() && h.flags_plausible())
}

impl SessionEvents for Sessions {
    fn opened(&mut self, c: &Opened) {
        let ports = [c.initiator.port(), c.responder.port()];
        let carried = if let Some(k) = &self.keys
            && ports.contains(&KDC_PORT)
        {
            Carried::Kdc(Box::new(KdcStream::new(Arc::clone(k))))
        } else if ports.iter().any(|p| SMB_PORTS.contains(p)) {
            Carried::Smb(Box::new(SmbConn::new(
                [c.initiator, c.responder],
                self.library.clone(),
                self.keys.clone(),
                self.kept_stub_bytes.clone(),
            )))
        } else {
            // An endpoint announced by an endpoint-mapper or OXID answer is DCE/RPC.
            let resolver = &mut self.cx.resolver;
            let expected = resolver
                .connection(c.initiator, c.responder, c.ts)
                .or_else(|| resolver.connection(c.responder, c.initiator, c.ts));
            let confirmed = ports.contains(&EPM_PORT)
                || ports.contains(&rpch::EPM_HTTP_PORT)
                || expected.is_some();
            Carried::Dce(Box::new(Channel::new(
                tcp_info(
                    [c.initiator, c.responder],
                    expected,
                    self.library.as_ref(),
                    self.keys.as_ref(),
                    &self.kept_stub_bytes,
                ),
                confirmed,
            )))
        };
        let session = Session {
            carried,
            interest: c.interest.clone(),
        };
        self.sessions.insert(c.id, session);
    }

    fn data(&mut self, conn: u64, dir: Dir, offset: u64, bytes: &[u8], origin: Origin) {
        self.now = self.now.max(origin.ts);
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let (tally, cx) = (&mut self.tally, &mut self.cx);
        let verdict = match &mut session.carried {
            Carried::Dce(c)
                if offset == 0 && dir == Dir::FromResponder && bytes.starts_with(rpch::BANNER) =>
            {
                c.speaks_http_v1();
                c.data(
                    dir,
                    &bytes[rpch::BANNER.len()..],
                    Span::single(origin),
                    tally,
                    cx,
                )
            }
            Carried::Dce(c)
                if offset == 0
                    && dir == Dir::FromInitiator
                    && !c.confirmed()
                    && rpch::starts_channel(bytes) =>
            {
                c.release(cx);
                let mut http = Box::new(HttpChannel::new(c.senders()[0], c.senders()[1]));
                let shared = Shared {
                    library: self.library.as_ref(),
                    keys: self.keys.as_ref(),
                    kept_stub_bytes: &self.kept_stub_bytes,
                };
                let virtuals = &mut self.virtual_connections;
                http_data(
                    &mut http,
                    virtuals,
                    &shared,
                    (dir, bytes, origin),
                    tally,
                    cx,
                );
                session.carried = Carried::Http(http);
                return;
            }
            Carried::Dce(c) => c.data(dir, bytes, Span::single(origin), tally, cx),
            Carried::Http(h) => {
                let shared = Shared {
                    library: self.library.as_ref(),
                    keys: self.keys.as_ref(),
                    kept_stub_bytes: &self.kept_stub_bytes,
                };
                let virtuals = &mut self.virtual_connections;
                http_data(h, virtuals, &shared, (dir, bytes, origin), tally, cx);
                return;
            }
            Carried::Smb(s) if !s.seen_smb() && starts_like_dcerpc(bytes) => {
                s.release(cx);
                // DCE/RPC straight on an SMB port, without SMB framing.
                let mut channel = Channel::new(
                    tcp_info(s.senders(), None, None, None, &self.kept_stub_bytes),
                    false,
                );
                let verdict = channel.data(dir, bytes, Span::single(origin), tally, cx);
                session.carried = Carried::Dce(Box::new(channel));
                verdict
            }
            Carried::Smb(s) => {
                s.data(dir, offset, bytes, origin, tally, cx);
                return;
            }
            Carried::Kdc(k) => {
                k.data(dir, bytes, origin.frame, tally);
                return;
            }
        };
        if verdict == Verdict::Rejected {
            self.drop_session(conn);
        }
    }

    fn gap(&mut self, conn: u64, dir: Dir, offset: u64, len: u64) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let verdict = match &mut session.carried {
            Carried::Dce(c) => c.gap(dir, len, &mut self.tally, &mut self.cx),
            Carried::Smb(s) => {
                s.gap(dir, offset, len, &mut self.tally, &mut self.cx);
                return;
            }
            Carried::Kdc(k) => {
                k.gap(dir);
                return;
            }
            Carried::Http(h) => {
                let cookie = h.cookie();
                let (tally, cx) = (&mut self.tally, &mut self.cx);
                let virtuals = &mut self.virtual_connections;
                let before = h.held();
                h.gap(dir, len, &mut |d| {
                    if let (Delivery::Gap { dir, len }, Some(vc)) =
                        (d, cookie.and_then(|c| virtuals.by_cookie.get_mut(&c)))
                    {
                        vc.gap((dir, len), &mut virtuals.held, tally, cx);
                    }
                });
                cx.framer_bytes.update(before, h.held());
                return;
            }
        };
        if verdict == Verdict::Rejected {
            self.drop_session(conn);
        }
    }

    fn closed(&mut self, c: &Closed) {
        let Some(session) = self.sessions.remove(&c.id) else {
            return;
        };
        match session.carried {
            Carried::Smb(mut smb) => {
                self.smb_connections += 1;
                self.pipe_associations += smb.finish(&mut self.tally, &mut self.cx);
            }
            Carried::Dce(mut d) if d.confirmed() => {
                self.dcerpc_connections += 1;
                if !c.saw_syn {
                    self.tally.count("dcerpc_connections_already_open");
                }
                if c.gaps > 0 {
                    self.tally.anomaly("tcp_gap", 0, || {
                        format!(
                            "{} <-> {}: {} gap(s), {} bytes never captured",
                            c.initiator, c.responder, c.gaps, c.gap_bytes
                        )
                    });
                }
                d.finish(&mut self.cx);
            }
            Carried::Dce(mut d) => d.release(&mut self.cx),
            Carried::Kdc(_) => {}
            Carried::Http(h) => {
                self.cx.framer_bytes.update(h.held(), Held::default());
                if h.given_up() {
                    self.tally.count("http_channels_given_up");
                }
                let Some(cookie) = h.cookie() else {
                    return;
                };
                let virtuals = &mut self.virtual_connections;
                let Some(vc) = virtuals.by_cookie.get_mut(&cookie) else {
                    return;
                };
                vc.open = vc.open.saturating_sub(1);
                vc.channel_closed(&mut virtuals.held, &mut self.tally, &mut self.cx);
                if vc.open == 0
                    && let Some(mut vc) = virtuals.by_cookie.remove(&cookie)
                {
                    self.dcerpc_connections += 1;
                    self.tally.count("rpc_over_http_virtual_connections");
                    vc.finish(&mut virtuals.held, &mut self.tally, &mut self.cx);
                    self.tally.add(
                        "rpc_over_http_answers_before_request",
                        vc.streams.released_unpaired(),
                    );
                }
            }
        }
    }

    fn kdc_datagram(&mut self, payload: &[u8]) {
        if let Some(keys) = &self.keys {
            kdc::datagram(payload, keys, &mut self.tally);
        }
    }

    fn rpc_datagram(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        first: Origin,
        last: Origin,
    ) {
        self.now = self.now.max(last.ts);
        let Some(h) = connectionless::parse_header(payload) else {
            return;
        };
        let mut info = self.datagram_info();
        self.datagrams.datagram(
            &h,
            payload,
            (src, dst),
            first,
            last,
            &mut info,
            &mut self.cx,
        );
    }

    fn frame_done(&mut self, frame: u64) {
        if self.datagrams.has_open() {
            let mut info = self.datagram_info();
            self.datagrams.expire(self.now, &mut info, &mut self.cx);
        }
        // a call whose first PDU a framer still holds sorts at that PDU's first frame
        let held = self.cx.framer_bytes.oldest().unwrap_or(u64::MAX);
        self.cx.outbox.settle(frame.min(held), &mut self.tally);
        self.absorb_news();
        call_report::release_unlabelled(&mut self.cx, Some(self.now));
    }
}

impl Sessions {
    /// The connection carries nothing readable: its bytes are not wanted any more.
    fn drop_session(&mut self, conn: u64) {
        if let Some(s) = self.sessions.remove(&conn) {
            s.interest.lose();
        }
    }

    /// Transport facts of connectionless calls (their addresses are set per call).
    fn datagram_info(&self) -> TransportInfo {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        TransportInfo {
            transport: connectionless::TRANSPORT,
            pipe: None,
            file_id: None,
            sec_addr: None,
            expected: None,
            library: self.library.clone(),
            keys: self.keys.clone(),
            senders: [unspecified; 2],
            kept_stub_bytes: self.kept_stub_bytes.clone(),
        }
    }

    /// Feeds endpoints learned and pipes opened into the resolver.
    fn absorb_news(&mut self) {
        let (learned, pipes) = self.cx.knowledge.take_news();
        for l in learned {
            let (server, ts) = (Resolver::tcp_addr(&l), l.ts);
            self.cx.resolver.learn(l);
            if let Some(server) = server {
                call_report::release_labelled(&mut self.cx, server, ts);
            }
        }
        for p in pipes {
            self.cx
                .resolver
                .pipe_opened(p.client, p.server, &p.pipe, p.ts);
        }
    }

    pub(super) fn limit_open_calls(&mut self, max: usize) {
        self.cx.outbox.limit_open_calls(max);
    }

    pub(super) fn never_wait_for_labels(&mut self) {
        self.cx.unlabelled.never_wait();
    }

    pub(super) fn limit_endpoints(&mut self, max: usize) {
        self.cx.resolver.limit_endpoints(max);
    }

    pub(super) fn set_library(&mut self, library: Arc<Library>) {
        self.library = Some(library);
    }

    pub(super) fn set_keys(&mut self, keys: Arc<Keyring>) {
        self.keys = Some(keys);
    }

    pub(super) fn without_endpoint_records(&mut self) {
        self.cx.resolver.summary_only();
    }

    pub(super) fn enable_pdu_records(&mut self) {
        self.cx.pdus.enable();
    }

    /// True when records of the PDUs read are collected.
    #[must_use]
    pub fn wants_pdu_records(&self) -> bool {
        self.cx.pdus.wanted()
    }

    /// The endpoints learned so far, when they changed since `seen`; `seen` is updated.
    pub fn endpoints_if_changed(&self, seen: &mut u64) -> Option<Vec<EndpointRecord>> {
        let now = self.cx.resolver.revision();
        (now != *seen).then(|| {
            *seen = now;
            self.cx.resolver.records()
        })
    }

    /// Takes the records of the PDUs read since the last call.
    pub fn take_pdu_records(&mut self) -> Vec<PduRecord> {
        self.cx.pdus.take()
    }

    /// Takes the calls that ended since the last call, in the order they ended, for the call
    /// stage ([`super::calls::CallStage::pass`]).
    pub fn take_calls(&mut self) -> Vec<Call> {
        self.cx.outbox.take_ready().collect()
    }

    /// Every call taken from now on sorts at or after this first frame.
    #[must_use]
    pub fn settled(&self) -> u64 {
        self.cx.outbox.settled()
    }

    /// Ends the run (the transport stage has closed every connection): the calls not taken
    /// yet and the counters of every stage so far, for the call stage's summary.
    #[must_use]
    pub fn finish(mut self, transport: TransportEnd) -> SessionsEnd {
        self.absorb_news();
        call_report::release_unlabelled(&mut self.cx, None);
        let mut info = self.datagram_info();
        self.datagrams.finish(&mut info, &mut self.cx);
        self.cx.outbox.settle(u64::MAX, &mut self.tally);
        let calls = self.take_calls();
        if self.cx.resolver.not_kept() > 0 {
            let (n, max) = (
                self.cx.resolver.not_kept(),
                self.cx.resolver.max_endpoints(),
            );
            self.tally.anomaly("limit_endpoints", 0, || {
                format!("{n} endpoints beyond the first {max} were not kept")
            });
        }
        let not_listed = self.cx.resolver.users_not_listed();
        if not_listed > 0 {
            self.tally.anomaly("limit_endpoint_users", 0, || {
                format!(
                    "{not_listed} uses of endpoints were counted but not listed in used_by \
                     (the endpoints list {} connections in all)",
                    crate::epm::resolver::MAX_LISTED_USERS_TOTAL
                )
            });
        }
        let TransportEnd {
            mut totals,
            flows,
            reassembly,
            defrag,
            tally,
        } = transport;
        self.tally.absorb(tally);
        self.tally.add("tcp_connections_idle_closed", flows.idle);
        self.tally.add(
            "tcp_connections_resumed_after_idle",
            flows.resumed_after_idle,
        );
        self.tally
            .add("tcp_closed_ports_forgotten", flows.closed_forgotten);
        self.tally
            .add("limit_framer_bytes", self.cx.framer_bytes.given_up());
        // Every connection gave its framers' bytes back when it ended (checked by the unit
        // tests, which read every shipped capture).
        #[cfg(test)]
        assert_eq!(self.cx.framer_bytes.held(), 0, "framer bytes still counted");
        totals.dcerpc_connections = self.dcerpc_connections;
        totals.smb_connections = self.smb_connections;
        totals.pipe_associations = self.pipe_associations;
        let endpoints = if self.cx.resolver.keeps_records() {
            self.cx.resolver.records()
        } else {
            Vec::new()
        };
        SessionsEnd {
            calls,
            endpoints,
            totals,
            flows,
            reassembly,
            defrag,
            tally: self.tally,
            resolution: self.cx.resolver.resolution(),
            connectionless: self.datagrams.section(),
        }
    }
}

/// What the session stage hands the call stage at the end of a run: its last calls, the
/// endpoints, and the counters of the transport and session stages.
#[derive(Debug)]
pub struct SessionsEnd {
    /// The calls not taken yet, in the order they ended (all are settled).
    pub calls: Vec<Call>,
    /// Endpoints learned, with the connections that used them.
    pub endpoints: Vec<EndpointRecord>,
    /// Frame, segment and connection totals.
    pub totals: CaptureTotals,
    /// Connection table counters.
    pub flows: FlowStats,
    /// Reassembly counters over every connection.
    pub reassembly: ReassemblyStats,
    /// IP reassembly counters.
    pub defrag: DefragStats,
    /// Anomalies and counters of every stage.
    pub tally: Tally,
    /// What the endpoint resolver learned and used.
    pub resolution: ResolutionSection,
    /// Connectionless calls, when the capture had any.
    pub connectionless: Option<ConnectionlessSection>,
}
