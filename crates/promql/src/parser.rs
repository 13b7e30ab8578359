//! The PromQL parser: text to [`Expr`], with Prometheus's grammar, type checks and error
//! messages.
//!
//! A hand-written recursive-descent parser with precedence climbing over the
//! [lexer](crate::lexer). It reads the language of Prometheus 3.x with every optional feature
//! enabled by default (see [`ParseOptions`]), then type-checks the tree as Prometheus does
//! (`checkAST`). Errors carry a byte [`Span`] and print as Prometheus prints them:
//!
//! ```
//! use prom_promql::parse;
//!
//! let err = parse("sum(rate(x[5m]) by (job)").unwrap_err();
//! assert_eq!(err.to_string(), r#"1:17: parse error: unexpected <by>"#);
//! let err = parse("rate(x)").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#
//! );
//! // The caret form, for terminals.
//! assert_eq!(err.caret("rate(x)"), "rate(x)\n     ^");
//! ```
//!
//! Nesting is limited ([`ParseOptions::max_depth`]) so that neither the parser nor the
//! recursive walks over its result (printing, evaluation, dropping) can exhaust the stack.

use std::fmt;

use prom_model::{MatchType, Matcher};

use crate::ast::*;
use crate::functions::Function;
use crate::lexer::{Keyword, LexError, Lexer, Token, TokenKind, unquote};

/// Parses a PromQL expression with the default [`ParseOptions`] (every feature on).
///
/// ```
/// use prom_promql::{ast::Expr, parse};
/// let expr = parse(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#)?;
/// assert!(matches!(expr, Expr::Aggregate(_)));
/// assert_eq!(expr.to_string(), r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#);
/// # Ok::<(), prom_promql::parser::ParseError>(())
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    ParseOptions::default().parse(input)
}

/// Parses a series selector alone (`foo{job="api"}`, `{__name__=~"a.*"}`), as the `match[]`
/// parameters of Prometheus's HTTP API are parsed. Offsets, `@` and ranges are rejected.
///
/// ```
/// let sel = prom_promql::parser::parse_metric_selector(r#"up{job="node"}"#)?;
/// assert_eq!(sel.matchers.len(), 2);
/// assert!(prom_promql::parser::parse_metric_selector("up[5m]").is_err());
/// # Ok::<(), prom_promql::parser::ParseError>(())
/// ```
pub fn parse_metric_selector(input: &str) -> Result<VectorSelector, ParseError> {
    metric_selector(input).map_err(|e| *e)
}

fn metric_selector(input: &str) -> PResult<VectorSelector> {
    let opts = ParseOptions::default();
    let mut p = Parser::new(input, &opts);
    if p.at(TokenKind::Eof) && p.lex_error.is_none() {
        return Err(p.error_at(0, ParseErrorKind::Syntax, "no expression found in input"));
    }
    let e = p.parse_primary()?;
    if !p.at(TokenKind::Eof) {
        return Err(p.unexpected("", ""));
    }
    match e {
        Expr::VectorSelector(v) => {
            Checker { input }.check_selector(&v, false)?;
            Ok(*v)
        }
        other => Err(p.error_at(
            other.span().start,
            ParseErrorKind::Syntax,
            "expected a series selector",
        )),
    }
}

/// Parser settings. The default enables everything Prometheus 3.x can parse, as its test
/// suite does; the `false` settings reproduce a Prometheus server without feature flags.
///
/// ```
/// use prom_promql::parser::ParseOptions;
/// let strict = ParseOptions::default().experimental_functions(false);
/// let err = strict.parse("sort_by_label(up, \"job\")").unwrap_err();
/// assert_eq!(err.message(), r#"function "sort_by_label" is not enabled"#);
/// assert!(ParseOptions::default().parse("sort_by_label(up, \"job\")").is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Experimental functions and aggregations (`info`, `sort_by_label`, `limitk`, …);
    /// Prometheus's `promql-experimental-functions`. Default `true`.
    pub experimental_functions: bool,
    /// Duration arithmetic in ranges, steps and offsets, and `step()`, `range()`, `start()`,
    /// `end()`, `min_of()`, `max_of()`; Prometheus's `promql-duration-expr`. Default `true`.
    pub duration_expressions: bool,
    /// The `anchored` and `smoothed` modifiers; `promql-extended-range-selectors`.
    /// Default `true`.
    pub extended_range_selectors: bool,
    /// `fill`, `fill_left`, `fill_right` on binary operators; `promql-binop-fill-modifiers`.
    /// Default `true`.
    pub binop_fill_modifiers: bool,
    /// The deepest nesting accepted (parentheses, calls, operators, subqueries; each operator
    /// of a chain counts). Default 256.
    pub max_depth: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            experimental_functions: true,
            duration_expressions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
            max_depth: 256,
        }
    }
}

impl ParseOptions {
    /// Prometheus's defaults: no experimental syntax or functions.
    pub fn prometheus_defaults() -> Self {
        ParseOptions {
            experimental_functions: false,
            duration_expressions: false,
            extended_range_selectors: false,
            binop_fill_modifiers: false,
            max_depth: 256,
        }
    }

    /// Sets [`experimental_functions`](Self::experimental_functions).
    pub fn experimental_functions(mut self, on: bool) -> Self {
        self.experimental_functions = on;
        self
    }

    /// Sets [`duration_expressions`](Self::duration_expressions).
    pub fn duration_expressions(mut self, on: bool) -> Self {
        self.duration_expressions = on;
        self
    }

    /// Sets [`extended_range_selectors`](Self::extended_range_selectors).
    pub fn extended_range_selectors(mut self, on: bool) -> Self {
        self.extended_range_selectors = on;
        self
    }

    /// Sets [`binop_fill_modifiers`](Self::binop_fill_modifiers).
    pub fn binop_fill_modifiers(mut self, on: bool) -> Self {
        self.binop_fill_modifiers = on;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Parses and type-checks `input`.
    pub fn parse(&self, input: &str) -> Result<Expr, ParseError> {
        self.parse_boxed(input).map_err(|e| *e)
    }

    fn parse_boxed(&self, input: &str) -> PResult<Expr> {
        let mut p = Parser::new(input, self);
        if p.at(TokenKind::Eof) && p.lex_error.is_none() {
            return Err(p.error_at(0, ParseErrorKind::Syntax, "no expression found in input"));
        }
        let mut expr = p.parse_expr(1)?;
        if !p.at(TokenKind::Eof) {
            return Err(p.unexpected("", ""));
        }
        Checker { input }.check(&mut expr)?;
        Ok(expr)
    }
}

/// What kind of problem a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text cannot be split into tokens (a bad number, an unterminated string).
    Lex,
    /// A token where the grammar does not allow it.
    Syntax,
    /// An operand of the wrong type (`rate(x)`, `"a" + 1`).
    Type,
    /// Well-formed but invalid: a bad regex, duration or label name, a modifier in the wrong
    /// place, a selector matching everything.
    Invalid,
    /// Syntax behind a feature flag that the [`ParseOptions`] turn off.
    Disabled,
    /// Nested deeper than [`ParseOptions::max_depth`].
    TooDeep,
}

/// A parse error: what, where, and Prometheus's message.
///
/// Displays as Prometheus does: `1:14: parse error: unexpected end of input`, where the line
/// and column are 1-based and the column counts bytes from the start of the line, as
/// Prometheus computes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: parse error: {message}")]
pub struct ParseError {
    kind: ParseErrorKind,
    span: Span,
    line: usize,
    column: usize,
    message: String,
}

