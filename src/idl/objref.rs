//! DCOM wire facts the value decoder and the DCOM analysis share: the byte layout of an
//! OBJREF (MS-DCOM §2.2.18; an `MInterfacePointer`'s bytes, little-endian whatever the PDU's
//! data representation) and the names of DCOM classes (well-known ones, then the built-in
//! table's `coclass` rows).

use crate::dce::Uuid;
use crate::ndr::{le32_at, le64_at, uuid_at};

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
        .or_else(|| super::table::builtin().coclass(clsid).map(str::to_string))
}

/// The object data of a custom OBJREF (MS-DCOM §2.2.18.6: after the header, the unmarshaler's
/// CLSID, `cbExtension` and `size`, the `size` bytes its unmarshaler reads); none for another
/// kind of OBJREF.
#[must_use]
pub fn custom_data(b: &[u8]) -> Option<(Uuid, &[u8])> {
    if parse_objref(b)?.kind != ObjrefKind::Custom {
        return None;
    }
    let unmarshaler = uuid_at(b, 24)?;
    let size = usize::try_from(le32_at(b, 44)?).ok()?;
    let data = b.get(48..)?;
    Some((unmarshaler, data.get(..size).unwrap_or(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_standard_and_custom_objrefs() {
        let mut b = OBJREF_SIGNATURE.to_vec();
        b.extend(1u32.to_le_bytes());
        b.extend([0x11; 16]); // iid
        b.extend([0; 8]); // flags, cPublicRefs
        b.extend(7u64.to_le_bytes());
        b.extend(9u64.to_le_bytes());
        b.extend([0x22; 16]); // ipid
        let o = parse_objref(&b).unwrap();
        assert_eq!(o.kind, ObjrefKind::Standard);
        assert_eq!(o.std.map(|(oxid, oid, _)| (oxid, oid)), Some((7, 9)));
        assert!(custom_data(&b).is_none());
        let mut c = OBJREF_SIGNATURE.to_vec();
        c.extend(4u32.to_le_bytes());
        c.extend([0; 16]);
        c.extend([0x33; 16]); // unmarshaler clsid
        c.extend(0u32.to_le_bytes());
        c.extend(3u32.to_le_bytes());
        c.extend([1, 2, 3, 4]);
        let (clsid, data) = custom_data(&c).unwrap();
        assert_eq!((clsid.0[0], data), (0x33, &[1u8, 2, 3][..]));
        assert!(parse_objref(b"MEOW").is_none());
    }
}
