//! The token grammar shared by both formats, as nom parsers over bytes.
//!
//! Every parser takes the whole remaining input (not just the current line), so the length of
//! what is left after an error gives its byte offset without copying anything. Errors carry
//! that length and what was expected; [`crate::parser`] turns them into positioned
//! [`crate::ParseError`]s. UTF-8 is validated by the caller once per span (the series text,
//! a HELP text), not per token.

use nom::IResult;
use nom::bytes::complete::{take_till1, take_while};

use crate::error::ErrorKind;

/// A grammar error: how much input was left where it happened, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrammarError {
    pub rest_len: usize,
    pub kind: GrammarErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrammarErrorKind {
    /// The grammar wanted this; what was found is read off the input by the caller.
    Expected(&'static str),
    /// A fully formed error kind.
    Kind(ErrorKind),
}

impl<'a> nom::error::ParseError<&'a [u8]> for GrammarError {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        GrammarError {
            rest_len: input.len(),
            kind: GrammarErrorKind::Expected("valid input"),
        }
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, GrammarError>;

/// Fails at `at`, saying what was expected there.
#[inline]
pub(crate) fn expected<'a, T>(at: &'a [u8], what: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(GrammarError {
        rest_len: at.len(),
        kind: GrammarErrorKind::Expected(what),
    }))
}

#[inline]
pub(crate) fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

#[inline]
pub(crate) fn is_metric_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

#[inline]
pub(crate) fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

#[inline]
pub(crate) fn is_label_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Zero or more spaces and tabs (the Prometheus text format's separators).
#[inline]
pub(crate) fn blanks(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while(is_blank)(i)
}

/// A legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[inline]
pub(crate) fn metric_name(i: &[u8]) -> PResult<'_, &[u8]> {
    match i.first() {
        Some(&c) if is_metric_name_start(c) => take_while(is_metric_name_char)(i),
        _ => expected(i, "metric name"),
    }
}

/// A legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
#[inline]
pub(crate) fn label_name(i: &[u8]) -> PResult<'_, &[u8]> {
    match i.first() {
        Some(&c) if is_label_name_start(c) => take_while(is_label_name_char)(i),
        _ => expected(i, "label name"),
    }
}

/// The contents of a double-quoted string, without the quotes, and whether it holds a
/// backslash escape. Any byte but `"`, `\` and newline stands for itself; a backslash may
/// escape any byte but newline (unknown escapes are kept verbatim when unescaping, as
/// Prometheus does).
#[inline]
pub(crate) fn quoted(i: &[u8]) -> PResult<'_, (&[u8], bool)> {
    if i.first() != Some(&b'"') {
        return expected(i, "'\"'");
    }
    let body = &i[1..];
    let mut escaped = false;
    let mut k = 0;
    while let Some(&c) = body.get(k) {
        match c {
            b'"' => return Ok((&body[k + 1..], (&body[..k], escaped))),
            b'\\' => match body.get(k + 1) {
                Some(b'\n') | None => return expected(&body[k + 1..], "escaped character"),
                Some(_) => {
                    escaped = true;
                    k += 2;
                }
            },
            b'\n' => return expected(&body[k..], "closing '\"'"),
            _ => k += 1,
        }
    }
    expected(&body[k..], "closing '\"'")
}

/// A value or timestamp token: everything up to a space, tab or newline.
#[inline]
pub(crate) fn text_token(i: &[u8]) -> PResult<'_, &[u8]> {
    take_till1(|c| c == b' ' || c == b'\t' || c == b'\n')(i)
}

/// A value or timestamp token in OpenMetrics: everything up to a space or newline.
#[inline]
pub(crate) fn om_token(i: &[u8]) -> PResult<'_, &[u8]> {
    take_till1(|c| c == b' ' || c == b'\n')(i)
}

/// Parses a float as Prometheus's text parser does (Go's `strconv.ParseFloat`): decimal
/// notation with optional sign, fraction and exponent; `Inf`/`Infinity` with optional sign and
/// `NaN` without, case-insensitively. A parsed NaN is Prometheus's normal NaN.
#[inline]
pub(crate) fn parse_float(tok: &[u8]) -> Option<f64> {
    // Fast path: short unsigned or negative integers, the bulk of real payloads.
    if let Some(v) = parse_small_int(tok) {
        return Some(v);
    }
    let s = std::str::from_utf8(tok).ok()?;
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.eq_ignore_ascii_case("nan") {
        // Go accepts no sign on NaN.
        return (body.len() == s.len()).then(prom_model::value::normal_nan);
    }
    if !(body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity")) {
        // Rust also accepts these words, which Go spells the same; beyond them only digits,
        // '.', 'e', 'E' and signs may appear.
        if !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
    }
    s.parse::<f64>().ok()
}

