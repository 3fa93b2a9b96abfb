//! DCE/RPC layer, connectionless calls (`ncadg_ip_udp`; C706 chapter 12 "Connectionless RPC
//! PDUs": the 80-byte header of §12.5.1, the PDU types of §12.5.3, fragments numbered per call).
//!
//! There is no connection and no bind: every PDU names its call by (activity UUID, sequence
//! number) and its interface, version and operation in the header. [`Datagrams`] keeps the calls
//! open by that key, whatever UDP ports their PDUs use (an answer may come from another port than
//! the request went to), counts each fragment number once (retransmissions and duplicated frames
//! are repeats), and ends a call when its response is whole or a fault or reject came, when it
//! waited [`DATAGRAM_CALL_IDLE_SECS`] of capture time, or at the end of the capture. An ended
//! call is reported like a connection-oriented one ([`super::call_report`]): names, return code,
//! endpoint-mapper answers (whose `ncadg_ip_udp` endpoints the resolver links to later calls),
//! decoded parameters. Ping, working, nocall, ack, cl_cancel, fack and cancel_ack PDUs only count.
//!
//! Limits: [`MAX_OPEN_DATAGRAM_CALLS`] calls open at once (the oldest is ended first,
//! `limit_open_datagram_calls`), [`MAX_DATAGRAM_FRAGMENTS`] fragment numbers per call direction
//! (`limit_datagram_fragments`), [`MAX_ENDED_DATAGRAM_CALLS`] ended calls remembered so their
//! repeats are not taken for new calls; stub bytes are kept only for calls that are decoded,
//! under the run's [`super::call::MAX_KEPT_STUB_BYTES_TOTAL`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use serde::Serialize;

use super::association::{CallObserver, CallStart};
use super::call::{BoundContext, OpenCall, Span, StubSink, StubTail, TransportInfo};
use super::call_report::{Reporter, keeps_stubs};
use super::security::Protection;
use crate::context::SessionContext;
use crate::dce::body::Body;
use crate::dce::codes::{PacketType, PfcFlags};
use crate::dce::{SyntaxId, Uuid};
use crate::hash::FastMap;
use crate::model::{DatagramFields, PduRecord};
use crate::source::Timestamp;
use crate::tcp::{Dir, Origin};

/// The transport name of connectionless calls over UDP.
pub const TRANSPORT: &str = "ncadg_ip_udp";
/// Length of the connectionless header.
pub const HEADER_LEN: usize = 80;
/// Calls open at once over the run; past it the oldest is ended with what it has.
pub const MAX_OPEN_DATAGRAM_CALLS: usize = 16_384;
/// Ended calls whose key is remembered, so that a repeated response or a late ack is counted
/// as a repeat and not taken for a new call.
pub const MAX_ENDED_DATAGRAM_CALLS: usize = 65_536;
/// A call that heard nothing for this long (capture time) has ended.
pub const DATAGRAM_CALL_IDLE_SECS: i64 = 300;
/// Fragment numbers kept per call and direction (each fragment carries at most a datagram).
pub const MAX_DATAGRAM_FRAGMENTS: usize = 4_096;

/// `flags1`: the last fragment of a request or response.
const LAST_FRAG: u8 = 0x02;
/// `flags1`: the PDU is a fragment of a larger request or response.
const FRAG: u8 = 0x04;

/// Connectionless PDU types (C706 §12.5.3).
pub mod ptype {
    /// request
    pub const REQUEST: u8 = 0;
    /// ping
    pub const PING: u8 = 1;
    /// response
    pub const RESPONSE: u8 = 2;
    /// fault
    pub const FAULT: u8 = 3;
    /// working
    pub const WORKING: u8 = 4;
    /// nocall
    pub const NOCALL: u8 = 5;
    /// reject
    pub const REJECT: u8 = 6;
    /// ack
    pub const ACK: u8 = 7;
    /// cl_cancel
    pub const CL_CANCEL: u8 = 8;
    /// fack
    pub const FACK: u8 = 9;
    /// cancel_ack
    pub const CANCEL_ACK: u8 = 10;
}

/// The name of a connectionless PDU type.
#[must_use]
pub fn ptype_name(t: u8) -> &'static str {
    PacketType(t).datagram_name().unwrap_or("cancel_ack")
}

