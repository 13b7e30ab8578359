//! Rule files in Prometheus's format, decoded strictly and validated as Prometheus 3 does.
//!
//! A rule file is a YAML document with a top-level `groups:` list; each group has a `name`,
//! optional `interval`, `limit`, `query_offset` and `labels`, and `rules`, each rule having
//! exactly one of `record` / `alert`, an `expr`, and for alerts `for`, `keep_firing_for`,
//! `labels` and `annotations`.
//!
//! Loading happens in two steps, as in Prometheus's `rulefmt`: the YAML tree (first document
//! only, aliases and merge keys resolved) is decoded strictly — unknown or repeated keys and
//! wrongly typed values are all reported, worded like Go's YAML errors (`line 8: field
//! annotation not found in type rulefmt.Rule`) — then, if decoding succeeded, every group and
//! rule is validated and every problem is reported, each with its position and the group/rule
//! it is about (`5:15: group "yolo", rule 1, "yolo": could not parse expression: …`).
//!
//! ```
//! use prom_rules::file::{self, RuleKind};
//!
//! let text = "groups:\n- name: api\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n";
//! let groups = file::parse(text, "api.yml").expect("a valid file");
//! assert_eq!(groups.groups[0].rules[0].kind, RuleKind::Recording { record: "job:up:sum".into() });
//!
//! let errs = file::parse("groups:\n- name: api\n  rules:\n  - alert: X\n", "api.yml").unwrap_err();
//! assert_eq!(
//!     errs[0].to_string(),
//!     "api.yml: 4:5: group \"api\", rule 1, \"X\": field 'expr' must be set in rule"
//! );
//! ```

use std::fmt;
use std::path::Path;

use prom_scrape::config::units::Duration;
use prom_scrape::yaml::{self, Fields, Node, Value, go_quote_bytes};

/// The rule groups of one file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleGroups {
    /// The groups, in file order.
    pub groups: Vec<RuleGroup>,
}

impl RuleGroups {
    /// How many rules the groups hold (what `promtool check rules` reports as "rules found").
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// A group of rules evaluated in order on one schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// `name`, unique within the file.
    pub name: String,
    /// `interval` in milliseconds; `None` (also for `0`) means the global evaluation interval.
    pub interval_ms: Option<i64>,
    /// `limit`: the most series a rule may produce (alerts for an alerting rule); 0, or a
    /// negative value in the file, means no limit, as in Prometheus.
    pub limit: usize,
    /// `query_offset` in milliseconds; `None` means the global `rule_query_offset`.
    pub query_offset_ms: Option<i64>,
    /// `labels` added to every rule's output (rule labels win), in file order.
    pub labels: Vec<(String, String)>,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
    /// The line where the group starts.
    pub line: usize,
}

/// Whether a rule records a series or fires alerts, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// A recording rule: `record` is the metric name written.
    Recording {
        /// The name of the series the rule writes.
        record: String,
    },
    /// An alerting rule: `alert` is the `alertname`.
    Alerting {
        /// The alert's name.
        alert: String,
    },
}

/// One recording or alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Recording or alerting, with the name.
    pub kind: RuleKind,
    /// The PromQL expression, as written (it parsed when the file was loaded).
    pub expr: String,
    /// `for` in milliseconds (alerting rules; 0 for recording rules).
    pub for_ms: i64,
    /// `keep_firing_for` in milliseconds (alerting rules; 0 for recording rules).
    pub keep_firing_for_ms: i64,
    /// `labels`, in file order; values of alerting rules are templates.
    pub labels: Vec<(String, String)>,
    /// `annotations` (alerting rules), in file order; values are templates.
    pub annotations: Vec<(String, String)>,
    /// The line where the rule starts.
    pub line: usize,
}

impl Rule {
    /// The rule's name: the recorded metric or the alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert } => alert,
        }
    }
}

/// Which label and metric names are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Any non-empty UTF-8 name (Prometheus 3's default).
    #[default]
    Utf8,
    /// The legacy charsets: labels `[a-zA-Z_][a-zA-Z0-9_]*`, metrics also `:`.
    Legacy,
}

impl NameValidation {
    /// Whether `name` is a valid label (or annotation) name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => prom_model::is_valid_utf8_name(name),
            NameValidation::Legacy => prom_model::is_valid_legacy_label_name(name),
        }
    }

    /// Whether `name` is a valid metric name under this scheme.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => prom_model::is_valid_utf8_name(name),
            NameValidation::Legacy => prom_model::is_valid_legacy_metric_name(name),
        }
    }
}

