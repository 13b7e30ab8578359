//! The folding aggregations (`sum`, `avg`, `count`, `group`, `min`, `max`, `stddev`,
//! `stdvar`) of a range function over a matrix selector (`sum by (job) (rate(x[5m]))`) or of
//! an instant selector, folded series by series as each series is read: no series' samples
//! or range-function output outlive the series, so the input is never held whole.
//!
//! A group's values at a step must meet in input order (label order) for the results to be
//! the same to the bit as [`fold`](super::aggregate) over the materialised input: a Kahan sum
//! or a running mean depends on the order of its terms, so partial sums of a group computed on
//! different threads cannot be merged exactly. The work is therefore split by group: a thread
//! takes whole groups and reads, evaluates and folds their series in input order. With fewer
//! groups than threads can share, the series are read and evaluated in parallel first (as the
//! unfused path does) and folded on the calling thread.
//!
//! The sample limit is kept as the unfused path keeps it: when the samples read could break it,
//! the fused result is dropped and the query evaluated the plain way, which reports exactly
//! what it always did.

use prom_model::Sample;

use super::aggregate::{
    AvgAcc, CHECK_EVERY, CountAcc, GroupAcc, Groups, Keyed, MaxAcc, MinAcc, StepAcc, SumAcc,
    VarAcc, sorted_by_key,
};
use super::error::{EvalError, Result};
use super::eval::{Ctx, Grid, SelectorTimes, Sv, Windows, eval_times, read_series, unwrap_parens};
use super::functions::not_a_counter;
use super::par;
use super::window::{Args, RangeFn, Scratch, eval_series_into};
use crate::ast::{AggregateExpr, AggregateOp, Call, Expr, ValueType, VectorSelector};

/// The aggregation `a` folded while its input is read, or `None` when it is not of a form this
/// handles (or the sample limit needs the plain path's accounting).
pub(crate) fn fold_while_reading(
    ctx: &mut Ctx<'_>,
    a: &AggregateExpr,
    grid: Grid,
) -> Result<Option<Vec<Sv>>> {
    match a.op {
        AggregateOp::Sum => run::<SumAcc>(ctx, a, grid),
        AggregateOp::Avg => run::<AvgAcc>(ctx, a, grid),
        AggregateOp::Count => run::<CountAcc>(ctx, a, grid),
        AggregateOp::Group => run::<GroupAcc>(ctx, a, grid),
        AggregateOp::Min => run::<MinAcc>(ctx, a, grid),
        AggregateOp::Max => run::<MaxAcc>(ctx, a, grid),
        AggregateOp::Stdvar => run::<VarAcc<false>>(ctx, a, grid),
        AggregateOp::Stddev => run::<VarAcc<true>>(ctx, a, grid),
        _ => Ok(None),
    }
}

/// Where each series' points come from.
enum Source {
    /// A range function of one matrix selector argument (no `anchored`/`smoothed`).
    Range {
        f: RangeFn,
        w: Windows,
        /// Whether the function keeps the metric name (`last_over_time`, `first_over_time`).
        keeps_name: bool,
        /// `rate`, `increase`, `irate`: names not ending like a counter get an info.
        counter_info: Option<crate::ast::Span>,
    },
    /// An instant selector.
    Instant(SelectorTimes),
}

impl Source {
    fn points(
        &self,
        samples: &[Sample],
        grid: Grid,
        scratch: &mut Scratch,
        pts: &mut Vec<(usize, f64)>,
    ) {
        pts.clear();
        match self {
            Source::Range { f, w, .. } => {
                let args = Args { scalars: &[], grid };
                eval_series_into(*f, w, samples, &args, scratch, pts);
            }
            Source::Instant(at) => at.points(samples, pts),
        }
    }

    /// Roughly the work of `series` series read over `(lo, hi]`: one sample per 15 s of the
    /// range each, each in about range / step windows for the functions that walk them, plus
    /// a value per step.
    fn work(&self, series: usize, lo: i64, hi: i64, grid: Grid) -> usize {
        let per_series = ((hi - lo) / 15_000).clamp(1, 1 << 20) as usize;
        let per_step = match self {
            Source::Range { f, w, .. } if f.walks_windows() => {
                (w.range / grid.step.max(1)).clamp(1, grid.n as i64) as usize
            }
            _ => 1,
        };
        series.saturating_mul(per_series.saturating_mul(per_step).saturating_add(grid.n))
    }

    fn drop_stale(&self) -> bool {
        matches!(self, Source::Range { .. })
    }

    /// Whether the output series of a source series have their name dropped at the end.
    fn drop_name(&self) -> bool {
        match self {
            Source::Range { keeps_name, .. } => !keeps_name,
            Source::Instant(_) => false,
        }
    }
}

