//! The analysis engine: frames in, call records and tallies out. It has no I/O, so the same
//! engine serves files, stdin and tests, and its output is deterministic for a given capture.
//!
//! Three stages, data flowing one way: the transport stage ([`transport`]: link, IPv4
//! defragmentation, TCP connections and reassembly) turns frames into connection events
//! (opened, bytes, gap, closed, end of frame), the session stage ([`sessions`]: SMB,
//! DCE/RPC, Kerberos, and what one connection teaches about others) turns those into calls,
//! and the call stage ([`calls`]) finishes each call with what needs nothing the session
//! stage owns (Netlogon calls left unread, the filter, the summary's counts).
//! [`Engine`] runs them on the caller's thread; [`crate::pipeline`] runs each on a thread of
//! its own with the same events in the same order, so the output is the same.

pub mod calls;
pub mod sessions;
pub mod transport;

use std::sync::Arc;

use crate::auth::keys::Keyring;
use crate::epm::resolver::EndpointRecord;
use crate::filter::Filter;
use crate::idl::Library;
use crate::model::{Call, PduRecord};
use crate::source::Frame;
use crate::summary::Summary;
use calls::CallStage;
use sessions::Sessions;
use transport::Transport;

/// The endpoint mapper's well-known port: connections to it are DCE/RPC without probing.
pub const EPM_PORT: u16 = 135;

/// SMB ports (direct TCP and NetBIOS session service): DCE/RPC runs over named pipes there.
pub const SMB_PORTS: [u16; 2] = [445, 139];

/// What is left at the end of a run.
#[derive(Debug)]
pub struct Finished {
    /// The calls not taken yet with [`Engine::take_calls`], in the order they ended (all are
    /// settled).
    pub calls: Vec<Call>,
    /// Counters, per-interface statistics and anomalies over the whole run.
    pub summary: Summary,
    /// Endpoints learned from endpoint-mapper and OXID answers, with the connections that used
    /// them.
    pub endpoints: Vec<EndpointRecord>,
}

/// The limits of a run that a user may move (`--max-connections`, `--max-open-calls`,
/// `--max-endpoints`); `None` keeps the default. Every other limit is a constant
/// (`docs/ARCHITECTURE.md#limits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// TCP connections tracked at once, instead of
    /// [`crate::tcp::flow_table::MAX_CONNECTIONS`] (about 2 KB each while tracked).
    pub max_connections: Option<usize>,
    /// Calls awaiting an answer in the run, instead of [`crate::outbox::MAX_OPEN_CALLS_TOTAL`].
    pub max_open_calls: Option<usize>,
    /// Endpoints learned from answers that are kept, instead of
    /// [`crate::epm::resolver::MAX_ENDPOINTS`].
    pub max_endpoints: Option<usize>,
}

/// The engine. Feed frames with [`Engine::process`], then call [`Engine::finish`].
#[derive(Debug, Default)]
pub struct Engine {
    transport: Transport,
    sessions: Sessions,
    calls: CallStage,
}

impl Engine {
    /// A new engine.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Analyses one frame. Never fails: undecodable frames are counted.
    pub fn process(&mut self, frame: &Frame<'_>) {
        self.transport.process(frame, &mut self.sessions);
    }

    /// Reports each call when it ends with what is known then: a call without a bind is not
    /// held for a later endpoint-mapper answer naming its interface
    /// ([`crate::dcerpc::unlabelled`]), so the output never waits for one (live capture).
    #[must_use]
    pub fn without_waiting_for_labels(mut self) -> Self {
        self.sessions.never_wait_for_labels();
        self
    }

    /// Hands over (and counts in the summary) only the calls `filter` chooses; the capture's
    /// totals stay whole.
    #[must_use]
    pub fn with_filter(mut self, filter: Arc<Filter>) -> Self {
        self.calls.set_filter(filter);
        self
    }

    /// Decodes the pipes of the operations `library` describes.
    #[must_use]
    pub fn with_library(mut self, library: Arc<Library>) -> Self {
        self.sessions.set_library(library);
        self
    }

    /// Unseals protected stubs with the user's secrets.
    #[must_use]
    pub fn with_keys(mut self, keys: Arc<Keyring>) -> Self {
        self.calls.keys_loaded(keys.len());
        self.sessions.set_keys(keys);
        self.transport.kdc_datagrams = true;
        self
    }

    /// Sets the limits a user may move ([`Limits`]); those left `None` keep their default.
    #[must_use]
    pub fn with_limits(mut self, limits: &Limits) -> Self {
        if let Some(max) = limits.max_connections {
            self.transport.limit_connections(max);
        }
        if let Some(max) = limits.max_open_calls {
            self.sessions.limit_open_calls(max);
        }
        if let Some(max) = limits.max_endpoints {
            self.sessions.limit_endpoints(max);
        }
        self
    }

    /// Keeps only what the summary says of endpoints: [`Finished::endpoints`] is empty, and
    /// the resolver counts the connections that used an endpoint instead of listing them, so
    /// its memory does not grow with the connections of a long capture.
    #[must_use]
    pub fn without_endpoint_records(mut self) -> Self {
        self.sessions.without_endpoint_records();
        self
    }

    /// Collects a record of every PDU read, for [`Engine::take_pdu_records`].
    #[must_use]
    pub fn with_pdu_records(mut self) -> Self {
        self.sessions.enable_pdu_records();
        self
    }

    /// The endpoints learned so far, when they changed since `seen` (a live view shows them
    /// before the run ends); `seen` is updated.
    pub fn endpoints_if_changed(&self, seen: &mut u64) -> Option<Vec<EndpointRecord>> {
        self.sessions.endpoints_if_changed(seen)
    }

    /// Takes the records of the PDUs read since the last call.
    pub fn take_pdu_records(&mut self) -> Vec<PduRecord> {
        self.sessions.take_pdu_records()
    }

    /// Takes the calls that ended since the last call, in the order they ended. Call after each
    /// frame to stream; [`Engine::settled`] says which of them can be written in capture order.
    pub fn take_calls(&mut self) -> Vec<Call> {
        let mut calls = self.sessions.take_calls();
        self.calls.pass(&mut calls);
        calls
    }

    /// Every call taken from now on sorts at or after this first frame (see
    /// [`crate::output::order`], which puts calls back in capture order with it).
    #[must_use]
    pub fn settled(&self) -> u64 {
        self.sessions.settled()
    }

    /// The three stages, to run on threads of their own ([`crate::pipeline`]).
    #[must_use]
    pub fn into_stages(self) -> (Transport, Sessions, CallStage) {
        (self.transport, self.sessions, self.calls)
    }

    /// Ends the run: flushes every connection and returns the calls not taken yet and the
    /// summary of the whole run.
    #[must_use]
    pub fn finish(mut self) -> Finished {
        let end = self.transport.finish(&mut self.sessions);
        self.calls.finish(self.sessions.finish(end))
    }
}
