//! Druid's expression language (`docs/querying/math-expr.md`), compiled once and evaluated
//! per row.
//!
//! [`Expression::compile`] parses the text, resolves each function (checking its arguments as
//! Druid does when it builds the expression) and folds every part whose inputs are all
//! constants, so an error Druid would raise while parsing (`1/0`, a bad period) is a spec
//! error here. Evaluation walks the tree with no parsing and, for expressions that only read
//! and compare, no allocation.
//!
//! Values follow Druid's SQL-compatible null handling: an operator with a null operand gives
//! null (`null == null` is null, `null + 1` is null), `&&` and `||` are three-valued, a long
//! division by zero is an error (Java's `ArithmeticException`) while a double one gives an
//! infinity or NaN. An operator on a long and a double works in doubles, on two strings in
//! strings (`+` concatenates), on a string and a number in doubles (a non-numeric string makes
//! the result null).
//!
//! Multi-value inputs: Druid maps functions over multi-value fields implicitly at query time
//! but not at ingestion, and its array functions are many. Steward evaluates no arrays: a
//! multi-value field passes through whole where an expression only moves it (the field alone,
//! `nvl`, `coalesce`, `if`, `case_*` results, `isnull`, `notnull`), and any operator or other
//! function given one fails the row with an error that says so.

mod functions;
pub(crate) mod parse;
pub(crate) mod value;

use std::cmp::Ordering;

use crate::InputRow;

use self::functions::Call;
use self::parse::{Ast, BinaryOp, UnaryOp};
use self::value::{array_string, Eval, Type};
use super::numbers::java_string_cmp;

use crate::row::TIME_COLUMN;

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Expression {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Const(Eval<'static>),
    Field(Box<str>),
    Time,
    Unary(UnaryOp, Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    Call(Box<Call>),
}

impl Expression {
    /// Parses and compiles; the error is the message for a spec error.
    pub(crate) fn compile(text: &str) -> Result<Expression, String> {
        let ast =
            parse::parse(text).map_err(|e| format!("Failed to parse expression [{text}]: {e}"))?;
        Ok(Expression {
            root: compile(ast)?,
        })
    }

    pub(crate) fn eval<'a>(&'a self, row: &'a InputRow) -> Result<Eval<'a>, String> {
        self.root.eval(row)
    }

    /// The fields the expression reads (not `__time`).
    pub(crate) fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.root.collect_fields(&mut out);
        out
    }
}

fn compile(ast: Ast) -> Result<Node, String> {
    let node = match ast {
        Ast::Null => Node::Const(Eval::Null(Type::Long)),
        Ast::Long(digits) => Node::Const(Eval::Long(long_literal(&digits, false)?)),
        Ast::Double(d) => Node::Const(Eval::Double(d)),
        Ast::String(s) => Node::Const(Eval::Str(s.into())),
        Ast::Identifier(name) if name == TIME_COLUMN => Node::Time,
        Ast::Identifier(name) => Node::Field(name.into()),
        // `-9223372036854775808` is only in range once negated.
        Ast::Unary(UnaryOp::Minus, operand) if matches!(*operand, Ast::Long(_)) => {
            let Ast::Long(digits) = *operand else {
                unreachable!("matched above")
            };
            Node::Const(Eval::Long(long_literal(&digits, true)?))
        }
        Ast::Unary(op, operand) => Node::Unary(op, Box::new(compile(*operand)?)),
        Ast::Binary(op, l, r) => Node::Binary(op, Box::new(compile(*l)?), Box::new(compile(*r)?)),
        Ast::Call(name, args) => {
            let args = args
                .into_iter()
                .map(compile)
                .collect::<Result<Vec<_>, _>>()?;
            Node::Call(Box::new(Call::compile(&name, args)?))
        }
    };
    fold(node)
}

fn long_literal(digits: &str, negative: bool) -> Result<i64, String> {
    let text = if negative {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    text.parse()
        .map_err(|_| format!("Long literal [{text}] is out of the range of a long"))
}

/// Evaluates a node whose inputs are all constants (Druid's `Parser.flatten`).
fn fold(node: Node) -> Result<Node, String> {
    let constant = match &node {
        Node::Unary(_, operand) => operand.is_const(),
        Node::Binary(_, l, r) => l.is_const() && r.is_const(),
        Node::Call(call) => call.args.iter().all(Node::is_const),
        Node::Const(_) | Node::Field(_) | Node::Time => false,
    };
    if !constant {
        return Ok(node);
    }
    let empty = InputRow::default();
    let value = node.eval(&empty)?.into_owned();
    Ok(Node::Const(value))
}

impl Node {
    fn is_const(&self) -> bool {
        matches!(self, Node::Const(_))
    }

    /// The constant this node folded to, if it did.
    fn literal(&self) -> Option<&Eval<'static>> {
        match self {
            Node::Const(v) => Some(v),
            _ => None,
        }
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Field(name) => out.push(name),
            Node::Unary(_, operand) => operand.collect_fields(out),
            Node::Binary(_, l, r) => {
                l.collect_fields(out);
                r.collect_fields(out);
            }
            Node::Call(call) => call.args.iter().for_each(|a| a.collect_fields(out)),
            Node::Const(_) | Node::Time => {}
        }
    }

    fn eval<'a>(&'a self, row: &'a InputRow) -> Result<Eval<'a>, String> {
        match self {
            Node::Const(v) => Ok(v.borrowed()),
            Node::Field(name) => Ok(Eval::of_value(row.get(name))),
            Node::Time => Ok(Eval::Long(row.timestamp)),
            Node::Unary(op, operand) => unary(*op, operand.scalar(row, unary_symbol(*op))?),
            Node::Binary(BinaryOp::And, l, r) => and(l, r, row),
            Node::Binary(BinaryOp::Or, l, r) => or(l, r, row),
            Node::Binary(op, l, r) => {
                let what = op.symbol();
                binary(*op, l.scalar(row, what)?, r.scalar(row, what)?)
            }
            Node::Call(call) => call.eval(row),
        }
    }

    /// Evaluates an operand that must not be a multi-value input; `what` names the operator or
    /// function for the error.
    fn scalar<'a>(&'a self, row: &'a InputRow, what: &str) -> Result<Eval<'a>, String> {
        match self.eval(row)? {
            Eval::Array(items) => Err(format!(
                "[{what}] cannot take the multi-value input {}: Steward does not apply Druid's implicit multi-value mapping yet",
                array_string(items)
            )),
            v => Ok(v),
        }
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Minus => "-",
        UnaryOp::Not => "!",
    }
}

