//! The compiled form of an operation's description: each operation is lowered once into a
//! resolved plan that the NDR engine ([`super::values`]) runs for every call of it. Typedefs are
//! followed, base types sized, pointer kinds fixed by position (C706 §14.3.10: a top-level
//! pointer is `[ref]` unless it says otherwise), `size_is`/`length_is`/`string` turned into
//! array forms and their counts bound to the fields or parameters they name ([`CountExpr`]),
//! `range` bounds evaluated, `switch_is` bound to the type of the field it names, pipe element layouts and
//! the alignments of structures and unions computed for NDR 2.0 and NDR64 (C706 chapter 14,
//! MS-RPCE §2.2.5). Plans are cached per operation in [`PlanCache`].
//!
//! A plan is a small arena of [`Node`]s; a recursive type (a linked list) refers back to its
//! own node, so lowering ends. Lowering stops at [`MAX_PLAN_DEPTH`] nested types, leaving a
//! node that fails when a stub reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::value::FieldName;
use super::{Attr, Field, Interface, Library, Type};
use crate::dce::Uuid;
use crate::hash::FastMap;

/// Size and alignment of a pipe element, which may not hold pointers or conformant data. The
/// size has no padding after the last member: NDR 2.0 pads nothing after a structure (the next
/// element or count aligns itself), NDR64 pads a structure to its alignment ([`chunk_bytes`]).
pub(crate) fn layout(lib: &Library, ty: &Type) -> Option<(u64, u64)> {
    layout_in(lib, ty, &mut HashMap::new())
}

/// [`layout`], remembering each structure's (`None` while it is being computed, so a
/// structure that contains itself has none, and each is computed once).
fn layout_in(
    lib: &Library,
    ty: &Type,
    seen: &mut HashMap<*const Type, Option<(u64, u64)>>,
) -> Option<(u64, u64)> {
    let resolved = lib.resolve(ty);
    match resolved {
        Type::Base(b) => Some(base_size(b)?),
        Type::Enum(_) => Some((2, 2)),
        Type::Array(t, Some(n)) => {
            let (s, a) = layout_in(lib, t, seen)?;
            let bytes = match n {
                0 => 0,
                n => (n - 1).checked_mul(stride(s, a))?.checked_add(s)?,
            };
            Some((bytes, a))
        }
        Type::Struct(fields) => {
            let key: *const Type = resolved;
            if let Some(known) = seen.get(&key) {
                return *known;
            }
            seen.insert(key, None);
            let mut size = 0u64;
            let mut align = 1u64;
            for f in fields {
                let (s, a) = layout_in(lib, &f.ty, seen)?;
                size = size.div_ceil(a).checked_mul(a)?.checked_add(s)?;
                align = align.max(a);
            }
            seen.insert(key, Some((size, align)));
            Some((size, align))
        }
        _ => None,
    }
}

/// Distance from one array element to the next: the size rounded up to the alignment.
pub(crate) fn stride(size: u64, align: u64) -> u64 {
    size.div_ceil(align.max(1)).saturating_mul(align.max(1))
}

/// Bytes of `count` elements of a pipe chunk after the alignment before the first one: every
/// element but the last is followed by the padding that aligns the next; in NDR 2.0 the last
/// one is not (C706 §14.3.11: the next count aligns itself to 4), in NDR64 it is padded to
/// its alignment too (MS-RPCE §2.2.5.3.4.1). Saturates on hostile counts.
pub(crate) fn chunk_bytes(count: u64, (size, align): (u64, u64), ndr64: bool) -> u64 {
    match count {
        0 => 0,
        _ if ndr64 => count.saturating_mul(stride(size, align)),
        n => (n - 1)
            .saturating_mul(stride(size, align))
            .saturating_add(size),
    }
}

pub(crate) fn base_size(b: &str) -> Option<(u64, u64)> {
    // The word that sets the size wins over `int` (`short int`, `unsigned long int`).
    let words = || {
        b.split(' ')
            .filter(|w| !matches!(*w, "signed" | "unsigned" | "const"))
    };
    let has = |set: &[&str]| words().any(|w| set.contains(&w));
    Some(if has(&["hyper", "__int64", "int64", "uint64", "double"]) {
        (8, 8)
    } else if has(&["short", "wchar_t", "int16", "uint16", "__int16"]) {
        (2, 2)
    } else if has(&[
        "small", "char", "byte", "boolean", "int8", "uint8", "__int8",
    ]) {
        (1, 1)
    } else if words().next().is_none()
        || has(&[
            "long",
            "int",
            "float",
            "error_status_t",
            "int32",
            "uint32",
            "__int32",
            "__int3264",
        ])
    {
        (4, 4)
    } else {
        return None;
    })
}

/// A pipe parameter of an operation, with its element's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeSpec {
    /// Parameter name.
    pub param: String,
    /// Element type name.
    pub element_type: String,
    /// Element size and alignment.
    pub element: (u64, u64),
}

/// Nested types lowered into one plan before the rest is left as a failing node.
pub const MAX_PLAN_DEPTH: usize = 64;
/// Nodes of one plan: types that expand past this (unions whose arms refer back to them, wide
/// types nested deep) are left as a failing node, like [`MAX_PLAN_DEPTH`].
pub const MAX_PLAN_NODES: usize = 100_000;

/// Index of a node in its plan.
pub type NodeId = usize;

/// How many bytes an integer has and whether it is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntForm {
    /// 1, 2, 4 or 8.
    pub size: u8,
    /// Read as a signed integer.
    pub signed: bool,
}

/// Alignment of a node in NDR 2.0 and in NDR64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Align {
    /// NDR 2.0.
    pub ndr: u8,
    /// NDR64.
    pub ndr64: u8,
}

/// Characters of a byte or wide-character array read as text or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chars {
    /// One-byte elements: text when a `[string]`, bytes otherwise.
    Narrow,
    /// UTF-16 code units.
    Wide,
}

