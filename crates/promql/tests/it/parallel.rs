//! Range functions split over threads give exactly what one thread gives.

use prom_model::value::stale_nan;
use prom_model::{Appendable, Labels, MemoryStorage};
use prom_promql::engine::{Engine, EngineOptions, QueryResult, Value};
use prom_promql::parse;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 400 counters and gauges over two hours at irregular intervals, with counter resets,
/// repeated values, NaNs, gaps and staleness markers.
fn random_storage(seed: u64) -> MemoryStorage {
    let mut rng = Rng(seed);
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for s in 0..400 {
        let name = if s % 2 == 0 { "req_total" } else { "temp" };
        let inst = format!("i{s}");
        let job = format!("j{}", s % 7);
        let labels = Labels::from_pairs(&[("__name__", name), ("instance", &inst), ("job", &job)]);
        let (mut t, mut c) = (rng.below(15_000) as i64, 0.0f64);
        while t < 2 * 3_600_000 {
            let v = match rng.below(100) {
                0 => f64::NAN,
                1 => stale_nan(),
                2..=4 => {
                    c = (rng.below(10)) as f64;
                    c
                }
                5..=20 => c,
                _ if s % 2 == 0 => {
                    c += rng.below(1000) as f64 / 10.0;
                    c
                }
                _ => (rng.below(2_000_001) as f64 - 1e6) / 1e3,
            };
            app.append(None, &labels, t, v).unwrap();
            // Mostly 15 s apart, sometimes jittered, sometimes a long gap.
            t += match rng.below(20) {
                0 => 600_000 + rng.below(300_000) as i64,
                1..=4 => 1 + rng.below(30_000) as i64,
                _ => 15_000,
            };
        }
    }
    app.commit().unwrap();
    drop(app);
    st
}

/// The result with every float as its bits, so NaNs compare too.
fn bits(r: &QueryResult) -> String {
    let mut out = String::new();
    match &r.value {
        Value::Matrix(m) => {
            for s in m {
                out.push_str(&s.labels.to_string());
                for p in &s.points {
                    out.push_str(&format!(" {}:{:x}", p.t, p.v.to_bits()));
                }
                out.push('\n');
            }
        }
        Value::Vector(v) => {
            for s in v {
                out.push_str(&format!("{} {}:{:x}\n", s.labels, s.t, s.v.to_bits()));
            }
        }
        other => out.push_str(&format!("{other:?}")),
    }
    out.push_str(&format!("{:?} {:?}", r.warnings, r.infos));
    out
}

/// Fails naming the first line (series) where the two results differ.
fn assert_same(a: &QueryResult, b: &QueryResult, what: &str) {
    let (a, b) = (bits(a), bits(b));
    if let Some((x, y)) = a.lines().zip(b.lines()).find(|(x, y)| x != y) {
        let cut = |s: &str| s.chars().take(400).collect::<String>();
        panic!("{what}: serial\n{}\nparallel\n{}", cut(x), cut(y));
    }
    assert_eq!(a.lines().count(), b.lines().count(), "{what}: series count");
}

const QUERIES: &[&str] = &[
    "rate(req_total[5m])",
    "increase(req_total[10m])",
    "delta(temp[5m])",
    "irate(req_total[5m])",
    "idelta(temp[5m])",
    "resets(req_total[15m])",
    "changes(temp[15m])",
    "deriv(temp[10m])",
    "predict_linear(temp[10m], 600)",
    "avg_over_time(temp[10m])",
    "sum_over_time(temp[10m])",
    "count_over_time(temp[10m])",
    "present_over_time(temp[10m])",
    "last_over_time(temp[10m])",
    "first_over_time(temp[10m])",
    "ts_of_last_over_time(temp[10m])",
    "ts_of_first_over_time(temp[10m])",
    "min_over_time(temp[10m])",
    "max_over_time(temp[10m])",
    "ts_of_min_over_time(temp[10m])",
    "ts_of_max_over_time(temp[10m])",
    "stddev_over_time(temp[10m])",
    "stdvar_over_time(temp[10m])",
    "quantile_over_time(0.9, temp[10m])",
    "mad_over_time(temp[10m])",
    "double_exponential_smoothing(temp[10m], 0.3, 0.6)",
    "rate(temp[5m])",
    "max_over_time(rate(req_total[5m])[30m:1m])",
    "sum by (job) (rate(req_total[5m]))",
    "avg_over_time(temp[10m] offset 3m)",
    "max_over_time(temp[10m] @ 3600)",
];

