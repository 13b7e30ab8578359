//! The PromQL engine against Prometheus 2.42 and VictoriaMetrics 1.79 on the same data, in the
//! same run.
//!
//! Data and queries: `prom_benches::suite` (10,000 series × 2h at 15 s, 4.8M samples; ten
//! queries). Set `PROM_BENCH_INSTANCES` (default 100, 100 series each) for a smaller run.
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
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use prom_benches::env_usize;
use prom_benches::peers::{self, Peer};
use prom_benches::suite::{
    END, INTERVAL, MODES, Mode, QUERIES, SAMPLES, START, Series, backfill, copy_dir, peer_query,
    series, start_prometheus, start_victoriametrics,
};
use prom_model::{Appender, Labels};
use prom_promql::engine::Value;
use prom_promql::{Engine, EngineOptions, parse};
use prom_tsdb::{Db, Options};

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
            let blocks = dir.path().join("prometheus");
            backfill(&all, dir.path(), &blocks).expect("backfill");
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
