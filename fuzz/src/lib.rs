//! Helpers shared by the fuzz targets in `fuzz_targets/` (see `docs/robustness.md`): a reader of
//! choices from the fuzzer's bytes, and a stream sink that checks what TCP reassembly delivers.

use rpcscope::tcp::{Origin, StreamSink};

/// Reads choices (numbers, slices) from the front of a fuzz input; once it runs dry every
/// number is 0 and every slice empty.
pub struct Script<'a> {
    bytes: &'a [u8],
}

impl<'a> Script<'a> {
    /// A script over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// True when every byte was taken.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    /// Up to `n` next bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = tail;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.bytes.len())
    }
}

/// A stream sink that asserts the reassembler's contract: data and gaps follow each other
/// without holes or overlaps, starting at offset 0.
#[derive(Default)]
pub struct ContiguousStream {
    /// Next offset expected.
    pub next: u64,
    /// Bytes delivered.
    pub delivered: u64,
    /// Bytes declared lost.
    pub lost: u64,
}

impl StreamSink for ContiguousStream {
    fn data(&mut self, offset: u64, bytes: &[u8], _origin: Origin) {
        assert_eq!(offset, self.next, "data out of place");
        assert!(!bytes.is_empty(), "empty delivery");
        self.next += bytes.len() as u64;
        self.delivered += bytes.len() as u64;
    }

    fn gap(&mut self, offset: u64, len: u64) {
        assert_eq!(offset, self.next, "gap out of place");
        assert!(len > 0, "empty gap");
        self.next += len;
        self.lost += len;
    }
}

/// A piece of a byte stream as a reassembler hands it over: bytes at an offset, or lost bytes.
pub enum Piece<'a> {
    /// In-order bytes starting at the offset.
    Data(u64, &'a [u8]),
    /// This many bytes at the offset were lost.
    Gap(u64, u64),
}

/// Cuts the rest of `script` into a stream: each step reads a chunk length (below
/// `max_chunk`); a length divisible by `gap_every` stands for a gap of the next byte's size
/// times `gap_unit` instead of data.
pub fn stream_pieces(
    script: &mut Script<'_>,
    max_chunk: u16,
    gap_every: usize,
    gap_unit: u64,
    mut each: impl FnMut(Piece<'_>),
) {
    let mut offset = 0u64;
    while !script.is_empty() {
        let n = usize::from(script.u16() % max_chunk);
        if n % gap_every == 0 {
            let len = u64::from(script.u8()) * gap_unit;
            each(Piece::Gap(offset, len));
            offset += len;
            continue;
        }
        let chunk = script.take(n);
        each(Piece::Data(offset, chunk));
        offset += chunk.len() as u64;
    }
}
