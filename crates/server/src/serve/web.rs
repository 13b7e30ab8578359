//! `--web.config.file`: TLS, client certificates, basic authentication, extra response
//! headers and a request rate limit, read from the web-configuration file format that
//! Prometheus and its exporters share, and the HTTP server that applies them.
//!
//! Loading checks everything that can be checked before serving: unknown or repeated keys
//! (with their line), values, that the certificate, key and CA files can be read and parsed,
//! that the key matches the certificate, and that the bcrypt hashes are hashes. Relative paths
//! are taken from the web configuration file's directory.
//!
//! While serving, the web configuration file and the certificate, key and client CA files it
//! names are watched: at most once a second, on a new connection or request, their modification
//! time and size are compared with the ones loaded; on a change everything is loaded again. A
//! new configuration that does not load is logged and the running one kept (Prometheus fails
//! the handshake or request instead). Switching TLS on or off needs a restart.
//!
//! Basic authentication verifies bcrypt hashes on a blocking thread, one at a time (bcrypt is
//! slow on purpose, and a flood of guesses must not take every core). A successful check is
//! remembered under a keyed SHA-256 of user, hash and password (the key is random per
//! process; no password is kept), so a client sending the same credentials pays bcrypt once.
//! An unknown user is checked against a hash of the same cost, so the answer takes as long as
//! for a known user with a wrong password.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prom_scrape::yaml::{self, Fields, Node};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme, SupportedCipherSuite,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How often, at most, the watched files are looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// How long a client has to send its first bytes and finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How many successful basic-auth checks are remembered.
const AUTH_CACHE_MAX: usize = 1024;

/// Where PEM data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file, already resolved against the web configuration file's directory.
    File(PathBuf),
    /// The text written in the configuration (`cert`, `key`, `client_ca`).
    Inline(String),
}

impl Pem {
    fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Pem::File(p) => {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            Pem::Inline(t) => Ok(t.clone().into_bytes()),
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            Pem::File(p) => Some(p),
            Pem::Inline(_) => None,
        }
    }
}

/// Whether and how client certificates are asked for (Go's `tls.ClientAuthType` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    NoClientCert,
    /// A certificate is asked for, not required, not verified.
    RequestClientCert,
    /// A certificate is required but not verified.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must chain to the client CA.
    VerifyClientCertIfGiven,
    /// A certificate is required and must chain to the client CA.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    const NAMES: [(&'static str, ClientAuth); 6] = [
        ("NoClientCert", ClientAuth::NoClientCert),
        ("RequestClientCert", ClientAuth::RequestClientCert),
        ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
        // The old spelling exporter-toolkit still accepts.
        ("RequireClientCert", ClientAuth::RequireAnyClientCert),
        (
            "VerifyClientCertIfGiven",
            ClientAuth::VerifyClientCertIfGiven,
        ),
        (
            "RequireAndVerifyClientCert",
            ClientAuth::RequireAndVerifyClientCert,
        ),
    ];

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `tls_server_config`, checked.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The server's certificate chain.
    pub cert: Pem,
    /// The server's private key.
    pub key: Pem,
    /// The client certificate policy.
    pub client_auth: ClientAuth,
    /// The CAs client certificates must chain to.
    pub client_ca: Option<Pem>,
    /// The lowest version accepted.
    pub min_version: TlsVersion,
    /// The highest version accepted.
    pub max_version: TlsVersion,
    /// The TLS 1.2 cipher suites in preference order; empty for rustls's defaults.
    pub cipher_suites: Vec<SupportedCipherSuite>,
    /// Whether the server's order of cipher suites wins over the client's.
    pub prefer_server_cipher_suites: bool,
    /// The key exchange groups in preference order; empty for rustls's defaults.
    pub curves: Vec<&'static dyn SupportedKxGroup>,
}

/// `rate_limit`: a token bucket of `burst` requests, refilled by one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The time to earn one request.
    pub interval: Duration,
    /// The most requests at once.
    pub burst: u32,
}

/// The web configuration file's content, checked.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// TLS, when the file turns it on.
    pub tls: Option<TlsSettings>,
    /// Whether HTTP/2 is offered over TLS.
    pub http2: bool,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash; empty for no authentication.
    pub users: Vec<(String, String)>,
    /// The request rate limit, if any.
    pub rate_limit: Option<RateLimit>,
}

/// A loaded web configuration: the settings, the TLS configuration built from them, and the
/// state of the files they were read from.
#[derive(Debug, Clone)]
pub struct WebConfig {
    path: PathBuf,
    /// The checked settings.
    pub settings: WebSettings,
    tls: Option<Arc<rustls::ServerConfig>>,
    watched: Vec<(PathBuf, Stamp)>,
}

/// A file's modification time and size; `None` when it cannot be read.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

/// What is wrong with a web configuration, and where.
#[derive(Debug)]
struct Problem {
    line: usize,
    field: String,
    msg: String,
}

impl Problem {
    fn new(line: usize, field: impl Into<String>, msg: impl Into<String>) -> Problem {
        Problem {
            line,
            field: field.into(),
            msg: msg.into(),
        }
    }

    fn show(&self, file: &Path) -> String {
        let mut s = file.display().to_string();
        if self.line > 0 {
            s.push_str(&format!(":{}", self.line));
        }
        if !self.field.is_empty() {
            s.push_str(&format!(": {}", self.field));
        }
        format!("{s}: {}", self.msg)
    }
}

