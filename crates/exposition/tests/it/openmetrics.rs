//! OpenMetrics 1.0, rule by rule: the ABNF's strict grammar and the format's rules on
//! families, metrics and values.

use prom_exposition::{Entry, Format, Parser};
use prom_model::MetricType;

use crate::support::{first_error, flat, is_valid, samples};

const OM: Format = Format::OpenMetrics;

fn err(input: &str) -> (u32, u32, String) {
    first_error(input, OM)
}

#[test]
fn minimal_and_empty_expositions() {
    assert!(is_valid("# EOF\n", OM));
    assert!(is_valid("# EOF", OM));
    assert_eq!(
        err(""),
        (1, 1, "expected \"# EOF\" at the end of the input".into())
    );
    assert_eq!(
        err("a 1\n"),
        (2, 1, "expected \"# EOF\" at the end of the input".into())
    );
    assert_eq!(
        err("# EOF\n\n"),
        (2, 1, "unexpected data after \"# EOF\"".into())
    );
    assert_eq!(
        err("# EOF\na 1\n"),
        (2, 1, "unexpected data after \"# EOF\"".into())
    );
    assert_eq!(err("# EOF \n").0, 1);
}

#[test]
fn complete_family_with_metadata() {
    let input = "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds Some text and \\n some \\\" escaping\nfoo_seconds_total 17.0 1520879607.789\nfoo_seconds_created 1520430000.123 1520879607.789\n# EOF\n";
    let entries: Vec<Entry<'_>> = Parser::openmetrics(input.as_bytes())
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        entries[0],
        Entry::Type {
            family: "foo_seconds".into(),
            metric_type: MetricType::Counter
        }
    );
    assert_eq!(
        entries[1],
        Entry::Unit {
            family: "foo_seconds".into(),
            unit: "seconds"
        }
    );
    assert_eq!(
        entries[2],
        Entry::Help {
            family: "foo_seconds".into(),
            help: "Some text and \n some \" escaping".into()
        }
    );
    assert_eq!(
        samples(input, OM),
        vec![
            flat("foo_seconds_total", &[], 17.0, Some(1_520_879_607_789)),
            flat(
                "foo_seconds_created",
                &[],
                1_520_430_000.123,
                Some(1_520_879_607_789)
            ),
        ]
    );
}

#[test]
fn grammar_is_strict_about_spaces_and_commas() {
    for (input, want) in [
        ("a  1\n# EOF\n", (1, 3, "expected value, found \" 1\"")),
        (
            "a 1 \n# EOF\n",
            (1, 5, "expected timestamp or exemplar, found end of line"),
        ),
        (
            "a\t1\n# EOF\n",
            (1, 2, "expected ' ' before value, found \"\\t1\""),
        ),
        (
            " a 1\n# EOF\n",
            (1, 1, "expected metric name, found \" a 1\""),
        ),
        (
            "a{b=\"1\",} 1\n# EOF\n",
            (1, 9, "expected label name, found \"} 1\""),
        ),
        (
            "a{ b=\"1\"} 1\n# EOF\n",
            (1, 3, "expected label name, found \" b=\\\"1\\\"} 1\""),
        ),
        (
            "a{b =\"1\"} 1\n# EOF\n",
            (
                1,
                4,
                "expected '=' after label name, found \" =\\\"1\\\"} 1\"",
            ),
        ),
        (
            "a {b=\"1\"} 1\n# EOF\n",
            (1, 3, "invalid number \"{b=\\\"1\\\"}\""),
        ),
        (
            "\n# EOF\n",
            (
                1,
                1,
                "expected metric name or '#' (OpenMetrics has no blank lines), found end of line",
            ),
        ),
        (
            "# a comment\n# EOF\n",
            (
                1,
                1,
                "expected \"# TYPE \", \"# HELP \", \"# UNIT \" or \"# EOF\", found \"# a comment\"",
            ),
        ),
        (
            "#TYPE a gauge\n# EOF\n",
            (
                1,
                1,
                "expected \"# TYPE \", \"# HELP \", \"# UNIT \" or \"# EOF\", found \"#TYPE a gauge\"",
            ),
        ),
        (
            "# TYPE a  gauge\n# EOF\n",
            (1, 10, "invalid metric type \" gauge\""),
        ),
        (
            "# TYPE a gauge \n# EOF\n",
            (1, 10, "invalid metric type \"gauge \""),
        ),
        (
            "# TYPE a untyped\n# EOF\n",
            (1, 10, "invalid metric type \"untyped\""),
        ),
        (
            "# HELP a\n# EOF\n",
            (1, 9, "expected ' ' after metric name, found end of line"),
        ),
    ] {
        assert_eq!(err(input), (want.0, want.1, want.2.to_owned()), "{input:?}");
    }
}

