//! The storage traits: how samples are written to and read from any storage.
//!
//! Writers (scrape loops, recording rules, remote-write receivers) take an [`Appendable`] and
//! write batches through an [`Appender`]. Readers (the PromQL engine, the HTTP API) take a
//! [`Queryable`], open a [`Querier`] over a time range and [`select`](Querier::select) a
//! [`SeriesSet`] whose [`Series`] carry a [`SampleIterator`]. Neither side knows whether the data
//! lives in a TSDB head, persisted blocks, a remote store or the in-memory reference
//! implementation, [`MemoryStorage`](crate::memory::MemoryStorage).
//!
//! The traits are object safe, so a server can hold `Arc<dyn Appendable>` and
//! `Arc<dyn Queryable>` and wrap or replace them. They require `Send` (and `Sync` where a
//! shared reference is handed around) so that queries and appends can move to worker threads and
//! be held across `.await` points.
//!
//! Contracts use MUST (a caller may rely on it), SHOULD and MAY (a caller must cope with
//! either behaviour). All time ranges are inclusive at both ends.

use std::fmt;
use std::sync::Arc;

use crate::error::{AppendError, Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::value::{Sample, Timestamp};

/// An opaque reference to a series, handed out by the storage that owns it.
///
/// Only the storage that returned it can interpret it; a caller keeps it (in a scrape loop's
/// series cache, say) to spare the storage a label lookup on the next append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// A storage that accepts writes.
pub trait Appendable: Send + Sync {
    /// A new appender for one batch of samples.
    ///
    /// - Appenders MUST be independent: each has its own pending batch, and several MAY be in use
    ///   at once from different threads.
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// A batch of samples being written; nothing is visible to readers until
/// [`commit`](Self::commit).
pub trait Appender: Send {
    /// Adds a sample to the batch and returns the series' reference.
    ///
    /// - `series` MAY be a reference this storage returned earlier for the same `labels`; the
    ///   storage MAY then skip looking up `labels`, so `labels` MUST be that series' labels.
    ///   An unknown or stale reference MUST NOT be an error: the storage falls back to `labels`.
    /// - A rejected sample MUST leave the batch and the appender as they were: the caller counts
    ///   the [`AppendError`] and carries on with the next sample.
    /// - An empty `labels` (with no usable reference) MUST be rejected with
    ///   [`AppendError::EmptyLabels`].
    /// - A storage that does not accept out-of-order samples MUST reject a timestamp older than
    ///   the series' newest sample, committed or pending in this batch, with
    ///   [`AppendError::OutOfOrder`] (or [`AppendError::TooOld`] beyond an out-of-order window).
    /// - At a timestamp the series already has, a different value (compared bit for bit, so the
    ///   staleness marker differs from other NaNs) MUST be rejected with
    ///   [`AppendError::DuplicateSampleForTimestamp`]; the identical value MUST be accepted
    ///   silently and MUST NOT be stored twice.
    /// - The sample MUST NOT be visible to any querier before [`commit`](Self::commit).
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> std::result::Result<SeriesRef, AppendError>;

    /// [`append`](Self::append) with the sample's *start timestamp* `st`: when the counter the
    /// sample belongs to started counting (its creation or last reset), or for a delta sample
    /// the start of the interval it covers. PromQL's `rate` and friends take a start after the
    /// previous sample as a counter reset.
    ///
    /// - Everything [`append`](Self::append) says holds; `st` takes no part in the out-of-order
    ///   and duplicate checks.
    /// - A storage that does not keep start timestamps MAY drop `st`, which is what the default
    ///   implementation does.
    fn append_with_start(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> std::result::Result<SeriesRef, AppendError> {
        let _ = st;
        self.append(series, labels, t, v)
    }

    /// Makes the batch visible to readers.
    ///
    /// - Queriers opened after `commit` returns `Ok` MUST see every accepted sample, except that
    ///   a sample that another appender's commit has made out of order in the meantime MAY be
    ///   dropped silently.
    /// - Queriers opened before MUST NOT see the batch partially; implementations SHOULD make it
    ///   visible atomically.
    /// - Afterwards, whatever the result, the batch is empty and the appender MAY be reused for a
    ///   new batch.
    fn commit(&mut self) -> Result<()>;

    /// Discards the batch. Afterwards the appender is empty and MAY be reused. Dropping an
    /// appender without committing MUST have the same effect.
    fn rollback(&mut self) -> Result<()>;
}

/// A storage that can be read.
pub trait Queryable: Send + Sync {
    /// A querier over samples with `mint <= t <= maxt`.
    ///
    /// - The querier MUST NOT yield samples outside `[mint, maxt]`.
    /// - If `mint > maxt` the querier MUST select nothing (this is not an error).
    /// - It SHOULD see a consistent snapshot: every commit that completed before this call and
    ///   none that started after it.
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier + '_>>;
}

/// Hints from the query engine about how a [`Querier::select`] result will be used. They are
/// advisory: an implementation MAY ignore any of them and MUST return correct results either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Start of the time range the query needs, in ms (may be narrower than the querier's).
    pub start: Timestamp,
    /// End of the time range the query needs, in ms.
    pub end: Timestamp,
    /// The query resolution step in ms; 0 for an instant query.
    pub step: i64,
    /// The function the selection feeds (`rate`, `series` for metadata requests, ...), or empty.
    pub func: String,
    /// The range of a range selector in ms (`5m` is 300 000); 0 for an instant selector.
    pub range: i64,
    /// Labels of the surrounding aggregation's `by`/`without` clause.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` (true) or a `without` (false) clause.
    pub by: bool,
    /// An upper bound on the number of series the caller wants, if any; a storage MAY return
    /// fewer than all matching series when it is set.
    pub limit: Option<usize>,
}

/// Reads the series of one time range. Dropping it releases whatever it holds.
pub trait Querier: Send + Sync {
    /// The series whose labels satisfy every matcher, each with its samples in the querier's
    /// range.
    ///
    /// - A matcher on a label the series does not have MUST see the empty string. No matchers
    ///   select every series.
    /// - Each series MUST be yielded at most once (label sets are unique).
    /// - With `sorted`, series MUST come in ascending [`Labels`] order; otherwise they MAY come in
    ///   any order.
    /// - A series without samples in the range SHOULD NOT be yielded; callers MUST tolerate one.
    /// - Failures surface through [`SeriesSet::err`] once the set is exhausted.
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_>;

    /// The label names of the series [`select`](Self::select) would yield for `matchers`.
    ///
    /// - The result MUST be sorted ascending and without duplicates.
    /// - It MUST include every name of every such series; it MAY include names of series
    ///   without samples in the range (a block index answers for the whole block).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>>;

    /// The values of label `name` among the series [`select`](Self::select) would yield for
    /// `matchers`.
    ///
    /// - The result MUST be sorted ascending, without duplicates and without the empty string.
    /// - It MUST include every value of every such series; it MAY include values of series
    ///   without samples in the range.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>>;
}

/// One selected series: its labels and a cursor over its samples. `'a` is the lifetime of the
/// querier it came from.
pub struct Series<'a> {
    /// The series' labels.
    pub labels: Labels,
    /// The series' samples within the querier's range, in timestamp order.
    pub samples: Box<dyn SampleIterator + 'a>,
}

impl<'a> Series<'a> {
    /// A series from its labels and sample iterator.
    pub fn new(labels: Labels, samples: impl SampleIterator + 'a) -> Self {
        Series {
            labels,
            samples: Box::new(samples),
        }
    }
}

impl fmt::Debug for Series<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// A cursor over the series of a [`Querier::select`] call.
pub trait SeriesSet<'a>: Send {
    /// The next series, or `None` when the set is exhausted or failed.
    ///
    /// - After it has returned `None` it MUST keep returning `None`.
    /// - Series already returned MUST stay valid (and their iterators usable) while the querier
    ///   lives, so a caller may collect them all before reading samples.
    fn next(&mut self) -> Option<Series<'a>>;

    /// Why the set ended early, if it did. Meaningful once [`next`](Self::next) has returned
    /// `None`; a caller MUST check it before trusting the result as complete.
    fn err(&self) -> Option<&Error> {
        None
    }

    /// Non-fatal problems met while selecting (a remote store that timed out, say). The series
    /// are still correct but may be incomplete. Meaningful once the set is exhausted.
    fn warnings(&self) -> &[String] {
        &[]
    }
}

