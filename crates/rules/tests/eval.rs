//! Rule evaluation against the in-memory storage: recording rules, alert state transitions,
//! notification, `for` state restore and reloads, driven by a manual clock.

use std::sync::{Arc, Mutex};

use prom_model::value::is_stale_nan;
use prom_model::{Appendable, Label, Labels, MemoryStorage, Sample};
use prom_promql::{Engine, EngineOptions};
use prom_rules::alerting::{AlertState, AlertingRule};
use prom_rules::clock::{Clock, ManualClock};
use prom_rules::group::Group;
use prom_rules::manager::{Manager, ManagerError, ManagerOptions};
use prom_rules::notifier::{Alert, Notifier};
use prom_rules::recording::RecordingRule;
use prom_rules::rule::{Expander, Health, Rule};

const MIN: i64 = 60_000;
/// A start time on a whole second, far from the epoch.
const T0: i64 = 1_700_000_000_000;

#[derive(Default)]
struct RecordingNotifier {
    batches: Mutex<Vec<Vec<Alert>>>,
}

impl RecordingNotifier {
    fn take(&self) -> Vec<Alert> {
        let mut b = self.batches.lock().unwrap();
        let out = b.iter().flatten().cloned().collect();
        b.clear();
        out
    }
}

impl Notifier for RecordingNotifier {
    fn send(&self, alerts: Vec<Alert>) {
        assert!(!alerts.is_empty(), "empty batches are not sent");
        self.batches.lock().unwrap().push(alerts);
    }
}

/// Replaces `{{ $value }}` and `{{ $labels.NAME }}`: enough of a template engine to see
/// what the rule hands to the expander.
struct TestExpander;

impl Expander for TestExpander {
    fn expand(&self, rule: &str, text: &str, labels: &Labels, value: f64, at_ms: i64) -> String {
        let mut out = text
            .replace("{{ $value }}", &value.to_string())
            .replace("{{ $rule }}", rule)
            .replace("{{ $time }}", &at_ms.to_string());
        for l in labels.iter() {
            out = out.replace(&format!("{{{{ $labels.{} }}}}", l.name), l.value);
        }
        out
    }
}

struct Env {
    db: Arc<MemoryStorage>,
    notifier: Arc<RecordingNotifier>,
    clock: Arc<ManualClock>,
    opts: ManagerOptions,
}

fn env() -> Env {
    let db = Arc::new(MemoryStorage::new());
    let notifier = Arc::new(RecordingNotifier::default());
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Arc::new(Engine::new(EngineOptions::default().parallelism(1)));
    let opts = ManagerOptions::new(engine, db.clone(), db.clone(), notifier.clone())
        .clock(clock.clone())
        .expander(Arc::new(TestExpander))
        .external_url("http://prom.example:9090/");
    Env {
        db,
        notifier,
        clock,
        opts,
    }
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
}

fn write(db: &MemoryStorage, series: &[(&[(&str, &str)], f64)], t: i64) {
    let mut app = db.appender();
    for (l, v) in series {
        app.append(None, &ls(l), t, *v).unwrap();
    }
    app.commit().unwrap();
}

fn recording(name: &str, expr: &str, l: &[(&str, &str)]) -> Rule {
    RecordingRule::new(name, prom_promql::parse(expr).unwrap(), labels(l)).into()
}

fn alerting(name: &str, expr: &str, for_ms: i64, keep_ms: i64, l: &[(&str, &str)]) -> Rule {
    AlertingRule::new(
        name,
        prom_promql::parse(expr).unwrap(),
        for_ms,
        keep_ms,
        labels(l),
        labels(&[("summary", "{{ $labels.instance }} is at {{ $value }}")]),
    )
    .into()
}

fn values(db: &MemoryStorage, l: &[(&str, &str)]) -> Vec<Sample> {
    db.samples(&ls(l))
}

fn alerting_rule(g: &Group, i: usize) -> &AlertingRule {
    match &g.rules()[i] {
        Rule::Alerting(a) => a,
        Rule::Recording(_) => panic!("rule {i} is a recording rule"),
    }
}

// ---------------------------------------------------------------- recording rules

