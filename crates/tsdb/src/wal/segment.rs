//! Segment files: names, the header, frames, and the directory listing.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Error, IoResultExt};
use super::record::DecodeError;

/// The first four bytes of every segment: `PWAL`.
pub const MAGIC: [u8; 4] = *b"PWAL";
/// The segment format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Segment header length: magic, version, three reserved zero bytes.
pub const HEADER_LEN: u64 = 8;
/// Frame header length: payload length (u32 LE), CRC32 (u32 LE), type byte.
pub const FRAME_HEADER_LEN: usize = 9;
/// The highest segment number: names have 8 decimal digits.
pub const MAX_SEGMENT: u32 = 99_999_999;

const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// The header bytes of a version 1 segment.
pub(crate) fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    let (m, rest) = h.split_at_mut(4);
    m.copy_from_slice(&MAGIC);
    if let Some(v) = rest.first_mut() {
        *v = VERSION;
    }
    h
}

/// The file name of segment `n`: 8 decimal digits.
pub fn segment_name(n: u32) -> String {
    format!("{n:08}")
}

/// The directory name of the checkpoint covering segments up to `n`.
pub fn checkpoint_name(n: u32) -> String {
    format!("{CHECKPOINT_PREFIX}{n:08}")
}

fn parse_digits(s: &str) -> Option<u32> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// The segment number of a file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    parse_digits(name)
}

/// The segment number `n` of a `checkpoint.n` directory name, if it is one.
pub fn parse_checkpoint_name(name: &str) -> Option<u32> {
    name.strip_prefix(CHECKPOINT_PREFIX).and_then(parse_digits)
}

/// What a WAL (or checkpoint) directory holds, sorted by number.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<(u32, PathBuf)>,
    pub checkpoints: Vec<(u32, PathBuf)>,
    /// Unfinished checkpoints (`checkpoint.*.tmp`), left by a crash.
    pub tmp: Vec<PathBuf>,
}

impl Listing {
    pub fn read(dir: &Path) -> Result<Listing, Error> {
        let mut l = Listing::default();
        for entry in fs::read_dir(dir).io_ctx(dir, "list directory")? {
            let entry = entry.io_ctx(dir, "list directory")?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if let Some(n) = parse_segment_name(name) {
                l.segments.push((n, path));
            } else if let Some(n) = parse_checkpoint_name(name) {
                l.checkpoints.push((n, path));
            } else if name.starts_with(CHECKPOINT_PREFIX) && name.ends_with(TMP_SUFFIX) {
                l.tmp.push(path);
            }
        }
        l.segments.sort();
        l.checkpoints.sort();
        Ok(l)
    }

    pub fn last_checkpoint(&self) -> Option<&(u32, PathBuf)> {
        self.checkpoints.last()
    }
}

/// Creates segment `n` in `dir` with its header written.
pub(crate) fn create_segment(dir: &Path, n: u32) -> Result<(File, PathBuf), Error> {
    let path = dir.join(segment_name(n));
    let mut f = File::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .io_ctx(&path, "create segment")?;
    f.write_all(&header())
        .io_ctx(&path, "write segment header")?;
    Ok((f, path))
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io_ctx(dir, "sync directory")
}

