//! The HTTP routes: Prometheus's `/api/v1`, `/federate`, `/metrics` and the `/-/` lifecycle
//! endpoints, with request accounting, readiness gating, a body limit and panic containment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prom_model::{Labels, Matcher, SelectHints};
use prom_promql::engine::{QueryStats, Value};
use prom_promql::{EvalError, QueryResult};
use prom_tsdb::Db;
use serde_json::{Map, Value as Json, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use super::app::App;
use super::params::{ApiError, ErrorType, MAX_TIME, MIN_TIME, Params, success};
use super::{federate, selfmetrics};

/// The largest request body accepted (form-encoded queries, admin calls).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// The most points a range query may return per series, as Prometheus.
pub const MAX_POINTS: i64 = 11_000;

type AppState = State<Arc<App>>;

/// The server's routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let gated = Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(targets_metadata))
        .route("/api/v1/scrape_pools", get(scrape_pools))
        .route("/api/v1/rules", get(rules_handler))
        .route("/api/v1/alerts", get(alerts_handler))
        .route("/api/v1/alertmanagers", get(alertmanagers_handler))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", post(snapshot).put(snapshot))
        .route("/federate", get(federate_handler))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_ready));
    Router::new()
        .merge(gated)
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/runtimeinfo", get(status_runtime))
        .route("/api/v1/status/buildinfo", get(status_build))
        .route("/api/v1/status/walreplay", get(status_walreplay))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/-/quit", post(quit).put(quit))
        .route("/", get(root))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), cors))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(app)
}

/// A handler panicked: answer 500 without any of the panic's text, and log it.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "a request handler panicked");
    ApiError::new(ErrorType::Internal, "internal server error").into_response()
}

async fn track(State(app): AppState, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().replace("{name}", ":name"))
        .unwrap_or_else(|| "other".to_owned());
    let start = Instant::now();
    let resp = next.run(req).await;
    app.http
        .observe(&handler, resp.status().as_u16(), start.elapsed());
    resp
}

async fn require_ready(State(app): AppState, req: Request, next: Next) -> Response {
    if app.is_ready() {
        next.run(req).await
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

/// CORS on the API, as Prometheus sets it: a request with an `Origin` gets the allowed
/// methods and headers, and `Access-Control-Allow-Origin` (`*` for the default `.*`, else the
/// origin when `--web.cors.origin` matches it); a preflight `OPTIONS` is answered here.
async fn cors(State(app): AppState, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let mut resp = if req.method() == axum::http::Method::OPTIONS {
        success(Json::Null)
    } else {
        next.run(req).await
    };
    let Some(origin) = origin else {
        return resp;
    };
    let h = resp.headers_mut();
    for (k, v) in [
        (
            "access-control-allow-headers",
            "Accept, Authorization, Content-Type, Origin",
        ),
        ("access-control-allow-methods", "GET, POST, OPTIONS"),
        ("access-control-expose-headers", "Date"),
        ("vary", "Origin"),
    ] {
        h.insert(k, axum::http::HeaderValue::from_static(v));
    }
    let allow = match &app.settings.cors_origin {
        None => Some("*".to_owned()),
        Some(re) => re.is_match(&origin).then_some(origin),
    };
    if let Some(v) = allow.and_then(|a| axum::http::HeaderValue::from_str(&a).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    resp
}

/// The parameters of a request: query string plus a form body.
struct Form(Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let query = req.uri().query().map(str::to_owned);
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = if is_form {
            Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?
        } else {
            Bytes::new()
        };
        Ok(Form(Params::parse(query.as_deref(), &body)))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn db(app: &App) -> Result<Arc<Db>, ApiError> {
    app.db()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "the database is not open"))
}

fn eval_error(e: EvalError) -> ApiError {
    let kind = match &e {
        EvalError::Timeout(_) => ErrorType::Timeout,
        EvalError::Canceled(_) => ErrorType::Canceled,
        EvalError::Storage(_) => ErrorType::Internal,
        _ => ErrorType::Execution,
    };
    ApiError::new(kind, e.to_string())
}

/// Runs a query on a blocking thread once a query slot is free; the result and how long it
/// queued and ran.
async fn run_query<F>(app: &Arc<App>, f: F) -> Result<(Evaluated, f64, f64), ApiError>
where
    F: FnOnce(&Db) -> Result<Evaluated, EvalError> + Send + 'static,
{
    let db = db(app)?;
    app.queries_in_flight.fetch_add(1, Ordering::Relaxed);
    let queued = Instant::now();
    let permit = app.query_slots.acquire().await;
    let queue_time = queued.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || f(&db)).await;
    drop(permit);
    app.queries_in_flight.fetch_sub(1, Ordering::Relaxed);
    let eval_time = started.elapsed().as_secs_f64();
    match outcome {
        Ok(Ok(r)) => Ok((r, queue_time, eval_time)),
        Ok(Err(e)) => Err(eval_error(e)),
        Err(e) if e.is_panic() => {
            tracing::error!("a query panicked");
            Err(ApiError::new(
                ErrorType::Internal,
                "internal error while evaluating the query",
            ))
        }
        Err(_) => Err(ApiError::new(ErrorType::Canceled, "query was canceled")),
    }
}

/// A query's result, with its statistics when the request asked for them.
type Evaluated = (QueryResult, Option<QueryStats>);

/// What the `stats` parameter asks for: nothing, the totals, or (`all`) also the per-step
/// sample counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatsLevel {
    None,
    Totals,
    PerStep,
}

impl StatsLevel {
    fn of(p: &Params) -> StatsLevel {
        match p.get("stats") {
            // An empty value is absent here, as in Prometheus.
            None => StatsLevel::None,
            Some("all") => StatsLevel::PerStep,
            Some(_) => StatsLevel::Totals,
        }
    }
}

/// Prometheus's `data.stats`: timings in seconds and the sample counts.
fn stats_json(s: &QueryStats, level: StatsLevel, queue: f64, exec: f64) -> Json {
    let eval_total = s.preparation_time + s.inner_eval_time + s.result_sort_time;
    let mut samples = Map::new();
    if level == StatsLevel::PerStep {
        let per_step: Vec<Json> = s
            .total_queryable_samples_per_step
            .iter()
            .map(|&(t, n)| json!([t as f64 / 1000.0, n]))
            .collect();
        samples.insert("totalQueryableSamplesPerStep".into(), Json::Array(per_step));
    }
    samples.insert(
        "totalQueryableSamples".into(),
        json!(s.total_queryable_samples),
    );
    samples.insert("peakSamples".into(), json!(s.peak_samples));
    json!({
        "timings": {
            "evalTotalTime": eval_total.as_secs_f64(),
            "resultSortTime": s.result_sort_time.as_secs_f64(),
            "queryPreparationTime": s.preparation_time.as_secs_f64(),
            "innerEvalTime": s.inner_eval_time.as_secs_f64(),
            "execQueueTime": queue,
            "execTotalTime": queue + exec,
        },
        "samples": Json::Object(samples),
    })
}

