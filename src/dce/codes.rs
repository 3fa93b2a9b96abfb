//! On-wire numbers of DCE/RPC as newtypes with names (C706 §12.6, MS-RPCE §2.2). Unknown values
//! are kept and printed as numbers, never rejected.

use std::borrow::Cow;
use std::fmt;

/// PDU type (PTYPE, header byte 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketType(pub u8);

impl PacketType {
    /// request (0)
    pub const REQUEST: Self = Self(0);
    /// response (2)
    pub const RESPONSE: Self = Self(2);
    /// fault (3)
    pub const FAULT: Self = Self(3);
    /// bind (11)
    pub const BIND: Self = Self(11);
    /// bind_ack (12)
    pub const BIND_ACK: Self = Self(12);
    /// bind_nak (13)
    pub const BIND_NAK: Self = Self(13);
    /// alter_context (14)
    pub const ALTER_CONTEXT: Self = Self(14);
    /// alter_context_resp (15)
    pub const ALTER_CONTEXT_RESP: Self = Self(15);
    /// auth3 (16)
    pub const AUTH3: Self = Self(16);
    /// shutdown (17)
    pub const SHUTDOWN: Self = Self(17);
    /// co_cancel (18)
    pub const CO_CANCEL: Self = Self(18);
    /// orphaned (19)
    pub const ORPHANED: Self = Self(19);
    /// rts (20), MS-RPCH RPC over HTTP
    pub const RTS: Self = Self(20);

    /// The snake_case name, or `None` for types that are not connection-oriented.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "request",
            2 => "response",
            3 => "fault",
            11 => "bind",
            12 => "bind_ack",
            13 => "bind_nak",
            14 => "alter_context",
            15 => "alter_context_resp",
            16 => "auth3",
            17 => "shutdown",
            18 => "co_cancel",
            19 => "orphaned",
            20 => "rts",
            _ => return None,
        })
    }

    /// The snake_case name of a connectionless PDU type (C706 §12.5.3, 0 to 10), or `None`.
    #[must_use]
    pub fn datagram_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "request",
            1 => "ping",
            2 => "response",
            3 => "fault",
            4 => "working",
            5 => "nocall",
            6 => "reject",
            7 => "ack",
            8 => "cl_cancel",
            9 => "fack",
            10 => "cancel_ack",
            _ => return None,
        })
    }

    /// True for the types a connection-oriented peer may send (0, 2, 3, 11–20).
    #[must_use]
    pub fn is_connection_oriented(self) -> bool {
        self.name().is_some()
    }

    /// True for PDUs only a client sends.
    #[must_use]
    pub fn is_from_client(self) -> bool {
        matches!(self.0, 0 | 11 | 14 | 16 | 18 | 19)
    }

    /// True for PDUs only a server sends.
    #[must_use]
    pub fn is_from_server(self) -> bool {
        matches!(self.0, 2 | 3 | 12 | 13 | 15 | 17)
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ptype_{}", self.0),
        }
    }
}

/// `pfc_flags` (header byte 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PfcFlags(pub u8);

impl PfcFlags {
    /// First fragment of a call's PDU sequence.
    pub const FIRST_FRAG: u8 = 0x01;
    /// Last fragment.
    pub const LAST_FRAG: u8 = 0x02;
    /// Pending cancel (or header signing support on bind-type PDUs).
    pub const PENDING_CANCEL: u8 = 0x04;
    /// Concurrent multiplexing.
    pub const CONC_MPX: u8 = 0x10;
    /// The call did not execute (fault).
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    /// Maybe semantics.
    pub const MAYBE: u8 = 0x40;
    /// An object UUID follows the opnum in a request.
    pub const OBJECT_UUID: u8 = 0x80;

    /// Is the first-fragment bit set?
    #[must_use]
    pub fn first(self) -> bool {
        self.0 & Self::FIRST_FRAG != 0
    }
    /// Is the last-fragment bit set?
    #[must_use]
    pub fn last(self) -> bool {
        self.0 & Self::LAST_FRAG != 0
    }
    /// Is the object-UUID bit set?
    #[must_use]
    pub fn object_uuid(self) -> bool {
        self.0 & Self::OBJECT_UUID != 0
    }

