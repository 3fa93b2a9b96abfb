//! The run summary: frame and connection totals, PDU counts, calls per interface and operation
//! with response times, faults, authentication levels and anomalies. Built once at the end of a
//! run from the engine's counters and the call records.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dce::SyntaxId;
use crate::hash::FastMap;
use crate::status::{Severity, Status, StatusKind};

use crate::dcerpc::connectionless::ConnectionlessSection;
use crate::epm::resolver::ResolutionSection;
use crate::ip_defrag::DefragStats;
use crate::model::{Auth, Call, Outcome};
use crate::report::{AnomalyEntry, Tally};
use crate::source::Timestamp;
use crate::tcp::flow_table::FlowStats;
use crate::tcp::reassembler::ReassemblyStats;

/// Frame-level totals collected by the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureTotals {
    /// Frames read.
    pub frames: u64,
    /// Captured bytes.
    pub bytes: u64,
    /// Frames shorter than on the wire.
    pub cut_by_snaplen: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// Frames that are not TCP (ARP, UDP, ...).
    pub not_tcp: u64,
    /// Frames that could not be decoded.
    pub undecodable: u64,
    /// Connections carrying DCE/RPC.
    pub dcerpc_connections: u64,
    /// SMB connections (ports 445 and 139).
    pub smb_connections: u64,
    /// DCE/RPC associations over SMB named pipes.
    pub pipe_associations: u64,
    /// Time of the first frame.
    pub first_ts: Option<Timestamp>,
    /// Time of the last frame.
    pub last_ts: Option<Timestamp>,
}

/// What became of a capture's IPv6 fragments (packets with a Fragment header that fragments
/// their payload).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Ipv6Fragments {
    /// Fragments.
    pub ipv6_fragments: u64,
    /// Datagrams reassembled.
    pub ipv6_reassembled: u64,
    /// Datagrams dropped by the reassembly limits.
    pub ipv6_reassembly_dropped: u64,
}

/// Frame totals as reported.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FrameSection {
    /// Frames read.
    pub total: u64,
    /// Captured bytes.
    pub bytes: u64,
    /// TCP segments.
    pub tcp_segments: u64,
    /// Frames not carrying TCP.
    pub not_tcp: u64,
    /// Frames cut by the snap length.
    pub cut_by_snaplen: u64,
    /// Frames that could not be decoded.
    pub undecodable: u64,
    /// IPv4 fragments (and datagrams reassembled / dropped).
    pub ipv4_fragments: u64,
    /// IPv4 datagrams reassembled.
    pub ipv4_reassembled: u64,
    /// IPv4 datagrams dropped by the reassembly limits.
    pub ipv4_reassembly_dropped: u64,
    /// IPv6 fragments, only when the capture has some.
    #[serde(flatten)]
    pub ipv6: Option<Ipv6Fragments>,
    /// First frame time (RFC 3339).
    pub first: Option<String>,
    /// Last frame time.
    pub last: Option<String>,
}

/// TCP totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TcpSection {
    /// Connections seen.
    pub connections: u64,
    /// Connections carrying DCE/RPC.
    pub dcerpc_connections: u64,
    /// SMB connections.
    pub smb_connections: u64,
    /// Connections closed by a new SYN on the same ports.
    pub port_reuses: u64,
    /// Connections evicted by the table limit.
    pub evicted: u64,
    /// Out-of-order segments.
    pub out_of_order_segments: u64,
    /// Bytes seen more than once.
    pub duplicate_bytes: u64,
    /// Gaps (bytes never captured).
    pub gaps: u64,
    /// Bytes in gaps.
    pub gap_bytes: u64,
    /// Gaps forced by the out-of-order buffer limit.
    pub forced_gaps: u64,
}

/// Statistics of one operation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OperationStats {
    /// Operation number.
    pub opnum: Option<u16>,
    /// Operation name.
    pub name: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Calls that ended in a fault.
    pub faults: u64,
    /// Calls without a complete answer.
    pub unanswered: u64,
    /// Answered calls whose return code says failure.
    pub errors: u64,
    /// Return codes other than plain success (failures and warnings), most frequent first.
    pub statuses: Vec<StatusCount>,
    /// Mean duration of answered calls (µs).
    pub mean_us: Option<u64>,
    /// Longest duration (µs).
    pub max_us: Option<u64>,
}

