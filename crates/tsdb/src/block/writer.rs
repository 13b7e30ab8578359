//! Writing a block: chunks, index, meta.json and tombstones into a temporary directory that is
//! renamed into place once everything is on disk.

use std::fs;
use std::path::{Path, PathBuf};

use prom_chunk::{ENCODING_XOR, XorChunk};
use prom_index::{ChunkMeta, IndexWriter};
use prom_model::Labels;

use super::chunks::{DEFAULT_SEGMENT_SIZE, SegmentWriter};
use super::meta::{BlockCompaction, BlockMeta, BlockStats, META_VERSION};
use super::tombstones::Tombstones;
use super::{Error, INDEX_FILE, Result, TMP_CREATION_SUFFIX};
use crate::ulid::Ulid;

/// One XOR chunk of a series, as handed to [`BlockWriter::add_series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkData<'a> {
    /// Timestamp of the chunk's first sample (inclusive).
    pub min_time: i64,
    /// Timestamp of the chunk's last sample (inclusive).
    pub max_time: i64,
    /// The chunk's bytes in XOR encoding (`prom_chunk`), without the segment framing.
    pub bytes: &'a [u8],
}

/// Writes one block.
///
/// Call [`create`](Self::create), [`add_symbols`](Self::add_symbols) with every label name and
/// value in sorted order, [`add_series`](Self::add_series) for each series in label order, and
/// [`finish`](Self::finish). Everything goes into `<parent>/<ulid>.tmp-for-creation`; `finish`
/// syncs every file and renames the directory to `<parent>/<ulid>`. A writer dropped before
/// `finish`, or whose `finish` failed, removes its temporary directory.
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    ulid: Ulid,
    min_time: i64,
    max_time: i64,
    chunks: Option<SegmentWriter>,
    index: Option<IndexWriter>,
    stats: BlockStats,
    last: Option<Labels>,
    metas: Vec<ChunkMeta>,
    wrote_chunks: bool,
    done: bool,
}

