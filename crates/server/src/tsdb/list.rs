//! `prom tsdb list`: one line per block, in promtool 2.42's `tsdb list` layout:
//!
//! ```text
//! BLOCK ULID                  MIN TIME       MAX TIME       DURATION      NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE
//! 01HF8KX5V1Y3QGZ8M4D0T9JQ6C  1700000000000  1700006390001  1h46m30.001s  1281         9            3            5108
//! ```
//!
//! Times are the block's meta.json range in milliseconds (the max exclusive), the duration is
//! Go's, the size counts chunk segments, index, tombstones and meta.json. With
//! `--human-readable` times are UTC dates and the size is in KiB/MiB/….

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use clap::Args;
use prom_tsdb::block::BlockMeta;

use super::{Error, Result, blocks, gofmt};

/// Arguments of `prom tsdb list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The data directory.
    #[arg(value_name = "DIR", default_value = "data/")]
    pub dir: PathBuf,
    /// Print times as UTC dates and sizes in KiB, MiB, … as promtool's `-r` does.
    #[arg(short = 'r', long)]
    pub human_readable: bool,
}

/// One line of the table: what meta.json says of a block, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    /// The block's ULID.
    pub ulid: String,
    /// First timestamp (inclusive), ms.
    pub min_time: i64,
    /// End of the range (exclusive), ms.
    pub max_time: i64,
    /// Samples.
    pub num_samples: u64,
    /// Chunks.
    pub num_chunks: u64,
    /// Series.
    pub num_series: u64,
    /// Bytes on disk.
    pub size: u64,
}

impl BlockRow {
    /// The row of a block with meta `meta` taking `size` bytes.
    pub fn new(meta: &BlockMeta, size: u64) -> Self {
        BlockRow {
            ulid: meta.ulid.to_string(),
            min_time: meta.min_time,
            max_time: meta.max_time,
            num_samples: meta.stats.num_samples,
            num_chunks: meta.stats.num_chunks,
            num_series: meta.stats.num_series,
            size,
        }
    }
}

/// The blocks of `dir` in min-time order.
pub fn list(dir: &Path) -> Result<Vec<BlockRow>> {
    Ok(blocks::open_blocks(dir)?
        .iter()
        .map(|b| BlockRow::new(&b.meta(), b.size_bytes()))
        .collect())
}

/// The table promtool prints: a header, then one line per row.
pub fn table(rows: &[BlockRow], human_readable: bool) -> String {
    gofmt::table(&cells(rows, human_readable, true))
}

/// The table `promtool tsdb create-blocks-from` prints as it creates blocks: it lays out each
/// row on its own as it goes (the first with the header), so the columns of different rows
/// need not line up.
pub fn creation_table(rows: &[BlockRow], human_readable: bool) -> String {
    rows.iter()
        .enumerate()
        .map(|(i, r)| gofmt::table(&cells(std::slice::from_ref(r), human_readable, i == 0)))
        .collect()
}

fn cells(rows: &[BlockRow], human_readable: bool, header: bool) -> Vec<Vec<String>> {
    let time = |t: i64| {
        if human_readable {
            gofmt::utc_time(t)
        } else {
            t.to_string()
        }
    };
    let mut cells = Vec::with_capacity(rows.len() + 1);
    if header {
        cells.push(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    for r in rows {
        let size = i64::try_from(r.size).unwrap_or(i64::MAX);
        cells.push(vec![
            r.ulid.clone(),
            time(r.min_time),
            time(r.max_time),
            gofmt::duration_ms(r.max_time.wrapping_sub(r.min_time)),
            r.num_samples.to_string(),
            r.num_chunks.to_string(),
            r.num_series.to_string(),
            if human_readable {
                gofmt::base2_bytes(size)
            } else {
                size.to_string()
            },
        ]);
    }
    cells
}

/// Runs `prom tsdb list`.
pub fn run(args: &ListArgs) -> Result<u8> {
    let rows = list(&args.dir)?;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(table(&rows, args.human_readable).as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Write)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_table_lays_out_each_row_alone_as_promtool_does() {
        // promtool 2.42's `tsdb create-blocks-from openmetrics` output, verbatim.
        let row = |ulid: &str, min, max, s, c, size| BlockRow {
            ulid: ulid.into(),
            min_time: min,
            max_time: max,
            num_samples: s,
            num_chunks: c,
            num_series: 4,
            size,
        };
        let rows = [
            row(
                "01M85ZX058BN888WDTN07WCZQP",
                1700000000000,
                1700006390501,
                1708,
                12,
                6155,
            ),
            row(
                "01M85ZX0693V446NQVMW6QY499",
                1700006405000,
                1700013590501,
                1920,
                16,
                6857,
            ),
            row(
                "01M85ZX0798ZN1P7BXER2KY6ZE",
                1700013605000,
                1700017985501,
                1172,
                12,
                4668,
            ),
        ];
        assert_eq!(
            creation_table(&rows, false),
            "BLOCK ULID                  MIN TIME       MAX TIME       DURATION      NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE\n\
             01M85ZX058BN888WDTN07WCZQP  1700000000000  1700006390501  1h46m30.501s  1708         12           4            6155\n\
             01M85ZX0693V446NQVMW6QY499  1700006405000  1700013590501  1h59m45.501s  1920         16           4            6857\n\
             01M85ZX0798ZN1P7BXER2KY6ZE  1700013605000  1700017985501  1h13m0.501s  1172         12           4            4668\n"
        );
    }

    #[test]
    fn table_matches_promtool_layout() {
        // Rows and expected text as promtool 2.42 printed them for the same metas.
        let row = |ulid: &str, min, max, s, c, n, size| BlockRow {
            ulid: ulid.into(),
            min_time: min,
            max_time: max,
            num_samples: s,
            num_chunks: c,
            num_series: n,
            size,
        };
        let rows = [
            row(
                "01M85Z8Y19Y0F0JH7CJZRVDBGJ",
                1700000000000,
                1700006390001,
                1281,
                9,
                3,
                5108,
            ),
            row(
                "01M85Z8Y2KR7RSNFF20G4NDG8Z",
                1700013605000,
                1700017985001,
                879,
                9,
                3,
                3799,
            ),
        ];
        assert_eq!(
            table(&rows, false),
            "BLOCK ULID                  MIN TIME       MAX TIME       DURATION      NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE\n\
             01M85Z8Y19Y0F0JH7CJZRVDBGJ  1700000000000  1700006390001  1h46m30.001s  1281         9            3            5108\n\
             01M85Z8Y2KR7RSNFF20G4NDG8Z  1700013605000  1700017985001  1h13m0.001s   879          9            3            3799\n"
        );
        assert_eq!(
            table(&rows[..1], true),
            "BLOCK ULID                  MIN TIME                       MAX TIME                       DURATION      NUM SAMPLES  NUM CHUNKS   NUM SERIES   SIZE\n\
             01M85Z8Y19Y0F0JH7CJZRVDBGJ  2023-11-14 22:13:20 +0000 UTC  2023-11-14 23:59:50 +0000 UTC  1h46m30.001s  1281         9            3            4KiB1012B\n"
        );
    }
}
