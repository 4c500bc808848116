//! The back office's `/v1` protocol (`docs/protocol.md`) from the installation's side, over
//! reqwest with rustls. Every failure becomes a [`Failure`]: a reason in words for the tray
//! and whether retrying soon makes sense.

use std::error::Error as _;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use super::tls;
use crate::proxy::relay::Relay;
use crate::proxy::tunnel::Target;
use crate::proxy::Route;
use std::sync::Arc;

/// The verification code: shown nowhere, not even in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl VerificationCode {
    /// Wraps the code read from the keyring.
    pub fn new(code: String) -> VerificationCode {
        VerificationCode(code)
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("VerificationCode(hidden)")
    }
}

/// Who the installation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The service organisation ID.
    pub organisation_id: String,
    /// Its verification code.
    pub verification_code: VerificationCode,
    /// The serial number of the licence in force.
    pub serial_number: String,
}

#[derive(Serialize)]
struct SessionRequest<'a> {
    organisation_id: &'a str,
    verification_code: &'a str,
    serial_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    licence_sequence: Option<u64>,
    client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
}

/// A session the back office opened.
#[derive(Clone, Deserialize)]
pub struct Session {
    #[serde(rename = "session")]
    token: String,
    /// How often to send a heartbeat.
    pub heartbeat_interval_s: u64,
    /// After how long without a word from the back office it counts as silent.
    pub heartbeat_timeout_s: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Session")
            .field("heartbeat_interval_s", &self.heartbeat_interval_s)
            .field("heartbeat_timeout_s", &self.heartbeat_timeout_s)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The heartbeat interval (at least a second).
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_s.max(1))
    }

    /// The silence limit (at least two heartbeat intervals).
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_secs(
            self.heartbeat_timeout_s
                .max(2 * self.heartbeat_interval_s.max(1)),
        )
    }
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatAnswer {
    /// The sequence of the serial's latest licence, if one was issued.
    pub latest_licence_sequence: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// How a failure should be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing answered (refused, reset, timed out): the back office may be back any
    /// moment, so retry soon.
    Unreachable,
    /// Something answered and said no (credentials, serial, certificate, an HTTP error,
    /// not the protocol): retrying soon would not help.
    Refused,
    /// The session is gone (the back office restarted): open a new one now.
    SessionExpired,
}

/// A failed exchange with the back office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// How to retry.
    pub kind: FailureKind,
    /// Why, in words for the tray.
    pub reason: String,
    /// The back office answered in the protocol and refused the credentials or the serial
    /// number (so the network, TLS and HTTP were fine).
    pub credentials: bool,
}

impl Failure {
    /// A failure where something answered and said no.
    pub fn refused(reason: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Refused,
            reason: reason.into(),
            credentials: false,
        }
    }

    /// A failure where nothing answered.
    pub fn unreachable(reason: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Unreachable,
            reason: reason.into(),
            credentials: false,
        }
    }

    fn credentials(reason: String) -> Failure {
        Failure {
            credentials: true,
            ..Failure::refused(reason)
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl fmt::Debug for Backoffice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Backoffice")
            .field("url", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a connection to `authority` failed, in the words the light and the connection test
/// both use; `None` for a failure without words of its own.
pub fn connection_words(error: &io::Error, authority: &str) -> Option<String> {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Some(format!(
            "connection refused by {authority}: the back office is not running or a firewall blocks it"
        )),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            Some(format!("the connection to {authority} was reset"))
        }
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Some(format!(
            "{authority} cannot be reached: no route to it from this computer's network"
        )),
        _ => None,
    }
}

/// Whether a plugin may send `method path` to the back office: GET and POST, but nothing
/// of remote assistance, whose answers and allowance only the host gives (with the user's
/// consent), and no session of its own.
pub fn plugin_may_request(method: &str, path: &str) -> Result<(), String> {
    if !matches!(method, "GET" | "POST") {
        return Err(format!(
            "{method} is not a method plugins may use (GET, POST)"
        ));
    }
    let reserved = ["/v1/assistance", "/v1/sessions"];
    if reserved
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
    {
        return Err(format!(
            "{path} is the host's alone: remote assistance is answered with the user's consent, and sessions are the connection's"
        ));
    }
    Ok(())
}

/// Checks a back office URL: https, or plain http to a loopback address only (DESIGN.md),
/// with no credentials, query or fragment in it (secrets never go into a URL).
pub fn check_backoffice_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|error| format!("it is not a URL ({error})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain a user name or password".to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it must not have a query or a fragment".to_string());
    }
    let host = url.host().ok_or("it has no host name")?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "plain http is allowed for loopback addresses only; use https://{}",
                value.trim_start_matches("http://")
            ))
        }
        scheme => return Err(format!("the scheme must be https, not {scheme}")),
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// Whether `host` is a loopback address (`localhost` counts).
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(address) => address.is_loopback(),
        url::Host::Ipv6(address) => address.is_loopback(),
    }
}