/// The fields of a connectionless header rpcscope reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// PDU type (at most 10).
    pub ptype: u8,
    /// `flags1`.
    pub flags1: u8,
    /// `flags2`.
    pub flags2: u8,
    /// Integers are little-endian (`drep`).
    pub little_endian: bool,
    /// Object UUID.
    pub object: Uuid,
    /// Interface UUID.
    pub interface: Uuid,
    /// Activity UUID.
    pub activity: Uuid,
    /// Interface version: major in the low 16 bits, minor in the high 16 bits.
    pub if_vers: u32,
    /// Sequence number: the call within the activity.
    pub seqnum: u32,
    /// Operation number.
    pub opnum: u16,
    /// Body length (the authentication verifier follows it).
    pub body_len: u16,
    /// Fragment number.
    pub fragnum: u16,
    /// Authentication protocol (0: none).
    pub auth_proto: u8,
    /// Serial number (`serial_hi` and `serial_lo`): the order the sender sent its fragments.
    pub serial: u16,
}

impl Header {
    /// The interface and version the header names; none for the nil UUID.
    #[must_use]
    pub fn syntax(&self) -> Option<SyntaxId> {
        (self.interface != Uuid::default()).then_some(SyntaxId {
            uuid: self.interface,
            major: (self.if_vers & 0xffff) as u16,
            minor: (self.if_vers >> 16) as u16,
        })
    }
}

