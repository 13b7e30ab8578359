//! `promtool check rules`: validate rule files and print what promtool prints.
//!
//! For each file the report is `Checking FILE` then either `  SUCCESS: N rules found` and a
//! blank line, or `  FAILED:` and the errors (each prefixed with the file). With the duplicate
//! rules lint on (the default) a file whose rules are valid but duplicated fails with a
//! `lint error` that only changes the exit code when lint errors are fatal. Progress goes to
//! `out`, failures to `err`, as promtool splits stdout and stderr.
//!
//! ```
//! use prom_rules::check::{CheckOptions, check_rules_text, EXIT_SUCCESS};
//!
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let text = "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n";
//! let code = check_rules_text("standard input", text, &CheckOptions::default(), &mut out, &mut err);
//! assert_eq!(code, EXIT_SUCCESS);
//! assert_eq!(String::from_utf8(out).unwrap(), "Checking standard input\n  SUCCESS: 1 rules found\n\n");
//! ```

use std::io::Write;
use std::path::Path;

use crate::file::{self, LoadOptions, RuleErrorKind, RuleGroups};

/// Every file valid (lint problems not fatal).
pub const EXIT_SUCCESS: i32 = 0;
/// A file could not be read or is not valid.
pub const EXIT_FAILURE: i32 = 1;
/// Only lint problems, and `lint_fatal` was set.
pub const EXIT_LINT: i32 = 3;

/// How rule files are checked. Defaults: [`LoadOptions::default`], the duplicate-rules lint
/// on, lint problems not fatal (promtool's `--lint=duplicate-rules`).
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// How files are decoded and validated.
    pub load: LoadOptions,
    /// Report rules with the same name and labels (`--lint=duplicate-rules`).
    pub lint_duplicates: bool,
    /// Exit with [`EXIT_LINT`] when only lint problems were found (`--lint-fatal`).
    pub lint_fatal: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            load: LoadOptions::default(),
            lint_duplicates: true,
            lint_fatal: false,
        }
    }
}

impl CheckOptions {
    /// Sets [`load`](Self::load).
    pub fn load(mut self, load: LoadOptions) -> Self {
        self.load = load;
        self
    }

    /// Sets [`lint_duplicates`](Self::lint_duplicates).
    pub fn lint_duplicates(mut self, on: bool) -> Self {
        self.lint_duplicates = on;
        self
    }

    /// Sets [`lint_fatal`](Self::lint_fatal).
    pub fn lint_fatal(mut self, on: bool) -> Self {
        self.lint_fatal = on;
        self
    }
}

/// What checking one file found.
enum Outcome {
    Valid,
    Lint,
    Invalid,
}

