//! The head: the in-memory part of the database that receives every append.
//!
//! Series live in striped hash maps (by label hash to find them on append, by reference to
//! find them from the index), each behind its own mutex; the index is a [`MemIndex`]. A
//! series' samples are XOR chunks: sealed ones are immutable `Arc<[u8]>` shared with
//! queriers, the open one is copied into a querier's snapshot (at most ~120 samples).

pub(crate) mod appender;
pub(crate) mod chunks;
pub(crate) mod series;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use prom_index::MemIndex;
use prom_model::{Labels, Matcher};

use crate::interval::{Interval, add_interval};
use series::MemSeries;

/// Hashes series references (small, dense integers) with one multiplication: std's SipHash
/// costs more than the rest of a lookup on the append path, and references are not chosen by
/// anyone who could aim at collisions.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RefHasher(u64);

impl std::hash::Hasher for RefHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, x: u64) {
        // Fibonacci hashing: the multiplication moves the low bits that differ between
        // neighbouring references into the high bits the table uses.
        self.0 = (self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The `BuildHasher` of maps keyed by series reference.
pub(crate) type RefHash = std::hash::BuildHasherDefault<RefHasher>;

/// References handed out one after the other that share a stripe of the reference table.
///
/// A scrape appends a target's series in about the order they were created, so their
/// references mostly run in sequence. Runs of this many consecutive references go to one
/// stripe, next to each other in its vector: a scrape then reads each stripe's lock and its
/// slots front to back (the slots prefetched, the lock line kept by one core) instead of
/// jumping to another stripe's lock and a cold slot on every sample.
const REF_RUN: u64 = 1024;

/// The stripe of the reference table holding reference `r`.
fn ref_stripe(r: u64) -> usize {
    ((r / REF_RUN) as usize) & (STRIPES - 1)
}

/// One stripe of the reference → series map. References are handed out densely from a counter
/// and never reused, so a stripe keeps its series in a vector (runs of [`REF_RUN`]
/// references, one run per round of the stripes): a lookup on the append path is one bounds
/// check and one load, not a hash probe. A reference far beyond the vector (one read from a
/// damaged WAL, say) goes to a hash map instead, so a bad number cannot make the vector huge.
#[derive(Debug, Default)]
pub(crate) struct RefTable {
    dense: Vec<Option<Arc<MemSeries>>>,
    sparse: HashMap<u64, Arc<MemSeries>, RefHash>,
    len: usize,
}

impl RefTable {
    /// Slots the vector may grow by in one insert.
    const MAX_GROWTH: usize = 1 << 16;

    /// The slot of `r` in its stripe's vector (see [`ref_stripe`]).
    fn slot(r: u64) -> usize {
        let round = r / (REF_RUN * STRIPES as u64);
        (round * REF_RUN + r % REF_RUN) as usize
    }

    pub(crate) fn get(&self, r: u64) -> Option<&Arc<MemSeries>> {
        match self.dense.get(Self::slot(r)) {
            Some(Some(s)) => Some(s),
            _ => self.sparse.get(&r),
        }
    }

    pub(crate) fn insert(&mut self, r: u64, s: Arc<MemSeries>) {
        let i = Self::slot(r);
        if i < self.dense.len() + Self::MAX_GROWTH && !self.sparse.contains_key(&r) {
            if i >= self.dense.len() {
                self.dense.resize(i + 1, None);
            }
            if self.dense[i].replace(s).is_none() {
                self.len += 1;
            }
        } else if self.sparse.insert(r, s).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn remove(&mut self, r: u64) {
        let removed = match self.dense.get_mut(Self::slot(r)) {
            Some(slot @ Some(_)) => slot.take().is_some(),
            _ => self.sparse.remove(&r).is_some(),
        };
        if removed {
            self.len -= 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<MemSeries>> {
        self.dense.iter().flatten().chain(self.sparse.values())
    }
}

/// Number of lock stripes; a power of two.
const STRIPES: usize = 64;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// Series by label hash: one entry per hash, the rare hash collisions aside (16 bytes per
/// series instead of a `Vec` per hash).
#[derive(Debug, Default)]
struct HashStripe {
    one: HashMap<u64, Arc<MemSeries>>,
    collisions: HashMap<u64, Vec<Arc<MemSeries>>>,
}

impl HashStripe {
    fn get(&self, h: u64, labels: &Labels) -> Option<&Arc<MemSeries>> {
        match self.one.get(&h) {
            Some(s) if s.labels == *labels => Some(s),
            Some(_) => self
                .collisions
                .get(&h)
                .and_then(|v| v.iter().find(|s| s.labels == *labels)),
            None => None,
        }
    }

    fn insert(&mut self, h: u64, s: Arc<MemSeries>) {
        match self.one.entry(h) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(h).or_default().push(s);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(s);
            }
        }
    }

    fn remove(&mut self, h: u64, s: &Arc<MemSeries>) {
        if self.one.get(&h).is_some_and(|x| Arc::ptr_eq(x, s)) {
            self.one.remove(&h);
            if let Some(list) = self.collisions.get_mut(&h) {
                if let Some(next) = list.pop() {
                    self.one.insert(h, next);
                }
                if list.is_empty() {
                    self.collisions.remove(&h);
                }
            }
        } else if let Some(list) = self.collisions.get_mut(&h) {
            list.retain(|x| !Arc::ptr_eq(x, s));
            if list.is_empty() {
                self.collisions.remove(&h);
            }
        }
    }
}

/// The in-memory series, their index and the head's time bounds.
#[derive(Debug)]
pub(crate) struct Head {
    by_hash: Vec<RwLock<HashStripe>>,
    by_ref: Vec<RwLock<RefTable>>,
    pub index: MemIndex,
    next_ref: AtomicU64,
    /// Smallest and largest sample time in the head (`i64::MAX`/`i64::MIN` when empty).
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples before this are out of bounds: it is the end of the last persisted block.
    min_valid_time: AtomicI64,
    pub block_range: i64,
    /// Tombstones for head series.
    tombstones: RwLock<HashMap<u64, Vec<Interval>>>,
    /// Where sealed chunks go (none: they stay on the heap).
    pub files: Option<chunks::HeadChunks>,
}

impl Head {
    pub fn new(block_range: i64, min_valid_time: i64, files: Option<chunks::HeadChunks>) -> Self {
        Head {
            by_hash: (0..STRIPES).map(|_| RwLock::default()).collect(),
            by_ref: (0..STRIPES).map(|_| RwLock::default()).collect(),
            index: MemIndex::new(),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(min_valid_time),
            block_range,
            tombstones: RwLock::default(),
            files,
        }
    }

    fn stripe(x: u64) -> usize {
        (x as usize) & (STRIPES - 1)
    }

    /// The series with reference `r`.
    pub fn get(&self, r: u64) -> Option<Arc<MemSeries>> {
        read(&self.by_ref[ref_stripe(r)]).get(r).cloned()
    }

    /// The series with exactly these labels.
    pub fn get_by_labels(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        let h = labels.hash64();
        read(&self.by_hash[Self::stripe(h)]).get(h, labels).cloned()
    }

    /// The series with these labels, created (with a new reference) if absent. The flag says
    /// whether it was created.
    pub fn get_or_create(&self, labels: &Labels) -> (Arc<MemSeries>, bool) {
        if let Some(s) = self.get_by_labels(labels) {
            return (s, false);
        }
        let h = labels.hash64();
        let mut stripe = write(&self.by_hash[Self::stripe(h)]);
        if let Some(s) = stripe.get(h, labels) {
            return (s.clone(), false);
        }
        let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(MemSeries::new(r, labels.clone(), false));
        stripe.insert(h, s.clone());
        write(&self.by_ref[ref_stripe(r)]).insert(r, s.clone());
        drop(stripe);
        self.index.add(r, labels);
        (s, true)
    }

    /// Recreates a series read from the WAL under its original reference. Returns false (and
    /// changes nothing) when the labels already exist under another reference; the caller maps
    /// the WAL's reference onto the existing one.
    pub fn create_with_ref(&self, r: u64, labels: &Labels) -> Result<(), Arc<MemSeries>> {
        if let Some(s) = self.get_by_labels(labels) {
            return Err(s);
        }
        let h = labels.hash64();
        let s = Arc::new(MemSeries::new(r, labels.clone(), true));
        write(&self.by_hash[Self::stripe(h)]).insert(h, s.clone());
        write(&self.by_ref[ref_stripe(r)]).insert(r, s);
        self.index.add(r, labels);
        self.next_ref.fetch_max(r + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Widens the head's time bounds to include `[mint, maxt]`.
    pub fn update_bounds(&self, mint: i64, maxt: i64) {
        self.min_time.fetch_min(mint, Ordering::AcqRel);
        self.max_time.fetch_max(maxt, Ordering::AcqRel);
    }

    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Acquire)
    }

    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Acquire)
    }

    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.fetch_max(t, Ordering::AcqRel);
    }

