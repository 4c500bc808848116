//! The `/v1` protocol for installations (`docs/protocol.md`): sessions, heartbeats, the
//! event stream, licence download, install reports and assistance answers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};

use crate::store;

/// Everything the handlers share.
pub struct Backoffice {
    /// The database (one connection; every statement is short).
    pub db: Mutex<rusqlite::Connection>,
    /// Sessions by token, and which token a serial's session has.
    pub sessions: Mutex<Sessions>,
    /// How often installations send heartbeats.
    pub heartbeat_interval: Duration,
    /// Tells the help-desk pages that something they show changed.
    pub changes: broadcast::Sender<()>,
    /// Help-desk cookie sessions: token → (user, organisation).
    pub helpdesk_sessions: Mutex<HashMap<String, (String, String)>>,
    /// Verification codes already checked against their Argon2 hash, keyed by an HMAC
    /// (with a key made at start) of organisation and code: a reconnecting installation
    /// does not cost an Argon2 verification again. In memory only.
    verified: Mutex<std::collections::HashSet<Vec<u8>>>,
    verified_key: ring::hmac::Key,
    /// Held while an Argon2 hash is checked: one check at a time, because each takes
    /// 19 MiB and tens of milliseconds of CPU, and a burst of installations reconnecting
    /// after a restart must not take gigabytes. The first check of a code fills
    /// `verified`; the others waiting behind it then find it there.
    pub argon2: Mutex<()>,
}

/// The installations' sessions.
#[derive(Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
    by_serial: HashMap<String, String>,
}

/// One installation's session.
pub struct Session {
    /// The serial number.
    pub serial: String,
    /// The last heartbeat, or when the event stream opened or closed: the session ends
    /// three heartbeat intervals after it while no event stream is open.
    pub last_activity: Instant,
    /// The licence sequence the installation reported.
    pub licence_sequence: Option<u64>,
    /// The open event stream, if any, with its generation.
    stream: Option<(u64, mpsc::Sender<Event>)>,
    /// When it was last seen (RFC 3339).
    pub last_seen: String,
    /// Whether `last_seen` changed since it was last written to the database.
    last_seen_unsaved: bool,
    /// The sequence of the serial's latest licence, kept here so that a heartbeat does not
    /// touch the database.
    latest_licence: Option<u64>,
}

impl Sessions {
    /// The serial's live session.
    pub fn of_serial(&self, serial: &str) -> Option<&Session> {
        self.by_token.get(self.by_serial.get(serial)?)
    }

    /// Sends an event on the serial's stream; false when it has none.
    pub fn send(&self, serial: &str, event: Event) -> bool {
        let Some(session) = self
            .by_serial
            .get(serial)
            .and_then(|token| self.by_token.get(token))
        else {
            return false;
        };
        match &session.stream {
            Some((_, sender)) => sender.try_send(event).is_ok(),
            None => false,
        }
    }

    fn remove(&mut self, token: &str) -> Option<Session> {
        let session = self.by_token.remove(token)?;
        if self.by_serial.get(&session.serial).map(String::as_str) == Some(token) {
            self.by_serial.remove(&session.serial);
        }
        Some(session)
    }
}

