//! `SampleIterator::read_until`: the overrides of block, head and merging iterators against
//! the trait's default, the at/next walk, under random interleavings of `next`, `seek` and
//! `read_until`.

use std::path::Path;
use std::time::Duration;

use prom_chunk::XorAppender;
use prom_model::{
    Appender, Labels, Matcher, Querier, Sample, SampleIterator, SeriesSet, Timestamp,
};
use prom_tsdb::block::{Block, BlockCompaction, BlockWriter, ChunkData};
use prom_tsdb::ulid::Ulid;
use prom_tsdb::{BlocksQuerier, Db, Options};
use proptest::prelude::*;

use crate::block::{Model, block_dir, write_block};

/// Hides a cursor's `read_until` override, so the trait's default (the at/next walk) runs.
struct Walk<I>(I);

impl<I: SampleIterator> SampleIterator for Walk<I> {
    fn next(&mut self) -> bool {
        self.0.next()
    }
    fn seek(&mut self, t: Timestamp) -> bool {
        self.0.seek(t)
    }
    fn at(&self) -> Sample {
        self.0.at()
    }
    fn err(&self) -> Option<&prom_model::Error> {
        self.0.err()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Next,
    Seek(i64),
    Read(i64),
}

fn ops(lo: i64, hi: i64) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        2 => Just(Op::Next),
        2 => (lo..hi).prop_map(Op::Seek),
        5 => (lo..hi).prop_map(Op::Read),
        1 => Just(Op::Read(i64::MAX)),
    ];
    prop::collection::vec(op, 1..14)
}

fn bits(s: &[Sample]) -> Vec<(i64, u64)> {
    s.iter().map(|x| (x.t, x.v.to_bits())).collect()
}

/// Applies `ops` to `fast` and to the walk over an identical cursor, comparing every answer,
/// then reads both to the end. A `Read` while not on a sample (which `read_until` does not
/// allow) becomes a `Next`.
fn compare(fast: &mut dyn SampleIterator, walk: &mut dyn SampleIterator, ops: &[Op]) {
    let mut on = false;
    let mut ops = ops.to_vec();
    ops.push(Op::Read(i64::MAX));
    for (k, &op) in ops.iter().enumerate() {
        match op {
            Op::Next | Op::Read(_) if !on => {
                on = fast.next();
                assert_eq!(on, walk.next(), "op {k}: next");
            }
            Op::Next => {
                on = fast.next();
                assert_eq!(on, walk.next(), "op {k}: next");
            }
            Op::Seek(t) => {
                on = fast.seek(t);
                assert_eq!(on, walk.seek(t), "op {k}: seek({t})");
            }
            Op::Read(maxt) => {
                let before = fast.at();
                let (mut a, mut b) = (vec![Sample::new(-1, 0.5)], vec![Sample::new(-1, 0.5)]);
                on = fast.read_until(maxt, &mut a);
                assert_eq!(
                    on,
                    walk.read_until(maxt, &mut b),
                    "op {k}: read_until({maxt})"
                );
                assert_eq!(bits(&a), bits(&b), "op {k}: read_until({maxt})");
                assert!(a[1..].iter().all(|s| s.t <= maxt));
                assert!(a.windows(2).skip(1).all(|w| w[0].t < w[1].t));
                if before.t > maxt {
                    assert_eq!(a.len(), 1, "op {k}: past maxt already, nothing read");
                }
                if on {
                    assert!(fast.at().t > maxt, "op {k}: stops past maxt");
                }
            }
        }
        if on {
            assert_eq!(bits(&[fast.at()]), bits(&[walk.at()]), "op {k}: at");
        }
        assert_eq!(fast.err().is_some(), walk.err().is_some(), "op {k}: err");
    }
    assert!(!on, "the final read_until(MAX) exhausts");
    assert!(!fast.next() && !walk.next());
    assert!(!fast.seek(i64::MIN));
}

