//! The records a WAL holds and their byte encodings (`docs/formats/wal.md`, "Records").
//!
//! A record encodes as one type byte followed by its payload; the frame around it (length,
//! checksum) belongs to the segment layer. Integers are varints from `integer-encoding`:
//! references and timestamps are stored as zigzag deltas against the first entry of the
//! record, so a commit of one scrape (refs close together, one timestamp) costs a few bytes
//! per sample besides the 8 raw bytes of the value.

use integer_encoding::VarInt;
use prom_model::Labels;

use crate::interval::Interval;

/// Type byte of a [`Record::Series`].
pub const TYPE_SERIES: u8 = 1;
/// Type byte of a [`Record::Samples`].
pub const TYPE_SAMPLES: u8 = 2;
/// Type byte of a [`Record::Tombstones`].
pub const TYPE_TOMBSTONES: u8 = 3;

/// A series the head created: its reference and its labels. Later records name the series
/// by `r` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// The series reference.
    pub r: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// One sample of the series `r`.
///
/// The value is stored bit for bit, so NaN payloads (the staleness marker
/// `0x7ff0000000000002`) survive; derived `PartialEq` compares floats, so NaNs compare
/// unequal: compare `v.to_bits()` to test for the same record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The series reference.
    pub r: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// Deleted time ranges of the series `r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stone {
    /// The series reference.
    pub r: u64,
    /// The deleted intervals (closed).
    pub intervals: Vec<Interval>,
}

/// One WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series created, with their labels.
    Series(Vec<RefSeries>),
    /// Samples appended.
    Samples(Vec<RefSample>),
    /// Time ranges deleted.
    Tombstones(Vec<Stone>),
}

/// A record borrowing its entries: what [`replay_borrowed`](super::replay_borrowed) hands out
/// from buffers it reuses, and what the encoder reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecordRef<'a> {
    /// Series created, with their labels.
    Series(&'a [RefSeries]),
    /// Samples appended.
    Samples(&'a [RefSample]),
    /// Time ranges deleted.
    Tombstones(&'a [Stone]),
}

/// Why a record's bytes do not decode. The offset counts from the record's type byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record byte {offset}: {kind}")]
pub struct DecodeError {
    /// Byte offset from the record's type byte at which decoding failed.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// The kinds of [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The record has no type byte.
    #[error("empty record")]
    Empty,
    /// The type byte is none of the known record types.
    #[error("unknown record type {0}")]
    UnknownType(u8),
    /// The bytes end inside the named field (or a varint overflows 64 bits).
    #[error("truncated or overlong {0}")]
    Truncated(&'static str),
    /// An entry count larger than the remaining bytes could hold.
    #[error("{what} count {count} exceeds what the remaining {left} bytes can hold")]
    Count {
        /// The counted thing.
        what: &'static str,
        /// The count read.
        count: u64,
        /// Bytes left in the record.
        left: usize,
    },
    /// A label name or value is not UTF-8.
    #[error("label {0} is not valid UTF-8")]
    Utf8(&'static str),
    /// Bytes left over after the last entry.
    #[error("{0} trailing bytes after the last entry")]
    Trailing(usize),
}

impl Record {
    /// The record borrowing its entries.
    pub fn as_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Series(s) => RecordRef::Series(s),
            Record::Samples(s) => RecordRef::Samples(s),
            Record::Tombstones(s) => RecordRef::Tombstones(s),
        }
    }

    /// Appends the type byte and the payload to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        self.as_ref().encode(buf);
    }

    /// Decodes a type byte and payload as [`encode`](Self::encode) wrote them. Never panics;
    /// fails on trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let (&typ, payload) = bytes.split_first().ok_or(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::Empty,
        })?;
        let mut d = Dec::new(payload);
        let rec = match typ {
            TYPE_SERIES => {
                let mut out = Vec::new();
                d.series(&mut out)?;
                Record::Series(out)
            }
            TYPE_SAMPLES => {
                let mut out = Vec::new();
                d.samples(&mut out)?;
                Record::Samples(out)
            }
            TYPE_TOMBSTONES => {
                let mut out = Vec::new();
                d.tombstones(&mut out)?;
                Record::Tombstones(out)
            }
            t => return Err(d.err_at(0, DecodeErrorKind::UnknownType(t))),
        };
        Ok(rec)
    }

    /// The number of entries (series, samples or stones).
    pub fn len(&self) -> usize {
        match self {
            Record::Series(s) => s.len(),
            Record::Samples(s) => s.len(),
            Record::Tombstones(s) => s.len(),
        }
    }

    /// Whether the record has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecordRef<'_> {
    /// Appends the type byte and the payload to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match *self {
            RecordRef::Series(list) => encode_series(list, buf),
            RecordRef::Samples(list) => encode_samples(list, buf),
            RecordRef::Tombstones(list) => encode_tombstones(list, buf),
        }
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Record {
        match *self {
            RecordRef::Series(s) => Record::Series(s.to_vec()),
            RecordRef::Samples(s) => Record::Samples(s.to_vec()),
            RecordRef::Tombstones(s) => Record::Tombstones(s.to_vec()),
        }
    }
}

