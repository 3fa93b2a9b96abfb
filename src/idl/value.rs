//! A decoded NDR value ([`Value`]): what the NDR engine of [`super::values`] and the MS-WMIO
//! reader of [`super::wmio`] produce, with its JSON form, its one-line rendering and its
//! indented tree for the terminal interface.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::dce::Uuid;

/// The name of a structure member, union arm or parameter: shared with the plan that names it,
/// so a decoded value copies no text.
pub type FieldName = std::sync::Arc<str>;

/// A decoded NDR value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A null pointer.
    Null,
    /// A `boolean`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A `float` or `double`, as the bits of a double (so values compare exactly).
    Float(u64),
    /// A `[string]` or an enum member name.
    Text(String),
    /// Bytes of a `byte` / `char` array (hex in JSON).
    Bytes(Vec<u8>),
    /// A `GUID`.
    Uuid(Uuid),
    /// A context handle (hex in JSON).
    Handle([u8; 20]),
    /// Array elements.
    List(Vec<Value>),
    /// Struct members, or a union arm (`{arm name: value}`), in order.
    Fields(Vec<(FieldName, Value)>),
    /// A pipe: non-empty chunks and elements (the elements themselves are in `pipes`).
    Pipe {
        /// Non-empty chunks.
        chunks: u64,
        /// Elements.
        elements: u64,
    },
    /// Internal: the referent of an embedded pointer, filled in after its parameter.
    Deferred(usize),
    /// An integer the specifications name (an access mask, a flag set, a code; see
    /// [`super::flags`]): a number in JSON, its names in the text outputs.
    Named(u64, String),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null | Value::Deferred(_) => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) | Value::Named(u, _) => s.serialize_u64(*u),
            Value::Float(bits) => s.serialize_f64(f64::from_bits(*bits)),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_str(&hex(b)),
            Value::Uuid(u) => s.serialize_str(&u.to_string()),
            Value::Handle(h) => s.serialize_str(&hex(h)),
            Value::List(items) => s.collect_seq(items),
            Value::Fields(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(&**k, v)?;
                }
                m.end()
            }
            Value::Pipe { chunks, elements } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("pipe_chunks", chunks)?;
                m.serialize_entry("pipe_elements", elements)?;
                m.end()
            }
        }
    }
}

/// A number as people read it: small ones in decimal, masks in hex.
fn number(u: u64) -> String {
    if u < 10 {
        u.to_string()
    } else {
        format!("{u:#x}")
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lines of one call's parameter tree in the terminal interface, at most.
pub const MAX_TREE_LINES: usize = 2_000;

impl Value {
    /// The member `name` of a structure.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Fields(fields) => lookup(fields, name),
            _ => None,
        }
    }

    /// An integer as unsigned (a negative one is none).
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        uint(self)
    }

    /// A GUID, whether read as one or as its structure (`Data1` .. `Data4`).
    #[must_use]
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Value::Uuid(u) => Some(*u),
            Value::Fields(fields) => match guid(fields) {
                Some(Value::Uuid(u)) => Some(u),
                _ => None,
            },
            _ => None,
        }
    }

    /// The bytes of a byte array.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array (none for anything else).
    #[must_use]
    pub fn items(&self) -> &[Value] {
        match self {
            Value::List(items) => items,
            _ => &[],
        }
    }

    /// A one-line rendering for the text outputs (JSON-like, bytes in hex; a named integer
    /// followed by its names).
    #[must_use]
    pub fn render(&self) -> String {
        match self {
            Value::Named(u, names) => format!("{} ({names})", number(*u)),
            Value::Uuid(u) => match guid_name(*u) {
                Some(n) => format!("\"{u}\" ({n})"),
                None => format!("\"{u}\""),
            },
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    /// The value as an indented tree: one line per scalar (`name: value`), a line per
    /// structure, union arm or array with its members below, two spaces deeper.
    pub fn tree(&self, name: &str, depth: usize, out: &mut Vec<String>) {
        if out.len() >= MAX_TREE_LINES {
            return;
        }
        let pad = "  ".repeat(depth);
        match self {
            Value::Fields(fields) => {
                out.push(format!("{pad}{name}"));
                for (n, v) in fields {
                    v.tree(if n.is_empty() { "(anonymous)" } else { n }, depth + 1, out);
                }
            }
            Value::List(items) if !items.is_empty() => {
                out.push(format!("{pad}{name} [{}]", items.len()));
                for (i, v) in items.iter().enumerate() {
                    v.tree(&format!("[{i}]"), depth + 1, out);
                }
            }
            other => out.push(format!("{pad}{name}: {}", other.render())),
        }
        if out.len() == MAX_TREE_LINES {
            out.push(format!("{pad}… (more than {MAX_TREE_LINES} lines)"));
        }
    }
}

/// The value named `name` among parameters or members.
#[must_use]
pub fn lookup<'a>(params: &'a [(FieldName, Value)], name: &str) -> Option<&'a Value> {
    params.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
}

/// The name of the interface or DCOM class a GUID stands for, when the tables know it.
pub(super) fn guid_name(u: Uuid) -> Option<String> {
    if u.0 == [0; 16] {
        return None;
    }
    super::table::builtin()
        .interface(u, 0)
        .map(|i| i.name.clone())
        .or_else(|| super::objref::class_name(u))
}

pub(super) fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::UInt(u) | Value::Named(u, _) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// A `GUID` declared as its structure (`guiddef.h`) is a GUID all the same.
pub(super) fn guid(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(a, d1), (b, d2), (c, d3), (d, Value::Bytes(d4))] = fields else {
        return None;
    };
    if &**a != "Data1" || &**b != "Data2" || &**c != "Data3" || &**d != "Data4" || d4.len() != 8 {
        return None;
    }
    let (d1, d2, d3) = (
        u32::try_from(uint(d1)?).ok()?,
        u16::try_from(uint(d2)?).ok()?,
        u16::try_from(uint(d3)?).ok()?,
    );
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&d1.to_be_bytes());
    b[4..6].copy_from_slice(&d2.to_be_bytes());
    b[6..8].copy_from_slice(&d3.to_be_bytes());
    b[8..].copy_from_slice(d4);
    Some(Value::Uuid(Uuid::from_wire(&b, false)))
}
