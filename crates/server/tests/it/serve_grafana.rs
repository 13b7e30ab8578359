//! `prom serve` as Grafana's Prometheus data source (Grafana 10 and 11) uses it: the request
//! shapes its backend (`promlib`) and its query editor send, and the parts of each answer
//! they parse.
//!
//! What Grafana sends, in short:
//! - "Save & test": an instant query `1+1` at `time=4` (its health check), then
//!   `/api/v1/status/buildinfo` (version detection: `data.version` must pass `semver.valid`;
//!   `data.application`/`data.features` would make it a Mimir or Cortex).
//! - Panels: `POST /api/v1/query_range` with a form body `query, start, end, step`, start and
//!   end aligned down to a multiple of the step and written as Unix seconds with a fraction
//!   when there is one (`strconv.FormatFloat(..., 'f', -1, 64)`), the step as seconds
//!   (`15`, `0.5`); instant queries `POST /api/v1/query` with `query, time`.
//! - Exemplars: `GET /api/v1/query_exemplars?query&start&end`; an empty `data` array when
//!   there are none.
//! - The query editor: `POST /api/v1/labels` and `POST /api/v1/series` (form bodies with
//!   `match[]`, `start`, `end`), `GET /api/v1/label/<name>/values` with `match[]`, `start`,
//!   `end` (and `limit` in 11), the metric browser's `match[]={__name__=~"(?i).*term.*"}`, and
//!   `GET /api/v1/metadata` (with `metric` and `limit` for one metric's help).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use super::serve::{Resp, Server, Target, assert_build_info, config, enc, http, tempdir};

/// A form body from name/value pairs, percent-encoded as Go's `url.Values.Encode` does.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A request as Grafana's backend sends it: its user agent, JSON accepted, and a form body on
/// POST.
fn grafana(s: &Server, method: &str, path: &str, body: &str) -> Resp {
    let mut headers = vec![
        ("User-Agent", "Grafana/11.3.0"),
        ("Accept", "application/json, text/plain, */*"),
        ("X-Grafana-Org-Id", "1"),
    ];
    if method == "POST" {
        headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    }
    let r = http(&s.addr, method, path, &headers, body);
    assert_eq!(r.status, 200, "{method} {path} {body}: {}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{path}: {:?}",
        r.header("content-type")
    );
    let j = r.json();
    assert_eq!(j["status"], "success", "{path}: {j}");
    r
}

/// The data of a successful answer.
fn data(r: &Resp) -> Json {
    r.json()["data"].clone()
}

