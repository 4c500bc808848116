//! Opens one connection to the back office through one [`Hop`]: direct, a `CONNECT` to an
//! HTTP proxy (over TLS for an `https://` proxy) with the authentication the proxy asks
//! for, or SOCKS5. Each failure is a [`Failure`] that names the proxy and what it said;
//! no failure ever holds the password.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{authority, Hop, ProxyCredentials};
use crate::connection::Failure;

/// A byte stream to the back office.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The stream a tunnel gives.
pub type Stream = Box<dyn Io>;

/// The longest answer head a proxy may send to `CONNECT`.
const MAX_HEAD: usize = 16 * 1024;

/// Where the connection goes in the end: the back office's host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name (the proxy resolves it).
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Target {
    /// `host:port`.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

/// How the proxy let the connection through, so that the next connection can say it at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authenticated {
    /// The proxy asked for nothing.
    #[default]
    NotAsked,
    /// Basic, with the user name and password.
    Basic,
    /// Negotiate, with the user's Kerberos ticket.
    Negotiate,
}

/// Opens a stream to `target` through `hop` within `limit` (each step). `known` is how
/// the same proxy let the last connection through.
pub async fn open(
    hop: &Hop,
    target: &Target,
    credentials: &ProxyCredentials,
    tls: &Arc<ClientConfig>,
    limit: Duration,
    known: Authenticated,
) -> Result<(Stream, Authenticated), Failure> {
    match hop {
        Hop::Direct => {
            let stream = tcp(&target.host, target.port, limit).await.map_err(|why| {
                Failure::unreachable(format!("cannot connect to {}: {why}", target.authority()))
            })?;
            Ok((Box::new(stream), Authenticated::NotAsked))
        }
        Hop::Http {
            host,
            port,
            tls: over_tls,
        } => {
            let proxy = authority(host, *port);
            let connect = |authorization: Option<zeroize::Zeroizing<String>>| {
                http_connect(host, *port, *over_tls, target, tls, limit, authorization)
            };
            // What the proxy asked for last time is sent at once.
            let first = match known {
                Authenticated::Basic if basic_header(credentials).is_some() => Authenticated::Basic,
                Authenticated::Negotiate => Authenticated::Negotiate,
                _ => Authenticated::NotAsked,
            };
            let header = match first {
                Authenticated::Basic => basic_header(credentials),
                Authenticated::Negotiate => negotiate_header(host, limit).await.ok(),
                Authenticated::NotAsked => None,
            };
            let schemes = match connect(header).await? {
                Connected::Open(stream) => return Ok((stream, first)),
                Connected::AuthenticationRequired(_) if first == Authenticated::Basic => {
                    return Err(Failure::refused(format!(
                        "the proxy {proxy} refused the user name or password"
                    )))
                }
                Connected::AuthenticationRequired(schemes) => schemes,
            };
            let offers = |name: &str| {
                schemes
                    .iter()
                    .any(|scheme| scheme.eq_ignore_ascii_case(name))
            };
            let mut negotiate_problem = None;
            if offers("negotiate") {
                match negotiate_header(host, limit).await {
                    Ok(header) => match connect(Some(header)).await? {
                        Connected::Open(stream) => return Ok((stream, Authenticated::Negotiate)),
                        Connected::AuthenticationRequired(_) => {
                            negotiate_problem = Some(format!(
                                "the proxy {proxy} refused the Kerberos credentials (Negotiate)"
                            ))
                        }
                    },
                    Err(why) => negotiate_problem = Some(format!("Negotiate: {why}")),
                }
            }
            if offers("basic") {
                if let Some(header) = basic_header(credentials) {
                    return match connect(Some(header)).await? {
                        Connected::Open(stream) => Ok((stream, Authenticated::Basic)),
                        Connected::AuthenticationRequired(_) => Err(Failure::refused(format!(
                            "the proxy {proxy} refused the user name or password"
                        ))),
                    };
                }
            }
            if let Some(problem) = &negotiate_problem {
                if problem.starts_with("the proxy") && !offers("basic") {
                    return Err(Failure::refused(problem.clone()));
                }
            }
            Err(Failure::refused(format!(
                "the proxy {proxy} asks for authentication (it offers {}): {}",
                if schemes.is_empty() {
                    "no scheme".to_string()
                } else {
                    schemes.join(", ")
                },
                authentication_hint(&schemes, credentials, negotiate_problem.as_deref())
            )))
        }
        Hop::Socks5 { host, port } => {
            let stream = socks5(host, *port, target, credentials, limit).await?;
            Ok((Box::new(stream), Authenticated::NotAsked))
        }
        Hop::Socks4 {
            host,
            port,
            remote_dns,
        } => {
            let stream = socks4(host, *port, *remote_dns, target, credentials, limit).await?;
            Ok((Box::new(stream), Authenticated::NotAsked))
        }
    }
}

