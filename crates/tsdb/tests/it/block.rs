//! Blocks: write → open → query round trips against a model, deletion, damage, compaction,
//! and interop with promtool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use prom_chunk::XorAppender;
use prom_model::{Labels, MatchType, Matcher, Querier, SampleIterator, SeriesSet};
use prom_tsdb::block::{
    Block, BlockCompaction, BlockMeta, BlockWriter, ChunkData, MAX_SAMPLES_PER_CHUNK, compact,
};
use prom_tsdb::ulid::Ulid;
use proptest::prelude::*;

pub type Model = BTreeMap<Labels, Vec<(i64, f64)>>;

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// Encodes samples into chunks of at most `per_chunk` samples.
fn encode(samples: &[(i64, f64)], per_chunk: usize) -> Vec<(i64, i64, Vec<u8>)> {
    samples
        .chunks(per_chunk.max(1))
        .map(|part| {
            let mut app = XorAppender::new();
            for &(t, v) in part {
                app.append(t, v).unwrap();
            }
            (part[0].0, part[part.len() - 1].0, app.into_bytes())
        })
        .collect()
}

/// Writes `model` as a block under `parent`; `segment_size` small forces several segments.
pub fn write_block(
    parent: &Path,
    model: &Model,
    range: (i64, i64),
    per_chunk: usize,
    segment_size: Option<u64>,
) -> BlockMeta {
    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent, ulid, range.0, range.1).unwrap();
    if let Some(s) = segment_size {
        w = w.with_segment_size(s).unwrap();
    }
    let mut symbols = BTreeSet::new();
    for l in model.keys() {
        for p in l.iter() {
            symbols.insert(p.name.to_owned());
            symbols.insert(p.value.to_owned());
        }
    }
    w.add_symbols(symbols.iter().map(String::as_str)).unwrap();
    for (labels, samples) in model {
        if samples.is_empty() {
            continue;
        }
        let chunks = encode(samples, per_chunk);
        let data: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(a, b, bytes)| ChunkData {
                min_time: *a,
                max_time: *b,
                bytes,
            })
            .collect();
        w.add_series(labels, &data).unwrap();
    }
    w.finish(BlockCompaction::new(ulid)).unwrap()
}

pub fn block_dir(parent: &Path, meta: &BlockMeta) -> PathBuf {
    parent.join(meta.ulid.to_string())
}

/// Everything a querier returns, checking order, errors and the no-empty-series rule.
fn read(q: &dyn Querier, matchers: &[Matcher]) -> Model {
    let mut set = q.select(true, None, matchers);
    let mut out = Model::new();
    let mut prev: Option<Labels> = None;
    while let Some(mut s) = set.next() {
        if let Some(p) = &prev {
            assert!(p < &s.labels, "series out of order: {p} then {}", s.labels);
        }
        prev = Some(s.labels.clone());
        let mut samples = Vec::new();
        while s.samples.next() {
            let x = s.samples.at();
            samples.push((x.t, x.v));
        }
        assert!(s.samples.err().is_none(), "{:?}", s.samples.err());
        assert!(!samples.is_empty(), "{} returned without samples", s.labels);
        out.insert(s.labels, samples);
    }
    assert!(set.err().is_none(), "{:?}", set.err());
    out
}

/// The model restricted to `[mint, maxt]` and `matchers`, empty series dropped.
fn expect(model: &Model, mint: i64, maxt: i64, matchers: &[Matcher]) -> Model {
    model
        .iter()
        .filter(|(l, _)| {
            matchers
                .iter()
                .all(|m| m.matches(l.get(m.name()).unwrap_or("")))
        })
        .map(|(l, s)| {
            let kept: Vec<(i64, f64)> = s
                .iter()
                .copied()
                .filter(|(t, _)| mint <= *t && *t <= maxt)
                .collect();
            (l.clone(), kept)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

/// Compares bit for bit (so NaNs compare equal to themselves).
fn assert_same(got: &Model, want: &Model) {
    let bits = |m: &Model| -> BTreeMap<Labels, Vec<(i64, u64)>> {
        m.iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().map(|(t, v)| (*t, v.to_bits())).collect(),
                )
            })
            .collect()
    };
    assert_eq!(bits(got), bits(want));
}

fn model_strategy() -> impl Strategy<Value = Model> {
    let labels = (
        prop::sample::select(vec!["up", "cpu", "mem"]),
        prop::option::of(prop::sample::select(vec!["api", "db", "web"])),
        prop::option::of(prop::sample::select(vec!["0", "1", "x y", "é"])),
    )
        .prop_map(|(name, job, inst)| {
            Labels::from_pairs(&[
                ("__name__", name),
                ("job", job.unwrap_or("")),
                ("instance", inst.unwrap_or("")),
            ])
        });
    let value = prop_oneof![
        4 => (-1000i64..1000).prop_map(|v| v as f64),
        2 => any::<f64>(),
        1 => Just(f64::NAN),
    ];
    let samples = (
        0i64..10_000,
        prop::collection::vec((1i64..5_000, value), 0..400),
    )
        .prop_map(|(start, steps)| {
            let mut t = start;
            steps
                .into_iter()
                .map(|(d, v)| {
                    t += d;
                    (t, v)
                })
                .collect::<Vec<_>>()
        });
    prop::collection::btree_map(labels, samples, 1..12)
        .prop_map(|m| m.into_iter().filter(|(_, s)| !s.is_empty()).collect())
}