/// A client of one back office.
#[derive(Clone)]
pub struct Backoffice {
    client: reqwest::Client,
    /// The event stream's: a connection of its own (nothing pooled), so that the stream is
    /// its first request, which the back office holds at the least cost.
    stream_client: reqwest::Client,
    base: Url,
    request_timeout: Duration,
    /// The relay the client connects through when a proxy may carry the connection.
    relay: Option<Arc<Relay>>,
}

impl Backoffice {
    /// A client of the back office at `url`, trusting the system's certificates and those
    /// of `ca_file`, connecting along `route`. With a proxy in the route it must be made
    /// on the engine's runtime (the relay runs there).
    pub fn new(
        url: &str,
        ca_file: Option<&Path>,
        request_timeout: Duration,
        route: &Route,
    ) -> Result<Backoffice, Failure> {
        let checked = check_backoffice_url(url)
            .map_err(|reason| Failure::refused(format!("back office URL {url:?}: {reason}")))?;
        let base = Url::parse(&format!("{checked}/"))
            .map_err(|error| Failure::refused(format!("back office URL {url:?}: {error}")))?;
        let tls =
            tls::client_config(ca_file).map_err(|error| Failure::refused(error.to_string()))?;
        let relay = if route.is_direct() {
            None
        } else {
            let target = Target {
                host: match base.host() {
                    Some(url::Host::Ipv6(address)) => address.to_string(),
                    Some(host) => host.to_string(),
                    None => String::new(),
                },
                port: base.port_or_known_default().unwrap_or(443),
            };
            let relay = Relay::start(
                target,
                route.hops.clone(),
                route.credentials.clone(),
                Arc::new(tls.clone()),
                request_timeout,
            )
            .map_err(|error| Failure::refused(format!("cannot set up the proxy relay: {error}")))?;
            Some(Arc::new(relay))
        };
        let client = |pooled: bool| {
            let mut builder = reqwest::Client::builder()
                .tls_backend_preconfigured(tls.clone())
                // Proxies are the proxy settings' (through the relay), never taken from
                // the environment behind the user's back.
                .no_proxy()
                .connect_timeout(request_timeout)
                .user_agent(concat!("remote-service/", env!("CARGO_PKG_VERSION")));
            if !pooled {
                builder = builder.pool_max_idle_per_host(0);
            }
            if let Some(relay) = &relay {
                builder = builder.unix_socket(relay.socket());
            }
            builder.build().map_err(|error| {
                Failure::refused(format!("cannot set up the HTTP client: {error}"))
            })
        };
        Ok(Backoffice {
            client: client(true)?,
            stream_client: client(false)?,
            base,
            request_timeout,
            relay,
        })
    }

    /// The back office's base URL.
    pub fn url(&self) -> &Url {
        &self.base
    }

    fn endpoint(&self, path: &str) -> Url {
        self.base
            .join(path.trim_start_matches('/'))
            .expect("protocol paths are valid relative URLs")
    }

