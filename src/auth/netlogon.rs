//! Netlogon secure channel (MS-NRPC), security layer: the session key of a challenge exchange
//! (§3.1.4.3: AES with HMAC-SHA256, or the MD5 "strong key"), the credential that proves it
//! (§3.1.4.4), the NL_AUTH_MESSAGE of a bind with auth type 68 (§2.2.1.3.1), and the
//! NL_AUTH_SIGNATURE / NL_AUTH_SHA2_SIGNATURE of each protected PDU (§2.2.1.3.2, §2.2.1.3.3,
//! §3.3.4.2.2): the sequence number and stub decrypted with AES-CFB8 or RC4, the checksum
//! verified.
//!
//! The channels set up along a capture are kept in the key ring
//! ([`super::keys::Keyring`], whose `netlogon_*` methods follow them): a challenge per
//! client and computer until its NetrServerAuthenticate answer, then the channel key per
//! computer, which later binds with auth type 68 name. The NT4 DES session key (neither strong
//! keys nor AES negotiated) is not supported.

use std::fmt;
use std::sync::Mutex;

use aes::Aes128;
use cfb8::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::Hmac;
use md5::{Digest, Md5};
use sha2::Sha256;

use super::primitives::{self, des7, hmac_md5, rc4, rc4_hmac_key};
use crate::hash::FastMap;

/// NETLOGON_NEG_STRONG_KEYS: the MD5 session key (§3.1.4.2).
pub const NEG_STRONG_KEYS: u32 = 0x0000_4000;
/// NETLOGON_NEG_SUPPORTS_AES: the AES session key and AES-CFB8 sealing.
pub const NEG_SUPPORTS_AES: u32 = 0x0100_0000;

/// Challenges remembered between NetrServerReqChallenge and NetrServerAuthenticate, per run;
/// further ones are not kept (and their channels not learned).
pub const MAX_CHALLENGES: usize = 4096;
/// Computers whose secure channels are remembered, per run; the channels of further ones are
/// not kept.
pub const MAX_CHANNEL_COMPUTERS: usize = 4096;
/// Channels remembered per computer, newest first (a member sets up a new one now and then).
pub const MAX_CHANNELS_PER_COMPUTER: usize = 4;
/// Secrets tried on one NetrServerAuthenticate: those given for the computer first.
pub const MAX_SECRETS_TRIED: usize = 1024;

/// Signature algorithms of NL_AUTH_SIGNATURE (§2.2.1.3.2).
const SIGN_HMAC_MD5: u16 = 0x0077;
const SIGN_HMAC_SHA256: u16 = 0x0013;
/// Length of the signature fields before the confounder.
const SIGNATURE_LEN: usize = 24;
const CONFOUNDER_LEN: usize = 8;

/// A secure channel's session key and the cipher its flags chose. Never formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelKey {
    key: [u8; 16],
    aes: bool,
}

impl fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelKey")
            .field("aes", &self.aes)
            .finish_non_exhaustive()
    }
}

type Cfb8Dec = cfb8::Decryptor<Aes128>;
type Cfb8Enc = cfb8::Encryptor<Aes128>;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    primitives::hmac::<Hmac<Sha256>>(key, parts)
}

impl ChannelKey {
    /// The session key of a challenge exchange (§3.1.4.3) from the machine account's NT hash,
    /// for the flags the server answered; `None` for the NT4 DES key.
    #[must_use]
    pub fn derive(
        flags: u32,
        nt_hash: &[u8; 16],
        client_challenge: &[u8; 8],
        server_challenge: &[u8; 8],
    ) -> Option<Self> {
        if flags & NEG_SUPPORTS_AES != 0 {
            let full = hmac_sha256(nt_hash, &[client_challenge, server_challenge]);
            let key = full.get(..16)?.try_into().ok()?;
            return Some(Self { key, aes: true });
        }
        if flags & NEG_STRONG_KEYS != 0 {
            let mut md5 = Md5::new();
            md5.update([0u8; 4]);
            md5.update(client_challenge);
            md5.update(server_challenge);
            let digest: [u8; 16] = md5.finalize().into();
            return Some(Self {
                key: hmac_md5(nt_hash, &[&digest]),
                aes: false,
            });
        }
        None
    }

