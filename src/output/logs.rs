//! Output layer, logs that existing pipelines read: Zeek's `dce_rpc.log` (`calls --format zeek`,
//! the TSV layout of Zeek's ASCII writer, and `--format zeek-json`, its JSON writer) with Zeek's
//! field names and meaning, and CSV (`--format csv`, RFC 4180) with the call table's columns.
//! `docs/json-format.md` lists the fields; `tests/logs.rs` compares the Zeek form with Zeek's own
//! baselines field by field.
//!
//! Zeek's fields: `ts` (the request's first frame), `uid` (one id per connection: here a stable
//! hash of its two endpoints, where Zeek draws a random one), `id.orig_h/p` and `id.resp_h/p`
//! (client and server), `rtt` (from the request's last frame to the answer's last, in seconds),
//! `named_pipe` (the bind_ack's secondary address, else the pipe opened), `endpoint` (the
//! interface's short name, [`short_interface_name`]; `unknown-UUID` when it has none),
//! `operation` (the operation's name, `unknown-OPNUM` when it has none).

use std::io::{self, Write};

use crate::dce::names::short_interface_name;
use crate::model::Call;
use crate::source::Timestamp;

/// Zeek's `#fields` line of `dce_rpc.log`, tab-separated.
pub const ZEEK_FIELDS: [&str; 10] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "rtt",
    "named_pipe",
    "endpoint",
    "operation",
];

/// Zeek's `#types` line, in the order of [`ZEEK_FIELDS`].
const ZEEK_TYPES: [&str; 10] = [
    "time", "string", "addr", "port", "addr", "port", "interval", "string", "string", "string",
];

/// `2026-12-07-10-47-30`, as Zeek writes `#open` and `#close`.
fn log_time(t: Timestamp) -> String {
    let iso = t.rfc3339_micros();
    // 2026-12-07T10:47:30.000000Z
    let (date, time) = iso.split_once('T').unwrap_or((&iso, ""));
    let time = time.get(..8).unwrap_or(time).replace(':', "-");
    format!("{date}-{time}")
}

/// The header of a `dce_rpc.log`, opened at `open` (the first call's time: Zeek writes the
/// time the log was opened).
///
/// # Errors
/// Writing failed.
pub fn write_zeek_header(out: &mut impl Write, open: Timestamp) -> io::Result<()> {
    writeln!(out, "#separator \\x09")?;
    writeln!(out, "#set_separator\t,")?;
    writeln!(out, "#empty_field\t(empty)")?;
    writeln!(out, "#unset_field\t-")?;
    writeln!(out, "#path\tdce_rpc")?;
    writeln!(out, "#open\t{}", log_time(open))?;
    writeln!(out, "#fields\t{}", ZEEK_FIELDS.join("\t"))?;
    writeln!(out, "#types\t{}", ZEEK_TYPES.join("\t"))
}

/// The last line of a `dce_rpc.log`, closed at `close` (the last call's end).
///
/// # Errors
/// Writing failed.
pub fn write_zeek_close(out: &mut impl Write, close: Timestamp) -> io::Result<()> {
    writeln!(out, "#close\t{}", log_time(close))
}

/// Seconds since the epoch with microseconds, as Zeek writes `time`.
fn epoch_seconds(t: Timestamp) -> String {
    let micros = t.as_micros();
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// A connection's id, `C` and base-62 digits of a hash of its two endpoints (FNV-1a), stable
/// from run to run (Zeek draws a random one per connection).
#[must_use]
pub fn connection_uid(c: &Call) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}|{}", c.client, c.server).bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut uid = String::from("C");
    for _ in 0..11 {
        uid.push(char::from(DIGITS[(hash % 62) as usize]));
        hash /= 62;
    }
    uid
}

/// The values of a call's fields, `None` where Zeek writes its unset mark.
fn zeek_values(c: &Call) -> [Option<String>; 10] {
    let endpoint = c.interface.as_ref().map(|i| {
        short_interface_name(i.syntax.uuid, i.syntax.major)
            .or_else(|| i.name.as_deref().map(str::to_string))
            .unwrap_or_else(|| format!("unknown-{}", i.syntax.uuid))
    });
    let operation = match (&c.operation, c.opnum) {
        (Some(name), _) => Some(name.to_string()),
        (None, Some(n)) => Some(format!("unknown-{n}")),
        (None, None) => None,
    };
    [
        Some(epoch_seconds(c.start)),
        Some(connection_uid(c)),
        Some(c.client.ip().to_string()),
        Some(c.client.port().to_string()),
        Some(c.server.ip().to_string()),
        Some(c.server.port().to_string()),
        c.duration_us
            .map(|us| format!("{}.{:06}", us / 1_000_000, us % 1_000_000)),
        c.sec_addr
            .as_deref()
            .or(c.pipe.as_deref())
            .map(str::to_string),
        endpoint,
        operation,
    ]
}