fn unary(op: UnaryOp, v: Eval<'_>) -> Result<Eval<'_>, String> {
    match (op, v) {
        (UnaryOp::Not, v) if v.is_null() => Ok(Eval::Null(Type::Long)),
        (UnaryOp::Not, v) => Ok(Eval::of_bool(!v.as_bool())),
        (UnaryOp::Minus, Eval::Null(t)) => Ok(Eval::Null(t)),
        (UnaryOp::Minus, Eval::Long(x)) => Ok(Eval::Long(x.wrapping_neg())),
        (UnaryOp::Minus, Eval::Double(d)) => Ok(Eval::Double(-d)),
        (UnaryOp::Minus, v) => Err(format!("unsupported type {} for [-]", v.type_of().name())),
    }
}

/// Druid's `BinAndExpr`: false wins over null, null over true.
fn and<'a>(l: &'a Node, r: &'a Node, row: &'a InputRow) -> Result<Eval<'a>, String> {
    let left = l.scalar(row, "&&")?;
    if !left.is_null() && !left.as_bool() {
        return Ok(Eval::of_bool(false));
    }
    let right = r.scalar(row, "&&")?;
    Ok(match (left.is_null(), right.is_null()) {
        (_, false) if !right.as_bool() => Eval::of_bool(false),
        (false, false) => Eval::of_bool(true),
        _ => Eval::Null(Type::Long),
    })
}

/// Druid's `BinOrExpr`: true wins over null, null over false.
fn or<'a>(l: &'a Node, r: &'a Node, row: &'a InputRow) -> Result<Eval<'a>, String> {
    let left = l.scalar(row, "||")?;
    if !left.is_null() && left.as_bool() {
        return Ok(Eval::of_bool(true));
    }
    let right = r.scalar(row, "||")?;
    Ok(match (left.is_null(), right.is_null()) {
        (_, false) if right.as_bool() => Eval::of_bool(true),
        (false, false) => Eval::of_bool(false),
        _ => Eval::Null(Type::Long),
    })
}

/// Druid's `ExpressionTypeConversion.autoDetect` for two non-null scalars.
fn common_type(l: &Eval<'_>, r: &Eval<'_>) -> Type {
    match (l.type_of(), r.type_of()) {
        (a, b) if a == b => a,
        _ => Type::Double,
    }
}

