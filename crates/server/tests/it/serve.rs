//! `prom serve` end to end: the real binary on an ephemeral port with a temporary data
//! directory, scraping a target this test serves, answering Prometheus's HTTP API; restarts,
//! SIGKILL, reloads.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// A metrics endpoint served by the test: a counter that grows by one per scrape, a gauge, a
/// histogram, with HELP and TYPE.
pub struct Target {
    pub addr: String,
    pub scrapes: Arc<AtomicU64>,
}

impl Target {
    /// The demo target: its counters grow by one per scrape.
    pub fn start() -> Target {
        Target::serving(demo_body)
    }

    /// A target whose body is `body(n)` at its `n`th scrape.
    pub fn serving(body: fn(u64) -> String) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
        let addr = listener.local_addr().unwrap().to_string();
        let scrapes = Arc::new(AtomicU64::new(0));
        let count = scrapes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || serve_target(stream, &count, body));
            }
        });
        Target { addr, scrapes }
    }
}

fn serve_target(stream: TcpStream, count: &AtomicU64, body: fn(u64) -> String) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        // Skip the headers.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        let body = body(n);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn demo_body(n: u64) -> String {
    format!(
        "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\n\
             demo_requests_total{{path=\"/a\"}} {n}\ndemo_requests_total{{path=\"/b\"}} {}\n\
             # HELP demo_temperature_celsius A gauge.\n# TYPE demo_temperature_celsius gauge\n\
             demo_temperature_celsius 21.5\n\
             # HELP demo_latency_seconds A histogram.\n# TYPE demo_latency_seconds histogram\n\
             demo_latency_seconds_bucket{{le=\"0.1\"}} {n}\ndemo_latency_seconds_bucket{{le=\"+Inf\"}} {}\n\
             demo_latency_seconds_sum {}\ndemo_latency_seconds_count {}\n",
        2 * n,
        2 * n,
        0.05 * n as f64,
        2 * n
    )
}

/// A response: status, headers (lower-cased names) and body.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = s.split_once("\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A running `prom serve`.
pub struct Server {
    pub child: Child,
    pub addr: String,
    stderr_path: PathBuf,
}

