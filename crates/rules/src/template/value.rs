//! The values templates compute with: a small model of the Go types Prometheus's templates see.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A value in a template: the data passed in, variables, function arguments and results.
///
/// Each variant stands for the Go type Prometheus uses, so that printing, truthiness,
/// comparison and error messages follow Go (`map[string]string` for label sets, `float64` for
/// sample values, and so on).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Go's untyped `nil` / a missing value (prints `<no value>`).
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    String(String),
    /// `html/template.HTML` (what `safeHtml` returns); prints as its text.
    Html(String),
    /// `map[string]string`, e.g. a label set; a missing key reads as `""`.
    Labels(Arc<BTreeMap<String, String>>),
    /// `map[string]interface {}`; a missing key reads as nil.
    Map(Arc<BTreeMap<String, Value>>),
    /// `[]interface {}`.
    List(Arc<Vec<Value>>),
    /// The result of `query`: a list of samples.
    Vector(Arc<Vec<Arc<Sample>>>),
    /// One sample (`*sample`), or a nil one.
    Sample(Option<Arc<Sample>>),
    /// A struct with named fields, in declaration order.
    Struct(Arc<Struct>),
    /// A point in time (`*time.Time`), in nanoseconds since the epoch, always shown in UTC.
    Time(i64),
    /// A duration (`*time.Duration`) in nanoseconds.
    Duration(i64),
}

/// A sample as query results expose it to templates: `.Labels` and `.Value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (with `__name__`).
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

/// A struct value: its Go type name (for error messages) and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// The type as Go prints it, e.g. `struct { Labels map[string]string }`.
    pub type_name: String,
    /// Field names and values, in declaration order.
    pub fields: Vec<(String, Value)>,
}

impl Value {
    /// A `map[string]string` from label pairs.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::Labels(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The Go type name, as error messages print it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Html(_) => "template.HTML".into(),
            Value::Labels(_) => "map[string]string".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Vector(_) => "template.queryResult".into(),
            Value::Sample(_) => "*template.sample".into(),
            Value::Struct(s) => s.type_name.clone(),
            Value::Time(_) => "*time.Time".into(),
            Value::Duration(_) => "*time.Duration".into(),
        }
    }

    /// Go's template truth: false for zero values, nil and empty collections.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) | Value::Html(s) => !s.is_empty(),
            Value::Labels(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Vector(v) => !v.is_empty(),
            Value::Sample(s) => s.is_some(),
            Value::Struct(_) | Value::Time(_) | Value::Duration(_) => true,
        }
    }

    /// The string inside a `string` or `template.HTML`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Html(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&prom_model::Labels> for Value {
    fn from(ls: &prom_model::Labels) -> Value {
        Value::Labels(Arc::new(
            ls.iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect(),
        ))
    }
}
