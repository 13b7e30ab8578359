//! The real payloads in ../shared/conformance/exposition parse without error.

use std::path::PathBuf;

use prom_exposition::{Entry, Format, Parser};

pub fn conformance(rel: &str) -> Option<Vec<u8>> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/exposition");
    match std::fs::read(dir.join(rel)) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipped: {rel}: {e}");
            None
        }
    }
}

fn count(input: &[u8], format: Format) -> (usize, usize) {
    let (mut samples, mut types) = (0, 0);
    for e in Parser::new(input, format) {
        match e {
            Ok(Entry::Sample(_)) => samples += 1,
            Ok(Entry::Type { .. }) => types += 1,
            Ok(_) => {}
            Err(err) => panic!("{}", err.render(input)),
        }
    }
    (samples, types)
}

#[test]
fn all_payloads_parse() {
    for (file, format, samples, types) in [
        (
            "textparse/alltypes.237mfs.prom.txt",
            Format::Text,
            1857,
            237,
        ),
        (
            "textparse/alltypes.237mfs.nometa.prom.txt",
            Format::Text,
            1857,
            0,
        ),
        ("textparse/alltypes.5mfs.om.txt", Format::OpenMetrics, 53, 5),
        ("textparse/1histogram.om.txt", Format::OpenMetrics, 42, 1),
    ] {
        let Some(input) = conformance(file) else {
            continue;
        };
        assert_eq!(count(&input, format), (samples, types), "{file}");
    }
    for file in [
        "real/node_exporter-1.5.0.txt",
        "real/prometheus-2.42.0.txt",
        "real/alertmanager-0.25.0.txt",
        "promtool/metrics-test.prom",
    ] {
        let Some(input) = conformance(file) else {
            continue;
        };
        let (s, _) = count(&input, Format::Text);
        assert!(s > 0, "{file}");
    }
}
