//! Decoding the \[in\] and \[out\] parameters of a call with its IDL description (`--decode`):
//! the NDR engine that runs an operation's compiled plan ([`super::plan`]) over a stub: base
//! types, enums, structs (conformance of a trailing conformant array hoisted to the front),
//! unions (discriminant on the wire, arm chosen by `case`), fixed, conformant, varying and
//! conformant varying arrays, `[string]`s, context handles, pipes (summarised) and pointers.
//!
//! Pointers follow C706 §14.3.10–12: a top-level `[ref]` pointer has no wire representation and
//! its referent follows in place; every other pointer is a referent id, and the referents of
//! pointers embedded in a parameter follow the parameter's own representation, depth first in
//! member order (the order Windows and Samba marshal them). Aliased full pointers are decoded as
//! separate referents.
//!
//! Memory is bounded by the stub (every count is checked against the bytes left) and by
//! [`MAX_DECODED_VALUES`] values per call; a parameter that cannot be read ends the decoding of
//! its direction with an error naming it, keeping the parameters before it.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::plan::{Align, Chars, CountExpr, Counts, IntForm, Node, NodeId, OpPlan, Param};
use super::{Interface, Library};
use crate::dce::Uuid;

pub use super::value::{FieldName, MAX_TREE_LINES, Value, lookup};
use super::value::{guid, guid_name, uint};
use crate::ndr::{LimitsHit, NdrError, Reader, Syntax, char_string, utf16_string};

/// Values decoded per call (both directions); past it decoding stops with an error.
pub const MAX_DECODED_VALUES: usize = 10_000;

impl Decoded {
    /// The parameters as a tree (`in` and `out` sides, each parameter below), then the
    /// decoding errors.
    #[must_use]
    pub fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (side, params) in [("in", &self.request), ("out", &self.response)] {
            if params.is_empty() {
                continue;
            }
            out.push(side.to_string());
            for (n, v) in params {
                v.tree(n, 1, &mut out);
            }
        }
        out.extend(self.errors.iter().map(|e| format!("not decoded: {e}")));
        out
    }
}

/// Decoded parameters of a call (`decoded` on a call record).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// \[in\] parameters in wire order.
    pub request: Vec<(FieldName, Value)>,
    /// \[out\] parameters in wire order, then `return`.
    pub response: Vec<(FieldName, Value)>,
    /// Why a direction was not decoded to its end.
    pub errors: Vec<String>,
    /// The decoding limits it ran into (counted in `summary`, not in the JSON of the call:
    /// `errors` says what stopped).
    pub limits: LimitsHit,
    /// Values decoded so far, against [`MAX_DECODED_VALUES`].
    values: usize,
}

/// Referents read one inside another (a linked list nests one level per node): past this, a
/// parameter stops with an error, so that neither the decoder nor the JSON nests without end.
pub const MAX_POINTER_CHAIN: usize = 128;

/// Values in a call's key-parameter line.
pub const MAX_KEY_VALUES: usize = 6;
/// Characters kept of each value in the key-parameter line.
pub const MAX_KEY_VALUE_CHARS: usize = 96;

impl Decoded {
    /// The call's key parameters, as one line: every text value (strings, SIDs, times, enum
    /// members) and GUID (with the name of the interface or class it stands for, when known)
    /// among the \[in\] parameters, in wire order, named by their path
    /// (`pAtInfo.Command`, `Names[]`), descending into structures, unions and arrays (the
    /// first three elements of an array), then the integers the specifications name (access
    /// masks, service and registry codes); from the \[out\] parameters when the request has
    /// none. DCOM's ORPCTHIS / ORPCTHAT and the nil GUID are left out. At most
    /// [`MAX_KEY_VALUES`] values, each cut to [`MAX_KEY_VALUE_CHARS`] characters, in double
    /// quotes (outputs escape them for the terminal). Empty when nothing qualifies.
    #[must_use]
    pub fn key_parameters(&self) -> String {
        // the DCOM call headers say nothing about the call
        let wanted = |n: &&(FieldName, Value)| !matches!(&*n.0, "orpcthis" | "orpcthat" | "return");
        let mut found = KeyValues::default();
        for (name, v) in self.request.iter().filter(wanted) {
            key_values(name, v, 0, &mut found);
        }
        if found.texts.is_empty() && found.named.is_empty() {
            for (name, v) in self.response.iter().filter(wanted) {
                key_values(name, v, 0, &mut found);
            }
        }
        found
            .texts
            .into_iter()
            .chain(found.named)
            .take(MAX_KEY_VALUES)
            .map(|(path, text)| {
                let mut cut: String = text.chars().take(MAX_KEY_VALUE_CHARS).collect();
                if text.chars().count() > MAX_KEY_VALUE_CHARS {
                    cut.push('…');
                }
                format!("{path}=\"{cut}\"")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Levels of structures, unions and arrays the key-parameter line looks into.
pub const MAX_KEY_DEPTH: usize = 6;

/// The values of a key-parameter line: texts and GUIDs, then named integers.
#[derive(Default)]
struct KeyValues {
    texts: Vec<(String, String)>,
    named: Vec<(String, String)>,
}

fn key_values(path: &str, v: &Value, depth: usize, out: &mut KeyValues) {
    if depth > MAX_KEY_DEPTH || out.texts.len() >= MAX_KEY_VALUES {
        return;
    }
    match v {
        Value::Text(t) if !t.is_empty() => out.texts.push((path.to_string(), t.clone())),
        Value::Named(_, names) if out.named.len() < MAX_KEY_VALUES => {
            out.named.push((path.to_string(), names.clone()));
        }
        Value::Uuid(u) if u.0 != [0; 16] => {
            let text = match guid_name(*u) {
                Some(n) => format!("{u} ({n})"),
                None => u.to_string(),
            };
            out.texts.push((path.to_string(), text));
        }
        Value::Fields(fields) => {
            // A WMI object says what it is by its class and properties, not by its OBJREF.
            let object = fields.iter().any(|(n, _)| &**n == "properties");
            let skipped =
                |n: &str| n == "discriminant" || (object && (n == "objref" || n == "iid"));
            for (name, v) in fields.iter().filter(|(n, _)| !skipped(n)) {
                // an anonymous member adds nothing to the path
                let inner = if name.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}.{name}")
                };
                key_values(&inner, v, depth + 1, out);
            }
        }
        Value::List(items) => {
            let inner = format!("{path}[]");
            for item in items.iter().take(3) {
                key_values(&inner, item, depth + 1, out);
            }
        }
        _ => {}
    }
}

impl Serialize for Decoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Params<'a>(&'a [(FieldName, Value)]);
        impl Serialize for Params<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(&**k, v)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("in", &Params(&self.request))?;
        m.serialize_entry("out", &Params(&self.response))?;
        m.serialize_entry("errors", &self.errors)?;
        m.end()
    }
}

/// Which side of a call a stub carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The request: \[in\] parameters.
    In,
    /// The response: \[out\] parameters and the return value.
    Out,
}

/// One direction's stub of a call and how it is encoded.
#[derive(Clone, Copy, Debug)]
pub struct StubBytes<'a> {
    /// The stub (all fragments joined).
    pub bytes: &'a [u8],
    /// Request or response.
    pub direction: Direction,
    /// Integer byte order of the PDUs.
    pub little_endian: bool,
    /// Transfer syntax of the call's context.
    pub syntax: Syntax,
}

/// Decodes the parameters of operation `opnum` of `iface` in one direction's stub into
/// `decoded` (parameters read before an error are kept, the error is added to its `errors`).
/// The operation's compiled plan comes from the library's cache ([`Library::plan`]).
pub fn decode_stub(
    lib: &Library,
    iface: &Interface,
    opnum: u16,
    stub: StubBytes<'_>,
    decoded: &mut Decoded,
) {
    if let Some(plan) = lib.plan(iface, opnum) {
        decode_with_plan(&plan, opnum, stub, decoded);
    }
}

/// One direction's parameters as the engine reads them, without the rewrites for people that
/// [`decode_stub`] makes (a GUID structure stays its members, an interface pointer its
/// bytes): for the analysis that reads values by name (endpoint mapper, DCOM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plain {
    /// Parameters read, in wire order (those before an error).
    pub params: Vec<(FieldName, Value)>,
    /// What stopped the decoding, if anything did.
    pub error: Option<String>,
    /// The decoding limits it ran into.
    pub limits: LimitsHit,
}

/// Decodes one direction's stub with a compiled plan into [`Plain`] values.
#[must_use]
pub fn decode_plain(plan: &OpPlan, stub: StubBytes<'_>) -> Plain {
    let read = read_side(plan, stub, 0, false);
    Plain {
        params: read.params,
        error: read.error,
        limits: read.limits,
    }
}

/// One direction as the engine reads it: the parameters in wire order (those before an
/// error), each one's span when asked for, what stopped it, and the bytes left after the last
/// parameter that are neither a verification trailer nor padding.
struct SideRead {
    params: Vec<(FieldName, Value)>,
    spans: Vec<Option<Span>>,
    error: Option<String>,
    limits: LimitsHit,
    unexplained_tail: usize,
    values: usize,
}

/// Runs the plan of one direction over its stub; `values` were decoded before (the call's
/// other direction).
fn read_side(plan: &OpPlan, stub: StubBytes<'_>, values: usize, spans: bool) -> SideRead {
    let params = match stub.direction {
        Direction::In => &plan.request,
        Direction::Out => &plan.response,
    };
    let mut d = Engine::new(plan, stub, values);
    if spans {
        d = d.with_spans();
    }
    let mut read = SideRead {
        params: Vec::with_capacity(params.len()),
        spans: Vec::new(),
        error: None,
        limits: LimitsHit::default(),
        unexplained_tail: 0,
        values,
    };
    for p in params {
        match d.parameter(p) {
            Ok(v) => {
                read.params.push((p.name.clone(), v));
                if spans {
                    read.spans.push(d.parameter_span());
                }
            }
            Err(e) => {
                read.limits.add(&e);
                read.error = Some(if &*p.name == "return" {
                    format!("return value: {e}")
                } else {
                    format!("parameter {}: {e}", p.name)
                });
                break;
            }
        }
    }
    let end = d.r.pos();
    if read.error.is_none()
        && d.r.remaining() > 0
        && !verification_trailer_follows(stub.bytes, end)
        && !padding_follows(stub.bytes, end)
    {
        read.unexplained_tail = d.r.remaining();
    }
    read.values = d.values;
    read
}

