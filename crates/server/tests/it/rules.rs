//! Rules in `prom serve`: rule files from the config evaluated on schedule, recording results
//! queryable, alerts in `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shape, rule
//! files reloaded with the config (a bad one rejected, the old rules kept), alerts delivered to
//! Debian's Alertmanager; `prom check rules` and `prom test rules`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::serve::{Server, Target, http};
use super::support::{PeerServer, free_port, program_present, prom, temp_file};

const RULES: &str = r#"groups:
  - name: demo
    interval: 1s
    rules:
      - record: path:demo_requests:sum
        expr: sum by (path) (demo_requests_total)
      - record: demo:doubled
        expr: path:demo_requests:sum * 2
      - alert: DemoAlwaysFiring
        expr: demo_temperature_celsius > 0
        labels:
          severity: page
        annotations:
          summary: "temperature is {{ $value }} on {{ $labels.job }}"
      - alert: DemoPending
        expr: demo_temperature_celsius > 0
        for: 1h
      - alert: DemoNever
        expr: demo_temperature_celsius < 0
"#;

fn write_config(dir: &Path, target: &str, rules: &str, alerting: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    cluster: test\n\
             rule_files: [rules.yml]\n{alerting}\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    path
}

fn workdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn rule<'a>(groups: &'a Json, name: &str) -> &'a Json {
    groups[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("rule {name} in {groups}"))
}

