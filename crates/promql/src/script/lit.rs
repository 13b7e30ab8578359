//! Literals of the test-script language: numbers as Go's `strconv` reads them, Prometheus
//! durations, and quoted strings.
//!
//! Upstream reads numbers with `ParseInt(s, 0, 64)` and falls back to `ParseFloat(s, 64)`, so the
//! accepted set is Go's, not Rust's: base prefixes and leading-zero octal for integers, `_` digit
//! separators, hexadecimal floats with a `p` exponent, and an out-of-range float is an error rather
//! than an infinity. The functions here reproduce that set.

use prom_model::value::normal_nan;

/// Upstream keeps durations as `i64` nanoseconds; anything longer is out of range.
const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Units in the only order they may appear, with their length in milliseconds.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * DAY),
    ("w", 7 * DAY),
    ("d", DAY),
    ("h", HOUR),
    ("m", MINUTE),
    ("s", SECOND),
    ("ms", 1),
];

/// Parses a Prometheus duration (`1h30m`, `10s53ms`, `0`) into milliseconds.
///
/// Units `y w d h m s ms`, each at most once and in that order; a bare `0` is the only number
/// without a unit. No sign.
pub(crate) fn parse_duration(s: &str) -> Result<i64, &'static str> {
    match s {
        "" => return Err("empty duration"),
        "0" => return Ok(0),
        _ => {}
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while pos < b.len() {
        let digits_start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = s.get(digits_start..pos).unwrap_or("");
        if digits.is_empty() {
            return Err("expected a number followed by a unit (y, w, d, h, m, s, ms)");
        }
        let unit_len = match (b.get(pos), b.get(pos + 1)) {
            (Some(b'm'), Some(b's')) => 2,
            (Some(c), _) if c.is_ascii_alphabetic() => 1,
            _ => return Err("missing unit (y, w, d, h, m, s, ms)"),
        };
        let unit = s.get(pos..pos + unit_len).unwrap_or("");
        pos += unit_len;
        let Some(idx) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err("unknown unit (valid: y, w, d, h, m, s, ms)");
        };
        if idx < next_unit {
            return Err("units must appear once each, largest first");
        }
        next_unit = idx + 1;
        let mult = UNITS.get(idx).map_or(1, |u| u.1);
        let n: i64 = digits.parse().map_err(|_| "duration out of range")?;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= MAX_DURATION_MS)
            .ok_or("duration out of range")?;
    }
    Ok(total)
}

/// Parses a point in time written as an offset from the epoch: a duration with an optional
/// leading `-` (an extension: upstream accepts no sign).
pub(crate) fn parse_time(s: &str) -> Result<i64, &'static str> {
    match s.strip_prefix('-') {
        Some(rest) => parse_duration(rest).map(|d| -d),
        None => parse_duration(s),
    }
}

/// A number as upstream reads one: Go's `ParseInt(s, 0, 64)`, then `ParseFloat(s, 64)`.
/// `None` if both reject it.
pub(crate) fn parse_go_number(s: &str) -> Option<f64> {
    parse_go_int(s)
        .map(|n| n as f64)
        .or_else(|| parse_go_float(s))
}