#[test]
fn recording_rules_see_earlier_results_of_the_same_cycle() {
    let e = env();
    write(
        &e.db,
        &[
            (&[("__name__", "x"), ("i", "1")], 1.0),
            (&[("__name__", "x"), ("i", "2")], 2.0),
        ],
        T0,
    );
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![
            recording("job:x:sum", "sum(x)", &[("env", "prod")]),
            recording("job:x:double", "job:x:sum * 2", &[]),
            recording("const", "1 + 1", &[]),
        ],
    );
    g.eval(T0, &e.opts);
    assert_eq!(
        values(&e.db, &[("__name__", "job:x:sum"), ("env", "prod")]),
        [Sample::new(T0, 3.0)]
    );
    // The second rule read the first one's result at the same timestamp.
    assert_eq!(
        values(&e.db, &[("__name__", "job:x:double"), ("env", "prod")]),
        [Sample::new(T0, 6.0)]
    );
    // A scalar result becomes one series named after the rule.
    assert_eq!(
        values(&e.db, &[("__name__", "const")]),
        [Sample::new(T0, 2.0)]
    );
    assert!(g.rules().iter().all(|r| r.status().health == Health::Ok));
    assert_eq!(g.health(), Health::Ok);
    assert_eq!(g.last_evaluation(), Some(T0));
}

#[test]
fn rule_labels_override_and_empty_values_delete() {
    let e = env();
    write(
        &e.db,
        &[(
            &[("__name__", "x"), ("i", "1"), ("team", "a"), ("drop", "me")],
            1.0,
        )],
        T0,
    );
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![recording("r", "x", &[("team", "b"), ("drop", "")])],
    );
    g.eval(T0, &e.opts);
    let series: Vec<Labels> = e.db.series().into_iter().map(|(l, _)| l).collect();
    assert!(series.contains(&ls(&[("__name__", "r"), ("i", "1"), ("team", "b")])));
    assert_eq!(series.len(), 2, "{series:?}");
}

#[test]
fn vanished_recording_series_get_staleness_markers() {
    let e = env();
    let x1: &[(&str, &str)] = &[("__name__", "x"), ("i", "1")];
    let x2: &[(&str, &str)] = &[("__name__", "x"), ("i", "2")];
    write(&e.db, &[(x1, 5.0), (x2, 5.0)], T0);
    let mut g = Group::new("g", "f.yml", MIN, vec![recording("r", "x > 1", &[])]);
    g.eval(T0, &e.opts);
    write(&e.db, &[(x1, 5.0), (x2, 0.0)], T0 + MIN);
    g.eval(T0 + MIN, &e.opts);

    let r2 = values(&e.db, &[("__name__", "r"), ("i", "2")]);
    assert_eq!(r2.len(), 2);
    assert_eq!(r2[1].t, T0 + MIN);
    assert!(is_stale_nan(r2[1].v), "{r2:?}");
    let r1 = values(&e.db, &[("__name__", "r"), ("i", "1")]);
    assert_eq!(r1, [Sample::new(T0, 5.0), Sample::new(T0 + MIN, 5.0)]);

    // Marked once: the next cycle does not write another marker.
    g.eval(T0 + 2 * MIN, &e.opts);
    assert_eq!(values(&e.db, &[("__name__", "r"), ("i", "2")]).len(), 2);
}

#[test]
fn duplicate_output_labelsets_fail_the_rule() {
    let e = env();
    write(
        &e.db,
        &[
            (&[("__name__", "x"), ("a", "1"), ("b", "1")], 1.0),
            (&[("__name__", "x"), ("a", "1"), ("b", "2")], 2.0),
        ],
        T0,
    );
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![
            recording("r", "x", &[("b", "")]),
            recording("after", "vector(1)", &[]),
        ],
    );
    g.eval(T0, &e.opts);
    let status = g.rules()[0].status();
    assert_eq!(status.health, Health::Err);
    assert_eq!(
        status.last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying rule labels")
    );
    assert!(values(&e.db, &[("__name__", "r"), ("a", "1")]).is_empty());
    // The failure does not stop the rules after it.
    assert_eq!(g.rules()[1].status().health, Health::Ok);
    assert_eq!(g.health(), Health::Err);
    let c = g.counters();
    assert_eq!(
        (
            c.rule_evaluations,
            c.rule_evaluation_failures,
            c.last_evaluation_samples
        ),
        (2, 1, 1)
    );
}

#[test]
fn group_limit_fails_a_recording_rule_with_too_many_series() {
    let e = env();
    write(
        &e.db,
        &[
            (&[("__name__", "x"), ("i", "1")], 1.0),
            (&[("__name__", "x"), ("i", "2")], 2.0),
        ],
        T0,
    );
    let mut g = Group::new("g", "f.yml", MIN, vec![recording("r", "x", &[])]).with_limit(1);
    g.eval(T0, &e.opts);
    assert_eq!(
        g.rules()[0].status().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 series")
    );
    assert!(
        e.db.series()
            .iter()
            .all(|(l, _)| l.metric_name() == Some("x"))
    );

    let mut g = Group::new("g", "f.yml", MIN, vec![recording("r", "x", &[])]).with_limit(2);
    g.eval(T0, &e.opts);
    assert_eq!(g.rules()[0].status().health, Health::Ok);
}

