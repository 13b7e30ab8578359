//! Steady-state scraping, side by side with Prometheus 2.42 in the same run: CPU seconds per
//! million samples ingested.
//!
//! One child process serves `PROM_BENCH_TARGETS` (default 100) synthetic targets on their own
//! local ports, each exposing `PROM_BENCH_SERIES` (default 1,000) series in the Prometheus
//! text format: counters whose values move every scrape, a gauge family and a histogram, with
//! HELP/TYPE lines, as an exporter writes them. Then, one after the other on the same
//! targets, each scraper runs for a warm-up (`PROM_BENCH_WARMUP`, default 10 s) and a
//! measured window (`PROM_BENCH_SECONDS`, default 30 s) at a 1 s scrape interval:
//!
//! - **prometheus**: Debian's `prometheus` with a config listing the targets, fresh data dir;
//!   CPU from `/proc/<pid>/stat`, samples from its `prometheus_tsdb_head_samples_appended_total`.
//! - **prom_scrape**: this binary re-executed as a scraper process running prom-scrape's
//!   `ScrapeManager` into prom-tsdb (`Db::open`, fresh dir); CPU from its own `/proc` entry,
//!   samples from prom-tsdb's `prometheus_tsdb_head_samples_appended_total`.
//!
//! Both append the same samples (targets × series plus the report series per scrape). The
//! figure is CPU seconds of the scraper process over the window divided by samples appended
//! in it, per million. Without `prometheus`, or with `PROM_BENCH_PEERS=0`, only ours runs.
//!
//! Run: `cargo bench -p prom-benches --bench scrape`.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use prom_benches::env_usize;
use prom_benches::peers::{self, Peer};
use prom_benches::targets::{config, metric, serve_targets, spawn_targets};

