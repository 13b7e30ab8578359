//! Compaction: planning which blocks to merge, and merging them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use prom_chunk::{XorAppender, XorIterator};
use prom_index::{ChunkMeta, Postings};
use prom_model::Labels;

use super::meta::{BlockCompaction, BlockMeta};
use super::reader::Block;
use super::tombstones::Tombstones;
use super::writer::{BlockWriter, ChunkData};
use super::{Error, Result};
use crate::interval::Interval;
use crate::ulid::Ulid;

/// Chunks re-encoded by compaction hold at most this many samples, as Prometheus cuts them.
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// `steps` ranges starting at `min`, each `factor` times the previous: Prometheus's
/// `ExponentialBlockRanges`. With a 2 h minimum and factor 3: 2 h, 6 h, 18 h, 54 h, …
///
/// ```
/// use prom_tsdb::block::exponential_ranges;
/// let h = 3_600_000;
/// assert_eq!(exponential_ranges(2 * h, 3, 3), [2 * h, 6 * h, 18 * h]);
/// ```
pub fn exponential_ranges(min: i64, steps: usize, factor: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(steps);
    let mut r = min;
    for _ in 0..steps {
        out.push(r);
        r = r.saturating_mul(factor);
    }
    out
}

/// Which blocks to compact, as Prometheus's leveled compactor plans it. `ranges` are the block
/// ranges in milliseconds, smallest first (see [`exponential_ranges`]). Each returned group is
/// compacted into one block; groups are disjoint and may be compacted in any order. Empty when
/// there is nothing to do.
///
/// The first of these stages that finds something decides:
///
/// 1. **Overlaps**: blocks whose time ranges overlap are merged (every group of mutually
///    overlapping blocks, newest block included).
/// 2. **Levels**: the blocks except the newest (by min time), which may still be joined by
///    the next block cut from the head, are split by each range after the first into aligned
///    windows `[k·range, (k+1)·range)`. At the smallest range where some window holds two or
///    more blocks that either fill the window or all end before the newest block starts,
///    those windows' blocks are the groups. Windows with a block whose compaction failed are
///    skipped.
/// 3. **Tombstones**: walking back from the newest block but one, a block at least as long as
///    the middle range with more than 5% of its series' worth of tombstones is rewritten on its
///    own; so is a shorter block whose every series has one. The walk stops at the first
///    shorter block.
///
/// ```
/// use prom_tsdb::block::{exponential_ranges, plan_compaction, BlockCompaction, BlockMeta, BlockStats};
/// use prom_tsdb::ulid::Ulid;
///
/// let h = 3_600_000;
/// let meta = |i: i64| {
///     let ulid = Ulid::from_parts(i as u64, 0);
///     BlockMeta {
///         ulid,
///         min_time: i * 2 * h,
///         max_time: (i + 1) * 2 * h,
///         stats: BlockStats::default(),
///         compaction: BlockCompaction::new(ulid),
///         version: 1,
///     }
/// };
/// let metas: Vec<BlockMeta> = (0..4).map(meta).collect();
/// // [0, 6h) is full: its three 2 h blocks are merged. The fourth block is the newest.
/// let plan = plan_compaction(&metas, &exponential_ranges(2 * h, 3, 3));
/// assert_eq!(plan, [vec![metas[0].ulid, metas[1].ulid, metas[2].ulid]]);
/// ```
pub fn plan_compaction(metas: &[BlockMeta], ranges: &[i64]) -> Vec<Vec<Ulid>> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by_key(|m| (m.min_time, m.max_time, m.ulid));

    let overlapping = overlapping_groups(&sorted);
    if !overlapping.is_empty() {
        return overlapping;
    }
    // Leave out the newest block: the head may still cut a neighbour for it.
    let Some((_, older)) = sorted.split_last() else {
        return Vec::new();
    };
    let leveled = leveled_groups(older, ranges);
    if !leveled.is_empty() {
        return leveled;
    }
    tombstone_groups(older, ranges)
}

/// Every maximal run of blocks (sorted by min time) whose ranges overlap.
fn overlapping_groups(sorted: &[&BlockMeta]) -> Vec<Vec<Ulid>> {
    let mut groups = Vec::new();
    let mut cur: Vec<Ulid> = Vec::new();
    let mut max_t = i64::MIN;
    for m in sorted {
        if !cur.is_empty() && m.min_time < max_t {
            cur.push(m.ulid);
        } else {
            if cur.len() > 1 {
                groups.push(std::mem::take(&mut cur));
            }
            cur.clear();
            cur.push(m.ulid);
            max_t = i64::MIN;
        }
        max_t = max_t.max(m.max_time);
    }
    if cur.len() > 1 {
        groups.push(cur);
    }
    groups
}

