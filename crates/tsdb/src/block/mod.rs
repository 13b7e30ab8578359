//! Persisted blocks in Prometheus's on-disk layout.
//!
//! A block is an immutable directory named by its [`Ulid`] holding every sample of a time range
//! `[min_time, max_time)`:
//!
//! ```text
//! <ulid>/
//!   meta.json        what the block covers and how it was made (BlockMeta)
//!   index            label index and series → chunk references (prom_index, format v2)
//!   chunks/000001    XOR chunks, in segment files of at most 512 MiB
//!   chunks/000002 …
//!   tombstones       deleted time ranges per series, the only file that changes
//! ```
//!
//! The byte layouts are in `docs/formats/block.md` (and `docs/formats/index.md`); Prometheus
//! and promtool read the blocks written here, and blocks they write are read here.
//!
//! - [`BlockWriter`] writes a block into `<ulid>.tmp-for-creation` and renames it into place
//!   once everything is synced, so a crash never leaves a half-written block under its name.
//! - [`Block`] opens one (verifying checksums with [`Block::open`]), lends out chunk bytes
//!   straight from the memory map, and answers queries through [`BlockQuerier`], which
//!   implements [`prom_model::Querier`]. [`Block::delete`] records tombstones.
//! - [`plan_compaction`] and [`compact`] merge blocks into larger ones, as Prometheus's leveled
//!   compactor does, dropping deleted samples on the way.
//!
//! ```
//! use prom_model::{Labels, Matcher, Querier, SampleIterator};
//! use prom_chunk::XorAppender;
//! use prom_tsdb::block::{Block, BlockCompaction, BlockWriter, ChunkData};
//! use prom_tsdb::ulid::Ulid;
//!
//! let parent = tempfile::tempdir()?;
//! let up = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]);
//! let mut chunk = XorAppender::new();
//! for t in (0..60_000).step_by(15_000) {
//!     chunk.append(t, 1.0)?;
//! }
//!
//! let ulid = Ulid::new();
//! let mut w = BlockWriter::create(parent.path(), ulid, 0, 7_200_000)?;
//! w.add_symbols(["__name__", "api", "job", "up"])?;
//! w.add_series(&up, &[ChunkData { min_time: 0, max_time: 45_000, bytes: chunk.bytes() }])?;
//! let meta = w.finish(BlockCompaction::new(ulid))?;
//! assert_eq!((meta.stats.num_series, meta.stats.num_samples), (1, 4));
//!
//! let block = Block::open(&parent.path().join(ulid.to_string()))?;
//! let q = block.querier(10_000, 40_000);
//! let mut set = q.select(true, None, &[Matcher::equal("job", "api")]);
//! let mut s = set.next().expect("one series");
//! assert_eq!(s.labels, up);
//! let mut ts = Vec::new();
//! while s.samples.next() {
//!     ts.push(s.samples.at().t);
//! }
//! assert_eq!(ts, [15_000, 30_000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

mod chunks;
mod compact;
mod meta;
mod querier;
mod reader;
mod select;
mod tombstones;
mod writer;

pub use chunks::{
    DEFAULT_SEGMENT_SIZE, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION, chunk_ref,
    split_chunk_ref,
};
pub use compact::{MAX_SAMPLES_PER_CHUNK, compact, exponential_ranges, plan_compaction};
pub use meta::{BlockCompaction, BlockDesc, BlockMeta, BlockStats, META_VERSION};
pub use querier::{BlockQuerier, BlockSampleIterator, BlockSeriesSet};
pub use reader::Block;
pub use select::postings_for_matchers;
pub use tombstones::{TOMBSTONES_MAGIC, TOMBSTONES_VERSION, Tombstones};
pub use writer::{BlockWriter, ChunkData};

use crate::ulid::Ulid;

/// The file names inside a block directory.
pub const META_FILE: &str = "meta.json";
/// The index file.
pub const INDEX_FILE: &str = "index";
/// The directory of chunk segment files.
pub const CHUNKS_DIR: &str = "chunks";
/// The tombstones file.
pub const TOMBSTONES_FILE: &str = "tombstones";
/// Suffix of the directory a block is written into before it is renamed into place.
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";

