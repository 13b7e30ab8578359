//! Canonical PromQL text for a syntax tree: the [`Display`](fmt::Display) impls of the
//! [`ast`](crate::ast) types.
//!
//! The output is what Prometheus's `String()` methods write, so a query printed here and one
//! printed by Prometheus compare equal:
//!
//! - single spaces around binary operators and after commas, none inside parentheses:
//!   `a + on (job) group_left (x) b`, `rate(x[5m])`, `topk(5, x)`;
//! - aggregations put the grouping first: `sum by (job) (x)`; `by ()` is dropped, `without ()`
//!   kept; `ignoring ()` without `group_*` is dropped;
//! - label matchers sorted by their text and joined by `,`; the metric name outside the braces
//!   when it was written there: `up{instance="a",job="b"}`;
//! - strings double-quoted with Go escapes; numbers in the shortest form that reads back to the
//!   same float, never with an exponent (`1e3` prints `1000`), infinities as `+Inf`/`-Inf`;
//! - durations normalised from milliseconds (`90m` prints `1h30m`, `[1800]` prints `[30m]`);
//!   duration literals used as numbers keep their unit form; `@` times with three decimals;
//! - modifiers in the order `[range] anchored|smoothed @ … offset …` (for a selector without a
//!   range: `@ … anchored|smoothed offset …`).
//!
//! Parsing the output gives back an equal tree (spans aside) for every tree the parser
//! produces. Where Prometheus's printer would not round-trip, this one writes the form that
//! does: label names that would read as numbers (`inf`, `nan`) are quoted; `Inf ^ x` keeps
//! `Inf` unsigned; a negative literal raised to a power inside a duration is parenthesised
//! (`(-5) ^ 2`); and an `offset (…)` directly followed by a binary operator is written
//! `offset +(…)`, because Prometheus's grammar would read the operator as part of the offset.
//!
//! ```
//! use prom_promql::parse;
//! let q = "SUM(rate(x{b='2',a=~\"1\"}[90m])) BY (job) > bool 1e3";
//! assert_eq!(
//!     parse(q)?.to_string(),
//!     r#"sum by (job) (rate(x{a=~"1",b="2"}[1h30m])) > bool 1000"#
//! );
//! # Ok::<(), prom_promql::parser::ParseError>(())
//! ```

use std::fmt::{self, Display, Write as _};

use prom_model::{METRIC_NAME, MatchType, is_valid_legacy_metric_name};

use crate::ast::*;
use crate::lexer::{write_go_quoted, write_go_quoted_bytes};

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's `Display` for floats is the shortest round-tripping decimal without an
        // exponent, which is exactly Go's 'f' format with precision -1.
        format!("{v}")
    }
}

/// A duration in milliseconds as Prometheus's `model.Duration` prints it: `1h30m`, `90d`,
/// `2w`, `1y`, `500ms`, `0s`. Years and weeks are used only when they divide the duration.
/// Negative durations get a leading `-`.
pub fn format_duration(ms: i64) -> String {
    let mut out = String::new();
    write_duration(&mut out, ms).expect("writing to a String cannot fail");
    out
}

fn write_duration<W: fmt::Write + ?Sized>(w: &mut W, ms: i64) -> fmt::Result {
    if ms == 0 {
        return w.write_str("0s");
    }
    if ms < 0 {
        w.write_char('-')?;
    }
    let mut rest = ms.unsigned_abs();
    const UNITS: [(&str, u64, bool); 7] = [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in UNITS {
        if exact && !rest.is_multiple_of(mult) {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            write!(w, "{v}{unit}")?;
            rest -= v * mult;
        }
    }
    Ok(())
}

/// Writes a label name for a grouping or matching list: bare when it reads back as one word
/// (Prometheus's legacy metric-name charset), quoted otherwise.
fn write_label_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let reads_as_number = name.eq_ignore_ascii_case("inf") || name.eq_ignore_ascii_case("nan");
    if is_valid_legacy_metric_name(name) && !reads_as_number {
        f.write_str(name)
    } else {
        write_go_quoted(f, name)
    }
}

