//! The endpoint mapper (`e1af8308-5d1f-11c9-91a4-08002b14a0fa` v3, C706 appendix O; MS-RPCE
//! §2.2.1.2.5 / §3.1.1.5.1): decoding of ept_insert, ept_delete, ept_lookup, ept_map and
//! ept_lookup_handle_free requests and responses from their NDR stubs, towers ([`tower`]), and
//! the table of endpoints learned from answers ([`resolver`]). Stubs are decoded by the NDR
//! engine with the compiled plans of the built-in endpoint-mapper description
//! ([`builtin::EPM_IDL`]), then read by parameter name.

pub mod resolver;
pub mod tower;

use std::sync::OnceLock;

use serde::Serialize;

use crate::dce::InterfaceRef;
use crate::dce::codes::fault_name;
use crate::dce::{SyntaxId, Uuid, names};
use crate::idl::values::{Decoded, Direction, FieldName, StubBytes, Value, decode_stub, lookup};
use crate::idl::{Interface, Library, builtin};
use crate::ndr::LimitsHit;

/// The endpoint mapper's interface UUID.
pub const EPM_UUID: Uuid = Uuid([
    0xe1, 0xaf, 0x83, 0x08, 0x5d, 0x1f, 0x11, 0xc9, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa,
]);
/// ept_lookup's "no more entries" status (also "not registered" for ept_map); not an error.
pub const EPT_S_NOT_REGISTERED: u32 = 0x16c9_a0d6;

/// Operation numbers.
pub mod opnum {
    /// ept_insert
    pub const INSERT: u16 = 0;
    /// ept_delete
    pub const DELETE: u16 = 1;
    /// ept_lookup
    pub const LOOKUP: u16 = 2;
    /// ept_map
    pub const MAP: u16 = 3;
    /// ept_lookup_handle_free
    pub const LOOKUP_HANDLE_FREE: u16 = 4;
}

/// An interface as reported in JSON.
#[must_use]
pub fn interface_ref(s: SyntaxId) -> InterfaceRef {
    InterfaceRef {
        uuid: s.uuid.to_string(),
        version: s.version(),
        name: names::interface_name(s.uuid, s.major).map(str::to_string),
    }
}

/// One endpoint in a request or an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryView {
    /// String binding, e.g. `ncacn_ip_tcp:10.0.0.5[49667]`.
    pub binding: String,
    /// Interface of the tower.
    pub interface: Option<InterfaceRef>,
    /// Object UUID of an ept_lookup / ept_insert entry, when not nil.
    pub object: Option<String>,
    /// Annotation of an ept_lookup / ept_insert entry.
    pub annotation: Option<String>,
}

/// A decoded endpoint-mapper call (`"epm"` on a call record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EpmView {
    /// `rpc_c_ep_all_elts`, `rpc_c_ep_match_by_if`, `rpc_c_ep_match_by_obj`,
    /// `rpc_c_ep_match_by_both` (ept_lookup).
    pub inquiry: Option<String>,
    /// The interface asked for (ept_map's tower, or ept_lookup's interface id).
    pub requested_interface: Option<InterfaceRef>,
    /// The protocol tower of an ept_map request as a string binding.
    pub requested_binding: Option<String>,
    /// The object UUID asked for, when not nil.
    pub requested_object: Option<String>,
    /// Entries the client registers or removes (ept_insert, ept_delete).
    pub registered: Vec<EntryView>,
    /// Endpoints in the answer.
    pub endpoints: Vec<EntryView>,
    /// Status of the answer.
    pub status: Option<u32>,
    /// Its name (`ept_s_not_registered` ends an ept_lookup enumeration; it is not an error).
    pub status_name: Option<String>,
    /// Why a stub could not be decoded completely.
    pub error: Option<String>,
    /// The decoding limits it ran into (counted in `summary`).
    #[serde(skip)]
    pub limits: LimitsHit,
}

/// An endpoint from an answer, with the tower it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    /// The endpoint.
    pub endpoint: tower::Endpoint,
    /// Annotation (ept_lookup).
    pub annotation: Option<String>,
}

fn nil_or(u: Uuid) -> Option<String> {
    (u != Uuid::default()).then(|| u.to_string())
}

/// The endpoint mapper's description ([`builtin::EPM_IDL`]), parsed once; a `--idl` file
/// describing `epm` differently does not change how endpoints are learned.
fn epm_interface() -> Option<(&'static Library, &'static Interface)> {
    static LIBRARY: OnceLock<Option<Library>> = OnceLock::new();
    let lib = LIBRARY
        .get_or_init(|| crate::idl::parse(builtin::EPM_IDL, "<builtin epm>").ok())
        .as_ref()?;
    Some((lib, lib.interface(EPM_UUID, 3)?))
}

