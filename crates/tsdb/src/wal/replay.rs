//! Reading a WAL back: replay, reading one segment, and repairing a damaged tail.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{Error, IoResultExt, Result};
use super::record::{DecodeBuffers, DecodeError, Record, RecordRef};
use super::segment::{
    Corruption, Frames, HEADER_LEN, Listing, Reason, Step, check_header, parse_segment_name,
    sync_dir,
};

/// What a replay read and where it stopped.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReplayStats {
    /// The checkpoint replayed first, by the last segment number it covers.
    pub checkpoint: Option<u32>,
    /// Segment files read, the checkpoint's included.
    pub segments: u64,
    /// Bytes read from them.
    pub bytes: u64,
    /// Series records delivered.
    pub series_records: u64,
    /// Series entries in them.
    pub series: u64,
    /// Samples records delivered.
    pub samples_records: u64,
    /// Samples in them.
    pub samples: u64,
    /// Tombstones records delivered.
    pub tombstone_records: u64,
    /// Tombstone entries (series with deleted intervals) in them.
    pub tombstones: u64,
    /// Wall time taken.
    pub elapsed: Duration,
    /// Where the WAL stopped being readable, if it did; every record before it was
    /// delivered, none after it. Pass it to [`repair`].
    pub corruption: Option<Corruption>,
}

impl ReplayStats {
    fn count(&mut self, r: RecordRef<'_>) {
        match r {
            RecordRef::Series(s) => {
                self.series_records += 1;
                self.series += s.len() as u64;
            }
            RecordRef::Samples(s) => {
                self.samples_records += 1;
                self.samples += s.len() as u64;
            }
            RecordRef::Tombstones(s) => {
                self.tombstone_records += 1;
                self.tombstones += s.len() as u64;
            }
        }
    }
}

/// What [`repair`] removed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairStats {
    /// The segment truncated.
    pub segment: PathBuf,
    /// Its length before.
    pub truncated_from: u64,
    /// Its length after.
    pub truncated_to: u64,
    /// Later segments deleted.
    pub deleted: Vec<PathBuf>,
    /// Bytes removed in all (the truncated tail and the deleted segments).
    pub bytes_removed: u64,
}

/// Receives each frame's body (type byte and payload); a decode error stops the replay as
/// a corruption at that frame.
type Visit<'v> = dyn FnMut(&[u8], &mut ReplayStats) -> Result<(), DecodeError> + 'v;

/// Replays the newest checkpoint, then every later segment in order, calling `f` with each
/// record.
///
/// A torn or corrupt frame in a segment stops the replay without failing it:
/// [`ReplayStats::corruption`] says where (segment file, byte offset, why), and the records
/// before it have been delivered. Errors are for what truncation cannot fix: I/O failures, a
/// file that is not a segment of this format, a missing segment in the sequence, damage inside
/// the checkpoint. A directory that does not exist replays as empty.
pub fn replay(dir: impl AsRef<Path>, f: &mut dyn FnMut(Record)) -> Result<ReplayStats> {
    let mut visit = |body: &[u8], stats: &mut ReplayStats| {
        let rec = Record::decode(body)?;
        stats.count(rec.as_ref());
        f(rec);
        Ok(())
    };
    scan_wal(dir.as_ref(), &mut visit)
}

