//! Parses arbitrary bytes as OpenMetrics, touching every entry, label and
//! exemplar and rendering every error. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prom_exposition::Format;

fuzz_target!(|data: &[u8]| prom_fuzz::parse_all(data, Format::OpenMetrics));
