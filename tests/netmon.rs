//! Network Monitor 2.x captures (`.cap`): the same traffic as a pcap gives the same calls and
//! the same summary. The NetMon files come from Wireshark's writer (`editcap -F netmon2`) for
//! every shipped capture it can convert, and, for the versions it does not write (2.1 with
//! NetMon's own frames, 2.3 with UTC times per frame), from the converter below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

fn rpcscope(args: &[&str]) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    all.sort();
    all
}

#[test]
fn wiresharks_netmon_files_give_the_calls_and_summary_of_the_pcap() {
    if Command::new("editcap").arg("-h").output().is_err() {
        assert!(
            std::env::var_os("RPCSCOPE_REQUIRE_TSHARK").is_none(),
            "editcap (Wireshark) is required here"
        );
        eprintln!("SKIPPED: editcap (Wireshark) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut converted = 0;
    for pcap in shipped() {
        let cap = dir
            .path()
            .join(pcap.file_stem().unwrap())
            .with_extension("cap");
        // the header's start time is written in local time; UTC keeps it the capture's
        let o = Command::new("editcap")
            .env("TZ", "UTC")
            .args(["-F", "netmon2"])
            .arg(&pcap)
            .arg(&cap)
            .output()
            .unwrap();
        if !o.status.success() {
            // a link type NetMon cannot hold (Linux cooked capture, loopback)
            continue;
        }
        converted += 1;
        let (pcap, cap) = (pcap.to_str().unwrap(), cap.to_str().unwrap());
        for command in [
            &["calls", "--json"][..],
            &["summary", "--json"],
            &["pdus", "--json"],
        ] {
            let from_pcap = rpcscope(&[command, &[pcap]].concat());
            let from_cap = rpcscope(&[command, &[cap]].concat());
            assert!(from_pcap == from_cap, "{command:?} differs on {cap}");
        }
    }
    assert!(converted >= 40, "only {converted} captures converted");
}

/// NetMon 2.`minor` bytes of a classic little-endian Ethernet pcap, each frame with the
/// trailer of its version, then `extra` NetMon frames of media type `network` with `body`.
fn netmon_of(pcap: &[u8], minor: u8, extra: &[(u16, &[u8])]) -> Vec<u8> {
    let (_, records) = support::pcap_records(pcap).unwrap();
    let time = |r: &[u8]| {
        let at = |i: usize| u64::from(u32::from_le_bytes(r[i..i + 4].try_into().unwrap()));
        (at(0), at(4))
    };
    let (first_secs, _) = time(records[0]);
    let mut out = vec![0u8; 128];
    let mut table = Vec::new();
    let mut frame = |out: &mut Vec<u8>, us: u64, orig: u32, data: &[u8], network: u16| {
        table.push(u32::try_from(out.len()).unwrap());
        out.extend((us - first_secs * 1_000_000).to_le_bytes());
        out.extend(orig.to_le_bytes());
        out.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        out.extend(data);
        out.extend(network.to_le_bytes());
        if minor >= 2 {
            out.extend(0u32.to_le_bytes());
        }
        if minor >= 3 {
            let filetime = (us / 1_000_000 + 11_644_473_600) * 10_000_000 + us % 1_000_000 * 10;
            out.extend(filetime.to_le_bytes());
            out.push(0);
        }
    };
    let mut last_us = 0;
    for r in &records {
        let (secs, micros) = time(r);
        let orig = u32::from_le_bytes(r[12..16].try_into().unwrap());
        last_us = secs * 1_000_000 + micros;
        frame(&mut out, last_us, orig, &r[16..], 1);
    }
    for (network, body) in extra {
        frame(
            &mut out,
            last_us,
            u32::try_from(body.len()).unwrap(),
            body,
            *network,
        );
    }
    let table_offset = u32::try_from(out.len()).unwrap();
    for t in &table {
        out.extend(t.to_le_bytes());
    }
    out[..4].copy_from_slice(b"GMBU");
    out[4] = minor;
    out[5] = 2;
    out[6..8].copy_from_slice(&1u16.to_le_bytes());
    // the start time: the first frame's second, 1970-01-01 plus that many seconds
    let days = first_secs / 86_400;
    let rest = first_secs % 86_400;
    let date = civil(i64::try_from(days).unwrap());
    let fields = [
        date.0,
        date.1,
        0,
        date.2,
        u16::try_from(rest / 3600).unwrap(),
        u16::try_from(rest % 3600 / 60).unwrap(),
        u16::try_from(rest % 60).unwrap(),
        0,
    ];
    for (i, v) in fields.iter().enumerate() {
        out[8 + 2 * i..10 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    out[24..28].copy_from_slice(&table_offset.to_le_bytes());
    out[28..32].copy_from_slice(&(u32::try_from(table.len()).unwrap() * 4).to_le_bytes());
    out
}

/// Year, month, day of a count of days since 1970-01-01.
fn civil(days: i64) -> (u16, u16, u16) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u16::try_from(year).unwrap(),
        u16::try_from(month).unwrap(),
        u16::try_from(day).unwrap(),
    )
}

#[test]
fn netmon_s_own_frames_are_counted_and_versions_2_1_to_2_3_read_alike() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/52-svcctl-psexec.pcap");
    let pcap = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calls_of = |bytes: &[u8], name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let f = file.to_str().unwrap().to_string();
        (
            rpcscope(&["calls", "--json", &f]),
            rpcscope(&["summary", "--json", &f]),
        )
    };
    let (want, summary) = calls_of(&pcap, "x.pcap");
    let summary: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    let frames = summary["frames"]["total"].as_u64().unwrap();
    let own: [(u16, &[u8]); 3] = [(0xFFE0, b"event"), (0xFFFB, b"adapters"), (0xFFFF, b"tcp")];
    for minor in 1..=3 {
        let (got, s) = calls_of(&netmon_of(&pcap, minor, &own), &format!("x-{minor}.cap"));
        assert!(got == want, "2.{minor}: the calls differ");
        let s: serde_json::Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(s["frames"]["total"].as_u64(), Some(frames + 3), "2.{minor}");
        assert_eq!(s["counters"]["netmon_metadata_frames"], 3, "2.{minor}");
        assert!(s["anomalies"].get("unsupported_link_type").is_none());
    }
}

#[test]
fn a_frame_table_that_lists_other_frames_is_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/02-epm-map-samr.pcap");
    let mut cap = netmon_of(&std::fs::read(&path).unwrap(), 1, &[]);
    // swap the first two entries of the frame table
    let table = u32::from_le_bytes(cap[24..28].try_into().unwrap()) as usize;
    let (a, b) = cap[table..table + 8].split_at_mut(4);
    a.swap_with_slice(b);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("swapped.cap");
    std::fs::write(&file, &cap).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["calls", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("frame table lists frames other than"), "{err}");
    assert!(
        !o.stdout.is_empty(),
        "the calls before the table are printed"
    );
}
