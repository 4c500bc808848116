//! The local API server: HTTP/1.1 on a Unix domain socket that only its owner (and root)
//! may use.

use std::convert::Infallible;
use std::fs;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

use remote_service_api::{
    AllowRequest, AnswerRequest, ApiEvent, CommandRequest, ConfigChanges, ConfigCheck, Endpoint,
    ErrorAnswer, LicenceText, Status, Unmatched, Value,
};

use crate::service::EngineHandle;

type Body = BoxBody<Bytes, Infallible>;

/// A bound socket; removes its file when dropped, if the file is still this socket's
/// (another engine may have replaced a socket it took for stale).
pub struct Socket {
    listener: UnixListener,
    path: PathBuf,
    audience: Audience,
    /// The socket file's identity when it was bound.
    identity: Option<platform::FileIdentity>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.identity.is_some() && platform::identity(&self.path) == self.identity {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Who may use the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The user the engine runs as (and root): folder 0700, socket 0600, peer checked.
    User,
    /// The system service's users: root and the members of the group
    /// [`SYSTEM_GROUP`] (folder 0750, socket 0660, both of that group); the file system
    /// decides who may connect.
    System,
}

/// The group whose members may use the system service's API (read what it shows, click
/// its menu items); changing its settings, secrets or licence needs root.
pub const SYSTEM_GROUP: &str = "remote-service";

/// Overrides [`SYSTEM_GROUP`]; for tests, which cannot add a group to the machine.
pub const SYSTEM_GROUP_ENV: &str = "REMOTE_SERVICE_SYSTEM_GROUP";

/// The system group's name: [`SYSTEM_GROUP`] unless [`SYSTEM_GROUP_ENV`] says otherwise.
fn system_group() -> String {
    std::env::var(SYSTEM_GROUP_ENV)
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| SYSTEM_GROUP.to_string())
}

/// Who is asking, as the engine decides what they may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caller {
    /// The peer's user id (root: 0).
    uid: u32,
    /// Whom the API serves.
    audience: Audience,
}

impl Caller {
    /// Why the caller may not do what `endpoint` does, if it may not: on the system
    /// service, what changes settings, secrets, the licence or writes files (a plugin's
    /// command) is root's alone, so that a member of the group cannot point the service
    /// (and its verification code) at another back office or make root write elsewhere.
    fn refusal(&self, endpoint: &Endpoint) -> Option<String> {
        let changes = matches!(
            endpoint,
            Endpoint::SetConfig { .. }
                | Endpoint::SetConfigs
                // It writes (and removes) a file in the folder named: as root, root's alone.
                | Endpoint::TestFolder
                | Endpoint::UnsetConfig { .. }
                | Endpoint::SettingsFile
                | Endpoint::SetSecret { .. }
                | Endpoint::DeleteSecret { .. }
                | Endpoint::InstallLicence
                | Endpoint::Command { .. }
        );
        (self.audience == Audience::System && changes && self.uid != 0).then(|| {
            format!(
                "only root may change the system service's settings, secrets or licence or run a plugin's command (you are user id {}); use sudo",
                self.uid
            )
        })
    }
}

/// Binds the API socket at `path` for `audience`. Refuses when another engine answers
/// there; a stale socket file is replaced.
pub async fn bind(path: &Path, audience: Audience) -> Result<Socket> {
    if let Some(dir) = path.parent() {
        platform::create_socket_dir(dir, audience)
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
    platform::restrict_socket(path, audience)
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
    Ok(Socket {
        listener,
        path: path.to_path_buf(),
        audience,
        identity: platform::identity(path),
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
                    // Out of file descriptors and the like: the error repeats at once, so
                    // wait a little instead of spinning.
                    tracing::warn!("cannot accept a connection on {}: {error}", socket.path.display());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let caller = match platform::check_peer(&stream, socket.audience) {
            Ok(uid) => Caller {
                uid,
                audience: socket.audience,
            },
            Err(reason) => {
                tracing::warn!("refused a local API connection: {reason}");
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(request, engine.clone(), caller));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("local API connection ended: {error}");
            }
        });
    }
}

