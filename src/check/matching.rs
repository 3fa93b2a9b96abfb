//! Analysis layer, checking a capture against an expectation file as it is read: each call is
//! compared with every `[[call]]` and `[[forbid]]` entry ([`CallChecks`]), each presentation
//! context's result, paired from the bind and its answer, with every `[[bind]]` entry
//! ([`BindChecks`]); the totals come from the run. For an entry that no call matched, the
//! closest call (the most fields in agreement, the first of equals) is kept with its
//! differences. Memory does not grow with the capture: per entry a few counters, the first
//! frames it matched and its closest call; unanswered binds at most [`MAX_PENDING_BINDS`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use super::file::{BindExpectation, CallExpectation, Code, Count, ExpectFile, Opnum, Order};
use super::report::{Finding, Outcome as Verdict, counted};
use crate::dce::SyntaxId;
use crate::dce::body::{Body, ContextElement};
use crate::dce::codes::{bind_nak_reason_name, context_result_name, provider_reason_name};
use crate::dce::names;
use crate::model::{Call, Outcome, PduRecord};
use crate::output::text::call_row;
use crate::status::Severity;
use crate::summary::Summary;

/// Binds (and alter_contexts) waiting for their answer, over the whole capture; past it the
/// oldest is forgotten (its contexts are then never checked).
pub const MAX_PENDING_BINDS: usize = 4096;

/// Frames of the first matches kept per entry, for the report.
const FRAMES_SHOWN: usize = 5;

/// One field compared: its name, what the entry says and what the call has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Field name as written in the file.
    pub field: &'static str,
    /// The value the entry asks for.
    pub expected: String,
    /// The value found.
    pub found: String,
}

/// The call (or bind result) that came closest to an entry no call matched.
#[derive(Clone, Debug)]
struct Closest {
    agreeing: usize,
    row: String,
    differences: Vec<Difference>,
}

/// What one entry has seen so far.
#[derive(Clone, Debug, Default)]
struct EntryState {
    matched: u64,
    /// Position (in capture order) and frame of the first match.
    first: Option<(u64, u64)>,
    frames: Vec<u64>,
    closest: Option<Closest>,
}

impl EntryState {
    fn matched(&mut self, position: u64, frame: u64) {
        self.matched += 1;
        self.first.get_or_insert((position, frame));
        if self.frames.len() < FRAMES_SHOWN {
            self.frames.push(frame);
        }
    }

    /// Keeps `candidate` when it agrees on more fields than the closest so far (only while
    /// nothing matched: the closest call is shown for entries nothing matched).
    fn near(&mut self, agreeing: usize, details: impl FnOnce() -> (String, Vec<Difference>)) {
        if self.matched == 0 && self.closest.as_ref().is_none_or(|c| agreeing > c.agreeing) {
            let (row, differences) = details();
            self.closest = Some(Closest {
                agreeing,
                row,
                differences,
            });
        }
    }
}

/// How much agreeing on `field` makes a call close to an entry: which call it is (interface,
/// operation, opnum) counts more than how it went.
fn weight(field: &str) -> usize {
    match field {
        "interface" | "operation" | "opnum" => 4,
        _ => 1,
    }
}

