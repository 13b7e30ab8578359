//! `prom check config` over Prometheus's configuration fixtures (../shared/conformance/config,
//! read in place), and side by side with promtool under `PROM_INTEROP=1`.

use std::path::{Path, PathBuf};

use crate::support::{prom, run};

fn config_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/config");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap_or(dir))
    } else {
        println!("skipped: {} is absent", dir.display());
        None
    }
}

/// Runs a program in `dir`.
fn run_in(dir: &Path, program: &str, args: &[&str]) -> crate::support::Output {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).current_dir(dir);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    crate::support::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const PROM: &str = env!("CARGO_BIN_EXE_prom");

#[test]
fn promtool_fixtures_get_promtools_verdicts_and_messages() {
    let Some(dir) = config_dir() else { return };
    // (file, --syntax-only exit, full exit, text the full check's output must contain)
    let cases: &[(&str, i32, i32, &str)] = &[
        (
            "prometheus-config.good.yml",
            0,
            0,
            "SUCCESS: promtool/prometheus-config.good.yml is valid prometheus config file syntax",
        ),
        ("prometheus-aws-sd-empty-region.good.yml", 0, 0, "SUCCESS"),
        (
            "prometheus-config.bad.yml",
            1,
            1,
            "line 1: field not-prometheus not found in type config.plain",
        ),
        (
            "prometheus-config.lint.yml",
            0,
            0,
            "SUCCESS: 1 rule files found",
        ),
        (
            "url_in_scrape_targetgroup_with_relabel_config.good.yml",
            0,
            0,
            "SUCCESS",
        ),
        (
            "url_in_alert_targetgroup_with_relabel_config.good.yml",
            0,
            0,
            "SUCCESS",
        ),
        (
            "url_in_scrape_targetgroup_with_relabel_config.bad.yml",
            0,
            1,
            "  FAILED: instance 0 in group 0: \"http://bad\" is not a valid hostname\n",
        ),
        (
            "url_in_alert_targetgroup_with_relabel_config.bad.yml",
            0,
            1,
            "  FAILED: \"http://bad\" is not a valid hostname\n",
        ),
        ("authorization_credentials_file.good.yml", 0, 0, "SUCCESS"),
        (
            "authorization_credentials_file.bad.yml",
            0,
            1,
            "error checking authorization credentials or bearer token file \"/random/file/which/does/not/exist.yml\": stat /random/file/which/does/not/exist.yml: no such file or directory",
        ),
        (
            "config_with_rule_files.yml",
            0,
            1,
            "\"promtool/non-existent-file.yml\" does not point to an existing file",
        ),
        ("config_with_service_discovery_files.yml", 0, 0, "SUCCESS"),
        (
            "config_with_tls_files.yml",
            0,
            1,
            "error checking client cert file \"promtool/nonexistent_cert_file.yml\": stat promtool/nonexistent_cert_file.yml: no such file or directory",
        ),
    ];
    for &(file, syntax_exit, full_exit, text) in cases {
        let path = format!("promtool/{file}");
        let out = run_in(&dir, PROM, &["check", "config", "--syntax-only", &path]);
        assert_eq!(out.code, syntax_exit, "--syntax-only {file}: {out:?}");
        let out = run_in(&dir, PROM, &["check", "config", &path]);
        assert_eq!(out.code, full_exit, "{file}: {out:?}");
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(text), "{file}: expected {text:?} in {all:?}");
    }
}

