//! Matcher selection against brute force: random label sets, random matchers of every kind
//! (empty values, `.*`, `.+`, alternations, prefixes, negatives), random deletions; the index
//! must select exactly the series a filter over every label set selects.

use std::collections::{BTreeMap, BTreeSet};

use prom_index::postings::collect;
use prom_index::{MemIndex, Postings};
use prom_model::{Labels, MatchType, Matcher};
use proptest::prelude::*;

const NAMES: [&str; 4] = ["__name__", "a", "b", "c"];
/// `""` means the label is absent.
const VALUES: [&str; 11] = [
    "", "", "x", "y", "xy", "api-1", "api-2", "ap", "z\n", "a.p", "axp",
];

const EQ_VALUES: [&str; 6] = ["", "x", "y", "api-1", "zz", "z\n"];
const REGEXES: [&str; 24] = [
    "",
    ".*",
    ".+",
    "x",
    "x|y",
    "x|",
    "|y",
    "(x|api-1)",
    "api-.*",
    "api-.+",
    "ap.*",
    "api-[0-9]",
    ".*y",
    ".+y",
    "x.*",
    ".*p.*",
    "[xy]+",
    "a.*p",
    "x?",
    "(?i)X",
    "z.",
    "api-1|api-.*",
    r"a\.p.*",
    "a.p.*",
];

fn series() -> impl Strategy<Value = Vec<(u64, Vec<usize>)>> {
    // References in any order (out-of-order inserts), some beyond 32 bits.
    let reference = prop_oneof![8 => 0u64..500, 1 => (1u64 << 33)..(1u64 << 33) + 50];
    proptest::collection::vec(
        (
            reference,
            proptest::collection::vec(0..VALUES.len(), NAMES.len()),
        ),
        0..40,
    )
}

fn matcher() -> impl Strategy<Value = Matcher> {
    // Label "d" is on no series.
    let name = prop_oneof![Just("__name__"), Just("a"), Just("b"), Just("c"), Just("d")];
    let eq = (name.clone(), any::<bool>(), 0..EQ_VALUES.len()).prop_map(|(n, neg, v)| {
        let kind = if neg {
            MatchType::NotEqual
        } else {
            MatchType::Equal
        };
        Matcher::new(kind, n, EQ_VALUES[v]).expect("valid")
    });
    let re = (name, any::<bool>(), 0..REGEXES.len()).prop_map(|(n, neg, v)| {
        let kind = if neg {
            MatchType::RegexNoMatch
        } else {
            MatchType::RegexMatch
        };
        Matcher::new(kind, n, REGEXES[v]).expect("valid")
    });
    prop_oneof![eq, re]
}

struct World {
    index: MemIndex,
    /// Live series by reference.
    model: BTreeMap<u64, Labels>,
}

fn build(series: &[(u64, Vec<usize>)], deletes: &[usize], gc: bool) -> World {
    let index = MemIndex::new();
    let mut model = BTreeMap::new();
    for (r, vals) in series {
        if model.contains_key(r) {
            continue; // a reference names one series
        }
        let pairs: Vec<(&str, &str)> = NAMES
            .iter()
            .zip(vals)
            .map(|(n, &v)| (*n, VALUES[v]))
            .collect();
        let ls = Labels::from_pairs(&pairs);
        index.add(*r, &ls);
        model.insert(*r, ls);
    }
    let refs: Vec<u64> = model.keys().copied().collect();
    for &d in deletes {
        if let Some(&r) = refs.get(d) {
            index.delete(r);
            model.remove(&r);
        }
    }
    if gc {
        index.gc();
    }
    World { index, model }
}

