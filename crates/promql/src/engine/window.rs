//! Range functions (`rate`, `*_over_time`, …) over one series' sliding windows.
//!
//! Windows slide over a series' samples with two pointers ([`Windows::bounds`]), and each
//! function is computed from the window's indices where that is exact: the first and last
//! sample, the count, and the number of counter resets or value changes (kept as a running
//! count while the pointers move, or from prefix counts when the window ends are unordered).
//! `rate`, `increase` and `delta` only walk a window that holds a counter reset, doing the
//! same additions in the same order as the direct definition. `min`/`max_over_time` keep a
//! monotonic queue of candidates. Sums, means and variances walk each window in sample order,
//! as Prometheus defines their rounding, four windows at a time so that their dependency
//! chains overlap; regressions and quantiles walk one window at a time.

use std::collections::VecDeque;

use prom_model::Sample;

use super::aggregate::Kahan;
use super::eval::{Grid, Windows};
use super::functions::quantile;

/// A range function whose value at a step depends only on that step's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    Avg,
    Sum,
    Count,
    Present,
    Last,
    First,
    TsOfLast,
    TsOfFirst,
    Min,
    Max,
    TsOfMin,
    TsOfMax,
    Stddev,
    Stdvar,
    Quantile,
    Mad,
    DoubleExponentialSmoothing,
}

impl RangeFn {
    /// The function called `name`, if it is one of these.
    pub fn from_name(name: &str) -> Option<RangeFn> {
        use RangeFn::*;
        Some(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "resets" => Resets,
            "changes" => Changes,
            "avg_over_time" => Avg,
            "sum_over_time" => Sum,
            "count_over_time" => Count,
            "present_over_time" => Present,
            "last_over_time" => Last,
            "first_over_time" => First,
            "ts_of_last_over_time" => TsOfLast,
            "ts_of_first_over_time" => TsOfFirst,
            "min_over_time" => Min,
            "max_over_time" => Max,
            "ts_of_min_over_time" => TsOfMin,
            "ts_of_max_over_time" => TsOfMax,
            "stddev_over_time" => Stddev,
            "stdvar_over_time" => Stdvar,
            "quantile_over_time" => Quantile,
            "mad_over_time" => Mad,
            "double_exponential_smoothing" => DoubleExponentialSmoothing,
            _ => return None,
        })
    }

    /// Whether a sample's start timestamp changes its value: a start after the previous
    /// sample is a counter reset, and `rate`/`increase` may start from it instead of
    /// extrapolating (see [`super::start`]).
    pub fn uses_start_timestamps(self) -> bool {
        matches!(
            self,
            RangeFn::Rate | RangeFn::Increase | RangeFn::Irate | RangeFn::Resets
        )
    }

    /// Whether evaluating it walks every window's samples (the others cost O(1) per step).
    pub fn walks_windows(self) -> bool {
        use RangeFn::*;
        matches!(
            self,
            Deriv
                | PredictLinear
                | Avg
                | Sum
                | Stddev
                | Stdvar
                | Quantile
                | Mad
                | DoubleExponentialSmoothing
        )
    }
}

/// Buffers one thread reuses from series to series.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    prefix: Vec<u32>,
    queue: VecDeque<usize>,
    vals: Vec<f64>,
    dev: Vec<f64>,
}

/// The arguments of a range function besides its range vector.
pub(crate) struct Args<'a> {
    /// The scalar arguments in call order (quantile; factor; smoothing and trend factors).
    pub scalars: &'a [Vec<f64>],
    /// The query grid (`predict_linear` predicts from the step's time).
    pub grid: Grid,
}

/// `f` over each window of `samples`: `(step, value)` for the steps that have a value.
pub(crate) fn eval_series(
    f: RangeFn,
    w: &Windows,
    samples: &[Sample],
    args: &Args<'_>,
    scratch: &mut Scratch,
) -> Vec<(usize, f64)> {
    // At most one point per step; most series have one at nearly every step.
    let mut pts = Vec::with_capacity(if samples.is_empty() { 0 } else { w.ends.len() });
    eval_series_into(f, w, samples, args, scratch, &mut pts);
    pts
}

