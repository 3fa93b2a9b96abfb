//! DCOM (MS-DCOM) for the analysis: the endpoints and interface pointers DCOM answers
//! announce, and the class an activation asks for. Stubs are decoded by the NDR engine with
//! the built-in descriptions of IObjectExporter (ResolveOxid, ResolveOxid2, ServerAlive2),
//! IRemoteSCMActivator (RemoteGetClassObject, RemoteCreateInstance), IActivation
//! (RemoteActivation) and IRemUnknown(2) (RemQueryInterface), then read by parameter name.
//! Activation properties travel inside a custom OBJREF as an ActivationPropertiesBlob
//! (§2.2.22): a CustomHeader listing each property's CLSID and size, then the properties, each
//! serialized on its own (MS-RPCE §2.2.6) and decoded with the plan of its type. String
//! bindings come from the `DUALSTRINGARRAY`s (§2.2.19) of the answers; only addresses with a
//! port become endpoints.
//!
//! Interface pointers returned by other methods are found by their OBJREF signature
//! ([`scan_objrefs`]): any method of any interface, described or not, may return one.

use std::sync::OnceLock;

use serde::Serialize;

use crate::dce::Uuid;
use crate::dce::codes::fault_name;
use crate::epm::tower::Endpoint;
use crate::idl::Library;
use crate::idl::objref::{OBJREF_SIGNATURE, ObjrefKind, custom_data, parse_objref};
use crate::idl::values::{Plain, StubBytes, Value, decode_plain, decode_serialized, lookup};
use crate::ndr::LimitsHit;

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

/// IRemUnknown.
pub const IREM_UNKNOWN: Uuid = Uuid([
    0x00, 0x00, 0x01, 0x31, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
]);
/// IRemUnknown2.
pub const IREM_UNKNOWN2: Uuid = Uuid([
    0x00, 0x00, 0x01, 0x43, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
]);

/// Activation property CLSIDs (MS-DCOM §1.9) and the types their properties are serialized as.
const ACTIVATION_PROPERTIES: [(&str, &str); 3] = [
    (
        "000001ab-0000-0000-c000-000000000046",
        "InstantiationInfoData",
    ),
    ("000001b6-0000-0000-c000-000000000046", "ScmReplyInfoData"),
    ("00000339-0000-0000-c000-000000000046", "PropsOutInfo"),
];

/// The built-in descriptions of the DCOM interfaces this module reads, compiled from the table
/// once: those interfaces, the activation property types and what they reach.
fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let interfaces = [
            IOBJECT_EXPORTER,
            IREMOTE_SCM_ACTIVATOR,
            IACTIVATION,
            IREM_UNKNOWN,
            IREM_UNKNOWN2,
        ]
        .map(|u| (u, 0));
        let mut types = vec!["CustomHeader"];
        types.extend(ACTIVATION_PROPERTIES.iter().map(|(_, t)| *t));
        crate::idl::table::builtin_subset(&interfaces, &types)
    })
}

/// One direction of a call decoded with the built-in description of its operation.
fn decode(interface: Uuid, opnum: u16, stub: StubBytes<'_>) -> Plain {
    let lib = library();
    match lib.interface(interface, 0).and_then(|i| lib.plan(i, opnum)) {
        Some(plan) => decode_plain(&plan, stub),
        None => Plain {
            error: Some("no description of the operation".into()),
            ..Plain::default()
        },
    }
}

/// True for IRemUnknown(2)::RemQueryInterface (opnum 3).
#[must_use]
pub fn is_rem_query_interface(interface: Uuid, opnum: u16) -> bool {
    (interface == IREM_UNKNOWN || interface == IREM_UNKNOWN2) && opnum == 3
}

