//! Calendar arithmetic on the project's timestamps (milliseconds since the Unix epoch, UTC),
//! for the places that print dates as Prometheus and Go print them.

use crate::Timestamp;

/// The proleptic Gregorian `(year, month, day)` of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`); months and days from 1.
///
/// ```
/// use prom_model::time::civil_from_days;
/// assert_eq!(civil_from_days(0), (1970, 1, 1));
/// assert_eq!(civil_from_days(19_782), (2024, 2, 29));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// `ms` as RFC 3339 in UTC with the fraction of a second only when there is one, without
/// trailing zeros: Go's `time.RFC3339Nano`, which Prometheus's API and Alertmanager use.
///
/// ```
/// use prom_model::time::format_rfc3339;
/// assert_eq!(format_rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
/// assert_eq!(format_rfc3339(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
/// assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
/// ```
pub fn format_rfc3339(ms: Timestamp) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if millis != 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_around_the_epoch_and_leap_days() {
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert!(is_leap_year(2000) && !is_leap_year(1900) && is_leap_year(2024));
    }
}
