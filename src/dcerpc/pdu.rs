//! Parsing of one whole connection-oriented PDU (C706 §12.6, MS-RPCE §2.2.2): the 16-byte common
//! header (integers in the byte order of the PDU's own data representation), the body of every
//! PDU type, and the auth verifier (sec_trailer, C706 §13.2.6.1) with exact stub boundaries.
//!
//! [`parse_header`] needs only 16 bytes and is what framing uses; [`parse_pdu`] takes exactly
//! `frag_length` bytes. Every count read from the wire is checked against the bytes left; nothing
//! is allocated from a length on the wire.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::Endianness;
use nom::number::complete::{u16, u32};

use crate::dce::codes::{PacketType, PfcFlags};
use crate::dce::{SyntaxId, Uuid};

/// Size of the common header.
pub const HEADER_LEN: usize = 16;
/// Size of the sec_trailer that precedes the auth value.
pub const SEC_TRAILER_LEN: usize = 8;

/// Why bytes are not a valid PDU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Fewer bytes than the structure needs.
    #[error("{what} needs more bytes than the PDU holds")]
    Short {
        /// The structure being read.
        what: &'static str,
    },
    /// The header is not a connection-oriented DCE/RPC v5 header.
    #[error("not a DCE/RPC v5 header: {0}")]
    BadHeader(&'static str),
    /// The auth verifier does not fit in the PDU.
    #[error("auth verifier of {auth_len} bytes does not fit in a {frag_len}-byte {ptype} PDU")]
    AuthOutOfBounds {
        /// auth_length field.
        auth_len: u16,
        /// frag_length field.
        frag_len: u16,
        /// PDU type.
        ptype: PacketType,
    },
}

type Res<'a, T> = Result<(&'a [u8], T), PduError>;

fn byte(i: &[u8]) -> IResult<&[u8], u8> {
    nom::number::complete::u8(i)
}

fn short(what: &'static str) -> impl Fn(nom::Err<nom::error::Error<&[u8]>>) -> PduError {
    move |_| PduError::Short { what }
}

/// The common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// rpc_vers (5).
    pub version: u8,
    /// rpc_vers_minor (0 or 1).
    pub version_minor: u8,
    /// PDU type.
    pub ptype: PacketType,
    /// pfc_flags.
    pub flags: PfcFlags,
    /// Data representation label.
    pub drep: [u8; 4],
    /// Length of the whole PDU.
    pub frag_len: u16,
    /// Length of the auth value (after the 8-byte sec_trailer).
    pub auth_len: u16,
    /// Call identifier.
    pub call_id: u32,
}

impl Header {
    /// Integer byte order of this PDU.
    #[must_use]
    pub fn endian(&self) -> Endianness {
        if self.little_endian() {
            Endianness::Little
        } else {
            Endianness::Big
        }
    }

    /// True when integers are little-endian (drep byte 0 high nibble = 1).
    #[must_use]
    pub fn little_endian(&self) -> bool {
        self.drep[0] & 0x10 != 0
    }

    /// The test used to keep framing a stream already in sync: a v5 header with a length that can
    /// be skipped. A PDU that passes it but fails to parse is reported and skipped, and framing
    /// continues after it.
    #[must_use]
    pub fn is_frameable(&self) -> bool {
        self.version == 5
            && self.version_minor <= 1
            && self.drep[0] & 0xee == 0
            && usize::from(self.frag_len) >= HEADER_LEN
    }

    /// The strict test used to find DCE/RPC in a stream: version 5.0/5.1, a connection-oriented
    /// type, a sane data representation, and lengths that fit together.
    #[must_use]
    pub fn is_plausible(&self) -> bool {
        let min_len = min_len_for(self.ptype);
        self.version == 5
            && self.version_minor <= 1
            && self.ptype.is_connection_oriented()
            && self.drep[0] & 0xee == 0
            && self.drep[1] <= 3
            && usize::from(self.frag_len) >= min_len
            && (self.auth_len == 0
                || usize::from(self.auth_len) + SEC_TRAILER_LEN + HEADER_LEN
                    <= usize::from(self.frag_len))
    }
}

impl Header {
    /// Extra checks for finding a first header (at a segment boundary or after a gap): a
    /// response never carries the object-UUID flag, and the reserved drep bytes are zero.
    #[must_use]
    pub fn flags_plausible(&self) -> bool {
        let response_with_object = self.ptype == PacketType::RESPONSE && self.flags.object_uuid();
        !response_with_object && self.drep[2] == 0 && self.drep[3] == 0
    }
}