/// RemQueryInterface: pairs the IIDs asked for (request) with the IPIDs created (answer), for
/// the interfaces the answer says succeeded.
///
/// # Errors
/// The first decoding error of either stub.
pub fn rem_query_interface(
    interface: Uuid,
    request: StubBytes<'_>,
    response: StubBytes<'_>,
) -> Result<Vec<(Uuid, Uuid)>, String> {
    let q = decode(interface, 3, request);
    let a = decode(interface, 3, response);
    if let Some(e) = q.error.or(a.error) {
        return Err(e);
    }
    let iids = lookup(&q.params, "iids").map_or(&[][..], Value::items);
    let results = lookup(&a.params, "ppQIResults").map_or(&[][..], Value::items);
    Ok(iids
        .iter()
        .zip(results)
        .filter(|(_, r)| r.get("hResult").and_then(Value::as_u64) == Some(0))
        .filter_map(|(iid, r)| {
            let ipid = r.get("std")?.get("ipid")?.as_uuid()?;
            Some((iid.as_uuid()?, ipid))
        })
        .collect())
}

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
    /// The class an activation request asked for (its CLSID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clsid: Option<String>,
    /// That class's name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// The interfaces (IIDs) the activation request asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested_interfaces: Vec<String>,
    /// The interface pointers the answer created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interface_pointers: Vec<InterfacePointer>,
    /// Why the answer could not be decoded to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The decoding limits it ran into (counted in `summary`).
    #[serde(skip)]
    pub limits: LimitsHit,
}

/// An interface pointer a DCOM answer created (a standard OBJREF, MS-DCOM §2.2.18.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfacePointer {
    /// The interface's IID.
    pub iid: String,
    /// The object exporter (OXID) that serves it, in hex.
    pub oxid: String,
    /// The interface pointer's IPID: later calls name it as their object UUID.
    pub ipid: String,
}

/// Interface pointers listed per answer on its record, at most (all are learned); further
/// ones are counted as `limit_interface_pointers`.
pub const MAX_SHOWN_INTERFACE_POINTERS: usize = 64;

/// What an activation request asks for: the class and the interfaces (MS-DCOM §3.1.2.5.2.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivationRequest {
    /// The class (CLSID).
    pub class: Option<Uuid>,
    /// The interfaces asked for (IIDs).
    pub interfaces: Vec<Uuid>,
}

/// What a DCOM answer announces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The view on the call record.
    pub view: OxidView,
    /// Endpoints among the string bindings.
    pub endpoints: Vec<Endpoint>,
    /// Interface pointers created: (IID, IPID).
    pub ipids: Vec<(Uuid, Uuid)>,
}

fn protocol(tower_id: u64) -> Option<&'static str> {
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

/// The string bindings of a decoded `DUALSTRINGARRAY` (MS-DCOM §2.2.19.1).
fn string_bindings(dsa: &Value, answer: &mut Answer) {
    let units: Vec<u16> = dsa
        .get("aStringArray")
        .map_or(&[][..], Value::items)
        .iter()
        .map(|u| u.as_u64().and_then(|u| u16::try_from(u).ok()).unwrap_or(0))
        .collect();
    let security = dsa
        .get("wSecurityOffset")
        .and_then(Value::as_u64)
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or(units.len());
    binding_entries(&units, security, answer);
}

/// The string bindings of the resolver addresses (`saResAddr`) a standard or handler OBJREF
/// carries after its STDOBJREF (MS-DCOM §2.2.18.4, §2.2.18.5): a DUALSTRINGARRAY laid out as
/// bytes, `wNumEntries` and `wSecurityOffset` then the entries.
fn resolver_bindings(objref: &[u8], answer: &mut Answer) {
    let Some(o) = parse_objref(objref) else {
        return;
    };
    let at = match o.kind {
        ObjrefKind::Standard => 64,
        ObjrefKind::Handler => 80,
        ObjrefKind::Custom | ObjrefKind::Extended => return,
    };
    let Some(dsa) = objref.get(at..) else {
        return;
    };
    let mut words = dsa
        .chunks_exact(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]));
    let (Some(entries), Some(security)) = (words.next(), words.next()) else {
        return;
    };
    let units: Vec<u16> = words.take(usize::from(entries)).collect();
    binding_entries(&units, usize::from(security), answer);
}