/// One direction of an endpoint-mapper call decoded with the compiled plan of its
/// operation: the parameters read, and the first error.
fn decode(
    opnum: u16,
    stub: StubBytes<'_>,
    v: &mut EpmView,
) -> (Vec<(FieldName, Value)>, Option<String>) {
    let Some((lib, iface)) = epm_interface() else {
        return (Vec::new(), Some("no endpoint mapper description".into()));
    };
    let mut d = Decoded::default();
    decode_stub(lib, iface, opnum, stub, &mut d);
    v.limits.merge(d.limits);
    let params = match stub.direction {
        Direction::In => d.request,
        Direction::Out => d.response,
    };
    (params, d.errors.into_iter().next())
}

/// A `twr_t`: its octet string up to `tower_length`, parsed.
fn tower_of(v: &Value) -> Option<tower::Tower> {
    let len = usize::try_from(v.get("tower_length").and_then(Value::as_u64)?).ok()?;
    let Some(Value::Bytes(b)) = v.get("tower_octet_string") else {
        return None;
    };
    tower::parse(b.get(..len)?).ok()
}

fn view(t: &tower::Tower, object: Option<String>, annotation: Option<String>) -> Option<EntryView> {
    let e = t.endpoint()?;
    Some(EntryView {
        binding: e.binding,
        interface: e.interface.map(interface_ref),
        object,
        annotation,
    })
}

fn inquiry_name(v: u64) -> String {
    match v {
        0 => "rpc_c_ep_all_elts".into(),
        1 => "rpc_c_ep_match_by_if".into(),
        2 => "rpc_c_ep_match_by_obj".into(),
        3 => "rpc_c_ep_match_by_both".into(),
        other => format!("inquiry_{other}"),
    }
}

