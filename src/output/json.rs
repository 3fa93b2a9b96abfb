//! Output layer, JSON Lines: one object per line, each with a `"type"` field
//! (`docs/json-format.md`, which includes the stable minimum contract). [`push_call`] is the schema
//! of a call record, written from the typed [`Call`], and [`PduJson`] that of a PDU record, made
//! from a [`PduRecord`]; change them and the document together.
//! serde_json escapes every C0 control character; C1 controls and the bidirectional-text
//! controls (U+202E and its kin) are written as `\uXXXX` escapes too, so that a line read on a
//! terminal shows what it holds (the parsed strings are the same). The records hold no raw wire
//! bytes.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::json_fields::{Object, TerminalSafe, push_int};
use crate::dce::body::{Bind, BindAck, BindNak, Body, ContextResult, Fault, Request, Response};
use crate::dce::codes::{
    auth_level_name, auth_type_name, bind_nak_reason_name, context_result_name, fault_name,
    provider_reason_name,
};
use crate::dce::{SyntaxId, TransferKind, names};
use crate::model::{Call, DatagramFields, Interface, PduAuth, PduRecord, PduSpan};
use crate::status::Status;

/// Writes one record as a line.
///
/// # Errors
/// Any write error (a closed pipe included, which the caller treats as a normal end).
pub fn write_line<W: Write, T: Serialize>(out: &mut W, record: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe);
    record.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Writes one call as a line (`"type": "call"`), as [`push_call`] makes it.
///
/// # Errors
/// Any write error (a closed pipe included, which the caller treats as a normal end).
pub fn write_call<W: Write>(out: &mut W, call: &Call) -> io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    push_call(&mut line, call)?;
    out.write_all(&line)
}

/// Appends one call as a line (`"type": "call"`) to `out`: the schema of a call record, field
/// names, order and meaning as `docs/json-format.md` gives them. Names and texts are rendered
/// here, from the codes and numbers of the [`Call`]. Written field by field
/// ([`super::json_fields`]); the nested records few calls have go through serde.
///
/// # Errors
/// A nested record's serialisation failed.
pub fn push_call(out: &mut Vec<u8>, c: &Call) -> io::Result<()> {
    let mut o = Object::open(out);
    o.str("type", "call");
    o.address("client", &c.client);
    o.address("server", &c.server);
    o.str("transport", c.transport);
    o.opt_str("pipe", c.pipe.as_deref());
    o.opt_str("pipe_source", c.pipe_source);
    o.opt_str("file_id", c.file_id.as_deref());
    o.int("call_id", c.call_id);
    o.opt_int("context_id", c.context_id);
    if let Some(activity) = &c.activity {
        o.shown("activity", activity);
    }
    match &c.interface {
        Some(i) => push_interface(o.key("interface"), i),
        None => o.key("interface").extend_from_slice(b"null"),
    }
    o.opt_str("interface_source", c.interface_source);
    o.opt_int("opnum", c.opnum);
    o.opt_str("operation", c.operation.as_deref());
    push_span(o.key("request"), c.request.as_ref());
    push_span(o.key("response"), c.response.as_ref());
    o.str("outcome", c.outcome.name());
    o.opt_int("fault_status", c.fault_status);
    o.opt_str("fault_name", c.fault_name().as_deref());
    o.opt_str("auth_type", c.auth.map(|a| a.type_name()).as_deref());
    o.opt_str("auth_level", c.auth.map(|a| a.level_name()).as_deref());
    o.opt_str("decryption", c.decryption);
    if let Some(reason) = &c.decryption_reason {
        o.str("decryption_reason", reason);
    }
    if let Some(valid) = c.signature {
        o.str("signature", if valid { "valid" } else { "invalid" });
    }
    let start = o.key("start");
    start.push(b'"');
    c.start.push_rfc3339_micros(start);
    start.push(b'"');
    o.opt_int("duration_us", c.duration_us);
    match &c.status {
        Some(status) => push_status(o.key("status"), status),
        None => o.key("status").extend_from_slice(b"null"),
    }
    o.opt_shown("object", c.object.as_ref());
    o.opt_str("transfer_syntax", c.transfer_syntax);
    o.opt_int("endpoint_frame", c.endpoint_frame);
    o.opt_str("sec_addr", c.sec_addr.as_deref());
    if let Some(pipes) = &c.pipes {
        o.serialized("pipes", pipes)?;
    }
    if let Some(decoded) = &c.decoded {
        o.serialized("decoded", decoded)?;
    }
    if let Some(epm) = &c.epm {
        o.serialized("epm", epm)?;
    }
    if let Some(oxid) = &c.oxid {
        o.serialized("oxid", oxid)?;
    }
    if let Some(netlogon) = &c.netlogon {
        o.serialized("netlogon", netlogon)?;
    }
    o.close();
    out.push(b'\n');
    Ok(())
}

