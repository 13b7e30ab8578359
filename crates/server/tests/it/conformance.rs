//! Every payload of the shared conformance corpus passes `prom check metrics` (warnings are
//! allowed: real exporters do not all follow the naming conventions).

use crate::support::{conformance_dir, conformance_payloads, prom};

#[test]
fn every_conformance_payload_passes() {
    let Some(dir) = conformance_dir() else {
        return;
    };
    let payloads = conformance_payloads(&dir);
    assert!(!payloads.is_empty(), "no payloads under {}", dir.display());
    let mut failed = Vec::new();
    for (path, format) in &payloads {
        let file = path.to_str().expect("UTF-8 path");
        let out = prom(&["check", "metrics", "--format", format, file], b"");
        println!(
            "{format:>11} {file}: exit {}, {}",
            out.code,
            out.stderr.trim()
        );
        if out.code != 0 {
            failed.push(format!("{file}:\n{}", out.stdout));
        }
    }
    assert!(failed.is_empty(), "rejected:\n{}", failed.join("\n"));
}
