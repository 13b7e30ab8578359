//! `group_left` matching against a per-step reference, with one-side partners that change
//! from step to step (the engine remembers each series' last partner; a change must still be
//! seen).

use std::collections::HashMap;

use prom_model::{Appendable, Labels, MemoryStorage};
use prom_promql::engine::{Engine, EngineOptions, Value};
use prom_promql::parse;
use proptest::prelude::*;

const STEP: i64 = 10_000;

/// Many side `l{g, j}` per step; one side `r{g, v}`: for each group and step, which of two
/// `v` versions is present (or none).
#[derive(Debug, Clone)]
struct Case {
    n: usize,
    many: Vec<(u8, Vec<Option<f64>>)>,
    one: Vec<Vec<Option<u8>>>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..7).prop_flat_map(|n| {
        let many = prop::collection::vec(
            (
                0u8..3,
                prop::collection::vec(prop::option::weighted(0.8, -5i32..6), n),
            ),
            1..7,
        );
        let one = prop::collection::vec(
            prop::collection::vec(prop::option::weighted(0.8, 0u8..2), n),
            3,
        );
        (Just(n), many, one).prop_map(|(n, many, one)| Case {
            n,
            many: many
                .into_iter()
                .map(|(g, v)| (g, v.into_iter().map(|x| x.map(f64::from)).collect()))
                .collect(),
            one,
        })
    })
}

fn many_labels(k: usize, g: u8) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "l"),
        ("g", &g.to_string()),
        ("j", &format!("{k:02}")),
    ])
}

fn one_labels(g: usize, v: u8) -> Labels {
    Labels::from_pairs(&[
        ("__name__", "r"),
        ("g", &g.to_string()),
        ("v", &format!("v{v}")),
    ])
}

fn one_value(g: usize, v: u8, i: usize) -> f64 {
    (10 * (g + 1) + 3 * v as usize + i) as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn group_left_follows_changing_partners(c in case()) {
        let st = MemoryStorage::new();
        let mut app = st.appender();
        for (k, (g, vals)) in c.many.iter().enumerate() {
            for (i, v) in vals.iter().enumerate() {
                if let Some(v) = v {
                    app.append(None, &many_labels(k, *g), i as i64 * STEP, *v).unwrap();
                }
            }
        }
        for (g, steps) in c.one.iter().enumerate() {
            for (i, v) in steps.iter().enumerate() {
                if let Some(v) = v {
                    app.append(None, &one_labels(g, *v), i as i64 * STEP, one_value(g, *v, i))
                        .unwrap();
                }
            }
        }
        app.commit().unwrap();
        drop(app);
        let e = Engine::new(EngineOptions::default().lookback_delta(1));
        let q = parse("l * on (g) group_left (v) r").unwrap();
        let got = e.range(&st, &q, 0, (c.n as i64 - 1) * STEP, STEP).unwrap();
        let Value::Matrix(got) = got.value else { panic!("not a matrix") };
        let mut want: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        for i in 0..c.n {
            for (k, (g, vals)) in c.many.iter().enumerate() {
                let (Some(v), Some(ov)) = (vals[i], c.one[*g as usize][i]) else {
                    continue;
                };
                let mut b = many_labels(k, *g).to_builder();
                b.del("__name__");
                b.set("v", &format!("v{ov}"));
                want.entry(b.build())
                    .or_default()
                    .push((i as i64 * STEP, v * one_value(*g as usize, ov, i)));
            }
        }
        let mut want: Vec<(Labels, Vec<(i64, f64)>)> = want.into_iter().collect();
        want.sort_by(|x, y| x.0.cmp(&y.0));
        let got: Vec<(Labels, Vec<(i64, f64)>)> = got
            .into_iter()
            .map(|s| (s.labels, s.points.into_iter().map(|p| (p.t, p.v)).collect()))
            .collect();
        prop_assert_eq!(got, want);
    }
}