/// A repetition count: plain decimal digits (Go's `ParseUint(s, 10, 64)`).
pub(crate) fn parse_repetition(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn split_sign(s: &str) -> (bool, &str) {
    if let Some(rest) = s.strip_prefix('-') {
        (true, rest)
    } else {
        (false, s.strip_prefix('+').unwrap_or(s))
    }
}

/// Go's `ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b` prefixes or a leading `0` for octal,
/// `_` separators where Go's literal syntax allows them.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = split_sign(s);
    let b = body.as_bytes();
    let (radix, digits): (u32, &[u8]) = match b {
        [] => return None,
        [b'0', p, rest @ ..] if !rest.is_empty() && matches!(p | 0x20, b'x' | b'o' | b'b') => {
            let radix = match p | 0x20 {
                b'x' => 16,
                b'o' => 8,
                _ => 2,
            };
            (radix, rest)
        }
        [b'0', rest @ ..] => (8, rest),
        _ => (10, b),
    };
    let mut magnitude: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = char::from(c).to_digit(radix)?;
        magnitude = magnitude
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
    }
    if underscores && !underscores_ok(s) {
        return None;
    }
    if neg {
        if magnitude <= 1 << 63 {
            Some(0i64.wrapping_sub_unsigned(magnitude))
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's rule for `_` in numeric literals: only between digits, or between a base prefix and a
/// digit.
fn underscores_ok(s: &str) -> bool {
    #[derive(PartialEq)]
    enum Saw {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let (_, body) = split_sign(s);
    let b = body.as_bytes();
    let (mut saw, rest, hex) = match b {
        [b'0', p, rest @ ..] if matches!(p | 0x20, b'x' | b'o' | b'b') => {
            (Saw::Digit, rest, p | 0x20 == b'x')
        }
        _ => (Saw::Start, b, false),
    };
    for &c in rest {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = Saw::Digit;
        } else if c == b'_' {
            if saw != Saw::Digit {
                return false;
            }
            saw = Saw::Underscore;
        } else if saw == Saw::Underscore {
            return false;
        } else {
            saw = Saw::Other;
        }
    }
    saw != Saw::Underscore
}

/// Go's `ParseFloat(s, 64)`: `inf`/`infinity` (any case, optional sign), `nan` (any case, no
/// sign), decimal with optional exponent, hexadecimal with mandatory `p` exponent; overflow to
/// infinity is an error.
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = split_sign(s);
    let signed = body.len() != s.len();
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.eq_ignore_ascii_case("nan") {
        return (!signed).then(normal_nan);
    }
    if body.contains('_') && !underscores_ok(s) {
        return None;
    }
    let cleaned: String = body.chars().filter(|&c| c != '_').collect();
    let magnitude = match cleaned.as_bytes() {
        [b'0', x, rest @ ..] if x | 0x20 == b'x' => parse_hex_float(rest)?,
        _ => parse_decimal_float(&cleaned)?,
    };
    if magnitude.is_infinite() {
        return None; // Go reports ErrRange.
    }
    Some(if neg { -magnitude } else { magnitude })
}

/// `digits [. digits] [e [sign] digits]` with at least one mantissa digit.
fn parse_decimal_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut mantissa_digits = 0;
    while b.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
        mantissa_digits += 1;
    }
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return None;
    }
    if b.get(pos).is_some_and(|c| c | 0x20 == b'e') {
        pos += 1;
        if matches!(b.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let exp_start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == exp_start {
            return None;
        }
    }
    if pos != b.len() {
        return None;
    }
    s.parse().ok()
}

/// The part after `0x` of a hexadecimal float: `hexdigits [. hexdigits] p [sign] digits`.
///
/// Rounds the mantissa once when it has more than 16 significant hex digits and does not keep a
/// sticky bit for the digits dropped beyond that; such literals do not occur in test scripts.
fn parse_hex_float(b: &[u8]) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut pos = 0;
    let mut seen_dot = false;
    while let Some(&c) = b.get(pos) {
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = char::from(c).to_digit(16) {
            digits += 1;
            if mantissa >> 60 == 0 {
                mantissa = (mantissa << 4) | u64::from(d);
                if seen_dot {
                    exp -= 4;
                }
            } else if !seen_dot {
                exp += 4;
            }
        } else {
            break;
        }
        pos += 1;
    }
    if digits == 0 || b.get(pos).is_none_or(|c| c | 0x20 != b'p') {
        return None;
    }
    let exp_text = std::str::from_utf8(b.get(pos + 1..)?).ok()?;
    let (exp_neg, exp_digits) = split_sign(exp_text);
    if exp_digits.is_empty() || !exp_digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Saturate: anything this large is an overflow or an underflow either way.
    let e: i64 = exp_digits.parse().unwrap_or(100_000).min(100_000);
    exp += if exp_neg { -e } else { e };
    let mut value = mantissa as f64;
    // Scale in steps so that intermediate powers stay finite and non-zero.
    while exp > 0 && value.is_finite() && value != 0.0 {
        let step = exp.min(1000);
        value *= 2f64.powi(step as i32);
        exp -= step;
    }
    while exp < 0 && value != 0.0 {
        let step = exp.max(-1000);
        value *= 2f64.powi(step as i32);
        exp -= step;
    }
    Some(value)
}

