//! The XOR chunk codec: appender, borrowed chunk view, cursor iterator.
//!
//! The algorithm lives in [`EncState`] and [`DecState`], generic over the bit I/O traits; the
//! public types bind them to the hand-rolled [`BitWriter`] and [`BitReader`].

use crate::bits::{BitRead, BitReader, BitWrite, BitWriter};
use crate::error::{Error, Result};

/// The chunk encoding byte Prometheus stores in front of an XOR chunk in a segment file
/// (`EncXOR`).
pub const ENCODING_XOR: u8 = 1;

/// Most samples a chunk can hold: its count is a big-endian `u16`.
pub const MAX_SAMPLES: u16 = u16::MAX;

/// How an [`XorAppender`] pads the end of its chunk.
///
/// Both layouts decode the same everywhere: readers stop after the number of samples in the
/// header. They differ only in trailing zero bytes, which matters when comparing bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Padding {
    /// The stream is padded with 0 to 7 zero bits up to the next byte boundary, as
    /// Prometheus 3 writes chunks. The default.
    #[default]
    Minimal,
    /// As Prometheus 2 writes chunks: when the stream ends exactly on a byte boundary and its
    /// last field was written as whole bytes, one more zero byte follows (its bit writer
    /// reserved the next byte early). Every one-sample chunk ends with that byte. Use it to
    /// reproduce bytes written by Prometheus 2, such as promtool 2.x's blocks.
    Prometheus2,
}

/// Whether `x` fits the `n`-bit timestamp bucket: `-(2^(n-1) - 1) ..= 2^(n-1)`.
#[inline]
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -half < x && x <= half
}

/// Low `n` bits of `x`, two's complement.
#[inline]
fn low_bits(x: i64, n: u32) -> u64 {
    (x as u64) & ((1u64 << n) - 1)
}

/// Undoes [`low_bits`] for a bucket: values above `2^(n-1)` are negative.
#[inline]
fn from_low_bits(bits: u64, n: u32) -> i64 {
    if bits > 1u64 << (n - 1) {
        bits as i64 - (1i64 << n)
    } else {
        bits as i64
    }
}

/// Go's `binary.PutUvarint`, written byte by byte into the bit stream.
fn write_uvarint<W: BitWrite>(w: &mut W, mut x: u64) {
    while x >= 0x80 {
        w.write_bits((x & 0x7f) | 0x80, 8);
        x >>= 7;
    }
    w.write_bits(x, 8);
}

/// Encoder state: what the previous samples leave behind for the next one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncState {
    /// Samples so far. A u32 though it never exceeds u16::MAX: the hot path loads it whole,
    /// and a 16-bit field shares its load with neighbours, which defeats store forwarding.
    num: u32,
    t: i64,
    v: u64,
    t_delta: u64,
    /// Leading zeros of the current value window; 0xff before the first window.
    leading: u8,
    trailing: u8,
    /// The last field went out through whole-byte writes (see [`Padding::Prometheus2`]).
    whole_bytes_last: bool,
}

impl EncState {
    pub(crate) fn new() -> Self {
        Self {
            num: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
            whole_bytes_last: false,
        }
    }

    /// Number of extra zero bytes `padding` asks for after a stream of `bit_len` bits.
    #[inline]
    pub(crate) fn extra_bytes(&self, padding: Padding, bit_len: u64) -> usize {
        usize::from(
            padding == Padding::Prometheus2
                && self.num > 0
                && self.whole_bytes_last
                && bit_len.is_multiple_of(8),
        )
    }

