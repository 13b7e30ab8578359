//! The streaming parser: an iterator of [`Entry`] over the input bytes.
//!
//! Both formats share one line-oriented loop. The Prometheus text format is lenient where
//! Prometheus is (spaces and tabs between tokens, trailing commas in label sets, a missing
//! final newline, any `#` line a comment); OpenMetrics follows its ABNF to the byte and
//! enforces the format's rules on families, metrics and values (see [`crate::openmetrics`]).
//!
//! After an error the parser resumes at the next line, so a checker can report every problem;
//! a scraper must treat any error as a failed scrape, since a partial exposition is invalid.

use std::borrow::Cow;

use prom_model::MetricType;

use crate::entry::{
    Entry, Exemplar, LabelSet, Sample, unescape_label, unescape_om_help, unescape_text_help,
};
use crate::error::{ErrorKind, ParseError, Position, Result, describe_found};
use crate::grammar::{
    GrammarError, GrammarErrorKind, PResult, blanks, is_metric_name_char, label_name, metric_name,
    om_token, parse_float, parse_om_number, parse_om_timestamp, parse_text_timestamp, quoted,
    text_token,
};
use crate::negotiate::Format;
use crate::openmetrics::{Metadata, OmState, Where};

type GResult<T> = std::result::Result<T, GrammarError>;

/// Unwraps a nom result into the rest and the output, or the grammar error.
#[inline]
fn g<'a, T>(r: PResult<'a, T>) -> GResult<(&'a [u8], T)> {
    r.map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => GrammarError {
            rest_len: 0,
            kind: GrammarErrorKind::Expected("more input"),
        },
    })
}

/// A streaming parser over one exposition. Iterate it to get entries; each item is an entry or
/// an error at a line and column.
///
/// ```
/// use prom_exposition::{Entry, Format, Parser};
///
/// let input = b"# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n";
/// let entries: Vec<_> = Parser::new(input, Format::Text).collect::<Result<_, _>>().unwrap();
/// let Entry::Sample(s) = &entries[1] else { panic!() };
/// assert_eq!(s.name, "http_requests_total");
/// assert_eq!(s.labels.get("code").as_deref(), Some("200"));
/// assert_eq!((s.value, s.timestamp), (1027.0, Some(1395066363000)));
/// ```
#[derive(Debug)]
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    line: u32,
    format: Format,
    /// Label names of the sample being parsed, for the duplicate check; reused across lines.
    /// Names are compared decoded: borrowed as written unless a quoted name holds an escape.
    names: Vec<Cow<'a, [u8]>>,
    om: OmState<'a>,
    eof_seen: bool,
    done: bool,
}

/// Where a quoted metric name sits inside a label set.
#[derive(Clone, Copy)]
struct QuotedName {
    /// Offset of the string body from the start of the series text.
    start: usize,
    len: usize,
    escaped: bool,
}

impl<'a> Parser<'a> {
    /// A parser for `input` in `format`.
    pub fn new(input: &'a [u8], format: Format) -> Self {
        Parser {
            input,
            pos: 0,
            line: 1,
            format,
            names: Vec::new(),
            om: OmState::default(),
            eof_seen: false,
            done: false,
        }
    }

    /// A parser for the Prometheus text format.
    pub fn text(input: &'a [u8]) -> Self {
        Self::new(input, Format::Text)
    }

    /// A parser for OpenMetrics text.
    pub fn openmetrics(input: &'a [u8]) -> Self {
        Self::new(input, Format::OpenMetrics)
    }

