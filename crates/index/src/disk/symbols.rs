//! The symbol table: a sorted list of strings referenced by position. Only every
//! [`SAMPLE`]th entry's offset is kept in memory; a lookup jumps there and walks the rest.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use super::Section;
use super::decode::{Corruption, Dec, DecResult, framed_be32};

/// One in this many symbols has its offset kept in memory.
pub(crate) const SAMPLE: usize = 32;

/// The parsed shape of a symbol table; the strings stay in the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolTable {
    count: u32,
    /// File offset of symbol `i * SAMPLE`.
    samples: Vec<u64>,
    /// File offset just past the last symbol (where the checksum starts).
    end: u64,
    /// File offset just past the checksum.
    section_end: u64,
}

impl SymbolTable {
    /// Verifies the table at `off` (checksum, UTF-8, strict order) and samples its offsets.
    pub(crate) fn parse(file: &[u8], off: u64) -> DecResult<Self> {
        let (mut d, section_end) = framed_be32(file, off, Section::Symbols)?;
        let count = d.be32()?;
        let mut samples = Vec::with_capacity((count as usize / SAMPLE).saturating_add(1));
        let mut prev: Option<&str> = None;
        for i in 0..count {
            if (i as usize).is_multiple_of(SAMPLE) {
                samples.push(d.offset());
            }
            let at = d.offset();
            let s = d.uvarint_str()?;
            if let Some(p) = prev
                && p >= s
            {
                return Err(Corruption::new(
                    Section::Symbols,
                    at,
                    format!("symbol {i} is not greater than its predecessor"),
                ));
            }
            prev = Some(s);
        }
        if !d.is_empty() {
            return Err(d.corrupt(format!("{} bytes after the last symbol", d.remaining())));
        }
        Ok(SymbolTable {
            count,
            samples,
            end: d.offset(),
            section_end,
        })
    }

    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    /// File offset just past the section's checksum.
    pub(crate) fn section_end(&self) -> u64 {
        self.section_end
    }

    fn cursor_at<'a>(&self, file: &'a [u8], off: u64) -> DecResult<Dec<'a>> {
        let start = usize::try_from(off)
            .map_err(|_| Corruption::new(Section::Symbols, off, "offset too large"))?;
        let end = usize::try_from(self.end)
            .map_err(|_| Corruption::new(Section::Symbols, off, "offset too large"))?;
        let b = file
            .get(start..end)
            .ok_or_else(|| Corruption::new(Section::Symbols, off, "symbol table out of range"))?;
        Ok(Dec::new(b, off, Section::Symbols))
    }

    /// The symbol with reference `id`.
    pub(crate) fn lookup<'a>(&self, file: &'a [u8], id: u32) -> DecResult<&'a str> {
        if id >= self.count {
            return Err(Corruption::new(
                Section::Symbols,
                self.end,
                format!(
                    "symbol reference {id} out of range ({} symbols)",
                    self.count
                ),
            ));
        }
        let i = id as usize;
        let sample = *self
            .samples
            .get(i / SAMPLE)
            .ok_or_else(|| Corruption::new(Section::Symbols, self.end, "missing sample"))?;
        let mut d = self.cursor_at(file, sample)?;
        d.skip_uvarint_bytes(i % SAMPLE)?;
        d.uvarint_str()
    }

    /// The reference of symbol `s`, if the table has it.
    pub(crate) fn reverse(&self, file: &[u8], s: &str) -> DecResult<Option<u32>> {
        // The last sample whose symbol is <= s.
        let mut lo = 0usize;
        let mut hi = self.samples.len();
        while lo < hi {
            let mid = lo.midpoint(hi);
            let off = *self
                .samples
                .get(mid)
                .ok_or_else(|| Corruption::new(Section::Symbols, self.end, "missing sample"))?;
            if self.cursor_at(file, off)?.uvarint_str()? <= s {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        let Some(block) = lo.checked_sub(1) else {
            return Ok(None);
        };
        let off = *self
            .samples
            .get(block)
            .ok_or_else(|| Corruption::new(Section::Symbols, self.end, "missing sample"))?;
        let mut d = self.cursor_at(file, off)?;
        let first = block.saturating_mul(SAMPLE);
        let last = first.saturating_add(SAMPLE).min(self.count as usize);
        for i in first..last {
            let cand = d.uvarint_str()?;
            match cand.cmp(s) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(u32::try_from(i).ok()),
                std::cmp::Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    /// A cursor over all symbols in order, starting at the first.
    pub(crate) fn iter<'a>(&self, file: &'a [u8]) -> SymbolCursor<'a> {
        let d = match self.samples.first() {
            Some(&off) => self.cursor_at(file, off),
            None => Ok(Dec::new(&[], self.end, Section::Symbols)),
        };
        SymbolCursor {
            d,
            left: self.count,
        }
    }
}

/// Walks the symbols in order.
#[derive(Debug, Clone)]
pub(crate) struct SymbolCursor<'a> {
    d: DecResult<Dec<'a>>,
    left: u32,
}

impl<'a> Iterator for SymbolCursor<'a> {
    type Item = DecResult<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left = self.left.saturating_sub(1);
        match &mut self.d {
            Ok(d) => {
                let r = d.uvarint_str();
                if r.is_err() {
                    self.left = 0;
                }
                Some(r)
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e.clone()))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}