/// Checks that one label or annotation template parses: called with the template's name
/// (`__alert_<alertname>`, as Prometheus names it) and its text; the error is the message
/// shown after `label "k": ` / `annotation "k": `.
pub type TemplateCheck = fn(name: &str, text: &str) -> std::result::Result<(), String>;

/// How rule files are decoded and validated. Defaults: strict fields, UTF-8 names, PromQL as
/// Prometheus parses it by default (no experimental syntax), alert templates checked with
/// [`crate::expand::check_template`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Which label, annotation and recording-rule names are valid.
    pub name_validation: NameValidation,
    /// Accept keys the format does not know (promtool's `--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// How expressions are parsed (which experimental features are on).
    pub promql: prom_promql::ParseOptions,
    /// The template parse check for alerting rules' labels and annotations; the crate's
    /// template module provides it. `None` skips the check.
    pub validate_templates: Option<TemplateCheck>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            name_validation: NameValidation::Utf8,
            ignore_unknown_fields: false,
            promql: prom_promql::ParseOptions::prometheus_defaults(),
            validate_templates: Some(crate::expand::check_template),
        }
    }
}

impl LoadOptions {
    /// Sets [`name_validation`](Self::name_validation).
    pub fn name_validation(mut self, v: NameValidation) -> Self {
        self.name_validation = v;
        self
    }

    /// Sets [`ignore_unknown_fields`](Self::ignore_unknown_fields).
    pub fn ignore_unknown_fields(mut self, on: bool) -> Self {
        self.ignore_unknown_fields = on;
        self
    }

    /// Sets [`promql`](Self::promql).
    pub fn promql(mut self, opts: prom_promql::ParseOptions) -> Self {
        self.promql = opts;
        self
    }

    /// Sets [`validate_templates`](Self::validate_templates).
    pub fn validate_templates(mut self, check: TemplateCheck) -> Self {
        self.validate_templates = Some(check);
        self
    }
}

/// A line and column in the file, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub col: usize,
}

impl Pos {
    fn of(n: &Node) -> Pos {
        Pos {
            line: n.line,
            col: n.col,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Some YAML errors know the line only.
        if self.col == 0 {
            write!(f, "line {}", self.line)
        } else {
            write!(f, "{}:{}", self.line, self.col)
        }
    }
}

/// What stage found a [`RuleError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleErrorKind {
    /// The file could not be read.
    Io,
    /// The YAML does not parse.
    Syntax,
    /// A key or value that does not fit the format (listed under `yaml: unmarshal errors:`).
    Unmarshal,
    /// A value that does not decode (a malformed duration).
    Decode,
    /// A decoded group or rule that is not valid.
    Invalid,
}

/// A problem in a rule file: where, in which group and rule, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file, as named by the caller.
    pub file: Option<String>,
    /// The stage that found the problem.
    pub kind: RuleErrorKind,
    /// Where; for "only one of" errors the first of two places.
    pub pos: Option<Pos>,
    /// The second place, when the problem is about two keys.
    pub alt_pos: Option<Pos>,
    /// The group's name, for problems inside a group.
    pub group: Option<String>,
    /// The rule's index from 1 and its name, for problems in a rule.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub msg: String,
}

impl RuleError {
    fn new(kind: RuleErrorKind, pos: Option<Pos>, msg: impl Into<String>) -> RuleError {
        RuleError {
            file: None,
            kind,
            pos,
            alt_pos: None,
            group: None,
            rule: None,
            msg: msg.into(),
        }
    }

    /// The line the error is about, 0 when not known.
    pub fn line(&self) -> usize {
        self.pos.map_or(0, |p| p.line)
    }

    /// The error attributed to `file`.
    pub fn in_file(mut self, file: impl Into<String>) -> RuleError {
        self.file = Some(file.into());
        self
    }

