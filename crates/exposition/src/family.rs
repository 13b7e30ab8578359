//! Owned metric families: what a whole exposition says, grouped as the formats group it.
//!
//! The streaming [`crate::Parser`] is for hot paths; this is for tools and tests that want the
//! whole picture (`prom check metrics`, round trips, the server's own `/metrics`).

use prom_model::MetricType;

use crate::entry::{Entry, Sample};
use crate::error::ParseError;
use crate::parser::Parser;

/// A metric family: its name, metadata and samples in input order.
#[derive(Debug, Clone, Default)]
pub struct MetricFamily {
    /// The family name (for an OpenMetrics counter, without `_total`).
    pub name: String,
    /// The declared type, [`MetricType::Unknown`] if none.
    pub metric_type: MetricType,
    /// The HELP text, unescaped, if given.
    pub help: Option<String>,
    /// The UNIT (OpenMetrics), if given.
    pub unit: Option<String>,
    /// The samples, in input order.
    pub samples: Vec<OwnedSample>,
    /// The line of the family's first entry, metadata or sample (0 when built in code). Not
    /// part of equality.
    pub line: u32,
}

/// An owned sample line.
#[derive(Debug, Clone, Default)]
pub struct OwnedSample {
    /// The sample's metric name (with any suffix such as `_bucket`).
    pub name: String,
    /// The labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds, if any.
    pub timestamp: Option<i64>,
    /// The exemplar, if any.
    pub exemplar: Option<OwnedExemplar>,
    /// The line the sample was read from (0 when built in code). Not part of equality.
    pub line: u32,
}

/// An owned exemplar.
#[derive(Debug, Clone, Default)]
pub struct OwnedExemplar {
    /// Its labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds, if any.
    pub timestamp: Option<i64>,
}

// Equality compares floats bit for bit, so that NaN equals itself and a round trip through an
// encoder and the parser can be checked exactly.
impl PartialEq for OwnedExemplar {
    fn eq(&self, o: &Self) -> bool {
        self.labels == o.labels
            && self.value.to_bits() == o.value.to_bits()
            && self.timestamp == o.timestamp
    }
}

impl PartialEq for OwnedSample {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.labels == o.labels
            && self.value.to_bits() == o.value.to_bits()
            && self.timestamp == o.timestamp
            && self.exemplar == o.exemplar
    }
}

impl PartialEq for MetricFamily {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.metric_type == o.metric_type
            && self.help == o.help
            && self.unit == o.unit
            && self.samples == o.samples
    }
}

impl OwnedSample {
    /// Copies a borrowed sample.
    pub fn from_sample(s: &Sample<'_>) -> Self {
        OwnedSample {
            name: s.name.clone().into_owned(),
            labels: s
                .labels
                .iter()
                .map(|l| (l.name.into_owned(), l.value.into_owned()))
                .collect(),
            value: s.value,
            timestamp: s.timestamp,
            exemplar: s.exemplar.as_ref().map(|e| OwnedExemplar {
                labels: e
                    .labels
                    .iter()
                    .map(|l| (l.name.into_owned(), l.value.into_owned()))
                    .collect(),
                value: e.value,
                timestamp: e.timestamp,
            }),
            line: s.line,
        }
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl MetricFamily {
    /// Whether a sample named `sample` belongs to this family: the bare name, or the name with
    /// one of its type's suffixes (`_bucket`, `_total`, ...).
    pub fn owns(&self, sample: &str) -> bool {
        match sample.strip_prefix(self.name.as_str()) {
            Some("") => true,
            Some(suffix) => self.metric_type.suffixes().contains(&suffix),
            None => false,
        }
    }
}

/// Groups the entries of `parser` into families. Metadata starts a family (or adds to the
/// current one of the same name); a sample joins the current family when [`MetricFamily::owns`]
/// it and otherwise starts an untyped family named after it. Comments are dropped.
///
/// Returns the families and every parse error; entries on lines with errors are left out.
pub fn collect(mut parser: Parser<'_>) -> (Vec<MetricFamily>, Vec<ParseError>) {
    let mut families: Vec<MetricFamily> = Vec::new();
    let mut errors = Vec::new();
    while let Some(entry) = parser.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        // Every entry is one line, and the parser has just moved past it.
        let line = parser.line().saturating_sub(1);
        match entry {
            Entry::Help { family, help } => {
                family_for(&mut families, &family, line).help = Some(help.into_owned());
            }
            Entry::Type {
                family,
                metric_type,
            } => family_for(&mut families, &family, line).metric_type = metric_type,
            // An empty UNIT counts as none, as OpenMetrics says.
            Entry::Unit { family, unit } => {
                family_for(&mut families, &family, line).unit =
                    (!unit.is_empty()).then(|| unit.to_owned());
            }
            Entry::Comment(_) => {}
            Entry::Sample(s) => {
                let owned = OwnedSample::from_sample(&s);
                match families.last_mut() {
                    Some(f) if f.owns(&owned.name) => f.samples.push(owned),
                    _ => families.push(MetricFamily {
                        name: owned.name.clone(),
                        line: owned.line,
                        samples: vec![owned],
                        ..MetricFamily::default()
                    }),
                }
            }
        }
    }
    (families, errors)
}

/// The current family if it is `name` and has no samples yet, else a new one.
fn family_for<'f>(
    families: &'f mut Vec<MetricFamily>,
    name: &str,
    line: u32,
) -> &'f mut MetricFamily {
    let reuse = families
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !reuse {
        families.push(MetricFamily {
            name: name.to_owned(),
            line,
            ..MetricFamily::default()
        });
    }
    let last = families.len() - 1;
    &mut families[last]
}
