//! Labels and label sets: the identity of a series.
//!
//! A series is identified by its [`Labels`], a set of name/value pairs sorted by name with unique
//! names; the metric name is the label [`METRIC_NAME`]. An empty value means the label is absent,
//! so label sets never contain one.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

use crate::hash::Xxh64;

/// The name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Whether `name` is a metric name in the legacy (pre-UTF-8) charset `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// Names outside it are still valid in Prometheus 3 but must be quoted in PromQL and in the
/// text format.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a label name in the legacy charset `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` is valid as a metric or label name under Prometheus 3's default UTF-8
/// validation: non-empty and valid UTF-8. Takes bytes so parsers can check before converting.
pub fn is_valid_utf8_name(name: impl AsRef<[u8]>) -> bool {
    let name = name.as_ref();
    !name.is_empty() && std::str::from_utf8(name).is_ok()
}

/// One owned label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value.
    pub value: String,
}

impl Label {
    /// A label `name="value"`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }

    /// This label as a borrowed [`LabelRef`].
    pub fn as_label_ref(&self) -> LabelRef<'_> {
        LabelRef {
            name: &self.name,
            value: &self.value,
        }
    }
}

/// A label borrowed from a [`Labels`], as its iterator yields them. Ordered by name, then value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRef<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value.
    pub value: &'a str,
}

impl LabelRef<'_> {
    /// An owned copy.
    pub fn to_label(self) -> Label {
        Label::new(self.name, self.value)
    }
}

/// A set of labels sorted by name with unique names and no empty values: a series' identity.
///
/// # Representation
///
/// The whole set lives in one reference-counted string: for each label, in name order, the
/// length of the name, the name, the length of the value, the value. Lengths use 6 bits per byte
/// with bit 6 as the continuation flag, so every length byte is ASCII and the buffer is a valid
/// `str` without any `unsafe`. This is the layout Prometheus chose for its `stringlabels` build,
/// for the same reasons:
///
/// - a label set costs one allocation, and the index and head hold millions of them;
/// - `clone` is a reference-count increment;
/// - equality and [`Hash`] compare or hash one byte string (the encoding is canonical).
///
/// The price is that [`get`](Self::get) and [`len`](Self::len) scan the labels, which for the
/// ten-odd labels of a typical series is as fast as a binary search, and that iteration yields
/// borrowed [`LabelRef`]s rather than `&Label`.
///
/// # Ordering
///
/// [`Ord`] compares the sets label by label as `(name, value)` pairs, and a set that is a prefix
/// of another sorts first, as Prometheus's `labels.Compare` does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    data: Arc<str>,
}

fn empty_data() -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

fn put_len(buf: &mut String, mut n: usize) {
    while n >= 0x40 {
        buf.push(char::from(0x40 | (n & 0x3f) as u8));
        n >>= 6;
    }
    buf.push(char::from(n as u8));
}

impl Labels {
    /// The empty label set.
    pub fn new() -> Self {
        Labels { data: empty_data() }
    }

