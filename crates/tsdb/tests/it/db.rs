//! The database end to end: appends, rejections, queries across head and blocks, reopen,
//! deletion, retention, snapshots, the lock, concurrency against the reference storage.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use prom_model::{
    AppendError, Appendable, Appender, Labels, Matcher, MemoryStorage, Querier, Queryable,
    SampleIterator, labels,
};
use prom_tsdb::{Db, Error, Options};

const H: i64 = 3_600_000;

pub fn opts() -> Options {
    let mut o = Options::default();
    o.background_compaction = false;
    o.wal_sync = prom_tsdb::SyncPolicy::Never;
    o
}

/// Every series the matchers select in `[mint, maxt]`, as labels → (t, v bits).
pub fn dump(q: &dyn Querier, ms: &[Matcher]) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out = BTreeMap::new();
    let mut set = q.select(true, None, ms);
    let mut last: Option<Labels> = None;
    while let Some(mut s) = set.next() {
        if let Some(l) = &last {
            assert!(*l < s.labels, "series out of order: {l} then {}", s.labels);
        }
        last = Some(s.labels.clone());
        let mut v = Vec::new();
        while s.samples.next() {
            let x = s.samples.at();
            v.push((x.t, x.v.to_bits()));
        }
        assert!(s.samples.err().is_none(), "{:?}", s.samples.err());
        out.insert(s.labels.to_string(), v);
    }
    assert!(set.err().is_none(), "{:?}", set.err());
    out
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new(prom_model::MatchType::RegexMatch, "__name__", ".+").unwrap()]
}

fn series(i: usize) -> Labels {
    labels!("__name__" => "m", "i" => i.to_string().as_str(), "job" => if i.is_multiple_of(2) { "even" } else { "odd" })
}

/// Appends `n` series × samples at `ts`, value = t / 1000 + i.
fn fill(db: &Db, n: usize, ts: impl Iterator<Item = i64> + Clone) {
    let mut app = db.appender();
    for t in ts {
        for i in 0..n {
            app.append(None, &series(i), t, (t / 1000) as f64 + i as f64)
                .unwrap();
        }
    }
    app.commit().unwrap();
}

#[test]
fn appends_are_invisible_until_commit_and_gone_after_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut app = db.appender();
    app.append(None, &series(0), 1000, 1.0).unwrap();
    assert!(dump(&db.querier(0, 10_000), &all()).is_empty());
    app.rollback().unwrap();
    app.commit().unwrap();
    assert!(dump(&db.querier(0, 10_000), &all()).is_empty());
    app.append(None, &series(0), 2000, 2.0).unwrap();
    app.commit().unwrap();
    let got = dump(&db.querier(0, 10_000), &all());
    assert_eq!(got.len(), 1);
    assert_eq!(got.values().next().unwrap(), &[(2000, 2f64.to_bits())]);
}

