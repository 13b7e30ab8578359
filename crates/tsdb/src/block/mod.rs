//! Persisted blocks (being built).

/// Block errors.
#[derive(Debug, thiserror::Error)]
#[error("block")]
pub struct Error;
