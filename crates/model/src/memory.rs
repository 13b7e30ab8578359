//! [`MemoryStorage`]: an in-memory reference implementation of the storage traits.
//!
//! It favours being obviously correct over being fast: series live in a `BTreeMap` behind one
//! `RwLock`, and a querier copies the samples of its time range when it is opened. Other crates
//! test their storages and consumers against it; do not use it for real workloads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{AppendError, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::storage::{
    Appendable, Appender, ListSampleIterator, ListSeriesSet, Querier, Queryable, SampleIterator,
    SelectHints, Series, SeriesRef, SeriesSet,
};
use crate::value::{Sample, Timestamp};

/// An in-memory storage implementing [`Appendable`] and [`Queryable`].
///
/// - Appends are buffered per appender and applied on commit; rollback or drop discards them.
/// - Out-of-order samples are rejected ([`AppendError::OutOfOrder`]); it has no out-of-order
///   window, so it never returns [`AppendError::TooOld`].
/// - Samples before the [minimum valid time](Self::with_min_valid_time) are rejected with
///   [`AppendError::OutOfBounds`].
/// - Queriers see a snapshot taken when they are opened, and always yield series sorted.
/// - Start timestamps given to [`Appender::append_with_start`] are kept and read back through
///   [`SampleIterator::start_timestamp`]; only series that have one pay for them.
///
/// ```
/// use prom_model::{labels, Matcher, MemoryStorage};
/// use prom_model::storage::{Appendable, Queryable};
///
/// let db = MemoryStorage::new();
/// let mut app = db.appender();
/// app.append(None, &labels!("__name__" => "up", "job" => "api"), 1000, 1.0)?;
/// app.commit()?;
///
/// let q = db.querier(0, 2000)?;
/// let mut set = q.select(true, None, &[Matcher::equal("job", "api")]);
/// let mut series = set.next().expect("one series");
/// assert_eq!(series.labels.to_string(), r#"up{job="api"}"#);
/// assert!(series.samples.next());
/// assert_eq!(series.samples.at().v, 1.0);
/// # Ok::<(), prom_model::Error>(())
/// ```
pub struct MemoryStorage {
    inner: RwLock<Inner>,
    min_valid_time: Timestamp,
}

#[derive(Default)]
struct Inner {
    /// Label set to index in `series`; ordered, so selecting sorted is free.
    by_labels: BTreeMap<Labels, usize>,
    /// Series in creation order; never removed, so an index stays valid. `SeriesRef` is
    /// index + 1.
    series: Vec<MemSeries>,
}

struct MemSeries {
    labels: Labels,
    /// Committed samples, strictly increasing in time.
    samples: Vec<Sample>,
    /// The start timestamp of each sample, beside `samples`; empty until the series gets its
    /// first sample with one.
    starts: Vec<Option<Timestamp>>,
}

fn series_ref(idx: usize) -> SeriesRef {
    SeriesRef(idx as u64 + 1)
}

impl MemoryStorage {
    /// An empty storage accepting samples of any timestamp.
    pub fn new() -> Self {
        MemoryStorage {
            inner: RwLock::new(Inner::default()),
            min_valid_time: Timestamp::MIN,
        }
    }

    /// The same storage, rejecting samples older than `t` with [`AppendError::OutOfBounds`]
    /// (as a TSDB head does below its minimum valid time). Default: accept any timestamp.
    pub fn with_min_valid_time(mut self, t: Timestamp) -> Self {
        self.min_valid_time = t;
        self
    }

    // The lock protects plain data that every writer leaves consistent before it could panic,
    // so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every series with at least one committed sample, sorted by labels, with its samples.
    pub fn series(&self) -> Vec<(Labels, Vec<Sample>)> {
        let inner = self.read();
        inner
            .by_labels
            .values()
            .filter_map(|&i| inner.series.get(i))
            .filter(|s| !s.samples.is_empty())
            .map(|s| (s.labels.clone(), s.samples.clone()))
            .collect()
    }

    /// The committed samples of the series `labels` (empty if there is no such series).
    pub fn samples(&self, labels: &Labels) -> Vec<Sample> {
        let inner = self.read();
        inner
            .by_labels
            .get(labels)
            .and_then(|&i| inner.series.get(i))
            .map(|s| s.samples.clone())
            .unwrap_or_default()
    }

