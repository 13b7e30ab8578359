//! Functions: Go's builtins, the methods of time values, and Prometheus's template functions.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use super::TemplateQuery;
use super::fmt::{quote, sprint, sprintf, sprintln};
use super::time::{format_duration, format_time, go_format};
use super::value::{Sample, Value};
use crate::rule::query_escape;

/// The Go type a function parameter declares; arguments are checked against it as Go's
/// `text/template` does (`wrong type for value; expected string; got float64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ty {
    /// `interface {}`: any value.
    Any,
    /// `string`.
    String,
    /// `float64`.
    Float,
    /// `int`.
    Int,
    /// `bool`.
    Bool,
    /// `*sample` (one element of a query result); nil allowed.
    Sample,
    /// `queryResult` (what `query` returns).
    Vector,
}

impl Ty {
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::String => "string",
            Ty::Float => "float64",
            Ty::Int => "int",
            Ty::Bool => "bool",
            Ty::Sample => "*template.sample",
            Ty::Vector => "template.queryResult",
        }
    }
}

/// The body of a function: the checked arguments (and, for `call`, the callee's text) to a
/// value or an error message (shown as `error calling NAME: MESSAGE`).
pub type FuncBody<'a> = Box<dyn Fn(Vec<Value>, Option<&str>) -> Result<Value, String> + 'a>;

/// A function templates can call: its parameter types and its body.
pub struct Callable<'a> {
    pub(crate) params: &'static [Ty],
    pub(crate) variadic: Option<Ty>,
    pub(crate) call: FuncBody<'a>,
}

impl fmt::Debug for Callable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callable")
            .field("params", &self.params)
            .field("variadic", &self.variadic)
            .finish()
    }
}

/// The functions a template may call besides Go's builtins (`and`, `printf`, `eq`, …), which
/// are always present.
#[derive(Default, Debug)]
pub struct FuncMap<'a> {
    map: HashMap<&'static str, Callable<'a>>,
}

impl<'a> FuncMap<'a> {
    /// An empty map: only Go's builtins.
    pub fn new() -> Self {
        FuncMap::default()
    }

    /// Adds (or replaces) `name`, taking `params` (and then any number of `variadic` ones).
    pub fn insert(
        &mut self,
        name: &'static str,
        params: &'static [Ty],
        variadic: Option<Ty>,
        body: impl Fn(Vec<Value>, Option<&str>) -> Result<Value, String> + 'a,
    ) -> &mut Self {
        self.map.insert(
            name,
            Callable {
                params,
                variadic,
                call: Box::new(body),
            },
        );
        self
    }