    #[inline(always)]
    pub(crate) fn append<W: BitWrite>(&mut self, w: &mut W, t: i64, v: f64) -> Result<()> {
        if self.num < 2 || self.num >= u32::from(MAX_SAMPLES) {
            return self.append_first(w, t, v);
        }
        let vb = v.to_bits();
        let x = vb ^ self.v;
        let delta = t.wrapping_sub(self.t) as u64;
        let dod = delta.wrapping_sub(self.t_delta) as i64;
        if dod == 0 && x == 0 {
            // Regular interval, unchanged value: '0' '0', and only `t` moves.
            w.write_bits(0, 2);
            self.whole_bytes_last = false;
            self.t = t;
            self.num += 1;
            w.set_num_samples(self.num as u16);
            return Ok(());
        }
        // The timestamp code goes out with the value's in as few writes as possible.
        if dod == 0 {
            self.write_value(w, x, 0, 1);
        } else if fits(dod, 14) {
            self.write_value(w, x, 0b10 << 14 | low_bits(dod, 14), 16);
        } else if fits(dod, 17) {
            self.write_value(w, x, 0b110 << 17 | low_bits(dod, 17), 20);
        } else if fits(dod, 20) {
            self.write_value(w, x, 0b1110 << 20 | low_bits(dod, 20), 24);
        } else {
            w.write_bits(0b1111, 4);
            w.write_bits(dod as u64, 64);
            self.write_value(w, x, 0, 0);
        }
        self.t = t;
        self.v = vb;
        self.t_delta = delta;
        self.num += 1;
        w.set_num_samples(self.num as u16);
        Ok(())
    }

    /// Samples 0 and 1, whose timestamps are varints, and the full chunk.
    #[inline(never)]
    fn append_first<W: BitWrite>(&mut self, w: &mut W, t: i64, v: f64) -> Result<()> {
        let vb = v.to_bits();
        match self.num {
            0 => {
                // Zigzag, as Go's binary.PutVarint.
                write_uvarint(w, ((t << 1) ^ (t >> 63)) as u64);
                w.write_bits(vb, 64);
                self.whole_bytes_last = true;
            }
            1 => {
                self.t_delta = t.wrapping_sub(self.t) as u64;
                write_uvarint(w, self.t_delta);
                self.write_value(w, vb ^ self.v, 0, 0);
            }
            _ => return Err(Error::ChunkFull),
        }
        self.t = t;
        self.v = vb;
        self.num += 1;
        w.set_num_samples(self.num as u16);
        Ok(())
    }

    /// Writes `pre` (`pre_len` bits, at most 24, of an already chosen timestamp code), then the
    /// value whose XOR with the previous one is `x`.
    #[inline(always)]
    fn write_value<W: BitWrite>(&mut self, w: &mut W, x: u64, pre: u64, pre_len: u32) {
        if x == 0 {
            w.write_bits(pre << 1, pre_len + 1);
            self.whole_bytes_last = false;
            return;
        }
        // Five bits hold the leading-zero count, so it saturates at 31.
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        let (code, code_len, m);
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            // Fits the previous window: '10' and the window's bits.
            m = 64 - u32::from(self.leading) - u32::from(self.trailing);
            (code, code_len) = (0b10, 2);
        } else {
            // New window: '11', 5 bits of leading zeros, 6 bits of meaningful-bit count (64
            // stored as 0), then the meaningful bits.
            self.leading = leading;
            self.trailing = trailing;
            m = 64 - u32::from(leading) - u32::from(trailing);
            code = 0b11 << 11 | u64::from(leading) << 6 | u64::from(m & 63);
            code_len = 13;
        }
        let payload = x >> self.trailing;
        let head = pre << code_len | code;
        let head_len = pre_len + code_len;
        if head_len + m <= 64 {
            w.write_bits(head << m | payload, head_len + m);
        } else {
            w.write_bits(head, head_len);
            w.write_bits(payload, m);
        }
        self.whole_bytes_last = m % 8 == 0;
    }
}

/// Decoder state: the last sample and the value window.
///
/// `repr(C)` to pin the field order: `t` and `v` are stored separately on every sample, and if
/// they were adjacent a caller's code could read them back as one 16-byte vector load, which
/// store forwarding cannot serve (a stall of a dozen cycles per sample, measured).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct DecState {
    pub(crate) t: i64,
    t_delta: u64,
    pub(crate) v: u64,
    // u32 for the same store-forwarding reason as `EncState::num`.
    pub(crate) num_total: u32,
    pub(crate) num_read: u32,
    /// Prometheus's reader starts with an empty window of 0 and 0, which a '10' value would
    /// read as 64 meaningful bits; [`XorAppender::from_chunk`] relies on it.
    leading: u8,
    trailing: u8,
    /// Why the last step failed when it was not the end of the data.
    fault: Fault,
}

/// Failures other than running out of bits, noted by the step that hit them so that the hot
/// path only passes an `Option` around.
#[derive(Debug, Clone, Copy, Default)]
enum Fault {
    #[default]
    EndOfData,
    VarintOverflow,
    InvalidWindow {
        leading: u8,
        meaningful: u8,
    },
}

