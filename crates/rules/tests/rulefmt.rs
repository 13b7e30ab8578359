//! Rule files against Prometheus's own fixtures (../shared/conformance/rules, read in place:
//! see its INDEX.md) and kube-prometheus's PrometheusRule manifests, and side by side with
//! `promtool check rules` under `PROM_INTEROP=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use prom_rules::check::{self, CheckOptions};
use prom_rules::file::{self, LoadOptions, NameValidation, RuleGroups, RuleKind};
use prom_scrape::yaml::{self, Node, Value};

fn conformance(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "{} is absent",
            dir.display()
        );
        println!("skipped: {} is absent", dir.display());
        None
    }
}

/// Stands in for the crate's template check in these tests: Prometheus's template parse
/// fails on a variable that is neither predefined for alert templates nor declared earlier,
/// which is the one template error among the fixtures (`rules-bad.yml`).
fn undefined_variables(name: &str, text: &str) -> Result<(), String> {
    let mut defined: Vec<String> = ["$", "$labels", "$externalLabels", "$externalURL", "$value"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            return Err(format!("template: {name}:1: unclosed action"));
        };
        let action = &rest[start + 2..start + len];
        let mut chars = action.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '$' {
                continue;
            }
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let var = &action[i..end];
            if action[end..].trim_start().starts_with(":=") {
                defined.push(var.to_owned());
            } else if !defined.iter().any(|d| d == var) {
                return Err(format!("template: {name}:1: undefined variable {var:?}"));
            }
        }
        rest = &rest[start + len + 2..];
    }
    Ok(())
}

/// What a fixture must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Load without error.
    Ok,
    /// Fail, the first error containing this text.
    Fail(&'static str),
}

struct Case {
    file: &'static str,
    opts: fn() -> LoadOptions,
    expect: Expect,
}

fn utf8() -> LoadOptions {
    LoadOptions::default().validate_templates(undefined_variables)
}

fn legacy() -> LoadOptions {
    utf8().name_validation(NameValidation::Legacy)
}

fn experimental() -> LoadOptions {
    utf8().promql(prom_promql::ParseOptions::default())
}

fn lenient() -> LoadOptions {
    utf8().ignore_unknown_fields(true)
}

