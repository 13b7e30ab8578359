//! `prom serve`: the monitoring server. Discovery → scrape → prom-tsdb → PromQL → the
//! Prometheus HTTP API, in one process, started with Prometheus's flag spellings.
//!
//! Startup order matters to the people watching it:
//! 1. the web configuration (`--web.config.file`) is checked, then the listener binds, so
//!    `/-/healthy` answers at once and `/-/ready` says 503 while the WAL replays;
//! 2. the configuration is loaded (a bad one stops the start with the file, line and reason);
//! 3. the database opens (WAL replay) on a blocking thread;
//! 4. scraping starts and the server reports ready.
//!
//! SIGHUP and `POST /-/reload` (with `--web.enable-lifecycle`) reload the configuration; a bad
//! new one is rejected and the running one kept. SIGINT and SIGTERM stop scraping, let the
//! HTTP server finish its requests, and close the database (the WAL is already written per
//! commit; closing stops compaction cleanly).
//!
//! Without `--config.file` the embedded default ([`DEFAULT_CONFIG`]) scrapes the server itself.

mod api;
mod app;
mod ast_json;
pub mod build_info;
mod federate;
mod log;
pub mod params;
mod rules;
mod selfmetrics;
pub mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use prom_scrape::config::{ByteSize, Config, LoadOptions};
use prom_scrape::manager::{ManagerOptions, ScrapeManager};
use prom_tsdb::{Db, Options, SyncPolicy};

pub use app::App;

