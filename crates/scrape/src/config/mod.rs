//! prometheus.yml: the configuration model, decoded and validated as Prometheus 3 does.
//!
//! [`Config::load_file`] reads a file, resolves the paths in it against the file's directory,
//! pulls in `scrape_config_files`, applies the documented defaults (global settings flow into
//! every job) and validates every section, including the ones later crates run (rules,
//! alerting, remote write). Errors name the file and the line and say why, worded like
//! Prometheus's so that users recognise them.

pub mod http;
pub mod relabel;
pub mod sd;
pub mod units;

use std::fmt;
use std::path::{Path, PathBuf};

pub use http::HttpClientConfig;
pub use relabel::{Action, AnchoredRegex, RelabelConfig};
pub use sd::{FileSdConfig, HttpSdConfig, OtherSdConfig, SdConfig, TargetGroup};
pub use units::{ByteSize, Duration};

use crate::yaml::{self, Fields, Node, Value};

/// A string that is never printed (passwords, tokens): `Debug` and `Display` show `<secret>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<secret>"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "<secret>" })
    }
}

/// A configuration error: the file, the line (0 when the error is about the whole file), the
/// YAML path of the offending key when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when loading from a file.
    pub file: Option<PathBuf>,
    /// The line, from 1; 0 when not known.
    pub line: usize,
    /// Where in the document (`scrape_configs[0].relabel_configs[1]`), when known.
    pub path: Option<String>,
    /// What is wrong.
    pub msg: String,
    unmarshal: bool,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "parsing YAML file {}: ", file.display())?;
        }
        if self.unmarshal {
            write!(
                f,
                "yaml: unmarshal errors:\n  line {}: {}",
                self.line, self.msg
            )?;
            if let Some(p) = &self.path {
                write!(f, " (at {p})")?;
            }
            Ok(())
        } else if self.line > 0 && !self.msg.starts_with("yaml: line") {
            write!(f, "{} (line {}", self.msg, self.line)?;
            if let Some(p) = &self.path {
                write!(f, ", {p}")?;
            }
            f.write_str(")")
        } else {
            f.write_str(&self.msg)
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<yaml::Error> for ConfigError {
    fn from(e: yaml::Error) -> Self {
        ConfigError {
            file: None,
            line: e.line,
            path: None,
            msg: e.msg,
            unmarshal: e.unmarshal,
        }
    }
}

/// A validation error at a line.
pub(crate) fn cerr(line: usize, msg: impl Into<String>) -> yaml::Error {
    yaml::Error::at(line, msg)
}

pub(crate) fn parse_url(s: &str, line: usize) -> yaml::Result<url::Url> {
    url::Url::parse(s).map_err(|e| cerr(line, format!("parse {s:?}: {e}")))
}

pub(crate) fn duration_of(n: &Node) -> yaml::Result<Duration> {
    let s = n.str()?;
    s.parse::<Duration>()
        .map_err(|e| cerr(n.line, e.to_string()))
}

fn size_of(n: &Node) -> yaml::Result<ByteSize> {
    let s = n.str()?;
    s.parse::<ByteSize>()
        .map_err(|e| cerr(n.line, e.to_string()))
}

/// Checks label names and values (UTF-8 names, as Prometheus 3 validates by default).
pub(crate) fn validate_labels(labels: &[(String, String)], line: usize) -> yaml::Result<()> {
    for (k, _) in labels {
        if k.is_empty() || !prom_model::is_valid_utf8_name(k) {
            return Err(cerr(line, format!("{k:?} is not a valid label name")));
        }
    }
    Ok(())
}

pub use prom_exposition::ScrapeProtocol;

/// Parses a protocol name with Prometheus's error wording.
fn parse_protocol(s: &str) -> Result<ScrapeProtocol, String> {
    s.parse::<ScrapeProtocol>().map_err(|_| {
        let mut names: Vec<&str> = [
            ScrapeProtocol::OpenMetricsText0_0_1,
            ScrapeProtocol::OpenMetricsText1_0_0,
            ScrapeProtocol::PrometheusProto,
            ScrapeProtocol::PrometheusText0_0_4,
            ScrapeProtocol::PrometheusText1_0_0,
        ]
        .iter()
        .map(|p| p.as_str())
        .collect();
        names.sort_unstable();
        format!(
            "unknown scrape protocol {s}, supported: [{}]",
            names.join(" ")
        )
    })
}

/// The default `scrape_protocols`.
pub const DEFAULT_SCRAPE_PROTOCOLS: [ScrapeProtocol; 4] = ScrapeProtocol::DEFAULT;

/// The default when native histograms are scraped: protobuf first.
pub const PROTO_FIRST_SCRAPE_PROTOCOLS: [ScrapeProtocol; 5] = [
    ScrapeProtocol::PrometheusProto,
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// Limits on what one scrape may bring (0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeLimits {
    /// `body_size_limit`.
    pub body_size_limit: ByteSize,
    /// `sample_limit`.
    pub sample_limit: u64,
    /// `target_limit`.
    pub target_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
    /// `keep_dropped_targets`.
    pub keep_dropped_targets: u64,
}

/// The `global` section, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// `scrape_interval`, 1m by default.
    pub scrape_interval: Duration,
    /// `scrape_timeout`, 10s by default (never above the interval).
    pub scrape_timeout: Duration,
    /// `scrape_protocols`.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// `evaluation_interval`, 1m by default.
    pub evaluation_interval: Duration,
    /// `rule_query_offset`.
    pub rule_query_offset: Duration,
    /// `external_labels`, `$VAR`/`${VAR}` expanded from the environment.
    pub external_labels: Vec<(String, String)>,
    /// `query_log_file`.
    pub query_log_file: String,
    /// `scrape_failure_log_file`.
    pub scrape_failure_log_file: String,
    /// Limits every job inherits.
    pub limits: ScrapeLimits,
    /// `metric_name_validation_scheme`: `utf8` (default) or `legacy`.
    pub metric_name_validation_scheme: String,
    /// `metric_name_escaping_scheme`.
    pub metric_name_escaping_scheme: String,
    /// `scrape_native_histograms`.
    pub scrape_native_histograms: bool,
    /// `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `extra_scrape_metrics`.
    pub extra_scrape_metrics: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS.to_vec(),
            evaluation_interval: Duration::from_secs(60),
            rule_query_offset: Duration(0),
            external_labels: Vec::new(),
            query_log_file: String::new(),
            scrape_failure_log_file: String::new(),
            limits: ScrapeLimits::default(),
            metric_name_validation_scheme: "utf8".to_owned(),
            metric_name_escaping_scheme: "allow-utf-8".to_owned(),
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
            extra_scrape_metrics: false,
        }
    }
}