/// Smallest possible PDU of each type (header + fixed body).
fn min_len_for(ptype: PacketType) -> usize {
    match ptype {
        PacketType::REQUEST | PacketType::RESPONSE => 24,
        // The fault's trailing reserved word is missing in some implementations.
        PacketType::FAULT => 28,
        PacketType::BIND | PacketType::ALTER_CONTEXT => 28,
        PacketType::BIND_ACK | PacketType::ALTER_CONTEXT_RESP => 26,
        PacketType::BIND_NAK => 18,
        PacketType::RTS => 20,
        _ => HEADER_LEN,
    }
}

/// Parses the 16-byte common header (no plausibility check; see [`Header::is_plausible`]).
///
/// # Errors
/// [`PduError::Short`] with fewer than 16 bytes.
pub fn parse_header(i: &[u8]) -> Result<Header, PduError> {
    let b = i
        .get(..HEADER_LEN)
        .ok_or(PduError::Short { what: "header" })?;
    let drep = [b[4], b[5], b[6], b[7]];
    let le = drep[0] & 0x10 != 0;
    let rd16 = |x: [u8; 2]| {
        if le {
            u16::from_le_bytes(x)
        } else {
            u16::from_be_bytes(x)
        }
    };
    let rd32 = |x: [u8; 4]| {
        if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        }
    };
    Ok(Header {
        version: b[0],
        version_minor: b[1],
        ptype: PacketType(b[2]),
        flags: PfcFlags(b[3]),
        drep,
        frag_len: rd16([b[8], b[9]]),
        auth_len: rd16([b[10], b[11]]),
        call_id: rd32([b[12], b[13], b[14], b[15]]),
    })
}

pub use crate::dce::body::{
    Bind, BindAck, BindNak, Body, ContextElement, ContextResult, Fault, Request, Response,
};

/// The auth verifier's sec_trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthVerifier {
    /// auth_type.
    pub auth_type: u8,
    /// auth_level.
    pub auth_level: u8,
    /// Pad bytes before the trailer (part of the stub area, not of the stub).
    pub pad_len: u8,
    /// auth_context_id.
    pub context_id: u32,
    /// Length of the auth value (token or signature).
    pub value_len: u16,
    /// Offset of the sec_trailer in the PDU.
    pub offset: usize,
}

/// A parsed PDU. `stub` is the byte range of the stub within the PDU (request, response and
/// fault), excluding header, object UUID, auth pad and verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// Common header.
    pub header: Header,
    /// Type-specific body.
    pub body: Body,
    /// Auth verifier, when auth_length is not zero.
    pub auth: Option<AuthVerifier>,
    /// Stub range within the PDU bytes.
    pub stub: std::ops::Range<usize>,
    /// The auth pad claims more bytes than the stub area has (the stub is then empty).
    pub bad_auth_pad: bool,
}

impl Pdu {
    /// Stub length in bytes.
    #[must_use]
    pub fn stub_len(&self) -> usize {
        self.stub.len()
    }
}

fn syntax(e: Endianness) -> impl Fn(&[u8]) -> Res<'_, SyntaxId> {
    move |i| {
        let (i, raw) = take(16usize).parse(i).map_err(short("syntax id"))?;
        let mut a = [0u8; 16];
        a.copy_from_slice(raw);
        // The version is a u32 in the PDU's byte order: major version in the low 16 bits,
        // minor in the high 16 bits (a big-endian bind carries `00 00 00 01` for 1.0).
        let (i, version) = u32(e).parse(i).map_err(short("syntax id"))?;
        let (major, minor) = ((version & 0xffff) as u16, (version >> 16) as u16);
        Ok((
            i,
            SyntaxId {
                uuid: Uuid::from_wire(&a, e == Endianness::Little),
                major,
                minor,
            },
        ))
    }
}

fn parse_bind(i: &[u8], e: Endianness) -> Result<Bind, PduError> {
    let what = short("bind body");
    let (i, max_xmit_frag) = u16(e).parse(i).map_err(&what)?;
    let (i, max_recv_frag) = u16(e).parse(i).map_err(&what)?;
    let (i, assoc_group_id) = u32(e).parse(i).map_err(&what)?;
    let (i, n) = byte(i).map_err(&what)?;
    let (mut i, _) = take(3usize).parse(i).map_err(&what)?;
    let mut contexts = Vec::new();
    for _ in 0..n {
        let (r, context_id) = u16(e).parse(i).map_err(short("context element"))?;
        let (r, n_ts) = byte(r).map_err(short("context element"))?;
        let (r, _) = byte(r).map_err(short("context element"))?;
        let (mut r, abstract_syntax) = syntax(e)(r)?;
        let mut transfer_syntaxes = Vec::new();
        for _ in 0..n_ts {
            let (r2, ts) = syntax(e)(r)?;
            transfer_syntaxes.push(ts);
            r = r2;
        }
        contexts.push(ContextElement {
            context_id,
            abstract_syntax,
            transfer_syntaxes,
        });
        i = r;
    }
    Ok(Bind {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        contexts,
    })
}