#[test]
fn check_config_reports_file_line_and_reason_and_checks_every_file() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-config");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yml");
    let bad = dir.join("bad.yml");
    std::fs::write(
        &good,
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n",
    )
    .unwrap();
    std::fs::write(&bad, "global:\n  scrape_interval: 1m\nscrape_configs:\n  - job_name: a\n    scrape_timeout: 2m\n").unwrap();
    let out = prom(
        &[
            "check",
            "config",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!(" SUCCESS: {} is valid", good.display())),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&format!(
            "  FAILED: parsing YAML file {}: scrape timeout greater than scrape interval for scrape config with job name \"a\" (line 4, scrape_configs[0])",
            bad.display()
        )),
        "{out:?}"
    );
    let out = prom(&["check", "config", good.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
}

/// The fixtures' index: files Prometheus 3 must reject.
fn must_fail(dir: &Path) -> Vec<String> {
    let index = std::fs::read_to_string(dir.join("INDEX.md")).unwrap();
    let mut inside = false;
    let mut out = Vec::new();
    for line in index.lines() {
        if line.starts_with("## ") {
            inside = line.starts_with("## prometheus/ — files that must FAIL");
            continue;
        }
        if inside && line.starts_with("| `") {
            out.push(line.split('`').nth(1).unwrap_or("").to_owned());
        }
    }
    out
}

/// Debian's promtool 2.42 and `prom check config` on every fixture: the same verdict, or a
/// difference that is one of the two explained kinds (see docs/scrape.md):
/// - promtool rejects a setting it does not know (`field X not found in type`): newer than
///   2.42, or left out of Debian's build (e.g. the Kubernetes and Consul discoveries);
/// - promtool accepts a file that Prometheus 3 rejects (listed as must-fail in the index): a
///   validation added after 2.42.
#[test]
fn promtool_and_prom_agree_on_every_fixture_up_to_explained_version_differences() {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped: set PROM_INTEROP=1 to compare with promtool");
        return;
    }
    let Some(dir) = config_dir() else {
        panic!("PROM_INTEROP=1 but ../shared/conformance/config is absent");
    };
    let probe = run("promtool", &["--version"], b"");
    assert_eq!(
        probe.code, 0,
        "PROM_INTEROP=1 but promtool cannot be run: {probe:?}"
    );
    let must_fail = must_fail(&dir);
    let (mut same, mut newer_setting, mut newer_check, mut unexplained) = (0, 0, 0, Vec::new());
    for sub in ["prometheus", "promtool"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yml") && !n.contains("windows"))
            .collect();
        files.sort();
        for f in files {
            let here = dir.join(sub);
            let theirs = run_in(&here, "promtool", &["check", "config", &f]);
            let ours = run_in(&here, PROM, &["check", "config", &f]);
            let (t, o) = (theirs.code == 0, ours.code == 0);
            if t == o {
                same += 1;
            } else if !t && theirs.stderr.contains("not found in type") {
                newer_setting += 1;
            } else if !t && f == "prometheus-aws-sd-empty-region.good.yml" {
                // 2.42 required `region` on EC2 discovery; Prometheus 3 looks it up lazily.
                assert!(
                    theirs
                        .stderr
                        .contains("EC2 SD configuration requires a region")
                );
                newer_setting += 1;
            } else if t && sub == "prometheus" && must_fail.contains(&f) {
                newer_check += 1;
            } else {
                unexplained.push(format!(
                    "{sub}/{f}: promtool exit {} {:?}, prom exit {} {:?}",
                    theirs.code, theirs.stderr, ours.code, ours.stderr
                ));
            }
        }
    }
    println!(
        "{same} same verdicts, {newer_setting} settings newer than promtool 2.42, {newer_check} checks added after 2.42, {} unexplained",
        unexplained.len()
    );
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    assert!(same > 150, "too few files compared: {same}");
}

#[test]
fn service_discovery_shows_labels_before_and_after_relabeling() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-sd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("more.yml"),
        "- targets: ['f:1']\n  labels: {team: x}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.yml"),
        "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['s:1', 'b:2']\n        labels: {env: prod}\n    file_sd_configs:\n      - files: ['more.yml']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'b:2'\n        action: drop\n",
    )
    .unwrap();
    let out = run_in(&dir, PROM, &["check", "service-discovery", "p.yml", "j"]);
    assert_eq!(out.code, 0, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 3, "{v:#}");
    assert_eq!(list[0]["labels"]["instance"], "s:1");
    assert_eq!(list[0]["discoveredLabels"]["env"], "prod");
    assert_eq!(list[1]["labels"], serde_json::json!({}), "dropped");
    assert_eq!(list[1]["discoveredLabels"]["__address__"], "b:2");
    assert_eq!(list[2]["labels"]["team"], "x");
    assert_eq!(list[2]["discoveredLabels"]["__meta_filepath"], "more.yml");
    assert!(list[2]["labels"].get("__meta_filepath").is_none());

    let out = run_in(&dir, PROM, &["check", "service-discovery", "p.yml", "nope"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Job \"nope\" not found"), "{out:?}");

    if std::env::var("PROM_INTEROP").as_deref() == Ok("1") {
        // promtool 2.42's file discovery panics when stopped, so compare a static job.
        std::fs::write(
            dir.join("s.yml"),
            "scrape_configs:\n  - job_name: j\n    scrape_interval: 30s\n    params: {module: [m]}\n    static_configs:\n      - targets: ['s:1', 'b:2']\n        labels: {env: prod}\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'b:2'\n        action: drop\n      - source_labels: [env]\n        target_label: stage\n",
        )
        .unwrap();
        let theirs = run_in(
            &dir,
            "promtool",
            &["check", "service-discovery", "--timeout=2s", "s.yml", "j"],
        );
        let ours = run_in(&dir, PROM, &["check", "service-discovery", "s.yml", "j"]);
        assert_eq!(theirs.code, 0, "{theirs:?}");
        let t: serde_json::Value = serde_json::from_str(&theirs.stdout).unwrap();
        let o: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
        assert_eq!(o, t);
    }
}

