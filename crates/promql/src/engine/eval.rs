//! The evaluator: walks the tree once over the query's time grid.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use prom_model::value::is_stale_nan;
use prom_model::{Labels, METRIC_NAME, MatchType, Querier, Queryable, SelectHints};

use super::error::{EvalError, Result};
use super::value::{Point, Sample, Series, Value};
use super::{EngineOptions, QueryResult};
use crate::ast::{AtModifier, Duration, Expr, UnaryOp, ValueType, VectorSelector};

/// The evaluation times of an expression: `start`, `start + step`, … up to `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    pub fn new(start: i64, end: i64, step: i64) -> Grid {
        let n = if step <= 0 {
            1
        } else {
            ((end - start) / step) as usize + 1
        };
        Grid {
            start,
            step: step.max(1),
            n,
        }
    }

    pub fn t(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }
}

/// A series of an intermediate instant-vector result: one point per grid step where present.
#[derive(Debug, Clone)]
pub(crate) struct Sv {
    pub labels: Labels,
    /// Whether `__name__` goes at the end of the query (delayed name removal).
    pub drop_name: bool,
    /// `(step index, value)`, increasing step index.
    pub pts: Vec<(usize, f64)>,
}

/// A series of a range argument: raw samples and the grid of window ends.
#[derive(Debug, Clone)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub drop_name: bool,
    pub samples: Vec<prom_model::Sample>,
    /// The samples' start timestamps (0: unknown), beside `samples`; empty when the storage
    /// has none for the series, and always for subqueries, which do not carry them.
    pub starts: Vec<i64>,
}

/// A range argument evaluated for a grid: per step, the window `(end - range, end]`.
#[derive(Debug)]
pub(crate) struct Windows {
    pub series: Vec<RangeSeries>,
    pub range: i64,
    /// Window end per grid step.
    pub ends: Vec<i64>,
    /// The selector, when the argument was a matrix selector (for `absent_over_time`).
    pub selector: Option<VectorSelector>,
    /// Whether `ends` never decreases, so windows slide forward.
    monotone: bool,
}

impl Windows {
    /// Windows of `range` ending at `ends` over `series`.
    pub fn new(
        series: Vec<RangeSeries>,
        range: i64,
        ends: Vec<i64>,
        selector: Option<VectorSelector>,
    ) -> Windows {
        let monotone = ends.windows(2).all(|w| w[0] <= w[1]);
        Windows {
            series,
            range,
            ends,
            selector,
            monotone,
        }
    }

    /// Whether the window ends never decrease: then the windows' start and end indices (see
    /// [`Windows::bounds`]) never decrease either.
    pub fn monotone(&self) -> bool {
        self.monotone
    }

    /// Calls `f(step, lo, hi)` for each step, `samples[lo..hi]` being the step's window
    /// (`lo == hi` when empty), sliding two pointers over the samples.
    #[inline]
    pub fn bounds(&self, samples: &[prom_model::Sample], mut f: impl FnMut(usize, usize, usize)) {
        let (mut lo, mut hi) = (0usize, 0usize);
        for (i, &end) in self.ends.iter().enumerate() {
            let start = end - self.range;
            if self.monotone {
                while hi < samples.len() && samples[hi].t <= end {
                    hi += 1;
                }
                while lo < hi && samples[lo].t <= start {
                    lo += 1;
                }
            } else {
                lo = samples.partition_point(|x| x.t <= start);
                hi = samples.partition_point(|x| x.t <= end).max(lo);
            }
            f(i, lo, hi);
        }
    }

    /// Calls `f(step, window)` for each step with a window, sliding over the samples.
    pub fn for_each(&self, s: &RangeSeries, mut f: impl FnMut(usize, &[prom_model::Sample])) {
        let samples = &s.samples;
        self.bounds(samples, |i, lo, hi| f(i, &samples[lo..hi]));
    }

    /// The most samples the windows of one step hold together, over all series.
    pub fn peak_samples(&self) -> usize {
        let mut per_step = vec![0usize; self.ends.len()];
        for s in &self.series {
            self.bounds(&s.samples, |i, lo, hi| per_step[i] += hi - lo);
        }
        per_step.into_iter().max().unwrap_or(0)
    }
}

/// An intermediate value.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<Sv>),
}

/// Collects output series keyed by labels.
#[derive(Debug, Default)]
pub(crate) struct Out {
    /// The series of each label set, without and with a dropped name (`usize::MAX`: none).
    map: HashMap<Labels, [usize; 2], FastHash>,
    pub series: Vec<Sv>,
}

impl Out {
    /// The index of the series with these labels, created empty when missing.
    pub fn index(&mut self, labels: &Labels, drop_name: bool) -> usize {
        let d = usize::from(drop_name);
        if let Some(slots) = self.map.get_mut(labels) {
            if slots[d] != usize::MAX {
                return slots[d];
            }
            slots[d] = self.series.len();
        } else {
            let mut slots = [usize::MAX; 2];
            slots[d] = self.series.len();
            self.map.insert(labels.clone(), slots);
        }
        self.series.push(Sv {
            labels: labels.clone(),
            drop_name,
            pts: Vec::new(),
        });
        self.series.len() - 1
    }

