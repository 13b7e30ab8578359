//! prom-tsdb against the `tsink` crate (an embeddable Rust TSDB), fed the same series in the
//! same run.
//!
//! Workload: `PROM_BENCH_SERIES` active series (default 10,000, where tsink completes in about
//! a minute; prom-tsdb alone at 100,000 and 1,000,000 is the same command with
//! `PROM_BENCH_TSINK=0 PROM_BENCH_SERIES=100000`), labelled like node and service metrics
//! (`__name__` over 10 metric names, `job` over 100 jobs, `instance`, `env`), scraped every
//! 15 s for `PROM_BENCH_ROUNDS` rounds (default 480: 2h). Values are counters advancing by
//! small integers, with a float gauge in every tenth series.
//!
//! Printed at start-up, for each engine, on one thread:
//! - ingestion: samples per second through the public write API in batches of 1,000 samples,
//!   one scrape of a large target (prom-tsdb: one appender and commit per batch, series
//!   references cached as a scrape loop caches them; tsink: one `insert_rows` per batch). WAL on for both, fsync left to the OS (prom-tsdb
//!   `SyncPolicy::Never`, tsink `WalSyncMode::Periodic`).
//! - memory: live heap bytes per active series after ingestion, counted by a global
//!   allocator around the run (the allocator's figure, not RSS).
//! - disk: bytes per sample of the data directory after the data is persisted (prom-tsdb:
//!   the head flushed into a block and the WAL checkpointed; tsink: `close`), counted as
//!   allocated blocks; prom-tsdb's `prom-chunks-head/` (mapped memory, emptied on open) is
//!   left out.
//!
//! Criterion groups, both engines side by side on the stores built above:
//! - `readback_one_series`: one series over the whole 2h.
//! - `readback_metric`: every series of one metric name (a tenth of the series) over 2h.
//! - `readback_metric_prom` (prom-tsdb only, also run with `PROM_BENCH_TSINK=0`): the same
//!   series through the cursor (`next`) and as the PromQL evaluator reads them (`seek`, then
//!   one `read_until`), in samples per second.
//!
//! ```text
//! cargo bench -p prom-benches --bench tsdb -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use prom_benches::env_usize;
use prom_model::{Appender, Labels, Matcher, Querier, Sample, SampleIterator, SeriesRef};
use prom_tsdb::{Db, Options, SyncPolicy};
use tsink::{DataPoint, Label, Row, StorageBuilder, TimestampPrecision};

#[global_allocator]
static ALLOC: prom_benches::CountingAlloc = prom_benches::CountingAlloc;

fn live() -> isize {
    prom_benches::live_bytes()
}

const METRICS: [&str; 10] = [
    "node_cpu_seconds_total",
    "node_network_receive_bytes_total",
    "node_disk_io_time_seconds_total",
    "http_requests_total",
    "http_request_duration_seconds_count",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "go_goroutines",
    "go_gc_duration_seconds_count",
    "rpc_errors_total",
];
const START: i64 = 1_700_000_000_000;
/// Samples per commit: one scrape of a large target.
const BATCH: usize = 1_000;
const STEP: i64 = 15_000;

struct Workload {
    series: Vec<Labels>,
    rounds: usize,
}

impl Workload {
    fn new() -> Self {
        let n = env_usize("PROM_BENCH_SERIES", 10_000);
        let rounds = env_usize("PROM_BENCH_ROUNDS", 480);
        let targets = n.div_ceil(METRICS.len());
        let mut series = Vec::with_capacity(n);
        'outer: for t in 0..targets {
            let job = format!("job-{}", t % 100);
            let instance = format!("10.{}.{}.{}:9100", t / 65536, (t / 256) % 256, t % 256);
            let env = ["prod", "staging", "dev"][t % 3];
            for m in METRICS {
                if series.len() == n {
                    break 'outer;
                }
                series.push(Labels::from_pairs(&[
                    ("__name__", m),
                    ("env", env),
                    ("instance", &instance),
                    ("job", &job),
                ]));
            }
        }
        Workload { series, rounds }
    }

    fn value(&self, i: usize, round: usize) -> f64 {
        if i % 10 == 7 {
            (round as f64 * 0.37 + i as f64).sin() * 100.0
        } else {
            (round * (1 + i % 5)) as f64
        }
    }

    fn samples(&self) -> usize {
        self.series.len() * self.rounds
    }
}

