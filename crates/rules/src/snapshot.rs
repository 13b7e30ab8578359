//! Read-only copies of groups, rules and alerts with the fields of Prometheus's
//! `/api/v1/rules` and `/api/v1/alerts`, and their JSON encoding.

use std::time::Duration;

use prom_model::{Label, Labels, Timestamp};
use serde_json::{Map, Value, json};

use crate::alerting::{ActiveAlert, AlertState};
use crate::group::{Group, GroupCounters};
use crate::rule::{Health, Rule};

/// A group as of its last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    /// The group name.
    pub name: String,
    /// The rule file.
    pub file: String,
    /// The evaluation interval (ms).
    pub interval_ms: i64,
    /// The `limit` (0: none).
    pub limit: usize,
    /// The group's own `query_offset` (ms), if set.
    pub query_offset_ms: Option<i64>,
    /// The rules in evaluation order.
    pub rules: Vec<RuleSnapshot>,
    /// `err` if a rule failed, `ok` if all succeeded, `unknown` before the first evaluation.
    pub health: Health,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// When the last evaluation started (wall clock, ms).
    pub last_evaluation: Option<Timestamp>,
    /// Scheduled evaluations run.
    pub iterations: u64,
    /// Scheduled evaluations skipped because the previous one ran late.
    pub iterations_missed: u64,
    /// Rule evaluation counters.
    pub counters: GroupCounters,
}

/// Whether a rule records or alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A recording rule.
    Recording,
    /// An alerting rule.
    Alerting,
}

impl RuleKind {
    /// `recording` or `alerting`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Recording => "recording",
            RuleKind::Alerting => "alerting",
        }
    }
}

/// A rule as of its group's last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSnapshot {
    /// Recording or alerting.
    pub kind: RuleKind,
    /// The record or alert name.
    pub name: String,
    /// The expression in canonical form.
    pub query: String,
    /// `for` (ms; 0 for recording rules).
    pub duration_ms: i64,
    /// `keep_firing_for` (ms; 0 for recording rules).
    pub keep_firing_for_ms: i64,
    /// The rule's labels as written (templates unexpanded).
    pub labels: Vec<Label>,
    /// The annotations as written (alerting rules).
    pub annotations: Vec<Label>,
    /// The highest state of the alerts (alerting rules; `None` before the first evaluation).
    pub state: Option<AlertState>,
    /// The pending and firing alerts (alerting rules).
    pub alerts: Vec<AlertSnapshot>,
    /// The last evaluation's outcome.
    pub health: Health,
    /// The last evaluation's error.
    pub last_error: Option<String>,
    /// How long the last evaluation took.
    pub evaluation_time: Duration,
    /// When the last evaluation started (wall clock, ms).
    pub last_evaluation: Option<Timestamp>,
}

/// One pending or firing alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSnapshot {
    /// The alert's labels.
    pub labels: Labels,
    /// The expanded annotations.
    pub annotations: Labels,
    /// Pending or firing.
    pub state: AlertState,
    /// When it became active (ms).
    pub active_at: Timestamp,
    /// Since when `keep_firing_for` has kept it firing.
    pub keep_firing_since: Option<Timestamp>,
    /// The expression's value at the last evaluation.
    pub value: f64,
}

impl AlertSnapshot {
    fn of(a: &ActiveAlert) -> Self {
        AlertSnapshot {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            state: a.state,
            active_at: a.active_at,
            keep_firing_since: a.keep_firing_since,
            value: a.value,
        }
    }

    /// The alert as `/api/v1/rules` and `/api/v1/alerts` encode it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("labels".into(), labels_json(&self.labels));
        m.insert("annotations".into(), labels_json(&self.annotations));
        m.insert("state".into(), self.state.as_str().into());
        m.insert("activeAt".into(), format_rfc3339(self.active_at).into());
        if let Some(t) = self.keep_firing_since {
            m.insert("keepFiringSince".into(), format_rfc3339(t).into());
        }
        m.insert("value".into(), format_go_exponent(self.value).into());
        Value::Object(m)
    }
}

impl RuleSnapshot {
    fn of(rule: &Rule) -> Self {
        let status = rule.status();
        let mut s = RuleSnapshot {
            kind: RuleKind::Recording,
            name: rule.name().to_owned(),
            query: rule.query().to_owned(),
            duration_ms: 0,
            keep_firing_for_ms: 0,
            labels: rule.labels().to_vec(),
            annotations: Vec::new(),
            state: None,
            alerts: Vec::new(),
            health: status.health,
            last_error: status.last_error.clone(),
            evaluation_time: status.evaluation_time,
            last_evaluation: status.last_evaluation,
        };
        if let Rule::Alerting(a) = rule {
            s.kind = RuleKind::Alerting;
            s.duration_ms = a.hold_duration_ms();
            s.keep_firing_for_ms = a.keep_firing_for_ms();
            s.annotations = a.annotations().to_vec();
            s.state = a.state();
            s.alerts = a.active_alerts().map(AlertSnapshot::of).collect();
        }
        s
    }