/// A YAML error under `field` (its own line kept).
fn yaml_problem(field: &str) -> impl Fn(yaml::Error) -> Problem + '_ {
    move |e| Problem::new(e.line, field, e.msg)
}

impl WebConfig {
    /// Reads, checks and prepares `path`; the error names the file, line and field.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let config_stamp = stamp(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let settings = parse(&text, dir).map_err(|p| p.show(path))?;
        let mut watched = vec![(path.to_owned(), config_stamp)];
        if let Some(t) = &settings.tls {
            for pem in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Some(p) = pem.file() {
                    watched.push((p.to_owned(), stamp(p)));
                }
            }
        }
        let tls = match &settings.tls {
            Some(t) => Some(build_tls(t, settings.http2).map_err(|p| p.show(path))?),
            None => None,
        };
        Ok(WebConfig {
            path: path.to_owned(),
            settings,
            tls,
            watched,
        })
    }

    /// Whether connections are served over TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }
}

/// Parses and checks the file's text; relative paths are joined to `dir`.
fn parse(text: &str, dir: &Path) -> Result<WebSettings, Problem> {
    let root = yaml::parse(text).map_err(yaml_problem(""))?;
    let mut f = Fields::new(&root, "web.Config").map_err(yaml_problem(""))?;
    let tls_line = f.line_of("tls_server_config").unwrap_or(1);
    let tls = match f.get("tls_server_config") {
        Some(n) => parse_tls(n, tls_line, dir)?,
        None => None,
    };
    let (http2, headers) = match f.get("http_server_config") {
        Some(n) => parse_http(n)?,
        None => (true, Vec::new()),
    };
    let users = match f.get("basic_auth_users") {
        Some(n) => parse_users(n)?,
        None => Vec::new(),
    };
    let rate_limit = match f.get("rate_limit") {
        Some(n) => parse_rate_limit(n)?,
        None => None,
    };
    f.finish().map_err(yaml_problem(""))?;
    Ok(WebSettings {
        tls,
        http2,
        headers,
        users,
        rate_limit,
    })
}

/// A string field; empty counts as absent, as in Go.
fn string_field(
    f: &mut Fields<'_>,
    section: &str,
    key: &str,
) -> Result<Option<(String, usize)>, Problem> {
    match f.get(key) {
        None => Ok(None),
        Some(n) => {
            let field = format!("{section}.{key}");
            let s = n.str().map_err(yaml_problem(&field))?;
            Ok((!s.is_empty()).then_some((s, n.line)))
        }
    }
}

/// A PEM source from `<name>_file` or inline `<name>`, not both.
fn pem_field(
    f: &mut Fields<'_>,
    dir: &Path,
    name: &str,
    section_line: usize,
    required: bool,
) -> Result<Option<Pem>, Problem> {
    const S: &str = "tls_server_config";
    let file_key = format!("{name}_file");
    let file = string_field(f, S, &file_key)?;
    let inline = string_field(f, S, name)?;
    match (file, inline) {
        (Some(_), Some((_, line))) => Err(Problem::new(
            line,
            format!("{S}.{name}"),
            format!("cannot set both {file_key} and {name}"),
        )),
        (Some((p, _)), None) => Ok(Some(Pem::File(dir.join(p)))),
        (None, Some((t, _))) => Ok(Some(Pem::Inline(t))),
        (None, None) if required => Err(Problem::new(
            section_line,
            S,
            format!("missing {file_key} or {name}"),
        )),
        (None, None) => Ok(None),
    }
}

fn parse_version(v: &str, line: usize, field: &str) -> Result<TlsVersion, Problem> {
    match v {
        "TLS12" => Ok(TlsVersion::Tls12),
        "TLS13" => Ok(TlsVersion::Tls13),
        "TLS10" | "TLS11" => Err(Problem::new(
            line,
            field,
            format!("{v} is not supported: prom speaks TLS12 and TLS13 only"),
        )),
        _ => Err(Problem::new(
            line,
            field,
            format!("unknown TLS version {v:?} (TLS12 or TLS13)"),
        )),
    }
}

