//! Reading a block through prom-model's [`Querier`].

use std::sync::Arc;

use prom_chunk::XorIterator;
use prom_index::ChunkMeta;
use prom_model::storage::{Querier, SelectHints, Series, SeriesSet};
use prom_model::{Labels, Matcher, Sample, SampleIterator};

use super::reader::Block;
use super::tombstones::Tombstones;
use super::{Error, Result};
use crate::interval::Interval;

fn model_err(e: Error) -> prom_model::Error {
    prom_model::Error::storage(e)
}

/// A querier over one block and the closed time range `[mint, maxt]`.
///
/// - Series come in label order (whether or not `sorted` is asked for), each at most once.
/// - Only chunks overlapping `[mint, maxt]` are read, and samples outside it are skipped.
/// - Samples deleted by the block's tombstones (as of when the querier was made) are hidden,
///   and a series with no sample left is not returned.
/// - [`label_names`](Querier::label_names) and [`label_values`](Querier::label_values) answer
///   from the index for the whole block, ignoring the time range and tombstones.
#[derive(Debug, Clone)]
pub struct BlockQuerier<'a> {
    block: &'a Block,
    tombstones: Arc<Tombstones>,
    mint: i64,
    maxt: i64,
}

impl<'a> BlockQuerier<'a> {
    pub(super) fn new(block: &'a Block, tombstones: Arc<Tombstones>, mint: i64, maxt: i64) -> Self {
        BlockQuerier {
            block,
            tombstones,
            mint,
            maxt,
        }
    }

    /// The block queried.
    pub fn block(&self) -> &'a Block {
        self.block
    }

    /// Like [`select`](Querier::select), but the set borrows only the block, not the querier,
    /// so it may outlive the querier.
    pub fn select_owned(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> BlockSeriesSet<'a> {
        let (refs, err) = if self.mint > self.maxt {
            (Vec::new(), None)
        } else {
            match self.block.select_refs(matchers) {
                Ok(r) => (r, None),
                Err(e) => (Vec::new(), Some(model_err(e))),
            }
        };
        BlockSeriesSet {
            block: self.block,
            tombstones: self.tombstones.clone(),
            refs: refs.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
            err,
            labels: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// The labels of the series `matchers` select, one callback per series.
    fn for_each_selected(
        &self,
        matchers: &[Matcher],
        mut f: impl FnMut(&[(&'a str, &'a str)]),
    ) -> Result<()> {
        let refs = self.block.select_refs(matchers)?;
        let mut labels = Vec::new();
        let mut chunks = Vec::new();
        for r in refs {
            self.block
                .index()
                .series_into(r, &mut labels, &mut chunks)
                .map_err(|source| Error::Index {
                    dir: self.block.dir().to_path_buf(),
                    source,
                })?;
            f(&labels);
        }
        Ok(())
    }
}

impl Querier for BlockQuerier<'_> {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        Box::new(self.select_owned(sorted, hints, matchers))
    }

    fn label_names(&self, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        if matchers.is_empty() {
            return Ok(self
                .block
                .index()
                .label_names()
                .into_iter()
                .map(str::to_owned)
                .collect());
        }
        let mut names = std::collections::BTreeSet::new();
        self.for_each_selected(matchers, |ls| {
            names.extend(ls.iter().map(|(n, _)| *n));
        })
        .map_err(model_err)?;
        Ok(names.into_iter().map(str::to_owned).collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        if matchers.is_empty() {
            let vs = self.block.index().label_values(name).map_err(|source| {
                model_err(Error::Index {
                    dir: self.block.dir().to_path_buf(),
                    source,
                })
            })?;
            return Ok(vs
                .into_iter()
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect());
        }
        let mut values = std::collections::BTreeSet::new();
        self.for_each_selected(matchers, |ls| {
            if let Some((_, v)) = ls.iter().find(|(n, _)| *n == name) {
                values.insert(*v);
            }
        })
        .map_err(model_err)?;
        Ok(values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// The series of a [`BlockQuerier::select_owned`] call, read from the index one at a time.
#[derive(Debug)]
pub struct BlockSeriesSet<'a> {
    block: &'a Block,
    tombstones: Arc<Tombstones>,
    refs: std::vec::IntoIter<u64>,
    mint: i64,
    maxt: i64,
    err: Option<prom_model::Error>,
    labels: Vec<(&'a str, &'a str)>,
    chunks: Vec<ChunkMeta>,
}

impl<'a> BlockSeriesSet<'a> {
    fn fail(&mut self, e: prom_model::Error) -> Option<Series<'a>> {
        self.err = Some(e);
        self.refs = Vec::new().into_iter();
        None
    }
}

impl<'a> SeriesSet<'a> for BlockSeriesSet<'a> {
    fn next(&mut self) -> Option<Series<'a>> {
        loop {
            if self.err.is_some() {
                return None;
            }
            let sref = self.refs.next()?;
            let block = self.block;
            if let Err(source) = block
                .index()
                .series_into(sref, &mut self.labels, &mut self.chunks)
            {
                return self.fail(model_err(Error::Index {
                    dir: block.dir().to_path_buf(),
                    source,
                }));
            }
            let deleted = self.tombstones.get(sref);
            let (mint, maxt) = (self.mint, self.maxt);
            let chunks: Vec<ChunkMeta> = self
                .chunks
                .iter()
                .filter(|c| c.min_time <= maxt && mint <= c.max_time)
                .filter(|c| {
                    !deleted
                        .iter()
                        .any(|iv| iv.min_time <= c.min_time && c.max_time <= iv.max_time)
                })
                .copied()
                .collect();
            if chunks.is_empty() {
                continue;
            }
            let mut it = BlockSampleIterator::new(block, chunks, deleted.to_vec(), mint, maxt);
            // Read up to the first sample: a series whose samples in range are all deleted is
            // left out.
            if !it.next() {
                if let Some(e) = it.err.take() {
                    return self.fail(e);
                }
                continue;
            }
            it.peeked = true;
            return Some(Series {
                labels: Labels::from_pairs(&self.labels),
                samples: Box::new(it),
            });
        }
    }

    fn err(&self) -> Option<&prom_model::Error> {
        self.err.as_ref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Before,
    At,
    Done,
}