    fn session_request<'a>(
        credentials: &'a Credentials,
        licence_sequence: Option<u64>,
    ) -> SessionRequest<'a> {
        SessionRequest {
            organisation_id: &credentials.organisation_id,
            verification_code: &credentials.verification_code.0,
            serial_number: &credentials.serial_number,
            licence_sequence,
            client: concat!("remote-service ", env!("CARGO_PKG_VERSION")).to_string(),
            hostname: hostname(),
        }
    }

    /// `POST /v1/sessions`.
    pub async fn create_session(
        &self,
        credentials: &Credentials,
        licence_sequence: Option<u64>,
    ) -> Result<Session, Failure> {
        let request = self
            .client
            .post(self.endpoint("/v1/sessions"))
            .timeout(self.request_timeout)
            .json(&Self::session_request(credentials, licence_sequence));
        let response = self.send(request, Some(credentials)).await?;
        read_json(response, self.request_timeout).await
    }

    /// `POST /v1/sessions/check`: the credentials without a session.
    pub async fn check(&self, credentials: &Credentials) -> Result<(), Failure> {
        let request = self
            .client
            .post(self.endpoint("/v1/sessions/check"))
            .timeout(self.request_timeout)
            .json(&Self::session_request(credentials, None));
        self.send(request, Some(credentials)).await.map(drop)
    }

    /// `POST /v1/heartbeat`.
    pub async fn heartbeat(
        &self,
        session: &Session,
        licence_sequence: Option<u64>,
    ) -> Result<HeartbeatAnswer, Failure> {
        let request = self
            .client
            .post(self.endpoint("/v1/heartbeat"))
            .bearer_auth(&session.token)
            .timeout(self.request_timeout)
            .json(&serde_json::json!({ "licence_sequence": licence_sequence }));
        let response = self.send(request, None).await?;
        read_json(response, self.request_timeout).await
    }

    /// `GET /v1/events`: the open stream (read it with `chunk()`).
    pub async fn events(&self, session: &Session) -> Result<reqwest::Response, Failure> {
        let request = self
            .stream_client
            .get(self.endpoint("/v1/events"))
            .bearer_auth(&session.token)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        // No overall time limit: the stream is held for the whole session. The answer's
        // head must come within the request time limit.
        match tokio::time::timeout(self.request_timeout, self.send(request, None)).await {
            Ok(answer) => answer,
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Any request of the session (`GET /v1/licence`, `PUT /v1/assistance`): the status and
    /// the body as text, whatever the status. What a plugin may ask is
    /// [`plugin_may_request`]'s to say.
    pub async fn request(
        &self,
        session: &Session,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, String), Failure> {
        if !path.starts_with("/v1/") {
            return Err(Failure::refused(format!(
                "{path:?} is not a path of the back office protocol (/v1/…)"
            )));
        }
        let method = match method {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            other => {
                return Err(Failure::refused(format!(
                    "{other} is not a method of the back office protocol (GET, POST, PUT)"
                )))
            }
        };
        let mut request = self
            .client
            .request(method, self.endpoint(path))
            .bearer_auth(&session.token)
            .timeout(self.request_timeout);
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_failure(&error))?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_ANSWER).await?;
        let text = String::from_utf8(body).map_err(|_| {
            Failure::refused("the back office's answer is not UTF-8 text".to_string())
        })?;
        Ok((status, text))
    }

    /// `DELETE /v1/sessions/current`, so the help desk sees the installation offline at
    /// once; failures do not matter (the session expires anyway).
    pub async fn end_session(&self, session: &Session) {
        let request = self
            .client
            .delete(self.endpoint("/v1/sessions/current"))
            .bearer_auth(&session.token)
            .timeout(Duration::from_secs(2));
        let _ = request.send().await;
    }

    fn timed_out(&self) -> Failure {
        Failure::unreachable(format!(
            "the back office at {} did not answer within {} s",
            self.authority(),
            self.request_timeout.as_secs_f64()
        ))
    }

    fn authority(&self) -> String {
        let host = self.base.host_str().unwrap_or("?");
        match self.base.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        credentials: Option<&Credentials>,
    ) -> Result<reqwest::Response, Failure> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_failure(&error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = match tokio::time::timeout(
            self.request_timeout,
            read_capped(response, MAX_PROTOCOL_ANSWER),
        )
        .await
        {
            Ok(Ok(body)) => body,
            _ => Default::default(),
        };
        Err(answered_failure(&self.base, status, &body, credentials))
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        // Through a proxy, the relay knows why a connection could not be opened better than
        // reqwest, which saw it closed.
        if let Some(failure) = self.relay.as_ref().and_then(|relay| relay.failure()) {
            if !error.is_timeout() || failure.kind == FailureKind::Unreachable {
                return failure;
            }
        }
        let authority = self.authority();
        let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
        let mut texts = vec![error.to_string()];
        while let Some(cause) = source {
            if let Some(tls_error) = tls_error_of(cause) {
                return Failure::refused(certificate_reason(tls_error, &authority));
            }
            if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
                if hyper_error.is_parse() || hyper_error.is_parse_status() {
                    return Failure::refused(format!(
                        "the back office at {authority} sent an answer that is not HTTP ({hyper_error})"
                    ));
                }
            }
            if let Some(io_error) = cause.downcast_ref::<io::Error>() {
                if io_error.kind() == io::ErrorKind::TimedOut {
                    return self.timed_out();
                }
                if let Some(words) = connection_words(io_error, &authority) {
                    return Failure::unreachable(words);
                }
            }
            texts.push(cause.to_string());
            source = cause.source();
        }
        if error.is_timeout() {
            return self.timed_out();
        }
        let all = texts.join(": ");
        // Some layers box the rustls error so that it cannot be downcast: its words remain.
        if let Some(detail) = all
            .split("invalid peer certificate: ")
            .nth(1)
            .map(|rest| rest.split([':', ')']).next().unwrap_or(rest).trim())
        {
            return Failure::refused(format!(
                "the back office's TLS certificate at {authority} is not trusted: {}",
                certificate_words(detail)
            ));
        }
        if all.contains("dns error") || all.contains("failed to lookup address") {
            let host = self.base.host_str().unwrap_or("?");
            return Failure::refused(format!(
                "cannot resolve the back office's host name {host} (DNS)"
            ));
        }
        if error.is_decode() || error.is_body() {
            return Failure::refused(format!(
                "the back office at {authority} sent an answer that is not HTTP: {all}"
            ));
        }
        if error.is_connect() {
            return Failure::unreachable(format!("cannot connect to {authority}: {all}"));
        }
        Failure::unreachable(format!("the connection to {authority} failed: {all}"))
    }
}