/// String bindings from the start of a DUALSTRINGARRAY's entries to its security offset, each
/// a tower id and a NUL-terminated network address, an empty entry ending the list.
fn binding_entries(units: &[u16], security_offset: usize, answer: &mut Answer) {
    let end = security_offset.min(units.len());
    let mut seen: std::collections::HashSet<String> =
        answer.view.bindings.iter().cloned().collect();
    let mut i = 0;
    while i < end && units[i] != 0 {
        let tower = u64::from(units[i]);
        let addr: Vec<u16> = units[i + 1..end]
            .iter()
            .take_while(|&&u| u != 0)
            .copied()
            .collect();
        i += addr.len() + 2;
        let (Some(proto), true) = (
            protocol(tower),
            !addr.is_empty()
                && addr.len() <= MAX_ADDRESS_UNITS
                && addr.iter().all(|&u| address_char(u)),
        ) else {
            continue;
        };
        let text = String::from_utf16_lossy(&addr);
        let binding = format!("{proto}:{text}");
        if seen.contains(&binding) {
            continue;
        }
        if answer.view.bindings.len() >= MAX_STRING_BINDINGS {
            answer.view.limits.add_named("limit_string_bindings");
            return;
        }
        seen.insert(binding.clone());
        answer.view.bindings.push(binding.clone());
        let (host, port) = match text.split_once('[') {
            Some((h, rest)) => (
                h.to_string(),
                rest.strip_suffix(']').and_then(|p| p.parse::<u16>().ok()),
            ),
            None => (text.clone(), None),
        };
        if port.is_some() && !host.is_empty() {
            answer.endpoints.push(Endpoint {
                interface: None,
                protocol: proto.to_string(),
                host: Some(host),
                port,
                pipe: None,
                binding,
            });
        }
    }
}

/// The interface pointers of `MInterfacePointer` values: (IID, IPID) of each standard one,
/// and the resolver addresses they carry.
fn interface_pointers(pointers: &[Value], answer: &mut Answer) {
    for p in pointers {
        let Some(bytes) = p.get("abData").and_then(Value::as_bytes) else {
            continue;
        };
        if let Some(o) = parse_objref(bytes)
            && let Some((oxid, _, ipid)) = o.std
        {
            answer.ipids.push((o.iid, ipid));
            if answer.view.interface_pointers.len() < MAX_SHOWN_INTERFACE_POINTERS {
                answer.view.interface_pointers.push(InterfacePointer {
                    iid: o.iid.to_string(),
                    oxid: format!("{oxid:#018x}"),
                    ipid: ipid.to_string(),
                });
            } else {
                answer.view.limits.add_named("limit_interface_pointers");
            }
        }
        resolver_bindings(bytes, answer);
    }
}

/// Properties of one activation request read at most; a request naming more gets no class.
pub const MAX_ACTIVATION_PROPERTIES: usize = 64;
/// String bindings kept per answer (a server announces a handful); further ones are not read
/// and the limit is counted as `limit_string_bindings`.
pub const MAX_STRING_BINDINGS: usize = 1024;