/// The samples of one series of a block within the querier's range, minus deleted ones.
///
/// Chunks are decoded lazily, one at a time, straight from the map; [`seek`](SampleIterator::seek)
/// skips whole chunks by their time range. Chunks whose ranges overlap (which Prometheus's index
/// format does not allow, but a damaged or foreign block might have) are decoded up front and
/// merged by timestamp instead.
#[derive(Debug)]
pub struct BlockSampleIterator<'a> {
    block: &'a Block,
    chunks: Vec<ChunkMeta>,
    /// Next chunk to open.
    next_chunk: usize,
    it: XorIterator<'a>,
    /// Whether `it` is on a chunk, and that chunk's max time.
    open: bool,
    open_max: i64,
    /// Samples decoded up front when chunks overlap; `None` for lazy decoding.
    list: Option<Vec<Sample>>,
    list_pos: usize,
    deleted: Vec<Interval>,
    del_pos: usize,
    mint: i64,
    maxt: i64,
    cur: Sample,
    state: State,
    /// The series set read the first sample; the first `next` returns it.
    peeked: bool,
    err: Option<prom_model::Error>,
}

/// Whether `t` falls in one of the sorted, disjoint `deleted` intervals. `pos` is where the
/// last lookup stopped; it only moves forward, as the times asked about only increase.
#[inline]
fn deleted_at(deleted: &[Interval], pos: &mut usize, t: i64) -> bool {
    while deleted.get(*pos).is_some_and(|iv| iv.max_time < t) {
        *pos += 1;
    }
    deleted.get(*pos).is_some_and(|iv| iv.min_time <= t)
}

impl<'a> BlockSampleIterator<'a> {
    fn new(
        block: &'a Block,
        chunks: Vec<ChunkMeta>,
        deleted: Vec<Interval>,
        mint: i64,
        maxt: i64,
    ) -> Self {
        let overlapping = chunks.windows(2).any(|w| match w {
            [a, b] => b.min_time <= a.max_time,
            _ => false,
        });
        let mut it = BlockSampleIterator {
            block,
            chunks,
            next_chunk: 0,
            it: XorIterator::default(),
            open: false,
            open_max: i64::MIN,
            list: None,
            list_pos: 0,
            deleted,
            del_pos: 0,
            mint,
            maxt,
            cur: Sample::new(i64::MIN, f64::NAN),
            state: State::Before,
            peeked: false,
            err: None,
        };
        if overlapping {
            it.decode_all();
        }
        it
    }

    /// Decodes every chunk, merges by timestamp (a later chunk wins a tie) and filters.
    fn decode_all(&mut self) {
        let mut all: Vec<(i64, usize, f64)> = Vec::new();
        for (i, c) in self.chunks.iter().enumerate() {
            let bytes = match self.block.chunk(c.chunk_ref) {
                Ok(b) => b,
                Err(e) => return self.fail(model_err(e)),
            };
            let mut it = XorIterator::new(bytes);
            while it.next() {
                let (t, v) = it.at();
                all.push((t, i, v));
            }
            if let Some(e) = it.err() {
                let e = self.chunk_err(c.chunk_ref, e.clone());
                return self.fail(e);
            }
        }
        all.sort_by_key(|&(t, i, _)| (t, i));
        let mut out: Vec<Sample> = Vec::with_capacity(all.len());
        for (t, _, v) in all {
            if t < self.mint || t > self.maxt || crate::interval::is_deleted(&self.deleted, t) {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.t == t => last.v = v,
                _ => out.push(Sample::new(t, v)),
            }
        }
        self.list = Some(out);
    }

