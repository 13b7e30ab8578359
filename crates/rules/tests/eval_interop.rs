//! Rule evaluation next to a real Prometheus (with `PROM_INTEROP=1`): the same group gets the
//! same evaluation slots, the same `ALERTS`/`ALERTS_FOR_STATE` label sets, and the
//! `/api/v1/rules` objects have the same fields.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prom_model::{Label, Labels, MemoryStorage};
use prom_promql::Engine;
use prom_rules::alerting::AlertingRule;
use prom_rules::clock::ManualClock;
use prom_rules::group::Group;
use prom_rules::manager::{Manager, ManagerOptions};
use prom_rules::notifier::{Alert, Notifier};
use prom_rules::recording::RecordingRule;
use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";

fn interop_enabled(test: &str) -> bool {
    if std::env::var("PROM_INTEROP").as_deref() == Ok("1") {
        assert!(
            std::path::Path::new(PROMETHEUS).exists(),
            "PROM_INTEROP=1 but {PROMETHEUS} is missing"
        );
        true
    } else {
        println!("skipped {test}: set PROM_INTEROP=1 to run it against {PROMETHEUS}");
        false
    }
}

/// Kills the peer when the test ends, however it ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// GETs `path` from 127.0.0.1:`port` and parses the JSON body; `None` if the server is not
/// answering (yet).
fn get_json(port: u16, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

fn query(port: u16, q: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", prom_rules::rule::query_escape(q));
    let v = get_json(port, &path).unwrap_or_else(|| panic!("query {q} failed"));
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn metric_labels(v: &Value) -> Labels {
    let pairs: Vec<(String, String)> = v["metric"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Labels::from_pairs(&refs)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

struct Discard;

impl Notifier for Discard {
    fn send(&self, _: Vec<Alert>) {}
}

const RULES: &str = r#"groups:
  - name: interop
    interval: 1s
    rules:
      - record: one
        expr: vector(1)
      - alert: Always
        expr: one > 0
        labels:
          severity: page
        annotations:
          summary: always
"#;

/// Our version of the group in `RULES`, from file `file`.
fn our_group(file: &str) -> Group {
    Group::new(
        "interop",
        file,
        1000,
        vec![
            RecordingRule::new("one", prom_promql::parse("vector(1)").unwrap(), vec![]).into(),
            AlertingRule::new(
                "Always",
                prom_promql::parse("one > 0").unwrap(),
                0,
                0,
                vec![Label::new("severity", "page")],
                vec![Label::new("summary", "always")],
            )
            .into(),
        ],
    )
}

#[test]
fn same_slots_series_and_api_fields_as_prometheus() {
    if !interop_enabled("same_slots_series_and_api_fields_as_prometheus") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, RULES).expect("write rules");
    let rules_file = rules_path.to_str().expect("utf-8 path").to_owned();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  evaluation_interval: 1s\nrule_files:\n  - {rules_file}\n"),
    )
    .expect("write config");
    let port = free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _peer = Peer(child);

    // Wait until the group has run a few times (ALERTS appears after the restore cycle).
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts = loop {
        if Instant::now() > deadline {
            panic!("prometheus wrote no ALERTS within 30s");
        }
        std::thread::sleep(Duration::from_millis(500));
        if get_json(port, "/api/v1/status/buildinfo").is_none() {
            continue;
        }
        let a = query(port, "ALERTS");
        if !a.is_empty() {
            break a;
        }
    };

    // Evaluation slots: every sample of `one` sits on one of our slots for this group.
    let ours = our_group(&rules_file);
    let samples = get_json(
        port,
        &format!(
            "/api/v1/query?query={}",
            prom_rules::rule::query_escape("one[1m]")
        ),
    )
    .expect("range query");
    let values = samples["data"]["result"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(values.len() >= 2, "{samples}");
    for v in &values {
        let secs = v[0].as_f64().expect("timestamp");
        let ms = (secs * 1000.0).round() as i64;
        assert_eq!(
            ours.eval_timestamp(ms),
            ms,
            "prometheus evaluated at {ms}, not one of our slots"
        );
    }

    // The same ALERTS and ALERTS_FOR_STATE label sets as ours.
    let db = Arc::new(MemoryStorage::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let m = Manager::new(
        ManagerOptions::new(
            Arc::new(Engine::default()),
            db.clone(),
            db.clone(),
            Arc::new(Discard),
        )
        .clock(clock.clone()),
    );
    m.update(vec![our_group(&rules_file)]).unwrap();
    for _ in 0..3 {
        clock.set(m.next_due().unwrap());
        m.run_pending();
    }
    let ours_series: BTreeSet<Labels> = db
        .series()
        .into_iter()
        .map(|(l, _)| l)
        .filter(|l| matches!(l.metric_name(), Some("ALERTS" | "ALERTS_FOR_STATE")))
        .collect();
    let mut theirs: BTreeSet<Labels> = alerts.iter().map(metric_labels).collect();
    theirs.extend(query(port, "ALERTS_FOR_STATE").iter().map(metric_labels));
    assert_eq!(ours_series, theirs);

    // /api/v1/rules: the same fields on groups, rules and alerts.
    let api = get_json(port, "/api/v1/rules").expect("rules API");
    let their_group = &api["data"]["groups"][0];
    let our_group_json = m.groups()[0].to_json();
    assert_eq!(keys(&our_group_json), keys(their_group));
    for i in 0..2 {
        let (a, b) = (&our_group_json["rules"][i], &their_group["rules"][i]);
        assert_eq!(keys(a), keys(b), "rule {i}: ours {a} theirs {b}");
        assert_eq!(a["query"], b["query"]);
        assert_eq!(a["type"], b["type"]);
        assert_eq!(a["health"], b["health"]);
    }
    let (a, b) = (
        &our_group_json["rules"][1]["alerts"][0],
        &their_group["rules"][1]["alerts"][0],
    );
    assert_eq!(keys(a), keys(b), "alert: ours {a} theirs {b}");
    assert_eq!(a["value"], b["value"]);
    assert_eq!(a["labels"], b["labels"]);
}
