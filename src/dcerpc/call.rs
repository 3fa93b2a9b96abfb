//! DCE/RPC layer: a call in progress (C706 §12.4: its request and response fragments, its
//! presentation context, its fault) and the transport facts of the association it belongs to.
//! [`super::association`] keeps these up to date as PDUs arrive and hands a finished one to its
//! observer ([`super::call_report`] turns it into its record).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::framing::FramedPdu;
use super::security::Protection;
use crate::auth::keys::Keyring;
use crate::dce::{SyntaxId, Uuid};
use crate::epm::resolver::Expectation;
use crate::idl::Library;
use crate::model::PduSpan;
use crate::tcp::{Dir, Origin};

/// What reads a call's stub bytes, fed with each fragment's (unsealed) stub as it passes.
pub trait StubSink {
    /// More of the request's stub, from frame `frame`.
    fn request(&mut self, stub: &[u8], little_endian: bool, frame: u64);
    /// More of the response's stub; `first` starts the response over.
    fn response(&mut self, first: bool, stub: &[u8], little_endian: bool, frame: u64);
    /// A PDU of the call stayed sealed: nothing of its stubs can be read.
    fn forget(&mut self);
}

/// Stub bytes kept for decoders by all the calls open in the run together (the per-call limit
/// [`super::stubs::MAX_DECODE_STUB_BYTES`] times [`crate::outbox::MAX_OPEN_CALLS_TOTAL`] open calls would be 64 GB); past it, a call
/// that needs more gives up its stubs and is not decoded (`limit_kept_stub_bytes_total`).
pub const MAX_KEPT_STUB_BYTES_TOTAL: usize = 16 * 1024 * 1024;

/// The run's count of stub bytes kept for decoders, shared by every association of the
/// session stage (which runs on one thread at a time).
#[derive(Clone, Debug, Default)]
pub struct KeptStubBytes(Arc<AtomicUsize>);

impl KeptStubBytes {
    /// Counts `n` more bytes, unless that passes [`MAX_KEPT_STUB_BYTES_TOTAL`].
    pub(super) fn reserve(&self, n: usize) -> bool {
        let held = self.0.load(Ordering::Relaxed);
        if held + n > MAX_KEPT_STUB_BYTES_TOTAL {
            return false;
        }
        self.0.store(held + n, Ordering::Relaxed);
        true
    }

