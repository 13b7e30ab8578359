//! Service discovery: providers that produce target groups as they change.
//!
//! A [`Discoverer`] runs as a task and sends batches of [`TargetGroup`]s: each group replaces
//! the provider's previous group with the same `source`, and a group without targets removes
//! it. [`Discovery`] runs the providers of one job and keeps the merged, current view; the
//! scrape manager reads it. The built-in providers are `static_configs`, `file_sd_configs`
//! and `http_sd_configs`; a provider crate (Kubernetes, …) implements the same trait.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::config::{FileSdConfig, HttpSdConfig, SdConfig, TargetGroup, glob_files};
use crate::http_client::HttpClient;
use crate::sd_file::{groups_from_json, read_sd_file};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where a provider sends its changes.
pub type GroupSender = mpsc::Sender<Vec<TargetGroup>>;

/// A discovery provider.
pub trait Discoverer: Send + 'static {
    /// Runs until `tx` is closed (or the task is dropped), sending groups as they change.
    ///
    /// - The first send SHOULD come as soon as the provider knows its initial groups (possibly
    ///   none), so that a consumer waiting for the initial state is not held up.
    /// - A group replaces the provider's earlier group with the same `source`; a group with
    ///   no targets removes it.
    /// - Failures MUST NOT end the task: the provider keeps its last good groups, records the
    ///   error in its [`ProviderStatus`] and tries again later.
    fn run(self: Box<Self>, tx: GroupSender) -> BoxFuture<()>;

    /// A short name for logs and metrics (`static`, `file`, `http`, …).
    fn name(&self) -> &'static str;
}

/// The health of one provider, shared with whoever reports it.
#[derive(Debug, Default)]
pub struct ProviderStatus {
    inner: Mutex<StatusInner>,
}

#[derive(Debug, Default, Clone)]
struct StatusInner {
    failures: u64,
    refreshes: u64,
    last_error: Option<String>,
}

impl ProviderStatus {
    fn ok(&self) {
        let mut s = self.inner.lock().expect("status lock");
        s.refreshes += 1;
        s.last_error = None;
    }

    fn fail(&self, e: String) {
        let mut s = self.inner.lock().expect("status lock");
        s.refreshes += 1;
        s.failures += 1;
        s.last_error = Some(e);
    }

    /// The error of the last refresh, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().expect("status lock").last_error.clone()
    }

    /// How many refreshes failed.
    pub fn failures(&self) -> u64 {
        self.inner.lock().expect("status lock").failures
    }

    /// How many refreshes ran.
    pub fn refreshes(&self) -> u64 {
        self.inner.lock().expect("status lock").refreshes
    }
}

/// `static_configs`: fixed groups, sent once.
#[derive(Debug)]
pub struct StaticDiscoverer {
    groups: Vec<TargetGroup>,
}

impl StaticDiscoverer {
    /// A provider of `groups`.
    pub fn new(groups: Vec<TargetGroup>) -> Self {
        StaticDiscoverer { groups }
    }
}

impl Discoverer for StaticDiscoverer {
    fn run(self: Box<Self>, tx: GroupSender) -> BoxFuture<()> {
        Box::pin(async move {
            if tx.send(self.groups).await.is_ok() {
                tx.closed().await;
            }
        })
    }

    fn name(&self) -> &'static str {
        "static"
    }
}

/// Empty groups that remove the groups `<origin>:<i>` for each `i` in `indices` (the groups a
/// file or an HTTP response no longer has).
fn removed(origin: &str, indices: std::ops::Range<usize>, update: &mut Vec<TargetGroup>) {
    update.extend(indices.map(|i| TargetGroup {
        source: format!("{origin}:{i}"),
        ..TargetGroup::default()
    }));
}

/// `file_sd_configs`: files matching globs, re-read when they change (checked every
/// `poll`) and every `refresh_interval`. A file that fails to parse keeps its last good
/// groups; a file that disappears takes its groups with it.
#[derive(Debug)]
pub struct FileDiscoverer {
    cfg: FileSdConfig,
    poll: StdDuration,
    status: Arc<ProviderStatus>,
}