#[test]
fn rejected_samples_mark_the_rule_failed() {
    let e = env();
    // A storage that no longer accepts writes at T0, as a TSDB head past that time.
    let db = Arc::new(MemoryStorage::new().with_min_valid_time(T0 + 1));
    let opts = ManagerOptions {
        queryable: db.clone(),
        appendable: db.clone(),
        ..e.opts.clone()
    };
    let mut g = Group::new("g", "f.yml", MIN, vec![recording("r", "vector(1)", &[])]);
    g.eval(T0, &opts);
    let status = g.rules()[0].status();
    assert_eq!(status.health, Health::Err);
    assert_eq!(status.last_error.as_deref(), Some("out of bounds"));
    g.eval(T0 + MIN, &opts);
    assert_eq!(g.rules()[0].status().health, Health::Ok);
    assert_eq!(
        values(&db, &[("__name__", "r")]),
        [Sample::new(T0 + MIN, 1.0)]
    );
}

#[test]
fn query_errors_and_non_vector_results_are_reported() {
    let e = env();
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![
            recording("s", "\"a string\"", &[]),
            recording("m", "x[5m]", &[]),
        ],
    );
    g.eval(T0, &e.opts);
    for r in g.rules() {
        assert_eq!(r.status().health, Health::Err);
        assert_eq!(
            r.status().last_error.as_deref(),
            Some("rule result is not a vector or scalar")
        );
    }
}

#[test]
fn query_offset_shifts_the_evaluation_and_the_output() {
    let e = env();
    write(&e.db, &[(&[("__name__", "x")], 1.0)], T0 - 30_000);
    write(&e.db, &[(&[("__name__", "x")], 2.0)], T0);
    let mut g =
        Group::new("g", "f.yml", MIN, vec![recording("r", "x", &[])]).with_query_offset(30_000);
    g.eval(T0, &e.opts);
    assert_eq!(
        values(&e.db, &[("__name__", "r")]),
        [Sample::new(T0 - 30_000, 1.0)]
    );
}

// ---------------------------------------------------------------- alerting rules

fn up(db: &MemoryStorage, instance: &str, v: f64, t: i64) {
    write(db, &[(&[("__name__", "up"), ("instance", instance)], v)], t);
}

