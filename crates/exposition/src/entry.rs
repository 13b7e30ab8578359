//! The borrowed entries a parser yields: metadata, comments and samples that point into the
//! input instead of copying it.

use std::borrow::Cow;
use std::fmt;

use prom_model::MetricType;

/// One line of an exposition, borrowed from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`, the text unescaped.
    Help {
        /// The metric family the help text is for.
        family: Cow<'a, str>,
        /// The help text, unescaped.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The metric family.
        family: Cow<'a, str>,
        /// Its declared type (`untyped` reads as [`MetricType::Unknown`]).
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        /// The metric family.
        family: Cow<'a, str>,
        /// The unit; may be empty.
        unit: &'a str,
    },
    /// Any other `#` line of the Prometheus text format: the text after the `#`.
    Comment(&'a str),
    /// A sample line.
    Sample(Sample<'a>),
}

/// A sample line: series name and labels, value, optional timestamp and exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The sample's metric name (for `foo_bucket{...}` this is `foo_bucket`).
    pub name: Cow<'a, str>,
    /// The labels, decoded lazily from the input.
    pub labels: LabelSet<'a>,
    /// The value. NaN is Prometheus's normal NaN (never the staleness marker).
    pub value: f64,
    /// The timestamp in milliseconds, if the line has one (OpenMetrics seconds are converted).
    pub timestamp: Option<i64>,
    /// The exemplar, if any (OpenMetrics only).
    pub exemplar: Option<Exemplar<'a>>,
    /// The series text exactly as written: the metric name and the label set with its braces.
    /// Identical text means an identical series, so a scraper can cache by it.
    pub series: &'a str,
    /// The 1-based line the sample is on.
    pub line: u32,
}

/// An exemplar: a label set (such as a trace id), a value and an optional timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    /// The exemplar's labels.
    pub labels: LabelSet<'a>,
    /// The exemplar's value.
    pub value: f64,
    /// Its timestamp in milliseconds, if given.
    pub timestamp: Option<i64>,
}

/// One decoded label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label<'a> {
    /// The label name.
    pub name: Cow<'a, str>,
    /// The label value, unescaped.
    pub value: Cow<'a, str>,
}

/// A label set as written in the input, between `{` and `}`, already validated by the parser.
///
/// Iterating decodes it on the fly: values borrow from the input unless they contain escapes.
/// A quoted metric name inside the braces (`{"my.metric", a="b"}`) is not a label and is
/// skipped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LabelSet<'a> {
    inner: &'a str,
}

impl<'a> LabelSet<'a> {
    /// Wraps text the parser has validated as a label set body.
    pub(crate) fn new(inner: &'a str) -> Self {
        LabelSet { inner }
    }

    /// The raw text between the braces.
    pub fn as_raw(&self) -> &'a str {
        self.inner
    }

    /// Iterates over the labels in the order written.
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter { rest: self.inner }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }
}

impl fmt::Debug for LabelSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|l| (l.name, l.value)))
            .finish()
    }
}

impl<'a> IntoIterator for LabelSet<'a> {
    type Item = Label<'a>;
    type IntoIter = LabelIter<'a>;

    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// Iterator over the labels of a [`LabelSet`].
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        // The text was validated by the parser, so this scanner is lenient and never fails:
        // separators are skipped, and anything unexpected ends the iteration.
        loop {
            self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
            if self.rest.is_empty() {
                return None;
            }
            let name = if self.rest.starts_with('"') {
                let (body, escaped, after) = split_quoted(self.rest)?;
                self.rest = after;
                unescape_label(body, escaped)
            } else {
                let end = self
                    .rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(self.rest.len());
                if end == 0 {
                    self.rest = "";
                    return None;
                }
                let (name, after) = self.rest.split_at(end);
                self.rest = after;
                Cow::Borrowed(name)
            };
            self.rest = self.rest.trim_start_matches([' ', '\t']);
            if let Some(after_eq) = self.rest.strip_prefix('=') {
                let after_eq = after_eq.trim_start_matches([' ', '\t']);
                let (body, escaped, after) = split_quoted(after_eq)?;
                self.rest = after;
                return Some(Label {
                    name,
                    value: unescape_label(body, escaped),
                });
            }
            // A quoted metric name inside the braces: not a label.
        }
    }
}

/// Splits `"body"rest` into the body, whether it has escapes, and the rest.
fn split_quoted(s: &str) -> Option<(&str, bool, &str)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut escaped = false;
    let mut k = 1;
    while let Some(&c) = bytes.get(k) {
        match c {
            b'"' => return Some((s.get(1..k)?, escaped, s.get(k + 1..)?)),
            b'\\' => {
                escaped = true;
                k += 2;
            }
            _ => k += 1,
        }
    }
    None
}

/// Unescapes a label value or quoted name: `\\`, `\"` and `\n`; other escapes stay as written.
pub(crate) fn unescape_label(body: &str, escaped: bool) -> Cow<'_, str> {
    if !escaped {
        return Cow::Borrowed(body);
    }
    unescape(body, |c| match c {
        '\\' => Some('\\'),
        '"' => Some('"'),
        'n' => Some('\n'),
        _ => None,
    })
}

/// Unescapes a HELP text of the Prometheus text format: `\\` and `\n` only.
pub(crate) fn unescape_text_help(body: &str) -> Cow<'_, str> {
    if !body.contains('\\') {
        return Cow::Borrowed(body);
    }
    unescape(body, |c| match c {
        '\\' => Some('\\'),
        'n' => Some('\n'),
        _ => None,
    })
}

/// Unescapes an OpenMetrics HELP text: `\\`, `\"` and `\n`.
pub(crate) fn unescape_om_help(body: &str) -> Cow<'_, str> {
    unescape_label(body, body.contains('\\'))
}

fn unescape(body: &str, map: impl Fn(char) -> Option<char>) -> Cow<'_, str> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) => match map(e) {
                Some(r) => out.push(r),
                None => {
                    out.push('\\');
                    out.push(e);
                }
            },
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(inner: &str) -> Vec<(String, String)> {
        LabelSet::new(inner)
            .iter()
            .map(|l| (l.name.into_owned(), l.value.into_owned()))
            .collect()
    }

    #[test]
    fn iterates_plain_escaped_and_quoted_labels() {
        assert_eq!(
            pairs(r#"a="1", b = "x\"y\\z\n",  "c.d"="2","#),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x\"y\\z\n".into()),
                ("c.d".into(), "2".into()),
            ]
        );
    }

    #[test]
    fn skips_quoted_metric_name() {
        assert_eq!(
            pairs(r#""my.metric", a="1""#),
            vec![("a".into(), "1".into())]
        );
        assert!(LabelSet::new(r#""my.metric""#).is_empty());
    }

    #[test]
    fn unknown_escapes_are_kept() {
        assert_eq!(unescape_label(r"a\tb", true), r"a\tb");
        assert_eq!(unescape_text_help(r#"a\"b\\c\nd"#), "a\\\"b\\c\nd");
        assert_eq!(unescape_om_help(r#"a\"b"#), "a\"b");
    }

    #[test]
    fn borrowed_without_escapes() {
        let set = LabelSet::new(r#"a="1""#);
        let l = set.iter().next().unwrap();
        assert!(matches!(l.value, Cow::Borrowed(_)));
        assert_eq!(set.get("a").as_deref(), Some("1"));
        assert_eq!(set.get("b"), None);
        assert_eq!(set.len(), 1);
    }
}
