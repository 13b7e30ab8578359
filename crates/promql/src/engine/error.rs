//! Evaluation errors, worded as Prometheus words them.

/// An error evaluating a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The query ran longer than [`EngineOptions::timeout`](super::EngineOptions::timeout).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The cancellation flag was raised.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// More samples were loaded or held than [`EngineOptions::max_samples`](super::EngineOptions::max_samples).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// Many-to-many matching, or several series matched where one was expected.
    #[error("{0}")]
    ManyToMany(String),
    /// Two series of one result have the same labels.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    /// A function or operator got an argument it cannot use.
    #[error("{0}")]
    InvalidArgument(String),
    /// The query is not valid for this kind of evaluation.
    #[error("{0}")]
    InvalidQuery(String),
    /// Something the engine does not implement (native histograms).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The query text does not parse (from the `*_query` methods taking text).
    #[error("{0}")]
    Parse(#[from] crate::parser::ParseError),
    /// The storage failed.
    #[error("{0}")]
    Storage(#[from] prom_model::Error),
}

/// `Result` with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
