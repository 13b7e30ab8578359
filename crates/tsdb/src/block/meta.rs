//! `meta.json`: what a block covers and how it was made.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, META_FILE, Result};
use crate::ulid::Ulid;

/// The only `version` of meta.json there is.
pub const META_VERSION: u32 = 1;

/// The contents of a block's `meta.json`, with Prometheus's field names.
///
/// `max_time` is exclusive, as in Prometheus: the block holds samples with
/// `min_time <= t < max_time`. Unknown fields are ignored on read (newer Prometheus versions
/// add some), and fields at their zero value are left out on write, as Go's `omitempty` does,
/// so the file is byte for byte what Prometheus would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's identity, also its directory name.
    pub ulid: Ulid,
    /// First timestamp the block may hold, in milliseconds (inclusive).
    pub min_time: i64,
    /// End of the block's range, in milliseconds (exclusive).
    pub max_time: i64,
    /// Counts of what the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// Where the block came from.
    pub compaction: BlockCompaction,
    /// The meta.json format version, [`META_VERSION`].
    pub version: u32,
}

/// Counts of what a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BlockStats {
    /// Samples in all chunks.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Series in the index.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks in the segment files.
    #[serde(skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Deleted intervals in the tombstones file (an interval per series and range).
    #[serde(skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A parent block, as listed in [`BlockCompaction::parents`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    /// The parent's ULID.
    pub ulid: Ulid,
    /// The parent's min time (inclusive).
    pub min_time: i64,
    /// The parent's max time (exclusive).
    pub max_time: i64,
}

/// How a block was made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockCompaction {
    /// 1 for a block cut from the head; one more than its highest parent after compaction.
    pub level: u32,
    /// The level-1 blocks whose data went into this one, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Set on a block that compaction found empty, so it is deleted on the next reload.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks this one was compacted from directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Set when compacting this block failed, so the planner leaves it alone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Free-form hints Prometheus records (`from-out-of-order`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl BlockCompaction {
    /// The compaction section of a block cut from the head: level 1, its own source.
    pub fn new(ulid: Ulid) -> Self {
        BlockCompaction {
            level: 1,
            sources: vec![ulid],
            ..BlockCompaction::default()
        }
    }
}

impl BlockMeta {
    /// The block's description as a parent of a compacted block.
    pub fn desc(&self) -> BlockDesc {
        BlockDesc {
            ulid: self.ulid,
            min_time: self.min_time,
            max_time: self.max_time,
        }
    }

    /// Whether the block may hold samples in the closed range `[mint, maxt]`.
    pub fn overlaps_closed(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint < self.max_time
    }