fn query_response(
    (mut r, stats): Evaluated,
    limit: Option<usize>,
    level: StatsLevel,
    queue: f64,
    exec: f64,
) -> Response {
    if let Some(limit) = limit {
        let truncated = match &mut r.value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            r.warnings.push("results truncated due to limit".into());
        }
    }
    let stats = stats
        .filter(|_| level != StatsLevel::None)
        .map(|s| stats_json(&s, level, queue, exec));
    let json = [(header::CONTENT_TYPE, "application/json")];
    if encode::estimate(&r) <= STREAM_ABOVE {
        return (
            StatusCode::OK,
            json,
            encode::query_result(&r, stats.as_ref()),
        )
            .into_response();
    }
    // A large answer goes out while it is being encoded, a piece at a time: the client reads
    // the first pieces while later ones are written, and no buffer of the whole answer (tens
    // of megabytes for a long range over thousands of series, each page of it faulted in
    // fresh) is ever allocated. Encoding is most of a wide range query's time, so pieces are
    // encoded on several threads at once, each taking every `workers`-th piece, and sent in
    // order.
    let r = Arc::new(r);
    let stats = Arc::new(stats);
    let pieces: Arc<[std::ops::Range<usize>]> = encode::pieces(&r, PIECE).into();
    let workers = encoders().min(pieces.len());
    let mut channels = Vec::with_capacity(workers);
    for w in 0..workers {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        channels.push(rx);
        let (r, stats, pieces) = (Arc::clone(&r), Arc::clone(&stats), Arc::clone(&pieces));
        tokio::task::spawn_blocking(move || {
            let last = pieces.len() - 1;
            let mut stamps = encode::Stamps::default();
            for (k, items) in pieces.iter().enumerate().skip(w).step_by(workers) {
                let mut buf = spare_piece();
                if k == 0 {
                    encode::head(&r, &mut buf);
                }
                for i in items.clone() {
                    encode::item(&r, i, &mut stamps, &mut buf);
                }
                if k == last {
                    encode::tail(&r, (*stats).as_ref(), &mut buf);
                }
                // The client went away: stop encoding.
                if tx.blocking_send(Bytes::from_owner(Piece(buf))).is_err() {
                    return;
                }
            }
        });
    }
    let body = Pieces {
        channels,
        next: 0,
        total: pieces.len(),
    };
    (StatusCode::OK, json, Body::new(body)).into_response()
}

/// Query answers whose estimated size is above this are streamed ([`Pieces`]).
const STREAM_ABOVE: usize = 256 << 10;
/// The size of a streamed answer's pieces.
const PIECE: usize = 128 << 10;

/// Piece buffers kept for the next streamed answers, at most [`SPARE_PIECES`]: a fresh
/// buffer is above the allocator's mmap threshold, so each one was mapped, faulted in page by
/// page and unmapped again (about 10 MB of page faults for an 8 MB answer).
static SPARE: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
/// Enough for two encoders' queued and in-progress pieces and the one being written.
const SPARE_PIECES: usize = 8;

/// A buffer for a piece: a spare one, or a new one.
fn spare_piece() -> Vec<u8> {
    SPARE
        .lock()
        .ok()
        .and_then(|mut s| s.pop())
        .unwrap_or_else(|| Vec::with_capacity(PIECE + PIECE / 4))
}

/// A piece of a streamed answer; when the server has written it and drops it, its buffer goes
/// back to [`SPARE`] (unless that is full, or the buffer grew past twice its size for one
/// large series).
struct Piece(Vec<u8>);

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() > 2 * PIECE {
            return;
        }
        buf.clear();
        if let Ok(mut spare) = SPARE.lock()
            && spare.len() < SPARE_PIECES
        {
            spare.push(buf);
        }
    }
}

/// How many threads encode one streamed answer: the machine's cores, at most 4.
fn encoders() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// A response body of `total` pieces, piece `k` arriving on channel `k % channels.len()`.
#[derive(Debug)]
struct Pieces {
    channels: Vec<tokio::sync::mpsc::Receiver<Bytes>>,
    next: usize,
    total: usize,
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        if self.next == self.total {
            return Poll::Ready(None);
        }
        let k = self.next % self.channels.len();
        match self.channels[k].poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(b)) => {
                self.next += 1;
                Poll::Ready(Some(Ok(hyper::body::Frame::data(b))))
            }
            // Its encoder ended before its last piece (it panicked): fail the body, so that
            // the connection is cut rather than a short answer ending as if it were whole.
            Poll::Ready(None) => Poll::Ready(Some(Err(std::io::Error::other(
                "the query answer's encoder stopped early",
            )))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next == self.total
    }
}

fn parse_expr(p: &Params) -> Result<prom_promql::ast::Expr, ApiError> {
    let q = p.get("query").unwrap_or("");
    prom_promql::parse(q).map_err(|e| ApiError::param("query", e))
}

fn timeout(p: &Params) -> Result<Option<std::time::Duration>, ApiError> {
    Ok(p.duration("timeout")?
        .map(|ms| std::time::Duration::from_millis(ms as u64)))
}

async fn query(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let expr = parse_expr(&p)?;
    let t = p.time_or("time", now_ms())?;
    let limit = p.limit()?;
    let engine = app.engine(timeout(&p)?);
    let level = StatsLevel::of(&p);
    let (r, q, e) = run_query(&app, move |db| {
        if level == StatsLevel::None {
            engine.instant(db, &expr, t).map(|r| (r, None))
        } else {
            engine
                .instant_with_stats(db, &expr, t)
                .map(|(r, s)| (r, Some(s)))
        }
    })
    .await?;
    Ok(query_response(r, limit, level, q, e))
}

async fn query_range(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let start = p.time("start")?;
    let end = p.time("end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step = match p.get("step") {
        Some(v) => crate::tsdb::query::parse_duration(v).map_err(|_| {
            if v.parse::<f64>().is_ok_and(|f| f <= 0.0) {
                ApiError::bad_data(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                )
            } else {
                ApiError::param("step", format!("cannot parse {v:?} to a valid duration"))
            }
        })?,
        None => {
            return Err(ApiError::param("step", "cannot parse \"\" to a valid duration"));
        }
    };
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let expr = parse_expr(&p)?;
    let limit = p.limit()?;
    let engine = app.engine(timeout(&p)?);
    let level = StatsLevel::of(&p);
    let (r, q, e) = run_query(&app, move |db| {
        if level == StatsLevel::None {
            engine.range(db, &expr, start, end, step).map(|r| (r, None))
        } else {
            engine
                .range_with_stats(db, &expr, start, end, step)
                .map(|(r, s)| (r, Some(s)))
        }
    })
    .await?;
    Ok(query_response(r, limit, level, q, e))
}

async fn format_query(Form(p): Form) -> Result<Response, ApiError> {
    let expr = parse_expr(&p)?;
    Ok(success(Json::String(expr.to_string())))
}

async fn parse_query(Form(p): Form) -> Result<Response, ApiError> {
    let expr = parse_expr(&p)?;
    Ok(success(super::ast_json::translate(&expr)))
}

