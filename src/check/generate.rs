//! Output layer, `rpcscope expect`: a starting expectation file written from what a capture
//! holds. Every distinct call (interface, operation, outcome, return code or fault,
//! authentication, pipe, transport) becomes a `[[call]]` entry with its exact count, in the
//! order it first appears (`order = "capture"`), and every distinct context result a `[[bind]]`
//! entry; `[totals]` counts the calls by outcome. Times, ports, frames, call ids and durations
//! are left out, so the file still holds when the same traffic is recorded again. Checking the
//! capture against its own file holds by construction (`tests/check.rs` checks it on every
//! capture). At most [`super::file::MAX_EXPECTATIONS`] distinct entries are written.

use std::collections::HashMap;
use std::io::{self, Write};

use super::file::MAX_EXPECTATIONS;
use super::matching::{BindPairs, ContextOutcome, pipe_base};
use crate::dce::names;
use crate::model::{Call, Outcome, PduRecord};
use crate::status::Severity;
use crate::summary::Summary;

/// The fields of a `[[call]]` entry, in the order written.
type CallKey = Vec<(&'static str, Field)>;

/// A value in an entry: text (quoted in TOML), a number or a flag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Field {
    Text(String),
    Number(u64),
    Flag(bool),
}

impl Field {
    fn toml(&self) -> String {
        match self {
            Self::Text(s) => toml::Value::String(s.clone()).to_string(),
            Self::Number(n) => n.to_string(),
            Self::Flag(b) => b.to_string(),
        }
    }
}

fn call_key(c: &Call) -> CallKey {
    let text = |s: &str| Field::Text(s.to_string());
    let mut k = Vec::new();
    if let Some(i) = &c.interface {
        let name = i
            .name
            .as_deref()
            .map_or_else(|| i.syntax.uuid.to_string(), str::to_string);
        k.push(("interface", Field::Text(name)));
    }
    if let Some(op) = &c.operation {
        k.push(("operation", text(op)));
    }
    if let Some(n) = c.opnum {
        k.push(("opnum", Field::Number(u64::from(n))));
    }
    k.push(("outcome", text(c.outcome.name())));
    if let Some(s) = c.status {
        k.push((
            "status",
            s.name().map_or(Field::Number(u64::from(s.code)), |n| {
                Field::Text(n.into_owned())
            }),
        ));
    }
    if let Some(f) = c.fault_status {
        k.push((
            "fault",
            crate::dce::codes::fault_name(f).map_or(Field::Number(u64::from(f)), text),
        ));
    }
    if let Some(a) = c.auth {
        k.push(("auth_type", Field::Text(a.type_name().into_owned())));
        k.push(("auth_level", Field::Text(a.level_name().into_owned())));
    }
    if let Some(d) = c.decryption {
        k.push(("decryption", text(d)));
    }
    if let Some(p) = &c.pipe {
        k.push(("pipe", text(p)));
    }
    k.push(("transport", text(c.transport)));
    k
}

fn bind_key(o: &ContextOutcome) -> CallKey {
    let text = |s: &str| Field::Text(s.to_string());
    let mut k = Vec::new();
    let name = names::interface_name(o.interface.uuid, o.interface.major)
        .map_or_else(|| o.interface.uuid.to_string(), str::to_string);
    k.push(("interface", Field::Text(name)));
    k.push(("result", text(&o.result)));
    if let Some(r) = &o.reason {
        k.push(("reason", text(r)));
    }
    if let Some(t) = o.transfer_syntax {
        k.push(("transfer_syntax", text(t)));
    }
    if o.alter {
        k.push(("alter", Field::Flag(true)));
    }
    if let Some(p) = &o.pipe {
        k.push(("pipe", text(p)));
    }
    k
}

/// A field's value as the checker compares it (case aside; a pipe without `\PIPE\`).
fn compared(name: &str, f: &Field) -> Field {
    match f {
        Field::Text(s) if name == "pipe" => Field::Text(pipe_base(s).to_ascii_lowercase()),
        Field::Text(s) => Field::Text(s.to_ascii_lowercase()),
        other => other.clone(),
    }
}

/// The value that says a field is absent: `none`, or `false` for a flag.
fn absent(name: &str) -> Field {
    if name == "alter" {
        Field::Flag(false)
    } else {
        Field::Text("none".into())
    }
}