/// The rustls error inside an error of the chain (hyper-rustls wraps it in an io::Error,
/// whose `source()` skips it).
/// The failure a back office's error answer means, in words for the tray. The answer's
/// own message is shown only as [`shown_text`] makes it: one line, no control characters,
/// bounded.
pub(crate) fn answered_failure(
    base: &Url,
    status: StatusCode,
    body: &[u8],
    credentials: Option<&Credentials>,
) -> Failure {
    let mut answer: ErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    answer.message = shown_text(&answer.message, MAX_SHOWN_MESSAGE);
    answer.field = answer.field.map(|field| shown_text(&field, 100));
    let message = |fallback: &str| {
        if answer.message.is_empty() {
            fallback.to_string()
        } else {
            answer.message.clone()
        }
    };
    match (status, answer.error.as_str()) {
        (StatusCode::UNAUTHORIZED, "session-expired") => Failure {
            kind: FailureKind::SessionExpired,
            reason: message("the back office ended the session"),
            credentials: false,
        },
        (StatusCode::UNAUTHORIZED, _) => Failure::credentials(format!(
            "authentication failed: {}",
            message("wrong service organisation ID or verification code")
        )),
        (StatusCode::NOT_FOUND, "unknown-serial") => Failure::credentials(format!(
            "unknown serial number: {}",
            message(&format!(
                "the back office does not know serial number {}",
                credentials.map_or("?", |credentials| &credentials.serial_number)
            ))
        )),
        (StatusCode::TOO_MANY_REQUESTS, _) => Failure::credentials(format!(
            "authentication failed: {}",
            message("the back office refuses for now after too many wrong attempts")
        )),
        (StatusCode::BAD_REQUEST, _) => Failure::refused(format!(
            "the back office refused the request: {}{}",
            message("malformed"),
            answer
                .field
                .map(|field| format!(" (field {field})"))
                .unwrap_or_default()
        )),
        (status, _) if status.is_server_error() => Failure::refused(format!(
            "the back office failed: HTTP {status}{}",
            if answer.message.is_empty() {
                String::new()
            } else {
                format!(": {}", answer.message)
            }
        )),
        (status, _) => Failure::refused(format!(
            "unexpected answer from the back office at {}: HTTP {status}; is it a Remote Service back office?",
            base
        )),
    }
}