/// Decodes a type serialized on its own with a plan of [`Library::type_plan`]: MS-RPCE
/// §2.2.6 type serialization version 1, an 8-byte common header (version 1, endianness,
/// header length 8, filler), an 8-byte private header (length of the object's data, filler),
/// then the type's NDR representation (to the end of `bytes` when the length is 0 or too
/// large).
#[must_use]
pub fn decode_serialized(plan: &OpPlan, bytes: &[u8]) -> Plain {
    let fail = |why: &str| Plain {
        error: Some(why.to_string()),
        ..Plain::default()
    };
    let Some(header) = bytes.get(..16) else {
        return fail("shorter than the type serialization headers");
    };
    if header[0] != 1 || header[2] != 8 {
        return fail("not type serialization version 1");
    }
    let little_endian = header[1] & 0x10 != 0;
    let word = [header[8], header[9], header[10], header[11]];
    let len = if little_endian {
        u32::from_le_bytes(word)
    } else {
        u32::from_be_bytes(word)
    };
    // the object's length bounds its data; some encoders leave it 0
    let rest = &bytes[16..];
    let data = match usize::try_from(len) {
        Ok(len) if len > 0 && len <= rest.len() => &rest[..len],
        _ => rest,
    };
    let stub = StubBytes {
        bytes: data,
        direction: Direction::In,
        little_endian,
        syntax: Syntax::Ndr,
    };
    decode_plain(plan, stub)
}

/// One side of a call as kept for decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideStub {
    /// The whole stub (all fragments joined).
    Whole(Vec<u8>),
    /// Not captured whole (a fragment or bytes missing).
    NotWhole,
    /// The call was answered with a fault (response side).
    Fault,
}

/// Both stubs of a call, how they are encoded and the operation they are for: what decoding
/// its parameters needs, kept on a call record when the decoding is left for later (the
/// terminal interface decodes the selected call on demand, the `calls` command as it writes
/// the call; [`decode_kept`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallStubs {
    /// The interface bound to the call's context: its UUID and major version.
    pub interface: (Uuid, u16),
    /// The operation number.
    pub opnum: u16,
    /// The request's stub.
    pub request: SideStub,
    /// The response's stub.
    pub response: SideStub,
    /// Integer byte order of the request's and the response's PDUs.
    pub little_endian: [bool; 2],
    /// Transfer syntax of the call's context.
    pub syntax: Syntax,
}

impl CallStubs {
    /// Bytes held.
    #[must_use]
    pub fn len(&self) -> usize {
        [&self.request, &self.response]
            .iter()
            .map(|s| match s {
                SideStub::Whole(b) => b.len(),
                _ => 0,
            })
            .sum()
    }

    /// True when no stub bytes are held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole stubs, as [`StubBytes`].
    fn sides(&self) -> [(Direction, Result<StubBytes<'_>, &'static str>); 2] {
        [
            (Direction::In, self.side(0, Direction::In, &self.request)),
            (Direction::Out, self.side(1, Direction::Out, &self.response)),
        ]
    }

    fn side<'a>(
        &self,
        i: usize,
        direction: Direction,
        s: &'a SideStub,
    ) -> Result<StubBytes<'a>, &'static str> {
        match s {
            SideStub::Whole(bytes) => Ok(StubBytes {
                bytes,
                direction,
                little_endian: self.little_endian[i],
                syntax: self.syntax,
            }),
            SideStub::NotWhole => Err("not captured whole"),
            SideStub::Fault => Err("a fault"),
        }
    }
}

/// The compiled plan of the operation `stubs` are for; the reason when `lib` does not describe
/// it.
///
/// # Errors
/// `lib` has no description of the interface, or none of the operation.
pub fn plan_of(lib: &Library, stubs: &CallStubs) -> Result<Arc<OpPlan>, String> {
    let (uuid, major) = stubs.interface;
    let iface = lib
        .interface(uuid, major)
        .ok_or_else(|| "no description of the interface".to_string())?;
    lib.plan(iface, stubs.opnum)
        .ok_or_else(|| format!("the description has no operation {}", stubs.opnum))
}

/// Decodes the parameters of a call whose stubs were kept (or are decoded at once): both
/// sides, or the reason there is no plan; `None` when `lib` does not describe the interface.
#[must_use]
pub fn decode_kept(lib: &Library, stubs: &CallStubs) -> Option<Decoded> {
    let (uuid, major) = stubs.interface;
    lib.interface(uuid, major)?;
    Some(match plan_of(lib, stubs) {
        Ok(plan) => decode_call(&plan, stubs.opnum, stubs),
        Err(why) => {
            let mut d = Decoded::default();
            d.errors.push(why);
            d
        }
    })
}

/// Decodes both sides of a call with its operation's compiled plan.
#[must_use]
pub fn decode_call(plan: &OpPlan, opnum: u16, stubs: &CallStubs) -> Decoded {
    let mut d = Decoded::default();
    for (direction, stub) in stubs.sides() {
        match stub {
            Ok(stub) => {
                decode_side(plan, opnum, stub, &mut d, false);
            }
            Err(why) => d.errors.push(format!("{}: {why}", side_name(direction))),
        }
    }
    d
}

fn side_name(direction: Direction) -> &'static str {
    match direction {
        Direction::In => "request",
        Direction::Out => "response",
    }
}

/// A line of a call's parameter tree and where its value's bytes are: the side and the range
/// of its stub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeLine {
    /// The line (indented two spaces per level).
    pub text: String,
    /// Where the value's bytes are.
    pub at: Option<(Direction, std::ops::Range<usize>)>,
}

/// Decodes both sides of a call and lays the parameters out as [`Decoded::tree`] does, under
/// the key-parameter line, each line with where its value's bytes are (the terminal interface
/// highlights them).
#[must_use]
pub fn decode_call_tree(plan: &OpPlan, opnum: u16, stubs: &CallStubs) -> Vec<TreeLine> {
    let mut decoded = Decoded::default();
    let mut sides = Vec::new();
    for (direction, stub) in stubs.sides() {
        match stub {
            Ok(stub) => sides.extend(
                decode_side(plan, opnum, stub, &mut decoded, true).map(|read| (direction, read)),
            ),
            Err(why) => decoded
                .errors
                .push(format!("{}: {why}", side_name(direction))),
        }
    }
    let mut out: Vec<TreeLine> = Vec::new();
    let key = decoded.key_parameters();
    if !key.is_empty() {
        out.push(TreeLine {
            text: format!("key {key}"),
            at: None,
        });
    }
    for (direction, read) in sides {
        if read.params.is_empty() {
            continue;
        }
        out.push(TreeLine {
            text: if direction == Direction::In {
                "in"
            } else {
                "out"
            }
            .into(),
            at: None,
        });
        for ((name, v), span) in read.params.iter().zip(&read.spans) {
            let tree = SpannedTree {
                plan,
                direction,
                out: &mut out,
            };
            tree.walk(v, span.as_ref(), name, 1);
        }
    }
    out.extend(decoded.errors.iter().map(|e| TreeLine {
        text: format!("not decoded: {e}"),
        at: None,
    }));
    out
}

/// Lays out raw values with their spans, each node shown as [`decode_stub`] shows it.
struct SpannedTree<'a> {
    plan: &'a OpPlan,
    direction: Direction,
    out: &'a mut Vec<TreeLine>,
}

impl SpannedTree<'_> {
    fn walk(mut self, v: &Value, span: Option<&Span>, name: &str, depth: usize) {
        self.node(v, span, name, depth);
    }

    fn node(&mut self, raw: &Value, span: Option<&Span>, name: &str, depth: usize) {
        if self.out.len() >= MAX_TREE_LINES {
            return;
        }
        let at = span.map(|s| (self.direction, s.start..s.end));
        let shown = named(
            &self.plan.interface,
            &self.plan.operation,
            name,
            security_descriptor(name, readable(raw.clone())),
        );
        let pad = "  ".repeat(depth);
        let child = |i: usize, n: usize| match span {
            Some(s) if s.children.len() == n => s.children.get(i),
            other => other,
        };
        match (&shown, raw) {
            (Value::Fields(a), Value::Fields(b)) if a.len() == b.len() => {
                self.out.push(TreeLine {
                    text: format!("{pad}{name}"),
                    at,
                });
                for (i, (n, v)) in b.iter().enumerate() {
                    let n = if n.is_empty() { "(anonymous)" } else { n };
                    self.node(v, child(i, b.len()), n, depth + 1);
                }
            }
            (Value::List(a), Value::List(b)) if a.len() == b.len() && !b.is_empty() => {
                self.out.push(TreeLine {
                    text: format!("{pad}{name} [{}]", b.len()),
                    at,
                });
                for (i, v) in b.iter().enumerate() {
                    self.node(v, child(i, b.len()), &format!("[{i}]"), depth + 1);
                }
            }
            _ => {
                let mut lines = Vec::new();
                shown.tree(name, depth, &mut lines);
                self.out.extend(lines.into_iter().map(|text| TreeLine {
                    text,
                    at: at.clone(),
                }));
            }
        }
    }
}

/// Decodes one direction's stub of a call with its operation's compiled plan.
pub fn decode_with_plan(plan: &OpPlan, opnum: u16, stub: StubBytes<'_>, decoded: &mut Decoded) {
    decode_side(plan, opnum, stub, decoded, false);
}

/// Decodes one direction into `decoded` (its parameters as people read them, its errors and
/// limits); with `keep_raw`, also returns the values as read with their spans (the terminal
/// interface's tree). None for a placeholder operation.
fn decode_side(
    plan: &OpPlan,
    opnum: u16,
    stub: StubBytes<'_>,
    decoded: &mut Decoded,
    keep_raw: bool,
) -> Option<SideRead> {
    let side = side_name(stub.direction);
    if plan.placeholder && !stub.bytes.is_empty() {
        // `void Opnum2Reserved(void)`: the published IDL keeps the opnum but not the call
        decoded.errors.push(format!(
            "{side}: the description has only a placeholder for operation {opnum}"
        ));
        return None;
    }
    let mut read = read_side(plan, stub, decoded.values, keep_raw);
    decoded.limits.merge(read.limits);
    decoded.values = read.values;
    if let Some(e) = &read.error {
        decoded.errors.push(format!("{side}: {e}"));
    } else if read.unexplained_tail > 0 {
        decoded.errors.push(format!(
            "{side}: {} bytes after the last parameter",
            read.unexplained_tail
        ));
    }
    let raw = if keep_raw {
        read.params.clone()
    } else {
        std::mem::take(&mut read.params)
    };
    let shown = raw
        .into_iter()
        .map(|(n, v)| {
            let v = security_descriptor(&n, readable(v));
            let v = named(&plan.interface, &plan.operation, &n, v);
            (n, v)
        })
        .collect();
    match stub.direction {
        Direction::In => decoded.request = shown,
        Direction::Out => decoded.response = shown,
    }
    keep_raw.then_some(read)
}

