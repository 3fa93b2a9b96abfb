//! Endpoints learned from endpoint-mapper and DCOM OXID answers, and the connections that used
//! them. Each learned TCP endpoint is an expectation: a later connection to that address and
//! port is DCE/RPC (whatever its port) and, when no bind was captured, its calls take the
//! interface from the answer; so do the calls without a bind of a connection that began
//! before the answer (those that ended before it wait in [`crate::dcerpc::unlabelled`]). An
//! announced host of 0.0.0.0 (or none) means the server that answered.
//!
//! Limits: [`MAX_ENDPOINTS`] endpoints are kept (later ones are counted, not kept); an expectation
//! is used for [`EXPECTATION_TTL_SECS`] of capture time after the answer; each endpoint records
//! at most [`MAX_USED_BY`] connections, and all of them together list at most
//! [`MAX_LISTED_USERS_TOTAL`] (later ones are counted in `uses`, not listed).
//!
//! When only the summary is wanted ([`Resolver::summary_only`]: the `calls` and `summary`
//! commands), an endpoint after the summary's first chains keeps only what linking needs and
//! counts the connections that used it, so the table grows by about 100 bytes per answer, not
//! by the connections of a long capture.
//!
//! A new connection costs O(1) expected time however often its endpoint was announced: the
//! entries of each server address (and of each pipe name and server) are kept in learn order,
//! the expectation comes from the latest live ones, and only the entries that can still take a
//! connection (fewer than [`MAX_USED_BY`], not expired) are visited to record it.

use crate::hash::FastMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::interface_ref;
use super::tower::Endpoint;
use crate::dce::InterfaceRef;
use crate::dce::SyntaxId;
use crate::source::Timestamp;
use std::collections::BTreeMap;

/// Endpoints kept per run.
pub const MAX_ENDPOINTS: usize = 100_000;
/// How long after an answer a connection to the endpoint is linked to it (capture time).
pub const EXPECTATION_TTL_SECS: i64 = 3600;
/// Connections recorded per endpoint.
pub const MAX_USED_BY: usize = 64;
/// Connections listed in the `used_by` of all endpoints together: each costs about 64 bytes
/// in the table and 70 more as text when the records are made, and [`MAX_ENDPOINTS`] times
/// [`MAX_USED_BY`] would be 6.4 million. Later connections count, they are not listed.
pub const MAX_LISTED_USERS_TOTAL: usize = 200_000;

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
    /// The client that asked (a string in JSON).
    pub asked_by: SocketAddr,
    /// The server that answered (a string in JSON).
    pub answered_by: SocketAddr,
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
    /// When the answer came (its last frame's time).
    ts: Timestamp,
    /// Frame of the answer.
    frame: u64,
    /// `ept_map`, `ept_lookup` or `oxid`.
    via: &'static str,
    /// The interface announced.
    interface: Option<SyntaxId>,
    /// The whole answer, for records; `None` when only the summary is wanted and the entry is
    /// beyond its chains.
    learned: Option<Box<Learned>>,
    /// Connections (client, server) that used it, when they are kept.
    used_by: Vec<(SocketAddr, SocketAddr)>,
    /// How many connections used it (up to [`MAX_USED_BY`]).
    uses: usize,
}

/// Which entries list the connections that used them, and how many are listed in all.
#[derive(Debug, Default)]
struct Listing {
    /// Only the summary is wanted: entries after the summary's first
    /// [`MAX_SUMMARY_CHAINS`] count the connections that used them instead of
    /// listing them, so the table does not grow with the connections of a long capture.
    summary_only: bool,
    /// Connections listed over all entries, up to [`MAX_LISTED_USERS_TOTAL`].
    listed: usize,
    /// Connections an entry would have listed beyond [`MAX_LISTED_USERS_TOTAL`].
    not_listed: u64,
}

impl Listing {
    /// Records `conn` as using entry `index`; true when it was new.
    fn record(&mut self, entry: &mut Entry, index: usize, conn: (SocketAddr, SocketAddr)) -> bool {
        if entry.used_by.contains(&conn) {
            return false;
        }
        if lists_users(self.summary_only, index) {
            if self.listed < MAX_LISTED_USERS_TOTAL {
                entry.used_by.push(conn);
                self.listed += 1;
            } else {
                self.not_listed += 1;
            }
        }
        entry.uses += 1;
        true
    }
}