/// The `match[]` selectors, each a list of matchers.
fn match_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    p.all("match[]")
        .into_iter()
        .map(|s| {
            prom_promql::parser::parse_metric_selector(s)
                .map(|v| v.matchers)
                .map_err(|e| ApiError::param("match[]", e))
        })
        .collect()
}

fn series_hints(start: i64, end: i64, limit: Option<usize>) -> SelectHints {
    SelectHints {
        start,
        end,
        func: "series".into(),
        limit,
        ..SelectHints::default()
    }
}

fn labels_json(l: &Labels) -> Json {
    let mut m = Map::new();
    for l in l.iter() {
        m.insert(l.name.to_owned(), Json::String(l.value.to_owned()));
    }
    Json::Object(m)
}

fn truncated(data: Json, warn: bool) -> Response {
    if warn {
        super::params::json_response(
            StatusCode::OK,
            &json!({"status": "success", "data": data, "warnings": ["results truncated due to limit"]}),
        )
    } else {
        success(data)
    }
}

async fn series(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let sets = match_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let limit = p.limit()?;
    let db = db(&app)?;
    let (found, more) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let querier = prom_model::Queryable::querier(&*db, start, end)
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        let hints = series_hints(start, end, limit.map(|l| l + 1));
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for m in &sets {
            let mut set = querier.select(false, Some(&hints), m);
            while let Some(s) = set.next() {
                all.insert(s.labels);
            }
            if let Some(e) = set.err() {
                return Err(ApiError::new(ErrorType::Internal, e.to_string()));
            }
        }
        let more = limit.is_some_and(|l| all.len() > l);
        let out: Vec<Json> = all
            .iter()
            .take(limit.unwrap_or(usize::MAX))
            .map(labels_json)
            .collect();
        Ok((out, more))
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))??;
    Ok(truncated(Json::Array(found), more))
}

/// Runs `f` for each `match[]` set (or once with no matchers) and unions the sorted results.
async fn label_query<F>(app: &Arc<App>, p: &Params, f: F) -> Result<Response, ApiError>
where
    F: Fn(&dyn prom_model::Querier, &[Matcher]) -> prom_model::Result<Vec<String>> + Send + 'static,
{
    let mut sets = match_sets(p)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let limit = p.limit()?;
    let db = db(app)?;
    let all = tokio::task::spawn_blocking(move || -> Result<BTreeSet<String>, ApiError> {
        let querier = prom_model::Queryable::querier(&*db, start, end)
            .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        let mut all = BTreeSet::new();
        for m in &sets {
            let v =
                f(&*querier, m).map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
            all.extend(v);
        }
        Ok(all)
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))??;
    let more = limit.is_some_and(|l| all.len() > l);
    let out: Vec<Json> = all
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(Json::String)
        .collect();
    Ok(truncated(Json::Array(out), more))
}

async fn labels(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    label_query(&app, &p, |q, m| q.label_names(m)).await
}

