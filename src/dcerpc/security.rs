//! Security contexts of one association (MS-RPCE §2.2.2.11, §3.3.1.5.2), DCE/RPC layer beside
//! the association: the auth values of bind, bind_ack, alter_context, alter_context_resp and
//! auth3 feed one mechanism per auth_context_id; request and response PDUs at pkt_privacy are
//! unsealed, and signatures at pkt_integrity and pkt_privacy checked, with the user's keys.
//! What happened to each PDU is a [`Protection`]; the association folds them into its calls.

use std::sync::Arc;

use super::pdu::{Pdu, SEC_TRAILER_LEN};
use crate::auth::kerberos;
use crate::auth::keys::Keyring;
use crate::auth::netlogon::{self, ChannelKey, NoChannel};
use crate::auth::ntlmssp::{self, Challenge, Session};
use crate::auth::spnego::{self, Mechanism};
use crate::dce::codes::PacketType;
use crate::hash::FastMap;
use crate::tcp::Dir;

/// Auth contexts followed per association; more are reported as missing a handshake.
pub const MAX_AUTH_CONTEXTS: usize = 8;
/// PDUs cut by capture gaps remembered per auth context before its keys are confirmed by a
/// signature; after more, that direction's calls fail with `PDU lost before it`.
pub const MAX_SKIPS_BEFORE_KEYS: usize = 64;

/// auth_type values (MS-RPCE §2.2.1.1.7).
const SPNEGO: u8 = 9;
const NTLMSSP: u8 = 10;
const KERBEROS: u8 = 16;
const NETLOGON: u8 = 68;
/// auth_level values.
const PKT_INTEGRITY: u8 = 5;
const PKT_PRIVACY: u8 = 6;

/// What became of a sealed PDU's stub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decryption {
    /// Decrypted, its signature checked.
    Decrypted,
    /// Not attempted: no key was given for it; says which secret would open it.
    NoKey(String),
    /// Attempted and failed; says why.
    Failed(String),
}

impl Decryption {
    /// The `decryption` field's value.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Decrypted => "decrypted",
            Self::NoKey(_) => "no_key",
            Self::Failed(_) => "failed",
        }
    }

    /// Why, for `no_key` and `failed`.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Decrypted => None,
            Self::NoKey(r) | Self::Failed(r) => Some(r),
        }
    }

    /// How bad it is, to keep the worst over a call's PDUs.
    fn rank(&self) -> u8 {
        match self {
            Self::Decrypted => 0,
            Self::NoKey(_) => 1,
            Self::Failed(_) => 2,
        }
    }

    /// The worse of two outcomes (the first one of equal rank).
    #[must_use]
    pub fn worst(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.rank() > a.rank() { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// What the security layer did with one request or response PDU, or (merged) with all the
/// PDUs of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    /// For a pkt_privacy PDU: whether its stub was decrypted.
    pub decryption: Option<Decryption>,
    /// For a PDU whose signature was checked: whether it matched.
    pub signature: Option<bool>,
}

impl Protection {
    /// Adds a PDU's protection to a call's: the worst decryption, and a signature that is
    /// valid only when every checked one was.
    pub fn merge(&mut self, pdu: Self) {
        self.decryption = Decryption::worst(self.decryption.take(), pdu.decryption);
        self.signature = match (self.signature, pdu.signature) {
            (Some(a), Some(b)) => Some(a && b),
            (a, b) => a.or(b),
        };
    }

    /// The stub of a PDU with this protection cannot be read (sealed, not decrypted).
    #[must_use]
    pub fn unreadable(&self) -> bool {
        self.decryption
            .as_ref()
            .is_some_and(|d| *d != Decryption::Decrypted)
    }
}

/// An unsealed PDU: a copy of the PDU with its stub and auth pad in clear.
#[derive(Default)]
pub struct Unsealed {
    /// The PDU bytes, stub in clear when decrypted.
    pub bytes: Option<Vec<u8>>,
    /// What happened.
    pub protection: Protection,
}

impl Unsealed {
    /// A PDU left as it was: `why` on a sealed one, nothing on a signed one (its signature
    /// could not be checked either).
    fn left(sealed: bool, why: Decryption) -> Self {
        Self {
            bytes: None,
            protection: Protection {
                decryption: sealed.then_some(why),
                signature: None,
            },
        }
    }
}

/// Where an NTLMSSP context stands.
enum NtlmState {
    /// Waiting for the CHALLENGE or AUTHENTICATE.
    Handshake(Option<Challenge>),
    /// Keys derived, to be confirmed by the first protected PDU's signature.
    Keys {
        flags: u32,
        keys: Vec<[u8; 16]>,
        /// Sealed lengths of PDUs lost in capture gaps before the first protected one.
        skipped: Vec<(bool, usize)>,
    },
    /// Confirmed.
    Open(Box<Session>),
    /// Cannot be opened.
    Closed(Decryption),
}

/// One auth context.
struct AuthContext {
    auth_type: u8,
    ntlm: NtlmState,
    /// A mechListMIC was signed by the client and by the server (SPNEGO).
    mic: [bool; 2],
    /// Kerberos, when the context uses it.
    kerberos: Option<KerberosState>,
    /// The Netlogon secure channel, when the context uses it.
    netlogon: Option<NetlogonState>,
    /// Why PDUs of a mechanism that is not unsealed here stay sealed.
    other: Option<Decryption>,
}

/// Where a Netlogon secure-channel context stands.
enum NetlogonState {
    /// The bind named the computer; its channel is looked up at the first protected PDU (the
    /// challenge exchange that sets it up may end just before).
    Named(String),
    /// The channel key that opened the first protected PDU.
    Open(ChannelKey),
    /// Cannot be opened.
    Closed(Decryption),
}

/// Where a Kerberos context stands.
enum KerberosState {
    /// The AP-REQ opened: its keys.
    Open(Box<kerberos::Context>),
    /// Cannot be opened.
    Closed(Decryption),
}

/// The security contexts of one association.
pub struct Security {
    keys: Option<Arc<Keyring>>,
    contexts: FastMap<u32, AuthContext>,
    /// Bytes of a direction (indexed by [`Dir::index`]) were lost where no PDU boundary is
    /// known: its RC4 states can no longer follow.
    lost: [bool; 2],
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("contexts", &self.contexts.len())
            .finish_non_exhaustive()
    }
}

