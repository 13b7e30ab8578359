//! The write-ahead log: every commit to the head is first appended here, so the head can be
//! rebuilt after a restart or a crash. The byte format is in `docs/formats/wal.md`.
//!
//! A WAL is a directory of numbered segment files (`00000000`, `00000001`, …), each a small
//! header followed by checksummed frames, one [`Record`] per frame. [`Wal::log`] appends a
//! batch of records with one `write(2)` (and one `fdatasync` under [`SyncPolicy::Always`]).
//! [`Wal::checkpoint`] folds old segments into a `checkpoint.NNNNNNNN` directory that keeps
//! only what the head still needs, and deletes them. [`replay`] reads the newest checkpoint
//! and the segments after it; a torn or corrupt frame stops it and is reported, and
//! [`repair`] then cuts the WAL back to the last good record.
//!
//! ```
//! use prom_model::Labels;
//! use prom_tsdb::wal::{self, Record, RefSample, RefSeries, Wal, WalOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let mut w = Wal::open(dir.path(), WalOptions::default())?;
//! w.log(&[
//!     Record::Series(vec![RefSeries { r: 1, labels: Labels::from_pairs(&[("job", "a")]) }]),
//!     Record::Samples(vec![RefSample { r: 1, t: 1_000, v: 0.5 }]),
//! ])?;
//! drop(w);
//!
//! let mut got = Vec::new();
//! let stats = wal::replay(dir.path(), &mut |rec| got.push(rec))?;
//! assert_eq!(got.len(), 2);
//! assert_eq!(got[1], Record::Samples(vec![RefSample { r: 1, t: 1_000, v: 0.5 }]));
//! assert_eq!((stats.series, stats.samples), (1, 1));
//! assert!(stats.corruption.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # API themes
//!
//! - Writing: [`Wal::open`] with [`WalOptions`], [`Wal::log`], [`Wal::cut_segment`],
//!   [`Wal::checkpoint`].
//! - Reading: [`replay`] (owned records), [`replay_borrowed`] (reused buffers, the fast path),
//!   [`read_segment`] (one file).
//! - Damage: [`ReplayStats::corruption`] locates it ([`Corruption`]: file, offset,
//!   [`Reason`]); [`repair`] truncates there. [`Error`] is for what truncation cannot fix.
//! - Codec: [`Record::encode`] / [`Record::decode`], [`DecodeBuffers`].
//!
//! # Cost
//!
//! Measured in release mode on the shared 2-core VM, for commits of 1,000 samples of one
//! scrape (consecutive refs, one timestamp, noisy float values): encoding takes about 7.5 ns
//! and 11 bytes per sample, decoding into reused buffers about 5.5 ns, a whole `log()` with
//! [`SyncPolicy::Never`] (encode, CRC, `write(2)`) about 17 ns, and [`replay_borrowed`] of a
//! 52 MB segment from the page cache (read, CRC, decode) about 15 ns. An `fdatasync` per
//! commit dominates under [`SyncPolicy::Always`]: 0.3 to 0.5 ms on that disk.
// Segments are untrusted input: no panicking shortcuts in this module.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod checkpoint;
mod error;
mod record;
mod replay;
mod segment;

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use checkpoint::CheckpointStats;
pub use error::{Error, Result};
pub use record::{
    DecodeBuffers, DecodeError, DecodeErrorKind, Record, RecordRef, RefSample, RefSeries, Stone,
    TYPE_SAMPLES, TYPE_SERIES, TYPE_TOMBSTONES,
};
pub use replay::{RepairStats, ReplayStats, read_segment, repair, replay, replay_borrowed};
pub use segment::{
    Corruption, FRAME_HEADER_LEN, HEADER_LEN, MAGIC, MAX_SEGMENT, Reason, VERSION, checkpoint_name,
    parse_checkpoint_name, parse_segment_name, segment_name,
};

use error::IoResultExt;
use segment::{Listing, create_segment, push_frame, sync_dir};

/// When [`Wal::log`] makes its bytes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `fdatasync` before `log()` returns: a commit survives a power loss. The default.
    #[default]
    Always,
    /// `write(2)` before `log()` returns, the OS flushes later: a commit survives the process
    /// being killed, not a power loss or a kernel crash.
    Never,
}

