//! Commands and blocks: splits a script into lines and reads `load`, `clear` and `eval` with
//! their bodies (FORMAT.md §1–§5).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use prom_model::{Labels, Sample};
use regex::Regex;

use super::error::{ScriptError, ScriptErrorKind as Kind};
use super::lit::{Quotes, parse_duration, parse_go_number, parse_repetition, parse_time, unquote};
use super::series::{MAX_SLOTS_PER_LINE, SeriesError, parse_series};
use super::{
    AnnotationExpectation, Command, Eval, EvalKind, ExpectedResult, ExpectedSeries, Load,
    LoadSeries, RangeVector, Script, SequenceValue, TextMatch,
};

/// Whitespace as upstream's patterns mean it (Go's `\s`).
const WS: &str = r"[\t\n\f\r ]+";

fn pattern(src: &str) -> Regex {
    #[allow(clippy::expect_used)] // The patterns are constants, checked by the tests.
    Regex::new(&src.replace("WS", WS)).expect("valid built-in pattern")
}

static LOAD: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^load(?P<nhcb>_with_nhcb)?WS(?P<interval>.+)$"));
static EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^eval(?:_(?P<mod>fail|warn|ordered|info))?WSinstantWS(?:atWS(?P<at>.+?))?WS(?P<expr>.+)$",
    )
});
static EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^eval(?:_(?P<mod>fail|warn|info))?WSrangeWSfromWS(?P<start>.+)WStoWS(?P<end>.+)WSstepWS(?P<step>.+?)WS(?P<expr>.+)$",
    )
});
static EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^expectWS(?P<type>ordered|fail|warn|no_warn|info|no_info)(?:WS(?P<how>regex|msg):(?P<text>.+))?$",
    )
});
static EXPECT_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"^expect range vectorWSfromWS(?P<start>.+)WStoWS(?P<end>.+)WSstepWS(?P<step>.+)$")
});

const EXPECT_RANGE_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";
const FAIL_MESSAGE_PREFIX: &str = "expected_fail_message";
const FAIL_REGEXP_PREFIX: &str = "expected_fail_regexp";

/// One line of the script.
struct Line<'a> {
    /// The raw line (without the `\n`).
    raw: &'a str,
    /// Byte offset of `raw` in the script.
    start: usize,
    /// Trimmed text; empty for blank and comment lines.
    text: &'a str,
    /// Byte offset of `text` within `raw`.
    indent: usize,
}

fn split_lines(src: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for raw in src.split('\n') {
        let trimmed_front = raw.trim_start();
        let indent = raw.len() - trimmed_front.len();
        let mut text = trimmed_front.trim_end();
        if text.starts_with('#') {
            text = "";
        }
        lines.push(Line {
            raw,
            start,
            text,
            indent,
        });
        start += raw.len() + 1;
    }
    lines
}

pub(crate) fn parse(src: &str) -> Result<Script, ScriptError> {
    let mut r = Reader {
        lines: split_lines(src),
        histograms: HistogramNames::default(),
    };
    let mut commands = Vec::new();
    let mut i = 0;
    while i < r.lines.len() {
        let text = r.text(i);
        if text.is_empty() {
            i += 1;
            continue;
        }
        let word = text
            .split(['\t', ' '])
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let (cmd, last) = if word == "clear" {
            r.histograms = HistogramNames::default();
            (Command::Clear { line: i + 1 }, i)
        } else if word.starts_with("load") {
            let (load, last) = r.load(i)?;
            (Command::Load(load), last)
        } else if word.starts_with("eval") {
            let (eval, last) = r.eval(i)?;
            (Command::Eval(Box::new(eval)), last)
        } else {
            return Err(r.error(i, 0..text.len(), Kind::UnknownCommand(text.to_owned())));
        };
        commands.push(cmd);
        i = last + 1;
    }
    Ok(Script { commands })
}

/// Names of native-histogram series in the current `clear` segment, for
/// [`Eval::needs_native_histograms`].
#[derive(Default)]
struct HistogramNames {
    names: HashSet<String>,
    any: bool,
}