fn matcher_strategy() -> impl Strategy<Value = Vec<Matcher>> {
    let one = (
        prop::sample::select(vec!["__name__", "job", "instance", "missing"]),
        prop::sample::select(vec![
            MatchType::Equal,
            MatchType::NotEqual,
            MatchType::RegexMatch,
            MatchType::RegexNoMatch,
        ]),
        prop::sample::select(vec![
            "", "up", "api", "db|web", "a.*", ".+", ".*", "0|", "x y",
        ]),
    )
        .prop_map(|(n, k, v)| Matcher::new(k, n, v).unwrap());
    prop::collection::vec(one, 0..3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random series, several chunks per series, several segment files: the querier returns
    /// exactly what was written, clipped to its range and filtered by matchers.
    #[test]
    fn write_open_query_round_trip(
        model in model_strategy(),
        per_chunk in 1usize..130,
        segment_size in 64u64..4096,
        window in (0i64..2_000_000, 0i64..2_000_000),
        matchers in matcher_strategy(),
    ) {
        let parent = tempfile::tempdir().unwrap();
        let meta = write_block(parent.path(), &model, (0, 3_000_000), per_chunk, Some(segment_size));
        let n_samples: usize = model.values().map(Vec::len).sum();
        prop_assert_eq!(meta.stats.num_series, model.len() as u64);
        prop_assert_eq!(meta.stats.num_samples, n_samples as u64);
        let dir = block_dir(parent.path(), &meta);
        let b = Block::open(&dir).unwrap();
        prop_assert_eq!(b.meta(), meta.clone());
        prop_assert_eq!(BlockMeta::read(&dir).unwrap().0, meta);

        let all = read(&b.querier(i64::MIN, i64::MAX), &[]);
        assert_same(&all, &model);

        let (mint, maxt) = (window.0.min(window.1), window.0.max(window.1));
        let q = b.querier(mint, maxt);
        assert_same(&read(&q, &matchers), &expect(&model, mint, maxt, &matchers));
        // An inverted range selects nothing.
        prop_assert!(read(&b.querier(maxt + 1, mint), &[]).is_empty());
    }

    /// `seek` against a model: lands on the first sample at or after the target, never moves
    /// backwards, and is legal after the end.
    #[test]
    fn seek_matches_the_model(
        samples in prop::collection::vec(1i64..100, 1..300),
        per_chunk in 1usize..50,
        seeks in prop::collection::vec((any::<bool>(), 0i64..20_000), 1..30),
        window in (0i64..15_000, 0i64..15_000),
    ) {
        let mut t = 0;
        let samples: Vec<(i64, f64)> = samples.iter().map(|d| { t += d; (t, *d as f64) }).collect();
        let labels = ls(&[("__name__", "s")]);
        let model: Model = [(labels.clone(), samples.clone())].into_iter().collect();
        let parent = tempfile::tempdir().unwrap();
        let meta = write_block(parent.path(), &model, (0, 1_000_000), per_chunk, None);
        let b = Block::open(&block_dir(parent.path(), &meta)).unwrap();
        let (mint, maxt) = (window.0.min(window.1), window.0.max(window.1));
        let want: Vec<(i64, f64)> = samples.iter().copied().filter(|(t, _)| mint <= *t && *t <= maxt).collect();
        let q = b.querier(mint, maxt);
        let mut set = q.select(true, None, &[]);
        let Some(mut s) = set.next() else {
            prop_assert!(want.is_empty());
            return Ok(());
        };
        let it = &mut s.samples;
        let mut pos: Option<usize> = None; // index into `want` of the current sample
        for (is_seek, target) in seeks {
            let expected = if is_seek {
                match pos {
                    Some(p) if p >= want.len() => None,
                    Some(p) if want[p].0 >= target => Some(p),
                    _ => {
                        let from = pos.unwrap_or(0);
                        Some(from + want[from..].partition_point(|x| x.0 < target))
                    }
                }
            } else {
                Some(pos.map_or(0, |p| (p + 1).min(want.len())))
            };
            let got = if is_seek { it.seek(target) } else { it.next() };
            let e = expected.unwrap_or(want.len());
            pos = Some(e);
            prop_assert_eq!(got, e < want.len(), "seek={} target={}", is_seek, target);
            if got {
                prop_assert_eq!((it.at().t, it.at().v), want[e]);
            }
        }
    }
}

fn small_model() -> Model {
    let mut m = Model::new();
    let series = [
        ls(&[("__name__", "up"), ("job", "api"), ("instance", "a")]),
        ls(&[("__name__", "up"), ("job", "api"), ("instance", "b")]),
        ls(&[("__name__", "up"), ("job", "db")]),
        ls(&[
            ("__name__", "up"),
            ("env", "prod"),
            ("job", "db"),
            ("instance", "c"),
        ]),
        ls(&[("__name__", "go_goroutines"), ("job", "api")]),
    ];
    for (i, l) in series.into_iter().enumerate() {
        let samples = (0..300)
            .map(|k| (k * 15_000 + i as i64, (k * (i as i64 + 1)) as f64))
            .collect();
        m.insert(l, samples);
    }
    m
}

fn names(model: &Model) -> Vec<String> {
    model.keys().map(ToString::to_string).collect()
}

#[test]
fn matchers_follow_prometheus_empty_value_semantics() {
    let parent = tempfile::tempdir().unwrap();
    let model = small_model();
    let meta = write_block(parent.path(), &model, (0, 7_200_000), 120, None);
    let b = Block::open(&block_dir(parent.path(), &meta)).unwrap();
    let q = b.querier(0, 7_200_000);
    let m = |k, n, v| Matcher::new(k, n, v).unwrap();
    let cases: Vec<(Vec<Matcher>, Vec<&str>)> = vec![
        (
            vec![Matcher::equal("env", "")],
            vec![
                r#"go_goroutines{job="api"}"#,
                r#"up{instance="a", job="api"}"#,
                r#"up{instance="b", job="api"}"#,
                r#"up{job="db"}"#,
            ],
        ),
        (
            vec![
                Matcher::not_equal("instance", "a"),
                Matcher::equal("__name__", "up"),
            ],
            vec![
                r#"up{env="prod", instance="c", job="db"}"#,
                r#"up{instance="b", job="api"}"#,
                r#"up{job="db"}"#,
            ],
        ),
        (
            vec![m(MatchType::RegexMatch, "instance", "a|")],
            vec![
                r#"go_goroutines{job="api"}"#,
                r#"up{instance="a", job="api"}"#,
                r#"up{job="db"}"#,
            ],
        ),
        (
            vec![m(MatchType::RegexNoMatch, "instance", ".+")],
            vec![r#"go_goroutines{job="api"}"#, r#"up{job="db"}"#],
        ),
        (
            vec![
                m(MatchType::RegexMatch, "instance", ".+"),
                Matcher::equal("job", "db"),
            ],
            vec![r#"up{env="prod", instance="c", job="db"}"#],
        ),
        (vec![Matcher::equal("job", "nope")], vec![]),
        (vec![Matcher::equal("nope", "x")], vec![]),
    ];
    for (ms, want) in cases {
        let got = read(&q, &ms);
        assert_eq!(names(&got), want, "{ms:?}");
        assert_same(&got, &expect(&model, 0, 7_200_000, &ms));
    }
    // `=~".*"` on any label, and no matchers at all, select everything.
    for ms in [vec![m(MatchType::RegexMatch, "nope", ".*")], vec![]] {
        assert_same(&read(&q, &ms), &model);
    }
    assert_eq!(
        q.label_names(&[]).unwrap(),
        ["__name__", "env", "instance", "job"]
    );
    assert_eq!(
        q.label_names(&[Matcher::equal("job", "api")]).unwrap(),
        ["__name__", "instance", "job"]
    );
    assert_eq!(q.label_values("job", &[]).unwrap(), ["api", "db"]);
    assert_eq!(
        q.label_values("instance", &[Matcher::equal("job", "api")])
            .unwrap(),
        ["a", "b"]
    );
    assert!(q.label_values("nope", &[]).unwrap().is_empty());
}

#[test]
fn time_clipping_is_inclusive_and_skips_chunks() {
    let parent = tempfile::tempdir().unwrap();
    let model = small_model();
    let meta = write_block(parent.path(), &model, (0, 7_200_000), 7, None);
    assert!(meta.stats.num_chunks > 100);
    let b = Block::open(&block_dir(parent.path(), &meta)).unwrap();
    for (mint, maxt) in [
        (15_000, 15_000),
        (15_001, 29_999),
        (0, 0),
        (4_485_004, 9_000_000),
        (-5, 3),
    ] {
        assert_same(
            &read(&b.querier(mint, maxt), &[]),
            &expect(&model, mint, maxt, &[]),
        );
    }
    assert!(read(&b.querier(8_000_000, 9_000_000), &[]).is_empty());
}

#[test]
fn tombstones_hide_samples_and_persist() {
    let parent = tempfile::tempdir().unwrap();
    let model = small_model();
    let meta = write_block(parent.path(), &model, (0, 7_200_000), 50, None);
    let dir = block_dir(parent.path(), &meta);
    let b = Block::open(&dir).unwrap();
    let before = b.querier(0, 7_200_000);

    // Delete the middle of the `api` series and all of `up{job="db"}`.
    let api = [Matcher::equal("job", "api")];
    assert_eq!(b.delete(&api, 1_000_000, 2_000_000).unwrap(), 3);
    let db_only = [Matcher::equal("job", "db"), Matcher::equal("instance", "")];
    assert_eq!(b.delete(&db_only, i64::MIN, i64::MAX).unwrap(), 1);
    // Nothing selected, or nothing in range: no series affected.
    assert_eq!(
        b.delete(&[Matcher::equal("job", "nope")], 0, 10).unwrap(),
        0
    );
    assert_eq!(b.delete(&api, 8_000_000, 9_000_000).unwrap(), 0);

    let mut want = model.clone();
    for (l, s) in want.iter_mut() {
        if l.get("job") == Some("api") {
            s.retain(|(t, _)| !(1_000_000..=2_000_000).contains(t));
        }
    }
    want.remove(&ls(&[("__name__", "up"), ("job", "db")]));
    let check = |b: &Block| {
        assert_same(&read(&b.querier(i64::MIN, i64::MAX), &[]), &want);
        // Seeking into a deleted range lands after it.
        let q = b.querier(0, 7_200_000);
        let mut set = q.select(true, None, &api);
        let mut s = set.next().unwrap();
        assert!(s.samples.seek(1_500_000));
        assert_eq!(s.samples.at().t, 2_010_004);
    };
    check(&b);
    assert_eq!(b.meta().stats.num_tombstones, 4);
    // A querier opened before the deletion keeps its view.
    assert_same(&read(&before, &[]), &model);

    // Reopened (and verified), the tombstones are still there, meta.json counts them.
    drop(before);
    drop(b);
    let b = Block::open(&dir).unwrap();
    check(&b);
    assert_eq!(BlockMeta::read(&dir).unwrap().0.stats.num_tombstones, 4);
    let t = b.tombstones();
    assert_eq!(t.num_series(), 4);
    // Intervals are clamped to each series' own time range.
    let sref = b.select_refs(&db_only).unwrap()[0];
    assert_eq!(t.get(sref)[0].min_time, 2);
    assert_eq!(t.get(sref)[0].max_time, 299 * 15_000 + 2);
    assert!(!dir.join("tombstones.tmp").exists());
}

/// Queries on other threads during deletions each see one consistent set of tombstones: a
/// series has either all of its samples in the deleted range or none of them.
#[test]
fn deletes_are_atomic_for_concurrent_queriers() {
    let parent = tempfile::tempdir().unwrap();
    let model = small_model();
    let meta = write_block(parent.path(), &model, (0, 7_200_000), 30, None);
    let b = std::sync::Arc::new(Block::open(&block_dir(parent.path(), &meta)).unwrap());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (b, model) = (b.clone(), model.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let got = read(&b.querier(0, 7_200_000), &[]);
                    for (l, s) in &got {
                        let full = model[l].len();
                        // Each deletion below removes 10 samples of every series.
                        assert_eq!((full - s.len()) % 10, 0, "{l}: {} of {full}", s.len());
                    }
                }
            })
        })
        .collect();
    for k in 0..20i64 {
        let from = k * 150_000;
        assert_eq!(b.delete(&[], from, from + 149_985).unwrap(), 5);
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(b.meta().stats.num_tombstones, 5 * 20);
    let left: usize = read(&b.querier(0, 7_200_000), &[])
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(left, 5 * 100);
}

