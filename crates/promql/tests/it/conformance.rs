//! prom-promql's engine against test scripts: Prometheus's acceptance suite, read in place from
//! the shared conformance folder, and this crate's own scripts in `tests/scripts`.
//!
//! The engine is wired to the runner as `prom test promql` wires it (FORMAT.md §7 settings).
//! Every file must run without a failure; evals that need native histograms are skipped.
//! Each file's `N passed, M failed, K skipped` line is printed (`cargo test -- --nocapture`).

use std::path::{Path, PathBuf};

use prom_promql::script::{EngineEvaluator, RunOptions, ScriptReport, run_script_file};

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    files
}

/// Runs every script in `dir`, printing one line per file and every failure; returns the
/// reports by file name.
fn run_dir(dir: &Path) -> Vec<(String, ScriptReport)> {
    let mut evaluator = EngineEvaluator::new();
    let mut reports = Vec::new();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for path in test_files(dir) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = run_script_file(&path, &mut evaluator, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        for f in &report.failures {
            println!("{name}:{}: {}", f.line, f.message.replace('\n', "\n    "));
        }
        println!("{name}: {report}");
        passed += report.passed;
        failed += report.failed;
        skipped += report.skipped;
        reports.push((name, report));
    }
    println!("total: {passed} passed, {failed} failed, {skipped} skipped");
    reports
}

fn failing(reports: &[(String, ScriptReport)]) -> Vec<String> {
    reports
        .iter()
        .filter(|(_, r)| !r.is_success())
        .map(|(name, r)| format!("{name}: {r}"))
        .collect()
}

#[test]
fn prometheus_acceptance_scripts_pass() {
    let dir = std::env::var_os("PROM_PROMQL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql")
        });
    if !dir.is_dir() {
        println!(
            "skipping: no PromQL conformance scripts at {}",
            dir.display()
        );
        return;
    }
    let reports = run_dir(&dir);
    assert!(!reports.is_empty(), "no *.test files in {}", dir.display());
    let bad = failing(&reports);
    assert!(bad.is_empty(), "failing scripts: {bad:#?}");
    // The start-timestamp script runs every eval that needs no native histograms.
    if let Some((_, r)) = reports.iter().find(|(n, _)| n == "start_timestamps.test") {
        assert_eq!((r.passed, r.failed), (16, 0), "start_timestamps.test: {r}");
    }
}

#[test]
fn own_scripts_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let reports = run_dir(&dir);
    assert!(!reports.is_empty(), "no *.test files in {}", dir.display());
    let bad = failing(&reports);
    assert!(bad.is_empty(), "failing scripts: {bad:#?}");
    assert!(
        reports.iter().all(|(_, r)| r.skipped == 0 && r.passed > 0),
        "every eval of the own scripts runs: {reports:?}"
    );
}