    /// Every series, in no particular order.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::new();
        for stripe in &self.by_ref {
            out.extend(read(stripe).values().cloned());
        }
        out
    }

    /// The number of series.
    pub fn num_series(&self) -> usize {
        self.by_ref.iter().map(|s| read(s).len()).sum()
    }

    /// The series the matchers select, in reference order.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        self.index
            .postings_for_matchers(matchers)
            .into_iter()
            .filter_map(|r| self.get(r))
            .collect()
    }

    /// Records deleted intervals for a series.
    pub fn add_tombstone(&self, r: u64, iv: Interval) {
        add_interval(write(&self.tombstones).entry(r).or_default(), iv);
    }

    /// The deleted intervals of a series.
    pub fn tombstones_of(&self, r: u64) -> Vec<Interval> {
        read(&self.tombstones).get(&r).cloned().unwrap_or_default()
    }

    /// Drops the data before `mint` from every series and removes the series left empty that
    /// no appender wrote to since `mint`; forgets tombstones that end before `mint`. Sets the
    /// head's minimum time to `mint`. Returns (series removed, chunks removed).
    pub fn truncate(&self, mint: i64) -> (usize, usize) {
        self.set_min_valid_time(mint);
        let mut chunks = 0;
        let mut dead = Vec::new();
        // The head's new minimum, from what each series keeps (one pass over the series).
        let mut min = i64::MAX;
        for s in self.all_series() {
            let mut d = s.lock();
            chunks += d.truncate_before(mint);
            match d.min_time() {
                Some(t) => min = min.min(t),
                None if d.last_time().is_none_or(|t| t < mint) => dead.push(s.clone()),
                None => {}
            }
        }
        let mut removed = 0;
        for s in &dead {
            let h = s.labels.hash64();
            // Under both stripe locks (every lookup takes one of them), re-check that the
            // series is still empty and that nobody but the two maps and `dead` holds it: an
            // appender with a queued sample holds a clone, and removing the series then would
            // orphan that sample.
            let mut by_hash = write(&self.by_hash[Self::stripe(h)]);
            let mut by_ref = write(&self.by_ref[ref_stripe(s.r)]);
            if Arc::strong_count(s) > 3 || !s.lock().is_empty() {
                continue;
            }
            by_hash.remove(h, s);
            by_ref.remove(s.r);
            drop((by_hash, by_ref));
            self.index.delete(s.r);
            removed += 1;
        }
        if removed > 0 {
            self.index.gc();
        }
        if let Some(f) = &self.files {
            f.truncate(mint);
        }
        {
            let mut ts = write(&self.tombstones);
            ts.retain(|r, ivs| {
                ivs.retain(|iv| iv.max_time >= mint);
                !ivs.is_empty() && self.get(*r).is_some()
            });
        }
        self.min_time.store(min.max(mint), Ordering::Release);
        if min == i64::MAX {
            self.min_time.store(i64::MAX, Ordering::Release);
            self.max_time.store(i64::MIN, Ordering::Release);
        }
        (removed, chunks)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn ref_table_is_dense_for_handed_out_refs_and_sparse_for_far_ones() {
        let mut t = RefTable::default();
        let series = |r: u64| {
            Arc::new(MemSeries::new(
                r,
                Labels::from_pairs(&[("r", &r.to_string())]),
                false,
            ))
        };
        // References of one stripe: the first 50 of its first run, 50 of its second.
        let round = REF_RUN * STRIPES as u64;
        let refs: Vec<u64> = (3..53).chain(round + 3..round + 53).collect();
        assert!(refs.iter().all(|&r| ref_stripe(r) == ref_stripe(3)));
        for &r in &refs {
            t.insert(r, series(r));
        }
        assert_eq!(t.len(), 100);
        assert!(t.sparse.is_empty());
        assert!(t.dense.len() <= REF_RUN as usize + 53);
        for &r in &refs {
            assert_eq!(t.get(r).map(|s| s.r), Some(r));
        }
        assert!(t.get(53).is_none() && t.get(round + 53).is_none());
        // A far reference does not grow the vector.
        let far = 3 + round * (1u64 << 40);
        t.insert(far, series(far));
        assert_eq!(t.sparse.len(), 1);
        assert!(t.dense.len() <= REF_RUN as usize + 53);
        assert_eq!(t.get(far).map(|s| s.r), Some(far));
        t.remove(far);
        t.remove(3);
        t.remove(3);
        assert_eq!(t.len(), 99);
        assert!(t.get(3).is_none() && t.get(far).is_none());
        assert_eq!(t.values().count(), 99);
        // Replacing a series under the same reference keeps the count.
        t.insert(40, series(40));
        assert_eq!(t.len(), 99);
    }

    use prom_model::labels;

    use super::*;

    #[test]
    fn truncation_keeps_series_an_appender_still_holds() {
        let head = Head::new(1000, i64::MIN, None);
        let (held, _) = head.get_or_create(&labels!("a" => "held"));
        let (free, _) = head.get_or_create(&labels!("a" => "free"));
        let r_free = free.r;
        drop(free);
        // Both are empty; only the unheld one goes.
        assert_eq!(head.truncate(10).0, 1);
        assert!(head.get(held.r).is_some());
        assert!(head.get(r_free).is_none());
        assert_eq!(head.index.num_series(), 1);
        drop(held);
        assert_eq!(head.truncate(10).0, 1);
        assert_eq!(head.num_series(), 0);
    }

    #[test]
    fn hash_collisions_keep_every_series_findable() {
        let mut st = HashStripe::default();
        let a = Arc::new(MemSeries::new(1, labels!("a" => "1"), false));
        let b = Arc::new(MemSeries::new(2, labels!("a" => "2"), false));
        let c = Arc::new(MemSeries::new(3, labels!("a" => "3"), false));
        // All under one (forced) hash.
        for s in [&a, &b, &c] {
            st.insert(7, s.clone());
        }
        for s in [&a, &b, &c] {
            assert_eq!(st.get(7, &s.labels).map(|x| x.r), Some(s.r));
        }
        st.remove(7, &a);
        assert!(st.get(7, &a.labels).is_none());
        assert_eq!(st.get(7, &b.labels).map(|x| x.r), Some(2));
        assert_eq!(st.get(7, &c.labels).map(|x| x.r), Some(3));
        st.remove(7, &c);
        st.remove(7, &b);
        assert!(st.one.is_empty() && st.collisions.is_empty());
    }
}
