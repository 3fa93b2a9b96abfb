//! Interface descriptions (DCE/RPC layer; MIDL as Microsoft's open specifications write it, the
//! NDR rules of C706 chapter 14 and MS-RPCE §2.2.5): a parser for MIDL ([`parse`],
//! [`load_files`]: every file of Microsoft's published IDL, headers and imports included), the
//! type model it produces, the built-in descriptions ([`builtin`] written for rpcscope, and
//! [`table`], Microsoft's interfaces compiled by `rpcscope compile-idl`), and what decodes stubs
//! with them ([`decode`] for pipes, [`values`] for parameters, [`sddl`] for security
//! descriptors).
//!
//! The parser takes interfaces (RPC and DCOM, with inheritance), libraries, coclasses,
//! typedefs of every constructed type, constants and enumerators as C constant expressions
//! resolved across files, the preprocessor branches MIDL takes, and attributes as written
//! (unknown ones are kept and warned about). Opnums are declaration order with MIDL's rules for
//! `[local]`, `[call_as]` and `[callback]`. Syntax errors say `file:line:column`.

pub mod builtin;
pub mod decode;
mod expr;
pub mod flags;
mod lexer;
pub mod objref;
mod parser;
pub mod plan;
pub mod sddl;
pub mod table;
pub mod value;
pub mod values;
pub mod wmio;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dce::Uuid;
use crate::hash::FastMap;

pub use parser::parse;

/// An attribute as written: name and raw argument text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    /// Name (`size_is`, `in`, ...).
    #[serde(rename = "n")]
    pub name: String,
    /// Text between the parentheses, if any.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
}

/// Attributes rpcscope understands; others are kept and warned about.
pub const KNOWN_ATTRS: &[&str] = &[
    "in",
    "out",
    "size_is",
    "length_is",
    "string",
    "unique",
    "ref",
    "ptr",
    "context_handle",
    "range",
    "switch_is",
    "switch_type",
    "case",
    "default",
    "uuid",
    "version",
    "pointer_default",
    "max_is",
    "first_is",
    "last_is",
    "v1_enum",
    "retval",
    "local",
    "object",
    "endpoint",
    "helpstring",
    "ms_union",
    "handle",
    "iid_is",
    "async",
    "callback",
    "broadcast",
    "idempotent",
    "maybe",
    "lcid",
    "annotation",
    "public",
    "nocode",
    "strict_context_handle",
    "call_as",
    "oleautomation",
    "dual",
    "nonextensible",
    "hidden",
    "id",
    "propget",
    "propput",
    "propputref",
    "restricted",
    "source",
    "optional",
    "defaultvalue",
    "helpcontext",
    "helpfile",
    "noncreatable",
    "appobject",
    "licensed",
    "aggregatable",
    "vararg",
    "transmit_as",
    "wire_marshal",
    "user_marshal",
    "represent_as",
    "disable_consistency_check",
    "ignore",
    "partial_ignore",
    "min_is",
    "custom",
    "control",
    "bindable",
    "requestedit",
    "displaybind",
    "defaultbind",
    "immediatebind",
    "defaultcollelem",
    "uidefault",
    "nonbrowsable",
    "replaceable",
    "readonly",
    "notify",
    "message",
    "allocate",
    "safearray",
    "odl",
];

/// A type as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Type {
    /// A base type by name (`long`, `unsigned short`, `wchar_t`, `hyper`, ...).
    #[serde(rename = "B")]
    Base(String),
    /// A named type (typedef).
    #[serde(rename = "N")]
    Named(String),
    /// Pointer to a type.
    #[serde(rename = "P")]
    Pointer(Box<Type>),
    /// Array with a fixed size, or `[]` / `[*]` (conformant) when `None`.
    #[serde(rename = "A")]
    Array(Box<Type>, Option<u64>),
    /// A struct.
    #[serde(rename = "S")]
    Struct(Vec<Field>),
    /// A union with its discriminant type (for encapsulated unions) and arms.
    #[serde(rename = "U")]
    Union(Option<Box<Type>>, Vec<Arm>),
    /// An enum.
    #[serde(rename = "E")]
    Enum(Vec<(String, i64)>),
    /// `pipe T`.
    #[serde(rename = "I")]
    Pipe(Box<Type>),
}

