//! `prom test ...`: runs test scripts.
//!
//! - `promql FILE...`: Prometheus's PromQL test scripts (`*.test`, the format of
//!   `promql/promqltest`), each eval checked by [`prom_promql::script::run_script`] against
//!   the query engine [`evaluator`] returns. Prints the failures of each file with
//!   `FILE:LINE:` and the differences, one `FILE: N passed, M failed, K skipped` line per file,
//!   and the total; exits 1 if an eval failed or a file could not be read.
//!
//! ```
//! use prom_server::test_cmd::{Totals, run_promql_tests};
//! # use prom_model::MemoryStorage;
//! # use prom_promql::script::{Evaluator, Outcome, QueryError, ResultValue, RunOptions};
//! # struct One;
//! # impl Evaluator for One {
//! #     fn instant(&mut self, _: &MemoryStorage, e: &str, _: i64) -> Result<Outcome, QueryError> {
//! #         Ok(ResultValue::Scalar(1.0).into())
//! #     }
//! #     fn range(&mut self, _: &MemoryStorage, _: &str, start: i64, end: i64, step: i64) -> Result<Outcome, QueryError> {
//! #         let points = (start..=end).step_by(step as usize).map(|t| (t, 1.0)).collect();
//! #         Ok(ResultValue::Matrix(vec![(Default::default(), points)]).into())
//! #     }
//! # }
//! let dir = std::env::temp_dir().join(format!("prom-test-cmd-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let file = dir.join("one.test");
//! std::fs::write(&file, "eval instant at 1m 1\n    1\n\neval instant at 1m 1\n    2\n")?;
//!
//! let mut out = Vec::new();
//! let totals = run_promql_tests(&[file.clone()], &mut One, &RunOptions::default(), None, &mut out)?;
//! assert_eq!(totals, Totals { passed: 1, failed: 1, skipped: 0, unreadable: 0 });
//! let f = file.display();
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     format!("{f}:4: instant query `1` at 60s: expected scalar 2, got 1\n{f}: 1 passed, 1 failed, 0 skipped\n")
//! );
//! assert_eq!(totals.to_string(), "1 passed, 1 failed, 0 skipped");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use prom_promql::script::{EngineEvaluator, Evaluator, RunOptions, run_script_file};

use crate::error::{Error, Result};

/// Arguments of `prom test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// What to test.
    #[command(subcommand)]
    pub command: TestCommand,
}

/// The `prom test` subcommands.
#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run Prometheus's PromQL test scripts (`*.test`) against prom's query engine.
    ///
    /// Each `eval` is checked as Prometheus's own runner checks it, including its extra runs
    /// (the query pinned with `@` at other times, and as a range query). Evals that need native
    /// histograms are skipped. Prints each failure as `FILE:LINE: what` with the differences,
    /// then `FILE: N passed, M failed, K skipped` per file and the total; exits 1 if anything
    /// failed.
    Promql(PromqlTestArgs),
    /// Run rule unit tests in promtool's format (`rule_files`, `input_series`,
    /// `alert_rule_test`, `promql_expr_test`), as `promtool test rules` does.
    ///
    /// Prints `Unit Testing:  FILE` and `  SUCCESS` or `  FAILED:` with each failing case;
    /// exits 1 if any test failed or a file could not be used.
    Rules(RulesTestArgs),
}

/// Arguments of `prom test rules`.
#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// The unit-test files.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// Arguments of `prom test promql`.
#[derive(Debug, Args)]
pub struct PromqlTestArgs {
    /// The scripts to run.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Print at most N failures per file (the count line still counts them all).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
}