/// Does every field of `g` have the same value in `h` (so that `g`, as an entry, matches what
/// `h` counts too)?
fn covers(g: &[(&str, Field)], h: &[(&str, Field)]) -> bool {
    g.iter()
        .all(|(n, v)| h.iter().any(|(m, w)| m == n && v == w))
}

/// Entries that, as written, would also match the calls of other entries (one without a return
/// code matches those with one) get `none` for the fields they lack, so that each matches its
/// own calls only and its count holds.
fn disambiguate(entries: &mut [(CallKey, u64)]) {
    let keys: Vec<Vec<(&str, Field)>> = entries
        .iter()
        .map(|(k, _)| k.iter().map(|(n, v)| (*n, compared(n, v))).collect())
        .collect();
    // entries are compared only with those of the same interface (or without one)
    let mut by_interface: HashMap<Option<&Field>, Vec<usize>> = HashMap::new();
    let interface =
        |k: &[(&str, Field)]| -> Option<usize> { k.iter().position(|(n, _)| *n == "interface") };
    for (i, k) in keys.iter().enumerate() {
        by_interface
            .entry(interface(k).map(|p| &k[p].1))
            .or_default()
            .push(i);
    }
    let all: Vec<usize> = (0..keys.len()).collect();
    let mut additions: Vec<Vec<&'static str>> = vec![Vec::new(); keys.len()];
    for (i, g) in keys.iter().enumerate() {
        let candidates = match interface(g) {
            Some(p) => by_interface
                .get(&Some(&g[p].1))
                .map_or(&all[..0], Vec::as_slice),
            None => &all[..],
        };
        let covered: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&j| j != i && covers(g, &keys[j]))
            .collect();
        if covered.is_empty() {
            continue;
        }
        for &j in &covered {
            for (name, _) in &entries[j].0 {
                if !entries[i].0.iter().any(|(n, _)| n == name) && !additions[i].contains(name) {
                    additions[i].push(name);
                }
            }
        }
    }
    for ((key, _), extra) in entries.iter_mut().zip(additions) {
        key.extend(extra.into_iter().map(|name| (name, absent(name))));
    }
}

/// Distinct entries in the order first seen, with their counts.
#[derive(Debug, Default)]
struct Groups {
    /// Entries by their key as the checker compares it.
    index: HashMap<CallKey, usize>,
    entries: Vec<(CallKey, u64)>,
    left_out: u64,
}

impl Groups {
    /// Counts `key` in its entry: keys the checker cannot tell apart (`\\PIPE\\srvsvc` and
    /// `srvsvc`, names differing in case) share one, written as first seen.
    fn add(&mut self, key: CallKey, room: usize) {
        let compared_key: CallKey = key.iter().map(|(n, v)| (*n, compared(n, v))).collect();
        if let Some(&i) = self.index.get(&compared_key) {
            self.entries[i].1 += 1;
        } else if self.entries.len() < room {
            self.index.insert(compared_key, self.entries.len());
            self.entries.push((key, 1));
        } else {
            self.left_out += 1;
        }
    }
}

/// Collects a capture's calls and PDUs into an expectation file.
#[derive(Debug, Default)]
pub struct ExpectationWriter {
    calls: Groups,
    binds: Groups,
    pairs: BindPairs,
    outcomes: [u64; 4],
    errors: u64,
}

impl ExpectationWriter {
    /// The next call in capture order.
    pub fn call(&mut self, c: &Call) {
        self.outcomes[match c.outcome {
            Outcome::Response => 0,
            Outcome::Fault => 1,
            Outcome::NoResponse => 2,
            Outcome::Incomplete => 3,
        }] += 1;
        if c.status.is_some_and(|s| s.severity() == Severity::Error) {
            self.errors += 1;
        }
        let room = MAX_EXPECTATIONS / 2;
        self.calls.add(call_key(c), room);
    }

    /// The next PDU read.
    pub fn pdu(&mut self, p: &PduRecord) {
        for o in self.pairs.pdu(p) {
            self.binds.add(bind_key(&o), MAX_EXPECTATIONS / 2);
        }
    }

