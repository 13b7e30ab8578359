//! Rule groups: rules evaluated in order on one interval, with what they wrote last time so
//! vanished series get staleness markers, and the schedule Prometheus gives a group.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prom_model::value::stale_nan;
use prom_model::{AppendError, Labels, Timestamp};

use crate::manager::ManagerOptions;
use crate::rule::{Health, Rule, RuleError};

/// Counters of a group's rule evaluations, the figures behind Prometheus's
/// `prometheus_rule_evaluations_total`, `prometheus_rule_evaluation_failures_total` and
/// `prometheus_rule_group_last_evaluation_samples`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounters {
    /// Rule evaluations, successful or not.
    pub rule_evaluations: u64,
    /// Rule evaluations that failed (the query, the result's checks or writing it).
    pub rule_evaluation_failures: u64,
    /// Samples the rules produced at the last evaluation.
    pub last_evaluation_samples: u64,
}

/// A group of rules evaluated together, in order, every `interval`.
#[derive(Debug, Clone)]
pub struct Group {
    name: String,
    file: String,
    interval_ms: i64,
    limit: usize,
    query_offset_ms: Option<i64>,
    rules: Vec<Rule>,
    /// For each rule, the series it wrote at its last successful evaluation.
    series_in_previous_eval: Vec<HashSet<Labels>>,
    /// Series of rules removed by a reload, to be marked stale at the next evaluation.
    stale_series: Vec<Labels>,
    /// Whether `for` state is to be restored after the second evaluation.
    pub(crate) should_restore: bool,
    next_eval: Option<Timestamp>,
    last_eval_timestamp: Option<Timestamp>,
    iterations: u64,
    iterations_missed: u64,
    counters: GroupCounters,
    last_evaluation: Option<Timestamp>,
    evaluation_time: Duration,
    last_restore_error: Option<String>,
}

impl Group {
    /// A group `name` from rule file `file`, evaluated every `interval_ms` milliseconds.
    pub fn new(
        name: impl Into<String>,
        file: impl Into<String>,
        interval_ms: i64,
        rules: Vec<Rule>,
    ) -> Self {
        let n = rules.len();
        Group {
            name: name.into(),
            file: file.into(),
            interval_ms,
            limit: 0,
            query_offset_ms: None,
            rules,
            series_in_previous_eval: vec![HashSet::new(); n],
            stale_series: Vec::new(),
            should_restore: false,
            next_eval: None,
            last_eval_timestamp: None,
            iterations: 0,
            iterations_missed: 0,
            counters: GroupCounters::default(),
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            last_restore_error: None,
        }
    }