/// Prometheus's index format lets a chunk start at the timestamp the previous one ends at (a
/// gap of 0). The querier then merges the two, rather than repeating the timestamp, and the
/// later chunk wins, as in compaction.
#[test]
fn touching_chunks_are_merged_not_repeated() {
    let parent = tempfile::tempdir().unwrap();
    let labels = ls(&[("__name__", "s")]);
    let mut a = XorAppender::new();
    for (t, v) in [(0, 1.0), (5, 2.0), (10, 3.0)] {
        a.append(t, v).unwrap();
    }
    let mut b = XorAppender::new();
    for (t, v) in [(10, 99.0), (15, 4.0), (19, 5.0)] {
        b.append(t, v).unwrap();
    }
    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent.path(), ulid, 0, 100).unwrap();
    w.add_symbols(["__name__", "s"]).unwrap();
    // The writer requires a gap; the index is patched below to make it 0.
    let chunks = [
        ChunkData {
            min_time: 0,
            max_time: 10,
            bytes: a.bytes(),
        },
        ChunkData {
            min_time: 11,
            max_time: 20,
            bytes: b.bytes(),
        },
    ];
    w.add_series(&labels, &chunks).unwrap();
    w.finish(BlockCompaction::new(ulid)).unwrap();
    let dir = parent.path().join(ulid.to_string());

    // The series entry: len, then #labels 1, name, value, #chunks 2, min 0, len 10, ref 8,
    // gap 1, len 9, ref delta; then the CRC32C of the body.
    let sref = Block::open(&dir).unwrap().select_refs(&[]).unwrap()[0];
    let path = dir.join("index");
    let mut idx = std::fs::read(&path).unwrap();
    let off = sref as usize * 16;
    let len = usize::from(idx[off]);
    let body = off + 1..off + 1 + len;
    assert_eq!(&idx[body.start + 3..body.start + 7], [2, 0, 10, 8]);
    assert_eq!(idx[body.start + 7], 1, "the gap");
    idx[body.start + 7] = 0;
    let crc = crc32c::crc32c(&idx[body.clone()]);
    idx[body.end..body.end + 4].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, idx).unwrap();

    let blk = Block::open(&dir).unwrap();
    assert_eq!(blk.index().series(sref).unwrap().1[1].min_time, 10);
    let want: Model = [(
        labels,
        vec![(0, 1.0), (5, 2.0), (10, 99.0), (15, 4.0), (19, 5.0)],
    )]
    .into_iter()
    .collect();
    assert_same(&read(&blk.querier(0, 100), &[]), &want);
    assert_same(&read(&blk.querier(5, 15), &[]), &expect(&want, 5, 15, &[]));
    let meta = compact(parent.path(), &[&blk]).unwrap().unwrap();
    let out = Block::open(&block_dir(parent.path(), &meta)).unwrap();
    assert_same(&read(&out.querier(0, 100), &[]), &want);
}