/// Rewrites the values Microsoft's common types hold into the form people read them in
/// (MS-DTYP): a counted Unicode string (`RPC_UNICODE_STRING`: `Length`, `MaximumLength`,
/// `Buffer`) as its text, a SID (`RPC_SID`, §2.4.2.3) as `S-1-5-21-...`, a `FILETIME`
/// (§2.3.3) as RFC 3339. Recognised by their members, whatever the typedef's name.
fn readable(v: Value) -> Value {
    match v {
        Value::Fields(fields) => {
            let fields: Vec<(FieldName, Value)> = fields
                .into_iter()
                .map(|(n, v)| {
                    let v = security_descriptor(&n, readable(v));
                    (n, v)
                })
                .collect();
            counted_string(&fields)
                .or_else(|| bstr(&fields))
                .or_else(|| interface_pointer(&fields))
                .or_else(|| sid(&fields))
                .or_else(|| filetime(&fields))
                .or_else(|| guid(&fields))
                .or_else(|| variant(&fields))
                .or_else(|| safearray(&fields))
                .unwrap_or(Value::Fields(fields))
        }
        Value::List(items) => Value::List(items.into_iter().map(readable).collect()),
        other => other,
    }
}

/// Integers the specifications name where they are (parameter or member `name`): access
/// masks, flag sets and codes ([`super::flags`]).
fn named(interface: &str, operation: &str, name: &str, v: Value) -> Value {
    match v {
        Value::UInt(u) => match super::flags::name(interface, operation, name, u) {
            Some(names) => Value::Named(u, names),
            None => Value::UInt(u),
        },
        Value::Fields(fields) => Value::Fields(
            fields
                .into_iter()
                .map(|(n, v)| {
                    let v = named(interface, operation, &n, v);
                    (n, v)
                })
                .collect(),
        ),
        Value::List(items) => Value::List(
            items
                .into_iter()
                .map(|v| named(interface, operation, name, v))
                .collect(),
        ),
        other => other,
    }
}

/// Bytes named as a security descriptor (`SecurityDescriptor`, `lpSecurityDescriptor`, ...)
/// that hold a self-relative one read as SDDL; a structure that only wraps one (its length and
/// bytes: `SAMPR_SR_SECURITY_DESCRIPTOR`, `RPC_SECURITY_DESCRIPTOR`) as that SDDL.
fn security_descriptor(name: &str, v: Value) -> Value {
    match v {
        Value::Bytes(b) if name.contains("SecurityDescriptor") => {
            super::sddl::sddl(&b).map_or(Value::Bytes(b), Value::Text)
        }
        Value::Fields(fields) if name.contains("SecurityDescriptor") => {
            let texts: Vec<&Value> = fields
                .iter()
                .filter(|(n, v)| n.contains("SecurityDescriptor") && matches!(v, Value::Text(_)))
                .map(|(_, v)| v)
                .collect();
            let sizes_only = fields.iter().all(|(n, v)| {
                n.contains("SecurityDescriptor") || matches!(v, Value::UInt(_) | Value::Int(_))
            });
            match texts.as_slice() {
                [t] if sizes_only => (*t).clone(),
                _ => Value::Fields(fields),
            }
        }
        other => other,
    }
}

fn counted_string(fields: &[(FieldName, Value)]) -> Option<Value> {
    match fields {
        [(l, len), (m, _), (b, buffer)]
            if &**l == "Length"
                && &**m == "MaximumLength"
                && &**b == "Buffer"
                && uint(len).is_some() =>
        {
            match buffer {
                Value::Text(_) | Value::Null => Some(buffer.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// MS-RPCE §2.2.2.13: a request stub may end with a verification trailer after the last
/// parameter, aligned to 4 and starting with this signature.
const VERIFICATION_TRAILER_SIGNATURE: [u8; 8] = [0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71];

/// True when what follows the parameters at `end` is padding to 4 and a verification trailer.
fn verification_trailer_follows(stub: &[u8], end: usize) -> bool {
    let at = end.div_ceil(4) * 4;
    stub.get(end..at)
        .is_some_and(|pad| pad.iter().all(|&b| b == 0))
        && stub
            .get(at..at + 8)
            .is_some_and(|s| s == VERIFICATION_TRAILER_SIGNATURE)
}

/// True when up to 7 zero bytes end the stub after the parameters: some encoders (impacket)
/// pad a stub to a multiple of 8.
fn padding_follows(stub: &[u8], end: usize) -> bool {
    stub.get(end..)
        .is_some_and(|rest| rest.len() < 8 && rest.iter().all(|&b| b == 0))
}

/// An MInterfacePointer holding a standard OBJREF (MS-DCOM §2.2.18.1) reads as the interface
/// and the object it points at: `{"objref": "standard", "iid", "oxid", "oid", "ipid"}`; other
/// OBJREFs as their kind and IID, and a WMI object (`IWbemClassObject` marshaled by value) with
/// its `class` and `properties` too.
fn interface_pointer(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(n, _), (d, Value::Bytes(b))] = fields else {
        return None;
    };
    if &**n != "ulCntData" || &**d != "abData" {
        return None;
    }
    let o = super::objref::parse_objref(b)?;
    let mut out = vec![
        ("objref".into(), Value::Text(o.kind.name().into())),
        ("iid".into(), Value::Uuid(o.iid)),
    ];
    if let Some((oxid, oid, ipid)) = o.std {
        out.push(("oxid".into(), Value::Text(format!("{oxid:016x}"))));
        out.push(("oid".into(), Value::Text(format!("{oid:016x}"))));
        out.push(("ipid".into(), Value::Uuid(ipid)));
    }
    // A WMI object marshaled by value: its class and properties (MS-WMIO).
    if let Some((clsid, data)) = super::objref::custom_data(b)
        && clsid == super::wmio::WBEM_CLASS_OBJECT_CLSID
        && let Some(Value::Fields(object)) = super::wmio::decode(data)
    {
        out.extend(object);
    }
    Some(Value::Fields(out))
}

/// A VARIANT on the wire (`wireVARIANT`, MS-OAUT §2.2.29.2) is its type and its value:
/// `{"vt": "VT_BSTR", "value": "text"}`.
fn variant(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(c, _), (r, _), (t, vt), _, _, _, (u, arm)] = fields else {
        return None;
    };
    if &**c != "clSize" || &**r != "rpcReserved" || &**t != "vt" || &**u != "_varUnion" {
        return None;
    }
    let vt = vt.as_u64()?;
    let value = match arm {
        Value::Fields(f) => f.get(1).map_or(Value::Null, |(_, v)| v.clone()),
        _ => Value::Null,
    };
    Some(Value::Fields(vec![
        ("vt".into(), Value::Text(vt_name(vt))),
        ("value".into(), value),
    ]))
}

/// The name of a VARIANT type (MS-OAUT §2.2.7 VARENUM), with its `VT_ARRAY` and `VT_BYREF`
/// flags.
fn vt_name(vt: u64) -> String {
    const NAMES: &[(u64, &str)] = &[
        (0, "VT_EMPTY"),
        (1, "VT_NULL"),
        (2, "VT_I2"),
        (3, "VT_I4"),
        (4, "VT_R4"),
        (5, "VT_R8"),
        (6, "VT_CY"),
        (7, "VT_DATE"),
        (8, "VT_BSTR"),
        (9, "VT_DISPATCH"),
        (10, "VT_ERROR"),
        (11, "VT_BOOL"),
        (12, "VT_VARIANT"),
        (13, "VT_UNKNOWN"),
        (14, "VT_DECIMAL"),
        (16, "VT_I1"),
        (17, "VT_UI1"),
        (18, "VT_UI2"),
        (19, "VT_UI4"),
        (20, "VT_I8"),
        (21, "VT_UI8"),
        (22, "VT_INT"),
        (23, "VT_UINT"),
        (24, "VT_VOID"),
        (25, "VT_HRESULT"),
        (26, "VT_PTR"),
        (27, "VT_SAFEARRAY"),
        (28, "VT_CARRAY"),
        (29, "VT_USERDEFINED"),
        (30, "VT_LPSTR"),
        (31, "VT_LPWSTR"),
        (36, "VT_RECORD"),
        (37, "VT_INT_PTR"),
        (38, "VT_UINT_PTR"),
    ];
    let mut out = String::new();
    for (flag, name) in [(0x2000, "VT_ARRAY|"), (0x4000, "VT_BYREF|")] {
        if vt & flag != 0 {
            out.push_str(name);
        }
    }
    let base = vt & 0x0fff;
    match NAMES.iter().find(|(v, _)| *v == base) {
        Some((_, n)) => out.push_str(n),
        None => out.push_str(&format!("{base:#x}")),
    }
    out
}

/// A SAFEARRAY on the wire (`wireSAFEARRAY`, MS-OAUT §2.2.30.10) is its bounds and its
/// elements: `{"bounds": [{"cElements", "lLbound"}, ...], "elements": [...]}`.
fn safearray(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(d, _), (f, _), (e, _), (l, _), (u, union), (b, bounds)] = fields else {
        return None;
    };
    if &**d != "cDims" || &**f != "fFeatures" || &**e != "cbElements" || &**l != "cLocks" {
        return None;
    }
    if &**u != "uArrayStructs" || &**b != "rgsabound" {
        return None;
    }
    // the arm (after the discriminant) holds a size, then the elements
    let elements = match union {
        Value::Fields(arm) => match arm.get(1) {
            Some((_, Value::Fields(sized))) => sized.get(1).map(|(_, v)| v.clone()),
            _ => None,
        },
        _ => None,
    };
    Some(Value::Fields(vec![
        ("bounds".into(), bounds.clone()),
        ("elements".into(), elements.unwrap_or(Value::Null)),
    ]))
}

/// A BSTR on the wire (`FLAGGED_WORD_BLOB`, MS-OAUT §2.2.23.1) is its text.
fn bstr(fields: &[(FieldName, Value)]) -> Option<Value> {
    match fields {
        [(b, _), (l, _), (d, Value::Text(t))]
            if &**b == "cBytes" && &**l == "clSize" && &**d == "asData" =>
        {
            Some(Value::Text(t.clone()))
        }
        _ => None,
    }
}

fn sid(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(r, rev), (c, _), (a, authority), (s, subs)] = fields else {
        return None;
    };
    if &**r != "Revision"
        || &**c != "SubAuthorityCount"
        || &**a != "IdentifierAuthority"
        || &**s != "SubAuthority"
    {
        return None;
    }
    let bytes = match authority {
        Value::Fields(f) => match f.as_slice() {
            [(_, Value::Bytes(b))] if b.len() == 6 => b.clone(),
            _ => return None,
        },
        Value::Bytes(b) if b.len() == 6 => b.clone(),
        _ => return None,
    };
    let authority = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let Value::List(subs) = subs else { return None };
    let mut text = format!("S-{}-{authority}", uint(rev)?);
    for sub in subs {
        text.push_str(&format!("-{}", uint(sub)?));
    }
    Some(Value::Text(text))
}

fn filetime(fields: &[(FieldName, Value)]) -> Option<Value> {
    let [(l, low), (h, high)] = fields else {
        return None;
    };
    if &**l != "dwLowDateTime" || &**h != "dwHighDateTime" {
        return None;
    }
    let ticks = (uint(high)? << 32) | uint(low)?;
    if ticks == 0 || ticks == u64::MAX || ticks == 0x7fff_ffff_ffff_ffff {
        return Some(Value::UInt(ticks));
    }
    // 100 ns since 1601-01-01; 11,644,473,600 s to 1970
    let micros = i64::try_from(ticks / 10).ok()? - 11_644_473_600_000_000;
    let t = crate::source::Timestamp {
        secs: micros.div_euclid(1_000_000),
        nanos: u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    };
    Some(Value::Text(t.rfc3339_micros()))
}

/// Where a run of parameters ends in a stub: the size of the \[in\] parameters in front of a
/// request's pipes.
///
/// # Errors
/// [`NdrError`] when the parameters cannot be read with the description.
pub fn parameters_end(
    plan: &OpPlan,
    params: &[Param],
    stub: StubBytes<'_>,
) -> Result<usize, NdrError> {
    let mut d = Engine::new(plan, stub, 0);
    for p in params {
        d.parameter(p)?;
    }
    Ok(d.r.pos())
}

/// Replaces the spans of embedded pointers by their referents' (as `fill` does for values).
fn fill_span(span: Span, slots: &mut [Span]) -> Span {
    if let Some(slot) = span.slot
        && let Some(referent) = slots.get_mut(slot)
    {
        let referent = std::mem::take(referent);
        return fill_span(referent, slots);
    }
    Span {
        children: span
            .children
            .into_iter()
            .map(|c| fill_span(c, slots))
            .collect(),
        ..span
    }
}

/// How to read an array: its shape from the plan and the counts its attributes name.
struct ArrayRead<'p> {
    fixed: Option<u64>,
    /// (conformant, varying, string).
    form: (bool, bool, bool),
    chars: Option<Chars>,
    counts: Option<&'p Counts>,
    expected: ExpectedCounts,
}