/// A cursor over the samples of one series, in strictly increasing timestamp order.
///
/// Positioned before the first sample when created. Hot loops call [`next`](Self::next) or
/// [`seek`](Self::seek), then [`at`](Self::at); [`SampleIter`] wraps it as a std [`Iterator`].
pub trait SampleIterator: Send {
    /// Advances to the next sample; `false` when there is none (or on error, see
    /// [`err`](Self::err)).
    ///
    /// - Once it has returned `false` it MUST keep returning `false`, and so MUST `seek`.
    fn next(&mut self) -> bool;

    /// Advances to the first sample with timestamp `>= t` and returns whether there is one.
    ///
    /// - It MUST NOT move backwards: if the current sample's timestamp is already `>= t`, the
    ///   position is unchanged and the result is `true`.
    /// - Before the first `next`, it considers every sample.
    /// - It is legal after the end and then returns `false`.
    fn seek(&mut self, t: Timestamp) -> bool;

    /// The current sample. Meaningful only after `next` or `seek` returned `true`; otherwise
    /// the value is unspecified, but the call MUST NOT panic.
    fn at(&self) -> Sample;

    /// The error that ended the iteration early, if any.
    fn err(&self) -> Option<&Error> {
        None
    }

    /// Whether samples of this iterator may carry start timestamps (see
    /// [`Appender::append_with_start`]). Readers ask once per series and read
    /// [`start_timestamp`](Self::start_timestamp) only when it says `true`, so that storages
    /// without start timestamps cost nothing per sample.
    ///
    /// - When it returns `false`, `start_timestamp` MUST return `None` for every sample.
    /// - It MAY return `true` although no sample has a start timestamp.
    ///
    /// The default returns `false`.
    fn has_start_timestamps(&self) -> bool {
        false
    }

