//! DCE/RPC layer, the engine's observer of associations ([`Reporter`], a
//! [`super::association::CallObserver`]; C706 §12.4, MS-RPCE §3.3.1.5): which of the stub
//! consumers of [`super::stubs`] a new call gets (the kept stubs of the endpoint-mapper, DCOM,
//! Netlogon and parameter decoders, an IDL's pipe decoders, or the byte-pipe guess), the record
//! a finished call becomes (its outcome, return code, interface and operation, what its
//! decoders found) and what its answer taught (endpoints, DCOM interface pointers, Netlogon
//! channels), handed to the session's [`SessionContext`]; and a record of each PDU read, when
//! wanted. The association itself only negotiates contexts and joins fragments.

use super::association::{CallObserver, CallStart};
use super::call::{
    BoundContext, MAX_KEPT_STUB_BYTES_TOTAL, OpenCall, Span, StubSink, TransportInfo,
};
use super::pdu::Pdu;
use super::stubs::{
    CallPipes, Consumers, Decoder, MAX_DECODE_STUB_BYTES, NotKept, PipeGuess, Stubs,
};
use super::unlabelled::{Held, MAX_UNLABELLED_CALLS};
use crate::context::SessionContext;
use crate::dce::names;
use crate::dce::{TransferKind, Uuid};
use crate::dcom::{self, OxidView};
use crate::epm::resolver::{Expectation, Learned};
use crate::epm::tower::Endpoint;
use crate::epm::{self, EpmView};
use crate::idl::objref::class_name;
use crate::idl::values::{CallStubs, Decoded, SideStub, decode_kept};
use crate::idl::{Interface, table};
use crate::knowledge::MAX_IPIDS;
use crate::model::{self, Auth, Call, Name, Outcome, PduAuth, PduRecord};
use crate::ndr::{LimitsHit, Syntax};
use crate::netlogon;
use crate::source::Timestamp;
use crate::status::Status;
use crate::tcp::{Dir, Origin};
use std::net::SocketAddr;

/// The engine's observer of associations ([`CallObserver`]): chooses a new call's stub
/// consumers, makes the record of an ended call, and records each PDU read when records are
/// wanted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reporter;

impl CallObserver for Reporter {
    type Stubs = Consumers;

    fn call_started(&self, info: &TransportInfo, start: &CallStart<'_>) -> Consumers {
        Report {
            info,
            pipe_source: None,
        }
        .consumers(start)
    }

    fn call_ended(
        &self,
        info: &TransportInfo,
        pipe_source: Option<&'static str>,
        call: OpenCall<Consumers>,
        cx: &mut SessionContext,
    ) {
        Report { info, pipe_source }.finish(call, cx);
    }

    fn pdu_read(
        &self,
        info: &TransportInfo,
        dir: Dir,
        pdu: &Pdu,
        at: Origin,
        cx: &mut SessionContext,
    ) {
        if !cx.pdus.wanted() {
            return;
        }
        let h = pdu.header;
        let from_client = h.ptype.is_from_client();
        let client_dir = if from_client { dir } else { dir.reverse() };
        cx.pdus.push(PduRecord {
            frame: at.frame,
            ts: at.ts,
            client: info.senders[client_dir.index()],
            server: info.senders[client_dir.reverse().index()],
            transport: info.transport,
            pipe: info.pipe.clone(),
            file_id: info.file_id.clone(),
            from_client,
            ptype: h.ptype,
            flags: h.flags,
            call_id: h.call_id,
            frag_len: h.frag_len,
            auth_len: h.auth_len,
            little_endian: h.little_endian(),
            auth: pdu.auth.map(|a| PduAuth {
                auth_type: a.auth_type,
                level: a.auth_level,
                pad_len: a.pad_len,
                context_id: a.context_id,
            }),
            stub_len: u32::try_from(pdu.stub_len()).unwrap_or(u32::MAX),
            body: pdu.body.clone(),
            datagram: None,
        });
    }
}

