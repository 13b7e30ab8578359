//! The evaluation engine against `MemoryStorage`, one test per feature; expected values are
//! worked out by hand from Prometheus's documented semantics.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use prom_model::value::stale_nan;
use prom_model::{Appendable, Labels, MemoryStorage};
use prom_promql::engine::{Engine, EngineOptions, EvalError, Value};
use prom_promql::parse;

const M: i64 = 60_000;

/// Loads `(series, [(t_ms, v)])` into a fresh storage.
fn storage(data: &[(&str, &[(i64, f64)])]) -> MemoryStorage {
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for (series, samples) in data {
        let labels = labels(series);
        for &(t, v) in *samples {
            app.append(None, &labels, t, v).unwrap();
        }
    }
    app.commit().unwrap();
    drop(app);
    st
}

/// `name{a="b",c="d"}` to labels (no escapes, no spaces).
fn labels(s: &str) -> Labels {
    let (name, rest) = s.split_once('{').unwrap_or((s, "}"));
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    let body = rest.trim_end_matches('}');
    for kv in body.split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        pairs.push((k.into(), v.trim_matches('"').into()));
    }
    pairs.into_iter().collect()
}

/// Every `step` ms from 0 to `end` ms, values from `f(i)`.
fn every(step: i64, end: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
    (0..=end / step).map(|i| (i * step, f(i))).collect()
}

fn instant(st: &MemoryStorage, q: &str, t: i64) -> Vec<(String, f64)> {
    instant_with(&Engine::default(), st, q, t)
}

fn instant_with(engine: &Engine, st: &MemoryStorage, q: &str, t: i64) -> Vec<(String, f64)> {
    let expr = parse(q).unwrap();
    match engine.instant(st, &expr, t).unwrap().value {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> =
                v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        Value::Scalar(v, _) => vec![("scalar".into(), v)],
        other => panic!("unexpected {other:?}"),
    }
}

fn err(st: &MemoryStorage, q: &str, t: i64) -> EvalError {
    Engine::default()
        .instant(st, &parse(q).unwrap(), t)
        .unwrap_err()
}

fn assert_close(got: &[(String, f64)], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for ((gl, gv), (wl, wv)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "got {got:?}");
        let ok =
            (gv.is_nan() && wv.is_nan()) || gv == wv || (gv - wv).abs() <= 1e-9 * wv.abs().max(1.0);
        assert!(ok, "{gl}: got {gv}, want {wv}");
    }
}

fn http() -> MemoryStorage {
    // Counters sampled every minute for 10 minutes: 0, 10, 20, ... per job.
    storage(&[
        (
            r#"http_requests_total{job="api",instance="0"}"#,
            &every(M, 10 * M, |i| i as f64 * 10.0),
        ),
        (
            r#"http_requests_total{job="api",instance="1"}"#,
            &every(M, 10 * M, |i| i as f64 * 20.0),
        ),
        (
            r#"http_requests_total{job="db",instance="0"}"#,
            &every(M, 10 * M, |i| i as f64 * 30.0),
        ),
    ])
}