/// Why a segment's bytes stop being readable at some offset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The file is shorter than the segment header (a crash while creating it).
    TornHeader {
        /// The file's length.
        len: u64,
    },
    /// Fewer bytes left than a frame header takes.
    TornFrameHeader {
        /// Bytes left in the file.
        left: u64,
    },
    /// The frame's length reaches past the end of the file: a torn write, or a damaged
    /// length field.
    TornFrame {
        /// The payload length the frame header claims.
        len: u32,
        /// Payload bytes left in the file.
        left: u64,
    },
    /// The checksum over type byte and payload does not match.
    Checksum {
        /// The stored CRC32.
        stored: u32,
        /// The CRC32 of the bytes read.
        computed: u32,
    },
    /// Only zero bytes from here to the end of the file (a preallocated or zero-filled tail).
    ZeroTail {
        /// How many zero bytes.
        len: u64,
    },
    /// The checksum matches but the record does not decode.
    Record(DecodeError),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TornHeader { len } => write!(
                f,
                "torn segment header: the file holds {len} of the {HEADER_LEN} header bytes"
            ),
            Reason::TornFrameHeader { left } => write!(
                f,
                "torn frame header: {left} bytes left, a frame header takes {FRAME_HEADER_LEN}"
            ),
            Reason::TornFrame { len, left } => write!(
                f,
                "torn frame: the header announces {len} payload bytes but only {left} are left \
                 (a torn write or a damaged length)"
            ),
            Reason::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Reason::ZeroTail { len } => write!(
                f,
                "{len} zero bytes to the end of the file where a frame should start \
                 (a preallocated or zero-filled tail)"
            ),
            Reason::Record(e) => write!(f, "undecodable record: {e}"),
        }
    }
}

/// Where and why a WAL stops being readable: the first byte not to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the file of the first bad frame (or 0 for a torn header).
    pub offset: u64,
    /// What is wrong there.
    pub reason: Reason,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: offset {}: {}",
            self.segment.display(),
            self.offset,
            self.reason
        )
    }
}

/// Checks a segment's header. `Ok(None)`: frames start after it (or the file is empty, as a
/// crash right after creating it leaves it). `Ok(Some(reason))`: the file starts like a
/// segment but its header is torn. `Err`: not a segment of this format at all.
pub(crate) fn check_header(path: &Path, data: &[u8]) -> Result<Option<Reason>, Error> {
    if data.is_empty() {
        return Ok(None);
    }
    let want = header();
    let n = data.len().min(5);
    let (got, expected) = (data.get(..n), want.get(..n));
    let magic_len = n.min(4);
    if data.get(..magic_len) != MAGIC.get(..magic_len) {
        let mut found = [0u8; 4];
        for (d, s) in found.iter_mut().zip(data) {
            *d = *s;
        }
        return Err(Error::NotASegment {
            path: path.to_path_buf(),
            found,
            len: data.len(),
        });
    }
    if n == 5 && got != expected {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            version: data.get(4).copied().unwrap_or(0),
        });
    }
    if (data.len() as u64) < HEADER_LEN {
        return Ok(Some(Reason::TornHeader {
            len: data.len() as u64,
        }));
    }
    Ok(None)
}

/// One step of reading frames.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// A frame whose checksum matches: its offset and its type byte plus payload.
    Frame { offset: u64, body: &'a [u8] },
    /// The data ends cleanly.
    End,
    /// The data stops being readable at this offset.
    Bad { offset: u64, reason: Reason },
}

/// Reads checksummed frames out of a segment's bytes (header already checked).
#[derive(Debug)]
pub(crate) struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Frames<'a> {
    /// Frames of `data`, a whole segment file, starting after the header.
    pub fn new(data: &'a [u8]) -> Self {
        Frames {
            data,
            pos: (HEADER_LEN as usize).min(data.len()),
        }
    }

    #[inline]
    pub fn step(&mut self) -> Step<'a> {
        let offset = self.pos as u64;
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Step::End;
        }
        let Some((head, after)) = rest.split_first_chunk::<8>() else {
            return self.bad_header(offset, rest);
        };
        let Some((_, payload_and_more)) = after.split_first() else {
            return self.bad_header(offset, rest);
        };
        let [l0, l1, l2, l3, c0, c1, c2, c3] = *head;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let stored = u32::from_le_bytes([c0, c1, c2, c3]);
        if len == 0 && stored == 0 && rest.iter().all(|&b| b == 0) {
            return Step::Bad {
                offset,
                reason: Reason::ZeroTail {
                    len: rest.len() as u64,
                },
            };
        }
        let left = payload_and_more.len() as u64;
        let body = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(1))
            .and_then(|n| after.get(..n));
        let Some(body) = body else {
            return Step::Bad {
                offset,
                reason: Reason::TornFrame { len, left },
            };
        };
        let computed = crc32fast::hash(body);
        if computed != stored {
            return Step::Bad {
                offset,
                reason: Reason::Checksum { stored, computed },
            };
        }
        self.pos += 8 + body.len();
        Step::Frame { offset, body }
    }

    fn bad_header(&self, offset: u64, rest: &[u8]) -> Step<'a> {
        let reason = if rest.iter().all(|&b| b == 0) {
            Reason::ZeroTail {
                len: rest.len() as u64,
            }
        } else {
            Reason::TornFrameHeader {
                left: rest.len() as u64,
            }
        };
        Step::Bad { offset, reason }
    }
}