/// One `scrape_configs` entry, with the global defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// `job_name`.
    pub job_name: String,
    /// `honor_labels`.
    pub honor_labels: bool,
    /// `honor_timestamps`, true by default.
    pub honor_timestamps: bool,
    /// `track_timestamps_staleness`.
    pub track_timestamps_staleness: bool,
    /// `scrape_interval`.
    pub scrape_interval: Duration,
    /// `scrape_timeout`.
    pub scrape_timeout: Duration,
    /// `scrape_protocols`, in preference order.
    pub scrape_protocols: Vec<ScrapeProtocol>,
    /// `fallback_scrape_protocol`, for a response without a usable Content-Type.
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    /// `scrape_failure_log_file`.
    pub scrape_failure_log_file: String,
    /// `metrics_path`, `/metrics` by default.
    pub metrics_path: String,
    /// `scheme`, `http` by default.
    pub scheme: String,
    /// `params`: URL query parameters.
    pub params: Vec<(String, Vec<String>)>,
    /// `enable_compression` (ask for gzip), true by default.
    pub enable_compression: bool,
    /// Limits.
    pub limits: ScrapeLimits,
    /// `native_histogram_bucket_limit`.
    pub native_histogram_bucket_limit: u64,
    /// `native_histogram_min_bucket_factor`.
    pub native_histogram_min_bucket_factor: f64,
    /// `metric_name_validation_scheme`.
    pub metric_name_validation_scheme: String,
    /// `metric_name_escaping_scheme`.
    pub metric_name_escaping_scheme: String,
    /// `scrape_native_histograms`.
    pub scrape_native_histograms: bool,
    /// `always_scrape_classic_histograms`.
    pub always_scrape_classic_histograms: bool,
    /// `convert_classic_histograms_to_nhcb`.
    pub convert_classic_histograms_to_nhcb: bool,
    /// `extra_scrape_metrics`.
    pub extra_scrape_metrics: bool,
    /// HTTP client settings.
    pub http: HttpClientConfig,
    /// Discovery configurations.
    pub service_discovery: Vec<SdConfig>,
    /// `relabel_configs`.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `metric_relabel_configs`.
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

/// One `alerting.alertmanagers` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// `scheme`, `http` by default.
    pub scheme: String,
    /// `path_prefix`.
    pub path_prefix: String,
    /// `timeout`, 10s by default.
    pub timeout: Duration,
    /// `api_version` (only `v2`).
    pub api_version: String,
    /// HTTP client settings.
    pub http: HttpClientConfig,
    /// Discovery of the Alertmanagers.
    pub service_discovery: Vec<SdConfig>,
    /// `relabel_configs` applied to discovered Alertmanagers.
    pub relabel_configs: Vec<RelabelConfig>,
    /// `alert_relabel_configs` for alerts sent to these Alertmanagers.
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

/// The `alerting` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    /// `alert_relabel_configs`.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// `alertmanagers`.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// `queue_config` of a remote write.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// `capacity`.
    pub capacity: i64,
    /// `max_shards`.
    pub max_shards: i64,
    /// `min_shards`.
    pub min_shards: i64,
    /// `max_samples_per_send`.
    pub max_samples_per_send: i64,
    /// `batch_send_deadline`.
    pub batch_send_deadline: Duration,
    /// `min_backoff`.
    pub min_backoff: Duration,
    /// `max_backoff`.
    pub max_backoff: Duration,
    /// `retry_on_http_429`.
    pub retry_on_http_429: bool,
    /// `sample_age_limit`.
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration(0),
        }
    }
}

/// One `remote_write` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// `url`.
    pub url: String,
    /// `name` (unique among remote writes).
    pub name: String,
    /// `remote_timeout`, 30s by default.
    pub remote_timeout: Duration,
    /// `headers`.
    pub headers: Vec<(String, String)>,
    /// `write_relabel_configs`.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// `send_exemplars`.
    pub send_exemplars: bool,
    /// `send_native_histograms`.
    pub send_native_histograms: bool,
    /// `protobuf_message`: `prometheus.WriteRequest` (1.0, default) or
    /// `io.prometheus.write.v2.Request`.
    pub protobuf_message: String,
    /// `queue_config`.
    pub queue: QueueConfig,
    /// HTTP client settings.
    pub http: HttpClientConfig,
}

/// One `remote_read` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReadConfig {
    /// `url`.
    pub url: String,
    /// `name`.
    pub name: String,
    /// `remote_timeout`, 1m by default.
    pub remote_timeout: Duration,
    /// `headers`.
    pub headers: Vec<(String, String)>,
    /// `read_recent`.
    pub read_recent: bool,
    /// `required_matchers`.
    pub required_matchers: Vec<(String, String)>,
    /// `filter_external_labels`, true by default.
    pub filter_external_labels: bool,
    /// HTTP client settings.
    pub http: HttpClientConfig,
}

/// The `storage` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageConfig {
    /// `tsdb.out_of_order_time_window`.
    pub out_of_order_time_window: Duration,
    /// `tsdb.retention.time`.
    pub retention_time: Option<Duration>,
    /// `tsdb.retention.size`.
    pub retention_size: Option<ByteSize>,
    /// `tsdb.retention.percentage`.
    pub retention_percentage: Option<f64>,
    /// `tsdb.chunk_encoding.floats`.
    pub chunk_encoding_floats: String,
    /// `exemplars.max_exemplars`.
    pub max_exemplars: i64,
}

/// A whole prometheus.yml.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `global`.
    pub global: GlobalConfig,
    /// `rule_files`, resolved against the config file's directory.
    pub rule_files: Vec<String>,
    /// `scrape_config_files`, resolved.
    pub scrape_config_files: Vec<String>,
    /// Every job: `scrape_configs` then those from `scrape_config_files`.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `alerting`.
    pub alerting: AlertingConfig,
    /// `remote_write`.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// `remote_read`.
    pub remote_read: Vec<RemoteReadConfig>,
    /// `storage`.
    pub storage: StorageConfig,
    /// The file's text as loaded (for `/api/v1/status/config`).
    pub original: String,
}

