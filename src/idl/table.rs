//! The description table: what rpcscope knows of every interface without reading IDL at run
//! time. `rpcscope compile-idl DIR` compiles IDL files (Microsoft's published ones for the
//! built-in table, `src/idl/data/ms-rpc.tsv`) into it; [`builtin`] reads the checked-in table
//! once. Rows, tab-separated, in the order written:
//!
//! ```text
//! interface  UUID  MAJOR.MINOR  NAME  PARENT|-  rpc|dcom
//! op         UUID  MAJOR  OPNUM  NAME  RETURN-TYPE  ntstatus|win32|hresult|error_status_t|-  PARAMS  RETURN
//! type       NAME  TYPE  TYPEDEF-ATTRIBUTES  context_handle|-
//! const      NAME  VALUE
//! coclass    CLSID  NAME
//! ```
//!
//! `PARAMS`, `RETURN`, `TYPE` and `TYPEDEF-ATTRIBUTES` are the front end's resolved type model
//! as JSON (constants evaluated, inherited DCOM methods in place, one interface per UUID and
//! version); [`builtin_library`] rebuilds a [`Library`] from them for parameter decoding. Names
//! and return kinds are read without them ([`builtin`]), so a run that decodes no parameter
//! never parses the types.
//!
//! An operation's return kind says how its return value reads: the last four bytes of a
//! whole, readable response stub (NDR marshals the return value after every \[out\]
//! parameter; C706 §14.3.3, MS-RPCE §2.2.5).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use super::{Attr, Coclass, Field, Interface, Library, Operation, Type};
use crate::dce::Uuid;
use crate::hash::FastMap;
use crate::status::StatusKind;

/// The built-in table, compiled from Microsoft's published IDL by `rpcscope compile-idl`.
const BUILTIN_TSV: &str = include_str!("data/ms-rpc.tsv");

/// Interfaces whose operations declare a plain 32-bit integer return type (`long`,
/// `unsigned long`, `LONG`, `ULONG`) and whose specification says it is an error code, with
/// that kind: MS-SAMR §3.1.5 (NTSTATUS), MS-EFSR §3.1.4, MS-WKST §3.2.4, MS-DRSR §4.1,
/// MS-DNSP §3.1.4, MS-RSP §3.2.4, MS-W32T §3.2.5, MS-FRS1 §3.3.4, MS-WDSC §3.1.4 (Win32 error
/// codes); MS-NSPI, MS-OXCRPC and MS-OXABREF return MAPI error codes (MS-OXCDATA §2.4), which
/// are HRESULTs in form. Other interfaces' integer returns are counts or comparisons.
const INTEGER_RETURNS: &[(&str, StatusKind)] = &[
    ("samr", StatusKind::NtStatus),
    ("efsrpc", StatusKind::Win32),
    ("efsr", StatusKind::Win32),
    ("wkssvc", StatusKind::Win32),
    ("drsuapi", StatusKind::Win32),
    ("dsaop", StatusKind::Win32),
    ("DnsServer", StatusKind::Win32),
    ("InitShutdown", StatusKind::Win32),
    ("WindowsShutdown", StatusKind::Win32),
    ("W32Time", StatusKind::Win32),
    ("NtFrsApi", StatusKind::Win32),
    ("frsrpc", StatusKind::Win32),
    ("WdsRpcInterface", StatusKind::Win32),
    ("nspi", StatusKind::HResult),
    ("emsmdb", StatusKind::HResult),
    ("asyncemsmdb", StatusKind::HResult),
    ("rfri", StatusKind::HResult),
];

/// Integer type names that say nothing of what the number means.
const PLAIN_INTEGERS: &[&str] = &[
    "long",
    "unsigned long",
    "int",
    "unsigned int",
    "LONG",
    "ULONG",
    "UINT",
    "INT",
];

