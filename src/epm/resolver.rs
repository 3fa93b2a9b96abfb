//! Endpoints learned from endpoint-mapper and DCOM OXID answers, and the connections that used
//! them. Each learned TCP endpoint is an expectation: a later connection to that address and
//! port is DCE/RPC (whatever its port) and, when no bind was captured, its calls take the
//! interface from the answer. An announced host of 0.0.0.0 (or none) means the server that
//! answered.
//!
//! Limits: [`MAX_ENDPOINTS`] endpoints are kept (later ones are counted, not kept); an expectation
//! is used for [`EXPECTATION_TTL_SECS`] of capture time after the answer; each endpoint records
//! at most [`MAX_USED_BY`] connections.

use crate::hash::FastMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::interface_ref;
use super::tower::Endpoint;
use crate::dcerpc::SyntaxId;
use crate::event::InterfaceRef;
use crate::source::Timestamp;

/// Endpoints kept per run.
pub const MAX_ENDPOINTS: usize = 100_000;
/// How long after an answer a connection to the endpoint is linked to it (capture time).
pub const EXPECTATION_TTL_SECS: i64 = 3600;
/// Connections recorded per endpoint.
pub const MAX_USED_BY: usize = 64;

/// An endpoint learned from an answer.
#[derive(Clone, Debug)]
pub struct Learned {
    /// Frame of the answer (its last fragment).
    pub frame: u64,
    /// Time of that frame.
    pub ts: Timestamp,
    /// `ept_map`, `ept_lookup` or `oxid`.
    pub via: &'static str,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The server that answered.
    pub answered_by: SocketAddr,
    /// The client that asked.
    pub asked_by: SocketAddr,
}

/// One `"type": "endpoint"` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointRecord {
    /// Always `"endpoint"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Frame of the answer that carried it.
    pub frame: u64,
    /// `ept_map`, `ept_lookup` or `oxid`.
    pub via: &'static str,
    /// Interface of the tower (null for OXID bindings).
    pub interface: Option<InterfaceRef>,
    /// Protocol sequence.
    pub protocol: String,
    /// Host from the tower or binding.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Named pipe.
    pub pipe: Option<String>,
    /// String binding.
    pub binding: String,
    /// Later connections (`client->server`) to this endpoint.
    pub used_by: Vec<String>,
    /// The client that asked.
    pub asked_by: String,
    /// The server that answered.
    pub answered_by: String,
    /// Time of the answer, RFC 3339 UTC.
    pub time: String,
}

impl EndpointRecord {
    /// `Name vX.Y` of the tower's interface (its UUID when unnamed); `None` for OXID bindings,
    /// which name an object exporter.
    #[must_use]
    pub fn interface_label(&self) -> Option<String> {
        self.interface
            .as_ref()
            .map(|i| format!("{} v{}", i.name.as_deref().unwrap_or(&i.uuid), i.version))
    }
}

#[derive(Debug)]
struct Entry {
    learned: Learned,
    used_by: Vec<String>,
}

/// What an answer said about a server endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The interface announced (none for OXID bindings).
    pub interface: Option<SyntaxId>,
    /// Frame of the answer.
    pub frame: u64,
}

/// The table.
#[derive(Debug, Default)]
pub struct Resolver {
    entries: Vec<Entry>,
    by_tcp: FastMap<SocketAddr, Vec<usize>>,
    /// Named-pipe endpoints by pipe name (as [`pipe_base`] folds it).
    by_pipe: FastMap<String, Vec<usize>>,
    /// Endpoints from a first pass over the capture, for connections that began before the
    /// answer that announced them.
    prior: FastMap<SocketAddr, Expectation>,
    not_kept: u64,
    /// Counts changes to the records (endpoints learned, connections linked).
    revision: u64,
}

