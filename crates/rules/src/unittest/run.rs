//! Running a unit-test file: what `promtool test rules` does for each test group.
//!
//! For each entry of `tests`: the input series go into a fresh in-memory storage (slot *i*
//! at `i × interval`); the rule files are loaded with the group's interval, external labels
//! and URL; then from time 0 to the latest `eval_time`, every `evaluation_interval`, every
//! group is evaluated in `group_eval_order` (else file order), a rule failing ends the test
//! group; after each evaluation the `alert_rule_test` cases whose time falls before the next
//! one compare the *firing* alerts of their rule with `exp_alerts` (the test adds
//! `alertname`); finally each `promql_expr_test` runs its query against everything stored and
//! compares the samples with `exp_samples`, exactly unless `fuzzy_compare`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use prom_model::{Appendable, Labels, MemoryStorage, Queryable};
use prom_promql::engine::Value;
use prom_promql::script::SequenceValue;
use prom_promql::{Engine, EngineOptions};
use prom_scrape::config::Duration;

use super::file::{TestFile, TestGroup, load_test_file};
use crate::alerting::AlertState;
use crate::file::LoadOptions;
use crate::file::{RuleGroups, load_file_with};
use crate::group::Group;
use crate::load::build_groups;
use crate::manager::ManagerOptions;
use crate::notifier::{Alert, Notifier};
use crate::rule::{Expander, Rule};

/// Builds the template expander of one test group from its external labels, external URL
/// and the storage the `query` template function reads.
pub type ExpanderFactory = fn(
    external_labels: &Labels,
    external_url: &str,
    storage: Arc<dyn Queryable>,
) -> Arc<dyn Expander>;

/// How unit tests run.
#[derive(Debug, Clone)]
pub struct UnitTestOptions {
    /// How rule files are loaded.
    pub load: LoadOptions,
    /// Makes each test group's template expander.
    pub expander: ExpanderFactory,
}

impl Default for UnitTestOptions {
    fn default() -> Self {
        UnitTestOptions {
            load: LoadOptions::default(),
            expander: crate::expand::test_expander,
        }
    }
}

/// The outcome of one test group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutcome {
    /// The group's `name` (may be empty).
    pub name: String,
    /// The failures, each a block of text as promtool prints it; empty when the group passed.
    pub failures: Vec<String>,
}

impl GroupOutcome {
    /// Whether every case of the group passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// What a unit-test file produced: the file could not be used, or one outcome per test group.
pub type FileOutcome = Result<Vec<GroupOutcome>, String>;

/// Runs every unit-test file as `promtool test rules FILE...` does, printing `Unit Testing:
/// FILE` and `  SUCCESS` or `  FAILED:` with each failure; returns the exit status (0 when all
/// passed, 1 otherwise).
pub fn run_test_files<P: AsRef<Path>>(
    paths: &[P],
    opts: &UnitTestOptions,
    out: &mut impl Write,
) -> i32 {
    let mut failed = false;
    for p in paths {
        let p = p.as_ref();
        let _ = writeln!(out, "Unit Testing:  {}", p.display());
        match run_test_file(p, opts) {
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "  FAILED:\n    {}\n", e.replace('\n', "\n    "));
            }
            Ok(groups) if groups.iter().all(GroupOutcome::passed) => {
                let _ = writeln!(out, "  SUCCESS\n");
            }
            Ok(groups) => {
                failed = true;
                let _ = writeln!(out, "  FAILED:");
                for g in groups.iter().filter(|g| !g.passed()) {
                    for f in &g.failures {
                        if g.name.is_empty() {
                            let _ = writeln!(out, "{f}");
                        } else {
                            let _ = writeln!(out, "    name: {},\n{f}", g.name);
                        }
                    }
                }
                let _ = writeln!(out);
            }
        }
    }
    i32::from(failed)
}

/// Runs one unit-test file.
pub fn run_test_file(path: &Path, opts: &UnitTestOptions) -> FileOutcome {
    let file = load_test_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    run_tests(&file, opts)
}

