//! Analysis layer: the filter language that chooses calls, for `calls --filter`,
//! `summary --filter` and the terminal interface (`docs/filter.md` has the whole reference).
//!
//! ```text
//! expression := term (("or" | "||") term)*
//! term       := factor (("and" | "&&")? factor)*      two factors side by side: both hold
//! factor     := ("not" | "!") factor | "(" expression ")" | test
//! test       := FIELD OP VALUE | FIELD | WORD
//! OP         := == = != < <= > >= ~ (regular expression) | contains
//! ```
//!
//! A field names something of a call (`iface`, `op`, `opnum`, `host`, `client`, `server`,
//! `port`, `pipe`, `outcome`, `status`, `auth`, `duration`, `frame`, `call_id`, `transport`,
//! `decrypted`, `decryption`, and decoded parameters as `in.NAME`, `out.NAME` or `param.NAME`);
//! a field may have several values (`host`: both addresses), and a test holds when one of them
//! does (`!=`: when none is equal). Text compares without regard to case; numbers as numbers
//! (decimal or `0x` hex); durations take `us`, `ms` or `s` (a bare number is microseconds, as
//! `duration_us`); addresses take a CIDR prefix (`host == 10.0.0.0/8`). A bare word or a
//! quoted string alone holds when the call's text shows it (operation, outcome, addresses,
//! pipe, status, authentication), as in the table. Mistakes are reported with the column they
//! are at.
//!
//! Limits: expressions of at most [`MAX_FILTER_BYTES`] bytes nesting at most
//! [`MAX_FILTER_DEPTH`] levels; each regular expression compiles to at most
//! [`MAX_REGEX_BYTES`] (the `regex` crate matches in time linear in the text).

use std::net::{IpAddr, SocketAddr};

use regex::{Regex, RegexBuilder};

use crate::idl::value::{FieldName, Value};
use crate::model::{Call, Outcome};

/// Longest filter expression.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Deepest nesting of parentheses and `not`.
pub const MAX_FILTER_DEPTH: usize = 64;
/// Largest compiled regular expression.
pub const MAX_REGEX_BYTES: usize = 1 << 20;
/// Decoded values a `param.NAME` test visits in one call at most.
const MAX_VISITED_VALUES: usize = 100_000;

/// A mistake in a filter expression, at a column (1-based, in characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    /// Where the mistake is.
    pub column: usize,
    /// What it is.
    pub message: String,
}

