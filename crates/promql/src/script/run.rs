//! Running a [`Script`] against a query engine and checking every eval (FORMAT.md §2–§6).
//!
//! The runner owns the storage and the expectations; the engine is reached only through
//! [`Evaluator`], so any engine (or a fake one in a test) can be checked. `load` appends into a
//! [`MemoryStorage`], `clear` replaces it, and each eval's outcome is compared as upstream's
//! runner compares it, including the extra runs of FORMAT.md §6 unless
//! [`RunOptions::extra_checks`] turns them off.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::Path;

use prom_model::storage::{Appendable, Appender};
use prom_model::value::is_stale_nan;
use prom_model::{Labels, MemoryStorage, Timestamp};

use super::{
    Command, DEFAULT_EPSILON, Eval, EvalKind, ExpectedResult, ExpectedSeries, Load, Script,
    ScriptError, SequenceValue, almost_equal, parse_script_file,
};
use crate::ast::{AtModifier, Expr};

/// A query engine as the runner sees it.
///
/// Implementations evaluate `expr` (the eval's text, or a rewrite of it for the extra checks)
/// over `storage` with the settings of FORMAT.md §7: a 5m lookback, a 1m default subquery
/// resolution, every optional syntax enabled.
///
/// - An error creating or executing the query MUST be returned as `Err`; its message is what
///   `expect fail msg:` / `regex:` lines are matched against.
/// - Annotations MUST be rendered as upstream renders them,
///   `PromQL warning: <message> (<line>:<col>)` and `PromQL info: <message> (<line>:<col>)`,
///   positions counted in `expr`.
/// - A range query MUST return [`ResultValue::Matrix`], a scalar query one series with empty
///   labels.
pub trait Evaluator {
    /// Evaluates `expr` as an instant query at `at` (ms since the epoch).
    fn instant(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        at: Timestamp,
    ) -> Result<Outcome, QueryError>;

    /// Evaluates `expr` as a range query over `start..=end` every `step` ms.
    fn range(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Outcome, QueryError>;
}

impl<E: Evaluator + ?Sized> Evaluator for &mut E {
    fn instant(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        at: Timestamp,
    ) -> Result<Outcome, QueryError> {
        (**self).instant(storage, expr, at)
    }

    fn range(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Outcome, QueryError> {
        (**self).range(storage, expr, start, end, step)
    }
}

impl<E: Evaluator + ?Sized> Evaluator for Box<E> {
    fn instant(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        at: Timestamp,
    ) -> Result<Outcome, QueryError> {
        (**self).instant(storage, expr, at)
    }

    fn range(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Outcome, QueryError> {
        (**self).range(storage, expr, start, end, step)
    }
}

/// What a successful query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The value.
    pub result: ResultValue,
    /// Warning annotations, rendered `PromQL warning: <message> (<line>:<col>)`.
    pub warnings: Vec<String>,
    /// Info annotations, rendered `PromQL info: <message> (<line>:<col>)`.
    pub infos: Vec<String>,
}

impl Outcome {
    /// A result without annotations.
    pub fn new(result: ResultValue) -> Self {
        Outcome {
            result,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// The same outcome with these warnings.
    pub fn with_warnings<S: Into<String>>(mut self, warnings: impl IntoIterator<Item = S>) -> Self {
        self.warnings = warnings.into_iter().map(Into::into).collect();
        self
    }

    /// The same outcome with these infos.
    pub fn with_infos<S: Into<String>>(mut self, infos: impl IntoIterator<Item = S>) -> Self {
        self.infos = infos.into_iter().map(Into::into).collect();
        self
    }
}

impl From<ResultValue> for Outcome {
    fn from(result: ResultValue) -> Self {
        Outcome::new(result)
    }
}

/// A query's value, in the shapes PromQL has (native histograms are not represented: evals
/// that need them are skipped).
#[derive(Debug, Clone, PartialEq)]
pub enum ResultValue {
    /// A scalar.
    Scalar(f64),
    /// A string.
    String(String),
    /// An instant vector: one value per series, in the engine's order.
    Vector(Vec<(Labels, f64)>),
    /// A range vector or a range query's result: points `(t, v)` per series, in time order.
    Matrix(Vec<(Labels, Vec<(Timestamp, f64)>)>),
}

impl ResultValue {
    fn kind(&self) -> &'static str {
        match self {
            ResultValue::Scalar(_) => "a scalar",
            ResultValue::String(_) => "a string",
            ResultValue::Vector(_) => "an instant vector",
            ResultValue::Matrix(_) => "a range vector",
        }
    }
}

impl fmt::Display for ResultValue {
    /// A short rendering for failure messages: at most a few series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 3;
        match self {
            ResultValue::Scalar(v) => write!(f, "scalar {}", Value(*v)),
            ResultValue::String(s) => write!(f, "string {s:?}"),
            ResultValue::Vector(v) => {
                write!(f, "{} series", v.len())?;
                for (labels, value) in v.iter().take(SHOWN) {
                    write!(f, "; {labels} {}", Value(*value))?;
                }
                if v.len() > SHOWN {
                    f.write_str("; …")?;
                }
                Ok(())
            }
            ResultValue::Matrix(m) => {
                write!(f, "{} series", m.len())?;
                for (labels, points) in m.iter().take(SHOWN) {
                    write!(f, "; {labels} {}", Points(points))?;
                }
                if m.len() > SHOWN {
                    f.write_str("; …")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a query failed, as the engine words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    message: String,
}

impl QueryError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
        }
    }