/// An integer of at most 15 digits, optionally negative, converted exactly.
#[inline]
fn parse_small_int(tok: &[u8]) -> Option<f64> {
    let (neg, digits) = match tok.first() {
        Some(b'-') => (true, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    // Exact: n < 10^15 < 2^53.
    #[allow(clippy::cast_precision_loss)]
    let v = n as f64;
    Some(if neg { -v } else { v })
}

/// Whether `tok` is an OpenMetrics `realnumber`:
/// `[sign] (1*DIGIT ["." *DIGIT] / *DIGIT "." 1*DIGIT) ["e" [sign] 1*DIGIT]`.
pub(crate) fn is_om_realnumber(tok: &[u8]) -> bool {
    let mut k = usize::from(matches!(tok.first(), Some(b'+' | b'-')));
    let int_start = k;
    while tok.get(k).is_some_and(u8::is_ascii_digit) {
        k += 1;
    }
    let int_digits = k - int_start;
    let mut frac_digits = 0;
    if tok.get(k) == Some(&b'.') {
        k += 1;
        let f = k;
        while tok.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        frac_digits = k - f;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(tok.get(k), Some(b'e' | b'E')) {
        k += 1;
        if matches!(tok.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let e = k;
        while tok.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        if k == e {
            return false;
        }
    }
    k == tok.len()
}

/// Parses an OpenMetrics `number`: a realnumber, `[sign] inf/infinity` or `nan`, all
/// case-insensitive.
pub(crate) fn parse_om_number(tok: &[u8]) -> Option<f64> {
    if is_om_realnumber(tok) {
        return parse_float(tok);
    }
    let body = match tok.first() {
        Some(b'+' | b'-') => &tok[1..],
        _ => tok,
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(if tok[0] == b'-' {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if tok.eq_ignore_ascii_case(b"nan") {
        return Some(prom_model::value::normal_nan());
    }
    None
}

/// Parses a Prometheus text-format timestamp: a signed decimal integer of milliseconds.
pub(crate) fn parse_text_timestamp(tok: &[u8]) -> Option<i64> {
    std::str::from_utf8(tok).ok()?.parse::<i64>().ok()
}

/// Parses an OpenMetrics timestamp (a realnumber of seconds) into milliseconds: exactly when
/// the number has at most three fractional digits and no exponent, otherwise by float
/// arithmetic truncated toward zero, as Prometheus does. A valid number beyond the range of
/// i64 milliseconds saturates (the format allows any realnumber; Prometheus converts with an
/// unchecked cast).
pub(crate) fn parse_om_timestamp(tok: &[u8]) -> Option<i64> {
    if !is_om_realnumber(tok) {
        return None;
    }
    if !tok.iter().any(|&c| c == b'e' || c == b'E') {
        let (neg, body) = match tok.first() {
            Some(b'-') => (true, &tok[1..]),
            Some(b'+') => (false, &tok[1..]),
            _ => (false, tok),
        };
        let (int, frac) = match body.iter().position(|&c| c == b'.') {
            Some(p) => (&body[..p], &body[p + 1..]),
            None => (body, &body[..0]),
        };
        if frac.len() <= 3 && int.len() <= 15 {
            let mut ms: i64 = 0;
            for &c in int {
                ms = ms * 10 + i64::from(c - b'0');
            }
            for k in 0..3 {
                ms = ms * 10 + frac.get(k).map_or(0, |&c| i64::from(c - b'0'));
            }
            return Some(if neg { -ms } else { ms });
        }
    }
    let secs = parse_float(tok)?;
    // `as` saturates at the i64 bounds; a realnumber is never NaN, and one too large for f64
    // parses as infinity, which saturates too.
    #[allow(clippy::cast_possible_truncation)]
    Some((secs * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_len<T>(r: PResult<'_, T>) -> usize {
        match r {
            Err(nom::Err::Error(e)) => e.rest_len,
            _ => panic!("expected an error"),
        }
    }

    #[test]
    fn metric_names() {
        assert_eq!(
            metric_name(b"foo:bar_1{").unwrap(),
            (&b"{"[..], &b"foo:bar_1"[..])
        );
        assert_eq!(metric_name(b"_x 1").unwrap().1, b"_x");
        assert_eq!(rest_len(metric_name(b"1abc")), 4);
        assert_eq!(rest_len(metric_name(b"")), 0);
    }

    #[test]
    fn label_names_reject_colon_and_digit_start() {
        assert_eq!(label_name(b"a_1=").unwrap().1, b"a_1");
        assert_eq!(
            label_name(b"a:b").unwrap().1,
            b"a",
            "colon ends a label name"
        );
        assert_eq!(rest_len(label_name(b"9a")), 2);
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(
            quoted(br#""abc" x"#).unwrap(),
            (&b" x"[..], (&b"abc"[..], false))
        );
        assert_eq!(
            quoted(br#""a\"b\\c\nd" x"#).unwrap().1,
            (&br#"a\"b\\c\nd"#[..], true)
        );
        assert_eq!(quoted(br#""""#).unwrap().1, (&b""[..], false));
        // Unterminated: the error points at the newline.
        assert_eq!(rest_len(quoted(b"\"ab\ncd")), 3);
        assert_eq!(rest_len(quoted(b"\"ab")), 0);
        // Backslash before newline or end.
        assert_eq!(rest_len(quoted(b"\"a\\\n\"")), 2);
        assert_eq!(rest_len(quoted(b"x")), 1);
    }

    #[test]
    fn floats_like_go() {
        for (s, v) in [
            ("1", 1.0),
            ("-1", -1.0),
            ("+1.5", 1.5),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            (".5", 0.5),
            ("5.", 5.0),
            ("Inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("123456789012345678", 123_456_789_012_345_680.0),
        ] {
            assert_eq!(parse_float(s.as_bytes()), Some(v), "{s}");
        }
        let nan = parse_float(b"NaN").unwrap();
        assert_eq!(nan.to_bits(), prom_model::value::NORMAL_NAN_BITS);
        assert_eq!(parse_float(b"nan").map(f64::to_bits), Some(nan.to_bits()));
        for bad in [
            "", "+NaN", "-nan", "1_000", "0x10", "abc", "1e", "--1", "1.2.3", "٣",
        ] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn om_realnumbers() {
        for ok in ["0", "0042", "1.", ".5", "-1.5e-7", "+3E+2", "1e5"] {
            assert!(is_om_realnumber(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", ".", "+", "e5", "1e", "1e+", "1.2.3", "Inf", "0x1", "1_0", " 1",
        ] {
            assert!(!is_om_realnumber(bad.as_bytes()), "{bad}");
        }
        assert_eq!(parse_om_number(b"+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_om_number(b"-infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_om_number(b"NaN").unwrap().is_nan());
        assert_eq!(parse_om_number(b"+NaN"), None);
        assert_eq!(parse_om_number(b"0x1p3"), None);
    }

    #[test]
    fn om_timestamps_are_exact_to_the_millisecond() {
        assert_eq!(
            parse_om_timestamp(b"1520879607.789"),
            Some(1_520_879_607_789)
        );
        assert_eq!(parse_om_timestamp(b"1520879607"), Some(1_520_879_607_000));
        assert_eq!(parse_om_timestamp(b"-1.5"), Some(-1500));
        assert_eq!(parse_om_timestamp(b"0.001"), Some(1));
        assert_eq!(parse_om_timestamp(b"1.5e3"), Some(1_500_000));
        assert_eq!(parse_om_timestamp(b"1.0005"), Some(1000));
        assert_eq!(parse_om_timestamp(b"NaN"), None);
        assert_eq!(parse_om_timestamp(b"Inf"), None);
        assert_eq!(parse_om_timestamp(b"1e300"), Some(i64::MAX));
        assert_eq!(
            parse_om_timestamp(b"-12345678901234567890.5"),
            Some(i64::MIN)
        );
    }

    #[test]
    fn text_timestamps() {
        assert_eq!(parse_text_timestamp(b"-12"), Some(-12));
        assert_eq!(parse_text_timestamp(b"+12"), Some(12));
        assert_eq!(parse_text_timestamp(b"1.5"), None);
        assert_eq!(parse_text_timestamp(b"99999999999999999999"), None);
    }
}