impl DecState {
    pub(crate) fn new(num_total: u16) -> Self {
        Self {
            num_total: u32::from(num_total),
            ..Self::default()
        }
    }

    /// Go's `binary.ReadUvarint`: at most 10 bytes, the tenth at most 1.
    fn uvarint<R: BitRead>(&mut self, r: &mut R) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = r.read_bits(8)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    break;
                }
                return Some(x | b << (7 * i));
            }
            x |= (b & 0x7f) << (7 * i);
        }
        self.fault = Fault::VarintOverflow;
        None
    }

    /// Decodes the next sample into `t` and `v`. The caller checks `num_read < num_total`.
    #[inline(always)]
    pub(crate) fn decode_next<R: BitRead>(&mut self, r: &mut R) -> Result<()> {
        let ok = if self.num_read >= 2 {
            self.step(r)
        } else {
            self.first_steps(r)
        };
        match ok {
            Some(()) => {
                self.num_read += 1;
                Ok(())
            }
            None => Err(self.error(r)),
        }
    }

    #[cold]
    #[inline(never)]
    fn error<R: BitRead>(&self, r: &R) -> Error {
        let (sample, bit_offset) = (self.num_read as u16, r.bit_pos() + 16);
        match self.fault {
            Fault::EndOfData => Error::UnexpectedEnd {
                sample,
                num_samples: self.num_total as u16,
                bit_offset,
            },
            Fault::VarintOverflow => Error::VarintOverflow { sample, bit_offset },
            Fault::InvalidWindow {
                leading,
                meaningful,
            } => Error::InvalidWindow {
                sample,
                leading,
                meaningful,
                bit_offset,
            },
        }
    }

    /// Samples 0 and 1, whose timestamps are varints.
    #[inline(never)]
    fn first_steps<R: BitRead>(&mut self, r: &mut R) -> Option<()> {
        if self.num_read == 0 {
            let zz = self.uvarint(r)?;
            self.t = (zz >> 1) as i64 ^ -((zz & 1) as i64);
            self.v = r.read_bits(64)?;
        } else {
            self.t_delta = self.uvarint(r)?;
            self.t = self.t.wrapping_add(self.t_delta as i64);
            self.read_value(r)?;
        }
        Some(())
    }

    /// Samples 2 and later.
    #[inline(always)]
    fn step<R: BitRead>(&mut self, r: &mut R) -> Option<()> {
        // Regular interval and unchanged value: the commonest sample of all.
        if r.skip_zero_pair() {
            self.t = self.t.wrapping_add(self.t_delta as i64);
            return Some(());
        }
        let dod = match r.read_dod_prefix()? {
            0 => 0,
            1 => from_low_bits(r.read_bits(14)?, 14),
            2 => from_low_bits(r.read_bits(17)?, 17),
            3 => from_low_bits(r.read_bits(20)?, 20),
            _ => r.read_bits(64)? as i64,
        };
        self.t_delta = self.t_delta.wrapping_add(dod as u64);
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.read_value(r)
    }

    #[inline(always)]
    fn read_value<R: BitRead>(&mut self, r: &mut R) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            let header = r.read_bits(11)?;
            let leading = (header >> 6) as u8;
            let meaningful = match (header & 63) as u8 {
                0 => 64,
                m => m,
            };
            if leading + meaningful > 64 {
                self.fault = Fault::InvalidWindow {
                    leading,
                    meaningful,
                };
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - meaningful;
        }
        // leading + trailing <= 63 holds for every window, so 1..=64 bits.
        let m = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = r.read_bits(m)?;
        self.v ^= bits << self.trailing;
        Some(())
    }

    /// Bits of the commonest changed sample, `0` `10` and the current window's meaningful
    /// bits (regular interval, value inside the window), when they can be taken in one shift:
    /// at most 63. Otherwise `u32::MAX`, which no buffer holds.
    #[inline(always)]
    fn window_run_len(&self) -> u32 {
        let m = 64 - u32::from(self.leading) - u32::from(self.trailing);
        if m <= 60 { 3 + m } else { u32::MAX }
    }

    /// The encoder state that continues this stream as if it had written it.
    fn to_enc_state(self, prev_v: u64) -> EncState {
        let mut s = EncState {
            num: self.num_read,
            t: self.t,
            v: self.v,
            t_delta: self.t_delta,
            leading: self.leading,
            trailing: self.trailing,
            whole_bytes_last: false,
        };
        match self.num_read {
            0 => s.leading = 0xff,
            1 => s.whole_bytes_last = true,
            _ => {
                let changed = prev_v != self.v;
                s.whole_bytes_last = changed && (self.leading + self.trailing).is_multiple_of(8);
            }
        }
        s
    }
}