    /// The format being parsed.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The 1-based line the next entry starts on.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// If the next line is a sample whose series text is exactly `series`, reads it and returns
    /// its value and timestamp; otherwise (or in OpenMetrics) reads nothing and returns `None`.
    ///
    /// `series` must be the [`Sample::series`] of a sample this format's parser accepted
    /// (from any input): its label set is then known to be valid, and only the rest of the
    /// line is parsed. This is a scraper's fast path for series it has seen before. It gives
    /// the same value and timestamp as iterating would, and gives up (returning `None`, so the
    /// caller iterates and gets the full answer, error included) on any line it does not
    /// accept, so it never accepts what iterating would reject.
    pub fn next_sample_of(&mut self, series: &str) -> Option<(f64, Option<i64>)> {
        if self.done || self.format != Format::Text || series.is_empty() {
            return None;
        }
        let i = skip_blanks(&self.input[self.pos..]);
        let rest = i.strip_prefix(series.as_bytes())?;
        if !series.ends_with('}') {
            // A bare metric name: the line's name must end here, and no label set may follow
            // after blanks (the text format allows `name {labels}`).
            if !matches!(rest.first(), Some(b' ' | b'\t'))
                || skip_blanks(rest).first() == Some(&b'{')
            {
                return None;
            }
        }
        let i = skip_blanks(rest);
        if i.len() == rest.len() {
            return None;
        }
        let tok_len = i
            .iter()
            .position(|&c| matches!(c, b' ' | b'\t' | b'\n'))
            .unwrap_or(i.len());
        if tok_len == 0 {
            return None;
        }
        let value = parse_float(&i[..tok_len])?;
        let mut i = skip_blanks(&i[tok_len..]);
        let mut timestamp = None;
        if !matches!(i.first(), None | Some(b'\n')) {
            if i.first() == Some(&b'#') {
                return None;
            }
            let tok_len = i
                .iter()
                .position(|&c| matches!(c, b' ' | b'\t' | b'\n'))
                .unwrap_or(i.len());
            timestamp = Some(parse_text_timestamp(&i[..tok_len])?);
            i = skip_blanks(&i[tok_len..]);
            if !matches!(i.first(), None | Some(b'\n')) {
                return None;
            }
        }
        self.finish_line(i);
        Some((value, timestamp))
    }

    fn offset_of(&self, rest_len: usize) -> usize {
        self.input.len().saturating_sub(rest_len)
    }

    fn error_at(&self, offset: usize, kind: ErrorKind) -> ParseError {
        ParseError {
            pos: Position::locate(self.input, self.pos, self.line, offset),
            kind,
        }
    }

    fn grammar_error(&self, e: GrammarError) -> ParseError {
        let offset = self.offset_of(e.rest_len);
        let kind = match e.kind {
            GrammarErrorKind::Kind(k) => k,
            GrammarErrorKind::Expected(what) => ErrorKind::Expected {
                expected: what,
                found: describe_found(&self.input[offset.min(self.input.len())..]),
            },
        };
        self.error_at(offset, kind)
    }

    /// Moves past the current line (after an error).
    fn skip_line(&mut self) {
        let rest = &self.input[self.pos..];
        self.pos = match rest.iter().position(|&b| b == b'\n') {
            Some(k) => self.pos + k + 1,
            None => self.input.len(),
        };
        self.line += 1;
    }

    /// Moves to `rest`, which must start with a newline or be empty, and past that newline.
    fn finish_line(&mut self, rest: &'a [u8]) {
        self.pos = self.offset_of(rest.len()) + usize::from(!rest.is_empty());
        self.line += 1;
    }

    /// Requires the end of the line (or, in the text format, of the input) at `rest`.
    fn end_of_line(&self, rest: &'a [u8]) -> GResult<()> {
        match rest.first() {
            Some(b'\n') => Ok(()),
            None if self.format == Format::Text => Ok(()),
            _ => Err(invalid_expected(rest, "end of line")),
        }
    }