impl FilterError {
    /// A line with a caret under the column, to print under the expression.
    #[must_use]
    pub fn caret(&self) -> String {
        format!("{}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

/// A parsed filter.
#[derive(Debug)]
pub struct Filter {
    root: Node,
    uses_parameters: bool,
}

#[derive(Debug)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Test(Test),
    /// Lower-case text the call's row must contain.
    Shows(String),
}

#[derive(Debug)]
struct Test {
    field: Field,
    op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    Iface,
    Operation,
    Opnum,
    Host,
    Client,
    Server,
    Port,
    Pipe,
    Outcome,
    Status,
    Auth,
    Duration,
    Frame,
    CallId,
    Transport,
    Decrypted,
    Decryption,
    /// A decoded parameter: `in.` or `out.` and a path of member names, or `param.` and a
    /// member name found at any depth.
    Parameter(Side, Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    In,
    Out,
    Any,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let field = match lower.as_str() {
            "iface" | "interface" => Self::Iface,
            "op" | "operation" => Self::Operation,
            "opnum" => Self::Opnum,
            "host" | "ip" => Self::Host,
            "client" => Self::Client,
            "server" => Self::Server,
            "port" => Self::Port,
            "pipe" => Self::Pipe,
            "outcome" => Self::Outcome,
            "status" => Self::Status,
            "auth" => Self::Auth,
            "duration" => Self::Duration,
            "frame" => Self::Frame,
            "call_id" | "callid" => Self::CallId,
            "transport" => Self::Transport,
            "decrypted" => Self::Decrypted,
            "decryption" => Self::Decryption,
            _ => {
                let (side, rest) = lower.split_once('.')?;
                let side = match side {
                    "in" => Side::In,
                    "out" => Side::Out,
                    "param" => Side::Any,
                    _ => return None,
                };
                // member names keep their case: the description's
                let rest = &name[name.len() - rest.len()..];
                let path: Vec<String> = rest.split('.').map(str::to_string).collect();
                if path.iter().any(String::is_empty) || (side == Side::Any && path.len() != 1) {
                    return None;
                }
                Self::Parameter(side, path)
            }
        };
        Some(field)
    }

    /// Fields whose values are numbers, so that `<` and `>` apply.
    fn is_numeric(&self) -> bool {
        matches!(
            self,
            Self::Opnum
                | Self::Port
                | Self::Duration
                | Self::Frame
                | Self::CallId
                | Self::Status
                | Self::Parameter(..)
        )
    }
}

#[derive(Debug)]
enum Op {
    Eq(Operand),
    Ne(Operand),
    Order(std::cmp::Ordering, bool, u64),
    Matches(Regex),
    Contains(String),
    /// The field alone: it has a value (true, non-zero, not empty).
    Present,
}

/// The right-hand side of `==` and `!=`.
#[derive(Debug)]
struct Operand {
    /// Lower case.
    text: String,
    number: Option<u64>,
    /// An address or a network (`10.0.0.0/8`), for address fields.
    network: Option<(IpAddr, u8)>,
}

/// One value a field has in a call.
enum Seen<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(u64),
    /// A number with a name (a status code, a flag set).
    Both(u64, std::borrow::Cow<'a, str>),
    Address(SocketAddr),
    Ip(IpAddr),
    /// The frames of a request or response, first to last: `==` holds for any frame in it,
    /// `<` and `>` compare its first frame.
    Frames(u64, u64),
}

impl Filter {
    /// Parses `expression`.
    ///
    /// # Errors
    /// A [`FilterError`] at the column of the first mistake.
    pub fn parse(expression: &str) -> Result<Self, FilterError> {
        if expression.len() > MAX_FILTER_BYTES {
            return Err(FilterError {
                column: 1,
                message: format!("longer than {MAX_FILTER_BYTES} bytes"),
            });
        }
        let tokens = tokenize(expression)?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            end: expression.chars().count() + 1,
            uses_parameters: false,
        };
        let root = p.expression(0)?;
        if let Some(t) = p.peek() {
            return Err(t.error(match t.kind {
                Kind::Close => "a ')' without its '('".to_string(),
                _ => format!("expected 'and' or 'or' before {}", t.describe()),
            }));
        }
        Ok(Self {
            root,
            uses_parameters: p.uses_parameters,
        })
    }

    /// True when a test reads decoded parameters (`in.`, `out.`, `param.`), which exist only
    /// when parameters are decoded.
    #[must_use]
    pub fn uses_parameters(&self) -> bool {
        self.uses_parameters
    }

    /// True when `call` passes.
    #[must_use]
    pub fn matches(&self, call: &Call) -> bool {
        let mut shown = None;
        eval(&self.root, call, &mut shown)
    }
}

fn eval(node: &Node, call: &Call, shown: &mut Option<String>) -> bool {
    match node {
        Node::All(nodes) => nodes.iter().all(|n| eval(n, call, shown)),
        Node::Any(nodes) => nodes.iter().any(|n| eval(n, call, shown)),
        Node::Not(n) => !eval(n, call, shown),
        Node::Shows(word) => shown.get_or_insert_with(|| row_text(call)).contains(word),
        Node::Test(t) => test(t, call),
    }
}

/// What a call's row shows, lower case: operation, outcome, addresses, pipe, interface UUID,
/// status and fault codes, authentication.
fn row_text(c: &Call) -> String {
    let mut text = format!(
        "{} {} {} {}",
        c.label(),
        c.outcome_label(),
        c.client,
        c.server
    );
    for extra in [
        c.pipe.as_deref().map(str::to_string),
        c.interface.as_ref().map(|i| i.syntax.uuid.to_string()),
        c.status.map(|s| format!("0x{:08x}", s.code)),
        c.fault_status.map(|s| format!("0x{s:08x}")),
        c.auth.map(crate::model::Auth::label),
        c.decryption.map(str::to_string),
    ]
    .into_iter()
    .flatten()
    {
        text.push(' ');
        text.push_str(&extra);
    }
    text.to_lowercase()
}

fn test(t: &Test, call: &Call) -> bool {
    let mut values = Vec::new();
    seen(&t.field, call, &mut values);
    match &t.op {
        Op::Present => values.iter().any(|v| match v {
            Seen::Number(n) => *n != 0,
            Seen::Text(s) => !s.is_empty() && s != "false",
            _ => true,
        }),
        Op::Eq(x) => values.iter().any(|v| equal(v, x)),
        Op::Ne(x) => !values.iter().any(|v| equal(v, x)),
        Op::Order(ord, or_equal, n) => values.iter().any(|v| {
            number_of(v).is_some_and(|m| {
                let o = m.cmp(n);
                o == *ord || (*or_equal && o == std::cmp::Ordering::Equal)
            })
        }),
        Op::Matches(re) => values.iter().any(|v| re.is_match(&text_of(v))),
        Op::Contains(s) => values
            .iter()
            .any(|v| text_of(v).to_lowercase().contains(s.as_str())),
    }
}

fn number_of(v: &Seen<'_>) -> Option<u64> {
    match v {
        Seen::Number(n) | Seen::Both(n, _) | Seen::Frames(n, _) => Some(*n),
        Seen::Text(t) => parse_number(t),
        Seen::Address(_) | Seen::Ip(_) => None,
    }
}

fn text_of<'a>(v: &'a Seen<'_>) -> std::borrow::Cow<'a, str> {
    match v {
        Seen::Text(t) | Seen::Both(_, t) => std::borrow::Cow::Borrowed(t),
        Seen::Number(n) | Seen::Frames(n, _) => n.to_string().into(),
        Seen::Address(a) => a.to_string().into(),
        Seen::Ip(ip) => ip.to_string().into(),
    }
}

fn equal(v: &Seen<'_>, x: &Operand) -> bool {
    match v {
        Seen::Address(a) => {
            if let Some((net, prefix)) = x.network {
                return in_network(a.ip(), net, prefix);
            }
            a.to_string().eq_ignore_ascii_case(&x.text)
        }
        Seen::Ip(ip) => x
            .network
            .is_some_and(|(net, prefix)| in_network(*ip, net, prefix)),
        Seen::Number(n) => x.number == Some(*n),
        Seen::Frames(first, last) => x.number.is_some_and(|n| (*first..=*last).contains(&n)),
        Seen::Both(n, t) => x.number == Some(*n) || t.eq_ignore_ascii_case(&x.text),
        Seen::Text(t) => {
            t.eq_ignore_ascii_case(&x.text) || x.number.is_some_and(|n| parse_number(t) == Some(n))
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The values `field` has in `c`.
fn seen<'a>(field: &Field, c: &'a Call, out: &mut Vec<Seen<'a>>) {
    use std::borrow::Cow;
    match field {
        Field::Iface => {
            if let Some(i) = &c.interface {
                if let Some(n) = i.name.as_deref() {
                    out.push(Seen::Text(Cow::Borrowed(n)));
                }
                out.push(Seen::Text(i.syntax.uuid.to_string().into()));
            }
        }
        Field::Operation => {
            if let Some(op) = c.operation.as_deref() {
                out.push(Seen::Text(Cow::Borrowed(op)));
            }
            out.push(Seen::Text(c.label().into()));
        }
        Field::Opnum => out.extend(c.opnum.map(|n| Seen::Number(n.into()))),
        Field::Host => out.extend([Seen::Ip(c.client.ip()), Seen::Ip(c.server.ip())]),
        Field::Client => out.extend([Seen::Address(c.client), Seen::Ip(c.client.ip())]),
        Field::Server => out.extend([Seen::Address(c.server), Seen::Ip(c.server.ip())]),
        Field::Port => out.extend([
            Seen::Number(c.client.port().into()),
            Seen::Number(c.server.port().into()),
        ]),
        Field::Pipe => {
            if let Some(p) = c.pipe.as_deref() {
                out.push(Seen::Text(Cow::Borrowed(pipe_base(p))));
                out.push(Seen::Text(Cow::Borrowed(p)));
            }
        }
        Field::Outcome => {
            let label = c.outcome_label();
            let word = label.split(' ').next().unwrap_or("").to_ascii_lowercase();
            out.push(Seen::Text(outcome_word(c.outcome).into()));
            out.push(Seen::Text(word.into()));
            out.push(Seen::Text(label.into()));
        }
        Field::Status => {
            if let Some(s) = c.status {
                out.push(Seen::Both(s.code.into(), s.label().into()));
            }
            if let (Some(code), Some(name)) = (c.fault_status, c.fault_name()) {
                out.push(Seen::Both(code.into(), Cow::Owned(name.into_owned())));
            }
        }
        Field::Auth => match c.auth {
            Some(a) => {
                out.push(Seen::Text(a.type_name()));
                let level = a.level_name();
                // `privacy` for `pkt_privacy`, `integrity` for `pkt_integrity`
                if let Some(short) = level.strip_prefix("pkt_") {
                    out.push(Seen::Text(short.to_string().into()));
                }
                out.push(Seen::Text(level));
            }
            None => out.push(Seen::Text("none".into())),
        },
        Field::Duration => out.extend(c.duration_us.map(Seen::Number)),
        Field::Frame => {
            for span in [&c.request, &c.response].into_iter().flatten() {
                out.push(Seen::Frames(span.frames[0], span.frames[1]));
            }
        }
        Field::CallId => out.push(Seen::Number(c.call_id.into())),
        Field::Transport => out.push(Seen::Text(Cow::Borrowed(c.transport))),
        Field::Decrypted => out.push(Seen::Text(
            if c.decryption == Some("decrypted") {
                "true"
            } else {
                "false"
            }
            .into(),
        )),
        Field::Decryption => out.extend(c.decryption.map(|d| Seen::Text(Cow::Borrowed(d)))),
        Field::Parameter(side, path) => {
            if let Some(d) = c.decoded.as_deref() {
                let sides: &[&[(FieldName, Value)]] = match side {
                    Side::In => &[&d.request],
                    Side::Out => &[&d.response],
                    Side::Any => &[&d.request, &d.response],
                };
                for params in sides {
                    parameter_values(params, *side, path, out);
                }
            }
        }
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Response => "response",
        Outcome::Fault => "fault",
        Outcome::NoResponse => "no_response",
        Outcome::Incomplete => "incomplete",
    }
}

/// The values at `path` in `params` (`in.`/`out.`), or of every member named `path[0]` at
/// any depth (`param.`).
fn parameter_values<'a>(
    params: &'a [(FieldName, Value)],
    side: Side,
    path: &[String],
    out: &mut Vec<Seen<'a>>,
) {
    if side != Side::Any {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let mut v = params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(first))
            .map(|(_, v)| v);
        for name in rest {
            v = v.and_then(|v| member(v, name));
        }
        if let Some(v) = v {
            value_seen(v, out);
        }
        return;
    }
    let name = &path[0];
    let mut stack: Vec<(&str, &Value)> = params.iter().map(|(n, v)| (&**n, v)).collect();
    let mut visited = 0;
    while let Some((n, v)) = stack.pop() {
        visited += 1;
        if visited > MAX_VISITED_VALUES {
            break;
        }
        if n.eq_ignore_ascii_case(name) {
            value_seen(v, out);
        }
        match v {
            Value::Fields(fields) => stack.extend(fields.iter().map(|(n, v)| (&**n, v))),
            Value::List(items) => stack.extend(items.iter().map(|v| ("", v))),
            _ => {}
        }
    }
}

/// A structure's member, or a union arm's, whatever its case.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Fields(fields) => fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn value_seen<'a>(v: &'a Value, out: &mut Vec<Seen<'a>>) {
    use std::borrow::Cow;
    match v {
        Value::Text(t) => out.push(Seen::Text(Cow::Borrowed(t.trim_end_matches('\0')))),
        Value::UInt(n) => out.push(Seen::Number(*n)),
        Value::Int(n) => match u64::try_from(*n) {
            Ok(n) => out.push(Seen::Number(n)),
            Err(_) => out.push(Seen::Text(n.to_string().into())),
        },
        Value::Bool(b) => out.push(Seen::Text(if *b { "true" } else { "false" }.into())),
        Value::Named(n, names) => out.push(Seen::Both(*n, Cow::Borrowed(names))),
        Value::Uuid(u) => out.push(Seen::Text(u.to_string().into())),
        Value::Bytes(b) => out.push(Seen::Text(
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
                .into(),
        )),
        Value::List(items) => {
            // each element that is not itself an array or a structure
            for item in items {
                if !matches!(item, Value::List(_) | Value::Fields(_)) {
                    value_seen(item, out);
                }
            }
            // an array of characters reads as its text
            let text: Option<String> = items
                .iter()
                .map(|i| {
                    i.as_u64()
                        .and_then(|n| char::from_u32(u32::try_from(n).ok()?))
                })
                .collect();
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                out.push(Seen::Text(t.trim_end_matches('\0').to_string().into()));
            }
            out.push(Seen::Text(v.render().into()));
        }
        Value::Null => out.push(Seen::Text("null".into())),
        other => out.push(Seen::Text(other.render().into())),
    }
}