#[test]
fn alert_goes_pending_then_firing_and_writes_alerts_series() {
    let e = env();
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting(
            "Down",
            "up == 0",
            2 * MIN,
            0,
            &[("severity", "page")],
        )],
    );
    for k in 0..3 {
        let t = T0 + k * MIN;
        up(&e.db, "a", 0.0, t);
        g.eval(t, &e.opts);
        let a = alerting_rule(&g, 0);
        let alert = a.alerts().next().unwrap();
        let want = if k < 2 {
            AlertState::Pending
        } else {
            AlertState::Firing
        };
        assert_eq!(alert.state, want, "after eval {k}");
        assert_eq!(alert.active_at, T0);
        if k < 2 {
            assert!(e.notifier.take().is_empty(), "pending alerts are not sent");
        }
    }
    let a = alerting_rule(&g, 0);
    let alert = a.alerts().next().unwrap();
    assert_eq!(
        alert.labels,
        ls(&[
            ("alertname", "Down"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert_eq!(
        alert.annotations,
        ls(&[("summary", "a is at 0")]),
        "annotations are expanded with $labels and $value"
    );
    assert_eq!(a.state(), Some(AlertState::Firing));

    let base = [
        ("alertname", "Down"),
        ("instance", "a"),
        ("severity", "page"),
    ];
    let mut pending = base.to_vec();
    pending.extend([("__name__", "ALERTS"), ("alertstate", "pending")]);
    let mut firing = base.to_vec();
    firing.extend([("__name__", "ALERTS"), ("alertstate", "firing")]);
    let mut for_state = base.to_vec();
    for_state.push(("__name__", "ALERTS_FOR_STATE"));
    let p = values(&e.db, &pending);
    assert_eq!(p[..2], [Sample::new(T0, 1.0), Sample::new(T0 + MIN, 1.0)]);
    assert!(
        is_stale_nan(p[2].v),
        "pending series ends when it fires: {p:?}"
    );
    assert_eq!(values(&e.db, &firing), [Sample::new(T0 + 2 * MIN, 1.0)]);
    let f = values(&e.db, &for_state);
    assert_eq!(f.len(), 3);
    assert!(f.iter().all(|s| s.v == (T0 / 1000) as f64));

    let sent = e.notifier.take();
    assert_eq!(sent.len(), 1);
    let s = &sent[0];
    assert_eq!(s.labels, alert.labels);
    assert_eq!(s.starts_at, T0 + 2 * MIN);
    // Valid for four times the larger of the resend delay and the interval.
    assert_eq!(s.ends_at, T0 + 2 * MIN + 4 * MIN);
    assert_eq!(
        s.generator_url,
        "http://prom.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
}

#[test]
fn firing_alerts_are_resent_after_the_resend_delay() {
    let e = env();
    let opts = e.opts.clone().resend_delay_ms(2 * MIN);
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", 0, 0, &[])],
    );
    let mut sent_at = Vec::new();
    for k in 0..7 {
        let t = T0 + k * MIN;
        up(&e.db, "a", 0.0, t);
        g.eval(t, &opts);
        for a in e.notifier.take() {
            // ends_at follows the resend delay, the larger here.
            assert_eq!(a.ends_at, t + 8 * MIN);
            sent_at.push(t);
        }
    }
    // Sent when it fires, then once more than the resend delay has passed.
    assert_eq!(sent_at, [T0, T0 + 3 * MIN, T0 + 6 * MIN]);
}

#[test]
fn resolved_alerts_are_sent_while_retained_then_dropped() {
    let e = env();
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", 0, 0, &[])],
    );
    up(&e.db, "a", 0.0, T0);
    g.eval(T0, &e.opts);
    assert_eq!(e.notifier.take().len(), 1);

    // Recovered.
    let resolved_at = T0 + MIN;
    let mut sends = Vec::new();
    for k in 1..=18 {
        let t = T0 + k * MIN;
        up(&e.db, "a", 1.0, t);
        g.eval(t, &e.opts);
        let a = alerting_rule(&g, 0);
        let retained = a.alerts().count();
        if t - resolved_at <= 15 * MIN {
            assert_eq!(retained, 1, "retained at +{}m", k);
            let alert = a.alerts().next().unwrap();
            assert_eq!(alert.state, AlertState::Inactive);
            assert_eq!(alert.resolved_at, Some(resolved_at));
            assert_eq!(a.active_alerts().count(), 0, "not listed as active");
        } else {
            assert_eq!(retained, 0, "dropped at +{}m", k);
        }
        for s in e.notifier.take() {
            assert_eq!(
                s.ends_at, resolved_at,
                "a resolved alert ends when it resolved"
            );
            assert_eq!(s.starts_at, T0);
            sends.push(t);
        }
    }
    // Sent on resolving, then every time more than the resend delay (1m) has passed.
    assert_eq!(
        sends,
        (0..8)
            .map(|k| resolved_at + 2 * k * MIN)
            .collect::<Vec<_>>()
    );
    // ALERTS ends with a staleness marker at the resolve time.
    let firing = values(
        &e.db,
        &[
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "firing"),
            ("instance", "a"),
        ],
    );
    assert_eq!(firing.len(), 2);
    assert_eq!(firing[1].t, resolved_at);
    assert!(is_stale_nan(firing[1].v));
}

#[test]
fn keep_firing_for_holds_a_resolved_alert_firing() {
    let e = env();
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", 0, 2 * MIN, &[])],
    );
    up(&e.db, "a", 0.0, T0);
    g.eval(T0, &e.opts);
    let gone = T0 + MIN;
    for k in 1..=3 {
        let t = T0 + k * MIN;
        up(&e.db, "a", 1.0, t);
        g.eval(t, &e.opts);
        let a = alerting_rule(&g, 0);
        let alert = a.alerts().next().unwrap();
        if t - gone < 2 * MIN {
            assert_eq!(alert.state, AlertState::Firing, "+{k}m");
            assert_eq!(alert.keep_firing_since, Some(gone));
            assert_eq!(alert.resolved_at, None);
        } else {
            assert_eq!(alert.state, AlertState::Inactive, "+{k}m");
            assert_eq!(alert.resolved_at, Some(t));
        }
    }
    let firing = values(
        &e.db,
        &[
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "firing"),
            ("instance", "a"),
        ],
    );
    let ts: Vec<i64> = firing.iter().map(|s| s.t).collect();
    assert_eq!(ts, [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    assert!(is_stale_nan(firing[3].v));

    // Coming back while kept firing clears keep_firing_since and keeps active_at.
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", 0, 5 * MIN, &[])],
    );
    let e = env();
    up(&e.db, "a", 0.0, T0);
    g.eval(T0, &e.opts);
    up(&e.db, "a", 1.0, T0 + MIN);
    g.eval(T0 + MIN, &e.opts);
    up(&e.db, "a", 0.0, T0 + 2 * MIN);
    g.eval(T0 + 2 * MIN, &e.opts);
    let alert = alerting_rule(&g, 0).alerts().next().unwrap().clone();
    assert_eq!(alert.keep_firing_since, None);
    assert_eq!(alert.active_at, T0);
    assert_eq!(alert.state, AlertState::Firing);
}