/// Compares every series `q` selects, read through `read_until`, with a second selection read
/// by the walk. Returns how many series there were.
fn compare_querier(q: &dyn Querier, ops: &[Op]) -> usize {
    let mut fast = q.select(true, None, &[]);
    let mut walk = q.select(true, None, &[]);
    let mut n = 0;
    while let Some(mut f) = fast.next() {
        let w = walk.next().expect("same series");
        assert_eq!(f.labels, w.labels);
        compare(&mut f.samples, &mut Walk(w.samples), ops);
        n += 1;
    }
    assert!(walk.next().is_none());
    assert!(fast.err().is_none() && walk.err().is_none());
    n
}

/// Samples at increasing timestamps from gaps and values.
fn samples(start: i64, steps: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut t = start;
    steps
        .iter()
        .map(|&(gap, v)| {
            t += gap;
            (t, v)
        })
        .collect()
}

fn steps(max: usize) -> impl Strategy<Value = Vec<(i64, f64)>> {
    prop::collection::vec((1i64..40, -1e3f64..1e3), 1..max)
}

fn series(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn model(series_steps: &[Vec<(i64, f64)>], start: i64) -> Model {
    series_steps
        .iter()
        .enumerate()
        .map(|(i, s)| (series(i), samples(start, s)))
        .collect()
}

fn max_t(m: &Model) -> i64 {
    m.values()
        .filter_map(|s| s.last())
        .map(|s| s.0)
        .max()
        .unwrap_or(0)
}

/// Writes one series with two chunks whose time ranges touch (the second starts where the first
/// ends), which makes the block iterator merge them up front. `a` must start at 0 and end
/// before 64, `b` start at `a`'s end (so the two share a timestamp, the later chunk winning).
fn touching_block(parent: &Path, a: &[(i64, f64)], b: &[(i64, f64)]) -> Block {
    let encode = |s: &[(i64, f64)]| {
        let mut app = XorAppender::new();
        for &(t, v) in s {
            app.append(t, v).unwrap();
        }
        app.into_bytes()
    };
    let (ab, bb) = (encode(a), encode(b));
    let a_max = a[a.len() - 1].0;
    let b_max = b[b.len() - 1].0;
    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent, ulid, 0, b_max + 1).unwrap();
    w.add_symbols(["__name__", "s"]).unwrap();
    let chunks = [
        ChunkData {
            min_time: 0,
            max_time: a_max,
            bytes: &ab,
        },
        ChunkData {
            min_time: a_max + 1,
            max_time: b_max,
            bytes: &bb,
        },
    ];
    w.add_series(&Labels::from_pairs(&[("__name__", "s")]), &chunks)
        .unwrap();
    w.finish(BlockCompaction::new(ulid)).unwrap();
    let dir = parent.join(ulid.to_string());
    // The series entry: len, #labels, name, value, #chunks 2, min 0, len, ref, gap 1, ...,
    // then the CRC32C of the body. The writer insists on the gap; set it to 0.
    let sref = Block::open(&dir).unwrap().select_refs(&[]).unwrap()[0];
    let path = dir.join("index");
    let mut idx = std::fs::read(&path).unwrap();
    let off = sref as usize * 16;
    let body = off + 1..off + 1 + usize::from(idx[off]);
    assert_eq!(idx[body.start + 3], 2, "two chunks");
    assert_eq!(idx[body.start + 7], 1, "the gap");
    idx[body.start + 7] = 0;
    let crc = crc32c::crc32c(&idx[body.clone()]);
    idx[body.end..body.end + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, idx).unwrap();
    let blk = Block::open(&dir).unwrap();
    assert_eq!(blk.index().series(sref).unwrap().1[1].min_time, a_max);
    blk
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Lazily decoded blocks: several chunks per series, clipping to the querier's range,
    /// tombstones.
    #[test]
    fn block_iterator_reads_like_the_walk(
        series_steps in prop::collection::vec(steps(60), 1..4),
        per_chunk in 1usize..12,
        range in (0i64..1200, 0i64..1200),
        deletes in prop::collection::vec((0i64..1200, 0i64..200), 0..3),
        ops in ops(-10, 1300),
    ) {
        let parent = tempfile::tempdir().unwrap();
        let m = model(&series_steps, 0);
        let meta = write_block(parent.path(), &m, (0, max_t(&m) + 1), per_chunk, None);
        let b = Block::open(&block_dir(parent.path(), &meta)).unwrap();
        for &(from, len) in &deletes {
            b.delete(&[], from, from + len).unwrap();
        }
        compare_querier(&b.querier(range.0.min(range.1), range.0.max(range.1)), &ops);
        compare_querier(&b.querier(i64::MIN, i64::MAX), &ops);
    }

    /// Chunks whose ranges overlap, merged up front into a list.
    #[test]
    fn overlapping_chunks_read_like_the_walk(
        a_steps in prop::collection::vec((1i64..8, -1e3f64..1e3), 0..8),
        b_steps in prop::collection::vec((1i64..30, -1e3f64..1e3), 1..20),
        va in -1e3f64..1e3,
        vb in -1e3f64..1e3,
        range in (0i64..700, 0i64..700),
        delete in prop::option::of((0i64..600, 0i64..100)),
        ops in ops(-10, 700),
    ) {
        let parent = tempfile::tempdir().unwrap();
        let mut a = vec![(0, va)];
        a.extend(samples(0, &a_steps));
        let a_max = a[a.len() - 1].0;
        let mut b = vec![(a_max, vb)];
        b.extend(samples(a_max, &b_steps));
        let blk = touching_block(parent.path(), &a, &b);
        if let Some((from, len)) = delete {
            blk.delete(&[], from, from + len).unwrap();
        }
        compare_querier(&blk.querier(range.0.min(range.1), range.0.max(range.1)), &ops);
        compare_querier(&blk.querier(i64::MIN, i64::MAX), &ops);
    }

    /// A series in several blocks, merged by time: blocks that overlap (with timestamps in
    /// common, the earlier block winning) or not.
    #[test]
    fn merged_blocks_read_like_the_walk(
        blocks in prop::collection::vec(prop::collection::vec(steps(40), 1..3), 2..4),
        disjoint in any::<bool>(),
        coarse in any::<bool>(),
        range in (0i64..3000, 0i64..3000),
        ops in ops(-10, 3100),
    ) {
        let parent = tempfile::tempdir().unwrap();
        let mut opened = Vec::new();
        let mut start = 0;
        for (k, series_steps) in blocks.iter().enumerate() {
            let mut m = model(series_steps, start);
            if coarse {
                // Timestamps on a grid of 10, so that blocks share many of them.
                for s in m.values_mut() {
                    for x in s.iter_mut() {
                        x.0 = x.0 / 10 * 10 + 10 * k as i64;
                    }
                    s.dedup_by_key(|x| x.0);
                }
            }
            let hi = max_t(&m);
            let lo = if disjoint { start } else { 0 };
            let meta = write_block(parent.path(), &m, (lo, hi + 1), 5, None);
            opened.push(Block::open(&block_dir(parent.path(), &meta)).unwrap());
            if disjoint {
                start = hi + 1;
            }
        }
        let (lo, hi) = (range.0.min(range.1), range.0.max(range.1));
        compare_querier(&BlocksQuerier::new(opened.iter(), lo, hi), &ops);
        let n = compare_querier(&BlocksQuerier::new(opened.iter(), i64::MIN, i64::MAX), &ops);
        prop_assert!(n >= 1);
    }
}

