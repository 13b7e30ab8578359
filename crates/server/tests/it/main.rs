//! Integration tests of the `prom` binary: one test binary, one module per concern. They run
//! the real executable (`CARGO_BIN_EXE_prom`) as a user would.

mod check_config;
mod check_metrics;
mod conformance;
mod interop;
mod promql_diff;
mod rules;
mod serve;
mod serve_grafana;
mod serve_interop;
mod serve_web;
mod support;
mod tsdb;
