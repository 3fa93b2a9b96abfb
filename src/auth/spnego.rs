//! SPNEGO (RFC 4178, MS-SPNG), security layer: the negotiation tokens around a mechanism's own
//! (NTLMSSP or Kerberos) in DCE/RPC auth type 9. Only what unsealing needs is read: the
//! mechanism, its token and whether a mechListMIC went by.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Choice, Decode, Enumerated, Reader, Sequence, SliceReader};

/// NTLMSSP (1.3.6.1.4.1.311.2.2.10).
pub const NTLMSSP_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.2.10");
/// Kerberos 5 (1.2.840.113554.1.2.2).
pub const KERBEROS_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113554.1.2.2");
/// Microsoft's Kerberos 5 (1.2.840.48018.1.2.2).
pub const MS_KERBEROS_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.48018.1.2.2");
/// SPNEGO (1.3.6.1.5.5.2).
const SPNEGO_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.2");

/// NegState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
enum NegState {
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

/// NegTokenInit.
#[derive(Clone, Debug, Sequence)]
struct NegTokenInit {
    #[asn1(context_specific = "0")]
    mech_types: Vec<ObjectIdentifier>,
    #[asn1(context_specific = "1", optional = "true")]
    req_flags: Option<der::asn1::BitString>,
    #[asn1(context_specific = "2", optional = "true")]
    mech_token: Option<OctetString>,
    #[asn1(context_specific = "3", optional = "true")]
    mech_list_mic: Option<OctetString>,
}

/// NegTokenResp.
#[derive(Clone, Debug, Sequence)]
struct NegTokenResp {
    #[asn1(context_specific = "0", optional = "true")]
    neg_state: Option<NegState>,
    #[asn1(context_specific = "1", optional = "true")]
    supported_mech: Option<ObjectIdentifier>,
    #[asn1(context_specific = "2", optional = "true")]
    response_token: Option<OctetString>,
    #[asn1(context_specific = "3", optional = "true")]
    mech_list_mic: Option<OctetString>,
}

/// NegotiationToken.
#[derive(Clone, Debug, Choice)]
enum NegotiationToken {
    #[asn1(context_specific = "0", constructed = "true")]
    Init(NegTokenInit),
    #[asn1(context_specific = "1", constructed = "true")]
    Resp(NegTokenResp),
}

/// The mechanism a negotiation names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// NTLMSSP.
    Ntlmssp,
    /// Kerberos (either OID).
    Kerberos,
    /// Another mechanism.
    Other,
}

impl Mechanism {
    fn of(oid: &ObjectIdentifier) -> Self {
        if *oid == NTLMSSP_OID {
            Self::Ntlmssp
        } else if *oid == KERBEROS_OID || *oid == MS_KERBEROS_OID {
            Self::Kerberos
        } else {
            Self::Other
        }
    }
}

/// What one SPNEGO token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiation {
    /// The mechanism the token proposes (an init token's first) or accepts (a response's).
    pub mechanism: Option<Mechanism>,
    /// The mechanism's own token, if the token carries one.
    pub token: Option<Vec<u8>>,
    /// A mechListMIC is present (the mechanism signed the negotiation).
    pub mic: bool,
    /// The token ends the negotiation (accept-completed) or rejects it.
    pub done: bool,
}

/// The content of an `[APPLICATION n]` value at the start of `bytes`, with `n`.
///
/// # Errors
/// When `bytes` does not start with a whole application-class value.
pub fn application(bytes: &[u8]) -> der::Result<(u8, &[u8])> {
    let mut reader = SliceReader::new(bytes)?;
    let header = der::Header::decode(&mut reader)?;
    let der::Tag::Application { number, .. } = header.tag else {
        return Err(der::ErrorKind::TagUnexpected {
            expected: None,
            actual: header.tag,
        }
        .into());
    };
    let body = reader.read_slice(header.length)?;
    Ok((number.value(), body))
}

/// Reads an SPNEGO token: an initial token (`[APPLICATION 0]` with the SPNEGO OID around a
/// NegTokenInit) or a bare NegTokenInit / NegTokenResp; `None` when it is neither.
#[must_use]
pub fn parse(bytes: &[u8]) -> Option<Negotiation> {
    let inner = match application(bytes) {
        Ok((0, body)) => {
            let mut reader = SliceReader::new(body).ok()?;
            let oid = ObjectIdentifier::decode(&mut reader).ok()?;
            if oid != SPNEGO_OID {
                return None;
            }
            reader.read_slice(reader.remaining_len()).ok()?
        }
        Ok(_) => return None,
        Err(_) => bytes,
    };
    let token = NegotiationToken::from_der(inner).ok()?;
    Some(match token {
        NegotiationToken::Init(init) => Negotiation {
            mechanism: init.mech_types.first().map(Mechanism::of),
            token: init.mech_token.map(OctetString::into_bytes),
            mic: init.mech_list_mic.is_some(),
            done: false,
        },
        NegotiationToken::Resp(resp) => Negotiation {
            mechanism: resp.supported_mech.as_ref().map(Mechanism::of),
            token: resp.response_token.map(OctetString::into_bytes),
            mic: resp.mech_list_mic.is_some(),
            done: matches!(
                resp.neg_state,
                Some(NegState::AcceptCompleted | NegState::Reject)
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if body.len() < 128 {
            v.push(u8::try_from(body.len()).unwrap());
        } else {
            v.push(0x82);
            v.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        }
        v.extend(body);
        v
    }

    #[test]
    fn an_initial_token_gives_the_ntlm_token() {
        let mech_types = tlv(0x30, &NTLMSSP_OID.to_der().unwrap());
        let ntlm = b"NTLMSSP\0\x01\0\0\0".to_vec();
        let init = tlv(
            0x30,
            &[tlv(0xa0, &mech_types), tlv(0xa2, &tlv(0x04, &ntlm))].concat(),
        );
        let token = tlv(
            0x60,
            &[SPNEGO_OID.to_der().unwrap(), tlv(0xa0, &init)].concat(),
        );
        let n = parse(&token).unwrap();
        assert_eq!(n.mechanism, Some(Mechanism::Ntlmssp));
        assert_eq!(n.token.as_deref(), Some(ntlm.as_slice()));
        assert!(!n.mic && !n.done);
    }

    #[test]
    fn a_response_gives_state_mechanism_and_mic() {
        let resp = tlv(
            0x30,
            &[
                tlv(0xa0, &[0x0a, 1, 0]),
                tlv(0xa1, &KERBEROS_OID.to_der().unwrap()),
                tlv(0xa3, &tlv(0x04, &[1, 2, 3])),
            ]
            .concat(),
        );
        let n = parse(&tlv(0xa1, &resp)).unwrap();
        assert_eq!(n.mechanism, Some(Mechanism::Kerberos));
        assert_eq!(n.token, None);
        assert!(n.mic && n.done);
    }

    #[test]
    fn garbage_is_not_a_token() {
        for bytes in [
            &b""[..],
            b"\x60\x05\x06\x03\x2b\x06",
            b"NTLMSSP\0",
            b"\xa1\x84\xff\xff\xff\xff",
        ] {
            assert_eq!(parse(bytes), None);
        }
    }
}