/// A struct member or a parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Attributes.
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<Attr>,
    /// Type.
    #[serde(rename = "t")]
    pub ty: Type,
    /// Name.
    #[serde(rename = "n", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Field {
    /// The attribute `name`, if present.
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// True when the attribute `name` is present.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }
}

/// A union arm: case values (empty for `default`) and the member (none for an empty arm).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arm {
    /// `case(...)` values; empty for `default`.
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<i64>,
    /// The member.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
}

/// An operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Name.
    pub name: String,
    /// Return type.
    pub ret: Type,
    /// Parameters in order.
    pub params: Vec<Field>,
    /// Attributes written on the operation (`call_as`, `local`, ...).
    pub attrs: Vec<Attr>,
}

impl Operation {
    /// True when the operation only holds an opnum's place: it has no parameters, and returns
    /// nothing or is named as a placeholder (`void Opnum14NotUsedOnWire(void)`,
    /// `long Opnum2Reserved()`, `Lsar_LSA_TM_14`).
    #[must_use]
    pub fn is_placeholder(&self) -> bool {
        self.params.is_empty()
            && (matches!(&self.ret, Type::Base(b) if b == "void")
                || table::wire_name(&self.name).is_none())
    }
}

/// An interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Name.
    pub name: String,
    /// UUID.
    pub uuid: Uuid,
    /// Version (major, minor).
    pub version: (u16, u16),
    /// Operations; the opnum is the index. Once [`Library::link`] has run, a DCOM interface's
    /// list starts with the methods it inherits (IUnknown's three first).
    pub operations: Vec<Operation>,
    /// The interface this one derives from (`interface IWbemServices : IUnknown`).
    pub parent: Option<String>,
    /// A DCOM (`[object]`) interface: its calls carry ORPCTHIS / ORPCTHAT.
    pub object: bool,
    /// How many of `operations` come from the parent interfaces.
    pub inherited: usize,
}

/// A DCOM class (`coclass`): its CLSID and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coclass {
    /// Name.
    pub name: String,
    /// CLSID.
    pub uuid: Uuid,
}

/// Everything a set of IDL files declares.
#[derive(Clone, Debug, Default)]
pub struct Library {
    /// Typedefs by name.
    pub types: HashMap<String, Type>,
    /// Typedef names declared `[context_handle]`.
    pub context_handles: HashSet<String>,
    /// Attributes written on typedefs (`switch_type`, pointer kinds), by typedef name.
    pub typedef_attrs: HashMap<String, Vec<Attr>>,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Warnings (unknown attributes, unresolved imports), with their `file:line:column`.
    pub warnings: Vec<String>,
    /// Decode the parameters of the calls these descriptions cover (`--decode`), not only
    /// their pipes.
    pub decode_parameters: bool,
    /// With `decode_parameters`: keep the calls' stubs on their records (`stubs`) for decoding
    /// later instead of decoding them as they end (the terminal interface).
    pub keep_stubs: bool,
    /// With `keep_stubs`: keep the stubs of the calls no description covers too (the terminal
    /// interface shows every call's stubs in hex).
    pub keep_every_stub: bool,
    /// Files named by `import` statements, in order.
    pub imports: Vec<Import>,
    /// Constants: `const` declarations, `#define`s and enumerators.
    pub constants: HashMap<String, i64>,
    /// DCOM classes.
    pub coclasses: Vec<Coclass>,
    /// Constant expressions that named a constant not known when they were read (taken as
    /// 0); [`load_files`] parses again with every file's constants while this shrinks.
    pub unresolved: usize,
    /// Interface positions by UUID and major version, and by UUID alone (the last one added
    /// wins, so that a later description overrides an earlier one); [`Library::reindex`]
    /// keeps them and `names` in step with `interfaces`.
    index: FastMap<(Uuid, u16), usize>,
    uuid_index: FastMap<Uuid, usize>,
    /// Interface names (a DCOM interface pointer is written as its interface's name).
    names: HashSet<String>,
    /// Compiled operations ([`Library::plan`]).
    plans: plan::PlanCache,
}

/// A file an `import` statement names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The name as written (a path relative to the importing file).
    pub name: String,
    /// Where the statement is: `file:line:column`.
    pub at: String,
}

