//! RPC over HTTP (`ncacn_http`, MS-RPCH), between TCP and DCE/RPC.
//!
//! Version 1 (MS-RPCH §2.1.1.1): the server greets each connection with the legacy banner
//! [`BANNER`], then both directions carry connection-oriented PDUs as over TCP; the session
//! stage strips the banner and labels the channel ([`crate::dcerpc::channel::Channel`]).
//!
//! Version 2 (§2.1.2): a client opens two HTTP connections, an IN channel (an `RPC_IN_DATA`
//! request whose body carries the client's PDUs) and an OUT channel (an `RPC_OUT_DATA` request
//! answered with a `200` response whose body carries the server's PDUs), possibly after HTTP
//! authentication round trips (`401`) and with `100 Continue` interim answers. The first PDU of
//! each body is an RTS PDU (§2.2.4.2 CONN/A1 on OUT, §2.2.4.5 CONN/B1 on IN) naming the
//! virtual connection's cookie, which pairs the two channels. [`HttpChannel`] reads the HTTP
//! messages of one TCP connection and hands over what belongs to the virtual connection: the
//! IN request's body as the client's bytes, the OUT response's body as the server's, gaps
//! included; the session stage joins them into one association. RTS PDUs stay in those bytes
//! (the association counts them as `rts`). Chunked bodies and HTTPS are not read.
//!
//! Limits: an HTTP message head is at most [`MAX_HTTP_HEAD_BYTES`], and a body's first PDU
//! (which names the cookie) at most [`MAX_FIRST_PDU_BYTES`]; past either the connection is
//! not read further (`http_channels_given_up`).

use std::net::SocketAddr;

use crate::tcp::{Dir, Held, Origin, Span};

/// The transport name of RPC over HTTP.
pub const TRANSPORT: &str = "ncacn_http";
/// The port of the endpoint mapper over RPC over HTTP version 1.
pub const EPM_HTTP_PORT: u16 = 593;
/// What a version 1 server sends first.
pub const BANNER: &[u8] = b"ncacn_http/1.0";
/// Longest HTTP request or response head read.
pub const MAX_HTTP_HEAD_BYTES: usize = 16 * 1024;
/// Longest first PDU of a channel's body (a CONN/A1 or CONN/B1 RTS PDU is under 120 bytes).
pub const MAX_FIRST_PDU_BYTES: usize = 1024;

/// The RTS packet type.
const RTS: u8 = 20;
/// RTS command: Cookie (§2.2.3.5.3), the first one of CONN/A1 and CONN/B1 is the virtual
/// connection's.
const COMMAND_COOKIE: u32 = 3;

/// A virtual connection cookie.
pub type Cookie = [u8; 16];

/// True when a client's first bytes open a version 2 channel.
#[must_use]
pub fn starts_channel(bytes: &[u8]) -> bool {
    bytes.starts_with(b"RPC_IN_DATA ") || bytes.starts_with(b"RPC_OUT_DATA ")
}

/// Which channel of a virtual connection a TCP connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// `RPC_IN_DATA`: the client's PDUs.
    In,
    /// `RPC_OUT_DATA`: the server's PDUs.
    Out,
}

/// What a channel hands to its virtual connection.
#[derive(Debug)]
pub enum Delivery<'a> {
    /// The channel belongs to the virtual connection `cookie`.
    Joined {
        /// IN or OUT.
        kind: ChannelKind,
        /// The virtual connection's cookie.
        cookie: Cookie,
    },
    /// Bytes of the virtual connection's stream in direction `dir` (from the client on the IN
    /// channel, from the server on the OUT channel).
    Bytes {
        /// The direction in the virtual connection.
        dir: Dir,
        /// The bytes.
        bytes: &'a [u8],
        /// The frames they came in.
        span: Span,
    },
    /// The first PDU of the OUT channel's request (CONN/A1): the client's, but outside both
    /// streams of the virtual connection (recorded, not read by the association).
    Aside {
        /// The PDU.
        bytes: &'a [u8],
        /// The frames it came in.
        span: Span,
    },
    /// `len` bytes of the stream in direction `dir` were never captured.
    Gap {
        /// The direction in the virtual connection.
        dir: Dir,
        /// How many.
        len: u64,
    },
}

