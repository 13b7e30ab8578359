//! The PromQL query suite over HTTP: `prom serve`, Prometheus 2.42 and VictoriaMetrics 1.79
//! answering the same queries on the same data, in the same run.
//!
//! Data and queries: `prom_benches::suite` (10,000 series × 2h at 15 s; ten queries, each
//! instant at the last sample and as range queries over the whole 2h at 15 s and 60 s steps).
//! The samples are backfilled once with `promtool tsdb create-blocks-from openmetrics`;
//! `prom serve` opens a copy of those blocks (`--storage.tsdb.path`, a configuration that
//! scrapes nothing) and Prometheus the originals; VictoriaMetrics (`-search.disableCache`)
//! imports the same samples. All three run at once.
//!
//! Every request is an HTTP/1.0 GET on a fresh connection with the whole JSON body read
//! (`prom_benches::peers`; in the timed rounds the body is dropped as it arrives, as `curl -o
//! /dev/null` does, so that the client's memory is not part of the figure). Before timing, each query runs once on each server and series
//! counts that differ are printed. Then `PROM_BENCH_REPS` (default 9) rounds: in each round
//! every server answers every query once, servers in a rotating order so that load on the
//! machine falls on all alike. The table gives the median latency per server and the ratios
//! of `prom serve` to each peer; the targets are no slower than VictoriaMetrics on every
//! query, and at most ¼ of Prometheus on range queries.
//!
//! Needs `promtool`, `prometheus` and `victoria-metrics`; a missing peer is skipped (and
//! said). `PROM_BENCH_INSTANCES` (default 100, 100 series each) shrinks the data set;
//! `PROM_BENCH_QUERIES` (names, comma-separated, e.g. `rate,topk`) runs part of the suite.
//!
//! ```text
//! cargo bench -p prom-benches --bench serve_query
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use prom_benches::env_usize;
use prom_benches::peers::{self, Peer};
use prom_benches::prom_serve;
use prom_benches::suite::{
    MODES, Mode, QUERIES, backfill, copy_dir, peer_query, peer_query_discarding, series,
    start_prometheus, start_victoriametrics,
};

/// The median of `v` (sorted in place); 0 when empty.
fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `f` once, failing the bench on an error.
fn time<T>(f: impl FnOnce() -> std::io::Result<T>) -> Duration {
    let t = Instant::now();
    let r = f().expect("query");
    let d = t.elapsed();
    std::hint::black_box(r);
    d
}

