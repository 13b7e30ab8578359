//! The crate's error type.
//!
//! The in-memory half of the crate cannot fail: adding, deleting and selecting series only
//! touch memory. The variants come from the halves that can: matchers built from user input,
//! and (added by the on-disk half) reading and writing index files.

/// Everything that can fail in prom-index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the data model, such as a matcher whose regex does not compile.
    #[error(transparent)]
    Model(#[from] prom_model::Error),
    /// An I/O error while reading or writing an index file.
    #[error("{}: {source}", path.display())]
    IndexIo {
        /// The index file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An index file is malformed: truncated, a checksum mismatch, a reference out of range.
    #[error("{}: corrupt index: {section} at offset {offset}: {detail}", path.display())]
    IndexCorrupt {
        /// The index file.
        path: std::path::PathBuf,
        /// The section holding the bad bytes.
        section: crate::disk::Section,
        /// Byte offset of the bad bytes in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The index writer was used wrongly (out-of-order input, unknown symbol, format limits).
    #[error("{}: {source}", path.display())]
    IndexWrite {
        /// The index file being written.
        path: std::path::PathBuf,
        /// What was wrong.
        #[source]
        source: crate::disk::WriteError,
    },
}

/// The result type of prom-index.
pub type Result<T> = std::result::Result<T, Error>;
