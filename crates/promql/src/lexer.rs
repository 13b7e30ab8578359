//! The PromQL tokenizer.
//!
//! [`Lexer`] is an iterator of [`Token`]s over a query string. It never allocates: a token is
//! its [kind](TokenKind) and a byte [`Span`]; [`Token::text`] borrows its text from the input.
//! Whitespace and `#` comments are skipped. Like Prometheus's lexer it tracks braces, brackets
//! and parentheses, because they change what a character means: inside `{…}` every word is a
//! label name, inside `[…]` a `:` separates a subquery's range from its step, and an unclosed
//! parenthesis or bracket is reported at the end of the input.
//!
//! Words are classified once, case-insensitively, into [`Keyword`]s (`sum`, `by`, `offset`,
//! `and`, …) outside braces; the parser decides from context whether a keyword is used as one
//! or as a metric name (`sum(x)` against `sum{job="a"}`). `Inf` and `NaN`, in any case, are
//! numbers.
//!
//! ```
//! use prom_promql::lexer::{Lexer, TokenKind, Keyword};
//!
//! let q = "sum by (job) (rate(x[5m]))";
//! let kinds: Vec<TokenKind> = Lexer::new(q).map(|t| t.unwrap().kind).collect();
//! assert_eq!(kinds[..4], [
//!     TokenKind::Keyword(Keyword::Sum),
//!     TokenKind::Keyword(Keyword::By),
//!     TokenKind::LeftParen,
//!     TokenKind::Ident,
//! ]);
//! let t = Lexer::new("  5m30s ").next().unwrap().unwrap();
//! assert_eq!((t.kind, t.text("  5m30s ")), (TokenKind::Duration, "5m30s"));
//! ```

use std::fmt;

use crate::ast::Span;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// End of input.
    Eof,
    /// A word without `:`, not a keyword (or any word inside braces).
    Ident,
    /// A word containing `:` (`job:rate5m:sum`), only valid as a metric name.
    MetricIdent,
    /// A keyword (case-insensitive): an aggregation, a modifier, `and`/`or`/`unless`/`atan2`,
    /// or one of the duration functions.
    Keyword(Keyword),
    /// A number: decimal, hexadecimal, with exponent or `_` separators, `Inf`, `NaN`.
    Number,
    /// A duration: `5m`, `1h30m`, `100ms`.
    Duration,
    /// A quoted string, quotes included: `"…"`, `'…'` or `` `…` ``.
    String,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
    /// `{`
    LeftBrace,
    /// `}`
    RightBrace,
    /// `[`
    LeftBracket,
    /// `]`
    RightBracket,
    /// `,`
    Comma,
    /// `:` (inside brackets)
    Colon,
    /// `=`
    Eql,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    EqlC,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `</` (histogram trim upper)
    TrimUpper,
    /// `>/` (histogram trim lower)
    TrimLower,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// `@`
    At,
}

/// The words the lexer recognises outside braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// `atan2`
    Atan2,
    /// `bool`
    Bool,
    /// `by`
    By,
    /// `without`
    Without,
    /// `on`
    On,
    /// `ignoring`
    Ignoring,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `offset`
    Offset,
    /// `anchored`
    Anchored,
    /// `smoothed`
    Smoothed,
    /// `fill`
    Fill,
    /// `fill_left`
    FillLeft,
    /// `fill_right`
    FillRight,
    /// `start`
    Start,
    /// `end`
    End,
    /// `step`
    Step,
    /// `range`
    Range,
    /// `min_of`
    MinOf,
    /// `max_of`
    MaxOf,
}

