//! Kerberos encryption, security layer: key derivation by usage (RFC 3961 §5), the AES
//! enctypes (RFC 3962, aes128- and aes256-cts-hmac-sha1-96) and RC4-HMAC (RFC 4757), and the
//! decryption of an EncryptedData's cipher with its checksum checked.

use aes::cipher::{BlockEncrypt, KeyIvInit};
use aes::{Aes128, Aes256};
use cts::Decrypt;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::primitives::{self, hmac_md5};

/// aes128-cts-hmac-sha1-96.
pub const AES128_CTS_HMAC_SHA1_96: i32 = 17;
/// aes256-cts-hmac-sha1-96.
pub const AES256_CTS_HMAC_SHA1_96: i32 = 18;
/// rc4-hmac.
pub const RC4_HMAC: i32 = 23;
/// aes128-cts-hmac-sha256-128 (RFC 8009).
pub const AES128_CTS_HMAC_SHA256_128: i32 = 19;
/// aes256-cts-hmac-sha384-192 (RFC 8009).
pub const AES256_CTS_HMAC_SHA384_192: i32 = 20;

/// Length of the truncated HMAC-SHA1 of the AES enctypes.
pub const AES_MAC_LEN: usize = 12;
/// AES block and confounder length.
pub const AES_BLOCK: usize = 16;

/// A Kerberos key: its enctype and bytes. `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// Encryption type.
    pub enctype: i32,
    /// Key bytes (16 or 32).
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Key(enctype {}, {} bytes)",
            self.enctype,
            self.bytes.len()
        )
    }
}

/// RFC 3961 §5.1 n-fold: `input` folded (rotated copies added with end-around carry) into
/// `out_len` bytes.
#[must_use]
pub fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return vec![0; out_len];
    }
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let lcm = in_len / gcd(in_len, out_len) * out_len;
    let in_bits = in_len * 8;
    let mut out = vec![0u8; out_len];
    let mut carry: u32 = 0;
    for i in (0..lcm).rev() {
        // The bit of the (rotated) input copy that lands on the most significant bit of byte i.
        let msbit =
            ((in_bits - 1) + ((in_bits + 13) * (i / in_len)) + ((in_len - (i % in_len)) * 8))
                % in_bits;
        let hi = u32::from(input[(in_len - 1 - (msbit >> 3)) % in_len]);
        let lo = u32::from(input[(in_len - (msbit >> 3)) % in_len]);
        carry += (((hi << 8) | lo) >> ((msbit & 7) + 1)) & 0xff;
        carry += u32::from(out[i % out_len]);
        out[i % out_len] = (carry & 0xff) as u8;
        carry >>= 8;
    }
    if carry != 0 {
        for b in out.iter_mut().rev() {
            carry += u32::from(*b);
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
    }
    out
}

/// Encrypts one block with AES-128 or AES-256; false for a key of another length.
fn aes_encrypt_block(key: &[u8], block: &mut [u8; 16]) -> bool {
    use aes::cipher::KeyInit as _;
    let b = aes::Block::from_mut_slice(block);
    match key.len() {
        32 => Aes256::new_from_slice(key)
            .map(|c| c.encrypt_block(b))
            .is_ok(),
        16 => Aes128::new_from_slice(key)
            .map(|c| c.encrypt_block(b))
            .is_ok(),
        _ => false,
    }
}

/// DK(base, constant) for the AES enctypes (RFC 3961 §5.1 DR, RFC 3962: random-to-key is the
/// identity): AES encryptions of the n-folded constant, chained, truncated to the key length.
/// Empty for a base key that is not an AES key (16 or 32 bytes).
fn derive(base: &[u8], constant: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 16];
    block.copy_from_slice(&nfold(constant, 16));
    let mut out = Vec::with_capacity(base.len());
    while out.len() < base.len() {
        if !aes_encrypt_block(base, &mut block) {
            return Vec::new();
        }
        out.extend_from_slice(&block);
    }
    out.truncate(base.len());
    out
}