    /// The index of the series `labels`, using `hint` if it names that series, creating the
    /// series if needed.
    fn resolve(
        &self,
        hint: Option<SeriesRef>,
        labels: &Labels,
    ) -> std::result::Result<usize, AppendError> {
        {
            let inner = self.read();
            let by_hint = hint
                .and_then(|SeriesRef(r)| usize::try_from(r).ok()?.checked_sub(1))
                .filter(|&i| inner.series.get(i).is_some_and(|s| &s.labels == labels));
            if let Some(idx) = by_hint {
                return Ok(idx);
            }
            if let Some(&idx) = inner.by_labels.get(labels) {
                return Ok(idx);
            }
        }
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let mut inner = self.write();
        if let Some(&idx) = inner.by_labels.get(labels) {
            return Ok(idx);
        }
        let idx = inner.series.len();
        inner.series.push(MemSeries {
            labels: labels.clone(),
            samples: Vec::new(),
            starts: Vec::new(),
        });
        inner.by_labels.insert(labels.clone(), idx);
        Ok(idx)
    }

    fn last_committed(&self, idx: usize) -> Option<Sample> {
        self.read()
            .series
            .get(idx)
            .and_then(|s| s.samples.last().copied())
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        MemoryStorage::new()
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("series", &self.read().series.len())
            .field("min_valid_time", &self.min_valid_time)
            .finish()
    }
}

impl Appendable for MemoryStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemoryAppender {
            storage: self,
            pending: Vec::new(),
            last_pending: HashMap::new(),
        })
    }
}

/// The appender of a [`MemoryStorage`].
struct MemoryAppender<'a> {
    storage: &'a MemoryStorage,
    /// Accepted samples in append order, by series index, with their start timestamps.
    pending: Vec<(usize, Sample, Option<Timestamp>)>,
    /// Newest pending sample per series, for the out-of-order and duplicate checks.
    last_pending: HashMap<usize, Sample>,
}

impl MemoryAppender<'_> {
    fn add(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        st: Option<Timestamp>,
        t: Timestamp,
        v: f64,
    ) -> std::result::Result<SeriesRef, AppendError> {
        if t < self.storage.min_valid_time {
            return Err(AppendError::OutOfBounds);
        }
        let idx = self.storage.resolve(series, labels)?;
        let last = self
            .last_pending
            .get(&idx)
            .copied()
            .or_else(|| self.storage.last_committed(idx));
        if let Some(last) = last {
            if t < last.t {
                return Err(AppendError::OutOfOrder);
            }
            if t == last.t {
                return if last.v.to_bits() == v.to_bits() {
                    Ok(series_ref(idx))
                } else {
                    Err(AppendError::DuplicateSampleForTimestamp)
                };
            }
        }
        let sample = Sample::new(t, v);
        self.pending.push((idx, sample, st));
        self.last_pending.insert(idx, sample);
        Ok(series_ref(idx))
    }
}

impl Appender for MemoryAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> std::result::Result<SeriesRef, AppendError> {
        self.add(series, labels, None, t, v)
    }

    fn append_with_start(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        st: Timestamp,
        t: Timestamp,
        v: f64,
    ) -> std::result::Result<SeriesRef, AppendError> {
        self.add(series, labels, Some(st), t, v)
    }

    fn commit(&mut self) -> Result<()> {
        self.last_pending.clear();
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut inner = self.storage.write();
        for (idx, sample, st) in self.pending.drain(..) {
            let Some(series) = inner.series.get_mut(idx) else {
                continue;
            };
            // Another appender may have committed newer samples since this one was checked;
            // such a sample is now out of order and is dropped, as the contract allows.
            if series.samples.last().is_none_or(|last| last.t < sample.t) {
                if st.is_some() || !series.starts.is_empty() {
                    series.starts.resize(series.samples.len(), None);
                    series.starts.push(st);
                }
                series.samples.push(sample);
            }
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.pending.clear();
        self.last_pending.clear();
        Ok(())
    }
}

impl Queryable for MemoryStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier + '_>> {
        let inner = self.read();
        let mut series = Vec::new();
        for &idx in inner.by_labels.values() {
            let Some(s) = inner.series.get(idx) else {
                continue;
            };
            let lo = s.samples.partition_point(|x| x.t < mint);
            let hi = s.samples.partition_point(|x| x.t <= maxt);
            if lo < hi {
                series.push(Snapshot {
                    labels: s.labels.clone(),
                    samples: Arc::from(&s.samples[lo..hi]),
                    starts: s.starts.get(lo..hi).map(Arc::from),
                });
            }
        }
        Ok(Box::new(MemoryQuerier { series }))
    }
}

