//! Security providers beside DCE/RPC (MS-RPCE §2.2.1.1.7, §3.3.1.5.2): the secrets the user
//! gives and the mechanisms that unseal and verify protected stubs with them. Nothing here knows
//! DCE/RPC; `dcerpc::security` feeds the handshake tokens and protected PDUs in.
//!
//! - [`keys`]: the keys file (`--keys`), MIT keytabs and the key ring they fill.
//! - [`kcrypto`]: Kerberos encryption types (AES, RC4-HMAC) and key derivation.
//! - [`kerberos`]: AP-REQ and AP-REP, the keys they carry, DCE-style wrap tokens.
//! - [`netlogon`]: the Netlogon secure channel (MS-NRPC): session keys, credentials, sealing.
//! - [`ntlmssp`]: NTLMSSP (MS-NLMP): handshake messages, session keys, sealing and signing.
//! - [`primitives`]: HMAC, the SP800-108 KDF and RC4 helpers the others share.
//! - [`spnego`]: SPNEGO (RFC 4178) tokens around the mechanism's own.

pub mod kcrypto;
pub mod kerberos;
pub mod keys;
pub mod netlogon;
pub mod ntlmssp;
pub mod primitives;
pub mod spnego;
