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
use crate::ndr::{NdrError, Reader, Syntax, le32_at, le64_at, uuid_at};

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

/// True for IRemUnknown(2)::RemQueryInterface (opnum 3).
#[must_use]
pub fn is_rem_query_interface(interface: Uuid, opnum: u16) -> bool {
    (interface == IREM_UNKNOWN || interface == IREM_UNKNOWN2) && opnum == 3
}

/// Reads an ORPCTHIS or ORPCTHAT header (MS-DCOM §2.2.13); only headers without extensions
/// are understood.
fn skip_orpc_header(r: &mut Reader<'_>, request: bool) -> Result<(), NdrError> {
    if request {
        r.u16()?;
        r.u16()?;
        r.u32()?;
        r.u32()?;
        r.uuid()?;
    } else {
        r.u32()?;
    }
    match r.pointer()? {
        None => Ok(()),
        Some(_) => Err(NdrError::Invalid("ORPC extensions")),
    }
}

/// RemQueryInterface: pairs the IIDs asked for (request) with the IPIDs created (answer), for
/// the interfaces the answer says succeeded.
///
/// # Errors
/// [`NdrError`] when a stub is not a RemQueryInterface request or answer without extensions.
pub fn rem_query_interface(
    request: &[u8],
    response: &[u8],
    little_endian: [bool; 2],
) -> Result<Vec<(Uuid, Uuid)>, NdrError> {
    let mut q = Reader::new(request, little_endian[0], Syntax::Ndr);
    skip_orpc_header(&mut q, true)?;
    q.uuid()?;
    q.u32()?;
    q.u16()?;
    let n = q.count(16)?;
    let mut iids = Vec::new();
    for _ in 0..n {
        iids.push(q.uuid()?);
    }
    let mut a = Reader::new(response, little_endian[1], Syntax::Ndr);
    skip_orpc_header(&mut a, false)?;
    if a.pointer()?.is_none() {
        return Ok(Vec::new());
    }
    let m = a.count(40)?;
    let mut out = Vec::new();
    for iid in iids.into_iter().take(m) {
        a.align(8)?;
        let hresult = a.u32()?;
        a.u32()?;
        a.u32()?;
        a.u64()?;
        a.u64()?;
        let ipid = a.uuid()?;
        if hresult == 0 {
            out.push((iid, ipid));
        }
    }
    Ok(out)
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
    let units: Vec<u16> = crate::ndr::utf16_units(stub, little_endian).collect();
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

/// OBJREF signature "MEOW" (MS-DCOM §2.2.18).
pub const OBJREF_SIGNATURE: [u8; 4] = *b"MEOW";

/// The kind of an OBJREF (MS-DCOM §2.2.18, its `flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjrefKind {
    /// OBJREF_STANDARD.
    Standard,
    /// OBJREF_HANDLER.
    Handler,
    /// OBJREF_CUSTOM.
    Custom,
    /// OBJREF_EXTENDED.
    Extended,
}

impl ObjrefKind {
    /// Its name in lower case (`standard`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Handler => "handler",
            Self::Custom => "custom",
            Self::Extended => "extended",
        }
    }
}

/// An OBJREF's header and, but for custom ones, its STDOBJREF (MS-DCOM §2.2.18.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Objref {
    /// Which kind.
    pub kind: ObjrefKind,
    /// The interface's IID.
    pub iid: Uuid,
    /// OXID, OID and IPID of the object; none in a custom OBJREF.
    pub std: Option<(u64, u64, Uuid)>,
}

/// The OBJREF that `b` starts with, if it is one.
#[must_use]
pub fn parse_objref(b: &[u8]) -> Option<Objref> {
    if b.get(..4)? != OBJREF_SIGNATURE {
        return None;
    }
    let kind = match le32_at(b, 4)? {
        1 => ObjrefKind::Standard,
        2 => ObjrefKind::Handler,
        4 => ObjrefKind::Custom,
        8 => ObjrefKind::Extended,
        _ => return None,
    };
    let iid = uuid_at(b, 8)?;
    // STDOBJREF: flags, cPublicRefs, then oxid, oid, ipid
    let std = match kind {
        ObjrefKind::Custom => None,
        _ => Some((le64_at(b, 32)?, le64_at(b, 40)?, uuid_at(b, 48)?)),
    };
    Some(Objref { kind, iid, std })
}

/// Marshalled interface pointers (OBJREFs) in a stub, as (interface IID, IPID) pairs: the IPID
/// names the object interface that later ORPC requests address in their object UUID. Standard,
/// handler and extended OBJREFs carry a STDOBJREF with the IPID; custom ones do not.
#[must_use]
pub fn scan_objrefs(stub: &[u8]) -> Vec<(Uuid, Uuid)> {
    let mut out = Vec::new();
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
            && !out.contains(&(o.iid, ipid))
        {
            out.push((o.iid, ipid));
        }
    }
    out
}

