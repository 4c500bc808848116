//! The help-desk page: sign in, see the organisation's installations online or offline,
//! connected ("VPN") and open to remote assistance ("RDP"), updating by itself over
//! server-sent events; ask one for assistance, see the answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::errors::{ApiError, Body};
use crate::state::{
    allowance_of, can_assist, now_ms, now_text, random_token, Backoffice, Message, Peer,
    RemoteSession, HELPDESK_IDLE, MAX_HELPDESK_SESSIONS,
};
use crate::store::{self, sessions};

const PAGE: &str = include_str!("helpdesk.html");
const SCRIPT: &str = include_str!("helpdesk.js");
const STYLE: &str = include_str!("helpdesk.css");
const COOKIE: &str = "helpdesk";

/// The help-desk routes.
pub fn routes() -> Router<Arc<Backoffice>> {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/helpdesk.js", get(script))
        .route("/helpdesk.css", get(style))
        .route("/helpdesk/sign-in", post(sign_in))
        .route("/helpdesk/sign-out", post(sign_out))
        .route("/helpdesk/installations", get(installations))
        .route("/helpdesk/events", get(events))
        .route(
            "/helpdesk/installations/{serial}/assistance",
            post(request_assistance),
        )
}

/// Nothing but the page's own files: no inline script or style, nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// `GET /health`, for the load balancer: `200` while this node reaches its database,
/// `503` with the reason (never a password) while it does not.
async fn health(State(state): State<Arc<Backoffice>>) -> Response {
    let checked = tokio::task::spawn_blocking(move || {
        let reached = state.db().query_first("SELECT 1", &[]).map(|_| ());
        (state, reached)
    })
    .await;
    match checked {
        Ok((state, Ok(()))) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "node": state.node})),
        )
            .into_response(),
        Ok((state, Err(error))) => {
            tracing::warn!("health check: {error:#}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("node {} cannot reach its database: {error:#}", state.node),
            )
            .into_response()
        }
        Err(error) => ApiError::internal(error.into()).into_response(),
    }
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(PAGE),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        STYLE,
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct SignIn {
    user: String,
    password: String,
}

async fn sign_in(
    State(state): State<Arc<Backoffice>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Body(request): Body<SignIn>,
) -> Result<Response, ApiError> {
    if let Some(wait) = state
        .guard
        .locked(&mut state.db(), &request.user, peer.ip())?
    {
        return Err(ApiError::locked_out(
            format!("user {} from {}", request.user, peer.ip()),
            wait,
        ));
    }
    let account = store::helpdesk_user(&mut state.db(), &request.user)?;
    let user = request.user.clone();
    let blocking_state = state.clone();
    let organisation = tokio::task::spawn_blocking(move || {
        // A user that does not exist costs as long as a wrong password.
        let (organisation, hash) = match account {
            Some((organisation, hash)) => (Some(organisation), Some(hash)),
            None => (None, None),
        };
        blocking_state
            .guard
            .verify(&request.user, hash.as_deref(), &request.password)
            .then_some(organisation)
            .flatten()
    })
    .await
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    })?;
    let Some(organisation) = organisation else {
        state.guard.failed(&mut state.db(), &user, peer.ip())?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "wrong user name or password",
        ));
    };
    state.guard.succeeded(&mut state.db(), &user, peer.ip())?;
    let token = random_token();
    let now = now_ms();
    sessions::add_helpdesk_session(
        &mut state.db(),
        &sessions::token_hash(&token),
        &user,
        &organisation,
        now,
        now - HELPDESK_IDLE.as_millis() as i64,
        MAX_HELPDESK_SESSIONS,
    )?;
    // Secure when the page came over TLS (the proxy or our listener says so).
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto == "https")
        || state.tls;
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a valid cookie"),
        )],
    )
        .into_response())
}

/// The signed-in help desk: (token hash, user, organisation).
fn signed_in(
    state: &Backoffice,
    headers: &HeaderMap,
) -> Result<(String, String, String), ApiError> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")))
        .next()
        .unwrap_or_default()
        .to_string();
    let token_hash = sessions::token_hash(&token);
    let now = now_ms();
    let signed_in = sessions::helpdesk_session(
        &mut state.db(),
        &token_hash,
        now,
        now - HELPDESK_IDLE.as_millis() as i64,
    )?;
    match signed_in {
        Some((user, organisation)) => Ok((token_hash, user, organisation)),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication-failed",
            "sign in first",
        )),
    }
}

async fn sign_out(State(state): State<Arc<Backoffice>>, headers: HeaderMap) -> StatusCode {
    if let Ok((token_hash, _, _)) = signed_in(&state, &headers) {
        if let Err(error) = sessions::remove_helpdesk_session(&mut state.db(), &token_hash) {
            tracing::warn!("cannot sign a help desk out: {error:#}");
        }
    }
    StatusCode::NO_CONTENT
}

/// An installation as the help desk sees it.
#[derive(Serialize)]
struct Installation {
    serial_number: String,
    hostname: Option<String>,
    client: Option<String>,
    online: bool,
    last_seen: Option<String>,
    /// The licence sequence the installation reported in its session.
    licence_sequence: Option<u64>,
    /// Its session and its event stream are up: it hears a request now.
    vpn: bool,
    /// `vpn`, remote assistance is allowed and the TeamViewer ID is known.
    rdp: bool,
    /// Until when remote assistance is allowed (RFC 3339, UTC); null: not allowed.
    allowed_until: Option<String>,
    /// The TeamViewer ID the installation reported while allowed.
    teamviewer_id: Option<String>,
    /// The remote session that is on.
    remote_session: Option<RemoteSession>,
    /// The latest request and its answer.
    assistance: Option<store::Assistance>,
}

