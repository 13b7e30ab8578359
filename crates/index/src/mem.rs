//! The in-memory inverted index a TSDB head keeps over its series.
//!
//! # Layout
//!
//! ```text
//! names:   BTreeMap<name, { values: BTreeMap<value, PostingsList>, series: count }>
//! all:     PostingsList                 every indexed series
//! deleted: BTreeSet<u64>                marked by delete(), removed by gc()
//! strings: HashSet<Arc<str>>            one Arc<str> per distinct name or value
//! ```
//!
//! Values are kept sorted so that [`label_values`](MemIndexReader::label_values) needs no sort
//! and a regex with a literal prefix scans only the range of values that start with it. Each
//! name counts the series that carry it, so "has the label" (`=~".+"`, `!=""`) on a label every
//! series has is recognised in O(1) as the universe. Names and values are interned: a string
//! that appears as several names or values is allocated once. [`PostingsList`] stores
//! references as `u32` while they fit, short lists inline and long dense ones with a bitmap
//! beside them (see [`postings`](crate::postings) for the forms and the measurements).
//!
//! Measured on 1M series with four labels (100 jobs × 1,000 instances × 10 metric names, and
//! `env`), the index takes 34.5 bytes per series besides the interned strings, 3.5 bytes more
//! with them (docs/benchmarks.md, "Index"); that includes the bitmaps of the long dense lists
//! (2.2 bytes) and is 4 bytes less than without inline short lists.
//!
//! # Concurrency
//!
//! One [`RwLock`] around the whole index. Writers ([`add`](MemIndex::add),
//! [`delete`](MemIndex::delete), [`gc`](MemIndex::gc)) hold the write lock for one series
//! (a few map lookups and appends per label: microseconds). Readers hold the read lock for as
//! long as they keep a [`MemIndexReader`]; the lazy cursors it hands out borrow the index, so
//! no query copies postings. The lock makes every reader see a consistent snapshot: a series
//! being added is in all of its postings or in none, which matters for subtraction (a series
//! seen in `{a="x"}` but not yet in `{b="y"}` would wrongly pass `{a="x", b!="y"}`). Locks
//! sharded by label name would lose that; copy-on-write postings behind `Arc` would let readers
//! go lock-free but make every insert into a list a reader still holds copy the list, and the
//! list of all series is a million entries. On Linux the standard library's `RwLock` makes new
//! readers wait while a writer waits (the policy is the platform's), so a stream of queries
//! cannot starve the appender; in exchange, readers SHOULD NOT hold a [`MemIndexReader`]
//! across slow work, and a thread holding one MUST NOT call [`MemIndex`] methods, which lock
//! again and can deadlock behind a waiting writer. The owned conveniences on [`MemIndex`] take
//! the lock only for their own call.
//!
//! # Deletion
//!
//! [`delete`](MemIndex::delete) marks a series; from then on no reader sees it in postings,
//! label names, label values or statistics. [`gc`](MemIndex::gc) removes the marked series from
//! every list in one sweep (head truncation deletes many series at once, and one pass over the
//! index is cheaper than a search per series per label), drops values and names left without
//! series, and frees strings no longer used.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use prom_model::{Labels, METRIC_NAME, Matcher};

use crate::planner::{self, Plan, Source};
use crate::postings::{
    BTreeSetPostings, BitmapPostings, Drain, EmptyPostings, ListPostings, Postings, PostingsList,
    collect, drain_into, without,
};
use crate::stats::{Stats, TopN};

/// The in-memory inverted index: label pair → postings, safe to read while series are added.
///
/// ```
/// use prom_index::MemIndex;
/// use prom_model::{Matcher, labels};
///
/// let index = MemIndex::new();
/// index.add(1, &labels!("__name__" => "up", "job" => "api"));
/// index.add(2, &labels!("__name__" => "up", "job" => "db"));
/// index.add(3, &labels!("__name__" => "up"));
/// assert_eq!(index.postings("job", "db"), [2]);
/// assert_eq!(index.postings_for_matchers(&[Matcher::not_equal("job", "api")]), [2, 3]);
/// assert_eq!(index.label_values("job"), ["api", "db"]);
///
/// index.delete(2);
/// assert_eq!(index.label_values("job"), ["api"]);
/// assert_eq!(index.gc(), 1);
/// ```
pub struct MemIndex {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    names: BTreeMap<Arc<str>, NameEntry>,
    all: PostingsList,
    deleted: BTreeSet<u64>,
    strings: HashSet<Arc<str>>,
}

