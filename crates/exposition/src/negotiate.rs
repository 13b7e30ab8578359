//! Content negotiation: which parser a response's `Content-Type` calls for, and the `Accept`
//! header a scraper sends, as Prometheus 3 does.

use std::fmt;
use std::str::FromStr;

/// The text formats prom parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format (`text/plain`, versions 0.0.4 and 1.0.0).
    Text,
    /// OpenMetrics text (`application/openmetrics-text`, versions 0.0.1 and 1.0.0).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` to serve this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8; escaping=underscores",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A protocol a scrape config may list in `scrape_protocols` (or name as
/// `fallback_scrape_protocol`), spelled as Prometheus spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    /// `PrometheusProto`: the protobuf format (not parsed by prom yet).
    PrometheusProto,
    /// `OpenMetricsText0.0.1`.
    OpenMetricsText0_0_1,
    /// `OpenMetricsText1.0.0`.
    OpenMetricsText1_0_0,
    /// `PrometheusText0.0.4`.
    PrometheusText0_0_4,
    /// `PrometheusText1.0.0`.
    PrometheusText1_0_0,
}

impl ScrapeProtocol {
    /// Prometheus 3's default `scrape_protocols`, most preferred first.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
        }
    }

    /// The media range this protocol asks for in an `Accept` header (without `q`).
    pub fn media_range(self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => {
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
            }
            ScrapeProtocol::OpenMetricsText0_0_1 => "application/openmetrics-text;version=0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => {
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8"
            }
            ScrapeProtocol::PrometheusText0_0_4 => "text/plain;version=0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "text/plain;version=1.0.0;escaping=allow-utf-8",
        }
    }

    /// The parser for responses in this protocol, if prom has one.
    pub fn format(self) -> Option<Format> {
        match self {
            ScrapeProtocol::PrometheusProto => None,
            ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => {
                Some(Format::OpenMetrics)
            }
            ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => {
                Some(Format::Text)
            }
        }
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scrape protocol name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scrape protocol {0:?}, expected one of PrometheusProto, OpenMetricsText0.0.1, OpenMetricsText1.0.0, PrometheusText0.0.4, PrometheusText1.0.0"
)]
pub struct UnknownProtocol(pub String);

impl FromStr for ScrapeProtocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "PrometheusProto" => ScrapeProtocol::PrometheusProto,
            "OpenMetricsText0.0.1" => ScrapeProtocol::OpenMetricsText0_0_1,
            "OpenMetricsText1.0.0" => ScrapeProtocol::OpenMetricsText1_0_0,
            "PrometheusText0.0.4" => ScrapeProtocol::PrometheusText0_0_4,
            "PrometheusText1.0.0" => ScrapeProtocol::PrometheusText1_0_0,
            other => return Err(UnknownProtocol(other.to_owned())),
        })
    }
}

/// The `Accept` header for `protocols`, most preferred first, as Prometheus builds it: weights
/// descend from `q=0.6` in tenths and `*/*` comes last, so a target that honours none of the
/// listed types still answers (and negotiation then decides what to do with its reply).
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    let mut out = String::new();
    let mut weight: usize = 6;
    for p in protocols {
        out.push_str(p.media_range());
        out.push_str(&format!(";q=0.{},", weight.max(1)));
        weight = weight.saturating_sub(1);
    }
    out.push_str(&format!("*/*;q=0.{}", weight.max(1)));
    out
}

/// The outcome of negotiation: the format to parse with and, when a fallback was used, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The parser to use.
    pub format: Format,
    /// Set when the fallback protocol was used: the reason, for the scrape's log.
    pub warning: Option<String>,
}

/// Why no parser could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No usable Content-Type, and no fallback protocol configured.
    #[error("{0}")]
    NoFallback(String),
    /// The Content-Type (or the fallback) names a format prom cannot parse.
    #[error(
        "unsupported format {0:?}: prom parses the Prometheus text format and OpenMetrics text"
    )]
    Unsupported(String),
}

