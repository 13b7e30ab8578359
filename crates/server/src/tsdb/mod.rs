//! `prom tsdb ...`: tools for TSDB data directories, compatible with `promtool tsdb`.
//!
//! - [`backfill`]: `create-blocks-from openmetrics`, blocks from an OpenMetrics file;
//! - [`list`]: `list`, the blocks of a directory;
//! - [`analyze`]: `analyze`, the cardinality report of a block;
//! - [`dump`]: `dump`, samples as text, selected by a [`selector`].
//!
//! Their output matches promtool 2.42's byte for byte where promtool's is deterministic (it
//! breaks ties in `analyze` rankings at random; we by name), so scripts written against
//! promtool keep working and the two can be diffed. Blocks written by either are read by
//! both.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use prom_exposition::ParseError;

pub mod analyze;
pub mod backfill;
pub mod blocks;
pub mod dump;
mod gofmt;
pub mod list;
pub mod query;
pub mod selector;

/// Arguments of `prom tsdb`.
#[derive(Debug, Args)]
pub struct TsdbArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TsdbCommand,
}

/// The `prom tsdb` subcommands.
#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Create blocks from an input file ("backfilling").
    CreateBlocksFrom(backfill::CreateBlocksArgs),
    /// List the blocks of a data directory: ULID, time range, samples, chunks, series, size.
    List(list::ListArgs),
    /// Report the cardinality of a block: series, label pairs, churn.
    Analyze(analyze::AnalyzeArgs),
    /// Print the samples of a data directory, one `{labels} value timestamp` line each.
    Dump(dump::DumpArgs),
    /// Evaluate a PromQL expression against a data directory and print the API's JSON.
    Query(query::QueryArgs),
}

/// Why a `prom tsdb` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not parse, or has a sample a block cannot take.
    #[error("{}:{error}", path.display())]
    Input {
        /// The input file.
        path: PathBuf,
        /// What is wrong, and where.
        error: ParseError,
        /// The error with its line and a caret, as [`ParseError::render`] shows it.
        rendered: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A block could not be read or written; the error names the block directory and file.
    #[error(transparent)]
    Block(#[from] prom_tsdb::block::Error),
    /// A block of the database could not be read (the reason names the block's files).
    #[error("{reason}")]
    UnreadableBlock {
        /// The block directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A block's index could not be read.
    #[error("block {}: index: {source}", path.display())]
    Index {
        /// The block directory.
        path: PathBuf,
        /// What the index reader said.
        source: prom_index::Error,
    },
    /// The requested block is not in the directory.
    #[error("no block {id} in {}", dir.display())]
    BlockNotFound {
        /// The data directory.
        dir: PathBuf,
        /// The ULID asked for.
        id: String,
    },
    /// The directory has no blocks.
    #[error("no blocks in {}", dir.display())]
    NoBlocks {
        /// The data directory.
        dir: PathBuf,
    },
    /// `--match` does not parse.
    #[error("--match {input}: {error}")]
    Selector {
        /// The selector as given.
        input: String,
        /// What is wrong with it.
        error: selector::SelectorError,
    },
    /// Reading series or samples failed.
    #[error("{what}: {message}")]
    Query {
        /// What was being read.
        what: String,
        /// What the storage said.
        message: String,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

impl Error {
    /// An input error at `error`'s position in `input`, read from `path`.
    pub fn input(path: &Path, input: &[u8], error: ParseError) -> Self {
        Error::Input {
            path: path.to_owned(),
            rendered: error.render(input),
            error,
        }
    }

    /// The message for people: like `Display`, plus the offending line and a caret for input
    /// and selector errors.
    pub fn render(&self) -> String {
        match self {
            Error::Input { path, rendered, .. } => format!("{}:{rendered}", path.display()),
            Error::Selector { input, error } => format!("--match: {}", error.render(input)),
            e => format!("prom: {e}"),
        }
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Runs `prom tsdb ...` and returns the exit status: failures are printed to stderr here
/// (exit 1), except a failed write of the output, which goes up to the caller as
/// [`crate::Error::Write`] so a closed pipe stays quiet.
pub fn run(args: TsdbArgs) -> crate::Result<u8> {
    let outcome = match &args.command {
        TsdbCommand::CreateBlocksFrom(c) => match &c.format {
            backfill::CreateBlocksFormat::OpenMetrics(a) => backfill::run(a),
        },
        TsdbCommand::List(a) => list::run(a),
        TsdbCommand::Analyze(a) => analyze::run(a),
        TsdbCommand::Dump(a) => dump::run(a),
        TsdbCommand::Query(a) => query::run(a),
    };
    match outcome {
        Ok(code) => Ok(code),
        Err(Error::Write(e)) => Err(crate::Error::Write(e)),
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(io::stderr(), "{}", e.render());
            Ok(1)
        }
    }
}
