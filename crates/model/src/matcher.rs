//! Label matchers: the `name="value"`, `!=`, `=~` and `!~` terms of a PromQL selector.
//!
//! Regex matchers follow Prometheus 3: the regex must match the whole value (it is anchored at
//! both ends) and `.` matches a newline too. Matching runs on a hot path (every candidate series
//! of every selector), so [`Matcher::new`] looks at the parsed regex once and, when it has a
//! simple shape, matches without running a regex at all:
//!
//! | regex shape | how a value is matched |
//! |---|---|
//! | finite set of at most 256 strings: `foo`, `a\|b\|c`, `api-(eu\|us)` | binary search in the sorted set |
//! | `.*` / `.+` | always / non-empty |
//! | `foo.*`, `foo.+` | `starts_with` (and longer than the prefix) |
//! | `.*foo`, `.+foo` | `ends_with` (and longer than the suffix) |
//! | `.*foo.*` | `contains` |
//! | anything else | the compiled regex, after a `starts_with` check on its literal prefix |
//!
//! The set and the prefix are exposed ([`Matcher::set_matches`], [`Matcher::prefix`]) so an index
//! can turn such matchers into postings lookups.

use std::fmt;
use std::hash::{Hash, Hasher};

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::error::{Error, Result};
use crate::labels::{is_valid_legacy_label_name, write_quoted};

/// The largest finite set a regex is expanded into (as in Prometheus).
const MAX_SET_MATCHES: usize = 256;

/// Repetition counts above this are not expanded even when the result would be small.
const MAX_EXPANDED_REPETITION: u32 = 1024;

/// How a matcher compares: `=`, `!=`, `=~` or `!~`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchType {
    /// `=`: the value equals the string.
    Equal,
    /// `!=`: the value differs from the string.
    NotEqual,
    /// `=~`: the regex matches the whole value.
    RegexMatch,
    /// `!~`: the regex does not match the whole value.
    RegexNoMatch,
}

impl MatchType {
    /// The PromQL operator: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::RegexMatch => "=~",
            MatchType::RegexNoMatch => "!~",
        }
    }

    /// Whether the value is a regex (`=~`, `!~`).
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::RegexMatch | MatchType::RegexNoMatch)
    }

    /// Whether the matcher selects what its value does not match (`!=`, `!~`).
    pub fn is_negative(self) -> bool {
        matches!(self, MatchType::NotEqual | MatchType::RegexNoMatch)
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the positive form of a matcher tests a value.
#[derive(Debug, Clone)]
enum Plan {
    /// Equality with the matcher's value (`=`, `!=`).
    Equal,
    /// Membership in a sorted, deduplicated set (a regex with finitely many matches).
    Set(Vec<String>),
    /// Every string (`.*`).
    Any,
    /// Every non-empty string (`.+`).
    NonEmpty,
    /// Starts with `prefix`; with `more`, also has at least one character after it.
    Prefix { prefix: String, more: bool },
    /// Ends with `suffix`; with `more`, also has at least one character before it.
    Suffix { suffix: String, more: bool },
    /// Contains the string (`.*foo.*`).
    Contains(String),
    /// The regex anchored as `^(?s:...)$`.
    Regex(regex::Regex),
}

/// One label matcher, with its regex (if any) compiled.
///
/// A matcher on a label a series does not have sees the empty string, so a matcher that
/// [matches the empty string](Self::matches_empty) also selects series without the label.
///
/// Equality and hashing consider the type, name and value only.
///
/// ```
/// use prom_model::{MatchType, Matcher};
/// let m = Matcher::new(MatchType::RegexMatch, "job", "api|db")?;
/// assert!(m.matches("db"));
/// assert!(!m.matches("dbx"), "anchored at both ends");
/// assert_eq!(m.set_matches(), Some(&["api".to_string(), "db".to_string()][..]));
/// assert_eq!(m.to_string(), r#"job=~"api|db""#);
/// # Ok::<(), prom_model::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    kind: MatchType,
    name: String,
    value: String,
    strategy: Plan,
    /// Literal prefix of every string a regex strategy matches; empty if none.
    prefix: String,
}

