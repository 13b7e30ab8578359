//! Chunk segment files: `chunks/000001`, `chunks/000002`, … of a block.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::{CHUNKS_DIR, Error, Result};

/// The four bytes every segment file starts with, big-endian.
pub const SEGMENT_MAGIC: u32 = 0x85BD_40DD;
/// The segment format version (the byte after the magic).
pub const SEGMENT_VERSION: u8 = 1;
/// Magic, version and three bytes of zero padding.
pub const SEGMENT_HEADER_LEN: usize = 8;
/// Prometheus's segment size limit: a new file is started before one would grow past it.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;
/// The bytes a chunk takes beyond its data: up to 5 of length, 1 of encoding, 4 of CRC.
const MAX_CHUNK_OVERHEAD: u64 = 5 + 1 + 4;

/// The chunk reference of the chunk at byte `offset` of the segment at position `segment`
/// (0-based) in the block's sorted list of segment files: the position in the upper 32 bits,
/// the offset in the lower 32, as Prometheus packs them. File `chunks/000001` is position 0.
pub const fn chunk_ref(segment: u32, offset: u32) -> u64 {
    ((segment as u64) << 32) | offset as u64
}

/// The segment position and byte offset of a chunk reference; see [`chunk_ref`].
pub const fn split_chunk_ref(r: u64) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// The name of the `i`th (0-based) segment file, relative to the block directory.
pub(super) fn segment_name(i: u32) -> String {
    format!("{CHUNKS_DIR}/{:06}", u64::from(i) + 1)
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a uvarint at the start of `b`: the value and its length, or `None` if it is
/// truncated or longer than 10 bytes.
pub(super) fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if i == 9 && byte > 1 {
            return None;
        }
        v |= part << shift;
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Writes chunks into segment files, starting a new one before a file would pass its size
/// limit.
#[derive(Debug)]
pub(super) struct SegmentWriter {
    /// The block directory being written.
    dir: PathBuf,
    segment_size: u64,
    out: Option<BufWriter<File>>,
    /// Number of segment files started.
    files: u32,
    /// Bytes written to the current file.
    pos: u64,
    /// Bytes in finished files.
    done_bytes: u64,
    buf: Vec<u8>,
}

impl SegmentWriter {
    /// Creates `dir/chunks`. `segment_size` is capped so offsets fit in 32 bits.
    pub(super) fn create(dir: &Path, segment_size: u64) -> Result<SegmentWriter> {
        let chunks = dir.join(CHUNKS_DIR);
        fs::create_dir_all(&chunks).map_err(|e| Error::io(dir, CHUNKS_DIR, e))?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            segment_size: segment_size.clamp(SEGMENT_HEADER_LEN as u64, u64::from(u32::MAX)),
            out: None,
            files: 0,
            pos: 0,
            done_bytes: 0,
            buf: Vec::with_capacity(256),
        })
    }

    fn current_name(&self) -> String {
        segment_name(self.files.saturating_sub(1))
    }

    fn finish_file(&mut self) -> Result<()> {
        if let Some(out) = self.out.take() {
            let name = self.current_name();
            let f = out
                .into_inner()
                .map_err(|e| Error::io(&self.dir, name.clone(), e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&self.dir, name, e))?;
            self.done_bytes = self.done_bytes.saturating_add(self.pos);
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<()> {
        self.finish_file()?;
        if self.files == u32::MAX {
            return Err(Error::invalid(&self.dir, "too many chunk segment files"));
        }
        self.files += 1;
        let name = self.current_name();
        let f = File::create(self.dir.join(&name)).map_err(|e| Error::io(&self.dir, &*name, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        header[..4].copy_from_slice(&SEGMENT_MAGIC.to_be_bytes());
        header[4] = SEGMENT_VERSION;
        out.write_all(&header)
            .map_err(|e| Error::io(&self.dir, &*name, e))?;
        self.out = Some(out);
        self.pos = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Appends one chunk and returns its reference.
    pub(super) fn write(&mut self, encoding: u8, data: &[u8]) -> Result<u64> {
        let size = (data.len() as u64).saturating_add(MAX_CHUNK_OVERHEAD);
        let full = self.pos > SEGMENT_HEADER_LEN as u64
            && self.pos.saturating_add(size) > self.segment_size;
        if self.out.is_none() || full {
            self.cut()?;
        }
        let offset = u32::try_from(self.pos)
            .map_err(|_| Error::invalid(&self.dir, "chunk offset does not fit in 32 bits"))?;
        let r = chunk_ref(self.files.saturating_sub(1), offset);
        self.buf.clear();
        put_uvarint(&mut self.buf, data.len() as u64);
        self.buf.push(encoding);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[encoding]), data);
        let name = self.current_name();
        let Some(out) = self.out.as_mut() else {
            return Err(Error::invalid(&self.dir, "no open segment"));
        };
        let io = |e| Error::io(&self.dir, &*name, e);
        out.write_all(&self.buf).map_err(io)?;
        out.write_all(data).map_err(io)?;
        out.write_all(&crc.to_be_bytes()).map_err(io)?;
        let written = (self.buf.len() as u64)
            .saturating_add(data.len() as u64)
            .saturating_add(4);
        self.pos = self.pos.saturating_add(written);
        Ok(r)
    }

    /// Flushes and syncs the last file and the chunks directory; returns the bytes written.
    pub(super) fn finish(mut self) -> Result<u64> {
        self.finish_file()?;
        super::sync_dir(&self.dir.join(CHUNKS_DIR))
            .map_err(|e| Error::io(&self.dir, CHUNKS_DIR, e))?;
        Ok(self.done_bytes)
    }
}

/// One mapped segment file.
#[derive(Debug)]
struct Segment {
    /// `chunks/000001`.
    name: String,
    map: Mmap,
}

/// The mapped segment files of a block, in file-name order.
#[derive(Debug)]
pub(super) struct Segments {
    dir: PathBuf,
    files: Vec<Segment>,
}

/// A chunk read from a segment.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawChunk<'a> {
    pub(super) encoding: u8,
    pub(super) data: &'a [u8],
}

impl Segments {
    /// Lists `dir/chunks`, maps every file whose name is a number (in numeric order) and checks
    /// each header.
    pub(super) fn open(dir: &Path) -> Result<Segments> {
        let chunks = dir.join(CHUNKS_DIR);
        let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
        for e in fs::read_dir(&chunks).map_err(|e| Error::io(dir, CHUNKS_DIR, e))? {
            let e = e.map_err(|e| Error::io(dir, CHUNKS_DIR, e))?;
            let name = e.file_name();
            let Some(n) = name
                .to_str()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            numbered.push((n, e.path()));
        }
        numbered.sort();
        let mut files = Vec::with_capacity(numbered.len());
        for (_, path) in numbered {
            let name = format!(
                "{CHUNKS_DIR}/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let f = File::open(&path).map_err(|e| Error::io(dir, &*name, e))?;
            let len = f.metadata().map_err(|e| Error::io(dir, &*name, e))?.len();
            if len < SEGMENT_HEADER_LEN as u64 {
                return Err(Error::corrupt(
                    dir,
                    name,
                    Some(0),
                    format!("file of {len} bytes is too short for a segment header"),
                ));
            }
            let map = super::map_file(&f).map_err(|e| Error::io(dir, &*name, e))?;
            let magic = map
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            if magic != Some(SEGMENT_MAGIC) {
                return Err(Error::corrupt(
                    dir,
                    name,
                    Some(0),
                    format!(
                        "bad magic {:#010x}, expected {SEGMENT_MAGIC:#010x}",
                        magic.unwrap_or(0)
                    ),
                ));
            }
            let version = map.get(4).copied().unwrap_or(0);
            if version != SEGMENT_VERSION {
                return Err(Error::corrupt(
                    dir,
                    name,
                    Some(4),
                    format!("unknown segment version {version}"),
                ));
            }
            files.push(Segment { name, map });
        }
        Ok(Segments {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Total size of the segment files.
    pub(super) fn size(&self) -> u64 {
        self.files.iter().map(|s| s.map.len() as u64).sum()
    }

    /// Number of segment files.
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }

    /// The name of the segment a reference points into (for errors), if it exists.
    pub(super) fn name_of(&self, r: u64) -> String {
        let (seg, _) = split_chunk_ref(r);
        self.files
            .get(seg as usize)
            .map_or_else(|| segment_name(seg), |s| s.name.clone())
    }

    /// The chunk at reference `r`, its checksum verified.
    pub(super) fn chunk(&self, r: u64) -> Result<RawChunk<'_>> {
        let (seg, off) = split_chunk_ref(r);
        let Some(s) = self.files.get(seg as usize) else {
            return Err(Error::corrupt(
                &self.dir,
                segment_name(seg),
                Some(u64::from(off)),
                format!(
                    "chunk reference {r:#x} points into segment {} of {}",
                    u64::from(seg) + 1,
                    self.files.len()
                ),
            ));
        };
        read_chunk(&s.map, off as usize)
            .map(|(c, _)| c)
            .map_err(|reason| Error::corrupt(&self.dir, &*s.name, Some(u64::from(off)), reason))
    }

    /// Reads every chunk of every segment in file order, checking each checksum; calls
    /// `f(reference, chunk)` for each.
    pub(super) fn scan(&self, mut f: impl FnMut(u64, RawChunk<'_>) -> Result<()>) -> Result<()> {
        for (i, s) in self.files.iter().enumerate() {
            let seg = u32::try_from(i)
                .map_err(|_| Error::corrupt(&self.dir, &*s.name, None, "too many segment files"))?;
            let mut pos = SEGMENT_HEADER_LEN;
            while pos < s.map.len() {
                let rest = s.map.get(pos..).unwrap_or_default();
                // A writer may leave zero bytes at the end of a file it preallocated.
                if rest.iter().all(|&b| b == 0) {
                    break;
                }
                let off = u32::try_from(pos).map_err(|_| {
                    Error::corrupt(
                        &self.dir,
                        &*s.name,
                        Some(pos as u64),
                        "segment larger than 4 GiB",
                    )
                })?;
                let (c, len) = read_chunk(&s.map, pos).map_err(|reason| {
                    Error::corrupt(&self.dir, &*s.name, Some(pos as u64), reason)
                })?;
                f(chunk_ref(seg, off), c)?;
                pos = pos.saturating_add(len);
            }
        }
        Ok(())
    }
}

/// Decodes the chunk at `off` of a segment: the chunk and the bytes it takes.
fn read_chunk(seg: &[u8], off: usize) -> std::result::Result<(RawChunk<'_>, usize), String> {
    if off < SEGMENT_HEADER_LEN {
        return Err("chunk reference points into the segment header".into());
    }
    let rest = seg.get(off..).filter(|r| !r.is_empty()).ok_or_else(|| {
        format!(
            "chunk offset is past the end of the {}-byte file",
            seg.len()
        )
    })?;
    let (len, n) = uvarint(rest).ok_or("malformed chunk length")?;
    let len = usize::try_from(len).map_err(|_| "chunk length overflows")?;
    let total = n
        .checked_add(1)
        .and_then(|x| x.checked_add(len))
        .and_then(|x| x.checked_add(4))
        .ok_or("chunk length overflows")?;
    let body = rest.get(n..total).ok_or_else(|| {
        format!(
            "chunk of {len} data bytes runs past the end of the file ({} bytes left)",
            rest.len()
        )
    })?;
    let (enc_data, crc) = body.split_at(body.len().saturating_sub(4));
    let stored = <[u8; 4]>::try_from(crc)
        .map(u32::from_be_bytes)
        .unwrap_or(0);
    let actual = crc32c::crc32c(enc_data);
    if stored != actual {
        return Err(format!(
            "chunk checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"
        ));
    }
    let (&encoding, data) = enc_data.split_first().ok_or("chunk has no encoding byte")?;
    Ok((RawChunk { encoding, data }, total))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refs_pack_like_prometheus() {
        assert_eq!(chunk_ref(0, 8), 8);
        assert_eq!(chunk_ref(2, 16), (2 << 32) | 16);
        assert_eq!(split_chunk_ref(chunk_ref(7, u32::MAX)), (7, u32::MAX));
        assert_eq!(segment_name(0), "chunks/000001");
    }

    #[test]
    fn uvarints() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(uvarint(&b), Some((v, b.len())));
            assert_eq!(uvarint(&b[..b.len() - 1]), None);
        }
        assert_eq!(uvarint(&[0xff; 11]), None);
    }

    #[test]
    fn write_cut_scan_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SegmentWriter::create(dir.path(), 64).unwrap();
        let datas: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; usize::from(i) * 5]).collect();
        let refs: Vec<u64> = datas.iter().map(|d| w.write(1, d).unwrap()).collect();
        let bytes = w.finish().unwrap();
        assert_eq!(refs[0], 8);
        let segs = Segments::open(dir.path()).unwrap();
        assert!(segs.len() > 1, "small limit cuts several files");
        assert_eq!(segs.size(), bytes);
        for (r, d) in refs.iter().zip(&datas) {
            let c = segs.chunk(*r).unwrap();
            assert_eq!((c.encoding, c.data), (1, &d[..]));
        }
        let mut seen = Vec::new();
        segs.scan(|r, _| {
            seen.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, refs);
        // Wrong references are errors, not panics.
        for bad in [
            0,
            3,
            9,
            refs[1] + 1,
            chunk_ref(99, 8),
            chunk_ref(0, u32::MAX),
        ] {
            assert!(segs.chunk(bad).is_err(), "{bad:#x}");
        }
    }
}
