//! Series descriptions: `metric{labels} <values…>` with the expanding value notation, as `load`
//! bodies and expected results write them.
//!
//! The accepted language is the one upstream's series-description lexer and grammar accept
//! (see FORMAT.md §4): no hexadecimal numbers (`0x5` is "0, five more times"), `Inf`/`NaN`/`stale`
//! words that swallow any letters, digits, `_` or `:` glued to them (so `Infx3` is an error), a
//! sign only where the grammar has one, items separated by whitespace.

use std::sync::Arc;

use prom_model::{Labels, METRIC_NAME};

use super::lit::{Quotes, parse_go_number, parse_repetition, unquote};
use super::{CounterResetHint, HistogramLiteral, HistogramStep, HistogramValue, SequenceValue};

/// The most sample slots one series line may expand to: a guard against `1x99999999999` taking
/// all memory. The conformance scripts stay below 10 001.
pub const MAX_SLOTS_PER_LINE: usize = 1 << 20;

/// A parsed series line.
#[derive(Debug)]
pub(crate) struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
}

/// A syntax error at byte `pos` of the line.
#[derive(Debug, PartialEq)]
pub(crate) struct SeriesError {
    pub pos: usize,
    pub msg: String,
}

type Result<T> = std::result::Result<T, SeriesError>;

/// Words the series grammar does not accept as a metric name (they lex as operators, modifiers
/// or numbers).
const RESERVED_NAMES: [&str; 8] = [
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "atan2",
    "inf",
    "nan",
];

/// Parses a series description, `metric{labels} <values…>` in the expanding notation, as
/// promtool's rule unit tests write `series` and `values` (joined by a space). The error says
/// at which byte of `text` and why.
///
/// ```
/// use prom_promql::script::{SequenceValue, parse_series_desc};
///
/// let (labels, values) = parse_series_desc(r#"up{job="api"} 1+1x2 _ stale"#)?;
/// assert_eq!(labels.get("job"), Some("api"));
/// assert_eq!(values.len(), 5);
/// assert_eq!(values[2], SequenceValue::Float(3.0));
/// assert_eq!(values[3], SequenceValue::Omitted);
/// # Ok::<(), String>(())
/// ```
pub fn parse_series_desc(text: &str) -> std::result::Result<(Labels, Vec<SequenceValue>), String> {
    parse_series(text.trim())
        .map(|d| (d.labels, d.values))
        .map_err(|e| format!("at byte {}: {}", e.pos + 1, e.msg))
}

