//! Aggregation operators against a per-step reference written here: at each step, the
//! present input series are taken in label order (the order the engine loads them in) and
//! each operator is computed the plain way. Results must agree to the bit, NaN payloads and
//! signed zeros included, whatever the engine does internally to get there.

use std::collections::HashMap;

use prom_model::{Appendable, Labels, MemoryStorage};
use prom_promql::engine::{Engine, EngineOptions, Value, format_float};
use prom_promql::parse;
use proptest::prelude::*;

const STEP: i64 = 10_000;

/// One input series: labels `a`, `b`, a unique `i`, and a value or a gap per step.
#[derive(Debug, Clone)]
struct In {
    a: u8,
    b: u8,
    vals: Vec<Option<f64>>,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(1e308),
        Just(-1e308),
        Just(1e16),
        (-3i32..4).prop_map(f64::from),
        -1e6f64..1e6,
    ]
}

fn inputs() -> impl Strategy<Value = (usize, Vec<In>)> {
    (1usize..6).prop_flat_map(|n| {
        let series = (
            0u8..3,
            0u8..2,
            prop::collection::vec(prop::option::weighted(0.8, value()), n),
        )
            .prop_map(|(a, b, vals)| In { a, b, vals });
        (Just(n), prop::collection::vec(series, 1..9))
    })
}

fn labels_of(k: usize, s: &In) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "m"),
        ("a", &format!("a{}", s.a)),
        ("b", &format!("b{}", s.b)),
        ("i", &format!("{k:02}")),
    ])
}

fn store(input: &[In]) -> MemoryStorage {
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for (k, s) in input.iter().enumerate() {
        let l = labels_of(k, s);
        for (i, v) in s.vals.iter().enumerate() {
            if let Some(v) = v {
                app.append(None, &l, i as i64 * STEP, *v).unwrap();
            }
        }
    }
    app.commit().unwrap();
    drop(app);
    st
}

/// An engine whose instant selectors see only a sample exactly at the evaluation time, so each
/// step's input is the generated value or nothing.
fn engine() -> Engine {
    Engine::new(EngineOptions::default().lookback_delta(1))
}

/// The series present at one step, in label order: (labels, value).
fn step_input(input: &[In], step: usize, neg: bool) -> Vec<(Labels, f64)> {
    let mut v: Vec<(Labels, f64)> = input
        .iter()
        .enumerate()
        .filter_map(|(k, s)| s.vals[step].map(|v| (labels_of(k, s), if neg { -v } else { v })))
        .collect();
    v.sort_by(|x, y| x.0.cmp(&y.0));
    v
}

#[derive(Debug, Clone, Copy)]
enum Grouping {
    All,
    ByA,
    ByAB,
    WithoutI,
}

impl Grouping {
    fn clause(self) -> &'static str {
        match self {
            Grouping::All => "",
            Grouping::ByA => " by (a)",
            Grouping::ByAB => " by (b, a)",
            Grouping::WithoutI => " without (i)",
        }
    }

    fn key(self, l: &Labels) -> Labels {
        let keep: &[&str] = match self {
            Grouping::All => &[],
            Grouping::ByA => &["a"],
            Grouping::ByAB | Grouping::WithoutI => &["a", "b"],
        };
        l.iter()
            .filter(|x| keep.contains(&x.name))
            .map(|x| (x.name, x.value))
            .collect()
    }
}

/// Groups of one step in order of first appearance, each with its values in input order.
fn step_groups(g: Grouping, vals: &[(Labels, f64)]) -> Vec<(Labels, Vec<(Labels, f64)>)> {
    let mut out: Vec<(Labels, Vec<(Labels, f64)>)> = Vec::new();
    for (l, v) in vals {
        let k = g.key(l);
        match out.iter_mut().find(|x| x.0 == k) {
            Some(x) => x.1.push((l.clone(), *v)),
            None => out.push((k, vec![(l.clone(), *v)])),
        }
    }
    out
}

