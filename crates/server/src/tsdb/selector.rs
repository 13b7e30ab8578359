//! A series selector parser for `--match`: `name`, `name{...}` and `{...}` with `=`, `!=`, `=~`
//! and `!~` matchers, as PromQL writes them.
//!
//! This is the subset of PromQL that `promtool tsdb dump --match` takes; it stands in until
//! prom has a PromQL parser. Strings may be double-quoted, single-quoted (with Go's escapes:
//! `\n`, `\"`, `\xHH`, `\u0041`, octal `\101`, ...) or raw in backticks.

use std::fmt;
use std::ops::Range;

use prom_model::{METRIC_NAME, MatchType, Matcher};

/// What is wrong with a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectorErrorKind {
    /// The grammar wanted something else here.
    Expected {
        /// What would have been valid.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A string literal never ends.
    UnterminatedString,
    /// A backslash escape a PromQL string does not have.
    InvalidEscape(String),
    /// The metric name is given both before the braces and as `__name__`.
    DuplicateMetricName,
    /// A regex that does not compile.
    InvalidRegex(String),
}

impl fmt::Display for SelectorErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            SelectorErrorKind::UnterminatedString => f.write_str("unterminated string"),
            SelectorErrorKind::InvalidEscape(e) => write!(f, "invalid escape sequence {e:?}"),
            SelectorErrorKind::DuplicateMetricName => {
                f.write_str("metric name must not be set twice")
            }
            SelectorErrorKind::InvalidRegex(msg) => f.write_str(msg),
        }
    }
}

/// A selector that does not parse: what and where (a byte span of the input). `Display`
/// prints `1:COL: message`, the column counting characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SelectorError {
    /// What is wrong.
    pub kind: SelectorErrorKind,
    /// The bytes of the input it is about.
    pub span: Range<usize>,
    /// The 1-based column of the span's start, in characters.
    pub col: usize,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1:{}: {}", self.col, self.kind)
    }
}

impl SelectorError {
    /// The error, the selector and a caret under the offending part, for people.
    pub fn render(&self, input: &str) -> String {
        let width = input
            .get(self.span.clone())
            .map_or(1, |s| s.chars().count().max(1));
        format!(
            "{self}\n  {input}\n  {}{}",
            " ".repeat(self.col.saturating_sub(1)),
            "^".repeat(width)
        )
    }
}

