//! Truncated, corrupted and random chunks end in an error, never a panic.

use prom_chunk::{Error, XorAppender, XorChunk, XorIterator};
use proptest::prelude::*;

use crate::{bits, encode};

/// Drains a chunk through every reading API; returns the samples and the error.
fn drain(bytes: &[u8]) -> (Vec<(i64, f64)>, Option<Error>) {
    let mut it = XorIterator::new(bytes);
    let mut out = Vec::new();
    while it.next() {
        out.push(it.at());
    }
    let err = it.err().cloned();
    assert!(!it.next());
    assert!(!it.seek(i64::MIN));
    // The other entry points must not panic either.
    let mut it = XorIterator::new(bytes);
    let _ = it.seek(0);
    let _ = it.seek(i64::MAX);
    if let Ok(chunk) = XorChunk::new(bytes) {
        let n = chunk.samples().count();
        assert!(n <= out.len() + 1);
    }
    if let Ok(mut app) = XorAppender::from_chunk(bytes) {
        assert!(err.is_none());
        let _ = app.append(i64::MAX, 1.0);
    }
    (out, err)
}

fn sample_chunk() -> XorAppender {
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            (
                1_700_000_000_000 + i * 15_000 + (i * 7919) % 300,
                (i * i) as f64 / 3.0,
            )
        })
        .collect();
    encode(&samples)
}

#[test]
fn every_truncation_is_an_error_or_a_padding_cut() {
    let app = sample_chunk();
    let full = app.bytes();
    let (all, err) = drain(full);
    assert!(err.is_none());
    for len in 0..full.len() {
        let (got, err) = drain(&full[..len]);
        assert_eq!(bits(&got), bits(&all[..got.len()]), "prefix at {len}");
        match err {
            Some(Error::TooShort { len: l }) => assert!(l < 2 && len < 2),
            Some(Error::UnexpectedEnd {
                sample,
                num_samples,
                bit_offset,
            }) => {
                assert_eq!(usize::from(sample), got.len());
                assert_eq!(num_samples, 120);
                assert!(bit_offset <= len as u64 * 8);
            }
            other => panic!("unexpected {other:?} at {len}"),
        }
    }
}

#[test]
fn count_beyond_data_is_an_error() {
    let mut bytes = encode(&[(1, 1.0), (2, 2.0)]).into_bytes();
    bytes[1] = 3;
    let (got, err) = drain(&bytes);
    assert_eq!(got.len(), 2);
    assert!(matches!(
        err,
        Some(Error::UnexpectedEnd {
            sample: 2,
            num_samples: 3,
            ..
        })
    ));
    assert!(XorAppender::from_chunk(&bytes).is_err());
    let mut samples = XorChunk::new(&bytes).unwrap().samples();
    assert!(samples.next().unwrap().is_ok());
    assert!(samples.next().unwrap().is_ok());
    assert!(samples.next().unwrap().is_err());
    assert!(samples.next().is_none());
}

#[test]
fn varint_overflow() {
    let mut bytes = vec![0, 1];
    bytes.extend([0xff; 10]);
    bytes.extend([0; 8]);
    let (_, err) = drain(&bytes);
    assert!(
        matches!(err, Some(Error::VarintOverflow { sample: 0, .. })),
        "{err:?}"
    );
    // Ten bytes with a last byte of 1 are fine: i64::MIN as a zigzag varint.
    let min = encode(&[(i64::MIN, 0.0)]);
    assert_eq!(min.bytes().len(), 2 + 10 + 8);
    assert_eq!(drain(min.bytes()).0, [(i64::MIN, 0.0)]);
}

#[test]
fn invalid_window() {
    // Sample 1 with a window of 31 leading zeros and 40 meaningful bits.
    let mut bytes = encode(&[(0, 0.0), (1, 0.0)]).into_bytes();
    bytes.truncate(2 + 1 + 8 + 1);
    // '1' changed, '1' new window, '11111' leading, '101000' meaningful.
    bytes.extend([0b1111_1111, 0b0100_0000, 0, 0, 0, 0, 0, 0]);
    let (got, err) = drain(&bytes);
    assert_eq!(got.len(), 1);
    assert!(
        matches!(
            err,
            Some(Error::InvalidWindow {
                sample: 1,
                leading: 31,
                meaningful: 40,
                ..
            })
        ),
        "{err:?}"
    );
    let msg = err.unwrap().to_string();
    assert!(
        msg.contains("31 leading zeros and 40 meaningful bits"),
        "{msg}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        drain(&bytes);
    }

    #[test]
    fn random_bytes_with_plausible_count(count in 0u16..300, body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = count.to_be_bytes().to_vec();
        bytes.extend(body);
        let (got, err) = drain(&bytes);
        prop_assert!(got.len() == usize::from(count) || err.is_some());
    }

    #[test]
    fn flipped_bits_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..6)) {
        let mut bytes = sample_chunk().into_bytes();
        for (at, bit) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        drain(&bytes);
    }
}
