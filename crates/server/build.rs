//! Records what `/api/v1/status/buildinfo` and `prometheus_build_info` report about this
//! build: the git revision and branch, who built it and when, and the compiler. Every probe
//! falls back to "unknown", so a build without git (a source tarball) or without a `rustc
//! --version` still succeeds.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let git = |args: &[&str]| run("git", args);
    let revision = git(&["rev-parse", "HEAD"]);
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch's ref (a commit).
    if revision.is_some() {
        for name in ["HEAD", "packed-refs"] {
            watch(git(&["rev-parse", "--git-path", name]));
        }
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(git(&["rev-parse", "--git-path", &r]));
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = run(&rustc, &["--version"]);
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .or_else(|| run("whoami", &[]));
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok());
    let build_user = match (user, host) {
        (Some(u), Some(h)) => Some(format!("{u}@{h}")),
        (Some(u), None) => Some(u),
        _ => None,
    };
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        });
    let set = |key: &str, v: Option<String>| {
        println!(
            "cargo:rustc-env={key}={}",
            v.unwrap_or_else(|| "unknown".to_owned())
        );
    };
    set("PROM_BUILD_REVISION", revision);
    set("PROM_BUILD_BRANCH", branch);
    set("PROM_BUILD_USER", build_user);
    set("PROM_BUILD_DATE", secs.map(build_date));
    set("PROM_BUILD_RUSTC", rustc_version);
}

/// A command's first line of output, if it ran and succeeded.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().next()?.trim().to_owned();
    (!line.is_empty()).then_some(line)
}

fn watch(path: Option<String>) {
    if let Some(p) = path
        && Path::new(&p).exists()
    {
        println!("cargo:rerun-if-changed={p}");
    }
}

/// Unix seconds as Prometheus prints its build date: `20060102-15:04:05` in UTC.
fn build_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}