fn brute(model: &BTreeMap<u64, Labels>, ms: &[Matcher]) -> Vec<u64> {
    model
        .iter()
        .filter(|(_, ls)| ms.iter().all(|m| m.matches(ls.get(m.name()).unwrap_or(""))))
        .map(|(&r, _)| r)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn selection_matches_brute_force(
        series in series(),
        ms in proptest::collection::vec(matcher(), 0..4),
        deletes in proptest::collection::vec(0usize..40, 0..5),
        gc in any::<bool>(),
    ) {
        let w = build(&series, &deletes, gc);
        let want = brute(&w.model, &ms);
        let got = w.index.postings_for_matchers(&ms);
        prop_assert_eq!(&got, &want, "plan {}", prom_index::planner::Plan::new(&ms));

        // The values and names of the selected series.
        let selected: Vec<&Labels> = want.iter().map(|r| &w.model[r]).collect();
        for name in ["a", "__name__", "d"] {
            let values: BTreeSet<&str> = selected.iter().filter_map(|ls| ls.get(name)).collect();
            let got = w.index.label_values_for_matchers(name, &ms);
            prop_assert_eq!(got, values.into_iter().collect::<Vec<_>>(), "values of {}", name);
        }
        let names: BTreeSet<&str> =
            selected.iter().flat_map(|ls| ls.iter().map(|l| l.name)).collect();
        let got = w.index.label_names_for_matchers(&ms);
        if ms.is_empty() {
            // With no matchers: every name of a live series.
            let all: BTreeSet<&str> =
                w.model.values().flat_map(|ls| ls.iter().map(|l| l.name)).collect();
            prop_assert_eq!(got, all.into_iter().collect::<Vec<_>>());
        } else {
            prop_assert_eq!(got, names.into_iter().collect::<Vec<_>>());
        }
        prop_assert_eq!(w.index.num_series(), w.model.len());
    }

    #[test]
    fn selection_cursor_seeks_like_the_list(
        series in series(),
        ms in proptest::collection::vec(matcher(), 1..3),
        seeks in proptest::collection::vec(0u64..520, 0..10),
    ) {
        let w = build(&series, &[], false);
        let want = brute(&w.model, &ms);
        let r = w.index.read();
        let mut p = r.postings_for_matchers(&ms);
        let mut floor = 0;
        for s in seeks {
            floor = floor.max(s);
            let i = want.partition_point(|&x| x < floor);
            let moved = p.seek(s);
            prop_assert_eq!(moved, i < want.len());
            if !moved {
                break;
            }
            prop_assert_eq!(p.at(), want[i]);
            floor = want[i];
        }
    }

    #[test]
    fn values_names_and_stats_match_the_model(
        series in series(),
        deletes in proptest::collection::vec(0usize..40, 0..5),
        gc in any::<bool>(),
    ) {
        let w = build(&series, &deletes, gc);
        let mut by_name: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for ls in w.model.values() {
            for l in ls.iter() {
                *by_name.entry(l.name).or_default().entry(l.value).or_default() += 1;
            }
        }
        let names: Vec<&str> = by_name.keys().copied().collect();
        prop_assert_eq!(w.index.label_names(), names);
        for (name, values) in &by_name {
            let vs: Vec<&str> = values.keys().copied().collect();
            prop_assert_eq!(w.index.label_values(name), vs);
            for (v, n) in values {
                prop_assert_eq!(w.index.postings(name, v).len() as u64, *n);
            }
        }
        let stats = w.index.stats(1000);
        prop_assert_eq!(stats.num_series, w.model.len() as u64);
        prop_assert_eq!(stats.num_label_names, by_name.len() as u64);
        let pairs: u64 = by_name.values().map(|v| v.len() as u64).sum();
        prop_assert_eq!(stats.num_label_pairs, pairs);
        let mut want_pairs: Vec<(String, u64)> = by_name
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |(v, c)| (format!("{n}={v}"), *c)))
            .collect();
        want_pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let got_pairs: Vec<(String, u64)> = stats
            .series_count_by_label_value_pair
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect();
        prop_assert_eq!(got_pairs, want_pairs);
        let metric_total: u64 = stats.series_count_by_metric_name.iter().map(|e| e.value).sum();
        prop_assert_eq!(metric_total, by_name.get("__name__").map_or(0, |v| v.values().sum()));
    }
}