/// Checks rule files as `promtool check rules FILE...` does and returns its exit code.
pub fn check_rules_files<P: AsRef<Path>>(
    paths: &[P],
    opts: &CheckOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> i32 {
    let mut outcomes = Vec::with_capacity(paths.len());
    for p in paths {
        let p = p.as_ref();
        // Output failures are ignored as promtool ignores them: the exit code still tells.
        let _ = writeln!(out, "Checking {}", p.display());
        let loaded = file::load_file_with(p, &opts.load);
        outcomes.push(report(loaded, opts, out, err));
    }
    exit_code(&outcomes, opts)
}

/// Checks rule file text (promtool reads standard input when given no file; `name` is what
/// the report calls it, promtool says `standard input`) and returns the exit code.
pub fn check_rules_text(
    name: &str,
    text: &str,
    opts: &CheckOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> i32 {
    let _ = writeln!(out, "Checking {name}");
    let loaded = file::parse_with(text, name, &opts.load);
    let outcome = report(loaded, opts, out, err);
    exit_code(&[outcome], opts)
}

fn exit_code(outcomes: &[Outcome], opts: &CheckOptions) -> i32 {
    if outcomes.iter().any(|o| matches!(o, Outcome::Invalid)) {
        EXIT_FAILURE
    } else if opts.lint_fatal && outcomes.iter().any(|o| matches!(o, Outcome::Lint)) {
        EXIT_LINT
    } else {
        EXIT_SUCCESS
    }
}

fn report(
    loaded: file::Result<RuleGroups>,
    opts: &CheckOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Outcome {
    let groups = match loaded {
        Ok(g) => g,
        Err(errs) => {
            let _ = writeln!(err, "  FAILED:");
            let _ = err.write_all(format_errors(&errs).as_bytes());
            return Outcome::Invalid;
        }
    };
    if opts.lint_duplicates {
        let dups = file::duplicate_rules(&groups);
        if !dups.is_empty() {
            let _ = writeln!(err, "  FAILED:");
            let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
            for d in &dups {
                msg.push_str(&format!("Metric: {}\nLabel(s):\n", d.metric));
                for (k, v) in &d.labels {
                    msg.push_str(&format!("\t{k}: {v}\n"));
                }
            }
            msg.push_str("Might cause inconsistency while recording expressions");
            let _ = writeln!(err, "{msg}");
            let _ = writeln!(out);
            return Outcome::Lint;
        }
    }
    let _ = writeln!(out, "  SUCCESS: {} rules found", groups.rule_count());
    let _ = writeln!(out);
    Outcome::Valid
}

/// The errors one per line as promtool prints them; consecutive decoding errors of a file
/// share one `yaml: unmarshal errors:` heading, as Go's YAML decoder lists them.
pub fn format_errors(errs: &[file::RuleError]) -> String {
    let mut s = String::new();
    let mut in_list = false;
    for e in errs {
        if e.kind == RuleErrorKind::Unmarshal {
            if !in_list {
                if let Some(f) = &e.file {
                    s.push_str(&format!("{f}: "));
                }
                s.push_str("yaml: unmarshal errors:\n");
                in_list = true;
            }
            s.push_str(&format!("  line {}: {}\n", e.line(), e.msg));
        } else {
            in_list = false;
            s.push_str(&format!("{e}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, opts: &CheckOptions) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_rules_text("in.yml", text, opts, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn failures_list_errors_under_one_unmarshal_heading() {
        let text = "groups:\n- name: a\n  x: 1\n  y: 2\n  rules: []\n";
        let (code, out, err) = run(text, &CheckOptions::default());
        assert_eq!(code, EXIT_FAILURE);
        assert_eq!(out, "Checking in.yml\n");
        assert_eq!(
            err,
            "  FAILED:\nin.yml: yaml: unmarshal errors:\n  line 3: field x not found in type rulefmt.RuleGroup\n  line 4: field y not found in type rulefmt.RuleGroup\n"
        );
    }

    #[test]
    fn duplicates_are_a_lint_error_fatal_only_on_request() {
        let text = "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: '1'\n    labels: {s: p}\n  - alert: A\n    expr: '2'\n    labels: {s: p}\n";
        let (code, out, err) = run(text, &CheckOptions::default());
        assert_eq!(code, EXIT_SUCCESS);
        assert_eq!(out, "Checking in.yml\n\n");
        assert_eq!(
            err,
            "  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: A\nLabel(s):\n\ts: p\nMight cause inconsistency while recording expressions\n"
        );
        let (code, ..) = run(text, &CheckOptions::default().lint_fatal(true));
        assert_eq!(code, EXIT_LINT);
        let (code, out, _) = run(text, &CheckOptions::default().lint_duplicates(false));
        assert_eq!(
            (code, out.as_str()),
            (
                EXIT_SUCCESS,
                "Checking in.yml\n  SUCCESS: 2 rules found\n\n"
            )
        );
    }

    #[test]
    fn missing_files_fail_with_the_path() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_rules_files(
            &["/nonexistent/r.yml"],
            &CheckOptions::default(),
            &mut out,
            &mut err,
        );
        assert_eq!(code, EXIT_FAILURE);
        let err = String::from_utf8(err).unwrap();
        assert!(
            err == "  FAILED:\n/nonexistent/r.yml: open /nonexistent/r.yml: no such file or directory\n",
            "{err}"
        );
    }
}
