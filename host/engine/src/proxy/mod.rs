//! Proxies: the settings (`proxy.mode`, `proxy.url`, `proxy.domain`, `proxy.user` and the
//! secret `proxy_password`), the purpose of a connection, the route a connection takes
//! (an ordered list of hops, `direct://` among them), and the engine's own transport
//! through a proxy ([`tunnel`], [`relay`]).
//!
//! Every connection to the back office goes through [`relay::Relay`] when a proxy may be
//! used: reqwest speaks HTTP (and TLS to the back office) over a private Unix socket, and
//! the relay opens each of its connections through the route — a `CONNECT` to an HTTP or
//! HTTPS proxy with the authentication the proxy asks for, or SOCKS5 — so that the
//! dialogue with the proxy is in one place, knows the proxy's exact answer (its status,
//! the schemes of `Proxy-Authenticate`) and can say in words why it failed.

pub mod negotiate;
pub mod relay;
pub mod tunnel;

use std::fmt;

use serde::{Deserialize, Serialize};

/// `proxy.mode`: the documents' choice in the proxy dialog.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// No proxy: every connection goes direct.
    #[default]
    None,
    /// "Automatically detect settings": the system's proxy, as the proxy detector plugin
    /// finds it.
    Auto,
    /// "Use proxy server": `proxy.url`.
    Manual,
}

impl ProxyMode {
    /// The word of the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::None => "none",
            ProxyMode::Auto => "auto",
            ProxyMode::Manual => "manual",
        }
    }

    /// Parses the setting's word.
    pub fn parse(value: &str) -> Result<ProxyMode, String> {
        match value {
            "none" => Ok(ProxyMode::None),
            "auto" => Ok(ProxyMode::Auto),
            "manual" => Ok(ProxyMode::Manual),
            _ => Err("it must be none, auto (automatically detect settings) or manual (use proxy server)".to_string()),
        }
    }
}

/// The proxy settings, as kept in `settings.toml` (`[proxy]`). The password is a secret
/// (`proxy_password`), never here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Which proxy is used.
    pub mode: ProxyMode,
    /// The manual proxy, as [`check_proxy_url`] writes it (`http://host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The domain of the proxy user (`DOMAIN\user` in Basic authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The proxy user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ProxySettings {
    /// The user name the proxy is given: `DOMAIN\user` when a domain is set.
    pub fn user_name(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        Some(match self.domain.as_deref() {
            Some(domain) => format!("{domain}\\{user}"),
            None => user.to_string(),
        })
    }
}

/// What a connection is for. The proxy a connection may use follows from it: the
/// documents allow an automatically detected proxy for licence updates and downloads, but
/// remote assistance needs the proxy set by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The session with the back office: its event stream, heartbeats, test-connection.
    Backoffice,
    /// A licence download (a plugin's back office request).
    LicenceDownload,
    /// Remote assistance.
    RemoteAssistance,
}

impl Purpose {
    /// Whether a proxy found by automatic detection may carry this connection.
    pub fn may_use_detected_proxy(self) -> bool {
        match self {
            Purpose::Backoffice | Purpose::LicenceDownload => true,
            Purpose::RemoteAssistance => false,
        }
    }
}

/// One way a connection can go: direct, or through one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hop {
    /// No proxy.
    Direct,
    /// An HTTP proxy (`CONNECT`), over TLS when `tls` (an `https://` proxy).
    Http {
        /// The proxy's host.
        host: String,
        /// Its port.
        port: u16,
        /// TLS to the proxy itself.
        tls: bool,
    },
    /// A SOCKS4 proxy (`remote_dns`: SOCKS4a, the proxy resolves the back office's name;
    /// otherwise this machine does).
    Socks4 {
        /// The proxy's host.
        host: String,
        /// Its port.
        port: u16,
        /// SOCKS4a.
        remote_dns: bool,
    },
    /// A SOCKS5 proxy; the proxy resolves the back office's name.
    Socks5 {
        /// The proxy's host.
        host: String,
        /// Its port.
        port: u16,
    },
}