    /// Whether `name` is defined here or is a builtin.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name) || builtin(name).is_some()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Callable<'a>> {
        self.map.get(name)
    }

    /// Prometheus's template functions (`query`, `humanize`, `title`, …) for an evaluation at
    /// `at_ms` with the given external URL, querying through `query` when there is one.
    pub fn prometheus(
        query: Option<&'a dyn TemplateQuery>,
        at_ms: i64,
        external_url: &'a str,
    ) -> Self {
        let mut m = FuncMap::new();
        m.insert("query", &[Ty::String], None, move |a, _| {
            let q = query.ok_or_else(|| "no query engine is available to templates".to_string())?;
            let expr = a[0].as_str().unwrap_or_default();
            let rows = q.query(expr, at_ms)?;
            let samples = rows
                .into_iter()
                .map(|(ls, v)| {
                    let labels = ls
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect();
                    Arc::new(Sample { labels, value: v })
                })
                .collect();
            Ok(Value::Vector(Arc::new(samples)))
        });
        m.insert("first", &[Ty::Vector], None, |a, _| match &a[0] {
            Value::Vector(v) if !v.is_empty() => Ok(Value::Sample(Some(v[0].clone()))),
            _ => Err("first() called on vector with no elements".into()),
        });
        // Prometheus dereferences the sample unchecked; a nil one fails as Go's runtime does.
        m.insert("label", &[Ty::String, Ty::Sample], None, |a, _| {
            let name = a[0].as_str().unwrap_or_default();
            Ok(Value::String(
                sample(&a[1])?.labels.get(name).cloned().unwrap_or_default(),
            ))
        });
        m.insert("value", &[Ty::Sample], None, |a, _| {
            Ok(Value::Float(sample(&a[0])?.value))
        });
        m.insert("strvalue", &[Ty::Sample], None, |a, _| {
            Ok(Value::String(
                sample(&a[0])?
                    .labels
                    .get("__value__")
                    .cloned()
                    .unwrap_or_default(),
            ))
        });
        m.insert("args", &[], Some(Ty::Any), |a, _| {
            Ok(super::exec::args_map(a))
        });
        m.insert(
            "reReplaceAll",
            &[Ty::String, Ty::String, Ty::String],
            None,
            |a, _| {
                let re = compile(str_arg(&a[0]))?;
                Ok(Value::String(
                    re.replace_all(str_arg(&a[2]), str_arg(&a[1])).into_owned(),
                ))
            },
        );
        m.insert("safeHtml", &[Ty::String], None, |a, _| {
            Ok(Value::Html(str_arg(&a[0]).to_string()))
        });
        m.insert("match", &[Ty::String, Ty::String], None, |a, _| {
            let re = regex::Regex::new(str_arg(&a[0])).map_err(|e| regex_error(&e))?;
            Ok(Value::Bool(re.is_match(str_arg(&a[1]))))
        });
        m.insert("title", &[Ty::String], None, |a, _| {
            Ok(Value::String(title(str_arg(&a[0]))))
        });
        m.insert("toUpper", &[Ty::String], None, |a, _| {
            Ok(Value::String(to_upper(str_arg(&a[0]))))
        });
        m.insert("toLower", &[Ty::String], None, |a, _| {
            Ok(Value::String(to_lower(str_arg(&a[0]))))
        });
        m.insert("graphLink", &[Ty::String], None, |a, _| {
            Ok(Value::String(format!(
                "/graph?g0.expr={}&g0.tab=0",
                query_escape(str_arg(&a[0]))
            )))
        });
        m.insert("tableLink", &[Ty::String], None, |a, _| {
            Ok(Value::String(format!(
                "/graph?g0.expr={}&g0.tab=1",
                query_escape(str_arg(&a[0]))
            )))
        });
        m.insert("sortByLabel", &[Ty::String, Ty::Vector], None, |a, _| {
            let by = str_arg(&a[0]);
            let Value::Vector(v) = &a[1] else {
                return Ok(a[1].clone());
            };
            let mut v: Vec<Arc<Sample>> = v.as_ref().clone();
            let key = |s: &Sample| s.labels.get(by).cloned().unwrap_or_default();
            v.sort_by_key(|s| key(s));
            Ok(Value::Vector(Arc::new(v)))
        });
        m.insert("humanize", &[Ty::Any], None, |a, _| {
            Ok(Value::String(humanize(to_float(&a[0])?)))
        });
        m.insert("humanize1024", &[Ty::Any], None, |a, _| {
            Ok(Value::String(humanize1024(to_float(&a[0])?)))
        });
        m.insert("humanizeDuration", &[Ty::Any], None, |a, _| {
            Ok(Value::String(humanize_duration(to_float(&a[0])?)))
        });
        m.insert("humanizePercentage", &[Ty::Any], None, |a, _| {
            Ok(Value::String(format!("{}%", g4(to_float(&a[0])? * 100.0))))
        });
        m.insert("humanizeTimestamp", &[Ty::Any], None, |a, _| {
            let v = to_float(&a[0])?;
            match float_to_time(v) {
                Ok(ns) => Ok(Value::String(format_time(ns))),
                Err(None) => Ok(Value::String(g4(v))),
                Err(Some(e)) => Err(e),
            }
        });
        m.insert("toTime", &[Ty::Any], None, |a, _| {
            let v = to_float(&a[0])?;
            float_to_time(v)
                .map(Value::Time)
                .map_err(|e| e.unwrap_or_else(|| NAN_OR_INF.into()))
        });
        m.insert("toDuration", &[Ty::Any], None, |a, _| {
            let v = to_float(&a[0])?;
            if !v.is_finite() {
                return Err(NAN_OR_INF.into());
            }
            let ns = v * 1e9;
            if !(-TWO_POW_63..TWO_POW_63).contains(&ns) {
                return Err(format!(
                    "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
                    super::fmt::sprint_value(&Value::Float(v))
                ));
            }
            Ok(Value::Duration(ns as i64))
        });
        m.insert("now", &[], None, move |_, _| {
            Ok(Value::Float(at_ms as f64 / 1000.0))
        });
        m.insert("pathPrefix", &[], None, move |_, _| {
            Ok(Value::String(url_path(external_url).to_string()))
        });
        m.insert("externalURL", &[], None, move |_, _| {
            Ok(Value::String(external_url.to_string()))
        });
        m.insert("parseDuration", &[Ty::String], None, |a, _| {
            parse_duration(str_arg(&a[0])).map(|ns| Value::Float(ns as f64 / 1e9))
        });
        m.insert("stripPort", &[Ty::String], None, |a, _| {
            let hp = str_arg(&a[0]);
            Ok(Value::String(
                split_host_port(hp).map_or(hp, |(h, _)| h).to_string(),
            ))
        });
        m.insert("stripDomain", &[Ty::String], None, |a, _| {
            Ok(Value::String(strip_domain(str_arg(&a[0]))))
        });
        m
    }
}