impl HistogramNames {
    fn add_load(&mut self, load: &Load) {
        for s in &load.series {
            let name = s.labels.metric_name();
            if s.has_histograms() {
                self.any = true;
                if let Some(name) = name {
                    self.names.insert(name.to_owned());
                }
            }
            if load.with_nhcb
                && let Some(base) = name.and_then(|n| {
                    ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|suffix| n.strip_suffix(suffix))
                })
            {
                self.any = true;
                self.names.insert(base.to_owned());
            }
        }
    }

    /// Whether `expr` may select one of the histogram series.
    fn touched_by(&self, expr: &str) -> bool {
        if !self.any {
            return false;
        }
        if expr.contains("__name__") {
            return true;
        }
        let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        if expr
            .split(|c: char| !is_ident(c))
            .any(|word| self.names.contains(word))
        {
            return true;
        }
        // A selector without a name: `{` not preceded by an identifier.
        let mut prev = None;
        for c in expr.chars() {
            if c == '{' && !prev.is_some_and(is_ident) {
                return true;
            }
            if !c.is_whitespace() {
                prev = Some(c);
            }
        }
        false
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    histograms: HistogramNames,
}

impl<'a> Reader<'a> {
    fn text(&self, i: usize) -> &'a str {
        self.lines.get(i).map_or("", |l| l.text)
    }

    /// An error at bytes `range` of line `i`'s trimmed text.
    fn error(&self, i: usize, range: Range<usize>, kind: Kind) -> ScriptError {
        let Some(line) = self.lines.get(i) else {
            return ScriptError::new(kind, i + 1, 1, 0..0, "");
        };
        let from = line.start + line.indent;
        ScriptError::new(
            kind,
            i + 1,
            line.indent + range.start + 1,
            from + range.start..from + range.end.max(range.start + 1),
            line.raw,
        )
    }

    fn series_error(&self, i: usize, offset: usize, e: SeriesError) -> ScriptError {
        self.error(i, offset + e.pos..offset + e.pos + 1, Kind::Series(e.msg))
    }

    /// The last line of the block starting after line `i`: blocks end at the first empty line.
    fn body(&self, i: usize) -> Range<usize> {
        let mut end = i + 1;
        while end < self.lines.len() && !self.text(end).is_empty() {
            end += 1;
        }
        i + 1..end
    }

    // ---- load ----------------------------------------------------------------------------

    fn load(&mut self, i: usize) -> Result<(Load, usize), ScriptError> {
        let text = self.text(i);
        let caps = LOAD
            .captures(text)
            .ok_or_else(|| self.error(i, 0..text.len(), Kind::MalformedLoad))?;
        let with_nhcb = caps.name("nhcb").is_some();
        let interval = match caps.name("interval") {
            Some(m) => parse_duration(m.as_str()).map_err(|reason| {
                self.error(
                    i,
                    m.range(),
                    Kind::InvalidDuration {
                        what: "load interval",
                        text: m.as_str().to_owned(),
                        reason,
                    },
                )
            })?,
            None => return Err(self.error(i, 0..text.len(), Kind::MalformedLoad)),
        };
        let body = self.body(i);
        let last = body.end - 1;
        let mut series: Vec<LoadSeries> = Vec::new();
        let mut pending_st: Option<(Labels, Vec<Option<i64>>, usize)> = None;
        for j in body {
            let text = self.text(j);
            if is_st_line(text) {
                if let Some((_, _, st_line)) = pending_st {
                    return Err(self.st_error(st_line, "@st line has no following sample line"));
                }
                pending_st = Some(self.st_line(j)?);
                continue;
            }
            let desc = parse_series(text).map_err(|e| self.series_error(j, 0, e))?;
            let st = match pending_st.take() {
                Some((labels, offsets, st_line)) => {
                    if labels != desc.labels {
                        return Err(self.st_error(
                            st_line,
                            "@st metric does not match the following sample line",
                        ));
                    }
                    if offsets.len() != desc.values.len() {
                        return Err(self.st_error(
                            st_line,
                            &format!(
                                "@st line has {} values but the sample line has {}",
                                offsets.len(),
                                desc.values.len()
                            ),
                        ));
                    }
                    Some(offsets)
                }
                None => None,
            };
            let mut s = LoadSeries {
                labels: desc.labels,
                samples: Vec::new(),
                histograms: Vec::new(),
                start_timestamps: Vec::new(),
                line: j + 1,
            };
            for (k, value) in desc.values.into_iter().enumerate() {
                let t = i64::try_from(k)
                    .ok()
                    .and_then(|k| k.checked_mul(interval))
                    .ok_or_else(|| self.error(j, 0..text.len(), Kind::TimestampOverflow))?;
                match value {
                    SequenceValue::Omitted => continue,
                    SequenceValue::Float(v) => s.samples.push(Sample::new(t, v)),
                    SequenceValue::Histogram(h) => s.histograms.push((t, h)),
                }
                if let Some(Some(offset)) = st.as_ref().and_then(|st| st.get(k)) {
                    let start = t
                        .checked_add(*offset)
                        .ok_or_else(|| self.error(j, 0..text.len(), Kind::TimestampOverflow))?;
                    s.start_timestamps.push((t, start));
                }
            }
            match series.iter_mut().find(|old| old.labels == s.labels) {
                Some(old) => *old = s,
                None => series.push(s),
            }
        }
        if let Some((_, _, st_line)) = pending_st {
            return Err(self.st_error(st_line, "@st line has no following sample line"));
        }
        let needs_native_histograms = with_nhcb || series.iter().any(LoadSeries::has_histograms);
        let load = Load {
            interval,
            with_nhcb,
            series,
            needs_native_histograms,
            line: i + 1,
        };
        self.histograms.add_load(&load);
        Ok((load, last))
    }

    fn st_error(&self, i: usize, msg: &str) -> ScriptError {
        let len = self.text(i).len();
        self.error(i, 0..len, Kind::StartTimestamps(msg.to_owned()))
    }

    /// `<metric>@st <items…>`: the metric and one start-timestamp offset (or none) per slot.
    fn st_line(&self, i: usize) -> Result<(Labels, Vec<Option<i64>>, usize), ScriptError> {
        let text = self.text(i);
        let split = text.find([' ', '\t']).unwrap_or(text.len());
        let (head, items) = text.split_at(split);
        let metric = head.strip_suffix("@st").unwrap_or(head);
        if metric.is_empty() {
            return Err(self.st_error(i, "an @st line needs a metric before `@st`"));
        }
        let desc = parse_series(metric).map_err(|e| self.series_error(i, 0, e))?;
        let mut offsets = Vec::new();
        for item in items.split_whitespace() {
            st_item(item, &mut offsets).map_err(|msg| {
                let at = item.as_ptr() as usize - text.as_ptr() as usize;
                self.error(
                    i,
                    at..at + item.len(),
                    Kind::StartTimestamps(format!("invalid item {item:?}: {msg}")),
                )
            })?;
        }
        Ok((desc.labels, offsets, i))
    }

    // ---- eval ----------------------------------------------------------------------------

    fn eval(&self, i: usize) -> Result<(Eval, usize), ScriptError> {
        let text = self.text(i);
        let malformed = || self.error(i, 0..text.len(), Kind::MalformedEval);
        let caps = EVAL_INSTANT
            .captures(text)
            .or_else(|| EVAL_RANGE.captures(text))
            .ok_or_else(malformed)?;
        let expr = caps.name("expr").ok_or_else(malformed)?;
        let modifier = caps.name("mod").map(|m| m.as_str());
        let time =
            |name: &str, what: &'static str, parse: fn(&str) -> Result<i64, &'static str>| {
                let m = caps.name(name).ok_or_else(|| {
                    self.error(
                        i,
                        0..text.len(),
                        Kind::InvalidDuration {
                            what,
                            text: String::new(),
                            reason: "missing (`instant at <time>`)",
                        },
                    )
                })?;
                parse(m.as_str()).map_err(|reason| {
                    self.error(
                        i,
                        m.range(),
                        Kind::InvalidDuration {
                            what,
                            text: m.as_str().to_owned(),
                            reason,
                        },
                    )
                })
            };
        let kind = if caps.name("start").is_some() {
            let start = time("start", "start time", parse_time)?;
            let end = time("end", "end time", parse_time)?;
            if end < start {
                return Err(self.error(
                    i,
                    0..text.len(),
                    Kind::EndBeforeStart {
                        start: caps.name("start").map_or("", |m| m.as_str()).to_owned(),
                        end: caps.name("end").map_or("", |m| m.as_str()).to_owned(),
                    },
                ));
            }
            let step = time("step", "step", parse_duration)?;
            EvalKind::Range { start, end, step }
        } else {
            EvalKind::Instant {
                at: time("at", "evaluation time", parse_time)?,
            }
        };
        let instant = matches!(kind, EvalKind::Instant { .. });
        let expr_column = self.lines.get(i).map_or(0, |l| l.indent) + expr.start() + 1;

        let mut b = EvalBody {
            eval_fail: modifier == Some("fail"),
            ordered: modifier == Some("ordered"),
            eval_warn: modifier == Some("warn"),
            eval_info: modifier == Some("info"),
            ..EvalBody::default()
        };
        let body = self.body(i);
        let mut last = body.end - 1;
        for j in body {
            if self.body_line(j, instant, &mut b)? == Flow::Stop {
                last = j;
                break;
            }
        }
        let conflict = |msg| Err(self.error(i, 0..text.len(), Kind::ConflictingExpectations(msg)));
        if !instant && b.ordered {
            return conflict("`expect ordered` applies to instant evals only");
        }
        if !instant && b.range_vector.is_some() {
            return conflict("`expect range vector` applies to instant evals only");
        }
        if b.eval_warn && b.no_warn {
            return conflict("eval_warn contradicts `expect no_warn`");
        }
        if b.eval_info && b.no_info {
            return conflict("eval_info contradicts `expect no_info`");
        }
        let expected = match (b.scalar, b.string) {
            (Some(_), Some(_)) => {
                return conflict("an eval cannot expect both a scalar and a string");
            }
            (Some(_), None) | (None, Some(_)) if !b.series.is_empty() => {
                return conflict("an eval cannot expect series together with a scalar or a string");
            }
            (Some((value, line)), None) => ExpectedResult::Scalar { value, line },
            (None, Some((value, line))) => ExpectedResult::String { value, line },
            (None, None) => ExpectedResult::Series(b.series),
        };
        let expect_fail = match (b.eval_fail, b.deprecated_fail, b.fail_lines.pop()) {
            (_, Some(_), Some(_)) => {
                return conflict(
                    "eval_fail has both an expected_fail_* line and an `expect fail` line",
                );
            }
            (_, None, Some(m)) => Some(m),
            (true, Some(m), None) => Some(m),
            (true, None, None) => Some(TextMatch::Any),
            (false, _, None) => None,
        };
        let annotations = |required: bool, matchers: Vec<TextMatch>, forbidden: bool| {
            if forbidden {
                AnnotationExpectation::Forbidden
            } else if required || !matchers.is_empty() {
                AnnotationExpectation::Required { matchers }
            } else {
                AnnotationExpectation::Unchecked
            }
        };
        let expected_histograms = match &expected {
            ExpectedResult::Series(series) => series.iter().any(ExpectedSeries::has_histograms),
            _ => false,
        };
        let eval = Eval {
            kind,
            expr: expr.as_str().to_owned(),
            expr_line: i + 1,
            expr_column,
            line: i + 1,
            expect_fail,
            ordered: b.ordered,
            warnings: annotations(b.eval_warn, b.warn_lines, b.no_warn),
            infos: annotations(b.eval_info, b.info_lines, b.no_info),
            range_vector: b.range_vector,
            expected,
            needs_native_histograms: expected_histograms
                || self.histograms.touched_by(expr.as_str()),
        };
        Ok((eval, last))
    }

    /// Reads one body line of an eval into `b`, in upstream's order of precedence.
    fn body_line(&self, j: usize, instant: bool, b: &mut EvalBody) -> Result<Flow, ScriptError> {
        let text = self.text(j);
        let len = text.len();
        if b.eval_fail {
            if let Some(rest) = text.strip_prefix(FAIL_MESSAGE_PREFIX) {
                b.deprecated_fail = Some(TextMatch::Exact(rest.trim().to_owned()));
                return Ok(Flow::Stop);
            }
            if let Some(rest) = text.strip_prefix(FAIL_REGEXP_PREFIX) {
                b.deprecated_fail = Some(self.regex(j, 0..len, rest.trim())?);
                return Ok(Flow::Stop);
            }
        }
        if text.starts_with(EXPECT_RANGE_PREFIX) {
            let caps = EXPECT_RANGE
                .captures(text)
                .ok_or_else(|| self.error(j, 0..len, Kind::MalformedExpect))?;
            let field =
                |name: &str, what: &'static str, parse: fn(&str) -> Result<i64, &'static str>| {
                    let m = caps
                        .name(name)
                        .ok_or_else(|| self.error(j, 0..len, Kind::MalformedExpect))?;
                    parse(m.as_str()).map_err(|reason| {
                        self.error(
                            j,
                            m.range(),
                            Kind::InvalidDuration {
                                what,
                                text: m.as_str().to_owned(),
                                reason,
                            },
                        )
                    })
                };
            let start = field("start", "range vector start", parse_time)?;
            let end = field("end", "range vector end", parse_time)?;
            if end < start {
                return Err(self.error(
                    j,
                    0..len,
                    Kind::EndBeforeStart {
                        start: caps.name("start").map_or("", |m| m.as_str()).to_owned(),
                        end: caps.name("end").map_or("", |m| m.as_str()).to_owned(),
                    },
                ));
            }
            let step = field("step", "range vector step", parse_duration)?;
            b.range_vector = Some(RangeVector { start, end, step });
            return Ok(Flow::Continue);
        }
        if text.starts_with(EXPECT_STRING_PREFIX) {
            let literal = text
                .strip_prefix(EXPECT_STRING_PREFIX)
                .and_then(|rest| rest.strip_prefix(' '))
                .unwrap_or(text);
            let from = len - literal.len();
            if text == EXPECT_STRING_PREFIX || literal.is_empty() {
                return Err(self.error(
                    j,
                    0..len,
                    Kind::InvalidString("a quoted string literal is required"),
                ));
            }
            let value = unquote(literal, Quotes::Go)
                .map_err(|e| self.error(j, from..len, Kind::InvalidString(e)))?;
            b.string = Some((value, j + 1));
            return Ok(Flow::Continue);
        }
        if text.split(' ').next() == Some("expect") {
            let caps = EXPECT
                .captures(text)
                .ok_or_else(|| self.error(j, 0..len, Kind::MalformedExpect))?;
            let matcher = match (caps.name("how").map(|m| m.as_str()), caps.name("text")) {
                (Some("msg"), Some(t)) => TextMatch::Exact(t.as_str().trim().to_owned()),
                (Some(_), Some(t)) => self.regex(j, t.range(), t.as_str().trim())?,
                _ => TextMatch::Any,
            };
            match caps.name("type").map_or("", |m| m.as_str()) {
                "ordered" => b.ordered = true,
                "fail" => b.fail_lines.push(matcher),
                "warn" => b.warn_lines.push(matcher),
                "no_warn" => b.no_warn = true,
                "info" => b.info_lines.push(matcher),
                _ => b.no_info = true,
            }
            let conflict = if !b.info_lines.is_empty() && b.no_info {
                Some("`expect info` and `expect no_info` cannot be used together")
            } else if !b.warn_lines.is_empty() && b.no_warn {
                Some("`expect warn` and `expect no_warn` cannot be used together")
            } else if b.fail_lines.len() > 1 {
                Some("at most one `expect fail` line per eval")
            } else {
                None
            };
            return match conflict {
                Some(msg) => Err(self.error(j, 0..len, Kind::ConflictingExpectations(msg))),
                None => Ok(Flow::Continue),
            };
        }
        if let Some(value) = parse_go_number(text) {
            b.scalar = Some((value, j + 1));
            return Ok(Flow::Stop);
        }
        let desc = parse_series(text).map_err(|e| self.series_error(j, 0, e))?;
        if instant && b.range_vector.is_none() && desc.values.len() > 1 {
            return Err(self.error(j, 0..len, Kind::MultipleValuesInInstant));
        }
        // A label set written twice: the later line wins, as upstream keys expectations by labels.
        b.series.retain(|s| s.labels != desc.labels);
        b.series.push(ExpectedSeries {
            labels: desc.labels,
            values: desc.values,
            line: j + 1,
        });
        Ok(Flow::Continue)
    }

    fn regex(
        &self,
        j: usize,
        range: Range<usize>,
        pattern: &str,
    ) -> Result<TextMatch, ScriptError> {
        Regex::new(pattern).map(TextMatch::Regex).map_err(|e| {
            self.error(
                j,
                range,
                Kind::InvalidRegex {
                    pattern: pattern.to_owned(),
                    reason: e.to_string(),
                },
            )
        })
    }
}