/// The encryption and integrity keys of `usage` (RFC 3961 §5.3: Ke = DK(base, usage | 0xAA),
/// Ki = DK(base, usage | 0x55)).
#[must_use]
pub fn usage_keys(base: &[u8], usage: u32) -> (Vec<u8>, Vec<u8>) {
    let mut c = usage.to_be_bytes().to_vec();
    c.push(0xaa);
    let ke = derive(base, &c);
    c[4] = 0x55;
    (ke, derive(base, &c))
}

/// The sizes of an RFC 8009 enctype: encryption key, integrity (and checksum) key and MAC,
/// in bits; `None` for another enctype.
fn sha2_sizes(enctype: i32) -> Option<(usize, usize)> {
    match enctype {
        AES128_CTS_HMAC_SHA256_128 => Some((128, 128)),
        AES256_CTS_HMAC_SHA384_192 => Some((256, 192)),
        _ => None,
    }
}

/// HMAC-SHA256 (enctype 19) or HMAC-SHA384 (enctype 20) over `parts`.
fn hmac_sha2(enctype: i32, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    if enctype == AES256_CTS_HMAC_SHA384_192 {
        primitives::hmac::<Hmac<Sha384>>(key, parts)
    } else {
        primitives::hmac::<Hmac<Sha256>>(key, parts)
    }
}

/// KDF-HMAC-SHA2 (RFC 8009 §3): SP800-108 in counter mode with HMAC-SHA256 or -SHA384.
fn kdf_sha2(enctype: i32, key: &[u8], label: &[u8], context: &[u8], bits: usize) -> Vec<u8> {
    if enctype == AES256_CTS_HMAC_SHA384_192 {
        primitives::kdf::<Hmac<Sha384>>(key, label, context, bits)
    } else {
        primitives::kdf::<Hmac<Sha256>>(key, label, context, bits)
    }
}

/// The key of `usage` with `suffix` (0xAA encryption, 0x55 integrity, 0x99 checksum) of an
/// RFC 8009 enctype.
fn sha2_usage_key(key: &Key, usage: u32, suffix: u8) -> Vec<u8> {
    let Some((ke_bits, ki_bits)) = sha2_sizes(key.enctype) else {
        return Vec::new();
    };
    let bits = if suffix == 0xaa { ke_bits } else { ki_bits };
    let label = [&usage.to_be_bytes()[..], &[suffix]].concat();
    kdf_sha2(key.enctype, &key.bytes, &label, &[], bits)
}

/// The pseudo-random function of an enctype: for AES (RFC 3962 §6) one AES block of SHA-1 of
/// `input` under DK(key, "prf"), for the RFC 8009 enctypes KDF-HMAC-SHA2(key, "prf", input),
/// for RC4-HMAC (RFC 4757 §4) HMAC-SHA1 of `input`.
fn prf(key: &Key, input: &[u8]) -> Option<Vec<u8>> {
    if let Some((_, ki_bits)) = sha2_sizes(key.enctype) {
        let bits = if ki_bits == 128 { 256 } else { 384 };
        return Some(kdf_sha2(key.enctype, &key.bytes, b"prf", input, bits));
    }
    match key.enctype {
        AES128_CTS_HMAC_SHA1_96 | AES256_CTS_HMAC_SHA1_96 => {
            use sha1::Digest as _;
            let digest = Sha1::digest(input);
            let mut block = [0u8; AES_BLOCK];
            block.copy_from_slice(&digest[..AES_BLOCK]);
            aes_encrypt_block(&derive(&key.bytes, b"prf"), &mut block).then(|| block.to_vec())
        }
        RC4_HMAC => {
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&key.bytes).ok()?;
            mac.update(input);
            Some(mac.finalize().into_bytes().to_vec())
        }
        _ => None,
    }
}

/// PRF+ (RFC 6113 §5.1): PRF(key, 1 || pepper) || PRF(key, 2 || pepper) || ..., `len` bytes.
fn prf_plus(key: &Key, pepper: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len + 20);
    let mut counter = 1u8;
    while out.len() < len {
        out.extend(prf(key, &[&[counter][..], pepper].concat())?);
        counter = counter.checked_add(1)?;
    }
    out.truncate(len);
    Some(out)
}

