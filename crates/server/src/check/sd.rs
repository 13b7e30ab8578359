//! `prom check service-discovery`: runs a job's discovery once and prints its targets'
//! labels before and after relabeling, as JSON shaped like promtool's.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use prom_model::Labels;
use prom_scrape::config::{Config, LoadOptions};
use prom_scrape::discovery::Discovery;
use prom_scrape::target::{Outcome, group_outcomes};
use serde_json::{Map, Value, json};

use crate::error::Result;

/// Arguments of `prom check service-discovery`.
#[derive(Debug, Args)]
pub struct SdArgs {
    /// How long to wait for the discovery's first results (Prometheus duration).
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// The configuration file.
    pub config: PathBuf,
    /// The job whose targets to discover.
    pub job: String,
}

fn labels_json(l: &Labels) -> Value {
    let mut m = Map::new();
    for x in l.iter() {
        m.insert(x.name.to_owned(), Value::String(x.value.to_owned()));
    }
    Value::Object(m)
}

/// Runs `prom check service-discovery`: exit 0 after printing the targets, 1 on a bad
/// configuration or unknown job.
pub fn run(args: &SdArgs) -> Result<u8> {
    let timeout: prom_scrape::config::Duration = match args.timeout.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("invalid --timeout: {e}");
            return Ok(1);
        }
    };
    let cfg = match Config::load_file(&args.config, LoadOptions::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Checking {}\n  FAILED: {e}", args.config.display());
            return Ok(1);
        }
    };
    let Some(job) = cfg.job(&args.job) else {
        eprintln!("Job {:?} not found in {}", args.job, args.config.display());
        return Ok(1);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let groups = rt.block_on(async {
        let d = Discovery::start(
            &job.service_discovery,
            Duration::from_secs(1),
            Duration::from_millis(100),
        );
        for p in &d.unsupported {
            eprintln!("note: {p}_sd_configs are validated but not run by this build");
        }
        if !d.wait_ready(timeout.to_std()).await {
            eprintln!("note: discovery did not complete within {timeout}; showing what it found");
        }
        // Let the merger publish the last batch it took in.
        tokio::time::sleep(Duration::from_millis(150)).await;
        for p in &d.providers {
            if let Some(e) = p.status.last_error() {
                eprintln!("{} discovery error: {e}", p.name);
            }
        }
        d.groups()
    });
    let mut out = Vec::new();
    for g in groups.iter() {
        for o in group_outcomes(g, job) {
            out.push(match o {
                Outcome::Kept(t) => json!({
                    "discoveredLabels": labels_json(&t.discovered),
                    "labels": labels_json(&t.labels),
                }),
                Outcome::Dropped(d) => json!({
                    "discoveredLabels": labels_json(&d),
                    "labels": {},
                }),
                Outcome::Failed(e) => json!({
                    "discoveredLabels": {},
                    "labels": {},
                    "error": e.to_string(),
                }),
            });
        }
    }
    let text = serde_json::to_string_pretty(&Value::Array(out)).expect("JSON");
    println!("{text}");
    Ok(0)
}
