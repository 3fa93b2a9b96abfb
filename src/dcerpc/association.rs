//! DCE/RPC layer, association state (C706 §12.4, MS-RPCE §3.3.1.5): presentation contexts
//! negotiated by bind / alter_context and their acks, and the calls of the association.
//! Requests and responses are joined per call_id; fragments are counted per call (the stub
//! bytes are measured, not kept, so a call of any size is followed). What the calls mean is
//! not its business: a [`CallObserver`] chosen by whoever builds the association sees every
//! PDU read, chooses what reads a new call's stubs ([`StubSink`]), and receives each call when
//! it ends (its last response fragment, a fault, a new request reusing its call_id, a limit, or
//! the end of the association). The engine's observer is [`super::call_report::Reporter`]; the
//! tests below drive the machine with one that only writes the events down.
//!
//! Limits: [`MAX_OPEN_CALLS`] calls awaiting completion, [`MAX_PENDING_BINDS`] unanswered binds
//! and [`MAX_CONTEXTS`] presentation contexts per association, and [`crate::outbox::MAX_OPEN_CALLS_TOTAL`] (or `--max-open-calls`) open
//! calls in the run; reaching one evicts the oldest entry and records a `limit_*` anomaly.

use std::sync::Arc;

use crate::hash::{FastMap, SmallMap};

use super::call::{BoundContext, OpenCall, Span, StubSink, StubTail, TransportInfo};
use super::framing::{FrameEvent, FramedPdu};
use super::pdu::{Body, ContextElement, Header, Pdu, parse_pdu};
use super::security::{MAX_AUTH_CONTEXTS, Protection, Security};
use crate::context::SessionContext;
use crate::dce::codes::{
    PacketType, bind_nak_reason_name, context_result_name, provider_reason_name,
};
use crate::dce::names;
use crate::dce::{SyntaxId, Uuid};
use crate::report::Tally;
use crate::source::Timestamp;
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

#[derive(Debug)]
struct PendingBind {
    call_id: u32,
    alter: bool,
    contexts: Vec<ContextElement>,
    seq: u64,
}

/// What an association reports to, chosen by whoever builds it: what reads a new call's
/// stub bytes, each call when it ends, and each PDU read. The association itself negotiates
/// contexts and joins fragments, and knows nothing of what the stubs mean; the engine's
/// observer is [`super::call_report::Reporter`].
pub trait CallObserver {
    /// What reads a call's stub bytes as its fragments pass.
    type Stubs: StubSink + Default + std::fmt::Debug;

    /// A call starts with its first request fragment, whose stub is `start.stub`.
    fn call_started(&self, info: &TransportInfo, start: &CallStart<'_>) -> Self::Stubs;

    /// A call ended: its last response fragment or a fault came, its call_id was reused, a
    /// limit ended it, or the association ended. `pipe_source` says where the association's
    /// pipe name came from (`create`, or `sec_addr` from a bind_ack).
    fn call_ended(
        &self,
        info: &TransportInfo,
        pipe_source: Option<&'static str>,
        call: OpenCall<Self::Stubs>,
        cx: &mut SessionContext,
    );

    /// A whole PDU was read from direction `dir` (completed `at` that frame), before the
    /// association acts on it.
    fn pdu_read(
        &self,
        info: &TransportInfo,
        dir: Dir,
        pdu: &Pdu,
        at: Origin,
        cx: &mut SessionContext,
    );
}

/// A call's first request fragment, as [`CallObserver::call_started`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct CallStart<'a> {
    /// The presentation context (or the interface otherwise learned) of the request.
    pub binding: Option<BoundContext>,
    /// Operation number.
    pub opnum: u16,
    /// Object UUID of the request.
    pub object: Option<Uuid>,
    /// The fragment stayed sealed.
    pub unreadable: bool,
    /// Integer byte order of the PDU.
    pub little_endian: bool,
    /// The fragment's stub.
    pub stub: &'a [u8],
    /// Frame of the fragment's first byte.
    pub frame: u64,
}

