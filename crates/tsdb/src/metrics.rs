//! The database's own metrics, rendered in the Prometheus text format under the names
//! Prometheus users know (`prometheus_tsdb_*`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the database updates as it works. Gauges (series, blocks, bytes) are computed
/// when rendered; see [`Db::metrics_text`](crate::Db::metrics_text).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Samples appended to the head.
    pub samples_appended: AtomicU64,
    /// Series created in the head.
    pub series_created: AtomicU64,
    /// Series removed from the head by truncation.
    pub series_removed: AtomicU64,
    /// Samples rejected as out of order.
    pub out_of_order_samples: AtomicU64,
    /// Samples rejected as out of bounds (before the head's minimum valid time).
    pub out_of_bounds_samples: AtomicU64,
    /// Samples rejected as a different value for an existing timestamp.
    pub duplicate_samples: AtomicU64,
    /// Out-of-order samples accepted within the window.
    pub ooo_samples_appended: AtomicU64,
    /// Commits that failed (the WAL write failed).
    pub failed_commits: AtomicU64,
    /// Times the WAL was found corrupt and repaired on open.
    pub wal_corruptions: AtomicU64,
    /// Head truncations (after a block is cut).
    pub head_truncations: AtomicU64,
    /// Blocks written from the head.
    pub head_compactions: AtomicU64,
    /// Block compactions run.
    pub compactions: AtomicU64,
    /// Compactions that failed.
    pub compactions_failed: AtomicU64,
    /// Blocks deleted by retention.
    pub retention_deletions: AtomicU64,
    /// Blocks skipped on open because they were unreadable.
    pub blocks_skipped: AtomicU64,
    /// WAL checkpoints written.
    pub checkpoints: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The computed gauges rendered next to the counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Gauges {
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub blocks_loaded: u64,
    pub blocks_bytes: u64,
    pub wal_bytes: u64,
}

impl Metrics {
    pub(crate) fn render(&self, g: &Gauges, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, c: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", c.load(Ordering::Relaxed));
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            out,
            "prometheus_tsdb_head_series",
            "Total number of series in the head block.",
            g.head_series as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_head_chunks",
            "Total number of chunks in the head block.",
            g.head_chunks as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_head_min_time",
            "Minimum time bound of the head block.",
            g.head_min_time as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_head_max_time",
            "Maximum timestamp of the head block.",
            g.head_max_time as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_blocks_loaded",
            "Number of currently loaded data blocks.",
            g.blocks_loaded as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_storage_blocks_bytes",
            "The number of bytes that are currently used for local storage by all blocks.",
            g.blocks_bytes as f64,
        );
        gauge(
            out,
            "prometheus_tsdb_wal_storage_size_bytes",
            "Size of the write log directory.",
            g.wal_bytes as f64,
        );
        counter(
            out,
            "prometheus_tsdb_head_samples_appended_total",
            "Total number of appended samples.",
            &self.samples_appended,
        );
        counter(
            out,
            "prometheus_tsdb_head_series_created_total",
            "Total number of series created in the head.",
            &self.series_created,
        );
        counter(
            out,
            "prometheus_tsdb_head_series_removed_total",
            "Total number of series removed in the head.",
            &self.series_removed,
        );
        counter(
            out,
            "prometheus_tsdb_out_of_order_samples_total",
            "Total number of out of order samples ingestion failed attempts.",
            &self.out_of_order_samples,
        );
        counter(
            out,
            "prometheus_tsdb_out_of_bounds_samples_total",
            "Total number of out of bound samples ingestion failed attempts.",
            &self.out_of_bounds_samples,
        );
        counter(
            out,
            "prometheus_tsdb_duplicate_samples_total",
            "Total number of samples rejected for a different value at an existing timestamp.",
            &self.duplicate_samples,
        );
        counter(
            out,
            "prometheus_tsdb_head_out_of_order_samples_appended_total",
            "Total number of appended out of order samples.",
            &self.ooo_samples_appended,
        );
        counter(
            out,
            "prometheus_tsdb_head_failed_commits_total",
            "Total number of commits that failed to write the WAL.",
            &self.failed_commits,
        );
        counter(
            out,
            "prometheus_tsdb_wal_corruptions_total",
            "Total number of WAL corruptions found and repaired.",
            &self.wal_corruptions,
        );
        counter(
            out,
            "prometheus_tsdb_head_truncations_total",
            "Total number of head truncations attempted.",
            &self.head_truncations,
        );
        counter(
            out,
            "prometheus_tsdb_compactions_triggered_total",
            "Total number of blocks written from the head.",
            &self.head_compactions,
        );
        counter(
            out,
            "prometheus_tsdb_compactions_total",
            "Total number of compactions that were executed for the partition.",
            &self.compactions,
        );
        counter(
            out,
            "prometheus_tsdb_compactions_failed_total",
            "Total number of compactions that failed for the partition.",
            &self.compactions_failed,
        );
        counter(
            out,
            "prometheus_tsdb_time_retentions_total",
            "The number of times that blocks were deleted because the retention limit was exceeded.",
            &self.retention_deletions,
        );
        counter(
            out,
            "prometheus_tsdb_blocks_skipped_total",
            "Number of unreadable blocks skipped when opening.",
            &self.blocks_skipped,
        );
        counter(
            out,
            "prometheus_tsdb_checkpoint_creations_total",
            "Total number of checkpoint creations attempted.",
            &self.checkpoints,
        );
    }
}