/// Where a direction is in its HTTP messages.
#[derive(Debug)]
enum State {
    /// Reading a message head.
    Head(Vec<u8>),
    /// Skipping `left` body bytes that carry nothing for the virtual connection.
    Skip { left: u64 },
    /// In a body whose first PDU (not yet whole) names the cookie: `relay` when the body
    /// belongs to the virtual connection (the IN request's).
    First {
        left: u64,
        held: Vec<u8>,
        first: Option<Origin>,
        relay: bool,
    },
    /// Relaying `left` body bytes to the virtual connection.
    Relay { left: u64 },
    /// Nothing more is read (lost place, chunked body, limit).
    Done,
}

/// The HTTP messages of one TCP connection that opened a version 2 channel.
#[derive(Debug)]
pub struct HttpChannel {
    /// Client's and server's streams, by [`Dir::index`].
    states: [State; 2],
    kind: Option<ChannelKind>,
    cookie: Option<Cookie>,
    given_up: bool,
    /// The connection's client and server.
    endpoints: [SocketAddr; 2],
}

/// The first line and the `Content-Length` of a message head, and whether it is chunked.
struct Head<'a> {
    first_line: &'a str,
    content_length: u64,
    chunked: bool,
}

fn parse_head(head: &[u8]) -> Option<Head<'_>> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let first_line = lines.next()?;
    let (mut content_length, mut chunked) = (0, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= value.to_ascii_lowercase().contains("chunked");
        }
    }
    Some(Head {
        first_line,
        content_length,
        chunked,
    })
}

