//! `prom tsdb analyze`: the cardinality report of one block, laid out and computed as
//! promtool 2.42's `tsdb analyze` does, so the numbers can be checked against it:
//!
//! ```text
//! Block ID: 01M85Z8Y2KR7RSNFF20G4NDG8Z
//! Duration: 1h13m0.001s
//! Series: 3
//! Label names: 4
//! Postings (unique label pairs): 6
//! Postings entries (total label pairs): 8
//!
//! Label pairs most involved in churning:
//! 0 code=200
//! …
//! ```
//!
//! "Churning" weighs each label pair (and name) by how much of the block's time range its
//! series do not cover, in units of the whole range: a pair whose series all span the block
//! scores 0, one carried by ten series that each cover a tenth of it scores 9. Each list is
//! sorted by its number, largest first; promtool breaks ties in map order (so at random), we
//! by name.

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use clap::Args;
use prom_index::{IndexReader, Postings as _};
use prom_model::METRIC_NAME;

use super::{Error, Result, blocks, gofmt};

/// Arguments of `prom tsdb analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The data directory.
    #[arg(value_name = "DIR", default_value = "data/")]
    pub dir: PathBuf,
    /// The block to analyze (its ULID); the newest (latest min time) when absent.
    #[arg(value_name = "BLOCK_ID")]
    pub block: Option<String>,
    /// How many entries to show in each list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// One ranked list of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    /// The heading, without the colon.
    pub title: &'static str,
    /// `(number, what)`, largest number first, ties by `what`.
    pub entries: Vec<(u64, String)>,
}

/// The report on one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The block's ULID.
    pub block: String,
    /// The block's time range in milliseconds (max time minus min time).
    pub duration_ms: i64,
    /// Series, as meta.json counts them.
    pub series: u64,
    /// Distinct label names.
    pub label_names: usize,
    /// Distinct label pairs.
    pub postings: usize,
    /// Label pairs over all series.
    pub postings_entries: u64,
    /// The six rankings, in promtool's order: label pairs and label names most involved in
    /// churning, most common label pairs, label names with the highest cumulative value
    /// length, highest cardinality labels, highest cardinality metric names.
    pub rankings: Vec<Ranking>,
}

fn ranking(title: &'static str, mut entries: Vec<(u64, String)>) -> Ranking {
    entries.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ranking { title, entries }
}

/// Analyzes the index of a block with meta range `[min_time, max_time)` and `num_series`
/// series.
pub fn analyze_index(
    index: &IndexReader,
    block: &str,
    min_time: i64,
    max_time: i64,
    num_series: u64,
) -> prom_index::Result<Analysis> {
    // Go computes in uint64 and converts through float64; so do we, wrapping alike.
    let range = max_time.wrapping_sub(min_time) as u64;
    let mut pairs: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
    let mut names_uncovered: HashMap<&str, u64> = HashMap::new();
    let mut entries: u64 = 0;
    let mut labels = Vec::new();
    let mut chunks = Vec::new();
    let mut all = index.all_postings()?;
    while all.next() {
        index.series_into(all.at(), &mut labels, &mut chunks)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(first), Some(last)) => last.max_time.wrapping_sub(first.min_time) as u64,
            _ => 0,
        };
        let uncovered = range.wrapping_sub(covered);
        for &(name, value) in &labels {
            let e = pairs.entry((name, value)).or_default();
            e.0 = e.0.wrapping_add(uncovered);
            e.1 += 1;
            let n = names_uncovered.entry(name).or_default();
            *n = n.wrapping_add(uncovered);
            entries += 1;
        }
    }
    let share = |m: u64| (m as f64 / range as f64) as u64;
    let pair_key = |(n, v): (&str, &str)| format!("{n}={v}");

    let names = index.label_names();
    let mut value_lengths = Vec::with_capacity(names.len());
    let mut cardinalities = Vec::with_capacity(names.len());
    for &name in &names {
        let values = index.label_values(name)?;
        let total: usize = values.iter().map(|v| v.len()).sum();
        value_lengths.push((total as u64, name.to_owned()));
        cardinalities.push((values.len() as u64, name.to_owned()));
    }
    let mut metrics = Vec::new();
    for (value, postings) in index.label_value_postings(METRIC_NAME)? {
        metrics.push((postings.len() as u64, value.to_owned()));
    }

    Ok(Analysis {
        block: block.to_owned(),
        duration_ms: max_time.wrapping_sub(min_time),
        series: num_series,
        label_names: names.len(),
        postings: pairs.len(),
        postings_entries: entries,
        rankings: vec![
            ranking(
                "Label pairs most involved in churning",
                pairs
                    .iter()
                    .map(|(&k, &(u, _))| (share(u), pair_key(k)))
                    .collect(),
            ),
            ranking(
                "Label names most involved in churning",
                names_uncovered
                    .iter()
                    .map(|(&k, &u)| (share(u), k.to_owned()))
                    .collect(),
            ),
            ranking(
                "Most common label pairs",
                pairs.iter().map(|(&k, &(_, c))| (c, pair_key(k))).collect(),
            ),
            ranking(
                "Label names with highest cumulative label value length",
                value_lengths,
            ),
            ranking("Highest cardinality labels", cardinalities),
            ranking("Highest cardinality metric names", metrics),
        ],
    })
}

