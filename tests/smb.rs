//! DCE/RPC over SMB named pipes: Zeek's baseline for 20 FileIds on one connection, encrypted
//! sessions, the pipe names of captures that start late, and answers cut short
//! (STATUS_BUFFER_OVERFLOW, by Samba and by Windows), pending (SMB2 async) or read in pieces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/real")
        .join(name)
}

fn calls(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap();
    let (calls, _) = rpcscope::analyze(&bytes[..]).unwrap();
    calls.iter().map(support::call_json).collect()
}

/// (Zeek fid, requests) runs in request order; Zeek's fid is persistent + volatile FileId.
fn fid_runs(calls: &[Value]) -> Vec<(u64, usize)> {
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for c in calls {
        let hex = c["file_id"].as_str().unwrap();
        let b: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let fid = u64::from_le_bytes(b[..8].try_into().unwrap())
            .wrapping_add(u64::from_le_bytes(b[8..].try_into().unwrap()));
        match runs.last_mut() {
            Some((f, n)) if *f == fid => *n += 1,
            _ => runs.push((fid, 1)),
        }
    }
    runs
}

#[test]
fn twenty_file_ids_match_zeeks_baseline() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/zeek");
    let pcap = shared.join("20-fids.pcap");
    let out = shared
        .join("20-fids.pcap.expected/scripts.base.protocols.dce-rpc.dce-rpc-backing-size/out");
    if !pcap.exists() || !out.exists() {
        eprintln!(
            "SKIPPED twenty_file_ids_match_zeeks_baseline: {} is absent (the shared corpus is not part of this clone)",
            shared.display()
        );
        return;
    }
    let mut expected: Vec<(u64, usize)> = Vec::new();
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let cols: Vec<&str> = line.split(", ").collect();
        if cols.first() != Some(&"dce_rpc_request") {
            continue;
        }
        let fid: u64 = cols[3].parse().unwrap();
        match expected.last_mut() {
            Some((f, n)) if *f == fid => *n += 1,
            _ => expected.push((fid, 1)),
        }
    }
    assert_eq!(expected.len(), 20);
    let got = calls(&pcap);
    assert!(got.iter().all(|c| c["transport"] == "ncacn_np"));
    assert_eq!(fid_runs(&got), expected);
    // Each FileId is its own association with its own bind.
    let mut ids: Vec<&str> = got.iter().map(|c| c["file_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert!(
        got.iter()
            .all(|c| c["interface_source"] == "bind" && c["pipe"] == "samr")
    );
}

