//! Scrape loops and the manager that runs them: one loop per target, one pool per job,
//! kept in step with discovery and with configuration reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use prom_exposition::{accept_header, negotiate};
use prom_model::Labels;
use prom_model::storage::Appendable;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, ScrapeConfig};
use crate::discovery::{Discovery, ProviderInfo};
use crate::http_client::HttpClient;
use crate::scrape::{Metadata, Rejected, ScrapeError, ScrapeStats, Scraper};
use crate::target::{Target, targets_from_group};

/// A target's health, as the targets API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What a loop knows about its target's last scrape.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// Health after the last scrape.
    pub health: Health,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long it took.
    pub last_duration: StdDuration,
    /// Why it failed, or empty.
    pub last_error: String,
    /// Samples it brought (before relabeling).
    pub last_samples: u64,
    /// Series in the loop's cache.
    pub series: usize,
    /// The metadata the target exposed.
    pub metadata: HashMap<String, Metadata>,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_scrape: None,
            last_duration: StdDuration::ZERO,
            last_error: String::new(),
            last_samples: 0,
            series: 0,
            metadata: HashMap::new(),
        }
    }
}

/// A target as the targets API shows it.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    /// The job (scrape pool).
    pub job: String,
    /// The target.
    pub target: Target,
    /// The scrape URL.
    pub url: String,
    /// The job's interval and timeout.
    pub interval: StdDuration,
    /// The scrape timeout.
    pub timeout: StdDuration,
    /// The last scrape's outcome.
    pub status: TargetStatus,
}

/// Options for the manager.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// XORed into every target's hash to spread scrapes of several servers differently.
    pub offset_seed: u64,
    /// How often file discovery checks its files.
    pub file_poll: StdDuration,
    /// How long discovery coalesces updates before the pools see them.
    pub discovery_settle: StdDuration,
    /// Scrape each target immediately when its loop starts, instead of at its offset in the
    /// interval (tests and benchmarks).
    pub no_initial_offset: bool,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            offset_seed: 0,
            file_poll: StdDuration::from_secs(5),
            discovery_settle: StdDuration::from_secs(5),
            no_initial_offset: false,
        }
    }
}

/// Told how the scrape loops keep time and what the storage refused, so an embedder can
/// export Prometheus's `prometheus_target_interval_length_seconds`,
/// `prometheus_target_sync_length_seconds` and `prometheus_target_scrapes_*`. Called on the
/// loops' tasks: keep it cheap.
pub trait ScrapeObserver: Send + Sync + std::fmt::Debug {
    /// A scrape of a target in a job with `interval` finished with `error` (or none);
    /// `since_previous` is the time from the start of the target's previous scrape to the
    /// start of this one (`None` for its first).
    fn scraped(
        &self,
        interval: StdDuration,
        since_previous: Option<StdDuration>,
        error: Option<&ScrapeError>,
    );

    /// Job `job`'s targets were brought in line with discovery, which took `took`.
    fn pool_synced(&self, job: &str, took: StdDuration) {
        let _ = (job, took);
    }

    /// The storage refused samples of a scrape of `target` (its scrape URL) in job `job`;
    /// called once per such scrape (also when the scrape then failed and was rolled back,
    /// as Prometheus counts those), before [`scraped`](Self::scraped), and never with
    /// nothing refused.
    fn samples_rejected(&self, job: &str, target: &str, rejected: &Rejected) {
        let _ = (job, target, rejected);
    }
}

fn now_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How far a scrape may start from its schedule and still be stored at the scheduled time
/// (Prometheus's `--scrape.timestamp-tolerance` default), at most 1% of the interval.
pub const SCRAPE_TIMESTAMP_TOLERANCE_MS: i64 = 2;

/// The timestamp a scrape starting at `now` is stored at, as Prometheus's
/// `--scrape.adjust-timestamps` (on by default) makes it: timer jitter of a millisecond or two
/// would otherwise give every sample an irregular interval, which costs 16 bits of timestamp
/// per sample instead of 1 in the chunks and slows reading them.
///
/// `schedule` is the loop's schedule point: the first scrape's time, moved on by whole
/// intervals to the last one at or before `now`. A scrape within the tolerance after it is
/// stored at the schedule point; a later one (a slow tick) at its own time.
fn aligned_scrape_time(schedule: &mut Option<i64>, now: i64, interval_ms: i64) -> i64 {
    let interval = interval_ms.max(1);
    let Some(at) = schedule else {
        *schedule = Some(now);
        return now;
    };
    if now - *at >= interval {
        // Skipped ticks, or just the next one: whole intervals, as many as have passed.
        *at += (now - *at) / interval * interval;
    }
    let tolerance = (interval / 100).min(SCRAPE_TIMESTAMP_TOLERANCE_MS);
    if now - *at <= tolerance { *at } else { now }
}

