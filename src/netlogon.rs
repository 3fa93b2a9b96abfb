//! Netlogon (MS-NRPC) for the analysis: the calls that set up a secure channel
//! (NetrServerReqChallenge, NetrServerAuthenticate, -2, -3, §3.1.4.1) and those that change a
//! machine password with an authenticator (NetrServerPasswordSet, -2). Their stubs are decoded
//! by the NDR engine with the built-in description of the interface, then read by parameter
//! name: the challenges and credentials feed the key ring, which learns the channel's session
//! key when the machine account's secret is known ([`crate::auth::netlogon`]); the call's
//! record says which computer and account, the flags, whether the credential was checked, and
//! whether the call carries the all-zero pattern of Zerologon (CVE-2020-1472: a zero client
//! challenge, a zero client credential, a zero authenticator).

use std::net::IpAddr;
use std::sync::OnceLock;

use serde::Serialize;

use crate::auth::keys::Keyring;
use crate::auth::netlogon::{NEG_STRONG_KEYS, NEG_SUPPORTS_AES};
use crate::dce::Uuid;
use crate::idl::Library;
use crate::idl::values::{Direction, Plain, StubBytes, Value, decode_plain, lookup};
use crate::ndr::Syntax;

/// The Netlogon interface (logon).
pub const NRPC: Uuid = Uuid([
    0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0xab, 0xcd, 0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0xcf, 0xfb,
]);

/// Operations read here.
mod opnum {
    pub const REQ_CHALLENGE: u16 = 4;
    pub const AUTHENTICATE: u16 = 5;
    pub const PASSWORD_SET: u16 = 6;
    pub const AUTHENTICATE2: u16 = 15;
    pub const AUTHENTICATE3: u16 = 26;
    pub const PASSWORD_SET2: u16 = 30;
}

/// True for the Netlogon calls read here.
#[must_use]
pub fn is_channel_setup(interface: Uuid, op: u16) -> bool {
    interface == NRPC
        && matches!(
            op,
            opnum::REQ_CHALLENGE
                | opnum::AUTHENTICATE
                | opnum::PASSWORD_SET
                | opnum::AUTHENTICATE2
                | opnum::AUTHENTICATE3
                | opnum::PASSWORD_SET2
        )
}

/// What a secure-channel call says, on its record (`netlogon`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetlogonView {
    /// The client computer's name (ComputerName).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    /// The machine account (AccountName), for the authenticate and password calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// NETLOGON_SECURE_CHANNEL_TYPE, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,
    /// NegotiateFlags: the server's answer when it was read, else the client's offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negotiate_flags: Option<String>,
    /// How the channel seals: `aes`, `rc4` (strong key) or `des` (NT4), from the flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<&'static str>,
    /// For a successful authenticate: `valid` when a secret given reproduced the client's
    /// credential (the channel's key is then known), `invalid` when none did, `unchecked`
    /// when no secret was given or the challenge exchange was not captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<&'static str>,
    /// The call carries Zerologon's all-zero challenge, credential or authenticator:
    /// `accepted` when the server answered an authenticate or password change with success (a
    /// vulnerable server: the channel set up, the machine password changed), else `attempt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zerologon: Option<&'static str>,
    /// The key ring did not keep what the call set up (its challenge or channel limit).
    #[serde(skip)]
    pub limit_hit: bool,
}

impl NetlogonView {
    /// One line for people: the computer, the account, the cipher, the credential check, and
    /// the Zerologon pattern.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.computer {
            parts.push(format!("computer {c}"));
        }
        if let Some(a) = &self.account {
            parts.push(format!("account {a}"));
        }
        if let Some(t) = &self.channel_type {
            parts.push(t.clone());
        }
        if let Some(f) = &self.negotiate_flags {
            parts.push(format!("flags {f}"));
        }
        if let Some(c) = self.cipher {
            parts.push(format!("{c} channel"));
        }
        if let Some(c) = self.credential {
            parts.push(format!("credential {c}"));
        }
        match self.zerologon {
            Some("accepted") => parts.push(
                "Zerologon pattern (all-zero credential, CVE-2020-1472) ACCEPTED by the server"
                    .into(),
            ),
            Some(_) => parts.push("Zerologon pattern (all-zero credential, CVE-2020-1472)".into()),
            None => {}
        }
        parts.join(", ")
    }
}

/// Stubs of a secure-channel call up to this size are read after the session stage, off its
/// thread, when no key ring learns from them ([`Unread`]); larger ones (none seen in real
/// traffic, where these calls take a few hundred bytes) are read at once, so that a call
/// waiting in the output order never holds more than this.
pub const MAX_UNREAD_STUB_BYTES: usize = 1024;

/// A secure-channel call whose reading waits for the call stage ([`crate::engine::calls`]):
/// without a key ring nothing in the engine learns from it, so it is read where the calls are
/// handed over, on another thread than the session stage when there are several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unread {
    op: u16,
    request: Vec<u8>,
    response: Option<Vec<u8>>,
    little_endian: [bool; 2],
    syntax: Syntax,
    status: Option<u32>,
}

impl Unread {
    /// Keeps what [`read_call`] needs of a call, when its stubs are small enough
    /// ([`MAX_UNREAD_STUB_BYTES`]); `None` tells to read it at once.
    #[must_use]
    pub fn keep(
        op: u16,
        request: StubBytes<'_>,
        response: Option<StubBytes<'_>>,
        status: Option<u32>,
    ) -> Option<Self> {
        let size = request.bytes.len() + response.map_or(0, |r| r.bytes.len());
        (size <= MAX_UNREAD_STUB_BYTES).then(|| Self {
            op,
            request: request.bytes.to_vec(),
            response: response.map(|r| r.bytes.to_vec()),
            little_endian: [
                request.little_endian,
                response.map_or(request.little_endian, |r| r.little_endian),
            ],
            syntax: request.syntax,
            status,
        })
    }

