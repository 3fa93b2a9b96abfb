//! Readable text: the call table of `rpcscope calls`, the PDU list of `rpcscope pdus` and the
//! report of `rpcscope summary`. Every string that may come from the wire goes through
//! [`super::sanitize`].

use std::io::{self, Write};

use super::sanitize;
use crate::dce::SyntaxId;
use crate::dce::body::Body;
use crate::dce::codes::{
    auth_level_name, auth_type_name, bind_nak_reason_name, context_result_name, fault_name,
    provider_reason_name,
};
use crate::dce::names;
use crate::epm::resolver::EndpointRecord;
use crate::model::{Auth, Call, PduRecord};
use crate::summary::Summary;

/// Characters of the outcome column: `ERROR` and the longest common status names fit.
const OUTCOME_WIDTH: usize = 36;

/// Header line of the call table (rows come from [`call_row`]).
pub const CALLS_HEADER: &str = "  FRAME  TIME (UTC)       CLIENT                 SERVER                 CALL  CTX  OPERATION                                 OUTCOME                               DURATION  AUTH";

fn duration_label(d: Option<u64>) -> String {
    match d {
        Some(us) if us >= 1_000_000 => format!("{:.3} s", us as f64 / 1e6),
        Some(us) => format!("{:.3} ms", us as f64 / 1e3),
        None => "-".to_string(),
    }
}

/// Writes a call's row of the table and the lines under it (activation, Netlogon, pipes,
/// parameters).
///
/// # Errors
/// Writing failed.
pub fn write_call(out: &mut impl Write, c: &Call) -> io::Result<()> {
    writeln!(out, "{}", call_row(c))?;
    activation_line(c)
        .iter()
        .chain(&netlogon_line(c))
        .chain(&pipe_lines(c))
        .chain(&parameter_lines(c))
        .try_for_each(|l| writeln!(out, "{l}"))
}

/// One table row.
#[must_use]
pub fn call_row(c: &Call) -> String {
    let frame = c.first_frame().unwrap_or(0);
    let start = c.start.rfc3339_micros();
    let time = start.get(11..26).unwrap_or(&start);
    let mut auth = c.auth.map_or_else(|| "-".to_string(), Auth::label);
    match (c.decryption, c.signature) {
        (Some("decrypted"), _) => auth.push_str(" decrypted"),
        (Some(other), _) => auth.push_str(&format!(" sealed ({})", other.replace('_', " "))),
        (None, Some(valid)) => auth.push_str(if valid {
            " signature valid"
        } else {
            " signature invalid"
        }),
        (None, None) => {}
    }
    let mut label = c.label();
    if label.chars().count() > 41 {
        label = label.chars().take(40).collect::<String>() + "…";
    }
    let mut outcome = c.outcome_label();
    if outcome.chars().count() > OUTCOME_WIDTH {
        outcome = outcome.chars().take(OUTCOME_WIDTH - 1).collect::<String>() + "…";
    }
    sanitize(&format!(
        "{frame:>7}  {time:<15}  {:<21}  {:<21}  {:>4}  {:>3}  {label:<41}  {outcome:<OUTCOME_WIDTH$}  {:>9}  {auth}",
        c.client,
        c.server,
        c.call_id,
        c.context_id
            .map_or_else(|| "-".to_string(), |v| v.to_string()),
        duration_label(c.duration_us)
    ))
}

/// Header line of the PDU list (rows come from [`pdu_row`]).
pub const PDUS_HEADER: &str = "  FRAME  TIME (UTC)       CLIENT                     SERVER                 PTYPE               CALL    LEN  FLAGS  DETAIL";