    /// The text without the file prefix (what follows `FILE: ` in promtool's output).
    pub fn detail(&self) -> String {
        match self.kind {
            RuleErrorKind::Io | RuleErrorKind::Syntax => self.msg.clone(),
            RuleErrorKind::Unmarshal => format!(
                "yaml: unmarshal errors:\n  line {}: {}",
                self.line(),
                self.msg
            ),
            RuleErrorKind::Decode | RuleErrorKind::Invalid => {
                let mut s = String::new();
                if let Some(p) = self.pos {
                    s.push_str(&format!("{p}: "));
                }
                if let Some(p) = self.alt_pos {
                    s.push_str(&format!("{p}: "));
                }
                if let (Some(g), Some((i, name))) = (&self.group, &self.rule) {
                    s.push_str(&format!(
                        "group {}, rule {i}, {}: ",
                        go_quote(g),
                        go_quote(name)
                    ));
                }
                s.push_str(&self.msg);
                s
            }
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        f.write_str(&self.detail())
    }
}

impl std::error::Error for RuleError {}

/// The result of loading a rule file: the groups, or every problem found.
pub type Result<T> = std::result::Result<T, Vec<RuleError>>;

fn go_quote(s: &str) -> String {
    go_quote_bytes(s.as_bytes())
}

/// Parses and validates rule file text with the default options; errors name `file_name`.
pub fn parse(text: &str, file_name: &str) -> Result<RuleGroups> {
    parse_with(text, file_name, &LoadOptions::default())
}

/// Parses and validates rule file text; errors name `file_name`.
pub fn parse_with(text: &str, file_name: &str, opts: &LoadOptions) -> Result<RuleGroups> {
    let in_file = |errs: Vec<RuleError>| {
        errs.into_iter()
            .map(|e| e.in_file(file_name))
            .collect::<Vec<_>>()
    };
    let root = yaml::parse(text).map_err(|e| {
        in_file(vec![RuleError::new(
            RuleErrorKind::Syntax,
            (e.line > 0).then_some(Pos {
                line: e.line,
                col: 0,
            }),
            e.msg,
        )])
    })?;
    parse_groups_node(&root, opts).map_err(in_file)
}

/// Reads, parses and validates a rule file with the default options.
pub fn load_file(path: impl AsRef<Path>) -> Result<RuleGroups> {
    load_file_with(path, &LoadOptions::default())
}

/// Reads, parses and validates a rule file; errors name the path as given.
pub fn load_file_with(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<RuleGroups> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        };
        vec![RuleError::new(RuleErrorKind::Io, None, format!("open {name}: {why}")).in_file(&name)]
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let msg = format!(
            "yaml: invalid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        );
        vec![RuleError::new(RuleErrorKind::Syntax, None, msg).in_file(&name)]
    })?;
    parse_with(&text, &name, opts)
}

/// Decodes and validates rule groups from a YAML node shaped like a rule file (a mapping
/// with `groups:`), such as the `spec` of a Kubernetes `PrometheusRule`. Errors carry no
/// file; attach one with [`RuleError::in_file`].
pub fn parse_groups_node(node: &Node, opts: &LoadOptions) -> Result<RuleGroups> {
    let mut d = Decoder {
        strict: !opts.ignore_unknown_fields,
        errs: Vec::new(),
    };
    let raw = d.groups(node);
    if !d.errs.is_empty() {
        return Err(d.errs);
    }
    let errs = validate(&raw, opts);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(RuleGroups {
        groups: raw.into_iter().map(RawGroup::into_group).collect(),
    })
}

/// A label or annotation as decoded: names and values may hold bytes that are not UTF-8
/// (`!!binary`), which validation reports.
#[derive(Debug)]
struct Entry {
    name: String,
    value: String,
    name_utf8: bool,
    value_utf8: bool,
    pos: Pos,
}

#[derive(Debug)]
struct RawGroup {
    pos: Pos,
    name: String,
    interval: Option<i64>,
    limit: i64,
    query_offset: Option<i64>,
    labels: Vec<Entry>,
    rules: Vec<RawRule>,
}

#[derive(Debug)]
struct RawRule {
    pos: Pos,
    record: String,
    record_pos: Option<Pos>,
    alert: String,
    alert_pos: Option<Pos>,
    expr: String,
    expr_pos: Option<Pos>,
    for_ms: i64,
    keep_firing_for_ms: i64,
    labels: Vec<Entry>,
    annotations: Vec<Entry>,
}

fn pairs(entries: Vec<Entry>) -> Vec<(String, String)> {
    entries.into_iter().map(|e| (e.name, e.value)).collect()
}

impl RawGroup {
    fn into_group(self) -> RuleGroup {
        RuleGroup {
            name: self.name,
            interval_ms: self.interval.filter(|&d| d != 0),
            limit: usize::try_from(self.limit).unwrap_or(0),
            query_offset_ms: self.query_offset,
            labels: pairs(self.labels),
            rules: self.rules.into_iter().map(RawRule::into_rule).collect(),
            line: self.pos.line,
        }
    }
}

