//! The rule manager: holds the groups, swaps them on reload while keeping the state of
//! unchanged rules, and runs each group on its schedule.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use prom_model::{Labels, MemoryStorage};
//! use prom_promql::Engine;
//! use prom_rules::alerting::AlertingRule;
//! use prom_rules::clock::ManualClock;
//! use prom_rules::group::Group;
//! use prom_rules::manager::{Manager, ManagerOptions};
//! use prom_rules::notifier::{Alert, Notifier};
//! use prom_rules::recording::RecordingRule;
//!
//! #[derive(Default)]
//! struct Inbox(Mutex<Vec<Alert>>);
//! impl Notifier for Inbox {
//!     fn send(&self, alerts: Vec<Alert>) {
//!         self.0.lock().unwrap().extend(alerts);
//!     }
//! }
//!
//! let db = Arc::new(MemoryStorage::new());
//! let inbox = Arc::new(Inbox::default());
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let opts = ManagerOptions::new(Arc::new(Engine::default()), db.clone(), db.clone(), inbox.clone())
//!     .clock(clock.clone())
//!     .external_url("http://prometheus:9090");
//! let manager = Manager::new(opts);
//!
//! let rules = vec![
//!     RecordingRule::new("two", prom_promql::parse("1 + 1")?, vec![]).into(),
//!     AlertingRule::new("TooMuch", prom_promql::parse("two > 1")?, 0, 0, vec![], vec![]).into(),
//! ];
//! manager.update(vec![Group::new("example", "rules.yml", 60_000, rules)])?;
//!
//! // Move the clock to the group's first slot and run what is due.
//! let due = manager.next_due().unwrap();
//! clock.set(due);
//! assert_eq!(manager.run_pending(), 1);
//!
//! let two = db.samples(&Labels::from_pairs(&[("__name__", "two")]));
//! assert_eq!((two[0].t, two[0].v), (due, 2.0));
//! // The alerting rule saw the recording rule's result of the same cycle.
//! let sent = inbox.0.lock().unwrap();
//! assert_eq!(sent[0].labels.to_string(), r#"{alertname="TooMuch"}"#);
//! assert_eq!(sent[0].generator_url, "http://prometheus:9090/graph?g0.expr=two+%3E+1&g0.tab=1");
//! assert_eq!(manager.groups()[0].to_json()["rules"][1]["state"], "firing");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prom_model::{Appendable, Labels, Queryable, Timestamp};

use crate::clock::{Clock, SystemClock};
use crate::group::{Group, write_stale_markers};
use crate::notifier::Notifier;
use crate::rule::{Expander, IdentityExpander, RuleEngine};
use crate::snapshot::{AlertSnapshot, GroupSnapshot};

/// What rule evaluation runs against, and its settings.
///
/// Defaults (from [`new`](Self::new)): the identity [`Expander`], the [`SystemClock`], no
/// external URL, `resend_delay` 1m, `outage_tolerance` 1h, `for_grace_period` 10m,
/// `rule_query_offset` 0, new groups added by a reload not restored.
#[derive(Clone)]
pub struct ManagerOptions {
    /// Evaluates rule expressions.
    pub engine: Arc<dyn RuleEngine>,
    /// What expressions, templates and `for` state restoration read.
    pub queryable: Arc<dyn Queryable>,
    /// Where recording rule results and `ALERTS` series are written.
    pub appendable: Arc<dyn Appendable>,
    /// Where alerts are sent.
    pub notifier: Arc<dyn Notifier>,
    /// Expands alert label and annotation templates.
    pub expander: Arc<dyn Expander>,
    /// The wall clock schedules follow.
    pub clock: Arc<dyn Clock>,
    /// The server's external URL, prefixed to alerts' generator URLs (no trailing slash).
    pub external_url: String,
    /// How often a firing or resolved alert is sent again (ms; default 1m).
    pub resend_delay_ms: i64,
    /// How far back `for` state is restored from after a restart (ms; default 1h).
    pub outage_tolerance_ms: i64,
    /// The least time an alert waits before firing after `for` state is restored (ms;
    /// default 10m).
    pub for_grace_period_ms: i64,
    /// The query offset of groups without their own `query_offset` (ms; default 0).
    pub rule_query_offset_ms: i64,
    /// Whether groups added by a reload restore `for` state too (default: only the groups of
    /// the first load do).
    pub restore_new_rule_groups: bool,
}

