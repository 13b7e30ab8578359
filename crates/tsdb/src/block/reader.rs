//! An opened block.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prom_chunk::ENCODING_XOR;
use prom_index::{ChunkMeta, IndexReader, Postings};
use prom_model::Matcher;

use super::chunks::{Segments, split_chunk_ref};
use super::meta::BlockMeta;
use super::querier::BlockQuerier;
use super::select::postings_for_matchers;
use super::tombstones::Tombstones;
use super::{Error, INDEX_FILE, Result};
use crate::interval::Interval;
use crate::ulid::Ulid;

/// What changes when series are deleted.
#[derive(Debug)]
struct Mutable {
    meta: BlockMeta,
    tombstones: Arc<Tombstones>,
    meta_bytes: u64,
    tombstone_bytes: u64,
}

/// An opened block: its meta, its index and chunk segments mapped into memory, its tombstones.
///
/// A block is shared between queries (`Arc<Block>`); everything is read through `&self`.
/// [`delete`](Self::delete) is the only mutation: it swaps in new tombstones, which queriers
/// opened afterwards see, while those opened before keep the tombstones they started with.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    ulid: Ulid,
    min_time: i64,
    max_time: i64,
    index: IndexReader,
    segments: Segments,
    index_bytes: u64,
    state: RwLock<Mutable>,
    /// Serialises deletions, so two of them do not both start from the same tombstones.
    deleting: Mutex<()>,
}

impl Block {
    /// Opens the block in `dir` and verifies it: the index's checksums and structure, every
    /// chunk's CRC32C, and that every chunk reference in the index points at a chunk. Linear in
    /// the block's size.
    ///
    /// A bad block yields an [`Error`] naming the block directory, the file and what is wrong.
    pub fn open(dir: &Path) -> Result<Block> {
        let b = Block::open_unverified(dir)?;
        b.verify()?;
        Ok(b)
    }

    /// Opens the block in `dir`, checking only what opening reads anyway: meta.json, the
    /// tombstones, the segment headers, the index's header, table of contents, symbol table
    /// and postings offset table. Chunks are checked (CRC32C) when they are read.
    pub fn open_unverified(dir: &Path) -> Result<Block> {
        let (meta, meta_bytes) = BlockMeta::read(dir)?;
        let segments = Segments::open(dir)?;
        let index = IndexReader::open(dir.join(INDEX_FILE)).map_err(|source| Error::Index {
            dir: dir.to_path_buf(),
            source,
        })?;
        let index_bytes = std::fs::metadata(dir.join(INDEX_FILE))
            .map_err(|e| Error::io(dir, INDEX_FILE, e))?
            .len();
        let (tombstones, tombstone_bytes) = Tombstones::read(dir)?;
        Ok(Block {
            dir: dir.to_path_buf(),
            ulid: meta.ulid,
            min_time: meta.min_time,
            max_time: meta.max_time,
            index,
            segments,
            index_bytes,
            state: RwLock::new(Mutable {
                meta,
                tombstones: Arc::new(tombstones),
                meta_bytes,
                tombstone_bytes,
            }),
            deleting: Mutex::new(()),
        })
    }

