//! NetBIOS session service framing (RFC 1002 §4.3; MS-SMB2 §2.1 for direct TCP on 445): turns one
//! direction of a TCP stream into SMB messages. Each record is a 4-byte header (type, then a
//! 24-bit big-endian length) and a payload; session messages (type 0) carry one SMB message
//! (SMB1, SMB2, an SMB2 compound chain, or an SMB3 transform); session request / response and
//! keep-alive records are skipped.
//!
//! After a gap inside a message of known length the message is delivered marked `damaged`; after
//! a gap elsewhere the framer hunts for the next record header followed by an SMB protocol id.
//!
//! Limit: [`MAX_SMB_MESSAGE_BYTES`] per message are kept; of a longer message (bulk file data)
//! only the first [`KEPT_HEAD_BYTES`] are kept and the rest is skipped without buffering.

use std::collections::VecDeque;

use crate::tcp::{Held, Origin, Span};

/// SMB messages up to this length are kept whole (1 MiB). Pipe traffic is far smaller.
pub const MAX_SMB_MESSAGE_BYTES: usize = 1024 * 1024;
/// Bytes kept of a longer message: enough for every header and fixed body rpcscope reads.
pub const KEPT_HEAD_BYTES: usize = 4096;

const HEADER: usize = 4;

/// One SMB message (an NBSS session message payload).
#[derive(Debug)]
pub struct Message<'a> {
    /// The payload (possibly only its head, see `cut`).
    pub bytes: &'a [u8],
    /// Frames of its first and last byte.
    pub span: Span,
    /// Bytes of it were lost in a TCP gap.
    pub damaged: bool,
    /// It was longer than [`MAX_SMB_MESSAGE_BYTES`]; `bytes` holds only its head.
    pub cut: bool,
}

/// What the framer reports.
#[derive(Debug)]
pub enum NbssEvent<'a> {
    /// A session message.
    Message(Message<'a>),
    /// Bytes were lost where no record boundary is known: messages may have been lost entirely.
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Synced,
    Hunting,
    /// Skipping the rest of an over-long message.
    Skipping(u64),
}

/// NBSS framer for one direction.
#[derive(Debug)]
pub struct NbssFramer {
    buf: Vec<u8>,
    buf_start: u64,
    origins: VecDeque<(u64, Span)>,
    holes: Vec<(u64, u64)>,
    mode: Mode,
    /// Head of an over-long message being skipped, delivered once its last byte passes.
    skipped_head: Option<(Vec<u8>, Span)>,
}

impl Default for NbssFramer {
    fn default() -> Self {
        Self::new()
    }
}

/// Record length from a 4-byte NBSS header; `None` when the type is not a known record type.
fn record(h: &[u8]) -> Option<(u8, usize)> {
    let (&t, rest) = h.split_first()?;
    let len = rest.get(..3)?;
    let len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    matches!(t, 0x00 | 0x81 | 0x82 | 0x83 | 0x84 | 0x85).then_some((t, len))
}

/// True when an SMB protocol id (SMB1, SMB2, SMB3 transform or compression) starts `b`.
#[must_use]
pub fn is_smb(b: &[u8]) -> bool {
    matches!(b.get(..4), Some([0xfc..=0xff, b'S', b'M', b'B']))
}