/// Appends a frame holding `record`'s encoding to `buf`: reserves the frame header, lets
/// `encode` append the type byte and payload, then fills in length and checksum. Fails (and
/// leaves `buf` as it was) when the payload does not fit a u32 length.
pub(crate) fn push_frame(
    buf: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>),
) -> Result<(), usize> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 8]);
    encode(buf);
    let body = buf.get(start + 8..).unwrap_or_default();
    let Some(payload_len) = body.len().checked_sub(1) else {
        buf.truncate(start);
        return Err(0);
    };
    let Ok(len) = u32::try_from(payload_len) else {
        buf.truncate(start);
        return Err(payload_len);
    };
    let crc = crc32fast::hash(body);
    if let Some(h) = buf.get_mut(start..start + 8) {
        let (l, c) = h.split_at_mut(4);
        l.copy_from_slice(&len.to_le_bytes());
        c.copy_from_slice(&crc.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        assert_eq!(segment_name(42), "00000042");
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("0000042"), None);
        assert_eq!(parse_segment_name("+0000042"), None);
        assert_eq!(checkpoint_name(7), "checkpoint.00000007");
        assert_eq!(parse_checkpoint_name("checkpoint.00000007"), Some(7));
        assert_eq!(parse_checkpoint_name("checkpoint.00000007.tmp"), None);
    }

    #[test]
    fn frames_read_back_and_damage_is_located() {
        let mut data = header().to_vec();
        push_frame(&mut data, |b| b.extend_from_slice(&[2, 0])).unwrap();
        push_frame(&mut data, |b| b.extend_from_slice(&[1, 0])).unwrap();
        let mut fr = Frames::new(&data);
        assert!(matches!(
            fr.step(),
            Step::Frame {
                offset: 8,
                body: [2, 0]
            }
        ));
        assert!(matches!(
            fr.step(),
            Step::Frame {
                offset: 18,
                body: [1, 0]
            }
        ));
        assert!(matches!(fr.step(), Step::End));

        let mut torn = data.clone();
        torn.pop();
        let mut fr = Frames::new(&torn);
        fr.step();
        assert!(matches!(
            fr.step(),
            Step::Bad {
                offset: 18,
                reason: Reason::TornFrame { len: 1, left: 0 }
            }
        ));

        let mut zeros = data.clone();
        zeros.extend([0u8; 100]);
        let mut fr = Frames::new(&zeros);
        fr.step();
        fr.step();
        assert!(matches!(
            fr.step(),
            Step::Bad {
                offset: 28,
                reason: Reason::ZeroTail { len: 100 }
            }
        ));
        let mut short_zeros = data.clone();
        short_zeros.extend([0u8; 3]);
        let mut fr = Frames::new(&short_zeros);
        fr.step();
        fr.step();
        assert!(matches!(
            fr.step(),
            Step::Bad {
                reason: Reason::ZeroTail { len: 3 },
                ..
            }
        ));
    }

    #[test]
    fn headers_are_told_apart() {
        let p = Path::new("x");
        assert_eq!(check_header(p, &header()).unwrap(), None);
        assert_eq!(
            check_header(p, b"PW").unwrap(),
            Some(Reason::TornHeader { len: 2 })
        );
        assert_eq!(check_header(p, b"").unwrap(), None);
        let e = check_header(p, &[1, 0, 0x20, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("not a prom WAL segment"), "{e}");
        let e = check_header(p, b"PWAL\x02\0\0\0").unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
    }
}
