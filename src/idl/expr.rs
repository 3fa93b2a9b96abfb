//! Constant expressions of the IDL front end (MIDL follows C's integer constant expressions,
//! C99 §6.6, with C's precedence): the values of `const` declarations,
//! `#define`s, enumerators, union `case` labels and fixed array sizes. Integers only; names are
//! looked up among the constants and enumerators known so far; `sizeof` knows the base types.

use std::collections::HashMap;

use super::lexer::Tok;

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprError {
    /// A name that is not a known constant (it may be declared in a file read later).
    Unknown(String),
    /// Not an integer constant expression.
    Syntax,
}

/// Nesting allowed in one expression (parentheses and unary operators).
const MAX_EXPR_DEPTH: usize = 64;

/// Evaluates the whole token slice as one constant expression.
///
/// # Errors
/// [`ExprError::Unknown`] for the first name without a value, [`ExprError::Syntax`] otherwise.
pub fn eval(toks: &[Tok], consts: &HashMap<String, i64>) -> Result<i64, ExprError> {
    let mut p = ExprParser {
        toks,
        pos: 0,
        consts,
        depth: 0,
    };
    let v = p.ternary()?;
    if p.pos == toks.len() {
        Ok(v)
    } else {
        Err(ExprError::Syntax)
    }
}

/// Size in bytes of a base type name, for `sizeof`.
#[must_use]
pub fn base_size(name: &str) -> Option<i64> {
    Some(match name {
        "char" | "byte" | "small" | "boolean" | "UCHAR" | "CHAR" | "BYTE" | "BOOLEAN" | "INT8"
        | "UINT8" => 1,
        "wchar_t" | "short" | "WCHAR" | "USHORT" | "SHORT" | "WORD" | "INT16" | "UINT16" => 2,
        "long" | "int" | "float" | "DWORD" | "ULONG" | "LONG" | "UINT" | "INT" | "BOOL"
        | "HRESULT" | "NTSTATUS" | "error_status_t" | "INT32" | "UINT32" | "DWORD32" => 4,
        "hyper" | "double" | "__int64" | "ULONGLONG" | "LONGLONG" | "DWORD64" | "ULONG64"
        | "LONG64" | "FILETIME" | "LARGE_INTEGER" | "INT64" | "UINT64" => 8,
        "GUID" | "UUID" | "CLSID" | "IID" => 16,
        _ => return None,
    })
}

struct ExprParser<'a> {
    toks: &'a [Tok],
    pos: usize,
    consts: &'a HashMap<String, i64>,
    depth: usize,
}

