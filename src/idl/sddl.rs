//! Security descriptors as SDDL (analysis layer; MS-DTYP §2.4.6 SECURITY_DESCRIPTOR in its
//! self-relative form, §2.4.5 ACL, §2.4.4 ACEs, §2.5.1 the SDDL syntax): what a parameter
//! holding one (`SamrQuerySecurityObject`, `BaseRegGetKeySecurity`,
//! `RQueryServiceObjectSecurity`) reads as.

use std::fmt::Write as _;

use crate::ndr::{le16_at, le32_at, uuid_at};

/// ACEs read from one ACL at most.
pub const MAX_ACES: usize = 1024;

/// SIDs SDDL writes by their two-letter alias (MS-DTYP §2.5.1.1).
const ALIASES: &[(&str, &str)] = &[
    ("S-1-1-0", "WD"),
    ("S-1-3-0", "CO"),
    ("S-1-3-1", "CG"),
    ("S-1-5-4", "IU"),
    ("S-1-5-6", "SU"),
    ("S-1-5-7", "AN"),
    ("S-1-5-9", "ED"),
    ("S-1-5-10", "PS"),
    ("S-1-5-11", "AU"),
    ("S-1-5-12", "RC"),
    ("S-1-5-18", "SY"),
    ("S-1-5-19", "LS"),
    ("S-1-5-20", "NS"),
    ("S-1-5-32-544", "BA"),
    ("S-1-5-32-545", "BU"),
    ("S-1-5-32-546", "BG"),
    ("S-1-5-32-547", "PU"),
    ("S-1-5-32-548", "AO"),
    ("S-1-5-32-549", "SO"),
    ("S-1-5-32-550", "PO"),
    ("S-1-5-32-551", "BO"),
    ("S-1-5-32-552", "RE"),
    ("S-1-5-32-554", "RU"),
    ("S-1-5-32-555", "RD"),
    ("S-1-5-32-556", "NO"),
];

/// A SID in its binary form (MS-DTYP §2.4.2.2) at `at`: its text and its length.
fn sid(b: &[u8], at: usize) -> Option<(String, usize)> {
    let revision = *b.get(at)?;
    let count = usize::from(*b.get(at + 1)?);
    let authority = b
        .get(at + 2..at + 8)?
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let mut text = format!("S-{revision}-{authority}");
    for i in 0..count {
        let o = at + 8 + i * 4;
        let sub = le32_at(b, o)?;
        let _ = write!(text, "-{sub}");
    }
    Some((text, 8 + count * 4))
}

fn alias(sid: String) -> String {
    ALIASES
        .iter()
        .find(|(s, _)| *s == sid)
        .map_or(sid, |(_, a)| (*a).to_string())
}

fn ace_type(t: u8) -> String {
    match t {
        0x00 => "A".into(),
        0x01 => "D".into(),
        0x02 => "AU".into(),
        0x03 => "AL".into(),
        0x05 => "OA".into(),
        0x06 => "OD".into(),
        0x07 => "OU".into(),
        0x09 => "XA".into(),
        0x0a => "XD".into(),
        0x0d => "ZA".into(),
        0x11 => "ML".into(),
        0x12 => "RA".into(),
        0x13 => "SP".into(),
        0x14 => "TL".into(),
        t => format!("0x{t:02x}"),
    }
}

fn ace_flags(f: u8) -> String {
    [
        (0x01, "OI"),
        (0x02, "CI"),
        (0x04, "NP"),
        (0x08, "IO"),
        (0x10, "ID"),
        (0x40, "SA"),
        (0x80, "FA"),
    ]
    .iter()
    .filter(|(bit, _)| f & bit != 0)
    .map(|(_, s)| *s)
    .collect()
}

/// An ACL (MS-DTYP §2.4.5) at `at` as SDDL ACE strings.
fn acl(b: &[u8], at: usize) -> Option<String> {
    let count = usize::from(le16_at(b, at + 4)?);
    let mut out = String::new();
    let mut o = at + 8;
    for _ in 0..count.min(MAX_ACES) {
        let (t, flags, size) = (*b.get(o)?, *b.get(o + 1)?, usize::from(le16_at(b, o + 2)?));
        if size < 8 {
            return None;
        }
        let mask = le32_at(b, o + 4)?;
        let object = matches!(t, 0x05..=0x08 | 0x0b | 0x0c | 0x0f | 0x10);
        let (mut guids, mut sid_at) = (["".to_string(), "".to_string()], o + 8);
        if object {
            let present = le32_at(b, o + 8)?;
            sid_at = o + 12;
            for (i, bit) in [1u32, 2].into_iter().enumerate() {
                if present & bit != 0 {
                    guids[i] = uuid_at(b, sid_at)?.to_string();
                    sid_at += 16;
                }
            }
        }
        let (who, _) = sid(b, sid_at)?;
        let _ = write!(
            out,
            "({};{};0x{mask:x};{};{};{})",
            ace_type(t),
            ace_flags(flags),
            guids[0],
            guids[1],
            alias(who)
        );
        o += size;
    }
    Some(out)
}