/// How an array is represented.
#[derive(Clone, Copy)]
struct ArrayShape {
    fixed: Option<u64>,
    conformant: bool,
    varying: bool,
    string: bool,
}

/// A count an array attribute names: the value of a field of the same structure or of a
/// parameter (dereferenced or not), with at most one operation by a constant
/// (`size_is(cb)`, `size_is(*pcb)`, `max_is(n - 1)`, `size_is(cch * 2)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountExpr {
    /// The field or parameter.
    pub name: String,
    /// The operation (`+`, `-`, `*`, `/`) and the constant.
    pub op: Option<(char, i64)>,
    /// The attribute: `size_is`, `max_is` (the count is one more than the value) or
    /// `length_is`.
    pub attr: &'static str,
}

impl CountExpr {
    /// The count for the named value.
    #[must_use]
    pub fn count(&self, value: i64) -> Option<i64> {
        let v = match self.op {
            None => value,
            Some(('+', c)) => value.checked_add(c)?,
            Some(('-', c)) => value.checked_sub(c)?,
            Some(('*', c)) => value.checked_mul(c)?,
            Some(('/', c)) => value.checked_div(c)?,
            Some(_) => return None,
        };
        if self.attr == "max_is" {
            v.checked_add(1)
        } else {
            Some(v)
        }
    }
}

impl std::fmt::Display for CountExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attr = self.attr;
        match self.op {
            Some((op, c)) => write!(f, "{attr}({} {op} {c})", self.name),
            None => write!(f, "{attr}({})", self.name),
        }
    }
}

/// The counts an array's attributes name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// `size_is` / `max_is`: the maximum count.
    pub size: Option<CountExpr>,
    /// `length_is`: the actual count.
    pub length: Option<CountExpr>,
}

/// The count expression of a `size_is`, `max_is` or `length_is` attribute, when it has a form
/// [`CountExpr`] knows; none for other expressions and for `size_is(, n)` (the next level's).
fn count_expr(lib: &Library, attr: &Attr) -> Option<CountExpr> {
    use super::lexer::Tok;
    let toks: Vec<Tok> = super::lexer::lex(attr.arg.as_deref()?, "count")
        .ok()?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let mut toks = toks.as_slice();
    while let [Tok::Punct('('), inner @ .., Tok::Punct(')')] = toks {
        toks = inner;
    }
    if let [Tok::Punct('*'), rest @ ..] = toks {
        toks = rest;
    }
    let (name, rest) = match toks {
        [Tok::Ident(name), rest @ ..] => (name.clone(), rest),
        _ => return None,
    };
    let op = match rest {
        [] => None,
        [Tok::Punct(op @ ('+' | '-' | '*' | '/')), constant @ ..] => {
            Some((*op, super::expr::eval(constant, &lib.constants).ok()?))
        }
        _ => return None,
    };
    let attr = match attr.name.as_str() {
        "max_is" => "max_is",
        "length_is" => "length_is",
        _ => "size_is",
    };
    Some(CountExpr { name, op, attr })
}

/// One resolved type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// No wire representation (`void`, `handle_t`).
    Void,
    /// An integer.
    Int(IntForm),
    /// A pointer-sized integer (`__int3264`): 4 bytes in NDR 2.0, 8 in NDR64.
    IntPtr {
        /// Read as a signed integer.
        signed: bool,
    },
    /// `boolean`.
    Bool,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `GUID` and its aliases.
    Guid,
    /// `RPC_IF_ID`: a UUID and a version.
    IfId,
    /// A context handle (20 bytes).
    ContextHandle,
    /// An enum: 2 bytes on the wire (NDR 2.0), 4 with `v1_enum` or in NDR64.
    Enum {
        /// `[v1_enum]`.
        v1: bool,
        /// Member names and values.
        members: Arc<[(String, i64)]>,
    },
    /// A top-level `[ref]` pointer: no wire representation, its referent follows in place.
    RefPointer(NodeId),
    /// A pointer with a referent id; its referent follows its parameter.
    Pointer(NodeId),
    /// An array; with `fixed`, its size comes from the type, else from the conformance on the
    /// wire (or hoisted in front of the enclosing structure).
    Array {
        /// Element node.
        elem: NodeId,
        /// Fixed size.
        fixed: Option<u64>,
        /// Has a maximum count on the wire.
        conformant: bool,
        /// Has an offset and actual count on the wire.
        varying: bool,
        /// `[string]`.
        string: bool,
        /// Elements read as characters or bytes in one piece.
        chars: Option<Chars>,
        /// The fields or parameters its `size_is`/`max_is` and `length_is` name.
        counts: Option<Box<Counts>>,
    },
    /// A structure; `conformant` when it ends in a conformant array (whose conformance comes
    /// first, C706 §14.3.7.2).
    Struct {
        /// Members in order.
        fields: Vec<(FieldName, NodeId)>,
        /// Ends in a conformant array.
        conformant: bool,
        /// Its largest member's alignment.
        align: Align,
    },
    /// A union: discriminant, then the arm it chooses.
    Union {
        /// The discriminant's node; `None` reads an `unsigned long`.
        switch: Option<NodeId>,
        /// Arms.
        arms: Vec<UnionArm>,
        /// Alignment of the discriminant (NDR64 aligns the union to the larger of the two).
        switch_align: Align,
        /// Alignment of the largest arm.
        arms_align: Align,
    },
    /// A pipe: element size and alignment when its elements have a fixed layout.
    Pipe(Option<(u64, u64)>),
    /// A type that cannot be read (not declared, an unknown base type).
    Unreadable(&'static str),
    /// Where lowering stopped at [`MAX_PLAN_DEPTH`].
    TooDeep,
    /// An integer with a `range(min, max)` attribute: a value outside it makes the stub
    /// invalid (MS-RPCE §2.2.4.2.1; Windows rejects it with `RPC_X_INVALID_BOUND`).
    Ranged {
        /// The integer's node.
        node: NodeId,
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed.
        max: i64,
    },
}