#[test]
fn parallel_range_functions_match_serial() {
    let st = random_storage(7);
    let serial = Engine::new(EngineOptions::default().parallelism(1));
    let parallel = Engine::new(EngineOptions::default().parallelism(4));
    for q in QUERIES {
        let expr = parse(q).unwrap();
        for step in [15_000, 60_000] {
            let a = serial.range(&st, &expr, 0, 2 * 3_600_000, step).unwrap();
            let b = parallel.range(&st, &expr, 0, 2 * 3_600_000, step).unwrap();
            let Value::Matrix(m) = &a.value else {
                panic!("{q}: a matrix")
            };
            assert!(m.len() >= 7, "{q}: only {} series", m.len());
            assert_same(&a, &b, &format!("{q} step {step}"));
        }
        let a = serial.instant(&st, &expr, 3_600_000).unwrap();
        let b = parallel.instant(&st, &expr, 3_600_000).unwrap();
        assert_same(&a, &b, &format!("{q} instant"));
    }
}

#[test]
fn parallel_evaluation_keeps_the_sample_limit() {
    let st = random_storage(11);
    let expr = parse("count_over_time(temp[10m])").unwrap();
    for threads in [1, 4] {
        // 200 series, 481 steps: far more output points than allowed.
        let engine = Engine::new(
            EngineOptions::default()
                .parallelism(threads)
                .max_samples(60_000),
        );
        let r = engine.range(&st, &expr, 0, 2 * 3_600_000, 15_000);
        assert!(
            matches!(r, Err(prom_promql::engine::EvalError::TooManySamples(_))),
            "{threads} threads: {r:?}"
        );
    }
}

/// Folding aggregations of range functions and selectors, which fold each series as it is
/// read: on one thread, on two (whole groups per thread when there are enough of them) and on
/// four (series read in parallel and folded on one thread when groups are few), against the
/// plain per-step fold of the inner expression's own result.
#[test]
fn fused_aggregations_match_serial_and_reference() {
    let st = random_storage(5);
    let engines: Vec<Engine> = [1, 2, 4]
        .into_iter()
        .map(|t| Engine::new(EngineOptions::default().parallelism(t)))
        .collect();
    let inners = [
        "rate(req_total[5m])",
        "increase(req_total[10m])",
        "changes(temp[10m])",
        "avg_over_time(temp[10m])",
        "max_over_time(temp[10m] offset 3m)",
        "last_over_time(temp[10m])",
        "temp",
        "req_total offset 2m",
    ];
    let ops = [
        "sum", "avg", "count", "group", "min", "max", "stddev", "stdvar",
    ];
    // By job: 7 groups; without instance: the same 7 with the metric name dropped; by
    // instance: 200 groups of one series; no grouping: one group.
    let groupings = [" by (job)", " without (instance)", " by (instance)", ""];
    for inner in inners {
        let inner_expr = parse(inner).unwrap();
        for step in [60_000i64] {
            let end = 2 * 3_600_000;
            let n = (end / step) as usize + 1;
            let r = engines[0].range(&st, &inner_expr, 0, end, step).unwrap();
            let Value::Matrix(m) = r.value else { panic!() };
            // Each step's input in label order (the metric name of `req_total` and `temp` is
            // the same within a query, so the output's order is the input's).
            let mut steps: Vec<Vec<(&Labels, f64)>> = vec![Vec::new(); n];
            for s in &m {
                for p in &s.points {
                    steps[(p.t / step) as usize].push((&s.labels, p.v));
                }
            }
            for op in ops {
                for g in groupings {
                    let q = format!("{op}{g}({inner})");
                    let expr = parse(&q).unwrap();
                    let results: Vec<QueryResult> = engines
                        .iter()
                        .map(|e| e.range(&st, &expr, 0, end, step).unwrap())
                        .collect();
                    for (k, r) in results.iter().enumerate().skip(1) {
                        assert_same(&results[0], r, &format!("{q} step {step} engine {k}"));
                    }
                    let key = |l: &Labels| -> Labels {
                        match g {
                            " by (job)" => l
                                .iter()
                                .filter(|x| x.name == "job")
                                .map(|x| (x.name, x.value))
                                .collect(),
                            " by (instance)" => l
                                .iter()
                                .filter(|x| x.name == "instance")
                                .map(|x| (x.name, x.value))
                                .collect(),
                            " without (instance)" => l
                                .iter()
                                .filter(|x| x.name != "instance" && x.name != "__name__")
                                .map(|x| (x.name, x.value))
                                .collect(),
                            _ => Labels::new(),
                        }
                    };
                    let mut want: std::collections::BTreeMap<Labels, Vec<(i64, u64)>> =
                        Default::default();
                    for (i, vals) in steps.iter().enumerate() {
                        let mut groups: Vec<(Labels, Vec<f64>)> = Vec::new();
                        for (l, v) in vals {
                            let k = key(l);
                            match groups.iter_mut().find(|x| x.0 == k) {
                                Some(x) => x.1.push(*v),
                                None => groups.push((k, vec![*v])),
                            }
                        }
                        for (k, vs) in groups {
                            let v = super::aggregate::fold(op, &vs);
                            want.entry(k)
                                .or_default()
                                .push((i as i64 * step, v.to_bits()));
                        }
                    }
                    let Value::Matrix(got) = &results[0].value else {
                        panic!()
                    };
                    assert_eq!(got.len(), want.len(), "{q} step {step}: series");
                    for (s, (wl, wp)) in got.iter().zip(&want) {
                        assert_eq!(&s.labels, wl, "{q} step {step}");
                        let gp: Vec<(i64, u64)> =
                            s.points.iter().map(|p| (p.t, p.v.to_bits())).collect();
                        assert_eq!(&gp, wp, "{q} step {step} {wl}");
                    }
                }
            }
        }
    }
}

