//! Reading an index file through a read-only memory map.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use prom_model::Labels;

use super::decode::{
    Corruption, Dec, DecResult, align_up, framed_be32, framed_uvarint, series_body, to_usize, zeros,
};
use super::postings::DiskPostings;
use super::symbols::{SymbolCursor, SymbolTable};
use super::{
    ChunkMeta, HEADER_LEN, LIST_ALIGN, MAGIC, SERIES_ALIGN, Section, TOC_LEN, Toc, VERSION,
};
use crate::error::{Error, Result};
use crate::postings::{Merge, Postings, merge};

/// One in this many postings offset table entries of a label name is kept in memory (plus the
/// name's last entry).
const POSTINGS_SAMPLE: u32 = 32;

/// Where a label name's entries sit in the postings offset table.
#[derive(Debug, Clone)]
struct NameEntry {
    /// File offset of the name's first entry.
    first: u64,
    /// Number of entries (values) of the name.
    count: u32,
    /// `(value, file offset of its entry, position among the name's entries)` for every
    /// `POSTINGS_SAMPLE`th value and the last.
    samples: Vec<(Box<str>, u64, u32)>,
}

/// A reader of one index file.
///
/// [`open`](Self::open) maps the file, checks the header and the table of contents, and reads
/// two sections whole: the symbol table (every 32nd offset kept in memory) and the postings
/// offset table (label names and every 32nd value of each kept in memory). Both checksums are
/// verified then. Everything else is decoded on demand from the map, and each series entry and
/// postings list has its checksum verified when it is read. The legacy label indices are not
/// needed for any lookup and are only checked by [`verify`](Self::verify), which walks and
/// cross-checks the whole file.
///
/// Any malformed input yields [`Error::IndexCorrupt`] naming the file, the section and the byte
/// offset; the reader never panics on file contents.
///
/// The file must not be modified while it is open: index files are immutable once written.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    map: Mmap,
    toc: Toc,
    symbols: SymbolTable,
    /// Label names, including the empty name of the all-series list.
    names: BTreeMap<Box<str>, NameEntry>,
    /// The symbol reference of each label name, sorted by reference: series decoding
    /// resolves names here instead of walking the symbol table (two lookups per label
    /// otherwise, one of them for a name among few).
    name_symbols: Vec<(u32, Box<str>)>,
    /// File offset just past the postings offset table's last entry.
    table_end: u64,
    /// File offset just past the postings offset table's checksum.
    table_section_end: u64,
}

fn table_entry<'a>(d: &mut Dec<'a>) -> DecResult<(&'a str, &'a str, u64)> {
    let at = d.offset();
    let keys = d.uvarint()?;
    if keys != 2 {
        return Err(Corruption::new(
            Section::PostingsOffsetTable,
            at,
            format!("entry has {keys} keys, expected 2"),
        ));
    }
    let name = d.uvarint_str()?;
    let value = d.uvarint_str()?;
    let off = d.uvarint()?;
    Ok((name, value, off))
}

fn read_toc(file: &[u8]) -> DecResult<Toc> {
    let len = file.len() as u64;
    let start = len
        .checked_sub(TOC_LEN as u64)
        .filter(|&s| s >= HEADER_LEN as u64)
        .ok_or_else(|| {
            Corruption::new(
                Section::Toc,
                len,
                format!("file of {len} bytes is too short for a header and a TOC"),
            )
        })?;
    let b = file
        .get(to_usize(start, Section::Toc, start)?..)
        .ok_or_else(|| Corruption::new(Section::Toc, start, "TOC out of range"))?;
    let mut d = Dec::new(b, start, Section::Toc);
    let body = d.bytes(TOC_LEN.saturating_sub(4))?;
    let stored = d.be32()?;
    let actual = crc32c::crc32c(body);
    if stored != actual {
        return Err(Corruption::new(
            Section::Toc,
            start,
            format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}"),
        ));
    }
    let mut d = Dec::new(body, start, Section::Toc);
    let toc = Toc {
        symbols: d.be64()?,
        series: d.be64()?,
        label_indices: d.be64()?,
        label_offset_table: d.be64()?,
        postings: d.be64()?,
        postings_offset_table: d.be64()?,
    };
    // File order, which differs from field order.
    let order = [
        ("symbols", toc.symbols),
        ("series", toc.series),
        ("label indices", toc.label_indices),
        ("postings", toc.postings),
        ("label offset table", toc.label_offset_table),
        ("postings offset table", toc.postings_offset_table),
        ("TOC", start),
    ];
    let mut prev = ("header", HEADER_LEN as u64);
    for cur in order {
        if cur.1 < prev.1 {
            return Err(Corruption::new(
                Section::Toc,
                start,
                format!(
                    "{} offset {} is before {} offset {}",
                    cur.0, cur.1, prev.0, prev.1
                ),
            ));
        }
        prev = cur;
    }
    Ok(toc)
}

