//! The engine's connection to the remote service back office: the green and orange light.
//!
//! A thread of its own runs a small tokio runtime that opens a session, holds the event
//! stream and sends heartbeats (`docs/protocol.md`). It tells the engine what the light is
//! and what the back office announced; the engine tells it when the settings, the
//! verification code or the licence (the serial number) changed.
//!
//! Light rules: disabled → grey, no connection at all; enabled → green while the session is
//! up, orange with the reason otherwise. A stream that closes is reopened at once, so a
//! back office that went away shows orange as soon as the reconnection fails. Retries back
//! off exponentially with jitter: up to 0.8 s while nothing answers (so the light is green
//! again within a second of the back office's return), up to 60 s when the back office
//! answered no (credentials, serial, certificate, HTTP errors).

pub mod backoffice;
pub mod sse;
pub mod test;
pub mod tls;

use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Sender;
use remote_service_api::{Connection as LightState, Light};
use serde::Deserialize;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backoffice::{
    check_backoffice_url, is_loopback, Backoffice, Credentials, Failure, FailureKind, Session,
    VerificationCode,
};

use backoffice::{shown_text, MAX_SHOWN_MESSAGE};
use sse::SseReader;

use crate::proxy::{
    Detector, ProxyCredentials, ProxyMode, ProxyPassword, ProxySettings, Purpose, Resolution,
};

/// What the engine knows of a secret (the verification code, the proxy password). The
/// keyring is read on a thread of its own (its unlock prompt may wait for the user without
/// end), at start, after a change and while it cannot be read; never on the engine's
/// thread and never on a reconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretState<T> {
    /// The keyring has not answered yet.
    #[default]
    Reading,
    /// The keyring answered with an error.
    Unreadable(String),
    /// No value is stored.
    NotSet,
    /// The value.
    Set(T),
}

/// What the engine knows of the verification code.
pub type CodeState = SecretState<VerificationCode>;

/// What the engine knows of the proxy password.
pub type ProxyPasswordState = SecretState<ProxyPassword>;

impl<T> From<Result<Option<T>, String>> for SecretState<T> {
    fn from(read: Result<Option<T>, String>) -> SecretState<T> {
        match read {
            Ok(Some(value)) => SecretState::Set(value),
            Ok(None) => SecretState::NotSet,
            Err(problem) => SecretState::Unreadable(problem),
        }
    }
}

/// The proxy settings and password, for the route of each connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The settings.
    pub settings: ProxySettings,
    /// The password as the keyring gave it.
    pub password: ProxyPasswordState,
}

impl ProxyConfig {
    /// What the connection cannot start without, in words.
    fn missing(&self) -> Option<(Light, String)> {
        if self.settings.mode == ProxyMode::Manual && self.settings.url.is_none() {
            return Some((Light::Orange, "the proxy is set to manual but proxy.url is not set (remote-service config set proxy.url host:port)".to_string()));
        }
        if self.settings.mode == ProxyMode::None {
            return None;
        }
        self.settings.user.as_ref()?;
        match &self.password {
            SecretState::Reading => Some((Light::Grey, "waiting for the keyring to give the proxy password (unlock it if it asks for its password)".to_string())),
            SecretState::Unreadable(problem) => Some((Light::Orange, format!("cannot read the proxy password: {problem}"))),
            SecretState::NotSet | SecretState::Set(_) => None,
        }
    }

    /// The user and password for the proxy.
    pub fn credentials(&self) -> ProxyCredentials {
        ProxyCredentials {
            user: self.settings.user_name(),
            password: match &self.password {
                SecretState::Set(password) => Some(password.clone()),
                _ => None,
            },
        }
    }

    /// What a connection to `url` for `purpose` would use (see [`crate::proxy::resolve`]).
    pub async fn resolve(
        &self,
        purpose: Purpose,
        url: &str,
        detector: Option<&Detector>,
    ) -> Result<Resolution, String> {
        if let Some((_, reason)) = self.missing() {
            return Err(reason);
        }
        crate::proxy::resolve(&self.settings, self.credentials(), purpose, url, detector).await
    }
}

