//! JSON Lines output: one object per line, each with a `"type"` field (`docs/json-format.md`).
//! serde_json escapes every C0 control character; the records hold no raw wire bytes.

use std::io::{self, Write};

use serde::Serialize;

/// Writes one record as a line.
///
/// # Errors
/// Any write error (a closed pipe included, which the caller treats as a normal end).
pub fn write_line<W: Write, T: Serialize>(out: &mut W, record: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
