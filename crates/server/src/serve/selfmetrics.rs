//! Self-instrumentation at `/metrics`, under the names Prometheus users know
//! (`prometheus_http_requests_total`, `prometheus_tsdb_head_series`, `process_*`, …), in the
//! text format or OpenMetrics by content negotiation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use prom_exposition::encode::write_float;
use prom_exposition::{Format, Parser, collect, encode_openmetrics};

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
    let _ = writeln!(
        out,
        "# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, branch, and goversion from which prometheus was built.\n# TYPE prometheus_build_info gauge\nprometheus_build_info{{branch=\"\",goversion=\"rust\",revision=\"\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
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
    if let Some(db) = app.db() {
        out.push_str(&db.metrics_text());
    }
    out
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
    fn process_stats_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let p = process_stats().expect("/proc/self");
            assert!(p.resident_bytes > 0.0 && p.open_fds > 0.0 && p.max_fds > 0.0);
        }
    }
}