/// The kind of error code an operation of `interface` returns, found by following the
/// return type's typedef names: `NTSTATUS` is an NTSTATUS; `HRESULT` an HRESULT;
/// `error_status_t` a DCE status (Win32 codes on Windows); `DWORD`, `NET_API_STATUS`,
/// `WERROR` a Win32 error code; a plain 32-bit integer is an error code only for the
/// interfaces whose specification says so (`INTEGER_RETURNS`). Anything else (`BOOLEAN`, handles) is not. A `void`
/// operation whose last parameter is `[out] error_status_t *` (the endpoint mapper's and the
/// management interface's style, C706 appendix N and O) returns its status there, also in
/// the last four bytes.
#[must_use]
pub fn return_kind(lib: &Library, interface: &str, op: &Operation) -> Option<StatusKind> {
    if matches!(&op.ret, Type::Base(b) if b == "void") {
        let last = op.params.last()?;
        let status_out = last.has("out")
            && matches!(&last.ty, Type::Pointer(t) if matches!(&**t,
                Type::Base(b) | Type::Named(b) if b == "error_status_t"));
        return status_out.then_some(StatusKind::ErrorStatusT);
    }
    type_kind(lib, interface, &op.ret)
}

fn type_kind(lib: &Library, interface: &str, ret: &Type) -> Option<StatusKind> {
    let integer = || {
        INTEGER_RETURNS
            .iter()
            .find(|(name, _)| *name == interface)
            .map(|(_, kind)| *kind)
    };
    let mut ty = ret;
    for _ in 0..16 {
        match ty {
            Type::Base(b) if b == "error_status_t" => return Some(StatusKind::ErrorStatusT),
            Type::Base(b) if PLAIN_INTEGERS.contains(&b.as_str()) => return integer(),
            Type::Named(n) => {
                match n.as_str() {
                    "NTSTATUS" => return Some(StatusKind::NtStatus),
                    "HRESULT" => return Some(StatusKind::HResult),
                    "error_status_t" => return Some(StatusKind::ErrorStatusT),
                    "DWORD" | "NET_API_STATUS" | "WERROR" => return Some(StatusKind::Win32),
                    p if PLAIN_INTEGERS.contains(&p) => return integer(),
                    _ => {}
                }
                ty = lib.types.get(n)?;
            }
            _ => return None,
        }
    }
    None
}

/// Interfaces published under one UUID and served under another as well: MS-EFSR §2.1 offers
/// the EFSRPC interface as c681d488-... on `\pipe\lsarpc` and as df1941c5-... on
/// `\pipe\efsrpc`.
const ALIASES: &[(&str, &str, &str)] = &[(
    "c681d488-d850-11d0-8c52-00c04fd90f7e",
    "df1941c5-fe89-4e79-bf10-463657acf44d",
    "efsr",
)];

fn type_label(ty: &Type) -> String {
    match ty {
        Type::Base(b) => b.clone(),
        Type::Named(n) => n.clone(),
        Type::Pointer(t) => format!("{}*", type_label(t)),
        _ => "-".into(),
    }
}

/// Tabs and line ends cannot be part of a table cell.
fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Writes the table for a library (see the module documentation). `source` is written in the
/// first comment line; interfaces appear in the order read, each UUID and major version once.
#[must_use]
pub fn compile(lib: &Library, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# rpcscope interface descriptions compiled from {} by `rpcscope compile-idl`; do not edit",
        cell(source)
    );
    let mut seen = std::collections::HashSet::new();
    let aliased = lib.interfaces.iter().flat_map(|i| {
        ALIASES
            .iter()
            .filter(|(of, _, _)| i.uuid.to_string() == *of)
            .filter_map(move |(_, alias, name)| Some((i, Uuid::parse(alias)?, *name)))
    });
    let all = lib
        .interfaces
        .iter()
        .map(|i| (i, i.uuid, i.name.as_str()))
        .chain(aliased);
    for (i, uuid, name) in all {
        if !seen.insert((uuid, i.version.0)) {
            continue;
        }
        let _ = writeln!(
            out,
            "interface\t{uuid}\t{}.{}\t{}\t{}\t{}",
            i.version.0,
            i.version.1,
            cell(name),
            i.parent.as_deref().map_or_else(|| "-".to_string(), cell),
            if i.object { "dcom" } else { "rpc" },
        );
        for (opnum, op) in i.operations.iter().enumerate() {
            let _ = writeln!(
                out,
                "op\t{uuid}\t{}\t{opnum}\t{}\t{}\t{}\t{}\t{}",
                i.version.0,
                cell(&op.name),
                cell(&type_label(&op.ret)),
                return_kind(lib, &i.name, op).map_or("-", StatusKind::name),
                json(&op.params),
                json(&op.ret),
            );
        }
    }
    let mut names: Vec<&String> = lib.types.keys().collect();
    names.sort();
    for name in names {
        let attrs = lib.typedef_attrs.get(name).map_or_else(|| "-".into(), json);
        let handle = if lib.context_handles.contains(name) {
            "context_handle"
        } else {
            "-"
        };
        let _ = writeln!(
            out,
            "type\t{}\t{}\t{attrs}\t{handle}",
            cell(name),
            json(&lib.types[name])
        );
    }
    let mut constants: Vec<(&String, &i64)> = lib.constants.iter().collect();
    constants.sort();
    for (name, value) in constants {
        let _ = writeln!(out, "const\t{}\t{value}", cell(name));
    }
    let mut classes = std::collections::HashSet::new();
    for c in &lib.coclasses {
        if classes.insert(c.uuid) {
            let _ = writeln!(out, "coclass\t{}\t{}", c.uuid, cell(&c.name));
        }
    }
    out
}