impl Security {
    /// No contexts yet; `keys` are the user's secrets.
    #[must_use]
    pub fn new(keys: Option<Arc<Keyring>>) -> Self {
        Self {
            keys,
            contexts: FastMap::default(),
            lost: [false; 2],
        }
    }

    /// A bind, alter_context, bind_ack, alter_context_resp or auth3 PDU: its auth value is a
    /// handshake token for its auth context. False when a new context was refused because
    /// [`MAX_AUTH_CONTEXTS`] are followed already.
    pub fn on_handshake(&mut self, pdu: &Pdu, bytes: &[u8]) -> bool {
        let Some(a) = pdu.auth else { return true };
        let value_at = a.offset + SEC_TRAILER_LEN;
        let Some(token) = bytes.get(value_at..value_at + usize::from(a.value_len)) else {
            return true;
        };
        let from_client = pdu.header.ptype.is_from_client();
        if !self.contexts.contains_key(&a.context_id) {
            if !from_client {
                return true;
            }
            if self.contexts.len() >= MAX_AUTH_CONTEXTS {
                return false;
            }
            self.contexts.insert(
                a.context_id,
                AuthContext {
                    auth_type: a.auth_type,
                    ntlm: NtlmState::Handshake(None),
                    mic: [false; 2],
                    kerberos: None,
                    netlogon: None,
                    other: None,
                },
            );
        }
        let keys = self.keys.clone();
        let Some(ctx) = self.contexts.get_mut(&a.context_id) else {
            return true;
        };
        match a.auth_type {
            NTLMSSP => ctx.ntlm_token(token, keys.as_deref()),
            SPNEGO => {
                let Some(n) = spnego::parse(token) else {
                    return true;
                };
                ctx.mic[usize::from(!from_client)] |= n.mic;
                match (n.mechanism, n.token) {
                    (_, Some(inner))
                        if n.mechanism == Some(Mechanism::Kerberos) || ctx.kerberos.is_some() =>
                    {
                        ctx.kerberos_token(&inner, from_client, keys.as_deref());
                    }
                    (Some(Mechanism::Kerberos), None) if ctx.kerberos.is_none() => {
                        ctx.kerberos = Some(KerberosState::Closed(Decryption::Failed(
                            "missing handshake: the Kerberos AP-REQ was not captured".into(),
                        )));
                    }
                    (Some(Mechanism::Other), _) if from_client => {
                        ctx.other = Some(Decryption::Failed(
                            "SPNEGO negotiated a mechanism other than NTLMSSP and Kerberos".into(),
                        ));
                    }
                    (_, Some(inner)) if ntlmssp::parse(&inner).is_some() => {
                        ctx.other = None;
                        ctx.ntlm_token(&inner, keys.as_deref());
                    }
                    _ => {}
                }
            }
            KERBEROS => ctx.kerberos_token(token, from_client, keys.as_deref()),
            NETLOGON if from_client => {
                ctx.netlogon = Some(match netlogon::auth_message_computer(token) {
                    Some(computer) => NetlogonState::Named(computer),
                    None => NetlogonState::Closed(Decryption::Failed(
                        "missing handshake: the Netlogon bind names no NetBIOS computer".into(),
                    )),
                });
            }
            NETLOGON => {}
            t => {
                ctx.other = Some(Decryption::Failed(format!(
                    "unknown security provider (auth type {t})"
                )));
            }
        }
        true
    }