/// Reads the sample count of a chunk.
#[inline]
fn header(bytes: &[u8]) -> Result<u16> {
    match bytes.first_chunk::<2>() {
        Some(h) => Ok(u16::from_be_bytes(*h)),
        None => Err(Error::TooShort { len: bytes.len() }),
    }
}

/// Builds an XOR chunk one sample at a time.
///
/// Timestamps are expected to increase strictly, as Prometheus's head guarantees before it
/// appends; the appender does not check. (The encoding itself round-trips any sequence of
/// `i64`s, with wrapping deltas, but [`XorIterator::seek`] assumes order.)
///
/// ```
/// use prom_chunk::{XorAppender, XorChunk};
///
/// let mut app = XorAppender::new();
/// for i in 0..120 {
///     app.append(1_700_000_000_000 + i * 15_000, i as f64)?;
/// }
/// assert_eq!(app.num_samples(), 120);
/// let chunk = XorChunk::new(app.bytes())?;
/// assert_eq!(chunk.samples().count(), 120);
/// # Ok::<(), prom_chunk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    state: EncState,
    padding: Padding,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk with [`Padding::Minimal`].
    pub fn new() -> Self {
        Self {
            w: BitWriter::new(),
            state: EncState::new(),
            padding: Padding::Minimal,
        }
    }

    /// Sets how the end of the chunk is padded (consuming builder). It only changes what
    /// [`XorAppender::bytes`] returns, and can be set at any time.
    #[must_use]
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Continues an existing chunk, as Prometheus does when it reopens one: the chunk is
    /// decoded to its end to recover the encoder's state, then new samples go right after the
    /// last one (any padding after it is dropped).
    ///
    /// Like Prometheus, a reopened chunk of exactly one sample has no value window yet, so its
    /// next changed value is written with all 64 bits; the bytes therefore match what
    /// Prometheus writes in the same situation.
    ///
    /// # Errors
    ///
    /// Any decoding error of the existing chunk.
    pub fn from_chunk(bytes: &[u8]) -> Result<Self> {
        let num = header(bytes)?;
        let mut r = BitReader::new(bytes.get(2..).unwrap_or_default());
        let mut d = DecState::new(num);
        let mut prev_v = 0;
        while d.num_read < d.num_total {
            prev_v = d.v;
            d.decode_next(&mut r)?;
        }
        Ok(Self {
            w: BitWriter::resume(bytes, r.bit_pos()),
            state: d.to_enc_state(prev_v),
            padding: Padding::Minimal,
        })
    }

    /// Appends a sample.
    ///
    /// # Errors
    ///
    /// [`Error::ChunkFull`] when the chunk already holds [`MAX_SAMPLES`] samples. Prometheus
    /// cuts a new chunk long before (at 120 samples by default).
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        self.state.append(&mut self.w, t, v)
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> u16 {
        self.state.num as u16
    }

    /// The last sample appended, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.state.num > 0).then(|| (self.state.t, f64::from_bits(self.state.v)))
    }

    /// The chunk's bytes so far: the sample count, then the bit stream, padded.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes(self.extra())
    }

    /// The chunk's bytes, without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        let extra = self.extra();
        self.w.into_vec(extra)
    }

    fn extra(&self) -> usize {
        self.state.extra_bytes(self.padding, self.w.bit_len())
    }
}

/// An XOR chunk viewed over borrowed bytes (a slice of a segment file or of an mmap); nothing
/// is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorChunk<'a> {
    bytes: &'a [u8],
    num_samples: u16,
}

