//! Kerberos inside DCE/RPC (RFC 4120 §5, RFC 4121, MS-KILE §3.4.5.4), security layer: the
//! AP-REQ and AP-REP of a context establishment, the keys they carry (the ticket's session key,
//! the initiator's and acceptor's subkeys), and the unsealing of DCE-style wrap tokens. ASN.1 is
//! walked one explicit context tag at a time.

use super::kcrypto::{self, AES_BLOCK, AES_MAC_LEN, Key};
use super::keys::{KerberosKey, Keyring};
use super::primitives::{self, rc4_hmac_key};

/// Key usages (RFC 4120 §7.5.1, RFC 4121 §2).
const USAGE_AS_REP: u32 = 3;
const USAGE_TICKET: u32 = 2;
const USAGE_TGS_REQ_AUTHENTICATOR: u32 = 7;
const USAGE_TGS_REP_SESSION: u32 = 8;
const USAGE_TGS_REP_SUBKEY: u32 = 9;
const USAGE_AUTHENTICATOR: u32 = 11;
const USAGE_AP_REP: u32 = 12;
const USAGE_ACCEPTOR_SEAL: u32 = 22;
const USAGE_INITIATOR_SEAL: u32 = 24;
const USAGE_ACCEPTOR_SIGN: u32 = 23;
const USAGE_INITIATOR_SIGN: u32 = 25;
/// KrbFastArmoredRep's enc-fast-rep (RFC 6113 §5.4.3).
const USAGE_FAST_REP: u32 = 52;
/// PA-FX-FAST (RFC 6113 §5.4.2).
const PA_FX_FAST: i64 = 136;
/// Keys learned last that are tried as the original reply key of a FAST-armored TGS-REP
/// (the TGS-REQ's authenticator subkey, learned just before).
const MAX_FAST_REPLY_CANDIDATES: usize = 64;
/// RC4-HMAC (RFC 4757 §7) checksum usages of wrap and MIC tokens.
const RC4_USAGE_SEAL: u32 = 13;
const RC4_USAGE_SIGN: u32 = 15;
/// Length of an RFC 4121 MIC token's header, and of its AES checksum.
const MIC_HEADER_LEN: usize = 16;
/// Length of an RC4-HMAC wrap token (RFC 4757 §7.3) without its GSS-API framing: header,
/// sequence number, checksum, confounder.
const RC4_WRAP_LEN: usize = 32;
/// Length of an RC4-HMAC MIC token (RFC 4757 §7.2): header, sequence number, checksum.
const RC4_MIC_LEN: usize = 24;

/// Wrap token flags (RFC 4121 §4.2.2).
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
const FLAG_SEALED: u8 = 0x02;
const FLAG_ACCEPTOR_SUBKEY: u8 = 0x04;
/// Length of a wrap token's header.
pub const WRAP_HEADER_LEN: usize = 16;

/// One BER/DER value: its tag byte and its content. Kerberos names are GeneralStrings
/// (universal tag 27), a tag the `der` crate refuses, so values are walked here by tag byte
/// and length only (single-byte tags, definite lengths).
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// The value at the start of `bytes` and what follows it.
fn tlv(bytes: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tag numbers are not used by Kerberos
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(n)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((Tlv { tag, value }, rest))
}

/// The values inside a constructed value, in order.
fn children(mut bytes: &[u8]) -> impl Iterator<Item = Tlv<'_>> {
    std::iter::from_fn(move || {
        let (t, rest) = tlv(bytes)?;
        bytes = rest;
        Some(t)
    })
}

/// The content of each explicit context tag `[n]` (the encoded value inside the tag) of the
/// SEQUENCE `seq`.
fn fields(seq: &[u8]) -> Option<[Option<&[u8]>; 16]> {
    fields_of(tlv(seq)?.0)
}

/// The SEQUENCE inside an `[APPLICATION n]` value, checking `n`.
fn application(bytes: &[u8], n: u8) -> Option<&[u8]> {
    let (t, _) = tlv(bytes)?;
    (t.tag == 0x60 | n).then_some(t.value)
}

