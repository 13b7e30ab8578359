//! `prom serve` among the real ecosystem (Debian's `prometheus` package, version 2.42):
//! promtool's query client gets the same answers from `prom serve` as from Prometheus scraping
//! the same target in the same test; Prometheus scrapes `prom serve`'s /metrics cleanly; and
//! `promtool check metrics` passes on it.
//!
//! Runs when `prometheus` and `promtool` are on the path; with `PROM_INTEROP=1` their absence
//! is a failure, without it a printed skip.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::serve::{Server, Target, enc, http};
use super::support::{PeerServer, free_port, prometheus_tools_present, run};

const BODY: &str = "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\n\
demo_requests_total{path=\"/a\"} 10\ndemo_requests_total{path=\"/b\"} 32\n\
# HELP demo_temperature_celsius A gauge.\n# TYPE demo_temperature_celsius gauge\n\
demo_temperature_celsius 21.5\n";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn value(addr: &str, q: &str) -> Option<f64> {
    let r = http(
        addr,
        "GET",
        &format!("/api/v1/query?query={}", enc(q)),
        &[],
        "",
    );
    let j = r.json();
    j["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
}

#[test]
fn promtool_gets_the_same_answers_from_prom_as_from_prometheus() {
    if !prometheus_tools_present() {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "PROM_INTEROP=1 but prometheus/promtool cannot be run; install the Debian package \
             `prometheus`"
        );
        println!("skipped: prometheus/promtool not found");
        return;
    }
    // A body that never changes, so both scrapers store the same values.
    let target = Target::serving(|_| BODY.to_owned()).addr;
    let work = tempfile::Builder::new()
        .prefix("prom-serve-interop-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let job = format!("  - job_name: demo\n    static_configs:\n      - targets: [\"{target}\"]\n");
    let ours_cfg = work.path().join("ours.yml");
    std::fs::write(
        &ours_cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n{job}"),
    )
    .unwrap();
    let prom = Server::start(
        &work.path().join("ours"),
        &[&format!("--config.file={}", ours_cfg.display())],
    );

    // Prometheus scrapes the same target, and prom serve's own /metrics as job "prom".
    let theirs_cfg = work.path().join("theirs.yml");
    std::fs::write(
        &theirs_cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{job}  - job_name: prom\n    static_configs:\n      - targets: [\"{}\"]\n",
            prom.addr
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(work.path().join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--storage.tsdb.path={}",
            work.path().join("theirs").display()
        ))
        .arg(format!("--config.file={}", theirs_cfg.display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let theirs = PeerServer { child, addr };
    let deadline = Instant::now() + Duration::from_secs(90);
    let count = "count_over_time(demo_temperature_celsius[1m])";
    let since;
    loop {
        let a = value(&prom.addr, count).unwrap_or(0.0);
        let b = if TcpStream::connect(&theirs.addr).is_ok()
            && http(&theirs.addr, "GET", "/-/ready", &[], "").status == 200
        {
            value(&theirs.addr, count).unwrap_or(0.0)
        } else {
            0.0
        };
        if a >= 1.0 && b >= 1.0 {
            since = now();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no samples after 90 s (prom {a}, prometheus {b}); see {}",
            work.path().join("prometheus.log").display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let both hold a few seconds of data after the moment both had some.
    std::thread::sleep(Duration::from_secs(5));
    let t = format!("{:.3}", now() - 1.0);
    let start = format!("{:.0}", since.ceil() + 1.0);
    let end = format!("{:.0}", since.ceil() + 4.0);

    let ours_url = format!("http://{}", prom.addr);
    let theirs_url = format!("http://{}", theirs.addr);
    let cases: Vec<Vec<String>> = vec![
        vec![
            "instant".into(),
            "URL".into(),
            "demo_temperature_celsius".into(),
            format!("--time={t}"),
        ],
        vec![
            "instant".into(),
            "URL".into(),
            "sum by (job, instance) (demo_requests_total) * 2".into(),
            format!("--time={t}"),
        ],
        vec![
            "instant".into(),
            "URL".into(),
            "demo_requests_total{path=\"/b\"}".into(),
            format!("--time={t}"),
            "-o".into(),
            "json".into(),
        ],
        vec![
            "range".into(),
            "URL".into(),
            "demo_temperature_celsius + on() group_left vector(1)".into(),
            format!("--start={start}"),
            format!("--end={end}"),
            "--step=1s".into(),
        ],
        vec![
            "series".into(),
            "URL".into(),
            "--match=demo_requests_total".into(),
        ],
        vec![
            "series".into(),
            "URL".into(),
            "--match={job=\"demo\",__name__=~\"demo_.*\"}".into(),
        ],
        vec!["labels".into(), "URL".into(), "path".into()],
        vec![
            "labels".into(),
            "URL".into(),
            "instance".into(),
            "--match=demo_temperature_celsius".into(),
        ],
    ];
    for case in &cases {
        let with = |url: &str| -> Vec<String> {
            let mut args = vec!["query".to_owned()];
            args.extend(case.iter().map(|a| {
                if a == "URL" {
                    url.to_owned()
                } else {
                    a.clone()
                }
            }));
            args
        };
        let a = with(&ours_url);
        let b = with(&theirs_url);
        let ours = run(
            "promtool",
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            b"",
        );
        let theirs_out = run(
            "promtool",
            &b.iter().map(String::as_str).collect::<Vec<_>>(),
            b"",
        );
        assert_eq!(ours.code, 0, "promtool {a:?} against prom: {ours:?}");
        assert_eq!(
            theirs_out.code, 0,
            "promtool {b:?} against prometheus: {theirs_out:?}"
        );
        assert!(!ours.stdout.trim().is_empty(), "{a:?} printed nothing");
        assert_eq!(
            ours.stdout, theirs_out.stdout,
            "promtool query {case:?}: prom and Prometheus 2.42 differ"
        );
        // Our own client prints what promtool prints.
        let mine = super::support::prom(&a.iter().map(String::as_str).collect::<Vec<_>>(), b"");
        assert_eq!(mine.code, 0, "prom {a:?}: {mine:?}");
        if !case.contains(&"json".to_owned()) {
            assert_eq!(mine.stdout, ours.stdout, "prom {a:?} differs from promtool");
        }
    }

    // Prometheus 2.42 scrapes prom serve's /metrics cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = value(&theirs.addr, "up{job=\"prom\"}");
        let samples = value(&theirs.addr, "scrape_samples_scraped{job=\"prom\"}").unwrap_or(0.0);
        if up == Some(1.0) && samples > 50.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus does not scrape prom serve cleanly: up={up:?}, samples={samples}; targets: {}",
            http(&theirs.addr, "GET", "/api/v1/targets", &[], "").body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // And promtool finds nothing to say about it.
    let metrics = prom.get("/metrics").body;
    let out = run("promtool", &["check", "metrics"], metrics.as_bytes());
    assert_eq!(
        out.code, 0,
        "promtool check metrics on prom serve's /metrics: {out:?}"
    );
}