/// An integer value (a count an array attribute may name).
fn integer_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

/// A pointer whose referent comes later: the slot its value goes to, and its node.
struct Pending {
    slot: usize,
    node: NodeId,
    /// The counts its array's attributes name, once looked up in the structure it is in.
    counts: Option<ExpectedCounts>,
}

/// The maximum and actual counts an array's `size_is`/`max_is` and `length_is` name, when their
/// fields or parameters were read.
#[derive(Clone, Copy, Default)]
struct ExpectedCounts {
    size: Option<i64>,
    length: Option<i64>,
}

/// Where a value's bytes are in its stub (`start..end`, its alignment padding included), with
/// its members' or elements' in order; the referent of an embedded pointer is where it was read,
/// after its parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Past the last byte.
    pub end: usize,
    /// Members, elements, or a union's discriminant and arm (empty when not recorded).
    pub children: Vec<Span>,
    /// Internal: the pointer slot whose referent's span replaces this one.
    slot: Option<usize>,
}

/// The spans being recorded, when they are asked for: one list of spans per open value.
#[derive(Default)]
struct SpanRecorder {
    open: Vec<Vec<Span>>,
    slots: Vec<Span>,
}

/// Runs a compiled plan over one stub.
struct Engine<'p, 's> {
    nodes: &'p [Node],
    r: Reader<'s>,
    little_endian: bool,
    ndr64: bool,
    pending: Vec<Pending>,
    slots: Vec<Value>,
    values: usize,
    spans: Option<SpanRecorder>,
    /// Integer parameters read so far, for the counts arrays name.
    params: Vec<(&'p str, i64)>,
    /// Integer members of the structures being read, innermost last.
    frames: Vec<Vec<(&'p str, i64)>>,
    /// The counts of the array a pending referent is about to read.
    next_counts: Option<ExpectedCounts>,
}

impl<'p, 's> Engine<'p, 's> {
    fn new(plan: &'p OpPlan, stub: StubBytes<'s>, values: usize) -> Self {
        Self {
            nodes: &plan.nodes,
            r: Reader::new(stub.bytes, stub.little_endian, stub.syntax),
            little_endian: stub.little_endian,
            ndr64: stub.syntax == Syntax::Ndr64,
            pending: Vec::new(),
            slots: Vec::new(),
            values,
            spans: None,
            params: Vec::new(),
            frames: Vec::new(),
            next_counts: None,
        }
    }

    /// The counts the attributes of array `node` name, looked up in the innermost structure
    /// being read, else among the parameters.
    fn expected_counts(&self, node: NodeId) -> ExpectedCounts {
        let Some(Node::Array {
            counts: Some(counts),
            ..
        }) = self.nodes.get(node)
        else {
            return ExpectedCounts::default();
        };
        let scope: &[(&str, i64)] = self.frames.last().map_or(&self.params, Vec::as_slice);
        let find = |e: &Option<CountExpr>| {
            let e = e.as_ref()?;
            let (_, v) = scope.iter().rev().find(|(n, _)| *n == e.name)?;
            e.count(*v)
        };
        ExpectedCounts {
            size: find(&counts.size),
            length: find(&counts.length),
        }
    }

    /// Records where every value is ([`Engine::parameter_span`]).
    fn with_spans(mut self) -> Self {
        self.spans = Some(SpanRecorder::default());
        self
    }

    /// The span of the parameter just read (with its referents), when spans are recorded.
    fn parameter_span(&mut self) -> Option<Span> {
        let rec = self.spans.as_mut()?;
        let span = rec.open.pop()?.pop()?;
        Some(fill_span(span, &mut rec.slots))
    }

    /// Opens the list of spans of a value's members.
    fn open_span(&mut self) {
        if let Some(rec) = self.spans.as_mut() {
            rec.open.push(Vec::new());
        }
    }

    /// Closes the value begun at `start`: its span takes the members recorded since.
    fn close_span(&mut self, start: usize, slot: Option<usize>) {
        let end = self.r.pos();
        if let Some(rec) = self.spans.as_mut() {
            let children = rec.open.pop().unwrap_or_default();
            let span = Span {
                start,
                end,
                children,
                slot,
            };
            if let Some(parent) = rec.open.last_mut() {
                parent.push(span);
            }
        }
    }

    /// Records a member read without a node of its own (a union's discriminant).
    fn leaf_span(&mut self, start: usize) {
        let end = self.r.pos();
        if let Some(parent) = self.spans.as_mut().and_then(|r| r.open.last_mut()) {
            parent.push(Span {
                start,
                end,
                ..Span::default()
            });
        }
    }

    fn node(&self, id: NodeId) -> Result<&'p Node, NdrError> {
        self.nodes
            .get(id)
            .ok_or(NdrError::Invalid("node outside the plan"))
    }

    fn align(&mut self, a: Align) -> Result<(), NdrError> {
        self.r
            .align(usize::from(if self.ndr64 { a.ndr64 } else { a.ndr }))
    }

    /// One top-level parameter with the referents of the pointers it embeds.
    fn parameter(&mut self, p: &'p Param) -> Result<Value, NdrError> {
        self.pending.clear();
        self.slots.clear();
        self.frames.clear();
        self.next_counts = None;
        if let Some(rec) = self.spans.as_mut() {
            rec.open = vec![Vec::new()];
            rec.slots.clear();
        }
        let v = self.value(p.node, None)?;
        self.flush(0, 0)?;
        let v = self.fill(v);
        if let Some(i) = integer_of(&v) {
            self.params.push((&p.name, i));
        }
        Ok(v)
    }

    /// Reads the referents pending from `mark` on, each followed by its own; `chain` is how
    /// many referents deep this is (a linked list nests one level per node), at most
    /// [`MAX_POINTER_CHAIN`].
    fn flush(&mut self, mark: usize, chain: usize) -> Result<(), NdrError> {
        if chain > MAX_POINTER_CHAIN && self.pending.len() > mark {
            return Err(NdrError::PointerChain);
        }
        let batch: Vec<Pending> = self.pending.drain(mark..).collect();
        for p in batch {
            let mark = self.pending.len();
            if let Some(rec) = self.spans.as_mut() {
                rec.open.push(Vec::new());
            }
            if matches!(self.nodes.get(p.node), Some(Node::Array { .. })) {
                self.next_counts = Some(p.counts.unwrap_or_else(|| self.expected_counts(p.node)));
            }
            let v = self.value(p.node, None)?;
            self.slots[p.slot] = v;
            if let Some(rec) = self.spans.as_mut() {
                let span = rec.open.pop().and_then(|mut s| s.pop()).unwrap_or_default();
                if rec.slots.len() <= p.slot {
                    rec.slots.resize(p.slot + 1, Span::default());
                }
                rec.slots[p.slot] = span;
            }
            self.flush(mark, chain + 1)?;
        }
        Ok(())
    }

    /// Replaces deferred slots by their values.
    fn fill(&mut self, v: Value) -> Value {
        match v {
            Value::Deferred(i) => {
                let inner = std::mem::replace(&mut self.slots[i], Value::Null);
                self.fill(inner)
            }
            Value::List(items) => Value::List(items.into_iter().map(|x| self.fill(x)).collect()),
            Value::Fields(fields) => {
                Value::Fields(fields.into_iter().map(|(k, x)| (k, self.fill(x))).collect())
            }
            other => other,
        }
    }

    fn count_value(&mut self) -> Result<(), NdrError> {
        self.values += 1;
        if self.values > MAX_DECODED_VALUES {
            return Err(NdrError::TooManyValues);
        }
        Ok(())
    }

    /// The value of node `id`; `hoisted` is the conformance an enclosing structure already
    /// read for a trailing conformant array.
    fn value(&mut self, id: NodeId, hoisted: Option<usize>) -> Result<Value, NdrError> {
        self.count_value()?;
        self.r.enter()?;
        let start = self.r.pos();
        self.open_span();
        let v = self.value_inner(id, hoisted);
        self.r.leave();
        let slot = match &v {
            Ok(Value::Deferred(slot)) => Some(*slot),
            _ => None,
        };
        self.close_span(start, slot);
        v
    }

    fn value_inner(&mut self, id: NodeId, hoisted: Option<usize>) -> Result<Value, NdrError> {
        Ok(match self.node(id)? {
            Node::Void => Value::Null,
            Node::Int(form) => self.integer(*form)?,
            Node::IntPtr { signed } => self.integer(IntForm {
                size: if self.ndr64 { 8 } else { 4 },
                signed: *signed,
            })?,
            Node::Bool => Value::Bool(self.r.u8()? != 0),
            Node::Float => Value::Float(f64::from(f32::from_bits(self.r.u32()?)).to_bits()),
            Node::Double => Value::Float(self.r.u64()?),
            Node::Guid => Value::Uuid(self.r.uuid()?),
            Node::IfId => {
                let uuid = self.r.uuid()?;
                let major = self.r.u16()?;
                let minor = self.r.u16()?;
                Value::Fields(vec![
                    ("Uuid".into(), Value::Uuid(uuid)),
                    ("VersMajor".into(), Value::UInt(major.into())),
                    ("VersMinor".into(), Value::UInt(minor.into())),
                ])
            }
            Node::ContextHandle => Value::Handle(self.r.context_handle()?),
            Node::Enum { v1, members } => {
                let n = self.enum_value(*v1)?;
                members
                    .iter()
                    .find(|(_, v)| *v == n)
                    .map_or(Value::Int(n), |(name, _)| Value::Text(name.clone()))
            }
            Node::RefPointer(referent) => self.value(*referent, hoisted)?,
            Node::Pointer(referent) => {
                if self.r.pointer()?.is_none() {
                    return Ok(Value::Null);
                }
                let slot = self.slots.len();
                self.slots.push(Value::Null);
                self.pending.push(Pending {
                    slot,
                    node: *referent,
                    counts: None,
                });
                Value::Deferred(slot)
            }
            Node::Array {
                elem,
                fixed,
                conformant,
                varying,
                string,
                chars,
                counts,
            } => {
                let expected = match self.next_counts.take() {
                    Some(e) => e,
                    None => self.expected_counts(id),
                };
                let arm = ArrayRead {
                    fixed: *fixed,
                    form: (*conformant, *varying, *string),
                    chars: *chars,
                    counts: counts.as_deref(),
                    expected,
                };
                self.array(*elem, arm, hoisted)?
            }
            Node::Struct {
                fields,
                conformant,
                align,
            } => self.structure(fields, *conformant, *align, hoisted)?,
            Node::Union {
                switch,
                arms,
                switch_align,
                arms_align,
            } => {
                // NDR64 aligns a union to its largest member, discriminant included, and its
                // arm to the largest arm (MS-RPCE §2.2.5.3.4.4)
                if self.ndr64 {
                    self.r
                        .align(usize::from(arms_align.ndr64.max(switch_align.ndr64)))?;
                }
                let at = self.r.pos();
                let d = match switch {
                    Some(node) => self.discriminant(*node)?,
                    None => i64::from(self.r.u32()?),
                };
                self.leaf_span(at);
                if self.ndr64 {
                    self.r.align(usize::from(arms_align.ndr64))?;
                }
                let arm = arms
                    .iter()
                    .find(|a| a.cases.contains(&d))
                    .or_else(|| arms.iter().find(|a| a.cases.is_empty()))
                    .ok_or(NdrError::Invalid("union discriminant with no arm"))?;
                let mut out = vec![(FieldName::from("discriminant"), Value::Int(d))];
                if let Some((name, node)) = &arm.member {
                    let v = self.value(*node, None)?;
                    out.push((name.clone(), v));
                }
                Value::Fields(out)
            }
            Node::Pipe(element) => {
                self.pipe(element.ok_or(NdrError::Invalid("pipe element type"))?)?
            }
            Node::Unreadable(why) => return Err(NdrError::Invalid(why)),
            Node::TooDeep => return Err(NdrError::PlanDepth),
            Node::Ranged { node, min, max } => {
                // the integer itself, not a value of its own
                let v = self.value_inner(*node, hoisted)?;
                match integer_of(&v) {
                    Some(value) if value < *min || value > *max => {
                        return Err(NdrError::OutOfRange {
                            value,
                            min: *min,
                            max: *max,
                        });
                    }
                    _ => v,
                }
            }
        })
    }

    /// An enum's value: 2 bytes in NDR 2.0, 4 with `[v1_enum]` or in NDR64.
    fn enum_value(&mut self, v1: bool) -> Result<i64, NdrError> {
        Ok(if v1 || self.ndr64 {
            i64::from(self.r.u32()?)
        } else {
            i64::from(self.r.u16()?)
        })
    }

    fn array(
        &mut self,
        elem: NodeId,
        how: ArrayRead<'p>,
        hoisted: Option<usize>,
    ) -> Result<Value, NdrError> {
        let ArrayRead {
            fixed,
            form: (conformant, varying, string),
            chars,
            counts,
            expected,
        } = how;
        let max = match (fixed, hoisted) {
            (Some(n), _) => usize::try_from(n).map_err(|_| NdrError::Invalid("array size"))?,
            (None, Some(n)) => n,
            // A varying array's maximum may exceed the data; its actual count is checked.
            (None, None) if conformant && varying => {
                usize::try_from(self.r.size()?).map_err(|_| NdrError::Invalid("array size"))?
            }
            (None, None) if conformant => self.r.count(1)?,
            (None, None) => return Err(NdrError::Invalid("array without a size")),
        };
        // the counts on the wire are those the attributes name (C706 §14.3.3.2; Windows
        // rejects a stub where they differ with RPC_X_BAD_STUB_DATA)
        let check = |count: usize, expected: Option<i64>, expr: Option<&CountExpr>| match (
            expected, expr,
        ) {
            (Some(e), Some(expr)) if i64::try_from(count).ok() != Some(e) => {
                Err(NdrError::CountMismatch {
                    count: count as u64,
                    expected: e,
                    expr: expr.to_string(),
                })
            }
            _ => Ok(()),
        };
        if fixed.is_none() && conformant {
            check(max, expected.size, counts.and_then(|c| c.size.as_ref()))?;
        }
        let len = if varying {
            let (_, actual) = self.r.variance(1)?;
            if actual > max {
                return Err(NdrError::Invalid("actual count larger than the maximum"));
            }
            check(
                actual,
                expected.length,
                counts.and_then(|c| c.length.as_ref()),
            )?;
            actual
        } else {
            max
        };
        if let Some(chars) = chars {
            let size = match chars {
                Chars::Narrow => 1,
                Chars::Wide => 2,
            };
            self.r.align(size)?;
            let bytes = self
                .r
                .take(len.checked_mul(size).ok_or(NdrError::Invalid("count"))?)?;
            // wide characters are text, counted string or not (RPC_UNICODE_STRING's Buffer)
            return Ok(match chars {
                Chars::Wide => Value::Text(utf16_string(bytes, self.little_endian)),
                Chars::Narrow if string => Value::Text(char_string(bytes)),
                Chars::Narrow => Value::Bytes(bytes.to_vec()),
            });
        }
        if len > self.r.remaining() {
            return Err(NdrError::Count {
                count: len as u64,
                at: self.r.pos(),
                left: self.r.remaining(),
            });
        }
        let mut items = Vec::with_capacity(len.min(1024));
        for _ in 0..len {
            items.push(self.value(elem, None)?);
        }
        Ok(Value::List(items))
    }

    /// A struct; `outer` is the conformance an enclosing struct already read for it.
    fn structure(
        &mut self,
        fields: &'p [(FieldName, NodeId)],
        conformant: bool,
        align: Align,
        outer: Option<usize>,
    ) -> Result<Value, NdrError> {
        // The conformance of a trailing conformant array comes first (C706 §14.3.7.2), once
        // for the outermost struct; the array checks it against the data.
        let hoisted = match (conformant, outer) {
            (false, _) => None,
            (true, Some(n)) => Some(n),
            (true, None) => {
                Some(usize::try_from(self.r.size()?).map_err(|_| NdrError::Invalid("array size"))?)
            }
        };
        self.align(align)?;
        let mut out = Vec::with_capacity(fields.len());
        let pending_before = self.pending.len();
        self.frames.push(Vec::new());
        for (i, (name, node)) in fields.iter().enumerate() {
            let h = if i + 1 == fields.len() { hoisted } else { None };
            let v = self.value(*node, h)?;
            if let (Some(int), Some(frame)) = (integer_of(&v), self.frames.last_mut()) {
                frame.push((name, int));
            }
            out.push((name.clone(), v));
        }
        // the referents of its pointers are read later: their counts are this structure's
        for i in pending_before..self.pending.len() {
            if self.pending[i].counts.is_none() {
                let node = self.pending[i].node;
                self.pending[i].counts = Some(self.expected_counts(node));
            }
        }
        self.frames.pop();
        // NDR64 pads a structure to its alignment (MS-RPCE §2.2.5.3.4.1); NDR 2.0 does not
        if self.ndr64 && hoisted.is_none() && self.r.remaining() > 0 {
            self.align(align)?;
        }
        Ok(Value::Fields(out))
    }

    fn discriminant(&mut self, node: NodeId) -> Result<i64, NdrError> {
        let v = match self.node(node)? {
            Node::Int(form) => self.integer(*form)?,
            Node::IntPtr { signed } => self.integer(IntForm {
                size: if self.ndr64 { 8 } else { 4 },
                signed: *signed,
            })?,
            Node::Bool => Value::Bool(self.r.u8()? != 0),
            Node::Enum { v1, .. } => Value::Int(self.enum_value(*v1)?),
            _ => return Err(NdrError::Invalid("discriminant type")),
        };
        match v {
            Value::Int(i) => Ok(i),
            Value::UInt(u) => i64::try_from(u).map_err(|_| NdrError::Invalid("discriminant")),
            Value::Bool(b) => Ok(i64::from(b)),
            _ => Err(NdrError::Invalid("discriminant type")),
        }
    }

    fn pipe(&mut self, element: (u64, u64)) -> Result<Value, NdrError> {
        let (mut chunks, mut elements) = (0u64, 0u64);
        loop {
            let count = self.r.size()?;
            if count == 0 {
                if self.ndr64 {
                    self.r.u64()?;
                }
                return Ok(Value::Pipe { chunks, elements });
            }
            let bytes = usize::try_from(super::plan::chunk_bytes(count, element, self.ndr64))
                .map_err(|_| NdrError::Invalid("pipe chunk count"))?;
            self.r.align(usize::try_from(element.1).unwrap_or(1))?;
            self.r.take(bytes)?;
            if self.ndr64 {
                self.r.u64()?;
            }
            chunks += 1;
            elements += count;
        }
    }

    fn integer(&mut self, IntForm { size, signed }: IntForm) -> Result<Value, NdrError> {
        let (u, bits) = match size {
            1 => (u64::from(self.r.u8()?), 8),
            2 => (u64::from(self.r.u16()?), 16),
            4 => (u64::from(self.r.u32()?), 32),
            _ => (self.r.u64()?, 64),
        };
        if !signed {
            return Ok(Value::UInt(u));
        }
        let shift = 64 - bits;
        #[allow(clippy::cast_possible_wrap)]
        let signed = ((u << shift) as i64) >> shift;
        Ok(Value::Int(signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::parse;

    /// A little-endian NDR stub writer for hand-built stubs.
    #[derive(Default)]
    struct Writer(Vec<u8>, BigEndian);

    /// Writes big-endian integers when true.
    #[derive(Default)]
    struct BigEndian(bool);

    impl Writer {
        fn pad(&mut self, n: usize) -> &mut Self {
            while self.0.len() % n != 0 {
                self.0.push(0xAA);
            }
            self
        }
        fn u8(&mut self, v: u8) -> &mut Self {
            self.0.push(v);
            self
        }
        fn u16(&mut self, v: u16) -> &mut Self {
            self.int(v.to_le_bytes(), v.to_be_bytes())
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            self.int(v.to_le_bytes(), v.to_be_bytes())
        }
        fn u64(&mut self, v: u64) -> &mut Self {
            self.int(v.to_le_bytes(), v.to_be_bytes())
        }
        /// An integer aligned to its size, in the writer's byte order.
        fn int<const N: usize>(&mut self, le: [u8; N], be: [u8; N]) -> &mut Self {
            let b = if self.1.0 { be } else { le };
            self.pad(N).0.extend(b);
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut Self {
            self.0.extend_from_slice(b);
            self
        }
        /// A conformant varying UTF-16 string with its terminator.
        fn wstring(&mut self, s: &str) -> &mut Self {
            let n = u32::try_from(s.len() + 1).unwrap();
            self.u32(n).u32(0).u32(n);
            for c in s.encode_utf16().chain([0]) {
                self.0.extend(c.to_le_bytes());
            }
            self
        }
    }

    const IDL: &str = r#"
typedef [v1_enum] enum { RED = 1, GREEN = 2 } COLOUR;
typedef enum { SMALL = 0, LARGE = 7 } SIZE;
typedef struct { long count; [size_is(count)] long *values; [string] wchar_t *label; } LIST;
typedef struct { unsigned long len; [size_is(len)] byte data[]; } BLOB;
typedef [switch_type(unsigned short)] union { [case(1)] long one; [case(2)] hyper two; [default] ; } CHOICE;
typedef struct { unsigned short level; [switch_is(level)] CHOICE u; } HOLDER;
typedef union switch (long kind) u { case 5: unsigned char five; default: ; } ENCAPSULATED;
typedef [context_handle] void *HANDLE_T;
typedef pipe unsigned char BYTES;
[uuid(12345678-1234-1234-1234-123456789abc), version(1.0)]
interface demo
{
    long Scalars([in] handle_t h, [in] long a, [in] unsigned short b, [in] hyper c, [in] boolean d, [in] COLOUR e, [in] SIZE f, [in] small g, [out] long *r);
    void Strings([in, string] wchar_t *name, [in, unique, string] char *missing, [in, unique, string] char *present, [in, string] char fixed[8]);
    void Structs([in] LIST *list, [in] BLOB *blob, [in, unique] BLOB *none);
    void Unions([in] HOLDER *holder, [in, switch_is(2)] CHOICE *direct, [in] ENCAPSULATED *enc);
    void Arrays([in] long fixed[3], [in] unsigned long n, [in, size_is(n)] unsigned short conformant[], [in, size_is(n), length_is(1)] long varying[], [in] GUID g);
    long Handles([in] HANDLE_T h, [in, out] HANDLE_T *io, [out] HANDLE_T *created, [in] BYTES data);
    long OutPipe([in] long a, [out] BYTES *data, [out] unsigned long *total);
    void Pointers([in, range(1, 10)] long r, [in, ref] long *byref, [in, ptr] long *full, [in, ptr] long *none, [in, unique] LIST **nested);
    void StringArgs([in] unsigned long n, [in, string, size_is(n), unique] wchar_t **args, [in] long after);
}
"#;

    /// The [in] parameters of `lib`'s first operation in a little-endian NDR request stub.
    fn decode_request(lib: &Library, bytes: &[u8]) -> Decoded {
        let mut d = Decoded::default();
        let stub = StubBytes {
            bytes,
            direction: Direction::In,
            little_endian: true,
            syntax: Syntax::Ndr,
        };
        decode_stub(lib, &lib.interfaces[0], 0, stub, &mut d);
        d
    }

    fn run(opnum: u16, direction: Direction, stub: &[u8]) -> Decoded {
        run_as(opnum, direction, stub, true, Syntax::Ndr)
    }

    fn run_as(
        opnum: u16,
        direction: Direction,
        stub: &[u8],
        little_endian: bool,
        syntax: Syntax,
    ) -> Decoded {
        let lib = parse(IDL, "demo.idl").unwrap();
        let iface = &lib.interfaces[0];
        let mut d = Decoded::default();
        let stub = StubBytes {
            bytes: stub,
            direction,
            little_endian,
            syntax,
        };
        decode_stub(&lib, iface, opnum, stub, &mut d);
        d
    }

    fn json(d: &Decoded) -> serde_json::Value {
        serde_json::to_value(d).unwrap()
    }

    #[test]
    fn base_types_enums_and_the_return_value() {
        let mut s = Writer::default();
        s.u32((-5i32) as u32)
            .u16(65535)
            .u64(1 << 40)
            .u8(1)
            .u32(2)
            .u16(7)
            .u8(0xff);
        let d = run(0, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(v["in"]["a"], -5);
        assert_eq!(v["in"]["b"], 65535);
        assert_eq!(v["in"]["c"], 1u64 << 40);
        assert_eq!(v["in"]["d"], true);
        assert_eq!(v["in"]["e"], "GREEN", "v1_enum is 32 bits");
        assert_eq!(v["in"]["f"], "LARGE", "enums are 16 bits");
        assert_eq!(v["in"]["g"], -1, "small is signed");
        assert!(v["in"].get("h").is_none(), "handle_t is not on the wire");
        let mut s = Writer::default();
        s.u32(42).u32(0xC000_0022);
        let v = json(&run(0, Direction::Out, &s.0));
        assert_eq!(v["out"]["r"], 42);
        assert_eq!(v["out"]["return"], -1_073_741_790);
    }

    #[test]
    fn a_sized_array_of_string_pointers_takes_string_on_its_elements() {
        // `[string, size_is(n)] wchar_t **args` (MS-TSCH SchRpcRun): n pointers to strings.
        let wide = |t: &str| -> Vec<u8> {
            t.encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect()
        };
        let mut s = Writer::default();
        s.u32(2).u32(0x20000).u32(2).u32(0x20004).u32(0x20008);
        s.u32(2).u32(0).u32(2);
        s.0.extend(wide("a"));
        s.u32(3).u32(0).u32(3);
        s.0.extend(wide("bc"));
        s.0.extend([0, 0]);
        s.u32(7);
        let d = run(8, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(v["in"]["args"], serde_json::json!(["a", "bc"]));
        assert_eq!(v["in"]["after"], 7);
    }

    #[test]
    fn big_endian_stubs() {
        let mut s = Writer(Vec::new(), BigEndian(true));
        s.u32((-5i32) as u32)
            .u16(65535)
            .u64(1 << 40)
            .u8(1)
            .u32(2)
            .u16(7)
            .u8(0xff);
        let d = run_as(0, Direction::In, &s.0, false, Syntax::Ndr);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(
            (&v["in"]["a"], &v["in"]["c"]),
            (&(-5).into(), &(1u64 << 40).into())
        );
        assert_eq!(v["in"]["e"], "GREEN");
        let mut s = Writer(Vec::new(), BigEndian(true));
        s.u32(3).u32(0).u32(3);
        s.bytes(&[0, b'h', 0, b'i', 0, 0]);
        s.u32(0).u32(0); // missing, present: null
        s.u32(0).u32(1).bytes(b"\0"); // fixed: offset, actual count, the terminator
        let d = run_as(1, Direction::In, &s.0, false, Syntax::Ndr);
        assert_eq!(json(&d)["in"]["name"], "hi", "{:?}", d.errors);
    }

    #[test]
    fn ndr64_sizes_pointers_and_alignment() {
        let mut s = Writer::default();
        // LIST in NDR64: aligned to 8 (its pointers), 64-bit referent ids and counts.
        s.u32(2).u64(0x0002_0000).u64(0x0002_0004);
        s.u64(2).u32(10).u32(20);
        s.u64(3).u64(0).u64(3);
        for c in "hi\0".encode_utf16() {
            s.0.extend(c.to_le_bytes());
        }
        // BLOB: the hoisted conformance is 64 bits.
        s.pad(8).u64(2).u32(2).bytes(&[7, 8]);
        s.pad(8).u64(0);
        let d = run_as(2, Direction::In, &s.0, true, Syntax::Ndr64);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(
            v["in"]["list"],
            serde_json::json!({"count": 2, "values": [10, 20], "label": "hi"})
        );
        assert_eq!(
            v["in"]["blob"],
            serde_json::json!({"len": 2, "data": "0708"})
        );
        assert_eq!(v["in"]["none"], serde_json::Value::Null);
    }

    #[test]
    fn strings_top_level_unique_and_fixed() {
        let mut s = Writer::default();
        s.wstring("C:\\temp");
        s.u32(0); // missing: null unique pointer
        s.u32(0x0002_0000).u32(3).u32(0).u32(3).bytes(b"ab\0");
        s.pad(4).u32(0).u32(3).bytes(b"xy\0");
        let d = run(1, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(v["in"]["name"], "C:\\temp");
        assert_eq!(v["in"]["missing"], serde_json::Value::Null);
        assert_eq!(v["in"]["present"], "ab");
        assert_eq!(
            v["in"]["fixed"], "xy",
            "fixed [string] array is varying only"
        );
    }

    #[test]
    fn embedded_pointers_follow_their_structure_and_conformance_is_hoisted() {
        let mut s = Writer::default();
        // LIST: count, referent ids, then the referents in member order.
        s.u32(2).u32(0x0002_0000).u32(0x0002_0004);
        s.u32(2).u32(10).u32(20);
        s.wstring("hi");
        // BLOB: conformance first, then the members.
        s.pad(4).u32(3).u32(3).bytes(&[1, 2, 3]);
        s.pad(4).u32(0);
        let d = run(2, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(
            v["in"]["list"],
            serde_json::json!({"count": 2, "values": [10, 20], "label": "hi"})
        );
        assert_eq!(
            v["in"]["blob"],
            serde_json::json!({"len": 3, "data": "010203"})
        );
        assert_eq!(v["in"]["none"], serde_json::Value::Null);
    }

    #[test]
    fn unions_take_the_arm_their_discriminant_names() {
        let mut s = Writer::default();
        s.u16(1).u16(1).u32(99); // HOLDER: level, then the union (discriminant, arm)
        s.u16(2).u64(7); // CHOICE with switch_type(unsigned short), arm hyper
        s.u32(5).u8(0x41); // ENCAPSULATED: long discriminant
        let d = run(3, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(
            v["in"]["holder"]["u"],
            serde_json::json!({"discriminant": 1, "one": 99})
        );
        assert_eq!(
            v["in"]["direct"],
            serde_json::json!({"discriminant": 2, "two": 7})
        );
        assert_eq!(
            v["in"]["enc"],
            serde_json::json!({"discriminant": 5, "five": 0x41})
        );
    }

    #[test]
    fn fixed_conformant_and_varying_arrays() {
        let mut s = Writer::default();
        s.u32(1).u32(2).u32(3);
        s.u32(2);
        s.u32(2).u16(7).u16(8);
        s.u32(2).u32(0).u32(1).u32(5);
        s.bytes(&[0x78, 0x56, 0x34, 0x12, 0x34, 0x12, 0x34, 0x12]);
        s.bytes(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
        let d = run(4, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(v["in"]["fixed"], serde_json::json!([1, 2, 3]));
        assert_eq!(v["in"]["conformant"], serde_json::json!([7, 8]));
        assert_eq!(
            v["in"]["varying"],
            serde_json::json!([5]),
            "only the actual count"
        );
        assert_eq!(v["in"]["g"], "12345678-1234-1234-1234-56789abcdef0");
    }

    #[test]
    fn context_handles_and_pipes() {
        let h = [7u8; 20];
        let mut s = Writer::default();
        s.bytes(&h).bytes(&h);
        s.u32(2)
            .bytes(&[1, 2])
            .pad(4)
            .u32(1)
            .bytes(&[3])
            .pad(4)
            .u32(0);
        let d = run(5, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(v["in"]["h"], "07".repeat(20));
        assert_eq!(
            v["in"]["data"],
            serde_json::json!({"pipe_chunks": 2, "pipe_elements": 3})
        );
        let mut s = Writer::default();
        s.bytes(&h).bytes(&[9u8; 20]).u32(0);
        let v = json(&run(5, Direction::Out, &s.0));
        assert_eq!(v["out"]["created"], "09".repeat(20));
        assert_eq!(v["out"]["return"], 0);
    }

    #[test]
    fn out_pipes_come_before_the_other_out_parameters() {
        let mut s = Writer::default();
        s.u32(1).u8(5).pad(4).u32(0).u32(1).u32(0);
        let d = run(6, Direction::Out, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let names: Vec<&str> = d.response.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["data", "total", "return"]);
    }

    #[test]
    fn pointer_kinds_and_pointers_to_pointers() {
        let mut s = Writer::default();
        s.u32(5); // range: a plain long
        s.u32(6); // [ref]: the referent in place
        s.u32(0x0002_0000).u32(7); // [ptr]: referent id, then the referent
        s.u32(0); // null [ptr]
        // [unique] LIST **: id, then the inner pointer's id, then the LIST and its referents.
        s.u32(0x0002_0004)
            .u32(0x0002_0008)
            .u32(1)
            .u32(0)
            .u32(0x0002_000c)
            .wstring("x");
        let d = run(7, Direction::In, &s.0);
        assert_eq!(d.errors, Vec::<String>::new());
        let v = json(&d);
        assert_eq!(
            v["in"],
            serde_json::json!({"r": 5, "byref": 6, "full": 7, "none": null,
                "nested": {"count": 1, "values": null, "label": "x"}})
        );
    }

    #[test]
    fn errors_name_the_parameter_and_keep_the_ones_before() {
        let mut s = Writer::default();
        s.u32(2).u32(0x0002_0000).u32(0); // list.values pointer, then the stub ends
        let d = run(2, Direction::In, &s.0);
        assert!(d.request.is_empty());
        assert!(
            d.errors[0].starts_with("request: parameter list:"),
            "{:?}",
            d.errors
        );
        let mut s = Writer::default();
        s.u32(1).u32(2).u32(3).u32(0xffff_ffff).u32(0xffff_ffff);
        let d = run(4, Direction::In, &s.0);
        assert_eq!(d.request.len(), 2, "fixed and n decoded: {:?}", d.request);
        assert!(
            d.errors[0].contains("parameter conformant"),
            "{:?}",
            d.errors
        );
        let mut s = Writer::default();
        s.u32(1).u32(7);
        let d = run(6, Direction::In, &s.0);
        assert_eq!(d.errors, ["request: 4 bytes after the last parameter"]);
    }

    #[test]
    fn hostile_counts_stop_at_the_value_limit() {
        let lib =
            parse("[uuid(12345678-1234-1234-1234-123456789abc)] interface x { void F([in] unsigned long n, [in, size_is(n)] short a[]); }", "x.idl")
                .unwrap();
        let mut s = Writer::default();
        let n = u32::try_from(MAX_DECODED_VALUES + 10).unwrap();
        s.u32(n).u32(n);
        s.bytes(&vec![0u8; (MAX_DECODED_VALUES + 10) * 2]);
        let d = decode_request(&lib, &s.0);
        assert!(d.errors[0].contains("decoding limit"), "{:?}", d.errors);
    }

    fn f(name: &str, v: Value) -> (FieldName, Value) {
        (name.into(), v)
    }

    /// MS-DTYP's common types read as people write them: RPC_UNICODE_STRING as its text,
    /// RPC_SID as S-1-..., FILETIME as RFC 3339, a GUID structure as a GUID.
    #[test]
    fn common_types_become_readable() {
        let s = Value::Fields(vec![
            f("Length", Value::UInt(8)),
            f("MaximumLength", Value::UInt(10)),
            f("Buffer", Value::Text("user".into())),
        ]);
        assert_eq!(readable(s), Value::Text("user".into()));
        let sid = Value::Fields(vec![
            f("Revision", Value::UInt(1)),
            f("SubAuthorityCount", Value::UInt(2)),
            f(
                "IdentifierAuthority",
                Value::Fields(vec![f("Value", Value::Bytes(vec![0, 0, 0, 0, 0, 5]))]),
            ),
            f(
                "SubAuthority",
                Value::List(vec![Value::UInt(32), Value::UInt(544)]),
            ),
        ]);
        assert_eq!(readable(sid), Value::Text("S-1-5-32-544".into()));
        // 2020-01-01T00:00:00Z is 132223104000000000 in 100 ns since 1601
        let ticks: u64 = 132_223_104_000_000_000;
        let ft = Value::Fields(vec![
            f("dwLowDateTime", Value::UInt(ticks & 0xffff_ffff)),
            f("dwHighDateTime", Value::UInt(ticks >> 32)),
        ]);
        assert_eq!(
            readable(ft),
            Value::Text("2020-01-01T00:00:00.000000Z".into())
        );
        let g = Value::Fields(vec![
            f("Data1", Value::UInt(0x4992_5ecb)),
            f("Data2", Value::UInt(0x0ff5)),
            f("Data3", Value::UInt(0x4e44)),
            f(
                "Data4",
                Value::Bytes(vec![0xa7, 0x86, 0x85, 0xae, 0x52, 0x74, 0x4b, 0x7e]),
            ),
        ]);
        let Value::Uuid(u) = readable(g) else {
            panic!()
        };
        assert_eq!(u.to_string(), "49925ecb-0ff5-4e44-a786-85ae52744b7e");
        let other = Value::Fields(vec![f("Length", Value::UInt(1))]);
        assert_eq!(
            readable(other.clone()),
            other,
            "other structures stay as they are"
        );
    }

    #[test]
    fn key_parameters_name_the_text_values_by_path() {
        let d = Decoded {
            request: vec![
                f("hSCManager", Value::Handle([1; 20])),
                f("lpServiceName", Value::Text("PSEXESVC".into())),
                f(
                    "pAtInfo",
                    Value::Fields(vec![
                        f("JobTime", Value::UInt(1)),
                        f("Command", Value::Text("x".repeat(200))),
                    ]),
                ),
                f(
                    "Names",
                    Value::List(vec![Value::Text("a".into()), Value::Text("b".into())]),
                ),
                f("object", Value::Uuid(Uuid([0; 16]))),
            ],
            ..Decoded::default()
        };
        let key = d.key_parameters();
        assert!(
            key.starts_with("lpServiceName=\"PSEXESVC\" pAtInfo.Command=\"xxx"),
            "{key}"
        );
        assert!(key.contains("…\" Names[]=\"a\" Names[]=\"b\""), "{key}");
        assert!(!key.contains("object"), "the nil GUID is left out: {key}");
        let out_only = Decoded {
            response: vec![
                f("Name", Value::Text("n".into())),
                f("return", Value::UInt(0)),
            ],
            ..Decoded::default()
        };
        assert_eq!(out_only.key_parameters(), "Name=\"n\"");
    }

    #[test]
    fn interface_pointers_read_as_their_objref() {
        let mut b = b"MEOW".to_vec();
        b.extend(1u32.to_le_bytes());
        b.extend([0x11; 16]); // iid
        b.extend([0; 8]); // flags, cPublicRefs
        b.extend(0x0102_0304_0506_0708u64.to_le_bytes());
        b.extend(9u64.to_le_bytes());
        b.extend([0x22; 16]); // ipid
        let v = readable(Value::Fields(vec![
            f("ulCntData", Value::UInt(b.len() as u64)),
            f("abData", Value::Bytes(b)),
        ]));
        let Value::Fields(o) = v else { panic!("{v:?}") };
        assert_eq!(o[0], f("objref", Value::Text("standard".into())));
        assert_eq!(o[2], f("oxid", Value::Text("0102030405060708".into())));
        assert_eq!(o[3], f("oid", Value::Text("0000000000000009".into())));
    }

    #[test]
    fn what_may_end_a_stub() {
        let mut stub = vec![1, 2, 3, 0, 0];
        assert!(padding_follows(&stub, 3));
        stub.extend(VERIFICATION_TRAILER_SIGNATURE);
        assert!(!padding_follows(&stub, 3));
        assert!(verification_trailer_follows(
            &[1, 2, 3, 0, 0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71],
            3
        ));
        assert!(!verification_trailer_follows(&stub, 1));
    }

    /// A hostile linked list 10,000 nodes long stops at MAX_POINTER_CHAIN with an error, no
    /// stack overflow and no JSON nested thousands deep.
    #[test]
    fn a_long_pointer_chain_stops_at_its_limit() {
        let mut lib = parse(
            "[uuid(12345678-1234-1234-1234-123456789abc)] interface l { typedef struct _N { long v; [unique] struct _N *next; } N; void F([in] N *head); }",
            "l.idl",
        )
        .unwrap();
        lib.link();
        let mut s = Writer::default();
        for i in 0..10_000u32 {
            s.u32(i).u32(0x0002_0000 + i);
        }
        s.u32(1).u32(0);
        let d = decode_request(&lib, &s.0);
        assert!(d.errors[0].contains("MAX_POINTER_CHAIN"), "{:?}", d.errors);
    }

    #[test]
    fn the_tree_of_a_call_says_where_each_value_is() {
        let lib = parse(
            "[uuid(12345678-1234-1234-1234-123456789abc)] interface t { \
             typedef struct { short s; [unique, string] wchar_t *name; } S; \
             long f([in] long a, [in] S x, [in] hyper h); }",
            "t.idl",
        )
        .unwrap();
        let plan = lib.plan(&lib.interfaces[0], 0).unwrap();
        let mut w = Writer::default();
        w.u32(1).u16(2).pad(4).u32(0x20000); // a, x.s, x.name's referent id
        w.u32(3).u32(0).u32(3); // the referent: maximum, offset, actual count
        w.u16(u16::from(b'a')).u16(u16::from(b'b')).u16(0); // "ab\0" (24..30)
        w.pad(8).u64(7); // h at 32
        let stubs = CallStubs {
            interface: (lib.interfaces[0].uuid, lib.interfaces[0].version.0),
            opnum: 0,
            request: SideStub::Whole(w.0.clone()),
            response: SideStub::Whole(vec![0; 4]),
            little_endian: [true; 2],
            syntax: Syntax::Ndr,
        };
        let tree = decode_call_tree(&plan, 0, &stubs);
        let at = |text: &str| {
            tree.iter()
                .find(|l| l.text == text)
                .unwrap_or_else(|| panic!("{text} in {tree:?}"))
                .at
                .clone()
                .map(|(_, r)| r)
        };
        assert_eq!(at("  a: 1"), Some(0..4));
        assert_eq!(at("  x"), Some(4..12));
        assert_eq!(at("    s: 2"), Some(4..6));
        assert_eq!(
            at("    name: \"ab\""),
            Some(12..30),
            "the referent, after x"
        );
        assert_eq!(at("  h: 7"), Some(30..40), "its alignment padding included");
        assert_eq!(
            tree.iter()
                .find(|l| l.text == "  return: 0")
                .and_then(|l| l.at.clone()),
            Some((Direction::Out, 0..4))
        );
        // the same values as the call's decoded parameters
        let decoded = decode_call(&plan, 0, &stubs);
        let mut plain: Vec<String> = tree.iter().map(|l| l.text.clone()).collect();
        plain.retain(|l| !l.starts_with("key "));
        assert_eq!(plain, decoded.tree());
    }

    #[test]
    fn variants_and_safearrays_read_as_their_type_and_values() {
        let variant = |vt: u64, arm: Option<(&str, Value)>| {
            let mut union = vec![f("discriminant", Value::Int(vt as i64))];
            union.extend(arm.map(|(n, v)| f(n, v)));
            Value::Fields(vec![
                f("clSize", Value::UInt(6)),
                f("rpcReserved", Value::UInt(0)),
                f("vt", Value::UInt(vt)),
                f("wReserved1", Value::UInt(0)),
                f("wReserved2", Value::UInt(0)),
                f("wReserved3", Value::UInt(0)),
                f("_varUnion", Value::Fields(union)),
            ])
        };
        let bstr = variant(8, Some(("bstrVal", Value::Text("Win32_Process".into()))));
        assert_eq!(
            readable(bstr).render(),
            r#"{"vt":"VT_BSTR","value":"Win32_Process"}"#
        );
        assert_eq!(
            readable(variant(1, None)).render(),
            r#"{"vt":"VT_NULL","value":null}"#
        );
        assert_eq!(vt_name(0x2008), "VT_ARRAY|VT_BSTR");
        assert_eq!(vt_name(0x4003), "VT_BYREF|VT_I4");
        let array = Value::Fields(vec![
            f("cDims", Value::UInt(1)),
            f("fFeatures", Value::UInt(0x100)),
            f("cbElements", Value::UInt(4)),
            f("cLocks", Value::UInt(0)),
            f(
                "uArrayStructs",
                Value::Fields(vec![
                    f("discriminant", Value::Int(8)),
                    f(
                        "BstrStr",
                        Value::Fields(vec![
                            f("Size", Value::UInt(2)),
                            f(
                                "aBstr",
                                Value::List(vec![Value::Text("a".into()), Value::Text("b".into())]),
                            ),
                        ]),
                    ),
                ]),
            ),
            f(
                "rgsabound",
                Value::List(vec![Value::Fields(vec![
                    f("cElements", Value::UInt(2)),
                    f("lLbound", Value::Int(0)),
                ])]),
            ),
        ]);
        assert_eq!(
            readable(array).render(),
            r#"{"bounds":[{"cElements":2,"lLbound":0}],"elements":["a","b"]}"#
        );
    }

    #[test]
    fn guids_are_named_in_the_text_outputs() {
        let wmi = Uuid::parse("8bc3f05e-d86b-11d0-a075-00c04fb68820").unwrap();
        assert_eq!(
            Value::Uuid(wmi).render(),
            "\"8bc3f05e-d86b-11d0-a075-00c04fb68820\" (WbemLevel1Login)"
        );
        assert_eq!(
            Value::Uuid(Uuid::default()).render(),
            format!("\"{}\"", Uuid::default())
        );
    }

    #[test]
    fn a_value_outside_its_range_stops_the_decoding() {
        let lib = parse(
            "[uuid(12345678-1234-1234-1234-123456789abc)] interface t { \
             const long MAXV = 5; typedef [range(0, MAXV)] unsigned long SMALL; \
             void f([in, range(1, 2 * 5)] long n, [in, range(0, MAXV)] unsigned long m, \
             [in] SMALL after); }",
            "t.idl",
        )
        .unwrap();
        let run = |n: u32, m: u32| {
            let mut w = Writer::default();
            w.u32(n).u32(m).u32(if n == 9 { 7 } else { 4 });
            decode_request(&lib, &w.0)
        };
        let ok = run(10, 5);
        assert!(ok.errors.is_empty(), "{:?}", ok.errors);
        assert_eq!(ok.request.len(), 3);
        let low = run(0, 5);
        assert_eq!(
            low.errors,
            ["request: parameter n: value 0 outside range(1, 10)"]
        );
        let high = run(3, 6);
        assert_eq!(
            high.errors,
            ["request: parameter m: value 6 outside range(0, 5)"]
        );
        assert_eq!(high.request.len(), 1, "the parameters before are kept");
        let typedef = run(9, 5);
        assert_eq!(
            typedef.errors,
            ["request: parameter after: value 7 outside range(0, 5)"],
            "a typedef's range counts too"
        );
    }

    #[test]
    fn array_counts_must_be_those_their_attributes_name() {
        let lib = parse(
            "[uuid(12345678-1234-1234-1234-123456789abc)] interface t { \
             typedef struct { long n; [size_is(n)] byte *p; } S; \
             typedef struct { long cch; [size_is(cch * 2)] byte b[]; } T; \
             void f([in] long n, [in, size_is(n), length_is(n - 1)] byte *a, [in] S s, \
             [in] T *t); }",
            "t.idl",
        )
        .unwrap();
        let run = |a: (u32, u32), p: u32, b: u32| {
            let mut w = Writer::default();
            w.u32(3); // n
            w.u32(a.0)
                .u32(0)
                .u32(a.1)
                .bytes(&vec![1; a.1 as usize])
                .pad(4); // a
            w.u32(2).u32(0x20000); // s.n, s.p's referent id
            w.u32(p).bytes(&vec![2; p as usize]).pad(4); // s.p's referent
            w.u32(b).u32(1).bytes(&vec![3; b as usize]); // t: hoisted count, cch, b
            let d = decode_request(&lib, &w.0);
            d.errors
        };
        assert_eq!(run((3, 2), 2, 2), Vec::<String>::new());
        assert_eq!(
            run((4, 2), 2, 2),
            ["request: parameter a: count 4 where size_is(n) is 3"]
        );
        assert_eq!(
            run((3, 3), 2, 2),
            ["request: parameter a: count 3 where length_is(n - 1) is 2"],
            "length_is reads as its expression"
        );
        assert_eq!(
            run((3, 2), 5, 2),
            ["request: parameter s: count 5 where size_is(n) is 2"],
            "a referent's count is its structure's member"
        );
        assert_eq!(
            run((3, 2), 2, 4),
            ["request: parameter t: count 4 where size_is(cch * 2) is 2"]
        );
    }

    #[test]
    fn parameters_as_a_tree() {
        let d = Decoded {
            request: vec![
                f("lpServiceName", Value::Text("PSEXESVC".into())),
                f(
                    "pInfo",
                    Value::Fields(vec![
                        f("Level", Value::UInt(1)),
                        f("Names", Value::List(vec![Value::Text("a".into())])),
                    ]),
                ),
            ],
            response: vec![f("return", Value::UInt(0))],
            errors: vec!["response: a fault".into()],
            ..Decoded::default()
        };
        assert_eq!(
            d.tree(),
            [
                "in",
                "  lpServiceName: \"PSEXESVC\"",
                "  pInfo",
                "    Level: 1",
                "    Names [1]",
                "      [0]: \"a\"",
                "out",
                "  return: 0",
                "not decoded: response: a fault",
            ]
        );
        let mut lines = Vec::new();
        Value::List(vec![Value::UInt(1); 5_000]).tree("big", 0, &mut lines);
        assert_eq!(lines.len(), MAX_TREE_LINES + 1, "bounded, and says so");
    }
}