fn int(bytes: &[u8]) -> Option<i64> {
    let (t, _) = tlv(bytes)?;
    if t.tag != 0x02 || t.value.is_empty() || t.value.len() > 8 {
        return None;
    }
    let mut n: i64 = if t.value[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in t.value {
        n = (n << 8) | i64::from(b);
    }
    Some(n)
}

fn octets(bytes: &[u8]) -> Option<&[u8]> {
    let (t, _) = tlv(bytes)?;
    (t.tag == 0x04).then_some(t.value)
}

fn text(bytes: &[u8]) -> Option<String> {
    let (t, _) = tlv(bytes)?;
    Some(String::from_utf8_lossy(t.value).into_owned())
}

/// A PrincipalName's components joined with `/`.
fn principal(bytes: &[u8]) -> Option<String> {
    let f = fields(bytes)?;
    let (names, _) = tlv(f[1]?)?;
    let parts: Vec<String> = children(names.value)
        .map(|s| String::from_utf8_lossy(s.value).into_owned())
        .collect();
    Some(parts.join("/"))
}

/// An EncryptedData.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// Encryption type.
    pub etype: i32,
    /// Key version, when given.
    pub kvno: Option<i64>,
    /// The cipher.
    pub cipher: Vec<u8>,
}

fn encrypted(tlv: &[u8]) -> Option<Encrypted> {
    let f = fields(tlv)?;
    Some(Encrypted {
        etype: i32::try_from(int(f[0]?)?).ok()?,
        kvno: f[1].and_then(int),
        cipher: octets(f[2]?)?.to_vec(),
    })
}

fn encryption_key(tlv: &[u8]) -> Option<Key> {
    let f = fields(tlv)?;
    Some(Key {
        enctype: i32::try_from(int(f[0]?)?).ok()?,
        bytes: octets(f[1]?)?.to_vec(),
    })
}

/// An AP-REQ: the ticket's server and the two encrypted parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApReq {
    /// The ticket's realm.
    pub realm: String,
    /// The ticket's server principal (`HOST/ws6.example.com`).
    pub server: String,
    /// The ticket's encrypted part (with the server's long-term key).
    pub ticket: Encrypted,
    /// The authenticator (with the ticket's session key).
    pub authenticator: Encrypted,
}

/// An AP-REQ or AP-REP token without its GSS-API framing and its TOK_ID (RFC 1964 §1.1).
fn unwrap_gss(token: &[u8]) -> &[u8] {
    let inner = without_gss_framing(token);
    if inner.as_ptr() == token.as_ptr() {
        token
    } else {
        inner.get(2..).unwrap_or_default()
    }
}

/// Parses an AP-REQ token.
#[must_use]
pub fn parse_ap_req(token: &[u8]) -> Option<ApReq> {
    let f = fields(application(unwrap_gss(token), 14)?)?;
    let ticket = fields(application(f[3]?, 1)?)?;
    Some(ApReq {
        realm: text(ticket[1]?)?,
        server: principal(ticket[2]?)?,
        ticket: encrypted(ticket[3]?)?,
        authenticator: encrypted(f[4]?)?,
    })
}

/// Parses an AP-REP token: its encrypted part.
#[must_use]
pub fn parse_ap_rep(token: &[u8]) -> Option<Encrypted> {
    let f = fields(application(unwrap_gss(token), 15)?)?;
    encrypted(f[2]?)
}

/// The keys of an established context.
#[derive(Clone, Debug)]
pub struct Context {
    session: Key,
    initiator_subkey: Option<Key>,
    acceptor_subkey: Option<Key>,
}

/// Decrypts `part` with the first key of the ring, of its enctype, that opens it.
fn open_with(ring: &Keyring, part: &Encrypted, usage: u32) -> Option<(Key, Vec<u8>)> {
    ring.find_kerberos(part.etype, |k| {
        let key = Key {
            enctype: k.enctype,
            bytes: k.key.clone(),
        };
        kcrypto::decrypt(&key, usage, &part.cipher).map(|plain| (key, plain))
    })
}

/// The subkey field `[n]` of a decrypted `[APPLICATION app]` part.
fn subkey(plain: &[u8], app: u8, n: usize) -> Option<Key> {
    let f = fields(application(plain, app)?)?;
    encryption_key(f[n]?)
}

