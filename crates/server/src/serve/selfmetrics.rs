//! Self-instrumentation at `/metrics`, under the names Prometheus users know
//! (`prometheus_http_requests_total`, `prometheus_tsdb_head_series`, `process_*`, …), in the
//! text format or OpenMetrics by content negotiation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use prom_exposition::encode::write_float;
use prom_exposition::{Format, Parser, collect, encode_openmetrics};
use prom_scrape::manager::ScrapeObserver;
use prom_scrape::scrape::{Rejected, ScrapeError};

use super::app::App;

/// The bucket bounds of `prometheus_http_request_duration_seconds`, as Prometheus's.
const HTTP_BUCKETS: [f64; 9] = [0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0];

#[derive(Debug, Default)]
struct Handler {
    codes: BTreeMap<u16, u64>,
    buckets: [u64; HTTP_BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Request counts by handler and status, and a latency histogram by handler.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    handlers: Mutex<BTreeMap<String, Handler>>,
}

impl HttpMetrics {
    /// Counts one request to `handler` (the route, such as `/api/v1/query`).
    pub fn observe(&self, handler: &str, code: u16, took: Duration) {
        let mut map = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
        let h = match map.get_mut(handler) {
            Some(h) => h,
            None => map.entry(handler.to_owned()).or_default(),
        };
        *h.codes.entry(code).or_default() += 1;
        let secs = took.as_secs_f64();
        for (i, b) in HTTP_BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.buckets[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    fn render(&self, out: &mut String) {
        let map = self.handlers.lock().unwrap_or_else(PoisonError::into_inner);
        out.push_str("# HELP prometheus_http_requests_total Counter of HTTP requests.\n");
        out.push_str("# TYPE prometheus_http_requests_total counter\n");
        for (name, h) in map.iter() {
            for (code, n) in &h.codes {
                let _ = writeln!(
                    out,
                    "prometheus_http_requests_total{{code=\"{code}\",handler={}}} {n}",
                    label_value(name)
                );
            }
        }
        out.push_str(
            "# HELP prometheus_http_request_duration_seconds Histogram of latencies for HTTP requests.\n",
        );
        out.push_str("# TYPE prometheus_http_request_duration_seconds histogram\n");
        for (name, h) in map.iter() {
            let handler = label_value(name);
            for (i, b) in HTTP_BUCKETS.iter().enumerate() {
                let _ = write!(
                    out,
                    "prometheus_http_request_duration_seconds_bucket{{handler={handler},le=\""
                );
                write_float(out, *b);
                let _ = writeln!(out, "\"}} {}", h.buckets[i]);
            }
            let _ = writeln!(
                out,
                "prometheus_http_request_duration_seconds_bucket{{handler={handler},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = write!(
                out,
                "prometheus_http_request_duration_seconds_sum{{handler={handler}}} "
            );
            write_float(out, h.sum);
            let _ = writeln!(
                out,
                "\nprometheus_http_request_duration_seconds_count{{handler={handler}}} {}",
                h.count
            );
        }
    }
}

/// How far back a summary's quantiles look, as client_golang's default `MaxAge`.
const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);
/// The most observations a summary keeps for its quantiles; older ones go first.
const SUMMARY_MAX_KEPT: usize = 100_000;
/// The quantiles Prometheus's scrape summaries report.
const SCRAPE_QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];

/// A summary: quantiles over the observations of the last ten minutes (exact, where
/// client_golang's are within a small error), and a sum and count over all time.
#[derive(Debug, Default)]
struct Summary {
    recent: std::collections::VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

impl Summary {
    fn observe(&mut self, v: f64, now: Instant) {
        self.sum += v;
        self.count += 1;
        if self.recent.len() == SUMMARY_MAX_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((now, v));
    }

    /// The `q` quantiles of the last ten minutes' observations (NaN when there are none).
    fn quantiles(&mut self, qs: &[f64], now: Instant) -> Vec<f64> {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SUMMARY_MAX_AGE)
        {
            self.recent.pop_front();
        }
        let mut v: Vec<f64> = self.recent.iter().map(|(_, v)| *v).collect();
        v.sort_by(f64::total_cmp);
        qs.iter()
            .map(|q| {
                if v.is_empty() {
                    return f64::NAN;
                }
                // The nearest rank: the smallest value with at least q of them at or below.
                let rank = (q * v.len() as f64).ceil() as usize;
                v[rank.clamp(1, v.len()) - 1]
            })
            .collect()
    }

