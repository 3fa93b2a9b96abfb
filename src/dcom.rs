//! DCOM endpoint answers (MS-DCOM §3.1.2.5): the string bindings of `DUALSTRINGARRAY`s returned
//! by IObjectExporter ResolveOxid / ResolveOxid2 / ServerAlive2, IRemoteSCMActivator
//! RemoteCreateInstance / RemoteGetClassObject and IActivation RemoteActivation. The activation
//! answers nest the array deep inside marshalled activation properties, so string bindings are
//! found by their shape (a tower id followed by a NUL-terminated UTF-16 network address), which
//! also covers the exporter's answers; only addresses with a port become endpoints.

use serde::Serialize;

use crate::dcerpc::Uuid;
use crate::dcerpc::codes::fault_name;
use crate::epm::tower::Endpoint;

/// IObjectExporter (the OXID resolver).
pub const IOBJECT_EXPORTER: Uuid = Uuid([
    0x99, 0xfc, 0xfe, 0xc4, 0x52, 0x60, 0x10, 0x1b, 0xbb, 0xcb, 0x00, 0xaa, 0x00, 0x21, 0x34, 0x7a,
]);
/// IRemoteSCMActivator (ISystemActivator).
pub const IREMOTE_SCM_ACTIVATOR: Uuid = Uuid([
    0x00, 0x00, 0x01, 0xa0, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
]);
/// IActivation.
pub const IACTIVATION: Uuid = Uuid([
    0x4d, 0x9f, 0x4a, 0xb8, 0x7d, 0x1c, 0x11, 0xcf, 0x86, 0x1e, 0x00, 0x20, 0xaf, 0x6e, 0x7c, 0x57,
]);

/// Longest network address accepted in a string binding (UTF-16 units).
const MAX_ADDRESS_UNITS: usize = 256;

/// True for the operations whose answers carry DCOM string bindings.
#[must_use]
pub fn carries_bindings(interface: Uuid, opnum: u16) -> bool {
    match interface {
        i if i == IOBJECT_EXPORTER => matches!(opnum, 0 | 4 | 5),
        i if i == IREMOTE_SCM_ACTIVATOR => matches!(opnum, 3 | 4),
        i if i == IACTIVATION => opnum == 0,
        _ => false,
    }
}

/// A decoded DCOM answer (`"oxid"` on a call record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OxidView {
    /// String bindings found, e.g. `ncacn_ip_tcp:10.0.0.5[49703]`.
    pub bindings: Vec<String>,
    /// The answer's status (its last 32-bit word).
    pub status: Option<u32>,
    /// Its name.
    pub status_name: Option<String>,
}

fn protocol(tower_id: u16) -> Option<&'static str> {
    Some(match tower_id {
        0x07 => "ncacn_ip_tcp",
        0x08 => "ncadg_ip_udp",
        0x0f => "ncacn_np",
        0x1f => "ncacn_http",
        _ => return None,
    })
}

fn address_char(u: u16) -> bool {
    u8::try_from(u).is_ok_and(|c| c.is_ascii_alphanumeric() || b"._-:[]\\%".contains(&c))
}

/// Finds the string bindings in an answer stub and the endpoints among them.
#[must_use]
pub fn decode_response(stub: &[u8], little_endian: bool) -> (OxidView, Vec<Endpoint>) {
    let units: Vec<u16> = stub
        .chunks_exact(2)
        .map(|c| {
            if little_endian {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect();
    let mut view = OxidView::default();
    let mut endpoints = Vec::new();
    let mut i = 0;
    while i + 2 < units.len() {
        let Some(proto) = protocol(units[i]) else {
            i += 1;
            continue;
        };
        let addr: Vec<u16> = units[i + 1..]
            .iter()
            .take(MAX_ADDRESS_UNITS + 1)
            .take_while(|&&u| u != 0)
            .copied()
            .collect();
        let terminated = units.get(i + 1 + addr.len()) == Some(&0);
        if addr.len() < 2
            || addr.len() > MAX_ADDRESS_UNITS
            || !terminated
            || !addr.iter().all(|&u| address_char(u))
        {
            i += 1;
            continue;
        }
        let text = String::from_utf16_lossy(&addr);
        let (host, port) = match text.split_once('[') {
            Some((h, rest)) => (
                h.to_string(),
                rest.strip_suffix(']').and_then(|p| p.parse::<u16>().ok()),
            ),
            None => (text.clone(), None),
        };
        let binding = format!("{proto}:{text}");
        if !view.bindings.contains(&binding) {
            view.bindings.push(binding.clone());
            if port.is_some() && !host.is_empty() {
                endpoints.push(Endpoint {
                    interface: None,
                    protocol: proto.to_string(),
                    host: Some(host),
                    port,
                    pipe: None,
                    binding: format!("{proto}:{text}"),
                });
            }
        }
        i += 1 + addr.len() + 1;
    }
    if let Some(last) = stub.len().checked_sub(4).and_then(|at| stub.get(at..)) {
        let word = [last[0], last[1], last[2], last[3]];
        let status = if little_endian {
            u32::from_le_bytes(word)
        } else {
            u32::from_be_bytes(word)
        };
        view.status = Some(status);
        view.status_name = Some(match status {
            0 => "s_ok".to_string(),
            s => fault_name(s).map_or_else(|| format!("0x{s:08x}"), str::to_string),
        });
    }
    (view, endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn finds_string_bindings_of_a_dualstringarray() {
        // ResolveOxid2-like answer: pointer, max count, wNumEntries, wSecurityOffset, bindings,
        // security bindings, then IPID, authn hint, version and status.
        let mut s = vec![0, 0, 2, 0];
        s.extend(40u32.to_le_bytes());
        s.extend([30, 0, 20, 0]);
        s.extend(7u16.to_le_bytes());
        s.extend(utf16("10.0.0.5[49703]\0"));
        s.extend(7u16.to_le_bytes());
        s.extend(utf16("WKS1\0"));
        s.extend([0, 0]);
        s.extend(10u16.to_le_bytes());
        s.extend(0xffffu16.to_le_bytes());
        s.extend(utf16("\0\0"));
        s.extend([0u8; 16]);
        s.extend(0u32.to_le_bytes());
        let (view, eps) = decode_response(&s, true);
        assert_eq!(
            view.bindings,
            ["ncacn_ip_tcp:10.0.0.5[49703]", "ncacn_ip_tcp:WKS1"]
        );
        assert_eq!(eps.len(), 1);
        assert_eq!(
            (eps[0].host.as_deref(), eps[0].port),
            (Some("10.0.0.5"), Some(49703))
        );
        assert_eq!(view.status, Some(0));
    }

    #[test]
    fn ignores_noise() {
        let (view, eps) = decode_response(&[7, 0, 0xff, 0xff, 0, 0, 1, 2, 3], true);
        assert!(view.bindings.is_empty() && eps.is_empty());
    }
}
