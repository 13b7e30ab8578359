//! The Alertmanager client against a local HTTP server: batching, retries and backoff,
//! timeouts, queue overflow, relabeling, discovery of the endpoints, and draining on stop.
#![cfg(feature = "runtime")]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use prom_model::Labels;
use prom_rules::alertmanager::{
    AlertmanagerNotifier, AlertmanagerSet, NotifierOptions, alertmanager_urls, encode_alerts,
};
use prom_rules::notifier::{Alert, Notifier};
use prom_scrape::config::{AlertmanagerConfig, Config, LoadOptions, TargetGroup};

/// What the fake Alertmanager does and saw.
#[derive(Default)]
struct Fake {
    /// Requests answered 500 before the first 200.
    fail_first: usize,
    /// Answer every request with 500.
    always_fail: bool,
    /// Wait this long before answering.
    delay: Duration,
    requests: AtomicUsize,
    /// The JSON bodies of the requests answered 200, and when they arrived.
    bodies: Mutex<Vec<(Instant, serde_json::Value)>>,
    /// When each request arrived.
    arrivals: Mutex<Vec<Instant>>,
}

async fn receive(State(f): State<Arc<Fake>>, body: String) -> StatusCode {
    let n = f.requests.fetch_add(1, Ordering::SeqCst);
    f.arrivals.lock().unwrap().push(Instant::now());
    if !f.delay.is_zero() {
        tokio::time::sleep(f.delay).await;
    }
    if f.always_fail || n < f.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let v: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    f.bodies.lock().unwrap().push((Instant::now(), v));
    StatusCode::OK
}