/// How long a plugin command may take before the caller is told the plugin did not
/// answer (a licence check downloads over the network: minutes would be too long for a
/// person at a prompt, seconds too short for a slow back office).
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// The most a request body may hold: a licence file or a setting is far smaller.
const BODY_LIMIT: usize = 256 * 1024;

async fn respond(
    request: Request<Incoming>,
    engine: EngineHandle,
    caller: Caller,
) -> Result<Response<Body>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let endpoint = match Endpoint::parse(&method, &path) {
        Ok(endpoint) => endpoint,
        Err(Unmatched::NotFound) => {
            return Ok(error(
                StatusCode::NOT_FOUND,
                &format!("no such endpoint: {method} {path}"),
            ))
        }
        Err(Unmatched::MethodNotAllowed) => {
            return Ok(error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not allowed on {path}"),
            ))
        }
    };
    if let Some(reason) = caller.refusal(&endpoint) {
        tracing::warn!("refused {method} {path}: {reason}");
        return Ok(error(StatusCode::FORBIDDEN, &reason));
    }
    let body = request.into_body();
    let response = match endpoint {
        Endpoint::Status => answered(engine.status().await),
        Endpoint::Plugins => answered(engine.status().await.map(|status| status.plugins)),
        Endpoint::Menu => answered(engine.status().await.map(|status| status.menu)),
        Endpoint::Licence => match engine.status().await {
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
        Endpoint::Click { plugin, item } => {
            if engine.click(&plugin, &item).await {
                empty(StatusCode::NO_CONTENT)
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("plugin {plugin} is not running or has no menu item {item}"),
                )
            }
        }
        Endpoint::NoticeAction {
            plugin,
            key,
            action,
        } => {
            if engine.notice_action(&plugin, &key, &action).await {
                empty(StatusCode::NO_CONTENT)
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("plugin {plugin} is not running or failed on the action {action}"),
                )
            }
        }
        Endpoint::Command { plugin, command } => {
            let request: CommandRequest = match read_json(body).await {
                Ok(request) => request,
                Err(response) => return Ok(response),
            };
            let asked = engine.command(&plugin, &command, &request.argument);
            match tokio::time::timeout(COMMAND_LIMIT, asked).await {
                Ok(Some(outcome)) => json(StatusCode::OK, &outcome),
                Ok(None) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("plugin {plugin} stopped before it answered {command}"),
                ),
                Err(_) => error(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!(
                        "plugin {plugin} did not answer {command} within {} s",
                        COMMAND_LIMIT.as_secs()
                    ),
                ),
            }
        }
        Endpoint::Events => events(engine).await,
        Endpoint::Config => answered(engine.config().await),
        Endpoint::GetConfig { key } => refusable(engine.get_config(&key).await),
        Endpoint::SettingsFile => refusable(engine.settings_file().await),
        Endpoint::SetConfig { key } => match read_json::<Value>(body).await {
            Ok(value) => refusable(engine.set_config(&key, Some(value.value)).await),
            Err(response) => response,
        },
        Endpoint::UnsetConfig { key } => refusable(engine.set_config(&key, None).await),
        Endpoint::SetSecret { name } => match read_json::<Value>(body).await {
            Ok(value) => match engine.set_secret(&name, Some(value.value)).await {
                Ok(()) => empty(StatusCode::NO_CONTENT),
                Err(reason) => error(StatusCode::BAD_REQUEST, &reason),
            },
            Err(response) => response,
        },
        Endpoint::DeleteSecret { name } => match engine.set_secret(&name, None).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(reason) => error(StatusCode::BAD_REQUEST, &reason),
        },
        Endpoint::TestConnection => match engine.connection_config().await {
            Some(config) => json(
                StatusCode::OK,
                &crate::connection::test::test_connection(&config, Some(engine.detector())).await,
            ),
            None => stopping(),
        },
        Endpoint::ResolveProxy => match read_json::<Value>(body).await {
            Ok(url) => refusable(engine.resolve_proxy(&url.value).await),
            Err(response) => response,
        },
        Endpoint::VerifyLicence => match read_json::<LicenceText>(body).await {
            Ok(licence) => answered(engine.verify_licence(licence.text).await),
            Err(response) => response,
        },
        Endpoint::InstallLicence => match read_json::<LicenceText>(body).await {
            Ok(licence) => refusable(engine.install_licence(licence.text).await),
            Err(response) => response,
        },
        Endpoint::Entitlement { release_date } => {
            refusable(engine.entitlement(&release_date).await)
        }
        Endpoint::SetConfigs => match read_json::<ConfigChanges>(body).await {
            Ok(changes) => refusable(
                engine
                    .set_configs(changes.settings.into_iter().collect())
                    .await,
            ),
            Err(response) => response,
        },
        Endpoint::CheckConfig => match read_json::<ConfigChanges>(body).await {
            Ok(changes) => answered(
                engine
                    .check_configs(changes.settings.into_iter().collect())
                    .await
                    .map(|errors| ConfigCheck { errors }),
            ),
            Err(response) => response,
        },
        Endpoint::TestFolder => match read_json::<Value>(body).await {
            Ok(folder) => json(StatusCode::OK, &engine.test_folder(folder.value).await),
            Err(response) => response,
        },
        Endpoint::Assistance => match engine.status().await {
            Some(Status {
                assistance: Some(assistance),
                ..
            }) => json(StatusCode::OK, &assistance),
            Some(_) => error(
                StatusCode::NOT_FOUND,
                "remote assistance is not available here: it needs the remote-assistance licence option and the TeamViewer bridge plugin",
            ),
            None => stopping(),
        },
        Endpoint::AllowAssistance => match read_json::<AllowRequest>(body).await {
            Ok(allow) => refusable(engine.allow_assistance(allow.hours).await),
            Err(response) => response,
        },
        Endpoint::RevokeAssistance => refusable(engine.revoke_assistance().await),
        Endpoint::AnswerAssistance { request } => match read_json::<AnswerRequest>(body).await {
            Ok(answer) => refusable(engine.answer_assistance(&request, answer.answer).await),
            Err(response) => response,
        },
        Endpoint::EndSession => refusable(engine.end_session().await),
        Endpoint::AssistanceLog => refusable(engine.assistance_log().await),
    };
    Ok(response)
}

