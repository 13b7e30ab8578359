//! Postings: sorted series references behind a cursor, and their lazy set operations.
//!
//! A postings list is the strictly increasing list of the series references that carry one
//! label pair. Everything that selects series is a composition of cursors over such lists:
//!
//! - leaves: [`ListPostings`] over a borrowed slice (galloping seek), [`VecPostings`] over an
//!   owned one, [`BitmapPostings`] for materialised unions of many lists, [`BTreeSetPostings`]
//!   over a `BTreeSet<u64>`, and [`EmptyPostings`];
//! - set operations, lazy and seek-driven: [`intersect`] (leapfrog), [`merge`] (k-way union,
//!   deduplicated) and [`without`] (difference);
//! - [`iter`] and [`collect`] to leave the cursor world.
//!
//! ```
//! use prom_index::postings::{ListPostings, collect, intersect, merge, without};
//! let (a, b, c) = ([1u64, 2, 4, 8, 16], [2u64, 4, 6, 8], [8u64, 9]);
//! let both = intersect(vec![ListPostings::new(&a), ListPostings::new(&b)]);
//! assert_eq!(collect(both), [2, 4, 8]);
//! let either = merge(vec![ListPostings::new(&b), ListPostings::new(&c)]);
//! assert_eq!(collect(without(either, ListPostings::new(&a))), [6, 9]);
//! ```
//!
//! # The in-memory representation
//!
//! [`PostingsList`] is what the in-memory index stores for each label pair. Its references are
//! `u32`s while every reference fits in 32 bits, `u64`s for good from the first one that does
//! not, and a 32-bit list takes one of three forms by length and density, as Roaring bitmaps
//! choose a container per chunk:
//!
//! - up to [`INLINE_CAP`] (11) references inline in the 48-byte list itself, with no heap
//!   allocation. A high-cardinality label (instance, pod) has many short lists, and a regex or
//!   `!~` over its values reads thousands of them: inline, each is read from the map's node
//!   instead of through a pointer to its own allocation, one cache miss fewer per value;
//! - a sorted `Vec<u32>`;
//! - from [`DENSE_MIN_LEN`] references on, when a bitmap over the list's range takes at most
//!   half the list's bytes (one reference or more per 16 of its range), the `Vec<u32>` and
//!   beside it a bitmap of the same references, so the planner tests membership in a metric's
//!   or an `env`'s list with one bit instead of seeking.
//!
//! The element width was chosen by measurement, on the postings of 1M series (100 jobs × 1,000
//! instances × 10 metric names, plus `env` on two series in three: 100,113 lists, 4.67M
//! entries), by the `postings_repr` group of `cargo bench -p prom-benches --bench index` (see
//! docs/benchmarks.md):
//!
//! | form | bytes/entry | bytes/series | `next` over every list | 100 × (10k ∩ 100k) |
//! |---|---:|---:|---:|---:|
//! | `Vec<u64>` | 8.51 | 39.8 | 1.31 ms (0.28 ns/entry) | 6.0 ms |
//! | `Vec<u32>` | 4.51 | 21.1 | 0.94 ms (0.20 ns/entry) | 3.3 ms |
//! | delta-varint, blocks of 128 with a skip list | 3.04 | 14.2 | 7.9 ms (1.69 ns/entry) | 27.1 ms |
//!
//! (Bytes include each list's `Vec` headers; the intersections are a job's list driving a
//! metric's through galloping seeks.)
//!
//! Delta-varint blocks save another third of the memory but are 6 to 8 times slower to scan
//! and to seek (every seek decodes from the start of a block), and an insert below the tail
//! would re-encode a block; a head index sees a steady stream of inserts and a query mix
//! dominated by seeks. `u32` is a plain slice, so it keeps the speed of `u64` (faster, in
//! fact: half the memory traffic) at half the memory. Head series references start at 1 and
//! grow by one per series, so they stay below 2³² in practice; the `u64` form keeps larger ones
//! correct.
//!
//! The inline and dense forms were measured on the selections of the same benchmark (one run
//! each, the ratios in docs/benchmarks.md). Inlining took `{instance!~"api-.*"}` (10,000
//! values of 10 series each) from 741 to 494 µs and `{instance=~"api-.*"}` from 547 to
//! 306 µs, and the index from 38.5 to 34.5 bytes per series: the 48-byte list costs 16 bytes
//! more than a 32-byte one and saves the allocation of every list of up to 11 references. (At
//! 32 bytes, 7 references fit inline: none of the benchmark's instance lists, so no gain
//! there.) Lists longer than 11 gain nothing, so the gain depends on how many series a label
//! value has. The bitmaps (13 of 125 KB on the benchmark, for the ten metric names, the two
//! `env` values and all series: 2.2 bytes per series with their growth slack) turn seeks into
//! bit tests: `{__name__="http_requests_total", env=""}` went from 1.39 ms to 0.24 ms.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// A cursor over a strictly increasing sequence of series references.
///
/// The contract every implementation MUST keep:
/// - Before the first [`next`](Self::next) or [`seek`](Self::seek) the cursor is positioned
///   before the first element; [`at`](Self::at) is unspecified there.
/// - `next` advances by one and returns whether an element is now current.
/// - `seek(v)` advances to the first element `>= v` and returns whether there is one. It MUST
///   NOT move backwards: if the current element is already `>= v` it stays. Seeking after the
///   end returns false.
/// - Once `next` or `seek` has returned false, both keep returning false.
/// - `at` returns the current element after a call that returned true.
pub trait Postings {
    /// Advances to the next element; false at the end.
    fn next(&mut self) -> bool;
    /// Advances to the first element `>= v`; never moves backwards; false at the end.
    fn seek(&mut self, v: u64) -> bool;
    /// The current element.
    fn at(&self) -> u64;
}

impl<P: Postings + ?Sized> Postings for Box<P> {
    fn next(&mut self) -> bool {
        (**self).next()
    }
    fn seek(&mut self, v: u64) -> bool {
        (**self).seek(v)
    }
    fn at(&self) -> u64 {
        (**self).at()
    }
}

impl<P: Postings + ?Sized> Postings for &mut P {
    fn next(&mut self) -> bool {
        (**self).next()
    }
    fn seek(&mut self, v: u64) -> bool {
        (**self).seek(v)
    }
    fn at(&self) -> u64 {
        (**self).at()
    }
}

/// Where a cursor that tracks its own position is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Before,
    At,
    Done,
}

// ---------------------------------------------------------------------------------------------
// Empty.

/// The postings with no elements.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyPostings;

/// The postings with no elements.
pub fn empty() -> EmptyPostings {
    EmptyPostings
}

impl Postings for EmptyPostings {
    fn next(&mut self) -> bool {
        false
    }
    fn seek(&mut self, _v: u64) -> bool {
        false
    }
    fn at(&self) -> u64 {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Sorted slices.

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// An element type a [`ListPostings`] can read: `u64`, or `u32` for lists whose references all
/// fit in 32 bits (see [`PostingsList`]).
pub trait Element: Copy + Ord + std::fmt::Debug + sealed::Sealed {
    /// The element as a series reference.
    fn get(self) -> u64;
}

impl Element for u32 {
    #[inline]
    fn get(self) -> u64 {
        u64::from(self)
    }
}

impl Element for u64 {
    #[inline]
    fn get(self) -> u64 {
        self
    }
}

/// The index of the first element of `s[from..]` that is `>= v`, or `s.len()`.
///
/// Gallops (1, 2, 4, … elements ahead) and then binary-searches the last step, so seeking a
/// nearby element costs O(log distance) rather than O(log len): intersections mostly seek
/// short distances.
#[inline]
fn gallop<T: Element>(s: &[T], from: usize, v: u64) -> usize {
    let len = s.len();
    let mut lo = from;
    let mut hi = from;
    let mut step = 1usize;
    while hi < len && s[hi].get() < v {
        lo = hi + 1;
        hi = hi.saturating_add(step);
        step = step.saturating_mul(2);
    }
    let hi = hi.min(len);
    lo + s[lo..hi].partition_point(|x| x.get() < v)
}

/// A position in a slice: the index of the current element, `usize::MAX` before the start,
/// `len` at the end.
#[derive(Debug, Clone, Copy)]
struct SliceCursor {
    pos: usize,
    cur: u64,
}

impl SliceCursor {
    const START: SliceCursor = SliceCursor {
        pos: usize::MAX,
        cur: 0,
    };

    #[inline]
    fn next<T: Element>(&mut self, list: &[T]) -> bool {
        let pos = self.pos.wrapping_add(1);
        match list.get(pos) {
            Some(x) => {
                self.pos = pos;
                self.cur = x.get();
                true
            }
            None => {
                self.pos = list.len();
                false
            }
        }
    }

    #[inline]
    fn seek<T: Element>(&mut self, list: &[T], v: u64) -> bool {
        let from = if self.pos == usize::MAX {
            0
        } else if self.pos >= list.len() {
            return false;
        } else if self.cur >= v {
            return true;
        } else {
            self.pos + 1
        };
        self.pos = gallop(list, from, v);
        match list.get(self.pos) {
            Some(x) => {
                self.cur = x.get();
                true
            }
            None => false,
        }
    }
}

/// A cursor over a borrowed, strictly increasing slice, with galloping [`seek`](Postings::seek).
///
/// ```
/// use prom_index::postings::{ListPostings, Postings};
/// let list = [2u64, 3, 5, 8, 13];
/// let mut p = ListPostings::new(&list);
/// assert!(p.seek(4) && p.at() == 5);
/// assert!(p.seek(1) && p.at() == 5, "never moves backwards");
/// assert!(p.next() && p.at() == 8);
/// assert!(!p.seek(14) && !p.next());
/// ```
#[derive(Debug, Clone)]
pub struct ListPostings<'a, T: Element = u64> {
    list: &'a [T],
    c: SliceCursor,
}

impl<'a, T: Element> ListPostings<'a, T> {
    /// A cursor before the first element of `list`, which MUST be strictly increasing.
    pub fn new(list: &'a [T]) -> Self {
        ListPostings {
            list,
            c: SliceCursor::START,
        }
    }

