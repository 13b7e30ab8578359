//! Go `text/template` templates, expanded the way Prometheus expands alert labels and
//! annotations.
//!
//! The Rust ports of Go templates (`gtmpl`, `gotmpl`) do not document what Prometheus needs
//! (its function set with Go's typed parameters, Go's `printf` verbs and float formatting, and
//! Go's error messages with their positions, which end up inside annotations), so this module
//! is a small engine of its own, checked byte for byte against Prometheus (see docs/rules.md):
//! a lexer (`lex`), a parser to a tree (`parse`), an executor over [`Value`]s, Go's
//! builtins and Prometheus's functions ([`FuncMap::prometheus`]), and Go's `fmt` formatting.
//!
//! ```
//! use prom_model::Labels;
//! use prom_rules::template::{expand_alert, AlertTemplateData};
//!
//! let labels = Labels::from_pairs(&[("instance", "db-1:9100")]);
//! let data = AlertTemplateData {
//!     labels: &labels,
//!     external_labels: &Labels::new(),
//!     external_url: "http://prom.example:9090",
//!     value: 1234567.0,
//! };
//! let text = "{{ $labels.instance | stripPort }} is at {{ $value | humanize }} ({{ $value }})";
//! assert_eq!(expand_alert("HighLoad", text, &data, 0, None), "db-1 is at 1.235M (1.234567e+06)");
//! ```
//!
//! Hostile templates are bounded: nesting and `{{template}}` recursion by
//! [`Limits::max_depth`], output and string sizes by [`Limits::max_output`], and running time
//! by [`Limits::max_steps`]; exceeding one is an execution error, never a hang or a crash.

mod exec;
mod fmt;
mod funcs;
mod lex;
mod parse;
mod time;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use funcs::{Callable, FuncBody, FuncMap, Ty};
pub use value::{Sample, Struct, Value};

use parse::Tree;

/// Runs PromQL for the `query` template function.
pub trait TemplateQuery {
    /// Evaluates `expr` as an instant query at `at_ms`; a scalar result is one sample with no
    /// labels. The error text is shown as `error calling query: …`.
    fn query(
        &self,
        expr: &str,
        at_ms: i64,
    ) -> std::result::Result<Vec<(prom_model::Labels, f64)>, String>;
}

/// What an alert's templates see: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`.
#[derive(Debug, Clone, Copy)]
pub struct AlertTemplateData<'a> {
    /// The alert's labels (`$labels`).
    pub labels: &'a prom_model::Labels,
    /// The configured external labels (`$externalLabels`).
    pub external_labels: &'a prom_model::Labels,
    /// The external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The sample value that made the alert (`$value`).
    pub value: f64,
}

/// A template error, worded as Go's `text/template` words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text does not parse: `template: NAME:LINE: MESSAGE`.
    #[error("{message}")]
    Parse {
        /// The whole message, location included.
        message: String,
        /// The 1-based line of the error.
        line: usize,
        /// The byte offset in the text of the token the error is about.
        offset: usize,
    },
    /// Execution failed: `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`.
    #[error("{message}")]
    Exec {
        /// The whole message, location included.
        message: String,
    },
}

/// A `Result` with a [`TemplateError`].
pub type Result<T> = std::result::Result<T, TemplateError>;

/// Bounds on one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of `{{template}}` calls, control structures and parenthesised
    /// pipelines together (default 100; each level takes a few KiB of stack in debug builds).
    pub max_depth: usize,
    /// Largest output, and largest string a function may return, in bytes (default 1 MiB).
    pub max_output: usize,
    /// Most nodes and commands executed (default 10 million).
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_output: 1 << 20,
            max_steps: 10_000_000,
        }
    }
}

/// A parsed template with the templates it `define`s.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    text: String,
    tree: Arc<Tree>,
    defs: HashMap<String, Arc<Tree>>,
}

