//! TCP segments captured late: moving data segments of real captures later by up to
//! [`MAX_SHIFT`] packets (after the peer's acknowledgement of them, and after its answer)
//! changes no call. Captures: `captures/real` and, when present, `../shared/corpus`. With
//! `LATE_SEGMENTS_KEEP=DIR`, the shuffled captures whose calls differ are written to DIR.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rpcscope::link::{self, Decoded};
use rpcscope::source::file::CaptureReader;
use support::{XorShift, pcap_records, real_pcaps};

/// Packets a segment is moved later by, at most.
const MAX_SHIFT: usize = 8;
/// Captures larger than this are left out (the test reads each several times).
const MAX_CAPTURE_BYTES: u64 = 4 * 1024 * 1024;

/// Per record: true for a TCP segment with payload that may be moved, and whether it ends a
/// connection (FIN or RST: nothing is moved past it). The first data segment of each direction
/// stays: in a connection whose handshake was not captured it is where the stream starts.
fn kinds(capture: &[u8]) -> Vec<(bool, bool)> {
    let mut reader = CaptureReader::new(capture).unwrap();
    let mut out = Vec::new();
    let mut started = HashSet::new();
    while let Ok(Some(frame)) = reader.next_frame() {
        out.push(match link::decode(frame.link_type, frame.data) {
            Ok(Decoded::Tcp(seg)) => (
                !seg.payload.is_empty() && !seg.flags.syn && !started.insert((seg.src, seg.dst)),
                seg.flags.fin || seg.flags.rst,
            ),
            _ => (false, false),
        });
    }
    out
}

/// The capture with about one data segment in `one_in` moved later by 1 to [`MAX_SHIFT`]
/// packets (never past a FIN or RST), and how many were moved.
fn delay_segments(capture: &[u8], seed: u64, one_in: u64) -> Option<(Vec<u8>, usize)> {
    let (header, records) = pcap_records(capture)?;
    let kinds = kinds(capture);
    if kinds.len() != records.len() {
        return None;
    }
    let mut rng = XorShift(seed);
    let mut order: Vec<usize> = (0..records.len()).collect();
    let mut moved = 0;
    let mut was_moved = vec![false; records.len()];
    let mut i = 0;
    while i < order.len() {
        let r = order[i];
        if kinds[r].0 && !was_moved[r] && rng.next() % one_in == 0 {
            let shift = 1 + (rng.next() % MAX_SHIFT as u64) as usize;
            let mut to = i;
            while to + 1 < order.len() && to - i < shift && !kinds[order[to + 1]].1 {
                to += 1;
            }
            if to > i {
                let item = order.remove(i);
                order.insert(to, item);
                was_moved[r] = true;
                moved += 1;
                continue;
            }
        }
        i += 1;
    }
    let mut out = header.to_vec();
    for r in order {
        out.extend_from_slice(records[r]);
    }
    Some((out, moved))
}

/// What a call is, apart from the frames it was read from: its connection, ids, operation,
/// sizes, outcome and status.
fn calls_of(capture: &[u8]) -> BTreeMap<String, usize> {
    let (calls, _) = rpcscope::analyze(capture).unwrap();
    let mut out = BTreeMap::new();
    for c in calls {
        let v = support::call_json(&c);
        let key = serde_json::json!([
            v["client"],
            v["server"],
            v["pipe"],
            v["call_id"],
            v["context_id"],
            v["interface"]["uuid"],
            v["opnum"],
            v["operation"],
            v["request"]["fragments"],
            v["request"]["stub_len"],
            v["response"]["fragments"],
            v["response"]["stub_len"],
            v["outcome"],
            v["fault_status"],
            v["status"]["code"],
            v["auth_type"],
        ])
        .to_string();
        *out.entry(key).or_default() += 1;
    }
    out
}

#[test]
fn segments_captured_up_to_eight_packets_late_change_no_call() {
    let mut checked = 0;
    let mut moved_total = 0;
    let mut failures = Vec::new();
    for path in real_pcaps(MAX_CAPTURE_BYTES) {
        let capture = std::fs::read(&path).unwrap();
        let baseline = calls_of(&capture);
        if baseline.is_empty() {
            continue;
        }
        for seed in [0x9e37_79b9_7f4a_7c15, 0x2545_f491_4f6c_dd1d] {
            let Some((late, moved)) = delay_segments(&capture, seed, 4) else {
                continue;
            };
            checked += 1;
            moved_total += moved;
            let got = calls_of(&late);
            if got != baseline {
                if let Some(dir) = std::env::var_os("LATE_SEGMENTS_KEEP") {
                    let name = format!("{}-{seed:x}.pcap", path.file_stem().unwrap().display());
                    std::fs::write(Path::new(&dir).join(name), &late).unwrap();
                }
                let lost: Vec<_> = baseline.keys().filter(|k| !got.contains_key(*k)).collect();
                failures.push(format!(
                    "{} (seed {seed:#x}, {moved} segments moved): {} of {} calls differ, e.g. {:?}",
                    path.display(),
                    lost.len(),
                    baseline.len(),
                    lost.first()
                ));
            }
        }
    }
    eprintln!("{checked} shuffled captures, {moved_total} segments moved");
    assert!(checked >= 50, "only {checked} captures could be shuffled");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