/// The embedded default configuration; `{{SELF}}` becomes the address the server listens on.
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time=... level=info msg="..." key=value`, as Prometheus's default.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The least severe log level written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Normal operation.
    Info,
    /// Problems that do not stop the server.
    Warn,
    /// Only failures.
    Error,
}

/// Arguments of `prom serve`, spelled as Prometheus's flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The configuration file (prometheus.yml). Without it, the embedded default scrapes prom
    /// itself.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Where the database lives.
    #[arg(
        long = "storage.tsdb.path",
        value_name = "DIR",
        default_value = "data/"
    )]
    pub tsdb_path: PathBuf,
    /// How long to keep samples (`15d`, `1y`). Default 15d, unless a size limit is set.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    pub retention_time: Option<String>,
    /// The most bytes the blocks may take (`512MB`, `10GB`); 0 means no limit.
    #[arg(long = "storage.tsdb.retention.size", value_name = "SIZE")]
    pub retention_size: Option<String>,
    /// Address to listen on for the UI, API and telemetry (port 0: any free port).
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = "0.0.0.0:9090"
    )]
    pub listen_address: String,
    /// A web configuration file enabling TLS or authentication (Prometheus's web-config
    /// format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Enable shutdown and reload over HTTP (`/-/quit`, `/-/reload`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Enable the admin endpoints (`/api/v1/admin/tsdb/...`).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,
    /// The URL under which prom is reachable from outside (for generated links).
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,
    /// The origins allowed to call the API from a browser (CORS), a regular expression matched
    /// against the whole `Origin` header.
    #[arg(long = "web.cors.origin", value_name = "REGEX", default_value = ".*")]
    pub cors_origin: String,
    /// The longest a query may run.
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m")]
    pub query_timeout: String,
    /// The most samples one query may hold in memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub query_max_samples: usize,
    /// The most queries that run at once; more wait their turn.
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    pub query_max_concurrency: usize,
    /// How far back an instant selector looks for a sample.
    #[arg(
        long = "query.lookback-delta",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub query_lookback_delta: String,
    /// How far back the `for` state of alerts is restored from after a restart.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        value_name = "DURATION",
        default_value = "1h"
    )]
    pub rules_outage_tolerance: String,
    /// The least time an alert waits before firing after its `for` state was restored.
    #[arg(
        long = "rules.alert.for-grace-period",
        value_name = "DURATION",
        default_value = "10m"
    )]
    pub rules_for_grace_period: String,
    /// How often a firing or resolved alert is sent to Alertmanager again.
    #[arg(
        long = "rules.alert.resend-delay",
        value_name = "DURATION",
        default_value = "1m"
    )]
    pub rules_resend_delay: String,
    /// The most alerts waiting to be sent; beyond it the oldest are dropped.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        value_name = "N",
        default_value_t = 10_000
    )]
    pub notification_queue_capacity: usize,
    /// The least severe log level written.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// How log lines are written.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
}

impl ServeArgs {
    /// The flags as `/api/v1/status/flags` reports them: name → value text.
    pub fn flag_map(&self) -> Vec<(&'static str, String)> {
        let opt = |p: &Option<String>| p.clone().unwrap_or_default();
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        vec![
            ("config.file", path(&self.config_file)),
            (
                "log.format",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
            (
                "alertmanager.notification-queue-capacity",
                self.notification_queue_capacity.to_string(),
            ),
            ("log.level", format!("{:?}", self.log_level).to_lowercase()),
            ("query.lookback-delta", self.query_lookback_delta.clone()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.max-samples", self.query_max_samples.to_string()),
            ("query.timeout", self.query_timeout.clone()),
            (
                "rules.alert.for-grace-period",
                self.rules_for_grace_period.clone(),
            ),
            (
                "rules.alert.for-outage-tolerance",
                self.rules_outage_tolerance.clone(),
            ),
            ("rules.alert.resend-delay", self.rules_resend_delay.clone()),
            ("storage.tsdb.path", self.tsdb_path.display().to_string()),
            ("storage.tsdb.retention.size", opt(&self.retention_size)),
            ("storage.tsdb.retention.time", opt(&self.retention_time)),
            ("web.config.file", path(&self.web_config_file)),
            ("web.cors.origin", self.cors_origin.clone()),
            ("web.enable-admin-api", self.enable_admin_api.to_string()),
            ("web.enable-lifecycle", self.enable_lifecycle.to_string()),
            ("web.external-url", opt(&self.external_url)),
            ("web.listen-address", self.listen_address.clone()),
        ]
    }
}

/// The flags turned into settings, each checked with an error naming the flag.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The query timeout.
    pub query_timeout: Duration,
    /// The lookback delta in milliseconds.
    pub lookback_ms: i64,
    /// Retention by time.
    pub retention_time: Option<Duration>,
    /// Retention by size in bytes.
    pub retention_size: Option<u64>,
    /// `--rules.alert.for-outage-tolerance` in milliseconds.
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` in milliseconds.
    pub for_grace_period_ms: i64,
    /// `--rules.alert.resend-delay` in milliseconds.
    pub resend_delay_ms: i64,
    /// `--web.cors.origin`, anchored; `None` when it matches every origin (`.*`), which
    /// answers `Access-Control-Allow-Origin: *` as Prometheus does.
    pub cors_origin: Option<regex::Regex>,
}

impl Settings {
    /// Checks the flags.
    pub fn from_args(args: &ServeArgs) -> Result<Settings, String> {
        let dur = |flag: &str, v: &str| -> Result<Duration, String> {
            v.parse::<prom_scrape::config::Duration>()
                .map(|d| d.to_std())
                .map_err(|e| format!("--{flag}={v}: {}", e.0))
        };
        let query_timeout = dur("query.timeout", &args.query_timeout)?;
        let lookback = dur("query.lookback-delta", &args.query_lookback_delta)?;
        if lookback.is_zero() {
            return Err("--query.lookback-delta must be positive".into());
        }
        let retention_size = match &args.retention_size {
            Some(v) => {
                let b = v
                    .parse::<ByteSize>()
                    .map_err(|e| format!("--storage.tsdb.retention.size={v}: {}", e.0))?;
                (b.0 > 0).then_some(b.0)
            }
            None => None,
        };
        let retention_time = match &args.retention_time {
            Some(v) => {
                let d = dur("storage.tsdb.retention.time", v)?;
                (!d.is_zero()).then_some(d)
            }
            // Prometheus's default: 15 days, unless only a size limit was given.
            None if retention_size.is_some() => None,
            None => Some(Duration::from_secs(15 * 24 * 3600)),
        };
        if args.query_max_concurrency == 0 {
            return Err("--query.max-concurrency must be at least 1".into());
        }
        if args.notification_queue_capacity == 0 {
            return Err("--alertmanager.notification-queue-capacity must be at least 1".into());
        }
        let ms = |flag: &str, v: &str| dur(flag, v).map(|d| d.as_millis() as i64);
        let cors_origin = match args.cors_origin.as_str() {
            ".*" => None,
            o => Some(
                regex::Regex::new(&format!("^(?:{o})$"))
                    .map_err(|e| format!("--web.cors.origin={o}: {e}"))?,
            ),
        };
        Ok(Settings {
            query_timeout,
            lookback_ms: lookback.as_millis() as i64,
            retention_time,
            retention_size,
            outage_tolerance_ms: ms(
                "rules.alert.for-outage-tolerance",
                &args.rules_outage_tolerance,
            )?,
            for_grace_period_ms: ms("rules.alert.for-grace-period", &args.rules_for_grace_period)?,
            resend_delay_ms: ms("rules.alert.resend-delay", &args.rules_resend_delay)?,
            cors_origin,
        })
    }
}

