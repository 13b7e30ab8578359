//! `prom check rules`: validates rule files as `prom serve` loads them and prints what
//! `promtool check rules` prints (`Checking FILE`, `  SUCCESS: N rules found` or `  FAILED:`
//! with each error's file, line and reason), standard input when no file is named.

use std::io::Read as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use prom_rules::check::{CheckOptions, check_rules_files, check_rules_text};

use crate::error::Result;

/// Which lint checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lint {
    /// No lint checks.
    None,
    /// Rules with the same name and labels in one file.
    DuplicateRules,
    /// Every lint check.
    All,
}

/// Arguments of `prom check rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The rule files to check; standard input when none.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Lint checks to run.
    #[arg(long, value_enum, default_value = "duplicate-rules")]
    pub lint: Lint,
    /// Exit with status 3 when only lint problems were found.
    #[arg(long = "lint-fatal")]
    pub lint_fatal: bool,
}

/// Checks the files; exit status 0 (all valid), 1 (a file failed) or 3 (`--lint-fatal` and
/// only lint problems).
pub fn run(args: &RulesArgs) -> Result<u8> {
    let opts = CheckOptions::default()
        .lint_duplicates(args.lint != Lint::None)
        .lint_fatal(args.lint_fatal);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = if args.files.is_empty() {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("  FAILED: reading standard input: {e}");
            return Ok(1);
        }
        check_rules_text("standard input", &text, &opts, &mut out, &mut err)
    } else {
        check_rules_files(&args.files, &opts, &mut out, &mut err)
    };
    Ok(u8::try_from(code).unwrap_or(1))
}
