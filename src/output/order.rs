//! Output layer: finished calls put back in capture order. The engine hands calls over as they
//! end, with the frame below which the order is settled ([`crate::outbox::Outbox::settled`]);
//! these buffers hold each call until it is settled and then release it, so the output is
//! sorted by [`OrderKey`] (first frame, last frame, call id), ties in the order calls ended.
//!
//! A call that never gets an answer holds back every later call until its connection ends,
//! often the end of the capture, so what waits grows with the capture:
//! - [`InOrder`] keeps values in memory, at most [`MAX_HELD_CALLS`]; beyond that the earliest
//!   are released out of order and counted (the library's callbacks and the terminal
//!   interface, which keep every call anyway).
//! - [`OrderedLines`] keeps rendered output lines, at most [`MAX_HELD_BYTES`] in memory; beyond
//!   that they are sorted and written to an unlinked temporary file (a run), and runs are
//!   merged as calls are released, so memory stays flat whatever the capture's size (the
//!   command line's `calls`). At most [`MAX_SPILL_RUNS`] runs exist at once: more are merged
//!   into one. When no temporary file can be made, lines beyond the budget are released out of
//!   order and counted.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Where a call sorts in the output: first frame, last frame, call id.
pub type OrderKey = (u64, u64, u32);

/// Calls held in memory by [`InOrder`]; beyond this the earliest are released out of order.
pub const MAX_HELD_CALLS: usize = 100_000;
/// Bytes of rendered lines [`OrderedLines`] holds in memory before writing them to a run.
pub const MAX_HELD_BYTES: usize = 16 << 20;
/// Spilled runs [`OrderedLines`] merges from at once; one more merges them into one.
pub const MAX_SPILL_RUNS: usize = 32;
/// Read buffer of each spilled run.
const RUN_BUFFER_BYTES: usize = 64 << 10;
/// Per-line bookkeeping counted against [`MAX_HELD_BYTES`] besides the line itself.
const HELD_OVERHEAD_BYTES: usize = 48;

/// One held item with its place.
#[derive(Debug)]
struct Held<T> {
    key: OrderKey,
    /// Order of arrival, for ties.
    seq: u64,
    item: T,
}

impl<T> Held<T> {
    fn place(&self) -> (OrderKey, u64) {
        (self.key, self.seq)
    }
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.place() == other.place()
    }
}

impl<T> Eq for Held<T> {}

impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.place().cmp(&other.place())
    }
}

/// Values held in memory until their place in the output is settled.
#[derive(Debug)]
pub struct InOrder<T> {
    heap: BinaryHeap<Reverse<Held<T>>>,
    seq: u64,
    out_of_order: u64,
    first_out_of_order: Option<u64>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            out_of_order: 0,
            first_out_of_order: None,
        }
    }
}

impl<T> InOrder<T> {
    /// Holds `item`, which sorts at `key`.
    pub fn push(&mut self, key: OrderKey, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Held {
            key,
            seq: self.seq,
            item,
        }));
    }

    /// Hands to `emit`, in order, every item that sorts before first frame `settled` (and the
    /// earliest beyond [`MAX_HELD_CALLS`], counted as out of order).
    ///
    /// # Errors
    /// What `emit` returns.
    pub fn release<E>(
        &mut self,
        settled: u64,
        mut emit: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(Reverse(top)) = self.heap.peek() {
            let over_limit = self.heap.len() > MAX_HELD_CALLS;
            if top.key.0 >= settled && !over_limit {
                break;
            }
            if top.key.0 >= settled {
                self.out_of_order += 1;
                self.first_out_of_order.get_or_insert(top.key.0);
            }
            if let Some(Reverse(h)) = self.heap.pop() {
                emit(h.item)?;
            }
        }
        Ok(())
    }

    /// Items released before their turn because more than [`MAX_HELD_CALLS`] waited, and the
    /// first frame of the first of them.
    #[must_use]
    pub fn out_of_order(&self) -> (u64, Option<u64>) {
        (self.out_of_order, self.first_out_of_order)
    }
}

