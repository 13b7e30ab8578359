//! The on-disk index reader over arbitrary files, and the indexes the seed corpus starts from.
//!
//! An input is one mode byte and the file. With an odd mode byte the harness first rewrites
//! every checksum it can locate (the TOC's, the symbol table's, both offset tables', each
//! postings list's, label index's and series entry's) so that mutations reach the decoders
//! behind the checksums; with an even one the file is read as it is.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;

use prom_index::disk::{HEADER_LEN, SERIES_ALIGN, TOC_LEN};
use prom_index::{ChunkMeta, IndexReader, IndexWriter, Postings};
use prom_model::Labels;

/// At most this many label names, values per name and series are read per input, so one
/// input stays fast whatever counts it claims.
const LIMIT: usize = 64;

/// Writes the file `data` encodes to a scratch file, opens it with [`IndexReader`] and reads it
/// through every API: symbols both ways, label names and values, postings by pair, by name and
/// all of them (with seeks), series, and [`IndexReader::verify`]. Panics only if an invariant
/// below breaks (or the reader panics).
pub fn read(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if mode & 1 == 1 {
        reseal(&mut file);
    }
    let path = scratch_path();
    if std::fs::write(&path, &file).is_err() {
        return;
    }
    let reader = IndexReader::open(&path);
    // The map stays valid after the name is gone.
    let _ = std::fs::remove_file(&path);
    match reader {
        Ok(r) => exercise(&r),
        Err(e) => {
            black_box(e.to_string());
        }
    }
}

fn scratch_path() -> PathBuf {
    std::env::temp_dir().join(format!("prom-fuzz-index-{}", std::process::id()))
}

fn exercise(r: &IndexReader) {
    // Symbols: sorted, and each found at its position.
    let mut prev: Option<&str> = None;
    for (i, s) in r.symbols().take(4 * LIMIT).enumerate() {
        let Ok(s) = s else { break };
        assert!(prev.is_none_or(|p| p < s), "symbols out of order");
        prev = Some(s);
        if let Ok(found) = r.symbol(i as u32) {
            assert_eq!(found, s, "symbol({i})");
        }
        if let Ok(id) = r.symbol_ref(s) {
            assert_eq!(id, Some(i as u32), "symbol_ref({s:?})");
        }
    }
    black_box(r.symbol(u32::MAX).is_err());
    black_box(r.symbol_ref("\u{10ffff}").is_ok());

    // Every series the all-series list names; sorted postings everywhere.
    let all = r.all_postings().map(drain);
    let mut chunks = Vec::new();
    let mut labels = Vec::new();
    if let Ok(all) = &all {
        for &sref in all.iter().take(LIMIT) {
            black_box(r.series_into(sref, &mut labels, &mut chunks).is_ok());
        }
    }
    for name in r.label_names().into_iter().take(LIMIT) {
        let values = r.label_values(name);
        let by_value = r.label_value_postings(name);
        if let (Ok(values), Ok(by_value)) = (&values, by_value) {
            assert_eq!(values.len(), by_value.len(), "values of {name:?}");
            for ((v, p), want) in by_value.into_iter().zip(values).take(LIMIT) {
                assert_eq!(v, *want);
                let listed = drain(p);
                if let Ok(p) = r.postings(name, v) {
                    assert_eq!(drain(p), listed, "postings({name:?}, {v:?})");
                }
            }
        }
        if let Ok(p) = r.postings_for_label_matching(name, |v| v.len() % 2 == 0) {
            drain(p);
        }
        if let Ok(mut p) = r.postings_for_name(name) {
            let mut at = 0;
            while p.seek(at) {
                at = p.at().saturating_add(7);
            }
        }
    }
    black_box(r.postings("\u{0}", "").map(drain).ok());

    // A file that verifies holds a readable series behind every reference.
    if r.verify().is_ok()
        && let Ok(all) = &all
    {
        for &sref in all.iter().take(LIMIT) {
            assert!(
                r.series(sref).is_ok(),
                "verified, yet series {sref} does not read"
            );
        }
    }
}