impl Keyword {
    /// The keyword for a word, compared case-insensitively.
    pub fn from_word(word: &str) -> Option<Keyword> {
        use Keyword::*;
        let b = word.as_bytes();
        // Dispatch on length first: most identifiers are rejected after one comparison.
        let candidates: &[(&str, Keyword)] = match b.len() {
            2 => &[("by", By), ("or", Or), ("on", On)],
            3 => &[
                ("sum", Sum),
                ("avg", Avg),
                ("min", Min),
                ("max", Max),
                ("and", And),
                ("end", End),
            ],
            4 => &[
                ("topk", Topk),
                ("bool", Bool),
                ("fill", Fill),
                ("step", Step),
            ],
            5 => &[
                ("count", Count),
                ("group", Group),
                ("atan2", Atan2),
                ("start", Start),
                ("range", Range),
            ],
            6 => &[
                ("stddev", Stddev),
                ("stdvar", Stdvar),
                ("limitk", Limitk),
                ("unless", Unless),
                ("offset", Offset),
                ("min_of", MinOf),
                ("max_of", MaxOf),
            ],
            7 => &[("bottomk", Bottomk), ("without", Without)],
            8 => &[
                ("quantile", Quantile),
                ("ignoring", Ignoring),
                ("anchored", Anchored),
                ("smoothed", Smoothed),
            ],
            9 => &[("fill_left", FillLeft)],
            10 => &[("group_left", GroupLeft), ("fill_right", FillRight)],
            11 => &[("limit_ratio", LimitRatio), ("group_right", GroupRight)],
            12 => &[("count_values", CountValues)],
            _ => return None,
        };
        candidates
            .iter()
            .find(|(w, _)| w.as_bytes().eq_ignore_ascii_case(b))
            .map(|&(_, k)| k)
    }

    /// The keyword in lower case.
    pub fn as_str(self) -> &'static str {
        use Keyword::*;
        match self {
            Sum => "sum",
            Avg => "avg",
            Count => "count",
            Min => "min",
            Max => "max",
            Group => "group",
            Stddev => "stddev",
            Stdvar => "stdvar",
            Topk => "topk",
            Bottomk => "bottomk",
            CountValues => "count_values",
            Quantile => "quantile",
            Limitk => "limitk",
            LimitRatio => "limit_ratio",
            And => "and",
            Or => "or",
            Unless => "unless",
            Atan2 => "atan2",
            Bool => "bool",
            By => "by",
            Without => "without",
            On => "on",
            Ignoring => "ignoring",
            GroupLeft => "group_left",
            GroupRight => "group_right",
            Offset => "offset",
            Anchored => "anchored",
            Smoothed => "smoothed",
            Fill => "fill",
            FillLeft => "fill_left",
            FillRight => "fill_right",
            Start => "start",
            End => "end",
            Step => "step",
            Range => "range",
            MinOf => "min_of",
            MaxOf => "max_of",
        }
    }

    /// Whether the keyword is an aggregation operator.
    pub fn is_aggregator(self) -> bool {
        use Keyword::*;
        matches!(
            self,
            Sum | Avg
                | Count
                | Min
                | Max
                | Group
                | Stddev
                | Stdvar
                | Topk
                | Bottomk
                | CountValues
                | Quantile
                | Limitk
                | LimitRatio
        )
    }

    /// Whether the keyword may also be a metric name (Prometheus's `metric_identifier`
    /// list): everything except `bool`, `on`, `ignoring`, `group_left`, `group_right` and
    /// `atan2`.
    pub fn can_be_metric_name(self) -> bool {
        use Keyword::*;
        !matches!(self, Bool | On | Ignoring | GroupLeft | GroupRight | Atan2)
    }
}

/// One token: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it is in the input.
    pub span: Span,
}

