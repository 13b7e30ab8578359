//! Queriers: the head's, and the database's, which merges the head with every block that
//! overlaps the queried range.

use std::sync::Arc;

use prom_model::storage::ListSeriesSet;
use prom_model::{
    Error as ModelError, Labels, Matcher, Querier, SampleIterator, SelectHints, Series, SeriesSet,
};

use crate::block::Block;
use crate::db::Inner;
use crate::head::Head;
use crate::iter::{HeadSeriesIterator, MergeIterator};

/// A querier over the head's series.
pub(crate) struct HeadQuerier<'a> {
    head: &'a Head,
    mint: i64,
    maxt: i64,
}

impl<'a> HeadQuerier<'a> {
    pub fn new(head: &'a Head, mint: i64, maxt: i64) -> Self {
        HeadQuerier { head, mint, maxt }
    }

    /// The selected series with data in range, sorted by labels, each with its iterator.
    fn series(&self, matchers: &[Matcher]) -> Vec<Series<'static>> {
        let mut selected = self.head.select(matchers);
        selected.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut out = Vec::with_capacity(selected.len());
        for s in selected {
            let snap = s.lock().snapshot(self.mint, self.maxt);
            if snap.chunks.is_empty() && snap.ooo.is_empty() {
                continue;
            }
            let deleted = self.head.tombstones_of(s.r);
            let make = |snap: crate::head::series::SeriesSnapshot| {
                HeadSeriesIterator::new(
                    snap.chunks,
                    snap.ooo,
                    self.mint,
                    self.maxt,
                    deleted.clone(),
                )
            };
            if !deleted.is_empty() {
                // Skip series whose samples in range are all deleted.
                let mut probe = make(snap.clone());
                if !probe.next() {
                    continue;
                }
            }
            out.push(Series::new(s.labels.clone(), make(snap)));
        }
        out
    }
}

impl Querier for HeadQuerier<'_> {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        Box::new(ListSeriesSet::new(self.series(matchers)))
    }

    fn label_names(&self, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        if self.head.max_time() < self.mint || self.head.min_time() > self.maxt {
            return Ok(Vec::new());
        }
        Ok(self.head.index.label_names_for_matchers(matchers))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        if self.head.max_time() < self.mint || self.head.min_time() > self.maxt {
            return Ok(Vec::new());
        }
        Ok(self.head.index.label_values_for_matchers(name, matchers))
    }
}

/// The database's querier: the head and the blocks overlapping `[mint, maxt]`, merged by
/// labels; where a series is in several, its samples are merged by time (at equal timestamps
/// the older source wins).
pub struct DbQuerier<'a> {
    head: HeadQuerier<'a>,
    blocks: Vec<Arc<Block>>,
    mint: i64,
    maxt: i64,
}

impl std::fmt::Debug for DbQuerier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbQuerier")
            .field("mint", &self.mint)
            .field("maxt", &self.maxt)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl<'a> DbQuerier<'a> {
    pub(crate) fn new(inner: &'a Inner, mint: i64, maxt: i64) -> Self {
        let blocks = inner
            .block_list()
            .into_iter()
            .filter(|b| b.meta().min_time <= maxt && mint < b.meta().max_time)
            .collect();
        DbQuerier {
            head: HeadQuerier::new(&inner.head, mint, maxt),
            blocks,
            mint,
            maxt,
        }
    }
}

impl DbQuerier<'_> {
    /// The blocks' part of this querier.
    fn blocks_querier(&self) -> BlocksQuerier<'_> {
        BlocksQuerier::new(self.blocks.iter().map(|b| &**b), self.mint, self.maxt)
    }
}

impl Querier for DbQuerier<'_> {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        let blocks = self.blocks.iter().map(|b| &**b);
        let mut sets = block_sets(blocks, self.mint, self.maxt, sorted, hints, matchers);
        sets.push(self.head.select(sorted, hints, matchers));
        if sets.len() == 1 {
            return sets.pop().expect("one set");
        }
        Box::new(MergeSeriesSet::new(sets))
    }

    fn label_names(&self, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        let mut all = self.head.label_names(matchers)?;
        all.extend(self.blocks_querier().label_names(matchers)?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        let mut all = self.head.label_values(name, matchers)?;
        all.extend(self.blocks_querier().label_values(name, matchers)?);
        all.sort();
        all.dedup();
        Ok(all)
    }
}

/// The series sets of `blocks` over `[mint, maxt]`, one per block.
fn block_sets<'a>(
    blocks: impl Iterator<Item = &'a Block>,
    mint: i64,
    maxt: i64,
    sorted: bool,
    hints: Option<&SelectHints>,
    matchers: &[Matcher],
) -> Vec<Box<dyn SeriesSet<'a> + 'a>> {
    blocks
        .map(|b| {
            let q = b.querier(mint, maxt);
            Box::new(OwnedBlockSet::new(q, sorted, hints, matchers)) as Box<dyn SeriesSet<'a> + 'a>
        })
        .collect()
}

