//! The database: a head, a WAL and persisted blocks in one directory.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prom_model::{Appendable, Appender, Labels, Matcher, Querier, Queryable, Sample};

use crate::block::{self, Block, BlockMeta, BlockWriter, ChunkData};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::head::appender::DbAppender;
use crate::head::chunks::HeadChunks;
use crate::head::series::SealedChunk;
use crate::interval::{Interval, is_deleted};
use crate::metrics::{Gauges, Metrics, inc};
use crate::options::{Options, millis};
use crate::querier::DbQuerier;
use crate::ulid::Ulid;
use crate::wal::{self, Record, Wal, WalOptions};

/// The WAL's directory inside the data directory. Prometheus's own WAL lives in `wal/`, in a
/// different format; a directory written by Prometheus keeps it untouched.
pub const WAL_DIR: &str = "prom-wal";
/// Where sealed head chunks are memory-mapped from (emptied on open; the WAL is the record).
pub const HEAD_CHUNKS_DIR: &str = "prom-chunks-head";
/// The lock file that keeps a second process out.
pub const LOCK_FILE: &str = "lock";

/// What [`Db::open`] found and did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenReport {
    /// Blocks loaded.
    pub blocks: usize,
    /// Block directories that could not be read, with the reason; they were skipped and left
    /// on disk.
    pub skipped_blocks: Vec<(PathBuf, String)>,
    /// Whether a Prometheus WAL (`wal/`) was found and ignored: its samples newer than the
    /// last block are not loaded.
    pub prometheus_wal_ignored: bool,
    /// WAL replay: series and samples replayed, tombstones, time taken.
    pub replayed_series: u64,
    /// Samples replayed into the head.
    pub replayed_samples: u64,
    /// Samples in the WAL for series it never defined, or out of bounds; dropped.
    pub replay_dropped_samples: u64,
    /// Tombstone entries replayed.
    pub replayed_tombstones: u64,
    /// How long the replay took.
    pub replay_duration: Duration,
    /// A corrupt WAL tail that was repaired: where, and why.
    pub wal_repair: Option<String>,
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub opts: Options,
    pub head: Head,
    wal: Mutex<Wal>,
    pub blocks: RwLock<Vec<Arc<Block>>>,
    pub metrics: Metrics,
    pub ooo_window: Option<i64>,
    compact_lock: Mutex<()>,
    wake: Mutex<Option<Sender<()>>>,
    /// Appenders' emptied buffers, handed to the next appenders (see [`Batch`]).
    pub(crate) batches: Mutex<Vec<crate::head::appender::Batch>>,
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An embeddable time-series database over one directory.
///
/// It implements [`Appendable`] and [`Queryable`]; queriers merge the head and the persisted
/// blocks. Dropping it stops the background work and releases the directory lock.
pub struct Db {
    inner: Arc<Inner>,
    report: OpenReport,
    bg: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.inner.dir)
            .field("head_series", &self.inner.head.num_series())
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating) the database in `dir`: takes the lock, loads the blocks (reporting and
    /// skipping unreadable ones), replays the WAL into the head (repairing a damaged tail).
    ///
    /// Fails with an error naming the lock file when another process has the directory open.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        // A refusal is retried for a moment before it is final: the lock belongs to the open
        // file, and a child process another thread of this program is starting holds a copy
        // of every open file between its fork and its exec, so a database closed just before
        // can still look locked for that instant.
        let mut tries = 0;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => return Err(Error::Locked { lock: lock_path }),
                Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
        }
        let mut report = OpenReport::default();
        let metrics = Metrics::default();
        remove_leftovers(&dir)?;
        let blocks = load_blocks(&dir, opts.verify_blocks_on_open, &mut report, &metrics)?;
        report.blocks = blocks.len();
        if dir.join("wal").is_dir() {
            report.prometheus_wal_ignored = true;
            tracing::warn!(
                dir = %dir.display(),
                "a Prometheus WAL (wal/) is present and is not replayed; only its blocks are read"
            );
        }
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let files = HeadChunks::open(&dir.join(HEAD_CHUNKS_DIR))?;
        let head = Head::new(opts.block_range_ms(), min_valid, Some(files));
        let ooo_window =
            (!opts.out_of_order_window.is_zero()).then(|| millis(opts.out_of_order_window));
        let wal_dir = dir.join(WAL_DIR);
        replay_wal(&wal_dir, &head, &mut report, &metrics)?;
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                sync: opts.wal_sync,
            },
        )?;
        let background = opts.background_compaction;
        let inner = Arc::new(Inner {
            dir,
            opts,
            head,
            wal: Mutex::new(wal),
            blocks: RwLock::new(blocks),
            metrics,
            ooo_window,
            compact_lock: Mutex::new(()),
            wake: Mutex::new(None),
            batches: Mutex::new(Vec::new()),
            _lock: lock_file,
        });
        let bg = background.then(|| spawn_background(&inner));
        Ok(Db { inner, report, bg })
    }

    /// What opening found: blocks loaded and skipped, the WAL replay and any repair.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A new appender. Samples become visible and durable together on commit.
    pub fn appender(&self) -> DbAppender<'_> {
        DbAppender::new(&self.inner)
    }

    /// A querier over `[mint, maxt]` (inclusive, milliseconds) merging head and blocks.
    pub fn querier(&self, mint: i64, maxt: i64) -> DbQuerier<'_> {
        DbQuerier::new(&self.inner, mint, maxt)
    }

    /// The metadata of the persisted blocks, oldest first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner
            .block_list()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// The number of series in the head.
    pub fn head_series(&self) -> usize {
        self.inner.head.num_series()
    }

    /// The head's time range, `None` when it holds no samples.
    pub fn head_range(&self) -> Option<(i64, i64)> {
        let (a, b) = (self.inner.head.min_time(), self.inner.head.max_time());
        (a <= b).then_some((a, b))
    }

    /// Cuts blocks from the head while it spans more than 1.5 block ranges, compacts blocks
    /// and applies retention. The background thread calls this; call it yourself when
    /// background compaction is off.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact()
    }

    /// Writes the whole head to a block (whatever its span) and truncates it, as a shutdown
    /// flush or before a snapshot.
    pub fn flush_head(&self) -> Result<Option<BlockMeta>> {
        self.inner.flush_head()
    }

    /// Deletes the samples of the series the matchers select within `[mint, maxt]`: tombstones
    /// for the head (logged to the WAL) and for each block. Queriers stop returning them at
    /// once; compaction removes them from disk.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        self.inner.delete(matchers, mint, maxt)
    }

    /// Rewrites every block that has tombstones without the deleted data.
    pub fn clean_tombstones(&self) -> Result<()> {
        self.inner.clean_tombstones()
    }

    /// Writes a snapshot into `dir`: every block hard-linked (no copy), plus, with
    /// `with_head`, the head written as a new block. Returns the snapshot's block metas.
    pub fn snapshot(&self, dir: impl AsRef<Path>, with_head: bool) -> Result<Vec<BlockMeta>> {
        self.inner.snapshot(dir.as_ref(), with_head)
    }

    /// The database's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let inner = &self.inner;
        let blocks = inner.block_list();
        let mut chunks = 0u64;
        for s in inner.head.all_series() {
            chunks += s.lock().num_chunks() as u64;
        }
        let g = Gauges {
            head_series: inner.head.num_series() as u64,
            head_chunks: chunks,
            head_min_time: inner.head.min_time(),
            head_max_time: inner.head.max_time(),
            blocks_loaded: blocks.len() as u64,
            blocks_bytes: blocks.iter().map(|b| b.size_bytes()).sum(),
            wal_bytes: lock(&inner.wal).size_bytes(),
        };
        let mut out = String::new();
        inner.metrics.render(&g, &mut out);
        out
    }

    /// The counters behind [`metrics_text`](Self::metrics_text).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Stops background work and closes the database (dropping it does the same).
    pub fn close(mut self) -> Result<()> {
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        lock(&self.inner.wake).take();
        if let Some(h) = self.bg.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DbAppender::new(&self.inner))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> prom_model::Result<Box<dyn Querier + '_>> {
        Ok(Box::new(DbQuerier::new(&self.inner, mint, maxt)))
    }
}