impl ParseError {
    fn new(input: &str, kind: ParseErrorKind, span: Span, message: String) -> Self {
        let pos = span.start.min(input.len());
        let before = &input.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        ParseError {
            kind,
            span,
            line,
            column: pos - line_start + 1,
            message,
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// Where in the input (byte offsets).
    pub fn span(&self) -> Span {
        self.span
    }

    /// 1-based line of the error's start.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column of the error's start, in bytes.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The message without position (`unexpected end of input`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input line holding the error with a caret under its start, for terminals.
    /// `input` must be the text that was parsed.
    pub fn caret(&self, input: &str) -> String {
        let pos = self.span.start.min(input.len());
        let line_start = input[..pos].rfind('\n').map_or(0, |i| i + 1);
        let line_end = input[pos..].find('\n').map_or(input.len(), |i| pos + i);
        let line = &input[line_start..line_end];
        // Width in characters (tabs kept) so the caret lines up under multi-byte text.
        let pad: String = input[line_start..pos]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{line}\n{pad}^")
    }
}

const POW_PREC: u8 = 6;

struct Parser<'a> {
    input: &'a str,
    lexer: Lexer<'a>,
    /// The lookahead; `Eof` standing in for a lexer error when `lex_error` is set.
    tok: Token,
    lex_error: Option<LexError>,
    /// End of the last consumed token.
    prev_end: usize,
    opts: &'a ParseOptions,
    depth: usize,
}

/// Errors are boxed inside the parser to keep the recursive functions' frames small.
type PResult<T> = Result<T, Box<ParseError>>;

impl<'a> Parser<'a> {
    fn new(input: &'a str, opts: &'a ParseOptions) -> Self {
        let mut p = Parser {
            input,
            lexer: Lexer::new(input),
            tok: Token {
                kind: TokenKind::Eof,
                span: Span::default(),
            },
            lex_error: None,
            prev_end: 0,
            opts,
            depth: 0,
        };
        p.fetch();
        p
    }

    fn fetch(&mut self) {
        match self.lexer.next_token() {
            Ok(t) => self.tok = t,
            Err(e) => {
                self.tok = Token {
                    kind: TokenKind::Eof,
                    span: Span::new(e.pos, e.pos),
                };
                self.lex_error = Some(e);
            }
        }
    }

    fn advance(&mut self) -> Token {
        let t = self.tok;
        self.prev_end = t.span.end;
        self.fetch();
        t
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.lex_error.is_none() && self.tok.kind == kind
    }

    fn at_keyword(&self, k: Keyword) -> bool {
        self.at(TokenKind::Keyword(k))
    }

    /// The token after the lookahead (the lexer is cheap to clone).
    fn peek2(&self) -> Option<TokenKind> {
        if self.lex_error.is_some() {
            return None;
        }
        self.lexer.clone().next_token().ok().map(|t| t.kind)
    }

    fn text(&self, t: Token) -> &'a str {
        t.text(self.input)
    }

    #[cold]
    fn error_at(
        &self,
        pos: usize,
        kind: ParseErrorKind,
        msg: impl Into<String>,
    ) -> Box<ParseError> {
        Box::new(ParseError::new(
            self.input,
            kind,
            Span::new(pos, pos),
            msg.into(),
        ))
    }

    #[cold]
    fn error_span(
        &self,
        span: Span,
        kind: ParseErrorKind,
        msg: impl Into<String>,
    ) -> Box<ParseError> {
        Box::new(ParseError::new(self.input, kind, span, msg.into()))
    }

    /// `unexpected <token>[ in <context>][, expected <expected>]`, or the pending lexer error.
    #[cold]
    #[inline(never)]
    fn unexpected(&self, context: &str, expected: &str) -> Box<ParseError> {
        if let Some(e) = &self.lex_error {
            let span = Span::new(e.pos, self.input.len());
            return self.error_span(span, ParseErrorKind::Lex, e.message.clone());
        }
        let mut msg = format!("unexpected {}", self.tok.describe(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.error_span(self.tok.span, ParseErrorKind::Syntax, msg)
    }

    fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.at(kind) {
            Ok(self.advance())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(self.error_at(
                self.tok.span.start,
                ParseErrorKind::TooDeep,
                format!(
                    "expression nested too deeply (more than {} levels)",
                    self.opts.max_depth
                ),
            ));
        }
        Ok(())
    }

    // ----- expressions -----

    fn binary_op(&self) -> Option<BinaryOp> {
        if self.lex_error.is_some() {
            return None;
        }
        Some(match self.tok.kind {
            TokenKind::Add => BinaryOp::Add,
            TokenKind::Sub => BinaryOp::Sub,
            TokenKind::Mul => BinaryOp::Mul,
            TokenKind::Div => BinaryOp::Div,
            TokenKind::Mod => BinaryOp::Mod,
            TokenKind::Pow => BinaryOp::Pow,
            TokenKind::EqlC => BinaryOp::Eql,
            TokenKind::Neq => BinaryOp::Neq,
            TokenKind::Gtr => BinaryOp::Gtr,
            TokenKind::Lss => BinaryOp::Lss,
            TokenKind::Gte => BinaryOp::Gte,
            TokenKind::Lte => BinaryOp::Lte,
            TokenKind::TrimUpper => BinaryOp::TrimUpper,
            TokenKind::TrimLower => BinaryOp::TrimLower,
            TokenKind::Keyword(Keyword::And) => BinaryOp::And,
            TokenKind::Keyword(Keyword::Or) => BinaryOp::Or,
            TokenKind::Keyword(Keyword::Unless) => BinaryOp::Unless,
            TokenKind::Keyword(Keyword::Atan2) => BinaryOp::Atan2,
            _ => return None,
        })
    }

    /// Precedence climbing: operators binding at least as tightly as `min_prec`.
    fn parse_expr(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let mut levels = 1;
        let mut lhs = self.parse_unary()?;
        while let Some(op) = self.binary_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.advance();
            let (return_bool, matching) = self.parse_bin_modifiers(lhs.span().start)?;
            let next_min = if op.is_right_associative() {
                prec
            } else {
                prec + 1
            };
            let rhs = self.parse_expr(next_min)?;
            lhs = make_binary(op, lhs, rhs, return_bool, matching);
            // A chain `a + b + c + …` nests on the left without recursing here; count it so
            // the tree's depth stays within the limit too.
            self.enter()?;
            levels += 1;
        }
        self.depth -= levels;
        Ok(lhs)
    }