    /// The start timestamp of the current sample, `None` when it has none. Meaningful where
    /// [`at`](Self::at) is; otherwise unspecified, but the call MUST NOT panic.
    ///
    /// The default returns `None`.
    fn start_timestamp(&self) -> Option<Timestamp> {
        None
    }

    /// Reads a run of samples at once: appends the current sample and every following one with
    /// timestamp `<= maxt` to `out`, the batch equivalent of an [`at`](Self::at)/[`next`](Self::next)
    /// loop, which is what the default implementation does. Implementations override it to
    /// copy or decode straight into `out` without a dynamic call per sample.
    ///
    /// - Precondition: the iterator sits on a sample, that is the last `next` or `seek` (or
    ///   `read_until`) returned `true`. Otherwise the call MUST NOT panic, but what it appends
    ///   and returns is unspecified.
    /// - It MUST append exactly the samples the `at`/`next` walk would yield from the current
    ///   one on while their timestamp is `<= maxt`, in order, and nothing else (`out`'s
    ///   existing contents are left alone).
    /// - It returns `true` when it stopped on a sample with timestamp `> maxt`, which is then
    ///   the current sample (as if `next` had just returned `true` on it), and `false` when the
    ///   iterator is exhausted (as if `next` had returned `false`; [`err`](Self::err) then says
    ///   whether an error ended it).
    /// - If the current sample's timestamp is already `> maxt`, it MUST append nothing, stay
    ///   put and return `true`.
    /// - Afterwards `next`, `seek`, `at` and `read_until` MUST behave as after the equivalent
    ///   walk.
    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        loop {
            let s = self.at();
            if s.t > maxt {
                return true;
            }
            out.push(s);
            if !self.next() {
                return false;
            }
        }
    }

    /// Wraps the cursor as a std [`Iterator`] of [`Sample`]s.
    fn into_sample_iter(self) -> SampleIter<Self>
    where
        Self: Sized,
    {
        SampleIter::new(self)
    }
}

/// A std [`Iterator`] over a [`SampleIterator`], for convenience off the hot path.
///
/// ```
/// use prom_model::{Sample, storage::{ListSampleIterator, SampleIterator}};
/// let it = ListSampleIterator::new(vec![Sample::new(1, 1.0), Sample::new(2, 4.0)]);
/// let ts: Vec<i64> = it.into_sample_iter().map(|s| s.t).collect();
/// assert_eq!(ts, [1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct SampleIter<I> {
    inner: I,
}

impl<I: SampleIterator> SampleIter<I> {
    /// Wraps `inner`, which continues from its current position.
    pub fn new(inner: I) -> Self {
        SampleIter { inner }
    }

    /// The wrapped cursor, for example to check [`SampleIterator::err`] at the end.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// Unwraps the cursor.
    pub fn into_inner(self) -> I {
        self.inner
    }
}

impl<I: SampleIterator> Iterator for SampleIter<I> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        self.inner.next().then(|| self.inner.at())
    }
}

impl<I: SampleIterator> std::iter::FusedIterator for SampleIter<I> {}