/// The virtual connection cookie a CONN/A1 or CONN/B1 PDU names (its first Cookie command).
fn cookie_of(pdu: &[u8]) -> Option<Cookie> {
    if pdu.get(2) != Some(&RTS) || pdu.get(4).is_none_or(|d| d & 0x10 == 0) {
        return None;
    }
    let count = u16::from_le_bytes([*pdu.get(18)?, *pdu.get(19)?]);
    let mut at = 20;
    for _ in 0..count {
        let kind = u32::from_le_bytes(pdu.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if kind == COMMAND_COOKIE {
            return pdu.get(at..at + 16)?.try_into().ok();
        }
        // sizes of the commands that come before the cookie in CONN/A1 and CONN/B1
        at += match kind {
            0 | 2 | 4 | 5 | 6 | 13 | 14 => 4,
            _ => return None,
        };
    }
    None
}

impl HttpChannel {
    /// The channel of the connection from `client` to `server`.
    #[must_use]
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        Self {
            states: [State::Head(Vec::new()), State::Head(Vec::new())],
            kind: None,
            cookie: None,
            given_up: false,
            endpoints: [client, server],
        }
    }

    /// The connection's client and server.
    #[must_use]
    pub fn endpoints(&self) -> [SocketAddr; 2] {
        self.endpoints
    }

    /// Which channel this connection is, once its request was read.
    #[must_use]
    pub fn kind(&self) -> Option<ChannelKind> {
        self.kind
    }

    /// The virtual connection it belongs to, once its first PDU was read.
    #[must_use]
    pub fn cookie(&self) -> Option<Cookie> {
        self.cookie
    }

    /// True when the connection could not be read to its end.
    #[must_use]
    pub fn given_up(&self) -> bool {
        self.given_up
    }

    /// Bytes the channel holds: message heads and a body's first PDU not yet whole (counted
    /// with the run's framer bytes, [`crate::context::MAX_FRAMER_BYTES_TOTAL`]).
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.states
            .iter()
            .map(|s| match s {
                State::Head(h) => h.len(),
                State::First { held, .. } => held.len(),
                _ => 0,
            })
            .sum()
    }

    /// What the channel holds, counted with the run's framer bytes: HTTP heads and a body's
    /// first PDU, none of them a call's.
    #[must_use]
    pub fn held(&self) -> Held {
        Held {
            bytes: self.held_bytes(),
            since: None,
        }
    }

    /// Stops reading the connection and lets go of what it holds (the run's limit).
    pub fn give_up(&mut self) {
        self.states = [State::Done, State::Done];
        self.given_up = true;
    }

    /// In-order bytes of direction `dir`, from `origin`; what belongs to the virtual
    /// connection goes to `out`.
    pub fn data(
        &mut self,
        dir: Dir,
        mut bytes: &[u8],
        origin: Origin,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        while !bytes.is_empty() {
            let used = self.step(dir, bytes, origin, out);
            if used == 0 {
                return;
            }
            bytes = &bytes[used..];
        }
    }

    /// `len` bytes of direction `dir` were never captured.
    pub fn gap(&mut self, dir: Dir, len: u64, out: &mut dyn FnMut(Delivery<'_>)) {
        let target = self.target(dir);
        let state = &mut self.states[dir.index()];
        match state {
            State::Skip { left } if len < *left => *left -= len,
            State::Relay { left } if len <= *left => {
                *left -= len;
                if let Some(dir) = target {
                    out(Delivery::Gap { dir, len });
                }
                if *left == 0 {
                    *state = State::Head(Vec::new());
                }
            }
            State::Done => {}
            _ => {
                *state = State::Done;
                self.given_up = true;
            }
        }
    }

    /// The direction in the virtual connection of this connection's direction `dir`.
    fn target(&self, dir: Dir) -> Option<Dir> {
        match (self.kind?, dir) {
            (ChannelKind::In, Dir::FromInitiator) => Some(Dir::FromInitiator),
            (ChannelKind::Out, Dir::FromResponder) => Some(Dir::FromResponder),
            _ => None,
        }
    }

    /// Reads from the start of `bytes`; returns how many bytes were used (0: nothing more is
    /// read in this direction).
    fn step(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        origin: Origin,
        out: &mut dyn FnMut(Delivery<'_>),
    ) -> usize {
        let target = self.target(dir);
        let i = dir.index();
        match &mut self.states[i] {
            State::Done => 0,
            State::Skip { left } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= n as u64;
                if *left == 0 {
                    self.states[i] = State::Head(Vec::new());
                }
                n
            }
            State::Relay { left } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= n as u64;
                if let Some(dir) = target {
                    out(Delivery::Bytes {
                        dir,
                        bytes: &bytes[..n],
                        span: Span::single(origin),
                    });
                }
                if *left == 0 {
                    self.states[i] = State::Head(Vec::new());
                }
                n
            }
            State::First {
                left,
                held,
                first,
                relay,
            } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                held.extend_from_slice(&bytes[..n]);
                *left -= n as u64;
                first.get_or_insert(origin);
                let frag_len = held
                    .get(8..10)
                    .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
                let whole = frag_len.is_some_and(|l| held.len() >= l);
                if !whole && held.len() < MAX_FIRST_PDU_BYTES && *left > 0 {
                    return n;
                }
                let (held, first, relay, left) = (std::mem::take(held), *first, *relay, *left);
                let Some(cookie) = cookie_of(&held) else {
                    self.states[i] = State::Done;
                    self.given_up = true;
                    return 0;
                };
                if let Some(kind) = self.kind
                    && self.cookie.is_none()
                {
                    self.cookie = Some(cookie);
                    out(Delivery::Joined { kind, cookie });
                }
                let span = Span {
                    first: first.unwrap_or(origin),
                    last: origin,
                };
                match target {
                    Some(dir) if relay => out(Delivery::Bytes {
                        dir,
                        bytes: &held,
                        span,
                    }),
                    _ => out(Delivery::Aside { bytes: &held, span }),
                }
                self.states[i] = match (left, relay) {
                    (0, _) => State::Head(Vec::new()),
                    (left, true) => State::Relay { left },
                    (left, false) => State::Skip { left },
                };
                n
            }
            State::Head(head) => {
                let before = head.len();
                head.extend_from_slice(&bytes[..bytes.len().min(MAX_HTTP_HEAD_BYTES)]);
                // only where the end can be: a head arriving a byte at a time stays linear
                let from = before.saturating_sub(3);
                let Some(end) = head[from..]
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|at| from + at)
                else {
                    if head.len() >= MAX_HTTP_HEAD_BYTES {
                        self.states[i] = State::Done;
                        self.given_up = true;
                        return 0;
                    }
                    return bytes.len();
                };
                let used = end + 4 - before;
                let head = std::mem::take(head);
                self.states[i] = self.after_head(dir, &head[..end]);
                used
            }
        }
    }

    /// The state after a message head of direction `dir`.
    fn after_head(&mut self, dir: Dir, head: &[u8]) -> State {
        let Some(h) = parse_head(head) else {
            self.given_up = true;
            return State::Done;
        };
        let left = h.content_length;
        if h.chunked {
            self.given_up = true;
            return State::Done;
        }
        match dir {
            Dir::FromInitiator => {
                let kind = match h.first_line.split(' ').next() {
                    Some("RPC_IN_DATA") => ChannelKind::In,
                    Some("RPC_OUT_DATA") => ChannelKind::Out,
                    _ => {
                        self.given_up = true;
                        return State::Done;
                    }
                };
                self.kind = Some(kind);
                if left == 0 {
                    return State::Head(Vec::new());
                }
                if self.cookie.is_some() {
                    return if kind == ChannelKind::In {
                        State::Relay { left }
                    } else {
                        State::Skip { left }
                    };
                }
                State::First {
                    left,
                    held: Vec::new(),
                    first: None,
                    relay: kind == ChannelKind::In,
                }
            }
            Dir::FromResponder => {
                let status = h.first_line.split(' ').nth(1).unwrap_or("");
                match status {
                    // an interim answer: no body
                    "100" => State::Head(Vec::new()),
                    "200" if self.kind == Some(ChannelKind::Out) && left > 0 => {
                        State::Relay { left }
                    }
                    _ if left == 0 => State::Head(Vec::new()),
                    _ => State::Skip { left },
                }
            }
        }
    }
}