impl RawRule {
    fn into_rule(self) -> Rule {
        let kind = if self.record.is_empty() {
            RuleKind::Alerting { alert: self.alert }
        } else {
            RuleKind::Recording {
                record: self.record,
            }
        };
        Rule {
            kind,
            expr: self.expr,
            for_ms: self.for_ms,
            keep_firing_for_ms: self.keep_firing_for_ms,
            labels: pairs(self.labels),
            annotations: pairs(self.annotations),
            line: self.pos.line,
        }
    }
}

/// Walks the tree collecting every decoding problem, as Go's YAML decoder lists them all.
struct Decoder {
    strict: bool,
    errs: Vec<RuleError>,
}

const GROUPS_FIELDS: &[&str] = &["groups"];
const GROUP_FIELDS: &[&str] = &[
    "name",
    "interval",
    "query_offset",
    "limit",
    "rules",
    "labels",
];
const RULE_FIELDS: &[&str] = &[
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

impl Decoder {
    fn push(&mut self, e: yaml::Error) {
        let kind = if e.unmarshal {
            RuleErrorKind::Unmarshal
        } else {
            RuleErrorKind::Decode
        };
        let pos = (e.line > 0).then_some(Pos {
            line: e.line,
            col: 0,
        });
        self.errs.push(RuleError::new(kind, pos, e.msg));
    }

    fn unmarshal(&mut self, line: usize, msg: String) {
        self.push(yaml::Error::unmarshal(line, msg));
    }

    /// Opens a mapping as the Go type `ty`, reporting repeated keys and (when strict) keys
    /// not in `known`; `None` when the node cannot be decoded further.
    fn open<'a>(&mut self, node: &'a Node, ty: &'static str, known: &[&str]) -> Option<Fields<'a>> {
        if let Value::Map(entries) = &node.value {
            let mut seen: Vec<(&str, usize)> = Vec::with_capacity(entries.len());
            let mut repeated = false;
            for (k, _) in entries {
                let Value::Scalar { text: name, .. } = &k.value else {
                    continue;
                };
                if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
                    let msg = format!(
                        "mapping key {} already defined at line {first}",
                        go_quote(name)
                    );
                    self.unmarshal(k.line, msg);
                    repeated = true;
                    continue;
                }
                seen.push((name, k.line));
                if self.strict && !known.contains(&name.as_str()) {
                    self.unmarshal(k.line, format!("field {name} not found in type {ty}"));
                }
            }
            if repeated {
                return None;
            }
        }
        match Fields::new(node, ty) {
            Ok(f) => Some(f),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    fn groups(&mut self, root: &Node) -> Vec<RawGroup> {
        let Some(mut f) = self.open(root, "rulefmt.RuleGroups", GROUPS_FIELDS) else {
            return Vec::new();
        };
        let Some(groups) = f.get("groups") else {
            return Vec::new();
        };
        match groups.seq("rulefmt.RuleGroup") {
            Ok(items) => items.iter().filter_map(|g| self.group(g)).collect(),
            Err(e) => {
                self.push(e);
                Vec::new()
            }
        }
    }

    fn group(&mut self, node: &Node) -> Option<RawGroup> {
        let mut f = self.open(node, "rulefmt.RuleGroup", GROUP_FIELDS)?;
        let name = self.string(f.get("name"));
        let interval = self.duration(f.get("interval"));
        let query_offset = self.duration(f.get("query_offset"));
        let limit = match f.get("limit").map(Node::i64) {
            None => 0,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                self.push(e);
                0
            }
        };
        let labels = self.string_map(f.get("labels"));
        let rules = match f.get("rules").map(|r| r.seq("rulefmt.Rule")) {
            None => Vec::new(),
            Some(Ok(items)) => items.iter().filter_map(|r| self.rule(r)).collect(),
            Some(Err(e)) => {
                self.push(e);
                Vec::new()
            }
        };
        Some(RawGroup {
            pos: Pos::of(node),
            name,
            interval,
            limit,
            query_offset,
            labels,
            rules,
        })
    }

    fn rule(&mut self, node: &Node) -> Option<RawRule> {
        let mut f = self.open(node, "rulefmt.Rule", RULE_FIELDS)?;
        let record_node = f.get("record");
        let alert_node = f.get("alert");
        let expr_node = f.get("expr");
        Some(RawRule {
            pos: Pos::of(node),
            record: self.string(record_node),
            record_pos: record_node.map(Pos::of),
            alert: self.string(alert_node),
            alert_pos: alert_node.map(Pos::of),
            expr: self.string(expr_node),
            expr_pos: expr_node.map(Pos::of),
            for_ms: self.duration(f.get("for")).unwrap_or(0),
            keep_firing_for_ms: self.duration(f.get("keep_firing_for")).unwrap_or(0),
            labels: self.string_map(f.get("labels")),
            annotations: self.string_map(f.get("annotations")),
        })
    }

    fn string(&mut self, node: Option<&Node>) -> String {
        match node.map(Node::str) {
            None => String::new(),
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                self.push(e);
                String::new()
            }
        }
    }

    /// A Prometheus duration (`1h30m`); `None` when absent or null.
    fn duration(&mut self, node: Option<&Node>) -> Option<i64> {
        let node = node?;
        let text = match node.str() {
            Ok(t) => t,
            Err(e) => {
                self.push(e);
                return None;
            }
        };
        let msg = if text.is_empty() {
            "empty duration string".to_owned()
        } else {
            match text.parse::<Duration>() {
                // The parser caps durations at i64::MAX milliseconds.
                Ok(d) => return Some(i64::try_from(d.millis()).unwrap_or(i64::MAX)),
                Err(e) => e.to_string(),
            }
        };
        self.errs.push(RuleError::new(
            RuleErrorKind::Decode,
            Some(Pos::of(node)),
            msg,
        ));
        None
    }

    /// A `map[string]string`, keeping bytes that are not UTF-8 for validation to report.
    fn string_map(&mut self, node: Option<&Node>) -> Vec<Entry> {
        let Some(node) = node else {
            return Vec::new();
        };
        let Value::Map(entries) = &node.value else {
            // Not a mapping: string_map reports it with Go's wording.
            if let Err(e) = node.string_map() {
                self.push(e);
            }
            return Vec::new();
        };
        let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let (name, name_utf8) = match k.bytes() {
                Ok(b) => lossy(b),
                Err(e) => {
                    self.push(e);
                    continue;
                }
            };
            let (value, value_utf8) = match v.bytes() {
                Ok(b) => lossy(b),
                Err(e) => {
                    self.push(e);
                    continue;
                }
            };
            if let Some(first) = out.iter().find(|e| e.name == name) {
                let msg = format!(
                    "mapping key {} already defined at line {}",
                    go_quote(&name),
                    first.pos.line
                );
                self.unmarshal(k.line, msg);
                continue;
            }
            out.push(Entry {
                name,
                value,
                name_utf8,
                value_utf8,
                pos: Pos::of(k),
            });
        }
        out
    }
}

