//! Analysis layer, the domain model: what the engine reports, typed (addresses, times, codes,
//! UUIDs), for every output to render its own way. A finished [`Call`] is written as JSON by
//! [`crate::output::json`] (`docs/json-format.md`), as a table row by [`crate::output::text`],
//! counted by [`crate::summary`] and shown by [`crate::tui`]; a [`PduRecord`] reports one PDU
//! (`rpcscope pdus`, the call-flow view).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dce::body::Body;
use crate::dce::codes::{PacketType, PfcFlags, auth_level_name, auth_type_name, fault_name};
use crate::dce::{SyntaxId, Uuid};
use crate::source::Timestamp;
use crate::status::Severity;

/// The PDUs of one direction of a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PduSpan {
    /// `[FIRST, LAST]`: frame of the first byte of the first fragment, and the frame that
    /// completed the last fragment.
    pub frames: [u64; 2],
    /// Number of fragments (PDUs) seen.
    pub fragments: u32,
    /// Stub bytes over all fragments (header, object UUID, auth pad and verifier excluded).
    pub stub_len: u64,
}

/// One PDU as read (`rpcscope pdus`, `"type": "pdu"` in JSON, whose form is
/// [`crate::output::json::PduJson`]): connection-oriented, or connectionless with its header in
/// `datagram`; the call-flow view shows those that are not part of a call (bind, bind_ack,
/// alter_context, auth3, ping, ack, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PduRecord {
    /// Frame that completed the PDU.
    pub frame: u64,
    /// Capture time of that frame.
    pub ts: Timestamp,
    /// Client endpoint of the association.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// Transport.
    pub transport: &'static str,
    /// Pipe name of an `ncacn_np` association, when known.
    pub pipe: Option<Arc<str>>,
    /// SMB FileId of a pipe.
    pub file_id: Option<Arc<str>>,
    /// Sent by the client.
    pub from_client: bool,
    /// PDU type.
    pub ptype: PacketType,
    /// `pfc_flags`.
    pub flags: PfcFlags,
    /// Call identifier.
    pub call_id: u32,
    /// `frag_length`: the whole PDU.
    pub frag_len: u16,
    /// `auth_length`: the auth value after the sec_trailer.
    pub auth_len: u16,
    /// Integers in little-endian order (the data representation's first byte).
    pub little_endian: bool,
    /// The sec_trailer, when `auth_len` is not zero.
    pub auth: Option<PduAuth>,
    /// Stub bytes (requests, responses and faults; zero for the others).
    pub stub_len: u32,
    /// What the PDU type carries after the header (`Other` for connectionless PDUs).
    pub body: Body,
    /// The connectionless header of an `ncadg_ip_udp` PDU; for those, `call_id` is the sequence
    /// number, `frag_len` the header and body, `auth_len` the verifier after the body, and
    /// `flags` is empty (the header's flags are here).
    pub datagram: Option<DatagramFields>,
}

impl PduRecord {
    /// True for the PDUs of a call (request, response, fault; reject for connectionless
    /// calls), which the call records report.
    #[must_use]
    pub fn is_call_pdu(&self) -> bool {
        match self.datagram {
            Some(_) => matches!(self.ptype.0, 0 | 2 | 3 | 6),
            None => matches!(
                self.body,
                Body::Request(_) | Body::Response(_) | Body::Fault(_)
            ),
        }
    }

    /// The name of the PDU type (connectionless types by their own names).
    #[must_use]
    pub fn ptype_name(&self) -> Cow<'static, str> {
        match self.datagram.and_then(|_| self.ptype.datagram_name()) {
            Some(name) => Cow::Borrowed(name),
            None => match self.ptype.name() {
                Some(name) => Cow::Borrowed(name),
                None => Cow::Owned(self.ptype.to_string()),
            },
        }
    }
}