/// [`eval_series`] appending to `pts`, so that a caller can reuse one buffer.
pub(crate) fn eval_series_into(
    f: RangeFn,
    w: &Windows,
    samples: &[Sample],
    args: &Args<'_>,
    scratch: &mut Scratch,
    pts: &mut Vec<(usize, f64)>,
) {
    use RangeFn::*;
    let range = w.range;
    match f {
        Rate | Increase | Delta if w.monotone() => {
            sliding_rate(w, samples, f != Delta, f == Rate, pts);
        }
        Rate | Increase | Delta => {
            let counter = f != Delta;
            let prefix = &mut scratch.prefix;
            if counter {
                prefix_counts(samples, prefix, |a, b| b < a);
            }
            w.bounds(samples, |i, lo, hi| {
                if hi - lo < 2 {
                    return;
                }
                let (first, last) = (samples[lo], samples[hi - 1]);
                let mut result = last.v - first.v;
                if counter && prefix[hi - 1] != prefix[lo] {
                    result = add_resets(result, &samples[lo..hi]);
                }
                let end = w.ends[i];
                pts.push((
                    i,
                    extrapolate(
                        first,
                        last,
                        hi - lo,
                        result,
                        end - range,
                        end,
                        counter,
                        f == Rate,
                    ),
                ));
            });
        }
        Resets | Changes => {
            let prefix = &mut scratch.prefix;
            if f == Resets {
                prefix_counts(samples, prefix, |a, b| b < a);
            } else {
                prefix_counts(samples, prefix, changed);
            }
            w.bounds(samples, |i, lo, hi| {
                if hi > lo {
                    pts.push((i, (prefix[hi - 1] - prefix[lo]) as f64));
                }
            });
        }
        Count | Present | Last | First | TsOfLast | TsOfFirst | Irate | Idelta => {
            w.bounds(samples, |i, lo, hi| {
                if hi == lo {
                    return;
                }
                let v = match f {
                    Count => (hi - lo) as f64,
                    Present => 1.0,
                    Last => samples[hi - 1].v,
                    First => samples[lo].v,
                    TsOfLast => samples[hi - 1].t as f64 / 1000.0,
                    TsOfFirst => samples[lo].t as f64 / 1000.0,
                    _ => match instant_delta(&samples[lo..hi], f == Irate) {
                        Some(v) => v,
                        None => return,
                    },
                };
                pts.push((i, v));
            });
        }
        Min | Max | TsOfMin | TsOfMax => {
            let max = matches!(f, Max | TsOfMax);
            let ts = matches!(f, TsOfMin | TsOfMax);
            if w.monotone() {
                sliding_extreme(w, samples, max, ts, &mut scratch.queue, pts);
            } else {
                w.bounds(samples, |i, lo, hi| {
                    if hi > lo {
                        pts.push((i, extreme(&samples[lo..hi], max, ts)));
                    }
                });
            }
        }
        Avg | Sum | Stddev | Stdvar => {
            // Lanes of up to LANES windows evaluated together: each window's additions stay
            // in sample order, but the lanes' dependency chains overlap in the CPU.
            let mut lanes = [(0usize, 0usize, 0usize); LANES];
            let mut n = 0;
            let mut flush = |lanes: &[(usize, usize, usize); LANES], n: usize| {
                let vals = match f {
                    Avg | Sum => kahan_lanes(samples, lanes).map(|(sum, c)| kahan_value(sum, c)),
                    _ => welford_lanes(samples, lanes),
                };
                for (&(i, lo, hi), v) in lanes[..n].iter().zip(vals) {
                    let v = match f {
                        Sum => v,
                        // A sum that overflowed: the mean computed the slow way.
                        Avg if v.is_infinite() => mean(&samples[lo..hi]),
                        Avg => v / (hi - lo) as f64,
                        Stddev => v.sqrt(),
                        _ => v,
                    };
                    pts.push((i, v));
                }
            };
            w.bounds(samples, |i, lo, hi| {
                if hi > lo {
                    lanes[n] = (i, lo, hi);
                    n += 1;
                    if n == LANES {
                        flush(&lanes, n);
                        n = 0;
                    }
                }
            });
            if n > 0 {
                lanes[n..].fill((0, 0, 0));
                flush(&lanes, n);
            }
        }
        _ => {
            w.bounds(samples, |i, lo, hi| {
                if hi == lo {
                    return;
                }
                let win = &samples[lo..hi];
                let v = match f {
                    Deriv if win.len() >= 2 => linear_regression(win, win[0].t).0,
                    PredictLinear if win.len() >= 2 => {
                        let (slope, intercept) = linear_regression(win, args.grid.t(i));
                        slope * args.scalars[0][i] + intercept
                    }
                    Quantile => {
                        scratch.vals.clear();
                        scratch.vals.extend(win.iter().map(|s| s.v));
                        quantile(args.scalars[0][i], &mut scratch.vals)
                    }
                    Mad => mad(win, &mut scratch.vals, &mut scratch.dev),
                    DoubleExponentialSmoothing => {
                        match holt_winters(win, args.scalars[0][i], args.scalars[1][i]) {
                            Some(v) => v,
                            None => return,
                        }
                    }
                    _ => return,
                };
                pts.push((i, v));
            });
        }
    }
}

