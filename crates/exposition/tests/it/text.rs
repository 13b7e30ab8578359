//! The Prometheus text format, rule by rule: valid forms with the exact entries they yield,
//! invalid forms with the exact error position.

use std::borrow::Cow;

use prom_exposition::{Entry, Format, Parser};
use prom_model::MetricType;

use crate::support::{first_error, flat, is_valid, samples};

const T: Format = Format::Text;

#[test]
fn plain_sample_with_labels_and_timestamp() {
    assert_eq!(
        samples(
            "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n",
            T
        ),
        vec![flat(
            "http_requests_total",
            &[("method", "post"), ("code", "200")],
            1027.0,
            Some(1_395_066_363_000)
        )]
    );
}

#[test]
fn whitespace_is_lenient_as_in_prometheus() {
    let want = vec![flat("a", &[("b", "c")], 1.0, Some(5))];
    for input in [
        "a{b=\"c\"} 1 5\n",
        "a {b=\"c\"} 1 5\n",
        "a{ b = \"c\" }\t1\t5  \n",
        "a{b=\"c\",} 1 5\n",
        "a { b = \"c\" , } 1 5\n",
        "  a{b=\"c\"} 1 5\n",
        "a{b=\"c\"} 1 5",
    ] {
        assert_eq!(samples(input, T), want, "{input:?}");
    }
}

#[test]
fn blank_lines_and_comments_are_skipped() {
    let input = "\n# just a comment\n#HELPER not help\n\t\na 1\n# EOF\n";
    let entries: Vec<_> = Parser::text(input.as_bytes()).map(Result::unwrap).collect();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0], Entry::Comment(" just a comment"));
    assert_eq!(entries[1], Entry::Comment("HELPER not help"));
    assert!(matches!(&entries[2], Entry::Sample(s) if s.name == "a" && s.line == 5));
    assert_eq!(entries[3], Entry::Comment(" EOF"));
}

#[test]
fn help_unescapes_backslash_and_newline_only() {
    let input = "# HELP m a\\\\b\\nc\\\"d \n";
    let e = Parser::text(input.as_bytes()).next().unwrap().unwrap();
    assert_eq!(
        e,
        Entry::Help {
            family: Cow::Borrowed("m"),
            help: Cow::Owned("a\\b\nc\\\"d ".to_owned()),
        }
    );
    // Empty help, and HELP with extra spaces keeps them in the text.
    let e = Parser::text(b"# HELP m\n").next().unwrap().unwrap();
    assert_eq!(
        e,
        Entry::Help {
            family: "m".into(),
            help: "".into()
        }
    );
    let e = Parser::text(b"#  HELP\tm   two\n").next().unwrap().unwrap();
    assert_eq!(
        e,
        Entry::Help {
            family: "m".into(),
            help: "  two".into()
        }
    );
}

#[test]
fn type_accepts_the_five_text_types() {
    for (word, t) in [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Unknown),
    ] {
        let input = format!("# TYPE m {word} \n");
        let e = Parser::text(input.as_bytes()).next().unwrap().unwrap();
        assert_eq!(
            e,
            Entry::Type {
                family: "m".into(),
                metric_type: t
            }
        );
    }
    assert_eq!(
        first_error("# TYPE m info\n", T),
        (1, 10, "invalid metric type \"info\"".into())
    );
    assert_eq!(
        first_error("# TYPE m\n", T),
        (
            1,
            9,
            "expected space after metric name, found end of line".into()
        )
    );
}

#[test]
fn special_values() {
    let s = samples("a +Inf\nb -Inf\nc NaN\nd -0\ne 1e-3\nf .5\n", T);
    let vals: Vec<u64> = s.iter().map(|x| x.2).collect();
    assert_eq!(
        vals,
        vec![
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            prom_model::value::NORMAL_NAN_BITS,
            (-0.0f64).to_bits(),
            0.001f64.to_bits(),
            0.5f64.to_bits()
        ]
    );
}

#[test]
fn label_values_unescape() {
    assert_eq!(
        samples(r#"a{b="x\"y\\z\nw\t"} 1"#, T),
        vec![flat("a", &[("b", "x\"y\\z\nw\\t")], 1.0, None)]
    );
    // Label values may hold any UTF-8, including '}' ',' '=' and '#'.
    assert_eq!(
        samples("a{b=\"}{,=# é\"} 1\n", T),
        vec![flat("a", &[("b", "}{,=# é")], 1.0, None)]
    );
}

#[test]
fn quoted_utf8_names() {
    assert_eq!(
        samples("{\"my.metric\", \"label.x\"=\"v\", y=\"z\"} 1\n", T),
        vec![flat(
            "my.metric",
            &[("label.x", "v"), ("y", "z")],
            1.0,
            None
        )]
    );
    assert_eq!(
        samples("{\"a\\\"b\"} 2\n", T),
        vec![flat("a\"b", &[], 2.0, None)]
    );
    // The quoted name may come after labels.
    assert_eq!(
        samples("{x=\"1\", \"my.metric\"} 3\n", T),
        vec![flat("my.metric", &[("x", "1")], 3.0, None)]
    );
    let e = Parser::text(b"# TYPE \"my.metric\" gauge\n")
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        e,
        Entry::Type {
            family: "my.metric".into(),
            metric_type: MetricType::Gauge
        }
    );
    assert_eq!(
        first_error("a{\"b\"} 1\n", T),
        (1, 3, "sample has more than one metric name".into())
    );
    assert_eq!(
        first_error("{\"a\", \"b\"} 1\n", T),
        (1, 7, "sample has more than one metric name".into())
    );
    assert_eq!(
        first_error("{x=\"1\"} 1\n", T),
        (1, 1, "sample has no metric name".into())
    );
}

