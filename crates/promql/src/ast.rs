//! The PromQL syntax tree.
//!
//! Every node carries a [`Span`]: the byte range of the source it was parsed from. Nodes are
//! owned, `Clone`, `Debug` and `PartialEq` (the derived equality compares spans too; use
//! [`Expr::clear_spans`] to compare shapes). Times are `i64` milliseconds, label matchers are
//! [`prom_model::Matcher`]s, functions point into the static [function table](crate::functions).
//!
//! The tree keeps what the query says, in the shape Prometheus's own AST has, so that printing
//! it ([`Display`](std::fmt::Display), see [`printer`](crate::printer)) gives canonical PromQL
//! that parses back to an equal tree:
//!
//! - parentheses stay as [`ParenExpr`] nodes;
//! - a unary minus or plus in front of a number literal is folded into the literal (`-5`);
//! - `offset`, `@` and `anchored`/`smoothed` written after a range live on the
//!   [`MatrixSelector`]'s inner [`VectorSelector`], as in Prometheus;
//! - the metric name written before the braces is [`VectorSelector::name`], and a
//!   `__name__="name"` matcher for it is the last entry of [`VectorSelector::matchers`], so the
//!   matcher list alone selects the series;
//! - a duration that is a constant (a number of seconds or a duration literal, possibly signed
//!   or in parentheses) is [`Duration::Millis`]; anything else (`5m + step()`) is a
//!   [`DurationExpr`] that the engine resolves when the query runs.

use std::fmt;

use prom_model::Matcher;

use crate::functions::Function;

/// A byte range of the query text: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// The type of value an expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A single float.
    Scalar,
    /// An instant vector: one sample per series.
    Vector,
    /// A range vector: a window of samples per series.
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// The name Prometheus uses in type errors: `scalar`, `instant vector`, `range vector`,
    /// `string`.
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

impl fmt::Display for ValueType {
    /// Prometheus's internal names: `scalar`, `vector`, `matrix`, `string` (the names of the
    /// `resultType` field of the HTTP API).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        })
    }
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `1`, `-2.5e3`, `0x1f`, `Inf`, `5m` (a duration used as a number of seconds).
    Number(NumberLiteral),
    /// `"text"`.
    String(StringLiteral),
    /// `http_requests_total{job="api"}`.
    VectorSelector(Box<VectorSelector>),
    /// `http_requests_total[5m]`.
    MatrixSelector(Box<MatrixSelector>),
    /// `rate(x[5m])[30m:1m]`.
    Subquery(Box<SubqueryExpr>),
    /// `(a + b)`.
    Paren(Box<ParenExpr>),
    /// `-a`, `+a`.
    Unary(Box<UnaryExpr>),
    /// `a + on (job) b`.
    Binary(Box<BinaryExpr>),
    /// `sum by (job) (x)`.
    Aggregate(Box<AggregateExpr>),
    /// `rate(x[5m])`.
    Call(Box<Call>),
}

/// A number literal.
#[derive(Debug, Clone)]
pub struct NumberLiteral {
    /// The value; a duration literal is its length in seconds.
    pub value: f64,
    /// Whether it was written as a duration (`5m`), which the printer keeps.
    pub is_duration: bool,
    /// Source range (including a folded sign).
    pub span: Span,
}

impl PartialEq for NumberLiteral {
    /// Compares values bit for bit, except that all NaNs are equal: `NaN` equals itself and
    /// `-0` differs from `0`, which is what a round trip through the printer needs.
    fn eq(&self, other: &Self) -> bool {
        same_float(self.value, other.value)
            && self.is_duration == other.is_duration
            && self.span == other.span
    }
}

/// Go's `math.Min`: NaN if either is NaN, and -0 below +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { a } else { b }
    } else {
        a.min(b)
    }
}

pub(crate) fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A string literal, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringLiteral {
    /// The value after unquoting. When the escapes do not form valid UTF-8 (`"\xff"`), invalid
    /// sequences are replaced by U+FFFD here and [`bytes`](Self::bytes) holds the exact value.
    pub value: String,
    /// The exact value when it is not valid UTF-8, which Prometheus allows in strings (the
    /// engine then rejects it where a label name or value is needed); `None` otherwise.
    pub bytes: Option<Vec<u8>>,
    /// Source range, quotes included.
    pub span: Span,
}

