//! MSB-first bit I/O: the hand-rolled word-at-a-time writer and reader the chunk codec runs on.
//!
//! The codec in [`crate::xor`] is generic over [`BitWrite`] and [`BitRead`] so that the
//! benchmarks can swap in the bitvec-based pair (feature `bitvec`) under the same algorithm;
//! the public types always use the two implementations below.

/// A sink for an MSB-first bit stream that follows a chunk's 2-byte sample count.
pub(crate) trait BitWrite {
    /// Appends the `n` low bits of `v`, most significant first.
    ///
    /// `n` is in `1..=64` and the bits of `v` above the `n` low ones are zero.
    fn write_bits(&mut self, v: u64, n: u32);
    /// Number of bits written after the header.
    fn bit_len(&self) -> u64;
    /// Stores the sample count in the header.
    fn set_num_samples(&mut self, n: u16);
}

/// A source of an MSB-first bit stream. Every read returns `None` when the stream ends first.
pub(crate) trait BitRead {
    /// Reads `n` bits (`n` in `1..=64`) as the low bits of the result.
    fn read_bits(&mut self, n: u32) -> Option<u64>;
    /// Reads one bit.
    fn read_bit(&mut self) -> Option<bool>;
    /// Reads a timestamp bucket prefix (`0`, `10`, `110`, `1110` or `1111`) and returns how many
    /// one bits it holds (0 to 4).
    fn read_dod_prefix(&mut self) -> Option<u32> {
        let mut ones = 0;
        while ones < 4 {
            if !self.read_bit()? {
                break;
            }
            ones += 1;
        }
        Some(ones)
    }
    /// Consumes the next two bits if both are available and zero.
    fn skip_zero_pair(&mut self) -> bool;
    /// Number of bits consumed so far.
    fn bit_pos(&self) -> u64;
}

/// Bit writer that ORs each field straight into the chunk's bytes, 8 bytes at a time.
///
/// `buf` keeps at least 8 zero bytes past the last byte in use, so every write is one
/// big-endian read-modify-write of a whole word, and the chunk is always the prefix of `buf`
/// that [`BitWriter::bytes`] hands out: there is nothing to flush.
#[derive(Debug, Clone)]
pub(crate) struct BitWriter {
    /// Header, stream, then zero slack.
    buf: Vec<u8>,
    /// Bits written after the header.
    bits: u64,
}

/// The first allocation of a chunk. A head keeps one open chunk per series, so its spare
/// capacity is paid once per series: 64 bytes hold the first 25 to 40 samples of a typical
/// moving series and all 120 of a constant one (Prometheus allocates 128).
const INITIAL_CAPACITY: usize = 64;
/// Zero bytes kept past the current byte; a write touches at most 8.
const SLACK: usize = 8;

impl BitWriter {
    pub(crate) fn new() -> Self {
        let mut buf = Vec::with_capacity(INITIAL_CAPACITY);
        buf.resize(2 + SLACK, 0);
        Self { buf, bits: 0 }
    }

    /// A writer that continues after `bits` bits of the stream in `chunk` (sample count
    /// included in `chunk`, not in `bits`). Bits after that position are dropped.
    pub(crate) fn resume(chunk: &[u8], bits: u64) -> Self {
        let whole = usize::try_from(bits / 8).unwrap_or(usize::MAX);
        let rest = (bits % 8) as u32;
        let prefix = chunk.get(..2 + whole).unwrap_or(chunk);
        let mut buf = Vec::with_capacity(INITIAL_CAPACITY.max(prefix.len() + 2 * SLACK));
        buf.extend_from_slice(prefix);
        buf.resize(prefix.len().max(2) + SLACK, 0);
        let mut w = Self {
            buf,
            bits: whole as u64 * 8,
        };
        if rest > 0 {
            let partial = chunk.get(2 + whole).copied().unwrap_or(0);
            w.write_bits(u64::from(partial >> (8 - rest)), rest);
        }
        w
    }

    /// Length of the chunk in bytes: header plus the stream rounded up to whole bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        2 + self.bits.div_ceil(8) as usize
    }

    /// The chunk, followed by `extra` zero bytes (at most 1).
    #[inline]
    pub(crate) fn bytes(&self, extra: usize) -> &[u8] {
        let len = self.len() + extra;
        self.buf.get(..len).unwrap_or(&self.buf)
    }

    pub(crate) fn into_vec(mut self, extra: usize) -> Vec<u8> {
        let len = self.len() + extra;
        self.buf.truncate(len);
        self.buf
    }

    /// Makes room: first the rest of the allocation, then a new one half as large again (not
    /// twice: an open chunk's spare capacity is per series, and reallocating a chunk of a few
    /// hundred bytes is cheap next to the samples that filled it).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let need = self.len() + 2 * SLACK;
        let cap = self.buf.capacity();
        let len = if need <= cap {
            cap
        } else {
            need.max(cap + cap / 2)
        };
        self.buf.reserve_exact(len - self.buf.len());
        self.buf.resize(len, 0);
    }

    /// The bytes allocated for the chunk.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Writes up to 57 bits: with the bit offset in the byte, they fit one 64-bit word.
    #[inline(always)]
    fn write_word(&mut self, v: u64, n: u32) {
        let at = 2 + (self.bits / 8) as usize;
        if at + SLACK > self.buf.len() {
            self.grow();
        }
        let shift = 64 - (self.bits % 8) as u32 - n;
        if let Some(word) = self
            .buf
            .get_mut(at..)
            .and_then(<[u8]>::first_chunk_mut::<8>)
        {
            *word = (u64::from_be_bytes(*word) | v << shift).to_be_bytes();
        }
        self.bits += u64::from(n);
    }
}