/// Loads the configuration `prom serve` runs: the file, or the embedded default scraping
/// `self_addr`.
pub fn load_config(file: Option<&Path>, self_addr: SocketAddr) -> Result<Config, String> {
    match file {
        Some(path) => Config::load_file(path, LoadOptions::default()).map_err(|e| e.to_string()),
        None => {
            let text = default_config_text(self_addr);
            Config::load_str(&text, Path::new(""), LoadOptions::default(), &|k| {
                std::env::var(k).ok()
            })
            .map_err(|e| format!("the embedded default configuration: {e}"))
        }
    }
}

/// The embedded default with the server's own address filled in (`localhost` for a wildcard
/// listen address).
pub fn default_config_text(self_addr: SocketAddr) -> String {
    let host = if self_addr.ip().is_unspecified() {
        "localhost".to_owned()
    } else if self_addr.is_ipv6() {
        format!("[{}]", self_addr.ip())
    } else {
        self_addr.ip().to_string()
    };
    DEFAULT_CONFIG.replace("{{SELF}}", &format!("{host}:{}", self_addr.port()))
}

/// Runs `prom serve` until a signal or `/-/quit` stops it; the process exit status.
pub fn run(args: ServeArgs) -> crate::Result<u8> {
    log::init(args.log_level, args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("prom-serve")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(err = %e, "cannot start the runtime");
            return Ok(1);
        }
    };
    Ok(match runtime.block_on(serve(args)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(err = %e, "prom serve stopped");
            1
        }
    })
}

