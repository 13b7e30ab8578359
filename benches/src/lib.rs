//! Shared helpers for the benchmarks: synthetic payload generators, peer servers to query
//! ([`peers`]), `prom serve` as a child process ([`prom_serve`]), the PromQL query suite and
//! its data set ([`suite`]), and synthetic scrape targets ([`targets`]).
//!
//! The generators are deterministic (a fixed-seed splitmix64), so every run and every machine
//! benchmarks the same bytes.

pub mod peers;
pub mod prom_serve;
pub mod suite;
pub mod targets;

use std::fmt::Write as _;

/// An environment variable parsed as a number, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The number of metric families in a synthetic exposition.
pub const SYNTHETIC_FAMILIES: usize = 50;

/// A synthetic Prometheus text exposition (format 0.0.4) with exactly `series` sample lines,
/// shaped like a large real scrape: [`SYNTHETIC_FAMILIES`] metric families, each with
/// `# HELP` and `# TYPE`, a fifth of them classic histograms (`le` buckets, `_sum`, `_count`),
/// the rest counters and gauges; 3 to 5 labels per series (`job`, `instance`, `method`,
/// `code`, `handler`, `device`, `le`), integer counters and bucket counts, float gauges and
/// sums (some in exponent form), and timestamps on one family in ten.
pub fn synthetic_text(series: usize) -> String {
    generate(series, false)
}

/// The same exposition as [`synthetic_text`] written as OpenMetrics 1.0: counter families are
/// declared without `_total`, timestamps are seconds, and the body ends with `# EOF`.
pub fn synthetic_openmetrics(series: usize) -> String {
    generate(series, true)
}

/// The number of sample lines in an exposition: lines that are neither blank nor `#` lines.
pub fn sample_lines(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|l| {
            let t = l.trim_ascii_start();
            !t.is_empty() && t[0] != b'#'
        })
        .count()
}

const COUNTERS: [&str; 20] = [
    "http_requests",
    "http_request_errors",
    "grpc_server_handled",
    "rpc_client_calls",
    "db_queries",
    "cache_hits",
    "cache_misses",
    "kafka_messages_consumed",
    "kafka_messages_produced",
    "jobs_processed",
    "jobs_failed",
    "network_transmit_bytes",
    "network_receive_bytes",
    "tcp_connections_opened",
    "gc_cycles",
    "log_messages",
    "auth_attempts",
    "emails_sent",
    "upstream_retries",
    "api_requests_throttled",
];

const GAUGES: [&str; 20] = [
    "process_resident_memory_bytes",
    "process_open_fds",
    "go_goroutines",
    "node_memory_available_bytes",
    "node_filesystem_free_bytes",
    "node_load1",
    "queue_depth",
    "cache_size_bytes",
    "db_connections_in_use",
    "hwmon_temperature_celsius",
    "cpu_utilisation_ratio",
    "disk_io_now",
    "thread_pool_active_threads",
    "sessions_active",
    "http_requests_in_flight",
    "last_successful_run_timestamp_seconds",
    "replication_lag_seconds",
    "heap_objects",
    "open_file_descriptors_limit",
    "battery_charge_ratio",
];

const HISTOGRAMS: [&str; 10] = [
    "http_request_duration_seconds",
    "rpc_latency_seconds",
    "db_query_duration_seconds",
    "http_response_size_bytes",
    "queue_wait_seconds",
    "gc_pause_seconds",
    "dns_lookup_duration_seconds",
    "tls_handshake_duration_seconds",
    "job_run_duration_seconds",
    "cache_fill_duration_seconds",
];

const JOBS: [&str; 4] = ["api-server", "frontend", "billing-worker", "node"];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "304", "404", "500"];
const HANDLERS: [&str; 6] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/-/healthy",
    "/metrics",
    "/api/v1/write",
];
const DEVICES: [&str; 8] = [
    "sda", "sdb", "nvme0n1", "nvme1n1", "eth0", "eth1", "dm-0", "loop0",
];
const LE: [&str; 9] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
];
/// Lines per histogram point: the finite buckets, `+Inf`, `_sum` and `_count`.
const HISTOGRAM_POINT_LINES: usize = LE.len() + 3;

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `job` and `instance` for the `k`-th series of a family; `k` picks a distinct instance.
fn target(out: &mut String, k: usize) {
    let host = k / JOBS.len();
    let _ = write!(
        out,
        "job=\"{}\",instance=\"10.{}.{}.{}:9100\"",
        JOBS[k % JOBS.len()],
        (host >> 16) & 0xff,
        (host >> 8) & 0xff,
        host & 0xff
    );
}

/// A float as Go's `%g` writes it in client libraries: plain for moderate magnitudes,
/// exponent form (`3.1927e+06`) for large ones.
fn float(out: &mut String, rng: &mut Rng) {
    match rng.below(4) {
        0 => {
            let _ = write!(out, "{}", rng.below(1_000_000) as f64 / 1e6);
        }
        1 => {
            let _ = write!(out, "{}", rng.below(100_000_000) as f64 / 1000.0);
        }
        2 => {
            let m = 1.0 + rng.below(100_000) as f64 / 100_000.0;
            let _ = write!(out, "{m}e+{:02}", 6 + rng.below(4));
        }
        _ => {
            let _ = write!(out, "{}", rng.below(10_000));
        }
    }
}

fn timestamp(out: &mut String, om: bool, ms: u64) {
    if om {
        let _ = write!(out, " {}.{:03}", ms / 1000, ms % 1000);
    } else {
        let _ = write!(out, " {ms}");
    }
}