impl ManagerOptions {
    /// Options with the defaults listed on the type.
    pub fn new(
        engine: Arc<dyn RuleEngine>,
        queryable: Arc<dyn Queryable>,
        appendable: Arc<dyn Appendable>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        ManagerOptions {
            engine,
            queryable,
            appendable,
            notifier,
            expander: Arc::new(IdentityExpander),
            clock: Arc::new(SystemClock),
            external_url: String::new(),
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            rule_query_offset_ms: 0,
            restore_new_rule_groups: false,
        }
    }

    /// Sets the template expander.
    pub fn expander(mut self, expander: Arc<dyn Expander>) -> Self {
        self.expander = expander;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the external URL (a trailing slash is dropped).
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        let mut url = url.into();
        while url.ends_with('/') {
            url.pop();
        }
        self.external_url = url;
        self
    }

    /// Sets the resend delay (ms).
    pub fn resend_delay_ms(mut self, ms: i64) -> Self {
        self.resend_delay_ms = ms;
        self
    }

    /// Sets the outage tolerance (ms).
    pub fn outage_tolerance_ms(mut self, ms: i64) -> Self {
        self.outage_tolerance_ms = ms;
        self
    }

    /// Sets the `for` grace period (ms).
    pub fn for_grace_period_ms(mut self, ms: i64) -> Self {
        self.for_grace_period_ms = ms;
        self
    }

    /// Sets the default query offset (ms).
    pub fn rule_query_offset_ms(mut self, ms: i64) -> Self {
        self.rule_query_offset_ms = ms;
        self
    }

    /// Sets whether groups added by a reload restore `for` state.
    pub fn restore_new_rule_groups(mut self, yes: bool) -> Self {
        self.restore_new_rule_groups = yes;
        self
    }
}

impl fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("external_url", &self.external_url)
            .field("resend_delay_ms", &self.resend_delay_ms)
            .field("outage_tolerance_ms", &self.outage_tolerance_ms)
            .field("for_grace_period_ms", &self.for_grace_period_ms)
            .field("rule_query_offset_ms", &self.rule_query_offset_ms)
            .field("restore_new_rule_groups", &self.restore_new_rule_groups)
            .finish_non_exhaustive()
    }
}

/// Why [`Manager::update`] refused a set of groups. Nothing is changed then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// Two groups have the same file and name.
    #[error("{file}: groupname: \"{name}\" is repeated in the same file")]
    DuplicateGroup {
        /// The file.
        file: String,
        /// The group name.
        name: String,
    },
    /// A group's interval is not positive.
    #[error("{file}: group \"{name}\": interval must be positive, got {interval_ms}ms")]
    InvalidInterval {
        /// The file.
        file: String,
        /// The group name.
        name: String,
        /// The interval given.
        interval_ms: i64,
    },
}

struct Entry {
    group: Mutex<Group>,
    /// The group as of its last evaluation, so readers never wait for one to finish.
    snapshot: Mutex<Arc<GroupSnapshot>>,
    next_due: AtomicI64,
}

impl Entry {
    fn new(group: Group) -> Self {
        Entry {
            snapshot: Mutex::new(Arc::new(GroupSnapshot::of(&group))),
            next_due: AtomicI64::new(group.next_eval().unwrap_or(Timestamp::MIN)),
            group: Mutex::new(group),
        }
    }
}

/// Series of a removed group, to be marked stale once the rules that may have moved
/// elsewhere have had the chance to write them.
struct PendingStale {
    due: Timestamp,
    t: Timestamp,
    series: Vec<Labels>,
}

