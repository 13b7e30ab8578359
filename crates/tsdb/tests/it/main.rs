//! prom-tsdb integration tests.

mod block;
mod crash;
mod db;
mod db_files;
mod read_until;
mod wal;