/// The database's head (several chunks, out-of-order samples, deletions), alone and merged
/// with a block flushed from it.
fn head_case(
    steps: &[(i64, f64)],
    ooo: &[(i64, f64)],
    delete: Option<(i64, i64)>,
    flush_at: Option<usize>,
    range: (i64, i64),
    ops: &[Op],
) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.background_compaction = false;
    o.wal_sync = prom_tsdb::SyncPolicy::Never;
    o.out_of_order_window = Duration::from_secs(3600);
    let db = Db::open(dir.path(), o).unwrap();
    let s = samples(1_000, steps);
    let labels = series(0);
    let append = |part: &[(i64, f64)]| {
        let mut app = db.appender();
        for &(t, v) in part {
            // Out-of-order samples may repeat a timestamp with another value: rejected.
            let _ = app.append(None, &labels, t, v);
        }
        app.commit().unwrap();
    };
    let split = flush_at.map_or(s.len(), |k| k.min(s.len()));
    append(&s[..split]);
    if split < s.len() {
        db.flush_head().unwrap();
        append(&s[split..]);
    }
    append(ooo);
    if let Some((from, len)) = delete {
        db.delete(&[], from, from + len).unwrap();
    }
    let (lo, hi) = (range.0.min(range.1), range.0.max(range.1));
    compare_querier(&db.querier(lo, hi), ops);
    compare_querier(&db.querier(i64::MIN, i64::MAX), ops);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn head_iterator_reads_like_the_walk(
        steps in prop::collection::vec((1i64..40, -1e3f64..1e3), 1..400),
        ooo in prop::collection::vec((1_000i64..9_000, -1e3f64..1e3), 0..3),
        delete in prop::option::of((0i64..9_000, 0i64..800)),
        flush_at in prop::option::of(0usize..400),
        range in (0i64..10_000, 0i64..10_000),
        ops in ops(900, 10_000),
    ) {
        head_case(&steps, &ooo, delete, flush_at, range, &ops);
    }
}

