//! prom-promql integration tests.

mod engine;
mod parallel;
mod parser;
mod script;
mod script_run;
