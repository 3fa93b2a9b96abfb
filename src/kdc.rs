//! Kerberos ticket exchanges over TCP and UDP (RFC 4120 §7.2.1, §7.2.2), the layer above TCP
//! and UDP beside SMB and DCE/RPC, followed only when the user gave keys: each TCP record (a
//! four-byte length, then a KDC message) and each UDP datagram (one message) is read for the
//! keys it carries (`auth::kerberos::learn_from_kdc`), so that a krbtgt key opens the
//! conversations whose tickets were requested in the capture.
//!
//! Limit: [`MAX_KDC_MESSAGE_BYTES`] per message; a longer one, or bytes lost in a gap, end the
//! reading of that direction (counted in `summary`).

use std::sync::Arc;

use crate::auth::kerberos::learn_from_kdc;
use crate::auth::keys::Keyring;
use crate::report::Tally;
use crate::tcp::Dir;

/// The Kerberos port.
pub const KDC_PORT: u16 = 88;
/// Longest KDC message read (tickets with large PACs stay far below it).
pub const MAX_KDC_MESSAGE_BYTES: usize = 256 * 1024;

/// One UDP datagram to or from a KDC: a whole message.
pub fn datagram(message: &[u8], keys: &Keyring, tally: &mut Tally) {
    tally.count("kdc_messages");
    let learned = learn_from_kdc(message, keys);
    tally.add("kerberos_keys_learned", learned as u64);
}

/// One TCP connection to a KDC: a buffer per direction.
#[derive(Debug)]
pub struct KdcStream {
    keys: Arc<Keyring>,
    pending: [Vec<u8>; 2],
    stopped: [bool; 2],
}

impl KdcStream {
    /// A connection whose messages are read with `keys`.
    #[must_use]
    pub fn new(keys: Arc<Keyring>) -> Self {
        Self {
            keys,
            pending: [Vec::new(), Vec::new()],
            stopped: [false; 2],
        }
    }

    /// In-order bytes of direction `dir`, the last of them in `frame`.
    pub fn data(&mut self, dir: Dir, bytes: &[u8], frame: u64, tally: &mut Tally) {
        let i = dir.index();
        if self.stopped[i] {
            return;
        }
        let buf = &mut self.pending[i];
        buf.extend_from_slice(bytes);
        // Each record: its length (the top bit reserved), then the message.
        while let Some(len) = buf.get(..4).map(|b| {
            usize::try_from(u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]))
                .unwrap_or(usize::MAX)
        }) {
            if len > MAX_KDC_MESSAGE_BYTES {
                tally.anomaly("limit_kdc_message_bytes", frame, || {
                    format!("a Kerberos message longer than {MAX_KDC_MESSAGE_BYTES} bytes")
                });
                self.stopped[i] = true;
                buf.clear();
                return;
            }
            let Some(message) = buf.get(4..4 + len) else {
                break;
            };
            tally.count("kdc_messages");
            let learned = learn_from_kdc(message, &self.keys);
            tally.add("kerberos_keys_learned", learned as u64);
            buf.drain(..4 + len);
        }
    }

    /// Bytes of direction `dir` were lost: its records can no longer be found.
    pub fn gap(&mut self, dir: Dir) {
        self.stopped[dir.index()] = true;
        self.pending[dir.index()].clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &[u8]) -> Vec<u8> {
        let mut r = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        r.extend(body);
        r
    }

    #[test]
    fn records_split_anywhere_are_read_and_oversized_ones_stop_the_direction() {
        let ring = Arc::new(Keyring::default());
        let mut stream = KdcStream::new(Arc::clone(&ring));
        let mut tally = Tally::default();
        let bytes = [record(b"\x6c\x00"), record(b"\x6d\x00"), record(b"x")].concat();
        for chunk in bytes.chunks(3) {
            stream.data(Dir::FromInitiator, chunk, 1, &mut tally);
        }
        assert_eq!(tally.counters.get("kdc_messages").copied().unwrap_or(0), 3);
        let mut huge = (u32::try_from(MAX_KDC_MESSAGE_BYTES).unwrap() + 1)
            .to_be_bytes()
            .to_vec();
        huge.extend([0; 16]);
        stream.data(Dir::FromResponder, &huge, 2, &mut tally);
        stream.data(Dir::FromResponder, &record(b"\x6b\x00"), 3, &mut tally);
        assert_eq!(tally.counters.get("kdc_messages").copied().unwrap_or(0), 3);
        assert_eq!(
            tally
                .anomalies
                .get("limit_kdc_message_bytes")
                .map(|a| a.count),
            Some(1)
        );
        stream.gap(Dir::FromInitiator);
        stream.data(Dir::FromInitiator, &record(b"y"), 4, &mut tally);
        assert_eq!(tally.counters.get("kdc_messages").copied().unwrap_or(0), 3);
    }
}
