//! 1,000 rules over 10k series: CPU per rule-evaluation cycle of `prom serve` and Prometheus 2.42
//! in one run, on the same data and the same rule file.
//!
//! The data: `PROM_BENCH_METRICS` (100) counters of 100 series each (10 jobs × 10 instances),
//! one sample every 15 s for the 30 minutes before the run, backfilled once with `promtool tsdb
//! create-blocks-from openmetrics`; each server opens its own copy of the blocks and scrapes
//! nothing. The rules: `PROM_BENCH_RULES` (1,000) in groups of 50 evaluated every
//! `PROM_BENCH_EVAL` (10 s): three in five recording rules (`sum by (job) (rate(…[5m]))`,
//! `max by (instance) (…)`, `avg by (job) (irate(…[1m]))`) and two in five alerting rules (one
//! that fires for every series with `for: 30s`, one that never fires), each reading one metric.
//!
//! Each server runs twice: without rules, to measure its idle CPU rate, then with them for a
//! warm-up (`PROM_BENCH_WARMUP`, 25 s) and a measured window (`PROM_BENCH_SECONDS`, 60 s). CPU per
//! cycle = (CPU in the window − idle rate × window) ÷ cycles in the window. At the end both
//! servers must have recorded the same number of series and hold the same number of firing
//! alerts, so both did the same work.
//!
//! Run: `cargo bench -p prom-benches --bench rules`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prom_benches::env_usize;
use prom_benches::peers::{self, Peer, cpu_seconds};
use prom_benches::prom_serve;
use prom_benches::suite::copy_dir;