/// Fetches a target's exposition: the body (decompressed) and its Content-Type.
pub async fn fetch(
    client: &HttpClient,
    cfg: &ScrapeConfig,
    url: &str,
) -> Result<(Vec<u8>, Option<String>), ScrapeError> {
    let timeout = cfg.scrape_timeout.to_std();
    let mut req = client
        .get(url)
        .map_err(|e| ScrapeError::Http(e.to_string()))?
        .header("Accept", accept_header(&cfg.scrape_protocols))
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", timeout.as_secs_f64()),
        );
    if !cfg.enable_compression {
        req = req.header("Accept-Encoding", "identity");
    }
    let limit = cfg.limits.body_size_limit.0;
    let work = async {
        let mut resp = req
            .send()
            .await
            .map_err(|e| ScrapeError::Http(http_error(&e)))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(ScrapeError::Http(format!(
                "server returned HTTP status {status}"
            )));
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Sized from Content-Length when the target sends one (bounded by the limit), so the
        // body is not regrown and copied chunk by chunk.
        let expect = resp.content_length().unwrap_or(0);
        let cap = if limit > 0 {
            expect.min(limit)
        } else {
            expect.min(64 << 20)
        };
        let mut body = Vec::with_capacity(cap as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ScrapeError::Http(http_error(&e)))?
        {
            if limit > 0 && (body.len() + chunk.len()) as u64 > limit {
                return Err(ScrapeError::BodySizeLimit(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, ct))
    };
    // One deadline for the request and the whole body.
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError::Http(format!(
            "Get \"{url}\": context deadline exceeded (timeout {}s)",
            timeout.as_secs_f64()
        ))),
    }
}

fn http_error(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    if e.is_timeout() {
        s.push_str(" (context deadline exceeded)");
    }
    s
}

/// A running scrape loop.
#[derive(Debug)]
struct LoopHandle {
    target: Target,
    status: Arc<Mutex<TargetStatus>>,
    stop: watch::Sender<Option<bool>>,
    task: JoinHandle<()>,
}

impl LoopHandle {
    /// Asks the loop to stop, writing staleness markers when `stale`.
    fn stop(&self, stale: bool) {
        let _ = self.stop.send(Some(stale));
    }
}

/// Runs one target's loop until told to stop.
#[allow(clippy::too_many_arguments)]
async fn scrape_loop(
    cfg: Arc<ScrapeConfig>,
    target: Target,
    client: HttpClient,
    storage: Arc<dyn Appendable>,
    status: Arc<Mutex<TargetStatus>>,
    forced: Arc<Mutex<Option<String>>>,
    mut stop: watch::Receiver<Option<bool>>,
    first_delay: StdDuration,
    observer: Option<Arc<dyn ScrapeObserver>>,
) {
    let url = target.url();
    let mut scraper = Scraper::new(cfg.clone(), &target);
    let interval = cfg
        .scrape_interval
        .to_std()
        .max(StdDuration::from_millis(1));
    let start = tokio::time::Instant::now() + first_delay;
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut previous: Option<Instant> = None;
    let mut schedule: Option<i64> = None;
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = stop.changed() => {
                let stale = r.is_err() || stop.borrow().unwrap_or(false);
                if stale {
                    let mut app = storage.appender();
                    scraper.end(app.as_mut(), now_ms(SystemTime::now()));
                    let _ = app.commit();
                }
                return;
            }
        }
        let started = SystemTime::now();
        let t = aligned_scrape_time(&mut schedule, now_ms(started), interval_ms);
        let clock = Instant::now();
        let since_previous = previous.map(|p| clock.duration_since(p));
        previous = Some(clock);
        let forced_err = forced.lock().expect("forced lock").clone();
        let fetched = match forced_err {
            Some(e) => Err(ScrapeError::TargetLimit(e)),
            None => fetch(&client, &cfg, &url).await,
        };
        let mut app = storage.appender();
        let mut body_len = 0;
        let (stats, err) = match fetched {
            Ok((body, ct)) => {
                body_len = body.len() as u64;
                match negotiate(ct.as_deref(), cfg.fallback_scrape_protocol) {
                    Err(e) => (
                        ScrapeStats::default(),
                        Some(ScrapeError::ContentType(e.to_string())),
                    ),
                    Ok(n) => match scraper.append(app.as_mut(), &body, n.format, t) {
                        Ok(stats) => (stats, None),
                        Err(e) => {
                            let _ = app.rollback();
                            // Only the refusals of the failed scrape are kept: the report
                            // series say it brought nothing.
                            let stats = ScrapeStats {
                                rejected: scraper.last_rejected(),
                                ..ScrapeStats::default()
                            };
                            (stats, Some(e))
                        }
                    },
                }
            }
            Err(e) => (ScrapeStats::default(), Some(e)),
        };
        if err.is_some() {
            scraper.append_failed(app.as_mut(), t);
        }
        let duration = clock.elapsed();
        scraper.report(
            app.as_mut(),
            t,
            err.is_none(),
            duration.as_secs_f64(),
            &stats,
            body_len,
        );
        let commit = app
            .commit()
            .map_err(|e| ScrapeError::Storage(e.to_string()));
        let err = err.or(commit.err());
        if let Some(o) = &observer {
            if stats.rejected.total() > 0 {
                o.samples_rejected(&cfg.job_name, &url, &stats.rejected);
            }
            o.scraped(interval, since_previous, err.as_ref());
        }
        let mut st = status.lock().expect("status lock");
        st.health = if err.is_none() {
            Health::Up
        } else {
            Health::Down
        };
        st.last_scrape = Some(started);
        st.last_duration = duration;
        st.last_error = err.map(|e| e.to_string()).unwrap_or_default();
        st.last_samples = stats.scraped;
        st.series = scraper.cached_series();
        if st.metadata.len() != scraper.metadata().len() {
            st.metadata = scraper.metadata().clone();
        }
    }
}