// ---------------------------------------------------------------------------------------------
// Damage.

fn damaged_block() -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let meta = write_block(
        parent.path(),
        &small_model(),
        (0, 7_200_000),
        60,
        Some(1_000),
    );
    let dir = block_dir(parent.path(), &meta);
    (parent, dir)
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

/// Opens, expecting an error that names the block's ULID and `file`.
fn assert_open_fails(dir: &Path, file: &str) -> prom_tsdb::block::Error {
    let ulid = dir.file_name().unwrap().to_str().unwrap();
    let e = Block::open(dir).expect_err("damaged block opened");
    let msg = e.to_string();
    assert!(msg.contains(ulid), "error does not name the block: {msg}");
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    assert_eq!(e.ulid().map(|u| u.to_string()).as_deref(), Some(ulid));
    e
}

#[test]
fn a_flipped_chunk_byte_fails_open_and_the_query_that_reads_it() {
    let (_parent, dir) = damaged_block();
    let seg = dir.join("chunks/000002");
    assert!(seg.exists(), "the small segment limit cuts several files");
    flip(&seg, 40);
    let e = assert_open_fails(&dir, "chunks/000002");
    assert!(
        e.is_corruption() && e.to_string().contains("checksum"),
        "{e}"
    );
    // Unverified open works; reading the damaged chunk reports the error through the set.
    let b = Block::open_unverified(&dir).unwrap();
    let q = b.querier(i64::MIN, i64::MAX);
    let mut set = q.select(true, None, &[]);
    let mut failed = false;
    while let Some(mut s) = set.next() {
        while s.samples.next() {}
        failed |= s.samples.err().is_some();
    }
    let err = set.err().map(ToString::to_string).unwrap_or_default();
    assert!(
        failed || err.contains("chunks/000002"),
        "no error surfaced: {err}"
    );
}

