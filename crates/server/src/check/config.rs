//! `prom check config`: validates prometheus.yml files as `promtool check config` does.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use prom_model::LabelsBuilder;
use prom_scrape::config::{Config, LoadOptions, SdConfig, glob_files};
use prom_scrape::relabel;
use prom_scrape::target::{ADDRESS_LABEL, SCHEME_LABEL, check_address, targets_from_group};

use crate::error::Result;

/// Arguments of `prom check config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Only check the syntax and the values, not that the files it names exist.
    #[arg(long)]
    pub syntax_only: bool,
    /// Check as an agent-mode configuration (no alerting, rule_files or remote_read).
    #[arg(long)]
    pub agent: bool,
    /// The configuration files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// What a full check found besides errors: warnings to print.
fn check_files(cfg: &Config) -> std::result::Result<(usize, Vec<String>), String> {
    let mut warnings = Vec::new();
    let mut rules = 0;
    for pattern in &cfg.rule_files {
        let found = glob_files(pattern);
        if found.is_empty() && !pattern.contains(['*', '?', '[']) {
            return Err(format!("{pattern:?} does not point to an existing file"));
        }
        rules += found.len();
    }
    let mut http = Vec::new();
    for j in &cfg.scrape_configs {
        http.push(&j.http);
        for sd in &j.service_discovery {
            match sd {
                SdConfig::Static(g) => {
                    let (_, _, errors) = targets_from_group(g, j);
                    if let Some(e) = errors.into_iter().next() {
                        return Err(e.to_string());
                    }
                }
                SdConfig::File(f) => {
                    for p in &f.files {
                        if glob_files(p).is_empty() {
                            warnings.push(format!(
                                "WARNING: file {p:?} for file_sd in scrape job {:?} does not exist",
                                j.job_name
                            ));
                        }
                    }
                }
                SdConfig::Http(h) => http.push(&h.http),
                _ => {}
            }
        }
    }
    for am in &cfg.alerting.alertmanagers {
        http.push(&am.http);
        for sd in &am.service_discovery {
            let SdConfig::Static(g) = sd else { continue };
            for addr in &g.targets {
                let mut lb = LabelsBuilder::new();
                lb.set(ADDRESS_LABEL, addr);
                lb.set(SCHEME_LABEL, &am.scheme);
                if !relabel::process(&mut lb, &am.relabel_configs) {
                    continue;
                }
                check_address(lb.get(ADDRESS_LABEL).unwrap_or("")).map_err(|e| e.to_string())?;
            }
        }
    }
    for h in http {
        for (what, file) in h.files() {
            if let Err(e) = std::fs::metadata(&file) {
                return Err(format!(
                    "error checking {what} file {file:?}: stat {file}: {}",
                    io_reason(&e)
                ));
            }
        }
    }
    Ok((rules, warnings))
}

/// The OS reason without Rust's " (os error N)" suffix, as Go prints it.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_ascii_lowercase(),
        None => s,
    }
}

/// Runs `prom check config`; exit status 0 when every file is valid, 1 otherwise.
pub fn run(args: &ConfigArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let mut failed = false;
    for file in &args.files {
        let _ = writeln!(out, "Checking {}", file.display());
        let cfg = match Config::load_file(file, LoadOptions { agent: args.agent }) {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(err, "  FAILED: {e}");
                let _ = writeln!(err);
                failed = true;
                continue;
            }
        };
        if !args.syntax_only {
            match check_files(&cfg) {
                Ok((rules, warnings)) => {
                    for w in warnings {
                        let _ = writeln!(err, "  {w}");
                    }
                    if !cfg.rule_files.is_empty() {
                        let _ = writeln!(out, "  SUCCESS: {rules} rule files found");
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "  FAILED: {e}");
                    let _ = writeln!(err);
                    failed = true;
                    continue;
                }
            }
        }
        let _ = writeln!(
            out,
            " SUCCESS: {} is valid prometheus config file syntax",
            display(file)
        );
        let _ = writeln!(out);
    }
    Ok(u8::from(failed))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