/// Everything the connection needs to know; a change of it (other than the licence
/// sequence) reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// The documents' "Enabled".
    pub enabled: bool,
    /// The back office URL.
    pub url: String,
    /// Extra trusted certificates.
    pub ca_file: Option<PathBuf>,
    /// The service organisation ID.
    pub organisation_id: Option<String>,
    /// The verification code as the keyring gave it (read off the engine's thread).
    pub verification_code: CodeState,
    /// The serial number of the licence in force.
    pub serial_number: Option<String>,
    /// The sequence of the licence in force (reported, not a reason to reconnect).
    pub licence_sequence: Option<u64>,
    /// The request time limit.
    pub request_timeout: Duration,
    /// The proxy.
    pub proxy: ProxyConfig,
}

impl ConnectionConfig {
    fn same_connection(&self, other: &ConnectionConfig) -> bool {
        ConnectionConfig {
            licence_sequence: None,
            ..self.clone()
        } == ConnectionConfig {
            licence_sequence: None,
            ..other.clone()
        }
    }

    /// What the connection cannot start without, as the light it shows.
    pub fn missing_light(&self) -> Option<LightState> {
        let orange = |reason: &str| {
            Some(LightState {
                state: Light::Orange,
                reason: Some(reason.to_string()),
            })
        };
        if !self.enabled {
            return Some(LightState {
                state: Light::Grey,
                reason: Some(
                    "disabled: there is no connection to the remote service back office"
                        .to_string(),
                ),
            });
        }
        if self.organisation_id.is_none() {
            return orange("the service organisation ID is not set (remote-service config set organisation_id ID)");
        }
        match &self.verification_code {
            CodeState::Reading => {
                return Some(LightState {
                    state: Light::Grey,
                    reason: Some(
                        "waiting for the keyring to give the verification code (unlock it if it asks for its password)"
                            .to_string(),
                    ),
                })
            }
            CodeState::Unreadable(problem) => {
                return orange(&format!("cannot read the verification code: {problem}"))
            }
            CodeState::NotSet => {
                return orange("the verification code is not set (remote-service config set-secret verification_code)")
            }
            CodeState::Set(_) => {}
        }
        if self.serial_number.is_none() {
            return orange("no licence is installed: the serial number comes from the licence");
        }
        self.proxy.missing().map(|(state, reason)| LightState {
            state,
            reason: Some(reason),
        })
    }

    /// The credentials, when all three are known.
    pub fn credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            organisation_id: self.organisation_id.clone()?,
            verification_code: match &self.verification_code {
                CodeState::Set(code) => code.clone(),
                _ => return None,
            },
            serial_number: self.serial_number.clone()?,
        })
    }
}

/// A session with the back office that plugins' requests go through: the client, the
/// session, and the runtime the connection runs on.
#[derive(Debug, Clone)]
pub struct Link {
    backoffice: Backoffice,
    session: Session,
    io: Handle,
}

impl Link {
    /// A request over the session (see [`Backoffice::request`]); blocks the calling thread,
    /// which must not be one of the runtime's, for at most the request time limit.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), Failure> {
        self.io
            .block_on(self.backoffice.request(&self.session, method, path, body))
    }
}

/// What the connection tells the engine.
#[derive(Debug, Clone)]
pub enum ConnectionUpdate {
    /// The light changed.
    Light(LightState),
    /// A session is up (plugins may use it), or none is (`None`).
    Session(Option<Link>),
    /// The back office has a licence with a higher sequence for this serial.
    LicenceAvailable {
        /// Its identifier.
        licence_id: String,
        /// Its sequence.
        sequence: u64,
    },
    /// A help-desk employee asked to connect.
    AssistanceRequested {
        /// The request (its `answer_by` is filled in by the engine).
        request: remote_service_api::HelpRequest,
        /// How long the back office waits for the answer.
        answer_within: time::Duration,
    },
}