/// Answers held by one virtual connection while their requests have not come
/// ([`VirtualStreams`]); past it they are handed over as they are
/// (`rpc_over_http_answers_before_request`).
pub const MAX_HELD_ANSWER_BYTES: usize = 256 * 1024;
/// The same, all virtual connections of the run together.
pub const MAX_HELD_ANSWER_BYTES_TOTAL: usize = 8 * 1024 * 1024;

/// The bytes every virtual connection of the run holds, against
/// [`MAX_HELD_ANSWER_BYTES_TOTAL`].
#[derive(Debug, Default)]
pub struct HeldAnswerBytes(usize);

/// PDU types that answer a client's PDU of the same call_id: response, fault, bind_ack,
/// bind_nak, alter_context_resp.
fn is_answer(ptype: u8) -> bool {
    matches!(ptype, 2 | 3 | 12 | 13 | 15)
}

/// Cuts one direction's bytes into whole PDUs by their fragment length.
#[derive(Debug, Default)]
struct Cutter {
    buf: Vec<u8>,
    first: Option<Origin>,
    /// The place between PDUs was lost (a gap, or a header that does not read): bytes pass
    /// as they come.
    lost: bool,
}

/// A whole PDU's type, call id and length, from its header.
fn pdu_head(b: &[u8]) -> Option<(u8, u32, usize)> {
    let h = b.get(..16)?;
    if h[0] != 5 {
        return None;
    }
    let le = h[4] & 0x10 != 0;
    let (len, call_id) = if le {
        (
            u16::from_le_bytes([h[8], h[9]]),
            u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
        )
    } else {
        (
            u16::from_be_bytes([h[8], h[9]]),
            u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        )
    };
    (len >= 16).then_some((h[2], call_id, usize::from(len)))
}