impl Template {
    /// Parses `text` as the template `name`. Function names are checked against `funcs` (and
    /// Go's builtins), as Go does at parse time.
    pub fn parse(name: &str, text: &str, funcs: &FuncMap<'_>) -> Result<Template> {
        let has = |n: &str| funcs.contains(n);
        let (main, defined) = parse::parse(name, text, &has)?;
        let main_empty = main
            .root
            .iter()
            .all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()));
        let mut tree = Arc::new(main);
        let mut defs: HashMap<String, Arc<Tree>> = HashMap::new();
        for d in defined {
            if d.name == name {
                if !main_empty {
                    // Go adds the main tree last, so the error is at the end of the text.
                    let line = 1 + text.matches('\n').count();
                    return Err(TemplateError::Parse {
                        message: format!(
                            "template: {name}:{line}: template: multiple definition of template {}",
                            fmt::quote(name)
                        ),
                        line,
                        offset: text.len(),
                    });
                }
                tree = Arc::new(d.clone());
            }
            defs.insert(d.name.clone(), Arc::new(d));
        }
        defs.entry(name.to_string()).or_insert_with(|| tree.clone());
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            tree,
            defs,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Executes the template with `data` as dot, under the default [`Limits`].
    pub fn execute(&self, data: &Value, funcs: &FuncMap<'_>) -> Result<String> {
        self.execute_with_limits(data, funcs, &Limits::default())
    }

    /// Executes the template with `data` as dot, under `limits`.
    pub fn execute_with_limits(
        &self,
        data: &Value,
        funcs: &FuncMap<'_>,
        limits: &Limits,
    ) -> Result<String> {
        let mut state = exec::State::new(self, funcs, limits, data);
        state.run(data)?;
        Ok(state.out)
    }
}

/// The variable definitions Prometheus puts before every alert template (on the same line, so
/// line numbers in errors are the user's).
const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The Go type of the data Prometheus passes to alert templates.
const ALERT_DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

fn alert_data(d: &AlertTemplateData<'_>) -> Value {
    Value::Struct(Arc::new(Struct {
        type_name: ALERT_DATA_TYPE.to_string(),
        fields: vec![
            (
                "Labels".into(),
                Value::Labels(Arc::new(funcs::labels_map(d.labels))),
            ),
            (
                "ExternalLabels".into(),
                Value::Labels(Arc::new(funcs::labels_map(d.external_labels))),
            ),
            (
                "ExternalURL".into(),
                Value::String(d.external_url.to_string()),
            ),
            ("Value".into(), Value::Float(d.value)),
        ],
    }))
}

/// Expands `text` for the rule `name` at time `at_ms`; errors are returned inside the text.
///
/// As Prometheus does: the template is named `__alert_NAME`, `$labels`, `$externalLabels`,
/// `$externalURL` and `$value` are defined, and a failure yields
/// `<error expanding template: error parsing|executing template __alert_NAME: …>`.
pub fn expand_alert(
    name: &str,
    text: &str,
    data: &AlertTemplateData<'_>,
    at_ms: i64,
    query: Option<&dyn TemplateQuery>,
) -> String {
    let tname = format!("__alert_{name}");
    let run = || -> std::result::Result<String, String> {
        let full = format!("{ALERT_DEFS}{text}");
        let funcs = FuncMap::prometheus(query, at_ms, data.external_url);
        let t = Template::parse(&tname, &full, &funcs)
            .map_err(|e| format!("error parsing template {tname}: {e}"))?;
        t.execute(&alert_data(data), &funcs)
            .map_err(|e| format!("error executing template {tname}: {e}"))
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    match outcome {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => format!("<error expanding template: {e}>"),
        Err(_) => format!("<error expanding template: panic expanding template {tname}>"),
    }
}

/// Parse-only validation of an alert template, as `promtool check rules` does it for the rule
/// `name`: the error is Go's parse error (`template: __alert_NAME:1: function "x" not defined`).
pub fn check_alert(name: &str, text: &str) -> Result<()> {
    let funcs = FuncMap::prometheus(None, 0, "");
    Template::parse(
        &format!("__alert_{name}"),
        &format!("{ALERT_DEFS}{text}"),
        &funcs,
    )
    .map(|_| ())
}

/// Parse-only validation (promtool check rules uses it), error with a message like Go's.
///
/// The same as [`check_alert`] with an empty rule name.
pub fn check(text: &str) -> Result<()> {
    check_alert("", text)
}
