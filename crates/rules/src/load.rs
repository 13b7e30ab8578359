//! From rule files to groups the [`Manager`](crate::manager::Manager) evaluates.
//!
//! ```
//! use prom_rules::file::parse;
//! use prom_rules::load::build_groups;
//!
//! let text = "groups:\n  - name: g\n    labels: {team: db}\n    rules:\n      - record: a:sum\n        expr: sum(a)\n";
//! let parsed = parse(text, "rules.yml").map_err(|e| e[0].to_string())?;
//! let groups = build_groups("rules.yml", &parsed, 60_000, &Default::default())
//!     .map_err(|e| e[0].to_string())?;
//! assert_eq!(groups[0].interval_ms(), 60_000);
//! assert_eq!(groups[0].rules()[0].name(), "a:sum");
//! # Ok::<(), String>(())
//! ```

use std::path::Path;

use prom_model::Label;

use crate::alerting::AlertingRule;
use crate::file::{self, LoadOptions, Pos, RuleError, RuleErrorKind, RuleGroups, RuleKind};
use crate::group::Group;
use crate::recording::RecordingRule;
use crate::rule::Rule;

/// Builds the groups of one parsed file. `file` is the name groups report (their identity
/// together with the group name); groups without an `interval` get `default_interval_ms`.
/// Group `labels` are added to every rule's labels, a rule's own labels winning.
pub fn build_groups(
    file: &str,
    parsed: &RuleGroups,
    default_interval_ms: i64,
    opts: &LoadOptions,
) -> file::Result<Vec<Group>> {
    let mut groups = Vec::with_capacity(parsed.groups.len());
    let mut errors = Vec::new();
    for g in &parsed.groups {
        let mut rules = Vec::with_capacity(g.rules.len());
        for (i, r) in g.rules.iter().enumerate() {
            // The file's validation parsed it already; this keeps the tree.
            let expr = match opts.promql.parse(&r.expr) {
                Ok(e) => e,
                Err(e) => {
                    let err = RuleError {
                        file: None,
                        kind: RuleErrorKind::Invalid,
                        pos: Some(Pos {
                            line: r.line,
                            col: 0,
                        }),
                        alt_pos: None,
                        group: Some(g.name.clone()),
                        rule: Some((i + 1, r.name().to_owned())),
                        msg: format!("could not parse expression: {e}"),
                    };
                    errors.push(err.in_file(file));
                    continue;
                }
            };
            let mut labels: Vec<Label> = g
                .labels
                .iter()
                .filter(|(k, _)| !r.labels.iter().any(|(rk, _)| rk == k))
                .map(|(k, v)| Label::new(k, v))
                .collect();
            labels.extend(r.labels.iter().map(|(k, v)| Label::new(k, v)));
            let rule = match &r.kind {
                RuleKind::Recording { record } => {
                    Rule::Recording(RecordingRule::new(record, expr, labels))
                }
                RuleKind::Alerting { alert } => Rule::Alerting(AlertingRule::new(
                    alert,
                    expr,
                    r.for_ms,
                    r.keep_firing_for_ms,
                    labels,
                    r.annotations
                        .iter()
                        .map(|(k, v)| Label::new(k, v))
                        .collect(),
                )),
            };
            rules.push(rule);
        }
        let mut group = Group::new(
            &g.name,
            file,
            g.interval_ms.unwrap_or(default_interval_ms),
            rules,
        )
        .with_limit(g.limit);
        if let Some(offset) = g.query_offset_ms {
            group = group.with_query_offset(offset);
        }
        groups.push(group);
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// Loads, validates and builds the groups of every file in `paths`, in order. All files are
/// read and every problem of every file is returned; nothing is built unless all are valid.
pub fn load_groups<P: AsRef<Path>>(
    paths: &[P],
    default_interval_ms: i64,
    opts: &LoadOptions,
) -> file::Result<Vec<Group>> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let name = p.to_string_lossy();
        match file::load_file_with(p, opts)
            .and_then(|parsed| build_groups(&name, &parsed, default_interval_ms, opts))
        {
            Ok(g) => groups.extend(g),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::parse;

    #[test]
    fn group_labels_interval_limit_and_offset_reach_the_group() {
        let text = "groups:\n  - name: g\n    interval: 30s\n    limit: 5\n    query_offset: 1m\n    labels: {team: db, tier: x}\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels: {tier: y}\n        annotations: {s: t}\n  - name: h\n    rules:\n      - record: r\n        expr: vector(1)\n";
        let parsed = parse(text, "f.yml").unwrap();
        let groups = build_groups("f.yml", &parsed, 60_000, &LoadOptions::default()).unwrap();
        assert_eq!(groups.len(), 2);
        let g = &groups[0];
        assert_eq!(
            (g.name(), g.file(), g.interval_ms()),
            ("g", "f.yml", 30_000)
        );
        assert_eq!(g.limit(), 5);
        assert_eq!(g.query_offset_ms(), Some(60_000));
        let Rule::Alerting(a) = &g.rules()[0] else {
            panic!("an alerting rule")
        };
        assert_eq!(
            (a.hold_duration_ms(), a.keep_firing_for_ms()),
            (300_000, 60_000)
        );
        let labels: Vec<(&str, &str)> = a
            .labels()
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert!(labels.contains(&("team", "db")) && labels.contains(&("tier", "y")));
        assert!(
            !labels.contains(&("tier", "x")),
            "the rule's own label wins"
        );
        assert_eq!(groups[1].interval_ms(), 60_000, "the default interval");
        assert_eq!(groups[1].query_offset_ms(), None);
    }

    #[test]
    fn every_file_is_read_and_every_error_returned() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        let bad1 = dir.path().join("bad1.yml");
        let bad2 = dir.path().join("bad2.yml");
        std::fs::write(
            &good,
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: vector(1)\n",
        )
        .unwrap();
        std::fs::write(
            &bad1,
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: rate(\n",
        )
        .unwrap();
        std::fs::write(&bad2, "groups: [").unwrap();
        let errs = load_groups(&[&good, &bad1, &bad2], 60_000, &LoadOptions::default())
            .err()
            .unwrap();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|e| e.contains("bad1.yml")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("bad2.yml")), "{text:?}");
        let groups = load_groups(&[&good], 60_000, &LoadOptions::default()).unwrap();
        assert_eq!(groups[0].file(), good.to_string_lossy());
    }
}
