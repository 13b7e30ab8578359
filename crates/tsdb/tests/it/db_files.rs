//! The database against damaged files and foreign directories: a corrupt block is reported
//! and skipped while the rest opens; a flipped WAL byte is repaired keeping what precedes it;
//! a directory of promtool-written blocks (with Prometheus's own `wal/`) opens and answers;
//! promtool reads what the database wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use prom_model::{Appender, Labels, Matcher, labels};
use prom_tsdb::Db;

use crate::block::{go_labels, parse_dump, promtool, run};
use crate::db::{dump, newest_nonempty_segment, opts};

const H: i64 = 3_600_000;

fn all() -> Vec<Matcher> {
    vec![Matcher::new(prom_model::MatchType::RegexMatch, "__name__", ".+").unwrap()]
}

fn series(i: usize) -> Labels {
    labels!("__name__" => "d", "i" => i.to_string().as_str())
}

/// Writes `hours` of one-minute samples for 3 series and cuts what can be cut into blocks.
fn build(dir: &Path, hours: i64) {
    let db = Db::open(dir, opts()).unwrap();
    let mut app = db.appender();
    for k in 0..(hours * H / 60_000) {
        for i in 0..3 {
            app.append(None, &series(i), k * 60_000, k as f64).unwrap();
        }
    }
    app.commit().unwrap();
    drop(app);
    db.compact().unwrap();
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = usize::try_from(at).unwrap();
    bytes[i] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupt_block_is_reported_by_name_and_file_and_skipped() {
    for damage in ["chunk", "index", "truncated-index"] {
        let dir = tempfile::tempdir().unwrap();
        // 7h: blocks [0,2h), [2h,4h); the head keeps the rest.
        build(dir.path(), 7);
        let blocks = block_dirs(dir.path());
        assert_eq!(blocks.len(), 2);
        let victim = &blocks[0];
        match damage {
            "chunk" => flip(&victim.join("chunks/000001"), 40),
            "index" => flip(&victim.join("index"), 30),
            _ => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(victim.join("index"))
                    .unwrap();
                let len = f.metadata().unwrap().len();
                f.set_len(len / 2).unwrap();
            }
        }
        let db = Db::open(dir.path(), opts()).unwrap();
        let report = db.open_report();
        assert_eq!(report.skipped_blocks.len(), 1, "{damage}");
        let (path, why) = &report.skipped_blocks[0];
        assert_eq!(path, victim, "{damage}");
        let name = victim.file_name().unwrap().to_str().unwrap();
        let file = if damage == "chunk" {
            "chunks/000001"
        } else {
            "index"
        };
        assert!(
            why.contains(name) && why.contains(file),
            "{damage}: the error names the block and the file: {why}"
        );
        assert!(
            db.metrics_text()
                .contains("prometheus_tsdb_blocks_skipped_total 1")
        );
        // The other block and the head still answer.
        let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
        let ts: Vec<i64> = got[&series(0).to_string()].iter().map(|x| x.0).collect();
        assert_eq!(ts.first(), Some(&(2 * H)), "{damage}");
        assert_eq!(ts.last(), Some(&(7 * H - 60_000)), "{damage}");
    }
}

#[test]
fn a_flipped_wal_byte_is_repaired_keeping_the_commits_before_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        for k in 0..20i64 {
            let mut app = db.appender();
            for i in 0..3 {
                app.append(None, &series(i), k * 1000, k as f64).unwrap();
            }
            app.commit().unwrap();
        }
    }
    let seg = newest_nonempty_segment(&dir.path().join(prom_tsdb::WAL_DIR));
    let len = std::fs::metadata(&seg).unwrap().len();
    // A byte inside the last few commits.
    flip(&seg, len - 30);
    let db = Db::open(dir.path(), opts()).unwrap();
    let repair = db.open_report().wal_repair.clone().expect("a repair");
    assert!(
        repair.contains(seg.file_name().unwrap().to_str().unwrap()),
        "{repair}"
    );
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    for v in got.values() {
        let n = v.len();
        assert!((17..20).contains(&n), "kept {n} of 20 commits");
        // A prefix: every commit up to the damage, none after.
        assert!(v.iter().enumerate().all(|(k, x)| x.0 == k as i64 * 1000));
    }
}

