//! DCE/RPC identifiers shared by every layer from the PDU parser up (C706 Appendix A and
//! §12.6, MS-RPCE §2.2.4): UUIDs, syntax identifiers, on-wire codes and their names
//! ([`codes`]), interface and operation names from the data tables in `src/dce/data/`
//! ([`names`]), what each PDU type carries after its header ([`body`]), and an interface as
//! reported ([`InterfaceRef`]). It depends on nothing above it.

pub mod body;
pub mod codes;
pub mod names;

use serde::Serialize;

/// An interface as bound to a presentation context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct InterfaceRef {
    /// Interface UUID, lower-case, hyphenated.
    pub uuid: String,
    /// `MAJOR.MINOR`.
    pub version: String,
    /// Name from the interface table, when known.
    pub name: Option<String>,
}

use std::fmt;

/// A DCE UUID in canonical (big-endian, as printed) byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Reads a UUID in wire layout: the first three fields in the PDU's integer byte order, the
    /// last eight bytes as they are.
    #[must_use]
    pub fn from_wire(b: &[u8; 16], little_endian: bool) -> Self {
        let mut out = *b;
        if little_endian {
            out[0..4].reverse();
            out[4..6].reverse();
            out[6..8].reverse();
        }
        Self(out)
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (any case).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let txt = std::str::from_utf8(pair).ok()?;
            *out.get_mut(i)? = u8::from_str_radix(txt, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for Uuid {
    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 36];
        let mut at = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                text[at] = b'-';
                at += 1;
            }
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0x0f)];
            at += 2;
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// An abstract or transfer syntax: UUID and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SyntaxId {
    /// Interface or transfer syntax UUID.
    pub uuid: Uuid,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl SyntaxId {
    /// `MAJOR.MINOR`.
    #[must_use]
    pub fn version(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// Which transfer syntax this is, when it is a well-known one.
    #[must_use]
    pub fn transfer_kind(&self) -> TransferKind {
        let b = self.uuid.0;
        if self.uuid == NDR_UUID {
            TransferKind::Ndr
        } else if self.uuid == NDR64_UUID {
            TransferKind::Ndr64
        } else if b[..8] == BTFN_PREFIX {
            TransferKind::FeatureNegotiation(u16::from_le_bytes([b[8], b[9]]))
        } else {
            TransferKind::Other
        }
    }
}

/// Classification of a transfer syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// NDR 2.0 (`8a885d04-1ceb-11c9-9fe8-08002b104860`).
    Ndr,
    /// NDR64 (`71710533-beba-4937-8319-b5dbef9ccc36`).
    Ndr64,
    /// MS-RPCE bind-time feature negotiation; the bitmask (0x1 security context multiplexing,
    /// 0x2 keep connection on orphan).
    FeatureNegotiation(u16),
    /// Anything else.
    Other,
}

impl TransferKind {
    /// Short name: `ndr`, `ndr64`, `bind_time_feature_negotiation`, `other`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ndr => "ndr",
            Self::Ndr64 => "ndr64",
            Self::FeatureNegotiation(_) => "bind_time_feature_negotiation",
            Self::Other => "other",
        }
    }
}

/// NDR 2.0 transfer syntax UUID.
pub const NDR_UUID: Uuid = Uuid([
    0x8a, 0x88, 0x5d, 0x04, 0x1c, 0xeb, 0x11, 0xc9, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
]);
/// NDR64 transfer syntax UUID.
pub const NDR64_UUID: Uuid = Uuid([
    0x71, 0x71, 0x05, 0x33, 0xbe, 0xba, 0x49, 0x37, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36,
]);
/// First eight bytes of every bind-time feature negotiation UUID (`6cb71c2c-9812-4540-...`).
pub const BTFN_PREFIX: [u8; 8] = [0x6c, 0xb7, 0x1c, 0x2c, 0x98, 0x12, 0x45, 0x40];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trips_through_text_and_wire() {
        let s = "e1af8308-5d1f-11c9-91a4-08002b14a0fa";
        let u = Uuid::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
        let wire = [
            0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14,
            0xa0, 0xfa,
        ];
        assert_eq!(Uuid::from_wire(&wire, true), u);
        assert_eq!(Uuid::parse("not-a-uuid"), None);
    }

    #[test]
    fn recognises_transfer_syntaxes() {
        let btfn = Uuid::parse("6cb71c2c-9812-4540-0300-000000000000").unwrap();
        let s = SyntaxId {
            uuid: btfn,
            major: 1,
            minor: 0,
        };
        assert_eq!(s.transfer_kind(), TransferKind::FeatureNegotiation(3));
        let ndr = SyntaxId {
            uuid: NDR_UUID,
            major: 2,
            minor: 0,
        };
        assert_eq!(ndr.transfer_kind(), TransferKind::Ndr);
    }
}
