//! The float comparison expected results are checked with (FORMAT.md §5.3).

use prom_model::value::is_stale_nan;

/// The relative tolerance upstream's runner uses for sample values.
pub const DEFAULT_EPSILON: f64 = 1e-6;

/// Whether `a` and `b` are equal for a test: bit-identical or both NaN (the staleness marker only
/// equals itself), else within `epsilon` relative to their magnitude. When either is zero or both
/// are subnormal, the difference must be below `epsilon` times the smallest normal float, that is
/// equality for all practical purposes.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    #[allow(clippy::float_cmp)] // Exact equality first: it also covers equal infinities.
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::value::{normal_nan, stale_nan};

    #[test]
    fn tolerance() {
        let eq = |a, b| almost_equal(a, b, DEFAULT_EPSILON);
        assert!(eq(1.0, 1.0));
        assert!(eq(1.0, 1.0 + 1e-9));
        assert!(!eq(1.0, 1.0001));
        assert!(eq(1e300, 1e300 * (1.0 + 1e-9)));
        assert!(eq(f64::INFINITY, f64::INFINITY));
        assert!(!eq(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!eq(f64::INFINITY, f64::MAX));
        assert!(!eq(0.0, 1e-300), "zero only equals (almost) zero");
        assert!(eq(0.0, -0.0));
        assert!(eq(normal_nan(), f64::NAN));
        assert!(!eq(normal_nan(), 1.0));
        assert!(eq(stale_nan(), stale_nan()));
        assert!(!eq(stale_nan(), normal_nan()));
        assert!(!eq(normal_nan(), stale_nan()));
    }
}
