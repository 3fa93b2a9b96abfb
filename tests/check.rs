//! Regression checks on captures: `rpcscope expect` and `rpcscope check` (docs/check.md).
//! Every shipped capture holds against the file written from it; edited files fail at the
//! entry edited, with the closest call and its differences; a bad file is exit status 2 at its
//! line and column; a folder is checked capture by capture, with JUnit XML.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rpcscope::Setup;
use rpcscope::check::report::Outcome;
use rpcscope::check::{check_capture, file, write_expectations};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rpcscope"))
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn setup() -> Setup {
    let mut library = rpcscope::idl::table::builtin_library().clone();
    library.decode_parameters = true;
    Setup {
        library: Some(std::sync::Arc::new(library)),
        without_endpoint_records: true,
        threads: 1,
        ..Setup::default()
    }
}

fn expectations_of(path: &Path) -> String {
    let mut out = Vec::new();
    write_expectations(path, setup(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn check_text(path: &Path, text: &str) -> rpcscope::check::report::CaptureReport {
    let parsed = file::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_capture(path, &parsed, text, setup(), ("capture", "expect.toml")).unwrap()
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn captures_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.to_string_lossy().ends_with(".expected") {
            captures_under(&p, found);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        {
            found.push(p);
        }
    }
}

/// Every shipped capture, and every capture of the shared corpus when present, holds against
/// the expectations written from it: each distinct call and context result with its exact
/// count, in order, and the totals.
#[test]
fn every_capture_holds_against_its_own_expectations() {
    let mut captures = Vec::new();
    captures_under(&capture("real"), &mut captures);
    captures_under(&capture("public"), &mut captures);
    captures_under(&capture("synthetic"), &mut captures);
    assert!(captures.len() > 60);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if corpus.is_dir() {
        captures_under(&corpus, &mut captures);
    } else {
        eprintln!(
            "{} is absent: only the shipped captures are checked",
            corpus.display()
        );
    }
    captures.sort();
    let mut entries = 0;
    for path in &captures {
        let text = expectations_of(path);
        let report = check_text(path, &text);
        let failed: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.verdict == Outcome::Failed)
            .collect();
        assert!(failed.is_empty(), "{}: {failed:#?}", path.display());
        assert!(report.error.is_none(), "{}", path.display());
        assert_eq!(
            report.ended_early.is_some(),
            text.contains("# The capture ends early"),
            "{}",
            path.display()
        );
        entries += report.findings.len();
    }
    assert!(entries > 1000, "{entries} entries");
}

#[test]
fn an_edited_expectation_fails_at_its_line_with_the_closest_call() {
    let path = capture("real/52-svcctl-psexec.pcap");
    let text = expectations_of(&path);
    // One entry asks for one call more than there is, one for a success that was a fault.
    let lines: Vec<&str> = text.lines().collect();
    let count_line = lines
        .iter()
        .position(|l| l.starts_with("count = 5"))
        .expect("a call seen five times");
    let fault_line = lines
        .iter()
        .position(|l| *l == "operation = \"RCreateServiceW\"")
        .expect("RCreateServiceW");
    let mut edited: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
    edited[count_line] = "count = 6".into();
    edited.insert(fault_line + 1, "status = \"ERROR_SUCCESS\"".into());
    let edited = edited.join("\n");
    let report = check_text(&path, &edited);
    let failed: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.verdict == Outcome::Failed)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let header_of = |line: usize| {
        edited
            .lines()
            .take(line)
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| *l == "[[call]]")
            .unwrap()
            + 1
    };
    assert_eq!(failed[0].line, header_of(count_line));
    assert!(
        failed[0].details[0].contains("expected exactly 6 matching calls, found 5"),
        "{:?}",
        failed[0]
    );
    assert_eq!(failed[1].line, header_of(fault_line));
    let details = failed[1].details.join("\n");
    assert!(
        details.contains("closest: ") && details.contains("Svcctl.RCreateServiceW"),
        "{details}"
    );
    assert!(
        details.contains("status: expected ERROR_SUCCESS, found none"),
        "{details}"
    );
}

#[test]
fn entries_out_of_capture_order_fail_when_order_is_capture() {
    let path = capture("real/52-svcctl-psexec.pcap");
    let text = expectations_of(&path);
    let head = "order = \"capture\"\n";
    let entries: Vec<&str> = text.split("\n[[call]]\n").collect();
    assert!(entries.len() > 3);
    // the second and third call entries swapped
    let mut swapped = entries.clone();
    swapped.swap(1, 2);
    let swapped = swapped.join("\n[[call]]\n");
    let report = check_text(&path, &swapped);
    let out_of_order: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.details.iter().any(|d| d.starts_with("out of order")))
        .collect();
    assert_eq!(out_of_order.len(), 1, "{:#?}", report.findings);
    let any_order = swapped.replacen(head, "order = \"any\"\n", 1);
    assert_eq!(check_text(&path, &any_order).failures(), 0);
}