/// Go's names of the TLS 1.2 suites rustls offers.
fn tls12_suite(name: &str) -> Option<SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Go's cipher suite names rustls does not implement (CBC, RSA key exchange, 3DES, RC4).
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// TLS 1.3 suites: Go accepts their names and ignores them (TLS 1.3 suites are not
/// configurable); so does prom.
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn parse_tls(n: &Node, line: usize, dir: &Path) -> Result<Option<TlsSettings>, Problem> {
    const S: &str = "tls_server_config";
    let mut f = Fields::new(n, "web.TLSConfig").map_err(yaml_problem(S))?;
    let cert = pem_field(&mut f, dir, "cert", line, false)?;
    let key = pem_field(&mut f, dir, "key", line, false)?;
    let client_ca = pem_field(&mut f, dir, "client_ca", line, false)?;
    let auth = string_field(&mut f, S, "client_auth_type")?;
    let client_auth = match &auth {
        None => ClientAuth::NoClientCert,
        Some((name, line)) => ClientAuth::NAMES
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                Problem::new(
                    *line,
                    format!("{S}.client_auth_type"),
                    format!(
                        "invalid client auth type {name:?} (one of NoClientCert, \
                         RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, \
                         RequireAndVerifyClientCert)"
                    ),
                )
            })?,
    };
    if let Some(v) = f.get("client_allowed_sans") {
        let sans = v
            .strings()
            .map_err(yaml_problem("tls_server_config.client_allowed_sans"))?;
        if !sans.is_empty() {
            return Err(Problem::new(
                v.line,
                format!("{S}.client_allowed_sans"),
                "not supported by prom (client certificates are checked against \
                 client_ca_file only)",
            ));
        }
    }
    let min_version = match string_field(&mut f, S, "min_version")? {
        Some((v, line)) => parse_version(&v, line, "tls_server_config.min_version")?,
        None => TlsVersion::Tls12,
    };
    let max_line = f.line_of("max_version").unwrap_or(line);
    let max_version = match string_field(&mut f, S, "max_version")? {
        Some((v, line)) => parse_version(&v, line, "tls_server_config.max_version")?,
        None => TlsVersion::Tls13,
    };
    let mut cipher_suites = Vec::new();
    if let Some(list) = f.get("cipher_suites") {
        let field = format!("{S}.cipher_suites");
        for item in list.seq("string").map_err(yaml_problem(&field))? {
            let name = item.str().map_err(yaml_problem(&field))?;
            if let Some(s) = tls12_suite(&name) {
                if !cipher_suites.contains(&s) {
                    cipher_suites.push(s);
                }
            } else if TLS13_SUITES.contains(&name.as_str()) {
                // Ignored, as Go does.
            } else if GO_ONLY_SUITES.contains(&name.as_str()) {
                return Err(Problem::new(
                    item.line,
                    &field,
                    format!("cipher suite {name} is not supported by rustls"),
                ));
            } else {
                return Err(Problem::new(
                    item.line,
                    &field,
                    format!("unknown cipher suite {name:?}"),
                ));
            }
        }
    }
    let prefer_server_cipher_suites = match f.get("prefer_server_cipher_suites") {
        Some(v) => v.bool().map_err(yaml_problem(
            "tls_server_config.prefer_server_cipher_suites",
        ))?,
        None => true,
    };
    let mut curves: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    if let Some(list) = f.get("curve_preferences") {
        use rustls::crypto::ring::kx_group;
        let field = format!("{S}.curve_preferences");
        for item in list.seq("string").map_err(yaml_problem(&field))? {
            let name = item.str().map_err(yaml_problem(&field))?;
            let g: &'static dyn SupportedKxGroup = match name.as_str() {
                "X25519" => kx_group::X25519,
                "CurveP256" => kx_group::SECP256R1,
                "CurveP384" => kx_group::SECP384R1,
                "CurveP521" | "X25519MLKEM768" => {
                    return Err(Problem::new(
                        item.line,
                        &field,
                        format!("curve {name} is not supported by rustls's ring provider"),
                    ));
                }
                _ => {
                    return Err(Problem::new(
                        item.line,
                        &field,
                        format!("unknown curve {name:?}"),
                    ));
                }
            };
            if !curves.iter().any(|c| c.name() == g.name()) {
                curves.push(g);
            }
        }
    }
    f.finish().map_err(yaml_problem(S))?;

    if cert.is_none() && key.is_none() && client_ca.is_none() && auth.is_none() {
        // Nothing that turns TLS on: plain HTTP, as exporter-toolkit.
        return Ok(None);
    }
    let cert = cert.ok_or_else(|| Problem::new(line, S, "missing cert_file or cert"))?;
    let key = key.ok_or_else(|| Problem::new(line, S, "missing key_file or key"))?;
    if min_version > max_version {
        return Err(Problem::new(
            max_line,
            format!("{S}.max_version"),
            "max_version is lower than min_version",
        ));
    }
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(Problem::new(
            line,
            S,
            "client_ca_file is set but client_auth_type is NoClientCert",
        ));
    }
    if client_ca.is_none() && client_auth.verifies() {
        return Err(Problem::new(
            auth.as_ref().map_or(line, |a| a.1),
            format!("{S}.client_auth_type"),
            format!(
                "{client_auth:?} needs client_ca_file (prom does not verify client \
                 certificates against the system's roots)"
            ),
        ));
    }
    Ok(Some(TlsSettings {
        cert,
        key,
        client_auth,
        client_ca,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites,
        curves,
    }))
}

/// The headers exporter-toolkit lets a configuration add, with their allowed values (any
/// value when `None`).
const EXTRA_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Content-Security-Policy", None),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-XSS-Protection", None),
    ("Strict-Transport-Security", None),
];

type HttpSettings = (bool, Vec<(HeaderName, HeaderValue)>);