    pub fn push(&mut self, labels: &Labels, drop_name: bool, step: usize, v: f64) {
        let idx = self.index(labels, drop_name);
        self.series[idx].pts.push((step, v));
    }
}

/// A fast hash for the engine's in-memory tables (label sets, small integer keys): a
/// multiply-rotate over 8-byte words, then a final mix so that every input bit reaches the
/// low bits a hash table picks its bucket with. Not keyed: for tables a query builds and
/// drops, not for long-lived ones.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// The hasher of [`FastHash`].
#[derive(Debug)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
        self.mix(bytes.len() as u64);
    }

    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }

    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }

    fn finish(&self) -> u64 {
        // The murmur3 64-bit finaliser.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Transposes series into per-step columns of `(series index, value)`.
pub(crate) fn columns(series: &[Sv], n: usize) -> Vec<Vec<(usize, f64)>> {
    // Counted first, so that each column is allocated once at its size.
    let mut len = vec![0usize; n];
    for s in series {
        for &(i, _) in &s.pts {
            len[i] += 1;
        }
    }
    let mut cols: Vec<Vec<(usize, f64)>> = len.into_iter().map(Vec::with_capacity).collect();
    for (si, s) in series.iter().enumerate() {
        for &(i, v) in &s.pts {
            cols[i].push((si, v));
        }
    }
    cols
}

/// The labels that name a metric and go with its name: `__name__`, `__type__`, `__unit__`.
pub(crate) fn is_name_label(name: &str) -> bool {
    matches!(name, METRIC_NAME | "__type__" | "__unit__")
}

/// `labels` without `__name__`, `__type__` and `__unit__`.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels.iter().any(|l| is_name_label(l.name)) {
        return labels.clone();
    }
    labels
        .iter()
        .filter(|l| !is_name_label(l.name))
        .map(|l| (l.name, l.value))
        .collect()
}

/// The labels a series ends up with.
pub(crate) fn effective_labels(s: &Sv) -> Labels {
    if s.drop_name {
        drop_metric_name(&s.labels)
    } else {
        s.labels.clone()
    }
}

/// Labels printed as Prometheus prints them in errors: `{__name__="x", a="b"}`.
pub(crate) fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Where a node starts, as Prometheus appends it to annotations.
pub(crate) fn pos(span: crate::ast::Span) -> String {
    format!(" (1:{})", span.start + 1)
}

