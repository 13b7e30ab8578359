//! The crate's error type and the typed reasons a storage rejects a sample.

/// Everything that can fail in prom-model, and what a storage reports through the storage traits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A regex matcher's value does not parse or compile.
    #[error("invalid regular expression {regex:?}: {message}")]
    InvalidRegex {
        /// The pattern as given, before anchoring.
        regex: String,
        /// The regex crate's description of the problem, with the byte offsets into `regex`
        /// when it has them.
        message: String,
    },
    /// A sample was rejected; see [`AppendError`].
    #[error(transparent)]
    Append(#[from] AppendError),
    /// An I/O error from a storage implementation.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other failure of a storage implementation, kept as its own error so the caller can
    /// downcast it.
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// Wraps an implementation's own error as [`Error::Storage`].
    pub fn storage(err: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Error::Storage(err.into())
    }
}

/// The result type of prom-model.
pub type Result<T> = std::result::Result<T, Error>;

/// Why an [`Appender`](crate::storage::Appender) rejected one sample.
///
/// Every variant concerns that one sample only: the appender stays usable and the samples
/// appended before and after it are unaffected, so a caller such as a scrape loop counts the
/// rejections by kind and carries on, as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The timestamp is before the newest sample of the series, and the storage does not accept
    /// out-of-order samples.
    #[error("out of order sample")]
    OutOfOrder,
    /// The timestamp is before the oldest time the storage still accepts writes for (for a TSDB
    /// head: the start of the head, whose older data is already in blocks).
    #[error("out of bounds")]
    OutOfBounds,
    /// The series already has a sample at this timestamp with a different value (the same value
    /// again is accepted silently).
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    /// The sample is out of order and older than the window in which the storage accepts
    /// out-of-order samples.
    #[error("too old sample")]
    TooOld,
    /// The label set is empty; a series needs at least one label.
    #[error("empty label set")]
    EmptyLabels,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_cause() {
        let e = Error::InvalidRegex {
            regex: "a(".into(),
            message: "unclosed group".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"invalid regular expression "a(": unclosed group"#
        );
        let e: Error = AppendError::OutOfOrder.into();
        assert_eq!(e.to_string(), "out of order sample");
        let e = Error::storage("disk full");
        assert_eq!(e.to_string(), "storage: disk full");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_send_sync::<AppendError>();
    }
}