struct Prom {
    db: Db,
    _dir: tempfile::TempDir,
}

struct Tsink {
    storage: std::sync::Arc<dyn tsink::Storage>,
    _dir: tempfile::TempDir,
}

struct World {
    w: Workload,
    prom: Prom,
    /// `None` with `PROM_BENCH_TSINK=0` (a quick run of prom-tsdb alone).
    tsink: Option<Tsink>,
}

/// Bytes allocated on disk under `p` (st_blocks × 512, so preallocated sparse files count
/// only what was written), leaving out prom-tsdb's head chunk files, which are a memory
/// offload emptied on every open, not storage.
fn dir_bytes(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_name() == prom_tsdb::HEAD_CHUNKS_DIR {
                continue;
            }
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            total += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.blocks() * 512
            };
        }
    }
    total
}

fn report(name: &str, w: &Workload, took: Duration, bytes: isize, disk: u64) {
    let samples = w.samples() as f64;
    println!(
        "{name}: ingested {} samples of {} series in {took:.2?}: {:.2} M samples/s; \
         {:.0} heap bytes per active series; {disk} bytes on disk = {:.3} bytes/sample",
        w.samples(),
        w.series.len(),
        samples / took.as_secs_f64() / 1e6,
        bytes as f64 / w.series.len() as f64,
        disk as f64 / samples,
    );
}

fn build_prom(w: &Workload) -> Prom {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = Options::default();
    o.background_compaction = false;
    o.wal_sync = SyncPolicy::Never;
    o.retention_time = None;
    let before = live();
    let start = Instant::now();
    let db = Db::open(dir.path(), o).expect("open");
    let mut refs: Vec<Option<SeriesRef>> = vec![None; w.series.len()];
    for round in 0..w.rounds {
        let t = START + round as i64 * STEP;
        for (b, batch) in refs.chunks_mut(BATCH).enumerate() {
            let mut app = db.appender();
            for (k, r) in batch.iter_mut().enumerate() {
                let i = b * BATCH + k;
                *r = Some(
                    app.append(*r, &w.series[i], t, w.value(i, round))
                        .expect("append"),
                );
            }
            app.commit().expect("commit");
        }
    }
    let took = start.elapsed();
    let bytes =
        live() - before - (refs.capacity() * std::mem::size_of::<Option<SeriesRef>>()) as isize;
    db.flush_head().expect("flush");
    let disk = dir_bytes(dir.path());
    report("prom-tsdb", w, took, bytes, disk);
    Prom { db, _dir: dir }
}

fn tsink_labels(ls: &Labels) -> (String, Vec<Label>) {
    let name = ls.metric_name().unwrap_or_default().to_owned();
    let labels = ls
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| Label::new(l.name, l.value))
        .collect();
    (name, labels)
}

fn build_tsink(w: &Workload) -> Tsink {
    let dir = tempfile::tempdir().expect("tempdir");
    let converted: Vec<(String, Vec<Label>)> = w.series.iter().map(tsink_labels).collect();
    let before = live();
    let start = Instant::now();
    let storage = StorageBuilder::new()
        .with_data_path(dir.path())
        .with_timestamp_precision(TimestampPrecision::Milliseconds)
        .with_wal_sync_mode(tsink::WalSyncMode::Periodic(Duration::from_secs(1)))
        .with_retention(Duration::from_secs(10 * 365 * 24 * 3600))
        .build()
        .expect("tsink build");
    let mut rows = Vec::with_capacity(w.series.len());
    for round in 0..w.rounds {
        let t = START + round as i64 * STEP;
        for (b, batch) in converted.chunks(BATCH).enumerate() {
            rows.clear();
            for (k, (name, labels)) in batch.iter().enumerate() {
                let i = b * BATCH + k;
                rows.push(Row::with_labels(
                    name.as_str(),
                    labels.clone(),
                    DataPoint::new(t, w.value(i, round)),
                ));
            }
            storage.insert_rows(&rows).expect("tsink insert");
        }
    }
    let took = start.elapsed();
    drop(rows);
    let bytes = live() - before;
    storage.close().expect("tsink close");
    let disk = dir_bytes(dir.path());
    report("tsink", w, took, bytes, disk);
    // Reopen for the read-back groups.
    let storage = StorageBuilder::new()
        .with_data_path(dir.path())
        .with_timestamp_precision(TimestampPrecision::Milliseconds)
        .with_retention(Duration::from_secs(10 * 365 * 24 * 3600))
        .build()
        .expect("tsink reopen");
    Tsink { storage, _dir: dir }
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let w = Workload::new();
        let prom = build_prom(&w);
        let tsink =
            (std::env::var("PROM_BENCH_TSINK").as_deref() != Ok("0")).then(|| build_tsink(&w));
        World { w, prom, tsink }
    })
}