/// Now, as the protocol writes times.
pub fn now_text() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A random token: 256 bits, hex.
pub fn random_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Backoffice {
    /// The shared state over the database at `db_path`.
    pub fn new(db_path: &Path, heartbeat_interval: Duration) -> anyhow::Result<Backoffice> {
        let db = store::open(db_path)?;
        let mut key = [0u8; 32];
        {
            use ring::rand::SecureRandom;
            ring::rand::SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no random source"))?;
        }
        Ok(Backoffice {
            db: Mutex::new(db),
            sessions: Mutex::new(Sessions::default()),
            heartbeat_interval,
            changes: broadcast::channel(16).0,
            helpdesk_sessions: Mutex::new(HashMap::new()),
            verified: Mutex::new(Default::default()),
            verified_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            argon2: Mutex::new(()),
        })
    }

    /// How long an installation may read nothing on its event stream before it counts the
    /// back office as silent (`heartbeat_timeout_s`): two and a half intervals, 75 s for
    /// the default 30 s, while keep-alive comments come every half interval.
    pub fn silence_limit_s(&self) -> u64 {
        silence_limit_s(self.heartbeat_interval)
    }

    /// How long a session lives without a heartbeat.
    pub fn session_timeout(&self) -> Duration {
        self.heartbeat_interval * 3
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends the sessions that had neither a heartbeat nor an open event stream for three
    /// heartbeat intervals, and writes down when each was last seen.
    pub fn expire_sessions(&self) {
        let timeout = self.session_timeout();
        let mut sessions = self.sessions();
        let expired: Vec<String> = sessions
            .by_token
            .iter()
            .filter(|(_, session)| {
                session.stream.is_none() && session.last_activity.elapsed() > timeout
            })
            .map(|(token, _)| token.clone())
            .collect();
        let seen: Vec<(String, String)> = expired
            .iter()
            .filter_map(|token| sessions.remove(token))
            .map(|session| (session.serial, session.last_seen))
            .collect();
        drop(sessions);
        if seen.is_empty() {
            return;
        }
        for (serial, _) in &seen {
            tracing::info!("session of {serial} expired");
        }
        if let Err(error) = store::record_last_seen(&self.db(), &seen) {
            tracing::warn!("cannot write when installations were last seen: {error:#}");
        }
        let _ = self.changes.send(());
    }

    /// Writes down when the online installations were last seen, those that changed since
    /// the last time: every 30 s, and when the server stops. Heartbeats only touch memory;
    /// this writes a few hundred rows per transaction and lets go of the database between.
    pub fn save_last_seen(&self) {
        let seen: Vec<(String, String)> = self
            .sessions()
            .by_token
            .values_mut()
            .filter(|session| session.last_seen_unsaved)
            .map(|session| {
                session.last_seen_unsaved = false;
                (session.serial.clone(), session.last_seen.clone())
            })
            .collect();
        for chunk in seen.chunks(500) {
            if let Err(error) = store::record_last_seen(&self.db(), chunk) {
                tracing::warn!("cannot write when installations were last seen: {error:#}");
            }
        }
    }

    /// Announces licences stored (by `licence issue`, another process) after row `after`;
    /// returns the last row seen.
    pub fn announce_new_licences(&self, after: i64) -> i64 {
        let licences = match store::licences_after(&self.db(), after) {
            Ok(licences) => licences,
            Err(error) => {
                tracing::warn!("cannot read new licences: {error:#}");
                return after;
            }
        };
        let mut last = after;
        let mut sessions = self.sessions();
        for licence in licences {
            last = last.max(licence.row);
            if let Some(session) = sessions
                .by_serial
                .get(&licence.serial)
                .cloned()
                .and_then(|token| sessions.by_token.get_mut(&token))
            {
                session.latest_licence = session.latest_licence.max(Some(licence.sequence));
            }
            let event = licence_available(&licence.serial, &licence.licence_id, licence.sequence);
            if sessions.send(&licence.serial, event) {
                tracing::info!(
                    "announced licence {} to {}",
                    licence.licence_id,
                    licence.serial
                );
            }
        }
        last
    }

    fn check_code(&self, organisation: &store::Organisation, code: &str) -> bool {
        let tag = ring::hmac::sign(
            &self.verified_key,
            format!(
                "{}\u{0}{}\u{0}{code}",
                organisation.id, organisation.code_hash
            )
            .as_bytes(),
        )
        .as_ref()
        .to_vec();
        let known = || {
            self.verified
                .lock()
                .map(|verified| verified.contains(&tag))
                .unwrap_or(false)
        };
        if known() {
            return true;
        }
        let _one_at_a_time = self.argon2.lock().unwrap_or_else(|p| p.into_inner());
        if known() {
            return true;
        }
        let good = PasswordHash::new(&organisation.code_hash)
            .map(|hash| {
                Argon2::default()
                    .verify_password(code.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false);
        if good {
            if let Ok(mut verified) = self.verified.lock() {
                verified.insert(tag);
            }
        }
        good
    }
}

/// See [`Backoffice::silence_limit_s`].
fn silence_limit_s(heartbeat_interval: Duration) -> u64 {
    (heartbeat_interval.as_secs().max(1) * 5 / 2).max(2)
}

fn licence_available(serial: &str, licence_id: &str, sequence: u64) -> Event {
    Event::default().event("licence-available").data(
        serde_json::json!({"serial_number": serial, "licence_id": licence_id, "sequence": sequence})
            .to_string(),
    )
}

/// An error answer of the protocol.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
        }
    }

    fn internal(error: anyhow::Error) -> ApiError {
        tracing::error!("{error:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the back office failed; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": self.error, "message": self.message});
        if let Some(field) = self.field {
            body["field"] = serde_json::Value::String(field);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> ApiError {
        ApiError::internal(error)
    }
}

/// A JSON body; a malformed one is `400 malformed` naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                "the body could not be read",
            )
        })?;
        parse_body(&bytes).map(Body)
    }
}

