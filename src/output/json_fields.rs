//! Output layer, JSON text (RFC 8259), below [`super::json`]: an object written field by field
//! into a line buffer, for the records written once per call, where going through serde's data
//! model costs more than the rest of the output, and serde_json's writer for the rest
//! ([`write_value`]). Strings are escaped as serde_json escapes them (`\"`, `\\`,
//! `\b \f \n \r \t`, other C0 controls as `\u00xx`), and C1 controls and bidirectional-text
//! controls as `\uXXXX` by both ([`TerminalSafe`]), so both give the same bytes.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

use super::terminal_control;

/// An object being written: `{` when opened, a comma before every field but the first.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Starts an object at the end of `out`.
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` (after a comma unless it is the first field) and returns the buffer for
    /// the value. Keys are the schema's own names and need no escaping.
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string field.
    pub fn str(&mut self, key: &'static str, value: &str) {
        push_str(self.key(key), value);
    }

    /// A string field, `null` when absent.
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        let out = self.key(key);
        match value {
            Some(v) => push_str(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }

    /// An integer field.
    pub fn int(&mut self, key: &'static str, value: impl itoa::Integer) {
        push_int(self.key(key), value);
    }

    /// An integer field, `null` when absent.
    pub fn opt_int(&mut self, key: &'static str, value: Option<impl itoa::Integer>) {
        let out = self.key(key);
        match value {
            Some(v) => push_int(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }

    /// The string of a value's `Display` form.
    pub fn shown(&mut self, key: &'static str, value: impl Display) {
        push_shown(self.key(key), value);
    }

    /// The string of a value's `Display` form, `null` when absent.
    pub fn opt_shown(&mut self, key: &'static str, value: Option<impl Display>) {
        let out = self.key(key);
        match value {
            Some(v) => push_shown(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }

    /// A transport address as a string (`192.0.2.1:135`, `[2001:db8::1]:135`).
    pub fn address(&mut self, key: &'static str, value: &SocketAddr) {
        let out = self.key(key);
        match value {
            SocketAddr::V4(v4) => {
                out.push(b'"');
                let [a, b, c, d] = v4.ip().octets();
                for (i, octet) in [a, b, c, d].into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    push_int(out, octet);
                }
                out.push(b':');
                push_int(out, v4.port());
                out.push(b'"');
            }
            SocketAddr::V6(_) => push_shown(out, value),
        }
    }

    /// A field whose value serde writes (nested records that are rare or large), with the same
    /// escaping.
    ///
    /// # Errors
    /// The value's own serialisation failed.
    pub fn serialized(&mut self, key: &'static str, value: &impl Serialize) -> io::Result<()> {
        write_value(self.key(key), value)
    }

    /// Ends the object.
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// Appends an integer in decimal.
pub fn push_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut plain_from = 0;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if (0x20..0x80).contains(&b) && b != b'"' && b != b'\\' {
            at += 1;
            continue;
        }
        let (len, escape) = if b < 0x80 {
            (1, Some(u32::from(b)))
        } else {
            // `at` is always a character boundary: whole characters are stepped over
            match value.get(at..).and_then(|rest| rest.chars().next()) {
                Some(c) => (c.len_utf8(), terminal_control(c).then_some(c as u32)),
                None => (1, None),
            }
        };
        if let Some(code) = escape {
            out.extend_from_slice(&bytes[plain_from..at]);
            push_escape(out, code);
            plain_from = at + len;
        }
        at += len;
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// The escape of one character that may not appear as itself.
fn push_escape(out: &mut Vec<u8>, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match code {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x09 => out.extend_from_slice(b"\\t"),
        _ => {
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[((code >> shift) & 0xf) as usize]);
            }
        }
    }
}

/// Appends the JSON string of a value's `Display` form, written straight into `out` and
/// escaped afterwards only when it holds something to escape.
fn push_shown(out: &mut Vec<u8>, value: impl Display) {
    out.push(b'"');
    let start = out.len();
    // writing into a Vec cannot fail
    let _ = std::io::Write::write_fmt(out, format_args!("{value}"));
    let plain = out[start..]
        .iter()
        .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
    } else {
        let text = String::from_utf8_lossy(&out[start..]).into_owned();
        out.truncate(start - 1);
        push_str(out, &text);
    }
}

/// Appends a value's JSON (no newline) with the escaping of [`super::json::write_line`].
///
/// # Errors
/// The value's own serialisation failed.
pub fn write_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, TerminalSafe);
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// serde_json's compact output with C1 controls and bidirectional-text controls escaped too.
pub struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if terminal_control(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_form(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, &text).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_as_serde_json_with_terminal_controls_escapes_them() {
        let mut every_char: String = (0u32..0x300).filter_map(char::from_u32).collect();
        every_char
            .push_str("\u{61c}\u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069}\u{206a}é😀\"\\");
        for text in ["", "plain", "\\pipe\\samr", "a\"b", &every_char] {
            let mut out = Vec::new();
            push_str(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(serde_form(text)).unwrap()
            );
        }
    }

    #[test]
    fn fields_are_separated_by_commas_and_addresses_written_as_rust_shows_them() {
        let mut out = Vec::new();
        let mut o = Object::open(&mut out);
        o.str("a", "x");
        o.opt_int("b", None::<u32>);
        o.int("c", 7u64);
        o.address("v4", &"10.0.0.255:135".parse().unwrap());
        o.address("v6", &"[::ffff:1.2.3.4]:445".parse().unwrap());
        o.opt_shown("d", Some(1.5));
        o.close();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","b":null,"c":7,"v4":"10.0.0.255:135","v6":"[::ffff:1.2.3.4]:445","d":"1.5"}"#
        );
    }
}