/// Options for loading.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Agent mode: `alerting`, `rule_files` and `remote_read` are not allowed.
    pub agent: bool,
}

fn get_bool(f: &mut Fields<'_>, key: &str, default: bool) -> yaml::Result<bool> {
    Ok(f.get(key).map(Node::bool).transpose()?.unwrap_or(default))
}

fn get_str(f: &mut Fields<'_>, key: &str) -> yaml::Result<Option<String>> {
    f.get(key).map(Node::str).transpose()
}

fn get_dur(f: &mut Fields<'_>, key: &str) -> yaml::Result<Option<Duration>> {
    f.get(key).map(duration_of).transpose()
}

fn get_u64(f: &mut Fields<'_>, key: &str) -> yaml::Result<Option<u64>> {
    f.get(key).map(Node::u64).transpose()
}

fn keys_of(node: &Node) -> Vec<String> {
    match &node.value {
        Value::Map(e) => e.iter().filter_map(|(k, _)| k.str().ok()).collect(),
        _ => Vec::new(),
    }
}

/// Expands `$VAR`, `${VAR}` and `$$` as Prometheus does in external label values.
fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' || i + 1 >= b.len() {
            let ch = s[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let next = b[i + 1];
        if next == b'$' {
            out.push('$');
            i += 2;
        } else if next == b'{' {
            match s[i + 2..].find('}') {
                Some(end) => {
                    let name = &s[i + 2..i + 2 + end];
                    out.push_str(&env(name).unwrap_or_default());
                    i += end + 3;
                }
                None => {
                    // A bad `${` is dropped, like Go's os.Expand does.
                    i += 2;
                }
            }
        } else if next.is_ascii_alphanumeric() || next == b'_' {
            let end = s[i + 1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(s.len(), |e| i + 1 + e);
            out.push_str(&env(&s[i + 1..end]).unwrap_or_default());
            i = end;
        } else {
            out.push('$');
            i += 1;
        }
    }
    out
}

fn decode_global(
    node: Option<&Node>,
    env: &dyn Fn(&str) -> Option<String>,
) -> yaml::Result<GlobalConfig> {
    let mut g = GlobalConfig::default();
    let Some(node) = node else { return Ok(g) };
    let mut f = Fields::new(node, "config.plain")?;
    let interval = get_dur(&mut f, "scrape_interval")?;
    let timeout = get_dur(&mut f, "scrape_timeout")?;
    if let Some(d) = interval {
        g.scrape_interval = d;
    }
    if let Some(n) = f.get("scrape_protocols") {
        g.scrape_protocols = decode_protocols(n)?;
    }
    if let Some(d) = get_dur(&mut f, "evaluation_interval")? {
        g.evaluation_interval = d;
    }
    if let Some(d) = get_dur(&mut f, "rule_query_offset")? {
        g.rule_query_offset = d;
    }
    if let Some(n) = f.get("external_labels") {
        let labels = n.string_map()?;
        validate_labels(&labels, n.line)?;
        g.external_labels = labels
            .into_iter()
            .map(|(k, v)| (k, expand_env(&v, env)))
            .collect();
        g.external_labels.sort();
    }
    g.query_log_file = get_str(&mut f, "query_log_file")?.unwrap_or_default();
    g.scrape_failure_log_file = get_str(&mut f, "scrape_failure_log_file")?.unwrap_or_default();
    g.limits = decode_limits(&mut f, &ScrapeLimits::default())?;
    if let Some(s) = get_str(&mut f, "metric_name_validation_scheme")? {
        g.metric_name_validation_scheme = validation_scheme(&s, node.line)?;
    }
    let escaping = get_str(&mut f, "metric_name_escaping_scheme")?;
    g.metric_name_escaping_scheme =
        escaping_scheme(escaping, &g.metric_name_validation_scheme, node.line)?;
    g.scrape_native_histograms = get_bool(&mut f, "scrape_native_histograms", false)?;
    g.always_scrape_classic_histograms =
        get_bool(&mut f, "always_scrape_classic_histograms", false)?;
    g.convert_classic_histograms_to_nhcb =
        get_bool(&mut f, "convert_classic_histograms_to_nhcb", false)?;
    g.extra_scrape_metrics = get_bool(&mut f, "extra_scrape_metrics", false)?;
    let protocols_given = f.has("scrape_protocols");
    f.finish()?;
    if g.scrape_native_histograms && !protocols_given {
        g.scrape_protocols = PROTO_FIRST_SCRAPE_PROTOCOLS.to_vec();
    }
    match timeout {
        Some(t) => {
            if t > g.scrape_interval {
                return Err(cerr(
                    node.line,
                    "global scrape timeout greater than scrape interval",
                ));
            }
            g.scrape_timeout = t;
        }
        None => {
            if g.scrape_timeout > g.scrape_interval {
                g.scrape_timeout = g.scrape_interval;
            }
        }
    }
    Ok(g)
}

fn validation_scheme(s: &str, line: usize) -> yaml::Result<String> {
    match s {
        "" | "utf8" => Ok("utf8".to_owned()),
        "legacy" => Ok("legacy".to_owned()),
        _ => Err(cerr(line, format!("unrecognized ValidationScheme: {s:?}"))),
    }
}

fn escaping_scheme(s: Option<String>, validation: &str, line: usize) -> yaml::Result<String> {
    match s.as_deref() {
        None | Some("") => Ok(if validation == "legacy" {
            "underscores".to_owned()
        } else {
            "allow-utf-8".to_owned()
        }),
        Some("allow-utf-8") => {
            if validation == "legacy" {
                return Err(cerr(
                    line,
                    "utf8 metric names requested but validation scheme is not set to UTF8",
                ));
            }
            Ok("allow-utf-8".to_owned())
        }
        Some(v @ ("underscores" | "dots" | "values")) => Ok(v.to_owned()),
        Some(v) => Err(cerr(
            line,
            format!("unrecognized metric name escaping scheme {v:?}"),
        )),
    }
}

