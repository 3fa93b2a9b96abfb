//! The IDL lexer (a nom tokenizer over preprocessed MIDL source): identifiers, numbers,
//! strings, characters and punctuation with their byte offsets, and the line index that turns
//! an offset into `line:column` for errors. The parser ([`super::parser`]) and the constant
//! expression evaluator ([`super::expr`]) both read its tokens.

use nom::IResult;
use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_while, take_while1};
use nom::character::complete::{anychar, char, digit1, hex_digit1, multispace1, none_of, one_of};
use nom::combinator::{map, recognize, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded};

use super::IdlError;

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A name or keyword.
    Ident(String),
    /// An integer (decimal, hex or octal; C suffixes dropped).
    Num(i64),
    /// A string in double quotes.
    Str(String),
    /// A character in single quotes.
    Char(char),
    /// One punctuation character.
    Punct(char),
}

fn skip(i: &str) -> IResult<&str, ()> {
    value(
        (),
        many0(alt((
            value((), multispace1),
            value((), pair(tag("#"), take_while(|c| c != '\n'))),
        ))),
    )
    .parse(i)
}

fn number(digits: &str) -> i64 {
    if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).unwrap_or(0)
    } else {
        digits.parse().unwrap_or(0)
    }
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
            pair(
                preceded(alt((tag("0x"), tag("0X"))), hex_digit1),
                take_while(|c: char| c.is_ascii_alphabetic()),
            ),
            |(h, _): (&str, &str)| Tok::Num(u64::from_str_radix(h, 16).map_or(0, |v| v as i64)),
        ),
        map(
            pair(digit1, take_while(|c: char| c.is_ascii_alphabetic())),
            |(d, _): (&str, &str)| Tok::Num(number(d)),
        ),
        map(
            delimited(
                char('"'),
                map(many0(is_not("\"")), |v| v.concat()),
                char('"'),
            ),
            Tok::Str,
        ),
        map(
            delimited(
                char('\''),
                alt((preceded(char('\\'), anychar), none_of("'"))),
                char('\''),
            ),
            |c| Tok::Char(if c == '0' { '\0' } else { c }),
        ),
        map(one_of("[](){};,:*=<>-+|&.!~/%?^'"), Tok::Punct),
    ))
    .parse(i)
}

/// Splits preprocessed source into tokens with their byte offsets.
///
/// # Errors
/// A character no token starts with.
pub fn lex(src: &str, file: &str) -> Result<Vec<(Tok, usize)>, IdlError> {
    let lines = LineIndex::new(src);
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
            Err(_) => return Err(lines.error(file, at, "unexpected character")),
        }
    }
}

/// Line starts of a text, so that a byte offset becomes `line:column` without rescanning.
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    pub(super) fn error(&self, file: &str, at: usize, message: &str) -> IdlError {
        let line = self.starts.partition_point(|&s| s <= at);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        IdlError {
            file: file.to_string(),
            line,
            column: at - start + 1,
            message: message.to_string(),
        }
    }
}