/// One association: contexts and calls, reported to `O`.
#[derive(Debug)]
pub struct Association<O: CallObserver> {
    observer: O,
    info: TransportInfo,
    /// Where the pipe name came from: `create` (the SMB open) or `sec_addr` (a bind_ack).
    pipe_source: Option<&'static str>,
    contexts: SmallMap<u16, BoundContext>,
    /// Contexts the server refused, by the interface the client offered: a client may send
    /// requests on them anyway (they are faulted), and what they ask is still worth reading.
    refused: SmallMap<u16, BoundContext>,
    pending: Vec<PendingBind>,
    calls: FastMap<u32, Box<OpenCall<O::Stubs>>>,
    /// (seq, call_id) of the calls as they were opened, oldest first, to evict the oldest in
    /// O(1) when [`MAX_OPEN_CALLS`] are open; entries of calls since ended are skipped (and
    /// dropped when they outnumber the open calls).
    opened: std::collections::VecDeque<(u64, u32)>,
    seq: u64,
    security: Security,
}

impl<O: CallObserver> Association<O> {
    /// The transport facts.
    #[must_use]
    pub fn info(&self) -> &TransportInfo {
        &self.info
    }

    /// The transport facts, to adjust what is learned after the association began (RPC over
    /// HTTP: the transport's name, the IN channel's endpoints).
    pub fn info_mut(&mut self) -> &mut TransportInfo {
        &mut self.info
    }

    /// Hands an ended call to the observer.
    fn end(&self, call: OpenCall<O::Stubs>, cx: &mut SessionContext) {
        self.observer
            .call_ended(&self.info, self.pipe_source, call, cx);
    }