/// A pipe's name without `\PIPE\` (`samr` for `\PIPE\samr` and for `samr`).
fn pipe_base(p: &str) -> &str {
    let bare = p.trim_start_matches('\\');
    bare.get(..5)
        .filter(|h| h.eq_ignore_ascii_case("pipe\\"))
        .map_or(bare, |_| &bare[5..])
}

/// A number: decimal, or hex after `0x`.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.get(..2) {
        Some("0x" | "0X") => u64::from_str_radix(&s[2..], 16).ok(),
        _ => s.parse().ok(),
    }
}

/// A duration in microseconds: a number with `us`, `ms` or `s` (none: microseconds).
fn parse_duration(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, scale) = if let Some(d) = lower.strip_suffix("us") {
        (d, 1.0)
    } else if let Some(d) = lower.strip_suffix("ms") {
        (d, 1e3)
    } else if let Some(d) = lower.strip_suffix('s') {
        (d, 1e6)
    } else {
        (lower.as_str(), 1.0)
    };
    let n: f64 = digits.parse().ok()?;
    let us = n * scale;
    (0.0..1.8e19).contains(&us).then(|| us.round() as u64)
}

/// An address, or a network with its prefix length.
fn parse_network(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some((ip, prefix))
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    /// A comparison operator, as written.
    Op(&'static str),
    Word(String),
    Quoted(String),
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// 1-based column, in characters.
    column: usize,
}

impl Token {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            column: self.column,
            message: message.into(),
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            Kind::Open => "'('".into(),
            Kind::Close => "')'".into(),
            Kind::And => "'and'".into(),
            Kind::Or => "'or'".into(),
            Kind::Not => "'not'".into(),
            Kind::Op(op) => format!("'{op}'"),
            Kind::Word(w) => format!("'{w}'"),
            Kind::Quoted(q) => format!("\"{q}\""),
        }
    }
}