impl Library {
    /// The interface with this UUID and major version.
    #[must_use]
    pub fn interface(&self, uuid: Uuid, major: u16) -> Option<&Interface> {
        self.index
            .get(&(uuid, major))
            .or_else(|| self.uuid_index.get(&uuid))
            .and_then(|&i| self.interfaces.get(i))
    }

    /// True when `name` is an interface's (DCOM interface pointers are written as its name).
    #[must_use]
    pub fn is_interface(&self, name: &str) -> bool {
        matches!(name, "IUnknown" | "IDispatch") || self.names.contains(name)
    }

    /// Rebuilds the interface index after the list changed.
    pub(crate) fn reindex(&mut self) {
        self.index.clear();
        self.uuid_index.clear();
        self.names.clear();
        self.plans.clear();
        for (i, iface) in self.interfaces.iter().enumerate() {
            self.index.insert((iface.uuid, iface.version.0), i);
            self.uuid_index.insert(iface.uuid, i);
            self.names.insert(iface.name.clone());
        }
    }

    /// Adds another library's declarations; a name it declares again replaces the earlier
    /// declaration (an `--idl` file overrides the built-in descriptions).
    pub fn merge(&mut self, other: Library) {
        self.merge_with(other, false);
    }

    /// Adds another library's declarations; with `first_wins`, a type, typedef attribute or
    /// constant already declared keeps its first declaration.
    fn merge_with(&mut self, other: Library, first_wins: bool) {
        fn add<V>(into: &mut HashMap<String, V>, from: HashMap<String, V>, first_wins: bool) {
            for (k, v) in from {
                if first_wins {
                    into.entry(k).or_insert(v);
                } else {
                    into.insert(k, v);
                }
            }
        }
        add(&mut self.types, other.types, first_wins);
        add(&mut self.typedef_attrs, other.typedef_attrs, first_wins);
        add(&mut self.constants, other.constants, first_wins);
        self.context_handles.extend(other.context_handles);
        self.interfaces.extend(other.interfaces);
        self.warnings.extend(other.warnings);
        self.imports.extend(other.imports);
        self.decode_parameters |= other.decode_parameters;
        self.keep_stubs |= other.keep_stubs;
        self.keep_every_stub |= other.keep_every_stub;
        self.coclasses.extend(other.coclasses);
        self.unresolved += other.unresolved;
        self.reindex();
    }

    /// Gives every DCOM interface the methods of the interfaces it derives from, in front of
    /// its own, so that an operation's index is its opnum. IUnknown's three methods are
    /// assumed when no file defines it. Chains longer than [`MAX_INHERITANCE_DEPTH`] or
    /// naming an unknown parent are warned about.
    pub fn link(&mut self) {
        self.join_split_interfaces();
        let own: HashMap<String, (Option<String>, Vec<Operation>)> = self
            .interfaces
            .iter()
            .rev()
            .map(|i| {
                let own = i.operations[i.inherited..].to_vec();
                (i.name.clone(), (i.parent.clone(), own))
            })
            .collect();
        for iface in &mut self.interfaces {
            let mut chain = Vec::new();
            let mut next = iface.parent.clone();
            while let Some(name) = next {
                if chain.len() >= MAX_INHERITANCE_DEPTH {
                    self.warnings.push(format!(
                        "interface {}: inheritance deeper than {MAX_INHERITANCE_DEPTH}",
                        iface.name
                    ));
                    break;
                }
                match own.get(&name) {
                    Some((parent, ops)) => {
                        chain.push(ops.clone());
                        next = parent.clone();
                    }
                    None if name == "IUnknown" => {
                        chain.push(iunknown_methods());
                        next = None;
                    }
                    None => {
                        self.warnings.push(format!(
                            "interface {}: parent interface {name} not found; its methods are not counted",
                            iface.name
                        ));
                        next = None;
                    }
                }
            }
            let mut ops: Vec<Operation> = chain.into_iter().rev().flatten().collect();
            let inherited = ops.len();
            ops.extend(iface.operations.drain(iface.inherited..));
            iface.operations = ops;
            iface.inherited = inherited;
        }
        self.reindex();
    }

