//! Checkpoints: the still-needed part of old segments, rewritten so the segments can go.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Wal;
use super::error::{Error, IoResultExt, Result};
use super::record::{DecodeBuffers, RecordRef};
use super::replay::{check_sequence, checkpoint_segments, read_file};
use super::segment::{
    Corruption, Frames, HEADER_LEN, Listing, Reason, Step, check_header, checkpoint_name,
    create_segment, push_frame, sync_dir,
};

/// Buffered checkpoint bytes are written once they reach this.
const FLUSH_AT: usize = 1 << 20;

/// What [`Wal::checkpoint`] kept and dropped.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckpointStats {
    /// The checkpoint written (the last segment number it covers), or `None` when there was
    /// nothing to do (a checkpoint at or past `upto` exists, or no segment is that old).
    pub upto: Option<u32>,
    /// Segment files read, the previous checkpoint's included.
    pub segments_read: u64,
    /// Series entries kept.
    pub series_kept: u64,
    /// Series entries dropped.
    pub series_dropped: u64,
    /// Samples kept.
    pub samples_kept: u64,
    /// Samples dropped.
    pub samples_dropped: u64,
    /// Tombstone intervals kept.
    pub tombstones_kept: u64,
    /// Tombstone intervals dropped.
    pub tombstones_dropped: u64,
    /// Segments deleted after the checkpoint was in place.
    pub segments_deleted: u64,
    /// Older checkpoints deleted.
    pub checkpoints_deleted: u64,
    /// Bytes the checkpoint holds.
    pub bytes_written: u64,
    /// Wall time taken.
    pub elapsed: Duration,
}

impl Wal {
    /// Writes `checkpoint.<upto>` from the previous checkpoint and the segments up to `upto`,
    /// then deletes those segments and older checkpoints.
    ///
    /// It keeps the Series records of series for which `keep(r)` holds, their samples with
    /// `t >= mint`, and their tombstone intervals that end at or after `mint`; everything
    /// else is dropped. The checkpoint is written to `checkpoint.<upto>.tmp`, synced, and
    /// renamed into place, so a crash leaves either the old state or the new one (a leftover
    /// `.tmp` directory is deleted by [`Wal::open`] and ignored by replay).
    ///
    /// `upto` is capped at the segment being written; when it names that segment, a new one
    /// is cut first. Damage in the segments read fails the checkpoint (replay and repair run
    /// before a WAL is opened, so the old segments are whole).
    pub fn checkpoint(
        &mut self,
        upto: u32,
        keep: &dyn Fn(u64) -> bool,
        mint: i64,
    ) -> Result<CheckpointStats> {
        let start = Instant::now();
        let mut stats = CheckpointStats::default();
        let upto = upto.min(self.seg);
        let listing = Listing::read(&self.dir)?;
        let prev = listing.last_checkpoint().cloned();
        if prev.as_ref().is_some_and(|(p, _)| *p >= upto) {
            return Ok(stats);
        }
        let sources: Vec<(u32, PathBuf)> = listing
            .segments
            .iter()
            .filter(|(n, _)| *n <= upto && prev.as_ref().is_none_or(|(p, _)| n > p))
            .cloned()
            .collect();
        if sources.is_empty() && prev.is_none() {
            return Ok(stats);
        }
        check_sequence(
            &self.dir,
            &sources,
            prev.as_ref().and_then(|(p, _)| p.checked_add(1)),
        )?;
        if upto == self.seg {
            self.cut_segment()?;
        }

        let mut inputs = match &prev {
            Some((_, path)) => checkpoint_segments(path)?,
            None => Vec::new(),
        };
        inputs.extend(sources);

        let final_dir = self.dir.join(checkpoint_name(upto));
        let tmp = self.dir.join(format!("{}.tmp", checkpoint_name(upto)));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).io_ctx(&tmp, "remove stale checkpoint")?;
        }
        fs::create_dir(&tmp).io_ctx(&tmp, "create checkpoint")?;
        let written = write_checkpoint(
            &tmp,
            self.opts.segment_size,
            &inputs,
            &mut stats,
            keep,
            mint,
        );
        if let Err(e) = written {
            // Best effort: open() removes it otherwise.
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &final_dir).io_ctx(&final_dir, "rename checkpoint into place")?;
        sync_dir(&self.dir)?;
        stats.upto = Some(upto);

        for (n, path) in &listing.segments {
            if *n <= upto {
                fs::remove_file(path).io_ctx(path, "delete checkpointed segment")?;
                stats.segments_deleted += 1;
            }
        }
        for (n, path) in &listing.checkpoints {
            if *n < upto {
                fs::remove_dir_all(path).io_ctx(path, "delete old checkpoint")?;
                stats.checkpoints_deleted += 1;
            }
        }
        sync_dir(&self.dir)?;
        self.refresh()?;
        stats.elapsed = start.elapsed();
        tracing::debug!(
            upto,
            series_kept = stats.series_kept,
            samples_kept = stats.samples_kept,
            segments_deleted = stats.segments_deleted,
            took = ?stats.elapsed,
            "WAL checkpoint written"
        );
        Ok(stats)
    }
}

