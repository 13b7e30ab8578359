//! Opens arbitrary bytes as an index file (after an optional checksum reseal, chosen by the
//! first byte) and reads it through every API of `IndexReader`. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prom_fuzz::index::read(data));