/// A value as Zeek's ASCII writer escapes it: a backslash doubled, the separator, control
/// characters and bytes outside printable ASCII as `\xNN`, the empty string as `(empty)`, a
/// value equal to the unset mark as `\x2d`.
fn zeek_escaped(v: &str) -> String {
    if v.is_empty() {
        return "(empty)".into();
    }
    if v == "-" {
        return "\\x2d".into();
    }
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// One call as a `dce_rpc.log` line.
///
/// # Errors
/// Writing failed.
pub fn write_zeek_row(out: &mut impl Write, c: &Call) -> io::Result<()> {
    let fields: Vec<String> = zeek_values(c)
        .into_iter()
        .map(|v| v.map_or_else(|| "-".to_string(), |v| zeek_escaped(&v)))
        .collect();
    writeln!(out, "{}", fields.join("\t"))
}

/// One call as a line of Zeek's JSON log: the same fields, numbers for `ts`, ports and `rtt`,
/// unset fields left out.
///
/// # Errors
/// Writing failed.
pub fn write_zeek_json(out: &mut impl Write, c: &Call) -> io::Result<()> {
    let mut object = serde_json::Map::new();
    for (name, value) in ZEEK_FIELDS.iter().zip(zeek_values(c)) {
        let Some(value) = value else {
            continue;
        };
        let json = match *name {
            "ts" | "rtt" | "id.orig_p" | "id.resp_p" => value
                .parse::<serde_json::Number>()
                .map_or(serde_json::Value::String(value), serde_json::Value::Number),
            _ => serde_json::Value::String(value),
        };
        object.insert((*name).to_string(), json);
    }
    super::json::write_line(out, &serde_json::Value::Object(object))
}

/// The columns of `--format csv`.
pub const CSV_HEADER: &str = "frame,time,client,server,transport,pipe,call_id,context_id,interface,interface_uuid,operation,opnum,outcome,status,status_code,fault,duration_us,auth_type,auth_level,decryption,sec_addr";

/// A CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled, RFC
/// 4180), control characters escaped as in text output.
#[must_use]
pub fn csv_field(v: &str) -> String {
    let v = super::sanitize(v);
    if v.contains([',', '"']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// One call as a CSV row ([`CSV_HEADER`]'s columns).
///
/// # Errors
/// Writing failed.
pub fn write_csv_row(out: &mut impl Write, c: &Call) -> io::Result<()> {
    let text = |v: Option<&str>| v.map(csv_field).unwrap_or_default();
    let number = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let frame = c.first_frame();
    let fields = [
        number(frame),
        c.start.rfc3339_micros(),
        c.client.to_string(),
        c.server.to_string(),
        c.transport.to_string(),
        text(c.pipe.as_deref()),
        c.call_id.to_string(),
        c.context_id.map(|v| v.to_string()).unwrap_or_default(),
        text(c.interface.as_ref().and_then(|i| i.name.as_deref())),
        c.interface
            .as_ref()
            .map(|i| i.syntax.uuid.to_string())
            .unwrap_or_default(),
        text(c.operation.as_deref()),
        number(c.opnum.map(u64::from)),
        c.outcome.to_string(),
        text(c.status.map(|s| s.label()).as_deref()),
        c.status
            .map(|s| format!("{:#010x}", s.code))
            .unwrap_or_default(),
        text(c.fault_name().as_deref()),
        number(c.duration_us),
        text(c.auth.map(|a| a.type_name()).as_deref()),
        text(c.auth.map(|a| a.level_name()).as_deref()),
        text(c.decryption),
        text(c.sec_addr.as_deref()),
    ];
    writeln!(out, "{}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_zeeks_writer_does() {
        assert_eq!(zeek_escaped("\\PIPE\\lsass"), "\\\\PIPE\\\\lsass");
        assert_eq!(zeek_escaped("a\tb\u{1b}"), "a\\x09b\\x1b");
        assert_eq!(zeek_escaped(""), "(empty)");
        assert_eq!(zeek_escaped("-"), "\\x2d");
        assert_eq!(zeek_escaped("é"), "\\xc3\\xa9");
    }

    #[test]
    fn times_are_written_as_zeek_writes_them() {
        let t = Timestamp {
            secs: 1_056_991_896,
            nanos: 692_766_000,
        };
        assert_eq!(epoch_seconds(t), "1056991896.692766");
        assert_eq!(log_time(t), "2003-06-30-16-51-36");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("line\nbreak"), "line\\x0abreak");
    }
}