/// How a [`Wal`] writes. Defaults: 128 MiB segments, [`SyncPolicy::Always`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalOptions {
    /// A new segment starts when the next `log()` batch would make the current one larger
    /// than this. A batch larger than this on its own gets a segment to itself.
    pub segment_size: u64,
    /// When writes reach stable storage.
    pub sync: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: 128 << 20,
            sync: SyncPolicy::Always,
        }
    }
}

impl WalOptions {
    /// Sets [`segment_size`](Self::segment_size).
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets [`sync`](Self::sync).
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }
}

/// A failed write or sync that leaves the segment in an unknown state.
#[derive(Debug)]
struct Poison {
    op: &'static str,
    cause: String,
}

/// A write-ahead log open for appending. See the [module docs](self).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// The segment being written, its number and path.
    file: File,
    seg: u32,
    path: PathBuf,
    /// Bytes in the segment being written (its header included); the file's cursor.
    offset: u64,
    /// The lowest segment number on disk.
    first: u32,
    /// Bytes of every other file in the directory (older segments, the checkpoint).
    closed_bytes: u64,
    /// Frames of the batch being logged, reused.
    buf: Vec<u8>,
    poison: Option<Poison>,
}

/// The encode buffer is given back to the allocator when a batch made it larger than this.
const KEEP_BUF: usize = 16 << 20;
/// Or when it is larger than this and than four times the batch just written: a first
/// scrape of many targets logs every series record at once, several times the size of the
/// sample batches that follow, and keeping that capacity costs bytes per series for good.
const KEEP_IDLE_BUF: usize = 1 << 20;