fn write_label_list(f: &mut fmt::Formatter<'_>, names: &[String]) -> fmt::Result {
    f.write_char('(')?;
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_label_name(f, n)?;
    }
    f.write_char(')')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, false)
    }
}

/// `guard`: a binary operator follows the expression. After `offset (…)` Prometheus's grammar
/// would read that operator as part of the offset, so such an offset is written `+(…)`, which
/// means the same and ends the offset.
fn write_expr(f: &mut fmt::Formatter<'_>, e: &Expr, guard: bool) -> fmt::Result {
    match e {
        Expr::Number(n) => n.fmt(f),
        Expr::String(s) => s.fmt(f),
        Expr::VectorSelector(v) => v.write(f, guard),
        Expr::MatrixSelector(m) => m.write(f, guard),
        Expr::Subquery(s) => s.write(f, guard),
        Expr::Paren(p) => p.fmt(f),
        Expr::Unary(u) => {
            f.write_str(u.op.as_str())?;
            write_expr(f, &u.expr, guard)
        }
        Expr::Binary(b) => b.write(f, guard),
        Expr::Aggregate(a) => a.fmt(f),
        Expr::Call(c) => c.fmt(f),
    }
}

impl fmt::Display for NumberLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_duration && self.value.is_finite() {
            let ms = ((self.value.abs() * 1e9).round() / 1e6).trunc() as i64;
            if self.value.is_sign_negative() {
                f.write_char('-')?;
            }
            return write_duration(f, ms);
        }
        f.write_str(&format_float(self.value))
    }
}

impl fmt::Display for StringLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bytes {
            Some(bytes) => write_go_quoted_bytes(f, bytes),
            None => write_go_quoted(f, &self.value),
        }
    }
}

impl fmt::Display for AtModifier {
    /// ` @ 10.000`, ` @ start()`, ` @ end()` (with the leading space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtModifier::Timestamp(ms) => write!(f, " @ {:.3}", *ms as f64 / 1000.0),
            AtModifier::Start => f.write_str(" @ start()"),
            AtModifier::End => f.write_str(" @ end()"),
        }
    }
}

/// ` offset 5m`, ` offset -5m`, ` offset step()`; see [`write_expr`] for `guard`.
fn write_offset(f: &mut fmt::Formatter<'_>, offset: &Option<Duration>, guard: bool) -> fmt::Result {
    match offset {
        None | Some(Duration::Millis(0)) => Ok(()),
        Some(Duration::Expr(e)) if guard && matches!(e.kind, DurationKind::Paren(_)) => {
            write!(f, " offset +{e}")
        }
        Some(d) => write!(f, " offset {d}"),
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Millis(ms) => write_duration(f, *ms),
            Duration::Expr(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DurationKind::Number(v) => f.write_str(&format_float(*v)),
            DurationKind::Duration(ms) => write_duration(f, *ms),
            DurationKind::Step => f.write_str("step()"),
            DurationKind::Range => f.write_str("range()"),
            DurationKind::Neg(e) => write!(f, "-{e}"),
            DurationKind::Paren(e) => write!(f, "({e})"),
            DurationKind::MinOf(a, b) => write!(f, "min_of({a}, {b})"),
            DurationKind::MaxOf(a, b) => write!(f, "max_of({a}, {b})"),
            DurationKind::Binary { op, lhs, rhs } => {
                // A folded negative literal reads back as a negated power: keep its parens.
                let negative_literal = match lhs.kind {
                    DurationKind::Number(v) => v.is_sign_negative(),
                    DurationKind::Duration(ms) => ms < 0,
                    _ => false,
                };
                if *op == BinaryOp::Pow && negative_literal {
                    write!(f, "({lhs}) ^ {rhs}")
                } else {
                    write!(f, "{lhs} {} {rhs}", op.as_str())
                }
            }
        }
    }
}