/// How many windows [`kahan_lanes`] and [`welford_lanes`] sum together.
const LANES: usize = 4;

/// One step of the compensated sum exactly as [`Kahan::add`] does it, without branches.
#[inline(always)]
fn kahan_step(sum: f64, c: f64, v: f64) -> (f64, f64) {
    let t = sum + v;
    let (big, small) = if sum.abs() >= v.abs() {
        (sum, v)
    } else {
        (v, sum)
    };
    let c = if t.is_infinite() {
        0.0
    } else {
        c + ((big - t) + small)
    };
    (t, c)
}

/// The value of a compensated sum, as [`Kahan::value`].
fn kahan_value(sum: f64, c: f64) -> f64 {
    if sum.is_infinite() { sum } else { sum + c }
}

/// The compensated sums `(sum, c)` of the windows `samples[lo..hi]` of `lanes`
/// (`(step, lo, hi)`), each added in sample order from zero.
fn kahan_lanes(samples: &[Sample], lanes: &[(usize, usize, usize); LANES]) -> [(f64, f64); LANES] {
    let mut acc = [(0.0f64, 0.0f64); LANES];
    let longest = lanes.iter().map(|l| l.2 - l.1).max().unwrap_or(0);
    for j in 0..longest {
        for (a, &(_, lo, hi)) in acc.iter_mut().zip(lanes) {
            if lo + j < hi {
                *a = kahan_step(a.0, a.1, samples[lo + j].v);
            }
        }
    }
    acc
}

/// The population variances of the windows of `lanes`, each as [`variance`] computes it.
fn welford_lanes(samples: &[Sample], lanes: &[(usize, usize, usize); LANES]) -> [f64; LANES] {
    let mut acc = [(0.0f64, 0.0f64, 0.0f64); LANES];
    let longest = lanes.iter().map(|l| l.2 - l.1).max().unwrap_or(0);
    for j in 0..longest {
        for (a, &(_, lo, hi)) in acc.iter_mut().zip(lanes) {
            if lo + j < hi {
                let x = samples[lo + j].v;
                let (n, m, m2) = *a;
                let n = n + 1.0;
                let d = x - m;
                let m = m + d / n;
                *a = (n, m, m2 + d * (x - m));
            }
        }
    }
    acc.map(|(n, _, m2)| m2 / n)
}

/// Whether a value changed between two samples, as `changes` counts (NaN to NaN is no change).
fn changed(a: f64, b: f64) -> bool {
    b != a && !(b.is_nan() && a.is_nan())
}

