//! Lints: the naming and shape conventions of Prometheus metrics, checked on parsed families.
//!
//! A linted exposition is valid either way; these findings are about what makes metrics
//! pleasant to query (`prom check metrics` prints them as warnings). The checks follow the
//! Prometheus naming guide, as promtool's metrics linter does:
//!
//! - every family has HELP text;
//! - counter samples end in `_total`, other types' names do not;
//! - names use base units (seconds, bytes, ratios, celsius), spelled out, not abbreviated;
//! - names are snake_case, hold no `:` (reserved for recording rules) and do not repeat the
//!   type (`_gauge`);
//! - `_count`, `_sum`, `_bucket` and the `le` / `quantile` labels belong to histograms and
//!   summaries only;
//! - no series appears twice with the same timestamp (or twice without one).
//!
//! Untyped (unknown) families are exempt from the type-dependent checks: without a type there
//! is nothing to contradict.
//!
//! ```
//! use prom_exposition::{Format, Parser, collect, lint};
//!
//! let (families, errors) = collect(Parser::text(b"# TYPE requests counter\nrequests 3\n"));
//! assert!(errors.is_empty());
//! let problems = lint(&families, Format::Text);
//! let messages: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
//! assert_eq!(
//!     messages,
//!     [
//!         "requests: no HELP text",
//!         "requests: counter sample names should end in \"_total\"",
//!     ]
//! );
//! assert_eq!(problems[0].line, 2);
//! ```

use std::collections::HashMap;
use std::fmt;

use prom_model::MetricType;

use crate::encode::series_text;
use crate::family::{MetricFamily, OwnedSample};
use crate::negotiate::Format;

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The 1-based line of the offending sample; for a problem of the whole family, the line of
    /// its first sample. 0 when the family has no samples (or they were built in code).
    pub line: u32,
    /// The family the problem was found in (its name as the exposition declares it).
    pub family: String,
    /// What is wrong, in a sentence fragment without the family name.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `family: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.family, self.message)
    }
}

/// Units that have a base unit to use instead, as whole `_`-separated words of a name.
const NON_BASE_UNITS: &[(&str, &str)] = &[
    ("nanoseconds", "seconds"),
    ("microseconds", "seconds"),
    ("milliseconds", "seconds"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("bits", "bytes"),
    ("kilobits", "bytes"),
    ("megabits", "bytes"),
    ("gigabits", "bytes"),
    ("kilobytes", "bytes"),
    ("megabytes", "bytes"),
    ("gigabytes", "bytes"),
    ("terabytes", "bytes"),
    ("petabytes", "bytes"),
    ("exabytes", "bytes"),
    ("kibibytes", "bytes"),
    ("mebibytes", "bytes"),
    ("gibibytes", "bytes"),
    ("tebibytes", "bytes"),
    ("pebibytes", "bytes"),
    ("exbibytes", "bytes"),
    ("kib", "bytes"),
    ("mib", "bytes"),
    ("gib", "bytes"),
    ("tib", "bytes"),
    ("pib", "bytes"),
    ("eib", "bytes"),
    ("percent", "ratio"),
    ("percentage", "ratio"),
    ("fahrenheit", "celsius"),
];

/// Abbreviated units, as whole words of a name, and the base unit to spell out instead.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("s", "seconds"),
    ("sec", "seconds"),
    ("secs", "seconds"),
    ("ms", "seconds"),
    ("us", "seconds"),
    ("ns", "seconds"),
    ("mins", "seconds"),
    ("h", "seconds"),
    ("hr", "seconds"),
    ("hrs", "seconds"),
    ("d", "seconds"),
    ("b", "bytes"),
    ("kb", "bytes"),
    ("mb", "bytes"),
    ("gb", "bytes"),
    ("tb", "bytes"),
    ("pb", "bytes"),
];

/// Type names that should not be repeated in a metric name.
const TYPE_WORDS: &[&str] = &[
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "stateset",
];

