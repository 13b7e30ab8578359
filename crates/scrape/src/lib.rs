//! Pull-based collection as Prometheus users configure it: prometheus.yml, service
//! discovery, relabeling and scrape loops that write through any
//! [`prom_model::storage::Appendable`].
//!
//! This first layer is the configuration: [`config::Config`] decodes and validates a
//! prometheus.yml the way Prometheus 3 does, with errors that name the file and line.
//!
//! ```
//! use std::path::Path;
//! use prom_scrape::config::{Config, Duration, LoadOptions};
//!
//! let text = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n";
//! let cfg = Config::load_str(text, Path::new("."), LoadOptions::default(), &|_| None)?;
//! let job = cfg.job("node").expect("the job");
//! assert_eq!(job.scrape_interval, Duration::from_secs(15));
//! assert_eq!(job.scrape_timeout, Duration::from_secs(10));
//!
//! let bad = Config::load_str("scrape_configs:\n  - job_name: x\n    scrape_intervall: 1m\n", Path::new("."), LoadOptions::default(), &|_| None);
//! assert!(bad.unwrap_err().to_string().contains("line 3: field scrape_intervall not found"));
//! # Ok::<(), prom_scrape::config::ConfigError>(())
//! ```

mod cache;
pub mod config;
#[cfg(feature = "runtime")]
pub mod discovery;
#[cfg(feature = "runtime")]
pub mod http_client;
#[cfg(feature = "runtime")]
pub mod manager;
pub mod relabel;
pub mod scrape;
pub mod sd_file;
pub mod target;
pub mod yaml;
