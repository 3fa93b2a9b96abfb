//! Analysis layer, the expectation file of `rpcscope check` (TOML; `docs/check.md`): expected
//! calls (`[[call]]`), calls that must not appear (`[[forbid]]`), bind results (`[[bind]]`) and
//! totals (`[totals]`), each compared on the fields it writes. Parsing reports the first error
//! at its line and column; unknown keys are errors, so a misspelt field cannot pass unnoticed.
//!
//! Limits: a file of at most [`MAX_EXPECTATION_FILE_BYTES`] with at most [`MAX_EXPECTATIONS`]
//! entries.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use crate::model::Outcome;

/// Largest expectation file read (4 MiB: a generated file lists each distinct call once).
pub const MAX_EXPECTATION_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Most entries (`[[call]]`, `[[forbid]]` and `[[bind]]` together) in one file.
pub const MAX_EXPECTATIONS: usize = 20_000;

/// A parsed expectation file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    /// Whether the `[[call]]` entries must first appear in the order written.
    #[serde(default)]
    pub order: Order,
    /// Totals over the whole capture.
    #[serde(default)]
    pub totals: Totals,
    /// Calls that must appear.
    #[serde(default)]
    pub call: Vec<Spanned<CallExpectation>>,
    /// Calls that must not appear.
    #[serde(default)]
    pub forbid: Vec<Spanned<CallExpectation>>,
    /// Results of presentation contexts that must appear (bind and alter_context answers).
    #[serde(default)]
    pub bind: Vec<Spanned<BindExpectation>>,
}

impl ExpectFile {
    /// True when an entry compares decoded parameters (the analysis must decode them).
    #[must_use]
    pub fn needs_decoding(&self) -> bool {
        self.call
            .iter()
            .chain(&self.forbid)
            .any(|c| c.get_ref().decoded.is_some())
    }
}

/// How `[[call]]` entries relate to each other in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Each entry is checked on its own (the default).
    #[default]
    Any,
    /// Each entry's first matching call comes after the previous entry's first matching call.
    Capture,
}

/// How many: an exact number, or a range with either end open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// At least this many.
    pub min: u64,
    /// At most this many, if bounded.
    pub max: Option<u64>,
}

impl Count {
    /// At least one (a `[[call]]` or `[[bind]]` without `count`).
    pub const AT_LEAST_ONE: Self = Self { min: 1, max: None };

    /// Does `n` fall in the range?
    #[must_use]
    pub fn holds(self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "exactly {max}"),
            Some(max) if self.min == 0 => write!(f, "at most {max}"),
            Some(max) => write!(f, "{} to {max}", self.min),
            None => write!(f, "at least {}", self.min),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count: a number, or a table with `min` and/or `max`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                let n = u64::try_from(v).map_err(|_| E::custom("a count cannot be negative"))?;
                Ok(Count {
                    min: n,
                    max: Some(n),
                })
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count {
                    min: n,
                    max: Some(n),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let value: i64 = map.next_value()?;
                    let value = u64::try_from(value)
                        .map_err(|_| de::Error::custom("a count cannot be negative"))?;
                    match key.as_str() {
                        "min" => min = Some(value),
                        "max" => max = Some(value),
                        other => {
                            return Err(de::Error::unknown_field(other, &["min", "max"]));
                        }
                    }
                }
                let min = min.unwrap_or(0);
                if max.is_some_and(|max| max < min) {
                    return Err(de::Error::custom("`max` is below `min`"));
                }
                if min == 0 && max.is_none() {
                    return Err(de::Error::custom("a count needs `min` or `max`"));
                }
                Ok(Count { min, max })
            }
        }
        d.deserialize_any(CountVisitor)
    }
}

/// A return code, fault status or number: its name (`STATUS_ACCESS_DENIED`,
/// `nca_s_op_rng_error`; `none` for a call without one) or its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// A name, compared without regard to case.
    Name(String),
    /// A number as on the wire.
    Number(u32),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Number(n) if *n <= 0xffff => write!(f, "{n}"),
            Self::Number(n) => write!(f, "{n:#010x}"),
        }
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a code's name or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                Ok(Code::Name(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                u32::try_from(v)
                    .map(Code::Number)
                    .map_err(|_| E::custom("a code is a 32-bit unsigned number"))
            }
        }
        d.deserialize_any(CodeVisitor)
    }
}

/// An operation number, or `none` for a call whose request was not seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opnum {
    /// This operation.
    Number(u16),
    /// No request seen.
    None,
}

