//! The OpenMetrics rules beyond the grammar, checked as the parser streams.
//!
//! Families must not repeat or interleave, and their possible sample names must not clash;
//! metadata comes before samples, once each; sample names carry their type's suffixes; each
//! metric's samples are contiguous with non-decreasing timestamps; values obey their type
//! (counters and bucket counts non-negative, counts integral, info 1, stateset 0 or 1);
//! histogram buckets ascend by `le`, are cumulative, end with `+Inf`, and agree with `_count`;
//! exemplars sit only on counter totals and buckets and their labels stay within 128
//! characters.
//!
//! The state holds hashes, not copies: seen family names and seen metrics are 64-bit hashes
//! (FNV-1a; a collision would need ~2^32 names), so validation allocates only as those sets
//! grow.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use prom_model::MetricType;

use crate::entry::Sample;
use crate::grammar::parse_om_number;

/// The three metadata lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metadata {
    Type,
    Help,
    Unit,
}

/// Where on a sample line a rule was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    Line,
    Value,
}

type Fail = (String, Where);

/// Hashes the values are already hashes of: pass them through.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// A final mix so that summing per-label hashes stays well distributed.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[derive(Debug)]
struct Family<'a> {
    name: Cow<'a, str>,
    metric_type: Option<MetricType>,
    help: bool,
    unit: Option<&'a str>,
    has_samples: bool,
}

impl Family<'_> {
    fn kind(&self) -> MetricType {
        self.metric_type.unwrap_or(MetricType::Unknown)
    }

    /// The suffix `sample` carries if it belongs to this family.
    fn suffix_of<'s>(&self, sample: &'s str) -> Option<&'s str> {
        let rest = sample.strip_prefix(self.name.as_ref())?;
        let kind = self.kind();
        if rest.is_empty() {
            return kind.allows_bare_name().then_some(rest);
        }
        kind.suffixes().contains(&rest).then_some(rest)
    }
}

/// One histogram (or gauge histogram) point being read.
#[derive(Debug, Default)]
struct Point {
    any: bool,
    buckets: u32,
    last_le: f64,
    last_bucket: f64,
    inf_bucket: Option<f64>,
    count: Option<f64>,
    sum: Option<f64>,
    negative_le: bool,
}

#[derive(Debug)]
struct Group {
    hash: u64,
    timestamp: Option<i64>,
}

/// Streaming state of the OpenMetrics checks.
#[derive(Debug, Default)]
pub(crate) struct OmState<'a> {
    /// Every sample name the finished families could produce.
    registered: HashSet64,
    family: Option<Family<'a>>,
    /// Metrics (label sets without `le`/`quantile`) seen in the current family.
    groups: HashSet64,
    group: Option<Group>,
    point: Point,
}

impl<'a> OmState<'a> {
    /// A `# TYPE`, `# HELP` or `# UNIT` line.
    pub(crate) fn metadata(
        &mut self,
        kind: Metadata,
        name: Cow<'a, str>,
        metric_type: Option<MetricType>,
        unit: &'a str,
    ) -> Result<(), String> {
        let same = self.family.as_ref().is_some_and(|f| f.name == name);
        if !same {
            self.finish()?;
            self.start(name)?;
        }
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        if f.has_samples {
            return Err(format!(
                "metadata for {} must come before its samples",
                f.name
            ));
        }
        let what = match kind {
            Metadata::Type => "TYPE",
            Metadata::Help => "HELP",
            Metadata::Unit => "UNIT",
        };
        let repeated = match kind {
            Metadata::Type => f
                .metric_type
                .replace(metric_type.unwrap_or_default())
                .is_some(),
            Metadata::Help => std::mem::replace(&mut f.help, true),
            Metadata::Unit => f.unit.replace(unit).is_some(),
        };
        if repeated {
            return Err(format!("more than one # {what} line for {}", f.name));
        }
        if kind == Metadata::Unit && !unit.is_empty() {
            let n = f.name.as_ref();
            let suffixed = n.len() > unit.len()
                && n.ends_with(unit)
                && n.as_bytes()[n.len() - unit.len() - 1] == b'_';
            if !suffixed {
                return Err(format!(
                    "the name of {n} must end with \"_{unit}\", its unit"
                ));
            }
        }
        Ok(())
    }

    fn start(&mut self, name: Cow<'a, str>) -> Result<(), String> {
        if self.registered.contains(&fnv(FNV_OFFSET, name.as_bytes())) {
            return Err(format!(
                "metric family {name} appears twice, or clashes with the samples of an earlier family"
            ));
        }
        self.family = Some(Family {
            name,
            metric_type: None,
            help: false,
            unit: None,
            has_samples: false,
        });
        self.groups.clear();
        self.group = None;
        self.point = Point::default();
        Ok(())
    }

