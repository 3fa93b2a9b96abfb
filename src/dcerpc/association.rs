//! Association state (C706 §12.4, MS-RPCE §3.3.1.5): presentation contexts negotiated by
//! bind / alter_context and their acks, and the calls of the association. Requests and responses
//! are joined per call_id; fragments are counted per call (the stub bytes are measured, not
//! kept, so a call of any size is followed); a call ends with its last response fragment, a
//! fault, a new request reusing its call_id, or the end of the association.
//!
//! Limits: [`MAX_OPEN_CALLS`] calls awaiting completion, [`MAX_PENDING_BINDS`] unanswered binds
//! and [`MAX_CONTEXTS`] presentation contexts per association; reaching one evicts the oldest
//! entry and records a `limit_*` anomaly.

use crate::auth::keys::Keyring;
use crate::hash::FastMap;
use std::net::SocketAddr;

use super::codes::{
    PacketType, auth_level_name, auth_type_name, bind_nak_reason_name, context_result_name,
    fault_name, provider_reason_name,
};
use super::framing::{FrameEvent, FramedPdu};
use super::names;
use super::pdu::{Body, ContextElement, Header, parse_pdu};
use super::security::{MAX_AUTH_CONTEXTS, Protection, Security};
use super::{SyntaxId, TransferKind, Uuid};
use std::sync::Arc;

use crate::dcom::{self, OxidView};
use crate::epm::resolver::{Expectation, Learned};
use crate::epm::{self, EpmView};
use crate::event::{CallRecord, InterfaceRef, PduNote, PduSpan};
use crate::idl::decode::{PipeReport, PipeStream, in_pipes_offset};
use crate::idl::objref::class_name;
use crate::idl::plan::{OpPlan, PipeSpec};
use crate::idl::values::{CallStubs, Decoded, Direction, SideStub, StubBytes, decode_call};
use crate::idl::{Interface, Library, table};
use crate::ndr::{LimitsHit, Syntax};
use crate::netlogon;
use crate::outbox::Outbox;
use crate::report::Tally;
use crate::status::Status;
use crate::tcp::{Dir, Origin};

/// Calls awaiting completion per association.
pub const MAX_OPEN_CALLS: usize = 4096;
/// Unanswered bind / alter_context PDUs remembered per association.
pub const MAX_PENDING_BINDS: usize = 64;
/// Presentation contexts per association.
pub const MAX_CONTEXTS: usize = 1024;
/// Bytes kept of the first request and first response PDU of each call, for the PDU detail view
/// (header, body header and object UUID fit).
pub const PDU_HEAD_BYTES: usize = 64;

/// Stub bytes kept per call for the decoders of the endpoint mapper and DCOM answers (1 MiB);
/// a longer stub is not decoded and the call says so.
pub const MAX_DECODE_STUB_BYTES: usize = 1024 * 1024;

/// Which decoder a call's stubs are kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoder {
    Epm,
    Oxid,
    /// IRemUnknown(2)::RemQueryInterface: IIDs asked for and IPIDs created.
    RemQueryInterface,
    /// Any other DCOM (ORPC) call: its answer may create interface pointers.
    Objrefs,
    /// A Netlogon secure-channel setup or password call: its challenges and credentials.
    Netlogon,
    /// A call whose parameters are decoded with its IDL description only.
    Parameters,
}

/// The pipes of a call whose interface an IDL describes.
#[derive(Debug)]
struct CallPipes {
    plan: Arc<OpPlan>,
    /// \[in\] parameters buffered until the start of the \[in\] pipes is known.
    prefix: Vec<u8>,
    prefix_frame: u64,
    request: Option<PipeStream>,
    response: PipeStream,
    little_endian: bool,
    ndr64: bool,
    undecodable: bool,
}

impl CallPipes {
    fn new(plan: Arc<OpPlan>, little_endian: bool, ndr64: bool) -> Self {
        let response = PipeStream::new(&plan.out_pipes, "out", 0, little_endian, ndr64, false);
        Self {
            plan,
            prefix: Vec::new(),
            prefix_frame: 0,
            request: None,
            response,
            little_endian,
            ndr64,
            undecodable: false,
        }
    }

    fn request_bytes(&mut self, stub: &[u8], frame: u64) {
        if let Some(r) = self.request.as_mut() {
            r.feed(stub, frame);
            return;
        }
        if self.undecodable || self.plan.in_pipes.is_empty() {
            return;
        }
        if self.prefix.is_empty() {
            self.prefix_frame = frame;
        }
        self.prefix.extend_from_slice(stub);
        let syntax = if self.ndr64 {
            Syntax::Ndr64
        } else {
            Syntax::Ndr
        };
        match in_pipes_offset(&self.plan, &self.prefix, self.little_endian, syntax) {
            Ok(Some(start)) => {
                let mut r = PipeStream::new(
                    &self.plan.in_pipes,
                    "in",
                    start as u64,
                    self.little_endian,
                    self.ndr64,
                    false,
                );
                r.feed(&self.prefix, self.prefix_frame);
                self.prefix = Vec::new();
                self.request = Some(r);
            }
            Ok(None) => {}
            Err(_) => {
                self.undecodable = true;
                self.prefix = Vec::new();
            }
        }
    }

    fn reports(
        self,
        request_ended: bool,
        response_ended: bool,
        fault: Option<&str>,
    ) -> Vec<PipeReport> {
        let mut out = match self.request {
            Some(r) => r.finish(request_ended, fault),
            None if self.plan.in_pipes.is_empty() => Vec::new(),
            None => {
                let mut r = PipeStream::new(
                    &self.plan.in_pipes,
                    "in",
                    0,
                    self.little_endian,
                    self.ndr64,
                    false,
                )
                .finish(false, fault);
                for p in &mut r {
                    p.anomalies = vec!["undecodable_parameters".into()];
                }
                r
            }
        };
        out.extend(self.response.finish(response_ended, fault));
        out
    }
}

/// Stub offsets where the heuristic detector looks for an [in] byte pipe: right at the start,
/// after one 32-bit parameter, and after a context handle.
const GUESS_REQUEST_STARTS: [u64; 3] = [0, 4, 20];

/// The heuristic byte-pipe detector of a call no IDL describes: candidate decoders of the
/// request (at [`GUESS_REQUEST_STARTS`]) and of the response (from its start, [out] pipes
/// coming first).
#[derive(Debug)]
struct PipeGuess {
    request: Vec<PipeStream>,
    response: PipeStream,
}

