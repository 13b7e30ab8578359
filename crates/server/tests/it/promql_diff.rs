//! Differential test of the PromQL engine against Prometheus 2.42 (Debian package `prometheus`).
//!
//! Deterministic pseudo-random series are written as OpenMetrics, turned into blocks by
//! `promtool tsdb create-blocks-from openmetrics`, and served by a real `prometheus` over the
//! same directory our side opens with `Block::open`. Random well-typed queries from templates
//! are then evaluated by both, and the results compared within a float tolerance.
//!
//! 2.42 selects samples in `[t - range, t]`, Prometheus 3 (which the engine follows) in
//! `(t - range, t]`. So that the difference never shows, sample timestamps are jittered to
//! 100–400 ms away from a whole second, while evaluation times sit at 500 ms past a second and
//! ranges, offsets and subquery steps are whole seconds: no sample ever lies on a window's edge.
//! Subquery ranges are 7 s off their step, for subqueries nested in subqueries (evaluated at
//! step-aligned times).
//!
//! `PROM_DIFF_SEED=N` draws another set of queries, `PROM_DIFF_VERBOSE=1` prints the excluded
//! differences too, `PROM_DIFF_KEEP=1` keeps the data directory and Prometheus's log.
//!
//! Runs whenever `prometheus` and `promtool` are on the path; with `PROM_INTEROP=1` their absence
//! is a failure. Differences that are 2.x→3.x semantics changes are excluded by the named rules
//! of [`excluded_by`], each explained in `docs/promql.md`; the test prints how many queries ran,
//! agreed and were excluded per rule, and fails on any other difference.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PeerServer, free_port, prometheus_tools_present};
use prom_model::{Querier, Queryable};
use prom_promql::engine::Value;
use prom_promql::{Engine, EngineOptions};
use prom_tsdb::BlocksQuerier;
use prom_tsdb::block::Block;

/// Start of the data (a whole second, so jitter alone decides the sub-second part).
const T0: i64 = 1_700_000_000_000;
/// Length of the data.
const SPAN: i64 = 2 * 3600 * 1000;
/// Nominal scrape interval.
const INTERVAL: i64 = 15_000;
/// Instant queries per run; range queries come on top.
const INSTANT_QUERIES: usize = 2_000;
const RANGE_QUERIES: usize = 250;

// ---------------------------------------------------------------------------------------------
// Pseudo-random numbers (splitmix64; a fixed seed keeps every run identical).

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len() as u64) as usize]
    }
    /// A jitter of 100–400 ms either side of the nominal time.
    fn jitter(&mut self) -> i64 {
        let j = self.range(100, 400);
        if self.chance(0.5) { j } else { -j }
    }
}

// ---------------------------------------------------------------------------------------------
// Data.

/// One series: its labels in exposition form (`name{a="b",…}`) and its samples.
struct GenSeries {
    name: String,
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

impl GenSeries {
    fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        GenSeries {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            samples: Vec::new(),
        }
    }
}

/// Timestamps of one target: a per-target phase, the interval, and jitter; some targets
/// appear late or vanish early so that lookback and `absent` have something to do.
fn target_times(rng: &mut Rng) -> Vec<i64> {
    let phase = rng.range(0, 14) * 1000;
    let (from, to) = match rng.below(6) {
        0 => (rng.range(20, 40) * 60_000, SPAN),
        1 => (0, rng.range(70, 100) * 60_000),
        _ => (0, SPAN),
    };
    (0..)
        .map(|i| i * INTERVAL + phase)
        .take_while(|&t| t < to)
        .filter(|&t| t >= from)
        .map(|t| T0 + t + rng.jitter())
        .collect()
}

const JOBS: &[&str] = &["api", "db"];
const INSTANCES: &[&str] = &["a:9100", "b:9100", "c:9100"];
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, f64::INFINITY];

