//! The inverted label index: postings, the in-memory index, matcher planning, index v2 on disk.
//!
//! Use it to find series by their labels. A TSDB head keeps a [`MemIndex`] over its series and
//! asks it which series a selector's matchers select; everything that selects is a lazy,
//! seek-driven composition of [`Postings`] cursors over sorted lists of series references, so
//! the same set operations serve the head and persisted blocks.
//!
//! ```
//! use prom_index::MemIndex;
//! use prom_index::postings::collect;
//! use prom_model::{MatchType, Matcher, labels};
//!
//! let index = MemIndex::new();
//! index.add(1, &labels!("__name__" => "up", "job" => "api", "instance" => "api-1:9100"));
//! index.add(2, &labels!("__name__" => "up", "job" => "api", "instance" => "api-2:9100"));
//! index.add(3, &labels!("__name__" => "up", "job" => "db", "instance" => "db-1:9100"));
//! index.add(4, &labels!("__name__" => "go_goroutines", "job" => "db", "instance" => "db-1:9100"));
//!
//! // Equality, a prefix regex, a negative matcher; `{env=""}` also selects series without `env`.
//! let ms = [
//!     Matcher::equal("__name__", "up"),
//!     Matcher::new(MatchType::RegexMatch, "instance", "api-.*|db-.*")?,
//!     Matcher::not_equal("instance", "api-2:9100"),
//!     Matcher::equal("env", ""),
//! ];
//! assert_eq!(index.postings_for_matchers(&ms), [1, 3]);
//!
//! // The lazy form borrows the index under its read lock.
//! let reader = index.read();
//! let mut p = reader.postings_for_matchers(&ms[..1]);
//! assert!(p.seek(2) && p.at() == 2);
//! assert_eq!(collect(p), [3]);
//! drop(reader);
//!
//! assert_eq!(index.label_values_for_matchers("job", &ms[..1]), ["api", "db"]);
//! let stats = index.stats(1);
//! assert_eq!((stats.num_series, stats.num_label_pairs), (4, 7));
//! assert_eq!(stats.series_count_by_metric_name[0].name, "up");
//! # Ok::<(), prom_model::Error>(())
//! ```
//!
//! # API themes
//!
//! - [`Postings`], the cursor contract, and in [`postings`] its leaves ([`ListPostings`],
//!   [`PostingsList`], the compact list the in-memory index stores) and the lazy set operations
//!   [`intersect`](postings::intersect), [`merge`](postings::merge) and
//!   [`without`](postings::without).
//! - [`MemIndex`] and its read view [`MemIndexReader`]: add, delete and collect series; label
//!   names and values, optionally restricted by matchers; postings for matchers, lazily or as a
//!   sorted vector; cardinality [`Stats`] as `/api/v1/status/tsdb` reports them.
//! - [`planner`]: how matchers become postings, with Prometheus's empty-value semantics.
//! - [`Error`] and [`Result`].
//!
//! [`ListPostings`]: postings::ListPostings
//! [`PostingsList`]: postings::PostingsList
#![deny(missing_docs)]

pub mod disk;
pub mod error;
pub mod mem;
pub mod planner;
pub mod postings;
pub mod stats;

pub use disk::{ChunkMeta, IndexReader, IndexWriter};
pub use error::{Error, Result};
pub use mem::{MemIndex, MemIndexReader};
pub use postings::Postings;
pub use stats::{StatEntry, Stats};
