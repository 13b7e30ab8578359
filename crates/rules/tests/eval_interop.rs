//! Rule evaluation next to a real Prometheus (with `PROM_INTEROP=1`): the same group gets the
//! same evaluation slots, the same `ALERTS`/`ALERTS_FOR_STATE` label sets, and the
//! `/api/v1/rules` objects have the same fields.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prom_model::{Appendable, Label, Labels, MemoryStorage};
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

/// Milliseconds since the epoch of an RFC 3339 UTC time as Prometheus prints it.
fn parse_rfc3339_ms(s: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| -> i64 { s[r].parse().expect("a number in the time") };
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, sec) = (num(11..13), num(14..16), num(17..19));
    let frac = s[19..].trim_end_matches('Z').trim_start_matches('.');
    let ms = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")[..3].parse::<i64>().expect("fraction")
    };
    // Days from the civil date (proleptic Gregorian).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms
}

fn start_prometheus(dir: &std::path::Path, config: &std::path::Path, port: u16) -> Peer {
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--rules.alert.for-grace-period=1s")
        .arg("--rules.alert.for-outage-tolerance=1h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Peer(child)
}

/// Waits until `ALERTS` has a sample after `after_ms`, which Prometheus writes only once
/// `for` state has been restored.
fn wait_for_alerts_series(port: u16, after_ms: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "prometheus wrote no ALERTS within 30s"
        );
        std::thread::sleep(Duration::from_millis(300));
        if get_json(port, "/api/v1/status/buildinfo").is_none() {
            continue;
        }
        let written = query(port, "timestamp(ALERTS)").iter().any(|v| {
            v["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|secs| (secs * 1000.0) as i64 > after_ms)
        });
        if written {
            return;
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

const RESTORE_RULES: &str = r#"groups:
  - name: restore
    interval: 1s
    rules:
      - record: one
        expr: vector(1)
      - alert: Slow
        expr: one > 0
        for: 10m
"#;

#[test]
fn for_state_is_restored_as_prometheus_restores_it() {
    if !interop_enabled("for_state_is_restored_as_prometheus_restores_it") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, RESTORE_RULES).expect("write rules");
    let rules_file = rules_path.to_str().expect("utf-8 path").to_owned();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  evaluation_interval: 1s\nrule_files:\n  - {rules_file}\n"),
    )
    .expect("write config");

    // First run: the alert goes pending; stop it gracefully a little later.
    let port = free_port();
    let mut peer = start_prometheus(dir.path(), &config, port);
    wait_for_alerts_series(port, 0);
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(peer.0.id().to_string())
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    peer.0.wait().expect("prometheus exits");
    drop(peer);
    let stopped = now_ms();
    std::thread::sleep(Duration::from_secs(3));

    // Second run: it restores the pending time after its second evaluation.
    let port = free_port();
    let _peer = start_prometheus(dir.path(), &config, port);
    wait_for_alerts_series(port, stopped);
    let alerts = get_json(port, "/api/v1/alerts").expect("alerts API");
    let their_active_at = parse_rfc3339_ms(
        alerts["data"]["alerts"][0]["activeAt"]
            .as_str()
            .expect("activeAt"),
    );
    // What the first run left in ALERTS_FOR_STATE, and the second run's first evaluations.
    let old = get_json(
        port,
        &format!(
            "/api/v1/query?query={}&time={}",
            prom_rules::rule::query_escape("ALERTS_FOR_STATE[10m]"),
            stopped as f64 / 1000.0
        ),
    )
    .expect("old for state");
    let old_series = &old["data"]["result"][0];
    let old_samples: Vec<(i64, f64)> = old_series["values"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|v| {
            let t = (v[0].as_f64().expect("t") * 1000.0).round() as i64;
            let v: f64 = v[1].as_str().expect("value").parse().expect("float");
            (t, v)
        })
        .collect();
    let one = get_json(
        port,
        &format!(
            "/api/v1/query?query={}",
            prom_rules::rule::query_escape("one[1m]")
        ),
    )
    .expect("one");
    let evals: Vec<i64> = one["data"]["result"][0]["values"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|v| (v[0].as_f64().expect("t") * 1000.0).round() as i64)
        .filter(|&t| t > stopped)
        .collect();
    assert!(evals.len() >= 2, "{evals:?}");

    // The same history for us, restarted so that our first two evaluations are theirs.
    let db = Arc::new(MemoryStorage::new());
    let mut app = db.appender();
    let for_state = metric_labels(old_series);
    for (t, v) in &old_samples {
        app.append(None, &for_state, *t, *v).unwrap();
    }
    app.commit().unwrap();
    let clock = Arc::new(ManualClock::new(evals[0] - 1));
    let m = Manager::new(
        ManagerOptions::new(
            Arc::new(Engine::default()),
            db.clone(),
            db.clone(),
            Arc::new(Discard),
        )
        .clock(clock.clone())
        .for_grace_period_ms(1000),
    );
    let group = Group::new(
        "restore",
        rules_file.as_str(),
        1000,
        vec![
            RecordingRule::new("one", prom_promql::parse("vector(1)").unwrap(), vec![]).into(),
            AlertingRule::new(
                "Slow",
                prom_promql::parse("one > 0").unwrap(),
                600_000,
                0,
                vec![],
                vec![],
            )
            .into(),
        ],
    );
    m.update(vec![group]).unwrap();
    for &t in &evals[..2] {
        assert_eq!(m.next_due(), Some(t), "our slots are theirs");
        clock.set(t);
        m.run_pending();
    }
    let ours = m.alerts();
    assert_eq!(ours.len(), 1);
    let our_active_at = ours[0].active_at;
    // Both restore at "now" just after the second evaluation: theirs a few milliseconds
    // after the slot, ours exactly on it.
    let (down, active) = *old_samples.last().expect("a sample");
    assert_eq!(
        our_active_at,
        active as i64 * 1000 + (evals[1] - down / 1000 * 1000),
        "resumed where it stopped"
    );
    let lag = their_active_at - our_active_at;
    assert!(
        (0..1000).contains(&lag),
        "theirs {their_active_at} ours {our_active_at}"
    );
}