fn parse_bind_ack(pdu: &[u8], body_end: usize, e: Endianness) -> Result<BindAck, PduError> {
    let what = short("bind_ack body");
    let i = pdu.get(HEADER_LEN..body_end).ok_or(PduError::Short {
        what: "bind_ack body",
    })?;
    let (i, max_xmit_frag) = u16(e).parse(i).map_err(&what)?;
    let (i, max_recv_frag) = u16(e).parse(i).map_err(&what)?;
    let (i, assoc_group_id) = u32(e).parse(i).map_err(&what)?;
    let (i, addr_len) = u16(e).parse(i).map_err(&what)?;
    let (i, addr) = take(addr_len).parse(i).map_err(short("sec_addr"))?;
    let sec_addr = addr.split(|&c| c == 0).next().unwrap_or(&[]).to_vec();
    // Pad to a 4-byte boundary relative to the start of the PDU.
    let consumed = HEADER_LEN + 10 + usize::from(addr_len);
    let pad = (4 - consumed % 4) % 4;
    let i = i.get(pad..).unwrap_or(&[]);
    // Some servers omit the results entirely (e.g. a bind_ack answering only auth).
    let mut results = Vec::new();
    if let Ok((rest, n)) = byte(i) {
        let mut r = rest.get(3..).unwrap_or(&[]);
        for _ in 0..n {
            let (r2, result) = u16(e).parse(r).map_err(short("context result"))?;
            let (r2, reason) = u16(e).parse(r2).map_err(short("context result"))?;
            let (r2, transfer_syntax) = syntax(e)(r2)?;
            results.push(ContextResult {
                result,
                reason,
                transfer_syntax,
            });
            r = r2;
        }
    }
    Ok(BindAck {
        max_xmit_frag,
        max_recv_frag,
        assoc_group_id,
        sec_addr,
        results,
    })
}