impl Server {
    /// Starts `prom serve` on an ephemeral port with `data` as its data directory and waits
    /// until it reports ready.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let server = Server::spawn(data, extra);
        server.wait_until(Duration::from_secs(60), "ready", || {
            http(&server.addr, "GET", "/-/ready", &[], "").status == 200
        });
        server
    }

    /// Starts `prom serve` and returns as soon as it listens (it may still be replaying its
    /// WAL).
    pub fn spawn(data: &Path, extra: &[&str]) -> Server {
        let stderr_path = data.with_extension(format!("log{}", std::process::id()));
        let log = std::fs::File::create(&stderr_path).unwrap();
        let mut args = vec![
            "serve".to_owned(),
            "--web.listen-address=127.0.0.1:0".to_owned(),
            format!("--storage.tsdb.path={}", data.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prom serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if let Some(i) = log.find("msg=listening address=") {
                let rest = &log[i + "msg=listening address=".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "prom serve did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            addr,
            stderr_path,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Resp {
        http(&self.addr, "GET", path, &[], "")
    }

    pub fn post_form(&self, path: &str, form: &str) -> Resp {
        http(
            &self.addr,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form,
        )
    }

    /// An instant query's result vector.
    pub fn query(&self, q: &str) -> Vec<Json> {
        let r = self.get(&format!("/api/v1/query?query={}", enc(q)));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["data"]["result"].as_array().unwrap().clone()
    }

    /// The single value of a one-series instant query, or `None`.
    pub fn value(&self, q: &str) -> Option<f64> {
        let v = self.query(q);
        v.first()
            .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
    }

    pub fn wait_until(&self, limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM and wait; the exit status.
    pub fn stop(mut self) -> i32 {
        self.signal("TERM");
        let st = self.child.wait().unwrap();
        st.code().unwrap_or(-1)
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample line starting with `series ` in a text exposition.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
        .parse()
        .unwrap()
}

/// `/api/v1/status/buildinfo`'s data: prom's own semver version (which Grafana's version
/// detection parses) and the build's details, never empty.
pub fn assert_build_info(data: &Json) {
    let version = data["version"].as_str().unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let core = version.split(['-', '+']).next().unwrap();
    let parts: Vec<&str> = core.split('.').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| p.parse::<u64>().is_ok() && (*p == "0" || !p.starts_with('0'))),
        "not semver: {version}"
    );
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(!data[k].as_str().unwrap().is_empty(), "{k}: {data}");
    }
    let rev = data["revision"].as_str().unwrap();
    assert!(
        rev == "unknown" || (rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())),
        "{rev}"
    );
    let go = data["goVersion"].as_str().unwrap();
    assert!(go == "unknown" || go.starts_with("rustc "), "{go}");
    let date = data["buildDate"].as_str().unwrap();
    assert!(
        date == "unknown" || (date.len() == 17 && &date[8..9] == "-"),
        "{date}"
    );
}

pub fn config(dir: &Path, target: &str, extra_jobs: &str) -> PathBuf {
    let path = dir.join("prometheus.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    site: test\nscrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [\"{target}\"]\n{extra_jobs}"
        ),
    )
    .unwrap();
    path
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("prom-serve-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

#[test]
fn serve_scrapes_a_target_and_answers_the_api() {
    let target = Target::start();
    let dir = tempdir();
    let cfg = config(dir.path(), &target.addr, "");
    let s = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );
    s.wait_until(Duration::from_secs(30), "two scrapes", || {
        s.value("demo_temperature_celsius").is_some() && target.scrapes.load(Ordering::SeqCst) >= 2
    });

    // Instant query: labels and value as Prometheus answers.
    let up = s.query("up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0]["metric"]["job"], "demo");
    assert_eq!(up[0]["metric"]["instance"], target.addr.as_str());
    assert_eq!(up[0]["value"][1], "1");
    assert_eq!(s.value("demo_temperature_celsius"), Some(21.5));
    // Form POST, the way Grafana sends long queries.
    let r = s.post_form("/api/v1/query", "query=sum(demo_requests_total)&stats=all");
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["data"]["resultType"], "vector");
    let stats = &j["data"]["stats"];
    for k in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(stats["timings"][k].as_f64().unwrap() >= 0.0, "{k}: {stats}");
    }
    // Two series, one sample each within the lookback window at least.
    let total = stats["samples"]["totalQueryableSamples"].as_u64().unwrap();
    assert!(total >= 2, "{stats}");
    assert!(
        stats["samples"]["peakSamples"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    let per_step = stats["samples"]["totalQueryableSamplesPerStep"]
        .as_array()
        .unwrap();
    assert_eq!(per_step.len(), 1, "{stats}");
    assert_eq!(per_step[0][1].as_u64(), Some(total));
    // Any other value: the totals without the per-step list; none: no stats at all.
    let j = s
        .get(&format!(
            "/api/v1/query?query={}&stats=1",
            enc("demo_requests_total")
        ))
        .json();
    assert!(
        j["data"]["stats"]["samples"]["totalQueryableSamples"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(
        j["data"]["stats"]["samples"]
            .get("totalQueryableSamplesPerStep")
            .is_none()
    );
    let j = s
        .get(&format!(
            "/api/v1/query?query={}",
            enc("demo_requests_total")
        ))
        .json();
    assert!(j["data"].get("stats").is_none(), "{j}");

    // Range query over the last minute.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let r = s.get(&format!(
        "/api/v1/query_range?query=demo_temperature_celsius&start={}&end={now}&step=1",
        now - 60.0
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["data"]["resultType"], "matrix");
    let values = j["data"]["result"][0]["values"].as_array().unwrap();
    assert!(!values.is_empty());
    assert!(values.iter().all(|p| p[1] == "21.5"));
    let r = s.get(&format!(
        "/api/v1/query_range?query={}&start={}&end={now}&step=1&stats=all",
        enc("rate(demo_requests_total[5s])"),
        now - 60.0
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let stats = r.json()["data"]["stats"]["samples"].clone();
    let per_step = stats["totalQueryableSamplesPerStep"].as_array().unwrap();
    assert_eq!(per_step.len(), 61, "one entry per step: {stats}");
    assert!((per_step[0][0].as_f64().unwrap() - (now - 60.0)).abs() < 1e-3);
    let sum: u64 = per_step.iter().map(|p| p[1].as_u64().unwrap()).sum();
    assert!(sum >= 4, "two series scraped at least twice: {stats}");
    assert_eq!(Some(sum), stats["totalQueryableSamples"].as_u64());

    // Series, labels, label values, with match[] and limit.
    let r = s.get(&format!(
        "/api/v1/series?match[]={}",
        enc("demo_requests_total")
    ));
    let j = r.json();
    let series = j["data"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    assert_eq!(series[0]["path"], "/a");
    assert_eq!(series[0]["__name__"], "demo_requests_total");
    let r = s.get(&format!(
        "/api/v1/series?match[]={}&limit=1",
        enc("demo_requests_total")
    ));
    let j = r.json();
    assert_eq!(j["data"].as_array().unwrap().len(), 1);
    assert_eq!(j["warnings"][0], "results truncated due to limit");
    let j = s.get("/api/v1/labels").json();
    let names: Vec<&str> = j["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for n in ["__name__", "instance", "job", "le", "path"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let j = s
        .get(&format!(
            "/api/v1/label/path/values?match[]={}",
            enc("demo_requests_total")
        ))
        .json();
    assert_eq!(j["data"], serde_json::json!(["/a", "/b"]));
    let j = s.get("/api/v1/label/job/values").json();
    assert_eq!(j["data"], serde_json::json!(["demo"]));

    // Metadata from the scrape, targets, pools.
    let j = s.get("/api/v1/metadata?metric=demo_latency_seconds").json();
    assert_eq!(j["data"]["demo_latency_seconds"][0]["type"], "histogram");
    assert_eq!(j["data"]["demo_latency_seconds"][0]["help"], "A histogram.");
    let j = s.get("/api/v1/targets").json();
    let t = &j["data"]["activeTargets"][0];
    assert_eq!(t["health"], "up");
    assert_eq!(t["scrapePool"], "demo");
    assert_eq!(t["labels"]["instance"], target.addr.as_str());
    assert_eq!(t["scrapeInterval"], "1s");
    assert_eq!(t["lastError"], "");
    let j = s
        .get(&format!(
            "/api/v1/targets/metadata?match_target={}&metric=demo_temperature_celsius",
            enc("{job=\"demo\"}")
        ))
        .json();
    assert_eq!(j["data"][0]["type"], "gauge");
    assert_eq!(j["data"][0]["target"]["job"], "demo");
    assert_eq!(
        s.get("/api/v1/scrape_pools").json()["data"]["scrapePools"],
        serde_json::json!(["demo"])
    );

    // Status endpoints.
    let j = s.get("/api/v1/status/buildinfo").json();
    assert_eq!(j["status"], "success");
    assert_build_info(&j["data"]);
    let j = s.get("/api/v1/status/config").json();
    assert!(
        j["data"]["yaml"]
            .as_str()
            .unwrap()
            .contains("job_name: demo")
    );
    let j = s.get("/api/v1/status/flags").json();
    assert_eq!(j["data"]["query.max-concurrency"], "20");
    assert_eq!(j["data"]["web.enable-admin-api"], "false");
    let j = s.get("/api/v1/status/runtimeinfo").json();
    assert_eq!(j["data"]["reloadConfigSuccess"], true);
    assert_eq!(j["data"]["storageRetention"], "15d");
    let j = s.get("/api/v1/status/tsdb").json();
    assert!(j["data"]["headStats"]["numSeries"].as_u64().unwrap() >= 9);
    let by_name = j["data"]["seriesCountByMetricName"].as_array().unwrap();
    assert!(
        by_name
            .iter()
            .any(|e| e["name"] == "demo_requests_total" && e["value"] == 2)
    );
    assert_eq!(
        s.get("/api/v1/status/walreplay").json()["data"]["current"],
        1
    );

    // Query tools.
    let j = s
        .get(&format!(
            "/api/v1/format_query?query={}",
            enc("SUM(x)BY(a)")
        ))
        .json();
    assert_eq!(j["data"], "sum by (a) (x)");
    let j = s
        .get(&format!("/api/v1/parse_query?query={}", enc("rate(x[5m])")))
        .json();
    assert_eq!(j["data"]["type"], "call");
    assert_eq!(j["data"]["args"][0]["range"], 300000);
    let j = s
        .get(&format!(
            "/api/v1/query_exemplars?query={}",
            enc("demo_requests_total")
        ))
        .json();
    assert_eq!(j["data"], serde_json::json!([]));

    // Federation: newest samples with the external labels.
    let r = s.get(&format!(
        "/federate?match[]={}",
        enc("demo_temperature_celsius")
    ));
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .starts_with("# TYPE demo_temperature_celsius untyped\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!(
            "demo_temperature_celsius{{instance=\"{}\",job=\"demo\",site=\"test\"}} 21.5 ",
            target.addr
        )),
        "{}",
        r.body
    );

    // Errors, shaped and coded as Prometheus's.
    let r = s.get(&format!("/api/v1/query?query={}", enc("sum(")));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorType"], "bad_data");
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid parameter \"query\": 1:5: parse error")
    );
    let r = s.get("/api/v1/query_range?query=up&start=100&end=50&step=1");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "end timestamp must not be before start time"
    );
    let r = s.get("/api/v1/query_range?query=up&start=0&end=100000&step=1");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("exceeded maximum resolution of 11,000 points")
    );
    let r = s.get("/api/v1/query_range?query=up&start=0&end=100&step=0");
    assert_eq!(r.status, 400);
    let r = s.get("/api/v1/query?query=up&time=yesterday");
    assert_eq!(r.status, 400);
    let r = s.get(&format!(
        "/api/v1/query?query={}",
        enc("{__name__=~\"demo.+\"} + on() group_left {__name__=~\"demo.+\"}")
    ));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["errorType"], "execution");
    let r = s.get("/api/v1/series");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "no match[] parameter provided");
    // Admin and lifecycle endpoints are off unless enabled.
    let r = s.post_form("/api/v1/admin/tsdb/clean_tombstones", "");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "admin APIs disabled");
    assert_eq!(s.post_form("/-/reload", "").status, 403);
    assert_eq!(s.post_form("/-/quit", "").status, 403);
    assert_eq!(s.get("/no/such/page").status, 404);
    assert_eq!(s.get("/-/healthy").status, 200);

    // Self-instrumentation in both formats.
    let j_build = s.get("/api/v1/status/buildinfo").json()["data"].clone();
    let r = s.get("/metrics");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for name in [
        "prometheus_tsdb_head_series ",
        "prometheus_tsdb_head_samples_appended_total ",
        "prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"}",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "prometheus_ready 1",
        "prometheus_target_sync_length_seconds_count{scrape_job=\"demo\"} ",
        "prometheus_target_scrapes_exceeded_sample_limit_total 0\n",
        // The demo target's samples are all in order and within the head.
        "prometheus_target_scrapes_sample_duplicate_timestamp_total 0\n",
        "prometheus_target_scrapes_sample_out_of_bounds_total 0\n",
        "prometheus_target_scrapes_sample_out_of_order_total 0\n",
        &format!(
            "prometheus_build_info{{branch=\"{}\",goversion=\"{}\",revision=\"{}\",version=\"{}\"}} 1\n",
            j_build["branch"].as_str().unwrap(),
            j_build["goVersion"].as_str().unwrap(),
            j_build["revision"].as_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(
            r.body.contains(name),
            "{name} missing from /metrics:\n{}",
            r.body
        );
    }
    // The scrape loops measure their intervals: about the configured 1s.
    let median = metric_value(
        &r.body,
        "prometheus_target_interval_length_seconds{interval=\"1s\",quantile=\"0.5\"}",
    );
    assert!((0.5..1.5).contains(&median), "median interval {median}");
    let count = metric_value(
        &r.body,
        "prometheus_target_interval_length_seconds_count{interval=\"1s\"}",
    );
    // Two scrapes at least were waited for: one interval between them.
    assert!(count >= 1.0, "intervals measured: {count}");
    let (_, errors) = prom_exposition::collect(prom_exposition::Parser::new(
        r.body.as_bytes(),
        prom_exposition::Format::Text,
    ));
    assert!(errors.is_empty(), "{errors:?}");
    let r = http(
        &s.addr,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
        "",
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(r.body.ends_with("# EOF\n"));
    let (_, errors) = prom_exposition::collect(prom_exposition::Parser::new(
        r.body.as_bytes(),
        prom_exposition::Format::OpenMetrics,
    ));
    assert!(errors.is_empty(), "{errors:?}");

    assert_eq!(s.stop(), 0);
}

