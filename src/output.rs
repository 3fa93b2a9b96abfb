//! Output layer: JSON Lines for scripts ([`json`]), readable text for people ([`text`]), and
//! Zeek's `dce_rpc.log` and CSV for existing pipelines ([`logs`]). They render the typed records
//! of [`crate::model`] and [`crate::summary`]; none changes them.

pub mod json;
pub mod json_fields;
pub mod logs;
pub mod order;
pub mod text;

/// Makes text from the wire safe for a terminal: control characters (C0, DEL, C1) and the
/// bidirectional-text controls (U+202E and its kin, which reorder what follows) become
/// `\xNN` / `\u{NNNN}` escapes, and a backslash is doubled so escapes stay unambiguous.
#[must_use]
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if terminal_control(c) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters a terminal acts on beyond C0 and DEL: the C1 controls and the bidirectional-text
/// controls.
pub(crate) fn terminal_control(c: char) -> bool {
    matches!(
        c as u32,
        0x80..=0x9f | 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069
    )
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn escapes_terminal_control_sequences() {
        assert_eq!(sanitize("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(sanitize("\u{9b}x\\"), "\\u{009b}x\\\\");
        assert_eq!(sanitize("\\PIPE\\samr"), "\\\\PIPE\\\\samr");
        assert_eq!(sanitize("plain"), "plain");
        assert_eq!(sanitize("a\u{202e}gpj.exe"), "a\\u{202e}gpj.exe");
    }
}