/// How often one operation returned one code.
#[derive(Clone, Debug, Serialize)]
pub struct StatusCount {
    /// The code, `0x` and eight hex digits.
    pub code: String,
    /// `ntstatus`, `win32`, `hresult` or `error_status_t`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its name, when known.
    pub name: Option<String>,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// Calls.
    pub count: u64,
}

/// Statistics of one interface.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InterfaceStats {
    /// UUID (null for calls whose interface is unknown).
    pub uuid: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Faults.
    pub faults: u64,
    /// Answered calls whose return code says failure.
    pub errors: u64,
    /// Per operation, by opnum.
    pub operations: Vec<OperationStats>,
}

/// One fault status.
#[derive(Clone, Debug, Serialize)]
pub struct FaultCount {
    /// Status.
    pub status: String,
    /// Name.
    pub name: Option<String>,
    /// Occurrences.
    pub count: u64,
}

/// Distinct reasons counted in [`DecryptionSection::reasons`]; further ones are counted under
/// `other`.
pub const MAX_SUMMARY_DECRYPTION_REASONS: usize = 64;

/// Unsealing in brief.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DecryptionSection {
    /// Secrets loaded from `--keys`, `--keytab` and `RPCSCOPE_KEYS` (never the secrets).
    pub keys_loaded: u64,
    /// Sealed calls by `decryption` (`decrypted`, `no_key`, `failed`).
    pub calls: BTreeMap<String, u64>,
    /// Sealed calls not decrypted, by reason.
    pub reasons: BTreeMap<String, u64>,
    /// Calls whose signatures were checked, by result (`valid`, `invalid`).
    pub signatures: BTreeMap<String, u64>,
}

/// Netlogon secure channels in brief.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetlogonSection {
    /// Secure channels set up (successful NetrServerAuthenticate calls), by the check of the
    /// client credential (`valid`, `invalid`, `unchecked`; `unknown` without keys).
    pub channels: BTreeMap<String, u64>,
    /// Calls carrying Zerologon's all-zero challenge, credential or authenticator
    /// (CVE-2020-1472), by `attempt` and `accepted` (answered with success).
    pub zerologon: BTreeMap<String, u64>,
}

/// The whole summary (`"type": "summary"` in JSON), made by [`SummaryBuilder::finish`].
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Frame totals.
    pub frames: FrameSection,
    /// TCP totals.
    pub tcp: TcpSection,
    /// DCE/RPC PDUs by type.
    pub pdus: BTreeMap<String, u64>,
    /// Calls in total.
    pub calls: u64,
    /// Calls by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Calls per interface and operation.
    pub interfaces: Vec<InterfaceStats>,
    /// Faults by status.
    pub faults: Vec<FaultCount>,
    /// Calls by `auth_type/auth_level` (`none` when the request had no verifier).
    pub auth: BTreeMap<String, u64>,
    /// Unsealing: secrets loaded, sealed calls by outcome and why, signatures checked.
    pub decryption: DecryptionSection,
    /// Netlogon secure channels set up, and Zerologon's pattern.
    pub netlogon: NetlogonSection,
    /// Associations: one per DCE/RPC connection over TCP, one per named pipe over SMB.
    pub associations: u64,
    /// Connectionless DCE/RPC (over UDP), when the capture has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connectionless: Option<ConnectionlessSection>,
    /// Refused presentation contexts (`provider_rejection/abstract_syntax_not_supported`, ...)
    /// and bind_naks (`bind_nak/authentication_type_not_recognized`, ...).
    pub rejections: BTreeMap<String, u64>,
    /// Other named counters (contexts accepted/rejected, binds naked, bytes skipped, ...).
    pub counters: BTreeMap<String, u64>,
    /// Endpoints learned from endpoint-mapper and OXID answers and their use.
    pub resolution: ResolutionSection,
    /// Anomalies by kind, with example frames.
    pub anomalies: BTreeMap<String, AnomalyEntry>,
}

/// Interfaces (UUID and version) tallied separately in the summary; calls to further
/// interfaces are counted together under a null UUID and the `limit_summary_interfaces` anomaly.
pub const MAX_SUMMARY_INTERFACES: usize = 4096;

#[derive(Debug, Default)]
struct OpAcc {
    name: Option<String>,
    calls: u64,
    faults: u64,
    unanswered: u64,
    errors: u64,
    statuses: BTreeMap<(u32, StatusKind), u64>,
    total_us: u64,
    answered: u64,
    max_us: Option<u64>,
}

