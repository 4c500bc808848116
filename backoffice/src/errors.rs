//! The protocol's error answers and the reading of JSON bodies, for the installations'
//! and the help desk's endpoints alike.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

/// An error answer of the protocol.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    /// Seconds until the request may be made again (`Retry-After`).
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// `400 malformed` about `field`, a body that is JSON of the right shape with a value
    /// that is not allowed there; `message` says what is expected, never the value.
    pub fn malformed(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "malformed", message)
        }
    }

    /// `429 too-many-attempts`: `who` is locked out for `wait` after wrong secrets.
    pub fn locked_out(who: String, wait: std::time::Duration) -> ApiError {
        let seconds = wait.as_secs().max(1);
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                format!("too many wrong attempts for {who}: try again in {seconds} s"),
            )
        }
    }

    /// A failure of the back office itself: logged, answered without its details.
    pub fn internal(error: anyhow::Error) -> ApiError {
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    /// `503 unavailable` when the database cannot be reached (the balancer's health check
    /// and the installation's backoff move on to another node), else `500 internal`.
    fn from(error: anyhow::Error) -> ApiError {
        if crate::store::is_unreachable(&error) {
            tracing::warn!("{error:#}");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the back office cannot reach its database; try again later",
            );
        }
        ApiError::internal(error)
    }
}

/// A JSON body, sent as `application/json` (`415` otherwise); a malformed one is
/// `400 malformed` naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A form or `text/plain` is what a page of another site can make a browser send
        // without asking (cross-site request forgery); JSON it cannot.
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .split(';')
                    .next()
                    .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "malformed",
                "the body must be sent as application/json",
            ));
        }
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