    /// The JSON Prometheus writes: tab-indented, keys in its order, no trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serialising plain structs with string keys into a Vec cannot fail.
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out
    }

    /// Parses meta.json contents. `dir` only names the block in errors.
    pub fn from_json(dir: &Path, bytes: &[u8]) -> Result<BlockMeta> {
        let meta: BlockMeta = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(dir, META_FILE, None, format!("invalid JSON: {e}")))?;
        if meta.version != META_VERSION {
            return Err(Error::Unsupported {
                dir: dir.to_path_buf(),
                file: META_FILE.into(),
                reason: format!("meta.json version {}", meta.version),
            });
        }
        if meta.min_time > meta.max_time {
            return Err(Error::corrupt(
                dir,
                META_FILE,
                None,
                format!(
                    "minTime {} is after maxTime {}",
                    meta.min_time, meta.max_time
                ),
            ));
        }
        Ok(meta)
    }

    /// Reads `dir/meta.json`; returns the meta and the file's size.
    pub fn read(dir: &Path) -> Result<(BlockMeta, u64)> {
        let bytes = std::fs::read(dir.join(META_FILE)).map_err(|e| Error::io(dir, META_FILE, e))?;
        Ok((BlockMeta::from_json(dir, &bytes)?, bytes.len() as u64))
    }

    /// Writes `dir/meta.json` atomically (temporary file, fsync, rename, fsync of `dir`);
    /// returns the file's size.
    pub fn write(&self, dir: &Path) -> Result<u64> {
        let bytes = self.to_json();
        super::write_atomic(dir, META_FILE, &bytes)?;
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlockMeta {
        let a: Ulid = "01EM65SHSX4VARXBBHBF0M0FDS".parse().unwrap();
        let b: Ulid = "01EM6GAJSYWSQQRDY782EA5ZPN".parse().unwrap();
        let c: Ulid = "01EM6Q6A1YPX4G9TEB20J22B2R".parse().unwrap();
        BlockMeta {
            ulid: c,
            min_time: 1_602_237_600_000,
            max_time: 1_602_244_800_000,
            stats: BlockStats {
                num_samples: 553_673_232,
                num_series: 1_346_066,
                num_chunks: 4_440_437,
                num_tombstones: 0,
            },
            compaction: BlockCompaction {
                level: 2,
                sources: vec![a, b],
                parents: vec![
                    BlockDesc {
                        ulid: a,
                        min_time: 1_602_237_600_000,
                        max_time: 1_602_241_200_000,
                    },
                    BlockDesc {
                        ulid: b,
                        min_time: 1_602_241_200_000,
                        max_time: 1_602_244_800_000,
                    },
                ],
                ..BlockCompaction::default()
            },
            version: 1,
        }
    }

    #[test]
    fn writes_what_prometheus_writes() {
        let want = "{
\t\"ulid\": \"01EM6Q6A1YPX4G9TEB20J22B2R\",
\t\"minTime\": 1602237600000,
\t\"maxTime\": 1602244800000,
\t\"stats\": {
\t\t\"numSamples\": 553673232,
\t\t\"numSeries\": 1346066,
\t\t\"numChunks\": 4440437
\t},
\t\"compaction\": {
\t\t\"level\": 2,
\t\t\"sources\": [
\t\t\t\"01EM65SHSX4VARXBBHBF0M0FDS\",
\t\t\t\"01EM6GAJSYWSQQRDY782EA5ZPN\"
\t\t],
\t\t\"parents\": [
\t\t\t{
\t\t\t\t\"ulid\": \"01EM65SHSX4VARXBBHBF0M0FDS\",
\t\t\t\t\"minTime\": 1602237600000,
\t\t\t\t\"maxTime\": 1602241200000
\t\t\t},
\t\t\t{
\t\t\t\t\"ulid\": \"01EM6GAJSYWSQQRDY782EA5ZPN\",
\t\t\t\t\"minTime\": 1602241200000,
\t\t\t\t\"maxTime\": 1602244800000
\t\t\t}
\t\t]
\t},
\t\"version\": 1
}";
        let m = sample();
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), want);
        assert_eq!(
            BlockMeta::from_json(Path::new("b"), want.as_bytes()).unwrap(),
            m
        );
    }

    #[test]
    fn empty_stats_and_level_one() {
        let u = Ulid::from_parts(1, 2);
        let m = BlockMeta {
            ulid: u,
            min_time: 0,
            max_time: 7_200_000,
            stats: BlockStats::default(),
            compaction: BlockCompaction::new(u),
            version: 1,
        };
        let json = String::from_utf8(m.to_json()).unwrap();
        assert!(json.contains("\"stats\": {},"), "{json}");
        assert!(!json.contains("parents") && !json.contains("deletable"));
        assert_eq!(
            BlockMeta::from_json(Path::new("b"), json.as_bytes()).unwrap(),
            m
        );
    }

    #[test]
    fn tolerant_of_unknown_fields_and_missing_stats() {
        let json = r#"{"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":5,"maxTime":10,
            "stats":{"numSamples":3,"numFloatSamples":3,"numHistogramSamples":0},
            "compaction":{"level":1,"sources":["01EM6Q6A1YPX4G9TEB20J22B2R"],
            "hints":["from-out-of-order"]},"version":1,"extra":{"x":[1,2]}}"#;
        let m = BlockMeta::from_json(Path::new("b"), json.as_bytes()).unwrap();
        assert_eq!(m.stats.num_samples, 3);
        assert_eq!(m.compaction.hints, ["from-out-of-order"]);
        let json = r#"{"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":5,"maxTime":10,
            "compaction":{"level":1},"version":1}"#;
        let m = BlockMeta::from_json(Path::new("b"), json.as_bytes()).unwrap();
        assert_eq!(m.stats, BlockStats::default());
        assert!(m.compaction.sources.is_empty());
    }

    #[test]
    fn rejects_bad_files_naming_the_file() {
        let dir = Path::new("/data/01EM6Q6A1YPX4G9TEB20J22B2R");
        for bad in [
            "",
            "{",
            r#"{"ulid":"nope","minTime":0,"maxTime":1,"compaction":{"level":1},"version":1}"#,
            r#"{"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":0,"maxTime":1,"version":1}"#,
            r#"{"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":9,"maxTime":1,"compaction":{"level":1},"version":1}"#,
        ] {
            let e = BlockMeta::from_json(dir, bad.as_bytes()).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("01EM6Q6A1YPX4G9TEB20J22B2R") && msg.contains("meta.json"),
                "{msg}"
            );
            assert_eq!(e.file(), Some("meta.json"));
        }
        let v2 = r#"{"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":0,"maxTime":1,"compaction":{"level":1},"version":2}"#;
        let e = BlockMeta::from_json(dir, v2.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
}