fn parse_http(n: &Node) -> Result<HttpSettings, Problem> {
    const S: &str = "http_server_config";
    let mut f = Fields::new(n, "web.HTTPConfig").map_err(yaml_problem(S))?;
    let http2 = match f.get("http2") {
        Some(v) => v.bool().map_err(yaml_problem("http_server_config.http2"))?,
        None => true,
    };
    let mut headers = Vec::new();
    if let Some(h) = f.get("headers") {
        let field = format!("{S}.headers");
        let map = h.string_map().map_err(yaml_problem(&field))?;
        let lines: Vec<usize> = match &h.value {
            yaml::Value::Map(e) => e.iter().map(|(k, _)| k.line).collect(),
            _ => Vec::new(),
        };
        for (i, (name, value)) in map.into_iter().enumerate() {
            let line = lines.get(i).copied().unwrap_or(h.line);
            let field = format!("{field}.{name}");
            let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(n, _)| *n == name) else {
                return Err(Problem::new(
                    line,
                    field,
                    format!("HTTP header {name:?} can not be configured"),
                ));
            };
            if value.is_empty() {
                continue;
            }
            if let Some(allowed) = allowed
                && !allowed.contains(&value.as_str())
            {
                return Err(Problem::new(
                    line,
                    field,
                    format!("invalid value {value:?} (one of {allowed:?})"),
                ));
            }
            let v = HeaderValue::from_str(&value)
                .map_err(|_| Problem::new(line, &field, "not a valid header value"))?;
            let k = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Problem::new(line, &field, "not a valid header name"))?;
            headers.push((k, v));
        }
    }
    f.finish().map_err(yaml_problem(S))?;
    Ok((http2, headers))
}

fn parse_users(n: &Node) -> Result<Vec<(String, String)>, Problem> {
    const S: &str = "basic_auth_users";
    let map = n.string_map().map_err(yaml_problem(S))?;
    let lines: Vec<usize> = match &n.value {
        yaml::Value::Map(e) => e.iter().map(|(k, _)| k.line).collect(),
        _ => Vec::new(),
    };
    for (i, (user, hash)) in map.iter().enumerate() {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(Problem::new(
                lines.get(i).copied().unwrap_or(n.line),
                format!("{S}.{user}"),
                "not a bcrypt hash (want $2a$, $2b$ or $2y$ followed by the cost, salt and hash)",
            ));
        }
    }
    Ok(map)
}

fn parse_rate_limit(n: &Node) -> Result<Option<RateLimit>, Problem> {
    const S: &str = "rate_limit";
    let mut f = Fields::new(n, "web.RateLimitConfig").map_err(yaml_problem(S))?;
    let interval = match string_field(&mut f, S, "interval")? {
        Some((v, line)) => v
            .parse::<prom_scrape::config::Duration>()
            .map_err(|e| Problem::new(line, "rate_limit.interval", e.0))?
            .to_std(),
        None => Duration::ZERO,
    };
    let burst_line = f.line_of("burst").unwrap_or(n.line);
    let burst = match f.get("burst") {
        Some(v) => v.u64().map_err(yaml_problem("rate_limit.burst"))?,
        None => 0,
    };
    f.finish().map_err(yaml_problem(S))?;
    if interval.is_zero() {
        return Ok(None);
    }
    if burst == 0 {
        return Err(Problem::new(
            burst_line,
            "rate_limit.burst",
            "must be at least 1 when an interval is set",
        ));
    }
    Ok(Some(RateLimit {
        interval,
        burst: u32::try_from(burst).unwrap_or(u32::MAX),
    }))
}

/// Builds the rustls configuration: reads and parses the certificate, key and client CA.
fn build_tls(t: &TlsSettings, http2: bool) -> Result<Arc<rustls::ServerConfig>, Problem> {
    const S: &str = "tls_server_config";
    let cert_field = |p: &Pem| {
        format!(
            "{S}.{}",
            if p.file().is_some() {
                "cert_file"
            } else {
                "cert"
            }
        )
    };
    let key_field = format!(
        "{S}.{}",
        if t.key.file().is_some() {
            "key_file"
        } else {
            "key"
        }
    );
    let cert_pem = t
        .cert
        .read()
        .map_err(|e| Problem::new(0, cert_field(&t.cert), e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Problem::new(0, cert_field(&t.cert), format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Problem::new(
            0,
            cert_field(&t.cert),
            "no CERTIFICATE block found",
        ));
    }
    let key_pem = t.key.read().map_err(|e| Problem::new(0, &key_field, e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Problem::new(0, &key_field, format!("no usable private key: {e}")))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        suites.extend(t.cipher_suites.iter().copied());
        provider.cipher_suites = suites;
    }
    if !t.curves.is_empty() {
        provider.kx_groups = t.curves.clone();
    }
    let provider = Arc::new(provider);
    let mut versions = Vec::new();
    if t.min_version <= TlsVersion::Tls12 && TlsVersion::Tls12 <= t.max_version {
        versions.push(&rustls::version::TLS12);
    }
    if t.max_version >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| Problem::new(0, S, e.to_string()))?;

    let verifier: Arc<dyn ClientCertVerifier> = match t.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: t.client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let ca = t
                .client_ca
                .as_ref()
                .ok_or_else(|| Problem::new(0, S, "missing client_ca_file"))?;
            let ca_field = format!(
                "{S}.{}",
                if ca.file().is_some() {
                    "client_ca_file"
                } else {
                    "client_ca"
                }
            );
            let pem = ca.read().map_err(|e| Problem::new(0, &ca_field, e))?;
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| Problem::new(0, &ca_field, format!("bad PEM: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| Problem::new(0, &ca_field, format!("bad CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Problem::new(0, &ca_field, "no CERTIFICATE block found"));
            }
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if t.client_auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            b.build()
                .map_err(|e| Problem::new(0, &ca_field, e.to_string()))?
        }
    };
    let mut cfg = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            Problem::new(
                0,
                S,
                format!("the certificate and key cannot be used together: {e}"),
            )
        })?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

/// `RequestClientCert` and `RequireAnyClientCert`: any certificate is taken without checking
/// who issued it; the client must still prove it holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Compares two byte strings in time that depends on their lengths only.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding, as Go's `StdEncoding` (used for `Authorization: Basic`).
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let quads = s.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, q) in s.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
}

