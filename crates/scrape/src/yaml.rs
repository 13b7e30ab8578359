//! A YAML tree with source positions, and strict decoding helpers over it.
//!
//! Configuration files are decoded in two steps: [`parse`] builds a [`Node`] tree (aliases
//! resolved, `<<` merge keys applied, every node with its line and column), then typed
//! decoders walk the tree with [`Fields`], which rejects unknown and repeated keys. Errors
//! carry the line of the offending node and are worded like Prometheus's YAML errors
//! (`line 4: field foo not found in type config.plain`), so users recognise them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A node of the tree with the position where it starts (line 1-based, column 1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// The line where the node starts, from 1.
    pub line: usize,
    /// The column where the node starts, from 1.
    pub col: usize,
    /// The node's explicit tag (`!!binary`, `!!str`, …), if any.
    pub tag: Option<String>,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing.
    Null,
    /// A scalar; `plain` is false for quoted and block scalars (they are always strings).
    Scalar {
        /// The scalar's text after unescaping.
        text: String,
        /// Whether the scalar was written without quotes (and may be a number or a bool).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in document order (duplicates kept, for the decoder to report).
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax or decoding error at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The line (from 1) the error is about; 0 when unknown.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
    /// Whether this is a type/field error (Prometheus lists those under "unmarshal errors").
    pub unmarshal: bool,
}

impl Error {
    /// An error about the node at `line`.
    pub fn at(line: usize, msg: impl Into<String>) -> Error {
        Error {
            line,
            msg: msg.into(),
            unmarshal: false,
        }
    }

    /// A field or type error, printed as `line N: msg` in an "unmarshal errors" list.
    pub fn unmarshal(line: usize, msg: impl Into<String>) -> Error {
        Error {
            line,
            msg: msg.into(),
            unmarshal: true,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unmarshal {
            write!(
                f,
                "yaml: unmarshal errors:\n  line {}: {}",
                self.line, self.msg
            )
        } else if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.msg)
        } else {
            f.write_str(&self.msg)
        }
    }
}

impl std::error::Error for Error {}

/// The result of decoding.
pub type Result<T> = std::result::Result<T, Error>;

/// Parses the first document of `text`; an empty document is [`Value::Null`].
pub fn parse(text: &str) -> Result<Node> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    for item in &mut parser {
        let (ev, span) = item.map_err(|e| {
            Error::at(
                e.marker().line(),
                format!("yaml: line {}: {}", e.marker().line(), e.info()),
            )
        })?;
        if b.on_event(ev, span)? {
            break;
        }
    }
    Ok(b.root.unwrap_or(Node {
        value: Value::Null,
        line: 1,
        col: 1,
        tag: None,
    }))
}

enum Open {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    docs: usize,
}

fn tag_text(tag: Option<Cow<'_, saphyr_parser::Tag>>) -> Option<String> {
    tag.map(|t| {
        let handle = if t.handle == "tag:yaml.org,2002:" {
            "!!"
        } else {
            &t.handle
        };
        format!("{handle}{}", t.suffix)
    })
}