/// How a single-quoted string is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quotes {
    /// PromQL's reading: `'…'` is a string like `"…"` (label values in series lines).
    PromQl,
    /// Go's `strconv.Unquote`: `'…'` is a rune literal holding exactly one character
    /// (`expect string`).
    Go,
}

/// Removes the quotes around `s` and resolves its escapes: `"…"` and `'…'` with Go's escapes,
/// `` `…` `` raw. Escapes that produce bytes (`\xHH`, octal) must add up to valid UTF-8.
pub(crate) fn unquote(s: &str, mode: Quotes) -> Result<String, &'static str> {
    let mut chars = s.chars();
    let (Some(open), Some(close)) = (chars.next(), chars.next_back()) else {
        return Err("a quoted string needs an opening and a closing quote");
    };
    let body = chars.as_str();
    if open != close || !matches!(open, '"' | '\'' | '`') {
        return Err("a string must be enclosed in matching \", ' or ` quotes");
    }
    if open == '`' {
        if body.contains('`') {
            return Err("a raw string cannot contain a backquote");
        }
        return Ok(body.chars().filter(|&c| c != '\r').collect());
    }
    if body.contains('\n') {
        return Err("a quoted string cannot span lines");
    }
    let rune_literal = open == '\'' && mode == Quotes::Go;
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut rest = body.chars();
    let mut count = 0usize;
    while let Some(c) = rest.next() {
        count += 1;
        if c == open {
            return Err("unescaped quote inside a string");
        }
        if c != '\\' {
            push_char(&mut out, c);
            continue;
        }
        let esc = rest.next().ok_or("escape sequence not terminated")?;
        let simple = match esc {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '\'' | '"' if esc == open => Some(esc),
            _ => None,
        };
        if let Some(ch) = simple {
            push_char(&mut out, ch);
            continue;
        }
        let (len, radix, byte_valued) = match esc {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => return Err("unknown escape sequence"),
        };
        let mut value: u32 = if radix == 8 {
            esc.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..len {
            let d = rest
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or("invalid character in escape sequence")?;
            value = value.saturating_mul(radix).saturating_add(d);
        }
        if byte_valued {
            let byte = u8::try_from(value).map_err(|_| "octal escape value above 255")?;
            if rune_literal {
                push_char(&mut out, char::from(byte));
            } else {
                out.push(byte);
            }
        } else {
            let ch =
                char::from_u32(value).ok_or("escape sequence is an invalid Unicode code point")?;
            push_char(&mut out, ch);
        }
    }
    if rune_literal && count != 1 {
        return Err("a single-quoted literal must hold exactly one character");
    }
    String::from_utf8(out).map_err(|_| "escapes produce invalid UTF-8")
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1ms"), Ok(1));
        assert_eq!(parse_duration("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration("1h30m"), Ok(90 * 60_000));
        assert_eq!(parse_duration("3m0s"), Ok(180_000));
        assert_eq!(parse_duration("1y1w1d"), Ok((365 + 7 + 1) * DAY));
        assert_eq!(parse_duration("1111111s"), Ok(1_111_111_000));
        for bad in [
            "", "1", "00", "m", "1.5m", "30m1h", "1m1m", "1M", "1x", "-1m", "1m ", "1msx",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        // i64 nanoseconds hold ~292 years.
        assert!(parse_duration("292y").is_ok());
        assert!(parse_duration("293y").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("-1m"), Ok(-60_000));
        assert_eq!(parse_time("1m30s"), Ok(90_000));
        assert!(parse_time("--1m").is_err());
        assert!(parse_time("+1m").is_err());
    }

    #[test]
    fn go_numbers() {
        let n = |s| parse_go_number(s);
        assert_eq!(n("3"), Some(3.0));
        assert_eq!(n("-5"), Some(-5.0));
        assert_eq!(n("0x10"), Some(16.0));
        assert_eq!(n("0X1f"), Some(31.0));
        assert_eq!(n("010"), Some(8.0), "leading zero is octal");
        assert_eq!(n("09"), Some(9.0), "not octal, so read as a float");
        assert_eq!(n("0o17"), Some(15.0));
        assert_eq!(n("0b101"), Some(5.0));
        assert_eq!(n("1_000"), Some(1000.0));
        assert_eq!(n("0x_1F"), Some(31.0));
        assert_eq!(n("1_000.5"), Some(1000.5));
        assert_eq!(n("0.2"), Some(0.2));
        assert_eq!(n(".5"), Some(0.5));
        assert_eq!(n("2."), Some(2.0));
        assert_eq!(n("1e3"), Some(1000.0));
        assert_eq!(n("12.34e-6"), Some(12.34e-6));
        assert_eq!(n("1E+2"), Some(100.0));
        assert_eq!(
            n("99999999999999999999"),
            Some(1e20),
            "int overflow falls back to float"
        );
        assert_eq!(n("0x1p-2"), Some(0.25));
        assert_eq!(n("0x1.8p1"), Some(3.0));
        assert_eq!(n("Inf"), Some(f64::INFINITY));
        assert_eq!(n("+inf"), Some(f64::INFINITY));
        assert_eq!(n("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(n("NaN").map(f64::to_bits), Some(normal_nan().to_bits()));
        for bad in [
            "", "-", "_1", "1_", "1__0", "1._5", "0x", "0x1.8", "1e", "1e+", ".", "e5", "-NaN",
            "+nan", "1e400", "1 2", "1a", "0b2", "x1",
        ] {
            assert_eq!(n(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn repetitions() {
        assert_eq!(parse_repetition("0"), Some(0));
        assert_eq!(parse_repetition("007"), Some(7));
        assert_eq!(parse_repetition("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+1", "-1", "1_0", "1e3", "3.0", "18446744073709551616"] {
            assert_eq!(parse_repetition(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn strings() {
        let p = |s| unquote(s, Quotes::PromQl);
        assert_eq!(p(r#""a\"b""#).as_deref(), Ok("a\"b"));
        assert_eq!(p(r"'it\'s'").as_deref(), Ok("it's"));
        assert_eq!(p(r#""\n\t\\""#).as_deref(), Ok("\n\t\\"));
        assert_eq!(p(r#""\u00e9\U0001F600""#).as_deref(), Ok("é😀"));
        assert_eq!(p(r#""\xc3\xa9\303\251""#).as_deref(), Ok("éé"));
        assert_eq!(p("`a\\nb`").as_deref(), Ok("a\\nb"));
        assert_eq!(p("'two chars'").as_deref(), Ok("two chars"));
        for bad in [
            "",
            "\"",
            "\"abc",
            "'a\"",
            r#""\'""#,
            r#""\q""#,
            r#""\xff""#,
            r#""\400""#,
            r#""\ud800""#,
            r#""a"b""#,
            "`a`b`",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
        let g = |s| unquote(s, Quotes::Go);
        assert_eq!(g("' Foo '").ok(), None, "Go rune literal holds one char");
        assert_eq!(g("'x'").as_deref(), Ok("x"));
        assert_eq!(g(r"'\xff'").as_deref(), Ok("ÿ"));
        assert_eq!(g(r#""""#).as_deref(), Ok(""));
        assert_eq!(g("` Foo `").as_deref(), Ok(" Foo "));
    }
}
