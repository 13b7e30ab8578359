//! Templates wired into rule evaluation and validation: [`TemplateExpander`], the
//! [`Expander`] that expands alert labels and annotations with [`crate::template`] (its `query`
//! function running PromQL against the rules' storage), and [`check_template`], the check rule
//! files get by default.

use std::sync::Arc;

use prom_model::{Labels, Queryable};
use prom_promql::engine::Value;

use crate::rule::{Expander, RuleEngine};
use crate::template::{AlertTemplateData, TemplateQuery, check_alert, expand_alert};

/// Expands alert templates as Prometheus does, with `$externalLabels`, `$externalURL` and the
/// `query` function.
pub struct TemplateExpander {
    external_labels: Labels,
    external_url: String,
    engine: Arc<dyn RuleEngine>,
    storage: Arc<dyn Queryable>,
}

impl std::fmt::Debug for TemplateExpander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateExpander")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl TemplateExpander {
    /// An expander whose `query` function evaluates with `engine` over `storage`.
    pub fn new(
        external_labels: Labels,
        external_url: impl Into<String>,
        engine: Arc<dyn RuleEngine>,
        storage: Arc<dyn Queryable>,
    ) -> Self {
        TemplateExpander {
            external_labels,
            external_url: external_url.into(),
            engine,
            storage,
        }
    }
}

impl TemplateQuery for TemplateExpander {
    fn query(&self, expr: &str, at_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
        let expr = prom_promql::parse(expr).map_err(|e| e.to_string())?;
        let r = self
            .engine
            .instant(&*self.storage, &expr, at_ms)
            .map_err(|e| e.to_string())?;
        match r.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
            Value::Scalar(v, _) => Ok(vec![(Labels::new(), v)]),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }
}

impl Expander for TemplateExpander {
    fn expand(&self, rule: &str, text: &str, labels: &Labels, value: f64, at_ms: i64) -> String {
        // Most label and annotation values are plain text: nothing to parse or run.
        if !text.contains("{{") {
            return text.to_owned();
        }
        let data = AlertTemplateData {
            labels,
            external_labels: &self.external_labels,
            external_url: &self.external_url,
            value,
        };
        expand_alert(rule, text, &data, at_ms, Some(self))
    }
}

/// The template check of [`LoadOptions`](crate::file::LoadOptions): `name` is the template's
/// name as Prometheus gives it (`__alert_<alertname>`), the error Go's parse error.
pub fn check_template(name: &str, text: &str) -> Result<(), String> {
    let rule = name.strip_prefix("__alert_").unwrap_or(name);
    check_alert(rule, text).map_err(|e| e.to_string())
}

/// The expander `prom test rules` gives each test group: templates over the test's storage,
/// evaluated by the default engine.
pub fn test_expander(
    external_labels: &Labels,
    external_url: &str,
    storage: Arc<dyn Queryable>,
) -> Arc<dyn Expander> {
    Arc::new(TemplateExpander::new(
        external_labels.clone(),
        external_url,
        Arc::new(prom_promql::Engine::default()),
        storage,
    ))
}
