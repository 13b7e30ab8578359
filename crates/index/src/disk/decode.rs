//! Checked decoding of untrusted index bytes: every read is bounds-checked and every failure
//! becomes a [`Corruption`] carrying the section and the file offset.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::path::Path;

use super::{ChunkMeta, Section};
use crate::error::Error;

/// What went wrong where, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corruption {
    pub(crate) section: Section,
    pub(crate) offset: u64,
    pub(crate) detail: String,
}

impl Corruption {
    pub(crate) fn new(section: Section, offset: u64, detail: impl Into<String>) -> Self {
        Corruption {
            section,
            offset,
            detail: detail.into(),
        }
    }

    pub(crate) fn into_error(self, path: &Path) -> Error {
        Error::IndexCorrupt {
            path: path.to_path_buf(),
            section: self.section,
            offset: self.offset,
            detail: self.detail,
        }
    }
}

pub(crate) type DecResult<T> = std::result::Result<T, Corruption>;

/// Converts a file offset to a slice index, or reports it as out of range.
pub(crate) fn to_usize(v: u64, section: Section, at: u64) -> DecResult<usize> {
    usize::try_from(v).map_err(|_| Corruption::new(section, at, format!("offset {v} too large")))
}

/// `v` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(v: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(v.checked_add(mask)? & !mask)
}

/// A cursor over a slice of the file. `base` is the file offset of the slice's first byte, so
/// errors can name absolute offsets.
#[derive(Debug, Clone)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    section: Section,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8], base: u64, section: Section) -> Self {
        Dec {
            buf,
            pos: 0,
            base,
            section,
        }
    }

    /// The file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> Corruption {
        Corruption::new(self.section, self.offset(), detail)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> DecResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.corrupt("length overflows"))?;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.corrupt(format!("{n} bytes needed, {} left", self.remaining())))?;
        self.pos = end;
        Ok(b)
    }

    pub(crate) fn be32(&mut self) -> DecResult<u32> {
        let b = self.bytes(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    pub(crate) fn be64(&mut self) -> DecResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// An unsigned LEB128 varint as Go's `binary.Uvarint` reads it: at most ten bytes, and the
    /// value must fit in 64 bits.
    pub(crate) fn uvarint(&mut self) -> DecResult<u64> {
        let start = self.offset();
        let mut v = 0u64;
        let mut shift = 0u32;
        for i in 0..10u32 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| Corruption::new(self.section, start, "truncated varint"))?;
            self.pos = self.pos.saturating_add(1);
            if i == 9 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift = shift.saturating_add(7);
        }
        Err(Corruption::new(
            self.section,
            start,
            "varint overflows 64 bits",
        ))
    }

    /// A uvarint that must fit in 32 bits.
    pub(crate) fn uvarint32(&mut self) -> DecResult<u32> {
        let start = self.offset();
        let v = self.uvarint()?;
        u32::try_from(v)
            .map_err(|_| Corruption::new(self.section, start, format!("{v} overflows 32 bits")))
    }

    /// A uvarint that must fit in `usize`.
    pub(crate) fn uvarint_usize(&mut self) -> DecResult<usize> {
        let start = self.offset();
        let v = self.uvarint()?;
        usize::try_from(v).map_err(|_| Corruption::new(self.section, start, "length too large"))
    }

    /// A zig-zag signed varint, as Go's `binary.Varint` reads it.
    pub(crate) fn varint(&mut self) -> DecResult<i64> {
        let u = self.uvarint()?;
        // Zig-zag: the low bit is the sign.
        let half = (u >> 1) as i64;
        Ok(if u & 1 == 0 { half } else { !half })
    }

    /// Bytes prefixed by their uvarint length.
    pub(crate) fn uvarint_bytes(&mut self) -> DecResult<&'a [u8]> {
        let n = self.uvarint_usize()?;
        self.bytes(n)
    }

    /// Skips `k` byte strings each prefixed by its uvarint length, as `k` calls of
    /// [`uvarint_bytes`](Self::uvarint_bytes) would, with a shortcut for the usual one-byte
    /// length (symbol lookups walk up to 31 strings this way).
    pub(crate) fn skip_uvarint_bytes(&mut self, k: usize) -> DecResult<()> {
        for _ in 0..k {
            let end = match self.buf.get(self.pos) {
                Some(&n) if n < 0x80 => self.pos.saturating_add(1).saturating_add(usize::from(n)),
                _ => usize::MAX,
            };
            if end <= self.buf.len() {
                self.pos = end;
            } else {
                // Longer lengths, and errors (reported exactly as the slow path reports them).
                self.uvarint_bytes()?;
            }
        }
        Ok(())
    }

    /// A UTF-8 string prefixed by its uvarint length.
    pub(crate) fn uvarint_str(&mut self) -> DecResult<&'a str> {
        let n = self.uvarint_usize()?;
        let start = self.offset();
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map_err(|_| Corruption::new(self.section, start, "string is not valid UTF-8"))
    }
}

/// The file offset `off` as a `usize`, checked against the file length.
fn file_pos(file: &[u8], off: u64, section: Section) -> DecResult<usize> {
    let p = to_usize(off, section, off)?;
    if p > file.len() {
        return Err(Corruption::new(
            section,
            off,
            format!("offset beyond end of file ({} bytes)", file.len()),
        ));
    }
    Ok(p)
}

fn check_crc(body: &[u8], stored: u32, section: Section, body_off: u64) -> DecResult<()> {
    let actual = crc32c::crc32c(body);
    if actual != stored {
        return Err(Corruption::new(
            section,
            body_off,
            format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
        ));
    }
    Ok(())
}