    /// `bool`, `on`/`ignoring (…)`, `group_left`/`group_right [(…)]`, `fill…(v)`.
    #[inline(never)]
    fn parse_bin_modifiers(&mut self, lhs_start: usize) -> PResult<(bool, Option<VectorMatching>)> {
        let return_bool = if self.at_keyword(Keyword::Bool) {
            self.advance();
            true
        } else {
            false
        };
        let mut matching: Option<VectorMatching> = None;
        if self.at_keyword(Keyword::On) || self.at_keyword(Keyword::Ignoring) {
            let on = self.at_keyword(Keyword::On);
            self.advance();
            let labels = self.parse_grouping_labels()?;
            let mut m = VectorMatching {
                on,
                labels,
                ..VectorMatching::default()
            };
            if self.at_keyword(Keyword::GroupLeft) || self.at_keyword(Keyword::GroupRight) {
                m.card = if self.at_keyword(Keyword::GroupLeft) {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                self.advance();
                if self.at(TokenKind::LeftParen) {
                    m.include = self.parse_grouping_labels()?;
                }
            }
            matching = Some(m);
        }
        let mut fill = FillValues::default();
        let mut seen_fill = false;
        loop {
            let kw = match self.tok.kind {
                TokenKind::Keyword(
                    k @ (Keyword::Fill | Keyword::FillLeft | Keyword::FillRight),
                ) if self.lex_error.is_none() => k,
                _ => break,
            };
            // Without a `(` the word is the right operand's metric name (`a + fill`).
            if self.peek2() != Some(TokenKind::LeftParen) {
                break;
            }
            let dup = match kw {
                Keyword::Fill => seen_fill || !fill.is_empty(),
                Keyword::FillLeft => seen_fill || fill.lhs.is_some(),
                _ => seen_fill || fill.rhs.is_some(),
            };
            if dup {
                return Err(self.unexpected("binary modifiers", ""));
            }
            self.advance();
            self.advance(); // `(`
            let v = self.parse_signed_number("fill modifier", "number")?;
            self.expect(TokenKind::RightParen, "fill modifier", "\")\"")?;
            if !self.opts.binop_fill_modifiers {
                return Err(self.error_at(
                    lhs_start,
                    ParseErrorKind::Disabled,
                    "binop fill modifiers are experimental and not enabled",
                ));
            }
            match kw {
                Keyword::Fill => {
                    seen_fill = true;
                    fill.lhs = Some(v);
                    fill.rhs = Some(v);
                }
                Keyword::FillLeft => fill.lhs = Some(v),
                _ => fill.rhs = Some(v),
            }
        }
        if !fill.is_empty() {
            matching.get_or_insert_with(VectorMatching::default).fill = fill;
        }
        Ok((return_bool, matching))
    }

    /// `[+|-] number|duration`, for `fill (…)`.
    #[inline(never)]
    fn parse_signed_number(&mut self, context: &str, expected: &str) -> PResult<f64> {
        let neg = if self.at(TokenKind::Sub) || self.at(TokenKind::Add) {
            self.advance().kind == TokenKind::Sub
        } else {
            false
        };
        let v = if self.at(TokenKind::Number) {
            let t = self.advance();
            self.number_value(t)?
        } else if self.at(TokenKind::Duration) {
            let t = self.advance();
            self.duration_ms(t)? as f64 / 1000.0
        } else {
            return Err(self.unexpected(context, expected));
        };
        Ok(if neg { -v } else { v })
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let op = match self.tok.kind {
            TokenKind::Add if self.lex_error.is_none() => UnaryOp::Pos,
            TokenKind::Sub if self.lex_error.is_none() => UnaryOp::Neg,
            _ => return self.parse_postfix(),
        };
        let start = self.advance().span.start;
        // A unary operator binds like `*`: looser than `^`, tighter than everything else.
        let operand = self.parse_expr(POW_PREC)?;
        Ok(make_unary(op, start, operand))
    }

    /// A primary followed by ranges, subqueries, `offset`, `@`, `anchored`, `smoothed`.
    fn parse_postfix(&mut self) -> PResult<Expr> {
        let mut expr = self.parse_primary()?;
        let mut levels = 0;
        loop {
            if self.lex_error.is_some() {
                break;
            }
            match self.tok.kind {
                TokenKind::LeftBracket => {
                    expr = self.parse_range_or_subquery(expr)?;
                    self.enter()?;
                    levels += 1;
                }
                TokenKind::Keyword(Keyword::Offset) => self.parse_offset(&mut expr)?,
                TokenKind::At => self.parse_at(&mut expr)?,
                TokenKind::Keyword(k @ (Keyword::Anchored | Keyword::Smoothed)) => {
                    self.parse_extension(&mut expr, k)?
                }
                _ => break,
            }
        }
        self.depth -= levels;
        Ok(expr)
    }

    /// Kept small: it is on every path of the expression recursion, so its frame is paid
    /// once per nesting level. The other primaries live in [`Self::parse_leaf`].
    fn parse_primary(&mut self) -> PResult<Expr> {
        if self.at(TokenKind::LeftParen) {
            let open = self.advance().span.start;
            let expr = self.parse_expr(1)?;
            return self.finish_paren(open, expr);
        }
        self.parse_leaf()
    }

    #[inline(never)]
    fn finish_paren(&mut self, open: usize, expr: Expr) -> PResult<Expr> {
        let close = self.expect(TokenKind::RightParen, "", "")?;
        Ok(Expr::Paren(Box::new(ParenExpr {
            expr,
            span: Span::new(open, close.span.end),
        })))
    }

    #[inline(never)]
    fn parse_literal(&mut self) -> PResult<Expr> {
        let t = self.advance();
        Ok(match t.kind {
            TokenKind::Number => Expr::Number(NumberLiteral {
                value: self.number_value(t)?,
                is_duration: false,
                span: t.span,
            }),
            TokenKind::Duration => Expr::Number(NumberLiteral {
                value: self.duration_ms(t)? as f64 / 1000.0,
                is_duration: true,
                span: t.span,
            }),
            _ => {
                let text = self.text(t);
                let bytes = crate::lexer::unquote_bytes(text).map_err(|m| {
                    self.error_span(
                        t.span,
                        ParseErrorKind::Invalid,
                        format!(
                            "error unquoting string {}: {m}",
                            crate::lexer::go_quote(text)
                        ),
                    )
                })?;
                let (value, bytes) = match String::from_utf8(bytes) {
                    Ok(value) => (value, None),
                    Err(e) => (
                        String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        Some(e.into_bytes()),
                    ),
                };
                Expr::String(StringLiteral {
                    value,
                    bytes,
                    span: t.span,
                })
            }
        })
    }

    fn parse_leaf(&mut self) -> PResult<Expr> {
        if self.lex_error.is_some() {
            return Err(self.unexpected("", ""));
        }
        let t = self.tok;
        match t.kind {
            TokenKind::Number | TokenKind::Duration | TokenKind::String => self.parse_literal(),
            TokenKind::LeftBrace => self.parse_vector_selector(None),
            TokenKind::Ident => {
                self.advance();
                if self.at(TokenKind::LeftParen) {
                    return self.parse_call(t, Function::lookup(self.text(t)));
                }
                self.parse_vector_selector(Some(t))
            }
            TokenKind::MetricIdent => {
                self.advance();
                self.parse_vector_selector(Some(t))
            }
            TokenKind::Keyword(k) if k.is_aggregator() => {
                self.advance();
                if self.at(TokenKind::LeftParen)
                    || self.at_keyword(Keyword::By)
                    || self.at_keyword(Keyword::Without)
                {
                    return self.parse_aggregation(t, k);
                }
                self.parse_vector_selector(Some(t))
            }
            TokenKind::Keyword(
                k @ (Keyword::Start
                | Keyword::End
                | Keyword::Step
                | Keyword::Range
                | Keyword::MinOf
                | Keyword::MaxOf),
            ) => {
                self.advance();
                if self.at(TokenKind::LeftParen) {
                    return self.parse_call(t, Function::lookup(k.as_str()));
                }
                self.parse_vector_selector(Some(t))
            }
            TokenKind::Keyword(k) if k.can_be_metric_name() => {
                self.advance();
                self.parse_vector_selector(Some(t))
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    #[inline(never)]
    fn number_value(&self, t: Token) -> PResult<f64> {
        parse_number(self.text(t)).map_err(|m| {
            self.error_span(
                t.span,
                ParseErrorKind::Invalid,
                format!("error parsing number: {m}"),
            )
        })
    }

    #[inline(never)]
    fn duration_ms(&self, t: Token) -> PResult<i64> {
        parse_duration(self.text(t))
            .map_err(|m| self.error_span(t.span, ParseErrorKind::Invalid, m))
    }

    #[inline(never)]
    fn unquote(&self, t: Token) -> PResult<String> {
        let text = self.text(t);
        unquote(text).map_err(|m| {
            self.error_span(
                t.span,
                ParseErrorKind::Invalid,
                format!(
                    "error unquoting string {}: {m}",
                    crate::lexer::go_quote(text)
                ),
            )
        })
    }

    // ----- selectors -----

    /// After an optional name token: `{matchers}` if present.
    #[inline(never)]
    fn parse_vector_selector(&mut self, name: Option<Token>) -> PResult<Expr> {
        let start = name.map_or(self.tok.span.start, |t| t.span.start);
        let mut matchers = Vec::new();
        let mut end = name.map_or(start, |t| t.span.end);
        if self.at(TokenKind::LeftBrace) {
            self.advance();
            self.parse_matchers(&mut matchers)?;
            end = self.prev_end;
        }
        let name = name.map(|t| self.text(t).to_string());
        if let Some(n) = &name {
            matchers.push(Matcher::equal(prom_model::METRIC_NAME, n.clone()));
        }
        Ok(Expr::VectorSelector(Box::new(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            extension: None,
            span: Span::new(start, end),
        })))
    }

    /// The inside of `{…}` after the brace, through the closing brace.
    #[inline(never)]
    fn parse_matchers(&mut self, out: &mut Vec<Matcher>) -> PResult<()> {
        const CTX: &str = "label matching";
        loop {
            if self.at(TokenKind::RightBrace) {
                self.advance();
                return Ok(());
            }
            let label = self.tok;
            let name = match label.kind {
                TokenKind::Ident if self.lex_error.is_none() => {
                    self.advance();
                    self.text(label).to_string()
                }
                TokenKind::String if self.lex_error.is_none() => {
                    self.advance();
                    self.unquote(label)?
                }
                _ => return Err(self.unexpected(CTX, "identifier or \"}\"")),
            };
            let op = match self.tok.kind {
                _ if self.lex_error.is_some() => None,
                TokenKind::Eql => Some(MatchType::Equal),
                TokenKind::Neq => Some(MatchType::NotEqual),
                TokenKind::EqlRegex => Some(MatchType::RegexMatch),
                TokenKind::NeqRegex => Some(MatchType::RegexNoMatch),
                _ => None,
            };
            match op {
                Some(op) => {
                    self.advance();
                    if !self.at(TokenKind::String) {
                        return Err(self.unexpected(CTX, "string"));
                    }
                    let value_tok = self.advance();
                    let value = self.unquote(value_tok)?;
                    let m = Matcher::new(op, name, value).map_err(|e| {
                        self.error_span(
                            label.span.to(value_tok.span),
                            ParseErrorKind::Invalid,
                            e.to_string(),
                        )
                    })?;
                    out.push(m);
                }
                // A quoted name alone is the metric name: `{"my.metric"}`.
                None if label.kind == TokenKind::String => {
                    out.push(Matcher::equal(prom_model::METRIC_NAME, name));
                }
                None => return Err(self.unexpected(CTX, "label matching operator")),
            }
            if self.at(TokenKind::Comma) {
                self.advance();
            } else if !self.at(TokenKind::RightBrace) {
                return Err(self.unexpected(CTX, "\",\" or \"}\""));
            }
        }
    }

    /// `(label, "label", …)` for `by`, `without`, `on`, `ignoring`, `group_*`.
    #[inline(never)]
    fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        const CTX: &str = "grouping opts";
        self.expect(TokenKind::LeftParen, CTX, "\"(\"")?;
        let mut labels = Vec::new();
        loop {
            if self.at(TokenKind::RightParen) {
                self.advance();
                return Ok(labels);
            }
            let t = self.tok;
            let label = match t.kind {
                _ if self.lex_error.is_some() => return Err(self.unexpected(CTX, "label")),
                TokenKind::Ident | TokenKind::MetricIdent | TokenKind::Keyword(_) => {
                    self.advance();
                    self.text(t).to_string()
                }
                TokenKind::String => {
                    self.advance();
                    let s = self.unquote(t)?;
                    if s.is_empty() {
                        return Err(self.error_span(
                            t.span,
                            ParseErrorKind::Invalid,
                            format!(
                                "invalid label name for grouping: {}",
                                crate::lexer::go_quote(&s)
                            ),
                        ));
                    }
                    s
                }
                _ => return Err(self.unexpected(CTX, "label")),
            };
            labels.push(label);
            if self.at(TokenKind::Comma) {
                self.advance();
            } else if !self.at(TokenKind::RightParen) {
                return Err(self.unexpected(CTX, "\",\" or \")\""));
            }
        }
    }

    // ----- calls and aggregations -----

    /// `(expr, …)` through the closing parenthesis.
    fn parse_call_args(&mut self) -> PResult<Vec<Expr>> {
        self.expect(TokenKind::LeftParen, "", "")?;
        let mut args = Vec::new();
        if self.at(TokenKind::RightParen) {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.parse_expr(1)?);
            if self.at(TokenKind::Comma) {
                let comma = self.advance();
                if self.at(TokenKind::RightParen) {
                    return Err(self.error_span(
                        comma.span,
                        ParseErrorKind::Syntax,
                        "trailing commas not allowed in function call args",
                    ));
                }
            } else if self.at(TokenKind::RightParen) {
                self.advance();
                return Ok(args);
            } else {
                return Err(self.unexpected("", ""));
            }
        }
    }

    #[inline(never)]
    fn parse_call(&mut self, name: Token, func: Option<&'static Function>) -> PResult<Expr> {
        self.enter()?;
        let args = self.parse_call_args()?;
        self.depth -= 1;
        let text = self.text(name);
        let Some(func) = func else {
            return Err(self.error_span(
                name.span,
                ParseErrorKind::Invalid,
                format!(
                    "unknown function with name {}",
                    crate::lexer::go_quote(text)
                ),
            ));
        };
        if func.experimental && !self.opts.experimental_functions {
            return Err(self.error_span(
                name.span,
                ParseErrorKind::Disabled,
                format!("function {} is not enabled", crate::lexer::go_quote(text)),
            ));
        }
        if func.is_duration_function() && !self.opts.duration_expressions {
            return Err(self.error_span(
                name.span,
                ParseErrorKind::Disabled,
                "experimental duration expression is not enabled",
            ));
        }
        Ok(Expr::Call(Box::new(Call {
            func,
            args,
            span: Span::new(name.span.start, self.prev_end),
        })))
    }

    fn agg_op(k: Keyword) -> AggregateOp {
        match k {
            Keyword::Sum => AggregateOp::Sum,
            Keyword::Avg => AggregateOp::Avg,
            Keyword::Count => AggregateOp::Count,
            Keyword::Min => AggregateOp::Min,
            Keyword::Max => AggregateOp::Max,
            Keyword::Group => AggregateOp::Group,
            Keyword::Stddev => AggregateOp::Stddev,
            Keyword::Stdvar => AggregateOp::Stdvar,
            Keyword::Topk => AggregateOp::Topk,
            Keyword::Bottomk => AggregateOp::Bottomk,
            Keyword::CountValues => AggregateOp::CountValues,
            Keyword::Quantile => AggregateOp::Quantile,
            Keyword::Limitk => AggregateOp::Limitk,
            _ => AggregateOp::LimitRatio,
        }
    }

    #[inline(never)]
    fn parse_grouping_clause(&mut self) -> PResult<Option<(bool, Vec<String>)>> {
        if self.at_keyword(Keyword::By) || self.at_keyword(Keyword::Without) {
            let without = self.at_keyword(Keyword::Without);
            self.advance();
            Ok(Some((without, self.parse_grouping_labels()?)))
        } else {
            Ok(None)
        }
    }

    #[inline(never)]
    fn parse_aggregation(&mut self, op_tok: Token, k: Keyword) -> PResult<Expr> {
        let op = Self::agg_op(k);
        self.enter()?;
        let mut grouping = self.parse_grouping_clause()?;
        if !self.at(TokenKind::LeftParen) {
            return Err(self.unexpected("aggregation", ""));
        }
        let mut args = self.parse_call_args()?;
        if grouping.is_none() {
            grouping = self.parse_grouping_clause()?;
        }
        self.depth -= 1;
        let span = Span::new(op_tok.span.start, self.prev_end);
        let err = |msg: String, kind| Err(Box::new(ParseError::new(self.input, kind, span, msg)));
        if args.is_empty() {
            return err(
                "no arguments for aggregate expression provided".into(),
                ParseErrorKind::Syntax,
            );
        }
        if op.is_experimental() && !self.opts.experimental_functions {
            return err(
                format!(
                    "{}() is experimental and must be enabled with \
                     --enable-feature=promql-experimental-functions",
                    op.as_str()
                ),
                ParseErrorKind::Disabled,
            );
        }
        let want = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != want {
            return err(
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
                ParseErrorKind::Syntax,
            );
        }
        let expr = args.pop().expect("one argument at least");
        let param = args.pop();
        let (without, grouping) = grouping.unwrap_or((false, Vec::new()));
        Ok(Expr::Aggregate(Box::new(AggregateExpr {
            op,
            expr,
            param,
            // `by ()` groups everything into one series, as no clause does.
            without,
            grouping,
            span,
        })))
    }

    // ----- modifiers -----

    #[inline(never)]
    fn parse_offset(&mut self, expr: &mut Expr) -> PResult<()> {
        self.advance();
        let offset = self.parse_offset_duration()?;
        let end = self.prev_end;
        let (slot, span) = match expr {
            Expr::VectorSelector(v) => (&mut v.offset, &mut v.span),
            Expr::MatrixSelector(m) => (&mut m.selector.offset, &mut m.span),
            Expr::Subquery(s) => (&mut s.offset, &mut s.span),
            other => {
                return Err(self.error_at(
                    other.span().start,
                    ParseErrorKind::Invalid,
                    "offset modifier must be preceded by an instant vector selector or range \
                     vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.error_at(
                span.start,
                ParseErrorKind::Invalid,
                "offset may not be set multiple times",
            ));
        }
        // `offset 0` is no offset, as in Prometheus.
        if offset != Duration::Millis(0) {
            *slot = Some(offset);
        }
        span.end = end;
        Ok(())
    }

    #[inline(never)]
    fn parse_at(&mut self, expr: &mut Expr) -> PResult<()> {
        const CTX: &str = "@";
        self.advance();
        let at = if self.at_keyword(Keyword::Start) || self.at_keyword(Keyword::End) {
            let start = self.at_keyword(Keyword::Start);
            self.advance();
            self.expect(TokenKind::LeftParen, CTX, "timestamp")?;
            self.expect(TokenKind::RightParen, CTX, "timestamp")?;
            if start {
                AtModifier::Start
            } else {
                AtModifier::End
            }
        } else {
            let start = self.tok.span.start;
            let secs = self.parse_signed_number(CTX, "timestamp")?;
            let ms = secs * 1000.0;
            if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
                return Err(self.error_at(
                    start,
                    ParseErrorKind::Invalid,
                    format!("timestamp out of bounds for @ modifier: {}", go_f(secs)),
                ));
            }
            AtModifier::Timestamp(ms.round() as i64)
        };
        let end = self.prev_end;
        let (slot, span) = match expr {
            Expr::VectorSelector(v) => (&mut v.at, &mut v.span),
            Expr::MatrixSelector(m) => (&mut m.selector.at, &mut m.span),
            Expr::Subquery(s) => (&mut s.at, &mut s.span),
            other => {
                return Err(self.error_at(
                    other.span().start,
                    ParseErrorKind::Invalid,
                    "@ modifier must be preceded by an instant vector selector or range vector \
                     selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.error_at(
                span.start,
                ParseErrorKind::Invalid,
                "@ <timestamp> may not be set multiple times",
            ));
        }
        *slot = Some(at);
        span.end = end;
        Ok(())
    }

    #[inline(never)]
    fn parse_extension(&mut self, expr: &mut Expr, k: Keyword) -> PResult<()> {
        let ext = if k == Keyword::Anchored {
            RangeExtension::Anchored
        } else {
            RangeExtension::Smoothed
        };
        let kw = self.advance();
        if !self.opts.extended_range_selectors {
            return Err(self.error_at(
                expr.span().start,
                ParseErrorKind::Disabled,
                format!("{} modifier is experimental and not enabled", ext.as_str()),
            ));
        }
        let (slot, span) = match expr {
            Expr::VectorSelector(v) => (&mut v.extension, &mut v.span),
            Expr::MatrixSelector(m) => (&mut m.selector.extension, &mut m.span),
            Expr::Subquery(s) => {
                return Err(self.error_at(
                    s.span.start,
                    ParseErrorKind::Invalid,
                    format!("{} modifier is not supported for subqueries", ext.as_str()),
                ));
            }
            other => {
                return Err(self.error_at(
                    other.span().start,
                    ParseErrorKind::Invalid,
                    format!(
                        "{} modifier must be preceded by an instant vector selector or range \
                         vector selector",
                        ext.as_str()
                    ),
                ));
            }
        };
        match slot {
            Some(prev) if *prev != ext => {
                return Err(self.error_at(
                    span.start,
                    ParseErrorKind::Invalid,
                    "anchored and smoothed modifiers cannot be used together",
                ));
            }
            _ => *slot = Some(ext),
        }
        span.end = kw.span.end;
        Ok(())
    }

    #[inline(never)]
    fn parse_range_or_subquery(&mut self, expr: Expr) -> PResult<Expr> {
        let lb = self.advance();
        let range = self.parse_bracket_duration(
            "subquery or range selector",
            "number, duration, step(), or range()",
        )?;
        if self.at(TokenKind::RightBracket) {
            self.advance();
            let problem = match &expr {
                Expr::VectorSelector(v) if v.offset.is_some() => {
                    Some("no offset modifiers allowed before range")
                }
                Expr::VectorSelector(v) if v.at.is_some() => {
                    Some("no @ modifiers allowed before range")
                }
                Expr::VectorSelector(_) => None,
                _ => Some("ranges only allowed for vector selectors"),
            };
            if let Some(msg) = problem {
                return Err(self.error_span(
                    Span::new(lb.span.start, self.prev_end),
                    ParseErrorKind::Invalid,
                    msg,
                ));
            }
            let Expr::VectorSelector(selector) = expr else {
                unreachable!("checked above")
            };
            let span = Span::new(selector.span.start, self.prev_end);
            return Ok(Expr::MatrixSelector(Box::new(MatrixSelector {
                selector: *selector,
                range,
                span,
            })));
        }
        if !self.at(TokenKind::Colon) {
            return Err(self.unexpected("subquery or range", "\":\" or \"]\""));
        }
        self.advance();
        let step = if self.at(TokenKind::RightBracket) {
            None
        } else {
            Some(self.parse_bracket_duration(
                "subquery selector",
                "number, duration, step(), range(), or \"]\"",
            )?)
        };
        self.expect(TokenKind::RightBracket, "subquery selector", "\"]\"")?;
        let span = Span::new(expr.span().start, self.prev_end);
        Ok(Expr::Subquery(Box::new(SubqueryExpr {
            expr,
            range,
            step,
            offset: None,
            at: None,
            span,
        })))
    }

    // ----- durations -----

    /// A positive duration inside brackets: full duration arithmetic.
    #[inline(never)]
    fn parse_bracket_duration(&mut self, ctx: &str, expected: &str) -> PResult<Duration> {
        let start = self.tok.span.start;
        let d = self.parse_duration_expr(1, ctx, expected)?;
        let d = self.finish_duration(d)?;
        if let Duration::Millis(ms) = d
            && ms <= 0
        {
            return Err(self.error_at(
                start,
                ParseErrorKind::Invalid,
                "duration must be greater than 0",
            ));
        }
        Ok(d)
    }

    /// Turns a parsed duration expression into a constant when it is one.
    #[inline(never)]
    fn finish_duration(&self, d: DurationExpr) -> PResult<Duration> {
        match d.kind {
            DurationKind::Number(secs) => Ok(Duration::Millis(secs_to_ms(secs))),
            DurationKind::Duration(ms) => Ok(Duration::Millis(ms)),
            _ => {
                if !self.opts.duration_expressions {
                    return Err(self.error_at(
                        d.span.start,
                        ParseErrorKind::Disabled,
                        "experimental duration expression is not enabled",
                    ));
                }
                Ok(Duration::Expr(Box::new(d)))
            }
        }
    }

    /// `offset`'s operand: a signed literal, `step()`, `range()`, `min_of`/`max_of(…)` or a
    /// parenthesised expression. Arithmetic after one of these belongs to the enclosing
    /// expression (`x offset 1m + 1` adds 1 to `x offset 1m`), except after an unsigned
    /// parenthesis, where Prometheus's grammar keeps reading the duration.
    #[inline(never)]
    fn parse_offset_duration(&mut self) -> PResult<Duration> {
        const CTX: &str = "offset";
        const EXP: &str = "number, duration, step(), or range()";
        let start = self.tok.span.start;
        let neg = match self.tok.kind {
            TokenKind::Add | TokenKind::Sub if self.lex_error.is_none() => {
                Some(self.advance().kind == TokenKind::Sub)
            }
            _ => None,
        };
        let primary_start = self.lex_error.is_none()
            && matches!(
                self.tok.kind,
                TokenKind::Number
                    | TokenKind::Duration
                    | TokenKind::LeftParen
                    | TokenKind::Keyword(
                        Keyword::Step | Keyword::Range | Keyword::MinOf | Keyword::MaxOf
                    )
            );
        let d = if primary_start {
            let paren = self.at(TokenKind::LeftParen);
            let p = self.parse_duration_primary(CTX, EXP)?;
            match neg {
                Some(neg) => self.apply_sign(neg, p, start),
                None if paren => {
                    let e = self.parse_duration_binary(p, 1, CTX, EXP)?;
                    wrap_binary(e, start, self.prev_end)
                }
                None => p,
            }
        } else if let Some(neg) = neg {
            self.enter()?;
            let operand = self.parse_duration_expr(POW_PREC, CTX, EXP)?;
            self.depth -= 1;
            let p = self.apply_sign(neg, operand, start);
            let e = self.parse_duration_binary(p, 1, CTX, EXP)?;
            wrap_binary(e, start, self.prev_end)
        } else {
            return Err(self.unexpected(CTX, EXP));
        };
        self.check_literal_range(&d)?;
        self.finish_duration(d)
    }

    #[inline(never)]
    fn check_literal_range(&self, d: &DurationExpr) -> PResult<()> {
        let out = match d.kind {
            DurationKind::Number(v) => v.is_nan() || v.abs() > MAX_DURATION_SECS,
            _ => false,
        };
        if out {
            return Err(self.error_at(
                d.span.start,
                ParseErrorKind::Invalid,
                "duration out of range",
            ));
        }
        Ok(())
    }

    fn apply_sign(&self, neg: bool, d: DurationExpr, start: usize) -> DurationExpr {
        let span = Span::new(start, d.span.end);
        if !neg {
            return DurationExpr { kind: d.kind, span };
        }
        let kind = match d.kind {
            DurationKind::Number(v) => DurationKind::Number(-v),
            DurationKind::Duration(ms) => DurationKind::Duration(-ms),
            other => DurationKind::Neg(Box::new(DurationExpr {
                kind: other,
                span: d.span,
            })),
        };
        DurationExpr { kind, span }
    }

    fn parse_duration_expr(
        &mut self,
        min_prec: u8,
        ctx: &str,
        expected: &str,
    ) -> PResult<DurationExpr> {
        self.enter()?;
        let start = self.tok.span.start;
        let lhs = match self.tok.kind {
            TokenKind::Add | TokenKind::Sub if self.lex_error.is_none() => {
                let neg = self.advance().kind == TokenKind::Sub;
                let operand = self.parse_duration_expr(POW_PREC, ctx, expected)?;
                let d = self.apply_sign(neg, operand, start);
                self.check_literal_range(&d)?;
                d
            }
            _ => self.parse_duration_primary(ctx, expected)?,
        };
        let e = self.parse_duration_binary(lhs, min_prec, ctx, expected)?;
        self.depth -= 1;
        Ok(e)
    }

    fn parse_duration_binary(
        &mut self,
        mut lhs: DurationExpr,
        min_prec: u8,
        ctx: &str,
        expected: &str,
    ) -> PResult<DurationExpr> {
        let mut levels = 0;
        while let Some(op) = self.binary_op() {
            if !matches!(
                op,
                BinaryOp::Add
                    | BinaryOp::Sub
                    | BinaryOp::Mul
                    | BinaryOp::Div
                    | BinaryOp::Mod
                    | BinaryOp::Pow
            ) || op.precedence() < min_prec
            {
                break;
            }
            let op_tok = self.advance();
            let next_min = if op.is_right_associative() {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.parse_duration_expr(next_min, ctx, expected)?;
            let zero = matches!(rhs.kind, DurationKind::Number(v) if v == 0.0)
                || matches!(rhs.kind, DurationKind::Duration(0));
            if zero && matches!(op, BinaryOp::Div | BinaryOp::Mod) {
                let msg = if op == BinaryOp::Div {
                    "division by zero"
                } else {
                    "modulo by zero"
                };
                return Err(self.error_span(op_tok.span, ParseErrorKind::Invalid, msg));
            }
            let span = lhs.span.to(rhs.span);
            lhs = DurationExpr {
                kind: DurationKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
            self.enter()?;
            levels += 1;
        }
        self.depth -= levels;
        Ok(lhs)
    }

    fn parse_duration_primary(&mut self, ctx: &str, expected: &str) -> PResult<DurationExpr> {
        if self.at(TokenKind::LeftParen) {
            let open = self.advance().span.start;
            let inner = self.parse_duration_expr(1, ctx, expected)?;
            return self.finish_duration_paren(open, inner, ctx);
        }
        self.parse_duration_leaf(ctx, expected)
    }

    #[inline(never)]
    fn finish_duration_paren(
        &mut self,
        open: usize,
        inner: DurationExpr,
        ctx: &str,
    ) -> PResult<DurationExpr> {
        self.expect(TokenKind::RightParen, ctx, "\")\"")?;
        let span = Span::new(open, self.prev_end);
        Ok(match inner.kind {
            // A literal in parentheses is the literal.
            k @ (DurationKind::Number(_) | DurationKind::Duration(_)) => {
                DurationExpr { kind: k, span }
            }
            _ => DurationExpr {
                kind: DurationKind::Paren(Box::new(inner)),
                span,
            },
        })
    }

    #[inline(never)]
    fn parse_duration_leaf(&mut self, ctx: &str, expected: &str) -> PResult<DurationExpr> {
        if self.lex_error.is_some() {
            return Err(self.unexpected(ctx, expected));
        }
        let t = self.tok;
        let kind = match t.kind {
            TokenKind::Number => {
                self.advance();
                DurationKind::Number(self.number_value(t)?)
            }
            TokenKind::Duration => {
                self.advance();
                DurationKind::Duration(self.duration_ms(t)?)
            }
            TokenKind::Keyword(Keyword::Step | Keyword::Range) => {
                self.advance();
                self.expect(TokenKind::LeftParen, ctx, expected)?;
                self.expect(TokenKind::RightParen, ctx, "\")\"")?;
                if t.kind == TokenKind::Keyword(Keyword::Step) {
                    DurationKind::Step
                } else {
                    DurationKind::Range
                }
            }
            TokenKind::Keyword(Keyword::MinOf | Keyword::MaxOf) => {
                self.advance();
                self.expect(TokenKind::LeftParen, ctx, "\"(\"")?;
                let a = self.parse_duration_expr(1, ctx, expected)?;
                self.expect(TokenKind::Comma, ctx, "\",\"")?;
                let b = self.parse_duration_expr(1, ctx, expected)?;
                self.expect(TokenKind::RightParen, ctx, "\")\"")?;
                if t.kind == TokenKind::Keyword(Keyword::MinOf) {
                    DurationKind::MinOf(Box::new(a), Box::new(b))
                } else {
                    DurationKind::MaxOf(Box::new(a), Box::new(b))
                }
            }
            _ => return Err(self.unexpected(ctx, expected)),
        };
        let d = DurationExpr {
            kind,
            span: Span::new(t.span.start, self.prev_end),
        };
        self.check_literal_range(&d)?;
        Ok(d)
    }
}

/// Applies a unary operator, folding it into a number literal.
#[inline(never)]
fn make_unary(op: UnaryOp, start: usize, operand: Expr) -> Expr {
    let span = Span::new(start, operand.span().end);
    match operand {
        Expr::Number(mut n) => {
            if op == UnaryOp::Neg {
                n.value = -n.value;
            }
            n.span = span;
            Expr::Number(n)
        }
        expr => Expr::Unary(Box::new(UnaryExpr { op, expr, span })),
    }
}

#[inline(never)]
fn make_binary(
    op: BinaryOp,
    lhs: Expr,
    rhs: Expr,
    return_bool: bool,
    matching: Option<VectorMatching>,
) -> Expr {
    let span = lhs.span().to(rhs.span());
    Expr::Binary(Box::new(BinaryExpr {
        op,
        lhs,
        rhs,
        return_bool,
        matching,
        span,
    }))
}

/// Seconds to milliseconds as Prometheus converts them: rounded to nanoseconds, truncated to
/// milliseconds.
fn secs_to_ms(secs: f64) -> i64 {
    let ns = (secs * 1e9).round();
    (ns / 1e6).trunc() as i64
}

/// The largest duration literal, in seconds (Go's `time.Duration` range).
const MAX_DURATION_SECS: f64 = 9_223_372_036.854_775;

fn wrap_binary(e: DurationExpr, start: usize, end: usize) -> DurationExpr {
    if matches!(e.kind, DurationKind::Binary { .. }) {
        DurationExpr {
            kind: DurationKind::Paren(Box::new(e)),
            span: Span::new(start, end),
        }
    } else {
        e
    }
}

/// Go's `%f`: six decimals, `+Inf`, `-Inf`, `NaN`.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

/// A number token's value, as Prometheus computes it: Go's `ParseInt(s, 0, 64)` (so `0x1f`
/// is hexadecimal and `017` octal), falling back to `ParseFloat`.
pub(crate) fn parse_number(text: &str) -> Result<f64, String> {
    if text.eq_ignore_ascii_case("inf") {
        return Ok(f64::INFINITY);
    }
    if text.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    let s: std::borrow::Cow<'_, str> = if text.contains('_') {
        text.replace('_', "").into()
    } else {
        text.into()
    };
    let invalid = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            crate::lexer::go_quote(text)
        )
    };
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return match i64::from_str_radix(hex, 16) {
            Ok(v) => Ok(v as f64),
            Err(_) => Err(invalid()),
        };
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let int = if s.len() > 1 && s.starts_with('0') {
            i64::from_str_radix(&s[1..], 8).ok()
        } else {
            s.parse::<i64>().ok()
        };
        if let Some(v) = int {
            return Ok(v as f64);
        }
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            crate::lexer::go_quote(text)
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(invalid()),
    }
}