#[test]
fn pending_alert_that_vanishes_is_forgotten() {
    let e = env();
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", 5 * MIN, 0, &[])],
    );
    up(&e.db, "a", 0.0, T0);
    g.eval(T0, &e.opts);
    up(&e.db, "a", 1.0, T0 + MIN);
    g.eval(T0 + MIN, &e.opts);
    assert_eq!(alerting_rule(&g, 0).alerts().count(), 0);
    up(&e.db, "a", 0.0, T0 + 2 * MIN);
    g.eval(T0 + 2 * MIN, &e.opts);
    let a = alerting_rule(&g, 0).alerts().next().unwrap().clone();
    assert_eq!(a.active_at, T0 + 2 * MIN, "a new alert, not the old one");
    assert!(e.notifier.take().is_empty());
}

#[test]
fn alert_labels_are_expanded_and_duplicates_after_expansion_fail() {
    let e = env();
    write(
        &e.db,
        &[
            (&[("__name__", "x"), ("i", "1")], 0.0),
            (&[("__name__", "y"), ("i", "1")], 0.0),
        ],
        T0,
    );
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![
            alerting("Ok", "x == 0", 0, 0, &[("where", "on {{ $labels.i }}")]),
            // x and y differ only by name, which the alert labels drop.
            alerting("Dup", "{__name__=~\"x|y\"} == 0", 0, 0, &[]),
        ],
    );
    g.eval(T0, &e.opts);
    let a = alerting_rule(&g, 0);
    assert_eq!(
        a.alerts().next().unwrap().labels,
        ls(&[("alertname", "Ok"), ("i", "1"), ("where", "on 1")])
    );
    let dup = &g.rules()[1].status();
    assert_eq!(dup.health, Health::Err);
    assert_eq!(
        dup.last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
    // The ALERTS series carries the expanded label.
    assert_eq!(
        values(
            &e.db,
            &[
                ("__name__", "ALERTS"),
                ("alertname", "Ok"),
                ("alertstate", "firing"),
                ("i", "1"),
                ("where", "on 1"),
            ]
        ),
        [Sample::new(T0, 1.0)]
    );
}

#[test]
fn alert_limit_fails_the_rule_and_clears_its_alerts() {
    let e = env();
    up(&e.db, "a", 0.0, T0);
    up(&e.db, "b", 0.0, T0);
    let mut g = Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", MIN, 0, &[])],
    )
    .with_limit(1);
    g.eval(T0, &e.opts);
    let a = alerting_rule(&g, 0);
    assert_eq!(
        a.status().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert_eq!(a.alerts().count(), 0);
    assert!(
        e.db.series()
            .iter()
            .all(|(l, _)| l.metric_name() == Some("up"))
    );
}

// ---------------------------------------------------------------- scheduling

/// Advances the clock to the manager's next due times, writing `up{instance="a"}` there,
/// until a group has been evaluated; returns that time.
fn step(m: &Manager, clock: &ManualClock, db: &MemoryStorage, up_value: f64) -> i64 {
    loop {
        let due = m.next_due().expect("something is scheduled");
        clock.set(due);
        up(db, "a", up_value, due);
        if m.run_pending() >= 1 {
            return due;
        }
    }
}

#[test]
fn groups_are_evaluated_on_aligned_slots_and_count_missed_iterations() {
    let e = env();
    let m = Manager::new(e.opts.clone());
    m.update(vec![
        Group::new("a", "f.yml", MIN, vec![recording("r1", "vector(1)", &[])]),
        Group::new("b", "f.yml", MIN, vec![recording("r2", "vector(2)", &[])]),
    ])
    .unwrap();
    let (first_a, first_b) = (
        m.with_group("f.yml", "a", |g| g.next_eval().unwrap())
            .unwrap(),
        m.with_group("f.yml", "b", |g| g.next_eval().unwrap())
            .unwrap(),
    );
    for first in [first_a, first_b] {
        assert!(first > T0 && first <= T0 + MIN, "first slot after now");
    }
    // The slot depends on the group, and stays put as time passes.
    let slot = m
        .with_group("f.yml", "a", |g| {
            let s = g.eval_timestamp(T0 + 10 * MIN + 1);
            assert_eq!(g.eval_timestamp(s), s);
            assert_eq!(g.eval_timestamp(s + MIN - 1), s);
            s
        })
        .unwrap();
    assert_eq!((slot - first_a).rem_euclid(MIN), 0);

    e.clock.set(first_a.min(first_b) - 1);
    assert_eq!(m.run_pending(), 0, "nothing before the slot");
    e.clock.set(first_a.max(first_b));
    assert_eq!(m.run_pending(), 2);

    // Late by two and a half intervals: evaluates once, at the latest slot, two missed.
    e.clock.set(first_a + MIN + 2 * MIN + MIN / 2);
    m.run_pending();
    m.with_group("f.yml", "a", |g| {
        assert_eq!(g.last_eval_timestamp(), Some(first_a + 3 * MIN));
        assert_eq!(g.iterations(), 2);
        assert_eq!(g.iterations_missed(), 2);
        assert_eq!(g.next_eval(), Some(first_a + 4 * MIN));
    })
    .unwrap();
    let r1: Vec<i64> = values(&e.db, &[("__name__", "r1")])
        .iter()
        .map(|s| s.t)
        .collect();
    assert_eq!(r1, [first_a, first_a + 3 * MIN]);

    let snap = m.groups();
    assert_eq!(snap.len(), 2);
    assert_eq!(snap[0].iterations_missed, 2);
}