const NAN_OR_INF: &str = "value is NaN or Inf";

/// 2^63: nanosecond counts at or beyond it overflow Go's int64.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn str_arg(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn sample(v: &Value) -> Result<&Sample, String> {
    match v {
        Value::Sample(Some(s)) => Ok(s),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".into()),
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| {
        let q = if pattern.contains('`') {
            quote(pattern)
        } else {
            format!("`{pattern}`")
        };
        format!("regexp: Compile({q}): {}", regex_error(&e))
    })
}

fn regex_error(e: &regex::Error) -> String {
    format!(
        "error parsing regexp: {}",
        e.to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("error: ")
    )
}

/// Prometheus's `convertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => parse_go_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `strconv.ParseFloat(s, 64)` for decimal input, with Go's error text.
fn parse_go_float(s: &str) -> Result<f64, String> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let special = matches!(body, "inf" | "infinity" | "nan");
    let plain = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if (special || plain)
        && let Ok(v) = s.parse::<f64>()
    {
        {
            if v.is_infinite() && !special {
                return Err(format!(
                    "strconv.ParseFloat: parsing {}: value out of range",
                    quote(s)
                ));
            }
            return Ok(v);
        }
    }
    Err(format!(
        "strconv.ParseFloat: parsing {}: invalid syntax",
        quote(s)
    ))
}

fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = v as i64;
        let seconds = d % 60;
        let minutes = (d / 60) % 60;
        let hours = (d / 60 / 60) % 24;
        let days = d / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Seconds to a time (nanoseconds), truncated to milliseconds as Prometheus's `model.Time` is.
/// `Err(None)` for NaN and infinities.
fn float_to_time(v: f64) -> Result<i64, Option<String>> {
    if !v.is_finite() {
        return Err(None);
    }
    let ns = v * 1e9;
    if !(-TWO_POW_63..TWO_POW_63).contains(&ns) {
        return Err(Some(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            super::fmt::sprint_value(&Value::Float(v))
        )));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(ms * 1_000_000)
}

/// Prometheus's duration syntax (`1h30m`, units y w d h m s ms) to nanoseconds.
fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(s));
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000_000_000),
        ("w", 7 * 24 * 3_600_000_000_000),
        ("d", 24 * 3_600_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last = 0;
    while !rest.is_empty() {
        let nd = rest.bytes().take_while(u8::is_ascii_digit).count();
        if nd == 0 {
            return Err(invalid());
        }
        let v: u64 = rest[..nd].parse().map_err(|_| invalid())?;
        rest = &rest[nd..];
        let nu = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if nu == 0 {
            return Err(invalid());
        }
        let unit = &rest[..nu];
        rest = &rest[nu..];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                quote(unit),
                quote(s)
            ));
        };
        if idx < last {
            return Err(invalid());
        }
        last = idx + 1;
        let mult = UNITS[idx].1;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total += v * mult;
        if total > (1u64 << 63) - 1 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as i64)
}