/// Whether a body line ends its block early (a scalar or a deprecated fail line does).
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Expectations collected from an eval's body.
#[derive(Default)]
struct EvalBody {
    eval_fail: bool,
    eval_warn: bool,
    eval_info: bool,
    ordered: bool,
    deprecated_fail: Option<TextMatch>,
    fail_lines: Vec<TextMatch>,
    warn_lines: Vec<TextMatch>,
    info_lines: Vec<TextMatch>,
    no_warn: bool,
    no_info: bool,
    range_vector: Option<RangeVector>,
    series: Vec<ExpectedSeries>,
    scalar: Option<(f64, usize)>,
    string: Option<(String, usize)>,
}

/// Whether the first whitespace-separated token ends in `@st`.
fn is_st_line(text: &str) -> bool {
    text.split_once([' ', '\t'])
        .is_some_and(|(head, _)| head.ends_with("@st"))
}

/// One start-timestamp item (FORMAT.md §2), appended to `out`.
fn st_item(item: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    let grow = |out: &mut Vec<Option<i64>>, n: u64| -> Result<(), String> {
        let total = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(out.len()));
        if total.is_none_or(|t| t > MAX_SLOTS_PER_LINE) {
            return Err(format!("more than {MAX_SLOTS_PER_LINE} values"));
        }
        out.reserve(usize::try_from(n).unwrap_or(0));
        Ok(())
    };
    if item == "_" {
        grow(out, 1)?;
        out.push(None);
        return Ok(());
    }
    if let Some(count) = item.strip_prefix("_x") {
        let n = parse_repetition(count)
            .filter(|n| *n > 0)
            .ok_or("invalid repeat count")?;
        grow(out, n)?;
        out.extend(std::iter::repeat_n(None, usize::try_from(n).unwrap_or(0)));
        return Ok(());
    }
    let (base, rest) = st_duration_prefix(item)?;
    let (delta, count) = if rest.is_empty() {
        grow(out, 1)?;
        out.push(Some(base));
        return Ok(());
    } else if let Some(count) = rest.strip_prefix('x') {
        (0, count)
    } else if let Some(sign @ ('+' | '-')) = rest.chars().next() {
        let (delta, rest) = st_duration_prefix(rest.get(1..).unwrap_or(""))?;
        let count = rest
            .strip_prefix('x')
            .ok_or("expected 'x<count>' after the step duration")?;
        (if sign == '-' { -delta } else { delta }, count)
    } else {
        return Err("expected 'x<count>' or '+'/'-' and a step after the duration".to_owned());
    };
    let n = parse_repetition(count).ok_or("invalid repeat count")?;
    let slots = n.saturating_add(1);
    grow(out, slots)?;
    let mut offset = base;
    for _ in 0..slots {
        out.push(Some(offset));
        offset = offset.checked_add(delta).ok_or("offset out of range")?;
    }
    Ok(())
}

