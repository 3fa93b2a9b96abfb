//! TCP layer: connections and per-direction stream reassembly.
//!
//! Consumes [`crate::link::TcpSegment`]s; [`flow_table::FlowTable`] finds (or creates) the
//! connection, handles SYN/FIN/RST and port reuse, and each direction's
//! [`reassembler::Reassembler`] turns segments into an ordered byte stream with explicit gaps
//! ([`StreamSink::data`] and [`StreamSink::gap`]); [`late::Streams`] holds both directions and
//! keeps a segment captured after the peer acknowledged it ahead of the peer's answer.

pub mod flow_table;
pub mod late;
pub mod reassembler;

use crate::source::Timestamp;

/// Direction of a segment within a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// From the side that opened the connection (sent the SYN), or the guessed client.
    FromInitiator,
    /// From the other side.
    FromResponder,
}

impl Dir {
    /// The opposite direction.
    #[must_use]
    pub fn reverse(self) -> Self {
        match self {
            Self::FromInitiator => Self::FromResponder,
            Self::FromResponder => Self::FromInitiator,
        }
    }

    /// 0 for the initiator's direction, 1 for the responder's (for two-element arrays).
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Self::FromInitiator => 0,
            Self::FromResponder => 1,
        }
    }
}

/// Where stream bytes came from: the frame that carried them and its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Frame number.
    pub frame: u64,
    /// Capture time of that frame.
    pub ts: Timestamp,
}

/// What a framer of a stream's bytes holds: the room its buffer takes, and the frame of the
/// first byte it holds unread (the start of a PDU or message whose end has not come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Bytes its buffer takes (allocated, used or not).
    pub bytes: usize,
    /// Frame of its first unread byte, when it holds any.
    pub since: Option<u64>,
}

/// The frames a piece of a byte stream came from: the frame of its first byte and the frame that
/// completed it (the same frame for a TCP segment; the first and last segment of an SMB message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Frame carrying the first byte.
    pub first: Origin,
    /// Frame that completed the piece.
    pub last: Origin,
}

impl Span {
    /// A piece carried by one frame.
    #[must_use]
    pub fn single(origin: Origin) -> Self {
        Self {
            first: origin,
            last: origin,
        }
    }
}

/// Receiver of reassembled stream events for one direction.
pub trait StreamSink {
    /// In-order bytes starting at stream `offset` (0 = first byte after the SYN, or the first byte
    /// seen when the connection was already open).
    fn data(&mut self, offset: u64, bytes: &[u8], origin: Origin);
    /// `len` bytes starting at `offset` are missing and will never arrive.
    fn gap(&mut self, offset: u64, len: u64);
}