#[derive(Default)]
struct NameEntry {
    values: BTreeMap<Arc<str>, PostingsList>,
    /// The number of references in all of `values` (each series has one value per name).
    series: usize,
}

impl Default for MemIndex {
    fn default() -> Self {
        MemIndex::new()
    }
}

impl fmt::Debug for MemIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.read();
        f.debug_struct("MemIndex")
            .field("series", &r.num_series())
            .field("label_names", &r.inner.names.len())
            .field("pending_deletes", &r.inner.deleted.len())
            .finish()
    }
}

impl MemIndex {
    /// An empty index.
    pub fn new() -> Self {
        MemIndex {
            inner: RwLock::new(Inner::default()),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a list unsorted (every mutation is a
        // single `Vec` operation), so a poisoned index is still usable.
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A consistent read view, holding the read lock until it is dropped (see the module docs
    /// on concurrency). Its cursors borrow the index: nothing is copied.
    pub fn read(&self) -> MemIndexReader<'_> {
        MemIndexReader {
            inner: self.inner.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Indexes series `series_ref` under each of its labels.
    ///
    /// - References SHOULD arrive in increasing order (appending is then O(1) per label); any
    ///   order is correct.
    /// - Adding a reference that is already indexed with the same labels changes nothing. A
    ///   reference MUST NOT be added with different labels unless it was deleted and collected
    ///   first; adding a reference marked deleted collects first (see [`gc`](Self::gc)).
    pub fn add(&self, series_ref: u64, labels: &Labels) {
        self.write().add(series_ref, labels);
    }

    /// Marks series `series_ref` deleted: no reader sees it from now on. Its memory is reclaimed
    /// by the next [`gc`](Self::gc). Returns whether it was indexed and not already marked.
    pub fn delete(&self, series_ref: u64) -> bool {
        let mut inner = self.write();
        inner.all.contains(series_ref) && inner.deleted.insert(series_ref)
    }

    /// Removes the series marked by [`delete`](Self::delete) from every postings list in one
    /// sweep, drops the values and names left without series and the strings no longer used.
    /// Returns the number of series removed.
    pub fn gc(&self) -> usize {
        self.write().gc()
    }

    /// The number of indexed series (not counting deleted ones).
    pub fn num_series(&self) -> usize {
        self.read().num_series()
    }

    /// The label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.read().label_names().map(str::to_owned).collect()
    }

    /// The values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.read().label_values(name).map(str::to_owned).collect()
    }

    /// The values of label `name` among the series `matchers` select, sorted.
    pub fn label_values_for_matchers(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let r = self.read();
        r.label_values_for_matchers(name, matchers)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The label names among the series `matchers` select, sorted.
    pub fn label_names_for_matchers(&self, matchers: &[Matcher]) -> Vec<String> {
        let r = self.read();
        r.label_names_for_matchers(matchers)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The series with label `name="value"`, sorted.
    pub fn postings(&self, name: &str, value: &str) -> Vec<u64> {
        collect(self.read().postings(name, value))
    }

    /// The series every one of `matchers` selects, sorted; every series if there are none.
    /// [`MemIndexReader::postings_for_matchers`] is the lazy form.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Vec<u64> {
        self.read().select(matchers)
    }

    /// Cardinality statistics, with at most `limit` entries per list.
    pub fn stats(&self, limit: usize) -> Stats {
        self.read().stats(limit)
    }

    /// The heap bytes of the interned label strings: each distinct string's bytes plus its
    /// reference counts. Everything else the index allocates is per series or per label pair.
    pub fn string_bytes(&self) -> usize {
        let r = self.read();
        r.inner
            .strings
            .iter()
            .map(|s| (16 + s.len()).next_multiple_of(8))
            .sum()
    }
}

fn intern(strings: &mut HashSet<Arc<str>>, s: &str) -> Arc<str> {
    match strings.get(s) {
        Some(a) => a.clone(),
        None => {
            let a: Arc<str> = Arc::from(s);
            strings.insert(a.clone());
            a
        }
    }
}

impl NameEntry {
    fn add(&mut self, strings: &mut HashSet<Arc<str>>, value: &str, series_ref: u64) {
        if let Some(list) = self.values.get_mut(value) {
            if list.insert(series_ref) {
                self.series += 1;
            }
        } else {
            let mut list = PostingsList::new();
            list.insert(series_ref);
            self.values.insert(intern(strings, value), list);
            self.series += 1;
        }
    }
}

impl Inner {
    fn add(&mut self, series_ref: u64, labels: &Labels) {
        if self.deleted.contains(&series_ref) {
            // The old series' references must go before the new one's arrive.
            self.gc();
        }
        self.all.insert(series_ref);
        let Inner { names, strings, .. } = self;
        for l in labels.iter() {
            if let Some(entry) = names.get_mut(l.name) {
                entry.add(strings, l.value, series_ref);
            } else {
                let mut entry = NameEntry::default();
                entry.add(strings, l.value, series_ref);
                names.insert(intern(strings, l.name), entry);
            }
        }
    }

    fn gc(&mut self) -> usize {
        let (Some(&lo), Some(&hi)) = (self.deleted.first(), self.deleted.last()) else {
            return 0;
        };
        // A membership test per indexed reference: a bit test when the deleted references are
        // dense enough for a bitmap, else a binary search.
        let dense = (hi - lo) / 64 < self.deleted.len() as u64 * 4;
        let mut bitmap = BitmapPostings::with_range(lo, if dense { hi } else { lo });
        let mut sorted = Vec::new();
        if dense {
            self.deleted.iter().for_each(|&r| bitmap.insert(r));
        } else {
            sorted.extend(self.deleted.iter().copied());
        }
        let is_dead = |r: u64| {
            if dense {
                bitmap.contains(r)
            } else {
                sorted.binary_search(&r).is_ok()
            }
        };
        let sweep = |list: &mut PostingsList| -> usize {
            match (list.first(), list.last()) {
                (Some(first), Some(last)) if first <= hi && last >= lo => {
                    let removed = list.retain(|r| !is_dead(r));
                    if removed > 0 && list.len() * 2 < list.capacity() {
                        list.shrink_to_fit();
                    }
                    removed
                }
                _ => 0,
            }
        };
        let removed = sweep(&mut self.all);
        for entry in self.names.values_mut() {
            for list in entry.values.values_mut() {
                entry.series -= sweep(list);
            }
            entry.values.retain(|_, l| !l.is_empty());
        }
        self.names.retain(|_, e| !e.values.is_empty());
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.deleted.clear();
        removed
    }

    /// Whether `list` has a series not marked deleted.
    fn is_live(&self, list: &PostingsList) -> bool {
        self.deleted.is_empty() || list.iter().any(|r| !self.deleted.contains(&r))
    }

    /// The number of series of `list` not marked deleted.
    fn live_len(&self, list: &PostingsList) -> usize {
        let (Some(lo), Some(hi)) = (list.first(), list.last()) else {
            return 0;
        };
        if self.deleted.is_empty() {
            return list.len();
        }
        let dead = self
            .deleted
            .range(lo..=hi)
            .filter(|&&r| list.contains(r))
            .count();
        list.len() - dead
    }

    /// `p` without the series marked deleted.
    fn live<'a>(&'a self, p: impl Postings + 'a) -> Box<dyn Postings + 'a> {
        if self.deleted.is_empty() {
            Box::new(p)
        } else {
            Box::new(without(p, BTreeSetPostings::new(&self.deleted)))
        }
    }

    /// The references of `p` without the series marked deleted, by internal iteration.
    fn collect_live(&self, p: impl Drain, capacity: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(capacity);
        if self.deleted.is_empty() {
            drain_into(p, &mut out);
        } else {
            drain_into(without(p, BTreeSetPostings::new(&self.deleted)), &mut out);
        }
        out
    }
}

impl Source for Inner {
    fn all(&self) -> &PostingsList {
        &self.all
    }

    fn label_series(&self, name: &str) -> usize {
        self.names.get(name).map_or(0, |e| e.series)
    }

    fn lookup(&self, name: &str, value: &str) -> Option<&PostingsList> {
        self.names.get(name)?.values.get(value)
    }

    fn scan<'a>(&'a self, name: &str, prefix: &str, f: &mut dyn FnMut(&str, &'a PostingsList)) {
        let Some(entry) = self.names.get(name) else {
            return;
        };
        use std::ops::Bound::{Excluded, Included, Unbounded};
        // The strings that start with `prefix` sort before the prefix with its last character
        // incremented (UTF-8 preserves code point order and no encoding is a prefix of another),
        // so the range needs no per-value check.
        let mut end = None;
        let mut chars = prefix.chars();
        if let Some(c) = chars.next_back() {
            let next = (u32::from(c) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
            end = next.map(|n| {
                let mut e = chars.as_str().to_owned();
                e.push(n);
                e
            });
        }
        let upper = end.as_deref().map_or(Unbounded, Excluded);
        for (v, l) in entry.values.range::<str, _>((Included(prefix), upper)) {
            // Only a prefix ending in `char::MAX` has no successor.
            if end.is_none() && !v.starts_with(prefix) {
                break;
            }
            f(v, l);
        }
    }
}

/// Whether the list and the sorted slice share a reference: a two-cursor leapfrog, so the cost
/// follows the shorter.
fn any_common(list: &PostingsList, sorted: &[u64]) -> bool {
    let mut a = list.postings();
    let mut b = ListPostings::new(sorted);
    if !a.next() {
        return false;
    }
    loop {
        if !b.seek(a.at()) {
            return false;
        }
        if b.at() == a.at() {
            return true;
        }
        if !a.seek(b.at()) {
            return false;
        }
        if a.at() == b.at() {
            return true;
        }
    }
}

/// A consistent read view of a [`MemIndex`], holding its read lock until dropped.
///
/// Everything it returns borrows the index: cursors walk the stored lists and names and values
/// are the interned strings. While it lives, writers wait, and its thread MUST NOT call
/// [`MemIndex`] methods (see the [module docs](self) on concurrency).
pub struct MemIndexReader<'a> {
    inner: RwLockReadGuard<'a, Inner>,
}

impl fmt::Debug for MemIndexReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemIndexReader")
            .field("series", &self.num_series())
            .finish_non_exhaustive()
    }
}

impl MemIndexReader<'_> {
    /// The number of indexed series (not counting deleted ones).
    pub fn num_series(&self) -> usize {
        self.inner.all.len() - self.inner.deleted.len()
    }

    /// The label names, sorted.
    pub fn label_names(&self) -> impl Iterator<Item = &str> + '_ {
        let inner = &*self.inner;
        inner
            .names
            .iter()
            .filter(|(_, e)| {
                inner.deleted.is_empty() || e.values.values().any(|l| inner.is_live(l))
            })
            .map(|(n, _)| &**n)
    }