/// The running connection, a task on the engine's runtime; dropping it ends the session
/// and the task.
pub struct Connection {
    config: Option<watch::Sender<ConnectionConfig>>,
    task: Option<JoinHandle<()>>,
    io: Handle,
}

impl Connection {
    /// Starts the connection on the runtime `io` with `config`; updates go to `updates`;
    /// `detector` finds the proxy when `proxy.mode` is `auto`.
    pub fn start(
        config: ConnectionConfig,
        updates: Sender<ConnectionUpdate>,
        io: &Handle,
        detector: Option<Detector>,
    ) -> Connection {
        let (sender, receiver) = watch::channel(config);
        let task = io.spawn(run(receiver, updates, detector));
        Connection {
            config: Some(sender),
            task: Some(task),
            io: io.clone(),
        }
    }

    /// Applies new settings, code or licence.
    pub fn reconfigure(&self, config: ConnectionConfig) {
        if let Some(sender) = &self.config {
            sender.send_if_modified(|current| {
                let changed = *current != config;
                *current = config;
                changed
            });
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the channel tells the task to end its session and stop; the engine's
        // thread waits for that, so that the help desk sees the installation offline at
        // once. On one of the runtime's own threads waiting is not allowed: it only ends.
        self.config = None;
        if let Some(task) = self.task.take() {
            if Handle::try_current().is_ok() {
                task.abort();
            } else {
                let _ = self.io.block_on(task);
            }
        }
    }
}

/// How a connection attempt ended.
enum Outcome {
    /// The engine stopped.
    Stopped,
    /// The settings changed: start over at once.
    Reconfigured,
    /// The settings do not allow a connection; wait for them to change.
    NotPossible(LightState),
    /// The session was up and ended: reconnect at once.
    Lost,
    /// The attempt failed.
    Failed(Failure),
}

async fn run(
    mut config: watch::Receiver<ConnectionConfig>,
    updates: Sender<ConnectionUpdate>,
    detector: Option<Detector>,
) {
    let mut shown: Option<LightState> = None;
    let mut show = |light: LightState| {
        if shown.as_ref() != Some(&light) {
            let _ = updates.send(ConnectionUpdate::Light(light.clone()));
            shown = Some(light);
        }
    };
    let mut attempt: u32 = 0;
    // While nothing answers, a retry comes every second or so: each reason goes into the
    // log once, not once per retry (the log must not grow while the back office is down).
    let mut logged: Option<String> = None;
    loop {
        let current = config.borrow_and_update().clone();
        let outcome = hold(
            &current,
            &mut config,
            &updates,
            &mut show,
            detector.as_ref(),
        )
        .await;
        match outcome {
            Outcome::Stopped => return,
            Outcome::Reconfigured => attempt = 0,
            Outcome::Lost => {
                logged = None;
                // Reconnect at once, but never in a tight loop with a back office that
                // accepts and then drops every stream.
                attempt = 0;
                tokio::time::sleep(retry_delay(FailureKind::Unreachable, 0)).await;
            }
            Outcome::NotPossible(light) => {
                attempt = 0;
                show(light);
                if config.changed().await.is_err() {
                    return;
                }
            }
            Outcome::Failed(failure) => {
                if logged.as_deref() != Some(failure.reason.as_str()) {
                    tracing::info!("back office connection failed: {}", failure.reason);
                    logged = Some(failure.reason.clone());
                }
                show(LightState {
                    state: Light::Orange,
                    reason: Some(failure.reason.clone()),
                });
                let delay = retry_delay(failure.kind, attempt);
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    changed = config.changed() => {
                        if changed.is_err() { return; }
                        attempt = 0;
                    }
                }
            }
        }
    }
}