impl<'a> XorChunk<'a> {
    /// Views `bytes` as a chunk. Only the 2-byte header is checked here; the stream is checked
    /// as it is iterated.
    ///
    /// # Errors
    ///
    /// [`Error::TooShort`] when `bytes` has fewer than 2 bytes.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Ok(Self {
            num_samples: header(bytes)?,
            bytes,
        })
    }

    /// Number of samples the header announces.
    pub fn num_samples(&self) -> u16 {
        self.num_samples
    }

    /// The chunk's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// A cursor iterator over the samples.
    pub fn iter(&self) -> XorIterator<'a> {
        XorIterator::new(self.bytes)
    }

    /// The samples as a std [`Iterator`] of `Result<(t, v)>`.
    pub fn samples(&self) -> Samples<'a> {
        Samples {
            it: self.iter(),
            reported: false,
        }
    }

    /// An appender that continues this chunk (the bytes are copied); see
    /// [`XorAppender::from_chunk`].
    ///
    /// # Errors
    ///
    /// Any decoding error of the chunk.
    pub fn appender(&self) -> Result<XorAppender> {
        XorAppender::from_chunk(self.bytes)
    }
}

impl<'a> IntoIterator for XorChunk<'a> {
    type Item = Result<(i64, f64)>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.samples()
    }
}

impl<'a> IntoIterator for &XorChunk<'a> {
    type Item = Result<(i64, f64)>;
    type IntoIter = Samples<'a>;

    fn into_iter(self) -> Samples<'a> {
        self.samples()
    }
}

/// Cursor over the samples of an XOR chunk: `next`, `seek`, `at`, `err`.
///
/// Decoding is lazy and allocation-free; one iterator can walk many chunks through
/// [`XorIterator::reset`]. Corrupt or truncated input ends the iteration and is reported by
/// [`XorIterator::err`]; it never panics.
///
/// ```
/// use prom_chunk::{XorAppender, XorIterator};
///
/// let mut a = XorAppender::new();
/// let mut b = XorAppender::new();
/// for i in 0..10 {
///     a.append(i * 1000, 1.0)?;
///     b.append(i * 1000, 2.0)?;
/// }
/// let mut it = XorIterator::default();
/// let mut sum = 0.0;
/// for chunk in [a.bytes(), b.bytes()] {
///     it.reset(chunk);
///     assert!(it.seek(4500));
///     assert_eq!(it.at().0, 5000);
///     while it.next() {
///         sum += it.at().1;
///     }
///     assert!(it.err().is_none());
/// }
/// assert_eq!(sum, 4.0 * 1.0 + 4.0 * 2.0);
/// # Ok::<(), prom_chunk::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    d: DecState,
    err: Option<Error>,
    /// `next` has returned false: stay there.
    exhausted: bool,
}