/// Reusable buffers to decode records into without allocating per record (besides labels
/// and tombstone intervals, which the entries own).
#[derive(Debug, Default)]
pub struct DecodeBuffers {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    stones: Vec<Stone>,
}

impl DecodeBuffers {
    /// Empty buffers.
    pub fn new() -> Self {
        DecodeBuffers::default()
    }

    /// Decodes a type byte and payload into these buffers and borrows the result; the
    /// buffers' previous content is dropped.
    pub fn decode<'a>(&'a mut self, bytes: &[u8]) -> Result<RecordRef<'a>, DecodeError> {
        let (&typ, payload) = bytes.split_first().ok_or(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::Empty,
        })?;
        let mut d = Dec::new(payload);
        match typ {
            TYPE_SERIES => {
                self.series.clear();
                d.series(&mut self.series)?;
                Ok(RecordRef::Series(&self.series))
            }
            TYPE_SAMPLES => {
                self.samples.clear();
                d.samples(&mut self.samples)?;
                Ok(RecordRef::Samples(&self.samples))
            }
            TYPE_TOMBSTONES => {
                self.stones.clear();
                d.tombstones(&mut self.stones)?;
                Ok(RecordRef::Tombstones(&self.stones))
            }
            t => Err(d.err_at(0, DecodeErrorKind::UnknownType(t))),
        }
    }

    /// The series buffer, to filter in place and encode again (checkpoints).
    pub(crate) fn series_mut(&mut self) -> &mut Vec<RefSeries> {
        &mut self.series
    }

    /// The samples buffer.
    pub(crate) fn samples_mut(&mut self) -> &mut Vec<RefSample> {
        &mut self.samples
    }

    /// The tombstones buffer.
    pub(crate) fn stones_mut(&mut self) -> &mut Vec<Stone> {
        &mut self.stones
    }
}

// ---- encoding --------------------------------------------------------------------------

#[inline]
fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    // Byte by byte: a sample's fields take one or two bytes each, and copying them from a
    // scratch array called memcpy per field (2% of a steady-state scrape in perf).
    while v >= 0x80 {
        // Truncation on purpose: the low seven bits and the continuation bit.
        #[allow(clippy::cast_possible_truncation)]
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    buf.push(v as u8);
}

/// A signed varint, zigzag-encoded (Go's `binary.PutVarint`, as the decoder reads it).
#[inline]
fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

#[inline]
fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Deltas are taken with wrapping arithmetic so every `u64` reference and `i64` timestamp
/// round-trips; for real data they are small.
#[inline]
fn ref_delta(r: u64, base: u64) -> i64 {
    r.wrapping_sub(base) as i64
}

fn encode_series(list: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(TYPE_SERIES);
    put_uvarint(buf, list.len() as u64);
    let Some(first) = list.first() else { return };
    put_uvarint(buf, first.r);
    for s in list {
        put_varint(buf, ref_delta(s.r, first.r));
        put_uvarint(buf, s.labels.len() as u64);
        for l in s.labels.iter() {
            put_str(buf, l.name);
            put_str(buf, l.value);
        }
    }
}

