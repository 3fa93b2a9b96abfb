//! DCE/RPC layer: the calls of TCP connections whose bind was not captured (the capture began
//! after it), waiting for an endpoint-mapper answer that names their interface (C706 §2.2 and
//! MS-RPCE §2.1.1.1: a server's dynamic endpoint is announced by `ept_map` and `ept_lookup`
//! answers, and the same endpoint is often looked up again later in a capture).
//!
//! Such a call is held when it ends, with its stubs, until an answer announces its server's
//! address and port; it is then reported with that interface, decoded as if the answer had
//! come first ([`super::call_report::release_labelled`]). A call still waiting
//! [`UNLABELLED_WAIT_SECS`] of capture time after it ended, or at the end of the capture, is
//! reported without an interface. The output order waits for held calls, so the calls come
//! out in capture order as always. Calls of such a connection that start after the answer take
//! its interface when they start ([`crate::epm::resolver::Resolver::connection`]).
//!
//! Limits: [`MAX_UNLABELLED_CALLS`] calls held at once (past it the oldest is reported
//! without an interface, `limit_unlabelled_calls`); their stubs count against
//! [`super::call::MAX_KEPT_STUB_BYTES_TOTAL`] like those of open calls.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::call::{OpenCall, TransportInfo};
use super::stubs::Consumers;
use crate::epm::resolver::EXPECTATION_TTL_SECS;
use crate::hash::FastMap;
use crate::source::Timestamp;

/// Calls held at once, all connections together.
pub const MAX_UNLABELLED_CALLS: usize = 10_000;

/// How long (capture time) a call waits for an answer naming its interface: as long as an
/// answer labels the connections made after it ([`EXPECTATION_TTL_SECS`]).
pub const UNLABELLED_WAIT_SECS: i64 = EXPECTATION_TTL_SECS;

/// A call that ended without an interface, with what its report needs.
#[derive(Debug)]
pub struct Held {
    pub(super) call: OpenCall<Consumers>,
    /// The association's transport facts when the call ended.
    pub(super) info: TransportInfo,
    /// Where the association's pipe name came from.
    pub(super) pipe_source: Option<&'static str>,
    /// When its last PDU came.
    pub(super) ended: Timestamp,
}

impl Held {
    /// The call's server (the receiver of its request).
    #[must_use]
    pub fn server(&self) -> SocketAddr {
        self.info.senders[self.call.client_dir.reverse().index()]
    }

    /// The call's client.
    #[must_use]
    pub fn client(&self) -> SocketAddr {
        self.info.senders[self.call.client_dir.index()]
    }
}

/// The calls held, in the order they ended, and by server address.
#[derive(Debug)]
pub struct Unlabelled {
    /// By a number counting the calls held (so in the order they ended).
    calls: BTreeMap<u64, Held>,
    /// The numbers of each server's calls, oldest first.
    by_server: FastMap<SocketAddr, VecDeque<u64>>,
    next: u64,
    /// Seconds a call waits; 0 holds none.
    wait_secs: i64,
}

impl Default for Unlabelled {
    fn default() -> Self {
        Self {
            calls: BTreeMap::new(),
            by_server: FastMap::default(),
            next: 0,
            wait_secs: UNLABELLED_WAIT_SECS,
        }
    }
}

impl Unlabelled {
    /// Holds no call: each is reported when it ends with what is known then (a live capture,
    /// where seeing calls as they happen matters more).
    pub fn never_wait(&mut self) {
        self.wait_secs = 0;
    }

    /// True when calls are held at all.
    #[must_use]
    pub fn waits(&self) -> bool {
        self.wait_secs > 0
    }

    /// True when no call is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Holds `held`; past [`MAX_UNLABELLED_CALLS`] returns the oldest, to be reported as it is.
    pub(super) fn hold(&mut self, held: Held) -> Option<Held> {
        let n = self.next;
        self.next += 1;
        self.by_server
            .entry(held.server())
            .or_default()
            .push_back(n);
        self.calls.insert(n, held);
        if self.calls.len() > MAX_UNLABELLED_CALLS {
            return self.pop_oldest();
        }
        None
    }

    /// Takes the calls whose server is `server`, in the order they ended.
    pub fn take_for(&mut self, server: SocketAddr) -> Vec<Held> {
        let Some(numbers) = self.by_server.remove(&server) else {
            return Vec::new();
        };
        numbers
            .into_iter()
            .filter_map(|n| self.calls.remove(&n))
            .collect()
    }