#[test]
fn every_chunk_byte_flip_is_caught() {
    let (_parent, dir) = damaged_block();
    let seg = dir.join("chunks/000001");
    let good = std::fs::read(&seg).unwrap();
    for at in (0..good.len()).filter(|i| !(5..8).contains(i)) {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&seg, &bad).unwrap();
        assert_open_fails(&dir, "chunks/000001");
    }
    std::fs::write(&seg, &good).unwrap();
    Block::open(&dir).unwrap();
}

#[test]
fn index_damage_and_truncation_fail_open() {
    let (_parent, dir) = damaged_block();
    let index = dir.join("index");
    let good = std::fs::read(&index).unwrap();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&index, &bad).unwrap();
        assert_open_fails(&dir, "index");
    }
    for len in [0, 4, 5, good.len() / 2, good.len() - 1] {
        std::fs::write(&index, &good[..len]).unwrap();
        assert_open_fails(&dir, "index");
    }
    std::fs::remove_file(&index).unwrap();
    assert_open_fails(&dir, "index");
    std::fs::write(&index, &good).unwrap();
    Block::open(&dir).unwrap();
}

#[test]
fn bad_meta_tombstones_and_missing_files_fail_open() {
    let (_parent, dir) = damaged_block();
    let meta = dir.join("meta.json");
    let good = std::fs::read(&meta).unwrap();
    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"version\": 1}",
        &good[..good.len() / 2],
    ] {
        std::fs::write(&meta, bad).unwrap();
        assert_open_fails(&dir, "meta.json");
    }
    std::fs::write(
        &meta,
        String::from_utf8(good.clone())
            .unwrap()
            .replace("\"version\": 1", "\"version\": 7"),
    )
    .unwrap();
    assert_open_fails(&dir, "meta.json");
    std::fs::remove_file(&meta).unwrap();
    assert_open_fails(&dir, "meta.json");
    std::fs::write(&meta, &good).unwrap();

    let tomb = dir.join("tombstones");
    let good_t = std::fs::read(&tomb).unwrap();
    for at in 0..good_t.len() {
        flip(&tomb, at);
        assert_open_fails(&dir, "tombstones");
        std::fs::write(&tomb, &good_t).unwrap();
    }
    // A missing tombstones file is no tombstones, as in Prometheus.
    std::fs::remove_file(&tomb).unwrap();
    assert!(Block::open(&dir).unwrap().tombstones().is_empty());

    std::fs::write(dir.join("chunks/000001"), b"\x85\xbd").unwrap();
    assert_open_fails(&dir, "chunks/000001");
    std::fs::remove_file(dir.join("chunks/000001")).unwrap();
    // The index now points at chunks in a segment position that holds other chunks.
    assert_open_fails(&dir, "index");
}

// ---------------------------------------------------------------------------------------------
// Writer misuse.

