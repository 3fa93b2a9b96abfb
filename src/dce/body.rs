//! What each connection-oriented PDU type carries after its common header (C706 §12.6.4,
//! MS-RPCE §2.2.2): the fields [`crate::dcerpc::pdu`] reads, shared with the domain model that
//! reports PDUs ([`crate::model::PduRecord`]). Data only; the parsing is in the DCE/RPC layer.

use serde::Serialize;

use super::{SyntaxId, Uuid};

/// One presentation context element of a bind or alter_context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextElement {
    /// Presentation context id.
    pub context_id: u16,
    /// The interface.
    pub abstract_syntax: SyntaxId,
    /// Transfer syntaxes offered, in order.
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// Body of bind and alter_context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Largest fragment the client sends.
    pub max_xmit_frag: u16,
    /// Largest fragment the client receives.
    pub max_recv_frag: u16,
    /// Association group (0 = new).
    pub assoc_group_id: u32,
    /// Context elements in wire order.
    pub contexts: Vec<ContextElement>,
}

/// One result of a bind_ack or alter_context_resp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextResult {
    /// 0 acceptance, 1 user rejection, 2 provider rejection, 3 negotiate_ack.
    pub result: u16,
    /// Provider reason, or the feature bitmask for negotiate_ack.
    pub reason: u16,
    /// Accepted transfer syntax (zero when rejected).
    pub transfer_syntax: SyntaxId,
}

/// Body of bind_ack and alter_context_resp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAck {
    /// Server's max transmit fragment.
    pub max_xmit_frag: u16,
    /// Server's max receive fragment.
    pub max_recv_frag: u16,
    /// Association group.
    pub assoc_group_id: u32,
    /// Secondary address (port string or pipe name), without its NUL, as raw bytes.
    pub sec_addr: Vec<u8>,
    /// One result per context element of the bind, in the same order.
    pub results: Vec<ContextResult>,
}

/// Body of bind_nak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindNak {
    /// Reject reason.
    pub reason: u16,
    /// Protocol versions the server supports (major, minor).
    pub versions: Vec<(u8, u8)>,
}

/// Fixed part of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Allocation hint (stub size of the whole call, or 0).
    pub alloc_hint: u32,
    /// Presentation context id.
    pub context_id: u16,
    /// Operation number.
    pub opnum: u16,
    /// Object UUID (DCOM: the IPID) when PFC_OBJECT_UUID is set.
    pub object: Option<Uuid>,
}

/// Fixed part of a response (in JSON as it is: `{"context_id", "alloc_hint", "cancel_count"}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Response {
    /// Presentation context id.
    pub context_id: u16,
    /// Allocation hint.
    pub alloc_hint: u32,
    /// Cancels received.
    pub cancel_count: u8,
}

/// Fixed part of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Allocation hint.
    pub alloc_hint: u32,
    /// Presentation context id.
    pub context_id: u16,
    /// Cancels received.
    pub cancel_count: u8,
    /// fault_flags (bit 0: extended error information present).
    pub fault_flags: u8,
    /// Fault status.
    pub status: u32,
}

/// Body of a PDU, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// request (0)
    Request(Request),
    /// response (2)
    Response(Response),
    /// fault (3)
    Fault(Fault),
    /// bind (11)
    Bind(Bind),
    /// bind_ack (12)
    BindAck(BindAck),
    /// bind_nak (13)
    BindNak(BindNak),
    /// alter_context (14)
    AlterContext(Bind),
    /// alter_context_resp (15)
    AlterContextResp(BindAck),
    /// auth3 (16), shutdown (17), co_cancel (18), orphaned (19), rts (20): no body fields used.
    Other,
}