/// The path of a URL (what `pathPrefix` returns).
fn url_path(url: &str) -> &str {
    let after_scheme = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => return url.split(['?', '#']).next().unwrap_or_default(),
    };
    let Some(slash) = after_scheme.find('/') else {
        return "";
    };
    let path = &after_scheme[slash..];
    path.split(['?', '#']).next().unwrap_or_default()
}

/// `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or_default();
    if port.is_empty() {
        return host.to_string();
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn upper_char(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn to_upper(s: &str) -> String {
    s.chars().map(upper_char).collect()
}

fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// Prometheus 3's `title`: `cases.Title(language.AmericanEnglish, cases.NoLower)` from
/// golang.org/x/text. Each word's first cased letter is title-cased and the rest is left as is.
/// Words follow x/text's approximation of Unicode word breaking (UAX #29): letters, digits,
/// connector punctuation and marks continue a word; one "mid" character (`'` `.` `:` …) between
/// letters does not break it, two do; anything else breaks. So `o'neil` is `O'neil` and `1st`
/// is `1St` (the first cased letter after the boundary), where Go's old `strings.Title` gave
/// `O'Neil` and `1st`.
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    for (i, &c) in chars.iter().enumerate() {
        let was_mid = is_word_mid(c);
        if is_cased(c) {
            if mid_word {
                out.push(c);
            } else {
                push_titlecase(&mut out, c);
                mid_word = true;
            }
        } else {
            out.push(c);
            if !was_mid && !is_word_letter(c) {
                mid_word = false;
            }
        }
        if was_mid && chars.get(i + 1).is_some_and(|&n| is_word_mid(n)) {
            mid_word = false;
        }
    }
    out
}

/// Word_Break MidLetter, MidNumLet and Single_Quote.
fn is_word_mid(c: char) -> bool {
    matches!(
        c,
        '\'' | '.'
            | ':'
            | '\u{b7}'
            | '\u{387}'
            | '\u{55f}'
            | '\u{5f4}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{2027}'
            | '\u{fe13}'
            | '\u{fe52}'
            | '\u{fe55}'
            | '\u{ff07}'
            | '\u{ff0e}'
            | '\u{ff1a}'
    )
}

/// Word_Break letters for x/text's purpose: ALetter, Hebrew_Letter, Numeric, ExtendNumLet,
/// Extend, Format and ZWJ. Ideographs, kana and other scripts without word letters break.
fn is_word_letter(c: char) -> bool {
    let u = c as u32;
    let cjk = matches!(u, 0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x3ffff);
    if cjk {
        return false;
    }
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '\u{203f}' | '\u{2040}' | '\u{2054}' | '\u{fe33}' | '\u{fe34}' | '\u{fe4d}'
                ..='\u{fe4f}' | '\u{ff3f}'
        )
        || matches!(u, 0x300..=0x36f | 0x200c | 0x200d | 0xad | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff | 0x20d0..=0x20ff | 0xfe20..=0xfe2f)
}

/// Unicode's Cased property.
fn is_cased(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase() || is_titlecase_letter(c)
}

fn is_titlecase_letter(c: char) -> bool {
    matches!(c as u32, 0x1c5 | 0x1c8 | 0x1cb | 0x1f2 | 0x1f88..=0x1f8f | 0x1f98..=0x1f9f | 0x1fa8..=0x1faf | 0x1fbc | 0x1fcc | 0x1ffc)
}

/// Unicode's full Titlecase_Mapping: the upper-case form's first character, the rest lower
/// case (`ß` → `Ss`, `ﬁ` → `Fi`), with the titlecase digraphs (`ǆ` → `ǅ`).
fn push_titlecase(out: &mut String, c: char) {
    let digraph = match c as u32 {
        0x1c4..=0x1c6 => Some('\u{1c5}'),
        0x1c7..=0x1c9 => Some('\u{1c8}'),
        0x1ca..=0x1cc => Some('\u{1cb}'),
        0x1f1..=0x1f3 => Some('\u{1f2}'),
        _ => None,
    };
    if let Some(t) = digraph {
        out.push(t);
        return;
    }
    if is_titlecase_letter(c) {
        out.push(c);
        return;
    }
    let mut upper = c.to_uppercase();
    if let Some(first) = upper.next() {
        out.push(first);
    }
    for rest in upper {
        out.extend(rest.to_lowercase());
    }
}

