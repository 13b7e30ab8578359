//! What recording and alerting rules share: the query capability they evaluate through, the
//! template hook, health, errors and the [`Rule`] enum a [`Group`](crate::group::Group) holds.

use std::sync::Arc;
use std::time::Duration;

use prom_model::{AppendError, Labels, Queryable, Timestamp};
use prom_promql::ast::Expr;
use prom_promql::engine::{Sample, Value};
use prom_promql::{Engine, EvalError, QueryResult};

use crate::alerting::AlertingRule;
use crate::recording::RecordingRule;

/// The capability rules need: evaluate a parsed expression at one instant.
///
/// Rules parse their expression once and evaluate the tree at every cycle, so this takes an
/// [`Expr`] rather than the text [`prom_promql::QueryEngine`] takes.
pub trait RuleEngine: Send + Sync {
    /// Evaluates `expr` against `storage` at `t` (milliseconds).
    fn instant(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<QueryResult, EvalError>;
}

impl RuleEngine for Engine {
    fn instant(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<QueryResult, EvalError> {
        Engine::instant(self, storage, expr, t)
    }
}

impl<T: RuleEngine + ?Sized> RuleEngine for Arc<T> {
    fn instant(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<QueryResult, EvalError> {
        (**self).instant(storage, expr, t)
    }
}

/// Expands the templates in alert labels and annotations.
pub trait Expander: Send + Sync {
    /// Expands one label or annotation value of alert `rule` for one alert instance: `labels`
    /// are the instance's labels as the expression returned them (`$labels`), `value` its value
    /// (`$value`) and `at_ms` the evaluation time. Failures are reported in the returned text,
    /// as Prometheus does (`<error expanding template: ...>`).
    fn expand(&self, rule: &str, text: &str, labels: &Labels, value: f64, at_ms: i64) -> String;
}

/// An [`Expander`] that returns the text unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityExpander;

impl Expander for IdentityExpander {
    fn expand(&self, _: &str, text: &str, _: &Labels, _: f64, _: i64) -> String {
        text.to_owned()
    }
}

/// Whether a rule's last evaluation succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded and all its samples were written.
    Ok,
    /// The last evaluation, or writing its result, failed.
    Err,
}

impl Health {
    /// Prometheus's name: `unknown`, `ok` or `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// Why evaluating a rule, or writing its result, failed. Messages are Prometheus's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] EvalError),
    /// The expression returned a string or a range vector.
    #[error("rule result is not a vector or scalar")]
    NotVectorOrScalar,
    /// Two output series of a recording rule have the same labels.
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateRuleLabelset,
    /// Two alerts of an alerting rule have the same labels.
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabelset,
    /// A recording rule produced more series than the group's `limit`.
    #[error("exceeded limit of {limit} with {count} series")]
    SeriesLimit {
        /// The group's limit.
        limit: usize,
        /// How many series the rule produced.
        count: usize,
    },
    /// An alerting rule has more pending and firing alerts than the group's `limit`.
    #[error("exceeded limit of {limit} with {count} alerts")]
    AlertLimit {
        /// The group's limit.
        limit: usize,
        /// How many alerts were pending or firing.
        count: usize,
    },
    /// The storage rejected a sample of the result.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The storage failed to commit the result.
    #[error(transparent)]
    Commit(#[from] prom_model::Error),
}

/// The bookkeeping every rule keeps about its last evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleStatus {
    /// The outcome of the last evaluation.
    pub health: Health,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// When the last evaluation started (wall clock, milliseconds).
    pub last_evaluation: Option<Timestamp>,
    /// How long the last evaluation took, writing its result included.
    pub evaluation_time: Duration,
}

impl RuleStatus {
    pub(crate) fn set_ok(&mut self) {
        self.health = Health::Ok;
        self.last_error = None;
    }

    pub(crate) fn set_err(&mut self, err: &RuleError) {
        self.health = Health::Err;
        self.last_error = Some(err.to_string());
    }
}

/// A rule of a group.
#[derive(Debug, Clone)]
pub enum Rule {
    /// A recording rule.
    Recording(RecordingRule),
    /// An alerting rule.
    Alerting(AlertingRule),
}

impl Rule {
    /// The record name or the alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => r.name(),
            Rule::Alerting(r) => r.name(),
        }
    }

