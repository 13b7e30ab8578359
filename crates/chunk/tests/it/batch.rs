//! `XorIterator::for_each_until` against the `next` cursor it must equal: same samples bit for
//! bit, same stopping sample, same error, same state afterwards, on valid, truncated, corrupt
//! and random chunks, with batch calls mixed with `next` and `seek`.

use prom_chunk::{Error, XorIterator};
use proptest::prelude::*;

use crate::{Rng, encode};

/// `n` samples whose timestamp and value shapes (chosen by `ts_mode` and `v_mode`) exercise
/// every path of the decoder: regular intervals, jitter, large and negative steps; constant,
/// integer and float counters, small gauge moves, random bit patterns and special floats.
fn samples(seed: u64, n: usize, ts_mode: u8, v_mode: u8) -> Vec<(i64, f64)> {
    let mut rng = Rng(seed | 1);
    let mut t = 1_700_000_000_000i64 + rng.below(1 << 20) as i64;
    let mut v = 1234.56;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            t = t.wrapping_add(match ts_mode {
                0 => 15_000,
                1 => 15_000 + rng.below(501) as i64 - 250,
                2 => [15_000, 15_000, 15_000, 30_000, 14_999, 1 << 22][rng.below(6) as usize],
                3 => 1 + rng.below(1 << 40) as i64,
                // Mostly regular, now and then any jump, backwards included.
                _ if rng.below(10) == 0 => rng.next_u64() as i64 >> rng.below(64),
                _ => 15_000,
            });
        }
        v = match v_mode {
            0 => 1.0,
            1 => v + rng.below(100) as f64,
            2 => v + rng.below(1500) as f64 * 0.01,
            3 => v + (rng.below(1000) as f64 / 500.0 - 1.0),
            4 => f64::from_bits(rng.next_u64()),
            5 => [0.0, -0.0, f64::NAN, f64::INFINITY, 1.0, v][rng.below(6) as usize],
            // Value unchanged most of the time, else a small move.
            _ if rng.below(3) == 0 => v + 1.0,
            _ => v,
        };
        out.push((t, v));
    }
    out
}

/// One call on the iterator.
#[derive(Debug, Clone, Copy)]
enum Op {
    Next,
    Seek(i64),
    Batch(i64),
}

/// What one call showed: its result, the samples it passed on, `at()` and `err()` after it.
type Seen = (bool, Vec<(i64, u64)>, (i64, u64), Option<Error>);

/// The batch call's definition, through the cursor.
fn batch_by_cursor(it: &mut XorIterator<'_>, maxt: i64, out: &mut Vec<(i64, u64)>) -> bool {
    while it.next() {
        let (t, v) = it.at();
        if t > maxt {
            return true;
        }
        out.push((t, v.to_bits()));
    }
    false
}

/// Runs `ops` (then a final read of everything) on `bytes`, through the batch call when
/// `batch` is true and through its cursor definition otherwise.
fn run(bytes: &[u8], ops: &[Op], batch: bool) -> Vec<Seen> {
    let mut it = XorIterator::new(bytes);
    let mut seen = Vec::with_capacity(ops.len() + 1);
    for &op in ops.iter().chain(&[Op::Batch(i64::MAX)]) {
        let mut out = Vec::new();
        let r = match op {
            Op::Next => it.next(),
            Op::Seek(t) => it.seek(t),
            Op::Batch(maxt) if batch => it.for_each_until(maxt, |t, v| out.push((t, v.to_bits()))),
            Op::Batch(maxt) => batch_by_cursor(&mut it, maxt, &mut out),
        };
        let (t, v) = it.at();
        seen.push((r, out, (t, v.to_bits()), it.err().cloned()));
    }
    // Afterwards the iterator stays ended, whichever way it got there.
    assert!(!it.next());
    assert!(!it.for_each_until(i64::MAX, |_, _| panic!("a sample after the end")));
    seen
}

/// Maps generated `(kind, position)` pairs to calls whose times fall around `samples`.
fn ops(raw: &[(u8, u16)], samples: &[(i64, f64)]) -> Vec<Op> {
    let lo = samples
        .iter()
        .map(|s| s.0)
        .min()
        .unwrap_or(0)
        .saturating_sub(1000);
    let hi = samples
        .iter()
        .map(|s| s.0)
        .max()
        .unwrap_or(0)
        .saturating_add(1000);
    let span = i128::from(hi) - i128::from(lo);
    raw.iter()
        .map(|&(kind, pos)| {
            let t = (i128::from(lo) + span * i128::from(pos) / 1000) as i64;
            match kind % 4 {
                0 => Op::Next,
                1 => Op::Seek(t),
                _ => Op::Batch(t),
            }
        })
        .collect()
}

