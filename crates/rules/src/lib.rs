//! Prometheus rules: rule files, recording and alerting rules, templates, and alert delivery.
//!
//! The crate reads rule files in Prometheus's format and validates them as `promtool check
//! rules` does, evaluates groups on their interval through any [`rule::RuleEngine`] (prom-promql's
//! engine is one) over any [`prom_model::Queryable`], writes recording-rule results and the
//! `ALERTS` series through any [`prom_model::Appendable`], expands Go-style templates in alert
//! labels and annotations, and hands alerts to a [`notifier::Notifier`] (the built-in one posts
//! them to Alertmanager's API v2).
//!
//! ```
//! use std::sync::Arc;
//! use prom_model::{Appendable, Labels, MemoryStorage};
//! use prom_rules::expand::TemplateExpander;
//! use prom_rules::manager::ManagerOptions;
//! use prom_rules::rule::Rule;
//! use prom_rules::notifier::{Alert, Notifier};
//!
//! #[derive(Debug)]
//! struct Print;
//! impl Notifier for Print {
//!     fn send(&self, alerts: Vec<Alert>) {
//!         for a in alerts {
//!             println!("{} {}", a.labels, a.annotations);
//!         }
//!     }
//! }
//!
//! // Storage with one target that is down.
//! let storage = Arc::new(MemoryStorage::new());
//! let mut app = storage.appender();
//! app.append(None, &Labels::from_pairs(&[("__name__", "up"), ("job", "api")]), 0, 0.0)?;
//! app.commit()?;
//!
//! // A rule file, its groups, and a manager evaluating them.
//! let text = r#"
//! groups:
//!   - name: example
//!     rules:
//!       - record: job:up:sum
//!         expr: sum by (job) (up)
//!       - alert: JobDown
//!         expr: job:up:sum == 0
//!         annotations:
//!           summary: "{{ $labels.job }} is down"
//! "#;
//! let parsed = prom_rules::file::parse(text, "example.yml").map_err(|e| e[0].to_string())?;
//! let groups = prom_rules::load::build_groups("example.yml", &parsed, 60_000, &Default::default())
//!     .map_err(|e| e[0].to_string())?;
//! let engine = Arc::new(prom_promql::Engine::default());
//! let expander = TemplateExpander::new(Labels::new(), "http://prom:9090", engine.clone(), storage.clone());
//! let opts = ManagerOptions::new(engine, storage.clone(), storage.clone(), Arc::new(Print))
//!     .expander(Arc::new(expander));
//!
//! // One evaluation by hand; `Manager` runs every group on its schedule.
//! let mut groups = groups;
//! groups[0].eval(60_000, &opts);
//! let Rule::Alerting(alert) = &groups[0].rules()[1] else { unreachable!() };
//! let active: Vec<_> = alert.active_alerts().collect();
//! assert_eq!(active[0].annotations.get("summary"), Some("api is down"));
//! // The recording rule's result was written back.
//! assert_eq!(storage.samples(&Labels::from_pairs(&[("__name__", "job:up:sum"), ("job", "api")])).len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod alerting;
#[cfg(feature = "runtime")]
pub mod alertmanager;
pub mod check;
pub mod clock;
pub mod expand;
pub mod file;
pub mod group;
pub mod load;
pub mod manager;
pub mod notifier;
pub mod recording;
pub mod rule;
pub mod snapshot;
pub mod template;
pub mod unittest;
