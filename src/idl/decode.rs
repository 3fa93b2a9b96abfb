//! The streaming decoder of NDR pipe chunk sequences (C706 §14.3.11 "Pipes"; MS-RPCE
//! §2.2.5.3.4.5 for NDR64); an operation's compiled plan ([`super::plan`]) says where its pipes
//! are and how their elements are laid out. A chunk is an element count (NDR: u32 aligned to 4; NDR64: u64 aligned to 8)
//! followed by that many elements (NDR64 then repeats the count, negated); a chunk of count 0
//! ends the pipe. \[in\] pipes follow all other \[in\] parameters of the request; \[out\] pipes come
//! before all other \[out\] parameters of the response.
//!
//! Decoding is fragment by fragment: element data is counted and skipped, never kept, so a pipe
//! of any length needs a few bytes of state. Only the \[in\] parameters in front of the pipes are
//! buffered, up to [`MAX_PREFIX_BYTES`]. At most [`MAX_REPORTED_CHUNKS`] chunks are listed per
//! pipe; `chunks_total` counts them all.

use std::sync::Arc;

use serde::Serialize;

use super::plan::{OpPlan, PipeSpec, chunk_bytes, stride};
use super::values::{Direction, StubBytes, parameters_end};
use crate::ndr::{NdrError, Syntax};

/// \[in\] parameter bytes buffered in front of the pipes of a request.
pub const MAX_PREFIX_BYTES: usize = 64 * 1024;
/// Chunks listed per pipe.
pub const MAX_REPORTED_CHUNKS: usize = 1000;

/// One chunk of a pipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chunk {
    /// Elements.
    pub count: u64,
    /// Element bytes.
    pub bytes: u64,
    /// Frame of the fragment where the chunk starts.
    pub frame: u64,
    /// Stub offset of its count.
    pub offset: u64,
}

/// A pipe parameter of a call (`pipes` on a call record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipeReport {
    /// Parameter name (null when guessed).
    pub param: Option<String>,
    /// `in` or `out`.
    pub direction: &'static str,
    /// Element type from the IDL.
    pub element_type: Option<String>,
    /// Non-empty chunks, in order (at most [`MAX_REPORTED_CHUNKS`]).
    pub chunks: Vec<Chunk>,
    /// Non-empty chunks in all.
    pub chunks_total: u64,
    /// Elements over all chunks.
    pub elements: u64,
    /// Element bytes over all chunks.
    pub bytes: u64,
    /// The empty terminating chunk was seen.
    pub terminated: bool,
    /// `count_exceeds_data`, `missing_terminator`, `data_after_terminator`, `fault:<name>`,
    /// `undecodable_parameters`.
    pub anomalies: Vec<String>,
    /// Found by the heuristic detector, not an IDL.
    pub guess: bool,
    /// A chunk whose elements did not all arrive (the call ended, faulted, or the capture
    /// stopped inside it); it is not counted in `chunks`, `elements` or `bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_chunk: Option<PartialChunk>,
}

/// The chunk a pipe stopped in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartialChunk {
    /// Elements its count declared.
    pub count: u64,
    /// Whole elements present.
    pub elements: u64,
    /// Element bytes present.
    pub bytes: u64,
    /// Frame of the fragment where the chunk starts.
    pub frame: u64,
    /// Stub offset of its count.
    pub offset: u64,
}

/// How many whole elements the first `present` bytes of a chunk hold.
fn whole_elements(present: u64, (size, align): (u64, u64)) -> u64 {
    if present < size || size == 0 {
        return 0;
    }
    (present - size) / stride(size, align).max(1) + 1
}