impl NbssFramer {
    /// A framer at a record boundary.
    #[must_use]
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            buf_start: 0,
            origins: VecDeque::new(),
            holes: Vec::new(),
            mode: Mode::Synced,
            skipped_head: None,
        }
    }

    /// Adds in-order stream bytes.
    pub fn data(
        &mut self,
        mut offset: u64,
        mut bytes: &[u8],
        origin: Origin,
        out: &mut impl FnMut(NbssEvent<'_>),
    ) {
        if let Mode::Skipping(left) = self.mode {
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
            bytes = bytes.get(take..).unwrap_or(&[]);
            offset += take as u64;
            let left = left - take as u64;
            if left > 0 {
                self.mode = Mode::Skipping(left);
                return;
            }
            self.mode = Mode::Synced;
            if let Some((head, mut span)) = self.skipped_head.take() {
                span.last = origin;
                out(NbssEvent::Message(Message {
                    bytes: &head,
                    span,
                    damaged: false,
                    cut: true,
                }));
            }
            if bytes.is_empty() {
                return;
            }
        }
        if self.buf.is_empty() {
            self.reset(offset);
        }
        self.origins.push_back((offset, Span::single(origin)));
        self.buf.extend_from_slice(bytes);
        self.process(out);
    }

    /// `len` bytes at `offset` were never captured.
    pub fn gap(&mut self, offset: u64, len: u64, out: &mut impl FnMut(NbssEvent<'_>)) {
        match self.mode {
            Mode::Skipping(left) => {
                if len < left {
                    self.mode = Mode::Skipping(left - len);
                    return;
                }
                self.skipped_head = None;
                out(NbssEvent::Lost);
                self.reset(offset + len);
                self.mode = Mode::Hunting;
                return;
            }
            Mode::Hunting => {
                self.reset(offset + len);
                return;
            }
            Mode::Synced => {}
        }
        if let Some((_, msg_len)) = record(&self.buf) {
            let end = self.buf_start + (HEADER + msg_len) as u64;
            if offset + len <= end && HEADER + msg_len <= MAX_SMB_MESSAGE_BYTES {
                self.holes.push((offset, offset + len));
                self.buf
                    .resize(self.buf.len() + usize::try_from(len).unwrap_or(0), 0);
                self.process(out);
                return;
            }
        }
        out(NbssEvent::Lost);
        self.reset(offset + len);
        self.mode = Mode::Hunting;
    }

    /// The room its buffer takes, and the frame of the first byte it holds (a message whose
    /// end has not come).
    #[must_use]
    pub fn held(&self) -> Held {
        Held {
            bytes: self.buf.capacity(),
            since: (!self.buf.is_empty())
                .then(|| self.origins.front().map(|(_, span)| span.first.frame))
                .flatten(),
        }
    }

    /// Frees its buffer because the run holds too much: a message begun in it is lost and the
    /// framer hunts for the next record; with nothing buffered, only the room is given back.
    pub fn give_up(&mut self, out: &mut impl FnMut(NbssEvent<'_>)) {
        let end = self.buf_start + self.buf.len() as u64;
        if !self.buf.is_empty() && self.mode == Mode::Synced {
            out(NbssEvent::Lost);
            self.mode = Mode::Hunting;
        }
        self.reset(end);
        self.buf = Vec::new();
    }

    fn reset(&mut self, offset: u64) {
        self.buf.clear();
        self.buf_start = offset;
        self.origins.clear();
        self.holes.clear();
    }

    fn process(&mut self, out: &mut impl FnMut(NbssEvent<'_>)) {
        loop {
            if self.mode == Mode::Hunting && !self.hunt() {
                return;
            }
            let Some((kind, len)) = record(&self.buf) else {
                if self.buf.len() >= HEADER {
                    self.mode = Mode::Hunting;
                    continue;
                }
                return;
            };
            if kind == 0 && self.buf.len() >= HEADER + 4 && !is_smb(&self.buf[HEADER..]) {
                self.mode = Mode::Hunting;
                continue;
            }
            let total = HEADER + len;
            if total > MAX_SMB_MESSAGE_BYTES {
                if self.buf.len() < HEADER + KEPT_HEAD_BYTES.min(len) {
                    return;
                }
                let head = self.buf[HEADER..HEADER + KEPT_HEAD_BYTES.min(len)].to_vec();
                let span = self.span_of(total);
                let have = self.buf.len();
                if have >= total {
                    out(NbssEvent::Message(Message {
                        bytes: &head,
                        span,
                        damaged: false,
                        cut: true,
                    }));
                    self.consume(total);
                    continue;
                }
                self.skipped_head = Some((head, span));
                self.mode = Mode::Skipping((total - have) as u64);
                let next = self.buf_start + total as u64;
                self.reset(next);
                return;
            }
            if self.buf.len() < total {
                return;
            }
            if kind == 0 {
                let start = self.buf_start;
                let end = start + total as u64;
                let damaged = self.holes.iter().any(|&(a, b)| a < end && b > start);
                let span = self.span_of(total);
                out(NbssEvent::Message(Message {
                    bytes: &self.buf[HEADER..total],
                    span,
                    damaged,
                    cut: false,
                }));
            }
            self.consume(total);
        }
    }

    /// Looks for `00 LL LL LL` + an SMB protocol id; returns true when the buffer now starts there.
    fn hunt(&mut self) -> bool {
        let found = (0..self.buf.len().saturating_sub(HEADER + 3)).find(|&i| {
            self.buf[i] == 0 && record(&self.buf[i..]).is_some() && is_smb(&self.buf[i + HEADER..])
        });
        match found {
            Some(i) => {
                self.consume(i);
                self.mode = Mode::Synced;
                true
            }
            None => {
                let keep = self.buf.len().min(HEADER + 3);
                self.consume(self.buf.len() - keep);
                false
            }
        }
    }

    fn span_of(&self, len: usize) -> Span {
        let start = self.buf_start;
        let end = start + len as u64;
        let zero = Origin {
            frame: 0,
            ts: crate::source::Timestamp::default(),
        };
        let mut first = None;
        let mut last: Option<Origin> = None;
        for (i, &(o, span)) in self.origins.iter().enumerate() {
            let next = self.origins.get(i + 1).map_or(u64::MAX, |n| n.0);
            if next <= start || o >= end {
                continue;
            }
            first.get_or_insert(span.first);
            if last.is_none_or(|l| span.last.frame >= l.frame) {
                last = Some(span.last);
            }
        }
        let first = first.unwrap_or(zero);
        Span {
            first,
            last: last.unwrap_or(first),
        }
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.buf_start += n as u64;
        let at = self.buf_start;
        while self.origins.len() > 1 && self.origins.get(1).is_some_and(|x| x.0 <= at) {
            self.origins.pop_front();
        }
        if self.buf.is_empty() {
            self.origins.clear();
        }
        self.holes.retain(|&(_, b)| b > at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;

    fn o(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp::default(),
        }
    }

    fn msg(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 0, (body.len() >> 8) as u8, body.len() as u8];
        m.extend(body);
        m
    }

    fn collect(
        f: &mut NbssFramer,
        steps: &[(u64, Vec<u8>, u64, bool)],
    ) -> Vec<(Vec<u8>, u64, u64, bool)> {
        let mut got = Vec::new();
        for (offset, bytes, frame, is_gap) in steps {
            let mut push = |e: NbssEvent<'_>| match e {
                NbssEvent::Message(m) => {
                    got.push((
                        m.bytes.to_vec(),
                        m.span.first.frame,
                        m.span.last.frame,
                        m.damaged,
                    ));
                }
                NbssEvent::Lost => got.push((b"LOST".to_vec(), 0, 0, false)),
            };
            if *is_gap {
                f.gap(*offset, bytes.len() as u64, &mut push);
            } else {
                f.data(*offset, bytes, o(*frame), &mut push);
            }
        }
        got
    }

    #[test]
    fn frames_messages_across_segments_and_skips_keepalives() {
        let mut stream = vec![0x85, 0, 0, 0];
        stream.extend(msg(b"\xfeSMB-first"));
        stream.extend(msg(b"\xffSMB-second"));
        let (a, b) = stream.split_at(9);
        let mut f = NbssFramer::new();
        let got = collect(
            &mut f,
            &[(0, a.to_vec(), 1, false), (9, b.to_vec(), 2, false)],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (b"\xfeSMB-first".to_vec(), 1, 2, false));
        assert_eq!(got[1].0, b"\xffSMB-second");
    }

    #[test]
    fn hunts_for_the_next_message_after_a_gap() {
        let mut stream = msg(b"\xfeSMB-one-long-message");
        let second = msg(b"\xfeSMB-two");
        stream.extend(&second);
        let n = stream.len() as u64;
        let mut f = NbssFramer::new();
        // lose bytes 2..10 (the first header's length and the start of its body)
        let got = collect(
            &mut f,
            &[
                (0, stream[..2].to_vec(), 1, false),
                (2, stream[2..10].to_vec(), 0, true),
                (10, stream[10..].to_vec(), 3, false),
            ],
        );
        assert_eq!(got[0].0, b"LOST");
        assert_eq!(got[1].0, b"\xfeSMB-two");
        assert_eq!(n, 10 + (stream.len() as u64 - 10));
    }

    #[test]
    fn keeps_only_the_head_of_an_over_long_message() {
        let len = MAX_SMB_MESSAGE_BYTES + 10;
        let mut stream = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        stream.extend(b"\xfeSMB");
        stream.resize(4 + len, 7);
        stream.extend(msg(b"\xfeSMB-after"));
        let mut f = NbssFramer::new();
        let mut steps = Vec::new();
        for (i, chunk) in stream.chunks(65_536).enumerate() {
            steps.push(((i * 65_536) as u64, chunk.to_vec(), i as u64 + 1, false));
        }
        let got = collect(&mut f, &steps);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), KEPT_HEAD_BYTES);
        assert_eq!(got[0].1, 1);
        assert_eq!(got[1].0, b"\xfeSMB-after");
    }
}