/// `prefix[k]`: how many `j` in `1..=k` have `counts(samples[j - 1].v, samples[j].v)`; the
/// window `lo..hi` then has `prefix[hi - 1] - prefix[lo]` of them between its samples.
fn prefix_counts(samples: &[Sample], prefix: &mut Vec<u32>, counts: impl Fn(f64, f64) -> bool) {
    prefix.clear();
    prefix.reserve(samples.len());
    let mut n = 0u32;
    prefix.push(0);
    for p in samples.windows(2) {
        n += u32::from(counts(p[0].v, p[1].v));
        prefix.push(n);
    }
}

/// `rate`/`increase` (`counter`) or `delta` over non-decreasing windows, with the counter
/// resets inside the window kept as a running count while the two pointers slide, so that
/// only windows holding one walk their samples.
fn sliding_rate(
    w: &Windows,
    samples: &[Sample],
    counter: bool,
    rate: bool,
    pts: &mut Vec<(usize, f64)>,
) {
    let is_reset = |j: usize| counter && samples[j].v < samples[j - 1].v;
    let mut ex = Extrapolator::new(w.range, counter, rate);
    let (mut lo, mut hi) = (0usize, 0usize);
    // Resets between consecutive samples of the window: pairs (j - 1, j) with lo < j < hi.
    let mut inside = 0u32;
    for (i, &end) in w.ends.iter().enumerate() {
        let start = end - w.range;
        while hi < samples.len() && samples[hi].t <= end {
            if hi > lo && is_reset(hi) {
                inside += 1;
            }
            hi += 1;
        }
        while lo < hi && samples[lo].t <= start {
            lo += 1;
            if lo < hi && is_reset(lo) {
                inside -= 1;
            }
        }
        if hi - lo < 2 {
            continue;
        }
        let (first, last) = (samples[lo], samples[hi - 1]);
        let mut result = last.v - first.v;
        if inside > 0 {
            result = add_resets(result, &samples[lo..hi]);
        }
        pts.push((
            i,
            ex.apply(first, last, hi - lo, result, end - w.range, end),
        ));
    }
}

/// [`extrapolate`] over the windows of one series, remembering the quotients of the previous
/// window: with samples at a steady interval, consecutive windows have the same span, count
/// and distances to their edges, so the divisions (the bulk of the cost) are done once, not
/// at every step. The same operations on the same operands: the same results to the bit.
#[derive(Debug)]
struct Extrapolator {
    counter: bool,
    rate: bool,
    /// The range in seconds, as [`extrapolate`] divides by it.
    range_secs: f64,
    /// (last.t - first.t, n) and its (sampled, avg).
    span: (i64, usize),
    sampled: f64,
    avg: f64,
    /// first.t - start and its value in seconds.
    head: i64,
    head_secs: f64,
    /// end - last.t and its value in seconds.
    tail: i64,
    tail_secs: f64,
    /// The bits of (sampled, to_start, to_end) and the factor they give.
    factor_of: (u64, u64, u64),
    factor: f64,
}

impl Extrapolator {
    fn new(range: i64, counter: bool, rate: bool) -> Self {
        Extrapolator {
            counter,
            rate,
            range_secs: range as f64 / 1000.0,
            span: (i64::MIN, 0),
            sampled: 0.0,
            avg: 0.0,
            head: i64::MIN,
            head_secs: 0.0,
            tail: i64::MIN,
            tail_secs: 0.0,
            factor_of: (u64::MAX, u64::MAX, u64::MAX),
            factor: 0.0,
        }
    }

