//! `prom promql ...`: PromQL tools, in the spirit of `promtool promql`.
//!
//! - `format`: print a query in Prometheus's canonical form, or its parse error.
//!
//! ```
//! use prom_server::promql::format_query;
//!
//! assert_eq!(
//!     format_query("SUM(rate(x[90m])) BY (job)"),
//!     Ok("sum by (job) (rate(x[1h30m]))".to_string())
//! );
//! let err = format_query("sum(x) +").unwrap_err();
//! assert_eq!(err, "1:9: parse error: unexpected end of input\nsum(x) +\n        ^");
//! ```

use std::io::{self, Read as _, Write as _};

use clap::{Args, Subcommand};

use crate::error::{Error, Result};

/// Arguments of `prom promql`.
#[derive(Debug, Args)]
pub struct PromqlArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PromqlCommand,
}

/// The `prom promql` subcommands.
#[derive(Debug, Subcommand)]
pub enum PromqlCommand {
    /// Print a PromQL expression in its canonical form.
    ///
    /// The canonical form is what Prometheus prints for a parsed query: normalised spacing,
    /// keywords in lower case, sorted label matchers, `by`/`without` before the arguments,
    /// durations like `1h30m`. On a parse error, prints the error as Prometheus words it
    /// (`LINE:COL: parse error: ...`) with the offending line and a caret, and exits 1.
    Format(FormatArgs),
}

/// Arguments of `prom promql format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The expression; `-` reads it from standard input.
    #[arg(value_name = "EXPR")]
    pub expr: String,
}

/// Runs `prom promql ...`, returning the exit status.
pub fn run(args: PromqlArgs) -> Result<u8> {
    match args.command {
        PromqlCommand::Format(f) => format(&f),
    }
}

fn format(args: &FormatArgs) -> Result<u8> {
    let query = if args.expr == "-" {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s).map_err(Error::Stdin)?;
        s
    } else {
        args.expr.clone()
    };
    let (text, code) = match format_query(&query) {
        Ok(canonical) => (canonical, 0),
        Err(report) => (report, 1),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{text}").map_err(Error::Write)?;
    out.flush().map_err(Error::Write)?;
    Ok(code)
}

/// The canonical form of `query`, or its parse error followed by the offending line and a
/// caret under the error's position.
pub fn format_query(query: &str) -> std::result::Result<String, String> {
    prom_promql::parse(query)
        .map(|expr| expr.to_string())
        .map_err(|e| format!("{e}\n{}", e.caret(query)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_to_canonical_text() {
        assert_eq!(
            format_query(r#"rate( http_requests_total{code="200",job="api"}[5m] ) > bool 0"#)
                .unwrap(),
            r#"rate(http_requests_total{code="200",job="api"}[5m]) > bool 0"#
        );
        assert_eq!(
            format_query("a - on(b) group_left c # note").unwrap(),
            "a - on (b) group_left () c"
        );
    }

    #[test]
    fn reports_errors_with_position_and_caret() {
        let err = format_query("foo{job=\"a\"}\n  + bar{").unwrap_err();
        assert_eq!(
            err,
            "2:9: parse error: unexpected end of input inside braces\n  + bar{\n        ^"
        );
        assert_eq!(
            format_query("").unwrap_err(),
            "1:1: parse error: no expression found in input\n\n^"
        );
    }
}