/// A [`SampleIterator`] over samples held in memory: a `Vec<Sample>`, an `Arc<[Sample]>`, a
/// borrowed slice. The samples MUST be in strictly increasing timestamp order.
#[derive(Debug, Clone)]
pub struct ListSampleIterator<S> {
    samples: S,
    /// Index of the current sample; equal to the length once exhausted.
    pos: usize,
    started: bool,
}

impl<S: AsRef<[Sample]> + Send> ListSampleIterator<S> {
    /// A cursor before the first of `samples`.
    pub fn new(samples: S) -> Self {
        ListSampleIterator {
            samples,
            pos: 0,
            started: false,
        }
    }

    /// Moves the cursor back before the first sample, so it can be read again without
    /// allocating.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.started = false;
    }

    /// Unwraps the samples.
    pub fn into_inner(self) -> S {
        self.samples
    }

    /// The index of the current sample in the list: `None` before the first `next` or `seek`
    /// and once exhausted. Lets a wrapper keep per-sample data beside the samples.
    pub fn index(&self) -> Option<usize> {
        (self.started && self.pos < self.samples.as_ref().len()).then_some(self.pos)
    }
}

impl<S: AsRef<[Sample]> + Send> SampleIterator for ListSampleIterator<S> {
    fn next(&mut self) -> bool {
        let len = self.samples.as_ref().len();
        if !self.started {
            self.started = true;
        } else if self.pos < len {
            self.pos += 1;
        }
        self.pos < len
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        self.started = true;
        let rest = self.samples.as_ref().get(self.pos..).unwrap_or_default();
        self.pos += rest.partition_point(|s| s.t < t);
        self.pos < self.samples.as_ref().len()
    }

    fn at(&self) -> Sample {
        self.samples
            .as_ref()
            .get(self.pos)
            .copied()
            .unwrap_or(Sample::new(Timestamp::MIN, f64::NAN))
    }

    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        self.started = true;
        let all = self.samples.as_ref();
        let rest = all.get(self.pos..).unwrap_or_default();
        let n = rest.partition_point(|s| s.t <= maxt);
        out.extend_from_slice(&rest[..n]);
        self.pos += n;
        self.pos < all.len()
    }
}

/// A [`SeriesSet`] over series already in memory, or one that only reports an error.
#[derive(Debug)]
pub struct ListSeriesSet<'a> {
    series: std::vec::IntoIter<Series<'a>>,
    err: Option<Error>,
    warnings: Vec<String>,
}

impl<'a> ListSeriesSet<'a> {
    /// A set yielding `series` in the given order.
    pub fn new(series: Vec<Series<'a>>) -> Self {
        ListSeriesSet {
            series: series.into_iter(),
            err: None,
            warnings: Vec::new(),
        }
    }

    /// An empty set whose [`err`](SeriesSet::err) is `err`: what a `select` that failed before
    /// yielding anything returns.
    pub fn failed(err: Error) -> Self {
        ListSeriesSet {
            err: Some(err),
            ..ListSeriesSet::new(Vec::new())
        }
    }

    /// The same set, reporting `warnings`.
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }
}

impl<'a> SeriesSet<'a> for ListSeriesSet<'a> {
    fn next(&mut self) -> Option<Series<'a>> {
        self.series.next()
    }

    fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

// Blanket impls, so that references and smart pointers compose without wrappers.

macro_rules! forward_shared {
    ($($ptr:ty),*) => {$(
        impl<T: Appendable + ?Sized> Appendable for $ptr {
            fn appender(&self) -> Box<dyn Appender + '_> {
                (**self).appender()
            }
        }

        impl<T: Queryable + ?Sized> Queryable for $ptr {
            fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier + '_>> {
                (**self).querier(mint, maxt)
            }
        }

        impl<T: Querier + ?Sized> Querier for $ptr {
            fn select(
                &self,
                sorted: bool,
                hints: Option<&SelectHints>,
                matchers: &[Matcher],
            ) -> Box<dyn SeriesSet<'_> + '_> {
                (**self).select(sorted, hints, matchers)
            }

            fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
                (**self).label_names(matchers)
            }

            fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
                (**self).label_values(name, matchers)
            }
        }
    )*};
}

forward_shared!(&T, Box<T>, Arc<T>);