fn leveled_groups(blocks: &[&BlockMeta], ranges: &[i64]) -> Vec<Vec<Ulid>> {
    let Some(last) = blocks.last() else {
        return Vec::new();
    };
    let high_time = last.min_time;
    for &range in ranges.iter().skip(1) {
        if range <= 0 {
            continue;
        }
        let mut groups = Vec::new();
        for part in split_by_range(blocks, range) {
            if part.iter().any(|m| m.compaction.failed) || part.len() < 2 {
                continue;
            }
            let (Some(first), Some(last)) = (part.first(), part.last()) else {
                continue;
            };
            let (mint, maxt) = (first.min_time, last.max_time);
            if maxt.saturating_sub(mint) == range || maxt <= high_time {
                groups.push(part.iter().map(|m| m.ulid).collect());
            }
        }
        if !groups.is_empty() {
            return groups;
        }
    }
    Vec::new()
}

/// Groups consecutive blocks that fall in the same aligned window `[k·range, (k+1)·range)`;
/// blocks that straddle a window boundary (or are longer than `range`) are left out.
fn split_by_range<'m>(blocks: &[&'m BlockMeta], range: i64) -> Vec<Vec<&'m BlockMeta>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(m) = blocks.get(i) {
        let start = m.min_time.div_euclid(range).saturating_mul(range);
        let end = start.saturating_add(range);
        if m.max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while let Some(b) = blocks.get(i) {
            if b.max_time > end {
                break;
            }
            group.push(*b);
            i += 1;
        }
        out.push(group);
    }
    out
}

fn tombstone_groups(blocks: &[&BlockMeta], ranges: &[i64]) -> Vec<Vec<Ulid>> {
    let mid = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    let mut out = Vec::new();
    for m in blocks.iter().rev() {
        let s = m.stats;
        if m.max_time.saturating_sub(m.min_time) < mid {
            if s.num_tombstones > 0 && s.num_tombstones >= s.num_series {
                out.push(vec![m.ulid]);
            }
            break;
        }
        if s.num_tombstones as f64 / (s.num_series as f64 + 1.0) > 0.05 {
            out.push(vec![m.ulid]);
        }
    }
    out
}

/// One series' state in one input block.
struct Cursor<'b> {
    block: &'b Block,
    tombstones: Arc<Tombstones>,
    refs: std::vec::IntoIter<u64>,
    /// The current series: reference, labels, chunks.
    head: Option<(u64, Labels, Vec<ChunkMeta>)>,
}

impl Cursor<'_> {
    fn advance(&mut self) -> Result<()> {
        self.head = match self.refs.next() {
            None => None,
            Some(r) => {
                let (labels, chunks) =
                    self.block
                        .index()
                        .series(r)
                        .map_err(|source| Error::Index {
                            dir: self.block.dir().to_path_buf(),
                            source,
                        })?;
                Some((r, labels, chunks))
            }
        };
        Ok(())
    }
}

/// A chunk of an input block, about to be copied or merged.
#[derive(Clone, Copy)]
struct Piece<'b, 't> {
    /// Position of the block in the input.
    block: usize,
    meta: ChunkMeta,
    deleted: &'t [Interval],
    bytes: &'b [u8],
}

/// A chunk of the output.
enum OutChunk<'b> {
    Copied(ChunkData<'b>),
    Encoded {
        min_time: i64,
        max_time: i64,
        bytes: Vec<u8>,
    },
}