    fn text_entry(&mut self) -> GResult<Option<Entry<'a>>> {
        let (i, _) = g(blanks(&self.input[self.pos..]))?;
        match i.first() {
            None => {
                self.pos = self.input.len();
                Ok(None)
            }
            Some(b'\n') => {
                self.finish_line(i);
                Ok(None)
            }
            Some(b'#') => self.text_comment(&i[1..]),
            Some(_) => {
                let (sample, rest) = self.sample(i)?;
                self.finish_line(rest);
                Ok(Some(Entry::Sample(sample)))
            }
        }
    }

    fn text_comment(&mut self, after_hash: &'a [u8]) -> GResult<Option<Entry<'a>>> {
        let (i, _) = g(blanks(after_hash))?;
        let is_meta = |kw: &[u8]| i.starts_with(kw) && matches!(i.get(4), Some(b' ' | b'\t'));
        let help = is_meta(b"HELP");
        if !help && !is_meta(b"TYPE") {
            let end = line_end(after_hash);
            let (text, rest) = after_hash.split_at(end);
            self.finish_line(rest);
            // Prometheus ignores comments whatever they hold; so do we when they are not UTF-8.
            return Ok(std::str::from_utf8(text).ok().map(Entry::Comment));
        }
        let (i, _) = g(blanks(&i[4..]))?;
        let (i, family) = self.meta_name(i)?;
        if help {
            let (text, rest) = match i.first() {
                Some(b' ' | b'\t') => i[1..].split_at(line_end(&i[1..])),
                Some(b'\n') | None => (&i[..0], i),
                Some(_) => return Err(invalid_expected(i, "space after metric name")),
            };
            let text = self.utf8(text)?;
            self.finish_line(rest);
            return Ok(Some(Entry::Help {
                family,
                help: unescape_text_help(text),
            }));
        }
        let (j, sep) = g(blanks(i))?;
        if sep.is_empty() {
            return Err(invalid_expected(i, "space after metric name"));
        }
        let end = line_end(j);
        let word = trim_blanks_end(&j[..end]);
        let metric_type = match word {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"summary" => MetricType::Summary,
            b"untyped" => MetricType::Unknown,
            _ => {
                return Err(invalid(
                    j,
                    ErrorKind::InvalidMetricType(String::from_utf8_lossy(word).into_owned()),
                ));
            }
        };
        self.finish_line(&j[end..]);
        Ok(Some(Entry::Type {
            family,
            metric_type,
        }))
    }

    /// A metric name in a HELP/TYPE/UNIT line: bare or quoted.
    fn meta_name(&self, i: &'a [u8]) -> GResult<(&'a [u8], Cow<'a, str>)> {
        if i.first() == Some(&b'"') {
            let (rest, (body, escaped)) = g(quoted(i))?;
            let body = self.utf8(body)?;
            if body.is_empty() {
                return Err(invalid_expected(i, "non-empty metric name"));
            }
            return Ok((rest, unescape_label(body, escaped)));
        }
        let (rest, name) = g(metric_name(i))?;
        Ok((rest, Cow::Borrowed(ascii(name))))
    }

    /// `bytes` (a slice of the input) as `str`, or an error at its first invalid byte.
    fn utf8(&self, bytes: &'a [u8]) -> GResult<&'a str> {
        std::str::from_utf8(bytes).map_err(|e| {
            // Pointer difference within the one input slice: no unsafe needed.
            let start = (bytes.as_ptr() as usize).saturating_sub(self.input.as_ptr() as usize);
            GrammarError {
                rest_len: self.input.len().saturating_sub(start + e.valid_up_to()),
                kind: GrammarErrorKind::Kind(ErrorKind::InvalidUtf8),
            }
        })
    }

    /// A sample line, from its first byte. Returns the sample and the input at its line end;
    /// the caller moves past the line once it has accepted the sample.
    fn sample(&mut self, start: &'a [u8]) -> GResult<(Sample<'a>, &'a [u8])> {
        let om = self.format == Format::OpenMetrics;
        let mut i = start;
        let mut bare = None;
        if i.first() != Some(&b'{') {
            let (r, name) = g(metric_name(i))?;
            bare = Some(name);
            i = r;
            if !om {
                // The text format allows blanks between the name and the label set.
                let (r, _) = g(blanks(i))?;
                if r.first() == Some(&b'{') {
                    i = r;
                }
            }
        }
        let mut quoted_name = None;
        let mut brace = None;
        if i.first() == Some(&b'{') {
            brace = Some(start.len() - i.len());
            let (r, qn) = self.label_set(start, i, bare.is_some())?;
            quoted_name = qn;
            i = r;
        }
        let series_bytes = &start[..start.len() - i.len()];
        let series = self.utf8(series_bytes)?;
        let name = match (bare, quoted_name) {
            (Some(n), _) => Cow::Borrowed(&series[..n.len()]),
            (None, Some(q)) => unescape_label(&series[q.start..q.start + q.len], q.escaped),
            (None, None) => return Err(invalid(start, ErrorKind::MissingMetricName)),
        };
        let labels = match brace {
            Some(b) => LabelSet::new(&series[b + 1..series.len() - 1]),
            None => LabelSet::default(),
        };

        // Value.
        let i = if om {
            match i.first() {
                Some(b' ') => &i[1..],
                _ => return Err(invalid_expected(i, "' ' before value")),
            }
        } else {
            let (r, sep) = g(blanks(i))?;
            if sep.is_empty() {
                let what = if brace.is_some() {
                    "space before value"
                } else {
                    "'{' or space after metric name"
                };
                return Err(invalid_expected(i, what));
            }
            r
        };
        let at = i;
        let (mut i, tok) = g(if om { om_token(i) } else { text_token(i) })
            .map_err(|_| invalid_expected(at, "value"))?;
        let value = if om {
            parse_om_number(tok)
        } else {
            parse_float(tok)
        };
        let Some(value) = value else {
            return Err(invalid(at, ErrorKind::InvalidNumber(lossy(tok))));
        };

        let mut timestamp = None;
        let mut exemplar = None;
        if om {
            if i.first() == Some(&b' ') {
                i = &i[1..];
                if i.first() != Some(&b'#') {
                    let at = i;
                    let (r, tok) = g(om_token(i))
                        .map_err(|_| invalid_expected(at, "timestamp or exemplar"))?;
                    timestamp = Some(
                        parse_om_timestamp(tok)
                            .ok_or_else(|| invalid(at, ErrorKind::InvalidTimestamp(lossy(tok))))?,
                    );
                    i = r;
                    if i.first() == Some(&b' ') {
                        i = &i[1..];
                        if i.first() != Some(&b'#') {
                            return Err(invalid_expected(i, "'#' starting an exemplar"));
                        }
                    }
                }
                if i.first() == Some(&b'#') {
                    let (r, ex) = self.exemplar(i)?;
                    exemplar = Some(ex);
                    i = r;
                }
            }
        } else {
            let (r, _) = g(blanks(i))?;
            i = r;
            if i.first() == Some(&b'#') {
                return Err(invalid(i, ErrorKind::ExemplarNotAllowed));
            }
            if !matches!(i.first(), None | Some(b'\n')) {
                let at = i;
                let (r, tok) = g(text_token(i))?;
                timestamp = Some(
                    parse_text_timestamp(tok)
                        .ok_or_else(|| invalid(at, ErrorKind::InvalidTimestamp(lossy(tok))))?,
                );
                let (r, _) = g(blanks(r))?;
                i = r;
            }
        }
        self.end_of_line(i)?;
        let sample = Sample {
            name,
            labels,
            value,
            timestamp,
            exemplar,
            series,
            line: self.line,
        };
        Ok((sample, i))
    }

    /// ` # {labels} value [timestamp]` after a sample (OpenMetrics), from the `#`.
    fn exemplar(&mut self, i: &'a [u8]) -> GResult<(&'a [u8], Exemplar<'a>)> {
        let Some(i) = i.strip_prefix(b"# ") else {
            return Err(invalid_expected(i, "\"# \" starting an exemplar"));
        };
        if i.first() != Some(&b'{') {
            return Err(invalid_expected(i, "'{' starting the exemplar's labels"));
        }
        let (r, qn) = self.label_set(i, i, true)?;
        debug_assert!(
            qn.is_none(),
            "label_set rejects a quoted name when told one exists"
        );
        let body = self.utf8(&i[1..i.len() - r.len() - 1])?;
        let Some(r) = r.strip_prefix(b" ") else {
            return Err(invalid_expected(r, "' ' before the exemplar value"));
        };
        let at = r;
        let (mut r, tok) = g(om_token(r)).map_err(|_| invalid_expected(at, "exemplar value"))?;
        let value = parse_om_number(tok)
            .ok_or_else(|| invalid(at, ErrorKind::InvalidNumber(lossy(tok))))?;
        let mut timestamp = None;
        if let Some(after) = r.strip_prefix(b" ") {
            let at = after;
            let (after, tok) =
                g(om_token(after)).map_err(|_| invalid_expected(at, "exemplar timestamp"))?;
            timestamp = Some(
                parse_om_timestamp(tok)
                    .ok_or_else(|| invalid(at, ErrorKind::InvalidTimestamp(lossy(tok))))?,
            );
            r = after;
        }
        Ok((
            r,
            Exemplar {
                labels: LabelSet::new(body),
                value,
                timestamp,
            },
        ))
    }

    /// A label set from its `{`. `series_start` is where the series text starts, for the
    /// quoted-name offsets; `has_name` says a metric name was already given, so a quoted one
    /// would be a second.
    fn label_set(
        &mut self,
        series_start: &'a [u8],
        open: &'a [u8],
        has_name: bool,
    ) -> GResult<(&'a [u8], Option<QuotedName>)> {
        let om = self.format == Format::OpenMetrics;
        let skip = |i: &'a [u8]| {
            if om {
                Ok(i)
            } else {
                g(blanks(i)).map(|(r, _)| r)
            }
        };
        let mut i = skip(&open[1..])?;
        let mut qn: Option<QuotedName> = None;
        self.names.clear();
        if let Some(r) = i.strip_prefix(b"}") {
            return Ok((r, None));
        }
        loop {
            let item = i;
            let name: Cow<'a, [u8]>;
            if i.first() == Some(&b'"') {
                let (r, (body, escaped)) = g(quoted(i))?;
                let r = skip(r)?;
                if r.first() != Some(&b'=') {
                    // A quoted string alone is the metric name.
                    if has_name || qn.is_some() {
                        return Err(invalid(item, ErrorKind::DuplicateMetricName));
                    }
                    if body.is_empty() {
                        return Err(invalid_expected(item, "non-empty metric name"));
                    }
                    qn = Some(QuotedName {
                        start: series_start.len() - item.len() + 1,
                        len: body.len(),
                        escaped,
                    });
                    i = r;
                    i = self.after_label(i, om)?;
                    match i {
                        [b'}', rest @ ..] => return Ok((rest, qn)),
                        _ => continue,
                    }
                }
                if body.is_empty() {
                    return Err(invalid_expected(item, "non-empty label name"));
                }
                name = if escaped {
                    Cow::Owned(unescape_bytes(body))
                } else {
                    Cow::Borrowed(body)
                };
                i = r;
            } else {
                let (r, n) = g(label_name(i))?;
                name = Cow::Borrowed(n);
                i = skip(r)?;
            }
            if self.names.contains(&name) {
                return Err(invalid(
                    item,
                    ErrorKind::DuplicateLabel(String::from_utf8_lossy(&name).into_owned()),
                ));
            }
            self.names.push(name);
            let Some(r) = i.strip_prefix(b"=") else {
                return Err(invalid_expected(i, "'=' after label name"));
            };
            i = skip(r)?;
            if i.first() != Some(&b'"') {
                return Err(invalid_expected(i, "'\"' starting the label value"));
            }
            let (r, _) = g(quoted(i))?;
            i = self.after_label(r, om)?;
            if let [b'}', rest @ ..] = i {
                return Ok((rest, qn));
            }
        }
    }

    /// After a label: a `,` (then, in OpenMetrics, another label) or the closing `}`.
    /// Returns the input at the next label, or at the `}`.
    ///
    /// Prometheus's text parser treats the comma between labels as optional
    /// (`{a="1" b="2"}` parses) and allows a trailing one; OpenMetrics allows neither.
    fn after_label(&self, i: &'a [u8], om: bool) -> GResult<&'a [u8]> {
        let starts_label = |r: &[u8]| matches!(r.first(), Some(&c) if c == b'"' || crate::grammar::is_label_name_start(c));
        let i = if om { i } else { g(blanks(i))?.0 };
        match i.first() {
            Some(b'}') => Ok(i),
            Some(b',') => {
                let r = if om { &i[1..] } else { g(blanks(&i[1..]))?.0 };
                match r.first() {
                    Some(b'}') if !om => Ok(r),
                    _ if starts_label(r) => Ok(r),
                    _ => Err(invalid_expected(r, "label name")),
                }
            }
            _ if !om && starts_label(i) => Ok(i),
            _ => Err(invalid_expected(i, "',' or '}'")),
        }
    }

    fn om_entry(&mut self) -> GResult<Option<Entry<'a>>> {
        let i = &self.input[self.pos..];
        match i.first() {
            Some(b'#') => self.om_descriptor(i),
            Some(b'\n') => Err(invalid_expected(
                i,
                "metric name or '#' (OpenMetrics has no blank lines)",
            )),
            _ => {
                let line_start = i;
                let (sample, rest) = self.sample(i)?;
                self.om.sample(&sample).map_err(|(msg, at)| {
                    let offset = match at {
                        Where::Line => 0,
                        Where::Value => sample.series.len() + 1,
                    };
                    GrammarError {
                        rest_len: line_start.len() - offset,
                        kind: GrammarErrorKind::Kind(ErrorKind::OpenMetrics(msg)),
                    }
                })?;
                self.finish_line(rest);
                Ok(Some(Entry::Sample(sample)))
            }
        }
    }

    fn om_descriptor(&mut self, i: &'a [u8]) -> GResult<Option<Entry<'a>>> {
        if let Some(after) = i.strip_prefix(b"# EOF") {
            match after {
                [] | [b'\n'] => {
                    self.om.finish().map_err(|msg| om_error(i, msg))?;
                    self.eof_seen = true;
                    self.pos = self.input.len();
                    return Ok(None);
                }
                [b'\n', rest @ ..] => {
                    // Report it on the line where the extra data starts.
                    self.finish_line(after);
                    return Err(invalid(rest, ErrorKind::DataAfterEof));
                }
                _ => return Err(invalid_expected(after, "end of line after \"# EOF\"")),
            }
        }
        let (kind, r) = if let Some(r) = i.strip_prefix(b"# TYPE ") {
            (Metadata::Type, r)
        } else if let Some(r) = i.strip_prefix(b"# HELP ") {
            (Metadata::Help, r)
        } else if let Some(r) = i.strip_prefix(b"# UNIT ") {
            (Metadata::Unit, r)
        } else {
            return Err(invalid_expected(
                i,
                "\"# TYPE \", \"# HELP \", \"# UNIT \" or \"# EOF\"",
            ));
        };
        let (r, family) = self.meta_name(r)?;
        let Some(r) = r.strip_prefix(b" ") else {
            return Err(invalid_expected(r, "' ' after metric name"));
        };
        let end = line_end(r);
        let (text, rest) = r.split_at(end);
        if rest.is_empty() {
            return Err(invalid_expected(rest, "end of line"));
        }
        let entry = match kind {
            Metadata::Type => {
                let metric_type = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => return Err(invalid(r, ErrorKind::InvalidMetricType(lossy(text)))),
                };
                Entry::Type {
                    family,
                    metric_type,
                }
            }
            Metadata::Help => {
                // escaped-string: no raw '"', and a backslash escapes the next character.
                let mut k = 0;
                while let Some(&c) = text.get(k) {
                    match c {
                        b'"' => {
                            return Err(invalid_expected(
                                &r[k..],
                                "'\\\"' (a raw '\"' must be escaped in HELP)",
                            ));
                        }
                        b'\\' if k + 1 == text.len() => {
                            return Err(invalid_expected(&r[k + 1..], "escaped character"));
                        }
                        b'\\' => k += 2,
                        _ => k += 1,
                    }
                }
                let text = self.utf8(text)?;
                Entry::Help {
                    family,
                    help: unescape_om_help(text),
                }
            }
            Metadata::Unit => {
                if let Some(k) = text.iter().position(|&c| !is_metric_name_char(c)) {
                    return Err(invalid_expected(
                        &r[k..],
                        "unit (letters, digits, '_' or ':')",
                    ));
                }
                Entry::Unit {
                    family,
                    unit: ascii(text),
                }
            }
        };
        let (name, value, unit) = match &entry {
            Entry::Type {
                family,
                metric_type,
            } => (family.clone(), Some(*metric_type), ""),
            Entry::Help { family, .. } => (family.clone(), None, ""),
            Entry::Unit { family, unit } => (family.clone(), None, *unit),
            Entry::Comment(_) | Entry::Sample(_) => return Ok(Some(entry)),
        };
        self.om
            .metadata(kind, name, value, unit)
            .map_err(|msg| om_error(i, msg))?;
        self.finish_line(rest);
        Ok(Some(entry))
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.pos >= self.input.len() {
                self.done = true;
                if self.format == Format::OpenMetrics && !self.eof_seen {
                    return Some(Err(self.error_at(self.input.len(), ErrorKind::MissingEof)));
                }
                return None;
            }
            let r = match self.format {
                Format::Text => self.text_entry(),
                Format::OpenMetrics => self.om_entry(),
            };
            match r {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => {}
                Err(e) => {
                    let err = self.grammar_error(e);
                    if err.kind == ErrorKind::DataAfterEof {
                        // Nothing after # EOF is read.
                        self.done = true;
                        self.eof_seen = true;
                    } else {
                        self.skip_line();
                    }
                    return Some(Err(err));
                }
            }
        }
        None
    }
}