/// An arm of a union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnionArm {
    /// `case` values; empty for `default`.
    pub cases: Vec<i64>,
    /// Member name and node; none for an empty arm.
    pub member: Option<(FieldName, NodeId)>,
}

/// One parameter of a direction, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Name (`return` for the return value).
    pub name: FieldName,
    /// Its node.
    pub node: NodeId,
}

/// The compiled description of one operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpPlan {
    /// Nodes; parameters refer to them.
    pub nodes: Vec<Node>,
    /// \[in\] parameters in wire order (a DCOM call's ORPCTHIS first, pipes last).
    pub request: Vec<Param>,
    /// \[out\] parameters in wire order (ORPCTHAT, pipes, the others, the return value).
    pub response: Vec<Param>,
    /// How many of `request` come before the \[in\] pipes.
    pub in_prefix: usize,
    /// \[in\] pipes; both lists are empty when a pipe's elements have no fixed layout.
    pub in_pipes: Vec<PipeSpec>,
    /// \[out\] pipes.
    pub out_pipes: Vec<PipeSpec>,
    /// The description only holds the opnum's place.
    pub placeholder: bool,
    /// Interface name (empty in the plan of a type).
    pub interface: String,
    /// Operation name (empty in the plan of a type).
    pub operation: String,
}

impl OpPlan {
    /// True when the operation has a pipe the engine can follow.
    #[must_use]
    pub fn has_pipes(&self) -> bool {
        !self.in_pipes.is_empty() || !self.out_pipes.is_empty()
    }
}

/// Compiled plans of the operations decoded so far, one per described operation at most (so
/// bounded by the descriptions, not by the traffic). A copy of a library starts empty.
#[derive(Default)]
pub struct PlanCache(Mutex<FastMap<PlanKey, Arc<OpPlan>>>);

/// What a plan is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PlanKey {
    /// An operation: interface UUID, version and opnum.
    Operation(Uuid, (u16, u16), u16),
    /// A type serialized on its own (MS-RPCE §2.2.6), by name.
    Type(String),
}

impl Clone for PlanCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        write!(f, "PlanCache({n} plans)")
    }
}

impl PlanCache {
    /// Forgets every plan (the descriptions changed).
    pub(crate) fn clear(&mut self) {
        self.0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Library {
    /// The compiled plan of operation `opnum` of `iface`, lowered on first use and cached.
    #[must_use]
    pub fn plan(&self, iface: &Interface, opnum: u16) -> Option<Arc<OpPlan>> {
        let op = iface.operations.get(usize::from(opnum))?;
        let key = PlanKey::Operation(iface.uuid, iface.version, opnum);
        Some(self.cached(key, || lower_operation(self, iface, op)))
    }

    /// The compiled plan of the typedef `name` serialized on its own (MS-RPCE §2.2.6, as DCOM's
    /// activation properties are): one `request` parameter, the type at the top level.
    #[must_use]
    pub fn type_plan(&self, name: &str) -> Option<Arc<OpPlan>> {
        if !self.types.contains_key(name) {
            return None;
        }
        let key = PlanKey::Type(name.to_string());
        Some(self.cached(key, || {
            let ty = Type::Named(name.to_string());
            let mut l = Lowering::new(self);
            let node = l.lower(&ty, &[], Position::Top, &[], 0);
            OpPlan {
                nodes: l.nodes,
                request: vec![Param {
                    name: name.into(),
                    node,
                }],
                in_prefix: 1,
                ..OpPlan::default()
            }
        }))
    }

    fn cached(&self, key: PlanKey, lower: impl FnOnce() -> OpPlan) -> Arc<OpPlan> {
        if let Some(p) = self
            .plans
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(p);
        }
        let plan = Arc::new(lower());
        self.plans
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&plan));
        plan
    }
}

/// Lowers one operation: the parameters of each direction in wire order.
fn lower_operation(lib: &Library, iface: &Interface, op: &super::Operation) -> OpPlan {
    let mut l = Lowering::new(lib);
    let mut plan = OpPlan {
        placeholder: op.is_placeholder(),
        interface: iface.name.clone(),
        operation: op.name.clone(),
        ..OpPlan::default()
    };
    // A DCOM call starts with its ORPCTHIS (request) or ORPCTHAT (response), which the
    // interface's methods do not declare (MS-DCOM §2.2.13).
    if iface.object {
        for (name, ty, params) in [
            ("orpcthis", &DCOM_WIRE_TYPES[1], &mut plan.request),
            ("orpcthat", &DCOM_WIRE_TYPES[2], &mut plan.response),
        ] {
            let node = l.lower(ty, &[], Position::Top, &[], 0);
            params.push(Param {
                name: name.into(),
                node,
            });
        }
    }
    let mut in_pipes = Vec::new();
    let mut out_others = Vec::new();
    let mut unfollowable_pipe = false;
    for f in &op.params {
        if is_handle_t(lib, &f.ty) {
            continue;
        }
        let node = l.lower(&f.ty, &f.attrs, Position::Top, &op.params, 0);
        let param = Param {
            name: f.name.as_str().into(),
            node,
        };
        let pipe = pipe_element(lib, &f.ty);
        match pipe.map(|elem| (elem, layout(lib, elem))) {
            Some((elem, Some(element))) => {
                let spec = PipeSpec {
                    param: f.name.clone(),
                    element_type: type_name(elem),
                    element,
                };
                if f.has("in") {
                    plan.in_pipes.push(spec.clone());
                }
                if f.has("out") {
                    plan.out_pipes.push(spec);
                }
            }
            Some((_, None)) => unfollowable_pipe = true,
            None => {}
        }
        // [in] pipes follow the other [in] parameters; [out] pipes come before the other [out]s.
        if f.has("in") {
            if pipe.is_some() {
                in_pipes.push(param.clone());
            } else {
                plan.request.push(param.clone());
            }
        }
        if f.has("out") {
            if pipe.is_some() {
                plan.response.push(param);
            } else {
                out_others.push(param);
            }
        }
    }
    if unfollowable_pipe {
        plan.in_pipes.clear();
        plan.out_pipes.clear();
    }
    plan.in_prefix = plan.request.len();
    plan.request.extend(in_pipes);
    plan.response.extend(out_others);
    if !matches!(&op.ret, Type::Base(b) if b == "void") {
        let node = l.lower(&op.ret, &[], Position::Top, &op.params, 0);
        plan.response.push(Param {
            name: "return".into(),
            node,
        });
    }
    plan.nodes = l.nodes;
    plan
}