/// Compacts `blocks` into one new block under `parent` and returns its meta, or `None` when
/// no sample remains (every one deleted), in which case nothing is written.
///
/// Series are merged across blocks in label order. Deleted samples are dropped. A chunk that
/// overlaps no other and has nothing deleted is copied byte for byte; chunks that overlap
/// (across blocks) or lose samples are decoded, merged by timestamp and re-encoded in chunks
/// of at most [`MAX_SAMPLES_PER_CHUNK`] samples. At a timestamp present in several blocks,
/// the sample of the block later in `blocks` wins.
///
/// The new block covers from the smallest min time to the largest max time of the inputs;
/// its level is one more than the highest input level, its sources the union of theirs and
/// its parents the inputs. The inputs are left as they are: deleting them is the caller's
/// business.
pub fn compact(parent: &Path, blocks: &[&Block]) -> Result<Option<BlockMeta>> {
    let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta()).collect();
    let (Some(min_time), Some(max_time)) = (
        metas.iter().map(|m| m.min_time).min(),
        metas.iter().map(|m| m.max_time).max(),
    ) else {
        return Ok(None);
    };

    // Symbols of every input, merged.
    let mut symbols: BTreeSet<&str> = BTreeSet::new();
    let mut cursors = Vec::with_capacity(blocks.len());
    for b in blocks {
        let index_err = |source| Error::Index {
            dir: b.dir().to_path_buf(),
            source,
        };
        for s in b.index().symbols() {
            symbols.insert(s.map_err(index_err)?);
        }
        let mut p = b.index().all_postings().map_err(index_err)?;
        let mut refs = Vec::with_capacity(p.len());
        while p.next() {
            refs.push(p.at());
        }
        let mut c = Cursor {
            block: b,
            tombstones: b.tombstones(),
            refs: refs.into_iter(),
            head: None,
        };
        c.advance()?;
        cursors.push(c);
    }

    let ulid = Ulid::new();
    let mut w = BlockWriter::create(parent, ulid, min_time, max_time)?;
    w.add_symbols(symbols.iter().copied())?;

    let mut out: Vec<OutChunk<'_>> = Vec::new();
    // The smallest label set any input is at, until all are exhausted.
    while let Some(labels) = cursors
        .iter()
        .filter_map(|c| c.head.as_ref().map(|h| &h.1))
        .min()
        .cloned()
    {
        let mut pieces: Vec<Piece<'_, '_>> = Vec::new();
        for (i, c) in cursors.iter().enumerate() {
            let Some((sref, l, chunks)) = &c.head else {
                continue;
            };
            if *l != labels {
                continue;
            }
            let deleted = c.tombstones.get(*sref);
            for m in chunks {
                if deleted
                    .iter()
                    .any(|iv| iv.min_time <= m.min_time && m.max_time <= iv.max_time)
                {
                    continue;
                }
                pieces.push(Piece {
                    block: i,
                    meta: *m,
                    deleted,
                    bytes: c.block.chunk(m.chunk_ref)?,
                });
            }
        }
        out.clear();
        merge_pieces(&mut pieces, blocks, &mut out)?;
        if !out.is_empty() {
            let data: Vec<ChunkData<'_>> = out
                .iter()
                .map(|c| match c {
                    OutChunk::Copied(d) => *d,
                    OutChunk::Encoded {
                        min_time,
                        max_time,
                        bytes,
                    } => ChunkData {
                        min_time: *min_time,
                        max_time: *max_time,
                        bytes,
                    },
                })
                .collect();
            w.add_series(&labels, &data)?;
        }
        for c in cursors.iter_mut() {
            if c.head.as_ref().is_some_and(|h| h.1 == labels) {
                c.advance()?;
            }
        }
    }

    if w.num_series() == 0 {
        return Ok(None);
    }
    let mut sources: Vec<Ulid> = metas
        .iter()
        .flat_map(|m| {
            if m.compaction.sources.is_empty() {
                vec![m.ulid]
            } else {
                m.compaction.sources.clone()
            }
        })
        .collect();
    sources.sort();
    sources.dedup();
    let compaction = BlockCompaction {
        level: metas
            .iter()
            .map(|m| m.compaction.level)
            .max()
            .unwrap_or(0)
            .saturating_add(1),
        sources,
        parents: metas.iter().map(BlockMeta::desc).collect(),
        ..BlockCompaction::default()
    };
    w.finish(compaction).map(Some)
}

/// Turns one series' chunks from all inputs into output chunks, in time order.
fn merge_pieces<'b>(
    pieces: &mut [Piece<'b, '_>],
    blocks: &[&Block],
    out: &mut Vec<OutChunk<'b>>,
) -> Result<()> {
    pieces.sort_by_key(|p| (p.meta.min_time, p.block));
    let mut i = 0;
    while i < pieces.len() {
        // The run of pieces overlapping (or touching) each other.
        let mut j = i + 1;
        let mut run_max = pieces[i].meta.max_time;
        while j < pieces.len() && pieces[j].meta.min_time <= run_max {
            run_max = run_max.max(pieces[j].meta.max_time);
            j += 1;
        }
        let run = &pieces[i..j];
        let untouched = |p: &Piece<'_, '_>| {
            !p.deleted
                .iter()
                .any(|iv| iv.overlaps(p.meta.min_time, p.meta.max_time))
        };
        if let [p] = run
            && untouched(p)
        {
            out.push(OutChunk::Copied(ChunkData {
                min_time: p.meta.min_time,
                max_time: p.meta.max_time,
                bytes: p.bytes,
            }));
        } else {
            let samples = merged_samples(run, blocks)?;
            encode(&samples, out);
        }
        i = j;
    }
    Ok(())
}