    /// A request or response PDU: unsealed and checked when its context allows.
    pub fn on_protected(&mut self, dir: Dir, pdu: &Pdu, bytes: &[u8]) -> Unsealed {
        let none = Unsealed {
            bytes: None,
            protection: Protection::default(),
        };
        let Some(a) = pdu.auth else { return none };
        if a.auth_level != PKT_PRIVACY && a.auth_level != PKT_INTEGRITY {
            return none;
        }
        let sealed = a.auth_level == PKT_PRIVACY;
        let failed = |why: String| Unsealed::left(sealed, Decryption::Failed(why));
        let from_client = pdu.header.ptype.is_from_client();
        let lost = self.lost[dir.index()];
        let keys = self.keys.clone();
        let Some(ctx) = self.contexts.get_mut(&a.context_id) else {
            return failed(format!(
                "missing handshake: the bind of auth context {} was not captured",
                a.context_id
            ));
        };
        if let Some(other) = &ctx.other {
            return Unsealed::left(sealed, other.clone());
        }
        if ctx.netlogon.is_some() {
            return ctx.open_netlogon(pdu, bytes, sealed, keys.as_deref());
        }
        match &ctx.kerberos {
            Some(KerberosState::Open(k)) if sealed => return unseal_kerberos(k, pdu, bytes),
            Some(KerberosState::Open(k)) => return verify_kerberos(k, pdu, bytes),
            Some(KerberosState::Closed(why)) => return Unsealed::left(sealed, why.clone()),
            None => {}
        }
        if ctx.auth_type != NTLMSSP && ctx.auth_type != SPNEGO {
            return none;
        }
        match &ctx.ntlm {
            NtlmState::Closed(why) => return Unsealed::left(sealed, why.clone()),
            NtlmState::Handshake(_) => {
                return failed(
                    "missing handshake: the NTLMSSP AUTHENTICATE message was not captured".into(),
                );
            }
            _ if lost => {
                return failed(
                    "PDU lost before it: bytes of this direction were never captured, so the \
                     RC4 state cannot follow"
                        .into(),
                );
            }
            NtlmState::Open(_) | NtlmState::Keys { .. } => {}
        }
        let value_at = a.offset + SEC_TRAILER_LEN;
        let Some(signature) = bytes.get(value_at..value_at + usize::from(a.value_len)) else {
            return failed("the auth value is cut".into());
        };
        if signature.len() < ntlmssp::SIGNATURE_LEN {
            return failed("the NTLMSSP signature is shorter than 16 bytes".into());
        }
        let sealed_range = sealed.then_some(pdu.stub.start..a.offset);
        let regions = [0..value_at, pdu.stub.start..value_at];
        let mut plain = bytes
            .get(..value_at + usize::from(a.value_len))
            .unwrap_or(bytes)
            .to_vec();
        let mic = ctx.mic;
        let checked = match &mut ctx.ntlm {
            NtlmState::Open(session) => {
                session.open(from_client, &mut plain, sealed_range, &regions, signature)
            }
            NtlmState::Keys {
                flags,
                keys,
                skipped,
            } => {
                let found = candidates(*flags, keys, mic, skipped).find_map(|mut session| {
                    let mut trial = plain.clone();
                    let checked = session.open(
                        from_client,
                        &mut trial,
                        sealed_range.clone(),
                        &regions,
                        signature,
                    );
                    checked.region.map(|_| (session, trial, checked))
                });
                match found {
                    Some((session, trial, checked)) => {
                        ctx.ntlm = NtlmState::Open(Box::new(session));
                        plain = trial;
                        checked
                    }
                    None => {
                        let why = Decryption::Failed(
                            "checksum mismatch: the session key does not verify the first \
                             protected PDU (wrong key, or the handshake was altered)"
                                .into(),
                        );
                        ctx.ntlm = NtlmState::Closed(why.clone());
                        return Unsealed::left(sealed, why);
                    }
                }
            }
            // the states without keys returned above
            NtlmState::Closed(_) | NtlmState::Handshake(_) => return none,
        };
        let valid = checked.region.is_some();
        let decryption = sealed.then(|| {
            if valid {
                Decryption::Decrypted
            } else if checked.seq != checked.expected_seq {
                Decryption::Failed(format!(
                    "PDU lost before it: sequence number {} where {} was expected",
                    checked.seq, checked.expected_seq
                ))
            } else {
                Decryption::Failed("checksum mismatch".into())
            }
        });
        Unsealed {
            bytes: (sealed && valid).then_some(plain),
            protection: Protection {
                decryption,
                signature: Some(valid),
            },
        }
    }