/// One row of the PDU list: frame, time, the client, an arrow in the PDU's direction, the
/// server, type, call_id, fragment length, flags (`F` first, `L` last, `O` object UUID) and
/// what it says ([`pdu_detail`]).
#[must_use]
pub fn pdu_row(p: &PduRecord) -> String {
    let start = p.ts.rfc3339_micros();
    let time = start.get(11..26).unwrap_or(&start);
    let arrow = if p.from_client { "->" } else { "<-" };
    let (first, last, object) = match &p.datagram {
        // a connectionless message's first fragment is number 0; one not fragmented is whole
        Some(d) => (
            d.fragnum == 0,
            d.flags1 & 0x02 != 0 || d.flags1 & 0x04 == 0,
            d.object.is_some(),
        ),
        None => (p.flags.first(), p.flags.last(), p.flags.object_uuid()),
    };
    let flags: String = [(first, 'F'), (last, 'L'), (object, 'O')]
        .iter()
        .map(|&(set, c)| if set { c } else { '.' })
        .collect();
    sanitize(&format!(
        "{:>7}  {time:<15}  {:<21}  {arrow}  {:<21}  {:<18}  {:>4}  {:>5}  {flags:<5}  {}",
        p.frame,
        p.client,
        p.server,
        p.ptype_name(),
        p.call_id,
        p.frag_len,
        pdu_detail(p)
    ))
}

/// What a PDU says, in a line: the contexts a bind offers and their results, a request's
/// context and opnum, a fault's status, the sec_trailer's auth type and level; for a
/// connectionless PDU its activity, fragment, interface and operation, status.
#[must_use]
pub fn pdu_detail(p: &PduRecord) -> String {
    if let Some(d) = &p.datagram {
        return datagram_detail(d, p.stub_len);
    }
    let syntax = |s: &SyntaxId| {
        let name = names::interface_name(s.uuid, s.major)
            .map_or_else(|| s.uuid.to_string(), str::to_string);
        format!("{name} v{}", s.version())
    };
    let auth = p
        .auth
        .map(|a| {
            format!(
                " [{}/{}]",
                auth_type_name(a.auth_type),
                auth_level_name(a.level)
            )
        })
        .unwrap_or_default();
    let text = match &p.body {
        Body::Bind(b) | Body::AlterContext(b) => {
            let ctx: Vec<String> = b
                .contexts
                .iter()
                .map(|c| {
                    let ts: Vec<&str> = c
                        .transfer_syntaxes
                        .iter()
                        .map(|t| t.transfer_kind().name())
                        .collect();
                    format!(
                        "ctx {} {} ({})",
                        c.context_id,
                        syntax(&c.abstract_syntax),
                        ts.join(", ")
                    )
                })
                .collect();
            ctx.join("; ")
        }
        Body::BindAck(a) | Body::AlterContextResp(a) => {
            let res: Vec<String> = a
                .results
                .iter()
                .map(|r| match r.result {
                    0 => format!("accepted {}", r.transfer_syntax.transfer_kind().name()),
                    3 => format!("negotiate_ack (features {:#x})", r.reason),
                    n => format!(
                        "{} ({})",
                        context_result_name(n),
                        provider_reason_name(r.reason)
                    ),
                })
                .collect();
            let addr = String::from_utf8_lossy(&a.sec_addr);
            if addr.is_empty() {
                res.join("; ")
            } else {
                format!("{}; sec_addr {addr}", res.join("; "))
            }
        }
        Body::BindNak(n) => bind_nak_reason_name(n.reason),
        Body::Request(r) => {
            let object = r.object.map(|o| format!(" object {o}")).unwrap_or_default();
            format!(
                "ctx {} opnum {}{object}, stub {} B",
                r.context_id, r.opnum, p.stub_len
            )
        }
        Body::Response(r) => format!("ctx {}, stub {} B", r.context_id, p.stub_len),
        Body::Fault(f) => format!(
            "ctx {} {}",
            f.context_id,
            fault_name(f.status).map_or_else(|| format!("{:#010x}", f.status), str::to_string)
        ),
        Body::Other => String::new(),
    };
    format!("{text}{auth}").trim().to_string()
}

