//! The XOR chunk decoder over arbitrary bytes, and the chunks the seed corpus starts from.

use prom_chunk::{Padding, XorAppender, XorChunk};

/// Views `data` as a chunk and decodes it every way the API allows: the cursor to the end, the
/// std adapter, seeks from fresh cursors to each decoded timestamp and around it, and a cursor
/// reset onto the chunk. Panics only if an invariant below breaks (or the decoder panics).
pub fn decode(data: &[u8]) {
    let Ok(chunk) = XorChunk::new(data) else {
        assert!(data.len() < 2, "a header of 2 bytes must be accepted");
        return;
    };
    let announced = usize::from(chunk.num_samples());

    // Samples as (t, bits of v): NaNs compare equal bit for bit.
    let mut it = chunk.iter();
    let mut samples = Vec::new();
    while it.next() {
        let (t, v) = it.at();
        samples.push((t, v.to_bits()));
    }
    assert!(samples.len() <= announced, "more samples than the header");
    match it.err() {
        None => assert_eq!(samples.len(), announced, "ended early without an error"),
        Some(e) => {
            assert!(samples.len() < announced, "an error after the last sample");
            std::hint::black_box(e.to_string());
        }
    }
    assert!(!it.next() && !it.seek(i64::MIN), "exhaustion is final");

    // The adapter yields the same samples, then the error once.
    let mut adapted = chunk.samples();
    for &(t, v) in &samples {
        match adapted.next() {
            Some(Ok((at, av))) => assert_eq!((at, av.to_bits()), (t, v)),
            other => panic!("adapter diverges from the cursor: {other:?}"),
        }
    }
    match adapted.next() {
        Some(Err(e)) => assert_eq!(Some(&e), it.err()),
        None => assert!(it.err().is_none()),
        Some(Ok(s)) => panic!("adapter yields an extra sample {s:?}"),
    }
    assert!(adapted.next().is_none());

    // Seeks: the first sample at or after the target, in decoding order; never backwards.
    let mut targets: Vec<i64> = samples
        .iter()
        .take(16)
        .flat_map(|&(t, _)| [t.saturating_sub(1), t, t.saturating_add(1)])
        .collect();
    targets.extend([i64::MIN, i64::MAX]);
    for target in targets {
        let mut it = chunk.iter();
        let want = samples.iter().position(|&(t, _)| t >= target);
        assert_eq!(it.seek(target), want.is_some(), "seek({target})");
        if let Some(i) = want {
            assert_eq!((it.at().0, it.at().1.to_bits()), samples[i]);
            assert!(it.seek(i64::MIN), "a seek below the current sample stays");
            assert_eq!(it.at().0, samples[i].0);
            let next = samples.get(i + 1);
            assert_eq!(it.next(), next.is_some());
            if let Some(&(t, v)) = next {
                assert_eq!((it.at().0, it.at().1.to_bits()), (t, v));
            }
        }
    }

    // One cursor walks several chunks through reset.
    let mut it = prom_chunk::XorIterator::default();
    for _ in 0..2 {
        it.reset(data);
        let mut n = 0;
        while it.next() {
            n += 1;
        }
        assert_eq!(n, samples.len());
    }
}

/// Chunks written by [`XorAppender`], as `(name, bytes)`: shapes that exercise every
/// timestamp and value encoding, with both paddings.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    type Shape = fn(i64) -> (i64, f64);
    let shapes: [(&str, Shape); 6] = [
        ("counter", |i| (1_000 + i * 15_000, (i * 7) as f64)),
        ("constant", |i| (i * 15_000, 1.0)),
        ("jittered", |i| (i * 15_000 + (i * 7919) % 200 - 100, 0.5)),
        ("random_walk", |i| {
            (i * 10_000, ((i * 7919) % 101) as f64 * 0.25 - 12.0)
        }),
        ("specials", |i| {
            let v = [f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE, 1e300][(i % 5) as usize];
            (i * 60_000 - 1_000_000, v)
        }),
        ("wide_deltas", |i| (i * i * i * 9_000_017, i as f64 / 3.0)),
    ];
    let mut out = Vec::new();
    for (name, f) in shapes {
        for (n, padding) in [
            (1, Padding::default()),
            (120, Padding::default()),
            (37, Padding::Prometheus2),
        ] {
            let mut a = XorAppender::new().with_padding(padding);
            for i in 0..n {
                let (t, v) = f(i);
                if a.append(t, v).is_err() {
                    break;
                }
            }
            out.push((format!("seed_{name}_{n}"), a.into_bytes()));
        }
    }
    out
}