/// `{"uuid": ..., "version": "MAJOR.MINOR", "name": ...}`.
fn push_interface(out: &mut Vec<u8>, i: &Interface) {
    let mut o = Object::open(out);
    o.shown("uuid", i.syntax.uuid);
    let version = o.key("version");
    version.push(b'"');
    push_int(version, i.syntax.major);
    version.push(b'.');
    push_int(version, i.syntax.minor);
    version.push(b'"');
    o.opt_str("name", i.name.as_deref());
    o.close();
}

/// `{"frames": [FIRST, LAST], "fragments": N, "stub_len": N}`, or `null`.
fn push_span(out: &mut Vec<u8>, span: Option<&PduSpan>) {
    let Some(span) = span else {
        out.extend_from_slice(b"null");
        return;
    };
    let mut o = Object::open(out);
    let frames = o.key("frames");
    frames.push(b'[');
    push_int(frames, span.frames[0]);
    frames.push(b',');
    push_int(frames, span.frames[1]);
    frames.push(b']');
    o.int("fragments", span.fragments);
    o.int("stub_len", span.stub_len);
    o.close();
}

/// `{"code": N, "type": ..., "name": ...}` of an operation's return code.
fn push_status(out: &mut Vec<u8>, status: &Status) {
    let mut o = Object::open(out);
    o.int("code", status.code);
    o.str("type", status.kind.name());
    o.opt_str("name", status.name().as_deref());
    o.close();
}

/// Writes one PDU as a line (`"type": "pdu"`).
///
/// # Errors
/// Any write error, as [`write_line`].
pub fn write_pdu<W: Write>(out: &mut W, pdu: &PduRecord) -> io::Result<()> {
    write_line(out, &PduJson::from(pdu))
}

/// A PDU record in JSON (`rpcscope pdus --json`): the common header, the sec_trailer, and one
/// object for what the PDU type carries (`bind` for bind and alter_context, `bind_ack` for
/// bind_ack and alter_context_resp, `bind_nak`, `request`, `response`, `fault`), as
/// `docs/json-format.md` gives them.
#[derive(Serialize)]
pub struct PduJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    frame: u64,
    time: String,
    #[serde(serialize_with = "display")]
    client: &'a SocketAddr,
    #[serde(serialize_with = "display")]
    server: &'a SocketAddr,
    transport: &'static str,
    pipe: Option<&'a str>,
    file_id: Option<&'a str>,
    from: &'static str,
    ptype: String,
    call_id: u32,
    flags: Vec<&'static str>,
    frag_len: u16,
    auth_len: u16,
    little_endian: bool,
    auth: Option<AuthJson>,
    stub_len: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    bind: Option<BindJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bind_ack: Option<BindAckJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bind_nak: Option<BindNakJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<RequestJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a Response>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<FaultJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datagram: Option<DatagramJson<'a>>,
}

impl<'a> From<&'a PduRecord> for PduJson<'a> {
    fn from(p: &'a PduRecord) -> Self {
        let (mut bind, mut bind_ack, mut bind_nak) = (None, None, None);
        let (mut request, mut response, mut fault) = (None, None, None);
        match &p.body {
            Body::Bind(b) | Body::AlterContext(b) => bind = Some(BindJson(b)),
            Body::BindAck(a) | Body::AlterContextResp(a) => bind_ack = Some(BindAckJson(a)),
            Body::BindNak(n) => bind_nak = Some(BindNakJson(n)),
            Body::Request(r) => request = Some(RequestJson(r)),
            Body::Response(r) => response = Some(r),
            Body::Fault(f) => fault = Some(FaultJson(f)),
            Body::Other => {}
        }
        Self {
            kind: "pdu",
            frame: p.frame,
            time: p.ts.rfc3339_micros(),
            client: &p.client,
            server: &p.server,
            transport: p.transport,
            pipe: p.pipe.as_deref(),
            file_id: p.file_id.as_deref(),
            from: if p.from_client { "client" } else { "server" },
            ptype: p.ptype_name().into_owned(),
            call_id: p.call_id,
            flags: match &p.datagram {
                Some(d) => d.flag_names(),
                None => p.flags.names(p.ptype),
            },
            frag_len: p.frag_len,
            auth_len: p.auth_len,
            little_endian: p.little_endian,
            auth: p.auth.map(AuthJson),
            stub_len: p.stub_len,
            bind,
            bind_ack,
            bind_nak,
            request,
            response,
            fault,
            datagram: p.datagram.as_ref().map(DatagramJson),
        }
    }
}