impl Token {
    /// The token's text, borrowed from `input` (the string the lexer ran on).
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        &input[self.span.start..self.span.end]
    }

    /// How Prometheus names the token in "unexpected …" messages: `end of input`,
    /// `identifier "foo"`, `number "5"`, `"("`, `<op:+>`, `<aggr:sum>`, `<by>`.
    pub fn describe(&self, input: &str) -> String {
        let text = self.text(input);
        let quoted_short = || {
            // Go's `%.10q`: at most ten characters, then quoted.
            let short: String = text.chars().take(10).collect();
            if short.len() < text.len() {
                format!("{}...", go_quote(&short))
            } else {
                go_quote(text)
            }
        };
        match self.kind {
            TokenKind::Eof => "end of input".to_string(),
            TokenKind::Ident => format!("identifier {}", go_quote(text)),
            TokenKind::MetricIdent => format!("metric identifier {}", go_quote(text)),
            TokenKind::Number => format!("number {}", quoted_short()),
            TokenKind::Duration => format!("duration {}", quoted_short()),
            TokenKind::String => format!("string {}", quoted_short()),
            TokenKind::Keyword(k) if k.is_aggregator() => format!("<aggr:{text}>"),
            TokenKind::Keyword(Keyword::And | Keyword::Or | Keyword::Unless | Keyword::Atan2) => {
                format!("<op:{text}>")
            }
            TokenKind::Keyword(
                Keyword::Start
                | Keyword::End
                | Keyword::Step
                | Keyword::Range
                | Keyword::MinOf
                | Keyword::MaxOf,
            ) => go_quote(text),
            TokenKind::Keyword(_) => format!("<{text}>"),
            TokenKind::LeftParen
            | TokenKind::RightParen
            | TokenKind::LeftBrace
            | TokenKind::RightBrace
            | TokenKind::LeftBracket
            | TokenKind::RightBracket
            | TokenKind::Comma
            | TokenKind::Colon
            | TokenKind::Eql => go_quote(text),
            _ => format!("<op:{text}>"),
        }
    }
}

