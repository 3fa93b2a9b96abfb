//! Interface descriptions from IDL: a parser for the subset of MIDL that real interface files
//! use ([`parse`]), the type model it produces, and the built-in descriptions shipped with
//! rpcscope ([`builtin`]). Decoding stubs with a description is [`decode`]'s job.
//!
//! Supported: `[uuid(...), version(x.y)] interface Name { ... }`, `import` (files read by
//! [`load_files`]), `typedef` of
//! structs, unions (`switch_is` / `switch_type`, or `switch (type name)`), enums, `pipe T`,
//! base types and pointers; parameter and member attributes `in`, `out`, `size_is`,
//! `length_is`, `string`, `unique`, `ref`, `ptr`, `context_handle`, `range`, `switch_is`,
//! `switch_type`, `case`, `default`; operations in declaration order (opnum = position).
//! Unknown attributes are kept and reported as warnings; syntax errors say `file:line:column`.

pub mod builtin;
pub mod decode;
mod parser;
pub mod values;

use std::collections::HashMap;
use std::fmt;

use crate::dcerpc::Uuid;

pub use parser::parse;

/// An attribute as written: name and raw argument text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Name (`size_is`, `in`, ...).
    pub name: String,
    /// Text between the parentheses, if any.
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
];

/// A type as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// A base type by name (`long`, `unsigned short`, `wchar_t`, `hyper`, ...).
    Base(String),
    /// A named type (typedef).
    Named(String),
    /// Pointer to a type.
    Pointer(Box<Type>),
    /// Array with a fixed size, or `[]` / `[*]` (conformant) when `None`.
    Array(Box<Type>, Option<u64>),
    /// A struct.
    Struct(Vec<Field>),
    /// A union with its discriminant type (for encapsulated unions) and arms.
    Union(Option<Box<Type>>, Vec<Arm>),
    /// An enum.
    Enum(Vec<(String, i64)>),
    /// `pipe T`.
    Pipe(Box<Type>),
}

/// A struct member or a parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Attributes.
    pub attrs: Vec<Attr>,
    /// Type.
    pub ty: Type,
    /// Name.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arm {
    /// `case(...)` values; empty for `default`.
    pub cases: Vec<i64>,
    /// The member.
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
    /// Operations; the opnum is the index.
    pub operations: Vec<Operation>,
}

/// Everything a set of IDL files declares.
#[derive(Clone, Debug, Default)]
pub struct Library {
    /// Typedefs by name.
    pub types: HashMap<String, Type>,
    /// Typedef names declared `[context_handle]`.
    pub context_handles: std::collections::HashSet<String>,
    /// Attributes written on typedefs (`switch_type`, pointer kinds), by typedef name.
    pub typedef_attrs: HashMap<String, Vec<Attr>>,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Warnings (unknown attributes, unresolved imports), with their `file:line:column`.
    pub warnings: Vec<String>,
    /// Decode the parameters of the calls these descriptions cover (`--decode`), not only
    /// their pipes.
    pub decode_parameters: bool,
    /// Files named by `import` statements, in order.
    pub imports: Vec<Import>,
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
        self.interfaces
            .iter()
            .find(|i| i.uuid == uuid && i.version.0 == major)
            .or_else(|| self.interfaces.iter().find(|i| i.uuid == uuid))
    }

    /// Adds another library's declarations.
    pub fn merge(&mut self, other: Library) {
        self.types.extend(other.types);
        self.context_handles.extend(other.context_handles);
        self.typedef_attrs.extend(other.typedef_attrs);
        self.interfaces.extend(other.interfaces);
        self.warnings.extend(other.warnings);
        self.decode_parameters |= other.decode_parameters;
        self.imports.extend(other.imports);
    }

    /// Follows typedef names to the type they stand for (at most 16 steps).
    #[must_use]
    pub fn resolve<'a>(&'a self, mut ty: &'a Type) -> &'a Type {
        for _ in 0..16 {
            match ty {
                Type::Named(n) => match self.types.get(n) {
                    Some(t) => ty = t,
                    None => return ty,
                },
                _ => return ty,
            }
        }
        ty
    }
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

/// Files read for one set of `--idl` arguments, imports included; past it imports are not
/// followed and a warning says so.
pub const MAX_IDL_FILES: usize = 64;

/// Reads IDL files and the files they import (looked up next to the importing file; each file
/// read once). An import that is not found is a warning, not an error: real interface files
/// import `ms-dtyp.idl` and the like, whose common types rpcscope knows.
///
/// # Errors
/// A named file cannot be read, or a file has a syntax error (`file:line:column: message`).
pub fn load_files(paths: &[std::path::PathBuf]) -> Result<Library, String> {
    let mut lib = Library::default();
    let mut seen = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(std::path::PathBuf, Option<Import>)> =
        paths.iter().map(|p| (p.clone(), None)).collect();
    while let Some((path, imported)) = queue.pop_front() {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        if seen.len() > MAX_IDL_FILES {
            lib.warnings.push(format!(
                "{}: more than {MAX_IDL_FILES} IDL files, not read",
                path.display()
            ));
            continue;
        }
        let text = match (std::fs::read_to_string(&path), &imported) {
            (Ok(t), _) => t,
            (Err(e), None) => return Err(format!("{}: {e}", path.display())),
            (Err(e), Some(i)) => {
                lib.warnings
                    .push(format!("{}: import \"{}\" not read: {e}", i.at, i.name));
                continue;
            }
        };
        let parsed = parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        for i in &parsed.imports {
            queue.push_back((dir.join(&i.name), Some(i.clone())));
        }
        lib.merge(parsed);
    }
    Ok(lib)
}