#[test]
fn update_rejects_duplicate_groups_and_bad_intervals() {
    let e = env();
    let m = Manager::new(e.opts.clone());
    let err = m
        .update(vec![
            Group::new("a", "f.yml", MIN, vec![]),
            Group::new("a", "f.yml", MIN, vec![]),
        ])
        .unwrap_err();
    assert!(matches!(err, ManagerError::DuplicateGroup { .. }));
    assert_eq!(
        err.to_string(),
        "f.yml: groupname: \"a\" is repeated in the same file"
    );
    let err = m
        .update(vec![Group::new("a", "f.yml", 0, vec![])])
        .unwrap_err();
    assert!(matches!(err, ManagerError::InvalidInterval { .. }));
    assert!(m.groups().is_empty());
    assert!(!m.loaded());
}

// ---------------------------------------------------------------- restore

/// The alert's `ALERTS_FOR_STATE` as a previous run left it: active since `active_at`,
/// written every minute until `down_at`.
fn previous_run(db: &MemoryStorage, active_at: i64, down_at: i64) {
    let l: &[(&str, &str)] = &[
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "Down"),
        ("instance", "a"),
    ];
    let mut t = active_at;
    while t <= down_at {
        write(db, &[(l, (active_at / 1000) as f64)], t);
        t += MIN;
    }
}

struct Restored {
    e: Env,
    m: Manager,
    first: i64,
    second: i64,
}

/// Starts a manager at `restart` with rule `Down` (`for` = `hold`), runs the two evaluations
/// that precede the restore, and returns them.
fn restart(prev: impl FnOnce(&MemoryStorage), restart: i64, hold: i64) -> Restored {
    let e = env();
    prev(&e.db);
    e.clock.set(restart);
    let m = Manager::new(e.opts.clone());
    m.update(vec![Group::new(
        "g",
        "f.yml",
        MIN,
        vec![alerting("Down", "up == 0", hold, 0, &[])],
    )])
    .unwrap();
    let first = step(&m, &e.clock, &e.db, 0.0);
    m.with_group("f.yml", "g", |g| {
        assert!(!alerting_rule(g, 0).restored());
    });
    let second = step(&m, &e.clock, &e.db, 0.0);
    Restored {
        e,
        m,
        first,
        second,
    }
}

fn active_at(r: &Restored) -> i64 {
    r.m.with_group("f.yml", "g", |g| {
        let a = alerting_rule(g, 0);
        assert!(a.restored());
        a.alerts().next().unwrap().active_at
    })
    .unwrap()
}

#[test]
fn restore_resumes_pending_time_after_the_outage() {
    // `for` 30m, pending for 5m before going down, down for 10m.
    let r = restart(
        |db| previous_run(db, T0, T0 + 5 * MIN),
        T0 + 15 * MIN,
        30 * MIN,
    );
    // No ALERTS before restoring.
    assert!(
        r.e.db
            .series()
            .iter()
            .all(|(l, _)| l.metric_name() != Some("ALERTS"))
    );
    let restored = active_at(&r);
    assert_eq!(restored, T0 + (r.second - (T0 + 5 * MIN)));
    // It fires 25 minutes (what was left) after the restore.
    let mut t;
    loop {
        t = step(&r.m, &r.e.clock, &r.e.db, 0.0);
        let state =
            r.m.with_group("f.yml", "g", |g| {
                alerting_rule(g, 0).alerts().next().unwrap().state
            })
            .unwrap();
        if state == AlertState::Firing {
            break;
        }
    }
    assert_eq!(t, r.second + 25 * MIN);
    // ALERTS_FOR_STATE now carries the restored time.
    let fs = values(
        &r.e.db,
        &[
            ("__name__", "ALERTS_FOR_STATE"),
            ("alertname", "Down"),
            ("instance", "a"),
        ],
    );
    assert_eq!(fs.last().unwrap().v, (restored / 1000) as f64);
    assert!(r.first < r.second);
}