fn generate_data(rng: &mut Rng) -> Vec<GenSeries> {
    let mut out = Vec::new();
    for job in JOBS {
        for inst in INSTANCES {
            // Counters with occasional resets, integral and fractional increments.
            for code in ["200", "500"] {
                let mut s = GenSeries::new(
                    "http_requests_total",
                    &[("job", job), ("instance", inst), ("code", code)],
                );
                let mut v = rng.range(0, 1000) as f64;
                for t in target_times(rng) {
                    if rng.chance(1.0 / 150.0) {
                        v = rng.range(0, 5) as f64;
                    } else {
                        v += rng.range(0, 40) as f64;
                    }
                    s.samples.push((t, v));
                }
                out.push(s);
            }
            let mut cpu = GenSeries::new(
                "process_cpu_seconds_total",
                &[("job", job), ("instance", inst)],
            );
            let mut v = rng.unit() * 100.0;
            for t in target_times(rng) {
                if rng.chance(1.0 / 200.0) {
                    v = rng.unit();
                } else {
                    v += rng.unit() * 3.0;
                }
                cpu.samples.push((t, v));
            }
            out.push(cpu);
            // Gauges: a random walk (integral), and up.
            let mut q = GenSeries::new("queue_depth", &[("job", job), ("instance", inst)]);
            let mut v = rng.range(0, 50);
            for t in target_times(rng) {
                v = (v + rng.range(-5, 5)).max(0);
                q.samples.push((t, v as f64));
            }
            out.push(q);
            let mut up = GenSeries::new("up", &[("job", job), ("instance", inst)]);
            for t in target_times(rng) {
                up.samples
                    .push((t, if rng.chance(0.93) { 1.0 } else { 0.0 }));
            }
            out.push(up);
        }
    }
    for inst in INSTANCES {
        for sensor in ["cpu", "gpu"] {
            let mut s = GenSeries::new(
                "node_temperature_celsius",
                &[("job", "node"), ("instance", inst), ("sensor", sensor)],
            );
            let mut v = 40.0 + rng.unit() * 20.0;
            for t in target_times(rng) {
                v += (rng.unit() - 0.5) * 2.0;
                s.samples.push((t, v));
            }
            out.push(s);
        }
    }
    // A classic histogram per api/db target on a and b.
    for job in JOBS {
        for inst in &INSTANCES[..2] {
            let times = target_times(rng);
            let mut counts = vec![0.0; BUCKETS.len()];
            let mut sum = 0.0;
            let mut buckets: Vec<GenSeries> = BUCKETS
                .iter()
                .map(|le| {
                    let le = if le.is_infinite() {
                        "+Inf".to_owned()
                    } else {
                        le.to_string()
                    };
                    GenSeries::new(
                        "request_duration_seconds_bucket",
                        &[("job", job), ("instance", inst), ("le", &le)],
                    )
                })
                .collect();
            let mut sum_s = GenSeries::new(
                "request_duration_seconds_sum",
                &[("job", job), ("instance", inst)],
            );
            let mut count_s = GenSeries::new(
                "request_duration_seconds_count",
                &[("job", job), ("instance", inst)],
            );
            for t in times {
                if rng.chance(1.0 / 300.0) {
                    counts.iter_mut().for_each(|c| *c = 0.0);
                    sum = 0.0;
                }
                for _ in 0..rng.range(0, 30) {
                    let obs = rng.unit().powi(2) * 1.5;
                    sum += obs;
                    for (c, le) in counts.iter_mut().zip(BUCKETS) {
                        if obs <= *le {
                            *c += 1.0;
                        }
                    }
                }
                for (b, c) in buckets.iter_mut().zip(&counts) {
                    b.samples.push((t, *c));
                }
                sum_s.samples.push((t, sum));
                count_s.samples.push((t, counts[counts.len() - 1]));
            }
            out.extend(buckets);
            out.push(sum_s);
            out.push(count_s);
        }
    }
    out
}

fn openmetrics(data: &[GenSeries]) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for s in data {
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let labels = labels.join(",");
        for (t, v) in &s.samples {
            // Seconds with three decimals; Prometheus truncates `ts * 1000`, which the 100 ms
            // margin of the jitter absorbs.
            let _ = writeln!(
                text,
                "{}{{{labels}}} {v} {}.{:03}",
                s.name,
                t.div_euclid(1000),
                t.rem_euclid(1000)
            );
        }
    }
    text.push_str("# EOF\n");
    text
}

// ---------------------------------------------------------------------------------------------
// Queries.

const RANGES: &[&str] = &["1m", "2m", "5m", "10m", "30m"];

struct QueryGen<'r> {
    rng: &'r mut Rng,
}