/// Parses a whole PDU; `bytes` must be exactly `frag_length` long (framing guarantees this).
///
/// # Errors
/// [`PduError`] when the header is not DCE/RPC v5, a body is shorter than its fields, or the auth
/// verifier does not fit. Never panics, whatever the input.
pub fn parse_pdu(bytes: &[u8]) -> Result<Pdu, PduError> {
    let header = parse_header(bytes)?;
    if header.version != 5 || header.version_minor > 1 {
        return Err(PduError::BadHeader("version is not 5.0 or 5.1"));
    }
    let frag_len = usize::from(header.frag_len);
    if frag_len < HEADER_LEN || bytes.len() < frag_len {
        return Err(PduError::Short { what: "PDU" });
    }
    let bytes = bytes.get(..frag_len).unwrap_or(bytes);
    let e = header.endian();
    let auth_total = if header.auth_len > 0 {
        usize::from(header.auth_len) + SEC_TRAILER_LEN
    } else {
        0
    };
    let out_of_bounds = PduError::AuthOutOfBounds {
        auth_len: header.auth_len,
        frag_len: header.frag_len,
        ptype: header.ptype,
    };
    if auth_total + HEADER_LEN > frag_len {
        return Err(out_of_bounds);
    }
    let trailer_at = frag_len - auth_total;
    let auth = if auth_total > 0 {
        let t = bytes
            .get(trailer_at..trailer_at + SEC_TRAILER_LEN)
            .ok_or(out_of_bounds.clone())?;
        let ctx = [t[4], t[5], t[6], t[7]];
        Some(AuthVerifier {
            auth_type: t[0],
            auth_level: t[1],
            pad_len: t[2],
            context_id: if e == Endianness::Little {
                u32::from_le_bytes(ctx)
            } else {
                u32::from_be_bytes(ctx)
            },
            value_len: header.auth_len,
            offset: trailer_at,
        })
    } else {
        None
    };
    let body_bytes = bytes.get(HEADER_LEN..trailer_at).unwrap_or(&[]);
    let mut stub = 0..0;
    let mut bad_auth_pad = false;
    let mut stub_from = |start: usize| -> Result<std::ops::Range<usize>, PduError> {
        if trailer_at < start {
            return Err(out_of_bounds.clone());
        }
        let pad = auth.map_or(0, |a| usize::from(a.pad_len));
        if trailer_at - start < pad {
            bad_auth_pad = true;
            return Ok(start..start);
        }
        Ok(start..trailer_at - pad)
    };
    let body = match header.ptype {
        PacketType::REQUEST => {
            let w = short("request header");
            let (i, alloc_hint) = u32(e).parse(body_bytes).map_err(&w)?;
            let (i, context_id) = u16(e).parse(i).map_err(&w)?;
            let (i, opnum) = u16(e).parse(i).map_err(&w)?;
            let object = if header.flags.object_uuid() {
                let (_, raw) = take(16usize).parse(i).map_err(short("object UUID"))?;
                let mut a = [0u8; 16];
                a.copy_from_slice(raw);
                Some(Uuid::from_wire(&a, e == Endianness::Little))
            } else {
                None
            };
            stub = stub_from(if object.is_some() { 40 } else { 24 })?;
            Body::Request(Request {
                alloc_hint,
                context_id,
                opnum,
                object,
            })
        }
        PacketType::RESPONSE => {
            let w = short("response header");
            let (i, alloc_hint) = u32(e).parse(body_bytes).map_err(&w)?;
            let (i, context_id) = u16(e).parse(i).map_err(&w)?;
            let (_, cancel_count) = byte(i).map_err(&w)?;
            stub = stub_from(24)?;
            Body::Response(Response {
                alloc_hint,
                context_id,
                cancel_count,
            })
        }
        PacketType::FAULT => {
            let w = short("fault header");
            let (i, alloc_hint) = u32(e).parse(body_bytes).map_err(&w)?;
            let (i, context_id) = u16(e).parse(i).map_err(&w)?;
            let (i, cancel_count) = byte(i).map_err(&w)?;
            let (i, fault_flags) = byte(i).map_err(&w)?;
            let (_, status) = u32(e).parse(i).map_err(&w)?;
            stub = stub_from(32).unwrap_or(trailer_at..trailer_at);
            Body::Fault(Fault {
                alloc_hint,
                context_id,
                cancel_count,
                fault_flags,
                status,
            })
        }
        PacketType::BIND => Body::Bind(parse_bind(body_bytes, e)?),
        PacketType::ALTER_CONTEXT => Body::AlterContext(parse_bind(body_bytes, e)?),
        PacketType::BIND_ACK => Body::BindAck(parse_bind_ack(bytes, trailer_at, e)?),
        PacketType::ALTER_CONTEXT_RESP => {
            Body::AlterContextResp(parse_bind_ack(bytes, trailer_at, e)?)
        }
        PacketType::BIND_NAK => {
            let w = short("bind_nak body");
            let (i, reason) = u16(e).parse(body_bytes).map_err(&w)?;
            let mut versions = Vec::new();
            if let Ok((mut r, n)) = byte(i) {
                for _ in 0..n {
                    match r {
                        [major, minor, rest @ ..] => {
                            versions.push((*major, *minor));
                            r = rest;
                        }
                        _ => break,
                    }
                }
            }
            Body::BindNak(BindNak { reason, versions })
        }
        _ => Body::Other,
    };
    Ok(Pdu {
        header,
        body,
        auth,
        stub,
        bad_auth_pad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dce::{NDR_UUID, TransferKind};

    /// Bind for lsarpc 0.0 with NDR, little-endian, call_id 1 (layout of an impacket bind).
    pub(crate) fn bind_bytes(le: bool) -> Vec<u8> {
        let w16 = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let w32 = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let uuid_wire = |u: crate::dce::Uuid| {
            let mut b = u.0;
            if le {
                b[0..4].reverse();
                b[4..6].reverse();
                b[6..8].reverse();
            }
            b
        };
        let lsarpc = crate::dce::Uuid::parse("12345778-1234-abcd-ef00-0123456789ab").unwrap();
        let mut p = vec![5, 0, 11, 3, if le { 0x10 } else { 0 }, 0, 0, 0];
        p.extend(w16(72));
        p.extend(w16(0));
        p.extend(w32(1));
        p.extend(w16(4280));
        p.extend(w16(4280));
        p.extend(w32(0));
        p.extend([1, 0, 0, 0]);
        p.extend(w16(0));
        p.extend([1, 0]);
        p.extend(uuid_wire(lsarpc));
        p.extend(w32(0));
        p.extend(uuid_wire(NDR_UUID));
        p.extend(w32(2));
        p
    }

    #[test]
    fn parses_bind_in_both_byte_orders() {
        for le in [true, false] {
            let pdu = parse_pdu(&bind_bytes(le)).unwrap();
            assert!(pdu.header.is_plausible());
            assert_eq!(pdu.header.call_id, 1);
            let Body::Bind(b) = pdu.body else {
                panic!("not a bind")
            };
            assert_eq!(b.max_xmit_frag, 4280);
            assert_eq!(b.contexts.len(), 1);
            let c = &b.contexts[0];
            assert_eq!(
                c.abstract_syntax.uuid.to_string(),
                "12345778-1234-abcd-ef00-0123456789ab"
            );
            assert_eq!(c.transfer_syntaxes[0].transfer_kind(), TransferKind::Ndr);
            assert_eq!(c.transfer_syntaxes[0].major, 2);
        }
    }

    #[test]
    fn request_stub_excludes_object_pad_and_verifier() {
        // request, flags first|last|object, auth_len 16, pad 4, stub 8 (+4 pad)
        let mut p = vec![5, 0, 0, 0x83, 0x10, 0, 0, 0];
        let frag_len: u16 = 40 + 8 + 4 + 8 + 16;
        p.extend(frag_len.to_le_bytes());
        p.extend(16u16.to_le_bytes());
        p.extend(7u32.to_le_bytes());
        p.extend(8u32.to_le_bytes());
        p.extend(1u16.to_le_bytes());
        p.extend(9u16.to_le_bytes());
        p.extend([0xaa; 16]);
        p.extend([1; 8]);
        p.extend([0; 4]);
        p.extend([10, 6, 4, 0, 0, 0, 0, 0]);
        p.extend([0xee; 16]);
        let pdu = parse_pdu(&p).unwrap();
        let Body::Request(r) = pdu.body else { panic!() };
        assert_eq!((r.context_id, r.opnum), (1, 9));
        assert!(r.object.is_some());
        assert_eq!(pdu.stub, 40..48);
        let a = pdu.auth.unwrap();
        assert_eq!((a.auth_type, a.auth_level, a.pad_len), (10, 6, 4));
    }

    #[test]
    fn accepts_fault_without_trailing_reserved_word() {
        // arkime/dcerpc_synthetic.pcap frame 14: a 28-byte fault.
        let bytes = [
            5, 0, 3, 3, 0x10, 0, 0, 0, 0x1c, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1,
            0x1c,
        ];
        let pdu = parse_pdu(&bytes).unwrap();
        assert!(pdu.header.is_plausible());
        let Body::Fault(f) = pdu.body else { panic!() };
        assert_eq!(f.status, 0x1c01_0002);
        assert_eq!(pdu.stub_len(), 0);
    }

    #[test]
    fn rejects_verifier_larger_than_pdu() {
        let mut p = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
        p.extend(24u16.to_le_bytes());
        p.extend(100u16.to_le_bytes());
        p.extend(1u32.to_le_bytes());
        p.extend([0; 8]);
        assert!(matches!(
            parse_pdu(&p),
            Err(PduError::AuthOutOfBounds { .. })
        ));
        assert!(!parse_header(&p).unwrap().is_plausible());
    }

    #[test]
    fn parses_bind_ack_with_sec_addr_and_results() {
        let mut p = vec![5, 0, 12, 3, 0x10, 0, 0, 0];
        let mut body = Vec::new();
        body.extend(4280u16.to_le_bytes());
        body.extend(4280u16.to_le_bytes());
        body.extend(0x1234u32.to_le_bytes());
        body.extend(6u16.to_le_bytes());
        body.extend(b"49667\0");
        // 16 + 10 + 6 = 32: already aligned
        body.extend([2, 0, 0, 0]);
        body.extend(0u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        let mut ndr = NDR_UUID.0;
        ndr[0..4].reverse();
        ndr[4..6].reverse();
        ndr[6..8].reverse();
        body.extend(ndr);
        body.extend(2u32.to_le_bytes());
        body.extend(2u16.to_le_bytes());
        body.extend(2u16.to_le_bytes());
        body.extend([0; 20]);
        let frag_len = (16 + body.len()) as u16;
        p.extend(frag_len.to_le_bytes());
        p.extend(0u16.to_le_bytes());
        p.extend(1u32.to_le_bytes());
        p.extend(body);
        let pdu = parse_pdu(&p).unwrap();
        let Body::BindAck(a) = pdu.body else { panic!() };
        assert_eq!(a.sec_addr, b"49667");
        assert_eq!(a.results.len(), 2);
        assert_eq!(a.results[0].transfer_syntax.uuid, NDR_UUID);
        assert_eq!((a.results[1].result, a.results[1].reason), (2, 2));
    }
}
