//! NTLMSSP (MS-NLMP), security layer: the NEGOTIATE, CHALLENGE and AUTHENTICATE messages
//! (§2.2.1), the session key from an NT hash with NTLMv2 or NTLMv1 (§3.3, §3.4.5.1), and the
//! unsealing and signature check of messages (§3.4.4): per-direction keys and RC4 states with
//! extended session security, one shared RC4 state without.

use std::ops::Range;

use md5::{Digest, Md5};
use rc4::consts::{U8, U16};
use rc4::{KeyInit, Rc4, StreamCipher};

use super::keys::{Keyring, NtSecret};
use super::primitives::{des7, hmac_md5, rc4};

/// Strings are UTF-16LE.
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// LM session key (NTLMv1 without extended session security).
pub const NEGOTIATE_LM_KEY: u32 = 0x0000_0080;
/// Extended session security (NTLM2 session keys, per-direction keys).
pub const NEGOTIATE_EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
/// The LM hash is the session key (NTLMv1).
pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
/// 128-bit keys.
pub const NEGOTIATE_128: u32 = 0x2000_0000;
/// The client chose the session key and sent it encrypted.
pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
/// 56-bit keys.
pub const NEGOTIATE_56: u32 = 0x8000_0000;

/// Length of a message signature (§2.2.2.9).
pub const SIGNATURE_LEN: usize = 16;

/// A CHALLENGE message: what the session key depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// NegotiateFlags.
    pub flags: u32,
    /// ServerChallenge.
    pub server_challenge: [u8; 8],
}

/// An AUTHENTICATE message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticate {
    /// NegotiateFlags: the flags in force.
    pub flags: u32,
    /// LmChallengeResponse.
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse (24 bytes for NTLMv1, longer for NTLMv2, empty when anonymous).
    pub nt_response: Vec<u8>,
    /// DomainName.
    pub domain: String,
    /// UserName.
    pub user: String,
    /// EncryptedRandomSessionKey (with key exchange).
    pub encrypted_session_key: Vec<u8>,
}

impl Authenticate {
    /// An anonymous authentication (§3.2.5.1.2): no user and no NT response.
    #[must_use]
    pub fn anonymous(&self) -> bool {
        self.user.is_empty() && self.nt_response.is_empty() && self.lm_response.len() <= 1
    }

    /// `DOMAIN\user` (or `user`), as the user would write it in a keys file.
    #[must_use]
    pub fn account(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }
}

/// One handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// NEGOTIATE (type 1).
    Negotiate,
    /// CHALLENGE (type 2).
    Challenge(Challenge),
    /// AUTHENTICATE (type 3).
    Authenticate(Authenticate),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes a (len, maxlen, offset) field at `at` points to; empty when they lie outside.
fn field(b: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let offset = usize::try_from(u32_at(b, at + 4)?).ok()?;
    Some(b.get(offset..offset.checked_add(len)?).unwrap_or(&[]))
}

