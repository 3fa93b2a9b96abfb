//! DCE/RPC layer, the consumers of a call's stub bytes, chosen when the call starts: the stubs
//! kept for the endpoint-mapper, DCOM, Netlogon and parameter decoders (at most
//! [`MAX_DECODE_STUB_BYTES`]), the NDR pipe decoders of an operation an IDL describes, and the
//! byte-pipe guess for one no IDL describes. Pipes are read as fragments pass, so a pipe of any
//! size costs a few bytes of state.

use std::sync::{Arc, OnceLock};

use super::call::{KeptStubBytes, MAX_KEPT_STUB_BYTES_TOTAL, StubSink};
use crate::idl::decode::{PipeReport, PipeStream, in_pipes_offset};
use crate::idl::plan::{OpPlan, PipeSpec};
use crate::idl::values::{Direction, StubBytes};
use crate::ndr::Syntax;

/// Stub bytes kept per call for the decoders of the endpoint mapper and DCOM answers (1 MiB);
/// a longer stub is not decoded and the call says so.
pub const MAX_DECODE_STUB_BYTES: usize = 1024 * 1024;
/// Why a call's stubs were not kept whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NotKept {
    /// One stub is longer than [`MAX_DECODE_STUB_BYTES`].
    TooLong,
    /// The open calls together hold [`MAX_KEPT_STUB_BYTES_TOTAL`].
    RunLimit,
}

impl NotKept {
    /// What the decoded views say.
    pub(super) fn reason(self) -> String {
        match self {
            Self::TooLong => format!("stub longer than {MAX_DECODE_STUB_BYTES} bytes"),
            Self::RunLimit => format!(
                "stubs of the open calls over {MAX_KEPT_STUB_BYTES_TOTAL} bytes in all: not kept"
            ),
        }
    }
}

/// Which decoder a call's stubs are kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decoder {
    Epm,
    Oxid,
    /// IRemUnknown(2)::RemQueryInterface: IIDs asked for and IPIDs created.
    RemQueryInterface,
    /// Any other DCOM (ORPC) call: its answer may create interface pointers.
    Objrefs,
    /// A Netlogon secure-channel setup or password call: its challenges and credentials.
    Netlogon,
    /// A call whose parameters are decoded with its IDL description only.
    Parameters,
    /// A call with no interface yet, whose stubs wait for one ([`super::unlabelled`]).
    Unlabelled,
}

/// The pipes of a call whose interface an IDL describes.
#[derive(Debug)]
pub(super) struct CallPipes {
    pub(super) plan: Arc<OpPlan>,
    /// \[in\] parameters buffered until the start of the \[in\] pipes is known.
    pub(super) prefix: Vec<u8>,
    pub(super) prefix_frame: u64,
    pub(super) request: Option<PipeStream>,
    pub(super) response: PipeStream,
    pub(super) little_endian: bool,
    ndr64: bool,
    pub(super) undecodable: bool,
}

impl CallPipes {
    pub(super) fn new(plan: Arc<OpPlan>, little_endian: bool, ndr64: bool) -> Self {
        let response = PipeStream::new(&plan.out_pipes, "out", 0, little_endian, ndr64, false);
        Self {
            plan,
            prefix: Vec::new(),
            prefix_frame: 0,
            request: None,
            response,
            little_endian,
            ndr64,
            undecodable: false,
        }
    }

    pub(super) fn request_bytes(&mut self, stub: &[u8], frame: u64) {
        if let Some(r) = self.request.as_mut() {
            r.feed(stub, frame);
            return;
        }
        if self.undecodable || self.plan.in_pipes.is_empty() {
            return;
        }
        if self.prefix.is_empty() {
            self.prefix_frame = frame;
        }
        self.prefix.extend_from_slice(stub);
        let syntax = if self.ndr64 {
            Syntax::Ndr64
        } else {
            Syntax::Ndr
        };
        match in_pipes_offset(&self.plan, &self.prefix, self.little_endian, syntax) {
            Ok(Some(start)) => {
                let mut r = PipeStream::new(
                    &self.plan.in_pipes,
                    "in",
                    start as u64,
                    self.little_endian,
                    self.ndr64,
                    false,
                );
                r.feed(&self.prefix, self.prefix_frame);
                self.prefix = Vec::new();
                self.request = Some(r);
            }
            Ok(None) => {}
            Err(_) => {
                self.undecodable = true;
                self.prefix = Vec::new();
            }
        }
    }