/// Checks `families` (as [`crate::collect`] returns them from input in `format`) against the
/// Prometheus naming conventions. Returns the problems ordered by line; an empty vector means
/// the exposition is clean.
///
/// `format` matters for counters: a Prometheus text family is named as its samples are
/// (`jobs_total`), while an OpenMetrics counter family is named without `_total` and only its
/// samples carry the suffix.
pub fn lint(families: &[MetricFamily], format: Format) -> Vec<Problem> {
    let mut problems = Vec::new();
    for family in families {
        lint_family(family, format, &mut problems);
    }
    lint_duplicates(families, &mut problems);
    // Stable: problems of one line keep the order of the checks.
    problems.sort_by_key(|p| p.line);
    problems
}

/// Collects the problems of one family.
struct Findings<'a> {
    family: &'a MetricFamily,
    out: &'a mut Vec<Problem>,
}

impl Findings<'_> {
    /// A problem of the whole family, reported at its first sample.
    fn family(&mut self, message: String) {
        let line = self.family.samples.first().map_or(0, |s| s.line);
        self.at(line, message);
    }

    fn at(&mut self, line: u32, message: String) {
        self.out.push(Problem {
            line,
            family: self.family.name.clone(),
            message,
        });
    }
}

fn lint_family(family: &MetricFamily, format: Format, out: &mut Vec<Problem>) {
    let name = family.name.as_str();
    if name.is_empty() {
        return;
    }
    let t = family.metric_type;
    let mut f = Findings { family, out };

    if family.help.as_deref().is_none_or(|h| h.trim().is_empty()) {
        f.family("no HELP text".to_owned());
    }

    // Suffixes that belong to one type.
    match t {
        MetricType::Counter => check_counter_suffix(&mut f, format),
        MetricType::Unknown => {}
        _ if name.ends_with("_total") => {
            f.family("non-counter metric names should not end in \"_total\"".to_owned());
        }
        _ => {}
    }
    let histogram = matches!(t, MetricType::Histogram | MetricType::GaugeHistogram);
    if t != MetricType::Unknown {
        for suffix in ["_count", "_sum"] {
            if name.ends_with(suffix) && !histogram && t != MetricType::Summary {
                f.family(format!(
                    "only histogram and summary names should end in \"{suffix}\""
                ));
            }
        }
        if name.ends_with("_bucket") && !histogram {
            f.family("only histogram names should end in \"_bucket\"".to_owned());
        }
        if !histogram && let Some(s) = first_with_label(family, "le") {
            f.at(
                s.line,
                "only histograms should have an \"le\" label".to_owned(),
            );
        }
        if t != MetricType::Summary
            && let Some(s) = first_with_label(family, "quantile")
        {
            f.at(
                s.line,
                "only summaries should have a \"quantile\" label".to_owned(),
            );
        }
    }

    // The words of the name.
    for word in name.split(['_', ':']) {
        if let Some((_, base)) = NON_BASE_UNITS.iter().find(|(u, _)| *u == word) {
            f.family(format!(
                "use the base unit \"{base}\" instead of \"{word}\""
            ));
        }
        if let Some((_, base)) = ABBREVIATIONS.iter().find(|(a, _)| *a == word) {
            f.family(format!(
                "spell out units instead of abbreviating them: \"{word}\" (use \"{base}\")"
            ));
        }
        if TYPE_WORDS.contains(&word) {
            f.family(format!(
                "metric names should not include the type \"{word}\""
            ));
        }
    }
    if name.contains(':') {
        f.family(
            "metric names should not contain ':', which is reserved for recording rules".to_owned(),
        );
    }
    if is_camel_case(name) {
        f.family("metric names should be written in snake_case, not camelCase".to_owned());
    }
    let camel_label = family.samples.iter().find_map(|s| {
        s.labels
            .iter()
            .find(|(n, _)| is_camel_case(n))
            .map(|(n, _)| (s.line, n))
    });
    if let Some((line, label)) = camel_label {
        f.at(
            line,
            format!("label names should be written in snake_case, not camelCase ({label:?})"),
        );
    }
}

