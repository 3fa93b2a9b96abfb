//! The secrets a user gives, in one key ring: the keys file (`--keys FILE`, `RPCSCOPE_KEYS`),
//! MIT keytabs (`--keytab PATH`, or a `keytab` line). Security layer input; see
//! `docs/decryption.md` for the format.
//!
//! A keys file holds one secret per line, `#` starts a comment:
//!
//! ```text
//! password USER[@DOMAIN] PASSWORD      # the rest of the line, spaces included
//! nthash   USER[@DOMAIN] HEX           # 32 hex digits
//! keytab   PATH                        # relative to the keys file's folder
//! netlogon COMPUTER$ PASSWORD|NTHASH   # 32 hex digits are read as an NT hash
//! smb3     SESSION_ID SESSION_KEY_HEX  # session id in hex (16 digits) as Wireshark shows it
//! ```
//!
//! No secret is ever formatted: errors name the file and line, `Debug` shows counts only.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use md4::{Digest, Md4};

use super::netlogon::{
    ChannelKey, CredentialCheck, Learned, MAX_CHALLENGES, MAX_CHANNEL_COMPUTERS,
    MAX_CHANNELS_PER_COMPUTER, MAX_SECRETS_TRIED, NEG_STRONG_KEYS, NEG_SUPPORTS_AES, NoChannel,
};

/// Largest keys file read.
pub const MAX_KEYS_FILE_BYTES: u64 = 1 << 20;
/// Largest keytab read.
pub const MAX_KEYTAB_BYTES: u64 = 16 << 20;
/// Most secrets held, over all sources (a keytab of a whole domain fits).
pub const MAX_KEYS: usize = 200_000;
/// Kerberos enctype rc4-hmac (RFC 4757), whose key is the account's NT hash.
const KERBEROS_RC4_HMAC: i32 = 23;

/// An NT password hash (MD4 of the UTF-16LE password) for a user, with the password itself when
/// it was given (the LM session key of NTLMv1 needs it).
#[derive(Clone)]
pub struct NtSecret {
    /// Account name as given.
    pub user: String,
    /// Domain as given (NetBIOS or DNS name), if any.
    pub domain: Option<String>,
    /// NT hash.
    pub hash: [u8; 16],
    /// The password, when the line gave one.
    pub password: Option<String>,
}

/// One Kerberos key from a keytab.
#[derive(Clone)]
pub struct KerberosKey {
    /// Principal name components joined with `/` (`krbtgt/THESHIRE.LOCAL`, `host/ws1`).
    pub principal: String,
    /// Realm.
    pub realm: String,
    /// Encryption type number (RFC 3961: 17, 18, 23, 19, 20).
    pub enctype: i32,
    /// Key version number.
    pub kvno: u32,
    /// Key bytes.
    pub key: Vec<u8>,
}

/// A machine account's secret for the Netlogon secure channel.
#[derive(Clone)]
pub struct NetlogonSecret {
    /// Computer account name (`WS1$`).
    pub computer: String,
    /// Its NT hash.
    pub hash: [u8; 16],
}

/// An SMB3 session key.
#[derive(Clone)]
pub struct Smb3Key {
    /// Session id.
    pub session_id: u64,
    /// Session key (16 or 32 bytes).
    pub key: Vec<u8>,
}

/// Kerberos keys learned from decrypted parts (ticket session keys, subkeys) kept per run;
/// further ones are not kept.
pub const MAX_LEARNED_KEYS: usize = 10_000;

/// Every secret given, by kind, and the Kerberos keys learned from them along the way.
#[derive(Default)]
pub struct Keyring {
    nt: Vec<NtSecret>,
    kerberos: Vec<KerberosKey>,
    netlogon: Vec<NetlogonSecret>,
    smb3: Vec<Smb3Key>,
    learned: std::sync::RwLock<Vec<KerberosKey>>,
    /// Netlogon secure channels set up along the capture.
    pub(super) netlogon_learned: super::netlogon::Learning,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("nt", &self.nt.len())
            .field("kerberos", &self.kerberos.len())
            .field("netlogon", &self.netlogon.len())
            .field("smb3", &self.smb3.len())
            .field("learned", &self.learned_count())
            .finish()
    }
}

