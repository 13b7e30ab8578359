//! `prom serve` side by side with Prometheus 2.42 in one run, on the same synthetic targets:
//! RSS per active series, CPU per million samples appended, then a load phase of concurrent
//! `query_range` clients while scraping continues (latency percentiles, errors, peak RSS,
//! missed scrapes).
//!
//! One child process serves `PROM_BENCH_TARGETS` (default 10) targets of `PROM_BENCH_SERIES`
//! (default 10,000) series each (`prom_benches::targets`). Each server in turn: fresh data
//! directory, the targets at `PROM_BENCH_INTERVAL` (default 2s); a warm-up
//! (`PROM_BENCH_WARMUP`, 20 s); a measured window (`PROM_BENCH_SECONDS`, 30 s) for CPU and
//! samples; RSS and head series at its end; then `PROM_BENCH_CLIENTS` (32) clients issue
//! range queries over the last 5 minutes for `PROM_BENCH_LOAD` (60 s).
//!
//! `prom serve` runs as this binary re-executed with `--prom-serve` (the same code as the
//! `prom` binary's `serve`). Without `prometheus`, or with `PROM_BENCH_PEERS=0`, only ours runs.
//!
//! Run: `cargo bench -p prom-benches --bench serve`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prom_benches::env_usize;
use prom_benches::peers::{self, Peer};
use prom_benches::prom_serve;
use prom_benches::targets::{config, metric, serve_targets, spawn_targets};

/// The range queries the load clients rotate through.
const QUERIES: [&str; 5] = [
    "sum by (code) (rate(app_requests_total[1m]))",
    "histogram_quantile(0.9, sum by (le) (rate(app_latency_seconds_bucket[1m])))",
    "topk(5, app_queue_depth)",
    "count by (instance) (app_requests_total)",
    "max_over_time(app_queue_depth{shard=\"1\"}[2m])",
];

fn rss_bytes(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .unwrap_or(0.0)
        * 1024.0
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Default)]
struct Row {
    name: &'static str,
    cpu: f64,
    samples: f64,
    rss: f64,
    series: f64,
    queries: usize,
    errors: u64,
    p50: f64,
    p99: f64,
    peak_rss: f64,
    min_scrapes: f64,
    expected_scrapes: f64,
}

fn appended(p: &Peer) -> (f64, f64) {
    let text = p.get("/metrics").map(|r| r.text()).unwrap_or_default();
    let samples = metric(
        &text,
        "prometheus_tsdb_head_samples_appended_total{type=\"float\"}",
    )
    .or_else(|| metric(&text, "prometheus_tsdb_head_samples_appended_total"))
    .unwrap_or(0.0);
    let series = metric(&text, "prometheus_tsdb_head_series").unwrap_or(0.0);
    (samples, series)
}