impl PipeGuess {
    fn new(little_endian: bool) -> Self {
        let byte = [PipeSpec {
            param: String::new(),
            element_type: String::new(),
            element: (1, 1),
        }];
        Self {
            request: GUESS_REQUEST_STARTS
                .iter()
                .map(|&s| PipeStream::new(&byte, "in", s, little_endian, false, true))
                .collect(),
            response: PipeStream::new(&byte, "out", 0, little_endian, false, true),
        }
    }

    /// Pipes that look whole: an [in] pipe that ends the request, or an [out] pipe followed by
    /// only a 32-bit return value; each with at least two chunks.
    fn reports(self, request_ended: bool, response_ended: bool) -> Option<Vec<PipeReport>> {
        let mut out = Vec::new();
        if request_ended && let Some(r) = self.request.into_iter().find(|r| r.looks_whole(2, 0)) {
            out.extend(r.finish(true, None));
        }
        if response_ended && self.response.looks_whole(2, 4) {
            out.extend(self.response.finish(true, None));
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Stub bytes of a call that will be decoded when it ends.
#[derive(Debug)]
struct Stubs {
    decoder: Decoder,
    syntax: Syntax,
    request: Vec<u8>,
    response: Vec<u8>,
    /// Byte order of the request and of the response.
    little_endian: [bool; 2],
    over_limit: bool,
    /// Decode the parameters with the IDL description too (`--decode`).
    parameters: bool,
}

impl Stubs {
    fn add(&mut self, response: bool, bytes: &[u8], little_endian: bool) {
        if !response && self.decoder == Decoder::Objrefs && !self.parameters {
            return;
        }
        let buf = if response {
            &mut self.response
        } else {
            &mut self.request
        };
        if buf.len() + bytes.len() > MAX_DECODE_STUB_BYTES {
            self.over_limit = true;
            return;
        }
        if buf.is_empty() {
            self.little_endian[usize::from(response)] = little_endian;
        }
        buf.extend_from_slice(bytes);
    }
}

/// A presentation context in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BoundContext {
    abstract_syntax: SyntaxId,
    transfer: Option<SyntaxId>,
    source: &'static str,
}

#[derive(Debug)]
struct PendingBind {
    call_id: u32,
    alter: bool,
    contexts: Vec<ContextElement>,
    seq: u64,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    first: Origin,
    last: Origin,
    fragments: u32,
    stub_len: u64,
    saw_first: bool,
    saw_last: bool,
    damaged: bool,
}

impl Span {
    fn new(pdu: &FramedPdu<'_>, stub_len: usize, saw_first: bool, saw_last: bool) -> Self {
        Self {
            first: pdu.first,
            last: pdu.last,
            fragments: 1,
            stub_len: stub_len as u64,
            saw_first,
            saw_last,
            damaged: pdu.damaged,
        }
    }

    fn add(&mut self, pdu: &FramedPdu<'_>, stub_len: usize, saw_last: bool) {
        self.fragments += 1;
        self.stub_len += stub_len as u64;
        if pdu.last.frame >= self.last.frame {
            self.last = pdu.last;
        }
        self.saw_last |= saw_last;
        self.damaged |= pdu.damaged;
    }

    fn public(&self) -> PduSpan {
        PduSpan {
            frames: [self.first.frame, self.last.frame],
            fragments: self.fragments,
            stub_len: self.stub_len,
        }
    }
}

#[derive(Debug)]
struct Call {
    seq: u64,
    /// Frame of the call's first byte: its place in the output order.
    first_frame: u64,
    call_id: u32,
    context_id: u16,
    opnum: Option<u16>,
    object: Option<Uuid>,
    binding: Option<BoundContext>,
    client_dir: Dir,
    request: Option<Span>,
    response: Option<Span>,
    fault: Option<u32>,
    auth: Option<(u8, u8)>,
    response_may_be_lost: bool,
    stubs: Option<Box<Stubs>>,
    /// First bytes of the first request and response PDUs (for the PDU detail view).
    heads: [Vec<u8>; 2],
    pipes: Option<Box<CallPipes>>,
    guess: Option<Box<PipeGuess>>,
    verifier: Option<(u8, u8, u8, u32, u16)>,
    /// The last bytes of the response stub, where the return value is.
    tail: StubTail,
    /// What the security layer did with the call's PDUs.
    protection: Protection,
}

impl Call {
    /// A PDU of the call stayed sealed: nothing of its stubs can be decoded.
    fn forget_stubs(&mut self) {
        self.stubs = None;
        self.pipes = None;
        self.guess = None;
    }

    /// Faulted while its request's first fragment was seen and its last one not yet: the
    /// rest of the request still belongs to it.
    fn awaits_request_end(&self) -> bool {
        self.fault.is_some() && self.request.is_some_and(|r| r.saw_first && !r.saw_last)
    }
}

/// The last four bytes of a response stub over all its fragments (NDR marshals an
/// operation's return value last; C706 §14.3.3), unless a fragment was sealed.
#[derive(Clone, Copy, Debug, Default)]
struct StubTail {
    bytes: [u8; 4],
    len: usize,
    little_endian: bool,
    sealed: bool,
}

impl StubTail {
    fn add(&mut self, stub: &[u8], little_endian: bool, sealed: bool) {
        self.sealed |= sealed;
        self.little_endian = little_endian;
        for &b in stub.iter().rev().take(4).rev() {
            self.bytes.rotate_left(1);
            self.bytes[3] = b;
        }
        self.len = (self.len + stub.len()).min(4);
    }

    /// The return value, when four clear bytes were seen.
    fn value(&self) -> Option<u32> {
        (self.len == 4 && !self.sealed).then(|| {
            if self.little_endian {
                u32::from_le_bytes(self.bytes)
            } else {
                u32::from_be_bytes(self.bytes)
            }
        })
    }
}

/// Transport facts an association reports with each call.
#[derive(Clone, Debug)]
pub struct TransportInfo {
    /// `ncacn_ip_tcp`, `ncacn_np`, ...
    pub transport: &'static str,
    /// Pipe name for named pipes.
    pub pipe: Option<String>,
    /// SMB FileId (or FID) of a named pipe.
    pub file_id: Option<String>,
    /// What an endpoint-mapper or OXID answer announced for this endpoint: its interface is
    /// used when no bind was captured.
    pub expected: Option<Expectation>,
    /// Interface descriptions (IDL) for decoding pipes.
    pub library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing.
    pub keys: Option<Arc<Keyring>>,
    /// Sender address of each direction, indexed by [`Dir::index`].
    pub senders: [SocketAddr; 2],
}

/// One association: contexts and calls.
#[derive(Debug)]
pub struct Association {
    info: TransportInfo,
    /// Where the pipe name came from: `create` (the SMB open) or `sec_addr` (a bind_ack).
    pipe_source: Option<&'static str>,
    contexts: FastMap<u16, BoundContext>,
    /// Contexts the server refused, by the interface the client offered: a client may send
    /// requests on them anyway (they are faulted), and what they ask is still worth reading.
    refused: FastMap<u16, BoundContext>,
    pending: Vec<PendingBind>,
    calls: FastMap<u32, Call>,
    /// (seq, call_id) of the calls as they were opened, oldest first, to evict the oldest in
    /// O(1) when [`MAX_OPEN_CALLS`] are open; entries of calls since ended are skipped (and
    /// dropped when they outnumber the open calls).
    opened: std::collections::VecDeque<(u64, u32)>,
    seq: u64,
    security: Security,
}

impl Association {
    /// A new association over the given transport.
    #[must_use]
    pub fn new(info: TransportInfo) -> Self {
        Self {
            pipe_source: info.pipe.as_ref().map(|_| "create"),
            security: Security::new(info.keys.clone()),
            info,
            contexts: FastMap::default(),
            refused: FastMap::default(),
            pending: Vec::new(),
            calls: FastMap::default(),
            opened: std::collections::VecDeque::new(),
            seq: 0,
        }
    }

    /// Handles one framing event from direction `dir`; completed calls go to `calls`.
    pub fn on_event(
        &mut self,
        dir: Dir,
        event: FrameEvent<'_>,
        tally: &mut Tally,
        calls: &mut Outbox,
    ) {
        match event {
            FrameEvent::Pdu(p) => self.on_pdu(dir, &p, tally, calls),
            FrameEvent::Truncated { header, first } => {
                tally.count("pdus_truncated_by_gap");
                self.security.on_truncated(
                    dir,
                    header.ptype,
                    header.frag_len,
                    header.auth_len,
                    header.flags.object_uuid(),
                );
                self.on_truncated(dir, header, first, calls);
            }
            FrameEvent::Lost => {
                self.security.on_lost(dir);
                self.on_lost(dir);
            }
            FrameEvent::Skipped { bytes, reason } => {
                let name = match reason {
                    "start" => "bytes_skipped_before_first_pdu",
                    "gap" => "bytes_skipped_resyncing_after_gap",
                    _ => "bytes_skipped_after_bad_header",
                };
                tally.add(name, bytes);
                if reason == "bad_header" {
                    tally.anomaly("lost_sync", 0, || {
                        format!("impossible PDU header; {bytes} bytes skipped to the next header")
                    });
                }
            }
        }
    }

    fn on_pdu(&mut self, dir: Dir, p: &FramedPdu<'_>, tally: &mut Tally, calls: &mut Outbox) {
        let pdu = match parse_pdu(p.bytes) {
            Ok(pdu) => pdu,
            Err(e) => {
                tally.count("pdus_malformed");
                tally.anomaly("malformed_pdu", p.last.frame, || e.to_string());
                return;
            }
        };
        let h = pdu.header;
        let unsealed = match pdu.body {
            Body::Request(_) | Body::Response(_) => self.security.on_protected(dir, &pdu, p.bytes),
            Body::Fault(_) | Body::BindNak(_) => Default::default(),
            _ => {
                if !self.security.on_handshake(&pdu, p.bytes) {
                    tally.anomaly("limit_auth_contexts", p.last.frame, || {
                        format!("more than {MAX_AUTH_CONTEXTS} auth contexts on one association")
                    });
                }
                Default::default()
            }
        };
        let unreadable = unsealed.protection.unreadable();
        let stub = unsealed
            .bytes
            .as_deref()
            .unwrap_or(p.bytes)
            .get(pdu.stub.clone())
            .unwrap_or(&[]);
        *tally.pdus.entry(h.ptype.to_string()).or_default() += 1;
        if !h.little_endian() {
            tally.count("big_endian_pdus");
        }
        if p.damaged {
            tally.anomaly("pdu_with_missing_bytes", p.last.frame, || {
                format!("{} call_id {} lost bytes in a TCP gap", h.ptype, h.call_id)
            });
        }
        if pdu.bad_auth_pad {
            tally.anomaly("bad_auth_pad", p.last.frame, || {
                format!(
                    "{} call_id {}: auth pad longer than the stub",
                    h.ptype, h.call_id
                )
            });
        }
        self.seq += 1;
        let stub_len = pdu.stub_len();
        if calls.wants_notes()
            && let Some(text) = describe(&pdu)
        {
            let from_client = h.ptype.is_from_client();
            let client_dir = if from_client { dir } else { dir.reverse() };
            calls.note(PduNote {
                frame: p.last.frame,
                client: self.info.senders[client_dir.index()].to_string(),
                server: self.info.senders[client_dir.reverse().index()].to_string(),
                transport: self.info.transport,
                file_id: self.info.file_id.clone(),
                ptype: h.ptype.to_string(),
                from_client,
                text,
            });
        }
        match &pdu.body {
            Body::Bind(b) | Body::AlterContext(b) => {
                let alter = matches!(pdu.body, Body::AlterContext(_));
                if self.pending.len() >= MAX_PENDING_BINDS {
                    self.pending.remove(0);
                    tally.anomaly("limit_pending_binds", p.last.frame, || {
                        format!("more than {MAX_PENDING_BINDS} unanswered binds")
                    });
                }
                self.pending.push(PendingBind {
                    call_id: h.call_id,
                    alter,
                    contexts: b.contexts.clone(),
                    seq: self.seq,
                });
            }
            Body::BindAck(a) | Body::AlterContextResp(a) => {
                let alter = matches!(pdu.body, Body::AlterContextResp(_));
                if self.info.transport == "ncacn_np"
                    && self.info.pipe.is_none()
                    && !a.sec_addr.is_empty()
                {
                    // The open was not captured: the server names its end of the pipe.
                    self.info.pipe = Some(String::from_utf8_lossy(&a.sec_addr).into_owned());
                    self.pipe_source = Some("sec_addr");
                }
                let Some(pending) = self.take_pending(h.call_id, alter) else {
                    tally.count("acks_without_bind");
                    return;
                };
                if !alter {
                    self.contexts.clear();
                    self.refused.clear();
                }
                let source = if alter { "alter_context" } else { "bind" };
                for (i, elem) in pending.contexts.iter().enumerate() {
                    match a.results.get(i) {
                        Some(r) if r.result == 0 => {
                            tally.count("contexts_accepted");
                            let new = BoundContext {
                                abstract_syntax: elem.abstract_syntax,
                                transfer: Some(r.transfer_syntax),
                                source,
                            };
                            let same = self
                                .contexts
                                .get(&elem.context_id)
                                .is_some_and(|old| old.abstract_syntax == new.abstract_syntax);
                            if !same {
                                self.insert_context(elem.context_id, new, p.last.frame, tally);
                            }
                        }
                        Some(r) if r.result == 3 => tally.count("contexts_feature_negotiation"),
                        Some(r) => {
                            tally.count("contexts_rejected");
                            if self.refused.len() < MAX_CONTEXTS
                                && !self.contexts.contains_key(&elem.context_id)
                            {
                                self.refused.insert(
                                    elem.context_id,
                                    BoundContext {
                                        abstract_syntax: elem.abstract_syntax,
                                        transfer: elem.transfer_syntaxes.first().copied(),
                                        source: "refused",
                                    },
                                );
                            }
                            let name = format!(
                                "{}/{}",
                                context_result_name(r.result),
                                provider_reason_name(r.reason)
                            );
                            *tally.rejections.entry(name).or_default() += 1;
                        }
                        None => {}
                    }
                }
            }
            Body::BindNak(nak) => {
                tally.count("bind_naks");
                let name = format!("bind_nak/{}", bind_nak_reason_name(nak.reason));
                *tally.rejections.entry(name).or_default() += 1;
                if let Some(i) = self.pending.iter().position(|b| b.call_id == h.call_id) {
                    self.pending.remove(i);
                }
            }
            Body::Request(r) => {
                let (first, last) = (h.flags.first(), h.flags.last());
                let existing = self.calls.remove(&h.call_id);
                // A call faulted while its request was still arriving keeps the rest of its
                // request fragments (the client may still be sending an [in] pipe).
                let continuing = !first
                    && existing.as_ref().is_some_and(|c| {
                        c.request.is_some() && (c.response.is_none() || c.awaits_request_end())
                    });
                if continuing {
                    if let Some(mut c) = existing {
                        if let Some(span) = c.request.as_mut() {
                            span.add(p, stub_len, last);
                        }
                        c.protection.merge(unsealed.protection);
                        if unreadable {
                            c.forget_stubs();
                        }
                        if let Some(st) = c.stubs.as_mut() {
                            st.add(false, stub, h.little_endian());
                        }
                        if let Some(pp) = c.pipes.as_mut() {
                            pp.request_bytes(stub, p.first.frame);
                        }
                        if let Some(g) = c.guess.as_mut() {
                            g.request
                                .iter_mut()
                                .for_each(|r| r.feed(stub, p.first.frame));
                        }
                        if c.fault.is_some() && last {
                            self.finish(c, calls);
                        } else {
                            self.calls.insert(h.call_id, c);
                        }
                    }
                } else {
                    if let Some(old) = existing {
                        self.finish(old, calls);
                    }
                    let binding = self.binding_for(r.context_id, r.object, calls);
                    let auth = pdu.auth.map(|a| (a.auth_type, a.auth_level));
                    // The flag first: most runs decode no parameters, and finding the
                    // description is a search per call.
                    let parameters = self
                        .info
                        .library
                        .as_ref()
                        .is_some_and(|l| l.decode_parameters)
                        && self.described(binding).is_some();
                    let stubs = decoder_for(binding, r.opnum, r.object, unreadable, parameters)
                        .map(|(decoder, syntax)| {
                            let mut st = Box::new(Stubs {
                                decoder,
                                syntax,
                                request: Vec::new(),
                                response: Vec::new(),
                                little_endian: [true, true],
                                over_limit: false,
                                parameters,
                            });
                            st.add(false, stub, h.little_endian());
                            st
                        });
                    let call = Call {
                        seq: self.seq,
                        first_frame: p.first.frame,
                        call_id: h.call_id,
                        context_id: r.context_id,
                        opnum: Some(r.opnum),
                        object: r.object,
                        binding,
                        client_dir: dir,
                        request: Some(Span::new(p, stub_len, first, last)),
                        response: None,
                        fault: None,
                        auth,
                        response_may_be_lost: false,
                        stubs,
                        heads: Default::default(),
                        pipes: None,
                        guess: None,
                        verifier: None,
                        tail: StubTail::default(),
                        protection: Protection::default(),
                    };
                    let mut call = call;
                    call.protection = unsealed.protection;
                    call.heads[0] = head(p.bytes);
                    call.verifier = pdu.auth.map(|a| {
                        (
                            a.auth_type,
                            a.auth_level,
                            a.pad_len,
                            a.context_id,
                            a.value_len,
                        )
                    });
                    call.pipes = self
                        .pipes_for(binding, r.opnum, h.little_endian())
                        .filter(|_| !unreadable)
                        .map(|mut pp| {
                            pp.request_bytes(stub, p.first.frame);
                            Box::new(pp)
                        });
                    if call.pipes.is_none() && !unreadable {
                        let mut g = PipeGuess::new(h.little_endian());
                        g.request
                            .iter_mut()
                            .for_each(|r| r.feed(stub, p.first.frame));
                        call.guess = Some(Box::new(g));
                    }
                    calls.opened(call.first_frame);
                    self.insert_call(call, calls);
                }
            }
            Body::Response(r) => {
                let (first, last) = (h.flags.first(), h.flags.last());
                let mut c = self.call_for_reply(h, dir, r.context_id, p.first.frame, calls);
                match c.response.as_mut() {
                    Some(span) if !first => span.add(p, stub_len, last),
                    _ => {
                        c.response = Some(Span::new(p, stub_len, first, last));
                        c.heads[1] = head(p.bytes);
                        c.tail = StubTail::default();
                    }
                }
                c.tail.add(stub, h.little_endian(), unreadable);
                c.protection.merge(unsealed.protection);
                if unreadable {
                    c.forget_stubs();
                }
                if let Some(st) = c.stubs.as_mut() {
                    if first {
                        st.response.clear();
                    }
                    st.add(true, stub, h.little_endian());
                }
                if let Some(pp) = c.pipes.as_mut() {
                    pp.response.feed(stub, p.first.frame);
                }
                if let Some(g) = c.guess.as_mut() {
                    g.response.feed(stub, p.first.frame);
                }
                if last {
                    self.finish(c, calls);
                } else {
                    self.calls.insert(c.call_id, c);
                }
            }
            Body::Fault(f) => {
                let pending_bind = self.pending.iter().position(|b| b.call_id == h.call_id);
                let call_seq = self.calls.get(&h.call_id).map(|c| c.seq);
                if let Some(i) = pending_bind
                    && call_seq.is_none_or(|s| self.pending.get(i).is_some_and(|b| b.seq > s))
                {
                    self.pending.remove(i);
                    tally.count("faults_answering_binds");
                    return;
                }
                let mut c = self.call_for_reply(h, dir, f.context_id, p.first.frame, calls);
                c.response = Some(Span::new(p, stub_len, true, true));
                c.heads[1] = head(p.bytes);
                c.fault = Some(f.status);
                if c.awaits_request_end() {
                    tally.count("faults_before_request_end");
                    self.calls.insert(c.call_id, c);
                } else {
                    self.finish(c, calls);
                }
            }
            Body::Other => match h.ptype {
                PacketType::ORPHANED | PacketType::CO_CANCEL => {
                    tally.count(if h.ptype == PacketType::ORPHANED {
                        "orphaned"
                    } else {
                        "co_cancels"
                    });
                }
                _ => {}
            },
        }
    }

    fn insert_context(&mut self, id: u16, ctx: BoundContext, frame: u64, tally: &mut Tally) {
        if !self.contexts.contains_key(&id) && self.contexts.len() >= MAX_CONTEXTS {
            tally.anomaly("limit_contexts", frame, || {
                format!("more than {MAX_CONTEXTS} presentation contexts")
            });
            return;
        }
        self.refused.remove(&id);
        self.contexts.insert(id, ctx);
    }

    fn take_pending(&mut self, call_id: u32, alter: bool) -> Option<PendingBind> {
        let exact = self
            .pending
            .iter()
            .position(|b| b.call_id == call_id && b.alter == alter);
        let idx = exact.or_else(|| {
            self.pending
                .iter()
                .enumerate()
                .filter(|(_, b)| b.alter == alter)
                .max_by_key(|(_, b)| b.seq)
                .map(|(i, _)| i)
        })?;
        Some(self.pending.remove(idx))
    }

    /// The context in force for `context_id`, or one proposed by a bind not yet answered, or,
    /// with no bind at all, the interface a DCOM answer created the request's IPID for, the one
    /// an endpoint-mapper answer announced, or the one usually reached through the pipe.
    fn binding_for(
        &self,
        context_id: u16,
        object: Option<Uuid>,
        queue: &Outbox,
    ) -> Option<BoundContext> {
        if let Some(c) = self.contexts.get(&context_id) {
            return Some(*c);
        }
        let proposed = self.pending.iter().rev().find_map(|b| {
            b.contexts
                .iter()
                .find(|e| e.context_id == context_id)
                .map(|e| BoundContext {
                    abstract_syntax: e.abstract_syntax,
                    transfer: e.transfer_syntaxes.first().copied(),
                    source: if b.alter { "alter_context" } else { "bind" },
                })
        });
        if proposed.is_some() {
            return proposed;
        }
        if let Some(c) = self.refused.get(&context_id) {
            return Some(*c);
        }
        if let Some(iid) = object.and_then(|o| queue.ipid_interface(o)) {
            return Some(BoundContext {
                abstract_syntax: SyntaxId {
                    uuid: iid,
                    major: 0,
                    minor: 0,
                },
                transfer: None,
                source: "ipid",
            });
        }
        if !self.contexts.is_empty() {
            return None;
        }
        if let Some(abstract_syntax) = self.info.expected.and_then(|e| e.interface) {
            return Some(BoundContext {
                abstract_syntax,
                transfer: None,
                source: "epm",
            });
        }
        let (uuid, major, minor) = names::interface_for_pipe(self.info.pipe.as_deref()?)?;
        Some(BoundContext {
            abstract_syntax: SyntaxId { uuid, major, minor },
            transfer: None,
            source: "pipe_name",
        })
    }

    /// The open call a response or fault answers, or a new call seen only by its answer.
    fn call_for_reply(
        &mut self,
        h: Header,
        dir: Dir,
        context_id: u16,
        first_frame: u64,
        queue: &mut Outbox,
    ) -> Call {
        if let Some(c) = self.calls.remove(&h.call_id) {
            return c;
        }
        queue.opened(first_frame);
        self.make_room(self.seq, h.call_id, queue);
        let binding = self.binding_for(context_id, None, queue);
        Call {
            seq: self.seq,
            first_frame,
            call_id: h.call_id,
            context_id,
            opnum: None,
            object: None,
            binding,
            client_dir: dir.reverse(),
            request: None,
            response: None,
            fault: None,
            auth: None,
            response_may_be_lost: false,
            stubs: None,
            heads: Default::default(),
            pipes: None,
            guess: None,
            verifier: None,
            tail: StubTail::default(),
            protection: Protection::default(),
        }
    }

    /// Opens a new call.
    fn insert_call(&mut self, call: Call, calls: &mut Outbox) {
        self.make_room(call.seq, call.call_id, calls);
        self.calls.insert(call.call_id, call);
    }

    /// Registers a call about to be opened (not yet in `calls`); at [`MAX_OPEN_CALLS`] the
    /// oldest open call is ended first.
    fn make_room(&mut self, seq: u64, call_id: u32, calls: &mut Outbox) {
        if self.calls.len() >= MAX_OPEN_CALLS
            && let Some(c) = self.take_oldest()
        {
            calls.anomaly("limit_open_calls", 0, || {
                format!("more than {MAX_OPEN_CALLS} calls awaiting an answer")
            });
            self.finish(c, calls);
        }
        if self.opened.len() >= 2 * MAX_OPEN_CALLS {
            let open = &self.calls;
            self.opened
                .retain(|(seq, id)| open.get(id).is_some_and(|c| c.seq == *seq));
        }
        self.opened.push_back((seq, call_id));
    }

    /// Takes out the open call opened first.
    fn take_oldest(&mut self) -> Option<Call> {
        while let Some((seq, id)) = self.opened.pop_front() {
            if self.calls.get(&id).is_some_and(|c| c.seq == seq) {
                return self.calls.remove(&id);
            }
        }
        None
    }

    fn on_truncated(&mut self, dir: Dir, header: Header, first: Origin, queue: &mut Outbox) {
        let span = Span {
            first,
            last: first,
            fragments: 1,
            stub_len: 0,
            saw_first: header.flags.first(),
            saw_last: false,
            damaged: true,
        };
        match header.ptype {
            PacketType::REQUEST => {
                if let Some(c) = self.calls.get_mut(&header.call_id)
                    && c.response.is_none()
                {
                    if let Some(r) = c.request.as_mut() {
                        r.damaged = true;
                        r.fragments += 1;
                    }
                    return;
                }
                if header.flags.first() {
                    self.seq += 1;
                    queue.opened(first.frame);
                    self.insert_call(
                        Call {
                            seq: self.seq,
                            first_frame: first.frame,
                            call_id: header.call_id,
                            context_id: 0,
                            opnum: None,
                            object: None,
                            binding: None,
                            client_dir: dir,
                            request: Some(span),
                            response: None,
                            fault: None,
                            auth: None,
                            response_may_be_lost: false,
                            stubs: None,
                            heads: Default::default(),
                            pipes: None,
                            guess: None,
                            verifier: None,
                            tail: StubTail::default(),
                            protection: Protection::default(),
                        },
                        queue,
                    );
                }
            }
            PacketType::RESPONSE | PacketType::FAULT => {
                let mut c = self.call_for_reply(header, dir, 0, first.frame, queue);
                match c.response.as_mut() {
                    Some(r) => {
                        r.damaged = true;
                        r.fragments += 1;
                    }
                    None => c.response = Some(span),
                }
                self.calls.insert(c.call_id, c);
            }
            _ => {}
        }
    }

    /// Bytes of unknown content were lost in direction `dir`: calls that were sending
    /// fragments in that direction lost some; calls awaiting an answer may have lost it.
    fn on_lost(&mut self, dir: Dir) {
        for c in self.calls.values_mut() {
            if c.client_dir == dir {
                if let Some(r) = c.request.as_mut()
                    && !r.saw_last
                {
                    r.damaged = true;
                }
            } else if let Some(r) = c.response.as_mut() {
                r.damaged = true;
            } else {
                c.response_may_be_lost = true;
            }
        }
    }

    /// Ends the association: every call still open is reported.
    pub fn finish_all(&mut self, calls: &mut Outbox) {
        let mut open: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        open.sort_by_key(|c| c.seq);
        for c in open {
            self.finish(c, calls);
        }
    }

    fn finish(&self, mut c: Call, queue: &mut Outbox) {
        let first_frame = c.first_frame;
        let stubs = c.stubs.take();
        let pipes = c.pipes.take();
        let guess = c.guess.take();
        let mut record = self.record(&c);
        let req_ended = c.request.is_some_and(|r| r.saw_last && !r.damaged);
        let resp_ended = c.response.is_some_and(|r| r.saw_last && !r.damaged) && c.fault.is_none();
        if let Some(pp) = pipes {
            record.pipes = Some(pp.reports(req_ended, resp_ended, record.fault_name.as_deref()));
        } else if let Some(g) = guess {
            record.pipes = g.reports(req_ended, resp_ended);
        }
        if let Some(st) = stubs {
            if st.over_limit {
                queue.anomaly("limit_decode_stub_bytes", first_frame, || {
                    format!("a stub longer than {MAX_DECODE_STUB_BYTES} bytes was not decoded")
                });
            }
            self.decode(&c, &st, &mut record, queue);
            if st.parameters {
                self.decode_parameters(&c, *st, &mut record);
            }
            let mut limits = LimitsHit::default();
            for hit in [
                record.epm.as_ref().map(|v| v.limits),
                record.oxid.as_ref().map(|v| v.limits),
                record.decoded.as_ref().map(|d| d.limits),
            ]
            .into_iter()
            .flatten()
            {
                limits.merge(hit);
            }
            for kind in limits.kinds() {
                let op = record.operation.as_deref().unwrap_or("?");
                queue.anomaly(kind, first_frame, || {
                    format!("decoding {op} stopped at a limit")
                });
            }
        }
        queue.finished(record, first_frame);
    }

    /// Decodes an endpoint-mapper or DCOM call; endpoints in its answer go to `queue`.
    fn decode(&self, c: &Call, st: &Stubs, record: &mut CallRecord, queue: &mut Outbox) {
        let (Some(opnum), Some(req)) = (c.opnum, c.request) else {
            return;
        };
        let answered = c.fault.is_none() && c.response.is_some_and(|r| r.saw_last && !r.damaged);
        if req.damaged {
            return;
        }
        let client = self.info.senders[c.client_dir.index()];
        let server = self.info.senders[c.client_dir.reverse().index()];
        let learn = |queue: &mut Outbox, endpoint: crate::epm::tower::Endpoint, via| {
            if let Some(r) = c.response {
                queue.learn(Learned {
                    frame: r.last.frame,
                    ts: r.last.ts,
                    via,
                    endpoint,
                    answered_by: server,
                    asked_by: client,
                });
            }
        };
        let request = StubBytes {
            bytes: &st.request,
            direction: Direction::In,
            little_endian: st.little_endian[0],
            syntax: st.syntax,
        };
        let response = StubBytes {
            bytes: &st.response,
            direction: Direction::Out,
            little_endian: st.little_endian[1],
            syntax: st.syntax,
        };
        match st.decoder {
            Decoder::Epm => {
                let mut v = EpmView::default();
                if let Err(e) = epm::decode_request(opnum, request, &mut v) {
                    v.error = Some(e);
                }
                if st.over_limit {
                    v.error = Some(format!("stub longer than {MAX_DECODE_STUB_BYTES} bytes"));
                } else if answered {
                    match epm::decode_response(opnum, response, &mut v) {
                        Ok(found) => {
                            let via = if opnum == epm::opnum::MAP {
                                "ept_map"
                            } else {
                                "ept_lookup"
                            };
                            for a in found {
                                learn(queue, a.endpoint, via);
                            }
                        }
                        Err(e) => v.error = Some(e),
                    }
                }
                record.epm = Some(Box::new(v));
            }
            Decoder::Oxid if !st.over_limit => {
                let Some(interface) = c.binding.map(|b| b.abstract_syntax.uuid) else {
                    return;
                };
                let mut v = OxidView::default();
                if answered {
                    let answer = dcom::decode_response(interface, opnum, response);
                    for e in answer.endpoints {
                        learn(queue, e, "oxid");
                    }
                    for (iid, ipid) in answer.ipids {
                        queue.learn_ipid(ipid, iid);
                    }
                    v = answer.view;
                }
                if let Some(clsid) = dcom::activated_class(interface, opnum, request) {
                    v.clsid = Some(clsid.to_string());
                    v.class_name = class_name(clsid);
                }
                if answered || v.clsid.is_some() {
                    record.oxid = Some(Box::new(v));
                }
            }
            Decoder::Objrefs if answered && !st.over_limit => {
                for (iid, ipid) in dcom::scan_objrefs(&st.response) {
                    queue.learn_ipid(ipid, iid);
                }
            }
            Decoder::RemQueryInterface if answered && !st.over_limit => {
                let Some(interface) = c.binding.map(|b| b.abstract_syntax.uuid) else {
                    return;
                };
                let pairs = dcom::rem_query_interface(interface, request, response);
                for (iid, ipid) in pairs.unwrap_or_default() {
                    queue.learn_ipid(ipid, iid);
                }
            }
            Decoder::Netlogon if !st.over_limit => {
                let answer = (answered && !st.response.is_empty()).then_some(response);
                let status = record.status.map(|s| s.code);
                let client = client.ip().to_string();
                record.netlogon = netlogon::read_call(
                    opnum,
                    request,
                    answer,
                    status,
                    &client,
                    self.info.keys.as_deref(),
                )
                .map(Box::new);
                if record.netlogon.as_ref().is_some_and(|v| v.limit_hit) {
                    queue.anomaly("limit_netlogon_channels", c.first_frame, || {
                        "a Netlogon challenge or secure channel was not remembered (limit)".into()
                    });
                }
            }
            Decoder::Oxid
            | Decoder::Objrefs
            | Decoder::RemQueryInterface
            | Decoder::Netlogon
            | Decoder::Parameters => {}
        }
    }

    /// The interface description of a binding, if the library has one.
    fn described(&self, binding: Option<BoundContext>) -> Option<&Interface> {
        let b = binding?;
        self.info
            .library
            .as_ref()?
            .interface(b.abstract_syntax.uuid, b.abstract_syntax.major)
    }

    /// Decodes the \[in\] and \[out\] parameters of a call with its IDL description (the
    /// request when it was captured whole, the response when it was answered), or keeps its
    /// stubs on the record for decoding later ([`Library::keep_stubs`]).
    fn decode_parameters(&self, c: &Call, st: Stubs, record: &mut CallRecord) {
        let (Some(iface), Some(lib), Some(opnum)) = (
            self.described(c.binding),
            self.info.library.as_deref(),
            c.opnum,
        ) else {
            return;
        };
        if st.over_limit {
            let mut d = Decoded::default();
            d.errors
                .push(format!("stub longer than {MAX_DECODE_STUB_BYTES} bytes"));
            record.decoded = Some(Box::new(d));
            return;
        }
        let whole =
            |span: Option<Span>| span.is_some_and(|s| s.saw_first && s.saw_last && !s.damaged);
        let request = if whole(c.request) {
            SideStub::Whole(st.request)
        } else {
            SideStub::NotWhole
        };
        let response = if c.fault.is_some() {
            SideStub::Fault
        } else if whole(c.response) {
            SideStub::Whole(st.response)
        } else {
            SideStub::NotWhole
        };
        let stubs = CallStubs {
            request,
            response,
            little_endian: st.little_endian,
            syntax: st.syntax,
        };
        if lib.keep_stubs {
            record.stubs = Some(Box::new(stubs));
            return;
        }
        record.decoded = Some(Box::new(match lib.plan(iface, opnum) {
            Some(plan) => decode_call(&plan, opnum, &stubs),
            None => {
                let mut d = Decoded::default();
                d.errors
                    .push(format!("the description has no operation {opnum}"));
                d
            }
        }));
    }

    fn record(&self, c: &Call) -> CallRecord {
        let lost_bytes =
            c.request.is_some_and(|r| r.damaged) || c.response.is_some_and(|r| r.damaged);
        let outcome = if c.fault.is_some() && !lost_bytes {
            "fault"
        } else if lost_bytes {
            "incomplete"
        } else if let Some(r) = c.response {
            if r.saw_last && !r.damaged {
                "response"
            } else {
                "incomplete"
            }
        } else if c
            .request
            .is_none_or(|r| !r.saw_first || !r.saw_last || r.damaged)
            || c.response_may_be_lost
        {
            "incomplete"
        } else {
            "no_response"
        };
        let client = self.info.senders[c.client_dir.index()];
        let server = self.info.senders[c.client_dir.reverse().index()];
        let described = c.binding.and_then(|b| {
            self.info
                .library
                .as_ref()
                .and_then(|l| l.interface(b.abstract_syntax.uuid, b.abstract_syntax.major))
        });
        let status = self.status(c, outcome);
        let interface = c.binding.map(|b| InterfaceRef {
            uuid: b.abstract_syntax.uuid.to_string(),
            version: b.abstract_syntax.version(),
            name: names::interface_name(b.abstract_syntax.uuid, b.abstract_syntax.major)
                .map(str::to_string)
                .or_else(|| described.map(|i| i.name.clone())),
        });
        // An --idl description first, then Microsoft's IDL, then the names table.
        let operation = match (c.binding, c.opnum) {
            (Some(b), Some(op)) => described
                .and_then(|i| i.operations.get(usize::from(op)))
                .map(|o| o.name.clone())
                .or_else(|| {
                    table::builtin()
                        .operation(b.abstract_syntax.uuid, b.abstract_syntax.major, op)
                        .and_then(|o| table::wire_name(&o.name))
                        .map(str::to_string)
                })
                .or_else(|| names::operation_name(b.abstract_syntax.uuid, op).map(str::to_string)),
            _ => None,
        };
        let start_ts = c
            .request
            .or(c.response)
            .map(|s| s.first.ts)
            .unwrap_or_default();
        let duration_us = match (c.request, c.response) {
            (Some(q), Some(r)) => {
                let d = r.last.ts.as_micros() - q.last.ts.as_micros();
                u64::try_from(d).ok()
            }
            _ => None,
        };
        CallRecord {
            kind: "call",
            client: endpoint(client),
            server: endpoint(server),
            transport: self.info.transport,
            pipe: self.info.pipe.clone(),
            pipe_source: self.pipe_source,
            file_id: self.info.file_id.clone(),
            call_id: c.call_id,
            context_id: c.context_id,
            interface,
            interface_source: c.binding.map(|b| b.source),
            opnum: c.opnum,
            operation,
            request: c.request.map(|s| s.public()),
            response: c.response.map(|s| s.public()),
            outcome,
            fault_status: c.fault,
            fault_name: c
                .fault
                .map(|s| fault_name(s).map_or_else(|| format!("0x{s:08x}"), str::to_string)),
            auth_type: c.auth.map(|a| auth_type_name(a.0)),
            auth_level: c.auth.map(|a| auth_level_name(a.1)),
            decryption: c.protection.decryption.as_ref().map(|d| d.name()),
            decryption_reason: c
                .protection
                .decryption
                .as_ref()
                .and_then(|d| d.reason())
                .map(str::to_string),
            signature: c
                .protection
                .signature
                .map(|v| if v { "valid" } else { "invalid" }),
            start: start_ts.rfc3339_micros(),
            duration_us,
            status,
            object: c.object.map(|u| u.to_string()),
            endpoint_frame: self.info.expected.map(|e| e.frame),
            heads: c.heads.clone(),
            verifier: c.verifier,
            span_us: (
                start_ts.as_micros(),
                c.response
                    .or(c.request)
                    .map_or(start_ts, |s| s.last.ts)
                    .as_micros(),
            ),
            pipes: None,
            decoded: None,
            stubs: None,
            epm: None,
            oxid: None,
            netlogon: None,
            transfer_syntax: c
                .binding
                .and_then(|b| b.transfer)
                .map(|t| t.transfer_kind())
                .filter(|k| matches!(k, TransferKind::Ndr | TransferKind::Ndr64))
                .map(TransferKind::name),
        }
    }
}

impl Association {
    /// The operation's return code: the last four bytes of a whole, readable response, for
    /// operations whose return type is an error code (an `--idl` description first, then the
    /// built-in table).
    fn status(&self, c: &Call, outcome: &str) -> Option<Status> {
        if outcome != "response" || !c.response.is_some_and(|r| r.saw_first) {
            return None;
        }
        let code = c.tail.value()?;
        let (b, opnum) = (c.binding?, c.opnum?);
        let (uuid, major) = (b.abstract_syntax.uuid, b.abstract_syntax.major);
        let described = self.info.library.as_ref().and_then(|lib| {
            let iface = lib.interface(uuid, major)?;
            let op = iface.operations.get(usize::from(opnum))?;
            Some(table::return_kind(lib, &iface.name, op))
        });
        let kind = match described {
            Some(kind) => kind?,
            None => table::builtin().operation(uuid, major, opnum)?.returns?,
        };
        Some(Status { code, kind })
    }

    /// The pipe decoders of a new call, when an IDL describes its operation.
    fn pipes_for(
        &self,
        binding: Option<BoundContext>,
        opnum: u16,
        little_endian: bool,
    ) -> Option<CallPipes> {
        let lib = self.info.library.as_ref()?;
        let b = binding?;
        let iface = lib.interface(b.abstract_syntax.uuid, b.abstract_syntax.major)?;
        let plan = lib.plan(iface, opnum).filter(|p| p.has_pipes())?;
        let ndr64 = b
            .transfer
            .is_some_and(|t| t.transfer_kind() == TransferKind::Ndr64);
        Some(CallPipes::new(plan, little_endian, ndr64))
    }
}

/// The decoder a new call's stubs are kept for: endpoint-mapper calls, DCOM answers carrying
/// string bindings, other DCOM (ORPC) calls whose answers may create interface pointers, and
/// calls whose `parameters` are decoded; none when the stub is sealed and was not decrypted.
fn decoder_for(
    binding: Option<BoundContext>,
    opnum: u16,
    object: Option<Uuid>,
    unreadable: bool,
    parameters: bool,
) -> Option<(Decoder, Syntax)> {
    if unreadable {
        return None;
    }
    let uuid = binding.map(|b| b.abstract_syntax.uuid);
    let decoder = match uuid {
        Some(u) if u == epm::EPM_UUID => Decoder::Epm,
        Some(u) if dcom::carries_bindings(u, opnum) => Decoder::Oxid,
        Some(u) if dcom::is_rem_query_interface(u, opnum) => Decoder::RemQueryInterface,
        Some(u) if netlogon::is_channel_setup(u, opnum) => Decoder::Netlogon,
        _ if object.is_some() => Decoder::Objrefs,
        _ if parameters => Decoder::Parameters,
        _ => return None,
    };
    let ndr64 = binding
        .and_then(|b| b.transfer)
        .is_some_and(|t| t.transfer_kind() == TransferKind::Ndr64);
    Some((decoder, if ndr64 { Syntax::Ndr64 } else { Syntax::Ndr }))
}

/// What a non-call PDU says, for the call-flow view; `None` for requests, responses and faults.
fn describe(pdu: &super::pdu::Pdu) -> Option<String> {
    let syntax = |s: &SyntaxId| {
        let name = names::interface_name(s.uuid, s.major)
            .map_or_else(|| s.uuid.to_string(), str::to_string);
        format!("{name} v{}", s.version())
    };
    let auth = pdu
        .auth
        .map(|a| {
            format!(
                " [{}/{}]",
                auth_type_name(a.auth_type),
                auth_level_name(a.auth_level)
            )
        })
        .unwrap_or_default();
    let text = match &pdu.body {
        Body::Bind(b) | Body::AlterContext(b) => {
            let ctx: Vec<String> = b
                .contexts
                .iter()
                .map(|c| {
                    let ts: Vec<&str> = c
                        .transfer_syntaxes
                        .iter()
                        .map(|t| t.transfer_kind().name())
                        .collect();
                    format!(
                        "ctx {} {} ({})",
                        c.context_id,
                        syntax(&c.abstract_syntax),
                        ts.join(", ")
                    )
                })
                .collect();
            ctx.join("; ")
        }
        Body::BindAck(a) | Body::AlterContextResp(a) => {
            let res: Vec<String> = a
                .results
                .iter()
                .map(|r| match r.result {
                    0 => format!("accepted {}", r.transfer_syntax.transfer_kind().name()),
                    3 => "negotiate_ack".to_string(),
                    n => format!(
                        "{} ({})",
                        context_result_name(n),
                        provider_reason_name(r.reason)
                    ),
                })
                .collect();
            let addr = String::from_utf8_lossy(&a.sec_addr);
            if addr.is_empty() {
                res.join("; ")
            } else {
                format!("{}; sec_addr {addr}", res.join("; "))
            }
        }
        Body::BindNak(n) => bind_nak_reason_name(n.reason),
        Body::Other => String::new(),
        Body::Request(_) | Body::Response(_) | Body::Fault(_) => return None,
    };
    Some(format!("{}{}", text, auth).trim().to_string())
}

/// The first [`PDU_HEAD_BYTES`] of a PDU.
fn head(pdu: &[u8]) -> Vec<u8> {
    pdu.get(..PDU_HEAD_BYTES.min(pdu.len()))
        .unwrap_or(&[])
        .to_vec()
}

/// `ip:port`, or `[ipv6]:port` (as `SocketAddr` prints them).
#[must_use]
pub fn endpoint(a: SocketAddr) -> String {
    a.to_string()
}