/// `@ <timestamp>`, `@ start()` or `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// A fixed evaluation time, in milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`: the start of the query range.
    Start,
    /// `@ end()`: the end of the query range.
    End,
}

/// The `anchored` and `smoothed` range-selector modifiers (experimental in Prometheus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeExtension {
    /// `anchored`: the window's boundaries take the samples at or before them.
    Anchored,
    /// `smoothed`: the values at the window's boundaries are interpolated.
    Smoothed,
}

impl RangeExtension {
    /// `anchored` or `smoothed`.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeExtension::Anchored => "anchored",
            RangeExtension::Smoothed => "smoothed",
        }
    }
}

/// A duration in a range (`[5m]`), a subquery step or an offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Duration {
    /// A constant, in milliseconds. Ranges and steps are positive; offsets may be negative.
    Millis(i64),
    /// An expression that depends on the query (`step()`, `range()`) or is written as
    /// arithmetic (`5m + 1m`), resolved by the engine.
    Expr(Box<DurationExpr>),
}

impl Duration {
    /// The constant in milliseconds, if this is one.
    pub fn as_millis(&self) -> Option<i64> {
        match self {
            Duration::Millis(ms) => Some(*ms),
            Duration::Expr(_) => None,
        }
    }
}

/// A duration expression (Prometheus 3's `promql-duration-expr`): arithmetic over numbers of
/// seconds, duration literals, `step()`, `range()`, `min_of()` and `max_of()`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationExpr {
    /// What the node is.
    pub kind: DurationKind,
    /// Source range.
    pub span: Span,
}

/// The kinds of [`DurationExpr`] nodes. Every value is a number of seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationKind {
    /// A plain number of seconds (`30`, `1.5`).
    Number(f64),
    /// A duration literal, in milliseconds (`5m`); negative after a folded minus.
    Duration(i64),
    /// `step()`: the query's resolution step.
    Step,
    /// `range()`: the query's range (end minus start; 0 for instant queries).
    Range,
    /// `-x` (a unary plus is dropped when parsing).
    Neg(Box<DurationExpr>),
    /// `a + b`, `a - b`, `a * b`, `a / b`, `a % b`, `a ^ b`.
    Binary {
        /// The operator (one of the arithmetic operators).
        op: BinaryOp,
        /// Left operand.
        lhs: Box<DurationExpr>,
        /// Right operand.
        rhs: Box<DurationExpr>,
    },
    /// `min_of(a, b)`.
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `max_of(a, b)`.
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `(x)`.
    Paren(Box<DurationExpr>),
}

/// An instant vector selector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces (`foo` in `foo{a="b"}`); `None` for `{…}`
    /// selectors, including `{"my.metric"}`.
    pub name: Option<String>,
    /// All matchers: those in the braces in source order, then `__name__="name"` when
    /// [`name`](Self::name) is set. Selecting series needs these alone.
    pub matchers: Vec<Matcher>,
    /// `offset <duration>`.
    pub offset: Option<Duration>,
    /// `@ <timestamp>`, `@ start()`, `@ end()`.
    pub at: Option<AtModifier>,
    /// `anchored` or `smoothed`.
    pub extension: Option<RangeExtension>,
    /// Source range: the name and braces, plus any modifiers written directly after them.
    pub span: Span,
}

/// A range vector selector: `selector[range]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    /// The selector; its `offset`, `at` and `extension` apply to the whole range.
    pub selector: VectorSelector,
    /// The window length (positive).
    pub range: Duration,
    /// Source range, including modifiers after the brackets.
    pub span: Span,
}

/// A subquery: `expr[range:step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression (an instant vector).
    pub expr: Expr,
    /// The window length (positive).
    pub range: Duration,
    /// The resolution; `None` for `[5m:]`, which uses the engine's default.
    pub step: Option<Duration>,
    /// `offset <duration>`.
    pub offset: Option<Duration>,
    /// `@ <timestamp>`, `@ start()`, `@ end()`.
    pub at: Option<AtModifier>,
    /// Source range, including modifiers.
    pub span: Span,
}

/// `(expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Expr,
    /// Source range, parentheses included.
    pub span: Span,
}