/// What a connectionless PDU's header says, in a line.
fn datagram_detail(d: &crate::model::DatagramFields, stub_len: u32) -> String {
    let mut text = format!("activity {} fragment {}", d.activity, d.fragnum);
    if let Some(i) = &d.interface {
        let name = names::interface_name(i.uuid, i.major)
            .map_or_else(|| i.uuid.to_string(), str::to_string);
        text.push_str(&format!(" {name} v{} opnum {}", i.version(), d.opnum));
    }
    if let Some(o) = d.object {
        text.push_str(&format!(" object {o}"));
    }
    if stub_len > 0 {
        text.push_str(&format!(", stub {stub_len} B"));
    }
    if let Some(status) = d.status {
        text.push_str(&format!(
            " {}",
            fault_name(status).map_or_else(|| format!("{status:#010x}"), str::to_string)
        ));
    }
    if d.cancel_pending() {
        text.push_str(", cancel pending");
    }
    text
}

/// The indented line under a DCOM activation call's row naming the class it activates.
#[must_use]
pub fn activation_line(c: &Call) -> Option<String> {
    let o = c.oxid.as_ref()?;
    let clsid = o.clsid.as_ref()?;
    Some(sanitize(&format!(
        "         activates {} {{{clsid}}}",
        o.class_name.as_deref().unwrap_or("class")
    )))
}

/// The indented line under a Netlogon secure-channel call's row: computer, account, cipher,
/// credential check, and the Zerologon pattern.
#[must_use]
pub fn netlogon_line(c: &Call) -> Option<String> {
    let v = c.netlogon.as_ref()?;
    Some(sanitize(&format!("         netlogon: {}", v.summary())))
}

/// Indented lines under a call's row, one per NDR pipe parameter.
#[must_use]
pub fn pipe_lines(c: &Call) -> Vec<String> {
    c.pipes
        .iter()
        .flatten()
        .map(|p| {
            let name = p.param.clone().unwrap_or_else(|| "(guessed)".into());
            let elem = p.element_type.clone().unwrap_or_else(|| "?".into());
            let end = if p.terminated {
                "terminated"
            } else {
                "not terminated"
            };
            let mut line = format!(
                "         pipe [{}] {name} of {elem}: {} chunk(s), {} element(s), {} bytes, {end}",
                p.direction, p.chunks_total, p.elements, p.bytes
            );
            if let Some(part) = &p.partial_chunk {
                line.push_str(&format!(
                    "; then a chunk of {} cut after {} element(s)",
                    part.count, part.elements
                ));
            }
            if !p.anomalies.is_empty() {
                line.push_str(&format!(" ({})", p.anomalies.join(", ")));
            }
            sanitize(&line)
        })
        .collect()
}

/// The decoded parameters as a tree, under the key-parameter line (the terminal interface's
/// detail pane).
#[must_use]
pub fn parameter_tree(c: &Call) -> Vec<String> {
    let Some(d) = &c.decoded else {
        return Vec::new();
    };
    let key = d.key_parameters();
    (!key.is_empty())
        .then(|| format!("key {key}"))
        .into_iter()
        .chain(d.tree())
        .map(|l| sanitize(&l))
        .collect()
}

/// Indented lines under a call's row (`--decode`): its key parameters
/// ([`crate::idl::values::Decoded::key_parameters`]), one line per decoded parameter, then its
/// decoding errors.
#[must_use]
pub fn parameter_lines(c: &Call) -> Vec<String> {
    let Some(d) = &c.decoded else {
        return Vec::new();
    };
    let key = d.key_parameters();
    let key = (!key.is_empty()).then(|| sanitize(&format!("         key {key}")));
    let params = d.request.iter().map(|p| ("in ", p));
    let params = params.chain(d.response.iter().map(|p| ("out", p)));
    key.into_iter()
        .chain(
            params.map(|(dir, (name, v))| {
                sanitize(&format!("         {dir} {name} = {}", v.render()))
            }),
        )
        .chain(
            d.errors
                .iter()
                .map(|e| sanitize(&format!("         not decoded: {e}"))),
        )
        .collect()
}