    /// Encodes pairs that are already sorted by name, unique, with non-empty values.
    fn from_sorted_unique<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Labels::encode(String::new(), pairs)
    }

    /// [`from_sorted_unique`](Self::from_sorted_unique) into `buf`, which is empty (and may
    /// have the capacity the encoding needs).
    fn encode<'a>(mut buf: String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in pairs {
            debug_assert!(!value.is_empty());
            put_len(&mut buf, name.len());
            buf.push_str(name);
            put_len(&mut buf, value.len());
            buf.push_str(value);
        }
        if buf.is_empty() {
            Labels::new()
        } else {
            Labels {
                data: Arc::from(buf),
            }
        }
    }

    /// Sorts by name (stable), keeps the last pair of each name and drops empty values.
    fn from_unsorted(mut pairs: Vec<(&str, &str)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => out.push((name, value)),
            }
        }
        Labels::from_sorted_unique(out.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    /// A label set from `(name, value)` pairs in any order. When a name repeats, the last pair
    /// wins; pairs with an empty value are dropped (an empty value means "absent").
    ///
    /// ```
    /// use prom_model::Labels;
    /// let ls = Labels::from_pairs(&[("job", "api"), ("__name__", "up"), ("job", "db"), ("x", "")]);
    /// assert_eq!(ls.to_string(), r#"up{job="db"}"#);
    /// ```
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        // Pairs from an index or a parser usually come sorted, unique and non-empty: encode
        // them directly into one exactly sized buffer, without the sorting copies.
        let canonical = pairs.iter().all(|(_, v)| !v.is_empty())
            && pairs.windows(2).all(|w| match w {
                [a, b] => a.0 < b.0,
                _ => true,
            });
        if !canonical {
            return Labels::from_unsorted(pairs.to_vec());
        }
        if pairs.is_empty() {
            return Labels::new();
        }
        let len_size = |mut n: usize| {
            let mut k = 1;
            while n >= 0x40 {
                n >>= 6;
                k += 1;
            }
            k
        };
        let size = pairs
            .iter()
            .map(|(n, v)| len_size(n.len()) + n.len() + len_size(v.len()) + v.len())
            .sum();
        Labels::encode(String::with_capacity(size), pairs.iter().copied())
    }

    /// The value of label `name`, or `None` if the set has no such label.
    pub fn get(&self, name: &str) -> Option<&str> {
        for l in self.iter() {
            match l.name.cmp(name) {
                Ordering::Less => {}
                Ordering::Equal => return Some(l.value),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// Whether the set has a label `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name: the value of [`METRIC_NAME`].
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The number of labels (a scan, see the type's docs).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            data: &self.data,
            pos: 0,
        }
    }

    /// A builder starting from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder::from(self)
    }

    /// This set without the metric name, as PromQL functions and operators return.
    pub fn without_metric_name(&self) -> Labels {
        if !self.contains(METRIC_NAME) {
            return self.clone();
        }
        Labels::from_sorted_unique(
            self.iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name, l.value)),
        )
    }

    /// A stable 64-bit hash of the set: XXH64 with seed 0 over, for each label in order, the
    /// name's bytes, a `0xff` byte, the value's bytes and a `0xff` byte. `0xff` never occurs in
    /// UTF-8, so distinct sets give distinct inputs. The result depends only on the labels, never
    /// on the process, platform or representation, so it may be persisted or sent over the wire;
    /// the framing and algorithm are the ones Prometheus's `Labels.Hash` uses.
    pub fn hash64(&self) -> u64 {
        let mut h = Xxh64::new();
        for l in self.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.finish()
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::new()
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.data, &other.data) {
            return Ordering::Equal;
        }
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = LabelRef<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    /// Same rules as [`Labels::from_pairs`].
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let owned: Vec<(K, V)> = iter.into_iter().collect();
        Labels::from_unsorted(
            owned
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .collect(),
        )
    }
}

impl FromIterator<Label> for Labels {
    /// Same rules as [`Labels::from_pairs`].
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        iter.into_iter().map(|l| (l.name, l.value)).collect()
    }
}

/// Iterator over a [`Labels`] in name order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    data: &'a str,
    pos: usize,
}

impl<'a> Iter<'a> {
    fn take_len(&mut self) -> usize {
        let bytes = self.data.as_bytes();
        let mut n = 0usize;
        let mut shift = 0u32;
        while let Some(&b) = bytes.get(self.pos) {
            self.pos += 1;
            n |= usize::from(b & 0x3f).checked_shl(shift).unwrap_or(0);
            if b & 0x40 == 0 {
                break;
            }
            shift += 6;
        }
        n
    }

