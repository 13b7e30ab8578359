//! Counts the heap allocations the parser makes.
//!
//! This is its own test binary, not a module of `tests/it`, because it installs a counting
//! `#[global_allocator]`, which would apply to every test linked with it. Counting is per
//! thread (the test harness runs tests on several threads at once), and only while a
//! [`count`] closure runs.
//!
//! What it pins down: in the Prometheus text format, a whole parse (every entry, every label
//! decoded) costs a small constant number of allocations however many lines there are, none per
//! sample line; a label value with an escape costs one, when it is decoded. OpenMetrics mode
//! keeps per-family and per-metric state, so it allocates as that grows, far slower than lines.
#![allow(unsafe_code)] // Implementing `GlobalAlloc` needs `unsafe impl`; nothing else here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::hint::black_box;

use prom_exposition::{Entry, Format, Parser};

struct Counting;

thread_local! {
    // Const-initialised and without destructors, so reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting only touches
// thread-local cells.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growth is an allocation as far as a hot loop is concerned.
        note_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations (and reallocations) made on
/// this thread while it ran.
fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

/// What one full pass saw.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    samples: usize,
    labels: usize,
    other: usize,
    errors: usize,
}

/// Iterates every entry and decodes every label, as a scraper that builds label sets would.
fn parse_everything(body: &[u8], format: Format) -> Tally {
    let mut t = Tally::default();
    for e in Parser::new(body, format) {
        match e {
            Ok(Entry::Sample(s)) => {
                t.samples += 1;
                for l in s.labels.iter() {
                    t.labels += 1;
                    black_box((&l.name, &l.value));
                }
                black_box((&s.name, s.value, s.timestamp, s.series));
            }
            Ok(other) => {
                t.other += 1;
                black_box(other);
            }
            Err(e) => {
                t.errors += 1;
                black_box(e);
            }
        }
    }
    t
}

