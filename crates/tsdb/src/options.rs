//! Database options.

use std::time::Duration;

use crate::wal::SyncPolicy;

/// How a [`Db`](crate::Db) stores, keeps and compacts data. `Options::default()` matches
/// Prometheus's defaults: 2h blocks, 15 days' retention, no size limit, no out-of-order window.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Delete blocks whose data is older than this, measured from the newest data. `None`
    /// keeps everything (subject to [`retention_size`](Self::retention_size)).
    pub retention_time: Option<Duration>,
    /// Delete the oldest blocks while blocks plus WAL take more bytes than this.
    pub retention_size: Option<u64>,
    /// The time range of a block cut from the head (2h); the head is cut into a block once it
    /// spans 1.5 times this.
    pub block_range: Duration,
    /// The longest block compaction may produce; by default 10% of the retention time, at
    /// most 31 days.
    pub max_block_duration: Option<Duration>,
    /// The size at which a WAL segment is closed and a new one started.
    pub wal_segment_size: u64,
    /// When WAL writes reach stable storage.
    pub wal_sync: SyncPolicy,
    /// How far behind the newest sample of the head an out-of-order sample may be and still
    /// be accepted (zero rejects every out-of-order sample, as Prometheus does by default).
    pub out_of_order_window: Duration,
    /// Verify every chunk checksum of every block when the database opens (a corrupt block is
    /// then reported and skipped instead of failing a query later).
    pub verify_blocks_on_open: bool,
    /// Cut blocks, compact and apply retention on a background thread, woken when the head
    /// becomes cuttable and at least once a minute. When false, call
    /// [`Db::compact`](crate::Db::compact) yourself.
    pub background_compaction: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_time: Some(Duration::from_secs(15 * 24 * 3600)),
            retention_size: None,
            block_range: Duration::from_secs(2 * 3600),
            max_block_duration: None,
            wal_segment_size: 128 << 20,
            wal_sync: SyncPolicy::Always,
            out_of_order_window: Duration::ZERO,
            verify_blocks_on_open: true,
            background_compaction: true,
        }
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Options {
    /// The block range in milliseconds (at least 1).
    pub(crate) fn block_range_ms(&self) -> i64 {
        millis(self.block_range).max(1)
    }

    /// The compaction ranges: the block range times 3, 9, 27, … up to the maximum block
    /// duration.
    pub(crate) fn compaction_ranges(&self) -> Vec<i64> {
        let base = self.block_range_ms();
        let max = match self.max_block_duration {
            Some(d) => millis(d),
            None => {
                let month = 31 * 24 * 3600 * 1000;
                self.retention_time
                    .map_or(month, |r| (millis(r) / 10).min(month))
            }
        };
        let mut out = vec![base];
        let mut r = base;
        while let Some(next) = r.checked_mul(3) {
            if next > max {
                break;
            }
            out.push(next);
            r = next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_grow_by_three_up_to_a_tenth_of_retention() {
        let o = Options::default();
        let h = 3_600_000;
        // 15d retention: 10% is 36h, so 2h, 6h, 18h.
        assert_eq!(o.compaction_ranges(), [2 * h, 6 * h, 18 * h]);
        let o = Options {
            retention_time: None,
            ..Options::default()
        };
        assert_eq!(
            o.compaction_ranges(),
            [2 * h, 6 * h, 18 * h, 54 * h, 162 * h, 486 * h]
        );
    }
}
