//! An embeddable time-series database that speaks Prometheus's block format.
//!
//! (Crate docs are completed with the `Db` API; see `docs/architecture.md`.)
#![deny(missing_docs)]

pub mod block;
pub mod error;
pub mod interval;
pub mod ulid;
pub mod wal;

pub use error::{Error, Result};