/// `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && (c.is_control() || (c.is_whitespace())) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The text `html`, `js` and `urlquery` escape: one string as is, else `fmt.Sprint` of all.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    sprint(args)
}

/// Go's builtin functions except `and`/`or`, which the executor evaluates lazily.
pub(crate) fn builtin(name: &str) -> Option<Callable<'static>> {
    const ONE: &[Ty] = &[Ty::Any];
    const TWO: &[Ty] = &[Ty::Any, Ty::Any];
    let c = |params: &'static [Ty],
             variadic: Option<Ty>,
             f: fn(Vec<Value>, Option<&str>) -> Result<Value, String>| {
        Some(Callable {
            params,
            variadic,
            call: Box::new(f),
        })
    };
    match name {
        "and" | "or" => c(ONE, Some(Ty::Any), |a, _| {
            Ok(a.into_iter().next().unwrap_or(Value::Nil))
        }),
        "not" => c(ONE, None, |a, _| Ok(Value::Bool(!a[0].truth()))),
        "len" => c(ONE, None, |a, _| length(&a[0]).map(Value::Int)),
        "index" => c(ONE, Some(Ty::Any), |a, _| index(&a[0], &a[1..])),
        "slice" => c(ONE, Some(Ty::Any), |a, _| slice(&a[0], &a[1..])),
        "print" => c(&[], Some(Ty::Any), |a, _| Ok(Value::String(sprint(&a)))),
        "printf" => c(&[Ty::String], Some(Ty::Any), |a, _| {
            Ok(Value::String(sprintf(str_arg(&a[0]), &a[1..])))
        }),
        "println" => c(&[], Some(Ty::Any), |a, _| Ok(Value::String(sprintln(&a)))),
        "eq" => c(ONE, Some(Ty::Any), |a, _| {
            eq(&a[0], &a[1..]).map(Value::Bool)
        }),
        "ne" => c(TWO, None, |a, _| {
            eq(&a[0], &a[1..]).map(|b| Value::Bool(!b))
        }),
        "lt" => c(TWO, None, |a, _| lt(&a[0], &a[1]).map(Value::Bool)),
        "le" => c(TWO, None, |a, _| {
            Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?))
        }),
        "gt" => c(TWO, None, |a, _| {
            Ok(Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?)))
        }),
        "ge" => c(TWO, None, |a, _| Ok(Value::Bool(!lt(&a[0], &a[1])?))),
        "html" => c(&[], Some(Ty::Any), |a, _| {
            Ok(Value::String(html_escape(&eval_args(&a))))
        }),
        "js" => c(&[], Some(Ty::Any), |a, _| {
            Ok(Value::String(js_escape(&eval_args(&a))))
        }),
        "urlquery" => c(&[], Some(Ty::Any), |a, _| {
            Ok(Value::String(query_escape(&eval_args(&a))))
        }),
        "call" => c(ONE, Some(Ty::Any), |a, callee| match &a[0] {
            Value::Nil => Err("call of nil".into()),
            other => Err(format!(
                "non-function {} of type {}",
                callee.unwrap_or("value"),
                other.type_name()
            )),
        }),
        _ => None,
    }
}

fn length(v: &Value) -> Result<i64, String> {
    Ok(match v {
        Value::String(s) | Value::Html(s) => s.len(),
        Value::Labels(m) => m.len(),
        Value::Map(m) => m.len(),
        Value::List(l) => l.len(),
        Value::Vector(v) => v.len(),
        Value::Nil | Value::Sample(None) => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    } as i64)
}