/// The loops of one job.
#[derive(Debug)]
struct Pool {
    cfg: Arc<ScrapeConfig>,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<Labels>,
    /// Discovered targets that could not be built (`instance N in group G: why`).
    errors: Vec<String>,
    forced: Arc<Mutex<Option<String>>>,
    discovery: Discovery,
}

/// The state the manager shares with its pools' sync tasks.
struct Shared {
    storage: Arc<dyn Appendable>,
    opts: ManagerOptions,
    pools: Mutex<HashMap<String, Pool>>,
    observer: Option<Arc<dyn ScrapeObserver>>,
}

/// Runs a pool per job and keeps them in step with discovery and configuration.
pub struct ScrapeManager {
    shared: Arc<Shared>,
    sync_tasks: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").finish_non_exhaustive()
    }
}

impl ScrapeManager {
    /// A manager writing into `storage`. Call [`apply_config`](Self::apply_config) from
    /// within a Tokio runtime.
    pub fn new(storage: Arc<dyn Appendable>, opts: ManagerOptions) -> ScrapeManager {
        Self::with_observer(storage, opts, None)
    }

    /// A manager whose loops report their timing to `observer`.
    pub fn with_observer(
        storage: Arc<dyn Appendable>,
        opts: ManagerOptions,
        observer: Option<Arc<dyn ScrapeObserver>>,
    ) -> ScrapeManager {
        ScrapeManager {
            shared: Arc::new(Shared {
                storage,
                opts,
                pools: Mutex::new(HashMap::new()),
                observer,
            }),
            sync_tasks: Mutex::new(HashMap::new()),
        }
    }