/// A source with its selector, the samples it reads (`(lo, hi]`) and its range (0 for an
/// instant selector).
type Selected<'e> = (Source, &'e VectorSelector, i64, i64, i64);

/// The source of `expr`, if it is one that [`run`] handles.
fn source<'e>(ctx: &Ctx<'_>, expr: &'e Expr, grid: Grid) -> Result<Option<Selected<'e>>> {
    match unwrap_parens(expr) {
        Expr::VectorSelector(vs) => {
            let times = eval_times(ctx, vs.at, vs.offset.as_ref(), grid)?;
            let lookback = ctx.opts.lookback_delta;
            let lo = times.iter().copied().min().unwrap_or(0) - lookback;
            let smoothed = vs.extension == Some(crate::ast::RangeExtension::Smoothed);
            let hi = times.iter().copied().max().unwrap_or(0) + if smoothed { lookback } else { 0 };
            let at = SelectorTimes::new(times, lookback, smoothed, false);
            Ok(Some((Source::Instant(at), vs, lo, hi, 0)))
        }
        Expr::Call(c) => call_source(ctx, c, grid),
        _ => Ok(None),
    }
}

/// The source of a call, if it is a range function of one matrix selector.
fn call_source<'e>(ctx: &Ctx<'_>, c: &'e Call, grid: Grid) -> Result<Option<Selected<'e>>> {
    let name = c.func.name;
    let Some(f) = RangeFn::from_name(name) else {
        return Ok(None);
    };
    if c.args.len() != 1 || c.func.arg_types != [ValueType::Matrix] {
        return Ok(None);
    }
    let Expr::MatrixSelector(ms) = unwrap_parens(&c.args[0]) else {
        return Ok(None);
    };
    if ms.selector.extension.is_some() {
        return Ok(None);
    }
    // As `eval` checks before evaluating the call.
    ctx.check("expression evaluation")?;
    let vs = &ms.selector;
    let range = ctx.duration(&ms.range)?;
    let ends = eval_times(ctx, vs.at, vs.offset.as_ref(), grid)?;
    let lo = ends.iter().copied().min().unwrap_or(0) - range;
    let hi = ends.iter().copied().max().unwrap_or(0);
    let w = Windows::new(Vec::new(), range, ends, None);
    let src = Source::Range {
        f,
        w,
        keeps_name: matches!(name, "last_over_time" | "first_over_time"),
        counter_info: matches!(name, "rate" | "increase" | "irate").then(|| c.args[0].span()),
    };
    Ok(Some((src, vs, lo, hi, range)))
}

/// A range function of one matrix selector (`rate(x[5m])`) evaluated series by series as
/// each series is read, on several threads: a thread reads a series into its own buffer and
/// turns it into the series' points before it reads the next, so the selection's samples are
/// never held whole (for `rate` over 2,000 series × 2h at 15 s, 15 MB that were allocated,
/// faulted in and freed per query) and a thread's buffer stays in its cache.
///
/// The points, their order, warnings, infos and the output sample count are those of the plain
/// path. `None` when `c` is not of this form (more arguments, a subquery, `anchored` or
/// `smoothed`), when the series have start timestamps the function uses, or when the samples
/// read could break the sample limit: the plain path then runs and reports exactly what it
/// always did.
pub(crate) fn range_while_reading(
    ctx: &mut Ctx<'_>,
    c: &Call,
    grid: Grid,
) -> Result<Option<Vec<Sv>>> {
    let Some((src, vs, lo, hi, range)) = call_source(ctx, c, grid)? else {
        return Ok(None);
    };
    let Source::Range {
        f,
        keeps_name,
        counter_info,
        ..
    } = &src
    else {
        return Ok(None);
    };
    let (listed, warnings) = ctx.list(vs, lo, hi, range, grid.step)?;
    if f.uses_start_timestamps()
        && listed
            .iter()
            .any(|(_, it)| it.lock().is_ok_and(|it| it.has_start_timestamps()))
    {
        return Ok(None);
    }
    let threads = par::threads_for(
        ctx.opts.parallelism,
        listed.len(),
        src.work(listed.len(), lo, hi, grid),
    );
    let read: Vec<std::result::Result<Points, String>> = par::map(
        &listed,
        threads,
        &ctx.stop(),
        "range function",
        || (Vec::new(), Scratch::default()),
        |(samples, scratch), (_, it)| {
            read_series(it, lo, hi, true, samples, None)?;
            // At most one point per step; most series have one at nearly every step.
            let mut pts = Vec::with_capacity(if samples.is_empty() { 0 } else { grid.n });
            src.points(samples, grid, scratch, &mut pts);
            Ok((pts, samples.len()))
        },
    )?;
    let mut loaded = 0usize;
    let mut series = Vec::with_capacity(read.len());
    for r in read {
        let (pts, n) = r.map_err(EvalError::InvalidQuery)?;
        loaded = loaded.saturating_add(n);
        series.push(pts);
    }
    if ctx.samples.saturating_add(loaded) > ctx.opts.max_samples {
        // The plain path tells whether one step's windows break the limit.
        return Ok(None);
    }
    let labels: Vec<prom_model::Labels> = listed.into_iter().map(|(l, _)| l).collect();
    ctx.add_warnings(warnings);
    if let Some(span) = counter_info {
        for msg in labels
            .iter()
            .filter_map(|l| l.metric_name().and_then(not_a_counter))
        {
            ctx.info(msg, *span);
        }
    }
    let mut out = Vec::with_capacity(series.len());
    for (labels, pts) in labels.into_iter().zip(series) {
        ctx.add_samples(pts.len())?;
        if !pts.is_empty() {
            out.push(Sv {
                labels,
                drop_name: !keeps_name,
                pts,
            });
        }
    }
    Ok(Some(out))
}