/// Every rule file of INDEX.md with what it must do. The substrings are the upstream tests'.
const CASES: &[Case] = &[
    // rulefmt/
    case("rulefmt/test.yaml", utf8, Expect::Ok),
    case("rulefmt/test_aliases.yaml", utf8, Expect::Ok),
    case("rulefmt/utf-8_lname.good.yaml", utf8, Expect::Ok),
    case("rulefmt/utf-8_annotation.good.yaml", utf8, Expect::Ok),
    case(
        "rulefmt/legacy_validation_annotation.good.yaml",
        legacy,
        Expect::Ok,
    ),
    case(
        "rulefmt/legacy_validation_annotation.bad.yaml",
        legacy,
        Expect::Fail("invalid annotation name: ins-tance"),
    ),
    case(
        "rulefmt/duplicate_grp.bad.yaml",
        utf8,
        Expect::Fail("groupname: \"yolo\" is repeated in the same file"),
    ),
    case(
        "rulefmt/bad_expr.bad.yaml",
        utf8,
        Expect::Fail("parse error"),
    ),
    case(
        "rulefmt/record_and_alert.bad.yaml",
        utf8,
        Expect::Fail("only one of 'record' and 'alert' must be set"),
    ),
    case(
        "rulefmt/no_rec_alert.bad.yaml",
        utf8,
        Expect::Fail("one of 'record' or 'alert' must be set"),
    ),
    case(
        "rulefmt/noexpr.bad.yaml",
        utf8,
        Expect::Fail("field 'expr' must be set in rule"),
    ),
    case(
        "rulefmt/invalid_record_name.bad.yaml",
        utf8,
        Expect::Fail(
            "braces present in the recording rule name; should it be in expr?: strawberry{flavor=\"sweet\"}",
        ),
    ),
    case(
        "rulefmt/bad_field.bad.yaml",
        utf8,
        Expect::Fail("field annotation not found"),
    ),
    case(
        "rulefmt/invalid_label_name.bad.yaml",
        utf8,
        Expect::Fail("invalid label name"),
    ),
    case(
        "rulefmt/record_and_for.bad.yaml",
        utf8,
        Expect::Fail("invalid field 'for' in recording rule"),
    ),
    case(
        "rulefmt/record_and_keep_firing_for.bad.yaml",
        utf8,
        Expect::Fail("invalid field 'keep_firing_for' in recording rule"),
    ),
    // manager/
    case(
        "manager/invalid_rules.yaml",
        utf8,
        Expect::Fail("field unexpected_field not found in type rulefmt.Rule"),
    ),
    case("manager/rules.yaml", utf8, Expect::Ok),
    case("manager/rules1.yaml", utf8, Expect::Ok),
    case("manager/rules2.yaml", utf8, Expect::Ok),
    case("manager/rules2_copy.yaml", utf8, Expect::Ok),
    case("manager/alert_rule.yaml", utf8, Expect::Ok),
    case("manager/alert_rule1.yaml", utf8, Expect::Ok),
    case("manager/rules_multi_doc.yaml", utf8, Expect::Ok),
    case("manager/rules_dependencies.yaml", utf8, Expect::Ok),
    case("manager/rules_multiple_independent.yaml", utf8, Expect::Ok),
    case("manager/rules_multiple.yaml", utf8, Expect::Ok),
    case("manager/rules_indeterminates.yaml", utf8, Expect::Ok),
    case("manager/rules_chain.yaml", utf8, Expect::Ok),
    case(
        "manager/rules_multiple_dependents_on_base.yaml",
        utf8,
        Expect::Ok,
    ),
    case("manager/rules_multiple_groups.yaml", utf8, Expect::Ok),
    // promtool/ (rule files; the unit-test files are another format)
    case("promtool/rules.yml", utf8, Expect::Ok),
    case(
        "promtool/rules-bad.yml",
        utf8,
        Expect::Fail(
            "annotation \"summary\": template: __alert_InstanceDown:1: undefined variable \"$label\"",
        ),
    ),
    case("promtool/prometheus-rules.lint.yml", utf8, Expect::Ok),
    case("promtool/rules_duplicates.yml", utf8, Expect::Ok),
    case(
        "promtool/features.yml",
        utf8,
        Expect::Fail("could not parse expression"),
    ),
    case("promtool/features.yml", experimental, Expect::Ok),
    case(
        "promtool/rules_extrafields.yml",
        utf8,
        Expect::Fail("field namespace not found in type rulefmt.RuleGroup"),
    ),
    case("promtool/rules_extrafields.yml", lenient, Expect::Ok),
    case(
        "promtool/prometheus-config.rules.good.yml",
        utf8,
        Expect::Ok,
    ),
    case("promtool/at-modifier.yml", utf8, Expect::Ok),
    case("promtool/negative-offset.yml", utf8, Expect::Ok),
    case(
        "promtool/bad-rules-syntax.yml",
        utf8,
        Expect::Fail("could not parse expression: 1:7: parse error: unexpected end of input"),
    ),
    case("promtool/bad-rules-error.yml", utf8, Expect::Ok),
];

const fn case(file: &'static str, opts: fn() -> LoadOptions, expect: Expect) -> Case {
    Case { file, opts, expect }
}

#[test]
fn every_rule_fixture_is_accepted_or_rejected_as_upstream_expects() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    let mut failures = Vec::new();
    for c in CASES {
        let got = file::load_file_with(dir.join(c.file), &(c.opts)());
        let ok = match (c.expect, &got) {
            (Expect::Ok, Ok(_)) => true,
            (Expect::Fail(want), Err(errs)) => errs[0].to_string().contains(want),
            _ => false,
        };
        println!(
            "{} {} ({:?})",
            if ok { "pass" } else { "FAIL" },
            c.file,
            c.expect
        );
        if !ok {
            let shown = match got {
                Ok(g) => format!("loaded {} rules", g.rule_count()),
                Err(e) => check::format_errors(&e),
            };
            failures.push(format!("{} expected {:?}, got:\n{shown}", c.file, c.expect));
        }
    }
    println!(
        "{}/{} rule fixtures pass",
        CASES.len() - failures.len(),
        CASES.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_file_in_the_fixture_folders_is_covered() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    for sub in ["rulefmt", "manager"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            assert!(
                CASES.iter().any(|c| c.file == name),
                "{name} has no expectation"
            );
        }
    }
}

