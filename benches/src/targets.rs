//! Synthetic scrape targets for the scraping and server benchmarks: one listener per target,
//! keep-alive HTTP/1.1, bodies regenerated per request (counters move every scrape).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One target's exposition at scrape `n`: 60% counters, histograms of 13 lines each
/// (10 buckets, `+Inf`, `_count`, `_sum`) for about 30%, gauges for the rest.
pub fn body(target: usize, series: usize, n: u64, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let counters = series * 6 / 10;
    let hists = series * 3 / 10 / 13;
    let gauges = series - counters - hists * 13;
    out.push_str(
        "# HELP app_requests_total Requests handled.\n# TYPE app_requests_total counter\n",
    );
    for i in 0..counters {
        let _ = writeln!(
            out,
            "app_requests_total{{handler=\"/api/v{}/item{}\",code=\"{}\",method=\"GET\"}} {}",
            i % 3,
            i / 3,
            200 + (i % 5) * 100,
            n * (i as u64 % 7 + 1) + target as u64
        );
    }
    out.push_str("# HELP app_queue_depth Items waiting.\n# TYPE app_queue_depth gauge\n");
    for i in 0..gauges {
        let v = ((n as usize * 31 + i * 17 + target) % 1000) as f64 / 10.0;
        let _ = writeln!(
            out,
            "app_queue_depth{{queue=\"q{i}\",shard=\"{}\"}} {v}",
            i % 4
        );
    }
    out.push_str("# HELP app_latency_seconds Latency.\n# TYPE app_latency_seconds histogram\n");
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ];
    for h in 0..hists {
        let mut acc = 0u64;
        for (b, le) in les.iter().enumerate() {
            acc += n * (b as u64 % 4);
            let _ = writeln!(
                out,
                "app_latency_seconds_bucket{{route=\"r{h}\",le=\"{le}\"}} {acc}"
            );
        }
        let _ = writeln!(out, "app_latency_seconds_count{{route=\"r{h}\"}} {acc}");
        let _ = writeln!(
            out,
            "app_latency_seconds_sum{{route=\"r{h}\"}} {}",
            acc as f64 * 0.07
        );
    }
}

/// The target server: one listener per target, keep-alive HTTP/1.1, bodies regenerated per
/// request. Prints the ports on one line, then serves until killed.
pub fn serve_targets(targets: usize, series: usize) {
    let mut ports = Vec::new();
    for t in 0..targets {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        ports.push(l.local_addr().expect("addr").port().to_string());
        let scrapes = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let scrapes = scrapes.clone();
                std::thread::spawn(move || serve_conn(conn, t, series, &scrapes));
            }
        });
    }
    println!("{}", ports.join(" "));
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn serve_conn(conn: TcpStream, target: usize, series: usize, scrapes: &AtomicU64) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut w = conn;
    let mut text = String::new();
    loop {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let n = scrapes.fetch_add(1, Ordering::Relaxed);
        body(target, series, n, &mut text);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

pub fn config(ports: &[String], interval: &str) -> String {
    let targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// The value of an unlabelled metric in an exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Re-executes `me` (a bench binary) with `PROM_BENCH_ROLE=targets`, which must call
/// [`serve_targets`]; the child (killed on drop) and the targets' ports.
pub fn spawn_targets(me: &std::path::Path) -> (KillOnDrop, Vec<String>) {
    let mut t = std::process::Command::new(me)
        .env("PROM_BENCH_ROLE", "targets")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start targets");
    let mut line = String::new();
    BufReader::new(t.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ports");
    let ports = line.split_whitespace().map(str::to_owned).collect();
    (KillOnDrop(t), ports)
}