impl Builder {
    /// Handles one event; true when the first document is complete.
    fn on_event(&mut self, ev: Event<'_>, span: Span) -> Result<bool> {
        let (line, col) = (span.start.line(), span.start.col() + 1);
        let node = |value: Value, tag: Option<String>| Node {
            value,
            line,
            col,
            tag,
        };
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.docs += 1;
            }
            Event::DocumentEnd | Event::StreamEnd => return Ok(self.docs > 0),
            Event::Alias(id) => {
                let n = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| Error::at(line, "unknown anchor"))?;
                self.push(n)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag_text(tag);
                let plain = style == ScalarStyle::Plain;
                let value = if plain
                    && tag.is_none()
                    && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain: plain && tag.as_deref().is_none_or(|t| t != "!!str"),
                    }
                };
                let n = node(value, tag);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                self.push(n)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open::Seq(
                    node(Value::Seq(Vec::new()), tag_text(tag)),
                    anchor,
                ));
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open::Map(
                    node(Value::Map(Vec::new()), tag_text(tag)),
                    anchor,
                    None,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (n, anchor) = match self.stack.pop() {
                    Some(Open::Seq(n, a)) | Some(Open::Map(n, a, None)) => (n, a),
                    Some(Open::Map(_, _, Some(k))) => {
                        return Err(Error::at(k.line, "mapping key without a value"));
                    }
                    None => return Err(Error::at(line, "unbalanced YAML structure")),
                };
                let n = merge_keys(n)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                self.push(n)?;
            }
        }
        Ok(false)
    }

    fn push(&mut self, n: Node) -> Result<()> {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(n);
                }
            }
            Some(Open::Seq(s, _)) => {
                if let Value::Seq(items) = &mut s.value {
                    items.push(n);
                }
            }
            Some(Open::Map(m, _, key)) => match key.take() {
                None => *key = Some(n),
                Some(k) => {
                    if let Value::Map(entries) = &mut m.value {
                        entries.push((k, n));
                    }
                }
            },
        }
        Ok(())
    }
}

/// Applies `<<` merge keys: entries of the merged mapping(s) that the mapping does not set.
fn merge_keys(mut n: Node) -> Result<Node> {
    let Value::Map(entries) = &mut n.value else {
        return Ok(n);
    };
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(n);
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for (k, v) in std::mem::take(entries) {
        if is_merge_key(&k) {
            let sources = match v.value {
                Value::Map(_) => vec![v],
                Value::Seq(items) => items,
                _ => {
                    return Err(Error::at(
                        v.line,
                        "map merge requires map or sequence of maps",
                    ));
                }
            };
            for s in sources {
                match s.value {
                    Value::Map(e) => merged.extend(e),
                    _ => {
                        return Err(Error::at(
                            s.line,
                            "map merge requires map or sequence of maps",
                        ));
                    }
                }
            }
        } else {
            own.push((k, v));
        }
    }
    for (k, v) in merged {
        if !own.iter().any(|(o, _)| o.value == k.value) {
            own.push((k, v));
        }
    }
    *entries = own;
    Ok(n)
}

fn is_merge_key(k: &Node) -> bool {
    matches!(&k.value, Value::Scalar { text, plain: true } if text == "<<")
}