/// The connectionless header of a PDU: `activity`, `fragnum`, `serial`, `interface` (as a
/// bind's abstract syntax, or null), `opnum`, `object`, `body_len`, `auth_proto`,
/// `cancel_pending`, and a fault's or reject's `status` and `status_name` (null otherwise).
struct DatagramJson<'a>(&'a DatagramFields);

impl Serialize for DatagramJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut st = s.serialize_struct("Datagram", 11)?;
        st.serialize_field("activity", &Shown(d.activity))?;
        st.serialize_field("fragnum", &d.fragnum)?;
        st.serialize_field("serial", &d.serial)?;
        st.serialize_field(
            "interface",
            &d.interface.as_ref().map(|syntax| SyntaxJson {
                syntax,
                transfer: false,
            }),
        )?;
        st.serialize_field("opnum", &d.opnum)?;
        st.serialize_field("object", &d.object.map(Shown))?;
        st.serialize_field("body_len", &d.body_len)?;
        st.serialize_field("auth_proto", &d.auth_proto)?;
        st.serialize_field("cancel_pending", &d.cancel_pending())?;
        st.serialize_field("status", &d.status)?;
        st.serialize_field("status_name", &d.status.and_then(fault_name))?;
        st.end()
    }
}

/// `{"type", "level", "pad_len", "context_id"}` of a sec_trailer.
struct AuthJson(PduAuth);

impl Serialize for AuthJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut st = s.serialize_struct("Auth", 4)?;
        st.serialize_field("type", &auth_type_name(a.auth_type))?;
        st.serialize_field("level", &auth_level_name(a.level))?;
        st.serialize_field("pad_len", &a.pad_len)?;
        st.serialize_field("context_id", &a.context_id)?;
        st.end()
    }
}

/// A syntax identifier: `{"uuid", "version", "name"}`, the name from the interface table for
/// an abstract syntax, the transfer syntax's kind (`ndr`, `ndr64`,
/// `bind_time_feature_negotiation`) for a transfer syntax.
struct SyntaxJson<'a> {
    syntax: &'a SyntaxId,
    transfer: bool,
}

impl Serialize for SyntaxJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.syntax;
        let name = if self.transfer {
            Some(x.transfer_kind().name()).filter(|&n| n != "other")
        } else {
            names::interface_name(x.uuid, x.major)
        };
        let mut st = s.serialize_struct("Syntax", 3)?;
        st.serialize_field("uuid", &Shown(x.uuid))?;
        st.serialize_field("version", &Shown(format_args!("{}.{}", x.major, x.minor)))?;
        st.serialize_field("name", &name)?;
        st.end()
    }
}

/// The bind-time feature bits a transfer syntax offers (MS-RPCE §3.3.1.5.3), if it is one.
fn offered_features(t: &SyntaxId) -> Option<u16> {
    match t.transfer_kind() {
        TransferKind::FeatureNegotiation(bits) => Some(bits),
        _ => None,
    }
}

/// The body of a bind or alter_context.
struct BindJson<'a>(&'a Bind);