    /// A PDU of `ptype` sent in `dir` was cut by a capture gap after its header: the RC4 state
    /// of its direction moves past its sealed bytes.
    pub fn on_truncated(
        &mut self,
        dir: Dir,
        ptype: PacketType,
        frag_len: u16,
        auth_len: u16,
        object: bool,
    ) {
        if auth_len == 0 || !(ptype == PacketType::REQUEST || ptype == PacketType::RESPONSE) {
            return;
        }
        let from_client = ptype.is_from_client();
        let header = 24 + if object { 16 } else { 0 };
        let Some(len) =
            usize::from(frag_len).checked_sub(header + SEC_TRAILER_LEN + usize::from(auth_len))
        else {
            return;
        };
        if self.contexts.len() != 1 {
            self.on_lost(dir);
            return;
        }
        for ctx in self.contexts.values_mut() {
            match &mut ctx.ntlm {
                NtlmState::Open(s) => s.skip(from_client, len),
                NtlmState::Keys { skipped, .. } if skipped.len() < MAX_SKIPS_BEFORE_KEYS => {
                    skipped.push((from_client, len));
                }
                NtlmState::Keys { .. } => self.lost[dir.index()] = true,
                _ => {}
            }
        }
    }

    /// Bytes sent in `dir` were lost where no PDU boundary is known.
    pub fn on_lost(&mut self, dir: Dir) {
        if !self.contexts.is_empty() {
            self.lost[dir.index()] = true;
        }
    }
}

/// Unseals a pkt_privacy PDU of a Kerberos context: the stub and pad in place, the checksum
/// over them with the PDU's header and sec_trailer.
fn unseal_kerberos(k: &kerberos::Context, pdu: &Pdu, bytes: &[u8]) -> Unsealed {
    let Some(a) = pdu.auth else {
        return Unsealed::default();
    };
    let value_at = a.offset + SEC_TRAILER_LEN;
    let end = value_at + usize::from(a.value_len);
    let mut plain = bytes.get(..end).unwrap_or(bytes).to_vec();
    let token = bytes.get(value_at..end).unwrap_or_default();
    let header = bytes.get(..pdu.stub.start).unwrap_or_default();
    let trailer = bytes.get(a.offset..value_at).unwrap_or_default();
    let result = match plain.get_mut(pdu.stub.start..a.offset) {
        Some(data) => k.unseal(token, data, header, trailer),
        None => Err("the stub is cut"),
    };
    match result {
        Ok(()) => Unsealed {
            bytes: Some(plain),
            protection: Protection {
                decryption: Some(Decryption::Decrypted),
                signature: Some(true),
            },
        },
        Err(why) => Unsealed {
            bytes: None,
            protection: Protection {
                decryption: Some(Decryption::Failed(format!("Kerberos: {why}"))),
                signature: (why == "checksum mismatch").then_some(false),
            },
        },
    }
}