/// One thread's buffers.
struct Work<A> {
    samples: Vec<Sample>,
    pts: Vec<(usize, f64)>,
    scratch: Scratch,
    acc: Acc<A>,
}

/// The accumulators of one group over the grid.
struct Acc<A> {
    acc: Vec<A>,
    seen: Vec<bool>,
    touched: Vec<usize>,
}

impl<A: StepAcc> Acc<A> {
    fn new(n: usize) -> Self {
        Acc {
            acc: vec![A::default(); n],
            seen: vec![false; n],
            touched: Vec::new(),
        }
    }

    /// Folds in the next series' points.
    #[inline]
    fn add(&mut self, pts: &[(usize, f64)]) {
        for &(i, v) in pts {
            if self.seen[i] {
                self.acc[i].add(v, false);
            } else {
                self.seen[i] = true;
                self.touched.push(i);
                let mut a = A::default();
                a.add(v, true);
                self.acc[i] = a;
            }
        }
    }

    /// The group's points, in step order; resets for the next group.
    fn finish(&mut self) -> Vec<(usize, f64)> {
        self.touched.sort_unstable();
        let pts = self
            .touched
            .iter()
            .map(|&i| {
                self.seen[i] = false;
                (i, self.acc[i].value())
            })
            .collect();
        self.touched.clear();
        pts
    }
}

/// What folding one group gave.
struct Folded {
    /// (first step with a value, first input series with a value there); `usize::MAX` steps
    /// when the group has no value.
    first: (usize, u32),
    pts: Vec<(usize, f64)>,
    /// Points of the input series, and samples read.
    points: usize,
    loaded: usize,
}

/// One series' points and how many samples it read.
type Points = (Vec<(usize, f64)>, usize);

/// A failure while folding: the input series it happened at (the plain path reports the
/// first in input order) and the error.
type Failed = (u32, EvalError);

