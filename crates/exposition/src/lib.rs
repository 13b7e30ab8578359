//! Parsers and encoders for the metrics exposition formats every Prometheus exporter speaks:
//! the Prometheus text format (0.0.4) and OpenMetrics 1.0 text.
//!
//! Use it to read what an exporter serves (a scraper, a checker, a test) or to write your own
//! `/metrics`. The parser is a plain iterator of [`Entry`] borrowed from the input bytes: a
//! sample line costs no allocation unless a label value holds escapes. Every error names its
//! line and column and what was expected. OpenMetrics mode enforces the format's rules; text
//! mode is lenient exactly where Prometheus is (see `docs/exposition.md`).
//!
//! ```
//! use prom_exposition::{Entry, Parser};
//!
//! let body = b"# TYPE jobs_total counter\njobs_total{queue=\"mail\"} 12\njobs_total{queue=\"sms\"} 3\n";
//! let total: f64 = Parser::text(body)
//!     .filter_map(|e| match e.unwrap() {
//!         Entry::Sample(s) => Some(s.value),
//!         _ => None,
//!     })
//!     .sum();
//! assert_eq!(total, 15.0);
//!
//! let err = Parser::openmetrics(b"a{b=\"1\",} 1\n# EOF\n").find_map(Result::err).unwrap();
//! assert_eq!(err.to_string(), "1:9: expected label name, found \"} 1\"");
//! ```
//!
//! # API themes
//! - Parsing: [`Parser`] (iterator of [`Entry`]: [`Sample`], HELP, TYPE, UNIT, comments), with
//!   [`LabelSet`] decoding labels lazily and [`Sample::series`] the raw series text for caches.
//! - Content negotiation: [`negotiate`] picks the parser from a `Content-Type`, with
//!   Prometheus 3's fallback rules; [`accept_header`] builds the scraper's `Accept`.
//! - Whole expositions: [`collect`] groups entries into owned [`MetricFamily`]s;
//!   [`encode_text`] and [`encode_openmetrics`] write them back (what is read back equals what
//!   was written).
//! - Errors: [`ParseError`] with a [`Position`] and an [`ErrorKind`]; [`ParseError::render`]
//!   shows the line with a caret.
#![deny(missing_docs)]

pub mod encode;
mod entry;
mod error;
pub mod family;
mod grammar;
pub mod lint;
mod negotiate;
mod openmetrics;
mod parser;

pub use encode::{encode, encode_openmetrics, encode_text};
pub use entry::{Entry, Exemplar, Label, LabelIter, LabelSet, Sample};
pub use error::{ErrorKind, ParseError, Position, Result};
pub use family::{MetricFamily, OwnedExemplar, OwnedSample, collect};
pub use lint::{Problem, lint};
pub use negotiate::{
    Format, Negotiated, NegotiationError, ScrapeProtocol, UnknownProtocol, accept_header, negotiate,
};
pub use parser::Parser;