/// Why secrets could not be loaded. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// A line of a keys file is not understood.
    #[error("{source_name}: line {line}: {what}")]
    Line {
        /// The file (or `RPCSCOPE_KEYS`).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the secret).
        what: &'static str,
    },
    /// A keytab is malformed.
    #[error("{path}: not a keytab: {what}")]
    Keytab {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// A file or the ring is over its limit.
    #[error("{what}")]
    Limit {
        /// Which limit.
        what: String,
    },
}

/// The NT hash of a password: MD4 of its UTF-16LE encoding (MS-NLMP §3.3.1 NTOWFv1).
#[must_use]
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut md4 = Md4::new();
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    md4.finalize().into()
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hash16(text: &str) -> Option<[u8; 16]> {
    parse_hex(text)?.try_into().ok()
}

fn split_user(account: &str) -> (String, Option<String>) {
    if let Some((domain, user)) = account.split_once('\\') {
        return (user.to_string(), Some(domain.to_string()));
    }
    match account.rsplit_once('@') {
        Some((user, domain)) if !user.is_empty() => (user.to_string(), Some(domain.to_string())),
        _ => (account.to_string(), None),
    }
}

/// Whether two domain names name the same domain: equal ignoring case, or one is the first
/// label of the other (`RPCLAB` and `rpclab.test`).
#[must_use]
pub fn domain_matches(a: &str, b: &str) -> bool {
    let first = |s: &str| s.split('.').next().unwrap_or(s).to_string();
    a.eq_ignore_ascii_case(b)
        || first(a).eq_ignore_ascii_case(b)
        || a.eq_ignore_ascii_case(&first(b))
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, KeysError> {
    let io = |error| KeysError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(KeysError::Limit {
            what: format!("{}: larger than {max} bytes", path.display()),
        });
    }
    Ok(bytes)
}

