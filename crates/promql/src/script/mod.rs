//! Prometheus's PromQL test scripts (`*.test`): a reader that turns a script into commands.
//!
//! Prometheus keeps its PromQL acceptance suite as scripts that load series, evaluate queries and
//! state the expected results. This module reads such a script into a [`Script`]: a list of
//! [`Command`]s with every time, value and expectation resolved, and every query kept as source
//! text with its line, so that an evaluation loop can run the queries with any engine and report
//! `file:line` for each failing eval. Nothing here parses PromQL or evaluates anything.
//!
//! The format and the semantics a runner must reproduce are described in
//! `conformance/promql/FORMAT.md` of the shared folder; the reader accepts exactly the scripts
//! upstream's reader accepts, with the deviations listed under "Differences from upstream".
//!
//! ```
//! use prom_promql::script::{parse_script, Command, EvalKind, ExpectedResult, SequenceValue};
//!
//! let script = parse_script(
//!     r#"
//! load 1m
//!     http_requests{job="api"} 0+10x3 _ stale
//!
//! eval instant at 2m http_requests
//!     http_requests{job="api"} 20
//! "#,
//! )?;
//! let Command::Load(load) = &script.commands[0] else { unreachable!() };
//! let series = &load.series[0];
//! assert_eq!(series.labels.to_string(), r#"http_requests{job="api"}"#);
//! let times: Vec<i64> = series.samples.iter().map(|s| s.t).collect();
//! assert_eq!(times, [0, 60_000, 120_000, 180_000, 300_000]); // `_` skips 240 000
//! assert!(prom_model::value::is_stale_nan(series.samples[4].v));
//!
//! let Command::Eval(eval) = &script.commands[1] else { unreachable!() };
//! assert_eq!(eval.kind, EvalKind::Instant { at: 120_000 });
//! assert_eq!((eval.expr.as_str(), eval.line), ("http_requests", 5));
//! let ExpectedResult::Series(expected) = &eval.expected else { unreachable!() };
//! assert_eq!(expected[0].values, [SequenceValue::Float(20.0)]);
//! # Ok::<(), prom_promql::script::ScriptError>(())
//! ```
//!
//! # Value notation
//!
//! A series line is `<metric> <items…>`; each item expands into one or more slots, slot *i* of a
//! `load` being the sample at `i × interval` and slot *i* of a range result the point at
//! `start + i × step`:
//!
//! | item | slots |
//! |---|---|
//! | `_` / `_xN` | one / N omitted slots |
//! | `V` | one value: a number (`1`, `-2`, `.5`, `1e3`, `1_000`, `010` = 8), `Inf`, `-Inf`, `NaN` or `stale` |
//! | `VxN` | N + 1 copies of V (`1x3` = 1 1 1 1, `0x5` = six zeros: no hexadecimal here) |
//! | `V+DxN` / `V-DxN` | N + 1 values V, V±D, …, accumulated by repeated addition as upstream does |
//! | `{{…}}`, `{{…}}xN`, `{{A}}+{{B}}xN`, `{{A}}-{{B}}xN` | native histograms, read but not computed |
//!
//! # Differences from upstream
//!
//! - Times (`at`, `from`, `to`) may carry a leading `-`; upstream rejects negative times.
//! - Empty label values are dropped, as everywhere in prom ([`Labels`]); a label name repeated
//!   inside one series' braces is an error instead of an error at append or compare time.
//! - Contradictions upstream only discovers when running are errors here: `expect ordered` or
//!   `expect range vector` on a range eval, `expect string` or a scalar together with series
//!   lines, `eval_warn` with `expect no_warn` (and the `info` pair), `eval_fail` with both an
//!   `expected_fail_*` line and an `expect fail` line.
//! - A series line may expand to at most [`MAX_SLOTS_PER_LINE`] slots.
//! - `@st` lines follow FORMAT.md §2; a standalone `@st` line (no metric) and `*` items are
//!   rejected.
//! - Label values and strings must unquote to valid UTF-8.
//!
//! # API themes
//!
//! - [`parse_script`] and [`parse_script_file`] return a [`Script`] or a [`ScriptError`] that
//!   prints `file:line:col: message` with a caret under the line.
//! - [`Command`]: [`Load`] (with [`LoadSeries`]), `Clear`, [`Eval`] (with [`EvalKind`],
//!   [`ExpectedResult`], [`ExpectedSeries`], [`AnnotationExpectation`], [`TextMatch`]).
//! - [`SequenceValue`] and the native-histogram literals [`HistogramValue`], [`HistogramLiteral`].
//! - [`almost_equal`] with [`DEFAULT_EPSILON`]: the float comparison results are checked with.
//! - [`ScriptStats`]: counts for conformance reports.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod compare;
mod engine_eval;
mod error;
mod lit;
mod reader;
mod run;
mod series;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use prom_model::{Labels, Sample, Timestamp};
use regex::Regex;