/// Where a type is: a parameter itself, or inside one (a member, an element, a referent).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Top,
    Embedded,
}

struct Lowering<'l> {
    lib: &'l Library,
    nodes: Vec<Node>,
    /// Nodes of the structures lowered so far, by declaration (recursive types refer back to
    /// them, whatever typedef name they are reached by).
    structs: HashMap<*const Type, NodeId>,
    /// Alignments computed so far, by declaration and word size (a type being computed counts
    /// as the word's, so a type that contains itself ends).
    aligns: HashMap<(*const Type, u8), Option<u8>>,
    /// The node standing for everything past [`MAX_PLAN_NODES`].
    too_big: Option<NodeId>,
}

impl<'l> Lowering<'l> {
    fn new(lib: &'l Library) -> Self {
        Self {
            lib,
            nodes: Vec::new(),
            structs: HashMap::new(),
            aligns: HashMap::new(),
            too_big: None,
        }
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Lowers `ty` with the attributes written on its member or parameter; `siblings` are the
    /// fields a `switch_is` may name.
    fn lower(
        &mut self,
        ty: &'l Type,
        attrs: &[Attr],
        position: Position,
        siblings: &'l [Field],
        depth: usize,
    ) -> NodeId {
        if depth > MAX_PLAN_DEPTH {
            return self.push(Node::TooDeep);
        }
        if self.nodes.len() >= MAX_PLAN_NODES {
            return match self.too_big {
                Some(id) => id,
                None => {
                    let id = self.push(Node::TooDeep);
                    self.too_big = Some(id);
                    id
                }
            };
        }
        let lib = self.lib;
        if has(attrs, "context_handle")
            || matches!(ty, Type::Named(n) if lib.context_handles.contains(n))
        {
            return self.push(Node::ContextHandle);
        }
        if let Type::Named(n) = ty
            && !lib.types.contains_key(n)
            && let Some(node) = well_known(n)
        {
            return self.ranged(node, ty, attrs);
        }
        let resolved = lib.resolve(ty);
        if let Type::Struct(_) = resolved
            && let Some(&id) = self.structs.get(&(resolved as *const Type))
        {
            return id;
        }
        match resolved {
            Type::Base(b) => self.ranged(base(b), ty, attrs),
            // a DCOM interface pointer (`IWbemContext *`) travels as an MInterfacePointer
            // (MS-DCOM §2.2.14)
            Type::Named(n) if lib.is_interface(n) => match lib.types.get("MInterfacePointer") {
                Some(_) => self.lower(&DCOM_WIRE_TYPES[0], &[], Position::Embedded, &[], depth + 1),
                None => self.push(Node::Unreadable(
                    "interface pointer without MInterfacePointer",
                )),
            },
            Type::Named(_) => self.push(Node::Unreadable("type not declared in the IDL")),
            Type::Enum(members) => {
                let v1 = has(attrs, "v1_enum")
                    || matches!(ty, Type::Named(n)
                        if lib.typedef_attrs.get(n).is_some_and(|a| has(a, "v1_enum")));
                self.push(Node::Enum {
                    v1,
                    members: members.clone().into(),
                })
            }
            Type::Pointer(t) => {
                // an interface pointer is a full pointer wherever it is (MS-DCOM §2.2.14)
                let interface = matches!(&**t, Type::Named(n) if lib.is_interface(n));
                let kind = pointer_kind(attrs).or_else(|| typedef_pointer_kind(lib, ty));
                let is_ref = position == Position::Top
                    && !matches!(kind, Some("unique" | "ptr"))
                    && !interface;
                if is_ref {
                    let referent = self.referent(t, attrs, siblings, depth + 1);
                    return self.push(Node::RefPointer(referent));
                }
                let attrs: Vec<Attr> = attrs
                    .iter()
                    .filter(|a| a.name != "unique" && a.name != "ptr")
                    .cloned()
                    .collect();
                let slot = self.push(Node::Void);
                let referent = self.referent(t, &attrs, siblings, depth + 1);
                self.nodes[slot] = Node::Pointer(referent);
                slot
            }
            Type::Array(t, n) => {
                let string = has(attrs, "string");
                let shape = ArrayShape {
                    fixed: *n,
                    conformant: n.is_none(),
                    varying: has(attrs, "length_is") || string,
                    string,
                };
                self.array(t, shape, attrs, &[], depth)
            }
            Type::Struct(fields) => {
                let slot = self.push(Node::Void);
                self.structs.insert(resolved, slot);
                let members = fields
                    .iter()
                    .map(|f| {
                        let id = self.lower(&f.ty, &f.attrs, Position::Embedded, fields, depth + 1);
                        (FieldName::from(f.name.as_str()), id)
                    })
                    .collect();
                self.nodes[slot] = Node::Struct {
                    fields: members,
                    conformant: fields.last().is_some_and(|f| is_conformant(lib, &f.ty, 0)),
                    align: Align {
                        ndr: self.align_of(resolved, 4),
                        ndr64: self.align_of(resolved, 8),
                    },
                };
                slot
            }
            Type::Union(discriminant, arms) => {
                let switch_ty = discriminant
                    .as_deref()
                    .cloned()
                    .or_else(|| switch_type(lib, ty, attrs, siblings));
                let switch_align = Align {
                    ndr: switch_ty.as_ref().map_or(4, |t| self.align_of(t, 4)),
                    ndr64: switch_ty.as_ref().map_or(4, |t| self.align_of(t, 8)),
                };
                let mut arms_align = |word| {
                    arms.iter()
                        .filter_map(|a| a.field.as_ref())
                        .map(|f| self.align_of(&f.ty, word))
                        .max()
                        .unwrap_or(1)
                };
                let arms_align = Align {
                    ndr: arms_align(4),
                    ndr64: arms_align(8),
                };
                let switch = switch_ty.map(|t| self.discriminant(&t));
                let arms = arms
                    .iter()
                    .map(|a| {
                        let member = a.field.as_ref().map(|f| {
                            let id =
                                self.lower(&f.ty, &f.attrs, Position::Embedded, &[], depth + 1);
                            (FieldName::from(f.name.as_str()), id)
                        });
                        UnionArm {
                            cases: a.cases.clone(),
                            member,
                        }
                    })
                    .collect();
                self.push(Node::Union {
                    switch,
                    arms,
                    switch_align,
                    arms_align,
                })
            }
            Type::Pipe(elem) => self.push(Node::Pipe(layout(lib, elem))),
        }
    }

    /// Alignment of a type (a structure: its largest member's); `word` is 4 (NDR 2.0) or 8
    /// (NDR64), the alignment of pointers and counts. Each structure and union is computed once;
    /// one that contains itself counts as the word's where it recurs.
    fn align_of(&mut self, ty: &Type, word: u8) -> u8 {
        let lib = self.lib;
        if let Type::Named(n) = ty
            && !lib.types.contains_key(n)
        {
            return well_known_size(n).map_or(4, |(_, a)| u8::try_from(a).unwrap_or(4));
        }
        let resolved = lib.resolve(ty);
        match resolved {
            Type::Base(b) if b.ends_with("__int3264") => word,
            Type::Base(b) => base_size(b).map_or(1, |(_, a)| u8::try_from(a).unwrap_or(1)),
            Type::Enum(_) => 2,
            Type::Pointer(_) | Type::Pipe(_) => word,
            Type::Array(t, n) => {
                let a = self.align_of(t, word);
                if n.is_none() { a.max(word) } else { a }
            }
            Type::Struct(_) | Type::Union(..) => {
                let key = (resolved as *const Type, word);
                match self.aligns.get(&key) {
                    Some(Some(a)) => return *a,
                    Some(None) => return word,
                    None => {}
                }
                self.aligns.insert(key, None);
                let a = match resolved {
                    Type::Struct(fields) => fields
                        .iter()
                        .map(|f| self.align_of(&f.ty, word))
                        .max()
                        .unwrap_or(1),
                    Type::Union(d, arms) => arms
                        .iter()
                        .filter_map(|a| a.field.as_ref())
                        .map(|f| &f.ty)
                        .chain(d.as_deref())
                        .map(|t| self.align_of(t, word))
                        .max()
                        .unwrap_or(4),
                    _ => word,
                };
                self.aligns.insert(key, Some(a));
                a
            }
            Type::Named(_) => 4,
        }
    }

    /// An integer node, checked against the `range(min, max)` among `attrs` (else on the
    /// typedefs `ty` goes through) when there is one whose bounds are known constants.
    fn ranged(&mut self, node: Node, ty: &Type, attrs: &[Attr]) -> NodeId {
        let lib = self.lib;
        let bounds = match node {
            Node::Int(_) | Node::IntPtr { .. } => range_of(lib, attrs).or_else(|| {
                let mut ty = ty;
                for _ in 0..16 {
                    let Type::Named(n) = ty else { return None };
                    if let Some(r) = lib.typedef_attrs.get(n).and_then(|a| range_of(lib, a)) {
                        return Some(r);
                    }
                    ty = lib.types.get(n)?;
                }
                None
            }),
            _ => None,
        };
        let id = self.push(node);
        match bounds {
            Some((min, max)) => self.push(Node::Ranged { node: id, min, max }),
            None => id,
        }
    }

    /// The referent of a pointer: an array or string when the pointer carries `size_is`,
    /// `length_is` or `string`, else the pointee (a union behind a pointer still takes its
    /// discriminant's type from the field `switch_is` names among `siblings`).
    fn referent(
        &mut self,
        t: &'l Type,
        attrs: &[Attr],
        siblings: &'l [Field],
        depth: usize,
    ) -> NodeId {
        // `size_is(, n)`: the first pointer level is a plain pointer, the sizes belong to the
        // next one (MIDL's multi-level sizes, `[out, size_is(,cIids)] REMQIRESULT **`)
        if let Some(inner) = next_level(attrs) {
            return self.lower(t, &inner, Position::Embedded, siblings, depth);
        }
        let sized = has(attrs, "size_is") || has(attrs, "max_is");
        // `[string, size_is(n)] wchar_t **p`: an array of n pointers, each to a string; the
        // string attribute belongs to the innermost level (MS-TSCH SchRpcRun's pArgs).
        let strings_inside =
            sized && has(attrs, "string") && matches!(self.lib.resolve(t), Type::Pointer(_));
        let string = has(attrs, "string") && !strings_inside;
        let varying = has(attrs, "length_is") || string;
        if sized || varying {
            let shape = ArrayShape {
                fixed: None,
                conformant: sized || string,
                varying,
                string,
            };
            let elem_attrs = if strings_inside {
                vec![Attr {
                    name: "string".into(),
                    arg: None,
                }]
            } else {
                Vec::new()
            };
            return self.array(t, shape, attrs, &elem_attrs, depth);
        }
        self.lower(t, attrs, Position::Embedded, siblings, depth)
    }

    /// An array of `elem` (read with `elem_attrs`) shaped by `shape` and sized by `attrs`.
    fn array(
        &mut self,
        elem: &'l Type,
        shape: ArrayShape,
        attrs: &[Attr],
        elem_attrs: &[Attr],
        depth: usize,
    ) -> NodeId {
        let ArrayShape {
            fixed,
            conformant,
            varying,
            string,
        } = shape;
        let chars = match self.lib.resolve(elem) {
            Type::Base(b) => match base_size(b) {
                Some((1, _)) => Some(Chars::Narrow),
                Some((2, _)) if is_wide(b) && (string || b.ends_with("wchar_t")) => {
                    Some(Chars::Wide)
                }
                _ => None,
            },
            _ => None,
        };
        let elem = match chars {
            Some(_) => self.push(Node::Void),
            None => self.lower(elem, elem_attrs, Position::Embedded, &[], depth + 1),
        };
        let counts = Counts {
            size: attrs
                .iter()
                .find(|a| a.name == "size_is" || a.name == "max_is")
                .and_then(|a| count_expr(self.lib, a)),
            length: attrs
                .iter()
                .find(|a| a.name == "length_is")
                .and_then(|a| count_expr(self.lib, a)),
        };
        self.push(Node::Array {
            elem,
            fixed,
            conformant,
            varying,
            string,
            chars,
            counts: (counts.size.is_some() || counts.length.is_some()).then(|| Box::new(counts)),
        })
    }

    /// The node a discriminant is read with.
    fn discriminant(&mut self, t: &Type) -> NodeId {
        let node = match self.lib.resolve(t) {
            Type::Base(b) => base(b),
            Type::Enum(members) => Node::Enum {
                v1: false,
                members: members.clone().into(),
            },
            Type::Named(n) => well_known(n).unwrap_or(Node::Unreadable("discriminant type")),
            _ => Node::Unreadable("discriminant type"),
        };
        self.push(node)
    }
}

/// The bounds of a `range(min, max)` attribute, its expressions evaluated with the
/// library's constants (`range(0, SC_MAX_NAME_LENGTH)`); none when there is no such attribute
/// or a bound is not a known constant.
fn range_of(lib: &Library, attrs: &[Attr]) -> Option<(i64, i64)> {
    let arg = attrs.iter().find(|a| a.name == "range")?.arg.as_deref()?;
    let toks: Vec<super::lexer::Tok> = super::lexer::lex(arg, "range")
        .ok()?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    // the comma between the bounds, outside parentheses
    let mut depth = 0i32;
    let comma = toks.iter().position(|t| {
        match t {
            super::lexer::Tok::Punct('(') => depth += 1,
            super::lexer::Tok::Punct(')') => depth -= 1,
            super::lexer::Tok::Punct(',') if depth == 0 => return true,
            _ => {}
        }
        false
    })?;
    let min = super::expr::eval(&toks[..comma], &lib.constants).ok()?;
    let max = super::expr::eval(&toks[comma + 1..], &lib.constants).ok()?;
    Some((min, max))
}

/// Types that DCOM puts on the wire without a method declaring them: `MInterfacePointer`
/// (every interface pointer), `ORPCTHIS` and `ORPCTHAT` (MS-DCOM §2.2.13, §2.2.14).
static DCOM_WIRE_TYPES: std::sync::LazyLock<[Type; 3]> = std::sync::LazyLock::new(|| {
    ["MInterfacePointer", "ORPCTHIS", "ORPCTHAT"].map(|n| Type::Named(n.into()))
});

fn has(attrs: &[Attr], name: &str) -> bool {
    attrs.iter().any(|a| a.name == name)
}

/// The pointer kind written among `attrs`.
fn pointer_kind(attrs: &[Attr]) -> Option<&str> {
    attrs
        .iter()
        .map(|a| a.name.as_str())
        .find(|n| matches!(*n, "ref" | "unique" | "ptr"))
}

/// The pointer kind a typedef of a pointer type declares (`typedef [unique] X *PX;`, the
/// endpoint mapper's `typedef [ptr] GUID *uuid_p_t;`), the nearest along the typedef chain.
fn typedef_pointer_kind<'a>(lib: &'a Library, mut ty: &'a Type) -> Option<&'a str> {
    for _ in 0..16 {
        let Type::Named(n) = ty else {
            return None;
        };
        if let Some(kind) = lib.typedef_attrs.get(n).and_then(|a| pointer_kind(a)) {
            return Some(kind);
        }
        ty = lib.types.get(n)?;
    }
    None
}

fn is_handle_t(lib: &Library, ty: &Type) -> bool {
    matches!(lib.resolve(ty), Type::Base(b) if b == "handle_t")
}

fn is_wide(b: &str) -> bool {
    b.ends_with("wchar_t") || b.ends_with("short")
}

/// The node of a base type.
fn base(b: &str) -> Node {
    let last = b.rsplit(' ').next().unwrap_or(b);
    let signed = !(b.starts_with("unsigned")
        || last.starts_with("uint")
        || matches!(last, "byte" | "char" | "wchar_t"));
    match last {
        "void" | "handle_t" => Node::Void,
        "boolean" => Node::Bool,
        "float" => Node::Float,
        "double" => Node::Double,
        "error_status_t" => Node::Int(IntForm {
            size: 4,
            signed: false,
        }),
        "__int3264" => Node::IntPtr { signed },
        _ => match base_size(b) {
            Some((size, _)) => Node::Int(IntForm {
                size: u8::try_from(size).unwrap_or(8),
                signed,
            }),
            None => Node::Unreadable("base type"),
        },
    }
}

/// Types real IDL files use without declaring them (from `ms-dtyp` and the C706 base).
fn well_known(name: &str) -> Option<Node> {
    Some(match name {
        "GUID" | "UUID" | "IID" | "CLSID" => Node::Guid,
        "RPC_IF_ID" => Node::IfId,
        _ => {
            let (size, _) = well_known_size(name)?;
            Node::Int(IntForm {
                size: u8::try_from(size).unwrap_or(4),
                signed: matches!(name, "LONG" | "INT" | "HRESULT" | "SHORT" | "LONG64"),
            })
        }
    })
}

/// Size and alignment of the integer types `ms-dtyp` declares.
fn well_known_size(name: &str) -> Option<(u64, u64)> {
    Some(match name {
        "BYTE" | "UCHAR" | "CHAR" | "BOOLEAN" | "UINT8" | "INT8" => (1, 1),
        "WORD" | "USHORT" | "SHORT" | "WCHAR" | "UINT16" | "INT16" => (2, 2),
        "DWORD" | "ULONG" | "LONG" | "UINT" | "INT" | "BOOL" | "HRESULT" | "NTSTATUS"
        | "UINT32" | "INT32" | "DWORD32" => (4, 4),
        "DWORD64" | "ULONG64" | "ULONGLONG" | "LONG64" | "UINT64" | "INT64" | "QWORD" => (8, 8),
        "GUID" | "UUID" | "IID" | "CLSID" => (16, 4),
        "RPC_IF_ID" => (20, 4),
        _ => return None,
    })
}

fn is_conformant(lib: &Library, ty: &Type, depth: usize) -> bool {
    if depth > MAX_PLAN_DEPTH {
        return false;
    }
    match lib.resolve(ty) {
        Type::Array(_, None) => true,
        Type::Struct(fields) => fields
            .last()
            .is_some_and(|f| is_conformant(lib, &f.ty, depth + 1)),
        _ => false,
    }
}

/// The discriminant type of a non-encapsulated union: `switch_type` on the member or the
/// typedef, else the type of the field its `switch_is` names.
fn switch_type(lib: &Library, ty: &Type, attrs: &[Attr], siblings: &[Field]) -> Option<Type> {
    let from_attr = |attrs: &[Attr]| {
        attrs
            .iter()
            .find(|a| a.name == "switch_type")
            .and_then(|a| a.arg.as_deref())
            .map(|s| {
                // a base type (`unsigned short`) or a typedef name (`USHORT`)
                let s = s.trim().to_string();
                if base_size(&s).is_some() {
                    Type::Base(s)
                } else {
                    Type::Named(s)
                }
            })
    };
    if let Some(t) = from_attr(attrs) {
        return Some(t);
    }
    if let Type::Named(n) = ty
        && let Some(t) = lib.typedef_attrs.get(n).and_then(|a| from_attr(a))
    {
        return Some(t);
    }
    let arg = attrs
        .iter()
        .find(|a| a.name == "switch_is")
        .and_then(|a| a.arg.as_deref())?;
    let name = arg.trim().trim_start_matches('*').trim();
    siblings
        .iter()
        .find(|f| f.name == name)
        .map(|f| match lib.resolve(&f.ty) {
            Type::Pointer(t) => (**t).clone(),
            _ => f.ty.clone(),
        })
}

/// The attributes of the next pointer level when every size attribute leaves the first level
/// empty (`size_is(, n)`); none otherwise.
fn next_level(attrs: &[Attr]) -> Option<Vec<Attr>> {
    let sizes = ["size_is", "max_is", "length_is", "first_is", "last_is"];
    let mut any = false;
    let mut out = Vec::with_capacity(attrs.len());
    for a in attrs {
        if sizes.contains(&a.name.as_str()) {
            let rest = a.arg.as_deref()?.trim().strip_prefix(',')?;
            any = true;
            out.push(Attr {
                name: a.name.clone(),
                arg: Some(rest.trim().to_string()),
            });
        } else if a.name != "ref" {
            out.push(a.clone());
        }
    }
    any.then_some(out)
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Base(b) => b.clone(),
        Type::Named(n) => n.clone(),
        Type::Pointer(t) => format!("{}*", type_name(t)),
        Type::Array(t, _) => format!("{}[]", type_name(t)),
        Type::Struct(_) => "struct".into(),
        Type::Union(..) => "union".into(),
        Type::Enum(_) => "enum".into(),
        Type::Pipe(t) => format!("pipe {}", type_name(t)),
    }
}

