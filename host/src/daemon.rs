//! `remote-service daemon`: the engine without a user interface, serving the local API
//! until it is told to stop (SIGTERM, SIGINT). The tray's embedded engine is the same
//! engine and API, run on a thread of the tray process.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;

use anyhow::{anyhow, Context, Result};

use crate::api::server::{self, Audience};
use crate::engine::service::EngineService;
use crate::engine::Engine;
use crate::paths::Paths;
use crate::settings::Settings;

/// Runs the engine and its local API on `socket` until a stop signal.
pub fn run(
    paths: &Paths,
    settings: &Settings,
    socket: &Path,
    audience: Audience,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    runtime.block_on(serve_engine(
        paths,
        settings,
        socket,
        audience,
        stop_signal(),
        || {
            eprintln!("Remote Service engine ready on {}", socket.display());
        },
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the local API runtime")
}

/// Binds the socket, opens the engine, serves the API until `stop` completes, then stops
/// the plugins. `ready` runs once the API answers.
pub async fn serve_engine(
    paths: &Paths,
    settings: &Settings,
    socket: &Path,
    audience: Audience,
    stop: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> Result<()> {
    // The socket first: a second engine must stop here, before it starts any plugin.
    let socket_handle = server::bind(socket, audience).await?;
    let mut engine = Engine::open(paths, settings)?;
    engine.watch_licence_folder()?;
    engine.connect()?;
    let mut service = EngineService::start(engine).context("cannot start the engine thread")?;
    tracing::info!("Remote Service engine ready on {}", socket.display());
    ready();
    server::serve(socket_handle, service.handle(), stop).await;
    tracing::info!("Remote Service engine stopping");
    service.stop();
    Ok(())
}

/// An engine running on a thread of this process (the tray's embedded default); stops when
/// dropped.
pub struct EmbeddedEngine {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EmbeddedEngine {
    /// Starts the engine and its API on `socket` and waits until it answers.
    pub fn start(paths: &Paths, settings: &Settings, socket: &Path) -> Result<EmbeddedEngine> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_sender, ready) = std::sync::mpsc::channel::<Result<()>>();
        let (paths, settings, socket): (Paths, Settings, PathBuf) =
            (paths.clone(), settings.clone(), socket.to_path_buf());
        let thread = thread::Builder::new()
            .name("embedded engine".into())
            .spawn(move || {
                let failed = ready_sender.clone();
                let result = runtime().and_then(|runtime| {
                    runtime.block_on(serve_engine(
                        &paths,
                        &settings,
                        &socket,
                        Audience::User,
                        async {
                            let _ = stopped.await;
                        },
                        || {
                            let _ = ready_sender.send(Ok(()));
                        },
                    ))
                });
                if let Err(error) = result {
                    let _ = failed.send(Err(error));
                }
            })
            .context("cannot start the engine thread")?;
        match ready.recv() {
            Ok(Ok(())) => Ok(EmbeddedEngine {
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(anyhow!("the embedded engine ended before it was ready")),
        }
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