fn kahan(vals: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for &v in vals {
        let t = sum + v;
        if t.is_infinite() {
            c = 0.0;
        } else if sum.abs() >= v.abs() {
            c += (sum - t) + v;
        } else {
            c += (v - t) + sum;
        }
        sum = t;
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// The value of a folding operator over one group's values in input order.
pub(crate) fn fold(op: &str, vals: &[f64]) -> f64 {
    let n = vals.len() as f64;
    match op {
        "sum" => kahan(vals),
        "avg" => {
            let s = kahan(vals);
            let mut mean = 0.0;
            for (k, &v) in vals.iter().enumerate() {
                let c = (k + 1) as f64;
                mean += v / c - mean / c;
            }
            if s.is_infinite() && mean.is_finite() {
                mean
            } else {
                s / n
            }
        }
        "count" => n,
        "group" => 1.0,
        "min" | "max" => {
            let mut m = vals[0];
            for &v in &vals[1..] {
                let better = if op == "min" { m > v } else { m < v };
                if better || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        "stddev" | "stdvar" => {
            let (mut mean, mut m2) = (0.0f64, 0.0f64);
            for (k, &v) in vals.iter().enumerate() {
                let delta = v - mean;
                mean += delta / (k + 1) as f64;
                m2 += delta * (v - mean);
            }
            if op == "stddev" {
                (m2 / n).sqrt()
            } else {
                m2 / n
            }
        }
        "quantile" => {
            let mut s = vals.to_vec();
            s.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                _ => a.total_cmp(b),
            });
            let rank = 0.3 * (n - 1.0);
            let lower = rank.floor().max(0.0);
            let upper = (lower + 1.0).min(n - 1.0);
            let w = rank - rank.floor();
            s[lower as usize] * (1.0 - w) + s[upper as usize] * w
        }
        _ => unreachable!("{op}"),
    }
}

/// NaN-last order of `topk` (descending) or `bottomk` (ascending), stable.
fn ranked(top: bool, mut vals: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    vals.sort_by(|x, y| match (x.1.is_nan(), y.1.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if top => y.1.partial_cmp(&x.1).unwrap(),
        _ => x.1.partial_cmp(&y.1).unwrap(),
    });
    vals
}

fn without_name(l: &Labels) -> Labels {
    l.without_metric_name()
}

/// The reference output of one step, in the order a step-by-step evaluation produces it.
fn reference_step(op: &str, g: Grouping, neg: bool, vals: &[(Labels, f64)]) -> Vec<(Labels, f64)> {
    let groups = step_groups(g, vals);
    let name = |l: &Labels| if neg { without_name(l) } else { l.clone() };
    match op {
        "topk" | "bottomk" | "limitk" => {
            // Per group in order of first appearance.
            let mut out = Vec::new();
            for (_, members) in groups {
                let picked = if op == "limitk" {
                    members
                } else {
                    ranked(op == "topk", members)
                };
                out.extend(picked.into_iter().take(2).map(|(l, v)| (name(&l), v)));
            }
            out
        }
        "limit_ratio" => vals
            .iter()
            .filter(|(l, _)| (l.hash64() as f64 / u64::MAX as f64) < 0.5)
            .map(|(l, v)| (name(l), *v))
            .collect(),
        "count_values" => {
            let mut out: Vec<(Labels, f64)> = Vec::new();
            for (l, v) in vals {
                let mut b = g.key(l).to_builder();
                b.set("v", &format_float(*v));
                let k = b.build();
                match out.iter_mut().find(|x| x.0 == k) {
                    Some(x) => x.1 += 1.0,
                    None => out.push((k, 1.0)),
                }
            }
            out
        }
        _ => groups
            .into_iter()
            .map(|(k, members)| {
                let v: Vec<f64> = members.iter().map(|x| x.1).collect();
                (k, fold(op, &v))
            })
            .collect(),
    }
}

fn query(op: &str, g: Grouping, neg: bool) -> String {
    let arg = if neg { "-m" } else { "m" };
    let param = match op {
        "topk" | "bottomk" | "limitk" => "2, ",
        "quantile" => "0.3, ",
        "limit_ratio" => "0.5, ",
        "count_values" => "\"v\", ",
        _ => "",
    };
    format!("{op}{}({param}{arg})", g.clause())
}

const OPS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "group",
    "min",
    "max",
    "stddev",
    "stdvar",
    "quantile",
    "topk",
    "bottomk",
    "limitk",
    "limit_ratio",
    "count_values",
];

const GROUPINGS: &[Grouping] = &[
    Grouping::All,
    Grouping::ByA,
    Grouping::ByAB,
    Grouping::WithoutI,
];

fn bits_eq(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn check_all(n: usize, input: &[In]) -> Result<(), TestCaseError> {
    let st = store(input);
    let e = engine();
    for &op in OPS {
        for &g in GROUPINGS {
            for neg in [false, true] {
                let q = query(op, g, neg);
                let expr = parse(&q).unwrap();
                // Range query: every step, series sorted by labels.
                let got = e.range(&st, &expr, 0, (n as i64 - 1) * STEP, STEP).unwrap();
                let Value::Matrix(got) = got.value else {
                    panic!("{q}: not a matrix")
                };
                let mut want: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
                for i in 0..n {
                    let vals = step_input(input, i, neg);
                    for (l, v) in reference_step(op, g, neg, &vals) {
                        want.entry(l).or_default().push((i as i64 * STEP, v));
                    }
                }
                let mut want: Vec<(Labels, Vec<(i64, f64)>)> = want.into_iter().collect();
                want.sort_by(|x, y| x.0.cmp(&y.0));
                prop_assert_eq!(got.len(), want.len(), "{}: {:?} vs {:?}", q, got, want);
                for (s, (wl, wp)) in got.iter().zip(&want) {
                    prop_assert_eq!(&s.labels, wl, "{}", q);
                    prop_assert_eq!(s.points.len(), wp.len(), "{} {}", q, wl);
                    for (p, &(t, v)) in s.points.iter().zip(wp) {
                        prop_assert!(
                            p.t == t && bits_eq(p.v, v),
                            "{q} {wl} at {t}: got {:?} want {v:?}",
                            p
                        );
                    }
                }
                // Instant query at each step: the same values, in step-by-step order.
                for i in 0..n {
                    let got = e.instant(&st, &expr, i as i64 * STEP).unwrap();
                    let Value::Vector(got) = got.value else {
                        panic!("{q}: not a vector")
                    };
                    let want = reference_step(op, g, neg, &step_input(input, i, neg));
                    prop_assert_eq!(got.len(), want.len(), "{} @{}", q, i);
                    for (s, (wl, wv)) in got.iter().zip(&want) {
                        prop_assert_eq!(&s.labels, wl, "{} @{} order", q, i);
                        prop_assert!(bits_eq(s.v, *wv), "{q} {wl} @{i}: {} vs {wv}", s.v);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The order a step-by-step evaluation creates an aggregation's output series in, which later
/// operators see (`bottomk` breaks ties by it): by first step, then as within that step, except
/// that `quantile` takes a step's groups in order of their first series over the whole input.
fn inner_order(op: &str, g: Grouping, input: &[In], n: usize) -> Vec<Labels> {
    let mut order: Vec<Labels> = Vec::new();
    let mut global: Vec<Labels> = Vec::new();
    let mut all: Vec<(Labels, &In)> = input
        .iter()
        .enumerate()
        .filter(|(_, s)| s.vals.iter().any(|v| v.is_some()))
        .map(|(k, s)| (labels_of(k, s), s))
        .collect();
    all.sort_by(|x, y| x.0.cmp(&y.0));
    for (l, _) in &all {
        let k = g.key(l);
        if !global.contains(&k) {
            global.push(k);
        }
    }
    for i in 0..n {
        let mut step: Vec<Labels> = reference_step(op, g, false, &step_input(input, i, false))
            .into_iter()
            .map(|x| x.0)
            .collect();
        if op == "quantile" {
            step.sort_by_key(|l| global.iter().position(|x| x == l));
        }
        for l in step {
            if !order.contains(&l) {
                order.push(l);
            }
        }
    }
    order
}

/// `bottomk(1, op(m))` over a range: ties between groups go to the first in `inner_order`.
fn check_nested(n: usize, input: &[In]) -> Result<(), TestCaseError> {
    let st = store(input);
    let e = engine();
    for &op in &["sum", "count", "group", "max", "quantile", "count_values"] {
        for &g in GROUPINGS {
            let inner = query(op, g, false);
            let q = format!("bottomk(1, {inner})");
            let got = e
                .range(&st, &parse(&q).unwrap(), 0, (n as i64 - 1) * STEP, STEP)
                .unwrap();
            let Value::Matrix(got) = got.value else {
                panic!("{q}: not a matrix")
            };
            let order = inner_order(op, g, input, n);
            let mut want: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
            for i in 0..n {
                let present = reference_step(op, g, false, &step_input(input, i, false));
                let cands: Vec<(Labels, f64)> = order
                    .iter()
                    .filter_map(|l| present.iter().find(|x| &x.0 == l).cloned())
                    .collect();
                if let Some((l, v)) = ranked(false, cands).into_iter().next() {
                    want.entry(l).or_default().push((i as i64 * STEP, v));
                }
            }
            let mut want: Vec<(Labels, Vec<(i64, f64)>)> = want.into_iter().collect();
            want.sort_by(|x, y| x.0.cmp(&y.0));
            prop_assert_eq!(got.len(), want.len(), "{}: {:?} vs {:?}", q, got, want);
            for (s, (wl, wp)) in got.iter().zip(&want) {
                prop_assert_eq!(&s.labels, wl, "{}", q);
                let gp: Vec<(i64, u64)> = s.points.iter().map(|p| (p.t, p.v.to_bits())).collect();
                let wp: Vec<(i64, u64)> = wp.iter().map(|p| (p.0, p.1.to_bits())).collect();
                prop_assert_eq!(gp, wp, "{} {}", q, wl);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn aggregations_match_per_step_reference((n, input) in inputs()) {
        check_all(n, &input)?;
    }

    #[test]
    fn aggregation_output_order_breaks_later_ties((n, input) in inputs()) {
        check_nested(n, &input)?;
    }
}

/// Range-function input: two samples per step (every `STEP / 2`), each a value, a staleness
/// marker or a gap; values with NaN, ±Inf, signed zeros and counter resets.
fn range_inputs() -> impl Strategy<Value = (usize, Vec<In>)> {
    (2usize..7).prop_flat_map(|n| {
        let sample = prop_oneof![
            8 => value().prop_map(Some),
            1 => Just(Some(prom_model::value::stale_nan())),
            2 => Just(None),
        ];
        let series = (0u8..3, 0u8..2, prop::collection::vec(sample, 2 * n))
            .prop_map(|(a, b, vals)| In { a, b, vals });
        (Just(n), prop::collection::vec(series, 1..9))
    })
}

fn store_half_steps(input: &[In]) -> MemoryStorage {
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for (k, s) in input.iter().enumerate() {
        let l = labels_of(k, s);
        for (i, v) in s.vals.iter().enumerate() {
            if let Some(v) = v {
                app.append(None, &l, i as i64 * STEP / 2, *v).unwrap();
            }
        }
    }
    app.commit().unwrap();
    drop(app);
    st
}

/// The inputs an aggregation is fed (empty: the selector itself).
const INNER: &[&str] = &[
    "",
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "ts_of_max_over_time",
];

/// The per-step input an aggregation sees from an evaluated inner expression: each step's
/// series in input order (label order, metric name included), as (labels, value).
fn inner_steps(m: &[prom_promql::engine::Series], n: usize) -> Vec<Vec<(Labels, f64)>> {
    let mut steps: Vec<Vec<(Labels, f64)>> = vec![Vec::new(); n];
    for s in m {
        let mut b = s.labels.to_builder();
        b.set("__name__", "m");
        let l = b.build();
        for p in &s.points {
            steps[(p.t / STEP) as usize].push((l.clone(), p.v));
        }
    }
    for v in &mut steps {
        v.sort_by(|x, y| x.0.cmp(&y.0));
    }
    steps
}

/// Every operator, by and without, over range functions and over a selector: each step
/// against the per-step reference applied to the inner expression's own result (the
/// folding operators take their input series by series as it is read, without the inner
/// result ever being built), on one thread and on several.
fn check_over_range_functions(n: usize, input: &[In]) -> Result<(), TestCaseError> {
    let st = store_half_steps(input);
    let end = (n as i64 - 1) * STEP;
    for threads in [1, 4] {
        let e = Engine::new(
            EngineOptions::default()
                .lookback_delta(STEP * 3 / 2)
                .parallelism(threads),
        );
        for &f in INNER {
            let inner = if f.is_empty() {
                "m".to_owned()
            } else {
                format!("{f}(m[{}ms])", STEP * 2)
            };
            // Functions that keep the metric name give series that keep it.
            let keeps_name = matches!(f, "" | "last_over_time" | "first_over_time");
            let got_inner = e.range(&st, &parse(&inner).unwrap(), 0, end, STEP).unwrap();
            let Value::Matrix(m) = got_inner.value else {
                panic!("{inner}: not a matrix")
            };
            let steps = inner_steps(&m, n);
            for &op in OPS {
                for &g in GROUPINGS {
                    let param = match op {
                        "topk" | "bottomk" | "limitk" => "2, ",
                        "quantile" => "0.3, ",
                        "limit_ratio" => "0.5, ",
                        "count_values" => "\"v\", ",
                        _ => "",
                    };
                    let q = format!("{op}{}({param}{inner})", g.clause());
                    let expr = parse(&q).unwrap();
                    let got = e.range(&st, &expr, 0, end, STEP).unwrap();
                    let Value::Matrix(got) = got.value else {
                        panic!("{q}: not a matrix")
                    };
                    let mut want: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
                    for (i, vals) in steps.iter().enumerate() {
                        for (l, v) in reference_step(op, g, !keeps_name, vals) {
                            want.entry(l).or_default().push((i as i64 * STEP, v));
                        }
                    }
                    let mut want: Vec<(Labels, Vec<(i64, f64)>)> = want.into_iter().collect();
                    want.sort_by(|x, y| x.0.cmp(&y.0));
                    prop_assert_eq!(got.len(), want.len(), "{}: {:?} vs {:?}", q, got, want);
                    for (s, (wl, wp)) in got.iter().zip(&want) {
                        prop_assert_eq!(&s.labels, wl, "{}", q);
                        let gp: Vec<(i64, u64)> =
                            s.points.iter().map(|p| (p.t, p.v.to_bits())).collect();
                        let wp: Vec<(i64, u64)> = wp.iter().map(|p| (p.0, p.1.to_bits())).collect();
                        prop_assert_eq!(gp, wp, "{} {} ({} threads)", q, wl, threads);
                    }
                    // Instant queries: the same values, in step-by-step order.
                    for i in [0, n - 1] {
                        let got = e.instant(&st, &expr, i as i64 * STEP).unwrap();
                        let Value::Vector(got) = got.value else {
                            panic!("{q}: not a vector")
                        };
                        let want = reference_step(op, g, !keeps_name, &steps[i]);
                        prop_assert_eq!(got.len(), want.len(), "{} @{}", q, i);
                        for (s, (wl, wv)) in got.iter().zip(&want) {
                            prop_assert_eq!(&s.labels, wl, "{} @{} order", q, i);
                            prop_assert!(bits_eq(s.v, *wv), "{q} {wl} @{i}: {} vs {wv}", s.v);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn aggregations_over_range_functions_match_per_step_reference((n, input) in range_inputs()) {
        check_over_range_functions(n, &input)?;
    }
}

/// Ties and NaNs in `topk`/`bottomk`: ties keep label order, NaN comes last either way.
#[test]
fn topk_bottomk_ties_and_nan() {
    let input = vec![
        In {
            a: 0,
            b: 0,
            vals: vec![Some(1.0)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(f64::NAN)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(1.0)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(2.0)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(-0.0)],
        },
    ];
    let st = store(&input);
    let e = engine();
    let run = |q: &str| -> Vec<(String, f64)> {
        let Value::Vector(v) = e.instant(&st, &parse(q).unwrap(), 0).unwrap().value else {
            panic!()
        };
        v.into_iter()
            .map(|s| (s.labels.get("i").unwrap().to_owned(), s.v))
            .collect()
    };
    assert_eq!(
        run("topk(2, m)"),
        [("03".to_owned(), 2.0), ("00".to_owned(), 1.0)]
    );
    assert_eq!(run("topk(3, m)")[2], ("02".to_owned(), 1.0));
    let bottom = run("bottomk(3, m)");
    assert_eq!(bottom[0].0, "04");
    assert_eq!(bottom[1], ("00".to_owned(), 1.0));
    assert_eq!(bottom[2], ("02".to_owned(), 1.0));
    let all = run("bottomk(5, m)");
    assert_eq!(all[4].0, "01");
    assert!(all[4].1.is_nan());
    let all = run("topk(9, m)");
    assert_eq!(all.len(), 5);
    assert_eq!(all[4].0, "01");
    // count_values tells -0 from 0 and counts every NaN together, in order of first appearance.
    let st = store(&[
        In {
            a: 0,
            b: 0,
            vals: vec![Some(0.0)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(f64::NAN)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(-0.0)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(-f64::NAN)],
        },
        In {
            a: 0,
            b: 0,
            vals: vec![Some(0.0)],
        },
    ]);
    let Value::Vector(v) = e
        .instant(&st, &parse(r#"count_values("v", m)"#).unwrap(), 0)
        .unwrap()
        .value
    else {
        panic!()
    };
    let got: Vec<(String, f64)> = v
        .into_iter()
        .map(|s| (s.labels.get("v").unwrap().to_owned(), s.v))
        .collect();
    assert_eq!(
        got,
        [
            ("0".to_owned(), 2.0),
            ("NaN".to_owned(), 2.0),
            ("-0".to_owned(), 1.0)
        ]
    );
}