fn lossy(b: Vec<u8>) -> (String, bool) {
    match String::from_utf8(b) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }
}

/// Validates decoded groups in Prometheus's order: per group its name and labels, then each
/// rule.
fn validate(groups: &[RawGroup], opts: &LoadOptions) -> Vec<RuleError> {
    let invalid = |pos: Pos, msg: String| RuleError::new(RuleErrorKind::Invalid, Some(pos), msg);
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::with_capacity(groups.len());
    for g in groups {
        if g.name.is_empty() {
            errs.push(invalid(g.pos, "Groupname must not be empty".into()));
        }
        if seen.contains(&g.name.as_str()) {
            let msg = format!(
                "groupname: {} is repeated in the same file",
                go_quote(&g.name)
            );
            errs.push(invalid(g.pos, msg));
        }
        seen.push(&g.name);
        for e in label_errors(&g.labels, opts.name_validation) {
            errs.push(invalid(e.0, e.1));
        }
        for (i, r) in g.rules.iter().enumerate() {
            let name = if r.alert.is_empty() {
                &r.record
            } else {
                &r.alert
            };
            for mut e in validate_rule(r, opts) {
                e.group = Some(g.name.clone());
                e.rule = Some((i + 1, name.clone()));
                errs.push(e);
            }
        }
    }
    errs
}

/// Label names and values: valid names (never `__name__`) and UTF-8 values.
fn label_errors(labels: &[Entry], scheme: NameValidation) -> Vec<(Pos, String)> {
    let mut out = Vec::new();
    for l in labels {
        if !l.name_utf8 || !scheme.is_valid_label_name(&l.name) || l.name == prom_model::METRIC_NAME
        {
            out.push((l.pos, format!("invalid label name: {}", l.name)));
        }
        if !l.value_utf8 {
            out.push((l.pos, format!("invalid label value: {}", l.value)));
        }
    }
    out
}