impl<'a> XorIterator<'a> {
    /// An iterator over the chunk in `bytes`. If `bytes` cannot hold a chunk header, the
    /// iterator is empty and [`XorIterator::err`] says why.
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut it = Self::default();
        it.reset(bytes);
        it
    }

    /// Restarts on another chunk, keeping nothing from the previous one (and allocating
    /// nothing).
    pub fn reset(&mut self, bytes: &'a [u8]) {
        self.r = BitReader::new(bytes.get(2..).unwrap_or_default());
        self.exhausted = false;
        match header(bytes) {
            Ok(n) => {
                self.d = DecState::new(n);
                self.err = None;
            }
            Err(e) => {
                self.d = DecState::new(0);
                self.err = Some(e);
            }
        }
    }

    /// Advances to the next sample. Returns false at the end of the chunk or on an error (see
    /// [`XorIterator::err`]), and from then on.
    #[inline]
    #[allow(clippy::should_implement_trait)] // The cursor is the primary API; `Samples` adapts it.
    pub fn next(&mut self) -> bool {
        if self.d.num_read < self.d.num_total {
            match self.d.decode_next(&mut self.r) {
                Ok(()) => return true,
                Err(e) => self.fail(e),
            }
        }
        self.exhausted = true;
        false
    }

    /// `next` out of line, for the batch call's first two samples: a second inlined copy of
    /// `next` there made the compiler stop inlining `next` into callers' cursor loops
    /// (measured: the cursor decode 40 to 70% slower).
    #[inline(never)]
    fn next_cold(&mut self) -> bool {
        self.next()
    }

    #[cold]
    fn fail(&mut self, e: Error) {
        self.err = Some(e);
        self.d.num_total = self.d.num_read;
    }

    /// Decodes the following samples in one loop: calls `f(t, v)` for each one with
    /// `t <= maxt`, in order, and stops at the first one past `maxt`, which becomes the current
    /// sample ([`XorIterator::at`]) and is not passed to `f`: then it returns true. At the end
    /// of the chunk or on an error it returns false, and [`XorIterator::err`] says which.
    ///
    /// Exactly the same as (only faster than)
    ///
    /// ```text
    /// while it.next() {
    ///     let (t, v) = it.at();
    ///     if t > maxt {
    ///         return true;
    ///     }
    ///     f(t, v);
    /// }
    /// false
    /// ```
    ///
    /// with the same samples, the same error and the same state afterwards, so it mixes freely
    /// with `next`, `seek` and `at`. `maxt = i64::MAX` reads the rest of the chunk.
    ///
    /// ```
    /// use prom_chunk::{XorAppender, XorIterator};
    ///
    /// let mut a = XorAppender::new();
    /// for i in 0..10 {
    ///     a.append(i * 1000, i as f64)?;
    /// }
    /// let mut it = XorIterator::new(a.bytes());
    /// let mut got = vec![];
    /// assert!(it.for_each_until(4000, |t, v| got.push((t, v))));
    /// assert_eq!(got.len(), 5);
    /// assert_eq!(it.at(), (5000, 5.0)); // the first sample past 4000 is current
    /// assert!(!it.for_each_until(i64::MAX, |t, _| got.push((t, 0.0))));
    /// assert_eq!(got.len(), 9);
    /// assert!(it.err().is_none());
    /// # Ok::<(), prom_chunk::Error>(())
    /// ```
    #[inline]
    pub fn for_each_until<F: FnMut(i64, f64)>(&mut self, maxt: i64, mut f: F) -> bool {
        // Samples 0 and 1 (varint timestamps) through the cursor.
        while self.d.num_read < 2 {
            if !self.next_cold() {
                return false;
            }
            let (t, v) = self.at();
            if t > maxt {
                return true;
            }
            f(t, v);
        }
        // The reader and decoder live in locals for the loop (registers: nothing takes their
        // address past the inlined steps), and go back once at the end.
        let mut r = self.r;
        let mut d = self.d;
        let mut run = d.window_run_len();
        let stopped = loop {
            if d.num_read >= d.num_total {
                break Some(false);
            }
            let (mut buf, mut avail) = r.peek();
            // Refill only when the path about to be taken lacks bits: a refill is on the
            // critical path from one sample to the next. '0' '0' needs 2, '0' '10' the
            // window's run, the one-shift timestamp codes 24.
            if avail < 56 && !(avail >= 2 && buf >> 62 == 0) {
                let need = if buf >> 61 == 0b010 { run } else { 24 };
                if avail < need {
                    r.refill();
                    (buf, avail) = r.peek();
                }
            }
            if avail >= 2 && buf >> 62 == 0 {
                // '0' '0': regular interval, unchanged value.
                r.skip(2);
            } else if buf >> 61 == 0b010 && run <= avail {
                // '0' '10' and the window's bits: regular interval, value inside the window
                // (1..=60 meaningful bits, so the shifts stay in range).
                let m = run - 3;
                d.v ^= ((buf << 3) >> (64 - m)) << d.trailing;
                r.skip(run);
            } else {
                // Anything else. With the buffer full (not near the end), a timestamp code of
                // 14, 17 or 20 bits, or none, is taken in one shift; the value then goes
                // through the cursor's checked read. Otherwise the cursor's whole step. Both
                // report errors exactly as `next` does: they read the same bits in the same
                // order, and the shortcut cannot run out of bits.
                let ones = (!buf).leading_zeros();
                let ok = if avail >= 24 && ones < 4 {
                    let (dod, used) = match ones {
                        0 => (0, 1),
                        1 => (from_low_bits((buf << 2) >> 50, 14), 16),
                        2 => (from_low_bits((buf << 3) >> 47, 17), 20),
                        _ => (from_low_bits((buf << 4) >> 44, 20), 24),
                    };
                    r.skip(used);
                    d.t_delta = d.t_delta.wrapping_add(dod as u64);
                    d.t = d.t.wrapping_add(d.t_delta as i64);
                    d.read_value(&mut r)
                } else {
                    d.step(&mut r)
                };
                if ok.is_none() {
                    break None;
                }
                run = d.window_run_len();
                d.num_read += 1;
                if d.t > maxt {
                    break Some(true);
                }
                f(d.t, f64::from_bits(d.v));
                continue;
            }
            d.t = d.t.wrapping_add(d.t_delta as i64);
            d.num_read += 1;
            if d.t > maxt {
                break Some(true);
            }
            f(d.t, f64::from_bits(d.v));
        };
        self.r = r;
        self.d = d;
        match stopped {
            Some(true) => true,
            Some(false) => {
                self.exhausted = true;
                false
            }
            None => {
                let e = self.d.error(&self.r);
                self.fail(e);
                self.exhausted = true;
                false
            }
        }
    }

    /// Moves to the first sample at or after `t` and returns true, or returns false when there
    /// is none.
    ///
    /// Never moves backwards: if the current sample is already at or after `t`, it stays. Legal
    /// before the first `next` and after the end (then it returns false).
    #[inline]
    pub fn seek(&mut self, t: i64) -> bool {
        if self.exhausted {
            return false;
        }
        if self.d.num_read > 0 && self.d.t >= t {
            return true;
        }
        while self.next() {
            if self.d.t >= t {
                return true;
            }
        }
        false
    }

    /// The current sample as `(timestamp, value)`. Meaningful after `next` or `seek` returned
    /// true; afterwards it keeps the last sample decoded.
    #[inline]
    pub fn at(&self) -> (i64, f64) {
        (self.d.t, f64::from_bits(self.d.v))
    }

    /// The error that ended the iteration, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    /// Number of samples the chunk header announces.
    pub fn num_samples(&self) -> u16 {
        self.d.num_total.max(self.d.num_read) as u16
    }
}