impl IndexReader {
    /// Opens and maps the index file at `path`, validating magic, version, TOC, symbol table and
    /// postings offset table.
    pub fn open(path: impl AsRef<Path>) -> Result<IndexReader> {
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::IndexIo {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let map = super::map_file(&file).map_err(io)?;
        Self::from_map(path.clone(), map).map_err(|c| c.into_error(&path))
    }

    fn from_map(path: PathBuf, map: Mmap) -> DecResult<IndexReader> {
        let file: &[u8] = &map;
        let mut h = Dec::new(file, 0, Section::Header);
        let magic = h.be32().map_err(|_| {
            Corruption::new(
                Section::Header,
                0,
                format!("file of {} bytes is too short for a header", file.len()),
            )
        })?;
        if magic != MAGIC {
            return Err(Corruption::new(
                Section::Header,
                0,
                format!("bad magic {magic:#010x}, expected {MAGIC:#010x}"),
            ));
        }
        let version = *h.bytes(1)?.first().unwrap_or(&0);
        if version != VERSION {
            return Err(Corruption::new(
                Section::Header,
                4,
                format!("unsupported index version {version}, expected {VERSION}"),
            ));
        }
        let toc = read_toc(file)?;
        let symbols = SymbolTable::parse(file, toc.symbols)?;
        if symbols.section_end() > toc.series {
            return Err(Corruption::new(
                Section::Symbols,
                toc.symbols,
                "symbol table overlaps the series",
            ));
        }

        let (mut d, table_section_end) = framed_be32(
            file,
            toc.postings_offset_table,
            Section::PostingsOffsetTable,
        )?;
        let toc_start = (file.len() as u64).saturating_sub(TOC_LEN as u64);
        if table_section_end > toc_start {
            return Err(Corruption::new(
                Section::PostingsOffsetTable,
                toc.postings_offset_table,
                "postings offset table overlaps the TOC",
            ));
        }
        let count = d.be32()?;
        let mut names: BTreeMap<Box<str>, NameEntry> = BTreeMap::new();
        let mut prev: Option<(&str, &str)> = None;
        // The entry being built and the last value seen, not yet sampled.
        let mut cur: Option<(&str, NameEntry)> = None;
        let mut pending: Option<(&str, u64, u32)> = None;
        for _ in 0..count {
            let at = d.offset();
            let (name, value, off) = table_entry(&mut d)?;
            if prev.is_some_and(|p| p >= (name, value)) {
                return Err(Corruption::new(
                    Section::PostingsOffsetTable,
                    at,
                    "entries are not strictly sorted by label name and value",
                ));
            }
            if off < toc.postings || off >= toc.label_offset_table {
                return Err(Corruption::new(
                    Section::PostingsOffsetTable,
                    at,
                    format!("postings offset {off} is outside the postings section"),
                ));
            }
            prev = Some((name, value));
            if cur.as_ref().is_none_or(|(n, _)| *n != name) {
                if let Some((n, mut e)) = cur.take() {
                    if let Some((v, o, i)) = pending.take() {
                        e.samples.push((v.into(), o, i));
                    }
                    names.insert(n.into(), e);
                }
                cur = Some((
                    name,
                    NameEntry {
                        first: at,
                        count: 0,
                        samples: Vec::new(),
                    },
                ));
            }
            if let Some((_, e)) = cur.as_mut() {
                if e.count % POSTINGS_SAMPLE == 0 {
                    e.samples.push((value.into(), at, e.count));
                    pending = None;
                } else {
                    pending = Some((value, at, e.count));
                }
                e.count = e.count.saturating_add(1);
            }
        }
        if let Some((n, mut e)) = cur.take() {
            if let Some((v, o, i)) = pending.take() {
                e.samples.push((v.into(), o, i));
            }
            names.insert(n.into(), e);
        }
        if !d.is_empty() {
            return Err(d.corrupt(format!("{} bytes after the last entry", d.remaining())));
        }
        let table_end = d.offset();
        // A name missing from the symbol table (a damaged index) is left to `lookup`, which
        // reports it where the series refers to it.
        let mut name_symbols: Vec<(u32, Box<str>)> = names
            .keys()
            .filter_map(|n| match symbols.reverse(file, n) {
                Ok(Some(id)) => Some((id, n.clone())),
                _ => None,
            })
            .collect();
        name_symbols.sort_unstable_by_key(|e| e.0);
        Ok(IndexReader {
            path,
            map,
            toc,
            symbols,
            names,
            name_symbols,
            table_end,
            table_section_end,
        })
    }

    fn file(&self) -> &[u8] {
        &self.map
    }

    fn err(&self) -> impl Fn(Corruption) -> Error + '_ {
        |c| c.into_error(&self.path)
    }

