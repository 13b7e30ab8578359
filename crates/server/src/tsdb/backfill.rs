//! `prom tsdb create-blocks-from openmetrics`: backfill blocks from an OpenMetrics file, as
//! promtool does.
//!
//! The input is parsed once. Each sample is appended to its series' open XOR chunk as it is
//! read; a chunk is cut at 120 samples or where the sample falls into the next block, and its
//! bytes move to one arena shared by all series. So memory holds the compressed data (about
//! 1 to 2 bytes a sample) rather than the samples, and nothing is allocated per sample: the
//! series is found by its text as written (one hash lookup, no label decoding) and the
//! labels are built only the first time a series is seen. Once the input is read, each block's
//! series are written in label order with their chunks straight from the arena, on as many
//! threads as there are cores.
//!
//! Blocks are aligned to the block duration (2h unless `--max-block-duration` allows a longer
//! one, chosen as promtool does among 2h, 6h, 18h, …) and each block's meta.json covers the
//! data it holds: from its first sample to just after its last, as promtool writes it.
//!
//! promtool instead reads the input once to find the time range and then once more per block,
//! appending every sample of the block through a TSDB head.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, IsTerminal as _, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use prom_chunk::XorAppender;
use prom_exposition::{Entry, ErrorKind, Format, ParseError, Parser, Position};
use prom_model::{Labels, METRIC_NAME};
use prom_tsdb::block::{self, BlockCompaction, BlockMeta, BlockWriter, ChunkData};
use prom_tsdb::ulid::Ulid;

use super::{Error, Result, blocks, list};

/// The most samples a chunk holds, as in Prometheus.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// The default and smallest block duration: two hours.
pub const DEFAULT_BLOCK_DURATION: Duration = Duration::from_secs(2 * 3600);

/// Arguments of `prom tsdb create-blocks-from`.
#[derive(Debug, Args)]
pub struct CreateBlocksArgs {
    /// The input format.
    #[command(subcommand)]
    pub format: CreateBlocksFormat,
}

/// The formats blocks can be created from.
#[derive(Debug, clap::Subcommand)]
pub enum CreateBlocksFormat {
    /// Create blocks from an OpenMetrics file whose samples all have timestamps.
    ///
    /// Prints the created blocks as promtool does (the rows of `prom tsdb list`) and a
    /// summary to stderr (neither with `--quiet`). A parse error is reported as `INPUT:LINE:COL: message` and no block is
    /// written. Exits 0 on success, 1 otherwise.
    #[command(name = "openmetrics")]
    OpenMetrics(OpenMetricsArgs),
}

/// Arguments of `prom tsdb create-blocks-from openmetrics`.
#[derive(Debug, Args)]
pub struct OpenMetricsArgs {
    /// The OpenMetrics file to read; it must end with `# EOF`.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// The directory to create the blocks in (created if missing).
    #[arg(value_name = "OUTDIR", default_value = "data/")]
    pub outdir: PathBuf,
    /// The longest block to create: blocks are 2h, or the longest of 6h, 18h, 54h, … (each
    /// three times the previous) that does not exceed this. Units: ms, s, m, h, d, w, y.
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    pub max_block_duration: Duration,
    /// Print times and sizes in the block list for people.
    #[arg(short = 'r', long)]
    pub human_readable: bool,
    /// Print nothing but errors: no progress bar, no block list, no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses a Prometheus duration: one or more `<integer><unit>` with units `y`, `w`, `d`, `h`,
/// `m`, `s`, `ms`, largest first (`2h`, `1h30m`, `90m`, `1d`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("ms", 1),
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ];
    let bad = || format!("invalid duration {s:?}: expected e.g. 2h, 90m, 1h30m, 1d");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(bad());
        }
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let (unit, ms) = UNITS
            .iter()
            .find(|(u, _)| tail.starts_with(u))
            .copied()
            .ok_or_else(bad)?;
        if ms >= last_unit {
            return Err(bad());
        }
        last_unit = ms;
        total = n
            .checked_mul(ms)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        rest = &tail[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// The block duration promtool uses for a maximum block duration, in milliseconds: 2h, or the
/// largest of 2h·3^k (k < 10) that is at most `max`.
pub fn block_duration_ms(max: Duration) -> i64 {
    let base = DEFAULT_BLOCK_DURATION.as_millis() as i64;
    let max = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
    let mut d = base;
    for _ in 1..10 {
        match d.checked_mul(3) {
            Some(next) if next <= max => d = next,
            _ => break,
        }
    }
    d
}

/// One chunk in the arena.
#[derive(Debug, Clone, Copy)]
struct ChunkSpan {
    /// The block the chunk belongs to: its start time divided by the block duration.
    block: i64,
    min_time: i64,
    max_time: i64,
    samples: u16,
    start: usize,
    len: usize,
}

/// A series: its labels and its chunks in time order.
#[derive(Debug)]
struct SeriesChunks {
    labels: Labels,
    chunks: Vec<ChunkSpan>,
}

/// The chunk a series is filling.
#[derive(Debug)]
struct OpenChunk {
    app: XorAppender,
    block: i64,
    min_time: i64,
    last_t: i64,
    last_v: u64,
}

/// One block to write: its slot on the block grid and the data it will hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPlan {
    /// Start of the block's slot on the grid of the block duration, in milliseconds.
    pub slot_start: i64,
    /// The first sample's timestamp.
    pub min_time: i64,
    /// The last sample's timestamp.
    pub max_time: i64,
    /// Series with samples in the block.
    pub series: u64,
    /// Chunks.
    pub chunks: u64,
    /// Samples.
    pub samples: u64,
}