    fn chunk_err(&self, chunk_ref: u64, source: prom_chunk::Error) -> prom_model::Error {
        model_err(Error::Chunk {
            dir: self.block.dir().to_path_buf(),
            file: self.block.segment_name(chunk_ref),
            chunk_ref,
            source,
        })
    }

    fn fail(&mut self, e: prom_model::Error) {
        self.err = Some(e);
        self.state = State::Done;
        self.open = false;
        self.peeked = false;
    }

    fn finish(&mut self) -> bool {
        self.state = State::Done;
        self.open = false;
        false
    }

    fn is_deleted(&mut self, t: i64) -> bool {
        deleted_at(&self.deleted, &mut self.del_pos, t)
    }

    /// Moves to the first kept sample at or after `target` (and after the current one).
    /// `have` says whether `it` already sits on a sample not yet looked at.
    fn run(&mut self, mut have: bool, target: i64) -> bool {
        loop {
            if !(have || self.open && self.it.next()) {
                match self.open_next(target) {
                    Some(h) => {
                        have = h;
                        continue;
                    }
                    None => return false,
                }
            }
            have = false;
            let (t, v) = self.it.at();
            if t > self.maxt {
                return self.finish();
            }
            // Samples must strictly increase; a chunk whose bytes disagree with its time range
            // in the index must not make the cursor go back or repeat a timestamp.
            if t < target || (self.state == State::At && t <= self.cur.t) || self.is_deleted(t) {
                continue;
            }
            self.cur = Sample::new(t, v);
            self.state = State::At;
            return true;
        }
    }

    /// Leaves the exhausted current chunk (reporting its decoding error, if any) and opens the
    /// next one that can hold samples at or after `target`, positioned at `target`. `None`
    /// when the iteration is over; otherwise whether `it` sits on a sample.
    fn open_next(&mut self, target: i64) -> Option<bool> {
        if self.open {
            if let Some(e) = self.it.err() {
                let r = self
                    .chunks
                    .get(self.next_chunk.saturating_sub(1))
                    .map_or(0, |c| c.chunk_ref);
                let e = self.chunk_err(r, e.clone());
                self.fail(e);
                return None;
            }
            self.open = false;
        }
        while self
            .chunks
            .get(self.next_chunk)
            .is_some_and(|c| c.max_time < target)
        {
            self.next_chunk += 1;
        }
        let Some(c) = self.chunks.get(self.next_chunk).copied() else {
            self.finish();
            return None;
        };
        self.next_chunk += 1;
        if c.min_time > self.maxt {
            self.finish();
            return None;
        }
        match self.block.chunk(c.chunk_ref) {
            Ok(b) => self.it.reset(b),
            Err(e) => {
                self.fail(model_err(e));
                return None;
            }
        }
        self.open = true;
        self.open_max = c.max_time;
        Some(c.min_time < target && self.it.seek(target))
    }

    /// Roughly how many samples reading the open chunk and the whole chunks after it up to
    /// `lim` yields, so that the output need not regrow sample by sample. Chunks vary in size
    /// (the first of a block is often short), so the open chunk's sample rate is scaled to the
    /// time those chunks span, bounded by what full chunks could hold.
    fn estimate_until(&self, lim: i64) -> usize {
        let rest = self.chunks.get(self.next_chunk..).unwrap_or_default();
        let whole = rest.iter().take_while(|c| c.max_time <= lim).count();
        let n = usize::from(self.it.num_samples());
        let Some(open) = self
            .next_chunk
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
        else {
            return n;
        };
        let last = rest
            .get(whole.wrapping_sub(1))
            .map_or(self.open_max, |c| c.max_time);
        let span_open = self.open_max.saturating_sub(open.min_time).max(1) as f64;
        let span = last.saturating_sub(open.min_time).max(1) as f64;
        let guess = (n as f64 * span / span_open) as usize;
        let bound = super::compact::MAX_SAMPLES_PER_CHUNK.saturating_mul(whole + 1);
        guess.min(bound).max(n)
    }

