//! prom-promql's [`Engine`] as the runner's [`Evaluator`].

use prom_model::MemoryStorage;

use super::{Evaluator, Outcome, QueryError, ResultValue};
use crate::engine::{Engine, EngineOptions, QueryResult, Value};

/// [`Engine`] adapted to the runner, with the settings the test-script format prescribes
/// (FORMAT.md §7): 5m lookback, 10,000 max samples, 100 s timeout, 1m default subquery step.
#[derive(Debug, Clone)]
pub struct EngineEvaluator(Engine);

impl EngineEvaluator {
    /// The engine with the test-script settings.
    pub fn new() -> Self {
        let opts = EngineOptions::default()
            .lookback_delta(5 * 60 * 1000)
            .max_samples(10_000)
            .timeout(std::time::Duration::from_secs(100))
            .default_subquery_step(60 * 1000);
        EngineEvaluator(Engine::new(opts))
    }
}

impl Default for EngineEvaluator {
    fn default() -> Self {
        EngineEvaluator::new()
    }
}

fn outcome(r: crate::engine::Result<QueryResult>) -> Result<Outcome, QueryError> {
    let r = r.map_err(|e| QueryError::new(e.to_string()))?;
    let result = match r.value {
        Value::Scalar(v, _) => ResultValue::Scalar(v),
        Value::String(s, _) => ResultValue::String(s),
        Value::Vector(v) => ResultValue::Vector(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Matrix(m) => ResultValue::Matrix(
            m.into_iter()
                .map(|s| (s.labels, s.points.into_iter().map(|p| (p.t, p.v)).collect()))
                .collect(),
        ),
    };
    Ok(Outcome::new(result)
        .with_warnings(r.warnings)
        .with_infos(r.infos))
}

fn parse(expr: &str) -> Result<crate::ast::Expr, QueryError> {
    crate::parse(expr).map_err(|e| QueryError::new(e.to_string()))
}

impl Evaluator for EngineEvaluator {
    fn instant(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        at: i64,
    ) -> Result<Outcome, QueryError> {
        outcome(self.0.instant(storage, &parse(expr)?, at))
    }

    fn range(
        &mut self,
        storage: &MemoryStorage,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Outcome, QueryError> {
        outcome(self.0.range(storage, &parse(expr)?, start, end, step))
    }
}