/// The wait before attempt `attempt + 1`: exponential, capped, with jitter (a half to the
/// whole of the step) so that installations do not come back all at once.
pub fn retry_delay(kind: FailureKind, attempt: u32) -> Duration {
    let (first, cap) = match kind {
        // Capped below a second: the light must be green again within a second of the
        // back office's return. A refused connection costs the back office nothing.
        FailureKind::Unreachable => (Duration::from_millis(100), Duration::from_millis(800)),
        FailureKind::SessionExpired => (Duration::ZERO, Duration::ZERO),
        FailureKind::Refused => (Duration::from_secs(1), Duration::from_secs(60)),
    };
    let step = first.saturating_mul(1u32 << attempt.min(16)).min(cap);
    step.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[derive(Deserialize)]
struct LicenceAvailable {
    licence_id: String,
    sequence: u64,
}

#[derive(Deserialize)]
struct AssistanceRequested {
    request_id: String,
    #[serde(default)]
    help_desk_user: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    requested_at: String,
    /// Seconds; the engine waits at most 5 minutes whatever the back office says.
    #[serde(default = "answer_within_default")]
    answer_within_s: u32,
}

fn answer_within_default() -> u32 {
    300
}

/// What an event of the stream means.
#[derive(Debug)]
pub(crate) enum Heard {
    /// The stream is up.
    Hello,
    /// Something for the engine.
    Update(ConnectionUpdate),
    /// A known event that cannot be read, with the problem in words for the log.
    Unreadable(String),
    /// An event this version does not know: ignored, as the protocol says.
    Other,
}

/// Longest identifier (licence id, request id) the protocol sends.
const MAX_ID: usize = 128;

/// Reads one event. Identifiers travel on into logs, plugins and the local API, so they
/// must be identifiers (letters, digits, `.`, `_`, `:`, `-`); free text (a name, a
/// message) is made showable with [`shown_text`].
pub(crate) fn heard(event: &sse::SseEvent) -> Heard {
    fn identifier(what: &str, id: &str) -> Result<(), String> {
        if id.is_empty()
            || id.len() > MAX_ID
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        {
            return Err(format!(
                "its {what} is not an identifier (letters, digits, \".\", \"_\", \":\", \"-\", at most {MAX_ID})"
            ));
        }
        Ok(())
    }
    match event.name.as_str() {
        "hello" => Heard::Hello,
        "licence-available" => match serde_json::from_str::<LicenceAvailable>(&event.data)
            .map_err(|error| error.to_string())
            .and_then(|available| {
                identifier("licence_id", &available.licence_id)?;
                Ok(available)
            }) {
            Ok(available) => Heard::Update(ConnectionUpdate::LicenceAvailable {
                licence_id: available.licence_id,
                sequence: available.sequence,
            }),
            Err(problem) => Heard::Unreadable(format!(
                "the back office sent a licence-available event that cannot be read: {}",
                shown_text(&problem, MAX_SHOWN_MESSAGE)
            )),
        },
        "assistance-requested" => match serde_json::from_str::<AssistanceRequested>(&event.data)
            .map_err(|error| error.to_string())
            .and_then(|request| {
                identifier("request_id", &request.request_id)?;
                Ok(request)
            }) {
            Ok(request) => Heard::Update(ConnectionUpdate::AssistanceRequested {
                request: remote_service_api::HelpRequest {
                    request_id: request.request_id,
                    help_desk_user: shown_text(&request.help_desk_user, 100),
                    organisation: shown_text(&request.organisation, 100),
                    message: shown_text(&request.message, MAX_SHOWN_MESSAGE),
                    requested_at: shown_text(&request.requested_at, 40),
                    answer_by: String::new(),
                },
                answer_within: time::Duration::seconds(request.answer_within_s.into()),
            }),
            Err(problem) => Heard::Unreadable(format!(
                "the back office sent an assistance-requested event that cannot be read: {}",
                shown_text(&problem, MAX_SHOWN_MESSAGE)
            )),
        },
        _ => Heard::Other,
    }
}

/// One session: open it, hold its stream, send heartbeats, until something ends it.
async fn hold(
    current: &ConnectionConfig,
    config: &mut watch::Receiver<ConnectionConfig>,
    updates: &Sender<ConnectionUpdate>,
    show: &mut impl FnMut(LightState),
    detector: Option<&Detector>,
) -> Outcome {
    if let Some(light) = current.missing_light() {
        return Outcome::NotPossible(light);
    }
    let Some(credentials) = current.credentials() else {
        return Outcome::NotPossible(LightState {
            state: Light::Orange,
            reason: Some("the connection settings are incomplete".to_string()),
        });
    };
    let route = match current
        .proxy
        .resolve(Purpose::Backoffice, &current.url, detector)
        .await
    {
        Ok(resolution) => resolution.route,
        // Detection that fails may work soon (a PAC server back): tried again like a
        // back office that does not answer.
        Err(reason) if current.proxy.settings.mode == ProxyMode::Auto => {
            return Outcome::Failed(Failure::unreachable(reason))
        }
        Err(reason) => return Outcome::NotPossible(orange(reason)),
    };
    let backoffice = match Backoffice::new(
        &current.url,
        current.ca_file.as_deref(),
        current.request_timeout,
        &route,
    ) {
        Ok(backoffice) => backoffice,
        Err(failure) => return Outcome::NotPossible(orange(failure.reason)),
    };
    let opened = async {
        let session = backoffice
            .create_session(&credentials, current.licence_sequence)
            .await?;
        let stream = backoffice.events(&session).await?;
        Ok::<_, Failure>((session, stream))
    };
    let (session, mut stream) = tokio::select! {
        opened = opened => match opened {
            Ok(opened) => opened,
            Err(failure) => return Outcome::Failed(failure),
        },
        changed = config.changed() => {
            return if changed.is_err() { Outcome::Stopped } else { Outcome::Reconfigured };
        }
    };
    let silence_limit = session.heartbeat_timeout();
    let (heartbeat_results, mut heartbeat_failures) = tokio::sync::mpsc::channel(1);
    let heartbeats = {
        let backoffice = backoffice.clone();
        let session = session.clone();
        let sequence = config.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(session.heartbeat_interval());
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let licence_sequence = sequence.borrow().licence_sequence;
                if let Err(failure) = backoffice.heartbeat(&session, licence_sequence).await {
                    let _ = heartbeat_results.send(failure).await;
                    return;
                }
            }
        })
    };
    let _stop_heartbeats = AbortOnDrop(heartbeats);
    let mut reader = SseReader::default();
    let mut greeted = false;
    let outcome = loop {
        tokio::select! {
            chunk = tokio::time::timeout(silence_limit, stream.chunk()) => {
                let chunk = match chunk {
                    Err(_) => break Outcome::Failed(Failure::unreachable(format!(
                        "the back office stopped answering (nothing for {} s)",
                        silence_limit.as_secs()
                    ))),
                    Ok(Ok(Some(chunk))) => chunk,
                    Ok(Ok(None)) | Ok(Err(_)) if greeted => break Outcome::Lost,
                    Ok(Ok(None)) => break Outcome::Failed(Failure::refused(
                        "the back office closed the event stream before it started",
                    )),
                    Ok(Err(error)) => break Outcome::Failed(Failure::unreachable(format!(
                        "the back office's event stream broke off: {error}"
                    ))),
                };
                let events = match reader.push(&chunk) {
                    Ok(events) => events,
                    Err(problem) => break Outcome::Failed(Failure::refused(format!(
                        "the back office's answer is not the Remote Service protocol: {problem}"
                    ))),
                };
                for event in events {
                    match heard(&event) {
                        Heard::Hello => {
                            if !greeted {
                                let _ = updates.send(ConnectionUpdate::Session(Some(Link {
                                    backoffice: backoffice.clone(),
                                    session: session.clone(),
                                    io: Handle::current(),
                                })));
                            }
                            greeted = true;
                            show(LightState { state: Light::Green, reason: None });
                        }
                        Heard::Update(update) => {
                            let _ = updates.send(update);
                        }
                        Heard::Unreadable(problem) => tracing::warn!("{problem}"),
                        Heard::Other => tracing::debug!("back office event {} ignored", shown_text(&event.name, 40)),
                    }
                }
            }
            failure = heartbeat_failures.recv() => {
                match failure {
                    Some(failure) if failure.kind == FailureKind::Refused => break Outcome::Failed(failure),
                    Some(failure) => {
                        tracing::info!("heartbeat failed: {}", failure.reason);
                        break Outcome::Lost;
                    }
                    None => break Outcome::Lost,
                }
            }
            changed = config.changed() => {
                if changed.is_err() {
                    break Outcome::Stopped;
                }
                if !config.borrow().same_connection(current) {
                    break Outcome::Reconfigured;
                }
            }
        }
    };
    if greeted {
        let _ = updates.send(ConnectionUpdate::Session(None));
    }
    if matches!(outcome, Outcome::Stopped | Outcome::Reconfigured) {
        drop(stream);
        backoffice.end_session(&session).await;
    }
    outcome
}

