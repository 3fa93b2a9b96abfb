//! Interface and operation names from the data tables in `src/dce/data/`:
//! `interfaces.tsv` (UUID, version, name, other names) and `operations.tsv` (UUID, opnum, name).
//! The tables are facts merged from public sources (see the comment lines at their top); they are
//! compiled into the binary and indexed on first use.

use crate::hash::FastMap;
use std::sync::OnceLock;

use super::Uuid;

const INTERFACES_TSV: &str = include_str!("data/interfaces.tsv");
const OPERATIONS_TSV: &str = include_str!("data/operations.tsv");

#[derive(Debug, Default)]
struct Tables {
    /// (uuid, major version) → name; major `None` when the table gives no version.
    interfaces: FastMap<(Uuid, Option<u16>), &'static str>,
    /// uuid → the first other name of one word (`epmapper`, `netlogon`, `IRemUnknown2`).
    short_names: FastMap<Uuid, &'static str>,
    operations: FastMap<(Uuid, u16), &'static str>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables::default();
        for line in INTERFACES_TSV.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(uuid), Some(version), Some(name)) = (cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            let Some(uuid) = Uuid::parse(uuid) else {
                continue;
            };
            let major = version
                .split('.')
                .next()
                .and_then(|m| m.parse::<u16>().ok());
            if let Some(short) = cols
                .next()
                .and_then(|other| other.split(',').next())
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.contains(' '))
            {
                t.short_names.entry(uuid).or_insert(short);
            }
            t.interfaces.entry((uuid, major)).or_insert(name);
            t.interfaces.entry((uuid, None)).or_insert(name);
        }
        for line in OPERATIONS_TSV.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(uuid), Some(opnum), Some(name)) = (cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            if let (Some(uuid), Ok(opnum)) = (Uuid::parse(uuid), opnum.parse::<u16>()) {
                t.operations.insert((uuid, opnum), name);
            }
        }
        t
    })
}

/// Name of an interface; the exact major version is preferred, then any entry for the UUID.
#[must_use]
pub fn interface_name(uuid: Uuid, major: u16) -> Option<&'static str> {
    let t = tables();
    t.interfaces
        .get(&(uuid, Some(major)))
        .or_else(|| t.interfaces.get(&(uuid, None)))
        .copied()
}

/// The short name of an interface as log formats spell it (Zeek's `endpoint`): its other name
/// of one word where the table gives one (`epmapper`, `netlogon`, `exchange_mapi`,
/// `IRemUnknown2`), else its name in lower case (`samr`, `svcctl`) unless it is a COM
/// interface's (`IDispatch` stays).
#[must_use]
pub fn short_interface_name(uuid: Uuid, major: u16) -> Option<String> {
    if let Some(short) = tables().short_names.get(&uuid) {
        return Some((*short).to_string());
    }
    let name = interface_name(uuid, major)?;
    let com = name.len() > 1
        && name.starts_with('I')
        && name[1..].starts_with(|c: char| c.is_ascii_uppercase());
    Some(if com {
        name.to_string()
    } else {
        name.to_ascii_lowercase()
    })
}

/// Name of operation `opnum` of an interface.
#[must_use]
pub fn operation_name(uuid: Uuid, opnum: u16) -> Option<&'static str> {
    tables().operations.get(&(uuid, opnum)).copied()
}