/// The header of a connectionless PDU (C706 §12.5.1) as `rpcscope pdus` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramFields {
    /// `flags1` ([`DatagramFields::flag_names`]).
    pub flags1: u8,
    /// `flags2` (0x02: cancel pending).
    pub flags2: u8,
    /// Activity UUID: with the sequence number, the call.
    pub activity: Uuid,
    /// Interface and version the header names (none for the nil UUID).
    pub interface: Option<SyntaxId>,
    /// Object UUID (none for the nil UUID).
    pub object: Option<Uuid>,
    /// Operation number.
    pub opnum: u16,
    /// Fragment number.
    pub fragnum: u16,
    /// Serial number: the order the sender sent its fragments.
    pub serial: u16,
    /// Body length.
    pub body_len: u16,
    /// Authentication protocol (0: none).
    pub auth_proto: u8,
    /// The status a fault or reject carries.
    pub status: Option<u32>,
}

impl DatagramFields {
    /// The names of the `flags1` bits set, lowest first (C706 §12.5.3.1 and Wireshark's names).
    #[must_use]
    pub fn flag_names(&self) -> Vec<&'static str> {
        const NAMES: [&str; 8] = [
            "reserved_01",
            "last_frag",
            "frag",
            "no_fack",
            "maybe",
            "idempotent",
            "broadcast",
            "reserved_80",
        ];
        NAMES
            .iter()
            .enumerate()
            .filter(|&(bit, _)| self.flags1 & (1 << bit) != 0)
            .map(|(_, &n)| n)
            .collect()
    }

    /// True when `flags2` says a cancel is pending.
    #[must_use]
    pub fn cancel_pending(&self) -> bool {
        self.flags2 & 0x02 != 0
    }
}

/// The sec_trailer of a PDU (MS-RPCE §2.2.2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduAuth {
    /// `auth_type`.
    pub auth_type: u8,
    /// `auth_level`.
    pub level: u8,
    /// `auth_pad_length`.
    pub pad_len: u8,
    /// `auth_context_id`.
    pub context_id: u32,
}

/// How a call ended (`outcome` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its whole response arrived.
    Response,
    /// A fault answered it.
    Fault,
    /// Its whole request arrived and no answer did (by the end of its connection).
    NoResponse,
    /// Bytes of it were lost (a gap, a cut PDU), or only part of it was captured.
    Incomplete,
}

impl Outcome {
    /// The name JSON and the table use.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Fault => "fault",
            Self::NoResponse => "no_response",
            Self::Incomplete => "incomplete",
        }
    }

    /// A response or a fault came.
    #[must_use]
    pub fn answered(self) -> bool {
        matches!(self, Self::Response | Self::Fault)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An interface as a call's presentation context bound it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Abstract syntax: UUID and version.
    pub syntax: SyntaxId,
    /// Name from the interface table or a description, when known.
    pub name: Option<Name>,
}

/// A name the engine found: from a built-in table (no allocation) or from a description.
pub type Name = Cow<'static, str>;

/// The sec_trailer of a call's request: auth type and level as on the wire (MS-RPCE §2.2.1.1.7,
/// §2.2.1.1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth {
    /// `auth_type`.
    pub auth_type: u8,
    /// `auth_level`.
    pub level: u8,
}

impl Auth {
    /// The auth type's name (`ntlmssp`, `spnego`, ... or the number).
    #[must_use]
    pub fn type_name(self) -> Cow<'static, str> {
        auth_type_name(self.auth_type)
    }

    /// The auth level's name (`connect`, `pkt_integrity`, `pkt_privacy`, ... or the number).
    #[must_use]
    pub fn level_name(self) -> Cow<'static, str> {
        auth_level_name(self.level)
    }

    /// `TYPE/LEVEL`, as the table and the summary show it.
    #[must_use]
    pub fn label(self) -> String {
        format!("{}/{}", self.type_name(), self.level_name())
    }
}

