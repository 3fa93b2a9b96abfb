//! The IDL parser: a preprocessing pass (comments blanked, `#if`/`#ifdef`/`#else`/`#endif`
//! taken as MIDL would with `__midl` defined, `#define NAME value` kept as a constant), the lexer of
//! [`super::lexer`] and a recursive-descent grammar over its tokens. Constant expressions are evaluated by [`super::expr`] with the
//! constants known so far; [`super::load_files`] parses again when a name was declared in a
//! file read later.

use std::collections::HashMap;

use super::expr::{self, ExprError};
use super::lexer::{LineIndex, Tok, lex};
use super::{
    Arm, Attr, Coclass, Field, IdlError, Import, Interface, KNOWN_ATTRS, Library, Operation, Type,
};
use crate::dce::Uuid;

/// What the preprocessing pass keeps: the text with comments and excluded `#if` branches
/// blanked (offsets and line numbers unchanged) and the object-like `#define`s in order.
struct Preprocessed {
    text: String,
    defines: Vec<(String, String, usize)>,
}

/// Names MIDL defines while it compiles.
const PREDEFINED: &[&str] = &["__midl", "MIDL_PASS"];

fn blank_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut from = 0;
    let blank = |out: &mut String, s: &str| {
        out.extend(s.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    };
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'"' | b'\'', _) => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            (b'/', Some(b'/')) => {
                out.push_str(&src[from..i]);
                let end = src[i..].find('\n').map_or(src.len(), |e| i + e);
                blank(&mut out, &src[i..end]);
                i = end;
                from = i;
            }
            (b'/', Some(b'*')) => {
                out.push_str(&src[from..i]);
                let end = src[i + 2..].find("*/").map_or(src.len(), |e| i + 2 + e + 2);
                blank(&mut out, &src[i..end]);
                i = end;
                from = i;
            }
            _ => i += 1,
        }
    }
    if let Some(rest) = src.get(from.min(src.len())..) {
        out.push_str(rest);
    }
    out
}

fn preprocess(src: &str) -> Preprocessed {
    let text = blank_comments(src);
    let mut out = String::with_capacity(text.len());
    let mut defines = Vec::new();
    // (this branch is taken, some branch of this #if was taken)
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let active = stack.iter().all(|s| s.0);
        let t = line.trim_start();
        let directive = t.strip_prefix('#').map(str::trim_start);
        let mut keep = active;
        if let Some(d) = directive {
            let (word, rest) = d.split_once(char::is_whitespace).unwrap_or((d.trim(), ""));
            let rest = rest.trim();
            let defined = |name: &str| {
                PREDEFINED.contains(&name) || defines.iter().any(|(n, _, _)| n == name)
            };
            match word {
                "ifdef" => stack.push((defined(rest), defined(rest))),
                "ifndef" => stack.push((!defined(rest), !defined(rest))),
                "if" => {
                    let yes = rest != "0";
                    stack.push((yes, yes));
                }
                "elif" => {
                    if let Some(top) = stack.last_mut() {
                        top.0 = !top.1 && rest != "0";
                        top.1 |= top.0;
                    }
                }
                "else" => {
                    if let Some(top) = stack.last_mut() {
                        top.0 = !top.1;
                        top.1 = true;
                    }
                }
                "endif" => {
                    stack.pop();
                }
                "define" if active => {
                    let (name, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    if !name.is_empty() && !name.contains('(') {
                        let at = offset + line.find(name).unwrap_or(0);
                        defines.push((name.to_string(), body.trim().to_string(), at));
                    }
                }
                _ => {}
            }
            keep = false;
        }
        if keep {
            out.push_str(line);
        } else {
            out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        }
        offset += line.len();
    }
    Preprocessed { text: out, defines }
}

struct P<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    src: &'a str,
    file: &'a str,
    lines: LineIndex,
    /// Constants and enumerators: those known before this file, then this file's own.
    consts: HashMap<String, i64>,
    lib: Library,
    /// Structures, unions, enums and pipes being read inside each other.
    nesting: usize,
}

type R<T> = Result<T, IdlError>;

/// Levels a type may nest: structures, unions and pipes inside each other, and the pointers
/// and array dimensions of one declarator on top of them; deeper is an error at its place (so
/// nothing that walks a type can run out of stack).
pub const MAX_TYPE_NESTING: usize = 64;

const BASE_WORDS: &[&str] = &[
    "unsigned",
    "signed",
    "small",
    "short",
    "long",
    "hyper",
    "int",
    "char",
    "wchar_t",
    "byte",
    "boolean",
    "float",
    "double",
    "handle_t",
    "error_status_t",
    "__int64",
    "__int3264",
    "__int32",
    "__int16",
    "__int8",
    "void",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "const",
];

