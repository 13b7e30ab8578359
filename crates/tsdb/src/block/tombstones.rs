//! The `tombstones` file: deleted time ranges per series.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::Path;

use super::chunks::uvarint;
use super::{Error, Result, TOMBSTONES_FILE};
use crate::interval::{Interval, add_interval};

/// The four bytes a tombstones file starts with, big-endian.
pub const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
/// The tombstones format version (the byte after the magic).
pub const TOMBSTONES_VERSION: u8 = 1;

/// Deleted intervals by series reference: for each series, sorted, disjoint closed intervals
/// (touching ones are merged).
///
/// ```
/// use prom_tsdb::block::Tombstones;
/// use prom_tsdb::interval::Interval;
///
/// let mut t = Tombstones::new();
/// t.add(16, Interval::new(0, 10));
/// t.add(16, Interval::new(11, 20));
/// t.add(32, Interval::new(5, 5));
/// assert_eq!(t.get(16), [Interval::new(0, 20)]);
/// assert_eq!((t.num_series(), t.num_intervals()), (2, 2));
/// let bytes = t.encode();
/// assert_eq!(Tombstones::decode(&bytes).unwrap(), t);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    series: BTreeMap<u64, Vec<Interval>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Self {
        Tombstones::default()
    }

    /// Records that `iv` of series `sref` is deleted.
    pub fn add(&mut self, sref: u64, iv: Interval) {
        if iv.min_time > iv.max_time {
            return;
        }
        add_interval(self.series.entry(sref).or_default(), iv);
    }

    /// The deleted intervals of series `sref`, sorted; empty if none.
    pub fn get(&self, sref: u64) -> &[Interval] {
        self.series.get(&sref).map_or(&[], Vec::as_slice)
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Number of series with deleted intervals.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of intervals over all series: what meta.json's `numTombstones` counts.
    pub fn num_intervals(&self) -> u64 {
        self.series.values().map(|v| v.len() as u64).sum()
    }

    /// Series references with their intervals, in reference order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Interval])> + '_ {
        self.series.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    /// The file's bytes: magic, version, one `(ref, min, max)` entry per interval in reference
    /// order, CRC32C of the entries.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.series.len() * 12);
        out.extend_from_slice(&TOMBSTONES_MAGIC.to_be_bytes());
        out.push(TOMBSTONES_VERSION);
        for (r, ivs) in &self.series {
            for iv in ivs {
                put_uvarint(&mut out, *r);
                put_uvarint(&mut out, zigzag(iv.min_time));
                put_uvarint(&mut out, zigzag(iv.max_time));
            }
        }
        let crc = crc32c::crc32c(out.get(5..).unwrap_or_default());
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses a tombstones file. On failure, the byte offset and what is wrong.
    pub fn decode(b: &[u8]) -> std::result::Result<Tombstones, (u64, String)> {
        if b.len() < 9 {
            return Err((
                0,
                format!(
                    "file of {} bytes is too short for header and checksum",
                    b.len()
                ),
            ));
        }
        let magic = b
            .get(..4)
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .map_or(0, u32::from_be_bytes);
        if magic != TOMBSTONES_MAGIC {
            return Err((
                0,
                format!("bad magic {magic:#010x}, expected {TOMBSTONES_MAGIC:#010x}"),
            ));
        }
        let version = b.get(4).copied().unwrap_or(0);
        if version != TOMBSTONES_VERSION {
            return Err((4, format!("unknown tombstones version {version}")));
        }
        let crc_at = b.len().saturating_sub(4);
        let body = b.get(5..crc_at).unwrap_or_default();
        let stored = b
            .get(crc_at..)
            .and_then(|c| <[u8; 4]>::try_from(c).ok())
            .map_or(0, u32::from_be_bytes);
        let actual = crc32c::crc32c(body);
        if stored != actual {
            return Err((
                crc_at as u64,
                format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
            ));
        }
        let mut t = Tombstones::new();
        let mut pos = 0usize;
        while pos < body.len() {
            let entry_at = pos.saturating_add(5) as u64;
            let mut next = || -> Option<u64> {
                let (v, n) = uvarint(body.get(pos..)?)?;
                pos = pos.checked_add(n)?;
                Some(v)
            };
            let (Some(r), Some(mint), Some(maxt)) = (next(), next(), next()) else {
                return Err((entry_at, "truncated or malformed tombstone entry".into()));
            };
            let iv = Interval::new(unzigzag(mint), unzigzag(maxt));
            if iv.min_time > iv.max_time {
                return Err((
                    entry_at,
                    format!("interval [{}, {}] is inverted", iv.min_time, iv.max_time),
                ));
            }
            t.add(r, iv);
        }
        Ok(t)
    }

    /// Reads `dir/tombstones`; a missing file means no tombstones (as in Prometheus). Returns
    /// the tombstones and the file's size.
    pub fn read(dir: &Path) -> Result<(Tombstones, u64)> {
        let b = match std::fs::read(dir.join(TOMBSTONES_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Tombstones::new(), 0));
            }
            Err(e) => return Err(Error::io(dir, TOMBSTONES_FILE, e)),
        };
        let t = Tombstones::decode(&b)
            .map_err(|(off, reason)| Error::corrupt(dir, TOMBSTONES_FILE, Some(off), reason))?;
        Ok((t, b.len() as u64))
    }

    /// Writes `dir/tombstones` atomically; returns the file's size.
    pub fn write(&self, dir: &Path) -> Result<u64> {
        let b = self.encode();
        super::write_atomic(dir, TOMBSTONES_FILE, &b)?;
        Ok(b.len() as u64)
    }
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_file_is_nine_bytes() {
        let b = Tombstones::new().encode();
        assert_eq!(b, [0x01, 0x30, 0xba, 0x30, 0x01, 0, 0, 0, 0]);
        assert!(Tombstones::decode(&b).unwrap().is_empty());
    }

    #[test]
    fn known_bytes() {
        let mut t = Tombstones::new();
        t.add(1, Interval::new(-1, 64));
        let b = t.encode();
        // ref 1, zigzag(-1) = 1, zigzag(64) = 128 = [0x80, 0x01].
        assert_eq!(b.len(), 5 + 4 + 4);
        assert_eq!(b[5..9], [0x01, 0x01, 0x80, 0x01]);
        assert_eq!(
            u32::from_be_bytes(b[b.len() - 4..].try_into().unwrap()),
            crc32c::crc32c(&[0x01, 0x01, 0x80, 0x01])
        );
    }

    #[test]
    fn damage_is_reported_with_an_offset() {
        let mut t = Tombstones::new();
        t.add(3, Interval::new(10, 20));
        t.add(5, Interval::new(i64::MIN, i64::MAX));
        let good = t.encode();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(Tombstones::decode(&bad).is_err(), "flip at {i}");
        }
        for n in 0..good.len() {
            assert!(Tombstones::decode(&good[..n]).is_err(), "truncated to {n}");
        }
        // A well-checksummed but truncated entry.
        let mut b = good[..5].to_vec();
        b.push(0x83);
        b.extend_from_slice(&crc32c::crc32c(&[0x83]).to_be_bytes());
        let (off, why) = Tombstones::decode(&b).unwrap_err();
        assert_eq!(off, 5);
        assert!(why.contains("truncated"), "{why}");
    }

    proptest! {
        #[test]
        fn round_trip(entries in prop::collection::vec((0u64..50, any::<i64>(), any::<i64>()), 0..40)) {
            let mut t = Tombstones::new();
            for (r, a, b) in entries {
                t.add(r, Interval::new(a.min(b), a.max(b)));
            }
            let back = Tombstones::decode(&t.encode()).unwrap();
            prop_assert_eq!(&back, &t);
            for (_, ivs) in back.iter() {
                for w in ivs.windows(2) {
                    prop_assert!(w[0].max_time.saturating_add(1) < w[1].min_time);
                }
            }
        }
    }
}
