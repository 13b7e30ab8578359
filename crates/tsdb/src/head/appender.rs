//! The appender: samples are checked when appended, buffered, and on commit written to the
//! WAL in one write and then applied to their series.

use std::collections::HashMap;
use std::sync::Arc;

use prom_model::{AppendError, Appender, Labels, SeriesRef, Timestamp};

use crate::db::Inner;
use crate::head::series::{Appended, MemSeries};
use crate::metrics::inc;
use crate::wal::{Record, RefSample, RefSeries};

/// A batch of samples for a [`Db`](crate::Db), applied atomically on
/// [`commit`](Appender::commit) (all or none are visible and durable) and discarded on
/// [`rollback`](Appender::rollback).
///
/// `append` rejects a sample at once, with Prometheus's typed reasons, when it is
/// [out of bounds](AppendError::OutOfBounds) (before the end of the last persisted block),
/// [out of order](AppendError::OutOfOrder) (older than the series' last sample and outside
/// the out-of-order window), or a [different value for an existing
/// timestamp](AppendError::DuplicateSampleForTimestamp). An exact repeat of the last sample
/// is accepted and stored once.
pub struct DbAppender<'a> {
    db: &'a Inner,
    b: Batch,
}

/// An appender's buffers. A scrape loop takes an appender per scrape; growing these from
/// empty every time (the pending map rehashing as it doubles, the vectors reallocating) cost
/// more than a tenth of an append, so a finished appender leaves its emptied buffers in the
/// database for the next one.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// The latest queued sample per series reference, so a batch is ordered within itself.
    pending: HashMap<u64, (i64, u64), super::RefHash>,
    /// The samples record, built on commit.
    wal_samples: Vec<RefSample>,
}

impl Batch {
    /// Buffers kept for reuse, at most.
    const POOL: usize = 64;
    /// A buffer grown beyond this many entries (one huge batch) is not kept.
    const MAX_KEPT: usize = 1 << 16;

    fn clear(&mut self) {
        // Drops the series references (truncation counts them).
        self.samples.clear();
        self.pending.clear();
        self.wal_samples.clear();
    }

    fn keep(&self) -> bool {
        self.samples.capacity() <= Self::MAX_KEPT
            && self.pending.capacity() <= Self::MAX_KEPT
            && self.wal_samples.capacity() <= Self::MAX_KEPT
    }
}

impl std::fmt::Debug for DbAppender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbAppender")
            .field("pending_samples", &self.b.samples.len())
            .finish_non_exhaustive()
    }
}

impl<'a> DbAppender<'a> {
    pub(crate) fn new(db: &'a Inner) -> Self {
        let b = db
            .batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        DbAppender { db, b }
    }

    fn reject(&self, e: AppendError) -> AppendError {
        let m = &self.db.metrics;
        match e {
            AppendError::OutOfOrder => inc(&m.out_of_order_samples),
            AppendError::OutOfBounds => inc(&m.out_of_bounds_samples),
            AppendError::DuplicateSampleForTimestamp => inc(&m.duplicate_samples),
            _ => {}
        }
        e
    }

    /// The number of samples queued.
    pub fn len(&self) -> usize {
        self.b.samples.len()
    }

    /// Whether no sample is queued.
    pub fn is_empty(&self) -> bool {
        self.b.samples.is_empty()
    }
}

impl Appender for DbAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let head = &self.db.head;
        if t < head.min_valid_time() {
            return Err(self.reject(AppendError::OutOfBounds));
        }
        // A reference this head handed out always names the same series (references are
        // never reused), and the caller promises `labels` are its labels: no comparison.
        let s = match series.and_then(|r| head.get(r.0)) {
            Some(s) => {
                debug_assert!(labels.is_empty() || s.labels == *labels);
                s
            }
            _ => {
                if labels.is_empty() {
                    return Err(AppendError::EmptyLabels);
                }
                let (s, created) = head.get_or_create(labels);
                if created {
                    inc(&self.db.metrics.series_created);
                }
                s
            }
        };
        let ooo_min = self
            .db
            .ooo_window
            .map(|w| head.max_time().saturating_sub(w).max(head.min_valid_time()));
        let r = s.r;
        let pending = self.b.pending.get(&r).copied();
        let checked = s.lock().check(t, v, pending, ooo_min);
        // The batch takes the lookup's reference to the series (no second count).
        match checked {
            Ok(Appended::Duplicate) => {}
            Ok(Appended::InOrder) => {
                self.b.pending.insert(r, (t, v.to_bits()));
                self.b.samples.push((s, t, v));
            }
            Ok(Appended::OutOfOrder) => self.b.samples.push((s, t, v)),
            Err(e) => return Err(self.reject(e)),
        }
        Ok(SeriesRef(r))
    }

    fn commit(&mut self) -> prom_model::Result<()> {
        if self.b.samples.is_empty() {
            self.b.clear();
            return Ok(());
        }
        self.b.pending.clear();
        let mut samples = std::mem::take(&mut self.b.samples);
        let r = self.apply(&mut samples);
        // The buffer goes back, emptied (its series references dropped), for reuse.
        self.b.samples = samples;
        self.b.clear();
        r
    }

    fn rollback(&mut self) -> prom_model::Result<()> {
        self.b.clear();
        Ok(())
    }
}