/// JSON of a part of the type model (serde_json escapes every control character, so a cell
/// never holds a tab or a line end).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The UUID and `MAJOR.MINOR` version of an `interface` row.
fn interface_id(uuid: &str, version: &str) -> Option<(Uuid, (u16, u16))> {
    let uuid = Uuid::parse(uuid)?;
    let mut v = version.split('.').map(|x| x.parse::<u16>().unwrap_or(0));
    Some((uuid, (v.next().unwrap_or(0), v.next().unwrap_or(0))))
}

/// Rebuilds the description library from a table: interfaces with their operations'
/// parameters, typedefs, constants and DCOM classes. Rows that do not parse are skipped.
#[must_use]
pub fn library_from(text: &str) -> Library {
    let mut lib = Library::default();
    let mut at: HashMap<(Uuid, u16), usize> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols.as_slice() {
            ["interface", uuid, version, name, parent, kind, ..] => {
                let Some((uuid, version)) = interface_id(uuid, version) else {
                    continue;
                };
                at.insert((uuid, version.0), lib.interfaces.len());
                lib.interfaces.push(Interface {
                    name: (*name).to_string(),
                    uuid,
                    version,
                    operations: Vec::new(),
                    parent: (*parent != "-").then(|| (*parent).to_string()),
                    object: *kind == "dcom",
                    inherited: 0,
                });
            }
            [
                "op",
                uuid,
                major,
                _opnum,
                name,
                _label,
                _kind,
                params,
                ret,
                ..,
            ] => {
                let (Some(uuid), Ok(major)) = (Uuid::parse(uuid), major.parse::<u16>()) else {
                    continue;
                };
                let (Ok(params), Ok(ret)) = (
                    serde_json::from_str::<Vec<Field>>(params),
                    serde_json::from_str::<Type>(ret),
                ) else {
                    continue;
                };
                if let Some(i) = at
                    .get(&(uuid, major))
                    .and_then(|&i| lib.interfaces.get_mut(i))
                {
                    i.operations.push(Operation {
                        name: (*name).to_string(),
                        ret,
                        params,
                        attrs: Vec::new(),
                    });
                }
            }
            ["type", name, ty, attrs, handle, ..] => {
                let Ok(ty) = serde_json::from_str::<Type>(ty) else {
                    continue;
                };
                if let Ok(attrs) = serde_json::from_str::<Vec<Attr>>(attrs) {
                    lib.typedef_attrs.insert((*name).to_string(), attrs);
                }
                if *handle == "context_handle" {
                    lib.context_handles.insert((*name).to_string());
                }
                lib.types.insert((*name).to_string(), ty);
            }
            ["const", name, value, ..] => {
                if let Ok(v) = value.parse() {
                    lib.constants.insert((*name).to_string(), v);
                }
            }
            ["coclass", uuid, name, ..] => {
                if let Some(uuid) = Uuid::parse(uuid) {
                    lib.coclasses.push(Coclass {
                        name: (*name).to_string(),
                        uuid,
                    });
                }
            }
            _ => {}
        }
    }
    lib.reindex();
    lib
}

/// The descriptions of the built-in table as a library, rebuilt on first use (only runs that
/// decode parameters need it).
#[must_use]
pub fn builtin_library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| library_from(BUILTIN_TSV))
}