fn encode_samples(list: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(TYPE_SAMPLES);
    put_uvarint(buf, list.len() as u64);
    let Some(first) = list.first() else { return };
    // Worst case per sample: two 10-byte varints and the value.
    buf.reserve(20 + list.len() * 28);
    put_uvarint(buf, first.r);
    put_varint(buf, first.t);
    for s in list {
        put_varint(buf, ref_delta(s.r, first.r));
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

fn encode_tombstones(list: &[Stone], buf: &mut Vec<u8>) {
    buf.push(TYPE_TOMBSTONES);
    put_uvarint(buf, list.len() as u64);
    let Some(first) = list.first() else { return };
    put_uvarint(buf, first.r);
    for s in list {
        put_varint(buf, ref_delta(s.r, first.r));
        put_uvarint(buf, s.intervals.len() as u64);
        for iv in &s.intervals {
            put_varint(buf, iv.min_time);
            put_varint(buf, iv.max_time.wrapping_sub(iv.min_time));
        }
    }
}

// ---- decoding --------------------------------------------------------------------------

/// Smallest encodings, to bound counts read from the bytes before reserving memory.
const MIN_SERIES_BYTES: usize = 2;
const MIN_SAMPLE_BYTES: usize = 10;
const MIN_STONE_BYTES: usize = 2;
const MIN_INTERVAL_BYTES: usize = 2;
const MIN_LABEL_BYTES: usize = 2;

/// A cursor over a payload; offsets in errors count from the type byte.
struct Dec<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Dec<'a> {
    fn new(payload: &'a [u8]) -> Self {
        Dec {
            rest: payload,
            len: payload.len(),
        }
    }

    /// The offset of the next byte, counted from the type byte.
    fn offset(&self) -> usize {
        self.len - self.rest.len() + 1
    }

    fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.offset(),
            kind,
        }
    }

    fn err_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
    }

    #[inline]
    fn uvarint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        match u64::decode_var(self.rest) {
            Some((v, n)) => {
                self.advance(n);
                Ok(v)
            }
            None => Err(self.err(DecodeErrorKind::Truncated(what))),
        }
    }

    #[inline]
    fn varint(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        match i64::decode_var(self.rest) {
            Some((v, n)) => {
                self.advance(n);
                Ok(v)
            }
            None => Err(self.err(DecodeErrorKind::Truncated(what))),
        }
    }

    #[inline]
    fn f64(&mut self) -> Result<f64, DecodeError> {
        match self.rest.split_first_chunk::<8>() {
            Some((b, rest)) => {
                self.rest = rest;
                Ok(f64::from_bits(u64::from_le_bytes(*b)))
            }
            None => Err(self.err(DecodeErrorKind::Truncated("sample value"))),
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.uvarint(what)?;
        let bytes = usize::try_from(n)
            .ok()
            .and_then(|n| self.rest.split_at_checked(n));
        let Some((s, rest)) = bytes else {
            return Err(self.err(DecodeErrorKind::Truncated(what)));
        };
        let s = std::str::from_utf8(s).map_err(|_| self.err(DecodeErrorKind::Utf8(what)))?;
        self.rest = rest;
        Ok(s)
    }

    /// Reads a count and checks that `min` bytes per entry fit in what is left.
    fn count(&mut self, what: &'static str, min: usize) -> Result<usize, DecodeError> {
        let n = self.uvarint(what)?;
        let left = self.rest.len();
        match usize::try_from(n) {
            Ok(c) if c <= left / min => Ok(c),
            _ => Err(self.err(DecodeErrorKind::Count {
                what,
                count: n,
                left,
            })),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err(DecodeErrorKind::Trailing(self.rest.len())))
        }
    }

    fn series(&mut self, out: &mut Vec<RefSeries>) -> Result<(), DecodeError> {
        let n = self.count("series", MIN_SERIES_BYTES)?;
        if n == 0 {
            return self.finish();
        }
        let base = self.uvarint("series base reference")?;
        out.reserve(n);
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for _ in 0..n {
            let d = self.varint("series reference")?;
            let nl = self.count("label", MIN_LABEL_BYTES)?;
            pairs.clear();
            for _ in 0..nl {
                let name = self.str("name")?;
                let value = self.str("value")?;
                pairs.push((name, value));
            }
            out.push(RefSeries {
                r: base.wrapping_add(d as u64),
                labels: Labels::from_pairs(&pairs),
            });
        }
        self.finish()
    }

    fn samples(&mut self, out: &mut Vec<RefSample>) -> Result<(), DecodeError> {
        let n = self.count("sample", MIN_SAMPLE_BYTES)?;
        if n == 0 {
            return self.finish();
        }
        let base_r = self.uvarint("sample base reference")?;
        let base_t = self.varint("sample base timestamp")?;
        out.reserve(n);
        for _ in 0..n {
            let dr = self.varint("sample reference")?;
            let dt = self.varint("sample timestamp")?;
            let v = self.f64()?;
            out.push(RefSample {
                r: base_r.wrapping_add(dr as u64),
                t: base_t.wrapping_add(dt),
                v,
            });
        }
        self.finish()
    }

    fn tombstones(&mut self, out: &mut Vec<Stone>) -> Result<(), DecodeError> {
        let n = self.count("tombstone", MIN_STONE_BYTES)?;
        if n == 0 {
            return self.finish();
        }
        let base = self.uvarint("tombstone base reference")?;
        out.reserve(n);
        for _ in 0..n {
            let d = self.varint("tombstone reference")?;
            let ni = self.count("interval", MIN_INTERVAL_BYTES)?;
            let mut intervals = Vec::with_capacity(ni);
            for _ in 0..ni {
                let min_time = self.varint("interval start")?;
                let len = self.varint("interval length")?;
                intervals.push(Interval::new(min_time, min_time.wrapping_add(len)));
            }
            out.push(Stone {
                r: base.wrapping_add(d as u64),
                intervals,
            });
        }
        self.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_decoders_encoding() {
        let mut vals: Vec<i64> = vec![0, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN];
        for k in 0..63 {
            vals.extend([1i64 << k, (1i64 << k) - 1, -(1i64 << k), -(1i64 << k) - 1]);
        }
        for v in vals {
            let mut a = Vec::new();
            put_varint(&mut a, v);
            let mut want = [0u8; 10];
            let n = v.encode_var(&mut want);
            assert_eq!(a, &want[..n], "{v}");
            assert_eq!(i64::decode_var(&a), Some((v, n)));
            let u = v as u64;
            let mut a = Vec::new();
            put_uvarint(&mut a, u);
            let n = u.encode_var(&mut want);
            assert_eq!(a, &want[..n], "{u}");
            assert_eq!(u64::decode_var(&a), Some((u, n)));
        }
    }

    fn enc(r: &Record) -> Vec<u8> {
        let mut b = Vec::new();
        r.encode(&mut b);
        b
    }

    #[test]
    fn samples_layout_is_deltas_against_the_first_entry() {
        let rec = Record::Samples(vec![
            RefSample {
                r: 100,
                t: 1000,
                v: 1.0,
            },
            RefSample {
                r: 99,
                t: 1001,
                v: 2.0,
            },
        ]);
        let b = enc(&rec);
        let mut want = vec![TYPE_SAMPLES, 2, 100, 0xd0, 0x0f];
        want.extend([0, 0]);
        want.extend(1.0f64.to_bits().to_le_bytes());
        want.extend([1, 2]); // zigzag(-1) = 1, zigzag(1) = 2
        want.extend(2.0f64.to_bits().to_le_bytes());
        assert_eq!(b, want);
        assert_eq!(Record::decode(&b).unwrap(), rec);
    }

    #[test]
    fn empty_records_round_trip() {
        for rec in [
            Record::Series(vec![]),
            Record::Samples(vec![]),
            Record::Tombstones(vec![]),
        ] {
            let b = enc(&rec);
            assert_eq!(b.len(), 2);
            assert_eq!(Record::decode(&b).unwrap(), rec);
        }
    }

    #[test]
    fn extreme_refs_and_timestamps_round_trip() {
        let rec = Record::Samples(vec![
            RefSample {
                r: u64::MAX,
                t: i64::MIN,
                v: f64::NEG_INFINITY,
            },
            RefSample {
                r: 0,
                t: i64::MAX,
                v: -0.0,
            },
        ]);
        let got = Record::decode(&enc(&rec)).unwrap();
        let Record::Samples(s) = got else { panic!() };
        assert_eq!((s[0].r, s[0].t), (u64::MAX, i64::MIN));
        assert_eq!((s[1].r, s[1].t), (0, i64::MAX));
        assert_eq!(s[1].v.to_bits(), (-0.0f64).to_bits());
        let st = Record::Tombstones(vec![Stone {
            r: 7,
            intervals: vec![Interval::new(i64::MIN, i64::MAX)],
        }]);
        assert_eq!(Record::decode(&enc(&st)).unwrap(), st);
    }

    #[test]
    fn every_prefix_and_garbage_fails_cleanly() {
        let rec = Record::Series(vec![RefSeries {
            r: 3,
            labels: Labels::from_pairs(&[("__name__", "up"), ("job", "é")]),
        }]);
        let b = enc(&rec);
        for n in 0..b.len() {
            assert!(Record::decode(&b[..n]).is_err(), "prefix {n}");
        }
        let mut extra = b.clone();
        extra.push(0);
        let e = Record::decode(&extra).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Trailing(1));
        assert_eq!(e.offset, b.len());
        // A huge count is refused before anything is reserved.
        let e = Record::decode(&[TYPE_SAMPLES, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Count { .. }), "{e}");
        let e = Record::decode(&[9]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownType(9));
        assert_eq!(e.to_string(), "record byte 0: unknown record type 9");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let b = [TYPE_SERIES, 1, 5, 0, 1, 1, 0xff, 1, b'x'];
        let e = Record::decode(&b).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Utf8("name"));
    }

    #[test]
    fn buffers_are_reused() {
        let mut bufs = DecodeBuffers::new();
        let a = enc(&Record::Samples(vec![
            RefSample { r: 1, t: 2, v: 3.0 };
            100
        ]));
        let b = enc(&Record::Samples(vec![RefSample { r: 4, t: 5, v: 6.0 }]));
        assert_eq!(bufs.decode(&a).unwrap().to_owned().len(), 100);
        let cap = bufs.samples.capacity();
        let got = bufs.decode(&b).unwrap();
        assert_eq!(got, RecordRef::Samples(&[RefSample { r: 4, t: 5, v: 6.0 }]));
        assert_eq!(bufs.samples.capacity(), cap);
    }
}
