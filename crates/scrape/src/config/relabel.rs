//! `relabel_configs` entries: decoding and validation as Prometheus 3 does them.

use std::fmt;

use super::cerr;
use crate::yaml::{Fields, Node, Result};

/// A relabeling action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when the regex matches.
    Replace,
    /// Drops the target/series unless the regex matches.
    Keep,
    /// Drops the target/series when the regex matches.
    Drop,
    /// Drops unless the concatenated source equals `target_label`'s value.
    KeepEqual,
    /// Drops when the concatenated source equals `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to a hash of the source modulo `modulus`.
    HashMod,
    /// Copies labels whose names match to names built from `replacement`.
    LabelMap,
    /// Removes labels whose names match.
    LabelDrop,
    /// Removes labels whose names do not match.
    LabelKeep,
    /// Sets `target_label` to the lower-cased source.
    Lowercase,
    /// Sets `target_label` to the upper-cased source.
    Uppercase,
}

impl Action {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regular expression anchored at both ends, as relabeling and matchers use them; `.`
/// matches newlines.
#[derive(Debug, Clone)]
pub struct AnchoredRegex {
    /// The expression as written.
    pub source: String,
    /// `^(?s:source)$`.
    pub regex: regex::Regex,
}

impl PartialEq for AnchoredRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl AnchoredRegex {
    /// Compiles `source` anchored.
    pub fn new(source: &str) -> std::result::Result<AnchoredRegex, regex::Error> {
        Ok(AnchoredRegex {
            source: source.to_owned(),
            regex: regex::Regex::new(&format!("^(?s:{source})$"))?,
        })
    }
}

/// The default regex, `(.*)`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default separator, `;`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default replacement, `$1`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabeling step.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    /// `source_labels`, concatenated with `separator`.
    pub source_labels: Vec<String>,
    /// `separator`, `;` by default.
    pub separator: String,
    /// `regex`, `(.*)` by default, anchored.
    pub regex: AnchoredRegex,
    /// `modulus` for `hashmod`.
    pub modulus: u64,
    /// `target_label`.
    pub target_label: String,
    /// `replacement`, `$1` by default.
    pub replacement: String,
    /// `action`, `replace` by default.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_owned(),
            regex: AnchoredRegex::new(DEFAULT_REGEX).expect("default regex"),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            action: Action::Replace,
        }
    }
}

/// Whether `s` names a label, or is a template (`$1`, `${name}`) that may expand to one.
fn valid_target(s: &str, templated: bool) -> bool {
    if templated && s.contains('$') {
        return true;
    }
    prom_model::is_valid_utf8_name(s) && !s.is_empty()
}

/// Decodes one relabeling rule; `what` names the list in the "empty or null" error
/// (`target relabeling rule`, `metric relabeling rule`, …).
pub fn decode_relabel(node: &Node, what: &str) -> Result<RelabelConfig> {
    if node.is_null() {
        return Err(cerr(node.line, format!("empty or null {what}")));
    }
    let mut f = Fields::new(node, "relabel.Config")?;
    let mut c = RelabelConfig::default();
    let mut set_regex = false;
    let mut set_sep = false;
    let mut set_repl = false;
    let mut set_target = false;
    if let Some(n) = f.get("source_labels") {
        c.source_labels = n.strings()?;
        for l in &c.source_labels {
            if !prom_model::is_valid_utf8_name(l) {
                return Err(cerr(n.line, format!("{l:?} is not a valid label name")));
            }
        }
    }
    if let Some(n) = f.get("separator") {
        c.separator = n.str()?;
        set_sep = true;
    }
    if let Some(n) = f.get("regex") {
        let s = n.str()?;
        c.regex = AnchoredRegex::new(&s)
            .map_err(|e| cerr(n.line, format!("error parsing regexp: {}", regex_msg(&e))))?;
        set_regex = true;
    }
    if let Some(n) = f.get("modulus") {
        c.modulus = n.u64()?;
    }
    if let Some(n) = f.get("target_label") {
        c.target_label = n.str()?;
        set_target = true;
    }
    if let Some(n) = f.get("replacement") {
        c.replacement = n.str()?;
        set_repl = true;
    }
    if let Some(n) = f.get_raw("action") {
        let s = n.str()?;
        if s.is_empty() {
            return Err(cerr(n.line, "relabel action cannot be empty"));
        }
        c.action = Action::parse(&s)
            .ok_or_else(|| cerr(n.line, format!("unknown relabel action {s:?}")))?;
    }
    f.finish()?;
    let line = node.line;
    let a = c.action;
    if a == Action::HashMod && c.modulus == 0 {
        return Err(cerr(
            line,
            "relabel configuration for hashmod requires non-zero modulus",
        ));
    }
    if matches!(
        a,
        Action::Replace
            | Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
    ) && c.target_label.is_empty()
    {
        return Err(cerr(
            line,
            format!("relabel configuration for {a} action requires 'target_label' value"),
        ));
    }
    if a == Action::Replace && !c.target_label.is_empty() && !valid_target(&c.target_label, true) {
        return Err(cerr(
            line,
            format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ),
        ));
    }
    if matches!(
        a,
        Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
            | Action::HashMod
    ) && !valid_target(&c.target_label, false)
    {
        return Err(cerr(
            line,
            format!(
                "{:?} is invalid 'target_label' for {a} action",
                c.target_label
            ),
        ));
    }
    if matches!(a, Action::Lowercase | Action::Uppercase)
        && set_repl
        && c.replacement != DEFAULT_REPLACEMENT
    {
        return Err(cerr(
            line,
            format!("'replacement' can not be set for {a} action"),
        ));
    }
    if a == Action::LabelMap && !valid_target(&c.replacement, true) {
        return Err(cerr(
            line,
            format!(
                "{:?} is invalid 'replacement' for {a} action",
                c.replacement
            ),
        ));
    }
    if matches!(a, Action::KeepEqual | Action::DropEqual)
        && ((set_regex && c.regex.source != DEFAULT_REGEX)
            || c.modulus != 0
            || (set_sep && c.separator != DEFAULT_SEPARATOR)
            || (set_repl && c.replacement != DEFAULT_REPLACEMENT))
    {
        return Err(cerr(
            line,
            format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ),
        ));
    }
    if matches!(a, Action::LabelDrop | Action::LabelKeep)
        && (!c.source_labels.is_empty()
            || set_target
            || c.modulus != 0
            || (set_sep && c.separator != DEFAULT_SEPARATOR)
            || (set_repl && c.replacement != DEFAULT_REPLACEMENT))
    {
        return Err(cerr(
            line,
            format!("{a} action requires only 'regex', and no other fields"),
        ));
    }
    Ok(c)
}

/// The regex crate's message, first line only (its multi-line form points at the pattern).
fn regex_msg(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_owned())
        .unwrap_or(s)
}

/// Decodes a list of relabeling rules.
pub fn decode_relabels(node: Option<&Node>, what: &str) -> Result<Vec<RelabelConfig>> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    node.seq("*relabel.Config")?
        .iter()
        .map(|n| decode_relabel(n, what))
        .collect()
}
