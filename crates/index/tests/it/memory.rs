//! Bytes per series of the in-memory index, counted by a global allocator that tallies the
//! current thread's allocations (so tests running beside it do not disturb the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use prom_index::MemIndex;
use prom_model::Labels;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: allocations during thread teardown are not counted.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: defers to the system allocator; the counter touches only a const-initialised
// thread-local `Cell`, which never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// 20 jobs × 1,000 instances × 10 metric names: the benchmark's shape (which has 100 jobs) at
/// a fifth of the size, so it runs in a debug build.
#[test]
fn bytes_per_series_excluding_label_strings() {
    let before = live();
    let index = MemIndex::new();
    let mut r = 0u64;
    for job in 0..20 {
        for inst in 0..1000 {
            let job_s = format!("job-{job}");
            let inst_s = format!(
                "{}-{inst}.example:9100",
                ["api", "db", "web", "cache"][inst % 4]
            );
            for metric in 0..10 {
                let name = format!("metric_{metric}_total");
                r += 1;
                let env = if job % 2 == 0 { "prod" } else { "dev" };
                index.add(
                    r,
                    &Labels::from_pairs(&[
                        ("__name__", &name),
                        ("job", &job_s),
                        ("instance", &inst_s),
                        ("env", env),
                    ]),
                );
            }
        }
    }
    let total = live() - before;
    let strings = index.string_bytes() as isize;
    let per_series = (total - strings) as f64 / r as f64;
    drop(index);
    // Checked before printing: captured output is buffered on this thread.
    assert_eq!(live(), before, "everything is freed");
    println!(
        "{r} series: {total} bytes in all, {strings} in label strings, {per_series:.1} bytes/series without them"
    );
    assert!(per_series < 150.0, "{per_series:.1} bytes/series");
    assert!(per_series > 10.0, "the counter counts: {per_series:.1}");
}