fn load(dir: &Path, f: &str) -> RuleGroups {
    file::load_file_with(dir.join(f), &utf8())
        .unwrap_or_else(|e| panic!("{f}: {}", check::format_errors(&e)))
}

#[test]
fn aliases_resolve_to_the_anchored_values() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    let g = load(&dir, "rulefmt/test_aliases.yaml");
    let rules = &g.groups[0].rules;
    let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        ["HighAlert", "new_metric", "HighAlert", "HighAlert2"]
    );
    assert_eq!(
        rules[0].labels,
        vec![("severity".to_owned(), "critical".to_owned())]
    );
    assert_eq!(
        rules[0].annotations,
        vec![(
            "description".to_owned(),
            "stuff's happening with {{ $.labels.service }}".to_owned()
        )]
    );
    assert!(matches!(&rules[1].kind, RuleKind::Recording { record } if record == "new_metric"));
    for r in rules {
        assert_eq!(r.expr, rules[0].expr);
        assert_eq!(r.expr.lines().count(), 3, "{:?}", r.expr);
        assert!(r.expr.ends_with('\n'));
    }
    assert_eq!(rules[3].for_ms, 300_000, "merged from the anchor");
}

#[test]
fn only_the_first_document_is_read() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    let g = load(&dir, "manager/rules_multi_doc.yaml");
    assert_eq!(g.groups.len(), 1);
    assert_eq!(g.groups[0].name, "multi_doc");
}

#[test]
fn rule_counts_and_duplicates_match_promtool() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    for (f, n) in [
        ("promtool/rules.yml", 5),
        ("manager/rules_chain.yaml", 7),
        ("manager/rules_multiple_groups.yaml", 10),
        ("promtool/prometheus-config.rules.good.yml", 0),
    ] {
        assert_eq!(load(&dir, f).rule_count(), n, "{f}");
    }
    let d = file::duplicate_rules(&load(&dir, "promtool/rules_duplicates.yml"));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].metric, "job:test:count_over_time1m");
    assert!(d[0].labels.is_empty());
    let d = file::duplicate_rules(&load(&dir, "promtool/rules.yml"));
    assert!(d.is_empty());
}

#[test]
fn check_rules_reports_like_promtool() {
    let Some(dir) = conformance("rules") else {
        return;
    };
    let run = |files: &[&str], opts: &CheckOptions| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        let code = check::check_rules_files(&paths, opts, &mut out, &mut err);
        let text = |b: Vec<u8>| {
            String::from_utf8(b)
                .unwrap()
                .replace(&format!("{}/", dir.display()), "")
        };
        (code, text(out), text(err))
    };
    let opts = CheckOptions::default().load(utf8());
    let (code, out, err) = run(&["promtool/rules.yml"], &opts);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            0,
            "Checking promtool/rules.yml\n  SUCCESS: 5 rules found\n\n",
            ""
        )
    );
    let (code, out, err) = run(&["promtool/prometheus-rules.lint.yml"], &opts);
    assert_eq!(code, check::EXIT_SUCCESS);
    assert_eq!(out, "Checking promtool/prometheus-rules.lint.yml\n\n");
    assert_eq!(
        err,
        "  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: HighRequestLatency\nLabel(s):\n\tseverity: page\nMight cause inconsistency while recording expressions\n"
    );
    let fatal = opts.clone().lint_fatal(true);
    let (code, ..) = run(&["promtool/prometheus-rules.lint.yml"], &fatal);
    assert_eq!(code, check::EXIT_LINT);
    let (code, out, err) = run(
        &[
            "rulefmt/bad_expr.bad.yaml",
            "manager/rules.yaml",
            "promtool/rules_extrafields.yml",
        ],
        &fatal,
    );
    assert_eq!(code, check::EXIT_FAILURE);
    assert_eq!(
        out,
        "Checking rulefmt/bad_expr.bad.yaml\nChecking manager/rules.yaml\n  SUCCESS: 1 rules found\n\nChecking promtool/rules_extrafields.yml\n"
    );
    assert_eq!(
        err,
        "  FAILED:\n\
         rulefmt/bad_expr.bad.yaml: 5:15: group \"yolo\", rule 1, \"yolo\": could not parse expression: 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector\n  \
         FAILED:\n\
         promtool/rules_extrafields.yml: yaml: unmarshal errors:\n  \
         line 7: field namespace not found in type rulefmt.RuleGroup\n  \
         line 21: field ownership not found in type rulefmt.RuleGroup\n"
    );
}

