//! The records rpcscope reports: the only serialised types. Field names and meaning follow
//! `docs/json-format.md` (which includes the stable minimum contract); change both together.

use serde::Serialize;

use crate::dce::InterfaceRef;

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

/// A PDU that is not part of a call (bind, bind_ack, alter_context, alter_context_resp,
/// bind_nak, auth3, shutdown, co_cancel, orphaned), for the call-flow view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PduNote {
    /// Frame that completed the PDU.
    pub frame: u64,
    /// Client endpoint of the association.
    pub client: String,
    /// Server endpoint.
    pub server: String,
    /// Transport.
    pub transport: &'static str,
    /// SMB FileId of a pipe.
    pub file_id: Option<String>,
    /// PDU type name.
    pub ptype: String,
    /// Sent by the client.
    pub from_client: bool,
    /// What it says: contexts offered, results, reasons, auth.
    pub text: String,
}

/// How a call ended (`outcome` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

/// One RPC call: a request and its response or fault (`"type": "call"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// Always `"call"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Client transport endpoint, `ip:port` or `[ipv6]:port`.
    pub client: String,
    /// Server transport endpoint.
    pub server: String,
    /// `ncacn_ip_tcp`, `ncacn_np` or `ncacn_http`.
    pub transport: &'static str,
    /// Pipe name for `ncacn_np` as opened, else null.
    pub pipe: Option<String>,
    /// Where `pipe` came from: `create` (the SMB open) or `sec_addr` (the bind_ack's secondary
    /// address, when the open was not captured).
    pub pipe_source: Option<&'static str>,
    /// SMB FileId of the pipe (32 hex digits as on the wire) or SMB1 FID (4 hex digits).
    pub file_id: Option<String>,
    /// Call identifier.
    pub call_id: u32,
    /// Presentation context of the request (of the response when the request was not seen).
    pub context_id: u16,
    /// The interface bound to `context_id`.
    pub interface: Option<InterfaceRef>,
    /// How the interface was learned (`bind`, `alter_context`, ...).
    pub interface_source: Option<&'static str>,
    /// Operation number (null when only the response was captured).
    pub opnum: Option<u16>,
    /// Operation name when the interface and opnum are known.
    pub operation: Option<String>,
    /// Request PDUs.
    pub request: Option<PduSpan>,
    /// Response PDUs, or the fault PDU.
    pub response: Option<PduSpan>,
    /// How the call ended.
    pub outcome: Outcome,
    /// Fault status when the outcome is `fault`.
    pub fault_status: Option<u32>,
    /// Name of the fault status.
    pub fault_name: Option<String>,
    /// Auth type of the request's sec_trailer.
    pub auth_type: Option<String>,
    /// Auth level of the request's sec_trailer.
    pub auth_level: Option<String>,
    /// On sealed (pkt_privacy) calls: `decrypted`, `no_key` or `failed`; null on clear calls.
    pub decryption: Option<&'static str>,
    /// Why a sealed call was not decrypted: the secret it needs, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption_reason: Option<String>,
    /// `valid` or `invalid` when the call's signatures were checked (a key was known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static str>,
    /// Time of the first frame (request, or response when no request), RFC 3339 UTC, µs.
    pub start: String,
    /// From the request's last frame to the response's last frame.
    pub duration_us: Option<u64>,
    /// The operation's return code, for operations whose return type is an error code and
    /// whose whole response was readable.
    pub status: Option<crate::status::Status>,
    /// Object UUID of the request (DCOM IPID), when present.
    pub object: Option<String>,
    /// Transfer syntax of the context (`ndr`, `ndr64`), when known.
    pub transfer_syntax: Option<&'static str>,
    /// Frame of the endpoint-mapper or OXID answer that announced the server endpoint of this
    /// call's connection, when one did.
    pub endpoint_frame: Option<u64>,
    /// First bytes of the first request PDU and of the first response (or fault) PDU, for the PDU
    /// detail view (kept when the engine collects PDU notes, as the terminal interface has it);
    /// not serialised.
    #[serde(skip)]
    pub heads: [Vec<u8>; 2],
    /// The request's auth verifier (sec_trailer: type, level, pad length, context id, auth
    /// value length), for the PDU detail view; not serialised.
    #[serde(skip)]
    pub verifier: Option<(u8, u8, u8, u32, u16)>,
    /// Time of the first frame and of the last frame of the call, µs since the epoch; not
    /// serialised (`start` and `duration_us` are).
    #[serde(skip)]
    pub span_us: (i64, i64),
    /// NDR pipe parameters of the call, when an IDL describes its operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipes: Option<Vec<crate::idl::decode::PipeReport>>,
    /// Decoded \[in\] and \[out\] parameters (`--decode`, calls an IDL describes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded: Option<Box<crate::idl::values::Decoded>>,
    /// The stubs of a call an IDL describes, kept instead of `decoded` when the decoding is
    /// left for later ([`crate::idl::Library::keep_stubs`]: the terminal interface decodes the
    /// selected call on demand); not serialised.
    #[serde(skip)]
    pub stubs: Option<Box<crate::idl::values::CallStubs>>,
    /// Decoded endpoint-mapper request and answer (present only on endpoint-mapper calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epm: Option<Box<crate::epm::EpmView>>,
    /// String bindings of a DCOM answer (present only on OXID resolver and activation calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oxid: Option<Box<crate::dcom::OxidView>>,
    /// What a Netlogon secure-channel setup or password call says (present only on those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netlogon: Option<Box<crate::netlogon::NetlogonView>>,
}

impl CallRecord {
    /// A bare answered-less call over TCP, its request in frames `first..=last` (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(call_id: u32, first: u64, last: u64) -> Self {
        Self {
            kind: "call",
            client: String::new(),
            server: String::new(),
            transport: "ncacn_ip_tcp",
            pipe: None,
            pipe_source: None,
            file_id: None,
            call_id,
            context_id: 0,
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
            fault_name: None,
            auth_type: None,
            auth_level: None,
            decryption: None,
            decryption_reason: None,
            signature: None,
            start: String::new(),
            duration_us: None,
            status: None,
            object: None,
            transfer_syntax: None,
            endpoint_frame: None,
            heads: Default::default(),
            verifier: None,
            span_us: (0, 0),
            pipes: None,
            decoded: None,
            stubs: None,
            epm: None,
            oxid: None,
            netlogon: None,
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