fn measure(p: &Peer, name: &'static str, interval_s: u64) -> Row {
    let warmup = Duration::from_secs(env_usize("PROM_BENCH_WARMUP", 20) as u64);
    let window = Duration::from_secs(env_usize("PROM_BENCH_SECONDS", 30) as u64);
    let load = Duration::from_secs(env_usize("PROM_BENCH_LOAD", 60) as u64);
    let clients = env_usize("PROM_BENCH_CLIENTS", 32);
    std::thread::sleep(warmup);
    let (c0, (s0, _)) = (peers::cpu_seconds(p.pid()).expect("cpu"), appended(p));
    std::thread::sleep(window);
    let (c1, (s1, series)) = (peers::cpu_seconds(p.pid()).expect("cpu"), appended(p));
    let mut row = Row {
        name,
        cpu: c1 - c0,
        samples: s1 - s0,
        rss: rss_bytes(p.pid()),
        series,
        ..Row::default()
    };

    // Load: clients issue range queries while scraping goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let start_load = now_ms();
    let mut handles = Vec::new();
    for c in 0..clients {
        let (stop, errors, latencies) = (stop.clone(), errors.clone(), latencies.clone());
        let port = p.port;
        handles.push(std::thread::spawn(move || {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let q = QUERIES[i % QUERIES.len()];
                i += 1;
                let end = now_ms();
                let target = format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step=15",
                    peers::url_encode(q),
                    peers::api_time(end - 300_000),
                    peers::api_time(end)
                );
                let t = Instant::now();
                match peers::get(port, &target) {
                    Ok(r) if r.status == 200 => {
                        latencies.lock().unwrap().push(t.elapsed().as_secs_f64())
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + load;
    while Instant::now() < deadline {
        row.peak_rss = row.peak_rss.max(rss_bytes(p.pid()));
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let end_load = now_ms();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    row.queries = l.len();
    row.errors = errors.load(Ordering::Relaxed);
    let pct = |q: f64| {
        l.get(((l.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    row.p50 = pct(0.5);
    row.p99 = pct(0.99);
    // Scrapes per target during the load: the fewest any target got.
    let secs = (end_load - start_load) / 1000;
    row.expected_scrapes = (secs as u64 / interval_s) as f64;
    if let Ok(r) = p.query(&format!("min(count_over_time(up[{secs}s]))"), end_load) {
        let text = r.text();
        row.min_scrapes = text
            .split("\"value\":[")
            .nth(1)
            .and_then(|v| v.split('"').nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
    }
    println!("{name}: {row:?}");
    row
}

fn main() {
    prom_serve::run_if_requested();
    let args: Vec<String> = std::env::args().collect();
    let targets = env_usize("PROM_BENCH_TARGETS", 10);
    let series = env_usize("PROM_BENCH_SERIES", 10_000);
    if std::env::var("PROM_BENCH_ROLE").as_deref() == Ok("targets") {
        return serve_targets(targets, series);
    }
    let filter: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filter
        .iter()
        .any(|a| !"serve_side_by_side".contains(a.as_str()))
    {
        return;
    }
    let interval_s = env_usize("PROM_BENCH_INTERVAL", 2) as u64;
    let me = std::env::current_exe().expect("own path");
    let work = tempfile::tempdir().expect("tempdir");
    let (_targets, ports) = spawn_targets(&me);
    let cfg_path = work.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config(&ports, &format!("{interval_s}s"))).expect("config");
    println!("serve bench: {targets} targets x {series} series every {interval_s}s");

    let mut rows = Vec::new();
    let server_args = |name: &str| {
        vec![
            format!("--config.file={}", cfg_path.display()),
            format!(
                "--storage.tsdb.path={}",
                work.path().join(format!("{name}-data")).display()
            ),
        ]
    };
    let log = |name: &str| work.path().join(format!("{name}.log"));
    if std::env::var("PROM_BENCH_PEERS").as_deref() != Ok("0") && peers::available("prometheus") {
        let port = peers::free_port().expect("port");
        let mut a = server_args("prometheus");
        a.push(format!("--web.listen-address=127.0.0.1:{port}"));
        let p = Peer::start(
            "prometheus",
            "prometheus",
            &a,
            port,
            &log("prometheus"),
            "/-/ready",
            Duration::from_secs(120),
        )
        .expect("prometheus");
        rows.push(measure(&p, "prometheus 2.42", interval_s));
    } else {
        println!("prometheus skipped (not found or PROM_BENCH_PEERS=0)");
    }
    let p = prom_serve::start("prom", &server_args("prom"), &log("prom")).expect("prom serve");
    rows.push(measure(&p, "prom serve", interval_s));
    drop(p);

    println!(
        "\n| server | CPU s / million samples | RSS | head series | RSS bytes / series | queries | errors | p50 | p99 | peak RSS under load | fewest scrapes / expected |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.3} | {:.0} MiB | {:.0} | {:.0} | {} | {} | {:.1} ms | {:.1} ms | {:.0} MiB | {:.0} / {:.0} |",
            r.name,
            r.cpu / r.samples * 1e6,
            r.rss / 1048576.0,
            r.series,
            r.rss / r.series.max(1.0),
            r.queries,
            r.errors,
            r.p50 * 1e3,
            r.p99 * 1e3,
            r.peak_rss / 1048576.0,
            r.min_scrapes,
            r.expected_scrapes
        );
    }
}
