//! Query statistics: how many samples a query read from storage, where on its time grid,
//! and how long its phases took. Collected only when asked for
//! ([`Engine::instant_with_stats`](super::Engine::instant_with_stats)), by wrapping the query's
//! [`Querier`] so the evaluator itself does not change.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prom_model::{Error, Matcher, Querier, Sample, SampleIterator, SelectHints, Series};
use prom_model::{SeriesSet, Timestamp};

use super::eval::Grid;

/// What one query read and how long it took, as Prometheus reports under `stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    /// Samples read from storage (each counted once, whatever number of windows it fell in).
    pub total_queryable_samples: u64,
    /// The same samples by step: `(step time in milliseconds, count)` for every step of the
    /// query, a sample counted at the first step whose evaluation time is at or after it
    /// (samples before the first step at the first, after the last at the last). The counts add
    /// up to [`total_queryable_samples`](Self::total_queryable_samples).
    pub total_queryable_samples_per_step: Vec<(Timestamp, u64)>,
    /// The most samples the query held, as counted against
    /// [`EngineOptions::max_samples`](super::EngineOptions::max_samples).
    pub peak_samples: u64,
    /// Opening the storage over the query's range and checking the query before evaluation.
    pub preparation_time: Duration,
    /// Evaluating the expression.
    pub inner_eval_time: Duration,
    /// Sorting and shaping the result.
    pub result_sort_time: Duration,
}

/// The counts shared by every series of one query, read on whatever thread reads a series.
#[derive(Debug)]
pub(crate) struct SampleCounter {
    grid: Grid,
    total: AtomicU64,
    per_step: Mutex<Vec<u64>>,
}

impl SampleCounter {
    pub fn new(grid: Grid) -> Self {
        SampleCounter {
            grid,
            total: AtomicU64::new(0),
            per_step: Mutex::new(vec![0; grid.n.max(1)]),
        }
    }

    /// The step a sample at `t` is counted at.
    fn step_of(&self, t: Timestamp) -> usize {
        let g = self.grid;
        if t <= g.start {
            return 0;
        }
        let i = ((t - g.start + g.step - 1) / g.step) as usize;
        i.min(g.n.max(1) - 1)
    }

    fn count(&self, samples: &[Sample]) {
        if samples.is_empty() {
            return;
        }
        self.total
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        let mut per_step = self.per_step.lock().unwrap_or_else(|p| p.into_inner());
        if self.grid.n <= 1 {
            per_step[0] += samples.len() as u64;
            return;
        }
        for s in samples {
            per_step[self.step_of(s.t)] += 1;
        }
    }

    /// The counts into `stats`.
    pub fn finish(&self, stats: &mut QueryStats) {
        stats.total_queryable_samples = self.total.load(Ordering::Relaxed);
        let per_step = self.per_step.lock().unwrap_or_else(|p| p.into_inner());
        stats.total_queryable_samples_per_step = per_step
            .iter()
            .enumerate()
            .map(|(i, &n)| (self.grid.t(i), n))
            .collect();
    }
}

/// A querier whose sample iterators count what they hand out.
pub(crate) struct CountingQuerier<'q> {
    pub inner: Box<dyn Querier + 'q>,
    pub counter: &'q SampleCounter,
}

impl Querier for CountingQuerier<'_> {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        Box::new(CountingSet {
            inner: self.inner.select(sorted, hints, matchers),
            counter: self.counter,
        })
    }

    fn label_names(&self, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        self.inner.label_names(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        self.inner.label_values(name, matchers)
    }
}

struct CountingSet<'a> {
    inner: Box<dyn SeriesSet<'a> + 'a>,
    counter: &'a SampleCounter,
}

impl<'a> SeriesSet<'a> for CountingSet<'a> {
    fn next(&mut self) -> Option<Series<'a>> {
        let s = self.inner.next()?;
        Some(Series::new(
            s.labels,
            CountingIter {
                inner: s.samples,
                counter: self.counter,
            },
        ))
    }

    fn err(&self) -> Option<&Error> {
        self.inner.err()
    }

    fn warnings(&self) -> &[String] {
        self.inner.warnings()
    }
}

struct CountingIter<'a> {
    inner: Box<dyn SampleIterator + 'a>,
    counter: &'a SampleCounter,
}

impl SampleIterator for CountingIter<'_> {
    fn next(&mut self) -> bool {
        self.inner.next()
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        self.inner.seek(t)
    }

    fn at(&self) -> Sample {
        self.inner.at()
    }

    fn err(&self) -> Option<&Error> {
        self.inner.err()
    }

    fn has_start_timestamps(&self) -> bool {
        self.inner.has_start_timestamps()
    }

    fn start_timestamp(&self) -> Option<Timestamp> {
        self.inner.start_timestamp()
    }

    // The evaluator reads every series with `seek` then one `read_until` (`eval::read_series`):
    // what it appends is what the query read, so only this call counts.
    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        let from = out.len();
        let more = self.inner.read_until(maxt, out);
        self.counter.count(&out[from..]);
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_count_at_the_first_step_that_sees_them() {
        let c = SampleCounter::new(Grid::new(1000, 3000, 1000));
        let at = |t| Sample::new(t, 0.0);
        c.count(&[at(500), at(1000), at(1001), at(2000), at(2500), at(9000)]);
        let mut s = QueryStats::default();
        c.finish(&mut s);
        assert_eq!(s.total_queryable_samples, 6);
        assert_eq!(
            s.total_queryable_samples_per_step,
            vec![(1000, 2), (2000, 2), (3000, 2)]
        );
    }

    #[test]
    fn the_engine_counts_what_its_selectors_read() {
        use prom_model::{Appendable, Labels, MemoryStorage};
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        for (job, n) in [("a", 10), ("b", 4)] {
            let labels = Labels::from_pairs(&[("__name__", "up"), ("job", job)]);
            for i in 0..n {
                app.append(None, &labels, i * 10_000, 1.0).unwrap();
            }
        }
        app.commit().unwrap();
        let engine = crate::Engine::default();
        let expr = crate::parse("sum(rate(up[1m]))").unwrap();
        let (plain, s) = engine
            .range_with_stats(&storage, &expr, 0, 90_000, 30_000)
            .unwrap();
        assert_eq!(
            plain,
            engine.range(&storage, &expr, 0, 90_000, 30_000).unwrap()
        );
        // Every sample of both series lies in (start - 1m, end].
        assert_eq!(s.total_queryable_samples, 14);
        assert_eq!(
            s.total_queryable_samples_per_step,
            vec![(0, 2), (30_000, 6), (60_000, 3), (90_000, 3)]
        );
        assert!(s.peak_samples > 0);
        let (_, s) = engine
            .instant_with_stats(&storage, &crate::parse("up").unwrap(), 35_000)
            .unwrap();
        // The lookback window (35s - 5m, 35s] holds samples 0..=30s of both series.
        assert_eq!(s.total_queryable_samples, 8);
        assert_eq!(s.total_queryable_samples_per_step, vec![(35_000, 8)]);
    }
}