impl FileDiscoverer {
    /// A provider for `cfg`, checking for changes every `poll` (Prometheus reacts to file
    /// events; polling the modification time is the portable equivalent).
    pub fn new(cfg: FileSdConfig, poll: StdDuration, status: Arc<ProviderStatus>) -> Self {
        FileDiscoverer { cfg, poll, status }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

impl Discoverer for FileDiscoverer {
    fn run(self: Box<Self>, tx: GroupSender) -> BoxFuture<()> {
        Box::pin(async move {
            // Per file: its stamp when read and how many groups it last gave.
            let mut seen: BTreeMap<PathBuf, (Option<Stamp>, usize)> = BTreeMap::new();
            let mut last_refresh: Option<Instant> = None;
            let refresh = self
                .cfg
                .refresh_interval
                .to_std()
                .max(StdDuration::from_millis(1));
            loop {
                let full = last_refresh.is_none_or(|t| t.elapsed() >= refresh);
                let mut files: Vec<PathBuf> = Vec::new();
                for pattern in &self.cfg.files {
                    files.extend(glob_files(pattern));
                }
                files.sort();
                files.dedup();
                let mut update = Vec::new();
                let mut errors = Vec::new();
                for f in &files {
                    let st = stamp(f);
                    let known = seen.get(f);
                    if !full && known.is_some_and(|(s, _)| *s == st) {
                        continue;
                    }
                    match read_sd_file(f) {
                        Ok(groups) => {
                            let before = known.map_or(0, |(_, n)| *n);
                            removed(&f.to_string_lossy(), groups.len()..before, &mut update);
                            seen.insert(f.clone(), (st, groups.len()));
                            update.extend(groups);
                        }
                        Err(e) => {
                            // Keep the last good groups; remember the stamp so a broken file
                            // is not re-read every poll until it changes again.
                            let n = known.map_or(0, |(_, n)| *n);
                            seen.insert(f.clone(), (st, n));
                            errors.push(e);
                        }
                    }
                }
                let gone: Vec<PathBuf> = seen
                    .keys()
                    .filter(|p| !files.contains(p))
                    .cloned()
                    .collect();
                for p in gone {
                    let (_, n) = seen.remove(&p).expect("listed");
                    removed(&p.to_string_lossy(), 0..n, &mut update);
                }
                if full {
                    last_refresh = Some(Instant::now());
                }
                if errors.is_empty() {
                    if full || !update.is_empty() {
                        self.status.ok();
                    }
                } else {
                    self.status.fail(errors.join("; "));
                }
                // The first round always sends, so consumers learn the initial state.
                if (!update.is_empty() || full) && tx.send(update).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = tx.closed() => return,
                }
            }
        })
    }

    fn name(&self) -> &'static str {
        "file"
    }
}

/// `http_sd_configs`: a JSON list of groups fetched every `refresh_interval`.
#[derive(Debug)]
pub struct HttpDiscoverer {
    cfg: HttpSdConfig,
    status: Arc<ProviderStatus>,
}

impl HttpDiscoverer {
    /// A provider for `cfg`.
    pub fn new(cfg: HttpSdConfig, status: Arc<ProviderStatus>) -> Self {
        HttpDiscoverer { cfg, status }
    }
}

/// Fetches and decodes one HTTP SD response.
pub async fn fetch_http_sd(
    client: &HttpClient,
    cfg: &HttpSdConfig,
) -> Result<Vec<TargetGroup>, String> {
    let resp = client
        .get(&cfg.url)
        .map_err(|e| e.to_string())?
        .header("Accept", "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            (cfg.refresh_interval.millis() / 1000).to_string(),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {status}"));
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !ct
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(format!("unsupported content type {ct:?}"));
    }
    let body = resp.text().await.map_err(|e| e.to_string())?;
    let mut groups = groups_from_json(&body)?;
    for (i, g) in groups.iter_mut().enumerate() {
        g.source = format!("{}:{i}", cfg.url);
        g.labels.retain(|(k, _)| k != "__meta_url");
        g.labels.push(("__meta_url".into(), cfg.url.clone()));
    }
    Ok(groups)
}