    /// The rule as `/api/v1/rules` encodes it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.kind == RuleKind::Alerting {
            let state = self.state.map_or("unknown", AlertState::as_str);
            m.insert("state".into(), state.into());
        }
        m.insert("name".into(), self.name.clone().into());
        m.insert("query".into(), self.query.clone().into());
        if self.kind == RuleKind::Alerting {
            m.insert("duration".into(), json!(self.duration_ms as f64 / 1000.0));
            m.insert(
                "keepFiringFor".into(),
                json!(self.keep_firing_for_ms as f64 / 1000.0),
            );
            m.insert("labels".into(), label_list_json(&self.labels));
            m.insert("annotations".into(), label_list_json(&self.annotations));
            let alerts = self.alerts.iter().map(AlertSnapshot::to_json).collect();
            m.insert("alerts".into(), Value::Array(alerts));
        } else if !self.labels.is_empty() {
            m.insert("labels".into(), label_list_json(&self.labels));
        }
        m.insert("health".into(), self.health.as_str().into());
        if let Some(e) = &self.last_error {
            m.insert("lastError".into(), e.clone().into());
        }
        m.insert(
            "evaluationTime".into(),
            json!(self.evaluation_time.as_secs_f64()),
        );
        m.insert(
            "lastEvaluation".into(),
            format_optional_time(self.last_evaluation).into(),
        );
        m.insert("type".into(), self.kind.as_str().into());
        Value::Object(m)
    }
}

impl GroupSnapshot {
    /// A snapshot of `g` now.
    pub fn of(g: &Group) -> Self {
        GroupSnapshot {
            name: g.name().to_owned(),
            file: g.file().to_owned(),
            interval_ms: g.interval_ms(),
            limit: g.limit(),
            query_offset_ms: g.query_offset_ms(),
            rules: g.rules().iter().map(RuleSnapshot::of).collect(),
            health: g.health(),
            evaluation_time: g.evaluation_time(),
            last_evaluation: g.last_evaluation(),
            iterations: g.iterations(),
            iterations_missed: g.iterations_missed(),
            counters: g.counters(),
        }
    }

    /// The group as `/api/v1/rules` encodes it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "file": self.file,
            "rules": self.rules.iter().map(RuleSnapshot::to_json).collect::<Vec<_>>(),
            "interval": self.interval_ms as f64 / 1000.0,
            "limit": self.limit,
            "evaluationTime": self.evaluation_time.as_secs_f64(),
            "lastEvaluation": format_optional_time(self.last_evaluation),
        })
    }
}

fn labels_json(labels: &Labels) -> Value {
    let m: Map<String, Value> = labels
        .iter()
        .map(|l| (l.name.to_owned(), Value::String(l.value.to_owned())))
        .collect();
    Value::Object(m)
}

fn label_list_json(labels: &[Label]) -> Value {
    let m: Map<String, Value> = labels
        .iter()
        .map(|l| (l.name.clone(), Value::String(l.value.clone())))
        .collect();
    Value::Object(m)
}

fn format_optional_time(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => format_rfc3339(t),
        // Go's zero time, which Prometheus reports for a rule never evaluated.
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

pub use prom_model::time::format_rfc3339;

/// Formats `v` as Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which is how Prometheus
/// reports an alert's value: `1e+00`, `1.5e-07`, `NaN`, `+Inf`.
pub fn format_go_exponent(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip mantissa, like Go's precision -1.
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let pad = if digits.len() < 2 { "0" } else { "" };
    format!("{mantissa}e{sign}{pad}{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn go_exponent() {
        assert_eq!(format_go_exponent(1.0), "1e+00");
        assert_eq!(format_go_exponent(0.0), "0e+00");
        assert_eq!(format_go_exponent(1234.5), "1.2345e+03");
        assert_eq!(format_go_exponent(-1.5e-7), "-1.5e-07");
        assert_eq!(format_go_exponent(1e100), "1e+100");
        assert_eq!(format_go_exponent(f64::NAN), "NaN");
        assert_eq!(format_go_exponent(f64::NEG_INFINITY), "-Inf");
    }
}