/// An index into a string (`kind` "string") or slice (`kind` "slice") of `len` elements.
fn index_arg(i: &Value, len: usize, kind: &str) -> Result<usize, String> {
    let x = match i {
        Value::Int(x) => *x,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > len as u64 {
        return Err(format!("index out of range: {x}"));
    }
    // Go checks against the capacity, then reflect panics on index == length.
    if x as u64 == len as u64 {
        return Err(format!("reflect: {kind} index out of range"));
    }
    Ok(x as usize)
}

fn map_key(i: &Value) -> Result<&str, String> {
    match i {
        Value::String(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!(
            "value has type {}; should be string",
            other.type_name()
        )),
    }
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let mut item = item.clone();
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    for i in indexes {
        item = match &item {
            Value::List(l) => l[index_arg(i, l.len(), "slice")?].clone(),
            Value::Vector(v) => Value::Sample(Some(v[index_arg(i, v.len(), "slice")?].clone())),
            Value::String(s) | Value::Html(s) => {
                Value::Int(i64::from(s.as_bytes()[index_arg(i, s.len(), "string")?]))
            }
            Value::Labels(m) => Value::String(m.get(map_key(i)?).cloned().unwrap_or_default()),
            Value::Map(m) => m.get(map_key(i)?).cloned().unwrap_or(Value::Nil),
            Value::Nil | Value::Sample(None) => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    let len = match item {
        Value::Nil => return Err("slice of untyped nil".into()),
        Value::String(s) | Value::Html(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Vector(v) => v.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    if idx.len() == 3 && item.as_str().is_some() {
        return Err("cannot 3-index slice a string".into());
    }
    let mut ix = [0usize, len, len];
    for (k, v) in idx.iter().enumerate() {
        let x = match v {
            Value::Int(x) => *x,
            Value::Nil => return Err("cannot index slice/array with nil".into()),
            other => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ));
            }
        };
        if x < 0 || x as u64 > len as u64 {
            return Err(format!("index out of range: {x}"));
        }
        ix[k] = x as usize;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match item {
        Value::String(s) | Value::Html(s) => {
            let b = &s.as_bytes()[ix[0]..ix[1]];
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        Value::List(l) => Value::List(Arc::new(l[ix[0]..ix[1]].to_vec())),
        Value::Vector(v) => Value::Vector(Arc::new(v[ix[0]..ix[1]].to_vec())),
        _ => Value::Nil,
    })
}

#[derive(PartialEq)]
enum Basic {
    Bool,
    Int,
    Float,
    String,
}

fn basic(v: &Value) -> Option<Basic> {
    match v {
        Value::Bool(_) => Some(Basic::Bool),
        Value::Int(_) | Value::Duration(_) => Some(Basic::Int),
        Value::Float(_) => Some(Basic::Float),
        Value::String(_) | Value::Html(_) => Some(Basic::String),
        _ => None,
    }
}

fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic(a);
    for b in others {
        let k2 = basic(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => x == y,
                _ if k1 == Some(Basic::String) => a.as_str() == b.as_str(),
                (Value::Nil, Value::Nil) => true,
                (Value::Sample(x), Value::Sample(y)) => match (x, y) {
                    (Some(x), Some(y)) => Arc::ptr_eq(x, y),
                    (None, None) => true,
                    _ => false,
                },
                (Value::Time(x), Value::Time(y)) => x == y,
                _ => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        super::fmt::sprint_value(a),
                        a.type_name(),
                        b.type_name(),
                        super::fmt::sprint_value(b)
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    const BAD_TYPE: &str = "invalid type for comparison";
    let k1 = basic(a).ok_or(BAD_TYPE)?;
    let k2 = basic(b).ok_or(BAD_TYPE)?;
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => x < y,
        _ if k1 == Basic::String => a.as_str() < b.as_str(),
        _ => return Err(BAD_TYPE.into()),
    })
}

/// Methods of `*time.Time` and `*time.Duration` that templates call (`.Format`, `.Unix`, …).
pub(crate) fn method(receiver: &Value, name: &str) -> Option<Callable<'static>> {
    let m = |params: &'static [Ty], f: Box<dyn Fn(Vec<Value>) -> Value>| {
        Some(Callable {
            params,
            variadic: None,
            call: Box::new(move |a, _| Ok(f(a))),
        })
    };
    match *receiver {
        Value::Time(ns) => match name {
            "Format" => m(
                &[Ty::String],
                Box::new(move |a| Value::String(go_format(ns, str_arg(&a[0])))),
            ),
            "String" => m(&[], Box::new(move |_| Value::String(format_time(ns)))),
            "Unix" => m(
                &[],
                Box::new(move |_| Value::Int(ns.div_euclid(1_000_000_000))),
            ),
            "UnixMilli" => m(&[], Box::new(move |_| Value::Int(ns.div_euclid(1_000_000)))),
            "UnixMicro" => m(&[], Box::new(move |_| Value::Int(ns.div_euclid(1_000)))),
            "UnixNano" => m(&[], Box::new(move |_| Value::Int(ns))),
            "UTC" | "Local" => m(&[], Box::new(move |_| Value::Time(ns))),
            // The calendar fields, read back from Go's layout for each.
            "Year" | "YearDay" | "Day" | "Hour" | "Minute" | "Second" => {
                let layout = match name {
                    "Year" => "2006",
                    "YearDay" => "002",
                    "Day" => "2",
                    "Hour" => "15",
                    "Minute" => "4",
                    _ => "5",
                };
                m(
                    &[],
                    Box::new(move |_| Value::Int(go_format(ns, layout).parse().unwrap_or(0))),
                )
            }
            "Nanosecond" => m(
                &[],
                Box::new(move |_| Value::Int(ns.rem_euclid(1_000_000_000))),
            ),
            // time.Month and time.Weekday print as their names.
            "Month" => m(
                &[],
                Box::new(move |_| Value::String(go_format(ns, "January"))),
            ),
            "Weekday" => m(
                &[],
                Box::new(move |_| Value::String(go_format(ns, "Monday"))),
            ),
            _ => None,
        },
        Value::Duration(ns) => match name {
            "String" => m(&[], Box::new(move |_| Value::String(format_duration(ns)))),
            "Seconds" => m(&[], Box::new(move |_| Value::Float(ns as f64 / 1e9))),
            "Minutes" => m(&[], Box::new(move |_| Value::Float(ns as f64 / 6e10))),
            "Hours" => m(&[], Box::new(move |_| Value::Float(ns as f64 / 3.6e12))),
            "Milliseconds" => m(&[], Box::new(move |_| Value::Int(ns / 1_000_000))),
            "Microseconds" => m(&[], Box::new(move |_| Value::Int(ns / 1_000))),
            "Nanoseconds" => m(&[], Box::new(move |_| Value::Int(ns))),
            _ => None,
        },
        _ => None,
    }
}