/// A sorted run of lines in a temporary file, read back one line at a time.
#[derive(Debug)]
struct SpillRun {
    reader: BufReader<File>,
    head: Option<Held<Vec<u8>>>,
}

impl SpillRun {
    /// Writes `lines` (sorted) to a new unlinked temporary file and opens it for reading.
    fn write(lines: impl Iterator<Item = Held<Vec<u8>>>) -> io::Result<Self> {
        let mut w = BufWriter::with_capacity(RUN_BUFFER_BYTES, tempfile::tempfile()?);
        for h in lines {
            write_held(&mut w, &h)?;
        }
        let mut file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        let mut run = Self {
            reader: BufReader::with_capacity(RUN_BUFFER_BYTES, file),
            head: None,
        };
        run.advance()?;
        Ok(run)
    }

    /// Takes the head and reads the next line.
    fn advance(&mut self) -> io::Result<Option<Held<Vec<u8>>>> {
        let next = read_held(&mut self.reader)?;
        Ok(std::mem::replace(&mut self.head, next))
    }
}

/// Length of a spilled line's header: first frame, last frame, call id, seq, line length.
const SPILL_HEADER_BYTES: usize = 8 + 8 + 4 + 8 + 4;

fn write_held(w: &mut impl Write, h: &Held<Vec<u8>>) -> io::Result<()> {
    let len = u32::try_from(h.item.len())
        .map_err(|_| io::Error::other("an output line longer than 4 GiB"))?;
    let mut header = [0u8; SPILL_HEADER_BYTES];
    header[0..8].copy_from_slice(&h.key.0.to_le_bytes());
    header[8..16].copy_from_slice(&h.key.1.to_le_bytes());
    header[16..20].copy_from_slice(&h.key.2.to_le_bytes());
    header[20..28].copy_from_slice(&h.seq.to_le_bytes());
    header[28..32].copy_from_slice(&len.to_le_bytes());
    w.write_all(&header)?;
    w.write_all(&h.item)
}

/// The next line of a run; `None` at its end.
fn read_held(r: &mut impl Read) -> io::Result<Option<Held<Vec<u8>>>> {
    let mut header = [0u8; SPILL_HEADER_BYTES];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let u32_at = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&header[i..i + 4]);
        u32::from_le_bytes(b)
    };
    // the file is our own, written just before; a length still only sizes what it holds
    let mut item = Vec::new();
    let len = u64::from(u32_at(28));
    r.take(len).read_to_end(&mut item)?;
    if item.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(Held {
        key: (u64_at(0), u64_at(8), u32_at(16)),
        seq: u64_at(20),
        item,
    }))
}

/// Rendered output lines held until their place is settled, then written to `out` in order;
/// past [`MAX_HELD_BYTES`] they wait in temporary files.
#[derive(Debug)]
pub struct OrderedLines<W: Write> {
    out: W,
    memory: BinaryHeap<Reverse<Held<Vec<u8>>>>,
    memory_bytes: usize,
    runs: Vec<SpillRun>,
    seq: u64,
    stats: OrderStats,
    /// [`MAX_HELD_BYTES`] and [`MAX_SPILL_RUNS`] (smaller in tests).
    max_memory_bytes: usize,
    max_runs: usize,
}

/// What holding lines cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderStats {
    /// Runs written to temporary files (merges included).
    pub runs_written: u64,
    /// Lines written to temporary files (again when merged).
    pub lines_spilled: u64,
    /// Lines written before their turn because no temporary file could be made.
    pub out_of_order: u64,
    /// Why no temporary file could be made, the first time.
    pub spill_error: Option<String>,
}