fn om_error(at: &[u8], msg: String) -> GrammarError {
    GrammarError {
        rest_len: at.len(),
        kind: GrammarErrorKind::Kind(ErrorKind::OpenMetrics(msg)),
    }
}

/// An error at `at`, the input from the offending token on.
fn invalid(at: &[u8], kind: ErrorKind) -> GrammarError {
    GrammarError {
        rest_len: at.len(),
        kind: GrammarErrorKind::Kind(kind),
    }
}

/// Decodes the escapes of a quoted string's body as [`unescape_label`] does, on bytes (the
/// rare path: only names that hold an escape need it).
fn unescape_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut k = 0;
    while let Some(&c) = body.get(k) {
        if c == b'\\' {
            match body.get(k + 1) {
                Some(b'\\') => out.push(b'\\'),
                Some(b'"') => out.push(b'"'),
                Some(b'n') => out.push(b'\n'),
                Some(&e) => out.extend_from_slice(&[b'\\', e]),
                None => out.push(b'\\'),
            }
            k += 2;
        } else {
            out.push(c);
            k += 1;
        }
    }
    out
}

/// An error at `at` saying what was expected there.
fn invalid_expected(at: &[u8], what: &'static str) -> GrammarError {
    GrammarError {
        rest_len: at.len(),
        kind: GrammarErrorKind::Expected(what),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The offset of the first newline in `i`, or its length.
#[inline]
fn line_end(i: &[u8]) -> usize {
    i.iter().position(|&b| b == b'\n').unwrap_or(i.len())
}

fn trim_blanks_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Views grammar-checked ASCII bytes as `str`.
fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// `i` after its leading spaces and tabs.
#[inline]
fn skip_blanks(i: &[u8]) -> &[u8] {
    let n = i
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(i.len());
    &i[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What iterating gives for the first entry of `input`: the sample's series, value and
    /// timestamp, or `None` for an error or another entry.
    fn full(input: &[u8]) -> Option<(String, u64, Option<i64>)> {
        match Parser::text(input).next()? {
            Ok(Entry::Sample(s)) => Some((s.series.to_owned(), s.value.to_bits(), s.timestamp)),
            _ => None,
        }
    }

    const LINES: &[&str] = &[
        "foo 1",
        "foo 1\n",
        "foo 1 123\n",
        "  foo\t1\t-5 \t\n",
        "foo\t 1.5e3\n",
        "foo 1 # {} 1\n",
        "foo 1 2 3\n",
        "foo 1 x\n",
        "foo 1x\n",
        "foo Nan\n",
        "foo NaN\n",
        "foo -Inf 7",
        "foo +inf\n",
        "foo\n",
        "foo",
        "foo {a=\"1\"} 2\n",
        "foo{a=\"1\"} 2\n",
        "foo{a=\"1\"}2\n",
        "foo{a=\"1\"} \n",
        "foo{a=\"1\"} 2 3\n",
        "foo{a=\"1\", } 2 3\n",
        "foo{a=\"1\",b=\"} 9\"} 4\n",
        "foo{a=\"1\",b=\"} 9\"} 4 5 6\n",
        "foo_bar 1\n",
        "foo:bar{} 1\n",
        "{\"my.metric\"} 3\n",
        "{\"my.metric\",a=\"x\"} 3 9\n",
        "foo{a=\"1\"} 2\r\n",
        "foo 1 9999999999999999999999\n",
        "foo 1 1.5\n",
        "foo \n",
        "foo{a=\"1\",a=\"2\"} 1\n",
        "foo 0x10\n",
        "foo 1_000\n",
    ];

    #[test]
    fn the_known_series_fast_path_agrees_with_iterating() {
        // Every series the parser accepts, tried as the known series on every line.
        let known: Vec<String> = LINES
            .iter()
            .filter_map(|l| full(l.as_bytes()).map(|(s, _, _)| s))
            .collect();
        assert!(known.len() > 15);
        for line in LINES {
            let want = full(line.as_bytes());
            for series in &known {
                let mut p = Parser::text(line.as_bytes());
                match p.next_sample_of(series) {
                    Some((v, t)) => {
                        assert_eq!(
                            want,
                            Some((series.clone(), v.to_bits(), t)),
                            "{line:?} as {series:?}"
                        );
                        // The line is consumed, exactly.
                        assert_eq!((p.line(), p.next().is_none()), (2, true), "{line:?}");
                    }
                    None => {
                        assert_eq!((p.pos, p.line), (0, 1), "{line:?} as {series:?}");
                        if let Some(w) = &want {
                            // Only a different series may be refused when iterating accepts.
                            assert_ne!(&w.0, series, "{line:?} refused");
                        }
                    }
                }
            }
        }
        // Next lines: the fast path and iterating interleave.
        let body = b"a 1\n# HELP b x\nb{x=\"1\"} 2 5\nc 3\n";
        let mut p = Parser::text(body);
        assert_eq!(p.next_sample_of("a"), Some((1.0, None)));
        assert_eq!(p.next_sample_of("b{x=\"1\"}"), None);
        assert!(matches!(p.next(), Some(Ok(Entry::Help { .. }))));
        assert_eq!(p.next_sample_of("b{x=\"1\"}"), Some((2.0, Some(5))));
        assert_eq!(p.next_sample_of("b"), None);
        assert!(matches!(p.next(), Some(Ok(Entry::Sample(s))) if s.series == "c"));
        assert_eq!(p.next_sample_of("c"), None);
        assert!(p.next().is_none());
        // Not in OpenMetrics.
        assert_eq!(
            Parser::openmetrics(b"a 1\n# EOF\n").next_sample_of("a"),
            None
        );
    }
}