/// Labels as the `map[string]string` templates see.
pub(crate) fn labels_map(ls: &prom_model::Labels) -> BTreeMap<String, String> {
    ls.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizers() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.001234), "1.234m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(-1500.0), "-1.5k");
        assert_eq!(humanize(f64::INFINITY), "+Inf");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0012), "1.2ms");
        assert_eq!(humanize_duration(-65.0), "-1m 5s");
        assert_eq!(humanize_duration(0.0), "0s");
    }

    #[test]
    fn hosts() {
        assert_eq!(split_host_port("a:80"), Some(("a", "80")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("a"), None);
        assert_eq!(strip_domain("foo.example.com:9090"), "foo:9090");
        assert_eq!(strip_domain("foo.example.com"), "foo");
        assert_eq!(strip_domain("10.0.0.1:9090"), "10.0.0.1:9090");
        assert_eq!(strip_domain("[::1]:9090"), "[::1]:9090");
    }

    #[test]
    fn durations_and_strings() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(
            parse_duration("1m1h").unwrap_err(),
            "not a valid duration string: \"1m1h\""
        );
        assert_eq!(
            parse_duration("5x").unwrap_err(),
            "unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(title("hello world-foo_bar"), "Hello World-Foo_bar");
        assert_eq!(
            title("o'neil mc-d x.y 1st ßa ǆx straße ''q 日本abc"),
            "O'neil Mc-D X.y 1St Ssa ǅx Straße ''Q 日本Abc"
        );
        assert_eq!(query_escape("up{job=\"a b\"}"), "up%7Bjob%3D%22a+b%22%7D");
        assert_eq!(url_path("http://host:9090/prom/x?y"), "/prom/x");
        assert_eq!(url_path("http://host"), "");
        assert_eq!(
            js_escape("a'b\"<>&=\\\n"),
            "a\\'b\\\"\\u003C\\u003E\\u0026\\u003D\\\\\\u000A"
        );
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