fn validate_rule(r: &RawRule, opts: &LoadOptions) -> Vec<RuleError> {
    let invalid = |pos: Pos, msg: String| RuleError::new(RuleErrorKind::Invalid, Some(pos), msg);
    let mut errs = Vec::new();
    // Prometheus points at the missing key (printing 0:0); the rule's own place is more use.
    let record_pos = r.record_pos.unwrap_or(r.pos);
    let alert_pos = r.alert_pos.unwrap_or(r.pos);
    let expr_pos = r.expr_pos.unwrap_or(r.pos);
    let recording = !r.record.is_empty();
    let alerting = !r.alert.is_empty();
    if recording && alerting {
        let mut e = invalid(
            record_pos,
            "only one of 'record' and 'alert' must be set".into(),
        );
        e.alt_pos = Some(alert_pos);
        errs.push(e);
    }
    if !recording && !alerting {
        errs.push(invalid(
            r.pos,
            "one of 'record' or 'alert' must be set".into(),
        ));
    }
    if r.expr.is_empty() {
        errs.push(invalid(expr_pos, "field 'expr' must be set in rule".into()));
    } else if let Err(e) = opts.promql.parse(&r.expr) {
        errs.push(invalid(
            expr_pos,
            format!("could not parse expression: {e}"),
        ));
    }
    if recording {
        if !r.annotations.is_empty() {
            let msg = "invalid field 'annotations' in recording rule";
            errs.push(invalid(record_pos, msg.into()));
        }
        if r.for_ms != 0 {
            errs.push(invalid(
                record_pos,
                "invalid field 'for' in recording rule".into(),
            ));
        }
        if r.keep_firing_for_ms != 0 {
            let msg = "invalid field 'keep_firing_for' in recording rule";
            errs.push(invalid(record_pos, msg.into()));
        }
        if !opts.name_validation.is_valid_metric_name(&r.record) {
            let msg = format!("invalid recording rule name: {}", r.record);
            errs.push(invalid(record_pos, msg));
        }
        // A valid UTF-8 name, but most likely a selector pasted into the wrong field.
        if r.record.contains(['{', '}']) {
            let msg = format!(
                "braces present in the recording rule name; should it be in expr?: {}",
                r.record
            );
            errs.push(invalid(record_pos, msg));
        }
    }
    for (pos, msg) in label_errors(&r.labels, opts.name_validation) {
        errs.push(invalid(pos, msg));
    }
    for a in &r.annotations {
        if !a.name_utf8 || !opts.name_validation.is_valid_label_name(&a.name) {
            errs.push(invalid(
                a.pos,
                format!("invalid annotation name: {}", a.name),
            ));
        }
        // Prometheus keeps such bytes; a Rust string cannot, so they are refused.
        if !a.value_utf8 {
            errs.push(invalid(
                a.pos,
                format!("invalid annotation value: {}", a.value),
            ));
        }
    }
    if let (true, Some(check)) = (alerting, opts.validate_templates) {
        let tmpl_name = format!("__alert_{}", r.alert);
        for (what, entries) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for e in entries {
                if let Err(msg) = check(&tmpl_name, &e.value) {
                    let msg = format!("{what} {}: {msg}", go_quote(&e.name));
                    errs.push(invalid(e.pos, msg));
                }
            }
        }
    }
    errs
}

/// A rule that another rule of the file duplicates: same name and same labels (group labels
/// overlaid with the rule's), as `promtool check rules --lint=duplicate-rules` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRule {
    /// The recorded metric or the alert name.
    pub metric: String,
    /// The labels, sorted by name.
    pub labels: Vec<(String, String)>,
}

