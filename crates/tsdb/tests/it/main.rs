//! prom-tsdb integration tests.

mod block;
mod wal;