    /// Writes the family's lines for one label set (`labels` is `name="value"`).
    fn render(&mut self, out: &mut String, name: &str, labels: &str, now: Instant) {
        for (q, v) in SCRAPE_QUANTILES
            .iter()
            .zip(self.quantiles(&SCRAPE_QUANTILES, now))
        {
            let _ = write!(out, "{name}{{{labels},quantile=\"");
            write_float(out, *q);
            out.push_str("\"} ");
            write_float(out, v);
            out.push('\n');
        }
        let _ = write!(out, "{name}_sum{{{labels}}} ");
        write_float(out, self.sum);
        let _ = writeln!(out, "\n{name}_count{{{labels}}} {}", self.count);
    }
}

/// A duration as Go's `time.Duration.String` prints it (`15s`, `1m0s`, `1.5s`, `500ms`), the
/// spelling of Prometheus's `interval` label.
pub fn go_duration_string(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, div));
    }
    let secs = nanos / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    let s = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `n / div` in decimal without trailing zeros.
fn fraction(n: u128, div: u128) -> String {
    let (whole, rest) = (n / div, n % div);
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The scrape loops' timing (`prometheus_target_interval_length_seconds`,
/// `prometheus_target_sync_length_seconds`), the scrapes that broke a limit and the scraped
/// samples the storage refused.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    /// By the job's interval, as Go prints it.
    intervals: Mutex<BTreeMap<String, Summary>>,
    /// By job.
    syncs: Mutex<BTreeMap<String, Summary>>,
    exceeded_sample_limit: AtomicU64,
    exceeded_body_size_limit: AtomicU64,
    sample_out_of_order: AtomicU64,
    sample_out_of_bounds: AtomicU64,
    sample_duplicate_timestamp: AtomicU64,
}

impl ScrapeObserver for ScrapeMetrics {
    fn scraped(
        &self,
        interval: Duration,
        since_previous: Option<Duration>,
        error: Option<&ScrapeError>,
    ) {
        match error {
            Some(ScrapeError::SampleLimit(_)) => {
                self.exceeded_sample_limit.fetch_add(1, Ordering::Relaxed);
            }
            Some(ScrapeError::BodySizeLimit(_)) => {
                self.exceeded_body_size_limit
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Some(d) = since_previous {
            let mut map = self
                .intervals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.entry(go_duration_string(interval))
                .or_default()
                .observe(d.as_secs_f64(), Instant::now());
        }
    }

    /// Counts the refusals and, as Prometheus does, logs a warning per scrape and reason.
    fn samples_rejected(&self, job: &str, target: &str, rejected: &Rejected) {
        let kinds = [
            (
                &self.sample_out_of_order,
                rejected.out_of_order,
                "Error on ingesting out-of-order samples",
            ),
            (
                &self.sample_duplicate_timestamp,
                rejected.duplicate_timestamp,
                "Error on ingesting samples with different value but same timestamp",
            ),
            (
                &self.sample_out_of_bounds,
                rejected.out_of_bounds,
                "Error on ingesting samples that are too old or are too far into the future",
            ),
        ];
        for (counter, n, msg) in kinds {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(scrape_pool = job, target, num_dropped = n, "{msg}");
            }
        }
    }

    fn pool_synced(&self, job: &str, took: Duration) {
        let mut map = self.syncs.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match map.get_mut(job) {
            Some(s) => s.observe(took.as_secs_f64(), now),
            None => map
                .entry(job.to_owned())
                .or_default()
                .observe(took.as_secs_f64(), now),
        }
    }
}

impl ScrapeMetrics {
    fn render(&self, out: &mut String) {
        let now = Instant::now();
        let name = "prometheus_target_interval_length_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Actual intervals between scrapes.\n# TYPE {name} summary"
        );
        for (interval, s) in self
            .intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter_mut()
        {
            s.render(
                out,
                name,
                &format!("interval={}", label_value(interval)),
                now,
            );
        }
        let name = "prometheus_target_sync_length_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Actual interval to sync the scrape pool.\n# TYPE {name} summary"
        );
        for (job, s) in self
            .syncs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter_mut()
        {
            s.render(out, name, &format!("scrape_job={}", label_value(job)), now);
        }
        for (name, help, n) in [
            (
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &self.exceeded_sample_limit,
            ),
            (
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit",
                &self.exceeded_body_size_limit,
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                &self.sample_duplicate_timestamp,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "Total number of samples rejected due to timestamp falling outside of the time bounds.",
                &self.sample_out_of_bounds,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
                &self.sample_out_of_order,
            ),
        ] {
            counter(out, name, help, n.load(Ordering::Relaxed) as f64);
        }
    }
}

