//! The Prometheus data model shared by every prom crate.
//!
//! Labels, label matchers, samples (i64 milliseconds and f64 values, with the staleness marker),
//! metric types and metadata, and the storage traits at the boundaries between the crates:
//! `Appendable`/`Appender` for writing, `Queryable`/`Querier`/`SeriesSet` for reading,
//! plus an in-memory reference storage that every other crate tests against.
//!
//! ```
//! use prom_model::{MetricType, value::{stale_nan, is_stale_nan}};
//!
//! assert_eq!("untyped".parse::<MetricType>().unwrap(), MetricType::Unknown);
//! assert!(is_stale_nan(stale_nan()));
//! ```
#![deny(missing_docs)]

pub mod metadata;
pub mod value;

pub use metadata::{Metadata, MetricType};
pub use value::{Sample, Timestamp};
