//! Sealed head chunks moved out of the heap into memory-mapped files, as Prometheus's
//! `chunks_head` does: a chunk is written once into a preallocated segment file and read
//! through a read-only shared mapping of it, so its bytes live in the page cache (reclaimable,
//! shared with the writes) instead of the process heap.
//!
//! The files are a memory offload, not a durability layer: the WAL is the record, and the
//! directory is emptied when the database opens (the replay rebuilds it). A chunk that cannot
//! be written (disk full) stays on the heap.
//!
//! Layout: `prom-chunks-head/NNNNNNNN`, each file preallocated (sparse) to [`SEGMENT_SIZE`]
//! bytes, chunks' bytes back to back from offset 0. Segments whose newest chunk ends before
//! the head's minimum time are deleted on truncation; queriers still holding a chunk keep
//! the mapping (and the unlinked file) alive through an `Arc`.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

/// The size each segment file is preallocated to.
pub(crate) const SEGMENT_SIZE: u64 = 64 << 20;

/// One mapped segment file.
pub(crate) struct Segment {
    path: PathBuf,
    file: File,
    map: memmap2::Mmap,
    /// The newest sample time of any chunk written to it.
    max_time: AtomicI64,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("path", &self.path).finish()
    }
}

/// A chunk in a segment: 16 bytes.
#[derive(Debug, Clone)]
pub(crate) struct MappedChunk {
    seg: Arc<Segment>,
    off: u32,
    len: u32,
}

impl MappedChunk {
    /// The chunk's bytes.
    #[allow(unsafe_code)]
    pub fn bytes(&self) -> &[u8] {
        let (off, len) = (self.off as usize, self.len as usize);
        debug_assert!(off + len <= self.seg.map.len());
        // SAFETY: `[off, off + len)` lies inside the mapping (checked when the chunk was
        // written: `off + len <= SEGMENT_SIZE`, the mapping's length) and was written with
        // `write_all_at` before this `MappedChunk` was created; no byte of it is ever written
        // again (the writer only appends past its position, and the file is private to this
        // process under the directory lock). The bytes the kernel changes later for other
        // chunks are outside this slice, and we never form a reference to the whole map. The
        // `Arc<Segment>` keeps the mapping alive for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.seg.map.as_ptr().add(off), len) }
    }
}

struct Writer {
    segments: Vec<Arc<Segment>>,
    next_seq: u32,
    /// Write position in the last segment.
    pos: u64,
}

/// The segment files of one head.
pub(crate) struct HeadChunks {
    dir: PathBuf,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for HeadChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadChunks")
            .field("dir", &self.dir)
            .finish()
    }
}

#[allow(unsafe_code)]
fn map(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and only read through `MappedChunk::bytes`, whose
    // invariant covers concurrent appends; the file belongs to this database (created by it,
    // under the directory lock) and is never truncated while mapped.
    unsafe { memmap2::Mmap::map(file) }
}

impl HeadChunks {
    /// Empties (creating) `dir`.
    pub fn open(dir: &Path) -> Result<HeadChunks> {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(HeadChunks {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer {
                segments: Vec::new(),
                next_seq: 1,
                pos: SEGMENT_SIZE,
            }),
        })
    }

    fn new_segment(&self, w: &mut Writer) -> std::io::Result<()> {
        let path = self.dir.join(format!("{:08}", w.next_seq));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(SEGMENT_SIZE)?;
        let map = map(&file)?;
        w.segments.push(Arc::new(Segment {
            path,
            file,
            map,
            max_time: AtomicI64::new(i64::MIN),
        }));
        w.next_seq += 1;
        w.pos = 0;
        Ok(())
    }

    /// Writes a sealed chunk; `None` when it could not be (the caller keeps it on the heap).
    pub fn write(&self, bytes: &[u8], max_time: i64) -> Option<MappedChunk> {
        let len = u64::try_from(bytes.len()).ok()?;
        if len == 0 || len > SEGMENT_SIZE {
            return None;
        }
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if w.pos + len > SEGMENT_SIZE
            && let Err(e) = self.new_segment(&mut w)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot create a head chunk segment; keeping chunks on the heap");
            return None;
        }
        let seg = w.segments.last()?.clone();
        let off = w.pos;
        if let Err(e) = seg.file.write_all_at(bytes, off) {
            tracing::warn!(segment = %seg.path.display(), error = %e, "cannot write a head chunk; keeping it on the heap");
            return None;
        }
        w.pos += len;
        seg.max_time.fetch_max(max_time, Ordering::Relaxed);
        Some(MappedChunk {
            seg,
            off: u32::try_from(off).ok()?,
            len: u32::try_from(len).ok()?,
        })
    }

    /// Deletes the segments (other than the one being written) whose chunks all end before
    /// `mint`. Returns how many were deleted.
    pub fn truncate(&self, mint: i64) -> usize {
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(last) = w.segments.len().checked_sub(1) else {
            return 0;
        };
        let mut deleted = 0;
        let mut i = 0;
        w.segments.retain(|s| {
            let keep = i == last || s.max_time.load(Ordering::Relaxed) >= mint;
            i += 1;
            if !keep {
                if let Err(e) = fs::remove_file(&s.path) {
                    tracing::warn!(segment = %s.path.display(), error = %e, "cannot delete a head chunk segment");
                }
                deleted += 1;
            }
            keep
        });
        deleted
    }

    /// The number of segment files.
    #[cfg(test)]
    pub fn segments(&self) -> usize {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .segments
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_across_segments_and_truncation_keeps_live_handles() {
        let dir = tempfile::tempdir().unwrap();
        let hc = HeadChunks::open(&dir.path().join("c")).unwrap();
        let big = vec![7u8; (SEGMENT_SIZE / 2 + 1) as usize];
        let a = hc.write(&big, 10).unwrap();
        let b = hc.write(b"hello", 20).unwrap();
        let c = hc.write(&big, 30).unwrap(); // does not fit: a new segment
        assert_eq!(hc.segments(), 2);
        assert_eq!(a.bytes(), &big[..]);
        assert_eq!(b.bytes(), b"hello");
        assert_eq!(c.bytes(), &big[..]);
        // The first segment ends at 20: deleted for mint 21, yet `b` still reads.
        assert_eq!(hc.truncate(21), 1);
        assert_eq!(hc.segments(), 1);
        assert_eq!(b.bytes(), b"hello");
        assert!(hc.write(&[], 1).is_none());
        // Reopening empties the directory.
        drop(hc);
        let hc = HeadChunks::open(&dir.path().join("c")).unwrap();
        assert_eq!(hc.segments(), 0);
        assert_eq!(fs::read_dir(dir.path().join("c")).unwrap().count(), 0);
    }
}
