//! The HTTP client settings shared by scrape jobs, service discoveries, remote write and
//! Alertmanager clients: authentication, TLS, proxies, redirects and extra headers.

use super::{Secret, cerr};
use crate::yaml::{Fields, Node, Result};

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicAuth {
    /// `username`.
    pub username: String,
    /// `username_file`.
    pub username_file: String,
    /// `password`.
    pub password: Secret,
    /// `password_file`.
    pub password_file: String,
}

/// `authorization`: a header `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    /// `type`, `Bearer` by default.
    pub kind: String,
    /// `credentials`.
    pub credentials: Secret,
    /// `credentials_file`.
    pub credentials_file: String,
}

/// `oauth2` (client credentials flow).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OAuth2 {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Secret,
    /// `client_secret_file`.
    pub client_secret_file: String,
    /// `scopes`.
    pub scopes: Vec<String>,
    /// `token_url`.
    pub token_url: String,
    /// `endpoint_params`.
    pub endpoint_params: Vec<(String, String)>,
    /// `tls_config` for the token endpoint.
    pub tls: TlsConfig,
    /// Proxy for the token endpoint.
    pub proxy: ProxyConfig,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    /// `ca` (PEM text).
    pub ca: String,
    /// `ca_file`.
    pub ca_file: String,
    /// `cert` (PEM text).
    pub cert: String,
    /// `cert_file`.
    pub cert_file: String,
    /// `key` (PEM text).
    pub key: Secret,
    /// `key_file`.
    pub key_file: String,
    /// `server_name`.
    pub server_name: String,
    /// `insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// `min_version` (`TLS10` … `TLS13`).
    pub min_version: String,
    /// `max_version`.
    pub max_version: String,
}

/// Proxy settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxyConfig {
    /// `proxy_url`.
    pub proxy_url: String,
    /// `no_proxy`.
    pub no_proxy: String,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`: header name to values.
    pub proxy_connect_header: Vec<(String, Vec<Secret>)>,
}

/// One entry of `http_headers`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// `values`.
    pub values: Vec<String>,
    /// `secrets`.
    pub secrets: Vec<Secret>,
    /// `files`.
    pub files: Vec<String>,
}

/// The HTTP client configuration, inlined in the sections that use it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization` (also set from the legacy `bearer_token`/`bearer_token_file`).
    pub authorization: Option<Authorization>,
    /// `oauth2`.
    pub oauth2: Option<OAuth2>,
    /// `tls_config`.
    pub tls: TlsConfig,
    /// Proxy settings.
    pub proxy: ProxyConfig,
    /// `follow_redirects`, true by default.
    pub follow_redirects: bool,
    /// `enable_http2`, true by default.
    pub enable_http2: bool,
    /// `http_headers`.
    pub http_headers: Vec<(String, Header)>,
}

fn join_dir(base: &std::path::Path, p: &mut String) {
    if !p.is_empty() && !std::path::Path::new(p.as_str()).is_absolute() {
        *p = base.join(p.as_str()).to_string_lossy().into_owned();
    }
}

impl TlsConfig {
    /// Makes the file paths relative to `base` (the configuration file's directory).
    pub fn set_directory(&mut self, base: &std::path::Path) {
        join_dir(base, &mut self.ca_file);
        join_dir(base, &mut self.cert_file);
        join_dir(base, &mut self.key_file);
    }
}

impl HttpClientConfig {
    /// Makes every file path relative to `base` (the configuration file's directory).
    pub fn set_directory(&mut self, base: &std::path::Path) {
        self.tls.set_directory(base);
        if let Some(b) = &mut self.basic_auth {
            join_dir(base, &mut b.username_file);
            join_dir(base, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(base, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(base, &mut o.client_secret_file);
            o.tls.set_directory(base);
        }
        for (_, h) in &mut self.http_headers {
            for f in &mut h.files {
                join_dir(base, f);
            }
        }
    }

    /// The files this configuration reads, with what each holds (for `prom check config`).
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut add = |what: &'static str, f: &str| {
            if !f.is_empty() {
                out.push((what, f.to_owned()));
            }
        };
        add("CA", &self.tls.ca_file);
        add("client cert", &self.tls.cert_file);
        add("client key", &self.tls.key_file);
        if let Some(b) = &self.basic_auth {
            add("username", &b.username_file);
            add("password", &b.password_file);
        }
        if let Some(a) = &self.authorization {
            add(
                "authorization credentials or bearer token",
                &a.credentials_file,
            );
        }
        out
    }
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            tls: TlsConfig::default(),
            proxy: ProxyConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: Vec::new(),
        }
    }
}

