//! The filter language from the command line (`calls --filter`, `summary --filter`) on the
//! shipped captures: each filter chooses exactly the calls a predicate written here over the
//! unfiltered JSON chooses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rpcscope"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    all.sort();
    all
}

fn calls(args: &[&str]) -> Vec<Value> {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What identifies a call in a capture.
fn key(c: &Value) -> String {
    format!(
        "{} {} {} {} {}",
        c["client"], c["server"], c["call_id"], c["request"], c["response"]
    )
}

fn ip(endpoint: &Value) -> String {
    let s = endpoint.as_str().unwrap();
    let (host, _) = s.rsplit_once(':').unwrap();
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

fn lower(v: &Value) -> String {
    v.as_str().unwrap_or("").to_lowercase()
}

type Predicate = fn(&Value) -> bool;

#[test]
fn each_filter_chooses_the_calls_its_predicate_chooses() {
    let cases: [(&str, Predicate); 8] = [
        ("iface == samr and opnum > 5", |c| {
            lower(&c["interface"]["name"]) == "samr" && c["opnum"].as_u64().is_some_and(|n| n > 5)
        }),
        ("outcome == fault or status != 0", |c| {
            c["outcome"] == "fault"
                || c["status"]["code"].as_u64().is_some_and(|s| s != 0)
                || (c["outcome"] != "fault" && c["status"].is_null())
        }),
        ("not host == 127.0.0.0/8", |c| {
            !ip(&c["client"]).starts_with("127.") && !ip(&c["server"]).starts_with("127.")
        }),
        ("pipe == lsarpc || pipe == \\PIPE\\samr", |c| {
            let p = lower(&c["pipe"]);
            let p = p.trim_start_matches('\\');
            let p = p.strip_prefix("pipe\\").unwrap_or(p);
            p == "lsarpc" || p == "samr"
        }),
        ("duration >= 1ms and transport == ncacn_ip_tcp", |c| {
            c["duration_us"].as_u64().is_some_and(|d| d >= 1000) && c["transport"] == "ncacn_ip_tcp"
        }),
        ("auth == privacy", |c| c["auth_level"] == "pkt_privacy"),
        ("op ~ '^(Samr|Lsar)(Open|Close)'", |c| {
            let op = c["operation"].as_str().unwrap_or("");
            ["SamrOpen", "SamrClose", "LsarOpen", "LsarClose"]
                .iter()
                .any(|p| op.starts_with(p))
        }),
        ("port == 445 and (call_id <= 2 or opnum == 0)", |c| {
            let port = |e: &Value| e.as_str().unwrap().rsplit(':').next().unwrap() == "445";
            (port(&c["client"]) || port(&c["server"]))
                && (c["call_id"].as_u64().unwrap() <= 2 || c["opnum"] == 0)
        }),
    ];
    let mut chosen = [0usize; 8];
    for path in captures() {
        let path = path.to_str().unwrap();
        let all = calls(&["calls", "--json", path]);
        for (i, (filter, predicate)) in cases.iter().enumerate() {
            let want: Vec<String> = all.iter().filter(|c| predicate(c)).map(key).collect();
            let got: Vec<String> = calls(&["calls", "--json", "--filter", filter, path])
                .iter()
                .map(key)
                .collect();
            assert_eq!(got, want, "{filter} on {path}");
            chosen[i] += got.len();
        }
    }
    for ((filter, _), n) in cases.iter().zip(chosen) {
        assert!(
            n > 0,
            "{filter} chose no call in any capture: the case proves nothing"
        );
    }
}

#[test]
fn summary_counts_only_the_calls_chosen() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/50-samr-lookups.pcap");
    let path = path.to_str().unwrap();
    let filter = "status != 0 or outcome == fault";
    let chosen = calls(&["calls", "--json", "--filter", filter, path]).len();
    let whole = run(&["summary", "--json", path]);
    let part = run(&["summary", "--json", "--filter", filter, path]);
    let whole: Value = serde_json::from_slice(&whole.stdout).unwrap();
    let part: Value = serde_json::from_slice(&part.stdout).unwrap();
    assert_eq!(part["calls"], chosen);
    assert!(part["calls"].as_u64().unwrap() < whole["calls"].as_u64().unwrap());
    assert_eq!(
        part["frames"], whole["frames"],
        "the capture's totals stay whole"
    );
    assert_eq!(part["tcp"], whole["tcp"]);
}

#[test]
fn a_mistake_is_a_usage_error_pointing_at_its_column() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/02-epm-map-samr.pcap");
    let o = run(&[
        "calls",
        "--filter",
        "iface == samr and opnum >",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8(o.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "rpcscope: --filter: column 26: expected a value after '>' at the end",
            "  iface == samr and opnum >",
            "                           ^",
        ]
    );
    let o = run(&[
        "summary",
        "--filter",
        "colour == red",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown field 'colour'"));
}

#[test]
fn a_filter_on_parameters_decodes_them_and_prints_them_only_when_asked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/50-samr-lookups.pcap");
    let path = path.to_str().unwrap();
    let decoded = calls(&["calls", "--json", "--decode", path]);
    let names = |c: &Value| -> Vec<String> {
        c["decoded"]["in"]["Names"]
            .as_array()
            .map(|a| a.iter().map(lower).collect())
            .unwrap_or_default()
    };
    let want: Vec<String> = decoded
        .iter()
        .filter(|c| names(c).iter().any(|n| n == "no-such-group"))
        .map(key)
        .collect();
    assert!(!want.is_empty(), "the capture looks a missing group up");
    let filter = "param.Names == NO-SUCH-GROUP";
    let hidden = calls(&["calls", "--json", "--filter", filter, path]);
    assert_eq!(hidden.iter().map(key).collect::<Vec<_>>(), want);
    assert!(hidden.iter().all(|c| c.get("decoded").is_none()));
    let shown = calls(&["calls", "--json", "--decode", "--filter", filter, path]);
    assert_eq!(shown.iter().map(key).collect::<Vec<_>>(), want);
    assert!(shown.iter().all(|c| c["decoded"].is_object()));
}
