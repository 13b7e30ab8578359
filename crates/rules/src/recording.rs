//! Recording rules: an expression whose result is written back as new series.

use std::collections::HashSet;

use prom_model::{Label, LabelsBuilder, METRIC_NAME, Timestamp};
use prom_promql::ast::Expr;
use prom_promql::engine::Sample;

use crate::manager::ManagerOptions;
use crate::rule::{RuleError, RuleStatus, normalize_labels, query_vector};

/// A recording rule: `record: <name>`, `expr`, `labels`.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    name: String,
    expr: Expr,
    query: String,
    labels: Vec<Label>,
    pub(crate) status: RuleStatus,
}

impl RecordingRule {
    /// A rule writing the result of `expr` as metric `name`, with `labels` set on every output
    /// series (overriding the result's labels; an empty value removes the label).
    pub fn new(name: impl Into<String>, expr: Expr, labels: Vec<Label>) -> Self {
        let query = expr.to_string();
        RecordingRule {
            name: name.into(),
            expr,
            query,
            labels: normalize_labels(labels),
            status: RuleStatus::default(),
        }
    }

    /// The name of the metric the rule writes.
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

    /// The labels set on the output, sorted by name.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// The last evaluation's bookkeeping.
    pub fn status(&self) -> &RuleStatus {
        &self.status
    }

    pub(crate) fn same_definition(&self, other: &RecordingRule) -> bool {
        self.name == other.name && self.query == other.query && self.labels == other.labels
    }

    /// Evaluates the rule at `t` (the evaluation time minus the group's query offset) and
    /// returns the samples to write.
    pub(crate) fn eval(
        &self,
        t: Timestamp,
        limit: usize,
        opts: &ManagerOptions,
    ) -> Result<Vec<Sample>, RuleError> {
        let mut vector = query_vector(&*opts.engine, &*opts.queryable, &self.expr, t)?;
        let mut b = LabelsBuilder::new();
        for s in &mut vector {
            b.reset(&s.labels);
            b.set(METRIC_NAME, &self.name);
            for l in &self.labels {
                b.set(&l.name, &l.value);
            }
            s.labels = b.build();
            s.t = t;
        }
        let mut seen = HashSet::with_capacity(vector.len());
        if !vector.iter().all(|s| seen.insert(&s.labels)) {
            return Err(RuleError::DuplicateRuleLabelset);
        }
        if limit > 0 && vector.len() > limit {
            return Err(RuleError::SeriesLimit {
                limit,
                count: vector.len(),
            });
        }
        Ok(vector)
    }
}
