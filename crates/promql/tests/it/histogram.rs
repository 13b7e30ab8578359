//! `histogram_quantile` against `histogram_quantiles` with one quantile, which still groups
//! the buckets step by step the plain way: the same values to the bit, the same series in
//! the same order, the same annotations (but for their position in the query).

use prom_model::{Appendable, Labels, MemoryStorage};
use prom_promql::engine::{Engine, EngineOptions, QueryResult, Value};
use prom_promql::parse;
use proptest::prelude::*;

const STEP: i64 = 10_000;

/// Bounds, including two spellings of one bound, an unordered pair and a malformed one.
const LE: [&str; 8] = ["0.5", "1", "1.0", "2", "+Inf", "5", "-1", "x"];

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(0.0),
        Just(-0.0),
        (0i32..20).prop_map(f64::from),
        -5.0f64..100.0,
    ]
}

/// A series: (histogram, index in [`LE`]) and a value or a gap per step.
type In = ((u8, u8), Vec<Option<f64>>);

/// (histogram, bound) series, each with a value or a gap per step.
fn inputs() -> impl Strategy<Value = (usize, Vec<In>)> {
    (1usize..6)
        .prop_flat_map(|n| {
            let series = (
                (0u8..3, 0u8..LE.len() as u8),
                prop::collection::vec(prop::option::weighted(0.8, value()), n),
            );
            (Just(n), prop::collection::vec(series, 1..16))
        })
        .prop_map(|(n, mut series)| {
            // One series per (histogram, bound).
            series.sort_by_key(|s| s.0);
            series.dedup_by_key(|s| s.0);
            (n, series)
        })
}

fn store(input: &[In]) -> MemoryStorage {
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for ((h, le), vals) in input {
        let l = Labels::from_pairs(&[
            ("__name__", "h_bucket"),
            ("h", &format!("h{h}")),
            ("le", LE[*le as usize]),
        ]);
        for (i, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                app.append(None, &l, i as i64 * STEP, *v).unwrap();
            }
        }
    }
    app.commit().unwrap();
    drop(app);
    st
}

/// The result as text, floats as bits, without the `q` label and the annotations' positions.
fn text(r: &QueryResult) -> String {
    let strip = |l: &Labels| {
        let mut b = l.to_builder();
        b.del("q");
        b.build().to_string()
    };
    let mut out = String::new();
    match &r.value {
        Value::Matrix(m) => {
            for s in m {
                out.push_str(&strip(&s.labels));
                for p in &s.points {
                    out.push_str(&format!(" {}:{:x}", p.t, p.v.to_bits()));
                }
                out.push('\n');
            }
        }
        Value::Vector(v) => {
            for s in v {
                out.push_str(&format!("{} {:x}\n", strip(&s.labels), s.v.to_bits()));
            }
        }
        other => out.push_str(&format!("{other:?}")),
    }
    let unplaced = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|m| m.rsplit_once(" (1:").map_or(m.as_str(), |x| x.0).to_owned())
            .filter(|m| !m.contains("quantile value should be"))
            .collect()
    };
    out.push_str(&format!(
        "{:?} {:?}",
        unplaced(&r.warnings),
        unplaced(&r.infos)
    ));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn histogram_quantile_matches_the_per_step_grouping((n, input) in inputs(), q in prop_oneof![Just(0.9), Just(0.0), Just(1.0), Just(0.5), Just(2.0), Just(f64::NAN)]) {
        let st = store(&input);
        let e = Engine::new(EngineOptions::default().lookback_delta(1));
        let q = if q.is_nan() { "NaN".to_owned() } else { format!("{q}") };
        let one = parse(&format!("histogram_quantile({q}, h_bucket)")).unwrap();
        let many = parse(&format!(r#"histogram_quantiles(h_bucket, "q", {q})"#)).unwrap();
        let end = (n as i64 - 1) * STEP;
        let a = e.range(&st, &one, 0, end, STEP).unwrap();
        let b = e.range(&st, &many, 0, end, STEP).unwrap();
        prop_assert_eq!(text(&a), text(&b));
        // The order of the output series, which breaks ties in a later `bottomk`.
        let one_k = parse(&format!("bottomk(1, histogram_quantile({q}, h_bucket))")).unwrap();
        let many_k = parse(&format!(r#"bottomk(1, histogram_quantiles(h_bucket, "q", {q}))"#)).unwrap();
        let a = e.range(&st, &one_k, 0, end, STEP).unwrap();
        let b = e.range(&st, &many_k, 0, end, STEP).unwrap();
        prop_assert_eq!(text(&a), text(&b), "bottomk");
        for i in 0..n as i64 {
            let a = e.instant(&st, &one, i * STEP).unwrap();
            let b = e.instant(&st, &many, i * STEP).unwrap();
            prop_assert_eq!(text(&a), text(&b), "@{}", i);
        }
    }
}
