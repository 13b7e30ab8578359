//! Integration tests of prom-scrape.

mod conformance;