#[derive(Default)]
struct Inner {
    groups: BTreeMap<(String, String), Arc<Entry>>,
    /// Whether a first set of groups has been loaded.
    restored: bool,
    pending_stale: Vec<PendingStale>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every writer leaves the data consistent before anything that could panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs rule groups: [`update`](Self::update) installs a new set of groups,
/// [`run_pending`](Self::run_pending) evaluates those that are due by the clock, and with the
/// `runtime` feature [`run`](Self::run) does so on a Tokio timer.
pub struct Manager {
    opts: ManagerOptions,
    inner: Mutex<Inner>,
    #[cfg(feature = "runtime")]
    wake: tokio::sync::Notify,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("opts", &self.opts)
            .field("groups", &lock(&self.inner).groups.len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager without groups.
    pub fn new(opts: ManagerOptions) -> Self {
        Manager {
            opts,
            inner: Mutex::new(Inner::default()),
            #[cfg(feature = "runtime")]
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The options.
    pub fn options(&self) -> &ManagerOptions {
        &self.opts
    }

    /// Replaces the groups with `groups`, as a configuration reload does.
    ///
    /// - A group equal to a running one (same file, name, settings and rule definitions) keeps
    ///   running untouched, with its schedule.
    /// - A changed group takes over the state of the old one rule by rule (same name and
    ///   labels: alerts and written series) and is scheduled afresh.
    /// - A removed group's series are marked stale two of its intervals later, at the time of
    ///   removal, so a rule that moved to another group can claim them first.
    /// - The groups of the first load restore `for` state after their second evaluation.
    pub fn update(&self, groups: Vec<Group>) -> Result<(), ManagerError> {
        let mut keys = std::collections::HashSet::new();
        for g in &groups {
            if g.interval_ms() <= 0 {
                return Err(ManagerError::InvalidInterval {
                    file: g.file().to_owned(),
                    name: g.name().to_owned(),
                    interval_ms: g.interval_ms(),
                });
            }
            if !keys.insert((g.file(), g.name())) {
                return Err(ManagerError::DuplicateGroup {
                    file: g.file().to_owned(),
                    name: g.name().to_owned(),
                });
            }
        }
        let now = self.opts.clock.now_ms();
        let mut inner = lock(&self.inner);
        let should_restore = !inner.restored || self.opts.restore_new_rule_groups;
        let rules_restored = inner.restored;
        let mut old = std::mem::take(&mut inner.groups);
        let mut installed = BTreeMap::new();
        for mut g in groups {
            let key = (g.file().to_owned(), g.name().to_owned());
            if let Some(entry) = old.remove(&key) {
                let old_group = lock(&entry.group);
                if old_group.equals(&g) {
                    drop(old_group);
                    installed.insert(key, entry);
                    continue;
                }
                g.copy_state(&old_group);
            }
            g.should_restore = should_restore;
            g.set_rules_restored(rules_restored);
            g.schedule(now);
            installed.insert(key, Arc::new(Entry::new(g)));
        }
        for entry in old.into_values() {
            let g = lock(&entry.group);
            let series = g.all_series();
            if !series.is_empty() {
                inner.pending_stale.push(PendingStale {
                    due: now + 2 * g.interval_ms(),
                    t: now - g.effective_query_offset_ms(&self.opts),
                    series,
                });
            }
        }
        inner.groups = installed;
        inner.restored = true;
        drop(inner);
        #[cfg(feature = "runtime")]
        self.wake.notify_one();
        Ok(())
    }

    /// Evaluates every group whose next evaluation is due by the clock (several at once on
    /// their own threads) and writes the staleness markers of removed groups that are due.
    /// Returns how many groups were evaluated.
    pub fn run_pending(&self) -> usize {
        let now = self.opts.clock.now_ms();
        let (entries, stale) = {
            let mut inner = lock(&self.inner);
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.pending_stale)
                .into_iter()
                .partition(|p| p.due <= now);
            inner.pending_stale = later;
            let entries: Vec<Arc<Entry>> = inner
                .groups
                .values()
                .filter(|e| e.next_due.load(Ordering::SeqCst) <= now)
                .cloned()
                .collect();
            (entries, due)
        };
        for p in stale {
            write_stale_markers(&p.series, p.t, &self.opts);
        }
        match entries.as_slice() {
            [] => 0,
            [one] => usize::from(self.run_entry(one, now)),
            many => std::thread::scope(|s| {
                let handles: Vec<_> = many
                    .iter()
                    .map(|e| s.spawn(move || self.run_entry(e, now)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| usize::from(h.join().unwrap_or(false)))
                    .sum()
            }),
        }
    }

    fn run_entry(&self, entry: &Entry, now: Timestamp) -> bool {
        let mut g = lock(&entry.group);
        let ran = g.run_due(now, &self.opts);
        entry
            .next_due
            .store(g.next_eval().unwrap_or(Timestamp::MIN), Ordering::SeqCst);
        if ran {
            *lock(&entry.snapshot) = Arc::new(GroupSnapshot::of(&g));
        }
        ran
    }

    /// When something is next due: a group's evaluation or a removed group's staleness
    /// markers (ms), or `None` when there is nothing to do.
    pub fn next_due(&self) -> Option<Timestamp> {
        let inner = lock(&self.inner);
        let groups = inner
            .groups
            .values()
            .map(|e| e.next_due.load(Ordering::SeqCst));
        let stale = inner.pending_stale.iter().map(|p| p.due);
        groups.chain(stale).min()
    }

    /// The groups as of their last evaluation, sorted by file then name (as
    /// `/api/v1/rules` lists them).
    pub fn groups(&self) -> Vec<Arc<GroupSnapshot>> {
        let entries: Vec<Arc<Entry>> = lock(&self.inner).groups.values().cloned().collect();
        entries
            .iter()
            .map(|e| Arc::clone(&lock(&e.snapshot)))
            .collect()
    }

    /// Every pending and firing alert of every alerting rule (what `/api/v1/alerts` lists).
    pub fn alerts(&self) -> Vec<AlertSnapshot> {
        self.groups()
            .iter()
            .flat_map(|g| g.rules.iter())
            .flat_map(|r| r.alerts.iter().cloned())
            .collect()
    }

    /// Runs `f` on the live group `name` of `file`, waiting for a running evaluation of it to
    /// finish.
    pub fn with_group<R>(&self, file: &str, name: &str, f: impl FnOnce(&Group) -> R) -> Option<R> {
        let entry = lock(&self.inner)
            .groups
            .get(&(file.to_owned(), name.to_owned()))
            .cloned()?;
        let g = lock(&entry.group);
        Some(f(&g))
    }

    /// Whether a set of groups has been loaded (only the first load restores `for` state).
    pub fn loaded(&self) -> bool {
        lock(&self.inner).restored
    }
}

#[cfg(feature = "runtime")]
impl Manager {
    /// Evaluates the groups on schedule until `shutdown` completes. Evaluations run on Tokio's
    /// blocking pool; a reload through [`update`](Self::update) takes effect at once.
    ///
    /// The schedule follows the manager's clock, and the waits between evaluations are real
    /// time, so this is meant for the [`SystemClock`]; tests with a manual clock call
    /// [`run_pending`](Self::run_pending) instead.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait_ms = match self.next_due() {
                Some(due) => due.saturating_sub(self.opts.clock.now_ms()).max(0),
                None => 3_600_000,
            };
            let sleep = tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = sleep => {
                    let m = Arc::clone(&self);
                    // A panicking evaluation must not stop the others: the join error is
                    // dropped and the loop goes on.
                    let _ = tokio::task::spawn_blocking(move || m.run_pending()).await;
                }
            }
        }
    }
}