/// A label value in the text format: quoted with `\`, `"` and newlines escaped.
pub fn label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} ");
    write_float(out, v);
    out.push('\n');
}

fn counter(out: &mut String, name: &str, help: &str, v: f64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} ");
    write_float(out, v);
    out.push('\n');
}

/// What `/proc/self` tells about the process (Linux; elsewhere nothing is reported).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    /// User and system CPU time in seconds.
    pub cpu_seconds: f64,
    /// Resident memory in bytes.
    pub resident_bytes: f64,
    /// Virtual memory in bytes.
    pub virtual_bytes: f64,
    /// Open file descriptors.
    pub open_fds: f64,
    /// The soft limit on file descriptors.
    pub max_fds: f64,
}

/// Reads the process's statistics; `None` where `/proc` is not available.
pub fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces; fields after it are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it supports.
    let mut p = ProcessStats {
        cpu_seconds: ticks / 100.0,
        ..ProcessStats::default()
    };
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            let kb = |l: &str| -> f64 {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    * 1024.0
            };
            if line.starts_with("VmRSS:") {
                p.resident_bytes = kb(line);
            } else if line.starts_with("VmSize:") {
                p.virtual_bytes = kb(line);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        p.open_fds = dir.count() as f64;
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        for line in limits.lines() {
            if let Some(rest) = line.strip_prefix("Max open files") {
                p.max_fds = rest
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
            }
        }
    }
    Some(p)
}

/// The server's metrics in the Prometheus text format.
pub fn render_text(app: &App) -> String {
    let mut out = String::with_capacity(16 * 1024);
    if let Some(p) = process_stats() {
        counter(
            &mut out,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        );
        gauge(
            &mut out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            p.max_fds,
        );
        gauge(
            &mut out,
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        );
        gauge(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes,
        );
        gauge(
            &mut out,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        );
    }
    let start = app
        .start_time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    gauge(
        &mut out,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        start,
    );
    {
        use super::build_info as b;
        let _ = writeln!(
            out,
            "# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, branch, and goversion from which prometheus was built.\n# TYPE prometheus_build_info gauge\nprometheus_build_info{{branch={},goversion={},revision={},version={}}} 1",
            label_value(b::BRANCH),
            label_value(b::COMPILER),
            label_value(b::REVISION),
            label_value(b::VERSION),
        );
    }
    gauge(
        &mut out,
        "prometheus_config_last_reload_successful",
        "Whether the last configuration reload attempt was successful.",
        f64::from(u8::from(app.last_reload_ok.load(Ordering::Acquire))),
    );
    gauge(
        &mut out,
        "prometheus_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        app.last_reload_time.load(Ordering::Acquire) as f64,
    );
    gauge(
        &mut out,
        "prometheus_ready",
        "Whether Prometheus startup was fully completed and the server is ready for normal operation.",
        f64::from(u8::from(app.is_ready())),
    );
    gauge(
        &mut out,
        "prometheus_engine_queries",
        "The current number of queries being executed or waiting.",
        app.queries_in_flight.load(Ordering::Relaxed) as f64,
    );
    gauge(
        &mut out,
        "prometheus_engine_queries_concurrent_max",
        "The max number of concurrent queries.",
        app.args.query_max_concurrency as f64,
    );
    app.http.render(&mut out);
    app.scrape.render(&mut out);
    if let Some(m) = app.scrape_manager() {
        let mut per_job: BTreeMap<String, u64> = BTreeMap::new();
        for t in m.targets() {
            *per_job.entry(t.job).or_default() += 1;
        }
        for sc in &app.config().scrape_configs {
            per_job.entry(sc.job_name.clone()).or_default();
        }
        out.push_str("# HELP prometheus_target_scrape_pool_targets Current number of targets in this scrape pool.\n# TYPE prometheus_target_scrape_pool_targets gauge\n");
        for (job, n) in &per_job {
            let _ = writeln!(
                out,
                "prometheus_target_scrape_pool_targets{{scrape_job={}}} {n}",
                label_value(job)
            );
        }
    }
    if let Some(r) = app.rules() {
        render_rules(r, &mut out);
    }
    if let Some(db) = app.db() {
        out.push_str(&db.metrics_text());
    }
    out
}