impl Node {
    /// The YAML kind as Go's YAML library names it in errors (`!!map`, `!!seq`, `!!str`, …).
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "!!null",
            Value::Scalar { text, plain } => {
                if *plain && text.parse::<i64>().is_ok() {
                    "!!int"
                } else if *plain && parse_bool(text).is_some() {
                    "!!bool"
                } else if *plain && text.parse::<f64>().is_ok() {
                    "!!float"
                } else {
                    "!!str"
                }
            }
            Value::Seq(_) => "!!seq",
            Value::Map(_) => "!!map",
        }
    }

    /// Whether the node is null.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    fn type_error(&self, want: &str) -> Error {
        let shown = match &self.value {
            Value::Scalar { text, .. } => format!("{} `{}`", self.kind(), text),
            _ => self.kind().to_owned(),
        };
        Error::unmarshal(self.line, format!("cannot unmarshal {shown} into {want}"))
    }

    /// The node as a string (scalars of any kind; null is the empty string).
    pub fn str(&self) -> Result<String> {
        match &self.value {
            Value::Null => Ok(String::new()),
            Value::Scalar { text, .. } => {
                if self.tag.as_deref() == Some("!!binary") {
                    let bytes = self.bytes()?;
                    return String::from_utf8(bytes).map_err(|e| {
                        Error::at(
                            self.line,
                            format!("{} is not valid UTF-8", go_quote_bytes(e.as_bytes())),
                        )
                    });
                }
                Ok(text.clone())
            }
            _ => Err(self.type_error("string")),
        }
    }

    /// The node's bytes: a `!!binary` scalar base64-decoded, any other scalar as written.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        match &self.value {
            Value::Null => Ok(Vec::new()),
            Value::Scalar { text, .. } if self.tag.as_deref() == Some("!!binary") => {
                base64_decode(text).ok_or_else(|| {
                    Error::at(self.line, "!!binary value contains invalid base64 data")
                })
            }
            Value::Scalar { text, .. } => Ok(text.clone().into_bytes()),
            _ => Err(self.type_error("string")),
        }
    }

    /// The node as a bool (YAML 1.1 spellings, as Prometheus's YAML library accepts them).
    pub fn bool(&self) -> Result<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => {
                parse_bool(text).ok_or_else(|| self.type_error("bool"))
            }
            _ => Err(self.type_error("bool")),
        }
    }

    /// The node as an unsigned integer.
    pub fn u64(&self) -> Result<u64> {
        match &self.value {
            Value::Scalar { text, plain: true } => {
                parse_int(text).ok_or_else(|| self.type_error("uint"))
            }
            _ => Err(self.type_error("uint")),
        }
    }

    /// The node as a signed integer.
    pub fn i64(&self) -> Result<i64> {
        match &self.value {
            Value::Scalar { text, plain: true } => {
                let (neg, digits) = match text.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, text.strip_prefix('+').unwrap_or(text)),
                };
                let v = parse_int(digits).ok_or_else(|| self.type_error("int"))?;
                let v = i64::try_from(v).map_err(|_| self.type_error("int"))?;
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.type_error("int")),
        }
    }

    /// The node as a float.
    pub fn f64(&self) -> Result<f64> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Ok(f64::INFINITY),
                "-.inf" | "-.Inf" | "-.INF" => Ok(f64::NEG_INFINITY),
                ".nan" | ".NaN" | ".NAN" => Ok(f64::NAN),
                t => t
                    .replace('_', "")
                    .parse::<f64>()
                    .map_err(|_| self.type_error("float64")),
            },
            _ => Err(self.type_error("float64")),
        }
    }

    /// The items of a sequence (null is an empty sequence).
    pub fn seq(&self, of: &str) -> Result<&[Node]> {
        match &self.value {
            Value::Null => Ok(&[]),
            Value::Seq(items) => Ok(items),
            _ => Err(self.type_error(&format!("[]{of}"))),
        }
    }

    /// A sequence of strings.
    pub fn strings(&self) -> Result<Vec<String>> {
        self.seq("string")?.iter().map(Node::str).collect()
    }

    /// A mapping from strings to strings, rejecting repeated keys.
    pub fn string_map(&self) -> Result<Vec<(String, String)>> {
        let entries = match &self.value {
            Value::Null => return Ok(Vec::new()),
            Value::Map(e) => e,
            _ => return Err(self.type_error("map[string]string")),
        };
        let mut out: Vec<(String, String)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let key = String::from_utf8(k.bytes()?).map_err(|e| {
                Error::at(
                    k.line,
                    format!("{} is not a valid label name", go_quote_bytes(e.as_bytes())),
                )
            })?;
            let value = String::from_utf8(v.bytes()?).map_err(|e| {
                Error::at(
                    v.line,
                    format!(
                        "{} is not a valid label value",
                        go_quote_bytes(e.as_bytes())
                    ),
                )
            })?;
            if out.iter().any(|(o, _)| *o == key) {
                return Err(Error::unmarshal(
                    k.line,
                    format!("key {key:?} already set in map"),
                ));
            }
            if matches!(v.value, Value::Seq(_) | Value::Map(_)) {
                return Err(v.type_error("string"));
            }
            out.push((key, value));
        }
        Ok(out)
    }
}

