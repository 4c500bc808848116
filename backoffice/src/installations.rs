//! The `/v1` protocol for installations (`docs/protocol.md`): sessions, heartbeats, the
//! event stream, licence download, install reports and assistance answers.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::errors::{parse_body, ApiError, Body};
use crate::state::{licence_available, now_text, random_token, Backoffice, Peer, Session};
use crate::store;

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
    if let Some(wait) = state.guard.locked(principal, address) {
        return Err(ApiError::locked_out(
            format!("organisation {principal} from {address}"),
            wait,
        ));
    }
    let organisation = store::organisation(&state.db(), principal)?;
    let good = match &organisation {
        Some(organisation) => state.check_code(organisation, &request.verification_code),
        // As long as for an organisation that exists: timing tells nothing.
        None => state
            .guard
            .verify(principal, None, &request.verification_code),
    };
    if !good {
        state.guard.failed(principal, address);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "wrong service organisation ID or verification code",
        ));
    }
    state.guard.succeeded(principal, address);
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
pub(crate) struct HeartbeatRequest {
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
            return Err(session_ended());
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
            return Err(session_ended());
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
pub(crate) struct AssistanceAnswer {
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
    fn a_good_body_is_read() {
        let request: SessionRequest = parse_body(
            br#"{"organisation_id": "ORG", "verification_code": "c", "serial_number": "SN", "licence_sequence": null}"#,
        )
        .unwrap();
        assert_eq!(request.serial_number, "SN");
        assert_eq!(request.licence_sequence, None);
    }
}