impl Wal {
    /// Opens (creating) the WAL directory and starts a new segment after the last existing
    /// one (and after the newest checkpoint).
    ///
    /// It deletes what an interrupted checkpoint left behind: a `checkpoint.*.tmp`
    /// directory, and segments and older checkpoints a completed checkpoint replaced. It
    /// does not read the segments: run [`replay`] (and [`repair`] on a corruption) first,
    /// since a repair deletes every segment after the damaged one, new ones included.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).io_ctx(&dir, "create WAL directory")?;
        let listing = Listing::read(&dir)?;
        for tmp in &listing.tmp {
            tracing::info!(dir = %tmp.display(), "removing an unfinished WAL checkpoint");
            fs::remove_dir_all(tmp).io_ctx(tmp, "remove unfinished checkpoint")?;
        }
        let cp = listing.last_checkpoint().map(|(n, _)| *n);
        if let Some(c) = cp {
            // A crash between renaming a checkpoint into place and deleting what it covers.
            for (n, p) in &listing.segments {
                if *n <= c {
                    fs::remove_file(p).io_ctx(p, "delete checkpointed segment")?;
                }
            }
            for (n, p) in &listing.checkpoints {
                if *n < c {
                    fs::remove_dir_all(p).io_ctx(p, "delete old checkpoint")?;
                }
            }
        }
        let last = listing.segments.last().map(|(n, _)| *n).max(cp);
        let next = match last {
            None => Some(0),
            Some(l) => l.checked_add(1).filter(|n| *n <= MAX_SEGMENT),
        }
        .ok_or_else(|| Error::SegmentLimit { dir: dir.clone() })?;
        let (file, path) = create_segment(&dir, next)?;
        sync_dir(&dir)?;
        let mut w = Wal {
            dir,
            opts,
            file,
            seg: next,
            path,
            offset: segment::HEADER_LEN,
            first: next,
            closed_bytes: 0,
            buf: Vec::new(),
            poison: None,
        };
        w.refresh()?;
        Ok(w)
    }

    /// Appends `records`, each as one frame, with one write (and one `fdatasync` under
    /// [`SyncPolicy::Always`]). When it returns `Ok` the bytes are in the file: killing the
    /// process right after does not lose them.
    ///
    /// The batch never spans segments: when it would make the current segment larger than
    /// the segment size, a new segment is started first. On a write error the partial write
    /// is truncated away and the error returned (nothing of the batch is logged); if that
    /// truncation or an `fdatasync` fails, the WAL is poisoned and refuses further writes.
    pub fn log(&mut self, records: &[Record]) -> Result<()> {
        self.check_poison()?;
        if records.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in records {
            push_frame(&mut self.buf, |b| r.encode(b)).map_err(|len| Error::RecordTooLarge {
                segment: self.path.clone(),
                len,
            })?;
        }
        let n = self.buf.len() as u64;
        if self.offset > segment::HEADER_LEN
            && self.offset.saturating_add(n) > self.opts.segment_size
        {
            self.cut_segment()?;
        }
        self.write_buf()?;
        if self.opts.sync == SyncPolicy::Always {
            self.sync()?;
        }
        let cap = self.buf.capacity();
        if cap > KEEP_BUF || (cap > KEEP_IDLE_BUF && cap / 4 > self.buf.len()) {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn write_buf(&mut self) -> Result<()> {
        if let Err(e) = self.file.write_all(&self.buf) {
            // A partial frame left in place would hide every later frame from replay.
            let off = self.offset;
            let undo = self
                .file
                .set_len(off)
                .and_then(|()| self.file.seek(SeekFrom::Start(off)));
            if let Err(e2) = undo {
                self.poison = Some(Poison {
                    op: "write",
                    cause: format!("{e}; removing the partial write failed too: {e2}"),
                });
            }
            return Err(Error::Io {
                path: self.path.clone(),
                offset: Some(off),
                op: "write",
                source: e,
            });
        }
        self.offset += self.buf.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        if let Err(e) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages and cleared
            // the error: what is on disk is unknown, so no later write may claim success.
            self.poison = Some(Poison {
                op: "fdatasync",
                cause: e.to_string(),
            });
            return Err(Error::Io {
                path: self.path.clone(),
                offset: Some(self.offset),
                op: "fdatasync",
                source: e,
            });
        }
        Ok(())
    }

    fn check_poison(&self) -> Result<()> {
        match &self.poison {
            None => Ok(()),
            Some(p) => Err(Error::Poisoned {
                segment: self.path.clone(),
                offset: self.offset,
                op: p.op,
                cause: p.cause.clone(),
            }),
        }
    }

    /// Closes the current segment and starts the next one; returns its number.
    pub fn cut_segment(&mut self) -> Result<u32> {
        self.check_poison()?;
        let next = self
            .seg
            .checked_add(1)
            .filter(|n| *n <= MAX_SEGMENT)
            .ok_or_else(|| Error::SegmentLimit {
                dir: self.dir.clone(),
            })?;
        let (file, path) = create_segment(&self.dir, next)?;
        if self.opts.sync == SyncPolicy::Always {
            sync_dir(&self.dir)?;
        }
        self.closed_bytes += self.offset;
        self.file = file;
        self.path = path;
        self.seg = next;
        self.offset = segment::HEADER_LEN;
        Ok(next)
    }

    /// The first and last segment numbers on disk; the last is the one being written.
    pub fn segment_range(&self) -> (u32, u32) {
        (self.first, self.seg)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> WalOptions {
        self.opts
    }

    /// Bytes on disk: segments and checkpoint.
    pub fn size_bytes(&self) -> u64 {
        self.closed_bytes + self.offset
    }

    /// Recomputes the first segment number and the size of everything but the current
    /// segment from the directory.
    fn refresh(&mut self) -> Result<()> {
        let listing = Listing::read(&self.dir)?;
        self.first = listing
            .segments
            .first()
            .map_or(self.seg, |(n, _)| (*n).min(self.seg));
        let mut bytes = 0;
        for (n, p) in &listing.segments {
            if *n != self.seg {
                bytes += fs::metadata(p).map_or(0, |m| m.len());
            }
        }
        for (_, p) in &listing.checkpoints {
            for e in fs::read_dir(p).io_ctx(p, "list checkpoint")?.flatten() {
                bytes += e.metadata().map_or(0, |m| m.len());
            }
        }
        self.closed_bytes = bytes;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn samples(r: u64, n: usize) -> Record {
        Record::Samples(
            (0..n)
                .map(|i| RefSample {
                    r,
                    t: i as i64,
                    v: i as f64,
                })
                .collect(),
        )
    }

    #[test]
    fn a_large_batch_does_not_leave_its_buffer_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path(), WalOptions::default().sync(SyncPolicy::Never)).unwrap();
        w.log(&[samples(1, 300_000)]).unwrap();
        assert!(w.buf.capacity() > KEEP_IDLE_BUF);
        // Batches of a steady size keep the buffer, however large.
        w.log(&[samples(1, 200_000)]).unwrap();
        let kept = w.buf.capacity();
        assert!(kept > KEEP_IDLE_BUF);
        // A batch much smaller than the buffer lets it go; the next one grows a fitting one.
        w.log(&[samples(1, 1_000)]).unwrap();
        assert_eq!(w.buf.capacity(), 0);
        w.log(&[samples(1, 1_000)]).unwrap();
        assert!(w.buf.capacity() < KEEP_IDLE_BUF);
        drop(w);
        let mut got = Vec::new();
        replay(dir.path(), &mut |rec| got.push(rec)).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], samples(1, 1_000));
    }

    #[test]
    fn size_and_range_follow_cuts_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path(), WalOptions::default().sync(SyncPolicy::Never)).unwrap();
        assert_eq!(w.segment_range(), (0, 0));
        assert_eq!(w.size_bytes(), HEADER_LEN);
        w.log(&[samples(1, 10)]).unwrap();
        let one = w.size_bytes();
        assert_eq!(
            one,
            fs::metadata(dir.path().join("00000000")).unwrap().len()
        );
        assert_eq!(w.cut_segment().unwrap(), 1);
        w.log(&[samples(1, 10)]).unwrap();
        assert_eq!(w.segment_range(), (0, 1));
        assert_eq!(w.size_bytes(), 2 * one);
        let st = w.checkpoint(0, &|_| true, 5).unwrap();
        assert_eq!(st.upto, Some(0));
        assert_eq!((st.samples_kept, st.samples_dropped), (5, 5));
        assert_eq!(w.segment_range(), (1, 1));
        let on_disk: u64 = walk_size(dir.path());
        assert_eq!(w.size_bytes(), on_disk);
    }

    fn walk_size(p: &Path) -> u64 {
        fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| {
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    walk_size(&e.path())
                } else {
                    m.len()
                }
            })
            .sum()
    }

    #[test]
    fn the_batch_goes_to_a_new_segment_when_it_would_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions::default()
            .segment_size(200)
            .sync(SyncPolicy::Never);
        let mut w = Wal::open(dir.path(), opts).unwrap();
        // 8 + 1 + 1 + 1 + 1 + 10 * 10 = 112 bytes a frame: one per segment after the header.
        w.log(&[samples(1, 10)]).unwrap();
        w.log(&[samples(1, 10)]).unwrap();
        assert_eq!(w.segment_range(), (0, 1));
        // Larger than a segment on its own: still written whole.
        w.log(&[samples(1, 10), samples(2, 10)]).unwrap();
        assert_eq!(w.segment_range(), (0, 2));
        assert!(fs::metadata(dir.path().join("00000002")).unwrap().len() > 200);
    }

    #[test]
    fn io_errors_name_the_file_and_offset() {
        let e = Error::Io {
            path: PathBuf::from("prom-wal/00000003"),
            offset: Some(81920),
            op: "write",
            source: std::io::Error::other("no space left on device"),
        };
        assert_eq!(
            e.to_string(),
            "prom-wal/00000003: offset 81920: write: no space left on device"
        );
    }

    #[test]
    fn a_poisoned_wal_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path(), WalOptions::default()).unwrap();
        w.poison = Some(Poison {
            op: "fdatasync",
            cause: "EIO".into(),
        });
        let e = w.log(&[samples(1, 1)]).unwrap_err();
        assert!(matches!(e, Error::Poisoned { .. }));
        assert!(
            e.to_string()
                .contains("00000000: offset 8: the WAL is unusable after a failed fdatasync: EIO"),
            "{e}"
        );
    }
}
