//! Cardinality statistics: what Prometheus's `/api/v1/status/tsdb` reports about the head's
//! index.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Cardinality statistics of an index; see [`MemIndex::stats`](crate::MemIndex::stats).
///
/// The lists hold at most the requested number of entries, largest value first, ties broken
/// by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The number of series.
    pub num_series: u64,
    /// The number of distinct label names.
    pub num_label_names: u64,
    /// The number of distinct label pairs (`numLabelPairs`).
    pub num_label_pairs: u64,
    /// Metric names (values of `__name__`) by number of series (`seriesCountByMetricName`).
    pub series_count_by_metric_name: Vec<StatEntry>,
    /// Label names by number of distinct values (`labelValueCountByLabelName`).
    pub label_value_count_by_label_name: Vec<StatEntry>,
    /// Label names by the bytes their values would take stored once per series: the sum over
    /// the name's values of the value's length times its number of series
    /// (`memoryInBytesByLabelName`).
    pub memory_in_bytes_by_label_name: Vec<StatEntry>,
    /// Label pairs, named `name=value`, by number of series (`seriesCountByLabelValuePair`).
    pub series_count_by_label_value_pair: Vec<StatEntry>,
}

/// One line of a [`Stats`] list, shaped like Prometheus's JSON `{"name": …, "value": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatEntry {
    /// A metric name, a label name, or a `name=value` pair.
    pub name: String,
    /// The count or size.
    pub value: u64,
}

/// Keeps the `limit` largest counts seen, without sorting everything: a min-heap of the best so
/// far, whose root is evicted by any better entry.
#[derive(Debug)]
pub(crate) struct TopN<K: Ord> {
    limit: usize,
    /// Ordered by (count, reversed key): the root is the worst entry kept.
    heap: BinaryHeap<Reverse<(u64, Reverse<K>)>>,
}

impl<K: Ord> TopN<K> {
    pub(crate) fn new(limit: usize) -> Self {
        TopN {
            limit,
            heap: BinaryHeap::with_capacity(limit.saturating_add(1).min(1024)),
        }
    }

    pub(crate) fn push(&mut self, key: K, count: u64) {
        if self.limit == 0 {
            return;
        }
        let entry = Reverse((count, Reverse(key)));
        if self.heap.len() < self.limit {
            self.heap.push(entry);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            // `Reverse` inverts: the new entry is better when it compares less.
            if entry < *worst {
                *worst = entry;
            }
        }
    }

    /// The entries kept, best first.
    pub(crate) fn into_entries(self, name: impl Fn(K) -> String) -> Vec<StatEntry> {
        // Ascending order of `Reverse<…>` is best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse((value, Reverse(k)))| StatEntry {
                name: name(k),
                value,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_keeps_largest_and_breaks_ties_by_name() {
        let mut t = TopN::new(3);
        for (k, c) in [("d", 5), ("a", 1), ("c", 5), ("b", 7), ("e", 5), ("f", 0)] {
            t.push(k, c);
        }
        let got: Vec<(String, u64)> = t
            .into_entries(str::to_owned)
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect();
        assert_eq!(
            got,
            [("b".into(), 7), ("c".into(), 5), ("d".into(), 5)] as [(String, u64); 3]
        );
        let mut none = TopN::new(0);
        none.push("a", 1);
        assert!(none.into_entries(str::to_owned).is_empty());
    }
}