impl Context {
    /// Opens an AP-REQ with the user's keys: the ticket with the server's long-term key (its
    /// session key then opens the authenticator), or the authenticator directly with a
    /// session key the keytab holds.
    ///
    /// # Errors
    /// Which key would be needed, when none opens it.
    pub fn accept(req: &ApReq, ring: &Keyring) -> Result<Self, String> {
        let from_ticket = open_with(ring, &req.ticket, USAGE_TICKET)
            .and_then(|(_, plain)| subkey(&plain, 3, 1))
            .and_then(|session| {
                let plain =
                    kcrypto::decrypt(&session, USAGE_AUTHENTICATOR, &req.authenticator.cipher)?;
                Some((session, plain))
            });
        let opened =
            from_ticket.or_else(|| open_with(ring, &req.authenticator, USAGE_AUTHENTICATOR));
        let Some((session, authenticator)) = opened else {
            return Err(format!(
                "Kerberos: needs the key of {}@{} (etype {}) or its ticket's session key, in a keytab",
                req.server, req.realm, req.ticket.etype
            ));
        };
        Ok(Self {
            initiator_subkey: subkey(&authenticator, 2, 6),
            session,
            acceptor_subkey: None,
        })
    }

    /// The acceptor's AP-REP: its subkey, when it sends one. False when the session key does
    /// not open it.
    pub fn on_ap_rep(&mut self, part: &Encrypted) -> bool {
        let Some(plain) = kcrypto::decrypt(&self.session, USAGE_AP_REP, &part.cipher) else {
            return false;
        };
        if let Some(k) = subkey(&plain, 27, 2) {
            self.acceptor_subkey = Some(k);
        }
        true
    }

