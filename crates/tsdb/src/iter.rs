//! Sample iterators shared by the head and the database's merging querier.

use prom_model::{Error as ModelError, Sample, SampleIterator, Timestamp};

use crate::head::series::SealedChunk;
use crate::interval::{Interval, is_deleted};

/// Iterates the samples of a head series snapshot: its chunks decoded one at a time into a
/// reused buffer, merged with its out-of-order samples, clipped to `[mint, maxt]`, minus
/// deleted intervals.
#[derive(Debug)]
pub(crate) struct HeadSeriesIterator {
    chunks: Vec<SealedChunk>,
    /// Index of the next chunk to decode.
    next_chunk: usize,
    buf: Vec<Sample>,
    pos: usize,
    started: bool,
    mint: i64,
    maxt: i64,
    deleted: Vec<Interval>,
    err: Option<ModelError>,
}

impl HeadSeriesIterator {
    pub fn new(
        chunks: Vec<SealedChunk>,
        ooo: Vec<Sample>,
        mint: i64,
        maxt: i64,
        deleted: Vec<Interval>,
    ) -> Self {
        let mut it = HeadSeriesIterator {
            chunks,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            started: false,
            mint,
            maxt,
            deleted,
            err: None,
        };
        if !ooo.is_empty() {
            // Rare: decode everything and merge once, so the fast path below stays simple.
            let mut all = Vec::new();
            for c in std::mem::take(&mut it.chunks) {
                it.decode_into(c.bytes(), &mut all);
            }
            let mut merged = Vec::with_capacity(all.len() + ooo.len());
            let (mut i, mut j) = (0, 0);
            while i < all.len() || j < ooo.len() {
                let take_a = j >= ooo.len() || (i < all.len() && all[i].t <= ooo[j].t);
                if take_a {
                    if j < ooo.len() && ooo[j].t == all[i].t {
                        j += 1;
                    }
                    merged.push(all[i]);
                    i += 1;
                } else {
                    merged.push(ooo[j]);
                    j += 1;
                }
            }
            it.buf = merged;
        }
        it
    }

    fn decode_into(&mut self, bytes: &[u8], out: &mut Vec<Sample>) {
        let mut x = prom_chunk::XorIterator::new(bytes);
        let (mint, maxt, deleted) = (self.mint, self.maxt, &self.deleted);
        // The whole chunk in one batch decode (not stopping at `maxt`, so that a corrupt tail
        // is still reported, as before).
        x.for_each_until(i64::MAX, |t, v| {
            if t >= mint && t <= maxt && !is_deleted(deleted, t) {
                out.push(Sample::new(t, v));
            }
        });
        if let Some(e) = x.err()
            && self.err.is_none()
        {
            self.err = Some(ModelError::storage(e.to_string()));
        }
    }

    /// Decodes the next chunk into the buffer; false when none is left.
    fn fill(&mut self) -> bool {
        while self.next_chunk < self.chunks.len() {
            let c = self.chunks[self.next_chunk].clone();
            self.next_chunk += 1;
            self.buf.clear();
            self.pos = 0;
            let mut out = std::mem::take(&mut self.buf);
            self.decode_into(c.bytes(), &mut out);
            self.buf = out;
            if !self.buf.is_empty() {
                return true;
            }
        }
        false
    }
}

impl SampleIterator for HeadSeriesIterator {
    fn next(&mut self) -> bool {
        if !self.started {
            self.started = true;
            return self.pos < self.buf.len() || self.fill();
        }
        if self.pos < self.buf.len() {
            self.pos += 1;
        }
        self.pos < self.buf.len() || self.fill()
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        if !self.started {
            self.started = true;
            if self.buf.is_empty() && !self.fill() {
                return false;
            }
        }
        loop {
            if self.pos < self.buf.len() && self.buf[self.buf.len() - 1].t >= t {
                self.pos += self.buf[self.pos..].partition_point(|s| s.t < t);
                return true;
            }
            // Skip whole chunks that end before t without decoding them.
            while self.next_chunk < self.chunks.len() && self.chunks[self.next_chunk].max_time < t {
                self.next_chunk += 1;
            }
            self.pos = self.buf.len();
            if !self.fill() {
                return false;
            }
        }
    }

