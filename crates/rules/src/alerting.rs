//! Alerting rules: an expression whose result series become alerts, pending until they have
//! lasted `for`, then firing, and resolved when they vanish.

use std::collections::{BTreeMap, HashMap, HashSet};

use prom_model::value::is_stale_nan;
use prom_model::{
    Label, Labels, LabelsBuilder, METRIC_NAME, MatchType, Matcher, Querier, Timestamp,
};
use prom_promql::ast::Expr;
use prom_promql::engine::Sample;

use crate::manager::ManagerOptions;
use crate::notifier::Alert;
use crate::rule::{
    RuleError, RuleStatus, normalize_labels, query_vector, table_link_for_expression,
};

/// The metric name of the series holding each pending and firing alert.
pub const ALERTS_METRIC: &str = "ALERTS";
/// The metric name of the series holding each alert's active-since time, read back to restore
/// `for` state after a restart.
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
/// The label naming the alert.
pub const ALERT_NAME_LABEL: &str = "alertname";
/// The label of `ALERTS` holding the state.
pub const ALERT_STATE_LABEL: &str = "alertstate";
/// How long a resolved alert is kept, and sent as resolved, after it resolved (15 minutes).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert, ordered `Inactive < Pending < Firing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved (kept for a while to be sent as resolved).
    Inactive,
    /// Active for less than the rule's `for`.
    Pending,
    /// Active for at least the rule's `for`.
    Firing,
}

impl AlertState {
    /// Prometheus's name: `inactive`, `pending` or `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: a label set the expression returned (or returned recently).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// The alert's labels: the result's labels without `__name__`, the expanded rule labels
    /// and `alertname`.
    pub labels: Labels,
    /// The expanded annotations, as of the last evaluation that returned the alert.
    pub annotations: Labels,
    /// The state.
    pub state: AlertState,
    /// The expression's value at the last evaluation that returned the alert.
    pub value: f64,
    /// When the alert became active (evaluation time, ms).
    pub active_at: Timestamp,
    /// When it started firing.
    pub fired_at: Option<Timestamp>,
    /// When it resolved.
    pub resolved_at: Option<Timestamp>,
    /// When it was last sent to the notifier.
    pub last_sent_at: Option<Timestamp>,
    /// The end time sent with it the last time (firing alerts).
    pub valid_until: Option<Timestamp>,
    /// Since when it has been kept firing by `keep_firing_for` after the expression stopped
    /// returning it.
    pub keep_firing_since: Option<Timestamp>,
}

impl ActiveAlert {
    fn needs_sending(&self, ts: Timestamp, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at, self.last_sent_at) {
            (_, None) => true,
            // Resolved since it was last sent.
            (Some(resolved), Some(sent)) if resolved > sent => true,
            (_, Some(sent)) => sent + resend_delay_ms < ts,
        }
    }
}

/// An alerting rule: `alert: <name>`, `expr`, `for`, `keep_firing_for`, `labels`,
/// `annotations`, with the state of its alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    name: String,
    expr: Expr,
    query: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    labels: Vec<Label>,
    annotations: Vec<Label>,
    active: BTreeMap<Labels, ActiveAlert>,
    /// Whether `for` state has been restored (or needs no restoring); until then the
    /// `ALERTS` series are not written, as in Prometheus.
    pub(crate) restored: bool,
    pub(crate) status: RuleStatus,
}