fn m(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).expect("valid")
}

/// The empty-value cases from Prometheus's documentation, spelled out.
#[test]
fn empty_value_semantics() {
    use MatchType::*;
    let index = MemIndex::new();
    let series = [
        (1, Labels::from_pairs(&[("a", "x"), ("b", "1")])),
        (2, Labels::from_pairs(&[("a", "y")])),
        (3, Labels::from_pairs(&[("b", "1")])),
        (4, Labels::from_pairs(&[("c", "1")])),
    ];
    for (r, ls) in &series {
        index.add(*r, ls);
    }
    let sel = |ms: &[Matcher]| index.postings_for_matchers(ms);
    assert_eq!(
        sel(&[m(Equal, "a", "")]),
        [3, 4],
        "{{a=\"\"}}: series without a"
    );
    assert_eq!(
        sel(&[m(NotEqual, "a", "x")]),
        [2, 3, 4],
        "includes series without a"
    );
    assert_eq!(sel(&[m(RegexMatch, "a", "x|")]), [1, 3, 4]);
    assert_eq!(
        sel(&[m(RegexMatch, "a", ".*")]),
        [1, 2, 3, 4],
        "no label needed"
    );
    assert_eq!(sel(&[m(RegexMatch, "a", ".+")]), [1, 2], "label exists");
    assert_eq!(sel(&[m(RegexNoMatch, "a", ".+")]), [3, 4]);
    assert_eq!(sel(&[m(NotEqual, "a", "")]), [1, 2]);
    assert_eq!(
        sel(&[m(RegexMatch, "b", ".+"), m(RegexMatch, "a", ".*")]),
        [1, 3]
    );
    assert_eq!(sel(&[m(Equal, "b", "1"), m(NotEqual, "a", "x")]), [3]);
    assert_eq!(sel(&[m(Equal, "zzz", "")]), [1, 2, 3, 4]);
    assert!(sel(&[m(Equal, "zzz", "q")]).is_empty());
    assert!(sel(&[m(RegexNoMatch, "a", ".*")]).is_empty());
    assert_eq!(sel(&[]), [1, 2, 3, 4]);
}

/// Unions of many values take the materialised path; check it against brute force at a size
/// where it does, with sparse references (sorted-vector union) and dense ones (bitmap).
#[test]
fn large_unions_are_exact() {
    for stride in [1u64, 1000] {
        let index = MemIndex::new();
        let mut model = BTreeMap::new();
        for i in 0..3000u64 {
            let r = i * stride;
            let inst = format!("api-{}", i % 300);
            let ls = Labels::from_pairs(&[
                ("job", if i % 3 == 0 { "a" } else { "b" }),
                ("instance", &inst),
            ]);
            index.add(r, &ls);
            model.insert(r, ls);
        }
        for ms in [
            vec![m(MatchType::RegexMatch, "instance", "api-1.*")],
            vec![
                m(MatchType::RegexMatch, "job", "a"),
                m(MatchType::RegexMatch, "instance", "api-.+"),
            ],
            vec![
                m(MatchType::Equal, "job", "b"),
                m(MatchType::RegexNoMatch, "instance", "api-2.*"),
            ],
            vec![m(MatchType::RegexMatch, "instance", ".*1")],
        ] {
            assert_eq!(
                index.postings_for_matchers(&ms),
                brute(&model, &ms),
                "{ms:?}"
            );
            let r = index.read();
            assert_eq!(
                collect(r.postings_for_matchers(&ms)).len(),
                brute(&model, &ms).len()
            );
        }
    }
}

