//! Property tests: any strictly increasing timestamps with any values round-trip bit-exact;
//! seek, reuse and reopening behave.

use prom_chunk::{XorAppender, XorChunk, XorIterator};
use proptest::prelude::*;

use crate::{bits, decode, decode_std, encode};

const STALE: u64 = 0x7ff0_0000_0000_0002;

/// Gaps between timestamps: regular, jittered, tiny, large.
fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(15_000i64),
        4 => 14_000i64..16_000,
        2 => 1i64..10,
        1 => 1i64..(1 << 20),
        1 => 1i64..(1 << 40),
        1 => 1i64..i64::MAX / 4,
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
        3 => -1e6f64..1e6,
        2 => any::<u64>().prop_map(f64::from_bits), // NaN payloads, denormals, everything
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::from_bits(STALE)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
        ],
    ]
}

/// Values shaped like real series, so windows get reused.
fn series_values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec(value(), n),
        // counter with integer increments
        prop::collection::vec(0u32..100, n).prop_map(|inc| inc
            .iter()
            .scan(0.0, |a, &i| {
                *a += f64::from(i);
                Some(*a)
            })
            .collect()),
        // random-walk gauge
        prop::collection::vec(-1.0f64..1.0, n).prop_map(|st| st
            .iter()
            .scan(50.0, |a, &s| {
                *a += s;
                Some(*a)
            })
            .collect()),
        // constant
        value().prop_map(move |v| vec![v; n]),
    ]
}

prop_compose! {
    fn samples()(start in prop_oneof![
                    Just(0i64),
                    -(1i64 << 45)..(1i64 << 45),
                    any::<i64>().prop_map(|t| t / 2),
                    Just(i64::MIN),
                 ],
                 deltas in prop::collection::vec(delta(), 0..400))
                (values in series_values(deltas.len() + 1), start in Just(start), deltas in Just(deltas))
                -> Vec<(i64, f64)> {
        let mut t = start;
        let mut out = vec![(t, values[0])];
        for (d, &v) in deltas.iter().zip(&values[1..]) {
            match t.checked_add(*d) {
                Some(next) => t = next,
                None => break,
            }
            out.push((t, v));
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trips_bit_exact(samples in samples()) {
        let app = encode(&samples);
        prop_assert_eq!(usize::from(app.num_samples()), samples.len());
        prop_assert_eq!(bits(&decode(app.bytes())), bits(&samples));
        prop_assert_eq!(bits(&decode_std(app.bytes()).unwrap()), bits(&samples));
        prop_assert_eq!(app.last().map(|(t, v)| (t, v.to_bits())), bits(&samples).last().copied());
        let owned = app.clone().into_bytes();
        prop_assert_eq!(&owned[..], app.bytes());
    }

    #[test]
    fn seek_finds_first_at_or_after(samples in samples(), probes in prop::collection::vec(any::<prop::sample::Index>(), 1..8), shift in -2i64..3) {
        let app = encode(&samples);
        for probe in probes {
            let target = samples[probe.index(samples.len())].0.saturating_add(shift);
            let mut it = XorIterator::new(app.bytes());
            let expected = samples.iter().find(|s| s.0 >= target);
            prop_assert_eq!(it.seek(target), expected.is_some());
            if let Some(&(t, v)) = expected {
                prop_assert_eq!((it.at().0, it.at().1.to_bits()), (t, v.to_bits()));
                // Never backwards: an earlier target keeps the position.
                prop_assert!(it.seek(i64::MIN));
                prop_assert_eq!(it.at().0, t);
                prop_assert!(it.seek(t));
                prop_assert_eq!(it.at().0, t);
            } else {
                // Legal after the end, and stays there.
                prop_assert!(!it.seek(i64::MIN));
                prop_assert!(!it.next());
            }
            prop_assert!(it.err().is_none());
        }
    }

    #[test]
    fn seeks_in_increasing_order_match_a_scan(samples in samples(), mut targets in prop::collection::vec(any::<i64>(), 1..10)) {
        targets.sort_unstable();
        let app = encode(&samples);
        let mut it = XorIterator::new(app.bytes());
        let mut floor = 0usize; // index the cursor may not go below
        for target in targets {
            let expected = samples.iter().enumerate().skip(floor).find(|(_, s)| s.0 >= target);
            prop_assert_eq!(it.seek(target), expected.is_some());
            match expected {
                Some((i, &(t, _))) => { prop_assert_eq!(it.at().0, t); floor = i; }
                None => break,
            }
        }
    }

    #[test]
    fn one_iterator_reused_across_chunks(chunks in prop::collection::vec(samples(), 1..6)) {
        let encoded: Vec<XorAppender> = chunks.iter().map(|c| encode(c)).collect();
        let mut it = XorIterator::default();
        prop_assert!(!it.next());
        for (app, samples) in encoded.iter().zip(&chunks) {
            it.reset(app.bytes());
            let mut got = Vec::new();
            while it.next() {
                got.push(it.at());
            }
            prop_assert!(it.err().is_none());
            prop_assert_eq!(bits(&got), bits(samples));
        }
    }

    #[test]
    fn reopened_chunk_continues(samples in samples(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(samples.len() + 1);
        let first = encode(&samples[..cut]);
        let mut rest = XorChunk::new(first.bytes()).unwrap().appender().unwrap();
        for &(t, v) in &samples[cut..] {
            rest.append(t, v).unwrap();
        }
        prop_assert_eq!(bits(&decode(rest.bytes())), bits(&samples));
        // Once a value window exists, reopening is invisible in the bytes.
        let window = samples[..cut].windows(2).any(|w| w[0].1.to_bits() != w[1].1.to_bits());
        if window || cut == 0 || cut == samples.len() {
            let straight = encode(&samples);
            prop_assert_eq!(rest.bytes(), straight.bytes());
        }
    }
}

#[cfg(feature = "bitvec")]
proptest! {
    #[test]
    fn bitvec_variant_is_identical(samples in samples()) {
        use prom_chunk::bitvec_io::{BitVecAppender, BitVecIterator};
        let ours = encode(&samples);
        let mut bv = BitVecAppender::new();
        for &(t, v) in &samples {
            bv.append(t, v).unwrap();
        }
        prop_assert_eq!(bv.bytes(), ours.bytes());
        let mut it = BitVecIterator::new(ours.bytes());
        let mut got = Vec::new();
        while it.next() {
            got.push(it.at());
        }
        prop_assert!(it.err().is_none());
        prop_assert_eq!(bits(&got), bits(&samples));
    }
}

#[test]
fn empty_chunk() {
    let app = XorAppender::new();
    assert_eq!(app.bytes(), [0, 0]);
    assert_eq!(app.last(), None);
    let mut it = XorIterator::new(app.bytes());
    assert!(!it.seek(0));
    assert!(!it.next());
    assert!(it.err().is_none());
    let mut reopened = XorAppender::from_chunk(&[0, 0]).unwrap();
    reopened.append(5, 1.5).unwrap();
    assert_eq!(reopened.bytes(), encode(&[(5, 1.5)]).bytes());
}

#[test]
fn extreme_timestamps() {
    let samples = [
        (i64::MIN, 1.0),
        (i64::MIN + 1, 2.0),
        (0, 3.0),
        (i64::MAX - 1, 4.0),
        (i64::MAX, 5.0),
    ];
    assert_eq!(bits(&decode(encode(&samples).bytes())), bits(&samples));
}
