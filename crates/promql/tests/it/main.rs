//! prom-promql integration tests.

mod parser;
mod script;
mod script_run;
