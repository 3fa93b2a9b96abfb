//! Live capture end to end (the `live` feature): in the capture lab's network namespace
//! (`captures/generate.sh --exec`), `rpcscope live -i lo --json -w live.pcapng` and tcpdump run
//! side by side while impacket and rpcclient call Samba over TCP and over SMB named pipes
//! (`tests/live/session.sh`); both are stopped with SIGINT. Checks that
//! - calls were printed while the capture was running (one flushed line per call);
//! - the calls printed live equal `rpcscope calls --json live.pcapng`, field for field;
//! - they equal the calls of tcpdump's simultaneous capture (frame numbers and timestamps aside:
//!   each capture socket numbers and stamps packets itself);
//! - the `-w` file is complete (every captured packet, readable by tshark when installed) and
//!   the summary with the capture statistics was printed.
//!
//! Skipped with a message when not root, when network namespaces cannot be made, or when Samba,
//! tcpdump or impacket is missing; `RPCSCOPE_REQUIRE_LIVE=1` (as `.ci/run` sets) turns a skip
//! into a failure.
#![cfg(feature = "live")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_reason() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not running as root (live capture and the lab need it)".into());
    }
    if !works("unshare", &["--net", "true"]) {
        return Some("cannot make a network namespace (unshare --net)".into());
    }
    for tool in ["smbd", "rpcclient", "tcpdump"] {
        if !works("sh", &["-c", &format!("command -v {tool}")]) {
            return Some(format!("{tool} is not installed"));
        }
    }
    let impacket = ["python3", "/usr/bin/python3", "/root/.pyenv/shims/python3"]
        .iter()
        .any(|py| works(py, &["-c", "import impacket"]));
    if !impacket {
        return Some("no python3 with impacket".into());
    }
    None
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn calls_of(capture: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["calls", "--json"])
        .arg(capture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&String::from_utf8(out.stdout).unwrap())
}

/// A call without what depends on the capturing socket: frame numbers and timestamps.
fn without_capture_details(mut call: Value) -> String {
    let c = call.as_object_mut().unwrap();
    for key in ["start", "duration_us", "endpoint_frame"] {
        c.remove(key);
    }
    for key in ["request", "response"] {
        if let Some(Value::Object(part)) = c.get_mut(key) {
            part.remove("frames");
        }
    }
    if let Some(Value::Array(pipes)) = c.get_mut("pipes") {
        for p in pipes {
            if let Some(Value::Array(chunks)) = p.get_mut("chunks") {
                chunks.iter_mut().for_each(|ch| {
                    ch.as_object_mut().unwrap().remove("frame");
                });
            }
        }
    }
    call.to_string()
}

fn sorted(calls: &[Value], f: impl Fn(Value) -> String) -> Vec<String> {
    let mut v: Vec<String> = calls.iter().cloned().map(f).collect();
    v.sort();
    v
}