/// Chooses the parser for a response as Prometheus 3 does: by the media type of
/// `Content-Type` (`text/plain` → text, `application/openmetrics-text` → OpenMetrics);
/// when the header is missing, unparsable or names another type, the configured `fallback`
/// protocol is used with a warning, and without one the scrape fails.
pub fn negotiate(
    content_type: Option<&str>,
    fallback: Option<ScrapeProtocol>,
) -> Result<Negotiated, NegotiationError> {
    let with_fallback = |reason: String| -> Result<Negotiated, NegotiationError> {
        match fallback {
            None => Err(NegotiationError::NoFallback(format!(
                "{reason} and no fallback_scrape_protocol specified for target"
            ))),
            Some(p) => match p.format() {
                Some(format) => Ok(Negotiated {
                    format,
                    warning: Some(format!("{reason}, using fallback_scrape_protocol {p}")),
                }),
                None => Err(NegotiationError::Unsupported(p.as_str().to_owned())),
            },
        }
    };
    let ct = match content_type.map(str::trim) {
        None | Some("") => {
            return with_fallback("non-compliant scrape target sending blank Content-Type".into());
        }
        Some(ct) => ct,
    };
    let Some(media) = media_type(ct) else {
        return with_fallback(format!("could not parse received Content-Type {ct:?}"));
    };
    match media.as_str() {
        "text/plain" => Ok(Negotiated {
            format: Format::Text,
            warning: None,
        }),
        "application/openmetrics-text" => Ok(Negotiated {
            format: Format::OpenMetrics,
            warning: None,
        }),
        "application/vnd.google.protobuf" => Err(NegotiationError::Unsupported(media)),
        _ => with_fallback(format!("received unsupported Content-Type {ct:?}")),
    }
}

/// The lower-cased `type/subtype` of a Content-Type, if it is well formed (RFC 7231 tokens,
/// parameters `name=value` or `name="quoted"`).
fn media_type(ct: &str) -> Option<String> {
    let mut parts = ct.split(';');
    let mt = parts.next()?.trim();
    let (ty, sub) = mt.split_once('/')?;
    if !is_token(ty) || !is_token(sub) {
        return None;
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (k, v) = param.split_once('=')?;
        let v = v.trim();
        let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
        if !is_token(k.trim()) || !(quoted || is_token(v)) {
            return None;
        }
    }
    Some(mt.to_ascii_lowercase())
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_by_media_type() {
        let t = negotiate(Some("text/plain; version=0.0.4; charset=utf-8"), None).unwrap();
        assert_eq!(
            t,
            Negotiated {
                format: Format::Text,
                warning: None
            }
        );
        let om = negotiate(
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            None,
        )
        .unwrap();
        assert_eq!(om.format, Format::OpenMetrics);
        let upper = negotiate(Some("Text/Plain"), None).unwrap();
        assert_eq!(upper.format, Format::Text);
    }

    #[test]
    fn missing_or_unknown_content_type_needs_a_fallback() {
        for ct in [None, Some(""), Some("application/json"), Some("garbage")] {
            let err = negotiate(ct, None).unwrap_err();
            assert!(
                matches!(err, NegotiationError::NoFallback(_)),
                "{ct:?}: {err}"
            );
            assert!(
                err.to_string().contains("no fallback_scrape_protocol"),
                "{err}"
            );
            let ok = negotiate(ct, Some(ScrapeProtocol::PrometheusText0_0_4)).unwrap();
            assert_eq!(ok.format, Format::Text);
            assert!(
                ok.warning
                    .unwrap()
                    .contains("using fallback_scrape_protocol PrometheusText0.0.4")
            );
        }
        let om = negotiate(None, Some(ScrapeProtocol::OpenMetricsText1_0_0)).unwrap();
        assert_eq!(om.format, Format::OpenMetrics);
    }

    #[test]
    fn protobuf_is_reported_unsupported() {
        let err = negotiate(Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"), None).unwrap_err();
        assert!(matches!(err, NegotiationError::Unsupported(_)));
        assert!(negotiate(None, Some(ScrapeProtocol::PrometheusProto)).is_err());
    }

    #[test]
    fn malformed_content_type_uses_fallback() {
        let n = negotiate(
            Some("text/plain; version"),
            Some(ScrapeProtocol::OpenMetricsText1_0_0),
        )
        .unwrap();
        assert_eq!(n.format, Format::OpenMetrics);
        assert!(n.warning.unwrap().contains("could not parse"));
    }

    #[test]
    fn accept_header_orders_by_preference() {
        let h = accept_header(&ScrapeProtocol::DEFAULT);
        assert_eq!(
            h,
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in ScrapeProtocol::DEFAULT
            .iter()
            .chain([&ScrapeProtocol::PrometheusProto])
        {
            assert_eq!(p.as_str().parse::<ScrapeProtocol>().unwrap(), *p);
        }
        assert!("prometheustext0.0.4".parse::<ScrapeProtocol>().is_err());
    }
}