/// The remaining elements of `p`, checked to be strictly increasing.
fn drain(mut p: impl Postings) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    while p.next() {
        let x = p.at();
        assert!(out.last().is_none_or(|&l| l < x), "postings not increasing");
        out.push(x);
        if out.len() > 1 << 16 {
            break;
        }
    }
    out
}

/// Rewrites every checksum of `file` that can be located, trusting its lengths and offsets.
fn reseal(file: &mut [u8]) {
    let Some(toc_at) = file.len().checked_sub(TOC_LEN) else {
        return;
    };
    if toc_at < HEADER_LEN {
        return;
    }
    let mut toc = [0u64; 6];
    for (i, t) in toc.iter_mut().enumerate() {
        *t = be64(file, toc_at + 8 * i).unwrap_or(u64::MAX);
    }
    let [
        symbols,
        series,
        label_indices,
        label_offset_table,
        _postings,
        postings_offset_table,
    ] = toc;
    let at = |o: u64| usize::try_from(o).ok();

    // Postings lists and label indices, found through the two offset tables.
    let mut lists = Vec::new();
    if let Some(body) = at(postings_offset_table).and_then(|o| framed_be32(file, o)) {
        let mut d = Reader::new(file, body.clone());
        let count = d.be32().unwrap_or(0);
        for _ in 0..count.min(1 << 16) {
            // 2, name, value, offset
            let Some(off) = (|| {
                d.uvarint()?;
                d.string()?;
                d.string()?;
                d.uvarint()
            })() else {
                break;
            };
            lists.extend(at(off));
        }
    }
    if label_offset_table != postings_offset_table
        && let Some(body) = at(label_offset_table).and_then(|o| framed_be32(file, o))
    {
        let mut d = Reader::new(file, body.clone());
        let count = d.be32().unwrap_or(0);
        for _ in 0..count.min(1 << 16) {
            // 1, name, offset
            let Some(off) = (|| {
                d.uvarint()?;
                d.string()?;
                d.uvarint()
            })() else {
                break;
            };
            lists.extend(at(off));
        }
    }
    let lists: BTreeSet<usize> = lists.into_iter().collect();
    for off in lists {
        seal_be32(file, off);
    }

    // Series entries: non-zero bytes at 16-byte boundaries of the series section.
    if let (Some(mut pos), Some(end)) = (at(series), at(label_indices)) {
        let end = end.min(file.len());
        while pos < end {
            if file[pos] == 0 || !(pos as u64).is_multiple_of(SERIES_ALIGN) {
                pos += 1;
                continue;
            }
            match seal_uvarint(file, pos) {
                Some(next) if next > pos => pos = next,
                _ => break,
            }
        }
    }

    for o in [symbols, label_offset_table, postings_offset_table] {
        if let Some(o) = at(o) {
            seal_be32(file, o);
        }
    }
    let crc = crc32c::crc32c(&file[toc_at..toc_at + TOC_LEN - 4]);
    file[toc_at + TOC_LEN - 4..toc_at + TOC_LEN].copy_from_slice(&crc.to_be_bytes());
}