fn spawn_background(inner: &Arc<Inner>) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel::<()>();
    *lock(&inner.wake) = Some(tx);
    let weak = Arc::downgrade(inner);
    std::thread::Builder::new()
        .name("prom-tsdb-compact".into())
        .spawn(move || {
            loop {
                match rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.compact() {
                    tracing::error!(error = %e, "compaction failed");
                }
            }
        })
        .expect("spawning a thread")
}

/// Removes what an interrupted write or delete left behind.
fn remove_leftovers(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp-for-creation") || name.ends_with(".tmp-for-deletion") {
            let p = e.path();
            tracing::info!(dir = %p.display(), "removing a leftover temporary block directory");
            fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

fn load_blocks(
    dir: &Path,
    verify: bool,
    report: &mut OpenReport,
    metrics: &Metrics,
) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.parse::<Ulid>().is_ok())
        })
        .collect();
    paths.sort();
    for p in paths {
        let opened = if verify {
            Block::open(&p)
        } else {
            Block::open_unverified(&p)
        };
        match opened {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                tracing::error!(block = %p.display(), error = %e, "skipping an unreadable block");
                inc(&metrics.blocks_skipped);
                report.skipped_blocks.push((p, e.to_string()));
            }
        }
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(blocks)
}

fn replay_wal(
    wal_dir: &Path,
    head: &Head,
    report: &mut OpenReport,
    metrics: &Metrics,
) -> Result<()> {
    if !wal_dir.exists() {
        return Ok(());
    }
    let start = Instant::now();
    // WAL references of series whose labels turned out to exist under another reference.
    let mut remap: HashMap<u64, u64> = HashMap::new();
    let range = head.block_range;
    let mvt = head.min_valid_time();
    let mut reported = 0u64;
    let mut f = |rec: Record| match rec {
        Record::Series(list) => {
            for s in list {
                match head.create_with_ref(s.r, &s.labels) {
                    Ok(()) => report.replayed_series += 1,
                    Err(existing) if existing.r != s.r => {
                        remap.insert(s.r, existing.r);
                    }
                    Err(_) => {}
                }
            }
        }
        Record::Samples(list) => {
            let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
            for x in list {
                let r = remap.get(&x.r).copied().unwrap_or(x.r);
                let Some(s) = head.get(r) else {
                    report.replay_dropped_samples += 1;
                    continue;
                };
                if x.t < mvt {
                    report.replay_dropped_samples += 1;
                    continue;
                }
                // The sample was accepted when it was written: take it even if it is out of
                // order (the window may have changed, or it was one in the first place).
                s.lock()
                    .append(x.t, x.v, range, Some(mvt), head.files.as_ref());
                report.replayed_samples += 1;
                mint = mint.min(x.t);
                maxt = maxt.max(x.t);
            }
            if mint <= maxt {
                head.update_bounds(mint, maxt);
            }
            // Progress for long replays: a line per 10M samples.
            if report.replayed_samples / 10_000_000 > reported {
                reported = report.replayed_samples / 10_000_000;
                tracing::info!(
                    series = report.replayed_series,
                    samples = report.replayed_samples,
                    elapsed = ?start.elapsed(),
                    "WAL replay in progress"
                );
            }
        }
        Record::Tombstones(list) => {
            for st in list {
                let r = remap.get(&st.r).copied().unwrap_or(st.r);
                for iv in st.intervals {
                    head.add_tombstone(r, iv);
                    report.replayed_tombstones += 1;
                }
            }
        }
    };
    let stats = wal::replay(wal_dir, &mut f)?;
    if let Some(c) = &stats.corruption {
        inc(&metrics.wal_corruptions);
        tracing::warn!(corruption = %c, "WAL corrupt; truncating at the last good record");
        wal::repair(wal_dir, c)?;
        report.wal_repair = Some(c.to_string());
    }
    report.replay_duration = start.elapsed();
    tracing::info!(
        series = report.replayed_series,
        samples = report.replayed_samples,
        tombstones = report.replayed_tombstones,
        took = ?report.replay_duration,
        "WAL replayed"
    );
    Ok(())
}