fn end(w: &Workload) -> i64 {
    START + w.rounds as i64 * STEP
}

fn prom_read(db: &Db, ms: &[Matcher], maxt: i64) -> usize {
    let q = db.querier(START, maxt);
    let mut set = q.select(true, None, ms);
    let mut n = 0;
    while let Some(mut s) = set.next() {
        while s.samples.next() {
            black_box(s.samples.at());
            n += 1;
        }
    }
    n
}

/// As the PromQL evaluator reads a series: `seek` to the start, then one `read_until` into a
/// reused buffer. Returns the number of samples.
fn prom_read_until(db: &Db, ms: &[Matcher], maxt: i64, buf: &mut Vec<Sample>) -> usize {
    let q = db.querier(START, maxt);
    let mut set = q.select(true, None, ms);
    let mut n = 0;
    while let Some(mut s) = set.next() {
        buf.clear();
        if s.samples.seek(START) {
            s.samples.read_until(maxt, buf);
        }
        n += black_box(buf.len());
    }
    n
}

/// prom-tsdb alone (also with `PROM_BENCH_TSINK=0`): every series of one metric name over 2h
/// from the flushed block, through the cursor (`next`) and as the PromQL evaluator reads
/// (`read_until`).
fn readback_prom(c: &mut Criterion) {
    let world = world();
    let w = &world.w;
    let maxt = end(w);
    let ms = [Matcher::equal("__name__", METRICS[3])];
    let mut buf = Vec::new();
    let n = prom_read(&world.prom.db, &ms, maxt);
    assert_eq!(prom_read_until(&world.prom.db, &ms, maxt, &mut buf), n);
    let mut g = c.benchmark_group("readback_metric_prom");
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function("next", |b| {
        b.iter(|| prom_read(&world.prom.db, black_box(&ms), maxt))
    });
    g.bench_function("read_until", |b| {
        b.iter(|| prom_read_until(&world.prom.db, black_box(&ms), maxt, &mut buf))
    });
    g.finish();
}

fn readback(c: &mut Criterion) {
    let world = world();
    let w = &world.w;
    let one = &w.series[12_345 % w.series.len()];
    let (name, labels) = tsink_labels(one);
    let one_ms: Vec<Matcher> = one
        .iter()
        .map(|l| Matcher::equal(l.name, l.value))
        .collect();
    let maxt = end(w);
    let got = prom_read(&world.prom.db, &one_ms, maxt);
    assert_eq!(got, w.rounds);
    let Some(tsink) = &world.tsink else {
        return;
    };
    let theirs = tsink
        .storage
        .select(&name, &labels, START, maxt)
        .expect("tsink select");
    assert_eq!(theirs.len(), w.rounds);

    let mut g = c.benchmark_group("readback_one_series");
    g.bench_function("prom_tsdb", |b| {
        b.iter(|| prom_read(&world.prom.db, black_box(&one_ms), maxt))
    });
    g.bench_function("tsink", |b| {
        b.iter(|| {
            tsink
                .storage
                .select(black_box(&name), &labels, START, maxt)
                .expect("select")
        })
    });
    g.finish();

    let metric = METRICS[3];
    let ms = [Matcher::equal("__name__", metric)];
    let ours = prom_read(&world.prom.db, &ms, maxt);
    let theirs: usize = tsink
        .storage
        .select_all(metric, START, maxt)
        .expect("select_all")
        .iter()
        .map(|(_, p)| p.len())
        .sum();
    assert_eq!(ours, theirs);
    let mut g = c.benchmark_group("readback_metric");
    g.sample_size(10);
    g.bench_function("prom_tsdb", |b| {
        b.iter(|| prom_read(&world.prom.db, black_box(&ms), maxt))
    });
    g.bench_function("tsink", |b| {
        b.iter(|| {
            tsink
                .storage
                .select_all(black_box(metric), START, maxt)
                .expect("select_all")
        })
    });
    g.finish();
}

criterion_group!(benches, readback_prom, readback);
criterion_main!(benches);