impl Matcher {
    /// A matcher of type `kind` for label `name`. For the regex types, `value` is parsed and
    /// compiled (unless one of the fast paths applies, see the module docs).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRegex`] if `kind` is a regex type and `value` is not a valid regex.
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let value = value.into();
        let (strategy, prefix) = if kind.is_regex() {
            plan_regex(&value)?
        } else {
            (Plan::Equal, String::new())
        };
        Ok(Matcher {
            kind,
            name,
            value,
            strategy,
            prefix,
        })
    }

    /// `name="value"`; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            kind: MatchType::Equal,
            name: name.into(),
            value: value.into(),
            strategy: Plan::Equal,
            prefix: String::new(),
        }
    }

    /// `name!="value"`; cannot fail.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            kind: MatchType::NotEqual,
            ..Matcher::equal(name, value)
        }
    }

    /// The matcher type.
    pub fn kind(&self) -> MatchType {
        self.kind
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The string or regex as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher. Pass `""` for a label the series lacks.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        self.positive_match(value) != self.kind.is_negative()
    }

    /// Whether the matcher matches the empty string, which means it also selects series that do
    /// not have the label at all (`job=""`, `job!="x"`, `job=~".*"`, `job!~".+"`).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For a regex matcher whose regex matches a finite set of at most 256 strings (a literal, or
    /// an alternation of literals such as `a|b|c`, `api-(eu|us)`, `x?`): that set, sorted and
    /// without duplicates. `=~` selects exactly these values and `!~` every other value. `None`
    /// for `=` and `!=` and for any other regex.
    pub fn set_matches(&self) -> Option<&[String]> {
        match &self.strategy {
            Plan::Set(set) if self.kind.is_regex() => Some(set),
            _ => None,
        }
    }

    /// For a regex matcher that is not a [finite set](Self::set_matches): the non-empty literal
    /// every string its regex matches starts with (`foo` for `foo.*`, `foo.+`, `foo[0-9]+`), or
    /// `None` if the regex does not start with a literal.
    pub fn prefix(&self) -> Option<&str> {
        if self.prefix.is_empty() || !self.kind.is_regex() {
            None
        } else {
            Some(&self.prefix)
        }
    }

    fn positive_match(&self, s: &str) -> bool {
        match &self.strategy {
            Plan::Equal => s == self.value,
            Plan::Set(set) => set.binary_search_by(|x| x.as_str().cmp(s)).is_ok(),
            Plan::Any => true,
            Plan::NonEmpty => !s.is_empty(),
            Plan::Prefix { prefix, more } => {
                s.starts_with(prefix.as_str()) && (!more || s.len() > prefix.len())
            }
            Plan::Suffix { suffix, more } => {
                s.ends_with(suffix.as_str()) && (!more || s.len() > suffix.len())
            }
            Plan::Contains(needle) => s.contains(needle.as_str()),
            Plan::Regex(re) => s.starts_with(self.prefix.as_str()) && re.is_match(s),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Hash for Matcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

impl fmt::Display for Matcher {
    /// PromQL syntax: `job="api"`, `path=~"/v1/.*"`; a name outside the legacy charset is
    /// quoted (`"http.method"="GET"`), and the value is escaped as a PromQL string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            write_quoted(f, &self.name)?;
        }
        f.write_str(self.kind.as_str())?;
        write_quoted(f, &self.value)
    }
}