/// Case-insensitive equality.
fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A pipe name without `\PIPE\` (or `\\PIPE\`, in any case) and leading backslashes.
pub(super) fn pipe_base(p: &str) -> &str {
    let p = p.trim_start_matches('\\');
    match p.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("pipe\\") => &p[5..],
        _ => p,
    }
}

/// Do two pipe names name the same pipe ([`pipe_base`], case aside)?
fn same_pipe(a: &str, b: &str) -> bool {
    same(pipe_base(a), pipe_base(b))
}

/// Does `written` (an address with or without its port) name `addr`?
fn same_address(written: &str, addr: SocketAddr) -> bool {
    match written.parse::<SocketAddr>() {
        Ok(a) => a == addr,
        Err(_) => written
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip == addr.ip()),
    }
}

fn interface_text(syntax: &SyntaxId, name: Option<&str>) -> String {
    name.map_or_else(|| syntax.uuid.to_string(), str::to_string)
}

/// Does `written` name the interface: its name, its short name (`svcctl`, `epmapper`) or its
/// UUID?
fn same_interface(written: &str, syntax: &SyntaxId, name: Option<&str>) -> bool {
    name.is_some_and(|n| same(n, written))
        || same(&syntax.uuid.to_string(), written)
        || names::short_interface_name(syntax.uuid, syntax.major).is_some_and(|s| same(&s, written))
}

/// Does `written` name `found` (a code and its name), or say `none` when there is none?
fn code_matches(written: &Code, found: Option<(u32, Option<&str>)>) -> bool {
    match (written, found) {
        (Code::Number(n), Some((code, _))) => *n == code,
        (Code::Name(w), Some((_, name))) => name.is_some_and(|n| same(n, w)),
        (Code::Name(w), None) => same(w, "none"),
        (Code::Number(_), None) => false,
    }
}

/// Does `written` name operation `name`: as Microsoft's IDL spells it (`RCloseServiceHandle`,
/// `IDL_DRSBind`), or without the `R` or `IDL_` those names start with, as Wireshark, Zeek and
/// Suricata spell them (`CloseServiceHandle`, `DRSBind`)?
fn same_operation(written: &str, name: &str) -> bool {
    let bare = name.strip_prefix("IDL_").unwrap_or(name);
    let bare = bare
        .strip_prefix('R')
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(bare);
    same(written, name) || same(written, bare)
}

/// Does `written` name `found`, or say `none` when there is none?
fn text_matches(written: &str, found: Option<&str>) -> bool {
    found.map_or(same(written, "none"), |f| same(f, written))
}

/// A number about one side of a call, `none` when that side was not seen.
fn side_text(side: Option<&crate::model::PduSpan>, f: fn(&crate::model::PduSpan) -> u64) -> String {
    side.map_or_else(|| "none".into(), |s| f(s).to_string())
}

fn text_or_none(v: Option<&str>) -> String {
    v.unwrap_or("none").to_string()
}

/// What a call's fields read as, worked out once per call for all the entries.
struct CallView<'a> {
    call: &'a Call,
    /// Name, UUID and short name of the interface.
    interface: Option<[String; 3]>,
    status_name: Option<String>,
    fault_name: Option<crate::model::Name>,
    auth_type: Option<String>,
    auth_level: Option<String>,
    pipe: Option<&'a str>,
    /// The decoded parameters as JSON, when an entry compares them.
    decoded: Option<serde_json::Value>,
}

impl<'a> CallView<'a> {
    fn new(c: &'a Call, decodes: bool) -> Self {
        Self {
            call: c,
            interface: c.interface.as_ref().map(|i| {
                [
                    i.name.as_deref().unwrap_or_default().to_string(),
                    i.syntax.uuid.to_string(),
                    names::short_interface_name(i.syntax.uuid, i.syntax.major).unwrap_or_default(),
                ]
            }),
            status_name: c
                .status
                .and_then(|s| s.name())
                .map(std::borrow::Cow::into_owned),
            fault_name: c.fault_name(),
            auth_type: c.auth.map(|a| a.type_name().into_owned()),
            auth_level: c.auth.map(|a| a.level_name().into_owned()),
            pipe: c.pipe.as_deref().map(pipe_base),
            decoded: if decodes {
                c.decoded
                    .as_deref()
                    .and_then(|d| serde_json::to_value(d).ok())
            } else {
                None
            },
        }
    }
}

/// Whether each field `e` writes agrees with the call `v` shows, by field name, into `checks`;
/// with `to_first_difference`, only up to the first field that does not (enough to know the
/// call does not match, when the fields that agree do not matter).
fn call_fields(
    e: &CallExpectation,
    v: &CallView<'_>,
    checks: &mut Vec<(&'static str, bool)>,
    to_first_difference: bool,
) {
    checks.clear();
    let mut checks = Checks {
        list: checks,
        to_first_difference,
    };
    let c = v.call;
    let named = |found: Option<&str>, w: &str| found.map_or(same(w, "none"), |f| same(f, w));
    if let Some(w) = &e.interface {
        let agrees = v.interface.as_ref().map_or(same(w, "none"), |names| {
            names.iter().any(|n| !n.is_empty() && same(n, w))
        });
        if checks.push(("interface", agrees)) {
            return;
        }
    }
    if let Some(w) = &e.operation {
        let agrees = c
            .operation
            .as_deref()
            .map_or(same(w, "none"), |o| same_operation(w, o));
        if checks.push(("operation", agrees)) {
            return;
        }
    }
    if let Some(w) = e.opnum {
        let agrees = match w {
            Opnum::Number(n) => c.opnum == Some(n),
            Opnum::None => c.opnum.is_none(),
        };
        if checks.push(("opnum", agrees)) {
            return;
        }
    }
    if let Some(w) = e.outcome {
        if checks.push(("outcome", c.outcome == w)) {
            return;
        }
    }
    if let Some(w) = &e.status {
        let found = c.status.map(|s| (s.code, v.status_name.as_deref()));
        if checks.push(("status", code_matches(w, found))) {
            return;
        }
    }
    if let Some(w) = &e.fault {
        let found = c.fault_status.map(|s| (s, v.fault_name.as_deref()));
        if checks.push(("fault", code_matches(w, found))) {
            return;
        }
    }
    if let Some(w) = &e.auth_type {
        if checks.push(("auth_type", named(v.auth_type.as_deref(), w))) {
            return;
        }
    }
    if let Some(w) = &e.auth_level {
        if checks.push(("auth_level", named(v.auth_level.as_deref(), w))) {
            return;
        }
    }
    if let Some(w) = &e.decryption {
        if checks.push(("decryption", text_matches(w, c.decryption))) {
            return;
        }
    }
    if let Some(w) = &e.pipe {
        let agrees = v.pipe.map_or(same(w, "none"), |p| same(p, pipe_base(w)));
        if checks.push(("pipe", agrees)) {
            return;
        }
    }
    if let Some(w) = &e.transport {
        if checks.push(("transport", same(c.transport, w))) {
            return;
        }
    }
    if let Some(w) = &e.client {
        if checks.push(("client", same_address(w, c.client))) {
            return;
        }
    }
    if let Some(w) = &e.server {
        if checks.push(("server", same_address(w, c.server))) {
            return;
        }
    }
    if let Some(w) = &e.interface_source {
        if checks.push(("interface_source", text_matches(w, c.interface_source))) {
            return;
        }
    }
    if let Some(w) = &e.sec_addr {
        if checks.push(("sec_addr", text_matches(w, c.sec_addr.as_deref()))) {
            return;
        }
    }
    if let Some(w) = e.call_id {
        if checks.push(("call_id", c.call_id == w)) {
            return;
        }
    }
    let span_field =
        |side: Option<&crate::model::PduSpan>, f: fn(&crate::model::PduSpan) -> u64| side.map(f);
    if let Some(w) = e.request_fragments {
        let found = span_field(c.request.as_ref(), |s| u64::from(s.fragments));
        if checks.push(("request_fragments", found == Some(u64::from(w)))) {
            return;
        }
    }
    if let Some(w) = e.response_fragments {
        let found = span_field(c.response.as_ref(), |s| u64::from(s.fragments));
        if checks.push(("response_fragments", found == Some(u64::from(w)))) {
            return;
        }
    }
    if let Some(w) = e.request_stub_len {
        if checks.push((
            "request_stub_len",
            span_field(c.request.as_ref(), |s| s.stub_len) == Some(w),
        )) {
            return;
        }
    }
    if let Some(w) = e.response_stub_len {
        if checks.push((
            "response_stub_len",
            span_field(c.response.as_ref(), |s| s.stub_len) == Some(w),
        )) {
            return;
        }
    }
    let ms = c.duration_us.map(|us| us as f64 / 1e3);
    if let Some(w) = e.min_duration_ms {
        if checks.push(("min_duration_ms", ms.is_some_and(|ms| ms >= w))) {
            return;
        }
    }
    if let Some(w) = e.max_duration_ms {
        if checks.push(("max_duration_ms", ms.is_some_and(|ms| ms <= w))) {
            return;
        }
    }
    if let Some(w) = &e.decoded {
        let agrees = v.decoded.as_ref().is_some_and(|d| table_within(w, d));
        checks.push(("decoded", agrees));
    }
}

/// The fields compared so far; `push` says when to stop.
struct Checks<'a> {
    list: &'a mut Vec<(&'static str, bool)>,
    to_first_difference: bool,
}

impl Checks<'_> {
    /// Adds a field's result; true when comparing can stop here.
    fn push(&mut self, check: (&'static str, bool)) -> bool {
        self.list.push(check);
        self.to_first_difference && !check.1
    }
}

/// What `e` asks of `field`, for the report.
fn expected_text(e: &CallExpectation, field: &str) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match field {
        "interface" => text(&e.interface),
        "operation" => text(&e.operation),
        "opnum" => e.opnum.map(|n| n.to_string()).unwrap_or_default(),
        "outcome" => e.outcome.map(|o| o.to_string()).unwrap_or_default(),
        "status" => e.status.as_ref().map(Code::to_string).unwrap_or_default(),
        "fault" => e.fault.as_ref().map(Code::to_string).unwrap_or_default(),
        "auth_type" => text(&e.auth_type),
        "auth_level" => text(&e.auth_level),
        "decryption" => text(&e.decryption),
        "pipe" => text(&e.pipe),
        "transport" => text(&e.transport),
        "client" => text(&e.client),
        "server" => text(&e.server),
        "interface_source" => text(&e.interface_source),
        "sec_addr" => text(&e.sec_addr),
        "call_id" => e.call_id.map(|n| n.to_string()).unwrap_or_default(),
        "request_fragments" => e
            .request_fragments
            .map(|n| n.to_string())
            .unwrap_or_default(),
        "response_fragments" => e
            .response_fragments
            .map(|n| n.to_string())
            .unwrap_or_default(),
        "request_stub_len" => e
            .request_stub_len
            .map(|n| n.to_string())
            .unwrap_or_default(),
        "response_stub_len" => e
            .response_stub_len
            .map(|n| n.to_string())
            .unwrap_or_default(),
        "min_duration_ms" => e
            .min_duration_ms
            .map(|d| format!("{d} ms"))
            .unwrap_or_default(),
        "max_duration_ms" => e
            .max_duration_ms
            .map(|d| format!("{d} ms"))
            .unwrap_or_default(),
        _ => e
            .decoded
            .as_ref()
            .map(|t| compact(&toml::Value::Table(t.clone())))
            .unwrap_or_default(),
    }
}

/// What `c` has in `field`, for the report.
fn found_text(
    e: &CallExpectation,
    c: &Call,
    decoded: Option<&serde_json::Value>,
    field: &str,
) -> String {
    match field {
        "interface" => c.interface.as_ref().map_or_else(
            || "none".into(),
            |i| interface_text(&i.syntax, i.name.as_deref()),
        ),
        "operation" => text_or_none(c.operation.as_deref()),
        "opnum" => c.opnum.map_or_else(|| "none".into(), |n| n.to_string()),
        "outcome" => c.outcome.to_string(),
        "status" => c.status.map_or_else(|| "none".into(), |s| s.label()),
        "fault" => c
            .fault_name()
            .map_or_else(|| "none".into(), |n| n.to_string()),
        "auth_type" => c
            .auth
            .map_or_else(|| "none".into(), |a| a.type_name().into_owned()),
        "auth_level" => c
            .auth
            .map_or_else(|| "none".into(), |a| a.level_name().into_owned()),
        "decryption" => text_or_none(c.decryption),
        "pipe" => text_or_none(c.pipe.as_deref()),
        "transport" => c.transport.to_string(),
        "client" => c.client.to_string(),
        "server" => c.server.to_string(),
        "interface_source" => text_or_none(c.interface_source),
        "sec_addr" => text_or_none(c.sec_addr.as_deref()),
        "call_id" => c.call_id.to_string(),
        "request_fragments" => side_text(c.request.as_ref(), |s| u64::from(s.fragments)),
        "response_fragments" => side_text(c.response.as_ref(), |s| u64::from(s.fragments)),
        "request_stub_len" => side_text(c.request.as_ref(), |s| s.stub_len),
        "response_stub_len" => side_text(c.response.as_ref(), |s| s.stub_len),
        "min_duration_ms" | "max_duration_ms" => c
            .duration_us
            .map_or_else(|| "none".into(), |us| format!("{:.3} ms", us as f64 / 1e3)),
        _ => match (decoded, &e.decoded) {
            (Some(d), Some(w)) => decoded_near(&toml::Value::Table(w.clone()), d),
            _ => "not decoded".into(),
        },
    }
}

/// `written` as one line of TOML-like text.
fn compact(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{k} = {}", compact(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// What `found` holds at the places `written` names (for the report).
fn decoded_near(written: &toml::Value, found: &serde_json::Value) -> String {
    match (written, found) {
        (toml::Value::Table(t), serde_json::Value::Object(o)) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, w)| {
                    let v = o
                        .get(k)
                        .map_or_else(|| "absent".into(), |f| decoded_near(w, f));
                    format!("{k} = {v}")
                })
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        (_, f) => f.to_string(),
    }
}

/// Does the decoded JSON `found` hold every member `written` names?
fn table_within(written: &toml::Table, found: &serde_json::Value) -> bool {
    let serde_json::Value::Object(o) = found else {
        return false;
    };
    written
        .iter()
        .all(|(k, w)| o.get(k).is_some_and(|f| value_within(w, f)))
}

/// Does the decoded value `found` hold what `written` says? Tables compare the members
/// written; strings, numbers, booleans and arrays compare whole.
fn value_within(written: &toml::Value, found: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    use toml::Value as T;
    match (written, found) {
        (T::Table(t), J::Object(o)) => t
            .iter()
            .all(|(k, w)| o.get(k).is_some_and(|f| value_within(w, f))),
        (T::String(w), J::String(f)) => w == f,
        (T::Integer(w), J::Number(f)) => {
            f.as_i64() == Some(*w) || f.as_u64().is_some_and(|f| i64::try_from(f) == Ok(*w))
        }
        (T::Float(w), J::Number(f)) => f.as_f64() == Some(*w),
        (T::Boolean(w), J::Bool(f)) => w == f,
        (T::Array(w), J::Array(f)) => {
            w.len() == f.len() && w.iter().zip(f).all(|(w, f)| value_within(w, f))
        }
        _ => false,
    }
}

/// The `[[call]]` and `[[forbid]]` entries, checked against each call in capture order.
#[derive(Debug)]
pub struct CallChecks {
    calls: Vec<(CallExpectation, (usize, usize))>,
    forbids: Vec<(CallExpectation, (usize, usize))>,
    order: Order,
    call_state: Vec<EntryState>,
    forbid_state: Vec<EntryState>,
    seen: u64,
    responses: u64,
    faults: u64,
    no_response: u64,
    incomplete: u64,
    errors: u64,
    decodes: bool,
}

/// The frame a call is shown at: its request's first, else its response's.
fn call_frame(c: &Call) -> u64 {
    c.first_frame().unwrap_or(0)
}

impl CallChecks {
    /// The call entries of `file` (`text` is the file, for line numbers).
    #[must_use]
    pub fn new(file: &ExpectFile, text: &str) -> Self {
        let located =
            |v: &[toml::Spanned<CallExpectation>]| -> Vec<(CallExpectation, (usize, usize))> {
                v.iter()
                    .map(|s| {
                        (
                            s.get_ref().clone(),
                            super::file::position(text, s.span().start),
                        )
                    })
                    .collect()
            };
        let calls = located(&file.call);
        let forbids = located(&file.forbid);
        Self {
            call_state: vec![EntryState::default(); calls.len()],
            forbid_state: vec![EntryState::default(); forbids.len()],
            calls,
            forbids,
            order: file.order,
            seen: 0,
            responses: 0,
            faults: 0,
            no_response: 0,
            incomplete: 0,
            errors: 0,
            decodes: file.needs_decoding(),
        }
    }

    /// The next call in capture order.
    pub fn call(&mut self, c: &Call) {
        let position = self.seen;
        self.seen += 1;
        match c.outcome {
            Outcome::Response => self.responses += 1,
            Outcome::Fault => self.faults += 1,
            Outcome::NoResponse => self.no_response += 1,
            Outcome::Incomplete => self.incomplete += 1,
        }
        if c.status.is_some_and(|s| s.severity() == Severity::Error) {
            self.errors += 1;
        }
        let view = CallView::new(c, self.decodes);
        let frame = call_frame(c);
        let mut checks = Vec::with_capacity(24);
        for ((e, _), state) in self
            .calls
            .iter()
            .zip(&mut self.call_state)
            .chain(self.forbids.iter().zip(&mut self.forbid_state))
        {
            call_fields(e, &view, &mut checks, state.matched > 0);
            let agreeing = checks.iter().filter(|f| f.1).map(|f| weight(f.0)).sum();
            if checks.iter().all(|f| f.1) {
                state.matched(position, frame);
            } else {
                state.near(agreeing, || {
                    let differences = checks
                        .iter()
                        .filter(|f| !f.1)
                        .map(|&(field, _)| Difference {
                            field,
                            expected: expected_text(e, field),
                            found: found_text(e, c, view.decoded.as_ref(), field),
                        })
                        .collect();
                    let row = call_row(c);
                    (
                        row.split_whitespace().collect::<Vec<_>>().join(" "),
                        differences,
                    )
                });
            }
        }
    }

    /// The findings: each `[[call]]` (counts, order), each `[[forbid]]`, and the totals the
    /// file writes (`summary` for the PDU and context counts).
    #[must_use]
    pub fn finish(self, file: &ExpectFile, summary: &Summary) -> Vec<Finding> {
        let mut findings = Vec::new();
        let pdus: u64 = summary.pdus.values().sum();
        let counter = |name: &str| summary.counters.get(name).copied().unwrap_or(0);
        for (name, count) in file.totals.written() {
            let found = match name {
                "calls" => self.seen,
                "responses" => self.responses,
                "faults" => self.faults,
                "no_response" => self.no_response,
                "incomplete" => self.incomplete,
                "errors" => self.errors,
                "pdus" => pdus,
                "contexts_accepted" => counter("contexts_accepted"),
                _ => counter("contexts_rejected"),
            };
            let passed = count.holds(found);
            findings.push(Finding {
                kind: "totals",
                index: 0,
                line: 0,
                title: format!("{name}: {count}"),
                verdict: verdict(passed),
                matched: found,
                details: if passed {
                    Vec::new()
                } else {
                    vec![format!("expected {count}, found {found}")]
                },
            });
        }
        let mut previous_first: Option<(u64, u64, usize)> = None;
        for (i, ((e, at), state)) in self.calls.iter().zip(&self.call_state).enumerate() {
            let count = e.count.unwrap_or(Count::AT_LEAST_ONE);
            let title = format!("call {}", describe_call(e));
            let mut details = Vec::new();
            let mut passed = count.holds(state.matched);
            if !passed {
                details.push(format!(
                    "expected {count} matching calls, found {}",
                    state.matched
                ));
            }
            if self.order == Order::Capture
                && let (Some((pos, frame)), Some((prev_pos, prev_frame, prev_line))) =
                    (state.first, previous_first)
                && pos < prev_pos
            {
                passed = false;
                details.push(format!(
                    "out of order: first matched at frame {frame}, before the entry at line {prev_line} (frame {prev_frame})"
                ));
            }
            if let Some((pos, frame)) = state.first {
                previous_first = Some((pos, frame, at.0));
            }
            if !passed {
                add_evidence(&mut details, state);
            }
            findings.push(Finding {
                kind: "call",
                index: i + 1,
                line: at.0,
                title,
                verdict: verdict(passed),
                matched: state.matched,
                details,
            });
        }
        for (i, ((e, at), state)) in self.forbids.iter().zip(&self.forbid_state).enumerate() {
            let passed = state.matched == 0;
            let mut details = Vec::new();
            if !passed {
                let frames: Vec<String> = state.frames.iter().map(u64::to_string).collect();
                details.push(format!(
                    "{} found, at {} {}{}",
                    counted(state.matched, "forbidden call", "forbidden calls"),
                    if frames.len() == 1 { "frame" } else { "frames" },
                    frames.join(", "),
                    if state.matched > frames.len() as u64 {
                        ", ..."
                    } else {
                        ""
                    }
                ));
            }
            findings.push(Finding {
                kind: "forbid",
                index: i + 1,
                line: at.0,
                title: format!("no call {}", describe_call(e)),
                verdict: verdict(passed),
                matched: state.matched,
                details,
            });
        }
        findings
    }
}

fn verdict(passed: bool) -> Verdict {
    if passed {
        Verdict::Passed
    } else {
        Verdict::Failed
    }
}

/// The frames matched and the closest candidate, under a failed entry.
fn add_evidence(details: &mut Vec<String>, state: &EntryState) {
    if !state.frames.is_empty() {
        let frames: Vec<String> = state.frames.iter().map(u64::to_string).collect();
        details.push(format!(
            "matched at frames {}{}",
            frames.join(", "),
            if state.matched > frames.len() as u64 {
                ", ..."
            } else {
                ""
            }
        ));
    }
    if state.matched == 0 {
        match &state.closest {
            Some(c) => {
                details.push(format!("closest: {}", c.row));
                for d in &c.differences {
                    details.push(format!(
                        "  {}: expected {}, found {}",
                        d.field, d.expected, d.found
                    ));
                }
            }
            None => details.push("nothing to compare with: the capture holds none".into()),
        }
    }
}

/// The fields of a `[[call]]` entry compared with a call, in the order the report names them.
const CALL_FIELDS: [&str; 23] = [
    "interface",
    "operation",
    "opnum",
    "outcome",
    "status",
    "fault",
    "auth_type",
    "auth_level",
    "decryption",
    "pipe",
    "transport",
    "client",
    "server",
    "interface_source",
    "sec_addr",
    "call_id",
    "request_fragments",
    "response_fragments",
    "request_stub_len",
    "response_stub_len",
    "min_duration_ms",
    "max_duration_ms",
    "decoded",
];

/// `name = value, ...` of the fields written, `(any)` when there are none.
fn written(fields: impl IntoIterator<Item = (&'static str, Option<String>)>) -> String {
    let parts: Vec<String> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} = {v}")))
        .collect();
    if parts.is_empty() {
        "(any)".into()
    } else {
        parts.join(", ")
    }
}

/// The fields an entry writes (its count aside), as `name = value, ...`.
fn describe_call(e: &CallExpectation) -> String {
    written(
        CALL_FIELDS
            .iter()
            .map(|&f| (f, Some(expected_text(e, f)).filter(|t| !t.is_empty()))),
    )
}

/// The result of one presentation context offered in a bind or an alter_context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextOutcome {
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// Pipe name, when known.
    pub pipe: Option<Arc<str>>,
    /// Offered in an alter_context.
    pub alter: bool,
    /// Presentation context id.
    pub context_id: u16,
    /// The interface offered.
    pub interface: SyntaxId,
    /// `acceptance`, `user_rejection`, `provider_rejection`, `negotiate_ack`, or `bind_nak`.
    pub result: String,
    /// The result's code (`ack_result`; none for a bind_nak).
    pub result_code: Option<u16>,
    /// The reason's name (none for acceptance and negotiate_ack).
    pub reason: Option<String>,
    /// The reason's code (`ack_reason`, or the bind_nak's reason).
    pub reason_code: Option<u16>,
    /// The accepted transfer syntax's kind (`ndr`, `ndr64`).
    pub transfer_syntax: Option<&'static str>,
    /// The answer's secondary address.
    pub sec_addr: Option<String>,
    /// Frame of the answer.
    pub frame: u64,
}

impl ContextOutcome {
    /// One line for the report.
    #[must_use]
    pub fn row(&self) -> String {
        format!(
            "{} -> {} ctx {} {} {}{}",
            self.client,
            self.server,
            self.context_id,
            interface_text(
                &self.interface,
                names::interface_name(self.interface.uuid, self.interface.major)
            ),
            self.result,
            self.transfer_syntax
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        )
    }
}

/// An association (client, server, pipe FileId) and the call_id of a bind on it.
type BindKey = (SocketAddr, SocketAddr, Option<Arc<str>>, u32);

/// Pairs binds with their answers into [`ContextOutcome`]s, in the order answers are read.
#[derive(Debug, Default)]
pub struct BindPairs {
    /// Binds awaiting their answer: when each came (a sequence number), alter_context or not,
    /// and the contexts offered.
    pending: HashMap<BindKey, (u64, bool, Vec<ContextElement>)>,
    /// The binds in the order they came, to forget the oldest; entries of binds since answered
    /// are skipped, and dropped when they outnumber the waiting ones.
    order: VecDeque<(u64, BindKey)>,
    seq: u64,
    /// Binds forgotten unanswered past [`MAX_PENDING_BINDS`].
    pub forgotten: u64,
}

impl BindPairs {
    /// Forgets the oldest bind still waiting.
    fn forget_oldest(&mut self) {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.0 == seq) {
                self.pending.remove(&key);
                self.forgotten += 1;
                return;
            }
        }
    }

    /// The next PDU read; the results of the contexts it answers.
    pub fn pdu(&mut self, p: &PduRecord) -> Vec<ContextOutcome> {
        let key = (p.client, p.server, p.file_id.clone(), p.call_id);
        match &p.body {
            Body::Bind(b) | Body::AlterContext(b) => {
                let alter = matches!(p.body, Body::AlterContext(_));
                if self.pending.len() >= MAX_PENDING_BINDS && !self.pending.contains_key(&key) {
                    self.forget_oldest();
                }
                self.seq += 1;
                self.pending
                    .insert(key.clone(), (self.seq, alter, b.contexts.clone()));
                self.order.push_back((self.seq, key));
                if self.order.len() > 2 * self.pending.len() + 64 {
                    let pending = &self.pending;
                    self.order
                        .retain(|(seq, k)| pending.get(k).is_some_and(|p| p.0 == *seq));
                }
                Vec::new()
            }
            Body::BindAck(a) | Body::AlterContextResp(a) => {
                let Some((_, alter, offered)) = self.pending.remove(&key) else {
                    return Vec::new();
                };
                let sec_addr = (!a.sec_addr.is_empty())
                    .then(|| String::from_utf8_lossy(&a.sec_addr).into_owned());
                offered
                    .iter()
                    .zip(&a.results)
                    .map(|(o, r)| ContextOutcome {
                        client: p.client,
                        server: p.server,
                        pipe: p.pipe.clone(),
                        alter,
                        context_id: o.context_id,
                        interface: o.abstract_syntax,
                        result: context_result_name(r.result),
                        result_code: Some(r.result),
                        reason: (r.result != 0 && r.result != 3)
                            .then(|| provider_reason_name(r.reason)),
                        reason_code: (r.result != 0 && r.result != 3).then_some(r.reason),
                        transfer_syntax: (r.result == 0)
                            .then(|| r.transfer_syntax.transfer_kind().name()),
                        sec_addr: sec_addr.clone(),
                        frame: p.frame,
                    })
                    .collect()
            }
            Body::BindNak(n) => {
                let Some((_, alter, offered)) = self.pending.remove(&key) else {
                    return Vec::new();
                };
                offered
                    .iter()
                    .map(|o| ContextOutcome {
                        client: p.client,
                        server: p.server,
                        pipe: p.pipe.clone(),
                        alter,
                        context_id: o.context_id,
                        interface: o.abstract_syntax,
                        result: "bind_nak".into(),
                        result_code: None,
                        reason: Some(bind_nak_reason_name(n.reason)),
                        reason_code: Some(n.reason),
                        transfer_syntax: None,
                        sec_addr: None,
                        frame: p.frame,
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

fn bind_fields(
    e: &BindExpectation,
    o: &ContextOutcome,
) -> Vec<(&'static str, String, bool, String)> {
    let mut v = Vec::new();
    let name = names::interface_name(o.interface.uuid, o.interface.major);
    if let Some(w) = &e.interface {
        v.push((
            "interface",
            w.clone(),
            same_interface(w, &o.interface, name),
            interface_text(&o.interface, name),
        ));
    }
    if let Some(w) = e.context_id {
        v.push((
            "context_id",
            w.to_string(),
            w == o.context_id,
            o.context_id.to_string(),
        ));
    }
    if let Some(w) = &e.result {
        let agrees = match w {
            Code::Number(n) => o.result_code.map(u32::from) == Some(*n),
            Code::Name(s) => same(s, &o.result),
        };
        v.push(("result", w.to_string(), agrees, o.result.clone()));
    }
    if let Some(w) = &e.reason {
        let found = o.reason_code.map(|c| (u32::from(c), o.reason.as_deref()));
        v.push((
            "reason",
            w.to_string(),
            code_matches(w, found),
            text_or_none(o.reason.as_deref()),
        ));
    }
    if let Some(w) = &e.transfer_syntax {
        let agrees = text_matches(w, o.transfer_syntax);
        v.push((
            "transfer_syntax",
            w.clone(),
            agrees,
            text_or_none(o.transfer_syntax),
        ));
    }
    if let Some(w) = e.alter {
        v.push(("alter", w.to_string(), w == o.alter, o.alter.to_string()));
    }
    if let Some(w) = &e.pipe {
        let agrees = o
            .pipe
            .as_deref()
            .map_or(same(w, "none"), |p| same_pipe(p, w));
        v.push(("pipe", w.clone(), agrees, text_or_none(o.pipe.as_deref())));
    }
    if let Some(w) = &e.sec_addr {
        let agrees = text_matches(w, o.sec_addr.as_deref());
        v.push((
            "sec_addr",
            w.clone(),
            agrees,
            text_or_none(o.sec_addr.as_deref()),
        ));
    }
    if let Some(w) = &e.client {
        v.push((
            "client",
            w.clone(),
            same_address(w, o.client),
            o.client.to_string(),
        ));
    }
    if let Some(w) = &e.server {
        v.push((
            "server",
            w.clone(),
            same_address(w, o.server),
            o.server.to_string(),
        ));
    }
    v
}

/// The `[[bind]]` entries, checked against each context's result.
#[derive(Debug)]
pub struct BindChecks {
    entries: Vec<(BindExpectation, (usize, usize))>,
    state: Vec<EntryState>,
    pairs: BindPairs,
    seen: u64,
}

impl BindChecks {
    /// The bind entries of `file` (`text` is the file, for line numbers).
    #[must_use]
    pub fn new(file: &ExpectFile, text: &str) -> Self {
        let entries: Vec<_> = file
            .bind
            .iter()
            .map(|s| {
                (
                    s.get_ref().clone(),
                    super::file::position(text, s.span().start),
                )
            })
            .collect();
        Self {
            state: vec![EntryState::default(); entries.len()],
            entries,
            pairs: BindPairs::default(),
            seen: 0,
        }
    }

    /// The next PDU read.
    pub fn pdu(&mut self, p: &PduRecord) {
        if self.entries.is_empty() {
            return;
        }
        for o in self.pairs.pdu(p) {
            let position = self.seen;
            self.seen += 1;
            for ((e, _), state) in self.entries.iter().zip(&mut self.state) {
                let fields = bind_fields(e, &o);
                let agreeing = fields.iter().filter(|f| f.2).map(|f| weight(f.0)).sum();
                if fields.iter().all(|f| f.2) {
                    state.matched(position, o.frame);
                } else {
                    state.near(agreeing, || {
                        let differences = fields
                            .into_iter()
                            .filter(|f| !f.2)
                            .map(|(field, expected, _, found)| Difference {
                                field,
                                expected,
                                found,
                            })
                            .collect();
                        (o.row(), differences)
                    });
                }
            }
        }
    }

    /// One finding per `[[bind]]` entry.
    #[must_use]
    pub fn finish(self) -> Vec<Finding> {
        self.entries
            .iter()
            .zip(&self.state)
            .enumerate()
            .map(|(i, ((e, at), state))| {
                let count = e.count.unwrap_or(Count::AT_LEAST_ONE);
                let passed = count.holds(state.matched);
                let mut details = Vec::new();
                if !passed {
                    details.push(format!("expected {count} matching context results, found {}", state.matched));
                    add_evidence(&mut details, state);
                    if self.pairs.forgotten > 0 {
                        details.push(format!(
                            "{} binds were never answered within the {MAX_PENDING_BINDS} kept waiting",
                            self.pairs.forgotten
                        ));
                    }
                }
                Finding {
                    kind: "bind",
                    index: i + 1,
                    line: at.0,
                    title: format!("bind {}", describe_bind(e)),
                    verdict: verdict(passed),
                    matched: state.matched,
                    details,
                }
            })
            .collect()
    }
}

fn describe_bind(e: &BindExpectation) -> String {
    written([
        ("interface", e.interface.clone()),
        ("context_id", e.context_id.map(|n| n.to_string())),
        ("result", e.result.as_ref().map(Code::to_string)),
        ("reason", e.reason.as_ref().map(Code::to_string)),
        ("transfer_syntax", e.transfer_syntax.clone()),
        ("alter", e.alter.map(|a| a.to_string())),
        ("pipe", e.pipe.clone()),
        ("sec_addr", e.sec_addr.clone()),
        ("client", e.client.clone()),
        ("server", e.server.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(call_id: u32, body: Body) -> PduRecord {
        use crate::dce::codes::{PacketType, PfcFlags};
        PduRecord {
            frame: u64::from(call_id),
            ts: crate::source::Timestamp::default(),
            client: "10.0.0.1:50000".parse().unwrap(),
            server: "10.0.0.2:135".parse().unwrap(),
            transport: "ncacn_ip_tcp",
            pipe: None,
            file_id: None,
            from_client: matches!(body, Body::Bind(_)),
            ptype: PacketType(0),
            flags: PfcFlags(3),
            call_id,
            frag_len: 0,
            auth_len: 0,
            little_endian: true,
            auth: None,
            stub_len: 0,
            body,
            datagram: None,
        }
    }

    fn offer() -> Body {
        Body::Bind(crate::dce::body::Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 0,
            contexts: vec![ContextElement {
                context_id: 0,
                abstract_syntax: SyntaxId::default(),
                transfer_syntaxes: Vec::new(),
            }],
        })
    }

    /// Binds never answered are forgotten past the limit, oldest first, and the bookkeeping
    /// of their order stays bounded; a bind still waiting is paired with its answer.
    #[test]
    fn unanswered_binds_are_bounded() {
        let mut pairs = BindPairs::default();
        let n = MAX_PENDING_BINDS as u32 * 3;
        for call_id in 0..n {
            assert!(pairs.pdu(&pdu(call_id, offer())).is_empty());
            assert!(pairs.pending.len() <= MAX_PENDING_BINDS);
            assert!(pairs.order.len() <= 2 * MAX_PENDING_BINDS + 65);
        }
        assert_eq!(pairs.forgotten, u64::from(n) - MAX_PENDING_BINDS as u64);
        let ack = Body::BindAck(crate::dce::body::BindAck {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 1,
            sec_addr: b"135".to_vec(),
            results: vec![crate::dce::body::ContextResult {
                result: 0,
                reason: 0,
                transfer_syntax: SyntaxId::default(),
            }],
        });
        let answered = pairs.pdu(&pdu(n - 1, ack.clone()));
        assert_eq!(answered.len(), 1);
        assert_eq!(answered[0].result, "acceptance");
        assert_eq!(answered[0].sec_addr.as_deref(), Some("135"));
        assert!(
            pairs.pdu(&pdu(0, ack)).is_empty(),
            "the oldest was forgotten"
        );
    }

    #[test]
    fn operations_are_named_as_in_the_idl_or_without_its_prefixes() {
        assert!(same_operation("RCloseServiceHandle", "RCloseServiceHandle"));
        assert!(same_operation("CloseServiceHandle", "RCloseServiceHandle"));
        assert!(same_operation("DRSBind", "IDL_DRSBind"));
        assert!(!same_operation("emServiceStatus", "REnumServiceStatus"));
        assert!(!same_operation("pcEnumPrinters", "RpcEnumPrinters"));
        assert!(same_operation("RpcEnumPrinters", "RpcEnumPrinters"));
    }

    #[test]
    fn pipe_names_compare_without_their_prefix_or_case() {
        assert_eq!(pipe_base("\\PIPE\\samr"), "samr");
        assert_eq!(pipe_base("\\\\pipe\\Lsass"), "Lsass");
        assert!(same_pipe("\\PIPE\\lsass", "LSASS"));
        assert_eq!(pipe_base("samr"), "samr");
    }

    #[test]
    fn addresses_compare_with_or_without_their_port() {
        let a: SocketAddr = "10.0.0.5:49712".parse().unwrap();
        assert!(same_address("10.0.0.5", a) && same_address("10.0.0.5:49712", a));
        assert!(!same_address("10.0.0.5:135", a) && !same_address("10.0.0.6", a));
        let v6: SocketAddr = "[::1]:135".parse().unwrap();
        assert!(
            same_address("::1", v6) && same_address("[::1]", v6) && same_address("[::1]:135", v6)
        );
    }

    #[test]
    fn decoded_values_compare_on_the_members_written() {
        let found =
            serde_json::json!({"in": {"a": 1, "b": "x", "s": {"c": [1, 2]}}, "out": {"return": 0}});
        let written: toml::Value =
            toml::from_str("in.b = 'x'\nin.s.c = [1, 2]\nout.return = 0").unwrap();
        assert!(value_within(&written, &found));
        let wrong: toml::Value = toml::from_str("in.b = 'y'").unwrap();
        assert!(!value_within(&wrong, &found));
        let absent: toml::Value = toml::from_str("in.z = 1").unwrap();
        assert!(!value_within(&absent, &found));
    }
}