    /// Unseals a DCE-style wrap token (RFC 4121 §4.2.4 with MS-KILE §3.4.5.4.1): `token` is
    /// the auth value, `data` the sealed stub and pad, decrypted in place. The token's
    /// checksum is verified over the confounder, the data, the filler and the header, with or
    /// without the PDU's header (`sign_header`) and sec_trailer (`sign_trailer`) signed along.
    ///
    /// # Errors
    /// Why the token does not open.
    pub fn unseal(
        &self,
        token: &[u8],
        data: &mut [u8],
        sign_header: &[u8],
        sign_trailer: &[u8],
    ) -> Result<(), &'static str> {
        let token = without_gss_framing(token);
        let header = token
            .get(..WRAP_HEADER_LEN)
            .ok_or("the wrap token is cut")?;
        match (header[0], header[1]) {
            (0x05, 0x04) => {}
            (0x02, 0x01) => return self.unseal_rc4(token, data, sign_header, sign_trailer),
            _ => return Err("not a Kerberos wrap token"),
        }
        let flags = header[2];
        if flags & FLAG_SEALED == 0 {
            return Err("the wrap token is not sealed");
        }
        let ec = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let rrc = usize::from(u16::from_be_bytes([header[6], header[7]]));
        let (key, usage) =
            self.cfx_key(flags, [USAGE_ACCEPTOR_SEAL, USAGE_INITIATOR_SEAL], false)?;
        // The rotated ciphertext: the rest of the token, then the data in place. DCE style
        // rotates by RRC + EC.
        let rest = &token[WRAP_HEADER_LEN..];
        let mut c = Vec::with_capacity(rest.len() + data.len());
        c.extend_from_slice(rest);
        c.extend_from_slice(data);
        if c.len() < AES_BLOCK + data.len() + ec + WRAP_HEADER_LEN + AES_MAC_LEN {
            return Err("the wrap token is shorter than its fields");
        }
        let len = c.len();
        c.rotate_left((rrc + ec) % len);
        let (body, mac) = c.split_at_mut(len - AES_MAC_LEN);
        let (ke, ki) = kcrypto::usage_keys(&key.bytes, usage);
        if !kcrypto::aes_cts_decrypt(&ke, body) {
            return Err("the wrap token is shorter than a block");
        }
        let (conf, rest) = body.split_at(AES_BLOCK);
        let (plain, tail) = rest.split_at(data.len());
        let signed_alone = kcrypto::hmac_sha1_96(&ki, &[conf, plain, tail]);
        let signed_with_pdu =
            kcrypto::hmac_sha1_96(&ki, &[conf, sign_header, plain, sign_trailer, tail]);
        if signed_with_pdu != *mac && signed_alone != *mac {
            return Err("checksum mismatch");
        }
        data.copy_from_slice(plain);
        Ok(())
    }

    /// The context's session key as GSS-API gives it to the protocol above (SMB's session
    /// key, MS-SMB2 §3.3.5.5.3): the acceptor's subkey, else the initiator's, else the
    /// ticket's session key.
    #[must_use]
    pub fn gss_session_key(&self) -> &[u8] {
        self.keys().next().map_or(&self.session.bytes, |k| &k.bytes)
    }

    /// The key and usage of an RFC 4121 token with these flags: the acceptor's subkey when
    /// the token says so, else the initiator's subkey or the session key; `usages` are the
    /// acceptor's and the initiator's. An AES key (RFC 3962), or one of RFC 8009 when `sha2`.
    fn cfx_key(
        &self,
        flags: u8,
        usages: [u32; 2],
        sha2: bool,
    ) -> Result<(&Key, u32), &'static str> {
        let key = if flags & FLAG_ACCEPTOR_SUBKEY != 0 {
            self.acceptor_subkey
                .as_ref()
                .ok_or("the acceptor's subkey was not seen")?
        } else {
            self.initiator_subkey.as_ref().unwrap_or(&self.session)
        };
        let sha1 = matches!(
            key.enctype,
            kcrypto::AES128_CTS_HMAC_SHA1_96 | kcrypto::AES256_CTS_HMAC_SHA1_96
        );
        let sha2_key = matches!(
            key.enctype,
            kcrypto::AES128_CTS_HMAC_SHA256_128 | kcrypto::AES256_CTS_HMAC_SHA384_192
        );
        if !(sha1 || sha2 && sha2_key) {
            return Err("RFC 4121 tokens with a key of this enctype are not read");
        }
        let sent_by_acceptor = flags & FLAG_SENT_BY_ACCEPTOR != 0;
        Ok((
            key,
            if sent_by_acceptor {
                usages[0]
            } else {
                usages[1]
            },
        ))
    }

    /// The context's keys a token without a key flag may use, most specific first: the
    /// acceptor's subkey, the initiator's, the ticket's session key.
    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.acceptor_subkey
            .iter()
            .chain(&self.initiator_subkey)
            .chain(std::iter::once(&self.session))
    }

    /// An RC4-HMAC wrap token (RFC 4757 §7.3, DCE style: the data in the PDU): the sequence
    /// number decrypted with a key from the checksum, the confounder and the data with a key
    /// from the sequence number, the checksum verified with or without the PDU's header and
    /// sec_trailer.
    fn unseal_rc4(
        &self,
        token: &[u8],
        data: &mut [u8],
        sign_header: &[u8],
        sign_trailer: &[u8],
    ) -> Result<(), &'static str> {
        let token = token.get(..RC4_WRAP_LEN).ok_or("the wrap token is cut")?;
        if token[2..4] != [0x11, 0x00] {
            return Err("the wrap token's signature algorithm is not HMAC-MD5");
        }
        if token[4..6] != [0x10, 0x00] {
            return Err("the wrap token is not sealed");
        }
        let (header, checksum) = (&token[..8], &token[16..24]);
        for key in self.keys().filter(|k| k.enctype == kcrypto::RC4_HMAC) {
            let mut seq = token[8..16].to_vec();
            primitives::rc4(&rc4_hmac_key(&key.bytes, checksum), &mut seq);
            let xored: Vec<u8> = key.bytes.iter().map(|b| b ^ 0xf0).collect();
            let mut plain = [&token[24..32], &*data].concat();
            primitives::rc4(&rc4_hmac_key(&xored, &seq[..4]), &mut plain);
            let (confounder, body) = plain.split_at(8);
            let signed = |parts: &[&[u8]]| {
                kcrypto::rc4_checksum(&key.bytes, RC4_USAGE_SEAL, parts)[..8] == *checksum
            };
            if signed(&[header, confounder, sign_header, body, sign_trailer])
                || signed(&[header, confounder, body])
            {
                data.copy_from_slice(body);
                return Ok(());
            }
        }
        Err("checksum mismatch")
    }

    /// Verifies the MIC token of a pkt_integrity PDU (RFC 4121 §4.2.6.1 for AES, RFC 4757
    /// §7.2 for RC4-HMAC) over the PDU up to its auth value (`whole`) or over its stub and pad
    /// (`stub`): the implementations differ on whether the PDU header is signed.
    ///
    /// # Errors
    /// Why the token cannot be checked; `Ok(false)` is a checksum mismatch.
    pub fn verify_mic(
        &self,
        token: &[u8],
        whole: &[u8],
        stub: &[u8],
    ) -> Result<bool, &'static str> {
        let token = without_gss_framing(token);
        match token.get(..2) {
            Some([0x04, 0x04]) => {
                let header = token.get(..MIC_HEADER_LEN).ok_or("the MIC token is cut")?;
                let (key, usage) =
                    self.cfx_key(header[2], [USAGE_ACCEPTOR_SIGN, USAGE_INITIATOR_SIGN], true)?;
                let mac = &token[MIC_HEADER_LEN..];
                Ok([whole, stub].iter().any(|d| {
                    let sum = kcrypto::aes_checksum(key, usage, &[d, header]);
                    !sum.is_empty() && mac.get(..sum.len()) == Some(&sum[..])
                }))
            }
            Some([0x01, 0x01]) => {
                let token = token.get(..RC4_MIC_LEN).ok_or("the MIC token is cut")?;
                let (header, checksum) = (&token[..8], &token[16..24]);
                Ok(self
                    .keys()
                    .filter(|k| k.enctype == kcrypto::RC4_HMAC)
                    .any(|k| {
                        [whole, stub].iter().any(|d| {
                            kcrypto::rc4_checksum(&k.bytes, RC4_USAGE_SIGN, &[header, d])[..8]
                                == *checksum
                        })
                    }))
            }
            _ => Err("not a Kerberos MIC token"),
        }
    }
}