/// Quotes bytes as Go's `%q` does: printable UTF-8 kept, invalid bytes as `\xNN`.
pub fn go_quote_bytes(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// Standard base64 with padding, whitespace ignored (as YAML's `!!binary` allows).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    for (i, quad) in digits.chunks(4).enumerate() {
        let last = i == digits.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

fn parse_int(t: &str) -> Option<u64> {
    let t = t.replace('_', "");
    if let Some(h) = t.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = t.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if t.len() > 1 && t.starts_with('0') && t.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// Strict access to the keys of a mapping decoded into a named type.
///
/// Every key must be taken by the decoder; [`finish`](Fields::finish) reports the first one
/// that was not (`field x not found in type T`), and [`new`](Fields::new) reports a key given
/// twice (`field x already set in type T`).
#[derive(Debug)]
pub struct Fields<'a> {
    ty: &'static str,
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    used: Vec<bool>,
}

impl<'a> Fields<'a> {
    /// Opens `node` (a mapping, or null for an empty one) as the Go-style type `ty`
    /// (`config.plain`, `relabel.Config`, …, as Prometheus names it in errors).
    pub fn new(node: &'a Node, ty: &'static str) -> Result<Fields<'a>> {
        let list = match &node.value {
            Value::Null => &[][..],
            Value::Map(e) => &e[..],
            _ => return Err(node.type_error(ty)),
        };
        let mut entries: Vec<(&'a str, &'a Node, &'a Node)> = Vec::with_capacity(list.len());
        for (k, v) in list {
            let name = match &k.value {
                Value::Scalar { text, .. } => text.as_str(),
                _ => return Err(k.type_error("string")),
            };
            if entries.iter().any(|(n, _, _)| *n == name) {
                return Err(Error::unmarshal(
                    k.line,
                    format!("field {name} already set in type {ty}"),
                ));
            }
            entries.push((name, k, v));
        }
        let used = vec![false; entries.len()];
        Ok(Fields { ty, entries, used })
    }

    /// The value of `key`, marking it used; `None` when absent or null.
    pub fn get(&mut self, key: &str) -> Option<&'a Node> {
        self.get_raw(key).filter(|n| !n.is_null())
    }

    /// The value of `key` even when null, marking it used.
    pub fn get_raw(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|(n, _, _)| *n == key)?;
        self.used[i] = true;
        Some(self.entries[i].2)
    }

    /// Whether `key` is present (without marking it used).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(n, _, _)| *n == key)
    }

    /// The line of `key`, if present.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .find(|(n, _, _)| *n == key)
            .map(|(_, k, _)| k.line)
    }

    /// Marks every key in `keys` as used (fields parsed elsewhere, e.g. inlined structs).
    pub fn skip(&mut self, keys: &[&str]) {
        for (i, (n, _, _)) in self.entries.iter().enumerate() {
            if keys.contains(n) {
                self.used[i] = true;
            }
        }
    }

    /// Fails on the first key no decoder took.
    pub fn finish(self) -> Result<()> {
        for (i, (name, k, _)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                return Err(Error::unmarshal(
                    k.line,
                    format!("field {name} not found in type {}", self.ty),
                ));
            }
        }
        Ok(())
    }
}

