//! One target's scrapes: turning a fetched exposition into appended samples.
//!
//! [`Scraper`] is the synchronous heart of a scrape loop: it parses the body, maps each series
//! through a cache (series text → labels after `honor_labels` and `metric_relabel_configs`,
//! plus the storage's series reference), enforces the limits, appends through an
//! [`Appender`], writes staleness markers for series that vanished, and appends the report
//! series (`up`, `scrape_duration_seconds`, …). A steady-state scrape costs one hash lookup per
//! sample: labels are parsed and relabeled only the first time a series is seen.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prom_exposition::{Entry, Format, Parser};
use prom_model::storage::{Appender, SeriesRef};
use prom_model::value::stale_nan;
use prom_model::{Labels, LabelsBuilder, METRIC_NAME, MetricType};

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
    /// Samples the storage refused (out of order, duplicate, too old).
    pub rejected: u64,
    /// Staleness markers written for series that vanished.
    pub stale_markers: u64,
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

/// Hashes cache keys (series text from the target) with XXH64, which is several times faster
/// than std's SipHash on this hot path. It is not keyed: like Prometheus, which hashes with
/// xxhash too, we accept that a hostile target could make its own cache slower.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ prom_model::xxh64(bytes);
    }

    fn write_u8(&mut self, b: u8) {
        self.0 = self.0.rotate_left(5) ^ u64::from(b);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

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
        Err(_) => stats.rejected += 1,
    }
    Ok(())
}

/// The synchronous part of a target's scrape loop.
#[derive(Debug)]
pub struct Scraper {
    cfg: Arc<ScrapeConfig>,
    /// The labels every series of the target gets (`job`, `instance`, …).
    target_labels: Labels,
    cache: HashMap<Box<str>, CacheEntry, KeyHash>,
    report: HashMap<&'static str, (Labels, Option<SeriesRef>)>,
    metadata: HashMap<String, Metadata>,
    iter: u64,
    lb: LabelsBuilder,
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
            cache: HashMap::default(),
            report,
            metadata: HashMap::new(),
            iter: 0,
            lb: LabelsBuilder::new(),
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

    /// Appends one scrape's body at time `t` (ms). On error the scraper is left as if the
    /// scrape had not happened: the caller rolls the appender back and calls
    /// [`append_failed`](Self::append_failed).
    pub fn append(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        t: i64,
    ) -> Result<ScrapeStats, ScrapeError> {
        self.iter += 1;
        let r = self.append_body(app, body, format, t);
        if r.is_err() {
            let iter = self.iter;
            self.cache.retain(|_, e| e.seen != iter || e.prev_seen != 0);
            for e in self.cache.values_mut() {
                if e.seen == iter {
                    e.seen = e.prev_seen;
                }
            }
            self.iter -= 1;
        }
        r
    }

    fn append_body(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        format: Format,
        t: i64,
    ) -> Result<ScrapeStats, ScrapeError> {
        let iter = self.iter;
        let mut stats = ScrapeStats::default();
        let honor_ts = self.cfg.honor_timestamps;
        let track_ts = self.cfg.track_timestamps_staleness;
        let sample_limit = self.cfg.limits.sample_limit;
        for entry in Parser::new(body, format) {
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
            // One lookup in the steady state; a new series is parsed, relabeled and cached.
            if let Some(e) = self.cache.get_mut(s.series) {
                feed(
                    e,
                    app,
                    iter,
                    explicit,
                    ts,
                    s.value,
                    &mut stats,
                    sample_limit,
                )?;
                continue;
            }
            let labels = self.series_labels(&s)?;
            stats.series_added += u64::from(labels.is_some());
            let e = self.cache.entry(s.series.into()).or_insert(CacheEntry {
                labels,
                sref: None,
                seen: 0,
                prev_seen: 0,
                explicit_ts: explicit,
            });
            feed(
                e,
                app,
                iter,
                explicit,
                ts,
                s.value,
                &mut stats,
                sample_limit,
            )?;
        }
        stats.stale_markers = self.mark_stale(app, t, iter);
        self.gc(iter);
        Ok(stats)
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
            self.cache.retain(|_, e| e.seen + 10 > iter);
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
