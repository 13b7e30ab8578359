//! promtool's rule unit tests run by prom-rules: the cases in `testdata/unit` (for,
//! keep_firing_for, templates, recording rules, ALERTS) pass or fail as written, and with
//! promtool installed (required under `PROM_INTEROP=1`) `promtool test rules` passes and fails
//! the same cases, test group by test group.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use prom_rules::unittest::{UnitTestOptions, run_test_file, run_test_files};

fn unit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/unit")
}

/// The file split into one file per test group (same header), each with the group's name.
fn split_tests(path: &Path, into: &Path) -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string(path).unwrap();
    let (header, body) = text.split_once("\ntests:\n").expect("a tests: section");
    let mut cases: Vec<String> = Vec::new();
    for line in body.lines() {
        if line.starts_with("  - name:") {
            cases.push(String::new());
        }
        if let Some(c) = cases.last_mut() {
            c.push_str(line);
            c.push('\n');
        }
    }
    cases
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("  - name:")
                .trim()
                .to_owned();
            let file = into.join(format!("case{i}.yml"));
            std::fs::write(&file, format!("{header}\ntests:\n{c}")).unwrap();
            (name, file)
        })
        .collect()
}

#[test]
fn the_cases_pass_or_fail_as_written() {
    let outcomes = run_test_file(&unit_dir().join("tests.yml"), &UnitTestOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(outcomes.len() >= 30, "{} cases", outcomes.len());
    let mut wrong = Vec::new();
    for o in &outcomes {
        let meant_to_fail = o.name.ends_with("(fails)");
        if o.passed() == meant_to_fail {
            wrong.push(format!("{}: {}", o.name, o.failures.join("\n")));
        }
    }
    assert!(
        wrong.is_empty(),
        "cases that did not behave as written:\n{}",
        wrong.join("\n\n")
    );
}

#[test]
fn the_report_and_exit_status_are_promtools() {
    let mut out = Vec::new();
    let code = run_test_files(
        &[unit_dir().join("tests.yml")],
        &UnitTestOptions::default(),
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("Unit Testing:  "), "{text}");
    assert!(text.contains("  FAILED:\n    name: a missing expected alert (fails),\n    alertname: InstanceDown, time: 10m, \n"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let cases = split_tests(&unit_dir().join("tests.yml"), dir.path());
    std::fs::copy(unit_dir().join("rules.yml"), dir.path().join("rules.yml")).unwrap();
    let (_, good) = cases.iter().find(|(n, _)| !n.ends_with("(fails)")).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        run_test_files(&[good], &UnitTestOptions::default(), &mut out),
        0
    );
    assert!(String::from_utf8(out).unwrap().ends_with("  SUCCESS\n\n"));
}

#[test]
fn unusable_files_fail_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad_rules = dir.path().join("bad.yml");
    std::fs::write(
        &bad_rules,
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(\n",
    )
    .unwrap();
    let test = dir.path().join("t.yml");
    std::fs::write(&test, "rule_files: [bad.yml]\ntests:\n  - name: x\n").unwrap();
    let e = run_test_file(&test, &UnitTestOptions::default()).unwrap_err();
    assert!(
        e.contains("bad.yml") && e.contains("could not parse expression"),
        "{e}"
    );
    std::fs::write(&test, "rule_files: [missing.yml]\ntests: []\n").unwrap();
    assert!(
        run_test_file(&test, &UnitTestOptions::default())
            .unwrap_err()
            .contains("missing.yml")
    );
    std::fs::write(&test, "tests:\n  - input_series:\n    - series: 'a'\n      values: '{{schema:1 sum:1 count:1}}'\n").unwrap();
    let o = run_test_file(&test, &UnitTestOptions::default()).unwrap();
    assert!(o[0].failures[0].contains("native histogram"), "{:?}", o[0]);
}

fn promtool_present() -> bool {
    Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn promtool_agrees_case_by_case() {
    if !promtool_present() {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "PROM_INTEROP=1 but promtool cannot be run; install the Debian package `prometheus`"
        );
        println!("skipped: promtool not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(unit_dir().join("rules.yml"), dir.path().join("rules.yml")).unwrap();
    let cases = split_tests(&unit_dir().join("tests.yml"), dir.path());
    assert!(cases.len() >= 30);
    let mut disagree = Vec::new();
    for (name, file) in &cases {
        let theirs = Command::new("promtool")
            .args(["test", "rules"])
            .arg(file)
            .output()
            .unwrap();
        let ours = run_test_file(file, &UnitTestOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let our_pass = ours.iter().all(|o| o.passed());
        if theirs.status.success() != our_pass {
            disagree.push(format!(
                "{name}: promtool {}, prom {}\npromtool said:\n{}\nprom said:\n{}",
                if theirs.status.success() {
                    "passed"
                } else {
                    "failed"
                },
                if our_pass { "passed" } else { "failed" },
                String::from_utf8_lossy(&theirs.stdout) + String::from_utf8_lossy(&theirs.stderr),
                ours.iter()
                    .flat_map(|o| o.failures.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    println!(
        "{} cases, {} agree",
        cases.len(),
        cases.len() - disagree.len()
    );
    assert!(disagree.is_empty(), "{}", disagree.join("\n\n"));
}
