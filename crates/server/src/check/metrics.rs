//! `prom check metrics`: parse an exposition, report every parse error with its position, then
//! lint what parsed.
//!
//! Unlike a scraper, which rejects an exposition at its first error, the checker keeps going
//! (the parser resumes at the next line) so one run shows every broken line.

use std::fmt::Write as _;
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use prom_exposition::{Format, ParseError, Parser, Problem, collect, lint};

use crate::error::{Error, Result};

/// Arguments of `prom check metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The exposition format of the input.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// What to do with lint findings: ignore them, print them, or print them and fail.
    #[arg(long, value_enum, default_value_t = LintLevel::Warn)]
    pub lint: LintLevel,
    /// The file to check; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text (which must end with `# EOF`).
    #[value(name = "openmetrics")]
    OpenMetrics,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::OpenMetrics => Format::OpenMetrics,
        }
    }
}

/// How lint findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintLevel {
    /// Do not lint.
    None,
    /// Print lint findings as warnings; they do not change the exit status.
    Warn,
    /// Print lint findings as warnings and fail if there are any.
    Strict,
}

/// The outcome of checking one exposition.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every parse error, in input order.
    pub errors: Vec<ParseError>,
    /// Lint findings, ordered by line (empty with [`LintLevel::None`]). A family-level finding
    /// on a family without samples carries the line of its metadata.
    pub warnings: Vec<Problem>,
    /// The lint level the check ran with.
    pub lint: LintLevel,
    /// How many metric families parsed.
    pub families: usize,
    /// How many samples parsed.
    pub samples: usize,
}

/// Parses `input` as `format`, collecting every parse error, and lints the families that
/// parsed unless `lint` is [`LintLevel::None`]. Lines with errors are left out of the lint.
pub fn check_metrics(input: &[u8], format: Format, lint_level: LintLevel) -> Report {
    let (families, errors) = collect(Parser::new(input, format));
    let mut warnings = match lint_level {
        LintLevel::None => Vec::new(),
        LintLevel::Warn | LintLevel::Strict => lint(&families, format),
    };
    // A finding about a family with no sample has no sample line: point at the family's
    // metadata, whose line the parser recorded.
    for w in &mut warnings {
        if w.line == 0
            && let Some(f) = families
                .iter()
                .find(|f| f.name == w.family && f.samples.is_empty())
        {
            w.line = f.line;
        }
    }
    warnings.sort_by_key(|w| w.line);
    Report {
        errors,
        warnings,
        lint: lint_level,
        families: families.len(),
        samples: families.iter().map(|f| f.samples.len()).sum(),
    }
}

impl Report {
    /// Whether the check passed: no parse errors and, with [`LintLevel::Strict`], no
    /// warnings.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && (self.lint != LintLevel::Strict || self.warnings.is_empty())
    }

    /// The process exit status: 0 when [`Self::passed`], else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.passed())
    }

    /// Writes the findings: each parse error as `LINE:COL: message` followed by the source
    /// line and a caret, then each warning as `LINE:1: warning: family: message`. With a
    /// `source` name every first line is prefixed `source:`, as compilers print.
    pub fn write_findings(
        &self,
        out: &mut dyn Write,
        input: &[u8],
        source: Option<&str>,
    ) -> io::Result<()> {
        let prefix = source.map(|s| format!("{s}:")).unwrap_or_default();
        for e in &self.errors {
            writeln!(out, "{prefix}{}", e.render(input))?;
        }
        for w in &self.warnings {
            writeln!(out, "{prefix}{}:1: warning: {w}", w.line)?;
        }
        Ok(())
    }

    /// `N errors, M warnings`, with singular nouns where they fit.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (e, w) = (self.errors.len(), self.warnings.len());
        let _ = write!(s, "{e} error{}, {w} warning{}", plural(e), plural(w));
        s
    }
}

/// Runs `prom check metrics`: reads the input, checks it, prints findings to stdout and the
/// summary to stderr, and returns the exit status.
pub fn run(args: &MetricsArgs) -> Result<u8> {
    let path = args.file.as_deref().filter(|p| *p != Path::new("-"));
    let input = read_input(path)?;
    let report = check_metrics(&input, args.format.into(), args.lint);
    let source = path.map(|p| p.display().to_string());
    let mut stdout = io::stdout().lock();
    report
        .write_findings(&mut stdout, &input, source.as_deref())
        .and_then(|()| stdout.flush())
        .map_err(Error::Write)?;
    let _ = writeln!(io::stderr(), "{}", report.summary());
    Ok(report.exit_code())
}

/// The whole file at `path`, or standard input when `None`.
fn read_input(path: Option<&Path>) -> Result<Vec<u8>> {
    match path {
        Some(p) => std::fs::read(p).map_err(|source| Error::Read {
            path: p.to_owned(),
            source,
        }),
        None => {
            let mut buf = Vec::new();
            io::stdin().read_to_end(&mut buf).map_err(Error::Stdin)?;
            Ok(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(report: &Report, input: &[u8], source: Option<&str>) -> String {
        let mut out = Vec::new();
        report.write_findings(&mut out, input, source).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn valid_input_passes() {
        let input = b"# HELP up Is it up.\n# TYPE up gauge\nup 1\n";
        let r = check_metrics(input, Format::Text, LintLevel::Strict);
        assert!(r.passed());
        assert_eq!((r.families, r.samples), (1, 1));
        assert_eq!(r.summary(), "0 errors, 0 warnings");
        assert_eq!(findings(&r, input, None), "");
    }

    #[test]
    fn every_error_is_reported_with_its_position() {
        let input = b"# HELP a A.\n# TYPE a gauge\na{x=1} 1\na 1\na 2 three\n";
        let r = check_metrics(input, Format::Text, LintLevel::None);
        let firsts: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        assert_eq!(firsts.len(), 2, "{firsts:?}");
        assert!(firsts[0].starts_with("3:5: "), "{}", firsts[0]);
        assert!(firsts[1].starts_with("5:5: "), "{}", firsts[1]);
        assert_eq!(r.exit_code(), 1);
        let out = findings(&r, input, Some("x.prom"));
        assert!(out.starts_with("x.prom:3:5: "), "{out}");
        assert!(out.contains("\n3 | a{x=1} 1\n  |     ^\n"), "{out}");
    }

    #[test]
    fn warnings_fail_only_when_strict() {
        let input = b"# TYPE up gauge\nup 1\n";
        let warn = check_metrics(input, Format::Text, LintLevel::Warn);
        assert_eq!(warn.exit_code(), 0);
        assert_eq!(
            findings(&warn, input, None),
            "2:1: warning: up: no HELP text\n"
        );
        assert_eq!(warn.summary(), "0 errors, 1 warning");
        let strict = check_metrics(input, Format::Text, LintLevel::Strict);
        assert_eq!(strict.exit_code(), 1);
        let none = check_metrics(input, Format::Text, LintLevel::None);
        assert!(none.warnings.is_empty());
    }

    #[test]
    fn family_without_samples_points_at_its_metadata() {
        let input = b"# HELP up Is it up.\n# TYPE up gauge\nup 1\n# TYPE down gauge\n";
        let r = check_metrics(input, Format::Text, LintLevel::Warn);
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].line, 4);
    }

    #[test]
    fn openmetrics_without_eof_fails() {
        let input = b"# TYPE up gauge\nup 1\n";
        let r = check_metrics(input, Format::OpenMetrics, LintLevel::None);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].to_string().contains("# EOF"), "{}", r.errors[0]);
    }
}