/// Runs `tests/live/SCRIPT` inside the capture lab with a fresh output folder, or says why not
/// (a failure instead when `RPCSCOPE_REQUIRE_LIVE` is set).
fn in_lab(script: &str, also_needs: &[&str]) -> Option<(tempfile::TempDir, std::process::Output)> {
    let missing_tool = also_needs
        .iter()
        .find(|tool| !works("sh", &["-c", &format!("command -v {tool}")]))
        .map(|tool| format!("{tool} is not installed"));
    if let Some(reason) = skip_reason().or(missing_tool) {
        assert!(
            std::env::var_os("RPCSCOPE_REQUIRE_LIVE").is_none(),
            "RPCSCOPE_REQUIRE_LIVE is set but: {reason}"
        );
        eprintln!("SKIPPED {script}: {reason}");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(root.join("captures/generate.sh"))
        .arg("--exec")
        .arg("bash")
        .arg(root.join("tests/live").join(script))
        .arg(dir.path())
        .arg(env!("CARGO_BIN_EXE_rpcscope"))
        .output()
        .unwrap();
    Some((dir, out))
}

#[test]
fn live_calls_equal_the_written_file_and_a_simultaneous_tcpdump_capture() {
    let Some((dir, out)) = in_lab("session.sh", &[]) else {
        return;
    };
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "session failed: {}\n--- rpcscope:\n{}\n--- clients:\n{}",
        String::from_utf8_lossy(&out.stderr),
        read("live.err"),
        read("clients.log")
    );

    let live = lines(&read("live.jsonl"));
    let before_stop: usize = read("printed-before-stop").trim().parse().unwrap();
    assert!(live.len() >= 20, "only {} calls printed", live.len());
    assert_eq!(
        before_stop,
        live.len(),
        "every call completed before the stop was printed while capturing"
    );
    let mut transports = BTreeMap::new();
    for c in &live {
        *transports
            .entry(c["transport"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(transports.contains_key("ncacn_ip_tcp"), "{transports:?}");
    assert!(transports.contains_key("ncacn_np"), "{transports:?}");
    assert!(
        live.iter().any(|c| c["operation"] == "ept_map"),
        "the endpoint mapper was asked"
    );

    let from_file = calls_of(&dir.path().join("live.pcapng"));
    assert_eq!(
        sorted(&live, |c| c.to_string()),
        sorted(&from_file, |c| c.to_string()),
        "live output differs from `calls --json` of the -w file"
    );
    // tcpdump says at its end how many packets the kernel dropped before it read them: a
    // capture with holes is no yardstick
    let tcpdump_dropped = read("tcpdump.err")
        .lines()
        .find_map(|l| l.strip_suffix(" packets dropped by kernel"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if tcpdump_dropped == 0 {
        let from_tcpdump = calls_of(&dir.path().join("tcpdump.pcap"));
        assert_eq!(
            sorted(&live, without_capture_details),
            sorted(&from_tcpdump, without_capture_details),
            "live output differs from the calls of tcpdump's capture"
        );
    } else {
        eprintln!(
            "tcpdump's capture not compared: the kernel dropped {tcpdump_dropped} of its packets"
        );
    }

    let summary = read("live.err");
    assert!(summary.contains("Live capture"), "{summary}");
    assert!(summary.contains("0 by rpcscope (queue full)"), "{summary}");
    let captured: u64 = summary
        .split(" packets captured")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {summary}"));
    assert!(
        summary.contains(&format!("{captured} packets written to")),
        "{summary}"
    );
    let tshark = Command::new("tshark")
        .args(["-r"])
        .arg(dir.path().join("live.pcapng"))
        .args(["-T", "fields", "-e", "frame.number"])
        .output();
    if let Ok(t) = tshark
        && t.status.success()
    {
        let frames = String::from_utf8_lossy(&t.stdout).lines().count() as u64;
        assert_eq!(frames, captured, "tshark reads every packet of the -w file");
    }
}

#[test]
fn live_terminal_interface_shows_calls_as_they_complete_and_stops_cleanly() {
    let Some((dir, out)) = in_lab("tui_session.sh", &["tmux"]) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();

    let during = read("during.txt");
    assert!(during.contains("Samr.SamrCloseHandle"), "{during}");
    let status = during.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(status.starts_with("lo (live) — 9 calls"), "{status}");
    assert!(status.contains("capturing"), "{status}");
    assert!(
        status.contains("dropped 0 kernel / 0 interface / 0 rpcscope"),
        "{status}"
    );
    let connections = read("connections.txt");
    assert!(
        connections.contains("resolved (answer in frame"),
        "the SAMR connection is linked to the ept_map answer while capturing: {connections}"
    );

    // After q: the terminal is restored (the summary is plain lines), the summary and the
    // capture statistics are printed, and the file holds the same calls.
    let after = read("after.txt");
    assert!(after.contains("EXIT=0"), "{after}");
    assert!(after.contains("calls 9: response 9"), "{after}");
    assert!(after.contains("Live capture"), "{after}");
    assert!(
        !after.contains("Calls (9)"),
        "the interface is gone: {after}"
    );
    let from_file = calls_of(&dir.path().join("tui.pcapng"));
    assert_eq!(from_file.len(), 9);
}

#[test]
fn no_permission_names_the_capability() {
    if skip_reason().is_some_and(|r| r.starts_with("not running as root"))
        || !works("sh", &["-c", "command -v setpriv"])
    {
        eprintln!("SKIPPED permission test: needs root and setpriv to drop privileges");
        return;
    }
    // An unprivileged user (nobody) may list interfaces but not capture.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["live", "-i", "lo", "--json"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    if e.contains("Permission denied") && !e.contains("rpcscope:") {
        eprintln!("SKIPPED permission test: nobody cannot run the test binary here");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("no permission to capture on lo"), "{e}");
    assert!(e.contains("CAP_NET_RAW") && e.contains("setcap"), "{e}");
}

#[test]
fn unknown_interface_is_named_with_the_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["live", "-i", "no-such-if0", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("no interface named \"no-such-if0\""), "{e}");
    assert!(e.contains("rpcscope live --list"), "{e}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_filter_gives_libpcap_message() {
    if skip_reason().is_some_and(|r| r.starts_with("not running as root")) {
        eprintln!("SKIPPED bad filter test: not running as root");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["live", "-i", "lo", "-f", "tcp port", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("bad capture filter \"tcp port\""), "{e}");
    assert!(e.contains("syntax error"), "libpcap's own reason: {e}");
}

#[test]
fn list_names_the_loopback_interface() {
    let out = Command::new(env!("CARGO_BIN_EXE_rpcscope"))
        .args(["live", "--list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        assert!(
            text.lines()
                .any(|l| l.starts_with("lo ") && l.contains("loopback")),
            "{text}"
        );
    } else {
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("CAP_NET_RAW"), "{e}");
    }
}