impl fmt::Display for Opnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::None => f.write_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for Opnum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OpnumVisitor;
        impl Visitor<'_> for OpnumVisitor {
            type Value = Opnum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an operation number (0 to 65535), or \"none\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Opnum, E> {
                if v.eq_ignore_ascii_case("none") {
                    Ok(Opnum::None)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Opnum, E> {
                u16::try_from(v)
                    .map(Opnum::Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(OpnumVisitor)
    }
}

/// A `[[call]]` or `[[forbid]]` entry: the fields written must all match a call.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallExpectation {
    /// Interface name (`Samr`) or UUID.
    pub interface: Option<String>,
    /// Operation name.
    pub operation: Option<String>,
    /// Operation number (`"none"`: calls whose request was not seen).
    pub opnum: Option<Opnum>,
    /// How the call ended.
    pub outcome: Option<Outcome>,
    /// The operation's return code.
    pub status: Option<Code>,
    /// The fault's status.
    pub fault: Option<Code>,
    /// `ntlmssp`, `spnego`, `kerberos`, `netlogon`, ... or `none`.
    pub auth_type: Option<String>,
    /// `connect`, `pkt_integrity`, `pkt_privacy`, ... or `none`.
    pub auth_level: Option<String>,
    /// `decrypted`, `no_key`, `failed` or `none`.
    pub decryption: Option<String>,
    /// Pipe name (`samr`, `\PIPE\samr` alike).
    pub pipe: Option<String>,
    /// `ncacn_ip_tcp`, `ncacn_np`.
    pub transport: Option<String>,
    /// Client address (`10.0.0.5` any port, or `10.0.0.5:49712`).
    pub client: Option<String>,
    /// Server address, as `client`.
    pub server: Option<String>,
    /// How the interface was learned (`bind`, `epm`, ...).
    pub interface_source: Option<String>,
    /// The association's secondary address.
    pub sec_addr: Option<String>,
    /// The call's id.
    pub call_id: Option<u32>,
    /// Fragments (PDUs) of the request.
    pub request_fragments: Option<u32>,
    /// Fragments of the response (or the fault).
    pub response_fragments: Option<u32>,
    /// Stub bytes of the request.
    pub request_stub_len: Option<u64>,
    /// Stub bytes of the response.
    pub response_stub_len: Option<u64>,
    /// Shortest duration, in milliseconds.
    pub min_duration_ms: Option<f64>,
    /// Longest duration, in milliseconds.
    pub max_duration_ms: Option<f64>,
    /// Decoded parameters (`in`, `out`), compared on the members written.
    pub decoded: Option<toml::Table>,
    /// How many calls must match (default: at least one; ignored on `[[forbid]]`).
    pub count: Option<Count>,
}

/// A `[[bind]]` entry: the result of one presentation context offered in a bind or an
/// alter_context, with the fields written matching.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindExpectation {
    /// Interface name or UUID offered.
    pub interface: Option<String>,
    /// Presentation context id.
    pub context_id: Option<u16>,
    /// `acceptance`, `user_rejection`, `provider_rejection`, `negotiate_ack` or `bind_nak`.
    /// (Or its number, 0 to 3, as Suricata's `ack_result`.)
    pub result: Option<Code>,
    /// The reason's name (`abstract_syntax_not_supported`, ...) or number (`ack_reason`).
    pub reason: Option<Code>,
    /// Accepted transfer syntax: `ndr`, `ndr64`.
    pub transfer_syntax: Option<String>,
    /// Offered in an alter_context rather than a bind.
    pub alter: Option<bool>,
    /// Pipe name.
    pub pipe: Option<String>,
    /// The answer's secondary address.
    pub sec_addr: Option<String>,
    /// Client address.
    pub client: Option<String>,
    /// Server address.
    pub server: Option<String>,
    /// How many results must match (default: at least one).
    pub count: Option<Count>,
}

/// `[totals]`: counts over the whole capture.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Calls.
    pub calls: Option<Count>,
    /// Calls answered with a response.
    pub responses: Option<Count>,
    /// Calls answered with a fault.
    pub faults: Option<Count>,
    /// Calls never answered.
    pub no_response: Option<Count>,
    /// Calls with bytes missing.
    pub incomplete: Option<Count>,
    /// Answered calls whose return code is a failure.
    pub errors: Option<Count>,
    /// DCE/RPC PDUs.
    pub pdus: Option<Count>,
    /// Presentation contexts accepted.
    pub contexts_accepted: Option<Count>,
    /// Presentation contexts refused.
    pub contexts_rejected: Option<Count>,
}

