//! SMB3 encryption (MS-SMB2 §3.1.4.2, §3.2.5.1.1, §3.3.5.2.1), SMB layer: the keys of each
//! session from its NTLMSSP or Kerberos authentication and the user's secrets (or an `smb3`
//! session key),
//! derived with SP800-108 in counter mode over HMAC-SHA256 and, for SMB 3.1.1, the
//! pre-authentication integrity hash of the negotiation and the session's setup; then the
//! TRANSFORM_HEADER messages decrypted (AES-128/256-CCM and -GCM) back into SMB2 messages.
//!
//! Limit: [`MAX_SESSIONS`] sessions per connection; the setup of further ones is not followed.

use std::sync::Arc;

use aes::{Aes128, Aes256};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use ccm::consts::{U11, U16};
use hmac::Hmac;
use sha2::{Digest, Sha256, Sha512};

use crate::auth::keys::Keyring;
use crate::auth::{kerberos, ntlmssp, primitives, spnego};
use crate::hash::FastMap;

use super::smb2::{u16_at, u32_at, u64_at};

/// Sessions followed per SMB connection.
pub const MAX_SESSIONS: usize = 64;

const NEGOTIATE: u16 = 0x00;
const SESSION_SETUP: u16 = 0x01;
const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;
const DIALECT_311: u16 = 0x0311;
/// Cipher ids (MS-SMB2 §2.2.3.1.2).
const AES_128_CCM: u16 = 1;
const AES_128_GCM: u16 = 2;
const AES_256_CCM: u16 = 3;
const AES_256_GCM: u16 = 4;
/// Length of a TRANSFORM_HEADER.
const TRANSFORM_LEN: usize = 52;

/// SP800-108 counter-mode KDF with HMAC-SHA256, one block (MS-SMB2 §3.1.4.2).
fn kdf(key: &[u8], label: &[u8], context: &[u8], bits: usize) -> Vec<u8> {
    primitives::kdf::<Hmac<Sha256>>(key, label, context, bits)
}

/// The keys of one session: to decrypt what the client sent, and what the server sent.
#[derive(Clone)]
struct SessionKeys {
    client_to_server: Vec<u8>,
    server_to_client: Vec<u8>,
}

/// A session being set up.
#[derive(Default)]
struct Setup {
    preauth: Option<[u8; 64]>,
    challenge: Option<ntlmssp::Challenge>,
    /// The Kerberos context of the client's AP-REQ, when a key opened its ticket.
    kerberos: Option<Box<kerberos::Context>>,
}

/// Why an encrypted message was not read (the SMB layer counts the failures apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecrypted {
    /// No key for its session (its setup was not captured, or no secret matched).
    NoKey,
    /// A key was there and the authentication tag did not match.
    Failed,
}

/// The SMB3 state of one connection.
pub struct Smb3Crypto {
    keys: Option<Arc<Keyring>>,
    dialect: u16,
    cipher: u16,
    connection_hash: [u8; 64],
    setups: FastMap<u64, Setup>,
    sessions: FastMap<u64, SessionKeys>,
}

impl std::fmt::Debug for Smb3Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smb3Crypto")
            .field("dialect", &self.dialect)
            .field("cipher", &self.cipher)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The security buffer of a SESSION_SETUP request or response.
fn security_buffer(m: &[u8], response: bool) -> Option<&[u8]> {
    let (off_at, len_at) = if response { (68, 70) } else { (76, 78) };
    let off = usize::from(u16_at(m, off_at)?);
    let len = usize::from(u16_at(m, len_at)?);
    m.get(off..off + len)
}

/// The Kerberos AP-REQ of a security buffer: inside SPNEGO, or a bare GSS-API token.
fn kerberos_ap_req(token: &[u8]) -> Option<kerberos::ApReq> {
    spnego::parse(token)
        .and_then(|n| n.token)
        .and_then(|t| kerberos::parse_ap_req(&t))
        .or_else(|| kerberos::parse_ap_req(token))
}

/// The NTLMSSP message of a security buffer: bare or inside SPNEGO.
fn ntlm_message(token: &[u8]) -> Option<ntlmssp::Message> {
    ntlmssp::parse(token).or_else(|| ntlmssp::parse(&spnego::parse(token)?.token?))
}

impl Smb3Crypto {
    /// A connection's state; `keys` are the user's secrets.
    #[must_use]
    pub fn new(keys: Option<Arc<Keyring>>) -> Self {
        Self {
            keys,
            dialect: 0,
            cipher: AES_128_CCM,
            connection_hash: [0; 64],
            setups: FastMap::default(),
            sessions: FastMap::default(),
        }
    }

