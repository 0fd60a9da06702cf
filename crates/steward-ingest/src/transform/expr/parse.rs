//! The syntax of Druid's expression language (`Expr.g4`), read into a syntax tree.
//!
//! Precedence, tightest first: unary `-` and `!`; `^` (right-associative); `*`, `/`, `%`;
//! `+`, `-`; the comparisons `<`, `<=`, `>`, `>=`, `==`, `!=`; then `&&` and `||` together,
//! so `a || b && c` is `(a || b) && c` as in Druid. Everything else is left-associative.
//! Literals: longs (`42`), doubles (`1.5`, `2.`, `1e5`, `1.5e-3`, `NaN`, `Infinity`), strings in
//! single quotes with Java escapes, `null`. Identifiers are bare (`[_$a-zA-Z][_$a-zA-Z0-9]*`) or
//! double-quoted with escapes. Array literals and lambdas are refused: Steward does not
//! evaluate arrays.

use std::fmt;

/// An operator between two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Pow,
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinaryOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Pow => "^",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }

    /// Binding strength (higher binds tighter) and whether the operator is right-associative.
    fn precedence(self) -> (u8, bool) {
        match self {
            BinaryOp::Pow => (5, true),
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => (4, false),
            BinaryOp::Add | BinaryOp::Sub => (3, false),
            BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Eq
            | BinaryOp::Ne => (2, false),
            BinaryOp::And | BinaryOp::Or => (1, false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Minus,
    Not,
}

/// The syntax tree, before functions are resolved and constants folded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Null,
    /// The digits of a long literal, kept as text so that `-9223372036854775808` can be read.
    Long(String),
    Double(f64),
    String(String),
    Identifier(String),
    Unary(UnaryOp, Box<Ast>),
    Binary(BinaryOp, Box<Ast>, Box<Ast>),
    Call(String, Vec<Ast>),
}

/// Druid's prefix notation for a tree (`(+ 1 (* 2 3))`), which its parser tests compare.
impl fmt::Display for Ast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ast::Null => f.write_str("null"),
            Ast::Long(digits) => f.write_str(digits),
            Ast::Double(d) => write!(f, "{}", super::super::numbers::java_double_string(*d)),
            Ast::String(s) => write!(f, "'{s}'"),
            Ast::Identifier(name) => f.write_str(name),
            Ast::Unary(op, operand) => {
                let symbol = if *op == UnaryOp::Minus { "-" } else { "!" };
                write!(f, "{symbol}{operand}")
            }
            Ast::Binary(op, l, r) => write!(f, "({} {l} {r})", op.symbol()),
            Ast::Call(name, args) => {
                write!(f, "({name} [")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str("])")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Long(String),
    Double(f64),
    String(String),
    Identifier(String),
    Null,
    Binary(BinaryOp),
    Not,
    LParen,
    RParen,
    Comma,
    End,
}

/// Parses a whole expression.
pub(crate) fn parse(text: &str) -> Result<Ast, String> {
    let tokens = lex(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let ast = parser.expr(0)?;
    match parser.peek() {
        Token::End => Ok(ast),
        other => Err(format!(
            "unexpected {} after a complete expression",
            describe(other)
        )),
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Long(s) => format!("number [{s}]"),
        Token::Double(d) => format!("number [{d}]"),
        Token::String(s) => format!("string ['{s}']"),
        Token::Identifier(s) => format!("identifier [{s}]"),
        Token::Null => "[null]".into(),
        Token::Binary(op) => format!("operator [{}]", op.symbol()),
        Token::Not => "operator [!]".into(),
        Token::LParen => "[(]".into(),
        Token::RParen => "[)]".into(),
        Token::Comma => "[,]".into(),
        Token::End => "end of expression".into(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), String> {
        let got = self.next();
        if &got == want {
            Ok(())
        } else {
            Err(format!(
                "expected {} but found {}",
                describe(want),
                describe(&got)
            ))
        }
    }

    fn expr(&mut self, min_precedence: u8) -> Result<Ast, String> {
        let mut lhs = self.unary()?;
        while let Token::Binary(op) = *self.peek() {
            let (precedence, right_assoc) = op.precedence();
            if precedence < min_precedence {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(if right_assoc {
                precedence
            } else {
                precedence + 1
            })?;
            lhs = Ast::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    /// A unary operator binds tighter than every binary one: `-1^2` is `(-1)^2`.
    fn unary(&mut self) -> Result<Ast, String> {
        match self.peek() {
            Token::Binary(BinaryOp::Sub) => {
                self.pos += 1;
                Ok(Ast::Unary(UnaryOp::Minus, Box::new(self.unary()?)))
            }
            Token::Not => {
                self.pos += 1;
                Ok(Ast::Unary(UnaryOp::Not, Box::new(self.unary()?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Ast, String> {
        match self.next() {
            Token::Null => Ok(Ast::Null),
            Token::Long(digits) => Ok(Ast::Long(digits)),
            Token::Double(d) => Ok(Ast::Double(d)),
            Token::String(s) => Ok(Ast::String(s)),
            Token::LParen => {
                let inner = self.expr(0)?;
                self.expect(&Token::RParen)?;
                Ok(inner)
            }
            Token::Identifier(name) => {
                if *self.peek() != Token::LParen {
                    return Ok(Ast::Identifier(name));
                }
                self.pos += 1;
                let mut args = Vec::new();
                if *self.peek() == Token::RParen {
                    self.pos += 1;
                    return Ok(Ast::Call(name, args));
                }
                loop {
                    args.push(self.expr(0)?);
                    match self.next() {
                        Token::Comma => {}
                        Token::RParen => return Ok(Ast::Call(name, args)),
                        other => {
                            return Err(format!(
                                "expected [,] or [)] in the arguments of [{name}] but found {}",
                                describe(&other)
                            ))
                        }
                    }
                }
            }
            other => Err(format!("unexpected {}", describe(&other))),
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            chars.next();
            continue;
        }
        if c.is_ascii_digit() {
            let end = number_end(text, start);
            let literal = &text[start..end];
            tokens.push(if literal.bytes().all(|b| b.is_ascii_digit()) {
                Token::Long(literal.to_string())
            } else {
                // Rust does not read `2.` or `2.e5`; Java does.
                let normalised = literal.replace(".e", ".0e").replace(".E", ".0E");
                let normalised = normalised.strip_suffix('.').unwrap_or(&normalised);
                Token::Double(
                    normalised
                        .parse()
                        .map_err(|_| format!("bad number [{literal}]"))?,
                )
            });
            while chars.peek().is_some_and(|(i, _)| *i < end) {
                chars.next();
            }
            continue;
        }
        if c == '_' || c == '$' || c.is_ascii_alphabetic() {
            let end = text[start..]
                .find(|c: char| !(c == '_' || c == '$' || c.is_ascii_alphanumeric()))
                .map_or(text.len(), |i| start + i);
            let word = &text[start..end];
            while chars.peek().is_some_and(|(i, _)| *i < end) {
                chars.next();
            }
            if word == "ARRAY" && text[end..].starts_with('<') {
                return Err(array_refusal());
            }
            tokens.push(match word {
                "null" => Token::Null,
                "NaN" => Token::Double(f64::NAN),
                "Infinity" => Token::Double(f64::INFINITY),
                _ => Token::Identifier(word.to_string()),
            });
            continue;
        }
        chars.next();
        let next = chars.peek().map(|(_, c)| *c);
        let mut two = |t: Token| {
            chars.next();
            t
        };
        let token = match (c, next) {
            ('\'', _) => Token::String(quoted(&mut chars, '\'')?),
            ('"', _) => Token::Identifier(quoted(&mut chars, '"')?),
            ('<', Some('=')) => two(Token::Binary(BinaryOp::Le)),
            ('>', Some('=')) => two(Token::Binary(BinaryOp::Ge)),
            ('=', Some('=')) => two(Token::Binary(BinaryOp::Eq)),
            ('!', Some('=')) => two(Token::Binary(BinaryOp::Ne)),
            ('&', Some('&')) => two(Token::Binary(BinaryOp::And)),
            ('|', Some('|')) => two(Token::Binary(BinaryOp::Or)),
            ('-', Some('>')) => {
                return Err("lambda expressions are not supported by Steward yet".into())
            }
            ('<', Some('L' | 'D' | 'S')) | ('[', _) | (']', _) => return Err(array_refusal()),
            ('<', _) => Token::Binary(BinaryOp::Lt),
            ('>', _) => Token::Binary(BinaryOp::Gt),
            ('+', _) => Token::Binary(BinaryOp::Add),
            ('-', _) => Token::Binary(BinaryOp::Sub),
            ('*', _) => Token::Binary(BinaryOp::Mul),
            ('/', _) => Token::Binary(BinaryOp::Div),
            ('%', _) => Token::Binary(BinaryOp::Mod),
            ('^', _) => Token::Binary(BinaryOp::Pow),
            ('!', _) => Token::Not,
            ('(', _) => Token::LParen,
            (')', _) => Token::RParen,
            (',', _) => Token::Comma,
            _ => return Err(format!("unexpected character [{c}] at position {start}")),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

fn array_refusal() -> String {
    "array literals are not supported by Steward yet".into()
}

/// The end of a number starting at `start`: `digits[.digits?][e-?digits]`, as Druid's lexer
/// takes the longest match (`1e` is the long `1` followed by the identifier `e`).
fn number_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let digits_from = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut end = digits_from(start);
    if bytes.get(end) == Some(&b'.') {
        end = digits_from(end + 1);
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut i = end + 1;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let after = digits_from(i);
        if after > i {
            end = after;
        }
    }
    end
}

/// Reads a quoted string or identifier after its opening quote, undoing the escapes the
/// grammar allows (`\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX`).
fn quoted(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    quote: char,
) -> Result<String, String> {
    let mut out = String::new();
    let mut pending_high: Option<u16> = None;
    loop {
        let Some((_, c)) = chars.next() else {
            return Err(format!("unterminated {quote}-quoted text"));
        };
        if c == quote {
            if pending_high.is_some() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
            return Ok(out);
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next().map(|(_, c)| c) {
            Some('\'') => '\'',
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let hex: String = (0..4)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                let unit = u16::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("bad unicode escape [\\u{hex}]"))?;
                // Java strings are UTF-16: a surrogate pair arrives as two escapes.
                match (pending_high.take(), unit) {
                    (Some(high), 0xDC00..=0xDFFF) => {
                        out.extend(
                            char::decode_utf16([high, unit])
                                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)),
                        );
                    }
                    (_, 0xD800..=0xDBFF) => pending_high = Some(unit),
                    (_, unit) => out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}')),
                }
                continue;
            }
            other => {
                return Err(format!(
                    "bad escape [\\{}] in quoted text",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        };
        out.push(escaped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    // Mirrors Druid's ParserTest (testSimpleAdditivityOp2, testSimpleMultiplicativeOp2,
    // testSimpleCarrot2, testMixed, testSimpleLogicalOps1, testSimpleUnaryOps2).
    #[test]
    fn operators_bind_and_associate_as_in_druid() {
        for (text, want) in [
            ("x+y+z", "(+ (+ x y) z)"),
            ("x+y-z", "(- (+ x y) z)"),
            ("x-y-z", "(- (- x y) z)"),
            ("1*2/3", "(/ (* 1 2) 3)"),
            ("1/2*3", "(* (/ 1 2) 3)"),
            ("1^2^3", "(^ 1 (^ 2 3))"),
            ("1+2*3", "(+ 1 (* 2 3))"),
            ("(1+2)*3", "(* (+ 1 2) 3)"),
            ("1+2^3", "(+ 1 (^ 2 3))"),
            ("1^2*3+4", "(+ (* (^ 1 2) 3) 4)"),
            ("-1^2*-3+-4", "(+ (* (^ -1 2) -3) -4)"),
            ("x<=y", "(<= x y)"),
            ("x!=y", "(!= x y)"),
            ("a || b && c", "(&& (|| a b) c)"),
            ("a && b || c", "(|| (&& a b) c)"),
            ("x < y == z", "(== (< x y) z)"),
            ("x + 1 > y * 2 && !z", "(&& (> (+ x 1) (* y 2)) !z)"),
            ("!x == y", "(== !x y)"),
            ("--1", "--1"),
            ("max(3, 4)", "(max [3, 4])"),
            ("min(1, max(3, 4))", "(min [1, (max [3, 4])])"),
            ("now()", "(now [])"),
        ] {
            assert_eq!(tree(text), want, "{text}");
        }
    }

    // Mirrors Druid's ParserTest.testIdentifiers and testLiterals.
    #[test]
    fn literals_and_quoting() {
        assert_eq!(
            parse("\"foo bar\"").unwrap(),
            Ast::Identifier("foo bar".into())
        );
        assert_eq!(
            parse("\"foo\\\"bar\"").unwrap(),
            Ast::Identifier("foo\"bar".into())
        );
        assert_eq!(parse("$x_1").unwrap(), Ast::Identifier("$x_1".into()));
        assert_eq!(parse("'föo bar'").unwrap(), Ast::String("föo bar".into()));
        assert_eq!(
            parse("'f\\u0040o bar'").unwrap(),
            Ast::String("f@o bar".into())
        );
        assert_eq!(
            parse("'f\\u000Ao \\'b\\\\\\\"ar'").unwrap(),
            Ast::String("f\no 'b\\\"ar".into())
        );
        assert_eq!(parse("'\\uD83D\\uDE00'").unwrap(), Ast::String("😀".into()));
        assert_eq!(parse("null").unwrap(), Ast::Null);
        assert_eq!(parse("nullx").unwrap(), Ast::Identifier("nullx".into()));
        assert_eq!(parse("NULL").unwrap(), Ast::Identifier("NULL".into()));
        assert_eq!(parse("123").unwrap(), Ast::Long("123".into()));
        for (text, want) in [
            ("1.5", 1.5),
            ("2.", 2.0),
            ("1e5", 1e5),
            ("1E-5", 1e-5),
            ("1.5e3", 1500.0),
            ("2.e2", 200.0),
            ("Infinity", f64::INFINITY),
        ] {
            assert_eq!(parse(text).unwrap(), Ast::Double(want), "{text}");
        }
        assert!(matches!(parse("NaN").unwrap(), Ast::Double(d) if d.is_nan()));
        // `1e` is the long 1 followed by an identifier: a syntax error, as in Druid.
        assert!(parse("1e").is_err());
    }

    #[test]
    fn syntax_errors_are_reported() {
        for (text, fragment) in [
            ("1 +", "unexpected end"),
            ("(1 + 2", "expected [)]"),
            ("f(1 2)", "arguments of [f]"),
            ("1 2", "after a complete expression"),
            ("'abc", "unterminated"),
            ("'a\\qb'", "bad escape"),
            ("[1, 2]", "array literals"),
            ("ARRAY<LONG>[1]", "array literals"),
            ("<LONG>[1]", "array literals"),
            ("map((x) -> x + 1, y)", "lambda"),
            ("a # b", "unexpected character [#]"),
            ("", "unexpected end"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(fragment), "{text}: {err}");
        }
    }
}