/// Parses a series selector into its matchers. The metric name, if given before the braces,
/// becomes a `__name__` equality matcher; `{}` gives no matchers (every series).
///
/// ```
/// use prom_server::tsdb::selector::parse;
/// let ms = parse(r#"up{job=~"api|db", env!=''}"#)?;
/// let shown: Vec<String> = ms.iter().map(ToString::to_string).collect();
/// assert_eq!(shown, [r#"__name__="up""#, r#"job=~"api|db""#, r#"env!="""#]);
/// # Ok::<(), prom_server::tsdb::selector::SelectorError>(())
/// ```
pub fn parse(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = Lexer { input, pos: 0 };
    let mut matchers = Vec::new();
    p.skip_ws();
    let name = if p.peek().is_some_and(is_name_start) || p.peek() == Some(':') {
        let start = p.pos;
        let n = p.ident(true);
        matchers.push(Matcher::equal(METRIC_NAME, n));
        Some(start..p.pos)
    } else {
        None
    };
    p.skip_ws();
    if p.peek() == Some('{') {
        p.bump();
        loop {
            p.skip_ws();
            if p.peek() == Some('}') {
                p.bump();
                break;
            }
            let m = p.matcher()?;
            if m.0.name() == METRIC_NAME && name.is_some() {
                return Err(p.error_at(m.1, SelectorErrorKind::DuplicateMetricName));
            }
            matchers.push(m.0);
            p.skip_ws();
            match p.peek() {
                Some(',') => p.bump(),
                Some('}') => {}
                _ => return Err(p.expected("\",\" or \"}\"")),
            }
        }
    } else if name.is_none() {
        return Err(p.expected("metric name or \"{\""));
    }
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.expected("end of selector"));
    }
    Ok(matchers)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// A label name, or with `colons` a metric name (which may contain `:`).
    fn ident(&mut self, colons: bool) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| is_name_char(c) || (colons && c == ':'))
        {
            self.bump();
        }
        self.input.get(start..self.pos).unwrap_or("")
    }

    fn col(&self, at: usize) -> usize {
        self.input.get(..at).map_or(at, |s| s.chars().count()) + 1
    }

    fn error_at(&self, span: Range<usize>, kind: SelectorErrorKind) -> SelectorError {
        SelectorError {
            col: self.col(span.start),
            span,
            kind,
        }
    }

    fn expected(&self, expected: &'static str) -> SelectorError {
        let found = match self.peek() {
            None => "end of input".to_owned(),
            Some(_) => format!("{:?}", self.rest().chars().take(8).collect::<String>()),
        };
        let end = self.pos + self.peek().map_or(0, char::len_utf8);
        self.error_at(
            self.pos..end,
            SelectorErrorKind::Expected { expected, found },
        )
    }

    /// `name op "value"`, with the span of the whole matcher.
    fn matcher(&mut self) -> Result<(Matcher, Range<usize>), SelectorError> {
        let start = self.pos;
        if !self.peek().is_some_and(is_name_start) {
            return Err(self.expected("label name"));
        }
        let name = self.ident(false);
        self.skip_ws();
        let rest = self.rest();
        let (kind, len) = if rest.starts_with("=~") {
            (MatchType::RegexMatch, 2)
        } else if rest.starts_with("!~") {
            (MatchType::RegexNoMatch, 2)
        } else if rest.starts_with("!=") {
            (MatchType::NotEqual, 2)
        } else if rest.starts_with('=') {
            (MatchType::Equal, 1)
        } else {
            return Err(self.expected("one of \"=\", \"!=\", \"=~\", \"!~\""));
        };
        self.pos += len;
        self.skip_ws();
        let value_start = self.pos;
        let value = self.string()?;
        let span = start..self.pos;
        let m = Matcher::new(kind, name, value).map_err(|e| {
            self.error_at(
                value_start..self.pos,
                SelectorErrorKind::InvalidRegex(e.to_string()),
            )
        })?;
        Ok((m, span))
    }

    /// A quoted string, unescaped.
    fn string(&mut self) -> Result<String, SelectorError> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.expected("quoted string")),
        };
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(start..self.pos, SelectorErrorKind::UnterminatedString));
            };
            let at = self.pos;
            self.bump();
            match c {
                c if c == quote => return Ok(out),
                '\\' if quote != '`' => self.escape(at, quote, &mut out)?,
                '\n' if quote != '`' => {
                    return Err(self.error_at(start..at, SelectorErrorKind::UnterminatedString));
                }
                c => out.push(c),
            }
        }
    }

    /// The escape after a backslash at `at`, as Go's `strconv.Unquote` reads it.
    fn escape(&mut self, at: usize, quote: char, out: &mut String) -> Result<(), SelectorError> {
        let invalid = |l: &Self| {
            let end = (l.pos + l.peek().map_or(0, char::len_utf8)).min(l.input.len());
            let text = l.input.get(at..end).unwrap_or("\\").to_owned();
            l.error_at(at..end, SelectorErrorKind::InvalidEscape(text))
        };
        let Some(c) = self.peek() else {
            return Err(invalid(self));
        };
        let simple = match c {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0b}'),
            '\\' => Some('\\'),
            c if c == quote => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            self.bump();
            out.push(s);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (3, 8),
            _ => return Err(invalid(self)),
        };
        if radix == 16 {
            self.bump();
        }
        let body_start = self.pos;
        let body = self.rest().get(..digits).unwrap_or("");
        if body.len() != digits || !body.chars().all(|d| d.is_digit(radix)) {
            self.pos = (body_start + body.len()).min(self.input.len());
            return Err(invalid(self));
        }
        self.pos += digits;
        let n = u32::from_str_radix(body, radix).map_err(|_| invalid(self))?;
        match c {
            // `\xHH` and octal escapes are bytes; a label value is UTF-8, so only ASCII fits.
            'x' | '0'..='7' if n < 0x80 => out.push(char::from(n as u8)),
            'u' | 'U' => match char::from_u32(n) {
                Some(ch) => out.push(ch),
                None => return Err(invalid(self)),
            },
            _ => return Err(invalid(self)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(input: &str) -> Vec<String> {
        parse(input)
            .unwrap_or_else(|e| panic!("{input}: {}", e.render(input)))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_the_selector_shapes() {
        assert_eq!(shown("up"), [r#"__name__="up""#]);
        assert_eq!(shown(" up { } "), [r#"__name__="up""#]);
        assert_eq!(shown("{}"), Vec::<String>::new());
        assert_eq!(shown("job:rate5m"), [r#"__name__="job:rate5m""#]);
        assert_eq!(
            shown(r#"{a="b", c=~"d.*", e!="f",g!~'h',}"#),
            [r#"a="b""#, r#"c=~"d.*""#, r#"e!="f""#, r#"g!~"h""#]
        );
        // promtool's default.
        assert_eq!(shown("{__name__=~'(?s:.*)'}"), [r#"__name__=~"(?s:.*)""#]);
        assert_eq!(
            shown(r#"http_requests_total{code = "200"}"#),
            [r#"__name__="http_requests_total""#, r#"code="200""#]
        );
    }

    #[test]
    fn strings_unescape_like_go() {
        let value = |s: &str| parse(s).unwrap()[0].value().to_owned();
        assert_eq!(value(r#"{a="x\"y\\z\n"}"#), "x\"y\\z\n");
        assert_eq!(value(r"{a='it\'s'}"), "it's");
        assert_eq!(value(r"{a=`raw\n`}"), "raw\\n");
        assert_eq!(value(r#"{a="\x41\101\u00e9\U0001F600\t"}"#), "AAé😀\t");
    }

    #[test]
    fn errors_point_at_the_problem() {
        for (input, want) in [
            ("", "1:1: expected metric name or \"{\", found end of input"),
            ("{a=b}", "1:4: expected quoted string, found \"b}\""),
            (
                "{a=\"b\"",
                "1:7: expected \",\" or \"}\", found end of input",
            ),
            (
                "{a \"b\"}",
                "1:4: expected one of \"=\", \"!=\", \"=~\", \"!~\", found \"\\\"b\\\"}\"",
            ),
            (
                "{1=\"b\"}",
                "1:2: expected label name, found \"1=\\\"b\\\"}\"",
            ),
            ("{a=\"b}", "1:4: unterminated string"),
            ("{a=\"\\q\"}", "1:5: invalid escape sequence \"\\\\q\""),
            (
                "{a=\"\\\"\"",
                "1:8: expected \",\" or \"}\", found end of input",
            ),
            (
                "up{__name__=\"x\"}",
                "1:4: metric name must not be set twice",
            ),
            ("up}", "1:3: expected end of selector, found \"}\""),
        ] {
            let err = parse(input).expect_err(input);
            assert_eq!(err.to_string(), want, "{input}");
        }
        let err = parse("{a=~\"(\"}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("1:5: invalid regular expression"),
            "{err}"
        );
        assert_eq!(
            parse("{a=b}").unwrap_err().render("{a=b}"),
            "1:4: expected quoted string, found \"b}\"\n  {a=b}\n     ^"
        );
    }
}