/// The properties of the ActivationPropertiesBlob (MS-DCOM §2.2.22.1) an `MInterfacePointer`
/// value carries in a custom OBJREF, each decoded with the plan of its type: (type, values).
fn activation_properties(
    pointer: &Value,
    limits: &mut LimitsHit,
) -> Result<Vec<(&'static str, Value)>, String> {
    let bytes = pointer
        .get("abData")
        .and_then(Value::as_bytes)
        .ok_or("no activation properties")?;
    let (_, blob) = custom_data(bytes).ok_or("activation properties not in a custom OBJREF")?;
    // dwSize, dwReserved, then the CustomHeader and the properties
    let serialized = blob.get(8..).ok_or("activation properties cut short")?;
    let lib = library();
    let header_plan = lib
        .type_plan("CustomHeader")
        .ok_or("no CustomHeader description")?;
    let header = decode_serialized(&header_plan, serialized);
    limits.merge(header.limits);
    if let Some(e) = header.error {
        return Err(format!("CustomHeader: {e}"));
    }
    let header = lookup(&header.params, "CustomHeader").ok_or("no CustomHeader")?;
    let clsids = header.get("pclsid").map_or(&[][..], Value::items);
    let sizes = header.get("pSizes").map_or(&[][..], Value::items);
    if clsids.len() > MAX_ACTIVATION_PROPERTIES {
        return Err(format!(
            "more than {MAX_ACTIVATION_PROPERTIES} activation properties"
        ));
    }
    let mut offset = header
        .get("headerSize")
        .and_then(Value::as_u64)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or("CustomHeader without headerSize")?;
    let mut out = Vec::new();
    for (clsid, size) in clsids.iter().zip(sizes) {
        let size = size
            .as_u64()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or("property size")?;
        let start = offset;
        offset = offset.checked_add(size).ok_or("property size")?;
        let clsid = clsid.as_uuid().map(|u| u.to_string()).unwrap_or_default();
        let Some((_, ty)) = ACTIVATION_PROPERTIES.iter().find(|(c, _)| *c == clsid) else {
            continue;
        };
        let bytes = serialized
            .get(start..offset)
            .ok_or_else(|| format!("{ty} cut short"))?;
        let plan = lib.type_plan(ty).ok_or("no property description")?;
        let p = decode_serialized(&plan, bytes);
        limits.merge(p.limits);
        if let Some(e) = p.error {
            return Err(format!("{ty}: {e}"));
        }
        if let Some(v) = lookup(&p.params, ty) {
            out.push((*ty, v.clone()));
        }
    }
    Ok(out)
}

