//! `prom query instant|range|series|labels SERVER ...`: query a Prometheus-compatible server
//! over its HTTP API, as `promtool query` does, printing results in PromQL's text form (what
//! promtool prints by default) or as JSON (`-o json`).
//!
//! ```text
//! $ prom query instant http://localhost:9090 'up'
//! up{instance="localhost:9090", job="prom"} => 1 @[1700000000.123]
//! ```

use std::io::{self, Write as _};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use prom_scrape::yaml::go_quote_bytes;
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::serve::params::parse_api_time;

/// Arguments of `prom query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Output format.
    #[arg(
        short = 'o',
        long = "format",
        value_enum,
        default_value = "promql",
        global = true
    )]
    pub format: OutputFormat,
    /// What to ask.
    #[command(subcommand)]
    pub command: QueryCommand,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// PromQL's text form, as promtool prints it.
    Promql,
    /// The API's `data` as JSON.
    Json,
}

/// The `prom query` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Run an instant query.
    Instant(InstantArgs),
    /// Run a range query.
    Range(RangeArgs),
    /// List the series matching selectors.
    Series(SeriesArgs),
    /// List the values of a label.
    Labels(LabelsArgs),
}

/// `prom query instant`.
#[derive(Debug, Args)]
pub struct InstantArgs {
    /// The server's URL (`http://localhost:9090`).
    pub server: String,
    /// The PromQL expression.
    pub expr: String,
    /// Evaluation time (RFC 3339 or Unix seconds); default now.
    #[arg(long, allow_hyphen_values = true)]
    pub time: Option<String>,
}

/// `prom query range`.
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// The server's URL.
    pub server: String,
    /// The PromQL expression.
    pub expr: String,
    /// Start (RFC 3339 or Unix seconds); default five minutes before the end.
    #[arg(long, allow_hyphen_values = true)]
    pub start: Option<String>,
    /// End (RFC 3339 or Unix seconds); default now.
    #[arg(long, allow_hyphen_values = true)]
    pub end: Option<String>,
    /// Step (`15s`, or seconds); default the range over 250, at least 1 s (as promtool).
    #[arg(long)]
    pub step: Option<String>,
}

/// `prom query series`.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// The server's URL.
    pub server: String,
    /// A series selector; repeat for several.
    #[arg(long = "match", required = true)]
    pub matches: Vec<String>,
    /// Start (RFC 3339 or Unix seconds).
    #[arg(long, allow_hyphen_values = true)]
    pub start: Option<String>,
    /// End (RFC 3339 or Unix seconds).
    #[arg(long, allow_hyphen_values = true)]
    pub end: Option<String>,
}

/// `prom query labels`.
#[derive(Debug, Args)]
pub struct LabelsArgs {
    /// The server's URL.
    pub server: String,
    /// The label name.
    pub name: String,
    /// Only series matching this selector; repeat for several.
    #[arg(long = "match")]
    pub matches: Vec<String>,
    /// Start (RFC 3339 or Unix seconds).
    #[arg(long, allow_hyphen_values = true)]
    pub start: Option<String>,
    /// End (RFC 3339 or Unix seconds).
    #[arg(long, allow_hyphen_values = true)]
    pub end: Option<String>,
}

fn failed(message: String) -> Error {
    Error::Query {
        what: "querying the server".into(),
        message,
    }
}

fn check_time(flag: &str, v: &Option<String>) -> Result<Option<f64>> {
    match v {
        None => Ok(None),
        Some(s) => parse_api_time(s)
            .map(|ms| Some(ms as f64 / 1000.0))
            .map_err(|m| Error::Query {
                what: format!("--{flag}"),
                message: m,
            }),
    }
}

