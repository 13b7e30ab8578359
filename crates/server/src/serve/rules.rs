//! Rules in the server: the `rule_files` of the configuration evaluated by prom-rules's
//! [`Manager`] against the database, alerts sent through the Alertmanager client to the
//! Alertmanagers the `alerting` section discovers, both reloaded with the configuration.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prom_model::Labels;
use prom_promql::{Engine, EngineOptions};
use prom_rules::alertmanager::{AlertmanagerNotifier, AlertmanagerSet, NotifierOptions};
use prom_rules::expand::TemplateExpander;
use prom_rules::file::LoadOptions;
use prom_rules::group::Group;
use prom_rules::load::load_groups;
use prom_rules::manager::{Manager, ManagerOptions};
use prom_scrape::config::{Config, glob_files};
use prom_scrape::discovery::Discovery;
use prom_tsdb::Db;
use tokio::sync::Notify;

/// How often file discovery of Alertmanagers re-reads its files, and how long discovery
/// updates are coalesced (as for scrape targets).
const DISCOVERY_POLL: Duration = Duration::from_secs(5);
const DISCOVERY_SETTLE: Duration = Duration::from_secs(5);

/// The rule files a configuration names, globs expanded, in order.
pub fn rule_file_paths(cfg: &Config) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pattern in &cfg.rule_files {
        if pattern.contains('*') {
            out.extend(glob_files(pattern));
        } else {
            out.push(PathBuf::from(pattern));
        }
    }
    out
}

/// Loads and validates the rule groups of `cfg`; the error lists every problem with its file
/// and line.
pub fn load_rule_groups(cfg: &Config) -> Result<Vec<Group>, String> {
    let interval = cfg.global.evaluation_interval.0 as i64;
    load_groups(&rule_file_paths(cfg), interval, &LoadOptions::default()).map_err(|errs| {
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        format!("error loading rules: {}", text.join("; "))
    })
}

fn labels_of(pairs: &[(String, String)]) -> Labels {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Labels::from_pairs(&refs)
}