    fn at(&self) -> Sample {
        self.buf
            .get(self.pos)
            .copied()
            .unwrap_or(Sample::new(Timestamp::MIN, f64::NAN))
    }

    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        self.started = true;
        loop {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let n = rest.partition_point(|s| s.t <= maxt);
            out.extend_from_slice(&rest[..n]);
            self.pos += n;
            if self.pos < self.buf.len() {
                return true;
            }
            // The buffer is used up: go on with the next chunk, as `next` would.
            if !self.fill() {
                return false;
            }
        }
    }

    fn err(&self) -> Option<&ModelError> {
        self.err.as_ref()
    }
}

/// Merges sample iterators of the same series by time; at equal timestamps the earliest
/// iterator in the list wins and the others' samples are skipped.
pub(crate) struct MergeIterator<'a> {
    its: Vec<Box<dyn SampleIterator + 'a>>,
    /// Whether each iterator has a current sample.
    live: Vec<bool>,
    cur: Option<Sample>,
    started: bool,
}

impl std::fmt::Debug for MergeIterator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeIterator")
            .field("iterators", &self.its.len())
            .field("cur", &self.cur)
            .finish()
    }
}

impl<'a> MergeIterator<'a> {
    pub fn new(its: Vec<Box<dyn SampleIterator + 'a>>) -> Self {
        let live = vec![false; its.len()];
        MergeIterator {
            its,
            live,
            cur: None,
            started: false,
        }
    }

    /// Picks the smallest current sample and advances every iterator sitting on its time.
    fn pick(&mut self) -> bool {
        let mut best: Option<(usize, Sample)> = None;
        for (i, it) in self.its.iter().enumerate() {
            if self.live[i] {
                let s = it.at();
                if best.is_none_or(|(_, b)| s.t < b.t) {
                    best = Some((i, s));
                }
            }
        }
        self.cur = best.map(|(_, s)| s);
        self.cur.is_some()
    }

    /// Advances every live iterator except `keep` that sits at `t` (the time `keep` yields)
    /// and returns the smallest time the others then sit on.
    fn others_past(&mut self, keep: usize, t: i64) -> Option<i64> {
        let mut min = None::<i64>;
        for (i, it) in self.its.iter_mut().enumerate() {
            if i == keep || !self.live[i] {
                continue;
            }
            let mut at = it.at().t;
            if at <= t {
                self.live[i] = it.next();
                if !self.live[i] {
                    continue;
                }
                at = it.at().t;
            }
            if min.is_none_or(|m| at < m) {
                min = Some(at);
            }
        }
        min
    }

    fn advance_past(&mut self, t: i64) {
        for (i, it) in self.its.iter_mut().enumerate() {
            if self.live[i] && it.at().t <= t {
                self.live[i] = it.next();
            }
        }
    }
}

impl SampleIterator for MergeIterator<'_> {
    fn next(&mut self) -> bool {
        if !self.started {
            self.started = true;
            for (i, it) in self.its.iter_mut().enumerate() {
                self.live[i] = it.next();
            }
            return self.pick();
        }
        match self.cur {
            None => false,
            Some(s) => {
                self.advance_past(s.t);
                self.pick()
            }
        }
    }

    fn seek(&mut self, t: Timestamp) -> bool {
        if !self.started {
            self.started = true;
            for (i, it) in self.its.iter_mut().enumerate() {
                self.live[i] = it.seek(t);
            }
            return self.pick();
        }
        if let Some(c) = self.cur
            && c.t >= t
        {
            return true;
        }
        for (i, it) in self.its.iter_mut().enumerate() {
            if self.live[i] {
                self.live[i] = it.seek(t);
            }
        }
        self.pick()
    }

    fn at(&self) -> Sample {
        self.cur.unwrap_or(Sample::new(Timestamp::MIN, f64::NAN))
    }

    /// Merges by runs: the iterator holding the current sample reads, in one batch, every
    /// sample before the others' next timestamp; the others never see a call per sample.
    fn read_until(&mut self, maxt: Timestamp, out: &mut Vec<Sample>) -> bool {
        loop {
            let Some(c) = self.cur else {
                return false;
            };
            if c.t > maxt {
                return true;
            }
            // The iterator `pick` took `c` from: the first live one at `c.t`.
            let Some(w) = (0..self.its.len()).find(|&i| self.live[i] && self.its[i].at().t == c.t)
            else {
                return false;
            };
            // The others skip their samples at `c.t` (the earliest iterator wins); `w` then
            // reads up to just before the earliest of theirs.
            let bound = match self.others_past(w, c.t) {
                Some(m) => maxt.min(m - 1),
                None => maxt,
            };
            self.live[w] = self.its[w].read_until(bound, out);
            self.pick();
        }
    }

    fn err(&self) -> Option<&ModelError> {
        self.its.iter().find_map(|it| it.err())
    }
}