/// The two streams of a virtual connection on their way to its association. The client's
/// PDUs come on the IN channel and the server's on the OUT channel, two TCP connections, so
/// a capture may show an answer before the request it answers (the segments of one
/// connection are captured late, or the two connections reach the capture point by
/// different paths). An answer whose call id is above every call id the client's stream has
/// carried waits, with the server's PDUs after it, until the client's stream carries it
/// (at most [`MAX_HELD_ANSWER_BYTES`]; a gap, the end of a channel or the limit hands them
/// over as they are).
#[derive(Debug, Default)]
pub struct VirtualStreams {
    cutters: [Cutter; 2],
    /// The highest call id of the client's PDUs so far.
    max_call_id: Option<u32>,
    /// Server PDUs waiting, in order, and their bytes.
    held: std::collections::VecDeque<(Vec<u8>, Span)>,
    held_bytes: usize,
    /// Times answers were handed over without their request (a limit, a gap, the end).
    released_unpaired: u64,
}

impl VirtualStreams {
    /// Bytes of direction `dir` (client: IN channel, server: OUT channel); what may go on
    /// goes to `out` as (direction, bytes, frames).
    pub fn bytes(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        span: Span,
        total: &mut HeldAnswerBytes,
        out: &mut dyn FnMut(Dir, &[u8], Span),
    ) {
        let c = &mut self.cutters[dir.index()];
        if c.lost {
            if dir == Dir::FromResponder {
                self.release_all(total, out);
            }
            out(dir, bytes, span);
            return;
        }
        c.buf.extend_from_slice(bytes);
        c.first.get_or_insert(span.first);
        loop {
            let c = &mut self.cutters[dir.index()];
            let Some((ptype, call_id, len)) = pdu_head(&c.buf) else {
                if c.buf.len() >= 16 {
                    // a header that does not read: the bytes pass as they come from now on
                    c.lost = true;
                    let rest = std::mem::take(&mut c.buf);
                    let first = c.first.take().unwrap_or(span.first);
                    if dir == Dir::FromResponder {
                        self.release_all(total, out);
                    }
                    out(
                        dir,
                        &rest,
                        Span {
                            first,
                            last: span.last,
                        },
                    );
                }
                return;
            };
            if c.buf.len() < len {
                return;
            }
            let pdu: Vec<u8> = c.buf.drain(..len).collect();
            let first = if c.buf.is_empty() {
                c.first.take()
            } else {
                c.first.replace(span.last)
            };
            let pdu_span = Span {
                first: first.unwrap_or(span.first),
                last: span.last,
            };
            if dir == Dir::FromInitiator {
                if ptype != RTS {
                    self.max_call_id = Some(self.max_call_id.map_or(call_id, |m| m.max(call_id)));
                }
                out(dir, &pdu, pdu_span);
                self.release_ready(total, out);
            } else if !self.held.is_empty() || (is_answer(ptype) && self.awaits(call_id)) {
                self.held_bytes += pdu.len();
                total.0 += pdu.len();
                self.held.push_back((pdu, pdu_span));
                if self.held_bytes > MAX_HELD_ANSWER_BYTES || total.0 > MAX_HELD_ANSWER_BYTES_TOTAL
                {
                    self.release_all(total, out);
                }
            } else {
                out(dir, &pdu, pdu_span);
            }
        }
    }

    /// Bytes of direction `dir` were never captured: held answers and bytes not yet whole go
    /// on (the caller then hands over the gap); the direction's PDUs are not cut any more.
    pub fn gap(
        &mut self,
        dir: Dir,
        total: &mut HeldAnswerBytes,
        out: &mut dyn FnMut(Dir, &[u8], Span),
    ) {
        self.release_all(total, out);
        self.stop_cutting(dir, out);
    }

