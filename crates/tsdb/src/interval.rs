//! Closed time intervals, as tombstones record deleted ranges.

/// The closed interval `[min_time, max_time]` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    /// First deleted timestamp (inclusive).
    pub min_time: i64,
    /// Last deleted timestamp (inclusive).
    pub max_time: i64,
}

impl Interval {
    /// `[min_time, max_time]`.
    pub fn new(min_time: i64, max_time: i64) -> Self {
        Interval { min_time, max_time }
    }

    /// Whether `t` lies in the interval.
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.min_time <= t && t <= self.max_time
    }

    /// Whether the interval and `[mint, maxt]` share a timestamp.
    #[inline]
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint <= self.max_time
    }
}

/// Adds `iv` to the sorted, disjoint `ivs`, merging it with the intervals it overlaps or
/// touches, so `ivs` stays sorted and disjoint.
pub fn add_interval(ivs: &mut Vec<Interval>, iv: Interval) {
    let mut merged = iv;
    let mut out = Vec::with_capacity(ivs.len() + 1);
    let mut placed = false;
    for &cur in ivs.iter() {
        if cur.max_time.saturating_add(1) < merged.min_time {
            out.push(cur);
        } else if merged.max_time.saturating_add(1) < cur.min_time {
            if !placed {
                out.push(merged);
                placed = true;
            }
            out.push(cur);
        } else {
            merged.min_time = merged.min_time.min(cur.min_time);
            merged.max_time = merged.max_time.max(cur.max_time);
        }
    }
    if !placed {
        out.push(merged);
    }
    *ivs = out;
}

/// Whether `t` is deleted by any of the sorted intervals `ivs`.
#[inline]
pub fn is_deleted(ivs: &[Interval], t: i64) -> bool {
    ivs.iter().any(|iv| iv.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_merges_overlapping_and_touching_intervals() {
        let mut ivs = Vec::new();
        add_interval(&mut ivs, Interval::new(10, 20));
        add_interval(&mut ivs, Interval::new(40, 50));
        add_interval(&mut ivs, Interval::new(0, 5));
        assert_eq!(
            ivs,
            [
                Interval::new(0, 5),
                Interval::new(10, 20),
                Interval::new(40, 50)
            ]
        );
        add_interval(&mut ivs, Interval::new(21, 39));
        assert_eq!(ivs, [Interval::new(0, 5), Interval::new(10, 50)]);
        add_interval(&mut ivs, Interval::new(i64::MIN, 7));
        assert_eq!(ivs, [Interval::new(i64::MIN, 7), Interval::new(10, 50)]);
        assert!(is_deleted(&ivs, 45) && !is_deleted(&ivs, 8));
    }
}