    /// A new association over the given transport, reporting to `observer`.
    #[must_use]
    pub fn new(info: TransportInfo, observer: O) -> Self {
        Self {
            observer,
            pipe_source: info.pipe.as_ref().map(|_| "create"),
            security: Security::new(info.keys.clone()),
            info,
            contexts: SmallMap::default(),
            refused: SmallMap::default(),
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
        cx: &mut SessionContext,
    ) {
        match event {
            FrameEvent::Pdu(p) => self.on_pdu(dir, &p, tally, cx),
            FrameEvent::Truncated { header, first } => {
                tally.count("pdus_truncated_by_gap");
                self.security.on_truncated(
                    dir,
                    header.ptype,
                    header.frag_len,
                    header.auth_len,
                    header.flags.object_uuid(),
                );
                self.on_truncated(dir, header, first, cx);
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

    fn on_pdu(&mut self, dir: Dir, p: &FramedPdu<'_>, tally: &mut Tally, cx: &mut SessionContext) {
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
        match h.ptype.name() {
            Some(name) => tally.pdu(name),
            None => tally.pdu(&h.ptype.to_string()),
        }
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
        self.observer.pdu_read(&self.info, dir, &pdu, p.last, cx);
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
                let known = self.info.sec_addr.as_deref().map(str::as_bytes);
                if !a.sec_addr.is_empty() && known != Some(&a.sec_addr[..]) {
                    let sec_addr: Arc<str> = String::from_utf8_lossy(&a.sec_addr).into();
                    if self.info.transport == "ncacn_np" && self.info.pipe.is_none() {
                        // The open was not captured: the server names its end of the pipe.
                        self.info.pipe = Some(Arc::clone(&sec_addr));
                        self.pipe_source = Some("sec_addr");
                    }
                    self.info.sec_addr = Some(sec_addr);
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
                let existing = self.calls.remove(&h.call_id).map(|c| *c);
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
                            c.consumers.forget();
                        }
                        c.consumers.request(stub, h.little_endian(), p.first.frame);
                        if c.fault.is_some() && last {
                            self.end(c, cx);
                        } else {
                            self.calls.insert(h.call_id, Box::new(c));
                        }
                    }
                } else {
                    if let Some(old) = existing {
                        self.end(old, cx);
                    }
                    let binding = self.binding_for(r.context_id, r.object, p.first.ts, cx);
                    let auth = pdu.auth.map(|a| (a.auth_type, a.auth_level));
                    let consumers = self.observer.call_started(
                        &self.info,
                        &CallStart {
                            binding,
                            opnum: r.opnum,
                            object: r.object,
                            unreadable,
                            little_endian: h.little_endian(),
                            stub,
                            frame: p.first.frame,
                        },
                    );
                    let call = OpenCall {
                        seq: self.seq,
                        first_frame: p.first.frame,
                        call_id: h.call_id,
                        context_id: r.context_id,
                        activity: None,
                        opnum: Some(r.opnum),
                        object: r.object,
                        binding,
                        client_dir: dir,
                        request: Some(Span::new(p, stub_len, first, last)),
                        response: None,
                        fault: None,
                        auth,
                        response_may_be_lost: false,
                        consumers,
                        heads: Default::default(),
                        verifier: None,
                        tail: StubTail::default(),
                        protection: Protection::default(),
                    };
                    let mut call = call;
                    call.protection = unsealed.protection;
                    call.heads[0] = head(p.bytes, cx);
                    call.verifier = pdu.auth.map(|a| {
                        (
                            a.auth_type,
                            a.auth_level,
                            a.pad_len,
                            a.context_id,
                            a.value_len,
                        )
                    });
                    cx.outbox.opened(call.first_frame);
                    self.insert_call(call, cx);
                }
            }
            Body::Response(r) => {
                let (first, last) = (h.flags.first(), h.flags.last());
                let mut c = self.call_for_reply(h, dir, r.context_id, p.first, cx);
                match c.response.as_mut() {
                    Some(span) if !first => span.add(p, stub_len, last),
                    _ => {
                        c.response = Some(Span::new(p, stub_len, first, last));
                        c.heads[1] = head(p.bytes, cx);
                        c.tail = StubTail::default();
                    }
                }
                c.tail.add(stub, h.little_endian(), unreadable);
                c.protection.merge(unsealed.protection);
                if unreadable {
                    c.consumers.forget();
                }
                c.consumers
                    .response(first, stub, h.little_endian(), p.first.frame);
                if last {
                    self.end(c, cx);
                } else {
                    self.calls.insert(c.call_id, Box::new(c));
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
                let mut c = self.call_for_reply(h, dir, f.context_id, p.first, cx);
                c.response = Some(Span::new(p, stub_len, true, true));
                c.heads[1] = head(p.bytes, cx);
                c.fault = Some(f.status);
                if c.awaits_request_end() {
                    tally.count("faults_before_request_end");
                    self.calls.insert(c.call_id, Box::new(c));
                } else {
                    self.end(c, cx);
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
        let bind = self.pending.remove(idx);
        if self.pending.is_empty() {
            // Most associations bind once: the buffer is not kept for the rest of their life.
            self.pending = Vec::new();
        }
        Some(bind)
    }

    /// The context in force for `context_id`, or one proposed by a bind not yet answered, or,
    /// with no bind at all, the interface a DCOM answer created the request's IPID for, the one
    /// an endpoint-mapper answer announced (before the connection began, or since: then the
    /// connection takes it from a call starting at `at`), or the one usually reached through
    /// the pipe.
    fn binding_for(
        &mut self,
        context_id: u16,
        object: Option<Uuid>,
        at: Timestamp,
        cx: &mut SessionContext,
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
        if let Some(iid) = object.and_then(|o| cx.knowledge.ipid_interface(o)) {
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
        if self.info.awaits_label() {
            let [a, b] = self.info.senders;
            self.info.expected = cx
                .resolver
                .connection(a, b, at)
                .or_else(|| cx.resolver.connection(b, a, at));
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
        first: Origin,
        cx: &mut SessionContext,
    ) -> OpenCall<O::Stubs> {
        if let Some(c) = self.calls.remove(&h.call_id) {
            return *c;
        }
        cx.outbox.opened(first.frame);
        self.make_room(self.seq, h.call_id, cx);
        let binding = self.binding_for(context_id, None, first.ts, cx);
        OpenCall {
            seq: self.seq,
            first_frame: first.frame,
            call_id: h.call_id,
            context_id,
            activity: None,
            opnum: None,
            object: None,
            binding,
            client_dir: dir.reverse(),
            request: None,
            response: None,
            fault: None,
            auth: None,
            response_may_be_lost: false,
            consumers: O::Stubs::default(),
            heads: Default::default(),
            verifier: None,
            tail: StubTail::default(),
            protection: Protection::default(),
        }
    }

    /// Opens a new call.
    fn insert_call(&mut self, call: OpenCall<O::Stubs>, cx: &mut SessionContext) {
        self.make_room(call.seq, call.call_id, cx);
        self.calls.insert(call.call_id, Box::new(call));
    }

    /// Registers a call about to be opened (not yet in `calls`); at [`MAX_OPEN_CALLS`] in the
    /// association, or past [`crate::outbox::MAX_OPEN_CALLS_TOTAL`] (or `--max-open-calls`) in the run, the association's oldest open
    /// call is ended first.
    fn make_room(&mut self, seq: u64, call_id: u32, cx: &mut SessionContext) {
        let full = self.calls.len() >= MAX_OPEN_CALLS;
        if (full || cx.outbox.too_many_open_calls())
            && let Some(c) = self.take_oldest()
        {
            if full {
                cx.outbox.anomaly("limit_open_calls", 0, || {
                    format!("more than {MAX_OPEN_CALLS} calls awaiting an answer")
                });
            } else {
                let max = cx.outbox.max_open_calls();
                cx.outbox.anomaly("limit_open_calls_total", 0, || {
                    format!("more than {max} calls awaiting an answer in the capture")
                });
            }
            self.end(c, cx);
        }
        if self.opened.len() >= 2 * MAX_OPEN_CALLS {
            let open = &self.calls;
            self.opened
                .retain(|(seq, id)| open.get(id).is_some_and(|c| c.seq == *seq));
        }
        self.opened.push_back((seq, call_id));
    }

    /// Takes out the open call opened first.
    fn take_oldest(&mut self) -> Option<OpenCall<O::Stubs>> {
        while let Some((seq, id)) = self.opened.pop_front() {
            if self.calls.get(&id).is_some_and(|c| c.seq == seq) {
                return self.calls.remove(&id).map(|c| *c);
            }
        }
        None
    }

    fn on_truncated(&mut self, dir: Dir, header: Header, first: Origin, cx: &mut SessionContext) {
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
                    cx.outbox.opened(first.frame);
                    self.insert_call(
                        OpenCall {
                            seq: self.seq,
                            first_frame: first.frame,
                            call_id: header.call_id,
                            context_id: 0,
                            activity: None,
                            opnum: None,
                            object: None,
                            binding: None,
                            client_dir: dir,
                            request: Some(span),
                            response: None,
                            fault: None,
                            auth: None,
                            response_may_be_lost: false,
                            consumers: O::Stubs::default(),
                            heads: Default::default(),
                            verifier: None,
                            tail: StubTail::default(),
                            protection: Protection::default(),
                        },
                        cx,
                    );
                }
            }
            PacketType::RESPONSE | PacketType::FAULT => {
                let mut c = self.call_for_reply(header, dir, 0, first, cx);
                match c.response.as_mut() {
                    Some(r) => {
                        r.damaged = true;
                        r.fragments += 1;
                    }
                    None => c.response = Some(span),
                }
                self.calls.insert(c.call_id, Box::new(c));
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
    pub fn finish_all(&mut self, cx: &mut SessionContext) {
        let mut open: Vec<OpenCall<O::Stubs>> = self.calls.drain().map(|(_, c)| *c).collect();
        open.sort_by_key(|c| c.seq);
        for c in open {
            self.end(c, cx);
        }
    }
}

/// The first [`PDU_HEAD_BYTES`] of a PDU, for the PDU detail view: kept when PDU notes are
/// collected (the terminal interface), none otherwise.
fn head(pdu: &[u8], cx: &SessionContext) -> Vec<u8> {
    if !cx.pdus.wanted() {
        return Vec::new();
    }
    pdu.get(..PDU_HEAD_BYTES.min(pdu.len()))
        .unwrap_or(&[])
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::call_report::Reporter;
    use crate::model::Call;
    use crate::source::Timestamp;

    /// SAMR, which the names table knows.
    const SAMR: &str = "12345778-1234-abcd-ef00-0123456789ac";
    /// LSARPC.
    const LSA: &str = "12345778-1234-abcd-ef00-0123456789ab";

    const BIND: u8 = 11;
    const BIND_ACK: u8 = 12;
    const BIND_NAK: u8 = 13;
    const ALTER: u8 = 14;
    const ALTER_RESP: u8 = 15;
    const REQUEST: u8 = 0;
    const RESPONSE: u8 = 2;
    const FAULT: u8 = 3;
    const FIRST: u8 = 1;
    const LAST: u8 = 2;

    /// One step of a conversation: who sends, the PDU type and flags, its call id, and the body
    /// after the common header.
    struct Step {
        from_client: bool,
        ptype: u8,
        flags: u8,
        call_id: u32,
        body: Vec<u8>,
    }

    fn uuid_wire(s: &str) -> [u8; 16] {
        let mut b = Uuid::parse(s).unwrap().0;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        b
    }

    fn syntax(uuid: &str, major: u16) -> Vec<u8> {
        let mut v = uuid_wire(uuid).to_vec();
        v.extend(major.to_le_bytes());
        v.extend(0u16.to_le_bytes());
        v
    }

    fn ndr() -> Vec<u8> {
        let mut v = uuid_wire("8a885d04-1ceb-11c9-9fe8-08002b104860").to_vec();
        v.extend(2u32.to_le_bytes());
        v
    }

    /// A bind or alter_context offering `(context id, interface)` pairs with NDR.
    fn offer(ptype: u8, call_id: u32, contexts: &[(u16, &str)]) -> Step {
        let mut body = vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0];
        body.extend([contexts.len() as u8, 0, 0, 0]);
        for &(id, iface) in contexts {
            body.extend(id.to_le_bytes());
            body.extend([1, 0]);
            body.extend(syntax(iface, 1));
            body.extend(ndr());
        }
        Step {
            from_client: true,
            ptype,
            flags: FIRST | LAST,
            call_id,
            body,
        }
    }

    /// A bind_ack or alter_context_resp with one result per offered context (0: accepted).
    fn answer(ptype: u8, call_id: u32, results: &[u16]) -> Step {
        let mut body = vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0];
        body.extend([0, 0]); // no secondary address
        body.extend([0, 0]); // pad to 4
        body.extend([results.len() as u8, 0, 0, 0]);
        for &r in results {
            body.extend(r.to_le_bytes());
            body.extend(if r == 0 { 0u16 } else { 2u16 }.to_le_bytes());
            body.extend(ndr());
        }
        Step {
            from_client: false,
            ptype,
            flags: FIRST | LAST,
            call_id,
            body,
        }
    }

    fn request(call_id: u32, ctx: u16, opnum: u16, flags: u8) -> Step {
        let mut body = 8u32.to_le_bytes().to_vec();
        body.extend(ctx.to_le_bytes());
        body.extend(opnum.to_le_bytes());
        body.extend([0u8; 8]);
        Step {
            from_client: true,
            ptype: REQUEST,
            flags,
            call_id,
            body,
        }
    }

    fn response(call_id: u32, flags: u8) -> Step {
        let mut body = 8u32.to_le_bytes().to_vec();
        body.extend([0, 0, 0, 0]);
        body.extend([0u8; 8]);
        Step {
            from_client: false,
            ptype: RESPONSE,
            flags,
            call_id,
            body,
        }
    }

    fn fault(call_id: u32, status: u32) -> Step {
        let mut body = 0u32.to_le_bytes().to_vec();
        body.extend([0, 0, 0, 0]);
        body.extend(status.to_le_bytes());
        body.extend([0u8; 4]);
        Step {
            from_client: false,
            ptype: FAULT,
            flags: FIRST | LAST,
            call_id,
            body,
        }
    }

    fn nak(call_id: u32) -> Step {
        Step {
            from_client: false,
            ptype: BIND_NAK,
            flags: FIRST | LAST,
            call_id,
            body: vec![0, 0],
        }
    }

    /// Feeds the steps, one frame each, then ends the association; the records in the order
    /// the calls ended.
    fn run(steps: Vec<Step>) -> (Vec<Call>, Tally) {
        let (mut queue, tally) = drive(Reporter, steps);
        // calls without a context wait for an endpoint-mapper answer; none comes
        super::super::call_report::release_unlabelled(&mut queue, None);
        (queue.outbox.take_ready().collect(), tally)
    }

    /// Feeds the steps to an association reporting to `observer`, one frame each, then ends
    /// the association.
    fn drive<O: CallObserver>(observer: O, steps: Vec<Step>) -> (SessionContext, Tally) {
        let info = TransportInfo::tcp_for_tests("10.0.0.1:50000", "10.0.0.2:49667");
        let mut a = Association::new(info, observer);
        let (mut tally, mut queue) = (Tally::default(), SessionContext::default());
        for (i, s) in steps.into_iter().enumerate() {
            let mut bytes = vec![5, 0, s.ptype, s.flags, 0x10, 0, 0, 0];
            bytes.extend(((16 + s.body.len()) as u16).to_le_bytes());
            bytes.extend([0, 0]);
            bytes.extend(s.call_id.to_le_bytes());
            bytes.extend(&s.body);
            let at = Origin {
                frame: i as u64 + 1,
                ts: Timestamp {
                    secs: i as i64,
                    nanos: 0,
                },
            };
            let pdu = FramedPdu {
                bytes: &bytes,
                first: at,
                last: at,
                damaged: false,
                offset: 0,
            };
            let dir = if s.from_client {
                Dir::FromInitiator
            } else {
                Dir::FromResponder
            };
            a.on_event(dir, FrameEvent::Pdu(pdu), &mut tally, &mut queue);
        }
        a.finish_all(&mut queue);
        (queue, tally)
    }

    /// An observer that writes down what the association tells it, in order.
    #[derive(Debug, Default)]
    struct Recorder {
        events: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    }

    /// Stub bytes seen per direction, and whether they were given up as sealed.
    #[derive(Debug, Default)]
    struct Counted {
        request: usize,
        response: usize,
        forgotten: bool,
    }

    impl StubSink for Counted {
        fn request(&mut self, stub: &[u8], _: bool, _: u64) {
            self.request += stub.len();
        }
        fn response(&mut self, first: bool, stub: &[u8], _: bool, _: u64) {
            if first {
                self.response = 0;
            }
            self.response += stub.len();
        }
        fn forget(&mut self) {
            self.forgotten = true;
        }
    }

    impl CallObserver for Recorder {
        type Stubs = Counted;

        fn call_started(&self, _: &TransportInfo, start: &CallStart<'_>) -> Counted {
            let bound = start.binding.map_or("unbound", |b| b.source);
            self.events
                .borrow_mut()
                .push(format!("start opnum {} {bound}", start.opnum));
            Counted {
                request: start.stub.len(),
                ..Counted::default()
            }
        }

        fn call_ended(
            &self,
            _: &TransportInfo,
            _: Option<&'static str>,
            call: OpenCall<Counted>,
            _: &mut SessionContext,
        ) {
            let fault = call
                .fault
                .map_or(String::new(), |f| format!(" fault {f:#x}"));
            self.events.borrow_mut().push(format!(
                "end {} request {} response {}{fault}",
                call.call_id, call.consumers.request, call.consumers.response
            ));
        }

        fn pdu_read(
            &self,
            _: &TransportInfo,
            _: Dir,
            pdu: &Pdu,
            _: Origin,
            _: &mut SessionContext,
        ) {
            self.events
                .borrow_mut()
                .push(format!("pdu {}", pdu.header.ptype));
        }
    }

    /// What the association tells its observer for each conversation: PDUs read, calls started
    /// with their binding, stub bytes fed per direction, calls ended. A table of transitions,
    /// checked with an observer that knows nothing of what stubs mean.
    #[test]
    fn transitions_reach_the_observer_as_events() {
        let table: Vec<(&str, Vec<Step>, &[&str])> = vec![
            (
                "bind, a call answered in two fragments",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    request(2, 0, 5, FIRST | LAST),
                    response(2, FIRST),
                    response(2, LAST),
                ],
                &[
                    "pdu bind",
                    "pdu bind_ack",
                    "pdu request",
                    "start opnum 5 bind",
                    "pdu response",
                    "pdu response",
                    "end 2 request 8 response 16",
                ],
            ),
            (
                "a call in two request fragments, faulted",
                vec![
                    offer(BIND, 1, &[(0, LSA)]),
                    answer(BIND_ACK, 1, &[0]),
                    request(3, 0, 7, FIRST),
                    request(3, 0, 7, LAST),
                    fault(3, 0x1c01_0002),
                ],
                &[
                    "pdu bind",
                    "pdu bind_ack",
                    "pdu request",
                    "start opnum 7 bind",
                    "pdu request",
                    "pdu fault",
                    "end 3 request 16 response 0 fault 0x1c010002",
                ],
            ),
            (
                "a refused context, a request on it anyway, no answer",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[2]),
                    request(2, 0, 1, FIRST | LAST),
                ],
                &[
                    "pdu bind",
                    "pdu bind_ack",
                    "pdu request",
                    "start opnum 1 refused",
                    "end 2 request 8 response 0",
                ],
            ),
            (
                "no bind: the call starts unbound; a call_id reused ends the first call",
                vec![
                    request(4, 0, 2, FIRST | LAST),
                    request(4, 0, 3, FIRST | LAST),
                ],
                &[
                    "pdu request",
                    "start opnum 2 unbound",
                    "pdu request",
                    "end 4 request 8 response 0",
                    "start opnum 3 unbound",
                    "end 4 request 8 response 0",
                ],
            ),
        ];
        for (name, steps, expected) in table {
            let recorder = Recorder::default();
            let events = std::rc::Rc::clone(&recorder.events);
            drive(recorder, steps);
            assert_eq!(*events.borrow(), expected, "{name}");
        }
    }

    /// What a test checks of a record: call id, outcome, where the interface came from, its
    /// name, the operation number, the fault status.
    type Seen = (
        u32,
        &'static str,
        Option<&'static str>,
        Option<String>,
        Option<u16>,
        Option<u32>,
    );

    fn seen(r: &Call) -> Seen {
        (
            r.call_id,
            r.outcome.name(),
            r.interface_source,
            r.interface
                .as_ref()
                .and_then(|i| i.name.as_deref().map(str::to_string)),
            r.opnum,
            r.fault_status,
        )
    }

    #[test]
    fn transitions() {
        let samr = Some("Samr".to_string());
        let lsa = Some("Lsarpc".to_string());
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, Vec<Step>, Vec<Seen>)> = vec![
            (
                "bind, ack, request, response",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    request(2, 0, 5, FIRST | LAST),
                    response(2, FIRST | LAST),
                ],
                vec![(2, "response", Some("bind"), samr.clone(), Some(5), None)],
            ),
            (
                "fragments of both sides are joined",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    request(2, 0, 7, FIRST),
                    request(2, 0, 7, LAST),
                    response(2, FIRST),
                    response(2, 0),
                    response(2, LAST),
                ],
                vec![(2, "response", Some("bind"), samr.clone(), Some(7), None)],
            ),
            (
                "a fault ends the call",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    request(2, 0, 5, FIRST | LAST),
                    fault(2, 0x1c01_0002),
                ],
                vec![(
                    2,
                    "fault",
                    Some("bind"),
                    samr.clone(),
                    Some(5),
                    Some(0x1c01_0002),
                )],
            ),
            (
                "no answer by the end of the association",
                vec![request(3, 0, 1, FIRST | LAST)],
                vec![(3, "no_response", None, None, Some(1), None)],
            ),
            (
                "an answer without its request",
                vec![response(4, FIRST | LAST)],
                vec![(4, "response", None, None, None, None)],
            ),
            (
                "a request reusing a call id ends the earlier call",
                vec![
                    request(5, 0, 1, FIRST | LAST),
                    request(5, 0, 2, FIRST | LAST),
                    response(5, FIRST | LAST),
                ],
                vec![
                    (5, "no_response", None, None, Some(1), None),
                    (5, "response", None, None, Some(2), None),
                ],
            ),
            (
                "a refused context still names what the client asked for",
                vec![
                    offer(BIND, 1, &[(0, SAMR), (1, LSA)]),
                    answer(BIND_ACK, 1, &[0, 2]),
                    request(2, 1, 6, FIRST | LAST),
                    fault(2, 0x1c01_0002),
                ],
                vec![(
                    2,
                    "fault",
                    Some("refused"),
                    lsa.clone(),
                    Some(6),
                    Some(0x1c01_0002),
                )],
            ),
            (
                "a bind_nak binds nothing",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    nak(1),
                    request(2, 0, 5, FIRST | LAST),
                    response(2, FIRST | LAST),
                ],
                vec![(2, "response", None, None, Some(5), None)],
            ),
            (
                "alter_context adds a context to those of the bind",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    offer(ALTER, 2, &[(1, LSA)]),
                    answer(ALTER_RESP, 2, &[0]),
                    request(3, 1, 6, FIRST | LAST),
                    response(3, FIRST | LAST),
                    request(4, 0, 5, FIRST | LAST),
                    response(4, FIRST | LAST),
                ],
                vec![
                    (
                        3,
                        "response",
                        Some("alter_context"),
                        lsa.clone(),
                        Some(6),
                        None,
                    ),
                    (4, "response", Some("bind"), samr.clone(), Some(5), None),
                ],
            ),
            (
                "a new bind replaces the contexts",
                vec![
                    offer(BIND, 1, &[(0, SAMR)]),
                    answer(BIND_ACK, 1, &[0]),
                    offer(BIND, 2, &[(0, LSA)]),
                    answer(BIND_ACK, 2, &[0]),
                    request(3, 0, 6, FIRST | LAST),
                    response(3, FIRST | LAST),
                ],
                vec![(3, "response", Some("bind"), lsa.clone(), Some(6), None)],
            ),
        ];
        for (name, steps, want) in table {
            let (records, _) = run(steps);
            let got: Vec<Seen> = records.iter().map(seen).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn negotiation_is_counted() {
        let (_, tally) = run(vec![
            offer(BIND, 1, &[(0, SAMR), (1, LSA)]),
            answer(BIND_ACK, 1, &[0, 2]),
            answer(BIND_ACK, 9, &[0]),
            offer(BIND, 2, &[(0, SAMR)]),
            nak(2),
        ]);
        let counters = |k: &str| tally.counters.get(k).copied();
        assert_eq!(counters("contexts_accepted"), Some(1));
        assert_eq!(counters("contexts_rejected"), Some(1));
        assert_eq!(counters("acks_without_bind"), Some(1));
        assert_eq!(counters("bind_naks"), Some(1));
    }
}
