//! Scrape loops against real local HTTP targets, writing into prom-model's MemoryStorage.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prom_model::MemoryStorage;
use prom_model::value::is_stale_nan;
use prom_model::{Labels, Sample};
use prom_scrape::config::{Config, LoadOptions};
use prom_scrape::manager::{Health, ManagerOptions, ScrapeManager, ScrapeObserver, TargetInfo};
use prom_scrape::scrape::{Rejected, ScrapeError};

use crate::support::{Handler, Response, serve};

const TEXT: &str = "text/plain; version=0.0.4";

fn opts() -> ManagerOptions {
    ManagerOptions {
        offset_seed: 0,
        file_poll: Duration::from_millis(50),
        discovery_settle: Duration::from_millis(10),
        no_initial_offset: true,
    }
}

fn config(text: &str) -> Config {
    Config::load_str(text, Path::new("."), LoadOptions::default(), &|_| None).unwrap()
}

fn job(addr: &str, extra: &str) -> Config {
    config(&format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n{extra}    static_configs:\n      - targets: ['{addr}']\n"
    ))
}

/// Every series named `name`, with its samples.
fn named(db: &MemoryStorage, name: &str) -> Vec<(Labels, Vec<Sample>)> {
    db.series()
        .into_iter()
        .filter(|(l, _)| l.metric_name() == Some(name))
        .collect()
}