fn be32(file: &[u8], at: usize) -> Option<u32> {
    let b = file.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn be64(file: &[u8], at: usize) -> Option<u64> {
    let b = file.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// The body range of a `len <4b> | body | CRC32` frame at `at`, if it fits the file.
fn framed_be32(file: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    let len = usize::try_from(be32(file, at)?).ok()?;
    let start = at.checked_add(4)?;
    let end = start.checked_add(len)?;
    (end.checked_add(4)? <= file.len()).then_some(start..end)
}

/// Rewrites the checksum of the frame at `at`.
fn seal_be32(file: &mut [u8], at: usize) {
    if let Some(body) = framed_be32(file, at) {
        let crc = crc32c::crc32c(&file[body.clone()]);
        file[body.end..body.end + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Rewrites the checksum of the `len <uvarint> | body | CRC32` frame at `at`; returns the
/// offset just past it.
fn seal_uvarint(file: &mut [u8], at: usize) -> Option<usize> {
    let mut d = Reader::new(file, at..file.len());
    let len = usize::try_from(d.uvarint()?).ok()?;
    let start = d.pos;
    let end = start.checked_add(len)?;
    let past = end.checked_add(4)?;
    if past > file.len() {
        return None;
    }
    let crc = crc32c::crc32c(&file[start..end]);
    file[end..past].copy_from_slice(&crc.to_be_bytes());
    Some(past)
}

/// A bounds-checked cursor over a range of the file.
struct Reader<'a> {
    file: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(file: &'a [u8], range: std::ops::Range<usize>) -> Self {
        Reader {
            file,
            pos: range.start,
            end: range.end.min(file.len()),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        if self.pos >= self.end {
            return None;
        }
        let b = self.file[self.pos];
        self.pos += 1;
        Some(b)
    }

    fn be32(&mut self) -> Option<u32> {
        let v = be32(self.file, self.pos).filter(|_| self.pos + 4 <= self.end)?;
        self.pos += 4;
        Some(v)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn string(&mut self) -> Option<()> {
        let len = usize::try_from(self.uvarint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        (end <= self.end).then(|| self.pos = end)
    }
}

/// Index files written by [`IndexWriter`], as `(name, bytes)` with the mode byte in front: each
/// once as it is and once to be resealed.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let c = |min_time, max_time, chunk_ref| ChunkMeta {
        min_time,
        max_time,
        chunk_ref,
    };
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs);
    type Model = Vec<(Labels, Vec<ChunkMeta>)>;
    let models: Vec<(&str, Model)> = vec![
        ("empty", vec![]),
        (
            "one",
            vec![(l(&[("__name__", "up")]), vec![c(0, 1_000, 8)])],
        ),
        (
            "small",
            vec![
                (
                    l(&[("__name__", "up"), ("instance", "a:9100"), ("job", "node")]),
                    vec![c(0, 7_199_000, 8), c(7_200_000, 14_399_000, 1_200)],
                ),
                (
                    l(&[("__name__", "up"), ("instance", "b:9100"), ("job", "node")]),
                    vec![c(15_000, 7_199_000, 2_400)],
                ),
                (l(&[("__name__", "x"), ("env", ""), ("job", "api")]), vec![]),
                (
                    l(&[("__name__", "x"), ("job", "db")]),
                    vec![c(i64::MIN, -1, u64::MAX), c(0, i64::MAX, 0)],
                ),
            ],
        ),
        (
            "many_values",
            (0..40)
                .map(|i| {
                    let v = format!("v{i:03}");
                    (
                        l(&[("__name__", "m"), ("k", &v)]),
                        vec![c(i, i + 10, i as u64 * 16)],
                    )
                })
                .collect(),
        ),
    ];
    let dir = std::env::temp_dir().join(format!("prom-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut out = Vec::new();
    for (name, mut model) in models {
        model.sort_by(|a, b| a.0.cmp(&b.0));
        let symbols: BTreeSet<String> = model
            .iter()
            .flat_map(|(ls, _)| {
                ls.iter()
                    .flat_map(|l| [l.name.to_owned(), l.value.to_owned()])
            })
            .collect();
        let path = dir.join(name);
        let mut w = IndexWriter::create(&path).expect("create a seed index");
        for s in &symbols {
            w.add_symbol(s).expect("symbols in order");
        }
        for (ls, chunks) in &model {
            w.add_series(ls, chunks).expect("series in order");
        }
        w.finish().expect("finish a seed index");
        let bytes = std::fs::read(&path).expect("read the seed back");
        for mode in [0u8, 1] {
            let mut input = vec![mode];
            input.extend_from_slice(&bytes);
            out.push((
                format!("seed_{name}_{}", ["raw", "resealed"][mode as usize]),
                input,
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}