/// Reads the header of a UDP payload that passes the test for a connectionless PDU: version 4,
/// a known type, reserved flag bits clear, a valid data representation, and a body that fits.
#[must_use]
pub fn parse_header(b: &[u8]) -> Option<Header> {
    let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
    if h[0] != 4 || h[1] > ptype::CANCEL_ACK || h[3] & 0xfc != 0 || h[4] & 0xee != 0 || h[5] > 3 {
        return None;
    }
    let little_endian = h[4] & 0x10 != 0;
    let u16_at = |at: usize| {
        let v = [h[at], h[at + 1]];
        if little_endian {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |at: usize| {
        let v = [h[at], h[at + 1], h[at + 2], h[at + 3]];
        if little_endian {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let uuid_at = |at: usize| {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(&h[at..at + 16]);
        Uuid::from_wire(&raw, little_endian)
    };
    let body_len = u16_at(74);
    if HEADER_LEN + usize::from(body_len) > b.len() {
        return None;
    }
    Some(Header {
        ptype: h[1],
        flags1: h[2],
        flags2: h[3],
        little_endian,
        object: uuid_at(8),
        interface: uuid_at(24),
        activity: uuid_at(40),
        if_vers: u32_at(60),
        seqnum: u32_at(64),
        opnum: u16_at(68),
        body_len,
        fragnum: u16_at(76),
        auth_proto: h[78],
        serial: u16::from_be_bytes([h[7], h[79]]),
    })
}

/// What the connectionless PDUs of a run came to, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionlessSection {
    /// PDUs by type.
    pub pdus: BTreeMap<&'static str, u64>,
    /// Calls reported.
    pub calls: u64,
    /// Calls seen only by their answer.
    pub calls_without_request: u64,
    /// Request and response fragments, faults and rejects a call already had.
    pub retransmissions: u64,
    /// Ping, working, nocall, ack, cl_cancel, fack and cancel_ack PDUs of no call seen.
    pub control_pdus_without_call: u64,
}

/// The fragments of one direction of a call.
#[derive(Debug, Default)]
struct Side {
    /// Fragment numbers seen, with their body when stubs are kept.
    fragments: BTreeMap<u16, Vec<u8>>,
    first: Option<Origin>,
    last: Option<Origin>,
    stub_len: u64,
    /// The fragment number that carried `last_frag`.
    last_fragnum: Option<u16>,
    /// A PDU numbered 0 without the `frag` flag: the whole message in one PDU.
    unfragmented: bool,
}

impl Side {
    /// True when the whole message is here.
    fn whole(&self) -> bool {
        self.unfragmented
            || self
                .last_fragnum
                .is_some_and(|n| self.fragments.range(..=n).count() == usize::from(n) + 1)
    }

    fn span(&self) -> Option<Span> {
        let (first, last) = (self.first?, self.last?);
        let whole = self.whole();
        Some(Span {
            first,
            last,
            fragments: u32::try_from(self.fragments.len()).unwrap_or(u32::MAX),
            stub_len: self.stub_len,
            saw_first: self.fragments.contains_key(&0),
            saw_last: whole,
            damaged: false,
        })
    }
}

/// A fault or reject PDU.
#[derive(Clone, Copy, Debug)]
struct Fault {
    status: u32,
    first: Origin,
    last: Origin,
    /// The body after the status.
    stub_len: u64,
}

/// A call in progress.
#[derive(Debug)]
struct DatagramCall {
    /// Order in which calls were opened (for eviction).
    order: u64,
    /// Frame of the call's first PDU: its place in the output order.
    first_frame: u64,
    client: SocketAddr,
    server: SocketAddr,
    /// The header that named the interface and operation, and whether it was a request's.
    header: Header,
    from_request: bool,
    request: Side,
    response: Side,
    /// A fault or reject, the call's answer.
    fault: Option<Fault>,
    /// The protection level the first byte of the request's verifier names (C706 §13.3), or
    /// 0 (`default`) when there is none that reads as one.
    auth_level: u8,
    /// Stub bytes are kept for decoding.
    keeps_stubs: bool,
    /// Stub bytes counted against the run's limit.
    kept_bytes: usize,
    /// Kept stubs were given up (the run's limit).
    stubs_lost: bool,
    /// The latest capture time a PDU of the call came.
    heard: Timestamp,
}

/// The connectionless calls of a run.
#[derive(Debug, Default)]
pub struct Datagrams {
    open: FastMap<(Uuid, u32), DatagramCall>,
    /// (order, key) of the open calls, oldest first; entries of ended calls are skipped.
    opened: VecDeque<(u64, (Uuid, u32))>,
    next_order: u64,
    /// Keys of ended calls, oldest first, at most [`MAX_ENDED_DATAGRAM_CALLS`].
    ended: VecDeque<(Uuid, u32)>,
    ended_keys: FastMap<(Uuid, u32), ()>,
    section: ConnectionlessSection,
    /// Unreadable PDUs, fragments beyond the limit.
    limits_hit: u64,
}

impl Datagrams {
    /// True when connectionless PDUs were seen.
    #[must_use]
    pub fn seen(&self) -> bool {
        !self.section.pdus.is_empty()
    }

    /// True when calls are open (waiting for more PDUs or their time).
    #[must_use]
    pub fn has_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// What the run's connectionless PDUs came to.
    #[must_use]
    pub fn section(&self) -> Option<ConnectionlessSection> {
        self.seen().then(|| self.section.clone())
    }

    /// A UDP datagram from `src` to `dst` whose payload passed [`parse_header`]: `first` is the
    /// frame of its first byte (its first IP fragment), `last` the frame that completed it.
    /// `info` is the run's transport facts for connectionless calls (its `senders` are set
    /// here).
    #[allow(clippy::too_many_arguments)]
    pub fn datagram(
        &mut self,
        h: &Header,
        payload: &[u8],
        (src, dst): (SocketAddr, SocketAddr),
        first: Origin,
        last: Origin,
        info: &mut TransportInfo,
        cx: &mut SessionContext,
    ) {
        *self.section.pdus.entry(ptype_name(h.ptype)).or_default() += 1;
        let key = (h.activity, h.seqnum);
        if cx.pdus.wanted() {
            let ends = self.open.get(&key).map(|c| (c.client, c.server));
            cx.pdus.push(record(h, payload, (src, dst), ends, last));
        }
        let is_call_pdu = matches!(
            h.ptype,
            ptype::REQUEST | ptype::RESPONSE | ptype::FAULT | ptype::REJECT
        );
        if !self.open.contains_key(&key) {
            if self.ended_keys.contains_key(&key) {
                if is_call_pdu {
                    self.section.retransmissions += 1;
                }
                return;
            }
            if !is_call_pdu {
                self.section.control_pdus_without_call += 1;
                return;
            }
            self.open_call(key, h, payload, (src, dst), first, info, cx);
        }
        let Some(call) = self.open.get_mut(&key) else {
            return;
        };
        call.heard = last.ts;
        let Some(body) = payload.get(HEADER_LEN..HEADER_LEN + usize::from(h.body_len)) else {
            return;
        };
        let done = match h.ptype {
            ptype::REQUEST => {
                if !call.from_request {
                    // the request names the call's endpoints and interface
                    call.header = *h;
                    call.from_request = true;
                    call.auth_level = verifier_level(h, payload);
                    (call.client, call.server) = (src, dst);
                }
                self.fragment(key, true, h, body, first, last, info);
                false
            }
            ptype::RESPONSE => {
                self.fragment(key, false, h, body, first, last, info);
                self.open
                    .get(&key)
                    .is_some_and(|c| c.response.whole() && c.fault.is_none())
            }
            ptype::FAULT | ptype::REJECT => {
                if call.fault.is_some() {
                    self.section.retransmissions += 1;
                } else {
                    let status = status_of(h, body).unwrap_or(0);
                    let stub = u64::from(h.body_len).saturating_sub(4);
                    call.fault = Some(Fault {
                        status,
                        first,
                        last,
                        stub_len: stub,
                    });
                }
                true
            }
            _ => false,
        };
        if done {
            self.end(key, info, cx);
        }
    }

    /// Opens the call `key` with its first PDU.
    #[allow(clippy::too_many_arguments)]
    fn open_call(
        &mut self,
        key: (Uuid, u32),
        h: &Header,
        payload: &[u8],
        (src, dst): (SocketAddr, SocketAddr),
        first: Origin,
        info: &mut TransportInfo,
        cx: &mut SessionContext,
    ) {
        if self.open.len() >= MAX_OPEN_DATAGRAM_CALLS {
            while let Some((order, oldest)) = self.opened.pop_front() {
                if self.open.get(&oldest).is_some_and(|c| c.order == order) {
                    cx.outbox
                        .anomaly("limit_open_datagram_calls", first.frame, || {
                            format!(
                                "{MAX_OPEN_DATAGRAM_CALLS} connectionless calls were open: \
                                 the oldest was ended"
                            )
                        });
                    self.end(oldest, info, cx);
                    break;
                }
            }
        }
        let from_request = h.ptype == ptype::REQUEST;
        let (client, server) = if from_request { (src, dst) } else { (dst, src) };
        let binding = h.syntax().map(|s| bound(s, from_request));
        info.senders = [client, server];
        let keeps_stubs = h.auth_proto == 0 && keeps_stubs(info, binding, h.opnum, object(h));
        let order = self.next_order;
        self.next_order += 1;
        self.opened.push_back((order, key));
        if self.opened.len() > 2 * MAX_OPEN_DATAGRAM_CALLS {
            let open = &self.open;
            self.opened
                .retain(|(o, k)| open.get(k).is_some_and(|c| c.order == *o));
        }
        cx.outbox.opened(first.frame);
        self.open.insert(
            key,
            DatagramCall {
                order,
                first_frame: first.frame,
                client,
                server,
                header: *h,
                from_request,
                request: Side::default(),
                response: Side::default(),
                fault: None,
                auth_level: if from_request {
                    verifier_level(h, payload)
                } else {
                    0
                },
                keeps_stubs,
                kept_bytes: 0,
                stubs_lost: false,
                heard: first.ts,
            },
        );
    }

    /// A request or response fragment of the open call `key`.
    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        key: (Uuid, u32),
        request: bool,
        h: &Header,
        body: &[u8],
        first: Origin,
        last: Origin,
        info: &TransportInfo,
    ) {
        let Some(call) = self.open.get_mut(&key) else {
            return;
        };
        let side = if request {
            &mut call.request
        } else {
            &mut call.response
        };
        if side.fragments.contains_key(&h.fragnum) {
            self.section.retransmissions += 1;
            return;
        }
        if side.fragments.len() >= MAX_DATAGRAM_FRAGMENTS {
            self.limits_hit += 1;
            return;
        }
        let mut kept = Vec::new();
        if call.keeps_stubs && !call.stubs_lost {
            if info.kept_stub_bytes.reserve(body.len()) {
                call.kept_bytes += body.len();
                kept = body.to_vec();
            } else {
                call.stubs_lost = true;
            }
        }
        side.fragments.insert(h.fragnum, kept);
        side.first.get_or_insert(first);
        if side.last.is_none_or(|l| last.frame > l.frame) {
            side.last = Some(last);
        }
        side.stub_len += u64::from(h.body_len);
        if h.flags1 & LAST_FRAG != 0 {
            side.last_fragnum = Some(h.fragnum);
        }
        if h.fragnum == 0 && h.flags1 & FRAG == 0 {
            side.unfragmented = true;
        }
    }

    /// Ends the calls that heard nothing for [`DATAGRAM_CALL_IDLE_SECS`] before `now`.
    pub fn expire(&mut self, now: Timestamp, info: &mut TransportInfo, cx: &mut SessionContext) {
        while let Some(&(order, key)) = self.opened.front() {
            match self.open.get(&key) {
                Some(c) if c.order == order => {
                    if now.secs - c.heard.secs <= DATAGRAM_CALL_IDLE_SECS {
                        // the front call is still heard from; later ones are checked when it
                        // ends (calls that end otherwise are mostly answered within seconds)
                        break;
                    }
                    self.opened.pop_front();
                    self.end(key, info, cx);
                }
                _ => {
                    self.opened.pop_front();
                }
            }
        }
    }

    /// Ends every open call (the end of the capture) and counts what the run hit.
    pub fn finish(&mut self, info: &mut TransportInfo, cx: &mut SessionContext) {
        let mut keys: Vec<(u64, (Uuid, u32))> =
            self.open.iter().map(|(k, c)| (c.order, *k)).collect();
        keys.sort_unstable();
        for (_, key) in keys {
            self.end(key, info, cx);
        }
        if self.limits_hit > 0 {
            let n = self.limits_hit;
            cx.outbox.anomaly("limit_datagram_fragments", 0, || {
                format!(
                    "{n} connectionless fragments beyond {MAX_DATAGRAM_FRAGMENTS} per call were \
                     not read"
                )
            });
        }
    }

    /// Ends the open call `key`: it is reported, and its key remembered.
    fn end(&mut self, key: (Uuid, u32), info: &mut TransportInfo, cx: &mut SessionContext) {
        let Some(mut c) = self.open.remove(&key) else {
            return;
        };
        self.remember(key);
        self.section.calls += 1;
        if !c.from_request {
            self.section.calls_without_request += 1;
        }
        info.kept_stub_bytes.release(c.kept_bytes);
        info.senders = [c.client, c.server];
        info.expected = cx.resolver.datagram_call(
            c.client,
            c.server,
            c.request
                .first
                .or(c.response.first)
                .map_or(c.heard, |o| o.ts),
        );
        let h = c.header;
        let binding = h.syntax().map(|s| bound(s, c.from_request));
        let le = h.little_endian;
        let unreadable = h.auth_proto != 0;
        let request = c.request.span();
        let mut response = c.response.span();
        // the stub consumers get the fragments in order, as they would over a connection
        let mut stubs = std::mem::take(&mut c.request.fragments).into_iter();
        let first_stub = stubs.next().map(|(_, s)| s).unwrap_or_default();
        let start = CallStart {
            binding,
            opnum: h.opnum,
            object: object(&h),
            unreadable: unreadable || !c.keeps_stubs || c.stubs_lost,
            little_endian: le,
            stub: &first_stub,
            frame: c.first_frame,
        };
        let mut consumers = Reporter.call_started(info, &start);
        // no byte-pipe guess: connectionless calls carry no NDR pipes without a description
        consumers.guess = None;
        for (_, s) in stubs {
            consumers.request(&s, le, c.first_frame);
        }
        let mut tail = StubTail::default();
        for (i, (_, s)) in std::mem::take(&mut c.response.fragments)
            .into_iter()
            .enumerate()
        {
            consumers.response(i == 0, &s, le, c.first_frame);
            tail.add(&s, le, unreadable);
        }
        if c.stubs_lost {
            cx.outbox
                .anomaly("limit_kept_stub_bytes_total", c.first_frame, || {
                    "the open calls held too many stub bytes: a connectionless call was not \
                     decoded"
                        .into()
                });
        }
        if let Some(f) = c.fault {
            response = Some(Span {
                first: f.first,
                last: f.last,
                fragments: 1,
                stub_len: f.stub_len,
                saw_first: true,
                saw_last: true,
                damaged: false,
            });
        }
        let call = OpenCall {
            seq: 0,
            first_frame: c.first_frame,
            call_id: h.seqnum,
            context_id: 0,
            activity: Some(h.activity),
            opnum: Some(h.opnum),
            object: object(&h),
            binding,
            client_dir: Dir::FromInitiator,
            request,
            response,
            fault: c.fault.map(|f| f.status),
            auth: (h.auth_proto != 0).then_some((h.auth_proto, c.auth_level)),
            response_may_be_lost: false,
            consumers,
            heads: Default::default(),
            verifier: None,
            tail,
            protection: Protection::default(),
        };
        Reporter.call_ended(info, None, call, cx);
    }

    /// Remembers an ended call's key (forgetting the oldest past the limit).
    fn remember(&mut self, key: (Uuid, u32)) {
        if self.ended.len() >= MAX_ENDED_DATAGRAM_CALLS
            && let Some(old) = self.ended.pop_front()
        {
            self.ended_keys.remove(&old);
        }
        self.ended.push_back(key);
        self.ended_keys.insert(key, ());
    }
}

/// The interface a header names, as a binding whose source says which PDU named it.
/// The record of a PDU (`rpcscope pdus`) from `src` to `dst`, completed at `at`; `ends` are the
/// client and server of its call when the call is open. Without them the type says who sent
/// it: requests, pings, acks and cancels come from the client, a fack from the client too (it
/// acknowledges response fragments more often than the server acknowledges request ones), the
/// rest from the server.
fn record(
    h: &Header,
    payload: &[u8],
    (src, dst): (SocketAddr, SocketAddr),
    ends: Option<(SocketAddr, SocketAddr)>,
    at: Origin,
) -> PduRecord {
    let from_client = match ends {
        Some((client, server)) if src != dst => src == client || dst == server,
        _ => matches!(
            h.ptype,
            ptype::REQUEST | ptype::PING | ptype::ACK | ptype::CL_CANCEL | ptype::FACK
        ),
    };
    let (client, server) = if from_client { (src, dst) } else { (dst, src) };
    let body = payload
        .get(HEADER_LEN..HEADER_LEN + usize::from(h.body_len))
        .unwrap_or(&[]);
    let status = matches!(h.ptype, ptype::FAULT | ptype::REJECT)
        .then(|| status_of(h, body))
        .flatten();
    let verifier = payload
        .len()
        .saturating_sub(HEADER_LEN + usize::from(h.body_len));
    PduRecord {
        frame: at.frame,
        ts: at.ts,
        client,
        server,
        transport: TRANSPORT,
        pipe: None,
        file_id: None,
        from_client,
        ptype: PacketType(h.ptype),
        flags: PfcFlags(0),
        call_id: h.seqnum,
        frag_len: u16::try_from(HEADER_LEN + usize::from(h.body_len)).unwrap_or(u16::MAX),
        auth_len: u16::try_from(verifier).unwrap_or(u16::MAX),
        little_endian: h.little_endian,
        auth: None,
        stub_len: if matches!(h.ptype, ptype::REQUEST | ptype::RESPONSE) {
            u32::from(h.body_len)
        } else {
            0
        },
        body: Body::Other,
        datagram: Some(DatagramFields {
            flags1: h.flags1,
            flags2: h.flags2,
            activity: h.activity,
            interface: h.syntax(),
            object: object(h),
            opnum: h.opnum,
            fragnum: h.fragnum,
            serial: h.serial,
            body_len: h.body_len,
            auth_proto: h.auth_proto,
            status,
        }),
    }
}

/// The status a fault's or reject's body starts with, in the header's byte order.
fn status_of(h: &Header, body: &[u8]) -> Option<u32> {
    let b: [u8; 4] = body.get(..4)?.try_into().ok()?;
    Some(if h.little_endian {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    })
}

fn bound(abstract_syntax: SyntaxId, from_request: bool) -> BoundContext {
    BoundContext {
        abstract_syntax,
        transfer: None,
        source: if from_request { "request" } else { "response" },
    }
}

/// The protection level at the start of an authenticated PDU's verifier, when it reads as one.
fn verifier_level(h: &Header, payload: &[u8]) -> u8 {
    if h.auth_proto == 0 {
        return 0;
    }
    payload
        .get(HEADER_LEN + usize::from(h.body_len))
        .copied()
        .filter(|l| (1..=6).contains(l))
        .unwrap_or(0)
}

/// The object UUID of a header, unless nil.
fn object(h: &Header) -> Option<Uuid> {
    (h.object != Uuid::default()).then_some(h.object)
}
