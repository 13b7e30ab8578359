//! The in-memory index: prom-index's `MemIndex` against a plain
//! `BTreeMap<(String, String), Vec<u64>>` baseline, side by side in one group per query shape,
//! over the same 1M series built once per run.
//!
//! Data: 100 jobs × 1,000 instances × 10 metric names = 1,000,000 series with labels
//! `__name__`, `job`, `instance` (`<service>-<job>-<n>:9100`, ten services so `api-.*` selects a
//! tenth of the instances) and `env` (`prod` or `staging` on two jobs in three, absent on the
//! rest). Series references are assigned as a head would assign them: target by target in
//! scrape order (a fixed pseudo-random permutation of the 100,000 targets), ten consecutive
//! references per target, so one job's series are spread over the whole reference range.
//!
//! The baseline is what one writes first: the postings of every pair in a `BTreeMap` keyed by
//! owned `(name, value)` (plus `("", "")` for all series); a matcher scans every key of its
//! label name and evaluates itself on the value; a matcher that matches `""` takes all series
//! minus the union of the values it rejects (a full sorted set difference); unions are
//! concatenated, sorted and deduplicated; the per-matcher sets are intersected by a sorted
//! merge. Both sides return the selected references as a sorted `Vec<u64>`, and the bench
//! checks they are equal before timing anything.
//!
//! Groups:
//!
//! - `select_<shape>`: `prom_index` (`MemIndex::postings_for_matchers`) and `baseline` for one
//!   selector each (listed in `shapes()`); for selections of at least half the series also
//!   `copy_bound`, the bare cost of writing that many references into a new `Vec<u64>`
//!   (widened from `u32`s), which no method returning the vector can beat.
//! - `postings_repr`: the postings of the same 1M series stored four ways (`u64`: sorted
//!   `Vec<u64>`; `u32`: sorted `Vec<u32>`; `PostingsList`: what prom-index stores, `u32`s inline
//!   for short lists and with a bitmap beside long dense ones; `varint`: delta-varint blocks of
//!   128 with a skip list of block heads), timed for a full `next` scan of every list and for
//!   100 leapfrog intersections of a metric's list (100,000) with a job's (10,000). Bytes per
//!   entry are printed at start-up.
//!
//! Bytes per series of both indexes (counted by a global allocator while building) and build
//! times are printed at start-up.
//!
//! ```text
//! cargo bench -p prom-benches --bench index -- --warm-up-time 1 --measurement-time 3
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use prom_index::MemIndex;
use prom_index::postings::{ListPostings, Postings, PostingsList, intersect};
use prom_model::{Labels, MatchType, Matcher};

// ---------------------------------------------------------------------------------------------
// Counting allocator.

#[global_allocator]
static ALLOC: prom_benches::CountingAlloc = prom_benches::CountingAlloc;

fn live() -> isize {
    prom_benches::live_bytes()
}

// ---------------------------------------------------------------------------------------------
// Data.

const JOBS: usize = 100;
const INSTANCES: usize = 1000;
const TARGETS: usize = JOBS * INSTANCES;
const SERVICES: [&str; 10] = [
    "api", "db", "web", "cache", "queue", "auth", "search", "mail", "batch", "edge",
];
const METRICS: [&str; 10] = [
    "http_requests_total",
    "http_request_duration_seconds_count",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "go_goroutines",
    "go_gc_duration_seconds_count",
    "up",
    "scrape_duration_seconds",
    "node_load1",
    "rpc_errors_total",
];
/// Coprime with `TARGETS`: `k * STRIDE % TARGETS` visits every target once.
const STRIDE: usize = 7919;