/// KRB-FX-CF2 (RFC 6113 §5.1): a key of `k1`'s enctype combining two keys, PRF+(k1, pepper1)
/// XOR PRF+(k2, pepper2) (random-to-key is the identity for AES and RC4-HMAC). FAST's armor
/// and reply keys are made this way.
#[must_use]
pub fn cf2(k1: &Key, k2: &Key, pepper1: &[u8], pepper2: &[u8]) -> Option<Key> {
    let len = k1.bytes.len();
    let a = prf_plus(k1, pepper1, len)?;
    let b = prf_plus(k2, pepper2, len)?;
    Some(Key {
        enctype: k1.enctype,
        bytes: a.iter().zip(&b).map(|(x, y)| x ^ y).collect(),
    })
}

/// The checksum of `parts` for a MIC token of `usage` with an AES key: HMAC-SHA1-96 under
/// Kc = DK(base, usage | 0x99) (RFC 3961 §5.3, RFC 3962), or for the RFC 8009 enctypes
/// HMAC-SHA256-128 / HMAC-SHA384-192 under Kc = KDF-HMAC-SHA2(base, usage | 0x99); empty for
/// another enctype.
#[must_use]
pub fn aes_checksum(key: &Key, usage: u32, parts: &[&[u8]]) -> Vec<u8> {
    if let Some((_, ki_bits)) = sha2_sizes(key.enctype) {
        let mut mac = hmac_sha2(key.enctype, &sha2_usage_key(key, usage, 0x99), parts);
        mac.truncate(ki_bits / 8);
        return mac;
    }
    let mut c = usage.to_be_bytes().to_vec();
    c.push(0x99);
    hmac_sha1_96(&derive(&key.bytes, &c), parts).to_vec()
}

/// The HMAC-MD5 checksum of RC4-HMAC (RFC 4757 §4): HMAC(HMAC(key, "signaturekey\0"),
/// MD5(usage as 4 little-endian bytes, then `parts`)).
#[must_use]
pub fn rc4_checksum(key: &[u8], usage: u32, parts: &[&[u8]]) -> [u8; 16] {
    use md5::Digest as _;
    let k_sign = hmac_md5(key, &[b"signaturekey\0"]);
    let mut md5 = md5::Md5::new();
    md5.update(usage.to_le_bytes());
    for p in parts {
        md5.update(p);
    }
    let digest: [u8; 16] = md5.finalize().into();
    hmac_md5(&k_sign, &[&digest])
}

/// PBKDF2 iterations of the AES string-to-key when the salt gives none (RFC 3962 §4).
const AES_ITERATIONS: u32 = 4096;

/// PBKDF2 iterations of the RFC 8009 string-to-key when the salt gives none (§4).
const SHA2_ITERATIONS: u32 = 32_768;

/// The key of a password for an AES enctype (RFC 3962 §4): PBKDF2-HMAC-SHA1 of the password
/// with `salt` (the realm then the principal's components, for a user), then DK(key,
/// "kerberos"); for the RFC 8009 enctypes (§4) PBKDF2-HMAC-SHA256/384 with the enctype's name,
/// a zero byte and `salt`, then KDF-HMAC-SHA2(key, "kerberos"). `None` for another enctype.
#[must_use]
pub fn string_to_key(enctype: i32, password: &str, salt: &str) -> Option<Key> {
    let n = if sha2_sizes(enctype).is_some() {
        SHA2_ITERATIONS
    } else {
        AES_ITERATIONS
    };
    string_to_key_iterations(enctype, password, salt.as_bytes(), n)
}

