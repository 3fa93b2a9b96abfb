//! rpcscope: makes Microsoft RPC (DCE/RPC, MS-RPCE) traffic readable.
//!
//! # Layers
//!
//! ```text
//! source   (pcap / pcapng, file or stdin)            Frame {number, ts, link type, bytes}
//!   └─ link     (Ethernet/VLAN, SLL, SLL2, raw, null)   TcpSegment | Ipv4Fragment
//!       ├─ ip_defrag (IPv4 fragments, capped)           TcpSegment
//!       └─ tcp       (flow table, reassembly per dir)   data(offset, bytes, origin) | gap
//!           └─ engine   (DCE/RPC detection: port 135, strict header heuristic)
//!               └─ dcerpc::framing    (PDU boundaries, resync after gaps)   FramedPdu
//!                   └─ dcerpc::association (contexts, calls, fragments)      CallRecord
//!                       └─ summary / output (JSON Lines, tables, summary)
//! ```
//!
//! Each layer consumes the one above it and knows nothing of the ones below. The [`engine`]
//! does no I/O; [`run`] reads a capture into it. Every buffer and table is bounded by a named
//! constant in the module that owns it; reaching a limit is counted in the summary.

pub mod dcerpc;
pub mod engine;
pub mod event;
pub mod ip_defrag;
pub mod link;
pub mod output;
pub mod report;
pub mod source;
pub mod summary;
pub mod tcp;

use std::io::Read;

use engine::{Analysis, Engine};
use source::file::{CaptureReader, SourceError};

/// The result of reading a capture to its end, or as far as it could be read.
#[derive(Debug)]
pub struct Run {
    /// What was found in the frames that could be read.
    pub analysis: Analysis,
    /// Why reading stopped early (a truncated or corrupt file), if it did.
    pub stopped_by: Option<SourceError>,
}

/// Reads a whole capture from `input` and analyses it.
///
/// # Errors
/// [`SourceError`] when the input is not a capture at all (bad magic, empty, unreadable header).
/// Errors later in the file do not fail the run: the frames before them are analysed and the
/// error is returned in [`Run::stopped_by`].
pub fn run<R: Read>(input: R) -> Result<Run, SourceError> {
    let mut reader = CaptureReader::new(input)?;
    let mut engine = Engine::new();
    let stopped_by = loop {
        match reader.next_frame() {
            Ok(Some(frame)) => engine.process(&frame),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    Ok(Run {
        analysis: engine.finish(),
        stopped_by,
    })
}
