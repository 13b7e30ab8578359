//! Scraping the real node_exporter (Debian package `prometheus-node-exporter`) into prom-tsdb.
//!
//! Runs when the exporter is installed; with `PROM_INTEROP=1` (as `.ci/run` sets it) a missing
//! exporter is a failure instead of a skip.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use prom_model::storage::{Querier, Queryable};
use prom_model::value::is_stale_nan;
use prom_model::{Labels, Matcher, Sample};
use prom_scrape::config::{Config, LoadOptions};
use prom_scrape::manager::{Health, ManagerOptions, ScrapeManager};
use prom_tsdb::{Db, Options};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn select(db: &Db, m: &[Matcher]) -> Vec<(Labels, Vec<Sample>)> {
    let q = Queryable::querier(db, i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(true, None, m);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut samples = Vec::new();
        let mut it = s.samples;
        while it.next() {
            samples.push(it.at());
        }
        out.push((s.labels, samples));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_is_scraped_into_prom_tsdb_and_read_back() {
    let have = Command::new("prometheus-node-exporter")
        .arg("--version")
        .output()
        .is_ok();
    if !have {
        assert!(
            std::env::var("PROM_INTEROP").as_deref() != Ok("1"),
            "PROM_INTEROP=1 but prometheus-node-exporter cannot be run; install the Debian package"
        );
        println!("skipped: prometheus-node-exporter not found");
        return;
    }
    let port = free_port();
    let _exporter = Kill(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path().join("data"), Options::default()).unwrap());
    let cfg = Config::load_str(
        &format!(
            "scrape_configs:\n  - job_name: node\n    scrape_interval: 500ms\n    scrape_timeout: 450ms\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
        Path::new("."),
        LoadOptions::default(),
        &|_| None,
    )
    .unwrap();
    let m = ScrapeManager::new(
        db.clone(),
        ManagerOptions {
            no_initial_offset: true,
            discovery_settle: Duration::from_millis(10),
            ..ManagerOptions::default()
        },
    );
    m.apply_config(&cfg).unwrap();
    let mut scrapes = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let up = select(&db, &[Matcher::equal("__name__", "up")]);
        scrapes = up
            .first()
            .map_or(0, |(_, s)| s.iter().filter(|x| x.v == 1.0).count());
        if scrapes >= 3 {
            break;
        }
    }
    let t = m.targets();
    assert!(
        scrapes >= 3,
        "three successful scrapes: {:?}",
        t.first().map(|t| &t.status)
    );
    assert_eq!(t[0].status.health, Health::Up);
    m.shutdown(false).await;

    let all = select(&db, &[Matcher::equal("job", "node")]);
    assert!(
        all.len() > 100,
        "node_exporter exposes hundreds of series, got {}",
        all.len()
    );
    for name in [
        "node_cpu_seconds_total",
        "node_load1",
        "node_memory_MemTotal_bytes",
        "scrape_duration_seconds",
    ] {
        let s = select(&db, &[Matcher::equal("__name__", name)]);
        assert!(!s.is_empty(), "{name}");
        assert_eq!(
            s[0].0.get("instance"),
            Some(format!("127.0.0.1:{port}").as_str())
        );
        assert!(s[0].1.len() >= 3, "{name}: {} samples", s[0].1.len());
    }
    let mem = select(
        &db,
        &[Matcher::equal("__name__", "node_memory_MemTotal_bytes")],
    );
    assert!(mem[0].1.iter().all(|x| x.v > 1e6 && !is_stale_nan(x.v)));
    let samples = select(&db, &[Matcher::equal("__name__", "scrape_samples_scraped")]);
    assert!(samples[0].1.last().unwrap().v as usize >= all.len() - 5);
    // Metadata came along.
    assert!(t[0].status.metadata.contains_key("node_cpu_seconds_total"));
}