/// Checks the MIC token of a pkt_integrity PDU of a Kerberos context.
fn verify_kerberos(k: &kerberos::Context, pdu: &Pdu, bytes: &[u8]) -> Unsealed {
    let Some(a) = pdu.auth else {
        return Unsealed::default();
    };
    let value_at = a.offset + SEC_TRAILER_LEN;
    let token = bytes
        .get(value_at..value_at + usize::from(a.value_len))
        .unwrap_or_default();
    let whole = bytes.get(..value_at).unwrap_or_default();
    let stub = bytes.get(pdu.stub.start..a.offset).unwrap_or_default();
    Unsealed {
        bytes: None,
        protection: Protection {
            decryption: None,
            signature: k.verify_mic(token, whole, stub).ok(),
        },
    }
}

/// The sessions the first protected PDU is tried with: each key, with the mechListMIC
/// signatures that SPNEGO made first counted in the RC4 states, then without (implementations
/// differ on whether they restart the states after the MIC).
fn candidates<'a>(
    flags: u32,
    keys: &'a [[u8; 16]],
    mic: [bool; 2],
    skipped: &'a [(bool, usize)],
) -> impl Iterator<Item = Session> + 'a {
    let variants: &[bool] = if mic[0] || mic[1] {
        &[true, false]
    } else {
        &[false]
    };
    keys.iter().flat_map(move |key| {
        variants.iter().map(move |&after_mic| {
            let mut s = Session::new(flags, key);
            if after_mic {
                for (dir, signed) in [(true, mic[0]), (false, mic[1])] {
                    if signed {
                        s.skip(dir, 0);
                    }
                }
            }
            for &(dir, len) in skipped {
                s.skip(dir, len);
            }
            s
        })
    })
}

impl AuthContext {
    /// A protected PDU of a Netlogon secure channel: each PDU opens on its own (its sequence
    /// number travels encrypted in its signature), so a lost PDU changes nothing. The first
    /// one chooses among the channels the computer set up in the capture.
    fn open_netlogon(
        &mut self,
        pdu: &Pdu,
        bytes: &[u8],
        sealed: bool,
        keys: Option<&Keyring>,
    ) -> Unsealed {
        let Some(a) = pdu.auth else {
            return Unsealed::default();
        };
        let value_at = a.offset + SEC_TRAILER_LEN;
        let end = value_at + usize::from(a.value_len);
        let (Some(token), Some(mut plain)) = (
            bytes.get(value_at..end),
            bytes.get(..end).map(<[u8]>::to_vec),
        ) else {
            return Unsealed::left(sealed, Decryption::Failed("the auth value is cut".into()));
        };
        let data = pdu.stub.start..a.offset;
        let state = self.netlogon.take();
        let (state, result) = match state {
            Some(NetlogonState::Open(key)) => {
                let r = match plain.get_mut(data) {
                    Some(d) => key.open(token, d, sealed).map_err(|why| {
                        Decryption::Failed(format!("Netlogon secure channel: {why}"))
                    }),
                    None => Err(Decryption::Failed("the stub is cut".into())),
                };
                (NetlogonState::Open(key), r)
            }
            Some(NetlogonState::Named(computer)) => {
                match first_netlogon_pdu(&computer, token, &mut plain, data, sealed, keys) {
                    Ok(key) => (NetlogonState::Open(key), Ok(())),
                    Err(why) => (NetlogonState::Closed(why.clone()), Err(why)),
                }
            }
            Some(NetlogonState::Closed(why)) => (NetlogonState::Closed(why.clone()), Err(why)),
            None => return Unsealed::default(),
        };
        self.netlogon = Some(state);
        match result {
            Ok(()) => Unsealed {
                bytes: sealed.then_some(plain),
                protection: Protection {
                    decryption: sealed.then_some(Decryption::Decrypted),
                    signature: Some(true),
                },
            },
            // with the channel's key known, a PDU that does not open has an invalid signature
            Err(why) => Unsealed {
                bytes: None,
                protection: Protection {
                    decryption: sealed.then_some(why),
                    signature: matches!(self.netlogon, Some(NetlogonState::Open(_)))
                        .then_some(false),
                },
            },
        }
    }