impl Hop {
    /// Parses a candidate as the proxy detector and `proxy resolve` write them:
    /// `http://host:port`, `https://host:port`, `socks5://host:port`, `direct://`.
    pub fn parse(candidate: &str) -> Result<Hop, String> {
        if candidate == "direct://" {
            return Ok(Hop::Direct);
        }
        let url = url::Url::parse(candidate)
            .map_err(|error| format!("{candidate:?} is not a proxy URL ({error})"))?;
        let host = match url.host() {
            Some(url::Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => return Err(format!("{candidate:?} has no host")),
        };
        let port = url
            .port_or_known_default()
            .or(match url.scheme() {
                "socks4" | "socks4a" | "socks5" | "socks5h" => Some(1080),
                _ => None,
            })
            .ok_or_else(|| format!("{candidate:?} has no port"))?;
        match url.scheme() {
            "http" => Ok(Hop::Http {
                host,
                port,
                tls: false,
            }),
            "https" => Ok(Hop::Http {
                host,
                port,
                tls: true,
            }),
            "socks5" | "socks5h" => Ok(Hop::Socks5 { host, port }),
            "socks4" | "socks4a" => Ok(Hop::Socks4 {
                host,
                port,
                remote_dns: url.scheme() == "socks4a",
            }),
            other => Err(format!(
                "{candidate:?}: {other} proxies are not supported (http, https, socks4, socks4a, socks5)"
            )),
        }
    }

    /// `host:port` of the proxy, as the reasons name it.
    pub fn authority(&self) -> Option<String> {
        match self {
            Hop::Direct => None,
            Hop::Http { host, port, .. }
            | Hop::Socks4 { host, port, .. }
            | Hop::Socks5 { host, port } => Some(authority(host, *port)),
        }
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hop::Direct => formatter.write_str("direct://"),
            Hop::Http { host, port, tls } => {
                let scheme = if *tls { "https" } else { "http" };
                write!(formatter, "{scheme}://{}", authority(host, *port))
            }
            Hop::Socks4 {
                host,
                port,
                remote_dns,
            } => {
                let scheme = if *remote_dns { "socks4a" } else { "socks4" };
                write!(formatter, "{scheme}://{}", authority(host, *port))
            }
            Hop::Socks5 { host, port } => {
                write!(formatter, "socks5://{}", authority(host, *port))
            }
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks a `proxy.url` and writes it out whole: `proxy.example.com:8080` (the documents'
/// form) becomes `http://proxy.example.com:8080`; `http://`, `https://` (TLS to the proxy)
/// and `socks5://` are accepted. A user name or password in the URL is refused: they go
/// into `proxy.user` and the secret `proxy_password`, never into a URL.
pub fn check_proxy_url(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("it is empty; give host:port, for example proxy.example.com:8080".to_string());
    }
    let written = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = url::Url::parse(&written).map_err(|error| {
        format!("it is not a proxy address ({error}); give host:port, for example proxy.example.com:8080")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain a user name or password: set proxy.user (and proxy.domain), and the password with `remote-service config set-secret proxy_password`".to_string());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("a proxy address is host:port, without a path, query or fragment".to_string());
    }
    if url.host().is_none() {
        return Err("it has no host name".to_string());
    }
    if url.port().is_none() && !value.contains("://") {
        return Err("give the port too: host:port, for example proxy.example.com:8080".to_string());
    }
    let hop = Hop::parse(&written)?;
    Ok(hop.to_string())
}

/// The proxy password, read from the keyring: shown nowhere, not even in `Debug`, and
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyPassword(zeroize::Zeroizing<String>);

impl ProxyPassword {
    /// Wraps the password read from the keyring.
    pub fn new(password: String) -> ProxyPassword {
        ProxyPassword(zeroize::Zeroizing::new(password))
    }

    /// The password, for the `Proxy-Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProxyPassword {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ProxyPassword(hidden)")
    }
}

/// Who the installation is to the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyCredentials {
    /// `DOMAIN\user` or `user`.
    pub user: Option<String>,
    /// The password, when one is stored.
    pub password: Option<ProxyPassword>,
}

/// How a connection goes: the hops to try in order, and who the installation is to a
/// proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The candidates, in order (`direct://` among them, or alone).
    pub hops: Vec<Hop>,
    /// The proxy user and password.
    pub credentials: ProxyCredentials,
}

impl Route {
    /// Straight to the back office.
    pub fn direct() -> Route {
        Route {
            hops: vec![Hop::Direct],
            credentials: ProxyCredentials::default(),
        }
    }

    /// Whether the route uses no proxy.
    pub fn is_direct(&self) -> bool {
        self.hops.iter().all(|hop| *hop == Hop::Direct)
    }
}

/// How long the engine waits for the proxy detector's answer.
const DETECTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The plugin that detects proxies.
pub const DETECTOR_PLUGIN: &str = "proxy-detector";

/// A request for the proxy detector plugin: the URL, and where the plugin's answer goes.
pub struct Detection {
    /// The URL the candidates are for.
    pub url: String,
    /// The plugin's answer to its command.
    pub reply: tokio::sync::oneshot::Sender<remote_service_api::CommandOutcome>,
}

/// Asks the proxy detector plugin, through the engine's thread (which runs the plugins),
/// for the candidates of a URL. Cheap to clone; usable from any thread or task.
#[derive(Clone)]
pub struct Detector {
    requests: crossbeam_channel::Sender<Detection>,
}

impl fmt::Debug for Detector {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Detector")
    }
}

impl Detector {
    /// A detector whose requests go to `requests` (the engine's thread reads them).
    pub fn new(requests: crossbeam_channel::Sender<Detection>) -> Detector {
        Detector { requests }
    }

    /// The plugin's candidates for `url`, or why there are none.
    pub async fn candidates(
        &self,
        url: &str,
    ) -> Result<remote_service_plugin_api::proxy::ProxyCandidates, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(Detection {
                url: url.to_string(),
                reply,
            })
            .map_err(|_| "the engine is stopping".to_string())?;
        let outcome = match tokio::time::timeout(DETECTION_LIMIT, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => return Err("the proxy detector stopped before it answered".to_string()),
            Err(_) => {
                return Err(format!(
                    "the proxy detector did not answer within {} s",
                    DETECTION_LIMIT.as_secs()
                ))
            }
        };
        if !outcome.ok {
            return Err(outcome.message);
        }
        serde_json::from_str(&outcome.message)
            .map_err(|error| format!("the proxy detector's answer is not valid ({error})"))
    }
}

