//! Helpers shared by the test modules.

use prom_exposition::{Entry, Format, Parser};

/// A sample flattened for comparison: name, labels, value bits, timestamp.
pub type Flat = (String, Vec<(String, String)>, u64, Option<i64>);

/// Every sample of a valid input, flattened; panics with the rendered error otherwise.
pub fn samples(input: &str, format: Format) -> Vec<Flat> {
    let mut out = Vec::new();
    for e in Parser::new(input.as_bytes(), format) {
        match e {
            Ok(Entry::Sample(s)) => out.push((
                s.name.to_string(),
                s.labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect(),
                s.value.to_bits(),
                s.timestamp,
            )),
            Ok(_) => {}
            Err(err) => panic!("unexpected error:\n{}", err.render(input.as_bytes())),
        }
    }
    out
}

/// One sample, built for expectations.
pub fn flat(name: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) -> Flat {
    (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value.to_bits(),
        ts,
    )
}

/// The first error of `input` as `(line, col, message)`; panics if it parses cleanly.
pub fn first_error(input: &str, format: Format) -> (u32, u32, String) {
    let err = Parser::new(input.as_bytes(), format)
        .find_map(Result::err)
        .unwrap_or_else(|| panic!("expected an error for {input:?}"));
    (err.pos.line, err.pos.col, err.kind.to_string())
}

/// Whether `input` parses without any error.
pub fn is_valid(input: &str, format: Format) -> bool {
    Parser::new(input.as_bytes(), format).all(|e| e.is_ok())
}
