//! What the fuzz targets do, shared between them: parse or decode everything, touch
//! everything, and check the few things that must hold for any input. The exposition targets
//! are here; [`chunk`] and [`index`] hold the decoders of stored data, with the seeds their
//! corpora start from (written by `examples/seeds.rs`).

use std::hint::black_box;

pub mod chunk;
pub mod config;
pub mod index;

use prom_exposition::{
    Entry, Format, LabelSet, MetricFamily, ParseError, Parser, collect, encode_openmetrics,
    encode_text,
};

/// Parses `data` in `format`, iterating every entry, every label of every sample and of every
/// exemplar, and rendering every error. Panics only if an invariant below breaks (or the
/// parser itself panics).
pub fn parse_all(data: &[u8], format: Format) {
    let input = data.as_ptr_range();
    let mut last_line = 0;
    for entry in Parser::new(data, format) {
        match entry {
            Ok(Entry::Sample(s)) => {
                assert!(!s.name.is_empty(), "sample without a name");
                assert!(s.line > last_line, "sample lines go backwards");
                last_line = s.line;
                let series = s.series.as_bytes().as_ptr_range();
                assert!(
                    input.start <= series.start && series.end <= input.end,
                    "series text is not a slice of the input"
                );
                labels(s.labels);
                black_box((s.value, s.timestamp));
                if let Some(ex) = &s.exemplar {
                    labels(ex.labels);
                    black_box((ex.value, ex.timestamp));
                }
                black_box(format!("{s:?}"));
            }
            Ok(other) => {
                if let Entry::Help { family, .. } | Entry::Type { family, .. } = &other {
                    assert!(!family.is_empty(), "metadata without a family name");
                }
                black_box(other);
            }
            Err(e) => error(&e, data),
        }
    }
}

fn labels(set: LabelSet<'_>) {
    let mut n = 0;
    for l in set.iter() {
        n += 1;
        black_box((&l.name, &l.value));
    }
    assert_eq!(n, set.len());
    assert_eq!(n == 0, set.is_empty());
    black_box(set.as_raw());
}

fn error(e: &ParseError, data: &[u8]) {
    assert!(
        e.pos.offset <= data.len(),
        "error offset past the input: {e}"
    );
    assert!(
        e.pos.line >= 1 && e.pos.col >= 1,
        "error position not 1-based: {e}"
    );
    let rendered = e.render(data);
    assert!(rendered.starts_with(&e.to_string()));
    black_box(rendered);
}

/// Parses `data` as text and as OpenMetrics; for each format in which it parses without
/// errors, encodes the families, parses the encoding again and requires no errors and the
/// same families.
pub fn roundtrip(data: &[u8]) {
    for format in [Format::Text, Format::OpenMetrics] {
        let (families, errors) = collect(Parser::new(data, format));
        if !errors.is_empty() {
            continue;
        }
        let encoded = match format {
            Format::Text => encode_text(&families),
            Format::OpenMetrics => encode_openmetrics(&families),
        };
        let (again, errors) = collect(Parser::new(encoded.as_bytes(), format));
        if let Some(e) = errors.first() {
            panic!(
                "{format:?}: the encoding does not parse back: {}\ninput: {:?}\nencoded: {encoded:?}",
                e.render(encoded.as_bytes()),
                String::from_utf8_lossy(data)
            );
        }
        if again != families {
            panic!(
                "{format:?}: the families read back differ\ninput: {:?}\nencoded: {encoded:?}\nfirst: {}\nagain: {}",
                String::from_utf8_lossy(data),
                summary(&families),
                summary(&again)
            );
        }
    }
}

fn summary(families: &[MetricFamily]) -> String {
    format!("{families:?}")
}
