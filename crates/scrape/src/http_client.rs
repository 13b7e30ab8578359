//! An HTTP client built from an [`HttpClientConfig`]: TLS, proxies, redirects, and
//! authentication applied to every request (credential files are read at request time, so a
//! rotated token is picked up without a reload, as Prometheus does).

use std::time::Duration as StdDuration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::config::HttpClientConfig;

/// The `User-Agent` prom sends.
pub const USER_AGENT: &str = concat!("prom/", env!("CARGO_PKG_VERSION"));

/// A client error: the configuration cannot be turned into a client, or a credential file
/// cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file named by the configuration cannot be read.
    #[error("unable to read {what} file {path}: {source}")]
    File {
        /// What the file holds.
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS material or a proxy setting is unusable.
    #[error("{0}")]
    Config(String),
    /// reqwest refused to build the client.
    #[error("building HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// A configured HTTP client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    cfg: HttpClientConfig,
}

fn read(what: &'static str, path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::File {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_trimmed(what: &'static str, path: &str) -> Result<String, ClientError> {
    let b = read(what, path)?;
    Ok(String::from_utf8_lossy(&b).trim().to_owned())
}

impl HttpClient {
    /// Builds a client; `timeout` bounds each whole request.
    pub fn new(cfg: &HttpClientConfig, timeout: Option<StdDuration>) -> Result<Self, ClientError> {
        let mut b = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(if cfg.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .pool_max_idle_per_host(2);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        if !cfg.enable_http2 {
            b = b.http1_only();
        }
        let tls = &cfg.tls;
        let ca = if !tls.ca_file.is_empty() {
            Some(read("CA", &tls.ca_file)?)
        } else if !tls.ca.is_empty() {
            Some(tls.ca.clone().into_bytes())
        } else {
            None
        };
        if let Some(pem) = ca {
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Config(format!("unable to use specified CA cert: {e}")))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let cert = if !tls.cert_file.is_empty() {
            Some(read("client cert", &tls.cert_file)?)
        } else if !tls.cert.is_empty() {
            Some(tls.cert.clone().into_bytes())
        } else {
            None
        };
        if let Some(mut pem) = cert {
            let key = if !tls.key_file.is_empty() {
                read("client key", &tls.key_file)?
            } else {
                tls.key.0.clone().into_bytes()
            };
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ClientError::Config(format!("unable to use client certificate: {e}"))
            })?;
            b = b.identity(id);
        }
        if tls.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        match tls.min_version.as_str() {
            "TLS12" => b = b.min_tls_version(reqwest::tls::Version::TLS_1_2),
            "TLS13" => b = b.min_tls_version(reqwest::tls::Version::TLS_1_3),
            _ => {}
        }
        if !cfg.proxy.proxy_url.is_empty() {
            let mut p = reqwest::Proxy::all(&cfg.proxy.proxy_url)
                .map_err(|e| ClientError::Config(format!("invalid proxy_url: {e}")))?;
            if !cfg.proxy.no_proxy.is_empty() {
                p = p.no_proxy(reqwest::NoProxy::from_string(&cfg.proxy.no_proxy));
            }
            b = b.proxy(p);
        } else if !cfg.proxy.proxy_from_environment {
            b = b.no_proxy();
        }
        Ok(HttpClient {
            client: b.build()?,
            cfg: cfg.clone(),
        })
    }

    /// The headers every request carries: authentication and `http_headers`.
    pub fn headers(&self) -> Result<HeaderMap, ClientError> {
        let mut h = HeaderMap::new();
        let bad = |e: String| ClientError::Config(e);
        if let Some(b) = &self.cfg.basic_auth {
            let user = if b.username_file.is_empty() {
                b.username.clone()
            } else {
                read_trimmed("username", &b.username_file)?
            };
            let pass = if b.password_file.is_empty() {
                b.password.0.clone()
            } else {
                read_trimmed("password", &b.password_file)?
            };
            let token = base64_encode(format!("{user}:{pass}").as_bytes());
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| bad(e.to_string()))?,
            );
        }
        if let Some(a) = &self.cfg.authorization {
            let cred = if a.credentials_file.is_empty() {
                a.credentials.0.clone()
            } else {
                read_trimmed(
                    "authorization credentials or bearer token",
                    &a.credentials_file,
                )?
            };
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("{} {cred}", a.kind))
                    .map_err(|e| bad(e.to_string()))?,
            );
        }
        for (name, header) in &self.cfg.http_headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let mut values: Vec<String> = header.values.clone();
            values.extend(header.secrets.iter().map(|s| s.0.clone()));
            for f in &header.files {
                values.push(read_trimmed("header", f)?);
            }
            for v in values {
                h.append(
                    n.clone(),
                    HeaderValue::from_str(&v).map_err(|e| bad(e.to_string()))?,
                );
            }
        }
        Ok(h)
    }

    /// A GET request with the configured headers.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        Ok(self.client.get(url).headers(self.headers()?))
    }

    /// A POST request with the configured headers.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, ClientError> {
        Ok(self.client.post(url).headers(self.headers()?))
    }
}

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::config::http::{Authorization, BasicAuth};

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(i.as_bytes()), o);
        }
    }

    #[test]
    fn auth_headers_come_from_config_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cr3t\n").unwrap();
        let cfg = HttpClientConfig {
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::default(),
                credentials_file: token.to_string_lossy().into_owned(),
            }),
            ..HttpClientConfig::default()
        };
        let c = HttpClient::new(&cfg, None).unwrap();
        assert_eq!(c.headers().unwrap()[AUTHORIZATION], "Bearer s3cr3t");
        std::fs::write(&token, "rotated").unwrap();
        assert_eq!(c.headers().unwrap()[AUTHORIZATION], "Bearer rotated");
        let cfg = HttpClientConfig {
            basic_auth: Some(BasicAuth {
                username: "user".into(),
                password: Secret("pass".into()),
                ..BasicAuth::default()
            }),
            ..HttpClientConfig::default()
        };
        let c = HttpClient::new(&cfg, None).unwrap();
        assert_eq!(c.headers().unwrap()[AUTHORIZATION], "Basic dXNlcjpwYXNz");
        std::fs::remove_file(&token).unwrap();
        let cfg = HttpClientConfig {
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::default(),
                credentials_file: token.to_string_lossy().into_owned(),
            }),
            ..HttpClientConfig::default()
        };
        let e = HttpClient::new(&cfg, None).unwrap().headers().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unable to read authorization credentials"),
            "{e}"
        );
    }
}