#[test]
fn numbers_follow_the_abnf() {
    for ok in [
        "1", "-1.5", "1.", ".5", "1e3", "1E-3", "+Inf", "-inf", "Infinity", "NaN", "nan", "0042",
    ] {
        assert!(is_valid(&format!("a {ok}\n# EOF\n"), OM), "{ok}");
    }
    for bad in ["0x10", "1_000", "+NaN", "1e", "Inf1", "--1", "1.2.3"] {
        assert!(!is_valid(&format!("a {bad}\n# EOF\n"), OM), "{bad}");
    }
    for bad_ts in ["NaN", "Inf", "-Inf", "0x1", "1_0", "z"] {
        assert!(!is_valid(&format!("a 1 {bad_ts}\n# EOF\n"), OM), "{bad_ts}");
    }
}

#[test]
fn metadata_rules() {
    for (input, want) in [
        (
            "# TYPE a gauge\n# TYPE a gauge\n# EOF\n",
            "more than one # TYPE line for a",
        ),
        (
            "# HELP a x\n# HELP a y\n# EOF\n",
            "more than one # HELP line for a",
        ),
        (
            "# UNIT a_s s\n# UNIT a_s s\n# EOF\n",
            "more than one # UNIT line for a_s",
        ),
        (
            "# TYPE a gauge\na 1\n# HELP a x\n# EOF\n",
            "metadata for a must come before its samples",
        ),
        (
            "# TYPE a counter\n# UNIT a seconds\n# EOF\n",
            "the name of a must end with \"_seconds\", its unit",
        ),
        (
            "# TYPE a_u info\n# UNIT a_u u\n# EOF\n",
            "info a_u must not have a unit",
        ),
        (
            "# TYPE a_u stateset\n# UNIT a_u u\n# EOF\n",
            "stateset a_u must not have a unit",
        ),
    ] {
        assert_eq!(err(input).2, want, "{input:?}");
    }
    // An empty unit or help counts as none.
    assert!(is_valid(
        "# TYPE a gauge\n# UNIT a \n# HELP a \na 1\n# EOF\n",
        OM
    ));
    // A raw double quote in HELP must be escaped.
    assert_eq!(err("# HELP a say \"hi\"\n# EOF\n").1, 14);
}

#[test]
fn families_must_not_repeat_interleave_or_clash() {
    for (input, want) in [
        (
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n",
            (
                5,
                "metric family a appears twice, or clashes with the samples of an earlier family",
            ),
        ),
        (
            "a 1\nb 1\na 1\n# EOF\n",
            (
                3,
                "metric family a appears twice, or clashes with the samples of an earlier family",
            ),
        ),
        (
            "# TYPE a counter\na_total 1\n# TYPE a_created gauge\n# EOF\n",
            (
                3,
                "metric family a_created appears twice, or clashes with the samples of an earlier family",
            ),
        ),
        (
            "# TYPE a_total gauge\n# TYPE a counter\n# EOF\n",
            (
                3,
                "metric family a clashes with an earlier family over the name a_total",
            ),
        ),
    ] {
        let (line, _, msg) = err(input);
        assert_eq!((line, msg.as_str()), want, "{input:?}");
    }
}

#[test]
fn sample_names_carry_their_types_suffixes() {
    assert!(is_valid(
        "# TYPE a counter\na_total 1\na_created 1\n# EOF\n",
        OM
    ));
    assert_eq!(
        err("# TYPE a counter\na 1\n# EOF\n").2,
        "a counter sample must be named a followed by one of [\"_total\", \"_created\"]"
    );
    assert!(is_valid("# TYPE a info\na_info{x=\"y\"} 1\n# EOF\n", OM));
    assert!(!is_valid("# TYPE a info\na 1\n# EOF\n", OM));
    assert!(is_valid(
        "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gcount 1\na_gsum 1\n# EOF\n",
        OM
    ));
}