/// A library of some interfaces of a table and the types their operations reach (typedefs
/// followed through members, `switch_type`/`wire_marshal` targets, DCOM's ORPCTHIS, ORPCTHAT
/// and MInterfacePointer, and the `extra_types` asked for), with every interface's name so
/// that DCOM interface pointers are recognised: far cheaper to build than the whole table.
#[must_use]
pub fn subset_library(text: &str, interfaces: &[(Uuid, u16)], extra_types: &[&str]) -> Library {
    let mut type_rows: HashMap<&str, &str> = HashMap::new();
    let mut kept: Vec<&str> = Vec::new();
    let mut wanted: Vec<String> = ["ORPCTHIS", "ORPCTHAT", "MInterfacePointer"]
        .iter()
        .chain(extra_types)
        .map(|s| (*s).to_string())
        .collect();
    let chosen = |uuid: &str, major: &str| {
        let (Some(uuid), Ok(major)) = (Uuid::parse(uuid), major.parse::<u16>()) else {
            return false;
        };
        interfaces.contains(&(uuid, major))
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.splitn(6, '\t').collect();
        match cols.as_slice() {
            ["interface", ..] => kept.push(line),
            ["op", uuid, major, ..] if chosen(uuid, major) => {
                let cols: Vec<&str> = line.split('\t').collect();
                for json in cols.get(7..9).unwrap_or_default() {
                    names_in_json(json, &mut wanted);
                }
                kept.push(line);
            }
            ["type", name, ..] => {
                type_rows.insert(name, line);
            }
            _ => {}
        }
    }
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(row) = type_rows.get(name.as_str()) {
            let cols: Vec<&str> = row.split('\t').collect();
            for json in cols.get(2..4).unwrap_or_default() {
                names_in_json(json, &mut wanted);
            }
            kept.push(row);
        }
    }
    library_from(&kept.join("\n"))
}

/// Adds the type names a JSON cell of the type model mentions: named types (`{"N":"X"}`) and
/// the arguments of `switch_type` and `wire_marshal` attributes.
fn names_in_json(json: &str, out: &mut Vec<String>) {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(n)) = map.get("N") {
                    out.push(n.clone());
                }
                if let (Some(serde_json::Value::String(attr)), Some(serde_json::Value::String(arg))) =
                    (map.get("n"), map.get("v"))
                    && matches!(attr.as_str(), "switch_type" | "wire_marshal")
                {
                    out.push(arg.trim().to_string());
                }
                map.values().for_each(|x| walk(x, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json) {
        walk(&v, out);
    }
}

/// Some interfaces of the built-in table as a library ([`subset_library`]).
#[must_use]
pub fn builtin_subset(interfaces: &[(Uuid, u16)], extra_types: &[&str]) -> Library {
    subset_library(BUILTIN_TSV, interfaces, extra_types)
}

/// An operation as the table describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationEntry {
    /// Name.
    pub name: String,
    /// How its return value reads, when it is an error code.
    pub returns: Option<StatusKind>,
}

/// An interface as the table describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceEntry {
    /// Name.
    pub name: String,
    /// Version (major, minor).
    pub version: (u16, u16),
    /// A DCOM interface.
    pub dcom: bool,
    /// Operations by opnum.
    pub operations: Vec<OperationEntry>,
}

/// A description table, indexed by interface UUID and major version.
#[derive(Debug, Default)]
pub struct Table {
    interfaces: FastMap<(Uuid, u16), InterfaceEntry>,
    by_uuid: FastMap<Uuid, u16>,
    coclasses: FastMap<Uuid, String>,
}

