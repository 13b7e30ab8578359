//! The write-ahead log (being built).

/// WAL errors.
#[derive(Debug, thiserror::Error)]
#[error("wal")]
pub struct Error;