    /// [`SampleIterator::read_until`] over the overlapping chunks' merged list.
    fn list_read_until(&mut self, maxt: i64, out: &mut Vec<Sample>) -> bool {
        let Some(list) = &self.list else {
            return self.finish();
        };
        let rest = list.get(self.list_pos..).unwrap_or_default();
        let n = rest.partition_point(|s| s.t <= maxt);
        out.extend_from_slice(&rest[..n]);
        self.list_pos += n;
        match list.get(self.list_pos) {
            Some(&s) => {
                self.cur = s;
                true
            }
            None => self.finish(),
        }
    }

    /// [`SampleIterator::read_until`] over lazily decoded chunks: the walk `run` does one
    /// sample per call, decoding straight into `out` and keeping the same checks in the same
    /// order (the querier's `maxt` ends the iteration, then the strictly-increasing guard and
    /// the tombstones skip samples). The current sample `cur` is already in `out`.
    fn lazy_read_until(&mut self, maxt: i64, out: &mut Vec<Sample>) -> bool {
        let lim = maxt.min(self.maxt);
        let has_deleted = !self.deleted.is_empty();
        let mut cur = self.cur;
        if self.open && self.open_max <= lim {
            out.reserve(self.estimate_until(lim));
        }
        // Whether `it` sits on a sample not yet looked at: one past `lim`, or where
        // `open_next` seeked to.
        let mut have = false;
        loop {
            if !have {
                if self.open {
                    // The hot loop: the chunk's batch decode, a few compares per sample. It
                    // stops on the first sample past `lim`, left current in `it`.
                    let (deleted, del_pos) = (&self.deleted, &mut self.del_pos);
                    have = self.it.for_each_until(lim, |t, v| {
                        // `cur.t >= mint`, so the guard also drops samples before `mint`.
                        if t <= cur.t || (has_deleted && deleted_at(deleted, del_pos, t)) {
                            return;
                        }
                        cur = Sample::new(t, v);
                        out.push(cur);
                    });
                }
                if !have {
                    self.cur = cur;
                    match self.open_next(self.mint) {
                        Some(h) => {
                            have = h;
                            if self.open && self.open_max <= lim {
                                // The whole chunk will be read: spare `out` its regrowths.
                                out.reserve(usize::from(self.it.num_samples()));
                            }
                            continue;
                        }
                        None => return false,
                    }
                }
            }
            // One sample the hot loop cannot decide alone, checked as `run` does.
            have = false;
            let (t, v) = self.it.at();
            if t > self.maxt {
                self.cur = cur;
                return self.finish();
            }
            if t <= cur.t || (has_deleted && self.is_deleted(t)) {
                continue;
            }
            cur = Sample::new(t, v);
            if t > maxt {
                self.cur = cur;
                return true;
            }
            out.push(cur);
        }
    }

    fn list_from(&mut self, target: i64) -> bool {
        let Some(list) = &self.list else {
            return self.finish();
        };
        let rest = list.get(self.list_pos..).unwrap_or_default();
        self.list_pos += rest.partition_point(|s| s.t < target);
        match list.get(self.list_pos) {
            Some(&s) => {
                self.cur = s;
                self.state = State::At;
                true
            }
            None => self.finish(),
        }
    }
}

impl SampleIterator for BlockSampleIterator<'_> {
    fn next(&mut self) -> bool {
        if self.peeked {
            self.peeked = false;
            return true;
        }
        match self.state {
            State::Done => false,
            _ if self.list.is_some() => {
                if self.state == State::At {
                    self.list_pos += 1;
                }
                self.list_from(i64::MIN)
            }
            _ => self.run(false, self.mint),
        }
    }

    fn seek(&mut self, t: i64) -> bool {
        if self.state == State::Done {
            return false;
        }
        self.peeked = false;
        if self.state == State::At && self.cur.t >= t {
            return true;
        }
        let target = t.max(self.mint);
        if self.list.is_some() {
            return self.list_from(target);
        }
        let mut have = false;
        if self.open {
            if self.open_max >= target {
                have = self.it.seek(target);
            } else {
                self.open = false;
            }
        }
        self.run(have, target)
    }

    fn at(&self) -> Sample {
        self.cur
    }

    fn read_until(&mut self, maxt: i64, out: &mut Vec<Sample>) -> bool {
        // Not on a sample: the caller broke the precondition; read nothing.
        if self.state != State::At {
            return false;
        }
        // With `peeked` (no `next` yet), `cur` is the first sample: read from it.
        self.peeked = false;
        if self.cur.t > maxt {
            return true;
        }
        out.push(self.cur);
        if self.list.is_some() {
            self.list_pos += 1;
            return self.list_read_until(maxt, out);
        }
        self.lazy_read_until(maxt, out)
    }

    fn err(&self) -> Option<&prom_model::Error> {
        self.err.as_ref()
    }
}