#[test]
fn metrics_must_be_contiguous_with_ordered_timestamps() {
    // The histogram form is invalid already at line 3 (a point without buckets).
    assert!(!is_valid(
        "# TYPE a histogram\na_sum{a=\"1\"} 0\na_sum{a=\"2\"} 0\na_count{a=\"1\"} 0\n# EOF\n",
        OM
    ));
    assert_eq!(
        err("# TYPE a summary\na_sum{a=\"1\"} 0\na_sum{a=\"2\"} 0\na_count{a=\"1\"} 0\n# EOF\n"),
        (4, 1, "samples of a_count{a=\"1\"} are interleaved with another metric's; each metric's samples must be contiguous".into())
    );
    // Label order does not make another metric.
    assert!(!is_valid(
        "a{x=\"1\",y=\"2\"} 1\na{y=\"3\"} 1\na{y=\"2\",x=\"1\"} 1\n# EOF\n",
        OM
    ));
    // Several points of one metric, in time order.
    assert!(is_valid(
        "# TYPE a summary\na_count{x=\"b\"} 0 123\na_sum{x=\"b\"} 0 123\na_count{x=\"b\"} 0 456\na_sum{x=\"b\"} 0 456\n# EOF\n",
        OM
    ));
    assert_eq!(
        err("# TYPE a summary\na_count 0 123\na_count 0 456\na_sum 0 123\n# EOF\n").2,
        "timestamps of a metric of a must not go backwards"
    );
    assert_eq!(
        err("a 1 1\na 2\n# EOF\n").2,
        "samples of one metric of a must all have a timestamp or none"
    );
    assert!(
        is_valid("a 1 1\na 2 1\n# EOF\n", OM),
        "equal timestamps are allowed"
    );
}

#[test]
fn value_rules() {
    for (input, want) in [
        (
            "# TYPE a counter\na_total -1\n# EOF\n",
            "counter a_total must be non-negative and not NaN, not -1",
        ),
        (
            "# TYPE a counter\na_total NaN\n# EOF\n",
            "counter a_total must be non-negative and not NaN, not NaN",
        ),
        (
            "# TYPE a info\na_info 2\n# EOF\n",
            "info a_info must have the value 1, not 2",
        ),
        (
            "# TYPE a stateset\na{a=\"x\"} 0.5\n# EOF\n",
            "stateset values must be 0 or 1, not 0.5",
        ),
        (
            "# TYPE a stateset\na{b=\"x\"} 1\n# EOF\n",
            "stateset a samples need a label named \"a\"",
        ),
        (
            "# TYPE a summary\na_count 1.5\n# EOF\n",
            "a_count must be a non-negative integer, not 1.5",
        ),
        (
            "# TYPE a summary\na{quantile=\"1.5\"} 1\n# EOF\n",
            "quantile \"1.5\" is not a number from 0 to 1",
        ),
        (
            "# TYPE a summary\na 1\n# EOF\n",
            "a summary's a sample needs a \"quantile\" label",
        ),
        (
            "# TYPE a summary\na_sum{quantile=\"0.5\"} 1\n# EOF\n",
            "a_sum must not have a \"quantile\" label",
        ),
    ] {
        assert_eq!(err(input).2, want, "{input:?}");
    }
    assert!(is_valid("# TYPE a counter\na_total +Inf\n# EOF\n", OM));
    assert!(is_valid(
        "# TYPE a summary\na{quantile=\"0.5\"} NaN\na_sum -3\na_count 2\n# EOF\n",
        OM
    ));
}