pub use compare::{DEFAULT_EPSILON, almost_equal};
pub use engine_eval::EngineEvaluator;
pub use error::{ScriptError, ScriptErrorKind};
pub use run::{
    Evaluator, Failure, Outcome, QueryError, ResultValue, RunOptions, SKIP_NATIVE_HISTOGRAMS,
    ScriptReport, Skip, run_script, run_script_file,
};
pub use series::{MAX_SLOTS_PER_LINE, parse_series_desc};

/// Reads a test script.
///
/// Errors carry the 1-based line and column of the offending text; attach a file name with
/// [`ScriptError::with_file`] or use [`parse_script_file`].
pub fn parse_script(src: &str) -> Result<Script, ScriptError> {
    reader::parse(src)
}

/// Reads the test script at `path`; errors name the file.
pub fn parse_script_file(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
    let path = path.as_ref();
    let src = std::fs::read_to_string(path)
        .map_err(|e| ScriptError::io(e).with_file(path.to_path_buf()))?;
    parse_script(&src).map_err(|e| e.with_file(path.to_path_buf()))
}

/// A parsed test script: its commands in file order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The commands, in the order they must run.
    pub commands: Vec<Command>,
}

impl Script {
    /// The eval commands.
    pub fn evals(&self) -> impl Iterator<Item = &Eval> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(&**e),
            _ => None,
        })
    }

    /// Counts of commands and expectations, for reports.
    pub fn stats(&self) -> ScriptStats {
        let mut s = ScriptStats::default();
        for cmd in &self.commands {
            match cmd {
                Command::Load(load) => {
                    s.loads += 1;
                    s.loads_with_nhcb += usize::from(load.with_nhcb);
                    s.loads_needing_native_histograms += usize::from(load.needs_native_histograms);
                    s.series += load.series.len();
                }
                Command::Clear { .. } => s.clears += 1,
                Command::Eval(eval) => {
                    s.evals += 1;
                    match eval.kind {
                        EvalKind::Instant { .. } => s.instant_evals += 1,
                        EvalKind::Range { .. } => s.range_evals += 1,
                    }
                    s.expect_fail += usize::from(eval.expect_fail.is_some());
                    s.evals_needing_native_histograms += usize::from(eval.needs_native_histograms);
                }
            }
        }
        s
    }
}

/// Counts over a [`Script`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptStats {
    /// `load` and `load_with_nhcb` commands.
    pub loads: usize,
    /// `load_with_nhcb` commands.
    pub loads_with_nhcb: usize,
    /// Loads with native-histogram samples or `load_with_nhcb`.
    pub loads_needing_native_histograms: usize,
    /// Series lines over all loads.
    pub series: usize,
    /// `clear` commands.
    pub clears: usize,
    /// Eval commands.
    pub evals: usize,
    /// Instant evals.
    pub instant_evals: usize,
    /// Range evals.
    pub range_evals: usize,
    /// Evals that expect the query to fail.
    pub expect_fail: usize,
    /// Evals flagged [`Eval::needs_native_histograms`].
    pub evals_needing_native_histograms: usize,
}