/// Every relabeling action, side by side with promtool 2.42's `check service-discovery`: the
/// same labels before and after relabeling for every target (PROM_INTEROP=1).
#[test]
fn relabeling_matches_promtool_action_by_action() {
    if std::env::var("PROM_INTEROP").as_deref() != Ok("1") {
        println!("skipped: set PROM_INTEROP=1 to compare with promtool");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("relabel-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = [
        (
            "replace",
            "- source_labels: [__address__, env]\n  separator: '|'\n  regex: '([^:]+):(\\d+)\\|(.*)'\n  target_label: hp\n  replacement: '${1}-$2-${3}x'",
        ),
        (
            "replace_default",
            "- source_labels: [env]\n  target_label: copied",
        ),
        (
            "replace_named_target",
            "- source_labels: [env]\n  regex: '(?P<n>p.*)'\n  target_label: 'env_${n}'\n  replacement: yes",
        ),
        (
            "replace_empty_deletes",
            "- source_labels: [missing]\n  target_label: env",
        ),
        (
            "keep",
            "- source_labels: [env]\n  regex: prod|stage\n  action: keep",
        ),
        (
            "drop",
            "- source_labels: [__address__]\n  regex: 'b.*'\n  action: drop",
        ),
        (
            "keepequal",
            "- source_labels: [env]\n  target_label: mirror\n  action: keepequal",
        ),
        (
            "dropequal",
            "- source_labels: [env]\n  target_label: mirror\n  action: dropequal",
        ),
        (
            "hashmod",
            "- source_labels: [__address__]\n  modulus: 7\n  target_label: shard\n  action: hashmod",
        ),
        (
            "labelmap",
            "- regex: '__meta_(.+)'\n  replacement: 'm_$1'\n  action: labelmap",
        ),
        ("labeldrop", "- regex: 'mirror|team'\n  action: labeldrop"),
        ("labelkeep", "- regex: '__.*|job|env'\n  action: labelkeep"),
        (
            "lowercase",
            "- source_labels: [Team]\n  target_label: lower\n  action: lowercase",
        ),
        (
            "uppercase",
            "- source_labels: [env, Team]\n  target_label: UP\n  action: uppercase",
        ),
        (
            "chain",
            "- source_labels: [__address__]\n  target_label: __param_target\n- source_labels: [__param_target]\n  target_label: instance\n- target_label: __address__\n  replacement: exporter:9115\n- source_labels: [__scrape_interval__]\n  target_label: iv",
        ),
    ];
    let groups = "      - targets: ['a:1', 'b:2', 'c:3']\n        labels: {env: prod, mirror: prod, team: Core, Team: MiXed, __meta_zone: eu-1}\n      - targets: ['d:4']\n        labels: {env: dev, mirror: prod, Team: x}\n";
    let mut compared = 0;
    for (name, rule) in rules {
        let indented: String = rule.lines().map(|l| format!("      {l}\n")).collect();
        let cfg = format!(
            "scrape_configs:\n  - job_name: {name}\n    scrape_interval: 30s\n    relabel_configs:\n{indented}    static_configs:\n{groups}"
        );
        let file = format!("{name}.yml");
        std::fs::write(dir.join(&file), cfg).unwrap();
        let theirs = run_in(
            &dir,
            "promtool",
            &["check", "service-discovery", "--timeout=2s", &file, name],
        );
        let ours = run_in(&dir, PROM, &["check", "service-discovery", &file, name]);
        assert_eq!(theirs.code, 0, "{name}: promtool {theirs:?}");
        assert_eq!(ours.code, 0, "{name}: prom {ours:?}");
        let t: serde_json::Value = serde_json::from_str(&theirs.stdout).unwrap();
        let o: serde_json::Value = serde_json::from_str(&ours.stdout).unwrap();
        // Only the labels after relabeling: promtool 2.42 prints `discoveredLabels` after
        // relabeling has partly overwritten them (they share memory with the builder in that
        // release), so that half of its output is not a reference.
        let after = |v: &serde_json::Value| -> Vec<serde_json::Value> {
            let mut l: Vec<serde_json::Value> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["labels"].clone())
                .collect();
            // Discovery groups come in no particular order from promtool.
            l.sort_by_key(|x| x.to_string());
            l
        };
        assert_eq!(
            after(&o),
            after(&t),
            "{name}: prom (left) and promtool (right) differ"
        );
        compared += t.as_array().unwrap().len();
    }
    println!("{compared} targets relabeled identically by promtool and prom");
}