impl Analysis {
    /// The report as promtool prints it, each ranking cut to `limit` entries.
    pub fn render(&self, limit: usize) -> String {
        let mut out = format!(
            "Block ID: {}\nDuration: {}\nSeries: {}\nLabel names: {}\n\
             Postings (unique label pairs): {}\nPostings entries (total label pairs): {}\n",
            self.block,
            gofmt::duration_ms(self.duration_ms),
            self.series,
            self.label_names,
            self.postings,
            self.postings_entries
        );
        for r in &self.rankings {
            out.push_str(&format!("\n{}:\n", r.title));
            for (n, what) in r.entries.iter().take(limit) {
                out.push_str(&format!("{n} {what}\n"));
            }
        }
        out
    }
}

/// Analyzes block `block` of `dir`, or its newest block (the one with the latest min time).
pub fn analyze(dir: &Path, block: Option<&str>) -> Result<Analysis> {
    let blocks = blocks::open_blocks(dir)?;
    let chosen = match block {
        Some(id) => blocks.iter().find(|b| b.ulid().to_string() == id),
        None => blocks.last(),
    };
    let Some(b) = chosen else {
        return Err(match block {
            Some(id) => Error::BlockNotFound {
                dir: dir.to_owned(),
                id: id.to_owned(),
            },
            None => Error::NoBlocks {
                dir: dir.to_owned(),
            },
        });
    };
    let meta = b.meta();
    analyze_index(
        b.index(),
        &meta.ulid.to_string(),
        meta.min_time,
        meta.max_time,
        meta.stats.num_series,
    )
    .map_err(|source| Error::Index {
        path: b.dir().to_owned(),
        source,
    })
}

/// Runs `prom tsdb analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<u8> {
    let a = analyze(&args.dir, args.block.as_deref())?;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(a.render(args.limit).as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Write)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_index::{ChunkMeta, IndexWriter};
    use prom_model::Labels;

    #[test]
    fn numbers_and_layout_match_promtool() {
        // The series of promtool's own example block (3 series over the whole block, so no
        // churn) plus a fourth with a single sample at the start.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let series = [
            Labels::from_pairs(&[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("path", "/a"),
            ]),
            Labels::from_pairs(&[
                ("__name__", "http_requests_total"),
                ("code", "500"),
                ("path", "/a"),
            ]),
            Labels::from_pairs(&[("__name__", "temp"), ("room", "kitchen")]),
            Labels::from_pairs(&[("__name__", "temp"), ("room", "attic")]),
        ];
        let mut sorted: Vec<&Labels> = series.iter().collect();
        sorted.sort();
        let mut symbols: Vec<&str> = series
            .iter()
            .flat_map(|l| l.iter().flat_map(|l| [l.name, l.value]))
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        let mut w = IndexWriter::create(&path).unwrap();
        for s in symbols {
            w.add_symbol(s).unwrap();
        }
        for l in sorted {
            let max = if l.get("room") == Some("attic") {
                0
            } else {
                10_000
            };
            w.add_series(
                l,
                &[ChunkMeta {
                    min_time: 0,
                    max_time: max,
                    chunk_ref: 8,
                }],
            )
            .unwrap();
        }
        w.finish().unwrap();
        let ir = IndexReader::open(&path).unwrap();
        let a = analyze_index(&ir, "01TEST", 0, 10_001, 4).unwrap();
        assert_eq!(
            a.render(3),
            "Block ID: 01TEST\nDuration: 10.001s\nSeries: 4\nLabel names: 4\n\
             Postings (unique label pairs): 7\nPostings entries (total label pairs): 10\n\
             \nLabel pairs most involved in churning:\n1 __name__=temp\n1 room=attic\n0 __name__=http_requests_total\n\
             \nLabel names most involved in churning:\n1 __name__\n1 room\n0 code\n\
             \nMost common label pairs:\n2 __name__=http_requests_total\n2 __name__=temp\n2 path=/a\n\
             \nLabel names with highest cumulative label value length:\n23 __name__\n12 room\n6 code\n\
             \nHighest cardinality labels:\n2 __name__\n2 code\n2 room\n\
             \nHighest cardinality metric names:\n2 http_requests_total\n2 temp\n"
        );
        // The attic series leaves all 10001 ms uncovered, the others 1 ms each.
        assert_eq!(a.rankings[0].entries[0], (1, "__name__=temp".to_owned()));
        let a = analyze_index(&ir, "01TEST", 0, 2_501, 4).unwrap();
        // Each full series now "covers" more than the block: Go's uint64 wraps, and so do we.
        assert!(a.rankings[0].entries[0].0 > 1 << 40);
    }
}
