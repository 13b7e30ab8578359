//! Integration tests of prom-model's public API, as another crate uses it.

mod storage;