/// A SOCKS4 connection (SOCKS4a when `remote_dns`: the proxy resolves the name); the user
/// name, when set, is SOCKS4's user id (it has no password).
async fn socks4(
    host: &str,
    port: u16,
    remote_dns: bool,
    target: &Target,
    credentials: &ProxyCredentials,
    limit: Duration,
) -> Result<TcpStream, Failure> {
    let proxy = authority(host, port);
    let unreachable = cannot_reach(&proxy);
    let address = if remote_dns {
        // 0.0.0.1: the name follows (SOCKS4a).
        std::net::Ipv4Addr::new(0, 0, 0, 1)
    } else {
        let found = tokio::time::timeout(
            limit,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| {
            Failure::unreachable(format!(
                "no answer for {} within {} s (DNS)",
                target.host,
                limit.as_secs_f64()
            ))
        })?
        .map_err(|_| {
            Failure::refused(format!(
                "cannot resolve the back office's host name {} (DNS)",
                target.host
            ))
        })?;
        match found
            .map(|address| address.ip())
            .find(std::net::IpAddr::is_ipv4)
        {
            Some(std::net::IpAddr::V4(address)) => address,
            _ => {
                return Err(Failure::refused(format!(
                    "{} has no IPv4 address, which SOCKS4 needs (use socks4a or socks5)",
                    target.host
                )))
            }
        }
    };
    let mut stream = tcp(host, port, limit).await.map_err(&unreachable)?;
    let mut request = vec![4, 1];
    request.extend_from_slice(&target.port.to_be_bytes());
    request.extend_from_slice(&address.octets());
    request.extend_from_slice(credentials.user.as_deref().unwrap_or("").as_bytes());
    request.push(0);
    if remote_dns {
        request.extend_from_slice(target.host.as_bytes());
        request.push(0);
    }
    let dialogue = async {
        stream.write_all(&request).await?;
        let mut reply = [0u8; 8];
        stream.read_exact(&mut reply).await?;
        Ok::<_, io::Error>(reply[1])
    };
    match tokio::time::timeout(limit, dialogue).await {
        Ok(Ok(0x5a)) => Ok(stream),
        Ok(Ok(code)) => Err(Failure::refused(format!(
            "the proxy {proxy} refused the connection to {} (SOCKS4 code {code:#x})",
            target.authority()
        ))),
        Ok(Err(error)) => Err(unreachable(io_words(&error, host))),
        Err(_) => Err(unreachable(format!(
            "no SOCKS4 answer within {} s",
            limit.as_secs_f64()
        ))),
    }
}

/// `Negotiate <token>` for the proxy on `host`, from the user's Kerberos credentials (on a
/// blocking thread: GSS-API may ask the KDC), within `limit`.
async fn negotiate_header(
    host: &str,
    limit: Duration,
) -> Result<zeroize::Zeroizing<String>, String> {
    let host = host.to_string();
    let token = tokio::task::spawn_blocking(move || super::negotiate::token(&host));
    match tokio::time::timeout(limit, token).await {
        Ok(Ok(Ok(token))) => Ok(zeroize::Zeroizing::new(format!(
            "Negotiate {}",
            base64::engine::general_purpose::STANDARD.encode(token)
        ))),
        Ok(Ok(Err(why))) => Err(why),
        Ok(Err(_)) => Err("GSS-API failed".to_string()),
        Err(_) => Err(format!(
            "no Kerberos ticket within {} s (does the KDC answer?)",
            limit.as_secs_f64()
        )),
    }
}

