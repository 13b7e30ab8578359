//! prom-chunk's integration tests, one binary (see STYLE.md).

mod batch;
mod corrupt;
mod golden;
mod interop;
mod roundtrip;

use prom_chunk::{XorAppender, XorChunk, XorIterator};

/// Deterministic pseudo-random numbers (xorshift64*).
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Encodes `samples` into one chunk.
pub fn encode(samples: &[(i64, f64)]) -> XorAppender {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        app.append(t, v).expect("chunk has room");
    }
    app
}

/// Decodes a chunk through the cursor, failing on any error.
pub fn decode(bytes: &[u8]) -> Vec<(i64, f64)> {
    let mut it = XorIterator::new(bytes);
    let mut out = Vec::new();
    while it.next() {
        out.push(it.at());
    }
    assert_eq!(it.err(), None);
    out
}

/// Samples compared bit for bit (NaN payloads and -0.0 included).
pub fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Decodes through the std `Iterator` adapter.
pub fn decode_std(bytes: &[u8]) -> prom_chunk::Result<Vec<(i64, f64)>> {
    XorChunk::new(bytes)?.samples().collect()
}
