//! One target's scrapes: turning a fetched exposition into appended samples.
//!
//! [`Scraper`] is the synchronous heart of a scrape loop: it parses the body, maps each series
//! through a cache (series text → labels after `honor_labels` and `metric_relabel_configs`,
//! plus the storage's series reference), enforces the limits, appends through an
//! [`Appender`], writes staleness markers for series that vanished, and appends the report
//! series (`up`, `scrape_duration_seconds`, …). In a steady-state scrape a sample costs one
//! comparison of its text with the cached key the previous sample's was followed by (a hash
//! lookup when the target's order changed): labels are parsed and relabeled only the first
//! time a series is seen.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prom_exposition::{Entry, Format, Parser};
use prom_model::storage::{Appender, SeriesRef};
use prom_model::value::stale_nan;
use prom_model::{AppendError, Labels, LabelsBuilder, METRIC_NAME, MetricType};

use crate::cache::SeriesCache;
use crate::config::ScrapeConfig;
use crate::relabel;
use crate::target::Target;

/// Why a scrape failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeError {
    /// The HTTP request failed, timed out or returned a non-200 status.
    Http(String),
    /// The body was larger than `body_size_limit`.
    BodySizeLimit(u64),
    /// The exposition does not parse (line:col and why).
    Parse(String),
    /// The Content-Type cannot be used and there is no usable fallback.
    ContentType(String),
    /// More samples than `sample_limit` after relabeling.
    SampleLimit(u64),
    /// A label limit was exceeded.
    LabelLimit(String),
    /// More targets in the job than `target_limit`.
    TargetLimit(String),
    /// The storage failed to commit.
    Storage(String),
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Http(e) | ScrapeError::Parse(e) | ScrapeError::ContentType(e) => {
                f.write_str(e)
            }
            ScrapeError::BodySizeLimit(limit) => {
                write!(f, "body size limit exceeded (limit: {limit} bytes)")
            }
            ScrapeError::SampleLimit(limit) => write!(f, "sample limit exceeded (limit: {limit})"),
            ScrapeError::LabelLimit(e) | ScrapeError::TargetLimit(e) => f.write_str(e),
            ScrapeError::Storage(e) => write!(f, "storage: {e}"),
        }
    }
}

impl std::error::Error for ScrapeError {}

/// What one scrape appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Samples in the exposition.
    pub scraped: u64,
    /// Samples left after `metric_relabel_configs`.
    pub post_relabel: u64,
    /// Series seen for the first time (new in the cache).
    pub series_added: u64,
    /// Samples the storage refused, by reason. They are dropped and the rest of the scrape
    /// is kept.
    pub rejected: Rejected,
    /// Staleness markers written for series that vanished.
    pub stale_markers: u64,
}

/// The samples of one scrape that the storage refused, by reason (Prometheus exports the
/// first three as `prometheus_target_scrapes_sample_{out_of_order,out_of_bounds,
/// duplicate_timestamp}_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rejected {
    /// Older than the series' newest sample ([`AppendError::OutOfOrder`]).
    pub out_of_order: u64,
    /// Older than the oldest time the storage still accepts writes for
    /// ([`AppendError::OutOfBounds`]).
    pub out_of_bounds: u64,
    /// A different value for a timestamp the series already has
    /// ([`AppendError::DuplicateSampleForTimestamp`]).
    pub duplicate_timestamp: u64,
    /// Any other reason (too old for the out-of-order window, an empty label set).
    pub other: u64,
}

impl Rejected {
    /// Counts one refusal.
    pub fn count(&mut self, e: AppendError) {
        let n = match e {
            AppendError::OutOfOrder => &mut self.out_of_order,
            AppendError::OutOfBounds => &mut self.out_of_bounds,
            AppendError::DuplicateSampleForTimestamp => &mut self.duplicate_timestamp,
            _ => &mut self.other,
        };
        *n += 1;
    }

    /// Every refusal, whatever its reason.
    pub fn total(&self) -> u64 {
        self.out_of_order + self.out_of_bounds + self.duplicate_timestamp + self.other
    }
}

/// Metadata a target exposed for a metric family (for the metadata APIs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `# TYPE`.
    pub metric_type: Option<MetricType>,
    /// `# HELP`.
    pub help: String,
    /// `# UNIT`.
    pub unit: String,
}