    /// True when the channel seals with AES-CFB8 (else RC4).
    #[must_use]
    pub fn aes(&self) -> bool {
        self.aes
    }

    /// The Netlogon credential of `input` (§3.1.4.4): AES-CFB8 with a zero IV, or DES twice
    /// with the two 7-byte halves of the key.
    #[must_use]
    pub fn credential(&self, input: &[u8; 8]) -> [u8; 8] {
        if self.aes {
            let mut out = *input;
            Cfb8Enc::new(&self.key.into(), &[0u8; 16].into()).encrypt(&mut out);
            out
        } else {
            des7(&self.key[7..14], &des7(&self.key[..7], input))
        }
    }

    /// Opens a protected PDU: `token` is its NL_AUTH_SIGNATURE, `data` the stub and auth pad,
    /// decrypted in place when `sealed` (garbled when the checksum then does not match: pass a
    /// copy). Ok when the checksum matches.
    ///
    /// # Errors
    /// Why the PDU does not open: a signature of the other algorithm, a token too short, or a
    /// checksum mismatch (wrong key, or altered data).
    pub fn open(&self, token: &[u8], data: &mut [u8], sealed: bool) -> Result<(), &'static str> {
        let need = SIGNATURE_LEN + if sealed { CONFOUNDER_LEN } else { 0 };
        if token.len() < need {
            return Err("the Netlogon signature is cut");
        }
        let algorithm = u16::from_le_bytes([token[0], token[1]]);
        let expected = if self.aes {
            SIGN_HMAC_SHA256
        } else {
            SIGN_HMAC_MD5
        };
        if algorithm != expected {
            return Err("the signature algorithm is not the one the channel negotiated");
        }
        let header = &token[..8];
        let checksum = &token[16..24];
        let mut seq: [u8; 8] = token[8..16].try_into().unwrap_or_default();
        let mut confounder = [0u8; CONFOUNDER_LEN];
        let xored = self.key.map(|b| b ^ 0xf0);
        if self.aes {
            let mut iv = [0u8; 16];
            iv[..8].copy_from_slice(checksum);
            iv[8..].copy_from_slice(checksum);
            Cfb8Dec::new(&self.key.into(), &iv.into()).decrypt(&mut seq);
            if sealed {
                iv[..8].copy_from_slice(&seq);
                iv[8..].copy_from_slice(&seq);
                // one CFB8 stream over the confounder then the data
                let mut both = Vec::with_capacity(CONFOUNDER_LEN + data.len());
                both.extend_from_slice(&token[SIGNATURE_LEN..need]);
                both.extend_from_slice(data);
                Cfb8Dec::new(&xored.into(), &iv.into()).decrypt(&mut both);
                confounder.copy_from_slice(&both[..CONFOUNDER_LEN]);
                data.copy_from_slice(&both[CONFOUNDER_LEN..]);
            }
            let sum = if sealed {
                hmac_sha256(&self.key, &[header, &confounder, data])
            } else {
                hmac_sha256(&self.key, &[header, data])
            };
            return if sum.get(..8) == Some(checksum) {
                Ok(())
            } else {
                Err("checksum mismatch")
            };
        }
        rc4(&rc4_hmac_key(&self.key, checksum), &mut seq);
        if sealed {
            let data_key = rc4_hmac_key(&xored, &seq);
            confounder.copy_from_slice(&token[SIGNATURE_LEN..need]);
            rc4(&data_key, &mut confounder);
            rc4(&data_key, data);
        }
        let mut md5 = Md5::new();
        md5.update([0u8; 4]);
        md5.update(header);
        if sealed {
            md5.update(confounder);
        }
        md5.update(&*data);
        let digest: [u8; 16] = md5.finalize().into();
        if hmac_md5(&self.key, &[&digest])[..8] == *checksum {
            Ok(())
        } else {
            Err("checksum mismatch")
        }
    }
}

