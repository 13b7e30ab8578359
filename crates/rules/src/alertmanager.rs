//! The Alertmanager client: a [`Notifier`] that queues alerts and posts them in batches to
//! every discovered Alertmanager's API v2 (`POST <scheme>://<address><path_prefix>/api/v2/alerts`).
//!
//! It behaves as Prometheus's notifier does:
//!
//! - [`Notifier::send`] adds the external labels an alert lacks, applies the global
//!   `alert_relabel_configs` (an alert relabeled away is not sent) and queues the rest; the
//!   queue is bounded, and when it overflows the oldest alerts are dropped and counted.
//! - A sending task ([`AlertmanagerNotifier::run`]) takes up to `max_batch` alerts at a time
//!   and posts them to every Alertmanager of every `alertmanagers` entry at once, after that
//!   entry's own `alert_relabel_configs`, each request bounded by the entry's `timeout`.
//! - Unlike Prometheus, a failed post is retried (`retries` more times, with a doubling
//!   backoff) before the batch is counted as an error for that Alertmanager, so a restarting
//!   Alertmanager does not lose the alerts of that moment.
//! - On [`AlertmanagerNotifier::stop`] the queue is drained before the task ends.
//!
//! The Alertmanagers themselves come from discovery: [`AlertmanagerSet::set_targets`] takes the
//! target groups of an `alertmanagers` entry's service discovery and applies its
//! `relabel_configs` to `__address__`, `__scheme__` and `__alerts_path__`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prom_model::time::format_rfc3339;
use prom_model::{Labels, LabelsBuilder};
use prom_scrape::config::{AlertmanagerConfig, RelabelConfig, TargetGroup};
use prom_scrape::http_client::{ClientError, HttpClient};
use prom_scrape::relabel;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::notifier::{Alert, Notifier};

/// How the notifier queues and sends.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// The most alerts queued; beyond it the oldest are dropped (Prometheus's
    /// `--alertmanager.notification-queue-capacity`, 10,000).
    pub queue_capacity: usize,
    /// The most alerts in one request (256, as Prometheus).
    pub max_batch: usize,
    /// How many times a failed request is retried before it counts as an error.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub retry_backoff: Duration,
    /// Labels added to every alert that does not have them (`global.external_labels`).
    pub external_labels: Labels,
    /// `alerting.alert_relabel_configs`, applied before queueing.
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: 10_000,
            max_batch: 256,
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            external_labels: Labels::new(),
            alert_relabel_configs: Vec::new(),
        }
    }
}

/// The Alertmanagers of one `alerting.alertmanagers` entry.
#[derive(Debug)]
pub struct AlertmanagerSet {
    cfg: AlertmanagerConfig,
    client: HttpClient,
    urls: RwLock<Vec<String>>,
}

impl AlertmanagerSet {
    /// The set for `cfg`, with no Alertmanager discovered yet.
    pub fn new(cfg: AlertmanagerConfig) -> Result<AlertmanagerSet, ClientError> {
        let client = HttpClient::new(&cfg.http, Some(Duration::from_millis(cfg.timeout.0)))?;
        Ok(AlertmanagerSet {
            cfg,
            client,
            urls: RwLock::new(Vec::new()),
        })
    }

    /// The configuration the set was built from.
    pub fn config(&self) -> &AlertmanagerConfig {
        &self.cfg
    }

    /// Replaces the set's Alertmanagers with the targets of `groups` after the entry's
    /// `relabel_configs`; returns the URLs alerts are now posted to.
    pub fn set_targets(&self, groups: &[TargetGroup]) -> Vec<String> {
        let urls = alertmanager_urls(&self.cfg, groups);
        *self.urls.write().unwrap_or_else(|e| e.into_inner()) = urls.clone();
        urls
    }