    /// Writes the file for `capture` (named in its first comment; `ended_early` says why the
    /// capture was not read to its end, if it was not).
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(
        &self,
        out: &mut impl Write,
        capture: &str,
        summary: &Summary,
        ended_early: Option<&str>,
    ) -> io::Result<()> {
        let mut call_entries = self.calls.entries.clone();
        disambiguate(&mut call_entries);
        let mut bind_entries = self.binds.entries.clone();
        disambiguate(&mut bind_entries);
        let calls: u64 = self.outcomes.iter().sum();
        let name = capture.replace(['\n', '\r'], " ");
        for line in [
            format!("Expectations for {name}, written by `rpcscope expect`: every distinct"),
            "call and context result it holds, with its count; times, ports, frames, call ids"
                .into(),
            "and durations left out. Keep what matters, loosen counts (`count = { min = N }`),"
                .into(),
            format!("then: rpcscope check {name} THIS_FILE. The format: docs/check.md."),
        ] {
            writeln!(out, "# {line}")?;
        }
        if self.calls.left_out + self.binds.left_out > 0 {
            writeln!(
                out,
                "# {} calls and {} context results beyond the first {} distinct entries are not listed.",
                self.calls.left_out,
                self.binds.left_out,
                MAX_EXPECTATIONS / 2
            )?;
        }
        if let Some(why) = ended_early {
            let why = why.replace(['\n', '\r'], " ");
            writeln!(
                out,
                "# The capture ends early ({why}): what came before is listed."
            )?;
        }
        writeln!(out, "order = \"capture\"")?;
        writeln!(out)?;
        writeln!(out, "[totals]")?;
        writeln!(out, "calls = {calls}")?;
        for (name, n) in ["responses", "faults", "no_response", "incomplete"]
            .iter()
            .zip(self.outcomes)
        {
            writeln!(out, "{name} = {n}")?;
        }
        writeln!(out, "errors = {}", self.errors)?;
        writeln!(out, "pdus = {}", summary.pdus.values().sum::<u64>())?;
        for counter in ["contexts_accepted", "contexts_rejected"] {
            writeln!(
                out,
                "{counter} = {}",
                summary.counters.get(counter).copied().unwrap_or(0)
            )?;
        }
        for (kind, entries) in [("call", &call_entries), ("bind", &bind_entries)] {
            for (key, count) in entries {
                writeln!(out)?;
                writeln!(out, "[[{kind}]]")?;
                for (name, value) in key {
                    writeln!(out, "{name} = {}", value.toml())?;
                }
                writeln!(out, "count = {count}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::file::parse;
    use crate::check::matching::CallChecks;

    fn call(pipe: &str, opnum: u16, named: bool) -> Call {
        let mut c = Call::for_tests(1, 10, 10);
        c.transport = "ncacn_np";
        c.pipe = Some(pipe.into());
        c.opnum = Some(opnum);
        c.operation = named.then(|| "NetrShareEnum".into());
        c
    }

    /// Calls the checker cannot tell apart share an entry (pipe names spelt differently), and
    /// an entry that would match another's calls (no operation name, the same opnum) is told
    /// apart with `none`: checking the calls against the file written from them holds.
    #[test]
    fn entries_hold_against_the_calls_they_were_written_from() {
        let calls = [
            call("srvsvc", 15, true),
            call("\\PIPE\\srvsvc", 15, true),
            call("\\srvsvc", 15, true),
            call("srvsvc", 15, false),
        ];
        // a summary to write the totals from (they are not what this test is about)
        let capture = include_bytes!("../../captures/real/02-epm-map-samr.pcap");
        let summary = crate::analyze(capture).unwrap().1.summary;
        let mut writer = ExpectationWriter::default();
        calls.iter().for_each(|c| writer.call(c));
        let mut out = Vec::new();
        writer.write(&mut out, "test.pcap", &summary, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("[[call]]").count(), 2, "{text}");
        assert!(
            text.contains("count = 3") && text.contains("operation = \"none\""),
            "{text}"
        );
        let file = parse(&text).unwrap();
        let mut checks = CallChecks::new(&file, &text);
        calls.iter().for_each(|c| checks.call(c));
        let findings = checks.finish(&file, &summary);
        let failed: Vec<_> = findings
            .iter()
            .filter(|f| f.kind == "call" && f.verdict == crate::check::report::Outcome::Failed)
            .collect();
        assert!(failed.is_empty(), "{failed:#?}\n{text}");
    }
}
