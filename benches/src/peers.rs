//! Peer servers for the query benchmarks: Prometheus and VictoriaMetrics started as child
//! processes on free local ports, and a minimal blocking HTTP/1.0 client over
//! [`std::net::TcpStream`] to query them.
//!
//! The client sends one request per connection (`HTTP/1.0`, no `Accept-Encoding`), so the Go
//! servers answer with a plain, unchunked, uncompressed body and close the connection; its
//! cost (connect, request, response) is part of every peer measurement, which is why the
//! benchmark also times the bare round trip of `/api/v1/query?query=1`.

use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A status code and body returned by a peer.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, as sent (no transfer or content encoding is asked for).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, lossily.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A port free on 127.0.0.1 at the time of the call (bound to port 0, then released).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Whether `program` runs (`program --version` exits successfully).
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass through).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A millisecond timestamp as the seconds the Prometheus HTTP API takes.
pub fn api_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One request on a fresh connection to `127.0.0.1:port`; `body` makes it a POST.
fn request(port: u16, method: &str, target: &str, body: Option<&[u8]>) -> io::Result<Response> {
    let mut out = Vec::new();
    let status = exchange(port, method, target, body, &mut |len, piece| {
        if let Some(len) = len {
            out.reserve_exact(len);
        }
        out.extend_from_slice(piece);
    })?;
    Ok(Response { status, body: out })
}

/// Sends the request and hands the response body to `sink` as it arrives, with the
/// `Content-Length` (when the server sent one) alongside the first piece; returns the status.
///
/// The client's own work is kept out of the measurement as far as it can be: the headers are
/// read apart from the body, so the body is never moved to drop them, and a body whose length
/// is announced is read into one allocation of that size.
fn exchange(
    port: u16,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
    sink: &mut dyn FnMut(Option<usize>, &[u8]),
) -> io::Result<u16> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    s.set_nodelay(true)?;
    let mut head = format!("{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: text/plain\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    let split = loop {
        if got == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP headers longer than 256 KiB",
            ));
        }
        let n = s.read(&mut buf[got..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no end of HTTP headers",
            ));
        }
        got += n;
        if let Some(p) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = std::str::from_utf8(&buf[..split])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "HTTP headers not UTF-8"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
    let len = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    });
    sink(len, &buf[split + 4..got]);
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(status);
        }
        sink(None, &buf[..n]);
    }
}

/// `GET target` from `127.0.0.1:port`, the body read and dropped as it arrives (as `curl -o
/// /dev/null` does): the status and the body's length in bytes.
pub fn get_discarding(port: u16, target: &str) -> io::Result<(u16, usize)> {
    let mut len = 0;
    let status = exchange(port, "GET", target, None, &mut |_, piece| {
        len += piece.len()
    })?;
    Ok((status, len))
}

/// `GET target` from `127.0.0.1:port`.
pub fn get(port: u16, target: &str) -> io::Result<Response> {
    request(port, "GET", target, None)
}

/// `POST target` to `127.0.0.1:port` with a `text/plain` body.
pub fn post(port: u16, target: &str, body: &[u8]) -> io::Result<Response> {
    request(port, "POST", target, Some(body))
}

/// The number of series in a Prometheus API query response (`"metric":` objects; a scalar or
/// string result counts as one).
pub fn count_series(body: &[u8]) -> usize {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if has(b"\"resultType\":\"scalar\"") || has(b"\"resultType\":\"string\"") {
        return 1;
    }
    body.windows(9).filter(|w| *w == b"\"metric\":").count()
}

/// A peer server running as a child process, killed when dropped.
#[derive(Debug)]
pub struct Peer {
    /// A short name for messages (`prometheus`, `victoriametrics`).
    pub name: &'static str,
    /// The local port it listens on.
    pub port: u16,
    child: Child,
}

impl Peer {
    /// Starts `program args…` with stdout and stderr appended to `log`, then polls `ready` on
    /// its port until it answers 200 or `timeout` passes.
    pub fn start(
        name: &'static str,
        program: &str,
        args: &[String],
        port: u16,
        log: &Path,
        ready: &str,
        timeout: Duration,
    ) -> io::Result<Peer> {
        let out = std::fs::File::create(log)?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        let mut peer = Peer { name, port, child };
        let start = Instant::now();
        loop {
            if let Ok(r) = peer.get(ready)
                && r.status == 200
            {
                return Ok(peer);
            }
            if let Some(status) = peer.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{name} exited with {status} before it was ready; see {}",
                    log.display()
                )));
            }
            if start.elapsed() > timeout {
                return Err(io::Error::other(format!(
                    "{name} not ready after {timeout:?}; see {}",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET target`.
    pub fn get(&self, target: &str) -> io::Result<Response> {
        get(self.port, target)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `POST target` with a `text/plain` body.
    pub fn post(&self, target: &str, body: &[u8]) -> io::Result<Response> {
        post(self.port, target, body)
    }

    /// An instant query at `t` (milliseconds), failing on a status other than 200.
    pub fn query(&self, q: &str, t: i64) -> io::Result<Response> {
        ok(self.get(&query_target(q, t))?)
    }

    /// A range query from `start` to `end` every `step` (all milliseconds), failing on a status
    /// other than 200.
    pub fn query_range(&self, q: &str, start: i64, end: i64, step: i64) -> io::Result<Response> {
        ok(self.get(&query_range_target(q, start, end, step))?)
    }

    /// `GET target`, the body dropped as it arrives, failing on a status other than 200;
    /// returns the body's length. For timing: the client stores nothing.
    pub fn get_discarding(&self, target: &str) -> io::Result<usize> {
        match get_discarding(self.port, target)? {
            (200, len) => Ok(len),
            (status, _) => Err(io::Error::other(format!("HTTP {status} from {target}"))),
        }
    }
}

/// The target of an instant query at `t` (milliseconds).
pub fn query_target(q: &str, t: i64) -> String {
    format!("/api/v1/query?query={}&time={}", url_encode(q), api_time(t))
}

/// The target of a range query from `start` to `end` every `step` (all milliseconds).
pub fn query_range_target(q: &str, start: i64, end: i64, step: i64) -> String {
    format!(
        "/api/v1/query_range?query={}&start={}&end={}&step={}",
        url_encode(q),
        api_time(start),
        api_time(end),
        api_time(step)
    )
}

fn ok(r: Response) -> io::Result<Response> {
    if r.status == 200 {
        Ok(r)
    } else {
        let mut text = r.text();
        text.truncate(300);
        Err(io::Error::other(format!("HTTP {}: {text}", r.status)))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (Linux; clock
/// ticks at 100 Hz, the kernel's `USER_HZ` on every mainstream architecture).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("unexpected /proc stat format"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> io::Result<f64> {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other("unexpected /proc stat format"))
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `) state`.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries_and_counts_series() {
        assert_eq!(
            url_encode("a{b=~\"x|y\"}[5m]"),
            "a%7Bb%3D~%22x%7Cy%22%7D%5B5m%5D"
        );
        assert_eq!(api_time(1_700_000_000_015), "1700000000.015");
        let vec = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"2"]},{"metric":{},"value":[1,"3"]}]}}"#;
        assert_eq!(count_series(vec), 2);
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(count_series(empty), 0);
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        assert_eq!(count_series(scalar), 1);
    }
}
