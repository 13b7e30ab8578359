//! Finding and opening the blocks of a data directory, read-only, as promtool's
//! `OpenDBReadOnly(...).Blocks()` does for `tsdb list` and `tsdb analyze`, and reading them
//! as one querier.

use std::path::{Path, PathBuf};

use prom_tsdb::BlocksQuerier;
use prom_tsdb::block::{Block, CHUNKS_DIR, INDEX_FILE, META_FILE, TOMBSTONES_FILE};
use prom_tsdb::ulid::Ulid;

use super::{Error, Result};

/// The block directories in `dir`: subdirectories named by a ULID, sorted by name. Anything
/// else (`wal/`, `chunks_head/`, `prom-wal/`, a `<ulid>.tmp-for-creation` left by a crash)
/// is not a block and is skipped, as Prometheus skips it.
pub fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = |source| Error::Read {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let is_dir = entry.file_type().map_err(read)?.is_dir();
        let name = entry.file_name();
        let is_ulid = name.to_str().is_some_and(|n| n.parse::<Ulid>().is_ok());
        if is_dir && is_ulid {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Opens every block of `dir` (without checking every chunk's checksum; that happens when
/// a chunk is read), sorted by min time as Prometheus orders them. Fails on the first block
/// that cannot be opened, naming it.
pub fn open_blocks(dir: &Path) -> Result<Vec<Block>> {
    let mut blocks = block_dirs(dir)?
        .iter()
        .map(|d| Block::open_unverified(d).map_err(Error::Block))
        .collect::<Result<Vec<_>>>()?;
    blocks.sort_by_key(|b| (b.min_time(), b.ulid()));
    Ok(blocks)
}

/// The bytes a block takes on disk as Prometheus counts them (chunk segments, index,
/// tombstones, meta.json); 0 for what cannot be read.
pub fn block_size(dir: &Path) -> u64 {
    let len = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let chunks: u64 = std::fs::read_dir(dir.join(CHUNKS_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0);
    chunks + len(dir.join(INDEX_FILE)) + len(dir.join(TOMBSTONES_FILE)) + len(dir.join(META_FILE))
}

/// The blocks of a directory, readable as one [`Querier`].
#[derive(Debug)]
pub struct BlockSet {
    blocks: Vec<Block>,
}

impl BlockSet {
    /// Opens every block of `dir`; see [`open_blocks`].
    pub fn open(dir: &Path) -> Result<BlockSet> {
        Ok(BlockSet {
            blocks: open_blocks(dir)?,
        })
    }

    /// The blocks, in min-time order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// A querier over `[mint, maxt]` of every block: series in label order, each once, with
    /// the samples of all the blocks holding it merged in time order (a timestamp present
    /// in several overlapping blocks is read from the first).
    pub fn querier(&self, mint: i64, maxt: i64) -> BlocksQuerier<'_> {
        BlocksQuerier::new(&self.blocks, mint, maxt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_chunk::XorAppender;
    use prom_model::{Labels, Matcher, Querier};
    use prom_tsdb::block::{BlockCompaction, BlockWriter, ChunkData};

    /// Writes a block of `series`, each with its samples in one chunk.
    fn write_block(dir: &Path, series: &[(&Labels, &[(i64, f64)])]) {
        let ulid = Ulid::new();
        let min = series.iter().flat_map(|s| s.1).map(|s| s.0).min().unwrap();
        let max = series.iter().flat_map(|s| s.1).map(|s| s.0).max().unwrap();
        let mut w = BlockWriter::create(dir, ulid, min, max + 1).unwrap();
        let mut symbols: Vec<&str> = series
            .iter()
            .flat_map(|s| s.0.iter().flat_map(|l| [l.name, l.value]))
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        w.add_symbols(symbols).unwrap();
        for (labels, samples) in series {
            let mut app = XorAppender::new();
            for &(t, v) in *samples {
                app.append(t, v).unwrap();
            }
            let chunk = ChunkData {
                min_time: samples[0].0,
                max_time: samples[samples.len() - 1].0,
                bytes: app.bytes(),
            };
            w.add_series(labels, &[chunk]).unwrap();
        }
        w.finish(BlockCompaction::new(ulid)).unwrap();
    }

    fn read_all(set: &BlockSet, mint: i64, maxt: i64) -> Vec<(String, Vec<(i64, f64)>)> {
        let q = set.querier(mint, maxt);
        let mut ss = q.select(true, None, &[]);
        let mut out = Vec::new();
        while let Some(mut s) = ss.next() {
            let mut samples = Vec::new();
            while s.samples.next() {
                let x = s.samples.at();
                samples.push((x.t, x.v));
            }
            out.push((s.labels.to_string(), samples));
        }
        assert!(ss.err().is_none());
        out
    }

    #[test]
    fn blocks_merge_into_one_sorted_querier() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs(&[("__name__", "a")]);
        let b = Labels::from_pairs(&[("__name__", "b")]);
        let c = Labels::from_pairs(&[("__name__", "c")]);
        // Two blocks in a row, and a third overlapping both, with a repeated timestamp.
        write_block(
            dir.path(),
            &[(&a, &[(0, 1.0), (10, 2.0)]), (&c, &[(5, 9.0)])],
        );
        write_block(dir.path(), &[(&a, &[(20, 3.0)]), (&b, &[(25, 4.0)])]);
        write_block(dir.path(), &[(&a, &[(10, 2.0), (15, 2.5), (30, 5.0)])]);
        // Not blocks: skipped.
        std::fs::create_dir(dir.path().join("wal")).unwrap();
        std::fs::create_dir(dir.path().join(format!("{}.tmp-for-creation", Ulid::new()))).unwrap();

        let set = BlockSet::open(dir.path()).unwrap();
        assert_eq!(set.blocks().len(), 3);
        assert_eq!(
            read_all(&set, i64::MIN, i64::MAX),
            [
                (
                    "a".to_owned(),
                    vec![(0, 1.0), (10, 2.0), (15, 2.5), (20, 3.0), (30, 5.0)]
                ),
                ("b".to_owned(), vec![(25, 4.0)]),
                ("c".to_owned(), vec![(5, 9.0)]),
            ]
        );
        assert_eq!(
            read_all(&set, 12, 25),
            [
                ("a".to_owned(), vec![(15, 2.5), (20, 3.0)]),
                ("b".to_owned(), vec![(25, 4.0)]),
            ]
        );
        // Seeking in a merged series.
        let q = set.querier(i64::MIN, i64::MAX);
        let mut ss = q.select(true, None, &[Matcher::equal("__name__", "a")]);
        let mut s = ss.next().unwrap();
        assert!(s.samples.seek(11) && s.samples.at().t == 15);
        assert!(s.samples.seek(12) && s.samples.at().t == 15);
        assert!(s.samples.next() && s.samples.at().t == 20);
        assert!(!s.samples.seek(31));
        assert!(!s.samples.next());
        assert_eq!(q.label_values("__name__", &[]).unwrap(), ["a", "b", "c"]);
    }
}
