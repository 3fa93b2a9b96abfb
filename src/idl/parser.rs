//! The IDL parser: a nom lexer (identifiers, numbers, strings, punctuation; comments, `#`
//! lines and `cpp_quote` skipped) and a recursive-descent grammar over its tokens.

use nom::IResult;
use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_until, take_while, take_while1};
use nom::character::complete::{char, digit1, hex_digit1, multispace1, one_of};
use nom::combinator::{map, recognize, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded};

use super::{Arm, Attr, Field, IdlError, Import, Interface, KNOWN_ATTRS, Library, Operation, Type};
use crate::dcerpc::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(i64),
    Str(String),
    Punct(char),
}

fn skip(i: &str) -> IResult<&str, ()> {
    value(
        (),
        many0(alt((
            value((), multispace1),
            value((), pair(tag("//"), take_while(|c| c != '\n'))),
            value((), delimited(tag("/*"), take_until("*/"), tag("*/"))),
            value((), pair(tag("#"), take_while(|c| c != '\n'))),
        ))),
    )
    .parse(i)
}

fn token(i: &str) -> IResult<&str, Tok> {
    alt((
        map(
            recognize(pair(
                take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
                take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
            )),
            |s: &str| Tok::Ident(s.to_string()),
        ),
        map(
            preceded(alt((tag("0x"), tag("0X"))), hex_digit1),
            |h: &str| Tok::Num(i64::from_str_radix(h, 16).unwrap_or(0)),
        ),
        map(
            pair(digit1, take_while(|c: char| c.is_ascii_alphabetic())),
            |(d, _): (&str, &str)| Tok::Num(d.parse().unwrap_or(0)),
        ),
        map(
            delimited(
                char('"'),
                map(many0(is_not("\"")), |v| v.concat()),
                char('"'),
            ),
            Tok::Str,
        ),
        map(one_of("[](){};,:*=<>-+|&.!~/%?^'"), Tok::Punct),
    ))
    .parse(i)
}

fn lex(src: &str, file: &str) -> Result<Vec<(Tok, usize)>, IdlError> {
    let mut out = Vec::new();
    let mut rest = src;
    loop {
        rest = skip(rest).map_or(rest, |(r, ())| r);
        if rest.is_empty() {
            return Ok(out);
        }
        let at = src.len() - rest.len();
        match token(rest) {
            Ok((r, t)) => {
                out.push((t, at));
                rest = r;
            }
            Err(_) => return Err(error_at(src, file, at, "unexpected character")),
        }
    }
}

fn error_at(src: &str, file: &str, at: usize, message: &str) -> IdlError {
    let before = src.get(..at).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(at, |p| at - p - 1) + 1;
    IdlError {
        file: file.to_string(),
        line,
        column,
        message: message.to_string(),
    }
}

struct P<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    src: &'a str,
    file: &'a str,
    lib: Library,
}