fn tls_error_of<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls_error) = error.downcast_ref::<rustls::Error>() {
        return Some(tls_error);
    }
    error
        .downcast_ref::<io::Error>()
        .and_then(|io_error| io_error.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The reason for a TLS failure, in words.
pub fn certificate_reason(error: &rustls::Error, authority: &str) -> String {
    use rustls::CertificateError;
    match error {
        rustls::Error::InvalidCertificate(certificate) => {
            let why = match certificate {
                CertificateError::UnknownIssuer => certificate_words("UnknownIssuer"),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "it has expired".to_string()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "it is for another host name".to_string()
                }
                CertificateError::Revoked => "it was revoked".to_string(),
                other => format!("{other:?}"),
            };
            format!("the back office's TLS certificate at {authority} is not trusted: {why}")
        }
        other => format!("TLS with the back office at {authority} failed: {other}"),
    }
}

/// A certificate problem in words, from rustls's name for it.
fn certificate_words(name: &str) -> String {
    match name {
        "UnknownIssuer" => "it is not signed by a trusted certificate authority (add its CA with `remote-service config set backoffice_ca_file FILE`)".to_string(),
        "Expired" => "it has expired".to_string(),
        "NotValidForName" => "it is for another host name".to_string(),
        other => other.to_string(),
    }
}

/// The largest answer to a plugin's request read (a licence is a few kilobytes).
const MAX_ANSWER: usize = 1 << 20;
/// The largest answer of the protocol itself read (a session, an error).
const MAX_PROTOCOL_ANSWER: usize = 64 * 1024;

/// The answer's body, at most `cap` bytes: a back office that sends more (or without end)
/// is refused rather than read into memory.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| {
        Failure::unreachable(format!("the back office's answer broke off: {error}"))
    })? {
        if body.len() + chunk.len() > cap {
            return Err(Failure::refused(format!(
                "the back office's answer is larger than {} KiB: it is not the Remote Service protocol",
                cap / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    response: reqwest::Response,
    limit: Duration,
) -> Result<T, Failure> {
    let body = match tokio::time::timeout(limit, read_capped(response, MAX_PROTOCOL_ANSWER)).await {
        Ok(Ok(body)) => body,
        Ok(Err(failure)) => return Err(failure),
        Err(_) => {
            return Err(Failure::unreachable(format!(
                "the back office's answer did not finish within {} s",
                limit.as_secs_f64()
            )))
        }
    };
    parse_answer(&body)
}

/// A back office's answer as the protocol's JSON.
pub(crate) fn parse_answer<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|error| {
        // serde's message may quote what it read: the kind of error and where it is are
        // enough, and show nothing the back office chose.
        Failure::refused(format!(
            "the back office's answer is not the Remote Service protocol ({} at line {} column {})",
            match error.classify() {
                serde_json::error::Category::Io => "cannot be read",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "not the expected fields",
                serde_json::error::Category::Eof => "cut short",
            },
            error.line(),
            error.column()
        ))
    })
}

/// A back office's message shown at most this long.
pub(crate) const MAX_SHOWN_MESSAGE: usize = 300;

/// Text the back office chose (a message, a name), as the tray, the CLI and the log may
/// show it: control characters (line breaks, terminal escapes) become spaces, characters
/// that reorder or hide text (bidirectional overrides, zero-width ones) are dropped, and
/// it is cut at `limit` characters with "…".
pub fn shown_text(text: &str, limit: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(limit * 4));
    let mut count = 0;
    for character in text.trim().chars() {
        let character = match character {
            character if character.is_control() => ' ',
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}' => continue,
            character => character,
        };
        if count == limit {
            shown.push('…');
            break;
        }
        shown.push(character);
        count += 1;
    }
    shown
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}