    /// Applies a configuration: new jobs start, removed jobs stop (their targets' series go
    /// stale), changed jobs restart, and jobs whose configuration did not change keep their
    /// loops untouched.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), String> {
        let mut tasks = self.sync_tasks.lock().expect("tasks lock");
        let mut pools = self.shared.pools.lock().expect("pools lock");
        let wanted: HashMap<&str, &ScrapeConfig> = cfg
            .scrape_configs
            .iter()
            .map(|j| (j.job_name.as_str(), j))
            .collect();
        let names: Vec<String> = pools.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|j| **j == *pools[&name].cfg);
            if !keep {
                let stale = !wanted.contains_key(name.as_str());
                if let Some(t) = tasks.remove(&name) {
                    t.abort();
                }
                if let Some(p) = pools.remove(&name) {
                    for l in p.loops.values() {
                        l.stop(stale);
                    }
                }
            }
        }
        for job in &cfg.scrape_configs {
            if pools.contains_key(&job.job_name) {
                continue;
            }
            let client = HttpClient::new(&job.http, None)
                .map_err(|e| format!("job {:?}: {e}", job.job_name))?;
            let discovery = Discovery::start(
                &job.service_discovery,
                self.shared.opts.file_poll,
                self.shared.opts.discovery_settle,
            );
            let mut updates = discovery.subscribe();
            pools.insert(
                job.job_name.clone(),
                Pool {
                    cfg: Arc::new(job.clone()),
                    loops: HashMap::new(),
                    dropped: Vec::new(),
                    errors: Vec::new(),
                    forced: Arc::new(Mutex::new(None)),
                    discovery,
                },
            );
            let shared = self.shared.clone();
            let name = job.job_name.clone();
            tasks.insert(
                job.job_name.clone(),
                tokio::spawn(async move {
                    loop {
                        let groups = updates.borrow_and_update().clone();
                        let began = Instant::now();
                        sync_pool(&shared, &name, &groups, &client);
                        if let Some(o) = &shared.observer {
                            o.pool_synced(&name, began.elapsed());
                        }
                        if updates.changed().await.is_err() {
                            return;
                        }
                    }
                }),
            );
        }
        Ok(())
    }

    /// Every active target, by job then labels.
    pub fn targets(&self) -> Vec<TargetInfo> {
        let pools = self.shared.pools.lock().expect("pools lock");
        let mut out = Vec::new();
        for (job, p) in pools.iter() {
            for l in p.loops.values() {
                out.push(TargetInfo {
                    job: job.clone(),
                    url: l.target.url(),
                    target: l.target.clone(),
                    interval: p.cfg.scrape_interval.to_std(),
                    timeout: p.cfg.scrape_timeout.to_std(),
                    status: l.status.lock().expect("status lock").clone(),
                });
            }
        }
        out.sort_by(|a, b| (&a.job, &a.target.labels).cmp(&(&b.job, &b.target.labels)));
        out
    }

    /// The targets relabeling dropped, by job (labels before relabeling).
    pub fn dropped_targets(&self) -> Vec<(String, Labels)> {
        let pools = self.shared.pools.lock().expect("pools lock");
        let mut out: Vec<(String, Labels)> = pools
            .iter()
            .flat_map(|(j, p)| p.dropped.iter().map(move |l| (j.clone(), l.clone())))
            .collect();
        out.sort();
        out
    }

    /// Discovered targets that could not be built, by job, with the reason.
    pub fn target_errors(&self) -> Vec<(String, String)> {
        let pools = self.shared.pools.lock().expect("pools lock");
        let mut out: Vec<(String, String)> = pools
            .iter()
            .flat_map(|(j, p)| p.errors.iter().map(move |e| (j.clone(), e.clone())))
            .collect();
        out.sort();
        out
    }

    /// The discovery providers of each job, with their status.
    pub fn discovery_status(&self) -> Vec<(String, Vec<ProviderInfo>)> {
        let pools = self.shared.pools.lock().expect("pools lock");
        pools
            .iter()
            .map(|(j, p)| (j.clone(), p.discovery.providers.clone()))
            .collect()
    }

    /// Stops every loop; with `stale`, their series get staleness markers.
    pub fn stop(&self, stale: bool) {
        for (_, t) in self.sync_tasks.lock().expect("tasks lock").drain() {
            t.abort();
        }
        let mut pools = self.shared.pools.lock().expect("pools lock");
        for (_, p) in pools.drain() {
            for l in p.loops.values() {
                l.stop(stale);
            }
        }
    }

    /// Stops every loop and waits for them to finish (staleness markers written when
    /// `stale`).
    pub async fn shutdown(&self, stale: bool) {
        for (_, t) in self.sync_tasks.lock().expect("tasks lock").drain() {
            t.abort();
        }
        let drained: Vec<Pool> = self
            .shared
            .pools
            .lock()
            .expect("pools lock")
            .drain()
            .map(|(_, p)| p)
            .collect();
        let mut handles = Vec::new();
        for p in drained {
            for (_, l) in p.loops {
                l.stop(stale);
                handles.push(l.task);
            }
        }
        for h in handles {
            let _ = h.await;
        }
    }
}

/// The time until a target's first scrape: its stable place in the interval.
fn first_delay(target: &Target, interval: StdDuration, seed: u64) -> StdDuration {
    let iv = interval.as_nanos().max(1) as u64;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let base = iv - now % iv;
    let offset = (target.labels.hash64() ^ seed) % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    StdDuration::from_nanos(next)
}