impl Serialize for BindJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Context<'a> {
            context_id: u16,
            abstract_syntax: SyntaxJson<'a>,
            transfer_syntaxes: Vec<SyntaxJson<'a>>,
            features: Option<u16>,
        }
        let b = self.0;
        let contexts: Vec<Context<'_>> = b
            .contexts
            .iter()
            .map(|c| Context {
                context_id: c.context_id,
                abstract_syntax: SyntaxJson {
                    syntax: &c.abstract_syntax,
                    transfer: false,
                },
                transfer_syntaxes: c
                    .transfer_syntaxes
                    .iter()
                    .map(|t| SyntaxJson {
                        syntax: t,
                        transfer: true,
                    })
                    .collect(),
                features: c.transfer_syntaxes.iter().find_map(offered_features),
            })
            .collect();
        let mut st = s.serialize_struct("Bind", 4)?;
        st.serialize_field("max_xmit_frag", &b.max_xmit_frag)?;
        st.serialize_field("max_recv_frag", &b.max_recv_frag)?;
        st.serialize_field("assoc_group", &b.assoc_group_id)?;
        st.serialize_field("contexts", &contexts)?;
        st.end()
    }
}

/// The body of a bind_ack or alter_context_resp.
struct BindAckJson<'a>(&'a BindAck);

impl Serialize for BindAckJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Result<'a> {
            ack_result: u16,
            ack_result_name: String,
            ack_reason: Option<u16>,
            ack_reason_name: Option<String>,
            transfer_syntax: Option<SyntaxJson<'a>>,
            features: Option<u16>,
        }
        let negotiated = |r: &ContextResult| r.result == 3;
        let a = self.0;
        let results: Vec<Result<'_>> = a
            .results
            .iter()
            .map(|r| Result {
                ack_result: r.result,
                ack_result_name: context_result_name(r.result),
                ack_reason: (!negotiated(r)).then_some(r.reason),
                ack_reason_name: (!negotiated(r)).then(|| provider_reason_name(r.reason)),
                transfer_syntax: (r.result == 0).then_some(SyntaxJson {
                    syntax: &r.transfer_syntax,
                    transfer: true,
                }),
                features: negotiated(r).then_some(r.reason),
            })
            .collect();
        let sec_addr = (!a.sec_addr.is_empty()).then(|| String::from_utf8_lossy(&a.sec_addr));
        let mut st = s.serialize_struct("BindAck", 5)?;
        st.serialize_field("max_xmit_frag", &a.max_xmit_frag)?;
        st.serialize_field("max_recv_frag", &a.max_recv_frag)?;
        st.serialize_field("assoc_group", &a.assoc_group_id)?;
        st.serialize_field("sec_addr", &sec_addr)?;
        st.serialize_field("results", &results)?;
        st.end()
    }
}

/// The body of a bind_nak.
struct BindNakJson<'a>(&'a BindNak);

impl Serialize for BindNakJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let versions: Vec<String> = n
            .versions
            .iter()
            .map(|(major, minor)| format!("{major}.{minor}"))
            .collect();
        let mut st = s.serialize_struct("BindNak", 3)?;
        st.serialize_field("reason", &n.reason)?;
        st.serialize_field("reason_name", &bind_nak_reason_name(n.reason))?;
        st.serialize_field("versions", &versions)?;
        st.end()
    }
}

/// The fixed part of a request.
struct RequestJson<'a>(&'a Request);

impl Serialize for RequestJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut st = s.serialize_struct("Request", 4)?;
        st.serialize_field("context_id", &r.context_id)?;
        st.serialize_field("opnum", &r.opnum)?;
        st.serialize_field("alloc_hint", &r.alloc_hint)?;
        st.serialize_field("object", &r.object.as_ref().map(Shown))?;
        st.end()
    }
}

/// The fixed part of a fault.
struct FaultJson<'a>(&'a Fault);

impl Serialize for FaultJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut st = s.serialize_struct("Fault", 5)?;
        st.serialize_field("context_id", &f.context_id)?;
        st.serialize_field("alloc_hint", &f.alloc_hint)?;
        st.serialize_field("cancel_count", &f.cancel_count)?;
        st.serialize_field("status", &f.status)?;
        st.serialize_field("status_name", &fault_name(f.status))?;
        st.end()
    }
}

/// A value written as the JSON string of its `Display` form, without an intermediate `String`.
struct Shown<T: Display>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_and_parse_back_the_same() {
        let text = "a\u{202e}gnp.exe\u{9b}31m\u{1b}z\u{2066}é";
        let mut out = Vec::new();
        write_line(&mut out, &serde_json::json!({ "pipe": text })).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"pipe\":\"a\\u202egnp.exe\\u009b31m\\u001bz\\u2066é\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["pipe"], text);
    }
}