    /// A Kerberos token: the client's AP-REQ opens the context with the user's keys; the
    /// server's AP-REP gives its subkey. The third leg (the client's empty AP-REP) changes
    /// nothing.
    fn kerberos_token(&mut self, token: &[u8], from_client: bool, keys: Option<&Keyring>) {
        if from_client {
            if let Some(req) = kerberos::parse_ap_req(token) {
                let empty = Keyring::default();
                let ring = keys.unwrap_or(&empty);
                self.kerberos = Some(match kerberos::Context::accept(&req, ring) {
                    Ok(k) => KerberosState::Open(Box::new(k)),
                    Err(why) => KerberosState::Closed(Decryption::NoKey(why)),
                });
            }
            return;
        }
        if let (Some(KerberosState::Open(k)), Some(part)) =
            (self.kerberos.as_mut(), kerberos::parse_ap_rep(token))
            && !k.on_ap_rep(&part)
        {
            self.kerberos = Some(KerberosState::Closed(Decryption::Failed(
                "Kerberos: the ticket's session key does not open the AP-REP".into(),
            )));
        }
    }

    fn ntlm_token(&mut self, token: &[u8], keys: Option<&Keyring>) {
        match (ntlmssp::parse(token), &self.ntlm) {
            (Some(ntlmssp::Message::Challenge(c)), NtlmState::Handshake(_)) => {
                self.ntlm = NtlmState::Handshake(Some(c));
            }
            (Some(ntlmssp::Message::Authenticate(au)), NtlmState::Handshake(ch)) => {
                let Some(ch) = ch else {
                    self.ntlm = NtlmState::Closed(Decryption::Failed(
                        "missing handshake: the NTLMSSP CHALLENGE was not captured".into(),
                    ));
                    return;
                };
                self.ntlm = ntlm_keys(ch, &au, keys);
            }
            _ => {}
        }
    }
}

/// The first protected PDU of `computer`'s secure channel: opened with the newest of its
/// channels that verifies it; the key that did, or why none could.
fn first_netlogon_pdu(
    computer: &str,
    token: &[u8],
    plain: &mut [u8],
    data: std::ops::Range<usize>,
    sealed: bool,
    keys: Option<&Keyring>,
) -> Result<ChannelKey, Decryption> {
    let needs = || {
        Decryption::NoKey(format!(
            "Netlogon secure channel of {computer}: needs {computer}$'s machine secret (a \
             netlogon line)"
        ))
    };
    let channels = match keys.map(|k| k.netlogon_channels(computer)) {
        None | Some(Err(NoChannel::NoSecret)) => return Err(needs()),
        Some(Err(NoChannel::WrongSecret)) => {
            return Err(Decryption::Failed(format!(
                "wrong key: no secret given for {computer}$ reproduces the client credential \
                 of the NetrServerAuthenticate that set up its secure channel"
            )));
        }
        Some(Err(NoChannel::NotCaptured)) => {
            return Err(Decryption::Failed(format!(
                "missing handshake: the NetrServerReqChallenge and NetrServerAuthenticate that \
                 set up {computer}'s secure channel were not captured"
            )));
        }
        Some(Err(NoChannel::Des)) => {
            return Err(Decryption::Failed(
                "unsupported: an NT4 DES secure channel (neither AES nor strong keys)".into(),
            ));
        }
        Some(Ok(channels)) => channels,
    };
    let Some(region) = plain.get(data.clone()) else {
        return Err(Decryption::Failed("the stub is cut".into()));
    };
    for key in channels {
        let mut trial = region.to_vec();
        if key.open(token, &mut trial, sealed).is_ok() {
            plain[data].copy_from_slice(&trial);
            return Ok(key);
        }
    }
    Err(Decryption::Failed(format!(
        "checksum mismatch: no secure channel of {computer} set up in the capture opens it"
    )))
}

/// The keys of an NTLMSSP authentication from the user's secrets.
fn ntlm_keys(ch: &Challenge, au: &ntlmssp::Authenticate, keys: Option<&Keyring>) -> NtlmState {
    match ntlmssp::exported_keys(ch, au, keys) {
        Ok(found) => NtlmState::Keys {
            flags: ntlmssp::flags_in_force(ch, au),
            keys: found,
            skipped: Vec::new(),
        },
        Err(ntlmssp::NoKeys::Missing(why)) => NtlmState::Closed(Decryption::NoKey(why)),
        Err(ntlmssp::NoKeys::Wrong(why)) => NtlmState::Closed(Decryption::Failed(why)),
    }
}