/// [`replay`], but decoding into buffers reused from one record to the next and lending the
/// entries to `f`: no allocation per record besides series labels and tombstone intervals.
/// The fast path for loading a head.
pub fn replay_borrowed(
    dir: impl AsRef<Path>,
    f: &mut dyn FnMut(RecordRef<'_>),
) -> Result<ReplayStats> {
    let mut bufs = DecodeBuffers::new();
    let mut visit = |body: &[u8], stats: &mut ReplayStats| {
        let rec = bufs.decode(body)?;
        stats.count(rec);
        f(rec);
        Ok(())
    };
    scan_wal(dir.as_ref(), &mut visit)
}

/// Reads the records of one segment file (of the WAL or of a checkpoint), as [`replay`]
/// does: damage ends the reading and is reported in [`ReplayStats::corruption`].
pub fn read_segment(path: impl AsRef<Path>, f: &mut dyn FnMut(Record)) -> Result<ReplayStats> {
    let start = Instant::now();
    let mut stats = ReplayStats::default();
    let mut visit = |body: &[u8], stats: &mut ReplayStats| {
        let rec = Record::decode(body)?;
        stats.count(rec.as_ref());
        f(rec);
        Ok(())
    };
    let mut buf = Vec::new();
    stats.corruption = scan_file(path.as_ref(), &mut buf, &mut stats, &mut visit)?;
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// Reads a whole file into `buf` (reused across segments).
pub(crate) fn read_file(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    let mut f = File::open(path).io_ctx(path, "open segment")?;
    // Sized up front: growing by doubling would copy a 128 MiB segment several times.
    let len = f.metadata().io_ctx(path, "stat segment")?.len();
    buf.reserve(usize::try_from(len).unwrap_or(0));
    f.read_to_end(buf).io_ctx(path, "read segment")?;
    Ok(())
}

/// Visits the frames of one segment file; returns where it stops being readable, if it does.
pub(crate) fn scan_file(
    path: &Path,
    buf: &mut Vec<u8>,
    stats: &mut ReplayStats,
    visit: &mut Visit<'_>,
) -> Result<Option<Corruption>> {
    read_file(path, buf)?;
    stats.segments += 1;
    stats.bytes += buf.len() as u64;
    let bad = |offset, reason| {
        Some(Corruption {
            segment: path.to_path_buf(),
            offset,
            reason,
        })
    };
    if let Some(reason) = check_header(path, buf)? {
        return Ok(bad(0, reason));
    }
    let mut frames = Frames::new(buf);
    loop {
        match frames.step() {
            Step::Frame { offset, body } => {
                if let Err(e) = visit(body, stats) {
                    return Ok(bad(offset, Reason::Record(e)));
                }
            }
            Step::End => return Ok(None),
            Step::Bad { offset, reason } => return Ok(bad(offset, reason)),
        }
    }
}

/// Fails unless the segment numbers follow each other, starting at `first` when given.
pub(crate) fn check_sequence(
    dir: &Path,
    segments: &[(u32, PathBuf)],
    first: Option<u32>,
) -> Result<()> {
    let mut expect = first;
    for &(n, _) in segments {
        if let Some(e) = expect
            && n != e
        {
            return Err(Error::MissingSegment {
                dir: dir.to_path_buf(),
                missing: e,
                found: n,
            });
        }
        expect = n.checked_add(1);
    }
    Ok(())
}

/// The checkpoint's segments, in order, checked for gaps.
pub(crate) fn checkpoint_segments(path: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let inner = Listing::read(path)?;
    check_sequence(path, &inner.segments, Some(0))?;
    Ok(inner.segments)
}

fn scan_wal(dir: &Path, visit: &mut Visit<'_>) -> Result<ReplayStats> {
    let start = Instant::now();
    let mut stats = ReplayStats::default();
    match fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(stats),
        other => {
            other.io_ctx(dir, "open WAL directory")?;
        }
    }
    let listing = Listing::read(dir)?;
    let cp = listing.last_checkpoint();
    let cp_segments = match cp {
        Some((_, path)) => checkpoint_segments(path)?,
        None => Vec::new(),
    };
    let after: Vec<(u32, PathBuf)> = listing
        .segments
        .iter()
        .filter(|(n, _)| cp.is_none_or(|(c, _)| n > c))
        .cloned()
        .collect();
    check_sequence(dir, &after, cp.and_then(|(c, _)| c.checked_add(1)))?;
    stats.checkpoint = cp.map(|(c, _)| *c);

    let mut buf = Vec::new();
    for (_, path) in &cp_segments {
        // A checkpoint was complete and synced before it was renamed into place: damage in
        // it is not a torn write, and truncating it would drop everything after it.
        if let Some(c) = scan_file(path, &mut buf, &mut stats, visit)? {
            return Err(Error::Corrupt(c));
        }
    }
    for (_, path) in &after {
        if let Some(c) = scan_file(path, &mut buf, &mut stats, visit)? {
            stats.corruption = Some(c);
            break;
        }
    }
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// Truncates the segment `c` names at the corruption's offset and deletes every later
/// segment, so the WAL ends with the last good record before it. Records before the
/// corruption are kept. Logs what it removed with `tracing::warn`.
///
/// A torn segment header (offset below the header length) truncates the file to zero bytes,
/// which reads as an empty segment.
pub fn repair(dir: impl AsRef<Path>, c: &Corruption) -> Result<RepairStats> {
    let dir = dir.as_ref();
    let not_ours = || Error::NotRepairable {
        dir: dir.to_path_buf(),
        segment: c.segment.clone(),
    };
    let n = c
        .segment
        .file_name()
        .and_then(|s| s.to_str())
        .and_then(parse_segment_name)
        .ok_or_else(not_ours)?;
    let parent = c.segment.parent().ok_or_else(not_ours)?;
    if parent != dir {
        let same = match (parent.canonicalize(), dir.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(not_ours());
        }
    }

    let path = &c.segment;
    let f = File::options()
        .write(true)
        .open(path)
        .io_ctx(path, "open segment for repair")?;
    let len = f.metadata().io_ctx(path, "stat segment")?.len();
    let keep = if c.offset < HEADER_LEN {
        0
    } else {
        c.offset.min(len)
    };
    f.set_len(keep).io_ctx(path, "truncate segment")?;
    f.sync_all().io_ctx(path, "sync segment")?;
    tracing::warn!(
        segment = %path.display(),
        from = len,
        to = keep,
        reason = %c.reason,
        "WAL repair: truncated a damaged segment"
    );
    let mut stats = RepairStats {
        segment: path.clone(),
        truncated_from: len,
        truncated_to: keep,
        deleted: Vec::new(),
        bytes_removed: len - keep,
    };

    for (m, later) in Listing::read(dir)?.segments {
        if m <= n {
            continue;
        }
        let size = fs::metadata(&later).map_or(0, |m| m.len());
        fs::remove_file(&later).io_ctx(&later, "delete segment")?;
        tracing::warn!(
            segment = %later.display(),
            bytes = size,
            "WAL repair: deleted a segment after the damage"
        );
        stats.bytes_removed += size;
        stats.deleted.push(later);
    }
    sync_dir(dir)?;
    Ok(stats)
}