    pub(super) fn reports(
        self,
        request_ended: bool,
        response_ended: bool,
        fault: Option<&str>,
    ) -> Vec<PipeReport> {
        let mut out = match self.request {
            Some(r) => r.finish(request_ended, fault),
            None if self.plan.in_pipes.is_empty() => Vec::new(),
            None => {
                let mut r = PipeStream::new(
                    &self.plan.in_pipes,
                    "in",
                    0,
                    self.little_endian,
                    self.ndr64,
                    false,
                )
                .finish(false, fault);
                for p in &mut r {
                    p.anomalies = vec!["undecodable_parameters".into()];
                }
                r
            }
        };
        out.extend(self.response.finish(response_ended, fault));
        out
    }
}

/// Stub offsets where the heuristic detector looks for an [in] byte pipe: right at the start,
/// after one 32-bit parameter, and after a context handle.
const GUESS_REQUEST_STARTS: [u64; 3] = [0, 4, 20];

/// The heuristic byte-pipe detector of a call no IDL describes: candidate decoders of the
/// request (at [`GUESS_REQUEST_STARTS`]) and of the response (from its start, [out] pipes
/// coming first).
#[derive(Debug)]
pub(super) struct PipeGuess {
    pub(super) request: [PipeStream; GUESS_REQUEST_STARTS.len()],
    pub(super) response: PipeStream,
}

impl PipeGuess {
    pub(super) fn new(little_endian: bool) -> Self {
        // one description of a byte pipe, shared by every guess of the run
        static BYTE_PIPE: OnceLock<Arc<[PipeSpec]>> = OnceLock::new();
        let byte = BYTE_PIPE.get_or_init(|| {
            Arc::new([PipeSpec {
                param: String::new(),
                element_type: String::new(),
                element: (1, 1),
            }])
        });
        let stream = |direction, start| {
            PipeStream::sharing(
                Arc::clone(byte),
                direction,
                start,
                little_endian,
                false,
                true,
            )
        };
        Self {
            request: GUESS_REQUEST_STARTS.map(|s| stream("in", s)),
            response: stream("out", 0),
        }
    }

    /// Pipes that look whole: an [in] pipe that ends the request, or an [out] pipe followed by
    /// only a 32-bit return value; each with at least two chunks.
    pub(super) fn reports(
        self,
        request_ended: bool,
        response_ended: bool,
    ) -> Option<Vec<PipeReport>> {
        let mut out = Vec::new();
        if request_ended && let Some(r) = self.request.into_iter().find(|r| r.looks_whole(2, 0)) {
            out.extend(r.finish(true, None));
        }
        if response_ended && self.response.looks_whole(2, 4) {
            out.extend(self.response.finish(true, None));
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Stub bytes of a call that will be decoded when it ends.
#[derive(Debug)]
pub(super) struct Stubs {
    pub(super) decoder: Decoder,
    pub(super) syntax: Syntax,
    pub(super) request: Vec<u8>,
    pub(super) response: Vec<u8>,
    /// Byte order of the request and of the response.
    pub(super) little_endian: [bool; 2],
    /// Set when the stubs were not kept whole (and so are not decoded).
    pub(super) not_kept: Option<NotKept>,
    /// The run's count these stubs are counted in, and how many bytes they count there (given
    /// back when they are dropped, whoever took the buffers).
    pub(super) kept: KeptStubBytes,
    pub(super) counted: usize,
    /// Decode the parameters with the IDL description too (`--decode`).
    pub(super) parameters: bool,
}

impl Stubs {
    /// The request's stub as the NDR readers take it.
    pub(super) fn request_bytes(&self) -> StubBytes<'_> {
        StubBytes {
            bytes: &self.request,
            direction: Direction::In,
            little_endian: self.little_endian[0],
            syntax: self.syntax,
        }
    }

    /// The response's stub as the NDR readers take it.
    pub(super) fn response_bytes(&self) -> StubBytes<'_> {
        StubBytes {
            bytes: &self.response,
            direction: Direction::Out,
            little_endian: self.little_endian[1],
            syntax: self.syntax,
        }
    }

    /// Keeps more of the request's or the response's stub, within [`MAX_DECODE_STUB_BYTES`] and
    /// the run's [`MAX_KEPT_STUB_BYTES_TOTAL`].
    pub(super) fn add(&mut self, response: bool, bytes: &[u8], little_endian: bool) {
        if !response && self.decoder == Decoder::Objrefs && !self.parameters {
            return;
        }
        let buf = if response {
            &mut self.response
        } else {
            &mut self.request
        };
        if self.not_kept == Some(NotKept::RunLimit) {
            return;
        }
        if buf.len() + bytes.len() > MAX_DECODE_STUB_BYTES {
            self.not_kept = Some(NotKept::TooLong);
            return;
        }
        if !self.kept.reserve(bytes.len()) {
            // Neither stub can be decoded now: their bytes go back to the run.
            self.not_kept = Some(NotKept::RunLimit);
            self.request = Vec::new();
            self.response = Vec::new();
            self.kept.release(std::mem::take(&mut self.counted));
            return;
        }
        self.counted += bytes.len();
        if buf.is_empty() {
            self.little_endian[usize::from(response)] = little_endian;
        }
        buf.extend_from_slice(bytes);
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        self.kept.release(self.counted);
    }
}

/// The stub consumers of one call, fed with each fragment's stub as it passes.
#[derive(Debug, Default)]
pub struct Consumers {
    /// Stubs kept for a decoder.
    pub(super) stubs: Option<Box<Stubs>>,
    /// The pipe decoders of an operation an IDL describes.
    pub(super) pipes: Option<Box<CallPipes>>,
    /// The byte-pipe guess of one no IDL describes.
    pub(super) guess: Option<Box<PipeGuess>>,
}

impl StubSink for Consumers {
    fn request(&mut self, stub: &[u8], little_endian: bool, frame: u64) {
        if let Some(st) = self.stubs.as_mut() {
            st.add(false, stub, little_endian);
        }
        if let Some(pp) = self.pipes.as_mut() {
            pp.request_bytes(stub, frame);
        }
        if let Some(g) = self.guess.as_mut() {
            g.request.iter_mut().for_each(|r| r.feed(stub, frame));
        }
    }

