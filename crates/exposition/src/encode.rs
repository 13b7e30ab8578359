//! Encoders: metric families to the Prometheus text format or OpenMetrics text.
//!
//! Numbers are written as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes them (the shortest
//! text that reads back to the same float, exponent form outside 1e-4 ≤ |v| < 1e6), with
//! `+Inf`, `-Inf` and `NaN`, so output matches what Prometheus and its client libraries
//! write. Names that are not valid legacy names are written in the quoted form.

use std::fmt::Write as _;

use prom_model::{MetricType, is_valid_legacy_label_name, is_valid_legacy_metric_name};

use crate::family::{MetricFamily, OwnedSample};
use crate::negotiate::Format;

/// Encodes `families` in `format`.
pub fn encode(format: Format, families: &[MetricFamily]) -> String {
    match format {
        Format::Text => encode_text(families),
        Format::OpenMetrics => encode_openmetrics(families),
    }
}

/// Encodes `families` in the Prometheus text format. Exemplars and units have no place in
/// that format and are left out; OpenMetrics-only types are written as `untyped`. A family of
/// unknown type without HELP gets no metadata lines, only its samples.
pub fn encode_text(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        if let Some(help) = &f.help {
            start_meta(&mut out, "HELP", &f.name);
            escape_into(&mut out, help, false);
            out.push('\n');
        }
        // `untyped` says nothing a reader would not assume, and a family whose samples come
        // back later (an untyped name interleaved with others) may not repeat its TYPE line.
        // So TYPE is written for declared types, and beside HELP as clients do.
        if f.metric_type != MetricType::Unknown || f.help.is_some() {
            start_meta(&mut out, "TYPE", &f.name);
            out.push_str(f.metric_type.as_text_str().unwrap_or("untyped"));
            out.push('\n');
        }
        for s in &f.samples {
            write_series(&mut out, s);
            out.push(' ');
            write_float(&mut out, s.value);
            if let Some(t) = s.timestamp {
                let _ = write!(out, " {t}");
            }
            out.push('\n');
        }
    }
    out
}

/// Encodes `families` as OpenMetrics text, ending with `# EOF`.
///
/// A counter family read from the text format carries its samples' name (`x_total`); in
/// OpenMetrics the family is `x` and its samples `x_total`, so the suffix moves off the family
/// name, and a counter sample without it (`x` in the text format) gets it, as client libraries
/// write counters in both formats.
pub fn encode_openmetrics(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        let counter = f.metric_type == MetricType::Counter;
        let family_name = match f.name.strip_suffix("_total") {
            Some(base) if counter => base,
            _ => f.name.as_str(),
        };
        let renamed;
        let f = if counter && family_name == f.name {
            // A counter named without `_total`: its plain samples need the suffix.
            let mut g = f.clone();
            for s in &mut g.samples {
                if s.name == f.name {
                    s.name.push_str("_total");
                }
            }
            renamed = g;
            &renamed
        } else {
            f
        };
        let f_name = family_name;
        start_meta(&mut out, "TYPE", f_name);
        out.push_str(f.metric_type.as_str());
        out.push('\n');
        if let Some(unit) = f.unit.as_deref().filter(|u| !u.is_empty()) {
            start_meta(&mut out, "UNIT", f_name);
            out.push_str(unit);
            out.push('\n');
        }
        if let Some(help) = &f.help {
            start_meta(&mut out, "HELP", f_name);
            escape_into(&mut out, help, true);
            out.push('\n');
        }
        for s in &f.samples {
            write_series(&mut out, s);
            out.push(' ');
            write_float(&mut out, s.value);
            if let Some(t) = s.timestamp {
                out.push(' ');
                write_om_timestamp(&mut out, t);
            }
            if let Some(e) = &s.exemplar {
                out.push_str(" # {");
                write_labels(&mut out, &e.labels);
                out.push_str("} ");
                write_float(&mut out, e.value);
                if let Some(t) = e.timestamp {
                    out.push(' ');
                    write_om_timestamp(&mut out, t);
                }
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Starts a metadata line, `# KEYWORD name `; the caller writes the rest and the newline.
fn start_meta(out: &mut String, keyword: &str, name: &str) {
    out.push_str("# ");
    out.push_str(keyword);
    out.push(' ');
    write_metric_name(out, name);
    out.push(' ');
}

/// The series of `s` as the encoders write it: `name{a="1",b="2"}`, quoted where needed.
pub(crate) fn series_text(s: &OwnedSample) -> String {
    let mut out = String::new();
    write_series(&mut out, s);
    out
}

/// `name{labels}`, or `{"name", labels}` for a name that needs quoting.
fn write_series(out: &mut String, s: &OwnedSample) {
    if is_valid_legacy_metric_name(&s.name) {
        out.push_str(&s.name);
        if !s.labels.is_empty() {
            out.push('{');
            write_labels(out, &s.labels);
            out.push('}');
        }
    } else {
        out.push('{');
        write_quoted(out, &s.name);
        if !s.labels.is_empty() {
            out.push(',');
            write_labels(out, &s.labels);
        }
        out.push('}');
    }
}

fn write_labels(out: &mut String, labels: &[(String, String)]) {
    for (k, (name, value)) in labels.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        if is_valid_legacy_label_name(name) {
            out.push_str(name);
        } else {
            write_quoted(out, name);
        }
        out.push('=');
        write_quoted(out, value);
    }
}

fn write_metric_name(out: &mut String, name: &str) {
    if is_valid_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        write_quoted(out, name);
    }
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s, true);
    out.push('"');
}