impl Totals {
    /// The totals written, by name.
    #[must_use]
    pub fn written(&self) -> Vec<(&'static str, Count)> {
        [
            ("calls", self.calls),
            ("responses", self.responses),
            ("faults", self.faults),
            ("no_response", self.no_response),
            ("incomplete", self.incomplete),
            ("errors", self.errors),
            ("pdus", self.pdus),
            ("contexts_accepted", self.contexts_accepted),
            ("contexts_rejected", self.contexts_rejected),
        ]
        .into_iter()
        .filter_map(|(name, c)| c.map(|c| (name, c)))
        .collect()
    }
}

/// Why an expectation file cannot be used, at its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// 1-based line, 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
#[must_use]
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses an expectation file.
///
/// # Errors
/// The first syntax error, unknown key, value of the wrong type or impossible bound, at its
/// line and column; too many entries.
pub fn parse(text: &str) -> Result<ExpectFile, FileError> {
    let at = |offset: usize, message: String| {
        let (line, column) = position(text, offset);
        FileError {
            line,
            column,
            message,
        }
    };
    let file: ExpectFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, e.message().trim().to_string())
    })?;
    let entries = file.call.len() + file.forbid.len() + file.bind.len();
    if entries > MAX_EXPECTATIONS {
        return Err(FileError {
            line: 0,
            column: 0,
            message: format!("{entries} entries: at most {MAX_EXPECTATIONS} are read"),
        });
    }
    for c in file.call.iter().chain(&file.forbid) {
        let e = c.get_ref();
        let bounds = [e.min_duration_ms, e.max_duration_ms];
        if bounds.iter().flatten().any(|d| !d.is_finite() || *d < 0.0) {
            return Err(at(
                c.span().start,
                "a duration bound must be a number of milliseconds, 0 or more".into(),
            ));
        }
        if let [Some(min), Some(max)] = bounds
            && max < min
        {
            return Err(at(
                c.span().start,
                "`max_duration_ms` is below `min_duration_ms`".into(),
            ));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_counts_and_codes_parse() {
        let f = parse(
            r#"
order = "capture"
[totals]
calls = 3
faults = { max = 0 }

[[call]]
interface = "Samr"
operation = "SamrConnect5"
status = "STATUS_SUCCESS"
count = { min = 2 }

[[call]]
opnum = 7
fault = 0x1c010002
decoded.in.DomainId = "S-1-5-21-1-2-3"

[[forbid]]
outcome = "fault"
"#,
        )
        .unwrap();
        assert_eq!(f.order, Order::Capture);
        assert_eq!(
            f.totals.written(),
            vec![
                (
                    "calls",
                    Count {
                        min: 3,
                        max: Some(3)
                    }
                ),
                (
                    "faults",
                    Count {
                        min: 0,
                        max: Some(0)
                    }
                )
            ]
        );
        assert_eq!(f.call.len(), 2);
        assert_eq!(f.call[0].get_ref().count, Some(Count { min: 2, max: None }));
        assert_eq!(f.call[1].get_ref().fault, Some(Code::Number(0x1c01_0002)));
        assert_eq!(f.call[1].get_ref().opnum, Some(Opnum::Number(7)));
        assert!(f.needs_decoding());
        assert_eq!(f.forbid[0].get_ref().outcome, Some(Outcome::Fault));
    }

    #[test]
    fn errors_point_at_their_line_and_column() {
        let e = parse("[[call]]\ninterface = \"Samr\"\noperaton = \"x\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert!(e.message.contains("operaton"), "{e}");
        let e = parse("[[call]]\noutcome = \"answered\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("answered"), "{e}");
        let e = parse("[[call]]\ncount = { min = 3, max = 1 }\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[[call]]\nopnum = \"three\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[[call]\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        let e = parse("\n[[call]]\nmax_duration_ms = 1.0\nmin_duration_ms = 2.0\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn counts_say_what_they_hold() {
        let exactly = Count {
            min: 2,
            max: Some(2),
        };
        assert!(exactly.holds(2) && !exactly.holds(1) && !exactly.holds(3));
        assert!(Count::AT_LEAST_ONE.holds(5) && !Count::AT_LEAST_ONE.holds(0));
        assert_eq!(exactly.to_string(), "exactly 2");
        assert_eq!(
            Count {
                min: 0,
                max: Some(4)
            }
            .to_string(),
            "at most 4"
        );
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("ab\ncé\nx", 7), (3, 1));
        assert_eq!(position("ab\ncé", 4), (2, 2));
    }
}