fn decode_protocols(n: &Node) -> yaml::Result<Vec<ScrapeProtocol>> {
    let mut out = Vec::new();
    for item in n.seq("config.ScrapeProtocol")? {
        let s = item.str()?;
        out.push(
            parse_protocol(&s).map_err(|e| cerr(item.line, format!("scrape_protocols: {e}")))?,
        );
    }
    Ok(out)
}

fn decode_limits(f: &mut Fields<'_>, base: &ScrapeLimits) -> yaml::Result<ScrapeLimits> {
    Ok(ScrapeLimits {
        body_size_limit: f
            .get("body_size_limit")
            .map(size_of)
            .transpose()?
            .unwrap_or(base.body_size_limit),
        sample_limit: get_u64(f, "sample_limit")?.unwrap_or(base.sample_limit),
        target_limit: get_u64(f, "target_limit")?.unwrap_or(base.target_limit),
        label_limit: get_u64(f, "label_limit")?.unwrap_or(base.label_limit),
        label_name_length_limit: get_u64(f, "label_name_length_limit")?
            .unwrap_or(base.label_name_length_limit),
        label_value_length_limit: get_u64(f, "label_value_length_limit")?
            .unwrap_or(base.label_value_length_limit),
        keep_dropped_targets: get_u64(f, "keep_dropped_targets")?
            .unwrap_or(base.keep_dropped_targets),
    })
}

fn decode_scrape_config(node: &Node, g: &GlobalConfig, base: &Path) -> yaml::Result<ScrapeConfig> {
    if node.is_null() {
        return Err(cerr(node.line, "empty or null scrape config section"));
    }
    let keys = keys_of(node);
    let mut f = Fields::new(node, "config.plain")?;
    let job_name = get_str(&mut f, "job_name")?.unwrap_or_default();
    let interval = get_dur(&mut f, "scrape_interval")?.unwrap_or(g.scrape_interval);
    let timeout = get_dur(&mut f, "scrape_timeout")?;
    let native = get_bool(
        &mut f,
        "scrape_native_histograms",
        g.scrape_native_histograms,
    )?;
    let protocols = match f.get("scrape_protocols") {
        Some(n) => {
            let p = decode_protocols(n).map_err(|e| {
                cerr(
                    e.line,
                    format!("{} for scrape config with job name {job_name:?}", e.msg),
                )
            })?;
            let mut seen = Vec::new();
            for x in &p {
                if seen.contains(x) {
                    let names: Vec<&str> = p.iter().map(|p| p.as_str()).collect();
                    return Err(cerr(
                        n.line,
                        format!(
                            "duplicated protocol in scrape_protocols, got [{}] for scrape config with job name {job_name:?}",
                            names.join(" ")
                        ),
                    ));
                }
                seen.push(*x);
            }
            p
        }
        None if native && !global_sets_protocols(g) => PROTO_FIRST_SCRAPE_PROTOCOLS.to_vec(),
        None => g.scrape_protocols.clone(),
    };
    let fallback = match f.get("fallback_scrape_protocol") {
        Some(n) => {
            let s = n.str()?;
            Some(parse_protocol(&s).map_err(|e| {
                cerr(
                    n.line,
                    format!("invalid fallback_scrape_protocol for scrape config with job name {job_name:?}: {e}"),
                )
            })?)
        }
        None => None,
    };
    let validation = match get_str(&mut f, "metric_name_validation_scheme")? {
        Some(s) => validation_scheme(&s, node.line)?,
        None => g.metric_name_validation_scheme.clone(),
    };
    let escaping_given = get_str(&mut f, "metric_name_escaping_scheme")?;
    let escaping = match escaping_given {
        Some(s) => escaping_scheme(Some(s), &validation, node.line)?,
        None if keys.iter().any(|k| k == "metric_name_validation_scheme") => {
            escaping_scheme(None, &validation, node.line)?
        }
        None => {
            if validation == "legacy" && g.metric_name_escaping_scheme == "allow-utf-8" {
                "underscores".to_owned()
            } else {
                g.metric_name_escaping_scheme.clone()
            }
        }
    };
    let mut params = Vec::new();
    if let Some(n) = f.get("params") {
        let mut pf = Fields::new(n, "url.Values")?;
        for k in keys_of(n) {
            let v = pf
                .get(&k)
                .map(Node::strings)
                .transpose()?
                .unwrap_or_default();
            params.push((k, v));
        }
        pf.finish()?;
    }
    let mut c = ScrapeConfig {
        honor_labels: get_bool(&mut f, "honor_labels", false)?,
        honor_timestamps: get_bool(&mut f, "honor_timestamps", true)?,
        track_timestamps_staleness: get_bool(&mut f, "track_timestamps_staleness", false)?,
        scrape_interval: interval,
        scrape_timeout: Duration(0),
        scrape_protocols: protocols,
        fallback_scrape_protocol: fallback,
        scrape_failure_log_file: get_str(&mut f, "scrape_failure_log_file")?
            .unwrap_or_else(|| g.scrape_failure_log_file.clone()),
        metrics_path: get_str(&mut f, "metrics_path")?.unwrap_or_else(|| "/metrics".to_owned()),
        scheme: get_str(&mut f, "scheme")?.unwrap_or_else(|| "http".to_owned()),
        params,
        enable_compression: get_bool(&mut f, "enable_compression", true)?,
        limits: decode_limits(&mut f, &g.limits)?,
        native_histogram_bucket_limit: get_u64(&mut f, "native_histogram_bucket_limit")?
            .unwrap_or(0),
        native_histogram_min_bucket_factor: f
            .get("native_histogram_min_bucket_factor")
            .map(Node::f64)
            .transpose()?
            .unwrap_or(0.0),
        metric_name_validation_scheme: validation,
        metric_name_escaping_scheme: escaping,
        scrape_native_histograms: native,
        always_scrape_classic_histograms: get_bool(
            &mut f,
            "always_scrape_classic_histograms",
            g.always_scrape_classic_histograms,
        )?,
        convert_classic_histograms_to_nhcb: get_bool(
            &mut f,
            "convert_classic_histograms_to_nhcb",
            g.convert_classic_histograms_to_nhcb,
        )?,
        extra_scrape_metrics: get_bool(&mut f, "extra_scrape_metrics", g.extra_scrape_metrics)?,
        http: HttpClientConfig::default(),
        service_discovery: Vec::new(),
        relabel_configs: relabel::decode_relabels(
            f.get("relabel_configs"),
            "target relabeling rule",
        )?,
        metric_relabel_configs: relabel::decode_relabels(
            f.get("metric_relabel_configs"),
            "metric relabeling rule",
        )?,
        job_name,
    };
    c.http = http::decode_http_client(&mut f, node.line)?;
    c.http.set_directory(base);
    c.service_discovery = sd::decode_sd_sections(&mut f, &keys, c.relabel_configs.is_empty())?;
    for s in &mut c.service_discovery {
        s.set_directory(base);
    }
    if !c.scrape_failure_log_file.is_empty() {
        c.scrape_failure_log_file = resolve(base, &c.scrape_failure_log_file);
    }
    f.finish()?;
    if c.job_name.is_empty() {
        return Err(cerr(node.line, "job_name is empty"));
    }
    if c.scheme != "http" && c.scheme != "https" {
        return Err(cerr(
            node.line,
            format!(
                "invalid scheme {:?} for scrape config with job name {:?}",
                c.scheme, c.job_name
            ),
        ));
    }
    c.scrape_timeout = match timeout {
        Some(t) => t,
        None => g.scrape_timeout.min(c.scrape_interval),
    };
    if c.scrape_timeout > c.scrape_interval {
        return Err(cerr(
            node.line,
            format!(
                "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                c.job_name
            ),
        ));
    }
    Ok(c)
}

