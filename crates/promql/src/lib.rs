//! PromQL, the query language of Prometheus: lexer, parser, syntax tree and printer (the
//! evaluation engine builds on these), plus the runner for Prometheus's test scripts.
//!
//! Use it to turn a query into a typed syntax tree with source positions, to report errors
//! worded and positioned as Prometheus reports them, or to print a query in Prometheus's
//! canonical form. The parser reads the whole language of Prometheus 3.x, including the
//! experimental syntax (duration arithmetic, `anchored`/`smoothed`, `fill` modifiers,
//! experimental functions), each of which [`ParseOptions`] can turn off.
//!
//! ```
//! use prom_promql::ast::{Expr, ValueType};
//! use prom_promql::parse;
//!
//! let expr = parse(r#"sum without(instance) (rate(http_requests_total{job="api"}[5m])) > 10"#)?;
//! assert_eq!(expr.value_type(), ValueType::Vector);
//! let Expr::Binary(cmp) = &expr else { panic!("a comparison") };
//! assert_eq!(cmp.op.as_str(), ">");
//!
//! // Printing gives the canonical form, which parses back to the same tree.
//! let text = expr.to_string();
//! assert_eq!(text, r#"sum without (instance) (rate(http_requests_total{job="api"}[5m])) > 10"#);
//! let mut again = parse(&text)?;
//! let mut expr = expr;
//! again.clear_spans();
//! expr.clear_spans();
//! assert_eq!(again, expr);
//!
//! // Errors read like Prometheus's.
//! let err = parse("foo{job=\"api\"} +").unwrap_err();
//! assert_eq!(err.to_string(), "1:17: parse error: unexpected end of input");
//! # Ok::<(), prom_promql::parser::ParseError>(())
//! ```
//!
//! # API themes
//!
//! - [`parse`], [`ParseOptions`] and [`ParseError`] in [`parser`]: text to tree, with
//!   Prometheus's type checks and messages, and a nesting limit.
//! - The tree in [`ast`]: [`Expr`](ast::Expr) and one struct per node kind, each with a
//!   [`Span`](ast::Span); [`ValueType`](ast::ValueType); a [`Visitor`](ast::Visitor).
//! - [`printer`]: `Display` for every node, writing canonical PromQL.
//! - [`functions`]: the table of PromQL functions with their signatures.
//! - [`lexer`]: the tokenizer, for tools that highlight or complete queries.
//! - [`script`]: Prometheus's `.test` script format.
//!
//! What the parser accepts, its error format and where it deviates from Prometheus are
//! described in `docs/promql.md`.
#![deny(missing_docs)]

pub mod ast;
pub mod engine;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod script;

pub use engine::{Engine, EngineOptions, EvalError, QueryEngine, QueryResult};
pub use parser::{ParseError, ParseOptions, parse};
