//! An embeddable time-series database that speaks Prometheus's block format.
//!
//! [`Db`] keeps recent samples in an in-memory head (XOR chunks, an inverted index) made
//! durable by a write-ahead log, cuts the head into immutable blocks in Prometheus's on-disk
//! layout (so `promtool` and Prometheus read them), compacts blocks into larger ones, and
//! deletes data past its retention. It implements prom-model's [`Appendable`] and
//! [`Queryable`], so a PromQL engine or a scraper takes it as any other storage.
//!
//! ```
//! use prom_model::{Appender, Matcher, Querier, SampleIterator, labels};
//! use prom_tsdb::{Db, Options};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let mut app = db.appender();
//! let up = labels!("__name__" => "up", "job" => "node");
//! let r = app.append(None, &up, 1_000, 1.0)?;
//! app.append(Some(r), &up, 16_000, 0.0)?;
//! app.commit()?;
//!
//! let q = db.querier(0, 20_000);
//! let mut set = q.select(true, None, &[Matcher::equal("job", "node")]);
//! let mut series = set.next().expect("one series");
//! assert_eq!(series.labels, up);
//! let mut got = Vec::new();
//! while series.samples.next() {
//!     got.push(series.samples.at().v);
//! }
//! assert_eq!(got, [1.0, 0.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # API themes
//!
//! - [`Db::open`] with [`Options`]; [`Db::appender`] (commit/rollback, typed rejections);
//!   [`Db::querier`] over a time range; [`Db::delete`], [`Db::clean_tombstones`],
//!   [`Db::snapshot`], [`Db::compact`], [`Db::metrics_text`].
//! - [`wal`]: the write-ahead log (`docs/formats/wal.md`).
//! - [`block`]: blocks in Prometheus's layout, their writer, reader, querier and compaction
//!   (`docs/formats/block.md`).
//!
//! [`Appendable`]: prom_model::Appendable
//! [`Queryable`]: prom_model::Queryable
#![deny(missing_docs)]

pub mod block;
mod db;
pub mod error;
mod head;
pub mod interval;
mod iter;
pub mod metrics;
pub mod options;
mod querier;
pub mod ulid;
pub mod wal;

pub use db::{Db, HEAD_CHUNKS_DIR, LOCK_FILE, OpenReport, WAL_DIR};
pub use error::{Error, Result};
pub use head::appender::DbAppender;
pub use metrics::Metrics;
pub use options::Options;
pub use querier::{BlocksQuerier, DbQuerier};
pub use wal::SyncPolicy;