/// Words written around types that change nothing on the wire.
const QUALIFIERS: &[&str] = &["const", "far", "__far", "near", "__RPC_FAR", "volatile"];

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn err(&self, message: &str) -> IdlError {
        let at = self.toks.get(self.pos).map_or(self.src.len(), |t| t.1);
        self.lines.error(self.file, at, message)
    }

    /// Reads a structure, union, enum or pipe one level deeper ([`MAX_TYPE_NESTING`]).
    fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        if self.nesting >= MAX_TYPE_NESTING {
            return Err(self.err(&format!(
                "type nested deeper than {MAX_TYPE_NESTING} levels"
            )));
        }
        self.nesting += 1;
        let read = read(self);
        self.nesting -= 1;
        read
    }

    /// One more pointer or array dimension of a declarator, `levels` of them so far.
    fn wrap(&self, levels: &mut usize) -> R<()> {
        *levels += 1;
        if self.nesting + *levels > MAX_TYPE_NESTING {
            return Err(self.err(&format!(
                "type nested deeper than {MAX_TYPE_NESTING} levels"
            )));
        }
        Ok(())
    }

    fn warn_at(&mut self, tok: usize, message: &str) {
        let at = self.toks.get(tok).map_or(self.src.len(), |t| t.1);
        let e = self.lines.error(self.file, at, message);
        self.lib.warnings.push(e.to_string());
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == w)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_qualifiers(&mut self) {
        while matches!(self.peek(), Some(Tok::Ident(w)) if QUALIFIERS.contains(&w.as_str())) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> R<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected '{c}'")))
        }
    }

    fn ident(&mut self) -> R<String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.err("expected a name")),
        }
    }

    /// Moves past the `close` that matches an `open` already eaten, nested pairs included.
    fn skip_to_close(&mut self, open: char, close: char, missing: &str) -> R<()> {
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return Err(self.err(missing)),
                Some(Tok::Punct(c)) if *c == open => depth += 1,
                Some(Tok::Punct(c)) if *c == close => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// Raw text of the tokens up to the matching close parenthesis (the opening one eaten).
    fn balanced(&mut self) -> R<String> {
        let start = self.pos;
        self.skip_to_close('(', ')', "unclosed '('")?;
        let (from, to) = (self.toks[start].1, self.toks[self.pos - 1].1);
        Ok(self.src.get(from..to).unwrap_or("").trim().to_string())
    }

    /// Skips a `{ ... }` block (the cursor on its `{`) and a `;` after it.
    fn skip_block(&mut self) -> R<()> {
        self.expect('{')?;
        self.skip_to_close('{', '}', "expected '}'")?;
        self.eat_punct(';');
        Ok(())
    }

    /// The value of the constant expression from the cursor to the first of `stops` outside
    /// parentheses (not eaten). A name not known yet counts as 0 and is noted, so that
    /// [`super::load_files`] can parse again once every file's constants are known.
    fn const_expr(&mut self, stops: &[char]) -> R<i64> {
        let start = self.pos;
        self.skip_to(stops)?;
        let toks: Vec<Tok> = self.toks[start..self.pos]
            .iter()
            .map(|t| t.0.clone())
            .collect();
        self.value_of(&toks, start)
    }

    /// Moves the cursor to the first of `stops` outside parentheses and brackets.
    fn skip_to(&mut self, stops: &[char]) -> R<()> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => return Err(self.err("unfinished constant expression")),
                Some(Tok::Punct('(' | '[')) => depth += 1,
                Some(Tok::Punct(c)) if depth == 0 && stops.contains(c) => break,
                Some(Tok::Punct(')' | ']')) => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn value_of(&mut self, toks: &[Tok], at: usize) -> R<i64> {
        match expr::eval(toks, &self.consts) {
            Ok(v) => Ok(v),
            Err(ExprError::Unknown(name)) => {
                self.warn_at(at, &format!("unknown constant {name} taken as 0"));
                self.lib.unresolved += 1;
                Ok(0)
            }
            Err(ExprError::Syntax) => {
                let saved = self.pos;
                self.pos = at;
                let e = self.err("expected a constant expression");
                self.pos = saved;
                Err(e)
            }
        }
    }

    /// The values of an attribute argument list such as `case(A, B + 1)`.
    fn values_in(&mut self, text: &str, at: usize) -> R<Vec<i64>> {
        let toks: Vec<Tok> = lex(text, self.file)?.into_iter().map(|t| t.0).collect();
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut from = 0;
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth = depth.saturating_sub(1),
                Tok::Punct(',') if depth == 0 => {
                    out.push(self.value_of(&toks[from..i], at)?);
                    from = i + 1;
                }
                _ => {}
            }
        }
        if from < toks.len() {
            out.push(self.value_of(&toks[from..], at)?);
        }
        Ok(out)
    }

    fn define_const(&mut self, name: String, v: i64) {
        self.lib.constants.insert(name.clone(), v);
        self.consts.insert(name, v);
    }

    fn attrs(&mut self) -> R<Vec<Attr>> {
        let mut out = Vec::new();
        while self.eat_punct('[') {
            loop {
                if self.eat_punct(']') {
                    break;
                }
                let at = self.pos;
                let name = self.ident()?;
                let arg = if self.eat_punct('(') {
                    Some(self.balanced()?)
                } else {
                    None
                };
                if !KNOWN_ATTRS.contains(&name.as_str()) {
                    self.warn_at(at, &format!("unknown attribute [{name}] kept"));
                }
                out.push(Attr { name, arg });
                if !self.eat_punct(',') {
                    self.expect(']')?;
                    break;
                }
            }
        }
        Ok(out)
    }

    /// A type reference: base words or a name, then qualifiers and `*`s.
    fn type_ref(&mut self) -> R<Type> {
        Ok(self.declaration_type()?.1)
    }

    /// The type of a declaration with several declarators: the type without the `*`s written
    /// after it, which belong to the first declarator only (`typedef char* PSTR, *LPSTR;`
    /// makes both `char*`), and the first declarator's type with them.
    fn declaration_type(&mut self) -> R<(Type, Type)> {
        let bare = self.type_name()?;
        let mut ty = bare.clone();
        let mut levels = 0;
        loop {
            self.eat_qualifiers();
            if !self.eat_punct('*') {
                break;
            }
            self.wrap(&mut levels)?;
            ty = Type::Pointer(Box::new(ty));
        }
        Ok((bare, ty))
    }

    /// Base words, a name or a constructed type, without the `*`s after it.
    fn type_name(&mut self) -> R<Type> {
        self.eat_qualifiers();
        let ty = if self.is_word("struct") || self.is_word("union") || self.is_word("enum") {
            self.nested(Self::constructed)?
        } else if self.eat_word("pipe") {
            Type::Pipe(Box::new(self.nested(Self::type_ref)?))
        } else {
            let mut words = Vec::new();
            while let Some(Tok::Ident(w)) = self.peek() {
                if BASE_WORDS.contains(&w.as_str()) {
                    if w != "const" {
                        words.push(w.clone());
                    }
                    self.pos += 1;
                } else {
                    break;
                }
            }
            if words.is_empty() {
                Type::Named(self.ident()?)
            } else {
                Type::Base(words.join(" "))
            }
        };
        Ok(ty)
    }

    fn constructed(&mut self) -> R<Type> {
        if self.eat_word("enum") {
            let tag = match self.peek() {
                Some(Tok::Ident(_)) => Some(self.ident()?),
                _ => None,
            };
            if !self.is_punct('{') {
                return Ok(Type::Named(tag.unwrap_or_default()));
            }
            self.expect('{')?;
            let mut items = Vec::new();
            let mut next = 0i64;
            while !self.eat_punct('}') {
                let name = self.ident()?;
                if self.eat_punct('=') {
                    next = self.const_expr(&[',', '}'])?;
                }
                self.define_const(name.clone(), next);
                items.push((name, next));
                next = next.wrapping_add(1);
                if !self.eat_punct(',') {
                    self.expect('}')?;
                    break;
                }
            }
            let ty = Type::Enum(items);
            if let Some(tag) = tag {
                self.define_type(tag, ty.clone());
            }
            return Ok(ty);
        }
        let is_union = self.eat_word("union");
        if !is_union {
            self.eat_word("struct");
        }
        let mut tag = None;
        if matches!(self.peek(), Some(Tok::Ident(_))) && !self.is_word("switch") {
            let name = self.ident()?;
            if !self.is_punct('{') && !self.is_word("switch") {
                return Ok(Type::Named(name));
            }
            tag = Some(name);
        }
        let mut discriminant = None;
        if self.eat_word("switch") {
            self.expect('(')?;
            discriminant = Some(Box::new(self.type_ref()?));
            self.ident()?;
            self.expect(')')?;
            if matches!(self.peek(), Some(Tok::Ident(_))) {
                self.pos += 1;
            }
        }
        self.expect('{')?;
        let ty = if is_union {
            Type::Union(discriminant, self.union_arms()?)
        } else {
            Type::Struct(self.members()?)
        };
        if let Some(tag) = tag {
            self.define_type(tag, ty.clone());
        }
        Ok(ty)
    }

    fn union_arms(&mut self) -> R<Vec<Arm>> {
        let mut arms = Vec::new();
        while !self.eat_punct('}') {
            if self.peek().is_none() {
                return Err(self.err("expected '}'"));
            }
            let mut cases = Vec::new();
            // encapsulated unions write `case 1:`
            while self.eat_word("case") {
                cases.push(self.const_expr(&[':'])?);
                self.expect(':')?;
            }
            if self.eat_word("default") {
                self.expect(':')?;
            }
            let at = self.pos;
            let attrs = self.attrs()?;
            for a in &attrs {
                if a.name == "case" {
                    let text = a.arg.clone().unwrap_or_default();
                    cases.extend(self.values_in(&text, at)?);
                }
            }
            if self.eat_punct(';') {
                arms.push(Arm { cases, field: None });
                continue;
            }
            let ty = self.type_ref()?;
            // a C union may hold an anonymous struct
            let (ty, name) = if self.is_punct(';') {
                (ty, String::new())
            } else {
                self.declarator(ty)?
            };
            self.expect(';')?;
            arms.push(Arm {
                cases,
                field: Some(Field { attrs, ty, name }),
            });
        }
        Ok(arms)
    }

    fn members(&mut self) -> R<Vec<Field>> {
        let mut fields = Vec::new();
        while !self.eat_punct('}') {
            if self.peek().is_none() {
                return Err(self.err("expected '}'"));
            }
            let attrs = self.attrs()?;
            let (bare, first) = self.declaration_type()?;
            let mut base = first;
            if self.eat_punct(';') {
                // an anonymous struct or union embedded in this one
                fields.push(Field {
                    attrs,
                    ty: base,
                    name: String::new(),
                });
                continue;
            }
            loop {
                let (ty, name) = self.declarator(base.clone())?;
                if self.eat_punct('=') {
                    // an initialiser some published files write to say how a member is
                    // computed from others; it changes nothing on the wire
                    self.skip_to(&[',', ';'])?;
                }
                fields.push(Field {
                    attrs: attrs.clone(),
                    ty,
                    name,
                });
                if !self.eat_punct(',') {
                    break;
                }
                base = bare.clone();
            }
            self.expect(';')?;
        }
        Ok(fields)
    }

    /// `*name[dims]` after a type.
    fn declarator(&mut self, mut ty: Type) -> R<(Type, String)> {
        let mut levels = 0;
        loop {
            self.eat_qualifiers();
            if !self.eat_punct('*') {
                break;
            }
            self.wrap(&mut levels)?;
            ty = Type::Pointer(Box::new(ty));
        }
        let name = self.ident()?;
        let mut dims = Vec::new();
        while self.eat_punct('[') {
            if self.eat_punct(']') {
                dims.push(None);
                self.wrap(&mut levels)?;
                continue;
            }
            if self.is_punct('*')
                && self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::Punct(']'))
            {
                self.pos += 2;
                dims.push(None);
                self.wrap(&mut levels)?;
                continue;
            }
            let n = self.const_expr(&[']'])?;
            self.expect(']')?;
            dims.push(Some(u64::try_from(n).unwrap_or(0)));
            self.wrap(&mut levels)?;
        }
        for d in dims.into_iter().rev() {
            ty = Type::Array(Box::new(ty), d);
        }
        Ok((ty, name))
    }

    /// Records a typedef; a second, different definition of the same name is ignored with a
    /// warning (the first one stands).
    fn define_type(&mut self, name: String, ty: Type) {
        match self.lib.types.get(&name) {
            Some(old) if *old != ty => {
                let at = self.pos.saturating_sub(1);
                self.warn_at(
                    at,
                    &format!("type {name} defined again differently; the first definition is kept"),
                );
            }
            Some(_) => {}
            None => {
                self.lib.types.insert(name, ty);
            }
        }
    }

    fn typedef(&mut self, mut attrs: Vec<Attr>) -> R<()> {
        attrs.extend(self.attrs()?);
        let handle = attrs.iter().any(|a| a.name == "context_handle");
        let (bare, mut base) = self.declaration_type()?;
        loop {
            let (ty, name) = self.declarator(base.clone())?;
            base = bare.clone();
            if handle {
                self.lib.context_handles.insert(name.clone());
            }
            if !attrs.is_empty() {
                self.lib.typedef_attrs.insert(name.clone(), attrs.clone());
            }
            self.define_type(name, ty);
            if !self.eat_punct(',') {
                break;
            }
        }
        self.expect(';')
    }

    /// `const TYPE NAME = EXPR;` (the `const` eaten).
    fn constant(&mut self) -> R<()> {
        let _ = self.type_ref()?;
        let name = self.ident()?;
        self.expect('=')?;
        if let Some(Tok::Str(_)) = self.peek() {
            // a string constant: nothing rpcscope computes with
            self.pos += 1;
            return self.expect(';');
        }
        let v = self.const_expr(&[';'])?;
        self.expect(';')?;
        self.define_const(name, v);
        Ok(())
    }

    fn operation(&mut self, attrs: Vec<Attr>) -> R<Operation> {
        let ret = self.type_ref()?;
        let name = self.ident()?;
        self.expect('(')?;
        let mut params = Vec::new();
        if !self.eat_punct(')') {
            loop {
                let attrs = self.attrs()?;
                let base = self.type_ref()?;
                if base == Type::Base("void".into()) && self.is_punct(')') {
                    self.expect(')')?;
                    break;
                }
                let (ty, pname) = self.declarator(base)?;
                params.push(Field {
                    attrs,
                    ty,
                    name: pname,
                });
                if !self.eat_punct(',') {
                    self.expect(')')?;
                    break;
                }
            }
        }
        self.expect(';')?;
        Ok(Operation {
            name,
            ret,
            params,
            attrs,
        })
    }

    /// `import "a.idl", "b.idl";`: the names are recorded with where they were written.
    fn import(&mut self) -> R<()> {
        loop {
            match self.toks.get(self.pos) {
                Some((Tok::Str(name), at)) => {
                    let at = self.lines.error(self.file, *at, "").location();
                    self.lib.imports.push(Import {
                        name: name.clone(),
                        at,
                    });
                    self.pos += 1;
                }
                _ => return Err(self.err("expected a file name in quotes")),
            }
            if !self.eat_punct(',') {
                return self.expect(';');
            }
        }
    }

    /// `cpp_quote("...")`, `midl_pragma warning(...)`, `importlib("...")`: nothing on the
    /// wire. The keyword is eaten; a `;` after them is optional.
    fn skip_directive(&mut self) -> R<()> {
        while !self.is_punct('(') {
            if self.peek().is_none() {
                return Err(self.err("expected '('"));
            }
            self.pos += 1;
        }
        self.pos += 1;
        self.balanced()?;
        self.eat_punct(';');
        Ok(())
    }

    /// A declaration allowed both in a file and in an interface body; false when the cursor
    /// is on none.
    fn declaration(&mut self, attrs: &[Attr]) -> R<bool> {
        if self.eat_word("typedef") {
            self.typedef(attrs.to_vec())?;
        } else if self.eat_word("import") {
            self.import()?;
        } else if self.eat_word("cpp_quote")
            || self.eat_word("midl_pragma")
            || self.eat_word("importlib")
        {
            self.skip_directive()?;
        } else if self.eat_word("const") {
            self.constant()?;
        } else if self.is_word("struct") || self.is_word("union") || self.is_word("enum") {
            self.constructed()?;
            self.expect(';')?;
        } else if self.eat_punct(';') {
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn interface_body(&mut self, object: bool) -> R<Vec<Operation>> {
        let mut ops: Vec<Operation> = Vec::new();
        self.expect('{')?;
        while !self.eat_punct('}') {
            if self.peek().is_none() {
                return Err(self.err("expected '}'"));
            }
            let attrs = self.attrs()?;
            if self.declaration(&attrs)? {
                continue;
            }
            let op = self.operation(attrs)?;
            if op.attrs.iter().any(|a| a.name == "callback") {
                // server-to-client procedures are numbered apart (MIDL [callback])
                continue;
            }
            let local = op.attrs.iter().any(|a| a.name == "local");
            let call_as = op
                .attrs
                .iter()
                .find(|a| a.name == "call_as")
                .and_then(|a| a.arg.clone());
            match call_as {
                // the remote form of a [local] method takes its place (MIDL, [call_as])
                Some(local_name) => match ops.iter().position(|o| o.name == local_name) {
                    Some(i) if object => ops[i] = op,
                    Some(_) | None => ops.push(op),
                },
                // [local] methods of an RPC interface have no procedure number; those of a
                // DCOM interface keep their place in the table of methods
                None if local && !object => {}
                None => ops.push(op),
            }
        }
        self.eat_punct(';');
        Ok(ops)
    }

    /// File-level items until the end (or the `}` closing a `library`).
    fn items(&mut self, in_library: bool) -> R<()> {
        while self.peek().is_some() {
            if in_library && self.eat_punct('}') {
                self.eat_punct(';');
                return Ok(());
            }
            let attrs = self.attrs()?;
            if self.declaration(&attrs)? {
                continue;
            }
            if self.eat_word("interface") || self.eat_word("dispinterface") {
                let dispatch = matches!(self.toks.get(self.pos - 1), Some((Tok::Ident(w), _)) if w == "dispinterface");
                let name = self.ident()?;
                let parent = if self.eat_punct(':') {
                    Some(self.ident()?)
                } else {
                    None
                };
                if self.eat_punct(';') {
                    continue;
                }
                if dispatch {
                    self.skip_block()?;
                    continue;
                }
                self.interface(attrs, name, parent)?;
                continue;
            }
            if self.eat_word("coclass") {
                let name = self.ident()?;
                if self.eat_punct(';') {
                    continue;
                }
                self.skip_block()?;
                if let Some(uuid) = uuid_attr(&attrs) {
                    self.lib.coclasses.push(Coclass { name, uuid });
                }
                continue;
            }
            if self.eat_word("library") {
                self.ident()?;
                self.expect('{')?;
                self.items(true)?;
                continue;
            }
            if self.eat_word("module") {
                self.ident()?;
                self.skip_block()?;
                continue;
            }
            return Err(self.err("expected an interface, import, typedef or const"));
        }
        if in_library {
            return Err(self.err("expected '}' closing the library"));
        }
        Ok(())
    }

    fn interface(&mut self, attrs: Vec<Attr>, name: String, parent: Option<String>) -> R<()> {
        let uuid = match uuid_attr(&attrs) {
            Some(u) => u,
            None if attrs.iter().any(|a| a.name == "uuid") => {
                return Err(self.err("interface without a valid [uuid(...)]"));
            }
            None => {
                // no wire form ([local], or a holder of types): its types count
                let at = self.pos;
                let ops = self.interface_body(true)?;
                if !ops.is_empty() && !attrs.iter().any(|a| a.name == "local") {
                    self.warn_at(
                        at,
                        &format!("interface {name} has no [uuid]: its operations are not used"),
                    );
                }
                return Ok(());
            }
        };
        let version = attrs
            .iter()
            .find(|a| a.name == "version")
            .and_then(|a| a.arg.as_deref())
            .map_or((0, 0), |v| {
                let mut p = v.split('.');
                let major = p.next().and_then(|x| x.trim().parse().ok()).unwrap_or(0);
                let minor = p.next().and_then(|x| x.trim().parse().ok()).unwrap_or(0);
                (major, minor)
            });
        let object = parent.is_some() || attrs.iter().any(|a| a.name == "object");
        let operations = self.interface_body(object)?;
        self.lib.interfaces.push(Interface {
            name,
            uuid,
            version,
            operations,
            parent,
            object,
            inherited: 0,
        });
        Ok(())
    }
}

fn uuid_attr(attrs: &[Attr]) -> Option<Uuid> {
    attrs
        .iter()
        .find(|a| a.name == "uuid")
        .and_then(|a| a.arg.as_deref())
        .and_then(|u| Uuid::parse(u.trim().trim_matches('"')))
}

/// Parses IDL source text (`file` names it in errors and warnings).
///
/// # Errors
/// [`IdlError`] with `file:line:column` at the first syntax error.
pub fn parse(src: &str, file: &str) -> Result<Library, IdlError> {
    parse_with(src, file, &HashMap::new())
}

/// Parses IDL source text with the constants already known from other files.
///
/// # Errors
/// [`IdlError`] with `file:line:column` at the first syntax error.
pub fn parse_with(
    src: &str,
    file: &str,
    known: &HashMap<String, i64>,
) -> Result<Library, IdlError> {
    let pre = preprocess(src);
    let toks = lex(&pre.text, file)?;
    let mut p = P {
        toks,
        pos: 0,
        src: &pre.text,
        file,
        lines: LineIndex::new(&pre.text),
        consts: known.clone(),
        lib: Library::default(),
        nesting: 0,
    };
    for (name, body, at) in pre.defines {
        let Ok(body_toks) = lex(&body, file) else {
            continue;
        };
        let toks: Vec<Tok> = body_toks.into_iter().map(|t| t.0).collect();
        if toks.iter().any(|t| matches!(t, Tok::Str(_))) {
            // a string (`L"Spool File Contents"`): nothing rpcscope computes with
            continue;
        }
        match expr::eval(&toks, &p.consts) {
            Ok(v) => p.define_const(name, v),
            // `#define DNS_RPC_ZONE_STATS DNS_RPC_ZONE_STATS_V1`: a name for a type
            Err(ExprError::Unknown(_)) if matches!(toks.as_slice(), [Tok::Ident(_)]) => {
                if let [Tok::Ident(target)] = toks.as_slice() {
                    p.lib
                        .types
                        .entry(name)
                        .or_insert_with(|| Type::Named(target.clone()));
                }
            }
            Err(ExprError::Unknown(_)) => {
                p.lib.unresolved += 1;
                let e = p
                    .lines
                    .error(file, at, &format!("#define {name}: unknown constant"));
                p.lib.warnings.push(e.to_string());
            }
            // a string, a type or an empty body: not a number
            Err(ExprError::Syntax) => {}
        }
    }
    p.items(false)?;
    p.lib.reindex();
    Ok(p.lib)
}
#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
import "ms-dtyp.idl";
// a comment
#define X 1
typedef [context_handle] void *HANDLE_T;
typedef pipe byte BYTE_PIPE;
typedef enum { RED = 1, GREEN, BLUE = 0x10 } COLOR;
typedef struct _REC { long id; short kind; [size_is(n)] byte *data; unsigned long n; } REC, *PREC;
typedef [switch_type(short)] union _U { [case(1)] long a; [case(2,3)] hyper b; [default] ; } U;
typedef union switch (long tag) u { case 1: short s; default: ; } ENC;
[uuid(490c1991-1350-42e3-a4ba-c1e2efcb4ade), version(1.2), pointer_default(unique), frobnicate]
interface Sample : IUnknown
{
    typedef struct { wchar_t name[16]; [range(0, 100)] long v; } INNER;
    long Op0([in] handle_t h, [in, string, unique] wchar_t *name, [out] HANDLE_T *ctx);
    void Op1([in] HANDLE_T ctx, [in] short tag, [in, switch_is(tag)] U *u, [in] BYTE_PIPE data);
    long Op2([in] long count, [out, size_is(count), length_is(*got)] REC *recs, [out, ref] long *got, [out] BYTE_PIPE *out_pipe);
    void Op3(void);
}
"#;

    #[test]
    fn types_nested_past_the_limit_are_errors_not_stack_overflows() {
        let n = 20_000;
        let structs = format!(
            "typedef {} long x; {} S;",
            "struct { ".repeat(n),
            "} a;".repeat(n)
        );
        let stars = format!("typedef long {}P;", "*".repeat(1_000_000));
        let pipes = format!("typedef {}long PP;", "pipe ".repeat(100_000));
        let dims = format!("typedef struct {{ long a{}; }} D;", "[2]".repeat(10_000));
        for (what, src) in [
            ("structs", structs),
            ("stars", stars),
            ("pipes", pipes),
            ("dims", dims),
        ] {
            let e = parse(&src, "deep.idl").expect_err(what);
            assert!(
                e.message
                    .contains(&format!("deeper than {MAX_TYPE_NESTING}")),
                "{what}: {e}"
            );
        }
        let k = MAX_TYPE_NESTING;
        let fine = format!(
            "typedef {} long x; {} }} S; typedef long {}P;",
            "struct { ".repeat(k),
            "} a;".repeat(k - 1),
            "*".repeat(k)
        );
        let lib = parse(&fine, "ok.idl").unwrap();
        assert!(lib.types.contains_key("S") && lib.types.contains_key("P"));
    }

    #[test]
    fn stars_after_the_type_belong_to_the_first_declarator_only() {
        // dtyp.idl: both are one pointer to char; scmr.idl's ANSI operations take LPSTR.
        let lib = parse(
            "typedef char* PSTR, *LPSTR; typedef unsigned long DWORD, *LPDWORD;\n\
             typedef struct { char* a, b, *c; } S;",
            "t.idl",
        )
        .unwrap();
        let one = |name: &str| Type::Pointer(Box::new(Type::Base(name.into())));
        assert_eq!(lib.types["PSTR"], one("char"));
        assert_eq!(lib.types["LPSTR"], one("char"));
        assert_eq!(lib.types["LPDWORD"], one("unsigned long"));
        let Type::Struct(f) = &lib.types["S"] else {
            panic!()
        };
        assert_eq!(f[0].ty, one("char"));
        assert_eq!(f[1].ty, Type::Base("char".into()));
        assert_eq!(f[2].ty, one("char"));
    }

    #[test]
    fn parses_every_supported_construct() {
        let lib = parse(SAMPLE, "sample.idl").unwrap();
        let i = &lib.interfaces[0];
        assert_eq!(i.name, "Sample");
        assert_eq!(i.version, (1, 2));
        assert_eq!(i.uuid.to_string(), "490c1991-1350-42e3-a4ba-c1e2efcb4ade");
        let names: Vec<&str> = i.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["Op0", "Op1", "Op2", "Op3"],
            "opnum = declaration order"
        );
        assert!(lib.context_handles.contains("HANDLE_T"));
        assert_eq!(
            lib.types["BYTE_PIPE"],
            Type::Pipe(Box::new(Type::Base("byte".into())))
        );
        let Type::Enum(e) = &lib.types["COLOR"] else {
            panic!()
        };
        assert_eq!(
            e,
            &[("RED".into(), 1), ("GREEN".into(), 2), ("BLUE".into(), 16)]
        );
        let Type::Struct(f) = &lib.types["REC"] else {
            panic!()
        };
        assert_eq!(
            f[2].attr("size_is").and_then(|a| a.arg.as_deref()),
            Some("n")
        );
        assert!(matches!(&lib.types["PREC"], Type::Pointer(_)));
        let Type::Union(None, arms) = &lib.types["U"] else {
            panic!()
        };
        assert_eq!(arms[1].cases, [2, 3]);
        assert!(arms[2].field.is_none() && arms[2].cases.is_empty());
        let Type::Union(Some(d), arms) = &lib.types["ENC"] else {
            panic!()
        };
        assert_eq!(**d, Type::Base("long".into()));
        assert_eq!(arms[0].cases, [1]);
        let Type::Struct(inner) = &lib.types["INNER"] else {
            panic!()
        };
        assert_eq!(
            inner[0].ty,
            Type::Array(Box::new(Type::Base("wchar_t".into())), Some(16))
        );
        assert!(inner[1].has("range"));
        let op2 = &i.operations[2];
        assert!(op2.params[1].has("out") && op2.params[1].has("length_is"));
        assert_eq!(
            op2.params[2].attr("ref").map(|a| a.name.as_str()),
            Some("ref")
        );
        assert!(i.operations[3].params.is_empty());
        assert_eq!(lib.warnings.len(), 1, "{:?}", lib.warnings);
        assert!(
            lib.warnings[0].contains("sample.idl:11:") && lib.warnings[0].contains("frobnicate")
        );
    }

    #[test]
    fn reports_errors_with_file_line_and_column() {
        let err = parse(
            "[uuid(490c1991-1350-42e3-a4ba-c1e2efcb4ade)]\ninterface X {\n  long Op(@);\n}",
            "bad.idl",
        )
        .unwrap_err();
        assert_eq!((err.line, err.column), (3, 11), "{err}");
        assert!(err.to_string().starts_with("bad.idl:3:11: "));
        let err = parse("[uuid(1-2)] interface Y { long f(); }", "baduuid.idl").unwrap_err();
        assert!(err.message.contains("uuid"), "{err}");
        let lib = parse("interface Y { long f(); }", "nouuid.idl").unwrap();
        assert!(lib.interfaces.is_empty());
        assert!(lib.warnings[0].contains("no [uuid]"), "{:?}", lib.warnings);
    }

    const MIDL_FORMS: &str = r##"