impl QueryGen<'_> {
    fn selector(&mut self) -> String {
        let r = &mut *self.rng;
        let (name, matchers): (&str, &[&str]) = match r.below(9) {
            0 | 1 => (
                "http_requests_total",
                &[
                    r#"job="api""#,
                    r#"code="500""#,
                    r#"code=~"2..""#,
                    r#"instance=~"a.*|b.*""#,
                    r#"instance!="c:9100""#,
                ],
            ),
            2 => (
                "process_cpu_seconds_total",
                &[r#"job!="db""#, r#"instance=~"[ab]:9100""#],
            ),
            3 => ("queue_depth", &[r#"job="db""#, r#"instance!~"b.*""#]),
            4 => ("up", &[r#"job=~"api|db""#, r#"instance="a:9100""#]),
            5 => (
                "node_temperature_celsius",
                &[r#"sensor="cpu""#, r#"instance=~".*:9100""#],
            ),
            6 => (
                "request_duration_seconds_sum",
                &[r#"job="api""#, r#"instance!="a:9100""#],
            ),
            7 => ("request_duration_seconds_count", &[r#"job="db""#]),
            _ => (
                "request_duration_seconds_bucket",
                &[r#"le="0.25""#, r#"le=~"0.5|1|\\+Inf""#, r#"job="api""#],
            ),
        };
        let mut chosen: Vec<&str> = Vec::new();
        for m in matchers {
            if r.chance(0.3) {
                chosen.push(m);
            }
        }
        let mut s = if chosen.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", chosen.join(","))
        };
        if r.chance(0.02) {
            s = r#"{__name__=~"queue_depth|up",job="api"}"#.to_owned();
        }
        s
    }

    fn counter_selector(&mut self) -> String {
        let r = &mut *self.rng;
        r.pick(&[
            "http_requests_total",
            r#"http_requests_total{code="200"}"#,
            r#"http_requests_total{job="db",code=~"5.."}"#,
            "process_cpu_seconds_total",
            "request_duration_seconds_count",
            r#"request_duration_seconds_sum{job="api"}"#,
        ])
        .to_owned()
    }

    fn range_sel(&mut self, counter: bool) -> String {
        let sel = if counter {
            self.counter_selector()
        } else {
            self.selector()
        };
        let range = self.rng.pick(RANGES);
        let offset = if self.rng.chance(0.1) {
            " offset 10m"
        } else {
            ""
        };
        format!("{sel}[{range}]{offset}")
    }

    fn range_fn(&mut self) -> String {
        let r = &mut *self.rng;
        let counter_fns = ["rate", "irate", "increase", "resets"];
        let gauge_fns = [
            "delta",
            "idelta",
            "deriv",
            "changes",
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "last_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "present_over_time",
        ];
        match r.below(10) {
            0..=4 => {
                let f = counter_fns[r.below(counter_fns.len() as u64) as usize];
                let sel = self.range_sel(true);
                format!("{f}({sel})")
            }
            5 => {
                let q = r.pick(&["0", "0.25", "0.5", "0.9", "1"]);
                let sel = self.range_sel(false);
                format!("quantile_over_time({q}, {sel})")
            }
            6 => {
                let sel = self.range_sel(false);
                let by = self.rng.pick(&["60", "300", "-120"]);
                format!("predict_linear({sel}, {by})")
            }
            _ => {
                let f = gauge_fns[r.below(gauge_fns.len() as u64) as usize];
                let sel = self.range_sel(false);
                format!("{f}({sel})")
            }
        }
    }

    fn scalar(&mut self, depth: u32) -> String {
        match self.rng.below(6) {
            0 if depth > 0 => format!("scalar({})", self.agg_sum(depth - 1)),
            1 => "time()".to_owned(),
            2 => self.rng.pick(&["-1", "-0.5", "0"]).to_owned(),
            _ => self.rng.pick(&["2", "0.5", "10", "100", "3.25"]).to_owned(),
        }
    }

    /// A one-series aggregate, for `scalar()`.
    fn agg_sum(&mut self, depth: u32) -> String {
        let f = self.rng.pick(&["sum", "max", "min", "count", "avg"]);
        format!("{f}({})", self.vector(depth))
    }

    fn grouping(&mut self) -> String {
        let r = &mut *self.rng;
        match r.below(6) {
            0 => String::new(),
            1 => " by (job)".to_owned(),
            2 => " by (job, instance)".to_owned(),
            3 => " without (instance)".to_owned(),
            4 => " by (instance)".to_owned(),
            _ => " without (code, le)".to_owned(),
        }
    }

    fn vector(&mut self, depth: u32) -> String {
        if depth == 0 {
            return if self.rng.chance(0.4) {
                self.selector()
            } else {
                self.range_fn()
            };
        }
        let d = depth - 1;
        match self.rng.below(24) {
            0 => self.selector(),
            1 | 2 => self.range_fn(),
            3 | 4 => {
                let op = self.rng.pick(&[
                    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
                ]);
                let g = self.grouping();
                let v = self.vector(d);
                format!("{op}{g} ({v})")
            }
            5 => {
                let op = self.rng.pick(&["topk", "bottomk"]);
                let k = self.rng.pick(&["1", "2", "3"]);
                let g = self.grouping();
                // Random-walk gauges and rates: ties, where the pick is arbitrary, are rare.
                let v = match self.rng.below(2) {
                    0 => "node_temperature_celsius".to_owned(),
                    _ => format!("rate({}[5m])", self.counter_selector()),
                };
                format!("{op}{g} ({k}, {v})")
            }
            6 => {
                let q = self
                    .rng
                    .pick(&["0", "0.1", "0.5", "0.95", "1", "1.5", "-1"]);
                let g = self.grouping();
                let v = self.vector(d);
                format!("quantile{g} ({q}, {v})")
            }
            7 => {
                let v = self.vector(d);
                let op = self.rng.pick(&["+", "-", "*", "/", "%", "^", "atan2"]);
                let s = self.scalar(d);
                // A scalar on the left only of the well-conditioned operators: `time() % x`
                // turns a last-bit difference in `x` into a relative 1e-7 one.
                if self.rng.chance(0.5) && ["+", "-", "*", "/"].contains(&op) {
                    format!("{s} {op} ({v})")
                } else {
                    format!("({v}) {op} {s}")
                }
            }
            8 => {
                let op = self.rng.pick(&["+", "-", "*", "/"]);
                let g = self.rng.pick(&["job", "job, instance", "instance"]);
                let a = self.vector(d);
                let b = self.vector(d);
                match self.rng.below(3) {
                    0 => format!("sum by ({g}) ({a}) {op} sum by ({g}) ({b})"),
                    1 => format!(
                        "({a}) {op} on (job, instance) group_left sum by (job, instance) ({b})"
                    ),
                    _ => {
                        let f = self.rng.pick(&["rate", "increase", "irate"]);
                        let sel = self.counter_selector();
                        let range = self.rng.pick(RANGES);
                        format!("{f}({sel}[{range}]) {op} {f}({sel}[{range}] offset 5m)")
                    }
                }
            }
            9 => {
                let op = self.rng.pick(&["==", "!=", ">", "<", ">=", "<="]);
                let b = if self.rng.chance(0.5) { " bool" } else { "" };
                let v = self.vector(d);
                if self.rng.chance(0.7) {
                    let s = self.rng.pick(&["0", "1", "10", "50", "0.5"]);
                    format!("({v}) {op}{b} {s}")
                } else {
                    let w = self.vector(d);
                    format!("sum by (job) ({v}) {op}{b} on (job) sum by (job) ({w})")
                }
            }
            10 => {
                let op = self.rng.pick(&["and", "or", "unless"]);
                let on = self
                    .rng
                    .pick(&["", " on (job)", " on (instance)", " ignoring (code)"]);
                let a = self.vector(d);
                let b = self.vector(d);
                format!("({a}) {op}{on} ({b})")
            }
            11 | 12 => {
                let v = self.vector(d);
                match self.rng.below(14) {
                    0 => format!("abs({v})"),
                    1 => format!("ceil({v})"),
                    2 => format!("floor({v})"),
                    3 => format!("round({v})"),
                    4 => format!("round({v}, 0.5)"),
                    5 => format!("clamp({v}, 1, 40)"),
                    6 => format!("clamp_min({v}, 10)"),
                    7 => format!("clamp_max({v}, 5)"),
                    8 => format!("sqrt({v})"),
                    9 => format!("ln({v})"),
                    10 => format!("sgn({v})"),
                    11 => format!("-({v})"),
                    12 => format!("exp(({v}) / 100)"),
                    _ => format!("timestamp({v})"),
                }
            }
            13 => {
                let v = self.vector(d);
                match self.rng.below(3) {
                    0 => format!(r#"label_replace({v}, "host", "$1", "instance", "(.*):.*")"#),
                    1 => format!(r#"label_replace({v}, "job", "x-$1", "job", "a(.*)")"#),
                    _ => format!(r#"label_replace({v}, "instance", "", "instance", ".*")"#),
                }
            }
            14 | 15 => {
                let q = self.rng.pick(&["0.5", "0.9", "0.99", "0", "1"]);
                let g = self.rng.pick(&["le", "le, job", "le, job, instance"]);
                let range = self.rng.pick(&["1m", "5m", "10m"]);
                let sel = self.rng.pick(&[
                    "request_duration_seconds_bucket",
                    r#"request_duration_seconds_bucket{job="db"}"#,
                ]);
                if self.rng.chance(0.3) {
                    format!("histogram_quantile({q}, rate({sel}[{range}]))")
                } else {
                    format!("histogram_quantile({q}, sum by ({g}) (rate({sel}[{range}])))")
                }
            }
            16 | 17 => {
                let f = self.rng.pick(&[
                    "max_over_time",
                    "min_over_time",
                    "avg_over_time",
                    "sum_over_time",
                    "count_over_time",
                    "last_over_time",
                    "deriv",
                    "rate",
                    "delta",
                ]);
                // Ranges 7 s off the steps: a subquery nested in another is evaluated at
                // step-aligned times, and a whole-step range would put its left edge on a point
                // of the inner subquery (left-closed in 2.42, left-open in 3.x).
                let sub = self
                    .rng
                    .pick(&["10m7s:1m", "5m7s:30s", "15m7s:", "30m7s:2m", "6m7s:1m"]);
                let inner = self.vector(d);
                let offset = if self.rng.chance(0.1) {
                    " offset 3m"
                } else {
                    ""
                };
                format!("{f}(({inner})[{sub}]{offset})")
            }
            18 => {
                let v = self
                    .rng
                    .pick(&["up", "queue_depth", r#"round(node_temperature_celsius)"#]);
                let g = self.grouping();
                format!(r#"count_values{g} ("value", {v})"#)
            }
            20 => {
                let v = self.vector(d);
                match self.rng.below(4) {
                    0 => format!(r#"label_join({v}, "target", "/", "job", "instance")"#),
                    1 => format!("hour(timestamp({v}))"),
                    2 => format!("clamp({v}, 5, 1)"),
                    _ => format!("sort({v})"),
                }
            }
            21 => {
                let op = self.rng.pick(&["+", "-", "/", "<", ">="]);
                let a = self.vector(d);
                format!(
                    "sum by (job, instance) ({a}) {op} ignoring (code) group_right http_requests_total"
                )
            }
            22 => {
                // `@` at a time 500 ms past a second, or at the query's start or end.
                let at = match self.rng.below(3) {
                    0 => "start()".to_owned(),
                    1 => "end()".to_owned(),
                    _ => secs(T0 + self.rng.range(10 * 60, SPAN / 1000) * 1000 + 500),
                };
                let sel = self.counter_selector();
                let range = self.rng.pick(RANGES);
                let f = self
                    .rng
                    .pick(&["rate", "increase", "max_over_time", "changes"]);
                if self.rng.chance(0.5) {
                    format!("{f}({sel}[{range}] @ {at})")
                } else {
                    format!("{sel} @ {at}")
                }
            }
            _ => match self.rng.below(3) {
                0 => format!("vector({})", self.scalar(d)),
                1 => self
                    .rng
                    .pick(&[
                        r#"absent(nonexistent{job="x"})"#,
                        r#"absent(up{job="api"})"#,
                        r#"absent_over_time(queue_depth{instance="c:9100"}[5m])"#,
                    ])
                    .to_owned(),
                _ => format!("sort_desc({})", self.vector(d)),
            },
        }
    }

    /// A query of any type, mostly instant vectors.
    fn query(&mut self) -> String {
        match self.rng.below(40) {
            0 => self.scalar(2),
            1 => format!("{} * 2 + 1", self.scalar(1)),
            2 => self.range_sel(false),
            _ => {
                let depth = self.rng.range(0, 3) as u32;
                self.vector(depth)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results in a comparable shape.

type LabelSet = BTreeMap<String, String>;

#[derive(Debug)]
enum Norm {
    Scalar(f64),
    String(String),
    Vector(Vec<(LabelSet, f64)>),
    Matrix(Vec<(LabelSet, Vec<(i64, f64)>)>),
    Error(String),
}

fn show_labels(l: &LabelSet) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Norm::Scalar(v) => write!(f, "scalar {v}"),
            Norm::String(s) => write!(f, "string {s:?}"),
            Norm::Error(e) => write!(f, "error: {e}"),
            Norm::Vector(v) => {
                write!(f, "vector of {}:", v.len())?;
                for (l, x) in v.iter().take(12) {
                    write!(f, "\n      {} {x}", show_labels(l))?;
                }
                Ok(())
            }
            Norm::Matrix(m) => {
                write!(f, "matrix of {}:", m.len())?;
                for (l, pts) in m.iter().take(12) {
                    let shown: Vec<String> = pts
                        .iter()
                        .take(8)
                        .map(|(t, v)| format!("{v}@{t}"))
                        .collect();
                    write!(f, "\n      {} [{}]", show_labels(l), shown.join(" "))?;
                }
                Ok(())
            }
        }
    }
}

fn ours(value: Value) -> Norm {
    fn labels(l: &prom_model::Labels) -> LabelSet {
        l.iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect()
    }
    match value {
        Value::Scalar(v, _) => Norm::Scalar(v),
        Value::String(s, _) => Norm::String(s),
        Value::Vector(v) => {
            let mut v: Vec<_> = v.into_iter().map(|s| (labels(&s.labels), s.v)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Vector(v)
        }
        Value::Matrix(m) => {
            let mut m: Vec<_> = m
                .into_iter()
                .map(|s| {
                    let pts = s.points.iter().map(|p| (p.t, p.v)).collect();
                    (labels(&s.labels), pts)
                })
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Matrix(m)
        }
    }
}

fn parse_float(v: &serde_json::Value) -> f64 {
    let s = v.as_str().expect("Prometheus sends values as strings");
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|e| panic!("value {s:?}: {e}")),
    }
}

fn parse_ms(v: &serde_json::Value) -> i64 {
    (v.as_f64().expect("a timestamp") * 1000.0).round() as i64
}

fn theirs(body: &serde_json::Value) -> Norm {
    if body["status"] != "success" {
        return Norm::Error(body["error"].as_str().unwrap_or("?").to_owned());
    }
    let data = &body["data"];
    let result = &data["result"];
    let labels = |m: &serde_json::Value| -> LabelSet {
        m.as_object()
            .expect("metric object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_owned()))
            .collect()
    };
    match data["resultType"].as_str() {
        Some("scalar") => Norm::Scalar(parse_float(&result[1])),
        Some("string") => Norm::String(result[1].as_str().unwrap_or_default().to_owned()),
        Some("vector") => {
            let mut v: Vec<_> = result
                .as_array()
                .expect("vector")
                .iter()
                .map(|s| (labels(&s["metric"]), parse_float(&s["value"][1])))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Vector(v)
        }
        Some("matrix") => {
            let mut m: Vec<_> = result
                .as_array()
                .expect("matrix")
                .iter()
                .map(|s| {
                    let pts = s["values"]
                        .as_array()
                        .expect("values")
                        .iter()
                        .map(|p| (parse_ms(&p[0]), parse_float(&p[1])))
                        .collect();
                    (labels(&s["metric"]), pts)
                })
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Matrix(m)
        }
        other => panic!("unknown result type {other:?}: {body}"),
    }
}

/// Equal within 1e-9 relative or 1e-12 absolute; NaN equals NaN, infinities themselves.
fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-12 || diff <= 1e-9 * a.abs().max(b.abs())
}

/// `None` when equal, or what differs.
fn compare(p: &Norm, o: &Norm) -> Option<String> {
    compare_with(p, o, &close)
}

/// [`compare`] with `eq` deciding whether two values agree.
fn compare_with(p: &Norm, o: &Norm, eq: &dyn Fn(f64, f64) -> bool) -> Option<String> {
    match (p, o) {
        (Norm::Error(_), Norm::Error(_)) => None,
        (Norm::Scalar(a), Norm::Scalar(b)) => (!eq(*a, *b)).then(|| format!("{a} vs {b}")),
        (Norm::String(a), Norm::String(b)) => (a != b).then(|| format!("{a:?} vs {b:?}")),
        (Norm::Vector(a), Norm::Vector(b)) => {
            if a.len() != b.len() {
                return Some(format!("{} series vs {}", a.len(), b.len()));
            }
            for ((la, va), (lb, vb)) in a.iter().zip(b) {
                if la != lb {
                    return Some(format!("labels {} vs {}", show_labels(la), show_labels(lb)));
                }
                if !eq(*va, *vb) {
                    return Some(format!("{}: {va} vs {vb}", show_labels(la)));
                }
            }
            None
        }
        (Norm::Matrix(a), Norm::Matrix(b)) => {
            if a.len() != b.len() {
                return Some(format!("{} series vs {}", a.len(), b.len()));
            }
            for ((la, pa), (lb, pb)) in a.iter().zip(b) {
                if la != lb {
                    return Some(format!("labels {} vs {}", show_labels(la), show_labels(lb)));
                }
                if pa.len() != pb.len() {
                    return Some(format!(
                        "{}: {} points vs {}",
                        show_labels(la),
                        pa.len(),
                        pb.len()
                    ));
                }
                for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
                    if ta != tb || !eq(*va, *vb) {
                        return Some(format!("{}: {va}@{ta} vs {vb}@{tb}", show_labels(la)));
                    }
                }
            }
            None
        }
        _ => Some("different result types".to_owned()),
    }
}

/// The result with `__name__` removed from every series (and sorted again).
fn without_name(n: &Norm) -> Norm {
    let strip = |l: &LabelSet| {
        let mut l = l.clone();
        l.remove("__name__");
        l
    };
    match n {
        Norm::Vector(v) => {
            let mut v: Vec<_> = v.iter().map(|(l, x)| (strip(l), *x)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Vector(v)
        }
        Norm::Matrix(m) => {
            let mut m: Vec<_> = m.iter().map(|(l, p)| (strip(l), p.clone())).collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Norm::Matrix(m)
        }
        Norm::Scalar(v) => Norm::Scalar(*v),
        Norm::String(s) => Norm::String(s.clone()),
        Norm::Error(e) => Norm::Error(e.clone()),
    }
}

/// Where a query was evaluated, for the rules of [`excluded_by`].
struct Context<'a> {
    query: &'a str,
    /// First and last evaluation time.
    from: i64,
    to: i64,
    /// The first sample time of every generated series.
    series_starts: &'a [i64],
}

/// The sum of every duration written in the query plus the lookback delta: no selector of the
/// query reads further back than this before its evaluation time.
fn reach_ms(query: &str) -> i64 {
    let b = query.as_bytes();
    let mut total = 5 * 60_000;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Digits after a `.` are a fraction, not a duration (`0.05`); after a unit they are the
        // next part of one (`10m7s`).
        let in_word = start > 0 && b[start - 1] == b'.';
        if i > start && !in_word && i < b.len() {
            let n: i64 = query[start..i].parse().unwrap_or(0);
            let unit = match (b[i], b.get(i + 1)) {
                (b'm', Some(b's')) => 1,
                (b'h', _) => 3_600_000,
                (b'm', _) => 60_000,
                (b's', _) => 1000,
                _ => 0,
            };
            total += n * unit;
        }
        i = i.max(start + 1);
    }
    total
}

/// The named rule that explains a difference as a 2.x→3.x semantics change (each one is
/// described in docs/promql.md, "Differential test against Prometheus 2.42"), or `None`.
fn excluded_by(cx: &Context<'_>, p: &Norm, o: &Norm) -> Option<&'static str> {
    // 3.x clamps the extrapolation at the start of a rate/increase window to half an interval
    // before it applies the counter's zero point; 2.42 did it the other way round. The orders
    // disagree only when the window begins well before the series' first sample, so the rule
    // applies only to queries that reach back to some series' start, and only to differences
    // in values (the same series on both sides).
    let rates = cx.query.contains("rate(") || cx.query.contains("increase(");
    let reach = reach_ms(cx.query);
    let same_series = compare_with(p, o, &|_, _| true).is_none();
    // `@ <time>` moves a selector's evaluation time; widen the span to include it.
    let (mut from, mut to) = (cx.from, cx.to);
    for at in cx.query.split("@ ").skip(1) {
        let num: String = at
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if let Ok(secs) = num.parse::<f64>() {
            let t = (secs * 1000.0).round() as i64;
            from = from.min(t);
            to = to.max(t);
        }
    }
    if rates
        && same_series
        && cx
            .series_starts
            .iter()
            .any(|&s| from - reach <= s && s <= to)
    {
        return Some("rate_extrapolation_order");
    }
    // The engine removes `__name__` only when a result leaves the query (Prometheus 3's
    // delayed name removal), so two metrics that differ only by name survive a function or a
    // `group_left` and meet in an aggregation that drops the name anyway; 2.42 fails first.
    // Not for queries that blank `instance` with label_replace, which should fail on both
    // sides (see the engine bug in docs/promql.md).
    let name_clash = [
        "vector cannot contain metrics with the same labelset",
        "multiple matches for labels: grouping labels must ensure unique matches",
    ];
    if cx.query.contains("__name__=~")
        && !cx.query.contains(r#""instance", "", "instance""#)
        && matches!(p, Norm::Error(e) if name_clash.contains(&e.as_str()))
        && !matches!(o, Norm::Error(_))
    {
        return Some("delayed_name_removal");
    }
    // `atan2` between vectors keeps the metric name in 2.42; later releases drop it, as for
    // the other arithmetic operators. Values must still agree.
    if cx.query.contains("atan2") && compare(&without_name(p), &without_name(o)).is_none() {
        return Some("atan2_drops_name");
    }
    // The standard deviation (and variance) of a group holding a single Inf or NaN is NaN in
    // 3.x (as with several values, and as `stddev_over_time`), 0 in 2.42. The NaN then flows
    // through whatever is computed from it.
    let stddev = cx.query.contains("stddev (")
        || cx.query.contains("stdvar (")
        || cx.query.contains("stddev by")
        || cx.query.contains("stdvar by")
        || cx.query.contains("stddev without")
        || cx.query.contains("stdvar without");
    if stddev && compare_with(p, o, &|a, b| close(a, b) || (a.is_finite() && b.is_nan())).is_none()
    {
        return Some("stddev_of_non_finite");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Prometheus as a child process.

/// A GET over HTTP/1.0 (so the answer is neither chunked nor kept alive): status and body.
fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000))
}

fn start_prometheus(data_dir: &Path, work: &Path) -> PeerServer {
    let config = work.join("prometheus.yml");
    std::fs::write(&config, "global:\n  evaluation_interval: 1m\n").expect("write config");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(work.join("prometheus.log")).expect("log file");
    let child = Command::new("prometheus")
        .arg(format!("--storage.tsdb.path={}", data_dir.display()))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let server = PeerServer { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = http_get(&server.addr, "/-/ready") {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready after 60 s; see {}",
            work.join("prometheus.log").display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn query_prometheus(server: &PeerServer, path: &str) -> Norm {
    let (status, body) = http_get(&server.addr, path).expect("query prometheus");
    let json: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("HTTP {status} from {path}: {e}: {body}"));
    theirs(&json)
}

// ---------------------------------------------------------------------------------------------
// Our side.

struct Blocks(Vec<Block>);

impl Queryable for Blocks {
    fn querier(&self, mint: i64, maxt: i64) -> prom_model::Result<Box<dyn Querier + '_>> {
        Ok(Box::new(BlocksQuerier::new(&self.0, mint, maxt)))
    }
}

fn open_blocks(dir: &Path) -> Blocks {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read data dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "promtool wrote no blocks into {}",
        dir.display()
    );
    Blocks(
        dirs.iter()
            .map(|d| Block::open(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())))
            .collect(),
    )
}

#[test]
fn engine_agrees_with_prometheus_2_42() {
    if !prometheus_tools_present() {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "PROM_INTEROP=1 but prometheus/promtool cannot be run; install the Debian package \
             `prometheus`"
        );
        println!("skipped: prometheus not found");
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().expect("temp dir");
    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");

    let mut rng = Rng(0x5EED_2042);
    let data = generate_data(&mut rng);
    let samples: usize = data.iter().map(|s| s.samples.len()).sum();
    let mut series_starts: Vec<i64> = data
        .iter()
        .filter_map(|s| s.samples.first().map(|(t, _)| *t))
        .collect();
    series_starts.sort_unstable();
    series_starts.dedup();
    let input = work.path().join("data.om");
    std::fs::write(&input, openmetrics(&data)).expect("write openmetrics");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data_dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool create-blocks-from failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Open our side before Prometheus starts, which may compact the same blocks.
    let blocks = open_blocks(&data_dir);
    let server = start_prometheus(&data_dir, work.path());
    let engine = Engine::new(EngineOptions::default());
    println!(
        "{} series, {samples} samples in {} block(s); prometheus ready after {:.1?}",
        data.len(),
        blocks.0.len(),
        started.elapsed()
    );

    let mut ran = 0usize;
    let mut agreed = 0usize;
    let mut both_failed = 0usize;
    let mut excluded: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    // PROM_DIFF_SEED picks another set of queries, to explore beyond the fixed one.
    let seed = std::env::var("PROM_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0051_DE0F_2042u64);
    let mut qrng = Rng(seed);
    // PROM_DIFF_VERBOSE=1 also prints the differences the rules excluded.
    let verbose = std::env::var_os("PROM_DIFF_VERBOSE").is_some();
    // Evaluation times 500 ms past a second (see the module comment), within the data and a
    // little after its end.
    let eval_time = |r: &mut Rng| T0 + r.range(10 * 60, (SPAN / 1000) + 4 * 60) * 1000 + 500;
    for i in 0..INSTANT_QUERIES + RANGE_QUERIES {
        let query = QueryGen { rng: &mut qrng }.query();
        let expr = prom_promql::parse(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let (label, from, to, p, o) = if i < INSTANT_QUERIES {
            let t = eval_time(&mut qrng);
            let path = format!("/api/v1/query?query={}&time={}", encode(&query), secs(t));
            let p = query_prometheus(&server, &path);
            let o = match engine.instant(&blocks, &expr, t) {
                Ok(r) => ours(r.value),
                Err(e) => Norm::Error(e.to_string()),
            };
            (format!("instant at {}", secs(t)), t, t, p, o)
        } else {
            let start = eval_time(&mut qrng) - 30 * 60_000;
            let step = *qrng.pick(&[&15_000i64, &60_000, &90_000]);
            let end = start + step * qrng.range(5, 30);
            let path = format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={}",
                encode(&query),
                secs(start),
                secs(end),
                secs(step)
            );
            let p = query_prometheus(&server, &path);
            let o = match engine.range(&blocks, &expr, start, end, step) {
                Ok(r) => ours(r.value),
                Err(e) => Norm::Error(e.to_string()),
            };
            (
                format!("range {}..{} step {}", secs(start), secs(end), step / 1000),
                start,
                end,
                p,
                o,
            )
        };
        ran += 1;
        if matches!((&p, &o), (Norm::Error(_), Norm::Error(_))) {
            both_failed += 1;
        }
        match compare(&p, &o) {
            None => agreed += 1,
            Some(diff) => match excluded_by(
                &Context {
                    query: &query,
                    from,
                    to,
                    series_starts: &series_starts,
                },
                &p,
                &o,
            ) {
                Some(rule) => {
                    if verbose {
                        println!("excluded by {rule}: {query}\n    {label}: {diff}");
                    }
                    *excluded.entry(rule).or_default() += 1;
                }
                None => failures.push(format!(
                    "{query}\n    {label}: {diff}\n    prometheus: {p}\n    prom:       {o}"
                )),
            },
        }
    }
    drop(server);
    if std::env::var_os("PROM_DIFF_KEEP").is_some() {
        println!("kept {}", work.keep().display());
    }
    println!(
        "{ran} queries ({INSTANT_QUERIES} instant, {RANGE_QUERIES} range) in {:.1?}: {agreed} \
         agreed ({both_failed} of them failed on both sides), {} differ",
        started.elapsed(),
        ran - agreed
    );
    for (rule, n) in &excluded {
        println!("  excluded by rule {rule}: {n}");
    }
    println!("  unexplained: {}", failures.len());
    assert!(
        failures.is_empty(),
        "{} unexplained difference(s) with Prometheus 2.42:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