/// The scraper role: prom-scrape into prom-tsdb; prints `cpu samples` at the end of the
/// warm-up and of the window.
fn run_scraper(config_path: &Path, data: &Path, warmup: Duration, window: Duration) {
    use prom_scrape::config::{Config, LoadOptions};
    use prom_scrape::manager::{ManagerOptions, ScrapeManager};
    let cfg = Config::load_file(config_path, LoadOptions::default()).expect("config");
    let mut opts = prom_tsdb::Options::default();
    // Prometheus writes its WAL without an fsync per commit; `never` gives prom-tsdb the same
    // durability (a commit survives the process being killed, not a power loss).
    if std::env::var("PROM_BENCH_WAL_SYNC").as_deref() != Ok("always") {
        opts.wal_sync = prom_tsdb::SyncPolicy::Never;
    }
    let db = Arc::new(prom_tsdb::Db::open(data, opts).expect("db"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pid = std::process::id();
    let appended = |db: &prom_tsdb::Db| {
        metric(
            &db.metrics_text(),
            "prometheus_tsdb_head_samples_appended_total",
        )
        .unwrap_or(0.0)
    };
    rt.block_on(async {
        let m = ScrapeManager::new(
            db.clone(),
            ManagerOptions {
                discovery_settle: Duration::from_millis(100),
                ..ManagerOptions::default()
            },
        );
        m.apply_config(&cfg).expect("apply");
        tokio::time::sleep(warmup).await;
        let (c0, s0) = (peers::cpu_seconds(pid).expect("cpu"), appended(&db));
        tokio::time::sleep(window).await;
        let (c1, s1) = (peers::cpu_seconds(pid).expect("cpu"), appended(&db));
        println!("{} {}", c1 - c0, s1 - s0);
        let up = m
            .targets()
            .iter()
            .filter(|t| t.status.health == prom_scrape::manager::Health::Up)
            .count();
        println!("up {up}");
        m.shutdown(false).await;
    });
}

fn main() {
    let targets = env_usize("PROM_BENCH_TARGETS", 100);
    let series = env_usize("PROM_BENCH_SERIES", 1000);
    let warmup = Duration::from_secs(env_usize("PROM_BENCH_WARMUP", 10) as u64);
    let window = Duration::from_secs(env_usize("PROM_BENCH_SECONDS", 30) as u64);
    match std::env::var("PROM_BENCH_ROLE").as_deref() {
        Ok("targets") => return serve_targets(targets, series),
        Ok("scraper") => {
            let cfg = std::env::var("PROM_BENCH_CONFIG").expect("config path");
            let data = std::env::var("PROM_BENCH_DATA").expect("data dir");
            return run_scraper(Path::new(&cfg), Path::new(&data), warmup, window);
        }
        _ => {}
    }
    // `cargo bench` passes flags; only run when the filter (if any) names this bench.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if args
        .iter()
        .any(|a| !"scrape_steady_state".contains(a.as_str()))
    {
        return;
    }
    let me = std::env::current_exe().expect("own path");
    let work = tempfile::tempdir().expect("tempdir");
    let (_targets, ports) = spawn_targets(&me);
    let cfg_path = work.path().join("prometheus.yml");
    std::fs::write(&cfg_path, config(&ports, "1s")).expect("config");
    let per_scrape = series + 5;
    println!(
        "scrape bench: {targets} targets x {series} series at 1 s ({} samples/s with report series); warm-up {warmup:?}, window {window:?}",
        targets * per_scrape
    );
    let mut rows: Vec<(&str, f64, f64)> = Vec::new();

    let want_peers = std::env::var("PROM_BENCH_PEERS").as_deref() != Ok("0");
    if want_peers && peers::available("prometheus") {
        let port = peers::free_port().expect("port");
        let data = work.path().join("prometheus-data");
        let p = Peer::start(
            "prometheus",
            "prometheus",
            &[
                format!("--config.file={}", cfg_path.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ],
            port,
            &work.path().join("prometheus.log"),
            "/-/ready",
            Duration::from_secs(60),
        )
        .expect("prometheus");
        let appended = |p: &Peer| {
            p.get("/metrics")
                .ok()
                .and_then(|r| {
                    metric(
                        &r.text(),
                        "prometheus_tsdb_head_samples_appended_total{type=\"float\"}",
                    )
                    .or_else(|| metric(&r.text(), "prometheus_tsdb_head_samples_appended_total"))
                })
                .unwrap_or(0.0)
        };
        std::thread::sleep(warmup);
        let (c0, s0) = (peers::cpu_seconds(p.pid()).expect("cpu"), appended(&p));
        std::thread::sleep(window);
        let (c1, s1) = (peers::cpu_seconds(p.pid()).expect("cpu"), appended(&p));
        let mut up = String::new();
        if let Ok(r) = p.get("/api/v1/query?query=sum(up)") {
            up = r.text();
        }
        println!(
            "prometheus: {:.2} CPU s, {:.0} samples; sum(up): {up}",
            c1 - c0,
            s1 - s0
        );
        rows.push(("prometheus 2.42", c1 - c0, s1 - s0));
        drop(p);
    } else {
        println!("prometheus skipped (not found or PROM_BENCH_PEERS=0)");
    }

    for (name, sync) in [
        (
            "prom_scrape, WAL not synced per commit (as Prometheus)",
            "never",
        ),
        (
            "prom_scrape, WAL fsync per commit (prom-tsdb default)",
            "always",
        ),
    ] {
        let data = work.path().join(format!("prom-data-{sync}"));
        let mut child = Command::new(&me)
            .env("PROM_BENCH_ROLE", "scraper")
            .env("PROM_BENCH_CONFIG", &cfg_path)
            .env("PROM_BENCH_DATA", &data)
            .env("PROM_BENCH_WAL_SYNC", sync)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start scraper");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("scraper output");
        let _ = child.wait();
        let mut lines = out.lines();
        let nums: Vec<f64> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        println!(
            "{name}: {:.2} CPU s, {:.0} samples; {}",
            nums[0],
            nums[1],
            lines.next().unwrap_or("")
        );
        rows.push((name, nums[0], nums[1]));
    }

    println!();
    println!("| scraper | CPU s | samples | CPU s per million samples |");
    println!("|---|---:|---:|---:|");
    for (name, cpu, samples) in &rows {
        println!(
            "| {name} | {cpu:.2} | {samples:.0} | {:.3} |",
            cpu / samples * 1e6
        );
    }
    if rows.len() == 3 {
        let theirs = rows[0].1 / rows[0].2;
        for (name, cpu, samples) in &rows[1..] {
            println!(
                "{name}: {:.2}x Prometheus's CPU per sample (target: at most 0.5x)",
                cpu / samples / theirs
            );
        }
    }
}