impl Keyring {
    /// Number of secrets held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nt.len() + self.kerberos.len() + self.netlogon.len() + self.smb3.len()
    }

    /// True when no secret was given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn room(&self) -> Result<(), KeysError> {
        if self.len() >= MAX_KEYS {
            return Err(KeysError::Limit {
                what: format!("more than {MAX_KEYS} secrets"),
            });
        }
        Ok(())
    }

    /// Reads a keys file; `keytab` lines are read relative to its folder.
    ///
    /// # Errors
    /// [`KeysError`] naming the file and line of the first problem.
    pub fn load_file(&mut self, path: &Path) -> Result<(), KeysError> {
        let bytes = read_bounded(path, MAX_KEYS_FILE_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| KeysError::Line {
            source_name: path.display().to_string(),
            line: 0,
            what: "not UTF-8 text",
        })?;
        self.parse_text(&text, path.parent(), &path.display().to_string())
    }

    /// Reads keys-file text (`RPCSCOPE_KEYS` holds such text); `base` resolves relative keytab
    /// paths.
    ///
    /// # Errors
    /// [`KeysError`] naming `source_name` and the line of the first problem.
    pub fn parse_text(
        &mut self,
        text: &str,
        base: Option<&Path>,
        source_name: &str,
    ) -> Result<(), KeysError> {
        for (i, raw) in text.lines().enumerate() {
            let err = |what| KeysError::Line {
                source_name: source_name.to_string(),
                line: i + 1,
                what,
            };
            let line = raw.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim_start();
            match kind {
                "password" | "nthash" | "netlogon" => {
                    let (account, secret) = rest
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| err("expected an account and a secret"))?;
                    // A password is the rest of the line (it may hold spaces and `#`).
                    let secret = secret.trim_start().trim_end_matches(['\r', '\n']);
                    if secret.is_empty() {
                        return Err(err("the secret is empty"));
                    }
                    self.room()?;
                    match kind {
                        "password" => {
                            let (user, domain) = split_user(account);
                            if let Some(realm) = domain.as_deref().filter(|d| d.contains('.')) {
                                self.kerberos.extend(password_keys(&user, realm, secret));
                            }
                            self.nt.push(NtSecret {
                                user,
                                domain,
                                hash: nt_hash(secret),
                                password: Some(secret.to_string()),
                            });
                        }
                        "nthash" => {
                            let (user, domain) = split_user(account);
                            let hash = hash16(secret.trim())
                                .ok_or_else(|| err("an NT hash is 32 hex digits"))?;
                            self.nt.push(NtSecret {
                                user,
                                domain,
                                hash,
                                password: None,
                            });
                        }
                        _ => {
                            let hash = match secret.trim() {
                                s if s.len() == 32 => hash16(s),
                                _ => None,
                            }
                            .unwrap_or_else(|| nt_hash(secret));
                            self.netlogon.push(NetlogonSecret {
                                computer: account.to_string(),
                                hash,
                            });
                        }
                    }
                }
                "keytab" => {
                    let path = Path::new(rest.trim_end());
                    if rest.trim().is_empty() {
                        return Err(err("expected a keytab path"));
                    }
                    let path = match base {
                        Some(b) if path.is_relative() => b.join(path),
                        _ => path.to_path_buf(),
                    };
                    self.load_keytab(&path)?;
                }
                "smb3" => {
                    let mut words = rest.split_whitespace();
                    let id = words
                        .next()
                        .and_then(|w| {
                            u64::from_str_radix(w.strip_prefix("0x").unwrap_or(w), 16).ok()
                        })
                        .ok_or_else(|| err("an SMB3 session id is up to 16 hex digits"))?;
                    let key = words
                        .next()
                        .and_then(parse_hex)
                        .filter(|k| k.len() == 16 || k.len() == 32)
                        .ok_or_else(|| err("an SMB3 session key is 32 or 64 hex digits"))?;
                    self.room()?;
                    self.smb3.push(Smb3Key {
                        session_id: id,
                        key,
                    });
                }
                _ => {
                    return Err(err(
                        "unknown kind (expected password, nthash, keytab, netlogon or smb3)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads an MIT keytab (format version 2, as `ktutil`, `samba-tool domain exportkeytab`
    /// and Windows' `ktpass` write it) and returns how many keys it held.
    ///
    /// # Errors
    /// [`KeysError::Keytab`] when the file is not a version-2 keytab or an entry is cut.
    pub fn load_keytab(&mut self, path: &Path) -> Result<usize, KeysError> {
        let bytes = read_bounded(path, MAX_KEYTAB_BYTES)?;
        self.parse_keytab(&bytes)
            .map_err(|what| KeysError::Keytab {
                path: path.to_path_buf(),
                what,
            })?
            .map_err(|()| KeysError::Limit {
                what: format!("{}: more than {MAX_KEYS} secrets", path.display()),
            })
    }

    fn parse_keytab(&mut self, bytes: &[u8]) -> Result<Result<usize, ()>, &'static str> {
        match bytes {
            [5, 2, ..] => {}
            [5, 1, ..] => return Err("keytab format version 1 (host byte order) is not read"),
            _ => return Err("no keytab header (05 02)"),
        }
        let mut at = 2;
        let mut found = 0;
        while let Some(size) = bytes.get(at..at + 4) {
            let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
            at += 4;
            let len = usize::try_from(size.unsigned_abs()).map_err(|_| "entry size")?;
            let entry = bytes
                .get(at..at + len)
                .ok_or("entry longer than the file")?;
            at += len;
            if size <= 0 {
                continue; // a deleted entry
            }
            let key = keytab_entry(entry).ok_or("entry cut short")?;
            if self.len() >= MAX_KEYS {
                return Ok(Err(()));
            }
            self.kerberos.push(key);
            found += 1;
        }
        Ok(Ok(found))
    }

    /// NT hashes that may be `user`'s (in `domain`): the secrets given for that account, then
    /// the rc4-hmac keys of that principal in keytabs (an rc4-hmac key is the NT hash).
    #[must_use]
    pub fn nt_candidates(&self, user: &str, domain: &str) -> Vec<NtSecret> {
        let domain_ok = |d: &Option<String>| {
            d.as_deref()
                .is_none_or(|d| domain.is_empty() || domain_matches(d, domain))
        };
        let mut out: Vec<NtSecret> = self
            .nt
            .iter()
            .filter(|s| s.user.eq_ignore_ascii_case(user) && domain_ok(&s.domain))
            .cloned()
            .collect();
        out.extend(
            self.kerberos
                .iter()
                .filter(|k| {
                    k.enctype == KERBEROS_RC4_HMAC
                        && k.principal.eq_ignore_ascii_case(user)
                        && (domain.is_empty() || domain_matches(&k.realm, domain))
                })
                .filter_map(|k| {
                    Some(NtSecret {
                        user: k.principal.clone(),
                        domain: Some(k.realm.clone()),
                        hash: k.key.as_slice().try_into().ok()?,
                        password: None,
                    })
                }),
        );
        out
    }

    /// Kerberos keys held, for mechanisms that try each: the keytabs' keys, then those learned.
    #[must_use]
    pub fn kerberos(&self) -> Vec<KerberosKey> {
        let mut keys = self.kerberos.clone();
        if let Ok(learned) = self.learned.read() {
            keys.extend(learned.iter().cloned());
        }
        keys
    }

    /// The first result of `f` over the Kerberos keys of `enctype`, the keytabs' then those
    /// learned, without copying them (`f` must not learn keys: the learned ones are read-locked).
    pub fn find_kerberos<T>(
        &self,
        enctype: i32,
        mut f: impl FnMut(&KerberosKey) -> Option<T>,
    ) -> Option<T> {
        let given = self
            .kerberos
            .iter()
            .filter(|k| k.enctype == enctype)
            .find_map(&mut f);
        if given.is_some() {
            return given;
        }
        let learned = self.learned.read().ok()?;
        learned.iter().filter(|k| k.enctype == enctype).find_map(f)
    }

    /// Keeps a key found inside a decrypted part (a ticket's session key, a subkey), unless
    /// it is known already. False when [`MAX_LEARNED_KEYS`] are kept.
    pub fn learn(&self, key: KerberosKey) -> bool {
        let Ok(mut learned) = self.learned.write() else {
            return false;
        };
        let known = |k: &KerberosKey| k.enctype == key.enctype && k.key == key.key;
        if self.kerberos.iter().any(known) || learned.iter().any(known) {
            return true;
        }
        if learned.len() >= MAX_LEARNED_KEYS {
            return false;
        }
        learned.push(key);
        true
    }

    /// The `n` Kerberos keys learned last, newest first.
    #[must_use]
    pub fn recent_learned(&self, n: usize) -> Vec<KerberosKey> {
        self.learned
            .read()
            .map(|l| l.iter().rev().take(n).cloned().collect())
            .unwrap_or_default()
    }

    /// Number of Kerberos keys learned so far.
    #[must_use]
    pub fn learned_count(&self) -> usize {
        self.learned.read().map_or(0, |l| l.len())
    }

    /// NT secrets held (passwords and hashes given, not keytab keys).
    #[must_use]
    pub fn nt_secrets(&self) -> &[NtSecret] {
        &self.nt
    }

    /// Netlogon machine secrets held.
    #[must_use]
    pub fn netlogon(&self) -> &[NetlogonSecret] {
        &self.netlogon
    }

    /// SMB3 session keys held.
    #[must_use]
    pub fn smb3(&self) -> &[Smb3Key] {
        &self.smb3
    }
}

/// The Kerberos keys of a password for `user@realm` (a DNS realm): aes256, aes128 (RFC 3962
/// string-to-key, salted with the realm and the name, MS-KILE §3.1.1.2: `host/name.realm` for a
/// computer account) and rc4-hmac (the NT hash).
fn password_keys(user: &str, realm: &str, password: &str) -> Vec<KerberosKey> {
    let realm = realm.to_uppercase();
    let salt = match user.strip_suffix('$') {
        Some(host) => format!(
            "{realm}host{}.{}",
            host.to_lowercase(),
            realm.to_lowercase()
        ),
        None => format!("{realm}{user}"),
    };
    let mut keys: Vec<KerberosKey> = [18, 17]
        .iter()
        .filter_map(|&e| super::kcrypto::string_to_key(e, password, &salt))
        .map(|k| KerberosKey {
            principal: user.to_string(),
            realm: realm.clone(),
            enctype: k.enctype,
            kvno: 0,
            key: k.bytes,
        })
        .collect();
    keys.push(KerberosKey {
        principal: user.to_string(),
        realm,
        enctype: KERBEROS_RC4_HMAC,
        kvno: 0,
        key: nt_hash(password).to_vec(),
    });
    keys
}

/// One keytab entry body (after its size): components, realm, name type, timestamp, key.
fn keytab_entry(e: &[u8]) -> Option<KerberosKey> {
    let mut at = 0;
    let u16_at = |at: &mut usize| -> Option<u16> {
        let v = e.get(*at..*at + 2)?;
        *at += 2;
        Some(u16::from_be_bytes([v[0], v[1]]))
    };
    let components = u16_at(&mut at)?;
    let counted = |at: &mut usize| -> Option<Vec<u8>> {
        let len = usize::from(u16_at(at)?);
        let v = e.get(*at..*at + len)?.to_vec();
        *at += len;
        Some(v)
    };
    let realm = String::from_utf8_lossy(&counted(&mut at)?).into_owned();
    let mut names = Vec::new();
    for _ in 0..components {
        names.push(String::from_utf8_lossy(&counted(&mut at)?).into_owned());
    }
    at += 4 + 4; // name type, timestamp
    let vno8 = *e.get(at)?;
    at += 1;
    let enctype = i32::from(i16::from_be_bytes(e.get(at..at + 2)?.try_into().ok()?));
    at += 2;
    let key = counted(&mut at)?;
    let kvno = e
        .get(at..at + 4)
        .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        .filter(|&v| v != 0)
        .unwrap_or(u32::from(vno8));
    Some(KerberosKey {
        principal: names.join("/"),
        realm,
        enctype,
        kvno,
        key,
    })
}

// Netlogon secure channels (MS-NRPC §3.1.4.3): challenges, then each computer's channel keys.

fn computer_key(computer: &str) -> String {
    computer.trim_end_matches('$').to_ascii_uppercase()
}

impl Keyring {
    /// A NetrServerReqChallenge answered: `client` asked for `computer` with its challenge.
    /// False when it was not kept ([`MAX_CHALLENGES`]).
    pub fn netlogon_challenge(
        &self,
        client: &str,
        computer: &str,
        client_challenge: [u8; 8],
        server_challenge: [u8; 8],
    ) -> bool {
        let Ok(mut ch) = self.netlogon_learned.lock() else {
            return false;
        };
        let key = (client.to_string(), computer_key(computer));
        if ch.challenges.len() >= MAX_CHALLENGES && !ch.challenges.contains_key(&key) {
            return false;
        }
        ch.challenges
            .insert(key, (client_challenge, server_challenge));
        true
    }

    /// A NetrServerAuthenticate(2,3) answered with success: the channel of `computer` from the
    /// challenge `client` exchanged for it, with the secret that reproduces the client's
    /// credential. The check, and false when the channel was not kept
    /// ([`MAX_CHANNEL_COMPUTERS`]).
    pub fn netlogon_authenticated(
        &self,
        client: &str,
        computer: &str,
        credential: [u8; 8],
        flags: u32,
    ) -> (CredentialCheck, bool) {
        let name = computer_key(computer);
        let Ok(mut ch) = self.netlogon_learned.lock() else {
            return (CredentialCheck::Unchecked, true);
        };
        let Some((cc, sc)) = ch.challenges.remove(&(client.to_string(), name.clone())) else {
            return (CredentialCheck::Unchecked, true);
        };
        let (secrets, named) = self.netlogon_secrets(&name);
        let found = secrets
            .iter()
            .filter_map(|h| ChannelKey::derive(flags, h, &cc, &sc))
            .find(|k| k.credential(&cc) == credential);
        let (learned, check) = match found {
            _ if flags & (NEG_SUPPORTS_AES | NEG_STRONG_KEYS) == 0 => {
                (Learned::Des, CredentialCheck::Unchecked)
            }
            Some(k) => (Learned::Key(k), CredentialCheck::Valid),
            // only secrets given for other accounts were tried
            None if named == 0 => (Learned::NoSecret, CredentialCheck::Unchecked),
            None => (Learned::WrongSecret, CredentialCheck::Invalid),
        };
        if ch.channels.len() >= MAX_CHANNEL_COMPUTERS && !ch.channels.contains_key(&name) {
            return (check, false);
        }
        let list = ch.channels.entry(name).or_default();
        list.insert(0, learned);
        list.truncate(MAX_CHANNELS_PER_COMPUTER);
        (check, true)
    }

    /// The keys of `computer`'s secure channels, newest first, or why there is none.
    ///
    /// # Errors
    /// Why no channel key is known.
    pub fn netlogon_channels(&self, computer: &str) -> Result<Vec<ChannelKey>, NoChannel> {
        let name = computer_key(computer);
        let learned = self
            .netlogon_learned
            .lock()
            .ok()
            .and_then(|ch| ch.channels.get(&name).cloned())
            .unwrap_or_default();
        let keys: Vec<ChannelKey> = learned
            .iter()
            .filter_map(|l| match l {
                Learned::Key(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            return Ok(keys);
        }
        Err(match learned.first() {
            Some(Learned::WrongSecret) => NoChannel::WrongSecret,
            Some(Learned::Des) => NoChannel::Des,
            Some(Learned::NoSecret) => NoChannel::NoSecret,
            Some(Learned::Key(_)) | None if self.netlogon_secrets(&name).1 == 0 => {
                NoChannel::NoSecret
            }
            Some(Learned::Key(_)) | None => NoChannel::NotCaptured,
        })
    }

    /// The NT hashes that may be `computer`'s machine secret: the netlogon lines and secrets
    /// given for `computer$` first, then the other netlogon lines and NT secrets (at most
    /// [`MAX_SECRETS_TRIED`]); and how many of them were given for `computer$`.
    fn netlogon_secrets(&self, computer: &str) -> (Vec<[u8; 16]>, usize) {
        let account = format!("{computer}$");
        let named = |c: &str| computer_key(c) == computer;
        let given = self
            .netlogon()
            .iter()
            .filter(|s| named(&s.computer))
            .map(|s| s.hash)
            .chain(self.nt_candidates(&account, "").into_iter().map(|s| s.hash));
        let others = self
            .netlogon()
            .iter()
            .filter(|s| !named(&s.computer))
            .map(|s| s.hash)
            .chain(self.nt_secrets().iter().map(|s| s.hash));
        let mut out: Vec<[u8; 16]> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut given_for_it = 0;
        for (h, for_it) in given.map(|h| (h, true)).chain(others.map(|h| (h, false))) {
            if out.len() >= MAX_SECRETS_TRIED {
                break;
            }
            if seen.insert(h) {
                out.push(h);
                given_for_it += usize::from(for_it);
            }
        }
        (out, given_for_it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_matches_the_published_example() {
        // MS-NLMP §4.2.2.1.2: NTOWFv1("Password").
        let h = nt_hash("Password");
        assert_eq!(
            h,
            [
                0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
                0xd8, 0x52
            ]
        );
    }

    #[test]
    fn lines_of_every_kind_are_read() {
        let mut ring = Keyring::default();
        let text = "# lab\n\
                    password RPCLAB\\rpcuser Rpcscope Lab # not a comment\n\
                    nthash admin@rpclab.test 0x31d6cfe0d16ae931b73c59d7e0c089c0\n\
                    netlogon WS1$ 31D6CFE0D16AE931B73C59D7E0C089C0\n\
                    smb3 0x0000040000000005 00112233445566778899aabbccddeeff\n";
        ring.parse_text(text, None, "keys").unwrap();
        assert_eq!(ring.len(), 4);
        let c = ring.nt_candidates("RPCUSER", "rpclab.test");
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].password.as_deref(),
            Some("Rpcscope Lab # not a comment")
        );
        assert_eq!(ring.nt_candidates("admin", "RPCLAB")[0].hash, nt_hash(""));
        assert!(ring.nt_candidates("admin", "OTHER").is_empty());
        assert_eq!(ring.netlogon()[0].hash, nt_hash(""));
        assert_eq!(ring.smb3()[0].session_id, 0x0400_0000_0005);
    }

    #[test]
    fn a_password_with_a_realm_gives_kerberos_keys_too() {
        let mut ring = Keyring::default();
        ring.parse_text("password raeburn@athena.mit.edu password\n", None, "k")
            .unwrap();
        let keys = ring.kerberos();
        assert_eq!(
            keys.iter().map(|k| k.enctype).collect::<Vec<_>>(),
            [18, 17, 23]
        );
        // The salt is the realm, upper case, then the name (RFC 3962's examples').
        let aes128 = crate::auth::kcrypto::string_to_key(17, "password", "ATHENA.MIT.EDUraeburn");
        assert_eq!(Some(keys[1].key.clone()), aes128.map(|k| k.bytes));
        assert_eq!(keys[1].realm, "ATHENA.MIT.EDU");
        assert_eq!(keys[2].key, nt_hash("password").to_vec());
        // A NetBIOS domain is no realm: no Kerberos key.
        let mut ring = Keyring::default();
        ring.parse_text("password RPCLAB\\bob pw\n", None, "k")
            .unwrap();
        assert!(ring.kerberos().is_empty());
    }

    #[test]
    fn errors_name_the_line_and_never_the_secret() {
        for text in [
            "nthash bob 0123456789abcdef\n",
            "\n\npassword bob\n",
            "smb3 1 00112233\n",
            "rc4 bob s3cr3t-value\n",
        ] {
            let e = Keyring::default()
                .parse_text(text, None, "k.txt")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("k.txt: line "), "{e}");
            assert!(
                !e.contains("0123456789abcdef") && !e.contains("s3cr3t"),
                "{e}"
            );
        }
        let debug = format!("{:?}", {
            let mut r = Keyring::default();
            r.parse_text("password bob hunter2", None, "k").unwrap();
            r
        });
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn keytab_entries_are_read_and_holes_skipped() {
        // One hole of 3 bytes, then admin@LAB aes128 kvno 7 (in the trailing 32-bit field).
        let mut kt = vec![5, 2];
        kt.extend((-3i32).to_be_bytes());
        kt.extend([0, 0, 0]);
        let mut e = Vec::new();
        e.extend(1u16.to_be_bytes());
        e.extend(3u16.to_be_bytes());
        e.extend(b"LAB");
        e.extend(5u16.to_be_bytes());
        e.extend(b"admin");
        e.extend(1u32.to_be_bytes());
        e.extend(0u32.to_be_bytes());
        e.push(1);
        e.extend(17u16.to_be_bytes());
        e.extend(16u16.to_be_bytes());
        e.extend([0xab; 16]);
        e.extend(7u32.to_be_bytes());
        kt.extend(i32::try_from(e.len()).unwrap().to_be_bytes());
        kt.extend(&e);
        let mut ring = Keyring::default();
        assert_eq!(ring.parse_keytab(&kt), Ok(Ok(1)));
        let all = ring.kerberos();
        let k = &all[0];
        assert_eq!((k.principal.as_str(), k.realm.as_str()), ("admin", "LAB"));
        assert_eq!((k.enctype, k.kvno, k.key.len()), (17, 7, 16));
        kt.truncate(kt.len() - 5);
        assert!(Keyring::default().parse_keytab(&kt).is_err());
        assert!(Keyring::default().parse_keytab(b"garbage").is_err());
    }
}
