//! prom-promql integration tests.

mod aggregate;
mod binary;
mod engine;
mod parser;
mod script;
mod script_run;
