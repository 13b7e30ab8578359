//! What the series cache saves: appending one 1,000-series scrape with a cold cache (every
//! series parsed, labelled and relabeled) against the steady state (one lookup per sample),
//! next to the cost of just parsing the body. The appender is a no-op that hands out
//! references, so the figures are prom-scrape's own work.
//!
//! Run: `cargo bench -p prom-benches --bench scrape_cache`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use prom_exposition::{Format, Parser};
use prom_model::storage::{Appender, SeriesRef};
use prom_model::{AppendError, Labels};
use prom_scrape::config::{Config, LoadOptions};
use prom_scrape::scrape::Scraper;
use prom_scrape::target::targets_from_group;

/// Accepts everything; a reference is the number of appends so far.
struct NullAppender(u64);

impl Appender for NullAppender {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        _labels: &Labels,
        _t: i64,
        _v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.0 += 1;
        Ok(series.unwrap_or(SeriesRef(self.0)))
    }

    fn commit(&mut self) -> prom_model::Result<()> {
        Ok(())
    }

    fn rollback(&mut self) -> prom_model::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let body = prom_benches::synthetic_text(1000);
    let cfg = Config::load_str(
        "scrape_configs:\n  - job_name: bench\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n    static_configs:\n      - targets: ['host:9100']\n",
        Path::new("."),
        LoadOptions::default(),
        &|_| None,
    )
    .expect("config");
    let job = Arc::new(cfg.scrape_configs[0].clone());
    let prom_scrape::config::SdConfig::Static(group) = &job.service_discovery[0] else {
        panic!("static config");
    };
    let target = targets_from_group(group, &job).0.remove(0);
    let samples = prom_benches::sample_lines(body.as_bytes());
    println!("scrape_cache: {samples} samples per scrape");

    let mut g = c.benchmark_group("scrape_append_1000_series");
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let n = Parser::new(black_box(body.as_bytes()), Format::Text).count();
            black_box(n)
        })
    });
    g.bench_function("cold_cache", |b| {
        b.iter(|| {
            let mut s = Scraper::new(job.clone(), &target);
            let mut app = NullAppender(0);
            black_box(
                s.append(&mut app, body.as_bytes(), Format::Text, 1_000)
                    .expect("append"),
            )
        })
    });
    let mut steady = Scraper::new(job.clone(), &target);
    let mut app = NullAppender(0);
    steady
        .append(&mut app, body.as_bytes(), Format::Text, 1_000)
        .expect("warm");
    let mut t = 2_000;
    g.bench_function("steady_state", |b| {
        b.iter(|| {
            t += 1_000;
            black_box(
                steady
                    .append(&mut app, body.as_bytes(), Format::Text, t)
                    .expect("append"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