/// The token inside a GSS-API initial-context framing (RFC 2743 §3.1: tag 0x60, a length,
/// the mechanism's OID), as RFC 1964-style tokens carry it; other tokens as they are. The
/// length is not checked: a DCE-style wrap token counts the PDU data that follows elsewhere.
fn without_gss_framing(token: &[u8]) -> &[u8] {
    let Some([0x60, length, ..]) = token.get(..2) else {
        return token;
    };
    let oid_at = 2 + if length & 0x80 == 0 {
        0
    } else {
        usize::from(length & 0x7f)
    };
    match token.get(oid_at..) {
        Some([0x06, len, rest @ ..]) => rest.get(usize::from(*len)..).unwrap_or(token),
        _ => token,
    }
}

/// A key found inside a decrypted part, named after where it came from.
fn found(key: Key, what: &str) -> KerberosKey {
    KerberosKey {
        principal: what.to_string(),
        realm: String::new(),
        enctype: key.enctype,
        kvno: 0,
        key: key.bytes,
    }
}

/// Reads one message of a ticket exchange (RFC 4120 §5.4: AS-REP, TGS-REQ, TGS-REP) with the
/// keys known so far and keeps every key found inside: the session key of a ticket in a
/// TGS-REQ (opened with the krbtgt key) and its authenticator's subkey, then the session key of
/// the ticket the TGS-REP (or AS-REP) hands out. A krbtgt key alone thus opens the services
/// whose tickets were requested in the capture. Returns how many keys were new.
pub fn learn_from_kdc(message: &[u8], ring: &Keyring) -> usize {
    let Some((t, _)) = tlv(message) else {
        return 0;
    };
    let before = ring.learned_count();
    let _ = match t.tag {
        0x6c => learn_from_tgs_req(message, ring),
        0x6b | 0x6d => learn_from_kdc_rep(message, t.tag, ring),
        _ => None,
    };
    ring.learned_count().saturating_sub(before)
}