/// A range function of a matrix selector is evaluated series by series as each series is
/// read, unless the samples read could break the sample limit, when the plain path (every
/// series loaded, then evaluated) runs instead. With a limit below the samples read but above
/// what the plain path counts (the busiest step's windows and the output points), the plain
/// path answers; it must give what the series-by-series path gives, to the bit, on one thread
/// and on four.
#[test]
fn range_functions_read_series_by_series_match_the_plain_path() {
    let st = random_storage(13);
    let (end, step) = (2 * 3_600_000i64, 120_000i64);
    let fused: Vec<Engine> = [1, 4]
        .into_iter()
        .map(|t| Engine::new(EngineOptions::default().parallelism(t)))
        .collect();
    let mut checked = 0;
    for q in QUERIES {
        let expr = parse(q).unwrap();
        let prom_promql::ast::Expr::Call(c) = &expr else {
            continue;
        };
        let [prom_promql::ast::Expr::MatrixSelector(ms)] = c.args.as_slice() else {
            continue;
        };
        if ms.selector.offset.is_some() || ms.selector.at.is_some() {
            continue;
        }
        // The samples the query reads: those in (-range, end].
        let range = prom_promql::ast::Expr::MatrixSelector(ms.clone()).to_string();
        let range = &range[range.rfind('[').unwrap()..];
        let window = format!("{}ms", end + parse_ms(&range[1..range.len() - 1]));
        let selector = ms.selector.to_string();
        let count = parse(&format!("sum(count_over_time({selector}[{window}]))")).unwrap();
        let r = fused[0].instant(&st, &count, end).unwrap();
        let Value::Vector(v) = &r.value else { panic!() };
        let loaded = v[0].v as usize;
        let plain = Engine::new(
            EngineOptions::default()
                .parallelism(4)
                .max_samples(loaded - 1),
        );
        let want = plain
            .range(&st, &expr, 0, end, step)
            .unwrap_or_else(|e| panic!("{q}: the plain path under a limit of {}: {e}", loaded - 1));
        let Value::Matrix(m) = &want.value else {
            panic!("{q}: a matrix")
        };
        assert!(m.len() >= 7, "{q}: only {} series", m.len());
        for (k, e) in fused.iter().enumerate() {
            let got = e.range(&st, &expr, 0, end, step).unwrap();
            assert_same(&want, &got, &format!("{q} engine {k}"));
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} queries checked");
}

/// `5m`, `10m`, `15m` as milliseconds.
fn parse_ms(d: &str) -> i64 {
    let minutes: i64 = d.trim_end_matches('m').parse().unwrap();
    minutes * 60_000
}