fn string_to_key_iterations(enctype: i32, password: &str, salt: &[u8], n: u32) -> Option<Key> {
    if let Some((ke_bits, _)) = sha2_sizes(enctype) {
        let name: &[u8] = if enctype == AES256_CTS_HMAC_SHA384_192 {
            b"aes256-cts-hmac-sha384-192"
        } else {
            b"aes128-cts-hmac-sha256-128"
        };
        let saltp = [name, &[0], salt].concat();
        let mut tkey = vec![0u8; ke_bits / 8];
        if enctype == AES256_CTS_HMAC_SHA384_192 {
            pbkdf2::pbkdf2_hmac::<Sha384>(password.as_bytes(), &saltp, n, &mut tkey);
        } else {
            pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &saltp, n, &mut tkey);
        }
        return Some(Key {
            enctype,
            bytes: kdf_sha2(enctype, &tkey, b"kerberos", &[], ke_bits),
        });
    }
    let len = match enctype {
        AES128_CTS_HMAC_SHA1_96 => 16,
        AES256_CTS_HMAC_SHA1_96 => 32,
        _ => return None,
    };
    let mut tkey = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, n, &mut tkey);
    Some(Key {
        enctype,
        bytes: derive(&tkey, b"kerberos"),
    })
}

/// HMAC-SHA1 truncated to 96 bits over `parts`.
#[must_use]
pub fn hmac_sha1_96(ki: &[u8], parts: &[&[u8]]) -> [u8; AES_MAC_LEN] {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(ki) else {
        return [0; AES_MAC_LEN];
    };
    for p in parts {
        mac.update(p);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; AES_MAC_LEN];
    out.copy_from_slice(&full[..AES_MAC_LEN]);
    out
}

/// AES-CTS (CBC-CS3, zero IV) decryption in place with `ke`; false when too short.
#[must_use]
pub fn aes_cts_decrypt(ke: &[u8], data: &mut [u8]) -> bool {
    let iv = [0u8; 16];
    let done = match ke.len() {
        32 => cts::CbcCs3Dec::<Aes256>::new(ke.into(), &iv.into()).decrypt(data),
        16 => cts::CbcCs3Dec::<Aes128>::new(ke.into(), &iv.into()).decrypt(data),
        _ => return false,
    };
    done.is_ok()
}

/// RFC 4757 §3: the usage numbers RC4-HMAC uses in place of some of RFC 4120's.
fn rc4_usage(usage: u32) -> u32 {
    match usage {
        3 | 9 => 8,
        23 => 13,
        u => u,
    }
}