fn global_sets_protocols(g: &GlobalConfig) -> bool {
    g.scrape_protocols != DEFAULT_SCRAPE_PROTOCOLS.to_vec()
        && g.scrape_protocols != PROTO_FIRST_SCRAPE_PROTOCOLS.to_vec()
}

fn check_reserved_header(name: &str, line: usize) -> yaml::Result<()> {
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "x-prometheus-remote-write-version"
            | "x-prometheus-remote-read-version"
            | "content-encoding"
            | "content-type"
            | "user-agent"
            | "host"
    ) || lower.starts_with("x-prometheus-remote-write-")
    {
        return Err(cerr(
            line,
            format!("{lower} is a reserved header. It must not be changed"),
        ));
    }
    if lower == "authorization" {
        return Err(cerr(
            line,
            "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
        ));
    }
    Ok(())
}

fn decode_remote_write(node: &Node) -> yaml::Result<RemoteWriteConfig> {
    if node.is_null() {
        return Err(cerr(node.line, "empty or null remote write config section"));
    }
    let mut f = Fields::new(node, "config.plain")?;
    let url = get_str(&mut f, "url")?.unwrap_or_default();
    let headers = f
        .get("headers")
        .map(Node::string_map)
        .transpose()?
        .unwrap_or_default();
    let mut queue = QueueConfig::default();
    if let Some(q) = f.get("queue_config") {
        let mut qf = Fields::new(q, "config.QueueConfig")?;
        let int = |qf: &mut Fields<'_>, k: &str, d: i64| -> yaml::Result<i64> {
            Ok(qf.get(k).map(Node::i64).transpose()?.unwrap_or(d))
        };
        queue.capacity = int(&mut qf, "capacity", queue.capacity)?;
        queue.max_shards = int(&mut qf, "max_shards", queue.max_shards)?;
        queue.min_shards = int(&mut qf, "min_shards", queue.min_shards)?;
        queue.max_samples_per_send =
            int(&mut qf, "max_samples_per_send", queue.max_samples_per_send)?;
        queue.batch_send_deadline =
            get_dur(&mut qf, "batch_send_deadline")?.unwrap_or(queue.batch_send_deadline);
        queue.min_backoff = get_dur(&mut qf, "min_backoff")?.unwrap_or(queue.min_backoff);
        queue.max_backoff = get_dur(&mut qf, "max_backoff")?.unwrap_or(queue.max_backoff);
        queue.retry_on_http_429 = get_bool(&mut qf, "retry_on_http_429", false)?;
        queue.sample_age_limit = get_dur(&mut qf, "sample_age_limit")?.unwrap_or_default();
        qf.finish()?;
        let l = q.line;
        if queue.max_samples_per_send <= 0 {
            return Err(cerr(
                l,
                "remote write queue max_samples_per_send must be positive",
            ));
        }
        if queue.max_shards <= 0 {
            return Err(cerr(l, "remote write queue max_shards must be positive"));
        }
        if queue.min_shards <= 0 {
            return Err(cerr(l, "remote write queue min_shards must be positive"));
        }
        if queue.capacity <= 0 {
            return Err(cerr(l, "remote write queue capacity must be positive"));
        }
        if queue.min_shards > queue.max_shards {
            return Err(cerr(
                l,
                "remote write queue min_shards must not be greater than max_shards",
            ));
        }
        if queue.max_backoff < queue.min_backoff {
            return Err(cerr(
                l,
                "remote write queue max_backoff must not be less than min_backoff",
            ));
        }
    }
    if let Some(m) = f.get("metadata_config") {
        let mut mf = Fields::new(m, "config.MetadataConfig")?;
        let _ = get_bool(&mut mf, "send", true)?;
        let _ = get_dur(&mut mf, "send_interval")?;
        let _ = mf.get("max_samples_per_send").map(Node::i64).transpose()?;
        mf.finish()?;
    }
    for k in ["sigv4", "azuread", "google_iam", "round_robin_dns"] {
        if f.has(k) {
            f.get_raw(k);
        }
    }
    let protobuf_message = get_str(&mut f, "protobuf_message")?
        .unwrap_or_else(|| "prometheus.WriteRequest".to_owned());
    let c = RemoteWriteConfig {
        name: get_str(&mut f, "name")?.unwrap_or_default(),
        remote_timeout: get_dur(&mut f, "remote_timeout")?.unwrap_or(Duration::from_secs(30)),
        write_relabel_configs: relabel::decode_relabels(
            f.get("write_relabel_configs"),
            "relabeling rule in remote write config",
        )?,
        send_exemplars: get_bool(&mut f, "send_exemplars", false)?,
        send_native_histograms: get_bool(&mut f, "send_native_histograms", false)?,
        http: http::decode_http_client(&mut f, node.line)?,
        protobuf_message,
        queue,
        headers,
        url,
    };
    f.finish()?;
    if c.url.is_empty() {
        return Err(cerr(node.line, "url for remote_write is empty"));
    }
    parse_url(&c.url, node.line)?;
    for (h, _) in &c.headers {
        check_reserved_header(h, node.line)?;
    }
    if c.protobuf_message != "prometheus.WriteRequest"
        && c.protobuf_message != "io.prometheus.write.v2.Request"
    {
        return Err(cerr(
            node.line,
            format!(
                "invalid protobuf_message value: unknown type for remote write protobuf message {}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request",
                c.protobuf_message
            ),
        ));
    }
    Ok(c)
}