#[test]
fn typed_rejections_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut app = db.appender();
    let r = app.append(None, &series(0), 10_000, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(
        app.append(Some(r), &series(0), 5_000, 1.0),
        Err(AppendError::OutOfOrder)
    );
    assert_eq!(
        app.append(Some(r), &series(0), 10_000, 2.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    // An exact repeat is accepted and stored once.
    app.append(Some(r), &series(0), 10_000, 1.0).unwrap();
    // Within one batch, order is checked against queued samples too.
    app.append(Some(r), &series(0), 20_000, 1.0).unwrap();
    assert_eq!(
        app.append(Some(r), &series(0), 15_000, 1.0),
        Err(AppendError::OutOfOrder)
    );
    assert_eq!(
        app.append(None, &Labels::new(), 30_000, 1.0),
        Err(AppendError::EmptyLabels)
    );
    app.commit().unwrap();
    let got = dump(&db.querier(0, 100_000), &all());
    assert_eq!(
        got.values().next().unwrap(),
        &[(10_000, 1f64.to_bits()), (20_000, 1f64.to_bits())]
    );
    // Cut a block: samples before its end are then out of bounds.
    fill(&db, 1, (0..4 * 240).map(|k| 30_000 + k * 15_000));
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 1);
    let end = db.blocks()[0].max_time;
    let mut app = db.appender();
    assert_eq!(
        app.append(None, &series(7), end - 1, 1.0),
        Err(AppendError::OutOfBounds)
    );
    let text = db.metrics_text();
    assert!(
        text.contains("prometheus_tsdb_out_of_order_samples_total 2"),
        "{text}"
    );
    assert!(
        text.contains("prometheus_tsdb_out_of_bounds_samples_total 1"),
        "{text}"
    );
}

#[test]
fn out_of_order_window_accepts_late_samples_and_queries_merge_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.out_of_order_window = Duration::from_secs(600);
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 1, [100_000, 200_000, 300_000].into_iter());
    let mut app = db.appender();
    app.append(None, &series(0), 150_000, 9.0).unwrap();
    assert_eq!(
        app.append(None, &series(0), 300_000 - 700_000, 9.0),
        Err(AppendError::OutOfOrder)
    );
    app.commit().unwrap();
    drop(app);
    let got = dump(&db.querier(0, 1_000_000), &all());
    let ts: Vec<i64> = got.values().next().unwrap().iter().map(|x| x.0).collect();
    assert_eq!(ts, [100_000, 150_000, 200_000, 300_000]);
    // And they survive a restart and a flush to a block.
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    db.flush_head().unwrap();
    let got = dump(&db.querier(0, 1_000_000), &all());
    let ts: Vec<i64> = got.values().next().unwrap().iter().map(|x| x.0).collect();
    assert_eq!(ts, [100_000, 150_000, 200_000, 300_000]);
}

#[test]
fn data_survives_reopen_and_head_cuts_and_queries_span_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let ts = (0..(5 * H / 15_000)).map(|k| k * 15_000);
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        fill(&db, 20, ts.clone());
    }
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.open_report().replayed_series, 20);
    assert_eq!(
        db.open_report().replayed_samples,
        20 * (5 * H / 15_000) as u64
    );
    let before = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert_eq!(before.len(), 20);
    db.compact().unwrap();
    // 5h of data: [0,2h) is cut; the head keeps [2h,5h), which no longer spans more than
    // 1.5 block ranges.
    let metas = db.blocks();
    assert_eq!(
        metas
            .iter()
            .map(|m| (m.min_time, m.max_time))
            .collect::<Vec<_>>(),
        [(0, 2 * H)]
    );
    assert_eq!(db.head_range().unwrap().0, 2 * H);
    assert_eq!(dump(&db.querier(i64::MIN, i64::MAX), &all()), before);
    // Partial ranges clip.
    let part = dump(&db.querier(H, 4 * H + 15_000), &all());
    let first = part.values().next().unwrap();
    assert_eq!(first.first().unwrap().0, H);
    assert_eq!(first.last().unwrap().0, 4 * H + 15_000);
    // Matchers.
    let even = dump(
        &db.querier(i64::MIN, i64::MAX),
        &[Matcher::equal("job", "even")],
    );
    assert_eq!(even.len(), 10);
    // After a restart the blocks and the checkpointed WAL give the same answer.
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(dump(&db.querier(i64::MIN, i64::MAX), &all()), before);
    let q = db.querier(i64::MIN, i64::MAX);
    assert_eq!(
        q.label_values("job", &[]).unwrap(),
        ["even".to_string(), "odd".to_string()]
    );
    assert_eq!(q.label_names(&[]).unwrap(), ["__name__", "i", "job"]);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    match Db::open(dir.path(), opts()) {
        Err(Error::Locked { lock }) => assert!(lock.ends_with("lock")),
        other => panic!("expected a lock error, got {other:?}"),
    }
    drop(db);
    Db::open(dir.path(), opts()).unwrap();
}

