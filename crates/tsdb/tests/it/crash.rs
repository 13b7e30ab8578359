//! Crash safety: a child process appends and commits in a loop while this test kills it with
//! SIGKILL at random moments, 50 times. After every kill the database reopens, and every
//! sample whose commit returned Ok is there, and nothing that was rolled back is.
//!
//! The child is this same test binary, re-run with `PROM_TSDB_CRASH_CHILD=<dir>` on the
//! ignored test `crash::child`; it prints `ok <batch>` after each successful commit and
//! `rb <batch>` after each rollback, flushing stdout each time.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prom_model::{Appender, Labels, Matcher, labels};
use prom_tsdb::Db;

use crate::db::{dump, opts};

const SERIES: usize = 8;
const ENV: &str = "PROM_TSDB_CRASH_CHILD";

fn series(i: usize) -> Labels {
    labels!("__name__" => "crash", "i" => i.to_string().as_str())
}

/// Batch `b` writes t = b * 1000 for every series; rolled-back batches write t = b * 1000 + 500
/// (a timestamp no committed batch uses) with value -1.
fn committed_t(b: u64) -> i64 {
    b as i64 * 1000
}

#[test]
#[ignore = "run by crash_then_reopen_keeps_every_committed_sample as its child process"]
fn child() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let db = Db::open(&dir, opts()).expect("child opens the db");
    // Continue after what is already there.
    let start = db
        .head_range()
        .map_or(0, |(_, max)| (max / 1000 + 1) as u64);
    let out = std::io::stdout();
    for b in start.. {
        let mut app = db.appender();
        if b % 7 == 3 {
            for i in 0..SERIES {
                app.append(None, &series(i), committed_t(b) + 500, -1.0)
                    .expect("append");
            }
            app.rollback().expect("rollback");
            let mut o = out.lock();
            writeln!(o, "rb {b}").unwrap();
            o.flush().unwrap();
            continue;
        }
        for i in 0..SERIES {
            app.append(None, &series(i), committed_t(b), b as f64)
                .expect("append");
        }
        app.commit().expect("commit");
        let mut o = out.lock();
        writeln!(o, "ok {b}").unwrap();
        o.flush().unwrap();
    }
}

#[test]
fn crash_then_reopen_keeps_every_committed_sample() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut committed: BTreeSet<u64> = BTreeSet::new();
    let mut rolled_back: BTreeSet<u64> = BTreeSet::new();
    // A small deterministic generator for the kill delays (20-120 ms of writing).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..50 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(20 + seed % 100);
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        // Wait until the child has committed something, then let it run a little.
        let t0 = Instant::now();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for l in &lines {
            if let Some(b) = l.strip_prefix("ok ") {
                committed.insert(b.parse().unwrap());
            } else if let Some(b) = l.strip_prefix("rb ") {
                rolled_back.insert(b.parse().unwrap());
            }
        }
        let db = Db::open(dir.path(), opts())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let got = dump(
            &db.querier(i64::MIN, i64::MAX),
            &[Matcher::equal("__name__", "crash")],
        );
        for i in 0..SERIES {
            let samples = got.get(&series(i).to_string());
            let ts: BTreeSet<i64> = samples
                .map(|v| v.iter().map(|x| x.0).collect())
                .unwrap_or_default();
            for &b in &committed {
                assert!(
                    ts.contains(&committed_t(b)),
                    "round {round}: committed batch {b} of series {i} lost (ran {:?})",
                    t0.elapsed()
                );
            }
            for &b in &rolled_back {
                assert!(
                    !ts.contains(&(committed_t(b) + 500)),
                    "round {round}: rolled-back batch {b} of series {i} is visible"
                );
            }
        }
        drop(db);
    }
    assert!(
        committed.len() > 50,
        "the child committed too little to make the test meaningful: {}",
        committed.len()
    );
}