/// What to do when the proxy asks for authentication the installation cannot give.
fn authentication_hint(
    schemes: &[String],
    credentials: &ProxyCredentials,
    negotiate_problem: Option<&str>,
) -> String {
    let offers = |name: &str| {
        schemes
            .iter()
            .any(|scheme| scheme.eq_ignore_ascii_case(name))
    };
    let hint = basic_hint(schemes, credentials);
    match negotiate_problem {
        Some(problem) if offers("basic") => format!("{problem}; for Basic: {hint}"),
        Some(problem) => format!(
            "{problem} (the current user needs a Kerberos ticket: kinit, or the desktop's domain login)"
        ),
        None => hint,
    }
}

/// What to set for Basic, or why no offered scheme can be used.
fn basic_hint(schemes: &[String], credentials: &ProxyCredentials) -> String {
    let offers = |name: &str| {
        schemes
            .iter()
            .any(|scheme| scheme.eq_ignore_ascii_case(name))
    };
    if offers("basic") {
        return match (&credentials.user, &credentials.password) {
            (None, _) => "set proxy.user (and proxy.domain), and the password with `remote-service config set-secret proxy_password`".to_string(),
            (Some(_), None) => "the proxy password is not set (`remote-service config set-secret proxy_password`)".to_string(),
            (Some(_), Some(_)) => "the user name and password were not accepted".to_string(),
        };
    }
    if offers("ntlm") {
        return "NTLM is not supported: have the proxy offer Negotiate (Kerberos) or Basic, or use a local authenticating proxy".to_string();
    }
    "none of these schemes is supported (Basic and Negotiate are)".to_string()
}

/// `Basic base64(user:password)`, when both are known.
fn basic_header(credentials: &ProxyCredentials) -> Option<zeroize::Zeroizing<String>> {
    let (user, password) = (credentials.user.as_deref()?, credentials.password.as_ref()?);
    let pair = zeroize::Zeroizing::new(format!("{user}:{}", password.expose()));
    Some(zeroize::Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    )))
}

/// The failure "the proxy … cannot be reached", for a reason.
fn cannot_reach(proxy: &str) -> impl Fn(String) -> Failure + '_ {
    move |why| Failure::unreachable(format!("the proxy {proxy} cannot be reached: {why}"))
}

/// A TCP connection within `limit`; the error in words.
async fn tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(limit, TcpStream::connect((host, port))).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(io_words(&error, host)),
        Err(_) => Err(format!("no answer within {} s", limit.as_secs_f64())),
    }
}

fn io_words(error: &io::Error, host: &str) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "the connection was reset".to_string(),
        io::ErrorKind::TimedOut => "the connection timed out".to_string(),
        _ if error.to_string().contains("lookup") || error.to_string().contains("resolve") => {
            format!("its host name {host} does not resolve (DNS)")
        }
        _ => error.to_string(),
    }
}

enum Connected {
    Open(Stream),
    AuthenticationRequired(Vec<String>),
}