/// The endpoints of a list of `ept_entry_t`: (view, endpoint, annotation) per entry with a
/// readable tower.
fn entries(list: Option<&Value>) -> Vec<(EntryView, tower::Endpoint, Option<String>)> {
    let Some(Value::List(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|e| {
            let t = tower_of(e.get("tower")?)?;
            let endpoint = t.endpoint()?;
            let annotation = match e.get("annotation") {
                Some(Value::Text(a)) if !a.is_empty() => Some(a.clone()),
                _ => None,
            };
            let object = e.get("object").and_then(Value::as_uuid).and_then(nil_or);
            Some((view(&t, object, annotation.clone())?, endpoint, annotation))
        })
        .collect()
}

/// Decodes a request stub into `v`, with the operation's compiled plan.
///
/// # Errors
/// The first error of the decoding (`request: parameter ...: ...`); what was read before it
/// is in `v`.
pub fn decode_request(opnum: u16, stub: StubBytes<'_>, v: &mut EpmView) -> Result<(), String> {
    let (params, error) = decode(opnum, stub, v);
    match opnum {
        opnum::INSERT | opnum::DELETE => {
            // an entry registered without an annotation keeps an empty one
            for (mut e, _, annotation) in entries(lookup(&params, "entries")) {
                e.annotation = Some(annotation.unwrap_or_default());
                v.registered.push(e);
            }
        }
        opnum::LOOKUP => {
            v.inquiry = lookup(&params, "inquiry_type")
                .and_then(Value::as_u64)
                .map(inquiry_name);
            v.requested_object = lookup(&params, "object")
                .and_then(Value::as_uuid)
                .and_then(nil_or);
            if let Some(id) = lookup(&params, "interface_id").filter(|i| **i != Value::Null) {
                let major = id
                    .get("VersMajor")
                    .and_then(Value::as_u64)
                    .and_then(|m| u16::try_from(m).ok());
                let minor = id
                    .get("VersMinor")
                    .and_then(Value::as_u64)
                    .and_then(|m| u16::try_from(m).ok());
                if let (Some(uuid), Some(major), Some(minor)) =
                    (id.get("Uuid").and_then(Value::as_uuid), major, minor)
                {
                    v.requested_interface = Some(interface_ref(SyntaxId { uuid, major, minor }));
                }
            }
        }
        opnum::MAP => {
            v.requested_object = lookup(&params, "object")
                .and_then(Value::as_uuid)
                .and_then(nil_or);
            if let Some(t) = lookup(&params, "map_tower").and_then(tower_of) {
                v.requested_interface = t.interface().map(interface_ref);
                v.requested_binding = t.endpoint().map(|e| e.binding);
            }
        }
        _ => {}
    }
    error.map_or(Ok(()), Err)
}

/// Decodes a response stub into `v`, returning the endpoints it announces.
///
/// # Errors
/// The first error of the decoding (`response: parameter ...: ...`); what was read before it
/// is in `v`, and no endpoint is learned from it.
pub fn decode_response(
    opnum: u16,
    stub: StubBytes<'_>,
    v: &mut EpmView,
) -> Result<Vec<Answered>, String> {
    let (params, error) = decode(opnum, stub, v);
    let mut out = Vec::new();
    match opnum {
        opnum::MAP => {
            if let Some(Value::List(towers)) = lookup(&params, "towers") {
                for t in towers.iter().filter_map(tower_of) {
                    if let (Some(e), Some(shown)) = (t.endpoint(), view(&t, None, None)) {
                        v.endpoints.push(shown);
                        out.push(Answered {
                            endpoint: e,
                            annotation: None,
                        });
                    }
                }
            }
        }
        opnum::LOOKUP => {
            for (shown, endpoint, annotation) in entries(lookup(&params, "entries")) {
                v.endpoints.push(shown);
                out.push(Answered {
                    endpoint,
                    annotation,
                });
            }
        }
        _ => {}
    }
    if let Some(status) = lookup(&params, "status")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
    {
        v.status = Some(status);
        v.status_name = Some(match status {
            0 => "rpc_s_ok".to_string(),
            s => fault_name(s).map_or_else(|| format!("0x{s:08x}"), str::to_string),
        });
    }
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndr::Syntax;

    fn stub(bytes: &[u8], direction: Direction) -> StubBytes<'_> {
        StubBytes {
            bytes,
            direction,
            little_endian: true,
            syntax: Syntax::Ndr,
        }
    }

    fn map_response(towers: &[Vec<u8>], status: u32) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s.extend((towers.len() as u32).to_le_bytes());
        s.extend(4u32.to_le_bytes());
        s.extend(0u32.to_le_bytes());
        s.extend((towers.len() as u32).to_le_bytes());
        for i in 0..towers.len() {
            s.extend((3 + i as u32).to_le_bytes());
        }
        for t in towers {
            s.extend((t.len() as u32).to_le_bytes());
            s.extend((t.len() as u32).to_le_bytes());
            s.extend(t);
            while s.len() % 4 != 0 {
                s.push(0);
            }
        }
        s.extend(status.to_le_bytes());
        s
    }

    #[test]
    fn decodes_ept_map_answers() {
        let response = map_response(
            &[
                tower::tests::tcp_tower([10, 0, 0, 5], 49667),
                tower::tests::tcp_tower([0; 4], 135),
            ],
            0,
        );
        let mut v = EpmView::default();
        let got = decode_response(opnum::MAP, stub(&response, Direction::Out), &mut v).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(v.endpoints[0].binding, "ncacn_ip_tcp:10.0.0.5[49667]");
        assert_eq!(
            v.endpoints[0].interface.as_ref().unwrap().name.as_deref(),
            Some("Samr")
        );
        assert_eq!(
            (v.status, v.status_name.as_deref()),
            (Some(0), Some("rpc_s_ok"))
        );
    }

    #[test]
    fn decodes_ept_lookup_entries_with_a_larger_maximum() {
        let t = tower::tests::tcp_tower([127, 0, 0, 1], 49152);
        let mut s = vec![0u8; 20];
        s.extend(1u32.to_le_bytes()); // num_ents
        s.extend(500u32.to_le_bytes()); // max_ents: far more than sent
        s.extend(0u32.to_le_bytes());
        s.extend(1u32.to_le_bytes());
        s.extend([0u8; 16]); // object
        s.extend(1u32.to_le_bytes()); // tower referent
        s.extend(0u32.to_le_bytes());
        s.extend(5u32.to_le_bytes());
        s.extend(b"samr\0\0\0\0");
        s.extend((t.len() as u32).to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend(&t);
        while s.len() % 4 != 0 {
            s.push(0);
        }
        s.extend(EPT_S_NOT_REGISTERED.to_le_bytes());
        let mut v = EpmView::default();
        let got = decode_response(opnum::LOOKUP, stub(&s, Direction::Out), &mut v).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(v.endpoints[0].annotation.as_deref(), Some("samr"));
        assert_eq!(v.status, Some(EPT_S_NOT_REGISTERED));
    }

    #[test]
    fn end_of_list_status_is_named() {
        let response = map_response(&[], EPT_S_NOT_REGISTERED);
        let mut v = EpmView::default();
        let got = decode_response(opnum::MAP, stub(&response, Direction::Out), &mut v).unwrap();
        assert!(got.is_empty());
        assert_eq!(v.status_name.as_deref(), Some("ept_s_not_registered"));
    }

    #[test]
    fn decodes_ept_map_request_tower() {
        let t = tower::tests::tcp_tower([0; 4], 0);
        let mut s = 0u32.to_le_bytes().to_vec(); // null object
        s.extend(2u32.to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend((t.len() as u32).to_le_bytes());
        s.extend(&t);
        // a stub cut after the tower keeps what was read before the cut
        let mut v = EpmView::default();
        let cut = decode_request(opnum::MAP, stub(&s, Direction::In), &mut v);
        assert!(
            cut.as_ref().is_err_and(|e| e.contains("entry_handle")),
            "{cut:?}"
        );
        assert!(v.requested_binding.is_some());
        while s.len() % 4 != 0 {
            s.push(0);
        }
        s.extend([0u8; 20]); // entry_handle
        s.extend(4u32.to_le_bytes()); // max_towers
        let mut v = EpmView::default();
        decode_request(opnum::MAP, stub(&s, Direction::In), &mut v).unwrap();
        assert_eq!(
            v.requested_interface.unwrap().uuid,
            "12345778-1234-abcd-ef00-0123456789ac"
        );
        assert_eq!(
            v.requested_binding.as_deref(),
            Some("ncacn_ip_tcp:0.0.0.0[0]")
        );
    }
}
