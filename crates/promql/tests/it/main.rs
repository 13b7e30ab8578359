//! prom-promql integration tests.

mod engine;
mod parser;
mod script;
mod script_run;
