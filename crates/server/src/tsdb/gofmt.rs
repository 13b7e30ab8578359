//! Go's formatting conventions, as promtool's output uses them, so that our tables and dumps
//! can be compared with promtool's byte for byte: `strconv.Quote`, `time.Duration.String`,
//! `time.Time.String` in UTC, `units.Base2Bytes.String` and `text/tabwriter` columns.
//!
//! Floats are written with prom-exposition's [`write_float`](prom_exposition::encode::write_float),
//! which already follows Go's `%g`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use prom_model::time::civil_from_days;

/// Appends `s` quoted as Go's `strconv.Quote` does: `\"` and `\\`, the C escapes `\a \b \f \n
/// \r \t \v`, other non-printable characters as `\xHH` (below U+0080), `\uHHHH` or
/// `\UHHHHHHHH`; printable characters (Go's `unicode.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space) as they are.
///
/// Printability outside Latin-1 comes from the Unicode tables of the `regex-syntax` crate,
/// which may be a newer Unicode version than the Go that built promtool: a character assigned
/// since is written as is here and escaped by an older Go.
pub fn quote(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let printable = match c {
            '"' | '\\' => false,
            ' '..='~' => continue,
            _ => is_print(c),
        };
        if printable {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + c.len_utf8();
        let _ = match c {
            '"' => out.write_str("\\\""),
            '\\' => out.write_str("\\\\"),
            '\u{07}' => out.write_str("\\a"),
            '\u{08}' => out.write_str("\\b"),
            '\u{0c}' => out.write_str("\\f"),
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\t' => out.write_str("\\t"),
            '\u{0b}' => out.write_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
            c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32),
            c => write!(out, "\\U{:08x}", c as u32),
        };
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Go's `unicode.IsPrint` for a character outside printable ASCII.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u <= 0xff {
        // Latin-1: Go excludes the C1 controls, the no-break space and the soft hyphen.
        return (0xa1..=0xff).contains(&u) && u != 0xad;
    }
    let ranges = print_ranges();
    let i = ranges.partition_point(|&(_, hi)| hi < u);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= u)
}

/// The code point ranges of the general categories L, M, N, P and S, sorted.
fn print_ranges() -> &'static [(u32, u32)] {
    static RANGES: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::Parser::new().parse(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]");
        match hir.as_ref().map(|h| h.kind()) {
            Ok(HirKind::Class(Class::Unicode(class))) => class
                .ranges()
                .iter()
                .map(|r| (r.start() as u32, r.end() as u32))
                .collect(),
            // The pattern is a constant that parses; an empty table only makes us escape more.
            _ => Vec::new(),
        }
    })
}