    /// Bytes held while cutting PDUs (not the held answers), counted with the run's framer
    /// bytes ([`crate::context::MAX_FRAMER_BYTES_TOTAL`]), and the frame of the first of them.
    #[must_use]
    pub fn cutting(&self) -> Held {
        Held {
            bytes: self.cutters.iter().map(|c| c.buf.len()).sum(),
            since: self
                .cutters
                .iter()
                .filter(|c| !c.buf.is_empty())
                .filter_map(|c| c.first.map(|o| o.frame))
                .min(),
        }
    }

    /// Lets go of everything held (the run's limit, or the end of the virtual connection):
    /// held answers and bytes not yet whole go on, and from now on bytes pass as they come.
    pub fn let_go(&mut self, total: &mut HeldAnswerBytes, out: &mut dyn FnMut(Dir, &[u8], Span)) {
        self.release_all(total, out);
        self.stop_cutting(Dir::FromInitiator, out);
        self.stop_cutting(Dir::FromResponder, out);
    }

    /// Hands over direction `dir`'s bytes not yet whole; its PDUs are not cut any more.
    fn stop_cutting(&mut self, dir: Dir, out: &mut dyn FnMut(Dir, &[u8], Span)) {
        let c = &mut self.cutters[dir.index()];
        c.lost = true;
        let rest = std::mem::take(&mut c.buf);
        if let Some(first) = c.first.take() {
            out(dir, &rest, Span { first, last: first });
        }
    }

    /// Hands over every held answer (a channel ended).
    pub fn release_all(
        &mut self,
        total: &mut HeldAnswerBytes,
        out: &mut dyn FnMut(Dir, &[u8], Span),
    ) {
        if self.held.is_empty() {
            return;
        }
        self.released_unpaired += 1;
        total.0 -= self.held_bytes;
        self.held_bytes = 0;
        for (pdu, span) in std::mem::take(&mut self.held) {
            out(Dir::FromResponder, &pdu, span);
        }
    }

    /// Times answers went on without their request.
    #[must_use]
    pub fn released_unpaired(&self) -> u64 {
        self.released_unpaired
    }

    /// True when an answer with `call_id` has no request yet.
    fn awaits(&self, call_id: u32) -> bool {
        self.max_call_id.is_none_or(|m| call_id > m)
    }