#[test]
fn restore_waits_at_least_the_grace_period() {
    // `for` 10m, pending 5m: 5m left is less than the 10m grace period.
    let r = restart(
        |db| previous_run(db, T0, T0 + 5 * MIN),
        T0 + 15 * MIN,
        10 * MIN,
    );
    assert_eq!(active_at(&r), r.second + 10 * MIN - 10 * MIN);
}

#[test]
fn restore_keeps_an_alert_that_was_firing_firing() {
    // `for` 10m, active 20m before going down: it fires at the next evaluation.
    let r = restart(
        |db| previous_run(db, T0, T0 + 20 * MIN),
        T0 + 25 * MIN,
        10 * MIN,
    );
    assert_eq!(active_at(&r), T0);
    step(&r.m, &r.e.clock, &r.e.db, 0.0);
    let sent = r.e.notifier.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].labels,
        ls(&[("alertname", "Down"), ("instance", "a")])
    );
}

#[test]
fn restore_ignores_state_older_than_the_outage_tolerance() {
    let r = restart(
        |db| previous_run(db, T0, T0 + 5 * MIN),
        T0 + 5 * MIN + 61 * MIN,
        30 * MIN,
    );
    assert_eq!(active_at(&r), r.first);
}

#[test]
fn restore_skips_rules_whose_for_is_shorter_than_the_grace_period() {
    let r = restart(
        |db| previous_run(db, T0, T0 + 5 * MIN),
        T0 + 15 * MIN,
        5 * MIN,
    );
    assert_eq!(active_at(&r), r.first);
}

#[test]
fn restore_ignores_a_stale_for_state_series() {
    let r = restart(
        |db| {
            previous_run(db, T0, T0 + 5 * MIN);
            write(
                db,
                &[(
                    &[
                        ("__name__", "ALERTS_FOR_STATE"),
                        ("alertname", "Down"),
                        ("instance", "a"),
                    ],
                    prom_model::value::stale_nan(),
                )],
                T0 + 6 * MIN,
            );
        },
        T0 + 15 * MIN,
        30 * MIN,
    );
    assert_eq!(active_at(&r), r.first);
}

// ---------------------------------------------------------------- reloads

#[test]
fn reload_keeps_state_of_unchanged_and_changed_groups_and_stales_removed_ones() {
    let e = env();
    let m = Manager::new(e.opts.clone());
    let groups = || {
        vec![
            Group::new(
                "alerts",
                "f.yml",
                MIN,
                vec![alerting("Down", "up == 0", 10 * MIN, 0, &[])],
            ),
            Group::new("rec", "f.yml", MIN, vec![recording("r", "up", &[])]),
        ]
    };
    m.update(groups()).unwrap();
    let mut first = 0;
    for k in 0..4 {
        // Both groups run each step (their slots differ; run until both ran).
        let t = step(&m, &e.clock, &e.db, 0.0);
        if k == 0 {
            first = t;
        }
    }
    let active = |m: &Manager| {
        m.with_group("f.yml", "alerts", |g| {
            alerting_rule(g, 0).alerts().next().map(|a| a.active_at)
        })
        .unwrap()
    };
    let was = active(&m).unwrap();
    assert!(was >= first);
    let next_before = m.with_group("f.yml", "alerts", |g| g.next_eval()).unwrap();

    // The same groups: untouched, schedule included.
    m.update(groups()).unwrap();
    assert_eq!(active(&m), Some(was));
    assert_eq!(
        m.with_group("f.yml", "alerts", |g| g.next_eval()).unwrap(),
        next_before
    );

    // A changed expression under the same name and labels keeps the alert; the removed
    // recording group's series go stale two intervals later, at the time of removal.
    e.clock.advance(1_000);
    m.update(vec![Group::new(
        "alerts",
        "f.yml",
        MIN,
        vec![alerting("Down", "up < 1", 10 * MIN, 0, &[])],
    )])
    .unwrap();
    assert_eq!(active(&m), Some(was));
    let removed_at = e.clock.now_ms();
    let r = || values(&e.db, &[("__name__", "r"), ("instance", "a")]);
    let before = r().len();
    let t = step(&m, &e.clock, &e.db, 0.0);
    assert!(t < removed_at + 2 * MIN);
    assert_eq!(
        r().len(),
        before,
        "not marked before two intervals have passed"
    );
    for _ in 0..2 {
        step(&m, &e.clock, &e.db, 0.0);
    }
    let after = r();
    assert_eq!(after.len(), before + 1, "{after:?}");
    let marker = after.last().unwrap();
    assert!(is_stale_nan(marker.v));
    assert_eq!(marker.t, removed_at);
    assert_eq!(active(&m), Some(was));
    // Groups added by later loads write ALERTS at once and do not restore.
    m.with_group("f.yml", "alerts", |g| {
        assert!(alerting_rule(g, 0).restored());
    });
}

