//! The PromQL query suite and its data set, shared by the benches that run it against peers
//! (`promql`: the engine in process; `serve_query`: `prom serve` over HTTP).
//!
//! Data: 10,000 series × 2h at 15 s (4.8M samples) for 100 instances ([`series`]), 100
//! instances over 4 jobs, each with 20 counters (`http_requests_total{method, code}`), 19
//! gauges (`node_cpu_usage_ratio{cpu}`), a classic histogram (`http_request_duration_seconds`
//! by 5 handlers: 10 `le` buckets, `_sum`, `_count`) and one `app_build_info{version,
//! region}`; deterministic values (splitmix64). [`backfill`] writes them as Prometheus blocks
//! with `promtool tsdb create-blocks-from openmetrics`; [`start_prometheus`] serves such
//! blocks and [`start_victoriametrics`] imports the same samples.

use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::peers::{self, Peer};

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
/// 2023-11-14T22:13:20Z, the first sample (milliseconds).
pub const START: i64 = 1_700_000_000_000;
/// The sample interval (milliseconds).
pub const INTERVAL: i64 = 15_000;
/// Samples per series: 2h at 15 s.
pub const SAMPLES: usize = 480;
/// The last sample's timestamp (milliseconds).
pub const END: i64 = START + (SAMPLES as i64 - 1) * INTERVAL;

/// The suite: a name (a criterion group's prefix, a table row) and the query.
pub const QUERIES: [(&str, &str); 10] = [
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// At [`END`].
    Instant,
    /// From [`START`] to [`END`] every this many milliseconds.
    Range(i64),
}

/// The modes every query runs in, with their names.
pub const MODES: [(&str, Mode); 3] = [
    ("instant", Mode::Instant),
    ("range_15s", Mode::Range(15_000)),
    ("range_60s", Mode::Range(60_000)),
];

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
#[derive(Debug)]
enum Kind {
    Counter,
    Gauge,
    Bucket(usize),
    Sum,
    Count,
    Info,
}

/// One series of the data set.
#[derive(Debug)]
pub struct Series {
    /// The metric name.
    pub name: &'static str,
    /// The other labels, in exposition order.
    pub labels: Vec<(&'static str, String)>,
    kind: Kind,
    seed: u64,
}

impl Series {
    /// `name{a="b",…}` as both text formats write it.
    pub fn text(&self, out: &mut String) {
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

    /// Its [`SAMPLES`] values, one per [`INTERVAL`] from [`START`].
    pub fn values(&self, out: &mut Vec<f64>) {
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
pub fn series(instances: usize) -> Vec<Series> {
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
pub fn write_openmetrics(all: &[Series], path: &Path) -> std::io::Result<()> {
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
pub fn import_victoriametrics(all: &[Series], vm: &Peer, chunk: usize) -> std::io::Result<()> {
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

/// Writes `all` as OpenMetrics and backfills it into Prometheus blocks in `blocks` with
/// `promtool tsdb create-blocks-from openmetrics` (the OpenMetrics file, under `work`, is
/// removed afterwards).
pub fn backfill(all: &[Series], work: &Path, blocks: &Path) -> std::io::Result<()> {
    let om = work.join("data.om");
    let t = Instant::now();
    write_openmetrics(all, &om)?;
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(blocks)
        .output()?;
    let _ = std::fs::remove_file(&om);
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    println!("backfilled with promtool in {:.1?}", t.elapsed());
    Ok(())
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
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

/// A query of the suite sent to a peer's HTTP API in `mode`.
pub fn peer_query(p: &Peer, q: &str, mode: Mode) -> std::io::Result<peers::Response> {
    match mode {
        Mode::Instant => p.query(q, END),
        Mode::Range(step) => p.query_range(q, START, END, step),
    }
}

/// [`peer_query`] with the answer dropped as it arrives: its length in bytes.
pub fn peer_query_discarding(p: &Peer, q: &str, mode: Mode) -> std::io::Result<usize> {
    p.get_discarding(&match mode {
        Mode::Instant => peers::query_target(q, END),
        Mode::Range(step) => peers::query_range_target(q, START, END, step),
    })
}

/// Prometheus serving the blocks in `blocks` (no scraping, no retention), logging to
/// `work/prometheus.log`.
pub fn start_prometheus(work: &Path, blocks: &Path) -> std::io::Result<Peer> {
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

/// VictoriaMetrics (`-search.disableCache`) in `work/victoriametrics`, with `all` imported and
/// visible to queries.
pub fn start_victoriametrics(work: &Path, all: &[Series]) -> std::io::Result<Peer> {
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
