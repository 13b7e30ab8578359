//! Integration tests of prom-scrape.

mod conformance;
mod discovery;
mod scrape;
mod support;
