//! What this build of prom is, as `/api/v1/status/buildinfo` and `prometheus_build_info`
//! report it. `build.rs` fills in the git and compiler details, or "unknown".

/// prom's own version (`CARGO_PKG_VERSION`, semver).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit built, or "unknown".
pub const REVISION: &str = env!("PROM_BUILD_REVISION");
/// The git branch built, or "unknown".
pub const BRANCH: &str = env!("PROM_BUILD_BRANCH");
/// `user@host` of the build, or "unknown".
pub const BUILD_USER: &str = env!("PROM_BUILD_USER");
/// When the build script ran (or `SOURCE_DATE_EPOCH`), as `20060102-15:04:05` UTC.
pub const BUILD_DATE: &str = env!("PROM_BUILD_DATE");
/// `rustc --version` of the compiler, or "unknown"; reported where Prometheus reports its Go
/// version.
pub const COMPILER: &str = env!("PROM_BUILD_RUSTC");