impl BitWrite for BitWriter {
    #[inline(always)]
    fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!((1..=64).contains(&n));
        debug_assert!(n == 64 || v >> n == 0);
        if n <= 57 {
            self.write_word(v, n);
        } else {
            self.write_word(v >> 32, n - 32);
            self.write_word(v & 0xffff_ffff, 32);
        }
    }

    #[inline]
    fn bit_len(&self) -> u64 {
        self.bits
    }

    #[inline]
    fn set_num_samples(&mut self, n: u16) {
        if let Some(header) = self.buf.first_chunk_mut::<2>() {
            *header = n.to_be_bytes();
        }
    }
}

/// Bit reader over borrowed bytes with a 64-bit buffer refilled 7 or 8 bytes at a time.
///
/// Bits of `buf` below the `avail` valid ones are either zero or the next bits of the stream,
/// never anything else, so a refill can OR new bytes in and a prefix can be peeked before it is
/// known to be complete.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the first byte not yet counted in `avail`.
    next: usize,
    /// Buffered bits, left-aligned.
    buf: u64,
    /// Number of valid bits in `buf`, `0..=64`.
    avail: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            next: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Loads more bytes. Called only with `avail < 56`. Afterwards `avail >= 56` unless the
    /// data ends first; the stream position ([`BitRead::bit_pos`]) does not move.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        debug_assert!(self.avail < 56);
        if let Some(word) = self
            .data
            .get(self.next..)
            .and_then(<[u8]>::first_chunk::<8>)
        {
            self.buf |= u64::from_be_bytes(*word) >> self.avail;
            let whole = (63 - self.avail) / 8;
            self.next += whole as usize;
            self.avail += whole * 8;
        } else {
            self.refill_tail();
        }
    }

    /// The buffered bits, left-aligned, and how many of them are valid: `(buf, avail)`. Bits
    /// past the valid ones are zero or the stream's next bits, so a prefix test on `buf` must
    /// still check its length against `avail`.
    #[inline(always)]
    pub(crate) fn peek(&self) -> (u64, u32) {
        (self.buf, self.avail)
    }

    /// Drops `n` bits, `n` in `1..=63` and at most the valid ones (see [`BitReader::peek`]).
    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) {
        debug_assert!((1..64).contains(&n) && n <= self.avail);
        self.buf <<= n;
        self.avail -= n;
    }

    /// The last 7 bytes or fewer, one at a time.
    #[cold]
    #[inline(never)]
    fn refill_tail(&mut self) {
        while self.avail <= 56 {
            let Some(&b) = self.data.get(self.next) else {
                break;
            };
            self.buf |= u64::from(b) << (56 - self.avail);
            self.next += 1;
            self.avail += 8;
        }
    }

    #[inline(always)]
    fn take(&mut self, n: u32) -> u64 {
        debug_assert!((1..=self.avail).contains(&n));
        let v = self.buf >> (64 - n);
        // Two shifts so that n == 64 gives 0 instead of overflowing the shift.
        self.buf = (self.buf << 1) << (n - 1);
        self.avail -= n;
        v
    }

    /// More than 56 bits: two reads, as one refill cannot guarantee them.
    #[cold]
    #[inline(never)]
    fn read_bits_wide(&mut self, n: u32) -> Option<u64> {
        let hi = self.read_bits(n - 32)?;
        let lo = self.read_bits(32)?;
        Some(hi << 32 | lo)
    }
}