#[test]
fn scalars_and_strings() {
    let st = MemoryStorage::new();
    assert_close(&instant(&st, "1 + 2 * 3", 0), &[("scalar", 7.0)]);
    assert_close(&instant(&st, "2 ^ 3 ^ 2", 0), &[("scalar", 512.0)]);
    assert_close(&instant(&st, "5 % 3 > bool 1", 0), &[("scalar", 1.0)]);
    assert_close(&instant(&st, "time()", 90_000), &[("scalar", 90.0)]);
    let r = Engine::default()
        .instant(&st, &parse(r#""hello""#).unwrap(), 5)
        .unwrap();
    assert_eq!(r.value, Value::String("hello".into(), 5));
}

#[test]
fn lookback_and_staleness() {
    let st = storage(&[
        ("a", &[(0, 1.0), (60_000, 2.0)]),
        ("b", &[(0, 1.0), (60_000, stale_nan())]),
    ]);
    // Newest sample in (t - 5m, t].
    assert_close(&instant(&st, "a", 60_000), &[("a", 2.0)]);
    assert_close(&instant(&st, "a", 60_000 + 299_999), &[("a", 2.0)]);
    assert!(
        instant(&st, "a", 60_000 + 300_000).is_empty(),
        "sample exactly lookback old is out"
    );
    // A staleness marker as newest sample hides the series at once.
    assert_close(&instant(&st, "b", 30_000), &[("b", 1.0)]);
    assert!(instant(&st, "b", 60_000).is_empty());
    // A shorter lookback.
    let e = Engine::new(EngineOptions::default().lookback_delta(30_000));
    assert!(instant_with(&e, &st, "a", 100_000).is_empty());
}

#[test]
fn offset_and_at() {
    let st = http();
    let want = [(r#"http_requests_total{instance="0", job="api"}"#, 30.0)];
    assert_close(
        &instant(
            &st,
            r#"http_requests_total{job="api",instance="0"} offset 2m"#,
            5 * M,
        ),
        &want,
    );
    assert_close(
        &instant(
            &st,
            r#"http_requests_total{job="api",instance="0"} @ 180"#,
            9 * M,
        ),
        &want,
    );
    // @ end() in a range query pins every step to the end.
    let expr = parse(r#"http_requests_total{job="api",instance="0"} @ end()"#).unwrap();
    let r = Engine::default().range(&st, &expr, 0, 4 * M, M).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert!(m[0].points.iter().all(|p| p.v == 40.0));
    assert_eq!(m[0].points.len(), 5);
}

#[test]
fn matrix_selector_is_left_open() {
    let st = http();
    let expr = parse(r#"http_requests_total{job="api",instance="0"}[2m]"#).unwrap();
    let r = Engine::default().instant(&st, &expr, 4 * M).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    // (2m, 4m]: the sample at 2m is excluded.
    let ts: Vec<i64> = m[0].points.iter().map(|p| p.t).collect();
    assert_eq!(ts, vec![3 * M, 4 * M]);
    assert!(m[0].labels.metric_name().is_some());
}

#[test]
fn subquery_steps_are_aligned_to_absolute_time() {
    let st = storage(&[("x", &every(10_000, 10 * M, |i| i as f64))]);
    // Window (70s - 60s, 70s] at 20s steps: 20s, 40s, 60s.
    assert_close(
        &instant(&st, "count_over_time(x[60s:20s])", 70_000),
        &[("{}", 3.0)],
    );
    assert_close(
        &instant(&st, "sum_over_time(x[60s:20s])", 70_000),
        &[("{}", 2.0 + 4.0 + 6.0)],
    );
    // last_over_time keeps the name.
    assert_close(
        &instant(&st, "last_over_time(x[1m:30s])", 75_000),
        &[("x", 6.0)],
    );
}

#[test]
fn range_query_result() {
    let st = http();
    let expr = parse(r#"sum(http_requests_total)"#).unwrap();
    let r = Engine::default().range(&st, &expr, 0, 2 * M, M).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    let pts: Vec<(i64, f64)> = m[0].points.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(pts, vec![(0, 0.0), (M, 60.0), (2 * M, 120.0)]);
    let bad = parse("http_requests_total[5m]").unwrap();
    assert!(Engine::default().range(&st, &bad, 0, M, M).is_err());
    assert!(Engine::default().range(&st, &expr, 0, M, 0).is_err());
}

#[test]
fn arithmetic_and_name_dropping() {
    let st = http();
    assert_close(
        &instant(&st, r#"http_requests_total{job="db"} * 2"#, 5 * M),
        &[(r#"{instance="0", job="db"}"#, 300.0)],
    );
    assert_close(
        &instant(&st, r#"-http_requests_total{job="db"}"#, 5 * M),
        &[(r#"{instance="0", job="db"}"#, -150.0)],
    );
    // Comparisons without bool filter and keep the name; with bool they return 0/1.
    assert_close(
        &instant(&st, r#"http_requests_total > 100"#, 5 * M),
        &[(r#"http_requests_total{instance="0", job="db"}"#, 150.0)],
    );
    assert_close(
        &instant(&st, r#"http_requests_total{job="db"} > bool 200"#, 5 * M),
        &[(r#"{instance="0", job="db"}"#, 0.0)],
    );
    // Scalar on the left of a comparison: the vector's value is kept.
    assert_close(
        &instant(&st, r#"100 < http_requests_total"#, 5 * M),
        &[(r#"http_requests_total{instance="0", job="db"}"#, 150.0)],
    );
}

#[test]
fn vector_matching() {
    let st = storage(&[
        (r#"req{job="a",method="get"}"#, &[(0, 10.0)]),
        (r#"req{job="a",method="post"}"#, &[(0, 20.0)]),
        (r#"req{job="b",method="get"}"#, &[(0, 30.0)]),
        (r#"limit{job="a",team="x"}"#, &[(0, 100.0)]),
        (r#"limit{job="b",team="y"}"#, &[(0, 200.0)]),
    ]);
    assert_close(
        &instant(&st, r#"req / on(job) group_left(team) limit"#, 0),
        &[
            (r#"{job="a", method="get", team="x"}"#, 0.1),
            (r#"{job="a", method="post", team="x"}"#, 0.2),
            (r#"{job="b", method="get", team="y"}"#, 0.15),
        ],
    );
    assert_close(
        &instant(&st, r#"limit - on(job) group_right req"#, 0),
        &[
            (r#"{job="a", method="get"}"#, 90.0),
            (r#"{job="a", method="post"}"#, 80.0),
            (r#"{job="b", method="get"}"#, 170.0),
        ],
    );
    assert_close(
        &instant(
            &st,
            r#"sum by (job) (req) + ignoring(team) sum by (job, team) (limit)"#,
            0,
        ),
        &[(r#"{job="a"}"#, 130.0), (r#"{job="b"}"#, 230.0)],
    );
    let e = err(&st, r#"req + on(job) limit"#, 0);
    assert!(matches!(e, EvalError::ManyToMany(_)), "{e}");
    assert!(e.to_string().starts_with(
        r#"found duplicate series for the match group {job="a"} on the left hand-side of the operation: [{__name__="req", job="a", method="get"}, {__name__="req", job="a", method="post"}]"#
    ), "{e}");
    let e = err(&st, r#"limit + on(job) req"#, 0);
    assert!(e.to_string().contains("on the right hand-side"), "{e}");
}

#[test]
fn set_operators() {
    let st = http();
    let t = 5 * M;
    assert_close(
        &instant(
            &st,
            r#"http_requests_total and on(job) http_requests_total{instance="1"}"#,
            t,
        ),
        &[
            (r#"http_requests_total{instance="0", job="api"}"#, 50.0),
            (r#"http_requests_total{instance="1", job="api"}"#, 100.0),
        ],
    );
    assert_close(
        &instant(
            &st,
            r#"http_requests_total unless on(job) http_requests_total{instance="1"}"#,
            t,
        ),
        &[(r#"http_requests_total{instance="0", job="db"}"#, 150.0)],
    );
    assert_close(
        &instant(&st, r#"http_requests_total{job="db"} or vector(1)"#, t),
        &[
            (r#"http_requests_total{instance="0", job="db"}"#, 150.0),
            ("{}", 1.0),
        ],
    );
}

#[test]
fn duplicate_labelsets_are_an_error() {
    let st = storage(&[
        ("a_total{x=\"1\"}", &[(0, 1.0)]),
        ("b_total{x=\"1\"}", &[(0, 2.0)]),
    ]);
    let e = err(&st, r#"{x="1"} * 2"#, 0);
    assert_eq!(
        e.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn aggregations() {
    let st = http();
    let t = 5 * M;
    assert_close(
        &instant(&st, "sum(http_requests_total)", t),
        &[("{}", 300.0)],
    );
    assert_close(
        &instant(&st, "sum by (job) (http_requests_total)", t),
        &[(r#"{job="api"}"#, 150.0), (r#"{job="db"}"#, 150.0)],
    );
    assert_close(
        &instant(&st, "avg without (instance) (http_requests_total)", t),
        &[(r#"{job="api"}"#, 75.0), (r#"{job="db"}"#, 150.0)],
    );
    assert_close(
        &instant(&st, "count(http_requests_total)", t),
        &[("{}", 3.0)],
    );
    assert_close(
        &instant(&st, "min(http_requests_total)", t),
        &[("{}", 50.0)],
    );
    assert_close(
        &instant(&st, "max(http_requests_total)", t),
        &[("{}", 150.0)],
    );
    assert_close(
        &instant(&st, "group(http_requests_total)", t),
        &[("{}", 1.0)],
    );
    // Values 50, 100, 150: population variance 5000/3.
    assert_close(
        &instant(&st, "stdvar(http_requests_total)", t),
        &[("{}", 5000.0 / 3.0)],
    );
    assert_close(
        &instant(&st, "stddev(http_requests_total)", t),
        &[("{}", (5000.0f64 / 3.0).sqrt())],
    );
    assert_close(
        &instant(&st, "quantile(0.25, http_requests_total)", t),
        &[("{}", 75.0)],
    );
    assert_close(
        &instant(&st, "topk(1, http_requests_total)", t),
        &[(r#"http_requests_total{instance="0", job="db"}"#, 150.0)],
    );
    assert_close(
        &instant(&st, "bottomk by (job) (1, http_requests_total)", t),
        &[
            (r#"http_requests_total{instance="0", job="api"}"#, 50.0),
            (r#"http_requests_total{instance="0", job="db"}"#, 150.0),
        ],
    );
    assert_close(
        &instant(&st, r#"count_values("v", http_requests_total / 50)"#, t),
        &[
            (r#"{v="1"}"#, 1.0),
            (r#"{v="2"}"#, 1.0),
            (r#"{v="3"}"#, 1.0),
        ],
    );
    assert_eq!(instant(&st, "limitk(2, http_requests_total)", t).len(), 2);
    assert_eq!(
        instant(&st, "limit_ratio(1, http_requests_total)", t).len(),
        3
    );
    assert!(instant(&st, "limit_ratio(0, http_requests_total)", t).is_empty());
    assert_eq!(
        err(&st, "topk(NaN, http_requests_total)", t).to_string(),
        "Parameter value is NaN"
    );
}

#[test]
fn math_functions() {
    let st = storage(&[("g", &[(0, -2.5)])]);
    let v = |q: &str| instant(&st, q, 0)[0].1;
    assert_eq!(v("abs(g)"), 2.5);
    assert_eq!(v("ceil(g)"), -2.0);
    assert_eq!(v("floor(g)"), -3.0);
    assert_eq!(v("round(g)"), -2.0, "round half up");
    assert_eq!(v("round(g, 2)"), -2.0);
    assert_eq!(v("sgn(g)"), -1.0);
    assert_eq!(v("clamp(g, -1, 1)"), -1.0);
    assert_eq!(v("clamp_min(g, 0)"), 0.0);
    assert_eq!(v("clamp_max(g, -3)"), -3.0);
    assert!(
        instant(&st, "clamp(g, 1, -1)", 0).is_empty(),
        "max < min yields nothing"
    );
    assert_eq!(v("exp(abs(g) - 2.5)"), 1.0);
    assert_eq!(v("sqrt(abs(g) * 10 - 9)"), 4.0);
    assert_eq!(v("deg(g * 0 + pi())"), 180.0);
    assert_eq!(v("scalar(g)"), -2.5);
    assert_eq!(instant(&st, "vector(3)", 0), vec![("{}".to_owned(), 3.0)]);
    assert_eq!(instant(&st, "timestamp(g)", 30_000)[0].1, 0.0);
}

#[test]
fn calendar_functions() {
    let st = MemoryStorage::new();
    // 2024-02-29T13:45:00Z, a Thursday.
    let t = 1_709_214_300_000;
    let v = |q: &str| instant(&st, q, t)[0].1;
    assert_eq!(v("year()"), 2024.0);
    assert_eq!(v("month()"), 2.0);
    assert_eq!(v("day_of_month()"), 29.0);
    assert_eq!(v("day_of_week()"), 4.0);
    assert_eq!(v("day_of_year()"), 60.0);
    assert_eq!(v("days_in_month()"), 29.0);
    assert_eq!(v("hour()"), 13.0);
    assert_eq!(v("minute()"), 45.0);
    assert_eq!(v("year(vector(0))"), 1970.0);
}

#[test]
fn counter_functions() {
    let st = storage(&[
        ("c_total", &every(M, 10 * M, |i| i as f64 * 60.0)),
        (
            "reset_total",
            &[(0, 10.0), (M, 20.0), (2 * M, 5.0), (3 * M, 15.0)],
        ),
        ("gauge", &[(0, 1.0), (M, 3.0), (2 * M, 2.0), (3 * M, 6.0)]),
    ]);
    let v = |q: &str, t: i64| instant(&st, q, t)[0].1;
    // One per second, exactly; the window (5m, 10m] holds 5 samples spanning 4m, extrapolated
    // to the 5m range.
    assert_eq!(v("rate(c_total[5m])", 10 * M), 1.0);
    assert_eq!(v("increase(c_total[5m])", 10 * M), 300.0);
    assert_eq!(v("irate(c_total[5m])", 10 * M), 1.0);
    // Reset: 10, 20, 5, 15 -> increase of 10 + 5 + 10 over 3m, extrapolated to 4m window
    // start (half an interval capped by the zero point) and end.
    assert_eq!(v("resets(reset_total[10m])", 3 * M), 1.0);
    assert_eq!(v("changes(gauge[10m])", 3 * M), 3.0);
    assert_eq!(v("idelta(gauge[10m])", 3 * M), 4.0);
    assert_eq!(v("irate(reset_total[10m])", 3 * M), 10.0 / 60.0);
    assert_eq!(v("deriv(c_total[5m])", 10 * M), 1.0);
    assert_eq!(v("predict_linear(c_total[5m], 60)", 10 * M), 660.0);
    // delta of a gauge: 6 - 3 over samples 1m..3m (left-open window (0, 3m]); the gap to the
    // window start (1m) is under 1.1 sample intervals, so it is extrapolated in full:
    // 3 * (2m + 1m) / 2m.
    assert_eq!(v("delta(gauge[3m])", 3 * M), 4.5);
    assert!(
        instant(&st, "rate(c_total[30s])", 10 * M).is_empty(),
        "one sample is not enough"
    );
}

#[test]
fn over_time_functions() {
    let st = storage(&[("g", &[(M, 1.0), (2 * M, 4.0), (3 * M, 2.0), (4 * M, 3.0)])]);
    let v = |q: &str| instant(&st, q, 4 * M)[0].1;
    assert_eq!(v("avg_over_time(g[5m])"), 2.5);
    assert_eq!(v("min_over_time(g[5m])"), 1.0);
    assert_eq!(v("max_over_time(g[5m])"), 4.0);
    assert_eq!(v("sum_over_time(g[5m])"), 10.0);
    assert_eq!(v("count_over_time(g[5m])"), 4.0);
    assert_eq!(v("last_over_time(g[5m])"), 3.0);
    assert_eq!(v("present_over_time(g[5m])"), 1.0);
    assert_eq!(v("quantile_over_time(0.5, g[5m])"), 2.5);
    assert_eq!(v("stdvar_over_time(g[5m])"), 1.25);
    assert_eq!(v("stddev_over_time(g[5m])"), 1.25f64.sqrt());
    // Median 2.5; deviations 1.5, 1.5, 0.5, 0.5 -> median 1.
    assert_eq!(v("mad_over_time(g[5m])"), 1.0);
    // Window (2m, 4m] only.
    assert_eq!(v("count_over_time(g[2m])"), 2.0);
    assert_eq!(instant(&st, "max_over_time(g[5m])", 4 * M)[0].0, "{}");
    assert_eq!(instant(&st, "last_over_time(g[5m])", 4 * M)[0].0, "g");
}

#[test]
fn absent_functions() {
    let st = storage(&[("g", &[(0, 1.0)])]);
    assert!(instant(&st, "absent(g)", 0).is_empty());
    assert_close(
        &instant(&st, r#"absent(nope{job="x",a=~"y"})"#, 0),
        &[(r#"{job="x"}"#, 1.0)],
    );
    assert_close(
        &instant(&st, r#"absent_over_time(nope{job="x"}[1m])"#, 0),
        &[(r#"{job="x"}"#, 1.0)],
    );
    assert!(instant(&st, "absent_over_time(g[1m])", 30_000).is_empty());
}

#[test]
fn classic_histograms() {
    let st = storage(&[
        (r#"h_bucket{le="0.1"}"#, &[(0, 10.0)]),
        (r#"h_bucket{le="0.5"}"#, &[(0, 30.0)]),
        (r#"h_bucket{le="1"}"#, &[(0, 40.0)]),
        (r#"h_bucket{le="+Inf"}"#, &[(0, 40.0)]),
    ]);
    // Rank 20 falls in (0.1, 0.5] holding 20: halfway.
    assert_close(
        &instant(&st, "histogram_quantile(0.5, h_bucket)", 0),
        &[("{}", 0.3)],
    );
    // Rank 40 in the last finite bucket: its upper bound interpolated at full.
    assert_close(
        &instant(&st, "histogram_quantile(1, h_bucket)", 0),
        &[("{}", 1.0)],
    );
    assert_close(
        &instant(&st, "histogram_quantile(2, h_bucket)", 0),
        &[("{}", f64::INFINITY)],
    );
    // (0.1, 0.5] holds 20 of 40.
    assert_close(
        &instant(&st, "histogram_fraction(0.1, 0.5, h_bucket)", 0),
        &[("{}", 0.5)],
    );
    let r = Engine::default()
        .instant(&st, &parse("histogram_quantile(2, h_bucket)").unwrap(), 0)
        .unwrap();
    assert_eq!(
        r.warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)"]
    );
}

#[test]
fn label_functions_and_sorting() {
    let st = storage(&[
        (r#"up{instance="host:9090",n="10"}"#, &[(0, 2.0)]),
        (r#"up{instance="db:9100",n="9"}"#, &[(0, 1.0)]),
    ]);
    assert_close(
        &instant(
            &st,
            r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
            0,
        ),
        &[
            (r#"up{host="db", instance="db:9100", n="9"}"#, 1.0),
            (r#"up{host="host", instance="host:9090", n="10"}"#, 2.0),
        ],
    );
    assert_close(
        &instant(
            &st,
            r#"label_join(up{n="9"}, "x", "-", "n", "instance")"#,
            0,
        ),
        &[(r#"up{instance="db:9100", n="9", x="9-db:9100"}"#, 1.0)],
    );
    let order = |q: &str| -> Vec<f64> {
        let Value::Vector(v) = Engine::default()
            .instant(&st, &parse(q).unwrap(), 0)
            .unwrap()
            .value
        else {
            panic!()
        };
        v.iter().map(|s| s.v).collect()
    };
    assert_eq!(order("sort(up)"), vec![1.0, 2.0]);
    assert_eq!(order("sort_desc(up)"), vec![2.0, 1.0]);
    assert_eq!(
        order(r#"sort_by_label(up, "n")"#),
        vec![1.0, 2.0],
        "natural order: 9 < 10"
    );
    assert_eq!(order(r#"sort_by_label_desc(up, "n")"#), vec![2.0, 1.0]);
}

#[test]
fn double_exponential_smoothing() {
    let st = storage(&[(
        "g",
        &every(M, 4 * M, |i| [1.0, 2.0, 4.0, 8.0, 16.0][i as usize]),
    )]);
    // s1 = 1, b = 1; then x_i = sf*v + (1-sf)*(s + b), b = tf*(s - s_prev) + (1-tf)*b.
    let (sf, tf) = (0.5, 0.5);
    let v = [1.0, 2.0, 4.0, 8.0, 16.0];
    let (mut s0, mut s1, mut b) = (0.0, v[0], v[1] - v[0]);
    for (i, x) in v.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * x + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    assert_close(
        &instant(&st, "double_exponential_smoothing(g[10m], 0.5, 0.5)", 4 * M),
        &[("{}", s1)],
    );
    assert!(
        err(&st, "double_exponential_smoothing(g[10m], 1, 0.5)", 4 * M)
            .to_string()
            .starts_with("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000")
    );
}

#[test]
fn annotations() {
    let st = storage(&[("requests", &every(M, 5 * M, |i| i as f64))]);
    let r = Engine::default()
        .instant(&st, &parse("rate(requests[5m])").unwrap(), 5 * M)
        .unwrap();
    assert_eq!(
        r.infos,
        vec![
            r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "requests" (1:6)"#
        ]
    );
    let r = Engine::default()
        .range(&st, &parse("sort(requests)").unwrap(), 0, M, M)
        .unwrap();
    assert_eq!(r.warnings.len(), 1);
}

#[test]
fn limits() {
    let st = http();
    let e = Engine::new(EngineOptions::default().max_samples(10));
    let expr = parse("sum_over_time(http_requests_total[10m])").unwrap();
    assert!(matches!(
        e.instant(&st, &expr, 10 * M),
        Err(EvalError::TooManySamples(_))
    ));
    assert!(Engine::default().instant(&st, &expr, 10 * M).is_ok());

    let flag = Arc::new(AtomicBool::new(true));
    let e = Engine::new(EngineOptions::default().cancel(flag));
    assert!(matches!(
        e.instant(&st, &expr, 10 * M),
        Err(EvalError::Canceled(_))
    ));

    let e = Engine::new(EngineOptions::default().timeout(std::time::Duration::ZERO));
    assert!(matches!(
        e.instant(&st, &expr, 10 * M),
        Err(EvalError::Timeout(_))
    ));
}

#[test]
fn fill_modifiers() {
    let st = storage(&[
        (r#"l{k="a"}"#, &[(0, 1.0)]),
        (r#"l{k="b"}"#, &[(0, 2.0)]),
        (r#"r{k="a"}"#, &[(0, 10.0)]),
        (r#"r{k="c"}"#, &[(0, 30.0)]),
    ]);
    assert_close(
        &instant(&st, "l + fill(0) r", 0),
        &[
            (r#"{k="a"}"#, 11.0),
            (r#"{k="b"}"#, 2.0),
            (r#"{k="c"}"#, 30.0),
        ],
    );
    assert_close(
        &instant(&st, "l + fill_left(100) r", 0),
        &[(r#"{k="a"}"#, 11.0), (r#"{k="c"}"#, 130.0)],
    );
    assert_close(
        &instant(&st, "l + fill_right(100) r", 0),
        &[(r#"{k="a"}"#, 11.0), (r#"{k="b"}"#, 102.0)],
    );
}

#[test]
fn anchored_and_smoothed_ranges() {
    // Every 15s: 1, 2, 3, 4, 5, then 9, 10, ...
    let st = storage(&[(
        "m",
        &every(15_000, 135_000, |i| {
            if i < 5 {
                (i + 1) as f64
            } else {
                (i + 4) as f64
            }
        }),
    )]);
    // Window (20s, 80s]: anchored takes the sample at 15s (2) as its start; 9 at 75s is last.
    assert_close(
        &instant(&st, "increase(m[1m] anchored)", 80_000),
        &[("{}", 7.0)],
    );
    // Smoothed: 2.333 at 20s and 9.333 at 80s, interpolated.
    assert_close(
        &instant(&st, "increase(m[1m] smoothed)", 80_000),
        &[("{}", 7.0)],
    );
    assert_close(
        &instant(&st, "increase(m[1m] smoothed)", 20_000),
        &[("{}", 4.0 / 3.0)],
    );
    assert_close(
        &instant(&st, "m smoothed", 20_000),
        &[("m", 2.0 + 1.0 / 3.0)],
    );
    assert!(
        err(&st, "max_over_time(m[1m] smoothed)", 0)
            .to_string()
            .contains("smoothed modifier can only be used with: delta, increase, rate - not with max_over_time")
    );
}

#[test]
fn info_function() {
    let st = storage(&[
        (r#"up{instance="a",job="j"}"#, &[(0, 1.0)]),
        (r#"up{instance="b",job="j"}"#, &[(0, 0.0)]),
        (
            r#"target_info{instance="a",job="j",version="1.2"}"#,
            &[(0, 1.0)],
        ),
    ]);
    assert_close(
        &instant(&st, "info(up)", 0),
        &[
            (r#"up{instance="a", job="j", version="1.2"}"#, 1.0),
            (r#"up{instance="b", job="j"}"#, 0.0),
        ],
    );
    // A data matcher that rejects the empty value drops series without info.
    assert_close(
        &instant(&st, r#"info(up, {version=~".+"})"#, 0),
        &[(r#"up{instance="a", job="j", version="1.2"}"#, 1.0)],
    );
}

#[test]
fn histogram_quantiles_adds_a_label_per_quantile() {
    let st = storage(&[
        (r#"h_bucket{le="1"}"#, &[(0, 5.0)]),
        (r#"h_bucket{le="2"}"#, &[(0, 10.0)]),
        (r#"h_bucket{le="+Inf"}"#, &[(0, 10.0)]),
    ]);
    assert_close(
        &instant(&st, r#"histogram_quantiles(h_bucket, "q", 0.5, 0.75)"#, 0),
        &[(r#"{q="0.5"}"#, 1.0), (r#"{q="0.75"}"#, 1.5)],
    );
}

/// Found by the differential test against Prometheus: duplicates made by `label_replace` are
/// an error wherever the call sits, not only at the top of the query.
#[test]
fn label_replace_duplicates_fail_even_when_nested() {
    let st = storage(&[("m{i=\"1\"}", &[(0, 1.0)]), ("m{i=\"2\"}", &[(0, 2.0)])]);
    let expr = parse(r#"sum(label_replace(m, "i", "", "i", ".*"))"#).unwrap();
    assert!(matches!(
        Engine::default().instant(&st, &expr, 0),
        Err(EvalError::DuplicateLabelset)
    ));
    // Without the collision it answers.
    assert_eq!(
        instant(&st, r#"sum(label_replace(m, "j", "$1", "i", "(.*)"))"#, 0),
        [("{}".to_string(), 3.0)]
    );
}

/// Found by the differential test against Prometheus: a filtering comparison under
/// `group_right` returns the right operand's series with their metric name, whatever the
/// left operand went through.
#[test]
fn filtering_group_right_keeps_the_many_sides_name() {
    let st = storage(&[
        ("up{job=\"a\"}", &[(0, 1.0)]),
        ("req{job=\"a\",code=\"200\"}", &[(0, 5.0)]),
        ("req{job=\"a\",code=\"500\"}", &[(0, 7.0)]),
    ]);
    assert_eq!(
        instant(&st, "abs(up) < ignoring (code) group_right req", 0),
        [
            ("req{code=\"200\", job=\"a\"}".to_string(), 1.0),
            ("req{code=\"500\", job=\"a\"}".to_string(), 1.0)
        ]
    );
}