    /// Hands over the held PDUs up to the next answer that still awaits its request.
    fn release_ready(
        &mut self,
        total: &mut HeldAnswerBytes,
        out: &mut dyn FnMut(Dir, &[u8], Span),
    ) {
        while let Some((pdu, _)) = self.held.front() {
            if let Some((ptype, call_id, _)) = pdu_head(pdu)
                && is_answer(ptype)
                && self.awaits(call_id)
            {
                return;
            }
            let Some((pdu, span)) = self.held.pop_front() else {
                return;
            };
            self.held_bytes -= pdu.len();
            total.0 -= pdu.len();
            out(Dir::FromResponder, &pdu, span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Timestamp;

    fn at(frame: u64) -> Origin {
        Origin {
            frame,
            ts: Timestamp::default(),
        }
    }

    /// An RTS PDU with a Version command and then the Cookie `cookie`.
    fn conn_pdu(cookie: u8) -> Vec<u8> {
        let mut body = vec![0, 0, 2, 0];
        body.extend(6u32.to_le_bytes());
        body.extend(1u32.to_le_bytes());
        body.extend(3u32.to_le_bytes());
        body.extend([cookie; 16]);
        let mut p = vec![5, 0, RTS, 3, 0x10, 0, 0, 0];
        p.extend(((16 + body.len()) as u16).to_le_bytes());
        p.extend([0, 0, 0, 0, 0, 0]);
        p.extend(body);
        p
    }

    fn channel() -> HttpChannel {
        HttpChannel::new(
            SocketAddr::from(([10, 0, 0, 1], 50000)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
        )
    }

    fn collect(ch: &mut HttpChannel, dir: Dir, bytes: &[u8], frame: u64) -> Vec<String> {
        let mut got = Vec::new();
        ch.data(dir, bytes, at(frame), &mut |d| {
            got.push(match d {
                Delivery::Joined { kind, cookie } => format!("joined {kind:?} {}", cookie[0]),
                Delivery::Bytes { dir, bytes, span } => {
                    format!("{dir:?} {} from {}", bytes.len(), span.first.frame)
                }
                Delivery::Gap { dir, len } => format!("gap {dir:?} {len}"),
                Delivery::Aside { bytes, .. } => format!("aside {}", bytes.len()),
            });
        });
        got
    }

    #[test]
    fn an_in_channel_relays_its_body_after_authentication_round_trips() {
        let mut ch = channel();
        let first = b"RPC_IN_DATA /rpc/rpcproxy.dll HTTP/1.1\r\nAuthorization: NTLM TlRMTVNTUAABAAAA\r\nContent-Length: 0\r\n\r\n";
        assert!(collect(&mut ch, Dir::FromInitiator, first, 1).is_empty());
        let challenge = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM abc\r\nContent-Length: 5\r\n\r\nhello";
        assert!(collect(&mut ch, Dir::FromResponder, challenge, 2).is_empty());
        let mut request =
            b"RPC_IN_DATA /rpc/rpcproxy.dll?srv:593 HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n"
                .to_vec();
        let pdu = conn_pdu(7);
        // the CONN/B1 PDU split over two segments, then a request PDU
        request.extend(&pdu[..10]);
        assert!(collect(&mut ch, Dir::FromInitiator, &request, 3).is_empty());
        let got = collect(&mut ch, Dir::FromInitiator, &pdu[10..], 4);
        assert_eq!(
            got,
            [
                "joined In 7",
                &format!("FromInitiator {} from 3", pdu.len())
            ]
        );
        assert_eq!(
            collect(&mut ch, Dir::FromInitiator, &[1; 40], 5),
            ["FromInitiator 40 from 5"]
        );
        let mut gaps = Vec::new();
        ch.gap(Dir::FromInitiator, 100, &mut |d| {
            gaps.push(format!("{d:?}"))
        });
        assert_eq!(gaps.len(), 1);
        assert_eq!(ch.kind(), Some(ChannelKind::In));
        assert_eq!(ch.cookie(), Some([7; 16]));
    }

    #[test]
    fn an_out_channel_relays_only_the_servers_answer_body() {
        let mut ch = channel();
        let pdu = conn_pdu(9);
        let mut request = format!(
            "RPC_OUT_DATA /rpc/rpcproxy.dll?srv:593 HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            pdu.len()
        )
        .into_bytes();
        request.extend(&pdu);
        assert_eq!(
            collect(&mut ch, Dir::FromInitiator, &request, 1),
            ["joined Out 9", &format!("aside {}", pdu.len())]
        );
        assert!(
            collect(
                &mut ch,
                Dir::FromResponder,
                b"HTTP/1.1 100 Continue\r\n\r\n",
                2
            )
            .is_empty()
        );
        let mut answer =
            b"HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nContent-Length: 1000\r\n\r\n"
                .to_vec();
        answer.extend([2; 60]);
        assert_eq!(
            collect(&mut ch, Dir::FromResponder, &answer, 3),
            ["FromResponder 60 from 3"]
        );
    }

    /// A connection-oriented PDU of type `ptype` and call id `call_id` with `body` bytes.
    fn co_pdu(ptype: u8, call_id: u32, body: usize) -> Vec<u8> {
        let mut p = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
        p.extend(((16 + body) as u16).to_le_bytes());
        p.extend([0, 0]);
        p.extend(call_id.to_le_bytes());
        p.resize(16 + body, 0xaa);
        p
    }

    #[test]
    fn an_answer_captured_before_its_request_waits_for_it() {
        type Seen = Vec<(Dir, u8, u32, u64)>;
        let total = &mut HeldAnswerBytes::default();
        let mut feed =
            |streams: &mut VirtualStreams, got: &mut Seen, dir: Dir, bytes: &[u8], frame: u64| {
                streams.bytes(
                    dir,
                    bytes,
                    Span::single(at(frame)),
                    total,
                    &mut |d, b, s| {
                        let call_id = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
                        got.push((d, b[2], call_id, s.first.frame));
                    },
                );
            };
        let (mut streams, mut got) = (VirtualStreams::default(), Seen::new());
        let (client, server) = (Dir::FromInitiator, Dir::FromResponder);
        feed(&mut streams, &mut got, client, &co_pdu(11, 1, 40), 1);
        feed(&mut streams, &mut got, server, &co_pdu(12, 1, 40), 2);
        // the answer to call 2, then an RTS PDU, come before the request of call 2
        let answer = co_pdu(2, 2, 30);
        feed(&mut streams, &mut got, server, &answer[..20], 3);
        feed(&mut streams, &mut got, server, &answer[20..], 4);
        feed(&mut streams, &mut got, server, &co_pdu(RTS, 0, 8), 5);
        assert_eq!(got.len(), 2);
        feed(&mut streams, &mut got, client, &co_pdu(0, 2, 30), 6);
        assert_eq!(
            got,
            [
                (client, 11, 1, 1),
                (server, 12, 1, 2),
                (client, 0, 2, 6),
                (server, 2, 2, 3),
                (server, RTS, 0, 5),
            ]
        );
        assert_eq!(streams.released_unpaired(), 0);
    }

    #[test]
    fn held_answers_go_on_at_a_limit_or_a_gap() {
        let mut streams = VirtualStreams::default();
        let total = &mut HeldAnswerBytes::default();
        let mut out = 0usize;
        let span = Span::single(at(1));
        let answer = co_pdu(2, 9, 4000);
        let rounds = MAX_HELD_ANSWER_BYTES / answer.len() + 1;
        for _ in 0..rounds {
            streams.bytes(Dir::FromResponder, &answer, span, total, &mut |_, b, _| {
                out += b.len();
            });
        }
        assert!(out > 0 && streams.released_unpaired() == 1);
        streams.bytes(Dir::FromResponder, &answer, span, total, &mut |_, b, _| {
            out += b.len();
        });
        assert_eq!(total.0, answer.len());
        streams.gap(Dir::FromResponder, total, &mut |_, b, _| out += b.len());
        assert_eq!(total.0, 0);
        assert_eq!(out, answer.len() * (rounds + 1));
        assert_eq!(streams.released_unpaired(), 2);
    }

    #[test]
    fn a_head_arriving_a_byte_at_a_time_is_read() {
        let mut ch = channel();
        let pdu = conn_pdu(5);
        let mut request = format!(
            "RPC_IN_DATA /rpc/rpcproxy.dll?srv:593 HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            pdu.len()
        )
        .into_bytes();
        request.extend(&pdu);
        let mut got = Vec::new();
        for (i, b) in request.iter().enumerate() {
            got.extend(collect(&mut ch, Dir::FromInitiator, &[*b], i as u64));
        }
        assert_eq!(got[0], "joined In 5");
        assert_eq!(ch.held_bytes(), 0);
    }

    #[test]
    fn other_http_and_oversized_heads_are_given_up() {
        let mut ch = channel();
        assert!(collect(&mut ch, Dir::FromInitiator, b"GET / HTTP/1.1\r\n\r\n", 1).is_empty());
        assert!(ch.given_up());
        let mut ch = channel();
        let long = vec![b'a'; MAX_HTTP_HEAD_BYTES + 10];
        assert!(collect(&mut ch, Dir::FromInitiator, &long, 1).is_empty());
        assert!(ch.given_up());
        let mut ch = channel();
        let chunked = b"RPC_IN_DATA / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello";
        assert!(collect(&mut ch, Dir::FromInitiator, chunked, 1).is_empty());
        assert!(ch.given_up());
    }
}
