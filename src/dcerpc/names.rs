//! Interface and operation names from the data tables in `src/dcerpc/data/`:
//! `interfaces.tsv` (UUID, version, name, other names) and `operations.tsv` (UUID, opnum, name).
//! The tables are facts merged from public sources (see the comment lines at their top); they are
//! compiled into the binary and indexed on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Uuid;

const INTERFACES_TSV: &str = include_str!("data/interfaces.tsv");
const OPERATIONS_TSV: &str = include_str!("data/operations.tsv");

#[derive(Debug, Default)]
struct Tables {
    /// (uuid, major version) → name; major `None` when the table gives no version.
    interfaces: HashMap<(Uuid, Option<u16>), &'static str>,
    operations: HashMap<(Uuid, u16), &'static str>,
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

/// Name of operation `opnum` of an interface.
#[must_use]
pub fn operation_name(uuid: Uuid, opnum: u16) -> Option<&'static str> {
    tables().operations.get(&(uuid, opnum)).copied()
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
    fn tables_hold_every_row() {
        let (interfaces, operations) = table_sizes();
        assert!(interfaces >= 499, "{interfaces} interfaces");
        assert!(operations >= 2550, "{operations} operations");
    }
}