impl VectorSelector {
    /// The selector without modifiers: `name{matchers}`.
    fn write_selector(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("");
        let mut labels: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| {
                !(m.name() == METRIC_NAME
                    && m.kind() == MatchType::Equal
                    && m.value() == name
                    && !name.is_empty())
            })
            .map(|m| m.to_string())
            .collect();
        f.write_str(name)?;
        if !labels.is_empty() {
            labels.sort_unstable();
            f.write_char('{')?;
            for (i, l) in labels.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                f.write_str(l)?;
            }
            f.write_char('}')?;
        }
        Ok(())
    }
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl VectorSelector {
    fn write(&self, f: &mut fmt::Formatter<'_>, guard: bool) -> fmt::Result {
        self.write_selector(f)?;
        if let Some(at) = &self.at {
            at.fmt(f)?;
        }
        if let Some(ext) = self.extension {
            write!(f, " {}", ext.as_str())?;
        }
        write_offset(f, &self.offset, guard)
    }
}

impl fmt::Display for MatrixSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl MatrixSelector {
    fn write(&self, f: &mut fmt::Formatter<'_>, guard: bool) -> fmt::Result {
        let v = &self.selector;
        v.write_selector(f)?;
        write!(f, "[{}]", self.range)?;
        if let Some(ext) = v.extension {
            write!(f, " {}", ext.as_str())?;
        }
        if let Some(at) = &v.at {
            at.fmt(f)?;
        }
        write_offset(f, &v.offset, guard)
    }
}

impl fmt::Display for SubqueryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl SubqueryExpr {
    fn write(&self, f: &mut fmt::Formatter<'_>, guard: bool) -> fmt::Result {
        write!(f, "{}[{}:", self.expr, self.range)?;
        if let Some(step) = &self.step {
            step.fmt(f)?;
        }
        f.write_char(']')?;
        if let Some(at) = &self.at {
            at.fmt(f)?;
        }
        write_offset(f, &self.offset, guard)
    }
}

impl fmt::Display for ParenExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.expr)
    }
}

impl fmt::Display for UnaryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        write_expr(f, &self.expr, false)
    }
}

impl fmt::Display for BinaryExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl BinaryExpr {
    fn write(&self, f: &mut fmt::Formatter<'_>, guard: bool) -> fmt::Result {
        match &self.lhs {
            // `+Inf ^ x` would read back as `+(Inf ^ x)`.
            Expr::Number(n) if self.op == BinaryOp::Pow && n.value == f64::INFINITY => {
                f.write_str("Inf")?
            }
            lhs => write_expr(f, lhs, true)?,
        }
        write!(f, " {}", self.op.as_str())?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(m) = &self.matching {
            let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
            if m.on || !m.labels.is_empty() || grouped {
                f.write_str(if m.on { " on " } else { " ignoring " })?;
                write_label_list(f, &m.labels)?;
                if grouped {
                    f.write_str(if m.card == Cardinality::ManyToOne {
                        " group_left "
                    } else {
                        " group_right "
                    })?;
                    write_label_list(f, &m.include)?;
                }
            }
            match (m.fill.lhs, m.fill.rhs) {
                (Some(l), Some(r)) if same_float(l, r) => write!(f, " fill ({})", format_float(l))?,
                (l, r) => {
                    if let Some(l) = l {
                        write!(f, " fill_left ({})", format_float(l))?;
                    }
                    if let Some(r) = r {
                        write!(f, " fill_right ({})", format_float(r))?;
                    }
                }
            }
        }
        f.write_char(' ')?;
        write_expr(f, &self.rhs, guard)
    }
}

impl fmt::Display for AggregateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.as_str())?;
        if self.without || !self.grouping.is_empty() {
            f.write_str(if self.without { " without " } else { " by " })?;
            write_label_list(f, &self.grouping)?;
            f.write_char(' ')?;
        }
        f.write_char('(')?;
        if let Some(p) = &self.param {
            write!(f, "{p}, ")?;
        }
        write!(f, "{})", self.expr)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.func.name)?;
        f.write_char('(')?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            a.fmt(f)?;
        }
        f.write_char(')')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_model_duration() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(365 * 86_400_000), "1y");
        assert_eq!(format_duration(366 * 86_400_000), "366d");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(-300_000), "-5m");
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(1000.0), "1000");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }
}