fn run<A: StepAcc>(ctx: &mut Ctx<'_>, a: &AggregateExpr, grid: Grid) -> Result<Option<Vec<Sv>>> {
    let Some((src, vs, lo, hi, range)) = source(ctx, &a.expr, grid)? else {
        return Ok(None);
    };
    let n = grid.n;
    let (listed, warnings) = ctx.list(vs, lo, hi, range, grid.step)?;
    if let Source::Range { f, .. } = &src
        && f.uses_start_timestamps()
        && listed
            .iter()
            .any(|(_, it)| it.lock().is_ok_and(|it| it.has_start_timestamps()))
    {
        // Rare (only storages that keep start timestamps): the plain path reads and
        // evaluates them, and reports their warnings.
        return Ok(None);
    }
    let drop_name = src.drop_name();
    let groups = Groups::new(listed.iter().map(|l| (&l.0, drop_name)), a);
    let threads = par::threads_for(
        ctx.opts.parallelism,
        listed.len(),
        src.work(listed.len(), lo, hi, grid),
    );
    let stop = ctx.stop();
    let new_work = || Work {
        samples: Vec::new(),
        pts: Vec::new(),
        scratch: Scratch::default(),
        acc: Acc::<A>::new(n),
    };
    let (lo_read, hi_read, drop_stale) = (lo, hi, src.drop_stale());
    let folded: Vec<std::result::Result<Folded, Failed>> =
        if threads > 1 && groups.len() < 2 * threads {
            // Few groups: read and evaluate the series in parallel, fold on this thread.
            let read: Vec<std::result::Result<Points, String>> = par::map(
                &listed,
                threads,
                &stop,
                "range function",
                new_work,
                |w, (_, it)| {
                    read_series(it, lo_read, hi_read, drop_stale, &mut w.samples, None)?;
                    src.points(&w.samples, grid, &mut w.scratch, &mut w.pts);
                    Ok((w.pts.clone(), w.samples.len()))
                },
            )?;
            let mut acc = Acc::<A>::new(n);
            let mut out = Vec::with_capacity(groups.len());
            for g in 0..groups.len() {
                ctx.check("aggregation")?;
                let mut state = FoldState::default();
                for &j in groups.members(g) {
                    match &read[j as usize] {
                        Ok((pts, loaded)) => state.add(j, pts, *loaded, &mut acc),
                        Err(e) => {
                            state.fail(j, EvalError::InvalidQuery(e.clone()));
                            break;
                        }
                    }
                }
                out.push(state.finish(&mut acc));
            }
            out
        } else {
            let ids: Vec<u32> = (0..groups.len() as u32).collect();
            par::map(&ids, threads, &stop, "aggregation", new_work, |w, &g| {
                let Work {
                    samples,
                    pts,
                    scratch,
                    acc,
                } = w;
                let mut state = FoldState::default();
                for (k, &j) in groups.members(g as usize).iter().enumerate() {
                    if k % CHECK_EVERY == CHECK_EVERY - 1
                        && let Err(e) = stop.check("aggregation")
                    {
                        state.fail(j, e);
                        break;
                    }
                    if let Err(e) = read_series(
                        &listed[j as usize].1,
                        lo_read,
                        hi_read,
                        drop_stale,
                        samples,
                        None,
                    ) {
                        state.fail(j, EvalError::InvalidQuery(e));
                        break;
                    }
                    src.points(samples, grid, scratch, pts);
                    state.add(j, pts, samples.len(), acc);
                }
                state.finish(acc)
            })?
        };
    // The first failure in input order, as the plain path would meet it.
    let mut first_failure: Option<Failed> = None;
    let mut ok = Vec::with_capacity(folded.len());
    for f in folded {
        match f {
            Ok(f) => ok.push(f),
            Err(e) => {
                if first_failure.as_ref().is_none_or(|x| e.0 < x.0) {
                    first_failure = Some(e);
                }
            }
        }
    }
    if let Some((_, e)) = first_failure {
        return Err(e);
    }
    let folded = ok;
    let points: usize = folded.iter().map(|f| f.points).sum();
    let loaded: usize = folded.iter().map(|f| f.loaded).sum();
    if let Source::Range { .. } = src
        && ctx.samples.saturating_add(loaded) > ctx.opts.max_samples
    {
        // The plain path tells whether one step's windows break the limit.
        return Ok(None);
    }
    let infos: Vec<String> = match &src {
        Source::Range {
            counter_info: Some(_),
            ..
        } => listed
            .iter()
            .filter_map(|(l, _)| l.metric_name().and_then(not_a_counter))
            .collect(),
        _ => Vec::new(),
    };
    drop(listed);
    ctx.add_warnings(warnings);
    if let Source::Range {
        counter_info: Some(span),
        ..
    } = src
    {
        for msg in infos {
            ctx.info(msg, span);
        }
    }
    ctx.add_samples(points)?;
    let mut out: Keyed<(usize, u32)> = Vec::with_capacity(groups.len());
    for (g, f) in folded.into_iter().enumerate() {
        if f.first.0 != usize::MAX {
            out.push((
                f.first,
                Sv {
                    labels: groups.labels[g].clone(),
                    drop_name: groups.drop[g],
                    pts: f.pts,
                },
            ));
        }
    }
    Ok(Some(sorted_by_key(out)))
}

/// The fold of one group so far.
struct FoldState {
    first: (usize, u32),
    points: usize,
    loaded: usize,
    failed: Option<Failed>,
}

impl Default for FoldState {
    fn default() -> Self {
        FoldState {
            first: (usize::MAX, u32::MAX),
            points: 0,
            loaded: 0,
            failed: None,
        }
    }
}

impl FoldState {
    /// Folds in input series `j` (the group's members come in input order): its points and
    /// how many samples it read.
    #[inline]
    fn add<A: StepAcc>(&mut self, j: u32, pts: &[(usize, f64)], loaded: usize, acc: &mut Acc<A>) {
        self.loaded += loaded;
        self.points += pts.len();
        if let Some(&(i0, _)) = pts.first()
            && (i0, j) < self.first
        {
            self.first = (i0, j);
        }
        acc.add(pts);
    }

    fn fail(&mut self, j: u32, e: EvalError) {
        self.failed = Some((j, e));
    }

    /// The group's result; the accumulators are left clean for the next group.
    fn finish<A: StepAcc>(self, acc: &mut Acc<A>) -> std::result::Result<Folded, Failed> {
        let pts = acc.finish();
        match self.failed {
            Some(f) => Err(f),
            None => Ok(Folded {
                first: self.first,
                pts,
                points: self.points,
                loaded: self.loaded,
            }),
        }
    }
}
