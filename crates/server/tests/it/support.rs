//! Helpers shared by the test modules: running `prom` (or a peer) and finding test data.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a finished process printed and how it exited.
#[derive(Debug)]
pub struct Output {
    /// The exit status code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program` with `args`, feeding it `stdin` (or nothing, closed).
pub fn run(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // Write from another thread so a child that talks before it has read everything cannot
    // deadlock against us.
    let writer = std::thread::spawn(move || {
        // A child that exits without reading all of stdin is not our failure to report.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for child");
    writer.join().expect("stdin writer");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the `prom` binary under test.
pub fn prom(args: &[&str], stdin: &[u8]) -> Output {
    run(env!("CARGO_BIN_EXE_prom"), args, stdin)
}

/// Writes `contents` to a fresh file named `name` in Cargo's scratch directory for tests.
pub fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prom-server-it");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write scratch file");
    path
}

/// This crate's own test data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The shared exposition conformance corpus, or `None` (with a note) when it is not there.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/exposition");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap_or(dir))
    } else {
        println!(
            "note: {} is absent; skipping the conformance payloads",
            dir.display()
        );
        None
    }
}

/// The conformance payloads with the `--format` each is in: `real/*` and
/// `textparse/*.prom.txt` are Prometheus text, `textparse/*.om.txt` OpenMetrics. Sorted.
pub fn conformance_payloads(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    for entry in files(&dir.join("real")) {
        out.push((entry, "text"));
    }
    for entry in files(&dir.join("textparse")) {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".prom.txt") {
            out.push((entry, "text"));
        } else if name.ends_with(".om.txt") {
            out.push((entry, "openmetrics"));
        }
    }
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// A peer server started by a test (Prometheus), killed when dropped, also when a test fails.
pub struct PeerServer {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 now (for peers that cannot report the port they bound).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Whether `program --version` runs and succeeds.
pub fn program_present(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether Debian's `prometheus` and `promtool` can be run.
pub fn prometheus_tools_present() -> bool {
    program_present("prometheus") && program_present("promtool")
}