    /// The message `expect fail` lines are matched against.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for QueryError {
    fn from(message: String) -> Self {
        QueryError { message }
    }
}

impl From<&str> for QueryError {
    fn from(message: &str) -> Self {
        QueryError::new(message)
    }
}

/// How [`run_script`] checks results.
///
/// ```
/// use prom_promql::script::RunOptions;
///
/// let opts = RunOptions::default().extra_checks(false);
/// assert_eq!(opts.epsilon, 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunOptions {
    /// Relative tolerance of float comparisons ([`almost_equal`]). Default
    /// [`DEFAULT_EPSILON`], as upstream.
    pub epsilon: f64,
    /// Run the extra checks of FORMAT.md §6 for every instant eval: the query again with its
    /// selectors pinned by `@` at other evaluation times, and each run once more as a range
    /// query whose middle step must give the same result. Default `true`, as upstream.
    pub extra_checks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            epsilon: DEFAULT_EPSILON,
            extra_checks: true,
        }
    }
}

impl RunOptions {
    /// Sets [`epsilon`](Self::epsilon).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets [`extra_checks`](Self::extra_checks).
    pub fn extra_checks(mut self, on: bool) -> Self {
        self.extra_checks = on;
        self
    }
}

/// The outcome of running one script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptReport {
    /// Evals whose expectations were met.
    pub passed: usize,
    /// Evals whose expectations were not met, plus loads the storage rejected samples of.
    pub failed: usize,
    /// Evals not run; [`skips`](Self::skips) says why.
    pub skipped: usize,
    /// One per failed command, in file order.
    pub failures: Vec<Failure>,
    /// One per skipped eval, in file order.
    pub skips: Vec<Skip>,
}

impl ScriptReport {
    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed == 0
    }
}

impl fmt::Display for ScriptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// A command whose check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// 1-based line of the command.
    pub line: usize,
    /// What went wrong: a summary line, then (indented) the differences, if any.
    pub message: String,
}

/// An eval that was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// 1-based line of the eval.
    pub line: usize,
    /// Why it was not run.
    pub reason: String,
}

/// Why an eval needing native histograms is skipped: neither [`MemoryStorage`] nor
/// [`ResultValue`] holds them.
pub const SKIP_NATIVE_HISTOGRAMS: &str = "needs native histograms";