/// A section framed as `len <4b BE> | body <len bytes> | CRC32 <4b>`, the checksum covering the
/// body. Returns a cursor over the verified body and the file offset just past the checksum.
pub(crate) fn framed_be32(file: &[u8], off: u64, section: Section) -> DecResult<(Dec<'_>, u64)> {
    let start = file_pos(file, off, section)?;
    let rest = file
        .get(start..)
        .ok_or_else(|| Corruption::new(section, off, "offset beyond end of file"))?;
    let mut d = Dec::new(rest, off, section);
    let len = d.be32()?;
    framed_body(d, len as usize, section)
}

/// A series entry framed as `len <uvarint> | body <len bytes> | CRC32 <4b>`.
pub(crate) fn framed_uvarint(file: &[u8], off: u64, section: Section) -> DecResult<(Dec<'_>, u64)> {
    let start = file_pos(file, off, section)?;
    let rest = file
        .get(start..)
        .ok_or_else(|| Corruption::new(section, off, "offset beyond end of file"))?;
    let mut d = Dec::new(rest, off, section);
    let len = d.uvarint_usize()?;
    framed_body(d, len, section)
}

fn framed_body(mut d: Dec<'_>, len: usize, section: Section) -> DecResult<(Dec<'_>, u64)> {
    let body_off = d.offset();
    let body = d.bytes(len).map_err(|_| {
        Corruption::new(
            section,
            body_off,
            format!("length {len} runs past the end of the file"),
        )
    })?;
    let stored = d
        .be32()
        .map_err(|_| Corruption::new(section, d.offset(), "checksum truncated"))?;
    check_crc(body, stored, section, body_off)?;
    Ok((Dec::new(body, body_off, section), d.offset()))
}

/// Decodes one series body (after the checksum check): label symbol references, then chunk metas.
/// `on_label` receives each `(name, value)` symbol reference pair and the offset of the pair.
pub(crate) fn series_body(
    mut d: Dec<'_>,
    mut on_label: impl FnMut(u32, u32, u64) -> DecResult<()>,
    chunks: Option<&mut Vec<ChunkMeta>>,
) -> DecResult<()> {
    let n = d.uvarint()?;
    for _ in 0..n {
        let at = d.offset();
        let name = d.uvarint32()?;
        let value = d.uvarint32()?;
        on_label(name, value, at)?;
    }
    let Some(chunks) = chunks else {
        return Ok(());
    };
    chunks.clear();
    let n = d.uvarint()?;
    let mut prev_max = 0i64;
    let mut prev_ref = 0u64;
    for i in 0..n {
        let at = d.offset();
        let (min_time, chunk_ref) = if i == 0 {
            let min = d.varint()?;
            let len = d.uvarint()?;
            let r = d.uvarint()?;
            (min, (len, r))
        } else {
            let gap = d.uvarint()?;
            let min = prev_max
                .checked_add_unsigned(gap)
                .ok_or_else(|| Corruption::new(d.section, at, "chunk min time overflows"))?;
            let len = d.uvarint()?;
            let delta = d.varint()?;
            // The writer takes the difference modulo 2^64 (as Prometheus does), so adding it
            // back wraps too.
            let r = prev_ref.wrapping_add_signed(delta);
            (min, (len, r))
        };
        let (len, chunk_ref) = chunk_ref;
        let max_time = min_time
            .checked_add_unsigned(len)
            .ok_or_else(|| Corruption::new(d.section, at, "chunk max time overflows"))?;
        chunks.push(ChunkMeta {
            min_time,
            max_time,
            chunk_ref,
        });
        prev_max = max_time;
        prev_ref = chunk_ref;
    }
    if !d.is_empty() {
        return Err(d.corrupt(format!("{} unexpected trailing bytes", d.remaining())));
    }
    Ok(())
}

/// Checks that `file[from..to]` is all zero bytes (padding).
pub(crate) fn zeros(file: &[u8], from: u64, to: u64, section: Section) -> DecResult<()> {
    let a = file_pos(file, from, section)?;
    let b = file_pos(file, to, section)?;
    let pad = file
        .get(a..b)
        .ok_or_else(|| Corruption::new(section, from, "padding range out of order"))?;
    match pad.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(Corruption::new(
            section,
            from.saturating_add(i as u64),
            "non-zero byte in padding",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_edges() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (&[0], Some(0)),
            (&[0x7f], Some(127)),
            (&[0x80, 0x01], Some(128)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Some(u64::MAX),
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                None,
            ),
            (&[0x80], None),
            (&[], None),
        ];
        for (bytes, want) in cases {
            let got = Dec::new(bytes, 0, Section::Series).uvarint().ok();
            assert_eq!(got, *want, "{bytes:x?}");
        }
    }

    #[test]
    fn varint_zigzag() {
        for (bytes, want) in [(&[0u8][..], 0i64), (&[1], -1), (&[2], 1), (&[3], -2)] {
            assert_eq!(Dec::new(bytes, 0, Section::Series).varint().unwrap(), want);
        }
    }

    #[test]
    fn framed_checks_crc_and_bounds() {
        let body = b"hello";
        let mut f = vec![0, 0, 0, 5];
        f.extend_from_slice(body);
        f.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
        let (d, end) = framed_be32(&f, 0, Section::Postings).unwrap();
        assert_eq!((d.remaining(), end), (5, 13));
        f[5] ^= 1;
        let e = framed_be32(&f, 0, Section::Postings).unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(framed_be32(&f[..10], 0, Section::Postings).is_err());
        assert!(framed_be32(&f, 100, Section::Postings).is_err());
    }

    #[test]
    fn align() {
        assert_eq!(align_up(0, 16), Some(0));
        assert_eq!(align_up(1, 16), Some(16));
        assert_eq!(align_up(16, 4), Some(16));
        assert_eq!(align_up(u64::MAX, 16), None);
    }
}
