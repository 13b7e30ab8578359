//! Durations and byte sizes in Prometheus's notation (`1h30m`, `15MB`).

use std::fmt;
use std::str::FromStr;

/// A duration in milliseconds, written as Prometheus writes them: units `y`, `w`, `d`, `h`,
/// `m`, `s`, `ms` in that order, each at most once (`1h30m`, `90s`, `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s * 1000)
    }

    /// The duration in milliseconds.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// As a std duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

/// The error for a string that is not a Prometheus duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Duration, DurationError> {
        let bad = || DurationError(s.to_owned());
        if s == "0" {
            return Ok(Duration(0));
        }
        if s.is_empty() {
            return Err(bad());
        }
        let b = s.as_bytes();
        let (mut i, mut total, mut next_unit) = (0usize, 0u64, 0usize);
        while i < b.len() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(bad());
            }
            let n: u64 = s[start..i].parse().map_err(|_| bad())?;
            let ustart = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &s[ustart..i];
            let pos = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(bad)?;
            let mult = UNITS[next_unit + pos].1;
            next_unit += pos + 1;
            total = n
                .checked_mul(mult)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= i64::MAX as u64)
                .ok_or_else(|| DurationError(format!("{s} (overflow)")))?;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, mult) in UNITS {
            // Prometheus prints weeks only when the whole remainder is weeks.
            if unit == "w" && !ms.is_multiple_of(mult) {
                continue;
            }
            if ms >= mult {
                write!(f, "{}{unit}", ms / mult)?;
                ms %= mult;
            }
        }
        Ok(())
    }
}

/// A size in bytes written with a base-2 unit (`512KB`, `15MB`, `1GiB`; `KB` means 1024
/// bytes, as in Prometheus). `0` is accepted without a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u64); 13] = [
    ("EiB", 1 << 60),
    ("EB", 1 << 60),
    ("PiB", 1 << 50),
    ("PB", 1 << 50),
    ("TiB", 1 << 40),
    ("TB", 1 << 40),
    ("GiB", 1 << 30),
    ("GB", 1 << 30),
    ("MiB", 1 << 20),
    ("MB", 1 << 20),
    ("KiB", 1 << 10),
    ("KB", 1 << 10),
    ("B", 1),
];

/// The error for a malformed size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("units: {0}")]
pub struct SizeError(pub String);

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<ByteSize, SizeError> {
        if s == "0" {
            return Ok(ByteSize(0));
        }
        let mut total: f64 = 0.0;
        let mut rest = s;
        if rest.is_empty() {
            return Err(SizeError(format!("invalid size {s:?}")));
        }
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (num, after) = rest.split_at(num_end);
            let n: f64 = num
                .parse()
                .map_err(|_| SizeError(format!("invalid size {s:?}")))?;
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            let mult = SIZE_UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| SizeError(format!("unknown unit {unit} in {s}")))?;
            total += n * mult as f64;
            rest = next;
        }
        if !total.is_finite() || total < 0.0 || total > u64::MAX as f64 {
            return Err(SizeError(format!("invalid size {s:?}")));
        }
        Ok(ByteSize(total as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (unit, mult) in SIZE_UNITS.iter().filter(|(u, _)| !u.contains('i')) {
            if self.0.is_multiple_of(*mult) {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}B", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_like_prometheus() {
        for (text, ms, printed) in [
            ("0", 0, "0s"),
            ("0s", 0, "0s"),
            ("15s", 15_000, "15s"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90s", 90_000, "1m30s"),
            ("2w", 14 * 86_400_000, "2w"),
            ("8d", 8 * 86_400_000, "8d"),
            ("1y", 365 * 86_400_000, "1y"),
            ("1s500ms", 1_500, "1s500ms"),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.millis(), ms, "{text}");
            assert_eq!(d.to_string(), printed, "{text}");
        }
        for bad in ["", "-1h", "1", "1m1h", "1h1h", "1.5h", "h", "1x", "1 h"] {
            let e = bad.parse::<Duration>().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("not a valid duration string: {bad:?}")
            );
        }
    }

    #[test]
    fn sizes_are_base_two_with_units() {
        assert_eq!("15MB".parse::<ByteSize>().unwrap().0, 15 << 20);
        assert_eq!("1GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("512KB".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert_eq!("0".parse::<ByteSize>().unwrap().0, 0);
        assert_eq!("1.5KB".parse::<ByteSize>().unwrap().0, 1536);
        assert_eq!(
            "100".parse::<ByteSize>().unwrap_err().to_string(),
            "units: unknown unit  in 100"
        );
        assert!("10XB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(15 << 20).to_string(), "15MB");
    }
}
