//! The PromQL evaluation engine: runs a parsed [`Expr`] against any
//! [`Queryable`](prom_model::Queryable).
//!
//! ```
//! use prom_model::{Appendable, Labels, MemoryStorage};
//! use prom_promql::engine::{Engine, Value};
//!
//! let storage = MemoryStorage::new();
//! let mut app = storage.appender();
//! let labels = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]);
//! app.append(None, &labels, 0, 1.0).unwrap();
//! app.commit().unwrap();
//!
//! let engine = Engine::default();
//! let expr = prom_promql::parse("up * 2").unwrap();
//! let result = engine.instant(&storage, &expr, 60_000).unwrap();
//! let Value::Vector(v) = result.value else { panic!("a vector") };
//! assert_eq!(v[0].labels.to_string(), r#"{job="api"}"#);
//! assert_eq!(v[0].v, 2.0);
//! ```
//!
//! Every expression is evaluated once over the whole time grid of a query (one step for an
//! instant query): each selected series is loaded once with a [`SelectHints`] time range, and
//! windows slide over the loaded samples. Names are dropped the way Prometheus 3 does with
//! delayed name removal: operations mark a series, and the `__name__` label (with `__type__`
//! and `__unit__`) goes at the end.
//!
//! Samples' start timestamps, where the storage keeps them
//! ([`prom_model::SampleIterator::start_timestamp`]), count in `rate`, `increase`, `irate` and
//! `resets`: a start after the previous sample is a counter reset, and a start inside the
//! window replaces extrapolation to its left (`docs/promql.md`, "Start timestamps");
//! `start_timestamp()` returns them.
//!
//! Not supported: native histograms (their functions return nothing, the trim operators
//! `</` and `>/` fail with [`EvalError::Unsupported`]).
//!
//! [`SelectHints`]: prom_model::SelectHints
//! [`Expr`]: crate::ast::Expr

mod aggregate;
mod binary;
mod error;
mod eval;
mod functions;
mod fused;
mod par;
mod start;
mod stats;
mod value;
mod window;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use prom_model::{Queryable, Timestamp};

use crate::ast::Expr;

pub use error::{EvalError, Result};
pub use stats::QueryStats;
pub use value::{Point, Sample, Series, Value, format_float};

/// Engine settings. Defaults: 5 minute lookback, 50 million samples, no timeout, 1 minute
/// default subquery step, one thread per available core.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in milliseconds (default 5m).
    pub lookback_delta: i64,
    /// The most samples a query may hold (default 50,000,000): the points every selector,
    /// subquery and range function produces over the query, plus the largest set of range
    /// windows held for one step; a range query or subquery with more steps than this is
    /// rejected up front.
    pub max_samples: usize,
    /// How long a query may run (default: no limit).
    pub timeout: Option<std::time::Duration>,
    /// The step of subqueries written without one (`x[5m:]`), in milliseconds (default 1m).
    pub default_subquery_step: i64,
    /// Raised by another thread to stop running queries with [`EvalError::Canceled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// The most threads one query uses to evaluate range functions (`rate`, `*_over_time`, …)
    /// over its series (default: [`std::thread::available_parallelism`]). Small evaluations
    /// stay on the calling thread; `1` (or `0`) never starts a thread. Results are the same
    /// whatever the setting.
    pub parallelism: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: None,
            default_subquery_step: 60 * 1000,
            cancel: None,
            parallelism: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

impl EngineOptions {
    /// Sets the lookback delta (milliseconds).
    pub fn lookback_delta(mut self, ms: i64) -> Self {
        self.lookback_delta = ms;
        self
    }

    /// Sets the sample limit.
    pub fn max_samples(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, d: std::time::Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Sets the default subquery step (milliseconds).
    pub fn default_subquery_step(mut self, ms: i64) -> Self {
        self.default_subquery_step = ms;
        self
    }

    /// Sets the cancellation flag.
    pub fn cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Sets the most threads a query evaluates range functions on (`1`: serial).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n;
        self
    }
}

/// The outcome of a query: its value plus the annotations Prometheus would report.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings (`PromQL warning: …`).
    pub warnings: Vec<String>,
    /// Informational notes (`PromQL info: …`).
    pub infos: Vec<String>,
}

/// The PromQL engine.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses `query` and evaluates it at time `t` (milliseconds).
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: Timestamp,
    ) -> Result<QueryResult> {
        self.instant(storage, &crate::parse(query)?, t)
    }

    /// Parses `query` and evaluates it from `start` to `end` every `step` milliseconds.
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<QueryResult> {
        self.range(storage, &crate::parse(query)?, start, end, step)
    }

    /// Evaluates `expr` at time `t` (milliseconds).
    pub fn instant(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<QueryResult> {
        eval::run(&self.opts, storage, expr, t, t, 0, None)
    }

    /// Evaluates `expr` at every `step` milliseconds from `start` to `end` (inclusive); the value
    /// is always a [`Value::Matrix`].
    pub fn range(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<QueryResult> {
        self.range_inner(storage, expr, start, end, step, None)
    }

    /// [`instant`](Self::instant), also counting the samples read and timing the phases
    /// (a little slower: each sample read is counted).
    pub fn instant_with_stats(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        t: Timestamp,
    ) -> Result<(QueryResult, QueryStats)> {
        let mut stats = QueryStats::default();
        let r = eval::run(&self.opts, storage, expr, t, t, 0, Some(&mut stats))?;
        Ok((r, stats))
    }

    /// [`range`](Self::range), also counting the samples read and timing the phases.
    pub fn range_with_stats(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<(QueryResult, QueryStats)> {
        let mut stats = QueryStats::default();
        let r = self.range_inner(storage, expr, start, end, step, Some(&mut stats))?;
        Ok((r, stats))
    }

    fn range_inner(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
        stats: Option<&mut QueryStats>,
    ) -> Result<QueryResult> {
        if step <= 0 {
            return Err(EvalError::InvalidQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(EvalError::InvalidQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        eval::run(&self.opts, storage, expr, start, end, step, stats)
    }
}

/// The capability "run a query", for consumers (rule evaluation, the HTTP API) that should
/// hold an engine behind a trait object rather than depend on [`Engine`] itself.
pub trait QueryEngine: Send + Sync {
    /// Parses `query` and evaluates it at `t` (milliseconds).
    fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: Timestamp,
    ) -> Result<QueryResult>;

    /// Parses `query` and evaluates it from `start` to `end` every `step` milliseconds.
    fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<QueryResult>;
}

impl QueryEngine for Engine {
    fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: Timestamp,
    ) -> Result<QueryResult> {
        Engine::instant_query(self, storage, query, t)
    }

    fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<QueryResult> {
        Engine::range_query(self, storage, query, start, end, step)
    }
}

impl<T: QueryEngine + ?Sized> QueryEngine for Arc<T> {
    fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: Timestamp,
    ) -> Result<QueryResult> {
        (**self).instant_query(storage, query, t)
    }

    fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<QueryResult> {
        (**self).range_query(storage, query, start, end, step)
    }
}
