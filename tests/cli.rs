//! The binary as users run it: outputs, exit codes, one-line errors, standard input, and a
//! closed output pipe.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rpcscope"))
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr_line(o: &Output) -> String {
    let s = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(s.lines().count(), 1, "expected one stderr line, got {s:?}");
    s
}

const CONTRACT_FIELDS: [&str; 22] = [
    "type",
    "client",
    "server",
    "transport",
    "pipe",
    "call_id",
    "context_id",
    "interface",
    "interface_source",
    "opnum",
    "operation",
    "request",
    "response",
    "outcome",
    "fault_status",
    "fault_name",
    "auth_type",
    "auth_level",
    "start",
    "duration_us",
    "status",
    "decryption",
];

#[test]
fn calls_json_carries_every_contract_field_in_request_order() {
    let path = capture("real/12-faults.pcap");
    let o = run(&["calls", "--json", path.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(o.stderr.is_empty());
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    let mut last = 0;
    for c in &lines {
        for f in CONTRACT_FIELDS {
            assert!(c.get(f).is_some(), "missing {f} in {c}");
        }
        assert_eq!(c["type"], "call");
        let first = c["request"]["frames"][0].as_u64().unwrap();
        assert!(first >= last, "not ordered by request frame");
        last = first;
        let start = c["start"].as_str().unwrap();
        assert!(start.ends_with('Z') && start.len() == 27, "{start}");
    }
    let rng = lines.iter().find(|c| c["opnum"] == 200).unwrap();
    assert_eq!(rng["outcome"], "fault");
    assert_eq!(rng["fault_status"], 0x1c01_0002);
    assert_eq!(rng["fault_name"], "nca_s_op_rng_error");
    assert_eq!(
        rng["interface"]["uuid"],
        "12345778-1234-abcd-ef00-0123456789ac"
    );
    assert_eq!(rng["interface"]["version"], "1.0");
    assert_eq!(rng["interface_source"], "bind");
}

#[test]
fn calls_table_and_summary_are_readable() {
    let path = capture("real/05-ntlm-sign.pcap");
    let o = run(&["calls", path.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("  FRAME"));
    assert!(text.contains("ntlmssp/pkt_integrity"));
    assert!(text.contains("Samr.SamrConnect"), "{text}");
    let o = run(&["summary", path.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for section in [
        "Capture",
        "TCP",
        "DCE/RPC",
        "Calls per interface and operation",
        "Anomalies",
    ] {
        assert!(text.contains(section), "no {section} in {text}");
    }
    let o = run(&["summary", "--json", path.to_str().unwrap()]);
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["type"], "summary");
    assert_eq!(s["calls"], 30);
    assert!(s["auth"]["ntlmssp/pkt_integrity"].as_u64().unwrap() > 0);
}

/// Several captures in one run: files, a folder, a pattern the shell did not expand; each JSON
/// record names its capture, tables get a header per capture, CSV a `capture` column; a capture
/// that cannot be read fails the run without stopping it.
#[test]
fn several_captures_in_one_run_name_their_capture() {
    let a = capture("real/02-epm-map-samr.pcap");
    let b = capture("real/12-faults.pcap");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let one = |p: &str| run(&["calls", "--json", p]).stdout;
    let o = run(&["calls", "--json", a, b]);
    assert!(o.status.success());
    let lines: Vec<Value> = o
        .stdout
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let count = |p: &str| {
        one(p)
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    };
    assert_eq!(lines.len(), count(a) + count(b));
    assert_eq!(lines[0]["capture"], a);
    assert_eq!(lines.last().unwrap()["capture"], b);
    // apart from `capture`, the records are those of each capture alone
    let mut first = lines[0].clone();
    first.as_object_mut().unwrap().remove("capture");
    let alone: Value =
        serde_json::from_slice(one(a).split(|&c| c == b'\n').next().unwrap()).unwrap();
    assert_eq!(first, alone);
    let text = String::from_utf8(run(&["summary", a, b]).stdout).unwrap();
    assert!(
        text.starts_with(&format!("==> {a} <==")) && text.contains(&format!("\n==> {b} <==")),
        "{text}"
    );
    let csv = String::from_utf8(run(&["calls", "--format", "csv", a, b]).stdout).unwrap();
    assert!(csv.starts_with("capture,frame,"));
    assert_eq!(csv.matches("capture,frame,").count(), 1, "one header");
    // a folder, and a pattern
    let dir = tempfile::tempdir().unwrap();
    for p in [a, b] {
        let name = Path::new(p).file_name().unwrap();
        std::os::unix::fs::symlink(p, dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "not a capture").unwrap();
    let folder = run(&["calls", "--json", dir.path().to_str().unwrap()]);
    assert!(folder.status.success());
    assert_eq!(
        folder
            .stdout
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        lines.len()
    );
    let pattern = dir.path().join("*-faults.pcap");
    let o = run(&["summary", "--json", pattern.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(s.get("capture").is_none(), "one capture: no capture field");
    // standard input only alone; a missing capture fails the run, the others are read
    assert_eq!(run(&["calls", "-", a]).status.code(), Some(2));
    let o = run(&["calls", "--json", "/nonexistent.pcap", a]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!o.stdout.is_empty());
}

#[test]
fn calls_formats_are_named_once() {
    let path = capture("real/02-epm-map-samr.pcap");
    let o = run(&["calls", "--json", "--format", "csv", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "--json and --format together");
    let o = run(&["calls", "--format", "xml", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("zeek-json"));
    let o = run(&["calls", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(
        o.stdout,
        run(&["calls", "--json", path.to_str().unwrap()]).stdout
    );
}

#[test]
fn pdus_list_every_pdu_as_text_and_json() {
    let path = capture("real/02-epm-map-samr.pcap");
    let o = run(&["pdus", path.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("  FRAME"), "{text}");
    assert!(
        text.contains("bind_ack") && text.contains("accepted ndr; sec_addr 135"),
        "{text}"
    );
    let o = run(&["pdus", "--json", path.to_str().unwrap()]);
    assert!(o.status.success());
    let lines: Vec<Value> = o
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), text.lines().count() - 1, "one record per row");
    let ack = lines.iter().find(|p| p["ptype"] == "bind_ack").unwrap();
    assert_eq!(ack["bind_ack"]["sec_addr"], "135");
    assert_eq!(ack["bind_ack"]["results"][0]["ack_result"], 0);
    assert_eq!(
        ack["bind_ack"]["results"][0]["transfer_syntax"]["name"],
        "ndr"
    );
    let bind = lines.iter().find(|p| p["ptype"] == "bind").unwrap();
    assert_eq!(
        bind["bind"]["contexts"][0]["abstract_syntax"]["name"],
        "Epm"
    );
    let request = lines.iter().find(|p| p["ptype"] == "request").unwrap();
    assert_eq!(
        request["flags"],
        serde_json::json!(["first_frag", "last_frag"])
    );
    assert_eq!(request["request"]["opnum"], 3);
    let calls = run(&["calls", "--json", path.to_str().unwrap()]);
    let first: Value =
        serde_json::from_slice(calls.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["sec_addr"], "135");
}

/// `rpcscope calls --json -` with both ends piped.
fn calls_from_stdin() -> std::process::Child {
    bin()
        .args(["calls", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn standard_input_gives_the_same_calls_as_the_file() {
    let path = capture("real/09-frag-response.pcap");
    let from_file = run(&["calls", "--json", path.to_str().unwrap()]);
    let mut child = calls_from_stdin();
    let bytes = std::fs::read(&path).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(o.status.success());
    assert_eq!(o.stdout, from_file.stdout);
}

#[test]
fn a_fifo_is_read_once_and_gives_the_same_calls_as_the_file() {
    // `rpcscope calls <(zcat capture.pcap.gz)` or a named pipe: it can be read only once
    let path = capture("real/09-frag-response.pcap");
    let from_file = run(&["calls", "--json", path.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: mkfifo is not available");
        return;
    }
    let bytes = std::fs::read(&path).unwrap();
    let target = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(&target, &bytes).unwrap());
    let o = run(&["calls", "--json", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert!(o.status.success(), "{}", stderr_line(&o));
    assert_eq!(o.stdout, from_file.stdout);
}

#[test]
fn standard_input_prints_each_call_as_it_completes() {
    // A pipe from `tcpdump -U -w -` stays open: the calls already complete must come out (and
    // be flushed) before it closes.
    let path = capture("real/02-epm-map-samr.pcap");
    let expected = run(&["calls", "--json", path.to_str().unwrap()]).stdout;
    let expected: Vec<&[u8]> = expected
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut child = calls_from_stdin();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&std::fs::read(&path).unwrap()).unwrap();
    stdin.flush().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    for (i, want) in expected.iter().enumerate() {
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("call {} not printed while the input is open", i + 1));
        assert_eq!(got.as_bytes(), *want);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[cfg(not(feature = "live"))]
#[test]
fn live_without_the_feature_says_how_to_get_it() {
    let o = run(&["live", "-i", "lo"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr_line(&o);
    for needed in ["--features live", "libpcap-dev", "rpcscope calls --json -"] {
        assert!(e.contains(needed), "{needed} missing from: {e}");
    }
}

#[test]
fn missing_file_is_one_line_naming_it() {
    let o = run(&["calls", "/nonexistent/x.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_line(&o);
    assert!(e.starts_with("rpcscope: /nonexistent/x.pcap: "), "{e}");
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn text_file_is_not_a_capture() {
    let o = run(&["calls", capture("README.md").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_line(&o);
    assert!(
        e.contains("README.md") && e.contains("not a pcap, pcapng or NetMon capture"),
        "{e}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn truncated_capture_prints_what_it_read_and_fails() {
    let bytes = std::fs::read(capture("real/03-anonymous.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = run(&["calls", "--json", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr_line(&o);
    assert!(e.contains("cut.pcap") && e.contains("truncated"), "{e}");
    let calls = String::from_utf8(o.stdout).unwrap().lines().count();
    assert!(calls > 3, "the calls before the cut are printed ({calls})");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let o = run(&["calls"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["frobnicate", "x"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn closed_output_pipe_ends_quietly() {
    // 3000 calls make far more output than a pipe buffer holds.
    let (client, server) = support::simple_session(3000, 40, 40, 1000);
    let mut conv = support::Conversation::new(49_800);
    conv.client(&client, &[1460]);
    conv.server(&server, &[1460]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    std::fs::write(&path, support::pcap(&conv.frames())).unwrap();
    for args in [
        vec!["calls"],
        vec!["calls", "--json"],
        vec!["pdus"],
        vec!["pdus", "--json"],
    ] {
        let mut child = bin()
            .args(&args)
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{args:?}: {:?}", o.status);
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn decode_adds_parameters_to_json_and_lines_to_the_table() {
    let path = capture("real/02-epm-map-samr.pcap");
    let path = path.to_str().unwrap();
    let plain = run(&["calls", "--json", path]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("\"decoded\""));
    let json = run(&["calls", "--json", "--decode", path]);
    assert!(json.status.success());
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["operation"], "ept_map");
    assert_eq!(first["decoded"]["in"]["max_towers"], 4);
    assert_eq!(first["decoded"]["out"]["num_towers"], 1);
    let table = run(&["calls", "--decode", path]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("         in  max_towers = 4"), "{text}");
    assert!(text.contains("         out status = 0"), "{text}");
    let idl = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/idl/pipetest.idl");
    let pipes = capture("real/41-pipe-out-small-chunks.pcap");
    let o = run(&[
        "calls",
        "--decode",
        "--idl",
        idl.to_str().unwrap(),
        pipes.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(r#"out data = {"pipe_chunks":500,"pipe_elements":16250}"#),
        "{text}"
    );
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let idl = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/idl/pipetest.idl");
    let pipes = capture("real/43-pipe-empty.pcap");
    let (idl, pipes) = (idl.to_str().unwrap(), pipes.to_str().unwrap());
    for args in [
        ["--idl", idl, "calls", pipes],
        ["calls", "--idl", idl, pipes],
    ] {
        let o = run(&args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("PipeTest.PtEcho"),
            "{args:?}"
        );
    }
    let o = run(&[pipes, "calls", pipes]);
    assert!(!o.status.success());
    assert!(stderr_line(&o).contains("a capture goes after the command"));
}

/// On a terminal, a long read shows its progress on stderr and clears it at the end; with
/// stderr not a terminal (every other test here) nothing is printed there.
#[test]
fn progress_shows_on_a_terminal_and_is_cleared() {
    let Ok(script) = which_script() else {
        eprintln!(
            "skipped: util-linux's `script` (a pseudo-terminal for the test) is not installed"
        );
        return;
    };
    let capture = capture("real/40-pipe-in-1mib.pcap");
    let command = format!(
        "{} summary {} > /dev/null",
        env!("CARGO_BIN_EXE_rpcscope"),
        capture.display()
    );
    let o = Command::new(script)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(seen.contains("reading") && seen.contains("MiB"), "{seen:?}");
    // the last thing drawn erases the bar's line
    assert!(seen.trim_end().ends_with("\u{1b}[2K"), "{seen:?}");
}

fn which_script() -> Result<std::path::PathBuf, ()> {
    ["/usr/bin/script", "/bin/script"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or(())
}

const COMMANDS: [&str; 11] = [
    "calls",
    "pdus",
    "check",
    "expect",
    "endpoints",
    "summary",
    "tui",
    "live",
    "compile-idl",
    "completions",
    "man",
];

#[test]
fn shell_completions_know_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let script = String::from_utf8(o.stdout).unwrap();
        for c in COMMANDS {
            assert!(script.contains(c), "{shell} completions lack {c}");
        }
    }
    assert!(
        String::from_utf8(run(&["completions", "bash"]).stdout)
            .unwrap()
            .contains("complete -F _rpcscope")
    );
    assert_eq!(run(&["completions", "nosh"]).status.code(), Some(2));
}

#[test]
fn manual_pages_cover_every_command() {
    let o = run(&["man"]);
    assert!(o.status.success());
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.contains(".TH rpcscope 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS") && page.contains("\\-\\-threads"));
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success());
    for c in COMMANDS {
        let page = std::fs::read_to_string(dir.path().join(format!("rpcscope-{c}.1")))
            .unwrap_or_else(|e| panic!("rpcscope-{c}.1: {e}"));
        assert!(page.contains(&format!(".TH rpcscope-{c} 1")), "{c}: {page}");
    }
    let calls = std::fs::read_to_string(dir.path().join("rpcscope-calls.1")).unwrap();
    assert!(calls.contains("\\fBrpcscope calls\\fR") && calls.contains("Examples:"));
    let o = run(&["man", "--dir", "/nonexistent/folder"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn help_of_the_capture_commands_shows_examples() {
    for c in ["calls", "pdus", "check", "expect", "endpoints", "summary"] {
        let o = run(&[c, "--help"]);
        let help = String::from_utf8(o.stdout).unwrap();
        assert!(
            help.contains("Examples:") && help.contains(&format!("rpcscope {c} ")),
            "{c}: {help}"
        );
    }
}

#[test]
fn the_terminal_interface_without_a_terminal_says_so() {
    let o = bin()
        .args(["tui", capture("real/01-epm-lookup.pcap").to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(line.contains("needs a terminal"), "{line}");
}

#[test]
fn control_characters_in_a_file_name_are_escaped_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil\u{1b}[31m\u{202e}name.pcap");
    std::fs::write(&path, b"not a capture").unwrap();
    let o = run(&["calls", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{202e}'),
        "{line:?}"
    );
    assert!(line.contains("evil\\x1b[31m\\u{202e}name.pcap"), "{line}");
}

#[test]
fn idl_warnings_are_escaped_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut idl = String::from("import \"a\u{1b}[31m\u{202e}b.idl\";\n");
    for i in 0..150 {
        idl.push_str(&format!("import \"missing{i}.idl\";\n"));
    }
    let path = dir.path().join("many.idl");
    std::fs::write(&path, idl).unwrap();
    let o = run(&[
        "calls",
        "--idl",
        path.to_str().unwrap(),
        capture("real/01-epm-lookup.pcap").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    assert!(
        err.contains("import \"a\\x1b[31m\\u{202e}b.idl\" not found"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 101, "{err}");
    assert!(
        err.ends_with("rpcscope: warning: 51 more warnings not shown\n"),
        "{err}"
    );
}

#[test]
fn max_connections_is_checked_and_keeps_the_calls_of_a_small_capture() {
    let cap = capture("real/02-epm-map-samr.pcap");
    let cap = cap.to_str().unwrap();
    let low = run(&["--max-connections", "10", "summary", cap]);
    assert_eq!(low.status.code(), Some(2));
    let err = String::from_utf8_lossy(&low.stderr);
    assert!(
        err.contains("--max-connections") && err.contains("1000.."),
        "{err}"
    );
    let set = run(&["--max-connections", "1000", "calls", "--json", cap]);
    let default = run(&["calls", "--json", cap]);
    assert!(set.status.success());
    assert_eq!(set.stdout, default.stdout);
}

/// `--max-endpoints N` keeps the first N endpoints and counts the rest in the summary.
#[test]
fn max_endpoints_keeps_the_first_endpoints_and_counts_the_rest() {
    let cap = capture("real/30-epm-resolve-three.pcap");
    let cap = cap.to_str().unwrap();
    let endpoints = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["endpoints", "--json", cap]);
        let out = run(&args);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(endpoints(&[]), 3);
    assert_eq!(endpoints(&["--max-endpoints", "1"]), 1);
    let warned = run(&["--max-endpoints", "1", "endpoints", cap]);
    let stderr = String::from_utf8(warned.stderr).unwrap();
    assert!(
        stderr.contains("endpoints beyond the first 1 were not kept (limit_endpoints)"),
        "{stderr}"
    );
    let summary = run(&["--max-endpoints", "1", "summary", "--json", cap]);
    let summary: Value = serde_json::from_slice(&summary.stdout).unwrap();
    let detail = summary["anomalies"]["limit_endpoints"]["examples"][0]["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("beyond the first 1"), "{detail}");
    let zero = run(&["--max-endpoints", "0", "summary", cap]);
    assert_eq!(zero.status.code(), Some(2));
}

/// `--max-open-calls N` bounds the calls awaiting an answer in the run: past it the oldest are
/// reported as they stand (counted in the summary), and every call is still reported once.
#[test]
fn max_open_calls_bounds_the_calls_in_flight() {
    let mut frames = Vec::new();
    for i in 0..5u16 {
        let mut client = support::bind(1, 0);
        for id in 2..52 {
            client.extend(support::request(id, 0, 1, 8, 3));
        }
        let mut conv = support::Conversation::new(49_800);
        conv.client_port = 20_000 + i;
        conv.client(&client, &[1400]);
        frames.extend(conv.frames());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.pcap");
    std::fs::write(&path, support::pcap(&frames)).unwrap();
    let path = path.to_str().unwrap();
    let run_with = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["summary", "--json", path]);
        let out = run(&args);
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let default = run_with(&[]);
    assert_eq!(default["calls"], 250);
    assert!(default["anomalies"].get("limit_open_calls_total").is_none());
    let bounded = run_with(&["--max-open-calls", "100"]);
    assert_eq!(bounded["calls"], 250, "every call reported once");
    let ended = bounded["anomalies"]["limit_open_calls_total"]["count"]
        .as_u64()
        .unwrap();
    assert!((140..=150).contains(&ended), "{ended} ended early");
    let low = run(&["--max-open-calls", "5", "summary", path]);
    assert_eq!(low.status.code(), Some(2));
}