    /// The number of elements in the whole list, not only the remaining ones.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl<T: Element> Postings for ListPostings<'_, T> {
    #[inline]
    fn next(&mut self) -> bool {
        self.c.next(self.list)
    }
    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        self.c.seek(self.list, v)
    }
    #[inline]
    fn at(&self) -> u64 {
        self.c.cur
    }
}

/// A cursor that owns its strictly increasing list: how materialised results are handed out.
#[derive(Debug, Clone)]
pub struct VecPostings {
    list: Vec<u64>,
    c: SliceCursor,
}

impl VecPostings {
    /// A cursor over `list`, which MUST be strictly increasing.
    pub fn new(list: Vec<u64>) -> Self {
        debug_assert!(list.windows(2).all(|w| w[0] < w[1]));
        VecPostings {
            list,
            c: SliceCursor::START,
        }
    }

    /// A cursor over `list` after sorting and deduplicating it.
    pub fn from_unsorted(mut list: Vec<u64>) -> Self {
        list.sort_unstable();
        list.dedup();
        VecPostings::new(list)
    }

    /// The whole list.
    pub fn as_slice(&self) -> &[u64] {
        &self.list
    }

    /// The whole list, giving up the cursor.
    pub fn into_vec(self) -> Vec<u64> {
        self.list
    }
}

impl Postings for VecPostings {
    #[inline]
    fn next(&mut self) -> bool {
        self.c.next(&self.list)
    }
    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        self.c.seek(&self.list, v)
    }
    #[inline]
    fn at(&self) -> u64 {
        self.c.cur
    }
}

// ---------------------------------------------------------------------------------------------
// The compact list the in-memory index stores.

/// A sorted, deduplicated list of series references in the compact form the in-memory index
/// stores: `u32`s while every reference fits, `u64`s from the first one that does not (see the
/// module docs for the measurements behind the choice).
///
/// A long 32-bit list whose references are dense in its own range also keeps a bitmap of
/// them, as Roaring bitmaps choose a container per chunk by density: the planner then tests
/// membership with one bit instead of seeking through the list. The bitmap exists while the
/// list has at least [`DENSE_MIN_LEN`] references and the bitmap takes at most half the list's
/// bytes (at least one reference per 16 of its range); it is built when a growing list reaches
/// a power of two past that length, rebuilt by [`retain`](Self::retain), and dropped when an
/// insert stretches the range until the bitmap would be as large as the list. Short lists are
/// stored inline (see the [module docs](self)).
///
/// Appending a reference greater than the last is amortised O(1); inserting one below it is a
/// binary search and a shift, O(len).
#[derive(Clone, Default)]
pub struct PostingsList {
    repr: Repr,
}

/// A list keeps a bitmap from this many references on (see [`PostingsList`]).
pub const DENSE_MIN_LEN: usize = 1024;

/// Lists of at most this many references are stored inline, without a heap allocation: as many
/// `u32`s as fit beside the tag in the 48 bytes the other forms take.
pub const INLINE_CAP: usize = 11;

#[derive(Clone)]
enum Repr {
    /// A short list, in place: `refs[..len]`.
    Inline {
        len: u8,
        refs: [u32; INLINE_CAP],
    },
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
    /// A long list of dense references: the sorted list and a bitmap of the same references.
    Dense(Box<Dense>),
}

#[derive(Clone)]
struct Dense {
    list: Vec<u32>,
    bits: Bits,
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Inline {
            len: 0,
            refs: [0; INLINE_CAP],
        }
    }
}

/// A borrowed view of a list in either width.
enum Slice<'a> {
    Narrow(&'a [u32]),
    Wide(&'a [u64]),
}

/// Whether a 32-bit list of `len` references spanning `words` bitmap words keeps a bitmap: a
/// long list whose bitmap takes at most half its bytes (`8 × words <= 4 × len / 2`), so at
/// least one reference per 16 of its range, the density at which Roaring switches a container
/// from an array to a bitmap.
fn dense_enough(len: usize, words: usize) -> bool {
    len >= DENSE_MIN_LEN && words.saturating_mul(4) <= len
}

/// Inserts `x` into the sorted `v`; false if it was there.
#[inline]
fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, x: T) -> bool {
    match v.last() {
        None => {
            v.push(x);
            true
        }
        Some(&last) if last < x => {
            v.push(x);
            true
        }
        _ => match v.binary_search(&x) {
            Ok(_) => false,
            Err(i) => {
                v.insert(i, x);
                true
            }
        },
    }
}

impl PostingsList {
    /// An empty list.
    pub fn new() -> Self {
        PostingsList::default()
    }

    #[inline]
    fn slice(&self) -> Slice<'_> {
        match &self.repr {
            Repr::Inline { len, refs } => Slice::Narrow(&refs[..usize::from(*len)]),
            Repr::Narrow(v) => Slice::Narrow(v),
            Repr::Dense(d) => Slice::Narrow(&d.list),
            Repr::Wide(v) => Slice::Wide(v),
        }
    }

    /// The number of references.
    pub fn len(&self) -> usize {
        match self.slice() {
            Slice::Narrow(v) => v.len(),
            Slice::Wide(v) => v.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest reference.
    pub fn first(&self) -> Option<u64> {
        match self.slice() {
            Slice::Narrow(v) => v.first().map(|&x| u64::from(x)),
            Slice::Wide(v) => v.first().copied(),
        }
    }

    /// The largest reference.
    pub fn last(&self) -> Option<u64> {
        match self.slice() {
            Slice::Narrow(v) => v.last().map(|&x| u64::from(x)),
            Slice::Wide(v) => v.last().copied(),
        }
    }

    /// Whether `r` is in the list: a bit test when the list keeps a bitmap, else a binary
    /// search.
    pub fn contains(&self, r: u64) -> bool {
        if let Repr::Dense(d) = &self.repr {
            return u32::try_from(r).is_ok_and(|r| d.bits.contains(r));
        }
        match self.slice() {
            Slice::Narrow(v) => u32::try_from(r).is_ok_and(|r| v.binary_search(&r).is_ok()),
            Slice::Wide(v) => v.binary_search(&r).is_ok(),
        }
    }

    /// Adds `r`; false if it was already there.
    pub fn insert(&mut self, r: u64) -> bool {
        let Ok(x) = u32::try_from(r) else {
            return self.insert_wide(r);
        };
        match &mut self.repr {
            Repr::Inline { len, refs } => {
                let n = usize::from(*len);
                let i = match refs[..n].binary_search(&x) {
                    Ok(_) => return false,
                    Err(i) => i,
                };
                if n < INLINE_CAP {
                    refs.copy_within(i..n, i + 1);
                    refs[i] = x;
                    *len += 1;
                } else {
                    // A power of two, so that doubling keeps the capacities a plain vector
                    // would have had.
                    let mut v = Vec::with_capacity((INLINE_CAP + 1).next_power_of_two());
                    v.extend_from_slice(&refs[..i]);
                    v.push(x);
                    v.extend_from_slice(&refs[i..]);
                    self.repr = Repr::Narrow(v);
                }
                true
            }
            Repr::Narrow(v) => {
                if !insert_sorted(v, x) {
                    return false;
                }
                let len = v.len();
                if len >= DENSE_MIN_LEN && len.is_power_of_two() {
                    self.settle();
                }
                true
            }
            Repr::Dense(d) => {
                if !insert_sorted(&mut d.list, x) {
                    return false;
                }
                let (lo, hi) = (d.list[0], d.list[d.list.len() - 1]);
                // Hysteresis: built at half the list's bytes at most, dropped (before growing)
                // when it would be as large as the list.
                if Bits::words_for(lo, hi).saturating_mul(2) > d.list.len() {
                    let list = std::mem::take(&mut d.list);
                    self.repr = Repr::Narrow(list);
                } else {
                    d.bits.insert(x);
                }
                true
            }
            Repr::Wide(v) => insert_sorted(v, r),
        }
    }

    /// Adds `r`, which does not fit in 32 bits.
    #[cold]
    fn insert_wide(&mut self, r: u64) -> bool {
        let mut wide: Vec<u64> = match self.slice() {
            Slice::Wide(_) => Vec::new(),
            Slice::Narrow(v) => {
                let mut wide = Vec::with_capacity(v.len() + 1);
                wide.extend(v.iter().map(|&x| u64::from(x)));
                wide
            }
        };
        if let Repr::Wide(v) = &mut self.repr {
            return insert_sorted(v, r);
        }
        wide.push(r); // larger than any u32
        self.repr = Repr::Wide(wide);
        true
    }

    /// Chooses the 32-bit form for the current references: inline when they fit, with a
    /// bitmap when long and dense (built afresh), else a plain vector.
    fn settle(&mut self) {
        let list = match &mut self.repr {
            // An inline list never outgrows its form.
            Repr::Wide(_) | Repr::Inline { .. } => return,
            Repr::Narrow(v) => std::mem::take(v),
            Repr::Dense(d) => std::mem::take(&mut d.list),
        };
        self.repr = match (list.first(), list.last()) {
            _ if list.len() <= INLINE_CAP => {
                let mut refs = [0; INLINE_CAP];
                refs[..list.len()].copy_from_slice(&list);
                Repr::Inline {
                    len: list.len() as u8,
                    refs,
                }
            }
            (Some(&lo), Some(&hi)) if dense_enough(list.len(), Bits::words_for(lo, hi)) => {
                let bits = Bits::from_sorted(&list);
                Repr::Dense(Box::new(Dense { list, bits }))
            }
            _ => Repr::Narrow(list),
        };
    }

    /// Keeps the references for which `keep` returns true; returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) -> usize {
        let before = self.len();
        match &mut self.repr {
            Repr::Inline { len, refs } => {
                let mut kept = 0;
                for i in 0..usize::from(*len) {
                    if keep(u64::from(refs[i])) {
                        refs[kept] = refs[i];
                        kept += 1;
                    }
                }
                *len = kept as u8;
            }
            Repr::Narrow(v) => v.retain(|&x| keep(u64::from(x))),
            Repr::Dense(d) => d.list.retain(|&x| keep(u64::from(x))),
            Repr::Wide(v) => v.retain(|&x| keep(x)),
        }
        let removed = before - self.len();
        if removed > 0 {
            self.settle();
        }
        removed
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        match &mut self.repr {
            Repr::Inline { .. } => {}
            Repr::Narrow(v) => v.shrink_to_fit(),
            Repr::Dense(d) => {
                d.list.shrink_to_fit();
                d.bits.words.shrink_to_fit();
            }
            Repr::Wide(v) => v.shrink_to_fit(),
        }
    }

    /// The number of references the list can hold without reallocating.
    pub fn capacity(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => INLINE_CAP,
            Repr::Narrow(v) => v.capacity(),
            Repr::Dense(d) => d.list.capacity(),
            Repr::Wide(v) => v.capacity(),
        }
    }

    /// The bytes this list holds on the heap (its capacity, not its length), the bitmap
    /// included.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Narrow(v) => v.capacity() * 4,
            Repr::Dense(d) => {
                std::mem::size_of::<Dense>() + d.list.capacity() * 4 + d.bits.words.capacity() * 8
            }
            Repr::Wide(v) => v.capacity() * 8,
        }
    }

    /// Whether the list is in a 32-bit form.
    pub fn is_narrow(&self) -> bool {
        !matches!(self.repr, Repr::Wide(_))
    }

    /// Whether the list is stored inline, without a heap allocation (at most [`INLINE_CAP`]
    /// references).
    pub fn is_inline(&self) -> bool {
        matches!(self.repr, Repr::Inline { .. })
    }

    /// Whether the list keeps a bitmap beside its references (see [`PostingsList`]).
    pub fn has_bitmap(&self) -> bool {
        matches!(self.repr, Repr::Dense(_))
    }

    /// The references in the 32-bit form, if the list is in it.
    #[inline]
    pub(crate) fn as_narrow(&self) -> Option<&[u32]> {
        match self.slice() {
            Slice::Narrow(v) => Some(v),
            Slice::Wide(_) => None,
        }
    }

    /// The list's bitmap, if it keeps one.
    #[inline]
    pub(crate) fn bits(&self) -> Option<&Bits> {
        match &self.repr {
            Repr::Dense(d) => Some(&d.bits),
            _ => None,
        }
    }

    /// A cursor over the list.
    pub fn postings(&self) -> ListCursor<'_> {
        match self.slice() {
            Slice::Narrow(v) => ListCursor::Narrow(ListPostings::new(v)),
            Slice::Wide(v) => ListCursor::Wide(ListPostings::new(v)),
        }
    }

    /// The references in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (narrow, wide) = match self.slice() {
            Slice::Narrow(v) => (v, &[][..]),
            Slice::Wide(v) => (&[][..], v),
        };
        narrow
            .iter()
            .map(|&x| u64::from(x))
            .chain(wide.iter().copied())
    }

    /// Calls `f` with each reference in increasing order (faster than [`iter`](Self::iter) in a
    /// tight loop: the representation is matched once).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(u64)) {
        match self.slice() {
            Slice::Narrow(v) => v.iter().for_each(|&x| f(u64::from(x))),
            Slice::Wide(v) => v.iter().for_each(|&x| f(x)),
        }
    }
}