/// Reads a JSON body; when it is not what `T` expects, the `400 malformed` answer names
/// the field (`serial_number`, `targets[0].folder`) and never repeats the value, which may
/// be a secret.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let field = field_of(&path, &inner);
        let mut answer = ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!(
                "the body is not the expected JSON: {}",
                match &field {
                    Some(field) => format!("field {field}: {}", describe(&inner)),
                    None => describe(&inner),
                }
            ),
        );
        answer.field = field;
        answer
    })
}

/// The field a deserialisation error is about, for JSON of the wrong shape. serde_path_to_error gives the path to the
/// value it was reading; a missing field is reported at the level of the object that
/// misses it, so its name (from serde's message) is added to the path.
fn field_of(path: &str, error: &serde_json::Error) -> Option<String> {
    if !error.is_data() {
        // Not JSON at all: there is no field to name.
        return None;
    }
    let text = error.to_string();
    let missing = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => Some(name.to_string()),
        (".", None) => None,
        (path, Some(name)) => Some(format!("{path}.{name}")),
        (path, None) => Some(path.to_string()),
    }
}

/// serde's words without the value (a wrong value may be a secret).
fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof => "not valid JSON".to_string(),
        Category::Io => "could not be read".to_string(),
        Category::Data => {
            let text = error.to_string();
            if text.starts_with("missing field") {
                "missing".to_string()
            } else if text.starts_with("unknown field") {
                "unknown field".to_string()
            } else {
                "wrong type or value".to_string()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    organisation_id: String,
    verification_code: String,
    serial_number: String,
    #[serde(default)]
    licence_sequence: Option<u64>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

#[derive(Serialize)]
struct SessionAnswer {
    session: String,
    heartbeat_interval_s: u64,
    heartbeat_timeout_s: u64,
}

/// The installation routes.
pub fn routes() -> Router<Arc<Backoffice>> {
    Router::new()
        .route("/v1/sessions", post(create_session))
        .route("/v1/sessions/check", post(check_session))
        .route("/v1/sessions/current", delete(end_session))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/events", get(events))
        .route("/v1/licence", get(licence))
        .route("/v1/licence/reports", post(install_report))
        .route(
            "/v1/assistance/{request_id}/answer",
            post(assistance_answer),
        )
}

/// Checks organisation, code and serial.
fn authenticate(state: &Backoffice, request: &SessionRequest) -> Result<(), ApiError> {
    let organisation = store::organisation(&state.db(), &request.organisation_id)?;
    let good = match &organisation {
        Some(organisation) => state.check_code(organisation, &request.verification_code),
        None => false,
    };
    if !good {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "wrong service organisation ID or verification code",
        ));
    }
    match store::serial(&state.db(), &request.serial_number)? {
        Some(serial) if serial.organisation_id == request.organisation_id => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-serial",
            format!(
                "serial number {} is not registered with organisation {}",
                request.serial_number, request.organisation_id
            ),
        )),
    }
}