/// A sample pair as Grafana's converter reads it: `[number seconds, "value"]`.
fn pair(p: &Json) -> (f64, f64) {
    let a = p.as_array().unwrap_or_else(|| panic!("not a pair: {p}"));
    assert_eq!(a.len(), 2, "{p}");
    let t = a[0]
        .as_f64()
        .unwrap_or_else(|| panic!("time not a number: {p}"));
    let v = a[1]
        .as_str()
        .unwrap_or_else(|| panic!("value not a string: {p}"));
    (t, v.parse().unwrap())
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` for the times Grafana sends.
fn go_float(f: f64) -> String {
    let s = format!("{f}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn strings(j: &Json) -> Vec<String> {
    j.as_array()
        .unwrap_or_else(|| panic!("not an array: {j}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v}"))
                .to_owned()
        })
        .collect()
}

#[test]
fn grafana_data_source_requests_get_the_answers_grafana_parses() {
    let target = Target::start();
    let dir = tempdir();
    let cfg = config(dir.path(), &target.addr, "");
    let s = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );
    // Enough samples in the last minute that every step below has two in its window, even
    // when a loaded machine spaces the scrapes out.
    s.wait_until(Duration::from_secs(60), "five scrapes", || {
        target.scrapes.load(Ordering::SeqCst) >= 5
            && s.value("count_over_time(demo_requests_total{path=\"/a\"}[50s])")
                .is_some_and(|n| n >= 5.0)
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    // Save & test: the health check, then version detection.
    let r = grafana(
        &s,
        "POST",
        "/api/v1/query",
        &form(&[("query", "1+1"), ("time", "4")]),
    );
    let d = data(&r);
    assert_eq!(d["resultType"], "scalar");
    assert_eq!(pair(&d["result"]), (4.0, 2.0));
    let d = data(&grafana(&s, "GET", "/api/v1/status/buildinfo", ""));
    assert_build_info(&d);
    assert!(
        d.get("application").is_none() && d.get("features").is_none(),
        "Grafana would take this for Mimir or Cortex: {d}"
    );

    // A panel's range query: start and end aligned down to the step, as Grafana's backend
    // does, in a form body.
    for step in [1.0, 2.0, 0.5] {
        let end = (now / step).floor() * step;
        let start = end - 30.0;
        let body = form(&[
            ("query", "rate(demo_requests_total[1m])"),
            ("start", &go_float(start)),
            ("end", &go_float(end)),
            ("step", &go_float(step)),
        ]);
        let d = data(&grafana(&s, "POST", "/api/v1/query_range", &body));
        assert_eq!(d["resultType"], "matrix");
        let result = d["result"].as_array().unwrap();
        assert_eq!(result.len(), 2, "{d}");
        for series in result {
            let m = series["metric"].as_object().unwrap();
            assert!(!m.contains_key("__name__"), "rate drops the name: {m:?}");
            assert_eq!(m["job"], "demo");
            let points: Vec<(f64, f64)> = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(pair)
                .collect();
            assert!(!points.is_empty());
            for (t, v) in &points {
                let k = (t - start) / step;
                assert!(
                    (k - k.round()).abs() < 1e-6 && *t <= end + 1e-6,
                    "point at {t} is off the grid {start}+{step}k"
                );
                assert!(*v >= 0.0);
            }
            // The newest step is there: its window holds at least three of the samples.
            assert!((points.last().unwrap().0 - end).abs() < 1e-6, "{points:?}");
        }
    }
    // A scalar over a range comes as one series without labels.
    let body = form(&[
        ("query", "1+1"),
        ("start", "1000"),
        ("end", "1060"),
        ("step", "15"),
    ]);
    let d = data(&grafana(&s, "POST", "/api/v1/query_range", &body));
    assert_eq!(d["result"][0]["metric"], json!({}));
    let times: Vec<f64> = d["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| pair(p).0)
        .collect();
    assert_eq!(times, [1000.0, 1015.0, 1030.0, 1045.0, 1060.0]);
    // An instant query at a fractional time (a table panel), as a form body.
    let t = go_float((now * 1000.0).round() / 1000.0);
    let d = data(&grafana(
        &s,
        "POST",
        "/api/v1/query",
        &form(&[("query", "demo_temperature_celsius"), ("time", &t)]),
    ));
    assert_eq!(d["resultType"], "vector");
    let (at, v) = pair(&d["result"][0]["value"]);
    assert_eq!((go_float(at), v), (t, 21.5));

    // Exemplars: an empty list, for a valid query over the panel's range.
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        enc("demo_latency_seconds_bucket"),
        go_float(now - 3600.0),
        go_float(now)
    );
    assert_eq!(data(&grafana(&s, "GET", &path, "")), json!([]));

    // The query editor: label names for a selector, as a POST form.
    let (start, end) = (go_float((now - 3600.0).floor()), go_float(now.ceil()));
    let body = form(&[
        ("match[]", "demo_requests_total"),
        ("start", &start),
        ("end", &end),
    ]);
    let names = strings(&data(&grafana(&s, "POST", "/api/v1/labels", &body)));
    assert_eq!(names, ["__name__", "instance", "job", "path"]);
    // Without a selector (Grafana 10's first label list).
    let names = strings(&data(&grafana(
        &s,
        "GET",
        &format!("/api/v1/labels?start={start}&end={end}"),
        "",
    )));
    for n in ["__name__", "instance", "job", "le", "path"] {
        assert!(names.contains(&n.to_owned()), "{names:?}");
    }
    // Metric names: all of them, then the metric browser's case-insensitive search with a
    // limit (Grafana 11).
    let all = strings(&data(&grafana(
        &s,
        "GET",
        &format!("/api/v1/label/__name__/values?start={start}&end={end}"),
        "",
    )));
    for n in ["demo_latency_seconds_bucket", "demo_requests_total", "up"] {
        assert!(all.contains(&n.to_owned()), "{all:?}");
    }
    let found = strings(&data(&grafana(
        &s,
        "GET",
        &format!(
            "/api/v1/label/__name__/values?match%5B%5D={}&start={start}&end={end}&limit=40000",
            enc("{__name__=~\"(?i).*DEMO_LATENCY.*\"}")
        ),
        "",
    )));
    assert_eq!(
        found,
        [
            "demo_latency_seconds_bucket",
            "demo_latency_seconds_count",
            "demo_latency_seconds_sum"
        ]
    );
    // Label values for a selector (the label filter's value list).
    let values = strings(&data(&grafana(
        &s,
        "GET",
        &format!(
            "/api/v1/label/path/values?match%5B%5D={}&start={start}&end={end}",
            enc("demo_requests_total{job=\"demo\"}")
        ),
        "",
    )));
    assert_eq!(values, ["/a", "/b"]);
    // Series for a selector, as a POST form (older Grafana's label lookup).
    let body = form(&[
        (
            "match[]",
            "{__name__=\"demo_requests_total\",path=~\"/a|/c\"}",
        ),
        ("start", &start),
        ("end", &end),
    ]);
    let d = data(&grafana(&s, "POST", "/api/v1/series", &body));
    assert_eq!(
        d,
        json!([{
            "__name__": "demo_requests_total",
            "instance": target.addr,
            "job": "demo",
            "path": "/a",
        }])
    );
    // Metadata: everything (the editor's type hints), and one metric's with a limit.
    let d = data(&grafana(&s, "GET", "/api/v1/metadata", ""));
    assert_eq!(
        d["demo_requests_total"],
        json!([{"type": "counter", "help": "Requests served.", "unit": ""}])
    );
    assert_eq!(d["demo_temperature_celsius"][0]["type"], "gauge");
    let d = data(&grafana(
        &s,
        "GET",
        "/api/v1/metadata?metric=demo_latency_seconds&limit=1",
        "",
    ));
    assert_eq!(
        d,
        json!({"demo_latency_seconds": [{"type": "histogram", "help": "A histogram.", "unit": ""}]})
    );
    let d = data(&grafana(&s, "GET", "/api/v1/metadata?limit=1", ""));
    assert_eq!(d.as_object().unwrap().len(), 1, "{d}");

    // A bad query comes back as Prometheus's error shape, which Grafana shows as is.
    let r = http(
        &s.addr,
        "POST",
        "/api/v1/query_range",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form(&[
            ("query", "sum("),
            ("start", "0"),
            ("end", "60"),
            ("step", "15"),
        ]),
    );
    assert_eq!(r.status, 400);
    let j = r.json();
    assert_eq!(
        (j["status"].as_str(), j["errorType"].as_str()),
        (Some("error"), Some("bad_data"))
    );
    assert!(j["error"].as_str().unwrap().contains("parse error"), "{j}");

    assert_eq!(s.stop(), 0);
}

/// Grafana's browser-access mode calls the API from the browser: CORS headers as Prometheus
/// sets them, `*` by default, the origin itself when `--web.cors.origin` matches it, none when
/// it does not, and preflight `OPTIONS` answered.
#[test]
fn browser_access_gets_prometheus_cors_headers() {
    let dir = tempdir();
    let get = |s: &Server, origin: &str| {
        http(
            &s.addr,
            "GET",
            "/api/v1/status/buildinfo",
            &[("Origin", origin)],
            "",
        )
    };

    let s = Server::start(&dir.path().join("a"), &[]);
    let r = get(&s, "https://grafana.example");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Accept, Authorization, Content-Type, Origin")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("Date"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // Without an Origin, no CORS headers; outside the API, none either.
    let r = s.get("/api/v1/status/buildinfo");
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = http(&s.addr, "GET", "/metrics", &[("Origin", "https://x")], "");
    assert_eq!(r.header("access-control-allow-origin"), None);
    // A preflight request.
    let r = http(
        &s.addr,
        "OPTIONS",
        "/api/v1/query_range",
        &[
            ("Origin", "https://grafana.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    drop(s);

    let s = Server::start(
        &dir.path().join("b"),
        &[r"--web.cors.origin=https://grafana\.example(:3000)?"],
    );
    let r = get(&s, "https://grafana.example:3000");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://grafana.example:3000")
    );
    let r = get(&s, "https://evil.example");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // The pattern is anchored: a prefix match is not enough.
    let r = get(&s, "https://grafana.example.evil");
    assert_eq!(r.header("access-control-allow-origin"), None);
}
