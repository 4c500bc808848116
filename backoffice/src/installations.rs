//! The `/v1` protocol for installations (`docs/protocol.md`): sessions, heartbeats, the
//! event stream, licence download, install reports, what remote assistance is allowed, and
//! assistance answers.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use tokio::sync::mpsc;

use crate::errors::{parse_body, ApiError, Body};
use crate::first_request::OwnConnection;
use crate::state::{
    licence_available, now_ms, now_text, random_token, to_ms, Allowance, Backoffice, LocalStream,
    Message, Peer, RemoteSession,
};
use crate::store::{self, sessions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionRequest {
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
        .route("/v1/assistance", put(report_assistance))
        .route(
            "/v1/assistance/{request_id}/answer",
            post(assistance_answer),
        )
}

/// The answer for a session that ended between its check and its use.
fn session_ended() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "session-expired",
        "the session ended",
    )
}

/// Checks organisation, code and serial; `address` is where the request came from (wrong
/// codes lock the organisation out from there).
fn authenticate(
    state: &Backoffice,
    request: &SessionRequest,
    address: IpAddr,
) -> Result<(), ApiError> {
    let principal = &request.organisation_id;
    if let Some(wait) = state.guard.locked(&mut state.db(), principal, address)? {
        return Err(ApiError::locked_out(
            format!("organisation {principal} from {address}"),
            wait,
        ));
    }
    let organisation = store::organisation(&mut state.db(), principal)?;
    let good = match &organisation {
        Some(organisation) => state.check_code(organisation, &request.verification_code),
        // As long as for an organisation that exists: timing tells nothing.
        None => state
            .guard
            .verify(principal, None, &request.verification_code),
    };
    if !good {
        state.guard.failed(&mut state.db(), principal, address)?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "wrong service organisation ID or verification code",
        ));
    }
    state.guard.succeeded(&mut state.db(), principal, address)?;
    match store::serial(&mut state.db(), &request.serial_number)? {
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
    Extension(Peer(peer)): Extension<Peer>,
    Body(request): Body<SessionRequest>,
) -> Result<StatusCode, ApiError> {
    let checked = tokio::task::spawn_blocking(move || authenticate(&state, &request, peer.ip()))
        .await
        .map_err(|error| ApiError::internal(error.into()))?;
    checked.map(|()| StatusCode::NO_CONTENT)
}