#[test]
fn deletion_hides_data_in_head_and_blocks_and_survives_restart_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let ts = (0..(4 * H / 60_000)).map(|k| k * 60_000);
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 4, ts);
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 1);
    let ms = [Matcher::equal("i", "1")];
    db.delete(&ms, H, 3 * H).unwrap();
    let check = |db: &Db| {
        let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
        let one = &got[&series(1).to_string()];
        assert!(one.iter().all(|&(t, _)| !(H..=3 * H).contains(&t)));
        assert_eq!(one.first().unwrap().0, 0);
        assert_eq!(got[&series(2).to_string()].len(), (4 * H / 60_000) as usize);
    };
    check(&db);
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    check(&db);
    db.clean_tombstones().unwrap();
    check(&db);
    // Deleting everything of a series removes it from results.
    db.delete(&ms, i64::MIN, i64::MAX).unwrap();
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert!(!got.contains_key(&series(1).to_string()));
}

#[test]
fn retention_by_time_and_size_deletes_the_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.retention_time = Some(Duration::from_millis((4 * H) as u64));
    o.max_block_duration = Some(Duration::from_millis((2 * H) as u64));
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 2, (0..(9 * H / 60_000)).map(|k| k * 60_000));
    db.compact().unwrap();
    // Blocks [0,2h), [2h,4h), [4h,6h) are cut (the head keeps [6h,9h)). As in Prometheus,
    // retention counts from the newest block's end (6h): [0,2h) ends 4h before it and goes.
    let mins: Vec<i64> = db.blocks().iter().map(|b| b.min_time).collect();
    assert_eq!(mins, [2 * H, 4 * H]);
    assert!(
        db.metrics_text()
            .contains("prometheus_tsdb_time_retentions_total 1")
    );
    drop(db);

    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.max_block_duration = Some(Duration::from_millis((2 * H) as u64));
    o.retention_size = Some(1);
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 2, (0..(7 * H / 60_000)).map(|k| k * 60_000));
    db.compact().unwrap();
    assert!(db.blocks().is_empty());
}

#[test]
fn compaction_merges_adjacent_blocks_into_a_larger_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 3, (0..(11 * H / 60_000)).map(|k| k * 60_000));
    let before = dump(&db.querier(i64::MIN, i64::MAX), &all());
    db.compact().unwrap();
    let metas = db.blocks();
    // Four 2h blocks are cut ([0,8h)); as in Prometheus the newest is left out of planning,
    // and the three before it fill the 6h range [0,6h), so they become one level-2 block.
    let ranges: Vec<_> = metas.iter().map(|m| (m.min_time, m.max_time)).collect();
    assert_eq!(ranges, [(0, 6 * H), (6 * H, 8 * H)]);
    assert_eq!(metas[0].compaction.level, 2);
    assert_eq!(metas[0].compaction.sources.len(), 3);
    assert_eq!(dump(&db.querier(i64::MIN, i64::MAX), &all()), before);
}

#[test]
fn snapshots_hard_link_blocks_and_flush_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    fill(&db, 2, (0..(4 * H / 60_000)).map(|k| k * 60_000));
    db.compact().unwrap();
    let before = dump(&db.querier(i64::MIN, i64::MAX), &all());
    let metas = db.snapshot(snap.path().join("s"), true).unwrap();
    assert_eq!(metas.len(), 2);
    drop(db);
    let copy = Db::open(snap.path().join("s"), opts()).unwrap();
    assert_eq!(dump(&copy.querier(i64::MIN, i64::MAX), &all()), before);
}