/// Runs `script`'s commands in order against `evaluator`.
///
/// `load` appends to the current storage (float samples only, with the start timestamps of
/// `@st` lines; native-histogram samples are left out and the evals flagged [`Eval::needs_native_histograms`] are skipped), `clear`
/// starts a fresh one, and each eval passes, fails or is skipped. A load whose samples the
/// storage rejects (out of order, empty label set) counts as a failure at the load's line;
/// the accepted samples stay.
///
/// ```
/// use prom_promql::script::{Evaluator, Outcome, QueryError, ResultValue, RunOptions};
/// use prom_promql::script::{parse_script, run_script};
/// use prom_model::MemoryStorage;
///
/// /// Knows one query.
/// struct Answer;
/// impl Evaluator for Answer {
///     fn instant(&mut self, _: &MemoryStorage, expr: &str, _: i64) -> Result<Outcome, QueryError> {
///         match expr {
///             "42" => Ok(ResultValue::Scalar(42.0).into()),
///             _ => Err(QueryError::new("unknown query")),
///         }
///     }
///     fn range(&mut self, _: &MemoryStorage, _: &str, _: i64, _: i64, _: i64) -> Result<Outcome, QueryError> {
///         Err(QueryError::new("no range queries"))
///     }
/// }
///
/// let script = parse_script("eval instant at 0s 42\n    42\n\neval instant at 0s 43\n    43\n")?;
/// let report = run_script(&script, &mut Answer, &RunOptions::default().extra_checks(false));
/// assert_eq!((report.passed, report.failed, report.skipped), (1, 1, 0));
/// assert_eq!(report.failures[0].line, 4);
/// assert_eq!(report.failures[0].message, "instant query `43` at 0s: query failed: unknown query");
/// # Ok::<(), prom_promql::script::ScriptError>(())
/// ```
pub fn run_script(
    script: &Script,
    evaluator: &mut dyn Evaluator,
    opts: &RunOptions,
) -> ScriptReport {
    let mut report = ScriptReport::default();
    let mut storage = MemoryStorage::new();
    for cmd in &script.commands {
        match cmd {
            Command::Clear { .. } => storage = MemoryStorage::new(),
            Command::Load(load) => {
                if let Err(message) = load_into(&storage, load) {
                    report.failed += 1;
                    report.failures.push(Failure {
                        line: load.line,
                        message,
                    });
                }
            }
            Command::Eval(eval) => {
                if eval.needs_native_histograms {
                    report.skipped += 1;
                    report.skips.push(Skip {
                        line: eval.line,
                        reason: SKIP_NATIVE_HISTOGRAMS.to_owned(),
                    });
                    continue;
                }
                let check = Check {
                    eval,
                    storage: &storage,
                    opts,
                };
                match check.run(evaluator) {
                    Ok(()) => report.passed += 1,
                    Err(message) => {
                        report.failed += 1;
                        report.failures.push(Failure {
                            line: eval.line,
                            message,
                        });
                    }
                }
            }
        }
    }
    report
}

/// Reads the script at `path` and runs it with [`run_script`].
pub fn run_script_file(
    path: impl AsRef<Path>,
    evaluator: &mut dyn Evaluator,
    opts: &RunOptions,
) -> Result<ScriptReport, ScriptError> {
    let script = parse_script_file(path)?;
    Ok(run_script(&script, evaluator, opts))
}

/// Appends a load's float samples, with their start timestamps from `@st` lines; on
/// rejections, what was rejected.
fn load_into(storage: &MemoryStorage, load: &Load) -> Result<(), String> {
    let mut app = storage.appender();
    let mut rejected = 0usize;
    let mut first = None;
    for series in &load.series {
        // Both in time order; starts may also belong to histogram samples, which are skipped.
        let mut starts = series.start_timestamps.iter().peekable();
        for sample in &series.samples {
            while starts.next_if(|(t, _)| *t < sample.t).is_some() {}
            let appended = match starts.next_if(|(t, _)| *t == sample.t) {
                Some(&(_, st)) => {
                    app.append_with_start(None, &series.labels, st, sample.t, sample.v)
                }
                None => app.append(None, &series.labels, sample.t, sample.v),
            };
            if let Err(e) = appended {
                rejected += 1;
                first.get_or_insert_with(|| {
                    format!(
                        "line {}: {} at {}: {e}",
                        series.line,
                        series.labels,
                        Time(sample.t)
                    )
                });
            }
        }
    }
    if let Err(e) = app.commit() {
        return Err(format!("load: commit failed: {e}"));
    }
    match first {
        None => Ok(()),
        Some(first) => Err(format!(
            "load: the storage rejected {rejected} sample(s); first: {first}"
        )),
    }
}