const JOBS: usize = 10;
const INSTANCES: usize = 10;
const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 120;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The counters in OpenMetrics text, samples ending `end` milliseconds since the epoch.
fn openmetrics(metrics: usize, end: i64) -> String {
    let mut out = String::new();
    for m in 0..metrics {
        let _ = writeln!(out, "# TYPE bench_m{m} counter");
        for j in 0..JOBS {
            for i in 0..INSTANCES {
                let rate = 1 + (m + j * 7 + i * 3) % 20;
                for s in 0..SAMPLES {
                    let t = end - (SAMPLES - 1 - s) * STEP_MS;
                    let v = s as usize * rate * 15;
                    let _ = writeln!(
                        out,
                        "bench_m{m}_total{{job=\"job{j}\",instance=\"host{i}:9100\"}} {v} {}.{:03}",
                        t / 1000,
                        t % 1000
                    );
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The rule file: `rules` rules in groups of 50.
fn rule_file(rules: usize, metrics: usize, eval: &str) -> String {
    let mut out = String::from("groups:\n");
    for r in 0..rules {
        if r % 50 == 0 {
            let _ = writeln!(
                out,
                "  - name: bench{}\n    interval: {eval}\n    rules:",
                r / 50
            );
        }
        let m = r % metrics;
        let _ = match r % 5 {
            0 => writeln!(
                out,
                "      - record: job:bench_m{m}:rate5m_r{r}\n        expr: sum by (job) (rate(bench_m{m}_total[5m]))"
            ),
            1 => writeln!(
                out,
                "      - record: instance:bench_m{m}:max_r{r}\n        expr: max by (instance) (bench_m{m}_total)"
            ),
            2 => writeln!(
                out,
                "      - record: job:bench_m{m}:irate_r{r}\n        expr: avg by (job) (irate(bench_m{m}_total[1m]))"
            ),
            3 => writeln!(
                out,
                "      - alert: BenchBusy{r}\n        expr: rate(bench_m{m}_total[5m]) > 0\n        for: 30s\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{{{ $labels.instance }}}} of {{{{ $labels.job }}}} at {{{{ $value | humanize }}}}/s\""
            ),
            _ => writeln!(
                out,
                "      - alert: BenchNever{r}\n        expr: rate(bench_m{m}_total[5m]) > 1e9\n        for: 1m"
            ),
        };
    }
    out
}

struct Row {
    name: &'static str,
    idle_rate: f64,
    cpu_per_cycle: f64,
    group_seconds: f64,
    recorded: f64,
    firing: f64,
}

fn scalar(p: &Peer, q: &str) -> f64 {
    let Ok(r) = p.query(q, now_ms()) else {
        return f64::NAN;
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

/// Sum over the rule groups of the last evaluation's duration, from the server's /metrics.
fn group_seconds(p: &Peer) -> f64 {
    let text = p.get("/metrics").map(|r| r.text()).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("prometheus_rule_group_last_duration_seconds{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn measure(
    name: &'static str,
    start: &dyn Fn(&Path, bool) -> std::io::Result<Peer>,
    work: &Path,
    eval_s: f64,
) -> std::io::Result<Row> {
    let idle_window = Duration::from_secs(env_usize("PROM_BENCH_IDLE", 15) as u64);
    let warmup = Duration::from_secs(env_usize("PROM_BENCH_WARMUP", 25) as u64);
    let window = Duration::from_secs(env_usize("PROM_BENCH_SECONDS", 60) as u64);

    let idle_rate = {
        let p = start(&work.join(format!("{name}-idle")), false)?;
        std::thread::sleep(Duration::from_secs(3));
        let c0 = cpu_seconds(p.pid())?;
        let t0 = Instant::now();
        std::thread::sleep(idle_window);
        (cpu_seconds(p.pid())? - c0) / t0.elapsed().as_secs_f64()
    };
    let p = start(&work.join(format!("{name}-rules")), true)?;
    std::thread::sleep(warmup);
    let c0 = cpu_seconds(p.pid())?;
    let t0 = Instant::now();
    std::thread::sleep(window);
    let cpu = cpu_seconds(p.pid())? - c0;
    let secs = t0.elapsed().as_secs_f64();
    let cycles = secs / eval_s;
    let row = Row {
        name,
        idle_rate,
        cpu_per_cycle: (cpu - idle_rate * secs) / cycles,
        group_seconds: group_seconds(&p),
        recorded: scalar(&p, "count({__name__=~\".+:.+_r[0-9]+\"})"),
        firing: scalar(&p, "count(ALERTS{alertstate=\"firing\"})"),
    };
    println!(
        "{name}: idle {:.3} CPU s/s, {:.3} CPU s per cycle, groups {:.3} s per cycle, {} recorded series, {} firing alerts",
        row.idle_rate, row.cpu_per_cycle, row.group_seconds, row.recorded, row.firing
    );
    Ok(row)
}

fn main() {
    prom_serve::run_if_requested();
    if std::env::args().any(|a| a == "--list") {
        println!("rules: bench");
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !peers::available("promtool") {
        println!("rules bench: promtool not found, skipped");
        return;
    }
    let metrics = env_usize("PROM_BENCH_METRICS", 100);
    let rules = env_usize("PROM_BENCH_RULES", 1000);
    let eval_s = env_usize("PROM_BENCH_EVAL", 10);
    let eval = format!("{eval_s}s");
    let work = tempfile::tempdir().expect("temp dir");
    let work = work.path();

    // Data ending a minute ago, so recording results land after the blocks.
    let end = (now_ms() - 60_000) / STEP_MS * STEP_MS;
    let om = work.join("data.om");
    std::fs::write(&om, openmetrics(metrics, end)).expect("write data");
    let blocks = work.join("blocks");
    let t = Instant::now();
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&blocks)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "{} series × {SAMPLES} samples backfilled in {:.1?}; {rules} rules every {eval}",
        metrics * JOBS * INSTANCES,
        t.elapsed()
    );
    std::fs::write(work.join("rules.yml"), rule_file(rules, metrics, &eval)).expect("rules");
    let config = |dir: &Path, with_rules: bool| -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        copy_dir(&blocks, &dir.join("data"))?;
        let path = dir.join("config.yml");
        let mut text = format!("global:\n  evaluation_interval: {eval}\nscrape_configs: []\n");
        if with_rules {
            let _ = writeln!(text, "rule_files: ['{}']", work.join("rules.yml").display());
        }
        std::fs::write(&path, text)?;
        Ok(path)
    };

    let ours = |dir: &Path, with_rules: bool| {
        let cfg = config(dir, with_rules)?;
        prom_serve::start(
            "prom",
            &[
                format!("--config.file={}", cfg.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                "--storage.tsdb.retention.time=100y".into(),
            ],
            &dir.join("log"),
        )
    };
    let prometheus = |dir: &Path, with_rules: bool| {
        let cfg = config(dir, with_rules)?;
        let port = peers::free_port()?;
        Peer::start(
            "prometheus",
            "prometheus",
            &[
                format!("--config.file={}", cfg.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                "--storage.tsdb.retention.time=100y".into(),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ],
            port,
            &dir.join("log"),
            "/-/ready",
            Duration::from_secs(120),
        )
    };

    let mut rows = vec![measure("prom", &ours, work, eval_s as f64).expect("prom serve")];
    if peers::available("prometheus") && std::env::var("PROM_BENCH_PEERS").as_deref() != Ok("0") {
        rows.push(measure("prometheus", &prometheus, work, eval_s as f64).expect("prometheus"));
    }
    println!();
    println!(
        "| server | CPU s per cycle | rule groups' wall s per cycle | recorded series | firing alerts |"
    );
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.3} | {:.3} | {} | {} |",
            r.name, r.cpu_per_cycle, r.group_seconds, r.recorded, r.firing
        );
    }
    if let [ours, theirs] = &rows[..] {
        println!(
            "\nCPU per evaluation cycle, prom ÷ Prometheus: {:.2}x (target ≤ 0.5x)",
            ours.cpu_per_cycle / theirs.cpu_per_cycle
        );
        if ours.recorded != theirs.recorded || ours.firing != theirs.firing {
            println!(
                "WARNING: the servers disagree: recorded {} vs {}, firing {} vs {}",
                ours.recorded, theirs.recorded, ours.firing, theirs.firing
            );
        }
    }
}