fn text(bytes: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

/// Parses an NTLMSSP message; `None` when `token` is not one (or is cut before its fixed part).
#[must_use]
pub fn parse(token: &[u8]) -> Option<Message> {
    if token.get(..8)? != b"NTLMSSP\0" {
        return None;
    }
    match u32_at(token, 8)? {
        1 => Some(Message::Negotiate),
        2 => Some(Message::Challenge(Challenge {
            flags: u32_at(token, 20)?,
            server_challenge: token.get(24..32)?.try_into().ok()?,
        })),
        3 => {
            let flags = u32_at(token, 60)?;
            let unicode = flags & NEGOTIATE_UNICODE != 0;
            Some(Message::Authenticate(Authenticate {
                flags,
                lm_response: field(token, 12)?.to_vec(),
                nt_response: field(token, 20)?.to_vec(),
                domain: text(field(token, 28)?, unicode),
                user: text(field(token, 36)?, unicode),
                encrypted_session_key: field(token, 52)?.to_vec(),
            }))
        }
        _ => None,
    }
}

/// Why no session key came out of a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The secret does not produce the response the client sent: another password.
    WrongSecret,
    /// The LM session key needs the password, not only its NT hash.
    NeedsPassword,
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn md4(data: &[u8]) -> [u8; 16] {
    use md4::Digest as _;
    md4::Md4::digest(data).into()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// DESL (§6): three DES encryptions of `data` under a 16-byte key split in 7-byte parts.
fn desl(key: &[u8; 16], data: &[u8; 8]) -> [u8; 24] {
    let mut out = [0; 24];
    out[..8].copy_from_slice(&des7(&key[..7], data));
    out[8..16].copy_from_slice(&des7(&key[7..14], data));
    out[16..].copy_from_slice(&des7(&key[14..], data));
    out
}

/// LMOWFv1 (§3.3.1): the LM hash of a password.
fn lm_hash(password: &str) -> [u8; 16] {
    let mut p = [0u8; 14];
    for (d, c) in p.iter_mut().zip(password.chars()) {
        *d = u8::try_from(c.to_ascii_uppercase()).unwrap_or(b'?');
    }
    let magic = b"KGS!@#$%";
    let mut out = [0; 16];
    out[..8].copy_from_slice(&des7(&p[..7], magic));
    out[8..].copy_from_slice(&des7(&p[7..], magic));
    out
}

/// The key exchange key with NTLMv1 (§3.4.5.1), after checking the NT response.
fn v1_key_exchange_key(
    ch: &Challenge,
    au: &Authenticate,
    secret: &NtSecret,
    flags: u32,
) -> Result<[u8; 16], KeyError> {
    let lm8: [u8; 8] = au
        .lm_response
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 8]);
    let ess = flags & NEGOTIATE_EXTENDED_SESSION_SECURITY != 0;
    let challenge: [u8; 8] = if ess {
        let h = md5(&[&ch.server_challenge, &lm8]);
        let mut c = [0; 8];
        c.copy_from_slice(&h[..8]);
        c
    } else {
        ch.server_challenge
    };
    if au.nt_response.as_slice() != desl(&secret.hash, &challenge).as_slice() {
        return Err(KeyError::WrongSecret);
    }
    let session_base_key = md4(&secret.hash);
    if ess {
        return Ok(hmac_md5(&session_base_key, &[&ch.server_challenge, &lm8]));
    }
    if flags & (NEGOTIATE_LM_KEY | REQUEST_NON_NT_SESSION_KEY) == 0 {
        return Ok(session_base_key);
    }
    let lm = lm_hash(secret.password.as_deref().ok_or(KeyError::NeedsPassword)?);
    let mut kx = [0; 16];
    if flags & NEGOTIATE_LM_KEY != 0 {
        kx[..8].copy_from_slice(&des7(&lm[..7], &lm8));
        let k2 = [lm[7], 0xbd, 0xbd, 0xbd, 0xbd, 0xbd, 0xbd];
        kx[8..].copy_from_slice(&des7(&k2, &lm8));
    } else {
        kx[..8].copy_from_slice(&lm[..8]);
    }
    Ok(kx)
}

/// The flags in force: the AUTHENTICATE message's, or the CHALLENGE's when it sent none.
#[must_use]
pub fn flags_in_force(ch: &Challenge, au: &Authenticate) -> u32 {
    if au.flags == 0 { ch.flags } else { au.flags }
}

/// The exported session keys an authentication may have used with `secret` (`None`: an
/// anonymous one), most likely first. A checked NTLMv2 or NTLMv1 response gives one key; an
/// anonymous authentication gives the two that implementations use (a zero key exchange key,
/// or the one derived from an empty password).
///
/// # Errors
/// [`KeyError::WrongSecret`] when the secret does not produce the client's response.
pub fn session_keys(
    ch: &Challenge,
    au: &Authenticate,
    secret: Option<&NtSecret>,
) -> Result<Vec<[u8; 16]>, KeyError> {
    let flags = flags_in_force(ch, au);
    let key_exchange_keys = match secret {
        None => {
            let empty = NtSecret {
                user: String::new(),
                domain: None,
                hash: super::keys::nt_hash(""),
                password: Some(String::new()),
            };
            let mut keys = vec![[0u8; 16]];
            let base = md4(&empty.hash);
            let lm8 = au.lm_response.get(..8).unwrap_or(&[0; 8]).to_vec();
            keys.push(hmac_md5(&base, &[&ch.server_challenge, &lm8]));
            keys.push(base);
            keys
        }
        Some(s) if au.nt_response.len() > 24 => {
            let (proof, blob) = au.nt_response.split_at(16);
            let user = au.user.to_uppercase();
            // NTOWFv2 with the domain the client sent, then with none (§3.3.2).
            let key = [au.domain.as_str(), ""].iter().find_map(|domain| {
                let response_key = hmac_md5(&s.hash, &[&utf16(&format!("{user}{domain}"))]);
                (hmac_md5(&response_key, &[&ch.server_challenge, blob]) == proof)
                    .then(|| hmac_md5(&response_key, &[proof]))
            });
            vec![key.ok_or(KeyError::WrongSecret)?]
        }
        Some(s) => vec![v1_key_exchange_key(ch, au, s, flags)?],
    };
    Ok(key_exchange_keys
        .into_iter()
        .map(
            |kx| match <[u8; 16]>::try_from(au.encrypted_session_key.as_slice()) {
                Ok(mut k) if flags & NEGOTIATE_KEY_EXCH != 0 => {
                    rc4(&kx, &mut k);
                    k
                }
                _ => kx,
            },
        )
        .collect())
}

