//! Readers querying while a writer adds and deletes series: every reader sees consistent
//! snapshots, and the index only grows between deletions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use prom_index::MemIndex;
use prom_index::postings::collect;
use prom_model::{Labels, Matcher};

const SERIES: u64 = 20_000;
const JOBS: u64 = 7;

fn labels(r: u64) -> Labels {
    let job = format!("j{}", r % JOBS);
    let instance = format!("i{r}");
    Labels::from_pairs(&[("__name__", "up"), ("job", &job), ("instance", &instance)])
}

#[test]
fn readers_see_consistent_snapshots_while_a_writer_adds() {
    let index = Arc::new(MemIndex::new());
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (index, done) = (index.clone(), done.clone());
            thread::spawn(move || {
                let job = Matcher::equal("job", format!("j{t}"));
                let not_job = Matcher::not_equal("job", format!("j{t}"));
                let mut last = 0;
                let mut rounds = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let r = index.read();
                    let n = r.num_series();
                    let hit = collect(r.postings_for_matchers(std::slice::from_ref(&job)));
                    let miss = collect(r.postings_for_matchers(std::slice::from_ref(&not_job)));
                    let all = collect(r.all_postings());
                    drop(r);
                    assert!(hit.windows(2).all(|w| w[0] < w[1]));
                    assert!(hit.iter().all(|x| x % JOBS == t));
                    assert!(miss.iter().all(|x| x % JOBS != t));
                    assert_eq!(hit.len() + miss.len(), n, "one snapshot");
                    assert_eq!(all.len(), n);
                    assert!(n >= last, "the writer only adds");
                    last = n;
                    rounds += 1;
                    if finished {
                        return (rounds, n);
                    }
                }
            })
        })
        .collect();

    let writer = {
        let index = index.clone();
        thread::spawn(move || {
            for r in 1..=SERIES {
                index.add(r, &labels(r));
            }
        })
    };
    writer.join().expect("writer");
    done.store(true, Ordering::Release);
    for r in readers {
        let (rounds, n) = r.join().expect("reader");
        assert!(rounds > 0);
        assert_eq!(n, SERIES as usize, "the last round saw every series");
    }
    assert_eq!(index.label_values("job").len(), JOBS as usize);
}

#[test]
fn deletes_and_gc_while_reading() {
    let index = Arc::new(MemIndex::new());
    for r in 1..=SERIES {
        index.add(r, &labels(r));
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (index, done) = (index.clone(), done.clone());
        thread::spawn(move || {
            let up = [Matcher::equal("__name__", "up")];
            while !done.load(Ordering::Acquire) {
                let r = index.read();
                let n = r.num_series();
                assert_eq!(collect(r.postings_for_matchers(&up)).len(), n);
                let values = r.label_values("instance").count();
                assert_eq!(values, n, "one instance per series");
            }
        })
    };
    for r in (1..=SERIES).filter(|r| r % 3 == 0) {
        index.delete(r);
        if r % 999 == 0 {
            index.gc();
        }
    }
    index.gc();
    done.store(true, Ordering::Release);
    reader.join().expect("reader");
    assert_eq!(index.num_series(), (SERIES - SERIES / 3) as usize);
}