/// Writes the filtered records of `inputs` as segments in `tmp` and syncs them.
fn write_checkpoint(
    tmp: &Path,
    segment_size: u64,
    inputs: &[(u32, PathBuf)],
    stats: &mut CheckpointStats,
    keep: &dyn Fn(u64) -> bool,
    mint: i64,
) -> Result<()> {
    let mut w = Writer::new(tmp, segment_size)?;
    let mut bufs = DecodeBuffers::new();
    let mut data = Vec::new();
    for (_, path) in inputs {
        read_file(path, &mut data)?;
        stats.segments_read += 1;
        filter_segment(path, &data, &mut bufs, &mut w, stats, keep, mint)?;
    }
    stats.bytes_written = w.finish()?;
    sync_dir(tmp)
}

enum Kind {
    Series,
    Samples,
    Tombstones,
}

fn filter_segment(
    path: &Path,
    data: &[u8],
    bufs: &mut DecodeBuffers,
    w: &mut Writer,
    stats: &mut CheckpointStats,
    keep: &dyn Fn(u64) -> bool,
    mint: i64,
) -> Result<()> {
    let corrupt = |offset, reason| {
        Error::Corrupt(Corruption {
            segment: path.to_path_buf(),
            offset,
            reason,
        })
    };
    if let Some(reason) = check_header(path, data)? {
        return Err(corrupt(0, reason));
    }
    let mut frames = Frames::new(data);
    loop {
        let (offset, body) = match frames.step() {
            Step::Frame { offset, body } => (offset, body),
            Step::End => return Ok(()),
            Step::Bad { offset, reason } => return Err(corrupt(offset, reason)),
        };
        // Which buffer the record was decoded into; it is then filtered there in place.
        let kind = match bufs.decode(body) {
            Ok(RecordRef::Series(_)) => Kind::Series,
            Ok(RecordRef::Samples(_)) => Kind::Samples,
            Ok(RecordRef::Tombstones(_)) => Kind::Tombstones,
            Err(e) => return Err(corrupt(offset, Reason::Record(e))),
        };
        match kind {
            Kind::Series => {
                let list = bufs.series_mut();
                let before = list.len();
                list.retain(|s| keep(s.r));
                stats.series_kept += list.len() as u64;
                stats.series_dropped += (before - list.len()) as u64;
                if !list.is_empty() {
                    w.add(RecordRef::Series(list))?;
                }
            }
            Kind::Samples => {
                let list = bufs.samples_mut();
                let before = list.len();
                list.retain(|s| s.t >= mint && keep(s.r));
                stats.samples_kept += list.len() as u64;
                stats.samples_dropped += (before - list.len()) as u64;
                if !list.is_empty() {
                    w.add(RecordRef::Samples(list))?;
                }
            }
            Kind::Tombstones => {
                let list = bufs.stones_mut();
                list.retain_mut(|st| {
                    let before = st.intervals.len() as u64;
                    if keep(st.r) {
                        st.intervals.retain(|iv| iv.max_time >= mint);
                    } else {
                        st.intervals.clear();
                    }
                    let after = st.intervals.len() as u64;
                    stats.tombstones_kept += after;
                    stats.tombstones_dropped += before - after;
                    after > 0
                });
                if !list.is_empty() {
                    w.add(RecordRef::Tombstones(list))?;
                }
            }
        }
    }
}

/// Writes a checkpoint's segments, rolling at the segment size like the WAL.
struct Writer {
    dir: PathBuf,
    segment_size: u64,
    seg: u32,
    file: File,
    path: PathBuf,
    /// Bytes in the current file.
    written: u64,
    /// Bytes in earlier files.
    done: u64,
    buf: Vec<u8>,
}

impl Writer {
    fn new(dir: &Path, segment_size: u64) -> Result<Writer> {
        let (file, path) = create_segment(dir, 0)?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            segment_size,
            seg: 0,
            file,
            path,
            written: HEADER_LEN,
            done: 0,
            buf: Vec::new(),
        })
    }

    fn add(&mut self, rec: RecordRef<'_>) -> Result<()> {
        let start = self.buf.len();
        push_frame(&mut self.buf, |b| rec.encode(b)).map_err(|len| Error::RecordTooLarge {
            segment: self.path.clone(),
            len,
        })?;
        let end = self.buf.len();
        let has_content = self.written > HEADER_LEN || start > 0;
        if has_content && self.written + end as u64 > self.segment_size {
            // The new frame starts the next segment; what precedes it closes this one.
            self.write(start)?;
            self.roll()?;
        }
        if self.buf.len() >= FLUSH_AT {
            self.write(self.buf.len())?;
        }
        Ok(())
    }

    /// Writes the first `n` buffered bytes.
    fn write(&mut self, n: usize) -> Result<()> {
        let bytes = self.buf.get(..n).unwrap_or_default();
        self.file
            .write_all(bytes)
            .io_ctx(&self.path, "write checkpoint")?;
        self.written += bytes.len() as u64;
        self.buf.drain(..n);
        Ok(())
    }

    fn roll(&mut self) -> Result<()> {
        self.file.sync_all().io_ctx(&self.path, "sync checkpoint")?;
        self.seg += 1;
        let (file, path) = create_segment(&self.dir, self.seg)?;
        self.done += self.written;
        self.file = file;
        self.path = path;
        self.written = HEADER_LEN;
        Ok(())
    }

    /// Writes what is buffered and syncs; returns the checkpoint's size in bytes.
    fn finish(mut self) -> Result<u64> {
        self.write(self.buf.len())?;
        self.file.sync_all().io_ctx(&self.path, "sync checkpoint")?;
        Ok(self.done + self.written)
    }
}
