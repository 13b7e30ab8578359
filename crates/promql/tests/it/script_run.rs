//! The script runner against fake engines: a tiny evaluator for literals and plain selectors
//! written out here (5m lookback, `@`, range queries by stepping), and canned answers for the
//! shapes the tiny one cannot produce. Each comparison rule has a passing and a failing case.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prom_model::value::{is_stale_nan, normal_nan, stale_nan};
use prom_model::{Labels, MemoryStorage, Timestamp};
use prom_promql::ast::{AtModifier, Expr, VectorSelector};
use prom_promql::script::{
    Evaluator, Outcome, QueryError, ResultValue, RunOptions, SKIP_NATIVE_HISTOGRAMS, ScriptReport,
    parse_script, parse_script_file, run_script,
};

const LOOKBACK: i64 = 300_000;

/// Literals, selectors (with `@`, without offsets) and matrix selectors, nothing else.
#[derive(Default)]
struct Tiny {
    /// Treat `@` as absent, as a broken engine might.
    ignore_at: bool,
    /// Return range results in reverse label order.
    unsorted_ranges: bool,
}

impl Tiny {
    fn selected<'s>(
        &self,
        storage: &'s MemoryStorage,
        sel: &VectorSelector,
    ) -> impl Iterator<Item = (Labels, Vec<prom_model::Sample>)> + 's {
        let matchers = sel.matchers.clone();
        storage.series().into_iter().filter(move |(labels, _)| {
            matchers
                .iter()
                .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
        })
    }

    fn time(&self, sel: &VectorSelector, t: Timestamp) -> Result<Timestamp, QueryError> {
        if sel.offset.is_some() {
            return Err("tiny: offsets are not supported".into());
        }
        Ok(match sel.at {
            Some(AtModifier::Timestamp(at)) if !self.ignore_at => at,
            Some(AtModifier::Start | AtModifier::End) => {
                return Err("tiny: @ start()/end() not supported".into());
            }
            _ => t,
        })
    }

    fn eval(
        &self,
        storage: &MemoryStorage,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<ResultValue, QueryError> {
        match expr {
            Expr::Number(n) => Ok(ResultValue::Scalar(n.value)),
            Expr::String(s) => Ok(ResultValue::String(s.value.clone())),
            Expr::Paren(p) => self.eval(storage, &p.expr, t),
            Expr::VectorSelector(sel) => {
                let t = self.time(sel, t)?;
                let v = self
                    .selected(storage, sel)
                    .filter_map(|(labels, samples)| {
                        let last = samples
                            .iter()
                            .rev()
                            .find(|s| s.t <= t && s.t > t - LOOKBACK)?;
                        (!is_stale_nan(last.v)).then_some((labels, last.v))
                    })
                    .collect();
                Ok(ResultValue::Vector(v))
            }
            Expr::MatrixSelector(m) => {
                let t = self.time(&m.selector, t)?;
                let range = m.range.as_millis().ok_or("tiny: constant ranges only")?;
                let v = self
                    .selected(storage, &m.selector)
                    .filter_map(|(labels, samples)| {
                        let points: Vec<(i64, f64)> = samples
                            .iter()
                            .filter(|s| s.t <= t && s.t > t - range && !is_stale_nan(s.v))
                            .map(|s| (s.t, s.v))
                            .collect();
                        (!points.is_empty()).then_some((labels, points))
                    })
                    .collect();
                Ok(ResultValue::Matrix(v))
            }
            _ => Err(QueryError::new(format!("tiny: cannot evaluate {expr}"))),
        }
    }
}

fn parse(expr: &str) -> Result<Expr, QueryError> {
    prom_promql::parse(expr).map_err(|e| QueryError::new(e.to_string()))
}

impl Evaluator for Tiny {
    fn instant(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        at: Timestamp,
    ) -> Result<Outcome, QueryError> {
        Ok(self.eval(storage, &parse(expr)?, at)?.into())
    }