    /// Gives `n` bytes back.
    pub(super) fn release(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    /// Bytes counted now.
    #[must_use]
    pub fn held(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A presentation context in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundContext {
    pub(super) abstract_syntax: SyntaxId,
    pub(super) transfer: Option<SyntaxId>,
    pub(super) source: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) first: Origin,
    pub(super) last: Origin,
    pub(super) fragments: u32,
    pub(super) stub_len: u64,
    pub(super) saw_first: bool,
    pub(super) saw_last: bool,
    pub(super) damaged: bool,
}

impl Span {
    pub(super) fn new(
        pdu: &FramedPdu<'_>,
        stub_len: usize,
        saw_first: bool,
        saw_last: bool,
    ) -> Self {
        Self {
            first: pdu.first,
            last: pdu.last,
            fragments: 1,
            stub_len: stub_len as u64,
            saw_first,
            saw_last,
            damaged: pdu.damaged,
        }
    }

    pub(super) fn add(&mut self, pdu: &FramedPdu<'_>, stub_len: usize, saw_last: bool) {
        self.fragments += 1;
        self.stub_len += stub_len as u64;
        if pdu.last.frame >= self.last.frame {
            self.last = pdu.last;
        }
        self.saw_last |= saw_last;
        self.damaged |= pdu.damaged;
    }

    pub(super) fn public(&self) -> PduSpan {
        PduSpan {
            frames: [self.first.frame, self.last.frame],
            fragments: self.fragments,
            stub_len: self.stub_len,
        }
    }
}

/// A call in progress: what its PDUs have said so far, and `S`, what reads its stub bytes
/// (chosen by the association's observer when it started). It becomes a
/// [`crate::model::Call`] when it ends ([`super::call_report`]).
#[derive(Debug)]
pub struct OpenCall<S> {
    pub(super) seq: u64,
    /// Frame of the call's first byte: its place in the output order.
    pub(super) first_frame: u64,
    pub(super) call_id: u32,
    pub(super) context_id: u16,
    /// The activity of a connectionless call ([`super::connectionless`]), which has no
    /// presentation context.
    pub(super) activity: Option<Uuid>,
    pub(super) opnum: Option<u16>,
    pub(super) object: Option<Uuid>,
    pub(super) binding: Option<BoundContext>,
    pub(super) client_dir: Dir,
    pub(super) request: Option<Span>,
    pub(super) response: Option<Span>,
    pub(super) fault: Option<u32>,
    pub(super) auth: Option<(u8, u8)>,
    pub(super) response_may_be_lost: bool,
    /// What reads its stubs besides the framing (chosen when it started).
    pub(super) consumers: S,
    /// First bytes of the first request and response PDUs (for the PDU detail view).
    pub(super) heads: [Vec<u8>; 2],
    pub(super) verifier: Option<(u8, u8, u8, u32, u16)>,
    /// The last bytes of the response stub, where the return value is.
    pub(super) tail: StubTail,
    /// What the security layer did with the call's PDUs.
    pub(super) protection: Protection,
}

impl<S> OpenCall<S> {
    /// Faulted while its request's first fragment was seen and its last one not yet: the
    /// rest of the request still belongs to it.
    pub(super) fn awaits_request_end(&self) -> bool {
        self.fault.is_some() && self.request.is_some_and(|r| r.saw_first && !r.saw_last)
    }
}

/// The last four bytes of a response stub over all its fragments (NDR marshals an
/// operation's return value last; C706 §14.3.3), unless a fragment was sealed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StubTail {
    pub(super) bytes: [u8; 4],
    pub(super) len: usize,
    pub(super) little_endian: bool,
    pub(super) sealed: bool,
}

impl StubTail {
    pub(super) fn add(&mut self, stub: &[u8], little_endian: bool, sealed: bool) {
        self.sealed |= sealed;
        self.little_endian = little_endian;
        for &b in stub.iter().rev().take(4).rev() {
            self.bytes.rotate_left(1);
            self.bytes[3] = b;
        }
        self.len = (self.len + stub.len()).min(4);
    }

    /// The return value, when four clear bytes were seen.
    pub(super) fn value(&self) -> Option<u32> {
        (self.len == 4 && !self.sealed).then(|| {
            if self.little_endian {
                u32::from_le_bytes(self.bytes)
            } else {
                u32::from_be_bytes(self.bytes)
            }
        })
    }
}

/// Transport facts an association reports with each call.
#[derive(Clone, Debug)]
pub struct TransportInfo {
    /// `ncacn_ip_tcp`, `ncacn_np`, ...
    pub transport: &'static str,
    /// Pipe name for named pipes.
    pub pipe: Option<Arc<str>>,
    /// SMB FileId (or FID) of a named pipe.
    pub file_id: Option<Arc<str>>,
    /// The secondary address the latest bind_ack or alter_context_resp named (a port, or the
    /// server's pipe name), as sent.
    pub sec_addr: Option<Arc<str>>,
    /// What an endpoint-mapper or OXID answer announced for this endpoint: its interface is
    /// used when no bind was captured.
    pub expected: Option<Expectation>,
    /// Interface descriptions (IDL) for decoding pipes.
    pub library: Option<Arc<Library>>,
    /// The user's secrets, for unsealing.
    pub keys: Option<Arc<Keyring>>,
    /// Sender address of each direction, indexed by [`Dir::index`].
    pub senders: [SocketAddr; 2],
    /// The run's count of stub bytes kept for decoders.
    pub kept_stub_bytes: KeptStubBytes,
}

impl TransportInfo {
    /// True for a TCP connection no endpoint-mapper answer has labelled: its calls without a
    /// bind may learn their interface from a later answer ([`super::unlabelled`]).
    #[must_use]
    pub fn awaits_label(&self) -> bool {
        self.transport == "ncacn_ip_tcp" && self.expected.is_none()
    }

    /// TCP between `client` and `server`, with no descriptions or keys (unit tests).
    #[cfg(test)]
    pub(crate) fn tcp_for_tests(client: &str, server: &str) -> Self {
        Self {
            transport: "ncacn_ip_tcp",
            pipe: None,
            file_id: None,
            sec_addr: None,
            expected: None,
            library: None,
            keys: None,
            senders: [client.parse().unwrap(), server.parse().unwrap()],
            kept_stub_bytes: KeptStubBytes::default(),
        }
    }
}
