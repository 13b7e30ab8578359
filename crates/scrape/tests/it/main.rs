//! Integration tests of prom-scrape.

mod conformance;
mod discovery;
mod support;