    /// Ends the current family: checks its last point and unit, registers its names.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        self.finish_point()?;
        let Some(f) = self.family.take() else {
            return Ok(());
        };
        let kind = f.kind();
        if matches!(kind, MetricType::Info | MetricType::StateSet)
            && f.unit.is_some_and(|u| !u.is_empty())
        {
            return Err(format!("{kind} {} must not have a unit", f.name));
        }
        let base = fnv(FNV_OFFSET, f.name.as_bytes());
        for suffix in std::iter::once(&"").chain(kind.suffixes()) {
            if !self.registered.insert(fnv(base, suffix.as_bytes())) {
                return Err(format!(
                    "metric family {} clashes with an earlier family over the name {}{suffix}",
                    f.name, f.name
                ));
            }
        }
        Ok(())
    }

    fn finish_point(&mut self) -> Result<(), String> {
        let p = std::mem::take(&mut self.point);
        let Some(f) = self.family.as_ref() else {
            return Ok(());
        };
        let kind = f.kind();
        if !p.any || !matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram) {
            return Ok(());
        }
        let name = &f.name;
        let Some(inf) = p.inf_bucket else {
            return Err(format!("{kind} {name} has a point without a +Inf bucket"));
        };
        let (count, sum) = if kind == MetricType::Histogram {
            ("_count", "_sum")
        } else {
            ("_gcount", "_gsum")
        };
        if let Some(c) = p.count
            && c != inf
        {
            return Err(format!(
                "{name}{count} is {c} but the +Inf bucket is {inf}; they must be equal"
            ));
        }
        if p.count.is_some() != p.sum.is_some() {
            return Err(format!(
                "{name}{count} and {name}{sum} must both be present or both absent"
            ));
        }
        // The specification forbids a _sum beside negative buckets, but client_golang writes
        // one (negative, too) and Prometheus accepts it; so do we. A negative sum without a
        // negative bucket is still an error, for both kinds of histogram.
        if !p.negative_le && p.sum.is_some_and(|s| s < 0.0) {
            return Err(format!(
                "{name}{sum} is negative but no bucket is below zero"
            ));
        }
        Ok(())
    }

    /// A sample line.
    pub(crate) fn sample(&mut self, s: &Sample<'a>) -> Result<(), Fail> {
        let line = |m: String| (m, Where::Line);
        let belongs = self.family.as_ref().and_then(|f| f.suffix_of(&s.name));
        let suffix = match belongs {
            Some(suffix) => suffix,
            None => {
                if let Some(f) = self.family.as_ref().filter(|f| f.name == s.name) {
                    let kind = f.kind();
                    return Err(line(format!(
                        "a {kind} sample must be named {} followed by one of {:?}",
                        f.name,
                        kind.suffixes()
                    )));
                }
                self.finish().map_err(line)?;
                self.start(s.name.clone()).map_err(line)?;
                ""
            }
        };
        let Some(f) = self.family.as_mut() else {
            return Ok(());
        };
        f.has_samples = true;
        let kind = f.kind();
        let name = f.name.clone();

        // The metric this sample belongs to: its labels without the point's own label.
        let own = match (kind, suffix) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
            (MetricType::Summary, "") => Some("quantile"),
            _ => None,
        };
        let mut hash: u64 = 0;
        for l in s.labels.iter() {
            if Some(l.name.as_ref()) == own {
                continue;
            }
            let h = fnv(
                fnv(fnv(FNV_OFFSET, l.name.as_bytes()), &[0xff]),
                l.value.as_bytes(),
            );
            hash = hash.wrapping_add(mix(h));
        }
        let reserved = match kind {
            MetricType::Histogram | MetricType::GaugeHistogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        if let Some(r) = reserved.filter(|r| own != Some(r))
            && s.labels.get(r).is_some()
        {
            return Err(line(format!(
                "{}{suffix} must not have a {r:?} label",
                name
            )));
        }

        match &mut self.group {
            Some(g) if g.hash == hash => match (g.timestamp, s.timestamp) {
                (None, None) => {}
                (Some(a), Some(b)) if b == a => {}
                (Some(a), Some(b)) if b > a => {
                    g.timestamp = Some(b);
                    self.finish_point().map_err(line)?;
                }
                (Some(_), Some(_)) => {
                    return Err(line(format!(
                        "timestamps of a metric of {name} must not go backwards"
                    )));
                }
                _ => {
                    return Err(line(format!(
                        "samples of one metric of {name} must all have a timestamp or none"
                    )));
                }
            },
            _ => {
                self.finish_point().map_err(line)?;
                if !self.groups.insert(hash) {
                    return Err(line(format!(
                        "samples of {} are interleaved with another metric's; each metric's samples must be contiguous",
                        s.series
                    )));
                }
                self.group = Some(Group {
                    hash,
                    timestamp: s.timestamp,
                });
            }
        }

        let v = s.value;
        let value = |m: String| (m, Where::Value);
        // The name for the message is only built when the check fails: this runs on every
        // bucket and count line.
        let count_like = |what: &dyn Fn() -> String| -> Result<(), Fail> {
            if v.is_nan() || v < 0.0 || !v.is_finite() || v.fract() != 0.0 {
                return Err(value(format!(
                    "{} must be a non-negative integer, not {v}",
                    what()
                )));
            }
            Ok(())
        };
        let p = &mut self.point;
        match (kind, suffix) {
            (MetricType::Counter, "_total") if v.is_nan() || v < 0.0 => {
                return Err(value(format!(
                    "counter {name}_total must be non-negative and not NaN, not {v}"
                )));
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
                let le_text = s.labels.get("le");
                let Some(le_text) = le_text else {
                    return Err(line(format!("{name}_bucket needs an \"le\" label")));
                };
                let le = parse_om_number(le_text.as_bytes())
                    .filter(|le| !le.is_nan())
                    .ok_or_else(|| line(format!("invalid le {le_text:?} in {name}_bucket")))?;
                if le.is_infinite() && !matches!(le_text.as_ref(), "+Inf" | "-Inf") {
                    return Err(line(format!(
                        "infinite le must be written +Inf or -Inf, not {le_text:?}"
                    )));
                }
                count_like(&|| "a bucket count".to_owned())?;
                if p.buckets > 0 && le <= p.last_le {
                    return Err(line(format!(
                        "buckets of {name} must be in increasing le order; le {le_text:?} follows {}",
                        p.last_le
                    )));
                }
                if p.buckets > 0 && v < p.last_bucket {
                    return Err(value(format!(
                        "buckets of {name} are cumulative: {v} is below the previous bucket's {}",
                        p.last_bucket
                    )));
                }
                p.buckets += 1;
                p.last_le = le;
                p.last_bucket = v;
                p.negative_le |= le < 0.0;
                if le == f64::INFINITY {
                    p.inf_bucket = Some(v);
                }
                p.any = true;
            }
            (MetricType::Histogram, "_count") | (MetricType::GaugeHistogram, "_gcount") => {
                count_like(&|| format!("{name}{suffix}"))?;
                p.count = Some(v);
                p.any = true;
            }
            (MetricType::Histogram, "_sum") | (MetricType::GaugeHistogram, "_gsum") => {
                if v.is_nan() {
                    return Err(value(format!("{name}{suffix} must not be NaN")));
                }
                p.sum = Some(v);
                p.any = true;
            }
            (MetricType::Summary, "_count") => count_like(&|| format!("{name}_count"))?,
            // Summaries of values around zero have negative sums and quantiles in real
            // payloads (client_golang's own examples); Prometheus accepts them and so do we.
            // NaN stays an error: no real exposer writes it for a sum.
            (MetricType::Summary, "_sum") if v.is_nan() => {
                return Err(value(format!("{name}_sum must not be NaN")));
            }
            (MetricType::Summary, "") => {
                let q = s.labels.get("quantile").ok_or_else(|| {
                    line(format!(
                        "a summary's {name} sample needs a \"quantile\" label"
                    ))
                })?;
                if !parse_om_number(q.as_bytes()).is_some_and(|q| (0.0..=1.0).contains(&q)) {
                    return Err(line(format!("quantile {q:?} is not a number from 0 to 1")));
                }
            }
            (MetricType::Info, "_info") if v != 1.0 => {
                return Err(value(format!(
                    "info {name}_info must have the value 1, not {v}"
                )));
            }
            (MetricType::StateSet, "") => {
                if s.labels.get(&name).is_none() {
                    return Err(line(format!(
                        "stateset {name} samples need a label named {name:?}"
                    )));
                }
                if v != 0.0 && v != 1.0 {
                    return Err(value(format!("stateset values must be 0 or 1, not {v}")));
                }
            }
            _ => {}
        }

        if let Some(ex) = &s.exemplar {
            let allowed = matches!(
                (kind, suffix),
                (MetricType::Counter, "_total")
                    | (
                        MetricType::Histogram | MetricType::GaugeHistogram,
                        "_bucket"
                    )
            );
            if !allowed {
                return Err(line(format!(
                    "exemplars are allowed only on counter _total and histogram _bucket samples, not on {}",
                    s.name
                )));
            }
            let chars: usize = ex
                .labels
                .iter()
                .map(|l| l.name.chars().count() + l.value.chars().count())
                .sum();
            if chars > 128 {
                return Err(line(format!(
                    "exemplar labels have {chars} characters; at most 128 are allowed"
                )));
            }
        }
        Ok(())
    }
}
