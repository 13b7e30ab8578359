//! The server's shared state: configuration, database, scrape manager, engine settings,
//! readiness, and the signals that reload or stop it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prom_promql::{Engine, EngineOptions};
use prom_scrape::config::Config;
use prom_scrape::manager::ScrapeManager;
use prom_tsdb::Db;
use tokio::sync::{Notify, Semaphore};

use super::selfmetrics::{HttpMetrics, ScrapeMetrics};
use super::{ServeArgs, Settings, load_config};

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    /// The command line.
    pub args: ServeArgs,
    /// The checked flags.
    pub settings: Settings,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// When the server started.
    pub start_time: SystemTime,
    config: RwLock<Arc<Config>>,
    db: Mutex<Option<Arc<Db>>>,
    manager: OnceLock<ScrapeManager>,
    rules: OnceLock<super::rules::Rules>,
    /// The URL the server is reachable at (`--web.external-url` or derived), no trailing slash.
    pub external_url: String,
    ready: AtomicBool,
    /// Queries that may run at once (`--query.max-concurrency`).
    pub query_slots: Semaphore,
    /// Queries waiting or running, for the engine's metrics.
    pub queries_in_flight: AtomicU64,
    /// Request counts and durations by handler.
    pub http: HttpMetrics,
    /// The scrape loops' timing, reported to by the scrape manager.
    pub scrape: Arc<ScrapeMetrics>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Whether the last reload succeeded.
    pub last_reload_ok: AtomicBool,
    /// When the configuration was last loaded successfully (Unix seconds).
    pub last_reload_time: AtomicU64,
    stop: Notify,
    stopping: AtomicBool,
    http_stop: Notify,
    http_stopping: AtomicBool,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl App {
    /// The state before the database opens.
    pub fn new(args: ServeArgs, settings: Settings, addr: SocketAddr, config: Config) -> Self {
        let start_time = SystemTime::now();
        let external_url = super::rules::external_url(args.external_url.as_deref(), addr);
        App {
            query_slots: Semaphore::new(args.query_max_concurrency),
            args,
            settings,
            addr,
            start_time,
            config: RwLock::new(Arc::new(config)),
            db: Mutex::new(None),
            manager: OnceLock::new(),
            rules: OnceLock::new(),
            external_url,
            ready: AtomicBool::new(false),
            queries_in_flight: AtomicU64::new(0),
            http: HttpMetrics::default(),
            scrape: Arc::default(),
            reload_lock: tokio::sync::Mutex::new(()),
            last_reload_ok: AtomicBool::new(true),
            last_reload_time: AtomicU64::new(unix_secs(start_time)),
            stop: Notify::new(),
            stopping: AtomicBool::new(false),
            http_stop: Notify::new(),
            http_stopping: AtomicBool::new(false),
        }
    }

    /// The running configuration.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The database, once open.
    pub fn db(&self) -> Option<Arc<Db>> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the database out for closing.
    pub fn take_db(&self) -> Option<Arc<Db>> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The scrape manager, once started.
    pub fn scrape_manager(&self) -> Option<&ScrapeManager> {
        self.manager.get()
    }

    /// The rule manager and notifier, once started.
    pub fn rules(&self) -> Option<&super::rules::Rules> {
        self.rules.get()
    }

    /// Records that rule evaluation has started.
    pub fn rules_started(&self, rules: super::rules::Rules) {
        let _ = self.rules.set(rules);
    }

    /// Whether the server serves queries (the database is open and scraping runs).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records that the database is open and scraping has started.
    pub fn started(&self, db: Arc<Db>, manager: ScrapeManager) {
        *self.db.lock().unwrap_or_else(PoisonError::into_inner) = Some(db);
        let _ = self.manager.set(manager);
        self.ready.store(true, Ordering::Release);
    }

    /// Stops answering queries (shutdown has begun).
    pub fn ready_off(&self) {
        self.ready.store(false, Ordering::Release);
    }

    /// An engine for one query, its timeout at most `timeout` (the request's `timeout`
    /// parameter) and never beyond `--query.timeout`.
    pub fn engine(&self, timeout: Option<Duration>) -> Engine {
        let t = match timeout {
            Some(t) => t.min(self.settings.query_timeout),
            None => self.settings.query_timeout,
        };
        Engine::new(
            EngineOptions::default()
                .lookback_delta(self.settings.lookback_ms)
                .max_samples(self.args.query_max_samples)
                .timeout(t),
        )
    }

    /// Reloads the configuration file (or the embedded default). A configuration that does not
    /// load or apply is rejected and the running one kept.
    pub async fn reload(&self) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        // Everything is loaded and checked before anything is applied, so a bad rule file
        // leaves the running configuration whole.
        let outcome = load_config(self.args.config_file.as_deref(), self.addr).and_then(|cfg| {
            let groups = super::rules::load_rule_groups(&cfg)?;
            if let Some(m) = self.scrape_manager() {
                m.apply_config(&cfg)?;
            }
            if let Some(r) = self.rules() {
                r.apply(&cfg, groups)?;
            }
            Ok(cfg)
        });
        match outcome {
            Ok(cfg) => {
                *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(cfg);
                self.last_reload_ok.store(true, Ordering::Release);
                self.last_reload_time
                    .store(unix_secs(SystemTime::now()), Ordering::Release);
                tracing::info!("completed loading of configuration file");
                Ok(())
            }
            Err(e) => {
                self.last_reload_ok.store(false, Ordering::Release);
                tracing::error!(err = %e, "error reloading the configuration; keeping the running one");
                Err(e)
            }
        }
    }

    /// Asks the server to stop (`/-/quit`, a signal).
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    /// Waits for SIGINT, SIGTERM or a stop request, reloading on SIGHUP.
    pub async fn run_until_stopped(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (mut term, mut int, mut hup) = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(t), Ok(i), Ok(h)) => (t, i, h),
                _ => {
                    tracing::warn!("cannot install signal handlers; stop with /-/quit");
                    self.wait_stop().await;
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = term.recv() => { tracing::info!("received SIGTERM, exiting gracefully"); break; }
                    _ = int.recv() => { tracing::info!("received SIGINT, exiting gracefully"); break; }
                    _ = hup.recv() => { let _ = self.reload().await; }
                    _ = self.wait_stop() => { tracing::info!("received a stop request, exiting gracefully"); break; }
                }
            }
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = self.wait_stop() => {}
            }
        }
    }

    async fn wait_stop(&self) {
        loop {
            let notified = self.stop.notified();
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Lets the HTTP server finish its requests and stop.
    pub fn stop_http(&self) {
        self.http_stopping.store(true, Ordering::Release);
        self.http_stop.notify_waiters();
        self.http_stop.notify_one();
    }

    /// Resolves once [`stop_http`](Self::stop_http) was called.
    pub async fn wait_http_stop(&self) {
        loop {
            let notified = self.http_stop.notified();
            if self.http_stopping.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}
