//! Prometheus rules: rule files, recording and alerting rules, templates, and alert delivery.
//!
//! The crate reads rule files in Prometheus's format and validates them as `promtool check
//! rules` does, evaluates groups on their interval through any [`prom_promql::QueryEngine`]
//! over any [`prom_model::Queryable`], writes recording-rule results and the `ALERTS` series
//! through any [`prom_model::Appendable`], expands Go-style templates in alert labels and
//! annotations, and hands alerts to a [`notifier::Notifier`] (the built-in one posts them to
//! Alertmanager's API v2).
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
