//! XOR chunks: prom-chunk against the `tsz` crate (Gorilla compression, not Prometheus's bit
//! layout), and prom-chunk's hand-rolled bit I/O against the same codec on `bitvec`, side by
//! side in one group per data shape so the ratios hold on a noisy machine.
//!
//! Groups (each at 120 samples, Prometheus's chunk size, and 1,000): `counter_int`,
//! `counter_float`, `gauge_random_walk`, `constant` (all at a regular 15 s interval) and
//! `jittered_ts` (15 s ± 250 ms, integer counter values). In each group:
//!
//! - `encode/prom-chunk`, `encode/prom-chunk-bitvec`, `encode/tsz`: a new encoder, every
//!   sample appended, the bytes taken.
//! - `decode/prom-chunk`, `decode/prom-chunk-batch`, `decode/prom-chunk-bitvec`, `decode/tsz`:
//!   every sample decoded and folded into a checksum (`prom-chunk` through the `next`/`at`
//!   cursor, `prom-chunk-batch` through one `XorIterator::for_each_until` call). tsz's reader takes an owned `Box<[u8]>`; that copy is made outside the timing.
//!
//! Throughput is in samples, so ns/sample = time / samples. Bytes per sample are printed once
//! at start-up (criterion has no column for them).
//!
//! ```text
//! cargo bench -p prom-benches --bench chunk -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prom_chunk::bitvec_io::{BitVecAppender, BitVecIterator};
use prom_chunk::{XorAppender, XorIterator};
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

const SIZES: [usize; 2] = [120, 1000];
const START_MS: i64 = 1_700_000_000_000;
const INTERVAL_MS: i64 = 15_000;

/// Deterministic pseudo-random numbers (xorshift64*), so every run sees the same series.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// The data shapes, by group name.
fn shapes(n: usize) -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let mut rng = Rng(0x00c0_ffee);
    let regular = |i: usize| START_MS + i as i64 * INTERVAL_MS;

    let mut v = 0.0;
    let counter_int = (0..n)
        .map(|i| {
            v += rng.below(100) as f64;
            (regular(i), v)
        })
        .collect();

    // Like a CPU-seconds counter: increments in hundredths, accumulated in binary floats.
    let mut v = 1234.56;
    let counter_float = (0..n)
        .map(|i| {
            v += rng.below(1500) as f64 * 0.01;
            (regular(i), v)
        })
        .collect();

    let mut v = 50.0;
    let gauge_random_walk = (0..n)
        .map(|i| {
            v += rng.unit();
            (regular(i), v)
        })
        .collect();

    let constant = (0..n).map(|i| (regular(i), 1.0)).collect();

    let mut v = 0.0;
    let jittered_ts = (0..n)
        .map(|i| {
            v += rng.below(10) as f64;
            (regular(i) + rng.below(501) as i64 - 250, v)
        })
        .collect();

    vec![
        ("counter_int", counter_int),
        ("counter_float", counter_float),
        ("gauge_random_walk", gauge_random_walk),
        ("constant", constant),
        ("jittered_ts", jittered_ts),
    ]
}

fn encode_prom(samples: &[(i64, f64)]) -> XorAppender {
    let mut app = XorAppender::new();
    for &(t, v) in samples {
        app.append(t, v).expect("room in chunk");
    }
    app
}

fn encode_bitvec(samples: &[(i64, f64)]) -> BitVecAppender {
    let mut app = BitVecAppender::new();
    for &(t, v) in samples {
        app.append(t, v).expect("room in chunk");
    }
    app
}

fn encode_tsz(samples: &[(i64, f64)]) -> Box<[u8]> {
    let start = samples.first().map_or(0, |s| s.0 as u64);
    let mut enc = StdEncoder::new(start, BufferedWriter::new());
    for &(t, v) in samples {
        enc.encode(DataPoint::new(t as u64, v));
    }
    enc.close()
}

/// What every decoder computes from the samples, so nothing is optimised away: the count and
/// a sum of `t XOR bits(v)`. One integer chain on purpose: a floating-point sum would put its
/// add latency on the critical path, and two separate accumulators (`t` summed, `v` XORed)
/// invite the compiler to pair them in one SIMD register, loading each sample's `t` and `v`
/// as one 16-byte vector right after two 8-byte stores, a store-forwarding stall that then
/// dominates the loop (it did, for both libraries, in a first version of this benchmark).
type Checksum = (u64, usize);

#[inline(always)]
fn mix(acc: u64, t: i64, v: f64) -> u64 {
    acc.wrapping_add(t as u64 ^ v.to_bits())
}

fn checksum(samples: &[(i64, f64)]) -> Checksum {
    samples
        .iter()
        .fold((0, 0), |(acc, n), &(t, v)| (mix(acc, t, v), n + 1))
}