/// Well-known named pipes and the interface usually reached through each (MS-RPCE and the
/// protocol specifications; a pipe such as `lsarpc` can host more than one interface, so this is
/// a best guess used only when no bind was captured).
const PIPE_INTERFACES: [(&str, &str, u16, u16); 22] = [
    ("samr", "12345778-1234-abcd-ef00-0123456789ac", 1, 0),
    ("lsarpc", "12345778-1234-abcd-ef00-0123456789ab", 0, 0),
    ("lsass", "12345778-1234-abcd-ef00-0123456789ab", 0, 0),
    ("srvsvc", "4b324fc8-1670-01d3-1278-5a47bf6ee188", 3, 0),
    ("wkssvc", "6bffd098-a112-3610-9833-46c3f87e345a", 1, 0),
    ("winreg", "338cd001-2244-31f1-aaaa-900038001003", 1, 0),
    ("svcctl", "367abb81-9844-35f1-ad32-98f038001003", 2, 0),
    ("netlogon", "12345678-1234-abcd-ef00-01234567cffb", 1, 0),
    ("spoolss", "12345678-1234-abcd-ef00-0123456789ab", 1, 0),
    ("eventlog", "82273fdc-e32a-18c3-3f78-827929dc23ea", 0, 0),
    ("atsvc", "1ff70682-0a51-30e8-076d-740be8cee98b", 1, 0),
    ("epmapper", "e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3, 0),
    ("efsrpc", "df1941c5-fe89-4e79-bf10-463657acf44d", 1, 0),
    ("netdfs", "4fc742e0-4a10-11cf-8273-00aa004ae673", 3, 0),
    ("browser", "6bffd098-a112-3610-9833-012892020162", 0, 0),
    ("ntsvcs", "8d9f4e40-a03d-11ce-8f69-08003e30051b", 1, 0),
    ("initshutdown", "894de0c0-0d55-11d3-a322-00c04fa321a1", 1, 0),
    (
        "protected_storage",
        "3dde7c30-165d-11d1-ab8f-00805f14db40",
        1,
        0,
    ),
    ("trkwks", "300f3532-38cc-11d0-a3f0-0020af6b0add", 1, 2),
    ("cert", "91ae6020-9e3c-11cf-8d7c-00aa00c091be", 0, 0),
    ("dnsserver", "50abc2a4-574d-40b3-9d66-ee4fd5fba076", 5, 0),
    ("fssagentrpc", "a8e0653c-2744-4389-a61d-7373df8b2292", 1, 0),
];

/// The interface usually reached through a named pipe (`samr`, `\PIPE\samr`, `\lsarpc`, any
/// case), as (UUID, major, minor).
#[must_use]
pub fn interface_for_pipe(pipe: &str) -> Option<(Uuid, u16, u16)> {
    let lower = pipe.to_ascii_lowercase();
    let mut name = lower.trim_start_matches('\\');
    if let Some(rest) = name.strip_prefix("pipe\\") {
        name = rest;
    }
    let &(_, uuid, major, minor) = PIPE_INTERFACES.iter().find(|(p, ..)| *p == name)?;
    Some((Uuid::parse(uuid)?, major, minor))
}

/// Number of interfaces and operations in the tables (for tests and `--version` style output).
#[must_use]
pub fn table_sizes() -> (usize, usize) {
    let t = tables();
    let interfaces: std::collections::HashSet<Uuid> = t.interfaces.keys().map(|k| k.0).collect();
    (interfaces.len(), t.operations.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_interfaces_and_operations() {
        let epm = Uuid::parse("e1af8308-5d1f-11c9-91a4-08002b14a0fa").unwrap();
        assert_eq!(interface_name(epm, 3), Some("Epm"));
        assert_eq!(interface_name(epm, 4), Some("Epm"));
        assert_eq!(operation_name(epm, 3), Some("ept_map"));
        let samr = Uuid::parse("12345778-1234-abcd-ef00-0123456789ac").unwrap();
        assert_eq!(operation_name(samr, 64), Some("SamrConnect5"));
        assert_eq!(operation_name(samr, 9999), None);
    }

    #[test]
    fn maps_pipe_names_to_interfaces() {
        let samr = Uuid::parse("12345778-1234-abcd-ef00-0123456789ac").unwrap();
        assert_eq!(interface_for_pipe("samr"), Some((samr, 1, 0)));
        assert_eq!(interface_for_pipe("\\PIPE\\SAMR"), Some((samr, 1, 0)));
        assert_eq!(interface_for_pipe("\\samr"), Some((samr, 1, 0)));
        assert_eq!(interface_for_pipe("\\PIPE\\lsass").map(|i| i.1), Some(0));
        assert_eq!(interface_for_pipe("mystery"), None);
    }

    #[test]
    fn tables_hold_every_row() {
        let (interfaces, operations) = table_sizes();
        assert!(interfaces >= 499, "{interfaces} interfaces");
        assert!(operations >= 2550, "{operations} operations");
    }
}