/// The entries learned for one server address (or one pipe name on one server), by index into
/// the table, in the order they were learned.
#[derive(Debug)]
struct Slot {
    /// Every entry.
    all: Vec<usize>,
    /// The entries that announce an interface.
    with_interface: Vec<usize>,
    /// The entries that may still record a connection: fewer than [`MAX_USED_BY`] recorded,
    /// and (when times are in order) not expired for the latest connection.
    open: Vec<usize>,
    /// The entries' answer times never went backwards, so the expired ones form a prefix.
    in_order: bool,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            all: Vec::new(),
            with_interface: Vec::new(),
            open: Vec::new(),
            in_order: true,
        }
    }
}

impl Slot {
    fn add(&mut self, index: usize, entries: &[Entry], learned: &Learned) {
        if let Some(&last) = self.all.last()
            && entries[last].ts > learned.ts
        {
            self.in_order = false;
        }
        self.all.push(index);
        if learned.endpoint.interface.is_some() {
            self.with_interface.push(index);
        }
        self.open.push(index);
    }
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
    by_tcp: FastMap<SocketAddr, Slot>,
    /// `ncadg_ip_udp` endpoints by the address they are reached at.
    by_udp: FastMap<SocketAddr, Slot>,
    /// Named-pipe endpoints by pipe name (as [`pipe_base`] folds it) and the server they are
    /// on (the one that answered, and the host the answer names).
    by_pipe: FastMap<(String, IpAddr), Slot>,
    not_kept: u64,
    /// Counts changes to the records (endpoints learned, connections linked).
    revision: u64,
    /// Which entries list their connections.
    listing: Listing,
    /// Endpoints kept, when not [`MAX_ENDPOINTS`].
    max_endpoints: Option<usize>,
}

impl Resolver {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only what the summary shows (see [`Resolver::records`]).
    pub fn summary_only(&mut self) {
        self.listing.summary_only = true;
    }