fn learn_from_tgs_req(message: &[u8], ring: &Keyring) -> Option<()> {
    let f = fields(application(message, 12)?)?;
    let (padata, _) = tlv(f[3]?)?;
    for pa in children(padata.value) {
        let Some(pf) = fields_of(pa) else { continue };
        if pf[1].and_then(int) != Some(1) {
            continue; // PA-TGS-REQ
        }
        let Some(req) = pf[2].and_then(octets).and_then(parse_ap_req) else {
            continue;
        };
        let Some((_, plain)) = open_with(ring, &req.ticket, USAGE_TICKET) else {
            continue;
        };
        let Some(session) = subkey(&plain, 3, 1) else {
            continue;
        };
        ring.learn(found(
            session.clone(),
            &format!("session key of {}", req.server),
        ));
        if let Some(sub) = kcrypto::decrypt(
            &session,
            USAGE_TGS_REQ_AUTHENTICATOR,
            &req.authenticator.cipher,
        )
        .and_then(|a| subkey(&a, 2, 6))
        {
            // FAST's implicit TGS armor (RFC 6113 §5.4.1.1): the key that opens the reply's
            // PA-FX-FAST, whose strengthen key then gives the reply key.
            if has_padata(padata.value, PA_FX_FAST) {
                if let Some(armor) = kcrypto::cf2(&sub, &session, b"subkeyarmor", b"ticketarmor") {
                    ring.learn(found(armor, "FAST armor key"));
                }
            }
            ring.learn(found(sub, "TGS-REQ authenticator subkey"));
        }
    }
    Some(())
}

/// True when a padata list holds an entry of `kind`.
fn has_padata(list: &[u8], kind: i64) -> bool {
    children(list).any(|pa| fields_of(pa).is_some_and(|f| f[1].and_then(int) == Some(kind)))
}

/// The reply keys of a FAST-armored KDC reply (RFC 6113 §5.4.3): its PA-FX-FAST opened with a
/// learned armor key gives the strengthen key, combined with each recently learned key (the
/// original reply key: the TGS-REQ's subkey or session key).
fn fast_reply_keys(padata: &[u8], ring: &Keyring) -> Vec<Key> {
    let reply = children(padata).find_map(|pa| {
        let f = fields_of(pa)?;
        (f[1].and_then(int) == Some(PA_FX_FAST)).then_some(f[2]?)
    });
    let Some(strengthen) = reply
        .and_then(octets)
        .and_then(|v| tlv(v).filter(|(c, _)| c.tag == 0xa0).map(|(c, _)| c.value))
        .and_then(fields)
        .and_then(|f| encrypted(f[0]?))
        .and_then(|part| open_with(ring, &part, USAGE_FAST_REP))
        .and_then(|(_, plain)| encryption_key(fields(&plain)?[1]?))
    else {
        return Vec::new();
    };
    ring.recent_learned(MAX_FAST_REPLY_CANDIDATES)
        .into_iter()
        .filter(|k| k.enctype == strengthen.enctype)
        .filter_map(|k| {
            let original = Key {
                enctype: k.enctype,
                bytes: k.key,
            };
            kcrypto::cf2(&strengthen, &original, b"strengthenkey", b"replykey")
        })
        .collect()
}

fn learn_from_kdc_rep(message: &[u8], tag: u8, ring: &Keyring) -> Option<()> {
    let f = fields(application(message, tag & 0x1f)?)?;
    let part = encrypted(f[6]?)?;
    let (app, usages): (u8, &[u32]) = if tag == 0x6b {
        (25, &[USAGE_AS_REP])
    } else {
        (26, &[USAGE_TGS_REP_SESSION, USAGE_TGS_REP_SUBKEY])
    };
    let fast = f[2]
        .and_then(tlv)
        .map(|(list, _)| fast_reply_keys(list.value, ring))
        .unwrap_or_default();
    let plain = usages.iter().find_map(|&u| {
        fast.iter()
            .find_map(|k| kcrypto::decrypt(k, u, &part.cipher))
            .or_else(|| open_with(ring, &part, u).map(|(_, p)| p))
    })?;
    let rep = fields(application(&plain, app)?)?;
    let key = encryption_key(rep[0]?)?;
    let server = rep[10].and_then(principal).unwrap_or_default();
    ring.learn(found(key, &format!("session key of {server}")));
    Some(())
}