fn decode_prom(bytes: &[u8]) -> Checksum {
    let mut it = XorIterator::new(bytes);
    let (mut acc, mut n) = (0, 0);
    while it.next() {
        let (t, v) = it.at();
        acc = mix(acc, t, v);
        n += 1;
    }
    (acc, n)
}

/// The same through the batch call, one closure call per sample.
fn decode_prom_batch(bytes: &[u8]) -> Checksum {
    let mut it = XorIterator::new(bytes);
    let (mut acc, mut n) = (0, 0);
    it.for_each_until(i64::MAX, |t, v| {
        acc = mix(acc, t, v);
        n += 1;
    });
    (acc, n)
}

fn decode_bitvec(bytes: &[u8]) -> Checksum {
    let mut it = BitVecIterator::new(bytes);
    let (mut acc, mut n) = (0, 0);
    while it.next() {
        let (t, v) = it.at();
        acc = mix(acc, t, v);
        n += 1;
    }
    (acc, n)
}

fn decode_tsz(bytes: Box<[u8]>) -> Checksum {
    let mut dec = StdDecoder::new(BufferedReader::new(bytes));
    let (mut acc, mut n) = (0, 0);
    while let Ok(dp) = dec.next() {
        acc = mix(acc, dp.get_time() as i64, dp.get_value());
        n += 1;
    }
    (acc, n)
}

/// Checks all three codecs round-trip the input, and prints bytes per sample.
fn report_sizes() {
    println!(
        "bytes/sample (prom-chunk includes its 2-byte header; tsz its 8-byte start time and end marker)"
    );
    println!(
        "{:<20} {:>6} {:>12} {:>8}",
        "shape", "n", "prom-chunk", "tsz"
    );
    for n in SIZES {
        for (shape, samples) in shapes(n) {
            let prom = encode_prom(&samples);
            let bv = encode_bitvec(&samples);
            let tsz = encode_tsz(&samples);
            assert_eq!(prom.bytes(), bv.bytes(), "{shape}: bitvec variant differs");
            let expect = checksum(&samples);
            assert_eq!(
                decode_prom(prom.bytes()),
                expect,
                "{shape}: prom-chunk round trip"
            );
            assert_eq!(
                decode_prom_batch(prom.bytes()),
                expect,
                "{shape}: prom-chunk batch round trip"
            );
            assert_eq!(
                decode_bitvec(prom.bytes()),
                expect,
                "{shape}: bitvec round trip"
            );
            assert_eq!(decode_tsz(tsz.clone()), expect, "{shape}: tsz round trip");
            println!(
                "{shape:<20} {n:>6} {:>12.3} {:>8.3}",
                prom.bytes().len() as f64 / n as f64,
                tsz.len() as f64 / n as f64
            );
        }
    }
}

fn chunk(c: &mut Criterion) {
    report_sizes();
    for (i, shape) in shapes(1).iter().map(|s| s.0).enumerate() {
        let mut group = c.benchmark_group(shape);
        for n in SIZES {
            let samples = shapes(n).swap_remove(i).1;
            let prom = encode_prom(&samples).into_bytes();
            let tsz = encode_tsz(&samples);
            group.throughput(Throughput::Elements(n as u64));

            group.bench_with_input(
                BenchmarkId::new("encode/prom-chunk", n),
                &samples,
                |b, s| b.iter(|| black_box(encode_prom(black_box(s)).bytes().len())),
            );
            group.bench_with_input(
                BenchmarkId::new("encode/prom-chunk-bitvec", n),
                &samples,
                |b, s| b.iter(|| black_box(encode_bitvec(black_box(s)).bytes().len())),
            );
            group.bench_with_input(BenchmarkId::new("encode/tsz", n), &samples, |b, s| {
                b.iter(|| black_box(encode_tsz(black_box(s)).len()))
            });

            group.bench_with_input(
                BenchmarkId::new("decode/prom-chunk", n),
                &prom,
                |b, bytes| b.iter(|| black_box(decode_prom(black_box(bytes)))),
            );
            group.bench_with_input(
                BenchmarkId::new("decode/prom-chunk-batch", n),
                &prom,
                |b, bytes| b.iter(|| black_box(decode_prom_batch(black_box(bytes)))),
            );
            group.bench_with_input(
                BenchmarkId::new("decode/prom-chunk-bitvec", n),
                &prom,
                |b, bytes| b.iter(|| black_box(decode_bitvec(black_box(bytes)))),
            );
            group.bench_with_input(BenchmarkId::new("decode/tsz", n), &tsz, |b, bytes| {
                b.iter_batched(
                    || bytes.clone(),
                    |owned| black_box(decode_tsz(owned)),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, chunk);
criterion_main!(benches);