/// Runs the test groups of a decoded file.
pub fn run_tests(file: &TestFile, opts: &UnitTestOptions) -> FileOutcome {
    if file.evaluation_interval_ms <= 0 {
        return Err("evaluation_interval must be positive".into());
    }
    // The rule files are read and checked once, before any test runs, as promtool checks
    // them first; each test group builds its groups from them with its own interval.
    let mut parsed = Vec::with_capacity(file.rule_files.len());
    let mut errs = Vec::new();
    for p in &file.rule_files {
        match load_file_with(p, &opts.load) {
            Ok(g) => parsed.push((p.to_string_lossy().into_owned(), g)),
            Err(e) => errs.extend(e),
        }
    }
    if !errs.is_empty() {
        return Err(join_errors(&errs));
    }
    let mut outcomes = Vec::with_capacity(file.tests.len());
    for tg in &file.tests {
        let failures = match run_group(file, &parsed, tg, opts) {
            Ok(f) => f,
            Err(e) => vec![format!("    {e}")],
        };
        outcomes.push(GroupOutcome {
            name: tg.name.clone(),
            failures,
        });
    }
    Ok(outcomes)
}

/// A notifier for tests: alerts are checked from the rules' state, not sent.
#[derive(Debug)]
struct Discard;

impl Notifier for Discard {
    fn send(&self, _: Vec<Alert>) {}
}

fn dur(ms: i64) -> String {
    Duration(ms.max(0) as u64).to_string()
}

fn load_input(tg: &TestGroup, storage: &MemoryStorage) -> Result<(), String> {
    let mut app = storage.appender();
    for s in &tg.input_series {
        for (i, v) in s.values.iter().enumerate() {
            let t = i as i64 * tg.interval_ms;
            match v {
                SequenceValue::Omitted => {}
                SequenceValue::Float(f) => {
                    app.append(None, &s.labels, t, *f)
                        .map_err(|e| format!("line {}: input series {}: {e}", s.line, s.labels))?;
                }
                SequenceValue::Histogram(_) => {
                    return Err(format!(
                        "line {}: native histogram input series are not supported",
                        s.line
                    ));
                }
            }
        }
    }
    app.commit().map_err(|e| e.to_string())
}

/// Sorts groups by `group_eval_order`; every named group must exist.
fn order_groups(mut groups: Vec<Group>, order: &[String]) -> Result<Vec<Group>, String> {
    if order.is_empty() {
        return Ok(groups);
    }
    for name in order {
        if !groups.iter().any(|g| g.name() == name) {
            return Err(format!("group name {name:?} in group_eval_order not found"));
        }
    }
    groups.sort_by_key(|g| {
        order
            .iter()
            .position(|n| n == g.name())
            .unwrap_or(usize::MAX)
    });
    Ok(groups)
}

/// One alert as the comparison sees it: labels, then annotations.
type LabelsAndAnnotations = (Labels, Labels);

