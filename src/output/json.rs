//! JSON Lines output: one object per line, each with a `"type"` field (`docs/json-format.md`).
//! serde_json escapes every C0 control character; C1 controls and the bidirectional-text
//! controls (U+202E and its kin) are written as `\uXXXX` escapes too, so that a line read on a
//! terminal shows what it holds (the parsed strings are the same). The records hold no raw wire
//! bytes.

use std::io::{self, Write};

use serde::Serialize;

use super::terminal_control;

/// Writes one record as a line.
///
/// # Errors
/// Any write error (a closed pipe included, which the caller treats as a normal end).
pub fn write_line<W: Write, T: Serialize>(out: &mut W, record: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe);
    record.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// serde_json's compact output with the characters [`super::terminal_control`] names escaped.
struct TerminalSafe;

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

    #[test]
    fn terminal_controls_are_escaped_and_parse_back_the_same() {
        let text = "a\u{202e}gnp.exe\u{9b}31m\u{1b}z\u{2066}é";
        let mut out = Vec::new();
        write_line(&mut out, &serde_json::json!({ "pipe": text })).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"pipe\":\"a\\u202egnp.exe\\u009b31m\\u001bz\\u2066é\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["pipe"], text);
    }
}