/// The unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Pos,
}

impl UnaryOp {
    /// `-` or `+`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Pos => "+",
        }
    }
}

/// `-expr` or `+expr` (on anything but a number literal, where the sign is folded).
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Expr,
    /// Source range, operator included.
    pub span: Span,
}

/// The binary operators, loosest-binding first: `or`; `and`, `unless`; comparisons; `+`, `-`;
/// `*`, `/`, `%`, `atan2`, `</`, `>/`; `^` (right-associative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `</`: trims a native histogram's observations above a threshold.
    TrimUpper,
    /// `>/`: trims a native histogram's observations below a threshold.
    TrimLower,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// `a op b` for an arithmetic operator (`+ - * / % ^ atan2`); `None` for the others.
    pub fn arith(self, a: f64, b: f64) -> Option<f64> {
        Some(match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Mod => a % b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Atan2 => a.atan2(b),
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Binding strength, 1 (`or`) to 6 (`^`). The histogram trim operators `</` and `>/` bind
    /// like `*` (an assumption: Prometheus's documentation does not place them).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether `a op b op c` groups as `a op (b op c)`: only `^`.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and`, `or`, `unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// How the series of the two sides of a binary operation are paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cardinality {
    /// Each series on either side matches at most one on the other.
    OneToOne,
    /// `group_left`: many series on the left may match one on the right.
    ManyToOne,
    /// `group_right`: one series on the left may match many on the right.
    OneToMany,
    /// The set operators `and`, `or`, `unless`.
    ManyToMany,
}

/// Vector matching of a binary operation between two instant vectors.
#[derive(Debug, Clone)]
pub struct VectorMatching {
    /// The cardinality: from `group_left`/`group_right`, many-to-many for set operators.
    pub card: Cardinality,
    /// `on (…)` rather than `ignoring (…)`.
    pub on: bool,
    /// The labels listed in `on`/`ignoring`.
    pub labels: Vec<String>,
    /// The labels listed in `group_left (…)`/`group_right (…)`, copied from the "one" side.
    pub include: Vec<String>,
    /// `fill (v)`, `fill_left (v)`, `fill_right (v)`: values for series missing on one side.
    pub fill: FillValues,
}

impl Default for VectorMatching {
    /// One-to-one, ignoring no labels, no fill: what `a + b` means.
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
            fill: FillValues::default(),
        }
    }
}

impl PartialEq for VectorMatching {
    fn eq(&self, other: &Self) -> bool {
        self.card == other.card
            && self.on == other.on
            && self.labels == other.labels
            && self.include == other.include
            && self.fill == other.fill
    }
}

/// The values the `fill` modifiers substitute for a missing series.
#[derive(Debug, Clone, Copy, Default)]
pub struct FillValues {
    /// Used when the left-hand side has no match (`fill_left`).
    pub lhs: Option<f64>,
    /// Used when the right-hand side has no match (`fill_right`).
    pub rhs: Option<f64>,
}

impl FillValues {
    /// Whether neither side is filled.
    pub fn is_empty(&self) -> bool {
        self.lhs.is_none() && self.rhs.is_none()
    }
}

impl PartialEq for FillValues {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => same_float(a, b),
            (None, None) => true,
            _ => false,
        };
        same(self.lhs, other.lhs) && same(self.rhs, other.rhs)
    }
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool` after a comparison: return 0/1 instead of filtering.
    pub return_bool: bool,
    /// Present exactly when both operands are instant vectors (as in Prometheus after type
    /// checking); `a + b` gets the default one-to-one matching.
    pub matching: Option<VectorMatching>,
    /// Source range, from the left operand to the right one.
    pub span: Span,
}

/// The aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk` (experimental)
    Limitk,
    /// `limit_ratio` (experimental)
    LimitRatio,
}

impl AggregateOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// The type of the parameter before the vector, if the operator takes one: a scalar for
    /// `topk`, `bottomk`, `quantile`, `limitk`, `limit_ratio`; a string for `count_values`.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk
            | AggregateOp::Bottomk
            | AggregateOp::Quantile
            | AggregateOp::Limitk
            | AggregateOp::LimitRatio => Some(ValueType::Scalar),
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }

    /// `limitk` and `limit_ratio`, behind `promql-experimental-functions` in Prometheus.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