fn list(state: &Backoffice, organisation: &str) -> Result<Vec<Installation>, ApiError> {
    let now = now_ms();
    let mut db = state.db();
    let rows = store::serials_of(&mut db, organisation)?;
    let mut assistance = store::latest_assistance_of(&mut db, organisation)?;
    let mut live: std::collections::HashMap<String, sessions::SessionRow> =
        sessions::sessions_of(&mut db, organisation, now)?
            .into_iter()
            .map(|session| (session.serial.clone(), session))
            .collect();
    drop(db);
    // What this node's heartbeats said and has not written yet.
    for activity in state.activity().values() {
        if let Some(session) = live.get_mut(&activity.serial) {
            session.last_seen.clone_from(&activity.last_seen);
            if activity.licence_sequence.is_some() {
                session.licence_sequence = activity.licence_sequence;
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let session = live.get(&row.serial);
            let allowance = session.and_then(|session| allowance_of(session, now));
            Installation {
                online: session.is_some(),
                vpn: session.is_some_and(|session| session.has_stream),
                rdp: session.is_some_and(|session| can_assist(session, now)),
                allowed_until: allowance.as_ref().and_then(|allowance| {
                    allowance
                        .until
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
                teamviewer_id: allowance
                    .as_ref()
                    .and_then(|allowance| allowance.teamviewer_id.clone()),
                remote_session: allowance.and_then(|allowance| allowance.remote_session),
                last_seen: session
                    .map(|session| session.last_seen.clone())
                    .or(row.last_seen),
                licence_sequence: session.and_then(|session| session.licence_sequence),
                assistance: assistance.remove(&row.serial),
                serial_number: row.serial,
                hostname: row.hostname,
                client: row.client,
            }
        })
        .collect())
}

async fn installations(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Installation>>, ApiError> {
    let (_, _, organisation) = signed_in(&state, &headers)?;
    Ok(Json(list(&state, &organisation)?))
}

/// How long a help-desk stream gathers changes before it sends the list again: a burst of
/// installations coming online is one update, not hundreds, and a change still shows
/// within a second.
const GATHER: Duration = Duration::from_millis(250);

async fn events(
    State(state): State<Arc<Backoffice>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, _, organisation) = signed_in(&state, &headers)?;
    let changes = state.changes.subscribe();
    let first = list(&state, &organisation)?;
    let stream = futures_util::stream::unfold(
        (Some(first), changes, state, organisation),
        |(first, mut changes, state, organisation)| async move {
            let installations = match first {
                Some(first) => first,
                None => {
                    // Lagging behind only means several changes: the list now covers them.
                    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
                    if let Err(RecvError::Closed) = changes.recv().await {
                        return None;
                    }
                    tokio::time::sleep(GATHER).await;
                    while !matches!(
                        changes.try_recv(),
                        Err(TryRecvError::Empty | TryRecvError::Closed)
                    ) {}
                    list(&state, &organisation).ok()?
                }
            };
            let event = Event::default()
                .event("installations")
                .data(serde_json::to_string(&installations).unwrap_or_default());
            Some((
                Ok::<_, Infallible>(event),
                (None, changes, state, organisation),
            ))
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct AssistanceRequest {
    #[serde(default)]
    message: String,
}

async fn request_assistance(
    State(state): State<Arc<Backoffice>>,
    Path(serial): Path<String>,
    headers: HeaderMap,
    Body(request): Body<AssistanceRequest>,
) -> Result<Response, ApiError> {
    let (_, user, organisation) = signed_in(&state, &headers)?;
    let known = store::serial(&mut state.db(), &serial)?;
    if known.is_none_or(|known| known.organisation_id != organisation) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-serial",
            format!("no installation {serial} in your organisation"),
        ));
    }
    let assistance = store::Assistance {
        request_id: random_token()[..16].to_string(),
        serial: serial.clone(),
        help_desk_user: user,
        message: request.message,
        requested_at: now_text(),
        answer: None,
        teamviewer_id: None,
        until: None,
    };
    let offline = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "offline",
            format!("installation {serial} is offline"),
        )
    };
    // (event stream open on a live node, remote assistance allowed), as stored.
    let now = now_ms();
    let standing = sessions::session_of_serial(&mut state.db(), &serial, now)?
        .map(|session| (session.has_stream, allowance_of(&session, now).is_some()));
    match standing {
        None | Some((false, _)) => return Err(offline()),
        Some((true, false)) => {
            // The page's button is disabled then; a request that races with a revoke
            // still reaches the installation, which answers not-allowed.
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not-allowed",
                format!("remote assistance is not allowed on {serial}"),
            ));
        }
        Some((true, true)) => {}
    }
    // Stored before the installation hears of it and before it is acknowledged: its
    // answer, however fast and through whichever node, finds the request.
    store::add_assistance(&mut state.db(), &assistance)?;
    // The node that holds the stream sends it (this one, or another that hears of it).
    state.publish(Message::Assistance {
        serial: serial.clone(),
        request_id: assistance.request_id.clone(),
    });
    state.publish(Message::Changed);
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"request_id": assistance.request_id})),
    )
        .into_response())
}