async fn http_connect(
    host: &str,
    port: u16,
    over_tls: bool,
    target: &Target,
    tls: &Arc<ClientConfig>,
    limit: Duration,
    authorization: Option<zeroize::Zeroizing<String>>,
) -> Result<Connected, Failure> {
    let proxy = authority(host, port);
    let unreachable = cannot_reach(&proxy);
    let tcp = tcp(host, port, limit).await.map_err(&unreachable)?;
    let mut stream: Stream = if over_tls {
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| {
            Failure::refused(format!(
                "the proxy's host name {host:?} is not valid for TLS"
            ))
        })?;
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => Box::new(stream),
            Ok(Err(error)) => {
                return Err(Failure::refused(format!(
                    "TLS with the proxy {proxy} failed: {error}"
                )))
            }
            Err(_) => {
                return Err(unreachable(format!(
                    "no TLS handshake within {} s",
                    limit.as_secs_f64()
                )))
            }
        }
    } else {
        Box::new(tcp)
    };
    let mut request = zeroize::Zeroizing::new(format!(
        "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nUser-Agent: remote-service/{1}\r\n",
        target.authority(),
        env!("CARGO_PKG_VERSION")
    ));
    if let Some(header) = authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        read_head(&mut stream).await
    };
    let head = match tokio::time::timeout(limit, exchange).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) if error.kind() == io::ErrorKind::InvalidData => {
            return Err(Failure::refused(format!(
                "the proxy {proxy} did not answer in HTTP ({error})"
            )))
        }
        Ok(Err(error)) => return Err(unreachable(io_words(&error, host))),
        Err(_) => {
            return Err(unreachable(format!(
                "no answer to CONNECT within {} s",
                limit.as_secs_f64()
            )))
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(Failure::refused(format!(
                "the proxy {proxy} did not answer in HTTP"
            )))
        }
    }
    let code = response.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map(|status| {
            format!("HTTP {} {}", code, status.canonical_reason().unwrap_or(""))
                .trim_end()
                .to_string()
        })
        .unwrap_or_else(|_| format!("HTTP {code}"));
    match code {
        200..=299 => Ok(Connected::Open(stream)),
        407 => Ok(Connected::AuthenticationRequired(offered_schemes(
            response.headers,
        ))),
        502..=504 => Err(Failure::unreachable(format!(
            "the proxy {proxy} could not reach {}: {status}",
            target.authority()
        ))),
        _ => Err(Failure::refused(format!(
            "the proxy {proxy} refused the tunnel to {}: {status}",
            target.authority()
        ))),
    }
}

/// The authentication schemes of the `Proxy-Authenticate` headers, in order, each once.
pub fn offered_schemes(headers: &[httparse::Header<'_>]) -> Vec<String> {
    let mut schemes: Vec<String> = Vec::new();
    for header in headers {
        if !header.name.eq_ignore_ascii_case("proxy-authenticate") {
            continue;
        }
        let value = String::from_utf8_lossy(header.value);
        // One header may hold several challenges: `Basic realm="x", Negotiate`. A scheme
        // is a token that starts a challenge; the parameters after it have `=`.
        for part in outside_quotes(&value) {
            let Some(word) = part.split_whitespace().next() else {
                continue;
            };
            if word.contains('=')
                || !word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                continue;
            }
            let scheme = match word.to_ascii_lowercase().as_str() {
                "basic" => "Basic".to_string(),
                "negotiate" => "Negotiate".to_string(),
                "ntlm" => "NTLM".to_string(),
                "digest" => "Digest".to_string(),
                _ => word.to_string(),
            };
            if !schemes.contains(&scheme) {
                schemes.push(scheme);
            }
        }
    }
    schemes
}