    /// The URLs alerts are posted to.
    pub fn urls(&self) -> Vec<String> {
        self.urls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The alert endpoints of the targets in `groups` for the `alertmanagers` entry `cfg`:
/// each target gets `__address__`, `__scheme__` and `__alerts_path__` (`<path_prefix>/api/v2/alerts`)
/// besides its group's labels, goes through `relabel_configs`, and becomes
/// `<__scheme__>://<__address__><__alerts_path__>`. Targets relabeled away, or left with an
/// empty address, are skipped; duplicates are kept once.
pub fn alertmanager_urls(cfg: &AlertmanagerConfig, groups: &[TargetGroup]) -> Vec<String> {
    let path = alerts_path(&cfg.path_prefix);
    let mut urls = Vec::new();
    let mut lb = LabelsBuilder::new();
    for g in groups {
        for t in &g.targets {
            lb.reset(&Labels::new());
            for (k, v) in &g.labels {
                lb.set(k, v);
            }
            lb.set("__address__", t);
            lb.set("__scheme__", &cfg.scheme);
            lb.set("__alerts_path__", &path);
            if !relabel::process(&mut lb, &cfg.relabel_configs) {
                continue;
            }
            let address = lb.get("__address__").unwrap_or("");
            if address.is_empty() || address.contains('/') {
                continue;
            }
            let url = format!(
                "{}://{}{}",
                lb.get("__scheme__").unwrap_or("http"),
                address,
                lb.get("__alerts_path__").unwrap_or(&path)
            );
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}

/// `path.Join("/", prefix, "/api/v2/alerts")`.
fn alerts_path(prefix: &str) -> String {
    let mut p = String::new();
    for part in prefix.split('/').filter(|s| !s.is_empty() && *s != ".") {
        p.push('/');
        p.push_str(part);
    }
    p.push_str("/api/v2/alerts");
    p
}

/// Counters of one Alertmanager URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertmanagerStats {
    /// Alerts successfully posted (`prometheus_notifications_sent_total`).
    pub sent: u64,
    /// Requests that failed after their retries (`prometheus_notifications_errors_total`).
    pub errors: u64,
    /// Requests retried.
    pub retries: u64,
}

/// A snapshot of the notifier's counters, for self-instrumentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifierStats {
    /// Alerts waiting to be sent (`prometheus_notifications_queue_length`).
    pub queue_length: usize,
    /// The queue's capacity (`prometheus_notifications_queue_capacity`).
    pub queue_capacity: usize,
    /// Alerts dropped because the queue overflowed or no Alertmanager took them
    /// (`prometheus_notifications_dropped_total`).
    pub dropped: u64,
    /// Per Alertmanager URL.
    pub alertmanagers: BTreeMap<String, AlertmanagerStats>,
    /// How many Alertmanagers are known (`prometheus_notifications_alertmanagers_discovered`).
    pub discovered: usize,
}

/// The built-in [`Notifier`]: queues alerts and posts them to Alertmanagers.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use prom_rules::alertmanager::{AlertmanagerNotifier, NotifierOptions};
///
/// let notifier = Arc::new(AlertmanagerNotifier::new(NotifierOptions::default()));
/// tokio::spawn({
///     let n = notifier.clone();
///     async move { n.run().await }
/// });
/// // notifier.set_alertmanagers(...), then hand `notifier` to the rule manager.
/// notifier.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AlertmanagerNotifier {
    opts: RwLock<NotifierOptions>,
    queue: Mutex<VecDeque<Alert>>,
    sets: RwLock<Vec<Arc<AlertmanagerSet>>>,
    wake: Notify,
    stopping: AtomicBool,
    stopped: Notify,
    dropped: AtomicU64,
    per_url: Mutex<BTreeMap<String, AlertmanagerStats>>,
}

impl AlertmanagerNotifier {
    /// A notifier with no Alertmanager yet.
    pub fn new(opts: NotifierOptions) -> AlertmanagerNotifier {
        AlertmanagerNotifier {
            opts: RwLock::new(opts),
            queue: Mutex::new(VecDeque::new()),
            sets: RwLock::new(Vec::new()),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            stopped: Notify::new(),
            dropped: AtomicU64::new(0),
            per_url: Mutex::new(BTreeMap::new()),
        }
    }

    /// Replaces the options (on a config reload); queued alerts stay queued.
    pub fn set_options(&self, opts: NotifierOptions) {
        *self.opts.write().unwrap_or_else(|e| e.into_inner()) = opts;
    }

    /// Replaces the Alertmanager entries (on a config reload).
    pub fn set_alertmanagers(&self, sets: Vec<Arc<AlertmanagerSet>>) {
        *self.sets.write().unwrap_or_else(|e| e.into_inner()) = sets;
        self.wake.notify_one();
    }

    /// The Alertmanager entries.
    pub fn alertmanagers(&self) -> Vec<Arc<AlertmanagerSet>> {
        self.sets.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The counters.
    pub fn stats(&self) -> NotifierStats {
        let sets = self.alertmanagers();
        NotifierStats {
            queue_length: self.queue.lock().unwrap_or_else(|e| e.into_inner()).len(),
            queue_capacity: self
                .opts
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .queue_capacity,
            dropped: self.dropped.load(Ordering::Relaxed),
            alertmanagers: self
                .per_url
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            discovered: sets.iter().map(|s| s.urls().len()).sum(),
        }
    }

    /// Sends queued alerts until [`stop`](Self::stop) is called, then drains the queue.
    pub async fn run(&self) {
        loop {
            let stopping = self.stopping.load(Ordering::Acquire);
            while let Some(batch) = self.next_batch() {
                self.send_batch(&batch).await;
            }
            if stopping {
                break;
            }
            let woken = self.wake.notified();
            if self.stopping.load(Ordering::Acquire) || !self.queue_is_empty() {
                continue;
            }
            woken.await;
        }
        self.stopped.notify_waiters();
    }

    /// Asks [`run`](Self::run) to send what is queued and end, and waits until it has (at most
    /// ten seconds).
    pub async fn stop(&self) {
        let done = self.stopped.notified();
        self.stopping.store(true, Ordering::Release);
        self.wake.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(10), done).await;
    }

    fn queue_is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    fn next_batch(&self) -> Option<Vec<Alert>> {
        let max = self
            .opts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .max_batch
            .max(1);
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.is_empty() {
            return None;
        }
        let n = q.len().min(max);
        Some(q.drain(..n).collect())
    }