#[test]
fn data_survives_restart_and_sigkill() {
    let target = Target::start();
    let dir = tempdir();
    let data = dir.path().join("data");
    let cfg = config(dir.path(), &target.addr, "");
    let cfg_flag = format!("--config.file={}", cfg.display());
    let s = Server::start(&data, &[&cfg_flag]);
    let count = |s: &Server| {
        s.value("count_over_time(demo_temperature_celsius[1h])")
            .unwrap_or(0.0)
    };
    s.wait_until(Duration::from_secs(30), "three scrapes", || {
        count(&s) >= 3.0
    });
    let before = count(&s);
    assert_eq!(s.stop(), 0, "graceful stop");

    let s = Server::start(&data, &[&cfg_flag]);
    let after = count(&s);
    assert!(
        after >= before,
        "lost samples over a restart: {before} then {after}"
    );
    s.wait_until(Duration::from_secs(30), "more scrapes", || {
        count(&s) >= after + 2.0
    });
    let before_kill = count(&s);
    s.kill9();

    let s = Server::start(&data, &[&cfg_flag]);
    let after_kill = count(&s);
    assert!(
        after_kill >= before_kill,
        "SIGKILL lost committed samples: {before_kill} then {after_kill}"
    );
    assert_eq!(s.stop(), 0);
}

