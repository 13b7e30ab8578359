//! Prometheus's on-disk index, format version 2: the `index` file of a block.
//!
//! [`IndexWriter`] streams an index to a file: symbols, then series, then [`finish`] derives the
//! postings from the series it saw and writes the lookup tables and the table of contents.
//! [`IndexReader`] maps a finished file and answers lookups by decoding only the bytes a lookup
//! needs; postings come back as [`DiskPostings`] cursors implementing the crate's
//! [`Postings`](crate::Postings) trait.
//!
//! The byte layout is described in `docs/formats/index.md`; files written here are read by
//! Prometheus and promtool, and files they write are read here.
//!
//! ```
//! use prom_index::disk::{ChunkMeta, IndexReader, IndexWriter};
//! use prom_index::Postings;
//! use prom_model::Labels;
//!
//! let dir = std::env::temp_dir().join(format!("prom-index-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("index");
//!
//! let a = Labels::from_pairs(&[("__name__", "up"), ("job", "api")]);
//! let b = Labels::from_pairs(&[("__name__", "up"), ("job", "db")]);
//! let mut w = IndexWriter::create(&path)?;
//! for s in ["__name__", "api", "db", "job", "up"] {
//!     w.add_symbol(s)?;
//! }
//! let chunk = ChunkMeta { min_time: 0, max_time: 15_000, chunk_ref: 8 };
//! let ra = w.add_series(&a, &[chunk])?;
//! let rb = w.add_series(&b, &[])?;
//! w.finish()?;
//!
//! let r = IndexReader::open(&path)?;
//! assert_eq!(r.label_names(), ["__name__", "job"]);
//! assert_eq!(r.label_values("job")?, ["api", "db"]);
//! let mut p = r.postings("job", "db")?;
//! assert!(p.next() && p.at() == rb && !p.next());
//! assert_eq!(r.series(ra)?, (a, vec![chunk]));
//! r.verify()?;
//! # drop(r);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`finish`]: IndexWriter::finish

use std::fmt;

mod decode;
mod postings;
mod reader;
mod symbols;
mod writer;

pub use postings::DiskPostings;
pub use reader::{IndexReader, LabelValues, Symbols};
pub use writer::{IndexWriter, WriteError};

/// The four bytes every index file starts with, big-endian.
pub const MAGIC: u32 = 0xBAAA_D700;
/// The format version this module reads and writes (the byte after the magic).
pub const VERSION: u8 = 2;
/// Length of the header: magic and version.
pub const HEADER_LEN: usize = 5;
/// Length of the table of contents at the end of the file: six offsets and a checksum.
pub const TOC_LEN: usize = 6 * 8 + 4;
/// Series entries start at multiples of this; a series reference is its offset divided by it.
pub const SERIES_ALIGN: u64 = 16;
/// Label index and postings entries start at multiples of this.
pub(crate) const LIST_ALIGN: u64 = 4;

/// Where one chunk of a series lives and which time range it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChunkMeta {
    /// Timestamp of the chunk's first sample, in milliseconds (inclusive).
    pub min_time: i64,
    /// Timestamp of the chunk's last sample, in milliseconds (inclusive).
    pub max_time: i64,
    /// Reference into the block's chunk segments; opaque to the index. Prometheus packs the
    /// segment file's sequence number in the upper 32 bits and the byte offset in the lower 32.
    pub chunk_ref: u64,
}

/// The table of contents: the file offset at which each section starts.
///
/// The offsets are non-decreasing in field order. A writer that omits the legacy label indices
/// (Prometheus 3 does) leaves `label_indices == postings` and
/// `label_offset_table == postings_offset_table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// Where the series begin: the first series, or the padding before it.
    pub series: u64,
    /// The first legacy label index; also where the series end.
    pub label_indices: u64,
    /// The legacy label offset table; also where the postings lists end.
    pub label_offset_table: u64,
    /// Where the postings lists begin (possibly at padding); also where the label indices end.
    pub postings: u64,
    /// The postings offset table.
    pub postings_offset_table: u64,
}

/// A part of the index file, as named in corruption errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// Magic number and version.
    Header,
    /// The symbol table.
    Symbols,
    /// The series entries (and the padding between them).
    Series,
    /// The legacy label indices.
    LabelIndices,
    /// The postings lists.
    Postings,
    /// The legacy label offset table.
    LabelOffsetTable,
    /// The postings offset table.
    PostingsOffsetTable,
    /// The table of contents.
    Toc,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Symbols => "symbol table",
            Section::Series => "series",
            Section::LabelIndices => "label indices",
            Section::Postings => "postings",
            Section::LabelOffsetTable => "label offset table",
            Section::PostingsOffsetTable => "postings offset table",
            Section::Toc => "table of contents",
        })
    }
}

/// Maps `file` read-only.
///
/// Both halves of this module map index files: the reader its input, the writer the part of its
/// output it has finished (to look symbols up and to derive postings without holding strings).
#[allow(unsafe_code)]
pub(crate) fn map_file(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is only ever read through `&[u8]`, and every byte read from it is decoded
    // with bounds and checksum checks, so arbitrary contents cannot cause undefined behaviour in
    // our code. What the type system cannot rule out is another process truncating or rewriting
    // the file while it is mapped; index files are immutable once written (blocks are written
    // to a temporary directory and renamed into place), and that contract is documented on
    // `IndexReader`.
    unsafe { memmap2::Mmap::map(file) }
}