#[derive(Debug)]
struct CacheEntry {
    /// `None` when relabeling drops the series.
    labels: Option<Labels>,
    sref: Option<SeriesRef>,
    /// The scrape iteration that last saw the series.
    seen: u64,
    /// The value of `seen` before the current scrape (restored if the scrape fails).
    prev_seen: u64,
    /// Whether it was last seen with an explicit timestamp (no staleness tracking then).
    explicit_ts: bool,
    /// Whether the text format's parser accepted the series text (so its fast path may be
    /// used for it; see [`Parser::next_sample_of`]).
    text_ok: bool,
}

/// Appends one sample of a cached series.
#[allow(clippy::too_many_arguments)]
#[inline]
fn feed(
    e: &mut CacheEntry,
    app: &mut dyn Appender,
    iter: u64,
    explicit: bool,
    ts: i64,
    v: f64,
    stats: &mut ScrapeStats,
    sample_limit: u64,
) -> Result<(), ScrapeError> {
    if e.seen != iter {
        e.prev_seen = e.seen;
        e.seen = iter;
    }
    e.explicit_ts = explicit;
    let Some(labels) = &e.labels else {
        return Ok(());
    };
    stats.post_relabel += 1;
    if sample_limit > 0 && stats.post_relabel > sample_limit {
        return Err(ScrapeError::SampleLimit(sample_limit));
    }
    match app.append(e.sref, labels, ts, v) {
        Ok(r) => e.sref = Some(r),
        Err(err) => stats.rejected.count(err),
    }
    Ok(())
}

/// The synchronous part of a target's scrape loop.
#[derive(Debug)]
pub struct Scraper {
    cfg: Arc<ScrapeConfig>,
    /// The labels every series of the target gets (`job`, `instance`, …).
    target_labels: Labels,
    cache: SeriesCache<CacheEntry>,
    report: HashMap<&'static str, (Labels, Option<SeriesRef>)>,
    metadata: HashMap<String, Metadata>,
    iter: u64,
    lb: LabelsBuilder,
    /// What the storage refused during the last `append`, successful or not.
    last_rejected: Rejected,
}

/// The report series and what they say.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Report series added with `extra_scrape_metrics`.
const EXTRA_REPORT_NAMES: [&str; 3] = [
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
];

impl Scraper {
    /// A scraper for `target` of the job `cfg`.
    pub fn new(cfg: Arc<ScrapeConfig>, target: &Target) -> Scraper {
        let target_labels = target.series_labels();
        let mut report = HashMap::new();
        for name in REPORT_NAMES.iter().chain(EXTRA_REPORT_NAMES.iter()) {
            let mut lb = LabelsBuilder::from(&target_labels);
            lb.set(METRIC_NAME, name);
            report.insert(*name, (lb.build(), None));
        }
        Scraper {
            cfg,
            target_labels,
            cache: SeriesCache::default(),
            report,
            metadata: HashMap::new(),
            iter: 0,
            lb: LabelsBuilder::new(),
            last_rejected: Rejected::default(),
        }
    }

