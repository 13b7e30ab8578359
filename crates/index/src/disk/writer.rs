//! Writing an index file in one pass: symbols, series, then everything derived from them.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use prom_model::Labels;

use super::decode::{Corruption, framed_uvarint, series_body};
use super::symbols::SymbolTable;
use super::{ChunkMeta, HEADER_LEN, LIST_ALIGN, MAGIC, SERIES_ALIGN, Section, Toc, VERSION};
use crate::error::{Error, Result};

/// How the [`IndexWriter`] was misused, or which limit of the format an index would exceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Symbols must be added in strictly increasing order.
    #[error("symbol {symbol:?} is not greater than the previous symbol {previous:?}")]
    SymbolOutOfOrder {
        /// The symbol added.
        symbol: String,
        /// The symbol before it.
        previous: String,
    },
    /// All symbols must be added before the first series.
    #[error("symbol {0:?} added after the first series")]
    SymbolAfterSeries(String),
    /// Series must be added in strictly increasing label order.
    #[error("series {series} is not greater than the previous series {previous}")]
    SeriesOutOfOrder {
        /// The series added.
        series: Labels,
        /// The series before it.
        previous: Labels,
    },
    /// A series has no labels.
    #[error("series with no labels")]
    EmptyLabels,
    /// A label name is empty; the empty name is reserved for the list of all series.
    #[error("series {0} has a label with an empty name")]
    EmptyLabelName(Labels),
    /// A label name or value of a series was not added as a symbol.
    #[error("{symbol:?} (in series {series}) is not in the symbol table")]
    UnknownSymbol {
        /// The missing string.
        symbol: String,
        /// The series using it.
        series: Labels,
    },
    /// A chunk's time range is inverted, or overlaps or touches the previous chunk's.
    #[error(
        "chunk {index} of series {series} ({min_time}..={max_time}) must start after the previous chunk ends and not end before it starts"
    )]
    ChunkOutOfOrder {
        /// The series.
        series: Labels,
        /// Position of the chunk in the series' list.
        index: usize,
        /// The chunk's min time.
        min_time: i64,
        /// The chunk's max time.
        max_time: i64,
    },
    /// The index would exceed a size the format can address.
    #[error("{0} exceeds what index format v2 can address")]
    TooLarge(&'static str),
    /// An earlier call failed with an I/O error; the file is in an unknown state.
    #[error("the writer failed earlier and cannot be used any more")]
    Poisoned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Symbols,
    Series,
    Failed,
}

/// Per label name: its symbol, how many series carry it, and the last value looked up (series
/// arrive sorted, so consecutive series often share values).
#[derive(Debug)]
struct NameInfo {
    id: u32,
    uses: u64,
    last_value: Box<str>,
    last_value_id: u32,
}

/// Streams an index file in Prometheus's format v2.
///
/// Call, in this order: [`create`](Self::create); [`add_symbol`](Self::add_symbol) for every
/// string used as a label name or value, in strictly increasing byte order;
/// [`add_series`](Self::add_series) for every series, in strictly increasing label order; and
/// [`finish`](Self::finish), which derives the label indices and the postings from the series
/// written, writes the offset tables and the table of contents, and syncs the file.
///
/// Memory stays proportional to the number of series and of distinct label pairs, never to
/// the strings: after the symbol table is written the writer maps it and looks strings up
/// there, and at [`finish`](Self::finish) it re-reads the series it wrote, one batch of label
/// names at a time, so a batch's postings never hold more references than there are series.
///
/// Any I/O error poisons the writer ([`WriteError::Poisoned`] after that). A file not finished
/// is not a valid index; the caller removes it.
#[derive(Debug)]
pub struct IndexWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    stage: Stage,
    toc: Toc,

    symbol_count: u32,
    last_symbol: Option<String>,
    /// Checksum and length of the symbol entries written so far.
    symbols_crc: u32,
    symbols_len: u64,

    /// The written part of the file, once the symbol table is complete.
    map: Option<Mmap>,
    symtab: SymbolTable,
    names: HashMap<Box<str>, NameInfo>,
    pairs: HashSet<(u32, u32)>,
    series_refs: Vec<u32>,
    last_series: Option<Labels>,
    buf: Vec<u8>,
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    // Zig-zag, as Go's binary.PutVarint.
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_uvarint_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