    /// [`extrapolate`]`(first, last, n, result, start, end, counter, rate)` for `end - start`
    /// equal to the range.
    #[inline]
    fn apply(
        &mut self,
        first: Sample,
        last: Sample,
        n: usize,
        result: f64,
        start: i64,
        end: i64,
    ) -> f64 {
        let span = (last.t - first.t, n);
        if span != self.span {
            self.span = span;
            self.sampled = span.0 as f64 / 1000.0;
            self.avg = self.sampled / (n - 1) as f64;
        }
        let (sampled, avg) = (self.sampled, self.avg);
        let threshold = avg * 1.1;
        if first.t - start != self.head {
            self.head = first.t - start;
            self.head_secs = self.head as f64 / 1000.0;
        }
        if end - last.t != self.tail {
            self.tail = end - last.t;
            self.tail_secs = self.tail as f64 / 1000.0;
        }
        let (mut to_start, mut to_end) = (self.head_secs, self.tail_secs);
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if self.counter
            && result > 0.0
            && first.v >= 0.0
            && !zero_far_before(first.v, result, sampled, to_start)
        {
            let to_zero = sampled * (first.v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        if to_end >= threshold {
            to_end = avg / 2.0;
        }
        let key = (sampled.to_bits(), to_start.to_bits(), to_end.to_bits());
        if key != self.factor_of {
            self.factor_of = key;
            let mut factor = (sampled + to_start + to_end) / sampled;
            if self.rate {
                factor /= self.range_secs;
            }
            self.factor = factor;
        }
        result * self.factor
    }
}

/// Whether `sampled * (v / result)`, the time a counter would take to fall from `v` to zero
/// at the window's pace, is surely at least `to_start` (all operands positive): decided with
/// products instead of a division, and only when the products are at least twice apart, far
/// beyond their rounding (operands below 1e-250 are left to the division, so no product is
/// subnormal; an overflowing left side means a quotient that is larger still, and an
/// overflowing right side decides nothing).
#[inline]
fn zero_far_before(v: f64, result: f64, sampled: f64, to_start: f64) -> bool {
    v > 1e-250 && result > 1e-250 && v * sampled > 2.0 * (result * to_start)
}

/// `result` plus the value before every counter reset in `w`, in sample order.
fn add_resets(mut result: f64, w: &[Sample]) -> f64 {
    for p in w.windows(2) {
        if p[1].v < p[0].v {
            result += p[0].v;
        }
    }
    result
}

/// `irate` (`rate`) or `idelta` from a window's last two samples.
fn instant_delta(win: &[Sample], rate: bool) -> Option<f64> {
    if win.len() < 2 {
        return None;
    }
    let (a, b) = (win[win.len() - 2], win[win.len() - 1]);
    if !rate {
        return Some(b.v - a.v);
    }
    let d = if b.v < a.v { b.v } else { b.v - a.v };
    let dt = (b.t - a.t) as f64 / 1000.0;
    if dt == 0.0 { None } else { Some(d / dt) }
}

/// The rate/increase/delta family with Prometheus's extrapolation to the window's edges,
/// directly from one window (the reference the sliding evaluation is tested against).
#[cfg(test)]
pub(crate) fn extrapolated(
    w: &[Sample],
    start: i64,
    end: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.v - first.v;
    if counter {
        result = add_resets(result, w);
    }
    Some(extrapolate(
        first,
        last,
        w.len(),
        result,
        start,
        end,
        counter,
        rate,
    ))
}

/// Extrapolates `result`, the change over `n ≥ 2` samples from `first` to `last`, to the
/// window `(start, end]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn extrapolate(
    first: Sample,
    last: Sample,
    n: usize,
    result: f64,
    start: i64,
    end: i64,
    counter: bool,
    rate: bool,
) -> f64 {
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (n - 1) as f64;
    let threshold = avg * 1.1;
    let mut to_start = (first.t - start) as f64 / 1000.0;
    let mut to_end = (end - last.t) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if rate {
        factor /= (end - start) as f64 / 1000.0;
    }
    result * factor
}

/// `min_over_time` and friends over one window: the first smallest (largest) non-NaN value,
/// or for `ts`, the time of the last one; NaN only when every value is (the last sample).
pub(crate) fn extreme(win: &[Sample], max: bool, ts: bool) -> f64 {
    let mut best = win[0];
    for s in &win[1..] {
        let better = if max { s.v > best.v } else { s.v < best.v };
        let take = if ts { better || s.v == best.v } else { better };
        if take || best.v.is_nan() {
            best = *s;
        }
    }
    if ts { best.t as f64 / 1000.0 } else { best.v }
}

/// [`extreme`] for every window of non-decreasing windows, in O(1) amortised per step: the
/// queue holds the window's non-NaN samples that can still be the answer, best first (equal
/// values keep the first for values and the last for timestamps, as [`extreme`] picks them).
fn sliding_extreme(
    w: &Windows,
    samples: &[Sample],
    max: bool,
    ts: bool,
    queue: &mut VecDeque<usize>,
    pts: &mut Vec<(usize, f64)>,
) {
    queue.clear();
    let mut pushed = 0usize;
    // Whether the queued `a` is dropped for a newer `b`: `b` beats it, or ties with it when
    // the newest tie wins.
    let dominated = |a: f64, b: f64| {
        if max {
            a < b || (ts && a == b)
        } else {
            a > b || (ts && a == b)
        }
    };
    w.bounds(samples, |i, lo, hi| {
        while pushed < hi {
            let v = samples[pushed].v;
            if !v.is_nan() {
                while queue.back().is_some_and(|&b| dominated(samples[b].v, v)) {
                    queue.pop_back();
                }
                queue.push_back(pushed);
            }
            pushed += 1;
        }
        while queue.front().is_some_and(|&f| f < lo) {
            queue.pop_front();
        }
        if hi == lo {
            return;
        }
        let best = match queue.front() {
            Some(&k) => samples[k],
            None => samples[hi - 1],
        };
        pts.push((i, if ts { best.t as f64 / 1000.0 } else { best.v }));
    });
}

/// `mad_over_time`: the median absolute deviation from the median (NaN if any value is).
fn mad(win: &[Sample], vals: &mut Vec<f64>, dev: &mut Vec<f64>) -> f64 {
    vals.clear();
    vals.extend(win.iter().map(|s| s.v));
    if vals.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let med = quantile(0.5, vals);
    dev.clear();
    dev.extend(vals.iter().map(|v| (v - med).abs()));
    quantile(0.5, dev)
}

pub(crate) fn linear_regression(w: &[Sample], intercept_t: i64) -> (f64, f64) {
    let init = w[0].v;
    if w.iter().all(|s| s.v == init) {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (mut sx, mut sy, mut sxy, mut sx2) = (
        Kahan::default(),
        Kahan::default(),
        Kahan::default(),
        Kahan::default(),
    );
    let n = w.len() as f64;
    for s in w {
        let x = (s.t - intercept_t) as f64 / 1000.0;
        sx.add(x);
        sy.add(s.v);
        sxy.add(x * s.v);
        sx2.add(x * x);
    }
    let (sx, sy, sxy, sx2) = (sx.value(), sy.value(), sxy.value(), sx2.value());
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn mean(w: &[Sample]) -> f64 {
    let mut k = Kahan::default();
    for s in w {
        k.add(s.v);
    }
    let sum = k.value();
    if sum.is_infinite() {
        let mut m = 0.0;
        for (i, s) in w.iter().enumerate() {
            m += (s.v - m) / (i + 1) as f64;
        }
        if m.is_finite() {
            return m;
        }
    }
    sum / w.len() as f64
}

/// The population variance of a window, by Welford's method (the reference for
/// [`welford_lanes`]).
#[cfg(test)]
fn variance(w: &[Sample]) -> f64 {
    let (mut n, mut m, mut m2) = (0.0, 0.0, 0.0);
    for s in w {
        n += 1.0;
        let d = s.v - m;
        m += d / n;
        m2 += d * (s.v - m);
    }
    m2 / n
}

fn holt_winters(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1, mut b) = (0.0, w[0].v, w[1].v - w[0].v);
    for (i, s) in w.iter().enumerate().skip(1) {
        let x = sf * s.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::eval::RangeSeries;
    use super::*;

    const ALL: [RangeFn; 26] = {
        use RangeFn::*;
        [
            Rate,
            Increase,
            Delta,
            Irate,
            Idelta,
            Deriv,
            PredictLinear,
            Resets,
            Changes,
            Avg,
            Sum,
            Count,
            Present,
            Last,
            First,
            TsOfLast,
            TsOfFirst,
            Min,
            Max,
            TsOfMin,
            TsOfMax,
            Stddev,
            Stdvar,
            Quantile,
            Mad,
            DoubleExponentialSmoothing,
        ]
    };

    /// The value of `f` over one window, straight from its definition (what each step computed
    /// before windows slid incrementally).
    fn reference(
        f: RangeFn,
        win: &[Sample],
        i: usize,
        start: i64,
        end: i64,
        args: &Args<'_>,
    ) -> Option<f64> {
        use RangeFn::*;
        if win.is_empty() {
            return None;
        }
        let count = |pred: fn(f64, f64) -> bool| {
            win.windows(2).filter(|p| pred(p[0].v, p[1].v)).count() as f64
        };
        match f {
            Rate => extrapolated(win, start, end, true, true),
            Increase => extrapolated(win, start, end, true, false),
            Delta => extrapolated(win, start, end, false, false),
            Irate => instant_delta(win, true),
            Idelta => instant_delta(win, false),
            Deriv => (win.len() >= 2).then(|| linear_regression(win, win[0].t).0),
            PredictLinear => (win.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(win, args.grid.t(i));
                slope * args.scalars[0][i] + intercept
            }),
            Resets => Some(count(|a, b| b < a)),
            Changes => Some(count(changed)),
            Avg => Some(mean(win)),
            Sum => {
                let mut k = Kahan::default();
                win.iter().for_each(|s| k.add(s.v));
                Some(k.value())
            }
            Count => Some(win.len() as f64),
            Present => Some(1.0),
            Last => Some(win[win.len() - 1].v),
            First => Some(win[0].v),
            TsOfLast => Some(win[win.len() - 1].t as f64 / 1000.0),
            TsOfFirst => Some(win[0].t as f64 / 1000.0),
            Min => Some(extreme(win, false, false)),
            Max => Some(extreme(win, true, false)),
            TsOfMin => Some(extreme(win, false, true)),
            TsOfMax => Some(extreme(win, true, true)),
            Stddev => Some(variance(win).sqrt()),
            Stdvar => Some(variance(win)),
            Quantile => {
                let mut vals: Vec<f64> = win.iter().map(|s| s.v).collect();
                Some(quantile(args.scalars[0][i], &mut vals))
            }
            Mad => {
                let mut vals: Vec<f64> = win.iter().map(|s| s.v).collect();
                if vals.iter().any(|v| v.is_nan()) {
                    return Some(f64::NAN);
                }
                let med = quantile(0.5, &mut vals);
                let mut dev: Vec<f64> = vals.iter().map(|v| (v - med).abs()).collect();
                Some(quantile(0.5, &mut dev))
            }
            DoubleExponentialSmoothing => holt_winters(win, args.scalars[0][i], args.scalars[1][i]),
        }
    }

    /// The same bits, or both NaN.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Values that exercise the fast paths: counters with resets, repeats, ±0, ±Inf, values
    /// whose sums overflow, NaN and the staleness marker.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (0u32..4).prop_map(|d| d as f64),
            3 => -1000.0f64..1000.0,
            1 => Just(f64::NAN),
            1 => Just(prom_model::value::stale_nan()),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1.5e308),
            1 => Just(-1.7e308),
            1 => Just(-0.0),
            1 => Just(0.0),
        ]
    }

    /// A series at irregular times: each sample either adds to a running counter, resets it,
    /// or is an arbitrary value.
    fn series() -> impl Strategy<Value = Vec<Sample>> {
        prop::collection::vec((1i64..40_000, 0u8..10, value()), 0..80).prop_map(|raw| {
            let (mut t, mut c) = (0i64, 0.0f64);
            raw.into_iter()
                .map(|(dt, kind, v)| {
                    t += dt;
                    c = match kind {
                        0..=5 => c + v.abs().min(1e6),
                        6 => v.abs() % 5.0,
                        _ => v,
                    };
                    Sample::new(t, c)
                })
                .collect()
        })
    }

    fn check_all(samples: Vec<Sample>, ends: Vec<i64>, range: i64) -> Result<(), TestCaseError> {
        let n = ends.len();
        let scalars = vec![
            (0..n).map(|i| [0.5, 0.9, 0.0, 1.0, 0.25][i % 5]).collect(),
            (0..n).map(|i| [0.3, 0.7][i % 2]).collect(),
        ];
        let args = Args {
            scalars: &scalars,
            grid: Grid::new(ends[0], ends[0] + 15_000 * (n as i64 - 1), 15_000),
        };
        let w = Windows::new(
            vec![RangeSeries {
                labels: prom_model::Labels::new(),
                drop_name: false,
                samples,
                starts: Vec::new(),
            }],
            range,
            ends,
            None,
        );
        let samples = &w.series[0].samples;
        let mut scratch = Scratch::default();
        for f in ALL {
            let got = eval_series(f, &w, samples, &args, &mut scratch);
            let mut want = Vec::new();
            w.for_each(&w.series[0], |i, win| {
                let end = w.ends[i];
                if let Some(v) = reference(f, win, i, end - range, end, &args) {
                    want.push((i, v));
                }
            });
            prop_assert_eq!(got.len(), want.len(), "{:?}: {:?} vs {:?}", f, got, want);
            for (g, r) in got.iter().zip(&want) {
                prop_assert!(
                    g.0 == r.0 && same(g.1, r.1),
                    "{:?} at step {}: {:?} vs {:?}",
                    f,
                    r.0,
                    g,
                    r
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn sliding_windows_match_per_window_definitions(
            samples in series(),
            first in 0i64..200_000,
            step in 1i64..90_000,
            steps in 1usize..60,
            range in 1i64..400_000,
        ) {
            let ends = (0..steps).map(|i| first + step * i as i64).collect();
            check_all(samples, ends, range)?;
        }

        #[test]
        fn steady_intervals_match_too(
            raw in prop::collection::vec((prop_oneof![
                8 => Just(15_000i64),
                1 => Just(14_999i64),
                1 => Just(30_000i64),
                1 => 1i64..40_000,
            ], 0u8..10, value()), 0..80),
            first in 0i64..200_000,
            step in prop_oneof![Just(15_000i64), Just(60_000i64), 1i64..90_000],
            steps in 1usize..60,
            range in prop_oneof![Just(300_000i64), Just(60_000i64), 1i64..400_000],
        ) {
            // Samples at a steady interval (windows then repeat their span and edges), with
            // counters from zero and from far above their increase.
            let (mut t, mut c) = (0i64, if raw.len() % 2 == 0 { 0.0 } else { 1e6 });
            let samples = raw
                .into_iter()
                .map(|(dt, kind, v)| {
                    t += dt;
                    c = match kind {
                        0..=6 => c + v.abs().min(1e3),
                        7 => v.abs() % 5.0,
                        _ => v,
                    };
                    Sample::new(t, c)
                })
                .collect();
            let ends = (0..steps).map(|i| first + step * i as i64).collect();
            check_all(samples, ends, range)?;
        }

        #[test]
        fn unordered_window_ends_match_too(
            samples in series(),
            ends in prop::collection::vec(0i64..1_500_000, 1..40),
            range in 1i64..400_000,
        ) {
            check_all(samples, ends, range)?;
        }
    }

    #[test]
    fn reset_windows_add_the_values_before_resets() {
        let s = |t: i64, v: f64| Sample::new(t, v);
        let samples = vec![s(0, 5.0), s(10_000, 7.0), s(20_000, 2.0), s(30_000, 4.0)];
        let w = Windows::new(
            vec![RangeSeries {
                labels: prom_model::Labels::new(),
                drop_name: false,
                samples,
                starts: Vec::new(),
            }],
            30_000,
            vec![30_000],
            None,
        );
        let args = Args {
            scalars: &[],
            grid: Grid::new(30_000, 30_000, 0),
        };
        let got = eval_series(
            RangeFn::Increase,
            &w,
            &w.series[0].samples,
            &args,
            &mut Scratch::default(),
        );
        // The window (0, 30 s] holds 7, 2, 4; 7 → 2 is a reset, so the increase is 7 + (4 - 7)
        // = 4 over 20 s of samples, extrapolated by the 10 s to the window's start (under
        // 1.1 sample intervals) and none past the last sample.
        assert_eq!(got, vec![(0, (4.0 - 7.0 + 7.0) * 30.0 / 20.0)]);
    }
}
