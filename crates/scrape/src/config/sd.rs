//! Service-discovery sections of a scrape job (`static_configs`, `file_sd_configs`,
//! `http_sd_configs`, and the provider sections validated now and run by later crates).

use super::cerr;
use super::http::{HttpClientConfig, decode_http_client};
use super::units::Duration;
use crate::yaml::{Fields, Node, Result, Value};

/// A group of targets sharing labels, as discovery produces them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetGroup {
    /// The targets' addresses (`host:port`), each becoming `__address__`.
    pub targets: Vec<String>,
    /// Labels for every target of the group.
    pub labels: Vec<(String, String)>,
    /// Identifies the group within its provider, so an update can replace it.
    pub source: String,
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    /// `files`: paths or globs (`*` in the last path element) ending in .json, .yml or .yaml.
    pub files: Vec<String>,
    /// `refresh_interval`, 5m by default.
    pub refresh_interval: Duration,
}

/// `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSdConfig {
    /// `url`.
    pub url: String,
    /// `refresh_interval`, 60s by default.
    pub refresh_interval: Duration,
    /// The HTTP client settings.
    pub http: HttpClientConfig,
}

/// A provider section this crate validates but does not run (Kubernetes, Consul, EC2, …).
#[derive(Debug, Clone, PartialEq)]
pub struct OtherSdConfig {
    /// The section's key without `_sd_configs` (`kubernetes`, `consul`, …).
    pub provider: &'static str,
    /// The entry as written, for the crate that implements the provider.
    pub node: Node,
}

/// One discovery configuration of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum SdConfig {
    /// `static_configs`: one fixed group.
    Static(TargetGroup),
    /// `file_sd_configs`.
    File(FileSdConfig),
    /// `http_sd_configs`.
    Http(Box<HttpSdConfig>),
    /// Any other provider.
    Other(OtherSdConfig),
}

impl SdConfig {
    /// Makes file paths relative to `base` (the configuration file's directory).
    pub fn set_directory(&mut self, base: &std::path::Path) {
        match self {
            SdConfig::File(f) => {
                for p in &mut f.files {
                    if !std::path::Path::new(p.as_str()).is_absolute() {
                        *p = base.join(p.as_str()).to_string_lossy().into_owned();
                    }
                }
            }
            SdConfig::Http(h) => h.http.set_directory(base),
            SdConfig::Static(_) | SdConfig::Other(_) => {}
        }
    }
}

/// The keys of the AWS discoveries (EC2, Lightsail, ECS, MSK, RDS, ElastiCache).
const AWS: &[&str] = &[
    "region",
    "endpoint",
    "access_key",
    "secret_key",
    "profile",
    "role_arn",
    "refresh_interval",
    "port",
];