/// Decodes the answer of a call that [`carries_bindings`]: string bindings and the endpoints
/// among them, the interface pointers an activation created, and the status.
#[must_use]
pub fn decode_response(interface: Uuid, opnum: u16, stub: StubBytes<'_>) -> Answer {
    let mut answer = Answer::default();
    let plain = decode(interface, opnum, stub);
    answer.view.limits.merge(plain.limits);
    answer.view.error = plain.error.map(|e| format!("response: {e}"));
    let p = &plain.params;
    for name in ["ppdsaOxidBindings", "ppdsaOrBindings"] {
        if let Some(dsa) = lookup(p, name).filter(|v| **v != Value::Null) {
            string_bindings(dsa, &mut answer);
        }
    }
    if let Some(pointers) = lookup(p, "ppInterfaceData") {
        interface_pointers(pointers.items(), &mut answer);
    }
    if let Some(props) = lookup(p, "ppActProperties").filter(|v| **v != Value::Null) {
        match activation_properties(props, &mut answer.view.limits) {
            Ok(props) => {
                for (ty, v) in props {
                    match ty {
                        "ScmReplyInfoData" => {
                            if let Some(dsa) = v
                                .get("remoteReply")
                                .and_then(|r| r.get("pdsaOxidBindings"))
                                .filter(|d| **d != Value::Null)
                            {
                                string_bindings(dsa, &mut answer);
                            }
                        }
                        "PropsOutInfo" => {
                            let pointers = v.get("ppIntfData").map_or(&[][..], Value::items);
                            interface_pointers(pointers, &mut answer);
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => answer.view.error = Some(format!("response: {e}")),
        }
    }
    if let Some(last) = stub
        .bytes
        .len()
        .checked_sub(4)
        .and_then(|at| stub.bytes.get(at..))
    {
        let word = [last[0], last[1], last[2], last[3]];
        let status = if stub.little_endian {
            u32::from_le_bytes(word)
        } else {
            u32::from_be_bytes(word)
        };
        answer.view.status = Some(status);
        answer.view.status_name = Some(match status {
            0 => "s_ok".to_string(),
            s => fault_name(s).map_or_else(|| format!("0x{s:08x}"), str::to_string),
        });
    }
    answer
}

/// Marshalled interface pointers (OBJREFs) in a stub, as (interface IID, IPID) pairs: the IPID
/// names the object interface that later ORPC requests address in their object UUID. Standard,
/// handler and extended OBJREFs carry a STDOBJREF with the IPID; custom ones do not.
#[must_use]
pub fn scan_objrefs(stub: &[u8]) -> Vec<(Uuid, Uuid)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut at = 0;
    while let Some(pos) = stub
        .get(at..)
        .and_then(|s| s.windows(4).position(|w| w == OBJREF_SIGNATURE))
    {
        let start = at + pos;
        at = start + 4;
        let Some(o) = stub.get(start..).and_then(parse_objref) else {
            continue;
        };
        if let Some((_, _, ipid)) = o.std
            && seen.insert((o.iid, ipid))
        {
            out.push((o.iid, ipid));
        }
    }
    out
}

/// The class and interfaces an activation request asks for: IActivation RemoteActivation's
/// `Clsid` and `pIIDs`, or for IRemoteSCMActivator RemoteCreateInstance and
/// RemoteGetClassObject (MS-DCOM §3.1.2.5.2.3) the `classId` and `pIID` of the
/// InstantiationInfoData property of the activation properties (`pActProperties`); `None` for
/// other operations.
#[must_use]
pub fn activation_request(
    interface: Uuid,
    opnum: u16,
    request: StubBytes<'_>,
) -> Option<ActivationRequest> {
    let activation = (interface == IREMOTE_SCM_ACTIVATOR && matches!(opnum, 3 | 4))
        || (interface == IACTIVATION && opnum == 0);
    if !activation {
        return None;
    }
    let iids = |v: Option<&Value>| -> Vec<Uuid> {
        v.map_or(&[][..], Value::items)
            .iter()
            .filter_map(Value::as_uuid)
            .collect()
    };
    let plain = decode(interface, opnum, request);
    if let Some(clsid) = lookup(&plain.params, "Clsid") {
        return Some(ActivationRequest {
            class: clsid.as_uuid(),
            interfaces: iids(lookup(&plain.params, "pIIDs")),
        });
    }
    let props = lookup(&plain.params, "pActProperties").filter(|v| **v != Value::Null)?;
    let props = activation_properties(props, &mut LimitsHit::default()).ok()?;
    let (_, info) = props
        .iter()
        .find(|(ty, _)| *ty == "InstantiationInfoData")?;
    Some(ActivationRequest {
        class: info.get("classId").and_then(Value::as_uuid),
        interfaces: iids(info.get("pIID")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::objref::class_name;
    use crate::idl::values::Direction;
    use crate::ndr::Syntax;

    fn stub(bytes: &[u8], direction: Direction) -> StubBytes<'_> {
        StubBytes {
            bytes,
            direction,
            little_endian: true,
            syntax: Syntax::Ndr,
        }
    }

    /// A GUID in its little-endian wire layout.
    fn wire(u: Uuid) -> Vec<u8> {
        let b = u.0;
        let mut v = vec![b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]];
        v.extend_from_slice(&b[8..]);
        v
    }

    fn pad(v: &mut Vec<u8>, n: usize) {
        while v.len() % n != 0 {
            v.push(0);
        }
    }

    /// A unique pointer to a DUALSTRINGARRAY with these string bindings and one security
    /// binding.
    fn dualstringarray(out: &mut Vec<u8>, bindings: &[(u16, &str)]) {
        let mut units: Vec<u16> = Vec::new();
        for (tower, addr) in bindings {
            units.push(*tower);
            units.extend(addr.encode_utf16());
            units.push(0);
        }
        units.push(0);
        let security = units.len();
        units.extend([10, 0xffff, 0, 0]);
        out.extend(0x0002_0000u32.to_le_bytes());
        out.extend(u32::try_from(units.len()).unwrap().to_le_bytes());
        out.extend(u16::try_from(units.len()).unwrap().to_le_bytes());
        out.extend(u16::try_from(security).unwrap().to_le_bytes());
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        pad(out, 4);
    }

    #[test]
    fn decodes_the_string_bindings_of_resolve_oxid2_and_server_alive2() {
        let mut s = Vec::new();
        dualstringarray(&mut s, &[(7, "10.0.0.5[49703]"), (7, "WKS1"), (0x0f, "")]);
        s.extend([0x44; 16]); // IPID of IRemUnknown
        s.extend(2u32.to_le_bytes()); // authentication hint
        s.extend([5, 0, 7, 0]); // COMVERSION
        s.extend(0u32.to_le_bytes());
        let a = decode_response(IOBJECT_EXPORTER, 4, stub(&s, Direction::Out));
        assert_eq!(a.view.error, None);
        assert_eq!(
            a.view.bindings,
            ["ncacn_ip_tcp:10.0.0.5[49703]", "ncacn_ip_tcp:WKS1"]
        );
        assert_eq!(a.endpoints.len(), 1);
        assert_eq!(
            (a.endpoints[0].host.as_deref(), a.endpoints[0].port),
            (Some("10.0.0.5"), Some(49703))
        );
        assert_eq!(a.view.status, Some(0));
        // ServerAlive2: COMVERSION, then the resolver's own bindings
        let mut s = vec![5, 0, 7, 0];
        dualstringarray(&mut s, &[(7, "HOST"), (7, "192.168.1.9")]);
        s.extend(0u32.to_le_bytes());
        s.extend(0u32.to_le_bytes());
        let a = decode_response(IOBJECT_EXPORTER, 5, stub(&s, Direction::Out));
        assert_eq!(a.view.bindings.len(), 2, "{:?}", a.view);
        assert!(a.endpoints.is_empty(), "no port, no endpoint");
    }

    #[test]
    fn string_bindings_are_deduplicated_and_bounded() {
        // an answer announcing every binding twice, and more bindings than are kept
        let addrs: Vec<String> = (0..MAX_STRING_BINDINGS + 500)
            .map(|i| format!("10.{}.{}.1[{}]", i / 256, i % 256, 1000 + i))
            .collect();
        let mut units: Vec<u16> = Vec::new();
        for a in addrs.iter().take(10).chain(&addrs) {
            units.push(7);
            units.extend(a.encode_utf16());
            units.push(0);
        }
        units.push(0);
        let mut answer = Answer::default();
        binding_entries(&units, units.len(), &mut answer);
        assert_eq!(answer.view.bindings.len(), MAX_STRING_BINDINGS);
        assert_eq!(answer.view.bindings[10], "ncacn_ip_tcp:10.0.10.1[1010]");
        assert_eq!(
            answer.view.limits.kinds().collect::<Vec<_>>(),
            ["limit_string_bindings"]
        );
        let few = &units[..units.len() / 20];
        let mut answer = Answer::default();
        binding_entries(few, few.len(), &mut answer);
        assert!(answer.view.limits.kinds().next().is_none());
    }

    #[test]
    fn interface_pointers_are_all_learned_and_listed_up_to_the_limit() {
        let iid = Uuid::parse("9556dc99-828c-11cf-a37e-00aa003240c7").unwrap();
        let pointer = |n: u8| {
            let mut b = OBJREF_SIGNATURE.to_vec();
            b.extend(1u32.to_le_bytes()); // standard
            b.extend(wire(iid));
            b.extend([0u8; 8]); // flags, cPublicRefs
            b.extend(u64::from(n).to_le_bytes()); // OXID
            b.extend([0u8; 8]); // OID
            b.extend([n; 16]); // IPID
            Value::Fields(vec![("abData".into(), Value::Bytes(b))])
        };
        let n = u8::try_from(MAX_SHOWN_INTERFACE_POINTERS + 3).unwrap();
        let pointers: Vec<Value> = (1..=n).map(pointer).collect();
        let mut answer = Answer::default();
        interface_pointers(&pointers, &mut answer);
        assert_eq!(answer.ipids.len(), usize::from(n), "every IPID is learned");
        assert_eq!(
            answer.view.interface_pointers.len(),
            MAX_SHOWN_INTERFACE_POINTERS
        );
        assert_eq!(answer.view.interface_pointers[1].oxid, "0x0000000000000002");
        assert_eq!(
            answer.view.limits.kinds().collect::<Vec<_>>(),
            ["limit_interface_pointers"]
        );
        let mut answer = Answer::default();
        interface_pointers(&pointers[..3], &mut answer);
        assert!(answer.view.limits.kinds().next().is_none());
    }

    #[test]
    fn finds_interface_pointers() {
        let iid = Uuid::parse("9556dc99-828c-11cf-a37e-00aa003240c7").unwrap();
        let ipid = Uuid::parse("00009c02-0de8-ffff-1e0e-61a2e0a5d3e9").unwrap();
        let mut s = vec![0xaa; 13];
        s.extend(b"MEOW");
        s.extend(1u32.to_le_bytes());
        s.extend(wire(iid));
        s.extend([0u8; 24]); // STDOBJREF flags, cPublicRefs, OXID, OID
        s.extend(wire(ipid));
        s.extend([0u8; 8]);
        assert_eq!(scan_objrefs(&s), [(iid, ipid)]);
        assert!(scan_objrefs(b"MEOW").is_empty());
    }

    #[test]
    fn pairs_rem_query_interface_iids_with_created_ipids() {
        let iid = Uuid::parse("00020400-0000-0000-c000-000000000046").unwrap();
        let ipid = Uuid::parse("0000a801-0f8c-ffff-8b15-2bcd15e1e1e1").unwrap();
        let mut q = vec![5, 0, 7, 0];
        q.extend([0u8; 8]);
        q.extend([0u8; 16]); // cid
        q.extend(0u32.to_le_bytes()); // no extensions
        q.extend([0x11; 16]); // ripid
        q.extend(5u32.to_le_bytes());
        q.extend(1u16.to_le_bytes());
        q.extend([0, 0]);
        q.extend(1u32.to_le_bytes());
        q.extend(wire(iid));
        let mut a = 0u32.to_le_bytes().to_vec(); // ORPCTHAT flags
        a.extend(0u32.to_le_bytes()); // no extensions
        a.extend(0x20000u32.to_le_bytes()); // results pointer
        a.extend(1u32.to_le_bytes()); // count
        a.extend(0u32.to_le_bytes()); // hResult
        a.extend([0u8; 4]); // STDOBJREF aligned to 8
        a.extend([0u8; 8]); // flags, cPublicRefs
        a.extend([0u8; 16]); // OXID, OID
        a.extend(wire(ipid));
        a.extend(0u32.to_le_bytes());
        let pairs = rem_query_interface(
            IREM_UNKNOWN,
            stub(&q, Direction::In),
            stub(&a, Direction::Out),
        );
        assert_eq!(pairs, Ok(vec![(iid, ipid)]));
        // a failed interface creates nothing
        a[16] = 0x05;
        a[19] = 0x80;
        let pairs = rem_query_interface(
            IREM_UNKNOWN,
            stub(&q, Direction::In),
            stub(&a, Direction::Out),
        );
        assert_eq!(pairs, Ok(vec![]));
    }

    #[test]
    fn ignores_noise() {
        let a = decode_response(
            IOBJECT_EXPORTER,
            4,
            stub(&[7, 0, 0xff, 0xff, 0, 0, 1, 2, 3], Direction::Out),
        );
        assert!(a.view.bindings.is_empty() && a.endpoints.is_empty());
        assert!(a.view.error.is_some());
    }

    /// Type serialization version 1 headers (MS-RPCE §2.2.6) in front of NDR data.
    fn serialized(mut data: Vec<u8>) -> Vec<u8> {
        pad(&mut data, 8);
        let mut v = vec![1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc];
        v.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        v.extend([0; 4]);
        v.extend(data);
        v
    }

    /// A RemoteCreateInstance request as MS-DCOM §2.2.22 lays it out: ORPCTHIS, the pUnkOuter
    /// null pointer, then pActProperties: MInterfacePointer, custom OBJREF,
    /// ActivationPropertiesBlob with a CustomHeader naming two properties, the second the
    /// InstantiationInfoData with the class.
    fn activation_request_stub(class: Uuid) -> Vec<u8> {
        let special = Uuid::parse("000001b9-0000-0000-c000-000000000046").unwrap();
        let instantiation = Uuid::parse("000001ab-0000-0000-c000-000000000046").unwrap();
        let special_property = serialized(Vec::new());
        let mut info = wire(class);
        info.extend([0; 12]); // classCtx, actvflags, fIsSurrogate
        info.extend(1u32.to_le_bytes()); // cIID
        info.extend(0u32.to_le_bytes()); // instFlag
        info.extend(0x0002_0000u32.to_le_bytes()); // pIID
        info.extend(0u32.to_le_bytes()); // thisSize
        info.extend([5, 0, 7, 0]); // clientCOMVersion
        info.extend(1u32.to_le_bytes());
        info.extend(wire(
            Uuid::parse("00000000-0000-0000-c000-000000000046").unwrap(),
        ));
        let info = serialized(info);
        let mut header = Vec::new();
        header.extend([0; 4]); // totalSize
        header.extend([0; 4]); // headerSize, patched below
        header.extend([0; 8]); // dwReserved, destCtx
        header.extend(2u32.to_le_bytes());
        header.extend([0; 16]);
        header.extend(0x0002_0000u32.to_le_bytes());
        header.extend(0x0002_0004u32.to_le_bytes());
        header.extend(0u32.to_le_bytes());
        header.extend(2u32.to_le_bytes());
        header.extend(wire(special));
        header.extend(wire(instantiation));
        header.extend(2u32.to_le_bytes());
        header.extend(u32::try_from(special_property.len()).unwrap().to_le_bytes());
        header.extend(u32::try_from(info.len()).unwrap().to_le_bytes());
        let mut header = serialized(header);
        let header_size = u32::try_from(header.len()).unwrap();
        header[20..24].copy_from_slice(&header_size.to_le_bytes());
        let mut blob = Vec::new();
        let total = header.len() + special_property.len() + info.len();
        blob.extend(u32::try_from(total).unwrap().to_le_bytes());
        blob.extend([0; 4]);
        blob.extend(header);
        blob.extend(special_property);
        blob.extend(info);
        let mut objref = OBJREF_SIGNATURE.to_vec();
        objref.extend(4u32.to_le_bytes());
        objref.extend([0; 32]);
        objref.extend([0; 4]);
        objref.extend(u32::try_from(blob.len()).unwrap().to_le_bytes());
        objref.extend(blob);
        let mut stub = vec![5, 0, 7, 0];
        stub.extend([0u8; 28]); // rest of ORPCTHIS, no extensions
        stub.extend(0u32.to_le_bytes());
        stub.extend(0x0002_0000u32.to_le_bytes());
        stub.extend(u32::try_from(objref.len()).unwrap().to_le_bytes());
        stub.extend(u32::try_from(objref.len()).unwrap().to_le_bytes());
        stub.extend(objref);
        stub
    }

    #[test]
    fn finds_the_activated_class_and_interfaces_and_survives_any_cut() {
        let mmc = Uuid::parse("49b2791a-b1ae-4c90-9b8e-e860ba07f889").unwrap();
        let request = activation_request_stub(mmc);
        let asked = |b: &[u8]| activation_request(IREMOTE_SCM_ACTIVATOR, 4, stub(b, Direction::In));
        let class = |b: &[u8]| asked(b).and_then(|a| a.class);
        assert_eq!(class(&request), Some(mmc));
        assert_eq!(
            asked(&request).unwrap().interfaces,
            vec![Uuid::parse("00000000-0000-0000-c000-000000000046").unwrap()],
            "IUnknown asked for"
        );
        assert_eq!(class_name(mmc).as_deref(), Some("MMC20.Application"));
        for cut in 0..request.len() {
            // never a panic; a cut inside the class's property gives none
            let _ = class(&request[..cut]);
        }
        assert_eq!(class(&request[..request.len() - 24]), None);
    }
}