fn check(bytes: &[u8], ops: &[Op]) -> Result<(), TestCaseError> {
    let want = run(bytes, ops, false);
    let got = run(bytes, ops, true);
    prop_assert_eq!(got, want);
    Ok(())
}

fn shape() -> impl Strategy<Value = (u64, usize, u8, u8)> {
    (any::<u64>(), 0usize..400, 0u8..5, 0u8..7)
}

fn raw_ops() -> impl Strategy<Value = Vec<(u8, u16)>> {
    prop::collection::vec((any::<u8>(), 0u16..=1000), 0..12)
}

#[test]
fn whole_chunk_in_one_call_of_every_shape() {
    for ts_mode in 0..5 {
        for v_mode in 0..7 {
            for n in [0, 1, 2, 3, 120, 1000] {
                let s = samples(u64::from(ts_mode * 7 + v_mode), n, ts_mode, v_mode);
                let bytes = encode(&s).into_bytes();
                let mut it = XorIterator::new(&bytes);
                let mut got = Vec::new();
                assert!(!it.for_each_until(i64::MAX, |t, v| got.push((t, v.to_bits()))));
                assert_eq!(it.err(), None);
                let want: Vec<(i64, u64)> = s.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                assert_eq!(got, want, "shape {ts_mode}/{v_mode}, {n} samples");
            }
        }
    }
}

#[test]
fn stops_on_the_first_sample_past_maxt() {
    let s = samples(7, 120, 0, 2);
    let bytes = encode(&s).into_bytes();
    let mut it = XorIterator::new(&bytes);
    let mut n = 0;
    assert!(it.for_each_until(s[49].0, |_, _| n += 1));
    assert_eq!(n, 50);
    assert_eq!(it.at().0, s[50].0);
    // The stopping sample is current, not consumed again: the next call starts after it.
    assert!(it.next());
    assert_eq!(it.at().0, s[51].0);
    assert!(it.for_each_until(s[51].0 - 1, |_, _| panic!("nothing is at most maxt")));
    assert_eq!(it.at().0, s[52].0);
}

#[test]
fn reports_a_truncation_as_next_does() {
    let s = samples(3, 120, 1, 2);
    let full = encode(&s).into_bytes();
    for len in 0..full.len() {
        let bytes = &full[..len];
        check(bytes, &[]).unwrap();
        let mut it = XorIterator::new(bytes);
        let mut n = 0;
        it.for_each_until(i64::MAX, |_, _| n += 1);
        match it.err() {
            None | Some(Error::TooShort { .. }) => {}
            Some(Error::UnexpectedEnd { sample, .. }) => assert_eq!(usize::from(*sample), n),
            Some(other) => panic!("unexpected {other:?} at {len}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn batch_equals_cursor_on_valid_chunks((seed, n, ts, vm) in shape(), raw in raw_ops()) {
        let s = samples(seed, n, ts, vm);
        let bytes = encode(&s).into_bytes();
        check(&bytes, &ops(&raw, &s))?;
    }

    #[test]
    fn batch_equals_cursor_on_truncated_chunks(
        (seed, n, ts, vm) in shape(),
        cut in any::<prop::sample::Index>(),
        raw in raw_ops(),
    ) {
        let s = samples(seed, n, ts, vm);
        let bytes = encode(&s).into_bytes();
        let cut = cut.index(bytes.len() + 1);
        check(&bytes[..cut], &ops(&raw, &s))?;
    }

    #[test]
    fn batch_equals_cursor_on_corrupt_chunks(
        (seed, n, ts, vm) in shape(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..6),
        count in prop::option::of(any::<u16>()),
        raw in raw_ops(),
    ) {
        let s = samples(seed, n, ts, vm);
        let mut bytes = encode(&s).into_bytes();
        for (at, bit) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        // Sometimes a sample count that disagrees with the stream.
        if let (Some(c), Some(h)) = (count, bytes.first_chunk_mut::<2>()) {
            *h = c.to_be_bytes();
        }
        check(&bytes, &ops(&raw, &s))?;
    }

    #[test]
    fn batch_equals_cursor_on_random_bytes(
        count in 0u16..400,
        body in prop::collection::vec(any::<u8>(), 0..800),
        raw in prop::collection::vec((any::<u8>(), 0u16..=1000), 0..12),
    ) {
        let mut bytes = count.to_be_bytes().to_vec();
        bytes.extend(body);
        let ops: Vec<Op> = raw
            .iter()
            .map(|&(k, p)| match k % 4 {
                0 => Op::Next,
                1 => Op::Seek(i64::from(p) << 40),
                _ => Op::Batch(i64::from(p) << 40),
            })
            .collect();
        check(&bytes, &ops)?;
    }
}
