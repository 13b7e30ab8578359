//! The same codec on bit I/O built from the [`bitvec`](mod@bitvec) crate, for the benchmarks only.
//!
//! Enabled by the `bitvec` feature. It exists to measure the hand-rolled reader and writer
//! against a general-purpose bit container under an identical algorithm (the codec is generic
//! over the bit I/O); the results are recorded in the crate documentation. Use
//! [`XorAppender`](crate::XorAppender) and [`XorIterator`](crate::XorIterator) otherwise.

use bitvec::prelude::*;

use crate::bits::{BitRead, BitWrite};
use crate::error::{Error, Result};
use crate::xor::{DecState, EncState};

struct BvWriter {
    bits: BitVec<u8, Msb0>,
}

impl BitWrite for BvWriter {
    #[inline]
    fn write_bits(&mut self, v: u64, n: u32) {
        if let Some(tail) = v.view_bits::<Msb0>().get(64 - n as usize..) {
            self.bits.extend_from_bitslice(tail);
        }
    }

    fn bit_len(&self) -> u64 {
        self.bits.len() as u64 - 16
    }

    fn set_num_samples(&mut self, n: u16) {
        if let Some(h) = self.bits.as_raw_mut_slice().first_chunk_mut::<2>() {
            *h = n.to_be_bytes();
        }
    }
}

struct BvReader<'a> {
    bits: &'a BitSlice<u8, Msb0>,
    pos: usize,
}

impl BitRead for BvReader<'_> {
    #[inline]
    fn read_bits(&mut self, n: u32) -> Option<u64> {
        let end = self.pos + n as usize;
        let v = self.bits.get(self.pos..end)?.load_be::<u64>();
        self.pos = end;
        Some(v)
    }

    #[inline]
    fn read_bit(&mut self) -> Option<bool> {
        let b = *self.bits.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn skip_zero_pair(&mut self) -> bool {
        match self.bits.get(self.pos..self.pos + 2) {
            Some(pair) if pair.not_any() => {
                self.pos += 2;
                true
            }
            _ => false,
        }
    }

    fn bit_pos(&self) -> u64 {
        self.pos as u64
    }
}

/// [`XorAppender`](crate::XorAppender) on a `BitVec<u8, Msb0>`; writes identical bytes.
#[allow(missing_debug_implementations)]
pub struct BitVecAppender {
    w: BvWriter,
    state: EncState,
}

impl Default for BitVecAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl BitVecAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut bits = BitVec::with_capacity(128 * 8);
        bits.resize(16, false);
        Self {
            w: BvWriter { bits },
            state: EncState::new(),
        }
    }

    /// Appends a sample.
    ///
    /// # Errors
    ///
    /// [`Error::ChunkFull`] after 65,535 samples.
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        self.state.append(&mut self.w, t, v)
    }

    /// The chunk's bytes (minimal padding).
    pub fn bytes(&self) -> &[u8] {
        self.w.bits.as_raw_slice()
    }
}

/// [`XorIterator`](crate::XorIterator) (`next` and `at` only) on a `BitSlice<u8, Msb0>`.
#[allow(missing_debug_implementations)]
pub struct BitVecIterator<'a> {
    r: BvReader<'a>,
    d: DecState,
    err: Option<Error>,
}

impl<'a> BitVecIterator<'a> {
    /// An iterator over the chunk in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let (num, err) = match bytes.first_chunk::<2>() {
            Some(h) => (u16::from_be_bytes(*h), None),
            None => (0, Some(Error::TooShort { len: bytes.len() })),
        };
        Self {
            r: BvReader {
                bits: bytes.get(2..).unwrap_or_default().view_bits::<Msb0>(),
                pos: 0,
            },
            d: DecState::new(num),
            err,
        }
    }

    /// Advances to the next sample.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> bool {
        if self.d.num_read >= self.d.num_total {
            return false;
        }
        match self.d.decode_next(&mut self.r) {
            Ok(()) => true,
            Err(e) => {
                self.err = Some(e);
                self.d.num_total = self.d.num_read;
                false
            }
        }
    }

    /// The current sample.
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        (self.d.t, f64::from_bits(self.d.v))
    }

    /// The error that ended the iteration, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }
}
