//! Request parameters and API errors, as Prometheus's HTTP API reads and answers them.
//!
//! Parameters come from the query string and, for `POST` with
//! `application/x-www-form-urlencoded`, from the body too (the body's values after the URL's,
//! as Go's `Request.Form` orders them). A parameter may repeat (`match[]`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use crate::tsdb::query::{parse_duration, parse_time};

/// The kinds of API error Prometheus reports, with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A parameter is missing or malformed: 400.
    BadData,
    /// The query failed while running: 422.
    Execution,
    /// The query was canceled: 499.
    Canceled,
    /// The query ran out of time: 503.
    Timeout,
    /// The server failed: 500.
    Internal,
    /// Nothing there: 404.
    NotFound,
    /// The server cannot answer now (not ready, disabled API): 503.
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Timeout | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An API error: `{"status":"error","errorType":...,"error":...}` with the matching status.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind.
    pub kind: ErrorType,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// A `bad_data` error.
    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorType::BadData,
            message: message.into(),
        }
    }

    /// An error of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// `invalid parameter "name": why`, as Prometheus words a bad parameter.
    pub fn param(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter {name:?}: {why}"))
    }

    /// The JSON body.
    pub fn body(&self) -> Json {
        json!({"status": "error", "errorType": self.kind.as_str(), "error": self.message})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.kind.status(), &self.body())
    }
}

/// A JSON response with Prometheus's content type.
pub fn json_response(status: StatusCode, body: &Json) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A successful API answer: `{"status":"success","data":...}`.
pub fn success(data: Json) -> Response {
    json_response(StatusCode::OK, &json!({"status": "success", "data": data}))
}

/// The parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from a query string and a form body (either may be empty).
    pub fn parse(query: Option<&str>, form_body: &[u8]) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        // Go's Request.Form puts the body's values first, then the URL's.
        pairs.extend(form_urlencoded::parse(form_body).into_owned());
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params { pairs }
    }

    /// The first value of `name`, if present (an empty value counts as absent, as Go's
    /// `FormValue` returns "" for both).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required time parameter in milliseconds.
    pub fn time(&self, name: &str) -> Result<i64, ApiError> {
        match self.get(name) {
            Some(v) => parse_api_time(v).map_err(|e| ApiError::param(name, e)),
            None => Err(ApiError::bad_data(format!(
                "invalid parameter {name:?}: cannot parse \"\" to a valid timestamp"
            ))),
        }
    }

    /// An optional time parameter, `default` when absent.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            Some(_) => self.time(name),
            None => Ok(default),
        }
    }

    /// An optional duration parameter in milliseconds.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            Some(v) => parse_duration(v).map(Some).map_err(|_| {
                ApiError::param(name, format!("cannot parse {v:?} to a valid duration"))
            }),
            None => Ok(None),
        }
    }

    /// An optional non-negative `limit` (0 means no limit).
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        match self.get("limit") {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n < 0 => Err(ApiError::bad_data("limit must be non-negative")),
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n as usize)),
                Err(_) => Err(ApiError::param("limit", format!("cannot parse {v:?}"))),
            },
        }
    }
}

/// The smallest and largest times the API accepts, as Prometheus's `MinTime`/`MaxTime`.
pub const MIN_TIME: i64 = i64::MIN / 2;
/// See [`MIN_TIME`].
pub const MAX_TIME: i64 = i64::MAX / 2;

/// A time parameter: Unix seconds (fractions allowed) or RFC 3339, plus the two texts
/// Prometheus's clients send for "unbounded" (its `MinTime`/`MaxTime` in RFC 3339).
pub fn parse_api_time(s: &str) -> Result<i64, String> {
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME),
        _ => {}
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = secs * 1000.0;
        if ms >= MAX_TIME as f64 {
            return Ok(MAX_TIME);
        }
        if ms <= MIN_TIME as f64 {
            return Ok(MIN_TIME);
        }
        return Ok(ms.round() as i64);
    }
    parse_time(s).map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_body_parameters() {
        let p = Params::parse(
            Some("match[]=up&match[]=x%7Ba%3D%22b%22%7D&limit=2"),
            b"query=up+1",
        );
        assert_eq!(p.all("match[]"), ["up", "x{a=\"b\"}"]);
        assert_eq!(p.get("query"), Some("up 1"));
        assert_eq!(p.limit().unwrap(), Some(2));
        assert_eq!(p.get("absent"), None);
        let p = Params::parse(Some("limit=-1"), b"");
        assert_eq!(p.limit().unwrap_err().message, "limit must be non-negative");
    }

    #[test]
    fn times_as_the_api_reads_them() {
        assert_eq!(parse_api_time("1.5").unwrap(), 1500);
        assert_eq!(parse_api_time("1970-01-01T00:00:02Z").unwrap(), 2000);
        assert_eq!(
            parse_api_time("-292273086-05-16T16:47:06Z").unwrap(),
            MIN_TIME
        );
        assert_eq!(parse_api_time("1e300").unwrap(), MAX_TIME);
        assert!(parse_api_time("NaN").is_err());
        assert!(parse_api_time("tomorrow").is_err());
        let p = Params::parse(Some("time=abc"), b"");
        assert_eq!(
            p.time("time").unwrap_err().message,
            "invalid parameter \"time\": cannot parse \"abc\" to a valid timestamp"
        );
    }

    #[test]
    fn error_kinds_map_to_prometheus_statuses() {
        assert_eq!(ErrorType::BadData.status().as_u16(), 400);
        assert_eq!(ErrorType::Execution.status().as_u16(), 422);
        assert_eq!(ErrorType::Canceled.status().as_u16(), 499);
        assert_eq!(ErrorType::Timeout.status().as_u16(), 503);
        assert_eq!(ErrorType::Internal.status().as_u16(), 500);
        let e = ApiError::param("query", "1:1: parse error: x");
        assert_eq!(
            e.body().to_string(),
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: x"}"#
        );
    }
}