/// The flags that shape rule evaluation and alert sending.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    /// The engine settings of the query flags.
    pub engine: EngineOptions,
    /// The server's external URL (no trailing slash).
    pub external_url: String,
    /// `--rules.alert.for-outage-tolerance` (ms).
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` (ms).
    pub for_grace_period_ms: i64,
    /// `--rules.alert.resend-delay` (ms).
    pub resend_delay_ms: i64,
    /// `--alertmanager.notification-queue-capacity`.
    pub queue_capacity: usize,
}

/// The rule manager, the notifier and the Alertmanager discovery of a running server.
pub struct Rules {
    /// Evaluates the groups.
    pub manager: Arc<Manager>,
    /// Sends alerts to Alertmanagers.
    pub notifier: Arc<AlertmanagerNotifier>,
    discoveries: Mutex<Vec<(Discovery, tokio::task::JoinHandle<()>)>>,
    stop: Arc<Notify>,
    /// The evaluation loop and the sending loop, taken by [`stop`](Self::stop).
    manager_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    notifier_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `--alertmanager.notification-queue-capacity`, kept across reloads.
    queue_capacity: usize,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").finish_non_exhaustive()
    }
}

impl Rules {
    /// Starts rule evaluation and alert sending for `cfg` over `db`, with `groups` already
    /// loaded by [`load_rule_groups`]. Must run on the Tokio runtime.
    pub fn start(
        db: Arc<Db>,
        cfg: &Config,
        groups: Vec<Group>,
        settings: RuleSettings,
    ) -> Result<Rules, String> {
        let notifier = Arc::new(AlertmanagerNotifier::new(notifier_options(
            cfg,
            settings.queue_capacity,
        )));
        let engine = Arc::new(Engine::new(settings.engine));
        let expander = TemplateExpander::new(
            labels_of(&cfg.global.external_labels),
            settings.external_url.clone(),
            engine.clone(),
            db.clone(),
        );
        let opts = ManagerOptions::new(engine, db.clone(), db, notifier.clone())
            .expander(Arc::new(expander))
            .external_url(settings.external_url.clone())
            .rule_query_offset_ms(cfg.global.rule_query_offset.0 as i64)
            .outage_tolerance_ms(settings.outage_tolerance_ms)
            .for_grace_period_ms(settings.for_grace_period_ms)
            .resend_delay_ms(settings.resend_delay_ms);
        let manager = Arc::new(Manager::new(opts));
        manager.update(groups).map_err(|e| e.to_string())?;
        let stop = Arc::new(Notify::new());
        let manager_task = {
            let m = manager.clone();
            let stop = stop.clone();
            tokio::spawn(async move { m.run(async move { stop.notified().await }).await })
        };
        let notifier_task = {
            let n = notifier.clone();
            tokio::spawn(async move { n.run().await })
        };
        let rules = Rules {
            manager,
            notifier,
            discoveries: Mutex::new(Vec::new()),
            stop,
            manager_task: Mutex::new(Some(manager_task)),
            notifier_task: Mutex::new(Some(notifier_task)),
            queue_capacity: settings.queue_capacity,
        };
        rules.apply_alerting(cfg)?;
        Ok(rules)
    }

    /// Applies a reloaded configuration: the new groups (validated by [`load_rule_groups`]),
    /// the notifier's external labels and relabeling, and the Alertmanagers.
    pub fn apply(&self, cfg: &Config, groups: Vec<Group>) -> Result<(), String> {
        self.manager.update(groups).map_err(|e| e.to_string())?;
        self.notifier
            .set_options(notifier_options(cfg, self.queue_capacity));
        self.apply_alerting(cfg)
    }

    fn apply_alerting(&self, cfg: &Config) -> Result<(), String> {
        let mut sets = Vec::new();
        let mut discoveries = Vec::new();
        for am in &cfg.alerting.alertmanagers {
            let set = Arc::new(
                AlertmanagerSet::new(am.clone())
                    .map_err(|e| format!("alertmanager client: {e}"))?,
            );
            let d = Discovery::start(&am.service_discovery, DISCOVERY_POLL, DISCOVERY_SETTLE);
            let mut rx = d.subscribe();
            let target = set.clone();
            let task = tokio::spawn(async move {
                loop {
                    let groups = rx.borrow_and_update().clone();
                    target.set_targets(&groups);
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            });
            discoveries.push((d, task));
            sets.push(set);
        }
        self.notifier.set_alertmanagers(sets);
        let old = std::mem::replace(
            &mut *self
                .discoveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            discoveries,
        );
        for (_, task) in old {
            task.abort();
        }
        Ok(())
    }

    /// Stops evaluating, then sends what is queued and stops the notifier.
    pub async fn stop(&self) {
        self.stop.notify_one();
        let take = |t: &Mutex<Option<tokio::task::JoinHandle<()>>>| {
            t.lock().unwrap_or_else(PoisonError::into_inner).take()
        };
        // Evaluation ends first, so its last alerts are queued before the queue drains.
        if let Some(t) = take(&self.manager_task) {
            let _ = t.await;
        }
        self.notifier.stop().await;
        if let Some(t) = take(&self.notifier_task) {
            let _ = t.await;
        }
        for (_, task) in std::mem::take(
            &mut *self
                .discoveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            task.abort();
        }
    }
}

fn notifier_options(cfg: &Config, queue_capacity: usize) -> NotifierOptions {
    NotifierOptions {
        queue_capacity,
        external_labels: labels_of(&cfg.global.external_labels),
        alert_relabel_configs: cfg.alerting.alert_relabel_configs.clone(),
        ..NotifierOptions::default()
    }
}

/// The URL the server is reachable at: `--web.external-url`, else `http://HOST:PORT` with the
/// machine's host name, as Prometheus derives it. No trailing slash.
pub fn external_url(flag: Option<&str>, addr: std::net::SocketAddr) -> String {
    if let Some(u) = flag {
        return u.trim_end_matches('/').to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("http://{host}:{}", addr.port())
}