    /// The path the index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table of contents.
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    /// The number of symbols.
    pub fn symbol_count(&self) -> u32 {
        self.symbols.len()
    }

    /// The symbol with reference `id` (its position in the sorted table).
    pub fn symbol(&self, id: u32) -> Result<&str> {
        self.symbols.lookup(self.file(), id).map_err(self.err())
    }

    /// The reference of symbol `s`, or `None` if the table does not have it.
    pub fn symbol_ref(&self, s: &str) -> Result<Option<u32>> {
        self.symbols.reverse(self.file(), s).map_err(self.err())
    }

    /// All symbols in sorted order.
    pub fn symbols(&self) -> Symbols<'_> {
        Symbols {
            inner: self.symbols.iter(self.file()),
            path: &self.path,
        }
    }

    /// The label names that occur in the index, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.names
            .keys()
            .filter(|n| !n.is_empty())
            .map(|n| &**n)
            .collect()
    }

    fn name_entries(&self, name: &str) -> DecResult<NameEntries<'_>> {
        let Some(e) = self.names.get(name) else {
            return Ok(NameEntries::empty());
        };
        self.entries_from(e.first, e.count)
    }

    fn entries_from(&self, first: u64, count: u32) -> DecResult<NameEntries<'_>> {
        let sec = Section::PostingsOffsetTable;
        let a = to_usize(first, sec, first)?;
        let b = to_usize(self.table_end, sec, first)?;
        let bytes = self
            .file()
            .get(a..b)
            .ok_or_else(|| Corruption::new(sec, first, "entry out of range"))?;
        Ok(NameEntries {
            d: Dec::new(bytes, first, sec),
            left: count,
        })
    }

    /// The values of label `name`, sorted; empty if no series has the label.
    pub fn label_values(&self, name: &str) -> Result<Vec<&str>> {
        self.label_values_iter(name).collect()
    }

    /// The values of label `name` in sorted order, decoded one at a time.
    pub fn label_values_iter(&self, name: &str) -> LabelValues<'_> {
        LabelValues {
            inner: self.name_entries(name),
            path: &self.path,
        }
    }

    /// Reads the postings list at file offset `off`, verifying its checksum and order.
    fn postings_at(&self, off: u64) -> DecResult<DiskPostings<'_>> {
        let sec = Section::Postings;
        if off < self.toc.postings || off >= self.toc.label_offset_table {
            return Err(Corruption::new(
                sec,
                off,
                "postings list offset outside the postings section",
            ));
        }
        let (mut d, end) = framed_be32(self.file(), off, sec)?;
        if end > self.toc.label_offset_table {
            return Err(Corruption::new(
                sec,
                off,
                "postings list runs past the postings section",
            ));
        }
        let n = d.be32()? as usize;
        let need = n
            .checked_mul(4)
            .ok_or_else(|| d.corrupt("entry count overflows"))?;
        if d.remaining() != need {
            return Err(d.corrupt(format!(
                "{n} entries need {need} bytes, list has {}",
                d.remaining()
            )));
        }
        let start = d.offset();
        let refs = d.bytes(need)?;
        let mut prev: Option<u32> = None;
        for (i, c) in refs.chunks_exact(4).enumerate() {
            let mut a = [0u8; 4];
            a.copy_from_slice(c);
            let v = u32::from_be_bytes(a);
            if prev.is_some_and(|p| p >= v) {
                let at = start.saturating_add((i as u64).saturating_mul(4));
                return Err(Corruption::new(sec, at, "series references not increasing"));
            }
            prev = Some(v);
        }
        Ok(DiskPostings::new(refs))
    }

    /// The offset of the postings list of `name="value"`, via the sampled table.
    fn postings_offset(&self, name: &str, value: &str) -> DecResult<Option<u64>> {
        let Some(e) = self.names.get(name) else {
            return Ok(None);
        };
        // The last sample whose value is <= value.
        let i = e.samples.partition_point(|(v, _, _)| &**v <= value);
        let Some(i) = i.checked_sub(1) else {
            return Ok(None);
        };
        let Some(&(_, start, index)) = e.samples.get(i) else {
            return Ok(None);
        };
        let left = e.count.saturating_sub(index);
        let mut it = self.entries_from(start, left)?;
        for _ in 0..POSTINGS_SAMPLE {
            match it.next() {
                Some(Ok((v, off))) => match v.cmp(value) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => return Ok(Some(off)),
                    std::cmp::Ordering::Greater => return Ok(None),
                },
                Some(Err(c)) => return Err(c),
                None => break,
            }
        }
        Ok(None)
    }

    /// The series that have label `name="value"`, in increasing reference order; empty if none.
    pub fn postings(&self, name: &str, value: &str) -> Result<DiskPostings<'_>> {
        match self.postings_offset(name, value).map_err(self.err())? {
            Some(off) => self.postings_at(off).map_err(self.err()),
            None => Ok(DiskPostings::empty()),
        }
    }

    /// Every series in the index, in increasing reference order (the list Prometheus stores
    /// under the empty label name and value).
    pub fn all_postings(&self) -> Result<DiskPostings<'_>> {
        self.postings("", "")
    }

    /// The postings of each value of label `name`, in sorted value order.
    pub fn label_value_postings(&self, name: &str) -> Result<Vec<(&str, DiskPostings<'_>)>> {
        let mut out = Vec::new();
        let entries = self.name_entries(name).map_err(self.err())?;
        for e in entries {
            let (v, off) = e.map_err(self.err())?;
            out.push((v, self.postings_at(off).map_err(self.err())?));
        }
        Ok(out)
    }

    /// The union of the postings of the values of `name` that `keep` accepts: the series whose
    /// `name` label matches. This is how a regex or negative matcher turns into postings.
    pub fn postings_for_label_matching(
        &self,
        name: &str,
        mut keep: impl FnMut(&str) -> bool,
    ) -> Result<Merge<DiskPostings<'_>>> {
        let mut lists = Vec::new();
        let entries = self.name_entries(name).map_err(self.err())?;
        for e in entries {
            let (v, off) = e.map_err(self.err())?;
            if keep(v) {
                lists.push(self.postings_at(off).map_err(self.err())?);
            }
        }
        Ok(merge(lists))
    }

    /// The series that have label `name` at all, in increasing reference order: the union of
    /// the postings of all its values.
    pub fn postings_for_name(&self, name: &str) -> Result<Merge<DiskPostings<'_>>> {
        if name.is_empty() {
            return Ok(merge(Vec::new()));
        }
        self.postings_for_label_matching(name, |_| true)
    }

    /// The labels and chunk metas of the series with reference `sref` (as found in postings).
    pub fn series(&self, sref: u64) -> Result<(Labels, Vec<ChunkMeta>)> {
        let mut labels = Vec::new();
        let mut chunks = Vec::new();
        self.series_into(sref, &mut labels, &mut chunks)?;
        Ok((Labels::from_pairs(&labels), chunks))
    }

    /// Like [`series`](Self::series), into reusable buffers (cleared first); the strings borrow
    /// from the map, so nothing is allocated once the buffers have grown.
    pub fn series_into<'r>(
        &'r self,
        sref: u64,
        labels: &mut Vec<(&'r str, &'r str)>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Result<()> {
        labels.clear();
        chunks.clear();
        self.decode_series(sref, labels, chunks).map_err(self.err())
    }

    fn series_entry(&self, sref: u64) -> DecResult<(Dec<'_>, u64)> {
        let sec = Section::Series;
        let off = sref
            .checked_mul(SERIES_ALIGN)
            .filter(|&o| o >= self.toc.series && o < self.toc.label_indices)
            .ok_or_else(|| {
                Corruption::new(
                    sec,
                    self.toc.series,
                    format!("series reference {sref} is outside the series section"),
                )
            })?;
        let (d, end) = framed_uvarint(self.file(), off, sec)?;
        if end > self.toc.label_indices {
            return Err(Corruption::new(
                sec,
                off,
                "series entry runs past the series section",
            ));
        }
        Ok((d, end))
    }

    fn decode_series<'r>(
        &'r self,
        sref: u64,
        labels: &mut Vec<(&'r str, &'r str)>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> DecResult<()> {
        let (d, _) = self.series_entry(sref)?;
        let file = self.file();
        series_body(
            d,
            |n, v, at| {
                let known = self
                    .name_symbols
                    .binary_search_by_key(&n, |e| e.0)
                    .ok()
                    .and_then(|i| self.name_symbols.get(i));
                let name = match known {
                    Some((_, s)) => &**s,
                    None => self.symbols.lookup(file, n).map_err(|c| relocate(c, at))?,
                };
                let value = self.symbols.lookup(file, v).map_err(|c| relocate(c, at))?;
                if labels.last().is_some_and(|(p, _)| *p >= name) {
                    return Err(Corruption::new(
                        Section::Series,
                        at,
                        "label names not strictly sorted",
                    ));
                }
                labels.push((name, value));
                Ok(())
            },
            Some(chunks),
        )
    }

    /// Walks the whole file and checks every byte: each section's checksum and structure,
    /// padding, symbol references, that every postings list is sorted and points at series,
    /// that the all-series list is exactly the set of series, and that each label pair's list
    /// has as many entries as series carrying the pair. Linear in the file size, with memory
    /// proportional to the number of series plus the number of label pairs.
    pub fn verify(&self) -> Result<()> {
        self.verify_inner().map_err(self.err())
    }

    fn verify_inner(&self) -> DecResult<()> {
        let file = self.file();
        let toc = self.toc;
        zeros(
            file,
            self.symbols.section_end(),
            toc.series,
            Section::Symbols,
        )?;

        // Series: zero padding, then entries at 16-byte boundaries.
        let mut series_refs: Vec<u32> = Vec::new();
        let mut pair_counts: HashMap<(u32, u32), u32> = HashMap::new();
        let mut chunks = Vec::new();
        let mut pos = toc.series;
        while pos < toc.label_indices {
            let at = to_usize(pos, Section::Series, pos)?;
            if file.get(at).copied().unwrap_or(0) == 0 {
                pos = pos.saturating_add(1);
                continue;
            }
            if !pos.is_multiple_of(SERIES_ALIGN) {
                return Err(Corruption::new(
                    Section::Series,
                    pos,
                    "non-zero byte between series (entry not 16-byte aligned?)",
                ));
            }
            let sref = u32::try_from(pos / SERIES_ALIGN).map_err(|_| {
                Corruption::new(Section::Series, pos, "series reference exceeds 32 bits")
            })?;
            let (d, end) = self.series_entry(u64::from(sref))?;
            let mut prev_name: Option<&str> = None;
            series_body(
                d,
                |n, v, at| {
                    let name = self.symbols.lookup(file, n).map_err(|c| relocate(c, at))?;
                    self.symbols.lookup(file, v).map_err(|c| relocate(c, at))?;
                    if prev_name.is_some_and(|p| p >= name) {
                        return Err(Corruption::new(
                            Section::Series,
                            at,
                            "label names not strictly sorted",
                        ));
                    }
                    prev_name = Some(name);
                    let c = pair_counts.entry((n, v)).or_insert(0);
                    *c = c.saturating_add(1);
                    Ok(())
                },
                Some(&mut chunks),
            )?;
            series_refs.push(sref);
            pos = end;
        }

        // Legacy label indices, each at a 4-byte boundary.
        let mut label_index_offsets = Vec::new();
        walk_lists(
            file,
            toc.label_indices,
            toc.postings,
            Section::LabelIndices,
            |mut d, off| {
                let names = d.be32()?;
                let entries = d.be32()?;
                if entries.checked_rem(names) != Some(0) {
                    return Err(d.corrupt(format!("{entries} entries for {names} names")));
                }
                if d.remaining() != (entries as usize).saturating_mul(4) {
                    return Err(d.corrupt("length does not match the entry count"));
                }
                for _ in 0..entries {
                    let at = d.offset();
                    let r = d.be32()?;
                    self.symbols.lookup(file, r).map_err(|c| relocate(c, at))?;
                }
                label_index_offsets.push(off);
                Ok(())
            },
        )?;

        // Postings lists, each at a 4-byte boundary.
        let mut list_offsets = Vec::new();
        walk_lists(
            file,
            toc.postings,
            toc.label_offset_table,
            Section::Postings,
            |_, off| {
                let mut p = self.postings_at(off)?;
                while p.next() {
                    let r = u32::try_from(p.at()).unwrap_or(u32::MAX);
                    if series_refs.binary_search(&r).is_err() {
                        return Err(Corruption::new(
                            Section::Postings,
                            off,
                            format!("references series {} which does not exist", p.at()),
                        ));
                    }
                }
                list_offsets.push((off, p.len()));
                Ok(())
            },
        )?;

        // Legacy label offset table; absent when it shares its offset with the next table.
        if toc.label_offset_table < toc.postings_offset_table {
            let sec = Section::LabelOffsetTable;
            let (mut d, end) = framed_be32(file, toc.label_offset_table, sec)?;
            if end > toc.postings_offset_table {
                return Err(Corruption::new(
                    sec,
                    toc.label_offset_table,
                    "label offset table overlaps the postings offset table",
                ));
            }
            let n = d.be32()?;
            let mut prev: Option<&str> = None;
            for _ in 0..n {
                let at = d.offset();
                let keys = d.uvarint()?;
                if keys != 1 {
                    return Err(Corruption::new(sec, at, format!("{keys} keys, expected 1")));
                }
                let name = d.uvarint_str()?;
                let off = d.uvarint()?;
                if prev.is_some_and(|p| p >= name) {
                    return Err(Corruption::new(sec, at, "names not strictly sorted"));
                }
                prev = Some(name);
                if label_index_offsets.binary_search(&off).is_err() {
                    return Err(Corruption::new(
                        sec,
                        at,
                        format!("offset {off} is not the start of a label index"),
                    ));
                }
            }
            if !d.is_empty() {
                return Err(d.corrupt("bytes after the last entry"));
            }
            zeros(file, end, toc.postings_offset_table, sec)?;
        }

        // Postings offset table: every entry names a list, and the lists agree with the series.
        let mut it = self.entries_from_table_start()?;
        let mut covered = 0usize;
        for e in &mut it {
            let (name, value, off, at) = e?;
            let Ok(i) = list_offsets.binary_search_by_key(&off, |(o, _)| *o) else {
                return Err(Corruption::new(
                    Section::PostingsOffsetTable,
                    at,
                    format!("offset {off} is not the start of a postings list"),
                ));
            };
            let len = list_offsets.get(i).map_or(0, |(_, l)| *l);
            let want = if name.is_empty() && value.is_empty() {
                series_refs.len()
            } else {
                let ids = (
                    self.symbols.reverse(file, name)?,
                    self.symbols.reverse(file, value)?,
                );
                match ids {
                    (Some(n), Some(v)) => pair_counts.get(&(n, v)).map_or(0, |&c| {
                        covered = covered.saturating_add(1);
                        c as usize
                    }),
                    _ => 0,
                }
            };
            if len != want {
                return Err(Corruption::new(
                    Section::PostingsOffsetTable,
                    at,
                    format!("postings of {name}={value:?} has {len} series, {want} carry the pair"),
                ));
            }
        }
        if covered != pair_counts.len() {
            return Err(Corruption::new(
                Section::PostingsOffsetTable,
                toc.postings_offset_table,
                format!(
                    "{} label pairs of series have no postings list",
                    pair_counts.len().saturating_sub(covered)
                ),
            ));
        }
        let toc_start = (file.len() as u64).saturating_sub(TOC_LEN as u64);
        zeros(
            file,
            self.table_section_end,
            toc_start,
            Section::PostingsOffsetTable,
        )
    }

    fn entries_from_table_start(&self) -> DecResult<TableEntries<'_>> {
        let (mut d, _) = framed_be32(
            self.file(),
            self.toc.postings_offset_table,
            Section::PostingsOffsetTable,
        )?;
        let left = d.be32()?;
        Ok(TableEntries { d, left })
    }
}