impl Inner {
    pub(crate) fn log(&self, records: &[Record]) -> Result<()> {
        lock(&self.wal).log(records)?;
        Ok(())
    }

    pub(crate) fn block_list(&self) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Called after each commit: wakes the background thread when the head can be cut.
    pub(crate) fn after_commit(&self) {
        if self.head_cuttable()
            && let Some(tx) = lock(&self.wake).as_ref()
        {
            let _ = tx.send(());
        }
    }

    fn head_cuttable(&self) -> bool {
        let (a, b) = (self.head.min_time(), self.head.max_time());
        a <= b && b.saturating_sub(a) > self.head.block_range / 2 * 3
    }

    fn compact(&self) -> Result<()> {
        let _g = lock(&self.compact_lock);
        while self.head_cuttable() {
            let mint = self.head.min_time();
            let r = self.head.block_range;
            let maxt = mint.div_euclid(r).saturating_add(1).saturating_mul(r);
            self.cut_head(mint, maxt)?;
        }
        self.compact_blocks()?;
        self.apply_retention()?;
        Ok(())
    }

    fn flush_head(&self) -> Result<Option<BlockMeta>> {
        let _g = lock(&self.compact_lock);
        let (a, b) = (self.head.min_time(), self.head.max_time());
        if a > b {
            return Ok(None);
        }
        self.cut_head(a, b.saturating_add(1))
    }