/// A scrape shaped like a large real one (the benchmarks' synthetic payload in small): 50
/// families with HELP and TYPE, counters with 4 to 5 labels, gauges with 3, histograms with
/// `le` buckets, `_sum` and `_count`; integer and float values; no escapes. Exactly `series`
/// sample lines. In OpenMetrics, counters are declared without `_total` and the body ends with
/// `# EOF`.
fn payload(series: usize, om: bool) -> String {
    const FAMILIES: usize = 50;
    const LE: [&str; 6] = ["0.01", "0.05", "0.1", "0.5", "1", "+Inf"];
    const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
    const CODES: [&str; 5] = ["200", "201", "304", "404", "500"];
    let mut out = String::with_capacity(series * 110);
    let per_family = series / FAMILIES;
    let mut written = 0;
    for f in 0..FAMILIES {
        let want = if f + 1 == FAMILIES {
            series
        } else {
            per_family * (f + 1)
        } - written;
        match f % 5 {
            0 => {
                let name = format!("op{f}_duration_seconds");
                let _ = writeln!(
                    out,
                    "# HELP {name} Time spent, in seconds.\n# TYPE {name} histogram"
                );
                let points = want / (LE.len() + 2);
                for p in 0..points {
                    let labels = format!(
                        "job=\"api\",instance=\"10.0.{}.{}:9100\",handler=\"/h{}\"",
                        p / 250,
                        p % 250,
                        p % 7
                    );
                    for (k, le) in LE.iter().enumerate() {
                        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {}", k * 3);
                    }
                    let _ = writeln!(out, "{name}_sum{{{labels}}} {}.25", p * 2);
                    let _ = writeln!(out, "{name}_count{{{labels}}} {}", (LE.len() - 1) * 3);
                }
                written += points * (LE.len() + 2);
            }
            1 | 2 => {
                let family = if om {
                    format!("req{f}")
                } else {
                    format!("req{f}_total")
                };
                let _ = writeln!(
                    out,
                    "# HELP {family} Requests handled.\n# TYPE {family} counter"
                );
                for k in 0..want {
                    let _ = write!(
                        out,
                        "req{f}_total{{job=\"api\",instance=\"10.1.{}.{}:9100\",method=\"{}\",code=\"{}\"",
                        k / 5000,
                        (k / 20) % 250,
                        METHODS[k % 4],
                        CODES[(k / 4) % 5]
                    );
                    if f % 2 == 0 {
                        out.push_str(",handler=\"/api/v1/query\"");
                    }
                    let _ = writeln!(out, "}} {}", k * 37);
                }
                written += want;
            }
            _ => {
                let _ = writeln!(
                    out,
                    "# HELP mem{f}_bytes Memory.\n# TYPE mem{f}_bytes gauge"
                );
                for k in 0..want {
                    let _ = writeln!(
                        out,
                        "mem{f}_bytes{{job=\"node\",instance=\"10.2.{}.{}:9100\",device=\"d{}\"}} {}e+06",
                        k / 2000,
                        (k / 8) % 250,
                        k % 8,
                        1.0 + (k % 1000) as f64 / 1000.0
                    );
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

/// The text parser's allocations for a whole parse: its label-name scratch vector growing to
/// hold the longest label set (5 names: capacity 4, then 8). Nothing per line.
const TEXT_ALLOCATIONS: usize = 2;

#[test]
fn text_parse_allocates_nothing_per_line() {
    let mut seen = Vec::new();
    for series in [1_000, 10_000, 100_000] {
        let body = payload(series, false);
        let (tally, allocations) = count(|| parse_everything(body.as_bytes(), Format::Text));
        assert_eq!(tally.errors, 0);
        assert_eq!(tally.samples, series);
        assert!(tally.labels >= 3 * series);
        println!(
            "text: {series} sample lines, {} labels decoded, {} bytes: {allocations} allocations",
            tally.labels,
            body.len()
        );
        assert!(
            allocations <= TEXT_ALLOCATIONS,
            "{allocations} allocations for {series} lines (at most {TEXT_ALLOCATIONS} expected)"
        );
        seen.push(allocations);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "allocations depend on the number of lines: {seen:?}"
    );
}

#[test]
fn decoding_an_escaped_label_value_allocates_once() {
    // Proves the counter counts: unescaping has to build a new string.
    let body = br#"a{path="C:\\dir",plain="x"} 1"#;
    let mut parser = Parser::text(body);
    let Some(Ok(Entry::Sample(s))) = parser.next() else {
        panic!("no sample")
    };
    let labels = s.labels;
    let (values, allocations) = count(|| {
        labels
            .iter()
            .map(|l| (matches!(l.value, std::borrow::Cow::Owned(_)), l.value.len()))
            .collect::<Vec<_>>()
    });
    assert_eq!(values, [(true, 6), (false, 1)]);
    // One for the unescaped value, one for the Vec that collects the result.
    assert_eq!(allocations, 2);

    let ((), allocations) = count(|| {
        for l in labels.iter() {
            black_box(l);
        }
    });
    assert_eq!(allocations, 1, "only the escaped value allocates");
}

/// Allocations of an OpenMetrics parse besides the per-`_count` ones: the label-name scratch
/// vector and the hash sets of seen families and metrics as they grow.
const OPENMETRICS_STATE_ALLOCATIONS: usize = 32;

#[test]
fn openmetrics_allocations_grow_far_slower_than_lines() {
    for series in [10_000, 100_000] {
        let body = payload(series, true);
        let counts = body
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("_count{"))
            .count();
        let (tally, allocations) = count(|| parse_everything(body.as_bytes(), Format::OpenMetrics));
        assert_eq!(tally.errors, 0);
        assert_eq!(tally.samples, series);
        println!(
            "openmetrics: {series} sample lines ({counts} histogram _count lines), {} bytes: \
             {allocations} allocations ({:.4} per line)",
            body.len(),
            allocations as f64 / series as f64
        );
        // The OpenMetrics checks keep hash sets of family and metric hashes, which allocate
        // only as they grow (amortised doubling): a logarithmic number, none per line.
        assert!(
            allocations <= OPENMETRICS_STATE_ALLOCATIONS,
            "{allocations} allocations for {series} lines with {counts} _count lines"
        );
    }
}