/// Counter samples end in `_total`. In OpenMetrics `_created` samples sit beside them; in the
/// text format a family with no samples is judged by its own name.
fn check_counter_suffix(f: &mut Findings<'_>, format: Format) {
    let ok = |n: &str| {
        n.ends_with("_total") || (format == Format::OpenMetrics && n.ends_with("_created"))
    };
    let message = || "counter sample names should end in \"_total\"".to_owned();
    match f.family.samples.iter().find(|s| !ok(&s.name)) {
        Some(s) => {
            let line = s.line;
            f.at(line, message());
        }
        None if f.family.samples.is_empty()
            && format == Format::Text
            && !f.family.name.ends_with("_total") =>
        {
            f.at(0, message());
        }
        None => {}
    }
}

fn first_with_label<'f>(family: &'f MetricFamily, label: &str) -> Option<&'f OwnedSample> {
    family.samples.iter().find(|s| s.label(label).is_some())
}

/// camelCase: a lower-case ASCII letter directly followed by an upper-case one. Upper case
/// after `_` or a digit alone (`node_memory_Active_bytes`) is left alone.
fn is_camel_case(name: &str) -> bool {
    name.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// The same sample name and label set (in any order) twice, both without a timestamp or both
/// with the same one. Reported at the second occurrence.
fn lint_duplicates(families: &[MetricFamily], out: &mut Vec<Problem>) {
    type Key<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<i64>);
    let mut seen: HashMap<Key<'_>, u32> = HashMap::new();
    for family in families {
        for s in &family.samples {
            let mut labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            labels.sort_unstable();
            let key = (s.name.as_str(), labels, s.timestamp);
            if let Some(&first) = seen.get(&key) {
                let when = match s.timestamp {
                    Some(t) => format!(" at timestamp {t}"),
                    None => String::new(),
                };
                out.push(Problem {
                    line: s.line,
                    family: family.name.clone(),
                    message: format!(
                        "duplicate series {}{when} (first on line {first})",
                        series_text(s)
                    ),
                });
            } else {
                seen.insert(key, s.line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Parser, collect};

    /// Lints `input` and returns `(line, "family: message")` pairs.
    fn check(input: &str, format: Format) -> Vec<(u32, String)> {
        let (families, errors) = collect(Parser::new(input.as_bytes(), format));
        assert!(errors.is_empty(), "{errors:?}");
        lint(&families, format)
            .into_iter()
            .map(|p| (p.line, p.to_string()))
            .collect()
    }

    fn text(input: &str) -> Vec<(u32, String)> {
        check(input, Format::Text)
    }

    /// A text family with HELP and TYPE lines, so only the interesting problem shows.
    fn typed(name: &str, t: &str, samples: &str) -> String {
        format!("# HELP {name} Help.\n# TYPE {name} {t}\n{samples}")
    }

    #[test]
    fn clean_exposition_has_no_problems() {
        let input = typed("jobs_total", "counter", "jobs_total{queue=\"mail\"} 3\n")
            + &typed("temperature_celsius", "gauge", "temperature_celsius 21.5\n")
            + &typed(
                "latency_seconds",
                "histogram",
                "latency_seconds_bucket{le=\"1\"} 1\nlatency_seconds_bucket{le=\"+Inf\"} 2\n\
                 latency_seconds_sum 1.5\nlatency_seconds_count 2\n",
            )
            + &typed(
                "rpc_seconds",
                "summary",
                "rpc_seconds{quantile=\"0.5\"} 0.1\nrpc_seconds_sum 1\nrpc_seconds_count 4\n",
            );
        assert_eq!(text(&input), []);
    }

    #[test]
    fn missing_help() {
        assert_eq!(
            text("# TYPE up gauge\nup 1\n"),
            [(2, "up: no HELP text".to_owned())]
        );
        // An empty HELP says nothing either.
        assert_eq!(
            text("# HELP up \n# TYPE up gauge\nup 1\n"),
            [(3, "up: no HELP text".to_owned())]
        );
    }

    #[test]
    fn family_without_samples_reports_line_zero() {
        assert_eq!(
            text("# TYPE up gauge\n"),
            [(0, "up: no HELP text".to_owned())]
        );
    }

    #[test]
    fn text_counter_without_total() {
        assert_eq!(
            text(&typed("jobs", "counter", "jobs 3\n")),
            [(
                3,
                "jobs: counter sample names should end in \"_total\"".to_owned()
            )]
        );
        // With no samples the family name is what there is to judge.
        assert_eq!(
            text("# HELP jobs Help.\n# TYPE jobs counter\n"),
            [(
                0,
                "jobs: counter sample names should end in \"_total\"".to_owned()
            )]
        );
    }

    #[test]
    fn openmetrics_counter_is_judged_by_its_samples() {
        // The family is named without `_total`; its samples carry it, `_created` beside them.
        let ok = "# TYPE jobs counter\n# HELP jobs Help.\njobs_total 3\njobs_created 1\n# EOF\n";
        assert_eq!(check(ok, Format::OpenMetrics), []);
        // Built in code, as the OpenMetrics parser does not let such a counter through.
        let family = MetricFamily {
            name: "jobs".into(),
            metric_type: MetricType::Counter,
            help: Some("Help.".into()),
            unit: None,
            line: 0,
            samples: vec![OwnedSample {
                name: "jobs".into(),
                line: 4,
                ..OwnedSample::default()
            }],
        };
        let problems = lint(&[family], Format::OpenMetrics);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 4);
        assert_eq!(
            problems[0].message,
            "counter sample names should end in \"_total\""
        );
    }

    #[test]
    fn non_counter_with_total() {
        assert_eq!(
            text(&typed("jobs_total", "gauge", "jobs_total 3\n")),
            [(
                3,
                "jobs_total: non-counter metric names should not end in \"_total\"".to_owned()
            )]
        );
        // Untyped families are exempt.
        assert_eq!(text(&typed("jobs_total", "untyped", "jobs_total 3\n")), []);
    }

    #[test]
    fn non_base_units() {
        let cases = [
            ("request_milliseconds", "seconds", "milliseconds"),
            ("request_microseconds", "seconds", "microseconds"),
            ("request_nanoseconds", "seconds", "nanoseconds"),
            ("uptime_minutes", "seconds", "minutes"),
            ("uptime_hours", "seconds", "hours"),
            ("uptime_days", "seconds", "days"),
            ("uptime_weeks", "seconds", "weeks"),
            ("heap_kilobytes", "bytes", "kilobytes"),
            ("heap_megabytes", "bytes", "megabytes"),
            ("heap_gigabytes", "bytes", "gigabytes"),
            ("heap_kib", "bytes", "kib"),
            ("heap_mib", "bytes", "mib"),
            ("link_bits", "bytes", "bits"),
            ("cpu_percent", "ratio", "percent"),
            ("cpu_percentage", "ratio", "percentage"),
        ];
        for (name, base, unit) in cases {
            let got = text(&typed(name, "gauge", &format!("{name} 1\n")));
            let want = format!("{name}: use the base unit \"{base}\" instead of \"{unit}\"");
            assert_eq!(got, [(3, want)], "{name}");
        }
        // Anywhere in the name, counted once per word; not inside a longer word.
        assert_eq!(
            text(&typed(
                "io_milliseconds_total",
                "counter",
                "io_milliseconds_total 1\n"
            )),
            [(
                3,
                "io_milliseconds_total: use the base unit \"seconds\" instead of \"milliseconds\""
                    .to_owned()
            )]
        );
        assert_eq!(
            text(&typed("daystar_seconds", "gauge", "daystar_seconds 1\n")),
            []
        );
    }

    #[test]
    fn abbreviated_units() {
        assert_eq!(
            text(&typed("request_ms", "gauge", "request_ms 1\n")),
            [(
                3,
                "request_ms: spell out units instead of abbreviating them: \"ms\" (use \"seconds\")"
                    .to_owned()
            )]
        );
        assert_eq!(
            text(&typed("heap_kb", "gauge", "heap_kb 1\n"))[0].1,
            "heap_kb: spell out units instead of abbreviating them: \"kb\" (use \"bytes\")"
        );
    }

    #[test]
    fn camel_case_metric_and_label_names() {
        assert_eq!(
            text(&typed(
                "httpRequests_total",
                "counter",
                "httpRequests_total 1\n"
            )),
            [(
                3,
                "httpRequests_total: metric names should be written in snake_case, not camelCase"
                    .to_owned()
            )]
        );
        // A capital after `_` is not camelCase.
        assert_eq!(
            text(&typed(
                "node_memory_Active_bytes",
                "gauge",
                "node_memory_Active_bytes 1\n"
            )),
            []
        );
        assert_eq!(
            text(&typed(
                "up",
                "gauge",
                "up{a=\"1\"} 1\nup{someLabel=\"x\"} 1\n"
            )),
            [(
                4,
                "up: label names should be written in snake_case, not camelCase (\"someLabel\")"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn reserved_suffixes_on_the_wrong_type() {
        assert_eq!(
            text(&typed("queue_count", "gauge", "queue_count 1\n")),
            [(
                3,
                "queue_count: only histogram and summary names should end in \"_count\"".to_owned()
            )]
        );
        assert_eq!(
            text(&typed("queue_sum", "gauge", "queue_sum 1\n")),
            [(
                3,
                "queue_sum: only histogram and summary names should end in \"_sum\"".to_owned()
            )]
        );
        assert_eq!(
            text(&typed("queue_bucket", "gauge", "queue_bucket 1\n")),
            [(
                3,
                "queue_bucket: only histogram names should end in \"_bucket\"".to_owned()
            )]
        );
        // A summary may end in `_count` but not `_bucket`; untyped families are exempt.
        assert_eq!(
            text(&typed(
                "rpc_count",
                "summary",
                "rpc_count_sum 1\nrpc_count_count 1\n"
            )),
            []
        );
        assert_eq!(
            text(&typed("rpc_bucket", "summary", "rpc_bucket_count 1\n")),
            [(
                3,
                "rpc_bucket: only histogram names should end in \"_bucket\"".to_owned()
            )]
        );
        assert_eq!(
            text(&typed("queue_bucket", "untyped", "queue_bucket 1\n")),
            []
        );
    }

    #[test]
    fn le_and_quantile_labels_on_the_wrong_type() {
        assert_eq!(
            text(&typed("depth", "gauge", "depth 1\ndepth{le=\"1\"} 1\n")),
            [(
                4,
                "depth: only histograms should have an \"le\" label".to_owned()
            )]
        );
        assert_eq!(
            text(&typed("depth", "gauge", "depth{quantile=\"0.5\"} 1\n")),
            [(
                3,
                "depth: only summaries should have a \"quantile\" label".to_owned()
            )]
        );
    }

    #[test]
    fn type_in_name() {
        assert_eq!(
            text(&typed("queue_gauge", "gauge", "queue_gauge 1\n")),
            [(
                3,
                "queue_gauge: metric names should not include the type \"gauge\"".to_owned()
            )]
        );
    }

    #[test]
    fn colon_in_name() {
        assert_eq!(
            text(&typed("job:up:sum", "gauge", "job:up:sum 1\n")),
            [(
                3,
                "job:up:sum: metric names should not contain ':', which is reserved for \
                 recording rules"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn duplicate_series() {
        // Label order does not matter.
        assert_eq!(
            text(&typed(
                "up",
                "gauge",
                "up{a=\"1\",b=\"2\"} 1\nup{b=\"2\",a=\"1\"} 0\n"
            )),
            [(
                4,
                "up: duplicate series up{b=\"2\",a=\"1\"} (first on line 3)".to_owned()
            )]
        );
        // Same timestamp: a duplicate; different timestamps: two samples of one series.
        assert_eq!(
            text(&typed("up", "gauge", "up 1 1000\nup 0 1000\nup 1 2000\n")),
            [(
                4,
                "up: duplicate series up at timestamp 1000 (first on line 3)".to_owned()
            )]
        );
        // One with and one without a timestamp are not reported.
        assert_eq!(text(&typed("up", "gauge", "up 1\nup 0 1000\n")), []);
        // Different label values are different series.
        assert_eq!(
            text(&typed("up", "gauge", "up{a=\"1\"} 1\nup{a=\"2\"} 1\n")),
            []
        );
    }

    #[test]
    fn problems_are_ordered_by_line() {
        let input = typed("up", "gauge", "up 1\n") + "fooBar 1\n" + "# TYPE x gauge\nx 1\nx 1\n";
        let lines: Vec<u32> = text(&input).iter().map(|p| p.0).collect();
        assert_eq!(lines, [4, 4, 6, 7]);
    }
}
