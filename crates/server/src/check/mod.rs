//! `prom check ...`: validators for the inputs prom reads, in the spirit of `promtool check`.

use clap::{Args, Subcommand};

use crate::error::Result;

pub mod config;
pub mod metrics;
pub mod rules;
pub mod sd;
pub mod web_config;

/// Arguments of `prom check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// What to check.
    #[command(subcommand)]
    pub command: CheckCommand,
}

/// What `prom check` can check.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Parse and lint a metrics exposition (Prometheus text or OpenMetrics).
    ///
    /// Parse errors and lint warnings are printed to stdout as `LINE:COL: message` (prefixed
    /// with `FILE:` when reading a file), a count to stderr. Exits 0 when the input parses
    /// (and, with `--lint=strict`, has no warnings), 1 otherwise.
    Metrics(metrics::MetricsArgs),
    /// Validate prometheus.yml files as Prometheus 3 loads them.
    ///
    /// Prints `Checking FILE` and ` SUCCESS: ...` per valid file on stdout, `  FAILED: ...`
    /// with the file, line and reason on stderr. Unless `--syntax-only`, also checks that the
    /// rule files and credential files it names exist. Exits 0 when all are valid, 1 otherwise.
    Config(config::ConfigArgs),
    /// Validate rule files as `prom serve` loads them (like `promtool check rules`).
    ///
    /// Prints `Checking FILE` and `  SUCCESS: N rules found` per valid file on stdout, or
    /// `  FAILED:` and each error with its file, line and reason. Exits 0 when all are valid,
    /// 1 otherwise (3 with `--lint-fatal` when only lint problems were found).
    Rules(rules::RulesArgs),
    /// Run a job's service discovery once and print its targets' labels before and after
    /// relabeling, as JSON (like `promtool check service-discovery`).
    #[command(name = "service-discovery")]
    ServiceDiscovery(sd::SdArgs),
    /// Validate web configuration files (`--web.config.file`) as `prom serve` loads them.
    ///
    /// Prints `FILE SUCCESS` or `FILE FAILED: reason` per file on stderr. Exits 0 when all are
    /// valid, 1 otherwise.
    #[command(name = "web-config")]
    WebConfig(web_config::WebConfigArgs),
}

/// Runs `prom check ...`, returning the exit status.
pub fn run(args: CheckArgs) -> Result<u8> {
    match args.command {
        CheckCommand::Metrics(m) => metrics::run(&m),
        CheckCommand::Config(c) => config::run(&c),
        CheckCommand::Rules(r) => rules::run(&r),
        CheckCommand::ServiceDiscovery(s) => sd::run(&s),
        CheckCommand::WebConfig(w) => web_config::run(&w),
    }
}