impl DbAppender<'_> {
    /// Writes the batch to the WAL and applies it to the series, emptying `samples`.
    ///
    /// Two passes over the batch's series, not five: each series' memory has left the CPU
    /// caches by the end of a batch of a thousand, and each pass paid for it again.
    fn apply(&mut self, samples: &mut Vec<(Arc<MemSeries>, i64, f64)>) -> prom_model::Result<()> {
        let db = self.db;
        // The series records of series not yet in the WAL go first, in the same write.
        // (A first scrape of a large target brings thousands of new series: dedup by sorting,
        // not by a linear search per sample.)
        let mut new_series: Vec<RefSeries> = Vec::new();
        let mut fresh: Vec<&Arc<MemSeries>> = Vec::new();
        let mut wal_samples = std::mem::take(&mut self.b.wal_samples);
        wal_samples.clear();
        wal_samples.reserve(samples.len());
        for (s, t, v) in samples.iter() {
            if !s.is_logged() {
                new_series.push(RefSeries {
                    r: s.r,
                    labels: s.labels.clone(),
                });
                fresh.push(s);
            }
            wal_samples.push(RefSample {
                r: s.r,
                t: *t,
                v: *v,
            });
        }
        new_series.sort_unstable_by_key(|s| s.r);
        new_series.dedup_by_key(|s| s.r);
        let mut records = Vec::with_capacity(2);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        records.push(Record::Samples(wal_samples));
        let logged = db.log(&records);
        if let Some(Record::Samples(v)) = records.pop() {
            self.b.wal_samples = v;
        }
        if let Err(e) = logged {
            inc(&db.metrics.failed_commits);
            return Err(prom_model::Error::storage(e));
        }
        for s in fresh {
            s.set_logged();
        }
        // Apply. A sample that a concurrent commit made out of order, or that a block cut made
        // out of bounds, is counted and dropped (it is in the WAL, where replay drops it too).
        let (range, mvt) = (db.head.block_range, db.head.min_valid_time());
        let ooo_min = db
            .ooo_window
            .map(|w| db.head.max_time().saturating_sub(w).max(mvt));
        let (mut mint, mut maxt, mut n, mut ooo) = (i64::MAX, i64::MIN, 0u64, 0u64);
        // Each series reference is released right after its sample, while its memory is hot.
        for (s, t, v) in samples.drain(..) {
            if t < mvt {
                inc(&db.metrics.out_of_bounds_samples);
                continue;
            }
            match s
                .lock()
                .append(t, v, range, ooo_min, db.head.files.as_ref())
            {
                Appended::InOrder => n += 1,
                Appended::OutOfOrder => ooo += 1,
                Appended::Duplicate => continue,
            }
            mint = mint.min(t);
            maxt = maxt.max(t);
        }
        if n + ooo > 0 {
            db.head.update_bounds(mint, maxt);
        }
        let m = &db.metrics;
        m.samples_appended
            .fetch_add(n + ooo, std::sync::atomic::Ordering::Relaxed);
        m.ooo_samples_appended
            .fetch_add(ooo, std::sync::atomic::Ordering::Relaxed);
        db.after_commit();
        Ok(())
    }
}

impl Drop for DbAppender<'_> {
    fn drop(&mut self) {
        // Uncommitted samples are discarded, as by rollback; the emptied buffers are kept.
        self.b.clear();
        if self.b.keep() {
            let mut pool = self
                .db
                .batches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < Batch::POOL {
                pool.push(std::mem::take(&mut self.b));
            }
        }
    }
}