impl fmt::Display for ScriptStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} loads ({} with nhcb, {} need NH), {} clears, {} evals ({} instant, {} range, {} expect fail, {} need NH)",
            self.loads,
            self.loads_with_nhcb,
            self.loads_needing_native_histograms,
            self.clears,
            self.evals,
            self.instant_evals,
            self.range_evals,
            self.expect_fail,
            self.evals_needing_native_histograms
        )
    }
}

/// One command of a script.
#[derive(Debug, Clone)]
pub enum Command {
    /// `load <interval>` or `load_with_nhcb <interval>`: add samples to the storage.
    Load(Load),
    /// `clear`: start again from empty storage.
    Clear {
        /// 1-based line of the command.
        line: usize,
    },
    /// `eval …`: run a query and check its result.
    Eval(Box<Eval>),
}

impl Command {
    /// 1-based line of the command.
    pub fn line(&self) -> usize {
        match self {
            Command::Load(l) => l.line,
            Command::Clear { line } => *line,
            Command::Eval(e) => e.line,
        }
    }
}

/// A `load` block.
///
/// Loads are cumulative until the next `clear`. Every load starts at t = 0: slot *i* of a series
/// line is the sample at `i × interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Milliseconds between consecutive slots.
    pub interval: i64,
    /// `load_with_nhcb`: classic histograms in the block (`X_bucket` with `le`, `X_count`,
    /// `X_sum`) must also be stored as native histograms with custom buckets named `X`.
    pub with_nhcb: bool,
    /// The series, in file order. A label set written twice keeps the later line's samples at
    /// the earlier line's position.
    pub series: Vec<LoadSeries>,
    /// Whether loading needs native-histogram support: a series has histogram samples, or the
    /// block is `load_with_nhcb`.
    pub needs_native_histograms: bool,
    /// 1-based line of the `load` command.
    pub line: usize,
}

/// One series of a `load` block, expanded into samples.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSeries {
    /// The series' labels (`__name__` included when the line names a metric).
    pub labels: Labels,
    /// Float samples in time order; `stale` is [`prom_model::value::stale_nan`], `NaN` is
    /// [`prom_model::value::normal_nan`]. Omitted slots are absent. May be empty.
    pub samples: Vec<Sample>,
    /// Native-histogram samples `(t, value)` in time order (unevaluated literals).
    pub histograms: Vec<(Timestamp, HistogramValue)>,
    /// Start timestamps from a preceding `@st` line: `(sample t, start t)` in time order, for the
    /// samples (float or histogram) that have one.
    pub start_timestamps: Vec<(Timestamp, Timestamp)>,
    /// 1-based line of the series.
    pub line: usize,
}

impl LoadSeries {
    /// Whether the series has native-histogram samples.
    pub fn has_histograms(&self) -> bool {
        !self.histograms.is_empty()
    }
}

/// An `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// Instant or range query, with its times.
    pub kind: EvalKind,
    /// The PromQL expression, verbatim (not parsed by this module).
    pub expr: String,
    /// 1-based line of the expression (the eval line).
    pub expr_line: usize,
    /// 1-based byte column where the expression starts in its line, to map parser error
    /// positions back into the file.
    pub expr_column: usize,
    /// 1-based line of the eval command.
    pub line: usize,
    /// The query must fail (`eval_fail` or `expect fail`), with an error matching this; `None`:
    /// the query must succeed.
    pub expect_fail: Option<TextMatch>,
    /// `eval_ordered` / `expect ordered`: an instant-vector result must come in the listed order.
    pub ordered: bool,
    /// What the warnings must be.
    pub warnings: AnnotationExpectation,
    /// What the info annotations must be.
    pub infos: AnnotationExpectation,
    /// `expect range vector from … to … step …`: the instant query returns a range vector; it is
    /// evaluated at `end` instead of the `at` time ([`Eval::instant_time`]).
    pub range_vector: Option<RangeVector>,
    /// The expected result.
    pub expected: ExpectedResult,
    /// Heuristic (FORMAT.md §8): the eval involves native histograms. Set when an expected value
    /// is a histogram, or when native histograms exist in the current `clear` segment (series
    /// loaded with histogram samples, or `X` made by `load_with_nhcb` from `X_bucket`/`X_count`/
    /// `X_sum`) and the expression mentions one of their names, mentions `__name__` or has a
    /// selector without a name. Conservative: an engine without native histograms can skip
    /// flagged evals and expect to pass the others.
    pub needs_native_histograms: bool,
}