impl AlertingRule {
    /// A rule raising alert `name` for each series `expr` returns, firing once it has been
    /// returned for `for_ms`, kept firing `keep_firing_for_ms` after it is no longer returned.
    /// `labels` and `annotations` are templates expanded for each alert.
    pub fn new(
        name: impl Into<String>,
        expr: Expr,
        for_ms: i64,
        keep_firing_for_ms: i64,
        labels: Vec<Label>,
        annotations: Vec<Label>,
    ) -> Self {
        let query = expr.to_string();
        AlertingRule {
            name: name.into(),
            expr,
            query,
            hold_ms: for_ms.max(0),
            keep_firing_for_ms: keep_firing_for_ms.max(0),
            labels: normalize_labels(labels),
            annotations: normalize_labels(annotations),
            active: BTreeMap::new(),
            restored: true,
            status: RuleStatus::default(),
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The expression in canonical form.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// `for`, in milliseconds.
    pub fn hold_duration_ms(&self) -> i64 {
        self.hold_ms
    }

    /// `keep_firing_for`, in milliseconds.
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }

    /// The label templates, sorted by name.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The annotation templates, sorted by name.
    pub fn annotations(&self) -> &[Label] {
        &self.annotations
    }

    /// The last evaluation's bookkeeping.
    pub fn status(&self) -> &RuleStatus {
        &self.status
    }

    /// Whether `for` state has been restored; until then no `ALERTS` series are written.
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Every alert the rule holds, resolved ones still retained included, by labels.
    pub fn alerts(&self) -> impl Iterator<Item = &ActiveAlert> {
        self.active.values()
    }

    /// The pending and firing alerts (what `/api/v1/alerts` lists).
    pub fn active_alerts(&self) -> impl Iterator<Item = &ActiveAlert> {
        self.active.values().filter(|a| a.resolved_at.is_none())
    }

    /// The highest state of the rule's alerts, or `None` before the first evaluation.
    pub fn state(&self) -> Option<AlertState> {
        self.status.last_evaluation?;
        Some(
            self.active
                .values()
                .map(|a| a.state)
                .max()
                .unwrap_or(AlertState::Inactive),
        )
    }

    pub(crate) fn same_definition(&self, other: &AlertingRule) -> bool {
        self.name == other.name
            && self.query == other.query
            && self.hold_ms == other.hold_ms
            && self.keep_firing_for_ms == other.keep_firing_for_ms
            && self.labels == other.labels
            && self.annotations == other.annotations
    }

    /// Takes over the alerts of `from` (the same rule before a reload).
    pub(crate) fn copy_alerts(&mut self, from: &AlertingRule) {
        self.active
            .extend(from.active.iter().map(|(k, a)| (k.clone(), a.clone())));
    }

    /// Evaluates the rule at `ts`, querying at `ts - query_offset`, updates the alerts and
    /// returns the `ALERTS` and `ALERTS_FOR_STATE` samples to write.
    pub(crate) fn eval(
        &mut self,
        ts: Timestamp,
        query_offset: i64,
        limit: usize,
        opts: &ManagerOptions,
    ) -> Result<Vec<Sample>, RuleError> {
        let query_ts = ts - query_offset;
        let result = query_vector(&*opts.engine, &*opts.queryable, &self.expr, query_ts)?;

        let mut b = LabelsBuilder::new();
        let mut fresh: HashMap<Labels, ActiveAlert> = HashMap::with_capacity(result.len());
        for s in &result {
            let expand = |text: &str| opts.expander.expand(&self.name, text, &s.labels, s.v, ts);
            b.reset(&s.labels);
            b.del(METRIC_NAME);
            for l in &self.labels {
                b.set(&l.name, &expand(&l.value));
            }
            b.set(ALERT_NAME_LABEL, &self.name);
            let annotations: Vec<(String, String)> = self
                .annotations
                .iter()
                .map(|a| (a.name.clone(), expand(&a.value)))
                .collect();
            let pairs: Vec<(&str, &str)> = annotations
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let labels = b.build();
            let alert = ActiveAlert {
                labels: labels.clone(),
                annotations: Labels::from_pairs(&pairs),
                state: AlertState::Pending,
                value: s.v,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: None,
                keep_firing_since: None,
            };
            if fresh.insert(labels, alert).is_some() {
                return Err(RuleError::DuplicateAlertLabelset);
            }
        }

        let returned: HashSet<Labels> = fresh.keys().cloned().collect();
        for (key, alert) in fresh {
            match self.active.get_mut(&key) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = alert.value;
                    old.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(key, alert);
                }
            }
        }