/// Functions whose value depends on the evaluation time even when their arguments do not:
/// queries calling them get no `@` runs (FORMAT.md §6.1).
const TIME_DEPENDENT_FUNCTIONS: &[&str] = &[
    "time",
    "timestamp",
    "start",
    "end",
    "range",
    "step",
    "predict_linear",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
];

/// Query text that makes a range query differ from its instant counterpart: such queries get
/// no range-mode run (FORMAT.md §6.2).
const RANGE_DEPENDENT_TEXT: &[&str] = &["start()", "end()", "range()", "step()"];

/// The shape results are compared in.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One value per series.
    Instant,
    /// Expected slot *i* at `start + i × step`, none after `end`.
    Points {
        start: Timestamp,
        end: Timestamp,
        step: i64,
    },
}

/// One eval being checked.
struct Check<'a> {
    eval: &'a Eval,
    storage: &'a MemoryStorage,
    opts: &'a RunOptions,
}

impl Check<'_> {
    fn run(&self, evaluator: &mut dyn Evaluator) -> Result<(), String> {
        let eval = self.eval;
        match eval.kind {
            EvalKind::Range { start, end, step } => {
                let what = format!(
                    "range query `{}` from {} to {} step {}",
                    eval.expr,
                    Time(start),
                    Time(end),
                    Time(step)
                );
                let outcome = evaluator.range(self.storage, &eval.expr, start, end, step);
                self.check(outcome, Shape::Points { start, end, step })
                    .map(drop)
                    .map_err(|e| format!("{what}: {e}"))
            }
            EvalKind::Instant { at } => {
                let at = eval.instant_time().unwrap_or(at);
                let shape = match eval.range_vector {
                    Some(rv) => Shape::Points {
                        start: rv.start,
                        end: rv.end,
                        step: rv.step,
                    },
                    None => Shape::Instant,
                };
                let mut runs = vec![(eval.expr.clone(), at, false)];
                if self.opts.extra_checks {
                    runs.extend(
                        pinned_runs(&eval.expr, at)
                            .into_iter()
                            .map(|(e, t)| (e, t, true)),
                    );
                }
                for (expr, t, pinned) in runs {
                    let what = if pinned {
                        format!(
                            "instant query `{expr}` (selectors pinned with @) at {}",
                            Time(t)
                        )
                    } else {
                        format!("instant query `{expr}` at {}", Time(t))
                    };
                    let outcome = evaluator.instant(self.storage, &expr, t);
                    let outcome = self
                        .check(outcome, shape)
                        .map_err(|e| format!("{what}: {e}"))?;
                    if let Some(outcome) = outcome
                        && self.opts.extra_checks
                        && self.range_mode_applies(&expr)
                    {
                        self.range_mode(evaluator, &expr, t, &outcome.result)
                            .map_err(|e| format!("{what}, in range mode: {e}"))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Checks one query's outcome against the eval; the outcome when the query succeeded.
    fn check(
        &self,
        outcome: Result<Outcome, QueryError>,
        shape: Shape,
    ) -> Result<Option<Outcome>, String> {
        let eval = self.eval;
        let outcome = match (outcome, &eval.expect_fail) {
            (Err(e), Some(m)) if m.matches(e.message()) => return Ok(None),
            (Err(e), Some(m)) => {
                return Err(format!(
                    "expected an error matching {m}, got error: {}",
                    e.message()
                ));
            }
            (Err(e), None) => return Err(format!("query failed: {}", e.message())),
            (Ok(o), Some(m)) => {
                return Err(format!(
                    "expected an error ({m}), but the query succeeded with {}",
                    o.result
                ));
            }
            (Ok(o), None) => o,
        };
        if let Some(problem) = eval.warnings.check(&outcome.warnings) {
            return Err(format!("warnings: {problem}"));
        }
        if let Some(problem) = eval.infos.check(&outcome.infos) {
            return Err(format!("infos: {problem}"));
        }
        compare(
            &eval.expected,
            &outcome.result,
            shape,
            eval.ordered,
            self.opts.epsilon,
        )?;
        Ok(Some(outcome))
    }

    fn range_mode_applies(&self, expr: &str) -> bool {
        self.eval.range_vector.is_none()
            && !matches!(self.eval.expected, ExpectedResult::String { .. })
            && !RANGE_DEPENDENT_TEXT.iter().any(|f| expr.contains(f))
    }

    /// FORMAT.md §6.2: the query as a range query from `t − 1m` to `t + 1m` must succeed, be
    /// sorted, and give at `t` what the instant query was expected to give.
    fn range_mode(
        &self,
        evaluator: &mut dyn Evaluator,
        expr: &str,
        t: Timestamp,
        instant: &ResultValue,
    ) -> Result<(), String> {
        const MINUTE: i64 = 60_000;
        let outcome = evaluator
            .range(
                self.storage,
                expr,
                t.saturating_sub(MINUTE),
                t.saturating_add(MINUTE),
                MINUTE,
            )
            .map_err(|e| format!("query failed: {}", e.message()))?;
        if self.eval.ordered {
            // Range results are sorted by labels, so the listed order cannot be checked.
            return Ok(());
        }
        let ResultValue::Matrix(matrix) = &outcome.result else {
            return Err(format!(
                "expected a range vector, got {}",
                outcome.result.kind()
            ));
        };
        check_sorted(matrix)?;
        let at_t: Vec<(Labels, f64)> = matrix
            .iter()
            .filter_map(|(labels, points)| {
                points
                    .iter()
                    .find(|(pt, _)| *pt == t)
                    .map(|(_, v)| (labels.clone(), *v))
            })
            .collect();
        let middle = if matches!(instant, ResultValue::Scalar(_)) {
            match at_t.first() {
                Some((_, v)) => ResultValue::Scalar(*v),
                None => return Err(format!("no point at {} for the scalar", Time(t))),
            }
        } else {
            ResultValue::Vector(at_t)
        };
        compare(
            &self.eval.expected,
            &middle,
            Shape::Instant,
            false,
            self.opts.epsilon,
        )
        .map_err(|e| format!("at the middle step {}: {e}", Time(t)))
    }
}

/// FORMAT.md §6.1: `expr` with every selector and subquery that has no `@` of its own pinned
/// at `at`, and the evaluation times to run it at. None when the query calls a
/// time-dependent function, or does not parse (the unmodified run reports that).
fn pinned_runs(expr: &str, at: Timestamp) -> Vec<(String, Timestamp)> {
    let Ok(mut ast) = crate::parse(expr) else {
        return Vec::new();
    };
    let mut time_dependent = false;
    ast.walk(&mut |e: &Expr| {
        if let Expr::Call(c) = e
            && TIME_DEPENDENT_FUNCTIONS.contains(&c.func.name)
        {
            time_dependent = true;
        }
        !time_dependent
    });
    if time_dependent {
        return Vec::new();
    }
    pin_selectors(&mut ast, at);
    let text = ast.to_string();
    let times = if at == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![at.saturating_mul(-10), 0, at / 5, at, at.saturating_mul(10)]
    };
    times.into_iter().map(|t| (text.clone(), t)).collect()
}

/// Adds `@ at` to selectors and subqueries without one; selectors inside a subquery are left
/// alone, since the subquery's own `@` (written or added) fixes their times.
fn pin_selectors(expr: &mut Expr, at: Timestamp) {
    match expr {
        Expr::VectorSelector(v) => {
            v.at.get_or_insert(AtModifier::Timestamp(at));
        }
        Expr::MatrixSelector(m) => {
            m.selector.at.get_or_insert(AtModifier::Timestamp(at));
        }
        Expr::Subquery(s) => {
            s.at.get_or_insert(AtModifier::Timestamp(at));
        }
        _ => {
            for child in expr.children_mut() {
                pin_selectors(child, at);
            }
        }
    }
}

/// Most diff lines shown per failure.
const MAX_DIFF_LINES: usize = 40;

/// Compares a result with the expectation; on a mismatch, a summary and a diff.
fn compare(
    expected: &ExpectedResult,
    got: &ResultValue,
    shape: Shape,
    ordered: bool,
    epsilon: f64,
) -> Result<(), String> {
    match (expected, got, shape) {
        (ExpectedResult::Scalar { value, .. }, ResultValue::Scalar(v), _) => {
            if almost_equal(*v, *value, epsilon) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {}, got {}",
                    Value(*value),
                    Value(*v)
                ))
            }
        }
        (ExpectedResult::String { value, .. }, ResultValue::String(s), _) => {
            if s == value {
                Ok(())
            } else {
                Err(format!("expected string {value:?}, got {s:?}"))
            }
        }
        (ExpectedResult::Series(series), ResultValue::Vector(v), Shape::Instant) => {
            compare_vector(series, v, ordered, epsilon)
        }
        (ExpectedResult::Series(_), ResultValue::Matrix(_), _) if ordered => Err(
            "`expect ordered` needs an instant vector, but the query returned a range vector"
                .to_owned(),
        ),
        // Upstream compares a range vector from a plain instant eval against points that would
        // lie after its (unset) end: only "nothing expected, nothing returned" passes.
        (ExpectedResult::Series(series), ResultValue::Matrix(m), Shape::Instant)
            if series.is_empty() && m.is_empty() =>
        {
            Ok(())
        }
        (
            ExpectedResult::Series(series),
            ResultValue::Matrix(m),
            Shape::Points { start, end, step },
        ) => compare_matrix(series, m, start, end, step, epsilon),
        _ => {
            let wanted = match (expected, shape) {
                (ExpectedResult::Scalar { value, .. }, _) => format!("scalar {}", Value(*value)),
                (ExpectedResult::String { value, .. }, _) => format!("string {value:?}"),
                (ExpectedResult::Series(s), Shape::Instant) => {
                    format!("an instant vector of {} series", s.len())
                }
                (ExpectedResult::Series(s), Shape::Points { .. }) => {
                    format!("a range vector of {} series", s.len())
                }
            };
            Err(format!("expected {wanted}, got {got}"))
        }
    }
}