    /// Follows typedef names to the type they stand for (at most 16 steps).
    #[must_use]
    pub fn resolve<'a>(&'a self, mut ty: &'a Type) -> &'a Type {
        for _ in 0..16 {
            match ty {
                Type::Named(n) => match self.wire_type(n).or_else(|| self.types.get(n)) {
                    Some(t) => ty = t,
                    None => return ty,
                },
                _ => return ty,
            }
        }
        ty
    }

    /// The type a `[wire_marshal(T)]` typedef travels as (`VARIANT` as `wireVARIANT`).
    fn wire_type(&self, name: &str) -> Option<&Type> {
        let target = self
            .typedef_attrs
            .get(name)?
            .iter()
            .find(|a| a.name == "wire_marshal")?
            .arg
            .as_deref()?;
        self.types.get(target.trim())
    }
}

impl Library {
    /// Joins descriptions of one interface (UUID and major version) spread over several files,
    /// as MS-LSAD and MS-LSAT describe `lsarpc`: per opnum, the first description that is not
    /// a placeholder wins.
    fn join_split_interfaces(&mut self) {
        let mut first: HashMap<(Uuid, u16), usize> = HashMap::new();
        let mut kept: Vec<Interface> = Vec::with_capacity(self.interfaces.len());
        for iface in std::mem::take(&mut self.interfaces) {
            let key = (iface.uuid, iface.version.0);
            let Some(&at) = first.get(&key) else {
                first.insert(key, kept.len());
                kept.push(iface);
                continue;
            };
            let Some(base) = kept.get_mut(at) else {
                continue;
            };
            for (i, op) in iface.operations.into_iter().enumerate() {
                match base.operations.get_mut(i) {
                    Some(old) if old.is_placeholder() && !op.is_placeholder() => *old = op,
                    Some(_) => {}
                    None => base.operations.push(op),
                }
            }
        }
        self.interfaces = kept;
    }
}

/// Parent interfaces followed from one interface.
pub const MAX_INHERITANCE_DEPTH: usize = 16;

/// IUnknown's methods, which no call carries on the wire (MS-DCOM §3.1.1.5.8).
fn iunknown_methods() -> Vec<Operation> {
    ["QueryInterface", "AddRef", "Release"]
        .into_iter()
        .map(|name| Operation {
            name: name.to_string(),
            ret: Type::Named("HRESULT".into()),
            params: Vec::new(),
            attrs: Vec::new(),
        })
        .collect()
}

/// A syntax error in an IDL file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdlError {
    /// File name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for IdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for IdlError {}

impl IdlError {
    /// `file:line:column`.
    #[must_use]
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Files read for one set of `--idl` arguments, imports and folders included; past it no
/// further file is read and a warning says so.
pub const MAX_IDL_FILES: usize = 1024;

/// Size of one IDL file at most (Microsoft's largest published one is under 1 MiB); a larger
/// file named on the command line is an error, a larger import a warning.
pub const MAX_IDL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads an IDL file of at most [`MAX_IDL_FILE_BYTES`] (a FIFO too: the limit is on what is read).
fn read_idl(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_IDL_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_IDL_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_IDL_FILE_BYTES >> 20),
        ));
    }
    Ok(text)
}

/// Parsing rounds [`load_files`] runs at most while constants declared in later files resolve
/// names used in earlier ones.
pub const MAX_PARSE_ROUNDS: usize = 4;

