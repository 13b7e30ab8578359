//! Exposition formats.
#![deny(missing_docs)]