/// Provider sections and the lists of keys each takes besides the HTTP client keys (`true`:
/// it has an HTTP client configuration inlined).
const PROVIDERS: &[(&str, bool, &[&[&str]])] = &[
    (
        "azure",
        true,
        &[&[
            "environment",
            "authentication_method",
            "subscription_id",
            "tenant_id",
            "client_id",
            "client_secret",
            "resource_group",
            "refresh_interval",
            "port",
        ]],
    ),
    (
        "consul",
        true,
        &[&[
            "server",
            "path_prefix",
            "token",
            "datacenter",
            "namespace",
            "partition",
            "tag_separator",
            "scheme",
            "username",
            "password",
            "services",
            "tags",
            "node_meta",
            "allow_stale",
            "refresh_interval",
            "filter",
            "health_filter",
        ]],
    ),
    ("digitalocean", true, &[&["port", "refresh_interval"]]),
    (
        "docker",
        true,
        &[&[
            "host",
            "port",
            "host_networking_host",
            "match_first_network",
            "filters",
            "refresh_interval",
        ]],
    ),
    (
        "dockerswarm",
        true,
        &[&["host", "role", "port", "filters", "refresh_interval"]],
    ),
    (
        "dns",
        false,
        &[&["names", "refresh_interval", "type", "port"]],
    ),
    ("ec2", true, &[AWS, &["filters"]]),
    ("lightsail", true, &[AWS]),
    ("ecs", true, &[AWS, &["clusters", "request_concurrency"]]),
    ("msk", true, &[AWS, &["clusters", "request_concurrency"]]),
    ("rds", true, &[AWS, &["filters", "request_concurrency"]]),
    (
        "elasticache",
        true,
        &[AWS, &["clusters", "request_concurrency"]],
    ),
    ("eureka", true, &[&["server", "refresh_interval"]]),
    (
        "gce",
        false,
        &[&[
            "project",
            "zone",
            "filter",
            "refresh_interval",
            "port",
            "tag_separator",
        ]],
    ),
    (
        "hetzner",
        true,
        &[&["role", "port", "refresh_interval", "label_selector"]],
    ),
    (
        "ionos",
        true,
        &[&["datacenter_id", "port", "refresh_interval"]],
    ),
    (
        "kubernetes",
        true,
        &[&[
            "api_server",
            "role",
            "kubeconfig_file",
            "namespaces",
            "selectors",
            "attach_metadata",
        ]],
    ),
    (
        "kuma",
        true,
        &[&["server", "client_id", "refresh_interval", "fetch_timeout"]],
    ),
    (
        "linode",
        true,
        &[&["region", "port", "tag_separator", "refresh_interval"]],
    ),
    (
        "marathon",
        true,
        &[&[
            "servers",
            "refresh_interval",
            "auth_token",
            "auth_token_file",
        ]],
    ),
    ("nerve", false, &[&["servers", "paths", "timeout"]]),
    (
        "nomad",
        true,
        &[&[
            "allow_stale",
            "namespace",
            "refresh_interval",
            "region",
            "server",
            "tag_separator",
        ]],
    ),
    (
        "openstack",
        false,
        &[&[
            "identity_endpoint",
            "username",
            "userid",
            "password",
            "domain_name",
            "domain_id",
            "project_name",
            "project_id",
            "application_credential_name",
            "application_credential_id",
            "application_credential_secret",
            "role",
            "region",
            "refresh_interval",
            "port",
            "availability",
            "all_tenants",
            "tls_config",
        ]],
    ),
    (
        "oci",
        false,
        &[&[
            "auth",
            "region",
            "tenancy",
            "user",
            "fingerprint",
            "key_file",
            "key_passphrase",
            "compartments",
            "port",
            "refresh_interval",
        ]],
    ),
    (
        "ovhcloud",
        false,
        &[&[
            "endpoint",
            "application_key",
            "application_secret",
            "consumer_key",
            "service",
            "refresh_interval",
        ]],
    ),
    (
        "puppetdb",
        true,
        &[&[
            "url",
            "query",
            "include_parameters",
            "refresh_interval",
            "port",
        ]],
    ),
    (
        "scaleway",
        true,
        &[&[
            "access_key",
            "secret_key",
            "secret_key_file",
            "project_id",
            "role",
            "port",
            "api_url",
            "zone",
            "name_filter",
            "tags_filter",
            "refresh_interval",
        ]],
    ),
    ("serverset", false, &[&["servers", "paths", "timeout"]]),
    (
        "stackit",
        true,
        &[&[
            "endpoint",
            "project",
            "region",
            "service_account_key",
            "service_account_key_path",
            "private_key",
            "private_key_path",
            "credentials_file_path",
            "port",
            "refresh_interval",
        ]],
    ),
    (
        "triton",
        false,
        &[&[
            "account",
            "role",
            "dns_suffix",
            "endpoint",
            "groups",
            "port",
            "refresh_interval",
            "version",
            "tls_config",
        ]],
    ),
    (
        "uyuni",
        true,
        &[&[
            "server",
            "username",
            "password",
            "entitlement",
            "separator",
            "refresh_interval",
        ]],
    ),
    ("vultr", true, &[&["port", "refresh_interval"]]),
    (
        "outscale",
        true,
        &[&[
            "region",
            "endpoint",
            "access_key",
            "secret_key",
            "secret_key_file",
            "refresh_interval",
            "port",
        ]],
    ),
];

/// The keys of a section that hold discovery configurations.
pub fn is_sd_key(key: &str) -> bool {
    key == "static_configs"
        || key == "file_sd_configs"
        || key == "http_sd_configs"
        || key
            .strip_suffix("_sd_configs")
            .is_some_and(|p| PROVIDERS.iter().any(|(n, _, _)| *n == p))
}