/// Every `kind: PrometheusRule` manifest under `dir` (top-level kind only: a CRD merely
/// names the kind), with its parsed tree.
fn prometheus_rules(dir: &Path) -> Vec<(PathBuf, String, Node)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.contains("kind: PrometheusRule") {
            continue;
        }
        let Ok(root) = yaml::parse(&text) else {
            continue;
        };
        let Value::Map(entries) = &root.value else {
            continue;
        };
        let is_rule = entries.iter().any(|(k, v)| {
            k.str().is_ok_and(|k| k == "kind") && v.str().is_ok_and(|v| v == "PrometheusRule")
        });
        if is_rule {
            out.push((f, text, root));
        }
    }
    out
}

fn spec(root: &Node) -> &Node {
    let Value::Map(entries) = &root.value else {
        panic!("a manifest is a mapping");
    };
    entries
        .iter()
        .find(|(k, _)| k.str().is_ok_and(|k| k == "spec"))
        .map(|(_, v)| v)
        .expect("a PrometheusRule has a spec")
}

#[test]
fn every_kube_prometheus_rule_group_loads() {
    let Some(dir) = conformance("kube-prometheus") else {
        return;
    };
    let manifests = prometheus_rules(&dir);
    assert_eq!(
        manifests.len(),
        10,
        "INDEX.md lists 10 PrometheusRule objects"
    );
    let (mut groups, mut alerts, mut records) = (0, 0, 0);
    for (f, _, root) in &manifests {
        let g = file::parse_groups_node(spec(root), &utf8())
            .unwrap_or_else(|e| panic!("{}: {}", f.display(), check::format_errors(&e)));
        println!("pass {} ({} rules)", f.display(), g.rule_count());
        if f.components().any(|c| c.as_os_str() == "manifests") {
            groups += g.groups.len();
            for r in g.groups.iter().flat_map(|g| &g.rules) {
                match r.kind {
                    RuleKind::Alerting { .. } => alerts += 1,
                    RuleKind::Recording { .. } => records += 1,
                }
            }
        }
    }
    assert_eq!(
        (groups, alerts, records),
        (38, 139, 95),
        "INDEX.md's counts"
    );
    let plain = load(&dir, "examples/existingrule.yaml");
    assert_eq!(plain.rule_count(), 1);
}