impl PartialEq for PostingsList {
    /// Equal references, whatever the form.
    fn eq(&self, other: &Self) -> bool {
        match (self.slice(), other.slice()) {
            (Slice::Narrow(a), Slice::Narrow(b)) => a == b,
            (Slice::Wide(a), Slice::Wide(b)) => a == b,
            _ => self.iter().eq(other.iter()),
        }
    }
}

impl Eq for PostingsList {}

impl std::fmt::Debug for PostingsList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<u64> for PostingsList {
    /// Collects references in any order, dropping duplicates.
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut v: Vec<u64> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        if v.last().is_none_or(|&x| u32::try_from(x).is_ok()) {
            let mut list = PostingsList {
                repr: Repr::Narrow(v.iter().map(|&x| x as u32).collect()),
            };
            list.settle();
            list
        } else {
            PostingsList {
                repr: Repr::Wide(v),
            }
        }
    }
}

/// A bitmap of 32-bit references: bit `i` of `words[w]` is reference `base + 64 w + i`. What a
/// dense [`PostingsList`] keeps beside its references, and what the planner builds to test
/// membership in the union of many lists.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bits {
    /// A multiple of 64.
    base: u32,
    words: Vec<u64>,
}

impl Bits {
    /// The number of words a bitmap of references in `lo..=hi` spans.
    fn words_for(lo: u32, hi: u32) -> usize {
        ((hi.max(lo) - (lo & !63)) / 64) as usize + 1
    }

    /// An empty bitmap over `lo..=hi`; references outside are ignored by
    /// [`set`](Self::set).
    pub(crate) fn with_range(lo: u32, hi: u32) -> Bits {
        Bits {
            base: lo & !63,
            words: vec![0; Bits::words_for(lo, hi)],
        }
    }

    /// The bitmap of the strictly increasing `list`.
    pub(crate) fn from_sorted(list: &[u32]) -> Bits {
        let (Some(&lo), Some(&hi)) = (list.first(), list.last()) else {
            return Bits::default();
        };
        let mut bits = Bits::with_range(lo, hi);
        bits.set_all(list);
        bits
    }

    /// Whether `x` is in the bitmap.
    #[inline]
    pub(crate) fn contains(&self, x: u32) -> bool {
        // Below `base` the offset wraps to beyond any word.
        let off = u64::from(x).wrapping_sub(u64::from(self.base));
        let word = usize::try_from(off / 64).unwrap_or(usize::MAX);
        self.words
            .get(word)
            .is_some_and(|w| (w >> (off % 64)) & 1 != 0)
    }

    /// Bit `i` of the result says whether `block[i]` (at most 64 elements) is in the bitmap,
    /// XOR `flip`.
    #[inline]
    fn mask(&self, block: &[u32], flip: bool) -> u64 {
        let (base, words, flip) = (u64::from(self.base), &self.words[..], u64::from(flip));
        let mut mask = 0u64;
        for (i, &x) in block.iter().enumerate() {
            let off = u64::from(x).wrapping_sub(base);
            let w = words.get((off / 64) as usize).copied().unwrap_or(0);
            mask |= (((w >> (off % 64)) & 1) ^ flip) << i;
        }
        mask
    }

    /// Appends the elements of `src` that are (`keep`) or are not (`!keep`) in the bitmap to
    /// `out`, in order.
    ///
    /// Branch-free per element: each block of 64 verdicts becomes a mask whose set bits are
    /// then copied, so an unpredictable filter (a third of the references kept, at random)
    /// costs no mispredictions.
    pub(crate) fn select_into(&self, src: &[u32], keep: bool, out: &mut Vec<u32>) {
        for block in src.chunks(64) {
            let mut mask = self.mask(block, !keep);
            out.reserve(mask.count_ones() as usize);
            while mask != 0 {
                out.push(block[mask.trailing_zeros() as usize]);
                mask &= mask - 1;
            }
        }
    }

    /// Keeps the elements of `v` that are (`keep`) or are not (`!keep`) in the bitmap; see
    /// [`select_into`](Self::select_into).
    pub(crate) fn retain(&self, v: &mut Vec<u32>, keep: bool) {
        let (len, mut n, mut start) = (v.len(), 0, 0);
        while start < len {
            let end = (start + 64).min(len);
            let mut mask = self.mask(&v[start..end], !keep);
            while mask != 0 {
                v[n] = v[start + mask.trailing_zeros() as usize];
                n += 1;
                mask &= mask - 1;
            }
            start = end;
        }
        v.truncate(n);
    }

    /// Adds `x` if it is within the bitmap's words.
    #[inline]
    pub(crate) fn set(&mut self, x: u32) {
        let off = u64::from(x).wrapping_sub(u64::from(self.base));
        let word = usize::try_from(off / 64).unwrap_or(usize::MAX);
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1 << (off % 64);
        }
    }

    /// Adds every element of `list` that is within the bitmap's words.
    pub(crate) fn set_all(&mut self, list: &[u32]) {
        for &x in list {
            self.set(x);
        }
    }

    /// Adds `x`, growing the bitmap to cover it.
    fn insert(&mut self, x: u32) {
        if x < self.base {
            let base = x & !63;
            let extra = ((self.base - base) / 64) as usize;
            self.words.splice(0..0, std::iter::repeat_n(0, extra));
            self.base = base;
        }
        let word = ((x - self.base) / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (x % 64);
    }

    /// Adds every reference of `other` within this bitmap's words, a word at a time.
    pub(crate) fn or_with(&mut self, other: &Bits) {
        // Both bases are multiples of 64, so the words line up.
        let (base, theirs) = (self.base as usize / 64, other.base as usize / 64);
        let (ours_from, theirs_from) = (theirs.saturating_sub(base), base.saturating_sub(theirs));
        let ours = self.words.iter_mut().skip(ours_from);
        for (w, o) in ours.zip(other.words.iter().skip(theirs_from)) {
            *w |= o;
        }
    }

    /// The runs of consecutive references, as `(first, end)` with `end` exclusive, in order;
    /// runs that cross a word boundary are joined.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut(u64, u64)) {
        let mut run: Option<(u64, u64)> = None;
        let mut at = u64::from(self.base);
        for &w in &self.words {
            let mut w = w;
            while w != 0 {
                let start = w.trailing_zeros();
                let ones = (w >> start).trailing_ones();
                let (first, end) = (at + u64::from(start), at + u64::from(start + ones));
                match &mut run {
                    Some((_, e)) if *e == first => *e = end,
                    _ => {
                        if let Some((a, b)) = run {
                            f(a, b);
                        }
                        run = Some((first, end));
                    }
                }
                // Clear the run; `start + ones` may be 64.
                w &= u64::MAX.checked_shl(start + ones).unwrap_or(0);
            }
            at += 64;
        }
        if let Some((a, b)) = run {
            f(a, b);
        }
    }
}