/// CLSID of the activation properties' InstantiationInfoData property (MS-DCOM §2.2.22.2.1).
const CLSID_INSTANTIATION_INFO: Uuid = Uuid([
    0x00, 0x00, 0x01, 0xab, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
]);
/// DCOM classes that matter to incident responders and are not in Microsoft's published IDL
/// (the built-in table's `coclass` rows name those): the classes of the known DCOM lateral
/// movement techniques and WMI's login class (MS-WMI §1.9).
const KNOWN_CLASSES: &[(&str, &str)] = &[
    ("49b2791a-b1ae-4c90-9b8e-e860ba07f889", "MMC20.Application"),
    ("9ba05972-f6a8-11cf-a442-00a0c90a8f39", "ShellWindows"),
    ("c08afd90-f2a1-11d1-8455-00a0c91f3880", "ShellBrowserWindow"),
    (
        "0002df01-0000-0000-c000-000000000046",
        "InternetExplorer.Application",
    ),
    ("00024500-0000-0000-c000-000000000046", "Excel.Application"),
    ("000209ff-0000-0000-c000-000000000046", "Word.Application"),
    (
        "0006f03a-0000-0000-c000-000000000046",
        "Outlook.Application",
    ),
    ("8bc3f05e-d86b-11d0-a075-00c04fb68820", "WbemLevel1Login"),
];

/// The name of a DCOM class: the well-known ones, then the built-in table's classes.
#[must_use]
pub fn class_name(clsid: Uuid) -> Option<String> {
    let text = clsid.to_string();
    KNOWN_CLASSES
        .iter()
        .find(|(c, _)| *c == text)
        .map(|(_, n)| (*n).to_string())
        .or_else(|| {
            crate::idl::table::builtin()
                .coclass(clsid)
                .map(str::to_string)
        })
}

/// Properties of one activation request read at most; a request naming more gets no class.
pub const MAX_ACTIVATION_PROPERTIES: usize = 64;