#[test]
fn writer_rejects_misuse_and_cleans_up() {
    let parent = tempfile::tempdir().unwrap();
    let mut app = XorAppender::new();
    app.append(10, 1.0).unwrap();
    app.append(20, 2.0).unwrap();
    let chunk = |a, b| ChunkData {
        min_time: a,
        max_time: b,
        bytes: app.bytes(),
    };
    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent.path(), ulid, 0, 100).unwrap();
    w.add_symbols(["__name__", "a", "b"]).unwrap();
    let a = ls(&[("__name__", "a")]);
    let b = ls(&[("__name__", "b")]);
    w.add_series(&b, &[chunk(10, 20)]).unwrap();
    let errs = [
        w.add_series(&a, &[chunk(10, 20)]).unwrap_err(),
        w.add_series(&ls(&[("__name__", "c")]), &[]).unwrap_err(),
        w.add_series(&ls(&[("__name__", "c")]), &[chunk(10, 100)])
            .unwrap_err(),
        w.add_series(&ls(&[("__name__", "c")]), &[chunk(10, 20), chunk(20, 30)])
            .unwrap_err(),
        w.add_series(
            &ls(&[("__name__", "c")]),
            &[ChunkData {
                min_time: 1,
                max_time: 2,
                bytes: &[0],
            }],
        )
        .unwrap_err(),
    ];
    for e in errs {
        assert!(e.to_string().contains(".tmp-for-creation"), "{e}");
    }
    let tmp = w.tmp_dir().to_path_buf();
    assert!(tmp.is_dir());
    drop(w);
    assert!(!tmp.exists(), "a dropped writer removes its directory");
    assert!(!parent.path().join(ulid.to_string()).exists());
    assert!(BlockWriter::create(parent.path(), Ulid::new(), 5, 5).is_err());

    // An empty block is allowed and opens.
    let ulid = Ulid::new();
    let w = BlockWriter::create(parent.path(), ulid, 0, 100).unwrap();
    let meta = w.finish(BlockCompaction::new(ulid)).unwrap();
    let blk = Block::open(&parent.path().join(ulid.to_string())).unwrap();
    assert_eq!(meta.stats.num_series, 0);
    assert!(read(&blk.querier(0, 100), &[]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Compaction.

fn series_model(names: &[&str], range: std::ops::Range<i64>, step: i64, salt: f64) -> Model {
    names
        .iter()
        .map(|n| {
            let s = range
                .clone()
                .step_by(step as usize)
                .map(|t| (t, t as f64 / 1000.0 + salt))
                .collect();
            (ls(&[("__name__", n), ("job", "x")]), s)
        })
        .collect()
}

#[test]
fn adjacent_blocks_compact_into_one_with_tombstones_applied() {
    const H: i64 = 3_600_000;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path();
    // Three 2 h blocks; series `b` only in the middle one, `c` in the first and last.
    let models = [
        {
            let mut m = series_model(&["a", "c"], 0..2 * H, 10_000, 0.0);
            m.extend(series_model(&["only_deleted"], 0..H, 60_000, 0.0));
            m
        },
        series_model(&["a", "b"], 2 * H..4 * H, 10_000, 0.0),
        series_model(&["a", "c"], 4 * H..6 * H, 10_000, 0.0),
    ];
    let metas: Vec<BlockMeta> = models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            write_block(
                dir,
                m,
                (i as i64 * 2 * H, (i as i64 + 1) * 2 * H),
                120,
                None,
            )
        })
        .collect();
    let blocks: Vec<Block> = metas
        .iter()
        .map(|m| Block::open(&block_dir(dir, m)).unwrap())
        .collect();
    // Tombstones: a hole in `a` across the first boundary, `only_deleted` entirely.
    blocks[0]
        .delete(&[Matcher::equal("__name__", "a")], 2 * H - 60_000, 2 * H)
        .unwrap();
    blocks[1]
        .delete(&[Matcher::equal("__name__", "a")], 2 * H, 2 * H + 60_000)
        .unwrap();
    blocks[0]
        .delete(&[Matcher::equal("__name__", "only_deleted")], 0, H)
        .unwrap();

    let refs: Vec<&Block> = blocks.iter().collect();
    let meta = compact(dir, &refs).unwrap().unwrap();
    assert_eq!((meta.min_time, meta.max_time), (0, 6 * H));
    assert_eq!(meta.compaction.level, 2);
    let mut sources: Vec<Ulid> = metas.iter().map(|m| m.ulid).collect();
    sources.sort();
    assert_eq!(meta.compaction.sources, sources);
    assert_eq!(
        meta.compaction.parents,
        metas.iter().map(BlockMeta::desc).collect::<Vec<_>>()
    );

    let mut want = Model::new();
    for m in &models {
        for (l, s) in m {
            want.entry(l.clone()).or_default().extend(s.iter().copied());
        }
    }
    want.remove(&ls(&[("__name__", "only_deleted"), ("job", "x")]));
    want.get_mut(&ls(&[("__name__", "a"), ("job", "x")]))
        .unwrap()
        .retain(|(t, _)| !(2 * H - 60_000..=2 * H + 60_000).contains(t));
    let out = Block::open(&block_dir(dir, &meta)).unwrap();
    assert_same(&read(&out.querier(i64::MIN, i64::MAX), &[]), &want);
    let n: usize = want.values().map(Vec::len).sum();
    assert_eq!(meta.stats.num_samples, n as u64);
    assert_eq!(meta.stats.num_series, 3);
    assert!(out.tombstones().is_empty());
    // Untouched chunks are copied, and every chunk holds at most 120 samples.
    for sref in out.select_refs(&[]).unwrap() {
        let (_, chunks) = out.index().series(sref).unwrap();
        for c in chunks {
            let n = prom_chunk::XorChunk::new(out.chunk(c.chunk_ref).unwrap())
                .unwrap()
                .num_samples();
            assert!(usize::from(n) <= MAX_SAMPLES_PER_CHUNK);
        }
    }

    // Compacting again raises the level; compacting away everything writes nothing.
    let again = compact(dir, &[&out]).unwrap().unwrap();
    assert_eq!(again.compaction.level, 3);
    assert_eq!(again.compaction.sources, sources);
    out.delete(&[], i64::MIN, i64::MAX).unwrap();
    let before: BTreeSet<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(compact(dir, &[&out]).unwrap().is_none());
    let after: BTreeSet<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing left behind");
    assert!(compact(dir, &[]).unwrap().is_none());
}