    /// The rule's labels (unexpanded for an alerting rule).
    pub fn labels(&self) -> &[prom_model::Label] {
        match self {
            Rule::Recording(r) => r.labels(),
            Rule::Alerting(r) => r.labels(),
        }
    }

    /// The expression in canonical form.
    pub fn query(&self) -> &str {
        match self {
            Rule::Recording(r) => r.query(),
            Rule::Alerting(r) => r.query(),
        }
    }

    /// The last evaluation's bookkeeping.
    pub fn status(&self) -> &RuleStatus {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    pub(crate) fn status_mut(&mut self) -> &mut RuleStatus {
        match self {
            Rule::Recording(r) => &mut r.status,
            Rule::Alerting(r) => &mut r.status,
        }
    }

    /// Whether two rules have the same definition (kind, name, expression, durations, labels
    /// and annotations); the state is not compared.
    pub fn same_definition(&self, other: &Rule) -> bool {
        match (self, other) {
            (Rule::Recording(a), Rule::Recording(b)) => a.same_definition(b),
            (Rule::Alerting(a), Rule::Alerting(b)) => a.same_definition(b),
            _ => false,
        }
    }

    /// The key Prometheus matches rules by when it carries state over a reload: the name
    /// followed by the labels.
    pub(crate) fn state_key(&self) -> String {
        format!("{}{}", self.name(), format_label_list(self.labels()))
    }
}

impl From<RecordingRule> for Rule {
    fn from(r: RecordingRule) -> Self {
        Rule::Recording(r)
    }
}

impl From<AlertingRule> for Rule {
    fn from(r: AlertingRule) -> Self {
        Rule::Alerting(r)
    }
}

/// Evaluates `expr` at `t` and returns an instant vector: a scalar becomes one sample
/// without labels, as in Prometheus's rule query function.
pub(crate) fn query_vector(
    engine: &dyn RuleEngine,
    storage: &dyn Queryable,
    expr: &Expr,
    t: Timestamp,
) -> Result<Vec<Sample>, RuleError> {
    match engine.instant(storage, expr, t)?.value {
        Value::Vector(v) => Ok(v),
        Value::Scalar(v, t) => Ok(vec![Sample {
            labels: Labels::new(),
            t,
            v,
        }]),
        Value::String(..) | Value::Matrix(_) => Err(RuleError::NotVectorOrScalar),
    }
}

/// The path and query of the expression browser showing `expr` in table view, appended to the
/// external URL to make an alert's generator URL.
pub fn table_link_for_expression(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

pub use prom_scrape::target::query_escape;

/// Sorts rule labels or annotations by name, keeping the last of repeated names. Empty values
/// stay: on a rule label they mean "delete this label from the output".
pub(crate) fn normalize_labels(mut labels: Vec<prom_model::Label>) -> Vec<prom_model::Label> {
    // A stable sort keeps repeated names in their given order, so the last one can win.
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<prom_model::Label> = Vec::with_capacity(labels.len());
    for l in labels {
        match out.last_mut() {
            Some(last) if last.name == l.name => *last = l,
            _ => out.push(l),
        }
    }
    out
}

/// Formats a label list as Prometheus prints a label set: `{a="b", c=""}`.
pub(crate) fn format_label_list(labels: &[prom_model::Label]) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        // Writing to a String cannot fail.
        let _ = prom_model::labels::write_quoted(&mut out, &l.value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(
            query_escape(r#"up{job="a b"} == 0"#),
            "up%7Bjob%3D%22a+b%22%7D+%3D%3D+0"
        );
        assert_eq!(query_escape("a-b_c.d~é"), "a-b_c.d~%C3%A9");
        assert_eq!(
            table_link_for_expression("up > 1"),
            "/graph?g0.expr=up+%3E+1&g0.tab=1"
        );
    }

    #[test]
    fn health_names() {
        assert_eq!(Health::default().as_str(), "unknown");
        assert_eq!(Health::Ok.as_str(), "ok");
        assert_eq!(Health::Err.as_str(), "err");
    }
}