/// The server's life: bind, load, open, scrape, serve, and shut down on a signal.
pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = Settings::from_args(&args)?;
    let web_config = match &args.web_config_file {
        Some(path) => {
            Some(web::WebConfig::load(path).map_err(|e| format!("error loading web config: {e}"))?)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen_address))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let config = load_config(args.config_file.as_deref(), addr)
        .map_err(|e| format!("error loading config: {e}"))?;
    let groups = rules::load_rule_groups(&config)?;
    tracing::info!(address = %addr, "listening");
    let app = Arc::new(App::new(args.clone(), settings.clone(), addr, config));

    let router = api::router(app.clone());
    let http_app = app.clone();
    let server = tokio::spawn(async move {
        let shutdown = http_app.clone();
        web::serve_http(listener, router, web_config, async move {
            shutdown.wait_http_stop().await
        })
        .await
    });

    // Open the database off the runtime: WAL replay can take a while.
    let mut opts = Options::default();
    opts.retention_time = settings.retention_time;
    opts.retention_size = settings.retention_size;
    // As Prometheus: a commit survives the process being killed, not a power loss.
    opts.wal_sync = SyncPolicy::Never;
    opts.out_of_order_window = app.config().storage.out_of_order_time_window.to_std();
    let dir = args.tsdb_path.clone();
    tracing::info!(dir = %dir.display(), "opening the database");
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, opts))
        .await
        .map_err(|e| format!("opening the database: {e}"))?
        .map_err(|e| format!("opening the database: {e}"))?;
    let report = db.open_report().clone();
    tracing::info!(
        blocks = report.blocks,
        replayed_series = report.replayed_series,
        replayed_samples = report.replayed_samples,
        duration = ?report.replay_duration,
        "database open"
    );
    let db = Arc::new(db);
    let observer: Arc<dyn prom_scrape::manager::ScrapeObserver> = app.scrape.clone();
    let manager =
        ScrapeManager::with_observer(db.clone(), ManagerOptions::default(), Some(observer));
    if let Err(e) = manager.apply_config(&app.config()) {
        return Err(format!("applying the configuration: {e}"));
    }
    let rules = rules::Rules::start(
        db.clone(),
        &app.config(),
        groups,
        rules::RuleSettings {
            engine: app.engine(None).options().clone(),
            external_url: app.external_url.clone(),
            outage_tolerance_ms: settings.outage_tolerance_ms,
            for_grace_period_ms: settings.for_grace_period_ms,
            resend_delay_ms: settings.resend_delay_ms,
            queue_capacity: args.notification_queue_capacity,
        },
    )
    .map_err(|e| format!("starting rule evaluation: {e}"))?;
    app.rules_started(rules);
    app.started(db, manager);
    tracing::info!("server is ready to receive web requests");

    app.run_until_stopped().await;

    app.ready_off();
    if let Some(r) = app.rules() {
        tracing::info!("stopping rule evaluation and the notifier");
        r.stop().await;
    }
    tracing::info!("stopping scrape loops");
    if let Some(m) = app.scrape_manager() {
        m.shutdown(false).await;
    }
    app.stop_http();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(err = %e, "the HTTP server stopped with an error"),
        Err(e) => tracing::warn!(err = %e, "the HTTP server task failed"),
    }
    tracing::info!("closing the database");
    if let Some(db) = app.take_db() {
        match Arc::try_unwrap(db) {
            Ok(db) => {
                if let Err(e) = tokio::task::spawn_blocking(move || db.close()).await {
                    tracing::warn!(err = %e, "closing the database failed");
                }
            }
            // Some request still holds it; it closes when the last one lets go.
            Err(_) => tracing::info!("the database closes when the last request finishes"),
        }
    }
    tracing::info!("see you next time");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_scrapes_the_server() {
        let text = default_config_text("0.0.0.0:9090".parse().unwrap());
        assert!(text.contains("\"localhost:9090\""), "{text}");
        let text = default_config_text("127.0.0.1:4321".parse().unwrap());
        assert!(text.contains("\"127.0.0.1:4321\""));
        let cfg = load_config(None, "127.0.0.1:4321".parse().unwrap()).unwrap();
        assert_eq!(cfg.scrape_configs.len(), 1);
        assert_eq!(cfg.scrape_configs[0].job_name, "prom");
        assert_eq!(cfg.global.scrape_interval.to_std(), Duration::from_secs(15));
    }

    #[test]
    fn flags_are_checked_with_their_names() {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from([
            "prom",
            "serve",
            "--query.timeout=abc",
            "--web.listen-address=127.0.0.1:0",
        ])
        .unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let err = Settings::from_args(&args).unwrap_err();
        assert!(err.starts_with("--query.timeout=abc"), "{err}");

        let cli = crate::cli::Cli::try_parse_from(["prom", "serve"]).unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let s = Settings::from_args(&args).unwrap();
        assert_eq!(s.retention_time, Some(Duration::from_secs(15 * 86400)));
        assert_eq!(s.lookback_ms, 300_000);
        assert_eq!(s.query_timeout, Duration::from_secs(120));

        let cli =
            crate::cli::Cli::try_parse_from(["prom", "serve", "--storage.tsdb.retention.size=1GB"])
                .unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let s = Settings::from_args(&args).unwrap();
        assert_eq!(s.retention_time, None);
        assert_eq!(s.retention_size, Some(1 << 30));
    }
}