/// Reports the calls of one association: its transport facts, and where its pipe name came
/// from (`create`, the SMB open, or `sec_addr`, a bind_ack).
struct Report<'a> {
    info: &'a TransportInfo,
    pipe_source: Option<&'static str>,
}

impl Report<'_> {
    /// Ends a call: its record, with what its decoders found, goes to the outbox, unless it
    /// waits for an answer naming its interface ([`super::unlabelled`]).
    fn finish(&self, c: OpenCall<Consumers>, cx: &mut SessionContext) {
        let first_frame = c.first_frame;
        if c.binding.is_none() && self.info.awaits_label() && cx.unlabelled.waits() {
            let ended = [c.request, c.response]
                .into_iter()
                .flatten()
                .map(|s| s.last.ts)
                .max()
                .unwrap_or_default();
            let held = Held {
                call: c,
                info: self.info.clone(),
                pipe_source: self.pipe_source,
                ended,
            };
            // an answer may have come while the call was open
            if let Some(label) = cx.resolver.connection(held.client(), held.server(), ended) {
                let record = labelled(held, Some(label), cx);
                cx.outbox.finished(record, first_frame);
                return;
            }
            cx.outbox.held(first_frame);
            if let Some(oldest) = cx.unlabelled.hold(held) {
                cx.outbox
                    .anomaly("limit_unlabelled_calls", oldest.call.first_frame, || {
                        format!(
                            "{MAX_UNLABELLED_CALLS} calls waited for an answer naming their \
                             interface: the oldest was reported without one"
                        )
                    });
                release(oldest, None, cx);
            }
            return;
        }
        let record = self.report(c, cx);
        cx.outbox.finished(record, first_frame);
    }

    /// The record of an ended call, with what its decoders found.
    fn report(&self, mut c: OpenCall<Consumers>, cx: &mut SessionContext) -> Call {
        let first_frame = c.first_frame;
        let Consumers {
            stubs,
            pipes,
            guess,
        } = std::mem::take(&mut c.consumers);
        let mut record = self.record(&c);
        record.heads = std::mem::take(&mut c.heads);
        let req_ended = c.request.is_some_and(|r| r.saw_last && !r.damaged);
        let resp_ended = c.response.is_some_and(|r| r.saw_last && !r.damaged) && c.fault.is_none();
        if let Some(pp) = pipes {
            record.pipes = Some(pp.reports(req_ended, resp_ended, record.fault_name().as_deref()));
        } else if let Some(g) = guess {
            record.pipes = g.reports(req_ended, resp_ended);
        }
        if let Some(st) = stubs {
            match st.not_kept {
                Some(NotKept::TooLong) => {
                    cx.outbox
                        .anomaly("limit_decode_stub_bytes", first_frame, || {
                            format!(
                                "a stub longer than {MAX_DECODE_STUB_BYTES} bytes was not decoded"
                            )
                        });
                }
                Some(NotKept::RunLimit) => {
                    cx.outbox
                        .anomaly("limit_kept_stub_bytes_total", first_frame, || {
                            format!(
                                "the open calls held {MAX_KEPT_STUB_BYTES_TOTAL} stub bytes: \
                                 a call was not decoded"
                            )
                        });
                }
                None => {}
            }
            self.decode(&c, &st, &mut record, cx);
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
                cx.outbox.anomaly(kind, first_frame, || {
                    format!("decoding {op} stopped at a limit")
                });
            }
        }
        record
    }

    /// A held call's interface became known (or will not): its stubs go to the consumers
    /// that interface's calls get when they start.
    fn choose_consumers_again(&self, c: &mut OpenCall<Consumers>) {
        let Some(mut st) = c.consumers.stubs.take() else {
            return;
        };
        let Some(opnum) = c.opnum else {
            return;
        };
        if st.not_kept.is_none()
            && let Some(mut pipes) = self.pipes_for(c.binding, opnum, st.little_endian[0])
        {
            let frame = |s: Option<Span>| s.map_or(0, |s| s.first.frame);
            pipes.request_bytes(&st.request, frame(c.request));
            pipes.response.feed(&st.response, frame(c.response));
            c.consumers.pipes = Some(Box::new(pipes));
            c.consumers.guess = None;
        }
        let parameters = self.decodes_parameters(c.binding);
        if let Some((decoder, syntax)) = decoder_for(c.binding, opnum, c.object, false, parameters)
        {
            st.decoder = decoder;
            st.syntax = syntax;
            st.parameters = parameters;
            c.consumers.stubs = Some(st);
        }
    }

    /// Decodes an endpoint-mapper or DCOM call; endpoints in its answer go to `queue`.
    fn decode(
        &self,
        c: &OpenCall<Consumers>,
        st: &Stubs,
        record: &mut Call,
        cx: &mut SessionContext,
    ) {
        let (Some(opnum), Some(req)) = (c.opnum, c.request) else {
            return;
        };
        let answered = answered_whole(c);
        if req.damaged {
            return;
        }
        let client = self.info.senders[c.client_dir.index()];
        let learn = |cx: &mut SessionContext, endpoint, via| self.learn(c, cx, endpoint, via);
        let (request, response) = (st.request_bytes(), st.response_bytes());
        match st.decoder {
            Decoder::Epm => {
                let mut v = EpmView::default();
                if let Err(e) = epm::decode_request(opnum, request, &mut v) {
                    v.error = Some(e);
                }
                if let Some(why) = st.not_kept {
                    v.error = Some(why.reason());
                } else if answered {
                    match epm::decode_response(opnum, response, &mut v) {
                        Ok(found) => {
                            for a in found {
                                learn(cx, a.endpoint, epm_via(opnum));
                            }
                        }
                        Err(e) => v.error = Some(e),
                    }
                }
                record.epm = Some(Box::new(v));
            }
            Decoder::Oxid if st.not_kept.is_none() => {
                let Some(interface) = c.binding.map(|b| b.abstract_syntax.uuid) else {
                    return;
                };
                let mut v = OxidView::default();
                if answered {
                    let answer = dcom::decode_response(interface, opnum, response);
                    for e in answer.endpoints {
                        learn(cx, e, "oxid");
                    }
                    for (iid, ipid) in answer.ipids {
                        learn_ipid(cx, ipid, iid);
                    }
                    v = answer.view;
                }
                if let Some(asked) = dcom::activation_request(interface, opnum, request) {
                    if let Some(clsid) = asked.class {
                        v.clsid = Some(clsid.to_string());
                        v.class_name = class_name(clsid);
                    }
                    v.requested_interfaces =
                        asked.interfaces.iter().map(ToString::to_string).collect();
                }
                if answered || v.clsid.is_some() {
                    record.oxid = Some(Box::new(v));
                }
            }
            Decoder::Objrefs if answered && st.not_kept.is_none() => {
                for (iid, ipid) in dcom::scan_objrefs(&st.response) {
                    learn_ipid(cx, ipid, iid);
                }
            }
            Decoder::RemQueryInterface if answered && st.not_kept.is_none() => {
                let Some(interface) = c.binding.map(|b| b.abstract_syntax.uuid) else {
                    return;
                };
                let pairs = dcom::rem_query_interface(interface, request, response);
                for (iid, ipid) in pairs.unwrap_or_default() {
                    learn_ipid(cx, ipid, iid);
                }
            }
            Decoder::Netlogon if st.not_kept.is_none() => {
                let answer = (answered && !st.response.is_empty()).then_some(response);
                let status = record.status.map(|s| s.code);
                let Some(keys) = self.info.keys.as_deref() else {
                    // nothing here learns from it: the call stage reads it, unless it is large
                    record.netlogon_unread =
                        netlogon::Unread::keep(opnum, request, answer, status).map(Box::new);
                    if record.netlogon_unread.is_none() {
                        record.netlogon =
                            netlogon::read_call(opnum, request, answer, status, None).map(Box::new);
                    }
                    return;
                };
                record.netlogon =
                    netlogon::read_call(opnum, request, answer, status, Some((keys, client.ip())))
                        .map(Box::new);
                if record.netlogon.as_ref().is_some_and(|v| v.limit_hit) {
                    cx.outbox
                        .anomaly("limit_netlogon_channels", c.first_frame, || {
                            "a Netlogon challenge or secure channel was not remembered (limit)"
                                .into()
                        });
                }
            }
            Decoder::Oxid
            | Decoder::Objrefs
            | Decoder::RemQueryInterface
            | Decoder::Netlogon
            | Decoder::Parameters
            | Decoder::Unlabelled => {}
        }
    }

    /// An endpoint the answer of `c` announced goes to `queue`.
    fn learn(
        &self,
        c: &OpenCall<Consumers>,
        cx: &mut SessionContext,
        endpoint: Endpoint,
        via: &'static str,
    ) {
        if let Some(r) = c.response {
            cx.knowledge.learn(Learned {
                frame: r.last.frame,
                ts: r.last.ts,
                via,
                endpoint,
                answered_by: self.info.senders[c.client_dir.reverse().index()],
                asked_by: self.info.senders[c.client_dir.index()],
            });
        }
    }

    /// The stub consumers of a new call (none of a call whose stub stayed sealed), fed with its
    /// first request fragment's `stub`.
    #[allow(clippy::too_many_arguments)]
    fn consumers(&self, start: &CallStart<'_>) -> Consumers {
        let &CallStart {
            binding,
            opnum,
            object,
            unreadable,
            little_endian,
            stub,
            frame,
        } = start;
        let parameters = self.decodes_parameters(binding);
        // a call that may learn its interface later keeps its stubs until then
        let chosen = if binding.is_none() && !unreadable && self.info.awaits_label() {
            Some((Decoder::Unlabelled, Syntax::Ndr))
        } else {
            decoder_for(binding, opnum, object, unreadable, parameters)
        };
        let stubs = chosen.map(|(decoder, syntax)| {
            Box::new(Stubs {
                decoder,
                syntax,
                request: Vec::new(),
                response: Vec::new(),
                little_endian: [true, true],
                not_kept: None,
                kept: self.info.kept_stub_bytes.clone(),
                counted: 0,
                parameters,
            })
        });
        let pipes = self
            .pipes_for(binding, opnum, little_endian)
            .filter(|_| !unreadable)
            .map(Box::new);
        let guess =
            (pipes.is_none() && !unreadable).then(|| Box::new(PipeGuess::new(little_endian)));
        let mut consumers = Consumers {
            stubs,
            pipes,
            guess,
        };
        consumers.request(stub, little_endian, frame);
        consumers
    }

    /// True when the calls of `binding` have their parameters decoded (the flag first: most
    /// runs decode no parameters, and finding the description is a search per call).
    fn decodes_parameters(&self, binding: Option<BoundContext>) -> bool {
        self.info.library.as_ref().is_some_and(|l| {
            l.decode_parameters
                && (self.described(binding).is_some() || l.keep_stubs && l.keep_every_stub)
        })
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
    fn decode_parameters(&self, c: &OpenCall<Consumers>, mut st: Stubs, record: &mut Call) {
        let (Some(binding), Some(lib), Some(opnum)) =
            (c.binding, self.info.library.as_deref(), c.opnum)
        else {
            return;
        };
        if self.described(c.binding).is_none() && !(lib.keep_stubs && lib.keep_every_stub) {
            return;
        }
        let interface = (binding.abstract_syntax.uuid, binding.abstract_syntax.major);
        if let Some(why) = st.not_kept {
            let mut d = Decoded::default();
            d.errors.push(why.reason());
            record.decoded = Some(Box::new(d));
            return;
        }
        let whole =
            |span: Option<Span>| span.is_some_and(|s| s.saw_first && s.saw_last && !s.damaged);
        let request = if whole(c.request) {
            SideStub::Whole(std::mem::take(&mut st.request))
        } else {
            SideStub::NotWhole
        };
        let response = if c.fault.is_some() {
            SideStub::Fault
        } else if whole(c.response) {
            SideStub::Whole(std::mem::take(&mut st.response))
        } else {
            SideStub::NotWhole
        };
        let stubs = CallStubs {
            interface,
            opnum,
            request,
            response,
            little_endian: st.little_endian,
            syntax: st.syntax,
        };
        if lib.keep_stubs {
            record.stubs = Some(Box::new(stubs));
        } else {
            record.decoded = decode_kept(lib, &stubs).map(Box::new);
        }
    }

    fn record(&self, c: &OpenCall<Consumers>) -> Call {
        let lost_bytes =
            c.request.is_some_and(|r| r.damaged) || c.response.is_some_and(|r| r.damaged);
        let outcome = if c.fault.is_some() && !lost_bytes {
            Outcome::Fault
        } else if lost_bytes {
            Outcome::Incomplete
        } else if let Some(r) = c.response {
            if r.saw_last && !r.damaged {
                Outcome::Response
            } else {
                Outcome::Incomplete
            }
        } else if c
            .request
            .is_none_or(|r| !r.saw_first || !r.saw_last || r.damaged)
            || c.response_may_be_lost
        {
            Outcome::Incomplete
        } else {
            Outcome::NoResponse
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
        let interface = c.binding.map(|b| model::Interface {
            syntax: b.abstract_syntax,
            name: names::interface_name(b.abstract_syntax.uuid, b.abstract_syntax.major)
                .map(Name::Borrowed)
                .or_else(|| described.map(|i| Name::Owned(i.name.clone()))),
        });
        // An --idl description first, then Microsoft's IDL, then the names table.
        let operation = match (c.binding, c.opnum) {
            (Some(b), Some(op)) => described
                .and_then(|i| i.operations.get(usize::from(op)))
                .map(|o| Name::Owned(o.name.clone()))
                .or_else(|| {
                    table::builtin()
                        .operation(b.abstract_syntax.uuid, b.abstract_syntax.major, op)
                        .and_then(|o| table::wire_name(&o.name))
                        .map(Name::Borrowed)
                })
                .or_else(|| names::operation_name(b.abstract_syntax.uuid, op).map(Name::Borrowed)),
            _ => None,
        };
        let start = c
            .request
            .or(c.response)
            .map(|s| s.first.ts)
            .unwrap_or_default();
        let duration_us = match (c.request, c.response) {
            // a connectionless call has a duration only once answered
            _ if c.activity.is_some() && !matches!(outcome, Outcome::Response | Outcome::Fault) => {
                None
            }
            (Some(q), Some(r)) => {
                let d = r.last.ts.as_micros() - q.last.ts.as_micros();
                u64::try_from(d).ok()
            }
            _ => None,
        };
        Call {
            client,
            server,
            transport: self.info.transport,
            pipe: self.info.pipe.clone(),
            pipe_source: self.pipe_source,
            file_id: self.info.file_id.clone(),
            call_id: c.call_id,
            context_id: c.activity.is_none().then_some(c.context_id),
            activity: c.activity,
            interface,
            interface_source: c.binding.map(|b| b.source),
            opnum: c.opnum,
            operation,
            request: c.request.map(|s| s.public()),
            response: c.response.map(|s| s.public()),
            outcome,
            fault_status: c.fault,
            auth: c.auth.map(|(auth_type, level)| Auth { auth_type, level }),
            decryption: c.protection.decryption.as_ref().map(|d| d.name()),
            decryption_reason: c
                .protection
                .decryption
                .as_ref()
                .and_then(|d| d.reason())
                .map(str::to_string),
            signature: c.protection.signature,
            start,
            end: c.response.or(c.request).map_or(start, |s| s.last.ts),
            duration_us,
            status,
            object: c.object,
            endpoint_frame: self.info.expected.map(|e| e.frame),
            sec_addr: self.info.sec_addr.clone(),
            heads: Default::default(),
            verifier: c.verifier,
            pipes: None,
            decoded: None,
            stubs: None,
            epm: None,
            oxid: None,
            netlogon: None,
            netlogon_unread: None,
            transfer_syntax: c
                .binding
                .and_then(|b| b.transfer)
                .map(|t| t.transfer_kind())
                .filter(|k| matches!(k, TransferKind::Ndr | TransferKind::Ndr64))
                .map(TransferKind::name),
        }
    }

    /// The operation's return code: the last four bytes of a whole, readable response, for
    /// operations whose return type is an error code (an `--idl` description first, then the
    /// built-in table).
    fn status(&self, c: &OpenCall<Consumers>, outcome: Outcome) -> Option<Status> {
        if outcome != Outcome::Response || !c.response.is_some_and(|r| r.saw_first) {
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

/// True when the calls of `binding` keep their stubs for a decoder (the endpoint mapper,
/// DCOM, Netlogon, parameters) or have pipes an IDL describes: connectionless calls, whose
/// fragments may come in any order, keep stubs only then ([`super::connectionless`]).
pub(super) fn keeps_stubs(
    info: &TransportInfo,
    binding: Option<BoundContext>,
    opnum: u16,
    object: Option<Uuid>,
) -> bool {
    let report = Report {
        info,
        pipe_source: None,
    };
    decoder_for(
        binding,
        opnum,
        object,
        false,
        report.decodes_parameters(binding),
    )
    .is_some()
        || report.pipes_for(binding, opnum, true).is_some()
}

/// Reports a call [`super::unlabelled::Unlabelled`] held.
fn release(held: Held, label: Option<Expectation>, cx: &mut SessionContext) {
    let first_frame = held.call.first_frame;
    let record = labelled(held, label, cx);
    cx.outbox.released(record, first_frame);
}

/// The record of a call that ended without an interface, with the interface of `label` when
/// it names one (the answer's frame becomes its `endpoint_frame`).
fn labelled(held: Held, label: Option<Expectation>, cx: &mut SessionContext) -> Call {
    let Held {
        mut call,
        mut info,
        pipe_source,
        ..
    } = held;
    if let Some(label) = label {
        info.expected = Some(label);
        call.binding = label.interface.map(|abstract_syntax| BoundContext {
            abstract_syntax,
            transfer: None,
            source: "epm",
        });
    }
    let report = Report {
        info: &info,
        pipe_source,
    };
    report.choose_consumers_again(&mut call);
    report.report(call, cx)
}

/// An answer learned at `ts` announced `server`: the calls held for it are reported with
/// what the resolver now says of it (and their connections recorded as using it).
pub fn release_labelled(cx: &mut SessionContext, server: SocketAddr, ts: Timestamp) {
    if cx.unlabelled.is_empty() {
        return;
    }
    for held in cx.unlabelled.take_for(server) {
        let label = cx.resolver.connection(held.client(), server, ts);
        release(held, label, cx);
    }
}

/// Reports the held calls that waited their time at `now` (every one when `now` is `None`,
/// the end of the capture) without an interface.
pub fn release_unlabelled(cx: &mut SessionContext, now: Option<Timestamp>) {
    if cx.unlabelled.is_empty() {
        return;
    }
    let calls = match now {
        Some(now) => cx.unlabelled.take_expired(now),
        None => cx.unlabelled.take_all(),
    };
    for held in calls {
        release(held, None, cx);
    }
}

/// The decoder a new call's stubs are kept for: endpoint-mapper cx, DCOM answers carrying
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

/// The whole answer of `c` arrived, and it is not a fault.
/// An answer created the DCOM interface pointer `ipid` for interface `iid`.
fn learn_ipid(cx: &mut SessionContext, ipid: Uuid, iid: Uuid) {
    if !cx.knowledge.learn_ipid(ipid, iid) {
        cx.outbox.anomaly("limit_ipids", 0, || {
            format!("more than {MAX_IPIDS} DCOM interface pointers: later ones not remembered")
        });
    }
}

fn answered_whole(c: &OpenCall<Consumers>) -> bool {
    c.fault.is_none() && c.response.is_some_and(|r| r.saw_last && !r.damaged)
}

/// How an endpoint-mapper operation announced an endpoint.
fn epm_via(opnum: u16) -> &'static str {
    if opnum == epm::opnum::MAP {
        "ept_map"
    } else {
        "ept_lookup"
    }
}