/// A label name from the URL: as written, or in Prometheus 3's `U__` escaped form for names
/// outside the legacy character set (`U__a_2e_b` is `a.b`).
pub fn unescape_label_name(name: &str) -> Option<String> {
    let Some(rest) = name.strip_prefix("U__") else {
        return Some(name.to_owned());
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

async fn label_values(
    State(app): AppState,
    Path(name): Path<String>,
    Form(p): Form,
) -> Result<Response, ApiError> {
    let name = unescape_label_name(&name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_data(format!("invalid label name: {name:?}")))?;
    label_query(&app, &p, move |q, m| q.label_values(&name, m)).await
}

fn metric_type_str(t: Option<prom_model::MetricType>) -> &'static str {
    t.map(|t| t.as_str()).unwrap_or("unknown")
}

async fn metadata(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    let per_metric = match p.get("limit_per_metric") {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::param(
                    "limit_per_metric",
                    format!("cannot parse {v:?}"),
                ));
            }
        },
        None => None,
    };
    let only = p.get("metric");
    let mut out: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    if let Some(m) = app.scrape_manager() {
        for t in m.targets() {
            for (name, md) in &t.status.metadata {
                if only.is_some_and(|o| o != name) {
                    continue;
                }
                let entry = json!({"type": metric_type_str(md.metric_type), "help": md.help, "unit": md.unit});
                let list = out.entry(name.clone()).or_default();
                if !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
    }
    let mut data = Map::new();
    for (name, mut list) in out {
        if limit.is_some_and(|l| data.len() >= l) {
            break;
        }
        if let Some(n) = per_metric {
            list.truncate(n);
        }
        data.insert(name, Json::Array(list));
    }
    Ok(success(Json::Object(data)))
}

async fn exemplars(Form(p): Form) -> Result<Response, ApiError> {
    // Exemplar storage is not implemented; the answer is what Prometheus gives with it off:
    // a valid query gets an empty list.
    parse_expr(&p)?;
    p.time_or("start", MIN_TIME)?;
    p.time_or("end", MAX_TIME)?;
    Ok(success(json!([])))
}

fn rfc3339(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => humantime::format_rfc3339_nanos(t).to_string(),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

fn go_duration(d: std::time::Duration) -> String {
    prom_scrape::config::Duration(d.as_millis() as u64).to_string()
}

async fn targets(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let state = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool = p.get("scrapePool");
    let (want_active, want_dropped) = match state.as_str() {
        "active" => (true, false),
        "dropped" => (false, true),
        _ => (true, true),
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(m) = app.scrape_manager() {
        let mut list = m.targets();
        list.sort_by(|a, b| (&a.job, &a.url).cmp(&(&b.job, &b.url)));
        for t in list {
            if want_active && pool.is_none_or(|p| p == t.job) {
                active.push(json!({
                    "discoveredLabels": labels_json(&t.target.discovered),
                    "labels": labels_json(&t.target.series_labels()),
                    "scrapePool": t.job,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": t.status.last_error,
                    "lastScrape": rfc3339(t.status.last_scrape),
                    "lastScrapeDuration": t.status.last_duration.as_secs_f64(),
                    "health": t.status.health.as_str(),
                    "scrapeInterval": go_duration(t.interval),
                    "scrapeTimeout": go_duration(t.timeout),
                }));
            }
        }
        for (job, labels) in m.dropped_targets() {
            *dropped_counts.entry(job.clone()).or_default() += 1;
            if want_dropped && pool.is_none_or(|p| p == job) {
                dropped.push(json!({"discoveredLabels": labels_json(&labels), "scrapePool": job}));
            }
        }
    }
    let mut data = Map::new();
    if want_active {
        data.insert("activeTargets".into(), Json::Array(active));
    }
    if want_dropped {
        data.insert("droppedTargets".into(), Json::Array(dropped));
        data.insert("droppedTargetCounts".into(), json!(dropped_counts));
    }
    Ok(success(Json::Object(data)))
}

async fn targets_metadata(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let limit = p.limit()?;
    let metric = p.get("metric");
    let matchers = match p.get("match_target") {
        Some(s) => prom_promql::parser::parse_metric_selector(s)
            .map(|v| v.matchers)
            .map_err(|e| ApiError::param("match_target", e))?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    if let Some(m) = app.scrape_manager() {
        'targets: for t in m.targets() {
            let labels = t.target.series_labels();
            for m in &matchers {
                if !m.matches(labels.get(m.name()).unwrap_or("")) {
                    continue 'targets;
                }
            }
            let mut names: Vec<&String> = t.status.metadata.keys().collect();
            names.sort();
            for name in names {
                if metric.is_some_and(|w| w != name) {
                    continue;
                }
                if limit.is_some_and(|l| out.len() >= l) {
                    break 'targets;
                }
                let md = &t.status.metadata[name];
                out.push(json!({
                    "target": labels_json(&labels),
                    "metric": name,
                    "type": metric_type_str(md.metric_type),
                    "help": md.help,
                    "unit": md.unit,
                }));
            }
        }
    }
    Ok(success(Json::Array(out)))
}

async fn scrape_pools(State(app): AppState) -> Response {
    let pools: Vec<String> = app
        .config()
        .scrape_configs
        .iter()
        .map(|s| s.job_name.clone())
        .collect();
    success(json!({"scrapePools": pools}))
}

async fn status_config(State(app): AppState) -> Response {
    success(json!({"yaml": app.config().original}))
}

async fn status_flags(State(app): AppState) -> Response {
    let mut m = Map::new();
    for (k, v) in app.args.flag_map() {
        m.insert(k.to_owned(), Json::String(v));
    }
    success(Json::Object(m))
}

async fn status_runtime(State(app): AppState) -> Response {
    let retention = match (app.settings.retention_time, app.settings.retention_size) {
        (Some(t), Some(s)) => format!("{} or {s}B", go_duration(t)),
        (Some(t), None) => go_duration(t),
        (None, Some(s)) => format!("{s}B"),
        (None, None) => String::new(),
    };
    let corruptions = app
        .db()
        .map(|d| d.metrics().wal_corruptions.load(Ordering::Relaxed))
        .unwrap_or(0);
    success(json!({
        "startTime": rfc3339(Some(app.start_time)),
        "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "hostname": std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default(),
        "serverTime": rfc3339(Some(SystemTime::now())),
        "reloadConfigSuccess": app.last_reload_ok.load(Ordering::Acquire),
        "lastConfigTime": rfc3339(Some(UNIX_EPOCH + std::time::Duration::from_secs(app.last_reload_time.load(Ordering::Acquire)))),
        "corruptionCount": corruptions,
        "goroutineCount": 0,
        "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "GOMEMLIMIT": i64::MAX,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": retention,
    }))
}

async fn status_build() -> Response {
    use super::build_info as b;
    success(json!({
        "version": b::VERSION,
        "revision": b::REVISION,
        "branch": b::BRANCH,
        "buildUser": b::BUILD_USER,
        "buildDate": b::BUILD_DATE,
        "goVersion": b::COMPILER,
    }))
}

async fn status_walreplay(State(app): AppState) -> Response {
    // The WAL replays as one unit: before the database opens nothing is done, after it all is.
    let done = i64::from(app.db().is_some());
    success(json!({"min": 0, "max": 1, "current": done}))
}

async fn status_tsdb(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let limit = p.limit()?.unwrap_or(10);
    let db = db(&app)?;
    let data = tokio::task::spawn_blocking(move || tsdb_stats(&db, limit))
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))??;
    Ok(success(data))
}

fn top(map: HashMap<String, u64>, limit: usize) -> Json {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    Json::Array(
        v.into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

/// The head's cardinality statistics, as `/api/v1/status/tsdb` reports them.
fn tsdb_stats(db: &Db, limit: usize) -> Result<Json, ApiError> {
    let (min, max) = db.head_range().unwrap_or((0, -1));
    let querier = prom_model::Queryable::querier(db, min, max)
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    let all = Matcher::new(prom_model::MatchType::RegexMatch, "__name__", ".+")
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    let hints = series_hints(min, max, None);
    let mut set = querier.select(false, Some(&hints), &[all]);
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut pairs: HashMap<String, u64> = HashMap::new();
    let mut values_by_name: HashMap<String, BTreeSet<String>> = HashMap::new();
    while let Some(s) = set.next() {
        for l in s.labels.iter() {
            if l.name == "__name__" {
                *by_metric.entry(l.value.to_owned()).or_default() += 1;
            }
            *pairs.entry(format!("{}={}", l.name, l.value)).or_default() += 1;
            values_by_name
                .entry(l.name.to_owned())
                .or_default()
                .insert(l.value.to_owned());
        }
    }
    let mut value_counts = HashMap::new();
    let mut memory = HashMap::new();
    for (name, values) in &values_by_name {
        value_counts.insert(name.clone(), values.len() as u64);
        memory.insert(name.clone(), values.iter().map(|v| v.len() as u64).sum());
    }
    Ok(json!({
        "headStats": {
            "numSeries": db.head_series(),
            "numLabelPairs": pairs.len(),
            "chunkCount": 0,
            "minTime": min,
            "maxTime": max,
        },
        "seriesCountByMetricName": top(by_metric, limit),
        "labelValueCountByLabelName": top(value_counts, limit),
        "memoryInBytesByLabelName": top(memory, limit),
        "seriesCountByLabelValuePair": top(pairs, limit),
    }))
}

fn admin_enabled(app: &App) -> Result<(), ApiError> {
    if app.args.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"))
    }
}

async fn delete_series(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    admin_enabled(&app)?;
    let sets = match_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    let db = db(&app)?;
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        for m in &sets {
            db.delete(m, start, end)
                .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clean_tombstones(State(app): AppState) -> Result<Response, ApiError> {
    admin_enabled(&app)?;
    let db = db(&app)?;
    tokio::task::spawn_blocking(move || db.clean_tombstones())
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn snapshot(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    admin_enabled(&app)?;
    let skip_head = match p.get("skip_head") {
        None => false,
        Some(v) => v
            .parse::<bool>()
            .map_err(|_| ApiError::param("skip_head", format!("cannot parse {v:?}")))?,
    };
    let db = db(&app)?;
    let name = format!(
        "{}-{:016x}",
        humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace([':', '-'], "")
            .trim_end_matches('Z'),
        rand_u64()
    );
    let dir = app.args.tsdb_path.join("snapshots").join(&name);
    tokio::task::spawn_blocking(move || db.snapshot(&dir, !skip_head))
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))?;
    Ok(success(json!({"name": name})))
}

/// A number unlikely to repeat, for snapshot names (time-based, as nothing secret rides on it).
fn rand_u64() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut bytes = t.to_le_bytes().to_vec();
    bytes.extend_from_slice(&std::process::id().to_le_bytes());
    prom_model::xxh64(&bytes)
}

async fn federate_handler(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let sets = match_sets(&p)?;
    let db = db(&app)?;
    let external = app.config().global.external_labels.clone();
    let lookback = app.settings.lookback_ms;
    let text = tokio::task::spawn_blocking(move || {
        federate::render(&*db, &sets, now_ms(), lookback, &external)
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?
    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            prom_exposition::Format::Text.content_type(),
        )],
        text,
    )
        .into_response())
}

