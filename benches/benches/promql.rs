//! The PromQL engine against Prometheus 2.42 and VictoriaMetrics 1.79 on the same data, in the
//! same run.
//!
//! Data: 10,000 series × 2h at 15 s (4.8M samples), 100 instances over 4 jobs, each with 20
//! counters (`http_requests_total{method, code}`), 19 gauges (`node_cpu_usage_ratio{cpu}`), a
//! classic histogram (`http_request_duration_seconds` by 5 handlers: 10 `le` buckets, `_sum`,
//! `_count`) and one `app_build_info{version, region}`; deterministic values (splitmix64).
//! Set `PROM_BENCH_INSTANCES` (default 100, 100 series each) for a smaller run.
//!
//! The data are written as OpenMetrics and backfilled with `promtool tsdb create-blocks-from
//! openmetrics`; prom-tsdb opens a copy of those blocks (`Db::open`) and Prometheus serves the
//! originals. VictoriaMetrics (`-search.disableCache`) imports the same samples through
//! `/api/v1/import/prometheus`. Without promtool, or with `PROM_BENCH_PEERS=0`, the peers are
//! skipped (the bench says so) and prom-tsdb is written through its own appender instead.
//!
//! Criterion groups `<query>_<mode>`, mode `instant` (at the last sample), `range_15s` and
//! `range_60s` (over the whole 2h), each with `prom_promql` (in process: parsed once,
//! evaluated, no HTTP and no JSON), `prometheus` and `victoriametrics` (an HTTP GET to the query
//! API and the whole JSON body read). Group `http_round_trip` times `/api/v1/query?query=1` on
//! both peers, the overhead to subtract from theirs. Before timing, every query is run once on
//! each engine and series counts that differ are printed.
//!
//! ```text
//! cargo bench -p prom-benches --bench promql -- --warm-up-time 1 --measurement-time 3 --sample-size 10
//! ```

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use prom_benches::peers::{self, Peer};
use prom_model::{Appender, Labels};
use prom_promql::engine::Value;
use prom_promql::{Engine, EngineOptions, parse};
use prom_tsdb::{Db, Options};

const JOBS: [&str; 4] = ["api-server", "frontend", "billing-worker", "node"];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "304", "404", "500"];
const HANDLERS: [&str; 5] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/metrics",
    "/-/healthy",
];
const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
const CPUS: usize = 19;
/// 2023-11-14T22:13:20Z, the first sample.
const START: i64 = 1_700_000_000_000;
const INTERVAL: i64 = 15_000;
/// 2h at 15 s.
const SAMPLES: usize = 480;
const END: i64 = START + (SAMPLES as i64 - 1) * INTERVAL;

/// The suite: a name (the criterion group's prefix) and the query.
const QUERIES: [(&str, &str); 10] = [
    ("rate", "rate(http_requests_total[5m])"),
    (
        "sum_by",
        "sum by (job, code) (rate(http_requests_total[5m]))",
    ),
    ("topk", "topk(5, sum by (instance) (node_cpu_usage_ratio))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.9, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    ("avg_over_time", "avg_over_time(node_cpu_usage_ratio[10m])"),
    (
        "subquery",
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    ),
    (
        "group_left",
        "rate(http_requests_total[5m]) * on (job, instance) group_left (version, region) app_build_info",
    ),
    (
        "label_replace",
        r#"label_replace(node_cpu_usage_ratio, "host", "$1", "instance", "([^:]+):.*")"#,
    ),
    (
        "count_values",
        r#"count_values("decile", round(node_cpu_usage_ratio * 10))"#,
    ),
    (
        "regex_selectors",
        r#"rate(http_requests_total{job=~"api-.*|frontend", code=~"2..", method!~"PUT|DELETE"}[5m])"#,
    ),
];

/// Instant at the last sample, or a range over the whole 2h at a step (milliseconds).
#[derive(Clone, Copy)]
enum Mode {
    Instant,
    Range(i64),
}

const MODES: [(&str, Mode); 3] = [
    ("instant", Mode::Instant),
    ("range_15s", Mode::Range(15_000)),
    ("range_60s", Mode::Range(60_000)),
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64 of a seed: deterministic, well mixed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn draw(seed: u64, k: usize, j: usize) -> u64 {
    mix(seed ^ ((k as u64) << 20) ^ ((j as u64) << 48))
}

/// How a series' values evolve.
enum Kind {
    Counter,
    Gauge,
    Bucket(usize),
    Sum,
    Count,
    Info,
}

struct Series {
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    kind: Kind,
    seed: u64,
}

impl Series {
    /// `name{a="b",…}` as both text formats write it.
    fn text(&self, out: &mut String) {
        out.clear();
        out.push_str(self.name);
        out.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{v}\"");
        }
        out.push('}');
    }

    fn values(&self, out: &mut Vec<f64>) {
        out.clear();
        let mut acc = 0u64;
        for k in 0..SAMPLES {
            let v = match self.kind {
                Kind::Counter => {
                    acc += draw(self.seed, k, 0) % 100;
                    acc as f64
                }
                Kind::Gauge => (draw(self.seed, k, 0) % 1000) as f64 / 1000.0,
                // Observations per bucket per scrape, summed up to this bucket.
                Kind::Bucket(j) => {
                    acc += (0..=j).map(|b| draw(self.seed, k, b) % 10).sum::<u64>();
                    acc as f64
                }
                Kind::Count => {
                    acc += (0..LE.len())
                        .map(|b| draw(self.seed, k, b) % 10)
                        .sum::<u64>();
                    acc as f64
                }
                // Each observation at the middle of its bucket, in milliseconds.
                Kind::Sum => {
                    acc += (0..LE.len())
                        .map(|b| (draw(self.seed, k, b) % 10) * (b as u64 * 300 + 3))
                        .sum::<u64>();
                    acc as f64 / 1000.0
                }
                Kind::Info => 1.0,
            };
            out.push(v);
        }
    }
}