#[test]
fn reload_applies_good_configs_and_keeps_the_running_one_on_bad() {
    let target = Target::start();
    let dir = tempdir();
    let cfg = config(dir.path(), &target.addr, "");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            &format!("--config.file={}", cfg.display()),
            "--web.enable-lifecycle",
        ],
    );
    let pools = |s: &Server| s.get("/api/v1/scrape_pools").json()["data"]["scrapePools"].clone();
    assert_eq!(pools(&s), serde_json::json!(["demo"]));

    // A second job over HTTP.
    config(
        dir.path(),
        &target.addr,
        &format!(
            "  - job_name: more\n    static_configs:\n      - targets: [\"{}\"]\n",
            target.addr
        ),
    );
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pools(&s), serde_json::json!(["demo", "more"]));

    // A broken file: rejected with the reason, the running config kept.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: x\n    bogus_field: 1\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", "");
    assert_eq!(r.status, 500);
    assert!(r.body.contains("bogus_field"), "{}", r.body);
    assert_eq!(pools(&s), serde_json::json!(["demo", "more"]));
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("prometheus_config_last_reload_successful 0\n"));
    assert_eq!(
        s.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"],
        false
    );

    // SIGHUP with a good file again.
    config(dir.path(), &target.addr, "");
    s.signal("HUP");
    s.wait_until(Duration::from_secs(10), "the SIGHUP reload", || {
        pools(&s) == serde_json::json!(["demo"])
    });
    assert!(
        s.get("/metrics")
            .body
            .contains("prometheus_config_last_reload_successful 1\n")
    );

    // /-/quit stops the server cleanly.
    let mut s = s;
    assert_eq!(s.post_form("/-/quit", "").status, 200);
    let st = s.child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn the_embedded_default_scrapes_the_server_itself() {
    let dir = tempdir();
    let s = Server::start(&dir.path().join("data"), &[]);
    let j = s.get("/api/v1/status/config").json();
    assert!(j["data"]["yaml"].as_str().unwrap().contains(&s.addr));
    // The default interval is 15 s; the first scrape comes within one interval of discovery.
    s.wait_until(Duration::from_secs(40), "the self-scrape", || {
        s.value("up{job=\"prom\"}") == Some(1.0)
    });
    assert!(
        s.value("prometheus_tsdb_head_series{job=\"prom\"}")
            .is_some()
    );
    assert_eq!(s.stop(), 0);
}