    /// Reads the call as [`read_call`] without a key ring does.
    #[must_use]
    pub fn read(&self) -> Option<NetlogonView> {
        let side = |bytes, direction, little_endian| StubBytes {
            bytes,
            direction,
            little_endian,
            syntax: self.syntax,
        };
        let request = side(&self.request[..], Direction::In, self.little_endian[0]);
        let response = self
            .response
            .as_deref()
            .map(|r| side(r, Direction::Out, self.little_endian[1]));
        read_call(self.op, request, response, self.status, None)
    }
}

/// The built-in description of the Netlogon interface, compiled from the table once.
fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| crate::idl::table::builtin_subset(&[(NRPC, 1)], &[]))
}

fn decode(op: u16, stub: StubBytes<'_>) -> Plain {
    let lib = library();
    match lib.interface(NRPC, 1).and_then(|i| lib.plan(i, op)) {
        Some(plan) => decode_plain(&plan, stub),
        None => Plain {
            error: Some("no description of the operation".into()),
            ..Plain::default()
        },
    }
}

/// The 8 bytes of a NETLOGON_CREDENTIAL (a structure of one `CHAR data[8]`).
fn credential(v: Option<&Value>) -> Option<[u8; 8]> {
    let v = v?;
    let inner = v.get("data").unwrap_or(v);
    if let Some(b) = inner.as_bytes() {
        return b.try_into().ok();
    }
    let items: Vec<u8> = inner
        .items()
        .iter()
        .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect::<Option<_>>()?;
    items.try_into().ok()
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Text(t) => Some(t.trim_end_matches('\0').to_string()),
        other => Some(other.render()),
    }
}

/// Reads a secure-channel call: its request always, its answer when it was answered with
/// success (`status` 0); the key ring learns from it when given, pairing a challenge with its
/// authenticate by the client's address given with it (without port: a member may use a new
/// connection).
#[must_use]
pub fn read_call(
    op: u16,
    request: StubBytes<'_>,
    response: Option<StubBytes<'_>>,
    status: Option<u32>,
    keys: Option<(&Keyring, IpAddr)>,
) -> Option<NetlogonView> {
    let req = decode(op, request);
    let p = &req.params;
    let mut view = NetlogonView {
        computer: text(lookup(p, "ComputerName")),
        account: text(lookup(p, "AccountName")),
        channel_type: match lookup(p, "SecureChannelType") {
            Some(Value::Named(_, n)) => Some(n.clone()),
            Some(v) => v.as_u64().map(|n| n.to_string()),
            None => None,
        },
        ..NetlogonView::default()
    };
    let succeeded = status == Some(0);
    // what an answer says is wanted of an authenticate (the flags agreed) and, with keys, of a
    // challenge (the server's challenge); a password change's answer says nothing wanted here
    let wanted = match op {
        opnum::REQ_CHALLENGE => keys.is_some(),
        opnum::AUTHENTICATE | opnum::AUTHENTICATE2 | opnum::AUTHENTICATE3 => true,
        _ => false,
    };
    let answer = response
        .filter(|_| succeeded && wanted)
        .map(|r| decode(op, r))
        .filter(|a| a.error.is_none());
    let answered = |name: &str| answer.as_ref().and_then(|a| lookup(&a.params, name));
    let zero = match op {
        opnum::REQ_CHALLENGE => {
            let client_challenge = credential(lookup(p, "ClientChallenge"))?;
            let zero = client_challenge == [0; 8];
            if let (Some((keys, client)), Some(server), Some(computer)) = (
                keys,
                credential(answered("ServerChallenge")),
                view.computer.as_deref(),
            ) {
                view.limit_hit = !keys.netlogon_challenge(
                    &client.to_string(),
                    computer,
                    client_challenge,
                    server,
                );
            }
            zero
        }
        opnum::AUTHENTICATE | opnum::AUTHENTICATE2 | opnum::AUTHENTICATE3 => {
            let client_credential = credential(lookup(p, "ClientCredential"))?;
            let zero = client_credential == [0; 8];
            let offered = lookup(p, "NegotiateFlags").and_then(Value::as_u64);
            let agreed = answered("NegotiateFlags").and_then(Value::as_u64);
            let flags = agreed
                .or(offered)
                .and_then(|f| u32::try_from(f).ok())
                .filter(|_| op != opnum::AUTHENTICATE);
            view.negotiate_flags = flags.map(|f| format!("0x{f:08x}"));
            if succeeded {
                let flags = flags.unwrap_or(0);
                view.cipher = Some(if flags & NEG_SUPPORTS_AES != 0 {
                    "aes"
                } else if flags & NEG_STRONG_KEYS != 0 {
                    "rc4"
                } else {
                    "des"
                });
                if let (Some((keys, client)), Some(computer)) = (keys, view.computer.as_deref()) {
                    let (check, kept) = keys.netlogon_authenticated(
                        &client.to_string(),
                        computer,
                        client_credential,
                        flags,
                    );
                    view.credential = Some(check.name());
                    view.limit_hit = !kept;
                }
            }
            zero
        }
        _ => {
            // NetrServerPasswordSet(2): the authenticator's credential and timestamp
            let auth = lookup(p, "Authenticator")?;
            let zero_time = auth.get("Timestamp").and_then(Value::as_u64) == Some(0);
            zero_time && credential(auth.get("Credential")) == Some([0; 8])
        }
    };
    // every challenge is answered: only an authenticate or a password change accepts it
    let accepted = succeeded && op != opnum::REQ_CHALLENGE;
    view.zerologon = zero.then_some(if accepted { "accepted" } else { "attempt" });
    Some(view)
}
