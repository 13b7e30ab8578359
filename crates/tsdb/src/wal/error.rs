//! The WAL's error type.

use std::path::{Path, PathBuf};

use super::segment::{Corruption, MAGIC, MAX_SEGMENT, VERSION};

/// Everything that can go wrong in the WAL. Each message names the file (and, where it
/// matters, the offset) and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a file or directory failed.
    #[error("{}{}: {op}: {source}", path.display(), at(*offset))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Where in the file, for writes to a segment.
        offset: Option<u64>,
        /// What was being done ("write", "sync", …).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file named like a segment does not start with the segment magic.
    #[error(
        "{}: offset 0: not a prom WAL segment: it starts with {} ({len} bytes long), a segment \
         with {} (\"PWAL\"); Prometheus's own wal/ segments are a different format and are \
         not read",
        path.display(), hex(found.get(..(*len).min(4)).unwrap_or_default()), hex(&MAGIC)
    )]
    NotASegment {
        /// The file.
        path: PathBuf,
        /// Its first bytes (up to four).
        found: [u8; 4],
        /// Its length.
        len: usize,
    },
    /// A segment of a format version this code does not read.
    #[error(
        "{}: offset 4: segment format version {version} is not supported (this build reads \
         version {VERSION})",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version byte found.
        version: u8,
    },
    /// Damaged data where it cannot be repaired by truncation: in a checkpoint, or in
    /// segments a checkpoint was reading.
    #[error("{0}")]
    Corrupt(Corruption),
    /// A segment in the middle of the sequence is missing.
    #[error(
        "{}: segment {missing:08} is missing (the next one on disk is {found:08}); the records \
         it held are lost and later records may refer to series it defined",
        dir.display()
    )]
    MissingSegment {
        /// The WAL directory.
        dir: PathBuf,
        /// The missing segment number.
        missing: u32,
        /// The next segment number found.
        found: u32,
    },
    /// One `log()` batch encodes to a record larger than a frame can hold (4 GiB).
    #[error("{}: a record of {len} bytes exceeds the frame limit of 4 GiB", segment.display())]
    RecordTooLarge {
        /// The segment being written.
        segment: PathBuf,
        /// The record's encoded length.
        len: usize,
    },
    /// Segment numbers are exhausted.
    #[error("{}: segment number {MAX_SEGMENT} reached, the largest an 8-digit name holds", dir.display())]
    SegmentLimit {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// An earlier write or sync failed in a way that leaves the segment's state unknown;
    /// the WAL refuses further writes. Reopen it (replay and repair run first).
    #[error(
        "{}: offset {offset}: the WAL is unusable after a failed {op}: {cause}; reopen it to \
         recover",
        segment.display()
    )]
    Poisoned {
        /// The segment being written.
        segment: PathBuf,
        /// The offset up to which the segment was known good.
        offset: u64,
        /// The failed operation.
        op: &'static str,
        /// The original error, as text.
        cause: String,
    },
    /// [`repair`](super::repair) was given a corruption that is not in a segment of that
    /// directory.
    #[error(
        "cannot repair {}: not a segment of the WAL directory {}",
        segment.display(), dir.display()
    )]
    NotRepairable {
        /// The WAL directory.
        dir: PathBuf,
        /// The file the corruption names.
        segment: PathBuf,
    },
}

fn at(offset: Option<u64>) -> String {
    offset.map_or_else(String::new, |o| format!(": offset {o}"))
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing".to_string();
    }
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds a path and an operation to I/O errors.
pub(crate) trait IoResultExt<T> {
    fn io_ctx(self, path: &Path, op: &'static str) -> Result<T, Error>;
}

impl<T> IoResultExt<T> for std::io::Result<T> {
    fn io_ctx(self, path: &Path, op: &'static str) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            offset: None,
            op,
            source,
        })
    }
}

/// `Result` with the WAL's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