/// Parses one series line (already trimmed).
pub(crate) fn parse_series(line: &str) -> Result<SeriesDesc> {
    let mut c = Cursor { s: line, pos: 0 };
    let labels = c.metric()?;
    let mut values = Vec::new();
    if !c.at_end() && !c.skip_space() {
        return Err(c.error(format!(
            "unexpected {} after the metric, expected whitespace and values",
            c.describe()
        )));
    }
    while !c.at_end() {
        c.item(&mut values)?;
        if !c.at_end() && !c.skip_space() {
            return Err(c.error(format!(
                "unexpected {} in series values, expected whitespace between values",
                c.describe()
            )));
        }
    }
    Ok(SeriesDesc { labels, values })
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_alpha(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: u8) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.as_bytes().get(self.pos + k).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn starts_with(&self, p: &str) -> bool {
        self.s
            .as_bytes()
            .get(self.pos..)
            .is_some_and(|r| r.starts_with(p.as_bytes()))
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// Skips a run of whitespace; whether there was any.
    fn skip_space(&mut self) -> bool {
        !self.take_while(is_space).is_empty()
    }

    fn error(&self, msg: impl Into<String>) -> SeriesError {
        self.error_at(self.pos, msg)
    }

    fn error_at(&self, pos: usize, msg: impl Into<String>) -> SeriesError {
        SeriesError {
            pos,
            msg: msg.into(),
        }
    }

    /// The next character, quoted, or "end of line".
    fn describe(&self) -> String {
        match self.s.get(self.pos..).and_then(|r| r.chars().next()) {
            Some(ch) => format!("{ch:?}"),
            None => "end of line".to_owned(),
        }
    }

    // ---- metric -------------------------------------------------------------------------

    /// `name`, `name{…}` or `{…}`.
    fn metric(&mut self) -> Result<Labels> {
        let start = self.pos;
        let name = if self.peek().is_some_and(|c| is_alpha(c) || c == b':') {
            let name = self.take_while(|c| is_alnum(c) || c == b':');
            if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(self.error_at(start, format!("{name:?} cannot be a metric name here")));
            }
            Some(name)
        } else {
            None
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        if self.peek() == Some(b'{') {
            self.label_set(&mut pairs)?;
        } else if name.is_none() {
            return Err(self.error(format!(
                "unexpected {}, expected a metric name or '{{'",
                self.describe()
            )));
        }
        if let Some(name) = name {
            // The name outside the braces wins over a quoted one inside, as upstream sets it last.
            pairs.retain(|(n, _)| n != METRIC_NAME);
            pairs.push((METRIC_NAME.to_owned(), name.to_owned()));
        }
        Ok(pairs.into_iter().collect())
    }

    /// `{` [item {`,` item}] [`,`] `}` where item is `name="v"`, `"name"="v"` or `"metric name"`.
    fn label_set(&mut self, pairs: &mut Vec<(String, String)>) -> Result<()> {
        self.pos += 1; // '{'
        loop {
            self.skip_space();
            if self.eat(b'}') {
                return Ok(());
            }
            let item_start = self.pos;
            let (name, value) = match self.peek() {
                Some(c) if is_alpha(c) => {
                    let name = self.take_while(is_alnum).to_owned();
                    self.skip_space();
                    self.label_equals(&name)?;
                    self.skip_space();
                    (name, self.string()?)
                }
                Some(b'"' | b'\'' | b'`') => {
                    let quoted = self.string()?;
                    self.skip_space();
                    if self.peek() == Some(b'=') {
                        self.label_equals(&quoted)?;
                        self.skip_space();
                        (quoted, self.string()?)
                    } else {
                        (METRIC_NAME.to_owned(), quoted)
                    }
                }
                _ => {
                    return Err(self.error(format!(
                        "unexpected {} in label set, expected a label name or '}}'",
                        self.describe()
                    )));
                }
            };
            if name.is_empty() {
                return Err(self.error_at(item_start, "empty label name"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(self.error_at(item_start, format!("duplicate label name {name:?}")));
            }
            pairs.push((name, value));
            self.skip_space();
            if self.eat(b'}') {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err(self.error(format!(
                    "unexpected {} in label set, expected ',' or '}}'",
                    self.describe()
                )));
            }
        }
    }

    fn label_equals(&mut self, name: &str) -> Result<()> {
        if self.peek() == Some(b'=') && !matches!(self.peek_at(1), Some(b'~')) {
            self.pos += 1;
            return Ok(());
        }
        Err(self.error(format!(
            "unexpected {} after label {name:?}, expected '=' (series lines take no other matchers)",
            self.describe()
        )))
    }

    /// A quoted string token, unquoted.
    fn string(&mut self) -> Result<String> {
        let start = self.pos;
        let Some(quote) = self.peek().filter(|c| matches!(c, b'"' | b'\'' | b'`')) else {
            return Err(self.error(format!(
                "unexpected {}, expected a quoted string",
                self.describe()
            )));
        };
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "unterminated quoted string")),
                Some(b'\\') if quote != b'`' => self.pos += 2,
                Some(c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let token = self.s.get(start..self.pos).unwrap_or("");
        unquote(token, Quotes::PromQl).map_err(|e| self.error_at(start, e))
    }

    // ---- values -------------------------------------------------------------------------

    /// One whitespace-separated item, expanded into `out`.
    fn item(&mut self, out: &mut Vec<SequenceValue>) -> Result<()> {
        let start = self.pos;
        if self.starts_with("{{") {
            return self.histogram_item(out, start);
        }
        if self.eat(b'_') {
            let n = if self.eat(b'x') {
                self.repetition()?
            } else {
                1
            };
            return push_n(out, SequenceValue::Omitted, n, start);
        }
        let first = self.series_value()?;
        match self.peek() {
            Some(b'x') => {
                self.pos += 1;
                let n = self.repetition()?;
                push_n(out, SequenceValue::Float(first), n.saturating_add(1), start)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.pos += 1;
                let mut delta = self.number()?;
                if sign == b'-' {
                    delta = -delta;
                }
                if !self.eat(b'x') {
                    return Err(self.error(format!(
                        "unexpected {}, expected 'x' and a count after an increment",
                        self.describe()
                    )));
                }
                let n = self.repetition()?;
                reserve(out, n.saturating_add(1), start)?;
                // Accumulate as upstream does (value += delta), not start + i·delta: the two differ
                // in the last bits for fractional deltas.
                let mut v = first;
                for _ in 0..=n {
                    out.push(SequenceValue::Float(v));
                    v += delta;
                }
                Ok(())
            }
            _ => {
                reserve(out, 1, start)?;
                out.push(SequenceValue::Float(first));
                Ok(())
            }
        }
    }

    /// `stale`, or an optionally signed number.
    fn series_value(&mut self) -> Result<f64> {
        let start = self.pos;
        if self.peek().is_some_and(is_alpha) {
            let word = self.take_while(|c| is_alnum(c) || c == b':');
            if word == "stale" {
                return Ok(prom_model::value::stale_nan());
            }
            self.pos = start;
            return self.number();
        }
        match self.peek() {
            Some(b'+') => {
                self.pos += 1;
                self.number()
            }
            Some(b'-') => {
                self.pos += 1;
                self.number().map(|v| -v)
            }
            _ => self.number(),
        }
    }

    /// An unsigned number: a numeric token or an `Inf`/`NaN` word.
    fn number(&mut self) -> Result<f64> {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_alpha(c) => {
                let word = self.take_while(|c| is_alnum(c) || c == b':');
                special_number(word).ok_or_else(|| {
                    self.error_at(
                        start,
                        format!(
                            "unexpected {word:?} in series values, expected a number or \"stale\""
                        ),
                    )
                })
            }
            Some(c)
                if c.is_ascii_digit()
                    || (c == b'.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let token = self.number_token()?;
                parse_go_number(token)
                    .ok_or_else(|| self.error_at(start, format!("error parsing number {token:?}")))
            }
            _ => Err(self.error(format!(
                "unexpected {} in series values, expected a number",
                self.describe()
            ))),
        }
    }

    /// The extent of a numeric token, as upstream's scanner delimits one in series values:
    /// `[.][d][d._eE]*` with no repeated `.` or exponent, `_` only between digits, and nothing
    /// alphanumeric after it except the `x` of a repetition.
    fn number_token(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let bad = |c: &Self| {
            let end = (c.pos + 1).min(c.s.len());
            let text = c.s.get(start..end).unwrap_or("");
            c.error_at(start, format!("bad number syntax: {text:?}"))
        };
        self.eat(b'.');
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let (mut dot, mut exp) = (false, false);
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'e' | b'E'))
        {
            match c {
                b'.' => {
                    if dot {
                        return Err(bad(self));
                    }
                    dot = true;
                    self.pos += 1;
                    if matches!(self.peek(), Some(b'_' | b'.')) {
                        return Err(bad(self));
                    }
                }
                b'e' | b'E' => {
                    if exp {
                        return Err(bad(self));
                    }
                    exp = true;
                    self.pos += 1;
                    if matches!(self.peek(), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                    if matches!(self.peek(), None | Some(b'.' | b'_' | b'e' | b'E')) {
                        return Err(bad(self));
                    }
                }
                b'_' => {
                    self.pos += 1;
                    if matches!(self.peek(), None | Some(b'.' | b'_' | b'e' | b'E')) {
                        return Err(bad(self));
                    }
                }
                _ => {
                    self.take_while(|c| c.is_ascii_digit());
                }
            }
        }
        if self.pos == start || self.peek().is_some_and(|c| c != b'x' && is_alnum(c)) {
            return Err(bad(self));
        }
        Ok(self.s.get(start..self.pos).unwrap_or(""))
    }

    /// The count after an `x`: decimal digits.
    fn repetition(&mut self) -> Result<u64> {
        self.unsigned("a repetition count after 'x'")
    }

    /// Decimal digits (scanned as a number token, so `3.5` or `1e3` are rejected as a whole).
    fn unsigned(&mut self, what: &str) -> Result<u64> {
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            return Err(self.error(format!("unexpected {}, expected {what}", self.describe())));
        }
        let token = self.number_token()?;
        parse_repetition(token)
            .ok_or_else(|| self.error_at(start, format!("invalid {what}: {token:?}")))
    }

    // ---- native histograms --------------------------------------------------------------

    /// `{{…}}`, `{{…}}xN`, `{{A}}+{{B}}xN` or `{{A}}-{{B}}xN`.
    fn histogram_item(&mut self, out: &mut Vec<SequenceValue>, start: usize) -> Result<()> {
        let base = Arc::new(self.histogram_literal()?);
        match self.peek() {
            Some(b'x') => {
                self.pos += 1;
                let n = self.repetition()?;
                let value = SequenceValue::Histogram(HistogramValue { base, step: None });
                push_n(out, value, n.saturating_add(1), start)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.pos += 1;
                if !self.starts_with("{{") {
                    return Err(self.error(format!(
                        "unexpected {}, expected a histogram '{{{{' after '{}'",
                        self.describe(),
                        char::from(sign)
                    )));
                }
                let delta = Arc::new(self.histogram_literal()?);
                if !self.eat(b'x') {
                    return Err(self.error(format!(
                        "unexpected {}, expected 'x' and a count after a histogram increment",
                        self.describe()
                    )));
                }
                let n = self.repetition()?;
                reserve(out, n.saturating_add(1), start)?;
                for times in 0..=n {
                    out.push(SequenceValue::Histogram(HistogramValue {
                        base: base.clone(),
                        step: Some(HistogramStep {
                            delta: delta.clone(),
                            subtract: sign == b'-',
                            times,
                        }),
                    }));
                }
                Ok(())
            }
            _ => {
                reserve(out, 1, start)?;
                out.push(SequenceValue::Histogram(HistogramValue {
                    base,
                    step: None,
                }));
                Ok(())
            }
        }
    }

    /// `{{` [key:value {space key:value}] [space] `}}`.
    fn histogram_literal(&mut self) -> Result<HistogramLiteral> {
        self.pos += 2; // "{{"
        let mut h = HistogramLiteral::default();
        if self.skip_space() {
            if self.starts_with("}}") {
                self.pos += 2;
                return Ok(h);
            }
            return Err(self.error("a histogram description cannot start with whitespace"));
        }
        if self.starts_with("}}") {
            self.pos += 2;
            return Ok(h);
        }
        loop {
            self.histogram_field(&mut h)?;
            let spaced = self.skip_space();
            if self.starts_with("}}") {
                self.pos += 2;
                return Ok(h);
            }
            if !spaced {
                return Err(self.error(format!(
                    "unexpected {} in histogram description, expected a space or '}}}}'",
                    self.describe()
                )));
            }
        }
    }

    fn histogram_field(&mut self, h: &mut HistogramLiteral) -> Result<()> {
        let start = self.pos;
        let key = self.take_while(is_alpha);
        if key.is_empty() {
            return Err(self.error(format!(
                "unexpected {} in histogram description, expected a key such as buckets:[5 10 7]",
                self.describe()
            )));
        }
        let key = key.to_ascii_lowercase();
        if !self.eat(b':') {
            return Err(self.error_at(
                start,
                format!("bad histogram descriptor {key:?}, expected key:value"),
            ));
        }
        let duplicate = |c: &Self| {
            c.error_at(
                start,
                format!("duplicate key {key:?} in histogram description"),
            )
        };
        macro_rules! set {
            ($field:ident, $value:expr) => {{
                if h.$field.is_some() {
                    return Err(duplicate(self));
                }
                h.$field = Some($value);
            }};
        }
        match key.as_str() {
            "schema" => set!(schema, self.hist_int()?),
            "offset" => set!(offset, self.hist_int()?),
            "n_offset" => set!(negative_offset, self.hist_int()?),
            "sum" => set!(sum, self.hist_float()?),
            "count" => set!(count, self.hist_float()?),
            "z_bucket" => set!(zero_count, self.hist_float()?),
            "z_bucket_w" => set!(zero_threshold, self.hist_float()?),
            "buckets" => set!(buckets, self.hist_floats()?),
            "n_buckets" => set!(negative_buckets, self.hist_floats()?),
            "custom_values" => set!(custom_values, self.hist_floats()?),
            "counter_reset_hint" => {
                let word_start = self.pos;
                let word = self.take_while(is_alpha).to_ascii_lowercase();
                let hint = match word.as_str() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    _ => {
                        return Err(self.error_at(
                            word_start,
                            "expected a counter reset hint: unknown, reset, not_reset or gauge",
                        ));
                    }
                };
                set!(counter_reset_hint, hint)
            }
            _ => return Err(self.error_at(start, format!("bad histogram descriptor {key:?}"))),
        }
        Ok(())
    }

    /// `[-]digits`.
    fn hist_int(&mut self) -> Result<i64> {
        let start = self.pos;
        let neg = self.eat(b'-');
        let n = self.unsigned("an integer")?;
        let n = i64::try_from(n).map_err(|_| self.error_at(start, "integer out of range"))?;
        Ok(if neg { -n } else { n })
    }

    /// `[-]number` where number may be `Inf`/`NaN` (letters only, as inside histograms).
    fn hist_float(&mut self) -> Result<f64> {
        let start = self.pos;
        let neg = self.eat(b'-');
        let v = if self.peek().is_some_and(is_alpha) {
            let word = self.take_while(is_alpha);
            special_number(word).ok_or_else(|| {
                self.error_at(
                    start,
                    format!("unexpected {word:?} in histogram description, expected a number"),
                )
            })?
        } else if self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            let token = self.number_token()?;
            parse_go_number(token)
                .ok_or_else(|| self.error_at(start, format!("error parsing number {token:?}")))?
        } else {
            return Err(self.error(format!(
                "unexpected {} in histogram description, expected a number",
                self.describe()
            )));
        };
        Ok(if neg { -v } else { v })
    }

    /// `[` number {space number} [space] `]`.
    fn hist_floats(&mut self) -> Result<Vec<f64>> {
        if !self.eat(b'[') {
            return Err(self.error(format!("unexpected {}, expected '['", self.describe())));
        }
        let mut out = Vec::new();
        loop {
            if out.len() >= MAX_SLOTS_PER_LINE {
                return Err(self.error("too many buckets"));
            }
            out.push(self.hist_float()?);
            let spaced = self.skip_space();
            if self.eat(b']') {
                return Ok(out);
            }
            if !spaced {
                return Err(self.error(format!(
                    "unexpected {} in bucket list, expected a space or ']'",
                    self.describe()
                )));
            }
        }
    }
}

/// `Inf` or `NaN` in any case (upstream's lexer turns exactly these words into numbers).
fn special_number(word: &str) -> Option<f64> {
    if word.eq_ignore_ascii_case("inf") {
        Some(f64::INFINITY)
    } else if word.eq_ignore_ascii_case("nan") {
        Some(prom_model::value::normal_nan())
    } else {
        None
    }
}

fn reserve(out: &mut Vec<SequenceValue>, n: u64, pos: usize) -> Result<()> {
    let total = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(out.len()));
    if total.is_none_or(|t| t > MAX_SLOTS_PER_LINE) {
        return Err(SeriesError {
            pos,
            msg: format!("series line expands to more than {MAX_SLOTS_PER_LINE} values"),
        });
    }
    out.reserve(usize::try_from(n).unwrap_or(0));
    Ok(())
}

fn push_n(out: &mut Vec<SequenceValue>, v: SequenceValue, n: u64, pos: usize) -> Result<()> {
    reserve(out, n, pos)?;
    for _ in 0..n {
        out.push(v.clone());
    }
    Ok(())
}