/// A cursor over a [`PostingsList`], in either of its forms.
#[derive(Debug, Clone)]
pub enum ListCursor<'a> {
    /// Over the 32-bit form.
    Narrow(ListPostings<'a, u32>),
    /// Over the 64-bit form.
    Wide(ListPostings<'a, u64>),
}

impl Postings for ListCursor<'_> {
    #[inline]
    fn next(&mut self) -> bool {
        match self {
            ListCursor::Narrow(p) => p.next(),
            ListCursor::Wide(p) => p.next(),
        }
    }
    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        match self {
            ListCursor::Narrow(p) => p.seek(v),
            ListCursor::Wide(p) => p.seek(v),
        }
    }
    #[inline]
    fn at(&self) -> u64 {
        match self {
            ListCursor::Narrow(p) => p.at(),
            ListCursor::Wide(p) => p.at(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bitmaps.

/// A bitmap over a range of references, with a cursor: the cheapest way to materialise the
/// union of many lists whose references are dense in a range, as the planner does for regex
/// matchers that select many label values. Memory is one bit per reference in the range.
///
/// ```
/// use prom_index::postings::{BitmapPostings, Postings, collect};
/// let mut b = BitmapPostings::with_range(100, 300);
/// for r in [250, 100, 130, 250] {
///     b.insert(r);
/// }
/// assert_eq!(b.count(), 3);
/// assert_eq!(collect(b), [100, 130, 250]);
/// ```
#[derive(Debug, Clone)]
pub struct BitmapPostings {
    /// The reference of bit 0 of `words[0]`; a multiple of 64.
    base: u64,
    words: Vec<u64>,
    /// Index of the word holding the current element.
    wi: usize,
    /// The bits of `words[wi]` above the current element.
    rest: u64,
    cur: u64,
    state: State,
}

impl BitmapPostings {
    /// An empty bitmap sized for references in `min..=max` (others can still be inserted; the
    /// bitmap grows).
    pub fn with_range(min: u64, max: u64) -> Self {
        let base = min & !63;
        let words = usize::try_from((max.max(base) - base) / 64 + 1).unwrap_or(0);
        BitmapPostings {
            base,
            words: vec![0; words],
            wi: 0,
            rest: 0,
            cur: 0,
            state: State::Before,
        }
    }

    /// Adds `r`.
    #[inline]
    pub fn insert(&mut self, r: u64) {
        if r < self.base {
            self.grow_down(r);
        }
        let off = r - self.base;
        let wi = usize::try_from(off / 64).unwrap_or(usize::MAX);
        if wi >= self.words.len() {
            self.words.resize(wi + 1, 0);
        }
        self.words[wi] |= 1 << (off % 64);
    }

    #[cold]
    fn grow_down(&mut self, r: u64) {
        let base = r & !63;
        let extra = usize::try_from((self.base - base) / 64).unwrap_or(usize::MAX);
        self.words.splice(0..0, std::iter::repeat_n(0, extra));
        self.base = base;
    }

    /// Adds every reference of `list`.
    pub fn insert_list(&mut self, list: &PostingsList) {
        if let (Some(first), Some(last)) = (list.first(), list.last()) {
            // Size once so the loop below never grows.
            self.insert(first);
            self.insert(last);
            let (base, words) = (self.base, &mut self.words);
            list.for_each(|r| {
                let off = r - base;
                words[(off / 64) as usize] |= 1 << (off % 64);
            });
        }
    }

    /// Whether `r` is in the bitmap.
    #[inline]
    pub fn contains(&self, r: u64) -> bool {
        let Some(off) = r.checked_sub(self.base) else {
            return false;
        };
        usize::try_from(off / 64)
            .ok()
            .and_then(|wi| self.words.get(wi))
            .is_some_and(|w| w & (1 << (off % 64)) != 0)
    }

    /// The number of references in the bitmap.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The bytes the bitmap holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Moves to the lowest set bit at or above the current scan position.
    #[inline]
    fn scan(&mut self) -> bool {
        loop {
            if self.rest != 0 {
                let bit = u64::from(self.rest.trailing_zeros());
                self.rest &= self.rest - 1;
                self.cur = self.base + self.wi as u64 * 64 + bit;
                self.state = State::At;
                return true;
            }
            self.wi += 1;
            match self.words.get(self.wi) {
                Some(&w) => self.rest = w,
                None => {
                    self.state = State::Done;
                    return false;
                }
            }
        }
    }
}

impl Postings for BitmapPostings {
    fn next(&mut self) -> bool {
        match self.state {
            State::Done => false,
            State::Before => {
                self.wi = 0;
                match self.words.first() {
                    Some(&w) => self.rest = w,
                    None => {
                        self.state = State::Done;
                        return false;
                    }
                }
                self.scan()
            }
            State::At => self.scan(),
        }
    }

    fn seek(&mut self, v: u64) -> bool {
        match self.state {
            State::Done => return false,
            State::At if self.cur >= v => return true,
            _ => {}
        }
        if v <= self.base {
            return self.next();
        }
        let off = v - self.base;
        let target = usize::try_from(off / 64).unwrap_or(usize::MAX);
        let Some(&w) = self.words.get(target) else {
            self.state = State::Done;
            return false;
        };
        // At a current element below `v`, its word is at or before `target`.
        if self.state == State::Before || target > self.wi {
            self.wi = target;
            self.rest = w;
        }
        self.rest &= u64::MAX << (off % 64);
        self.scan()
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

// ---------------------------------------------------------------------------------------------
// BTreeSet.

/// A cursor over a borrowed `BTreeSet<u64>`; each `seek` that moves is an O(log n) range
/// lookup.
#[derive(Debug, Clone)]
pub struct BTreeSetPostings<'a> {
    set: &'a BTreeSet<u64>,
    iter: std::collections::btree_set::Range<'a, u64>,
    cur: u64,
    state: State,
}

impl<'a> BTreeSetPostings<'a> {
    /// A cursor before the first element of `set`.
    pub fn new(set: &'a BTreeSet<u64>) -> Self {
        BTreeSetPostings {
            set,
            iter: set.range(..),
            cur: 0,
            state: State::Before,
        }
    }
}

impl Postings for BTreeSetPostings<'_> {
    fn next(&mut self) -> bool {
        if self.state == State::Done {
            return false;
        }
        match self.iter.next() {
            Some(&x) => {
                self.cur = x;
                self.state = State::At;
                true
            }
            None => {
                self.state = State::Done;
                false
            }
        }
    }

    fn seek(&mut self, v: u64) -> bool {
        match self.state {
            State::Done => false,
            State::At if self.cur >= v => true,
            _ => {
                self.iter = self.set.range(v..);
                self.next()
            }
        }
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

// ---------------------------------------------------------------------------------------------
// Intersection.

/// The intersection of several postings; see [`intersect`].
#[derive(Debug)]
pub struct Intersect<P> {
    its: Vec<P>,
    cur: u64,
    state: State,
}

/// The references in every one of `its`, lazily.
///
/// Leapfrog: the first cursor proposes a candidate, each other cursor seeks to it, and a cursor
/// that lands beyond it proposes its own, until all agree. Put the smallest list first: it
/// drives, and the others only seek. The intersection of no postings is empty.
pub fn intersect<P: Postings>(its: Vec<P>) -> Intersect<P> {
    let state = if its.is_empty() {
        State::Done
    } else {
        State::Before
    };
    Intersect { its, cur: 0, state }
}

impl<P: Postings> Intersect<P> {
    /// Brings every cursor to the first element `>= target` they all hold; the first cursor is
    /// at `target` already.
    fn align(&mut self, mut target: u64) -> bool {
        let n = self.its.len();
        let mut agree = 1;
        let mut i = 1 % n;
        while agree < n {
            let p = &mut self.its[i];
            if !p.seek(target) {
                self.state = State::Done;
                return false;
            }
            let a = p.at();
            if a == target {
                agree += 1;
            } else {
                target = a;
                agree = 1;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        self.cur = target;
        self.state = State::At;
        true
    }
}

impl<P: Postings> Postings for Intersect<P> {
    fn next(&mut self) -> bool {
        if self.state == State::Done {
            return false;
        }
        if !self.its[0].next() {
            self.state = State::Done;
            return false;
        }
        let t = self.its[0].at();
        self.align(t)
    }

    fn seek(&mut self, v: u64) -> bool {
        match self.state {
            State::Done => return false,
            State::At if self.cur >= v => return true,
            _ => {}
        }
        if !self.its[0].seek(v) {
            self.state = State::Done;
            return false;
        }
        let t = self.its[0].at();
        self.align(t)
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

// ---------------------------------------------------------------------------------------------
// Union.

/// The union of several postings; see [`merge`].
#[derive(Debug)]
pub struct Merge<P> {
    its: Vec<P>,
    /// With at most [`MERGE_LINEAR_MAX`] cursors: each one's current element, `None` once it is
    /// exhausted. Empty otherwise.
    heads: Vec<Option<u64>>,
    /// With more: the cursors other than `top` that have a current element, keyed by it; every
    /// key is greater than `cur`.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// The cursor whose current element is `cur`.
    top: usize,
    cur: u64,
    state: State,
}

/// Unions of at most this many cursors find their minimum by a linear scan rather than a heap.
pub const MERGE_LINEAR_MAX: usize = 4;

/// The references in any of `its`, each once, lazily.
///
/// Up to [`MERGE_LINEAR_MAX`] cursors, the smallest current element is found by comparing them
/// all; beyond, by a binary heap, with a shortcut that matters when lists hold runs of nearby
/// references: the cursor that supplied the current element stays outside the heap and keeps
/// supplying while its next element is below the heap's minimum, one comparison each.
pub fn merge<P: Postings>(its: Vec<P>) -> Merge<P> {
    let linear = its.len() <= MERGE_LINEAR_MAX;
    Merge {
        heads: if linear {
            vec![None; its.len()]
        } else {
            Vec::new()
        },
        heap: if linear {
            BinaryHeap::new()
        } else {
            BinaryHeap::with_capacity(its.len())
        },
        its,
        top: 0,
        cur: 0,
        state: State::Before,
    }
}

impl<P: Postings> Merge<P> {
    fn linear(&self) -> bool {
        self.its.len() <= MERGE_LINEAR_MAX
    }

    /// Linear mode: the smallest head becomes the current element.
    fn settle(&mut self) -> bool {
        match self.heads.iter().flatten().min() {
            Some(&m) => {
                self.cur = m;
                self.state = State::At;
                true
            }
            None => {
                self.state = State::Done;
                false
            }
        }
    }

    fn linear_next(&mut self) -> bool {
        let (before, cur) = (self.state == State::Before, self.cur);
        for (p, h) in self.its.iter_mut().zip(self.heads.iter_mut()) {
            if before || *h == Some(cur) {
                *h = p.next().then(|| p.at());
            }
        }
        self.settle()
    }

    fn linear_seek(&mut self, v: u64) -> bool {
        let before = self.state == State::Before;
        for (p, h) in self.its.iter_mut().zip(self.heads.iter_mut()) {
            if before || h.is_some_and(|x| x < v) {
                *h = p.seek(v).then(|| p.at());
            }
        }
        self.settle()
    }
}

impl<P: Postings> Merge<P> {
    /// Takes the heap's minimum as the current element and advances the other cursors that
    /// hold it, so every key left in the heap is greater.
    fn pop_min(&mut self) -> bool {
        let Some(Reverse((v, i))) = self.heap.pop() else {
            self.state = State::Done;
            return false;
        };
        while let Some(&Reverse((w, j))) = self.heap.peek() {
            if w != v {
                break;
            }
            self.heap.pop();
            if self.its[j].next() {
                self.heap.push(Reverse((self.its[j].at(), j)));
            }
        }
        self.top = i;
        self.cur = v;
        self.state = State::At;
        true
    }
}

impl<P: Postings> Postings for Merge<P> {
    fn next(&mut self) -> bool {
        if self.state != State::Done && self.linear() {
            return self.linear_next();
        }
        match self.state {
            State::Done => false,
            State::Before => {
                for (i, p) in self.its.iter_mut().enumerate() {
                    if p.next() {
                        self.heap.push(Reverse((p.at(), i)));
                    }
                }
                self.pop_min()
            }
            State::At => {
                let top = &mut self.its[self.top];
                if top.next() {
                    let v = top.at();
                    match self.heap.peek() {
                        Some(&Reverse((m, _))) if m <= v => {
                            self.heap.push(Reverse((v, self.top)));
                        }
                        _ => {
                            self.cur = v;
                            return true;
                        }
                    }
                }
                self.pop_min()
            }
        }
    }

    fn seek(&mut self, v: u64) -> bool {
        match self.state {
            State::Done => false,
            State::At if self.cur >= v => true,
            _ if self.linear() => self.linear_seek(v),
            State::Before => {
                for (i, p) in self.its.iter_mut().enumerate() {
                    if p.seek(v) {
                        self.heap.push(Reverse((p.at(), i)));
                    }
                }
                self.pop_min()
            }
            State::At => {
                let top = &mut self.its[self.top];
                if top.seek(v) {
                    self.heap.push(Reverse((top.at(), self.top)));
                }
                while let Some(&Reverse((w, j))) = self.heap.peek() {
                    if w >= v {
                        break;
                    }
                    self.heap.pop();
                    if self.its[j].seek(v) {
                        self.heap.push(Reverse((self.its[j].at(), j)));
                    }
                }
                self.pop_min()
            }
        }
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

// ---------------------------------------------------------------------------------------------
// Difference.

/// The references of one postings that are not in another; see [`without`].
#[derive(Debug)]
pub struct Without<A, B> {
    a: A,
    b: B,
    /// `b`'s current element once it has one; checked before calling into `b`, which for most
    /// of `a`'s candidates is already beyond them.
    b_cur: u64,
    b_state: State,
}

/// The references in `a` that are not in `b`, lazily: `b` only seeks to `a`'s candidates, so
/// the cost follows `a`, not `b`.
pub fn without<A: Postings, B: Postings>(a: A, b: B) -> Without<A, B> {
    Without {
        a,
        b,
        b_cur: 0,
        b_state: State::Before,
    }
}

impl<A: Postings, B: Postings> Without<A, B> {
    /// From `a`'s current element, skips those `b` holds.
    #[inline]
    fn skip_removed(&mut self) -> bool {
        loop {
            let x = self.a.at();
            match self.b_state {
                State::Done => return true,
                State::At if self.b_cur > x => return true,
                State::At if self.b_cur == x => {}
                _ => {
                    if !self.b.seek(x) {
                        self.b_state = State::Done;
                        return true;
                    }
                    self.b_state = State::At;
                    self.b_cur = self.b.at();
                    if self.b_cur != x {
                        return true;
                    }
                }
            }
            if !self.a.next() {
                return false;
            }
        }
    }
}

impl<A: Postings, B: Postings> Postings for Without<A, B> {
    #[inline]
    fn next(&mut self) -> bool {
        self.a.next() && self.skip_removed()
    }

    #[inline]
    fn seek(&mut self, v: u64) -> bool {
        self.a.seek(v) && self.skip_removed()
    }

    #[inline]
    fn at(&self) -> u64 {
        self.a.at()
    }
}

// ---------------------------------------------------------------------------------------------
// Draining: internal iteration for materialising a whole result.

/// Hands every remaining element to a closure: what [`next`](Postings::next) would yield, in
/// order; the cursor is exhausted afterwards.
///
/// Leaves override it with a plain loop over their storage, and compositions pass the closure
/// down, so collecting a selection runs the leaf's loop with the set logic inlined into it
/// instead of two cursor calls per element.
pub(crate) trait Drain: Postings {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        while self.next() {
            f(self.at());
        }
    }
}

impl SliceCursor {
    fn drain<T: Element, F: FnMut(u64)>(&mut self, list: &[T], f: &mut F) {
        let start = if self.pos == usize::MAX {
            0
        } else {
            self.pos.saturating_add(1)
        };
        if let Some(rest) = list.get(start..) {
            rest.iter().for_each(|x| f(x.get()));
        }
        self.pos = list.len();
    }
}

impl<T: Element> Drain for ListPostings<'_, T> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        self.c.drain(self.list, f);
    }
}

impl Drain for VecPostings {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        self.c.drain(&self.list, f);
    }
}

impl Drain for ListCursor<'_> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        match self {
            ListCursor::Narrow(p) => p.drain(f),
            ListCursor::Wide(p) => p.drain(f),
        }
    }
}

impl Drain for BitmapPostings {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        match self.state {
            State::Done => return,
            State::Before => {
                self.wi = 0;
                self.rest = self.words.first().copied().unwrap_or(0);
            }
            State::At => {}
        }
        let mut rest = self.rest;
        let mut at = self.base + self.wi as u64 * 64;
        for w in self.words.get(self.wi + 1..).unwrap_or_default().iter() {
            while rest != 0 {
                f(at + u64::from(rest.trailing_zeros()));
                rest &= rest - 1;
            }
            rest = *w;
            at += 64;
        }
        while rest != 0 {
            f(at + u64::from(rest.trailing_zeros()));
            rest &= rest - 1;
        }
        self.rest = 0;
        self.state = State::Done;
    }
}

impl Drain for BTreeSetPostings<'_> {}

impl<P: Drain + ?Sized> Drain for &mut P {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        (**self).drain(f);
    }
}

impl Drain for EmptyPostings {}

impl<P: Postings> Drain for Intersect<P> {}

impl<P: Postings> Drain for Merge<P> {}

impl<A: Drain, B: Postings> Drain for Without<A, B> {
    fn drain<F: FnMut(u64)>(&mut self, f: &mut F) {
        let Without {
            a,
            b,
            b_cur,
            b_state,
        } = self;
        a.drain(&mut |x| {
            let removed = match *b_state {
                State::Done => false,
                State::At if *b_cur > x => false,
                State::At if *b_cur == x => true,
                _ => {
                    if b.seek(x) {
                        *b_state = State::At;
                        *b_cur = b.at();
                        *b_cur == x
                    } else {
                        *b_state = State::Done;
                        false
                    }
                }
            };
            if !removed {
                f(x);
            }
        });
    }
}

/// Appends every remaining element of `p` to `out`, by internal iteration.
pub(crate) fn drain_into<P: Drain>(mut p: P, out: &mut Vec<u64>) {
    p.drain(&mut |x| out.push(x));
}

// ---------------------------------------------------------------------------------------------
// Slice kernels: materialising set operations on 32-bit lists straight into a result vector.

/// Appends `s` to `out`, widened (a loop the compiler vectorises).
#[inline]
pub(crate) fn extend_wide(out: &mut Vec<u64>, s: &[u32]) {
    out.extend(s.iter().map(|&x| u64::from(x)));
}

/// The index of the first element of `s[from..]` that is `>= v`, or `s.len()`; see [`gallop`].
#[inline]
fn gallop32(s: &[u32], from: usize, v: u32) -> usize {
    let len = s.len();
    let mut lo = from;
    let mut hi = from;
    let mut step = 1usize;
    while hi < len && s[hi] < v {
        lo = hi + 1;
        hi = hi.saturating_add(step);
        step = step.saturating_mul(2);
    }
    let hi = hi.min(len);
    lo + s[lo..hi].partition_point(|&x| x < v)
}

/// The index of the first element of `s[from..]` that is `>= v`, or `s.len()`, for seeks that
/// are mostly short: skips blocks of [`SEEK_BLOCK`] elements with one comparison each, counts
/// the elements below `v` in the last block without branching, and gallops once the distance
/// exceeds [`SEEK_LINEAR_BLOCKS`] blocks.
#[inline]
fn seek32(s: &[u32], from: usize, v: u32) -> usize {
    let mut j = from;
    let mut blocks = 0;
    while let Some(&last) = s.get(j + SEEK_BLOCK - 1) {
        if last >= v {
            break;
        }
        j += SEEK_BLOCK;
        blocks += 1;
        if blocks == SEEK_LINEAR_BLOCKS {
            return gallop32(s, j, v);
        }
    }
    let block = &s[j.min(s.len())..(j + SEEK_BLOCK).min(s.len())];
    j + block.iter().map(|&x| usize::from(x < v)).sum::<usize>()
}

/// See [`seek32`].
const SEEK_BLOCK: usize = 16;
/// See [`seek32`].
const SEEK_LINEAR_BLOCKS: usize = 16;

/// The elements of the strictly increasing `small` that are in the strictly increasing `big`,
/// appended to `out`: for each element of `small`, `big` seeks forward ([`seek32`]), so the
/// cost follows `small` and the distances skipped in `big`. Measured on the index benchmark,
/// this beats a leapfrog that also seeks in `small`, and short linear block skips beat
/// galloping from the first step.
pub(crate) fn intersect_into(small: &[u32], big: &[u32], out: &mut Vec<u32>) {
    let mut j = 0;
    for &x in small {
        let Some(&y) = big.get(j) else {
            break;
        };
        if y < x {
            j = seek32(big, j + 1, x);
            if j >= big.len() {
                break;
            }
        }
        if big[j] == x {
            out.push(x);
            j += 1;
        }
    }
}

/// Keeps the elements of the strictly increasing `v` that are in the strictly increasing `big`.
pub(crate) fn retain_in(v: &mut Vec<u32>, big: &[u32]) {
    let mut j = 0;
    let mut n = 0;
    for i in 0..v.len() {
        let x = v[i];
        if j < big.len() && big[j] < x {
            j = seek32(big, j + 1, x);
        }
        if j >= big.len() {
            break;
        }
        if big[j] == x {
            v[n] = x;
            n += 1;
            j += 1;
        }
    }
    v.truncate(n);
}

/// Where the slice kernels write: a result vector of `u64`s or an intermediate one of `u32`s.
pub(crate) trait Sink {
    /// Reserves room for `n` more elements.
    fn reserve_more(&mut self, n: usize);
    /// Appends one element.
    fn put(&mut self, x: u32);
    /// Appends a run of elements.
    fn put_all(&mut self, s: &[u32]);
}

impl Sink for Vec<u64> {
    #[inline]
    fn reserve_more(&mut self, n: usize) {
        self.reserve(n);
    }
    #[inline]
    fn put(&mut self, x: u32) {
        self.push(u64::from(x));
    }
    #[inline]
    fn put_all(&mut self, s: &[u32]) {
        extend_wide(self, s);
    }
}

impl Sink for Vec<u32> {
    #[inline]
    fn reserve_more(&mut self, n: usize) {
        self.reserve(n);
    }
    #[inline]
    fn put(&mut self, x: u32) {
        self.push(x);
    }
    #[inline]
    fn put_all(&mut self, s: &[u32]) {
        self.extend_from_slice(s);
    }
}

/// Appends the union of strictly increasing `lists` (which may share elements) to `out`, in
/// order and without duplicates.
///
/// When the lists are dense in the range they cover, sets their bits in a bitmap over that
/// range and scans its words; otherwise, for a few lists, merges them a run at a time: the list
/// with the smallest head copies every element below the other lists' smallest head in one
/// copy, so the per-element work is a comparison and a store. Many sparse lists are
/// concatenated and sorted.
pub(crate) fn union_into<O: Sink>(lists: &[&[u32]], out: &mut O) {
    let lists: Vec<&[u32]> = lists.iter().copied().filter(|l| !l.is_empty()).collect();
    match lists.len() {
        0 => return,
        1 => return out.put_all(lists[0]),
        _ => {}
    }
    let len: usize = lists.iter().map(|l| l.len()).sum();
    out.reserve_more(len);
    let lo = lists.iter().map(|l| l[0]).min().unwrap_or(0);
    let hi = lists.iter().map(|l| l[l.len() - 1]).max().unwrap_or(0);
    let words = ((hi - (lo & !63)) / 64 + 1) as usize;
    let dense = words <= len.saturating_mul(UNION_BITMAP_WORDS_PER_REF);
    if lists.len() <= UNION_MERGE_MAX || (lists.len() <= 2 * UNION_MERGE_MAX && !dense) {
        union_merge(lists, out);
    } else if dense {
        union_bitmap(&lists, lo, words, out);
    } else {
        let mut v: Vec<u32> = lists.concat();
        v.sort_unstable();
        v.dedup();
        out.put_all(&v);
    }
}

/// A union is built in a bitmap when its range needs at most this many words per reference.
const UNION_BITMAP_WORDS_PER_REF: usize = 2;
/// Unions of at most this many lists are always merged, of at most twice as many when the
/// bitmap is not dense enough.
const UNION_MERGE_MAX: usize = 4;

fn union_bitmap<O: Sink>(lists: &[&[u32]], lo: u32, words: usize, out: &mut O) {
    let base = lo & !63;
    let mut bits = vec![0u64; words];
    for l in lists {
        for &x in *l {
            let off = x - base;
            bits[(off / 64) as usize] |= 1 << (off % 64);
        }
    }
    let mut at = base;
    for &w in &bits {
        let mut w = w;
        while w != 0 {
            out.put(at + w.trailing_zeros());
            w &= w - 1;
        }
        at = at.wrapping_add(64);
    }
}

fn union_merge<O: Sink>(mut lists: Vec<&[u32]>, out: &mut O) {
    match lists[..] {
        [a, b] => return union_merge_few([a, b], out),
        [a, b, c] => return union_merge_few([a, b, c], out),
        [a, b, c, d] => return union_merge_few([a, b, c, d], out),
        _ => {}
    }
    while lists.len() > 1 {
        // The list with the smallest head, and the smallest head among the others.
        let (mut min_i, mut min) = (0, lists[0][0]);
        let mut bound = u32::MAX;
        for (i, l) in lists.iter().enumerate().skip(1) {
            let h = l[0];
            if h < min {
                bound = min;
                min = h;
                min_i = i;
            } else if h < bound {
                bound = h;
            }
        }
        let l = lists[min_i];
        let run = if min == bound {
            // Another list holds the same head and emits it.
            1
        } else {
            let mut n = 1;
            while n < l.len() && l[n] < bound {
                n += 1;
            }
            out.put_all(&l[..n]);
            n
        };
        if run == l.len() {
            lists.swap_remove(min_i);
        } else {
            lists[min_i] = &l[run..];
        }
    }
    if let Some(l) = lists.first() {
        out.put_all(l);
    }
}

/// [`union_merge`] for two to four lists, with the list to copy from chosen without
/// branches: which list holds the next run is as good as random, so a branch on it would
/// mispredict about once per run.
fn union_merge_few<O: Sink, const K: usize>(mut ls: [&[u32]; K], out: &mut O) {
    loop {
        // The smallest head (exhausted lists count as u64::MAX), its list, and the second
        // smallest head, by conditional moves.
        let (mut min, mut min_i, mut second) = (u64::MAX, 0, u64::MAX);
        for (i, l) in ls.iter().enumerate() {
            let h = l.first().map_or(u64::MAX, |&x| u64::from(x));
            let below = h < min;
            second = if below { min } else { second.min(h) };
            min_i = if below { i } else { min_i };
            min = if below { h } else { min };
        }
        if min == u64::MAX {
            return;
        }
        let l = ls[min_i];
        let run = if min == second {
            // Another list holds the same head and emits it.
            1
        } else {
            let mut n = 1;
            while n < l.len() && u64::from(l[n]) < second {
                n += 1;
            }
            out.put_all(&l[..n]);
            n
        };
        ls[min_i] = &l[run..];
    }
}

/// The union of a few strictly increasing lists whose elements interleave finely, such as the
/// survivors of a filter applied to each list of a union: two-way merges, one element per step
/// chosen by a conditional move, where [`union_merge`] would mispredict about once per element.
pub(crate) fn union_interleaved(lists: &[&[u32]]) -> Vec<u32> {
    let mut acc: Vec<u32> = Vec::new();
    let mut next = Vec::new();
    for l in lists {
        next.clear();
        next.reserve(acc.len() + l.len());
        let (mut i, mut j) = (0, 0);
        while let (Some(&x), Some(&y)) = (acc.get(i), l.get(j)) {
            next.push(x.min(y));
            i += usize::from(x <= y);
            j += usize::from(y <= x);
        }
        next.extend_from_slice(&acc[i..]);
        next.extend_from_slice(&l[j..]);
        std::mem::swap(&mut acc, &mut next);
    }
    acc
}

/// The index of the first element of the strictly increasing `s[from..]` that is `>= v`, or
/// `s.len()`.
///
/// The elements are distinct integers, so `s[from + d] >= s[from] + d`: the answer is at most
/// `from + (v - s[from])`, and where the references around the target are consecutive (as a
/// head assigns them) that one probe finds it. Otherwise a binary search within that bound,
/// or a gallop when the bound lies beyond the end.
#[inline]
fn find_from(s: &[u32], from: usize, v: u64) -> usize {
    let Some(&x) = s.get(from) else {
        return s.len();
    };
    let x = u64::from(x);
    if x >= v {
        return from;
    }
    let Ok(v32) = u32::try_from(v) else {
        return s.len();
    };
    let bound = from.saturating_add(usize::try_from(v - x).unwrap_or(usize::MAX));
    match s.get(bound - 1) {
        Some(&y) if y < v32 => bound,
        Some(_) => from + 1 + s[from + 1..bound].partition_point(|&y| y < v32),
        None => gallop32(s, from + 1, v32),
    }
}

/// The length of the run of consecutive integers that starts `s[from..]`.
#[inline]
fn run_len(s: &[u32], from: usize) -> usize {
    let first = u64::from(s[from]);
    let mut n = 1;
    while s
        .get(from + n)
        .is_some_and(|&e| u64::from(e) == first + n as u64)
    {
        n += 1;
    }
    n
}

/// Appends the elements of the strictly increasing `all` that are not in the strictly increasing
/// `excluded` to `out`, a run of consecutive excluded references at a time: the gap before it is
/// copied whole and the run skipped with [`find_from`], so the cost follows the number of runs
/// and the bytes copied.
pub(crate) fn difference_into<O: Sink>(all: &[u32], excluded: &[u32], out: &mut O) {
    out.reserve_more(all.len().saturating_sub(excluded.len()));
    let (mut pos, mut j) = (0, 0);
    while j < excluded.len() && pos < all.len() {
        let n = run_len(excluded, j);
        let first = u64::from(excluded[j]);
        j += n;
        let i = find_from(all, pos, first);
        out.put_all(&all[pos..i]);
        pos = find_from(all, i, first + n as u64);
    }
    if let Some(rest) = all.get(pos..) {
        out.put_all(rest);
    }
}

/// Appends the elements of the strictly increasing `all` that are not in `bits` to `out`: as
/// [`difference_into`], with the runs read from the bitmap's words, so a union of many lists
/// built as a bitmap is subtracted without being sorted into a list first.
pub(crate) fn difference_bits_into<O: Sink>(all: &[u32], bits: &Bits, out: &mut O) {
    out.reserve_more(all.len());
    let mut pos = 0;
    bits.for_each_run(|first, end| {
        if pos < all.len() {
            let i = find_from(all, pos, first);
            out.put_all(&all[pos..i]);
            pos = find_from(all, i, end);
        }
    });
    if let Some(rest) = all.get(pos..) {
        out.put_all(rest);
    }
}

/// Keeps the elements of the strictly increasing `v` that are not in the strictly increasing
/// `excluded`: by runs of `excluded` ([`difference_into`], in place) when it is the shorter,
/// else by seeking in it from each element of `v`.
pub(crate) fn retain_not_in(v: &mut Vec<u32>, excluded: &[u32]) {
    let mut n = 0;
    if excluded.len() > v.len() {
        let mut j = 0;
        for i in 0..v.len() {
            let x = v[i];
            if excluded.get(j).is_some_and(|&y| y < x) {
                j = seek32(excluded, j + 1, x);
            }
            v[n] = x;
            n += usize::from(excluded.get(j) != Some(&x));
        }
    } else {
        let (mut pos, mut j) = (0, 0);
        while j < excluded.len() && pos < v.len() {
            let run = run_len(excluded, j);
            let first = u64::from(excluded[j]);
            j += run;
            let i = find_from(v, pos, first);
            v.copy_within(pos..i, n);
            n += i - pos;
            pos = find_from(v, i, first + run as u64);
        }
        v.copy_within(pos.., n);
        n += v.len() - pos;
    }
    v.truncate(n);
}

/// Keeps the elements of the strictly increasing `v` that are (`keep`) or are not (`!keep`) in
/// any of the strictly increasing `lists`, seeking forward in each: for a few candidates against
/// a few long lists, cheaper than building their union.
pub(crate) fn retain_in_any(v: &mut Vec<u32>, lists: &[&[u32]], keep: bool) {
    let mut pos = vec![0usize; lists.len()];
    let mut n = 0;
    for i in 0..v.len() {
        let x = v[i];
        let mut found = false;
        for (l, p) in lists.iter().zip(pos.iter_mut()) {
            if l.get(*p).is_some_and(|&y| y < x) {
                *p = seek32(l, *p + 1, x);
            }
            found |= l.get(*p) == Some(&x);
        }
        v[n] = x;
        n += usize::from(found == keep);
    }
    v.truncate(n);
}

// ---------------------------------------------------------------------------------------------
// Leaving the cursor world.

/// A std [`Iterator`] over the remaining elements of a cursor; see [`iter`].
#[derive(Debug)]
pub struct Iter<P>(P);

/// The remaining elements of `p` as a std [`Iterator`].
pub fn iter<P: Postings>(p: P) -> Iter<P> {
    Iter(p)
}

impl<P: Postings> Iterator for Iter<P> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.0.next().then(|| self.0.at())
    }
}

