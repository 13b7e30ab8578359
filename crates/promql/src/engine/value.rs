//! Query results: scalars, strings, instant vectors and range vectors.

use std::fmt;

use prom_model::{Labels, Timestamp};

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// Milliseconds since the epoch (the evaluation time for computed samples).
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

/// One point of a range-vector series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the epoch.
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

/// A series of a range vector, or of a range query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// Points in increasing time order.
    pub points: Vec<Point>,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at a time.
    Scalar(f64, Timestamp),
    /// A string at a time.
    String(String, Timestamp),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector (an instant query of a range expression) or a range query's result.
    Matrix(Vec<Series>),
}

impl Value {
    /// Prometheus's name for the type: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(..) => "scalar",
            Value::String(..) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Formats a float the way Prometheus prints sample values, in its API's JSON too (`+Inf`,
/// `-Inf`, `NaN`; otherwise the shortest decimal that reads back exactly, without an
/// exponent, as Go's `FormatFloat(v, 'f', -1, 64)`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(v, t) => write!(f, "scalar: {} @[{t}]", format_float(*v)),
            Value::String(s, t) => write!(f, "string: {s:?} @[{t}]"),
            Value::Vector(v) => {
                for s in v {
                    writeln!(f, "{} => {} @[{}]", s.labels, format_float(s.v), s.t)?;
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.labels)?;
                    for p in &s.points {
                        write!(f, " {} @[{}]", format_float(p.v), p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}
