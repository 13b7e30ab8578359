//! `prom check web-config`: validates web configuration files exactly as
//! `prom serve --web.config.file` loads them (like `promtool check web-config`): the YAML, the
//! values, the certificate, key and client CA files, and the bcrypt hashes.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::serve::web::WebConfig;

/// Arguments of `prom check web-config`.
#[derive(Debug, Args)]
pub struct WebConfigArgs {
    /// The web configuration files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Prints `FILE SUCCESS` or `FILE FAILED: reason` per file on stderr, as promtool does; exit
/// status 1 when any failed.
pub fn run(args: &WebConfigArgs) -> Result<u8> {
    let mut failed = false;
    for f in &args.files {
        match WebConfig::load(f) {
            Ok(_) => eprintln!("{} SUCCESS", f.display()),
            Err(e) => {
                eprintln!("{} FAILED: {e}", f.display());
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}