/// Moves a symbol-lookup failure to the series bytes that made the reference.
fn relocate(c: Corruption, at: u64) -> Corruption {
    Corruption::new(Section::Series, at, c.detail)
}

/// Walks `[from, to)` as a sequence of `len <4b> | body | CRC32` entries at 4-byte boundaries,
/// with zero padding between them, calling `f` with each verified body and its offset.
fn walk_lists<'a>(
    file: &'a [u8],
    from: u64,
    to: u64,
    section: Section,
    mut f: impl FnMut(Dec<'a>, u64) -> DecResult<()>,
) -> DecResult<()> {
    let mut pos = from;
    loop {
        let aligned = align_up(pos, LIST_ALIGN)
            .ok_or_else(|| Corruption::new(section, pos, "offset overflows"))?;
        zeros(file, pos, aligned.min(to), section)?;
        if aligned >= to {
            return Ok(());
        }
        let (d, end) = framed_be32(file, aligned, section)?;
        if end > to {
            return Err(Corruption::new(
                section,
                aligned,
                "entry runs past the end of its section",
            ));
        }
        f(d, aligned)?;
        pos = end;
    }
}

/// The postings offset table entries of one label name: `(value, postings offset)`.
#[derive(Debug, Clone)]
struct NameEntries<'a> {
    d: Dec<'a>,
    left: u32,
}