impl Resolver {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A table that also knows the endpoints a first pass over the capture found (bounded by
    /// [`MAX_ENDPOINTS`]); the latest answer for an address wins.
    #[must_use]
    pub fn with_prior(prior: &[Learned]) -> Self {
        let mut r = Self::default();
        for l in prior.iter().take(MAX_ENDPOINTS) {
            if let Some(addr) = Self::tcp_addr(l) {
                let e = r.prior.entry(addr).or_insert(Expectation {
                    interface: None,
                    frame: l.frame,
                });
                e.frame = l.frame;
                if l.endpoint.interface.is_some() {
                    e.interface = l.endpoint.interface;
                }
            }
        }
        r
    }

    /// Every endpoint learned, in order (for a first pass).
    #[must_use]
    pub fn learned(&self) -> Vec<Learned> {
        self.entries.iter().map(|e| e.learned.clone()).collect()
    }

    /// A number that changes whenever [`Resolver::records`] would.
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Endpoints that did not fit under [`MAX_ENDPOINTS`].
    #[must_use]
    pub fn not_kept(&self) -> u64 {
        self.not_kept
    }

    /// The address a TCP endpoint is reached at (0.0.0.0 or no host: the answering server).
    fn tcp_addr(l: &Learned) -> Option<SocketAddr> {
        if l.endpoint.protocol != "ncacn_ip_tcp" {
            return None;
        }
        let port = l.endpoint.port.filter(|&p| p != 0)?;
        let host: Option<IpAddr> = l.endpoint.host.as_deref().and_then(|h| h.parse().ok());
        let ip = match host {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => l.answered_by.ip(),
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Records an endpoint.
    pub fn learn(&mut self, l: Learned) {
        if self.entries.len() >= MAX_ENDPOINTS {
            self.not_kept += 1;
            return;
        }
        if let Some(addr) = Self::tcp_addr(&l) {
            self.by_tcp
                .entry(addr)
                .or_default()
                .push(self.entries.len());
        }
        if l.endpoint.protocol == "ncacn_np"
            && let Some(pipe) = &l.endpoint.pipe
        {
            self.by_pipe
                .entry(pipe_base(pipe))
                .or_default()
                .push(self.entries.len());
        }
        self.revision += 1;
        self.entries.push(Entry {
            learned: l,
            used_by: Vec::new(),
        });
    }

    fn live(&self, server: SocketAddr, ts: Timestamp) -> impl Iterator<Item = usize> + '_ {
        self.by_tcp
            .get(&server)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&i| {
                let l = &self.entries[i].learned;
                l.ts <= ts && ts.secs - l.ts.secs <= EXPECTATION_TTL_SECS
            })
    }

    /// A new TCP connection from `client` to `server` at `ts`: when an earlier answer announced
    /// `server`, the connection is recorded as using it and what the latest answer said is
    /// returned; otherwise what a first pass learned from a later answer, if anything.
    pub fn connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: Timestamp,
    ) -> Option<Expectation> {
        let hits: Vec<usize> = self.live(server, ts).collect();
        if hits.is_empty() {
            return self.prior.get(&server).copied();
        }
        let label = format!("{client}->{server}");
        let mut found = Expectation {
            interface: None,
            frame: 0,
        };
        for &i in &hits {
            let e = &mut self.entries[i];
            if e.used_by.len() < MAX_USED_BY && !e.used_by.contains(&label) {
                e.used_by.push(label.clone());
                self.revision += 1;
            }
            found.frame = e.learned.frame;
            if e.learned.endpoint.interface.is_some() {
                found.interface = e.learned.endpoint.interface;
            }
        }
        Some(found)
    }

    /// A pipe named `pipe` was opened on an SMB connection from `client` to `server`.
    pub fn pipe_opened(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        pipe: &str,
        ts: Timestamp,
    ) {
        let Some(candidates) = self.by_pipe.get(&pipe_base(pipe)) else {
            return;
        };
        let label = format!("{client}->{server}");
        for &i in candidates {
            let e = &mut self.entries[i];
            let l = &e.learned;
            let same_server = l.answered_by.ip() == server.ip()
                || l.endpoint
                    .host
                    .as_deref()
                    .and_then(|h| h.parse::<IpAddr>().ok())
                    == Some(server.ip());
            if l.ts <= ts
                && same_server
                && e.used_by.len() < MAX_USED_BY
                && !e.used_by.contains(&label)
            {
                e.used_by.push(label.clone());
                self.revision += 1;
            }
        }
    }

