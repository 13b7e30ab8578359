//! Splitting independent per-series work over scoped threads.
//!
//! The evaluator's state ([`Ctx`](super::eval::Ctx)) holds the storage querier, which need not
//! be shared between threads; workers get a [`Stop`] instead, the query's cancellation flag and
//! deadline, and check it every [`CHECK_EVERY`] items as the serial path checks its context.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use super::error::{EvalError, Result};

/// How many items a worker (or the serial path) handles between two [`Stop::check`]s.
pub(crate) const CHECK_EVERY: usize = 256;

/// The least estimated work (samples plus window evaluations) worth a second thread: below
/// this, spawning costs more than it saves.
pub(crate) const MIN_PARALLEL_WORK: usize = 100_000;

/// What stops a query early: the cancellation flag and the deadline, shareable across threads.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub cancel: Option<Arc<AtomicBool>>,
    pub deadline: Option<Instant>,
}

impl Stop {
    /// Fails with [`EvalError::Canceled`] or [`EvalError::Timeout`] (naming `site`) when the
    /// query was canceled or ran out of time.
    pub fn check(&self, site: &'static str) -> Result<()> {
        if let Some(flag) = &self.cancel
            && flag.load(Ordering::Relaxed)
        {
            return Err(EvalError::Canceled(site));
        }
        if let Some(d) = self.deadline
            && Instant::now() > d
        {
            return Err(EvalError::Timeout(site));
        }
        Ok(())
    }
}

/// How many threads to use for `work` units with at most `parallelism` threads and `items`
/// independent items: 1 when the work is too small to be worth splitting.
pub(crate) fn threads_for(parallelism: usize, items: usize, work: usize) -> usize {
    if parallelism <= 1 || items < 2 || work < MIN_PARALLEL_WORK {
        return 1;
    }
    parallelism
        .min(items)
        .min(work / (MIN_PARALLEL_WORK / 2))
        .max(1)
}

/// `f` applied to every item, results in item order, computed on up to `threads` threads.
///
/// Each thread gets its own scratch state from `init`. Items go out in contiguous chunks taken
/// from a shared counter (so a thread slowed by other work on the machine takes fewer), and
/// `stop` is checked before the first item and every [`CHECK_EVERY`] items after, naming
/// `site`. With one thread everything runs on the caller's thread in order. The first error
/// in item order is returned; once any worker fails, the others stop at their next chunk.
pub(crate) fn map<T, R, S>(
    items: &[T],
    threads: usize,
    stop: &Stop,
    site: &'static str,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
{
    if threads <= 1 || items.len() < 2 {
        let mut scratch = init();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if i % CHECK_EVERY == 0 {
                stop.check(site)?;
            }
            out.push(f(&mut scratch, item));
        }
        return Ok(out);
    }
    let chunk = items.len().div_ceil(threads * 4).clamp(1, CHECK_EVERY);
    let chunks = items.len().div_ceil(chunk);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Result<Vec<R>>)>> = Mutex::new(Vec::with_capacity(chunks));
    let work = || {
        let mut scratch = init();
        let mut mine = Vec::new();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks || failed.load(Ordering::Relaxed) {
                break;
            }
            let part = &items[c * chunk..((c + 1) * chunk).min(items.len())];
            let r = stop
                .check(site)
                .map(|()| part.iter().map(|item| f(&mut scratch, item)).collect());
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            mine.push((c, r));
        }
        done.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .append(&mut mine);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|d| d.0);
    let mut out = Vec::with_capacity(items.len());
    for (_, r) in done {
        out.extend(r?);
    }
    // A worker that saw another fail stopped early: the chunks it left are missing, and an
    // error came first in chunk order.
    debug_assert_eq!(out.len(), items.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stop() -> Stop {
        Stop {
            cancel: None,
            deadline: None,
        }
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u64> = (0..10_000).collect();
        for threads in [1, 2, 3, 8] {
            let out = map(
                &items,
                threads,
                &no_stop(),
                "t",
                || 0u64,
                |n, &x| {
                    *n += 1;
                    x * x
                },
            )
            .unwrap();
            assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        }
    }

    #[test]
    fn canceled_work_fails() {
        let flag = Arc::new(AtomicBool::new(true));
        let stop = Stop {
            cancel: Some(flag),
            deadline: None,
        };
        let items = vec![1u8; 5000];
        for threads in [1, 4] {
            let r = map(&items, threads, &stop, "site", || (), |_, &x| x);
            assert!(matches!(r, Err(EvalError::Canceled("site"))), "{threads}");
        }
    }

    #[test]
    fn thread_count() {
        assert_eq!(threads_for(1, 1000, 10_000_000), 1);
        assert_eq!(threads_for(8, 1000, 10), 1);
        assert_eq!(threads_for(8, 1, 10_000_000), 1);
        assert_eq!(threads_for(4, 1000, 10_000_000), 4);
        assert_eq!(threads_for(4, 3, 10_000_000), 3);
    }
}