    fn take_str(&mut self) -> Option<&'a str> {
        let len = self.take_len();
        let s = self
            .pos
            .checked_add(len)
            .and_then(|end| self.data.get(self.pos..end));
        match s {
            Some(s) => {
                self.pos += len;
                Some(s)
            }
            None => {
                // Unreachable for buffers this module encoded; end the iteration rather than panic.
                self.pos = self.data.len();
                None
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = LabelRef<'a>;

    fn next(&mut self) -> Option<LabelRef<'a>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let name = self.take_str()?;
        let value = self.take_str()?;
        Some(LabelRef { name, value })
    }
}

impl std::iter::FusedIterator for Iter<'_> {}

/// Writes `s` as a double-quoted string the way PromQL reads it and Go's `strconv.Quote` writes
/// it: `\\`, `\"`, the C escapes `\a \b \f \n \r \t \v`, other ASCII control characters as
/// `\xHH` and the C1 controls as `\u00HH`; everything else is written as is.
pub fn write_quoted<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{07}' => Some("\\a"),
            '\u{08}' => Some("\\b"),
            '\u{0b}' => Some("\\v"),
            '\u{0c}' => Some("\\f"),
            c if c.is_control() => None,
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        start = i + c.len_utf8();
        match esc {
            Some(e) => w.write_str(e)?,
            None if (c as u32) < 0x80 => write!(w, "\\x{:02x}", c as u32)?,
            None => write!(w, "\\u{:04x}", c as u32)?,
        }
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

fn write_label_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_valid_legacy_label_name(name) {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

impl fmt::Display for Labels {
    /// Prints the set as PromQL writes a series: `up{instance="a:9100", job="node"}`. A metric
    /// name outside the legacy charset goes quoted inside the braces, as in Prometheus 3:
    /// `{"my.metric", job="node"}`; label names outside the legacy charset are quoted too. The
    /// empty set prints `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        let bare_name = name.filter(|n| is_valid_legacy_metric_name(n));
        let mut rest = self.iter().filter(|l| l.name != METRIC_NAME).peekable();
        if let Some(n) = bare_name {
            f.write_str(n)?;
            if rest.peek().is_none() {
                return Ok(());
            }
        }
        f.write_char('{')?;
        let mut first = true;
        if let (Some(n), None) = (name, bare_name) {
            write_quoted(f, n)?;
            first = false;
        }
        for l in rest {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write_label_name(f, l.name)?;
            f.write_char('=')?;
            write_quoted(f, l.value)?;
        }
        f.write_char('}')
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Labels({self})")
    }
}

/// Builds or edits a [`Labels`]: set and delete labels in any order, then [`build`](Self::build).
///
/// Setting a label that exists replaces its value (the last set wins); setting an empty value
/// deletes the label, since an empty value means "absent".
///
/// ```
/// use prom_model::{Labels, LabelsBuilder};
/// let base = Labels::from_pairs(&[("__name__", "up"), ("job", "node"), ("env", "prod")]);
/// let mut b = LabelsBuilder::from(&base);
/// b.set("instance", "a:9100").set("env", "").del("job");
/// assert_eq!(b.build().to_string(), r#"up{instance="a:9100"}"#);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    /// Unique names, in no particular order.
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        LabelsBuilder::default()
    }

    /// Replaces the builder's content with `base`.
    pub fn reset(&mut self, base: &Labels) -> &mut Self {
        self.labels.clear();
        self.labels.extend(base.iter().map(LabelRef::to_label));
        self
    }

    /// Sets `name` to `value`, replacing any previous value; an empty `value` deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.value.clear();
                l.value.push_str(value);
            }
            None => self.labels.push(Label::new(name, value)),
        }
        self
    }

    /// Deletes label `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| l.name != name);
        self
    }

    /// Keeps only the labels for which `f(name, value)` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) -> &mut Self {
        self.labels.retain(|l| f(&l.name, &l.value));
        self
    }

    /// Keeps only the labels named in `names` (PromQL's `by`, relabeling's `labelkeep`).
    pub fn keep(&mut self, names: &[&str]) -> &mut Self {
        self.retain(|n, _| names.contains(&n))
    }

    /// Deletes the labels named in `names` (PromQL's `without`, relabeling's `labeldrop`).
    pub fn drop_names(&mut self, names: &[&str]) -> &mut Self {
        self.retain(|n, _| !names.contains(&n))
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    /// The number of labels set.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label set: sorted by name, unique, no empty values. The builder is left unchanged
    /// and can be edited and built again.
    pub fn build(&self) -> Labels {
        let mut pairs: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Labels::from_sorted_unique(pairs)
    }
}

impl From<&Labels> for LabelsBuilder {
    fn from(base: &Labels) -> Self {
        let mut b = LabelsBuilder::new();
        b.reset(base);
        b
    }
}

