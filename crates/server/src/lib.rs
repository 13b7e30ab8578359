//! The `prom` binary's library: its command line and the commands behind it.
//!
//! `prom` is both the server of the monitoring pipeline (`prom serve`) and the
//! tooling around it, as `prometheus` and `promtool` are. Each subcommand lives in a module
//! of its own with a plain function that does the work and returns a value a test can look
//! at ([`check::metrics::check_metrics`] returns a [`check::metrics::Report`]); the clap layer
//! in [`cli`] only parses arguments, reads input and prints.
//!
//! ```
//! use prom_exposition::Format;
//! use prom_server::check::metrics::{LintLevel, check_metrics};
//!
//! let report = check_metrics(b"# HELP up Is it up.\n# TYPE up gauge\nup 1\n", Format::Text, LintLevel::Warn);
//! assert!(report.errors.is_empty() && report.warnings.is_empty());
//! assert_eq!(report.exit_code(), 0);
//! ```
//!
//! # API themes
//! - [`cli::Cli`] and [`cli::Command`]: the argument tree, one variant per subcommand;
//!   [`cli::run`] dispatches.
//! - [`serve`]: `prom serve`, the monitoring server and its Prometheus-compatible HTTP API.
//! - [`query_cmd`]: `prom query`, promtool's query client.
//! - [`check`]: `prom check ...`, the promtool-like validators.
//! - [`tsdb`]: `prom tsdb ...`, promtool-compatible tools for data directories: backfill
//!   from OpenMetrics, list, analyze, dump.
//! - [`promql`]: `prom promql format`, a query in Prometheus's canonical form.
//! - [`test_cmd`]: `prom test promql`, Prometheus's PromQL test scripts run against the
//!   engine.
//! - [`Error`]: what can stop a command before it has a result to report.
#![deny(missing_docs)]

pub mod check;
pub mod cli;
mod error;
pub mod promql;
pub mod query_cmd;
pub mod serve;
pub mod test_cmd;
pub mod tsdb;

pub use error::{Error, Result};

// The README's Rust examples compile and run as doctests of this crate.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