impl BlockWriter {
    /// Starts a block for samples with `min_time <= t < max_time` in
    /// `<parent>/<ulid>.tmp-for-creation` (replacing a leftover of that name).
    pub fn create(parent: &Path, ulid: Ulid, min_time: i64, max_time: i64) -> Result<Self> {
        let tmp = parent.join(format!("{ulid}{TMP_CREATION_SUFFIX}"));
        if min_time >= max_time {
            return Err(Error::invalid(
                &tmp,
                format!("empty time range [{min_time}, {max_time})"),
            ));
        }
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, "", e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, "", e))?;
        let mut w = BlockWriter {
            parent: parent.to_path_buf(),
            tmp: tmp.clone(),
            ulid,
            min_time,
            max_time,
            chunks: None,
            index: None,
            stats: BlockStats::default(),
            last: None,
            metas: Vec::new(),
            wrote_chunks: false,
            done: false,
        };
        // From here on, `Drop` cleans up on failure.
        w.chunks = Some(SegmentWriter::create(&tmp, DEFAULT_SEGMENT_SIZE)?);
        w.index =
            Some(
                IndexWriter::create(tmp.join(INDEX_FILE)).map_err(|source| Error::Index {
                    dir: tmp.clone(),
                    source,
                })?,
            );
        Ok(w)
    }

    /// Sets the size limit of the chunk segment files (default [`DEFAULT_SEGMENT_SIZE`],
    /// 512 MiB; at most 4 GiB). Only allowed before the first series.
    pub fn with_segment_size(mut self, bytes: u64) -> Result<Self> {
        if self.wrote_chunks {
            return Err(Error::invalid(
                &self.tmp,
                "segment size set after chunks were written",
            ));
        }
        drop(self.chunks.take());
        self.chunks = Some(SegmentWriter::create(&self.tmp, bytes)?);
        Ok(self)
    }

    /// The directory being written.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    fn index_err(&self, source: prom_index::Error) -> Error {
        Error::Index {
            dir: self.tmp.clone(),
            source,
        }
    }

    /// Adds the strings of the block's labels, names and values alike, in strictly increasing
    /// byte order. All of them must be added before the first series.
    pub fn add_symbols<'a>(&mut self, sorted: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let Some(index) = self.index.as_mut() else {
            return Err(Error::invalid(&self.tmp, "writer already failed"));
        };
        for s in sorted {
            if let Err(e) = index.add_symbol(s) {
                return Err(self.index_err(e));
            }
        }
        Ok(())
    }

    /// Adds a series with its chunks. Series come in strictly increasing label order; chunks
    /// are ordered by time, each starting after the previous one ends, each within the block's
    /// range, and each holding at least one sample.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkData<'_>]) -> Result<()> {
        if labels.is_empty() {
            return Err(Error::invalid(&self.tmp, "series with no labels"));
        }
        if let Some(prev) = &self.last
            && prev >= labels
        {
            return Err(Error::invalid(
                &self.tmp,
                format!("series {labels} added after {prev}: series must be in label order"),
            ));
        }
        if chunks.is_empty() {
            return Err(Error::invalid(
                &self.tmp,
                format!("series {labels} has no chunks"),
            ));
        }
        let mut num_samples = 0u64;
        let mut prev_max: Option<i64> = None;
        for (i, c) in chunks.iter().enumerate() {
            let why = if c.min_time > c.max_time {
                Some("its time range is inverted".to_string())
            } else if c.min_time < self.min_time || c.max_time >= self.max_time {
                Some(format!(
                    "it is outside the block's range [{}, {})",
                    self.min_time, self.max_time
                ))
            } else if prev_max.is_some_and(|m| c.min_time <= m) {
                Some("it does not start after the previous chunk ends".to_string())
            } else {
                match XorChunk::new(c.bytes) {
                    Ok(x) if x.num_samples() > 0 => {
                        num_samples += u64::from(x.num_samples());
                        None
                    }
                    Ok(_) => Some("it holds no samples".to_string()),
                    Err(e) => Some(e.to_string()),
                }
            };
            if let Some(why) = why {
                return Err(Error::invalid(
                    &self.tmp,
                    format!(
                        "chunk {i} [{}, {}] of series {labels}: {why}",
                        c.min_time, c.max_time
                    ),
                ));
            }
            prev_max = Some(c.max_time);
        }

        let Some(seg) = self.chunks.as_mut() else {
            return Err(Error::invalid(&self.tmp, "writer already failed"));
        };
        self.wrote_chunks = true;
        self.metas.clear();
        for c in chunks {
            let chunk_ref = seg.write(ENCODING_XOR, c.bytes)?;
            self.metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref,
            });
        }
        let Some(index) = self.index.as_mut() else {
            return Err(Error::invalid(&self.tmp, "writer already failed"));
        };
        if let Err(e) = index.add_series(labels, &self.metas) {
            return Err(self.index_err(e));
        }
        self.stats.num_series += 1;
        self.stats.num_chunks += chunks.len() as u64;
        self.stats.num_samples += num_samples;
        self.last = Some(labels.clone());
        Ok(())
    }

    /// Number of series added so far.
    pub fn num_series(&self) -> u64 {
        self.stats.num_series
    }

    /// Completes the block: syncs the chunk segments and the index, writes `meta.json` with
    /// `compaction` and an empty `tombstones`, and renames the directory to `<parent>/<ulid>`.
    pub fn finish(mut self, compaction: BlockCompaction) -> Result<BlockMeta> {
        let (Some(chunks), Some(index)) = (self.chunks.take(), self.index.take()) else {
            return Err(Error::invalid(&self.tmp, "writer already failed"));
        };
        chunks.finish()?;
        index.finish().map_err(|e| self.index_err(e))?;
        let meta = BlockMeta {
            ulid: self.ulid,
            min_time: self.min_time,
            max_time: self.max_time,
            stats: self.stats,
            compaction,
            version: META_VERSION,
        };
        meta.write(&self.tmp)?;
        Tombstones::new().write(&self.tmp)?;
        let dst = self.parent.join(self.ulid.to_string());
        if dst.exists() {
            return Err(Error::invalid(
                &dst,
                "a block with this ULID already exists",
            ));
        }
        fs::rename(&self.tmp, &dst).map_err(|e| Error::io(&self.tmp, "", e))?;
        self.done = true;
        super::sync_dir(&self.parent).map_err(|e| Error::io(&dst, "..", e))?;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            drop(self.chunks.take());
            drop(self.index.take());
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}