/// One RPC call: a request and its response or fault, as the engine reports it. Its JSON form
/// (`"type": "call"`, `docs/json-format.md`) is written by [`crate::output::json::push_call`];
/// its text row is in [`crate::output::text`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Client transport endpoint.
    pub client: SocketAddr,
    /// Server transport endpoint.
    pub server: SocketAddr,
    /// `ncacn_ip_tcp`, `ncacn_np`, `ncacn_http` or `ncadg_ip_udp`.
    pub transport: &'static str,
    /// Pipe name for `ncacn_np` as opened.
    pub pipe: Option<Arc<str>>,
    /// Where `pipe` came from: `create` (the SMB open) or `sec_addr` (the bind_ack's secondary
    /// address, when the open was not captured).
    pub pipe_source: Option<&'static str>,
    /// SMB FileId of the pipe (32 hex digits as on the wire) or SMB1 FID (4 hex digits).
    pub file_id: Option<Arc<str>>,
    /// Call identifier (the sequence number of a connectionless call).
    pub call_id: u32,
    /// Presentation context of the request (of the response when the request was not seen);
    /// none for connectionless calls, which have no contexts.
    pub context_id: Option<u16>,
    /// Activity UUID of a connectionless call (with `call_id`, the call's key).
    pub activity: Option<Uuid>,
    /// The interface bound to `context_id`.
    pub interface: Option<Interface>,
    /// How the interface was learned (`bind`, `alter_context`, ...).
    pub interface_source: Option<&'static str>,
    /// Operation number (none when only the response was captured).
    pub opnum: Option<u16>,
    /// Operation name when the interface and opnum are known.
    pub operation: Option<Name>,
    /// Request PDUs.
    pub request: Option<PduSpan>,
    /// Response PDUs, or the fault PDU.
    pub response: Option<PduSpan>,
    /// How the call ended.
    pub outcome: Outcome,
    /// Fault status when the outcome is `fault`.
    pub fault_status: Option<u32>,
    /// The request's sec_trailer, when it had one.
    pub auth: Option<Auth>,
    /// On sealed (pkt_privacy) calls: `decrypted`, `no_key` or `failed`.
    pub decryption: Option<&'static str>,
    /// Why a sealed call was not decrypted: the secret it needs, or what failed.
    pub decryption_reason: Option<String>,
    /// Whether the call's signatures were valid, when they were checked (a key was known).
    pub signature: Option<bool>,
    /// Time of the first frame (request, or response when no request).
    pub start: Timestamp,
    /// Time of the last frame of the call.
    pub end: Timestamp,
    /// From the request's last frame to the response's last frame.
    pub duration_us: Option<u64>,
    /// The operation's return code, for operations whose return type is an error code and
    /// whose whole response was readable.
    pub status: Option<crate::status::Status>,
    /// Object UUID of the request (DCOM IPID), when present.
    pub object: Option<Uuid>,
    /// Transfer syntax of the context (`ndr`, `ndr64`), when known.
    pub transfer_syntax: Option<&'static str>,
    /// Frame of the endpoint-mapper or OXID answer that announced the server endpoint of this
    /// call's connection, when one did.
    pub endpoint_frame: Option<u64>,
    /// The secondary address of the association's latest bind_ack or alter_context_resp (a
    /// port for TCP, the server's pipe name for named pipes), when one named it.
    pub sec_addr: Option<Arc<str>>,
    /// First bytes of the first request PDU and of the first response (or fault) PDU, for the PDU
    /// detail view (kept when the engine collects PDU notes, as the terminal interface has it).
    pub heads: [Vec<u8>; 2],
    /// The request's auth verifier (sec_trailer: type, level, pad length, context id, auth
    /// value length), for the PDU detail view.
    pub verifier: Option<(u8, u8, u8, u32, u16)>,
    /// NDR pipe parameters of the call, when an IDL describes its operation.
    pub pipes: Option<Vec<crate::idl::decode::PipeReport>>,
    /// Decoded \[in\] and \[out\] parameters (`--decode`, calls an IDL describes).
    pub decoded: Option<Box<crate::idl::values::Decoded>>,
    /// The stubs of a call an IDL describes, kept instead of `decoded` when the decoding is
    /// left for later ([`crate::idl::Library::keep_stubs`]: the terminal interface decodes the
    /// selected call on demand).
    pub stubs: Option<Box<crate::idl::values::CallStubs>>,
    /// Decoded endpoint-mapper request and answer (present only on endpoint-mapper calls).
    pub epm: Option<Box<crate::epm::EpmView>>,
    /// String bindings of a DCOM answer (present only on OXID resolver and activation calls).
    pub oxid: Option<Box<crate::dcom::OxidView>>,
    /// What a Netlogon secure-channel setup or password call says (present only on those).
    pub netlogon: Option<Box<crate::netlogon::NetlogonView>>,
    /// A secure-channel call not read yet: the call stage ([`crate::engine::calls`]) reads it
    /// into `netlogon` before the call is handed over, so no one outside the engine sees it.
    pub netlogon_unread: Option<Box<crate::netlogon::Unread>>,
}