    async fn send_batch(&self, batch: &[Alert]) {
        let sets = self.alertmanagers();
        let (retries, backoff) = {
            let o = self.opts.read().unwrap_or_else(|e| e.into_inner());
            (o.retries, o.retry_backoff)
        };
        let mut posts = Vec::new();
        for set in &sets {
            let urls = set.urls();
            if urls.is_empty() {
                continue;
            }
            let alerts: Vec<Alert> = if set.cfg.alert_relabel_configs.is_empty() {
                batch.to_vec()
            } else {
                batch
                    .iter()
                    .filter_map(|a| relabel_alert(a, &set.cfg.alert_relabel_configs))
                    .collect()
            };
            if alerts.is_empty() {
                continue;
            }
            let body = Arc::new(encode_alerts(&alerts));
            for url in urls {
                let set = set.clone();
                let body = body.clone();
                let n = alerts.len() as u64;
                posts.push(async move {
                    let (ok, tries) = post_with_retries(&set, &url, &body, retries, backoff).await;
                    (url, ok, tries, n)
                });
            }
        }
        if posts.is_empty() {
            self.dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            return;
        }
        let results = join_all(posts).await;
        let mut per_url = self.per_url.lock().unwrap_or_else(|e| e.into_inner());
        for (url, ok, tries, n) in results {
            let s = per_url.entry(url).or_default();
            s.retries += u64::from(tries.saturating_sub(1));
            if ok {
                s.sent += n;
            } else {
                s.errors += 1;
            }
        }
    }
}

impl Notifier for AlertmanagerNotifier {
    fn send(&self, alerts: Vec<Alert>) {
        let opts = self.opts.read().unwrap_or_else(|e| e.into_inner());
        let mut prepared: Vec<Alert> = alerts
            .into_iter()
            .filter_map(|mut a| {
                if !opts.external_labels.is_empty() {
                    let mut lb = a.labels.to_builder();
                    for l in opts.external_labels.iter() {
                        if lb.get(l.name).is_none() {
                            lb.set(l.name, l.value);
                        }
                    }
                    a.labels = lb.build();
                }
                if opts.alert_relabel_configs.is_empty() {
                    Some(a)
                } else {
                    relabel_alert(&a, &opts.alert_relabel_configs)
                }
            })
            .collect();
        let cap = opts.queue_capacity.max(1);
        drop(opts);
        let mut dropped = 0;
        if prepared.len() > cap {
            dropped += prepared.len() - cap;
            prepared.drain(..prepared.len() - cap);
        }
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let overflow = (q.len() + prepared.len()).saturating_sub(cap);
            if overflow > 0 {
                q.drain(..overflow);
                dropped += overflow;
            }
            q.extend(prepared);
        }
        if dropped > 0 {
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.wake.notify_one();
    }
}

/// `alert` after `rules`, or `None` when they drop it or leave it without labels.
fn relabel_alert(alert: &Alert, rules: &[RelabelConfig]) -> Option<Alert> {
    let mut lb = alert.labels.to_builder();
    if !relabel::process(&mut lb, rules) {
        return None;
    }
    let labels = lb.build();
    if labels.is_empty() {
        return None;
    }
    Some(Alert {
        labels,
        ..alert.clone()
    })
}

/// Polls the futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futs.len());
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => out[i] = Some(v),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Posts `body` to `url`, retrying failures; returns whether it succeeded and how many
/// requests were made.
async fn post_with_retries(
    set: &AlertmanagerSet,
    url: &str,
    body: &str,
    retries: u32,
    backoff: Duration,
) -> (bool, u32) {
    let mut wait = backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        let started = Instant::now();
        match post_once(set, url, body).await {
            Ok(()) => return (true, tries),
            Err(e) => {
                tracing::warn!(
                    alertmanager = url,
                    attempt = tries,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    err = %e,
                    "error sending alerts"
                );
                if tries > retries {
                    return (false, tries);
                }
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
    }
}

async fn post_once(set: &AlertmanagerSet, url: &str, body: &str) -> Result<(), String> {
    let headers = set.client.headers().map_err(|e| e.to_string())?;
    let req = set
        .client
        .post(url)
        .map_err(|e| e.to_string())?
        .headers(headers)
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("bad response status {status}"))
    }
}

/// Alerts as the JSON array Alertmanager's `POST /api/v2/alerts` takes.
pub fn encode_alerts(alerts: &[Alert]) -> String {
    let list: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let mut o = Map::new();
            o.insert("labels".into(), label_object(&a.labels));
            o.insert("annotations".into(), label_object(&a.annotations));
            if a.starts_at != 0 {
                o.insert("startsAt".into(), json!(format_rfc3339(a.starts_at)));
            }
            if a.ends_at != 0 {
                o.insert("endsAt".into(), json!(format_rfc3339(a.ends_at)));
            }
            o.insert("generatorURL".into(), json!(a.generator_url));
            Value::Object(o)
        })
        .collect();
    Value::Array(list).to_string()
}

fn label_object(l: &Labels) -> Value {
    let mut o = Map::new();
    for l in l.iter() {
        o.insert(l.name.to_owned(), Value::String(l.value.to_owned()));
    }
    Value::Object(o)
}