/// One series as a querier sees it.
struct Snapshot {
    labels: Labels,
    samples: Arc<[Sample]>,
    /// The samples' start timestamps, if the series has any.
    starts: Option<Arc<[Option<Timestamp>]>>,
}

/// A snapshot of the series with samples in the querier's range, sorted by labels.
struct MemoryQuerier {
    series: Vec<Snapshot>,
}

/// The sample iterator of a series with start timestamps.
struct StartsIterator {
    samples: ListSampleIterator<Arc<[Sample]>>,
    starts: Arc<[Option<Timestamp>]>,
}

impl SampleIterator for StartsIterator {
    fn next(&mut self) -> bool {
        self.samples.next()
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        self.samples.seek(t)
    }

    fn at(&self) -> Sample {
        self.samples.at()
    }

    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        self.samples.read_until(maxt, out)
    }

    fn has_start_timestamps(&self) -> bool {
        true
    }

    fn start_timestamp(&self) -> Option<Timestamp> {
        self.samples
            .index()
            .and_then(|i| self.starts.get(i).copied().flatten())
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
}

impl MemoryQuerier {
    fn matching<'a>(&'a self, matchers: &'a [Matcher]) -> impl Iterator<Item = &'a Snapshot> + 'a {
        self.series
            .iter()
            .filter(move |s| matches_all(&s.labels, matchers))
    }
}