/// `value` split at the commas that are not inside a quoted string.
fn outside_quotes(value: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (index, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// Reads an answer head byte by byte (nothing after it: the tunnel's data stays in the
/// stream), at most [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut Stream) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "its answer head is too long",
            ));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "it closed the connection without an answer",
            ));
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// A SOCKS5 connection (RFC 1928; user name and password, RFC 1929, when set).
async fn socks5(
    host: &str,
    port: u16,
    target: &Target,
    credentials: &ProxyCredentials,
    limit: Duration,
) -> Result<TcpStream, Failure> {
    let proxy = authority(host, port);
    let unreachable = cannot_reach(&proxy);
    let mut stream = tcp(host, port, limit).await.map_err(&unreachable)?;
    let user_password = match (&credentials.user, &credentials.password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        _ => None,
    };
    let dialogue = async {
        let methods: &[u8] = if user_password.is_some() {
            &[5, 2, 0, 2]
        } else {
            &[5, 1, 0]
        };
        stream.write_all(methods).await?;
        let mut chosen = [0u8; 2];
        stream.read_exact(&mut chosen).await?;
        if chosen[0] != 5 {
            return Ok(Err(Failure::refused(format!(
                "the proxy {proxy} does not speak SOCKS5"
            ))));
        }
        match (chosen[1], &user_password) {
            (0, _) => {}
            (2, Some((user, password))) => {
                let (user, password) = (user.as_bytes(), password.expose().as_bytes());
                if user.len() > 255 || password.len() > 255 {
                    return Ok(Err(Failure::refused("the proxy user name or password is longer than SOCKS5 allows (255 bytes)".to_string())));
                }
                let mut message = zeroize::Zeroizing::new(vec![1, user.len() as u8]);
                message.extend_from_slice(user);
                message.push(password.len() as u8);
                message.extend_from_slice(password);
                stream.write_all(&message).await?;
                let mut answer = [0u8; 2];
                stream.read_exact(&mut answer).await?;
                if answer[1] != 0 {
                    return Ok(Err(Failure::refused(format!("the proxy {proxy} refused the user name or password"))));
                }
            }
            (0xff, _) | (2, None) => {
                return Ok(Err(Failure::refused(format!(
                    "the proxy {proxy} asks for authentication (it offers SOCKS5 user name and password): {}",
                    basic_hint(&["Basic".to_string()], credentials)
                ))))
            }
            (other, _) => {
                return Ok(Err(Failure::refused(format!("the proxy {proxy} chose SOCKS5 method {other}, which is not supported"))))
            }
        }
        let name = target.host.as_bytes();
        if name.len() > 255 {
            return Ok(Err(Failure::refused(
                "the back office's host name is too long for SOCKS5".to_string(),
            )));
        }
        let mut request = vec![5, 1, 0, 3, name.len() as u8];
        request.extend_from_slice(name);
        request.extend_from_slice(&target.port.to_be_bytes());
        stream.write_all(&request).await?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await?;
        if reply[1] != 0 {
            let why = match reply[1] {
                1 => "general failure",
                2 => "not allowed by its rules",
                3 => "network unreachable",
                4 => "host unreachable",
                5 => "connection refused",
                6 => "TTL expired",
                7 => "command not supported",
                8 => "address type not supported",
                _ => "an unknown error",
            };
            let failure = format!(
                "the proxy {proxy} could not open the connection to {}: {why}",
                target.authority()
            );
            return Ok(Err(if matches!(reply[1], 3..=6) {
                Failure::unreachable(failure)
            } else {
                Failure::refused(failure)
            }));
        }
        let skip = match reply[3] {
            1 => 4,
            4 => 16,
            3 => {
                let mut length = [0u8; 1];
                stream.read_exact(&mut length).await?;
                length[0] as usize
            }
            _ => {
                return Ok(Err(Failure::refused(format!(
                    "the proxy {proxy} sent a SOCKS5 answer that is not valid"
                ))))
            }
        };
        let mut bound = vec![0u8; skip + 2];
        stream.read_exact(&mut bound).await?;
        Ok(Ok(()))
    };
    match tokio::time::timeout(limit, dialogue).await {
        Ok(Ok(Ok(()))) => Ok(stream),
        Ok(Ok(Err(failure))) => Err(failure),
        Ok(Err(error)) => Err(unreachable(io_words(&error, host))),
        Err(_) => Err(unreachable(format!(
            "no SOCKS5 answer within {} s",
            limit.as_secs_f64()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_schemes_are_read_from_every_challenge() {
        let headers = [
            httparse::Header {
                name: "Proxy-Authenticate",
                value: b"Negotiate",
            },
            httparse::Header {
                name: "proxy-authenticate",
                value: b"Basic realm=\"Squid, the proxy\", NTLM",
            },
            httparse::Header {
                name: "Via",
                value: b"1.1 squid",
            },
            httparse::Header {
                name: "Proxy-Authenticate",
                value: b"basic realm=x",
            },
        ];
        assert_eq!(offered_schemes(&headers), ["Negotiate", "Basic", "NTLM"]);
    }

    #[test]
    fn the_hint_says_what_to_set() {
        let none = ProxyCredentials::default();
        assert!(authentication_hint(&["Basic".into()], &none, None).contains("proxy.user"));
        let user = ProxyCredentials {
            user: Some("me".into()),
            password: None,
        };
        assert!(authentication_hint(&["Basic".into()], &user, None)
            .contains("set-secret proxy_password"));
        assert!(
            authentication_hint(&["NTLM".into()], &user, None).contains("NTLM is not supported")
        );
        let no_ticket = authentication_hint(
            &["Negotiate".into()],
            &user,
            Some("Negotiate: no credentials cache"),
        );
        assert!(
            no_ticket.contains("no credentials cache") && no_ticket.contains("kinit"),
            "{no_ticket}"
        );
    }
}
