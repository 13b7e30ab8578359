//! Start timestamps in the counter functions `rate`, `increase`, `irate` and `resets`.
//!
//! A sample's start timestamp (ST) says since when its value has been counting: the counter's
//! creation or last reset, or for a delta sample the start of the interval it covers. Only
//! series whose storage keeps them get here ([`RangeSeries::starts`] is not empty); every
//! other series takes the functions of [`super::window`] unchanged. As in Prometheus, a start
//! of 0 means "unknown", and subqueries do not carry starts.
//!
//! - **Resets.** Besides a drop in value, sample *b* after *a* is a counter reset when *b*'s
//!   start is known, before *b* itself, not before *a*, and either after *a* or exactly at
//!   *a* while *a*'s own start is known and before *a*. The last case tells a delta series
//!   (each start is the previous sample's time) from a cumulative series whose start was
//!   unknown and set to its first sample's time.
//! - **Left edge.** When the first sample of a `rate`/`increase` window has a known start
//!   inside the window (after its start, before the sample), the counter is taken to be zero
//!   at that start instead of extrapolating to the left: the increase counts the first
//!   sample's whole value, the sampled interval begins at the start, and only the right edge
//!   is extrapolated, by the usual rule with the average interval of the real samples (not at
//!   all when the window holds one sample, which then suffices).
//! - **Overlaps.** A known start before the previous sample's time that differs from the
//!   previous sample's start means the two samples claim overlapping intervals; `rate` and
//!   `increase` report it as a warning.
//!
//! [`RangeSeries::starts`]: super::eval::RangeSeries::starts

use prom_model::Sample;

use super::eval::Windows;
use super::window::{RangeFn, extrapolate};

/// Whether a known start `st` of the sample at `t` makes it a reset after the sample at
/// `prev_t` that had start `prev_st`.
pub(crate) fn start_reset(prev_st: i64, prev_t: i64, st: i64, t: i64) -> bool {
    if st == 0 || st >= t || st < prev_t {
        return false;
    }
    st > prev_t || (prev_st != 0 && prev_st < prev_t)
}

/// Whether `cur` is a counter reset after `prev`, by value or by start.
fn is_reset(prev: Sample, prev_st: i64, cur: Sample, cur_st: i64) -> bool {
    cur.v < prev.v || start_reset(prev_st, prev.t, cur_st, cur.t)
}

/// Whether a sample with start `st` overlaps the previous one (at `prev_t`, start `prev_st`).
fn overlaps(prev_st: i64, prev_t: i64, st: i64) -> bool {
    st != 0 && st < prev_t && st != prev_st
}

/// `prefix[k]`: how many `j` in `1..=k` have `pred(j)`; the window `lo..hi` has
/// `prefix[hi - 1] - prefix[lo]` of them between its samples.
fn prefix_counts(n: usize, pred: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut prefix = Vec::with_capacity(n);
    let mut c = 0u32;
    if n > 0 {
        prefix.push(0);
    }
    for j in 1..n {
        c += u32::from(pred(j));
        prefix.push(c);
    }
    prefix
}

/// `f` (one of [`RangeFn::uses_start_timestamps`]) over each window of a series whose samples
/// have the start timestamps `starts` (one per sample, 0 for unknown), appended to `pts` as
/// `(step, value)`. Returns whether a `rate`/`increase` window held overlapping samples.
pub(crate) fn eval_series(
    f: RangeFn,
    w: &Windows,
    samples: &[Sample],
    starts: &[i64],
    pts: &mut Vec<(usize, f64)>,
) -> bool {
    debug_assert_eq!(samples.len(), starts.len());
    if samples.len() != starts.len() {
        return false;
    }
    let resets = prefix_counts(samples.len(), |j| {
        is_reset(samples[j - 1], starts[j - 1], samples[j], starts[j])
    });
    let mut overlapped = false;
    match f {
        RangeFn::Rate | RangeFn::Increase => {
            let rate = f == RangeFn::Rate;
            let overlap = prefix_counts(samples.len(), |j| {
                overlaps(starts[j - 1], samples[j - 1].t, starts[j])
            });
            w.bounds(samples, |i, lo, hi| {
                if hi == lo {
                    return;
                }
                let end = w.ends[i];
                let start = end - w.range;
                let (first, last, first_st) = (samples[lo], samples[hi - 1], starts[lo]);
                let from_start = first_st != 0 && first_st > start && first_st < first.t;
                let n = hi - lo;
                if n < 2 && !from_start {
                    return;
                }
                overlapped |= overlap[hi - 1] != overlap[lo];
                let mut result = last.v - first.v;
                if resets[hi - 1] != resets[lo] {
                    for j in lo + 1..hi {
                        if is_reset(samples[j - 1], starts[j - 1], samples[j], starts[j]) {
                            result += samples[j - 1].v;
                        }
                    }
                }
                let v = if from_start {
                    from_zero_at_start(first, last, first_st, n, result, start, end, rate)
                } else {
                    extrapolate(first, last, n, result, start, end, true, rate)
                };
                pts.push((i, v));
            });
        }
        RangeFn::Irate => w.bounds(samples, |i, lo, hi| {
            if hi - lo < 2 {
                return;
            }
            let (a, b) = (samples[hi - 2], samples[hi - 1]);
            let d = if is_reset(a, starts[hi - 2], b, starts[hi - 1]) {
                b.v
            } else {
                b.v - a.v
            };
            let dt = (b.t - a.t) as f64 / 1000.0;
            if dt != 0.0 {
                pts.push((i, d / dt));
            }
        }),
        RangeFn::Resets => w.bounds(samples, |i, lo, hi| {
            if hi > lo {
                pts.push((i, f64::from(resets[hi - 1] - resets[lo])));
            }
        }),
        _ => {}
    }
    overlapped
}

