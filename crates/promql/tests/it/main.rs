//! prom-promql integration tests.

mod aggregate;
mod binary;
mod conformance;
mod engine;
mod histogram;
mod parallel;
mod parser;
mod script;
mod script_run;
