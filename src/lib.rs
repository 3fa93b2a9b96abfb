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

pub mod call_queue;
pub mod dcerpc;
pub mod engine;
pub mod event;
pub mod ip_defrag;
pub mod link;
pub mod output;
pub mod report;
pub mod smb;
pub mod source;
pub mod summary;
pub mod tcp;

use std::io::{self, Read};

use engine::Engine;
use event::CallRecord;
use source::file::{CaptureReader, SourceError};
use summary::Summary;

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// Totals over the frames that could be read.
    pub summary: Summary,
    /// Why reading stopped early (a truncated or corrupt file), if it did.
    pub stopped_by: Option<SourceError>,
}

/// Why a run could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input is not a capture (bad magic, empty, unreadable header).
    #[error("{0}")]
    Source(#[from] SourceError),
    /// Writing a call failed (a closed pipe included).
    #[error("{0}")]
    Output(io::Error),
}

/// Reads a whole capture from `input`, handing each call to `on_call` as soon as its place in
/// the output order is certain (memory stays bounded however long the capture).
///
/// # Errors
/// [`RunError::Source`] when the input is not a capture at all; [`RunError::Output`] when
/// `on_call` fails. An error later in the file does not fail the run: the frames before it are
/// analysed and the error is returned in [`Run::stopped_by`].
pub fn run<R: Read>(
    input: R,
    mut on_call: impl FnMut(CallRecord) -> io::Result<()>,
) -> Result<Run, RunError> {
    let mut reader = CaptureReader::new(input)?;
    let mut engine = Engine::new();
    let stopped_by = loop {
        match reader.next_frame() {
            Ok(Some(frame)) => engine.process(&frame),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        for call in engine.take_calls() {
            on_call(call).map_err(RunError::Output)?;
        }
    };
    let finished = engine.finish();
    for call in finished.calls {
        on_call(call).map_err(RunError::Output)?;
    }
    Ok(Run {
        summary: finished.summary,
        stopped_by,
    })
}

/// Reads a whole capture and returns every call with the run (convenient for small captures
/// and tests; [`run`] streams).
///
/// # Errors
/// As [`run`].
pub fn analyze<R: Read>(input: R) -> Result<(Vec<CallRecord>, Run), RunError> {
    let mut calls = Vec::new();
    let run = run(input, |c| {
        calls.push(c);
        Ok(())
    })?;
    Ok((calls, run))
}