#[test]
fn series_text_is_the_raw_name_and_labels() {
    let mut p = Parser::text(b"a{b=\"c\"}  1\n");
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!()
    };
    assert_eq!(s.series, "a{b=\"c\"}");
}

#[test]
fn errors_point_at_the_offending_byte() {
    for (input, want) in [
        ("a{b=\"c\"} x\n", (1, 10, "invalid number \"x\"")),
        ("a 1 1.5\n", (1, 5, "invalid timestamp \"1.5\"")),
        ("a 1 2 3\n", (1, 7, "expected end of line, found \"3\"")),
        (
            "ok 1\na{b=c} 1\n",
            (
                2,
                5,
                "expected '\"' starting the label value, found \"c} 1\"",
            ),
        ),
        (
            "a{b=\"c\" =\"e\"} 1\n",
            (1, 9, "expected ',' or '}', found \"=\\\"e\\\"} 1\""),
        ),
        (
            "a{1=\"c\"} 1\n",
            (1, 3, "expected label name, found \"1=\\\"c\\\"} 1\""),
        ),
        (
            "a{b} 1\n",
            (1, 4, "expected '=' after label name, found \"} 1\""),
        ),
        (
            "a{b=\"c\n",
            (1, 7, "expected closing '\"', found end of line"),
        ),
        (
            "a\n",
            (
                1,
                2,
                "expected '{' or space after metric name, found end of line",
            ),
        ),
        ("a{} \n", (1, 5, "expected value, found end of line")),
        ("1a 1\n", (1, 1, "expected metric name, found \"1a 1\"")),
        (
            "a{b=\"1\",b=\"2\"} 1\n",
            (1, 9, "duplicate label name \"b\""),
        ),
        (
            "a 1 # {x=\"y\"} 1\n",
            (1, 5, "exemplars are only allowed in OpenMetrics"),
        ),
        (
            "a{b=\"\\",
            (1, 7, "expected escaped character, found end of input"),
        ),
        ("a{,} 1\n", (1, 3, "expected label name, found \",} 1\"")),
        ("é 1\n", (1, 1, "expected metric name, found \"é 1\"")),
    ] {
        assert_eq!(
            first_error(input, T),
            (want.0, want.1, want.2.to_owned()),
            "{input:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_reported() {
    let input = b"a{b=\"\xff\"} 1\n";
    let err = Parser::text(input).find_map(Result::err).unwrap();
    assert_eq!((err.pos.line, err.pos.col), (1, 6));
    assert_eq!(err.kind.to_string(), "invalid UTF-8");
}

#[test]
fn parsing_continues_after_an_error() {
    let input = "a 1\nb{ 2\nc 3\nd x\ne 5\n";
    let (ok, errs): (Vec<_>, Vec<_>) = Parser::text(input.as_bytes()).partition(Result::is_ok);
    assert_eq!(ok.len(), 3);
    let lines: Vec<u32> = errs.into_iter().map(|e| e.unwrap_err().pos.line).collect();
    assert_eq!(lines, vec![2, 4]);
}

#[test]
fn carriage_returns_are_not_line_ends() {
    assert!(!is_valid("a 1\r\n", T));
}

#[test]
fn comma_between_labels_is_optional_as_in_prometheus() {
    let want = vec![flat("a", &[("q", "2.0"), ("b", "c")], 1.0, None)];
    assert_eq!(samples("a { q = \"2.0\" b = \"c\" } 1\n", T), want);
    assert_eq!(samples("a{q=\"2.0\"b=\"c\"} 1\n", T), want);
    // OpenMetrics requires the comma.
    assert!(!is_valid(
        "a{q=\"2.0\" b=\"c\"} 1\n# EOF\n",
        Format::OpenMetrics
    ));
}

#[test]
fn go_float_syntax_extensions_are_rejected() {
    // Prometheus rejects underscores and hex floats in sample values and timestamps.
    for bad in [
        "foo 1_2\n",
        "foo 0x1p-3\n",
        "foo 0x1P-3\n",
        "foo 0 1_2\n",
        "a true\n",
    ] {
        assert!(!is_valid(bad, T), "{bad:?}");
    }
}

#[test]
fn duplicate_labels_are_found_after_unescaping() {
    // `\q` is kept as written and `\\q` decodes to the same two characters.
    assert_eq!(
        first_error("a{\"\\q\"=\"1\",\"\\\\q\"=\"2\"} 1\n", T),
        (1, 12, "duplicate label name \"\\\\q\"".into())
    );
    assert!(!is_valid(
        "a{\"\\q\"=\"1\",\"\\\\q\"=\"2\"} 1\n# EOF\n",
        Format::OpenMetrics
    ));
    assert!(is_valid("a{\"\\q\"=\"1\",\"\\\\r\"=\"2\"} 1\n", T));
}