    fn response(&mut self, first: bool, stub: &[u8], little_endian: bool, frame: u64) {
        if let Some(st) = self.stubs.as_mut() {
            if first {
                st.response.clear();
            }
            st.add(true, stub, little_endian);
        }
        if let Some(pp) = self.pipes.as_mut() {
            pp.response.feed(stub, frame);
        }
        if let Some(g) = self.guess.as_mut() {
            g.response.feed(stub, frame);
        }
    }

    fn forget(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stubs(kept: &KeptStubBytes) -> Stubs {
        Stubs {
            decoder: Decoder::Epm,
            syntax: Syntax::Ndr,
            request: Vec::new(),
            response: Vec::new(),
            little_endian: [true, true],
            not_kept: None,
            kept: kept.clone(),
            counted: 0,
            parameters: false,
        }
    }

    #[test]
    fn stubs_kept_by_all_open_calls_are_bounded_together_and_given_back() {
        let kept = KeptStubBytes::default();
        let chunk = vec![0u8; 512 * 1024];
        let mut open = Vec::new();
        // each call keeps 1 MiB (its own limit): the run's limit is reached after 64 calls
        for _ in 0..MAX_KEPT_STUB_BYTES_TOTAL / (1024 * 1024) + 4 {
            let mut s = stubs(&kept);
            s.add(false, &chunk, true);
            s.add(true, &chunk, true);
            assert!(kept.held() <= MAX_KEPT_STUB_BYTES_TOTAL);
            open.push(s);
        }
        let refused = open
            .iter()
            .filter(|s| s.not_kept == Some(NotKept::RunLimit))
            .count();
        assert_eq!(refused, 4, "the calls past the limit keep nothing");
        assert!(
            open.iter()
                .filter(|s| s.not_kept.is_some())
                .all(|s| s.request.is_empty() && s.response.is_empty())
        );
        let mut too_long = stubs(&kept);
        open.truncate(10);
        too_long.add(false, &vec![0u8; MAX_DECODE_STUB_BYTES + 1], true);
        assert_eq!(too_long.not_kept, Some(NotKept::TooLong));
        drop(open);
        drop(too_long);
        assert_eq!(
            kept.held(),
            0,
            "every stub's bytes are given back when it goes"
        );
    }
}