#[test]
fn a_prometheus_directory_opens_and_its_blocks_answer() {
    let Some(promtool) = promtool() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    let mut text = String::new();
    text.push_str("# HELP p A gauge.\n# TYPE p gauge\n");
    for k in 0..(5 * 60) {
        for i in 0..4 {
            text.push_str(&format!("p{{i=\"{i}\"}} {} {}\n", k * i, k * 60));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&input, text).unwrap();
    let data = tmp.path().join("data");
    run(Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data));
    // What a Prometheus server leaves besides its blocks.
    std::fs::create_dir_all(data.join("wal")).unwrap();
    std::fs::write(data.join("wal/00000000"), b"").unwrap();
    std::fs::write(data.join("queries.active"), b"").unwrap();
    let want = parse_dump(&run(Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(&data)));

    let db = Db::open(&data, opts()).unwrap();
    assert!(db.open_report().prometheus_wal_ignored);
    assert!(db.open_report().skipped_blocks.is_empty());
    let got = dump(&db.querier(i64::MIN, i64::MAX), &all());
    assert_eq!(got.len(), 4);
    assert_eq!(want.len(), 4);
    for i in 0..4 {
        let ls = labels!("__name__" => "p", "i" => i.to_string().as_str());
        let ours: Vec<(i64, f64)> = got[&ls.to_string()]
            .iter()
            .map(|&(t, v)| (t, f64::from_bits(v)))
            .collect();
        assert_eq!(ours, want[&go_labels(&ls)], "{ls}");
    }
    // New samples go after the last block.
    let end = db.blocks().iter().map(|b| b.max_time).max().unwrap();
    let mut app = db.appender();
    app.append(
        None,
        &labels!("__name__" => "p", "i" => "0"),
        end + 1000,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
}

#[test]
fn promtool_reads_what_the_database_wrote() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 5);
    let db = Db::open(dir.path(), opts()).unwrap();
    db.flush_head().unwrap();
    let ours = dump(&db.querier(i64::MIN, i64::MAX), &all());
    drop(db);
    // promtool 2.42's dump opens the directory as a database, which needs a `wal/`.
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    let theirs = parse_dump(&run(Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(dir.path())));
    assert_eq!(theirs.len(), 3);
    for i in 0..3 {
        let mine: Vec<(i64, f64)> = ours[&series(i).to_string()]
            .iter()
            .map(|&(t, v)| (t, f64::from_bits(v)))
            .collect();
        assert_eq!(mine.len(), (5 * H / 60_000) as usize);
        assert_eq!(mine, theirs[&go_labels(&series(i))], "series {i}");
    }
    run(Command::new(&promtool)
        .args(["tsdb", "analyze"])
        .arg(dir.path()));
}

#[test]
fn a_failed_compaction_marks_its_inputs_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.verify_blocks_on_open = false;
    {
        let db = Db::open(dir.path(), o.clone()).unwrap();
        let mut app = db.appender();
        for k in 0..(7 * H / 60_000) {
            app.append(None, &series(0), k * 60_000, k as f64).unwrap();
        }
        app.commit().unwrap();
        drop(app);
        db.compact().unwrap();
        assert_eq!(db.blocks().len(), 2);
    }
    let victim = block_dirs(dir.path())[0].clone();
    flip(&victim.join("chunks/000001"), 40);
    let db = Db::open(dir.path(), o).unwrap();
    let mut app = db.appender();
    for k in (7 * H / 60_000)..(11 * H / 60_000) {
        app.append(None, &series(0), k * 60_000, k as f64).unwrap();
    }
    app.commit().unwrap();
    drop(app);
    // Blocks [0,2h) … [6h,8h) exist; [0,6h) is planned and fails on the damaged chunk.
    let err = db.compact().unwrap_err();
    assert!(err.to_string().contains("chunks/000001"), "{err}");
    assert!(
        db.metrics_text()
            .contains("prometheus_tsdb_compactions_failed_total 1")
    );
    let meta = std::fs::read_to_string(victim.join("meta.json")).unwrap();
    assert!(meta.contains("\"failed\": true"), "{meta}");
    // The planner now leaves the failed blocks alone.
    db.compact().unwrap();
    assert!(
        db.metrics_text()
            .contains("prometheus_tsdb_compactions_failed_total 1")
    );
}