#[cfg(test)]
mod tests {
    use prom_chunk::XorAppender;
    use prom_model::storage::ListSampleIterator;

    use super::*;

    fn chunk(samples: &[(i64, f64)]) -> SealedChunk {
        let mut a = XorAppender::new();
        for &(t, v) in samples {
            a.append(t, v).expect("in order");
        }
        SealedChunk::heap(samples[0].0, samples[samples.len() - 1].0, a.bytes())
    }

    fn drain(it: &mut dyn SampleIterator) -> Vec<i64> {
        let mut out = Vec::new();
        while it.next() {
            out.push(it.at().t);
        }
        out
    }

    #[test]
    fn head_iterator_clips_deletes_merges_and_seeks() {
        let chunks = vec![
            chunk(&[(1, 1.0), (2, 2.0), (3, 3.0)]),
            chunk(&[(10, 1.0), (11, 1.0)]),
            chunk(&[(20, 1.0), (21, 1.0)]),
        ];
        let mut it = HeadSeriesIterator::new(chunks.clone(), vec![], 2, 20, vec![]);
        assert_eq!(drain(&mut it), [2, 3, 10, 11, 20]);
        let mut it =
            HeadSeriesIterator::new(chunks.clone(), vec![], 0, 100, vec![Interval::new(3, 10)]);
        assert_eq!(drain(&mut it), [1, 2, 11, 20, 21]);
        let mut it = HeadSeriesIterator::new(chunks.clone(), vec![], 0, 100, vec![]);
        assert!(it.seek(12));
        assert_eq!(it.at().t, 20);
        assert!(it.seek(5)); // never backwards
        assert_eq!(it.at().t, 20);
        assert!(!it.seek(22));
        let ooo = vec![
            Sample::new(0, 9.0),
            Sample::new(5, 9.0),
            Sample::new(10, 9.0),
        ];
        let mut it = HeadSeriesIterator::new(chunks, ooo, 0, 100, vec![]);
        assert_eq!(drain(&mut it), [0, 1, 2, 3, 5, 10, 11, 20, 21]);
    }

    #[test]
    fn merge_prefers_the_first_iterator_and_dedups() {
        let a = ListSampleIterator::new(vec![Sample::new(1, 1.0), Sample::new(3, 1.0)]);
        let b = ListSampleIterator::new(vec![
            Sample::new(2, 2.0),
            Sample::new(3, 2.0),
            Sample::new(4, 2.0),
        ]);
        let mut m = MergeIterator::new(vec![Box::new(a), Box::new(b)]);
        let mut got = Vec::new();
        while m.next() {
            got.push((m.at().t, m.at().v));
        }
        assert_eq!(got, [(1, 1.0), (2, 2.0), (3, 1.0), (4, 2.0)]);
        let a = ListSampleIterator::new(vec![Sample::new(1, 1.0), Sample::new(30, 1.0)]);
        let b = ListSampleIterator::new(vec![Sample::new(20, 2.0)]);
        let mut m = MergeIterator::new(vec![Box::new(a), Box::new(b)]);
        assert!(m.seek(10) && m.at().t == 20);
        assert!(m.next() && m.at().t == 30);
        assert!(!m.next());
    }
}