    /// True when [`Resolver::records`] has every endpoint (not only the summary's).
    #[must_use]
    pub fn keeps_records(&self) -> bool {
        !self.listing.summary_only
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

    /// Connections not listed in an endpoint's `used_by` because
    /// [`MAX_LISTED_USERS_TOTAL`] were listed already.
    #[must_use]
    pub fn users_not_listed(&self) -> u64 {
        self.listing.not_listed
    }

    /// The address a TCP endpoint (`ncacn_ip_tcp`, or `ncacn_http`, RPC over HTTP version 1)
    /// is reached at (0.0.0.0 or no host: the answering server).
    #[must_use]
    pub fn tcp_addr(l: &Learned) -> Option<SocketAddr> {
        Self::addr(l, "ncacn_ip_tcp").or_else(|| Self::addr(l, "ncacn_http"))
    }

    /// The address an endpoint of `protocol` is reached at.
    fn addr(l: &Learned, protocol: &str) -> Option<SocketAddr> {
        if l.endpoint.protocol != protocol {
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

    /// Keeps at most `max` endpoints instead of [`MAX_ENDPOINTS`].
    pub fn limit_endpoints(&mut self, max: usize) {
        self.max_endpoints = Some(max);
    }

    /// How many endpoints are kept.
    #[must_use]
    pub fn max_endpoints(&self) -> usize {
        self.max_endpoints.unwrap_or(MAX_ENDPOINTS)
    }

    /// Records an endpoint.
    pub fn learn(&mut self, l: Learned) {
        if self.entries.len() >= self.max_endpoints() {
            self.not_kept += 1;
            return;
        }
        let index = self.entries.len();
        if let Some(addr) = Self::tcp_addr(&l) {
            self.by_tcp
                .entry(addr)
                .or_default()
                .add(index, &self.entries, &l);
        }
        if let Some(addr) = Self::addr(&l, "ncadg_ip_udp") {
            self.by_udp
                .entry(addr)
                .or_default()
                .add(index, &self.entries, &l);
        }
        if l.endpoint.protocol == "ncacn_np"
            && let Some(pipe) = &l.endpoint.pipe
        {
            let base = pipe_base(pipe);
            let named = l
                .endpoint
                .host
                .as_deref()
                .and_then(|h| h.parse::<IpAddr>().ok());
            let answered = l.answered_by.ip();
            for ip in std::iter::once(answered).chain(named.filter(|&ip| ip != answered)) {
                self.by_pipe
                    .entry((base.clone(), ip))
                    .or_default()
                    .add(index, &self.entries, &l);
            }
        }
        self.revision += 1;
        let whole = lists_users(self.listing.summary_only, index);
        self.entries.push(Entry {
            ts: l.ts,
            frame: l.frame,
            via: l.via,
            interface: l.endpoint.interface,
            learned: whole.then(|| Box::new(l)),
            used_by: Vec::new(),
            uses: 0,
        });
    }

    /// A TCP connection from `client` to `server` at `ts` (a new one, or one with no bind whose
    /// calls need an interface): when an answer at most [`EXPECTATION_TTL_SECS`] before `ts`
    /// announced `server`, the connection is recorded as using it and what the latest such
    /// answer said is returned.
    pub fn connection(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: Timestamp,
    ) -> Option<Expectation> {
        self.link(false, (client, server), ts)
    }

    /// A connectionless call from `client` to `server` that began at `ts`: as
    /// [`Resolver::connection`], with the `ncadg_ip_udp` endpoints.
    pub fn datagram_call(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: Timestamp,
    ) -> Option<Expectation> {
        self.link(true, (client, server), ts)
    }

    /// Records `conn` as using the live entries of its server address in the UDP or the TCP
    /// table, and returns what the latest said.
    fn link(
        &mut self,
        udp: bool,
        conn: (SocketAddr, SocketAddr),
        ts: Timestamp,
    ) -> Option<Expectation> {
        let table = if udp {
            &mut self.by_udp
        } else {
            &mut self.by_tcp
        };
        link(
            table.get_mut(&conn.1)?,
            &mut self.entries,
            &mut self.revision,
            &mut self.listing,
            conn,
            ts,
        )
    }

    /// A pipe named `pipe` was opened on an SMB connection from `client` to `server`.
    pub fn pipe_opened(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        pipe: &str,
        ts: Timestamp,
    ) {
        let Some(slot) = self.by_pipe.get_mut(&(pipe_base(pipe), server.ip())) else {
            return;
        };
        let listing = &mut self.listing;
        let entries = &mut self.entries;
        let revision = &mut self.revision;
        slot.open.retain(|&i| {
            let e = &mut entries[i];
            if e.ts > ts {
                return true;
            }
            if listing.record(e, i, (client, server)) {
                *revision += 1;
            }
            e.uses < MAX_USED_BY
        });
    }

    /// The endpoint records, in the order they were learned (after
    /// [`Resolver::summary_only`], only the summary's first ones).
    #[must_use]
    pub fn records(&self) -> Vec<EndpointRecord> {
        self.entries.iter().filter_map(Entry::record).collect()
    }

    /// Endpoint resolution in brief, for the summary.
    #[must_use]
    pub fn resolution(&self) -> ResolutionSection {
        let mut s = ResolutionSection::default();
        for e in &self.entries {
            s.add(e.via, e.uses > 0, || e.record());
        }
        s
    }
}

/// True when the connections that used entry `index` are listed, not only counted.
fn lists_users(summary_only: bool, index: usize) -> bool {
    !summary_only || index < MAX_SUMMARY_CHAINS
}

impl Entry {
    /// Its record, when the whole answer is kept.
    fn record(&self) -> Option<EndpointRecord> {
        let l = self.learned.as_deref()?;
        Some(EndpointRecord {
            kind: "endpoint",
            frame: l.frame,
            via: l.via,
            interface: l.endpoint.interface.map(interface_ref),
            protocol: l.endpoint.protocol.clone(),
            host: l.endpoint.host.clone(),
            port: l.endpoint.port,
            pipe: l.endpoint.pipe.clone(),
            binding: l.endpoint.binding.clone(),
            used_by: self
                .used_by
                .iter()
                .map(|(client, server)| format!("{client}->{server}"))
                .collect(),
            asked_by: l.asked_by,
            answered_by: l.answered_by,
            time: l.ts.rfc3339_micros(),
        })
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

/// Resolution chains shown in the summary at most.
pub const MAX_SUMMARY_CHAINS: usize = 50;

/// Endpoint resolution in brief.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResolutionSection {
    /// Endpoints learned.
    pub endpoints: u64,
    /// By `via`.
    pub by_via: BTreeMap<String, u64>,
    /// Endpoints a later connection used.
    pub used: u64,
    /// Chains, `client asked server (via) at frame F: interface → binding → used by ...`, for
    /// the first [`MAX_SUMMARY_CHAINS`] endpoints.
    pub chains: Vec<String>,
    /// Chains beyond that.
    pub chains_not_shown: u64,
}

impl ResolutionSection {
    /// Counts one endpoint learned by `via`, `used` or not; `record` is asked for only while
    /// chains are still shown (without it the chain counts as not shown).
    pub fn add(
        &mut self,
        via: &'static str,
        used: bool,
        record: impl FnOnce() -> Option<EndpointRecord>,
    ) {
        self.endpoints += 1;
        *self.by_via.entry(via.to_string()).or_default() += 1;
        if used {
            self.used += 1;
        }
        let Some(e) = (self.chains.len() < MAX_SUMMARY_CHAINS)
            .then(record)
            .flatten()
        else {
            self.chains_not_shown += 1;
            return;
        };
        let iface = e
            .interface_label()
            .unwrap_or_else(|| "(object exporter)".into());
        let used = if e.used_by.is_empty() {
            "never used".to_string()
        } else {
            format!("used by {}", e.used_by.join(", "))
        };
        self.chains.push(format!(
            "frame {}: {} asked {} ({}): {iface} -> {} -> {used}",
            e.frame, e.asked_by, e.answered_by, e.via, e.binding
        ));
    }
}

/// The latest entry of `list` that an answer at most [`EXPECTATION_TTL_SECS`] before `ts` made
/// (in learn order: when times are in order, the search stops at the first expired).
fn latest_live(entries: &[Entry], list: &[usize], in_order: bool, ts: Timestamp) -> Option<usize> {
    for &i in list.iter().rev() {
        let l = &entries[i];
        if l.ts <= ts && ts.secs - l.ts.secs <= EXPECTATION_TTL_SECS {
            return Some(i);
        }
        if in_order && ts.secs - l.ts.secs > EXPECTATION_TTL_SECS {
            break;
        }
    }
    None
}

/// A connection (or connectionless client and server) at `ts` to the address of `slot`: it
/// is recorded as using the entries still live for it, and what the latest said is returned.
fn link(
    slot: &mut Slot,
    entries: &mut [Entry],
    revision: &mut u64,
    listing: &mut Listing,
    (client, server): (SocketAddr, SocketAddr),
    ts: Timestamp,
) -> Option<Expectation> {
    let latest = latest_live(entries, &slot.all, slot.in_order, ts)?;
    let found = Expectation {
        interface: latest_live(entries, &slot.with_interface, slot.in_order, ts)
            .and_then(|i| entries[i].interface),
        frame: entries[latest].frame,
    };
    let in_order = slot.in_order;
    slot.open.retain(|&i| {
        let e = &mut entries[i];
        let age = ts.secs - e.ts.secs;
        if e.ts <= ts && age <= EXPECTATION_TTL_SECS {
            if listing.record(e, i, (client, server)) {
                *revision += 1;
            }
            e.uses < MAX_USED_BY
        } else {
            // expired for this connection and, times being in order, for later ones
            !(in_order && age > EXPECTATION_TTL_SECS)
        }
    });
    Some(found)
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

    /// An `ncacn_http` tower (RPC over HTTP version 1, MS-RPCH §2.1.1.1) announces a TCP port
    /// like an `ncacn_ip_tcp` one: a later connection to it is labelled with the interface.
    #[test]
    fn http_endpoints_link_later_connections_like_tcp_ones() {
        let mut bytes = tower::tests::tcp_tower([10, 0, 0, 9], 59300);
        // the port floor's protocol: TCP (0x07) becomes HTTP (0x1f)
        let at = bytes
            .windows(5)
            .position(|w| w == [1, 0, 0x07, 2, 0])
            .unwrap();
        bytes[at + 2] = 0x1f;
        let endpoint = tower::parse(&bytes).unwrap().endpoint().unwrap();
        assert_eq!(endpoint.binding, "ncacn_http:10.0.0.9[59300]");
        let mut r = Resolver::new();
        r.learn(Learned {
            endpoint,
            ..learned("10.0.0.9", 59300, 100)
        });
        let got = r.connection(
            "10.0.0.1:5001".parse().unwrap(),
            "10.0.0.9:59300".parse().unwrap(),
            Timestamp {
                secs: 101,
                nanos: 0,
            },
        );
        assert_eq!(got.and_then(|e| e.interface).map(|i| i.major), Some(1));
        assert_eq!(r.records()[0].used_by, ["10.0.0.1:5001->10.0.0.9:59300"]);
    }

    #[test]
    fn summary_only_counts_connections_beyond_the_summarys_chains() {
        let at = |secs| Timestamp { secs, nanos: 0 };
        let chains = MAX_SUMMARY_CHAINS as u16;
        let mut full = Resolver::new();
        let mut brief = Resolver::new();
        brief.summary_only();
        for r in [&mut full, &mut brief] {
            for port in 0..chains + 10 {
                r.learn(learned("10.0.0.9", 40000 + port, 100));
            }
            // every other endpoint is used, twice
            for port in (0..chains + 10).step_by(2) {
                let server = SocketAddr::new([10, 0, 0, 9].into(), 40000 + port);
                r.connection("10.0.0.1:5001".parse().unwrap(), server, at(101));
                r.connection("10.0.0.2:5002".parse().unwrap(), server, at(102));
            }
        }
        let (f, b) = (full.resolution(), brief.resolution());
        assert_eq!(
            (b.endpoints, b.used),
            (u64::from(chains) + 10, u64::from(chains) / 2 + 5)
        );
        assert_eq!(
            (f.endpoints, f.used, &f.chains),
            (b.endpoints, b.used, &b.chains)
        );
        let last = chains as usize + 8;
        assert_eq!(full.records()[last].used_by.len(), 2);
        assert_eq!(brief.records().len(), chains as usize, "the summary's only");
        assert_eq!(brief.entries[last].uses, 2, "counted, not listed");
        assert!(brief.entries[last].used_by.is_empty() && brief.entries[last].learned.is_none());
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
    fn an_endpoint_announced_many_times_costs_little_per_connection() {
        // 20,000 answers for one port, then 20,000 connections to it: every answer records the
        // first MAX_USED_BY connections, and the latest answer labels every connection (the
        // full entries are no longer visited)
        let mut r = Resolver::new();
        let n = 20_000;
        for i in 0..n {
            let mut l = learned("10.0.0.9", 49667, 100);
            l.frame = i;
            r.learn(l);
        }
        let server: SocketAddr = "10.0.0.9:49667".parse().unwrap();
        for c in 0..n {
            let client = SocketAddr::new(
                "10.1.0.1".parse().unwrap(),
                u16::try_from(c % 60_000).unwrap(),
            );
            let got = r.connection(
                client,
                server,
                Timestamp {
                    secs: 200,
                    nanos: 0,
                },
            );
            assert_eq!(got.map(|e| e.frame), Some(n - 1), "the latest answer");
        }
        // every answer counts its first MAX_USED_BY connections; the answers together list
        // MAX_LISTED_USERS_TOTAL of them (each connection is recorded in every answer before
        // the next one is, so each answer lists the same first ones)
        let n = usize::try_from(n).unwrap();
        assert!(r.entries.iter().all(|e| e.uses == MAX_USED_BY));
        let records = r.records();
        let per_answer = MAX_LISTED_USERS_TOTAL / n;
        assert!(records.iter().all(|e| e.used_by.len() == per_answer));
        assert_eq!(records[0].used_by[0], "10.1.0.1:0->10.0.0.9:49667");
        assert_eq!(
            records[n - 1].used_by[per_answer - 1],
            format!("10.1.0.1:{}->10.0.0.9:49667", per_answer - 1)
        );
        assert_eq!(
            r.users_not_listed(),
            u64::try_from(n * MAX_USED_BY - MAX_LISTED_USERS_TOTAL).unwrap()
        );
    }

    #[test]
    fn pipes_are_linked_per_server_and_answers_after_the_open_are_not() {
        let mut r = Resolver::new();
        let pipe = |host: &str, answered: &str, secs| {
            let mut l = learned("10.0.0.9", 1, secs);
            l.endpoint.protocol = "ncacn_np".into();
            l.endpoint.pipe = Some("\\PIPE\\lsass".into());
            l.endpoint.host = Some(host.into());
            l.answered_by = answered.parse().unwrap();
            l
        };
        r.learn(pipe("10.0.0.9", "10.0.0.9:135", 100));
        r.learn(pipe("10.0.0.7", "10.0.0.8:135", 100));
        r.learn(pipe("10.0.0.9", "10.0.0.9:135", 300));
        let client: SocketAddr = "10.0.0.1:5001".parse().unwrap();
        let at = |secs| Timestamp { secs, nanos: 0 };
        r.pipe_opened(
            client,
            "10.0.0.9:445".parse().unwrap(),
            "\\pipe\\LSASS",
            at(200),
        );
        r.pipe_opened(client, "10.0.0.7:445".parse().unwrap(), "lsass", at(200));
        let used: Vec<usize> = r.records().iter().map(|e| e.used_by.len()).collect();
        assert_eq!(used, [1, 1, 0]);
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