/// The duplicated rules of `groups`, each reported once, sorted by name then labels.
pub fn duplicate_rules(groups: &RuleGroups) -> Vec<DuplicateRule> {
    let mut all: Vec<DuplicateRule> = Vec::with_capacity(groups.rule_count());
    for g in &groups.groups {
        for r in &g.rules {
            let mut labels: Vec<(String, String)> = g.labels.clone();
            for (k, v) in &r.labels {
                match labels.iter_mut().find(|(n, _)| n == k) {
                    Some(l) => l.1 = v.clone(),
                    None => labels.push((k.clone(), v.clone())),
                }
            }
            labels.sort();
            all.push(DuplicateRule {
                metric: r.name().to_owned(),
                labels,
            });
        }
    }
    // Name first, then labels pair by pair, then the shorter set first: Prometheus's order.
    all.sort_by(|a, b| {
        a.metric
            .cmp(&b.metric)
            .then_with(|| a.labels.cmp(&b.labels))
    });
    let mut dups: Vec<DuplicateRule> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text, "f.yml")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn a_full_group_decodes_with_units_and_positions() {
        let text = "groups:\n- name: g\n  interval: 1m30s\n  limit: 10\n  query_offset: 0s\n  labels: {team: a}\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1h\n    labels: {severity: page}\n    annotations: {summary: 'down'}\n";
        let g = &parse(text, "f.yml").unwrap().groups[0];
        assert_eq!(g.interval_ms, Some(90_000));
        assert_eq!(g.limit, 10);
        assert_eq!(g.query_offset_ms, Some(0));
        assert_eq!(g.labels, vec![("team".into(), "a".into())]);
        assert_eq!(g.line, 2);
        let r = &g.rules[0];
        assert_eq!(r.name(), "A");
        assert_eq!((r.for_ms, r.keep_firing_for_ms), (300_000, 3_600_000));
        assert_eq!(r.annotations, vec![("summary".into(), "down".into())]);
        assert_eq!(r.line, 8);
    }

    #[test]
    fn decoding_lists_every_unknown_and_repeated_key() {
        let text = "groups:\n- name: a\n  namespace: x\n  rules:\n  - record: r\n    expr: 1\n    annotation: {}\n- name: b\n  name: c\n";
        assert_eq!(
            errors(text),
            vec![
                "f.yml: yaml: unmarshal errors:\n  line 3: field namespace not found in type rulefmt.RuleGroup",
                "f.yml: yaml: unmarshal errors:\n  line 7: field annotation not found in type rulefmt.Rule",
                "f.yml: yaml: unmarshal errors:\n  line 9: mapping key \"name\" already defined at line 8",
            ]
        );
        let lenient = LoadOptions::default().ignore_unknown_fields(true);
        let text = "groups:\n- name: a\n  namespace: x\n  rules: []\n";
        assert!(parse_with(text, "f.yml", &lenient).is_ok());
    }

    #[test]
    fn wrong_types_and_durations_are_decoding_errors() {
        assert_eq!(
            errors("groups: 5\n"),
            vec![
                "f.yml: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `5` into []rulefmt.RuleGroup"
            ]
        );
        assert_eq!(
            errors("groups:\n- name: a\n  rules: [1]\n"),
            vec![
                "f.yml: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!int `1` into rulefmt.Rule"
            ]
        );
        assert_eq!(
            errors("groups:\n- name: a\n  interval: 5x\n"),
            vec!["f.yml: 3:13: not a valid duration string: \"5x\""]
        );
        assert_eq!(
            errors("groups:\n- name: a\n  rules:\n  - alert: a\n    expr: '1'\n    for: ''\n"),
            vec!["f.yml: 6:10: empty duration string"]
        );
        assert_eq!(
            errors("groups:\n- name: a\n  rules:\n  - record: !!binary /w==\n    expr: '1'\n"),
            vec!["f.yml: line 4: \"\\xff\" is not valid UTF-8"]
        );
    }

    #[test]
    fn validation_reports_every_problem_with_group_and_rule() {
        let text = "groups:\n- name: ''\n  rules:\n  - record: 'a{b}'\n    alert: X\n    expr: 'sum('\n    for: 1m\n    labels: {__name__: x}\n";
        assert_eq!(
            errors(text),
            vec![
                "f.yml: 2:3: Groupname must not be empty",
                "f.yml: 4:13: 5:12: group \"\", rule 1, \"X\": only one of 'record' and 'alert' must be set",
                "f.yml: 6:11: group \"\", rule 1, \"X\": could not parse expression: 1:5: parse error: unclosed left parenthesis",
                "f.yml: 4:13: group \"\", rule 1, \"X\": invalid field 'for' in recording rule",
                "f.yml: 4:13: group \"\", rule 1, \"X\": braces present in the recording rule name; should it be in expr?: a{b}",
                "f.yml: 8:14: group \"\", rule 1, \"X\": invalid label name: __name__",
            ]
        );
    }

    #[test]
    fn legacy_names_and_binary_values_are_checked() {
        let text = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: '1'\n    labels: {ok: !!binary /w==}\n    annotations: {a-b: x}\n";
        assert!(parse(text, "f.yml").is_err_and(|e| e.len() == 1));
        let legacy = LoadOptions::default().name_validation(NameValidation::Legacy);
        let errs: Vec<String> = parse_with(text, "f.yml", &legacy)
            .unwrap_err()
            .iter()
            .map(|e| e.detail())
            .collect();
        assert_eq!(
            errs,
            vec![
                "6:14: group \"a\", rule 1, \"X\": invalid label value: \u{fffd}",
                "7:19: group \"a\", rule 1, \"X\": invalid annotation name: a-b",
            ]
        );
        let text = "groups:\n- name: a\n  rules:\n  - record: a-b\n    expr: '1'\n";
        assert!(parse(text, "f.yml").is_ok());
        assert!(parse_with(text, "f.yml", &legacy).is_err());
    }

    #[test]
    fn templates_are_checked_through_the_hook_for_alerts_only() {
        fn no_dollar_x(name: &str, text: &str) -> std::result::Result<(), String> {
            match text.contains("$x") {
                true => Err(format!("template: {name}:1: undefined variable \"$x\"")),
                false => Ok(()),
            }
        }
        let opts = LoadOptions::default().validate_templates(no_dollar_x);
        let text = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: '1'\n    annotations: {s: '{{ $x }}'}\n  - record: r\n    expr: '1'\n    labels: {s: '{{ $x }}'}\n";
        let errs = parse_with(text, "f.yml", &opts).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].detail(),
            "6:19: group \"a\", rule 1, \"X\": annotation \"s\": template: __alert_X:1: undefined variable \"$x\""
        );
        // The default check is the template engine's parser.
        let errs = parse(text, "f.yml").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].detail().contains("undefined variable \"$x\""),
            "{}",
            errs[0]
        );
        let off = LoadOptions {
            validate_templates: None,
            ..LoadOptions::default()
        };
        assert!(parse_with(text, "f.yml", &off).is_ok());
    }

    #[test]
    fn empty_and_multi_document_files() {
        assert_eq!(parse("", "f.yml").unwrap().groups.len(), 0);
        assert_eq!(parse("# nothing\n", "f.yml").unwrap().rule_count(), 0);
        let text = "groups:\n- name: a\n  rules: []\n---\ngroups: 5\n";
        assert_eq!(parse(text, "f.yml").unwrap().groups.len(), 1);
        assert!(
            errors("foo\n")[0].contains("cannot unmarshal !!str `foo` into rulefmt.RuleGroups")
        );
        assert!(errors("groups: [\n")[0].starts_with("f.yml: yaml: line"));
    }

    proptest::proptest! {
        /// Any arrangement of rule-file pieces gives groups or errors, never a panic, and
        /// every validation error names a line.
        #[test]
        fn arbitrary_rule_files_never_panic(pieces in proptest::collection::vec(
            proptest::sample::select(vec![
                "groups:\n", "- name: a\n", "  rules:\n", "  - record: r\n", "  - alert: 'x'\n",
                "    expr: up\n", "    expr: 'sum('\n", "    for: 5m\n", "    for: x\n",
                "    labels: {a: b}\n", "    annotations:\n", "      s: '{{ $x }}'\n",
                "  interval: 1m\n", "  limit: -3\n", "---\n", "  - &a {record: r, expr: '1'}\n",
                "  - *a\n", "  - <<: *a\n", "[", "\t", ": ", "  unknown: 1\n", "- 5\n",
            ]),
            0..24,
        )) {
            let text: String = pieces.concat();
            if let Err(errs) = parse(&text, "f.yml") {
                proptest::prop_assert!(!errs.is_empty());
                for e in errs.iter().filter(|e| e.kind == RuleErrorKind::Invalid) {
                    proptest::prop_assert!(e.line() > 0, "{e}");
                }
            }
        }
    }

    #[test]
    fn duplicates_compare_names_and_merged_labels() {
        let text = "groups:\n- name: a\n  labels: {t: x}\n  rules:\n  - record: r\n    expr: '1'\n  - record: r\n    expr: '2'\n    labels: {t: x}\n  - record: r\n    expr: '3'\n    labels: {t: y}\n- name: b\n  rules:\n  - record: r\n    expr: '1'\n  - record: r\n    expr: '1'\n  - alert: r\n    expr: '1'\n";
        let g = parse(text, "f.yml").unwrap();
        let d = duplicate_rules(&g);
        assert_eq!(
            d,
            vec![
                DuplicateRule {
                    metric: "r".into(),
                    labels: vec![]
                },
                DuplicateRule {
                    metric: "r".into(),
                    labels: vec![("t".into(), "x".into())]
                },
            ]
        );
    }
}