/// Collects diff lines and counts differences.
#[derive(Default)]
struct Diff {
    lines: Vec<String>,
    differences: usize,
}

impl Diff {
    fn same(&mut self, line: String) {
        self.lines.push(format!("    {line}"));
    }

    fn differ(&mut self, mark: char, line: String) {
        self.differences += 1;
        self.lines.push(format!("  {mark} {line}"));
    }

    fn finish(self, summary: &str) -> Result<(), String> {
        if self.differences == 0 {
            return Ok(());
        }
        let mut out = format!(
            "{summary}: {} difference(s) (- expected, missing; + unexpected; ~ differs)",
            self.differences
        );
        for line in self.lines.iter().take(MAX_DIFF_LINES) {
            out.push('\n');
            out.push_str(line);
        }
        if self.lines.len() > MAX_DIFF_LINES {
            let _ = write!(
                out,
                "\n    … {} more lines",
                self.lines.len() - MAX_DIFF_LINES
            );
        }
        Err(out)
    }
}

fn compare_vector(
    expected: &[ExpectedSeries],
    got: &[(Labels, f64)],
    ordered: bool,
    epsilon: f64,
) -> Result<(), String> {
    let index: HashMap<&Labels, (usize, &ExpectedSeries)> = expected
        .iter()
        .enumerate()
        .map(|(i, e)| (&e.labels, (i, e)))
        .collect();
    let mut seen = HashSet::new();
    let mut diff = Diff::default();
    for (pos, (labels, v)) in got.iter().enumerate() {
        let Some(&(i, e)) = index.get(labels) else {
            diff.differ('+', format!("{labels} {}", Value(*v)));
            continue;
        };
        if !seen.insert(i) {
            diff.differ(
                '+',
                format!(
                    "{labels} {}    (the series is in the result twice)",
                    Value(*v)
                ),
            );
            continue;
        }
        let value_ok = match e.values.first() {
            Some(SequenceValue::Float(x)) => almost_equal(*v, *x, epsilon),
            _ => false,
        };
        let expected_value = e.values.first().map_or_else(|| "no value".to_owned(), slot);
        if !value_ok {
            diff.differ(
                '~',
                format!(
                    "{labels} expected {expected_value} (line {}), got {}",
                    e.line,
                    Value(*v)
                ),
            );
        } else if ordered && i != pos {
            diff.differ(
                '~',
                format!(
                    "{labels} {}    at position {}, expected at {} (line {})",
                    Value(*v),
                    pos + 1,
                    i + 1,
                    e.line
                ),
            );
        } else {
            diff.same(format!("{labels} {}", Value(*v)));
        }
    }
    for (i, e) in expected.iter().enumerate() {
        if !seen.contains(&i) {
            let value = e.values.first().map_or_else(|| "no value".to_owned(), slot);
            diff.differ('-', format!("{} {value}    (line {})", e.labels, e.line));
        }
    }
    diff.finish(&format!(
        "expected {} series, got {}",
        expected.len(),
        got.len()
    ))
}