async fn check_session(
    State(state): State<Arc<Backoffice>>,
    Body(request): Body<SessionRequest>,
) -> Result<StatusCode, ApiError> {
    let checked = tokio::task::spawn_blocking(move || authenticate(&state, &request))
        .await
        .map_err(|error| ApiError::internal(error.into()))?;
    checked.map(|()| StatusCode::NO_CONTENT)
}

async fn create_session(
    State(state): State<Arc<Backoffice>>,
    Body(request): Body<SessionRequest>,
) -> Result<Response, ApiError> {
    // Argon2 takes milliseconds of CPU: off the async threads.
    let blocking_state = state.clone();
    let (request, checked) = tokio::task::spawn_blocking(move || {
        let checked = authenticate(&blocking_state, &request);
        (request, checked)
    })
    .await
    .map_err(|error| ApiError::internal(error.into()))?;
    checked?;
    let token = random_token();
    let now = now_text();
    let latest_licence = {
        let db = state.db();
        store::record_seen(
            &db,
            &request.serial_number,
            request.hostname.as_deref(),
            request.client.as_deref(),
            &now,
        )?;
        store::latest_sequence(&db, &request.serial_number)?
    };
    {
        let mut sessions = state.sessions();
        // A new session for the serial ends the one before (its stream closes).
        if let Some(previous) = sessions.by_serial.get(&request.serial_number).cloned() {
            sessions.remove(&previous);
        }
        sessions
            .by_serial
            .insert(request.serial_number.clone(), token.clone());
        sessions.by_token.insert(
            token.clone(),
            Session {
                serial: request.serial_number.clone(),
                last_activity: Instant::now(),
                licence_sequence: request.licence_sequence,
                stream: None,
                last_seen: now,
                last_seen_unsaved: false,
                latest_licence,
            },
        );
    }
    tracing::info!("session started for {}", request.serial_number);
    let _ = state.changes.send(());
    let interval = state.heartbeat_interval.as_secs().max(1);
    Ok((
        StatusCode::CREATED,
        Json(SessionAnswer {
            session: token,
            heartbeat_interval_s: interval,
            heartbeat_timeout_s: state.silence_limit_s(),
        }),
    )
        .into_response())
}

/// The session of the bearer token: (token, serial).
fn session_of(state: &Backoffice, headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let sessions = state.sessions();
    match sessions.by_token.get(token) {
        Some(session) => Ok((token.to_string(), session.serial.clone())),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session-expired",
            "no such session: the back office restarted or the session timed out; start a new one",
        )),
    }
}

async fn end_session(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (token, serial) = session_of(&state, &headers)?;
    state.sessions().remove(&token);
    store::record_seen(&state.db(), &serial, None, None, &now_text())?;
    tracing::info!("session ended by {serial}");
    let _ = state.changes.send(());
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HeartbeatRequest {
    #[serde(default)]
    licence_sequence: Option<u64>,
}

async fn heartbeat(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (token, _) = session_of(&state, &headers)?;
    // An empty body is a heartbeat that reports nothing.
    let request: HeartbeatRequest = if body.is_empty() {
        HeartbeatRequest::default()
    } else {
        parse_body(&body)?
    };
    let now = now_text();
    let latest = {
        let mut sessions = state.sessions();
        let Some(session) = sessions.by_token.get_mut(&token) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session-expired",
                "the session ended",
            ));
        };
        session.last_activity = Instant::now();
        session.last_seen = now.clone();
        // Written to the database every 30 s for all installations at once (see
        // `save_last_seen`): thousands of heartbeats must not become thousands of writes.
        session.last_seen_unsaved = true;
        if request.licence_sequence.is_some() {
            session.licence_sequence = request.licence_sequence;
        }
        session.latest_licence
    };
    Ok(Json(serde_json::json!({
        "server_time": now,
        "latest_licence_sequence": latest,
    })))
}

