//! One series in the head: its labels, its sealed chunks and the chunk being appended to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prom_chunk::XorAppender;
use prom_model::{AppendError, Labels, Sample};

use crate::head::chunks::{HeadChunks, MappedChunk};

/// The number of samples after which a chunk is sealed, as Prometheus does.
pub(crate) const SAMPLES_PER_CHUNK: u16 = 120;

/// Where a sealed chunk's bytes live.
#[derive(Debug, Clone)]
pub(crate) enum ChunkBytes {
    /// On the heap: the open chunk's copy in a snapshot, re-encoded chunks, or a chunk that
    /// could not be written to the mapped files.
    Heap(Arc<[u8]>),
    /// In a memory-mapped head chunk file.
    Mapped(MappedChunk),
}

/// A sealed chunk: immutable XOR bytes shared with queriers by reference count.
#[derive(Debug, Clone)]
pub(crate) struct SealedChunk {
    pub min_time: i64,
    pub max_time: i64,
    pub data: ChunkBytes,
}

impl SealedChunk {
    /// A chunk on the heap.
    pub fn heap(min_time: i64, max_time: i64, bytes: &[u8]) -> Self {
        SealedChunk {
            min_time,
            max_time,
            data: ChunkBytes::Heap(Arc::from(bytes)),
        }
    }

    /// The chunk's XOR bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            ChunkBytes::Heap(b) => b,
            ChunkBytes::Mapped(m) => m.bytes(),
        }
    }
}

/// The chunk still being appended to.
#[derive(Debug)]
struct OpenChunk {
    min_time: i64,
    app: XorAppender,
}

impl OpenChunk {
    fn max_time(&self) -> i64 {
        self.app.last().map_or(self.min_time, |(t, _)| t)
    }

    /// The exclusive end of the block range the chunk lies in: a sample at or after it starts
    /// a new chunk, so no chunk straddles a block boundary.
    fn end(&self, block_range: i64) -> i64 {
        self.min_time
            .div_euclid(block_range)
            .saturating_add(1)
            .saturating_mul(block_range)
    }
}

/// A series' samples, guarded by the series' mutex.
#[derive(Debug, Default)]
pub(crate) struct SeriesData {
    /// Exactly sized (a seal happens once per ~120 samples, so rebuilding is cheap; a `Vec`
    /// would carry up to 3 spare 40-byte slots and 8 more bytes of header per series).
    sealed: Box<[SealedChunk]>,
    open: Option<OpenChunk>,
    /// Out-of-order samples accepted within the window, sorted by time, unique timestamps;
    /// boxed because most series never have one (8 bytes per series instead of 24).
    #[allow(clippy::box_collection)]
    ooo: Option<Box<Vec<Sample>>>,
}

/// A series: its reference, labels and data.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub r: u64,
    pub labels: Labels,
    /// Whether a WAL series record for it has been written (or replayed).
    pub logged: AtomicBool,
    data: Mutex<SeriesData>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// A new in-order sample.
    InOrder,
    /// An out-of-order sample, kept aside until the block is cut.
    OutOfOrder,
    /// A repeat of the last sample (same time, same value bits): nothing stored.
    Duplicate,
}