impl Querier for MemoryQuerier {
    /// Always sorted; ignores the hints.
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        let series = self
            .matching(matchers)
            .map(|s| {
                let samples = ListSampleIterator::new(Arc::clone(&s.samples));
                match &s.starts {
                    Some(starts) => Series::new(
                        s.labels.clone(),
                        StartsIterator {
                            samples,
                            starts: Arc::clone(starts),
                        },
                    ),
                    None => Series::new(s.labels.clone(), samples),
                }
            })
            .collect();
        Box::new(ListSeriesSet::new(series))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let names: BTreeSet<&str> = self
            .matching(matchers)
            .flat_map(|s| s.labels.iter().map(|l| l.name))
            .collect();
        Ok(names.into_iter().map(str::to_owned).collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let values: BTreeSet<&str> = self
            .matching(matchers)
            .filter_map(|s| s.labels.get(name))
            .collect();
        Ok(values.into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::labels;
    use crate::matcher::MatchType;
    use crate::storage::SampleIterator;
    use crate::value::stale_nan;
    use proptest::prelude::*;

    fn append_all(db: &MemoryStorage, rows: &[(&Labels, i64, f64)]) {
        let mut app = db.appender();
        for &(l, t, v) in rows {
            app.append(None, l, t, v).expect("accepted");
        }
        app.commit().expect("commit");
    }

    /// Every selected series with its samples, as plain data.
    fn select(
        db: &MemoryStorage,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Vec<(String, Vec<i64>)> {
        let q = db.querier(mint, maxt).expect("querier");
        let mut set = q.select(true, None, matchers);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let ts = s.samples.into_sample_iter().map(|x| x.t).collect();
            out.push((s.labels.to_string(), ts));
        }
        assert!(set.err().is_none());
        out
    }

    fn re(kind: MatchType, name: &str, value: &str) -> Matcher {
        Matcher::new(kind, name, value).expect("valid matcher")
    }

    #[test]
    fn samples_are_invisible_until_commit_and_rollback_discards() {
        let db = MemoryStorage::new();
        let a = labels!("__name__" => "a");
        let mut app = db.appender();
        let r = app.append(None, &a, 1, 1.0).expect("accepted");
        assert!(select(&db, 0, 10, &[]).is_empty(), "pending is invisible");
        app.rollback().expect("rollback");
        app.commit().expect("empty commit");
        assert!(select(&db, 0, 10, &[]).is_empty(), "rolled back");

        // The appender is reusable, and the cached ref works.
        assert_eq!(app.append(Some(r), &a, 2, 2.0), Ok(r));
        app.commit().expect("commit");
        assert_eq!(db.samples(&a), vec![Sample::new(2, 2.0)]);

        // Dropping without commit discards.
        let mut app = db.appender();
        app.append(None, &a, 3, 3.0).expect("accepted");
        drop(app);
        assert_eq!(db.samples(&a).len(), 1);
        assert_eq!(db.series().len(), 1);
    }

    #[test]
    fn stale_or_wrong_refs_fall_back_to_labels() {
        let db = MemoryStorage::new();
        let a = labels!("x" => "a");
        let b = labels!("x" => "b");
        let mut app = db.appender();
        let ra = app.append(None, &a, 1, 1.0).expect("accepted");
        let rb = app
            .append(Some(SeriesRef(999)), &b, 1, 1.0)
            .expect("accepted");
        assert_ne!(ra, rb);
        // A ref of another series does not redirect the sample.
        assert_eq!(app.append(Some(ra), &b, 2, 2.0), Ok(rb));
        assert_eq!(app.append(Some(SeriesRef(0)), &a, 2, 2.0), Ok(ra));
        app.commit().expect("commit");
        assert_eq!(db.samples(&b).len(), 2);
        assert_eq!(db.samples(&a).len(), 2);
    }

    #[test]
    fn rejections_do_not_poison_the_appender() {
        let db = MemoryStorage::new().with_min_valid_time(100);
        let s = labels!("__name__" => "s");
        append_all(&db, &[(&s, 200, 1.0)]);

        let mut app = db.appender();
        assert_eq!(app.append(None, &s, 150, 1.0), Err(AppendError::OutOfOrder));
        assert_eq!(
            app.append(None, &s, 200, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert!(
            app.append(None, &s, 200, 1.0).is_ok(),
            "same value is accepted"
        );
        assert_eq!(app.append(None, &s, 50, 1.0), Err(AppendError::OutOfBounds));
        assert_eq!(
            app.append(None, &Labels::new(), 300, 1.0),
            Err(AppendError::EmptyLabels)
        );
        assert!(app.append(None, &s, 300, 3.0).is_ok());
        // Checks also apply against the pending batch.
        assert_eq!(app.append(None, &s, 250, 1.0), Err(AppendError::OutOfOrder));
        assert_eq!(
            app.append(None, &s, 300, 4.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert!(app.append(None, &s, 300, 3.0).is_ok());
        app.commit().expect("commit");
        assert_eq!(
            db.samples(&s),
            vec![Sample::new(200, 1.0), Sample::new(300, 3.0)]
        );
        let err: Error = AppendError::OutOfOrder.into();
        assert!(matches!(err, Error::Append(AppendError::OutOfOrder)));
    }

    #[test]
    fn duplicates_compare_bits() {
        let db = MemoryStorage::new();
        let s = labels!("__name__" => "s");
        append_all(&db, &[(&s, 1, stale_nan())]);
        let mut app = db.appender();
        assert!(app.append(None, &s, 1, stale_nan()).is_ok());
        assert_eq!(
            app.append(None, &s, 1, f64::NAN),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        app.commit().expect("commit");
        assert_eq!(db.samples(&s).len(), 1);
    }

    #[test]
    fn concurrent_commits_drop_what_became_out_of_order() {
        let db = MemoryStorage::new();
        let s = labels!("__name__" => "s");
        let mut first = db.appender();
        let mut second = db.appender();
        first.append(None, &s, 10, 1.0).expect("accepted");
        second.append(None, &s, 20, 2.0).expect("accepted");
        second.commit().expect("commit");
        first.commit().expect("commit");
        assert_eq!(db.samples(&s), vec![Sample::new(20, 2.0)]);
    }

    #[test]
    fn querier_is_a_snapshot() {
        let db = MemoryStorage::new();
        let s = labels!("__name__" => "s");
        append_all(&db, &[(&s, 1, 1.0)]);
        let q = db.querier(0, 10).expect("querier");
        append_all(&db, &[(&s, 2, 2.0)]);
        let mut set = q.select(false, None, &[]);
        let series = set.next().expect("series");
        assert_eq!(series.samples.into_sample_iter().count(), 1);
        assert_eq!(select(&db, 0, 10, &[]).first().map(|s| s.1.len()), Some(2));
    }

    fn fixture() -> MemoryStorage {
        let db = MemoryStorage::new();
        let rows = [
            labels!("__name__" => "up", "job" => "api", "env" => "prod"),
            labels!("__name__" => "up", "job" => "db"),
            labels!("__name__" => "up", "job" => "api", "env" => "dev"),
            labels!("__name__" => "my.metric", "env" => "a\nb"),
        ];
        let mut app = db.appender();
        for (i, l) in rows.iter().enumerate() {
            for t in [10, 20, 30] {
                app.append(None, l, t + i as i64, 1.0).expect("accepted");
            }
        }
        app.commit().expect("commit");
        drop(app);
        db
    }

    fn names(v: &[(String, Vec<i64>)]) -> Vec<&str> {
        v.iter().map(|(l, _)| l.as_str()).collect()
    }

    #[test]
    fn select_with_each_matcher_kind() {
        let db = fixture();
        let all = select(&db, i64::MIN, i64::MAX, &[]);
        assert_eq!(
            names(&all),
            [
                r#"{"my.metric", env="a\nb"}"#,
                r#"up{env="dev", job="api"}"#,
                r#"up{env="prod", job="api"}"#,
                r#"up{job="db"}"#,
            ],
            "sorted by labels"
        );

        let eq = select(&db, 0, 100, &[Matcher::equal("job", "api")]);
        assert_eq!(eq.len(), 2);
        let ne = select(&db, 0, 100, &[Matcher::not_equal("job", "api")]);
        assert_eq!(
            names(&ne),
            [r#"{"my.metric", env="a\nb"}"#, r#"up{job="db"}"#]
        );
        let rx = select(&db, 0, 100, &[re(MatchType::RegexMatch, "env", "p.*|a.b")]);
        assert_eq!(
            names(&rx),
            [
                r#"{"my.metric", env="a\nb"}"#,
                r#"up{env="prod", job="api"}"#
            ],
            "dot matches newline"
        );
        let nrx = select(&db, 0, 100, &[re(MatchType::RegexNoMatch, "env", "d.*")]);
        assert_eq!(nrx.len(), 3);
        let both = select(
            &db,
            0,
            100,
            &[
                Matcher::equal("__name__", "up"),
                re(MatchType::RegexMatch, "job", "api|db"),
            ],
        );
        assert_eq!(both.len(), 3);
    }

    #[test]
    fn empty_value_matchers_select_missing_labels() {
        let db = fixture();
        // env="" selects the series without env.
        let missing = select(&db, 0, 100, &[Matcher::equal("env", "")]);
        assert_eq!(names(&missing), [r#"up{job="db"}"#]);
        // env!="" selects those with it.
        assert_eq!(
            select(&db, 0, 100, &[Matcher::not_equal("env", "")]).len(),
            3
        );
        // =~".*" matches everything, =~".+" only series with the label.
        assert_eq!(
            select(&db, 0, 100, &[re(MatchType::RegexMatch, "env", ".*")]).len(),
            4
        );
        assert_eq!(
            select(&db, 0, 100, &[re(MatchType::RegexMatch, "env", ".+")]).len(),
            3
        );
        // A label nobody has: != something matches all, = something nothing.
        assert_eq!(
            select(&db, 0, 100, &[Matcher::not_equal("nope", "x")]).len(),
            4
        );
        assert!(select(&db, 0, 100, &[Matcher::equal("nope", "x")]).is_empty());
        assert_eq!(
            select(&db, 0, 100, &[re(MatchType::RegexNoMatch, "nope", "x|y")]).len(),
            4
        );
    }

    #[test]
    fn time_range_is_inclusive() {
        let db = fixture();
        let r = select(&db, 20, 30, &[Matcher::equal("job", "db")]);
        assert_eq!(r, vec![(r#"up{job="db"}"#.to_string(), vec![21])]);
        let r = select(&db, 10, 10, &[]);
        assert_eq!(
            r,
            vec![(r#"up{env="prod", job="api"}"#.to_string(), vec![10])]
        );
        assert!(
            select(&db, 40, 100, &[]).is_empty(),
            "no samples, no series"
        );
        assert!(
            select(&db, 30, 10, &[]).is_empty(),
            "mint > maxt selects nothing"
        );
    }

    #[test]
    fn seek_through_a_selected_series() {
        let db = MemoryStorage::new();
        let s = labels!("__name__" => "s");
        let rows: Vec<_> = (0..10).map(|i| (&s, i * 10, i as f64)).collect();
        append_all(&db, &rows);
        let q = db.querier(15, 75).expect("querier");
        let mut set = q.select(true, None, &[]);
        let mut it = set.next().expect("series").samples;
        assert!(
            it.seek(0),
            "seek before the range lands on its first sample"
        );
        assert_eq!(it.at(), Sample::new(20, 2.0));
        assert!(it.seek(41));
        assert_eq!(it.at().t, 50);
        assert!(it.seek(30), "never backwards");
        assert_eq!(it.at().t, 50);
        assert!(it.next());
        assert_eq!(it.at().t, 60);
        assert!(it.seek(70));
        assert!(!it.next(), "80 is outside the querier's range");
        assert!(!it.seek(0), "after the end");
        assert!(!it.next());
        assert!(set.next().is_none());
    }

    #[test]
    fn start_timestamps_are_kept_beside_their_samples() {
        let db = MemoryStorage::new();
        let with = labels!("__name__" => "with");
        let without = labels!("__name__" => "without");
        let mut app = db.appender();
        // A plain sample first: the series only starts keeping starts with its first one.
        app.append(None, &with, 10, 1.0).expect("accepted");
        app.append_with_start(None, &with, 15, 20, 2.0)
            .expect("accepted");
        app.append(None, &with, 30, 3.0).expect("accepted");
        app.append_with_start(None, &with, 5, 40, 4.0)
            .expect("accepted");
        assert_eq!(
            app.append_with_start(None, &with, 0, 35, 9.0),
            Err(AppendError::OutOfOrder),
            "the start does not take part in the order check"
        );
        app.append(None, &without, 10, 1.0).expect("accepted");
        let first = labels!("__name__" => "first");
        app.append_with_start(None, &first, 1, 20, 1.0)
            .expect("accepted");
        app.append(None, &first, 30, 2.0).expect("accepted");
        app.commit().expect("commit");

        let q = db.querier(15, 100).expect("querier");
        let mut set = q.select(true, None, &[]);
        let mut it = set.next().expect("series `first`").samples;
        let mut got = Vec::new();
        while it.next() {
            got.push((it.at().t, it.start_timestamp()));
        }
        assert_eq!(
            got,
            [(20, Some(1)), (30, None)],
            "a start on the first sample"
        );
        let mut it = set.next().expect("series `with`").samples;
        assert!(it.has_start_timestamps());
        assert_eq!(it.start_timestamp(), None, "before the first sample");
        let mut got = Vec::new();
        while it.next() {
            got.push((it.at().t, it.start_timestamp()));
        }
        assert_eq!(got, [(20, Some(15)), (30, None), (40, Some(5))]);
        assert_eq!(it.start_timestamp(), None, "after the end");
        // Through `seek` and `read_until` the index follows as well.
        let all = db.querier(0, 100).expect("querier");
        let mut it = all
            .select(true, None, &[Matcher::equal("__name__", "with")])
            .next()
            .expect("series")
            .samples;
        assert!(it.seek(11));
        assert_eq!(it.start_timestamp(), Some(15));
        let mut out = Vec::new();
        assert!(it.read_until(30, &mut out));
        assert_eq!((it.at().t, it.start_timestamp()), (40, Some(5)));

        assert!(set.next().is_none(), "`without` has no sample from 15 on");
        let it = all
            .select(true, None, &[Matcher::equal("__name__", "without")])
            .next()
            .expect("series `without`")
            .samples;
        assert!(
            !it.has_start_timestamps(),
            "series without starts pay nothing"
        );
        assert_eq!(it.start_timestamp(), None);
    }

    #[test]
    fn label_names_and_values_follow_matchers_and_range() {
        let db = fixture();
        let q = db.querier(0, 100).expect("querier");
        assert_eq!(
            q.label_names(&[]).expect("names"),
            ["__name__", "env", "job"]
        );
        assert_eq!(
            q.label_names(&[Matcher::equal("job", "db")])
                .expect("names"),
            ["__name__", "job"]
        );
        assert_eq!(
            q.label_values("env", &[]).expect("values"),
            ["a\nb", "dev", "prod"]
        );
        assert_eq!(
            q.label_values("env", &[Matcher::equal("__name__", "up")])
                .expect("values"),
            ["dev", "prod"]
        );
        assert!(q.label_values("nope", &[]).expect("values").is_empty());
        let late = db.querier(33, 100).expect("querier");
        // Only the series appended last (timestamps offset by 3) has samples from 33 on.
        assert_eq!(
            late.label_values("__name__", &[]).expect("values"),
            ["my.metric"]
        );
    }

    #[test]
    fn usable_through_trait_objects() {
        let db: Arc<dyn Appendable> = Arc::new(MemoryStorage::new());
        let mut app = db.appender();
        app.append(None, &labels!("a" => "b"), 1, 1.0)
            .expect("accepted");
        app.commit().expect("commit");
        let db = MemoryStorage::new();
        let shared: Arc<dyn Queryable> = Arc::new(db);
        let q = shared.querier(0, 1).expect("querier");
        assert!(q.select(true, None, &[]).next().is_none());
        assert_eq!(
            format!("{:?}", MemoryStorage::new()),
            "MemoryStorage { series: 0, min_valid_time: -9223372036854775808 }"
        );
    }

    // Property: select, label_names and label_values agree with brute-force filtering.

    const NAMES: [&str; 4] = ["__name__", "a", "b", "c"];
    const VALUES: [&str; 10] = ["", "x", "y", "xy", "x|y", "x.*", ".*", ".+", "a\nb", ".*y"];

    fn label_set() -> impl Strategy<Value = Vec<(usize, usize)>> {
        proptest::collection::vec((0..3usize, 0..5usize), 0..4)
    }

    fn matcher() -> impl Strategy<Value = (MatchType, usize, usize)> {
        (
            prop_oneof![
                Just(MatchType::Equal),
                Just(MatchType::NotEqual),
                Just(MatchType::RegexMatch),
                Just(MatchType::RegexNoMatch),
            ],
            0..NAMES.len(),
            0..VALUES.len(),
        )
    }

    fn oracle(kind: MatchType, pattern: &str, value: &str) -> bool {
        let positive = match kind {
            MatchType::Equal | MatchType::NotEqual => value == pattern,
            MatchType::RegexMatch | MatchType::RegexNoMatch => {
                regex::Regex::new(&format!("^(?s:{pattern})$"))
                    .expect("valid")
                    .is_match(value)
            }
        };
        positive != kind.is_negative()
    }

    proptest! {
        #[test]
        fn select_agrees_with_brute_force(
            sets in proptest::collection::vec((label_set(), proptest::collection::btree_set(0i64..20, 1..5)), 0..12),
            ms in proptest::collection::vec(matcher(), 0..3),
            mint in 0i64..20,
            len in 0i64..20,
        ) {
            let maxt = mint + len - 5; // sometimes mint > maxt
            // The model: unique label sets (first occurrence wins) and their timestamps.
            let mut model: BTreeMap<Labels, Vec<i64>> = BTreeMap::new();
            for (pairs, ts) in &sets {
                let ls: Labels = pairs.iter().map(|&(n, v)| (NAMES[n], VALUES[v])).collect();
                if ls.is_empty() {
                    continue;
                }
                model.entry(ls).or_insert_with(|| ts.iter().copied().collect());
            }
            let db = MemoryStorage::new();
            let mut app = db.appender();
            for (ls, ts) in &model {
                for &t in ts {
                    prop_assert!(app.append(None, ls, t, t as f64).is_ok());
                }
            }
            app.commit().expect("commit");

            let matchers: Vec<Matcher> = ms.iter().map(|&(k, n, v)| re(k, NAMES[n], VALUES[v])).collect();
            let expected: Vec<(Labels, Vec<i64>)> = model
                .iter()
                .filter(|(ls, _)| ms.iter().all(|&(k, n, v)| oracle(k, VALUES[v], ls.get(NAMES[n]).unwrap_or(""))))
                .map(|(ls, ts)| (ls.clone(), ts.iter().copied().filter(|t| (mint..=maxt).contains(t)).collect::<Vec<_>>()))
                .filter(|(_, ts)| !ts.is_empty())
                .collect();

            let q = db.querier(mint, maxt).expect("querier");
            let mut set = q.select(true, None, &matchers);
            let mut got = Vec::new();
            while let Some(s) = set.next() {
                got.push((s.labels, s.samples.into_sample_iter().map(|x| x.t).collect::<Vec<_>>()));
            }
            prop_assert_eq!(&got, &expected);

            let want_names: BTreeSet<String> = expected.iter().flat_map(|(l, _)| l.iter().map(|l| l.name.to_owned())).collect();
            prop_assert_eq!(q.label_names(&matchers).expect("names"), want_names.into_iter().collect::<Vec<_>>());
            let want_values: BTreeSet<String> = expected.iter().filter_map(|(l, _)| l.get("a").map(str::to_owned)).collect();
            prop_assert_eq!(q.label_values("a", &matchers).expect("values"), want_values.into_iter().collect::<Vec<_>>());
        }
    }
}