/// Fixed cases the properties may not hit: reading with a bound before the current sample,
/// and seeking and stepping after a read, over a merge with a duplicate timestamp.
#[test]
fn read_until_then_seek_and_next_over_a_merge() {
    let parent = tempfile::tempdir().unwrap();
    let one = |ts: &[i64], v: f64| -> Model {
        [(series(0), ts.iter().map(|&t| (t, v)).collect())]
            .into_iter()
            .collect()
    };
    let m1 = one(&[10, 20, 30, 40], 1.0);
    let m2 = one(&[15, 20, 35, 50, 60], 2.0);
    let b1 = write_block(parent.path(), &m1, (0, 41), 2, None);
    let b2 = write_block(parent.path(), &m2, (0, 61), 2, None);
    let blocks = [
        Block::open(&block_dir(parent.path(), &b1)).unwrap(),
        Block::open(&block_dir(parent.path(), &b2)).unwrap(),
    ];
    let q = BlocksQuerier::new(blocks.iter(), 0, 100);
    let mut set = q.select(true, None, &[Matcher::equal("i", "0")]);
    let mut s = set.next().unwrap();
    let it = &mut s.samples;
    let mut out = Vec::new();
    assert!(it.seek(12));
    assert!(
        it.read_until(5, &mut out),
        "bound before the current sample"
    );
    assert!(out.is_empty());
    assert_eq!(it.at().t, 15);
    assert!(it.read_until(30, &mut out));
    let got: Vec<(i64, f64)> = out.iter().map(|s| (s.t, s.v)).collect();
    // At 20 both blocks have a sample: the first block's wins.
    assert_eq!(got, [(15, 2.0), (20, 1.0), (30, 1.0)]);
    assert_eq!(it.at().t, 35);
    assert!(it.next());
    assert_eq!(it.at().t, 40);
    assert!(it.seek(55));
    assert_eq!(it.at().t, 60);
    out.clear();
    assert!(!it.read_until(1000, &mut out));
    assert_eq!(out.len(), 1);
    assert!(!it.next());
    assert!(set.next().is_none());
}