async fn metrics(State(app): AppState, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (body, content_type) = selfmetrics::render(&app, accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthy() -> &'static str {
    "Prometheus Server is Healthy.\n"
}

async fn ready(State(app): AppState) -> Response {
    if app.is_ready() {
        "Prometheus Server is Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

async fn reload(State(app): AppState) -> Response {
    if !app.args.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    match app.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        )
            .into_response(),
    }
}

async fn quit(State(app): AppState) -> Response {
    if !app.args.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    app.request_stop();
    "Requesting termination... Goodbye!".into_response()
}

async fn root() -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, "/api/v1/status/buildinfo")
        .body(Body::empty())
        .unwrap_or_default()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// `/api/v1/rules`: the rule groups with their rules, filtered by `type` (`alert` or
/// `record`), `rule_name[]`, `rule_group[]` and `file[]`; `exclude_alerts=true` leaves out the
/// alerts. A group whose rules were all filtered out is left out.
async fn rules_handler(State(app): AppState, Form(p): Form) -> Result<Response, ApiError> {
    let kind = match p.get("type") {
        None => None,
        Some("alert") => Some(prom_rules::snapshot::RuleKind::Alerting),
        Some("record") => Some(prom_rules::snapshot::RuleKind::Recording),
        Some(other) => return Err(ApiError::bad_data(format!("not supported value {other:?}"))),
    };
    let exclude_alerts = match p.get("exclude_alerts") {
        None => false,
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            ApiError::bad_data(format!("parsing exclude_alerts: invalid syntax {v:?}"))
        })?,
    };
    let names = p.all("rule_name[]");
    let group_names = p.all("rule_group[]");
    let files = p.all("file[]");
    let filtered = kind.is_some() || !names.is_empty();
    let mut out = Vec::new();
    for g in app.rules().map(|r| r.manager.groups()).unwrap_or_default() {
        if (!group_names.is_empty() && !group_names.contains(&g.name.as_str()))
            || (!files.is_empty() && !files.contains(&g.file.as_str()))
        {
            continue;
        }
        let mut rules = Vec::new();
        for r in &g.rules {
            if kind.is_some_and(|k| k != r.kind)
                || (!names.is_empty() && !names.contains(&r.name.as_str()))
            {
                continue;
            }
            let mut j = r.to_json();
            if exclude_alerts && let Some(o) = j.as_object_mut() {
                o.remove("alerts");
            }
            rules.push(j);
        }
        if filtered && rules.is_empty() {
            continue;
        }
        let mut gj = g.to_json();
        gj["rules"] = Json::Array(rules);
        out.push(gj);
    }
    Ok(success(json!({ "groups": out })))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `/api/v1/alertmanagers`: the Alertmanager endpoints alerts are sent to (those relabeled
/// away are not kept, so `droppedAlertmanagers` is always empty).
async fn alertmanagers_handler(State(app): AppState) -> Result<Response, ApiError> {
    let urls: Vec<Json> = app
        .rules()
        .map(|r| r.notifier.alertmanagers())
        .unwrap_or_default()
        .iter()
        .flat_map(|set| set.urls())
        .map(|u| json!({ "url": u }))
        .collect();
    Ok(success(
        json!({ "activeAlertmanagers": urls, "droppedAlertmanagers": [] }),
    ))
}

/// `/api/v1/alerts`: every pending and firing alert.
async fn alerts_handler(State(app): AppState) -> Result<Response, ApiError> {
    let alerts: Vec<Json> = app
        .rules()
        .map(|r| r.manager.alerts())
        .unwrap_or_default()
        .iter()
        .map(|a| a.to_json())
        .collect();
    Ok(success(json!({ "alerts": alerts })))
}

/// The query API's JSON written straight into bytes: a range query's answer holds a point per
/// series and step (a million for 2,000 series over 2h at 15 s), and building it as a
/// `serde_json::Value` tree first cost an allocation per point and most of the response time.
/// The output is byte for byte what `to_json` and `serde_json` write (same key order, same
/// numbers), which the tests check.
mod encode {
    use prom_model::Labels;
    use prom_promql::QueryResult;
    use prom_promql::engine::Value;
    use serde_json::Value as Json;

    /// An upper estimate of the answer's size in bytes.
    pub(super) fn estimate(r: &QueryResult) -> usize {
        match &r.value {
            Value::Scalar(..) | Value::String(..) => 128 + 40,
            _ => 128 + (0..items(r)).map(|i| weight(r, i)).sum::<usize>(),
        }
    }

    /// An upper estimate of item `i`'s size in bytes: 40 per point, and the labels as four.
    fn weight(r: &QueryResult, i: usize) -> usize {
        match &r.value {
            Value::Matrix(m) => m.get(i).map_or(0, |s| s.points.len() + 4) * 40,
            _ => 4 * 40,
        }
    }

    /// `{"status":"success","data":{"resultType":…,"result":…[,"stats":…]}[,"warnings":…][,"infos":…]}`.
    pub(super) fn query_result(r: &QueryResult, stats: Option<&Json>) -> Vec<u8> {
        let mut out = Vec::with_capacity(estimate(r));
        head(r, &mut out);
        let mut stamps = Stamps::default();
        for i in 0..items(r) {
            item(r, i, &mut stamps, &mut out);
        }
        tail(r, stats, &mut out);
        out
    }

    /// The number of series (or samples) of a vector or matrix answer; 0 for the others.
    fn items(r: &QueryResult) -> usize {
        match &r.value {
            Value::Vector(v) => v.len(),
            Value::Matrix(m) => m.len(),
            _ => 0,
        }
    }

    /// The answer's items cut into consecutive runs of about `size` encoded bytes each (an
    /// item larger than that is a run of its own); at least one run, maybe empty.
    pub(super) fn pieces(r: &QueryResult, size: usize) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for i in 0..items(r) {
            bytes += weight(r, i);
            if bytes >= size {
                out.push(start..i + 1);
                (start, bytes) = (i + 1, 0);
            }
        }
        if start < items(r) || out.is_empty() {
            out.push(start..items(r));
        }
        out
    }

    /// Everything before the first item: for a scalar or a string, the whole result.
    pub(super) fn head(r: &QueryResult, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"status":"success","data":{"resultType":""#);
        out.extend_from_slice(r.value.type_name().as_bytes());
        out.extend_from_slice(br#"","result":"#);
        match &r.value {
            Value::Scalar(v, t) => point(out, None, *t, *v),
            Value::String(s, t) => {
                out.push(b'[');
                timestamp(out, *t);
                out.push(b',');
                string(out, s);
                out.push(b']');
            }
            Value::Vector(_) | Value::Matrix(_) => out.push(b'['),
        }
    }

    /// Item `i` of a vector or matrix answer, after a comma unless it is the first.
    pub(super) fn item(r: &QueryResult, i: usize, stamps: &mut Stamps, out: &mut Vec<u8>) {
        if i > 0 {
            out.push(b',');
        }
        match &r.value {
            Value::Vector(v) => {
                if let Some(s) = v.get(i) {
                    metric(out, &s.labels);
                    out.extend_from_slice(br#","value":"#);
                    // One timestamp for the whole vector: no table.
                    point(out, None, s.t, s.v);
                    out.push(b'}');
                }
            }
            Value::Matrix(m) => {
                if let Some(s) = m.get(i) {
                    metric(out, &s.labels);
                    out.extend_from_slice(br#","values":["#);
                    for (j, p) in s.points.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        point(out, Some(stamps), p.t, p.v);
                    }
                    out.extend_from_slice(b"]}");
                }
            }
            Value::Scalar(..) | Value::String(..) => {}
        }
    }

    /// Everything after the last item.
    pub(super) fn tail(r: &QueryResult, stats: Option<&Json>, out: &mut Vec<u8>) {
        if let Value::Vector(_) | Value::Matrix(_) = &r.value {
            out.push(b']');
        }
        if let Some(stats) = stats {
            out.extend_from_slice(br#","stats":"#);
            json(out, stats);
        }
        out.push(b'}');
        for (key, notes) in [("warnings", &r.warnings), ("infos", &r.infos)] {
            if !notes.is_empty() {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":[");
                for (i, n) in notes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(out, n);
                }
                out.push(b']');
            }
        }
        out.push(b'}');
    }

    /// `{"metric":{"name":"value",…}` (the object is left open for the points).
    fn metric(out: &mut Vec<u8>, labels: &Labels) {
        out.extend_from_slice(br#"{"metric":{"#);
        for (i, l) in labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, l.name);
            out.push(b':');
            string(out, l.value);
        }
        out.push(b'}');
    }

    /// `[t,"v"]`. The usual point is put together in a buffer on the stack and copied out
    /// once: copying each piece into the vector cost a `memcpy` call apiece, most of the time
    /// of a range query's encoding.
    fn point(out: &mut Vec<u8>, stamps: Option<&mut Stamps>, t: i64, v: f64) {
        let mut b = Small::new();
        b.push(b'[');
        let written = match stamps {
            Some(stamps) => stamps.write(&mut b, t),
            None => b.timestamp(t),
        };
        if !written {
            out.push(b'[');
            timestamp(out, t);
            out.extend_from_slice(b",\"");
            value(out, v);
            out.extend_from_slice(b"\"]");
            return;
        }
        b.push(b',');
        b.push(b'"');
        if b.value(v) {
            b.push(b'"');
            b.push(b']');
            b.append_to(out);
        } else {
            out.extend_from_slice(b.bytes());
            slow_value(out, v);
            out.extend_from_slice(b"\"]");
        }
    }

    /// The text of the timestamps written lately, in a direct-mapped table: the series of a
    /// range query share one grid of steps, so across series the same few hundred timestamps
    /// are written over and over, and a lookup is cheaper than the digits.
    #[derive(Default)]
    pub(super) struct Stamps {
        /// Empty until the first timestamp; then [`Stamps::SLOTS`] entries.
        slots: Vec<Stamp>,
    }

    /// A remembered timestamp; `len == 0` marks an empty slot.
    #[derive(Clone, Copy)]
    struct Stamp {
        t: i64,
        len: u8,
        /// The longest timestamp [`Small::timestamp`] writes is 18 bytes (`-`, 13 digits of
        /// seconds below 2^53 ms, `.`, 3 digits); 23 makes the slot 32 bytes.
        text: [u8; 23],
    }

    impl Stamps {
        const SLOTS: usize = 1024;

        /// Writes `t` as [`Small::timestamp`] does, from the table when it is there; false
        /// (nothing written) where that would.
        #[inline(always)]
        fn write(&mut self, b: &mut Small, t: i64) -> bool {
            if self.slots.is_empty() {
                self.slots = vec![
                    Stamp {
                        t: 0,
                        len: 0,
                        text: [0; 23],
                    };
                    Self::SLOTS
                ];
            }
            // Fibonacci hashing spreads an arithmetic series of times over the slots.
            let i = ((t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
            let Some(slot) = self.slots.get_mut(i) else {
                return b.timestamp(t);
            };
            if slot.t != t || slot.len == 0 {
                let mut text = Small::new();
                if !text.timestamp(t) {
                    return false;
                }
                slot.t = t;
                slot.len = text.n as u8;
                slot.text.copy_from_slice(&text.b[..23]);
            }
            // A copy of a fixed size (the slot's whole text), then the length.
            b.b[b.n..b.n + 23].copy_from_slice(&slot.text);
            b.n += usize::from(slot.len);
            true
        }
    }

    /// Two ASCII digits per number below 100.
    const PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };

    /// A point's text on the stack: `[`, a timestamp of at most 25 bytes, `,"`, a value of at
    /// most 24, `"]` fit with room to spare; what would not fit is refused and goes the slow
    /// way.
    struct Small {
        b: [u8; 64],
        n: usize,
    }

    impl Small {
        fn new() -> Self {
            Small { b: [0; 64], n: 0 }
        }

        fn bytes(&self) -> &[u8] {
            &self.b[..self.n]
        }

        /// Appends the text to `out` by copying the whole buffer and dropping the unused
        /// tail: a copy of a size known at compile time is a few vector moves, where one of
        /// the text's own length is a `memcpy` call (a tenth of a range query's encoding).
        #[inline(always)]
        fn append_to(&self, out: &mut Vec<u8>) {
            let len = out.len();
            out.extend_from_slice(&self.b);
            out.truncate(len + self.n);
        }

        fn push(&mut self, c: u8) {
            self.b[self.n] = c;
            self.n += 1;
        }

        /// `n` in decimal, written from its last digit back.
        fn digits(&mut self, mut n: u64) {
            let len = n.checked_ilog10().map_or(1, |l| l as usize + 1);
            let end = self.n + len;
            let mut i = end;
            while n >= 100 {
                let d = (n % 100) as usize * 2;
                n /= 100;
                i -= 2;
                self.b[i] = PAIRS[d];
                self.b[i + 1] = PAIRS[d + 1];
            }
            if n >= 10 {
                let d = n as usize * 2;
                self.b[i - 2] = PAIRS[d];
                self.b[i - 1] = PAIRS[d + 1];
            } else {
                self.b[i - 1] = b'0' + n as u8;
            }
            self.n = end;
        }

        /// [`timestamp`] for times below 2^53 milliseconds; false (nothing written) else.
        fn timestamp(&mut self, t: i64) -> bool {
            let a = t.unsigned_abs();
            if a >= 1 << 53 {
                return false;
            }
            if t < 0 {
                self.push(b'-');
            }
            self.digits(a / 1000);
            let mut ms = a % 1000;
            if ms != 0 {
                self.push(b'.');
                self.push(b'0' + (ms / 100) as u8);
                ms %= 100;
                if ms != 0 {
                    self.push(b'0' + (ms / 10) as u8);
                    ms %= 10;
                    if ms != 0 {
                        self.push(b'0' + ms as u8);
                    }
                }
            }
            true
        }

        /// [`value`] for whole numbers below 1e15 and the floats serde_json's printer takes;
        /// false (nothing written) else.
        fn value(&mut self, v: f64) -> bool {
            if let Some(whole) = whole(v) {
                if v.is_sign_negative() {
                    self.push(b'-');
                }
                self.digits(whole);
                true
            } else if v.is_finite() && !short_exact_decimal(v) {
                // serde_json's own shortest-float printer, called directly: through
                // `serde_json::to_writer` the digits went through an `io::Write` and a
                // `memcpy` call of their own.
                let mut digits = zmij::Buffer::new();
                let text = digits.format_finite(v).as_bytes();
                let Some(dst) = self.b.get_mut(self.n..self.n + text.len()) else {
                    return false;
                };
                // `format_float` never writes an exponent. Copied byte by byte in the same
                // loop that looks for one: the text is short, and a `memcpy` call costs more.
                for (d, &c) in dst.iter_mut().zip(text) {
                    if c == b'e' {
                        return false;
                    }
                    *d = c;
                }
                self.n += text.len();
                true
            } else {
                false
            }
        }
    }

    /// Milliseconds as the API's seconds: an integer when whole, else the shortest decimal of
    /// `t / 1000.0`, which for any `t` below 2^53 is the seconds with the milliseconds'
    /// trailing zeros dropped.
    fn timestamp(out: &mut Vec<u8>, t: i64) {
        if t % 1000 == 0 {
            integer(out, t / 1000);
        } else if t.unsigned_abs() < 1 << 53 {
            if t < 0 {
                out.push(b'-');
            }
            let a = t.unsigned_abs();
            integer(out, (a / 1000) as i64);
            let mut ms = a % 1000;
            let mut digits = 3;
            while ms.is_multiple_of(10) {
                ms /= 10;
                digits -= 1;
            }
            out.push(b'.');
            let frac = [
                b'0' + (ms / 100 % 10) as u8,
                b'0' + (ms / 10 % 10) as u8,
                b'0' + (ms % 10) as u8,
            ];
            out.extend_from_slice(&frac[3 - digits..]);
        } else {
            json(out, &Json::from(t as f64 / 1000.0));
        }
    }

    /// `|v|` when it is a whole number below 1e15: a round trip through `u64` rather than
    /// `fract`, which is a call into libm per value.
    fn whole(v: f64) -> Option<u64> {
        let a = v.abs();
        // NaN fails the comparison.
        if a < 1e15 {
            let w = a as u64;
            (w as f64 == a).then_some(w)
        } else {
            None
        }
    }

    /// A sample value as `format_float` writes it.
    pub(super) fn value(out: &mut Vec<u8>, v: f64) {
        let mut b = Small::new();
        if b.value(v) {
            out.extend_from_slice(b.bytes());
        } else {
            slow_value(out, v);
        }
    }

    /// A sample value as `format_float` writes it, by [`Small::value`]'s rules where they
    /// apply. Whole numbers (counters) go without the float formatter; otherwise serde_json's
    /// float printer finds the shortest digits several times faster than `Display`, and writes
    /// them the same way unless it picks an exponent (`format_float` never does). Both pick
    /// the candidate closest to the exact value; only on a tie may they pick differently, and
    /// a tie needs a short exact decimal.
    pub(super) fn slow_value(out: &mut Vec<u8>, v: f64) {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            if v.is_sign_negative() {
                out.push(b'-');
            }
            integer(out, v.abs() as i64);
        } else if v.is_finite() && !short_exact_decimal(v) {
            let at = out.len();
            let _ = serde_json::to_writer(&mut *out, &v);
            if out[at..].contains(&b'e') {
                use std::io::Write as _;
                out.truncate(at);
                let _ = write!(out, "{v}");
            }
        } else if v.is_finite() {
            use std::io::Write as _;
            let _ = write!(out, "{v}");
        } else {
            out.extend_from_slice(prom_promql::engine::format_float(v).as_bytes());
        }
    }

    /// Whether the exact decimal value of `v` has at most 18 significant digits, as the
    /// midpoint between two 17-digit candidates must. `v` is `m × 2^e` with `m` odd; for
    /// `e < 0` its exact decimal is `m × 5^-e` shifted, so it has as many digits as that.
    fn short_exact_decimal(v: f64) -> bool {
        let bits = v.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let (mut m, mut e) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | 1 << 52, biased - 1075)
        };
        if m == 0 {
            return true;
        }
        e += m.trailing_zeros() as i32;
        m >>= m.trailing_zeros();
        if e >= 0 {
            return true;
        }
        // 5^27 alone has 19 digits.
        e >= -26 && u128::from(m) * 5u128.pow(e.unsigned_abs()) < 10u128.pow(18)
    }

    fn integer(out: &mut Vec<u8>, n: i64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut a = n.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (a % 10) as u8;
            a /= 10;
            if a == 0 {
                break;
            }
        }
        if n < 0 {
            out.push(b'-');
        }
        out.extend_from_slice(&buf[i..]);
    }

    /// A JSON string; label values rarely need escaping, so those are copied as they are.
    fn string(out: &mut Vec<u8>, s: &str) {
        if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            json(out, &Json::from(s));
        } else {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
    }

    fn json(out: &mut Vec<u8>, v: &Json) {
        // Writing a `Value` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_names_decode() {
        assert_eq!(unescape_label_name("job").as_deref(), Some("job"));
        assert_eq!(unescape_label_name("U__a_2e_b").as_deref(), Some("a.b"));
        assert_eq!(unescape_label_name("U__a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_label_name("U__x_zz_"), None);
    }

    /// A large answer is streamed in pieces, and the pieces make up the same bytes as the
    /// whole answer encoded at once; small ones go in one piece.
    #[tokio::test]
    async fn large_query_answers_stream_the_same_bytes() {
        use prom_promql::engine::{Point, Series};
        let series = |n: usize| {
            (0..n)
                .map(|i| Series {
                    labels: prom_model::labels!("__name__" => "x", "i" => &i.to_string()),
                    points: (0..480)
                        .map(|k| Point {
                            t: 1_700_000_000_000 + k * 15_000,
                            v: (i as f64 + k as f64) / 7.0,
                        })
                        .collect(),
                })
                .collect::<Vec<_>>()
        };
        for (n, streamed) in [(3, false), (500, true)] {
            let r = QueryResult {
                value: Value::Matrix(series(n)),
                warnings: vec!["w".into()],
                infos: vec![],
            };
            assert_eq!(encode::estimate(&r) > STREAM_ABOVE, streamed);
            let counted = prom_promql::engine::QueryStats::default();
            let stats = stats_json(&counted, StatsLevel::Totals, 0.25, 0.5);
            let want = encode::query_result(&r, Some(&stats));
            let resp = query_response((r, Some(counted)), None, StatsLevel::Totals, 0.25, 0.5);
            assert_eq!(resp.status(), StatusCode::OK);
            let body = resp.into_body();
            assert_eq!(
                axum::body::HttpBody::size_hint(&body).exact().is_some(),
                !streamed
            );
            let got = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            assert_eq!(got.len(), want.len());
            assert!(got == want);
        }
    }

    /// Pieces cover every item once, in order, each run big enough unless it is the last.
    #[test]
    fn answers_cut_into_pieces_of_whole_items() {
        use prom_promql::engine::{Point, Series};
        let point = Point { t: 0, v: 1.0 };
        for (sizes, piece) in [
            (vec![], 100),
            (vec![3], 100),
            (vec![10, 0, 200, 1, 1, 1, 50, 2], 400),
            (vec![5; 37], 1_000),
        ] {
            let r = QueryResult {
                value: Value::Matrix(
                    sizes
                        .iter()
                        .map(|&n| Series {
                            labels: prom_model::labels!("a" => "b"),
                            points: vec![point; n],
                        })
                        .collect(),
                ),
                warnings: vec![],
                infos: vec![],
            };
            let pieces = encode::pieces(&r, piece);
            assert!(!pieces.is_empty());
            let mut next = 0;
            for (k, p) in pieces.iter().enumerate() {
                assert_eq!(p.start, next, "{sizes:?}: {pieces:?}");
                let bytes: usize = sizes[p.clone()].iter().map(|n| (n + 4) * 40).sum();
                if k + 1 < pieces.len() {
                    assert!(bytes >= piece && !p.is_empty(), "{sizes:?}: {pieces:?}");
                    // No shorter run would have reached the size.
                    let shorter: usize = bytes - (sizes[p.end - 1] + 4) * 40;
                    assert!(shorter < piece, "{sizes:?}: {pieces:?}");
                }
                next = p.end;
            }
            assert_eq!(next, sizes.len());
        }
    }

    /// The direct encoder writes exactly what building a `serde_json::Value` with `to_json`
    /// and printing it wrote.
    #[test]
    fn query_results_encode_as_the_json_tree_did() {
        use crate::tsdb::query::to_json;
        use prom_promql::engine::{Point, Sample, Series};
        let values = [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1e-7,
            -2.5e-7,
            123456.789,
            1e15,
            1e21,
            9.007e15,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
        ];
        let times = [
            0,
            1,
            -1,
            999,
            -1500,
            1_700_000_000_000,
            1_700_000_000_120,
            1_700_000_000_003,
            -62_135_596_800_001,
            9_007_199_254_740_993,
            i64::MAX / 2 + 7,
            i64::MIN / 2 - 3,
        ];
        let plain = prom_model::labels!("__name__" => "up", "job" => "a");
        let odd = prom_model::labels!("__name__" => "x", "path" => "C:\\dir \"q\"\n\u{1}é");
        let vector = Value::Vector(
            times
                .iter()
                .zip(values.iter().cycle())
                .enumerate()
                .map(|(i, (&t, &v))| Sample {
                    labels: if i % 2 == 0 {
                        plain.clone()
                    } else {
                        odd.clone()
                    },
                    t,
                    v,
                })
                .collect(),
        );
        let matrix = Value::Matrix(vec![
            Series {
                labels: odd.clone(),
                points: times
                    .iter()
                    .flat_map(|&t| values.iter().map(move |&v| Point { t, v }))
                    .collect(),
            },
            Series {
                labels: Labels::default(),
                points: vec![],
            },
        ]);
        // More distinct timestamps than the encoder's table has slots, so that slots are
        // evicted and refilled, in series that share some of them.
        let mut z = 7u64;
        let mut many = |n: usize| {
            (0..n)
                .map(|_| {
                    z = z.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let t = 1_700_000_000_000 + (z >> 40) as i64 - (1 << 23);
                    Point {
                        t: if z.is_multiple_of(3) {
                            t / 1000 * 1000
                        } else {
                            t
                        },
                        v: 1.0,
                    }
                })
                .collect::<Vec<_>>()
        };
        let crowded = Value::Matrix(vec![
            Series {
                labels: plain.clone(),
                points: many(3_000),
            },
            Series {
                labels: odd.clone(),
                points: many(1_500),
            },
            Series {
                labels: plain.clone(),
                points: many(3_000),
            },
        ]);
        let cases = [
            Value::Scalar(0.5, 1_700_000_000_500),
            Value::Scalar(f64::NAN, 0),
            Value::String("a \"b\"\n".into(), -20),
            Value::Vector(vec![]),
            Value::Matrix(vec![]),
            vector,
            matrix,
            crowded,
        ];
        // Values across magnitudes, against `format_float` itself.
        let mut z = 0x1234_5678_9abc_def0_u64;
        for _ in 0..20_000 {
            z = z
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = f64::from_bits(z);
            let r = QueryResult {
                value: Value::Scalar(v, 0),
                warnings: vec![],
                infos: vec![],
            };
            let want = format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[0,"{}"]}}}}"#,
                prom_promql::engine::format_float(v)
            );
            assert_eq!(
                String::from_utf8(encode::query_result(&r, None)).unwrap(),
                want
            );
            // Log-uniform over the usual magnitudes, and values with few fractional bits
            // (`n + m/2^j`), where two shortest candidates can tie.
            for k in 0..12 {
                let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
                let v = if k < 6 {
                    10f64.powf(unit * 19.0 - 6.0 + k as f64 * 1e-3)
                } else {
                    let j = (z >> (k * 4)) % 24;
                    (z >> 24) as f64 + ((z >> 3) % (1 << j)) as f64 / (1u64 << j) as f64
                };
                for v in [v, -v] {
                    let (mut fast, mut slow) = (Vec::new(), Vec::new());
                    encode::value(&mut fast, v);
                    encode::slow_value(&mut slow, v);
                    let want = prom_promql::engine::format_float(v);
                    assert_eq!(String::from_utf8(fast).unwrap(), want);
                    assert_eq!(String::from_utf8(slow).unwrap(), want);
                }
            }
        }
        let stats = json!({"timings": {"evalTotalTime": 0.25, "execQueueTime": 1e-6}});
        for value in cases {
            for notes in [
                vec![],
                vec!["careful \"here\"".to_owned(), "two".to_owned()],
            ] {
                for with_stats in [false, true] {
                    let r = QueryResult {
                        value: value.clone(),
                        warnings: notes.clone(),
                        infos: notes.iter().rev().cloned().collect(),
                    };
                    let mut tree = to_json(&r);
                    if with_stats {
                        tree["data"]["stats"] = stats.clone();
                    }
                    let bytes = encode::query_result(&r, with_stats.then_some(&stats));
                    assert_eq!(
                        String::from_utf8(bytes).unwrap(),
                        tree.to_string(),
                        "{value:?}"
                    );
                }
            }
        }
    }
}