/// The `match[]`, `start` and `end` parameters of the series and label-values calls.
fn selection(
    matches: &[String],
    start: &Option<String>,
    end: &Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut p: Vec<(String, String)> = matches
        .iter()
        .map(|m| ("match[]".to_owned(), m.clone()))
        .collect();
    if let Some(t) = check_time("start", start)? {
        p.push(("start".into(), t.to_string()));
    }
    if let Some(t) = check_time("end", end)? {
        p.push(("end".into(), t.to_string()));
    }
    Ok(p)
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs `prom query ...`; exit status 0 on an answer, 1 on an error from the server.
pub fn run(args: QueryArgs) -> Result<u8> {
    let (server, path, params): (&str, String, Vec<(String, String)>) = match &args.command {
        QueryCommand::Instant(a) => {
            let mut p = vec![("query".to_owned(), a.expr.clone())];
            if let Some(t) = check_time("time", &a.time)? {
                p.push(("time".into(), t.to_string()));
            }
            (&a.server, "/api/v1/query".into(), p)
        }
        QueryCommand::Range(a) => {
            let end = check_time("end", &a.end)?.unwrap_or_else(now_secs);
            let start = check_time("start", &a.start)?.unwrap_or(end - 300.0);
            let step = match &a.step {
                Some(s) => {
                    let ms = crate::tsdb::query::parse_duration(s).map_err(|m| Error::Query {
                        what: "--step".into(),
                        message: m,
                    })?;
                    ms as f64 / 1000.0
                }
                None => ((end - start) / 250.0).floor().max(1.0),
            };
            let p = vec![
                ("query".to_owned(), a.expr.clone()),
                ("start".into(), start.to_string()),
                ("end".into(), end.to_string()),
                ("step".into(), step.to_string()),
            ];
            (&a.server, "/api/v1/query_range".into(), p)
        }
        QueryCommand::Series(a) => (
            &a.server,
            "/api/v1/series".into(),
            selection(&a.matches, &a.start, &a.end)?,
        ),
        QueryCommand::Labels(a) => (
            &a.server,
            format!("/api/v1/label/{}/values", a.name),
            selection(&a.matches, &a.start, &a.end)?,
        ),
    };
    let body = fetch(server, &path, &params)?;
    let status = body["status"].as_str().unwrap_or("");
    if status != "success" {
        let _ = writeln!(
            io::stderr(),
            "query error: {}",
            body["error"]
                .as_str()
                .unwrap_or("the server's answer has no status")
        );
        return Ok(1);
    }
    if let Some(w) = body["warnings"].as_array() {
        for w in w {
            let _ = writeln!(io::stderr(), "query warning: {}", w.as_str().unwrap_or(""));
        }
    }
    let data = &body["data"];
    let text = match args.format {
        OutputFormat::Json => match &args.command {
            QueryCommand::Instant(_) | QueryCommand::Range(_) => data["result"].to_string(),
            _ => data.to_string(),
        },
        OutputFormat::Promql => match &args.command {
            QueryCommand::Instant(_) | QueryCommand::Range(_) => format_result(data),
            QueryCommand::Series(_) => data
                .as_array()
                .map(|v| v.iter().map(label_set).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default(),
            QueryCommand::Labels(_) => data
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|s| s.as_str().unwrap_or_default().to_owned())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
        },
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{text}").map_err(Error::Write)?;
    Ok(0)
}

fn fetch(server: &str, path: &str, params: &[(String, String)]) -> Result<Json> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let form: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        // The label-values endpoint takes GET only; the others take a form POST, which
        // carries long queries that a URL could not.
        let req = if path.starts_with("/api/v1/label/") {
            client.get(format!("{url}?{form}"))
        } else {
            client
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form)
        };
        let resp = req
            .send()
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        serde_json::from_str::<Json>(&text)
            .map_err(|_| failed(format!("{url}: HTTP {status}: {}", text.trim())))
    })
}

/// A label set as Go's `model.LabelSet` prints it: `{a="1", b="2"}`, sorted by name.
fn label_set(m: &Json) -> String {
    let mut pairs: Vec<(&String, &str)> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote_bytes(v.as_bytes())))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A metric as Go's `model.Metric` prints it: the name, then the other labels in braces
/// (omitted when there are none).
fn metric(m: &Json) -> String {
    let name = m["__name__"].as_str().unwrap_or("");
    let mut rest = m.clone();
    if let Some(o) = rest.as_object_mut() {
        o.remove("__name__");
    }
    let empty = rest.as_object().is_none_or(|o| o.is_empty());
    match (name.is_empty(), empty) {
        (false, true) => name.to_owned(),
        (_, false) => format!("{name}{}", label_set(&rest)),
        (true, true) => "{}".to_owned(),
    }
}

/// `value @[timestamp]`, as Go's `model.SamplePair` prints it.
fn pair(p: &Json) -> String {
    let t = match &p[0] {
        Json::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    format!("{} @[{t}]", p[1].as_str().unwrap_or(""))
}

/// A query result in PromQL's text form, as promtool prints it.
fn format_result(data: &Json) -> String {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => result
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|s| format!("{} => {}", metric(&s["metric"]), pair(&s["value"])))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        Some("matrix") => result
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|s| {
                        let points: Vec<String> = s["values"]
                            .as_array()
                            .map(|ps| ps.iter().map(pair).collect())
                            .unwrap_or_default();
                        format!("{} =>\n{}", metric(&s["metric"]), points.join("\n"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        Some("scalar") => format!("scalar: {}", pair(result)),
        Some("string") => format!("{} @[{}]", result[1].as_str().unwrap_or(""), result[0]),
        _ => result.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_print_as_promtool_prints_them() {
        let v = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a", "instance": "h:1"}, "value": [1700000000.123, "1"]},
            {"metric": {}, "value": [1700000000, "2.5"]}
        ]});
        assert_eq!(
            format_result(&v),
            "up{instance=\"h:1\", job=\"a\"} => 1 @[1700000000.123]\n{} => 2.5 @[1700000000]"
        );
        let m = json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "x"}, "values": [[1, "1"], [2, "2"]]}
        ]});
        assert_eq!(format_result(&m), "x =>\n1 @[1]\n2 @[2]");
        let s = json!({"resultType": "scalar", "result": [5, "3"]});
        assert_eq!(format_result(&s), "scalar: 3 @[5]");
        assert_eq!(
            label_set(&json!({"b": "x\"y", "a": "1"})),
            "{a=\"1\", b=\"x\\\"y\"}"
        );
    }
}