#[test]
fn rules_are_evaluated_and_reported_like_prometheus() {
    let target = Target::start();
    let work = workdir("prom-rules-");
    let cfg = write_config(work.path(), &target.addr, RULES, "");
    let cfg_arg = format!("--config.file={}", cfg.display());
    let s = Server::start(
        &work.path().join("data"),
        &[&cfg_arg, "--web.enable-lifecycle"],
    );

    // Recording rules write back, in order within one evaluation.
    s.wait_until(Duration::from_secs(20), "recorded series", || {
        s.value("demo:doubled{path=\"/a\"}").is_some()
    });
    let sum = s.value("path:demo_requests:sum{path=\"/a\"}").unwrap();
    assert!(sum >= 1.0);
    assert_eq!(s.query("path:demo_requests:sum").len(), 2);

    // The firing alert, its ALERTS series and the pending one.
    s.wait_until(Duration::from_secs(20), "ALERTS", || {
        s.value("ALERTS{alertname=\"DemoAlwaysFiring\",alertstate=\"firing\"}") == Some(1.0)
    });
    assert_eq!(
        s.value("ALERTS{alertname=\"DemoPending\",alertstate=\"pending\"}"),
        Some(1.0)
    );

    // /api/v1/rules in Prometheus's shape.
    let r = s.get("/api/v1/rules");
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["status"], "success");
    let groups = &j["data"]["groups"];
    assert_eq!(groups.as_array().unwrap().len(), 1);
    let g = &groups[0];
    assert_eq!(g["name"], "demo");
    assert!(g["file"].as_str().unwrap().ends_with("rules.yml"), "{g}");
    assert_eq!(g["interval"], 1.0);
    assert_eq!(g["limit"], 0);
    assert!(g["evaluationTime"].is_number() && g["lastEvaluation"].is_string());
    let rec = rule(groups, "path:demo_requests:sum");
    assert_eq!(rec["type"], "recording");
    assert_eq!(rec["health"], "ok");
    assert_eq!(rec["query"], "sum by (path) (demo_requests_total)");
    let firing = rule(groups, "DemoAlwaysFiring");
    assert_eq!(firing["type"], "alerting");
    assert_eq!(firing["state"], "firing");
    assert_eq!(firing["duration"], 0.0);
    assert_eq!(firing["keepFiringFor"], 0.0);
    assert_eq!(firing["labels"]["severity"], "page");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["labels"]["alertname"], "DemoAlwaysFiring");
    assert_eq!(alert["labels"]["job"], "demo");
    assert_eq!(alert["value"], "2.15e+01");
    assert_eq!(
        alert["annotations"]["summary"],
        "temperature is 21.5 on demo"
    );
    assert!(alert["activeAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rule(groups, "DemoPending")["state"], "pending");
    assert_eq!(rule(groups, "DemoNever")["state"], "inactive");
    assert_eq!(rule(groups, "DemoNever")["alerts"], serde_json::json!([]));

    // Filters: type, rule_name[], exclude_alerts.
    let j = s.get("/api/v1/rules?type=record").json();
    let names: Vec<&str> = j["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["path:demo_requests:sum", "demo:doubled"]);
    let j = s
        .get("/api/v1/rules?type=alert&rule_name[]=DemoPending&exclude_alerts=true")
        .json();
    let rules = j["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].get("alerts").is_none(), "{}", rules[0]);
    assert_eq!(s.get("/api/v1/rules?type=bogus").status, 400);

    // /api/v1/alerts: pending and firing, not inactive.
    let j = s.get("/api/v1/alerts").json();
    let mut names: Vec<&str> = j["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["DemoAlwaysFiring", "DemoPending"]);

    // Self-metrics.
    let m = s.get("/metrics").body;
    assert!(
        m.contains("prometheus_rule_group_last_duration_seconds{"),
        "{m}"
    );
    assert!(m.contains("prometheus_rule_evaluations_total{"));
    assert!(m.contains("prometheus_rule_group_rules{"));

    // A reload that breaks a rule is rejected; the old rules keep running.
    std::fs::write(
        work.path().join("rules.yml"),
        "groups:\n  - name: x\n    rules:\n      - record: bad\n        expr: rate(\n",
    )
    .unwrap();
    let r = http(&s.addr, "POST", "/-/reload", &[], "");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("rules.yml"),
        "the error names the file: {}",
        r.body
    );
    assert_eq!(
        s.get("/api/v1/rules").json()["data"]["groups"][0]["name"],
        "demo"
    );

    // A good reload replaces the groups.
    std::fs::write(
        work.path().join("rules.yml"),
        "groups:\n  - name: other\n    rules:\n      - record: just_one\n        expr: vector(1)\n",
    )
    .unwrap();
    let r = http(&s.addr, "POST", "/-/reload", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let j = s.get("/api/v1/rules").json();
    assert_eq!(j["data"]["groups"][0]["name"], "other");
    s.wait_until(Duration::from_secs(20), "the new rule", || {
        s.value("just_one") == Some(1.0)
    });
}

#[test]
fn a_bad_rule_file_stops_the_start() {
    let work = workdir("prom-rules-bad-");
    let cfg = write_config(
        work.path(),
        "127.0.0.1:1",
        "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n",
        "",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_prom"))
        .args([
            "serve",
            "--web.listen-address=127.0.0.1:0",
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", work.path().join("data").display()),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.yml"), "{err}");
}

#[test]
fn check_rules_reports_like_promtool() {
    let good = temp_file(
        "check-good.rules.yml",
        b"groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: sum(up)\n      - alert: A\n        expr: up == 0\n",
    );
    let out = prom(&["check", "rules", good.to_str().unwrap()], b"");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("SUCCESS: 2 rules found"), "{out:?}");
    let bad = temp_file(
        "check-bad.rules.yml",
        b"groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: sum(up\n",
    );
    let out = prom(&["check", "rules", bad.to_str().unwrap()], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("FAILED") || out.stderr.contains("FAILED"),
        "{out:?}"
    );
}

#[test]
fn test_rules_runs_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/testdata/unit");
    let out = prom(
        &["test", "rules", dir.join("tests.yml").to_str().unwrap()],
        b"",
    );
    // The file holds cases written to fail.
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("a wrong label (fails)"), "{out:?}");
    assert!(!out.stdout.contains("many template functions"), "{out:?}");
}

#[test]
fn alertmanager_receives_the_alerts_prom_fires() {
    if !program_present("prometheus-alertmanager") || !program_present("amtool") {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "PROM_INTEROP=1 but prometheus-alertmanager cannot be run; install the Debian \
             package `prometheus-alertmanager`"
        );
        println!("skipped: prometheus-alertmanager not found");
        return;
    }
    let work = workdir("prom-rules-am-");
    let am_cfg = work.path().join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let am_addr = format!("127.0.0.1:{port}");
    let child = Command::new("prometheus-alertmanager")
        .args([
            &format!("--config.file={}", am_cfg.display()),
            &format!("--storage.path={}", work.path().join("am").display()),
            &format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let _am = PeerServer {
        child,
        addr: am_addr.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&am_addr).is_err() {
        assert!(Instant::now() < deadline, "alertmanager did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let target = Target::start();
    let alerting = format!(
        "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{am_addr}\"]\n"
    );
    let cfg = write_config(work.path(), &target.addr, RULES, &alerting);
    let cfg_arg = format!("--config.file={}", cfg.display());
    let s = Server::start(
        &work.path().join("data"),
        &[&cfg_arg, "--web.external-url=http://prom.example:9090/"],
    );

    // Alertmanager's own API shows the firing alert with prom's labels and annotations.
    let mut got = Json::Null;
    s.wait_until(Duration::from_secs(30), "the alert in Alertmanager", || {
        let r = http(&am_addr, "GET", "/api/v2/alerts", &[], "");
        got = serde_json::from_str(&r.body).unwrap_or(Json::Null);
        got.as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["labels"]["alertname"] == "DemoAlwaysFiring")
        })
    });
    let alert = got
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["labels"]["alertname"] == "DemoAlwaysFiring")
        .unwrap();
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(
        alert["labels"]["cluster"], "test",
        "external labels are added"
    );
    assert_eq!(
        alert["annotations"]["summary"],
        "temperature is 21.5 on demo"
    );
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://prom.example:9090/graph?g0.expr="),
        "{alert}"
    );
    let j = s.get("/api/v1/alertmanagers").json();
    assert_eq!(
        j["data"]["activeAlertmanagers"][0]["url"],
        format!("http://{am_addr}/api/v2/alerts")
    );
    // Pending alerts are not sent.
    assert!(
        !got.as_array()
            .unwrap()
            .iter()
            .any(|x| x["labels"]["alertname"] == "DemoPending")
    );

    // amtool, Alertmanager's own client, sees it too.
    let out = Command::new("amtool")
        .args([
            "alert",
            "query",
            "alertname=DemoAlwaysFiring",
            &format!("--alertmanager.url=http://{am_addr}"),
        ])
        .output()
        .expect("run amtool");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("DemoAlwaysFiring"), "{text}");

    // prom counts what it sent.
    let m = s.get("/metrics").body;
    assert!(
        m.lines()
            .any(|l| l.starts_with("prometheus_notifications_sent_total{") && !l.ends_with(" 0")),
        "{m}"
    );
}
