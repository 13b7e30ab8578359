//! Decodes arbitrary text as prometheus.yml (normal and agent mode) and as file_sd YAML and
//! JSON. Must never panic; whatever loads must satisfy the configuration's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prom_fuzz::config::decode(data));