impl MemSeries {
    pub fn new(r: u64, labels: Labels, logged: bool) -> Self {
        MemSeries {
            r,
            labels,
            logged: AtomicBool::new(logged),
            data: Mutex::new(SeriesData::default()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, SeriesData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_logged(&self) -> bool {
        self.logged.load(Ordering::Acquire)
    }

    pub fn set_logged(&self) {
        self.logged.store(true, Ordering::Release);
    }
}

/// A copy of what a querier needs from a series, taken under its lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeriesSnapshot {
    /// Sealed chunks then the open chunk's bytes, in time order.
    pub chunks: Vec<SealedChunk>,
    /// Out-of-order samples, sorted.
    pub ooo: Vec<Sample>,
}

impl SeriesData {
    fn ooo(&self) -> &[Sample] {
        self.ooo.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Checks whether `(t, v)` may be appended after `pending` (the latest sample this appender
    /// already queued for the series, if later than the stored one), without changing anything.
    pub fn check(
        &self,
        t: i64,
        v: f64,
        pending: Option<(i64, u64)>,
        ooo_min: Option<i64>,
    ) -> Result<Appended, AppendError> {
        let last = match (self.last(), pending) {
            (Some(a), Some(b)) => Some(if b.0 >= a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        match last {
            None => Ok(Appended::InOrder),
            Some((lt, _)) if t > lt => Ok(Appended::InOrder),
            Some((lt, lv)) if t == lt => {
                if v.to_bits() == lv {
                    Ok(Appended::Duplicate)
                } else {
                    Err(AppendError::DuplicateSampleForTimestamp)
                }
            }
            Some(_) => match ooo_min {
                Some(min) if t >= min => match self.ooo().binary_search_by_key(&t, |s| s.t) {
                    Ok(i) if self.ooo()[i].v.to_bits() == v.to_bits() => Ok(Appended::Duplicate),
                    Ok(_) => Err(AppendError::DuplicateSampleForTimestamp),
                    Err(_) if self.in_order_contains(t) => {
                        // A timestamp the in-order chunks already hold.
                        Err(AppendError::DuplicateSampleForTimestamp)
                    }
                    Err(_) => Ok(Appended::OutOfOrder),
                },
                _ => Err(AppendError::OutOfOrder),
            },
        }
    }

    /// Whether an in-order chunk has a sample at exactly `t` (a decode of one chunk).
    fn in_order_contains(&self, t: i64) -> bool {
        let hit = |bytes: &[u8]| {
            let mut it = prom_chunk::XorIterator::new(bytes);
            it.seek(t) && it.at().0 == t
        };
        if let Some(o) = &self.open
            && o.min_time <= t
            && t <= o.max_time()
        {
            return hit(o.app.bytes());
        }
        self.sealed
            .iter()
            .filter(|c| c.min_time <= t && t <= c.max_time)
            .any(|c| hit(c.bytes()))
    }

    /// Stores a sample that [`check`](Self::check) accepted. `block_range` aligns chunk ends;
    /// sealed chunks go to `files` when given.
    pub fn append(
        &mut self,
        t: i64,
        v: f64,
        block_range: i64,
        ooo_min: Option<i64>,
        files: Option<&HeadChunks>,
    ) -> Appended {
        match self.check(t, v, None, ooo_min) {
            Ok(Appended::InOrder) => {}
            Ok(Appended::OutOfOrder) => {
                let ooo = self.ooo.get_or_insert_with(Box::default);
                let i = ooo.partition_point(|s| s.t < t);
                ooo.insert(i, Sample::new(t, v));
                return Appended::OutOfOrder;
            }
            Ok(Appended::Duplicate) | Err(_) => return Appended::Duplicate,
        }
        let cut = match &self.open {
            None => true,
            Some(o) => o.app.num_samples() >= SAMPLES_PER_CHUNK || t >= o.end(block_range),
        };
        if cut {
            self.seal_open(files);
            self.open = Some(OpenChunk {
                min_time: t,
                app: XorAppender::new(),
            });
        }
        if let Some(o) = &mut self.open {
            // In order by the check above, so the encoder cannot refuse it.
            let _ = o.app.append(t, v);
        }
        Appended::InOrder
    }

    fn seal_open(&mut self, files: Option<&HeadChunks>) {
        if let Some(o) = self.open.take()
            && o.app.num_samples() > 0
        {
            let (bytes, max_time) = (o.app.bytes(), o.max_time());
            let chunk = match files.and_then(|f| f.write(bytes, max_time)) {
                Some(m) => SealedChunk {
                    min_time: o.min_time,
                    max_time,
                    data: ChunkBytes::Mapped(m),
                },
                None => SealedChunk::heap(o.min_time, max_time, bytes),
            };
            let mut v = Vec::with_capacity(self.sealed.len() + 1);
            v.extend(std::mem::take(&mut self.sealed));
            v.push(chunk);
            self.sealed = v.into_boxed_slice();
        }
    }

    /// The last in-order sample `(t, v bits)`: the open chunk's last. A series without an
    /// open chunk has had it truncated, and every sample it may still take is at or after the
    /// head's minimum valid time, past anything it held, so no ordering is lost.
    fn last(&self) -> Option<(i64, u64)> {
        self.open
            .as_ref()
            .and_then(|o| o.app.last())
            .map(|(t, v)| (t, v.to_bits()))
    }

    /// The time of the last in-order sample.
    pub fn last_time(&self) -> Option<i64> {
        self.last().map(|(t, _)| t)
    }

    /// The smallest timestamp held, in-order or not.
    pub fn min_time(&self) -> Option<i64> {
        let a = self
            .sealed
            .first()
            .map(|c| c.min_time)
            .or(self.open.as_ref().map(|o| o.min_time));
        let b = self.ooo().first().map(|s| s.t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the series holds no samples.
    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.is_none() && self.ooo().is_empty()
    }

    /// The chunks and out-of-order samples overlapping `[mint, maxt]`.
    pub fn snapshot(&self, mint: i64, maxt: i64) -> SeriesSnapshot {
        let mut chunks: Vec<SealedChunk> = self
            .sealed
            .iter()
            .filter(|c| c.max_time >= mint && c.min_time <= maxt)
            .cloned()
            .collect();
        if let Some(o) = &self.open
            && o.max_time() >= mint
            && o.min_time <= maxt
            && o.app.num_samples() > 0
        {
            chunks.push(SealedChunk::heap(o.min_time, o.max_time(), o.app.bytes()));
        }
        let ooo = self
            .ooo()
            .iter()
            .filter(|s| s.t >= mint && s.t <= maxt)
            .copied()
            .collect();
        SeriesSnapshot { chunks, ooo }
    }

    /// Drops every chunk and out-of-order sample entirely before `mint`. Returns the number of
    /// chunks removed.
    pub fn truncate_before(&mut self, mint: i64) -> usize {
        let before = self.sealed.len();
        if self.sealed.iter().any(|c| c.max_time < mint) {
            let kept: Vec<SealedChunk> = std::mem::take(&mut self.sealed)
                .into_vec()
                .into_iter()
                .filter(|c| c.max_time >= mint)
                .collect();
            self.sealed = kept.into_boxed_slice();
        }
        let mut removed = before - self.sealed.len();
        if let Some(o) = &self.open
            && o.max_time() < mint
        {
            self.open = None;
            removed += 1;
        }
        if let Some(ooo) = &mut self.ooo {
            ooo.retain(|s| s.t >= mint);
            if ooo.is_empty() {
                self.ooo = None;
            }
        }
        removed
    }

    /// The number of chunks (sealed and open).
    pub fn num_chunks(&self) -> usize {
        self.sealed.len() + usize::from(self.open.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: i64 = 7_200_000;

    fn collect(s: &SeriesSnapshot) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in &s.chunks {
            let mut it = prom_chunk::XorIterator::new(c.bytes());
            while it.next() {
                out.push(it.at());
            }
        }
        out
    }

    #[test]
    fn chunks_are_cut_at_120_samples_and_at_block_boundaries() {
        let mut d = SeriesData::default();
        for i in 0..250 {
            assert_eq!(
                d.append(i * 1000, i as f64, RANGE, None, None),
                Appended::InOrder
            );
        }
        assert_eq!(d.num_chunks(), 3);
        let mut d = SeriesData::default();
        d.append(RANGE - 1000, 1.0, RANGE, None, None);
        d.append(RANGE, 2.0, RANGE, None, None);
        assert_eq!(d.num_chunks(), 2);
        let snap = d.snapshot(i64::MIN, i64::MAX);
        assert_eq!(snap.chunks[0].max_time, RANGE - 1000);
        assert_eq!(snap.chunks[1].min_time, RANGE);
        assert_eq!(collect(&snap), [(RANGE - 1000, 1.0), (RANGE, 2.0)]);
    }

    #[test]
    fn order_duplicates_and_the_out_of_order_window() {
        let mut d = SeriesData::default();
        d.append(1000, 1.0, RANGE, None, None);
        assert_eq!(d.check(1000, 1.0, None, None), Ok(Appended::Duplicate));
        assert_eq!(
            d.check(1000, 2.0, None, None),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(d.check(500, 2.0, None, None), Err(AppendError::OutOfOrder));
        assert_eq!(d.check(500, 2.0, None, Some(400)), Ok(Appended::OutOfOrder));
        assert_eq!(
            d.check(300, 2.0, None, Some(400)),
            Err(AppendError::OutOfOrder)
        );
        assert_eq!(
            d.append(500, 2.0, RANGE, Some(0), None),
            Appended::OutOfOrder
        );
        assert_eq!(
            d.check(500, 3.0, None, Some(0)),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        // Pending samples of the same appender count as the last one.
        assert_eq!(
            d.check(1500, 3.0, Some((2000, 0)), None),
            Err(AppendError::OutOfOrder)
        );
        let snap = d.snapshot(0, 10_000);
        assert_eq!(snap.ooo, [Sample::new(500, 2.0)]);
        assert_eq!(d.min_time(), Some(500));
    }

    #[test]
    fn truncation_drops_whole_chunks_only() {
        let mut d = SeriesData::default();
        for i in 0..240 {
            d.append(i * 1000, 0.0, RANGE, None, None);
        }
        assert_eq!(d.truncate_before(100_000), 0);
        assert_eq!(d.truncate_before(120_000), 1);
        assert_eq!(d.min_time(), Some(120_000));
        assert_eq!(d.truncate_before(i64::MAX), 1);
        assert!(d.is_empty());
    }
}
