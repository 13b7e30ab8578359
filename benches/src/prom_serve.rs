//! `prom serve` as a child process of a bench: the bench binary re-executes itself with
//! `--prom-serve` (so the server is the release build of the same code as the `prom` binary's
//! `serve`, without building that binary too).

use std::path::Path;
use std::time::Duration;

use crate::peers::{Peer, free_port};

/// The first argument that makes a bench binary act as `prom serve`.
pub const FLAG: &str = "--prom-serve";

/// If this process was started as `<bench> --prom-serve ARGS…`, runs `prom serve ARGS…` and
/// exits with its status; otherwise returns.
pub fn run_if_requested() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(FLAG) {
        return;
    }
    use clap::Parser as _;
    let mut argv = vec!["prom".to_owned(), "serve".to_owned()];
    argv.extend(args[2..].iter().cloned());
    let cli = prom_server::cli::Cli::parse_from(argv);
    std::process::exit(i32::from(
        prom_server::cli::run(cli) != std::process::ExitCode::SUCCESS,
    ));
}

/// Starts `prom serve` (this binary re-executed) with `args` on a free port, logging to
/// `log`, and waits until `/-/ready` answers.
pub fn start(name: &'static str, args: &[String], log: &Path) -> std::io::Result<Peer> {
    let me = std::env::current_exe()?;
    let port = free_port()?;
    let mut a = vec![FLAG.to_owned()];
    a.extend(args.iter().cloned());
    a.push(format!("--web.listen-address=127.0.0.1:{port}"));
    let program = me
        .to_str()
        .ok_or_else(|| std::io::Error::other("bench binary path is not UTF-8"))?;
    Peer::start(
        name,
        program,
        &a,
        port,
        log,
        "/-/ready",
        Duration::from_secs(120),
    )
}