/// Parses `pattern` with `.` matching newlines, then picks a strategy and the literal prefix.
fn plan_regex(pattern: &str) -> Result<(Plan, String)> {
    // Parsing the pattern on its own (rather than only compiling the anchored form) reports
    // offsets into what the user wrote, and rejects patterns such as `a)|(b` that would only
    // parse once wrapped.
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| Error::InvalidRegex {
            regex: pattern.to_owned(),
            message: syntax_message(&e),
        })?;

    if let Some(set) = finite_set(&hir) {
        return Ok((Plan::Set(set), String::new()));
    }

    let pieces = pieces(&hir);
    let prefix = match pieces.first() {
        Some(Piece::Lit(p)) => p.clone(),
        _ => String::new(),
    };
    let strategy = match pieces.as_slice() {
        [Piece::AnyStar] => Plan::Any,
        [Piece::AnyPlus] => Plan::NonEmpty,
        [Piece::Lit(p), Piece::AnyStar] => Plan::Prefix {
            prefix: p.clone(),
            more: false,
        },
        [Piece::Lit(p), Piece::AnyPlus] => Plan::Prefix {
            prefix: p.clone(),
            more: true,
        },
        [Piece::AnyStar, Piece::Lit(s)] => Plan::Suffix {
            suffix: s.clone(),
            more: false,
        },
        [Piece::AnyPlus, Piece::Lit(s)] => Plan::Suffix {
            suffix: s.clone(),
            more: true,
        },
        [Piece::AnyStar, Piece::Lit(n), Piece::AnyStar] => Plan::Contains(n.clone()),
        _ => {
            let re = regex::RegexBuilder::new(&format!("^(?s:{pattern})$"))
                .build()
                .map_err(|e| Error::InvalidRegex {
                    regex: pattern.to_owned(),
                    message: e.to_string(),
                })?;
            Plan::Regex(re)
        }
    };
    Ok((strategy, prefix))
}

/// The regex crate's one-line description of a syntax error, with the byte span in `pattern`.
fn syntax_message(e: &regex_syntax::Error) -> String {
    let (kind, span) = match e {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), *e.span()),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), *e.span()),
        other => return other.to_string(),
    };
    format!("{kind} at bytes {}..{}", span.start.offset, span.end.offset)
}

/// The number of Unicode scalar values in a class.
fn class_len(class: &regex_syntax::hir::ClassUnicode) -> u64 {
    const SURROGATES: (u32, u32) = (0xD800, 0xDFFF);
    class
        .ranges()
        .iter()
        .map(|r| {
            let (s, e) = (u32::from(r.start()), u32::from(r.end()));
            let overlap = e
                .min(SURROGATES.1)
                .saturating_add(1)
                .saturating_sub(s.max(SURROGATES.0));
            u64::from(e - s + 1) - u64::from(overlap)
        })
        .sum()
}

/// Whether `hir` matches any single character, newline included (`(?s:.)`).
fn is_any_char(hir: &Hir) -> bool {
    const ALL_SCALARS: u64 = 0x11_0000 - 0x800;
    matches!(hir.kind(), HirKind::Class(Class::Unicode(c)) if class_len(c) == ALL_SCALARS)
}

/// Every string `hir` matches, sorted and unique, if there are at most [`MAX_SET_MATCHES`].
fn finite_set(hir: &Hir) -> Option<Vec<String>> {
    let mut set = expand(hir)?;
    set.sort_unstable();
    set.dedup();
    Some(set)
}

/// The strings `hir` matches, possibly with duplicates, or `None` if there may be more than
/// [`MAX_SET_MATCHES`] or the regex uses look-around or bytes.
fn expand(hir: &Hir) -> Option<Vec<String>> {
    let out = match hir.kind() {
        HirKind::Empty => vec![String::new()],
        HirKind::Literal(lit) => vec![String::from_utf8(lit.0.to_vec()).ok()?],
        HirKind::Class(Class::Unicode(c)) => {
            if class_len(c) > MAX_SET_MATCHES as u64 {
                return None;
            }
            c.ranges()
                .iter()
                .flat_map(|r| u32::from(r.start())..=u32::from(r.end()))
                .filter_map(char::from_u32)
                .map(String::from)
                .collect()
        }
        HirKind::Class(Class::Bytes(_)) | HirKind::Look(_) => return None,
        HirKind::Capture(c) => expand(&c.sub)?,
        HirKind::Concat(subs) => {
            let mut acc = vec![String::new()];
            for sub in subs {
                acc = product(&acc, &expand(sub)?)?;
            }
            acc
        }
        HirKind::Alternation(subs) => {
            let mut acc = Vec::new();
            for sub in subs {
                acc.extend(expand(sub)?);
                dedup_within_limit(&mut acc)?;
            }
            acc
        }
        HirKind::Repetition(rep) => {
            let max = rep.max?;
            if max > MAX_EXPANDED_REPETITION {
                return None;
            }
            let one = expand(&rep.sub)?;
            let mut acc = Vec::new();
            let mut power = vec![String::new()];
            for k in 0..=max {
                if k >= rep.min {
                    acc.extend(power.iter().cloned());
                    dedup_within_limit(&mut acc)?;
                }
                if k < max {
                    power = product(&power, &one)?;
                }
            }
            acc
        }
    };
    (out.len() <= MAX_SET_MATCHES).then_some(out)
}

