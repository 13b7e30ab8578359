//! prometheus.yml and target-group documents: decode arbitrary text as a whole configuration
//! and as file_sd YAML and JSON, and check what must hold for anything that loads.

use std::path::Path;

use prom_scrape::config::{Config, LoadOptions};
use prom_scrape::sd_file::{groups_from_json, groups_from_yaml};

/// Decodes `data` every way; panics only if a decoder panics or an invariant breaks.
pub fn decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for agent in [false, true] {
        match Config::load_str(text, Path::new("/nonexistent"), LoadOptions { agent }, &|_| None) {
            Ok(cfg) => {
                for j in &cfg.scrape_configs {
                    assert!(!j.job_name.is_empty());
                    assert!(j.scrape_timeout <= j.scrape_interval, "{}", j.job_name);
                }
                assert!(cfg.global.scrape_timeout <= cfg.global.scrape_interval);
            }
            Err(e) => {
                // Every error renders.
                let _ = e.to_string();
            }
        }
    }
    if let Ok(groups) = groups_from_yaml(text) {
        for g in groups {
            assert!(g.labels.iter().all(|(k, _)| !k.is_empty()));
        }
    }
    let _ = groups_from_json(text);
}
