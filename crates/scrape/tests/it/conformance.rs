//! Prometheus's configuration fixtures (../shared/conformance/config), read in place: every
//! good file must load and every bad file must be rejected, with the reason Prometheus gives.

use std::path::{Path, PathBuf};

use prom_scrape::config::{Config, LoadOptions};

fn root() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/config");
    p.exists().then_some(p)
}

/// `(file, expected)` rows of the index's tables under the heading that starts with `heading`.
fn table(index: &str, heading: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in index.lines() {
        if line.starts_with("## ") {
            inside = line.starts_with(heading);
            continue;
        }
        if !inside || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        if cells.len() < 2 {
            continue;
        }
        let file = cells[0].trim().trim_matches('`').to_owned();
        rows.push((file, cells[1].trim().to_owned()));
    }
    rows
}

/// The expected substrings of a cell: every backquoted part for "all of:", otherwise the
/// longest one (the others name files or settings).
fn expected(cell: &str, dir: &Path) -> Vec<String> {
    let cell = cell.replace("``", "`");
    let parts: Vec<String> = cell
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.replace("testdata/", &format!("{}/", dir.display())))
        .collect();
    if cell.contains("all of:") {
        return parts;
    }
    parts
        .into_iter()
        .max_by_key(|s| s.len())
        .into_iter()
        .collect()
}

fn load(dir: &Path, file: &str) -> Result<Config, String> {
    let agent = file.starts_with("agent_mode");
    Config::load_file(dir.join(file), LoadOptions { agent }).map_err(|e| e.to_string())
}

#[test]
fn good_files_load_and_bad_files_fail_with_the_reason() {
    let Some(root) = root() else {
        println!("skipped: ../shared/conformance/config not found");
        return;
    };
    let index = std::fs::read_to_string(root.join("INDEX.md")).unwrap();
    let dir = root.join("prometheus");
    let mut failures = Vec::new();
    let mut worded_differently = Vec::new();
    let bad = table(&index, "## prometheus/ — files that must FAIL");
    let good = table(&index, "## prometheus/ — files that must LOAD");
    assert!(bad.len() > 100 && good.len() > 50, "index tables not found");
    for (file, cell) in &bad {
        if file == "scrape_config_files.bad.yml" || file == "static_config.bad.yml" {
            continue; // helpers, not whole configs (see the index)
        }
        match load(&dir, file) {
            Ok(_) => failures.push(format!("{file}: accepted, expected {cell}")),
            Err(msg) => {
                let want = expected(cell, &dir);
                if !want.is_empty() && !want.iter().all(|w| msg.contains(w.as_str())) {
                    worded_differently
                        .push(format!("{file}: got {msg:?}, Prometheus says {want:?}"));
                }
            }
        }
    }
    for (file, _) in &good {
        if file.contains("windows") {
            continue;
        }
        if let Err(e) = load(&dir, file) {
            failures.push(format!("{file}: rejected: {e}"));
        }
    }
    println!("{} bad files, {} good files", bad.len(), good.len());
    for w in &worded_differently {
        println!("worded differently: {w}");
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} conformance failures",
        failures.len()
    );
    assert!(
        worded_differently.is_empty(),
        "{} rejections not worded as Prometheus words them",
        worded_differently.len()
    );
}