#[test]
fn overlapping_blocks_merge_with_dedup() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path();
    // Block A: `x` every 10 s over [0, 1000 s); block B: `x` every 15 s over [500 s, 1500 s),
    // with other values, and `y` only in B.
    let a = series_model(&["x"], 0..1_000_000, 10_000, 0.0);
    let mut b = series_model(&["x"], 500_000..1_500_000, 15_000, 0.5);
    b.extend(series_model(&["y"], 0..100_000, 1_000, 0.0));
    let ma = write_block(dir, &a, (0, 1_000_000), 120, None);
    let mb = write_block(dir, &b, (0, 1_500_000), 37, None);
    let ba = Block::open(&block_dir(dir, &ma)).unwrap();
    let bb = Block::open(&block_dir(dir, &mb)).unwrap();
    let meta = compact(dir, &[&ba, &bb]).unwrap().unwrap();
    assert_eq!((meta.min_time, meta.max_time), (0, 1_500_000));

    // Union by timestamp; at a shared timestamp the later block (B) wins.
    let mut want = Model::new();
    for m in [&a, &b] {
        for (l, s) in m {
            let entry = want.entry(l.clone()).or_default();
            let mut merged: BTreeMap<i64, f64> = entry.iter().copied().collect();
            merged.extend(s.iter().copied());
            *entry = merged.into_iter().collect();
        }
    }
    let out = Block::open(&block_dir(dir, &meta)).unwrap();
    let got = read(&out.querier(i64::MIN, i64::MAX), &[]);
    assert_same(&got, &want);
    let x = &got[&ls(&[("__name__", "x"), ("job", "x")])];
    assert!(
        x.iter().any(|&(t, v)| t == 530_000 && v == 530.5),
        "B wins at 530 s"
    );
    assert!(x.windows(2).all(|w| w[0].0 < w[1].0));
}

// ---------------------------------------------------------------------------------------------
// Interop with promtool.

/// promtool, or `None` (after printing why) when it is missing and `PROM_INTEROP` is not `1`.
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("PROM_INTEROP").as_deref(),
            Ok("1"),
            "PROM_INTEROP=1 but promtool is not on PATH (install Debian's `prometheus` package)"
        );
        println!("skipped: promtool not found");
    }
    found
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A label set as Go's `labels.Labels.String()` prints it (values limited to ASCII without
/// control characters, so Go's quoting is escaping `"` and `\`).
pub fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|p| {
            let v = p.value.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{}=\"{v}\"", p.name)
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Parses promtool dump lines `{labels} value timestamp` into label text → samples.
pub fn parse_dump(out: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut m: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (rest, ts) = line.rsplit_once(' ').unwrap();
        let (labels, v) = rest.rsplit_once(' ').unwrap();
        let v: f64 = v.parse().unwrap_or_else(|_| panic!("value in {line:?}"));
        m.entry(labels.to_owned())
            .or_default()
            .push((ts.parse().unwrap(), v));
    }
    m
}