impl Discoverer for HttpDiscoverer {
    fn run(self: Box<Self>, tx: GroupSender) -> BoxFuture<()> {
        Box::pin(async move {
            let refresh = self
                .cfg
                .refresh_interval
                .to_std()
                .max(StdDuration::from_millis(1));
            let client = match HttpClient::new(
                &self.cfg.http,
                Some(refresh.min(StdDuration::from_secs(60))),
            ) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.status.fail(e.to_string());
                    None
                }
            };
            let mut last = 0usize;
            let mut first = true;
            loop {
                if let Some(client) = &client {
                    match fetch_http_sd(client, &self.cfg).await {
                        Ok(groups) => {
                            self.status.ok();
                            let mut update = Vec::new();
                            removed(&self.cfg.url, groups.len()..last, &mut update);
                            last = groups.len();
                            update.extend(groups);
                            if tx.send(update).await.is_err() {
                                return;
                            }
                            first = false;
                        }
                        Err(e) => {
                            self.status.fail(e);
                            if first {
                                first = false;
                                if tx.send(Vec::new()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                } else if first {
                    first = false;
                    if tx.send(Vec::new()).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(refresh) => {}
                    _ = tx.closed() => return,
                }
            }
        })
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

/// A running provider of a job, with its status.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    /// The provider's name (`file`, `http`, …).
    pub name: &'static str,
    /// Its status.
    pub status: Arc<ProviderStatus>,
}

/// A provider ready to run, with the status it reports into.
pub type Provider = (Box<dyn Discoverer>, ProviderInfo);

/// The providers for a job's discovery configurations. `Other` providers (sections this crate
/// validates but does not run) are returned by name in the second list.
pub fn providers(sds: &[SdConfig], poll: StdDuration) -> (Vec<Provider>, Vec<&'static str>) {
    let mut out: Vec<Provider> = Vec::new();
    let mut statics = Vec::new();
    let mut unsupported = Vec::new();
    for sd in sds {
        let status = Arc::new(ProviderStatus::default());
        match sd {
            SdConfig::Static(g) => statics.push(g.clone()),
            SdConfig::File(f) => out.push((
                Box::new(FileDiscoverer::new(f.clone(), poll, status.clone())),
                ProviderInfo {
                    name: "file",
                    status,
                },
            )),
            SdConfig::Http(h) => out.push((
                Box::new(HttpDiscoverer::new((**h).clone(), status.clone())),
                ProviderInfo {
                    name: "http",
                    status,
                },
            )),
            SdConfig::Other(o) => unsupported.push(o.provider),
        }
    }
    if !statics.is_empty() {
        out.insert(
            0,
            (
                Box::new(StaticDiscoverer::new(statics)),
                ProviderInfo {
                    name: "static",
                    status: Arc::new(ProviderStatus::default()),
                },
            ),
        );
    }
    (out, unsupported)
}

/// The merged groups of one job's providers, kept current by a background task.
#[derive(Debug)]
pub struct Discovery {
    rx: watch::Receiver<Arc<Vec<TargetGroup>>>,
    /// The providers, with their status.
    pub providers: Vec<ProviderInfo>,
    /// Discovery sections that this crate does not run.
    pub unsupported: Vec<&'static str>,
    /// Whether every provider has sent its initial state.
    ready: watch::Receiver<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Discovery {
    /// Starts the providers of `sds` on the current Tokio runtime. Updates are coalesced
    /// for `settle` before being published (Prometheus waits 5 s; tests use less).
    pub fn start(sds: &[SdConfig], poll: StdDuration, settle: StdDuration) -> Discovery {
        let (list, unsupported) = providers(sds, poll);
        let (out_tx, out_rx) = watch::channel(Arc::new(Vec::new()));
        let (ready_tx, ready_rx) = watch::channel(list.is_empty());
        let (tx, mut rx) = mpsc::channel::<(usize, Vec<TargetGroup>)>(64);
        let mut tasks = Vec::new();
        let mut infos = Vec::new();
        let n = list.len();
        for (i, (d, info)) in list.into_iter().enumerate() {
            infos.push(info);
            let (ptx, mut prx) = mpsc::channel(16);
            tasks.push(tokio::spawn(d.run(ptx)));
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(groups) = prx.recv().await {
                    if tx.send((i, groups)).await.is_err() {
                        return;
                    }
                }
            }));
        }
        drop(tx);
        tasks.push(tokio::spawn(async move {
            let mut state: HashMap<(usize, String), TargetGroup> = HashMap::new();
            let mut heard = vec![false; n];
            while let Some((i, groups)) = rx.recv().await {
                apply(&mut state, i, groups);
                heard[i] = true;
                // Coalesce what arrives while settling.
                let deadline = tokio::time::Instant::now() + settle;
                while let Ok(Some((i, groups))) = tokio::time::timeout_at(deadline, rx.recv()).await
                {
                    apply(&mut state, i, groups);
                    heard[i] = true;
                }
                let mut all: Vec<((usize, String), TargetGroup)> =
                    state.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                let _ = out_tx.send(Arc::new(all.into_iter().map(|(_, g)| g).collect()));
                if heard.iter().all(|h| *h) {
                    let _ = ready_tx.send(true);
                }
            }
        }));
        Discovery {
            rx: out_rx,
            providers: infos,
            unsupported,
            ready: ready_rx,
            tasks,
        }
    }

    /// The current groups.
    pub fn groups(&self) -> Arc<Vec<TargetGroup>> {
        self.rx.borrow().clone()
    }

    /// A receiver notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<TargetGroup>>> {
        self.rx.clone()
    }

    /// Waits until every provider has reported its initial state, or `timeout` passes;
    /// returns whether they all did.
    pub async fn wait_ready(&self, timeout: StdDuration) -> bool {
        let mut r = self.ready.clone();
        tokio::time::timeout(timeout, r.wait_for(|v| *v))
            .await
            .is_ok()
    }
}

fn apply(state: &mut HashMap<(usize, String), TargetGroup>, i: usize, groups: Vec<TargetGroup>) {
    for g in groups {
        let key = (i, g.source.clone());
        if g.targets.is_empty() {
            state.remove(&key);
        } else {
            state.insert(key, g);
        }
    }
}
