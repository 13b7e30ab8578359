//! prom-index integration tests: one binary, one module per area.

mod concurrency;
mod disk;
mod matchers;
mod memory;
mod postings;