macro_rules! forward_unique {
    ($($ptr:ty),*) => {$(
        impl<T: Appender + ?Sized> Appender for $ptr {
            fn append(
                &mut self,
                series: Option<SeriesRef>,
                labels: &Labels,
                t: Timestamp,
                v: f64,
            ) -> std::result::Result<SeriesRef, AppendError> {
                (**self).append(series, labels, t, v)
            }

            fn append_with_start(
                &mut self,
                series: Option<SeriesRef>,
                labels: &Labels,
                st: Timestamp,
                t: Timestamp,
                v: f64,
            ) -> std::result::Result<SeriesRef, AppendError> {
                (**self).append_with_start(series, labels, st, t, v)
            }

            fn commit(&mut self) -> Result<()> {
                (**self).commit()
            }

            fn rollback(&mut self) -> Result<()> {
                (**self).rollback()
            }
        }

        impl<'a, T: SeriesSet<'a> + ?Sized> SeriesSet<'a> for $ptr {
            fn next(&mut self) -> Option<Series<'a>> {
                (**self).next()
            }

            fn err(&self) -> Option<&Error> {
                (**self).err()
            }

            fn warnings(&self) -> &[String] {
                (**self).warnings()
            }
        }

        impl<T: SampleIterator + ?Sized> SampleIterator for $ptr {
            fn next(&mut self) -> bool {
                (**self).next()
            }

            fn seek(&mut self, t: Timestamp) -> bool {
                (**self).seek(t)
            }

            fn at(&self) -> Sample {
                (**self).at()
            }

            fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
                (**self).read_until(maxt, out)
            }

            fn err(&self) -> Option<&Error> {
                (**self).err()
            }

            fn has_start_timestamps(&self) -> bool {
                (**self).has_start_timestamps()
            }

            fn start_timestamp(&self) -> Option<Timestamp> {
                (**self).start_timestamp()
            }
        }
    )*};
}