fn check_sorted(matrix: &[(Labels, Vec<(Timestamp, f64)>)]) -> Result<(), String> {
    for ((a, _), (b, _)) in matrix.iter().zip(matrix.iter().skip(1)) {
        if a >= b {
            return Err(format!(
                "the result is not sorted by labels (or has a series twice): {a} comes before {b}"
            ));
        }
    }
    Ok(())
}

fn compare_matrix(
    expected: &[ExpectedSeries],
    got: &[(Labels, Vec<(Timestamp, f64)>)],
    start: Timestamp,
    end: Timestamp,
    step: i64,
    epsilon: f64,
) -> Result<(), String> {
    check_sorted(got)?;
    let index: HashMap<&Labels, (usize, &ExpectedSeries)> = expected
        .iter()
        .enumerate()
        .map(|(i, e)| (&e.labels, (i, e)))
        .collect();
    let mut seen = HashSet::new();
    let mut diff = Diff::default();
    for (labels, points) in got {
        let Some(&(i, e)) = index.get(labels) else {
            diff.differ('+', format!("{labels} {}", Points(points)));
            continue;
        };
        seen.insert(i);
        let slots = i64::try_from(e.values.len()).unwrap_or(i64::MAX);
        let last = start.saturating_add(slots.saturating_sub(1).saturating_mul(step));
        if slots > 0 && last > end {
            diff.differ(
                '~',
                format!(
                    "{labels} (line {}) expects {slots} points, more than the range from {} to {} step {} holds",
                    e.line,
                    Time(start),
                    Time(end),
                    Time(step)
                ),
            );
            continue;
        }
        let want: Vec<(Timestamp, &SequenceValue)> = e.points(start, step).collect();
        let first_difference =
            (0..want.len().max(points.len())).find(|&k| match (want.get(k), points.get(k)) {
                (Some((wt, SequenceValue::Float(wv))), Some((t, v))) => {
                    wt != t || !almost_equal(*v, *wv, epsilon)
                }
                _ => true,
            });
        match first_difference {
            None => diff.same(format!("{labels} {}", Points(points))),
            Some(k) => {
                let wanted = want.get(k).map_or_else(
                    || "no more points".to_owned(),
                    |(t, v)| format!("{}@{}", slot(v), Time(*t)),
                );
                let had = points.get(k).map_or_else(
                    || "no more points".to_owned(),
                    |(t, v)| format!("{}@{}", Value(*v), Time(*t)),
                );
                diff.differ(
                    '~',
                    format!(
                        "{labels} (line {}): point {}: expected {wanted}, got {had}\n        expected: {}\n        got:      {}",
                        e.line,
                        k + 1,
                        ExpectedPoints(&want),
                        Points(points)
                    ),
                );
            }
        }
    }
    for (i, e) in expected.iter().enumerate() {
        if !seen.contains(&i) {
            let want: Vec<(Timestamp, &SequenceValue)> = e.points(start, step).collect();
            diff.differ(
                '-',
                format!(
                    "{} {}    (line {})",
                    e.labels,
                    ExpectedPoints(&want),
                    e.line
                ),
            );
        }
    }
    diff.finish(&format!(
        "expected {} series, got {}",
        expected.len(),
        got.len()
    ))
}

