//! Decodes arbitrary bytes as an XOR chunk: the cursor, the std adapter, seeks and resets must
//! agree and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prom_fuzz::chunk::decode(data));