/// What upstream asserts about some good files, beyond loading.
#[test]
fn good_files_load_with_the_documented_values() {
    use prom_scrape::config::{ByteSize, Duration, ScrapeProtocol};
    let Some(root) = root() else { return };
    let dir = root.join("prometheus");
    let get = |f: &str| load(&dir, f).unwrap();

    let no_env = |_: &str| None;
    let text = std::fs::read_to_string(dir.join("external_labels.good.yml")).unwrap();
    let c = Config::load_str(&text, &dir, LoadOptions::default(), &no_env).unwrap();
    let want: Vec<(String, String)> = [
        ("bar", "foo"),
        ("baz", "foobar"),
        ("qux", "foo${TEST}"),
        ("xyz", "foo$bar"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // `foo: ${TEST}` expands to "", which drops the label.
    let got: Vec<_> = c
        .global
        .external_labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    assert_eq!(got, want);
    let env = |k: &str| (k == "TEST").then(|| "TestValue".to_owned());
    let c = Config::load_str(&text, &dir, LoadOptions::default(), &env).unwrap();
    let get_l = |k: &str| {
        c.global
            .external_labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get_l("baz").as_deref(), Some("fooTestValuebar"));
    assert_eq!(get_l("foo").as_deref(), Some("TestValue"));
    assert_eq!(get_l("qux").as_deref(), Some("foo${TEST}"));

    for j in &get("scrape_interval_larger.good.yml").scrape_configs {
        assert!(j.scrape_interval >= j.scrape_timeout, "{}", j.job_name);
    }
    let c = get("scrape_config_files_glob.good.yml");
    let mut jobs: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    jobs.sort();
    assert_eq!(jobs, ["node", "prometheus"]);
    let c = get("scrape_config_files_combined.good.yml");
    assert_eq!(c.scrape_configs.len(), 3);

    let v = |f: &str| {
        let c = get(f);
        let j = &c.scrape_configs[0];
        (
            j.metric_name_validation_scheme.clone(),
            j.metric_name_escaping_scheme.clone(),
        )
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        v("scrape_config_default_validation_mode.yml"),
        pair("utf8", "allow-utf-8")
    );
    assert_eq!(
        v("scrape_config_global_validation_mode.yml"),
        pair("legacy", "dots")
    );
    assert_eq!(
        v("scrape_config_local_global_validation_mode.yml"),
        pair("utf8", "dots")
    );
    assert_eq!(
        v("scrape_config_local_infer_escaping.yml"),
        pair("legacy", "underscores")
    );
    assert_eq!(
        v("scrape_config_local_validation_mode.yml"),
        pair("legacy", "values")
    );

    let c = get("rules_abs_path.good.yml");
    assert_eq!(c.rule_files[0], dir.join("first.rules").to_string_lossy());
    assert_eq!(
        c.rule_files[1],
        dir.join("rules/second.rules").to_string_lossy()
    );
    assert_eq!(c.rule_files[2], "/absolute/third.rules");

    let c = get("tsdb_retention_percentage_float.good.yml");
    assert_eq!(c.storage.retention_percentage, Some(0.5));
    assert_eq!(
        get("tsdb_chunk_encoding_floats_xor2.good.yml")
            .storage
            .chunk_encoding_floats,
        "xor2"
    );
    let c = get("conf.good.yml");
    assert_eq!(c.global.limits.body_size_limit, ByteSize(15 << 20));
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    let c = get("global_enable_scrape_native_hist_and_scrape_protocols.good.yml");
    assert_eq!(
        c.scrape_configs[0].scrape_protocols,
        vec![ScrapeProtocol::PrometheusText0_0_4]
    );
    let c = get("global_enable_scrape_native_hist.good.yml");
    assert_eq!(
        c.scrape_configs[0].scrape_protocols[0],
        ScrapeProtocol::PrometheusProto
    );
    let c = get("remote_write_retry_on_rate_limit.good.yml");
    assert!(c.remote_write[0].queue.retry_on_http_429);
    assert!(!c.remote_write[1].queue.retry_on_http_429);
    assert_eq!(
        get("agent_mode.good.yml").remote_write[0].url,
        "http://remote1/push"
    );
}

/// The file_sd fixtures: valid files give their groups, `null` groups are rejected.
#[test]
fn file_sd_fixtures_decode_as_documented() {
    use prom_scrape::sd_file::read_sd_file;
    let Some(root) = root() else { return };
    let dir = root.join("sd/file_sd");
    for f in ["valid.yml", "valid.json", "valid3.yml"] {
        let path = dir.join(f);
        let g = read_sd_file(&path).unwrap();
        assert_eq!(g.len(), 2, "{f}");
        assert_eq!(g[0].targets, ["localhost:9090", "example.org:443"], "{f}");
        assert!(g[0].labels.contains(&("foo".into(), "bar".into())), "{f}");
        assert_eq!(g[1].targets, ["my.domain"], "{f}");
        for (i, grp) in g.iter().enumerate() {
            assert_eq!(grp.source, format!("{}:{i}", path.display()));
            assert!(grp.labels.contains(&(
                "__meta_filepath".into(),
                path.to_string_lossy().into_owned()
            )));
        }
    }
    let g = read_sd_file(&dir.join("valid2.yml")).unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].targets, ["my.domain"]);
    assert!(g[1].labels.contains(&("fred".into(), "baz".into())));
    assert!(g[2].labels.contains(&("scheme".into(), "https".into())));
    for f in ["invalid_nil.yml", "invalid_nil.json"] {
        assert!(read_sd_file(&dir.join(f)).is_err(), "{f}");
    }
    let promtool = root.join("promtool");
    for f in ["good-sd-file.yml", "good-sd-file.yaml", "good-sd-file.json"] {
        read_sd_file(&promtool.join(f)).unwrap();
    }
    assert_eq!(
        read_sd_file(&promtool.join("bad-sd-file-extension.nonexistent")).unwrap_err(),
        "invalid file extension: \".nonexistent\""
    );
    assert!(
        read_sd_file(&promtool.join("bad-sd-file-format.yml"))
            .unwrap_err()
            .contains("field targats not found")
    );
}