#[test]
fn pipes_on_one_connection_stay_separate_associations() {
    let got = calls(&capture("24-np-multi-pipe.pcap"));
    let mut pipes: Vec<(String, String)> = got
        .iter()
        .map(|c| {
            (
                c["pipe"].as_str().unwrap_or("").to_string(),
                c["file_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pipes.sort();
    pipes.dedup();
    let names: Vec<&str> = pipes.iter().map(|p| p.0.as_str()).collect();
    for want in ["lsarpc", "samr", "srvsvc", "winreg"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for c in &got {
        assert_eq!(c["pipe_source"], "create");
        assert_eq!(c["interface_source"], "bind");
        assert_eq!(c["outcome"], "response", "{c}");
    }
}

#[test]
fn smb1_pipes_are_followed() {
    let got = calls(&capture("22-np-smb1.pcap"));
    assert!(got.len() >= 10);
    assert!(
        got.iter()
            .all(|c| c["transport"] == "ncacn_np" && c["file_id"].as_str().unwrap().len() == 4)
    );
    assert!(
        got.iter()
            .any(|c| c["operation"] == "SamrConnect2" || c["operation"] == "SamrConnect5")
    );
}

#[test]
fn encrypted_sessions_are_counted_not_parsed() {
    let bytes = std::fs::read(capture("25-np-smb3-encrypted.pcap")).unwrap();
    let (calls, run) = rpcscope::analyze(&bytes[..]).unwrap();
    assert!(calls.is_empty());
    assert!(run.summary.counters["smb3_encrypted_messages"] > 10);
    assert!(run.summary.anomalies.contains_key("smb3_encrypted"));
}

/// SMB2 status codes of the answers in a capture (each `\xfeSMB` header's status field).
fn smb2_statuses(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .windows(12)
        .filter(|w| w.starts_with(b"\xfeSMB"))
        .map(|w| u32::from_le_bytes([w[8], w[9], w[10], w[11]]))
        .collect()
}

/// Capture 68: an IOCTL transceive answered STATUS_BUFFER_OVERFLOW with part of a response
/// whose rest the client READs, interim STATUS_PENDING answers (SMB2 async), READs posted
/// before the request is written, and READs of 512 bytes: every call whole and paired.
#[test]
fn answers_cut_short_pending_and_read_in_pieces_stay_paired() {
    let path = capture("68-np-overflow.pcap");
    let statuses = smb2_statuses(&path);
    assert!(
        statuses.contains(&0x8000_0005),
        "a STATUS_BUFFER_OVERFLOW answer"
    );
    assert!(
        statuses.iter().filter(|&&s| s == 0x103).count() >= 2,
        "STATUS_PENDING answers"
    );
    let calls = calls(&path);
    let got: Vec<(u64, &str, &str, u64, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["call_id"].as_u64().unwrap(),
                c["operation"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
                c["response"]["fragments"].as_u64().unwrap(),
                c["status"]["code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "NetrShareEnum", "response", 2, 0),
            (3, "NetrShareGetInfo", "response", 1, 0),
            (4, "NetrShareEnum", "response", 2, 0),
            (5, "NetrShareGetInfo", "response", 1, 0),
            (6, "NetrShareGetInfo", "response", 1, 0),
        ]
    );
    // both NetrShareEnum answers are the same 6,336 bytes of PDUs, however they were read
    assert_eq!(
        calls[0]["response"]["stub_len"],
        calls[2]["response"]["stub_len"]
    );
    for c in &calls {
        assert_eq!(c["pipe"], "srvsvc");
    }
}

/// Frames tshark shows for a display filter, with one field of each.
fn tshark_frames(path: &Path, filter: &str, field: &str) -> Option<Vec<(u64, String)>> {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            field,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    Some(
        text.lines()
            .filter_map(|l| {
                let (frame, value) = l.split_once('\t')?;
                Some((frame.parse().ok()?, value.to_string()))
            })
            .collect(),
    )
}

/// Windows does the same as 68 (OTRF captures of Windows servers): an FSCTL_PIPE_TRANSCEIVE
/// answered STATUS_BUFFER_OVERFLOW whose rest the client READs (svcctl), and a READ answered
/// STATUS_BUFFER_OVERFLOW on the message-mode pipe whose rest the client READs again (lsarpc):
/// the parts are one response, ending where Wireshark's reassembled PDU ends, and every call
/// of the pipe stays paired.
#[test]
fn windows_answers_cut_by_buffer_overflow_are_joined() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/otrf");
    if !corpus.is_dir() {
        eprintln!("SKIPPED: {} is absent", corpus.display());
        return;
    }
    for (name, command) in [
        ("covenant_sharpsc_query_dcerpc_smb_svcctl.pcap", "11"),
        ("empire_mimikatz_backupkeys_dcerpc_smb_lsarpc.pcap", "8"),
    ] {
        let path = corpus.join(name);
        let Some(cut) = tshark_frames(&path, "smb2.nt_status == 0x80000005", "smb2.cmd") else {
            eprintln!("SKIPPED: tshark not found");
            return;
        };
        assert_eq!(cut.len(), 1, "{name}");
        let (frame, cmd) = &cut[0];
        assert_eq!(cmd, command, "{name}: the answer cut short");
        let calls = calls(&path);
        let answered = calls
            .iter()
            .find(|c| c["response"]["frames"][0] == *frame)
            .unwrap_or_else(|| panic!("{name}: no response starts in frame {frame}"));
        // where Wireshark sees the last response PDU of that call: the last of its response
        // PDUs from that frame on, before a response to another call
        let call_id = answered["call_id"].as_u64().unwrap().to_string();
        let responses = tshark_frames(&path, "dcerpc.pkt_type == 2", "dcerpc.cn_call_id").unwrap();
        let last = responses
            .iter()
            .filter(|(f, _)| f >= frame)
            .take_while(|(_, id)| *id == call_id)
            .map(|(f, _)| *f)
            .last();
        assert_eq!(
            answered["response"]["frames"][1].as_u64(),
            last,
            "{name}: {answered}"
        );
        assert_eq!(answered["outcome"], "response", "{name}");
        assert_eq!(answered["status"]["code"], 0, "{name}: {answered}");
        for c in &calls {
            assert_eq!(c["outcome"], "response", "{name}: {c}");
        }
    }
}