impl NameEntries<'_> {
    fn empty() -> Self {
        NameEntries {
            d: Dec::new(&[], 0, Section::PostingsOffsetTable),
            left: 0,
        }
    }
}

impl<'a> Iterator for NameEntries<'a> {
    type Item = DecResult<(&'a str, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left = self.left.saturating_sub(1);
        let r = table_entry(&mut self.d).map(|(_, v, off)| (v, off));
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

/// Every entry of the postings offset table: `(name, value, postings offset, entry offset)`.
#[derive(Debug)]
struct TableEntries<'a> {
    d: Dec<'a>,
    left: u32,
}

impl<'a> Iterator for TableEntries<'a> {
    type Item = DecResult<(&'a str, &'a str, u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left = self.left.saturating_sub(1);
        let at = self.d.offset();
        let r = table_entry(&mut self.d).map(|(n, v, off)| (n, v, off, at));
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }
}

/// Iterator over the symbols of an index, in sorted order. Returned by
/// [`IndexReader::symbols`].
#[derive(Debug, Clone)]
pub struct Symbols<'a> {
    inner: SymbolCursor<'a>,
    path: &'a Path,
}

impl<'a> Iterator for Symbols<'a> {
    type Item = Result<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .next()
            .map(|r| r.map_err(|c| c.into_error(self.path)))
    }
}

/// Iterator over the values of one label name, in sorted order. Returned by
/// [`IndexReader::label_values_iter`].
#[derive(Debug, Clone)]
pub struct LabelValues<'a> {
    inner: DecResult<NameEntries<'a>>,
    path: &'a Path,
}

impl<'a> Iterator for LabelValues<'a> {
    type Item = Result<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Ok(it) => it
                .next()
                .map(|r| r.map(|(v, _)| v).map_err(|c| c.into_error(self.path))),
            Err(c) => {
                let e = c.clone().into_error(self.path);
                self.inner = Ok(NameEntries::empty());
                Some(Err(e))
            }
        }
    }
}