/// A self-relative security descriptor as SDDL (`O:BAG:SYD:P(A;;0x1f01ff;;;BA)`), or none
/// when the bytes are not one.
#[must_use]
pub fn sddl(b: &[u8]) -> Option<String> {
    if b.len() < 20 || b[0] != 1 {
        return None;
    }
    let control = le16_at(b, 2)?;
    if control & 0x8000 == 0 {
        return None; // not self-relative
    }
    let (owner, group, sacl, dacl) = (
        le32_at(b, 4)?,
        le32_at(b, 8)?,
        le32_at(b, 12)?,
        le32_at(b, 16)?,
    );
    let at = |o: u32| usize::try_from(o).ok();
    let mut out = String::new();
    if owner != 0 {
        let _ = write!(out, "O:{}", alias(sid(b, at(owner)?)?.0));
    }
    if group != 0 {
        let _ = write!(out, "G:{}", alias(sid(b, at(group)?)?.0));
    }
    let acl_flags = |protected: u16, auto: u16, required: u16| {
        [(protected, "P"), (required, "AR"), (auto, "AI")]
            .iter()
            .filter(|(bit, _)| control & bit != 0)
            .map(|(_, s)| *s)
            .collect::<String>()
    };
    if control & 0x0004 != 0 {
        let flags = acl_flags(0x1000, 0x0400, 0x0100);
        match dacl {
            0 => out.push_str("D:NO_ACCESS_CONTROL"),
            o => {
                let _ = write!(out, "D:{flags}{}", acl(b, at(o)?)?);
            }
        }
    }
    if control & 0x0010 != 0 && sacl != 0 {
        let flags = acl_flags(0x2000, 0x0800, 0x0200);
        let _ = write!(out, "S:{flags}{}", acl(b, at(sacl)?)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid_bytes(authority: u8, subs: &[u32]) -> Vec<u8> {
        let mut v = vec![
            1,
            u8::try_from(subs.len()).unwrap(),
            0,
            0,
            0,
            0,
            0,
            authority,
        ];
        for s in subs {
            v.extend(s.to_le_bytes());
        }
        v
    }

    #[test]
    fn writes_owner_group_and_the_dacl_in_sddl() {
        let ba = sid_bytes(5, &[32, 544]);
        let sy = sid_bytes(5, &[18]);
        let user = sid_bytes(5, &[21, 1, 2, 3, 1104]);
        let mut aces = Vec::new();
        for (t, flags, mask, who) in [
            (0u8, 0x03u8, 0x001f_01ffu32, &ba),
            (1, 0x10, 0x2_0019, &user),
        ] {
            let size = u16::try_from(8 + who.len()).unwrap();
            aces.extend([t, flags]);
            aces.extend(size.to_le_bytes());
            aces.extend(mask.to_le_bytes());
            aces.extend(who);
        }
        let mut acl = vec![2, 0];
        acl.extend(u16::try_from(8 + aces.len()).unwrap().to_le_bytes());
        acl.extend(2u16.to_le_bytes());
        acl.extend([0, 0]);
        acl.extend(aces);
        let mut sd = vec![1, 0];
        sd.extend((0x8000u16 | 0x1000 | 0x0004).to_le_bytes());
        let owner = 20u32;
        let group = owner + u32::try_from(ba.len()).unwrap();
        let dacl = group + u32::try_from(sy.len()).unwrap();
        for o in [owner, group, 0, dacl] {
            sd.extend(o.to_le_bytes());
        }
        sd.extend(&ba);
        sd.extend(&sy);
        sd.extend(acl);
        assert_eq!(
            sddl(&sd).as_deref(),
            Some("O:BAG:SYD:P(A;OICI;0x1f01ff;;;BA)(D;ID;0x20019;;;S-1-5-21-1-2-3-1104)")
        );
        for cut in 0..sd.len() {
            assert!(sddl(&sd[..cut]).is_none() || cut >= 20);
        }
        assert_eq!(sddl(b"not a descriptor at all"), None);
    }
}