/// `rate`/`increase` of a window whose first sample `first` started counting from zero at
/// `st`, inside the window `(start, end]`: `result` (the change from `first` to `last` with
/// resets) plus `first`'s value, over the interval from `st`, extrapolated to the right edge
/// only.
#[allow(clippy::too_many_arguments)]
fn from_zero_at_start(
    first: Sample,
    last: Sample,
    st: i64,
    n: usize,
    result: f64,
    start: i64,
    end: i64,
    rate: bool,
) -> f64 {
    let result = result + first.v;
    let sampled = (last.t - st) as f64 / 1000.0;
    let to_end = if n < 2 {
        0.0
    } else {
        let avg = (last.t - first.t) as f64 / 1000.0 / (n - 1) as f64;
        let to_end = (end - last.t) as f64 / 1000.0;
        if to_end >= avg * 1.1 {
            avg / 2.0
        } else {
            to_end
        }
    };
    let mut factor = (sampled + to_end) / sampled;
    if rate {
        factor /= (end - start) as f64 / 1000.0;
    }
    result * factor
}

#[cfg(test)]
mod tests {
    use super::super::eval::RangeSeries;
    use super::*;

    #[test]
    fn start_resets() {
        // Unknown, after the sample itself, or before the previous sample: no reset.
        assert!(!start_reset(0, 60, 0, 120));
        assert!(!start_reset(0, 60, 120, 120));
        assert!(!start_reset(0, 60, 121, 120));
        assert!(!start_reset(30, 60, 59, 120));
        // After the previous sample: a reset.
        assert!(start_reset(0, 60, 61, 120));
        assert!(start_reset(30, 60, 119, 120));
        // At the previous sample: a reset only when that one's start was known and before it.
        assert!(start_reset(30, 60, 60, 120), "delta series");
        assert!(
            !start_reset(0, 60, 60, 120),
            "cumulative, unknown first start"
        );
        assert!(
            !start_reset(60, 60, 60, 120),
            "cumulative, first start at the sample"
        );
        assert!(!start_reset(90, 60, 60, 120), "invalid previous start");
    }

    #[test]
    fn overlap_needs_a_known_start_before_the_previous_sample_that_moved() {
        assert!(overlaps(0, 120, 60));
        assert!(overlaps(30, 120, 60));
        assert!(!overlaps(60, 120, 60), "same start: a cumulative counter");
        assert!(!overlaps(60, 120, 120), "at the previous sample: a delta");
        assert!(!overlaps(60, 120, 0), "unknown");
    }

    fn windows(samples: &[(i64, f64, i64)], range: i64, ends: Vec<i64>) -> (Windows, Vec<i64>) {
        let starts: Vec<i64> = samples.iter().map(|s| s.2).collect();
        let w = Windows::new(
            vec![RangeSeries {
                labels: prom_model::Labels::new(),
                drop_name: false,
                samples: samples.iter().map(|s| Sample::new(s.0, s.1)).collect(),
                starts: starts.clone(),
            }],
            range,
            ends,
            None,
        );
        (w, starts)
    }

