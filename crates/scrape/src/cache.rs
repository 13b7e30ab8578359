//! The scrape loop's series cache: series text as the target wrote it → what the scraper
//! keeps for that series.
//!
//! A target writes its series in the same order scrape after scrape, so the cache keeps its
//! entries in the order they were first seen and, for each sample, first tries the entry
//! after the one the previous sample matched. In the steady state a sample costs one
//! comparison of its text against the next key in a contiguous arena: no hashing, and memory
//! read front to back (which the hardware prefetches) instead of one random probe per sample
//! into a table that other targets' scrapes have pushed out of the CPU caches. When the guess
//! is wrong (a new series, a reordered exposition) a hash index finds the entry and the guess
//! continues from there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// No entry after this one with the same hash.
const NONE: usize = usize::MAX;

/// The index's keys are already hashes: they are used as they are.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed through this; kept correct for anything else anyway.
        self.0 = key_hash(bytes) ^ self.0.rotate_left(5);
    }

    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xD6E8_FEB8_6659_FD93;

/// The 128-bit product of `a` and `b`, its halves XORed: every input bit reaches both halves
/// of the result.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    // Truncations on purpose: the low and the high half.
    #[allow(clippy::cast_possible_truncation)]
    let (lo, hi) = (p as u64, (p >> 64) as u64);
    lo ^ hi
}

/// Hashes a series text: one folded multiplication per 8-byte word, several times cheaper
/// than XXH64 on keys of a few dozen bytes. Not keyed (as Prometheus's xxhash is not): a
/// hostile target can make collisions, which cost it lookups along a chain, never a wrong
/// series, since keys are always compared in full.
#[inline]
pub(crate) fn key_hash(bytes: &[u8]) -> u64 {
    let mut h = fold_mul(bytes.len() as u64 ^ K2, K1);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = fold_mul(h ^ w, K1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(buf), K2);
    }
    fold_mul(h, K1)
}

#[derive(Debug)]
struct Slot<T> {
    /// Where the key's bytes start in the arena; they end where the next slot's start (keys
    /// are back to back in slot order), so no length is kept: a slot per series, and every
    /// word of it counts.
    start: usize,
    /// The next slot whose key has the same hash, or [`NONE`].
    next: usize,
    value: T,
}

/// Series text → `T`, with the entries in first-seen order and a guess at the next lookup.
#[derive(Debug)]
pub(crate) struct SeriesCache<T> {
    /// Every key, back to back, in slot order.
    keys: String,
    slots: Vec<Slot<T>>,
    /// Key hash → the last slot inserted with that hash (earlier ones follow `next`).
    index: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    /// The slot the next lookup probably wants.
    cursor: usize,
    hash: fn(&[u8]) -> u64,
}

impl<T> Default for SeriesCache<T> {
    fn default() -> Self {
        Self::with_hash(key_hash)
    }
}

impl<T> SeriesCache<T> {
    /// A cache hashing its keys with `hash` (tests force collisions with it).
    pub(crate) fn with_hash(hash: fn(&[u8]) -> u64) -> Self {
        SeriesCache {
            keys: String::new(),
            slots: Vec::new(),
            index: HashMap::default(),
            cursor: 0,
            hash,
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Starts a scrape: the first lookup probably wants the first entry. Spare capacity that
    /// the last scrape's new series left (a vector grown by doubling is up to half empty) is
    /// given back, keeping a sixteenth of headroom so that a target adding a few series per
    /// scrape does not reallocate every time.
    pub(crate) fn rewind(&mut self) {
        self.cursor = 0;
        let n = self.slots.len();
        if self.slots.capacity() > n + n / 4 + 16 {
            self.slots.shrink_to(n + n / 16);
        }
        let n = self.keys.len();
        if self.keys.capacity() > n + n / 4 + 1024 {
            self.keys.shrink_to(n + n / 16);
        }
    }

    /// The bytes allocated for entries and keys (not the hash index).
    #[cfg(test)]
    fn allocated(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<T>>() + self.keys.capacity()
    }

    /// Slot `i`'s key: up to the next slot's start.
    #[inline]
    fn key(&self, i: usize) -> &str {
        let end = self.slots.get(i + 1).map_or(self.keys.len(), |s| s.start);
        &self.keys[self.slots[i].start..end]
    }

    #[inline]
    fn find(&mut self, key: &str) -> Option<usize> {
        let c = self.cursor;
        if c < self.slots.len() && self.key(c) == key {
            self.cursor = c + 1;
            return Some(c);
        }
        let mut i = *self.index.get(&(self.hash)(key.as_bytes()))?;
        loop {
            if self.key(i) == key {
                self.cursor = i + 1;
                return Some(i);
            }
            let next = self.slots[i].next;
            if next == NONE {
                return None;
            }
            i = next;
        }
    }

    /// The entry for `key`.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        let i = self.find(key)?;
        Some(&mut self.slots[i].value)
    }

    /// The entry the next lookup probably wants, with its key.
    #[inline]
    pub(crate) fn peek_next(&self) -> Option<(&str, &T)> {
        let s = self.slots.get(self.cursor)?;
        Some((self.key(self.cursor), &s.value))
    }

    /// The entry [`peek_next`](Self::peek_next) returned, taken as found.
    #[inline]
    pub(crate) fn take_next(&mut self) -> &mut T {
        let i = self.cursor;
        self.cursor += 1;
        &mut self.slots[i].value
    }

    /// Adds an entry for `key`, which must not be in the cache.
    pub(crate) fn insert(&mut self, key: &str, value: T) -> &mut T {
        debug_assert!(self.find(key).is_none(), "key already cached");
        let i = self.slots.len();
        self.push(key, value);
        self.cursor = i + 1;
        &mut self.slots[i].value
    }

    fn push(&mut self, key: &str, value: T) {
        let i = self.slots.len();
        let start = self.keys.len();
        self.keys.push_str(key);
        let next = self
            .index
            .insert((self.hash)(key.as_bytes()), i)
            .unwrap_or(NONE);
        self.slots.push(Slot { start, next, value });
    }

    /// Every value, in first-seen order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(|s| &mut s.value)
    }