/// The samples of overlapping pieces, deleted ones dropped, by timestamp; at equal timestamps
/// the piece of the later block wins.
fn merged_samples(run: &[Piece<'_, '_>], blocks: &[&Block]) -> Result<Vec<(i64, f64)>> {
    let mut all: Vec<(i64, usize, f64)> = Vec::new();
    for p in run {
        let mut it = XorIterator::new(p.bytes);
        while it.next() {
            let (t, v) = it.at();
            if !crate::interval::is_deleted(p.deleted, t) {
                all.push((t, p.block, v));
            }
        }
        if let Some(e) = it.err() {
            let b = blocks.get(p.block).copied();
            return Err(Error::Chunk {
                dir: b.map(|b| b.dir().to_path_buf()).unwrap_or_default(),
                file: b
                    .map(|b| b.segment_name(p.meta.chunk_ref))
                    .unwrap_or_default(),
                chunk_ref: p.meta.chunk_ref,
                source: e.clone(),
            });
        }
    }
    all.sort_by_key(|&(t, b, _)| (t, b));
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    Ok(out)
}

/// Encodes samples into chunks of at most [`MAX_SAMPLES_PER_CHUNK`].
fn encode(samples: &[(i64, f64)], out: &mut Vec<OutChunk<'_>>) {
    for part in samples.chunks(MAX_SAMPLES_PER_CHUNK) {
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            continue;
        };
        let mut app = XorAppender::new();
        for &(t, v) in part {
            // At most 120 samples: the appender cannot be full.
            let _ = app.append(t, v);
        }
        out.push(OutChunk::Encoded {
            min_time: first.0,
            max_time: last.0,
            bytes: app.into_bytes(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

    const H: i64 = 3_600_000;

    fn meta(n: u64, min_time: i64, max_time: i64) -> BlockMeta {
        let ulid = Ulid::from_parts(n, 0);
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: BlockCompaction::new(ulid),
            version: 1,
        }
    }

    fn ids(metas: &[&BlockMeta]) -> Vec<Ulid> {
        metas.iter().map(|m| m.ulid).collect()
    }

    fn ranges() -> Vec<i64> {
        exponential_ranges(2 * H, 4, 3)
    }

    #[test]
    fn nothing_to_do() {
        assert!(plan_compaction(&[], &ranges()).is_empty());
        assert!(plan_compaction(&[meta(1, 0, 2 * H)], &ranges()).is_empty());
        // Two blocks: the newer one is left alone, so one block remains: nothing.
        let two = [meta(1, 0, 2 * H), meta(2, 2 * H, 4 * H)];
        assert!(plan_compaction(&two, &ranges()).is_empty());
    }

    #[test]
    fn three_two_hour_blocks_and_the_newest_left_out() {
        let ms: Vec<BlockMeta> = (0..4)
            .map(|i| meta(i as u64 + 1, i * 2 * H, (i + 1) * 2 * H))
            .collect();
        assert_eq!(
            plan_compaction(&ms, &ranges()),
            [ids(&[&ms[0], &ms[1], &ms[2]])]
        );
        // Only three: the newest is left out, and the two others neither fill the 6 h window
        // nor end before the newest starts.
        assert!(plan_compaction(&ms[..3], &ranges()).is_empty());
    }

    #[test]
    fn an_unfilled_window_waits_for_the_newest() {
        // [0,2h) and [2h,4h) in the 6 h window; the newest block starts at 2h: the window's
        // only other candidate is a single block.
        let ms = [meta(1, 0, 2 * H), meta(2, 2 * H, 4 * H)];
        assert!(plan_compaction(&ms, &ranges()).is_empty());
        // Disjoint windows each become a group; the input order does not matter. The newest
        // block starts at 14h, the one before at 12h: both 6 h windows below end by then.
        let ms = [
            meta(6, 14 * H, 16 * H),
            meta(1, 0, 2 * H),
            meta(3, 6 * H, 8 * H),
            meta(5, 12 * H, 14 * H),
            meta(2, 2 * H, 4 * H),
            meta(4, 8 * H, 10 * H),
        ];
        let plan = plan_compaction(&ms, &ranges());
        assert_eq!(
            plan,
            [vec![ms[1].ulid, ms[4].ulid], vec![ms[2].ulid, ms[5].ulid]]
        );
    }

    #[test]
    fn higher_levels_and_failed_blocks() {
        // Three 6 h blocks fill 18 h.
        let ms = [
            meta(1, 0, 6 * H),
            meta(2, 6 * H, 12 * H),
            meta(3, 12 * H, 18 * H),
            meta(4, 18 * H, 20 * H),
        ];
        assert_eq!(
            plan_compaction(&ms, &ranges()),
            [ids(&[&ms[0], &ms[1], &ms[2]])]
        );
        let mut failed = ms.clone();
        failed[1].compaction.failed = true;
        assert!(plan_compaction(&failed, &ranges()).is_empty());
        // A block straddling a window boundary is never grouped.
        let ms = [
            meta(1, H, 3 * H),
            meta(2, 3 * H, 5 * H),
            meta(3, 5 * H, 7 * H),
            meta(4, 7 * H, 9 * H),
        ];
        let plan = plan_compaction(&ms, &ranges());
        assert_eq!(plan, [ids(&[&ms[0], &ms[1]])]);
    }

    #[test]
    fn overlaps_come_first_and_include_the_newest() {
        let ms = [
            meta(1, 0, 2 * H),
            meta(2, 2 * H, 4 * H),
            meta(3, 4 * H, 6 * H),
            meta(4, 5 * H, 7 * H),
            meta(5, 10 * H, 12 * H),
            meta(6, 11 * H, 12 * H),
        ];
        assert_eq!(
            plan_compaction(&ms, &ranges()),
            [ids(&[&ms[2], &ms[3]]), ids(&[&ms[4], &ms[5]])]
        );
        // Touching is not overlapping.
        let ms = [meta(1, 0, 2 * H), meta(2, 2 * H, 4 * H)];
        assert!(overlapping_groups(&ms.iter().collect::<Vec<_>>()).is_empty());
        // A long block covering several short ones.
        let ms = [
            meta(1, 0, 6 * H),
            meta(2, H, 2 * H),
            meta(3, 3 * H, 4 * H),
            meta(4, 7 * H, 8 * H),
        ];
        assert_eq!(
            plan_compaction(&ms, &ranges()),
            [ids(&[&ms[0], &ms[1], &ms[2]])]
        );
    }

    #[test]
    fn tombstones_trigger_a_rewrite() {
        let mut ms = vec![
            meta(1, 0, 18 * H),
            meta(2, 18 * H, 36 * H),
            meta(3, 36 * H, 38 * H),
        ];
        ms[1].stats.num_series = 100;
        ms[1].stats.num_tombstones = 6;
        assert_eq!(plan_compaction(&ms, &ranges()), [vec![ms[1].ulid]]);
        ms[1].stats.num_tombstones = 5;
        assert!(plan_compaction(&ms, &ranges()).is_empty());
        // A short block is rewritten only when every series has a tombstone, and the first
        // short block stops the walk: block 1 (every series deleted) is not reached.
        let mut ms = vec![
            meta(1, 0, 18 * H),
            meta(2, 18 * H, 20 * H),
            meta(3, 20 * H, 22 * H),
            meta(4, 22 * H, 24 * H),
        ];
        ms[0].stats = BlockStats {
            num_series: 10,
            num_tombstones: 10,
            ..BlockStats::default()
        };
        ms[2].stats = BlockStats {
            num_series: 10,
            num_tombstones: 3,
            ..BlockStats::default()
        };
        assert!(plan_compaction(&ms, &ranges()).is_empty());
        ms[2].stats.num_tombstones = 10;
        assert_eq!(plan_compaction(&ms, &ranges()), [vec![ms[2].ulid]]);
    }

    #[test]
    fn split_by_range_aligns_windows() {
        let ms = [
            meta(1, 0, 10),
            meta(2, 10, 20),
            meta(3, 50, 60),
            meta(4, 90, 100),
            meta(5, 95, 125),
        ];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        let parts = split_by_range(&refs, 30);
        let got: Vec<Vec<Ulid>> = parts.iter().map(|p| ids(p)).collect();
        assert_eq!(
            got,
            [ids(&[&ms[0], &ms[1]]), ids(&[&ms[2]]), ids(&[&ms[3]])]
        );
        // Negative times round down.
        let ms = [meta(1, -30, -20), meta(2, -20, -10)];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        assert_eq!(split_by_range(&refs, 30).len(), 1);
    }
}