/// `op [by|without (labels)] ([param, ] expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The vector aggregated.
    pub expr: Expr,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`, `limitk`, `limit_ratio`.
    pub param: Option<Expr>,
    /// The labels of `by (…)` or `without (…)`; `by ()` is the same as no clause.
    pub grouping: Vec<String>,
    /// `without` rather than `by`.
    pub without: bool,
    /// Source range.
    pub span: Span,
}

/// A function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function.
    pub func: &'static Function,
    /// The arguments.
    pub args: Vec<Expr>,
    /// Source range, from the name to the closing parenthesis.
    pub span: Span,
}

impl Expr {
    /// The node's source range.
    pub fn span(&self) -> Span {
        match self {
            Expr::Number(n) => n.span,
            Expr::String(s) => s.span,
            Expr::VectorSelector(v) => v.span,
            Expr::MatrixSelector(m) => m.span,
            Expr::Subquery(s) => s.span,
            Expr::Paren(p) => p.span,
            Expr::Unary(u) => u.span,
            Expr::Binary(b) => b.span,
            Expr::Aggregate(a) => a.span,
            Expr::Call(c) => c.span,
        }
    }

    pub(crate) fn span_mut(&mut self) -> &mut Span {
        match self {
            Expr::Number(n) => &mut n.span,
            Expr::String(s) => &mut s.span,
            Expr::VectorSelector(v) => &mut v.span,
            Expr::MatrixSelector(m) => &mut m.span,
            Expr::Subquery(s) => &mut s.span,
            Expr::Paren(p) => &mut p.span,
            Expr::Unary(u) => &mut u.span,
            Expr::Binary(b) => &mut b.span,
            Expr::Aggregate(a) => &mut a.span,
            Expr::Call(c) => &mut c.span,
        }
    }

    /// The type of value the expression evaluates to.
    ///
    /// ```
    /// use prom_promql::{ast::ValueType, parse};
    /// assert_eq!(parse("rate(x[5m])")?.value_type(), ValueType::Vector);
    /// assert_eq!(parse("x[5m]")?.value_type(), ValueType::Matrix);
    /// assert_eq!(parse("1 + time()")?.value_type(), ValueType::Scalar);
    /// assert_eq!(parse("x + 1")?.value_type(), ValueType::Vector);
    /// # Ok::<(), prom_promql::parser::ParseError>(())
    /// ```
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
        }
    }

    /// The direct sub-expressions, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) => Vec::new(),
            Expr::MatrixSelector(_) => Vec::new(),
            Expr::Subquery(s) => vec![&s.expr],
            Expr::Paren(p) => vec![&p.expr],
            Expr::Unary(u) => vec![&u.expr],
            Expr::Binary(b) => vec![&b.lhs, &b.rhs],
            Expr::Aggregate(a) => a.param.iter().chain(std::iter::once(&a.expr)).collect(),
            Expr::Call(c) => c.args.iter().collect(),
        }
    }

    /// The direct sub-expressions, mutably, in source order.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) => Vec::new(),
            Expr::MatrixSelector(_) => Vec::new(),
            Expr::Subquery(s) => vec![&mut s.expr],
            Expr::Paren(p) => vec![&mut p.expr],
            Expr::Unary(u) => vec![&mut u.expr],
            Expr::Binary(b) => vec![&mut b.lhs, &mut b.rhs],
            Expr::Aggregate(a) => {
                let AggregateExpr { param, expr, .. } = &mut **a;
                param.iter_mut().chain(std::iter::once(expr)).collect()
            }
            Expr::Call(c) => c.args.iter_mut().collect(),
        }
    }

    /// Sets every span in the tree (duration expressions included) to `0..0`, so two trees
    /// can be compared by shape: `a.clear_spans(); b.clear_spans(); a == b`.
    pub fn clear_spans(&mut self) {
        walk_mut(self, &mut |e| {
            *e.span_mut() = Span::default();
            match e {
                Expr::VectorSelector(v) => clear_selector_spans(v),
                Expr::MatrixSelector(m) => {
                    clear_selector_spans(&mut m.selector);
                    clear_duration_spans(&mut m.range);
                }
                Expr::Subquery(s) => {
                    clear_duration_spans(&mut s.range);
                    for d in s.step.iter_mut().chain(s.offset.iter_mut()) {
                        clear_duration_spans(d);
                    }
                }
                _ => {}
            }
        });
    }

    /// Calls `visitor` on this node and, while it returns `true`, on the node's descendants,
    /// depth-first in source order.
    ///
    /// ```
    /// use prom_promql::{ast::Expr, parse};
    /// let expr = parse(r#"sum(rate(a[5m])) / on (job) b{x="y"}"#)?;
    /// let mut names = Vec::new();
    /// expr.walk(&mut |e: &Expr| {
    ///     if let Expr::VectorSelector(v) = e {
    ///         names.extend(v.name.clone());
    ///     }
    ///     if let Expr::MatrixSelector(m) = e {
    ///         names.extend(m.selector.name.clone());
    ///     }
    ///     true
    /// });
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), prom_promql::parser::ParseError>(())
    /// ```
    pub fn walk<V: Visitor + ?Sized>(&self, visitor: &mut V) {
        if visitor.visit(self) {
            for child in self.children() {
                child.walk(visitor);
            }
        }
    }
}