    /// A clear SMB2 message (the whole of it, as the pre-authentication hash takes it):
    /// NEGOTIATE and SESSION_SETUP are followed.
    pub fn observe(&mut self, m: &[u8]) {
        let (Some(command), Some(flags), Some(status), Some(session)) =
            (u16_at(m, 12), u32_at(m, 16), u32_at(m, 8), u64_at(m, 40))
        else {
            return;
        };
        let response = flags & 1 != 0;
        match (command, response) {
            (NEGOTIATE, false) => self.connection_hash = sha512(&[&[0; 64], m]),
            (NEGOTIATE, true) => {
                self.connection_hash = sha512(&[&self.connection_hash, m]);
                self.dialect = u16_at(m, 68).unwrap_or(0);
                self.cipher = if self.dialect >= DIALECT_311 {
                    negotiated_cipher(m).unwrap_or(AES_128_CCM)
                } else {
                    AES_128_CCM
                };
            }
            (SESSION_SETUP, false) => {
                if !self.setups.contains_key(&session) && self.setups.len() >= MAX_SESSIONS {
                    return;
                }
                let base = self.connection_hash;
                let setup = self.setups.entry(session).or_default();
                let before = setup.preauth.unwrap_or(base);
                setup.preauth = Some(sha512(&[&before, m]));
                let token = security_buffer(m, false);
                if let Some(ntlmssp::Message::Authenticate(au)) = token.and_then(ntlm_message) {
                    self.authenticated(session, &au);
                } else if let (Some(req), Some(keys)) =
                    (token.and_then(kerberos_ap_req), self.keys.as_deref())
                {
                    setup.kerberos = kerberos::Context::accept(&req, keys).ok().map(Box::new);
                }
            }
            (SESSION_SETUP, true) if status == 0 => self.kerberos_accepted(session, m),
            (SESSION_SETUP, true) if status == STATUS_MORE_PROCESSING_REQUIRED => {
                // The first answer names the session the client's first request (id 0) set up.
                let known = self
                    .setups
                    .remove(&session)
                    .or_else(|| self.setups.remove(&0));
                if known.is_none() && self.setups.len() >= MAX_SESSIONS {
                    return;
                }
                let mut setup = known.unwrap_or_default();
                let before = setup.preauth.unwrap_or(self.connection_hash);
                setup.preauth = Some(sha512(&[&before, m]));
                if let Some(ntlmssp::Message::Challenge(c)) =
                    security_buffer(m, true).and_then(ntlm_message)
                {
                    setup.challenge = Some(c);
                }
                self.setups.insert(session, setup);
            }
            _ => {}
        }
    }

    /// A SESSION_SETUP answered with success: for a Kerberos session, the acceptor's subkey
    /// from the AP-REP, then the session's keys from the GSS-API session key (its first 16
    /// bytes, or all of it for the AES-256 ciphers, MS-SMB2 §3.3.5.5.3). The pre-authentication
    /// hash stops at the last request.
    fn kerberos_accepted(&mut self, session: u64, m: &[u8]) {
        let Some(mut setup) = self
            .setups
            .remove(&session)
            .or_else(|| self.setups.remove(&0))
        else {
            return;
        };
        let Some(context) = setup.kerberos.as_mut() else {
            return;
        };
        let ap_rep = security_buffer(m, true)
            .and_then(|t| {
                spnego::parse(t)
                    .and_then(|n| n.token)
                    .or_else(|| Some(t.to_vec()))
            })
            .and_then(|t| kerberos::parse_ap_rep(&t));
        if let Some(part) = ap_rep {
            context.on_ap_rep(&part);
        }
        let full = context.gss_session_key();
        let wide = matches!(self.cipher, AES_256_CCM | AES_256_GCM) && self.dialect >= DIALECT_311;
        let key = if wide {
            full
        } else {
            &full[..full.len().min(16)]
        };
        let keys = self.derive(key, &setup.preauth.unwrap_or([0; 64]));
        if self.sessions.len() < MAX_SESSIONS || self.sessions.contains_key(&session) {
            self.sessions.insert(session, keys);
        }
    }