/// Starts the fake on 127.0.0.1 and returns its `host:port`.
async fn start(fake: Arc<Fake>, path: &'static str) -> String {
    let app = Router::new().route(path, post(receive)).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn config(yaml: &str) -> Config {
    Config::load_str(yaml, Path::new("."), LoadOptions::default(), &|_| None).expect("config")
}

fn am_config(extra: &str) -> AlertmanagerConfig {
    let text = format!("alerting:\n  alertmanagers:\n  - static_configs: []\n{extra}");
    config(&text).alerting.alertmanagers.remove(0)
}

fn set_for(addrs: &[&str], extra: &str) -> Arc<AlertmanagerSet> {
    let set = AlertmanagerSet::new(am_config(extra)).unwrap();
    set.set_targets(&[TargetGroup {
        targets: addrs.iter().map(|s| s.to_string()).collect(),
        labels: vec![],
        source: "test".into(),
    }]);
    Arc::new(set)
}

fn alert(i: usize) -> Alert {
    Alert {
        labels: Labels::from_pairs(&[("alertname", "HighLoad"), ("instance", &format!("n{i}"))]),
        annotations: Labels::from_pairs(&[("summary", "load is high")]),
        starts_at: 1_700_000_000_000,
        ends_at: 1_700_000_240_000,
        generator_url: "http://prom:9090/graph?g0.expr=up&g0.tab=1".into(),
    }
}

fn spawn_run(n: &Arc<AlertmanagerNotifier>) -> tokio::task::JoinHandle<()> {
    let n = n.clone();
    tokio::spawn(async move { n.run().await })
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn instances(bodies: &[(Instant, serde_json::Value)]) -> Vec<String> {
    bodies
        .iter()
        .flat_map(|(_, b)| b.as_array().unwrap().iter())
        .map(|a| a["labels"]["instance"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn encodes_the_api_v2_shape() {
    let body: serde_json::Value = serde_json::from_str(&encode_alerts(&[alert(1)])).unwrap();
    assert_eq!(
        body,
        serde_json::json!([{
            "labels": {"alertname": "HighLoad", "instance": "n1"},
            "annotations": {"summary": "load is high"},
            "startsAt": "2023-11-14T22:13:20Z",
            "endsAt": "2023-11-14T22:17:20Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=up&g0.tab=1"
        }])
    );
    // Zero times are left out, as Prometheus leaves out Go's zero time.
    let mut a = alert(1);
    a.starts_at = 0;
    a.ends_at = 0;
    let body: serde_json::Value = serde_json::from_str(&encode_alerts(&[a])).unwrap();
    assert!(body[0].get("startsAt").is_none() && body[0].get("endsAt").is_none());
}

#[tokio::test]
async fn batches_of_at_most_max_batch() {
    let fake = Arc::new(Fake::default());
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions::default()));
    n.set_alertmanagers(vec![set_for(&[&addr], "")]);
    // Queued before the sender runs, so the batches are deterministic.
    n.send((0..600).map(alert).collect());
    let task = spawn_run(&n);
    wait_for("600 alerts", || {
        instances(&fake.bodies.lock().unwrap()).len() == 600
    })
    .await;
    let sizes: Vec<usize> = fake
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![256, 256, 88]);
    let got = instances(&fake.bodies.lock().unwrap());
    let want: Vec<String> = (0..600).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want, "alerts arrive once each, in order");
    let stats = n.stats();
    let url = format!("http://{addr}/api/v2/alerts");
    assert_eq!(stats.alertmanagers[&url].sent, 600);
    assert_eq!(stats.alertmanagers[&url].errors, 0);
    assert_eq!(stats.discovered, 1);
    assert_eq!(stats.queue_length, 0);
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn retries_with_a_doubling_backoff() {
    let fake = Arc::new(Fake {
        fail_first: 2,
        ..Fake::default()
    });
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions {
        retries: 2,
        retry_backoff: Duration::from_millis(100),
        ..NotifierOptions::default()
    }));
    n.set_alertmanagers(vec![set_for(&[&addr], "")]);
    let task = spawn_run(&n);
    n.send(vec![alert(7)]);
    wait_for("the alert", || fake.bodies.lock().unwrap().len() == 1).await;
    let arrivals = fake.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 3);
    let first = arrivals[1] - arrivals[0];
    let second = arrivals[2] - arrivals[1];
    assert!(
        first >= Duration::from_millis(100),
        "first backoff {first:?}"
    );
    assert!(
        second >= Duration::from_millis(200),
        "second backoff {second:?}"
    );
    let url = format!("http://{addr}/api/v2/alerts");
    let s = n.stats().alertmanagers[&url];
    assert_eq!((s.sent, s.errors, s.retries), (1, 0, 2));
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn gives_up_after_the_retries_and_counts_an_error() {
    let fake = Arc::new(Fake {
        always_fail: true,
        ..Fake::default()
    });
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions {
        retries: 1,
        retry_backoff: Duration::from_millis(10),
        ..NotifierOptions::default()
    }));
    n.set_alertmanagers(vec![set_for(&[&addr], "")]);
    let task = spawn_run(&n);
    n.send(vec![alert(1)]);
    let url = format!("http://{addr}/api/v2/alerts");
    wait_for("the error", || {
        n.stats()
            .alertmanagers
            .get(&url)
            .is_some_and(|s| s.errors == 1)
    })
    .await;
    assert_eq!(fake.requests.load(Ordering::SeqCst), 2);
    assert_eq!(n.stats().alertmanagers[&url].sent, 0);
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn a_slow_alertmanager_times_out() {
    let fake = Arc::new(Fake {
        delay: Duration::from_secs(3),
        ..Fake::default()
    });
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions {
        retries: 0,
        ..NotifierOptions::default()
    }));
    n.set_alertmanagers(vec![set_for(&[&addr], "    timeout: 200ms\n")]);
    let task = spawn_run(&n);
    let started = Instant::now();
    n.send(vec![alert(1)]);
    let url = format!("http://{addr}/api/v2/alerts");
    wait_for("the timeout", || {
        n.stats()
            .alertmanagers
            .get(&url)
            .is_some_and(|s| s.errors == 1)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn overflow_drops_the_oldest_and_counts_them() {
    let fake = Arc::new(Fake::default());
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions {
        queue_capacity: 10,
        ..NotifierOptions::default()
    }));
    n.set_alertmanagers(vec![set_for(&[&addr], "")]);
    n.send((0..6).map(alert).collect());
    n.send((6..25).map(alert).collect());
    assert_eq!(n.stats().dropped, 15);
    assert_eq!(n.stats().queue_length, 10);
    let task = spawn_run(&n);
    wait_for("the queue", || {
        instances(&fake.bodies.lock().unwrap()).len() == 10
    })
    .await;
    let want: Vec<String> = (15..25).map(|i| format!("n{i}")).collect();
    assert_eq!(instances(&fake.bodies.lock().unwrap()), want);
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn external_labels_and_alert_relabeling() {
    let fake = Arc::new(Fake::default());
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let cfg = config(
        "alerting:\n  alert_relabel_configs:\n  - source_labels: [instance]\n    regex: n1\n    action: drop\n",
    );
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions {
        external_labels: Labels::from_pairs(&[("cluster", "eu1"), ("instance", "ignored")]),
        alert_relabel_configs: cfg.alerting.alert_relabel_configs.clone(),
        ..NotifierOptions::default()
    }));
    // The entry's own alert relabeling renames a label for this Alertmanager only.
    let extra =
        "    alert_relabel_configs:\n    - source_labels: [cluster]\n      target_label: region\n";
    n.set_alertmanagers(vec![set_for(&[&addr], extra)]);
    n.send(vec![alert(1), alert(2)]);
    let task = spawn_run(&n);
    wait_for("the alert", || fake.bodies.lock().unwrap().len() == 1).await;
    let body = fake.bodies.lock().unwrap()[0].1.clone();
    assert_eq!(
        body[0]["labels"],
        serde_json::json!({"alertname": "HighLoad", "cluster": "eu1", "instance": "n2", "region": "eu1"})
    );
    assert_eq!(body.as_array().unwrap().len(), 1, "n1 was relabeled away");
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn every_alertmanager_gets_every_batch() {
    let a = Arc::new(Fake::default());
    let b = Arc::new(Fake::default());
    let addr_a = start(a.clone(), "/api/v2/alerts").await;
    let addr_b = start(b.clone(), "/am/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions::default()));
    n.set_alertmanagers(vec![
        set_for(&[&addr_a], ""),
        set_for(&[&addr_b], "    path_prefix: /am/\n"),
    ]);
    n.send((0..3).map(alert).collect());
    let task = spawn_run(&n);
    wait_for("both", || {
        a.bodies.lock().unwrap().len() == 1 && b.bodies.lock().unwrap().len() == 1
    })
    .await;
    n.stop().await;
    task.await.unwrap();
}

#[tokio::test]
async fn stop_drains_the_queue() {
    let fake = Arc::new(Fake::default());
    let addr = start(fake.clone(), "/api/v2/alerts").await;
    let n = Arc::new(AlertmanagerNotifier::new(NotifierOptions::default()));
    n.set_alertmanagers(vec![set_for(&[&addr], "")]);
    let task = spawn_run(&n);
    n.send((0..300).map(alert).collect());
    n.stop().await;
    task.await.unwrap();
    assert_eq!(instances(&fake.bodies.lock().unwrap()).len(), 300);
}

#[test]
fn endpoints_from_discovered_targets() {
    let cfg = am_config(
        "    scheme: https\n    path_prefix: alertmanager\n    relabel_configs:\n    - source_labels: [env]\n      regex: dev\n      action: drop\n",
    );
    let groups = [
        TargetGroup {
            targets: vec!["am-1:9093".into(), "am-2:9093".into(), "am-1:9093".into()],
            labels: vec![("env".into(), "prod".into())],
            source: "a".into(),
        },
        TargetGroup {
            targets: vec!["am-dev:9093".into()],
            labels: vec![("env".into(), "dev".into())],
            source: "b".into(),
        },
    ];
    assert_eq!(
        alertmanager_urls(&cfg, &groups),
        vec![
            "https://am-1:9093/alertmanager/api/v2/alerts",
            "https://am-2:9093/alertmanager/api/v2/alerts",
        ]
    );
}