#[test]
fn forbidden_calls_bind_results_and_decoded_parameters_are_checked() {
    let path = capture("real/52-svcctl-psexec.pcap");
    let text = r#"
[[call]]
operation = "ROpenServiceW"
decoded.in.lpServiceName = "PSEXESVC"
count = { min = 1, max = 2 }

[[forbid]]
outcome = "incomplete"

[[forbid]]
fault = "nca_s_fault_context_mismatch"

[[bind]]
interface = "svcctl"
result = "acceptance"
transfer_syntax = "ndr"
pipe = "\\PIPE\\svcctl"

[[bind]]
interface = "lsarpc"
result = "provider_rejection"

[[bind]]
interface = "367abb81-9844-35f1-ad32-98f038001003"
result = 0
reason = "none"
"#;
    let report = check_text(&path, text);
    let verdicts: Vec<(&str, Outcome)> = report
        .findings
        .iter()
        .map(|f| (f.kind, f.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("call", Outcome::Passed),
            ("forbid", Outcome::Passed),
            ("forbid", Outcome::Failed),
            ("bind", Outcome::Passed),
            ("bind", Outcome::Failed),
            ("bind", Outcome::Passed),
        ],
        "{:#?}",
        report.findings
    );
    assert!(report.findings[2].details[0].contains("1 forbidden call found, at frame"));
    let bind = report.findings[4].details.join("\n");
    assert!(
        bind.contains("result: expected provider_rejection, found acceptance"),
        "{bind}"
    );
}

#[test]
fn the_command_line_checks_a_file_a_folder_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["02-epm-map-samr.pcap", "52-svcctl-psexec.pcap"] {
        std::os::unix::fs::symlink(capture(&format!("real/{name}")), d.join(name)).unwrap();
        let o = run_in(d, &["expect", name]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stem = name.trim_end_matches(".pcap");
        std::fs::write(d.join(format!("{stem}.expect.toml")), &o.stdout).unwrap();
    }
    // one capture: its NAME.expect.toml is found beside it
    let o = run_in(d, &["check", "02-epm-map-samr.pcap"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("expectations hold"));
    // a folder, one file edited to fail
    let edited = std::fs::read_to_string(d.join("52-svcctl-psexec.expect.toml"))
        .unwrap()
        .replace("faults = 5", "faults = 0");
    std::fs::write(d.join("52-svcctl-psexec.expect.toml"), edited).unwrap();
    let o = run_in(d, &["check", ".", "--junit", "results.xml"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL  faults: exactly 0") && out.contains("expected exactly 0, found 5"),
        "{out}"
    );
    assert!(out.contains("2 captures checked: 1 with failures"), "{out}");
    let xml = std::fs::read_to_string(d.join("results.xml")).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains(r#"failures="1""#), "{xml}");
    // a bad file: exit status 2, the file, line and column
    std::fs::write(d.join("bad.toml"), "[[call]]\noutcome = \"ok\"\n").unwrap();
    let o = run_in(d, &["check", "02-epm-map-samr.pcap", "bad.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("rpcscope: bad.toml:2:11: "), "{err}");
    // a folder without expectation files, and a missing capture
    let empty = tempfile::tempdir().unwrap();
    let o = run_in(empty.path(), &["check", "."]);
    assert_eq!(o.status.code(), Some(2));
    let o = run_in(d, &["check", "absent.pcap", "02-epm-map-samr.expect.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("the capture could not be read"));
}

/// Each kind of failure, as the report prints it: a changed opnum, a missing call, a forbidden
/// call present, a status that differs, a total that differs, a bind result that differs.
#[test]
fn each_kind_of_failure_reads_like_a_test_failure() {
    let path = capture("real/02-epm-map-samr.pcap");
    let text = r#"[totals]
calls = 8

[[call]]
interface = "Samr"
opnum = 99

[[call]]
operation = "SamrDeleteUser"

[[call]]
operation = "SamrConnect2"
status = "STATUS_ACCESS_DENIED"

[[forbid]]
operation = "ept_map"

[[bind]]
interface = "Samr"
transfer_syntax = "ndr64"
"#;
    let parsed = file::parse(text).unwrap();
    let report = check_capture(
        &path,
        &parsed,
        text,
        setup(),
        ("02-epm-map-samr.pcap", "kinds.expect.toml"),
    )
    .unwrap();
    let mut out = Vec::new();
    report.write_text(&mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

/// The expectation files committed beside the shipped captures hold, through the command line
/// (the check is its own regression suite: a change in what rpcscope reports fails it).
#[test]
fn the_shipped_captures_hold_against_their_expectation_files() {
    for dir in ["real", "public", "synthetic"] {
        let o = bin().arg("check").arg(capture(dir)).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(
            out.contains("captures checked: every expectation holds"),
            "{out}"
        );
    }
}