/// Most points printed per series.
const MAX_POINTS_SHOWN: usize = 12;

/// A float as the scripts write it: `stale`, `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
struct Value(f64);

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if is_stale_nan(v) {
            f.write_str("stale")
        } else if v.is_nan() {
            f.write_str("NaN")
        } else if v == f64::INFINITY {
            f.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            write!(f, "{v}")
        }
    }
}

/// Milliseconds as seconds: `90s`, `1.5s`, `-10s`.
struct Time(i64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{}s", ms as f64 / 1000.0)
        }
    }
}

fn slot(v: &SequenceValue) -> String {
    match v {
        SequenceValue::Omitted => "_".to_owned(),
        SequenceValue::Float(x) => Value(*x).to_string(),
        SequenceValue::Histogram(_) => "{{histogram}}".to_owned(),
    }
}

/// Result points as `v@t …`, abbreviated.
struct Points<'a>(&'a [(Timestamp, f64)]);

impl fmt::Display for Points<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no points)");
        }
        for (k, (t, v)) in self.0.iter().take(MAX_POINTS_SHOWN).enumerate() {
            if k > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}@{}", Value(*v), Time(*t))?;
        }
        if self.0.len() > MAX_POINTS_SHOWN {
            write!(f, " … ({} points)", self.0.len())?;
        }
        Ok(())
    }
}

