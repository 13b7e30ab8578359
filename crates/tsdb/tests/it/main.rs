//! prom-tsdb integration tests.

mod block;
mod crash;
mod db;
mod wal;