/// What a connection to a URL would use, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// `proxy.mode`.
    pub mode: ProxyMode,
    /// `none`, `manual`, or the detector's source (`env`, `kde`, `sysconfig`, …).
    pub source: String,
    /// The candidates as written out (`http://host:port`, `direct://`).
    pub candidates: Vec<String>,
    /// The route built from them.
    pub route: Route,
}

impl Resolution {
    /// The authentication the proxy would be offered: `basic` with a user, else `none`.
    pub fn authentication(&self) -> &'static str {
        if !self.route.is_direct() && self.route.credentials.user.is_some() {
            "basic"
        } else {
            "none"
        }
    }
}

/// The route of a connection to `url` for `purpose` with the proxy `settings` and
/// `credentials`: direct, the manual proxy, or what the detector finds. Why not, in words
/// for the light.
pub async fn resolve(
    settings: &ProxySettings,
    credentials: ProxyCredentials,
    purpose: Purpose,
    url: &str,
    detector: Option<&Detector>,
) -> Result<Resolution, String> {
    let resolution = |source: &str, hops: Vec<Hop>| Resolution {
        mode: settings.mode,
        source: source.to_string(),
        candidates: hops.iter().map(Hop::to_string).collect(),
        route: Route {
            hops,
            credentials: credentials.clone(),
        },
    };
    match settings.mode {
        ProxyMode::None => Ok(resolution("none", vec![Hop::Direct])),
        ProxyMode::Manual => {
            let url = settings.url.as_deref().ok_or(
                "the proxy is set to manual but proxy.url is not set (remote-service config set proxy.url host:port)",
            )?;
            let hop = Hop::parse(url).map_err(|why| format!("proxy.url: {why}"))?;
            Ok(resolution("manual", vec![hop]))
        }
        ProxyMode::Auto if !purpose.may_use_detected_proxy() => Err(
            "remote assistance needs the proxy set by hand (proxy.mode manual), not automatic detection".to_string(),
        ),
        ProxyMode::Auto => {
            let detector = detector.ok_or("automatic proxy detection needs the proxy detector plugin")?;
            let found = detector
                .candidates(url)
                .await
                .map_err(|why| format!("automatic proxy detection failed: {why}"))?;
            let hops = found
                .candidates
                .iter()
                .map(|candidate| Hop::parse(candidate))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| format!("automatic proxy detection found a proxy that cannot be used: {why}"))?;
            if hops.is_empty() {
                return Err("automatic proxy detection failed: the detector gave no candidate".to_string());
            }
            Ok(Resolution {
                candidates: found.candidates,
                ..resolution(&found.source, hops)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_url_is_written_out_whole_and_credentials_in_it_are_refused() {
        for (given, written) in [
            ("proxy.example.com:8080", "http://proxy.example.com:8080"),
            (
                "http://proxy.example.com:3128",
                "http://proxy.example.com:3128",
            ),
            ("http://proxy.example.com", "http://proxy.example.com:80"),
            (
                "https://proxy.example.com:8443/",
                "https://proxy.example.com:8443",
            ),
            ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
            ("[::1]:3128", "http://[::1]:3128"),
        ] {
            assert_eq!(check_proxy_url(given).as_deref(), Ok(written), "{given}");
        }
        for (given, words) in [
            (
                "http://me:secret@proxy.example.com:8080",
                "must not contain a user name or password",
            ),
            (
                "me@proxy.example.com:8080",
                "must not contain a user name or password",
            ),
            ("proxy.example.com", "give the port"),
            (
                "ftp://proxy.example.com:21",
                "ftp proxies are not supported",
            ),
            ("http://proxy.example.com:8080/path", "without a path"),
            ("", "empty"),
        ] {
            let error = check_proxy_url(given).unwrap_err();
            assert!(error.contains(words), "{given}: {error}");
            assert!(!error.contains("secret@"), "{error}");
        }
    }

    #[test]
    fn candidates_parse_into_hops_and_back() {
        for candidate in [
            "direct://",
            "http://10.0.0.1:3128",
            "https://proxy.example.com:8443",
            "socks5://[::1]:1080",
            "socks4://h:1080",
            "socks4a://h:1080",
        ] {
            assert_eq!(Hop::parse(candidate).unwrap().to_string(), candidate);
        }
        assert!(Hop::parse("ftp://h:21")
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn only_remote_assistance_refuses_a_detected_proxy() {
        assert!(Purpose::Backoffice.may_use_detected_proxy());
        assert!(Purpose::LicenceDownload.may_use_detected_proxy());
        assert!(!Purpose::RemoteAssistance.may_use_detected_proxy());
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let credentials = ProxyCredentials {
            user: Some("EXAMPLE\\me".into()),
            password: Some(ProxyPassword::new("hunter2".into())),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
