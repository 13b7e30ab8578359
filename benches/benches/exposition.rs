//! Exposition parsing: prom-exposition against the `prometheus-parse` crate, side by side in
//! one group per input, so the ratio holds on a noisy machine.
//!
//! - `prom_exposition/entries`: iterate every entry (what a scraper that caches series by
//!   their raw text does).
//! - `prom_exposition/entries_and_labels`: the same, decoding every label of every sample (the
//!   fair comparison with prometheus-parse, which builds an owned label map per sample).
//! - `prometheus_parse`: `Scrape::parse` fed owned lines, as its API requires.
//!
//! Inputs: the real node_exporter scrape from `shared/conformance` (read in place at run time;
//! skipped with a note when absent) and a synthetic 100,000-series payload
//! (`prom_benches::synthetic_text`). The OpenMetrics group has no peer: prometheus-parse does
//! not read OpenMetrics.
//!
//! ```text
//! cargo bench -p prom-benches --bench exposition -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use prom_benches::{sample_lines, synthetic_openmetrics, synthetic_text};
use prom_exposition::{Entry, Format, Parser};

const NODE_EXPORTER: &str = "../../shared/conformance/exposition/real/node_exporter-1.5.0.txt";
const SYNTHETIC_SERIES: usize = 100_000;

/// Iterates every entry; returns a checksum so nothing is optimised away.
fn entries(body: &[u8], format: Format) -> usize {
    let mut n = 0;
    for e in Parser::new(body, format) {
        match e {
            Ok(Entry::Sample(s)) => {
                n += 1;
                black_box((s.value, s.timestamp, s.series));
            }
            Ok(other) => {
                black_box(other);
            }
            Err(e) => {
                black_box(e);
            }
        }
    }
    n
}

/// Iterates every entry and decodes every label of every sample.
fn entries_and_labels(body: &[u8], format: Format) -> usize {
    let mut n = 0;
    for e in Parser::new(body, format) {
        match e {
            Ok(Entry::Sample(s)) => {
                black_box((s.value, s.timestamp, &s.name));
                for l in s.labels.iter() {
                    n += 1;
                    black_box(l);
                }
            }
            Ok(other) => {
                black_box(other);
            }
            Err(e) => {
                black_box(e);
            }
        }
    }
    n
}

/// prometheus-parse as a user calls it: owned lines in, an owned scrape out.
fn prometheus_parse(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("prometheus-parse reads the payload")
}

/// Checks the payload parses cleanly with both parsers before timing anything, and prints
/// its shape for docs/benchmarks.md.
fn describe(group: &str, body: &str, format: Format, peer: bool) -> usize {
    let lines = sample_lines(body.as_bytes());
    let errors = Parser::new(body.as_bytes(), format)
        .filter(Result::is_err)
        .count();
    assert_eq!(errors, 0, "{group}: prom-exposition reports errors");
    assert_eq!(
        entries(body.as_bytes(), format),
        lines,
        "{group}: sample count"
    );
    // prometheus-parse folds a summary's or histogram's lines into one sample per series,
    // so its count is lower; it must at least read something.
    let peer_samples = peer.then(|| prometheus_parse(body).samples.len());
    assert_ne!(
        peer_samples,
        Some(0),
        "{group}: prometheus-parse read nothing"
    );
    println!(
        "{group}: {} bytes, {lines} sample lines, {:.1} bytes/line{}",
        body.len(),
        body.len() as f64 / lines as f64,
        peer_samples.map_or(String::new(), |n| format!(
            ", prometheus-parse samples: {n}"
        ))
    );
    lines
}

fn group(c: &mut Criterion, name: &str, body: &str, format: Format, large: bool) {
    let peer = format == Format::Text;
    describe(name, body, format, peer);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(body.len() as u64));
    if large {
        // One prometheus-parse iteration of the large payload takes a good fraction of a
        // second: take fewer, flat samples rather than stretching the run.
        g.sample_size(10).sampling_mode(SamplingMode::Flat);
    }
    let bytes = body.as_bytes();
    g.bench_function("prom_exposition/entries", |b| {
        b.iter(|| entries(black_box(bytes), format));
    });
    g.bench_function("prom_exposition/entries_and_labels", |b| {
        b.iter(|| entries_and_labels(black_box(bytes), format));
    });
    if peer {
        g.bench_function("prometheus_parse", |b| {
            b.iter(|| prometheus_parse(black_box(body)));
        });
    }
    g.finish();
}

fn exposition(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(NODE_EXPORTER);
    match std::fs::read_to_string(&path) {
        Ok(body) => group(c, "node_exporter_real", &body, Format::Text, false),
        Err(e) => println!(
            "note: skipping node_exporter_real: cannot read {}: {e}",
            path.display()
        ),
    }

    let text = synthetic_text(SYNTHETIC_SERIES);
    group(c, "synthetic_100k_series", &text, Format::Text, true);
    drop(text);

    let om = synthetic_openmetrics(SYNTHETIC_SERIES);
    group(
        c,
        "synthetic_100k_series_openmetrics",
        &om,
        Format::OpenMetrics,
        true,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = exposition
}
criterion_main!(benches);