/// Decrypts the cipher of an EncryptedData of `usage` with `key`: the plaintext after its
/// confounder, or `None` when the checksum does not match (another key) or the enctype is not
/// one of AES128, AES256 and RC4-HMAC.
#[must_use]
pub fn decrypt(key: &Key, usage: u32, cipher: &[u8]) -> Option<Vec<u8>> {
    if let Some((_, ki_bits)) = sha2_sizes(key.enctype) {
        // RFC 8009 §5: encrypt-then-MAC, the MAC over a zero IV and the ciphertext
        let mac_len = ki_bits / 8;
        let body_len = cipher.len().checked_sub(mac_len)?;
        if body_len < AES_BLOCK {
            return None;
        }
        let (body, mac) = cipher.split_at(body_len);
        let ki = sha2_usage_key(key, usage, 0x55);
        if hmac_sha2(key.enctype, &ki, &[&[0; AES_BLOCK], body]).get(..mac_len) != Some(mac) {
            return None;
        }
        let mut plain = body.to_vec();
        if !aes_cts_decrypt(&sha2_usage_key(key, usage, 0xaa), &mut plain) {
            return None;
        }
        return Some(plain.split_off(AES_BLOCK));
    }
    match key.enctype {
        AES128_CTS_HMAC_SHA1_96 | AES256_CTS_HMAC_SHA1_96 => {
            if cipher.len() < AES_BLOCK + AES_MAC_LEN {
                return None;
            }
            let (body, mac) = cipher.split_at(cipher.len() - AES_MAC_LEN);
            let (ke, ki) = usage_keys(&key.bytes, usage);
            let mut plain = body.to_vec();
            if !aes_cts_decrypt(&ke, &mut plain) || hmac_sha1_96(&ki, &[&plain]) != mac {
                return None;
            }
            Some(plain.split_off(AES_BLOCK))
        }
        RC4_HMAC => {
            if cipher.len() < 24 {
                return None;
            }
            let (checksum, body) = cipher.split_at(16);
            let k1 = hmac_md5(&key.bytes, &[&rc4_usage(usage).to_le_bytes()]);
            let k3 = hmac_md5(&k1, &[checksum]);
            let mut plain = body.to_vec();
            primitives::rc4(&k3, &mut plain);
            if hmac_md5(&k1, &[&plain]) != checksum {
                return None;
            }
            Some(plain.split_off(8))
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes from hexadecimal text (test vectors).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // RFC 8009 appendix A.
    #[test]
    fn aes_sha2_keys_and_decryption_give_the_published_vectors() {
        let salt = [
            hex("10df9dd783e5bc8acea1730e74355f61"),
            b"ATHENA.MIT.EDUraeburn".to_vec(),
        ]
        .concat();
        for (enctype, expected) in [
            (19, "089bca48b105ea6ea77ca5d2f39dc5e7"),
            (
                20,
                "45bd806dbf6a833a9cffc1c94589a222367a79bc21c413718906e9f578a78467",
            ),
        ] {
            let key = string_to_key_iterations(enctype, "password", &salt, 32_768).unwrap();
            assert_eq!(key.bytes, hex(expected), "enctype {enctype}");
        }
        let k256 = Key {
            enctype: 20,
            bytes: hex("6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52"),
        };
        let k128 = Key {
            enctype: 19,
            bytes: hex("3705d96080c17728a0e800eab6e0d23c"),
        };
        for (key, suffix, expected) in [
            (
                &k256,
                0x99,
                "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d",
            ),
            (
                &k256,
                0xaa,
                "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49",
            ),
            (
                &k256,
                0x55,
                "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f",
            ),
            (&k128, 0xaa, "9b197dd1e8c5609d6e67c3e37c62c72e"),
            (&k128, 0x55, "9fda0e56ab2d85e1569a688696c26a6c"),
        ] {
            assert_eq!(sha2_usage_key(key, 2, suffix), hex(expected), "{suffix:x}");
        }
        let plain = hex("000102030405");
        for (key, cipher) in [
            (
                &k128,
                "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c",
            ),
            (
                &k256,
                "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2",
            ),
        ] {
            let mut c = hex(cipher);
            assert_eq!(decrypt(key, 2, &c), Some(plain.clone()));
            assert_eq!(decrypt(key, 3, &c), None);
            c[3] ^= 1;
            assert_eq!(decrypt(key, 2, &c), None);
        }
    }

    #[test]
    fn cf2_gives_the_published_vectors() {
        // RFC 6113 appendix A: KRB-FX-CF2 of string-to-key("key1", "key1") and
        // string-to-key("key2", "key2") with the peppers "a" and "b".
        for (enctype, expected) in [
            (17, "97df97e4b798b29eb31ed7280287a92a"),
            (
                18,
                "4d6ca4e629785c1f01baf55e2e548566b9617ae3a96868c337cb93b5e72b1c7b",
            ),
            (23, "24d7f6b6bae4e5c00d2082c5ebab3672"),
        ] {
            let key_of = |p: &str| {
                string_to_key(enctype, p, p).unwrap_or_else(|| Key {
                    enctype,
                    bytes: crate::auth::keys::nt_hash(p).to_vec(),
                })
            };
            let (k1, k2) = (key_of("key1"), key_of("key2"));
            let key = cf2(&k1, &k2, b"a", b"b").unwrap();
            assert_eq!(key.bytes, hex(expected), "enctype {enctype}");
            assert_eq!(key.enctype, enctype);
        }
    }

    #[test]
    fn nfold_gives_the_published_vectors() {
        // RFC 3961 appendix A.1.
        for (input, bits, out) in [
            ("012345", 64, "be072631276b1955"),
            ("password", 56, "78a07b6caf85fa"),
            ("Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"),
            (
                "password",
                168,
                "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e",
            ),
            (
                "MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
                192,
                "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
            ),
            ("Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"),
            ("ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
            ("kerberos", 64, "6b65726265726f73"),
            ("kerberos", 128, "6b65726265726f737b9b5b2b93132b93"),
            (
                "kerberos",
                168,
                "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4",
            ),
            (
                "kerberos",
                256,
                "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
            ),
        ] {
            assert_eq!(
                nfold(input.as_bytes(), bits / 8),
                hex(out),
                "{input} {bits}"
            );
        }
    }

    #[test]
    fn cts_is_the_cs3_variant_of_rfc_3962() {
        // RFC 3962 appendix B: "chicken teriyaki", zero IV, three of the examples.
        let key = hex("636869636b656e207465726979616b69");
        for (cipher, plain) in [
            ("c6353568f2bf8cb4d8a580362da7ff7f97", "I would like the "),
            (
                "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
                "I would like the General Gau's ",
            ),
            (
                "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
                "I would like the General Gau's C",
            ),
        ] {
            let mut buf = hex(cipher);
            assert!(aes_cts_decrypt(&key, &mut buf));
            assert_eq!(&buf[..plain.len()], plain.as_bytes());
        }
    }

    #[test]
    fn string_to_key_gives_the_published_keys() {
        // RFC 3962 appendix B: "password" with salt "ATHENA.MIT.EDUraeburn".
        let salt = "ATHENA.MIT.EDUraeburn";
        for (n, k128, k256) in [
            (
                1,
                "42263c6e89f4fc28b8df68ee09799f15",
                "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161",
            ),
            (
                2,
                "c651bf29e2300ac27fa469d693bdda13",
                "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff",
            ),
            (
                1200,
                "4c01cd46d632d01e6dbe230a01ed642a",
                "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a",
            ),
        ] {
            let a = string_to_key_iterations(17, "password", salt.as_bytes(), n).unwrap();
            let b = string_to_key_iterations(18, "password", salt.as_bytes(), n).unwrap();
            assert_eq!(a.bytes, hex(k128), "{n}");
            assert_eq!(b.bytes, hex(k256), "{n}");
        }
        assert_eq!(string_to_key(23, "password", salt), None);
    }

    #[test]
    fn rc4_hmac_round_trips_and_rejects_another_key() {
        // Encrypt as RFC 4757 §5 does, then decrypt.
        let key = Key {
            enctype: RC4_HMAC,
            bytes: vec![7; 16],
        };
        let data = b"confoundtherest of the message".to_vec();
        let k1 = hmac_md5(&key.bytes, &[&11u32.to_le_bytes()]);
        let checksum = hmac_md5(&k1, &[&data]);
        let k3 = hmac_md5(&k1, &[&checksum]);
        let mut body = data.clone();
        primitives::rc4(&k3, &mut body);
        let cipher = [checksum.as_slice(), &body].concat();
        assert_eq!(decrypt(&key, 11, &cipher).unwrap(), data[8..].to_vec());
        let other = Key {
            enctype: RC4_HMAC,
            bytes: vec![8; 16],
        };
        assert_eq!(decrypt(&other, 11, &cipher), None);
        assert_eq!(decrypt(&key, 12, &cipher), None);
    }

    #[test]
    fn short_or_unknown_ciphers_do_not_decrypt() {
        let aes = Key {
            enctype: AES256_CTS_HMAC_SHA1_96,
            bytes: vec![1; 32],
        };
        assert_eq!(decrypt(&aes, 11, &[0; 27]), None);
        assert_eq!(decrypt(&aes, 11, &[0; 60]), None);
        // A key whose length does not fit its enctype (a learned key is whatever a decrypted
        // part said) opens nothing.
        for len in [0, 15, 20, 33] {
            let odd = Key {
                enctype: AES256_CTS_HMAC_SHA1_96,
                bytes: vec![1; len],
            };
            assert_eq!(decrypt(&odd, 11, &[0; 60]), None);
        }
        let des = Key {
            enctype: 3,
            bytes: vec![1; 8],
        };
        assert_eq!(decrypt(&des, 11, &[0; 60]), None);
    }
}