/// The content of each explicit context tag of a SEQUENCE value already split off.
fn fields_of(t: Tlv<'_>) -> Option<[Option<&[u8]>; 16]> {
    if t.tag != 0x30 {
        return None;
    }
    let mut out = [None; 16];
    for field in children(t.value) {
        if field.tag & 0xe0 == 0xa0 {
            if let Some(slot) = out.get_mut(usize::from(field.tag & 0x1f)) {
                *slot = Some(field.value);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_neither_an_ap_req_nor_an_ap_rep() {
        for bytes in [
            &b""[..],
            b"\x6e\x03\x30\x01\x00",
            b"\x60\x0b\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02",
            b"\x6f\x84\xff\xff\xff\xff",
        ] {
            assert_eq!(parse_ap_req(bytes), None);
            assert_eq!(parse_ap_rep(bytes), None);
        }
    }

    proptest::proptest! {
        /// Any token and data, with keys of either size and subkeys or not, never panic the
        /// unsealing and never open without the checksum.
        #[test]
        fn unsealing_garbage_never_panics(
            token in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            flags in 0u8..8,
            long in proptest::prelude::any::<bool>(),
        ) {
            let key = Key {
                enctype: if long { 18 } else { 17 },
                bytes: vec![9; if long { 32 } else { 16 }],
            };
            let ctx = Context {
                session: key.clone(),
                initiator_subkey: long.then(|| key.clone()),
                acceptor_subkey: (!long).then_some(key),
            };
            let mut token = token;
            if token.len() >= 8 {
                token[..4].copy_from_slice(&[0x05, 0x04, flags, 0xff]);
            }
            let mut buf = data.clone();
            let opened = ctx.unseal(&token, &mut buf, b"hdr", b"trailer");
            proptest::prop_assert!(opened.is_err());
            proptest::prop_assert_eq!(buf, data);
            let _ = parse_ap_req(&token);
            let _ = parse_ap_rep(&token);
            let ring = Keyring::default();
            proptest::prop_assert_eq!(learn_from_kdc(&token, &ring), 0);
        }

        /// Any RC4-HMAC wrap or MIC token, AES MIC token, framed in GSS-API or not, never
        /// panics, never opens, and never verifies.
        #[test]
        fn rc4_and_mic_garbage_never_panics(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            kind in 0usize..3,
            framed in proptest::prelude::any::<bool>(),
            rc4 in proptest::prelude::any::<bool>(),
        ) {
            let key = if rc4 {
                Key { enctype: 23, bytes: vec![7; 16] }
            } else {
                Key { enctype: 18, bytes: vec![7; 32] }
            };
            let ctx = Context {
                session: key.clone(),
                initiator_subkey: None,
                acceptor_subkey: Some(key),
            };
            let id: [u8; 2] = [[0x02, 0x01], [0x01, 0x01], [0x04, 0x04]][kind];
            let mut token = Vec::new();
            if framed {
                // the Kerberos 5 OID, 1.2.840.113554.1.2.2
                token.extend([0x60, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]);
            }
            token.extend(id);
            token.extend(&body);
            let mut buf = data.clone();
            proptest::prop_assert!(ctx.unseal(&token, &mut buf, b"hdr", b"trailer").is_err());
            proptest::prop_assert_eq!(&buf, &data);
            proptest::prop_assert_ne!(ctx.verify_mic(&token, &data, &data), Ok(true));
        }
    }

    #[test]
    fn a_context_without_keys_says_which_key_it_needs() {
        let req = ApReq {
            realm: "LAB.TEST".into(),
            server: "HOST/ws1.lab.test".into(),
            ticket: Encrypted {
                etype: 18,
                kvno: Some(2),
                cipher: vec![0; 64],
            },
            authenticator: Encrypted {
                etype: 18,
                kvno: None,
                cipher: vec![0; 64],
            },
        };
        let err = Context::accept(&req, &Keyring::default()).unwrap_err();
        assert!(err.contains("HOST/ws1.lab.test@LAB.TEST"), "{err}");
    }
}