impl Eval {
    /// The evaluation time of an instant query: the `expect range vector` end when there is one,
    /// else the `at` time. `None` for range queries.
    pub fn instant_time(&self) -> Option<Timestamp> {
        match (self.kind, self.range_vector) {
            (EvalKind::Instant { .. }, Some(rv)) => Some(rv.end),
            (EvalKind::Instant { at }, None) => Some(at),
            (EvalKind::Range { .. }, _) => None,
        }
    }

    /// Whether this is an instant query.
    pub fn is_instant(&self) -> bool {
        matches!(self.kind, EvalKind::Instant { .. })
    }
}

/// The query type and times of an eval, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// `eval instant at <at> …`.
    Instant {
        /// Evaluation time.
        at: Timestamp,
    },
    /// `eval range from <start> to <end> step <step> …`; `start <= end`.
    Range {
        /// First step.
        start: Timestamp,
        /// Last possible step (inclusive).
        end: Timestamp,
        /// Milliseconds between steps; may be 0 (the engine rejects that, the script does not).
        step: i64,
    },
}

/// `expect range vector from <start> to <end> step <step>`: expected points of an instant query
/// that returns a range vector are at `start, start + step, …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeVector {
    /// Time of the first expected point.
    pub start: Timestamp,
    /// Evaluation time of the query.
    pub end: Timestamp,
    /// Milliseconds between expected points.
    pub step: i64,
}

/// What an eval's result must be.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedResult {
    /// A vector or matrix with exactly these series (none: an empty result).
    Series(Vec<ExpectedSeries>),
    /// A bare number line: a scalar result.
    Scalar {
        /// The value (compare with [`almost_equal`]).
        value: f64,
        /// 1-based line.
        line: usize,
    },
    /// `expect string "…"`: a string result.
    String {
        /// The unquoted string.
        value: String,
        /// 1-based line.
        line: usize,
    },
}

/// One expected series of an eval.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedSeries {
    /// Labels the result series must have exactly (no `__name__` when the line names no metric).
    pub labels: Labels,
    /// The expected values: one for an instant vector, slot *i* at `start + i × step` for a range
    /// result.
    pub values: Vec<SequenceValue>,
    /// 1-based line, to report which expectation failed.
    pub line: usize,
}

impl ExpectedSeries {
    /// The non-omitted values with their timestamps, slot *i* at `start + i × step`.
    pub fn points(
        &self,
        start: Timestamp,
        step: i64,
    ) -> impl Iterator<Item = (Timestamp, &SequenceValue)> {
        self.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, SequenceValue::Omitted))
            .map(move |(i, v)| {
                let offset = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step);
                (start.saturating_add(offset), v)
            })
    }

    /// Whether a value is a native histogram.
    pub fn has_histograms(&self) -> bool {
        self.values
            .iter()
            .any(|v| matches!(v, SequenceValue::Histogram(_)))
    }
}

/// One slot of a series line.
#[derive(Debug, Clone, PartialEq)]
pub enum SequenceValue {
    /// `_`: no sample in this slot.
    Omitted,
    /// A float; `stale` is the staleness marker's bit pattern.
    Float(f64),
    /// A native histogram.
    Histogram(HistogramValue),
}

/// A native-histogram slot: `base`, or `base ± times × delta` inside `{{A}}+{{B}}xN`.
///
/// Upstream computes slot *k* of `{{A}}+{{B}}xN` by adding B to slot *k − 1*; a histogram engine
/// should do the same to match its float rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// The first histogram of the item.
    pub base: Arc<HistogramLiteral>,
    /// The increment, if the item is `{{A}}±{{B}}xN`.
    pub step: Option<HistogramStep>,
}

/// The increment part of `{{A}}+{{B}}xN` / `{{A}}-{{B}}xN`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramStep {
    /// B.
    pub delta: Arc<HistogramLiteral>,
    /// `-` instead of `+`.
    pub subtract: bool,
    /// How many times B is applied for this slot (0 for the first).
    pub times: u64,
}