/// A duration token in milliseconds, with Prometheus's `model.ParseDuration` rules: integer
/// amounts, units `y w d h m s ms` from largest to smallest, each at most once.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 24 * 3600 * 1_000_000_000),
        ("w", 7 * 24 * 3600 * 1_000_000_000),
        ("d", 24 * 3600 * 1_000_000_000),
        ("h", 3600 * 1_000_000_000),
        ("m", 60 * 1_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    let invalid = || {
        format!(
            "not a valid duration string: {}",
            crate::lexer::go_quote(text)
        )
    };
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err("empty duration string".into());
    }
    let mut rest = text.as_bytes();
    let mut total: u128 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(invalid());
        }
        let amount: u128 = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        rest = &rest[digits..];
        let unit_len = rest.iter().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = std::str::from_utf8(&rest[..unit_len]).map_err(|_| invalid())?;
        rest = &rest[unit_len..];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                crate::lexer::go_quote(unit),
                crate::lexer::go_quote(text)
            ));
        };
        if last_unit.is_some_and(|l| idx <= l) {
            return Err(invalid());
        }
        last_unit = Some(idx);
        total = total.saturating_add(amount.saturating_mul(UNITS[idx].1));
        if total > i64::MAX as u128 {
            return Err("duration out of range".into());
        }
    }
    Ok((total / 1_000_000) as i64)
}