#[test]
fn reload_marks_series_of_removed_rules_stale() {
    let e = env();
    let m = Manager::new(e.opts.clone());
    m.update(vec![Group::new(
        "g",
        "f.yml",
        MIN,
        vec![
            recording("keep", "vector(1)", &[]),
            recording("gone", "vector(2)", &[]),
        ],
    )])
    .unwrap();
    step(&m, &e.clock, &e.db, 0.0);
    m.update(vec![Group::new(
        "g",
        "f.yml",
        MIN,
        vec![recording("keep", "vector(1)", &[])],
    )])
    .unwrap();
    let t = step(&m, &e.clock, &e.db, 0.0);
    let gone = values(&e.db, &[("__name__", "gone")]);
    assert_eq!(gone.len(), 2);
    assert_eq!(gone[1].t, t);
    assert!(is_stale_nan(gone[1].v));
    assert_eq!(values(&e.db, &[("__name__", "keep")]).len(), 2);
}

// ---------------------------------------------------------------- API data

#[test]
fn snapshots_carry_the_rules_api_fields() {
    let e = env();
    let m = Manager::new(e.opts.clone());
    m.update(vec![
        Group::new(
            "g",
            "f.yml",
            MIN,
            vec![
                alerting("Down", "up == 0", 0, 2 * MIN, &[("severity", "page")]),
                recording("r", "up", &[("x", "y")]),
            ],
        )
        .with_limit(5),
    ])
    .unwrap();
    let before = m.groups()[0].to_json();
    assert_eq!(before["rules"][0]["state"], "unknown");
    assert_eq!(before["rules"][0]["health"], "unknown");
    assert_eq!(before["lastEvaluation"], "0001-01-01T00:00:00Z");

    let t = step(&m, &e.clock, &e.db, 0.0);
    let g = m.groups()[0].to_json();
    assert_eq!(g["name"], "g");
    assert_eq!(g["file"], "f.yml");
    assert_eq!(g["interval"], 60.0);
    assert_eq!(g["limit"], 5);
    assert!(g["evaluationTime"].as_f64().unwrap() >= 0.0);
    let alert_rule = &g["rules"][0];
    assert_eq!(alert_rule["type"], "alerting");
    assert_eq!(alert_rule["name"], "Down");
    assert_eq!(alert_rule["query"], "up == 0");
    assert_eq!(alert_rule["duration"], 0.0);
    assert_eq!(alert_rule["keepFiringFor"], 120.0);
    assert_eq!(alert_rule["labels"]["severity"], "page");
    assert_eq!(
        alert_rule["annotations"]["summary"],
        "{{ $labels.instance }} is at {{ $value }}"
    );
    assert_eq!(alert_rule["state"], "firing");
    assert_eq!(alert_rule["health"], "ok");
    assert!(alert_rule.get("lastError").is_none());
    let alert = &alert_rule["alerts"][0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["value"], "0e+00");
    assert_eq!(alert["labels"]["instance"], "a");
    assert_eq!(alert["annotations"]["summary"], "a is at 0");
    assert_eq!(
        alert["activeAt"],
        prom_rules::snapshot::format_rfc3339(t).as_str()
    );
    let rec = &g["rules"][1];
    assert_eq!(rec["type"], "recording");
    assert_eq!(rec["labels"]["x"], "y");
    assert!(rec.get("alerts").is_none());
    assert_eq!(
        rec["lastEvaluation"],
        prom_rules::snapshot::format_rfc3339(t).as_str()
    );

    let alerts = m.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, AlertState::Firing);
    assert_eq!(alerts[0].active_at, t);
}

#[cfg(feature = "runtime")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_loop_evaluates_on_schedule_and_stops() {
    let db = Arc::new(MemoryStorage::new());
    let notifier = Arc::new(RecordingNotifier::default());
    let engine = Arc::new(Engine::new(EngineOptions::default().parallelism(1)));
    let m = Arc::new(Manager::new(ManagerOptions::new(
        engine,
        db.clone(),
        db.clone(),
        notifier,
    )));
    m.update(vec![Group::new(
        "g",
        "f.yml",
        100,
        vec![recording("r", "vector(1)", &[])],
    )])
    .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Arc::clone(&m).run(async {
        let _ = rx.await;
    }));
    tokio::time::sleep(std::time::Duration::from_millis(650)).await;
    tx.send(()).unwrap();
    task.await.unwrap();
    let n = db.samples(&ls(&[("__name__", "r")])).len();
    assert!((3..=7).contains(&n), "{n} evaluations in 650ms at 100ms");
    let ts: Vec<i64> = db
        .samples(&ls(&[("__name__", "r")]))
        .iter()
        .map(|s| s.t)
        .collect();
    assert!(ts.windows(2).all(|w| (w[1] - w[0]) % 100 == 0), "{ts:?}");
}