async fn create_session(
    State(state): State<Arc<Backoffice>>,
    Extension(Peer(peer)): Extension<Peer>,
    Body(request): Body<SessionRequest>,
) -> Result<Response, ApiError> {
    // Argon2 takes milliseconds of CPU: off the async threads.
    let blocking_state = state.clone();
    let (request, checked) = tokio::task::spawn_blocking(move || {
        let checked = authenticate(&blocking_state, &request, peer.ip());
        (request, checked)
    })
    .await
    .map_err(|error| ApiError::internal(error.into()))?;
    checked?;
    let token = random_token();
    let now = now_text();
    let previous = {
        let mut db = state.db();
        store::record_seen(
            &mut db,
            &request.serial_number,
            request.hostname.as_deref(),
            request.client.as_deref(),
            &now,
        )?;
        // Stored before it is answered: any node knows the token from now on. A new
        // session starts not allowed, and ends the serial's session before.
        sessions::start_session(
            &mut db,
            &sessions::token_hash(&token),
            &request.serial_number,
            request.licence_sequence,
            &now,
            now_ms(),
        )?
    };
    tracing::info!("session started for {}", request.serial_number);
    match previous {
        // Its stream closes, on whichever node holds it.
        Some(token_hash) => state.publish(Message::SessionEnded {
            serial: request.serial_number.clone(),
            token_hash,
        }),
        None => state.publish(Message::Changed),
    }
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

/// The session of the bearer token, as any node stored it: (token hash, serial).
fn session_of(state: &Backoffice, headers: &HeaderMap) -> Result<(String, String), ApiError> {
    session_and_licence_of(state, headers).map(|(token_hash, serial, _)| (token_hash, serial))
}

/// The session of the bearer token: (token hash, serial, the sequence of the serial's
/// latest licence).
fn session_and_licence_of(
    state: &Backoffice,
    headers: &HeaderMap,
) -> Result<(String, String, Option<u64>), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let token_hash = sessions::token_hash(token);
    match sessions::session_serial(&mut state.db(), &token_hash)? {
        Some((serial, latest)) => Ok((token_hash, serial, latest)),
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
    let (token_hash, serial) = session_of(&state, &headers)?;
    state.activity().remove(&token_hash);
    let ended = sessions::end_session(&mut state.db(), &token_hash)?;
    store::record_seen(&mut state.db(), &serial, None, None, &now_text())?;
    tracing::info!("session ended by {serial}");
    if ended.is_some() {
        state.publish(Message::SessionEnded { serial, token_hash });
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeartbeatRequest {
    #[serde(default)]
    licence_sequence: Option<u64>,
}

async fn heartbeat(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (token_hash, serial, latest) = session_and_licence_of(&state, &headers)?;
    // An empty body is a heartbeat that reports nothing.
    let request: HeartbeatRequest = if body.is_empty() {
        HeartbeatRequest::default()
    } else {
        parse_body(&body)?
    };
    let now = now_text();
    {
        // Written to the database every tick for all installations at once (see
        // `save_last_seen`): thousands of heartbeats must not become thousands of writes.
        let mut activity = state.activity();
        let reported = activity
            .get(&token_hash)
            .and_then(|activity| activity.licence_sequence);
        activity.insert(
            token_hash.clone(),
            sessions::Activity {
                token_hash,
                serial,
                last_seen: now.clone(),
                at_ms: now_ms(),
                licence_sequence: request.licence_sequence.or(reported),
            },
        );
    }
    Ok(Json(serde_json::json!({
        "server_time": now,
        "latest_licence_sequence": latest,
    })))
}

/// Marks the stream closed when the installation goes away.
struct StreamGuard {
    state: Arc<Backoffice>,
    token_hash: String,
    serial: String,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        {
            let mut streams = self.state.streams();
            if streams
                .get(&self.serial)
                .is_some_and(|stream| stream.stream_id == self.stream_id)
            {
                streams.remove(&self.serial);
            }
        }
        let state = self.state.clone();
        let token_hash = std::mem::take(&mut self.token_hash);
        let stream_id = std::mem::take(&mut self.stream_id);
        let close = move || {
            // Unless another stream replaced it: heard of until now, the three intervals
            // start here.
            let closed = sessions::close_stream(
                &mut state.db(),
                &token_hash,
                &stream_id,
                &now_text(),
                now_ms(),
            );
            match closed {
                // The help desk's "VPN" (and with it "RDP") goes off.
                Ok(true) => state.publish(Message::Changed),
                Ok(false) => {}
                Err(error) => tracing::warn!("cannot record a closed event stream: {error:#}"),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}

async fn events(
    State(state): State<Arc<Backoffice>>,
    own_connection: Option<Extension<OwnConnection>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (token_hash, serial) = session_of(&state, &headers)?;
    let (sender, receiver) = mpsc::channel::<Box<Event>>(16);
    let interval = state.heartbeat_interval.as_secs().max(1);
    let hello = Event::default().event("hello").data(
        serde_json::json!({
            "heartbeat_interval_s": interval,
            "heartbeat_timeout_s": state.silence_limit_s(),
        })
        .to_string(),
    );
    let _ = sender.try_send(Box::new(hello));
    let latest = store::latest_licence(&mut state.db(), &serial)?;
    let stored = sessions::session(&mut state.db(), &token_hash, now_ms())?;
    let Some(stored) = stored else {
        return Err(session_ended());
    };
    let reported = state
        .activity()
        .get(&token_hash)
        .and_then(|activity| activity.licence_sequence)
        .or(stored.licence_sequence);
    if let Some(latest) = &latest {
        if reported.is_none_or(|reported| latest.sequence > reported) {
            let _ = sender.try_send(Box::new(licence_available(
                &serial,
                &latest.licence_id,
                latest.sequence,
            )));
        }
    }
    let stream_id = random_token()[..16].to_string();
    // A second stream for the session replaces the first (whose sender is dropped), on
    // this node at once, on another when it hears of `StreamOpened`.
    state.streams().insert(
        serial.clone(),
        LocalStream {
            token_hash: token_hash.clone(),
            stream_id: stream_id.clone(),
            sender,
        },
    );
    let guard = StreamGuard {
        state: state.clone(),
        token_hash: token_hash.clone(),
        serial: serial.clone(),
        stream_id: stream_id.clone(),
    };
    if !sessions::open_stream(
        &mut state.db(),
        &token_hash,
        &stream_id,
        &state.node,
        now_ms(),
    )? {
        return Err(session_ended());
    }
    tracing::info!(
        "event stream of {serial} opened {}",
        match own_connection {
            Some(_) => "on a connection of its own",
            None => "after another request on its connection",
        }
    );
    // The help desk's "VPN" comes on.
    state.publish(Message::StreamOpened { serial, stream_id });
    let stream = futures_util::stream::unfold((receiver, guard), |(mut receiver, guard)| async {
        let event = receiver.recv().await?;
        Some((Ok::<_, Infallible>(*event), (receiver, guard)))
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
    match store::latest_licence(&mut state.db(), &serial)? {
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
pub(crate) struct InstallReport {
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
        &mut state.db(),
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

/// The most characters of a help-desk user's name that an installation may report.
const MAX_USER_CHARS: usize = 200;

/// Whether `text` is a TeamViewer ID as TeamViewer shows one: 8 to 12 digits, possibly in
/// groups separated by single spaces ("123 456 789"), not all zeros.
pub(crate) fn is_teamviewer_id(text: &str) -> bool {
    let groups_are_digits = text
        .split(' ')
        .all(|group| !group.is_empty() && group.bytes().all(|byte| byte.is_ascii_digit()));
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    groups_are_digits
        && (8..=12).contains(&digits)
        && text.bytes().any(|byte| (b'1'..=b'9').contains(&byte))
}

/// The TeamViewer ID in `field`, or `400 malformed` naming it.
fn teamviewer_id(field: &str, text: String) -> Result<String, ApiError> {
    if is_teamviewer_id(&text) {
        Ok(text)
    } else {
        Err(ApiError::malformed(
            field,
            format!(
                "{field} must be a TeamViewer ID: 8 to 12 digits, possibly grouped by single spaces, not all zeros"
            ),
        ))
    }
}

/// The RFC 3339 time in `field`, and the same written in UTC (as the back office gives it
/// back), or `400 malformed` naming the field.
fn rfc3339(field: &str, text: &str) -> Result<(OffsetDateTime, String), ApiError> {
    let malformed = || {
        ApiError::malformed(
            field,
            format!("{field} must be an RFC 3339 time (2026-11-23T11:00:00Z)"),
        )
    };
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| malformed())?;
    let utc = time.to_offset(UtcOffset::UTC);
    // A time of the year 0000 with a positive offset is of the year -1 in UTC, which
    // RFC 3339 cannot write.
    let written = utc.format(&Rfc3339).map_err(|_| malformed())?;
    Ok((utc, written))
}

/// A name the installation reports for the help desk to read: one line of 1 to
/// [`MAX_USER_CHARS`] characters (the page shows it as text, never as HTML).
fn shown_name(field: &str, text: &str) -> Result<String, ApiError> {
    let name = text.trim();
    if name.is_empty()
        || name.chars().count() > MAX_USER_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::malformed(
            field,
            format!("{field} must be a name of 1 to {MAX_USER_CHARS} characters on one line"),
        ));
    }
    Ok(name.to_string())
}

/// `PUT /v1/assistance`: whether remote assistance is allowed on the installation, until
/// when, its TeamViewer ID and the remote session that is on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssistanceReport {
    allowed: bool,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    teamviewer_id: Option<String>,
    #[serde(default)]
    session: Option<RemoteSessionReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteSessionReport {
    help_desk_user: String,
    started_at: String,
}

impl AssistanceReport {
    /// The allowance it reports (`None`: not allowed), or `400 malformed` naming the field
    /// that is wrong.
    pub(crate) fn allowance(self) -> Result<Option<Allowance>, ApiError> {
        if !self.allowed {
            for (field, present) in [
                ("until", self.until.is_some()),
                ("teamviewer_id", self.teamviewer_id.is_some()),
                ("session", self.session.is_some()),
            ] {
                if present {
                    return Err(ApiError::malformed(
                        field,
                        format!(
                            "{field} must be absent or null while remote assistance is not allowed"
                        ),
                    ));
                }
            }
            return Ok(None);
        }
        let Some(until) = self.until else {
            return Err(ApiError::malformed(
                "until",
                "allowed remote assistance needs until, an RFC 3339 time",
            ));
        };
        let (until, _) = rfc3339("until", &until)?;
        let teamviewer_id = self
            .teamviewer_id
            .map(|id| teamviewer_id("teamviewer_id", id))
            .transpose()?;
        let remote_session = match self.session {
            Some(session) => Some(RemoteSession {
                help_desk_user: shown_name("session.help_desk_user", &session.help_desk_user)?,
                started_at: rfc3339("session.started_at", &session.started_at)?.1,
            }),
            None => None,
        };
        Ok(Some(Allowance {
            until,
            teamviewer_id,
            remote_session,
        }))
    }
}

async fn report_assistance(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
    Body(report): Body<AssistanceReport>,
) -> Result<StatusCode, ApiError> {
    let (token_hash, serial) = session_of(&state, &headers)?;
    let mut allowance = report.allowance()?;
    if allowance
        .as_ref()
        .is_some_and(|allowance| allowance.until <= OffsetDateTime::now_utc())
    {
        // Allowed until a time that passed (the installation's clock is behind, or the
        // report came late): that is not allowed.
        allowance = None;
    }
    let changed = {
        let mut db = state.db();
        let before =
            sessions::session(&mut db, &token_hash, now_ms())?.ok_or_else(session_ended)?;
        let changed = crate::state::allowance_of(&before, now_ms()) != allowance;
        // Stored before it is acknowledged: the help desk on any node sees it.
        let stored = sessions::set_allowance(
            &mut db,
            &token_hash,
            allowance.as_ref().map(|allowance| to_ms(allowance.until)),
            allowance
                .as_ref()
                .and_then(|allowance| allowance.teamviewer_id.as_deref()),
            allowance
                .as_ref()
                .and_then(|allowance| allowance.remote_session.as_ref())
                .map(|session| (session.help_desk_user.as_str(), session.started_at.as_str())),
        )?;
        if !stored {
            return Err(session_ended());
        }
        changed
    };
    if changed {
        match &allowance {
            None => tracing::info!("remote assistance is not allowed on {serial}"),
            Some(allowance) => tracing::info!(
                "remote assistance is allowed on {serial} until {}{}{}",
                allowance.until.format(&Rfc3339).unwrap_or_default(),
                if allowance.teamviewer_id.is_some() {
                    ", TeamViewer ID known"
                } else {
                    ", TeamViewer ID not known"
                },
                match &allowance.remote_session {
                    Some(session) => format!(
                        ", remote session by {} since {}",
                        session.help_desk_user, session.started_at
                    ),
                    None => String::new(),
                }
            ),
        }
        state.publish(Message::Changed);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/assistance/{request_id}/answer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssistanceAnswer {
    answer: String,
    #[serde(default)]
    teamviewer_id: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// The answers an installation gives.
const ANSWERS: [&str; 4] = ["accepted", "denied", "no-answer", "not-allowed"];

impl AssistanceAnswer {
    /// The answer as it is stored (`until` in UTC), or `400 malformed` naming the field:
    /// `accepted` needs the TeamViewer ID and until when, the others have neither.
    pub(crate) fn checked(self) -> Result<AssistanceAnswer, ApiError> {
        if !ANSWERS.contains(&self.answer.as_str()) {
            return Err(ApiError::malformed(
                "answer",
                "answer must be accepted, denied, no-answer or not-allowed",
            ));
        }
        if self.answer != "accepted" {
            for (field, present) in [
                ("teamviewer_id", self.teamviewer_id.is_some()),
                ("until", self.until.is_some()),
            ] {
                if present {
                    return Err(ApiError::malformed(
                        field,
                        format!("{field} belongs to an accepted request only"),
                    ));
                }
            }
            return Ok(self);
        }
        let Some(id) = self.teamviewer_id else {
            return Err(ApiError::malformed(
                "teamviewer_id",
                "an accepted request needs the TeamViewer ID",
            ));
        };
        let Some(until) = self.until else {
            return Err(ApiError::malformed(
                "until",
                "an accepted request needs until, an RFC 3339 time",
            ));
        };
        Ok(AssistanceAnswer {
            answer: self.answer,
            teamviewer_id: Some(teamviewer_id("teamviewer_id", id)?),
            until: Some(rfc3339("until", &until)?.1),
        })
    }
}

async fn assistance_answer(
    State(state): State<Arc<Backoffice>>,
    axum::extract::Path(request_id): axum::extract::Path<String>,
    headers: HeaderMap,
    Body(answer): Body<AssistanceAnswer>,
) -> Result<StatusCode, ApiError> {
    let (_, serial) = session_of(&state, &headers)?;
    let answer = answer.checked()?;
    let mut db = state.db();
    match store::assistance(&mut db, &request_id)? {
        // Only the installation the request was sent to answers it.
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
        &mut db,
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
    tracing::info!(
        "{serial} answered assistance request {request_id}: {}",
        answer.answer
    );
    // The help desk sees the answer on whichever node serves its page.
    state.publish(Message::Changed);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

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
    fn teamviewer_ids_are_8_to_12_digits_in_groups_not_all_zeros() {
        for (id, good) in [
            ("123 456 789", true),
            ("123456789", true),
            ("12345678", true),
            ("1 234 567 890 12", true),
            ("1234 5678 9012", true),
            ("000 000 001", true),
            ("1234567", false),
            ("1234567890123", false),
            ("000 000 000", false),
            ("00000000", false),
            ("123  456 789", false),
            (" 123 456 789", false),
            ("123 456 789 ", false),
            ("123\t456 789", false),
            ("123-456-789", false),
            ("12345678a", false),
            (
                "\u{ff11}\u{ff12}\u{ff13}\u{ff14}\u{ff15}\u{ff16}\u{ff17}\u{ff18}",
                false,
            ),
            ("", false),
            (" ", false),
        ] {
            assert_eq!(is_teamviewer_id(id), good, "{id:?}");
        }
    }

    /// What `PUT /v1/assistance` makes of `body`: the allowance, or (field, message).
    fn report(body: &str) -> Result<Option<Allowance>, (Option<String>, String)> {
        parse_body::<AssistanceReport>(body.as_bytes())
            .and_then(AssistanceReport::allowance)
            .map_err(|error| {
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
                assert_eq!(error.error, "malformed", "{body}");
                (error.field, error.message)
            })
    }

    #[test]
    fn an_assistance_report_is_read_strictly() {
        let allowed = report(
            r#"{"allowed": true, "until": "2026-11-23T12:00:00+01:00", "teamviewer_id": "123 456 789",
                "session": {"help_desk_user": " anna ", "started_at": "2026-11-23T10:30:00.5Z"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            allowed.until,
            time::macros::datetime!(2026-11-23 11:00:00 UTC)
        );
        assert_eq!(allowed.teamviewer_id.as_deref(), Some("123 456 789"));
        assert_eq!(
            allowed.remote_session,
            Some(RemoteSession {
                help_desk_user: "anna".to_string(),
                started_at: "2026-11-23T10:30:00.5Z".to_string(),
            })
        );
        let without_id = report(
            r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "teamviewer_id": null, "session": null}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(without_id.teamviewer_id, None);
        assert_eq!(without_id.remote_session, None);
        assert_eq!(report(r#"{"allowed": false}"#), Ok(None));
        assert_eq!(
            report(r#"{"allowed": false, "until": null, "teamviewer_id": null, "session": null}"#),
            Ok(None)
        );

        let long_name = "x".repeat(201);
        for (body, field, message) in [
            (
                r#"{"allowed": true}"#.to_string(),
                "until",
                "allowed remote assistance needs until, an RFC 3339 time",
            ),
            (
                r#"{"allowed": true, "until": "tomorrow"}"#.to_string(),
                "until",
                "until must be an RFC 3339 time (2026-11-23T11:00:00Z)",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23"}"#.to_string(),
                "until",
                "until must be an RFC 3339 time (2026-11-23T11:00:00Z)",
            ),
            (
                r#"{"allowed": true, "until": "0000-01-01T00:30:00+01:00"}"#.to_string(),
                "until",
                "until must be an RFC 3339 time (2026-11-23T11:00:00Z)",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "teamviewer_id": "000 000 000"}"#.to_string(),
                "teamviewer_id",
                "teamviewer_id must be a TeamViewer ID: 8 to 12 digits, possibly grouped by single spaces, not all zeros",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "session": {"help_desk_user": "anna", "started_at": "now"}}"#.to_string(),
                "session.started_at",
                "session.started_at must be an RFC 3339 time (2026-11-23T11:00:00Z)",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "session": {"help_desk_user": "an\nna", "started_at": "2026-11-23T10:00:00Z"}}"#.to_string(),
                "session.help_desk_user",
                "session.help_desk_user must be a name of 1 to 200 characters on one line",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "session": {"help_desk_user": "  ", "started_at": "2026-11-23T10:00:00Z"}}"#.to_string(),
                "session.help_desk_user",
                "session.help_desk_user must be a name of 1 to 200 characters on one line",
            ),
            (
                format!(r#"{{"allowed": true, "until": "2026-11-23T11:00:00Z", "session": {{"help_desk_user": "{long_name}", "started_at": "2026-11-23T10:00:00Z"}}}}"#),
                "session.help_desk_user",
                "session.help_desk_user must be a name of 1 to 200 characters on one line",
            ),
            (
                r#"{"allowed": false, "until": "2026-11-23T11:00:00Z"}"#.to_string(),
                "until",
                "until must be absent or null while remote assistance is not allowed",
            ),
            (
                r#"{"allowed": false, "teamviewer_id": "123 456 789"}"#.to_string(),
                "teamviewer_id",
                "teamviewer_id must be absent or null while remote assistance is not allowed",
            ),
            (
                r#"{"allowed": false, "session": {"help_desk_user": "anna", "started_at": "2026-11-23T10:00:00Z"}}"#.to_string(),
                "session",
                "session must be absent or null while remote assistance is not allowed",
            ),
            (
                r#"{"until": "2026-11-23T11:00:00Z"}"#.to_string(),
                "allowed",
                "the body is not the expected JSON: field allowed: missing",
            ),
            (
                r#"{"allowed": "yes"}"#.to_string(),
                "allowed",
                "the body is not the expected JSON: field allowed: wrong type or value",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "session": {"help_desk_user": "anna"}}"#.to_string(),
                "session.started_at",
                "the body is not the expected JSON: field session.started_at: missing",
            ),
            (
                r#"{"allowed": true, "until": "2026-11-23T11:00:00Z", "organisation": "x"}"#.to_string(),
                "organisation",
                "the body is not the expected JSON: field organisation: unknown field",
            ),
        ] {
            assert_eq!(
                report(&body),
                Err((Some(field.to_string()), message.to_string())),
                "{body}"
            );
        }
    }

    /// An answer as stored: (answer, TeamViewer ID, until).
    type Stored = (String, Option<String>, Option<String>);

    /// What `POST /v1/assistance/{id}/answer` makes of `body`: (answer, ID, until), or
    /// (field, message).
    fn answer(body: &str) -> Result<Stored, (String, String)> {
        parse_body::<AssistanceAnswer>(body.as_bytes())
            .and_then(AssistanceAnswer::checked)
            .map(|answer| (answer.answer, answer.teamviewer_id, answer.until))
            .map_err(|error| (error.field.unwrap_or_default(), error.message))
    }

    #[test]
    fn assistance_answers_are_read_strictly() {
        assert_eq!(
            answer(
                r#"{"answer": "accepted", "teamviewer_id": "123 456 789", "until": "2026-11-23T12:00:00+01:00"}"#
            ),
            Ok((
                "accepted".to_string(),
                Some("123 456 789".to_string()),
                Some("2026-11-23T11:00:00Z".to_string())
            ))
        );
        for plain in ["denied", "no-answer", "not-allowed"] {
            assert_eq!(
                answer(&format!(
                    r#"{{"answer": "{plain}", "teamviewer_id": null}}"#
                )),
                Ok((plain.to_string(), None, None))
            );
        }
        for (body, field, message) in [
            (
                r#"{"answer": "accepted", "until": "2026-11-23T11:00:00Z"}"#,
                "teamviewer_id",
                "an accepted request needs the TeamViewer ID",
            ),
            (
                r#"{"answer": "accepted", "teamviewer_id": "123 456 789"}"#,
                "until",
                "an accepted request needs until, an RFC 3339 time",
            ),
            (
                r#"{"answer": "accepted", "teamviewer_id": "12 34", "until": "2026-11-23T11:00:00Z"}"#,
                "teamviewer_id",
                "teamviewer_id must be a TeamViewer ID: 8 to 12 digits, possibly grouped by single spaces, not all zeros",
            ),
            (
                r#"{"answer": "accepted", "teamviewer_id": "123 456 789", "until": "11:00"}"#,
                "until",
                "until must be an RFC 3339 time (2026-11-23T11:00:00Z)",
            ),
            (
                r#"{"answer": "denied", "teamviewer_id": "123 456 789"}"#,
                "teamviewer_id",
                "teamviewer_id belongs to an accepted request only",
            ),
            (
                r#"{"answer": "no-answer", "until": "2026-11-23T11:00:00Z"}"#,
                "until",
                "until belongs to an accepted request only",
            ),
            (
                r#"{"answer": "maybe"}"#,
                "answer",
                "answer must be accepted, denied, no-answer or not-allowed",
            ),
        ] {
            assert_eq!(
                answer(body),
                Err((field.to_string(), message.to_string())),
                "{body}"
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