/// Writes the table of endpoints learned from endpoint-mapper and OXID answers.
///
/// # Errors
/// Write errors.
pub fn write_endpoints<W: Write>(out: &mut W, endpoints: &[EndpointRecord]) -> io::Result<()> {
    writeln!(
        out,
        "  FRAME  VIA         INTERFACE                                     BINDING                                   ASKED BY               USED BY"
    )?;
    for e in endpoints {
        let iface = e.interface_label().unwrap_or_else(|| "-".into());
        let used = if e.used_by.is_empty() {
            "(not used)".to_string()
        } else {
            e.used_by.join(", ")
        };
        writeln!(
            out,
            "{}",
            sanitize(&format!(
                "{:>7}  {:<10}  {iface:<44}  {:<40}  {:<21}  {used}",
                e.frame, e.via, e.binding, e.asked_by
            ))
        )?;
    }
    Ok(())
}

/// Writes the summary report.
///
/// # Errors
/// Write errors.
pub fn write_summary<W: Write>(out: &mut W, s: &Summary) -> io::Result<()> {
    let f = &s.frames;
    writeln!(out, "Capture")?;
    writeln!(
        out,
        "  frames {}  ({} bytes), first {}, last {}",
        f.total,
        f.bytes,
        f.first.as_deref().unwrap_or("-"),
        f.last.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  TCP segments {}, other frames {}, cut by snap length {}, undecodable {}, IPv4 fragments {} ({} reassembled, {} dropped)",
        f.tcp_segments,
        f.not_tcp,
        f.cut_by_snaplen,
        f.undecodable,
        f.ipv4_fragments,
        f.ipv4_reassembled,
        f.ipv4_reassembly_dropped
    )?;
    if let Some(v6) = &f.ipv6 {
        writeln!(
            out,
            "  IPv6 fragments {} ({} reassembled, {} dropped)",
            v6.ipv6_fragments, v6.ipv6_reassembled, v6.ipv6_reassembly_dropped
        )?;
    }
    let t = &s.tcp;
    writeln!(out, "TCP")?;
    writeln!(
        out,
        "  connections {} ({} DCE/RPC over TCP, {} SMB), port reuses {}, evicted {}",
        t.connections, t.dcerpc_connections, t.smb_connections, t.port_reuses, t.evicted
    )?;
    writeln!(
        out,
        "  out-of-order segments {}, duplicate bytes {}, gaps {} ({} bytes, {} forced by limits)",
        t.out_of_order_segments, t.duplicate_bytes, t.gaps, t.gap_bytes, t.forced_gaps
    )?;
    writeln!(out, "DCE/RPC")?;
    writeln!(out, "  associations {}", s.associations)?;
    let pdus: Vec<String> = s.pdus.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(
        out,
        "  PDUs: {}",
        if pdus.is_empty() {
            "none".into()
        } else {
            pdus.join(", ")
        }
    )?;
    if let Some(cl) = &s.connectionless {
        let pdus: Vec<String> = cl.pdus.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            out,
            "  connectionless (UDP): {} calls ({} without request), {} repeats, {} control PDUs \
             of no call; PDUs: {}",
            cl.calls,
            cl.calls_without_request,
            cl.retransmissions,
            cl.control_pdus_without_call,
            pdus.join(", ")
        )?;
    }
    let outcomes: Vec<String> = s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if outcomes.is_empty() {
        writeln!(out, "  calls 0")?;
    } else {
        writeln!(out, "  calls {}: {}", s.calls, outcomes.join(", "))?;
    }
    let auth: Vec<String> = s.auth.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if !auth.is_empty() {
        writeln!(out, "  authentication: {}", auth.join(", "))?;
    }
    let d = &s.decryption;
    if d.keys_loaded > 0 || !d.calls.is_empty() {
        let calls: Vec<String> = d.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let sigs: Vec<String> = d
            .signatures
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            out,
            "  decryption: {} secrets loaded; sealed calls: {}{}",
            d.keys_loaded,
            if calls.is_empty() {
                "none".to_string()
            } else {
                calls.join(", ")
            },
            if sigs.is_empty() {
                String::new()
            } else {
                format!("; signatures: {}", sigs.join(", "))
            }
        )?;
        for (why, n) in &d.reasons {
            writeln!(out, "    {n} × {}", sanitize(why))?;
        }
    }
    let n = &s.netlogon;
    if !n.channels.is_empty() || !n.zerologon.is_empty() {
        let list = |m: &std::collections::BTreeMap<String, u64>| {
            let v: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(
            out,
            "  netlogon: secure channels set up {} (credential {}); Zerologon pattern: {}",
            n.channels.values().sum::<u64>(),
            list(&n.channels),
            list(&n.zerologon)
        )?;
    }
    if !s.rejections.is_empty() {
        let r: Vec<String> = s
            .rejections
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(out, "  refused: {}", r.join(", "))?;
    }
    if !s.interfaces.is_empty() {
        writeln!(out, "Calls per interface and operation")?;
        writeln!(
            out,
            "  {:<52} {:>7} {:>7} {:>7} {:>10} {:>12} {:>12}",
            "INTERFACE / OPERATION", "CALLS", "FAULTS", "ERRORS", "UNANSWERED", "MEAN", "MAX"
        )?;
        for i in &s.interfaces {
            let name = match (&i.name, &i.uuid) {
                (Some(n), Some(u)) => format!("{n} ({u} v{})", i.version.as_deref().unwrap_or("?")),
                (None, Some(u)) => format!("{u} v{}", i.version.as_deref().unwrap_or("?")),
                _ => "(interface unknown: bind not captured)".to_string(),
            };
            writeln!(
                out,
                "  {:<52} {:>7} {:>7} {:>7}",
                sanitize(&name),
                i.calls,
                i.faults,
                i.errors
            )?;
            for o in &i.operations {
                let label = match (&o.name, o.opnum) {
                    (Some(n), Some(op)) => format!("{n} ({op})"),
                    (None, Some(op)) => format!("opnum {op}"),
                    _ => "(opnum unknown)".to_string(),
                };
                writeln!(
                    out,
                    "    {:<50} {:>7} {:>7} {:>7} {:>10} {:>12} {:>12}",
                    sanitize(&label),
                    o.calls,
                    o.faults,
                    o.errors,
                    o.unanswered,
                    duration_label(o.mean_us),
                    duration_label(o.max_us)
                )?;
                for st in &o.statuses {
                    let name = st.name.clone().unwrap_or_else(|| st.code.clone());
                    writeln!(
                        out,
                        "      {:<48} {:>7}  {} {}",
                        sanitize(&format!("returned {name}")),
                        st.count,
                        st.severity,
                        st.code
                    )?;
                }
            }
        }
    }
    let r = &s.resolution;
    if r.endpoints > 0 {
        writeln!(out, "Endpoint resolution")?;
        let via: Vec<String> = r.by_via.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            out,
            "  endpoints learned {} ({}), used by a later connection {}, never used {}",
            r.endpoints,
            via.join(", "),
            r.used,
            r.endpoints - r.used
        )?;
        for chain in &r.chains {
            writeln!(out, "  {}", sanitize(chain))?;
        }
        if r.chains_not_shown > 0 {
            writeln!(
                out,
                "  ... {} more (rpcscope endpoints lists them all)",
                r.chains_not_shown
            )?;
        }
    }
    if !s.faults.is_empty() {
        writeln!(out, "Faults")?;
        for fc in &s.faults {
            writeln!(
                out,
                "  {} {:<40} {}",
                fc.status,
                fc.name.as_deref().unwrap_or("?"),
                fc.count
            )?;
        }
    }
    if !s.counters.is_empty() {
        writeln!(out, "Counters")?;
        for (k, v) in &s.counters {
            writeln!(out, "  {k:<44} {v}")?;
        }
    }
    writeln!(out, "Anomalies")?;
    if s.anomalies.is_empty() {
        writeln!(out, "  none")?;
    }
    for (k, a) in &s.anomalies {
        writeln!(out, "  {k}: {}", a.count)?;
        for e in &a.examples {
            if e.frame > 0 {
                writeln!(out, "    frame {}: {}", e.frame, sanitize(&e.detail))?;
            } else {
                writeln!(out, "    {}", sanitize(&e.detail))?;
            }
        }
    }
    Ok(())
}