#[test]
fn concurrent_appenders_and_queriers_agree_with_the_reference_storage() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let reference = MemoryStorage::new();
    std::thread::scope(|s| {
        for w in 0..4usize {
            let (db, reference) = (&db, &reference);
            s.spawn(move || {
                for round in 0..50i64 {
                    let mut a = db.appender();
                    let mut b = reference.appender();
                    for i in 0..25 {
                        let ls = labels!("__name__" => "c", "w" => w.to_string().as_str(), "i" => i.to_string().as_str());
                        let t = round * 1000;
                        a.append(None, &ls, t, (round * i) as f64).unwrap();
                        b.append(None, &ls, t, (round * i) as f64).unwrap();
                    }
                    a.commit().unwrap();
                    b.commit().unwrap();
                }
            });
        }
        for _ in 0..2 {
            let db = &db;
            s.spawn(move || {
                for _ in 0..30 {
                    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
                    for v in got.values() {
                        assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
                    }
                }
            });
        }
    });
    let want = dump(&*reference.querier(i64::MIN, i64::MAX).unwrap(), &all());
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert_eq!(got.len(), 100);
    assert_eq!(got, want);
    let q = Queryable::querier(&db, 0, 10).unwrap();
    assert_eq!(dump(&*q, &all()).len(), 100);
}

#[test]
fn a_damaged_wal_tail_is_repaired_and_reported_keeping_everything_before_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        for k in 0..10 {
            fill(&db, 3, [k * 1000].into_iter());
        }
    }
    // Truncate the newest non-empty segment by a few bytes: the last commit is torn.
    let wal = dir.path().join(prom_tsdb::WAL_DIR);
    let seg = newest_nonempty_segment(&wal);
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().wal_repair.is_some());
    assert!(
        db.metrics_text()
            .contains("prometheus_tsdb_wal_corruptions_total 1")
    );
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert_eq!(got.len(), 3);
    for v in got.values() {
        assert_eq!(v.len(), 9, "the first nine commits survive");
    }
    // New appends after the repair survive the next restart.
    fill(&db, 3, [20_000].into_iter());
    drop(db);
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(db.open_report().wal_repair.is_none());
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert!(got.values().all(|v| v.len() == 10));
}

pub fn newest_nonempty_segment(wal: &Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 16)
        .collect();
    segs.sort();
    segs.pop().expect("a segment with records")
}

/// Appenders reuse the buffers of finished ones: nothing of a dropped, rolled-back, committed
/// or failed batch may leak into the next one.
#[test]
fn reused_appender_buffers_start_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let s = labels!("__name__" => "m", "i" => "1");
    // Queued at 10 then dropped: 5 is not out of order against it afterwards.
    let mut a = db.appender();
    a.append(None, &s, 10_000, 1.0).unwrap();
    drop(a);
    let mut a = db.appender();
    assert!(a.is_empty());
    a.append(None, &s, 5_000, 2.0).unwrap();
    a.rollback().unwrap();
    assert!(a.is_empty());
    // Rolled back: the same appender, then a new one, start from nothing queued.
    a.append(None, &s, 4_000, 3.0).unwrap();
    a.commit().unwrap();
    drop(a);
    for k in 0..3 {
        let t = 6_000 + 1_000 * k;
        // Several appenders alive at once take separate buffers.
        let mut x = db.appender();
        let mut y = db.appender();
        assert!(x.is_empty() && y.is_empty());
        x.append(None, &s, t, 4.0).unwrap();
        assert_eq!(
            y.append(None, &s, t, 5.0).map(|_| ()),
            Ok(()),
            "y does not see x's queued sample"
        );
        drop(y);
        x.commit().unwrap();
        // Committed: now a different value at t is a duplicate, the same one is accepted.
        let mut z = db.appender();
        assert_eq!(
            z.append(None, &s, t, 5.0).map(|_| ()),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        z.append(None, &s, t, 4.0).unwrap();
        assert_eq!(z.len(), 0, "an exact repeat is not queued");
        z.commit().unwrap();
    }
    let q = db.querier(0, 100_000);
    let got = dump(&q, &all());
    assert_eq!(
        got.values().next().unwrap(),
        &[4_000, 6_000, 7_000, 8_000]
            .iter()
            .map(|&t| (t, if t == 4_000 { 3f64 } else { 4f64 }.to_bits()))
            .collect::<Vec<_>>()
    );
}
