//! `prom serve --web.config.file`: the real binary over TLS with certificates made here, basic
//! authentication with a bcrypt hash made here, client certificates, reloads of the web
//! configuration and its certificates, and a bad file stopping the start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use crate::serve::http;

/// A CA that signs server and client certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate and its key, as PEM.
    fn sign(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server_cert(&self) -> (String, String) {
        self.sign(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client_cert(&self) -> (String, String) {
        self.sign(&["client.test"], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `prom serve` started with a web configuration and nothing to scrape; it may be using TLS,
/// so readiness is not probed here.
struct WebServer {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl WebServer {
    fn start(dir: &Path, web_config: &Path) -> WebServer {
        // Nothing to scrape: the embedded default would scrape the server itself and take
        // tokens of a rate limit.
        let config = write(dir, "prometheus.yml", "scrape_configs: []\n");
        let log_path = dir.join("stderr.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_prom"))
            .args([
                "serve".to_owned(),
                "--web.listen-address=127.0.0.1:0".to_owned(),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.config.file={}", web_config.display()),
                format!("--config.file={}", config.display()),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prom serve");
        let mut s = WebServer {
            child,
            port: 0,
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        s.port = loop {
            let log = s.log();
            if let Some(i) = log.find("msg=listening address=") {
                let addr = log[i + "msg=listening address=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap();
                break addr.rsplit_once(':').unwrap().1.parse().unwrap();
            }
            assert!(
                s.child.try_wait().unwrap().is_none(),
                "prom serve exited:\n{log}"
            );
            assert!(
                Instant::now() < deadline,
                "prom serve did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn stop(mut self) -> i32 {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An HTTPS client trusting only `ca_pem`, presenting `identity` (cert + key PEM) if given;
/// every request on a new connection, so each one meets the server's current certificate.
fn client(ca_pem: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30));
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{key}{cert}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
}

/// A GET, with basic-auth credentials if given; `Err` when no HTTP answer came (TLS refused).
fn get(
    rt: &tokio::runtime::Runtime,
    c: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<Answer, String> {
    rt.block_on(async {
        let mut req = c.get(url);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.map_err(|e| format!("{e:?}"))?;
        Ok(Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
        })
    })
}

fn tls_connect(
    rt: &tokio::runtime::Runtime,
    port: u16,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap()
    })
}

/// The protocol ALPN settles on when a client offers h2 and HTTP/1.1.
fn alpn(rt: &tokio::runtime::Runtime, port: u16, ca_pem: &str) -> Option<Vec<u8>> {
    let tls = tls_connect(rt, port, ca_pem);
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

/// A GET over HTTP/2: the status and the X-Frame-Options header.
fn h2_get(
    rt: &tokio::runtime::Runtime,
    port: u16,
    ca_pem: &str,
    path: &str,
) -> (u16, Option<String>) {
    let tls = tls_connect(rt, port, ca_pem);
    rt.block_on(async {
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .expect("an HTTP/2 connection");
        tokio::spawn(conn);
        let req = axum::http::Request::get(format!("https://localhost:{port}{path}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = send.send_request(req).await.expect("an HTTP/2 answer");
        let frame = resp
            .headers()
            .get("x-frame-options")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.status().as_u16(), frame)
    })
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("prom-web-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

/// Waits until `ok` holds (a reload is noticed within about a second).
fn eventually(what: &str, s: &WebServer, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn https_with_basic_auth_headers_and_reloads() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new("prom test CA");
    let (cert, key) = ca.server_cert();
    write(d, "server.pem", &cert);
    write(d, "server.key", &key);
    let alice = bcrypt::hash("alice-pw", 4).unwrap();
    let web = write(
        d,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  alice: {alice}\n"
        ),
    );
    let s = WebServer::start(d, &web);
    assert!(s.log().contains("TLS is enabled"), "{}", s.log());
    let rt = runtime();
    let c = client(&ca.pem, None);
    let url = s.url("/-/healthy");

    // No credentials, a wrong password, an unknown user: 401 asking for Basic.
    for auth in [
        None,
        Some(("alice", "wrong")),
        Some(("mallory", "alice-pw")),
    ] {
        let a = get(&rt, &c, &url, auth).unwrap();
        assert_eq!(a.status, 401, "{auth:?}");
        assert_eq!(a.headers["www-authenticate"], "Basic");
        assert_eq!(
            a.headers["x-frame-options"], "deny",
            "headers go on a 401 too"
        );
    }
    // The right password, twice (the second from the cache).
    for _ in 0..2 {
        let a = get(&rt, &c, &url, Some(("alice", "alice-pw"))).unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["x-frame-options"], "deny");
    }
    eventually("ready", &s, || {
        get(&rt, &c, &s.url("/-/ready"), Some(("alice", "alice-pw"))).is_ok_and(|a| a.status == 200)
    });

    // A client that does not trust the CA gets no answer.
    let stranger = client(&Ca::new("another CA").pem, None);
    let e = get(&rt, &stranger, &url, Some(("alice", "alice-pw")))
        .err()
        .expect("an untrusted server certificate must fail");
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // Plain HTTP to the TLS port: refused with Go's 400, never served.
    let plain = http(
        &format!("127.0.0.1:{}", s.port),
        "GET",
        "/-/healthy",
        &[],
        "",
    );
    assert_eq!(plain.status, 400);
    assert!(plain.body.contains("HTTPS server"), "{}", plain.body);

    // HTTP/2 is offered by default, and served: a request over it meets basic auth and the
    // headers like any other.
    assert_eq!(alpn(&rt, s.port, &ca.pem).as_deref(), Some(&b"h2"[..]));
    let (status, frame) = h2_get(&rt, s.port, &ca.pem, "/-/healthy");
    assert_eq!((status, frame.as_deref()), (401, Some("deny")));

    // Reload: a new user, HTTP/2 off, and a certificate from a new CA, without a restart.
    let ca2 = Ca::new("prom test CA 2");
    let (cert2, key2) = ca2.server_cert();
    let bob = bcrypt::hash("bob-pw", 4).unwrap();
    // The key first, then the certificate, then the file: the server may look in between and
    // keep the running configuration while the pair does not match.
    write(d, "server.key", &key2);
    write(d, "server.pem", &cert2);
    write(
        d,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             http_server_config:\n  http2: false\n\
             basic_auth_users:\n  alice: {alice}\n  bob: {bob}\n"
        ),
    );
    let c2 = client(&ca2.pem, None);
    eventually("the reloaded certificate and user", &s, || {
        get(&rt, &c2, &url, Some(("bob", "bob-pw"))).is_ok_and(|a| a.status == 200)
    });
    let a = get(&rt, &c2, &url, Some(("alice", "alice-pw"))).unwrap();
    assert_eq!(a.status, 200);
    assert!(a.headers.get("x-frame-options").is_none(), "header removed");
    assert!(
        get(&rt, &c, &url, Some(("bob", "bob-pw"))).is_err(),
        "old CA"
    );
    assert_eq!(
        alpn(&rt, s.port, &ca2.pem).as_deref(),
        Some(&b"http/1.1"[..])
    );

    // A broken file is logged and the running configuration kept.
    write(d, "web.yml", "tls_server_config:\n  cert_file: [\n");
    eventually("the failed reload to be logged", &s, || {
        let _ = get(&rt, &c2, &url, None);
        s.log().contains("cannot reload the web configuration")
    });
    let a = get(&rt, &c2, &url, Some(("bob", "bob-pw"))).unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(get(&rt, &c2, &url, None).unwrap().status, 401);

    assert_eq!(s.stop(), 0);
}

#[test]
fn mutual_tls_required_rejects_clients_without_a_trusted_certificate() {
    let dir = tempdir();
    let d = dir.path();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let (cert, key) = server_ca.server_cert();
    write(d, "server.pem", &cert);
    write(d, "server.key", &key);
    write(d, "clients.pem", &client_ca.pem);
    let web = write(
        d,
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n  \
         min_version: TLS13\n",
    );
    let s = WebServer::start(d, &web);
    let rt = runtime();
    let url = s.url("/-/healthy");

    let none = client(&server_ca.pem, None);
    assert!(
        get(&rt, &none, &url, None).is_err(),
        "no client certificate"
    );
    let foreign = Ca::new("someone else").client_cert();
    let wrong = client(&server_ca.pem, Some(&foreign));
    assert!(get(&rt, &wrong, &url, None).is_err(), "untrusted client CA");
    let mine = client_ca.client_cert();
    let good = client(&server_ca.pem, Some(&mine));
    assert_eq!(get(&rt, &good, &url, None).unwrap().status, 200);
    assert_eq!(s.stop(), 0);
}

#[test]
fn a_bad_web_config_stops_the_start_with_the_file_and_reason() {
    let dir = tempdir();
    let d = dir.path();
    for (text, want) in [
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_file: missing.key\n".to_owned(),
            format!(
                "tls_server_config.key_file: cannot read {}",
                d.join("missing.key").display()
            ),
        ),
        (
            "basic_auth_users:\n  alice: not-a-hash\n".to_owned(),
            ":2: basic_auth_users.alice: not a bcrypt hash".to_owned(),
        ),
        (
            "http_server_config:\n  http3: true\n".to_owned(),
            ":2: http_server_config: field http3 not found".to_owned(),
        ),
    ] {
        let (cert, key) = Ca::new("ca").server_cert();
        write(d, "server.pem", &cert);
        write(d, "server.key", &key);
        let web = write(d, "web.yml", &text);
        let out = Command::new(env!("CARGO_BIN_EXE_prom"))
            .args([
                "serve".to_owned(),
                "--web.listen-address=127.0.0.1:0".to_owned(),
                format!("--storage.tsdb.path={}", d.join("data").display()),
                format!("--web.config.file={}", web.display()),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("error loading web config"), "{err}");
        assert!(err.contains(&web.display().to_string()), "{err}");
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
        assert!(!err.contains("msg=listening"), "nothing was served: {err}");
    }
}

#[test]
fn check_web_config_reports_each_file() {
    let dir = tempdir();
    let d = dir.path();
    let (cert, key) = Ca::new("ca").server_cert();
    write(d, "server.pem", &cert);
    write(d, "server.key", &key);
    let good = write(
        d,
        "good.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    );
    let bad = write(
        d,
        "bad.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: Sometimes\n",
    );
    let run = |files: &[&Path]| {
        let out = Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(["check", "web-config"])
            .args(files)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[&good]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, format!("{} SUCCESS\n", good.display()));
    let (code, err) = run(&[&good, &bad]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{} SUCCESS", good.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} FAILED: {}:4: tls_server_config.client_auth_type: invalid client auth type",
            bad.display(),
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn plain_http_with_basic_auth_and_a_rate_limit() {
    let dir = tempdir();
    let d = dir.path();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web = write(
        d,
        "web.yml",
        &format!(
            "basic_auth_users:\n  alice: {hash}\nrate_limit:\n  interval: 1m\n  burst: 3\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        ),
    );
    let s = WebServer::start(d, &web);
    // The HTTP server logs it once it runs, which may be just after the listening line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("TLS is disabled") {
        assert!(Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = runtime();
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/-/healthy", s.port);
    let a = get(&rt, &c, &url, None).unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(a.headers["x-content-type-options"], "nosniff");
    assert_eq!(
        get(&rt, &c, &url, Some(("alice", "pw"))).unwrap().status,
        200
    );
    assert_eq!(
        get(&rt, &c, &url, Some(("alice", "pw"))).unwrap().status,
        200
    );
    // The burst of three is spent; the next request waits a minute for its token.
    let a = get(&rt, &c, &url, Some(("alice", "pw"))).unwrap();
    assert_eq!(a.status, 429);
    assert_eq!(s.stop(), 0);
}

/// promtool's `check web-config` and prom's agree on files both are meant to judge alike (not
/// on what prom refuses on purpose: TLS 1.0/1.1, suites and curves rustls lacks,
/// `client_allowed_sans`, client verification without a CA; nor on `rate_limit`, newer than
/// promtool 2.42).
#[test]
fn promtool_and_prom_agree_on_web_configs() {
    let Some(promtool) = crate::interop::promtool("promtool_and_prom_agree_on_web_configs") else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new("ca");
    let (cert, key) = ca.server_cert();
    write(d, "server.pem", &cert);
    write(d, "server.key", &key);
    write(d, "ca.pem", &ca.pem);
    let hash = bcrypt::hash("pw", 4).unwrap();
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    let cases: Vec<(&str, String, bool)> = vec![
        ("empty", String::new(), true),
        ("tls", tls.to_owned(), true),
        (
            "full",
            format!(
                "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  \
                 min_version: TLS12\n  max_version: TLS13\n  \
                 cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  \
                 prefer_server_cipher_suites: false\n  curve_preferences: [X25519, CurveP384]\n\
                 http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: sameorigin\n\
                 basic_auth_users:\n  alice: {hash}\n"
            ),
            true,
        ),
        (
            "request_cert",
            format!("{tls}  client_auth_type: RequestClientCert\n"),
            true,
        ),
        ("unknown_field", format!("{tls}  key_password: x\n"), false),
        ("unknown_top", "tls_config: {}\n".to_owned(), false),
        (
            "missing_cert_file",
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n".to_owned(),
            false,
        ),
        (
            "missing_key",
            "tls_server_config:\n  cert_file: server.pem\n".to_owned(),
            false,
        ),
        (
            "bad_auth_type",
            format!("{tls}  client_auth_type: Maybe\n"),
            false,
        ),
        (
            "ca_without_policy",
            format!("{tls}  client_ca_file: ca.pem\n"),
            false,
        ),
        ("bad_version", format!("{tls}  min_version: TLS14\n"), false),
        (
            "bad_suite",
            format!("{tls}  cipher_suites: [NOPE]\n"),
            false,
        ),
        (
            "bad_curve",
            format!("{tls}  curve_preferences: [CurveNope]\n"),
            false,
        ),
        (
            "bad_hash",
            "basic_auth_users:\n  alice: secret\n".to_owned(),
            false,
        ),
        (
            "bad_header",
            "http_server_config:\n  headers:\n    Server: prom\n".to_owned(),
            false,
        ),
        (
            "bad_header_value",
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".to_owned(),
            false,
        ),
    ];
    for (name, text, good) in cases {
        let file = write(d, &format!("{name}.yml"), &text);
        let file_s = file.display().to_string();
        let theirs = crate::support::run(promtool, &["check", "web-config", &file_s], b"");
        let ours = crate::support::run(
            env!("CARGO_BIN_EXE_prom"),
            &["check", "web-config", &file_s],
            b"",
        );
        assert_eq!(
            theirs.code == 0,
            good,
            "{name}: promtool: {}",
            theirs.stderr
        );
        assert_eq!(ours.code == 0, good, "{name}: prom: {}", ours.stderr);
    }
}

/// Prometheus 2.42 (a Go TLS client) scrapes prom over HTTPS with basic auth, verifying
/// prom's certificate against the CA, over HTTP/2 and over HTTP/1.1 (interop,
/// `PROM_INTEROP=1`).
#[test]
fn prometheus_scrapes_prom_over_tls_with_basic_auth() {
    if crate::interop::promtool("prometheus_scrapes_prom_over_tls_with_basic_auth").is_none() {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new("ca");
    let (cert, key) = ca.server_cert();
    write(d, "server.pem", &cert);
    write(d, "server.key", &key);
    let ca_file = write(d, "ca.pem", &ca.pem);
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web = write(
        d,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             basic_auth_users:\n  alice: {hash}\n"
        ),
    );
    let s = WebServer::start(d, &web);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let job = |name: &str, http2: bool, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    enable_http2: {http2}\n    \
             tls_config:\n      ca_file: {}\n      server_name: localhost\n    \
             basic_auth:\n      username: alice\n      password: {password}\n    \
             static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            ca_file.display(),
            s.port
        )
    };
    let config = write(
        d,
        "prometheus-peer.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}{}",
            job("h2", true, "pw"),
            job("h1", false, "pw"),
            job("wrong", false, "nope")
        ),
    );
    let log = std::fs::File::create(d.join("prometheus.log")).unwrap();
    let mut peer = Command::new("prometheus")
        .arg(format!(
            "--storage.tsdb.path={}",
            d.join("peer-data").display()
        ))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("PROM_INTEROP=1 but prometheus cannot be run");
    let up = |job: &str| -> Option<String> {
        // Not listening yet: no answer (the helper panics on a refused connection).
        std::net::TcpStream::connect(&addr).ok()?;
        let r = http(
            &addr,
            "GET",
            &format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D"),
            &[],
            "",
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = (None, None, None);
    while Instant::now() < deadline {
        seen = (up("h2"), up("h1"), up("wrong"));
        if seen.0.as_deref() == Some("1") && seen.1.as_deref() == Some("1") && seen.2.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = peer.kill();
    let _ = peer.wait();
    assert_eq!(
        (seen.0.as_deref(), seen.1.as_deref(), seen.2.as_deref()),
        (Some("1"), Some("1"), Some("0")),
        "prometheus log:\n{}\nprom log:\n{}",
        std::fs::read_to_string(d.join("prometheus.log")).unwrap_or_default(),
        s.log()
    );
}
