//! Go's `time.Time` and `time.Duration` as templates print them, always in UTC.

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A civil date and time in UTC.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    weekday: u32,
    yday: u32,
}

fn civil(ns: i64) -> Civil {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = prom_model::time::civil_from_days(days);
    let leap = prom_model::time::is_leap_year(year);
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + u32::from(leap && month > 2);
    Civil {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        minute: (sod / 60 % 60) as u32,
        second: (sod % 60) as u32,
        nanos,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `time.Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn format_time(ns: i64) -> String {
    go_format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// `time.Time.Format(layout)` in UTC, for Go's layout elements.
pub(crate) fn go_format(ns: i64, layout: &str) -> String {
    let t = civil(ns);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        // Longest elements first where one is a prefix of another.
        const ELEMS: &[&str] = &[
            "January",
            "Jan",
            "Monday",
            "Mon",
            "MST",
            "2006",
            "__2",
            "002",
            "01",
            "02",
            "03",
            "04",
            "05",
            "06",
            "15",
            "_2",
            "-07:00:00",
            "-0700",
            "-07:00",
            "-07",
            "Z07:00:00",
            "Z0700",
            "Z07:00",
            "Z07",
            "PM",
            "pm",
            "1",
            "2",
            "3",
            "4",
            "5",
        ];
        let mut matched = None;
        for e in ELEMS {
            if rest.starts_with(e) {
                matched = Some(*e);
                break;
            }
        }
        // Fractional seconds: ".000" / ".999" (or with a comma) after a seconds element.
        if matched.is_none() && (rest.starts_with('.') || rest.starts_with(',')) {
            let digits = &rest[1..];
            let n0 = digits.bytes().take_while(|&b| b == b'0').count();
            let n9 = digits.bytes().take_while(|&b| b == b'9').count();
            let n = n0.max(n9);
            let next_is_digit = digits.as_bytes().get(n).is_some_and(u8::is_ascii_digit);
            if n > 0 && !next_is_digit {
                let frac = format!("{:09}", t.nanos);
                let frac = &frac[..n.min(9)];
                if n0 > 0 {
                    out.push(rest.as_bytes()[0] as char);
                    out.push_str(frac);
                } else {
                    let trimmed = frac.trim_end_matches('0');
                    if !trimmed.is_empty() {
                        out.push(rest.as_bytes()[0] as char);
                        out.push_str(trimmed);
                    }
                }
                rest = &rest[1 + n..];
                continue;
            }
        }
        let Some(e) = matched else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let h12 = if t.hour.is_multiple_of(12) {
            12
        } else {
            t.hour % 12
        };
        let s = match e {
            "January" => MONTHS[(t.month - 1) as usize].to_string(),
            "Jan" => MONTHS[(t.month - 1) as usize][..3].to_string(),
            "Monday" => DAYS[t.weekday as usize].to_string(),
            "Mon" => DAYS[t.weekday as usize][..3].to_string(),
            "MST" => "UTC".to_string(),
            "2006" => format!("{:04}", t.year),
            "06" => format!("{:02}", t.year.rem_euclid(100)),
            "01" => format!("{:02}", t.month),
            "1" => t.month.to_string(),
            "02" => format!("{:02}", t.day),
            "_2" => format!("{:>2}", t.day),
            "2" => t.day.to_string(),
            "__2" => format!("{:>3}", t.yday),
            "002" => format!("{:03}", t.yday),
            "15" => format!("{:02}", t.hour),
            "03" => format!("{h12:02}"),
            "3" => h12.to_string(),
            "04" => format!("{:02}", t.minute),
            "4" => t.minute.to_string(),
            "05" => format!("{:02}", t.second),
            "5" => t.second.to_string(),
            "PM" => (if t.hour >= 12 { "PM" } else { "AM" }).to_string(),
            "pm" => (if t.hour >= 12 { "pm" } else { "am" }).to_string(),
            "-0700" => "+0000".to_string(),
            "-07:00" => "+00:00".to_string(),
            "-07" => "+00".to_string(),
            "-07:00:00" => "+00:00:00".to_string(),
            _ => "Z".to_string(), // Z0700 and friends print Z for UTC.
        };
        out.push_str(&s);
        rest = &rest[e.len()..];
    }
    out
}

/// `time.Duration.String()`: `1h1m1s`, `1.5s`, `2ms`, `0s`.
pub(crate) fn format_duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < NANOS_PER_SEC as u64 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = frac(u, prec);
        out = format!("{int}{frac}{unit}");
    } else {
        let (frac, secs) = frac(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        out.insert_str(0, &format!("{s}{frac}s"));
        if u > 0 {
            out.insert_str(0, &format!("{}m", u % 60));
            u /= 60;
            if u > 0 {
                out.insert_str(0, &format!("{u}h"));
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v / 10^prec` into its fraction (".5", trailing zeros dropped) and integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let f = v % p;
    if f == 0 {
        return (String::new(), v / p);
    }
    let s = format!("{:0width$}", f, width = prec as usize);
    (format!(".{}", s.trim_end_matches('0')), v / p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings() {
        assert_eq!(
            format_time(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(format_time(-1_000_000), "1969-12-31 23:59:59.999 +0000 UTC");
        assert_eq!(
            go_format(
                1_435_065_584_128_000_000,
                "Mon Jan _2 03:04:05.000 PM 2006 Z07:00"
            ),
            "Tue Jun 23 01:19:44.128 PM 2015 Z"
        );
        assert_eq!(
            go_format(951_782_400 * NANOS_PER_SEC, "2006-01-02 002 Monday January"),
            "2000-02-29 060 Tuesday February"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(3_661 * NANOS_PER_SEC), "1h1m1s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(2_000_000), "2ms");
        assert_eq!(format_duration(1_500), "1.5µs");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(-60 * NANOS_PER_SEC), "-1m0s");
        assert_eq!(format_duration(7_200 * NANOS_PER_SEC), "2h0m0s");
    }
}