/// The file an import names: next to the importing file, or with Microsoft's `ms-` prefix
/// dropped (`ms-dtyp.idl` is published as `dtyp.idl`), there or one folder up, or in the
/// `h/` folder for headers; else any file of that name already among those read.
fn find_import(dir: &Path, name: &str, read: &HashMap<String, PathBuf>) -> Option<PathBuf> {
    let short = name.strip_prefix("ms-").unwrap_or(name);
    let parent = dir.parent();
    let candidates = [
        Some(dir.join(name)),
        Some(dir.join(short)),
        parent.map(|p| p.join(short)),
        Some(dir.join("h").join(short)),
        parent.map(|p| p.join("h").join(short)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .or_else(|| read.get(&file_key(Path::new(short))).cloned())
}

fn file_key(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Subfolder levels an `--idl DIR` is searched to for `.idl` files.
pub const MAX_FOLDER_DEPTH: usize = 8;

/// The `.idl` files of a folder and its subfolders (down to [`MAX_FOLDER_DEPTH`] levels), in
/// name order.
fn idl_files_in(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth < MAX_FOLDER_DEPTH {
            idl_files_in(&p, out, depth + 1)?;
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("idl")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads IDL files, the `.idl` files of folders, and the files they import (see
/// `find_import`; each file read once). An import that is not found is a warning, not an
/// error. Constants may be used before the file that declares them is read: the files are
/// parsed again, at most `MAX_PARSE_ROUNDS` times, with the constants of all of them.
/// DCOM interfaces are then linked to their parents ([`Library::link`]).
///
/// # Errors
/// A named file or folder cannot be read, or a file has a syntax error
/// (`file:line:column: message`).
pub fn load_files(paths: &[PathBuf]) -> Result<Library, String> {
    let mut named = Vec::new();
    for p in paths {
        if p.is_dir() {
            idl_files_in(p, &mut named, 0)?;
        } else {
            named.push(p.clone());
        }
    }
    let mut warnings = Vec::new();
    let mut texts: Vec<(PathBuf, String)> = Vec::new();
    let mut read: HashMap<String, PathBuf> = HashMap::new();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<(PathBuf, Option<Import>)> =
        named.into_iter().map(|p| (p, None)).collect();
    let mut pending_imports: Vec<(PathBuf, Import)> = Vec::new();
    let mut all_imports: Vec<(PathBuf, Import)> = Vec::new();
    loop {
        while let Some((path, imported)) = queue.pop_front() {
            let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if !seen.insert(key) {
                continue;
            }
            if seen.len() > MAX_IDL_FILES {
                warnings.push(format!(
                    "{}: more than {MAX_IDL_FILES} IDL files, not read",
                    path.display()
                ));
                continue;
            }
            let text = match (read_idl(&path), &imported) {
                (Ok(t), _) => t,
                (Err(e), None) => return Err(format!("{}: {e}", path.display())),
                (Err(e), Some(i)) => {
                    warnings.push(format!("{}: import \"{}\" not read: {e}", i.at, i.name));
                    continue;
                }
            };
            let parsed =
                parser::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
            for i in parsed.imports {
                all_imports.push((path.clone(), i.clone()));
                pending_imports.push((path.clone(), i));
            }
            read.insert(file_key(&path), path.clone());
            texts.push((path, text));
        }
        // Imports are looked up once every named file is read, so that a folder's own copy
        // of a file is preferred to a guess.
        for (from, i) in std::mem::take(&mut pending_imports) {
            let dir = from.parent().map(Path::to_path_buf).unwrap_or_default();
            match find_import(&dir, &i.name, &read) {
                Some(p) => queue.push_back((p, Some(i))),
                None => warnings.push(format!("{}: import \"{}\" not found", i.at, i.name)),
            }
        }
        if queue.is_empty() {
            break;
        }
    }
    // The files most often imported first: where two files declare one name differently, the
    // common definition (MS-DTYP's HRESULT, MS-OAUT's BSTR) wins over a local variant.
    let mut imported: HashMap<String, usize> = HashMap::new();
    for (_, i) in &all_imports {
        let short = i.name.strip_prefix("ms-").unwrap_or(&i.name);
        *imported.entry(file_key(Path::new(short))).or_default() += 1;
    }
    texts.sort_by_key(|(p, _)| std::cmp::Reverse(imported.get(&file_key(p)).copied().unwrap_or(0)));
    let mut known = HashMap::new();
    let mut last_unresolved = usize::MAX;
    let mut lib = Library::default();
    for _ in 0..MAX_PARSE_ROUNDS {
        lib = Library::default();
        for (path, text) in &texts {
            let parsed = parser::parse_with(text, &path.display().to_string(), &known)
                .map_err(|e| e.to_string())?;
            // files are merged most-imported first and keep the first declaration, so
            // that MS-DTYP's definitions stand
            lib.merge_with(parsed, true);
        }
        known.clone_from(&lib.constants);
        if lib.unresolved == 0 || lib.unresolved >= last_unresolved {
            break;
        }
        last_unresolved = lib.unresolved;
    }
    if lib.unresolved == 0 {
        lib.warnings.retain(|w| !w.contains("unknown constant"));
    }
    lib.warnings.extend(warnings);
    lib.link();
    Ok(lib)
}