    fn run(f: RangeFn, samples: &[(i64, f64, i64)], range: i64, end: i64) -> (Vec<f64>, bool) {
        let (w, starts) = windows(samples, range, vec![end]);
        let mut pts = Vec::new();
        let overlapped = eval_series(f, &w, &w.series[0].samples, &starts, &mut pts);
        (pts.into_iter().map(|p| p.1).collect(), overlapped)
    }

    fn close(got: &[f64], want: f64) -> bool {
        got.len() == 1 && (got[0] - want).abs() <= 1e-12 * want.abs()
    }

    #[test]
    fn a_start_inside_the_window_replaces_left_extrapolation() {
        const M: i64 = 60_000;
        // 1, 2, 3, 4 at 2m..5m, counting since 1m30s; window (1m, 6m].
        let s: Vec<(i64, f64, i64)> = (0..4)
            .map(|k| ((2 + k) * M, (k + 1) as f64, 90_000))
            .collect();
        // From zero at 1m30s to 4 at 5m (210 s), extrapolated by the full 60 s to the end
        // (under 1.1 × the 60 s between the real samples).
        let (v, overlapped) = run(RangeFn::Increase, &s, 5 * M, 6 * M);
        assert!(close(&v, 4.0 * 270.0 / 210.0), "{v:?}");
        assert!(!overlapped);
        let (v, _) = run(RangeFn::Rate, &s, 5 * M, 6 * M);
        assert!(close(&v, 4.0 * 270.0 / 210.0 / 300.0), "{v:?}");
        // A start at the window's start is outside it: the usual extrapolation (to 1m and
        // 6m, 5/3 of the 3 gained).
        let at_edge: Vec<_> = s.iter().map(|&(t, v, _)| (t, v, M)).collect();
        let v = run(RangeFn::Increase, &at_edge, 5 * M, 6 * M).0;
        assert!(close(&v, 5.0), "{v:?}");
        // One sample suffices when its start is usable, and is not extrapolated.
        assert_eq!(
            run(RangeFn::Increase, &[(4 * M, 3.0, 90_000)], 5 * M, 6 * M).0,
            [3.0]
        );
        assert!(
            run(RangeFn::Increase, &[(4 * M, 3.0, 4 * M)], 5 * M, 6 * M)
                .0
                .is_empty()
        );
    }

    #[test]
    fn start_resets_count_in_every_counter_function() {
        const M: i64 = 60_000;
        // A delta series: each sample covers the minute since the previous one.
        let s: Vec<(i64, f64, i64)> = (2..=6).map(|k| (k * M, 60.0, (k - 1) * M)).collect();
        assert_eq!(run(RangeFn::Resets, &s, 5 * M, 6 * M).0, [4.0]);
        assert_eq!(run(RangeFn::Irate, &s, 5 * M, 6 * M).0, [1.0]);
        // The first start is the window's start, outside it: 4 × 60 over 4 minutes,
        // extrapolated to 5.
        let v = run(RangeFn::Increase, &s, 5 * M, 6 * M).0;
        assert!(close(&v, 300.0), "{v:?}");
        // Without the first start, the second sample is not known to be a delta.
        let mut unknown_first = s.clone();
        unknown_first[0].2 = 0;
        assert_eq!(run(RangeFn::Resets, &unknown_first, 5 * M, 6 * M).0, [3.0]);
        // Starts at the samples themselves are empty intervals: no resets.
        let empty: Vec<_> = s.iter().map(|&(t, v, _)| (t, v, t)).collect();
        assert_eq!(run(RangeFn::Resets, &empty, 5 * M, 6 * M).0, [0.0]);
        assert_eq!(run(RangeFn::Irate, &empty, 5 * M, 6 * M).0, [0.0]);
    }

    #[test]
    fn overlapping_starts_are_reported_by_rate_and_increase() {
        const M: i64 = 60_000;
        let s = [(2 * M, 60.0, 0), (3 * M, 120.0, M), (4 * M, 180.0, 2 * M)];
        let (v, overlapped) = run(RangeFn::Rate, &s, 3 * M, 4 * M);
        assert_eq!(v, [1.0]);
        assert!(overlapped);
        assert!(!run(RangeFn::Resets, &s, 3 * M, 4 * M).1);
        let cumulative = [(2 * M, 60.0, 90_000), (3 * M, 120.0, 90_000)];
        assert!(!run(RangeFn::Increase, &cumulative, 3 * M, 4 * M).1);
    }
}