/// A tokenizing error: the message as Prometheus words it and where the offending token
/// starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is wrong (`unterminated quoted string`).
    pub message: String,
    /// Byte offset of the token that could not be read (the end of the input for unclosed
    /// parentheses and brackets).
    pub pos: usize,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The tokenizer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    paren_depth: usize,
    brace_open: bool,
    bracket_open: bool,
    done: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `input`.
    pub fn new(input: &'a str) -> Self {
        Lexer {
            input,
            bytes: input.as_bytes(),
            pos: 0,
            paren_depth: 0,
            brace_open: false,
            bracket_open: false,
            done: false,
        }
    }

    /// The input being tokenized.
    pub fn input(&self) -> &'a str {
        self.input
    }

    fn peek_byte(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_byte_at(&self, off: usize) -> Option<u8> {
        self.bytes.get(self.pos + off).copied()
    }

    fn err(&mut self, message: String, pos: usize) -> Result<Token, LexError> {
        self.done = true;
        Err(LexError { message, pos })
    }

    /// The next token; [`TokenKind::Eof`] at the end (repeatedly), or the first error.
    /// After an error the lexer only returns [`TokenKind::Eof`].
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        if self.done {
            let end = self.bytes.len();
            return Ok(Token {
                kind: TokenKind::Eof,
                span: Span::new(end, end),
            });
        }
        self.skip_space_and_comments();
        let start = self.pos;
        let tok = |kind, end: usize| {
            Ok(Token {
                kind,
                span: Span::new(start, end),
            })
        };
        let Some(b) = self.peek_byte() else {
            if self.brace_open {
                return self.err("unexpected end of input inside braces".into(), start);
            }
            if self.paren_depth != 0 {
                return self.err("unclosed left parenthesis".into(), start);
            }
            if self.bracket_open {
                return self.err("unclosed left bracket".into(), start);
            }
            self.done = true;
            return tok(TokenKind::Eof, start);
        };
        if self.brace_open {
            return self.next_inside_braces(start, b);
        }
        match b {
            b',' => {
                self.pos += 1;
                tok(TokenKind::Comma, self.pos)
            }
            b'*' | b'/' | b'%' | b'+' | b'-' | b'^' | b'@' => {
                self.pos += 1;
                let kind = match b {
                    b'*' => TokenKind::Mul,
                    b'/' => TokenKind::Div,
                    b'%' => TokenKind::Mod,
                    b'+' => TokenKind::Add,
                    b'-' => TokenKind::Sub,
                    b'^' => TokenKind::Pow,
                    _ => TokenKind::At,
                };
                tok(kind, self.pos)
            }
            b'=' => match self.peek_byte_at(1) {
                Some(b'=') => {
                    self.pos += 2;
                    tok(TokenKind::EqlC, self.pos)
                }
                Some(b'~') => self.err("unexpected character after '=': '~'".into(), start),
                _ => {
                    self.pos += 1;
                    tok(TokenKind::Eql, self.pos)
                }
            },
            b'!' => match self.peek_byte_at(1) {
                Some(b'=') => {
                    self.pos += 2;
                    tok(TokenKind::Neq, self.pos)
                }
                _ => {
                    let c = self.char_at(start + 1);
                    self.err(
                        format!("unexpected character after '!': {}", quote_char(c)),
                        start,
                    )
                }
            },
            b'<' | b'>' => {
                let next = self.peek_byte_at(1);
                let two = matches!(next, Some(b'=' | b'/'));
                self.pos += 1 + usize::from(two);
                let kind = match (b, next) {
                    (b'<', Some(b'=')) => TokenKind::Lte,
                    (b'<', Some(b'/')) => TokenKind::TrimUpper,
                    (b'<', _) => TokenKind::Lss,
                    (_, Some(b'=')) => TokenKind::Gte,
                    (_, Some(b'/')) => TokenKind::TrimLower,
                    _ => TokenKind::Gtr,
                };
                tok(kind, self.pos)
            }
            b'0'..=b'9' => self.number_or_duration(start),
            b'.' if matches!(self.peek_byte_at(1), Some(b'0'..=b'9')) => {
                self.number_or_duration(start)
            }
            b'"' | b'\'' => self.quoted_string(start, b),
            b'`' => self.raw_string(start),
            b'(' => {
                self.pos += 1;
                self.paren_depth += 1;
                tok(TokenKind::LeftParen, self.pos)
            }
            b')' => {
                if self.paren_depth == 0 {
                    return self.err("unexpected right parenthesis ')'".into(), start);
                }
                self.pos += 1;
                self.paren_depth -= 1;
                tok(TokenKind::RightParen, self.pos)
            }
            b'{' => {
                self.pos += 1;
                self.brace_open = true;
                tok(TokenKind::LeftBrace, self.pos)
            }
            b'}' => self.err("unexpected right brace '}'".into(), start),
            b'[' => {
                if self.bracket_open {
                    return self.err("unexpected left bracket '['".into(), start);
                }
                self.pos += 1;
                self.bracket_open = true;
                tok(TokenKind::LeftBracket, self.pos)
            }
            b']' => {
                if !self.bracket_open {
                    return self.err("unexpected right bracket ']'".into(), start);
                }
                self.pos += 1;
                self.bracket_open = false;
                tok(TokenKind::RightBracket, self.pos)
            }
            b':' if self.bracket_open => {
                self.pos += 1;
                tok(TokenKind::Colon, self.pos)
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b == b':' => self.word(start),
            _ => {
                let c = self.char_at(start);
                self.err(format!("unexpected character: {}", quote_char(c)), start)
            }
        }
    }

    fn char_at(&self, pos: usize) -> Option<char> {
        self.input.get(pos..).and_then(|s| s.chars().next())
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(b) = self.peek_byte() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while let Some(b) = self.peek_byte() {
                        if b == b'\n' || b == b'\r' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn next_inside_braces(&mut self, start: usize, b: u8) -> Result<Token, LexError> {
        let tok = |kind, end: usize| {
            Ok(Token {
                kind,
                span: Span::new(start, end),
            })
        };
        match b {
            b if b.is_ascii_alphabetic() || b == b'_' => {
                self.pos += 1;
                while matches!(self.peek_byte(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
                {
                    self.pos += 1;
                }
                tok(TokenKind::Ident, self.pos)
            }
            b',' => {
                self.pos += 1;
                tok(TokenKind::Comma, self.pos)
            }
            b'"' | b'\'' => self.quoted_string(start, b),
            b'`' => self.raw_string(start),
            b'=' => {
                if self.peek_byte_at(1) == Some(b'~') {
                    self.pos += 2;
                    tok(TokenKind::EqlRegex, self.pos)
                } else {
                    self.pos += 1;
                    tok(TokenKind::Eql, self.pos)
                }
            }
            b'!' => match self.peek_byte_at(1) {
                Some(b'~') => {
                    self.pos += 2;
                    tok(TokenKind::NeqRegex, self.pos)
                }
                Some(b'=') => {
                    self.pos += 2;
                    tok(TokenKind::Neq, self.pos)
                }
                _ => {
                    let c = self.char_at(start + 1);
                    self.err(
                        format!(
                            "unexpected character after '!' inside braces: {}",
                            quote_char(c)
                        ),
                        start,
                    )
                }
            },
            b'{' => self.err("unexpected left brace '{'".into(), start),
            b'}' => {
                self.pos += 1;
                self.brace_open = false;
                tok(TokenKind::RightBrace, self.pos)
            }
            _ => {
                let c = self.char_at(start);
                self.err(
                    format!("unexpected character inside braces: {}", quote_char(c)),
                    start,
                )
            }
        }
    }

    fn word(&mut self, start: usize) -> Result<Token, LexError> {
        let mut colon = false;
        while let Some(b) = self.peek_byte() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else if b == b':' && !self.bracket_open {
                // Inside brackets a colon separates a subquery's range from its step.
                colon = true;
                self.pos += 1;
            } else {
                break;
            }
        }
        let word = &self.input[start..self.pos];
        let kind = if colon {
            TokenKind::MetricIdent
        } else if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
            TokenKind::Number
        } else if let Some(k) = Keyword::from_word(word) {
            TokenKind::Keyword(k)
        } else {
            TokenKind::Ident
        };
        Ok(Token {
            kind,
            span: Span::new(start, self.pos),
        })
    }

    /// Scans `[0-9._eE]` and hexadecimal numbers as Prometheus does; if an ASCII letter or
    /// digit follows, the text must continue as a duration (`5m`, `1h30m`).
    fn number_or_duration(&mut self, start: usize) -> Result<Token, LexError> {
        let ok = self.scan_number();
        let is_word =
            |b: Option<u8>| matches!(b, Some(b) if b.is_ascii_alphanumeric() || b == b'_');
        if ok && !is_word(self.peek_byte()) {
            return Ok(Token {
                kind: TokenKind::Number,
                span: Span::new(start, self.pos),
            });
        }
        if ok && self.scan_duration_units() && !is_word(self.peek_byte()) {
            return Ok(Token {
                kind: TokenKind::Duration,
                span: Span::new(start, self.pos),
            });
        }
        // Include the offending character, as Prometheus's message does.
        if let Some(c) = self.char_at(self.pos) {
            self.pos += c.len_utf8();
        }
        let text = &self.input[start..self.pos];
        self.err(
            format!("bad number or duration syntax: {}", go_quote(text)),
            start,
        )
    }

    /// Consumes a number's text; `false` if it breaks the rules (then the lexer reports it).
    fn scan_number(&mut self) -> bool {
        let start = self.pos;
        if self.peek_byte() == Some(b'0') && matches!(self.peek_byte_at(1), Some(b'x' | b'X')) {
            self.pos += 2;
            if self.peek_byte() == Some(b'_') {
                self.pos += 1;
            }
            let digits_start = self.pos;
            while let Some(b) = self.peek_byte() {
                let separator =
                    b == b'_' && matches!(self.peek_byte_at(1), Some(b) if b.is_ascii_hexdigit());
                if !b.is_ascii_hexdigit() && !separator {
                    break;
                }
                self.pos += 1;
            }
            return self.pos > digits_start && self.peek_byte() != Some(b'.');
        }
        let mut dot = false;
        let mut exp = false;
        let mut digits = false;
        while let Some(b) = self.peek_byte() {
            match b {
                b'0'..=b'9' => {
                    digits = true;
                    self.pos += 1;
                }
                b'.' => {
                    if dot || exp {
                        self.pos += 1;
                        return false;
                    }
                    dot = true;
                    self.pos += 1;
                    if matches!(self.peek_byte(), Some(b'_' | b'.')) {
                        return false;
                    }
                }
                b'e' | b'E' => {
                    if exp || !digits {
                        return false;
                    }
                    // `5e` followed by a non-digit may still be the start of a duration? No:
                    // `e` is not a unit, so this is an exponent or an error.
                    exp = true;
                    self.pos += 1;
                    if matches!(self.peek_byte(), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                    if !matches!(self.peek_byte(), Some(b'0'..=b'9')) {
                        return false;
                    }
                }
                b'_' => {
                    if !digits || !matches!(self.peek_byte_at(1), Some(b'0'..=b'9')) {
                        self.pos += 1;
                        return false;
                    }
                    self.pos += 1;
                }
                _ => break,
            }
        }
        self.pos > start && digits
    }

    /// After a number: unit letters (`s m h d w y`, `ms`) and further `<digits><unit>` groups.
    fn scan_duration_units(&mut self) -> bool {
        let unit = |lx: &mut Self, allow_y: bool| -> bool {
            match lx.peek_byte() {
                Some(b's' | b'm' | b'h' | b'd' | b'w') => {}
                Some(b'y') if allow_y => {}
                _ => return false,
            }
            lx.pos += 1;
            if lx.peek_byte() == Some(b's') && lx.bytes[lx.pos - 1] == b'm' {
                lx.pos += 1;
            }
            true
        };
        if !unit(self, true) {
            return false;
        }
        while matches!(self.peek_byte(), Some(b'0'..=b'9')) {
            while matches!(self.peek_byte(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
            if !unit(self, false) {
                return false;
            }
        }
        true
    }

    fn quoted_string(&mut self, start: usize, quote: u8) -> Result<Token, LexError> {
        self.pos += 1;
        loop {
            let Some(b) = self.peek_byte() else {
                return self.err("unterminated quoted string".into(), start);
            };
            match b {
                b'\\' => {
                    self.pos += 1;
                    if let Err(message) = self.escape(quote) {
                        return self.err(message, start);
                    }
                }
                b'\n' => return self.err("unterminated quoted string".into(), start),
                b if b == quote => {
                    self.pos += 1;
                    return Ok(Token {
                        kind: TokenKind::String,
                        span: Span::new(start, self.pos),
                    });
                }
                _ => {
                    // Step over a whole character so `pos` stays on a char boundary.
                    let c = self.char_at(self.pos).map_or(1, char::len_utf8);
                    self.pos += c;
                }
            }
        }
    }

    /// Validates one escape sequence after a backslash (the same rules as Go string literals).
    fn escape(&mut self, quote: u8) -> Result<(), String> {
        let Some(c) = self.char_at(self.pos) else {
            return Err("escape sequence not terminated".into());
        };
        self.pos += c.len_utf8();
        let (n, base, max) = match c {
            'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => return Ok(()),
            c if c as u32 == u32::from(quote) => return Ok(()),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8, 255)
            }
            'x' => (2, 16, 255),
            'u' => (4, 16, 0x10FFFF),
            'U' => (8, 16, 0x10FFFF),
            c => return Err(format!("unknown escape sequence {}", go_char_u(c))),
        };
        let mut x: u32 = 0;
        for _ in 0..n {
            let Some(c) = self.char_at(self.pos) else {
                return Err("escape sequence not terminated".into());
            };
            let Some(d) = c.to_digit(base) else {
                return Err(format!(
                    "illegal character {} in escape sequence",
                    go_char_u(c)
                ));
            };
            self.pos += 1;
            x = x * base + d;
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn raw_string(&mut self, start: usize) -> Result<Token, LexError> {
        self.pos += 1;
        match self.input[self.pos..].find('`') {
            Some(i) => {
                self.pos += i + 1;
                Ok(Token {
                    kind: TokenKind::String,
                    span: Span::new(start, self.pos),
                })
            }
            None => self.err("unterminated raw string".into(), start),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Result<Token, LexError>;

    /// Tokens up to (not including) the end of input, or up to and including an error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_token() {
            Ok(t) if t.kind == TokenKind::Eof => None,
            other => Some(other),
        }
    }
}

/// Unquotes a string token's text (quotes included) the way Go does: escapes in `"…"` and
/// `'…'`, none in backticks. Escapes that produce bytes (`\xNN`, octal) must add up to valid
/// UTF-8; [`unquote_bytes`] accepts any bytes.
pub fn unquote(text: &str) -> Result<String, String> {
    String::from_utf8(unquote_bytes(text)?)
        .map_err(|_| "escapes do not form valid UTF-8".to_string())
}

/// Unquotes a string token's text like [`unquote`], to the bytes it denotes, which need not
/// be UTF-8 (`"\xff"`).
pub fn unquote_bytes(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if bytes.len() < 2 || bytes[0] != bytes[bytes.len() - 1] {
        return Err("invalid syntax".into());
    }
    let quote = bytes[0];
    let body = &text[1..text.len() - 1];
    if quote == b'`' || !body.contains('\\') {
        return Ok(body.as_bytes().to_vec());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err("invalid syntax".into());
        };
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' | '"' if e as u32 == u32::from(quote) => Some(quote),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, base, is_byte) = match e {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => return Err("invalid syntax".into()),
        };
        let mut x = if base == 8 {
            e.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|(_, c)| c.to_digit(base))
                .ok_or_else(|| "invalid syntax".to_string())?;
            x = x * base + d;
        }
        if is_byte {
            if x > 255 {
                return Err("invalid syntax".into());
            }
            out.push(x as u8);
        } else {
            let c = char::from_u32(x).ok_or_else(|| "invalid syntax".to_string())?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok(out)
}

/// Quotes a string as Go's `strconv.Quote` does for the characters PromQL text contains:
/// `\"`, `\\`, the C escapes, `\xNN` for other ASCII controls and `\uNNNN` for other
/// control characters. This is the canonical form the printer writes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_go_quoted(&mut out, s).expect("writing to a String cannot fail");
    out
}

/// Quotes bytes as Go's `strconv.Quote` does: like [`go_quote`], with each byte that is not
/// part of valid UTF-8 written as `\xNN`.
pub fn write_go_quoted_bytes<W: fmt::Write + ?Sized>(w: &mut W, bytes: &[u8]) -> fmt::Result {
    w.write_char('"')?;
    for chunk in bytes.utf8_chunks() {
        let valid = go_quote(chunk.valid());
        w.write_str(&valid[1..valid.len() - 1])?;
        for b in chunk.invalid() {
            write!(w, "\\x{b:02x}")?;
        }
    }
    w.write_char('"')
}

/// [`go_quote`] into any writer (prom-model's quoting, which label sets and matchers print
/// with too).
pub use prom_model::labels::write_quoted as write_go_quoted;

/// Go's `%q` of a rune: `'a'`, `'\''`, `'\n'`, `'\x00'`; `EOF`-like `None` prints as
/// Go prints rune -1.
fn quote_char(c: Option<char>) -> String {
    match c {
        None => "'\\uffff'".to_string(),
        Some('\'') => "'\\''".to_string(),
        Some('"') => "'\"'".to_string(),
        Some(c) => {
            let q = go_quote(c.encode_utf8(&mut [0u8; 4]));
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Go's `%#U`: `U+0071 'q'`.
fn go_char_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        Lexer::new(s).map(|t| t.unwrap().kind).collect()
    }

    fn lex_err(s: &str) -> String {
        Lexer::new(s)
            .find_map(|t| t.err())
            .map(|e| e.message)
            .unwrap_or_default()
    }

    #[test]
    fn numbers_and_durations() {
        for n in [
            "1", "1.5", ".5", "5.", "1e3", "1E-3", "0x1f", "0X_FF", "1_000", "1_000.5", "017",
            "Inf", "nan", "NaN", "1e1_0",
        ] {
            assert_eq!(kinds(n), [TokenKind::Number], "{n}");
        }
        for d in ["5m", "1h30m", "100ms", "1y2w3d4h5m6s7ms", "1.5h"] {
            assert_eq!(kinds(d), [TokenKind::Duration], "{d}");
        }
        assert_eq!(lex_err("2.5."), r#"bad number or duration syntax: "2.5.""#);
        assert_eq!(
            lex_err("0deadbeef"),
            r#"bad number or duration syntax: "0de""#
        );
        assert!(lex_err("1__0").starts_with("bad number"));
        assert!(lex_err("5mm").starts_with("bad number"));
        assert!(lex_err("1_").starts_with("bad number"));
    }

    #[test]
    fn words_and_keywords() {
        assert_eq!(
            kinds("SUM by foo a:b"),
            [
                TokenKind::Keyword(Keyword::Sum),
                TokenKind::Keyword(Keyword::By),
                TokenKind::Ident,
                TokenKind::MetricIdent
            ]
        );
        // Inside braces every word is a label name.
        assert_eq!(
            kinds("{by=\"x\"}"),
            [
                TokenKind::LeftBrace,
                TokenKind::Ident,
                TokenKind::Eql,
                TokenKind::String,
                TokenKind::RightBrace
            ]
        );
        assert_eq!(Keyword::from_word("Group_Left"), Some(Keyword::GroupLeft));
        assert_eq!(Keyword::from_word("groups"), None);
    }

    #[test]
    fn brackets_and_colons() {
        assert_eq!(
            kinds("x[5m:1m]"),
            [
                TokenKind::Ident,
                TokenKind::LeftBracket,
                TokenKind::Duration,
                TokenKind::Colon,
                TokenKind::Duration,
                TokenKind::RightBracket
            ]
        );
        assert_eq!(kinds("a:b"), [TokenKind::MetricIdent]);
        assert_eq!(lex_err("x[5m"), "unclosed left bracket");
        assert_eq!(lex_err("(1"), "unclosed left parenthesis");
        assert_eq!(lex_err("1)"), "unexpected right parenthesis ')'");
        assert_eq!(lex_err("x[[5m]"), "unexpected left bracket '['");
        assert_eq!(lex_err("{a=\"b\""), "unexpected end of input inside braces");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(kinds(r#""a\"b" 'c\'d' `e\f`"#).len(), 3);
        assert_eq!(lex_err(r#""abc"#), "unterminated quoted string");
        assert_eq!(lex_err("`abc"), "unterminated raw string");
        assert_eq!(lex_err(r#""\q""#), "unknown escape sequence U+0071 'q'");
        assert_eq!(lex_err(r#""\'""#), "unknown escape sequence U+0027 '''");
        assert_eq!(
            lex_err(r#""\xZZ""#),
            "illegal character U+005A 'Z' in escape sequence"
        );
        assert_eq!(
            lex_err(r#""\uD800""#),
            "escape sequence is an invalid Unicode code point"
        );
        assert_eq!(unquote(r#""a\tb\u00e9\x41\101""#).unwrap(), "a\tbéAA");
        assert_eq!(unquote(r#""\xc3\xa9""#).unwrap(), "é");
        assert!(unquote(r#""\xff""#).is_err());
        assert_eq!(unquote_bytes(r#""a\xc5z""#).unwrap(), b"a\xc5z");
        let mut q = String::new();
        write_go_quoted_bytes(&mut q, b"a\xc5z\n\xc3\xa9").unwrap();
        assert_eq!(q, r#""a\xc5z\né""#);
        assert_eq!(unquote("`a\\n`").unwrap(), "a\\n");
        assert_eq!(unquote(r#"'it\'s'"#).unwrap(), "it's");
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            kinds("a # comment\n+ b"),
            [TokenKind::Ident, TokenKind::Add, TokenKind::Ident]
        );
    }

    #[test]
    fn descriptions() {
        let d = |s: &str| Lexer::new(s).next().unwrap().unwrap().describe(s);
        assert_eq!(d("foo"), r#"identifier "foo""#);
        assert_eq!(d("a:b"), r#"metric identifier "a:b""#);
        assert_eq!(d("5"), r#"number "5""#);
        assert_eq!(d("+"), "<op:+>");
        assert_eq!(d("and"), "<op:and>");
        assert_eq!(d("SUM"), "<aggr:SUM>");
        assert_eq!(d("by"), "<by>");
        assert_eq!(d("step"), r#""step""#);
        assert_eq!(d("("), r#""(""#);
        assert_eq!(d("\"abcdefghijklm\""), r#"string "\"abcdefghi"..."#);
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
        assert_eq!(quote_char(Some('.')), "'.'");
        assert_eq!(quote_char(Some('\'')), r"'\''");
    }
}