/// Decodes every discovery section of `f` (a job or an Alertmanager section), in a stable
/// order: static first, then providers by key.
///
/// Static addresses are checked here only when `check_addresses` (a section without
/// relabeling; with relabeling the address is checked after it, on the built targets).
pub fn decode_sd_sections(
    f: &mut Fields<'_>,
    keys: &[String],
    check_addresses: bool,
) -> Result<Vec<SdConfig>> {
    let mut out = Vec::new();
    if let Some(n) = f.get("static_configs") {
        for (i, item) in n.seq("*targetgroup.Group")?.iter().enumerate() {
            if item.is_null() {
                return Err(cerr(item.line, "empty or null section in static_configs"));
            }
            let mut g = decode_target_group(item, check_addresses)?;
            g.source = i.to_string();
            out.push(SdConfig::Static(g));
        }
    }
    if let Some(n) = f.get("file_sd_configs") {
        for item in n.seq("*file.SDConfig")? {
            out.push(SdConfig::File(decode_file_sd(item)?));
        }
    }
    if let Some(n) = f.get("http_sd_configs") {
        for item in n.seq("*http.SDConfig")? {
            out.push(SdConfig::Http(Box::new(decode_http_sd(item)?)));
        }
    }
    for key in keys {
        let Some(p) = key.strip_suffix("_sd_configs") else {
            continue;
        };
        let Some(&(provider, has_http, fields)) = PROVIDERS.iter().find(|(n, _, _)| *n == p) else {
            continue;
        };
        let Some(n) = f.get(key) else { continue };
        for item in n.seq("config")? {
            validate_provider(provider, has_http, fields, item)?;
            out.push(SdConfig::Other(OtherSdConfig {
                provider,
                node: item.clone(),
            }));
        }
    }
    Ok(out)
}

/// Decodes a target group (`targets`, `labels`), validating labels, and addresses when
/// `check_addresses`.
pub fn decode_target_group(node: &Node, check_addresses: bool) -> Result<TargetGroup> {
    let mut f = Fields::new(
        node,
        "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet \"yaml:\\\"labels\\\"\" }",
    )?;
    let targets = f
        .get("targets")
        .map(Node::strings)
        .transpose()?
        .unwrap_or_default();
    let labels = f
        .get("labels")
        .map(Node::string_map)
        .transpose()?
        .unwrap_or_default();
    f.finish()?;
    for t in targets.iter().filter(|_| check_addresses) {
        if t.contains('/') {
            return Err(cerr(node.line, format!("{t:?} is not a valid hostname")));
        }
    }
    super::validate_labels(&labels, node.line)?;
    Ok(TargetGroup {
        targets,
        labels,
        source: String::new(),
    })
}

fn refresh(f: &mut Fields<'_>, default: Duration) -> Result<Duration> {
    match f.get("refresh_interval") {
        Some(n) => super::duration_of(n),
        None => Ok(default),
    }
}

fn decode_file_sd(node: &Node) -> Result<FileSdConfig> {
    let mut f = Fields::new(node, "file.SDConfig")?;
    let files = f
        .get("files")
        .map(Node::strings)
        .transpose()?
        .unwrap_or_default();
    let refresh_interval = refresh(&mut f, Duration::from_secs(300))?;
    f.finish()?;
    if files.is_empty() {
        return Err(cerr(
            node.line,
            "file service discovery config must contain at least one path name",
        ));
    }
    for name in &files {
        if !valid_file_sd_name(name) {
            return Err(cerr(
                node.line,
                format!("path name {name:?} is not valid for file discovery"),
            ));
        }
    }
    Ok(FileSdConfig {
        files,
        refresh_interval,
    })
}

/// A file_sd path: `*` only in the last element, and a .json/.yml/.yaml extension.
fn valid_file_sd_name(name: &str) -> bool {
    let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
    if dir.contains('*') {
        return false;
    }
    let lower = base.to_ascii_lowercase();
    let ext_ok = [".json", ".yml", ".yaml"]
        .iter()
        .any(|e| base.ends_with(e) || base.ends_with(&e.to_ascii_uppercase()));
    ext_ok && !lower.is_empty() && base.matches('*').count() <= 1
}

fn decode_http_sd(node: &Node) -> Result<HttpSdConfig> {
    let mut f = Fields::new(node, "http.SDConfig")?;
    let url = f.get("url").map(Node::str).transpose()?.unwrap_or_default();
    let refresh_interval = refresh(&mut f, Duration::from_secs(60))?;
    let http = decode_http_client(&mut f, node.line)?;
    f.finish()?;
    check_http_url(&url, node.line)?;
    Ok(HttpSdConfig {
        url,
        refresh_interval,
        http,
    })
}

