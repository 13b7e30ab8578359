//! Gorilla XOR chunks, bit-exact with Prometheus's chunk encoding 1 (`EncXOR`).
//!
//! A chunk packs a run of float samples of one series, typically 120 of them: timestamps as
//! deltas of deltas, values as the XOR of each value with the previous one. That takes from
//! under half a byte per sample for a constant at a regular interval to about 7 for a noisy
//! float gauge (2 for an integer counter). This crate writes and reads the bytes Prometheus stores in the `chunks/` segment files
//! of a block and in its head: a chunk Prometheus wrote decodes here, and a chunk written here
//! decodes in Prometheus, with the same bytes for the same samples. Use it to build a TSDB
//! head or block reader, to read Prometheus blocks, or to inspect chunks. The bit layout is
//! described in `docs/formats/chunk.md`.
//!
//! ```
//! use prom_chunk::{XorAppender, XorChunk};
//!
//! let mut app = XorAppender::new();
//! app.append(1_000, 1.0)?;
//! app.append(16_000, 1.0)?;
//! app.append(31_000, 2.0)?;
//! // Sample count, timestamp 1000 as a zigzag varint, 1.0 as raw bits, delta 15000 as a
//! // varint, then bits: value unchanged, delta unchanged, and a new 11-bit XOR window.
//! assert_eq!(
//!     app.bytes(),
//!     [0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x98, 0x75, 0x30, 0x97, 0xff, 0xc0]
//! );
//!
//! let chunk = XorChunk::new(app.bytes())?;
//! let mut it = chunk.iter();
//! assert!(it.seek(10_000));
//! assert_eq!(it.at(), (16_000, 1.0));
//! assert!(it.next());
//! assert_eq!(it.at(), (31_000, 2.0));
//! assert!(!it.next());
//! assert!(it.err().is_none());
//! # Ok::<(), prom_chunk::Error>(())
//! ```
//!
//! # API themes
//!
//! - **Writing**: [`XorAppender`] appends `(t, v)` samples and exposes the chunk's bytes at any
//!   time with [`XorAppender::bytes`]. [`XorAppender::from_chunk`] reopens an existing chunk to
//!   keep appending, as Prometheus does. [`Padding`] chooses between Prometheus 3's minimal
//!   padding (default) and Prometheus 2's, when bytes must match a Prometheus 2 writer.
//! - **Reading**: [`XorChunk`] views borrowed bytes (a segment file slice, an mmap) without
//!   copying. [`XorIterator`] is the cursor for hot paths: [`next`](XorIterator::next),
//!   [`seek`](XorIterator::seek) (first sample at or after `t`, never backwards, legal after
//!   the end), [`at`](XorIterator::at), [`err`](XorIterator::err), and
//!   [`reset`](XorIterator::reset) to walk many chunks with one iterator and no allocation.
//!   [`for_each_until`](XorIterator::for_each_until) is the batch form of `next`: it decodes
//!   every following sample up to a time limit in one loop and calls a closure for each, the
//!   same samples and errors as the cursor; 20 to 33% faster per sample on regular-interval
//!   counters and gauges, but 25 to 36% slower when timestamps jitter (docs/benchmarks.md).
//!   [`Samples`] adapts it to a std [`Iterator`] of `Result<(i64, f64)>`.
//! - **Errors**: one [`Error`] enum. Corrupt or truncated bytes end the iteration with an
//!   error naming the sample and bit offset; decoding never panics (the crate denies
//!   `unwrap` and unchecked indexing, and proptests feed it random and truncated chunks).
//!
//! # Bit I/O: hand-rolled, measured against bitvec
//!
//! The bit writer ORs each field (the timestamp code and the value code are merged into one
//! field when they fit 64 bits) straight into the chunk's bytes with one big-endian 64-bit
//! read-modify-write, over a buffer that keeps 8 zero bytes of slack; so the chunk is always a
//! prefix of the buffer and [`XorAppender::bytes`] needs no flush. The reader refills a 64-bit
//! buffer 7 or 8 bytes at a time and takes each field with one shift; a regular interval with
//! an unchanged value (`0` `0`) is decoded in one step. The codec is generic over its bit I/O,
//! so the `bitvec` feature runs the same algorithm on a `bitvec::BitVec<u8, Msb0>`
//! (module `bitvec_io`, for the benchmarks only).
//!
//! Measured with `cargo bench -p prom-benches --bench chunk` on a shared 2-core AMD EPYC VM
//! (full table and method in `docs/benchmarks.md`, section "Chunks"), in ns per sample for
//! 120-sample chunks:
//!
//! | data shape | encode, hand-rolled | encode, bitvec | decode, hand-rolled | decode, bitvec | tsz encode / decode |
//! |---|---:|---:|---:|---:|---:|
//! | `counter_int` | 8.0 | 45.9 | 3.9 | 19.9 | 20.0 / 12.0 |
//! | `counter_float` | 8.3 | 110.1 | 4.8 | 22.8 | 35.0 / 18.1 |
//! | `gauge_random_walk` | 7.9 | 114.4 | 4.8 | 21.6 | 33.5 / 17.7 |
//! | `constant` | 2.8 | 19.5 | 1.6 | 5.7 | 7.4 / 4.3 |
//! | `jittered_ts` | 7.2 | 73.3 | 6.9 | 33.8 | 36.1 / 21.0 |
//!
//! The bitvec version is 6 to 14 times slower to encode (one bit-slice append per field,
//! through its generic element and ordering machinery) and 4 to 5 times slower to decode
//! (`load_be` on a sub-slice per field), with identical bytes; so the hand-rolled pair is the
//! one the public types use, and bitvec stays a benchmark-only feature. Against the `tsz`
//! crate, which implements the same Gorilla idea with its own layout, encoding is 2.5 to 6
//! times and decoding 2.8 to 3.8 times faster, at equal or smaller size except for jittered
//! timestamps (tsz's narrower buckets suit sub-second jitter better: 3.3 against 3.4 bytes per
//! sample).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// Chunks are untrusted input: no panicking shortcuts anywhere in the crate.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod bits;
#[cfg(feature = "bitvec")]
pub mod bitvec_io;
mod error;
mod xor;

pub use error::{Error, Result};
pub use xor::{ENCODING_XOR, MAX_SAMPLES, Padding, Samples, XorAppender, XorChunk, XorIterator};