/// Runs `prom test ...`, returning the exit status.
pub fn run(args: TestArgs) -> Result<u8> {
    match args.command {
        TestCommand::Promql(a) => promql(&a),
        TestCommand::Rules(a) => {
            let opts = prom_rules::unittest::UnitTestOptions::default();
            let code =
                prom_rules::unittest::run_test_files(&a.files, &opts, &mut io::stdout().lock());
            Ok(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// The query engine `prom test promql` checks: prom-promql's [`Engine`] with the settings the
/// test-script format prescribes ([`EngineEvaluator`]).
///
/// [`Engine`]: prom_promql::Engine
pub fn evaluator() -> Box<dyn Evaluator> {
    Box::new(EngineEvaluator::new())
}

fn promql(args: &PromqlTestArgs) -> Result<u8> {
    let mut out = io::stdout().lock();
    let totals = run_promql_tests(
        &args.files,
        &mut *evaluator(),
        &RunOptions::default(),
        args.max_failures,
        &mut out,
    )
    .map_err(Error::Write)?;
    out.flush().map_err(Error::Write)?;
    drop(out);
    writeln!(io::stderr(), "{totals}").map_err(Error::Write)?;
    Ok(totals.exit_code())
}

/// Counts over all files of a `prom test promql` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed, and loads whose samples the storage rejected.
    pub failed: usize,
    /// Evals skipped (native histograms).
    pub skipped: usize,
    /// Files that could not be read or parsed.
    pub unreadable: usize,
}

impl Totals {
    /// 0 when everything ran and passed, else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed > 0 || self.unreadable > 0)
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )?;
        if self.unreadable > 0 {
            write!(f, ", {} file(s) could not be read", self.unreadable)?;
        }
        Ok(())
    }
}

/// Runs each script in `files` against `evaluator`, writing to `out` each failure
/// (`FILE:LINE: message`, continuation lines indented; at most `max_failures` per file) and
/// one `FILE: N passed, M failed, K skipped` line per file. A file that cannot be read or
/// parsed gets a `FILE: cannot run: ...` line instead.
pub fn run_promql_tests(
    files: &[PathBuf],
    evaluator: &mut dyn Evaluator,
    opts: &RunOptions,
    max_failures: Option<usize>,
    out: &mut dyn io::Write,
) -> io::Result<Totals> {
    let mut totals = Totals::default();
    for path in files {
        let shown = path.display();
        let report = match run_script_file(path, evaluator, opts) {
            Ok(report) => report,
            Err(e) => {
                totals.unreadable += 1;
                writeln!(out, "{shown}: cannot run: {}", indent(&e.to_string()))?;
                continue;
            }
        };
        let limit = max_failures.unwrap_or(usize::MAX);
        for failure in report.failures.iter().take(limit) {
            writeln!(
                out,
                "{}:{}: {}",
                shown,
                failure.line,
                indent(&failure.message)
            )?;
        }
        if report.failures.len() > limit {
            writeln!(
                out,
                "{shown}: … {} more failure(s) not shown",
                report.failures.len() - limit
            )?;
        }
        writeln!(out, "{shown}: {report}")?;
        totals.passed += report.passed;
        totals.failed += report.failed;
        totals.skipped += report.skipped;
    }
    Ok(totals)
}

/// Continuation lines of a multi-line message, indented under its first line.
fn indent(message: &str) -> String {
    message.replace('\n', "\n    ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::MemoryStorage;
    use prom_promql::script::ResultValue;

    #[test]
    fn the_engine_answers_and_parse_errors_come_back_as_query_errors() {
        use prom_model::{Appendable, labels};
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        app.append(None, &labels!("__name__" => "x", "a" => "1"), 0, 2.0)
            .unwrap();
        app.append(None, &labels!("__name__" => "x", "a" => "2"), 0, 3.0)
            .unwrap();
        app.commit().unwrap();
        drop(app);
        let mut e = evaluator();
        let out = e.instant(&storage, "sum(x)", 0).unwrap();
        assert!(matches!(&out.result, ResultValue::Vector(v) if v.len() == 1 && v[0].1 == 5.0));
        let out = e.range(&storage, "x * 2", 0, 60_000, 30_000).unwrap();
        let ResultValue::Matrix(m) = &out.result else {
            panic!("a range query answers a matrix");
        };
        assert_eq!(m[0].1, [(0, 4.0), (30_000, 4.0), (60_000, 4.0)]);
        assert_eq!(
            e.range(&storage, "sum(x", 0, 0, 1).unwrap_err().message(),
            "1:6: parse error: unclosed left parenthesis"
        );
    }

    #[test]
    fn exit_code_reflects_failures_and_unreadable_files() {
        let t = |failed, unreadable| {
            Totals {
                passed: 3,
                failed,
                skipped: 1,
                unreadable,
            }
            .exit_code()
        };
        assert_eq!((t(0, 0), t(1, 0), t(0, 1)), (0, 1, 1));
    }

    #[test]
    fn failures_are_listed_with_file_and_line_then_counted() {
        let dir = std::env::temp_dir().join(format!("prom-test-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("a.test");
        std::fs::write(
            &good,
            "load 1m\n    x 1\n\neval instant at 0s x\n    x 1\n\neval instant at 0s x\n    expect fail\n\neval instant at 0s 1\n    {} {{count:1}}\n",
        )
        .unwrap();
        let bad = dir.join("b.test");
        std::fs::write(&bad, "bogus\n").unwrap();
        let mut out = Vec::new();
        let totals = run_promql_tests(
            &[good.clone(), bad.clone()],
            &mut *evaluator(),
            &RunOptions::default(),
            Some(0),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (g, b) = (good.display(), bad.display());
        assert_eq!(lines[0], format!("{g}: … 1 more failure(s) not shown"));
        assert_eq!(lines[1], format!("{g}: 1 passed, 1 failed, 1 skipped"));
        assert!(
            lines[2].starts_with(&format!("{b}: cannot run: {b}:1:1: ")),
            "{text}"
        );
        assert_eq!(
            totals,
            Totals {
                passed: 1,
                failed: 1,
                skipped: 1,
                unreadable: 1
            }
        );
        assert_eq!(
            totals.to_string(),
            "1 passed, 1 failed, 1 skipped, 1 file(s) could not be read"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