    fn range(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Outcome, QueryError> {
        let expr = parse(expr)?;
        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        let mut t = start;
        while t <= end {
            match self.eval(storage, &expr, t)? {
                ResultValue::Scalar(v) => series.entry(Labels::new()).or_default().push((t, v)),
                ResultValue::Vector(v) => {
                    for (labels, v) in v {
                        series.entry(labels).or_default().push((t, v));
                    }
                }
                _ => return Err("tiny: range query over a non-vector".into()),
            }
            t += step;
        }
        let mut matrix: Vec<_> = series.into_iter().collect();
        matrix.sort_by(|a, b| a.0.cmp(&b.0));
        if self.unsorted_ranges {
            matrix.reverse();
        }
        Ok(ResultValue::Matrix(matrix).into())
    }
}

/// Canned answers by query text (instant and range alike); anything else is an error.
#[derive(Default)]
struct Table(HashMap<String, Result<Outcome, QueryError>>);

impl Table {
    fn answer(mut self, expr: &str, outcome: impl Into<Outcome>) -> Self {
        self.0.insert(expr.to_owned(), Ok(outcome.into()));
        self
    }

    fn error(mut self, expr: &str, message: &str) -> Self {
        self.0
            .insert(expr.to_owned(), Err(QueryError::new(message)));
        self
    }

    fn lookup(&self, expr: &str) -> Result<Outcome, QueryError> {
        self.0
            .get(expr)
            .cloned()
            .unwrap_or_else(|| Err(QueryError::new(format!("no answer for {expr}"))))
    }
}

impl Evaluator for Table {
    fn instant(
        &mut self,
        _: &MemoryStorage,
        expr: &str,
        _: Timestamp,
    ) -> Result<Outcome, QueryError> {
        self.lookup(expr)
    }

