//! Expectation files of `rpcscope check`: the parser (an error names a line of the text), and
//! a file that parses checked against the calls and PDUs of a real capture (the matcher, the
//! closest-call search and the report).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rpcscope::Analysis;
use rpcscope::check::file::parse;
use rpcscope::check::matching::{BindChecks, CallChecks};
use rpcscope::check::report::CaptureReport;
use rpcscope::model::{Call, PduRecord};
use rpcscope::summary::Summary;

/// The calls, PDUs and summary of a shipped capture (psexec over named pipes: successes,
/// errors and faults, binds).
fn capture() -> &'static (Vec<Call>, Vec<PduRecord>, Summary) {
    static CAPTURE: OnceLock<(Vec<Call>, Vec<PduRecord>, Summary)> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let bytes = include_bytes!("../../captures/real/52-svcctl-psexec.pcap");
        let mut pdus = Vec::new();
        let mut keep = |p| pdus.push(p);
        let (calls, run) = Analysis::from_bytes(bytes)
            .pdus(&mut keep)
            .calls()
            .expect("a shipped capture");
        (calls, pdus, run.summary)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(file) => {
            let (calls, pdus, summary) = capture();
            let mut call_checks = CallChecks::new(&file, text);
            let mut bind_checks = BindChecks::new(&file, text);
            for c in calls {
                call_checks.call(c);
            }
            for p in pdus {
                bind_checks.pdu(p);
            }
            let mut findings = call_checks.finish(&file, summary);
            findings.extend(bind_checks.finish());
            let report = CaptureReport {
                capture: "fuzz.pcap".into(),
                expectations: "fuzz.toml".into(),
                findings,
                error: None,
                ended_early: None,
                seconds: 0.0,
            };
            let mut out = Vec::new();
            report.write_text(&mut out).expect("writes to memory");
            rpcscope::check::report::write_junit(&mut out, &[report]).expect("writes to memory");
        }
        Err(e) => assert!(e.line <= text.lines().count() + 1, "{e}"),
    }
});