        let mut vector = Vec::new();
        let mut active_count = 0;
        let mut remove = Vec::new();
        for (key, a) in self.active.iter_mut() {
            if !returned.contains(key) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                vector.push(Sample {
                    labels: alert_series_labels(&self.labels, &self.name, a, ALERTS_METRIC, true),
                    t: query_ts,
                    v: 1.0,
                });
                vector.push(Sample {
                    labels: alert_series_labels(
                        &self.labels,
                        &self.name,
                        a,
                        ALERTS_FOR_STATE_METRIC,
                        false,
                    ),
                    t: query_ts,
                    v: a.active_at.div_euclid(1000) as f64,
                });
            }
        }
        for key in remove {
            self.active.remove(&key);
        }

        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(RuleError::AlertLimit {
                limit,
                count: active_count,
            });
        }
        Ok(vector)
    }

    /// The alerts due to be (re)sent at `ts`, marked as sent: firing ones every
    /// `resend_delay_ms`, resolved ones once on resolving and then every `resend_delay_ms`
    /// while retained.
    pub(crate) fn alerts_to_send(
        &mut self,
        ts: Timestamp,
        resend_delay_ms: i64,
        interval_ms: i64,
        external_url: &str,
    ) -> Vec<Alert> {
        let generator_url = format!("{external_url}{}", table_link_for_expression(&self.query));
        // Allow for two evaluation or delivery failures before Alertmanager resolves it.
        let valid_for = 4 * resend_delay_ms.max(interval_ms);
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !a.needs_sending(ts, resend_delay_ms) {
                continue;
            }
            a.last_sent_at = Some(ts);
            a.valid_until = Some(ts + valid_for);
            out.push(Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(a.active_at),
                ends_at: a.resolved_at.unwrap_or(ts + valid_for),
                generator_url: generator_url.clone(),
            });
        }
        out
    }

    /// Restores the active-since time of the current alerts from the `ALERTS_FOR_STATE`
    /// series `querier` holds (it covers the outage tolerance up to `now`), as Prometheus
    /// does after a restart. Marks the rule restored.
    pub(crate) fn restore_for_state(
        &mut self,
        querier: &dyn Querier,
        now: Timestamp,
        for_grace_period_ms: i64,
    ) -> Result<(), prom_model::Error> {
        // Whatever happens, the rule then writes its series: a failed restore must not silence
        // ALERTS for good.
        self.restored = true;
        if self.hold_ms < for_grace_period_ms {
            // The alert would wait at least the grace period anyway.
            return Ok(());
        }
        let mut matchers = Vec::with_capacity(self.labels.len() + 2);
        matchers.push(Matcher::new(
            MatchType::Equal,
            METRIC_NAME,
            ALERTS_FOR_STATE_METRIC,
        )?);
        matchers.push(Matcher::new(
            MatchType::Equal,
            ALERT_NAME_LABEL,
            &self.name,
        )?);
        for l in self
            .labels
            .iter()
            .filter(|l| !l.value.is_empty() && l.name != ALERT_NAME_LABEL && l.name != METRIC_NAME)
        {
            matchers.push(Matcher::new(MatchType::Equal, &l.name, &l.value)?);
        }
        let mut set = querier.select(false, None, &matchers);
        let mut last: HashMap<Labels, (Timestamp, f64)> = HashMap::new();
        while let Some(mut series) = set.next() {
            let mut latest = None;
            while series.samples.next() {
                let s = series.samples.at();
                latest = Some((s.t, s.v));
            }
            if let Some(err) = series.samples.err() {
                return Err(prom_model::Error::storage(err.to_string()));
            }
            if let Some(latest) = latest {
                last.insert(series.labels.without_metric_name(), latest);
            }
        }
        if let Some(err) = set.err() {
            return Err(prom_model::Error::storage(err.to_string()));
        }
        for a in self.active.values_mut() {
            let Some(&(t, v)) = last.get(&a.labels) else {
                continue;
            };
            if is_stale_nan(v) || !v.is_finite() {
                // The alert was not active when the series ended.
                continue;
            }
            // Prometheus works in whole seconds here.
            let down_at = t / 1000 * 1000;
            let mut restored_active_at = (v.trunc() as i64).saturating_mul(1000);
            let remaining = self.hold_ms - (down_at - restored_active_at);
            if remaining <= 0 {
                // It was firing when the server went down and fires again at once.
            } else if remaining < for_grace_period_ms {
                // Fire no earlier than one grace period from now.
                restored_active_at = now + for_grace_period_ms - self.hold_ms;
            } else {
                // Resume the pending time where it stopped.
                restored_active_at += now - down_at;
            }
            a.active_at = restored_active_at;
        }
        Ok(())
    }
}

/// The labels of an alert's `ALERTS` (with its state) or `ALERTS_FOR_STATE` series: the rule's
/// labels as written, overridden by the alert's, then the metric name and `alertname`.
fn alert_series_labels(
    rule_labels: &[Label],
    name: &str,
    a: &ActiveAlert,
    metric: &str,
    with_state: bool,
) -> Labels {
    let mut b = LabelsBuilder::new();
    for l in rule_labels {
        b.set(&l.name, &l.value);
    }
    for l in a.labels.iter() {
        b.set(l.name, l.value);
    }
    b.set(METRIC_NAME, metric);
    b.set(ALERT_NAME_LABEL, name);
    if with_state {
        b.set(ALERT_STATE_LABEL, a.state.as_str());
    }
    b.build()
}