    /// The values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = &str> + '_ {
        let inner = &*self.inner;
        inner
            .names
            .get(name)
            .into_iter()
            .flat_map(|e| e.values.iter())
            .filter(|(_, l)| inner.is_live(l))
            .map(|(v, _)| &**v)
    }

    /// The values of label `name` among the series `matchers` select, sorted.
    ///
    /// Selects the series, then keeps the values whose postings meet them; values that a
    /// matcher on `name` itself rejects are skipped without looking at their postings.
    pub fn label_values_for_matchers(&self, name: &str, matchers: &[Matcher]) -> Vec<&str> {
        if matchers.is_empty() {
            return self.label_values(name).collect();
        }
        let Some(entry) = self.inner.names.get(name) else {
            return Vec::new();
        };
        let selected = self.select(matchers);
        if selected.is_empty() {
            return Vec::new();
        }
        let own: Vec<&Matcher> = matchers.iter().filter(|m| m.name() == name).collect();
        entry
            .values
            .iter()
            .filter(|(v, _)| own.iter().all(|m| m.matches(v)))
            .filter(|(_, l)| any_common(l, &selected))
            .map(|(v, _)| &**v)
            .collect()
    }

    /// The label names among the series `matchers` select, sorted.
    pub fn label_names_for_matchers(&self, matchers: &[Matcher]) -> Vec<&str> {
        if matchers.is_empty() {
            return self.label_names().collect();
        }
        let selected = self.select(matchers);
        if selected.is_empty() {
            return Vec::new();
        }
        self.inner
            .names
            .iter()
            .filter(|(_, e)| e.values.values().any(|l| any_common(l, &selected)))
            .map(|(n, _)| &**n)
            .collect()
    }

    /// The series with label `name="value"`.
    pub fn postings(&self, name: &str, value: &str) -> Box<dyn Postings + '_> {
        match self.inner.lookup(name, value) {
            Some(l) => self.inner.live(l.postings()),
            None => Box::new(EmptyPostings),
        }
    }

    /// Every series.
    pub fn all_postings(&self) -> Box<dyn Postings + '_> {
        self.inner.live(self.inner.all.postings())
    }

    /// The series every one of `matchers` selects, lazily; every series if there are none. See
    /// [the planner](crate::planner) for the semantics and the plan.
    pub fn postings_for_matchers(&self, matchers: &[Matcher]) -> Box<dyn Postings + '_> {
        let plan = Plan::new(matchers);
        self.inner.live(planner::execute(&*self.inner, &plan).0)
    }

    /// The series every one of `matchers` selects, sorted: [`postings_for_matchers`]
    /// collected, without the indirect calls of a boxed cursor.
    ///
    /// [`postings_for_matchers`]: Self::postings_for_matchers
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        let plan = Plan::new(matchers);
        // The direct path reads the stored lists as they are, so it serves only an index
        // with no series marked deleted; otherwise the cursor path filters them out.
        if self.inner.deleted.is_empty()
            && let Some(selected) = planner::select_narrow(&*self.inner, &plan)
        {
            return selected;
        }
        let (selection, upper) = planner::execute(&*self.inner, &plan);
        self.inner.collect_live(selection, upper)
    }

    /// Cardinality statistics, with at most `limit` entries per list.
    pub fn stats(&self, limit: usize) -> Stats {
        let inner = &*self.inner;
        let mut by_metric = TopN::new(limit);
        let mut by_values = TopN::new(limit);
        let mut by_bytes = TopN::new(limit);
        let mut by_pair = TopN::new(limit);
        let (mut names, mut pairs) = (0u64, 0u64);
        for (name, entry) in &inner.names {
            let (mut values, mut bytes) = (0u64, 0u64);
            for (value, list) in &entry.values {
                let n = inner.live_len(list) as u64;
                if n == 0 {
                    continue;
                }
                values += 1;
                bytes += value.len() as u64 * n;
                by_pair.push((&**name, &**value), n);
                if &**name == METRIC_NAME {
                    by_metric.push(&**value, n);
                }
            }
            if values > 0 {
                names += 1;
                pairs += values;
                by_values.push(&**name, values);
                by_bytes.push(&**name, bytes);
            }
        }
        Stats {
            num_series: self.num_series() as u64,
            num_label_names: names,
            num_label_pairs: pairs,
            series_count_by_metric_name: by_metric.into_entries(str::to_owned),
            label_value_count_by_label_name: by_values.into_entries(str::to_owned),
            memory_in_bytes_by_label_name: by_bytes.into_entries(str::to_owned),
            series_count_by_label_value_pair: by_pair.into_entries(|(n, v)| format!("{n}={v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::{MatchType, labels};

    fn index() -> MemIndex {
        let ix = MemIndex::new();
        ix.add(
            1,
            &labels!("__name__" => "up", "job" => "api", "instance" => "a"),
        );
        ix.add(
            2,
            &labels!("__name__" => "up", "job" => "api", "instance" => "b"),
        );
        ix.add(
            3,
            &labels!("__name__" => "up", "job" => "db", "instance" => "a"),
        );
        ix.add(4, &labels!("__name__" => "go_gc", "job" => "db"));
        ix
    }

    #[test]
    fn strings_are_interned_once() {
        let ix = MemIndex::new();
        ix.add(1, &labels!("a" => "b", "b" => "a"));
        ix.add(2, &labels!("a" => "b", "c" => "b"));
        let r = ix.read();
        assert_eq!(r.inner.strings.len(), 3);
        let a_name = r.inner.names.get_key_value("a").map(|(k, _)| k.clone());
        let a_value = r.inner.names["b"]
            .values
            .get_key_value("a")
            .map(|(k, _)| k.clone());
        assert!(Arc::ptr_eq(&a_name.unwrap(), &a_value.unwrap()));
    }

    #[test]
    fn prefix_scan_stays_within_the_prefix() {
        let ix = MemIndex::new();
        let values = [
            "a",
            "ab",
            "abc",
            "abd",
            "ac",
            "b",
            "a\u{10ffff}",
            "a\u{10ffff}x",
            "a\u{d7ff}",
            "a\u{e000}",
        ];
        for (r, v) in values.iter().enumerate() {
            ix.add(r as u64, &labels!("l" => *v));
        }
        let r = ix.read();
        for prefix in ["", "a", "ab", "abc", "a\u{10ffff}", "a\u{d7ff}", "z"] {
            let mut got = Vec::new();
            r.inner
                .scan("l", prefix, &mut |v, _| got.push(v.to_owned()));
            let mut want: Vec<String> = values
                .iter()
                .filter(|v| v.starts_with(prefix))
                .map(|v| v.to_string())
                .collect();
            want.sort();
            assert_eq!(got, want, "prefix {prefix:?}");
        }
    }

    #[test]
    fn out_of_order_and_repeated_adds() {
        let ix = MemIndex::new();
        for r in [5, 1, 9, 3, 5, 7] {
            ix.add(r, &labels!("x" => "1"));
        }
        assert_eq!(ix.postings("x", "1"), [1, 3, 5, 7, 9]);
        assert_eq!(ix.num_series(), 5);
        assert_eq!(ix.read().inner.names["x"].series, 5);
    }

    #[test]
    fn delete_hides_at_once_and_gc_reclaims() {
        let ix = index();
        assert!(ix.delete(4));
        assert!(!ix.delete(4), "already marked");
        assert!(!ix.delete(40), "not indexed");
        assert_eq!(ix.num_series(), 3);
        assert_eq!(ix.label_values("__name__"), ["up"]);
        assert_eq!(ix.postings("job", "db"), [3]);
        assert_eq!(ix.postings_for_matchers(&[]), [1, 2, 3]);
        assert_eq!(ix.stats(10).num_series, 3);
        let before = ix.string_bytes();
        assert_eq!(ix.gc(), 1);
        assert_eq!(ix.gc(), 0);
        assert!(ix.string_bytes() < before, "go_gc is freed");
        assert_eq!(ix.read().inner.names["job"].series, 3);
        // Re-adding a marked reference collects first.
        ix.delete(3);
        ix.add(3, &labels!("__name__" => "new"));
        assert_eq!(ix.label_values("job"), ["api"]);
        assert_eq!(ix.postings("__name__", "new"), [3]);
        assert_eq!(ix.label_names(), ["__name__", "instance", "job"]);
        ix.delete(1);
        ix.delete(2);
        assert_eq!(ix.label_names(), ["__name__"]);
    }

    #[test]
    fn values_and_names_for_matchers() {
        let ix = index();
        let up = Matcher::equal("__name__", "up");
        assert_eq!(
            ix.label_values_for_matchers("instance", std::slice::from_ref(&up)),
            ["a", "b"]
        );
        let db = Matcher::equal("job", "db");
        assert_eq!(ix.label_values_for_matchers("instance", &[db]), ["a"]);
        let not_a = Matcher::new(MatchType::RegexNoMatch, "instance", "a").unwrap();
        assert_eq!(
            ix.label_values_for_matchers("instance", &[not_a]),
            ["b"],
            "a matcher on the label itself filters its values"
        );
        assert_eq!(
            ix.label_names_for_matchers(&[Matcher::equal("__name__", "go_gc")]),
            ["__name__", "job"]
        );
        assert!(ix.label_values_for_matchers("nope", &[up]).is_empty());
    }

    #[test]
    fn stats_counts() {
        let s = index().stats(2);
        assert_eq!(
            (s.num_series, s.num_label_names, s.num_label_pairs),
            (4, 3, 6)
        );
        let pairs = |v: &[crate::StatEntry]| -> Vec<(String, u64)> {
            v.iter().map(|e| (e.name.clone(), e.value)).collect()
        };
        assert_eq!(
            pairs(&s.series_count_by_metric_name),
            [("up".to_owned(), 3), ("go_gc".to_owned(), 1)]
        );
        assert_eq!(
            pairs(&s.series_count_by_label_value_pair),
            [("__name__=up".to_owned(), 3), ("instance=a".to_owned(), 2)]
        );
        assert_eq!(
            pairs(&s.label_value_count_by_label_name),
            [("__name__".to_owned(), 2), ("instance".to_owned(), 2)]
        );
        // __name__: 3 × "up" + 1 × "go_gc" = 11 bytes; job: 2 × 3 + 2 × 2 = 10.
        assert_eq!(
            pairs(&s.memory_in_bytes_by_label_name),
            [("__name__".to_owned(), 11), ("job".to_owned(), 10)]
        );
    }
}