    fn range(
        &mut self,
        _: &MemoryStorage,
        expr: &str,
        _: Timestamp,
        _: Timestamp,
        _: i64,
    ) -> Result<Outcome, QueryError> {
        self.lookup(expr)
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn metric(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut all = vec![("__name__", name)];
    all.extend_from_slice(pairs);
    Labels::from_pairs(&all)
}

fn run_with(src: &str, evaluator: &mut dyn Evaluator, opts: &RunOptions) -> ScriptReport {
    let script = parse_script(src).unwrap_or_else(|e| panic!("script does not parse: {e}"));
    run_script(&script, evaluator, opts)
}

/// Runs with the extra checks off (canned answers know only the literal query text).
fn run_table(src: &str, table: Table) -> ScriptReport {
    run_with(
        src,
        &mut { table },
        &RunOptions::default().extra_checks(false),
    )
}

fn run_tiny(src: &str) -> ScriptReport {
    run_with(src, &mut Tiny::default(), &RunOptions::default())
}

#[track_caller]
fn assert_counts(report: &ScriptReport, passed: usize, failed: usize, skipped: usize) {
    assert_eq!(
        (report.passed, report.failed, report.skipped),
        (passed, failed, skipped),
        "{report:#?}"
    );
}

/// The only failure's message, checked to be at `line`.
#[track_caller]
fn only_failure(report: &ScriptReport, line: usize) -> &str {
    assert_eq!(report.failures.len(), 1, "{report:#?}");
    assert_eq!(report.failures[0].line, line, "{report:#?}");
    &report.failures[0].message
}

const SERIES: &str = r#"
load 1m
    http_requests{job="api", instance="0"} 0+10x10
    http_requests{job="api", instance="1"} 0+20x10
    gone 1 2 stale
"#;

#[test]
fn literals_scalars_and_strings() {
    let report = run_tiny(
        r#"
eval instant at 0s 1
    1

eval instant at 1m 0x10
    16

eval instant at 0s "x"
    expect string "x"

eval instant at 0s ""
    expect string ""

eval instant at 0s NaN
    NaN

eval instant at 0s 2
    3

eval instant at 0s "x"
    expect string "y"
"#,
    );
    assert_counts(&report, 5, 2, 0);
    assert_eq!(report.failures[0].line, 17);
    assert_eq!(
        report.failures[0].message,
        "instant query `2` at 0s: expected scalar 3, got 2"
    );
    assert_eq!(report.failures[1].line, 20);
    assert_eq!(
        report.failures[1].message,
        r#"instant query `"x"` at 0s: expected string "y", got "x""#
    );
}

#[test]
fn result_type_must_match_the_expectation() {
    let src = format!(
        "{SERIES}
eval instant at 0s 1
    {{}} 1

eval instant at 0s http_requests
    1

eval instant at 0s 1
    expect string \"1\"
"
    );
    let report = run_tiny(&src);
    assert_counts(&report, 0, 3, 0);
    let m: Vec<&str> = report.failures.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        m[0],
        "instant query `1` at 0s: expected an instant vector of 1 series, got scalar 1"
    );
    assert!(m[1].contains("expected scalar 1, got 2 series"), "{}", m[1]);
    assert!(
        m[2].contains(r#"expected string "1", got scalar 1"#),
        "{}",
        m[2]
    );
}

#[test]
fn instant_vectors_with_lookback_pass_in_any_order() {
    let src = format!(
        r#"{SERIES}
eval instant at 5m http_requests
    http_requests{{job="api", instance="1"}} 100
    http_requests{{job="api", instance="0"}} 50

eval instant at 9m59s http_requests{{instance="0"}}
    http_requests{{job="api", instance="0"}} 90

# 5m after the last sample it is gone.
eval instant at 15m http_requests

# After a stale marker a series is gone at once.
eval instant at 2m gone

eval instant at 1m30s gone
    gone 2
"#
    );
    // Every eval also ran pinned with `@` at five times and in range mode.
    assert_counts(&run_tiny(&src), 5, 0, 0);
}

#[test]
fn vector_differences_are_listed() {
    let src = format!(
        r#"{SERIES}
eval instant at 5m http_requests
    http_requests{{job="api", instance="0"}} 51
    http_requests{{job="api", instance="2"}} 0
"#
    );
    let report = run_tiny(&src);
    assert_counts(&report, 0, 1, 0);
    let message = only_failure(&report, 7);
    assert_eq!(
        message,
        r#"instant query `http_requests` at 300s: expected 2 series, got 2: 3 difference(s) (- expected, missing; + unexpected; ~ differs)
  ~ http_requests{instance="0", job="api"} expected 51 (line 8), got 50
  + http_requests{instance="1", job="api"} 100
  - http_requests{instance="2", job="api"} 0    (line 9)"#
    );
}

#[test]
fn names_are_compared_exactly() {
    let table = Table::default().answer(
        "x",
        ResultValue::Vector(vec![(labels(&[("job", "a")]), 1.0)]),
    );
    let report = run_table(
        "eval instant at 0s x\n    x{job=\"a\"} 1\n\neval instant at 0s x\n    {job=\"a\"} 1\n",
        table,
    );
    assert_counts(&report, 1, 1, 0);
    assert!(report.failures[0].message.contains("- x{job=\"a\"} 1"));
}

#[test]
fn float_tolerance_is_relative() {
    let table = Table::default()
        .answer("a", ResultValue::Scalar(1.0 + 1e-9))
        .answer("b", ResultValue::Scalar(1.0001))
        .answer("zero", ResultValue::Scalar(1e-300))
        .answer("inf", ResultValue::Scalar(f64::INFINITY))
        .answer("nan", ResultValue::Scalar(normal_nan()))
        .answer(
            "big",
            ResultValue::Vector(vec![(labels(&[("a", "b")]), 1e300 * (1.0 + 1e-9))]),
        );
    let report = run_table(
        "eval instant at 0s a\n    1\n\n\
         eval instant at 0s b\n    1\n\n\
         eval instant at 0s zero\n    0\n\n\
         eval instant at 0s inf\n    +Inf\n\n\
         eval instant at 0s nan\n    NaN\n\n\
         eval instant at 0s big\n    {a=\"b\"} 1e300\n",
        table,
    );
    assert_counts(&report, 4, 2, 0);
    assert_eq!(report.failures[0].line, 4);
    assert!(
        report.failures[0]
            .message
            .ends_with("expected scalar 1, got 1.0001")
    );
    assert_eq!(
        report.failures[1].line, 7,
        "zero only equals (almost exactly) zero"
    );
    let strict = run_with(
        "eval instant at 0s a\n    1\n",
        &mut Table::default().answer("a", ResultValue::Scalar(1.0 + 1e-9)),
        &RunOptions::default().extra_checks(false).epsilon(1e-12),
    );
    assert_counts(&strict, 0, 1, 0);
}

#[test]
fn stale_markers_only_equal_stale_markers() {
    let table = Table::default()
        .answer(
            "s",
            ResultValue::Vector(vec![(labels(&[("a", "b")]), stale_nan())]),
        )
        .answer(
            "n",
            ResultValue::Vector(vec![(labels(&[("a", "b")]), normal_nan())]),
        );
    let report = run_table(
        "eval instant at 0s s\n    {a=\"b\"} stale\n\n\
         eval instant at 0s s\n    {a=\"b\"} NaN\n\n\
         eval instant at 0s n\n    {a=\"b\"} stale\n\n\
         eval instant at 0s n\n    {a=\"b\"} NaN\n",
        table,
    );
    assert_counts(&report, 2, 2, 0);
    assert!(
        report.failures[0]
            .message
            .contains(r#"~ {a="b"} expected NaN (line 5), got stale"#),
        "{}",
        report.failures[0].message
    );
    assert_eq!(report.failures[1].line, 7);
}

#[test]
fn ordered_results_must_keep_the_listed_order() {
    let a = (metric("m", &[("i", "a")]), 1.0);
    let b = (metric("m", &[("i", "b")]), 2.0);
    let table = Table::default()
        .answer("right", ResultValue::Vector(vec![b.clone(), a.clone()]))
        .answer("wrong", ResultValue::Vector(vec![a, b]));
    let report = run_table(
        "eval instant at 0s right\n    expect ordered\n    m{i=\"b\"} 2\n    m{i=\"a\"} 1\n\n\
         eval instant at 0s wrong\n    expect ordered\n    m{i=\"b\"} 2\n    m{i=\"a\"} 1\n\n\
         eval_ordered instant at 0s wrong\n    m{i=\"b\"} 2\n    m{i=\"a\"} 1\n\n\
         eval instant at 0s wrong\n    m{i=\"b\"} 2\n    m{i=\"a\"} 1\n",
        table,
    );
    assert_counts(&report, 2, 2, 0);
    let message = &report.failures[0].message;
    assert_eq!(report.failures[0].line, 6);
    assert!(
        message.contains(r#"~ m{i="a"} 1    at position 1, expected at 2 (line 9)"#),
        "{message}"
    );
    assert_eq!(report.failures[1].line, 11);
}

#[test]
fn duplicate_series_in_a_vector_fail() {
    let x = (labels(&[("a", "b")]), 1.0);
    let table = Table::default().answer("d", ResultValue::Vector(vec![x.clone(), x]));
    let report = run_table("eval instant at 0s d\n    {a=\"b\"} 1\n", table);
    assert!(only_failure(&report, 1).contains("twice"));
}

#[test]
fn range_queries_compare_every_step() {
    let src = format!(
        r#"{SERIES}
eval range from 0 to 4m step 1m http_requests{{instance="0"}}
    http_requests{{job="api", instance="0"}} 0 10 20 30 40

eval range from 0 to 4m step 2m http_requests{{instance="0"}}
    http_requests{{job="api", instance="0"}} 0+20x2

eval range from 0 to 4m step 1m gone
    gone 1 2 _ _ _

eval range from 0 to 4m step 1m 7
    {{}} 7x4

eval range from 0 to 4m step 1m gone
"#
    );
    let report = run_tiny(&src);
    assert_counts(&report, 4, 1, 0);
    assert_eq!(
        only_failure(&report, 19),
        "range query `gone` from 0s to 240s step 60s: expected 0 series, got 1: 1 difference(s) (- expected, missing; + unexpected; ~ differs)\n  + gone 1@0s 2@60s"
    );
}

#[test]
fn range_point_differences_are_located() {
    let src = format!(
        r#"{SERIES}
eval range from 0 to 2m step 1m gone
    gone 1 3 _

eval range from 0 to 2m step 1m gone
    gone 1 _ _

eval range from 0 to 2m step 1m gone
    gone 1 2 3

eval range from 0 to 2m step 1m gone
    gone _ 1 2

eval range from 0 to 2m step 1m gone
    gone 1 2 _ _
"#
    );
    let report = run_tiny(&src);
    assert_counts(&report, 0, 5, 0);
    let m: Vec<&str> = report.failures.iter().map(|f| f.message.as_str()).collect();
    assert!(
        m[0].ends_with(
            "  ~ gone (line 8): point 2: expected 3@60s, got 2@60s\n        expected: 1@0s 3@60s\n        got:      1@0s 2@60s"
        ),
        "{}",
        m[0]
    );
    assert!(
        m[1].contains("point 2: expected no more points, got 2@60s"),
        "{}",
        m[1]
    );
    assert!(
        m[2].contains("point 3: expected 3@120s, got no more points"),
        "{}",
        m[2]
    );
    assert!(
        m[3].contains("point 1: expected 1@60s, got 1@0s"),
        "{}",
        m[3]
    );
    assert!(
        m[4].contains("expects 4 points, more than the range from 0s to 120s step 60s holds"),
        "{}",
        m[4]
    );
}

#[test]
fn range_results_must_be_sorted() {
    let src = format!(
        "{SERIES}
eval range from 0 to 1m step 1m http_requests
    http_requests{{job=\"api\", instance=\"0\"}} 0 10
    http_requests{{job=\"api\", instance=\"1\"}} 0 20
"
    );
    assert_counts(&run_tiny(&src), 1, 0, 0);
    let mut broken = Tiny {
        unsorted_ranges: true,
        ..Tiny::default()
    };
    let report = run_with(&src, &mut broken, &RunOptions::default());
    assert!(only_failure(&report, 7).contains("not sorted by labels"));
}

#[test]
fn range_vector_results_of_instant_queries() {
    let src = format!(
        r#"{SERIES}
eval instant at 3m gone[3m]
    expect range vector from 1m to 3m step 1m
    gone 2

eval instant at 3m gone[3m]
    expect range vector from 1m to 3m step 1m
    gone 1 2

eval instant at 3m gone[3m]
    gone 2
"#
    );
    let report = run_tiny(&src);
    assert_counts(&report, 1, 2, 0);
    assert_eq!(report.failures[0].line, 11);
    assert!(
        report.failures[0]
            .message
            .contains("point 1: expected 1@60s, got 2@60s"),
        "{}",
        report.failures[0].message
    );
    assert_eq!(report.failures[1].line, 15);
    assert!(
        report.failures[1]
            .message
            .contains("expected an instant vector of 1 series, got 1 series; gone 2@60s"),
        "{}",
        report.failures[1].message
    );
}

#[test]
fn empty_range_vectors_match_empty_expectations_only() {
    let src = format!(
        r#"{SERIES}
eval instant at 3m nothing[3m]

eval instant at 3m gone[3m]

eval instant at 3m gone[3m]
    expect ordered
    expect range vector from 1m to 3m step 1m
    gone 2
"#
    );
    // No extra checks: a range query over a range vector fails, upstream as here.
    let report = run_with(
        &src,
        &mut Tiny::default(),
        &RunOptions::default().extra_checks(false),
    );
    assert_counts(&report, 1, 2, 0);
    assert_eq!(report.failures[0].line, 9);
    assert!(
        report.failures[0]
            .message
            .ends_with("expected an instant vector of 0 series, got 1 series; gone 2@60s"),
        "{}",
        report.failures[0].message
    );
    assert_eq!(report.failures[1].line, 11);
    assert!(
        report.failures[1]
            .message
            .contains("`expect ordered` needs an instant vector")
    );
}

#[test]
fn expected_failures() {
    let table = Table::default()
        .error(
            "bad",
            "vector cannot contain metrics with the same labelset",
        )
        .answer("good", ResultValue::Scalar(1.0));
    let report = run_table(
        r#"
eval instant at 0s bad
    expect fail

eval_fail instant at 0s bad

eval instant at 0s bad
    expect fail msg: vector cannot contain metrics with the same labelset

eval instant at 0s bad
    expect fail regex: same label(set|s)

eval range from 0 to 1m step 1m bad
    expect fail regex: ^vector

eval instant at 0s bad
    expect fail msg: vector cannot contain metrics

eval instant at 0s bad
    expect fail regex: ^labelset

eval instant at 0s good
    expect fail

eval instant at 0s bad
    1
"#,
        table,
    );
    assert_counts(&report, 5, 4, 0);
    let m: Vec<(usize, &str)> = report
        .failures
        .iter()
        .map(|f| (f.line, f.message.as_str()))
        .collect();
    assert_eq!(
        m,
        [
            (
                16,
                "instant query `bad` at 0s: expected an error matching msg: vector cannot contain metrics, got error: vector cannot contain metrics with the same labelset"
            ),
            (
                19,
                "instant query `bad` at 0s: expected an error matching regex: ^labelset, got error: vector cannot contain metrics with the same labelset"
            ),
            (
                22,
                "instant query `good` at 0s: expected an error (any message), but the query succeeded with scalar 1"
            ),
            (
                25,
                "instant query `bad` at 0s: query failed: vector cannot contain metrics with the same labelset"
            ),
        ]
    );
}

#[test]
fn warnings_and_infos() {
    let w = "PromQL warning: encountered a mix of histograms and floats (1:6)";
    let i = "PromQL info: metric might not be a counter (1:6)";
    let table = Table::default()
        .answer("plain", ResultValue::Scalar(1.0))
        .answer(
            "warned",
            Outcome::new(ResultValue::Scalar(1.0)).with_warnings([w]),
        )
        .answer(
            "informed",
            Outcome::new(ResultValue::Scalar(1.0)).with_infos([i]),
        );
    let src = r#"
eval instant at 0s warned
    expect warn
    1

eval instant at 0s warned
    expect warn msg: PromQL warning: encountered a mix of histograms and floats (1:6)
    1

eval instant at 0s warned
    expect warn regex: mix of histograms and floats \([0-9]+:[0-9]+\)
    expect no_info
    1

eval_warn instant at 0s warned
    1

eval instant at 0s warned
    1

eval instant at 0s informed
    expect info regex: not be a counter
    expect no_warn
    1

eval_info instant at 0s informed
    1

eval instant at 0s plain
    expect no_warn
    expect no_info
    1

eval instant at 0s plain
    expect warn
    1

eval instant at 0s warned
    expect no_warn
    1

eval instant at 0s warned
    expect warn msg: PromQL warning: something else (1:6)
    1

eval instant at 0s warned
    expect warn regex: histograms
    expect warn regex: something else
    1

eval instant at 0s warned
    expect info
    1

eval instant at 0s informed
    expect no_info
    1

eval_info instant at 0s plain
    1
"#;
    let report = run_table(src, table);
    assert_counts(&report, 8, 7, 0);
    let m: Vec<(usize, &str)> = report
        .failures
        .iter()
        .map(|f| (f.line, f.message.as_str()))
        .collect();
    let suffix = |s: &str| s.split_once(": ").map_or(s, |(_, rest)| rest).to_owned();
    let got: Vec<(usize, String)> = m.iter().map(|(l, s)| (*l, suffix(s))).collect();
    assert_eq!(
        got,
        [
            (34, "warnings: expected an annotation, got none".to_owned()),
            (38, format!("warnings: unexpected annotation {w:?}")),
            (
                42,
                "warnings: no annotation matches msg: PromQL warning: something else (1:6)"
                    .to_owned()
            ),
            (
                46,
                "warnings: no annotation matches regex: something else".to_owned()
            ),
            (51, "infos: expected an annotation, got none".to_owned()),
            (55, format!("infos: unexpected annotation {i:?}")),
            (59, "infos: expected an annotation, got none".to_owned()),
        ]
    );
}

#[test]
fn native_histogram_evals_are_skipped_with_the_reason() {
    let report = run_tiny(
        r#"
load 1m
    hist {{schema:0 sum:1 count:1 buckets:[1]}}x2
    floats 1 2 3

eval instant at 1m hist
    {} 1

eval instant at 1m floats
    floats 2

eval instant at 1m floats
    floats {{count:1}}
"#,
    );
    assert_counts(&report, 1, 0, 2);
    let skips: Vec<(usize, &str)> = report
        .skips
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect();
    assert_eq!(
        skips,
        [(6, SKIP_NATIVE_HISTOGRAMS), (12, SKIP_NATIVE_HISTOGRAMS)]
    );
    assert_eq!(report.to_string(), "1 passed, 0 failed, 2 skipped");
}

#[test]
fn loads_accumulate_and_clear_resets() {
    let report = run_tiny(
        r#"
load 1m
    a 1 2

load 1m
    b 5

eval instant at 1m a
    a 2

eval instant at 1m b
    b 5

clear

eval instant at 1m a

load 1m
    a 7

eval instant at 0s a
    a 7
"#,
    );
    assert_counts(&report, 4, 0, 0);
}

#[test]
fn rejected_samples_fail_the_load() {
    let report = run_tiny(
        r#"
load 1m
    a 1 2 3

load 1m
    a 9

eval instant at 2m a
    a 3
"#,
    );
    assert_counts(&report, 1, 1, 0);
    assert_eq!(
        only_failure(&report, 5),
        "load: the storage rejected 1 sample(s); first: line 6: a at 0s: out of order sample"
    );
}

#[test]
fn extra_checks_pin_selectors_with_at() {
    let src = format!(
        r#"{SERIES}
eval instant at 5m http_requests{{instance="0"}}
    http_requests{{job="api", instance="0"}} 50
"#
    );
    assert_counts(&run_tiny(&src), 1, 0, 0);

    // An engine that ignores `@` passes the plain run but not the pinned ones.
    let mut broken = Tiny {
        ignore_at: true,
        ..Tiny::default()
    };
    let report = run_with(&src, &mut broken, &RunOptions::default());
    let message = only_failure(&report, 7);
    assert!(
        message.starts_with(
            r#"instant query `http_requests{instance="0"} @ 300.000` (selectors pinned with @) at -3000s: expected 1 series, got 0"#
        ),
        "{message}"
    );
    let lenient = run_with(
        &src,
        &mut broken,
        &RunOptions::default().extra_checks(false),
    );
    assert_counts(&lenient, 1, 0, 0);
}

/// Answers instant queries like [`Tiny`] but fails every range query.
struct NoRange(Tiny);

impl Evaluator for NoRange {
    fn instant(
        &mut self,
        s: &MemoryStorage,
        expr: &str,
        at: Timestamp,
    ) -> Result<Outcome, QueryError> {
        self.0.instant(s, expr, at)
    }

    fn range(
        &mut self,
        _: &MemoryStorage,
        _: &str,
        _: i64,
        _: i64,
        _: i64,
    ) -> Result<Outcome, QueryError> {
        Err("range queries are broken".into())
    }
}

#[test]
fn extra_checks_run_instant_queries_in_range_mode() {
    let src = "eval instant at 1m 5\n    5\n\n\
               eval instant at 1m \"s\"\n    expect string \"s\"\n";
    let report = run_with(src, &mut NoRange(Tiny::default()), &RunOptions::default());
    // The string eval has no range-mode run.
    assert_counts(&report, 1, 1, 0);
    assert_eq!(
        only_failure(&report, 1),
        "instant query `5` at 60s, in range mode: query failed: range queries are broken"
    );
}

#[test]
fn range_mode_compares_the_middle_step() {
    // Right at the instant, wrong in range mode (a constant 9 at every step).
    let mut table =
        Table::default().answer("q", ResultValue::Vector(vec![(labels(&[("a", "b")]), 1.0)]));
    let range = ResultValue::Matrix(vec![(
        labels(&[("a", "b")]),
        vec![(0, 9.0), (60_000, 9.0), (120_000, 9.0)],
    )]);
    struct Split<'a>(&'a mut Table, ResultValue);
    impl Evaluator for Split<'_> {
        fn instant(&mut self, s: &MemoryStorage, e: &str, t: i64) -> Result<Outcome, QueryError> {
            self.0.instant(s, e, t)
        }
        fn range(
            &mut self,
            _: &MemoryStorage,
            _: &str,
            _: i64,
            _: i64,
            _: i64,
        ) -> Result<Outcome, QueryError> {
            Ok(self.1.clone().into())
        }
    }
    let report = run_with(
        "eval instant at 1m q\n    {a=\"b\"} 1\n",
        &mut Split(&mut table, range),
        &RunOptions::default(),
    );
    let message = only_failure(&report, 1);
    assert!(
        message.starts_with("instant query `q` at 60s, in range mode: at the middle step 60s: expected 1 series, got 1"),
        "{message}"
    );
    assert!(
        message.contains(r#"~ {a="b"} expected 1 (line 2), got 9"#),
        "{message}"
    );
}

/// `../shared/conformance/promql` relative to the workspace, or `PROM_PROMQL_CONFORMANCE_DIR`.
fn conformance_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROM_PROMQL_CONFORMANCE_DIR") {
        return dir.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql")
}

/// Every conformance script runs to the end against an engine that fails every query: each
/// eval is counted once, and exactly the flagged ones are skipped.
#[test]
fn conformance_scripts_run_to_the_end() {
    let dir = conformance_dir();
    if !dir.is_dir() {
        println!(
            "skipping: no PromQL conformance scripts at {}",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let script = parse_script_file(&path).unwrap();
        let stats = script.stats();
        let report = run_script(&script, &mut Table::default(), &RunOptions::default());
        let load_failures = report
            .failures
            .iter()
            .filter(|f| f.message.starts_with("load:"))
            .count();
        assert_eq!(
            report.skipped,
            stats.evals_needing_native_histograms,
            "{}",
            path.display()
        );
        assert_eq!(
            report.passed + report.failed - load_failures + report.skipped,
            stats.evals,
            "{}",
            path.display()
        );
        println!(
            "{}: {report}, {load_failures} load failures",
            path.display()
        );
    }
}