/// One family with a value per label set: `(labels, value)` pairs, labels already written as
/// `name="value"`.
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, f64)]) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}
# TYPE {name} {kind}"
    );
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}

/// The rule manager's and the notifier's metrics, with Prometheus's names.
fn render_rules(r: &super::rules::Rules, out: &mut String) {
    let groups = r.manager.groups();
    let mut rows: [Vec<(String, f64)>; 9] = Default::default();
    for g in &groups {
        let key = format!(
            "rule_group={}",
            label_value(&format!("{};{}", g.file, g.name))
        );
        let c = &g.counters;
        let last = g.last_evaluation.map_or(0.0, |t| t as f64 / 1000.0);
        let values = [
            c.rule_evaluations as f64,
            c.rule_evaluation_failures as f64,
            g.evaluation_time.as_secs_f64(),
            g.interval_ms as f64 / 1000.0,
            g.iterations as f64,
            g.iterations_missed as f64,
            g.rules.len() as f64,
            last,
            c.last_evaluation_samples as f64,
        ];
        for (row, v) in rows.iter_mut().zip(values) {
            row.push((key.clone(), v));
        }
    }
    const FAMILIES: [(&str, &str, &str); 9] = [
        (
            "prometheus_rule_evaluations_total",
            "counter",
            "The total number of rule evaluations.",
        ),
        (
            "prometheus_rule_evaluation_failures_total",
            "counter",
            "The total number of rule evaluation failures.",
        ),
        (
            "prometheus_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
        ),
        (
            "prometheus_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
        ),
        (
            "prometheus_rule_group_iterations_total",
            "counter",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
        ),
        (
            "prometheus_rule_group_iterations_missed_total",
            "counter",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
        ),
        (
            "prometheus_rule_group_rules",
            "gauge",
            "The number of rules.",
        ),
        (
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            "gauge",
            "The timestamp of the last rule group evaluation in seconds.",
        ),
        (
            "prometheus_rule_group_last_evaluation_samples",
            "gauge",
            "The number of samples returned during the last rule group evaluation.",
        ),
    ];
    for ((name, kind, help), rows) in FAMILIES.iter().zip(&rows) {
        family(out, name, kind, help, rows);
    }

    let n = r.notifier.stats();
    let per: Vec<(&String, _)> = n.alertmanagers.iter().collect();
    let am = |f: fn(&prom_rules::alertmanager::AlertmanagerStats) -> u64| -> Vec<(String, f64)> {
        per.iter()
            .map(|(url, s)| (format!("alertmanager={}", label_value(url)), f(s) as f64))
            .collect()
    };
    family(
        out,
        "prometheus_notifications_sent_total",
        "counter",
        "Total number of alerts sent.",
        &am(|s| s.sent),
    );
    family(
        out,
        "prometheus_notifications_errors_total",
        "counter",
        "Total number of sent alerts affected by errors.",
        &am(|s| s.errors),
    );
    counter(
        out,
        "prometheus_notifications_dropped_total",
        "Total number of alerts dropped due to errors when sending to Alertmanager.",
        n.dropped as f64,
    );
    gauge(
        out,
        "prometheus_notifications_queue_length",
        "The number of alert notifications in the queue.",
        n.queue_length as f64,
    );
    gauge(
        out,
        "prometheus_notifications_queue_capacity",
        "The capacity of the alert notifications queue.",
        n.queue_capacity as f64,
    );
    gauge(
        out,
        "prometheus_notifications_alertmanagers_discovered",
        "The number of alertmanagers discovered and active.",
        n.discovered as f64,
    );
}