/// A querier over blocks alone, without a head or WAL: what a tool uses to read a directory
/// it must not open as a database (another process holds it). Series come in label order,
/// each once; a series in several blocks has its samples merged by time (at equal timestamps
/// the earlier block in the list wins).
#[derive(Debug)]
pub struct BlocksQuerier<'a> {
    blocks: Vec<&'a Block>,
    mint: i64,
    maxt: i64,
}

impl<'a> BlocksQuerier<'a> {
    /// A querier over `[mint, maxt]` of the blocks that overlap it.
    pub fn new(blocks: impl IntoIterator<Item = &'a Block>, mint: i64, maxt: i64) -> Self {
        let blocks = blocks
            .into_iter()
            .filter(|b| b.min_time() <= maxt && mint < b.max_time())
            .collect();
        BlocksQuerier { blocks, mint, maxt }
    }
}

impl Querier for BlocksQuerier<'_> {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet<'_> + '_> {
        let mut sets = block_sets(
            self.blocks.iter().copied(),
            self.mint,
            self.maxt,
            sorted,
            hints,
            matchers,
        );
        match sets.len() {
            0 => Box::new(ListSeriesSet::new(Vec::new())),
            1 => sets.pop().expect("one set"),
            _ => Box::new(MergeSeriesSet::new(sets)),
        }
    }

    fn label_names(&self, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        let mut all = Vec::new();
        for b in &self.blocks {
            all.extend(b.querier(self.mint, self.maxt).label_names(matchers)?);
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> prom_model::Result<Vec<String>> {
        let mut all = Vec::new();
        for b in &self.blocks {
            all.extend(
                b.querier(self.mint, self.maxt)
                    .label_values(name, matchers)?,
            );
        }
        all.sort();
        all.dedup();
        Ok(all)
    }
}

/// A block's series set that can outlive its querier value (the block itself is kept alive by
/// the database querier). It reads the block's series lazily, one per [`next`](SeriesSet::next):
/// collecting them all up front cost a `Series` vector (regrown as it filled) and kept every
/// series' decoded state alive before the caller needed it.
struct OwnedBlockSet<'a> {
    set: crate::block::BlockSeriesSet<'a>,
    /// The block set's error, re-wrapped once it has ended.
    err: Option<ModelError>,
}

impl<'a> OwnedBlockSet<'a> {
    fn new(
        q: crate::block::BlockQuerier<'a>,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Self {
        OwnedBlockSet {
            set: q.select_owned(sorted, hints, matchers),
            err: None,
        }
    }
}

impl<'a> SeriesSet<'a> for OwnedBlockSet<'a> {
    fn next(&mut self) -> Option<Series<'a>> {
        if self.err.is_some() {
            return None;
        }
        let s = self.set.next();
        if s.is_none() {
            self.err = self.set.err().map(|e| ModelError::storage(e.to_string()));
        }
        s
    }

    fn err(&self) -> Option<&ModelError> {
        self.err.as_ref()
    }
}

/// Merges series sets sorted by labels.
struct MergeSeriesSet<'a> {
    sets: Vec<Box<dyn SeriesSet<'a> + 'a>>,
    heads: Vec<Option<Series<'a>>>,
    started: bool,
}

impl<'a> MergeSeriesSet<'a> {
    fn new(sets: Vec<Box<dyn SeriesSet<'a> + 'a>>) -> Self {
        let heads = sets.iter().map(|_| None).collect();
        MergeSeriesSet {
            sets,
            heads,
            started: false,
        }
    }
}

impl<'a> SeriesSet<'a> for MergeSeriesSet<'a> {
    fn next(&mut self) -> Option<Series<'a>> {
        if !self.started {
            self.started = true;
            for (i, s) in self.sets.iter_mut().enumerate() {
                self.heads[i] = s.next();
            }
        }
        let min: Labels = self
            .heads
            .iter()
            .flatten()
            .map(|s| &s.labels)
            .min()?
            .clone();
        let mut its: Vec<Box<dyn SampleIterator + 'a>> = Vec::new();
        for (i, h) in self.heads.iter_mut().enumerate() {
            if h.as_ref().is_some_and(|s| s.labels == min) {
                let s = h.take().expect("checked");
                its.push(s.samples);
                *h = self.sets[i].next();
            }
        }
        if its.len() == 1 {
            return Some(Series {
                labels: min,
                samples: its.pop().expect("one"),
            });
        }
        Some(Series::new(min, MergeIterator::new(its)))
    }

    fn err(&self) -> Option<&ModelError> {
        self.sets.iter().find_map(|s| s.err())
    }

    fn warnings(&self) -> &[String] {
        self.sets
            .iter()
            .map(|s| s.warnings())
            .find(|w| !w.is_empty())
            .unwrap_or(&[])
    }
}
