//! Output layer, regression checks on captures: `rpcscope check CAPTURE EXPECT` compares what a
//! capture holds with an expectation file ([`file`](mod@file): expected and forbidden calls,
//! bind results, totals) as the capture is read ([`matching`]) and reports each entry like a
//! failing test, as text or JUnit XML ([`report`]); `rpcscope expect CAPTURE` writes a starting
//! file from the capture ([`generate`]). The format and its rules are in `docs/check.md`.

pub mod file;
pub mod generate;
pub mod matching;
pub mod report;

use std::path::Path;
use std::time::Instant;

use crate::analysis::{Analysis, RunError, Setup};
#[cfg(doc)]
use crate::idl::Library;
use file::ExpectFile;
use generate::ExpectationWriter;
use matching::{BindChecks, CallChecks};
use report::CaptureReport;

/// Checks the capture at `capture` against `file` (whose text is `text`, for line numbers),
/// read with `setup`, whose library must decode parameters ([`Library::decode_parameters`])
/// when an entry compares them ([`ExpectFile::needs_decoding`]); `names` are the capture's and
/// the file's names for the report.
///
/// # Errors
/// The capture cannot be opened or is not a capture. A capture cut short is checked up to
/// where it ends, and the report says so ([`CaptureReport::ended_early`]).
pub fn check_capture(
    capture: &Path,
    file: &ExpectFile,
    text: &str,
    setup: Setup,
    names: (&str, &str),
) -> Result<CaptureReport, RunError> {
    let started = Instant::now();
    let mut calls = CallChecks::new(file, text);
    let mut binds = BindChecks::new(file, text);
    let mut on_pdu = |p| binds.pdu(&p);
    let run = Analysis::from_path(capture)
        .setup(setup)
        .pdus(&mut on_pdu)
        .for_each_call(|c| {
            calls.call(&c);
            Ok(())
        })?;
    let mut findings = calls.finish(file, &run.summary);
    findings.extend(binds.finish());
    Ok(CaptureReport {
        capture: names.0.to_string(),
        expectations: names.1.to_string(),
        findings,
        error: None,
        ended_early: run.stopped_by.map(|e| e.to_string()),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes a starting expectation file for the capture at `capture` to `out`.
///
/// # Errors
/// The capture cannot be read, or writing failed ([`RunError::Output`]).
pub fn write_expectations(
    capture: &Path,
    setup: Setup,
    out: &mut impl std::io::Write,
) -> Result<crate::analysis::Run, RunError> {
    // both callbacks run on this thread, one at a time
    let writer = std::cell::RefCell::new(ExpectationWriter::default());
    let mut on_pdu = |p| writer.borrow_mut().pdu(&p);
    let run = Analysis::from_path(capture)
        .setup(setup)
        .pdus(&mut on_pdu)
        .for_each_call(|c| {
            writer.borrow_mut().call(&c);
            Ok(())
        })?;
    writer
        .borrow()
        .write(
            out,
            &capture.file_name().map_or_else(
                || capture.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            &run.summary,
            run.stopped_by.as_ref().map(ToString::to_string).as_deref(),
        )
        .map_err(RunError::Output)?;
    Ok(run)
}