/// 100 series per instance, grouped by metric family (OpenMetrics wants families whole).
fn series(instances: usize) -> Vec<Series> {
    let target = |i: usize| {
        vec![
            ("job", JOBS[i % JOBS.len()].to_owned()),
            ("instance", format!("10.0.{}.{}:9100", i / 256, i % 256)),
        ]
    };
    let mut out = Vec::with_capacity(instances * 100);
    let mut seed = 0u64;
    let push = |out: &mut Vec<Series>, seed: &mut u64, name, labels, kind| {
        *seed += 1;
        out.push(Series {
            name,
            labels,
            kind,
            seed: mix(*seed),
        });
    };
    for i in 0..instances {
        for m in METHODS {
            for c in CODES {
                let mut l = target(i);
                l.push(("method", m.to_owned()));
                l.push(("code", c.to_owned()));
                push(&mut out, &mut seed, "http_requests_total", l, Kind::Counter);
            }
        }
    }
    for i in 0..instances {
        for cpu in 0..CPUS {
            let mut l = target(i);
            l.push(("cpu", cpu.to_string()));
            push(&mut out, &mut seed, "node_cpu_usage_ratio", l, Kind::Gauge);
        }
    }
    for i in 0..instances {
        for h in HANDLERS {
            // One seed for the histogram, so its buckets, sum and count agree.
            seed += 1;
            let hs = mix(seed);
            let mut l = target(i);
            l.push(("handler", h.to_owned()));
            for (j, le) in LE.iter().enumerate() {
                let mut lb = l.clone();
                lb.push(("le", (*le).to_owned()));
                let kind = if j + 1 == LE.len() {
                    Kind::Count
                } else {
                    Kind::Bucket(j)
                };
                out.push(Series {
                    name: "http_request_duration_seconds_bucket",
                    labels: lb,
                    kind,
                    seed: hs,
                });
            }
            for (name, kind) in [
                ("http_request_duration_seconds_sum", Kind::Sum),
                ("http_request_duration_seconds_count", Kind::Count),
            ] {
                out.push(Series {
                    name,
                    labels: l.clone(),
                    kind,
                    seed: hs,
                });
            }
        }
    }
    for i in 0..instances {
        let mut l = target(i);
        l.push(("version", format!("1.{}.0", i % 3)));
        l.push(("region", ["eu-west", "us-east"][i % 2].to_owned()));
        push(&mut out, &mut seed, "app_build_info", l, Kind::Info);
    }
    out
}

fn family_header(s: &Series) -> Option<&'static str> {
    match s.name {
        "http_requests_total" => Some("# TYPE http_requests counter\n"),
        "node_cpu_usage_ratio" => Some("# TYPE node_cpu_usage_ratio gauge\n"),
        "http_request_duration_seconds_bucket" => {
            Some("# TYPE http_request_duration_seconds histogram\n")
        }
        "app_build_info" => Some("# TYPE app_build_info gauge\n"),
        _ => None,
    }
}