/// Why an authentication's keys could not be made from the secrets given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoKeys {
    /// No secret for the account (says which).
    Missing(String),
    /// A secret was given and is wrong, or not enough (says why).
    Wrong(String),
}

/// The exported session keys of an authentication with the secrets `ring` holds for its
/// account. An anonymous authentication needs none; an empty password is always tried, as
/// Wireshark does (Zerologon leaves a domain controller's machine account with one, and a
/// DCSync with that account follows).
///
/// # Errors
/// [`NoKeys`] with the reason a call or a session then gives.
pub fn exported_keys(
    ch: &Challenge,
    au: &Authenticate,
    ring: Option<&Keyring>,
) -> Result<Vec<[u8; 16]>, NoKeys> {
    if au.anonymous() {
        return session_keys(ch, au, None)
            .map_err(|_| NoKeys::Wrong("anonymous session key".into()));
    }
    let account = au.account();
    let given = ring.map_or_else(Vec::new, |k| k.nt_candidates(&au.user, &au.domain));
    if given.is_empty() {
        let empty = NtSecret {
            user: au.user.clone(),
            domain: None,
            hash: super::keys::nt_hash(""),
            password: Some(String::new()),
        };
        return session_keys(ch, au, Some(&empty)).map_err(|_| {
            NoKeys::Missing(format!(
                "NTLMSSP: needs the password or NT hash of {account}"
            ))
        });
    }
    let mut found = Vec::new();
    let mut needs_password = false;
    for s in &given {
        match session_keys(ch, au, Some(s)) {
            Ok(k) => found.extend(k),
            Err(KeyError::NeedsPassword) => needs_password = true,
            Err(KeyError::WrongSecret) => {}
        }
    }
    if !found.is_empty() {
        return Ok(found);
    }
    Err(NoKeys::Wrong(if needs_password {
        format!("NTLMSSP: the LM session key of {account} needs its password, not its NT hash")
    } else {
        format!("wrong key: the secret given for {account} does not produce its NTLM response")
    }))
}

/// An RC4 state keyed with 8 bytes (NTLMv1 short keys) or 16.
enum Rc4State {
    Short(Rc4<U8>),
    Full(Rc4<U16>),
}

impl Rc4State {
    fn new(key: &[u8]) -> Self {
        match <[u8; 8]>::try_from(key) {
            Ok(k) => Self::Short(Rc4::<U8>::new(&k.into())),
            Err(_) => {
                let mut k = [0; 16];
                k.iter_mut().zip(key).for_each(|(d, s)| *d = *s);
                Self::Full(Rc4::<U16>::new(&k.into()))
            }
        }
    }

    fn apply(&mut self, data: &mut [u8]) {
        match self {
            Self::Short(c) => c.apply_keystream(data),
            Self::Full(c) => c.apply_keystream(data),
        }
    }
}

/// Which RC4 states a session has.
enum States {
    /// Extended session security: one per direction (client to server first).
    PerDirection(Box<[Rc4State; 2]>),
    /// Without: one for both directions, used in wire order.
    Shared(Box<Rc4State>),
}