/// Binary operators by precedence level, lowest first; two-character operators are two
/// punctuation tokens.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<=", ">=", "<", ">"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl ExprParser<'_> {
    fn punct(&self, at: usize) -> Option<char> {
        match self.toks.get(self.pos + at) {
            Some(Tok::Punct(c)) => Some(*c),
            _ => None,
        }
    }

    /// The operator of `level` at the cursor, if any (not eaten).
    fn operator(&self, level: &[&'static str]) -> Option<&'static str> {
        let (a, b) = (self.punct(0)?, self.punct(1));
        level.iter().copied().find(|op| {
            let mut cs = op.chars();
            let first = cs.next();
            match cs.next() {
                Some(second) => first == Some(a) && b == Some(second),
                // a one-character operator must not be the start of a two-character one
                None => {
                    first == Some(a)
                        && !matches!(
                            (a, b),
                            ('|', Some('|'))
                                | ('&', Some('&'))
                                | ('<', Some('<' | '='))
                                | ('>', Some('>' | '='))
                                | ('=', Some('='))
                                | ('!', Some('='))
                        )
                }
            }
        })
    }

    fn ternary(&mut self) -> Result<i64, ExprError> {
        let cond = self.binary(0)?;
        if self.punct(0) == Some('?') {
            self.pos += 1;
            let yes = self.ternary()?;
            if self.punct(0) != Some(':') {
                return Err(ExprError::Syntax);
            }
            self.pos += 1;
            let no = self.ternary()?;
            return Ok(if cond != 0 { yes } else { no });
        }
        Ok(cond)
    }

    fn binary(&mut self, level: usize) -> Result<i64, ExprError> {
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.operator(ops) {
            self.pos += op.len();
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<i64, ExprError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return Err(ExprError::Syntax);
        }
        let v = match self.punct(0) {
            Some('-') => {
                self.pos += 1;
                self.unary()?.wrapping_neg()
            }
            Some('+') => {
                self.pos += 1;
                self.unary()?
            }
            Some('~') => {
                self.pos += 1;
                !self.unary()?
            }
            Some('!') => {
                self.pos += 1;
                i64::from(self.unary()? == 0)
            }
            _ => self.primary()?,
        };
        self.depth -= 1;
        Ok(v)
    }

    fn primary(&mut self) -> Result<i64, ExprError> {
        match self.toks.get(self.pos) {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(*n)
            }
            Some(Tok::Char(c)) => {
                self.pos += 1;
                Ok(i64::from(u32::from(*c)))
            }
            Some(Tok::Ident(w)) if w == "sizeof" => {
                self.pos += 1;
                if self.punct(0) != Some('(') {
                    return Err(ExprError::Syntax);
                }
                let mut names = Vec::new();
                self.pos += 1;
                while let Some(Tok::Ident(n)) = self.toks.get(self.pos) {
                    names.push(n.as_str());
                    self.pos += 1;
                }
                if self.punct(0) != Some(')') {
                    return Err(ExprError::Syntax);
                }
                self.pos += 1;
                let last = names.last().copied().unwrap_or("");
                base_size(last).ok_or_else(|| ExprError::Unknown(format!("sizeof({last})")))
            }
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                self.consts
                    .get(w)
                    .copied()
                    .ok_or_else(|| ExprError::Unknown(w.clone()))
            }
            Some(Tok::Punct('(')) => {
                // A cast `(TYPE)` is skipped: a name that is not a constant followed by `)` and
                // something that starts an operand.
                if let (Some(Tok::Ident(w)), Some(')')) =
                    (self.toks.get(self.pos + 1), self.punct(2))
                    && !self.consts.contains_key(w)
                    && matches!(
                        self.toks.get(self.pos + 3),
                        Some(Tok::Num(_) | Tok::Ident(_) | Tok::Punct('(' | '-' | '~'))
                    )
                {
                    self.pos += 3;
                    return self.unary();
                }
                self.pos += 1;
                let v = self.ternary()?;
                if self.punct(0) != Some(')') {
                    return Err(ExprError::Syntax);
                }
                self.pos += 1;
                Ok(v)
            }
            _ => Err(ExprError::Syntax),
        }
    }
}

fn apply(op: &str, a: i64, b: i64) -> Result<i64, ExprError> {
    Ok(match op {
        "||" => i64::from(a != 0 || b != 0),
        "&&" => i64::from(a != 0 && b != 0),
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<<" => a.wrapping_shl(u32::try_from(b).map_err(|_| ExprError::Syntax)?),
        ">>" => a.wrapping_shr(u32::try_from(b).map_err(|_| ExprError::Syntax)?),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" => a.checked_div(b).ok_or(ExprError::Syntax)?,
        "%" => a.checked_rem(b).ok_or(ExprError::Syntax)?,
        _ => return Err(ExprError::Syntax),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::lexer::lex;

    fn ev(src: &str, consts: &[(&str, i64)]) -> Result<i64, ExprError> {
        let toks: Vec<Tok> = lex(src, "t").unwrap().into_iter().map(|t| t.0).collect();
        let map = consts.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        eval(&toks, &map)
    }

    #[test]
    fn evaluates_c_constant_expressions() {
        assert_eq!(ev("2 * 1024 * 1024", &[]), Ok(2 * 1024 * 1024));
        assert_eq!(ev("MAX / sizeof(WCHAR)", &[("MAX", 10)]), Ok(5));
        assert_eq!(ev("(-1)", &[]), Ok(-1));
        assert_eq!(ev("1 << 4 | 0x3", &[]), Ok(19));
        assert_eq!(ev("(X+7)&~7", &[("X", 9)]), Ok(16));
        assert_eq!(ev("A == 2 ? 10 : 20", &[("A", 2)]), Ok(10));
        assert_eq!(ev("(DWORD)0xffff", &[]), Ok(0xffff));
        assert_eq!(ev("8 - 2 - 1", &[]), Ok(5), "left to right");
        assert_eq!(ev("1 < 2 && 3 >= 3", &[]), Ok(1));
        assert_eq!(ev("'a'", &[]), Ok(97));
    }

    #[test]
    fn reports_unknown_names_and_bad_syntax() {
        assert_eq!(
            ev("LATER + 1", &[]),
            Err(ExprError::Unknown("LATER".into()))
        );
        assert_eq!(ev("1 +", &[]), Err(ExprError::Syntax));
        assert_eq!(ev("1 / 0", &[]), Err(ExprError::Syntax));
        assert_eq!(
            ev(&"-".repeat(10_000), &[]),
            Err(ExprError::Syntax),
            "depth bound"
        );
    }
}