    /// Sets the group's `limit`: the most series a recording rule, or alerts an alerting rule,
    /// may produce (0: no limit).
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the group's `query_offset` (milliseconds), overriding the manager's
    /// [`rule_query_offset_ms`](ManagerOptions::rule_query_offset_ms).
    pub fn with_query_offset(mut self, offset_ms: i64) -> Self {
        self.query_offset_ms = Some(offset_ms);
        self
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the group was loaded from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The evaluation interval (milliseconds).
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The `limit` (0: none).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The group's own `query_offset`, if it has one.
    pub fn query_offset_ms(&self) -> Option<i64> {
        self.query_offset_ms
    }

    /// The query offset in effect under `opts`.
    pub fn effective_query_offset_ms(&self, opts: &ManagerOptions) -> i64 {
        self.query_offset_ms.unwrap_or(opts.rule_query_offset_ms)
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Sets whether the alerting rules count as restored (writing `ALERTS` at once).
    pub(crate) fn set_rules_restored(&mut self, restored: bool) {
        for r in &mut self.rules {
            if let Rule::Alerting(a) = r {
                a.restored = restored;
            }
        }
    }

    /// When the last evaluation started (wall clock, ms).
    pub fn last_evaluation(&self) -> Option<Timestamp> {
        self.last_evaluation
    }

    /// The evaluation timestamp of the last evaluation (the scheduled slot, ms).
    pub fn last_eval_timestamp(&self) -> Option<Timestamp> {
        self.last_eval_timestamp
    }

    /// How long the last evaluation took.
    pub fn evaluation_time(&self) -> Duration {
        self.evaluation_time
    }

    /// The group's evaluation counters, for a server's own metrics.
    pub fn counters(&self) -> GroupCounters {
        self.counters
    }

    /// How many scheduled evaluations ran.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// How many scheduled evaluations were skipped because the previous one ran late.
    pub fn iterations_missed(&self) -> u64 {
        self.iterations_missed
    }

    /// When the next scheduled evaluation is due (ms), once the group has been scheduled.
    pub fn next_eval(&self) -> Option<Timestamp> {
        self.next_eval
    }

    /// Why restoring `for` state failed, if it did.
    pub fn last_restore_error(&self) -> Option<&str> {
        self.last_restore_error.as_deref()
    }

    /// The group's health: `err` if any rule's last evaluation failed, `ok` if all succeeded,
    /// `unknown` before the first evaluation.
    pub fn health(&self) -> Health {
        let mut health = Health::Unknown;
        for r in &self.rules {
            match r.status().health {
                Health::Err => return Health::Err,
                Health::Ok => health = Health::Ok,
                Health::Unknown => {}
            }
        }
        health
    }

    /// Whether `other` has the same identity, settings and rule definitions, so that a reload
    /// can keep this group running untouched.
    pub fn equals(&self, other: &Group) -> bool {
        self.name == other.name
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.limit == other.limit
            && self.query_offset_ms == other.query_offset_ms
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.same_definition(b))
    }

    /// Prometheus's hash of the group's identity, which spreads groups over their interval.
    fn hash(&self) -> u64 {
        // The hash of the label set {file=<file>, name=<name>}, empty values included.
        let mut buf = Vec::with_capacity(self.name.len() + self.file.len() + 12);
        for (n, v) in [("file", &self.file), ("name", &self.name)] {
            buf.extend_from_slice(n.as_bytes());
            buf.push(0xff);
            buf.extend_from_slice(v.as_bytes());
            buf.push(0xff);
        }
        prom_model::xxh64(&buf)
    }

    /// The latest evaluation slot at or before `now_ms`: slots are `interval` apart, shifted
    /// from multiples of the interval by the group's hash modulo the interval. Prometheus
    /// takes the hash modulo the interval in nanoseconds; the offset is truncated to whole
    /// milliseconds, so slots carry the millisecond timestamps Prometheus's samples get.
    pub fn eval_timestamp(&self, now_ms: Timestamp) -> Timestamp {
        let interval = self.interval_ms.max(1);
        let interval_ns = u64::try_from(interval)
            .unwrap_or(1)
            .saturating_mul(1_000_000);
        // Below the interval, so it fits.
        let offset = i64::try_from(self.hash() % interval_ns / 1_000_000).unwrap_or(0);
        let adj_now = now_ms - offset;
        adj_now - adj_now.rem_euclid(interval) + offset
    }

    /// Schedules the first evaluation at the first slot after `now_ms`, as Prometheus does
    /// when it starts a group.
    pub fn schedule(&mut self, now_ms: Timestamp) {
        self.next_eval = Some(self.eval_timestamp(now_ms) + self.interval_ms.max(1));
    }

    /// Runs the scheduled evaluation if it is due at `now_ms` and returns whether it ran.
    ///
    /// A late call evaluates at the latest slot that has passed and counts the slots skipped
    /// as missed iterations. After the second evaluation of a group that must restore `for`
    /// state, the state is restored.
    pub fn run_due(&mut self, now_ms: Timestamp, opts: &ManagerOptions) -> bool {
        let interval = self.interval_ms.max(1);
        let next = match self.next_eval {
            Some(t) => t,
            None => {
                self.schedule(now_ms);
                return false;
            }
        };
        if now_ms < next {
            return false;
        }
        let missed = (now_ms - next) / interval;
        let ts = next + missed * interval;
        self.iterations_missed += missed as u64;
        self.eval(ts, opts);
        self.iterations += 1;
        self.next_eval = Some(ts + interval);
        if self.should_restore && self.iterations >= 2 {
            self.restore_for_state(opts.clock.now_ms(), opts);
            self.should_restore = false;
        }
        true
    }

    /// Evaluates every rule at evaluation time `ts`, in order, writing each rule's result
    /// (committed before the next rule runs, so later rules see it), staleness markers for the
    /// series a rule no longer produces, and sending alerts.
    pub fn eval(&mut self, ts: Timestamp, opts: &ManagerOptions) {
        let started = Instant::now();
        self.last_evaluation = Some(opts.clock.now_ms());
        self.last_eval_timestamp = Some(ts);
        let offset = self.effective_query_offset_ms(opts);
        let query_ts = ts - offset;
        self.counters.last_evaluation_samples = 0;
        for i in 0..self.rules.len() {
            let rule_started = Instant::now();
            let rule_start_ms = opts.clock.now_ms();
            self.counters.rule_evaluations += 1;
            self.eval_rule(i, ts, offset, opts);
            if self.rules[i].status().health == Health::Err {
                self.counters.rule_evaluation_failures += 1;
            }
            let status = self.rules[i].status_mut();
            status.last_evaluation = Some(rule_start_ms);
            status.evaluation_time = rule_started.elapsed();
        }
        self.cleanup_stale_series(query_ts, opts);
        self.evaluation_time = started.elapsed();
    }

    fn eval_rule(&mut self, i: usize, ts: Timestamp, offset: i64, opts: &ManagerOptions) {
        let query_ts = ts - offset;
        let limit = self.limit;
        let interval = self.interval_ms;
        let rule = &mut self.rules[i];
        let result = match rule {
            Rule::Recording(r) => r.eval(query_ts, limit, opts),
            Rule::Alerting(r) => r.eval(ts, offset, limit, opts),
        };
        let vector = match result {
            Ok(v) => v,
            Err(e) => {
                // Nothing is written, not even staleness markers: the series are kept as
                // they were until the rule evaluates again.
                rule.status_mut().set_err(&e);
                return;
            }
        };
        rule.status_mut().set_ok();
        self.counters.last_evaluation_samples += vector.len() as u64;
        if let Rule::Alerting(r) = rule {
            let alerts = r.alerts_to_send(ts, opts.resend_delay_ms, interval, &opts.external_url);
            if !alerts.is_empty() {
                opts.notifier.send(alerts);
            }
        }

        let mut app = opts.appendable.appender();
        let mut returned = HashSet::with_capacity(vector.len());
        for s in vector {
            match app.append(None, &s.labels, s.t, s.v) {
                Ok(_) => {
                    returned.insert(s.labels);
                }
                Err(e) => rule.status_mut().set_err(&RuleError::Append(e)),
            }
        }
        for lset in &self.series_in_previous_eval[i] {
            if returned.contains(lset) {
                continue;
            }
            // The series is no longer produced. An out-of-order, too-old or duplicate marker
            // is expected when another rule now writes the series, so every rejection is
            // ignored.
            let _: Result<_, AppendError> = app.append(None, lset, query_ts, stale_nan());
        }
        match app.commit() {
            Ok(()) => self.series_in_previous_eval[i] = returned,
            Err(e) => rule.status_mut().set_err(&RuleError::Commit(e)),
        }
    }

    /// Writes staleness markers for the series of rules a reload removed.
    fn cleanup_stale_series(&mut self, t: Timestamp, opts: &ManagerOptions) {
        if self.stale_series.is_empty() {
            return;
        }
        write_stale_markers(&self.stale_series, t, opts);
        self.stale_series.clear();
    }

    /// Restores the `for` state of every alerting rule from `ALERTS_FOR_STATE` over the
    /// outage tolerance before `now_ms`.
    pub fn restore_for_state(&mut self, now_ms: Timestamp, opts: &ManagerOptions) {
        self.last_restore_error = None;
        let mint = now_ms - opts.outage_tolerance_ms;
        let querier = match opts.queryable.querier(mint, now_ms) {
            Ok(q) => q,
            Err(e) => {
                self.last_restore_error = Some(e.to_string());
                for r in &mut self.rules {
                    if let Rule::Alerting(a) = r {
                        a.restored = true;
                    }
                }
                return;
            }
        };
        for r in &mut self.rules {
            let Rule::Alerting(a) = r else { continue };
            if let Err(e) = a.restore_for_state(&*querier, now_ms, opts.for_grace_period_ms) {
                self.last_restore_error = Some(format!("rule {:?}: {e}", a.name()));
            }
        }
    }

    /// Every series the group's rules wrote at their last evaluation, and those of rules a
    /// reload removed: what gets marked stale when the group itself is removed.
    pub(crate) fn all_series(&self) -> Vec<Labels> {
        let mut out: Vec<Labels> = self.stale_series.clone();
        for set in &self.series_in_previous_eval {
            out.extend(set.iter().cloned());
        }
        out
    }

    /// Takes over the state of `from`, the same group before a reload: each rule gets the
    /// alerts and written series of the old rule with the same name and labels (in order, for
    /// repeated ones); the series of old rules left unmatched are marked stale at the next
    /// evaluation.
    pub fn copy_state(&mut self, from: &Group) {
        self.evaluation_time = from.evaluation_time;
        self.last_evaluation = from.last_evaluation;
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (fi, r) in from.rules.iter().enumerate().rev() {
            by_key.entry(r.state_key()).or_default().push(fi);
        }
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let Some(fi) = by_key.get_mut(&rule.state_key()).and_then(Vec::pop) else {
                continue;
            };
            self.series_in_previous_eval[i] = from.series_in_previous_eval[fi].clone();
            if let (Rule::Alerting(new), Rule::Alerting(old)) = (rule, &from.rules[fi]) {
                new.copy_alerts(old);
            }
        }
        self.stale_series = from.stale_series.clone();
        for indexes in by_key.values() {
            for &fi in indexes {
                self.stale_series
                    .extend(from.series_in_previous_eval[fi].iter().cloned());
            }
        }
    }
}