#define MAX_NAME 16
#ifdef __midl
typedef long WIDE;
#else
typedef short WIDE;
#endif
const int MAX_PAYLOAD = 2 * 1024 * 1024;
const int MAX_QUERY = MAX_PAYLOAD / sizeof(WCHAR);
const char * KEY = "HKEY_LOCAL_MACHINE";
midl_pragma warning(disable: 2111)
cpp_quote("#include <x.h>")
typedef enum { A_FIRST = 1, A_SECOND = A_FIRST + 1, A_NEG = (-1) } KIND;
typedef struct _S {
    unsigned long cb;
    unsigned long rounded = (cb + 7) & ~7;
    union { struct { ULONG lo; ULONG hi; }; ULONG64 all; };
    wchar_t name[MAX_NAME + 1];
    UCHAR const * data;
} S;
typedef [switch_type(long)] union { [case(A_SECOND, MAX_NAME)] long x; [default] ; } U;
[object, uuid(00000000-0000-0000-c000-000000000046)]
interface IUnknown { HRESULT QueryInterface(void); ULONG AddRef(void); ULONG Release(void); };
[object, uuid(11111111-2222-3333-4444-555555555555)]
interface IThing : IUnknown {
    [local] HRESULT Next([in] ULONG n);
    [call_as(Next)] HRESULT RemoteNext([in] ULONG n, [out] ULONG *got);
    HRESULT Skip([in] ULONG n);
};
[uuid(22222222-2222-3333-4444-555555555555), version(1.0)]
interface plain {
    [local] void LocalOnly(void);
    long Op0([in] handle_t h);
    [callback] long Callback([in] long x);
    long Op1([in] handle_t h);
}
library Lib {
    importlib("stdole2.tlb");
    [uuid(33333333-2222-3333-4444-555555555555)] coclass Thing { [default] interface IThing; };
};
"##;

    #[test]
    fn parses_the_forms_published_microsoft_idl_uses() {
        let mut lib = parse(MIDL_FORMS, "forms.idl").unwrap();
        lib.link();
        assert_eq!(lib.constants["MAX_NAME"], 16);
        assert_eq!(lib.constants["MAX_QUERY"], 1024 * 1024);
        assert_eq!(lib.constants["A_SECOND"], 2);
        assert_eq!(lib.constants["A_NEG"], -1);
        assert!(
            !lib.constants.contains_key("KEY"),
            "string constants are not numbers"
        );
        assert_eq!(
            lib.types["WIDE"],
            Type::Base("long".into()),
            "the __midl branch"
        );
        let Type::Struct(f) = &lib.types["S"] else {
            panic!()
        };
        assert_eq!(
            f.len(),
            5,
            "a member with an initialiser is still a member: {f:?}"
        );
        assert!(
            f[2].name.is_empty() && matches!(f[2].ty, Type::Union(..)),
            "anonymous union"
        );
        assert_eq!(
            f[3].ty,
            Type::Array(Box::new(Type::Base("wchar_t".into())), Some(17))
        );
        assert!(matches!(&f[4].ty, Type::Pointer(t) if **t == Type::Named("UCHAR".into())));
        let Type::Union(_, arms) = &lib.types["U"] else {
            panic!()
        };
        assert_eq!(arms[0].cases, [2, 16]);
        let thing = lib.interfaces.iter().find(|i| i.name == "IThing").unwrap();
        let names: Vec<&str> = thing.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["QueryInterface", "AddRef", "Release", "RemoteNext", "Skip"],
            "IUnknown first; the [call_as] method in its [local] method's place"
        );
        assert_eq!(thing.inherited, 3);
        let plain = lib.interfaces.iter().find(|i| i.name == "plain").unwrap();
        let names: Vec<&str> = plain.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["Op0", "Op1"],
            "[local] and [callback] take no opnum"
        );
        assert_eq!(lib.coclasses[0].name, "Thing");
        assert_eq!(lib.unresolved, 0, "{:?}", lib.warnings);
    }

    #[test]
    fn a_name_declared_later_is_noted_for_another_round() {
        let lib = parse("typedef struct { char a[LATER]; } T;", "t.idl").unwrap();
        assert_eq!(lib.unresolved, 1);
        assert!(
            lib.warnings[0].contains("t.idl:1:25: unknown constant LATER"),
            "{:?}",
            lib.warnings
        );
        let known = [("LATER".to_string(), 4)].into_iter().collect();
        let lib = parse_with("typedef struct { char a[LATER]; } T;", "t.idl", &known).unwrap();
        assert_eq!(lib.unresolved, 0);
        let Type::Struct(f) = &lib.types["T"] else {
            panic!()
        };
        assert_eq!(
            f[0].ty,
            Type::Array(Box::new(Type::Base("char".into())), Some(4))
        );
    }

    #[test]
    fn comments_and_strings_do_not_confuse_the_preprocessor() {
        let src = "/* #else */ typedef long A; // #endif\ncpp_quote(\"// not a comment\")\n";
        let pre = preprocess(src);
        assert!(pre.text.contains("typedef long A;"));
        assert!(pre.text.contains("\"// not a comment\""));
        assert_eq!(pre.text.len(), src.len(), "offsets are kept");
    }
}