fn decode_remote_read(node: &Node) -> yaml::Result<RemoteReadConfig> {
    if node.is_null() {
        return Err(cerr(node.line, "empty or null remote read config section"));
    }
    let mut f = Fields::new(node, "config.plain")?;
    let c = RemoteReadConfig {
        url: get_str(&mut f, "url")?.unwrap_or_default(),
        name: get_str(&mut f, "name")?.unwrap_or_default(),
        remote_timeout: get_dur(&mut f, "remote_timeout")?.unwrap_or(Duration::from_secs(60)),
        headers: f
            .get("headers")
            .map(Node::string_map)
            .transpose()?
            .unwrap_or_default(),
        read_recent: get_bool(&mut f, "read_recent", false)?,
        required_matchers: f
            .get("required_matchers")
            .map(Node::string_map)
            .transpose()?
            .unwrap_or_default(),
        filter_external_labels: get_bool(&mut f, "filter_external_labels", true)?,
        http: http::decode_http_client(&mut f, node.line)?,
    };
    f.finish()?;
    if c.url.is_empty() {
        return Err(cerr(node.line, "url for remote_read is empty"));
    }
    parse_url(&c.url, node.line)?;
    for (h, _) in &c.headers {
        check_reserved_header(h, node.line)?;
    }
    Ok(c)
}

fn decode_alerting(node: Option<&Node>) -> yaml::Result<AlertingConfig> {
    let mut a = AlertingConfig::default();
    let Some(node) = node else { return Ok(a) };
    let mut f = Fields::new(node, "config.AlertingConfig")?;
    a.alert_relabel_configs =
        relabel::decode_relabels(f.get("alert_relabel_configs"), "alert relabeling rule")?;
    if let Some(list) = f.get("alertmanagers") {
        for n in list.seq("*config.AlertmanagerConfig")? {
            let keys = keys_of(n);
            let mut af = Fields::new(n, "config.plain")?;
            let api_version = get_str(&mut af, "api_version")?.unwrap_or_else(|| "v2".to_owned());
            let relabel_configs = relabel::decode_relabels(
                af.get("relabel_configs"),
                "Alertmanager target relabeling rule",
            )?;
            let check = relabel_configs.is_empty();
            let am = AlertmanagerConfig {
                scheme: get_str(&mut af, "scheme")?.unwrap_or_else(|| "http".to_owned()),
                path_prefix: get_str(&mut af, "path_prefix")?.unwrap_or_default(),
                timeout: get_dur(&mut af, "timeout")?.unwrap_or(Duration::from_secs(10)),
                relabel_configs,
                alert_relabel_configs: relabel::decode_relabels(
                    af.get("alert_relabel_configs"),
                    "alert relabeling rule",
                )?,
                http: http::decode_http_client(&mut af, n.line)?,
                service_discovery: sd::decode_sd_sections(&mut af, &keys, check)?,
                api_version,
            };
            for k in ["sigv4"] {
                if af.has(k) {
                    af.get_raw(k);
                }
            }
            af.finish()?;
            if am.api_version != "v2" {
                return Err(cerr(
                    n.line,
                    format!(
                        "expected Alertmanager api version to be one of [v2] but got {}",
                        am.api_version
                    ),
                ));
            }
            a.alertmanagers.push(am);
        }
    }
    f.finish()?;
    Ok(a)
}

fn decode_storage(node: Option<&Node>) -> yaml::Result<StorageConfig> {
    let mut s = StorageConfig::default();
    let Some(node) = node else { return Ok(s) };
    let mut f = Fields::new(node, "config.StorageConfig")?;
    if let Some(t) = f.get("tsdb") {
        let mut tf = Fields::new(t, "config.TSDBConfig")?;
        s.out_of_order_time_window =
            get_dur(&mut tf, "out_of_order_time_window")?.unwrap_or_default();
        if let Some(x) = tf.get("stale_series_compaction_threshold") {
            x.f64()?;
        }
        if let Some(r) = tf.get("retention") {
            let mut rf = Fields::new(r, "config.TSDBRetentionConfig")?;
            if let Some(n) = rf.get("time") {
                let v = n.str()?;
                s.retention_time = Some(
                    v.parse()
                        .map_err(|e: units::DurationError| cerr(n.line, e.to_string()))?,
                );
            }
            if let Some(n) = rf.get("size") {
                let v = n.str()?;
                if v.starts_with('-') {
                    return Err(cerr(
                        n.line,
                        "'storage.tsdb.retention.size' must be greater than or equal to 0",
                    ));
                }
                s.retention_size = Some(size_of(n)?);
            }
            if let Some(n) = rf.get("percentage") {
                let p = n.f64()?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(cerr(
                        n.line,
                        "'storage.tsdb.retention.percentage' must be in the range [0, 100]",
                    ));
                }
                s.retention_percentage = Some(p);
            }
            rf.finish()?;
        }
        if let Some(c) = tf.get("chunk_encoding") {
            let mut cf = Fields::new(c, "config.TSDBChunkEncodingConfig")?;
            if let Some(n) = cf.get("floats") {
                let v = n.str()?;
                if v != "xor" && v != "xor2" {
                    return Err(cerr(
                        n.line,
                        format!(
                            "'storage.tsdb.chunk_encoding.floats' must be 'xor' or 'xor2', or the field must be omitted entirely, got {v:?}"
                        ),
                    ));
                }
                s.chunk_encoding_floats = v;
            }
            cf.finish()?;
        }
        tf.finish()?;
    }
    if let Some(e) = f.get("exemplars") {
        let mut ef = Fields::new(e, "config.ExemplarsConfig")?;
        s.max_exemplars = ef
            .get("max_exemplars")
            .map(Node::i64)
            .transpose()?
            .unwrap_or(0);
        ef.finish()?;
    }
    f.finish()?;
    Ok(s)
}

