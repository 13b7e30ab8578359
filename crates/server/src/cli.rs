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

/// prom: a Prometheus-compatible monitoring server and its tooling.
#[derive(Debug, Parser)]
#[command(name = "prom", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. `serve`, `tsdb` and `query` join `check` as their crates land.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate inputs as promtool does: `prom check metrics`.
    Check(CheckArgs),
}

/// Runs a parsed command line and turns its outcome into the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Check(args) => check::run(args),
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
            }) = cli.command;
            assert_eq!(m.lint, check::metrics::LintLevel::Strict);
        }
    }

    #[test]
    fn defaults_are_text_warn_and_stdin() {
        let cli = Cli::try_parse_from(["prom", "check", "metrics"]).unwrap();
        let Command::Check(CheckArgs {
            command: check::CheckCommand::Metrics(m),
        }) = cli.command;
        assert_eq!(m.format, check::metrics::FormatArg::Text);
        assert_eq!(m.lint, check::metrics::LintLevel::Warn);
        assert_eq!(m.file, None);
    }

    #[test]
    fn unknown_values_are_usage_errors() {
        let err = Cli::try_parse_from(["prom", "check", "metrics", "--lint", "loud"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