/// Marks the stream closed when the installation goes away.
struct StreamGuard {
    state: Arc<Backoffice>,
    token: String,
    generation: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut sessions = self.state.sessions();
        if let Some(session) = sessions.by_token.get_mut(&self.token) {
            if matches!(session.stream, Some((generation, _)) if generation == self.generation) {
                session.stream = None;
                // Heard of until now: the three intervals start here.
                session.last_activity = Instant::now();
                session.last_seen = now_text();
                session.last_seen_unsaved = true;
            }
        }
    }
}

async fn events(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (token, serial) = session_of(&state, &headers)?;
    let (sender, receiver) = mpsc::channel::<Event>(16);
    let interval = state.heartbeat_interval.as_secs().max(1);
    let hello = Event::default().event("hello").data(
        serde_json::json!({
            "heartbeat_interval_s": interval,
            "heartbeat_timeout_s": state.silence_limit_s(),
        })
        .to_string(),
    );
    let _ = sender.try_send(hello);
    let latest = store::latest_licence(&state.db(), &serial)?;
    let generation = {
        let mut sessions = state.sessions();
        let Some(session) = sessions.by_token.get_mut(&token) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session-expired",
                "the session ended",
            ));
        };
        if let Some(latest) = &latest {
            if session
                .licence_sequence
                .is_none_or(|reported| latest.sequence > reported)
            {
                let _ = sender.try_send(licence_available(
                    &serial,
                    &latest.licence_id,
                    latest.sequence,
                ));
            }
        }
        let generation = session
            .stream
            .as_ref()
            .map_or(0, |(generation, _)| generation + 1);
        // A second stream for the session replaces the first (whose sender is dropped).
        session.stream = Some((generation, sender));
        session.last_activity = Instant::now();
        generation
    };
    let guard = StreamGuard {
        state: state.clone(),
        token,
        generation,
    };
    let stream = futures_util::stream::unfold((receiver, guard), |(mut receiver, guard)| async {
        let event = receiver.recv().await?;
        Some((Ok::<_, Infallible>(event), (receiver, guard)))
    });
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_millis((interval * 1000 / 2).max(500)))
        .text("keep-alive");
    Ok(Sse::new(stream).keep_alive(keep_alive).into_response())
}