#[derive(Debug, Default)]
struct IfAcc {
    name: Option<String>,
    calls: u64,
    faults: u64,
    errors: u64,
    ops: BTreeMap<Option<u16>, OpAcc>,
}

/// Calls by `auth_type/auth_level` as the summary names them (`none`: no verifier).
fn auth_labels(counts: FastMap<Option<(u8, u8)>, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, n) in counts {
        let label = key.map_or_else(
            || "none".to_string(),
            |(auth_type, level)| Auth { auth_type, level }.label(),
        );
        *out.entry(label).or_default() += n;
    }
    out
}

/// Sets `slot` to `name` (the latest call's name wins) without allocating when it is the same.
fn keep_latest(slot: &mut Option<String>, name: Option<&str>) {
    if slot.as_deref() != name {
        *slot = name.map(str::to_string);
    }
}

fn status_counts(counts: BTreeMap<(u32, StatusKind), u64>) -> Vec<StatusCount> {
    let mut out: Vec<StatusCount> = counts
        .into_iter()
        .map(|((code, kind), count)| {
            let st = Status { code, kind };
            StatusCount {
                code: format!("0x{code:08x}"),
                kind: kind.name(),
                name: st.name().map(std::borrow::Cow::into_owned),
                severity: if st.severity() == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                count,
            }
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    out
}

/// Accumulates call statistics as calls are released, so the summary needs no list of calls.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    calls: u64,
    outcomes: BTreeMap<String, u64>,
    /// By interface and version (`None`: no interface, or one beyond
    /// [`MAX_SUMMARY_INTERFACES`]); written as text, in order, when the summary is built.
    ifaces: FastMap<Option<SyntaxId>, IfAcc>,
    faults: BTreeMap<u32, (Option<String>, u64)>,
    /// By the request's auth type and level (`None`: no verifier); named when the summary is
    /// built.
    auth: FastMap<Option<(u8, u8)>, u64>,
    decryption: DecryptionSection,
    netlogon: NetlogonSection,
    interfaces_over_limit: u64,
}

impl SummaryBuilder {
    /// Records how many secrets the run was given.
    pub fn keys_loaded(&mut self, n: usize) {
        self.decryption.keys_loaded = n as u64;
    }

    /// Counts one call.
    pub fn add(&mut self, c: &Call) {
        self.calls += 1;
        match self.outcomes.get_mut(c.outcome.name()) {
            Some(n) => *n += 1,
            None => {
                self.outcomes.insert(c.outcome.name().to_string(), 1);
            }
        }
        let mut key = c.interface.as_ref().map(|i| i.syntax);
        if !self.ifaces.contains_key(&key) && self.ifaces.len() >= MAX_SUMMARY_INTERFACES {
            self.interfaces_over_limit += 1;
            key = None;
        }
        let acc = self.ifaces.entry(key).or_default();
        keep_latest(
            &mut acc.name,
            c.interface.as_ref().and_then(|i| i.name.as_deref()),
        );
        acc.calls += 1;
        let op = acc.ops.entry(c.opnum).or_default();
        keep_latest(&mut op.name, c.operation.as_deref());
        op.calls += 1;
        match c.outcome {
            Outcome::Fault => {
                acc.faults += 1;
                op.faults += 1;
            }
            Outcome::Response => {}
            _ => op.unanswered += 1,
        }
        if let Some(st) = c.status
            && st.severity() != Severity::Success
        {
            if st.severity() == Severity::Error {
                acc.errors += 1;
                op.errors += 1;
            }
            *op.statuses.entry((st.code, st.kind)).or_default() += 1;
        }
        if let (Some(d), true) = (c.duration_us, c.outcome.answered()) {
            op.answered += 1;
            op.total_us += d;
            op.max_us = Some(op.max_us.map_or(d, |m| m.max(d)));
        }
        if let Some(s) = c.fault_status {
            let e = self
                .faults
                .entry(s)
                .or_insert_with(|| (c.fault_name().map(Into::into), 0));
            e.1 += 1;
        }
        *self
            .auth
            .entry(c.auth.map(|a| (a.auth_type, a.level)))
            .or_default() += 1;
        let d = &mut self.decryption;
        if let Some(name) = c.decryption {
            *d.calls.entry(name.to_string()).or_default() += 1;
        }
        if let Some(why) = &c.decryption_reason {
            let key = if d.reasons.contains_key(why)
                || d.reasons.len() < MAX_SUMMARY_DECRYPTION_REASONS
            {
                why.clone()
            } else {
                "other".to_string()
            };
            *d.reasons.entry(key).or_default() += 1;
        }
        if let Some(valid) = c.signature {
            let sig = if valid { "valid" } else { "invalid" };
            *d.signatures.entry(sig.to_string()).or_default() += 1;
        }
        if let Some(v) = &c.netlogon {
            if let Some(z) = v.zerologon {
                *self.netlogon.zerologon.entry(z.to_string()).or_default() += 1;
            }
            if v.cipher.is_some() {
                let check = v.credential.unwrap_or("unknown");
                *self.netlogon.channels.entry(check.to_string()).or_default() += 1;
            }
        }
    }

    /// Builds the summary from the engine's totals and the calls counted so far.
    #[must_use]
    pub fn finish(
        self,
        totals: &CaptureTotals,
        flows: FlowStats,
        reassembly: ReassemblyStats,
        defrag: DefragStats,
        mut tally: Tally,
        resolution: ResolutionSection,
    ) -> Summary {
        if self.interfaces_over_limit > 0 {
            let n = self.interfaces_over_limit;
            tally.anomaly("limit_summary_interfaces", 0, || {
                format!("{n} calls to interfaces beyond the first {MAX_SUMMARY_INTERFACES} are counted together")
            });
        }
        let Self {
            calls,
            outcomes,
            ifaces,
            faults,
            auth,
            decryption,
            netlogon,
            ..
        } = self;
        // in the order of their UUIDs and versions as text (no interface first)
        let ifaces: BTreeMap<_, _> = ifaces
            .into_iter()
            .map(|(s, acc)| ((s.map(|s| s.uuid.to_string()), s.map(|s| s.version())), acc))
            .collect();
        let interfaces = ifaces
            .into_iter()
            .map(|((uuid, version), acc)| InterfaceStats {
                uuid,
                version,
                name: acc.name,
                calls: acc.calls,
                faults: acc.faults,
                errors: acc.errors,
                operations: acc
                    .ops
                    .into_iter()
                    .map(|(opnum, o)| OperationStats {
                        opnum,
                        name: o.name,
                        calls: o.calls,
                        faults: o.faults,
                        unanswered: o.unanswered,
                        errors: o.errors,
                        statuses: status_counts(o.statuses),
                        mean_us: (o.answered > 0).then(|| o.total_us / o.answered),
                        max_us: o.max_us,
                    })
                    .collect(),
            })
            .collect();
        Summary {
            kind: "summary",
            frames: FrameSection {
                total: totals.frames,
                bytes: totals.bytes,
                tcp_segments: totals.tcp_segments,
                not_tcp: totals.not_tcp,
                cut_by_snaplen: totals.cut_by_snaplen,
                undecodable: totals.undecodable,
                ipv4_fragments: defrag.ipv4.fragments,
                ipv4_reassembled: defrag.ipv4.reassembled,
                ipv4_reassembly_dropped: defrag.ipv4.dropped,
                ipv6: (defrag.ipv6.fragments > 0).then_some(Ipv6Fragments {
                    ipv6_fragments: defrag.ipv6.fragments,
                    ipv6_reassembled: defrag.ipv6.reassembled,
                    ipv6_reassembly_dropped: defrag.ipv6.dropped,
                }),
                first: totals.first_ts.map(Timestamp::rfc3339_micros),
                last: totals.last_ts.map(Timestamp::rfc3339_micros),
            },
            tcp: TcpSection {
                connections: flows.connections,
                dcerpc_connections: totals.dcerpc_connections,
                smb_connections: totals.smb_connections,
                port_reuses: flows.port_reuses,
                evicted: flows.evicted,
                out_of_order_segments: reassembly.out_of_order_segments,
                duplicate_bytes: reassembly.duplicate_bytes,
                gaps: reassembly.gaps,
                gap_bytes: reassembly.gap_bytes,
                forced_gaps: reassembly.forced_gaps,
            },
            pdus: tally.pdus,
            calls,
            outcomes,
            interfaces,
            faults: faults
                .into_iter()
                .map(|(s, (name, count))| FaultCount {
                    status: format!("0x{s:08x}"),
                    name,
                    count,
                })
                .collect(),
            auth: auth_labels(auth),
            decryption,
            netlogon,
            associations: totals.dcerpc_connections + totals.pipe_associations,
            connectionless: None,
            rejections: std::mem::take(&mut tally.rejections),
            counters: tally
                .counters
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            resolution,
            anomalies: tally
                .anomalies
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}
