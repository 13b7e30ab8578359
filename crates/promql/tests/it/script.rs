//! The test-script reader against Prometheus's PromQL acceptance scripts, read in place from the
//! shared conformance folder, and against arbitrary input.

use std::path::{Path, PathBuf};

use prom_promql::script::{
    Command, ExpectedResult, ScriptStats, SequenceValue, parse_script, parse_script_file,
};
use proptest::prelude::*;

/// `../shared/conformance/promql` relative to the workspace, or `PROM_PROMQL_CONFORMANCE_DIR`.
fn conformance_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROM_PROMQL_CONFORMANCE_DIR") {
        return dir.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql")
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read conformance dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_conformance_script_parses() {
    let dir = conformance_dir();
    if !dir.is_dir() {
        println!(
            "skipping: no PromQL conformance scripts at {}",
            dir.display()
        );
        return;
    }
    let files = test_files(&dir);
    assert!(!files.is_empty(), "no *.test files in {}", dir.display());
    let mut total = ScriptStats::default();
    let mut failures = Vec::new();
    println!(
        "{:<28} {:>5} {:>5} {:>6} {:>5} {:>7} {:>5} {:>5} {:>8} {:>8}",
        "file",
        "loads",
        "nhcb",
        "clears",
        "evals",
        "instant",
        "range",
        "fail",
        "NH evals",
        "NH loads"
    );
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match parse_script_file(path) {
            Ok(script) => {
                let s = script.stats();
                println!(
                    "{:<28} {:>5} {:>5} {:>6} {:>5} {:>7} {:>5} {:>5} {:>8} {:>8}",
                    name,
                    s.loads,
                    s.loads_with_nhcb,
                    s.clears,
                    s.evals,
                    s.instant_evals,
                    s.range_evals,
                    s.expect_fail,
                    s.evals_needing_native_histograms,
                    s.loads_needing_native_histograms
                );
                total.loads += s.loads;
                total.loads_with_nhcb += s.loads_with_nhcb;
                total.loads_needing_native_histograms += s.loads_needing_native_histograms;
                total.clears += s.clears;
                total.evals += s.evals;
                total.instant_evals += s.instant_evals;
                total.range_evals += s.range_evals;
                total.expect_fail += s.expect_fail;
                total.evals_needing_native_histograms += s.evals_needing_native_histograms;
                check_invariants(&name, &script);
            }
            Err(e) => {
                println!("{name}: FAILED\n{e}");
                failures.push(e.to_string());
            }
        }
    }
    println!("total: {total}");
    assert!(
        failures.is_empty(),
        "{} of {} scripts failed to parse:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Properties every parsed script has, whatever its content.
fn check_invariants(name: &str, script: &prom_promql::script::Script) {
    let mut last_line = 0;
    for cmd in &script.commands {
        assert!(cmd.line() > last_line, "{name}: commands out of order");
        last_line = cmd.line();
        match cmd {
            Command::Load(load) => {
                for s in &load.series {
                    assert!(
                        s.samples.windows(2).all(|w| w[0].t < w[1].t),
                        "{name}:{}: samples not in time order",
                        s.line
                    );
                    assert!(s.line > load.line);
                }
            }
            Command::Eval(eval) => {
                assert!(
                    !eval.expr.is_empty(),
                    "{name}:{}: empty expression",
                    eval.line
                );
                if let ExpectedResult::Series(series) = &eval.expected
                    && eval.instant_time().is_some()
                    && eval.range_vector.is_none()
                {
                    assert!(series.iter().all(|s| s.values.len() <= 1));
                }
            }
            Command::Clear { .. } => {}
        }
    }
}

#[test]
fn conformance_spot_checks() {
    let dir = conformance_dir();
    if !dir.is_dir() {
        println!(
            "skipping: no PromQL conformance scripts at {}",
            dir.display()
        );
        return;
    }
    // literals.test: scalar and string expectations.
    let script = parse_script_file(dir.join("literals.test")).unwrap();
    let first = script.evals().next().unwrap();
    assert_eq!(first.expr, "12.34e6");
    assert!(matches!(
        first.expected,
        ExpectedResult::Scalar { value, .. } if value == 12_340_000.0
    ));
    assert!(script.evals().any(|e| matches!(
        &e.expected,
        ExpectedResult::String { value, .. } if value == " Foo "
    )));
    // staleness.test loads `stale` markers.
    let script = parse_script_file(dir.join("staleness.test")).unwrap();
    let stale = script
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Load(l) => Some(l),
            _ => None,
        })
        .flat_map(|l| &l.series)
        .flat_map(|s| &s.samples)
        .filter(|s| prom_model::value::is_stale_nan(s.v))
        .count();
    assert!(stale > 0, "staleness.test has stale markers");
    // native_histograms.test: histogram literals are recognised.
    let script = parse_script_file(dir.join("native_histograms.test")).unwrap();
    assert!(script.evals().any(|e| match &e.expected {
        ExpectedResult::Series(s) => s.iter().any(|s| {
            s.values
                .iter()
                .any(|v| matches!(v, SequenceValue::Histogram(_)))
        }),
        _ => false,
    }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary text never panics the reader.
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = parse_script(&src);
    }

    /// Script-shaped input, built from the format's own tokens, never panics either.
    #[test]
    fn script_shaped_input_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("load 1m\n"), Just("load_with_nhcb 5m\n"), Just("clear\n"), Just("\n"),
                Just("eval instant at 1m foo\n"), Just("eval range from 0 to 1m step 10s foo\n"),
                Just("eval_fail instant at 0 x\n"), Just("expect warn msg: x\n"),
                Just("expect fail regex: ("), Just("expect range vector from 0 to 1m step 1m\n"),
                Just("expect string \"a\"\n"), Just("foo{a=\"b\"} "), Just("{\"utf8.name\", a='x'} "),
                Just("foo@st "), Just("-1m-1mx2 "), Just("1+2x3 "), Just("_x3 "), Just("stale "),
                Just("Inf "), Just("-NaN "), Just("0x5 "), Just("1e3 "), Just("{{schema:0 sum:1 "),
                Just("buckets:[1 2] "), Just("}} "), Just("}}+{{count:1}}x3 "), Just("x"), Just("3"),
                Just("\t"), Just("# c\n"), Just("{"), Just("}"), Just("\""), Just("99999999999999999999"),
            ],
            0..40,
        )
    ) {
        let src: String = parts.concat();
        let _ = parse_script(&src);
    }
}