/// The metrics in the format the `Accept` header asks for, with its content type.
pub fn render(app: &App, accept: Option<&str>) -> (String, &'static str) {
    let text = render_text(app);
    let wants_om = accept.is_some_and(|a| a.contains("application/openmetrics-text"));
    if !wants_om {
        return (text, Format::Text.content_type());
    }
    let (families, errors) = collect(Parser::new(text.as_bytes(), Format::Text));
    if !errors.is_empty() {
        // Our own text must always parse; fall back to it rather than serve half.
        tracing::warn!(err = %errors[0], "self-metrics do not parse; serving the text format");
        return (text, Format::Text.content_type());
    }
    (
        encode_openmetrics(&families),
        Format::OpenMetrics.content_type(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_metrics_count_and_bucket() {
        let m = HttpMetrics::default();
        m.observe("/api/v1/query", 200, Duration::from_millis(50));
        m.observe("/api/v1/query", 400, Duration::from_millis(500));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 1\n"
        ));
        assert!(out.contains(
            "prometheus_http_requests_total{code=\"400\",handler=\"/api/v1/query\"} 1\n"
        ));
        assert!(out.contains("prometheus_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"0.1\"} 1\n"));
        assert!(out.contains("prometheus_http_request_duration_seconds_bucket{handler=\"/api/v1/query\",le=\"1\"} 2\n"));
        assert!(out.contains(
            "prometheus_http_request_duration_seconds_count{handler=\"/api/v1/query\"} 2\n"
        ));
        let (families, errors) = collect(Parser::new(out.as_bytes(), Format::Text));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(families.len(), 2);
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration_string(ms(15_000)), "15s");
        assert_eq!(go_duration_string(ms(60_000)), "1m0s");
        assert_eq!(go_duration_string(ms(90_500)), "1m30.5s");
        assert_eq!(go_duration_string(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration_string(ms(500)), "500ms");
        assert_eq!(go_duration_string(ms(1_500)), "1.5s");
        assert_eq!(go_duration_string(Duration::ZERO), "0s");
    }

    #[test]
    fn summaries_report_nearest_rank_quantiles_of_the_last_ten_minutes() {
        let t0 = Instant::now();
        let mut s = Summary::default();
        s.observe(100.0, t0);
        for i in 1..=100 {
            s.observe(f64::from(i), t0 + Duration::from_secs(300));
        }
        let later = t0 + SUMMARY_MAX_AGE + Duration::from_secs(1);
        // The first observation aged out of the quantiles, not of the sum and count.
        assert_eq!(
            s.quantiles(&SCRAPE_QUANTILES, later),
            vec![1.0, 5.0, 50.0, 90.0, 99.0]
        );
        assert_eq!((s.sum, s.count), (5150.0, 101));
        assert!(s.quantiles(&[0.5], later + SUMMARY_MAX_AGE)[0].is_nan());
    }

    #[test]
    fn scrape_metrics_render_as_prometheus_names_them() {
        let m = ScrapeMetrics::default();
        let iv = Duration::from_secs(15);
        m.scraped(iv, None, None);
        m.scraped(iv, Some(Duration::from_millis(15_010)), None);
        m.scraped(
            iv,
            Some(Duration::from_millis(14_990)),
            Some(&ScrapeError::SampleLimit(1)),
        );
        m.pool_synced("node", Duration::from_millis(2));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.5\"} 14.99\n"
        ), "{out}");
        assert!(out.contains(
            "prometheus_target_interval_length_seconds{interval=\"15s\",quantile=\"0.99\"} 15.01\n"
        ));
        assert!(
            out.contains("prometheus_target_interval_length_seconds_count{interval=\"15s\"} 2\n")
        );
        assert!(
            out.contains("prometheus_target_sync_length_seconds_count{scrape_job=\"node\"} 1\n")
        );
        assert!(out.contains("prometheus_target_scrapes_exceeded_sample_limit_total 1\n"));
        let (families, errors) = collect(Parser::new(out.as_bytes(), Format::Text));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(families.len(), 7);
    }

    #[test]
    fn refused_scraped_samples_are_counted_by_reason() {
        let m = ScrapeMetrics::default();
        let r = |out_of_order, out_of_bounds, duplicate_timestamp, other| Rejected {
            out_of_order,
            out_of_bounds,
            duplicate_timestamp,
            other,
        };
        m.samples_rejected("node", "http://a:9100/metrics", &r(2, 0, 1, 0));
        m.samples_rejected("node", "http://b:9100/metrics", &r(3, 4, 0, 9));
        let mut out = String::new();
        m.render(&mut out);
        for (name, help, v) in [
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                1,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "Total number of samples rejected due to timestamp falling outside of the time bounds.",
                4,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
                5,
            ),
        ] {
            let want = format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n");
            assert!(out.contains(&want), "{want:?} not in\n{out}");
        }
        let (families, errors) = collect(Parser::new(out.as_bytes(), Format::Text));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(families.len(), 7);
    }

    #[test]
    fn process_stats_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let p = process_stats().expect("/proc/self");
            assert!(p.resident_bytes > 0.0 && p.open_fds > 0.0 && p.max_fds > 0.0);
        }
    }
}
