//! Parses arbitrary bytes as text and as OpenMetrics; whatever parses without errors must
//! encode to something that parses back, without errors, to the same families.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prom_fuzz::roundtrip(data));
