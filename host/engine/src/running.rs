//! Starting an engine: its runtime, its socket, the engine thread and the local API
//! server, all stopped together when the [`RunningEngine`] is stopped or dropped.

use std::path::{Path, PathBuf};
use std::thread;

use anyhow::{Context, Result};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::{Engine, Parts};
use crate::paths::Paths;
use crate::server::{self, Audience};
use crate::service::EngineService;
use crate::settings::Settings;

/// Whose engine: a user's, or the system service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's folders and socket (`remote-service daemon`, the tray, the command line).
    User,
    /// The system service's folders and socket (`remote-service daemon --system`).
    System,
}

impl Scope {
    /// The folders of this scope.
    pub fn paths(self) -> Result<Paths> {
        match self {
            Scope::User => Paths::per_user(),
            Scope::System => Paths::system(),
        }
    }
}

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// The scope's well-known socket ([`remote_service_api::socket_path`]): the engine the
    /// front-ends find. Refused when another engine answers there.
    Shared,
    /// A socket of its own in a new private folder: the engine one command starts for
    /// itself when none runs, which nobody else finds.
    Private,
}

/// An engine running on threads of its own: the engine thread, and one I/O thread that
/// drives the runtime of the local API, the back office connection and the plugins' back
/// office requests (the other threads wait on it through its handle). Stopped (plugins
/// stopped, back office session ended, socket removed) by [`RunningEngine::stop`] or when
/// dropped.
pub struct RunningEngine {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    service: Option<EngineService>,
    io: Option<Io>,
    _private_folder: Option<tempfile::TempDir>,
}

/// The I/O thread: a single-threaded runtime that it drives until told to stop.
struct Io {
    handle: Handle,
    stop: oneshot::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl Io {
    fn start() -> Result<Io> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the engine's runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("engine io".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .context("cannot start the engine's I/O thread")?;
        Ok(Io {
            handle,
            stop,
            thread,
        })
    }

    /// Ends the thread; the tasks still on the runtime are dropped with it.
    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Starts an engine of `scope` with `parts`, listening as `listen` says; returns once its
/// API answers. The socket is bound first, so that a second engine stops before it starts
/// any plugin.
pub fn start(scope: Scope, listen: Listen, parts: Parts) -> Result<RunningEngine> {
    let paths = scope.paths()?;
    let settings = Settings::load(&paths.settings_file())?;
    let io = Io::start()?;
    let (socket_path, private_folder, audience) = match listen {
        Listen::Shared => (
            remote_service_api::socket_path(scope == Scope::System),
            None,
            match scope {
                Scope::User => Audience::User,
                Scope::System => Audience::System,
            },
        ),
        Listen::Private => {
            let folder = private_folder()?;
            (folder.path().join("api.sock"), Some(folder), Audience::User)
        }
    };
    let socket = io.handle.block_on(server::bind(&socket_path, audience))?;
    let mut engine = Engine::open(&paths, &settings, parts)?;
    if parts.watch_licence_folder {
        engine.watch_licence_folder()?;
    }
    // The daemon and the tray's engine: features follow the plugins installed.
    if parts.plugins && parts.watch_licence_folder {
        engine.watch_plugin_folder();
    }
    if parts.connect {
        engine.connect(&io.handle);
    }
    let service = EngineService::start(engine).context("cannot start the engine thread")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = io
        .handle
        .spawn(server::serve(socket, service.handle(), async {
            let _ = stopped.await;
        }));
    tracing::info!("Remote Service engine ready on {}", socket_path.display());
    Ok(RunningEngine {
        socket: socket_path,
        stop: Some(stop),
        server: Some(server),
        service: Some(service),
        io: Some(io),
        _private_folder: private_folder,
    })
}

/// A new folder only this user can use, for a command's own engine: in the session's
/// runtime folder when there is one, otherwise in the temporary folder.
fn private_folder() -> Result<tempfile::TempDir> {
    let parent = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // 0700 from its creation: tempfile makes folders with the default mode.
    tempfile::Builder::new()
        .prefix("remote-service-command-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a private folder in {}", parent.display()))
}

impl RunningEngine {
    /// The socket its API answers on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C) on the engine's runtime.
    pub fn wait_for_stop_signal(&self) {
        if let Some(io) = &self.io {
            io.handle.block_on(stop_signal());
        }
    }

    /// Stops the API, the plugins and the connection; removes the socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(server), Some(io)) = (self.server.take(), &self.io) {
            // The server removes the socket when it ends.
            let _ = io.handle.block_on(server);
        }
        tracing::info!("Remote Service engine stopping");
        if let Some(mut service) = self.service.take() {
            service.stop();
        }
        if let Some(io) = self.io.take() {
            io.stop();
        }
    }
}

impl Drop for RunningEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_commands_own_folder_is_its_users_alone() {
        let folder = super::private_folder().unwrap();
        let mode = std::fs::metadata(folder.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "{}", folder.path().display());
    }
}
