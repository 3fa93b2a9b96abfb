//! NDR decoding (C706 chapter 14 for NDR 2.0, MS-RPCE §2.2.5 for NDR64): a bounded reader over a
//! stub, for the decoders of particular interfaces (endpoint mapper, DCOM, IDL-driven stubs).
//!
//! Integers follow the PDU's data representation; alignment is relative to the start of the
//! stub; NDR64 uses 8-byte conformance, variance and pointer representations. Every count read
//! from the wire is checked against the bytes left before anything is read or allocated, so a
//! hostile stub can make a decoder fail but never allocate more than the stub's size. Nesting is
//! limited to [`MAX_DEPTH`].

use crate::dce::Uuid;

/// Deepest nesting of constructed types a decoder may enter.
pub const MAX_DEPTH: usize = 32;

/// Why a stub could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NdrError {
    /// The stub ended before a field.
    #[error("stub ends at byte {at}, {need} more bytes needed")]
    Short {
        /// Offset of the field.
        at: usize,
        /// Bytes it needs.
        need: usize,
    },
    /// A count larger than the data that could follow it.
    #[error("count {count} at byte {at} exceeds the {left} bytes left")]
    Count {
        /// The count.
        count: u64,
        /// Where it was read.
        at: usize,
        /// Bytes left after it.
        left: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// More values in one call than the decoder keeps (`idl::values::MAX_DECODED_VALUES`).
    #[error("more values than the decoding limit (MAX_DECODED_VALUES)")]
    TooManyValues,
    /// Referents nested deeper than the decoder follows (`idl::values::MAX_POINTER_CHAIN`).
    #[error("pointer chain longer than MAX_POINTER_CHAIN")]
    PointerChain,
    /// A type nested deeper than a compiled plan holds (`idl::plan::MAX_PLAN_DEPTH`).
    #[error("type nested deeper than MAX_PLAN_DEPTH")]
    PlanDepth,
    /// A value that the type does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// An array count other than the one its `size_is`, `max_is` or `length_is` names.
    #[error("count {count} where {expr} is {expected}")]
    CountMismatch {
        /// The count on the wire.
        count: u64,
        /// The count the attribute names.
        expected: i64,
        /// The attribute (`size_is(cb)`).
        expr: String,
    },
    /// An integer outside the `range` its description allows.
    #[error("value {value} outside range({min}, {max})")]
    OutOfRange {
        /// The value.
        value: i64,
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
}

impl NdrError {
    /// The `limit_*` anomaly a decoding limit is counted under in `summary`; none for an error
    /// of the stub itself.
    #[must_use]
    pub fn limit_anomaly(&self) -> Option<&'static str> {
        match self {
            Self::TooDeep => Some("limit_decode_depth"),
            Self::TooManyValues => Some("limit_decoded_values"),
            Self::PointerChain => Some("limit_pointer_chain"),
            Self::PlanDepth => Some("limit_plan_depth"),
            Self::Short { .. }
            | Self::Count { .. }
            | Self::Invalid(_)
            | Self::OutOfRange { .. }
            | Self::CountMismatch { .. } => None,
        }
    }
}

/// The decoding limits a decoding ran into, as a set (one byte, so that the records that carry
/// it stay small); each is counted in `summary` under its `limit_*` anomaly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsHit(u8);

/// The anomaly names of the limits, by bit.
const LIMIT_ANOMALIES: [&str; 6] = [
    "limit_decode_depth",
    "limit_decoded_values",
    "limit_pointer_chain",
    "limit_plan_depth",
    "limit_string_bindings",
    "limit_interface_pointers",
];

impl LimitsHit {
    /// Adds the limit `e` stands for, if it is one.
    pub fn add(&mut self, e: &NdrError) {
        if let Some(kind) = e.limit_anomaly()
            && let Some(bit) = LIMIT_ANOMALIES.iter().position(|k| *k == kind)
        {
            self.0 |= 1 << bit;
        }
    }

    /// Adds the limit named `kind` (one of the `limit_*` anomalies above).
    pub fn add_named(&mut self, kind: &str) {
        if let Some(bit) = LIMIT_ANOMALIES.iter().position(|k| *k == kind) {
            self.0 |= 1 << bit;
        }
    }

    /// Adds every limit of `other`.
    pub fn merge(&mut self, other: LimitsHit) {
        self.0 |= other.0;
    }

    /// The `limit_*` anomalies hit.
    pub fn kinds(self) -> impl Iterator<Item = &'static str> {
        LIMIT_ANOMALIES
            .into_iter()
            .enumerate()
            .filter(move |(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, k)| k)
    }
}

/// Transfer syntax of a stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// NDR 2.0 (32-bit).
    Ndr,
    /// NDR64.
    Ndr64,
}

/// A cursor over one stub.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    little_endian: bool,
    syntax: Syntax,
    depth: usize,
}