/// An OpenMetrics input read into per-series chunks, ready to be written as blocks.
#[derive(Debug)]
pub struct Backfill {
    series: Vec<SeriesChunks>,
    /// Series indices in label order.
    order: Vec<u32>,
    arena: Vec<u8>,
    block_duration: i64,
    samples: u64,
    plans: Vec<BlockPlan>,
}

/// A std hasher is a keyed SipHash; the keys here are series texts from one file, so a fast
/// multiplicative hash (FxHash's) is enough and several times quicker.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// The error for a sample the parser accepted but a block cannot hold, pointing at the end of
/// its line (where the timestamp is or should be).
fn sample_error(input: &[u8], line_start: usize, line: u32, message: String) -> ParseError {
    let end = input
        .get(line_start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(input.len(), |i| line_start + i);
    let text = input.get(line_start..end).unwrap_or_default();
    let trimmed = text.trim_ascii_end();
    let col = String::from_utf8_lossy(trimmed).chars().count() + 1;
    ParseError {
        pos: Position {
            line,
            col: u32::try_from(col).unwrap_or(u32::MAX),
            offset: line_start + trimmed.len(),
        },
        kind: ErrorKind::OpenMetrics(message),
    }
}

impl Backfill {
    /// Reads `input` (OpenMetrics) into chunks for blocks of `block_duration` milliseconds.
    /// `progress` is called now and then with the number of input bytes read so far.
    ///
    /// Fails at the first parse error, at a sample without a timestamp, and at a second
    /// sample of a series at the same timestamp with a different value (an identical repeat
    /// is dropped), each with its line and column.
    pub fn read(
        input: &[u8],
        block_duration: i64,
        mut progress: impl FnMut(usize),
    ) -> std::result::Result<Backfill, ParseError> {
        let block_duration = block_duration.max(1);
        let mut series: Vec<SeriesChunks> = Vec::new();
        let mut open: Vec<Option<OpenChunk>> = Vec::new();
        let mut arena: Vec<u8> = Vec::new();
        let mut by_text: HashMap<&str, u32, FxBuild> = HashMap::default();
        let mut by_labels: HashMap<Labels, u32> = HashMap::new();
        let mut samples: u64 = 0;
        let base = input.as_ptr() as usize;

        for entry in Parser::new(input, Format::OpenMetrics) {
            let Entry::Sample(s) = entry? else { continue };
            let line_start = (s.series.as_ptr() as usize).wrapping_sub(base);
            let Some(t) = s.timestamp else {
                return Err(sample_error(
                    input,
                    line_start,
                    s.line,
                    format!(
                        "sample of {} has no timestamp; every sample needs one to be backfilled",
                        s.series
                    ),
                ));
            };
            let id = match by_text.get(s.series) {
                Some(&id) => id,
                None => {
                    let labels: Labels =
                        std::iter::once((Cow::Borrowed(METRIC_NAME), s.name.clone()))
                            .chain(s.labels.iter().map(|l| (l.name, l.value)))
                            .collect();
                    // The same series written another way (labels in another order).
                    let id = *by_labels.entry(labels.clone()).or_insert_with(|| {
                        series.push(SeriesChunks {
                            labels,
                            chunks: Vec::new(),
                        });
                        open.push(None);
                        (series.len() - 1) as u32
                    });
                    by_text.insert(s.series, id);
                    id
                }
            };
            let idx = id as usize;
            let (Some(slot), Some(sc)) = (open.get_mut(idx), series.get_mut(idx)) else {
                continue;
            };
            let block = t.div_euclid(block_duration);
            let v = s.value;
            if let Some(o) = slot.as_mut() {
                if t <= o.last_t {
                    if t == o.last_t && v.to_bits() == o.last_v {
                        continue;
                    }
                    let why = if t == o.last_t {
                        "has a second sample at the same timestamp with a different value"
                    } else {
                        "goes back in time"
                    };
                    return Err(sample_error(
                        input,
                        line_start,
                        s.line,
                        format!("series {} {why} ({t} after {})", s.series, o.last_t),
                    ));
                }
                if o.block != block || o.app.num_samples() >= SAMPLES_PER_CHUNK {
                    cut(o, &mut sc.chunks, &mut arena);
                    *slot = None;
                }
            }
            let o = slot.get_or_insert_with(|| OpenChunk {
                app: XorAppender::new(),
                block,
                min_time: t,
                last_t: t,
                last_v: v.to_bits(),
            });
            if let Err(e) = o.app.append(t, v) {
                return Err(sample_error(input, line_start, s.line, e.to_string()));
            }
            o.last_t = t;
            o.last_v = v.to_bits();
            samples += 1;
            if samples.is_multiple_of(65_536) {
                progress(line_start);
            }
        }
        for (slot, sc) in open.iter_mut().zip(series.iter_mut()) {
            if let Some(o) = slot.take() {
                cut(&o, &mut sc.chunks, &mut arena);
            }
        }
        progress(input.len());

        let mut order: Vec<u32> = (0..series.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let label = |i: u32| series.get(i as usize).map(|s| &s.labels);
            label(a).cmp(&label(b))
        });
        let plans = plan_blocks(&series, block_duration);
        Ok(Backfill {
            series,
            order,
            arena,
            block_duration,
            samples,
            plans,
        })
    }

    /// The number of series read.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// The number of samples read (repeats of a sample not counted).
    pub fn num_samples(&self) -> u64 {
        self.samples
    }

    /// The block duration in milliseconds.
    pub fn block_duration(&self) -> i64 {
        self.block_duration
    }

    /// The blocks [`write`](Self::write) will create, in time order.
    pub fn plans(&self) -> &[BlockPlan] {
        &self.plans
    }

    /// The labels and samples of every series in label order, decoded from the chunks: what
    /// the blocks will hold. For tests and checks; this allocates.
    pub fn series_samples(&self) -> Vec<(Labels, Vec<(i64, f64)>)> {
        self.order
            .iter()
            .filter_map(|&i| self.series.get(i as usize))
            .map(|s| {
                let mut out = Vec::new();
                for c in &s.chunks {
                    let bytes = self.arena.get(c.start..c.start + c.len).unwrap_or_default();
                    if let Ok(chunk) = prom_chunk::XorChunk::new(bytes) {
                        out.extend(chunk.samples().map_while(|r| r.ok()));
                    }
                }
                (s.labels.clone(), out)
            })
            .collect()
    }

    /// The chunk min/max times of `labels`' series, per block slot start, for tests.
    #[cfg(test)]
    fn chunk_ranges(&self, labels: &Labels) -> Vec<(i64, i64, i64, u16)> {
        self.series
            .iter()
            .find(|s| &s.labels == labels)
            .map(|s| {
                s.chunks
                    .iter()
                    .map(|c| {
                        (
                            c.block * self.block_duration,
                            c.min_time,
                            c.max_time,
                            c.samples,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes every planned block into `outdir`, using up to `threads` threads, calling
    /// `done` after each block. Returns the blocks' metas in time order.
    ///
    /// On failure the blocks this call already finished are removed again, so a failed
    /// backfill leaves nothing behind.
    pub fn write(
        &self,
        outdir: &Path,
        threads: usize,
        done: &(dyn Fn(&BlockMeta) + Sync),
    ) -> std::result::Result<Vec<BlockMeta>, block::Error> {
        // ULIDs in time order, so listing the directory by name lists the blocks in order.
        let ulids: Vec<Ulid> = self.plans.iter().map(|_| Ulid::new()).collect();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<std::result::Result<BlockMeta, block::Error>>>> =
            Mutex::new(self.plans.iter().map(|_| None).collect());
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let (Some(plan), Some(&ulid)) = (self.plans.get(i), ulids.get(i)) else {
                    break;
                };
                let r = self.write_block(outdir, ulid, plan);
                if let Ok(meta) = &r {
                    done(meta);
                }
                let failed = r.is_err();
                if let Some(slot) = results
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get_mut(i)
                {
                    *slot = Some(r);
                }
                if failed {
                    // Stop handing out blocks; the others finish what they started.
                    next.store(self.plans.len(), Ordering::Relaxed);
                }
            }
        };
        let threads = threads.clamp(1, self.plans.len().max(1));
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
        let results = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut metas = Vec::with_capacity(results.len());
        let mut first_err = None;
        for r in results.into_iter().flatten() {
            match r {
                Ok(m) => metas.push(m),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            for m in &metas {
                let _ = std::fs::remove_dir_all(outdir.join(m.ulid.to_string()));
            }
            return Err(e);
        }
        Ok(metas)
    }

    fn write_block(
        &self,
        outdir: &Path,
        ulid: Ulid,
        plan: &BlockPlan,
    ) -> std::result::Result<BlockMeta, block::Error> {
        let slot = plan.slot_start.div_euclid(self.block_duration);
        let members: Vec<(&SeriesChunks, Range<usize>)> = self
            .order
            .iter()
            .filter_map(|&i| self.series.get(i as usize))
            .filter_map(|s| {
                let lo = s.chunks.partition_point(|c| c.block < slot);
                let hi = s.chunks.partition_point(|c| c.block <= slot);
                (lo < hi).then_some((s, lo..hi))
            })
            .collect();
        let mut symbols: Vec<&str> = members
            .iter()
            .flat_map(|(s, _)| s.labels.iter().flat_map(|l| [l.name, l.value]))
            .collect();
        symbols.sort_unstable();
        symbols.dedup();

        let mut w =
            BlockWriter::create(outdir, ulid, plan.min_time, plan.max_time.saturating_add(1))?;
        w.add_symbols(symbols.iter().copied())?;
        let mut chunks: Vec<ChunkData<'_>> = Vec::new();
        for (s, range) in members {
            chunks.clear();
            chunks.extend(
                s.chunks
                    .get(range)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| ChunkData {
                        min_time: c.min_time,
                        max_time: c.max_time,
                        bytes: self.arena.get(c.start..c.start + c.len).unwrap_or_default(),
                    }),
            );
            w.add_series(&s.labels, &chunks)?;
        }
        w.finish(BlockCompaction::new(ulid))
    }
}

/// Moves a finished chunk's bytes to the arena.
fn cut(o: &OpenChunk, chunks: &mut Vec<ChunkSpan>, arena: &mut Vec<u8>) {
    let bytes = o.app.bytes();
    let start = arena.len();
    arena.extend_from_slice(bytes);
    chunks.push(ChunkSpan {
        block: o.block,
        min_time: o.min_time,
        max_time: o.last_t,
        samples: o.app.num_samples(),
        start,
        len: bytes.len(),
    });
}

/// The blocks the chunks fall into, in time order.
fn plan_blocks(series: &[SeriesChunks], block_duration: i64) -> Vec<BlockPlan> {
    let mut plans: BTreeMap<i64, BlockPlan> = BTreeMap::new();
    for s in series {
        let mut prev_block = None;
        for c in &s.chunks {
            let p = plans.entry(c.block).or_insert(BlockPlan {
                slot_start: c.block.saturating_mul(block_duration),
                min_time: c.min_time,
                max_time: c.max_time,
                series: 0,
                chunks: 0,
                samples: 0,
            });
            p.min_time = p.min_time.min(c.min_time);
            p.max_time = p.max_time.max(c.max_time);
            p.chunks += 1;
            p.samples += u64::from(c.samples);
            if prev_block != Some(c.block) {
                p.series += 1;
                prev_block = Some(c.block);
            }
        }
    }
    plans.into_values().collect()
}

/// The outcome of a backfill run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The blocks created, in time order.
    pub blocks: Vec<BlockMeta>,
    /// Series read.
    pub series: usize,
    /// Samples read.
    pub samples: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// What a backfill reports while it runs. Every method does nothing by default, so `&()`
/// reports nothing.
pub trait Progress: Sync {
    /// `bytes` of the input have been read.
    fn read(&self, bytes: usize) {
        let _ = bytes;
    }
    /// The input is read; `blocks` blocks are about to be written.
    fn writing(&self, blocks: usize) {
        let _ = blocks;
    }
    /// A block has been written.
    fn wrote(&self, meta: &BlockMeta) {
        let _ = meta;
    }
}

impl Progress for () {}

/// Reads the OpenMetrics file at `path` and writes its blocks into `outdir` (created if
/// missing): the whole backfill, without printing.
pub fn create_blocks(
    path: &Path,
    outdir: &Path,
    max_block_duration: Duration,
    progress: &dyn Progress,
) -> Result<Summary> {
    let start = Instant::now();
    let input = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let bf = Backfill::read(&input, block_duration_ms(max_block_duration), |n| {
        progress.read(n)
    })
    .map_err(|error| Error::input(path, &input, error))?;
    drop(input);
    std::fs::create_dir_all(outdir).map_err(|source| Error::Create {
        path: outdir.to_owned(),
        source,
    })?;
    progress.writing(bf.plans().len());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let blocks = bf.write(outdir, threads, &|m| progress.wrote(m))?;
    Ok(Summary {
        blocks,
        series: bf.num_series(),
        samples: bf.num_samples(),
        elapsed: start.elapsed(),
    })
}

/// The progress bar on stderr: input bytes while reading, then blocks while writing.
struct Bar(ProgressBar);

impl Bar {
    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }
}

impl Progress for Bar {
    fn read(&self, bytes: usize) {
        self.0.set_position(bytes as u64);
    }
    fn writing(&self, blocks: usize) {
        self.0.set_style(Bar::style(
            "{msg:>7} [{bar:40}] {pos}/{len} blocks ({elapsed})",
        ));
        self.0.set_message("writing");
        self.0.set_length(blocks as u64);
        self.0.set_position(0);
    }
    fn wrote(&self, _: &BlockMeta) {
        self.0.inc(1);
    }
}

/// Runs `prom tsdb create-blocks-from openmetrics`: the created blocks to stdout as
/// `prom tsdb list` prints them, a summary to stderr.
pub fn run(args: &OpenMetricsArgs) -> Result<u8> {
    let bar = if !args.quiet && io::stderr().is_terminal() {
        let len = std::fs::metadata(&args.input).map_or(0, |m| m.len());
        let bar = ProgressBar::new(len).with_style(Bar::style(
            "{msg:>7} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({eta})",
        ));
        bar.set_message("reading");
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = Bar(bar);
    let summary = create_blocks(
        &args.input,
        &args.outdir,
        args.max_block_duration,
        &progress,
    );
    progress.0.finish_and_clear();
    let summary = summary?;
    if args.quiet {
        return Ok(0);
    }
    {
        let rows: Vec<list::BlockRow> = summary
            .blocks
            .iter()
            .map(|m| {
                let size = blocks::block_size(&args.outdir.join(m.ulid.to_string()));
                list::BlockRow::new(m, size)
            })
            .collect();
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(list::creation_table(&rows, args.human_readable).as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(Error::Write)?;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let _ = writeln!(
        io::stderr(),
        "created {} block{} in {} from {} series and {} samples in {:.2?}",
        summary.blocks.len(),
        plural(summary.blocks.len()),
        args.outdir.display(),
        summary.series,
        summary.samples,
        summary.elapsed
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn read(input: &str) -> std::result::Result<Backfill, ParseError> {
        Backfill::read(input.as_bytes(), 2 * H, |_| {})
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "2", "h", "2x", "30m1h", "1.5h", "-2h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn block_durations_follow_promtool() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(block_duration_ms(h(1)), 2 * H);
        assert_eq!(block_duration_ms(h(2)), 2 * H);
        assert_eq!(block_duration_ms(h(5)), 2 * H);
        assert_eq!(block_duration_ms(h(6)), 6 * H);
        assert_eq!(block_duration_ms(h(24)), 18 * H);
        assert_eq!(block_duration_ms(Duration::MAX), 2 * H * 3i64.pow(9));
    }

    #[test]
    fn samples_are_grouped_into_aligned_blocks_and_chunks() {
        // Two series over 5h at 15s: blocks [0,2h), [2h,4h), [4h,6h).
        let mut om = String::from("# TYPE c counter\n");
        for t in (0..5 * 3600).step_by(15) {
            om += &format!("c_total{{a=\"x\"}} {} {t}\n", t / 15);
        }
        om += "# TYPE g gauge\n";
        for t in (0..5 * 3600).step_by(15) {
            om += &format!("g{{b=\"y\",a=\"z\"}} 1.5 {t}\n");
        }
        om += "# EOF\n";
        let bf = read(&om).unwrap();
        assert_eq!((bf.num_series(), bf.num_samples()), (2, 2400));
        let plans = bf.plans();
        assert_eq!(plans.len(), 3);
        assert_eq!(
            plans[0],
            BlockPlan {
                slot_start: 0,
                min_time: 0,
                max_time: 2 * H - 15_000,
                series: 2,
                chunks: 8,
                samples: 960,
            }
        );
        assert_eq!((plans[2].slot_start, plans[2].samples), (4 * H, 480));
        let c = Labels::from_pairs(&[("__name__", "c_total"), ("a", "x")]);
        let ranges = bf.chunk_ranges(&c);
        assert_eq!(ranges.len(), 10);
        assert_eq!(ranges[0], (0, 0, 119 * 15_000, 120));
        assert_eq!(ranges[3], (0, 360 * 15_000, 479 * 15_000, 120));
        assert_eq!(ranges[4], (2 * H, 2 * H, 2 * H + 119 * 15_000, 120));
        // Series come out in label order with every sample.
        let all = bf.series_samples();
        assert_eq!(all[0].0, c);
        assert_eq!(all[0].1.len(), 1200);
        assert_eq!(all[0].1[1199], (5 * H - 15_000, 1199.0));
        assert_eq!(all[1].0.to_string(), r#"g{a="z", b="y"}"#);
    }

    #[test]
    fn timestamps_are_seconds_and_repeats_are_dropped() {
        let bf = read("a 1 1.5\na 1 1.5\na 2 3\n# EOF\n").unwrap();
        assert_eq!(bf.series_samples()[0].1, [(1500, 1.0), (3000, 2.0)]);
    }

    #[test]
    fn bad_samples_point_at_their_line() {
        let err = read("# TYPE a gauge\na 1\n# EOF\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "2:4: sample of a has no timestamp; every sample needs one to be backfilled"
        );
        let err = read("a 1 1\na 2 1\n# EOF\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "2:6: series a has a second sample at the same timestamp with a different value (1000 after 1000)"
        );
        let err = read("a 1 1\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::MissingEof);
        let err = read("a{b=1} 1 1\n# EOF\n").unwrap_err();
        assert_eq!(err.pos.line, 1);
        assert_eq!(err.pos.col, 5);
    }

    #[test]
    fn empty_input_plans_no_block() {
        let bf = read("# EOF\n").unwrap();
        assert!(bf.plans().is_empty());
    }
}