impl BitRead for BitReader<'_> {
    #[inline(always)]
    fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!((1..=64).contains(&n));
        if n > self.avail {
            if n > 56 {
                return self.read_bits_wide(n);
            }
            self.refill();
            if n > self.avail {
                return None;
            }
        }
        Some(self.take(n))
    }

    #[inline(always)]
    fn read_bit(&mut self) -> Option<bool> {
        if self.avail == 0 {
            self.refill();
            if self.avail == 0 {
                return None;
            }
        }
        Some(self.take(1) == 1)
    }

    #[inline(always)]
    fn skip_zero_pair(&mut self) -> bool {
        if self.avail >= 2 && self.buf >> 62 == 0 {
            self.buf <<= 2;
            self.avail -= 2;
            return true;
        }
        false
    }

    #[inline(always)]
    fn read_dod_prefix(&mut self) -> Option<u32> {
        if self.avail < 4 {
            self.refill();
        }
        if self.avail > 0 && self.buf >> 63 == 0 {
            self.buf <<= 1;
            self.avail -= 1;
            return Some(0);
        }
        // Leading ones of the buffer, at most 4; bits past `avail` are zero or genuine, so
        // checking `used` against `avail` afterwards is enough.
        let ones = (!self.buf).leading_zeros().min(4);
        let used = if ones == 4 { 4 } else { ones + 1 };
        if used > self.avail {
            return None;
        }
        self.buf <<= used;
        self.avail -= used;
        Some(ones)
    }

    #[inline]
    fn bit_pos(&self) -> u64 {
        self.next as u64 * 8 - u64::from(self.avail)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn writer_packs_msb_first() {
        let mut w = BitWriter::new();
        w.write_bits(0b1, 1);
        w.write_bits(0b01, 2);
        w.write_bits(0x1f, 5);
        w.write_bits(0xabc, 12);
        assert_eq!(w.bytes(0), &[0, 0, 0b1011_1111, 0xab, 0xc0]);
        assert_eq!(w.bit_len(), 20);
    }

    #[test]
    fn writer_fills_its_allocation_before_growing_by_half() {
        let mut w = BitWriter::new();
        assert_eq!(w.capacity(), INITIAL_CAPACITY);
        // Up to the last byte that leaves 8 bytes of slack: no reallocation.
        while w.len() + SLACK < INITIAL_CAPACITY {
            w.write_bits(0xa5, 8);
        }
        assert_eq!(w.capacity(), INITIAL_CAPACITY);
        let mut caps = vec![];
        for i in 0..2000u64 {
            w.write_bits(i & 0xff, 8);
            if caps.last() != Some(&w.capacity()) {
                caps.push(w.capacity());
            }
        }
        assert_eq!(caps[..4], [64, 96, 144, 216]);
        assert!(caps.windows(2).all(|c| c[1] <= c[0] * 3 / 2 + 16));
        // Everything written is still there.
        let b = w.bytes(0);
        assert_eq!(b.len(), 2 + (INITIAL_CAPACITY - SLACK - 2) + 2000);
        assert_eq!(b[b.len() - 1], (1999 & 0xff) as u8);
    }

    #[test]
    fn writer_crosses_words() {
        let mut w = BitWriter::new();
        w.write_bits(0b101, 3);
        w.write_bits(u64::MAX, 64);
        w.write_bits(0, 61);
        w.write_bits(0x3, 2);
        let b = w.bytes(0);
        assert_eq!(b.len(), 2 + 17);
        assert_eq!(b[2], 0b1011_1111);
        assert_eq!(&b[3..10], &[0xff; 7]);
        assert_eq!(b[10], 0b1110_0000);
        assert_eq!(b[18], 0b1100_0000);
    }

    #[test]
    fn reader_reads_back_any_split() {
        let fields: Vec<(u64, u32)> = (1..=64u32)
            .map(|n| (0x9e37_79b9_7f4a_7c15u64 >> (64 - n), n))
            .collect();
        let mut w = BitWriter::new();
        for &(v, n) in &fields {
            w.write_bits(v, n);
        }
        let bytes = w.bytes(0);
        let mut r = BitReader::new(&bytes[2..]);
        for &(v, n) in &fields {
            assert_eq!(r.read_bits(n), Some(v), "field of {n} bits");
        }
        assert_eq!(r.bit_pos(), w.bit_len());
        // Padding bits remain, then the end.
        let pad = (8 - w.bit_len() % 8) % 8;
        if pad > 0 {
            assert_eq!(r.read_bits(pad as u32), Some(0));
        }
        assert_eq!(r.read_bit(), None);
    }

    #[test]
    fn resume_keeps_partial_byte() {
        let mut w = BitWriter::new();
        w.write_bits(0b1011, 4);
        let mut chunk = w.bytes(0).to_vec();
        chunk[2] |= 0b0000_0111; // garbage past the resume point must be dropped
        let mut w = BitWriter::resume(&chunk, 4);
        w.write_bits(0b0110, 4);
        assert_eq!(w.bytes(0), &[0, 0, 0b1011_0110]);
    }

    #[test]
    fn dod_prefix_at_end_of_stream() {
        let data = [0b1100_0000u8];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_dod_prefix(), Some(2));
        let data = [0b1111_1111u8];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_dod_prefix(), Some(4));
        assert_eq!(r.read_dod_prefix(), Some(4));
        assert_eq!(r.read_dod_prefix(), None);
    }
}