/// The series as OpenMetrics with second timestamps, for promtool.
fn write_openmetrics(all: &[Series], path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let (mut text, mut vals, mut last) = (String::new(), Vec::new(), "");
    for s in all {
        if s.name != last
            && let Some(h) = family_header(s)
            && !(last.starts_with("http_request_duration_seconds")
                && s.name.starts_with("http_request_duration_seconds"))
        {
            w.write_all(h.as_bytes())?;
        }
        last = s.name;
        s.text(&mut text);
        s.values(&mut vals);
        for (k, v) in vals.iter().enumerate() {
            let t = START + k as i64 * INTERVAL;
            writeln!(w, "{text} {v} {}", t / 1000)?;
        }
    }
    w.write_all(b"# EOF\n")?;
    w.flush()
}

/// The series as Prometheus text with millisecond timestamps, for VictoriaMetrics's import,
/// in bodies of about `chunk` series.
fn import_victoriametrics(all: &[Series], vm: &Peer, chunk: usize) -> std::io::Result<()> {
    let (mut text, mut vals) = (String::new(), Vec::new());
    for part in all.chunks(chunk) {
        let mut body = String::with_capacity(part.len() * SAMPLES * 100);
        for s in part {
            s.text(&mut text);
            s.values(&mut vals);
            for (k, v) in vals.iter().enumerate() {
                let _ = writeln!(body, "{text} {v} {}", START + k as i64 * INTERVAL);
            }
        }
        let r = vm.post("/api/v1/import/prometheus", body.as_bytes())?;
        if r.status / 100 != 2 {
            return Err(std::io::Error::other(format!(
                "import: HTTP {}: {}",
                r.status,
                r.text()
            )));
        }
    }
    Ok(())
}

/// Without promtool: the same samples through prom-tsdb's appender, flushed into a block.
fn append_directly(all: &[Series], dir: &Path) {
    let db = open_db(dir);
    let mut vals = Vec::new();
    for s in all {
        let mut pairs: Vec<(&str, &str)> = vec![("__name__", s.name)];
        pairs.extend(s.labels.iter().map(|(k, v)| (*k, v.as_str())));
        let labels = Labels::from_pairs(&pairs);
        s.values(&mut vals);
        let mut app = db.appender();
        let mut r = None;
        for (k, v) in vals.iter().enumerate() {
            r = Some(
                app.append(r, &labels, START + k as i64 * INTERVAL, *v)
                    .expect("append"),
            );
        }
        app.commit().expect("commit");
    }
    db.flush_head().expect("flush");
}

fn open_db(dir: &Path) -> Db {
    let mut o = Options::default();
    o.background_compaction = false;
    o.retention_time = None;
    Db::open(dir, o).expect("open prom-tsdb")
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), dst)?;
        }
    }
    Ok(())
}

fn series_in(v: &Value) -> usize {
    match v {
        Value::Vector(v) => v.len(),
        Value::Matrix(m) => m.len(),
        Value::Scalar(..) | Value::String(..) => 1,
    }
}

struct World {
    _dir: tempfile::TempDir,
    db: Db,
    engine: Engine,
    prometheus: Option<Peer>,
    victoriametrics: Option<Peer>,
}

impl World {
    fn build() -> World {
        let instances = env_usize("PROM_BENCH_INSTANCES", 100);
        let all = series(instances);
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = dir.path().join("prom-tsdb");
        let want_peers = std::env::var("PROM_BENCH_PEERS").as_deref() != Ok("0");
        let have_promtool = want_peers && peers::available("promtool");
        println!(
            "promql bench: {} series x {SAMPLES} samples at 15 s ({} samples), in {}",
            all.len(),
            all.len() * SAMPLES,
            dir.path().display()
        );
        let (mut prometheus, mut victoriametrics) = (None, None);
        if have_promtool {
            let om = dir.path().join("data.om");
            let blocks = dir.path().join("prometheus");
            let t = Instant::now();
            write_openmetrics(&all, &om).expect("write OpenMetrics");
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
            let _ = std::fs::remove_file(&om);
            println!("backfilled with promtool in {:.1?}", t.elapsed());
            // Our copy before Prometheus adds its lock and WAL.
            copy_dir(&blocks, &ours).expect("copy blocks");
            prometheus = start_prometheus(dir.path(), &blocks)
                .map_err(|e| println!("prometheus skipped: {e}"))
                .ok();
            victoriametrics = start_victoriametrics(dir.path(), &all)
                .map_err(|e| println!("victoriametrics skipped: {e}"))
                .ok();
        } else {
            println!(
                "peers skipped ({}): prom_promql alone, data written through prom-tsdb's appender",
                if want_peers {
                    "promtool not found"
                } else {
                    "PROM_BENCH_PEERS=0"
                }
            );
            append_directly(&all, &ours);
        }
        let db = open_db(&ours);
        World {
            _dir: dir,
            db,
            engine: Engine::new(EngineOptions::default()),
            prometheus,
            victoriametrics,
        }
    }

    fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.prometheus.iter().chain(self.victoriametrics.iter())
    }

    fn ours(&self, expr: &prom_promql::ast::Expr, mode: Mode) -> Value {
        let r = match mode {
            Mode::Instant => self.engine.instant(&self.db, expr, END),
            Mode::Range(step) => self.engine.range(&self.db, expr, START, END, step),
        };
        r.expect("prom_promql query").value
    }
}

fn peer_query(p: &Peer, q: &str, mode: Mode) -> std::io::Result<peers::Response> {
    match mode {
        Mode::Instant => p.query(q, END),
        Mode::Range(step) => p.query_range(q, START, END, step),
    }
}

fn start_prometheus(work: &Path, blocks: &Path) -> std::io::Result<Peer> {
    if !peers::available("prometheus") {
        return Err(std::io::Error::other("prometheus not found"));
    }
    let config = work.join("prometheus.yml");
    std::fs::write(&config, "global: {}\nscrape_configs: []\n")?;
    let port = peers::free_port()?;
    let t = Instant::now();
    let p = Peer::start(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", blocks.display()),
            "--storage.tsdb.retention.time=100y".into(),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        port,
        &work.join("prometheus.log"),
        "/-/ready",
        Duration::from_secs(120),
    )?;
    println!("prometheus ready on port {port} in {:.1?}", t.elapsed());
    Ok(p)
}

fn start_victoriametrics(work: &Path, all: &[Series]) -> std::io::Result<Peer> {
    if !peers::available("victoria-metrics") {
        return Err(std::io::Error::other("victoria-metrics not found"));
    }
    let port = peers::free_port()?;
    let vm = Peer::start(
        "victoriametrics",
        "victoria-metrics",
        &[
            format!(
                "-storageDataPath={}",
                work.join("victoriametrics").display()
            ),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-search.disableCache".into(),
            "-retentionPeriod=100y".into(),
        ],
        port,
        &work.join("victoriametrics.log"),
        "/health",
        Duration::from_secs(60),
    )?;
    let t = Instant::now();
    import_victoriametrics(all, &vm, 200)?;
    vm.get("/internal/force_flush")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = vm.query("count({__name__=~\".+\"})", END)?;
        let text = r.text();
        if text.contains(&format!("\"{}\"]", all.len())) {
            break;
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "victoriametrics has not all {} series after import: {text}",
                all.len()
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    println!(
        "victoriametrics ready on port {port}, imported in {:.1?}",
        t.elapsed()
    );
    Ok(vm)
}

fn bench(c: &mut Criterion) {
    let world = World::build();

    // Same answers before timing: series counts per query and mode.
    let mut mismatches = 0;
    for (name, q) in QUERIES {
        let expr = parse(q).expect("parse");
        for (mode_name, mode) in MODES {
            let ours = series_in(&world.ours(&expr, mode));
            let mut line = format!("{name}_{mode_name}: prom_promql {ours}");
            let mut same = true;
            for p in world.peers() {
                match peer_query(p, q, mode) {
                    Ok(r) => {
                        let n = peers::count_series(&r.body);
                        same &= n == ours;
                        let _ = write!(line, ", {} {n}", p.name);
                    }
                    Err(e) => {
                        same = false;
                        let _ = write!(line, ", {} error {e}", p.name);
                    }
                }
            }
            if !same {
                mismatches += 1;
                println!("series count MISMATCH {line}");
            } else {
                println!("series {line}");
            }
        }
    }
    println!("{mismatches} query/mode pairs with differing series counts");

    if world.peers().next().is_some() {
        let mut g = c.benchmark_group("http_round_trip");
        for p in world.peers() {
            g.bench_function(p.name, |b| {
                b.iter(|| black_box(p.get("/api/v1/query?query=1").expect("round trip")))
            });
        }
        g.finish();
    }

    for (name, q) in QUERIES {
        let expr = parse(q).expect("parse");
        for (mode_name, mode) in MODES {
            let mut g = c.benchmark_group(format!("{name}_{mode_name}"));
            g.bench_function("prom_promql", |b| {
                b.iter(|| black_box(world.ours(&expr, mode)))
            });
            for p in world.peers() {
                g.bench_function(p.name, |b| {
                    b.iter(|| black_box(peer_query(p, q, mode).expect("peer query")))
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
