//! Terminal interface, outputs: what leaves the interface at the user's word. Copying puts
//! text on the terminal's clipboard with the OSC 52 control sequence (xterm's "Manipulate
//! Selection Data"); exporting writes the chosen calls to a file with the `calls` command's
//! JSON Lines or CSV writers ([`crate::output`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::app::{App, Request};
use crate::output::{json, logs, sanitize};

/// Characters of copied text the message line repeats, at most.
const SHOWN_COPY_CHARS: usize = 60;

/// Does what `request` asks (the clipboard sequence written to `terminal`) and says what was
/// done, for the message line.
pub fn carry_out(app: &App, request: Request, terminal: &mut impl Write) -> String {
    match request {
        Request::Clipboard(text) => {
            let written = terminal
                .write_all(osc52(&text).as_bytes())
                .and_then(|()| terminal.flush());
            let shown: String = text.chars().take(SHOWN_COPY_CHARS).collect();
            let more = if text.chars().count() > SHOWN_COPY_CHARS {
                "…"
            } else {
                ""
            };
            match written {
                Ok(()) => format!(
                    "copied with OSC 52 (where the terminal ignores it, Shift and the mouse \
                     select text): {}{more}",
                    sanitize(&shown)
                ),
                Err(e) => format!("could not copy: {e}"),
            }
        }
        Request::Export(path) => match write_calls(app, &path) {
            Ok(n) => format!(
                "wrote {n} calls to {}",
                sanitize(&path.display().to_string())
            ),
            Err(e) => format!(
                "could not write {}: {}",
                sanitize(&path.display().to_string()),
                sanitize(&e.to_string())
            ),
        },
    }
}

/// The OSC 52 sequence that sets the clipboard to `text`.
#[must_use]
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes the calls the calls view shows (filtered, in its order) to `path`: CSV with the
/// `--format csv` columns when the name ends in `.csv`, JSON Lines as `calls --json` writes
/// them otherwise. Returns how many were written.
///
/// # Errors
/// The file cannot be created or written.
pub fn write_calls(app: &App, path: &Path) -> io::Result<usize> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut out = BufWriter::new(File::create(path)?);
    let calls = app.chosen_calls();
    if csv {
        writeln!(out, "{}", logs::CSV_HEADER)?;
    }
    for c in &calls {
        if csv {
            logs::write_csv_row(&mut out, c)?;
        } else {
            json::write_call(&mut out, c)?;
        }
    }
    out.flush()?;
    Ok(calls.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn the_clipboard_sequence_carries_the_text_in_base64() {
        assert_eq!(osc52("foobar"), "\x1b]52;c;Zm9vYmFy\x07");
    }
}
