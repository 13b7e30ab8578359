//! Unit tests of the script reader: value notation, metrics, commands, expectations, errors.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use prom_model::value::{STALE_NAN_BITS, is_stale_nan, normal_nan};
use prom_model::{Labels, Sample};

use super::series::parse_series;
use super::*;

// ---- helpers ----------------------------------------------------------------------------------

/// The slots of a series line, floats as bits so that NaNs compare; `None` for omitted, and
/// `Some(u64::MAX)` for a histogram.
fn slots(line: &str) -> Vec<Option<u64>> {
    parse_series(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
        .values
        .iter()
        .map(|v| match v {
            SequenceValue::Omitted => None,
            SequenceValue::Float(f) => Some(f.to_bits()),
            SequenceValue::Histogram(_) => Some(u64::MAX),
        })
        .collect()
}

fn floats(line: &str) -> Vec<f64> {
    parse_series(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
        .values
        .iter()
        .map(|v| match v {
            SequenceValue::Float(f) => *f,
            other => panic!("{line:?}: not a float: {other:?}"),
        })
        .collect()
}

fn series_err(line: &str) -> String {
    match parse_series(line) {
        Ok(d) => panic!("{line:?} accepted: {d:?}"),
        Err(e) => e.msg,
    }
}

fn labels(line: &str) -> String {
    parse_series(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
        .labels
        .to_string()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|f| f.to_bits()).collect()
}

fn only_eval(src: &str) -> Eval {
    let script = parse_script(src).unwrap_or_else(|e| panic!("{e}"));
    let mut evals: Vec<Eval> = script.evals().cloned().collect();
    assert_eq!(evals.len(), 1);
    evals.remove(0)
}

fn only_load(src: &str) -> Load {
    let script = parse_script(src).unwrap_or_else(|e| panic!("{e}"));
    match script.commands.as_slice() {
        [Command::Load(load)] => load.clone(),
        other => panic!("expected one load, got {other:?}"),
    }
}

fn script_err(src: &str) -> ScriptError {
    match parse_script(src) {
        Ok(s) => panic!("{src:?} accepted: {} commands", s.commands.len()),
        Err(e) => e,
    }
}

fn expected_series(eval: &Eval) -> &[ExpectedSeries] {
    match &eval.expected {
        ExpectedResult::Series(s) => s,
        other => panic!("expected series, got {other:?}"),
    }
}

// ---- value notation ---------------------------------------------------------------------------

#[test]
fn increments_expand_to_n_plus_one_values() {
    assert_eq!(floats("m 1+2x3"), [1.0, 3.0, 5.0, 7.0]);
    assert_eq!(floats("m 0+10x10").len(), 11);
    assert_eq!(floats("m 10-2x3"), [10.0, 8.0, 6.0, 4.0]);
    assert_eq!(floats("m -1-2x3"), [-1.0, -3.0, -5.0, -7.0]);
    assert_eq!(floats("m 5+0x2"), [5.0; 3]);
    assert_eq!(floats("m 1+1x0"), [1.0]);
    assert_eq!(floats("m 1e3+1e3x2"), [1000.0, 2000.0, 3000.0]);
    assert_eq!(floats("m 1e-2x1"), [0.01, 0.01]);
}

#[test]
fn increments_accumulate_like_upstream() {
    // Upstream adds the increment to the previous value; start + i·delta would differ in the
    // last bits (0.1 + 0.1 + 0.1 != 3 × 0.1).
    let mut expect = Vec::new();
    let mut v = 0.0f64;
    for _ in 0..=10 {
        expect.push(v);
        v += 0.1;
    }
    assert_eq!(bits(&floats("m 0+0.1x10")), bits(&expect));
    assert_ne!(floats("m 0+0.1x10")[6], 6.0 * 0.1);
}

#[test]
fn repetitions_copy_n_plus_one_times() {
    assert_eq!(floats("m 1x3"), [1.0; 4]);
    assert_eq!(floats("m 0x5"), [0.0; 6], "0x5 is not hexadecimal");
    assert_eq!(floats("m 1x0"), [1.0]);
    assert_eq!(floats("m -2x1"), [-2.0, -2.0]);
    assert_eq!(floats("m 1x007"), [1.0; 8]);
}

#[test]
fn omitted_slots() {
    assert_eq!(slots("m _"), [None]);
    assert_eq!(
        slots("m _x3"),
        [None, None, None],
        "_xN is N slots, not N+1"
    );
    assert_eq!(slots("m _x0"), []);
    assert_eq!(
        slots("m 1 _ 3 _x2 5"),
        [
            Some(1f64.to_bits()),
            None,
            Some(3f64.to_bits()),
            None,
            None,
            Some(5f64.to_bits())
        ]
    );
}

#[test]
fn special_values() {
    let v = floats("m stale Inf -Inf +Inf inf NaN nan -NaN");
    assert_eq!(v[0].to_bits(), STALE_NAN_BITS);
    assert!(is_stale_nan(v[0]));
    assert_eq!(
        &v[1..5],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::INFINITY
        ]
    );
    assert_eq!(v[5].to_bits(), normal_nan().to_bits(), "NaN has Go's bits");
    assert_eq!(v[6].to_bits(), normal_nan().to_bits());
    assert!(v[7].is_nan() && v[7].is_sign_negative());
    // `stale` followed by an increment is arithmetic on NaN: allowed, and NaN.
    assert!(floats("m stale+1x1").iter().all(|v| v.is_nan()));
}

#[test]
fn number_forms() {
    assert_eq!(
        floats("m 1 -2 .5 2. 1e3 12.34e-6 1E+2 1_000 1_000.5 010 09 0.2"),
        [
            1.0, -2.0, 0.5, 2.0, 1000.0, 12.34e-6, 100.0, 1000.0, 1000.5, 8.0, 9.0, 0.2
        ]
    );
}

#[test]
fn bad_values() {
    for (line, why) in [
        ("m Infx3", "Inf swallows the x"),
        ("m NaNx2", "NaN swallows the x"),
        ("m stalex2", "stale swallows the x"),
        ("m -stale", "stale takes no sign"),
        ("m +_", "blank takes no sign"),
        ("m 1+2", "increment without count"),
        ("m 1x", "missing count"),
        ("m 1 x3", "count must be glued"),
        ("m 1x-1", "negative count"),
        ("m 1x1.5", "fractional count"),
        ("m 1x1e2", "exponent count"),
        ("m 1x1_0", "separator in count"),
        ("m 1x18446744073709551616", "count overflow"),
        ("m _3", "blank then number"),
        ("m __", "two blanks"),
        ("m 1,2", "comma"),
        ("m 1 # comment", "no trailing comments"),
        ("m 0x1F", "no hexadecimal"),
        ("m 1e400", "out of range"),
        ("m 1ee3", "double exponent"),
        ("m 1..2", "double dot"),
        ("m 1_", "trailing separator"),
        ("m 1a", "letters after a number"),
        ("m 1+-2x3", "double sign"),
        ("m --1", "double sign"),
        ("m 1-Infx3", "Inf swallows the x"),
        ("m foo", "unknown word"),
        ("m 1 2_", "trailing separator"),
        ("m {1}", "single brace"),
        ("m 1{{}}", "histogram glued to a number"),
    ] {
        let msg = series_err(line);
        assert!(!msg.is_empty(), "{line}: {why}");
    }
    // Too many slots is an error, not an allocation.
    assert!(series_err("m 1x99999999999").contains("more than"));
    assert!(series_err("m _x99999999999").contains("more than"));
}

#[test]
fn whitespace_between_values() {
    assert_eq!(floats("m\t1 \t 2   3 "), [1.0, 2.0, 3.0]);
    assert_eq!(floats("m"), [] as [f64; 0], "a metric without values");
    assert_eq!(floats("{} 1"), [1.0]);
}

// ---- metrics ----------------------------------------------------------------------------------

#[test]
fn metric_forms() {
    assert_eq!(labels("up 1"), "up");
    assert_eq!(
        labels(r#"up{job="api", instance="0"} 1"#),
        r#"up{instance="0", job="api"}"#
    );
    assert_eq!(labels(r#"{job="api"} 1"#), r#"{job="api"}"#);
    assert_eq!(labels("{} 1"), "{}");
    assert_eq!(
        labels(r#"up{job="api",} 1"#),
        r#"up{job="api"}"#,
        "trailing comma"
    );
    assert_eq!(labels(r#"up{ job = "api" , } 1"#), r#"up{job="api"}"#);
    assert_eq!(labels("ns:metric:rate5m 1"), "ns:metric:rate5m");
    assert_eq!(labels("sum 1"), "sum", "keywords can be metric names");
    assert_eq!(labels("SUM{by=\"x\"} 1"), "SUM{by=\"x\"}");
    assert_eq!(labels("stale 1"), "stale");
    assert_eq!(
        labels(r#"m{a='single', b=`raw\n`} 1"#),
        r#"m{a="single", b="raw\\n"}"#
    );
    assert_eq!(labels(r#"m{a="x\"y\u00e9"} 1"#), "m{a=\"x\\\"yé\"}");
}

#[test]
fn quoted_utf8_names() {
    let ls = parse_series(r#"{"utf8.name", "läbel.x"="v", a="b"} 1"#)
        .unwrap()
        .labels;
    assert_eq!(ls.metric_name(), Some("utf8.name"));
    assert_eq!(ls.get("läbel.x"), Some("v"));
    assert_eq!(ls.get("a"), Some("b"));
    // A name outside the braces wins over a quoted one inside.
    let ls = parse_series(r#"outer{"inner"} 1"#).unwrap().labels;
    assert_eq!(ls.metric_name(), Some("outer"));
}

#[test]
fn empty_label_values_are_absent() {
    assert_eq!(
        parse_series(r#"m{a=""} 1"#).unwrap().labels,
        Labels::from_pairs(&[("__name__", "m")])
    );
}

#[test]
fn bad_metrics() {
    for line in [
        "1 2",
        "\"quoted\" 1",
        "m {a=\"b\"} 1",
        "m{a=~\"b\"} 1",
        "m{a!=\"b\"} 1",
        "m{a=\"b\" c=\"d\"} 1",
        "m{a=\"b\",,} 1",
        "m{,} 1",
        "m{a=\"b\", a=\"c\"} 1",
        "m{a} 1",
        "m{a=b} 1",
        "m{a=\"b} 1",
        "m{a=\"b\"",
        "m{\"\"=\"x\"} 1",
        "m{a=\"\\q\"} 1",
        "m{a=\"\\xff\"} 1",
        "m{a=\"b\"}1",
        "bool 1",
        "on{a=\"b\"} 1",
        "Inf 1",
        "nan 1",
        "m{a=\"b\"}{c=\"d\"} 1",
    ] {
        assert!(parse_series(line).is_err(), "{line:?} accepted");
    }
}

#[test]
fn error_positions_point_at_the_problem() {
    let e = parse_series("metric{a=\"b\"} 1 2 Infx3").unwrap_err();
    assert_eq!(e.pos, 18);
}

// ---- native histograms ------------------------------------------------------------------------

fn histograms(line: &str) -> Vec<HistogramValue> {
    parse_series(line)
        .unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
        .values
        .into_iter()
        .map(|v| match v {
            SequenceValue::Histogram(h) => h,
            other => panic!("not a histogram: {other:?}"),
        })
        .collect()
}

#[test]
fn histogram_literal_fields() {
    let h = histograms(
        "m {{schema:-53 sum:-1.5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 -2 Inf] offset:-2 \
         n_buckets:[3 4 ] n_offset:1 custom_values:[-5 10] counter_reset_hint:not_reset}}",
    );
    assert_eq!(h.len(), 1);
    let lit = &*h[0].base;
    assert_eq!(
        *lit,
        HistogramLiteral {
            schema: Some(-53),
            sum: Some(-1.5),
            count: Some(4.0),
            zero_count: Some(1.0),
            zero_threshold: Some(0.001),
            buckets: Some(vec![1.0, -2.0, f64::INFINITY]),
            offset: Some(-2),
            negative_buckets: Some(vec![3.0, 4.0]),
            negative_offset: Some(1),
            custom_values: Some(vec![-5.0, 10.0]),
            counter_reset_hint: Some(CounterResetHint::NotCounterReset),
        }
    );
    assert!(h[0].step.is_none());
}

#[test]
fn histogram_items_expand() {
    assert_eq!(*histograms("m {{}}")[0].base, HistogramLiteral::default());
    assert_eq!(*histograms("m {{ }}")[0].base, HistogramLiteral::default());
    assert_eq!(histograms("m {{count:1 }}")[0].base.count, Some(1.0));
    assert_eq!(histograms("m {{sum:1}}x2").len(), 3);
    let steps = histograms("m {{count:0}}+{{count:1}}x4");
    assert_eq!(steps.len(), 5);
    let times: Vec<u64> = steps
        .iter()
        .map(|h| h.step.as_ref().unwrap().times)
        .collect();
    assert_eq!(times, [0, 1, 2, 3, 4]);
    assert_eq!(steps[2].step.as_ref().unwrap().delta.count, Some(1.0));
    assert!(!steps[2].step.as_ref().unwrap().subtract);
    assert!(
        histograms("m {{sum:9}}-{{sum:1}}x1")[1]
            .step
            .as_ref()
            .unwrap()
            .subtract
    );
    // Mixed with floats and blanks.
    assert_eq!(
        slots("m 1 {{schema:0}} _ {{}}x1"),
        [
            Some(1f64.to_bits()),
            Some(u64::MAX),
            None,
            Some(u64::MAX),
            Some(u64::MAX)
        ]
    );
    // Keys are case-insensitive, as upstream's lexer lowercases them.
    assert_eq!(
        histograms("m {{SCHEMA:2 Counter_Reset_Hint:GAUGE}}")[0]
            .base
            .schema,
        Some(2)
    );
}

#[test]
fn bad_histograms() {
    for line in [
        "m {{schema:0 schema:1}}",
        "m {{bogus:1}}",
        "m {{ schema:0}}",
        "m {{schema 0}}",
        "m {{schema:0sum:1}}",
        "m {{schema:0",
        "m {{schema:1.5}}",
        "m {{sum:+1}}",
        "m {{buckets:[]}}",
        "m {{buckets:[ 1]}}",
        "m {{buckets:[1,2]}}",
        "m {{buckets:1}}",
        "m {{counter_reset_hint:maybe}}",
        "m {{count:1}}+{{count:1}}",
        "m {{count:1}}+1x2",
        "m {{count:1}}x",
        "m {{}}.",
        "m {{}}}",
    ] {
        assert!(parse_series(line).is_err(), "{line:?} accepted");
    }
}

// ---- load -------------------------------------------------------------------------------------

#[test]
fn load_expands_samples_at_interval_steps() {
    let load = only_load("load 5m\n  http{job=\"a\"} 0+10x2 _ stale\n  other 1\n");
    assert_eq!(
        (load.interval, load.with_nhcb, load.line),
        (300_000, false, 1)
    );
    assert!(!load.needs_native_histograms);
    let s = &load.series[0];
    assert_eq!(s.line, 2);
    assert_eq!(
        s.samples[..3],
        [
            Sample::new(0, 0.0),
            Sample::new(300_000, 10.0),
            Sample::new(600_000, 20.0)
        ]
    );
    assert_eq!(s.samples[3].t, 1_200_000, "the blank occupies 900 000");
    assert!(is_stale_nan(s.samples[3].v));
    assert_eq!(load.series[1].labels.to_string(), "other");
}

#[test]
fn load_later_line_replaces_same_labels() {
    let load = only_load("load 1m\n  a 1 2\n  b 3\n  a 9\n");
    assert_eq!(load.series.len(), 2);
    assert_eq!(load.series[0].samples, [Sample::new(0, 9.0)]);
    assert_eq!(load.series[0].line, 4);
    assert_eq!(load.series[1].labels.to_string(), "b");
}

#[test]
fn load_intervals_and_variants() {
    assert_eq!(only_load("load 10s53ms\n a 1\n").interval, 10_053);
    assert_eq!(only_load("load 0\n a 1 2\n").series[0].samples[1].t, 0);
    let nhcb = only_load("load_with_nhcb 5m\n  h_bucket{le=\"1\"} 1\n");
    assert!(nhcb.with_nhcb && nhcb.needs_native_histograms);
    let hist = only_load("load 1m\n  h {{schema:0 count:1}}x1 5\n");
    assert!(hist.needs_native_histograms);
    let s = &hist.series[0];
    assert!(s.has_histograms());
    assert_eq!(
        s.histograms.iter().map(|h| h.0).collect::<Vec<_>>(),
        [0, 60_000]
    );
    assert_eq!(s.samples, [Sample::new(120_000, 5.0)]);
    // A load with an empty body is fine.
    assert!(only_load("load 1m\n").series.is_empty());
}

#[test]
fn load_errors() {
    for src in [
        "load\n",
        "load 5\n",
        "load 5m extra\n",
        "load -5m\n",
        "LOAD 5m\n",
        "loadx 5m\n",
        "load_with_nhcb5m\n",
        "load 1m\n  a 1,2\n",
        "load 1m\n  a{ 1\n",
    ] {
        assert!(parse_script(src).is_err(), "{src:?} accepted");
    }
    // Timestamps past i64 milliseconds.
    let e = script_err("load 292y\n  a 1x1040000\n");
    assert!(
        matches!(e.kind(), ScriptErrorKind::TimestampOverflow),
        "{e}"
    );
}

#[test]
fn start_timestamp_lines() {
    let load =
        only_load("load 1m\n  c{t=\"x\"}@st _ _ -30s-1mx1 0\n  c{t=\"x\"} 1 _ 3 4 5\n  d 7\n");
    let c = &load.series[0];
    assert_eq!(c.samples.len(), 4);
    assert_eq!(
        c.start_timestamps,
        [(120_000, 90_000), (180_000, 90_000), (240_000, 240_000)]
    );
    assert!(load.series[1].start_timestamps.is_empty());
    for (src, needle) in [
        ("load 1m\n  c@st _ 0\n  d 1 2\n", "does not match"),
        ("load 1m\n  c@st _ 0\n  c 1\n", "has 2 values but"),
        ("load 1m\n  c@st 0\n", "no following"),
        ("load 1m\n  c@st 0\n  c@st 0\n  c 1\n", "no following"),
        ("load 1m\n  @st 0\n  c 1\n", "needs a metric"),
        ("load 1m\n  c@st 1m30s\n  c 1\n", "invalid item"),
        ("load 1m\n  c@st _x0\n  c\n", "invalid item"),
    ] {
        let e = script_err(src);
        assert!(e.to_string().contains(needle), "{src:?}: {e}");
    }
}

// ---- clear and command dispatch ---------------------------------------------------------------

#[test]
fn commands_and_blocks() {
    let script = parse_script(
        "# header\n\nload 1m\n  a 1\n# a comment ends the block\nclear\nCLEAR trailing words\n\n\
         eval instant at 0 a\n  a 1\n",
    )
    .unwrap();
    let lines: Vec<usize> = script.commands.iter().map(Command::line).collect();
    assert_eq!(lines, [3, 6, 7, 9]);
    assert!(matches!(script.commands[1], Command::Clear { line: 6 }));
    let stats = script.stats();
    assert_eq!((stats.loads, stats.clears, stats.evals), (1, 2, 1));
}

#[test]
fn unknown_commands() {
    let e = script_err("load 1m\n  a 1\n\nfoo bar\n");
    assert!(matches!(e.kind(), ScriptErrorKind::UnknownCommand(c) if c == "foo bar"));
    assert_eq!((e.line(), e.column()), (4, 1));
    // A comment inside a body ends it; the next line is then a command.
    assert!(parse_script("load 1m\n  a 1\n  # c\n  b 2\n").is_err());
}

// ---- eval -------------------------------------------------------------------------------------

#[test]
fn instant_and_range_evals() {
    let e = only_eval("eval instant at 1h30m sum by (job) (rate(x[5m]))\n  {job=\"a\"} 1\n");
    assert_eq!(e.kind, EvalKind::Instant { at: 5_400_000 });
    assert_eq!(e.expr, "sum by (job) (rate(x[5m]))");
    assert_eq!((e.line, e.expr_line, e.expr_column), (1, 1, 23));
    assert_eq!(e.instant_time(), Some(5_400_000));
    assert_eq!(expected_series(&e)[0].values, [SequenceValue::Float(1.0)]);
    assert!(e.expect_fail.is_none() && !e.ordered);
    assert_eq!(e.warnings, AnnotationExpectation::Unchecked);

    let e = only_eval("  eval range from 0 to 10m step 5m foo\n    foo 1 _ 3\n    {} 1+1x2\n");
    assert_eq!(
        e.kind,
        EvalKind::Range {
            start: 0,
            end: 600_000,
            step: 300_000
        }
    );
    assert_eq!(e.expr_column, 36);
    assert_eq!(e.instant_time(), None);
    let s = expected_series(&e);
    let points: Vec<(i64, f64)> = s[0]
        .points(0, 300_000)
        .map(|(t, v)| match v {
            SequenceValue::Float(f) => (t, *f),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(points, [(0, 1.0), (600_000, 3.0)]);
    assert_eq!(s[1].labels, Labels::new());

    // Negative times are accepted (an extension).
    assert_eq!(
        only_eval("eval instant at -1m x\n").kind,
        EvalKind::Instant { at: -60_000 }
    );
    // No result lines: an empty result.
    assert_eq!(
        only_eval("eval instant at 0 x\n").expected,
        ExpectedResult::Series(vec![])
    );
}

#[test]
fn eval_expression_keeps_everything_after_the_time() {
    let e = only_eval("eval instant at 10s   foo  offset 5m  and on() bar\n");
    assert_eq!(e.expr, "foo  offset 5m  and on() bar");
    let e = only_eval("eval range from 0 to 1m step 30s step()\n");
    assert_eq!(e.expr, "step()");
}

#[test]
fn deprecated_eval_modifiers() {
    let e = only_eval("eval_fail instant at 0 x\n");
    assert_eq!(e.expect_fail, Some(TextMatch::Any));
    let e = only_eval("eval_fail instant at 0 x\n  expected_fail_message  boom  \n");
    assert_eq!(e.expect_fail, Some(TextMatch::Exact("boom".into())));
    let e = only_eval("eval_fail instant at 0 x\n  expected_fail_regexp b.*m\n");
    assert!(e.expect_fail.unwrap().matches("a boom"));
    let e = only_eval("eval_warn range from 0 to 1m step 1m x\n");
    assert_eq!(
        e.warnings,
        AnnotationExpectation::Required { matchers: vec![] }
    );
    let e = only_eval("eval_info instant at 0 x\n");
    assert_eq!(
        e.infos,
        AnnotationExpectation::Required { matchers: vec![] }
    );
    let e = only_eval("eval_ordered instant at 0 x\n  a 1\n  b 2\n");
    assert!(e.ordered);
    assert_eq!(expected_series(&e).len(), 2);
    // eval_ordered has no range form; expected_fail_* only follows eval_fail and ends the body.
    assert!(parse_script("eval_ordered range from 0 to 1m step 1m x\n").is_err());
    assert!(parse_script("eval instant at 0 x\n  expected_fail_message boom\n").is_err());
    assert!(
        parse_script("eval_fail instant at 0 x\n  expected_fail_message boom\n  a 1\n").is_err()
    );
}

#[test]
fn expect_lines() {
    let e = only_eval(
        "eval instant at 0 x\n  expect fail msg:vector cannot contain metrics\n  expect warn\n  \
         expect warn msg: PromQL warning: a (1:1)\n  expect warn regex: b \\([0-9]+:[0-9]+\\)\n  \
         expect no_info\n  expect ordered\n",
    );
    assert_eq!(
        e.expect_fail,
        Some(TextMatch::Exact("vector cannot contain metrics".into()))
    );
    let AnnotationExpectation::Required { matchers } = &e.warnings else {
        panic!("{:?}", e.warnings)
    };
    assert_eq!(matchers.len(), 3);
    assert_eq!(matchers[0], TextMatch::Any);
    assert!(matchers[1].matches("PromQL warning: a (1:1)"));
    assert!(!matchers[1].matches("PromQL warning: a (1:2)"));
    assert!(matchers[2].matches("PromQL warning: b (3:14) etc"));
    assert_eq!(e.infos, AnnotationExpectation::Forbidden);
    assert!(e.ordered);
    let e = only_eval("eval instant at 0 x\n  expect fail regex: ^a.c$\n  expect info\n");
    assert!(e.expect_fail.as_ref().unwrap().matches("abc"));
    assert_eq!(
        e.infos,
        AnnotationExpectation::Required {
            matchers: vec![TextMatch::Any]
        }
    );
    assert_eq!(
        only_eval("eval instant at 0 x\n  expect no_warn\n").warnings,
        AnnotationExpectation::Forbidden
    );
}

#[test]
fn bad_expect_lines() {
    for (body, kind) in [
        ("expect", "MalformedExpect"),
        ("expect failure", "MalformedExpect"),
        ("expect warn msg:", "MalformedExpect"),
        ("expect warn text: x", "MalformedExpect"),
        ("expect fail regex: (", "InvalidRegex"),
        ("expect warn\n  expect no_warn", "ConflictingExpectations"),
        (
            "expect no_info\n  expect info msg: x",
            "ConflictingExpectations",
        ),
        (
            "expect fail\n  expect fail msg: y",
            "ConflictingExpectations",
        ),
        ("expect range vector from 1m to 0 step 1m", "EndBeforeStart"),
        ("expect range vector from 0 to 1m", "MalformedExpect"),
        ("expect range vector from 0 to 1m step x", "InvalidDuration"),
        ("expect string", "InvalidString"),
        ("expect string 'two'", "InvalidString"),
        ("expect string  \"x\"", "InvalidString"),
        ("expect string \"unterminated", "InvalidString"),
        ("a 1 2", "MultipleValuesInInstant"),
    ] {
        let src = format!("eval instant at 0 x\n  {body}\n");
        let e = script_err(&src);
        assert!(format!("{:?}", e.kind()).starts_with(kind), "{body:?}: {e}");
    }
    for (src, kind) in [
        (
            "eval range from 0 to 1m step 1m x\n  expect ordered\n",
            "ConflictingExpectations",
        ),
        (
            "eval range from 0 to 1m step 1m x\n  expect range vector from 0 to 1m step 1m\n",
            "ConflictingExpectations",
        ),
        (
            "eval_warn instant at 0 x\n  expect no_warn\n",
            "ConflictingExpectations",
        ),
        (
            "eval_info instant at 0 x\n  expect no_info\n",
            "ConflictingExpectations",
        ),
        (
            "eval instant at 0 x\n  expect string \"a\"\n  a 1\n",
            "ConflictingExpectations",
        ),
        (
            "eval instant at 0 x\n  a 1\n  2\n",
            "ConflictingExpectations",
        ),
        (
            "eval_fail instant at 0 x\n  expect fail\n  expected_fail_message y\n",
            "ConflictingExpectations",
        ),
    ] {
        let e = script_err(src);
        assert!(format!("{:?}", e.kind()).starts_with(kind), "{src:?}: {e}");
    }
}

#[test]
fn expect_range_vector_overrides_the_instant_time() {
    let e = only_eval(
        "eval instant at 5m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x 1 2 _ 4\n",
    );
    assert_eq!(
        e.range_vector,
        Some(RangeVector {
            start: 10_000,
            end: 60_000,
            step: 10_000
        })
    );
    assert_eq!(e.instant_time(), Some(60_000));
    assert_eq!(expected_series(&e)[0].values.len(), 4);
    // The directive must come before multi-valued lines, as upstream checks in order.
    assert!(
        parse_script(
            "eval instant at 5m x[1m]\n  x 1 2\n  expect range vector from 0 to 1m step 1m\n"
        )
        .is_err()
    );
}

#[test]
fn scalar_and_string_results() {
    for (line, value) in [
        ("3", 3.0),
        ("-5", -5.0),
        ("0.2", 0.2),
        ("12340000", 12_340_000.0),
        ("0x10", 16.0),
        ("010", 8.0),
        ("-Inf", f64::NEG_INFINITY),
        ("+Inf", f64::INFINITY),
        ("1e-5", 1e-5),
    ] {
        let e = only_eval(&format!("eval instant at 0 x\n  {line}\n"));
        assert_eq!(
            e.expected,
            ExpectedResult::Scalar { value, line: 2 },
            "{line}"
        );
    }
    let e = only_eval("eval instant at 0 x\n  NaN\n");
    assert!(matches!(e.expected, ExpectedResult::Scalar { value, .. } if value.is_nan()));
    // A scalar ends the body: what follows must be a command.
    assert!(parse_script("eval instant at 0 x\n  1\n  expect no_warn\n").is_err());
    // Annotations before the scalar are kept.
    let e = only_eval("eval instant at 0 x\n  expect no_warn\n  1\n");
    assert_eq!(e.warnings, AnnotationExpectation::Forbidden);

    for (line, value) in [
        ("expect string \"Foo\"", "Foo"),
        ("expect string `Foo`", "Foo"),
        ("expect string \" Foo \"", " Foo "),
        ("expect string \"\"", ""),
        ("expect string \"a\\tb\\u00e9\"", "a\tbé"),
        ("expect string 'x'", "x"),
    ] {
        let e = only_eval(&format!("eval instant at 0 \"x\"\n\t{line}\n"));
        assert_eq!(
            e.expected,
            ExpectedResult::String {
                value: value.to_owned(),
                line: 2
            },
            "{line}"
        );
    }
}

#[test]
fn expected_series_same_labels_later_wins() {
    let e = only_eval("eval instant at 0 x\n  a 1\n  b 2\n  a 3\n");
    let s = expected_series(&e);
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[1].values.as_slice(), s[1].line),
        ([SequenceValue::Float(3.0)].as_slice(), 4)
    );
}

#[test]
fn bad_eval_lines() {
    for src in [
        "eval\n",
        "eval x\n",
        "EVAL instant at 0 x\n",
        "eval instant 0 x\n",
        "eval instant at 0\n",
        "eval instant at 5 x\n",
        "eval instant at 1m1h x\n",
        "eval range from 1m to 0 step 1m x\n",
        "eval range from 0 to 1m step x\n",
        "eval range from 0 to 1m step 1m\n",
        "eval range from 0 to 1m x\n",
        "eval_foo instant at 0 x\n",
        "evalx instant at 0 x\n",
    ] {
        assert!(parse_script(src).is_err(), "{src:?} accepted");
    }
}

// ---- native-histogram flags on evals ----------------------------------------------------------

#[test]
fn evals_touching_native_histograms_are_flagged() {
    let script = parse_script(
        "load 1m\n  h {{count:1}}\n  f 1\n\n\
         eval instant at 0 f\n  f 1\n\n\
         eval instant at 0 histogram_count(h)\n  {} 1\n\n\
         eval instant at 0 count({job=\"x\"})\n\n\
         eval instant at 0 f\n  f {{count:1}}\n\n\
         clear\n\n\
         eval instant at 0 h\n\n\
         load_with_nhcb 1m\n  cls_bucket{le=\"1\"} 1\n  cls_count 1\n\n\
         eval instant at 0 histogram_quantile(0.5, cls)\n\n\
         eval instant at 0 histogram_quantile(0.5, rate(cls_bucket[1m]))\n",
    )
    .unwrap();
    let flags: Vec<bool> = script.evals().map(|e| e.needs_native_histograms).collect();
    assert_eq!(flags, [false, true, true, true, false, true, false]);
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn errors_print_file_line_column_and_caret() {
    let e = script_err("load 1m\n\tfoo{a=\"b\"} 1 2 Infx3\n").with_file("x.test");
    assert_eq!((e.line(), e.column()), (2, 17));
    assert_eq!(e.file(), Some(std::path::Path::new("x.test")));
    let shown = e.to_string();
    let mut lines = shown.lines();
    assert_eq!(
        lines.next(),
        Some(
            "x.test:2:17: invalid series: unexpected \"Infx3\" in series values, expected a number or \"stale\""
        )
    );
    assert_eq!(lines.next(), Some("     foo{a=\"b\"} 1 2 Infx3"));
    assert_eq!(lines.next(), Some("                    ^"));
    assert_eq!(e.span(), 24..25);

    let e = script_err("eval instant at 1x foo\n");
    assert!(
        e.to_string()
            .starts_with("1:17: invalid evaluation time \"1x\""),
        "{e}"
    );
    assert_eq!(e.span(), 16..18);
}

#[test]
fn parse_script_file_names_the_file() {
    let e = parse_script_file("/nonexistent/dir/x.test").unwrap_err();
    assert!(matches!(e.kind(), ScriptErrorKind::Io(_)));
    assert!(e.to_string().starts_with("/nonexistent/dir/x.test:"), "{e}");
    assert!(std::error::Error::source(&e).is_some());
}

// ---- annotations ------------------------------------------------------------------------------

#[test]
fn annotation_checks() {
    let none: [&str; 0] = [];
    assert_eq!(AnnotationExpectation::Unchecked.check(&["x"]), None);
    assert_eq!(AnnotationExpectation::Forbidden.check(&none), None);
    assert!(AnnotationExpectation::Forbidden.check(&["x"]).is_some());
    let any = AnnotationExpectation::Required { matchers: vec![] };
    assert!(any.check(&none).is_some());
    assert_eq!(any.check(&["x"]), None);
    let two = AnnotationExpectation::Required {
        matchers: vec![
            TextMatch::Exact("a".into()),
            TextMatch::Regex(regex::Regex::new("^b").unwrap()),
        ],
    };
    assert_eq!(two.check(&["a", "bc"]), None);
    assert!(two.check(&["a"]).unwrap().contains("regex: ^b"));
    assert!(two.check(&["a", "bc", "z"]).unwrap().contains("\"z\""));
}

// ---- properties -------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `V+DxN` / `V-DxN` expand to N + 1 values V, V ± D, … (exact for integers), `VxN` to
        /// N + 1 copies, `_xN` to N blanks, and load slot i lands at i × interval.
        #[test]
        fn expansion_arithmetic(v in -1000i32..1000, d in 0i32..1000, n in 0u16..300, gap in 1i64..100_000) {
            let up = floats(&format!("m {v}+{d}x{n}"));
            let down = floats(&format!("m {v}-{d}x{n}"));
            prop_assert_eq!(up.len(), usize::from(n) + 1);
            for (i, (u, w)) in up.iter().zip(&down).enumerate() {
                let i = i as f64;
                prop_assert_eq!(*u, f64::from(v) + i * f64::from(d));
                prop_assert_eq!(*w, f64::from(v) - i * f64::from(d));
            }
            prop_assert_eq!(floats(&format!("m {v}x{n}")), vec![f64::from(v); usize::from(n) + 1]);
            prop_assert_eq!(slots(&format!("m _x{n}")), vec![None; usize::from(n)]);
            let load = only_load(&format!("load {gap}ms\n  m {v} _x{n} {d}\n"));
            let samples = &load.series[0].samples;
            prop_assert_eq!(samples.len(), 2);
            prop_assert_eq!(samples[1].t, (i64::from(n) + 1) * gap);
        }

        /// Any single line in a body position is either read or rejected with a position inside
        /// that line.
        #[test]
        fn error_positions_stay_in_the_line(line in "[ -~]{0,40}") {
            let src = format!("load 1m\n  {line}\n");
            if let Err(e) = parse_script(&src) {
                prop_assert!(e.line() == 2 || e.line() == 1, "{e}");
                prop_assert!(e.span().start <= src.len(), "{e}");
                let _ = e.to_string();
            }
        }
    }
}