    /// The names of the bits set, lowest first, as C706 and MS-RPCE name them for a PDU of
    /// type `ptype` (bit 0x04 is `support_header_sign` on bind-type PDUs, MS-RPCE §2.2.2.3).
    #[must_use]
    pub fn names(self, ptype: PacketType) -> Vec<&'static str> {
        let bind_type = matches!(
            ptype,
            PacketType::BIND
                | PacketType::BIND_ACK
                | PacketType::ALTER_CONTEXT
                | PacketType::ALTER_CONTEXT_RESP
        );
        let name = |bit: u8| match bit {
            Self::FIRST_FRAG => "first_frag",
            Self::LAST_FRAG => "last_frag",
            Self::PENDING_CANCEL if bind_type => "support_header_sign",
            Self::PENDING_CANCEL => "pending_cancel",
            Self::CONC_MPX => "conc_mpx",
            Self::DID_NOT_EXECUTE => "did_not_execute",
            Self::MAYBE => "maybe",
            Self::OBJECT_UUID => "object_uuid",
            _ => "reserved_1",
        };
        (0..8)
            .map(|i| 1u8 << i)
            .filter(|bit| self.0 & bit != 0)
            .map(name)
            .collect()
    }
}

/// sec_trailer auth_type name as MS-RPCE / Samba spell it (`ntlmssp`, `spnego`, ...).
#[must_use]
pub fn auth_type_name(v: u8) -> Cow<'static, str> {
    match v {
        0 => "none".into(),
        1 => "krb5".into(),
        9 => "spnego".into(),
        10 => "ntlmssp".into(),
        14 => "schannel".into(),
        16 => "kerberos".into(),
        17 => "dpa".into(),
        18 => "msn".into(),
        21 => "digest".into(),
        68 => "netlogon".into(),
        100 => "msmq".into(),
        255 => "default".into(),
        other => Cow::Owned(format!("unknown_{other}")),
    }
}

/// sec_trailer auth_level name (`connect`, `pkt_integrity`, `pkt_privacy`, ...).
#[must_use]
pub fn auth_level_name(v: u8) -> Cow<'static, str> {
    match v {
        0 => "default".into(),
        1 => "none".into(),
        2 => "connect".into(),
        3 => "call".into(),
        4 => "pkt".into(),
        5 => "pkt_integrity".into(),
        6 => "pkt_privacy".into(),
        other => Cow::Owned(format!("unknown_{other}")),
    }
}