    /// The number of series in the cache.
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }

    /// The metadata the target exposed, by metric family.
    pub fn metadata(&self) -> &HashMap<String, Metadata> {
        &self.metadata
    }

    /// The labels of a new series: exposed labels merged with the target's, relabeled.
    fn series_labels(
        &mut self,
        s: &prom_exposition::Sample<'_>,
    ) -> Result<Option<Labels>, ScrapeError> {
        let lb = &mut self.lb;
        *lb = LabelsBuilder::new();
        lb.set(METRIC_NAME, &s.name);
        for l in s.labels.iter() {
            lb.set(&l.name, &l.value);
        }
        if self.cfg.metric_name_validation_scheme == "legacy" {
            let bad_name = !prom_model::is_valid_legacy_metric_name(&s.name);
            let bad_label = s
                .labels
                .iter()
                .any(|l| !prom_model::is_valid_legacy_label_name(&l.name));
            if bad_name || bad_label {
                return Err(ScrapeError::Parse(format!(
                    "invalid metric name or label names: {}",
                    s.series
                )));
            }
        }
        if self.cfg.honor_labels {
            for l in self.target_labels.iter() {
                if lb.get(l.name).unwrap_or("").is_empty() {
                    lb.set(l.name, l.value);
                }
            }
        } else {
            let mut conflicts: Vec<(String, String)> = Vec::new();
            for l in self.target_labels.iter() {
                if let Some(v) = lb.get(l.name).filter(|v| !v.is_empty()) {
                    conflicts.push((l.name.to_owned(), v.to_owned()));
                }
                lb.set(l.name, l.value);
            }
            conflicts.sort_by_key(|(n, _)| n.len());
            for (name, value) in conflicts {
                let mut new = name;
                loop {
                    new = format!("exported_{new}");
                    if lb.get(&new).is_none() {
                        lb.set(&new, &value);
                        break;
                    }
                }
            }
        }
        if !relabel::process(lb, &self.cfg.metric_relabel_configs) {
            return Ok(None);
        }
        let labels = lb.build();
        if labels.is_empty() || labels.get(METRIC_NAME).is_none_or(str::is_empty) {
            return Ok(None);
        }
        self.check_label_limits(&labels)?;
        Ok(Some(labels))
    }

    fn check_label_limits(&self, labels: &Labels) -> Result<(), ScrapeError> {
        let l = &self.cfg.limits;
        let metric: String = labels
            .metric_name()
            .unwrap_or("")
            .chars()
            .take(50)
            .collect();
        if l.label_limit > 0 && labels.len() as u64 > l.label_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
                labels.len(),
                l.label_limit
            )));
        }
        for x in labels.iter() {
            if l.label_name_length_limit > 0 && x.name.len() as u64 > l.label_name_length_limit {
                let name: String = x.name.chars().take(50).collect();
                return Err(ScrapeError::LabelLimit(format!(
                    "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {}, limit: {})",
                    x.name.len(),
                    l.label_name_length_limit
                )));
            }
            if l.label_value_length_limit > 0 && x.value.len() as u64 > l.label_value_length_limit {
                let value: String = x.value.chars().take(50).collect();
                return Err(ScrapeError::LabelLimit(format!(
                    "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {value:?}, length: {}, limit: {})",
                    x.name,
                    x.value.len(),
                    l.label_value_length_limit
                )));
            }
        }
        Ok(())
    }

    /// The samples the storage refused during the last [`append`](Self::append), whether or
    /// not it succeeded: a failed scrape is rolled back, but the samples refused before it
    /// failed were refused all the same, and Prometheus counts them too.
    pub fn last_rejected(&self) -> Rejected {
        self.last_rejected
    }

    /// Appends one scrape's body at time `t` (ms). A sample the storage refuses is dropped
    /// and counted in [`ScrapeStats::rejected`]; the rest of the scrape goes on. On error the
    /// scraper is left as if the scrape had not happened: the caller rolls the appender back
    /// and calls [`append_failed`](Self::append_failed).
    pub fn append(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        t: i64,
    ) -> Result<ScrapeStats, ScrapeError> {
        self.iter += 1;
        let mut stats = ScrapeStats::default();
        let r = self.append_body(app, body, format, t, &mut stats);
        self.last_rejected = stats.rejected;
        if r.is_err() {
            let iter = self.iter;
            self.cache.retain(|e| e.seen != iter || e.prev_seen != 0);
            for e in self.cache.values_mut() {
                if e.seen == iter {
                    e.seen = e.prev_seen;
                }
            }
            self.iter -= 1;
        }
        r.map(|()| stats)
    }

    fn append_body(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        t: i64,
        stats: &mut ScrapeStats,
    ) -> Result<(), ScrapeError> {
        let iter = self.iter;
        let honor_ts = self.cfg.honor_timestamps;
        let track_ts = self.cfg.track_timestamps_staleness;
        let sample_limit = self.cfg.limits.sample_limit;
        self.cache.rewind();
        let text = format == Format::Text;
        let mut parser = Parser::new(body, format);
        loop {
            // The steady state: the line holds the series the cache expects next, already
            // parsed and checked in an earlier scrape; only its value and timestamp are read.
            if text
                && let Some((key, e)) = self.cache.peek_next()
                && e.text_ok
                && let Some((value, timestamp)) = parser.next_sample_of(key)
            {
                let e = self.cache.take_next();
                stats.scraped += 1;
                let ts = match (honor_ts, timestamp) {
                    (true, Some(x)) => x,
                    _ => t,
                };
                let explicit = honor_ts && timestamp.is_some() && !track_ts;
                feed(e, app, iter, explicit, ts, value, stats, sample_limit)?;
                continue;
            }
            let Some(entry) = parser.next() else {
                break;
            };
            let entry = entry.map_err(|e| ScrapeError::Parse(e.to_string()))?;
            let s = match entry {
                Entry::Sample(s) => s,
                Entry::Help { family, help } => {
                    self.metadata.entry(family.into_owned()).or_default().help = help.into_owned();
                    continue;
                }
                Entry::Type {
                    family,
                    metric_type,
                } => {
                    self.metadata
                        .entry(family.into_owned())
                        .or_default()
                        .metric_type = Some(metric_type);
                    continue;
                }
                Entry::Unit { family, unit } => {
                    self.metadata.entry(family.into_owned()).or_default().unit = unit.to_owned();
                    continue;
                }
                Entry::Comment(_) => continue,
            };
            stats.scraped += 1;
            let ts = match (honor_ts, s.timestamp) {
                (true, Some(x)) => x,
                _ => t,
            };
            let explicit = honor_ts && s.timestamp.is_some() && !track_ts;
            // One comparison in the steady state; a new series is parsed, relabeled and cached.
            if let Some(e) = self.cache.get_mut(s.series) {
                e.text_ok |= text;
                feed(e, app, iter, explicit, ts, s.value, stats, sample_limit)?;
                continue;
            }
            let labels = self.series_labels(&s)?;
            stats.series_added += u64::from(labels.is_some());
            let e = self.cache.insert(
                s.series,
                CacheEntry {
                    labels,
                    sref: None,
                    seen: 0,
                    prev_seen: 0,
                    explicit_ts: explicit,
                    text_ok: text,
                },
            );
            feed(e, app, iter, explicit, ts, s.value, stats, sample_limit)?;
        }
        stats.stale_markers = self.mark_stale(app, t, iter);
        self.gc(iter);
        Ok(())
    }

    /// After a failed scrape (the appender rolled back): every series of the previous scrape
    /// goes stale at `t`, as if the target had returned nothing.
    pub fn append_failed(&mut self, app: &mut dyn Appender, t: i64) -> u64 {
        self.iter += 1;
        let iter = self.iter;
        let n = self.mark_stale(app, t, iter);
        self.gc(iter);
        n
    }

    /// Staleness markers for series seen in the previous scrape but not in this one.
    fn mark_stale(&mut self, app: &mut dyn Appender, t: i64, iter: u64) -> u64 {
        let mut n = 0;
        for e in self.cache.values_mut() {
            if e.seen + 1 == iter
                && !e.explicit_ts
                && let Some(l) = &e.labels
            {
                if let Ok(r) = app.append(e.sref, l, t, stale_nan()) {
                    e.sref = Some(r);
                }
                n += 1;
            }
        }
        n
    }

    /// Forgets series not seen for ten scrapes.
    fn gc(&mut self, iter: u64) {
        if iter.is_multiple_of(10) {
            self.cache.retain(|e| e.seen + 10 > iter);
        }
    }

    /// Appends the report series for a scrape that started at `t` and took `duration_s`.
    pub fn report(
        &mut self,
        app: &mut dyn Appender,
        t: i64,
        up: bool,
        duration_s: f64,
        stats: &ScrapeStats,
        body_bytes: u64,
    ) {
        let mut values: Vec<(&'static str, f64)> = vec![
            ("up", if up { 1.0 } else { 0.0 }),
            ("scrape_duration_seconds", duration_s),
            ("scrape_samples_scraped", stats.scraped as f64),
            (
                "scrape_samples_post_metric_relabeling",
                stats.post_relabel as f64,
            ),
            ("scrape_series_added", stats.series_added as f64),
        ];
        if self.cfg.extra_scrape_metrics {
            values.push((
                "scrape_timeout_seconds",
                self.cfg.scrape_timeout.millis() as f64 / 1000.0,
            ));
            values.push(("scrape_sample_limit", self.cfg.limits.sample_limit as f64));
            values.push(("scrape_body_size_bytes", body_bytes as f64));
        }
        for (name, v) in values {
            let (labels, sref) = self.report.get_mut(name).expect("report series");
            if let Ok(r) = app.append(*sref, labels, t, v) {
                *sref = Some(r);
            }
        }
    }

    /// When the target goes away: staleness markers for every series of its last scrape and
    /// for its report series.
    pub fn end(&mut self, app: &mut dyn Appender, t: i64) {
        self.iter += 1;
        let iter = self.iter;
        self.mark_stale(app, t, iter);
        for (labels, sref) in self.report.values() {
            if sref.is_some() {
                let _ = app.append(*sref, labels, t, stale_nan());
            }
        }
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use prom_model::AppendError;

    use super::*;
    use crate::config::{Config, LoadOptions, SdConfig};
    use crate::target::targets_from_group;

    /// Records every append as (series text, timestamp, value); references are the labels'
    /// position in the order first appended.
    #[derive(Default)]
    struct Recorder {
        series: Vec<Labels>,
        got: Vec<(String, i64, f64)>,
    }

    impl Appender for Recorder {
        fn append(
            &mut self,
            r: Option<SeriesRef>,
            labels: &Labels,
            t: i64,
            v: f64,
        ) -> Result<SeriesRef, AppendError> {
            let i = match r {
                Some(SeriesRef(i)) => {
                    // A reference must name the labels it came with.
                    assert_eq!(self.series[i as usize], *labels);
                    i as usize
                }
                None => match self.series.iter().position(|l| l == labels) {
                    Some(i) => i,
                    None => {
                        self.series.push(labels.clone());
                        self.series.len() - 1
                    }
                },
            };
            self.got.push((labels.to_string(), t, v));
            Ok(SeriesRef(i as u64))
        }

        fn commit(&mut self) -> prom_model::Result<()> {
            Ok(())
        }

        fn rollback(&mut self) -> prom_model::Result<()> {
            Ok(())
        }
    }

    fn scraper() -> Scraper {
        let cfg = Config::load_str(
            "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['h:1']\n",
            Path::new("."),
            LoadOptions::default(),
            &|_| None,
        )
        .expect("config");
        let job = Arc::new(cfg.scrape_configs[0].clone());
        let SdConfig::Static(group) = &job.service_discovery[0] else {
            panic!("static config");
        };
        let target = targets_from_group(group, &job).0.remove(0);
        Scraper::new(job, &target)
    }

    fn scrape((s, app): &mut (Scraper, Recorder), body: &str, t: i64) -> Vec<(String, i64, f64)> {
        s.append(app, body.as_bytes(), Format::Text, t)
            .expect("scrape");
        let mut got = std::mem::take(&mut app.got);
        got.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        got
    }

    fn l(series: &str) -> String {
        let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut inner = vec![];
        if rest != "}" {
            inner.push(rest.trim_end_matches('}').to_owned());
        }
        inner.push("instance=\"h:1\"".into());
        inner.push("job=\"j\"".into());
        inner.sort();
        format!("{name}{{{}}}", inner.join(", "))
    }

    #[test]
    fn reordered_new_and_vanished_series_get_the_right_labels() {
        let mut s = (scraper(), Recorder::default());
        let got = scrape(&mut s, "a{x=\"1\"} 1\nb 2\nc{y=\"2\"} 3\n", 1000);
        assert_eq!(
            got,
            vec![
                (l("a{x=\"1\"}"), 1000, 1.0),
                (l("b"), 1000, 2.0),
                (l("c{y=\"2\"}"), 1000, 3.0),
            ]
        );
        // Reordered, one new in the middle, `b` gone: it gets a staleness marker.
        let got = scrape(&mut s, "c{y=\"2\"} 30\nd 40\na{x=\"1\"} 10\n", 2000);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (l("a{x=\"1\"}"), 2000, 10.0));
        assert_eq!((&got[1].0, got[1].1), (&l("b"), 2000));
        assert!(prom_model::value::is_stale_nan(got[1].2));
        assert_eq!(got[2], (l("c{y=\"2\"}"), 2000, 30.0));
        assert_eq!(got[3], (l("d"), 2000, 40.0));
        assert_eq!(s.0.cached_series(), 4);
        // `b` again, and the same series written twice in one body.
        let got = scrape(
            &mut s,
            "b 5\nb 5\na{x=\"1\"} 11\nc{y=\"2\"} 31\nd 41\n",
            3000,
        );
        assert_eq!(
            got,
            vec![
                (l("a{x=\"1\"}"), 3000, 11.0),
                (l("b"), 3000, 5.0),
                (l("b"), 3000, 5.0),
                (l("c{y=\"2\"}"), 3000, 31.0),
                (l("d"), 3000, 41.0),
            ]
        );
    }

    #[test]
    fn known_series_on_broken_lines_fail_as_before_and_formats_can_switch() {
        let mut s = (scraper(), Recorder::default());
        scrape(&mut s, "a 1\nb{x=\"1\"} 2\n", 1000);
        // The known series with a bad value, a stray token, an exemplar: the parser's errors.
        for (body, want) in [
            ("a 1x\n", "1:3: invalid number"),
            ("a 1\nb{x=\"1\"} 2 3 4\n", "2:"),
            ("a 1 # {} 1\n", "1:"),
            ("a\n", "1:"),
        ] {
            let err =
                s.0.append(&mut s.1, body.as_bytes(), Format::Text, 2000)
                    .expect_err(body);
            s.1.got.clear();
            let ScrapeError::Parse(msg) = err else {
                panic!("{err:?}")
            };
            let full = Parser::new(body.as_bytes(), Format::Text)
                .find_map(Result::err)
                .expect("an error");
            assert_eq!(msg, full.to_string(), "{body:?}");
            assert!(msg.contains(want), "{msg}");
        }
        // OpenMetrics, then text again, with the same series.
        s.0.append(
            &mut s.1,
            b"a 5\nb{x=\"1\"} 6\nc 7\n# EOF\n",
            Format::OpenMetrics,
            3000,
        )
        .expect("openmetrics");
        s.1.got.clear();
        let got = scrape(&mut s, "a 8\nb{x=\"1\"} 9 123\nc 10\n", 4000);
        assert_eq!(
            got,
            vec![
                (l("a"), 4000, 8.0),
                (l("b{x=\"1\"}"), 123, 9.0),
                (l("c"), 4000, 10.0),
            ]
        );
        // The same again on the fast path.
        let got = scrape(&mut s, "a 11\nb{x=\"1\"}  12\t124 \nc 13", 5000);
        assert_eq!(
            got,
            vec![
                (l("a"), 5000, 11.0),
                (l("b{x=\"1\"}"), 124, 12.0),
                (l("c"), 5000, 13.0),
            ]
        );
    }

    /// The samples of series `name` in `db`, as (timestamp, value).
    fn stored(db: &dyn prom_model::storage::Queryable, name: &str) -> Vec<(i64, f64)> {
        let q = db.querier(i64::MIN, i64::MAX).expect("querier");
        let mut set = q.select(true, None, &[prom_model::Matcher::equal(METRIC_NAME, name)]);
        let mut out = Vec::new();
        while let Some(mut series) = set.next() {
            while series.samples.next() {
                let x = series.samples.at();
                out.push((x.t, x.v));
            }
        }
        out
    }

    /// One scrape of `body` at `t` into `db`, committed as a scrape loop commits it.
    fn scrape_into(
        s: &mut Scraper,
        db: &dyn prom_model::storage::Appendable,
        body: &str,
        t: i64,
    ) -> Result<ScrapeStats, ScrapeError> {
        let mut app = db.appender();
        let r = s.append(app.as_mut(), body.as_bytes(), Format::Text, t);
        match &r {
            Ok(_) => app.commit().expect("commit"),
            Err(_) => app.rollback().expect("rollback"),
        }
        r
    }

    #[test]
    fn refused_samples_are_counted_by_reason_and_the_rest_of_the_scrape_is_kept() {
        // The storage refuses anything before 500 as out of bounds.
        let db = prom_model::MemoryStorage::new().with_min_valid_time(500);
        let mut s = scraper();
        // `c` is too old for the storage, `d`'s second sample has the first one's timestamp
        // with another value.
        let st = scrape_into(&mut s, &db, "a 1 2000\nb 1\nc 1 100\nd 1\nd 2\n", 1000).unwrap();
        assert_eq!(
            st.rejected,
            Rejected {
                out_of_bounds: 1,
                duplicate_timestamp: 1,
                ..Rejected::default()
            }
        );
        assert_eq!((st.scraped, st.post_relabel), (5, 5));
        assert_eq!(s.last_rejected(), st.rejected);
        assert_eq!(stored(&db, "a"), vec![(2000, 1.0)]);
        assert_eq!(stored(&db, "b"), vec![(1000, 1.0)]);
        assert_eq!(stored(&db, "c"), vec![]);
        assert_eq!(stored(&db, "d"), vec![(1000, 1.0)]);
        // `a`'s timestamp goes backwards: out of order, on the cached series' fast path; `d`
        // repeats its sample exactly, which is no refusal.
        let st = scrape_into(&mut s, &db, "a 2 1500\nb 2\nd 1 1000\n", 2000).unwrap();
        assert_eq!(
            st.rejected,
            Rejected {
                out_of_order: 1,
                ..Rejected::default()
            }
        );
        assert_eq!(stored(&db, "a"), vec![(2000, 1.0)]);
        assert_eq!(stored(&db, "b"), vec![(1000, 1.0), (2000, 2.0)]);
        assert_eq!(stored(&db, "d"), vec![(1000, 1.0)]);
        // A scrape that fails after refusing samples is rolled back, and what it refused
        // before failing is still told.
        let err = scrape_into(&mut s, &db, "a 3 1400\nb 3 400\nb 4\n{", 3000).unwrap_err();
        assert!(matches!(err, ScrapeError::Parse(_)), "{err:?}");
        assert_eq!(
            s.last_rejected(),
            Rejected {
                out_of_order: 1,
                out_of_bounds: 1,
                ..Rejected::default()
            }
        );
        assert_eq!(stored(&db, "b"), vec![(1000, 1.0), (2000, 2.0)]);
        // The next good scrape starts counting afresh.
        let st = scrape_into(&mut s, &db, "a 4 2500\nb 5\n", 4000).unwrap();
        assert_eq!(st.rejected, Rejected::default());
        assert_eq!(s.last_rejected(), Rejected::default());
        assert_eq!(stored(&db, "a"), vec![(2000, 1.0), (2500, 4.0)]);
    }

    #[test]
    fn prom_tsdb_refusals_are_counted_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        let db = prom_tsdb::Db::open(dir.path(), prom_tsdb::Options::default()).unwrap();
        let mut s = scraper();
        let st = scrape_into(&mut s, &db, "a 1\nb 1\n", 10_000).unwrap();
        assert_eq!(st.rejected, Rejected::default());
        // Persisting the head makes everything up to 10s out of bounds.
        db.flush_head().unwrap().expect("a block");
        let body = "a 2 20000\na 3 19000\nb 2 20000\nb 3 20000\nc 1 5000\nd 1 15000\n";
        let st = scrape_into(&mut s, &db, body, 30_000).unwrap();
        assert_eq!(
            st.rejected,
            Rejected {
                out_of_order: 1,
                out_of_bounds: 1,
                duplicate_timestamp: 1,
                other: 0,
            }
        );
        assert_eq!(st.rejected.total(), 3);
        assert_eq!(stored(&db, "a"), vec![(10_000, 1.0), (20_000, 2.0)]);
        assert_eq!(stored(&db, "b"), vec![(10_000, 1.0), (20_000, 2.0)]);
        assert_eq!(stored(&db, "c"), vec![]);
        assert_eq!(stored(&db, "d"), vec![(15_000, 1.0)]);
        // The storage's own counters saw the same refusals.
        let m = db.metrics_text();
        for line in [
            "prometheus_tsdb_out_of_order_samples_total 1\n",
            "prometheus_tsdb_out_of_bounds_samples_total 1\n",
            "prometheus_tsdb_duplicate_samples_total 1\n",
        ] {
            assert!(m.contains(line), "{line:?} not in\n{m}");
        }
    }

    #[test]
    fn a_failed_scrape_forgets_its_new_series_and_old_ones_are_collected() {
        let mut s = (scraper(), Recorder::default());
        scrape(&mut s, "a 1\nb 2\n", 1000);
        // `c` is new, then the body breaks: the cache is as before.
        assert!(
            s.0.append(&mut s.1, b"c 1\na 1\n{", Format::Text, 2000)
                .is_err()
        );
        s.1.got.clear();
        assert_eq!(s.0.cached_series(), 2);
        let got = scrape(&mut s, "b 3\na 4\n", 3000);
        assert_eq!(got, vec![(l("a"), 3000, 4.0), (l("b"), 3000, 3.0)]);
        // Series unseen for ten scrapes are forgotten (at the next tenth scrape, the 20th),
        // the rest still resolve.
        for k in 0..18 {
            scrape(&mut s, "a 5\n", 4000 + k * 1000);
        }
        assert_eq!(s.0.cached_series(), 1);
        let got = scrape(&mut s, "a 6\nb 7\n", 30_000);
        assert_eq!(got, vec![(l("a"), 30_000, 6.0), (l("b"), 30_000, 7.0)]);
    }
}