/// What checking a message's signature found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The signature matched over this region (an index into the regions given).
    pub region: Option<usize>,
    /// The sequence number the signature carries.
    pub seq: u32,
    /// The sequence number expected from the messages seen before.
    pub expected_seq: u32,
}

/// Sealing and signing state of one NTLMSSP session (§3.4): keys and RC4 states per direction.
pub struct Session {
    flags: u32,
    sign_keys: [[u8; 16]; 2],
    states: States,
    next_seq: [u32; 2],
}

const MAGIC: [&[u8]; 4] = [
    b"session key to client-to-server signing key magic constant\0",
    b"session key to server-to-client signing key magic constant\0",
    b"session key to client-to-server sealing key magic constant\0",
    b"session key to server-to-client sealing key magic constant\0",
];

impl Session {
    /// The session of an exported session key under `flags` (§3.4.5.2, §3.4.5.3).
    #[must_use]
    pub fn new(flags: u32, exported: &[u8; 16]) -> Self {
        if flags & NEGOTIATE_EXTENDED_SESSION_SECURITY != 0 {
            let seal_base: &[u8] = if flags & NEGOTIATE_128 != 0 {
                exported
            } else if flags & NEGOTIATE_56 != 0 {
                &exported[..7]
            } else {
                &exported[..5]
            };
            Self {
                flags,
                sign_keys: [md5(&[exported, MAGIC[0]]), md5(&[exported, MAGIC[1]])],
                states: States::PerDirection(Box::new([
                    Rc4State::new(&md5(&[seal_base, MAGIC[2]])),
                    Rc4State::new(&md5(&[seal_base, MAGIC[3]])),
                ])),
                next_seq: [0, 0],
            }
        } else {
            let key: Vec<u8> = if flags & NEGOTIATE_LM_KEY != 0 {
                if flags & NEGOTIATE_56 != 0 {
                    [&exported[..7], &[0xa0]].concat()
                } else {
                    [&exported[..5], &[0xe5, 0x38, 0xb0]].concat()
                }
            } else {
                exported.to_vec()
            };
            Self {
                flags,
                sign_keys: [[0; 16]; 2],
                states: States::Shared(Box::new(Rc4State::new(&key))),
                next_seq: [0, 0],
            }
        }
    }

    fn state(&mut self, from_client: bool) -> &mut Rc4State {
        match &mut self.states {
            States::PerDirection(s) => &mut s[usize::from(!from_client)],
            States::Shared(s) => s,
        }
    }

    /// A message of `sealed_len` sealed bytes went by unseen (its PDU was cut by a capture
    /// gap): the RC4 state moves on as if it had been read, so the next messages still open.
    pub fn skip(&mut self, from_client: bool, sealed_len: usize) {
        let key_exch = self.flags & NEGOTIATE_KEY_EXCH != 0;
        let ess = matches!(self.states, States::PerDirection(_));
        let signature = if ess && !key_exch {
            0
        } else {
            12 - 4 * usize::from(ess)
        };
        let mut zeros = vec![0; sealed_len + signature];
        self.state(from_client).apply(&mut zeros);
        self.next_seq[usize::from(!from_client)] += 1;
    }