/// Name of a fault or reject status (NCA codes, common Win32/HRESULT faults, DCE `rpc_s_*`).
#[must_use]
pub fn fault_name(status: u32) -> Option<&'static str> {
    Some(match status {
        0x0000_0001 => "nca_s_fault_other",
        0x0000_0005 => "access_denied",
        0x0000_0057 => "invalid_parameter",
        0x0000_06c6 => "rpc_x_invalid_bound",
        0x0000_06d1 => "rpc_s_procnum_out_of_range",
        0x0000_06d8 => "nca_s_fault_cant_perform",
        0x0000_06e4 => "rpc_s_cannot_support",
        0x0000_06f7 => "nca_s_fault_ndr",
        0x0000_0721 => "nca_s_fault_sec_pkg_error",
        0x1c00_0001 => "nca_s_fault_int_div_by_zero",
        0x1c00_0002 => "nca_s_fault_addr_error",
        0x1c00_0003 => "nca_s_fault_fp_div_zero",
        0x1c00_0004 => "nca_s_fault_fp_underflow",
        0x1c00_0005 => "nca_s_fault_fp_overflow",
        0x1c00_0006 => "nca_s_fault_invalid_tag",
        0x1c00_0007 => "nca_s_fault_invalid_bound",
        0x1c00_0008 => "nca_s_rpc_version_mismatch",
        0x1c00_0009 => "nca_s_unspec_reject",
        0x1c00_000a => "nca_s_bad_actid",
        0x1c00_000b => "nca_s_who_are_you_failed",
        0x1c00_000c => "nca_s_manager_not_entered",
        0x1c00_000d => "nca_s_fault_cancel",
        0x1c00_000e => "nca_s_fault_ill_inst",
        0x1c00_000f => "nca_s_fault_fp_error",
        0x1c00_0010 => "nca_s_fault_int_overflow",
        0x1c00_0012 => "nca_s_fault_unspec",
        0x1c00_0013 => "nca_s_fault_remote_comm_failure",
        0x1c00_0014 => "nca_s_fault_pipe_empty",
        0x1c00_0015 => "nca_s_fault_pipe_closed",
        0x1c00_0016 => "nca_s_fault_pipe_order",
        0x1c00_0017 => "nca_s_fault_pipe_discipline",
        0x1c00_0018 => "nca_s_fault_pipe_comm_error",
        0x1c00_0019 => "nca_s_fault_pipe_memory",
        0x1c00_001a => "nca_s_fault_context_mismatch",
        0x1c00_001b => "nca_s_fault_remote_no_memory",
        0x1c00_001c => "nca_s_invalid_pres_context_id",
        0x1c00_001d => "nca_s_unsupported_authn_level",
        0x1c00_001f => "nca_s_invalid_checksum",
        0x1c00_0020 => "nca_s_invalid_crc",
        0x1c00_0021 => "nca_s_fault_user_defined",
        0x1c00_0022 => "nca_s_fault_tx_open_failed",
        0x1c00_0023 => "nca_s_fault_codeset_conv_error",
        0x1c00_0024 => "nca_s_fault_object_not_found",
        0x1c00_0025 => "nca_s_fault_no_client_stub",
        0x1c01_0001 => "nca_s_comm_failure",
        0x1c01_0002 => "nca_s_op_rng_error",
        0x1c01_0003 => "nca_s_unk_if",
        0x1c01_0006 => "nca_s_wrong_boot_time",
        0x1c01_0009 => "nca_s_you_crashed",
        0x1c01_000b => "nca_s_proto_error",
        0x1c01_0013 => "nca_s_out_args_too_big",
        0x1c01_0014 => "nca_s_server_too_busy",
        0x1c01_0015 => "nca_s_fault_string_too_long",
        0x1c01_0017 => "nca_s_unsupported_type",
        0x16c9_a016 => "rpc_s_comm_failure",
        0x16c9_a01f => "rpc_s_endpoint_not_found",
        0x16c9_a02c => "rpc_s_unknown_if",
        0x16c9_a0d6 => "ept_s_not_registered",
        0x8001_0105 => "rpc_e_serverfault",
        0x8001_0108 => "rpc_e_disconnected",
        0x8001_0113 => "rpc_e_invalid_ipid",
        0x8001_011f => "rpc_e_timeout",
        0x8000_4001 => "e_notimpl",
        0x8007_000e => "e_outofmemory",
        0x8007_0057 => "e_invalidarg",
        0x8007_0005 => "e_accessdenied",
        0x8007_06d1 => "rpc_s_procnum_out_of_range",
        0x8007_0776 => "or_invalid_oxid",
        _ => return None,
    })
}

/// bind_ack / alter_context_resp result (`p_cont_def_result`).
#[must_use]
pub fn context_result_name(v: u16) -> String {
    match v {
        0 => "acceptance".into(),
        1 => "user_rejection".into(),
        2 => "provider_rejection".into(),
        3 => "negotiate_ack".into(),
        other => format!("result_{other}"),
    }
}

/// Provider reason of a rejected presentation context.
#[must_use]
pub fn provider_reason_name(v: u16) -> String {
    match v {
        0 => "reason_not_specified".into(),
        1 => "abstract_syntax_not_supported".into(),
        2 => "proposed_transfer_syntaxes_not_supported".into(),
        3 => "local_limit_exceeded".into(),
        other => format!("reason_{other}"),
    }
}

/// bind_nak reject reason.
#[must_use]
pub fn bind_nak_reason_name(v: u16) -> String {
    match v {
        0 => "reason_not_specified".into(),
        1 => "temporary_congestion".into(),
        2 => "local_limit_exceeded".into(),
        3 => "called_paddr_unknown".into(),
        4 => "protocol_version_not_supported".into(),
        5 => "default_context_not_supported".into(),
        6 => "user_data_not_readable".into(),
        7 => "no_psap_available".into(),
        8 => "authentication_type_not_recognized".into(),
        9 => "invalid_checksum".into(),
        other => format!("reason_{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_values() {
        assert_eq!(PacketType::BIND_ACK.to_string(), "bind_ack");
        assert_eq!(PacketType(42).to_string(), "ptype_42");
        assert_eq!(fault_name(0x1c01_0002), Some("nca_s_op_rng_error"));
        assert_eq!(fault_name(0x1234), None);
        assert_eq!(auth_level_name(6), "pkt_privacy");
        assert_eq!(auth_type_name(77), "unknown_77");
        assert!(PacketType::REQUEST.is_from_client() && PacketType::FAULT.is_from_server());
    }
}