    /// Takes the calls that waited their time at `now`.
    pub fn take_expired(&mut self, now: Timestamp) -> Vec<Held> {
        let mut out = Vec::new();
        while let Some((_, oldest)) = self.calls.first_key_value()
            && now.secs.saturating_sub(oldest.ended.secs) > self.wait_secs
        {
            out.extend(self.pop_oldest());
        }
        out
    }

    /// Takes every call (the end of the capture).
    pub fn take_all(&mut self) -> Vec<Held> {
        self.by_server.clear();
        std::mem::take(&mut self.calls).into_values().collect()
    }

    fn pop_oldest(&mut self) -> Option<Held> {
        let (n, held) = self.calls.pop_first()?;
        let server = held.server();
        if let Some(numbers) = self.by_server.get_mut(&server) {
            // the oldest call of all is its server's oldest
            if numbers.front() == Some(&n) {
                numbers.pop_front();
            }
            if numbers.is_empty() {
                self.by_server.remove(&server);
            }
        }
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dcerpc::security::Protection;
    use crate::tcp::Dir;

    /// A call from `client` to `server` (addresses as text) that ended at `secs`.
    fn held(client: &str, server: &str, secs: i64, first_frame: u64) -> Held {
        Held {
            call: OpenCall {
                seq: 0,
                first_frame,
                call_id: 1,
                context_id: 0,
                activity: None,
                opnum: Some(0),
                object: None,
                binding: None,
                client_dir: Dir::FromInitiator,
                request: None,
                response: None,
                fault: None,
                auth: None,
                response_may_be_lost: false,
                consumers: Consumers::default(),
                heads: Default::default(),
                verifier: None,
                tail: super::super::call::StubTail::default(),
                protection: Protection::default(),
            },
            info: TransportInfo::tcp_for_tests(client, server),
            pipe_source: None,
            ended: Timestamp { secs, nanos: 0 },
        }
    }

    fn frames(calls: &[Held]) -> Vec<u64> {
        calls.iter().map(|h| h.call.first_frame).collect()
    }

    #[test]
    fn calls_are_taken_by_their_server_in_the_order_they_ended() {
        let mut u = Unlabelled::default();
        assert!(u.waits());
        for (frame, server) in [
            (1, "10.0.0.9:1032"),
            (2, "10.0.0.9:1033"),
            (3, "10.0.0.9:1032"),
        ] {
            assert!(u.hold(held("10.0.0.2:5000", server, 10, frame)).is_none());
        }
        let server = "10.0.0.9:1032".parse().unwrap();
        assert_eq!(frames(&u.take_for(server)), [1, 3]);
        assert!(u.take_for(server).is_empty(), "taken once");
        assert_eq!(frames(&u.take_all()), [2]);
        assert!(u.is_empty());
    }

    #[test]
    fn a_call_waits_its_time_then_leaves_without_an_interface() {
        let mut u = Unlabelled::default();
        u.hold(held("10.0.0.2:5000", "10.0.0.9:1032", 100, 1));
        u.hold(held("10.0.0.2:5001", "10.0.0.9:1032", 200, 2));
        let at = |secs| Timestamp { secs, nanos: 0 };
        assert!(u.take_expired(at(100 + UNLABELLED_WAIT_SECS)).is_empty());
        assert_eq!(frames(&u.take_expired(at(101 + UNLABELLED_WAIT_SECS))), [1]);
        let server = "10.0.0.9:1032".parse().unwrap();
        assert_eq!(
            frames(&u.take_for(server)),
            [2],
            "the server's index forgot the first"
        );
    }

    #[test]
    fn past_the_limit_the_oldest_call_leaves() {
        let mut u = Unlabelled::default();
        for frame in 0..MAX_UNLABELLED_CALLS as u64 {
            assert!(
                u.hold(held("10.0.0.2:5000", "10.0.0.9:1032", 1, frame))
                    .is_none()
            );
        }
        let out = u.hold(held("10.0.0.2:5000", "10.0.0.9:1032", 1, 99_999));
        assert_eq!(out.map(|h| h.call.first_frame), Some(0));
        let server = "10.0.0.9:1032".parse().unwrap();
        assert_eq!(u.take_for(server).len(), MAX_UNLABELLED_CALLS);
    }

    #[test]
    fn a_live_capture_holds_nothing() {
        let mut u = Unlabelled::default();
        u.never_wait();
        assert!(!u.waits());
    }
}
