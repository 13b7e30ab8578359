//! `prom`: the monitoring server and its tooling. See the `prom_server` library for the code.

use std::process::ExitCode;

use clap::Parser as _;
use prom_server::cli::{Cli, run};

fn main() -> ExitCode {
    run(Cli::parse())
}