    /// Keeps the entries for which `keep` holds, in their order. The cache is rebuilt only
    /// when something goes.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        if self.slots.iter().all(|s| keep(&s.value)) {
            return;
        }
        let old_keys = std::mem::take(&mut self.keys);
        let old = std::mem::take(&mut self.slots);
        self.index.clear();
        self.cursor = 0;
        let ends: Vec<usize> = old
            .iter()
            .skip(1)
            .map(|s| s.start)
            .chain([old_keys.len()])
            .collect();
        for (s, end) in old.into_iter().zip(ends) {
            if keep(&s.value) {
                self.push(&old_keys[s.start..end], s.value);
            }
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.slots.clear();
        self.index.clear();
        self.cursor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("m{{a=\"{}\",b=\"{}\"}}", i % 7, i))
            .collect()
    }

    fn check_all<T: PartialEq + std::fmt::Debug + Copy>(
        c: &mut SeriesCache<T>,
        want: &[(String, T)],
    ) {
        assert_eq!(c.len(), want.len());
        for (k, v) in want {
            assert_eq!(c.get_mut(k).copied(), Some(*v), "{k}");
        }
    }

    #[test]
    fn steady_order_reordered_and_new_keys() {
        for hash in [
            key_hash as fn(&[u8]) -> u64,
            |_: &[u8]| 42,
            |b: &[u8]| u64::from(b.len() as u8 % 3),
        ] {
            let mut c = SeriesCache::with_hash(hash);
            let ks = keys(50);
            for (i, k) in ks.iter().enumerate() {
                assert!(c.get_mut(k).is_none());
                c.insert(k, i);
            }
            // Same order, reversed, and every other one: always the right value.
            c.rewind();
            for (i, k) in ks.iter().enumerate() {
                assert_eq!(c.get_mut(k), Some(&mut { i }));
            }
            c.rewind();
            for (i, k) in ks.iter().enumerate().rev() {
                assert_eq!(c.get_mut(k), Some(&mut { i }));
            }
            c.rewind();
            for (i, k) in ks.iter().enumerate().step_by(2) {
                assert_eq!(c.get_mut(k), Some(&mut { i }));
            }
            // A prefix or extension of a key is another key.
            assert!(c.get_mut("m{a=\"0\",b=\"0\"").is_none());
            assert!(c.get_mut("m{a=\"0\",b=\"0\"}x").is_none());
            assert!(c.get_mut("").is_none());
            c.insert("", 1000);
            assert_eq!(c.get_mut(""), Some(&mut 1000));
        }
    }

    #[test]
    fn all_hashes_equal_still_gives_the_right_entries() {
        let mut c = SeriesCache::with_hash(|_| 7);
        let ks = keys(30);
        for (i, k) in ks.iter().enumerate() {
            c.insert(k, i);
        }
        let want: Vec<(String, usize)> = ks.iter().cloned().zip(0..).collect();
        c.rewind();
        check_all(&mut c, &want);
        // Drop the odd ones: the chains are rebuilt without them.
        c.retain(|v| v % 2 == 0);
        let even: Vec<(String, usize)> = want.iter().filter(|(_, v)| v % 2 == 0).cloned().collect();
        check_all(&mut c, &even);
        for (k, v) in &want {
            if v % 2 == 1 {
                assert!(c.get_mut(k).is_none(), "{k}");
            }
        }
        c.clear();
        assert_eq!(c.len(), 0);
        assert!(c.get_mut(&ks[0]).is_none());
    }

    #[test]
    fn retain_keeps_order_and_values() {
        let mut c = SeriesCache::default();
        let ks = keys(100);
        for (i, k) in ks.iter().enumerate() {
            c.insert(k, i);
        }
        c.retain(|_| true);
        assert_eq!(c.len(), 100);
        c.retain(|v| v % 3 != 0);
        let got: Vec<usize> = c.values_mut().map(|v| *v).collect();
        let want: Vec<usize> = (0..100).filter(|v| v % 3 != 0).collect();
        assert_eq!(got, want);
        for v in c.values_mut() {
            *v += 1000;
        }
        for (i, k) in ks.iter().enumerate() {
            let want = (i % 3 != 0).then_some(i + 1000);
            assert_eq!(c.get_mut(k).copied(), want);
        }
    }

    #[test]
    fn spare_capacity_goes_back_at_the_next_scrape_but_headroom_stays() {
        let mut c = SeriesCache::default();
        let ks = keys(10_000);
        for (i, k) in ks.iter().enumerate() {
            c.insert(k, i as u64);
        }
        let used =
            10_000 * std::mem::size_of::<Slot<u64>>() + ks.iter().map(String::len).sum::<usize>();
        assert!(
            c.allocated() > used * 5 / 4,
            "doubling left room to give back"
        );
        c.rewind();
        assert!(
            c.allocated() <= used + used / 8,
            "{} for {used}",
            c.allocated()
        );
        // A new series fits the headroom: nothing is reallocated.
        let before = c.allocated();
        c.insert("new{a=\"1\"}", 1);
        c.rewind();
        assert_eq!(c.allocated(), before);
        // The keys are intact.
        assert_eq!(c.len(), 10_001);
        for (i, k) in ks.iter().enumerate() {
            assert_eq!(c.get_mut(k).copied(), Some(i as u64), "{k}");
        }
        assert_eq!(c.get_mut("new{a=\"1\"}"), Some(&mut 1));
    }

    #[test]
    fn key_hash_spreads_similar_keys() {
        let ks = keys(20_000);
        let mut seen = std::collections::HashSet::new();
        for k in &ks {
            assert!(seen.insert(key_hash(k.as_bytes())), "collision on {k}");
        }
        // Length matters, trailing zero bytes included.
        assert_ne!(key_hash(b"a"), key_hash(b"a\0"));
        assert_ne!(key_hash(b""), key_hash(b"\0"));
        // The top bits (hashbrown's control bytes) vary too.
        let tops: std::collections::HashSet<u64> =
            ks.iter().map(|k| key_hash(k.as_bytes()) >> 57).collect();
        assert_eq!(tops.len(), 128);
    }

    proptest! {
        /// Any sequence of lookups and inserts agrees with a HashMap, whatever the hash.
        #[test]
        fn agrees_with_a_map(
            ops in proptest::collection::vec((0usize..40, any::<bool>(), 0u8..4), 0..300),
            weak in any::<bool>(),
        ) {
            let mut c = if weak {
                SeriesCache::with_hash(|b| u64::from(b.first().copied().unwrap_or(0) % 2))
            } else {
                SeriesCache::default()
            };
            let mut m: HashMap<String, usize> = HashMap::new();
            for (n, (k, rewind, op)) in ops.into_iter().enumerate() {
                let key = format!("s{{i=\"{k}\"}}");
                if rewind {
                    c.rewind();
                }
                match op {
                    0 => {
                        c.retain(|v| v % 5 != k % 5);
                        m.retain(|_, v| *v % 5 != k % 5);
                    }
                    _ => match (c.get_mut(&key), m.get_mut(&key)) {
                        (Some(a), Some(b)) => {
                            prop_assert_eq!(*a, *b);
                            *a = n;
                            *b = n;
                        }
                        (None, None) => {
                            c.insert(&key, n);
                            m.insert(key, n);
                        }
                        (a, b) => prop_assert!(false, "cache {:?}, map {:?}", a, b),
                    },
                }
                prop_assert_eq!(c.len(), m.len());
            }
        }
    }
}
