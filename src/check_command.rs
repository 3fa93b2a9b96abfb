//! The `check` and `expect` commands of the binary: finds each capture's expectation file (the
//! one named, `NAME.expect.toml` beside a capture, or beside each capture of a folder), parses
//! every file before any capture is read (a bad file is exit status 2 with `file:line:column`),
//! checks, prints each report and writes JUnit XML on request.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rpcscope::check::file::{self, ExpectFile, MAX_EXPECTATION_FILE_BYTES};
use rpcscope::check::report::{CaptureReport, write_junit};
use rpcscope::check::{check_capture, write_expectations};
use rpcscope::output::sanitize;
use rpcscope::{RunError, Setup};

/// One capture and the expectations it is checked against.
pub struct Job {
    capture: PathBuf,
    expectations: PathBuf,
    text: String,
    file: ExpectFile,
}

/// The expectation file that goes with `capture` when none is named: `NAME.expect.toml`.
fn beside(capture: &Path) -> PathBuf {
    let stem = capture.file_stem().unwrap_or_default().to_string_lossy();
    capture.with_file_name(format!("{stem}.expect.toml"))
}

fn is_capture(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
}

/// Reads and parses an expectation file.
fn read_expectations(path: &Path) -> Result<(String, ExpectFile), String> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_EXPECTATION_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > MAX_EXPECTATION_FILE_BYTES {
        return Err(format!(
            "{name}: longer than {MAX_EXPECTATION_FILE_BYTES} bytes, not read"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = file::position(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        format!("{name}:{line}:{column}: not UTF-8 text")
    })?;
    let parsed = file::parse(&text).map_err(|e| {
        if e.line == 0 {
            format!("{name}: {e}")
        } else {
            format!("{name}:{e}")
        }
    })?;
    Ok((text, parsed))
}

/// The captures to check and their parsed expectations; `Err` is a message for exit status 2.
pub fn jobs(capture: &Path, expectations: Option<&Path>) -> Result<Vec<Job>, String> {
    let pairs: Vec<(PathBuf, PathBuf)> = if capture.is_dir() {
        if expectations.is_some() {
            return Err(format!(
                "{}: a folder is checked against the NAME.expect.toml beside each capture; \
                 name no expectation file",
                capture.display()
            ));
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(capture)
            .map_err(|e| format!("{}: {e}", capture.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_capture(p) && beside(p).is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(format!(
                "{}: no capture here has a NAME.expect.toml beside it (rpcscope expect \
                 CAPTURE > NAME.expect.toml writes one)",
                capture.display()
            ));
        }
        found
            .into_iter()
            .map(|c| {
                let e = beside(&c);
                (c, e)
            })
            .collect()
    } else {
        let e = expectations.map_or_else(|| beside(capture), Path::to_path_buf);
        vec![(capture.to_path_buf(), e)]
    };
    pairs
        .into_iter()
        .map(|(capture, expectations)| {
            let (text, file) = read_expectations(&expectations)?;
            Ok(Job {
                capture,
                expectations,
                text,
                file,
            })
        })
        .collect()
}

/// True when an entry of some job compares decoded parameters.
pub fn needs_decoding(jobs: &[Job]) -> bool {
    jobs.iter().any(|j| j.file.needs_decoding())
}

/// Checks every job, prints the reports, writes JUnit XML to `junit` when named.
pub fn run(jobs: &[Job], setup: &Setup, junit: Option<&Path>) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut reports = Vec::new();
    for job in jobs {
        let names = (
            job.capture.display().to_string(),
            job.expectations.display().to_string(),
        );
        let report = match check_capture(
            &job.capture,
            &job.file,
            &job.text,
            setup.clone(),
            (&names.0, &names.1),
        ) {
            Ok(r) => r,
            Err(e @ (RunError::Open(_) | RunError::Source(_) | RunError::Threads(_))) => {
                CaptureReport {
                    capture: names.0,
                    expectations: names.1,
                    findings: Vec::new(),
                    error: Some(e.to_string()),
                    ended_early: None,
                    seconds: 0.0,
                }
            }
            Err(RunError::Output(e)) => return fail(&format!("<stdout>: {e}")),
        };
        if let Err(e) = report.write_text(&mut out).and_then(|()| out.flush()) {
            return if e.kind() == io::ErrorKind::BrokenPipe {
                ExitCode::SUCCESS
            } else {
                fail(&format!("<stdout>: {e}"))
            };
        }
        reports.push(report);
    }
    let failed = reports.iter().filter(|r| r.failures() > 0).count();
    if reports.len() > 1 {
        let _ = writeln!(
            out,
            "{} captures checked: {}",
            reports.len(),
            if failed == 0 {
                "every expectation holds".to_string()
            } else {
                format!("{failed} with failures")
            }
        );
    }
    let _ = out.flush();
    if let Some(path) = junit {
        let written = File::create(path).and_then(|f| {
            let mut w = BufWriter::new(f);
            write_junit(&mut w, &reports)?;
            w.flush()
        });
        if let Err(e) = written {
            return fail(&format!("{}: {e}", path.display()));
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `rpcscope expect CAPTURE`: the starting expectation file on standard output.
pub fn expect(capture: &Path, setup: &Setup) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match write_expectations(capture, setup.clone(), &mut out).and_then(|run| {
        out.flush().map_err(RunError::Output)?;
        Ok(run)
    }) {
        Ok(run) => match run.stopped_by {
            Some(e) => fail(&format!(
                "{}: {e} (the frames before it were written out)",
                capture.display()
            )),
            None => ExitCode::SUCCESS,
        },
        Err(RunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{}: {e}", capture.display())),
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "rpcscope: {}", sanitize(message));
    ExitCode::FAILURE
}