impl<W: Write> OrderedLines<W> {
    /// Writes lines to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            memory: BinaryHeap::new(),
            memory_bytes: 0,
            runs: Vec::new(),
            seq: 0,
            stats: OrderStats::default(),
            max_memory_bytes: MAX_HELD_BYTES,
            max_runs: MAX_SPILL_RUNS,
        }
    }

    /// Holds `line`, which sorts at `key`.
    ///
    /// # Errors
    /// Writing to `out` failed (only when no temporary file can be made and the line goes out
    /// of order) or a temporary file could not be read back.
    pub fn push(&mut self, key: OrderKey, line: Vec<u8>) -> io::Result<()> {
        self.seq += 1;
        self.memory_bytes += line.len() + HELD_OVERHEAD_BYTES;
        self.memory.push(Reverse(Held {
            key,
            seq: self.seq,
            item: line,
        }));
        if self.memory_bytes > self.max_memory_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes, in order, every line that sorts before first frame `settled`; true when any was.
    ///
    /// # Errors
    /// Writing to `out` or reading a temporary file failed.
    pub fn release(&mut self, settled: u64) -> io::Result<bool> {
        let mut wrote = false;
        loop {
            // the smallest of the memory's top and the runs' heads
            let mut best: Option<(Option<usize>, (OrderKey, u64))> =
                self.memory.peek().map(|Reverse(h)| (None, h.place()));
            for (i, run) in self.runs.iter().enumerate() {
                if let Some(h) = &run.head
                    && best.is_none_or(|(_, p)| h.place() < p)
                {
                    best = Some((Some(i), h.place()));
                }
            }
            let Some((source, (key, _))) = best else {
                break;
            };
            if key.0 >= settled {
                break;
            }
            let line = match source {
                None => self.memory.pop().map(|Reverse(h)| {
                    self.memory_bytes -= h.item.len() + HELD_OVERHEAD_BYTES;
                    h.item
                }),
                Some(i) => self.runs[i].advance()?.map(|h| h.item),
            };
            if let Some(line) = line {
                self.out.write_all(&line)?;
                wrote = true;
            }
        }
        self.runs.retain(|r| r.head.is_some());
        Ok(wrote)
    }

    /// Moves the lines held in memory to a new run; merges the runs when there are too many.
    fn spill(&mut self) -> io::Result<()> {
        if self.stats.spill_error.is_some() {
            return self.release_earliest();
        }
        // ascending by `Reverse`, so the latest line first
        let lines = std::mem::take(&mut self.memory).into_sorted_vec();
        let count = lines.len() as u64;
        let run = match SpillRun::write(lines.into_iter().rev().map(|Reverse(h)| h)) {
            Ok(run) => run,
            Err(e) => {
                self.stats.spill_error = Some(e.to_string());
                return self.release_earliest();
            }
        };
        self.memory_bytes = 0;
        self.stats.runs_written += 1;
        self.stats.lines_spilled += count;
        self.runs.push(run);
        if self.runs.len() > self.max_runs {
            self.merge_runs()?;
        }
        Ok(())
    }

    /// Replaces every run by one holding all their lines.
    fn merge_runs(&mut self) -> io::Result<()> {
        let mut runs = std::mem::take(&mut self.runs);
        let mut failed = None;
        let mut count = 0;
        let merged = SpillRun::write(std::iter::from_fn(|| {
            let i = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.head.as_ref().map(|h| (h.place(), i)))
                .min()?
                .1;
            match runs[i].advance() {
                Ok(h) => {
                    count += 1;
                    h
                }
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        }));
        if let Some(e) = failed {
            return Err(e);
        }
        self.runs.push(merged?);
        self.stats.runs_written += 1;
        self.stats.lines_spilled += count;
        Ok(())
    }

    /// Without temporary files: writes the earliest lines before their turn until the memory
    /// is within its budget again.
    fn release_earliest(&mut self) -> io::Result<()> {
        while self.memory_bytes > self.max_memory_bytes / 2 {
            let Some(Reverse(h)) = self.memory.pop() else {
                break;
            };
            self.memory_bytes -= h.item.len() + HELD_OVERHEAD_BYTES;
            self.stats.out_of_order += 1;
            self.out.write_all(&h.item)?;
        }
        Ok(())
    }

    /// The output, to flush it.
    pub fn output(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes every line still held and returns what holding them cost.
    ///
    /// # Errors
    /// Writing to `out` or reading a temporary file failed.
    pub fn finish(mut self) -> io::Result<(W, OrderStats)> {
        self.release(u64::MAX)?;
        Ok((self.out, self.stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys in a scrambled but deterministic order, some sharing a first frame.
    fn scrambled(n: u64) -> Vec<OrderKey> {
        (0..n)
            .map(|i| {
                let first = (i * 7919) % n / 3;
                (first, first + i % 5, (i % 4) as u32)
            })
            .collect()
    }

    fn line(key: OrderKey, pad: usize) -> Vec<u8> {
        let mut l = format!("{} {} {}", key.0, key.1, key.2).into_bytes();
        l.resize(l.len() + pad, b'.');
        l.push(b'\n');
        l
    }

    #[test]
    fn in_order_releases_only_settled_items_sorted() {
        let mut q = InOrder::default();
        q.push((20, 21, 2), "b");
        q.push((10, 40, 1), "a");
        q.push((10, 40, 1), "a2");
        let mut out = Vec::new();
        q.release(10, |x| {
            out.push(x);
            Ok::<(), ()>(())
        })
        .ok();
        assert!(out.is_empty(), "nothing sorts before frame 10");
        q.release(21, |x| {
            out.push(x);
            Ok::<(), ()>(())
        })
        .ok();
        assert_eq!(out, ["a", "a2", "b"], "ties in the order they came");
        assert_eq!(q.out_of_order(), (0, None));
    }

    #[test]
    fn in_order_past_its_limit_releases_the_earliest_and_counts_them() {
        let mut q = InOrder::default();
        for i in 0..=MAX_HELD_CALLS as u64 {
            q.push((i + 2, i + 2, 7), i);
        }
        let mut n = 0;
        q.release(1, |_| {
            n += 1;
            Ok::<(), ()>(())
        })
        .ok();
        assert_eq!(n, 1);
        assert_eq!(q.out_of_order(), (1, Some(2)));
    }

    /// Pushes `keys` with lines of `pad` extra bytes, settling after each push at the smallest
    /// first frame still to come, and returns the output and the stats.
    fn through_lines(keys: &[OrderKey], pad: usize) -> (Vec<u8>, OrderStats) {
        let mut q = OrderedLines::new(Vec::new());
        q.max_memory_bytes = 64 << 10;
        q.max_runs = 4;
        let mut min_after = vec![u64::MAX; keys.len() + 1];
        for (i, k) in keys.iter().enumerate().rev() {
            min_after[i] = min_after[i + 1].min(k.0);
        }
        for (i, &k) in keys.iter().enumerate() {
            assert!(q.push(k, line(k, pad)).is_ok());
            assert!(q.release(min_after[i + 1]).is_ok());
        }
        q.finish()
            .map_or_else(|e| panic!("{e}"), |(out, stats)| (out, stats))
    }

    fn expected(keys: &[OrderKey], pad: usize) -> Vec<u8> {
        let mut sorted: Vec<(OrderKey, usize)> =
            keys.iter().enumerate().map(|(i, &k)| (k, i)).collect();
        sorted.sort();
        sorted.iter().flat_map(|&(k, _)| line(k, pad)).collect()
    }

    #[test]
    fn lines_held_in_memory_come_out_sorted() {
        let keys = scrambled(800);
        let (out, stats) = through_lines(&keys, 0);
        assert_eq!(out, expected(&keys, 0));
        assert_eq!(stats.runs_written, 0, "800 short lines fit in 64 KiB");
    }

    #[test]
    fn lines_spilled_to_runs_and_merged_come_out_sorted() {
        // every line waits behind the last (first frame 0), so all are held: 64 KiB of
        // memory makes a run every ~440 lines, and more than 4 runs are merged
        let mut keys = scrambled(20_000);
        keys.retain(|k| k.0 != 0);
        keys.push((0, 0, 0));
        let (out, stats) = through_lines(&keys, 100);
        assert!(
            stats.runs_written > 40,
            "runs written and merged: {stats:?}"
        );
        assert_eq!(stats.out_of_order, 0);
        assert!(out == expected(&keys, 100), "output not in order");
    }
}
