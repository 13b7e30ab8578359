//! prom-promql integration tests.

mod parser;
mod script;
