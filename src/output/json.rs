//! Output layer, JSON Lines: one object per line, each with a `"type"` field
//! (`docs/json-format.md`, which includes the stable minimum contract). [`CallJson`] is the schema
//! of a call record, made from the typed [`Call`]; change it and the document together.
//! serde_json escapes every C0 control character; C1 controls and the bidirectional-text
//! controls (U+202E and its kin) are written as `\uXXXX` escapes too, so that a line read on a
//! terminal shows what it holds (the parsed strings are the same). The records hold no raw wire
//! bytes.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::terminal_control;
use crate::dce::Uuid;
use crate::dcom::OxidView;
use crate::epm::EpmView;
use crate::idl::decode::PipeReport;
use crate::idl::values::Decoded;
use crate::model::{Call, Interface, Name, Outcome, PduSpan};
use crate::netlogon::NetlogonView;
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

/// Writes one call as a line (`"type": "call"`).
///
/// # Errors
/// Any write error, as [`write_line`].
pub fn write_call<W: Write>(out: &mut W, call: &Call) -> io::Result<()> {
    write_line(out, &CallJson::from(call))
}

/// A call record in JSON: field names, order and meaning as `docs/json-format.md` gives them.
/// Names and texts are rendered here, from the codes and numbers of the [`Call`].
#[derive(Serialize)]
pub struct CallJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(serialize_with = "display")]
    client: &'a SocketAddr,
    #[serde(serialize_with = "display")]
    server: &'a SocketAddr,
    transport: &'static str,
    pipe: Option<&'a str>,
    pipe_source: Option<&'static str>,
    file_id: Option<&'a str>,
    call_id: u32,
    context_id: u16,
    interface: Option<InterfaceJson<'a>>,
    interface_source: Option<&'static str>,
    opnum: Option<u16>,
    operation: Option<&'a str>,
    request: Option<&'a PduSpan>,
    response: Option<&'a PduSpan>,
    outcome: Outcome,
    fault_status: Option<u32>,
    fault_name: Option<Name>,
    auth_type: Option<String>,
    auth_level: Option<String>,
    decryption: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decryption_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'static str>,
    start: String,
    duration_us: Option<u64>,
    status: Option<&'a Status>,
    #[serde(serialize_with = "display_option")]
    object: Option<&'a Uuid>,
    transfer_syntax: Option<&'static str>,
    endpoint_frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipes: Option<&'a [PipeReport]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded: Option<&'a Decoded>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epm: Option<&'a EpmView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oxid: Option<&'a OxidView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    netlogon: Option<&'a NetlogonView>,
}

impl<'a> From<&'a Call> for CallJson<'a> {
    fn from(c: &'a Call) -> Self {
        Self {
            kind: "call",
            client: &c.client,
            server: &c.server,
            transport: c.transport,
            pipe: c.pipe.as_deref(),
            pipe_source: c.pipe_source,
            file_id: c.file_id.as_deref(),
            call_id: c.call_id,
            context_id: c.context_id,
            interface: c.interface.as_ref().map(InterfaceJson),
            interface_source: c.interface_source,
            opnum: c.opnum,
            operation: c.operation.as_deref(),
            request: c.request.as_ref(),
            response: c.response.as_ref(),
            outcome: c.outcome,
            fault_status: c.fault_status,
            fault_name: c.fault_name(),
            auth_type: c.auth.map(|a| a.type_name()),
            auth_level: c.auth.map(|a| a.level_name()),
            decryption: c.decryption,
            decryption_reason: c.decryption_reason.as_deref(),
            signature: c.signature.map(|v| if v { "valid" } else { "invalid" }),
            start: c.start.rfc3339_micros(),
            duration_us: c.duration_us,
            status: c.status.as_ref(),
            object: c.object.as_ref(),
            transfer_syntax: c.transfer_syntax,
            endpoint_frame: c.endpoint_frame,
            pipes: c.pipes.as_deref(),
            decoded: c.decoded.as_deref(),
            epm: c.epm.as_deref(),
            oxid: c.oxid.as_deref(),
            netlogon: c.netlogon.as_deref(),
        }
    }
}

/// `{"uuid": ..., "version": "MAJOR.MINOR", "name": ...}`.
struct InterfaceJson<'a>(&'a Interface);

impl Serialize for InterfaceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let mut st = s.serialize_struct("Interface", 3)?;
        st.serialize_field("uuid", &Shown(i.syntax.uuid))?;
        st.serialize_field(
            "version",
            &Shown(format_args!("{}.{}", i.syntax.major, i.syntax.minor)),
        )?;
        st.serialize_field("name", &i.name.as_deref())?;
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

fn display_option<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// serde_json's compact output with the characters [`super::terminal_control`] names escaped.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if terminal_control(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
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