/// Every kube-prometheus group also evaluates: built into groups and run once over a storage
/// holding a few of the series its rules read, every rule is healthy.
#[test]
fn every_kube_prometheus_rule_group_evaluates() {
    use std::sync::Arc;

    use prom_model::{Appendable, Labels, MemoryStorage};
    use prom_rules::expand::TemplateExpander;
    use prom_rules::manager::ManagerOptions;
    use prom_rules::notifier::{Alert, Notifier};
    use prom_rules::rule::Health;

    #[derive(Debug)]
    struct Discard;
    impl Notifier for Discard {
        fn send(&self, _: Vec<Alert>) {}
    }

    let Some(dir) = conformance("kube-prometheus") else {
        return;
    };
    let storage = Arc::new(MemoryStorage::new());
    {
        let mut app = storage.appender();
        for t in (0..=600_000).step_by(30_000) {
            for (job, v) in [
                ("node-exporter", 1.0),
                ("kubelet", 0.0),
                ("prometheus-k8s", 1.0),
            ] {
                let l = Labels::from_pairs(&[
                    ("__name__", "up"),
                    ("job", job),
                    ("namespace", "monitoring"),
                    ("instance", "10.0.0.1:9100"),
                ]);
                app.append(None, &l, t, v).unwrap();
            }
            let l = Labels::from_pairs(&[
                ("__name__", "node_cpu_seconds_total"),
                ("job", "node-exporter"),
                ("instance", "10.0.0.1:9100"),
                ("cpu", "0"),
                ("mode", "idle"),
            ]);
            app.append(None, &l, t, t as f64 / 1000.0).unwrap();
        }
        app.commit().unwrap();
    }
    let engine = Arc::new(prom_promql::Engine::default());
    let opts = ManagerOptions::new(
        engine.clone(),
        storage.clone(),
        storage.clone(),
        Arc::new(Discard),
    )
    .expander(Arc::new(TemplateExpander::new(
        Labels::new(),
        "http://prom",
        engine,
        storage.clone(),
    )));
    let (mut rules, mut active) = (0, 0);
    for (f, _, root) in prometheus_rules(&dir) {
        let parsed = file::parse_groups_node(spec(&root), &utf8()).expect("loads");
        let name = f.display().to_string();
        let groups = prom_rules::load::build_groups(&name, &parsed, 30_000, &utf8())
            .unwrap_or_else(|e| panic!("{name}: {}", check::format_errors(&e)));
        for mut g in groups {
            g.eval(600_000, &opts);
            for r in g.rules() {
                rules += 1;
                if let prom_rules::rule::Rule::Alerting(a) = r {
                    active += a.active_alerts().count();
                }
                assert_eq!(
                    r.status().health,
                    Health::Ok,
                    "{name}: group {}, rule {}: {:?}",
                    g.name(),
                    r.name(),
                    r.status().last_error
                );
            }
        }
    }
    assert!(rules >= 234, "{rules} rules evaluated");
    // The down kubelet target makes the target-down alerts pending: the data reached them.
    assert!(active > 0, "no alert became active");
}

/// The `spec:` of a manifest as a plain rule file: the lines under `spec:`, dedented.
fn spec_as_rule_file(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "spec:" {
            inside = true;
        } else if inside {
            if !line.is_empty() && !line.starts_with("  ") {
                break;
            }
            out.push_str(line.strip_prefix("  ").unwrap_or(line));
            out.push('\n');
        }
    }
    out
}

/// Small files of our own for the interop check: the decoding and validation corners the
/// fixtures do not reach, and the 3.x features.
const EDGE_CASES: &[(&str, &str)] = &[
    ("edge/groups-not-a-list", "groups: 5\n"),
    ("edge/top-level-scalar", "foo\n"),
    ("edge/empty-file", ""),
    (
        "edge/repeated-key",
        "groups:\n- name: a\n  name: b\n  rules: []\n",
    ),
    (
        "edge/rule-not-a-map",
        "groups:\n- name: a\n  rules: [1]\n- 5\n",
    ),
    (
        "edge/bad-duration",
        "groups:\n- name: a\n  interval: 5x\n  rules: []\n",
    ),
    (
        "edge/negative-for",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: '1'\n    for: -5m\n",
    ),
    (
        "edge/compound-durations",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    for: 1h30m5s10ms\n  - alert: b\n    expr: up\n    for: 1w2d\n",
    ),
    (
        "edge/keep-firing-for-alert",
        "groups:\n- name: a\n  rules:\n  - alert: a\n    expr: up\n    keep_firing_for: 5m\n",
    ),
    (
        "edge/binary-label-value",
        "groups:\n- name: a\n  rules:\n  - record: a\n    expr: '1'\n    labels:\n      x: !!binary /w==\n",
    ),
    (
        "edge/recording-annotations",
        "groups:\n- name: a\n  rules:\n  - record: a\n    expr: '1'\n    annotations: {x: y}\n",
    ),
    (
        "edge/empty-names-and-expr",
        "groups:\n- name: ''\n  rules:\n  - record: 'a b'\n    expr: '  '\n",
    ),
    (
        "edge/group-label-metric-name",
        "groups:\n- name: a\n  labels: {__name__: x}\n  rules: []\n",
    ),
    (
        "edge/group-labels",
        "groups:\n- name: a\n  labels: {team: x}\n  rules: []\n",
    ),
    (
        "edge/query-offset",
        "groups:\n- name: a\n  query_offset: 1m\n  rules: []\n",
    ),
    (
        "edge/utf8-record-name",
        "groups:\n- name: a\n  rules:\n  - record: my.metric\n    expr: up\n",
    ),
];