async fn licence(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, serial) = session_of(&state, &headers)?;
    match store::latest_licence(&state.db(), &serial)? {
        Some(licence) => Ok((
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::HeaderName::from_static("x-licence-sequence"),
                    licence.sequence.to_string(),
                ),
            ],
            licence.text,
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-licence",
            format!("no licence was issued for serial number {serial}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallReport {
    licence_id: String,
    sequence: u64,
    targets: Vec<InstallTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallTarget {
    folder: String,
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

async fn install_report(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
    Body(report): Body<InstallReport>,
) -> Result<StatusCode, ApiError> {
    let (_, serial) = session_of(&state, &headers)?;
    let targets: Vec<(String, bool, Option<String>)> = report
        .targets
        .into_iter()
        .map(|target| (target.folder, target.ok, target.error))
        .collect();
    store::add_install_report(
        &state.db(),
        &serial,
        &report.licence_id,
        report.sequence,
        &targets,
        &now_text(),
    )?;
    tracing::info!(
        "{serial} installed licence {} in {} folder(s)",
        report.licence_id,
        targets.len()
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssistanceAnswer {
    answer: String,
    #[serde(default)]
    teamviewer_id: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

async fn assistance_answer(
    State(state): State<Arc<Backoffice>>,
    axum::extract::Path(request_id): axum::extract::Path<String>,
    headers: HeaderMap,
    Body(answer): Body<AssistanceAnswer>,
) -> Result<StatusCode, ApiError> {
    let (_, serial) = session_of(&state, &headers)?;
    let malformed = |field: &str, message: &str| {
        let mut error = ApiError::new(StatusCode::BAD_REQUEST, "malformed", message);
        error.field = Some(field.to_string());
        error
    };
    match answer.answer.as_str() {
        "accepted" => {
            if answer.teamviewer_id.is_none() {
                return Err(malformed(
                    "teamviewer_id",
                    "an accepted request needs the TeamViewer ID",
                ));
            }
            if let Some(until) = &answer.until {
                OffsetDateTime::parse(until, &Rfc3339)
                    .map_err(|_| malformed("until", "until must be an RFC 3339 time"))?;
            }
        }
        "denied" => {}
        _ => return Err(malformed("answer", "answer must be accepted or denied")),
    }
    let db = state.db();
    match store::assistance(&db, &request_id)? {
        Some(request) if request.serial == serial => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-request",
                format!("no assistance request {request_id} for this installation"),
            ))
        }
    }
    let answered = store::answer_assistance(
        &db,
        &request_id,
        &answer.answer,
        answer.teamviewer_id.as_deref(),
        answer.until.as_deref(),
        &now_text(),
    )?;
    drop(db);
    if !answered {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already-answered",
            format!("assistance request {request_id} was answered before"),
        ));
    }
    let _ = state.changes.send(());
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `field` and `message` of the answer to a body that `T` refuses.
    fn check<T: DeserializeOwned>(body: &str, field: Option<&str>, message: &str) {
        let Err(error) = parse_body::<T>(body.as_bytes()) else {
            panic!("{body} was accepted");
        };
        assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error.error, "malformed", "{body}");
        assert_eq!(error.field.as_deref(), field, "{body}");
        assert_eq!(error.message, message, "{body}");
    }

    #[test]
    fn a_malformed_body_names_its_field_and_never_its_value() {
        check::<SessionRequest>(
            r#"{"organisation_id": "ORG", "verification_code": "secret-1"}"#,
            Some("serial_number"),
            "the body is not the expected JSON: field serial_number: missing",
        );
        check::<SessionRequest>(
            r#"{"organisation_id": "ORG", "verification_code": "secret-1", "serial_number": "SN", "licence_sequence": "three"}"#,
            Some("licence_sequence"),
            "the body is not the expected JSON: field licence_sequence: wrong type or value",
        );
        check::<SessionRequest>(
            r#"{"organisation_id": "ORG", "verification_code": 1234, "serial_number": "SN"}"#,
            Some("verification_code"),
            "the body is not the expected JSON: field verification_code: wrong type or value",
        );
        check::<SessionRequest>(
            r#"{"organisation_id": "ORG", "verification_code": "secret-1", "serial_number": "SN", "serial": "x"}"#,
            Some("serial"),
            "the body is not the expected JSON: field serial: unknown field",
        );
        check::<InstallReport>(
            r#"{"licence_id": "L", "sequence": 2, "targets": [{"folder": "/a", "ok": true}, {"ok": false}]}"#,
            Some("targets[1].folder"),
            "the body is not the expected JSON: field targets[1].folder: missing",
        );
        check::<InstallReport>(
            r#"{"licence_id": "L", "sequence": -2, "targets": []}"#,
            Some("sequence"),
            "the body is not the expected JSON: field sequence: wrong type or value",
        );
        check::<SessionRequest>(
            r#"{"organisation_id": "ORG", "verification_code": "secret-1""#,
            None,
            "the body is not the expected JSON: not valid JSON",
        );
        check::<SessionRequest>(
            "",
            None,
            "the body is not the expected JSON: not valid JSON",
        );
        check::<HeartbeatRequest>(
            r#"{"licence_sequence": 1.5}"#,
            Some("licence_sequence"),
            "the body is not the expected JSON: field licence_sequence: wrong type or value",
        );
    }

    #[test]
    fn the_silence_limit_is_two_and_a_half_intervals() {
        for (interval_s, limit_s) in [(30, 75), (2, 5), (1, 2), (3600, 9000)] {
            assert_eq!(
                silence_limit_s(Duration::from_secs(interval_s)),
                limit_s,
                "{interval_s}"
            );
        }
    }

    #[test]
    fn a_good_body_is_read() {
        let request: SessionRequest = parse_body(
            br#"{"organisation_id": "ORG", "verification_code": "c", "serial_number": "SN", "licence_sequence": null}"#,
        )
        .unwrap();
        assert_eq!(request.serial_number, "SN");
        assert_eq!(request.licence_sequence, None);
    }
}