fn last_value(db: &MemoryStorage, name: &str) -> Option<f64> {
    named(db, name)
        .first()
        .and_then(|(_, s)| s.last().map(|x| x.v))
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn only_target(m: &ScrapeManager) -> TargetInfo {
    let t = m.targets();
    assert_eq!(t.len(), 1, "{t:?}");
    t.into_iter().next().unwrap()
}

async fn scrape_once(handler: Handler, extra: &str) -> (Arc<MemoryStorage>, ScrapeManager, String) {
    let addr = serve(handler).await.to_string();
    let db = Arc::new(MemoryStorage::new());
    let m = ScrapeManager::new(db.clone(), opts());
    m.apply_config(&job(&addr, extra)).unwrap();
    let d = db.clone();
    eventually("the up series", || !named(&d, "up").is_empty()).await;
    (db, m, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_appends_samples_with_target_labels_and_report_series() {
    let body = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 10\nhttp_requests_total{code=\"500\"} 2\ntemperature 21.5 1000\n";
    let (db, m, addr) = scrape_once(Arc::new(move |_| Response::ok(TEXT, body)), "").await;
    let reqs = named(&db, "http_requests_total");
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].0.to_string(),
        format!(r#"http_requests_total{{code="200", instance="{addr}", job="t"}}"#)
    );
    assert_eq!(reqs[0].1[0].v, 10.0);
    // honor_timestamps (the default) keeps the exposed timestamp.
    assert_eq!(named(&db, "temperature")[0].1[0].t, 1000);
    assert_eq!(last_value(&db, "up"), Some(1.0));
    assert_eq!(last_value(&db, "scrape_samples_scraped"), Some(3.0));
    assert_eq!(
        last_value(&db, "scrape_samples_post_metric_relabeling"),
        Some(3.0)
    );
    assert_eq!(named(&db, "scrape_series_added")[0].1[0].v, 3.0);
    assert!(last_value(&db, "scrape_duration_seconds").unwrap() > 0.0);
    let t = only_target(&m);
    assert_eq!(t.status.health, Health::Up);
    assert_eq!(t.url, format!("http://{addr}/metrics"));
    assert_eq!(t.status.metadata["http_requests_total"].help, "Requests.");
    // The steady state adds no series.
    let d = db.clone();
    eventually("a second scrape", || {
        named(&d, "scrape_series_added")[0].1.len() >= 2
    })
    .await;
    assert_eq!(named(&db, "scrape_series_added")[0].1[1].v, 0.0);
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_target_times_out_and_is_down() {
    let (db, m, _) = scrape_once(
        Arc::new(|_| Response {
            delay: Duration::from_millis(400),
            ..Response::ok(TEXT, "a 1\n")
        }),
        "",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert!(named(&db, "a").is_empty());
    let t = only_target(&m);
    assert_eq!(t.status.health, Health::Down);
    assert!(
        t.status.last_error.contains("deadline"),
        "{}",
        t.status.last_error
    );
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_fail_the_scrape_cleanly() {
    let big: String = (0..5000).map(|i| format!("metric_{i} {i}\n")).collect();
    let b = big.clone();
    let (db, m, _) = scrape_once(
        Arc::new(move |_| Response::ok(TEXT, b.clone())),
        "    body_size_limit: 1KB\n",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert!(
        only_target(&m)
            .status
            .last_error
            .contains("body size limit exceeded")
    );
    assert!(
        named(&db, "metric_1").is_empty(),
        "nothing of an over-limit body is kept"
    );
    m.shutdown(false).await;

    let b = big.clone();
    let (db, m, _) = scrape_once(
        Arc::new(move |_| Response::ok(TEXT, b.clone())),
        "    sample_limit: 100\n",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert_eq!(
        only_target(&m).status.last_error,
        "sample limit exceeded (limit: 100)"
    );
    assert!(named(&db, "metric_1").is_empty());
    m.shutdown(false).await;

    let (db, m, _) = scrape_once(
        Arc::new(|_| Response::ok(TEXT, "a{x=\"1\",y=\"2\",z=\"3\"} 1\n")),
        "    label_limit: 3\n",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert!(
        only_target(&m)
            .status
            .last_error
            .starts_with("label_limit exceeded (metric: a, number of labels: 6, limit: 3)")
    );
    m.shutdown(false).await;

    let (db, m, _) = scrape_once(
        Arc::new(|_| Response::ok(TEXT, "a{x=\"a-very-long-value\"} 1\n")),
        "    label_value_length_limit: 5\n",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert!(
        only_target(&m)
            .status
            .last_error
            .starts_with("label_value_length_limit exceeded")
    );
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_404_and_500_are_down_with_the_reason() {
    let (db, m, _) = scrape_once(Arc::new(|_| Response::ok(TEXT, "ok 1\n}{ garbage\n")), "").await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    let e = only_target(&m).status.last_error;
    assert!(e.starts_with("2:"), "a parse error with its position: {e}");
    assert!(
        named(&db, "ok").is_empty(),
        "a half-parsed body is not kept"
    );
    m.shutdown(false).await;

    for code in [404u16, 500] {
        let (db, m, _) = scrape_once(Arc::new(move |_| Response::status(code)), "").await;
        assert_eq!(last_value(&db, "up"), Some(0.0));
        let e = only_target(&m).status.last_error;
        assert!(
            e.contains(&format!("server returned HTTP status {code}")),
            "{e}"
        );
        m.shutdown(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_are_decompressed_unless_compression_is_off() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let handler: Handler = Arc::new(move |req| {
        let enc = req.header("Accept-Encoding").unwrap_or("").to_owned();
        s.lock().unwrap().push(enc.clone());
        if enc.contains("gzip") {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(b"zipped 42\n").unwrap();
            let mut r = Response::ok(TEXT, z.finish().unwrap());
            r.headers.push(("Content-Encoding".into(), "gzip".into()));
            r
        } else {
            Response::ok(TEXT, "plain 7\n")
        }
    });
    let (db, m, _) = scrape_once(handler.clone(), "").await;
    assert_eq!(last_value(&db, "zipped"), Some(42.0));
    m.shutdown(false).await;
    let (db, m, _) = scrape_once(handler, "    enable_compression: false\n").await;
    assert_eq!(last_value(&db, "plain"), Some(7.0));
    assert!(seen.lock().unwrap().iter().any(|e| e == "identity"));
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_is_negotiated_from_the_accept_header() {
    let accept = Arc::new(Mutex::new(String::new()));
    let a = accept.clone();
    let handler: Handler = Arc::new(move |req| {
        *a.lock().unwrap() = req.header("Accept").unwrap_or("").to_owned();
        if req
            .header("Accept")
            .unwrap_or("")
            .starts_with("application/openmetrics-text")
        {
            Response::ok(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "# TYPE jobs counter\njobs_total 3\n# EOF\n",
            )
        } else {
            Response::ok(TEXT, "text_only 1\n")
        }
    });
    let (db, m, _) = scrape_once(handler.clone(), "").await;
    assert_eq!(last_value(&db, "jobs_total"), Some(3.0));
    m.shutdown(false).await;
    // Asking for the text format only.
    let (db, m, _) = scrape_once(handler, "    scrape_protocols: [PrometheusText0.0.4]\n").await;
    assert_eq!(last_value(&db, "text_only"), Some(1.0));
    assert!(
        accept
            .lock()
            .unwrap()
            .starts_with("text/plain;version=0.0.4")
    );
    m.shutdown(false).await;
    // OpenMetrics served without `# EOF` is a parse error.
    let (db, m, _) = scrape_once(
        Arc::new(|_| Response::ok("application/openmetrics-text; version=1.0.0", "a 1\n")),
        "",
    )
    .await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_series_and_targets_get_staleness_markers() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let (db, m, addr) = scrape_once(
        Arc::new(move |_| {
            let i = c.fetch_add(1, Ordering::SeqCst);
            Response::ok(TEXT, if i == 0 { "a 1\nb 2\n" } else { "a 1\n" })
        }),
        "",
    )
    .await;
    let d = db.clone();
    eventually("b goes stale", || {
        named(&d, "b")[0].1.iter().any(|s| is_stale_nan(s.v))
    })
    .await;
    assert!(!named(&db, "a")[0].1.iter().any(|s| is_stale_nan(s.v)));
    // The target goes away: every series and the report series go stale.
    m.apply_config(&config("scrape_configs: []\n")).unwrap();
    let d = db.clone();
    eventually("a and up go stale", || {
        named(&d, "a")[0]
            .1
            .last()
            .is_some_and(|s| is_stale_nan(s.v))
            && named(&d, "up")[0]
                .1
                .last()
                .is_some_and(|s| is_stale_nan(s.v))
    })
    .await;
    assert!(m.targets().is_empty());
    let _ = addr;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_and_metric_relabeling() {
    let body = "a{job=\"exposed\",instance=\"i\"} 1\ndrop_me 2\n";
    let (db, m, addr) = scrape_once(
        Arc::new(move |_| Response::ok(TEXT, body)),
        "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_me\n        action: drop\n",
    )
    .await;
    let a = named(&db, "a");
    assert_eq!(
        a[0].0.to_string(),
        format!(
            r#"a{{exported_instance="i", exported_job="exposed", instance="{addr}", job="t"}}"#
        )
    );
    assert!(named(&db, "drop_me").is_empty());
    assert_eq!(last_value(&db, "scrape_samples_scraped"), Some(2.0));
    assert_eq!(
        last_value(&db, "scrape_samples_post_metric_relabeling"),
        Some(1.0)
    );
    m.shutdown(false).await;

    let (db, m, _) = scrape_once(
        Arc::new(move |_| Response::ok(TEXT, body)),
        "    honor_labels: true\n",
    )
    .await;
    assert_eq!(
        named(&db, "a")[0].0.to_string(),
        r#"a{instance="i", job="exposed"}"#
    );
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_and_config_reload() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let addr = serve(Arc::new(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Response::ok(TEXT, "x{job=\"e\"} 1\n")
    }))
    .await
    .to_string();
    let db = Arc::new(MemoryStorage::new());
    let m = ScrapeManager::new(db.clone(), opts());
    let two = format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: 200ms\n    scrape_timeout: 100ms\n    target_limit: 1\n    static_configs:\n      - targets: ['{addr}', 'localhost:{}']\n",
        addr.rsplit(':').next().unwrap()
    );
    m.apply_config(&config(&two)).unwrap();
    let d = db.clone();
    eventually("up reported", || named(&d, "up").len() == 2).await;
    for t in m.targets() {
        assert_eq!(
            t.status.last_error,
            "target_limit exceeded (number of targets: 2, limit: 1)"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "over the limit nothing is scraped"
    );
    m.shutdown(false).await;

    // A reload with the same job keeps its loop (and its cache); a changed job restarts.
    let m = ScrapeManager::new(db.clone(), opts());
    let cfg = job(&addr, "");
    m.apply_config(&cfg).unwrap();
    eventually("scraped", || {
        m.targets()
            .first()
            .is_some_and(|t| t.status.health == Health::Up)
    })
    .await;
    let before = only_target(&m).status.last_scrape;
    m.apply_config(&cfg).unwrap();
    assert_eq!(
        only_target(&m).status.last_scrape,
        before,
        "the same loop, its status kept"
    );
    assert!(
        named(&db, "x")
            .iter()
            .all(|(l, _)| l.get("job") == Some("t"))
    );
    m.apply_config(&job(&addr, "    honor_labels: true\n"))
        .unwrap();
    let d = db.clone();
    eventually("the new job config in effect", || {
        named(&d, "x")
            .iter()
            .any(|(l, _)| l.get("job") == Some("e"))
    })
    .await;
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_sent_and_a_wrong_one_is_refused() {
    let handler: Handler = Arc::new(|req| match req.header("Authorization") {
        Some("Bearer t0ken") | Some("Basic dXNlcjpwYXNz") => Response::ok(TEXT, "secret 1\n"),
        _ => Response::status(401),
    });
    let (db, m, _) = scrape_once(
        handler.clone(),
        "    authorization:\n      credentials: t0ken\n",
    )
    .await;
    assert_eq!(last_value(&db, "secret"), Some(1.0));
    m.shutdown(false).await;
    let (db, m, _) = scrape_once(
        handler.clone(),
        "    basic_auth:\n      username: user\n      password: pass\n",
    )
    .await;
    assert_eq!(last_value(&db, "secret"), Some(1.0));
    m.shutdown(false).await;
    let (db, m, _) = scrape_once(handler, "    bearer_token: wrong\n").await;
    assert_eq!(last_value(&db, "up"), Some(0.0));
    assert!(only_target(&m).status.last_error.contains("401"));
    m.shutdown(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_timestamps_are_kept_out_of_staleness_unless_tracked() {
    for (extra, want_stale) in [
        ("", false),
        ("    track_timestamps_staleness: true\n", true),
    ] {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let (db, m, _) = scrape_once(
            Arc::new(move |_| {
                let i = c.fetch_add(1, Ordering::SeqCst);
                Response::ok(
                    TEXT,
                    if i == 0 {
                        "with_ts 1 1000\nplain 1\n"
                    } else {
                        "plain 1\n"
                    },
                )
            }),
            extra,
        )
        .await;
        let d = db.clone();
        eventually("plain scraped twice", || named(&d, "plain")[0].1.len() >= 2).await;
        let stale = named(&db, "with_ts")[0].1.iter().any(|s| is_stale_nan(s.v));
        assert_eq!(stale, want_stale, "{extra:?}");
        m.shutdown(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_changes_start_and_stop_loops() {
    let a = serve(Arc::new(|_| Response::ok(TEXT, "from_a 1\n")))
        .await
        .to_string();
    let b = serve(Arc::new(|_| Response::ok(TEXT, "from_b 1\n")))
        .await
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(
        &file,
        format!(r#"[{{"targets": ["{a}"], "labels": {{"team": "x"}}}}]"#),
    )
    .unwrap();
    let cfg = config(&format!(
        "scrape_configs:\n  - job_name: f\n    scrape_interval: 200ms\n    scrape_timeout: 100ms\n    file_sd_configs:\n      - files: ['{}']\n",
        file.display()
    ));
    let db = Arc::new(MemoryStorage::new());
    let m = ScrapeManager::new(db.clone(), opts());
    m.apply_config(&cfg).unwrap();
    let d = db.clone();
    eventually("a scraped", || !named(&d, "from_a").is_empty()).await;
    assert_eq!(named(&db, "from_a")[0].0.get("team"), Some("x"));
    std::fs::write(&file, format!(r#"[{{"targets": ["{b}"]}}]"#)).unwrap();
    let d = db.clone();
    eventually("b scraped and a stale", || {
        !named(&d, "from_b").is_empty()
            && named(&d, "from_a")[0]
                .1
                .last()
                .is_some_and(|s| is_stale_nan(s.v))
    })
    .await;
    let t = m.targets();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].target.get("instance"), Some(b.as_str()));
    assert_eq!(
        t[0].target.discovered.get("__meta_filepath"),
        Some(file.to_str().unwrap())
    );
    m.shutdown(false).await;
}

/// A TLS target served by `openssl s_server -WWW` with a self-signed certificate for
/// 127.0.0.1: scraped with the certificate as CA, refused without it, and scraped again with
/// `insecure_skip_verify`. Skipped when the openssl command is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_targets_are_verified_against_the_configured_ca() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        println!("skipped: openssl not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    std::fs::write(dir.path().join("metrics"), "tls_ok 1\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-WWW", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = |tls: String| async move {
        let cfg = config(&format!(
            "scrape_configs:\n  - job_name: tls\n    scheme: https\n    scrape_interval: 300ms\n    scrape_timeout: 250ms\n    tls_config:\n{tls}    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ));
        let db = Arc::new(MemoryStorage::new());
        let m = ScrapeManager::new(db.clone(), opts());
        m.apply_config(&cfg).unwrap();
        let d = db.clone();
        eventually("up", || !named(&d, "up").is_empty()).await;
        let t = only_target(&m);
        m.shutdown(false).await;
        (last_value(&db, "tls_ok"), t.status.last_error)
    };
    let (v, e) = run(format!("      ca_file: {}\n", cert.display())).await;
    assert_eq!(v, Some(1.0), "{e}");
    let (v, e) = run("      server_name: 127.0.0.1\n".into()).await;
    assert_eq!(v, None);
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let (v, e) = run("      insecure_skip_verify: true\n".into()).await;
    assert_eq!(v, Some(1.0), "{e}");
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_that_cannot_be_built_are_reported_not_scraped() {
    let addr = serve(Arc::new(|_| Response::ok(TEXT, "x 1\n")))
        .await
        .to_string();
    let db = Arc::new(MemoryStorage::new());
    let m = ScrapeManager::new(db.clone(), opts());
    m.apply_config(&config(&format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: 200ms\n    scrape_timeout: 100ms\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n    static_configs:\n      - targets: ['{addr}', 'http://bad']\n"
    )))
    .unwrap();
    eventually("the good target scraped", || !m.targets().is_empty()).await;
    assert_eq!(m.targets().len(), 1);
    assert_eq!(
        m.target_errors(),
        [(
            "t".to_owned(),
            "instance 1 in group 0: \"http://bad\" is not a valid hostname".to_owned()
        )]
    );
    m.shutdown(false).await;
}

/// Records what the loops tell about refused samples and failed scrapes.
#[derive(Debug, Default)]
struct Refusals {
    rejected: Mutex<Vec<(String, String, Rejected)>>,
    errors: Mutex<Vec<String>>,
}

impl ScrapeObserver for Refusals {
    fn scraped(&self, _: Duration, _: Option<Duration>, error: Option<&ScrapeError>) {
        if let Some(e) = error {
            self.errors.lock().unwrap().push(e.to_string());
        }
    }

    fn samples_rejected(&self, job: &str, target: &str, rejected: &Rejected) {
        self.rejected
            .lock()
            .unwrap()
            .push((job.to_owned(), target.to_owned(), *rejected));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_samples_are_told_by_reason_and_the_rest_is_kept() {
    // Every scrape: `dup` again at its timestamp with another value, `old` before what the
    // storage accepts, `ooo` going back in time; `fine` is kept.
    let body = "dup 1 2000000\ndup 2 2000000\nold 1 5\nooo 1 3000000\nooo 2 2500000\nfine 1\n";
    let addr = serve(Arc::new(move |_| Response::ok(TEXT, body)))
        .await
        .to_string();
    let db = Arc::new(MemoryStorage::new().with_min_valid_time(1_000_000));
    let obs = Arc::new(Refusals::default());
    let m = ScrapeManager::with_observer(db.clone(), opts(), Some(obs.clone()));
    // The second job's limit is hit at `fine`, after the refusals: the scrape fails and is
    // rolled back, and its refusals are still told.
    m.apply_config(&config(&format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    static_configs:\n      - targets: ['{addr}']\n  - job_name: limited\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    sample_limit: 5\n    static_configs:\n      - targets: ['{addr}']\n"
    )))
    .unwrap();
    let o = obs.clone();
    eventually("two scrapes of each job with refusals", || {
        let r = o.rejected.lock().unwrap();
        ["t", "limited"]
            .iter()
            .all(|j| r.iter().filter(|x| x.0 == *j).count() >= 2)
    })
    .await;
    m.shutdown(false).await;
    let want = Rejected {
        out_of_order: 1,
        out_of_bounds: 1,
        duplicate_timestamp: 1,
        other: 0,
    };
    let url = format!("http://{addr}/metrics");
    for (job, target, r) in obs.rejected.lock().unwrap().iter() {
        assert!(job == "t" || job == "limited", "{job}");
        assert_eq!(target, &url);
        assert_eq!(r, &want, "{job}");
    }
    let errors = obs.errors.lock().unwrap();
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e == "sample limit exceeded (limit: 5)"),
        "{errors:?}"
    );
    // The rest of the first job's scrapes is kept; nothing of the limited job's.
    let fine = named(&db, "fine");
    assert_eq!(fine.len(), 1, "{fine:?}");
    assert!(fine[0].0.to_string().contains("job=\"t\""));
    let dup = named(&db, "dup");
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].1, vec![Sample::new(2_000_000, 1.0)]);
    let ooo = named(&db, "ooo");
    assert_eq!(ooo[0].1, vec![Sample::new(3_000_000, 1.0)]);
    assert!(named(&db, "old").is_empty());
    let up: Vec<_> = named(&db, "up")
        .into_iter()
        .map(|(l, s)| (l.get("job").unwrap().to_owned(), s.last().unwrap().v))
        .collect();
    assert_eq!(up, vec![("limited".into(), 0.0), ("t".into(), 1.0)]);
}