#[test]
fn histogram_rules() {
    let ok = "# TYPE a histogram\na_bucket{le=\"0.1\"} 1\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2.5\na_created 1\n# EOF\n";
    assert!(is_valid(ok, OM));
    for (input, want) in [
        (
            "# TYPE a histogram\na_bucket{le=\"1\"} 1\n# EOF\n",
            "histogram a has a point without a +Inf bucket",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"0.5\"} 1\na_bucket{le=\"+Inf\"} 1\n# EOF\n",
            "buckets of a must be in increasing le order; le \"0.5\" follows 1",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"1\"} 1\n# EOF\n",
            "buckets of a must be in increasing le order; le \"1\" follows 1",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n# EOF\n",
            "buckets of a are cumulative: 1 is below the previous bucket's 2",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1.5\n# EOF\n",
            "a bucket count must be a non-negative integer, not 1.5",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n",
            "a bucket count must be a non-negative integer, not -1",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"NaN\"} 1\n# EOF\n",
            "invalid le \"NaN\" in a_bucket",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"inf\"} 1\n# EOF\n",
            "infinite le must be written +Inf or -Inf, not \"inf\"",
        ),
        (
            "# TYPE a histogram\na_bucket 1\n# EOF\n",
            "a_bucket needs an \"le\" label",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 2\na_count 3\na_sum 1\n# EOF\n",
            "a_count is 3 but the +Inf bucket is 2; they must be equal",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 2\na_count 2\n# EOF\n",
            "a_count and a_sum must both be present or both absent",
        ),
        (
            "# TYPE a histogram\na_bucket{le=\"+Inf\"} 2\na_count 2\na_sum -1\n# EOF\n",
            "a_sum is negative but no bucket is below zero",
        ),
        (
            "# TYPE a histogram\na_count{le=\"1\"} 2\n# EOF\n",
            "a_count must not have a \"le\" label",
        ),
        (
            "# TYPE a histogram\na_sum NaN\n# EOF\n",
            "a_sum must not be NaN",
        ),
    ] {
        assert_eq!(err(input).2, want, "{input:?}");
    }
    // Negative buckets may come with a negative sum (client_golang writes this).
    assert!(is_valid(
        "# TYPE a histogram\na_bucket{le=\"-1\"} 1\na_bucket{le=\"+Inf\"} 2\na_sum -3\na_count 2\n# EOF\n",
        OM
    ));
    // Buckets restart for each metric.
    assert!(is_valid(
        "# TYPE a histogram\na_bucket{x=\"1\",le=\"1\"} 1\na_bucket{x=\"1\",le=\"+Inf\"} 1\na_bucket{x=\"2\",le=\"1\"} 0\na_bucket{x=\"2\",le=\"+Inf\"} 0\n# EOF\n",
        OM
    ));
}