/// Expected points as `v@t …`, abbreviated.
struct ExpectedPoints<'a, 'b>(&'a [(Timestamp, &'b SequenceValue)]);

impl fmt::Display for ExpectedPoints<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no points)");
        }
        for (k, (t, v)) in self.0.iter().take(MAX_POINTS_SHOWN).enumerate() {
            if k > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}@{}", slot(v), Time(*t))?;
        }
        if self.0.len() > MAX_POINTS_SHOWN {
            write!(f, " … ({} points)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_leaves_explicit_at_and_subquery_insides_alone() {
        let runs = pinned_runs(
            "rate(a[5m]) + b @ 10 + max_over_time(rate(c[1m])[10m:1m]) + min_over_time(d[5m:1m] @ 20)",
            100_000,
        );
        let texts: HashSet<&str> = runs.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            texts.into_iter().collect::<Vec<_>>(),
            [
                "rate(a[5m] @ 100.000) + b @ 10.000 + max_over_time(rate(c[1m])[10m:1m] @ 100.000) + min_over_time(d[5m:1m] @ 20.000)"
            ]
        );
        let times: Vec<i64> = runs.iter().map(|(_, t)| *t).collect();
        assert_eq!(times, [-1_000_000, 0, 20_000, 100_000, 1_000_000]);
        assert_eq!(
            pinned_runs("a", 0)
                .iter()
                .map(|(_, t)| *t)
                .collect::<Vec<_>>(),
            [-1000, 0, 1000]
        );
    }

    #[test]
    fn time_dependent_queries_are_not_pinned() {
        assert!(pinned_runs("time() - a", 60_000).is_empty());
        assert!(pinned_runs("sum(timestamp(a))", 60_000).is_empty());
        assert!(pinned_runs("a +", 60_000).is_empty(), "does not parse");
        assert_eq!(pinned_runs("abs(a)", 60_000).len(), 5);
    }

    #[test]
    fn values_and_times_print_as_scripts_write_them() {
        use prom_model::value::{normal_nan, stale_nan};
        let v = |x| Value(x).to_string();
        assert_eq!(
            [
                v(1.0),
                v(-0.5),
                v(normal_nan()),
                v(stale_nan()),
                v(f64::INFINITY),
                v(f64::NEG_INFINITY)
            ],
            ["1", "-0.5", "NaN", "stale", "+Inf", "-Inf"]
        );
        assert_eq!(Time(90_000).to_string(), "90s");
        assert_eq!(Time(1_500).to_string(), "1.5s");
        assert_eq!(Time(-10_000).to_string(), "-10s");
    }
}