#[test]
fn promtool_reads_our_blocks() {
    let Some(promtool) = promtool() else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    let db = parent.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    let mut model = Model::new();
    let t0 = 1_700_000_000_000 / 7_200_000 * 7_200_000;
    for (i, (name, job)) in [
        ("up", "api"),
        ("up", "d\"b\\"),
        ("cpu_seconds", "api"),
        ("mem", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let samples = (0..500)
            .map(|k| {
                let t = t0 + k * 14_000 + i as i64 * 3;
                let v = match (i, k % 5) {
                    (0, _) => (k % 2) as f64,
                    (1, 0) => f64::INFINITY,
                    (1, _) => -(k as f64) * 1e-7,
                    (2, _) => k as f64 * 1e9 + 0.25,
                    _ => 1.0 / (k as f64 + 3.0),
                };
                (t, v)
            })
            .collect();
        model.insert(
            ls(&[("__name__", name), ("job", job), ("i", &i.to_string())]),
            samples,
        );
    }
    let meta = write_block(&db, &model, (t0, t0 + 7_200_000), 120, Some(1 << 12));
    // promtool 2.42's dump needs a WAL directory (empty here).
    std::fs::create_dir_all(db.join("wal")).unwrap();
    assert!(
        db.join(meta.ulid.to_string())
            .join("chunks/000002")
            .exists()
    );

    let analyze = run(Command::new(&promtool)
        .args(["tsdb", "analyze", "--extended"])
        .arg(&db)
        .arg(meta.ulid.to_string()));
    assert!(analyze.contains(&meta.ulid.to_string()), "{analyze}");

    let dump = |mint: i64, maxt: i64| {
        let out = run(Command::new(&promtool)
            .arg("tsdb")
            .arg("dump")
            .arg(format!("--min-time={mint}"))
            .arg(format!("--max-time={maxt}"))
            .arg(&db));
        parse_dump(&out)
    };
    let compare = |got: &BTreeMap<String, Vec<(i64, f64)>>, want: &Model| {
        let want: BTreeMap<String, &Vec<(i64, f64)>> =
            want.iter().map(|(l, s)| (go_labels(l), s)).collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (k, w) in &want {
            let g = &got[k];
            assert_eq!(g.len(), w.len(), "{k}");
            for (a, b) in g.iter().zip(w.iter()) {
                assert_eq!(a.0, b.0, "{k}");
                assert_eq!(
                    a.1.to_bits(),
                    b.1.to_bits(),
                    "{k} at {}: {} vs {}",
                    a.0,
                    a.1,
                    b.1
                );
            }
        }
        println!(
            "promtool dump: {} series, {} samples match",
            got.len(),
            got.values().map(Vec::len).sum::<usize>()
        );
    };
    for (mint, maxt) in [(i64::MIN, i64::MAX), (t0 + 1_000_000, t0 + 2_000_003)] {
        compare(&dump(mint, maxt), &expect(&model, mint, maxt, &[]));
    }

    // Our tombstones file, as promtool reads it: a hole in one series, another series gone.
    let b = Block::open(&db.join(meta.ulid.to_string())).unwrap();
    let (hole_from, hole_to) = (t0 + 700_000, t0 + 3_100_000);
    assert_eq!(
        b.delete(&[Matcher::equal("i", "1")], hole_from, hole_to)
            .unwrap(),
        1
    );
    assert_eq!(
        b.delete(&[Matcher::equal("__name__", "mem")], i64::MIN, i64::MAX)
            .unwrap(),
        1
    );
    drop(b);
    let mut want = model.clone();
    want.retain(|l, _| l.metric_name() != Some("mem"));
    for (l, s) in want.iter_mut() {
        if l.get("i") == Some("1") {
            s.retain(|(t, _)| !(hole_from..=hole_to).contains(t));
        }
    }
    compare(&dump(i64::MIN, i64::MAX), &want);
}

#[test]
fn we_read_promtool_blocks() {
    let Some(promtool) = promtool() else {
        return;
    };
    let parent = tempfile::tempdir().unwrap();
    // Five hours at 30 s steps: promtool cuts 2 h blocks, so three blocks.
    let start_s: i64 = 1_700_000_000 / 7200 * 7200 + 1800;
    let mut text = String::new();
    let mut model = Model::new();
    let families: [(&str, &[(&str, &str)]); 3] = [
        ("http_requests", &[("code", "200"), ("code", "500")]),
        (
            "temperature",
            &[("room", "kitchen"), ("room", "a \"quoted\" \\ name")],
        ),
        ("sparse", &[("k", "v")]),
    ];
    for (family, series) in families {
        text.push_str(&format!("# TYPE {family} gauge\n"));
        for step in 0..600i64 {
            for (i, (ln, lv)) in series.iter().enumerate() {
                if family == "sparse" && step % 37 != 0 {
                    continue;
                }
                let t = start_s + step * 30;
                let v = match i {
                    0 => (step * 3) as f64,
                    _ => (step as f64).sin() * 100.0,
                };
                let esc = lv.replace('\\', "\\\\").replace('"', "\\\"");
                text.push_str(&format!("{family}{{{ln}=\"{esc}\"}} {v} {t}\n"));
                model
                    .entry(ls(&[("__name__", family), (ln, lv)]))
                    .or_default()
                    .push((t * 1000, v));
            }
        }
    }
    text.push_str("# EOF\n");
    let input = parent.path().join("input.om");
    std::fs::write(&input, text).unwrap();
    let db = parent.path().join("db");
    run(Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(&db));

    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "{dirs:?}");
    let mut got = Model::new();
    for d in &dirs {
        let b = Block::open(d).unwrap();
        let meta = b.meta();
        assert_eq!(
            d.file_name().unwrap().to_str().unwrap(),
            meta.ulid.to_string()
        );
        assert!(meta.stats.num_samples > 0);
        for (l, s) in read(&b.querier(i64::MIN, i64::MAX), &[]) {
            assert!(
                s.iter()
                    .all(|(t, _)| meta.min_time <= *t && *t < meta.max_time)
            );
            got.entry(l).or_default().extend(s);
        }
        // Matchers and label values work on their index too.
        let q = b.querier(meta.min_time, meta.max_time - 1);
        assert_eq!(q.label_values("code", &[]).unwrap(), ["200", "500"]);
        let sel = read(
            &q,
            &[
                Matcher::not_equal("room", "kitchen"),
                Matcher::equal("__name__", "temperature"),
            ],
        );
        assert_eq!(sel.len(), 1);
    }
    for s in got.values_mut() {
        s.sort_by_key(|x| x.0);
    }
    assert_same(&got, &model);
    println!(
        "read {} promtool blocks: {} series, {} samples match the input",
        dirs.len(),
        got.len(),
        got.values().map(Vec::len).sum::<usize>()
    );

    // And they compact: all into one, readable by promtool again.
    let blocks: Vec<Block> = dirs.iter().map(|d| Block::open(d).unwrap()).collect();
    let refs: Vec<&Block> = blocks.iter().collect();
    let meta = compact(&db, &refs).unwrap().unwrap();
    let out = Block::open(&db.join(meta.ulid.to_string())).unwrap();
    assert_same(&read(&out.querier(i64::MIN, i64::MAX), &[]), &model);
    for d in &dirs {
        std::fs::remove_dir_all(d).unwrap();
    }
    // promtool 2.42's dump needs a WAL directory (empty here).
    std::fs::create_dir_all(db.join("wal")).unwrap();
    let dump = run(Command::new(&promtool).args(["tsdb", "dump"]).arg(&db));
    let n: usize = parse_dump(&dump).values().map(Vec::len).sum();
    assert_eq!(n, model.values().map(Vec::len).sum::<usize>());
}