/// std [`Iterator`] adapter over an [`XorIterator`]: yields `Ok((t, v))` per sample, then the
/// error that ended the iteration, if any, once.
#[derive(Debug, Clone)]
pub struct Samples<'a> {
    it: XorIterator<'a>,
    reported: bool,
}

impl<'a> Samples<'a> {
    /// Adapts a cursor, starting where it is.
    pub fn new(it: XorIterator<'a>) -> Self {
        Self {
            it,
            reported: false,
        }
    }

    /// The underlying cursor.
    pub fn into_inner(self) -> XorIterator<'a> {
        self.it
    }
}

impl Iterator for Samples<'_> {
    type Item = Result<(i64, f64)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.it.next() {
            return Some(Ok(self.it.at()));
        }
        match self.it.err() {
            Some(e) if !self.reported => {
                self.reported = true;
                Some(Err(e.clone()))
            }
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.it.d.num_total - self.it.d.num_read) as usize;
        (
            0,
            Some(left + usize::from(self.it.err.is_some() && !self.reported)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_the_spec_bounds() {
        for (n, lo, hi) in [
            (14, -8191, 8192),
            (17, -65535, 65536),
            (20, -524_287, 524_288),
        ] {
            assert!(fits(lo, n) && fits(hi, n));
            assert!(!fits(lo - 1, n) && !fits(hi + 1, n));
            assert_eq!(from_low_bits(low_bits(lo, n), n), lo);
            assert_eq!(from_low_bits(low_bits(hi, n), n), hi);
        }
    }

    #[test]
    fn appender_continues_mid_byte() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000 + i % 7, i as f64)).collect();
        let mut whole = XorAppender::new();
        for &(t, v) in &samples {
            whole.append(t, v).unwrap();
        }
        for cut in 2..samples.len() {
            let mut first = XorAppender::new();
            for &(t, v) in &samples[..cut] {
                first.append(t, v).unwrap();
            }
            let mut rest = XorAppender::from_chunk(first.bytes()).unwrap();
            for &(t, v) in &samples[cut..] {
                rest.append(t, v).unwrap();
            }
            assert_eq!(rest.bytes(), whole.bytes(), "cut at {cut}");
        }
    }

    #[test]
    fn chunk_full() {
        let mut a = XorAppender::new();
        for i in 0..i64::from(MAX_SAMPLES) {
            a.append(i, 0.0).unwrap();
        }
        assert_eq!(a.append(1 << 20, 0.0), Err(Error::ChunkFull));
        assert_eq!(XorChunk::new(a.bytes()).unwrap().samples().count(), 65535);
    }
}