/// The keys the HTTP client configuration takes from the section it is inlined in.
pub const HTTP_CLIENT_KEYS: &[&str] = &[
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "http_headers",
];

fn opt_str(f: &mut Fields<'_>, key: &str) -> Result<String> {
    f.get(key)
        .map(Node::str)
        .transpose()
        .map(Option::unwrap_or_default)
}

fn opt_bool(f: &mut Fields<'_>, key: &str, default: bool) -> Result<bool> {
    Ok(f.get(key).map(Node::bool).transpose()?.unwrap_or(default))
}

/// Decodes `tls_config`.
pub fn decode_tls(node: &Node) -> Result<TlsConfig> {
    let mut f = Fields::new(node, "config.TLSConfig")?;
    let t = TlsConfig {
        ca: opt_str(&mut f, "ca")?,
        ca_file: opt_str(&mut f, "ca_file")?,
        cert: opt_str(&mut f, "cert")?,
        cert_file: opt_str(&mut f, "cert_file")?,
        key: Secret(opt_str(&mut f, "key")?),
        key_file: opt_str(&mut f, "key_file")?,
        server_name: opt_str(&mut f, "server_name")?,
        insecure_skip_verify: opt_bool(&mut f, "insecure_skip_verify", false)?,
        min_version: opt_str(&mut f, "min_version")?,
        max_version: opt_str(&mut f, "max_version")?,
    };
    for key in ["ca_ref", "cert_ref", "key_ref"] {
        if f.has(key) {
            f.get_raw(key);
        }
    }
    f.finish()?;
    let line = node.line;
    for v in [&t.min_version, &t.max_version] {
        if !v.is_empty() && !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13") {
            return Err(cerr(line, format!("unknown TLS version: {v}")));
        }
    }
    if !t.ca.is_empty() && !t.ca_file.is_empty() {
        return Err(cerr(
            line,
            "at most one of ca and ca_file must be configured",
        ));
    }
    if !t.cert.is_empty() && !t.cert_file.is_empty() {
        return Err(cerr(
            line,
            "at most one of cert and cert_file must be configured",
        ));
    }
    if !t.key.0.is_empty() && !t.key_file.is_empty() {
        return Err(cerr(
            line,
            "at most one of key and key_file must be configured",
        ));
    }
    let has_cert = !t.cert.is_empty() || !t.cert_file.is_empty();
    let has_key = !t.key.0.is_empty() || !t.key_file.is_empty();
    if has_cert && !has_key {
        return Err(cerr(
            line,
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if has_key && !has_cert {
        return Err(cerr(
            line,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    Ok(t)
}

/// Decodes the proxy keys of a section.
pub fn decode_proxy(f: &mut Fields<'_>, line: usize) -> Result<ProxyConfig> {
    let mut p = ProxyConfig {
        proxy_url: opt_str(f, "proxy_url")?,
        no_proxy: opt_str(f, "no_proxy")?,
        proxy_from_environment: opt_bool(f, "proxy_from_environment", false)?,
        proxy_connect_header: Vec::new(),
    };
    if let Some(n) = f.get("proxy_connect_header") {
        let mut h = Fields::new(n, "config.ProxyHeader")?;
        let names: Vec<String> = match &n.value {
            crate::yaml::Value::Map(e) => e.iter().map(|(k, _)| k.str()).collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        for name in names {
            let values = h
                .get(&name)
                .map(Node::strings)
                .transpose()?
                .unwrap_or_default();
            p.proxy_connect_header
                .push((name, values.into_iter().map(Secret).collect()));
        }
        h.finish()?;
    }
    if p.proxy_from_environment && !p.proxy_url.is_empty() {
        return Err(cerr(
            line,
            "if proxy_from_environment is configured, proxy_url must not be configured",
        ));
    }
    if p.proxy_from_environment && !p.no_proxy.is_empty() {
        return Err(cerr(
            line,
            "if proxy_from_environment is configured, no_proxy must not be configured",
        ));
    }
    if p.proxy_url.is_empty() && !p.no_proxy.is_empty() {
        return Err(cerr(
            line,
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
    if p.proxy_url.is_empty() && !p.proxy_connect_header.is_empty() && !p.proxy_from_environment {
        return Err(cerr(
            line,
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ));
    }
    if !p.proxy_url.is_empty() {
        super::parse_url(&p.proxy_url, line)?;
    }
    Ok(p)
}

fn decode_oauth2(node: &Node) -> Result<OAuth2> {
    let mut f = Fields::new(node, "config.OAuth2")?;
    let o = OAuth2 {
        client_id: opt_str(&mut f, "client_id")?,
        client_secret: Secret(opt_str(&mut f, "client_secret")?),
        client_secret_file: opt_str(&mut f, "client_secret_file")?,
        scopes: f
            .get("scopes")
            .map(Node::strings)
            .transpose()?
            .unwrap_or_default(),
        token_url: opt_str(&mut f, "token_url")?,
        endpoint_params: f
            .get("endpoint_params")
            .map(Node::string_map)
            .transpose()?
            .unwrap_or_default(),
        tls: f
            .get("tls_config")
            .map(decode_tls)
            .transpose()?
            .unwrap_or_default(),
        proxy: decode_proxy(&mut f, node.line)?,
    };
    for key in [
        "client_secret_ref",
        "client_certificate_key_id",
        "client_certificate_key",
        "client_certificate_key_file",
        "client_certificate_key_ref",
        "grant_type",
        "signature_algorithm",
        "iss",
        "audience",
        "claims",
    ] {
        if f.has(key) {
            f.get_raw(key);
        }
    }
    f.finish()?;
    if o.client_id.is_empty() {
        return Err(cerr(node.line, "oauth2 client_id must be configured"));
    }
    if !o.client_secret.0.is_empty() && !o.client_secret_file.is_empty() {
        return Err(cerr(
            node.line,
            "at most one of oauth2 client_secret & client_secret_file must be configured",
        ));
    }
    if o.token_url.is_empty() {
        return Err(cerr(node.line, "oauth2 token_url must be configured"));
    }
    Ok(o)
}

/// Decodes the HTTP client keys of the section `f` (which keeps checking its other keys).
pub fn decode_http_client(f: &mut Fields<'_>, line: usize) -> Result<HttpClientConfig> {
    let mut c = HttpClientConfig::default();
    if let Some(n) = f.get("basic_auth") {
        let mut b = Fields::new(n, "config.BasicAuth")?;
        let ba = BasicAuth {
            username: opt_str(&mut b, "username")?,
            username_file: opt_str(&mut b, "username_file")?,
            password: Secret(opt_str(&mut b, "password")?),
            password_file: opt_str(&mut b, "password_file")?,
        };
        for key in ["username_ref", "password_ref"] {
            if b.has(key) {
                b.get_raw(key);
            }
        }
        b.finish()?;
        if !ba.username.is_empty() && !ba.username_file.is_empty() {
            return Err(cerr(
                n.line,
                "at most one of basic_auth username & username_file must be configured",
            ));
        }
        if !ba.password.0.is_empty() && !ba.password_file.is_empty() {
            return Err(cerr(
                n.line,
                "at most one of basic_auth password & password_file must be configured",
            ));
        }
        c.basic_auth = Some(ba);
    }
    if let Some(n) = f.get("authorization") {
        let mut a = Fields::new(n, "config.Authorization")?;
        let au = Authorization {
            kind: opt_str(&mut a, "type")?,
            credentials: Secret(opt_str(&mut a, "credentials")?),
            credentials_file: opt_str(&mut a, "credentials_file")?,
        };
        if a.has("credentials_ref") {
            a.get_raw("credentials_ref");
        }
        a.finish()?;
        c.authorization = Some(au);
    }
    if let Some(n) = f.get("oauth2") {
        c.oauth2 = Some(decode_oauth2(n)?);
    }
    let bearer = opt_str(f, "bearer_token")?;
    let bearer_file = opt_str(f, "bearer_token_file")?;
    if let Some(n) = f.get("tls_config") {
        c.tls = decode_tls(n)?;
    }
    c.proxy = decode_proxy(f, line)?;
    c.follow_redirects = opt_bool(f, "follow_redirects", true)?;
    c.enable_http2 = opt_bool(f, "enable_http2", true)?;
    if let Some(n) = f.get("http_headers") {
        let entries = match &n.value {
            crate::yaml::Value::Map(e) => e.clone(),
            _ => Vec::new(),
        };
        let mut hf = Fields::new(n, "config.Headers")?;
        for (k, _) in &entries {
            let name = k.str()?;
            let v = hf.get_raw(&name).cloned().unwrap_or(Node {
                value: crate::yaml::Value::Null,
                line: k.line,
                col: k.col,
                tag: None,
            });
            let mut h = Fields::new(&v, "config.Header")?;
            let header = Header {
                values: h
                    .get("values")
                    .map(Node::strings)
                    .transpose()?
                    .unwrap_or_default(),
                secrets: h
                    .get("secrets")
                    .map(Node::strings)
                    .transpose()?
                    .unwrap_or_default()
                    .into_iter()
                    .map(Secret)
                    .collect(),
                files: h
                    .get("files")
                    .map(Node::strings)
                    .transpose()?
                    .unwrap_or_default(),
            };
            h.finish()?;
            let lower = name.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "authorization"
                    | "host"
                    | "content-encoding"
                    | "content-length"
                    | "content-type"
                    | "user-agent"
                    | "connection"
                    | "keep-alive"
                    | "proxy-authenticate"
                    | "proxy-authorization"
                    | "www-authenticate"
                    | "accept-encoding"
                    | "x-prometheus-remote-write-version"
                    | "x-prometheus-remote-read-version"
                    | "x-prometheus-scrape-timeout-seconds"
                    | "x-amz-date"
                    | "x-amz-security-token"
                    | "x-amz-content-sha256"
            ) {
                return Err(cerr(
                    k.line,
                    format!("setting header {name:?} is not allowed"),
                ));
            }
            c.http_headers.push((name, header));
        }
        hf.finish()?;
    }
    // Validation, in Prometheus's order and words.
    if !bearer.is_empty() && !bearer_file.is_empty() {
        return Err(cerr(
            line,
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    let has_bearer = !bearer.is_empty() || !bearer_file.is_empty();
    if c.basic_auth.is_some() as u8 + c.oauth2.is_some() as u8 + has_bearer as u8 > 1 {
        return Err(cerr(
            line,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    if let Some(a) = &mut c.authorization {
        if has_bearer {
            return Err(cerr(
                line,
                "authorization is not compatible with bearer_token & bearer_token_file",
            ));
        }
        if !a.credentials.0.is_empty() && !a.credentials_file.is_empty() {
            return Err(cerr(
                line,
                "at most one of authorization credentials & credentials_file must be configured",
            ));
        }
        if a.kind.is_empty() {
            a.kind = "Bearer".to_owned();
        }
        if a.kind.eq_ignore_ascii_case("basic") {
            return Err(cerr(
                line,
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
    }
    if c.authorization.is_some() && (c.basic_auth.is_some() || c.oauth2.is_some()) {
        return Err(cerr(
            line,
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ));
    }
    if has_bearer {
        c.authorization = Some(Authorization {
            kind: "Bearer".to_owned(),
            credentials: Secret(bearer),
            credentials_file: bearer_file,
        });
    }
    Ok(c)
}