/// 200 with `answer`, or 503 when the engine stopped before it answered.
fn answered(answer: Option<impl Serialize>) -> Response<Body> {
    match answer {
        Some(answer) => json(StatusCode::OK, &answer),
        None => stopping(),
    }
}

/// 200 with `answer`, or 400 with the reason it was refused.
fn refusable(answer: Result<impl Serialize, String>) -> Response<Body> {
    match answer {
        Ok(answer) => json(StatusCode::OK, &answer),
        Err(reason) => error(StatusCode::BAD_REQUEST, &reason),
    }
}

/// A JSON request body read as `T`; at most [`BODY_LIMIT`] bytes are read, and the error
/// never quotes the body (it may hold a secret).
async fn read_json<T: serde::de::DeserializeOwned>(body: Incoming) -> Result<T, Response<Body>> {
    let limited = http_body_util::Limited::new(body, BODY_LIMIT);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "the request body is too large or broke off",
            ))
        }
    };
    parse_body(&bytes).map_err(|problem| error(StatusCode::BAD_REQUEST, &problem))
}

/// A request body as `T` (empty: `{}`); the error says where the JSON is wrong and never
/// quotes it.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let bytes = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice::<T>(bytes).map_err(|problem| {
        format!(
            "the body is not the JSON this endpoint takes (line {}, column {})",
            problem.line(),
            problem.column()
        )
    })
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
    json(
        status,
        &ErrorAnswer {
            error: message.to_string(),
        },
    )
}