/// Per-query state.
pub(crate) struct Ctx<'q> {
    pub querier: Box<dyn Querier + 'q>,
    pub opts: &'q EngineOptions,
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
    deadline: Option<Instant>,
    pub samples: usize,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Ctx<'_> {
    /// The query's cancellation flag and deadline, for checks on other threads.
    pub fn stop(&self) -> super::par::Stop {
        super::par::Stop {
            cancel: self.opts.cancel.clone(),
            deadline: self.deadline,
        }
    }

    pub fn check(&self, site: &'static str) -> Result<()> {
        if let Some(flag) = &self.opts.cancel
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

    pub fn add_samples(&mut self, n: usize) -> Result<()> {
        self.samples += n;
        if self.samples > self.opts.max_samples {
            return Err(EvalError::TooManySamples("query execution"));
        }
        Ok(())
    }

    pub fn info(&mut self, msg: String, span: crate::ast::Span) {
        let msg = format!("PromQL info: {msg}{}", pos(span));
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    pub fn warn(&mut self, msg: String, span: crate::ast::Span) {
        let msg = format!("PromQL warning: {msg}{}", pos(span));
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// Resolves a duration in milliseconds.
    pub fn duration(&self, d: &Duration) -> Result<i64> {
        match d {
            Duration::Millis(ms) => Ok(*ms),
            Duration::Expr(e) => {
                let step = self.query_step as f64 / 1000.0;
                let range = (self.query_end - self.query_start) as f64 / 1000.0;
                let secs = e.eval_seconds(Some(step), Some(range)).ok_or_else(|| {
                    EvalError::InvalidQuery("cannot evaluate duration expression".into())
                })?;
                if !secs.is_finite() {
                    return Err(EvalError::InvalidQuery(format!(
                        "duration expression evaluated to a non-finite value: {secs}"
                    )));
                }
                Ok((secs * 1000.0).round() as i64)
            }
        }
    }

    pub fn at(&self, at: Option<AtModifier>) -> Option<i64> {
        at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.query_start,
            AtModifier::End => self.query_end,
        })
    }

    /// Lists the series a selector selects for samples in `(lo, hi]`, sorted by labels, each
    /// with its (not yet read) samples, plus the storage's warnings: the index work of
    /// [`Ctx::load`], serial, before any sample is decoded.
    pub fn list(
        &self,
        vs: &VectorSelector,
        lo: i64,
        hi: i64,
        range: i64,
        step: i64,
    ) -> Result<(Vec<Listed<'_>>, Vec<String>)> {
        self.check("series selection")?;
        let hints = SelectHints {
            start: lo.saturating_add(1),
            end: hi,
            step,
            range,
            ..SelectHints::default()
        };
        let mut listed: Vec<Listed<'_>> = Vec::new();
        let mut warnings = Vec::new();
        let mut set = self.querier.select(false, Some(&hints), &vs.matchers);
        while let Some(series) = set.next() {
            if listed.len() % 1024 == 1023 {
                self.check("series selection")?;
            }
            listed.push((series.labels, std::sync::Mutex::new(series.samples)));
        }
        if let Some(e) = set.err() {
            return Err(EvalError::InvalidQuery(e.to_string()));
        }
        warnings.extend(set.warnings().iter().cloned());
        drop(set);
        // Stable, as the loaded series were sorted before (an already sorted list is one pass).
        if !listed.is_sorted_by(|a, b| a.0 <= b.0) {
            listed.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok((listed, warnings))
    }

    /// Adds storage warnings not yet reported.
    pub fn add_warnings(&mut self, warnings: Vec<String>) {
        for w in warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }

    /// Loads the series a selector selects, samples in `(lo, hi]`.
    pub fn load(
        &mut self,
        vs: &VectorSelector,
        lo: i64,
        hi: i64,
        range: i64,
        step: i64,
        drop_stale: bool,
    ) -> Result<Vec<(Labels, Vec<prom_model::Sample>)>> {
        let loaded = self.load_series(vs, lo, hi, range, step, drop_stale, false)?;
        Ok(loaded.into_iter().map(|(l, s, _)| (l, s)).collect())
    }

    /// [`Ctx::load`] with each series' start timestamps, when the storage has them (see
    /// [`read_series`]).
    pub fn load_with_starts(
        &mut self,
        vs: &VectorSelector,
        lo: i64,
        hi: i64,
        range: i64,
        step: i64,
        drop_stale: bool,
    ) -> Result<Vec<Loaded>> {
        self.load_series(vs, lo, hi, range, step, drop_stale, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn load_series(
        &mut self,
        vs: &VectorSelector,
        lo: i64,
        hi: i64,
        range: i64,
        step: i64,
        drop_stale: bool,
        with_starts: bool,
    ) -> Result<Vec<Loaded>> {
        // First the series (index work, serial), then their samples: decoding chunks is
        // independent per series, so a big selection is read on several threads.
        let (listed, warnings) = self.list(vs, lo, hi, range, step)?;
        // Roughly one sample per 15 s of the range per series: enough to tell a big read.
        let per_series = ((hi - lo) / 15_000).clamp(1, 1 << 20) as usize;
        let threads = super::par::threads_for(
            self.opts.parallelism,
            listed.len(),
            listed.len().saturating_mul(per_series),
        );
        let read = super::par::map(
            &listed,
            threads,
            &self.stop(),
            "series selection",
            // Series of one selection tend to have as many samples as each other: start each
            // buffer at the previous one's length rather than regrowing it (a series merged
            // from several blocks would otherwise be reallocated and copied once per block).
            || 0usize,
            |size_hint, (_, it)| {
                let mut samples = Vec::with_capacity(*size_hint);
                let mut starts = Vec::new();
                let r = read_series(
                    it,
                    lo,
                    hi,
                    drop_stale,
                    &mut samples,
                    with_starts.then_some(&mut starts),
                );
                *size_hint = samples.len();
                r.map(|()| (samples, starts))
            },
        )?;
        let mut out = Vec::with_capacity(listed.len());
        for ((labels, _), read) in listed.into_iter().zip(read) {
            let (samples, starts) = read.map_err(EvalError::InvalidQuery)?;
            out.push((labels, samples, starts));
        }
        self.add_warnings(warnings);
        Ok(out)
    }
}

/// A loaded series: labels, samples, and their start timestamps (see [`RangeSeries::starts`]).
pub(crate) type Loaded = (Labels, Vec<prom_model::Sample>, Vec<i64>);

/// A listed series: its labels and its samples' iterator (behind a lock only so that the
/// list can be shared with the threads that read it; each series is read by one thread).
pub(crate) type Listed<'q> = (
    Labels,
    std::sync::Mutex<Box<dyn prom_model::SampleIterator + 'q>>,
);

/// Reads a listed series' samples in `(lo, hi]` into `samples` (cleared first), without
/// staleness markers when `drop_stale`; the storage's error as text.
///
/// With `starts`, it is cleared and, if the series has start timestamps, gets one per sample
/// (0 for a sample without, as Prometheus takes a zero start for "unknown"). A series without
/// them costs one call, not one per sample.
pub(crate) fn read_series(
    it: &std::sync::Mutex<Box<dyn prom_model::SampleIterator + '_>>,
    lo: i64,
    hi: i64,
    drop_stale: bool,
    samples: &mut Vec<prom_model::Sample>,
    mut starts: Option<&mut Vec<i64>>,
) -> std::result::Result<(), String> {
    let mut it = it.lock().unwrap_or_else(|p| p.into_inner());
    samples.clear();
    if let Some(st) = starts.as_deref_mut() {
        st.clear();
    }
    if it.seek(lo.saturating_add(1)) {
        match starts.as_deref_mut() {
            Some(st) if it.has_start_timestamps() => loop {
                let s = it.at();
                if s.t > hi {
                    break;
                }
                samples.push(s);
                st.push(it.start_timestamp().unwrap_or(0));
                if !it.next() {
                    break;
                }
            },
            // One batch call per series, not a dynamic call per sample.
            _ => {
                it.read_until(hi, samples);
            }
        }
    }
    if drop_stale && samples.iter().any(|s| is_stale_nan(s.v)) {
        if let Some(st) = starts
            && !st.is_empty()
        {
            let mut keep = samples.iter().map(|s| !is_stale_nan(s.v));
            st.retain(|_| keep.next().unwrap_or(true));
        }
        samples.retain(|s| !is_stale_nan(s.v));
    }
    match it.err() {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// The time range of samples a query needs: (min exclusive, max inclusive).
fn bounds(expr: &Expr, lo: i64, hi: i64, ctx: &BoundsCtx, acc: &mut (i64, i64)) {
    match expr {
        Expr::VectorSelector(vs) => {
            let (l, h) = ctx.shift(vs.at, vs.offset.as_ref(), lo, hi);
            let extra = if vs.extension.is_some() {
                ctx.lookback
            } else {
                0
            };
            acc.0 = acc.0.min(l - ctx.lookback);
            acc.1 = acc.1.max(h + extra);
        }
        Expr::MatrixSelector(ms) => {
            let (l, h) = ctx.shift(ms.selector.at, ms.selector.offset.as_ref(), lo, hi);
            let r = ctx.dur(&ms.range);
            // Anchored and smoothed ranges look one lookback beyond the window.
            let extra = if ms.selector.extension.is_some() {
                ctx.lookback
            } else {
                0
            };
            acc.0 = acc.0.min(l - r - extra);
            acc.1 = acc.1.max(h + extra);
        }
        Expr::Subquery(sq) => {
            let (l, h) = ctx.shift(sq.at, sq.offset.as_ref(), lo, hi);
            let r = ctx.dur(&sq.range);
            bounds(&sq.expr, l - r, h, ctx, acc);
        }
        _ => {
            for c in expr.children() {
                bounds(c, lo, hi, ctx, acc);
            }
        }
    }
}

struct BoundsCtx {
    start: i64,
    end: i64,
    step: i64,
    lookback: i64,
}

impl BoundsCtx {
    fn dur(&self, d: &Duration) -> i64 {
        match d {
            Duration::Millis(ms) => *ms,
            Duration::Expr(e) => e
                .eval_seconds(
                    Some(self.step as f64 / 1000.0),
                    Some((self.end - self.start) as f64 / 1000.0),
                )
                .filter(|s| s.is_finite())
                .map(|s| (s * 1000.0) as i64)
                .unwrap_or(0),
        }
    }

    fn shift(
        &self,
        at: Option<AtModifier>,
        offset: Option<&Duration>,
        lo: i64,
        hi: i64,
    ) -> (i64, i64) {
        let off = offset.map(|d| self.dur(d)).unwrap_or(0);
        let (l, h) = match at {
            Some(AtModifier::Timestamp(t)) => (t, t),
            Some(AtModifier::Start) => (self.start, self.start),
            Some(AtModifier::End) => (self.end, self.end),
            None => (lo, hi),
        };
        (l - off, h - off)
    }
}

pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

pub(crate) fn run(
    opts: &EngineOptions,
    storage: &dyn Queryable,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    mut stats: Option<&mut super::QueryStats>,
) -> Result<QueryResult> {
    let began = Instant::now();
    // Range queries have a positive step (checked by the caller); instant ones step 0.
    let instant = step == 0;
    let ty = expr.value_type();
    if !instant && !matches!(ty, ValueType::Scalar | ValueType::Vector) {
        return Err(EvalError::InvalidQuery(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            ty.documented()
        )));
    }
    let bctx = BoundsCtx {
        start,
        end,
        step,
        lookback: opts.lookback_delta,
    };
    let mut acc = (i64::MAX, i64::MIN);
    bounds(expr, start, end, &bctx, &mut acc);
    let (mint, maxt) = if acc.0 > acc.1 {
        (start, end)
    } else {
        (acc.0.saturating_add(1), acc.1)
    };
    let querier = storage.querier(mint, maxt)?;
    // Counting wraps the querier only when statistics are asked for.
    let counter = stats
        .is_some()
        .then(|| super::stats::SampleCounter::new(Grid::new(start, end, step)));
    let querier: Box<dyn Querier + '_> = match &counter {
        Some(counter) => Box::new(super::stats::CountingQuerier {
            inner: querier,
            counter,
        }),
        None => querier,
    };
    let mut ctx = Ctx {
        querier,
        opts,
        query_start: start,
        query_end: end,
        query_step: step,
        deadline: opts.timeout.map(|d| began + d),
        samples: 0,
        warnings: Vec::new(),
        infos: Vec::new(),
    };
    if !instant && (end - start) / step >= opts.max_samples as i64 {
        return Err(EvalError::TooManySamples("query preparation"));
    }
    let grid = Grid::new(start, end, step);
    let prepared = Instant::now();
    let evaluated;
    let value = if ty == ValueType::Matrix {
        // Only instant queries get here.
        let w = eval_windows(&mut ctx, expr, grid)?;
        evaluated = Instant::now();
        let mut out = Vec::new();
        for s in &w.series {
            let mut points = Vec::new();
            w.for_each(s, |_, win| {
                points.extend(win.iter().map(|x| Point { t: x.t, v: x.v }));
            });
            if !points.is_empty() {
                let labels = if s.drop_name {
                    drop_metric_name(&s.labels)
                } else {
                    s.labels.clone()
                };
                out.push(Series { labels, points });
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        check_unique(out.iter().map(|s| &s.labels))?;
        Value::Matrix(out)
    } else {
        let val = eval(&mut ctx, expr, grid)?;
        evaluated = Instant::now();
        match val {
            Val::Str(s) => Value::String(s, start),
            Val::Scalar(v) => {
                if instant {
                    Value::Scalar(v[0], start)
                } else {
                    Value::Matrix(vec![Series {
                        labels: Labels::new(),
                        points: v
                            .iter()
                            .enumerate()
                            .map(|(i, &v)| Point { t: grid.t(i), v })
                            .collect(),
                    }])
                }
            }
            Val::Vector(series) => {
                if instant {
                    let samples: Vec<Sample> = series
                        .iter()
                        .filter_map(|s| {
                            s.pts.first().map(|&(_, v)| Sample {
                                labels: effective_labels(s),
                                t: start,
                                v,
                            })
                        })
                        .collect();
                    check_unique(samples.iter().map(|s| &s.labels))?;
                    Value::Vector(samples)
                } else {
                    Value::Matrix(merge_range(series, grid)?)
                }
            }
        }
    };
    if let Some(stats) = stats.as_deref_mut() {
        stats.preparation_time = prepared - began;
        stats.inner_eval_time = evaluated - prepared;
        stats.result_sort_time = evaluated.elapsed();
        stats.peak_samples = ctx.samples as u64;
    }
    if let (Some(stats), Some(counter)) = (stats, &counter) {
        counter.finish(stats);
    }
    Ok(QueryResult {
        value,
        warnings: ctx.warnings,
        infos: ctx.infos,
    })
}

fn check_unique<'a>(labels: impl Iterator<Item = &'a Labels>) -> Result<()> {
    let mut seen: std::collections::HashSet<&Labels, FastHash> = Default::default();
    for l in labels {
        if !seen.insert(l) {
            return Err(EvalError::DuplicateLabelset);
        }
    }
    Ok(())
}

/// Fails when two series with the same full label set (`__name__` included) have a value at
/// the same step, as Prometheus checks the output of `label_replace` and `label_join`.
pub(crate) fn check_unique_per_step(series: &[Sv]) -> Result<()> {
    let mut by: HashMap<&Labels, Vec<usize>, FastHash> = HashMap::default();
    for (i, s) in series.iter().enumerate() {
        by.entry(&s.labels).or_default().push(i);
    }
    for group in by.values().filter(|g| g.len() > 1) {
        let mut steps: Vec<usize> = group
            .iter()
            .flat_map(|&i| series[i].pts.iter().map(|p| p.0))
            .collect();
        steps.sort_unstable();
        if steps.windows(2).any(|w| w[0] == w[1]) {
            return Err(EvalError::DuplicateLabelset);
        }
    }
    Ok(())
}

/// The series of a range query's result: by their final labels, sorted, the points of series
/// whose labels became equal merged (two values at one step are an error).
///
/// Series are usually unique already: they are sorted once (not at all when they come sorted)
/// and equal labels found as neighbours; labels are moved, not cloned.
fn merge_range(series: Vec<Sv>, grid: Grid) -> Result<Vec<Series>> {
    let mut all: Vec<(Labels, Vec<(usize, f64)>)> = series
        .into_iter()
        .filter(|s| !s.pts.is_empty())
        .map(|s| {
            let labels = if s.drop_name {
                drop_metric_name(&s.labels)
            } else {
                s.labels
            };
            (labels, s.pts)
        })
        .collect();
    if !all.is_sorted_by(|a, b| a.0 <= b.0) {
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    let mut merged: Vec<(Labels, Vec<(usize, f64)>)> = Vec::with_capacity(all.len());
    for (labels, pts) in all {
        match merged.last_mut() {
            Some(last) if last.0 == labels => {
                last.1.extend(pts);
                last.1.sort_by_key(|p| p.0);
                if last.1.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(EvalError::DuplicateLabelset);
                }
            }
            _ => merged.push((labels, pts)),
        }
    }
    Ok(merged
        .into_iter()
        .map(|(labels, pts)| Series {
            labels,
            points: pts
                .into_iter()
                .map(|(i, v)| Point { t: grid.t(i), v })
                .collect(),
        })
        .collect())
}

/// Evaluates an expression of scalar, string or instant-vector type over `grid`.
pub(crate) fn eval(ctx: &mut Ctx<'_>, expr: &Expr, grid: Grid) -> Result<Val> {
    ctx.check("expression evaluation")?;
    match expr {
        Expr::Number(n) => Ok(Val::Scalar(vec![n.value; grid.n])),
        Expr::String(s) => Ok(Val::Str(s.value.clone())),
        Expr::Paren(p) => eval(ctx, &p.expr, grid),
        Expr::Unary(u) => {
            let v = eval(ctx, &u.expr, grid)?;
            Ok(match (u.op, v) {
                (UnaryOp::Pos, v) => v,
                (UnaryOp::Neg, Val::Scalar(s)) => Val::Scalar(s.into_iter().map(|x| -x).collect()),
                (UnaryOp::Neg, Val::Vector(mut vs)) => {
                    for s in &mut vs {
                        s.drop_name = true;
                        for p in &mut s.pts {
                            p.1 = -p.1;
                        }
                    }
                    Val::Vector(vs)
                }
                (UnaryOp::Neg, v) => v,
            })
        }
        Expr::VectorSelector(vs) => Ok(Val::Vector(eval_selector(ctx, vs, grid, false)?)),
        Expr::MatrixSelector(_) | Expr::Subquery(_) => Err(EvalError::InvalidQuery(
            "range vector cannot be evaluated as an instant vector".into(),
        )),
        Expr::Binary(b) => super::binary::eval_binary(ctx, b, grid),
        Expr::Aggregate(a) => super::aggregate::eval_aggregate(ctx, a, grid),
        Expr::Call(c) => super::functions::eval_call(ctx, c, grid),
    }
}

pub(crate) fn eval_vector(ctx: &mut Ctx<'_>, expr: &Expr, grid: Grid) -> Result<Vec<Sv>> {
    match eval(ctx, expr, grid)? {
        Val::Vector(v) => Ok(v),
        _ => Err(EvalError::InvalidQuery("expected an instant vector".into())),
    }
}

pub(crate) fn eval_scalar(ctx: &mut Ctx<'_>, expr: &Expr, grid: Grid) -> Result<Vec<f64>> {
    match eval(ctx, expr, grid)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(EvalError::InvalidQuery("expected a scalar".into())),
    }
}

pub(crate) fn eval_string(ctx: &mut Ctx<'_>, expr: &Expr, grid: Grid) -> Result<String> {
    match eval(ctx, expr, grid)? {
        Val::Str(s) => Ok(s),
        _ => Err(EvalError::InvalidQuery("expected a string".into())),
    }
}

/// The time each grid step evaluates a selector at, after `@` and `offset`.
pub(crate) fn eval_times(
    ctx: &Ctx<'_>,
    at: Option<AtModifier>,
    offset: Option<&Duration>,
    grid: Grid,
) -> Result<Vec<i64>> {
    let off = match offset {
        Some(d) => ctx.duration(d)?,
        None => 0,
    };
    let at = ctx.at(at);
    Ok((0..grid.n).map(|i| at.unwrap_or(grid.t(i)) - off).collect())
}

/// An instant vector selector; with `timestamps`, values are the samples' timestamps in seconds.
pub(crate) fn eval_selector(
    ctx: &mut Ctx<'_>,
    vs: &VectorSelector,
    grid: Grid,
    timestamps: bool,
) -> Result<Vec<Sv>> {
    let times = eval_times(ctx, vs.at, vs.offset.as_ref(), grid)?;
    let lookback = ctx.opts.lookback_delta;
    let lo = times.iter().copied().min().unwrap_or(0) - lookback;
    let smoothed = vs.extension == Some(crate::ast::RangeExtension::Smoothed);
    let hi = times.iter().copied().max().unwrap_or(0) + if smoothed { lookback } else { 0 };
    let loaded = ctx.load(vs, lo, hi, 0, grid.step, false)?;
    let at = SelectorTimes::new(times, lookback, smoothed, timestamps);
    select_points(ctx, &at, loaded, false)
}

/// The points `at` picks from each loaded series, series without any left out, counted
/// against the samples limit.
pub(crate) fn select_points(
    ctx: &mut Ctx<'_>,
    at: &SelectorTimes,
    loaded: Vec<(Labels, Vec<prom_model::Sample>)>,
    drop_name: bool,
) -> Result<Vec<Sv>> {
    let mut out = Vec::with_capacity(loaded.len());
    let mut points = 0usize;
    for (labels, samples) in loaded {
        let mut pts = Vec::new();
        at.points(&samples, &mut pts);
        points += pts.len();
        if !pts.is_empty() {
            out.push(Sv {
                labels,
                drop_name,
                pts,
            });
        }
    }
    ctx.add_samples(points)?;
    Ok(out)
}

/// How an instant selector picks one sample per step from a series' samples.
#[derive(Debug)]
pub(crate) struct SelectorTimes {
    /// The evaluation time of each step, after `@` and `offset`.
    pub times: Vec<i64>,
    lookback: i64,
    smoothed: bool,
    timestamps: bool,
    /// Whether `times` never decrease.
    monotone: bool,
}

impl SelectorTimes {
    pub fn new(times: Vec<i64>, lookback: i64, smoothed: bool, timestamps: bool) -> Self {
        // Without `@`, or with an `@` that is the same at every step, evaluation times
        // increase: a series can only have points at the steps from its first sample to one
        // lookback past its last, and one cursor walks its samples forwards.
        let monotone = times.is_sorted();
        SelectorTimes {
            times,
            lookback,
            smoothed,
            timestamps,
            monotone,
        }
    }

    /// The points of one series (`samples` in time order), appended to `pts`.
    pub fn points(&self, samples: &[prom_model::Sample], pts: &mut Vec<(usize, f64)>) {
        let (times, lookback, smoothed, timestamps) =
            (&self.times, self.lookback, self.smoothed, self.timestamps);
        let monotone = self.monotone;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return;
        };
        let (from, to) = if monotone {
            (
                times.partition_point(|&t| t < first.t),
                times.partition_point(|&t| t < last.t.saturating_add(lookback)),
            )
        } else {
            (0, times.len())
        };
        if from >= to {
            return;
        }
        pts.reserve(to - from);
        let mut j = 0usize;
        for (i, &et) in times.iter().enumerate().take(to).skip(from) {
            if !monotone && j > 0 && samples[j - 1].t > et {
                j = samples.partition_point(|s| s.t <= et);
            }
            while j < samples.len() && samples[j].t <= et {
                j += 1;
            }
            if j == 0 {
                continue;
            }
            let s = samples[j - 1];
            if s.t > et - lookback && !is_stale_nan(s.v) {
                let mut v = if timestamps { s.t as f64 / 1000.0 } else { s.v };
                if smoothed
                    && !timestamps
                    && s.t < et
                    && let Some(&r) = samples.get(j)
                    && r.t <= et + lookback
                    && !is_stale_nan(r.v)
                {
                    v = super::functions::interpolate(s, r, et, false);
                }
                pts.push((i, v));
            }
        }
    }
}

/// Evaluates a range-vector expression (matrix selector or subquery) for `grid`.
pub(crate) fn eval_windows(ctx: &mut Ctx<'_>, expr: &Expr, grid: Grid) -> Result<Windows> {
    match unwrap_parens(expr) {
        Expr::MatrixSelector(ms) => {
            let vs = &ms.selector;
            let range = ctx.duration(&ms.range)?;
            let ends = eval_times(ctx, vs.at, vs.offset.as_ref(), grid)?;
            let lo = ends.iter().copied().min().unwrap_or(0) - range;
            let hi = ends.iter().copied().max().unwrap_or(0);
            let loaded = ctx.load_with_starts(vs, lo, hi, range, grid.step, true)?;
            let w = Windows::new(
                loaded
                    .into_iter()
                    .map(|(labels, samples, starts)| RangeSeries {
                        labels,
                        drop_name: false,
                        samples,
                        starts,
                    })
                    .collect(),
                range,
                ends,
                Some(vs.clone()),
            );
            // As in Prometheus, what counts is the samples of one step's windows, held
            // together. No step holds more than all the loaded samples: count per step only
            // when those could break the limit.
            let loaded: usize = w.series.iter().map(|s| s.samples.len()).sum();
            if ctx.samples + loaded > ctx.opts.max_samples
                && ctx.samples + w.peak_samples() > ctx.opts.max_samples
            {
                return Err(EvalError::TooManySamples("query execution"));
            }
            Ok(w)
        }
        Expr::Subquery(sq) => {
            let range = ctx.duration(&sq.range)?;
            let step = match &sq.step {
                Some(d) => ctx.duration(d)?,
                None => ctx.opts.default_subquery_step,
            };
            if step <= 0 {
                return Err(EvalError::InvalidQuery(
                    "zero or negative subquery step is not accepted".into(),
                ));
            }
            let ends = eval_times(ctx, sq.at, sq.offset.as_ref(), grid)?;
            let lo = ends.iter().copied().min().unwrap_or(0) - range;
            let hi = ends.iter().copied().max().unwrap_or(0);
            // Absolute alignment: the first multiple of the step after `lo`.
            let mut first = lo.div_euclid(step) * step;
            if first <= lo {
                first += step;
            }
            if (hi - first) / step >= ctx.opts.max_samples as i64 {
                return Err(EvalError::TooManySamples("subquery evaluation"));
            }
            let inner = Grid::new(first, hi, step);
            let series = if first > hi {
                Vec::new()
            } else {
                match eval(ctx, &sq.expr, inner)? {
                    Val::Vector(v) => v
                        .into_iter()
                        .map(|s| RangeSeries {
                            labels: s.labels,
                            drop_name: s.drop_name,
                            samples: s
                                .pts
                                .into_iter()
                                .map(|(i, v)| prom_model::Sample::new(inner.t(i), v))
                                .collect(),
                            starts: Vec::new(),
                        })
                        .collect(),
                    Val::Scalar(v) => vec![RangeSeries {
                        labels: Labels::new(),
                        drop_name: false,
                        samples: v
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| prom_model::Sample::new(inner.t(i), v))
                            .collect(),
                        starts: Vec::new(),
                    }],
                    Val::Str(_) => Vec::new(),
                }
            };
            Ok(Windows::new(series, range, ends, None))
        }
        _ => Err(EvalError::InvalidQuery("expected a range vector".into())),
    }
}