/// A read-only walk over an expression tree; see [`Expr::walk`]. Closures `FnMut(&Expr) ->
/// bool` implement it.
pub trait Visitor {
    /// Called for each node before its children; return `false` to skip the children.
    fn visit(&mut self, expr: &Expr) -> bool;
}

impl<F: FnMut(&Expr) -> bool> Visitor for F {
    fn visit(&mut self, expr: &Expr) -> bool {
        self(expr)
    }
}

/// Calls `f` on every node, parents before children.
pub fn walk_mut(expr: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    f(expr);
    for child in expr.children_mut() {
        walk_mut(child, f);
    }
}

fn clear_selector_spans(v: &mut VectorSelector) {
    v.span = Span::default();
    if let Some(d) = &mut v.offset {
        clear_duration_spans(d);
    }
}

fn clear_duration_spans(d: &mut Duration) {
    if let Duration::Expr(e) = d {
        e.clear_spans();
    }
}

impl DurationExpr {
    /// Sets every span in the duration expression to `0..0`.
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            DurationKind::Number(_)
            | DurationKind::Duration(_)
            | DurationKind::Step
            | DurationKind::Range => {}
            DurationKind::Neg(e) | DurationKind::Paren(e) => e.clear_spans(),
            DurationKind::Binary { lhs, rhs, .. }
            | DurationKind::MinOf(lhs, rhs)
            | DurationKind::MaxOf(lhs, rhs) => {
                lhs.clear_spans();
                rhs.clear_spans();
            }
        }
    }

    /// The value in seconds if the expression uses no `step()` or `range()`.
    ///
    /// Arithmetic follows Prometheus: float seconds, `%` is the float remainder, `^` a power,
    /// `min_of`/`max_of` are NaN when either side is.
    pub fn constant_seconds(&self) -> Option<f64> {
        self.eval_seconds(None, None)
    }

    /// The value in seconds, with `step()` and `range()` given in seconds (`None` if unknown).
    pub fn eval_seconds(&self, step: Option<f64>, range: Option<f64>) -> Option<f64> {
        Some(match &self.kind {
            DurationKind::Number(v) => *v,
            DurationKind::Duration(ms) => *ms as f64 / 1000.0,
            DurationKind::Step => step?,
            DurationKind::Range => range?,
            DurationKind::Neg(e) => -e.eval_seconds(step, range)?,
            DurationKind::Paren(e) => e.eval_seconds(step, range)?,
            DurationKind::MinOf(a, b) => {
                go_min(a.eval_seconds(step, range)?, b.eval_seconds(step, range)?)
            }
            DurationKind::MaxOf(a, b) => {
                -go_min(-a.eval_seconds(step, range)?, -b.eval_seconds(step, range)?)
            }
            DurationKind::Binary { op, lhs, rhs } => {
                let (a, b) = (
                    lhs.eval_seconds(step, range)?,
                    rhs.eval_seconds(step, range)?,
                );
                match op {
                    // Not a duration operator.
                    BinaryOp::Atan2 => return None,
                    _ => op.arith(a, b)?,
                }
            }
        })
    }
}