/// A head-shaped world large enough for every list form: `targets` targets, each with
/// `metrics` series under consecutive references from `base`, in a scrape order that spreads
/// each job over the whole range; `job` (of `jobs`), `instance` (`<svc>-<t>`, four services)
/// and `env` (`prod`, `staging`, absent, by target).
fn head_world(targets: u64, metrics: u64, jobs: u64, base: u64) -> World {
    const SVC: [&str; 4] = ["api", "db", "web", "cache"];
    let index = MemIndex::new();
    let mut model = BTreeMap::new();
    // A stride coprime with any count below it visits every target once.
    let stride = (1..)
        .map(|k| k * 7919 + 1)
        .find(|s| gcd(*s, targets) == 1)
        .unwrap_or(1);
    for k in 0..targets {
        let t = k * stride % targets;
        let job = format!("job-{}", t % jobs);
        let inst = format!("{}-{t}", SVC[(t % 4) as usize]);
        let env = ["prod", "staging", ""][(t % 3) as usize];
        for m in 0..metrics {
            let name = format!("metric_{m}");
            let ls = Labels::from_pairs(&[
                ("__name__", &name),
                ("job", &job),
                ("instance", &inst),
                ("env", env),
            ]);
            let r = base + k * metrics + m;
            index.add(r, &ls);
            model.insert(r, ls);
        }
    }
    World { index, model }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn head_matcher() -> impl Strategy<Value = Matcher> {
    use MatchType::*;
    let cases: Vec<(MatchType, &str, &str)> = vec![
        (Equal, "__name__", "metric_0"),
        (Equal, "__name__", "metric_3"),
        (NotEqual, "__name__", "metric_1"),
        (RegexMatch, "__name__", "metric_1|metric_2"),
        (Equal, "job", "job-1"),
        (NotEqual, "job", "job-0"),
        (RegexMatch, "job", "job-0|job-2|job-3"),
        (RegexNoMatch, "job", "job-1|job-2"),
        (RegexMatch, "instance", "api-.*"),
        (RegexNoMatch, "instance", "api-.*"),
        (RegexMatch, "instance", "db-1.*"),
        (RegexMatch, "instance", "api-1|web-2|db-5"),
        (RegexNoMatch, "instance", "api-1.*|db-.*"),
        (Equal, "env", ""),
        (NotEqual, "env", ""),
        (Equal, "env", "prod"),
        (NotEqual, "env", "staging"),
        (RegexMatch, "env", "prod|"),
        (RegexMatch, "env", ".+"),
    ];
    (0..cases.len()).prop_map(move |i| {
        let (kind, name, value) = cases[i];
        Matcher::new(kind, name, value).expect("valid")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// At a size where lists are inline, plain and dense (with bitmaps), and after deletions
    /// and collection: the direct selection, the lazy cursors and brute force agree.
    #[test]
    fn head_sized_selection_matches_brute_force(
        targets in 100u64..2_500,
        metrics in 1u64..=10,
        jobs in 1u64..8,
        wide in proptest::bool::weighted(0.15),
        selectors in proptest::collection::vec(proptest::collection::vec(head_matcher(), 1..4), 6),
        delete_every in prop_oneof![Just(0u64), 2u64..40],
    ) {
        let base = if wide { (1 << 32) - 2_000 } else { 1 };
        let mut w = head_world(targets, metrics, jobs, base);
        let check_all = |w: &World| -> Result<(), TestCaseError> {
            for ms in &selectors {
                let want = brute(&w.model, ms);
                let plan = prom_index::planner::Plan::new(ms);
                prop_assert_eq!(&w.index.postings_for_matchers(ms), &want, "select {}", plan);
                let r = w.index.read();
                prop_assert_eq!(collect(r.postings_for_matchers(ms)), want, "cursors {}", plan);
            }
            Ok(())
        };
        check_all(&w)?;
        if delete_every > 0 {
            let doomed: Vec<u64> = w.model.keys().copied().step_by(delete_every as usize).collect();
            for r in doomed {
                w.index.delete(r);
                w.model.remove(&r);
            }
            check_all(&w)?;
            w.index.gc();
            check_all(&w)?;
        }
    }
}
