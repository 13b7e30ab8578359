//! The command line: `prom <command> ...`, one [`Command`] variant and one module per
//! subcommand.
//!
//! Conventions every subcommand follows:
//! - Findings (parse errors, lint warnings, query results) are the command's output and go to
//!   stdout, so they can be piped, paged or saved. Stderr carries only the closing summary and
//!   failures to run (an unreadable file, a bad flag).
//! - Exit status 0 means success, 1 means the command found problems or could not run, 2 means
//!   the command line itself was wrong (clap's usage errors).

use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::check::{self, CheckArgs};
use crate::error::Error;
use crate::promql::{self, PromqlArgs};
use crate::query_cmd::{self, QueryArgs};
use crate::serve::{self, ServeArgs};
use crate::test_cmd::{self, TestArgs};
use crate::tsdb::{self, TsdbArgs};

/// prom: a Prometheus-compatible monitoring server and its tooling.
#[derive(Debug, Parser)]
#[command(name = "prom", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitoring server: scrape, store, query, with Prometheus's HTTP API.
    Serve(Box<ServeArgs>),
    /// Query a Prometheus-compatible server over HTTP: `prom query instant URL EXPR`.
    Query(QueryArgs),
    /// Validate inputs as promtool does: `prom check metrics`.
    Check(CheckArgs),
    /// Work with TSDB data directories as `promtool tsdb` does: `prom tsdb list`.
    Tsdb(TsdbArgs),
    /// PromQL tools: `prom promql format EXPR`.
    Promql(PromqlArgs),
    /// Run test scripts: `prom test promql FILE...`.
    Test(TestArgs),
}

/// Runs a parsed command line and turns its outcome into the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Query(args) => query_cmd::run(args),
        Command::Check(args) => check::run(args),
        Command::Tsdb(args) => tsdb::run(args),
        Command::Promql(args) => promql::run(args),
        Command::Test(args) => test_cmd::run(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`prom check metrics x | head`) is not worth a message.
        Err(Error::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(1),
        Err(e) => {
            let _ = writeln!(io::stderr(), "prom: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lint_flag_takes_both_spellings() {
        for argv in [
            &["prom", "check", "metrics", "--lint=strict"][..],
            &["prom", "check", "metrics", "--lint", "strict"][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let Command::Check(CheckArgs {
                command: check::CheckCommand::Metrics(m),
            }) = cli.command
            else {
                panic!("not check metrics");
            };
            assert_eq!(m.lint, check::metrics::LintLevel::Strict);
        }
    }

    #[test]
    fn defaults_are_text_warn_and_stdin() {
        let cli = Cli::try_parse_from(["prom", "check", "metrics"]).unwrap();
        let Command::Check(CheckArgs {
            command: check::CheckCommand::Metrics(m),
        }) = cli.command
        else {
            panic!("not check metrics");
        };
        assert_eq!(m.format, check::metrics::FormatArg::Text);
        assert_eq!(m.lint, check::metrics::LintLevel::Warn);
        assert_eq!(m.file, None);
    }

    #[test]
    fn tsdb_defaults_follow_promtool() {
        let cli = Cli::try_parse_from(["prom", "tsdb", "dump", "--min-time", "-5"]).unwrap();
        let Command::Tsdb(TsdbArgs {
            command: tsdb::TsdbCommand::Dump(d),
        }) = cli.command
        else {
            panic!("not tsdb dump");
        };
        assert_eq!(d.dir, std::path::Path::new("data/"));
        assert_eq!((d.min_time, d.max_time), (-5, i64::MAX));
        assert_eq!(d.selector, None);

        let cli =
            Cli::try_parse_from(["prom", "tsdb", "create-blocks-from", "openmetrics", "in.om"])
                .unwrap();
        let Command::Tsdb(TsdbArgs {
            command: tsdb::TsdbCommand::CreateBlocksFrom(c),
        }) = cli.command
        else {
            panic!("not tsdb create-blocks-from");
        };
        let tsdb::backfill::CreateBlocksFormat::OpenMetrics(om) = c.format;
        assert_eq!(om.outdir, std::path::Path::new("data/"));
        assert_eq!(om.max_block_duration, std::time::Duration::from_secs(7200));
        assert!(!om.quiet && !om.human_readable);

        let err = Cli::try_parse_from([
            "prom",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "in.om",
            "--max-block-duration",
            "2 hours",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn promql_format_takes_one_expression() {
        let cli = Cli::try_parse_from(["prom", "promql", "format", "sum(x) by (a)"]).unwrap();
        let Command::Promql(PromqlArgs {
            command: promql::PromqlCommand::Format(f),
        }) = cli.command
        else {
            panic!("not promql format");
        };
        assert_eq!(f.expr, "sum(x) by (a)");
        let err = Cli::try_parse_from(["prom", "promql", "format"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn test_promql_needs_files() {
        let cli = Cli::try_parse_from(["prom", "test", "promql", "a.test", "b.test"]).unwrap();
        let Command::Test(TestArgs {
            command: test_cmd::TestCommand::Promql(t),
        }) = cli.command
        else {
            panic!("not test promql");
        };
        assert_eq!(
            t.files,
            [
                std::path::Path::new("a.test"),
                std::path::Path::new("b.test")
            ]
        );
        assert_eq!(t.max_failures, None);
        let err = Cli::try_parse_from(["prom", "test", "promql"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn unknown_values_are_usage_errors() {
        let err = Cli::try_parse_from(["prom", "check", "metrics", "--lint", "loud"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
