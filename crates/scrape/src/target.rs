//! Targets: from discovered target groups to labelled scrape targets, as Prometheus builds them.
//!
//! A discovered target starts with its group's labels and its own (`__address__`, meta labels),
//! gets the job's defaults (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//! `__scrape_timeout__`, `__param_<name>`), goes through `relabel_configs`, loses its
//! `__meta_*` labels and gets `instance` defaulted to its address.

use std::fmt;

use prom_model::{Labels, LabelsBuilder};

use crate::config::{Duration, ScrapeConfig, TargetGroup};
use crate::relabel;

/// `__address__`.
pub const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`.
pub const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of the labels that become URL parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery's meta labels, removed after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";

/// A target after relabeling.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Every label after relabeling, internal `__*` labels included.
    pub labels: Labels,
    /// The labels before relabeling (shown by the targets API and service-discovery checks).
    pub discovered: Labels,
    /// The job's `params`.
    pub params: Vec<(String, Vec<String>)>,
}

/// Why a discovered target could not become a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// Checks an address the way Prometheus does: no `/` (a URL is not an address).
pub fn check_address(addr: &str) -> Result<(), TargetError> {
    if addr.contains('/') {
        return Err(TargetError(format!("{addr:?} is not a valid hostname")));
    }
    Ok(())
}

/// Builds the label set of one discovered target: `Ok(None)` when relabeling drops it.
/// `target` holds the target's own labels (at least `__address__`), `group` its group's.
/// Also returns the labels before relabeling.
pub fn populate_labels(
    lb: &mut LabelsBuilder,
    cfg: &ScrapeConfig,
    target: &[(String, String)],
    group: &[(String, String)],
) -> Result<(Option<Labels>, Labels), TargetError> {
    *lb = LabelsBuilder::new();
    for (k, v) in target {
        lb.set(k, v);
    }
    for (k, v) in group {
        if !target.iter().any(|(t, _)| t == k) {
            lb.set(k, v);
        }
    }
    let interval = cfg.scrape_interval.to_string();
    let timeout = cfg.scrape_timeout.to_string();
    for (name, value) in [
        ("job", cfg.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, interval.as_str()),
        (SCRAPE_TIMEOUT_LABEL, timeout.as_str()),
        (METRICS_PATH_LABEL, cfg.metrics_path.as_str()),
        (SCHEME_LABEL, cfg.scheme.as_str()),
    ] {
        if lb.get(name).unwrap_or("").is_empty() {
            lb.set(name, value);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(first) = v.first()
            && lb.get(&name).unwrap_or("").is_empty()
        {
            lb.set(&name, first);
        }
    }
    let discovered = lb.build();
    if !relabel::process(lb, &cfg.relabel_configs) {
        return Ok((None, discovered));
    }
    let addr = lb.get(ADDRESS_LABEL).unwrap_or("").to_owned();
    if addr.is_empty() {
        return Err(TargetError("no address".into()));
    }
    check_address(&addr)?;
    let interval_s = lb.get(SCRAPE_INTERVAL_LABEL).unwrap_or("").to_owned();
    let interval: Duration = interval_s
        .parse()
        .map_err(|e| TargetError(format!("error parsing scrape interval: {e}")))?;
    if interval.millis() == 0 {
        return Err(TargetError("scrape interval cannot be 0".into()));
    }
    let timeout_s = lb.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("").to_owned();
    let timeout: Duration = timeout_s
        .parse()
        .map_err(|e| TargetError(format!("error parsing scrape timeout: {e}")))?;
    if timeout.millis() == 0 {
        return Err(TargetError("scrape timeout cannot be 0".into()));
    }
    if timeout > interval {
        return Err(TargetError(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_s:?} > {interval_s:?})"
        )));
    }
    lb.retain(|n, _| !n.starts_with(META_LABEL_PREFIX));
    if lb.get("instance").unwrap_or("").is_empty() {
        lb.set("instance", &addr);
    }
    Ok((Some(lb.build()), discovered))
}

/// What became of one discovered target, in discovery order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A target to scrape.
    Kept(Target),
    /// Dropped by relabeling; its labels before relabeling.
    Dropped(Labels),
    /// Could not be built (`instance N in group G: why`).
    Failed(TargetError),
}

/// Every target of a group with what became of it, in the group's order.
pub fn group_outcomes(group: &TargetGroup, cfg: &ScrapeConfig) -> Vec<Outcome> {
    let mut lb = LabelsBuilder::new();
    let mut out = Vec::with_capacity(group.targets.len());
    for (i, addr) in group.targets.iter().enumerate() {
        let own = [(ADDRESS_LABEL.to_owned(), addr.clone())];
        out.push(match populate_labels(&mut lb, cfg, &own, &group.labels) {
            Ok((Some(labels), discovered)) => Outcome::Kept(Target {
                labels,
                discovered,
                params: cfg.params.clone(),
            }),
            Ok((None, discovered)) => Outcome::Dropped(discovered),
            Err(e) => Outcome::Failed(TargetError(format!(
                "instance {i} in group {}: {e}",
                group.source
            ))),
        });
    }
    out
}

/// The targets of a group: kept targets, dropped targets (their discovered labels) and the
/// errors of targets that could not be built (`instance N in group G: why`).
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &ScrapeConfig,
) -> (Vec<Target>, Vec<Labels>, Vec<TargetError>) {
    let (mut kept, mut dropped, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for o in group_outcomes(group, cfg) {
        match o {
            Outcome::Kept(t) => kept.push(t),
            Outcome::Dropped(l) => dropped.push(l),
            Outcome::Failed(e) => errors.push(e),
        }
    }
    (kept, dropped, errors)
}

impl Target {
    /// The value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }

    /// The labels the scraped series get: every label not starting with `__`.
    pub fn series_labels(&self) -> Labels {
        self.labels
            .iter()
            .filter(|l| !l.name.starts_with("__"))
            .map(|l| (l.name, l.value))
            .collect()
    }

    /// The scrape URL: scheme, address, metrics path, and the job's `params` overridden by
    /// `__param_*` labels.
    pub fn url(&self) -> String {
        let mut params = self.params.clone();
        for l in self.labels.iter() {
            if let Some(k) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
                match params.iter_mut().find(|(n, _)| n == k) {
                    Some((_, v)) if !v.is_empty() => v[0] = l.value.to_owned(),
                    Some((_, v)) => v.push(l.value.to_owned()),
                    None => params.push((k.to_owned(), vec![l.value.to_owned()])),
                }
            }
        }
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut url = format!(
            "{}://{}{}",
            self.get(SCHEME_LABEL).unwrap_or("http"),
            self.get(ADDRESS_LABEL).unwrap_or(""),
            self.get(METRICS_PATH_LABEL).unwrap_or("/metrics"),
        );
        let mut sep = '?';
        for (k, values) in &params {
            for v in values {
                url.push(sep);
                sep = '&';
                url.push_str(&query_escape(k));
                url.push('=');
                url.push_str(&query_escape(v));
            }
        }
        url
    }
}

/// Escapes a query component as Go's `url.QueryEscape` does: unreserved characters stay, a
/// space becomes `+`, every other byte `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, LoadOptions};
    use std::path::Path;

    fn job(text: &str) -> ScrapeConfig {
        let c = Config::load_str(text, Path::new("."), LoadOptions::default(), &|_| None).unwrap();
        c.scrape_configs[0].clone()
    }

    #[test]
    fn targets_get_defaults_relabeling_and_instance() {
        let cfg = job(
            "scrape_configs:\n  - job_name: node\n    scrape_interval: 30s\n    params:\n      module: [if_mib]\n    relabel_configs:\n      - source_labels: [__meta_dc]\n        target_label: dc\n",
        );
        let group = TargetGroup {
            targets: vec!["a:9100".into(), "b:9100".into()],
            labels: vec![
                ("__meta_dc".into(), "eu".into()),
                ("team".into(), "x".into()),
            ],
            source: "0".into(),
        };
        let (kept, dropped, errors) = targets_from_group(&group, &cfg);
        assert!(dropped.is_empty() && errors.is_empty());
        assert_eq!(kept.len(), 2);
        let t = &kept[0];
        assert_eq!(
            t.series_labels().to_string(),
            r#"{dc="eu", instance="a:9100", job="node", team="x"}"#
        );
        assert_eq!(t.get(SCRAPE_INTERVAL_LABEL), Some("30s"));
        assert_eq!(t.get("__meta_dc"), None, "meta labels go after relabeling");
        assert_eq!(t.discovered.get("__meta_dc"), Some("eu"));
        assert_eq!(t.url(), "http://a:9100/metrics?module=if_mib");
    }

    #[test]
    fn relabeling_can_drop_fix_or_break_targets() {
        let cfg = job(
            "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'skip.*'\n        action: drop\n      - source_labels: [__address__]\n        target_label: __param_target\n      - target_label: __address__\n        replacement: exporter:9115\n",
        );
        let group = TargetGroup {
            targets: vec!["skip-me".into(), "http://site.example".into()],
            labels: vec![],
            source: "0".into(),
        };
        let (kept, dropped, errors) = targets_from_group(&group, &cfg);
        assert_eq!(dropped.len(), 1);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            kept[0].url(),
            "http://exporter:9115/metrics?target=http%3A%2F%2Fsite.example"
        );
        assert_eq!(kept[0].get("instance"), Some("exporter:9115"));

        let cfg = job(
            "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n",
        );
        let group = TargetGroup {
            targets: vec!["http://bad".into()],
            labels: vec![],
            source: "0".into(),
        };
        let (_, _, errors) = targets_from_group(&group, &cfg);
        assert_eq!(
            errors[0].to_string(),
            "instance 0 in group 0: \"http://bad\" is not a valid hostname"
        );
    }

    #[test]
    fn relabeled_intervals_are_checked() {
        let cfg = job(
            "scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - target_label: __scrape_timeout__\n        replacement: 2m\n",
        );
        let group = TargetGroup {
            targets: vec!["a:1".into()],
            labels: vec![],
            source: "g".into(),
        };
        let (_, _, errors) = targets_from_group(&group, &cfg);
        assert_eq!(
            errors[0].to_string(),
            "instance 0 in group g: scrape timeout cannot be greater than scrape interval (\"2m\" > \"1m\")"
        );
    }
}