impl IndexWriter {
    /// Creates the file at `path` (replacing any file there) and writes the header.
    pub fn create(path: impl AsRef<Path>) -> Result<IndexWriter> {
        let path = path.as_ref().to_path_buf();
        // Unlink rather than truncate an existing file: a reader may still have it mapped.
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(Error::IndexIo { path, source: e });
            }
            _ => {}
        }
        // Read access too: the writer maps what it has written.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| Error::IndexIo {
                path: path.clone(),
                source,
            })?;
        let mut w = IndexWriter {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            stage: Stage::Symbols,
            toc: Toc::default(),
            symbol_count: 0,
            last_symbol: None,
            symbols_crc: 0,
            symbols_len: 0,
            map: None,
            symtab: SymbolTable::default(),
            names: HashMap::new(),
            pairs: HashSet::new(),
            series_refs: Vec::new(),
            last_series: None,
            buf: Vec::with_capacity(4096),
        };
        let mut head = MAGIC.to_be_bytes().to_vec();
        head.push(VERSION);
        w.write(&head)?;
        debug_assert_eq!(w.pos, HEADER_LEN as u64);
        w.toc.symbols = w.pos;
        // Length and count, filled in when the last symbol is known.
        w.write(&[0; 8])?;
        Ok(w)
    }

    /// The path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn misuse(&self, e: WriteError) -> Error {
        Error::IndexWrite {
            path: self.path.clone(),
            source: e,
        }
    }

    fn io_err(&mut self, source: io::Error) -> Error {
        self.stage = Stage::Failed;
        Error::IndexIo {
            path: self.path.clone(),
            source,
        }
    }

    fn check_usable(&self) -> Result<()> {
        if self.stage == Stage::Failed {
            return Err(self.misuse(WriteError::Poisoned));
        }
        Ok(())
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        if let Err(e) = self.out.write_all(b) {
            return Err(self.io_err(e));
        }
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> Result<()> {
        let rem = self.pos % align;
        if rem != 0 {
            let zeros = [0u8; 16];
            self.write(&zeros[..(align - rem) as usize])?;
        }
        Ok(())
    }

    /// Overwrites bytes already written at `at`, then returns to the end.
    fn patch(&mut self, at: u64, b: &[u8]) -> Result<()> {
        let r = (|| {
            self.out.flush()?;
            let f = self.out.get_mut();
            f.seek(SeekFrom::Start(at))?;
            f.write_all(b)?;
            f.seek(SeekFrom::End(0))?;
            Ok(())
        })();
        r.map_err(|e| self.io_err(e))
    }

    /// Maps everything written so far.
    fn remap(&mut self) -> Result<()> {
        self.map = None;
        if let Err(e) = self.out.flush() {
            return Err(self.io_err(e));
        }
        match super::map_file(self.out.get_ref()) {
            Ok(m) => {
                self.map = Some(m);
                Ok(())
            }
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn own_corruption(&self, c: Corruption) -> Error {
        // Only reachable if the file changed under us.
        c.into_error(&self.path)
    }

    /// Adds the next symbol: a string used as a label name or value. Symbols must be added
    /// before any series, in strictly increasing byte order, each once.
    pub fn add_symbol(&mut self, symbol: &str) -> Result<()> {
        self.check_usable()?;
        if self.stage != Stage::Symbols {
            return Err(self.misuse(WriteError::SymbolAfterSeries(symbol.to_owned())));
        }
        if let Some(prev) = &self.last_symbol
            && prev.as_str() >= symbol
        {
            return Err(self.misuse(WriteError::SymbolOutOfOrder {
                symbol: symbol.to_owned(),
                previous: prev.clone(),
            }));
        }
        let Some(count) = self.symbol_count.checked_add(1) else {
            return Err(self.misuse(WriteError::TooLarge("symbol count")));
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        put_uvarint_str(&mut buf, symbol);
        let r = self.write(&buf);
        self.symbols_crc = crc32c::crc32c_append(self.symbols_crc, &buf);
        self.symbols_len += buf.len() as u64;
        self.buf = buf;
        r?;
        self.symbol_count = count;
        match &mut self.last_symbol {
            Some(s) => {
                s.clear();
                s.push_str(symbol);
            }
            None => self.last_symbol = Some(symbol.to_owned()),
        }
        Ok(())
    }

    fn finish_symbols(&mut self) -> Result<()> {
        // The length counts the symbol count field and the entries.
        let len = u32::try_from(self.symbols_len + 4)
            .map_err(|_| self.misuse(WriteError::TooLarge("symbol table")))?;
        let count = self.symbol_count.to_be_bytes();
        let crc = crc32c::crc32c_combine(
            crc32c::crc32c(&count),
            self.symbols_crc,
            self.symbols_len as usize,
        );
        self.write(&crc.to_be_bytes())?;
        let mut head = len.to_be_bytes().to_vec();
        head.extend_from_slice(&count);
        self.patch(self.toc.symbols, &head)?;
        self.remap()?;
        let map = self.map.as_deref().unwrap_or(&[]);
        self.symtab =
            SymbolTable::parse(map, self.toc.symbols).map_err(|c| self.own_corruption(c))?;
        self.last_symbol = None;
        // Before the padding of the first series, where Prometheus puts it too: readers align
        // series by their references, and the same offset keeps our files byte-identical.
        self.toc.series = self.pos;
        self.stage = Stage::Series;
        Ok(())
    }

    fn lookup(&self, s: &str, series: &Labels) -> Result<u32> {
        let map = self.map.as_deref().unwrap_or(&[]);
        match self.symtab.reverse(map, s) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(self.misuse(WriteError::UnknownSymbol {
                symbol: s.to_owned(),
                series: series.clone(),
            })),
            Err(c) => Err(self.own_corruption(c)),
        }
    }

    /// Symbol references of `name` and `value`, through the per-name cache.
    fn label_ids(&mut self, name: &str, value: &str, series: &Labels) -> Result<(u32, u32)> {
        if let Some(info) = self.names.get(name) {
            let (id, same) = (info.id, &*info.last_value == value);
            let vid = if same {
                info.last_value_id
            } else {
                self.lookup(value, series)?
            };
            if let Some(info) = self.names.get_mut(name) {
                info.uses += 1;
                if !same {
                    info.last_value = value.into();
                    info.last_value_id = vid;
                }
            }
            return Ok((id, vid));
        }
        let id = self.lookup(name, series)?;
        let vid = self.lookup(value, series)?;
        self.names.insert(
            name.into(),
            NameInfo {
                id,
                uses: 1,
                last_value: value.into(),
                last_value_id: vid,
            },
        );
        Ok((id, vid))
    }

    /// Adds the next series with its chunks and returns its reference: its offset in the file
    /// divided by 16, the number postings lists hold and [`IndexReader::series`] takes.
    ///
    /// Series must come in strictly increasing label order, every label string must have been
    /// added as a symbol, and chunks must be ordered by time: each `min_time <= max_time`, and
    /// each chunk starting after the previous one ends (as Prometheus requires).
    ///
    /// [`IndexReader::series`]: super::IndexReader::series
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u64> {
        self.check_usable()?;
        if self.stage == Stage::Symbols {
            self.finish_symbols()?;
        }
        if labels.is_empty() {
            return Err(self.misuse(WriteError::EmptyLabels));
        }
        if let Some(prev) = &self.last_series
            && prev >= labels
        {
            return Err(self.misuse(WriteError::SeriesOutOfOrder {
                series: labels.clone(),
                previous: prev.clone(),
            }));
        }
        if labels.iter().any(|l| l.name.is_empty()) {
            return Err(self.misuse(WriteError::EmptyLabelName(labels.clone())));
        }
        let mut prev_max = None;
        for (index, c) in chunks.iter().enumerate() {
            if c.max_time < c.min_time || prev_max.is_some_and(|m| c.min_time <= m) {
                return Err(self.misuse(WriteError::ChunkOutOfOrder {
                    series: labels.clone(),
                    index,
                    min_time: c.min_time,
                    max_time: c.max_time,
                }));
            }
            prev_max = Some(c.max_time);
        }

        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        let r = self.encode_series(labels, chunks, &mut body);
        let r = r.and_then(|()| self.write_series(&body));
        self.buf = body;
        let sref = r?;
        self.last_series = Some(labels.clone());
        Ok(sref)
    }

    fn encode_series(
        &mut self,
        labels: &Labels,
        chunks: &[ChunkMeta],
        b: &mut Vec<u8>,
    ) -> Result<()> {
        put_uvarint(b, labels.len() as u64);
        for l in labels {
            let (n, v) = self.label_ids(l.name, l.value, labels)?;
            self.pairs.insert((n, v));
            put_uvarint(b, u64::from(n));
            put_uvarint(b, u64::from(v));
        }
        put_uvarint(b, chunks.len() as u64);
        let mut prev: Option<&ChunkMeta> = None;
        for c in chunks {
            // Differences are taken in u64 with wrapping: exact for any ordered pair of i64s.
            let len = (c.max_time as u64).wrapping_sub(c.min_time as u64);
            match prev {
                None => {
                    put_varint(b, c.min_time);
                    put_uvarint(b, len);
                    put_uvarint(b, c.chunk_ref);
                }
                Some(p) => {
                    put_uvarint(b, (c.min_time as u64).wrapping_sub(p.max_time as u64));
                    put_uvarint(b, len);
                    put_varint(b, c.chunk_ref.wrapping_sub(p.chunk_ref) as i64);
                }
            }
            prev = Some(c);
        }
        Ok(())
    }

    fn write_series(&mut self, body: &[u8]) -> Result<u64> {
        self.pad(SERIES_ALIGN)?;
        let sref = u32::try_from(self.pos / SERIES_ALIGN)
            .map_err(|_| self.misuse(WriteError::TooLarge("series section (64 GiB)")))?;
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, body.len() as u64);
        self.write(&head)?;
        self.write(body)?;
        self.write(&crc32c::crc32c(body).to_be_bytes())?;
        self.series_refs.push(sref);
        Ok(u64::from(sref))
    }

    /// Writes a `len <4b> | body | CRC32` entry whose body is `body`.
    fn write_framed(&mut self, body: &[u8]) -> Result<()> {
        let len = u32::try_from(body.len())
            .map_err(|_| self.misuse(WriteError::TooLarge("section length")))?;
        self.write(&len.to_be_bytes())?;
        self.write(body)?;
        self.write(&crc32c::crc32c(body).to_be_bytes())
    }

    fn write_postings(&mut self, refs: &[u32]) -> Result<u64> {
        self.pad(LIST_ALIGN)?;
        let at = self.pos;
        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        body.extend_from_slice(&(refs.len() as u32).to_be_bytes());
        for r in refs {
            body.extend_from_slice(&r.to_be_bytes());
        }
        let r = self.write_framed(&body);
        self.buf = body;
        r.map(|()| at)
    }

    /// Streams a table whose entries come from `entries`: the length is patched in afterwards,
    /// so the table never has to be held in memory whole.
    fn write_table(
        &mut self,
        count: usize,
        mut entry: impl FnMut(&Self, usize, &mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let start = self.pos;
        let count = u32::try_from(count).map_err(|_| self.misuse(WriteError::TooLarge("table")))?;
        self.write(&[0; 4])?;
        let head = count.to_be_bytes();
        self.write(&head)?;
        let mut crc = crc32c::crc32c(&head);
        let mut buf = Vec::new();
        for i in 0..count as usize {
            buf.clear();
            entry(self, i, &mut buf)?;
            self.write(&buf)?;
            crc = crc32c::crc32c_append(crc, &buf);
        }
        let len = u32::try_from(self.pos - start - 4)
            .map_err(|_| self.misuse(WriteError::TooLarge("table")))?;
        self.write(&crc.to_be_bytes())?;
        self.patch(start, &len.to_be_bytes())
    }

    fn symbol(&self, id: u32) -> Result<&str> {
        let map = self.map.as_deref().unwrap_or(&[]);
        self.symtab
            .lookup(map, id)
            .map_err(|c| self.own_corruption(c))
    }

    /// Writes the label indices, the postings, both offset tables and the table of contents,
    /// then syncs the file to disk. Returns the table of contents.
    pub fn finish(mut self) -> Result<Toc> {
        self.check_usable()?;
        if self.stage == Stage::Symbols {
            self.finish_symbols()?;
        }
        self.toc.label_indices = self.pos;

        // Legacy label indices: Prometheus 2 writes one per name, so older readers find them.
        let mut pairs: Vec<(u32, u32)> = std::mem::take(&mut self.pairs).into_iter().collect();
        pairs.sort_unstable();
        let mut label_indices: Vec<(u32, u64)> = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            self.pad(LIST_ALIGN)?;
            label_indices.push((group[0].0, self.pos));
            let mut body = Vec::with_capacity(8 + 4 * group.len());
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(&(group.len() as u32).to_be_bytes());
            for (_, v) in group {
                body.extend_from_slice(&v.to_be_bytes());
            }
            self.write_framed(&body)?;
        }
        drop(pairs);

        self.pad(LIST_ALIGN)?;
        self.toc.postings = self.pos;
        let all = std::mem::take(&mut self.series_refs);
        let all_offset = self.write_postings(&all)?;
        let table = self.write_name_postings(&all)?;

        self.toc.label_offset_table = self.pos;
        self.write_table(label_indices.len(), |w, i, b| {
            let (name, off) = label_indices[i];
            put_uvarint(b, 1);
            put_uvarint_str(b, w.symbol(name)?);
            put_uvarint(b, off);
            Ok(())
        })?;

        self.toc.postings_offset_table = self.pos;
        self.write_table(table.len() + 1, |w, i, b| {
            put_uvarint(b, 2);
            match i.checked_sub(1).map(|i| table[i]) {
                None => {
                    put_uvarint_str(b, "");
                    put_uvarint_str(b, "");
                    put_uvarint(b, all_offset);
                }
                Some((n, v, off)) => {
                    put_uvarint_str(b, w.symbol(n)?);
                    put_uvarint_str(b, w.symbol(v)?);
                    put_uvarint(b, off);
                }
            }
            Ok(())
        })?;

        let t = self.toc;
        let mut toc = Vec::with_capacity(super::TOC_LEN);
        for v in [
            t.symbols,
            t.series,
            t.label_indices,
            t.label_offset_table,
            t.postings,
            t.postings_offset_table,
        ] {
            toc.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&toc);
        toc.extend_from_slice(&crc.to_be_bytes());
        self.write(&toc)?;
        self.map = None;
        let r = self
            .out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all());
        r.map_err(|e| self.io_err(e))?;
        Ok(t)
    }

    /// Writes the postings list of every label pair, label names in batches: each batch
    /// re-reads the series from the file and holds at most as many references as there are
    /// series. Returns `(name, value, offset)` of each list in sorted order.
    fn write_name_postings(&mut self, all: &[u32]) -> Result<Vec<(u32, u32, u64)>> {
        let mut names: Vec<(u32, u64)> = self.names.values().map(|i| (i.id, i.uses)).collect();
        names.sort_unstable();
        self.remap()?;
        let max = all.len() as u64;
        let mut table = Vec::new();
        let mut rest = &names[..];
        while !rest.is_empty() {
            let mut take = 0;
            let mut sum = 0u64;
            while let Some(&(_, uses)) = rest.get(take) {
                if take > 0 && sum + uses > max {
                    break;
                }
                sum += uses;
                take += 1;
            }
            let (batch, tail) = rest.split_at(take);
            rest = tail;
            let lists = self.collect_batch(batch, all)?;
            for (name, values) in lists {
                for (value, refs) in values {
                    let off = self.write_postings(&refs)?;
                    table.push((name, value, off));
                }
            }
        }
        Ok(table)
    }

    /// The postings of the label names in `batch` (sorted by symbol), from the series in the file.
    #[allow(clippy::type_complexity)]
    fn collect_batch(
        &self,
        batch: &[(u32, u64)],
        all: &[u32],
    ) -> Result<Vec<(u32, Vec<(u32, Vec<u32>)>)>> {
        let map = self.map.as_deref().unwrap_or(&[]);
        let mut by_name: Vec<HashMap<u32, Vec<u32>>> = vec![HashMap::new(); batch.len()];
        for &sref in all {
            let off = u64::from(sref) * SERIES_ALIGN;
            let (d, _) =
                framed_uvarint(map, off, Section::Series).map_err(|c| self.own_corruption(c))?;
            series_body(
                d,
                |n, v, _| {
                    if let Ok(i) = batch.binary_search_by_key(&n, |&(id, _)| id)
                        && let Some(m) = by_name.get_mut(i)
                    {
                        m.entry(v).or_default().push(sref);
                    }
                    Ok(())
                },
                None,
            )
            .map_err(|c| self.own_corruption(c))?;
        }
        Ok(batch
            .iter()
            .zip(by_name)
            .map(|(&(name, _), m)| {
                let mut values: Vec<(u32, Vec<u32>)> = m.into_iter().collect();
                values.sort_unstable_by_key(|(v, _)| *v);
                (name, values)
            })
            .collect())
    }
}
