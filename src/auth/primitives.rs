//! Cryptographic building blocks the security providers share, security layer: HMAC over
//! several parts, the SP800-108 counter-mode KDF with HMAC (one block: SMB3's key derivation,
//! MS-SMB2 §3.1.4.2, and RFC 8009's KDF-HMAC-SHA2), RC4 with a 16-byte key, the RC4 key
//! schedule of RFC 4757 §7 and MS-NRPC §3.3.4.2 (HMAC-MD5 of HMAC-MD5 of four zero bytes), and
//! DES with a 7-byte key (NTLMv1's DESL, MS-NRPC's credential computation).

use des::Des;
use des::cipher::BlockEncrypt;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::Md5;
use rc4::consts::U16;
use rc4::{Rc4, StreamCipher};

/// HMAC with hash function `M` (e.g. `Hmac<Sha256>`) over `parts`.
#[must_use]
pub fn hmac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return Vec::new(); // HMAC takes keys of any length
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HMAC-MD5 over `parts`.
#[must_use]
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    hmac::<Hmac<Md5>>(key, parts).try_into().unwrap_or([0; 16])
}

/// SP800-108 KDF in counter mode with HMAC `M`, one block: the first `bits` of
/// HMAC(key, 1 || label || 0 || context || bits), counts big-endian.
#[must_use]
pub fn kdf<M: Mac + KeyInit>(key: &[u8], label: &[u8], context: &[u8], bits: usize) -> Vec<u8> {
    let length = u32::try_from(bits).unwrap_or(0).to_be_bytes();
    let mut out = hmac::<M>(key, &[&1u32.to_be_bytes(), label, &[0], context, &length]);
    out.truncate(bits / 8);
    out
}

/// RC4 with a 16-byte key over `data`, in place.
pub fn rc4(key: &[u8; 16], data: &mut [u8]) {
    <Rc4<U16> as rc4::KeyInit>::new(key.into()).apply_keystream(data);
}

/// The RC4 key RFC 4757 (§7.2, §7.3) and the Netlogon secure channel (MS-NRPC §3.3.4.2.1)
/// derive from `key` and `input` (a checksum or a sequence number):
/// HMAC-MD5(HMAC-MD5(key, 0^4), input).
#[must_use]
pub fn rc4_hmac_key(key: &[u8], input: &[u8]) -> [u8; 16] {
    hmac_md5(&hmac_md5(key, &[&[0; 4]]), &[input])
}

/// DES with a 7-byte key spread over 8 bytes (parity bits ignored).
pub fn des7(key7: &[u8], block: &[u8; 8]) -> [u8; 8] {
    let k = |i: usize| key7.get(i).copied().unwrap_or(0);
    let key = [
        k(0),
        (k(0) << 7) | (k(1) >> 1),
        (k(1) << 6) | (k(2) >> 2),
        (k(2) << 5) | (k(3) >> 3),
        (k(3) << 4) | (k(4) >> 4),
        (k(4) << 3) | (k(5) >> 5),
        (k(5) << 2) | (k(6) >> 6),
        k(6) << 1,
    ];
    let cipher = Des::new(&key.into());
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    b.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    #[test]
    fn hmac_md5_gives_the_rfc_2104_vector() {
        // RFC 2104 appendix: key 0x0b * 16, "Hi There"
        assert_eq!(
            hmac_md5(&[0x0b; 16], &[b"Hi ", b"There"]),
            [
                0x92, 0x94, 0x72, 0x7a, 0x36, 0x38, 0xbb, 0x1c, 0x13, 0xf4, 0x8e, 0xf8, 0x15, 0x8b,
                0xfc, 0x9d
            ]
        );
    }

    #[test]
    fn kdf_is_one_truncated_hmac_block() {
        let full = hmac::<Hmac<Sha256>>(
            b"k",
            &[&[0, 0, 0, 1], b"label", &[0], b"ctx", &[0, 0, 0, 128]],
        );
        assert_eq!(kdf::<Hmac<Sha256>>(b"k", b"label", b"ctx", 128), full[..16]);
    }
}