/// The element type of a parameter that is a pipe (or a pointer to one, through at most
/// [`MAX_PLAN_DEPTH`] pointers: `typedef NODE *NODE;` points to itself forever).
fn pipe_element<'a>(lib: &'a Library, mut ty: &'a Type) -> Option<&'a Type> {
    for _ in 0..MAX_PLAN_DEPTH {
        match lib.resolve(ty) {
            Type::Pipe(t) => return Some(t),
            Type::Pointer(t) => ty = t,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::parse;

    fn plan_of(idl: &str, opnum: u16) -> Arc<OpPlan> {
        let lib = parse(idl, "t.idl").unwrap();
        lib.plan(&lib.interfaces[0], opnum).unwrap()
    }

    const HEADER: &str = "[uuid(12345678-1234-abcd-ef00-0123456789ab), version(1.0)] interface t {";

    #[test]
    fn a_typedef_that_points_to_itself_lowers_and_ends() {
        // `typedef NODE *NODE;` used to loop for ever looking for a pipe behind the pointers.
        let plan = plan_of(
            &format!("typedef [unique] NODE *NODE; {HEADER} long Op([in] NODE *n); }}"),
            0,
        );
        assert!(
            plan.nodes.len() <= MAX_PLAN_DEPTH + 4,
            "{}",
            plan.nodes.len()
        );
        assert!(plan.nodes.iter().any(|n| matches!(n, Node::TooDeep)));
    }

    #[test]
    fn a_structure_that_contains_itself_has_no_pipe_layout() {
        // Its layout used to recurse until the stack overflowed.
        let plan = plan_of(
            &format!(
                "typedef struct _S {{ long a; struct _S b; }} S; typedef pipe S P; \
                 {HEADER} long Op([in] P p); }}"
            ),
            0,
        );
        assert!(matches!(plan.nodes[plan.request[0].node], Node::Pipe(None)));
    }

    #[test]
    fn types_that_expand_without_end_stop_at_the_node_limit() {
        // A union whose arms all contain it again doubles at every level.
        let plan = plan_of(
            &format!(
                "typedef [switch_type(long)] union _U {{ [case(1)] [unique] union _U *a; \
                 [case(2)] [unique] union _U *b; [case(3)] [unique] union _U *c; }} U; \
                 {HEADER} long Op([in, switch_is(1)] U u); }}"
            ),
            0,
        );
        // Each of the (at most MAX_PLAN_DEPTH) types being lowered may add its own node after.
        assert!(
            plan.nodes.len() <= MAX_PLAN_NODES + 2 * MAX_PLAN_DEPTH,
            "{}",
            plan.nodes.len()
        );
    }

    #[test]
    fn sizes_of_the_second_pointer_level() {
        let attrs = vec![
            Attr {
                name: "out".into(),
                arg: None,
            },
            Attr {
                name: "size_is".into(),
                arg: Some(",cIids".into()),
            },
        ];
        let next = next_level(&attrs).unwrap();
        assert_eq!(next[1].arg.as_deref(), Some("cIids"));
        assert!(
            next_level(&next).is_none(),
            "the sizes now belong to this level"
        );
    }

    #[test]
    fn a_linked_list_lowers_to_a_node_that_refers_back_to_itself() {
        let p = plan_of(
            &format!(
                "{HEADER} typedef struct _L {{ long v; struct _L *next; }} L; \
                 typedef struct _L2 {{ long v; [unique] L2 *next; }} L2; \
                 void f([in] L *l); }}"
            ),
            0,
        );
        let Node::RefPointer(list) = &p.nodes[p.request[0].node] else {
            panic!(
                "top-level pointer is [ref]: {:?}",
                p.nodes[p.request[0].node]
            );
        };
        // `L` and its tag `_L` are two names of one struct: the chain closes on the second
        let mut at = *list;
        for _ in 0..2 {
            let Node::Struct { fields, .. } = &p.nodes[at] else {
                panic!("{:?}", p.nodes[at]);
            };
            let Node::Pointer(next) = p.nodes[fields[1].1] else {
                panic!("{:?}", p.nodes);
            };
            if next == at {
                assert!(p.nodes.len() < 10, "{:?}", p.nodes);
                return;
            }
            at = next;
        }
        panic!("the list does not refer back to itself: {:?}", p.nodes);
    }

    #[test]
    fn pointers_are_ref_only_at_the_top_and_unique_when_written() {
        let p = plan_of(
            &format!(
                "{HEADER} typedef [unique] long *PL; typedef PL PL2; \
                 void f([in] long *a, [in, unique] long *b, [in] long **c, [in] PL2 d, \
                 [in, ref] PL e); }}"
            ),
            0,
        );
        let kinds: Vec<&Node> = p.request.iter().map(|x| &p.nodes[x.node]).collect();
        assert!(matches!(kinds[0], Node::RefPointer(_)));
        assert!(matches!(kinds[1], Node::Pointer(_)));
        let Node::RefPointer(inner) = kinds[2] else {
            panic!("{kinds:?}");
        };
        assert!(
            matches!(p.nodes[*inner], Node::Pointer(_)),
            "the second level is embedded"
        );
    }

    #[test]
    fn alignments_are_computed_for_both_syntaxes_and_switch_is_binds_the_discriminant() {
        let p = plan_of(
            &format!(
                "{HEADER} typedef struct {{ short s; __int3264 p; }} S; \
                 typedef [switch_type(short)] union {{ [case(1)] hyper h; [default] ; }} U; \
                 void f([in] S s, [in] short level, [in, switch_is(level)] U *u); }}"
            ),
            0,
        );
        let Node::Struct { align, .. } = &p.nodes[p.request[0].node] else {
            panic!();
        };
        assert_eq!((align.ndr, align.ndr64), (4, 8));
        let Node::RefPointer(u) = &p.nodes[p.request[2].node] else {
            panic!();
        };
        let Node::Union {
            switch: Some(d),
            arms_align,
            ..
        } = &p.nodes[*u]
        else {
            panic!("{:?}", p.nodes[*u]);
        };
        assert_eq!(
            p.nodes[*d],
            Node::Int(IntForm {
                size: 2,
                signed: true
            })
        );
        assert_eq!(arms_align.ndr64, 8);
    }

    #[test]
    fn plans_are_cached_and_recompiled_after_the_descriptions_change() {
        let mut lib = parse(&format!("{HEADER} void f([in] long a); }}"), "a.idl").unwrap();
        let first = lib.plan(&lib.interfaces[0], 0).unwrap();
        let again = lib.plan(&lib.interfaces[0], 0).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(lib.plan(&lib.interfaces[0], 1).is_none());
        lib.merge(parse(&format!("{HEADER} void f([in] hyper a); }}"), "b.idl").unwrap());
        let iface = lib.interface(lib.interfaces[0].uuid, 1).unwrap();
        let changed = lib.plan(iface, 0).unwrap();
        assert_eq!(
            changed.nodes[changed.request[0].node],
            Node::Int(IntForm {
                size: 8,
                signed: true
            })
        );
    }
}