/// The user and password of an `Authorization: Basic ...` header.
fn basic_credentials(v: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = v.as_bytes();
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let raw = base64_decode(&v[6..])?;
    let colon = raw.iter().position(|&b| b == b':')?;
    Some((raw[..colon].to_vec(), raw[colon + 1..].to_vec()))
}

/// Basic authentication: the cache of successful checks and the one-at-a-time bcrypt turn.
#[derive(Debug)]
struct Auth {
    secret: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Held while a bcrypt check runs, until it ends even if its request went away.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Per cost, the hash an unknown user's password is checked against.
    decoys: Mutex<HashMap<u32, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Auth {
    fn new() -> Result<Auth, String> {
        let mut secret = [0u8; 32];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut secret)
            .map_err(|_| "no secure random numbers for the basic-auth cache".to_owned())?;
        Ok(Auth {
            secret,
            verified: Mutex::new(HashSet::new()),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            decoys: Mutex::new(HashMap::new()),
        })
    }

    /// The cache key: SHA-256 over the process secret and the length-prefixed fields.
    fn key(&self, user: &[u8], hash: &str, password: &[u8]) -> [u8; 32] {
        let mut data = Vec::with_capacity(32 + 16 + user.len() + hash.len() + password.len());
        data.extend_from_slice(&self.secret);
        data.extend_from_slice(&(user.len() as u64).to_be_bytes());
        data.extend_from_slice(user);
        data.extend_from_slice(&(hash.len() as u64).to_be_bytes());
        data.extend_from_slice(hash.as_bytes());
        data.extend_from_slice(password);
        let mut out = [0u8; 32];
        if let Some(suite) = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() {
            let digest = suite.common.hash_provider.hash(&data);
            out.copy_from_slice(&digest.as_ref()[..32]);
        }
        data.fill(0);
        out
    }

    /// Whether the request's credentials match a configured user.
    async fn check(&self, users: &[(String, String)], value: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = value.and_then(basic_credentials) else {
            return false;
        };
        // Look at every user, without stopping at a match.
        let mut found: Option<&str> = None;
        for (u, h) in users {
            if ct_eq(u.as_bytes(), &user) {
                found = Some(h);
            }
        }
        let known = found.is_some();
        let cost = hash_cost(found.or_else(|| users.first().map(|(_, h)| h.as_str())));
        let decoy = lock(&self.decoys).get(&cost).cloned();
        let hash = found.map(str::to_owned);
        let key = hash.as_deref().map(|h| self.key(&user, h, &password));
        if let Some(k) = &key
            && lock(&self.verified).contains(k)
        {
            return true;
        }
        let turn = self.turn.clone().lock_owned().await;
        let verified = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let mut made = None;
            let hash = match (hash, decoy) {
                (Some(h), _) | (None, Some(h)) => h,
                (None, None) => {
                    let h = bcrypt::hash(b"prom decoy password", cost).unwrap_or_default();
                    made = Some(h.clone());
                    h
                }
            };
            let ok = bcrypt::verify(&password, &hash).unwrap_or(false);
            (ok, made)
        })
        .await;
        let (ok, made) = verified.unwrap_or((false, None));
        if let Some(d) = made {
            lock(&self.decoys).insert(cost, d);
        }
        let ok = ok && known;
        if let (true, Some(k)) = (ok, key) {
            let mut cache = lock(&self.verified);
            if cache.len() >= AUTH_CACHE_MAX
                && let Some(old) = cache.iter().next().copied()
            {
                cache.remove(&old);
            }
            cache.insert(k);
        }
        ok
    }

    /// Makes the decoy hash for the users' cost ahead of the first unknown user, so that
    /// request does not take longer than the next ones (blocking: bcrypt).
    fn make_decoy(&self, users: &[(String, String)]) {
        let Some((_, h)) = users.first() else {
            return;
        };
        let cost = hash_cost(Some(h));
        if lock(&self.decoys).contains_key(&cost) {
            return;
        }
        if let Ok(d) = bcrypt::hash(b"prom decoy password", cost) {
            lock(&self.decoys).insert(cost, d);
        }
    }

    fn forget(&self) {
        lock(&self.verified).clear();
    }
}