impl Table {
    /// Reads a table; rows that do not parse are skipped.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut t = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            match cols.as_slice() {
                ["interface", uuid, version, name, _parent, kind, ..] => {
                    let Some((uuid, version)) = interface_id(uuid, version) else {
                        continue;
                    };
                    t.by_uuid.entry(uuid).or_insert(version.0);
                    t.interfaces.insert(
                        (uuid, version.0),
                        InterfaceEntry {
                            name: (*name).to_string(),
                            version,
                            dcom: *kind == "dcom",
                            operations: Vec::new(),
                        },
                    );
                }
                ["op", uuid, major, opnum, name, _ret, kind, ..] => {
                    let (Some(uuid), Ok(major), Ok(opnum)) =
                        (Uuid::parse(uuid), major.parse(), opnum.parse::<usize>())
                    else {
                        continue;
                    };
                    if let Some(i) = t.interfaces.get_mut(&(uuid, major))
                        && i.operations.len() == opnum
                    {
                        i.operations.push(OperationEntry {
                            name: (*name).to_string(),
                            returns: StatusKind::from_name(kind),
                        });
                    }
                }
                ["coclass", uuid, name, ..] => {
                    if let Some(uuid) = Uuid::parse(uuid) {
                        t.coclasses.insert(uuid, (*name).to_string());
                    }
                }
                _ => {}
            }
        }
        t
    }

    /// The interface with this UUID and major version, else the first one with this UUID.
    #[must_use]
    pub fn interface(&self, uuid: Uuid, major: u16) -> Option<&InterfaceEntry> {
        self.interfaces.get(&(uuid, major)).or_else(|| {
            self.by_uuid
                .get(&uuid)
                .and_then(|m| self.interfaces.get(&(uuid, *m)))
        })
    }

    /// Every version of an interface the table has.
    pub fn versions(&self, uuid: Uuid) -> impl Iterator<Item = &InterfaceEntry> {
        self.interfaces
            .iter()
            .filter(move |((u, _), _)| *u == uuid)
            .map(|(_, i)| i)
    }

    /// An operation.
    #[must_use]
    pub fn operation(&self, uuid: Uuid, major: u16, opnum: u16) -> Option<&OperationEntry> {
        self.interface(uuid, major)?
            .operations
            .get(usize::from(opnum))
    }

    /// The name of a DCOM class.
    #[must_use]
    pub fn coclass(&self, clsid: Uuid) -> Option<&str> {
        self.coclasses.get(&clsid).map(String::as_str)
    }

    /// Interfaces in the table.
    #[must_use]
    pub fn len(&self) -> usize {
        self.interfaces.len()
    }

    /// True when the table has no interface.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty()
    }
}

/// The name an operation is shown by: none for a name that only holds an opnum's place
/// (`Opnum14NotUsedOnWire`, `Opnum0Reserved`, `Lsar_LSA_TM_14`), and without the `IDL_`
/// prefix MS-DRSR writes before every method (`IDL_DRSGetNCChanges` is `DRSGetNCChanges`).
#[must_use]
pub fn wire_name(name: &str) -> Option<&str> {
    let placeholder = name.starts_with("Opnum")
        || name.contains("NotUsedOnWire")
        || name.starts_with("Lsar_LSA_TM")
        || name.starts_with("Reserved");
    (!placeholder).then(|| name.strip_prefix("IDL_").unwrap_or(name))
}

/// The built-in table, read on first use.
#[must_use]
pub fn builtin() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::parse(BUILTIN_TSV))
}

/// The checked-in text of the built-in table (the test that regenerates it compares with it).
#[must_use]
pub fn builtin_text() -> &'static str {
    BUILTIN_TSV
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_holds_its_interfaces_and_the_types_they_reach() {
        let rem_unknown = Uuid::parse("00000131-0000-0000-c000-000000000046").unwrap();
        let lib = builtin_subset(&[(rem_unknown, 0)], &["CustomHeader"]);
        let iface = lib.interface(rem_unknown, 0).unwrap();
        assert_eq!(iface.operations[3].name, "RemQueryInterface");
        // reached through PREMQIRESULT, REMQIRESULT, STDOBJREF; ORPCTHAT for every DCOM call
        for t in [
            "REMQIRESULT",
            "STDOBJREF",
            "ORPCTHAT",
            "ORPC_EXTENT",
            "CustomHeader",
        ] {
            assert!(lib.types.contains_key(t), "{t}");
        }
        assert!(!lib.types.contains_key("SAMPR_USER_INFO_BUFFER"));
        assert!(lib.types.len() < builtin_library().types.len() / 10);
        // other interfaces are known by name, so their pointers read as interface pointers
        assert!(lib.is_interface("IWbemServices"));
        assert!(lib.plan(iface, 3).is_some_and(|p| p.response.len() == 3));
        assert!(lib.type_plan("CustomHeader").is_some() && lib.type_plan("Nope").is_none());
    }
}