/// The remaining elements of `p`.
pub fn collect<P: Postings>(mut p: P) -> Vec<u64> {
    let mut out = Vec::new();
    while p.next() {
        out.push(p.at());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(v: &[u64]) -> ListPostings<'_> {
        ListPostings::new(v)
    }

    #[test]
    fn list_next_seek_and_exhaustion() {
        let v = [1u64, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21];
        let mut p = lp(&v);
        assert!(p.seek(0) && p.at() == 1);
        assert!(p.seek(8) && p.at() == 9);
        assert!(p.seek(9) && p.at() == 9);
        assert!(p.next() && p.at() == 11);
        assert!(p.seek(21) && p.at() == 21);
        assert!(!p.next());
        assert!(!p.seek(0));
        assert!(!p.next());
        let empty: [u64; 0] = [];
        assert!(!lp(&empty).next());
        assert!(!lp(&empty).seek(3));
    }

    #[test]
    fn gallop_finds_the_first_not_below() {
        let v: Vec<u64> = (0..1000).map(|x| x * 2).collect();
        for from in [0, 1, 7, 500, 999, 1000] {
            for t in [0, 1, 2, 3, 100, 1001, 1998, 1999, 5000] {
                let want = from + v[from..].partition_point(|&x| x < t);
                assert_eq!(gallop(&v, from, t), want, "from {from} t {t}");
            }
        }
    }

    #[test]
    fn narrow_list_widens_and_seeks_beyond_u32() {
        let mut l = PostingsList::new();
        assert!(l.insert(5) && l.insert(2) && !l.insert(5));
        assert!(l.is_narrow());
        let big = u64::from(u32::MAX) + 10;
        assert!(l.insert(big));
        assert!(!l.is_narrow());
        assert!(l.insert(7));
        assert_eq!(l.iter().collect::<Vec<_>>(), [2, 5, 7, big]);
        assert!(l.contains(big) && !l.contains(6));
        let narrow: PostingsList = [3u64, 1].into_iter().collect();
        let mut p = narrow.postings();
        assert!(!p.seek(big), "a 32-bit list seeks past its end");
        assert_eq!(l.retain(|r| r % 2 == 1), 1);
        assert_eq!(format!("{l:?}"), format!("[5, 7, {big}]"));
    }

    #[test]
    fn bitmap_seek_within_and_across_words() {
        let refs = [3u64, 64, 65, 127, 128, 1000, 1001];
        let mut b = BitmapPostings::with_range(3, 1001);
        refs.iter().for_each(|&r| b.insert(r));
        let mut p = b.clone();
        assert!(p.seek(0) && p.at() == 3);
        assert!(p.seek(65) && p.at() == 65);
        assert!(p.seek(66) && p.at() == 127);
        assert!(p.next() && p.at() == 128);
        assert!(p.seek(129) && p.at() == 1000);
        assert!(p.seek(2) && p.at() == 1000);
        assert!(p.next() && p.at() == 1001);
        assert!(!p.next() && !p.seek(0));
        let mut grown = BitmapPostings::with_range(500, 600);
        grown.insert(1);
        grown.insert(5000);
        grown.insert(550);
        assert_eq!(collect(grown), [1, 550, 5000]);
    }

    #[test]
    fn merge_dedups_and_runs() {
        let (a, b, c) = ([1u64, 2, 3, 10], [2u64, 3, 4], [0u64, 10, 11]);
        let m = merge(vec![lp(&a), lp(&b), lp(&c)]);
        assert_eq!(collect(m), [0, 1, 2, 3, 4, 10, 11]);
        let mut m = merge(vec![lp(&a), lp(&b), lp(&c)]);
        assert!(m.seek(3) && m.at() == 3);
        assert!(m.seek(5) && m.at() == 10);
        assert!(m.next() && m.at() == 11);
        assert!(!m.next());
        assert!(!merge(Vec::<ListPostings<'_>>::new()).next());
    }

    #[test]
    fn intersect_and_without() {
        let (a, b, c) = ([1u64, 2, 3, 5, 8, 13], [2u64, 3, 5, 7, 13], [3u64, 13, 14]);
        assert_eq!(collect(intersect(vec![lp(&a), lp(&b)])), [2, 3, 5, 13]);
        assert_eq!(collect(intersect(vec![lp(&c), lp(&a), lp(&b)])), [3, 13]);
        assert!(!intersect(Vec::<ListPostings<'_>>::new()).next());
        let mut i = intersect(vec![lp(&a), lp(&b)]);
        assert!(i.seek(4) && i.at() == 5);
        assert!(i.seek(4) && i.at() == 5);
        assert_eq!(collect(without(lp(&a), lp(&b))), [1, 8]);
        let mut w = without(lp(&a), lp(&b));
        assert!(w.seek(2) && w.at() == 8);
        assert!(!w.next());
    }

    /// The remaining elements, by cursor calls: what `drain` must hand over.
    fn rest(mut p: impl Postings) -> Vec<u64> {
        let mut out = Vec::new();
        while p.next() {
            out.push(p.at());
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn drain_continues_where_the_cursor_is(
            a in proptest::collection::btree_set(0u64..3000, 0..300),
            b in proptest::collection::btree_set(0u64..3000, 0..300),
            seeks in proptest::collection::vec(0u64..3100, 0..4),
            nexts in 0usize..3,
        ) {
            let (va, vb): (Vec<u64>, Vec<u64>) = (a.iter().copied().collect(), b.iter().copied().collect());
            let narrow: Vec<u32> = va.iter().map(|&x| x as u32).collect();
            let mut bitmap = BitmapPostings::with_range(0, 3000);
            va.iter().for_each(|&x| bitmap.insert(x));
            let position = |p: &mut dyn Postings| {
                for &s in &seeks {
                    p.seek(s);
                }
                for _ in 0..nexts {
                    p.next();
                }
            };
            macro_rules! check {
                ($make:expr) => {{
                    let (mut x, mut y) = ($make, $make);
                    position(&mut x);
                    position(&mut y);
                    let mut drained = Vec::new();
                    drain_into(&mut x, &mut drained);
                    proptest::prop_assert_eq!(drained, rest(&mut y));
                    proptest::prop_assert!(!x.next());
                }};
            }
            check!(ListPostings::new(&va));
            check!(ListPostings::new(&narrow));
            check!(VecPostings::new(va.clone()));
            check!(bitmap.clone());
            check!(without(ListPostings::new(&va), ListPostings::new(&vb)));
            check!(without(bitmap.clone(), VecPostings::new(vb.clone())));
            check!(merge(vec![ListPostings::new(&va), ListPostings::new(&vb)]));
            check!(merge(vec![ListPostings::new(&va), ListPostings::new(&vb), ListPostings::new(&va), ListPostings::new(&vb), ListPostings::new(&vb)]));
        }
    }

    proptest::proptest! {
        #[test]
        fn slice_kernels_agree_with_sets(
            sets in proptest::collection::vec(proptest::collection::btree_set(0u32..5000, 0..200), 0..12),
            sparse in proptest::bool::ANY,
        ) {
            // Sparse sets exercise the merge and the sort, dense ones the bitmap.
            let spread = if sparse { 1000 } else { 1 };
            let lists: Vec<Vec<u32>> = sets
                .iter()
                .map(|s| s.iter().map(|&x| x * spread).collect())
                .collect();
            let slices: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
            let union: BTreeSet<u32> = lists.iter().flatten().copied().collect();
            for k in 0..=slices.len() {
                let want: BTreeSet<u32> = slices[..k].iter().flat_map(|l| l.iter().copied()).collect();
                let mut wide: Vec<u64> = Vec::new();
                union_into(&slices[..k], &mut wide);
                let want_wide: Vec<u64> = want.iter().map(|&x| u64::from(x)).collect();
                proptest::prop_assert_eq!(&wide, &want_wide);
                let mut narrow: Vec<u32> = Vec::new();
                union_into(&slices[..k], &mut narrow);
                proptest::prop_assert!(narrow.iter().copied().eq(want.iter().copied()));
            }
            let all: Vec<u32> = union.iter().copied().collect();
            for l in &lists {
                let mut out: Vec<u64> = Vec::new();
                difference_into(&all, l, &mut out);
                let want: Vec<u64> = all.iter().filter(|x| !l.contains(x)).map(|&x| u64::from(x)).collect();
                proptest::prop_assert_eq!(out, want);
                for m in &lists {
                    let want: Vec<u32> = l.iter().filter(|x| m.contains(x)).copied().collect();
                    let mut out: Vec<u32> = Vec::new();
                    intersect_into(l, m, &mut out);
                    proptest::prop_assert_eq!(&out, &want);
                    let mut kept = l.clone();
                    retain_in(&mut kept, m);
                    proptest::prop_assert_eq!(&kept, &want);
                }
            }
        }
    }

    /// A sorted set made of runs of consecutive references (as a head assigns them, target by
    /// target) with gaps between them, or of isolated references.
    fn runs() -> impl proptest::strategy::Strategy<Value = BTreeSet<u32>> {
        use proptest::strategy::Strategy;
        proptest::collection::vec((0u32..300, 1u32..20, 0u32..3), 0..60).prop_map(|spans| {
            let mut set = BTreeSet::new();
            let mut at = 0u32;
            for (gap, len, spread) in spans {
                at += gap;
                for k in 0..len {
                    set.insert(at + k * (spread + 1));
                }
                at += len * (spread + 1);
            }
            set
        })
    }

    /// `lo` shifted up so that sets built from the same strategy start at different words.
    fn shifted(s: &BTreeSet<u32>, by: u32) -> Vec<u32> {
        s.iter().map(|&x| x + by).collect()
    }

    proptest::proptest! {
        #[test]
        fn run_and_bitmap_kernels_agree_with_sets(
            a in runs(),
            b in runs(),
            c in runs(),
            shift in 0u32..200,
        ) {
            let (va, vb, vc) = (shifted(&a, 0), shifted(&b, shift), shifted(&c, 3 * shift));
            let all: Vec<u32> = va.iter().chain(&vb).chain(&vc).copied().collect::<BTreeSet<_>>().into_iter().collect();
            let sb: BTreeSet<u32> = vb.iter().copied().collect();
            let sc: BTreeSet<u32> = vc.iter().copied().collect();
            let minus = |v: &[u32], s: &BTreeSet<u32>| -> Vec<u32> { v.iter().filter(|x| !s.contains(x)).copied().collect() };
            let within = |v: &[u32], s: &BTreeSet<u32>| -> Vec<u32> { v.iter().filter(|x| s.contains(x)).copied().collect() };

            // find_from: the first element >= v from any position.
            for from in [0, 1, all.len() / 2, all.len()] {
                for v in [0u64, 5, 64, 1000, 5000, 1 << 32] {
                    let want = from.min(all.len()) + all.get(from..).map_or(0, |s| s.partition_point(|&x| u64::from(x) < v));
                    proptest::prop_assert_eq!(find_from(&all, from, v), want);
                }
            }

            // Differences by runs, from a sorted list and from a bitmap, in both widths.
            let mut narrow: Vec<u32> = Vec::new();
            difference_into(&all, &vb, &mut narrow);
            proptest::prop_assert_eq!(&narrow, &minus(&all, &sb));
            let mut wide: Vec<u64> = Vec::new();
            difference_into(&va, &vb, &mut wide);
            proptest::prop_assert!(wide.iter().map(|&x| x as u32).eq(minus(&va, &sb)));
            let bits_b = Bits::from_sorted(&vb);
            let mut from_bits: Vec<u64> = Vec::new();
            difference_bits_into(&all, &bits_b, &mut from_bits);
            proptest::prop_assert!(from_bits.iter().map(|&x| x as u32).eq(minus(&all, &sb)));

            // Runs read from a bitmap cover exactly its references, joined across words.
            let mut runs_seen = Vec::new();
            bits_b.for_each_run(|s, e| runs_seen.extend(s..e));
            proptest::prop_assert!(runs_seen.iter().map(|&x| x as u32).eq(vb.iter().copied()));

            // Bit tests: membership, selection, in-place retention, both polarities.
            for &x in &all {
                proptest::prop_assert_eq!(bits_b.contains(x), sb.contains(&x));
            }
            proptest::prop_assert!(!bits_b.contains(u32::MAX));
            let mut sel = Vec::new();
            bits_b.select_into(&all, true, &mut sel);
            proptest::prop_assert_eq!(&sel, &within(&all, &sb));
            sel.clear();
            bits_b.select_into(&all, false, &mut sel);
            proptest::prop_assert_eq!(&sel, &minus(&all, &sb));
            let mut kept = all.clone();
            bits_b.retain(&mut kept, true);
            proptest::prop_assert_eq!(&kept, &within(&all, &sb));
            let mut kept = all.clone();
            bits_b.retain(&mut kept, false);
            proptest::prop_assert_eq!(&kept, &minus(&all, &sb));

            // A bitmap over a wider range, OR-ed from two with other bases, and set directly.
            if let (Some(&lo), Some(&hi)) = (all.first(), all.last()) {
                let mut u = Bits::with_range(lo, hi);
                u.or_with(&bits_b);
                u.set_all(&vc);
                for &x in &all {
                    proptest::prop_assert_eq!(u.contains(x), sb.contains(&x) || sc.contains(&x));
                }
                // A narrower bitmap whose base lies above the other's: words outside drop.
                let mid = all[all.len() / 2];
                let mut upper = Bits::with_range(mid, hi);
                upper.or_with(&bits_b);
                for &x in &all {
                    let inside = x >= mid & !63;
                    proptest::prop_assert_eq!(upper.contains(x), inside && sb.contains(&x));
                }
            }

            // Retention against sorted lists, by runs and by seeks, and against a few lists.
            for (v, ex) in [(&all, &vb), (&vb, &all), (&va, &vc)] {
                let sex: BTreeSet<u32> = ex.iter().copied().collect();
                let mut kept = v.clone();
                retain_not_in(&mut kept, ex);
                proptest::prop_assert_eq!(&kept, &minus(v, &sex));
            }
            for keep in [true, false] {
                let mut kept = all.clone();
                retain_in_any(&mut kept, &[&vb, &vc], keep);
                let want: Vec<u32> = all.iter().filter(|x| (sb.contains(x) || sc.contains(x)) == keep).copied().collect();
                proptest::prop_assert_eq!(kept, want);
            }
        }
    }

    #[test]
    fn btreeset_postings() {
        let s: BTreeSet<u64> = [4, 8, 15, 16].into_iter().collect();
        let mut p = BTreeSetPostings::new(&s);
        assert!(p.seek(9) && p.at() == 15);
        assert!(p.seek(1) && p.at() == 15);
        assert!(p.next() && p.at() == 16);
        assert!(!p.seek(17) && !p.next());
        assert_eq!(iter(BTreeSetPostings::new(&s)).count(), 4);
    }
}