/// Go's `time.Duration(ns).String()`: `1h46m30.001s`, `2h0m0s`, `999ms`, `0s`.
pub fn duration(ns: i64) -> String {
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".to_owned(),
            1..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let frac = frac(&mut u, prec);
        let _ = write!(out, "{u}{frac}{unit}");
    } else {
        let frac = frac(&mut u, 9);
        let secs = u % 60;
        u /= 60;
        if u > 0 {
            let mins = u % 60;
            u /= 60;
            if u > 0 {
                let _ = write!(out, "{u}h");
            }
            let _ = write!(out, "{mins}m");
        }
        let _ = write!(out, "{secs}{frac}s");
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits off the last `prec` decimal digits of `u` as `.ddd` without trailing zeros (empty
/// when they are all zero), leaving the integer part in `u`.
fn frac(u: &mut u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let f = *u % scale;
    *u /= scale;
    if f == 0 {
        return String::new();
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

/// The block table's duration column: `time.Duration(ms) * time.Millisecond`, wrapping on
/// overflow as Go's arithmetic does.
pub fn duration_ms(ms: i64) -> String {
    duration(ms.wrapping_mul(1_000_000))
}

/// Go's `time.Unix(ms/1000, 0).UTC().String()`: `2023-11-14 22:13:20 +0000 UTC`.
pub fn utc_time(ms: i64) -> String {
    // Go's integer division truncates toward zero, and so does Rust's.
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `units.Base2Bytes(n).String()` from github.com/alecthomas/units: each non-zero power of
/// 1024 from the largest down, `4KiB1012B`, `5MiB`, `0B`.
pub fn base2_bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    let mut n = n;
    for (i, unit) in UNITS.iter().enumerate() {
        if n % 1024 != 0 || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{unit}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Lays out rows as Go's `tabwriter.NewWriter(w, 13, 0, 2, ' ', 0)` does when every cell but
/// the last of each row ends with a tab: each of those columns is as wide as its widest cell
/// plus two spaces, and at least 13; the last cell is written as it is.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().take(row.len().saturating_sub(1)).enumerate() {
            let w = (cell.chars().count() + 2).max(13);
            match widths.get_mut(i) {
                Some(x) => *x = (*x).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let w = widths.get(i).copied().unwrap_or(0);
                out.extend(std::iter::repeat_n(
                    ' ',
                    w.saturating_sub(cell.chars().count()),
                ));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        let mut out = String::new();
        quote(&mut out, s);
        out
    }

    #[test]
    fn quote_follows_strconv_quote() {
        // Expected strings as Go 1.19's strconv.Quote prints them.
        for (input, want) in [
            ("", r#""""#),
            ("plain text", r#""plain text""#),
            ("a\"b\\c\nd", r#""a\"b\\c\nd""#),
            ("\u{7}\u{8}\u{c}\r\t\u{b}", r#""\a\b\f\r\t\v""#),
            ("\u{0}\u{1b}\u{7f}", r#""\x00\x1b\x7f""#),
            ("\u{85}\u{a0}\u{ad}é", r#""\u0085\u00a0\u00adé""#),
            ("日本語 ✓ 😀", r#""日本語 ✓ 😀""#),
            (
                "\u{2028}\u{200b}\u{feff}\u{3000}",
                r#""\u2028\u200b\ufeff\u3000""#,
            ),
            ("\u{e000}\u{f0000}", r#""\ue000\U000f0000""#),
            ("'single' `back`", r#""'single' `back`""#),
        ] {
            assert_eq!(q(input), want, "{input:?}");
        }
    }

    #[test]
    fn durations_read_like_go() {
        let ms = 1_000_000;
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (999 * ms, "999ms"),
            (1_001 * ms, "1.001s"),
            (60_000 * ms, "1m0s"),
            (7_200_000 * ms, "2h0m0s"),
            (6_390_001 * ms, "1h46m30.001s"),
            (4_380_001 * ms, "1h13m0.001s"),
            (-90_000 * ms, "-1m30s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(duration(ns), want, "{ns}");
        }
        assert_eq!(duration_ms(7_200_000), "2h0m0s");
    }

    #[test]
    fn times_read_like_go_utc() {
        assert_eq!(utc_time(1_700_000_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(utc_time(951_782_400_999), "2000-02-29 00:00:00 +0000 UTC");
        assert_eq!(utc_time(-1_500), "1969-12-31 23:59:59 +0000 UTC");
    }

    #[test]
    fn sizes_read_like_base2_bytes() {
        for (n, want) in [
            (0, "0B"),
            (1023, "1023B"),
            (1024, "1KiB"),
            (5108, "4KiB1012B"),
            (5 << 20, "5MiB"),
            ((3 << 30) + 7, "3GiB7B"),
        ] {
            assert_eq!(base2_bytes(n), want, "{n}");
        }
    }

    #[test]
    fn table_pads_columns_like_tabwriter() {
        let rows = vec![
            vec!["BLOCK ULID".into(), "N".into(), "SIZE".into()],
            vec!["01ABC".into(), "1234567890123".into(), "5108".into()],
        ];
        assert_eq!(
            table(&rows),
            "BLOCK ULID   N              SIZE\n01ABC        1234567890123  5108\n"
        );
    }
}