/// The cost of a bcrypt hash (bcrypt's default when there is none).
fn hash_cost(hash: Option<&str>) -> u32 {
    hash.and_then(|h| h.parse::<bcrypt::HashParts>().ok())
        .map_or(bcrypt::DEFAULT_COST, |p| p.get_cost())
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let earned =
            now.duration_since(self.last).as_secs_f64() / self.limit.interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The web configuration while serving: the current one, reloaded when its files change.
#[derive(Debug)]
struct Web {
    current: RwLock<Arc<WebConfig>>,
    last_check: Mutex<Instant>,
    /// The file states of the last reload that failed, so it is logged once.
    failed: Mutex<Option<Vec<Stamp>>>,
    auth: Auth,
    limiter: Mutex<Option<Bucket>>,
}

impl Web {
    fn new(config: WebConfig) -> Result<Web, String> {
        let limiter = config.settings.rate_limit.map(Bucket::new);
        Ok(Web {
            current: RwLock::new(Arc::new(config)),
            last_check: Mutex::new(Instant::now()),
            failed: Mutex::new(None),
            auth: Auth::new()?,
            limiter: Mutex::new(limiter),
        })
    }

    /// The configuration to use now, reloading it first if a watched file changed.
    fn config(&self) -> Arc<WebConfig> {
        let cur = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        {
            let mut last = lock(&self.last_check);
            if last.elapsed() < RELOAD_CHECK {
                return cur;
            }
            *last = Instant::now();
        }
        let stamps: Vec<Stamp> = cur.watched.iter().map(|(p, _)| stamp(p)).collect();
        if cur.watched.iter().map(|(_, s)| s).eq(stamps.iter())
            || lock(&self.failed).as_ref() == Some(&stamps)
        {
            return cur;
        }
        let outcome = WebConfig::load(&cur.path).and_then(|new| {
            if new.tls_enabled() == cur.tls_enabled() {
                Ok(new)
            } else {
                Err("switching TLS on or off needs a restart".to_owned())
            }
        });
        match outcome {
            Ok(new) => {
                tracing::info!(file = %cur.path.display(), "web configuration reloaded");
                let new = Arc::new(new);
                self.auth.forget();
                *lock(&self.limiter) = new.settings.rate_limit.map(Bucket::new);
                *lock(&self.failed) = None;
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = new.clone();
                new
            }
            Err(e) => {
                tracing::error!(err = %e, "cannot reload the web configuration; keeping the running one");
                *lock(&self.failed) = Some(stamps);
                cur
            }
        }
    }

    fn allow(&self) -> bool {
        lock(&self.limiter).as_mut().is_none_or(Bucket::allow)
    }
}

/// A plain-text error response, as Go's `http.Error` writes it.
fn text_response(status: StatusCode) -> Response<Body> {
    let text = status.canonical_reason().unwrap_or("error");
    let mut r = Response::new(Body::from(format!("{text}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// One request: rate limit, basic authentication, then the router; the configured headers
/// on every answer but a 429.
async fn handle(
    mut req: Request<Incoming>,
    router: Router,
    web: Option<Arc<Web>>,
    remote: SocketAddr,
) -> Response<Body> {
    req.extensions_mut().insert(ConnectInfo(remote));
    let Some(web) = web else {
        return route(router, req).await;
    };
    let cfg = web.config();
    if !web.allow() {
        // Before the configured headers, as exporter-toolkit.
        return text_response(StatusCode::TOO_MANY_REQUESTS);
    }
    let mut resp = if !cfg.settings.users.is_empty()
        && !web
            .auth
            .check(
                &cfg.settings.users,
                req.headers().get(header::AUTHORIZATION),
            )
            .await
    {
        let mut r = text_response(StatusCode::UNAUTHORIZED);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r
    } else {
        route(router, req).await
    };
    // Set before the handler runs in Go, so a handler's own value wins.
    for (k, v) in &cfg.settings.headers {
        if !resp.headers().contains_key(k) {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
    }
    resp
}

async fn route(router: Router, req: Request<Incoming>) -> Response<Body> {
    use hyper::service::Service as _;
    match hyper_util::service::TowerToHyperService::new(router)
        .call(req)
        .await
    {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Serves `router` on `listener` until `shutdown` completes: plain HTTP/1.1 without a web
/// configuration; with one, TLS (HTTP/2 offered by ALPN unless `http2: false`), the rate
/// limit, basic authentication and extra headers as configured. On shutdown no connection is
/// accepted any more, idle ones are closed and the ones with a request in flight finish it.
pub async fn serve_http<F>(
    listener: TcpListener,
    router: Router,
    web: Option<WebConfig>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let web = match web {
        Some(cfg) => {
            if cfg.tls_enabled() {
                tracing::info!(http2 = cfg.settings.http2, "TLS is enabled");
            } else {
                tracing::info!("TLS is disabled");
            }
            let web = Arc::new(Web::new(cfg).map_err(std::io::Error::other)?);
            let w = web.clone();
            tokio::task::spawn_blocking(move || {
                let cfg = w
                    .current
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                w.auth.make_decoy(&cfg.settings.users);
            });
            Some(web)
        }
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors and the like: give the system a moment.
                        tracing::warn!(err = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let web = web.clone();
        let stop = stop_rx.clone();
        tokio::spawn(connection(tcp, remote, router, web, stop));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver; they are all gone when the last one ends.
    stop_tx.closed().await;
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Answers an HTTP request sent to the TLS port in the clear with a 400, as Go does, so the
/// mistake is visible; the first byte of a TLS connection is 0x16 (a handshake record).
async fn refuse_plain_http(tcp: &mut TcpStream) -> bool {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) if first[0].is_ascii_uppercase() => {
            let _ = tcp
                .write_all(
                    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
                      Client sent an HTTP request to an HTTPS server.\n",
                )
                .await;
            let _ = tcp.shutdown().await;
            true
        }
        Ok(_) => false,
        Err(_) => true,
    }
}

async fn connection(
    mut tcp: TcpStream,
    remote: SocketAddr,
    router: Router,
    web: Option<Arc<Web>>,
    mut stop: watch::Receiver<bool>,
) {
    let tls = web.as_ref().and_then(|w| w.config().tls.clone());
    let svc = {
        let web = web.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            let web = web.clone();
            async move { Ok::<_, Infallible>(handle(req, router, web, remote).await) }
        })
    };
    let Some(tls) = tls else {
        serve_connection(TokioIo::new(tcp), false, svc, stop).await;
        return;
    };
    let handshake = async {
        if refuse_plain_http(&mut tcp).await {
            return None;
        }
        match TlsAcceptor::from(tls).accept(tcp).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(remote = %remote, err = %e, "TLS handshake failed");
                None
            }
        }
    };
    let stream = tokio::select! {
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match r {
            Ok(Some(s)) => s,
            _ => return,
        },
        _ = stop.changed() => return,
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    serve_connection(TokioIo::new(stream), h2, svc, stop).await;
}

async fn serve_connection<I, S>(io: I, h2: bool, svc: S, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Body>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    } else {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(err = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = stop.changed() => conn.as_mut().graceful_shutdown(),
        }
    }
    let _ = conn.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A CA and a server certificate for "localhost" signed by it, as PEM files in `dir`.
    fn certs(dir: &Path) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        write(dir, "ca.pem", &ca_cert.pem());
        write(dir, "server.pem", &cert.pem());
        write(dir, "server.key", &key.serialize_pem());
    }

    fn load(dir: &Path, text: &str) -> Result<WebConfig, String> {
        WebConfig::load(&write(dir, "web.yml", text))
    }

    #[test]
    fn a_full_file_loads_with_paths_from_its_directory() {
        let d = tempfile::tempdir().unwrap();
        certs(d.path());
        let hash = bcrypt::hash("secret", 4).unwrap();
        let cfg = load(
            d.path(),
            &format!(
                "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
                 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  \
                 min_version: TLS12\n  max_version: TLS13\n  cipher_suites:\n    \
                 - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_AES_128_GCM_SHA256\n  \
                 prefer_server_cipher_suites: false\n  curve_preferences: [X25519, CurveP256]\n\
                 http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    \
                 Content-Security-Policy: \"default-src 'self'\"\n    X-XSS-Protection: ''\n\
                 basic_auth_users:\n  alice: {hash}\n\
                 rate_limit:\n  interval: 1s\n  burst: 5\n"
            ),
        )
        .unwrap();
        let tls = cfg.settings.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Pem::File(d.path().join("server.pem")));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.cipher_suites.len(), 1);
        assert_eq!(tls.curves.len(), 2);
        assert!(!tls.prefer_server_cipher_suites);
        assert!(!cfg.settings.http2);
        assert_eq!(cfg.settings.headers.len(), 2, "a blank header is unset");
        assert_eq!(cfg.settings.headers[0].0, "x-frame-options");
        assert_eq!(cfg.settings.users, vec![("alice".to_owned(), hash)]);
        assert_eq!(
            cfg.settings.rate_limit,
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 5
            })
        );
        let rustls_cfg = cfg.tls.as_ref().unwrap();
        assert_eq!(rustls_cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!rustls_cfg.ignore_client_order);
        assert_eq!(
            cfg.watched.len(),
            4,
            "the file, cert, key and CA are watched"
        );
        assert!(
            cfg.watched
                .iter()
                .all(|(p, s)| stamp(p) == *s && s.is_some())
        );
    }

    #[test]
    fn without_cert_or_client_auth_tls_stays_off() {
        let d = tempfile::tempdir().unwrap();
        let cfg = load(d.path(), "tls_server_config:\n  min_version: TLS13\n").unwrap();
        assert!(!cfg.tls_enabled());
        assert!(cfg.settings.http2);
        let cfg = load(d.path(), "").unwrap();
        assert!(cfg.settings.tls.is_none() && cfg.settings.users.is_empty());
    }

    #[test]
    fn unknown_fields_are_reported_with_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let e = load(
            d.path(),
            "tls_server_config:\n  cert_file: a\n  key_fil: b\n",
        )
        .unwrap_err();
        let file = d.path().join("web.yml").display().to_string();
        assert_eq!(
            e,
            format!("{file}:3: tls_server_config: field key_fil not found in type web.TLSConfig")
        );
        let e = load(d.path(), "basic_auth_users: {}\nbasic_auth: x\n").unwrap_err();
        assert_eq!(
            e,
            format!("{file}:2: field basic_auth not found in type web.Config")
        );
    }

    #[test]
    fn missing_or_unreadable_key_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        certs(d.path());
        let e = load(d.path(), "tls_server_config:\n  cert_file: server.pem\n").unwrap_err();
        assert!(
            e.ends_with(":1: tls_server_config: missing key_file or key"),
            "{e}"
        );
        let e = load(
            d.path(),
            "tls_server_config:\n  cert_file: server.pem\n  key_file: nope.key\n",
        )
        .unwrap_err();
        let want = format!(
            "tls_server_config.key_file: cannot read {}",
            d.path().join("nope.key").display()
        );
        assert!(e.contains(&want), "{e}");
        // A key that is not the certificate's.
        let other = rcgen::KeyPair::generate().unwrap();
        write(d.path(), "other.key", &other.serialize_pem());
        let e = load(
            d.path(),
            "tls_server_config:\n  cert_file: server.pem\n  key_file: other.key\n",
        )
        .unwrap_err();
        assert!(e.contains("cannot be used together"), "{e}");
        let e = load(
            d.path(),
            "tls_server_config:\n  cert_file: server.pem\n  cert: x\n  key_file: server.key\n",
        )
        .unwrap_err();
        assert!(
            e.contains(":3: tls_server_config.cert: cannot set both"),
            "{e}"
        );
    }

    #[test]
    fn client_auth_types_are_checked() {
        let d = tempfile::tempdir().unwrap();
        certs(d.path());
        let base = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
        let e = load(
            d.path(),
            &format!("{base}  client_auth_type: VerifyEverything\n"),
        )
        .unwrap_err();
        assert!(
            e.contains(
                ":4: tls_server_config.client_auth_type: invalid client auth type \"VerifyEverything\""
            ),
            "{e}"
        );
        let e = load(
            d.path(),
            &format!("{base}  client_auth_type: RequireAndVerifyClientCert\n"),
        )
        .unwrap_err();
        assert!(e.contains("needs client_ca_file"), "{e}");
        let e = load(d.path(), &format!("{base}  client_ca_file: ca.pem\n")).unwrap_err();
        assert!(e.contains("client_auth_type is NoClientCert"), "{e}");
        for ok in [
            "RequestClientCert",
            "RequireAnyClientCert",
            "RequireClientCert",
        ] {
            load(d.path(), &format!("{base}  client_auth_type: {ok}\n")).unwrap();
        }
        load(
            d.path(),
            &format!(
                "{base}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn what_rustls_cannot_do_is_refused() {
        let d = tempfile::tempdir().unwrap();
        certs(d.path());
        let base = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
        for (extra, want) in [
            ("  min_version: TLS10\n", "TLS10 is not supported"),
            ("  max_version: TLS14\n", "unknown TLS version"),
            (
                "  min_version: TLS13\n  max_version: TLS12\n",
                "max_version is lower",
            ),
            (
                "  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                "not supported by rustls",
            ),
            ("  cipher_suites: [NOPE]\n", "unknown cipher suite"),
            ("  curve_preferences: [CurveP521]\n", "not supported"),
            (
                "  client_allowed_sans: [a.example]\n",
                "client_allowed_sans",
            ),
        ] {
            let e = load(d.path(), &format!("{base}{extra}")).unwrap_err();
            assert!(e.contains(want), "{extra}: {e}");
        }
    }

    #[test]
    fn headers_and_users_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let e = load(d.path(), "basic_auth_users:\n  alice: plaintext\n").unwrap_err();
        assert!(
            e.contains(":2: basic_auth_users.alice: not a bcrypt hash"),
            "{e}"
        );
        let e = load(
            d.path(),
            "http_server_config:\n  headers:\n    Server: prom\n",
        )
        .unwrap_err();
        assert!(e.contains(":3: http_server_config.headers.Server: HTTP header \"Server\" can not be configured"), "{e}");
        let e = load(
            d.path(),
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        )
        .unwrap_err();
        assert!(e.contains("invalid value \"allow\""), "{e}");
        let e = load(d.path(), "rate_limit:\n  interval: 1s\n").unwrap_err();
        assert!(e.contains("rate_limit.burst"), "{e}");
    }

    #[test]
    fn basic_credentials_and_base64() {
        assert_eq!(base64_decode(b"YWxpY2U6cHc="), Some(b"alice:pw".to_vec()));
        assert_eq!(base64_decode(b"YQ=="), Some(b"a".to_vec()));
        assert_eq!(base64_decode(b"YQ="), None);
        assert_eq!(base64_decode(b"Y=Q="), None);
        let v = HeaderValue::from_static("basic YWxpY2U6cDp3");
        assert_eq!(
            basic_credentials(&v),
            Some((b"alice".to_vec(), b"p:w".to_vec()))
        );
        assert_eq!(
            basic_credentials(&HeaderValue::from_static("Bearer x")),
            None
        );
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
    }

    #[tokio::test]
    async fn auth_checks_and_remembers_only_successes() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let users = vec![("alice".to_owned(), hash.clone())];
        let auth = Auth::new().unwrap();
        let basic = |u: &str, p: &str| {
            let raw = format!("{u}:{p}");
            let enc = encode64(raw.as_bytes());
            HeaderValue::from_str(&format!("Basic {enc}")).unwrap()
        };
        assert!(!auth.check(&users, None).await);
        assert!(!auth.check(&users, Some(&basic("alice", "wrong"))).await);
        assert!(!auth.check(&users, Some(&basic("bob", "right"))).await);
        assert!(lock(&auth.verified).is_empty());
        assert!(auth.check(&users, Some(&basic("alice", "right"))).await);
        assert_eq!(lock(&auth.verified).len(), 1);
        assert!(auth.check(&users, Some(&basic("alice", "right"))).await);
        assert_eq!(
            lock(&auth.decoys).len(),
            1,
            "an unknown user met a decoy hash"
        );
        let fresh = Auth::new().unwrap();
        fresh.make_decoy(&users);
        assert!(
            lock(&fresh.decoys)[&4].starts_with("$2b$04$"),
            "same cost as alice's"
        );
        // The key depends on every part.
        let k = auth.key(b"alice", &hash, b"right");
        assert_ne!(k, auth.key(b"alice", &hash, b"righ"));
        assert_ne!(k, auth.key(b"alic", &hash, b"eright"));
        assert_ne!(k, Auth::new().unwrap().key(b"alice", &hash, b"right"));
    }

    fn encode64(b: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refills() {
        let mut b = Bucket::new(RateLimit {
            interval: Duration::from_millis(50),
            burst: 2,
        });
        assert!(b.allow() && b.allow());
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
    }
}