    /// Writes the head's data in `[mint, maxt)` as a block, adds it, truncates the head and
    /// checkpoints the WAL.
    fn cut_head(&self, mint: i64, maxt: i64) -> Result<Option<BlockMeta>> {
        // From now on appends before maxt are out of bounds.
        self.head.set_min_valid_time(maxt);
        let meta = write_head_block(&self.head, &self.dir, mint, maxt)?;
        inc(&self.metrics.head_compactions);
        if let Some(m) = &meta {
            let b = Block::open_unverified(&self.dir.join(m.ulid.to_string()))?;
            let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
            blocks.push(Arc::new(b));
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        self.truncate_head(maxt)?;
        Ok(meta)
    }

    fn truncate_head(&self, mint: i64) -> Result<()> {
        let (series, _) = self.head.truncate(mint);
        inc(&self.metrics.head_truncations);
        self.metrics
            .series_removed
            .fetch_add(series as u64, std::sync::atomic::Ordering::Relaxed);
        let mut wal = lock(&self.wal);
        let (_, last) = wal.segment_range();
        wal.cut_segment()?;
        let head = &self.head;
        wal.checkpoint(last, &|r| head.get(r).is_some(), mint)?;
        inc(&self.metrics.checkpoints);
        Ok(())
    }

    fn compact_blocks(&self) -> Result<()> {
        let ranges = self.opts.compaction_ranges();
        loop {
            let blocks = self.block_list();
            let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
            let plans = block::plan_compaction(&metas, &ranges);
            let Some(plan) = plans.into_iter().next() else {
                return Ok(());
            };
            let chosen: Vec<&Block> = blocks
                .iter()
                .filter(|b| plan.contains(&b.meta().ulid))
                .map(|b| &**b)
                .collect();
            if chosen.is_empty() {
                return Ok(());
            }
            match block::compact(&self.dir, &chosen) {
                Ok(meta) => {
                    inc(&self.metrics.compactions);
                    self.replace_blocks(&plan, meta)?;
                }
                Err(e) => {
                    inc(&self.metrics.compactions_failed);
                    // As Prometheus: mark the inputs so the planner stops choosing them, instead
                    // of failing on them again every minute.
                    for b in &chosen {
                        self.mark_failed(b);
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// Records `compaction.failed` in a block's meta.json and reloads it.
    fn mark_failed(&self, b: &Block) {
        let mut meta = b.meta();
        meta.compaction.failed = true;
        let reopened = meta
            .write(b.dir())
            .map_err(Error::from)
            .and_then(|_| Ok(Block::open_unverified(b.dir())?));
        match reopened {
            Ok(nb) => {
                let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
                for slot in blocks.iter_mut() {
                    if slot.ulid() == nb.ulid() {
                        *slot = Arc::new(nb);
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::error!(block = %b.dir().display(), error = %e, "cannot mark a block as failed to compact");
            }
        }
    }

    /// Swaps the blocks `old` for the new one (if any) and deletes the old directories.
    fn replace_blocks(&self, old: &[Ulid], new: Option<BlockMeta>) -> Result<()> {
        let opened = match new {
            Some(m) => Some(Arc::new(Block::open_unverified(
                &self.dir.join(m.ulid.to_string()),
            )?)),
            None => None,
        };
        let removed: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.write().unwrap_or_else(PoisonError::into_inner);
            let (gone, keep): (Vec<_>, Vec<_>) =
                blocks.drain(..).partition(|b| old.contains(&b.meta().ulid));
            *blocks = keep;
            blocks.extend(opened);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            gone
        };
        for b in removed {
            delete_block_dir(b.dir())?;
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let blocks = self.block_list();
        if blocks.is_empty() {
            return Ok(());
        }
        let mut doomed: BTreeSet<Ulid> = BTreeSet::new();
        if let Some(ret) = self.opts.retention_time {
            // As Prometheus: measured from the newest block's end, not the head's.
            let newest = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
            let ret = millis(ret);
            for b in &blocks {
                if newest.saturating_sub(b.meta().max_time) >= ret {
                    doomed.insert(b.meta().ulid);
                }
            }
        }
        if let Some(limit) = self.opts.retention_size {
            let mut total: u64 =
                lock(&self.wal).size_bytes() + blocks.iter().map(|b| b.size_bytes()).sum::<u64>();
            // Oldest first.
            for b in &blocks {
                if total <= limit {
                    break;
                }
                total = total.saturating_sub(b.size_bytes());
                doomed.insert(b.meta().ulid);
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let doomed: Vec<Ulid> = doomed.into_iter().collect();
        self.metrics
            .retention_deletions
            .fetch_add(doomed.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(blocks = doomed.len(), "deleting blocks beyond retention");
        self.replace_blocks(&doomed, None)
    }

    fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        let series = self.head.select(matchers);
        if !series.is_empty() {
            let stones: Vec<wal::Stone> = series
                .iter()
                .map(|s| wal::Stone {
                    r: s.r,
                    intervals: vec![Interval::new(mint, maxt)],
                })
                .collect();
            self.log(&[Record::Tombstones(stones)])?;
            for s in &series {
                self.head.add_tombstone(s.r, Interval::new(mint, maxt));
            }
        }
        for b in self.block_list() {
            if b.meta().min_time <= maxt && mint < b.meta().max_time {
                b.delete(matchers, mint, maxt)?;
            }
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<()> {
        let _g = lock(&self.compact_lock);
        for b in self.block_list() {
            if b.tombstones().is_empty() {
                continue;
            }
            let meta = block::compact(&self.dir, &[&*b])?;
            inc(&self.metrics.compactions);
            self.replace_blocks(&[b.meta().ulid], meta)?;
        }
        Ok(())
    }

    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<Vec<BlockMeta>> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut out = Vec::new();
        for b in self.block_list() {
            let target = dir.join(b.meta().ulid.to_string());
            link_tree(b.dir(), &target)?;
            out.push(b.meta().clone());
        }
        if with_head {
            let (a, b) = (self.head.min_time(), self.head.max_time());
            if a <= b
                && let Some(m) = write_head_block(&self.head, dir, a, b.saturating_add(1))?
            {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// Hard-links every file under `from` into the same place under `to`.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for e in fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let e = e.map_err(|e| Error::io(from, e))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            link_tree(&src, &dst)?;
        } else {
            fs::hard_link(&src, &dst).map_err(|e| Error::io(&dst, e))?;
        }
    }
    Ok(())
}

/// Renames a block directory out of sight, then removes it, so a crash in between leaves a
/// leftover that the next open cleans rather than a half-deleted block.
fn delete_block_dir(dir: &Path) -> Result<()> {
    let mut tmp = dir.as_os_str().to_owned();
    tmp.push(".tmp-for-deletion");
    let tmp = PathBuf::from(tmp);
    fs::rename(dir, &tmp).map_err(|e| Error::io(dir, e))?;
    fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))
}

/// Writes the head's samples in `[mint, maxt)` into a new block under `parent`. Returns
/// `None` when there is nothing to write.
fn write_head_block(head: &Head, parent: &Path, mint: i64, maxt: i64) -> Result<Option<BlockMeta>> {
    let last = maxt.saturating_sub(1);
    struct Entry {
        labels: Labels,
        chunks: Vec<SealedChunk>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for s in head.all_series() {
        let snap = s.lock().snapshot(mint, last);
        if snap.chunks.is_empty() && snap.ooo.is_empty() {
            continue;
        }
        let deleted = head.tombstones_of(s.r);
        let clean = snap.ooo.is_empty()
            && deleted.iter().all(|iv| !iv.overlaps(mint, last))
            && snap
                .chunks
                .iter()
                .all(|c| c.min_time >= mint && c.max_time <= last);
        let chunks = if clean {
            snap.chunks
        } else {
            let samples = merged_samples(&snap.chunks, &snap.ooo, mint, last, &deleted);
            encode_chunks(&samples)
        };
        if !chunks.is_empty() {
            entries.push(Entry {
                labels: s.labels.clone(),
                chunks,
            });
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut symbols: BTreeSet<&str> = BTreeSet::new();
    for e in &entries {
        for l in e.labels.iter() {
            symbols.insert(l.name);
            symbols.insert(l.value);
        }
    }
    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent, ulid, mint, maxt)?;
    w.add_symbols(symbols.iter().copied())?;
    let mut data: Vec<ChunkData<'_>> = Vec::new();
    for e in &entries {
        data.clear();
        data.extend(e.chunks.iter().map(|c| ChunkData {
            min_time: c.min_time,
            max_time: c.max_time,
            bytes: c.bytes(),
        }));
        w.add_series(&e.labels, &data)?;
    }
    let meta = w.finish(block::BlockCompaction::new(ulid))?;
    tracing::info!(ulid = %meta.ulid, mint, maxt, series = entries.len(), "head block written");
    Ok(Some(meta))
}

/// The samples of the chunks and out-of-order list within `[mint, maxt]`, merged and minus
/// deleted intervals.
fn merged_samples(
    chunks: &[SealedChunk],
    ooo: &[Sample],
    mint: i64,
    maxt: i64,
    deleted: &[Interval],
) -> Vec<Sample> {
    let mut all: Vec<Sample> = Vec::new();
    for c in chunks {
        let mut it = prom_chunk::XorIterator::new(c.bytes());
        while it.next() {
            let (t, v) = it.at();
            all.push(Sample::new(t, v));
        }
    }
    all.extend_from_slice(ooo);
    // Stable: an in-order sample wins over an out-of-order one at the same time.
    all.sort_by_key(|s| s.t);
    all.dedup_by_key(|s| s.t);
    all.retain(|s| s.t >= mint && s.t <= maxt && !is_deleted(deleted, s.t));
    all
}

/// Encodes sorted samples into chunks of at most 120 samples.
pub(crate) fn encode_chunks(samples: &[Sample]) -> Vec<SealedChunk> {
    samples
        .chunks(usize::from(crate::head::series::SAMPLES_PER_CHUNK))
        .filter_map(|part| {
            let mut app = prom_chunk::XorAppender::new();
            for s in part {
                app.append(s.t, s.v).ok()?;
            }
            Some(SealedChunk::heap(
                part.first()?.t,
                part.last()?.t,
                app.bytes(),
            ))
        })
        .collect()
}
