//! What the parser reads back equals what the encoders wrote: over the real payloads and over
//! random families.

use proptest::prelude::*;

use prom_exposition::{Format, MetricFamily, OwnedExemplar, OwnedSample, Parser, collect, encode};
use prom_model::MetricType;

use crate::golden::conformance;

fn parse(input: &[u8], format: Format) -> Vec<MetricFamily> {
    let (families, errors) = collect(Parser::new(input, format));
    if let Some(e) = errors.first() {
        panic!("{}", e.render(input));
    }
    families
}

#[test]
fn golden_payloads_round_trip() {
    for (file, format) in [
        ("textparse/alltypes.237mfs.prom.txt", Format::Text),
        ("textparse/alltypes.237mfs.nometa.prom.txt", Format::Text),
        ("textparse/alltypes.5mfs.om.txt", Format::OpenMetrics),
        ("textparse/1histogram.om.txt", Format::OpenMetrics),
        ("real/node_exporter-1.5.0.txt", Format::Text),
        ("real/prometheus-2.42.0.txt", Format::Text),
        ("real/alertmanager-0.25.0.txt", Format::Text),
        ("promtool/metrics-test.prom", Format::Text),
    ] {
        let Some(input) = conformance(file) else {
            continue;
        };
        let first = parse(&input, format);
        assert!(!first.is_empty(), "{file}");
        let written = encode(format, &first);
        let second = parse(written.as_bytes(), format);
        assert_eq!(first, second, "{file}");
    }
}

#[test]
fn metadata_and_plain_payloads_hold_the_same_samples() {
    let (Some(with), Some(without)) = (
        conformance("textparse/alltypes.237mfs.prom.txt"),
        conformance("textparse/alltypes.237mfs.nometa.prom.txt"),
    ) else {
        return;
    };
    let flat = |fams: Vec<MetricFamily>| -> Vec<OwnedSample> {
        fams.into_iter().flat_map(|f| f.samples).collect()
    };
    assert_eq!(
        flat(parse(&with, Format::Text)),
        flat(parse(&without, Format::Text))
    );
}

// Random families. Names and labels are drawn so that the input is valid in the chosen
// format; values cover the special floats.

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
    ]
    .prop_map(|v| {
        if v.is_nan() {
            prom_model::value::normal_nan()
        } else {
            v
        }
    })
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,6}",
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        Just("a\"b\\c\nd".to_owned()),
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,5}",
        1 => "[a-z]{1,3}\\.[a-z]{1,3}",
    ]
    .prop_filter("reserved by histograms and summaries", |n| {
        n != "le" && n != "quantile"
    })
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(label_name(), label_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn family_name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z][a-z0-9_]{0,8}", 1 => "[a-z]{1,4}\\.[a-z]{1,4}"]
}

/// Text-format families: gauges, untyped and counters (named as written), with help.
fn text_family() -> impl Strategy<Value = MetricFamily> {
    (
        family_name(),
        prop_oneof![
            Just(MetricType::Gauge),
            Just(MetricType::Unknown),
            Just(MetricType::Counter)
        ],
        proptest::option::of(any::<String>()),
        proptest::collection::vec(
            (labels(), value(), proptest::option::of(any::<i64>())),
            0..4,
        ),
    )
        .prop_map(|(name, t, help, samples)| MetricFamily {
            samples: samples
                .into_iter()
                .map(|(labels, value, timestamp)| OwnedSample {
                    name: name.clone(),
                    labels,
                    value,
                    timestamp,
                    ..OwnedSample::default()
                })
                .collect(),
            name,
            metric_type: t,
            help,
            unit: None,
            line: 0,
        })
}

/// OpenMetrics families: gauges and counters (with `_total`, non-negative, with exemplars),
/// each metric once so that the OpenMetrics rules hold.
fn om_family() -> impl Strategy<Value = MetricFamily> {
    (
        family_name(),
        any::<bool>(),
        proptest::option::of(any::<String>()),
        proptest::collection::btree_map(
            labels(),
            (
                value(),
                proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000),
                proptest::option::of((labels(), value())),
            ),
            0..4,
        ),
    )
        .prop_map(|(name, counter, help, metrics)| {
            let sample_name = if counter {
                format!("{name}_total")
            } else {
                name.clone()
            };
            MetricFamily {
                samples: metrics
                    .into_iter()
                    .map(|(labels, (value, timestamp, ex))| OwnedSample {
                        name: sample_name.clone(),
                        labels,
                        value: if counter { value.abs() } else { value }.max(if counter {
                            0.0
                        } else {
                            f64::NEG_INFINITY
                        }),
                        timestamp,
                        exemplar: ex.filter(|_| counter).map(|(labels, value)| OwnedExemplar {
                            labels: labels
                                .into_iter()
                                .take(2)
                                .map(|(k, v)| (k, v.chars().take(20).collect()))
                                .collect(),
                            value,
                            timestamp: None,
                        }),
                        line: 0,
                    })
                    .collect(),
                name,
                metric_type: if counter {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                },
                help,
                unit: None,
                line: 0,
            }
        })
}

/// Families with distinct names that cannot clash (`x_total` vs `x`): suffix an index.
fn distinct(mut fams: Vec<MetricFamily>) -> Vec<MetricFamily> {
    for (k, f) in fams.iter_mut().enumerate() {
        let old = f.name.clone();
        f.name = format!("{old}_f{k}");
        for s in &mut f.samples {
            s.name = s.name.replacen(&old, &f.name, 1);
        }
    }
    fams
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trip(fams in proptest::collection::vec(text_family(), 0..5).prop_map(distinct)) {
        let written = encode(Format::Text, &fams);
        let back = parse(written.as_bytes(), Format::Text);
        // A family with no samples, no HELP and no declared type says nothing, so nothing is
        // written for it and nothing comes back.
        let mut expected = fams;
        expected.retain(|f| {
            !(f.samples.is_empty() && f.help.is_none() && f.metric_type == MetricType::Unknown)
        });
        prop_assert_eq!(back, expected, "{}", written);
    }

    #[test]
    fn openmetrics_round_trip(fams in proptest::collection::vec(om_family(), 0..5).prop_map(distinct)) {
        let written = encode(Format::OpenMetrics, &fams);
        let back = parse(written.as_bytes(), Format::OpenMetrics);
        prop_assert_eq!(back, fams, "{}", written);
    }
}

#[test]
fn empty_openmetrics_unit_counts_as_none() {
    let input = b"# TYPE a gauge\n# UNIT a \na 1\n# EOF\n";
    let fams = parse(input, Format::OpenMetrics);
    assert_eq!(fams[0].unit, None);
    let back = parse(
        encode(Format::OpenMetrics, &fams).as_bytes(),
        Format::OpenMetrics,
    );
    assert_eq!(back, fams);
}

#[test]
fn collect_records_each_familys_first_line() {
    let input =
        b"# a comment\n\n# HELP a help\n# TYPE a gauge\na 1\nb 2\n\n# TYPE a_total counter\n";
    let fams = parse(input, Format::Text);
    let lines: Vec<(&str, u32)> = fams.iter().map(|f| (f.name.as_str(), f.line)).collect();
    assert_eq!(lines, [("a", 3), ("b", 6), ("a_total", 8)]);
    let om = parse(b"x 1\n# TYPE y gauge\n# EOF\n", Format::OpenMetrics);
    assert_eq!(om.iter().map(|f| f.line).collect::<Vec<_>>(), [1, 2]);
}