/// Files on which promtool 2.42 and a Prometheus 3 checker must disagree, with why.
const VERSION_DIFFERENCES: &[(&str, &str)] = &[
    (
        "edge/group-labels",
        "group `labels` came after 2.42 (Prometheus 3 has them); 2.42 rejects the field",
    ),
    (
        "edge/query-offset",
        "group `query_offset` came after 2.42 (2.53); 2.42 rejects the field",
    ),
    (
        "edge/utf8-record-name",
        "UTF-8 metric names (my.metric) are valid from Prometheus 3.0; 2.42 checks the legacy charset",
    ),
    (
        "rulefmt/utf-8_lname.good.yaml",
        "UTF-8 label names (ins-tance) are valid from Prometheus 3.0; 2.42 checks the legacy charset",
    ),
    (
        "rulefmt/utf-8_annotation.good.yaml",
        "UTF-8 annotation names are valid from Prometheus 3.0; 2.42 checks the legacy charset",
    ),
];

fn promtool(dir: &Path, file: &Path) -> i32 {
    let out = Command::new("/usr/bin/promtool")
        .args(["check", "rules"])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run /usr/bin/promtool: {e}"));
    out.status.code().unwrap_or(-1)
}

fn ours(file: &Path, opts: LoadOptions) -> i32 {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    check::check_rules_files(
        &[file],
        &CheckOptions::default().load(opts),
        &mut out,
        &mut err,
    )
}

#[test]
fn promtool_and_prom_agree_up_to_documented_version_differences() {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped: set PROM_INTEROP=1 to compare with promtool");
        return;
    }
    assert!(
        Path::new("/usr/bin/promtool").exists(),
        "PROM_INTEROP=1 but /usr/bin/promtool is missing"
    );
    let rules = conformance("rules").expect("the rule fixtures");
    let kube = conformance("kube-prometheus").expect("the kube-prometheus manifests");
    let tmp = tempfile::tempdir().unwrap();
    // Each file once, with the options its expectation uses by default (promtool runs with
    // its defaults: no experimental PromQL, strict fields).
    let mut files: Vec<(String, PathBuf, LoadOptions)> = Vec::new();
    for c in CASES {
        if !files.iter().any(|(n, ..)| n == c.file) {
            files.push((c.file.to_owned(), rules.join(c.file), (c.opts)()));
        }
    }
    for (i, (f, text, root)) in prometheus_rules(&kube).iter().enumerate() {
        let plain = tmp.path().join(format!("kube-{i}.yml"));
        std::fs::write(&plain, spec_as_rule_file(text)).unwrap();
        let from_node = file::parse_groups_node(spec(root), &utf8()).expect("loads");
        let from_file = file::load_file_with(&plain, &utf8()).expect("the plain file loads");
        assert_eq!(
            from_file.rule_count(),
            from_node.rule_count(),
            "{}",
            f.display()
        );
        assert!(from_file.rule_count() > 0, "{}", f.display());
        let name = f.strip_prefix(&kube).unwrap_or(f).display().to_string();
        files.push((name, plain, utf8()));
    }
    for (name, text) in EDGE_CASES {
        let path = tmp.path().join(name.replace('/', "-") + ".yml");
        std::fs::write(&path, text).unwrap();
        files.push((name.to_string(), path, utf8()));
    }
    let (mut same, mut documented, mut unexplained) = (0, 0, Vec::new());
    for (name, path, opts) in files {
        let theirs = promtool(&rules, &path);
        let mine = ours(&path, opts);
        match VERSION_DIFFERENCES.iter().find(|(f, _)| *f == name) {
            Some((_, why)) => {
                assert!(
                    theirs != 0 && mine == 0,
                    "{name}: documented as accepted by 3.x only ({why}), but promtool {theirs}, prom {mine}"
                );
                println!("differs {name}: {why}");
                documented += 1;
            }
            None if (theirs == 0) == (mine == 0) => {
                println!("agree {name} (exit {mine})");
                same += 1;
            }
            None => unexplained.push(format!("{name}: promtool exit {theirs}, prom exit {mine}")),
        }
    }
    println!("{same} agree, {documented} documented 2.x→3.x differences");
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}
