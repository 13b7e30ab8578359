//! `prom check metrics` end to end: exit status, exact positions, stdin and files, lint levels.

use crate::support::{data, prom, temp_file};

/// Two broken lines (2 and 4) among good ones.
const TWO_ERRORS: &[u8] = b"# HELP jobs_total Jobs processed.
jobs_total{queue=\"mail\" 3
jobs_total{queue=\"sms\"} 4
jobs_total{queue=\"web\"} four
";

/// The report of `TWO_ERRORS` after the `FILE:` prefix, if any, of each first line.
const TWO_ERRORS_REPORT: [&str; 2] = [
    "2:25: expected ',' or '}', found \"3\"
  |
2 | jobs_total{queue=\"mail\" 3
  |                         ^
",
    "4:25: invalid number \"four\"
  |
4 | jobs_total{queue=\"web\"} four
  |                         ^
",
];

#[test]
fn valid_input_exits_zero() {
    let sample = data("sample.prom");
    let out = prom(&["check", "metrics", sample.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "0 errors, 0 warnings\n");
}

#[test]
fn every_error_is_printed_with_its_position() {
    // On stdin the first line of each error is exactly `LINE:COL: message`.
    let out = prom(&["check", "metrics"], TWO_ERRORS);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, TWO_ERRORS_REPORT.concat());
    assert_eq!(out.stderr, "2 errors, 0 warnings\n");
}

#[test]
fn errors_in_a_file_are_prefixed_with_its_name() {
    let path = temp_file("two-errors.prom", TWO_ERRORS);
    let file = path.to_str().unwrap();
    let out = prom(&["check", "metrics", file], b"");
    assert_eq!(out.code, 1, "{out:?}");
    let want: String = TWO_ERRORS_REPORT
        .iter()
        .map(|r| format!("{file}:{r}"))
        .collect();
    assert_eq!(out.stdout, want);
}

#[test]
fn dash_and_no_argument_both_read_stdin() {
    let input = std::fs::read(data("sample.prom")).unwrap();
    for args in [&["check", "metrics"][..], &["check", "metrics", "-"][..]] {
        let out = prom(args, &input);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stderr, "0 errors, 0 warnings\n");
    }
    let out = prom(&["check", "metrics", "-"], TWO_ERRORS);
    assert_eq!(out.stdout, TWO_ERRORS_REPORT.concat());
}

#[test]
fn missing_file_is_named() {
    let out = prom(&["check", "metrics", "/nonexistent/metrics.prom"], b"");
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("prom: cannot read /nonexistent/metrics.prom: "),
        "{}",
        out.stderr
    );
}

#[test]
fn openmetrics_requires_eof() {
    let body = b"# TYPE up gauge\n# HELP up Is it up.\nup 1\n";
    let out = prom(&["check", "metrics", "--format", "openmetrics"], body);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("4:1: expected \"# EOF\" at the end of the input\n"),
        "{}",
        out.stdout
    );
    let mut complete = body.to_vec();
    complete.extend_from_slice(b"# EOF\n");
    let out = prom(&["check", "metrics", "--format=openmetrics"], &complete);
    assert_eq!(out.code, 0, "{out:?}");
    // The same input is fine Prometheus text, where `# EOF` is a comment.
    assert_eq!(prom(&["check", "metrics"], &complete).code, 0);
}

#[test]
fn lint_levels() {
    let body = b"# TYPE up gauge\nup 1\n# HELP requests Requests served.\n# TYPE requests counter\nrequests 7\n";
    let warnings = "2:1: warning: up: no HELP text\n\
                    5:1: warning: requests: counter sample names should end in \"_total\"\n";

    let out = prom(&["check", "metrics"], body);
    assert_eq!((out.code, out.stdout.as_str()), (0, warnings), "{out:?}");
    assert_eq!(out.stderr, "0 errors, 2 warnings\n");

    for strict in [&["--lint=strict"][..], &["--lint", "strict"][..]] {
        let args: Vec<&str> = ["check", "metrics"].iter().chain(strict).copied().collect();
        let out = prom(&args, body);
        assert_eq!((out.code, out.stdout.as_str()), (1, warnings), "{strict:?}");
    }

    let out = prom(&["check", "metrics", "--lint=none"], body);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert_eq!(out.stderr, "0 errors, 0 warnings\n");
}

#[test]
fn warnings_follow_errors_and_carry_the_file_name() {
    let path = temp_file("mixed.prom", b"up 1\nup{ 2\n");
    let file = path.to_str().unwrap();
    let out = prom(&["check", "metrics", file], b"");
    assert_eq!(out.code, 1);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{file}:2:5: ")),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("{file}:1:1: warning: up: no HELP text").as_str())
    );
    assert_eq!(out.stderr, "1 error, 1 warning\n");
}

#[test]
fn version_and_usage() {
    let out = prom(&["--version"], b"");
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, format!("prom {}\n", env!("CARGO_PKG_VERSION")));

    let out = prom(&["check", "metrics", "--format", "json"], b"");
    assert_eq!(out.code, 2, "usage errors exit 2: {out:?}");
    assert!(out.stderr.contains("--format"), "{}", out.stderr);
}