impl Call {
    /// The call's first frame: its request's, or its response's when the request was not
    /// captured; the frame the call table shows (`None` for neither).
    #[must_use]
    pub fn first_frame(&self) -> Option<u64> {
        self.request
            .as_ref()
            .or(self.response.as_ref())
            .map(|s| s.frames[0])
    }

    /// A bare answered-less call over TCP, its request in frames `first..=last` (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(call_id: u32, first: u64, last: u64) -> Self {
        Self {
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            server: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: "ncacn_ip_tcp",
            pipe: None,
            pipe_source: None,
            file_id: None,
            call_id,
            context_id: Some(0),
            activity: None,
            interface: None,
            interface_source: None,
            opnum: Some(0),
            operation: None,
            request: Some(PduSpan {
                frames: [first, last],
                fragments: 1,
                stub_len: 0,
            }),
            response: None,
            outcome: Outcome::NoResponse,
            fault_status: None,
            auth: None,
            decryption: None,
            decryption_reason: None,
            signature: None,
            start: Timestamp::default(),
            end: Timestamp::default(),
            duration_us: None,
            status: None,
            object: None,
            transfer_syntax: None,
            endpoint_frame: None,
            sec_addr: None,
            heads: Default::default(),
            verifier: None,
            pipes: None,
            decoded: None,
            stubs: None,
            epm: None,
            oxid: None,
            netlogon: None,
            netlogon_unread: None,
        }
    }

    /// Name of the fault status (`nca_s_op_rng_error`, ... or `0x` and eight hex digits).
    #[must_use]
    pub fn fault_name(&self) -> Option<Name> {
        self.fault_status
            .map(|s| fault_name(s).map_or_else(|| Cow::Owned(format!("0x{s:08x}")), Cow::Borrowed))
    }

    /// `Interface.Operation` as the call table shows it: the interface's name (its UUID and
    /// version when unnamed, `?` when unknown), the operation's name (`opnum N` when unnamed).
    #[must_use]
    pub fn label(&self) -> String {
        let iface = match &self.interface {
            Some(i) => i.name.as_deref().map_or_else(
                || format!("{} v{}.{}", i.syntax.uuid, i.syntax.major, i.syntax.minor),
                str::to_string,
            ),
            None => "?".to_string(),
        };
        let op = match (&self.operation, self.opnum) {
            (Some(name), _) => name.to_string(),
            (None, Some(n)) => format!("opnum {n}"),
            (None, None) => "?".to_string(),
        };
        format!("{iface}.{op}")
    }

    /// The outcome as the call table shows it: a fault with its name; an answer with its
    /// return code when it is not plain success (`ERROR STATUS_ACCESS_DENIED`,
    /// `WARN ERROR_MORE_DATA`, `ok S_FALSE`, `ok`).
    #[must_use]
    pub fn outcome_label(&self) -> String {
        match (self.outcome, self.fault_name(), self.status) {
            (Outcome::Fault, Some(name), _) => format!("FAULT {name}"),
            (Outcome::Response, _, Some(st)) => match st.severity() {
                Severity::Error => format!("ERROR {}", st.label()),
                Severity::Warning => format!("WARN {}", st.label()),
                Severity::Success if st.code == 0 => "ok".to_string(),
                Severity::Success => format!("ok {}", st.label()),
            },
            (o, _, _) => o.to_string(),
        }
    }

    /// Sort key: first request frame (or response frame), then last frame, then call id.
    #[must_use]
    pub fn sort_key(&self) -> (u64, u64, u32) {
        let span = self.request.as_ref().or(self.response.as_ref());
        span.map_or((u64::MAX, u64::MAX, self.call_id), |s| {
            (s.frames[0], s.frames[1], self.call_id)
        })
    }
}
