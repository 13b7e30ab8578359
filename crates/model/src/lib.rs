//! The Prometheus data model shared by every prom crate.
//!
//! Labels, label matchers, samples (i64 milliseconds and f64 values, with the staleness marker),
//! metric types and metadata, and the storage traits at the boundaries between the crates:
//! `Appendable`/`Appender` for writing, `Queryable`/`Querier`/`SeriesSet` for reading,
//! plus an in-memory reference storage that every other crate tests against.
//!
//! Use it to build or match label sets the way Prometheus 3 does, to implement a storage the
//! rest of prom can read and write, or to consume one without knowing what is behind it.
//!
//! ```
//! use prom_model::{labels, MatchType, Matcher, MemoryStorage, MetricType};
//! use prom_model::storage::{Appendable, Queryable};
//! use prom_model::value::{is_stale_nan, stale_nan};
//!
//! assert_eq!("untyped".parse::<MetricType>().unwrap(), MetricType::Unknown);
//! assert!(is_stale_nan(stale_nan()));
//!
//! // Label sets are sorted by name and print as PromQL writes a series.
//! let series = labels!("job" => "api", "__name__" => "http_requests_total", "code" => "200");
//! assert_eq!(series.to_string(), r#"http_requests_total{code="200", job="api"}"#);
//! assert_eq!(series.get("job"), Some("api"));
//!
//! // Regex matchers are anchored; a missing label matches as "".
//! let m = Matcher::new(MatchType::RegexMatch, "code", "2..|3..")?;
//! assert!(m.matches("200") && !m.matches("1200"));
//! assert_eq!(m.to_string(), r#"code=~"2..|3..""#);
//!
//! // Write through an appender, read through a querier.
//! let db = MemoryStorage::new();
//! let mut app = db.appender();
//! app.append(None, &series, 1_000, 1.0)?;
//! app.commit()?;
//! let q = db.querier(0, 60_000)?;
//! assert_eq!(q.label_values("code", &[m])?, ["200"]);
//! # Ok::<(), prom_model::Error>(())
//! ```
//!
//! # API themes
//!
//! - [`Labels`], [`LabelsBuilder`], the [`labels!`] macro and the name validation helpers in
//!   [`labels`](mod@labels): series identity, its order, printing and stable hash.
//! - [`Matcher`] and [`MatchType`]: selector terms with Prometheus 3 regex semantics and fast
//!   paths, exposing literal sets and prefixes for index planning.
//! - [`Sample`], [`Timestamp`] and the staleness marker in [`value`].
//! - [`MetricType`] and [`Metadata`].
//! - The [`storage`] traits with their contracts: [`Appendable`], [`Appender`], [`Queryable`],
//!   [`Querier`], [`SeriesSet`], [`SampleIterator`]; [`MemoryStorage`] implements them.
//! - [`Error`] and [`AppendError`].
#![deny(missing_docs)]

pub mod error;
mod hash;
pub use hash::xxh64;
pub mod labels;
pub mod matcher;
pub mod memory;
pub mod metadata;
pub mod storage;
pub mod time;
pub mod value;

pub use error::{AppendError, Error, Result};
pub use labels::{
    Label, LabelRef, Labels, LabelsBuilder, METRIC_NAME, is_valid_legacy_label_name,
    is_valid_legacy_metric_name, is_valid_utf8_name,
};
pub use matcher::{MatchType, Matcher};
pub use memory::MemoryStorage;
pub use metadata::{Metadata, MetricType};
pub use storage::{
    Appendable, Appender, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesRef,
    SeriesSet,
};
pub use value::{Sample, Timestamp};
