//! Postings lists decoded lazily from the mapped file.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::postings::Postings;

/// A postings list read from an index file: big-endian 32-bit series references, decoded one at
/// a time from the map as the cursor moves. [`seek`](Postings::seek) binary-searches the part
/// not yet visited.
///
/// The list's checksum and strict ordering were verified when the reader handed it out, so the
/// cursor itself cannot fail.
#[derive(Debug, Clone)]
pub struct DiskPostings<'a> {
    /// The references, 4 bytes each.
    refs: &'a [u8],
    /// Index of the current element; `usize::MAX` before the first.
    idx: usize,
    cur: u64,
    done: bool,
}

impl<'a> DiskPostings<'a> {
    /// `refs` must hold whole 4-byte entries, strictly increasing (checked by the reader).
    pub(crate) fn new(refs: &'a [u8]) -> Self {
        DiskPostings {
            refs,
            idx: usize::MAX,
            cur: 0,
            done: false,
        }
    }

    /// A list with no entries.
    pub fn empty() -> Self {
        DiskPostings::new(&[])
    }

    /// The number of entries in the whole list (visited or not).
    pub fn len(&self) -> usize {
        self.refs.len() / 4
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.refs.len() < 4
    }

    /// Moves back before the first entry.
    pub fn reset(&mut self) {
        self.idx = usize::MAX;
        self.done = false;
    }

    fn get(&self, i: usize) -> Option<u64> {
        let start = i.checked_mul(4)?;
        let b = self.refs.get(start..start.checked_add(4)?)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Some(u64::from(u32::from_be_bytes(a)))
    }

    fn land(&mut self, i: usize) -> bool {
        match self.get(i) {
            Some(v) => {
                self.idx = i;
                self.cur = v;
                true
            }
            None => {
                self.done = true;
                false
            }
        }
    }
}

impl Postings for DiskPostings<'_> {
    fn next(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.land(self.idx.wrapping_add(1))
    }

    fn seek(&mut self, v: u64) -> bool {
        if self.done {
            return false;
        }
        let started = self.idx != usize::MAX;
        if started && self.cur >= v {
            return true;
        }
        // First index at or after the current whose value is >= v.
        let mut lo = if started {
            self.idx.saturating_add(1)
        } else {
            0
        };
        let mut hi = self.len();
        while lo < hi {
            let mid = lo.midpoint(hi);
            match self.get(mid) {
                Some(x) if x < v => lo = mid.saturating_add(1),
                _ => hi = mid,
            }
        }
        self.land(lo)
    }

    fn at(&self) -> u64 {
        self.cur
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn enc(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    fn drain(p: &mut impl Postings) -> Vec<u64> {
        let mut out = vec![];
        while p.next() {
            out.push(p.at());
        }
        out
    }

    #[test]
    fn cursor_contract() {
        let b = enc(&[2, 4, 6, 8]);
        let mut p = DiskPostings::new(&b);
        assert!(p.seek(3) && p.at() == 4);
        assert!(p.seek(1) && p.at() == 4, "seek never moves back");
        assert!(p.next() && p.at() == 6);
        assert!(p.seek(8) && p.at() == 8);
        assert!(!p.seek(9) && !p.next() && !p.seek(0));
        p.reset();
        assert_eq!(drain(&mut p), [2, 4, 6, 8]);
        assert!(!DiskPostings::empty().next());
    }
}