/// Block errors. Every variant names the block directory, and where it concerns a file, the
/// file inside it (`index`, `chunks/000001`, `meta.json`, `tombstones`) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a file of the block.
    #[error("block {}: {}{source}", dir.display(), prefix(file))]
    Io {
        /// The block directory.
        dir: PathBuf,
        /// The file, relative to the block directory (empty for the directory itself).
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file of the block is malformed: bad magic, checksum mismatch, truncated, a reference
    /// that points nowhere.
    #[error("block {}: {file}: corrupt{}: {reason}", dir.display(), at(*offset))]
    Corrupt {
        /// The block directory.
        dir: PathBuf,
        /// The file, relative to the block directory.
        file: String,
        /// Byte offset of the bad bytes in the file, when known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The index file could not be read or written.
    #[error("block {}: index: {source}", dir.display())]
    Index {
        /// The block directory.
        dir: PathBuf,
        /// The index reader's or writer's error (it names the section and offset).
        #[source]
        source: prom_index::Error,
    },
    /// A chunk's bytes do not decode.
    #[error("block {}: {file}: chunk {chunk_ref:#x}: {source}", dir.display())]
    Chunk {
        /// The block directory.
        dir: PathBuf,
        /// The segment file, relative to the block directory.
        file: String,
        /// The chunk's reference.
        chunk_ref: u64,
        /// The decoder's error.
        #[source]
        source: prom_chunk::Error,
    },
    /// Something valid that this implementation does not handle (a histogram chunk, a newer
    /// meta.json version).
    #[error("block {}: {file}: unsupported: {reason}", dir.display())]
    Unsupported {
        /// The block directory.
        dir: PathBuf,
        /// The file, relative to the block directory.
        file: String,
        /// What is not supported.
        reason: String,
    },
    /// The writer or compactor was used wrongly: series out of order, a chunk outside the
    /// block's range, blocks that cannot be compacted together.
    #[error("block {}: {reason}", dir.display())]
    InvalidInput {
        /// The block directory being written.
        dir: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

fn prefix(file: &str) -> String {
    if file.is_empty() {
        String::new()
    } else {
        format!("{file}: ")
    }
}

fn at(offset: Option<u64>) -> String {
    offset.map_or_else(String::new, |o| format!(" at offset {o}"))
}

impl Error {
    /// The block directory the error concerns.
    pub fn dir(&self) -> &Path {
        match self {
            Error::Io { dir, .. }
            | Error::Corrupt { dir, .. }
            | Error::Index { dir, .. }
            | Error::Chunk { dir, .. }
            | Error::Unsupported { dir, .. }
            | Error::InvalidInput { dir, .. } => dir,
        }
    }

    /// The file inside the block the error concerns, if any.
    pub fn file(&self) -> Option<&str> {
        match self {
            Error::Io { file, .. } if file.is_empty() => None,
            Error::Io { file, .. }
            | Error::Corrupt { file, .. }
            | Error::Chunk { file, .. }
            | Error::Unsupported { file, .. } => Some(file),
            Error::Index { .. } => Some(INDEX_FILE),
            Error::InvalidInput { .. } => None,
        }
    }

    /// The block's ULID, when the directory is named by one.
    pub fn ulid(&self) -> Option<Ulid> {
        let name = self.dir().file_name()?.to_str()?;
        name.get(..crate::ulid::ULID_LEN)?.parse().ok()
    }

    /// Whether the block's bytes are bad (as opposed to an I/O failure or misuse).
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Corrupt { .. } | Error::Chunk { .. } => true,
            Error::Index { source, .. } => matches!(source, prom_index::Error::IndexCorrupt { .. }),
            _ => false,
        }
    }

    pub(crate) fn io(dir: &Path, file: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            dir: dir.to_path_buf(),
            file: file.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        dir: &Path,
        file: impl Into<String>,
        offset: Option<u64>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corrupt {
            dir: dir.to_path_buf(),
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(dir: &Path, reason: impl Into<String>) -> Error {
        Error::InvalidInput {
            dir: dir.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// The module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is only read through `&[u8]`, and every read decodes with bounds and
    // checksum checks, so any contents are safe to look at. Blocks are immutable once renamed
    // into place (only `tombstones` and `meta.json` change, and those are read into memory,
    // never mapped); a process truncating a mapped file behind our back is outside the
    // contract, as for Prometheus.
    unsafe { memmap2::Mmap::map(file) }
}

/// Syncs a directory, so the entries created or renamed in it survive a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` atomically: a temporary file, fsync, rename, fsync of `dir`.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp_name = format!("{name}.tmp");
    let tmp = dir.join(&tmp_name);
    let io = |e| Error::io(dir, tmp_name.clone(), e);
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| Error::io(dir, name, e))?;
    sync_dir(dir).map_err(|e| Error::io(dir, "", e))
}