/// Appends a staleness marker at `t` to each of `series` and commits, ignoring rejections (a
/// series written since by another rule rejects the marker as out of order, as it should).
pub(crate) fn write_stale_markers(series: &[Labels], t: Timestamp, opts: &ManagerOptions) {
    let mut app = opts.appendable.appender();
    for lset in series {
        let _: Result<_, AppendError> = app.append(None, lset, t, stale_nan());
    }
    // A failed commit loses markers only; the series then end after the lookback delta.
    let _ = app.commit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::RecordingRule;
    use proptest::prelude::*;

    fn rec(name: &str, label: &str) -> Rule {
        let labels = if label.is_empty() {
            vec![]
        } else {
            vec![prom_model::Label::new("l", label)]
        };
        RecordingRule::new(name, prom_promql::parse("vector(1)").unwrap(), labels).into()
    }

    fn series(name: &str) -> HashSet<Labels> {
        HashSet::from([Labels::from_pairs(&[("__name__", name)])])
    }

    #[test]
    fn copy_state_matches_rules_by_name_and_labels_in_order() {
        let mut old = Group::new(
            "g",
            "f",
            1000,
            vec![rec("a", ""), rec("a", ""), rec("b", "x"), rec("c", "")],
        );
        old.series_in_previous_eval = vec![series("a1"), series("a2"), series("b"), series("c")];
        old.stale_series = vec![Labels::from_pairs(&[("__name__", "older")])];
        // One `a` left, `b` with other labels, `c` moved.
        let mut new = Group::new(
            "g",
            "f",
            1000,
            vec![rec("c", ""), rec("a", ""), rec("b", "y")],
        );
        new.copy_state(&old);
        assert_eq!(new.series_in_previous_eval[0], series("c"));
        assert_eq!(
            new.series_in_previous_eval[1],
            series("a1"),
            "the first `a`"
        );
        assert!(new.series_in_previous_eval[2].is_empty());
        let mut stale: Vec<String> = new.stale_series.iter().map(|l| l.to_string()).collect();
        stale.sort();
        assert_eq!(stale, ["a2", "b", "older"]);
    }

    #[test]
    fn equals_compares_settings_and_rule_definitions() {
        let g = || Group::new("g", "f", 1000, vec![rec("a", "x")]);
        assert!(g().equals(&g()));
        assert!(!g().equals(&g().with_limit(1)));
        assert!(!g().equals(&g().with_query_offset(0)));
        assert!(!g().equals(&Group::new("g", "f", 2000, vec![rec("a", "x")])));
        assert!(!g().equals(&Group::new("g", "f", 1000, vec![rec("a", "y")])));
        assert!(!g().equals(&Group::new("g", "f", 1000, vec![])));
    }

    proptest! {
        #[test]
        fn eval_timestamp_is_the_latest_slot(
            name in "[a-z]{0,8}",
            file in "[a-z/]{0,12}",
            interval in 1i64..3_600_000,
            now in -10_000_000_000i64..10_000_000_000_000,
            later in 0i64..10_000_000,
        ) {
            let g = Group::new(name, file, interval, vec![]);
            let slot = g.eval_timestamp(now);
            prop_assert!(slot <= now && now - slot < interval);
            // Slots of one group are a fixed grid.
            let other = g.eval_timestamp(now + later);
            prop_assert_eq!((other - slot).rem_euclid(interval), 0);
            prop_assert_eq!(g.eval_timestamp(slot), slot);
        }
    }
}
