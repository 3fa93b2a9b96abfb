//! Mutated real captures: bit flips, truncation, dropped, duplicated and reordered records, and
//! lying length fields (pcap record lengths, DCE/RPC fragment and auth lengths, NetBIOS and SMB2
//! lengths) in a sample of `captures/real` and, when present, `../shared/corpus`. The binary
//! runs `calls --json --decode` and `summary --json` on each mutant: it must exit 0 or 1 (a
//! damaged file) with no panic, finish in bounded time (a hang guard far above any real run,
//! not a speed measure), stay under the documented 256 MiB peak memory, and write valid JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{XorShift, pcap_records, real_pcaps, wait_measuring};

/// Captures mutated (spread over the sorted list of candidates).
const SAMPLE: usize = 12;
/// Mutants per capture and kind of mutation.
const MUTANTS: usize = 3;
/// A run taking longer than this is a hang.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// The documented peak memory budget (docs/robustness.md).
const MEMORY_BUDGET_KIB: u64 = 256 * 1024;
/// Candidate captures larger than this are left out.
const MAX_CAPTURE_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
enum Mutation {
    BitFlips,
    Truncation,
    DropRecords,
    DuplicateRecords,
    ReorderRecords,
    LengthLies,
}

const MUTATIONS: [Mutation; 6] = [
    Mutation::BitFlips,
    Mutation::Truncation,
    Mutation::DropRecords,
    Mutation::DuplicateRecords,
    Mutation::ReorderRecords,
    Mutation::LengthLies,
];

/// Values a lying length field takes.
const LIES: [u32; 8] = [0, 1, 15, 16, 0x7fff, 0xffff, 0x00ff_ffff, 0xffff_ffff];

fn mutate(capture: &[u8], how: Mutation, rng: &mut XorShift) -> Vec<u8> {
    let Some((header, records)) = pcap_records(capture) else {
        return capture.to_vec();
    };
    let mut records: Vec<Vec<u8>> = records.into_iter().map(<[u8]>::to_vec).collect();
    let n = records.len().max(1);
    match how {
        Mutation::BitFlips => {
            for _ in 0..1 + rng.below(64) {
                let r = &mut records[rng.below(n)];
                if r.len() > 16 {
                    let at = 16 + rng.below(r.len() - 16);
                    r[at] ^= 1 << rng.below(8);
                }
            }
        }
        Mutation::Truncation => {
            let mut out = header.to_vec();
            records.iter().for_each(|r| out.extend_from_slice(r));
            out.truncate(24 + rng.below(out.len() - 24));
            return out;
        }
        Mutation::DropRecords => {
            for _ in 0..1 + rng.below(n / 4 + 1) {
                if records.len() > 1 {
                    let i = rng.below(records.len());
                    records.remove(i);
                }
            }
        }
        Mutation::DuplicateRecords => {
            for _ in 0..1 + rng.below(n / 4 + 1) {
                let i = rng.below(records.len());
                let copy = records[i].clone();
                let to = (i + rng.below(16)).min(records.len());
                records.insert(to, copy);
            }
        }
        Mutation::ReorderRecords => {
            for _ in 0..1 + rng.below(n / 2 + 1) {
                let i = rng.below(records.len());
                let j = (i + 1 + rng.below(32)).min(records.len() - 1);
                records.swap(i, j);
            }
        }
        Mutation::LengthLies => {
            for _ in 0..1 + rng.below(16) {
                let r = &mut records[rng.below(n)];
                lie_about_a_length(r, rng);
            }
        }
    }
    let mut out = header.to_vec();
    records.iter().for_each(|r| out.extend_from_slice(r));
    out
}

/// Rewrites one length field of a record: the record's own captured length, or a DCE/RPC
/// fragment or auth length, a NetBIOS session length or an SMB2 structure size found in it.
fn lie_about_a_length(record: &mut [u8], rng: &mut XorShift) {
    let lie = LIES[rng.below(LIES.len())];
    let data = 16;
    let dce = record
        .windows(4)
        .position(|w| w[0] == 5 && w[1] == 0 && w[2] <= 20 && w[3] & 0x03 != 0)
        .filter(|&at| at >= data && at + 12 <= record.len());
    let smb2 = record
        .windows(4)
        .position(|w| w == b"\xfeSMB")
        .filter(|&at| at >= data + 4);
    match (rng.below(4), dce, smb2) {
        (0, _, _) => record[8..12].copy_from_slice(&lie.to_le_bytes()),
        (1, Some(at), _) => record[at + 8..at + 10].copy_from_slice(&(lie as u16).to_le_bytes()),
        (2, Some(at), _) => record[at + 10..at + 12].copy_from_slice(&(lie as u16).to_le_bytes()),
        (_, _, Some(at)) => record[at - 3..at].copy_from_slice(&lie.to_be_bytes()[1..]),
        _ => record[8..12].copy_from_slice(&lie.to_le_bytes()),
    }
}

/// Runs the binary on `file`; returns exit code, stdout, stderr and the peak memory seen.
fn run(args: &[&str], file: &Path) -> (Option<i32>, String, String, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(args)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = (String::new(), String::new());
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        (o, e)
    });
    let what = format!("{} {args:?}", file.display());
    let (status, peak) = wait_measuring(&mut child, HANG_GUARD, &what);
    let (o, e) = reader.join().unwrap();
    (status.code(), o, e, peak)
}

/// [`SAMPLE`] pcaps spread over the candidates.
fn sample() -> Vec<PathBuf> {
    let all: Vec<PathBuf> = real_pcaps(MAX_CAPTURE_BYTES)
        .into_iter()
        .filter(|p| pcap_records(&std::fs::read(p).unwrap()).is_some())
        .collect();
    let step = (all.len() / SAMPLE).max(1);
    all.into_iter().step_by(step).take(SAMPLE).collect()
}

#[test]
fn mutated_captures_never_panic_hang_or_overspend_and_give_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = 0;
    let mut failures = Vec::new();
    let captures = sample();
    assert!(
        captures.len() >= 10,
        "only {} captures to mutate",
        captures.len()
    );
    for (c, path) in captures.iter().enumerate() {
        let capture = std::fs::read(path).unwrap();
        for how in MUTATIONS {
            for m in 0..MUTANTS {
                let seed = 0x5851_f42d_4c95_7f2d ^ (((c * 64 + m) as u64 + 1) * 0x9e37_79b9);
                let mut rng = XorShift(seed);
                let mutant = mutate(&capture, how, &mut rng);
                let file = dir.path().join(format!("{c}-{how:?}-{m}.pcap"));
                std::fs::write(&file, &mutant).unwrap();
                for args in [&["calls", "--json", "--decode"][..], &["summary", "--json"]] {
                    runs += 1;
                    let (code, out, err, peak) = run(args, &file);
                    let what = format!("{} {how:?} #{m} {args:?}", path.display());
                    if !matches!(code, Some(0 | 1)) || err.contains("panicked") {
                        failures.push(format!("{what}: exit {code:?}: {err}"));
                    }
                    if peak > MEMORY_BUDGET_KIB {
                        failures.push(format!("{what}: peak {peak} KiB"));
                    }
                    for line in out.lines() {
                        if serde_json::from_str::<serde_json::Value>(line).is_err() {
                            failures.push(format!("{what}: not JSON: {line:.200}"));
                            break;
                        }
                    }
                }
            }
        }
    }
    eprintln!("{runs} runs on {} mutated captures", runs / 2);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