fn orange(reason: String) -> LightState {
    LightState {
        state: Light::Orange,
        reason: Some(reason),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> sse::SseEvent {
        sse::SseEvent {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn what_the_back_office_says_is_shown_as_text_and_identifiers_stay_identifiers() {
        let Heard::Update(ConnectionUpdate::AssistanceRequested {
            request:
                remote_service_api::HelpRequest {
                    request_id,
                    help_desk_user,
                    message,
                    ..
                },
            ..
        }) = heard(&event(
            "assistance-requested",
            r#"{"request_id":"req-1","help_desk_user":"anna\u202e\u001b[31m","message":"line one\nline two"}"#,
        ))
        else {
            panic!("not read");
        };
        assert_eq!(request_id, "req-1");
        assert_eq!(help_desk_user, "anna [31m");
        assert_eq!(message, "line one line two");
        let Heard::Unreadable(problem) = heard(&event(
            "licence-available",
            r#"{"licence_id":"L-1\n2026-12-01 INFO forged log line","sequence":2}"#,
        )) else {
            panic!("an id with a line break was taken");
        };
        assert!(
            problem.contains("its licence_id is not an identifier"),
            "{problem}"
        );
        assert!(!problem.contains("forged"), "{problem}");
        assert!(matches!(
            heard(&event(
                "licence-available",
                r#"{"licence_id":"L-1","sequence":2}"#
            )),
            Heard::Update(ConnectionUpdate::LicenceAvailable { sequence: 2, .. })
        ));
        assert!(matches!(heard(&event("news", "{}")), Heard::Other));
    }

    #[test]
    fn plugins_may_not_answer_for_the_user_or_open_sessions() {
        use backoffice::plugin_may_request;
        assert!(plugin_may_request("GET", "/v1/licence").is_ok());
        assert!(plugin_may_request("POST", "/v1/licence/reports").is_ok());
        for (method, path) in [
            ("POST", "/v1/assistance/r1/answer"),
            ("POST", "/v1/assistance"),
            ("POST", "/v1/sessions"),
            ("POST", "/v1/sessions/check"),
            ("PUT", "/v1/licence"),
            ("DELETE", "/v1/sessions/current"),
        ] {
            let refused = plugin_may_request(method, path).unwrap_err();
            assert!(
                refused.contains(method) || refused.contains(path),
                "{refused}"
            );
        }
        assert!(plugin_may_request("GET", "/v1/assistancex").is_ok());
    }

    #[test]
    fn an_error_answer_is_shown_on_one_line_and_bounded() {
        let base = url::Url::parse("https://backoffice.example/").unwrap();
        let body = serde_json::json!({
            "error": "x",
            "message": format!("\u{1b}]0;pwned\u{7}{}", "y".repeat(5000)),
        })
        .to_string();
        let failure = backoffice::answered_failure(
            &base,
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            body.as_bytes(),
            None,
        );
        assert!(
            failure
                .reason
                .starts_with("the back office failed: HTTP 503 Service Unavailable:  ]0;pwned yyy"),
            "{}",
            failure.reason
        );
        assert!(failure.reason.ends_with("y…"));
        assert!(failure.reason.chars().count() < 400);
        assert!(!failure.reason.chars().any(char::is_control));
        let not_json =
            backoffice::parse_answer::<HeartbeatAnswerProbe>(b"{\"secret\": 12").unwrap_err();
        assert_eq!(
            not_json.reason,
            "the back office's answer is not the Remote Service protocol (cut short at line 1 column 13)"
        );
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct HeartbeatAnswerProbe {
        latest_licence_sequence: Option<u64>,
    }

    #[test]
    fn retry_delays_grow_to_their_cap_with_jitter() {
        for attempt in 0..20 {
            let unreachable = retry_delay(FailureKind::Unreachable, attempt);
            assert!(
                unreachable <= Duration::from_secs(1),
                "{attempt}: {unreachable:?}"
            );
            let refused = retry_delay(FailureKind::Refused, attempt);
            assert!(refused <= Duration::from_secs(60), "{attempt}: {refused:?}");
            assert!(
                refused >= Duration::from_millis(500),
                "{attempt}: {refused:?}"
            );
        }
        assert!(retry_delay(FailureKind::Unreachable, 0) <= Duration::from_millis(100));
        assert!(retry_delay(FailureKind::Refused, 10) >= Duration::from_secs(30));
        let jittered: std::collections::HashSet<Duration> = (0..20)
            .map(|_| retry_delay(FailureKind::Refused, 3))
            .collect();
        assert!(jittered.len() > 1, "the delays must vary");
    }

    fn config() -> ConnectionConfig {
        ConnectionConfig {
            enabled: true,
            url: "http://127.0.0.1:1".into(),
            ca_file: None,
            organisation_id: Some("ORG".into()),
            verification_code: CodeState::Set(VerificationCode::new("code".into())),
            serial_number: Some("RS-1".into()),
            licence_sequence: Some(1),
            request_timeout: Duration::from_secs(1),
            proxy: ProxyConfig {
                password: SecretState::NotSet,
                ..ProxyConfig::default()
            },
        }
    }

    #[test]
    fn what_is_missing_shows_in_the_light() {
        let check = |change: fn(&mut ConnectionConfig), light: Light, fragment: &str| {
            let mut config = config();
            change(&mut config);
            let shown = config.missing_light().expect("something is missing");
            assert_eq!(shown.state, light);
            let reason = shown.reason.unwrap();
            assert!(
                reason.contains(fragment),
                "{reason:?} does not contain {fragment:?}"
            );
        };
        check(|config| config.enabled = false, Light::Grey, "disabled");
        check(
            |config| config.organisation_id = None,
            Light::Orange,
            "organisation ID",
        );
        check(
            |config| config.verification_code = CodeState::NotSet,
            Light::Orange,
            "verification code is not set",
        );
        check(
            |config| config.verification_code = CodeState::Reading,
            Light::Grey,
            "waiting for the keyring",
        );
        check(
            |config| config.serial_number = None,
            Light::Orange,
            "no licence is installed",
        );
        assert_eq!(config().missing_light(), None);
    }

    #[test]
    fn the_code_is_not_in_debug_output() {
        let text = format!("{:?}", config());
        assert!(!text.contains("\"code\""), "{text}");
    }

    #[test]
    fn a_new_licence_sequence_keeps_the_connection() {
        let mut other = config();
        other.licence_sequence = Some(2);
        assert!(config().same_connection(&other));
        other.serial_number = Some("RS-2".into());
        assert!(!config().same_connection(&other));
    }
}