    /// The endpoint records, in the order they were learned.
    #[must_use]
    pub fn records(&self) -> Vec<EndpointRecord> {
        self.entries
            .iter()
            .map(|e| {
                let l = &e.learned;
                EndpointRecord {
                    kind: "endpoint",
                    frame: l.frame,
                    via: l.via,
                    interface: l.endpoint.interface.map(interface_ref),
                    protocol: l.endpoint.protocol.clone(),
                    host: l.endpoint.host.clone(),
                    port: l.endpoint.port,
                    pipe: l.endpoint.pipe.clone(),
                    binding: l.endpoint.binding.clone(),
                    used_by: e.used_by.clone(),
                    asked_by: l.asked_by.to_string(),
                    answered_by: l.answered_by.to_string(),
                    time: l.ts.rfc3339_micros(),
                }
            })
            .collect()
    }
}

/// A pipe name without `\PIPE\` and in lower case.
fn pipe_base(name: &str) -> String {
    let n = name.replace('/', "\\").to_ascii_lowercase();
    n.strip_prefix("\\pipe\\")
        .unwrap_or(&n)
        .trim_matches('\\')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epm::tower;

    fn learned(host: &str, port: u16, secs: i64) -> Learned {
        let t = tower::parse(&tower::tests::tcp_tower(
            host.parse::<std::net::Ipv4Addr>().unwrap().octets(),
            port,
        ))
        .unwrap();
        Learned {
            frame: 10,
            ts: Timestamp { secs, nanos: 0 },
            via: "ept_map",
            endpoint: t.endpoint().unwrap(),
            answered_by: "10.0.0.9:135".parse().unwrap(),
            asked_by: "10.0.0.1:5000".parse().unwrap(),
        }
    }

    #[test]
    fn links_later_connections_and_resolves_unspecified_hosts() {
        let mut r = Resolver::new();
        r.learn(learned("0.0.0.0", 49667, 100));
        let client: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let server: SocketAddr = "10.0.0.9:49667".parse().unwrap();
        let got = r.connection(
            client,
            server,
            Timestamp {
                secs: 101,
                nanos: 0,
            },
        );
        assert_eq!(got.and_then(|e| e.interface).map(|i| i.major), Some(1));
        assert_eq!(got.map(|e| e.frame), Some(10));
        assert_eq!(r.records()[0].used_by, ["10.0.0.1:5001->10.0.0.9:49667"]);
        assert!(
            r.connection(
                client,
                "10.0.0.8:49667".parse().unwrap(),
                Timestamp {
                    secs: 101,
                    nanos: 0
                }
            )
            .is_none()
        );
    }

    #[test]
    fn revision_changes_exactly_when_the_records_do() {
        let mut r = Resolver::new();
        let at = |secs| Timestamp { secs, nanos: 0 };
        let client: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let server: SocketAddr = "10.0.0.9:49667".parse().unwrap();
        let start = r.revision();
        r.learn(learned("10.0.0.9", 49667, 100));
        let learned_one = r.revision();
        assert_ne!(learned_one, start);
        r.connection(client, server, at(101));
        let linked = r.revision();
        assert_ne!(linked, learned_one, "used_by grew");
        r.connection(client, server, at(102));
        r.connection(client, "10.0.0.8:1".parse().unwrap(), at(102));
        r.pipe_opened(client, server, "\\pipe\\lsass", at(103));
        assert_eq!(
            r.revision(),
            linked,
            "the same link again, or none, changes nothing"
        );
    }

    #[test]
    fn a_first_pass_labels_connections_that_began_before_the_answer() {
        let mut r = Resolver::with_prior(&[learned("10.0.0.9", 1032, 500)]);
        let early = Timestamp { secs: 1, nanos: 0 };
        let got = r.connection(
            "10.0.0.2:2482".parse().unwrap(),
            "10.0.0.9:1032".parse().unwrap(),
            early,
        );
        assert_eq!(got.map(|e| e.frame), Some(10));
        assert!(got.unwrap().interface.is_some());
        assert!(
            r.records().is_empty(),
            "prior endpoints are not reported twice"
        );
    }

    #[test]
    fn expectations_expire() {
        let mut r = Resolver::new();
        r.learn(learned("10.0.0.9", 50000, 100));
        let late = Timestamp {
            secs: 100 + EXPECTATION_TTL_SECS + 1,
            nanos: 0,
        };
        let s: SocketAddr = "10.0.0.9:50000".parse().unwrap();
        assert!(
            r.connection("10.0.0.1:1".parse().unwrap(), s, late)
                .is_none()
        );
        assert!(r.records()[0].used_by.is_empty());
    }
}