fn stopping() -> Response<Body> {
    error(StatusCode::SERVICE_UNAVAILABLE, crate::service::STOPPING)
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

    use super::{system_group, Audience};

    /// A file's device and inode.
    pub type FileIdentity = (u64, u64);

    /// The identity of the file at `path`, not following a link.
    pub fn identity(path: &Path) -> Option<FileIdentity> {
        fs::symlink_metadata(path)
            .ok()
            .map(|metadata| (metadata.dev(), metadata.ino()))
    }

    /// The socket folder: created 0700 (0750 for the system service); an existing one must
    /// belong to this user and not be writable by others.
    pub fn create_socket_dir(dir: &Path, audience: Audience) -> io::Result<()> {
        let mode = match audience {
            Audience::User => 0o700,
            Audience::System => 0o750,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)?;
        let metadata = fs::metadata(dir)?;
        let actual = metadata.permissions().mode() & 0o777;
        if actual & 0o022 != 0 {
            return Err(denied(format!("others can write it (mode {actual:04o})")));
        }
        let me = crate::os::effective_user_id();
        if metadata.uid() != me {
            return Err(denied(format!(
                "it belongs to user id {}, not to user id {me}",
                metadata.uid()
            )));
        }
        if audience == Audience::System {
            share_with_group(dir, mode)?;
        }
        Ok(())
    }

    /// The socket: 0600, or 0660 of the system group for the system service.
    pub fn restrict_socket(path: &Path, audience: Audience) -> io::Result<()> {
        match audience {
            Audience::User => fs::set_permissions(path, fs::Permissions::from_mode(0o600)),
            Audience::System => share_with_group(path, 0o660),
        }
    }

    /// Gives `path` to the system group with `mode`; without the group, only root may use
    /// it (and the engine says so).
    fn share_with_group(path: &Path, mode: u32) -> io::Result<()> {
        let group = system_group();
        match group_id(&group) {
            Some(gid) => {
                std::os::unix::fs::chown(path, None, Some(gid))?;
                fs::set_permissions(path, fs::Permissions::from_mode(mode))
            }
            None => {
                tracing::warn!(
                    "the group {group} does not exist: only root can use {}; create the group and add the users \
                     who may use Remote Service to it",
                    path.display()
                );
                fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))
            }
        }
    }

    /// The id of group `name`, from /etc/group.
    fn group_id(name: &str) -> Option<u32> {
        let groups = fs::read_to_string("/etc/group").ok()?;
        group_id_in(&groups, name)
    }

    pub(super) fn group_id_in(groups: &str, name: &str) -> Option<u32> {
        groups.lines().find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == name).then_some(())?;
            fields.nth(1)?.parse().ok()
        })
    }

    fn denied(message: String) -> io::Error {
        io::Error::new(io::ErrorKind::PermissionDenied, message)
    }

    /// The peer's user id. For a user's engine, the peer must be that user or root; for the
    /// system service the socket's group and mode already decided who could connect (and
    /// the caller's id decides what they may change).
    pub fn check_peer(stream: &UnixStream, audience: Audience) -> Result<u32, String> {
        let credentials = stream
            .peer_cred()
            .map_err(|error| format!("cannot read the peer's credentials: {error}"))?;
        let me = crate::os::effective_user_id();
        let peer = credentials.uid();
        if audience == Audience::System || peer == me || peer == 0 {
            Ok(peer)
        } else {
            Err(format!(
                "user id {peer} is neither the engine's user (user id {me}) nor root"
            ))
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn group_ids_come_from_the_group_file() {
            let groups = "root:x:0:\nremote-service:x:998:alice,bob\nremote:x:997:\n";
            assert_eq!(super::group_id_in(groups, "remote-service"), Some(998));
            assert_eq!(super::group_id_in(groups, "remote"), Some(997));
            assert_eq!(super::group_id_in(groups, "staff"), None);
        }
    }
}