// ----- type checking -----

/// Prometheus's `checkAST`: types and the rules the grammar cannot express. Also settles
/// vector matching: dropped when an operand is not an instant vector, many-to-many for set
/// operators, the default one-to-one otherwise.
struct Checker<'a> {
    input: &'a str,
}

impl Checker<'_> {
    #[cold]
    fn err(&self, pos: usize, kind: ParseErrorKind, msg: String) -> Box<ParseError> {
        Box::new(ParseError::new(self.input, kind, Span::new(pos, pos), msg))
    }

    fn check(&self, e: &mut Expr) -> PResult<ValueType> {
        match e {
            Expr::Number(_) => Ok(ValueType::Scalar),
            Expr::String(_) => Ok(ValueType::String),
            Expr::VectorSelector(v) => {
                self.check_selector(v, false)?;
                Ok(ValueType::Vector)
            }
            Expr::MatrixSelector(m) => {
                self.check_selector(&m.selector, false)?;
                Ok(ValueType::Matrix)
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        s.span.start,
                        ParseErrorKind::Type,
                        format!("subquery is only allowed on instant vector, got {t} instead"),
                    ));
                }
                Ok(ValueType::Matrix)
            }
            Expr::Paren(p) => self.check(&mut p.expr),
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr)?;
                if !matches!(t, ValueType::Scalar | ValueType::Vector) {
                    return Err(self.err(
                        u.span.start,
                        ParseErrorKind::Type,
                        format!(
                            "unary expression only allowed on expressions of type scalar or \
                             instant vector, got {}",
                            crate::lexer::go_quote(t.documented())
                        ),
                    ));
                }
                Ok(t)
            }
            Expr::Binary(b) => self.check_binary(b),
            Expr::Aggregate(a) => {
                let t = self.check(&mut a.expr)?;
                if t != ValueType::Vector {
                    return Err(self.type_err(
                        &a.expr,
                        ValueType::Vector,
                        "aggregation expression",
                        t,
                    ));
                }
                if let (Some(param), Some(want)) = (&mut a.param, a.op.param_type()) {
                    let t = self.check(param)?;
                    if t != want {
                        return Err(self.type_err(param, want, "aggregation parameter", t));
                    }
                }
                Ok(ValueType::Vector)
            }
            Expr::Call(c) => self.check_call(c),
        }
    }

    #[cold]
    fn type_err(
        &self,
        e: &Expr,
        want: ValueType,
        context: &str,
        got: ValueType,
    ) -> Box<ParseError> {
        self.err(
            e.span().start,
            ParseErrorKind::Type,
            format!(
                "expected type {} in {context}, got {}",
                want.documented(),
                got.documented()
            ),
        )
    }

    #[inline(never)]
    fn check_selector(&self, v: &VectorSelector, bypass_empty: bool) -> PResult<()> {
        if let Some(name) = &v.name {
            let before = &v.matchers[..v.matchers.len().saturating_sub(1)];
            if let Some(m) = before.iter().find(|m| m.name() == prom_model::METRIC_NAME) {
                return Err(self.err(
                    v.span.start,
                    ParseErrorKind::Invalid,
                    format!(
                        "metric name must not be set twice: {} or {}",
                        crate::lexer::go_quote(name),
                        crate::lexer::go_quote(m.value())
                    ),
                ));
            }
            return Ok(());
        }
        if !bypass_empty && v.matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.err(
                v.span.start,
                ParseErrorKind::Invalid,
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(())
    }

    #[inline(never)]
    fn check_binary(&self, b: &mut BinaryExpr) -> PResult<ValueType> {
        let lt = self.check(&mut b.lhs)?;
        let rt = self.check(&mut b.rhs)?;
        let op_pos = {
            let bytes = self.input.as_bytes();
            let mut i = b.lhs.span().end;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            i
        };
        let op_name = crate::lexer::go_quote(b.op.as_str());
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.err(
                op_pos,
                ParseErrorKind::Invalid,
                "bool modifier can only be used on comparison operators".into(),
            ));
        }
        if b.op.is_comparison()
            && !b.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            return Err(self.err(
                op_pos,
                ParseErrorKind::Invalid,
                "comparisons between scalars must use BOOL modifier".into(),
            ));
        }
        if let Some(m) = &b.matching
            && m.on
            && let Some(l) = m.labels.iter().find(|l| m.include.contains(l))
        {
            return Err(self.err(
                op_pos,
                ParseErrorKind::Invalid,
                format!(
                    "label {} must not occur in ON and GROUP clause at once",
                    crate::lexer::go_quote(l)
                ),
            ));
        }
        for (t, side) in [(lt, &b.lhs), (rt, &b.rhs)] {
            if !matches!(t, ValueType::Scalar | ValueType::Vector) {
                return Err(self.err(
                    side.span().start,
                    ParseErrorKind::Type,
                    "binary expression must contain only scalar and instant vector types".into(),
                ));
            }
        }
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if let Some(m) = &b.matching {
                if !m.labels.is_empty() {
                    return Err(self.err(
                        b.span.start,
                        ParseErrorKind::Invalid,
                        "vector matching only allowed between instant vectors".into(),
                    ));
                }
                if !m.fill.is_empty() {
                    return Err(self.err(
                        b.span.start,
                        ParseErrorKind::Invalid,
                        "filling in missing series only allowed between instant vectors".into(),
                    ));
                }
            }
            b.matching = None;
        } else {
            let m = b.matching.get_or_insert_with(VectorMatching::default);
            if b.op.is_set_operator() {
                if matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany) {
                    return Err(self.err(
                        b.span.start,
                        ParseErrorKind::Invalid,
                        format!("no grouping allowed for {op_name} operation"),
                    ));
                }
                if !m.fill.is_empty() {
                    return Err(self.err(
                        b.span.start,
                        ParseErrorKind::Invalid,
                        "filling in missing series not allowed for set operators".into(),
                    ));
                }
                m.card = Cardinality::ManyToMany;
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set_operator() {
            return Err(self.err(
                b.span.start,
                ParseErrorKind::Invalid,
                format!("set operator {op_name} not allowed in binary scalar expression"),
            ));
        }
        Ok(if lt == ValueType::Scalar && rt == ValueType::Scalar {
            ValueType::Scalar
        } else {
            ValueType::Vector
        })
    }

    #[inline(never)]
    fn check_call(&self, c: &mut Call) -> PResult<ValueType> {
        let f = c.func;
        let name = crate::lexer::go_quote(f.name);
        let n = c.args.len();
        let (min, max) = f.arg_range();
        let arity = if f.variadic == 0 && n != min {
            Some(format!(
                "expected {min} argument(s) in call to {name}, got {n}"
            ))
        } else if n < min {
            Some(format!(
                "expected at least {min} argument(s) in call to {name}, got {n}"
            ))
        } else if max.is_some_and(|max| n > max) {
            Some(format!(
                "expected at most {} argument(s) in call to {name}, got {n}",
                max.unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(msg) = arity {
            return Err(self.err(c.span.start, ParseErrorKind::Type, msg));
        }
        let context = format!("call to function {name}");
        for (i, arg) in c.args.iter_mut().enumerate() {
            let info_labels = f.name == "info" && i == 1;
            let t = if info_labels {
                match arg {
                    Expr::VectorSelector(v) if v.name.is_some() => {
                        return Err(self.err(
                            arg.span().start,
                            ParseErrorKind::Invalid,
                            "expected label selectors only, got vector selector instead".into(),
                        ));
                    }
                    Expr::VectorSelector(v) => {
                        self.check_selector(v, true)?;
                        ValueType::Vector
                    }
                    other => {
                        let t = self.check(other)?;
                        if t != ValueType::Vector {
                            return Err(self.type_err(other, ValueType::Vector, &context, t));
                        }
                        return Err(self.err(
                            other.span().start,
                            ParseErrorKind::Invalid,
                            "expected label selectors only".into(),
                        ));
                    }
                }
            } else {
                self.check(arg)?
            };
            if let Some(want) = f.arg_type(i)
                && t != want
            {
                return Err(self.type_err(arg, want, &context, t));
            }
        }
        Ok(f.return_type)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseErrorKind::Lex => "lexical error",
            ParseErrorKind::Syntax => "syntax error",
            ParseErrorKind::Type => "type error",
            ParseErrorKind::Invalid => "invalid expression",
            ParseErrorKind::Disabled => "feature not enabled",
            ParseErrorKind::TooDeep => "nesting too deep",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_go() {
        assert_eq!(parse_number("0x1f"), Ok(31.0));
        assert_eq!(parse_number("017"), Ok(15.0));
        assert_eq!(parse_number("09"), Ok(9.0));
        assert_eq!(parse_number("1_000"), Ok(1000.0));
        assert_eq!(parse_number("1_000.5"), Ok(1000.5));
        assert_eq!(parse_number(".5"), Ok(0.5));
        assert_eq!(parse_number("5."), Ok(5.0));
        assert_eq!(parse_number("1e3"), Ok(1000.0));
        assert!(parse_number("NaN").unwrap().is_nan());
        assert_eq!(parse_number("iNf"), Ok(f64::INFINITY));
        assert!(
            parse_number("1e400")
                .unwrap_err()
                .contains("value out of range")
        );
        assert_eq!(parse_number("99999999999999999999"), Ok(1e20));
    }

    #[test]
    fn durations_follow_prometheus() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400_000));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(
            parse_duration("1.5h"),
            Err(r#"unknown unit "." in duration "1.5h""#.into())
        );
        assert_eq!(
            parse_duration("5m1h"),
            Err(r#"not a valid duration string: "5m1h""#.into())
        );
        assert_eq!(parse_duration("300y"), Err("duration out of range".into()));
        assert_eq!(parse_duration("292y"), Ok(292 * 365 * 86_400_000));
    }

    #[test]
    fn seconds_to_millis_truncate() {
        assert_eq!(secs_to_ms(1.5), 1500);
        assert_eq!(secs_to_ms(1.0005), 1000);
        assert_eq!(secs_to_ms(-1.5), -1500);
    }

    #[test]
    fn error_positions_count_lines_and_bytes() {
        let e = ParseError::new(
            "ab\ncd é",
            ParseErrorKind::Syntax,
            Span::new(8, 8),
            "x".into(),
        );
        assert_eq!((e.line(), e.column()), (2, 6));
        assert_eq!(e.to_string(), "2:6: parse error: x");
        assert_eq!(e.caret("ab\ncd éf"), "cd éf\n    ^");
    }
}
