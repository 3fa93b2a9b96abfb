//! Outputs: JSON Lines for scripts ([`json`]) and readable text for people ([`text`]). Both read
//! the records of [`crate::event`] and [`crate::summary`]; neither changes them.

pub mod json;
pub mod text;

/// Makes text from the wire safe for a terminal: control characters (C0, DEL, C1) become
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
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
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
    }
}