    /// The client's AUTHENTICATE: the session's keys, from the secrets or an `smb3` line.
    fn authenticated(&mut self, session: u64, au: &ntlmssp::Authenticate) {
        let Some(setup) = self.setups.get(&session) else {
            return;
        };
        let preauth = setup.preauth.unwrap_or([0; 64]);
        let mut session_keys: Vec<Vec<u8>> = self
            .keys
            .as_deref()
            .map(|k| {
                k.smb3()
                    .iter()
                    .filter(|s| s.session_id == session)
                    .map(|s| s.key.clone())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ch) = &setup.challenge
            && let Ok(found) = ntlmssp::exported_keys(ch, au, self.keys.as_deref())
        {
            session_keys.extend(found.iter().map(|k| k.to_vec()));
        }
        if let Some(key) = session_keys.first() {
            let keys = self.derive(key, &preauth);
            self.sessions.insert(session, keys);
        }
    }

    fn derive(&self, session_key: &[u8], preauth: &[u8; 64]) -> SessionKeys {
        let bits = if matches!(self.cipher, AES_256_CCM | AES_256_GCM) {
            256
        } else {
            128
        };
        if self.dialect >= DIALECT_311 {
            SessionKeys {
                client_to_server: kdf(session_key, b"SMBC2SCipherKey\0", preauth, bits),
                server_to_client: kdf(session_key, b"SMBS2CCipherKey\0", preauth, bits),
            }
        } else {
            SessionKeys {
                client_to_server: kdf(session_key, b"SMB2AESCCM\0", b"ServerIn \0", 128),
                server_to_client: kdf(session_key, b"SMB2AESCCM\0", b"ServerOut\0", 128),
            }
        }
    }

    /// Decrypts a TRANSFORM_HEADER message sent by the client (`Some(true)`), the server
    /// (`Some(false)`) or either (`None`: both keys are tried).
    ///
    /// # Errors
    /// [`Undecrypted`]: no key for the session, or the tag did not match.
    pub fn decrypt(&self, m: &[u8], from_client: Option<bool>) -> Result<Vec<u8>, Undecrypted> {
        let header = m.get(..TRANSFORM_LEN).ok_or(Undecrypted::Failed)?;
        let session = u64_at(header, 44).ok_or(Undecrypted::Failed)?;
        let keys = self.sessions.get(&session).ok_or(Undecrypted::NoKey)?;
        let size = usize::try_from(u32_at(header, 36).ok_or(Undecrypted::Failed)?)
            .map_err(|_| Undecrypted::Failed)?;
        let body = m
            .get(TRANSFORM_LEN..TRANSFORM_LEN + size)
            .ok_or(Undecrypted::Failed)?;
        let candidates: Vec<&Vec<u8>> = match from_client {
            Some(true) => vec![&keys.client_to_server],
            Some(false) => vec![&keys.server_to_client],
            None => vec![&keys.client_to_server, &keys.server_to_client],
        };
        candidates
            .into_iter()
            .find_map(|key| open(self.cipher, key, header, body))
            .ok_or(Undecrypted::Failed)
    }
}

/// The cipher a 3.1.1 NEGOTIATE response chose (its SMB2_ENCRYPTION_CAPABILITIES context).
fn negotiated_cipher(m: &[u8]) -> Option<u16> {
    let count = usize::from(u16_at(m, 70)?);
    let mut at = usize::try_from(u32_at(m, 64 + 60)?).ok()?;
    for _ in 0..count.min(16) {
        let kind = u16_at(m, at)?;
        let len = usize::from(u16_at(m, at + 2)?);
        if kind == 2 && u16_at(m, at + 8)? >= 1 {
            return u16_at(m, at + 10);
        }
        at = (at + 8 + len).next_multiple_of(8);
    }
    None
}

/// AES-CCM or AES-GCM decryption of a transform's body: nonce and tag from the header, the
/// header from its nonce on as associated data.
fn open(cipher: u16, key: &[u8], header: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let tag = header.get(4..20)?;
    let aad = header.get(20..TRANSFORM_LEN)?;
    let mut buf = body.to_vec();
    let tag = GenericArray::from_slice(tag);
    let done = match cipher {
        AES_128_GCM | AES_256_GCM => {
            let nonce = GenericArray::from_slice(header.get(20..32)?);
            if cipher == AES_128_GCM {
                Aes128Gcm::new_from_slice(key)
                    .ok()?
                    .decrypt_in_place_detached(nonce, aad, &mut buf, tag)
            } else {
                Aes256Gcm::new_from_slice(key)
                    .ok()?
                    .decrypt_in_place_detached(nonce, aad, &mut buf, tag)
            }
        }
        _ => {
            let nonce = GenericArray::from_slice(header.get(20..31)?);
            if cipher == AES_256_CCM {
                Ccm::<Aes256, U16, U11>::new_from_slice(key)
                    .ok()?
                    .decrypt_in_place_detached(nonce, aad, &mut buf, tag)
            } else {
                Ccm::<Aes128, U16, U11>::new_from_slice(key)
                    .ok()?
                    .decrypt_in_place_detached(nonce, aad, &mut buf, tag)
            }
        }
    };
    done.ok().map(|()| buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_decrypts_and_never_panics() {
        let c = Smb3Crypto::new(None);
        for m in [&b""[..], &[0xfd, b'S', b'M', b'B'], &[0u8; 80]] {
            assert!(c.decrypt(m, None).is_err());
        }
        let mut c = Smb3Crypto::new(None);
        for len in 0..200 {
            let mut m = vec![0xfe, b'S', b'M', b'B', 64, 0];
            m.resize(len.max(6), 0x41);
            c.observe(&m);
        }
    }
}