/// The NetBIOS computer name an NL_AUTH_MESSAGE (§2.2.1.3.1) names: the second of the
/// null-terminated strings its flags announce (none when it gives only DNS names).
#[must_use]
pub fn auth_message_computer(token: &[u8]) -> Option<String> {
    let flags = u32::from_le_bytes(token.get(4..8)?.try_into().ok()?);
    let mut strings = token.get(8..)?.split(|&b| b == 0);
    if flags & 1 != 0 {
        strings.next()?;
    }
    if flags & 2 == 0 {
        return None;
    }
    let name = strings.next()?;
    Some(name.iter().map(|&b| char::from(b)).collect())
}

/// A channel as learned from a NetrServerAuthenticate answer.
#[derive(Clone, Debug)]
pub(super) enum Learned {
    /// A secret given reproduced the client's credential: the channel's key.
    Key(ChannelKey),
    /// Secrets were given for it and none reproduced the credential.
    WrongSecret,
    /// No secret was given for it.
    NoSecret,
    /// Neither strong keys nor AES were negotiated.
    Des,
}

/// What NetrServerAuthenticate told about a channel, for the call's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialCheck {
    /// A secret given reproduced the client credential.
    Valid,
    /// Secrets were given and none reproduced it.
    Invalid,
    /// No secret was given for the computer (or the challenge exchange was not captured).
    Unchecked,
}

impl CredentialCheck {
    /// The `credential` field's value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unchecked => "unchecked",
        }
    }
}

/// Channels set up in the capture, and challenges awaiting their NetrServerAuthenticate.
#[derive(Default)]
pub struct Channels {
    /// (client address, computer) → (client challenge, server challenge).
    pub(super) challenges: FastMap<(String, String), ([u8; 8], [u8; 8])>,
    /// Upper-case computer name → its channels, newest first.
    pub(super) channels: FastMap<String, Vec<Learned>>,
}

/// Why the PDUs of a secure channel cannot be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoChannel {
    /// No secret given for the computer.
    NoSecret,
    /// Secrets given, none reproduced the credential.
    WrongSecret,
    /// Secrets given, the challenge exchange not captured.
    NotCaptured,
    /// An NT4 DES channel.
    Des,
}