fn generate(series: usize, om: bool) -> String {
    // ~105 bytes per line on average.
    let mut out = String::with_capacity(series * 110 + 4096);
    let mut rng = Rng(0x05ee_d0f5_ca1e);
    let per_family = series / SYNTHETIC_FAMILIES;
    let mut written = 0;
    let (mut c, mut g, mut h) = (0, 0, 0);
    for f in 0..SYNTHETIC_FAMILIES {
        // Families cycle histogram, counter, counter, gauge, gauge; a histogram's lines come
        // in whole points, and the counter after it makes up the difference, so the total is
        // exact. The last family takes what is left.
        let target_total = if f + 1 == SYNTHETIC_FAMILIES {
            series
        } else {
            per_family * (f + 1)
        };
        let want = target_total.saturating_sub(written);
        let stamped = f % 10 == 7;
        let ts0 = 1_700_000_000_000 + f as u64 * 15_000;
        match f % 5 {
            0 => {
                let name = HISTOGRAMS[h % HISTOGRAMS.len()];
                h += 1;
                let _ = writeln!(out, "# HELP {name} Latency of the operation, in seconds.");
                let _ = writeln!(out, "# TYPE {name} histogram");
                let points = want / HISTOGRAM_POINT_LINES;
                for p in 0..points {
                    let mut labels = String::new();
                    target(&mut labels, p / HANDLERS.len());
                    let _ = write!(labels, ",handler=\"{}\"", HANDLERS[p % HANDLERS.len()]);
                    let mut cum = 0;
                    for le in LE.iter().chain(["+Inf"].iter()) {
                        cum += rng.below(500);
                        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}");
                    }
                    let _ = write!(out, "{name}_sum{{{labels}}} ");
                    float(&mut out, &mut rng);
                    out.push('\n');
                    let _ = writeln!(out, "{name}_count{{{labels}}} {cum}");
                }
                written += points * HISTOGRAM_POINT_LINES;
            }
            1 | 2 => {
                let name = COUNTERS[c % COUNTERS.len()];
                c += 1;
                let with_handler = c % 2 == 0;
                // OpenMetrics names the family without `_total`; client_golang's text output
                // names it with.
                let family = if om { "" } else { "_total" };
                let _ = writeln!(out, "# HELP {name}{family} Total number of {name}.");
                let _ = writeln!(out, "# TYPE {name}{family} counter");
                let per_target = METHODS.len() * CODES.len() * if with_handler { 2 } else { 1 };
                for k in 0..want {
                    let _ = write!(out, "{name}_total{{");
                    target(&mut out, k / per_target);
                    let _ = write!(
                        out,
                        ",method=\"{}\",code=\"{}\"",
                        METHODS[k % METHODS.len()],
                        CODES[(k / METHODS.len()) % CODES.len()]
                    );
                    if with_handler {
                        let hk = (k / (METHODS.len() * CODES.len())) % 2;
                        let _ = write!(out, ",handler=\"{}\"", HANDLERS[hk]);
                    }
                    let _ = write!(out, "}} {}", rng.below(50_000_000));
                    if stamped {
                        timestamp(&mut out, om, ts0 + rng.below(1000));
                    }
                    out.push('\n');
                }
                written += want;
            }
            _ => {
                let name = GAUGES[g % GAUGES.len()];
                g += 1;
                let _ = writeln!(out, "# HELP {name} Current value of {name}.");
                let _ = writeln!(out, "# TYPE {name} gauge");
                for k in 0..want {
                    let _ = write!(out, "{name}{{");
                    target(&mut out, k / DEVICES.len());
                    let _ = write!(out, ",device=\"{}\"}} ", DEVICES[k % DEVICES.len()]);
                    float(&mut out, &mut rng);
                    if stamped {
                        timestamp(&mut out, om, ts0 + rng.below(1000));
                    }
                    out.push('\n');
                }
                written += want;
            }
        }
    }
    if om {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_exposition::{Entry, Parser, collect};

    #[test]
    fn synthetic_payloads_have_exact_line_counts_and_parse_cleanly() {
        for n in [1_000, 10_000, 12_345] {
            let text = synthetic_text(n);
            assert_eq!(sample_lines(text.as_bytes()), n);
            let (families, errors) = collect(Parser::text(text.as_bytes()));
            assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(3)]);
            assert_eq!(families.len(), SYNTHETIC_FAMILIES);
            assert_eq!(families.iter().map(|f| f.samples.len()).sum::<usize>(), n);

            let om = synthetic_openmetrics(n);
            assert_eq!(sample_lines(om.as_bytes()), n);
            let (om_families, errors) = collect(Parser::openmetrics(om.as_bytes()));
            assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(3)]);
            assert_eq!(om_families.len(), SYNTHETIC_FAMILIES);
        }
    }

    #[test]
    fn synthetic_series_are_distinct_and_have_three_to_five_labels() {
        let text = synthetic_text(20_000);
        let mut seen = std::collections::HashSet::new();
        for e in Parser::text(text.as_bytes()) {
            if let Entry::Sample(s) = e.unwrap() {
                assert!((3..=5).contains(&s.labels.len()), "{}", s.series);
                assert!(seen.insert(s.series), "duplicate series {}", s.series);
            }
        }
    }
}

/// A global allocator that counts live heap bytes, for the benches that report memory per
/// series. Install it in a bench with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;` and read
/// [`live_bytes`] around the work.
#[derive(Debug)]
pub struct CountingAlloc;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

/// The bytes currently allocated through [`CountingAlloc`] (requested sizes, not the
/// allocator's own overhead).
pub fn live_bytes() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

// SAFETY: defers every call to the system allocator with the same arguments and only adds an
// atomic counter.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