/// Escapes `\` and newline, and `"` when `quote` (label values, quoted names, OpenMetrics HELP).
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Writes `v` as Go's `FormatFloat(v, 'g', -1, 64)` does, with `+Inf`, `-Inf`, `NaN`.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d[.ddd]e<exp>".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if v.is_sign_negative() {
        out.push('-');
    }
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
        return;
    }
    let dp = exp + 1;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..-dp {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..dp - nd {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Writes a millisecond timestamp as OpenMetrics seconds, exactly (`1520879607.789`).
fn write_om_timestamp(out: &mut String, ms: i64) {
    let a = ms.unsigned_abs();
    let sign = if ms < 0 { "-" } else { "" };
    if a.is_multiple_of(1000) {
        let _ = write!(out, "{sign}{}", a / 1000);
    } else {
        let _ = write!(out, "{sign}{}.{:03}", a / 1000, a % 1000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_are_written_like_go_g() {
        for (v, s) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.000_01, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e21, "1e+21"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (100.25, "100.25"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(g(v), s, "{v}");
        }
    }

    #[test]
    fn text_counters_become_valid_openmetrics() {
        let text = b"# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n# TYPE b counter\nb 4\n";
        let (families, errors) = crate::collect(crate::Parser::new(text, Format::Text));
        assert!(errors.is_empty());
        let om = encode_openmetrics(&families);
        assert_eq!(
            om,
            "# TYPE a counter\n# HELP a A.\na_total{x=\"1\"} 3\n# TYPE b counter\nb_total 4\n# EOF\n"
        );
        let (_, errors) = crate::collect(crate::Parser::new(om.as_bytes(), Format::OpenMetrics));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn om_timestamps_are_exact() {
        let mut s = String::new();
        for t in [0, 1500, -1500, 1_520_879_607_789, 1000, -1] {
            write_om_timestamp(&mut s, t);
            s.push(' ');
        }
        assert_eq!(s, "0 1.500 -1.500 1520879607.789 1 -0.001 ");
    }

    #[test]
    fn names_are_quoted_when_needed() {
        let f = MetricFamily {
            name: "my.metric".into(),
            metric_type: MetricType::Gauge,
            help: Some("a \"b\" \\ c\nd".into()),
            unit: None,
            line: 0,
            samples: vec![OwnedSample {
                name: "my.metric".into(),
                labels: vec![
                    ("label.x".into(), "v\"\n".into()),
                    ("ok".into(), "1".into()),
                ],
                value: 2.0,
                ..OwnedSample::default()
            }],
        };
        assert_eq!(
            encode_text(std::slice::from_ref(&f)),
            "# HELP \"my.metric\" a \"b\" \\\\ c\\nd\n# TYPE \"my.metric\" gauge\n{\"my.metric\",\"label.x\"=\"v\\\"\\n\",ok=\"1\"} 2\n"
        );
        assert_eq!(
            encode_openmetrics(std::slice::from_ref(&f)),
            "# TYPE \"my.metric\" gauge\n# HELP \"my.metric\" a \\\"b\\\" \\\\ c\\nd\n{\"my.metric\",\"label.x\"=\"v\\\"\\n\",ok=\"1\"} 2\n# EOF\n"
        );
    }
}