/// True when `ch` (followed by `next`) continues a bare word: not a space, a parenthesis, an
/// operator's character, a quote, `&&` or `||`.
fn in_word(ch: char, next: Option<char>) -> bool {
    let operator = matches!(ch, '(' | ')' | '=' | '!' | '<' | '>' | '~' | '"' | '\'');
    let pair = matches!(ch, '&' | '|') && next == Some(ch);
    !ch.is_whitespace() && !operator && !pair
}

fn tokenize(s: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let (kind, len) = match (c, two.as_str()) {
            ('(', _) => (Kind::Open, 1),
            (')', _) => (Kind::Close, 1),
            (_, "&&") => (Kind::And, 2),
            (_, "||") => (Kind::Or, 2),
            (_, "==") => (Kind::Op("=="), 2),
            (_, "!=") => (Kind::Op("!="), 2),
            (_, "<=") => (Kind::Op("<="), 2),
            (_, ">=") => (Kind::Op(">="), 2),
            ('!', _) => (Kind::Not, 1),
            ('=', _) => (Kind::Op("=="), 1),
            ('<', _) => (Kind::Op("<"), 1),
            ('>', _) => (Kind::Op(">"), 1),
            ('~', _) => (Kind::Op("~"), 1),
            ('"' | '\'', _) => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(FilterError {
                                column,
                                message: format!("this {c} is never closed"),
                            });
                        }
                        Some('\\') if chars.get(j + 1).is_some_and(|&n| n == c || n == '\\') => {
                            text.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                (Kind::Quoted(text), j + 1 - i)
            }
            _ => {
                let mut j = i;
                while chars
                    .get(j)
                    .is_some_and(|&ch| in_word(ch, chars.get(j + 1).copied()))
                {
                    j += 1;
                }
                if j == i {
                    return Err(FilterError {
                        column,
                        message: format!("unexpected '{c}'"),
                    });
                }
                let word: String = chars[i..j].iter().collect();
                let kind = match word.to_ascii_lowercase().as_str() {
                    "and" => Kind::And,
                    "or" => Kind::Or,
                    "not" => Kind::Not,
                    "contains" => Kind::Op("contains"),
                    _ => Kind::Word(word),
                };
                (kind, j - i)
            }
        };
        tokens.push(Token { kind, column });
        i += len;
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    /// Column just past the expression, for "expected ... at the end".
    end: usize,
    uses_parameters: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn at_end(&self, message: &str) -> FilterError {
        FilterError {
            column: self.end,
            message: format!("{message} at the end"),
        }
    }

    fn expression(&mut self, depth: usize) -> Result<Node, FilterError> {
        let mut any = vec![self.term(depth)?];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.at += 1;
            any.push(self.term(depth)?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Node::Any(any)
        })
    }

    fn term(&mut self, depth: usize) -> Result<Node, FilterError> {
        let mut all = vec![self.factor(depth)?];
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Kind::And) => {
                    self.at += 1;
                    all.push(self.factor(depth)?);
                }
                Some(Kind::Open | Kind::Not | Kind::Word(_) | Kind::Quoted(_)) => {
                    all.push(self.factor(depth)?);
                }
                _ => break,
            }
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Node::All(all)
        })
    }

    fn factor(&mut self, depth: usize) -> Result<Node, FilterError> {
        let Some(t) = self.next() else {
            return Err(self.at_end("expected a test"));
        };
        if depth >= MAX_FILTER_DEPTH {
            return Err(t.error(format!("nested deeper than {MAX_FILTER_DEPTH} levels")));
        }
        match t.kind.clone() {
            Kind::Not => Ok(Node::Not(Box::new(self.factor(depth + 1)?))),
            Kind::Open => {
                let inner = self.expression(depth + 1)?;
                match self.next() {
                    Some(Token {
                        kind: Kind::Close, ..
                    }) => Ok(inner),
                    Some(other) => Err(other.error(format!(
                        "expected ')' (for the '(' at column {}) before {}",
                        t.column,
                        other.describe()
                    ))),
                    None => Err(t.error("this '(' is never closed")),
                }
            }
            Kind::Quoted(text) => Ok(Node::Shows(text.to_lowercase())),
            Kind::Word(word) => self.test(&t, &word),
            _ => Err(t.error(format!("expected a test, found {}", t.describe()))),
        }
    }

    fn test(&mut self, t: &Token, word: &str) -> Result<Node, FilterError> {
        let op_follows = matches!(self.peek().map(|t| &t.kind), Some(Kind::Op(_)));
        let Some(field) = Field::parse(word) else {
            if op_follows {
                return Err(t.error(format!(
                    "unknown field '{word}' (fields: iface, op, opnum, host, client, server, \
                     port, pipe, outcome, status, auth, duration, frame, call_id, transport, \
                     decrypted, decryption, in.NAME, out.NAME, param.NAME)"
                )));
            }
            return Ok(Node::Shows(word.to_lowercase()));
        };
        if matches!(field, Field::Parameter(..)) {
            self.uses_parameters = true;
        }
        if !op_follows {
            return Ok(Node::Test(Test {
                field,
                op: Op::Present,
            }));
        }
        let Some(Token {
            kind: Kind::Op(op),
            column,
        }) = self.next()
        else {
            return Err(t.error("expected an operator"));
        };
        let value = match self.next() {
            Some(Token {
                kind: Kind::Word(w) | Kind::Quoted(w),
                column,
            }) => (w, column),
            Some(other) => {
                return Err(other.error(format!(
                    "expected a value after '{op}', found {}",
                    other.describe()
                )));
            }
            None => return Err(self.at_end(&format!("expected a value after '{op}'"))),
        };
        let (text, value_column) = value;
        let bad = |message: String| FilterError {
            column: value_column,
            message,
        };
        let number = || -> Result<u64, FilterError> {
            let n = if field == Field::Duration {
                parse_duration(&text)
            } else {
                parse_number(&text)
            };
            n.ok_or_else(|| {
                bad(if field == Field::Duration {
                    format!("'{text}' is not a duration (a number with us, ms or s)")
                } else {
                    format!("'{text}' is not a number")
                })
            })
        };
        let op = match op {
            "==" | "!=" => {
                let operand = Operand {
                    text: if field == Field::Pipe {
                        pipe_base(&text).to_lowercase()
                    } else {
                        text.to_lowercase()
                    },
                    number: if field == Field::Duration {
                        Some(number()?)
                    } else {
                        parse_number(&text)
                    },
                    network: parse_network(&text),
                };
                if matches!(field, Field::Host) && operand.network.is_none() {
                    return Err(bad(format!("'{text}' is not an address or a network")));
                }
                if op == "==" {
                    Op::Eq(operand)
                } else {
                    Op::Ne(operand)
                }
            }
            "<" | "<=" | ">" | ">=" => {
                if !field.is_numeric() {
                    return Err(FilterError {
                        column,
                        message: format!("'{op}' compares numbers, and '{word}' is not one"),
                    });
                }
                let ord = if op.starts_with('<') {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                Op::Order(ord, op.ends_with('='), number()?)
            }
            "~" => Op::Matches(
                RegexBuilder::new(&text)
                    .case_insensitive(true)
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map_err(|e| bad(format!("not a regular expression: {e}")))?,
            ),
            _ => Op::Contains(text.to_lowercase()),
        };
        Ok(Node::Test(Test { field, op }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dce::SyntaxId;
    use crate::model::{Auth, Interface, Name, PduSpan};
    use crate::status::{Status, StatusKind};

    /// A Samr call answered with STATUS_ACCESS_DENIED over a named pipe.
    fn samr_denied() -> Call {
        let mut c = Call::for_tests(7, 20, 20);
        c.client = "10.1.2.3:50001".parse().unwrap();
        c.server = "10.9.0.1:445".parse().unwrap();
        c.transport = "ncacn_np";
        c.pipe = Some("\\PIPE\\samr".into());
        c.interface = Some(Interface {
            syntax: SyntaxId {
                uuid: crate::dce::Uuid::parse("12345778-1234-abcd-ef00-0123456789ac").unwrap(),
                major: 1,
                minor: 0,
            },
            name: Some(Name::Borrowed("Samr")),
        });
        c.opnum = Some(64);
        c.operation = Some(Name::Borrowed("SamrConnect5"));
        c.response = Some(PduSpan {
            frames: [22, 23],
            fragments: 1,
            stub_len: 40,
        });
        c.outcome = Outcome::Response;
        c.status = Some(Status {
            code: 0xc000_0022,
            kind: StatusKind::NtStatus,
        });
        c.duration_us = Some(2_500);
        c.auth = Some(Auth {
            auth_type: 10,
            level: 6,
        });
        c
    }

    fn holds(expr: &str) -> bool {
        Filter::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(&samr_denied())
    }

    #[test]
    fn every_field_compares_as_documented() {
        for (expr, want) in [
            ("iface == samr", true),
            ("iface == 12345778-1234-ABCD-ef00-0123456789ac", true),
            ("iface == lsarpc", false),
            ("op == SamrConnect5", true),
            ("op == samr.samrconnect5", true),
            ("opnum == 64 and opnum >= 64 and opnum < 65", true),
            ("opnum > 64", false),
            ("host == 10.9.0.1", true),
            ("host == 10.0.0.0/8 and host != 192.168.0.0/16", true),
            ("client == 10.1.2.3:50001 and server == 10.9.0.1", true),
            ("server == 10.1.2.3", false),
            ("port == 445 and port == 50001", true),
            (
                "pipe == samr and pipe == \\PIPE\\SAMR and pipe != lsarpc",
                true,
            ),
            ("pipe ~ '^.pipe.samr$'", true),
            ("outcome == response and outcome == error", true),
            ("outcome == ok", false),
            ("status == STATUS_ACCESS_DENIED", true),
            ("status == 0xc0000022 and status == 3221225506", true),
            ("status != 0", true),
            ("auth == ntlmssp and auth == privacy", true),
            ("auth == none", false),
            (
                "duration > 2ms and duration < 0.003s and duration == 2500us",
                true,
            ),
            ("duration >= 2501", false),
            ("frame == 20 and frame == 23 and frame < 21", true),
            ("frame == 21", false),
            ("frame > 21 and frame <= 22", true),
            ("call_id == 7 and transport == ncacn_np", true),
            ("decrypted", false),
            ("not decrypted", true),
            ("op ~ '^samr(open|connect)'", true),
            ("op contains CONNECT", true),
            ("status ~ denied", true),
        ] {
            assert_eq!(holds(expr), want, "{expr}");
        }
    }

    #[test]
    fn words_alone_match_the_text_of_the_row() {
        assert!(holds("samrconnect5"));
        assert!(holds("access_denied samr"), "side by side: both");
        assert!(holds("\"STATUS_ACCESS_DENIED\""));
        assert!(!holds("lsarpc"));
        assert!(holds("lsarpc or 10.9.0.1"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_both() {
        assert!(holds("iface == lsarpc and opnum == 1 or opnum == 64"));
        assert!(!holds("iface == lsarpc and (opnum == 1 or opnum == 64)"));
        assert!(holds("not iface == lsarpc && !(port == 139) || false_word"));
        assert!(!holds("not (iface == samr)"));
    }

    #[test]
    fn mistakes_are_reported_at_their_column() {
        for (expr, column, says) in [
            ("iface ==", 9, "expected a value after '==' at the end"),
            ("ifcae == samr", 1, "unknown field 'ifcae'"),
            ("(iface == samr", 1, "never closed"),
            ("iface == samr)", 14, "without its '('"),
            ("op < 3", 4, "compares numbers"),
            ("opnum > three", 9, "not a number"),
            ("duration > 3weeks", 12, "not a duration"),
            ("op ~ '('", 6, "not a regular expression"),
            ("host == samr", 9, "not an address"),
            ("iface == 'samr", 10, "never closed"),
            ("iface == == samr", 10, "expected a value"),
            ("and", 1, "expected a test"),
        ] {
            let e = Filter::parse(expr).expect_err(expr);
            assert_eq!(e.column, column, "{expr}: {e}");
            assert!(e.message.contains(says), "{expr}: {e}");
        }
        let e = Filter::parse("opnum > x").unwrap_err();
        assert_eq!(e.caret(), "        ^");
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let deep = "(".repeat(10_000) + "samr" + &")".repeat(10_000);
        assert!(Filter::parse(&deep).is_err(), "too long");
        let deep = "(".repeat(MAX_FILTER_DEPTH + 1) + "samr" + &")".repeat(MAX_FILTER_DEPTH + 1);
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        let nots = "not ".repeat(MAX_FILTER_DEPTH + 1) + "samr";
        assert!(Filter::parse(&nots).is_err());
        let fine = "(".repeat(10) + "samr" + &")".repeat(10);
        assert!(holds(&fine));
    }

    #[test]
    fn decoded_parameters_are_fields() {
        let mut c = samr_denied();
        let mut d = crate::idl::values::Decoded::default();
        d.request
            .push(("ServerName".into(), Value::Text("DC01\0".into())));
        d.request.push((
            "DesiredAccess".into(),
            Value::Named(0x2000_0031, "MAXIMUM_ALLOWED".into()),
        ));
        d.response.push((
            "InRevisionInfo".into(),
            Value::Fields(vec![(
                "V1".into(),
                Value::Fields(vec![("Revision".into(), Value::UInt(3))]),
            )]),
        ));
        c.decoded = Some(Box::new(d));
        let f = |e: &str| {
            let f = Filter::parse(e).unwrap();
            assert!(f.uses_parameters());
            f.matches(&c)
        };
        assert!(f("in.ServerName == dc01 and in.ServerName contains C0"));
        assert!(f("in.servername ~ dc0[0-9]"));
        assert!(f(
            "in.DesiredAccess == 0x20000031 and in.DesiredAccess == maximum_allowed"
        ));
        assert!(f("out.InRevisionInfo.V1.Revision == 3"));
        assert!(f("param.Revision >= 3"));
        assert!(!f("out.ServerName == x"));
        assert!(!Filter::parse("iface == samr").unwrap().uses_parameters());
        assert!(!Filter::parse("param.a.b == 1").is_ok_and(|f| f.uses_parameters()));
    }
}
