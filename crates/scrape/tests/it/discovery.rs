//! Discovery providers against real files and a real local HTTP server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prom_scrape::config::{
    Duration as PromDuration, FileSdConfig, HttpSdConfig, SdConfig, TargetGroup,
};
use prom_scrape::discovery::Discovery;

use crate::support::{Response, serve};

fn targets(groups: &[TargetGroup]) -> Vec<String> {
    let mut t: Vec<String> = groups.iter().flat_map(|g| g.targets.clone()).collect();
    t.sort();
    t
}

/// Polls until `f` holds or 10 s pass.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_follows_edits_keeps_last_good_on_breakage_and_drops_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yml");
    let b = dir.path().join("b.json");
    std::fs::write(&a, "- targets: ['a:1', 'a:2']\n  labels: {env: prod}\n").unwrap();
    std::fs::write(&b, r#"[{"targets": ["b:1"]}]"#).unwrap();
    let sd = SdConfig::File(FileSdConfig {
        files: vec![
            format!("{}/*.yml", dir.path().display()),
            format!("{}/*.json", dir.path().display()),
        ],
        refresh_interval: PromDuration::from_secs(300),
    });
    let d = Discovery::start(&[sd], Duration::from_millis(50), Duration::from_millis(20));
    assert!(d.wait_ready(Duration::from_secs(5)).await);
    eventually("initial targets", || {
        targets(&d.groups()) == ["a:1", "a:2", "b:1"]
    })
    .await;
    let g = d.groups();
    let ga = g.iter().find(|g| g.targets[0] == "a:1").unwrap();
    assert!(ga.labels.contains(&("env".into(), "prod".into())));
    assert!(
        ga.labels
            .iter()
            .any(|(k, v)| k == "__meta_filepath" && v.ends_with("a.yml"))
    );

    // Edited: a group gone, one changed.
    std::fs::write(&a, "- targets: ['a:3']\n").unwrap();
    eventually("edit seen", || targets(&d.groups()) == ["a:3", "b:1"]).await;

    // Broken: the last good groups stay and the error is reported.
    std::fs::write(&a, "- targets: ['a:4'\n").unwrap();
    let status = d.providers[0].status.clone();
    eventually("error reported", || status.last_error().is_some()).await;
    assert!(
        status.last_error().unwrap().contains("a.yml"),
        "{:?}",
        status.last_error()
    );
    assert_eq!(targets(&d.groups()), ["a:3", "b:1"]);

    // Restored.
    std::fs::write(&a, "- targets: ['a:5']\n").unwrap();
    eventually("restored", || targets(&d.groups()) == ["a:5", "b:1"]).await;
    eventually("error cleared", || status.last_error().is_none()).await;

    // Removed file: its groups go.
    std::fs::remove_file(&b).unwrap();
    eventually("file removal", || targets(&d.groups()) == ["a:5"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sd_fetches_groups_and_keeps_them_through_failures() {
    let body = Arc::new(Mutex::new((
        200u16,
        r#"[{"targets": ["h:1"], "labels": {"x": "y"}}, {"targets": ["h:2"]}]"#.to_owned(),
    )));
    let seen_header = Arc::new(Mutex::new(None));
    let (b, s) = (body.clone(), seen_header.clone());
    let addr = serve(Arc::new(move |req| {
        *s.lock().unwrap() = req
            .header("X-Prometheus-Refresh-Interval-Seconds")
            .map(str::to_owned);
        let (status, text) = b.lock().unwrap().clone();
        if status != 200 {
            return Response::status(status);
        }
        Response::ok("application/json", text)
    }))
    .await;
    let url = format!("http://{addr}/sd");
    let sd = SdConfig::Http(Box::new(HttpSdConfig {
        url: url.clone(),
        refresh_interval: PromDuration(100),
        http: Default::default(),
    }));
    let d = Discovery::start(&[sd], Duration::from_millis(50), Duration::from_millis(10));
    assert!(d.wait_ready(Duration::from_secs(5)).await);
    eventually("groups", || targets(&d.groups()) == ["h:1", "h:2"]).await;
    assert!(
        d.groups()
            .iter()
            .all(|g| g.labels.contains(&("__meta_url".into(), url.clone())))
    );
    assert_eq!(seen_header.lock().unwrap().as_deref(), Some("0"));

    *body.lock().unwrap() = (500, String::new());
    let status = d.providers[0].status.clone();
    eventually("failure recorded", || {
        status.last_error().is_some_and(|e| e.contains("500"))
    })
    .await;
    assert_eq!(
        targets(&d.groups()),
        ["h:1", "h:2"],
        "last good groups kept"
    );

    *body.lock().unwrap() = (200, r#"[{"targets": ["h:3"]}]"#.to_owned());
    eventually("recovered with fewer groups", || {
        targets(&d.groups()) == ["h:3"]
    })
    .await;
}