/// Calls `f` with every series, in reference order.
fn for_each_series(mut f: impl FnMut(u64, &Labels)) {
    for k in 0..TARGETS {
        let t = k * STRIDE % TARGETS;
        let (job, inst) = (t / INSTANCES, t % INSTANCES);
        let job_s = format!("job-{job}");
        let inst_s = format!("{}-{job}-{inst}:9100", SERVICES[inst % SERVICES.len()]);
        let env = ["prod", "staging", ""][job % 3];
        for (m, name) in METRICS.iter().enumerate() {
            let r = (k * METRICS.len() + m + 1) as u64;
            let ls = Labels::from_pairs(&[
                ("__name__", name),
                ("job", &job_s),
                ("instance", &inst_s),
                ("env", env),
            ]);
            f(r, &ls);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Baseline.

#[derive(Default)]
struct Baseline {
    map: BTreeMap<(String, String), Vec<u64>>,
}

impl Baseline {
    fn add(&mut self, r: u64, ls: &Labels) {
        self.map
            .entry((String::new(), String::new()))
            .or_default()
            .push(r);
        for l in ls.iter() {
            self.map
                .entry((l.name.to_owned(), l.value.to_owned()))
                .or_default()
                .push(r);
        }
    }

    fn all(&self) -> &[u64] {
        self.map
            .get(&(String::new(), String::new()))
            .map_or(&[], Vec::as_slice)
    }

    /// The lists of `name`'s values for which `keep(value)`, concatenated, sorted and deduped.
    fn union(&self, name: &str, keep: impl Fn(&str) -> bool) -> Vec<u64> {
        let mut out = Vec::new();
        for ((n, v), list) in self.map.range((name.to_owned(), String::new())..) {
            if n != name {
                break;
            }
            if keep(v) {
                out.extend_from_slice(list);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn matcher_set(&self, m: &Matcher) -> Vec<u64> {
        if m.matches_empty() {
            let rejected = self.union(m.name(), |v| !m.matches(v));
            difference(self.all(), &rejected)
        } else {
            self.union(m.name(), |v| m.matches(v))
        }
    }

    fn select(&self, ms: &[Matcher]) -> Vec<u64> {
        let mut out: Option<Vec<u64>> = None;
        for m in ms {
            let set = self.matcher_set(m);
            out = Some(match out {
                None => set,
                Some(prev) => intersection(&prev, &set),
            });
        }
        out.unwrap_or_else(|| self.all().to_vec())
    }
}

fn intersection(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn difference(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut j, mut out) = (0, Vec::with_capacity(a.len()));
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The world, built once.

struct World {
    index: MemIndex,
    baseline: Baseline,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let series = (TARGETS * METRICS.len()) as f64;

        let before = live();
        let start = Instant::now();
        let index = MemIndex::new();
        for_each_series(|r, ls| index.add(r, ls));
        let took = start.elapsed();
        let bytes = live() - before;
        let strings = index.string_bytes() as isize;
        println!(
            "MemIndex: built in {took:.2?} ({:.0} ns/series); {bytes} bytes, of which {strings} \
             in interned label strings: {:.1} bytes/series without them, {:.1} with",
            took.as_nanos() as f64 / series,
            (bytes - strings) as f64 / series,
            bytes as f64 / series,
        );

        let before = live();
        let start = Instant::now();
        let mut baseline = Baseline::default();
        for_each_series(|r, ls| baseline.add(r, ls));
        let took = start.elapsed();
        let bytes = live() - before;
        let keys: usize = baseline
            .map
            .keys()
            .map(|(n, v)| n.capacity() + v.capacity())
            .sum();
        println!(
            "baseline: built in {took:.2?} ({:.0} ns/series); {bytes} bytes, of which {keys} in \
             key strings: {:.1} bytes/series without them, {:.1} with",
            took.as_nanos() as f64 / series,
            (bytes as f64 - keys as f64) / series,
            bytes as f64 / series,
        );
        World { index, baseline }
    })
}

// ---------------------------------------------------------------------------------------------
// Selection.

fn re(kind: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(kind, name, value).expect("valid matcher")
}

fn shapes() -> Vec<(&'static str, Vec<Matcher>)> {
    use MatchType::*;
    let name = || Matcher::equal("__name__", "http_requests_total");
    vec![
        ("eq_eq", vec![name(), Matcher::equal("job", "job-42")]),
        (
            "set_regex",
            vec![re(RegexMatch, "job", "job-1|job-2|job-3")],
        ),
        (
            "set_regex_and_name",
            vec![name(), re(RegexMatch, "job", "job-1|job-2|job-3")],
        ),
        (
            "set_regex_instance",
            vec![re(
                RegexMatch,
                "instance",
                "api-1-0:9100|db-2-1:9100|web-3-2:9100",
            )],
        ),
        ("prefix_regex", vec![re(RegexMatch, "instance", "api-.*")]),
        (
            "prefix_regex_and_name",
            vec![name(), re(RegexMatch, "instance", "api-.*")],
        ),
        ("neq", vec![Matcher::not_equal("job", "job-7")]),
        (
            "neq_and_name",
            vec![name(), Matcher::not_equal("job", "job-7")],
        ),
        ("nre", vec![re(RegexNoMatch, "instance", "api-.*")]),
        (
            "nre_and_name",
            vec![name(), re(RegexNoMatch, "instance", "api-.*")],
        ),
        (
            "label_absent_and_name",
            vec![name(), Matcher::equal("env", "")],
        ),
    ]
}

fn selection(c: &mut Criterion) {
    let w = world();
    for (shape, ms) in shapes() {
        let ours = w.index.postings_for_matchers(&ms);
        let theirs = w.baseline.select(&ms);
        assert_eq!(ours.len(), theirs.len(), "{shape}");
        assert!(ours == theirs, "{shape}: results differ");
        let shown: Vec<String> = ms.iter().map(ToString::to_string).collect();
        println!(
            "select_{shape}: {{{}}} selects {}",
            shown.join(", "),
            ours.len()
        );

        let mut g = c.benchmark_group(format!("select_{shape}"));
        g.sample_size(20).sampling_mode(SamplingMode::Flat);
        g.bench_function("prom_index", |b| {
            b.iter(|| w.index.postings_for_matchers(black_box(&ms)))
        });
        g.bench_function("baseline", |b| b.iter(|| w.baseline.select(black_box(&ms))));
        if ours.len() >= COPY_BOUND_MIN {
            // The floor for any method that returns the selection as a new `Vec<u64>`:
            // widening that many stored `u32` references into one, with nothing to decide.
            let refs: Vec<u32> = ours.iter().map(|&r| r as u32).collect();
            g.bench_function("copy_bound", |b| b.iter(|| widen(black_box(&refs))));
        }
        g.finish();
    }
}

/// Selections at least this large also time `copy_bound`.
const COPY_BOUND_MIN: usize = 500_000;

fn widen(refs: &[u32]) -> Vec<u64> {
    let mut out = Vec::with_capacity(refs.len());
    out.extend(refs.iter().map(|&r| u64::from(r)));
    out
}

// ---------------------------------------------------------------------------------------------
// Representations.

const BLOCK: usize = 128;

/// Delta-varint blocks: each block of up to 128 references stores its first in `heads` and the
/// rest as LEB128 deltas in `bytes` from `offsets[block]`.
struct VarintList {
    len: usize,
    heads: Vec<u64>,
    offsets: Vec<u32>,
    bytes: Vec<u8>,
}

impl VarintList {
    fn new(refs: &[u64]) -> Self {
        let mut l = VarintList {
            len: refs.len(),
            heads: Vec::new(),
            offsets: Vec::new(),
            bytes: Vec::new(),
        };
        for block in refs.chunks(BLOCK) {
            l.heads.push(block[0]);
            l.offsets.push(l.bytes.len() as u32);
            for w in block.windows(2) {
                let mut d = w[1] - w[0];
                while d >= 0x80 {
                    l.bytes.push(d as u8 | 0x80);
                    d >>= 7;
                }
                l.bytes.push(d as u8);
            }
        }
        l.heads.shrink_to_fit();
        l.offsets.shrink_to_fit();
        l.bytes.shrink_to_fit();
        l
    }

    fn heap_bytes(&self) -> usize {
        self.heads.capacity() * 8 + self.offsets.capacity() * 4 + self.bytes.capacity()
    }

    fn postings(&self) -> VarintPostings<'_> {
        VarintPostings {
            l: self,
            block: 0,
            idx: 0,
            pos: 0,
            cur: 0,
            state: 0,
        }
    }
}

struct VarintPostings<'a> {
    l: &'a VarintList,
    block: usize,
    /// Index of `cur` within its block.
    idx: usize,
    /// Byte position of the next delta.
    pos: usize,
    cur: u64,
    /// 0 before the start, 1 at an element, 2 done.
    state: u8,
}

impl VarintPostings<'_> {
    fn enter(&mut self, block: usize) {
        self.block = block;
        self.idx = 0;
        self.pos = self.l.offsets[block] as usize;
        self.cur = self.l.heads[block];
        self.state = 1;
    }

    fn block_len(&self) -> usize {
        BLOCK.min(self.l.len - self.block * BLOCK)
    }
}

impl Postings for VarintPostings<'_> {
    fn next(&mut self) -> bool {
        match self.state {
            0 if self.l.len > 0 => {
                self.enter(0);
                true
            }
            1 if self.idx + 1 < self.block_len() => {
                let (mut d, mut shift) = (0u64, 0);
                loop {
                    let b = self.l.bytes[self.pos];
                    self.pos += 1;
                    d |= u64::from(b & 0x7f) << shift;
                    if b < 0x80 {
                        break;
                    }
                    shift += 7;
                }
                self.cur += d;
                self.idx += 1;
                true
            }
            1 if self.block + 1 < self.l.heads.len() => {
                self.enter(self.block + 1);
                true
            }
            _ => {
                self.state = 2;
                false
            }
        }
    }

    fn seek(&mut self, v: u64) -> bool {
        match self.state {
            2 => return false,
            1 if self.cur >= v => return true,
            _ => {}
        }
        let from = if self.state == 0 { 0 } else { self.block };
        let k = self.l.heads[from..].partition_point(|&h| h <= v);
        if k == 0 {
            // Only before the start: a current block's head is <= cur < v.
            return self.next();
        }
        let target = from + k - 1;
        if self.state == 0 || target > self.block {
            self.enter(target);
        }
        while self.cur < v {
            if !self.next() {
                return false;
            }
        }
        true
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

fn representations(c: &mut Criterion) {
    let w = world();
    let lists: Vec<&Vec<u64>> = w.baseline.map.values().collect();
    let entries: usize = lists.iter().map(|l| l.len()).sum();
    let wide: Vec<Vec<u64>> = lists.iter().map(|l| l.to_vec()).collect();
    let narrow: Vec<Vec<u32>> = lists
        .iter()
        .map(|l| l.iter().map(|&r| r as u32).collect())
        .collect();
    let varint: Vec<VarintList> = lists.iter().map(|l| VarintList::new(l)).collect();
    let vec_header = std::mem::size_of::<Vec<u64>>();
    let report = |name: &str, heap: usize, per_list: usize| {
        let total = heap + per_list * lists.len();
        println!(
            "postings_repr/{name}: {} lists, {entries} entries, {total} bytes ({:.2} bytes/entry, \
             {:.1} bytes/series)",
            lists.len(),
            total as f64 / entries as f64,
            total as f64 / (TARGETS * METRICS.len()) as f64
        );
    };
    report(
        "u64",
        wide.iter().map(|l| l.capacity() * 8).sum(),
        vec_header,
    );
    report(
        "u32",
        narrow.iter().map(|l| l.capacity() * 4).sum(),
        vec_header,
    );
    // What the index stores: inline, plain or with a bitmap, built by appending (then, like
    // the other forms, without spare capacity).
    let stored: Vec<PostingsList> = lists
        .iter()
        .map(|l| {
            let mut p = PostingsList::new();
            l.iter().for_each(|&r| {
                p.insert(r);
            });
            p.shrink_to_fit();
            p
        })
        .collect();
    report(
        "PostingsList",
        stored.iter().map(PostingsList::heap_bytes).sum(),
        std::mem::size_of::<PostingsList>(),
    );
    report(
        "varint",
        varint.iter().map(VarintList::heap_bytes).sum(),
        3 * vec_header + 8,
    );

    // A metric's list against a job's: the job drives (it is smaller), the metric seeks.
    let key = |n: &str, v: String| w.baseline.map.get(&(n.to_owned(), v)).expect("pair");
    let pairs: Vec<(usize, usize)> = (0..10)
        .flat_map(|m| (0..10).map(move |j| (m, j * 10)))
        .collect();
    let index_of = |l: &Vec<u64>| {
        lists
            .iter()
            .position(|x| std::ptr::eq(*x, l))
            .expect("list")
    };
    let work: Vec<(usize, usize)> = pairs
        .iter()
        .map(|&(m, j)| {
            (
                index_of(key("job", format!("job-{j}"))),
                index_of(key("__name__", METRICS[m].to_owned())),
            )
        })
        .collect();
    let expect: usize = work
        .iter()
        .map(|&(a, b)| intersection(&wide[a], &wide[b]).len())
        .sum();

    let mut g = c.benchmark_group("postings_repr");
    g.sample_size(20);
    g.bench_function("scan/u64", |b| {
        b.iter(|| scan(wide.iter().map(|l| ListPostings::new(l))))
    });
    g.bench_function("scan/u32", |b| {
        b.iter(|| scan(narrow.iter().map(|l| ListPostings::new(l))))
    });
    g.bench_function("scan/PostingsList", |b| {
        b.iter(|| scan(stored.iter().map(PostingsList::postings)))
    });
    g.bench_function("scan/varint", |b| {
        b.iter(|| scan(varint.iter().map(VarintList::postings)))
    });
    let run = |mk: &dyn Fn(usize, usize) -> usize| -> usize {
        let n = work.iter().map(|&(a, b)| mk(a, b)).sum();
        assert_eq!(n, expect);
        n
    };
    g.bench_function("intersect/u64", |b| {
        b.iter(|| {
            run(&|a, b| {
                count(intersect(vec![
                    ListPostings::new(&wide[a]),
                    ListPostings::new(&wide[b]),
                ]))
            })
        })
    });
    g.bench_function("intersect/u32", |b| {
        b.iter(|| {
            run(&|a, b| {
                count(intersect(vec![
                    ListPostings::new(&narrow[a]),
                    ListPostings::new(&narrow[b]),
                ]))
            })
        })
    });
    g.bench_function("intersect/PostingsList", |b| {
        b.iter(|| run(&|a, b| count(intersect(vec![stored[a].postings(), stored[b].postings()]))))
    });
    g.bench_function("intersect/varint", |b| {
        b.iter(|| run(&|a, b| count(intersect(vec![varint[a].postings(), varint[b].postings()]))))
    });
    g.finish();
}

fn scan<P: Postings>(lists: impl Iterator<Item = P>) -> u64 {
    let mut sum = 0u64;
    for mut p in lists {
        while p.next() {
            sum = sum.wrapping_add(p.at());
        }
    }
    sum
}

fn count(mut p: impl Postings) -> usize {
    let mut n = 0;
    while p.next() {
        n += 1;
    }
    n
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = selection, representations
}
criterion_main!(benches);