fn main() {
    prom_serve::run_if_requested();
    // `cargo bench -- FILTER`: run only when the filter names this bench.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filter.iter().any(|a| !"serve_query".contains(a.as_str())) {
        return;
    }
    let reps = env_usize("PROM_BENCH_REPS", 9).max(1);
    let instances = env_usize("PROM_BENCH_INSTANCES", 100);
    let all = series(instances);
    let work = tempfile::tempdir().expect("tempdir");
    println!(
        "serve_query bench: {} series x {} samples, {reps} rounds, in {}",
        all.len(),
        prom_benches::suite::SAMPLES,
        work.path().display()
    );
    let blocks = work.path().join("prometheus");
    backfill(&all, work.path(), &blocks).expect("backfill with promtool");
    let ours_dir = work.path().join("prom");
    copy_dir(&blocks, &ours_dir).expect("copy blocks");
    let config = work.path().join("prom.yml");
    std::fs::write(&config, "global: {}\nscrape_configs: []\n").expect("config");
    let t = Instant::now();
    let prom = prom_serve::start(
        "prom serve",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", ours_dir.display()),
            "--storage.tsdb.retention.time=100y".into(),
        ],
        &work.path().join("prom.log"),
    )
    .expect("prom serve");
    println!(
        "prom serve ready on port {} in {:.1?}",
        prom.port,
        t.elapsed()
    );
    let prometheus = start_prometheus(work.path(), &blocks)
        .map_err(|e| println!("prometheus skipped: {e}"))
        .ok();
    let victoriametrics = start_victoriametrics(work.path(), &all)
        .map_err(|e| println!("victoriametrics skipped: {e}"))
        .ok();
    let servers: Vec<&Peer> = std::iter::once(&prom)
        .chain(prometheus.iter())
        .chain(victoriametrics.iter())
        .collect();

    let only = std::env::var("PROM_BENCH_QUERIES").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|n| n.trim() == name);

    // Same answers before timing.
    let mut mismatches = 0;
    for (name, q) in QUERIES.into_iter().filter(|(n, _)| wanted(n)) {
        for (mode_name, mode) in MODES {
            let mut line = format!("{name}_{mode_name}:");
            let mut counts = Vec::new();
            for s in &servers {
                match peer_query(s, q, mode) {
                    Ok(r) => {
                        let n = peers::count_series(&r.body);
                        counts.push(n);
                        let _ = write!(line, " {} {n} ({} bytes)", s.name, r.body.len());
                    }
                    Err(e) => {
                        counts.push(usize::MAX);
                        let _ = write!(line, " {} error {e}", s.name);
                    }
                }
            }
            if counts.windows(2).all(|w| w[0] == w[1]) {
                println!("series {line}");
            } else {
                mismatches += 1;
                println!("series count MISMATCH {line}");
            }
        }
    }
    println!("{mismatches} query/mode pairs with differing series counts");

    // Rounds: every server answers every query once per round, in rotating order.
    let cases: Vec<(&str, &str, &str, Mode)> = QUERIES
        .iter()
        .filter(|(n, _)| wanted(n))
        .flat_map(|(name, q)| MODES.iter().map(move |(m, mode)| (*name, *m, *q, *mode)))
        .collect();
    let mut round_trip = vec![Vec::new(); servers.len()];
    let mut times = vec![vec![Vec::new(); servers.len()]; cases.len()];
    for round in 0..reps {
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let s = servers[i];
            round_trip[i].push(time(|| s.get_discarding("/api/v1/query?query=1")));
            for (c, (_, _, q, mode)) in cases.iter().enumerate() {
                times[c][i].push(time(|| peer_query_discarding(s, q, *mode)));
            }
        }
        println!("round {}/{reps} done", round + 1);
    }

    let prometheus_col = prometheus.as_ref().map(|_| 1);
    let vm_col = victoriametrics
        .as_ref()
        .map(|_| 1 + usize::from(prometheus.is_some()));
    let mut header = String::from("| query | mode ");
    for s in &servers {
        let _ = write!(header, "| {} ", s.name);
    }
    if prometheus_col.is_some() {
        header.push_str("| prom / Prometheus ");
    }
    if vm_col.is_some() {
        header.push_str("| prom / VictoriaMetrics ");
    }
    println!("\nmedian latency of {reps} rounds, milliseconds\n\n{header}|");
    println!(
        "|---|---|{}",
        "---:|".repeat(servers.len() + prometheus_col.iter().count() + vm_col.iter().count())
    );
    let rt: Vec<f64> = round_trip.iter_mut().map(|v| ms(median(v))).collect();
    let mut row = String::from("| `query=1` (round trip) | instant ");
    for r in &rt {
        let _ = write!(row, "| {r:.2} ");
    }
    for c in [prometheus_col, vm_col].into_iter().flatten() {
        let _ = write!(row, "| {:.2}x ", rt[0] / rt[c]);
    }
    println!("{row}|");
    let (mut vm_missed, mut prom_missed) = (Vec::new(), Vec::new());
    for (c, (query, mode_name, _, mode)) in cases.iter().enumerate() {
        let m: Vec<f64> = times[c].iter_mut().map(|v| ms(median(v))).collect();
        let name = format!("{query}_{mode_name}");
        let mut row = format!("| {query} | {mode_name} ");
        for v in &m {
            let _ = write!(row, "| {v:.2} ");
        }
        if let Some(p) = prometheus_col {
            let ratio = m[0] / m[p];
            let _ = write!(row, "| {ratio:.2}x ");
            if matches!(mode, Mode::Range(_)) && ratio > 0.25 {
                prom_missed.push(format!("{name} ({ratio:.2}x)"));
            }
        }
        if let Some(v) = vm_col {
            let ratio = m[0] / m[v];
            let _ = write!(row, "| {ratio:.2}x ");
            if ratio > 1.0 {
                vm_missed.push(format!("{name} ({ratio:.2}x)"));
            }
        }
        println!("{row}|");
    }
    println!();
    if vm_col.is_some() {
        println!(
            "slower than VictoriaMetrics on {} of {} queries: {}",
            vm_missed.len(),
            cases.len(),
            vm_missed.join(", ")
        );
    }
    if prometheus_col.is_some() {
        println!(
            "range queries above 1/4 of Prometheus: {} of {}: {}",
            prom_missed.len(),
            cases
                .iter()
                .filter(|c| matches!(c.3, Mode::Range(_)))
                .count(),
            prom_missed.join(", ")
        );
    }
}
