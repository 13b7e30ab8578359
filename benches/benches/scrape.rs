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

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prom_benches::peers::{self, Peer};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One target's exposition at scrape `n`: 60% counters, histograms of 13 lines each
/// (10 buckets, `+Inf`, `_count`, `_sum`) for about 30%, gauges for the rest.
fn body(target: usize, series: usize, n: u64, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let counters = series * 6 / 10;
    let hists = series * 3 / 10 / 13;
    let gauges = series - counters - hists * 13;
    out.push_str(
        "# HELP app_requests_total Requests handled.\n# TYPE app_requests_total counter\n",
    );
    for i in 0..counters {
        let _ = writeln!(
            out,
            "app_requests_total{{handler=\"/api/v{}/item{}\",code=\"{}\",method=\"GET\"}} {}",
            i % 3,
            i / 3,
            200 + (i % 5) * 100,
            n * (i as u64 % 7 + 1) + target as u64
        );
    }
    out.push_str("# HELP app_queue_depth Items waiting.\n# TYPE app_queue_depth gauge\n");
    for i in 0..gauges {
        let v = ((n as usize * 31 + i * 17 + target) % 1000) as f64 / 10.0;
        let _ = writeln!(
            out,
            "app_queue_depth{{queue=\"q{i}\",shard=\"{}\"}} {v}",
            i % 4
        );
    }
    out.push_str("# HELP app_latency_seconds Latency.\n# TYPE app_latency_seconds histogram\n");
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ];
    for h in 0..hists {
        let mut acc = 0u64;
        for (b, le) in les.iter().enumerate() {
            acc += n * (b as u64 % 4);
            let _ = writeln!(
                out,
                "app_latency_seconds_bucket{{route=\"r{h}\",le=\"{le}\"}} {acc}"
            );
        }
        let _ = writeln!(out, "app_latency_seconds_count{{route=\"r{h}\"}} {acc}");
        let _ = writeln!(
            out,
            "app_latency_seconds_sum{{route=\"r{h}\"}} {}",
            acc as f64 * 0.07
        );
    }
}

/// The target server: one listener per target, keep-alive HTTP/1.1, bodies regenerated per
/// request. Prints the ports on one line, then serves until killed.
fn serve_targets(targets: usize, series: usize) {
    let mut ports = Vec::new();
    for t in 0..targets {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        ports.push(l.local_addr().expect("addr").port().to_string());
        let scrapes = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let scrapes = scrapes.clone();
                std::thread::spawn(move || serve_conn(conn, t, series, &scrapes));
            }
        });
    }
    println!("{}", ports.join(" "));
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn serve_conn(conn: TcpStream, target: usize, series: usize, scrapes: &AtomicU64) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut w = conn;
    let mut text = String::new();
    loop {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let n = scrapes.fetch_add(1, Ordering::Relaxed);
        body(target, series, n, &mut text);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

fn config(ports: &[String], interval: &str) -> String {
    let targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// The value of an unlabelled metric in an exposition.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

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

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let mut t = Command::new(&me)
        .env("PROM_BENCH_ROLE", "targets")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start targets");
    let mut line = String::new();
    BufReader::new(t.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ports");
    let _targets = KillOnDrop(t);
    let ports: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
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