/// The learned state kept in a key ring.
pub(super) type Learning = Mutex<Channels>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::kcrypto::tests::hex;
    use crate::auth::keys::{Keyring, nt_hash};

    fn key(aes: bool) -> ChannelKey {
        let flags = if aes {
            NEG_SUPPORTS_AES
        } else {
            NEG_STRONG_KEYS
        };
        ChannelKey::derive(
            flags,
            &nt_hash("lab-ws"),
            b"rpcscopA",
            b"\x01\x02\x03\x04\x05\x06\x07\x08",
        )
        .unwrap()
    }

    // Vectors made with impacket's nrpc module (ComputeSessionKeyAES / StrongKey,
    // ComputeNetlogonCredential(AES), SEAL and SIGN) for the password "lab-ws".
    #[test]
    fn session_keys_and_credentials_match_another_implementation() {
        let aes = key(true);
        assert_eq!(aes.key.to_vec(), hex("67b85a0e3966e0c927a41ebe553f6eb8"));
        assert_eq!(
            aes.credential(b"rpcscopA").to_vec(),
            hex("5b6c5f730354c03d")
        );
        let md5 = key(false);
        assert_eq!(md5.key.to_vec(), hex("75b84c148a6da283e409f9cd5ced32aa"));
        assert_eq!(
            md5.credential(b"rpcscopA").to_vec(),
            hex("88049893e79fc9f1")
        );
    }

    #[test]
    fn sealed_and_signed_pdus_open_as_another_implementation_made_them() {
        let plain = b"hello netlogon stub 12345678";
        for (aes, sealed, token) in [
            (
                true,
                "aaed23fac9e33f781db341a70e12c454872868a0c82fde4dd9430914",
                "13001a00ffff0000e612acfd42ce448894c4ecca827d15401eea329d568089d7",
            ),
            (
                false,
                "94644a8d1edd3abc7969158cdee542ce97b76d38ae4b3a0f15a74d7c",
                "77007a00ffff00001d10afa7e4db6a5e3efea05c0e9cc474cd3315d544cb63e1",
            ),
        ] {
            let mut data = hex(sealed);
            assert_eq!(key(aes).open(&hex(token), &mut data, true), Ok(()));
            assert_eq!(data, plain);
            // one bit flipped in the stub: the checksum no longer matches
            let mut data = hex(sealed);
            data[3] ^= 1;
            assert_eq!(
                key(aes).open(&hex(token), &mut data, true),
                Err("checksum mismatch")
            );
            // the other channel's key
            let mut data = hex(sealed);
            assert!(key(!aes).open(&hex(token), &mut data, true).is_err());
        }
        for (aes, token) in [
            (true, "1300ffffffff0000048d218b825170dfdc43329466b782aa"),
            (false, "7700ffffffff0000864497ec72050284f552f31a692012e6"),
        ] {
            let mut data = plain.to_vec();
            assert_eq!(key(aes).open(&hex(token), &mut data, false), Ok(()));
            assert_eq!(data, plain);
            data[0] ^= 1;
            assert!(key(aes).open(&hex(token), &mut data, false).is_err());
        }
    }

    const CLIENT_CHALLENGE: [u8; 8] = *b"rpcscopA";
    const SERVER_CHALLENGE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn ring(text: &str) -> Keyring {
        let mut ring = Keyring::default();
        ring.parse_text(text, None, "keys").unwrap();
        ring
    }

    /// The credential impacket computed for LAB-WS$ (password lab-ws) with AES.
    fn credential() -> [u8; 8] {
        hex("5b6c5f730354c03d").try_into().unwrap()
    }

    #[test]
    fn a_channel_is_learned_from_its_challenge_exchange_with_the_right_secret() {
        let keys = ring("netlogon OTHER$ other\nnetlogon LAB-WS$ lab-ws\n");
        assert_eq!(
            keys.netlogon_channels("LAB-WS"),
            Err(NoChannel::NotCaptured)
        );
        assert!(keys.netlogon_challenge("10.0.0.5", "lab-ws", CLIENT_CHALLENGE, SERVER_CHALLENGE));
        // a challenge of another client does not pair with this authenticate
        let (check, kept) =
            keys.netlogon_authenticated("10.0.0.6", "LAB-WS", credential(), 0x612f_ffff);
        assert_eq!((check, kept), (CredentialCheck::Unchecked, true));
        let (check, _) =
            keys.netlogon_authenticated("10.0.0.5", "LAB-WS", credential(), 0x612f_ffff);
        assert_eq!(check, CredentialCheck::Valid);
        assert_eq!(keys.netlogon_channels("lab-ws$"), Ok(vec![key(true)]));
        // the challenge was used up
        let (check, _) =
            keys.netlogon_authenticated("10.0.0.5", "LAB-WS", credential(), 0x612f_ffff);
        assert_eq!(check, CredentialCheck::Unchecked);
    }

    #[test]
    fn wrong_missing_and_des_secrets_are_told_apart() {
        let wrong = ring("netlogon LAB-WS$ not-lab-ws\n");
        wrong.netlogon_challenge("c", "LAB-WS", CLIENT_CHALLENGE, SERVER_CHALLENGE);
        let (check, _) = wrong.netlogon_authenticated("c", "LAB-WS", credential(), 0x612f_ffff);
        assert_eq!(check, CredentialCheck::Invalid);
        assert_eq!(
            wrong.netlogon_channels("LAB-WS"),
            Err(NoChannel::WrongSecret)
        );
        // a secret of another account only: the computer's own secret is missing
        let other = ring("netlogon OTHER$ lab-ws-not\n");
        other.netlogon_challenge("c", "LAB-WS", CLIENT_CHALLENGE, SERVER_CHALLENGE);
        let (check, _) = other.netlogon_authenticated("c", "LAB-WS", credential(), 0x612f_ffff);
        assert_eq!(check, CredentialCheck::Unchecked);
        assert_eq!(other.netlogon_channels("LAB-WS"), Err(NoChannel::NoSecret));
        let des = ring("netlogon LAB-WS$ lab-ws\n");
        des.netlogon_challenge("c", "LAB-WS", CLIENT_CHALLENGE, SERVER_CHALLENGE);
        des.netlogon_authenticated("c", "LAB-WS", credential(), 0);
        assert_eq!(des.netlogon_channels("LAB-WS"), Err(NoChannel::Des));
    }

    #[test]
    fn challenges_and_channels_stop_at_their_limits() {
        let keys = ring("netlogon LAB-WS$ lab-ws\n");
        for i in 0..MAX_CHALLENGES {
            assert!(keys.netlogon_challenge(&i.to_string(), "WS", [0; 8], [0; 8]));
        }
        assert!(!keys.netlogon_challenge("new", "WS", [0; 8], [0; 8]));
        // an existing client and computer may still renew its challenge
        assert!(keys.netlogon_challenge("0", "WS", [1; 8], [0; 8]));
        let keys = ring("netlogon LAB-WS$ lab-ws\n");
        for i in 0..MAX_CHANNEL_COMPUTERS {
            let name = format!("WS{i}");
            keys.netlogon_challenge("c", &name, [0; 8], [0; 8]);
            let (_, kept) = keys.netlogon_authenticated("c", &name, [0; 8], 0x4000);
            assert!(kept, "{i}");
        }
        keys.netlogon_challenge("x", "ONE-MORE", [0; 8], [0; 8]);
        let (_, kept) = keys.netlogon_authenticated("x", "ONE-MORE", [0; 8], 0x4000);
        assert!(!kept);
    }

    proptest::proptest! {
        /// Any token and data on either cipher, sealed or signed, never panic and never open.
        #[test]
        fn garbage_never_panics_nor_opens(
            token in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            aes in proptest::prelude::any::<bool>(),
            sealed in proptest::prelude::any::<bool>(),
        ) {
            let mut token = token;
            if token.len() >= 2 {
                token[..2].copy_from_slice(if aes { &[0x13, 0] } else { &[0x77, 0] });
            }
            let mut buf = data;
            proptest::prop_assert!(key(aes).open(&token, &mut buf, sealed).is_err());
            let _ = auth_message_computer(&token);
        }
    }

    #[test]
    fn des_only_channels_have_no_key() {
        assert!(ChannelKey::derive(0, &[0; 16], &[0; 8], &[0; 8]).is_none());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = key(true);
        let text = format!("{k:?}");
        assert!(!text.contains(&format!("{:?}", k.key)));
        assert!(text.contains("aes"));
    }

    #[test]
    fn tokens_too_short_or_of_the_other_algorithm_are_refused() {
        let mut data = [0u8; 16];
        assert_eq!(
            key(true).open(&[0; 10], &mut data, true),
            Err("the Netlogon signature is cut")
        );
        let mut token = [0u8; 32];
        token[0] = 0x77;
        assert!(key(true).open(&token, &mut data, true).is_err());
        token[0] = 0x13;
        assert_eq!(
            key(true).open(&token, &mut data, true),
            Err("checksum mismatch")
        );
    }

    #[test]
    fn auth_message_names_the_netbios_computer() {
        // NL_AUTH_MESSAGE: type 0, flags 3 (NetBIOS domain, NetBIOS computer)
        let mut token = vec![0, 0, 0, 0, 3, 0, 0, 0];
        token.extend_from_slice(b"RPCLABAD\0LAB-WS\0");
        assert_eq!(auth_message_computer(&token).as_deref(), Some("LAB-WS"));
        token[4] = 1;
        assert_eq!(auth_message_computer(&token), None);
        assert_eq!(auth_message_computer(&[0; 5]), None);
    }
}