type R<T> = Result<T, IdlError>;

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

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn err(&self, message: &str) -> IdlError {
        let at = self.toks.get(self.pos).map_or(self.src.len(), |t| t.1);
        error_at(self.src, self.file, at, message)
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

    /// Raw text of the tokens up to the matching close parenthesis (the opening one eaten).
    fn balanced(&mut self) -> R<String> {
        let start = self.pos;
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return Err(self.err("unclosed '('")),
                Some(Tok::Punct('(')) => depth += 1,
                Some(Tok::Punct(')')) => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        let (from, to) = (self.toks[start].1, self.toks[self.pos - 1].1);
        Ok(self.src.get(from..to).unwrap_or("").trim().to_string())
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
                    let e = error_at(
                        self.src,
                        self.file,
                        self.toks[at].1,
                        &format!("unknown attribute [{name}] kept"),
                    );
                    self.lib.warnings.push(e.to_string());
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

    /// A type reference: base words or a name, then `*`s.
    fn type_ref(&mut self) -> R<Type> {
        let mut ty = if self.is_word("struct") || self.is_word("union") || self.is_word("enum") {
            self.constructed()?
        } else if self.eat_word("pipe") {
            Type::Pipe(Box::new(self.type_ref()?))
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
        while self.eat_punct('*') {
            ty = Type::Pointer(Box::new(ty));
        }
        Ok(ty)
    }

    fn number(&mut self) -> R<i64> {
        let neg = self.eat_punct('-');
        match self.peek() {
            Some(Tok::Num(n)) => {
                let n = *n;
                self.pos += 1;
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.err("expected a number")),
        }
    }

    fn constructed(&mut self) -> R<Type> {
        if self.eat_word("enum") {
            if matches!(self.peek(), Some(Tok::Ident(_))) {
                self.pos += 1;
            }
            self.expect('{')?;
            let mut items = Vec::new();
            let mut next = 0i64;
            while !self.eat_punct('}') {
                let name = self.ident()?;
                if self.eat_punct('=') {
                    next = self.number()?;
                }
                items.push((name, next));
                next += 1;
                if !self.eat_punct(',') {
                    self.expect('}')?;
                    break;
                }
            }
            return Ok(Type::Enum(items));
        }
        let is_union = self.eat_word("union");
        if !is_union {
            self.eat_word("struct");
        }
        if matches!(self.peek(), Some(Tok::Ident(_))) && !self.is_word("switch") {
            let name = self.ident()?;
            if !self.is_punct('{') && !self.is_word("switch") {
                return Ok(Type::Named(name));
            }
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
        if is_union {
            let mut arms = Vec::new();
            while !self.eat_punct('}') {
                let mut cases = Vec::new();
                // encapsulated unions write `case 1:`
                while self.eat_word("case") {
                    cases.push(self.number()?);
                    self.expect(':')?;
                }
                if self.eat_word("default") {
                    self.expect(':')?;
                }
                let attrs = self.attrs()?;
                for a in &attrs {
                    if a.name == "case" {
                        for v in a.arg.as_deref().unwrap_or("").split(',') {
                            cases.push(parse_int(v.trim()));
                        }
                    }
                }
                if self.eat_punct(';') {
                    arms.push(Arm { cases, field: None });
                    continue;
                }
                let ty = self.type_ref()?;
                let (ty, name) = self.declarator(ty)?;
                self.expect(';')?;
                arms.push(Arm {
                    cases,
                    field: Some(Field { attrs, ty, name }),
                });
            }
            return Ok(Type::Union(discriminant, arms));
        }
        let mut fields = Vec::new();
        while !self.eat_punct('}') {
            let attrs = self.attrs()?;
            let base = self.type_ref()?;
            loop {
                let (ty, name) = self.declarator(base.clone())?;
                fields.push(Field {
                    attrs: attrs.clone(),
                    ty,
                    name,
                });
                if !self.eat_punct(',') {
                    break;
                }
            }
            self.expect(';')?;
        }
        Ok(Type::Struct(fields))
    }

    /// `*name[dims]` after a type.
    fn declarator(&mut self, mut ty: Type) -> R<(Type, String)> {
        while self.eat_punct('*') {
            ty = Type::Pointer(Box::new(ty));
        }
        let name = self.ident()?;
        let mut dims = Vec::new();
        while self.eat_punct('[') {
            if self.eat_punct(']') {
                dims.push(None);
                continue;
            }
            if self.eat_punct('*') {
                self.expect(']')?;
                dims.push(None);
                continue;
            }
            let n = match self.peek() {
                Some(Tok::Num(n)) => Some(u64::try_from(*n).unwrap_or(0)),
                _ => None,
            };
            while !self.eat_punct(']') {
                if self.peek().is_none() {
                    return Err(self.err("unclosed '['"));
                }
                self.pos += 1;
            }
            dims.push(n);
        }
        for d in dims.into_iter().rev() {
            ty = Type::Array(Box::new(ty), d);
        }
        Ok((ty, name))
    }

    fn typedef(&mut self) -> R<()> {
        let attrs = self.attrs()?;
        let handle = attrs.iter().any(|a| a.name == "context_handle");
        let base = self.type_ref()?;
        loop {
            let (ty, name) = self.declarator(base.clone())?;
            if handle {
                self.lib.context_handles.insert(name.clone());
            }
            if !attrs.is_empty() {
                self.lib.typedef_attrs.insert(name.clone(), attrs.clone());
            }
            self.lib.types.insert(name, ty);
            if !self.eat_punct(',') {
                break;
            }
        }
        self.expect(';')
    }

    fn operation(&mut self) -> R<Operation> {
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
        Ok(Operation { name, ret, params })
    }

    /// `import "a.idl", "b.idl";`: the names are recorded with where they were written.
    fn import(&mut self) -> R<()> {
        loop {
            match self.toks.get(self.pos) {
                Some((Tok::Str(name), at)) => {
                    let at = error_at(self.src, self.file, *at, "").location();
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

    fn skip_statement(&mut self) -> R<()> {
        while !self.eat_punct(';') {
            if self.peek().is_none() {
                return Err(self.err("expected ';'"));
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn interface_body(&mut self) -> R<Vec<Operation>> {
        let mut ops = Vec::new();
        self.expect('{')?;
        while !self.eat_punct('}') {
            if self.peek().is_none() {
                return Err(self.err("expected '}'"));
            }
            if self.eat_word("typedef") {
                self.typedef()?;
            } else if self.eat_word("import") {
                self.import()?;
            } else if self.eat_word("const") || self.eat_word("cpp_quote") {
                self.skip_statement()?;
            } else if self.is_word("struct") || self.is_word("union") || self.is_word("enum") {
                self.constructed()?;
                self.skip_statement()?;
            } else {
                self.attrs()?;
                ops.push(self.operation()?);
            }
        }
        self.eat_punct(';');
        Ok(ops)
    }

    fn file(&mut self) -> R<()> {
        while self.peek().is_some() {
            if self.eat_word("import") {
                self.import()?;
                continue;
            }
            if self.eat_word("cpp_quote") || self.eat_word("midl_pragma") {
                self.skip_statement()?;
                continue;
            }
            if self.eat_word("typedef") {
                self.typedef()?;
                continue;
            }
            let attrs = self.attrs()?;
            if self.eat_word("interface") {
                let name = self.ident()?;
                if self.eat_punct(':') {
                    self.ident()?;
                }
                if self.eat_punct(';') {
                    continue;
                }
                let uuid = attrs
                    .iter()
                    .find(|a| a.name == "uuid")
                    .and_then(|a| a.arg.as_deref())
                    .and_then(|u| Uuid::parse(u.trim().trim_matches('"')))
                    .ok_or_else(|| self.err("interface without a valid [uuid(...)]"))?;
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
                let operations = self.interface_body()?;
                self.lib.interfaces.push(Interface {
                    name,
                    uuid,
                    version,
                    operations,
                });
                continue;
            }
            if matches!(self.peek(), Some(Tok::Ident(w)) if w == "coclass" || w == "library" || w == "dispinterface")
            {
                return Err(self.err("only interfaces are supported"));
            }
            return Err(self.err("expected an interface, import or typedef"));
        }
        Ok(())
    }
}

fn parse_int(s: &str) -> i64 {
    let s = s.trim();
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let v = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .map_or_else(
            || s.parse::<i64>().ok(),
            |h| i64::from_str_radix(h, 16).ok(),
        )
        .unwrap_or(0);
    if neg { -v } else { v }
}

/// Parses IDL source text (`file` names it in errors and warnings).
///
/// # Errors
/// [`IdlError`] with `file:line:column` at the first syntax error.
pub fn parse(src: &str, file: &str) -> Result<Library, IdlError> {
    let toks = lex(src, file)?;
    let mut p = P {
        toks,
        pos: 0,
        src,
        file,
        lib: Library::default(),
    };
    p.file()?;
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
        let err = parse("interface Y { long f(); }", "nouuid.idl").unwrap_err();
        assert!(err.message.contains("uuid"), "{err}");
    }
}