fn show_alerts(list: &[LabelsAndAnnotations]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[\n");
    for (i, (l, a)) in list.iter().enumerate() {
        s.push_str(&format!(
            "            {i}:\n              Labels:{l}\n              Annotations:{a}\n"
        ));
    }
    s.push_str("            ]");
    s
}

fn join_errors(errs: &[crate::file::RuleError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_group(
    file: &TestFile,
    parsed: &[(String, RuleGroups)],
    tg: &TestGroup,
    opts: &UnitTestOptions,
) -> Result<Vec<String>, String> {
    let storage = Arc::new(MemoryStorage::new());
    load_input(tg, &storage)?;
    let mut groups = Vec::new();
    for (name, rule_groups) in parsed {
        groups.extend(
            build_groups(name, rule_groups, tg.interval_ms, &opts.load)
                .map_err(|e| join_errors(&e))?,
        );
    }
    let mut groups = order_groups(groups, &file.group_eval_order)?;
    let engine = Arc::new(Engine::new(EngineOptions::default()));
    let queryable: Arc<dyn Queryable> = storage.clone();
    let mopts = ManagerOptions::new(
        engine.clone(),
        queryable.clone(),
        storage.clone(),
        Arc::new(Discard),
    )
    .expander((opts.expander)(
        &tg.external_labels,
        &tg.external_url,
        queryable.clone(),
    ))
    .external_url(tg.external_url.clone());

    let max_eval = tg
        .alert_rule_tests
        .iter()
        .map(|a| a.eval_time_ms)
        .chain(tg.promql_expr_tests.iter().map(|p| p.eval_time_ms))
        .max()
        .unwrap_or(0);
    let mut alert_tests: Vec<_> = tg.alert_rule_tests.iter().collect();
    alert_tests.sort_by_key(|a| a.eval_time_ms);
    let mut failures = Vec::new();
    let mut next = 0;
    let step = file.evaluation_interval_ms;
    let mut ts = 0;
    while ts <= max_eval {
        let mut eval_errors = Vec::new();
        for g in &mut groups {
            g.eval(ts, &mopts);
            for r in g.rules() {
                if let Some(e) = &r.status().last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        dur(ts)
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            failures.extend(eval_errors);
            return Ok(failures);
        }
        while next < alert_tests.len()
            && alert_tests[next].eval_time_ms >= ts
            && alert_tests[next].eval_time_ms < ts + step
        {
            let case = alert_tests[next];
            next += 1;
            let mut got: Vec<LabelsAndAnnotations> = Vec::new();
            for g in &groups {
                for r in g.rules() {
                    let Rule::Alerting(a) = r else { continue };
                    if a.name() != case.alertname {
                        continue;
                    }
                    for al in a.active_alerts() {
                        if al.state == AlertState::Firing {
                            got.push((al.labels.clone(), al.annotations.clone()));
                        }
                    }
                }
            }
            let mut exp: Vec<LabelsAndAnnotations> = case
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut b = e.labels.to_builder();
                    b.set("alertname", &case.alertname);
                    (b.build(), e.annotations.clone())
                })
                .collect();
            got.sort();
            exp.sort();
            if got != exp {
                failures.push(format!(
                    "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    case.alertname,
                    dur(case.eval_time_ms),
                    show_alerts(&exp),
                    show_alerts(&got)
                ));
            }
        }
        ts += step;
    }

    for case in &tg.promql_expr_tests {
        let result = prom_promql::parse(&case.expr)
            .map_err(|e| e.to_string())
            .and_then(|expr| {
                engine
                    .instant(&*storage, &expr, case.eval_time_ms)
                    .map_err(|e| e.to_string())
            });
        let value = match result {
            Ok(r) => r.value,
            Err(e) => {
                failures.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    case.expr,
                    dur(case.eval_time_ms)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64)> = match value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Value::Scalar(v, _) => vec![(Labels::new(), v)],
            _ => {
                failures.push(format!(
                    "    expr: {:?}, time: {}, err: rule result is not a vector or scalar",
                    case.expr,
                    dur(case.eval_time_ms)
                ));
                continue;
            }
        };
        let mut exp: Vec<(Labels, f64)> = case
            .exp_samples
            .iter()
            .map(|s| (s.labels.clone(), s.value))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && values_match(g.1, e.1, file.fuzzy_compare));
        if !same {
            let show = |v: &[(Labels, f64)]| {
                v.iter()
                    .map(|(l, f)| format!("{l} {f:E}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            failures.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                case.expr,
                dur(case.eval_time_ms),
                show(&exp),
                show(&got)
            ));
        }
    }
    Ok(failures)
}

/// Exact comparison (NaN never equals, as Go's `reflect.DeepEqual` on floats), or with
/// `fuzzy_compare` a relative tolerance of 1e-6 (NaN equal to NaN).
fn values_match(got: f64, exp: f64, fuzzy: bool) -> bool {
    if !fuzzy {
        return got == exp;
    }
    if got.is_nan() || exp.is_nan() {
        return got.is_nan() && exp.is_nan();
    }
    got == exp || (got - exp).abs() <= 1e-6 * got.abs().max(exp.abs())
}