fn check_http_url(url: &str, line: usize) -> Result<()> {
    if url.is_empty() {
        return Err(cerr(line, "URL is missing"));
    }
    let u = match url::Url::parse(url) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(cerr(line, "URL scheme must be 'http' or 'https'"));
        }
        Err(url::ParseError::EmptyHost) => return Err(cerr(line, "host is missing in URL")),
        Err(e) => return Err(cerr(line, format!("parse {url:?}: {e}"))),
    };
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(cerr(line, "URL scheme must be 'http' or 'https'"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(cerr(line, "host is missing in URL"));
    }
    Ok(())
}

/// The value of `key` in a mapping node (the provider sections are read without `Fields`
/// for their cross-field rules, after `Fields` has checked their keys).
fn field<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.value {
        Value::Map(e) => e
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn str_field(node: &Node, key: &str) -> Option<String> {
    field(node, key).and_then(|v| v.str().ok())
}

/// Whether `key` is set to something other than null or an empty string.
fn has_field(node: &Node, key: &str) -> bool {
    field(node, key).is_some_and(|v| match &v.value {
        Value::Null => false,
        Value::Scalar { text, .. } => !text.is_empty(),
        _ => true,
    })
}

/// Checks a provider section: known keys only, its HTTP client settings, and the rules
/// Prometheus applies to it.
fn validate_provider(
    provider: &'static str,
    has_http: bool,
    fields: &[&[&str]],
    node: &Node,
) -> Result<()> {
    let ty: &'static str = match provider {
        "kubernetes" => "kubernetes.plain",
        _ => "config",
    };
    let mut f = Fields::new(node, ty)?;
    for list in fields {
        f.skip(list);
    }
    let line = node.line;
    // Marathon words its auth conflicts itself, before the generic HTTP checks.
    if provider == "marathon" {
        let token = has_field(node, "auth_token");
        let token_file = has_field(node, "auth_token_file");
        if token && token_file {
            return Err(cerr(
                line,
                "marathon_sd: at most one of auth_token & auth_token_file must be configured",
            ));
        }
        if token || token_file {
            if has_field(node, "basic_auth") {
                return Err(cerr(
                    line,
                    "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured",
                ));
            }
            if has_field(node, "bearer_token") || has_field(node, "bearer_token_file") {
                return Err(cerr(
                    line,
                    "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
                ));
            }
            if has_field(node, "authorization") {
                return Err(cerr(
                    line,
                    "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured",
                ));
            }
        }
    }
    let http = if has_http {
        Some(decode_http_client(&mut f, line)?)
    } else {
        None
    };
    f.finish()?;
    let s = |k: &str| str_field(node, k).unwrap_or_default();
    match provider {
        "kubernetes" => validate_kubernetes(node, http.as_ref())?,
        "marathon" => {
            let servers = field(node, "servers")
                .map(|v| v.seq("string").map(<[Node]>::len))
                .transpose()?
                .unwrap_or(0);
            if servers == 0 {
                return Err(cerr(
                    line,
                    "marathon_sd: must contain at least one Marathon server",
                ));
            }
        }
        "azure" => {
            let method = match s("authentication_method") {
                m if m.is_empty() => "OAuth".to_owned(),
                m => m,
            };
            if !matches!(
                method.as_str(),
                "OAuth" | "ManagedIdentity" | "SDK" | "WorkloadIdentity"
            ) {
                return Err(cerr(
                    line,
                    format!(
                        "unknown authentication_type {method:?}. Supported types are \"OAuth\", \"ManagedIdentity\", \"SDK\" or \"WorkloadIdentity\""
                    ),
                ));
            }
            if s("subscription_id").is_empty() {
                return Err(cerr(
                    line,
                    "azure SD configuration requires a subscription_id",
                ));
            }
            if method == "OAuth" {
                for (k, what) in [
                    ("tenant_id", "tenant_id"),
                    ("client_id", "client_id"),
                    ("client_secret", "client_secret"),
                ] {
                    if s(k).is_empty() {
                        return Err(cerr(
                            line,
                            format!("azure SD configuration requires a {what}"),
                        ));
                    }
                }
            }
        }
        "oci" => {
            let auth = s("auth");
            if !auth.is_empty() && auth != "api_key" && auth != "instance_principal" {
                return Err(cerr(
                    line,
                    format!(
                        "oci_sd: unknown auth method {auth:?}, expected \"api_key\" or \"instance_principal\""
                    ),
                ));
            }
        }
        "openstack" => {
            let av = s("availability");
            if !av.is_empty() && !matches!(av.as_str(), "public" | "admin" | "internal") {
                return Err(cerr(
                    line,
                    format!("unknown availability {av}, must be one of admin, internal or public"),
                ));
            }
            let role = s("role");
            if role.is_empty() {
                return Err(cerr(
                    line,
                    "role missing (one of: instance, hypervisor, loadbalancer)",
                ));
            }
            if role != "hypervisor" && role != "instance" && role != "loadbalancer" {
                return Err(cerr(line, format!("unknown OpenStack SD role {role:?}")));
            }
        }
        "ec2" => {
            if let Some(filters) = field(node, "filters") {
                for flt in filters.seq("*ec2.Filter")? {
                    let mut ff = Fields::new(flt, "ec2.Filter")?;
                    let _ = ff.get("name");
                    let values = ff
                        .get("values")
                        .map(Node::strings)
                        .transpose()?
                        .unwrap_or_default();
                    ff.finish()?;
                    if values.is_empty() {
                        return Err(cerr(
                            flt.line,
                            "EC2 SD configuration filter values cannot be empty",
                        ));
                    }
                }
            }
        }
        "puppetdb" => {
            let url = s("url");
            if url.is_empty() {
                return Err(cerr(line, "URL is missing"));
            }
            check_http_url(&url, line)?;
            if s("query").is_empty() {
                return Err(cerr(line, "query missing"));
            }
        }
        "hetzner" => {
            let role = s("role");
            if role != "robot" && role != "hcloud" {
                return Err(cerr(line, format!("unknown role {role:?}")));
            }
        }
        "eureka" => {
            let server = s("server");
            if server.is_empty() {
                return Err(cerr(line, "empty or null eureka server"));
            }
            let ok = url::Url::parse(&server)
                .ok()
                .is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
            if !ok {
                return Err(cerr(line, "invalid eureka server URL"));
            }
        }
        "scaleway" => {
            let role = s("role");
            if role != "instance" && role != "baremetal" {
                return Err(cerr(line, format!("unknown role {role:?}")));
            }
            exactly_one_secret_key(node, line)?;
        }
        "outscale" => {
            if s("region").is_empty() {
                return Err(cerr(line, "outscale SD configuration requires a region"));
            }
            exactly_one_secret_key(node, line)?;
        }
        "uyuni" if s("server").is_empty() => {
            return Err(cerr(line, "Uyuni SD configuration requires server host"));
        }
        "ionos" if s("datacenter_id").is_empty() => {
            return Err(cerr(line, "datacenter id can't be empty"));
        }
        "ovhcloud" => {
            if s("application_secret").is_empty() {
                return Err(cerr(line, "application secret can not be empty"));
            }
            let service = s("service");
            if service != "vps" && service != "dedicated_server" {
                return Err(cerr(line, format!("unknown service: {service}")));
            }
        }
        "stackit" => {
            let ep = s("endpoint");
            if !ep.is_empty() && url::Url::parse(&ep).is_err() {
                return Err(cerr(line, format!("invalid endpoint {ep:?}")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Scaleway and Outscale take their secret inline or from a file, one of the two.
fn exactly_one_secret_key(node: &Node, line: usize) -> Result<()> {
    match (
        has_field(node, "secret_key"),
        has_field(node, "secret_key_file"),
    ) {
        (true, true) => Err(cerr(
            line,
            "at most one of secret_key & secret_key_file must be configured",
        )),
        (false, false) => Err(cerr(
            line,
            "one of secret_key & secret_key_file must be configured",
        )),
        _ => Ok(()),
    }
}

fn validate_kubernetes(node: &Node, http: Option<&HttpClientConfig>) -> Result<()> {
    let line = node.line;
    let s = |k: &str| str_field(node, k).unwrap_or_default();
    let role = s("role");
    if !matches!(
        role.as_str(),
        "pod" | "service" | "endpoints" | "endpointslice" | "node" | "ingress"
    ) {
        return Err(cerr(
            line,
            format!("role: unknown Kubernetes SD role {role:?}"),
        ));
    }
    let api_server = s("api_server");
    let kubeconfig = s("kubeconfig_file");
    let custom_http = http.is_some_and(|h| *h != HttpClientConfig::default());
    if !kubeconfig.is_empty() && !api_server.is_empty() {
        return Err(cerr(
            line,
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ));
    }
    if !kubeconfig.is_empty() && custom_http {
        return Err(cerr(
            line,
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        ));
    }
    if api_server.is_empty() && kubeconfig.is_empty() && custom_http {
        return Err(cerr(
            line,
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ));
    }
    if let Value::Map(e) = &node.value {
        for (k, v) in e {
            let Value::Scalar { text, .. } = &k.value else {
                continue;
            };
            match text.as_str() {
                "namespaces" => {
                    let mut nf = Fields::new(v, "kubernetes.plain")?;
                    let own = nf
                        .get("own_namespace")
                        .map(Node::bool)
                        .transpose()?
                        .unwrap_or(false);
                    let _ = nf.get("names").map(Node::strings).transpose()?;
                    nf.finish()?;
                    if own && !api_server.is_empty() {
                        return Err(cerr(
                            line,
                            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
                        ));
                    }
                    if own && !kubeconfig.is_empty() {
                        return Err(cerr(
                            line,
                            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
                        ));
                    }
                }
                "attach_metadata" => {
                    let mut af = Fields::new(v, "kubernetes.AttachMetadataConfig")?;
                    let _ = af.get("node").map(Node::bool).transpose()?;
                    let _ = af.get("namespace").map(Node::bool).transpose()?;
                    af.finish()?;
                }
                "selectors" => {
                    let mut seen: Vec<String> = Vec::new();
                    for sel in v.seq("kubernetes.SelectorConfig")? {
                        let mut sf = Fields::new(sel, "kubernetes.SelectorConfig")?;
                        let srole = sf
                            .get("role")
                            .map(Node::str)
                            .transpose()?
                            .unwrap_or_default();
                        let label = sf
                            .get("label")
                            .map(Node::str)
                            .transpose()?
                            .unwrap_or_default();
                        let field = sf
                            .get("field")
                            .map(Node::str)
                            .transpose()?
                            .unwrap_or_default();
                        sf.finish()?;
                        if seen.contains(&srole) {
                            return Err(cerr(
                                sel.line,
                                format!("duplicated selector role: {srole}"),
                            ));
                        }
                        seen.push(srole.clone());
                        let allowed: &[&str] = match role.as_str() {
                            "pod" => &["pod", "node"],
                            "service" => &["service"],
                            "endpoints" => &["pod", "service", "endpoints"],
                            "endpointslice" => &["pod", "service", "endpointslice"],
                            "node" => &["node"],
                            _ => &["ingress"],
                        };
                        if !allowed.contains(&srole.as_str()) {
                            let list = allowed.join(", ");
                            return Err(cerr(
                                sel.line,
                                format!("{role} role supports only {list} selectors"),
                            ));
                        }
                        for (is_field, sel_text) in [(false, &label), (true, &field)] {
                            if !sel_text.is_empty() && !valid_k8s_selector(sel_text, is_field) {
                                return Err(cerr(
                                    sel.line,
                                    format!(
                                        "invalid selector: '{sel_text}'; can't understand '{sel_text}'"
                                    ),
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A Kubernetes label or field selector: comma-separated terms. Field selectors take
/// `key=value`, `key==value` and `key!=value`; label selectors also `key`, `!key` and the
/// set forms `key in (a,b)` / `key notin (a)`.
fn valid_k8s_selector(s: &str, field: bool) -> bool {
    let mut depth = 0i32;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    parts.iter().all(|p| {
        let p = p.trim();
        if let Some((k, _)) = p
            .split_once("!=")
            .or_else(|| p.split_once("=="))
            .or_else(|| p.split_once('='))
        {
            return key_ok(k.trim());
        }
        if field {
            return false;
        }
        if let Some((k, rest)) = p.split_once(" notin ").or_else(|| p.split_once(" in ")) {
            let rest = rest.trim();
            return key_ok(k.trim()) && rest.starts_with('(') && rest.ends_with(')');
        }
        key_ok(p.strip_prefix('!').unwrap_or(p))
    })
}