#[test]
fn exemplars() {
    let input = "# TYPE foo histogram\nfoo_bucket{le=\"0.1\"} 8 # {} 0.054\nfoo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\nfoo_bucket{le=\"+Inf\"} 17 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n# EOF\n";
    let ex: Vec<_> = Parser::openmetrics(input.as_bytes())
        .filter_map(|e| match e.unwrap() {
            Entry::Sample(s) => s.exemplar.map(|x| (x.labels.len(), x.value, x.timestamp)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ex,
        vec![
            (0, 0.054, None),
            (1, 0.67, None),
            (1, 9.8, Some(1_520_879_607_789))
        ]
    );
    assert!(is_valid(
        "# TYPE a counter\na_total 1 123 # {x=\"y\"} 1 5\n# EOF\n",
        OM
    ));

    for (input, want) in [
        (
            "# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n",
            (
                1,
                "exemplars are allowed only on counter _total and histogram _bucket samples, not on a",
            ),
        ),
        (
            "# TYPE a counter\na_total 1 #{x=\"y\"} 1\n# EOF\n",
            (
                11,
                "expected \"# \" starting an exemplar, found \"#{x=\\\"y\\\"} 1\"",
            ),
        ),
        (
            "# TYPE a counter\na_total 1 # {x=\"y\"}\n# EOF\n",
            (
                20,
                "expected ' ' before the exemplar value, found end of line",
            ),
        ),
        (
            "# TYPE a counter\na_total 1 # {x=\"y\"} 1 NaN\n# EOF\n",
            (23, "invalid timestamp \"NaN\""),
        ),
        (
            "# TYPE a counter\na_total 1 # x 1\n# EOF\n",
            (
                13,
                "expected '{' starting the exemplar's labels, found \"x 1\"",
            ),
        ),
    ] {
        let (_, col, msg) = err(input);
        assert_eq!((col, msg.as_str()), want, "{input:?}");
    }
    // 128 characters of names and values are allowed, 129 are not; characters, not bytes.
    let v = "é".repeat(127);
    assert!(is_valid(
        &format!("# TYPE a counter\na_total 1 # {{x=\"{v}\"}} 1\n# EOF\n"),
        OM
    ));
    let v = "é".repeat(128);
    assert_eq!(
        err(&format!(
            "# TYPE a counter\na_total 1 # {{x=\"{v}\"}} 1\n# EOF\n"
        ))
        .2,
        "exemplar labels have 129 characters; at most 128 are allowed"
    );
}

#[test]
fn utf8_names_in_openmetrics() {
    assert_eq!(
        samples(
            "# TYPE \"a.b\" gauge\n{\"a.b\",\"c.d\"=\"e\"} 1\n# EOF\n",
            OM
        ),
        vec![flat("a.b", &[("c.d", "e")], 1.0, None)]
    );
}

#[test]
fn more_rejected_forms() {
    for input in [
        // Numbers in other radixes or with separators.
        "x 0b101\n# EOF\n",
        "x 0o17\n# EOF\n",
        "x 0X1F\n# EOF\n",
        "x 2_5\n# EOF\n",
        "x 1 +Inf\n# EOF\n",
        // Descriptors other than TYPE, HELP, UNIT, EOF; indented ones.
        "# NOTE x y\n# EOF\n",
        " # TYPE x gauge\n# EOF\n",
        // Doubled or missing separators in label sets.
        "x{p=\"1\",,q=\"2\"} 1\n# EOF\n",
        "x{p=\"1\"q=\"2\"} 1\n# EOF\n",
        "x{p} 1\n# EOF\n",
        "x{p=} 1\n# EOF\n",
        "x{p='1'} 1\n# EOF\n",
        // A type given twice, even a different one.
        "# TYPE x info\n# TYPE x counter\n# EOF\n",
        // Summary sums and counts.
        "# TYPE x summary\nx_sum NaN\n# EOF\n",
        "# TYPE x summary\nx_count -2\n# EOF\n",
        // Exemplars that do not follow the grammar.
        "# TYPE x counter\nx_total 1 # {p=\"q\"} 1 \n# EOF\n",
        "# TYPE x counter\nx_total 1 1 p=\"q\"} 1\n# EOF\n",
        "# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1 # {} 1 0x2\n# EOF\n",
        // Gauge points must go forward in time.
        "# TYPE x gauge\nx 0 2.5\nx 0 2\n# EOF\n",
    ] {
        assert!(!is_valid(input, OM), "{input:?}");
    }
}

#[test]
fn accepted_forms() {
    for input in [
        // Timestamps far beyond i64 milliseconds are valid realnumbers: they saturate.
        "# TYPE x counter\nx_total 1 98765432109876543210.5\n# EOF\n",
        // Leading zeros, huge integers, NUL bytes in HELP and label values.
        "x 000000000000000000000000000042.5e-1\n# EOF\n",
        "# TYPE x counter\nx_total 18446744073709551616\n# EOF\n",
        "# HELP x nul\0byte\nx{p=\"a\0b\"} 1\n# EOF\n",
        // '#', '{', '}' inside label values, also in exemplars.
        "# TYPE x counter\nx_total{p=\"} # {\"} 1 # {q=\"a # b\"} 2\n# EOF\n",
        // Sub-millisecond steps collapse to equal timestamps, which is allowed.
        "x 1 0.0000001\nx 2 0.0000002\n# EOF\n",
        // Deliberate deviations from the specification, for real client_golang payloads
        // (see docs/exposition.md): negative summary sums and quantile values, and a sum
        // beside negative buckets.
        "# TYPE x summary\nx{quantile=\"0.5\"} -1\nx_sum -3\nx_count 2\n# EOF\n",
        "# TYPE x histogram\nx_bucket{le=\"-1\"} 0\nx_bucket{le=\"+Inf\"} 0\nx_sum 0\nx_count 0\n# EOF\n",
    ] {
        assert!(is_valid(input, OM), "{input:?}");
    }
    let huge = samples("x 1 98765432109876543210.5\n# EOF\n", OM);
    assert_eq!(huge[0].3, Some(i64::MAX));
}
