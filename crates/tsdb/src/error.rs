//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file or directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another `Db` in this one) has the directory open.
    #[error("the data directory is in use: {} is locked by another process", lock.display())]
    Locked {
        /// The lock file.
        lock: PathBuf,
    },
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] crate::wal::Error),
    /// A block could not be read or written.
    #[error(transparent)]
    Block(#[from] crate::block::Error),
    /// A sample was rejected.
    #[error(transparent)]
    Append(#[from] prom_model::AppendError),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