fn validate_otlp(node: Option<&Node>, validation: &str) -> yaml::Result<()> {
    let Some(node) = node else { return Ok(()) };
    let mut f = Fields::new(node, "config.OTLPConfig")?;
    let attrs = |f: &mut Fields<'_>, key: &str, what: &str| -> yaml::Result<Option<Vec<String>>> {
        let Some(n) = f.get(key) else { return Ok(None) };
        let list = n.strings()?;
        let mut errs = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for a in &list {
            let t = a.trim().to_owned();
            if t.is_empty() {
                errs.push(format!("empty {what} OTel resource attribute"));
                continue;
            }
            if seen.contains(&t) {
                errs.push(format!("duplicated {what} OTel resource attribute {t:?}"));
                continue;
            }
            seen.push(t);
        }
        if !errs.is_empty() {
            return Err(cerr(
                n.line,
                format!("invalid '{key}': {}", errs.join("; ")),
            ));
        }
        Ok(Some(list))
    };
    let promote_all = get_bool(&mut f, "promote_all_resource_attributes", false)?;
    if promote_all && f.has("promote_resource_attributes") {
        return Err(cerr(
            node.line,
            "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
        ));
    }
    let promote = attrs(&mut f, "promote_resource_attributes", "promoted")?;
    let ignore = attrs(&mut f, "ignore_resource_attributes", "ignored")?;
    let strategy = get_str(&mut f, "translation_strategy")?;
    for k in [
        "keep_identifying_resource_attributes",
        "convert_histograms_to_nhcb",
        "promote_scope_metadata",
        "label_name_underscore_sanitization",
        "label_name_preserve_multiple_underscores",
    ] {
        get_bool(&mut f, k, false)?;
    }
    f.finish()?;
    if promote_all && promote.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(cerr(
            node.line,
            "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
        ));
    }
    if ignore.as_ref().is_some_and(|i| !i.is_empty()) && !promote_all {
        return Err(cerr(
            node.line,
            "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
        ));
    }
    if let Some(s) = strategy {
        match s.as_str() {
            "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => {}
            "NoUTF8EscapingWithSuffixes" | "NoTranslation" => {
                if validation == "legacy" {
                    return Err(cerr(
                        node.line,
                        format!(
                            "OTLP translation strategy {s:?} is not allowed when UTF8 is disabled"
                        ),
                    ));
                }
            }
            _ => {
                return Err(cerr(
                    node.line,
                    format!("unsupported OTLP translation strategy {s:?}"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_tracing(node: Option<&Node>) -> yaml::Result<()> {
    let Some(node) = node else { return Ok(()) };
    let mut f = Fields::new(node, "config.TracingConfig")?;
    let endpoint = get_str(&mut f, "endpoint")?.unwrap_or_default();
    let _ = get_str(&mut f, "client_type")?;
    let _ = f.get("sampling_fraction").map(Node::f64).transpose()?;
    let _ = get_bool(&mut f, "insecure", false)?;
    let headers = f
        .get("headers")
        .map(Node::string_map)
        .transpose()?
        .unwrap_or_default();
    let compression = get_str(&mut f, "compression")?.unwrap_or_default();
    let _ = get_dur(&mut f, "timeout")?;
    if let Some(t) = f.get("tls_config") {
        http::decode_tls(t)?;
    }
    f.finish()?;
    if endpoint.is_empty() {
        return Err(cerr(node.line, "tracing endpoint must be set"));
    }
    for (h, _) in &headers {
        if h.eq_ignore_ascii_case("authorization") {
            return Err(cerr(
                node.line,
                "authorization header configuration is not yet supported",
            ));
        }
        check_reserved_header(h, node.line)?;
    }
    if !compression.is_empty() && compression != "gzip" {
        return Err(cerr(
            node.line,
            format!("invalid compression type {compression} provided, valid options: gzip"),
        ));
    }
    Ok(())
}

/// Checks a file path or glob from `rule_files`/`scrape_config_files`: a `*` may appear in
/// the last path element only.
fn valid_glob_path(p: &str) -> bool {
    let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
    !dir.contains(['*', '?', '['])
}

fn resolve(base: &Path, p: &str) -> String {
    if p.is_empty() || Path::new(p).is_absolute() {
        p.to_owned()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

/// Expands a glob whose wildcards are in the last element, sorted.
pub fn glob_files(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d.to_path_buf(), n.to_string_lossy().into_owned()),
        _ => return Vec::new(),
    };
    if !name.contains(['*', '?', '[']) {
        return if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Shell-style matching of one path element: `*`, `?` and `[...]` classes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

impl Config {
    /// Loads and validates a configuration file (paths in it are relative to its directory).
    pub fn load_file(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            line: 0,
            path: None,
            msg: e.to_string(),
            unmarshal: false,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Config::load_str(&text, base, opts, &|k| std::env::var(k).ok()).map_err(|mut e| {
            if e.file.is_none() {
                e.file = Some(path.to_path_buf());
            }
            e
        })
    }

    /// Decodes and validates configuration text; `base` resolves relative paths, `env` looks
    /// up variables for external labels.
    pub fn load_str(
        text: &str,
        base: &Path,
        opts: LoadOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let root = yaml::parse(text)?;
        Config::decode(&root, text, base, opts, env).map_err(|mut e| {
            if e.path.is_none() && e.file.is_none() && e.line > 0 {
                e.path = yaml::path_at(&root, e.line, e.unmarshal);
            }
            e
        })
    }

    fn decode(
        root: &Node,
        text: &str,
        base: &Path,
        opts: LoadOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut f = Fields::new(root, "config.plain")?;
        if opts.agent {
            for k in ["alerting", "rule_files", "remote_read"] {
                if let Some(l) = f.line_of(k) {
                    return Err(ConfigError::from(cerr(
                        l,
                        format!("field {k} is not allowed in agent mode"),
                    )));
                }
            }
        }
        let global = decode_global(f.get("global"), env)?;
        let mut cfg = Config {
            original: text.to_owned(),
            ..Config::default()
        };
        if let Some(n) = f.get("rule_files") {
            for item in n.seq("string")? {
                let p = item.str()?;
                if !valid_glob_path(&p) {
                    return Err(cerr(item.line, format!("invalid rule file path {p:?}")).into());
                }
                cfg.rule_files.push(resolve(base, &p));
            }
        }
        if let Some(n) = f.get("scrape_config_files") {
            for item in n.seq("string")? {
                let p = item.str()?;
                if !valid_glob_path(&p) {
                    return Err(
                        cerr(item.line, format!("invalid scrape config file path {p:?}")).into(),
                    );
                }
                cfg.scrape_config_files.push(resolve(base, &p));
            }
        }
        if let Some(n) = f.get("scrape_configs") {
            for item in n.seq("*config.ScrapeConfig")? {
                cfg.scrape_configs
                    .push(decode_scrape_config(item, &global, base)?);
            }
        }
        cfg.alerting = decode_alerting(f.get("alerting"))?;
        for am in &mut cfg.alerting.alertmanagers {
            am.http.set_directory(base);
            for s in &mut am.service_discovery {
                s.set_directory(base);
            }
        }
        if let Some(n) = f.get("remote_write") {
            for item in n.seq("*config.RemoteWriteConfig")? {
                cfg.remote_write.push(decode_remote_write(item)?);
            }
        }
        if let Some(n) = f.get("remote_read") {
            for item in n.seq("*config.RemoteReadConfig")? {
                cfg.remote_read.push(decode_remote_read(item)?);
            }
        }
        cfg.storage = decode_storage(f.get("storage"))?;
        validate_otlp(f.get("otlp"), &global.metric_name_validation_scheme)?;
        validate_tracing(f.get("tracing"))?;
        if let Some(n) = f.get("runtime") {
            let mut rf = Fields::new(n, "config.RuntimeConfig")?;
            let _ = rf.get("gogc").map(Node::i64).transpose()?;
            rf.finish()?;
        }
        f.finish()?;
        // Jobs from scrape_config_files.
        for pattern in cfg.scrape_config_files.clone() {
            for file in glob_files(&pattern) {
                let jobs = load_scrape_config_file(&file, &global)?;
                cfg.scrape_configs.extend(jobs);
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for j in &cfg.scrape_configs {
            if seen.contains(&j.job_name.as_str()) {
                return Err(ConfigError::from(cerr(
                    0,
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        j.job_name
                    ),
                )));
            }
            seen.push(&j.job_name);
        }
        for (list, what) in [
            (
                cfg.remote_write
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
                "remote write",
            ),
            (
                cfg.remote_read.iter().map(|r| r.name.as_str()).collect(),
                "remote read",
            ),
        ] {
            let mut seen: Vec<&str> = Vec::new();
            for name in list.into_iter().filter(|n| !n.is_empty()) {
                if seen.contains(&name) {
                    return Err(ConfigError::from(cerr(
                        0,
                        format!("found multiple {what} configs with job name {name:?}"),
                    )));
                }
                seen.push(name);
            }
        }
        cfg.global = global;
        Ok(cfg)
    }

    /// The job named `name`.
    pub fn job(&self, name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|j| j.job_name == name)
    }
}

/// Loads the jobs of one `scrape_config_files` file (only `scrape_configs` is allowed).
fn load_scrape_config_file(
    path: &Path,
    g: &GlobalConfig,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let with_file = |e: ConfigError| ConfigError {
        file: Some(path.to_path_buf()),
        ..e
    };
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: 0,
        path: None,
        msg: e.to_string(),
        unmarshal: false,
    })?;
    let root = yaml::parse(&text).map_err(|e| with_file(e.into()))?;
    let attach = |e: yaml::Error| {
        let mut c = with_file(e.into());
        c.path = yaml::path_at(&root, c.line, c.unmarshal);
        c
    };
    let mut f = Fields::new(&root, "config.ScrapeConfigs").map_err(attach)?;
    let mut out = Vec::new();
    if let Some(n) = f.get("scrape_configs") {
        for item in n.seq("*config.ScrapeConfig").map_err(attach)? {
            out.push(
                decode_scrape_config(item, g, path.parent().unwrap_or(Path::new("")))
                    .map_err(attach)?,
            );
        }
    }
    f.finish().map_err(attach)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_matches_prometheus() {
        let env = |k: &str| (k == "TEST").then(|| "TestValue".to_owned());
        let none = |_: &str| None;
        assert_eq!(expand_env("foo${TEST}bar", &env), "fooTestValuebar");
        assert_eq!(expand_env("foo${TEST}bar", &none), "foobar");
        assert_eq!(expand_env("foo$${TEST}", &env), "foo${TEST}");
        assert_eq!(expand_env("foo$$bar", &env), "foo$bar");
        assert_eq!(expand_env("$TEST", &env), "TestValue");
    }

    #[test]
    fn globs_match_last_element() {
        assert!(glob_match("*.yml", "a.yml"));
        assert!(!glob_match("*.yml", "a.yaml"));
        assert!(glob_match("f[a-c]?.json", "fbx.json"));
        assert!(valid_glob_path("my/*.rules"));
        assert!(!valid_glob_path("my/*/rule"));
    }

    #[test]
    fn defaults_flow_from_global_into_jobs() {
        let text = "global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 1m\n    scrape_timeout: 30s\n";
        let c =
            Config::load_str(text, Path::new("/etc"), LoadOptions::default(), &|_| None).unwrap();
        let a = c.job("a").unwrap();
        assert_eq!(a.scrape_interval, Duration::from_secs(5));
        assert_eq!(
            a.scrape_timeout,
            Duration::from_secs(5),
            "clamped to the interval"
        );
        assert_eq!(a.metrics_path, "/metrics");
        assert!(a.honor_timestamps);
        let b = c.job("b").unwrap();
        assert_eq!(b.scrape_timeout, Duration::from_secs(30));
        assert_eq!(c.global.scrape_protocols, DEFAULT_SCRAPE_PROTOCOLS.to_vec());
    }

    #[test]
    fn unknown_fields_are_reported_with_their_line() {
        let text = "scrape_configs:\n  - job_name: a\n    consult_sd_configs: []\n";
        let e =
            Config::load_str(text, Path::new(""), LoadOptions::default(), &|_| None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string()
                .contains("field consult_sd_configs not found in type config.plain"),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with(" (at scrape_configs[0].consult_sd_configs)"),
            "{e}"
        );
        let text = "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n";
        let e =
            Config::load_str(text, Path::new(""), LoadOptions::default(), &|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "relabel configuration for hashmod requires non-zero modulus (line 4, scrape_configs[0].relabel_configs[0])"
        );
    }
}