/// Reconciles a pool's loops with the job's current target groups.
fn sync_pool(
    shared: &Arc<Shared>,
    job: &str,
    groups: &[crate::config::TargetGroup],
    client: &HttpClient,
) {
    let mut pools = shared.pools.lock().expect("pools lock");
    let Some(pool) = pools.get_mut(job) else {
        return;
    };
    let cfg = pool.cfg.clone();
    let mut kept: HashMap<u64, Target> = HashMap::new();
    let mut dropped = Vec::new();
    let mut errors = Vec::new();
    for g in groups {
        let (targets, d, e) = targets_from_group(g, &cfg);
        for t in targets {
            kept.entry(t.labels.hash64()).or_insert(t);
        }
        dropped.extend(d);
        errors.extend(e.into_iter().map(|e| e.to_string()));
    }
    pool.errors = errors;
    let keep_dropped = cfg.limits.keep_dropped_targets;
    if keep_dropped > 0 {
        dropped.truncate(keep_dropped as usize);
    }
    pool.dropped = dropped;
    let limit = cfg.limits.target_limit;
    *pool.forced.lock().expect("forced lock") =
        (limit > 0 && kept.len() as u64 > limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {}, limit: {limit})",
                kept.len()
            )
        });
    let gone: Vec<u64> = pool
        .loops
        .keys()
        .filter(|h| !kept.contains_key(h))
        .copied()
        .collect();
    for h in gone {
        if let Some(l) = pool.loops.remove(&h) {
            l.stop(true);
        }
    }
    for (h, t) in kept {
        if pool.loops.contains_key(&h) {
            continue;
        }
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let (stop_tx, stop_rx) = watch::channel(None);
        let delay = if shared.opts.no_initial_offset {
            StdDuration::ZERO
        } else {
            first_delay(&t, cfg.scrape_interval.to_std(), shared.opts.offset_seed)
        };
        let task = tokio::spawn(scrape_loop(
            cfg.clone(),
            t.clone(),
            client.clone(),
            shared.storage.clone(),
            status.clone(),
            pool.forced.clone(),
            stop_rx,
            delay,
            shared.observer.clone(),
        ));
        pool.loops.insert(
            h,
            LoopHandle {
                target: t,
                status,
                stop: stop_tx,
                task,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prom_model::Labels;

    fn target(addr: &str) -> Target {
        Target {
            labels: Labels::from_pairs(&[("__address__", addr), ("job", "j")]),
            discovered: Labels::new(),
            params: Vec::new(),
        }
    }

    #[test]
    fn first_scrapes_spread_over_the_interval_at_a_stable_phase() {
        let iv = StdDuration::from_secs(10);
        let mut phases = Vec::new();
        for i in 0..50 {
            let t = target(&format!("host-{i}:9100"));
            let d = first_delay(&t, iv, 0);
            assert!(d <= iv, "{d:?}");
            // The phase (when in the interval the scrape happens) does not depend on when the
            // loop starts.
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let phase = (now + d).as_millis() % iv.as_millis();
            let again = first_delay(&t, iv, 0);
            let now2 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let phase2 = (now2 + again).as_millis() % iv.as_millis();
            assert!(
                phase.abs_diff(phase2) <= 5 || phase.abs_diff(phase2) >= 9_995,
                "{phase} {phase2}"
            );
            phases.push(phase);
        }
        phases.sort_unstable();
        // 50 targets over 10 s: no two thirds of them bunched into one second.
        let max_in_a_second = (0..10)
            .map(|s| phases.iter().filter(|p| **p / 1000 == s).count())
            .max()
            .unwrap();
        assert!(max_in_a_second < 33, "{phases:?}");
        // Another seed gives another phase.
        let t = target("host-0:9100");
        assert_ne!(
            first_delay(&t, iv, 0).as_millis() / 10,
            first_delay(&t, iv, 0x9e37_79b9_7f4a_7c15).as_millis() / 10
        );
    }

    #[test]
    fn scrape_times_within_the_tolerance_are_stored_on_schedule() {
        // (interval, [(scrape start, stored time)]), one schedule per interval.
        let cases: [(i64, &[(i64, i64)]); 3] = [
            (
                15_000,
                &[
                    (1_000_000, 1_000_000),
                    // 2 ms late: on schedule; 3 ms late: its own time.
                    (1_015_002, 1_015_000),
                    (1_030_003, 1_030_003),
                    // Early (before the next schedule point): its own time.
                    (1_044_999, 1_044_999),
                    (1_060_001, 1_060_000),
                    // Two ticks skipped: the schedule moves on by three intervals.
                    (1_105_000, 1_105_000),
                    (1_120_001, 1_120_000),
                ],
            ),
            // A 100 ms interval tolerates 1 ms, 1% of it.
            (100, &[(0, 0), (101, 100), (202, 202), (300, 300)]),
            // Below 100 ms there is no tolerance at all.
            (50, &[(0, 0), (51, 51), (100, 100)]),
        ];
        for (interval, scrapes) in cases {
            let mut schedule = None;
            for &(now, want) in scrapes {
                assert_eq!(
                    aligned_scrape_time(&mut schedule, now, interval),
                    want,
                    "interval {interval}, scrape at {now}"
                );
            }
        }
    }
}
