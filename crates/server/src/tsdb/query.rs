//! `prom tsdb query DIR EXPR`: evaluates a PromQL expression against a data directory offline
//! and prints the result as the Prometheus HTTP API's JSON (`/api/v1/query` for an instant
//! query, `/api/v1/query_range` for a range query).
//!
//! ```text
//! $ prom tsdb query data/ 'sum by (job) (up)' --time 1700000000
//! {"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"node"},"value":[1700000000,"3"]}]}}
//! ```

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use prom_model::{Labels, Querier, Queryable};
use prom_promql::ast::Expr;
use prom_promql::engine::{Value, format_float as format_value};
use prom_promql::{Engine, EngineOptions, QueryResult};
use serde_json::{Map, Value as Json, json};

use super::dump::Source;
use super::{Error, Result};

/// Arguments of `prom tsdb query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The data directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The PromQL expression.
    #[arg(value_name = "EXPR")]
    pub expr: String,
    /// Evaluation time of an instant query: RFC 3339 or Unix seconds (default: now).
    #[arg(long, value_name = "T", conflicts_with_all = ["start", "end", "step"], allow_hyphen_values = true)]
    pub time: Option<String>,
    /// Start of a range query: RFC 3339 or Unix seconds.
    #[arg(long, value_name = "T", requires_all = ["end", "step"], allow_hyphen_values = true)]
    pub start: Option<String>,
    /// End of a range query: RFC 3339 or Unix seconds.
    #[arg(long, value_name = "T", requires_all = ["start", "step"], allow_hyphen_values = true)]
    pub end: Option<String>,
    /// Resolution step of a range query: a duration (`15s`, `1m`) or seconds.
    #[arg(long, value_name = "D", requires_all = ["start", "end"])]
    pub step: Option<String>,
    /// How far back an instant selector looks for a sample.
    #[arg(long, value_name = "D", default_value = "5m")]
    pub lookback_delta: String,
}

/// A time parameter as the Prometheus API takes it: Unix seconds (fractions allowed) or
/// RFC 3339; milliseconds since the epoch.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    let t = humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("cannot parse {s:?} as a time (Unix seconds or RFC 3339): {e}"))?;
    Ok(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    })
}

/// A duration parameter: seconds, or a PromQL duration (`15s`, `1h30m`); milliseconds.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs > 0.0
    {
        return Ok((secs * 1000.0).round() as i64);
    }
    match prom_promql::parse(s) {
        Ok(Expr::Number(n)) if n.is_duration && n.value > 0.0 => {
            Ok((n.value * 1000.0).round() as i64)
        }
        _ => Err(format!(
            "cannot parse {s:?} as a positive duration (e.g. 15s, 1m, 0.5)"
        )),
    }
}

fn bad(what: &str, message: String) -> Error {
    Error::Query {
        what: what.to_owned(),
        message,
    }
}

/// Runs `prom tsdb query`.
pub fn run(args: &QueryArgs) -> Result<u8> {
    let expr =
        prom_promql::parse(&args.expr).map_err(|e| bad("parsing the query", e.to_string()))?;
    let lookback = parse_duration(&args.lookback_delta).map_err(|m| bad("--lookback-delta", m))?;
    let (source, note) = Source::open(&args.dir)?;
    if let Some(note) = note {
        let _ = writeln!(io::stderr(), "prom: note: {note}");
    }
    let engine = Engine::new(EngineOptions::default().lookback_delta(lookback));
    let storage = SourceQueryable(&source);
    let result = match (&args.start, &args.end, &args.step) {
        (Some(start), Some(end), Some(step)) => {
            let start = parse_time(start).map_err(|m| bad("--start", m))?;
            let end = parse_time(end).map_err(|m| bad("--end", m))?;
            let step = parse_duration(step).map_err(|m| bad("--step", m))?;
            engine.range(&storage, &expr, start, end, step)
        }
        _ => {
            let t = match &args.time {
                Some(t) => parse_time(t).map_err(|m| bad("--time", m))?,
                None => now_ms(),
            };
            engine.instant(&storage, &expr, t)
        }
    };
    let json = match result {
        Ok(r) => to_json(&r),
        Err(e) => json!({"status": "error", "errorType": "execution", "error": e.to_string()}),
    };
    let failed = json["status"] != "success";
    let mut out = io::stdout().lock();
    writeln!(out, "{json}").map_err(Error::Write)?;
    Ok(u8::from(failed))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(i64::MAX)
}

/// The data directory as a [`Queryable`] for the engine.
struct SourceQueryable<'a>(&'a Source);

impl Queryable for SourceQueryable<'_> {
    fn querier(&self, mint: i64, maxt: i64) -> prom_model::Result<Box<dyn Querier + '_>> {
        Ok(self.0.querier(mint, maxt))
    }
}

/// A timestamp as the API writes it: seconds, as a JSON number (an integer when whole, as
/// Prometheus prints `1700000000` rather than `1700000000.0`).
fn ts(t: i64) -> Json {
    if t % 1000 == 0 {
        json!(t / 1000)
    } else {
        json!(t as f64 / 1000.0)
    }
}

fn metric(labels: &Labels) -> Json {
    let mut m = Map::new();
    for l in labels.iter() {
        m.insert(l.name.to_owned(), Json::String(l.value.to_owned()));
    }
    Json::Object(m)
}

/// The API response for a successful query.
pub fn to_json(r: &QueryResult) -> Json {
    let (kind, result) = match &r.value {
        Value::Scalar(v, t) => ("scalar", json!([ts(*t), format_value(*v)])),
        Value::String(s, t) => ("string", json!([ts(*t), s])),
        Value::Vector(v) => (
            "vector",
            Json::Array(
                v.iter()
                    .map(|s| json!({"metric": metric(&s.labels), "value": [ts(s.t), format_value(s.v)]}))
                    .collect(),
            ),
        ),
        Value::Matrix(m) => (
            "matrix",
            Json::Array(
                m.iter()
                    .map(|s| {
                        let values: Vec<Json> = s
                            .points
                            .iter()
                            .map(|p| json!([ts(p.t), format_value(p.v)]))
                            .collect();
                        json!({"metric": metric(&s.labels), "values": values})
                    })
                    .collect(),
            ),
        ),
    };
    let mut out = json!({"status": "success", "data": {"resultType": kind, "result": result}});
    if !r.warnings.is_empty() {
        out["warnings"] = json!(r.warnings);
    }
    if !r.infos.is_empty() {
        out["infos"] = json!(r.infos);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse_as_the_api_takes_them() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.250Z").unwrap(),
            1_700_000_000_250
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15s").unwrap(), 15_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn values_are_formatted_as_the_api_formats_them() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(-2.5e-7), "-0.00000025");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn results_render_in_the_api_shape() {
        let labels = prom_model::labels!("__name__" => "up", "job" => "a");
        let r = QueryResult {
            value: Value::Vector(vec![prom_promql::engine::Sample {
                labels: labels.clone(),
                t: 1_700_000_000_123,
                v: 1.0,
            }]),
            warnings: vec![],
            infos: vec!["PromQL info: x".into()],
        };
        assert_eq!(
            to_json(&r).to_string(),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.123,"1"]}]},"infos":["PromQL info: x"]}"#
        );
        let r = QueryResult {
            value: Value::Scalar(2.0, 1_000),
            warnings: vec![],
            infos: vec![],
        };
        assert_eq!(
            to_json(&r).to_string(),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#
        );
    }
}