macro_rules! int {
    ($name:ident, $t:ty, $n:expr) => {
        #[doc = concat!("Reads an aligned `", stringify!($t), "`.")]
        ///
        /// # Errors
        /// [`NdrError::Short`] at the end of the stub.
        pub fn $name(&mut self) -> Result<$t, NdrError> {
            self.align($n)?;
            let b = self.take($n)?;
            let mut a = [0u8; $n];
            a.copy_from_slice(b);
            Ok(if self.little_endian {
                <$t>::from_le_bytes(a)
            } else {
                <$t>::from_be_bytes(a)
            })
        }
    };
}

impl<'a> Reader<'a> {
    /// A reader at the start of `stub`.
    #[must_use]
    pub fn new(stub: &'a [u8], little_endian: bool, syntax: Syntax) -> Self {
        Self {
            data: stub,
            pos: 0,
            little_endian,
            syntax,
            depth: 0,
        }
    }

    /// Offset from the start of the stub.
    #[must_use]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The transfer syntax.
    #[must_use]
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// Skips to the next multiple of `n` (relative to the stub start).
    ///
    /// # Errors
    /// [`NdrError::Short`] when the padding runs past the end.
    pub fn align(&mut self, n: usize) -> Result<(), NdrError> {
        let pad = (n - self.pos % n) % n;
        self.take(pad).map(|_| ())
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// [`NdrError::Short`] when fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], NdrError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(NdrError::Short {
                at: self.pos,
                need: n,
            });
        };
        let b = &self.data[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    int!(u8, u8, 1);
    int!(u16, u16, 2);
    int!(u32, u32, 4);
    int!(u64, u64, 8);

    /// A conformance, variance or size field: u32 in NDR, u64 in NDR64.
    ///
    /// # Errors
    /// [`NdrError::Short`] at the end of the stub.
    pub fn size(&mut self) -> Result<u64, NdrError> {
        match self.syntax {
            Syntax::Ndr => self.u32().map(u64::from),
            Syntax::Ndr64 => self.u64(),
        }
    }

    /// A count of elements of at least `elem_size` bytes each, checked against the bytes left.
    ///
    /// # Errors
    /// [`NdrError::Count`] when that many elements cannot fit.
    pub fn count(&mut self, elem_size: usize) -> Result<usize, NdrError> {
        let at = self.pos;
        let count = self.size()?;
        let left = self.remaining();
        let fits = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(elem_size.max(1)))
            .is_some_and(|bytes| bytes <= left);
        if !fits {
            return Err(NdrError::Count { count, at, left });
        }
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// A pointer's referent id (u32 in NDR, u64 in NDR64); `None` for a null pointer.
    ///
    /// # Errors
    /// [`NdrError::Short`] at the end of the stub.
    pub fn pointer(&mut self) -> Result<Option<u64>, NdrError> {
        let id = self.size()?;
        Ok((id != 0).then_some(id))
    }

    /// A UUID (`GUID`): three integers in the stub's byte order, then eight bytes.
    ///
    /// # Errors
    /// [`NdrError::Short`] at the end of the stub.
    pub fn uuid(&mut self) -> Result<Uuid, NdrError> {
        self.align(4)?;
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_wire(&a, self.little_endian))
    }

    /// A context handle (`ndr_context_handle`): attributes u32 and a UUID, as 20 raw bytes.
    ///
    /// # Errors
    /// [`NdrError::Short`] at the end of the stub.
    pub fn context_handle(&mut self) -> Result<[u8; 20], NdrError> {
        self.align(4)?;
        let b = self.take(20)?;
        let mut a = [0u8; 20];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A varying array header (offset, actual count) of elements of `elem_size` bytes, checked
    /// against the bytes left.
    ///
    /// # Errors
    /// [`NdrError::Count`] when the elements cannot fit.
    pub fn variance(&mut self, elem_size: usize) -> Result<(u64, usize), NdrError> {
        let offset = self.size()?;
        let actual = self.count(elem_size)?;
        Ok((offset, actual))
    }

    /// A conformant varying string of `elem_size`-byte characters (`[string]`): max count,
    /// offset, actual count, then the characters (with their terminator).
    ///
    /// # Errors
    /// [`NdrError`] when the counts do not fit or the actual count exceeds the maximum.
    pub fn string(&mut self, elem_size: usize) -> Result<&'a [u8], NdrError> {
        let max = self.count(elem_size)?;
        let (_, actual) = self.variance(elem_size)?;
        if actual > max {
            return Err(NdrError::Invalid("string longer than its maximum count"));
        }
        self.take(actual * elem_size)
    }

    /// Enters a constructed type; pair with [`Reader::leave`].
    ///
    /// # Errors
    /// [`NdrError::TooDeep`] past [`MAX_DEPTH`].
    pub fn enter(&mut self) -> Result<(), NdrError> {
        if self.depth >= MAX_DEPTH {
            return Err(NdrError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a constructed type.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// The UTF-16 code units of `b` in the stub's byte order (a trailing odd byte is ignored).
pub fn utf16_units(b: &[u8], little_endian: bool) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(move |c| {
        if little_endian {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    })
}

/// Decodes an NDR `wchar_t` string (UTF-16 code units in the stub's byte order) up to its NUL.
#[must_use]
pub fn utf16_string(b: &[u8], little_endian: bool) -> String {
    decode_utf16(utf16_units(b, little_endian).take_while(|&u| u != 0))
}

/// UTF-16 code units as a string, an unpaired surrogate replaced by U+FFFD (as
/// `String::from_utf16_lossy`), in one allocation.
pub fn decode_utf16(units: impl Iterator<Item = u16>) -> String {
    let (at_least, _) = units.size_hint();
    let mut out = String::with_capacity(at_least);
    out.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    out
}

/// The little-endian 16-bit integer at `at` in `b`, if the bytes are there (for structures
/// Windows defines in little-endian only: OBJREFs, security descriptors).
#[must_use]
pub fn le16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The little-endian 32-bit integer at `at` in `b`, if the bytes are there.
#[must_use]
pub fn le32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The little-endian 64-bit integer at `at` in `b`, if the bytes are there.
#[must_use]
pub fn le64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The GUID in little-endian wire layout at `at` in `b`, if the bytes are there.
#[must_use]
pub fn uuid_at(b: &[u8], at: usize) -> Option<Uuid> {
    Some(Uuid::from_wire(
        b.get(at..at.checked_add(16)?)?.try_into().ok()?,
        true,
    ))
}

/// Decodes an 8-bit NDR string up to its NUL (bytes above 0x7f as Latin-1).
#[must_use]
pub fn char_string(b: &[u8]) -> String {
    b.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_relative_to_the_stub_and_honours_byte_order() {
        let le = [1u8, 0, 0, 0, 0x34, 0x12, 0, 0, 0x78, 0x56, 0x34, 0x12];
        let mut r = Reader::new(&le, true, Syntax::Ndr);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0, "aligned to 2 after one byte");
        assert_eq!(r.u16().unwrap(), 0x1234);
        assert_eq!(r.u32().unwrap(), 0x1234_5678);
        let be = [0u8, 0, 0, 7, 0x12, 0x34];
        let mut r = Reader::new(&be, false, Syntax::Ndr);
        assert_eq!((r.u32().unwrap(), r.u16().unwrap()), (7, 0x1234));
    }

    #[test]
    fn ndr64_sizes_and_pointers_are_eight_bytes() {
        let mut b = 3u64.to_le_bytes().to_vec();
        b.extend(0u64.to_le_bytes());
        b.extend([9u8; 3]);
        let mut r = Reader::new(&b, true, Syntax::Ndr64);
        assert_eq!(r.count(1).unwrap(), 3);
        assert_eq!(r.pointer().unwrap(), None);
        assert_eq!(r.take(3).unwrap(), [9, 9, 9]);
    }

    #[test]
    fn refuses_counts_larger_than_the_data() {
        let b = [0xff, 0xff, 0xff, 0x7f, 1, 2];
        let mut r = Reader::new(&b, true, Syntax::Ndr);
        assert!(matches!(r.count(4), Err(NdrError::Count { .. })));
        let s = [4u8, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, b'a', b'b', 0, 0];
        let mut r = Reader::new(&s, true, Syntax::Ndr);
        assert!(r.string(1).is_err(), "actual 9 > max 4");
    }

    #[test]
    fn reads_strings_in_both_byte_orders() {
        let mut s = 3u32.to_le_bytes().to_vec();
        s.extend(0u32.to_le_bytes());
        s.extend(3u32.to_le_bytes());
        s.extend([b'h', 0, b'i', 0, 0, 0]);
        let mut r = Reader::new(&s, true, Syntax::Ndr);
        assert_eq!(utf16_string(r.string(2).unwrap(), true), "hi");
        let mut s = 2u32.to_be_bytes().to_vec();
        s.extend(0u32.to_be_bytes());
        s.extend(2u32.to_be_bytes());
        s.extend([0, b'x', 0, 0]);
        let mut r = Reader::new(&s, false, Syntax::Ndr);
        assert_eq!(utf16_string(r.string(2).unwrap(), false), "x");
    }

    #[test]
    fn decoding_limits_are_a_set_of_anomaly_names() {
        let mut hit = LimitsHit::default();
        hit.add(&NdrError::Invalid("not a limit"));
        assert_eq!(hit.kinds().count(), 0);
        hit.add(&NdrError::PointerChain);
        hit.add(&NdrError::PointerChain);
        let mut other = LimitsHit::default();
        other.add(&NdrError::TooDeep);
        hit.merge(other);
        assert_eq!(
            hit.kinds().collect::<Vec<_>>(),
            ["limit_decode_depth", "limit_pointer_chain"]
        );
        assert_eq!(std::mem::size_of::<LimitsHit>(), 1);
    }

    #[test]
    fn limits_nesting() {
        let mut r = Reader::new(&[], true, Syntax::Ndr);
        for _ in 0..MAX_DEPTH {
            r.enter().unwrap();
        }
        assert_eq!(r.enter(), Err(NdrError::TooDeep));
    }
}