/// Where the \[in\] pipes start in a request stub: the size of the parameters before them, or
/// `None` when more bytes are needed.
///
/// # Errors
/// [`NdrError`] when the parameters cannot be read with the description.
pub fn in_pipes_offset(
    plan: &OpPlan,
    stub: &[u8],
    little_endian: bool,
    syntax: Syntax,
) -> Result<Option<usize>, NdrError> {
    let stub = StubBytes {
        bytes: stub,
        direction: Direction::In,
        little_endian,
        syntax,
    };
    match parameters_end(plan, &plan.request[..plan.in_prefix], stub) {
        Ok(end) => Ok(Some(end)),
        Err(NdrError::Short { .. } | NdrError::Count { .. })
            if stub.bytes.len() < MAX_PREFIX_BYTES =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Count,
    Elements(u64),
    NegatedCount,
    Done,
}

/// Streaming decoder of the pipes of one direction of a call.
#[derive(Clone, Debug)]
pub struct PipeStream {
    specs: Arc<[PipeSpec]>,
    direction: &'static str,
    /// One per pipe of `specs`, made when its first count arrives (most calls carry none).
    reports: Vec<PipeReport>,
    /// The byte-pipe guess of a call no IDL describes (its reports name no parameter).
    guess: bool,
    current: usize,
    phase: Phase,
    /// Stub offset of the next byte fed.
    offset: u64,
    /// Stub offset where the first pipe starts (bytes before it are skipped).
    start: u64,
    little_endian: bool,
    ndr64: bool,
    /// The count word being read (4 bytes, 8 in NDR64): its first `word_filled` bytes.
    word: [u8; 8],
    word_filled: usize,
    word_at: u64,
    trailing: u64,
    /// The chunk whose elements are being read: counted once they have all arrived.
    pending: Option<Chunk>,
    /// Padding before the pending chunk's first element.
    pending_pad: u64,
}

impl PipeStream {
    /// A decoder for `specs` starting at stub offset `start`.
    #[must_use]
    pub fn new(
        specs: &[PipeSpec],
        direction: &'static str,
        start: u64,
        little_endian: bool,
        ndr64: bool,
        guess: bool,
    ) -> Self {
        Self::sharing(
            Arc::from(specs),
            direction,
            start,
            little_endian,
            ndr64,
            guess,
        )
    }

    /// Like [`PipeStream::new`], with descriptions shared with other decoders (the byte-pipe
    /// guess makes four per call).
    #[must_use]
    pub fn sharing(
        specs: Arc<[PipeSpec]>,
        direction: &'static str,
        start: u64,
        little_endian: bool,
        ndr64: bool,
        guess: bool,
    ) -> Self {
        Self {
            reports: Vec::new(),
            guess,
            specs: Arc::clone(&specs),
            direction,
            current: 0,
            phase: if specs.is_empty() {
                Phase::Done
            } else {
                Phase::Count
            },
            offset: 0,
            start,
            little_endian,
            ndr64,
            word: [0; 8],
            word_filled: 0,
            word_at: 0,
            trailing: 0,
            pending: None,
            pending_pad: 0,
        }
    }

    fn word_size(&self) -> u64 {
        if self.ndr64 { 8 } else { 4 }
    }

    /// Feeds the next stub bytes (of a fragment carried by `frame`).
    pub fn feed(&mut self, mut bytes: &[u8], frame: u64) {
        // Skip to the start of the pipes.
        if self.offset < self.start {
            let skip =
                usize::try_from((self.start - self.offset).min(bytes.len() as u64)).unwrap_or(0);
            bytes = &bytes[skip..];
            self.offset += skip as u64;
        }
        while !bytes.is_empty() {
            match self.phase {
                Phase::Done => {
                    self.trailing += bytes.len() as u64;
                    self.offset += bytes.len() as u64;
                    return;
                }
                Phase::Elements(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[usize::try_from(n).unwrap_or(0)..];
                    self.offset += n;
                    if left == n {
                        self.commit_chunk();
                    }
                    self.phase = if left == n {
                        if self.ndr64 {
                            Phase::NegatedCount
                        } else {
                            Phase::Count
                        }
                    } else {
                        Phase::Elements(left - n)
                    };
                }
                Phase::Count | Phase::NegatedCount => {
                    let w = self.word_size();
                    if self.word_filled == 0 {
                        let pad = (w - self.offset % w) % w;
                        if pad > 0 {
                            let n = pad.min(bytes.len() as u64);
                            bytes = &bytes[usize::try_from(n).unwrap_or(0)..];
                            self.offset += n;
                            continue;
                        }
                        self.word_at = self.offset;
                    }
                    let w = usize::try_from(w).unwrap_or(4).min(self.word.len());
                    let n = (w - self.word_filled).min(bytes.len());
                    self.word[self.word_filled..self.word_filled + n].copy_from_slice(&bytes[..n]);
                    self.word_filled += n;
                    bytes = &bytes[n..];
                    self.offset += n as u64;
                    if self.word_filled == w {
                        let value = self.take_word();
                        if self.phase == Phase::NegatedCount {
                            self.phase = if self.current >= self.specs.len() {
                                Phase::Done
                            } else {
                                Phase::Count
                            };
                        } else {
                            self.count(value, frame);
                        }
                    }
                }
            }
        }
    }

    fn take_word(&mut self) -> u64 {
        let mut a = [0u8; 8];
        let n = std::mem::take(&mut self.word_filled);
        if self.little_endian {
            a[..n].copy_from_slice(&self.word[..n]);
            u64::from_le_bytes(a)
        } else {
            a[8 - n..].copy_from_slice(&self.word[..n]);
            u64::from_be_bytes(a)
        }
    }

    /// The report of pipe `i`, made (with those before it) when first needed.
    fn report_mut(&mut self, i: usize) -> Option<&mut PipeReport> {
        if self.reports.is_empty() {
            self.reports.reserve_exact(self.specs.len());
        }
        while self.reports.len() <= i {
            let s = self.specs.get(self.reports.len())?;
            self.reports.push(PipeReport {
                param: (!self.guess).then(|| s.param.clone()),
                direction: self.direction,
                element_type: (!self.guess).then(|| s.element_type.clone()),
                chunks: Vec::new(),
                chunks_total: 0,
                elements: 0,
                bytes: 0,
                terminated: false,
                anomalies: Vec::new(),
                guess: self.guess,
                partial_chunk: None,
            });
        }
        self.reports.get_mut(i)
    }

    fn count(&mut self, count: u64, frame: u64) {
        let current = self.current;
        let Some(report) = self.report_mut(current) else {
            self.phase = Phase::Done;
            return;
        };
        if count == 0 {
            report.terminated = true;
            self.current += 1;
            // NDR64 ends a pipe with two zero words.
            self.phase = if self.ndr64 {
                Phase::NegatedCount
            } else if self.current >= self.specs.len() {
                Phase::Done
            } else {
                Phase::Count
            };
            return;
        }
        let element = self.specs[self.current].element;
        // Counts come from the wire: a hostile NDR64 count saturates rather than wrapping.
        let bytes = chunk_bytes(count, element, self.ndr64);
        let align = element.1.max(1);
        let pad = (align - self.offset % align) % align;
        self.pending = Some(Chunk {
            count,
            bytes,
            frame,
            offset: self.word_at,
        });
        self.pending_pad = pad;
        self.phase = Phase::Elements(bytes.saturating_add(pad));
    }

    /// Counts the chunk whose elements have all arrived.
    fn commit_chunk(&mut self) {
        let Some(chunk) = self.pending.take() else {
            return;
        };
        let current = self.current;
        let Some(report) = self.report_mut(current) else {
            return;
        };
        report.chunks_total += 1;
        report.elements = report.elements.saturating_add(chunk.count);
        report.bytes = report.bytes.saturating_add(chunk.bytes);
        if report.chunks.len() < MAX_REPORTED_CHUNKS {
            report.chunks.push(chunk);
        }
    }

    /// True when every pipe ended with its terminator, at least `min_chunks` non-empty chunks in
    /// all came before, and exactly `trailing` bytes followed (the heuristic detector's test).
    #[must_use]
    pub fn looks_whole(&self, min_chunks: u64, trailing: u64) -> bool {
        self.phase == Phase::Done
            && self.reports.len() == self.specs.len()
            && self.reports.iter().all(|r| r.terminated)
            && self.reports.iter().map(|r| r.chunks_total).sum::<u64>() >= min_chunks
            && self.trailing == trailing
    }

    /// Ends the direction: `ended` says whether its last fragment was seen; `fault` names a
    /// fault that ended the call. Returns the reports.
    #[must_use]
    pub fn finish(mut self, ended: bool, fault: Option<&str>) -> Vec<PipeReport> {
        if let Some(last) = self.specs.len().checked_sub(1) {
            let _ = self.report_mut(last);
        }
        let left_in_chunk = matches!(self.phase, Phase::Elements(_));
        if let (Phase::Elements(left), Some(chunk)) = (self.phase, self.pending.take()) {
            let planned = chunk.bytes.saturating_add(self.pending_pad);
            let present = planned
                .saturating_sub(left)
                .saturating_sub(self.pending_pad);
            let element = self.specs.get(self.current).map_or((1, 1), |s| s.element);
            if let Some(r) = self.reports.get_mut(self.current) {
                r.partial_chunk = Some(PartialChunk {
                    count: chunk.count,
                    elements: whole_elements(present, element).min(chunk.count),
                    bytes: present,
                    frame: chunk.frame,
                    offset: chunk.offset,
                });
            }
        }
        for (i, r) in self.reports.iter_mut().enumerate() {
            // The call ended (its last fragment, or a fault) inside a chunk's elements.
            if i == self.current && left_in_chunk && (ended || fault.is_some()) {
                r.anomalies.push("count_exceeds_data".into());
            }
            if !r.terminated {
                r.anomalies.push("missing_terminator".into());
                if let Some(f) = fault {
                    r.anomalies.push(format!("fault:{f}"));
                }
            }
        }
        if self.direction == "in" && self.trailing > 0 && self.reports.iter().all(|r| r.terminated)
        {
            // [in] pipes are the last parameters: nothing may follow them (a verification
            // trailer aside, which starts with its signature).
            if let Some(r) = self.reports.last_mut() {
                r.anomalies.push("data_after_terminator".into());
            }
        }
        self.reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::plan::layout;

    fn spec(size: u64, align: u64) -> PipeSpec {
        PipeSpec {
            param: "p".into(),
            element_type: "byte".into(),
            element: (size, align),
        }
    }

    /// An NDR byte pipe with the given chunk sizes, then the terminator and a return value.
    fn byte_pipe(chunks: &[u32]) -> Vec<u8> {
        let mut s = Vec::new();
        for &c in chunks {
            while s.len() % 4 != 0 {
                s.push(0);
            }
            s.extend(c.to_le_bytes());
            s.extend(std::iter::repeat_n(0x5a, c as usize));
        }
        while s.len() % 4 != 0 {
            s.push(0);
        }
        s.extend(0u32.to_le_bytes());
        s.extend(7u32.to_le_bytes());
        s
    }

    fn decode(stub: &[u8], split: usize) -> Vec<PipeReport> {
        let mut d = PipeStream::new(&[spec(1, 1)], "out", 0, true, false, false);
        for (i, part) in stub.chunks(split.max(1)).enumerate() {
            d.feed(part, i as u64 + 1);
        }
        d.finish(true, None)
    }

    #[test]
    fn any_fragmentation_yields_the_same_chunks() {
        let stub = byte_pipe(&[3, 1000, 1, 77]);
        let whole = decode(&stub, stub.len());
        assert_eq!(whole[0].chunks_total, 4);
        assert_eq!(whole[0].bytes, 1081);
        assert!(whole[0].terminated && whole[0].anomalies.is_empty());
        let offsets: Vec<u64> = whole[0].chunks.iter().map(|c| c.offset).collect();
        assert_eq!(offsets, [0, 8, 1012, 1020]);
        for split in [1, 2, 3, 5, 7, 64, 999] {
            let parts = decode(&stub, split);
            assert_eq!(
                parts[0]
                    .chunks
                    .iter()
                    .map(|c| (c.count, c.offset))
                    .collect::<Vec<_>>(),
                whole[0]
                    .chunks
                    .iter()
                    .map(|c| (c.count, c.offset))
                    .collect::<Vec<_>>(),
                "split {split}"
            );
            assert!(parts[0].terminated);
        }
    }

    #[test]
    fn reports_missing_terminator_and_excess_count() {
        let mut stub = byte_pipe(&[10]);
        stub.truncate(4 + 6);
        let r = decode(&stub, 3);
        assert_eq!(r[0].anomalies, ["count_exceeds_data", "missing_terminator"]);
    }

    #[test]
    fn a_pipe_cut_short_reports_its_whole_chunks_and_the_partial_one_apart() {
        let mut stub = byte_pipe(&[3, 1000, 20]);
        // the capture stops 7 bytes into the third chunk's elements
        stub.truncate(8 + 1004 + 4 + 7);
        let mut d = PipeStream::new(&[spec(1, 1)], "out", 0, true, false, false);
        d.feed(&stub, 9);
        let r = d.finish(false, None);
        assert_eq!(
            (r[0].chunks_total, r[0].elements, r[0].bytes),
            (2, 1003, 1003)
        );
        let p = r[0].partial_chunk.clone().unwrap();
        assert_eq!((p.count, p.elements, p.bytes, p.offset), (20, 7, 7, 1012));
        assert_eq!(
            r[0].anomalies,
            ["missing_terminator"],
            "cut, not contradicted"
        );
    }

    /// NDR 2.0 (C706 §14.3.11): elements of a struct aligned to 8 are padded between each
    /// other but not after the last one, whose next count is aligned to 4 only; NDR64 pads
    /// the last element too.
    #[test]
    fn struct_elements_aligned_to_8_have_no_padding_after_the_last() {
        let mut lib = crate::idl::parse(
            "typedef struct { hyper h; byte b; } HB; typedef pipe HB HB_PIPE;",
            "hb.idl",
        )
        .unwrap();
        lib.link();
        let element = layout(&lib, &crate::idl::Type::Named("HB".into())).unwrap();
        assert_eq!(element, (9, 8));
        assert_eq!(chunk_bytes(3, element, false), 16 + 16 + 9);
        assert_eq!(chunk_bytes(3, element, true), 48);
        // count 2 (4 bytes), 4 bytes to align to 8, 16 + 9, then count 1 at 4-alignment:
        // offset 33 -> 36, 4 bytes to 40, 9, then the terminator at 52.
        let mut s = Vec::new();
        s.extend(2u32.to_le_bytes());
        s.extend([0; 4]);
        s.extend([0xaa; 25]);
        s.extend([0; 3]);
        s.extend(1u32.to_le_bytes());
        s.extend([0xbb; 9]);
        s.extend([0; 3]);
        s.extend(0u32.to_le_bytes());
        let mut d = PipeStream::new(&[spec(9, 8)], "in", 0, true, false, false);
        d.feed(&s, 1);
        let r = d.finish(true, None);
        let counts: Vec<(u64, u64)> = r[0].chunks.iter().map(|c| (c.count, c.offset)).collect();
        assert_eq!(counts, [(2, 0), (1, 36)]);
        assert!(r[0].terminated && r[0].anomalies.is_empty(), "{:?}", r[0]);
        assert_eq!(r[0].bytes, 25 + 9);
    }

    #[test]
    fn ndr64_chunks_repeat_the_count_negated() {
        let mut s = Vec::new();
        s.extend(3u64.to_le_bytes());
        s.extend([1, 2, 3]);
        s.extend([0; 5]);
        s.extend((-3i64).to_le_bytes());
        s.extend(0u64.to_le_bytes());
        s.extend(0u64.to_le_bytes());
        let mut d = PipeStream::new(&[spec(1, 1)], "in", 0, true, true, false);
        d.feed(&s, 1);
        let r = d.finish(true, None);
        assert_eq!(
            (r[0].chunks_total, r[0].bytes, r[0].terminated),
            (1, 3, true)
        );
        assert!(r[0].anomalies.is_empty(), "{:?}", r[0].anomalies);
    }

    #[test]
    fn builtin_efsr_raw_operations_have_byte_pipes() {
        let lib = crate::idl::builtin::library().unwrap();
        let efsr = lib.interfaces.iter().find(|i| i.name == "efsrpc").unwrap();
        let read = lib.plan(efsr, 1).unwrap();
        assert_eq!(read.out_pipes[0].element, (1, 1));
        let write = lib.plan(efsr, 2).unwrap();
        assert_eq!(write.in_pipes[0].param, "EfsInPipe");
        // The context handle before the [in] pipe is 20 bytes.
        let mut stub = vec![0u8; 20];
        stub.extend(byte_pipe(&[5]));
        let start = in_pipes_offset(&write, &stub, true, Syntax::Ndr).unwrap();
        assert_eq!(start, Some(20));
        assert!(lib.interfaces.iter().any(|i| i.name == "epm"));
    }
}