    /// Checks the whole block; see [`open`](Self::open).
    pub fn verify(&self) -> Result<()> {
        self.index.verify().map_err(|e| self.index_err(e))?;
        // Every chunk start, per segment, in file order (so sorted).
        let mut starts: Vec<Vec<u32>> = vec![Vec::new(); self.segments.len()];
        self.segments.scan(|r, _| {
            let (seg, off) = split_chunk_ref(r);
            if let Some(v) = starts.get_mut(seg as usize) {
                v.push(off);
            }
            Ok(())
        })?;
        let mut postings = self.index.all_postings().map_err(|e| self.index_err(e))?;
        let mut labels = Vec::new();
        let mut chunks = Vec::new();
        while postings.next() {
            let sref = postings.at();
            self.index
                .series_into(sref, &mut labels, &mut chunks)
                .map_err(|e| self.index_err(e))?;
            for c in &chunks {
                let (seg, off) = split_chunk_ref(c.chunk_ref);
                let found = starts
                    .get(seg as usize)
                    .is_some_and(|v| v.binary_search(&off).is_ok());
                if !found {
                    return Err(Error::corrupt(
                        &self.dir,
                        INDEX_FILE,
                        None,
                        format!(
                            "series {} references chunk {:#x} ({} offset {off}), where no chunk \
                             starts",
                            prom_model::Labels::from_pairs(&labels),
                            c.chunk_ref,
                            self.segments.name_of(c.chunk_ref),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn index_err(&self, source: prom_index::Error) -> Error {
        Error::Index {
            dir: self.dir.clone(),
            source,
        }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, Mutable> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The block's meta as it is now (a copy: [`delete`](Self::delete) updates the tombstone
    /// count).
    pub fn meta(&self) -> BlockMeta {
        self.state().meta.clone()
    }

    /// The block's ULID.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// The block's min time (inclusive).
    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    /// The block's max time (exclusive).
    pub fn max_time(&self) -> i64 {
        self.max_time
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the block takes on disk: chunk segments, index, tombstones and meta.json.
    pub fn size_bytes(&self) -> u64 {
        let s = self.state();
        self.segments.size() + self.index_bytes + s.meta_bytes + s.tombstone_bytes
    }

    /// The index.
    pub fn index(&self) -> &IndexReader {
        &self.index
    }

    /// The XOR bytes of the chunk with reference `chunk_ref`, borrowed from the map; its CRC32C
    /// is checked on every call.
    pub fn chunk(&self, chunk_ref: u64) -> Result<&[u8]> {
        let c = self.segments.chunk(chunk_ref)?;
        if c.encoding != ENCODING_XOR {
            return Err(Error::Unsupported {
                dir: self.dir.clone(),
                file: self.segments.name_of(chunk_ref),
                reason: format!(
                    "chunk {chunk_ref:#x} has encoding {} (only XOR float chunks, 1, are read)",
                    c.encoding
                ),
            });
        }
        Ok(c.data)
    }

    /// The name of the segment file a chunk reference points into, for error messages.
    pub(super) fn segment_name(&self, chunk_ref: u64) -> String {
        self.segments.name_of(chunk_ref)
    }

    /// The current tombstones (a snapshot: a later [`delete`](Self::delete) does not change
    /// it).
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.state().tombstones.clone()
    }

    /// A querier over samples with `mint <= t <= maxt`; see [`BlockQuerier`].
    pub fn querier(&self, mint: i64, maxt: i64) -> BlockQuerier<'_> {
        BlockQuerier::new(self, self.tombstones(), mint, maxt)
    }

    /// The references of the series `matchers` select, in label order.
    pub fn select_refs(&self, matchers: &[Matcher]) -> Result<Vec<u64>> {
        postings_for_matchers(&self.index, matchers).map_err(|e| self.index_err(e))
    }

    /// Adds tombstones for the series `matchers` select over `[mint, maxt]`, then rewrites the
    /// tombstones file and meta.json atomically (temporary file and rename). Returns how many
    /// series were affected.
    ///
    /// As in Prometheus, only series with a chunk overlapping `[mint, maxt]` get a tombstone,
    /// and the interval is clamped to the series' time range. When no series is affected,
    /// nothing is written.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize> {
        let _serial = self.deleting.lock().unwrap_or_else(PoisonError::into_inner);
        if mint > maxt {
            return Ok(0);
        }
        let refs = self.select_refs(matchers)?;
        let mut stones = (*self.tombstones()).clone();
        let mut affected = 0;
        let mut labels = Vec::new();
        let mut chunks: Vec<ChunkMeta> = Vec::new();
        for sref in refs {
            self.index
                .series_into(sref, &mut labels, &mut chunks)
                .map_err(|e| self.index_err(e))?;
            if !chunks
                .iter()
                .any(|c| c.min_time <= maxt && mint <= c.max_time)
            {
                continue;
            }
            let first = chunks.iter().map(|c| c.min_time).min().unwrap_or(mint);
            let last = chunks.iter().map(|c| c.max_time).max().unwrap_or(maxt);
            stones.add(sref, Interval::new(mint.max(first), maxt.min(last)));
            affected += 1;
        }
        if affected == 0 {
            return Ok(0);
        }
        let stones = Arc::new(stones);
        let tombstone_bytes = stones.write(&self.dir)?;
        let mut meta = {
            let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
            s.tombstones = stones.clone();
            s.tombstone_bytes = tombstone_bytes;
            s.meta.clone()
        };
        meta.stats.num_tombstones = stones.num_intervals();
        let meta_bytes = meta.write(&self.dir)?;
        let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
        s.meta = meta;
        s.meta_bytes = meta_bytes;
        Ok(affected)
    }
}