/// The fields of a `{{…}}` literal as written; absent keys are `None` (FORMAT.md §4 gives the
/// defaults). Read, not validated as a histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramLiteral {
    /// `schema`.
    pub schema: Option<i64>,
    /// `sum`.
    pub sum: Option<f64>,
    /// `count`.
    pub count: Option<f64>,
    /// `z_bucket`: zero-bucket count.
    pub zero_count: Option<f64>,
    /// `z_bucket_w`: zero threshold.
    pub zero_threshold: Option<f64>,
    /// `buckets`: positive bucket counts (absolute).
    pub buckets: Option<Vec<f64>>,
    /// `offset`: index of the first positive bucket.
    pub offset: Option<i64>,
    /// `n_buckets`: negative bucket counts (absolute).
    pub negative_buckets: Option<Vec<f64>>,
    /// `n_offset`: index of the first negative bucket.
    pub negative_offset: Option<i64>,
    /// `custom_values`: upper bounds for schema −53.
    pub custom_values: Option<Vec<f64>>,
    /// `counter_reset_hint`; compared only when written.
    pub counter_reset_hint: Option<CounterResetHint>,
}

/// `counter_reset_hint` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterResetHint {
    /// `unknown`.
    Unknown,
    /// `reset`.
    CounterReset,
    /// `not_reset`.
    NotCounterReset,
    /// `gauge`.
    Gauge,
}

/// How an error or annotation message is matched.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Any message (`expect fail`, `expect warn` without `msg:`/`regex:`; `eval_fail`).
    Any,
    /// `msg: <text>`: the message must equal the (trimmed) text.
    Exact(String),
    /// `regex: <pattern>`: the pattern must match somewhere in the message (unanchored).
    Regex(Regex),
}

impl TextMatch {
    /// Whether `message` satisfies this expectation.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(text) => text == message,
            TextMatch::Regex(re) => re.is_match(message),
        }
    }
}

impl PartialEq for TextMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TextMatch::Any, TextMatch::Any) => true,
            (TextMatch::Exact(a), TextMatch::Exact(b)) => a == b,
            (TextMatch::Regex(a), TextMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl fmt::Display for TextMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextMatch::Any => f.write_str("any message"),
            TextMatch::Exact(text) => write!(f, "msg: {text}"),
            TextMatch::Regex(re) => write!(f, "regex: {}", re.as_str()),
        }
    }
}

/// What the annotations of one kind (warnings or infos) must be.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AnnotationExpectation {
    /// No `expect` line for this kind: not checked.
    #[default]
    Unchecked,
    /// `expect no_warn` / `expect no_info`: there must be none.
    Forbidden,
    /// At least one must exist (`eval_warn`/`eval_info` or `expect warn`/`expect info` lines).
    /// When `matchers` is non-empty, every matcher must match some annotation and every
    /// annotation must match some matcher.
    Required {
        /// One per `expect` line, in file order.
        matchers: Vec<TextMatch>,
    },
}

impl AnnotationExpectation {
    /// Checks rendered annotations (`PromQL warning: … (line:col)`); `None` when satisfied,
    /// else what is wrong.
    pub fn check<S: AsRef<str>>(&self, messages: &[S]) -> Option<String> {
        match self {
            AnnotationExpectation::Unchecked => None,
            AnnotationExpectation::Forbidden => messages
                .first()
                .map(|m| format!("unexpected annotation {:?}", m.as_ref())),
            AnnotationExpectation::Required { matchers } => {
                if messages.is_empty() {
                    return Some("expected an annotation, got none".to_owned());
                }
                if matchers.is_empty() {
                    return None;
                }
                if let Some(m) = matchers
                    .iter()
                    .find(|m| !messages.iter().any(|msg| m.matches(msg.as_ref())))
                {
                    return Some(format!("no annotation matches {m}"));
                }
                messages
                    .iter()
                    .find(|msg| !matchers.iter().any(|m| m.matches(msg.as_ref())))
                    .map(|msg| format!("unexpected annotation {:?}", msg.as_ref()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