/// The path (`scrape_configs[0].relabel_configs[2].regex`) of a mapping key or sequence item
/// that starts at `line`: the deepest one when `deepest` (a key a field error is about), else
/// the outermost (a section a validation error is about); `None` if nothing starts there.
pub fn path_at(root: &Node, line: usize, deepest: bool) -> Option<String> {
    fn go(n: &Node, line: usize, deepest: bool, path: &mut String, best: &mut Option<String>) {
        match &n.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    match &k.value {
                        Value::Scalar { text, .. } => path.push_str(text),
                        _ => path.push('?'),
                    }
                    if k.line == line && (deepest || best.is_none()) {
                        *best = Some(path.clone());
                    }
                    go(v, line, deepest, path, best);
                    path.truncate(len);
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let item = v.line == line && (!deepest || !matches!(v.value, Value::Map(_)));
                    if item && (deepest || best.is_none()) {
                        *best = Some(path.clone());
                    }
                    go(v, line, deepest, path, best);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    go(root, line, deepest, &mut String::new(), &mut best);
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_key_on_a_line() {
        let n = parse("a:\n  - x: 1\n    y:\n      z: 2\n  - w\nb: 3\n").unwrap();
        assert_eq!(path_at(&n, 2, true).as_deref(), Some("a[0].x"));
        assert_eq!(path_at(&n, 2, false).as_deref(), Some("a[0]"));
        assert_eq!(path_at(&n, 4, true).as_deref(), Some("a[0].y.z"));
        assert_eq!(path_at(&n, 5, true).as_deref(), Some("a[1]"));
        assert_eq!(path_at(&n, 6, false).as_deref(), Some("b"));
        assert_eq!(path_at(&n, 9, true), None);
    }

    #[test]
    fn tree_has_positions_aliases_and_merges() {
        let doc = "base: &b\n  x: 1\n  y: two\nother:\n  <<: *b\n  y: three\nlist: [a, 'b', ~]\n";
        let n = parse(doc).unwrap();
        let mut f = Fields::new(&n, "t").unwrap();
        let other = f.get("other").unwrap();
        assert_eq!(other.line, 5);
        let mut o = Fields::new(other, "o").unwrap();
        assert_eq!(o.get("x").unwrap().u64().unwrap(), 1);
        assert_eq!(o.get("y").unwrap().str().unwrap(), "three");
        let list = f.get("list").unwrap().seq("string").unwrap();
        assert_eq!(list.len(), 3);
        assert!(list[2].is_null());
        assert_eq!(list[1].kind(), "!!str");
        assert!(f.finish().is_err(), "base was not taken");
    }

    #[test]
    fn strict_fields_report_unknown_and_repeated_keys_with_lines() {
        let n = parse("a: 1\nb: 2\n").unwrap();
        let mut f = Fields::new(&n, "config.plain").unwrap();
        f.get("a");
        let e = f.finish().unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "yaml: unmarshal errors:\n  line 2: field b not found in type config.plain"
        );
        let n = parse("a: 1\na: 2\n").unwrap();
        let e = Fields::new(&n, "config.plain").unwrap_err();
        assert_eq!(e.msg, "field a already set in type config.plain");
    }

    #[test]
    fn scalars_convert_like_go_yaml() {
        let n = parse("[yes, 0x10, -3, 1.5, '12', .inf]").unwrap();
        let s = n.seq("x").unwrap();
        assert!(s[0].bool().unwrap());
        assert_eq!(s[1].u64().unwrap(), 16);
        assert_eq!(s[2].i64().unwrap(), -3);
        assert_eq!(s[3].f64().unwrap(), 1.5);
        assert!(s[4].u64().is_err(), "a quoted number is a string");
        assert_eq!(s[4].str().unwrap(), "12");
        assert!(s[5].f64().unwrap().is_infinite());
        let e = s[3].u64().unwrap_err();
        assert_eq!(e.msg, "cannot unmarshal !!float `1.5` into uint");
    }

    #[test]
    fn binary_scalars_decode_base64() {
        let n = parse("a: !!binary aGVsbG8=\nb: !!binary \"/w==$1\"\nc: !!binary /w==\n").unwrap();
        let Value::Map(e) = &n.value else { panic!() };
        assert_eq!(e[0].1.str().unwrap(), "hello");
        assert_eq!(
            e[1].1.str().unwrap_err().msg,
            "!!binary value contains invalid base64 data"
        );
        assert_eq!(e[2].1.bytes().unwrap(), vec![0xff]);
        assert_eq!(
            e[2].1.str().unwrap_err().msg,
            "\"\\xff\" is not valid UTF-8"
        );
        let e = parse("{!!binary /w==: v}")
            .unwrap()
            .string_map()
            .unwrap_err();
        assert_eq!(e.msg, "\"\\xff\" is not a valid label name");
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(e.msg.starts_with("yaml: line"), "{}", e.msg);
    }
}
