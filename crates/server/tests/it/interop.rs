//! Interoperability with promtool, the reference checker (Debian package `prometheus`).
//!
//! Runs only with `PROM_INTEROP=1` (as `.ci/run` sets it), and then fails if `promtool` is
//! missing rather than passing vacuously. Without it each test prints that it skipped.
//!
//! How promtool 2.42's `check metrics` answers, on stdin:
//! - exit 0, nothing printed: the input parsed and is lint-clean;
//! - exit 3, one `<metric> <problem>` line per lint finding on stderr: it parsed;
//! - exit 1, `error while linting: text format parsing error in line N: ...` on stderr: it
//!   did not parse.
//!
//! promtool parses with client_golang's text parser, which is stricter than Prometheus's
//! scrape-time parser that prom follows: it also rejects a second HELP or TYPE line for a
//! family, TYPE after the family's samples, unknown escapes such as `\q` in label values and
//! a blank after the value with no timestamp. So agreement is only asserted on inputs both are
//! meant to judge alike: the valid corpus, prom's own output, and plainly broken lines.

use std::path::PathBuf;

use prom_exposition::{Parser, collect, encode_text};

use crate::support::{conformance_dir, conformance_payloads, data, prom, run};

/// promtool's verdict on one input.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Parsed (lint findings, if any, are beside the point here).
    Accepted,
    /// Did not parse; the message promtool gave.
    Rejected(String),
}

/// `promtool`, when interop tests are enabled; `None` (after a note) when they are not.
/// Panics when enabled but promtool cannot be run.
pub fn promtool(test: &str) -> Option<&'static str> {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped {test}: set PROM_INTEROP=1 to compare with promtool");
        return None;
    }
    let out = std::process::Command::new("promtool")
        .arg("--version")
        .output();
    match out {
        Ok(o) if o.status.success() => Some("promtool"),
        Ok(o) => panic!("PROM_INTEROP=1 but `promtool --version` failed: {o:?}"),
        Err(e) => panic!(
            "PROM_INTEROP=1 but promtool cannot be run ({e}); install the Debian package \
             `prometheus`"
        ),
    }
}

fn promtool_verdict(promtool: &str, input: &[u8]) -> Verdict {
    let out = run(promtool, &["check", "metrics"], input);
    let parse_error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error while linting:"));
    match (out.code, parse_error) {
        (0 | 3, None) => Verdict::Accepted,
        (1, Some(msg)) => Verdict::Rejected(msg.to_owned()),
        _ => panic!("unexpected answer from promtool check metrics: {out:?}"),
    }
}

/// The text payloads of the corpus plus our sample, with their contents.
fn text_payloads() -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = vec![data("sample.prom")];
    if let Some(dir) = conformance_dir() {
        paths.extend(
            conformance_payloads(&dir)
                .into_iter()
                .filter(|(_, format)| *format == "text")
                .map(|(p, _)| p),
        );
        paths.push(dir.join("promtool/metrics-test.prom"));
    }
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

#[test]
fn promtool_and_prom_accept_the_corpus() {
    let Some(promtool) = promtool("promtool_and_prom_accept_the_corpus") else {
        return;
    };
    let mut disagreements = Vec::new();
    for (path, input) in text_payloads() {
        let theirs = promtool_verdict(promtool, &input);
        let ours = prom(&["check", "metrics", "--lint=none"], &input);
        println!(
            "{}: promtool {theirs:?}, prom exit {}",
            path.display(),
            ours.code
        );
        if theirs != Verdict::Accepted || ours.code != 0 {
            disagreements.push(format!(
                "{}: promtool {theirs:?}; prom exit {}:\n{}",
                path.display(),
                ours.code,
                ours.stdout
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn promtool_accepts_what_prom_encodes() {
    let Some(promtool) = promtool("promtool_accepts_what_prom_encodes") else {
        return;
    };
    let mut rejected = Vec::new();
    for (path, input) in text_payloads() {
        let (families, errors) = collect(Parser::text(&input));
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let encoded = encode_text(&families);
        let verdict = promtool_verdict(promtool, encoded.as_bytes());
        println!("{} re-encoded: promtool {verdict:?}", path.display());
        if let Verdict::Rejected(msg) = verdict {
            rejected.push(format!("{} re-encoded: {msg}", path.display()));
        }
    }
    assert!(rejected.is_empty(), "{}", rejected.join("\n"));
}

#[test]
fn promtool_and_prom_reject_broken_lines() {
    let Some(promtool) = promtool("promtool_and_prom_reject_broken_lines") else {
        return;
    };
    let broken: &[&[u8]] = &[
        b"a{b=\"1\" 1\n",
        b"a{b=1} 1\n",
        b"a{,} 1\n",
        b"a{b=\"1\",b=\"2\"} 1\n",
        b"{b=\"1\"} 1\n",
        b"a one\n",
        b"a 0x1F\n",
        b"a\n",
        b"a 1 2 3\n",
        b"a 1 1.5\n",
        b"# TYPE a foo\na 1\n",
    ];
    for input in broken {
        let shown = String::from_utf8_lossy(input);
        let theirs = promtool_verdict(promtool, input);
        assert!(
            matches!(theirs, Verdict::Rejected(_)),
            "promtool accepted {shown:?}"
        );
        let ours = prom(&["check", "metrics", "--lint=none"], input);
        assert_eq!(ours.code, 1, "prom accepted {shown:?}: {ours:?}");
    }
}