/// The arithmetic and comparison operators (Druid's `BinaryEvalOpExprBase` and
/// `BinaryBooleanOpExprBase`).
pub(crate) fn binary<'a>(op: BinaryOp, l: Eval<'a>, r: Eval<'a>) -> Result<Eval<'a>, String> {
    if l.is_null() || r.is_null() {
        return Ok(Eval::Null(Type::Long));
    }
    let ty = common_type(&l, &r);
    if let Some(ordering) = comparison(op) {
        let ord = match ty {
            Type::String => {
                let (a, b) = (
                    l.as_str().unwrap_or_default(),
                    r.as_str().unwrap_or_default(),
                );
                if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    if a == b {
                        Ordering::Equal
                    } else {
                        Ordering::Less
                    }
                } else {
                    java_string_cmp(&a, &b)
                }
            }
            Type::Long => l.as_long().cmp(&r.as_long()),
            _ => {
                if l.is_numeric_null() || r.is_numeric_null() {
                    return Ok(Eval::Null(Type::Long));
                }
                let (a, b) = (l.as_double(), r.as_double());
                if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
                    // Primitive `==`: NaN is not equal to itself, 0.0 equals -0.0.
                    #[allow(clippy::float_cmp)]
                    let equal = a == b;
                    if equal {
                        Ordering::Equal
                    } else {
                        Ordering::Less
                    }
                } else {
                    java_double_cmp(a, b)
                }
            }
        };
        return Ok(Eval::of_bool(ordering(ord)));
    }
    match ty {
        Type::String if op == BinaryOp::Add => {
            let mut s = l.as_str().unwrap_or_default().into_owned();
            s.push_str(&r.as_str().unwrap_or_default());
            Ok(Eval::Str(s.into()))
        }
        Type::String => Err(format!(
            "operator [{}] is not supported on type STRING",
            op.symbol()
        )),
        Type::Long => long_arithmetic(op, l.as_long(), r.as_long()).map(Eval::Long),
        _ => {
            if l.is_numeric_null() || r.is_numeric_null() {
                return Ok(Eval::Null(Type::Long));
            }
            Ok(Eval::Double(double_arithmetic(
                op,
                l.as_double(),
                r.as_double(),
            )))
        }
    }
}

/// For a comparison operator, what it asks of the ordering of its operands.
fn comparison(op: BinaryOp) -> Option<fn(Ordering) -> bool> {
    Some(match op {
        BinaryOp::Lt => Ordering::is_lt,
        BinaryOp::Le => Ordering::is_le,
        BinaryOp::Gt => Ordering::is_gt,
        BinaryOp::Ge => Ordering::is_ge,
        BinaryOp::Eq => Ordering::is_eq,
        BinaryOp::Ne => Ordering::is_ne,
        _ => return None,
    })
}

/// Java's `Double.compare`: NaN above everything, -0.0 below 0.0.
pub(crate) fn java_double_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

/// Java long arithmetic: wrapping, with division by zero an error.
fn long_arithmetic(op: BinaryOp, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        BinaryOp::Add => a.wrapping_add(b),
        BinaryOp::Sub => a.wrapping_sub(b),
        BinaryOp::Mul => a.wrapping_mul(b),
        BinaryOp::Div | BinaryOp::Mod if b == 0 => return Err("/ by zero".into()),
        BinaryOp::Div => a.wrapping_div(b),
        BinaryOp::Mod => a.wrapping_rem(b),
        // Guava's `LongMath.pow(a, Ints.checkedCast(b))`, which wraps on overflow.
        _ => {
            let exponent = i32::try_from(b).map_err(|_| format!("Out of range: {b}"))?;
            let exponent = u32::try_from(exponent)
                .map_err(|_| format!("exponent ({exponent}) must be >= 0"))?;
            a.wrapping_pow(exponent)
        }
    })
}

fn double_arithmetic(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        _ => java_pow(a, b),
    }
}

/// Java's `Math.pow`, which differs from C's where the exponent is NaN or ±1 meets ±∞.
fn java_pow(a: f64, b: f64) -> f64 {
    if b.is_nan() || (a.abs() == 1.0 && b.is_infinite()) {
        f64::NAN
    } else {
        a.powf(b)
    }
}

#[cfg(test)]
mod tests;