/// Builds a [`Labels`] from `name => value` pairs, with the rules of
/// [`Labels::from_pairs`]. Names and values may be anything that is `AsRef<str>`.
///
/// ```
/// use prom_model::labels;
/// let ls = labels!("__name__" => "up", "job" => String::from("node"));
/// assert_eq!(ls.get("job"), Some("node"));
/// assert!(labels!().is_empty());
/// ```
#[macro_export]
macro_rules! labels {
    () => { $crate::Labels::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        <$crate::Labels as ::core::iter::FromIterator<(&str, &str)>>::from_iter([
            $((::core::convert::AsRef::<str>::as_ref(&$name),
               ::core::convert::AsRef::<str>::as_ref(&$value))),+
        ])
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::{DefaultHasher, Hash, Hasher};

    fn pairs(ls: &Labels) -> Vec<(String, String)> {
        ls.iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect()
    }

    #[test]
    fn from_pairs_sorts_dedups_and_drops_empty() {
        let ls = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        assert_eq!(
            pairs(&ls),
            vec![("a".into(), "1".into()), ("b".into(), "3".into())]
        );
        assert_eq!(ls.len(), 2);
        assert_eq!(ls.get("a"), Some("1"));
        assert_eq!(ls.get("b"), Some("3"));
        assert_eq!(ls.get("c"), None);
        assert_eq!(ls.get("0"), None);
        assert_eq!(ls.get("z"), None);
        // A later empty value deletes an earlier one.
        assert!(Labels::from_pairs(&[("a", "1"), ("a", "")]).is_empty());
    }

    #[test]
    fn empty_set() {
        let e = Labels::new();
        assert!(e.is_empty());
        assert_eq!(e.len(), 0);
        assert_eq!(e.iter().next(), None);
        assert_eq!(e.to_string(), "{}");
        assert_eq!(e, Labels::default());
        assert_eq!(e, Labels::from_pairs(&[("a", "")]));
        assert_eq!(e.metric_name(), None);
    }

    #[test]
    fn long_names_and_values_round_trip() {
        let long = "x".repeat(70_000);
        let ls = Labels::from_pairs(&[(long.as_str(), "v"), ("a", long.as_str())]);
        assert_eq!(ls.get(&long), Some("v"));
        assert_eq!(ls.get("a"), Some(long.as_str()));
        assert_eq!(ls.len(), 2);
    }

    #[test]
    fn metric_name_and_without() {
        let ls = labels!("__name__" => "up", "job" => "node");
        assert_eq!(ls.metric_name(), Some("up"));
        assert!(ls.contains("job"));
        let bare = ls.without_metric_name();
        assert_eq!(bare.to_string(), r#"{job="node"}"#);
        assert_eq!(bare.without_metric_name(), bare);
    }

    #[test]
    fn display_forms() {
        assert_eq!(labels!("__name__" => "up").to_string(), "up");
        assert_eq!(
            labels!("__name__" => "up", "job" => "n", "a" => "b").to_string(),
            r#"up{a="b", job="n"}"#
        );
        assert_eq!(
            labels!("a" => "q\"b\\s\nt").to_string(),
            r#"{a="q\"b\\s\nt"}"#
        );
        assert_eq!(
            labels!("__name__" => "my.metric", "a" => "b").to_string(),
            r#"{"my.metric", a="b"}"#
        );
        assert_eq!(
            labels!("__name__" => "my.metric").to_string(),
            r#"{"my.metric"}"#
        );
        assert_eq!(
            labels!("__name__" => "up", "my.label" => "v", "0x" => "w").to_string(),
            r#"up{"0x"="w", "my.label"="v"}"#
        );
        assert_eq!(
            labels!("a" => "\t\u{1}\u{7f}\u{85}é").to_string(),
            "{a=\"\\t\\x01\\x7f\\u0085é\"}"
        );
        assert_eq!(format!("{:?}", labels!("a" => "b")), r#"Labels({a="b"})"#);
    }

    #[test]
    fn validation_helpers() {
        for ok in ["up", "_x", ":a:b", "a1_:", "Z"] {
            assert!(is_valid_legacy_metric_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a.b", "a-b", "é", "a b"] {
            assert!(!is_valid_legacy_metric_name(bad), "{bad}");
        }
        for ok in ["a", "_", "__name__", "A9_"] {
            assert!(is_valid_legacy_label_name(ok), "{ok}");
        }
        for bad in ["", "a:b", "9", "a.b"] {
            assert!(!is_valid_legacy_label_name(bad), "{bad}");
        }
        assert!(is_valid_utf8_name("a.b"));
        assert!(is_valid_utf8_name("日本"));
        assert!(!is_valid_utf8_name(""));
        assert!(!is_valid_utf8_name([0xff_u8, 0x61]));
    }

    #[test]
    fn ordering_is_pairwise_then_length() {
        let a = labels!("a" => "1");
        let ab = labels!("a" => "1", "b" => "1");
        let a2 = labels!("a" => "2");
        let b = labels!("b" => "0");
        assert!(a < ab, "prefix sorts first");
        assert!(ab < a2, "value decides before length");
        assert!(a2 < b, "name decides first");
        assert!(Labels::new() < a);
        // Lexicographic by name even where an encoded length byte would disagree.
        let short = labels!("a" => "b");
        let long = labels!("a" => "a".repeat(100));
        assert!(long < short);
    }

    #[test]
    fn hash64_known_value_and_framing() {
        assert_eq!(Labels::new().hash64(), crate::hash::xxh64(b""));
        assert_eq!(
            labels!("a" => "b", "c" => "d").hash64(),
            crate::hash::xxh64(b"a\xffb\xffc\xffd\xff")
        );
        assert_ne!(labels!("a" => "bc").hash64(), labels!("ab" => "c").hash64());
    }

    #[test]
    fn builder_edits() {
        let mut b = LabelsBuilder::new();
        b.set("b", "1").set("a", "1").set("b", "2").set("c", "3");
        assert_eq!(b.get("b"), Some("2"));
        assert_eq!(b.len(), 3);
        assert_eq!(b.build().to_string(), r#"{a="1", b="2", c="3"}"#);
        b.keep(&["a", "c", "zz"]);
        assert_eq!(b.build().to_string(), r#"{a="1", c="3"}"#);
        b.drop_names(&["a"]);
        assert_eq!(b.build().to_string(), r#"{c="3"}"#);
        b.set("c", "");
        assert!(b.is_empty());
        assert!(b.build().is_empty());
        let base = labels!("x" => "1");
        b.reset(&base);
        assert_eq!(b.build(), base);
        assert_eq!(base.to_builder().build(), base);
    }

    #[test]
    fn from_iterator_of_labels() {
        let ls: Labels = vec![Label::new("b", "2"), Label::new("a", "1")]
            .into_iter()
            .collect();
        assert_eq!(ls, labels!("a" => "1", "b" => "2"));
        let first = ls.iter().next().map(LabelRef::to_label);
        assert_eq!(first, Some(Label::new("a", "1")));
        assert_eq!(Label::new("a", "1").as_label_ref().name, "a");
    }

    fn label_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(("[a-d_]{0,3}", "[xyé\"\\\\\n]{0,3}"), 0..8)
    }

    fn std_hash(ls: &Labels) -> u64 {
        let mut h = DefaultHasher::new();
        ls.hash(&mut h);
        h.finish()
    }

    proptest! {
        #[test]
        fn builder_result_is_sorted_unique_and_last_set_wins(ops in label_pairs()) {
            let mut b = LabelsBuilder::new();
            let mut model = BTreeMap::new();
            for (n, v) in &ops {
                b.set(n, v);
                if v.is_empty() { model.remove(n); } else { model.insert(n.clone(), v.clone()); }
            }
            let ls = b.build();
            let got = pairs(&ls);
            prop_assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(got.iter().all(|(_, v)| !v.is_empty()));
            let want: Vec<(String, String)> = model.into_iter().collect();
            prop_assert_eq!(&got, &want);
            // from_pairs and collect follow the same last-wins rule.
            let refs: Vec<(&str, &str)> = ops.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            prop_assert_eq!(&Labels::from_pairs(&refs), &ls);
            prop_assert_eq!(&ops.iter().cloned().collect::<Labels>(), &ls);
            // Already canonical pairs (what an index yields) take from_pairs' direct path,
            // with long names and values whose lengths need several bytes.
            let long: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.repeat(40), v.repeat(30)))
                .collect();
            let canon: Vec<(&str, &str)> = want.iter().chain(&long).map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut canon = canon;
            canon.sort();
            canon.dedup_by(|a, b| a.0 == b.0);
            let direct = Labels::from_pairs(&canon);
            prop_assert_eq!(pairs(&direct), canon.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>());
            let reversed: Vec<(&str, &str)> = canon.iter().rev().copied().collect();
            prop_assert_eq!(&direct, &Labels::from_pairs(&reversed));
        }

        #[test]
        fn order_eq_and_hashes_agree_with_pair_lists(a in label_pairs(), b in label_pairs()) {
            let la: Labels = a.into_iter().collect();
            let lb: Labels = b.into_iter().collect();
            let (pa, pb) = (pairs(&la), pairs(&lb));
            prop_assert_eq!(la.cmp(&lb), pa.cmp(&pb));
            prop_assert_eq!(la == lb, pa == pb);
            if la == lb {
                prop_assert_eq!(la.hash64(), lb.hash64());
                prop_assert_eq!(std_hash(&la), std_hash(&lb));
            }
            // Rebuilding from the pairs gives an equal set with an equal hash.
            let again: Labels = pa.iter().cloned().collect();
            prop_assert_eq!(&again, &la);
            prop_assert_eq!(again.hash64(), la.hash64());
            prop_assert_eq!(std_hash(&again), std_hash(&la));
        }
    }
}
