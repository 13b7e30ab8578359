//! Integration tests of prom-scrape.

mod conformance;
mod discovery;
mod interop;
mod scrape;
mod support;
