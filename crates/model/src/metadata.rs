//! Metric types and the metadata a target declares for a metric family.

use std::fmt;
use std::str::FromStr;

/// The type of a metric family, as the exposition formats declare it with `# TYPE`.
///
/// The Prometheus text format knows counter, gauge, histogram, summary and untyped (which is
/// [`MetricType::Unknown`]); OpenMetrics adds gaugehistogram, info and stateset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// A monotonically increasing total; OpenMetrics samples end in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket` with `le`), `_count` and `_sum`.
    Histogram,
    /// A histogram of a current state: buckets, `_gcount` and `_gsum` (OpenMetrics only).
    GaugeHistogram,
    /// Quantiles (`quantile` label), `_count` and `_sum`.
    Summary,
    /// Constant textual information as labels; samples end in `_info` (OpenMetrics only).
    Info,
    /// A set of boolean states, one label named after the family (OpenMetrics only).
    StateSet,
    /// No declared type: `untyped` in the Prometheus text format, `unknown` in OpenMetrics.
    #[default]
    Unknown,
}

impl MetricType {
    /// Every type, in declaration order.
    pub const ALL: [MetricType; 8] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
        MetricType::Unknown,
    ];

    /// The name OpenMetrics uses (`unknown` for [`MetricType::Unknown`]); this is also what the
    /// Prometheus HTTP API reports in `/api/v1/metadata`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The name the Prometheus text format 0.0.4 uses (`untyped` for [`MetricType::Unknown`]),
    /// or `None` for the types that format cannot express.
    pub fn as_text_str(self) -> Option<&'static str> {
        match self {
            MetricType::Counter => Some("counter"),
            MetricType::Gauge => Some("gauge"),
            MetricType::Histogram => Some("histogram"),
            MetricType::Summary => Some("summary"),
            MetricType::Unknown => Some("untyped"),
            MetricType::GaugeHistogram | MetricType::Info | MetricType::StateSet => None,
        }
    }

    /// The sample-name suffixes a family of this type may use besides the bare family name,
    /// in OpenMetrics. The bare name itself is allowed only where [`Self::allows_bare_name`].
    pub fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[],
        }
    }

    /// Whether a sample may carry the family name unchanged (gauge, stateset, unknown, and a
    /// summary's quantile samples).
    pub fn allows_bare_name(self) -> bool {
        matches!(
            self,
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown | MetricType::Summary
        )
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown metric type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric type {0:?}")]
pub struct UnknownMetricType(pub String);

impl FromStr for MetricType {
    type Err = UnknownMetricType;

    /// Accepts the OpenMetrics names and the text format's `untyped`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" | "untyped" => MetricType::Unknown,
            other => return Err(UnknownMetricType(other.to_owned())),
        })
    }
}

/// What a target declared about a metric family: its type, help text and unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Metadata {
    /// The declared type ([`MetricType::Unknown`] if none).
    pub metric_type: MetricType,
    /// The `# HELP` text, unescaped; empty if none.
    pub help: String,
    /// The `# UNIT` (OpenMetrics); empty if none.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in MetricType::ALL {
            assert_eq!(t.as_str().parse::<MetricType>().unwrap(), t);
            if let Some(s) = t.as_text_str() {
                assert_eq!(s.parse::<MetricType>().unwrap(), t);
            }
        }
        assert!("Counter".parse::<MetricType>().is_err());
    }
}
