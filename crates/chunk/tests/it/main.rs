//! prom-chunk's integration tests, one binary (see STYLE.md).

mod batch;
mod corrupt;
mod golden;
mod interop;
mod roundtrip;

use prom_chunk::{XorAppender, XorChunk, XorIterator};

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
