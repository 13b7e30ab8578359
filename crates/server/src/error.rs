//! The error of a `prom` command that could not do its job (as opposed to a check that ran
//! and found problems, which is a result, not an error).

use std::io;
use std::path::PathBuf;

/// Why a command failed to run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file named on the command line.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Standard input could not be read.
    #[error("cannot read standard input: {0}")]
    Stdin(#[source] io::Error),
    /// A query could not be asked or answered (`prom query`).
    #[error("{what}: {message}")]
    Query {
        /// What was being done or which flag was wrong.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