fn dedup_within_limit(v: &mut Vec<String>) -> Option<()> {
    if v.len() > MAX_SET_MATCHES {
        v.sort_unstable();
        v.dedup();
    }
    (v.len() <= MAX_SET_MATCHES).then_some(())
}

fn product(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len().saturating_mul(b.len()) > MAX_SET_MATCHES {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            out.push(format!("{x}{y}"));
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// A top-level element of a regex, for recognising the shapes with fast paths.
#[derive(Debug, PartialEq)]
enum Piece {
    Lit(String),
    AnyStar,
    AnyPlus,
    Other,
}

/// The regex as a sequence of pieces: concatenations and capture groups flattened, adjacent
/// literals merged, empty pieces dropped.
fn pieces(hir: &Hir) -> Vec<Piece> {
    fn walk(hir: &Hir, out: &mut Vec<Piece>) {
        let piece = match hir.kind() {
            HirKind::Empty => return,
            HirKind::Concat(subs) => return subs.iter().for_each(|s| walk(s, out)),
            HirKind::Capture(c) => return walk(&c.sub, out),
            HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                Ok(s) => {
                    if let Some(Piece::Lit(prev)) = out.last_mut() {
                        prev.push_str(s);
                        return;
                    }
                    Piece::Lit(s.to_owned())
                }
                Err(_) => Piece::Other,
            },
            HirKind::Repetition(r) if r.max.is_none() && r.min <= 1 && is_any_char(&r.sub) => {
                if r.min == 0 {
                    Piece::AnyStar
                } else {
                    Piece::AnyPlus
                }
            }
            _ => Piece::Other,
        };
        out.push(piece);
    }
    let mut out = Vec::new();
    walk(hir, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn re(v: &str) -> Matcher {
        Matcher::new(MatchType::RegexMatch, "l", v).expect("valid regex")
    }

    fn strategy_name(m: &Matcher) -> &'static str {
        match m.strategy {
            Plan::Equal => "equal",
            Plan::Set(_) => "set",
            Plan::Any => "any",
            Plan::NonEmpty => "nonempty",
            Plan::Prefix { .. } => "prefix",
            Plan::Suffix { .. } => "suffix",
            Plan::Contains(_) => "contains",
            Plan::Regex(_) => "regex",
        }
    }

    #[test]
    fn match_type_display() {
        let all = [
            MatchType::Equal,
            MatchType::NotEqual,
            MatchType::RegexMatch,
            MatchType::RegexNoMatch,
        ];
        let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["=", "!=", "=~", "!~"]);
        assert!(MatchType::RegexNoMatch.is_regex() && MatchType::RegexNoMatch.is_negative());
        assert!(!MatchType::Equal.is_regex() && !MatchType::Equal.is_negative());
    }

    #[test]
    fn equality_matchers() {
        let m = Matcher::equal("job", "api");
        assert!(m.matches("api"));
        assert!(!m.matches("apix"));
        assert!(!m.matches_empty());
        let m = Matcher::not_equal("job", "api");
        assert!(!m.matches("api"));
        assert!(m.matches("db"));
        assert!(m.matches_empty());
        assert!(Matcher::equal("job", "").matches_empty());
        assert!(!Matcher::not_equal("job", "").matches_empty());
        assert_eq!(m.set_matches(), None);
        assert_eq!(m.prefix(), None);
        assert_eq!(
            Matcher::new(MatchType::NotEqual, "job", "api").ok(),
            Some(Matcher::not_equal("job", "api"))
        );
        // `=` does not interpret its value as a regex.
        assert!(Matcher::equal("l", "a.*").matches("a.*"));
        assert!(!Matcher::equal("l", "a.*").matches("ab"));
    }

    #[test]
    fn regex_is_anchored_and_dot_matches_newline() {
        let m = re("a.c");
        assert!(m.matches("abc"));
        assert!(m.matches("a\nc"));
        assert!(!m.matches("xabc"));
        assert!(!m.matches("abcx"));
        let m = re("b[0-9]+");
        assert!(m.matches("b12"));
        assert!(!m.matches("ab12"));
        assert!(!m.matches("b12a"));
        assert_eq!(strategy_name(&m), "regex");
        assert_eq!(m.prefix(), Some("b"));
        // Alternation binds looser than the anchors' group.
        let m = re("x|y.*z");
        assert!(!m.matches("xa"));
        assert!(m.matches("yaz"));
        // Flags inside the pattern still apply.
        assert!(re("(?i)abc").matches("AbC"));
        assert!(!re("(?-s:a.c)").matches("a\nc"));
    }

    #[test]
    fn negative_regex() {
        let m = Matcher::new(MatchType::RegexNoMatch, "l", "a|b").expect("valid");
        assert!(!m.matches("a"));
        assert!(m.matches("c"));
        assert!(m.matches_empty());
        assert_eq!(m.set_matches().map(<[String]>::len), Some(2));
        let m = Matcher::new(MatchType::RegexNoMatch, "l", ".+").expect("valid");
        assert!(m.matches_empty());
        assert!(!m.matches("x"));
        let m = Matcher::new(MatchType::RegexNoMatch, "l", "foo.*").expect("valid");
        assert_eq!(m.prefix(), Some("foo"));
        assert!(!m.matches("foobar"));
        assert!(m.matches("fo"));
    }

    #[test]
    fn literal_and_set_fast_paths() {
        let m = re("foo");
        assert_eq!(strategy_name(&m), "set");
        assert_eq!(m.set_matches(), Some(&["foo".to_string()][..]));
        assert!(m.matches("foo") && !m.matches("fo") && !m.matches("foox"));

        let m = re("c|a|b|a");
        assert_eq!(
            m.set_matches(),
            Some(&["a".to_string(), "b".to_string(), "c".to_string()][..])
        );
        assert!(m.matches("b") && !m.matches("ab") && !m.matches(""));

        let m = re(r"api-(eu|us)\.x");
        assert_eq!(
            m.set_matches(),
            Some(&["api-eu.x".to_string(), "api-us.x".to_string()][..])
        );
        let m = re("foo|");
        assert_eq!(
            m.set_matches(),
            Some(&[String::new(), "foo".to_string()][..])
        );
        assert!(m.matches_empty());
        assert_eq!(re("").set_matches(), Some(&[String::new()][..]));
        assert!(re("").matches_empty() && !re("").matches("a"));
        assert_eq!(re("ab?").set_matches().map(<[String]>::len), Some(2));
        assert_eq!(re("[a-c]{2}").set_matches().map(<[String]>::len), Some(9));
        // Too many alternatives, or unbounded: a real regex.
        assert_eq!(re("[a-z]{2}").set_matches(), None);
        assert_eq!(re("a+").set_matches(), None);
        assert!(re("a+").matches("aaa"));
    }

    #[test]
    fn any_and_affix_fast_paths() {
        let m = re(".*");
        assert_eq!(strategy_name(&m), "any");
        assert!(m.matches("") && m.matches("x\ny"));
        assert!(m.matches_empty());

        let m = re(".+");
        assert_eq!(strategy_name(&m), "nonempty");
        assert!(!m.matches("") && m.matches("\n"));
        assert!(!m.matches_empty());

        let m = re("foo.*");
        assert_eq!(strategy_name(&m), "prefix");
        assert_eq!(m.prefix(), Some("foo"));
        assert_eq!(m.set_matches(), None);
        assert!(
            m.matches("foo") && m.matches("foo\nbar") && !m.matches("fo") && !m.matches("xfoo")
        );

        let m = re("(foo).+");
        assert_eq!(strategy_name(&m), "prefix");
        assert!(!m.matches("foo") && m.matches("foo1"));

        let m = re(".*bar");
        assert_eq!(strategy_name(&m), "suffix");
        assert_eq!(m.prefix(), None);
        assert!(m.matches("bar") && m.matches("xbar") && !m.matches("barx"));
        let m = re(".+bar");
        assert!(!m.matches("bar") && m.matches("xbar"));

        let m = re(".*mid.*");
        assert_eq!(strategy_name(&m), "contains");
        assert!(m.matches("mid") && m.matches("a\nmid\nb") && !m.matches("mi d"));

        // Not-quite-any classes stay regexes.
        let m = re("(?-s:.*)");
        assert_eq!(strategy_name(&m), "regex");
        assert!(!m.matches("a\nb"));
        assert!(m.matches("ab"));
    }

    #[test]
    fn invalid_regex_reports_pattern_and_message() {
        let err = Matcher::new(MatchType::RegexMatch, "l", "a(b").expect_err("invalid");
        let msg = err.to_string();
        assert!(
            msg.starts_with(r#"invalid regular expression "a(b": "#),
            "{msg}"
        );
        assert!(msg.contains("unclosed group"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        // Valid only once wrapped in the anchoring group: still rejected.
        assert!(Matcher::new(MatchType::RegexNoMatch, "l", "a)|(b").is_err());
        // Equality matchers never parse their value.
        assert!(Matcher::new(MatchType::Equal, "l", "a(b").is_ok());
    }

    #[test]
    fn display_escapes_like_promql() {
        assert_eq!(
            Matcher::equal("job", "a\"b\\c\n").to_string(),
            r#"job="a\"b\\c\n""#
        );
        assert_eq!(re("a.*").to_string(), r#"l=~"a.*""#);
        assert_eq!(
            Matcher::not_equal("http.method", "GET").to_string(),
            r#""http.method"!="GET""#
        );
        let m = Matcher::new(MatchType::RegexNoMatch, "x", r"\d").expect("valid");
        assert_eq!(m.to_string(), r#"x!~"\\d""#);
    }

    #[test]
    fn equality_ignores_compiled_state() {
        assert_eq!(re("a|b"), re("a|b"));
        assert_ne!(re("a|b"), re("b|a"));
        assert_ne!(re("a"), Matcher::equal("l", "a"));
    }

    /// Regexes built from pieces that exercise every strategy.
    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("ab".to_string()),
            Just(".".to_string()),
            Just(".*".to_string()),
            Just(".+".to_string()),
            Just("[ab]".to_string()),
            Just("\n".to_string()),
            Just("x?".to_string()),
            Just("".to_string()),
        ];
        proptest::collection::vec(atom, 0..4)
            .prop_map(|v| v.concat())
            .prop_recursive(2, 8, 3, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.join("|")),
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}){b}")),
                    inner.prop_map(|a| format!("({a})*")),
                ]
            })
    }

    proptest! {
        #[test]
        fn fast_paths_agree_with_the_anchored_regex(p in pattern(), inputs in proptest::collection::vec("[abx\n]{0,5}", 1..12)) {
            let oracle = regex::Regex::new(&format!("^(?s:{p})$")).expect("generated regex is valid");
            let m = re(&p);
            let neg = Matcher::new(MatchType::RegexNoMatch, "l", p.clone()).expect("valid");
            let mut candidates = inputs;
            if let Some(set) = m.set_matches() {
                candidates.extend(set.iter().cloned());
            }
            candidates.push(String::new());
            for s in &candidates {
                prop_assert_eq!(m.matches(s), oracle.is_match(s), "pattern {:?} input {:?}", p, s);
                prop_assert_eq!(neg.matches(s), !oracle.is_match(s));
                if let Some(set) = m.set_matches() {
                    prop_assert_eq!(set.contains(s), oracle.is_match(s));
                }
                if let Some(prefix) = m.prefix() {
                    prop_assert!(!m.matches(s) || s.starts_with(prefix));
                }
            }
            if let Some(set) = m.set_matches() {
                prop_assert!(set.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