#[test]
fn bad_flags_and_configs_stop_the_start_with_a_reason() {
    let dir = tempdir();
    let out = super::support::prom(
        &[
            "serve",
            "--web.listen-address=127.0.0.1:0",
            "--query.timeout=soon",
        ],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--query.timeout=soon"),
        "{}",
        out.stderr
    );
    let cfg = dir.path().join("bad.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1x\n").unwrap();
    let out = super::support::prom(
        &[
            "serve",
            "--web.listen-address=127.0.0.1:0",
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("d").display()),
        ],
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("bad.yml"), "{}", out.stderr);
}

/// Writes a WAL of `series` series with one sample each, now, straight through prom-tsdb.
fn write_wal(data: &Path, series: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let db = prom_tsdb::Db::open(data, prom_tsdb::Options::default()).unwrap();
    let mut app = db.appender();
    for i in 0..series {
        let labels = prom_model::Labels::from_pairs(&[
            ("__name__", "wal_replay_test"),
            ("id", &i.to_string()),
        ]);
        prom_model::Appender::append(&mut app, None, &labels, now, i as f64).unwrap();
        if i % 10_000 == 9_999 {
            prom_model::Appender::commit(&mut app).unwrap();
            app = db.appender();
        }
    }
    prom_model::Appender::commit(&mut app).unwrap();
    drop(app);
    db.close().unwrap();
}