/// The equality matchers of a selector, as labels (for `absent`).
pub(crate) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &vs.matchers {
        *seen.entry(m.name()).or_default() += 1;
    }
    let pairs: Vec<(&str, &str)> = vs
        .matchers
        .iter()
        .filter(|m| m.kind() == MatchType::Equal && m.name() != METRIC_NAME && seen[m.name()] == 1)
        .map(|m| (m.name(), m.value()))
        .collect();
    Labels::from_pairs(&pairs)
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn out_keeps_one_series_per_labels_and_name_mark() {
        let a = Labels::from_pairs(&[("__name__", "m"), ("x", "1")]);
        let b = Labels::from_pairs(&[("__name__", "m"), ("x", "2")]);
        let mut out = Out::default();
        assert_eq!(out.index(&a, false), 0);
        assert_eq!(out.index(&a, true), 1);
        assert_eq!(out.index(&b, true), 2);
        assert_eq!(out.index(&a, false), 0);
        assert_eq!(out.index(&a, true), 1);
        out.push(&b, false, 3, 1.5);
        assert_eq!(out.series.len(), 4);
        assert_eq!(out.series[3].labels, b);
        assert!(!out.series[3].drop_name);
        assert_eq!(out.series[3].pts, [(3, 1.5)]);
        assert!(out.series[1].drop_name && out.series[1].labels == a);
    }

    #[test]
    fn fast_hash_spreads_low_bits() {
        // Round floats differ only in their high bits; bucket bits must still differ.
        let buckets: std::collections::HashSet<u64> = (0..64)
            .map(|i| FastHash.hash_one((0u32, f64::from(i).to_bits())) & 0xff)
            .collect();
        assert!(buckets.len() > 32, "{} buckets", buckets.len());
    }

    #[test]
    fn merge_range_merges_equal_labels_and_rejects_shared_steps() {
        let grid = Grid::new(0, 30, 10);
        let sv = |name: &str, drop_name: bool, pts: Vec<(usize, f64)>| Sv {
            labels: Labels::from_pairs(&[("__name__", name), ("x", "1")]),
            drop_name,
            pts,
        };
        let out = merge_range(
            vec![
                sv("b", true, vec![(2, 3.0)]),
                sv("a", false, vec![(0, 1.0)]),
                sv("c", true, vec![(0, 1.0), (3, 4.0)]),
                sv("d", false, vec![]),
            ],
            grid,
        )
        .unwrap();
        let got: Vec<(String, Vec<(i64, f64)>)> = out
            .into_iter()
            .map(|s| {
                let pts = s.points.iter().map(|p| (p.t, p.v)).collect();
                (s.labels.to_string(), pts)
            })
            .collect();
        assert_eq!(
            got,
            [
                (r#"a{x="1"}"#.to_owned(), vec![(0, 1.0)]),
                (
                    r#"{x="1"}"#.to_owned(),
                    vec![(0, 1.0), (20, 3.0), (30, 4.0)]
                ),
            ]
        );
        let dup = merge_range(
            vec![sv("b", true, vec![(1, 3.0)]), sv("c", true, vec![(1, 1.0)])],
            grid,
        );
        assert!(matches!(dup, Err(EvalError::DuplicateLabelset)));
    }
}
