//! The inverted label index: postings, the in-memory index, matcher planning, index v2 on disk.
#![deny(missing_docs)]

pub mod postings;

pub use postings::Postings;