forward_unique!(&mut T, Box<T>);

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(ts: &[i64]) -> Vec<Sample> {
        ts.iter().map(|&t| Sample::new(t, t as f64)).collect()
    }

    #[test]
    fn next_then_exhaustion_is_sticky() {
        let mut it = ListSampleIterator::new(samples(&[1, 2]));
        assert_eq!(it.index(), None);
        assert!(it.next());
        assert_eq!((it.at().t, it.index()), (1, Some(0)));
        assert!(it.next());
        assert_eq!((it.at().t, it.index()), (2, Some(1)));
        assert!(!it.next());
        assert_eq!(it.index(), None);
        assert!(!it.has_start_timestamps() && it.start_timestamp().is_none());
        assert!(!it.next());
        assert!(!it.seek(i64::MIN));
        assert!(it.at().v.is_nan(), "at() after the end does not panic");
    }

    #[test]
    fn seek_never_moves_backwards() {
        let mut it = ListSampleIterator::new(samples(&[10, 20, 30, 40]));
        assert!(it.seek(15), "before next: first sample >= 15");
        assert_eq!(it.at().t, 20);
        assert!(it.seek(5), "already past 5: stays");
        assert_eq!(it.at().t, 20);
        assert!(it.seek(20), "exact hit stays");
        assert_eq!(it.at().t, 20);
        assert!(it.next());
        assert_eq!(it.at().t, 30);
        assert!(it.seek(40));
        assert_eq!(it.at().t, 40);
        assert!(!it.seek(41), "past the end");
        assert!(!it.seek(0), "legal and false after the end");
        assert!(!it.next());
    }

    #[test]
    fn seek_before_start_and_reset() {
        let mut it = ListSampleIterator::new(samples(&[10, 20]));
        assert!(it.seek(i64::MIN));
        assert_eq!(it.at().t, 10);
        assert!(!it.seek(i64::MAX));
        it.reset();
        assert!(it.next());
        assert_eq!(it.at().t, 10);

        let mut empty = ListSampleIterator::new(Vec::new());
        assert!(!empty.seek(0));
        assert!(!empty.next());
    }

    #[test]
    fn iterator_adapter_continues_from_position_and_fuses() {
        let mut it = ListSampleIterator::new(samples(&[1, 2, 3]));
        assert!(it.next());
        let mut rest = SampleIter::new(&mut it);
        assert_eq!(rest.next().map(|s| s.t), Some(2));
        assert_eq!(rest.next().map(|s| s.t), Some(3));
        assert_eq!(rest.next(), None);
        assert_eq!(rest.next(), None);
        assert!(rest.get_ref().err().is_none());
        let boxed: Box<dyn SampleIterator> = Box::new(ListSampleIterator::new(samples(&[7])));
        assert_eq!(boxed.into_sample_iter().count(), 1);
    }

    /// Only the required methods, so `read_until` is the trait's default.
    struct Plain(ListSampleIterator<Vec<Sample>>);

    impl SampleIterator for Plain {
        fn next(&mut self) -> bool {
            self.0.next()
        }
        fn seek(&mut self, t: Timestamp) -> bool {
            self.0.seek(t)
        }
        fn at(&self) -> Sample {
            self.0.at()
        }
    }

    /// Checks `read_until(maxt)` from the position `seek(from)` leaves, on `it`, against the
    /// at/next walk, then that the iterator continues where the walk would.
    fn check_read_until(mut it: impl SampleIterator, ts: &[i64], from: i64, maxt: i64) {
        let want: Vec<i64> = ts
            .iter()
            .copied()
            .filter(|&t| t >= from && t <= maxt)
            .collect();
        let next = ts.iter().copied().find(|&t| t >= from && t > maxt);
        let mut out = vec![Sample::new(-99, 0.0)];
        if !it.seek(from) {
            assert!(want.is_empty() && next.is_none());
            return;
        }
        let more = it.read_until(maxt, &mut out);
        let got: Vec<i64> = out[1..].iter().map(|s| s.t).collect();
        assert_eq!(out[0].t, -99, "existing contents kept");
        assert_eq!(got, want, "from {from} to {maxt}");
        assert_eq!(more, next.is_some());
        if let Some(n) = next {
            assert_eq!(it.at().t, n, "stops on the first sample past maxt");
            // Reading again with the same bound appends nothing and stays.
            assert!(it.read_until(maxt, &mut out));
            assert_eq!(out.len(), want.len() + 1);
            assert_eq!(it.at().t, n);
            let rest: Vec<i64> = ts.iter().copied().filter(|&t| t > n).collect();
            let mut walked = Vec::new();
            while it.next() {
                walked.push(it.at().t);
            }
            assert_eq!(walked, rest);
        } else {
            assert!(!it.next(), "exhausted stays exhausted");
            assert!(!it.seek(i64::MIN));
        }
    }

    #[test]
    fn read_until_default_and_list_override_match_the_walk() {
        let ts = [1, 2, 5, 9, 10, 20];
        for from in [0, 1, 3, 10, 20] {
            for maxt in [0, 1, 4, 9, 10, 19, 20, 100] {
                check_read_until(
                    Plain(ListSampleIterator::new(samples(&ts))),
                    &ts,
                    from,
                    maxt,
                );
                check_read_until(ListSampleIterator::new(samples(&ts)), &ts, from, maxt);
                let boxed: Box<dyn SampleIterator> =
                    Box::new(ListSampleIterator::new(samples(&ts)));
                check_read_until(boxed, &ts, from, maxt);
            }
        }
        // Seeking after a read continues from the stop.
        let mut it = Plain(ListSampleIterator::new(samples(&ts)));
        assert!(it.next());
        let mut out = Vec::new();
        assert!(it.read_until(5, &mut out));
        assert!(it.seek(10));
        assert!(!it.read_until(i64::MAX, &mut out));
        let got: Vec<i64> = out.iter().map(|s| s.t).collect();
        assert_eq!(got, [1, 2, 5, 10, 20]);
    }

    #[test]
    fn list_series_set() {
        let s = Series::new(
            Labels::from_pairs(&[("a", "1")]),
            ListSampleIterator::new(samples(&[1])),
        );
        assert_eq!(
            format!("{s:?}"),
            r#"Series { labels: Labels({a="1"}), .. }"#
        );
        let mut set = ListSeriesSet::new(vec![s]).with_warnings(vec!["partial".into()]);
        assert!(set.next().is_some());
        assert!(set.next().is_none());
        assert!(set.next().is_none());
        assert!(set.err().is_none());
        assert_eq!(set.warnings(), ["partial"]);

        let mut failed = ListSeriesSet::failed(Error::storage("boom"));
        let dynset: &mut dyn SeriesSet<'_> = &mut failed;
        assert!(dynset.next().is_none());
        assert_eq!(
            dynset.err().map(ToString::to_string).as_deref(),
            Some("storage: boom")
        );
    }

    #[test]
    fn traits_are_object_safe_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        fn assert_send<T: Send + ?Sized>() {}
        assert_send_sync::<dyn Appendable>();
        assert_send_sync::<dyn Queryable>();
        assert_send_sync::<dyn Querier>();
        assert_send::<dyn Appender>();
        assert_send::<dyn SeriesSet<'static>>();
        assert_send::<dyn SampleIterator>();
        assert_send::<Series<'static>>();
    }
}
