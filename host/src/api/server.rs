//! The local API server: HTTP/1.1 on a Unix domain socket that only its owner (and root)
//! may use.

use std::convert::Infallible;
use std::fs;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

use super::ApiEvent;
use crate::engine::service::EngineHandle;

type Body = BoxBody<Bytes, Infallible>;

/// A bound socket; removes its file when dropped.
pub struct Socket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Binds the API socket at `path`, mode 0600 in a folder only the owner can enter. Refuses
/// when another engine answers there; a stale socket file is replaced.
pub async fn bind(path: &Path) -> Result<Socket> {
    if let Some(dir) = path.parent() {
        platform::create_private_dir(dir)
            .with_context(|| format!("cannot create the socket folder {}", dir.display()))?;
    }
    if UnixStream::connect(path).await.is_ok() {
        bail!(
            "a Remote Service engine already runs and answers on {}",
            path.display()
        );
    }
    match fs::remove_file(path) {
        Ok(()) => tracing::info!("removed the stale socket {}", path.display()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot remove the stale socket {}", path.display()))
        }
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    platform::restrict_socket(path)
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
    Ok(Socket {
        listener,
        path: path.to_path_buf(),
    })
}

/// Serves the API on `socket` until `shutdown` completes.
pub async fn serve(socket: Socket, engine: EngineHandle, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!("cannot accept a connection on {}: {error}", socket.path.display());
                    continue;
                }
            },
        };
        if let Err(reason) = platform::check_peer(&stream) {
            tracing::warn!("refused a local API connection: {reason}");
            continue;
        }
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(request, engine.clone()));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("local API connection ended: {error}");
            }
        });
    }
}

async fn respond(
    request: Request<Incoming>,
    engine: EngineHandle,
) -> Result<Response<Body>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let response = match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "status"]) => match engine.status().await {
            Some(status) => json(StatusCode::OK, &status),
            None => stopping(),
        },
        (&Method::GET, ["v1", "plugins"]) => match engine.status().await {
            Some(status) => json(StatusCode::OK, &status.plugins),
            None => stopping(),
        },
        (&Method::GET, ["v1", "licence"]) => match engine.status().await {
            Some(status) => match status.licence {
                Some(licence) => json(StatusCode::OK, &licence),
                None => error(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "no licence is installed in {}",
                        status.licence_folder.display()
                    ),
                ),
            },
            None => stopping(),
        },
        (&Method::GET, ["v1", "menu"]) => match engine.menu().await {
            Some(menu) => json(StatusCode::OK, &menu),
            None => stopping(),
        },
        (&Method::POST, ["v1", "plugins", plugin, "menu", item, "click"]) => {
            if engine.click(plugin, item).await {
                empty(StatusCode::NO_CONTENT)
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("plugin {plugin} is not running or has no menu item {item}"),
                )
            }
        }
        (&Method::GET, ["v1", "events"]) => events(engine).await,
        (_, ["v1", "status" | "plugins" | "licence" | "menu" | "events"]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}"),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no such endpoint: {method} {path}"),
        ),
    };
    Ok(response)
}

/// The event stream: server-sent events, one JSON [`ApiEvent`] per `data:` line, starting
/// with the status now.
async fn events(engine: EngineHandle) -> Response<Body> {
    let mut events = engine.subscribe();
    let Some(status) = engine.status().await else {
        return stopping();
    };
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(16);
    tokio::spawn(async move {
        let mut next = Some(ApiEvent::Status {
            status: Box::new(status),
        });
        loop {
            let event = match next.take() {
                Some(event) => event,
                None => match events.recv().await {
                    Ok(event) => event,
                    // Too slow a reader missed events: the status now says where things are.
                    Err(RecvError::Lagged(_)) => match engine.status().await {
                        Some(status) => ApiEvent::Status {
                            status: Box::new(status),
                        },
                        None => return,
                    },
                    Err(RecvError::Closed) => return,
                },
            };
            let line = format!(
                "data: {}\n\n",
                serde_json::to_string(&event).unwrap_or_default()
            );
            if sender.send(Frame::data(Bytes::from(line))).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .body(body.boxed())
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn stopping() -> Response<Body> {
    error(StatusCode::SERVICE_UNAVAILABLE, "the engine is stopping")
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = status;
    response
}

#[cfg(unix)]
mod platform {
    use std::fs;
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    use std::path::Path;

    use tokio::net::UnixStream;

    /// The socket folder: created 0700; an existing one must not be open to others.
    pub fn create_private_dir(dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let metadata = fs::metadata(dir)?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("others can write it (mode {mode:04o})"),
            ));
        }
        let me = crate::os::effective_user_id();
        if metadata.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "it belongs to user id {}, not to user id {me}",
                    metadata.uid()
                ),
            ));
        }
        Ok(())
    }

    /// Only the owner may connect.
    pub fn restrict_socket(path: &Path) -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
    }

    /// The peer must be the user the engine runs as, or root.
    pub fn check_peer(stream: &UnixStream) -> Result<(), String> {
        let credentials = stream
            .peer_cred()
            .map_err(|error| format!("cannot read the peer's credentials: {error}"))?;
        let me = crate::os::effective_user_id();
        let peer = credentials.uid();
        if peer == me || peer == 0 {
            Ok(())
        } else {
            Err(format!(
                "user id {peer} is neither the engine's user (user id {me}) nor root"
            ))
        }
    }
}
