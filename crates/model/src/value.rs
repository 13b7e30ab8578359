//! Sample values and timestamps, and the special NaNs Prometheus gives meaning to.

/// Milliseconds since the Unix epoch, the unit of every timestamp in prom.
pub type Timestamp = i64;

/// The staleness marker: a NaN with a payload no computation produces, written when a series
/// disappears from a target so that queries stop returning it at once instead of after the
/// lookback delta.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The NaN that parsing `NaN` yields, as in Prometheus (Go's `math.NaN()`), so that stored bits
/// match what Prometheus would store.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// The staleness marker as an `f64`.
#[inline]
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// The ordinary NaN as an `f64` (bits [`NORMAL_NAN_BITS`]).
#[inline]
pub fn normal_nan() -> f64 {
    f64::from_bits(NORMAL_NAN_BITS)
}

/// Whether `v` is the staleness marker (compares bits: every other NaN is not stale).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: a timestamp in milliseconds and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The value; may be NaN, ±Inf or the staleness marker.
    pub v: f64,
}

impl Sample {
    /// A sample at `t` with value `v`.
    #[inline]
    pub const fn new(t: Timestamp, v: f64) -> Self {
        Sample { t, v }
    }

    /// Equality that compares values bit for bit, so NaNs (and the staleness marker) compare
    /// equal to themselves and differ from each other.
    #[inline]
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinct_from_normal_nan() {
        assert!(is_stale_nan(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale_nan(normal_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(normal_nan().is_nan());
    }

    #[test]
    fn bit_eq_distinguishes_nans() {
        let a = Sample::new(1, normal_nan());
        assert!(a.bit_eq(&a));
        assert!(!a.bit_eq(&Sample::new(1, stale_nan())));
        assert_ne!(a, a, "PartialEq follows IEEE: NaN != NaN");
    }
}