/// The class an activation request asks for (IRemoteSCMActivator RemoteCreateInstance and
/// RemoteGetClassObject, MS-DCOM §3.1.2.5.2.3): the `classId` of the InstantiationInfoData
/// property in the activation properties the request carries as a custom OBJREF (§2.2.18.6,
/// `pActProperties`). The ActivationPropertiesBlob (§2.2.22.1) is a CustomHeader then the
/// properties, each serialized with its own type-serialization headers (MS-RPCE §2.2.6: 8 bytes
/// common, 8 bytes private); the header lists every property's CLSID and size.
#[must_use]
pub fn activated_class(request: &[u8]) -> Option<Uuid> {
    let at = request.windows(4).position(|w| w == OBJREF_SIGNATURE)?;
    let objref = request.get(at..)?;
    if parse_objref(objref)?.kind != ObjrefKind::Custom {
        return None;
    }
    // a custom OBJREF: header (24), then clsid, cbExtension, size, and the data from 48
    let blob = objref.get(48..)?;
    // ActivationPropertiesBlob: dwSize, dwReserved, then the serialized CustomHeader
    let header = blob.get(8..)?;
    // type serialization headers (16), then totalSize, headerSize, dwReserved, destCtx, cIfs,
    // classInfoClsid, three unique pointers, then the clsid array and the size array
    let fields = header.get(16..)?;
    let header_size = usize::try_from(le32_at(fields, 4)?).ok()?;
    let count = usize::try_from(le32_at(fields, 16)?).ok()?;
    if count == 0 || count > MAX_ACTIVATION_PROPERTIES {
        return None;
    }
    let clsids_at = 20 + 16 + 12 + 4; // after the pointers, the array's maximum count
    let sizes_at = clsids_at + count * 16 + 4;
    let mut offset = header_size;
    for i in 0..count {
        let clsid = uuid_at(fields, clsids_at + i * 16)?;
        let size = usize::try_from(le32_at(fields, sizes_at + i * 4)?).ok()?;
        if clsid == CLSID_INSTANTIATION_INFO {
            // the property's own serialization headers, then classId
            return uuid_at(header, offset.checked_add(16)?);
        }
        offset = offset.checked_add(size)?;
    }
    None
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
    fn finds_interface_pointers() {
        let iid = Uuid::parse("9556dc99-828c-11cf-a37e-00aa003240c7").unwrap();
        let ipid = Uuid::parse("00009c02-0de8-ffff-1e0e-61a2e0a5d3e9").unwrap();
        let wire = |u: Uuid| {
            let mut b = u.0;
            b[0..4].reverse();
            b[4..6].reverse();
            b[6..8].reverse();
            b
        };
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
        let wire = |u: Uuid| {
            let mut b = u.0;
            b[0..4].reverse();
            b[4..6].reverse();
            b[6..8].reverse();
            b
        };
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
        a.extend([0u8; 8]); // flags, cPublicRefs
        a.extend([0u8; 4]); // pad to 8
        a.extend([0u8; 16]); // OXID, OID
        a.extend(wire(ipid));
        a.extend(0u32.to_le_bytes());
        assert_eq!(
            rem_query_interface(&q, &a, [true, true]).unwrap(),
            [(iid, ipid)]
        );
    }

    #[test]
    fn ignores_noise() {
        let (view, eps) = decode_response(&[7, 0, 0xff, 0xff, 0, 0, 1, 2, 3], true);
        assert!(view.bindings.is_empty() && eps.is_empty());
    }

    /// A RemoteCreateInstance request built as MS-DCOM §2.2.22 lays it out: ORPCTHIS, the
    /// pUnkOuter null pointer, then pActProperties: MInterfacePointer, custom OBJREF,
    /// ActivationPropertiesBlob with a CustomHeader naming two properties.
    fn activation_request(class: Uuid) -> Vec<u8> {
        let guid = |u: Uuid| -> Vec<u8> {
            let b = u.0;
            let mut v = vec![b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]];
            v.extend_from_slice(&b[8..]);
            v
        };
        let serialization = |len: u32| -> Vec<u8> {
            let mut v = vec![1, 0x10, 8, 0, 0xcc, 0xcc, 0xcc, 0xcc];
            v.extend(len.to_le_bytes());
            v.extend([0; 4]);
            v
        };
        let special = Uuid::parse("000001b9-0000-0000-c000-000000000046").unwrap();
        let mut header = serialization(0);
        // totalSize, headerSize (patched), dwReserved, destCtx, cIfs, classInfoClsid,
        // pclsid, pSizes, pdwReserved, clsids, sizes
        header.extend([0; 4]);
        header.extend([0; 4]);
        header.extend([0; 4]);
        header.extend(2u32.to_le_bytes());
        header.extend(2u32.to_le_bytes());
        header.extend([0; 16]);
        header.extend(0x0002_0000u32.to_le_bytes());
        header.extend(0x0002_0004u32.to_le_bytes());
        header.extend(0u32.to_le_bytes());
        header.extend(2u32.to_le_bytes());
        header.extend(guid(special));
        header.extend(guid(CLSID_INSTANTIATION_INFO));
        header.extend(2u32.to_le_bytes());
        header.extend(24u32.to_le_bytes());
        header.extend(40u32.to_le_bytes());
        while header.len() % 8 != 0 {
            header.push(0);
        }
        let header_size = u32::try_from(header.len()).unwrap();
        header[20..24].copy_from_slice(&header_size.to_le_bytes());
        let mut props = serialization(8);
        props.extend([0; 8]);
        props.extend(serialization(24));
        props.extend(guid(class));
        props.extend([0; 8]);
        let mut blob = Vec::new();
        blob.extend(
            u32::try_from(header.len() + props.len())
                .unwrap()
                .to_le_bytes(),
        );
        blob.extend([0; 4]);
        blob.extend(header);
        blob.extend(props);
        let mut objref = OBJREF_SIGNATURE.to_vec();
        objref.extend(4u32.to_le_bytes());
        objref.extend([0; 32]);
        objref.extend([0; 4]);
        objref.extend(u32::try_from(blob.len()).unwrap().to_le_bytes());
        objref.extend(blob);
        let mut stub = vec![0u8; 32];
        stub.extend(0u32.to_le_bytes());
        stub.extend(0x0002_0000u32.to_le_bytes());
        stub.extend(u32::try_from(objref.len()).unwrap().to_le_bytes());
        stub.extend(u32::try_from(objref.len()).unwrap().to_le_bytes());
        stub.extend(objref);
        stub
    }

    #[test]
    fn finds_the_activated_class_and_survives_any_cut() {
        let mmc = Uuid::parse("49b2791a-b1ae-4c90-9b8e-e860ba07f889").unwrap();
        let stub = activation_request(mmc);
        assert_eq!(activated_class(&stub), Some(mmc));
        assert_eq!(class_name(mmc).as_deref(), Some("MMC20.Application"));
        for cut in 0..stub.len() {
            // never a panic; a cut before the class gives none
            let _ = activated_class(&stub[..cut]);
        }
        assert_eq!(activated_class(&stub[..stub.len() - 24]), None);
    }
}
