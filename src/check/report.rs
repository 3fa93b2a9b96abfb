//! Output layer, the report of `rpcscope check`: each entry of the expectation file with its
//! verdict, and under a failed one what was expected, what came closest and how it differs,
//! as a test runner prints a failure; and the same as JUnit XML (`--junit FILE`) for CI
//! systems, one test suite per capture and one test case per entry. Strings from the capture
//! are escaped for the terminal ([`crate::output::sanitize`]) and for XML.

use std::io::{self, Write};

use crate::output::sanitize;

/// `n` and a noun, plural when `n` is not 1.
pub(super) fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether an entry held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It held.
    Passed,
    /// It did not.
    Failed,
}

/// The verdict on one entry of an expectation file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `call`, `forbid`, `bind` or `totals`.
    pub kind: &'static str,
    /// 1-based position among the entries of its kind (0 for totals).
    pub index: usize,
    /// Line of the entry in the file (0 for totals).
    pub line: usize,
    /// What the entry asks, in a line.
    pub title: String,
    /// Whether it held.
    pub verdict: Outcome,
    /// How many calls (or context results) matched it; the total found for totals.
    pub matched: u64,
    /// Why it failed: the counts, the closest candidate and its differences.
    pub details: Vec<String>,
}

/// The check of one capture against one expectation file.
#[derive(Clone, Debug)]
pub struct CaptureReport {
    /// The capture, as named on the command line.
    pub capture: String,
    /// The expectation file, as named.
    pub expectations: String,
    /// Each entry's verdict.
    pub findings: Vec<Finding>,
    /// Why the capture could not be read at all (it then fails), if it could not.
    pub error: Option<String>,
    /// Why reading stopped before the end of the file (a capture cut short): the entries were
    /// checked against what came before, and the report says so.
    pub ended_early: Option<String>,
    /// Seconds the check took.
    pub seconds: f64,
}

impl CaptureReport {
    /// Entries that failed (a capture that could not be read counts as one).
    #[must_use]
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == Outcome::Failed)
            .count()
            + usize::from(self.error.is_some())
    }

    /// Writes the report as text.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "{} against {}",
            sanitize(&self.capture),
            sanitize(&self.expectations)
        )?;
        for f in &self.findings {
            let mark = match f.verdict {
                Outcome::Passed => "ok  ",
                Outcome::Failed => "FAIL",
            };
            let place = if f.line > 0 {
                format!("{}:{}: ", sanitize(&self.expectations), f.line)
            } else {
                String::new()
            };
            let matched = match (f.kind, f.verdict) {
                ("totals", _) | (_, Outcome::Failed) => String::new(),
                ("bind", _) => format!(
                    " ({})",
                    counted(f.matched, "context result", "context results")
                ),
                _ => format!(" ({})", counted(f.matched, "call", "calls")),
            };
            writeln!(out, "  {mark}  {place}{}{matched}", sanitize(&f.title))?;
            for d in &f.details {
                writeln!(out, "          {}", sanitize(d))?;
            }
        }
        if let Some(e) = &self.error {
            writeln!(
                out,
                "  FAIL  the capture could not be read: {}",
                sanitize(e)
            )?;
        }
        if let Some(e) = &self.ended_early {
            writeln!(
                out,
                "  note  the capture ends early, checked up to there: {}",
                sanitize(e)
            )?;
        }
        let failed = self.failures();
        let total = self.findings.len();
        if failed == 0 {
            writeln!(out, "  all {total} expectations hold")
        } else {
            writeln!(out, "  {failed} of {total} expectations failed")
        }
    }
}

/// Text escaped for XML attributes and content; control characters other than tab and line
/// breaks (which XML 1.0 cannot hold) become `\u{..}`.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Writes the reports as JUnit XML: one `<testsuite>` per capture, one `<testcase>` per entry
/// (its `<failure>` holding the details), and a failed case for a capture not read to its end.
///
/// # Errors
/// Writing failed.
pub fn write_junit(out: &mut impl Write, reports: &[CaptureReport]) -> io::Result<()> {
    let tests: usize = reports
        .iter()
        .map(|r| r.findings.len() + usize::from(r.error.is_some()))
        .sum();
    let failures: usize = reports.iter().map(CaptureReport::failures).sum();
    let seconds: f64 = reports.iter().map(|r| r.seconds).sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="rpcscope check" tests="{tests}" failures="{failures}" time="{seconds:.3}">"#
    )?;
    for r in reports {
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" time="{:.3}">"#,
            xml(&r.capture),
            r.findings.len() + usize::from(r.error.is_some()),
            r.failures(),
            r.seconds
        )?;
        for f in &r.findings {
            let name = if f.line > 0 {
                format!("{}:{} {}", r.expectations, f.line, f.title)
            } else {
                format!("totals {}", f.title)
            };
            write!(
                out,
                r#"    <testcase classname="{}" name="{}""#,
                xml(&r.expectations),
                xml(&name)
            )?;
            if f.verdict == Outcome::Passed {
                writeln!(out, "/>")?;
            } else {
                writeln!(out, ">")?;
                writeln!(
                    out,
                    r#"      <failure message="{}">{}</failure>"#,
                    xml(f.details.first().map_or("failed", String::as_str)),
                    xml(&f.details.join("\n"))
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
        if let Some(e) = &r.error {
            writeln!(
                out,
                r#"    <testcase classname="{}" name="the capture is read">"#,
                xml(&r.expectations)
            )?;
            writeln!(out, r#"      <failure message="{}"/>"#, xml(e))?;
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CaptureReport {
        CaptureReport {
            capture: "a<b>.pcap".into(),
            expectations: "a.expect.toml".into(),
            findings: vec![
                Finding {
                    kind: "call",
                    index: 1,
                    line: 3,
                    title: "call operation = SamrConnect5".into(),
                    verdict: Outcome::Passed,
                    matched: 2,
                    details: Vec::new(),
                },
                Finding {
                    kind: "call",
                    index: 2,
                    line: 7,
                    title: "call status = \"ok\" & more".into(),
                    verdict: Outcome::Failed,
                    matched: 0,
                    details: vec![
                        "expected at least 1 matching calls, found 0".into(),
                        "x\u{1b}[31m".into(),
                    ],
                },
            ],
            error: None,
            ended_early: None,
            seconds: 0.25,
        }
    }

    #[test]
    fn text_names_each_entry_and_escapes_the_capture() {
        let mut out = Vec::new();
        report().write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("ok    a.expect.toml:3: call operation = SamrConnect5 (2 calls)"),
            "{text}"
        );
        assert!(text.contains("FAIL  a.expect.toml:7:"), "{text}");
        assert!(text.contains("1 of 2 expectations failed"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn junit_is_escaped_xml_with_one_case_per_entry() {
        let mut out = Vec::new();
        write_junit(&mut out, &[report()]).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(
            xml.contains(r#"<testsuite name="a&lt;b&gt;.pcap" tests="2" failures="1""#),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("&quot;ok&quot; &amp; more"), "{xml}");
        assert!(!xml.contains('\u{1b}') && xml.contains("\\u{1b}"), "{xml}");
    }
}