/// A signed single-unit duration at the start of `s` (`-30s`, `0`, `59999ms`) in milliseconds,
/// and the rest of `s`; the unit stops at `x`, which starts a repetition.
fn st_duration_prefix(s: &str) -> Result<(i64, &str), String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(format!("expected digits in duration {s:?}"));
    }
    let after_digits = body.get(digits..).unwrap_or("");
    let unit = after_digits.len()
        - after_digits
            .trim_start_matches(|c: char| c.is_ascii_alphabetic() && c != 'x')
            .len();
    let (dur, rest) = body.split_at(digits + unit);
    let ms = parse_duration(dur).map_err(|e| format!("invalid duration {dur:?}: {e}"))?;
    Ok((if neg { -ms } else { ms }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_patterns_compile() {
        for re in [&LOAD, &EVAL_INSTANT, &EVAL_RANGE, &EXPECT, &EXPECT_RANGE] {
            assert!(!re.as_str().is_empty());
        }
    }

    #[test]
    fn st_items() {
        let items = |s: &str| {
            let mut out = Vec::new();
            for item in s.split_whitespace() {
                st_item(item, &mut out)?;
            }
            Ok::<_, String>(out)
        };
        assert_eq!(
            items("_ _x2 -30s -1m-1mx2 0x1 1ms+1msx1"),
            Ok(vec![
                None,
                None,
                None,
                Some(-30_000),
                Some(-60_000),
                Some(-120_000),
                Some(-180_000),
                Some(0),
                Some(0),
                Some(1),
                Some(2),
            ])
        );
        assert_eq!(items("-59999msx1"), Ok(vec![Some(-59_999); 2]));
        assert_eq!(items("-0msx0"), Ok(vec![Some(0)]));
        for bad in [
            "_x0", "_x", "x", "1m30s", "1", "-", "1m+", "1m+1m", "1mx", "*", "1m*",
        ] {
            assert!(items(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn nameless_selectors_and_names() {
        let mut h = HistogramNames::default();
        assert!(
            !h.touched_by("{a=\"b\"}"),
            "no histograms, nothing to touch"
        );
        h.any = true;
        h.names.insert("hist".to_owned());
        assert!(h.touched_by("rate(hist[5m])"));
        assert!(h.touched_by("sum({job=\"x\"})"));
        assert!(h.touched_by("count({__name__=~\"h.*\"})"));
        assert!(!h.touched_by("rate(hist_count[5m])"));
        assert!(!h.touched_by("foo {a=\"b\"} + bar{c=\"d\"}"));
    }
}