    /// Reads one message sent by the client (`from_client`) or the server: decrypts
    /// `buf[sealed]` in place when `seal`, then checks `signature` over each of `regions` of
    /// `buf` (the signed message may be the whole PDU or only part of it) in turn.
    pub fn open(
        &mut self,
        from_client: bool,
        buf: &mut [u8],
        sealed: Option<Range<usize>>,
        regions: &[Range<usize>],
        signature: &[u8],
    ) -> Checked {
        let dir = usize::from(!from_client);
        let expected_seq = self.next_seq[dir];
        if let Some(r) = sealed
            && let Some(data) = buf.get_mut(r)
        {
            self.state(from_client).apply(data);
        }
        let key_exch = self.flags & NEGOTIATE_KEY_EXCH != 0;
        let mut sig = [0u8; SIGNATURE_LEN];
        sig.iter_mut().zip(signature).for_each(|(d, s)| *d = *s);
        let (seq, region) = match &self.states {
            States::PerDirection(_) => {
                let mut checksum = [0u8; 8];
                checksum.copy_from_slice(&sig[4..12]);
                if key_exch {
                    self.state(from_client).apply(&mut checksum);
                }
                let seq_bytes = [sig[12], sig[13], sig[14], sig[15]];
                let key = self.sign_keys[dir];
                let region = regions.iter().position(|r| {
                    buf.get(r.clone())
                        .is_some_and(|m| hmac_md5(&key, &[&seq_bytes, m])[..8] == checksum)
                });
                (u32::from_le_bytes(seq_bytes), region)
            }
            States::Shared(_) => {
                let mut rest = [0u8; 12];
                rest.copy_from_slice(&sig[4..]);
                self.state(from_client).apply(&mut rest);
                let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
                let region = regions.iter().position(|r| {
                    buf.get(r.clone())
                        .is_some_and(|m| crc32fast::hash(m) == crc)
                });
                (
                    u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]),
                    region,
                )
            }
        };
        self.next_seq[dir] = seq.wrapping_add(1);
        Checked {
            region,
            seq,
            expected_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::kcrypto::tests::hex;

    /// The signed region of the examples: the whole 18-byte message.
    const WHOLE: Range<usize> = 0..18;

    /// Opens an example message sealed by the client, signed over the whole of it.
    fn open_example(session: &mut Session, data: &str, signature: &str) -> (Vec<u8>, Checked) {
        let mut buf = hex(data);
        let whole = std::slice::from_ref(&WHOLE);
        let checked = session.open(true, &mut buf, Some(WHOLE), whole, &hex(signature));
        (buf, checked)
    }

    fn secret(password: &str) -> NtSecret {
        NtSecret {
            user: "User".into(),
            domain: Some("Domain".into()),
            hash: super::super::keys::nt_hash(password),
            password: Some(password.into()),
        }
    }

    /// MS-NLMP §4.2.4: NTLMv2 with the published user, domain, challenges and blob.
    fn v2_example() -> (Challenge, Authenticate) {
        let server_challenge: [u8; 8] = hex("0123456789abcdef").try_into().unwrap();
        let client_challenge = hex("aaaaaaaaaaaaaaaa");
        let time = [0u8; 8];
        // AV pairs of the example: NetBIOS domain "Domain", NetBIOS server "Server", EOL.
        let mut av = Vec::new();
        for (id, name) in [(2u16, "Domain"), (1, "Server")] {
            let v = utf16(name);
            av.extend(id.to_le_bytes());
            av.extend(u16::try_from(v.len()).unwrap().to_le_bytes());
            av.extend(v);
        }
        av.extend([0, 0, 0, 0]);
        let mut temp = vec![1, 1, 0, 0, 0, 0, 0, 0];
        temp.extend(time);
        temp.extend(&client_challenge);
        temp.extend([0; 4]);
        temp.extend(&av);
        temp.extend([0; 4]);
        let s = secret("Password");
        // §4.2.4.1.1 and §4.2.4.2.2: NTOWFv2 and NTProofStr.
        let response_key = hmac_md5(&s.hash, &[&utf16("USERDomain")]);
        assert_eq!(
            response_key.to_vec(),
            hex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
        let proof = hmac_md5(&response_key, &[&server_challenge, &temp]);
        assert_eq!(proof.to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
        let ch = Challenge {
            flags: 0xe28a_8233,
            server_challenge,
        };
        let au = Authenticate {
            flags: 0xe28a_8233,
            lm_response: vec![0; 24],
            nt_response: [proof.as_slice(), &temp].concat(),
            domain: "Domain".into(),
            user: "User".into(),
            encrypted_session_key: hex("c5dad2544fc9799094ce1ce90bc9d03e"),
        };
        (ch, au)
    }

    #[test]
    fn ntlmv2_example_gives_the_published_keys_and_seal() {
        let (ch, au) = v2_example();
        // §4.2.4.1.2: NTProofStr and SessionBaseKey; the exported key is the random key.
        let keys = session_keys(&ch, &au, Some(&secret("Password"))).unwrap();
        assert_eq!(keys, vec![[0x55; 16]]);
        // §4.2.4.4: "Plaintext" sealed with seq 0 gives the published data and signature.
        let mut session = Session::new(au.flags, &keys[0]);
        let (buf, checked) = open_example(
            &mut session,
            "54e50165bf1936dc996020c1811b0f06fb5f",
            "010000007fb38ec5c55d497600000000",
        );
        assert_eq!(buf, utf16("Plaintext"));
        assert_eq!(checked.region, Some(0));
        assert_eq!((checked.seq, checked.expected_seq), (0, 0));
    }

    #[test]
    fn a_wrong_password_is_told_apart() {
        let (ch, au) = v2_example();
        assert_eq!(
            session_keys(&ch, &au, Some(&secret("password"))),
            Err(KeyError::WrongSecret)
        );
    }

    #[test]
    fn a_tampered_message_fails_its_signature() {
        let (ch, au) = v2_example();
        let keys = session_keys(&ch, &au, Some(&secret("Password"))).unwrap();
        let mut session = Session::new(au.flags, &keys[0]);
        let (_, checked) = open_example(
            &mut session,
            "54e50165bf1936dc996020c1811b0f06fb5e",
            "010000007fb38ec5c55d497600000000",
        );
        assert_eq!(checked.region, None);
    }

    #[test]
    fn ntlmv1_examples_give_the_published_keys_and_seal() {
        // §4.2.2: NTLMv1 without extended session security.
        let server_challenge: [u8; 8] = hex("0123456789abcdef").try_into().unwrap();
        let s = secret("Password");
        let nt_response = desl(&s.hash, &server_challenge);
        assert_eq!(
            nt_response.to_vec(),
            hex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
        );
        assert_eq!(
            lm_hash("Password").to_vec(),
            hex("e52cac67419a9a224a3b108f3fa6cb6d")
        );
        let ch = Challenge {
            flags: 0xe202_8233,
            server_challenge,
        };
        let mut au = Authenticate {
            flags: 0xe202_8233,
            lm_response: hex("98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"),
            nt_response: nt_response.to_vec(),
            domain: "Domain".into(),
            user: "User".into(),
            encrypted_session_key: hex("518822b1b3f350c8958682ecbb3e3cb7"),
        };
        assert_eq!(session_keys(&ch, &au, Some(&s)).unwrap(), vec![[0x55; 16]]);
        // §4.2.2.4: one RC4 state keyed with the exported key; CRC32 signature.
        let mut session = Session::new(au.flags, &[0x55; 16]);
        let (buf, checked) = open_example(
            &mut session,
            "56fe04d861f9319af0d7238a2e3b4d457fb8",
            "010000000000000009dcd1df2e459d36",
        );
        assert_eq!(buf, utf16("Plaintext"));
        assert_eq!(checked.region, Some(0));
        // With the LM key flag and no key exchange, the key comes from the LM hash and needs
        // the password (§4.2.2.1.3).
        au.flags = (au.flags | NEGOTIATE_LM_KEY) & !NEGOTIATE_KEY_EXCH;
        let keys = session_keys(&ch, &au, Some(&s)).unwrap();
        assert_eq!(keys[0].to_vec(), hex("b09e379f7fbecb1eaf0afdcb0383c8a0"));
        let mut only_hash = s.clone();
        only_hash.password = None;
        assert_eq!(
            session_keys(&ch, &au, Some(&only_hash)),
            Err(KeyError::NeedsPassword)
        );
        assert_eq!(
            session_keys(&ch, &au, Some(&secret("Passw0rd"))),
            Err(KeyError::WrongSecret)
        );
    }

    #[test]
    fn messages_parse_and_garbage_does_not() {
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend(2u32.to_le_bytes());
        m.extend([0; 8]);
        m.extend(0x0008_0201u32.to_le_bytes());
        m.extend([7; 8]);
        assert_eq!(
            parse(&m),
            Some(Message::Challenge(Challenge {
                flags: 0x0008_0201,
                server_challenge: [7; 8]
            }))
        );
        assert_eq!(parse(&m[..20]), None);
        assert_eq!(parse(b"NTLMSSP\0\x09\0\0\0"), None);
        // An AUTHENTICATE whose fields point outside the message reads them as empty.
        let mut a = b"NTLMSSP\0".to_vec();
        a.extend(3u32.to_le_bytes());
        for _ in 0..6 {
            a.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        }
        a.extend(NEGOTIATE_UNICODE.to_le_bytes());
        let Some(Message::Authenticate(au)) = parse(&a) else {
            panic!("not parsed")
        };
        assert!(au.anonymous());
    }
}