#[test]
fn ready_is_503_while_the_wal_replays() {
    const SERIES: usize = 150_000;
    let dir = tempdir();
    let data = dir.path().join("data");
    write_wal(&data, SERIES);
    let cfg = config(dir.path(), "127.0.0.1:1", "");
    let s = Server::spawn(&data, &[&format!("--config.file={}", cfg.display())]);
    // The listener binds before the database opens: /-/healthy answers at once, /-/ready and
    // the query API say 503 until the replay is done.
    let ready = s.get("/-/ready");
    let healthy = s.get("/-/healthy");
    let query = s.get("/api/v1/query?query=up");
    let replay = s.get("/api/v1/status/walreplay").json();
    let still_replaying = !s.log().contains("msg=\"database open\"");
    assert!(
        still_replaying,
        "the replay of {SERIES} series ended before the first request; log:\n{}",
        s.log()
    );
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body, "Service Unavailable");
    assert_eq!(healthy.status, 200, "{}", healthy.body);
    assert_eq!(query.status, 503, "{}", query.body);
    assert_eq!(replay["data"]["current"], 0);
    s.wait_until(Duration::from_secs(120), "the replay", || {
        s.get("/-/ready").status == 200
    });
    assert_eq!(
        s.value("count(wal_replay_test)"),
        Some(SERIES as f64),
        "every replayed series is queryable"
    );
    assert_eq!(
        s.get("/api/v1/status/walreplay").json()["data"]["current"],
        1
    );
    assert_eq!(s.stop(), 0);
}
