//! PromQL: the query language of Prometheus (being built; see issue 5).
#![deny(missing_docs)]

pub mod ast;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod script;
