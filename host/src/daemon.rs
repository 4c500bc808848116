//! `remote-service daemon`: the engine without a user interface, serving the local API
//! until it is told to stop (SIGTERM, SIGINT).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::api::server;
use crate::engine::service::EngineService;
use crate::engine::Engine;
use crate::paths::Paths;
use crate::settings::Settings;

/// Runs the engine and its local API on `socket` until a stop signal.
pub fn run(paths: &Paths, settings: &Settings, socket: &Path) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the local API runtime")?;
    runtime.block_on(async {
        // The socket first: a second engine must stop here, before it starts any plugin.
        let socket_handle = server::bind(socket).await?;
        let mut engine = Engine::open(paths, settings)?;
        engine.watch_licence_folder()?;
        let mut service = EngineService::start(engine).context("cannot start the engine thread")?;
        tracing::info!("Remote Service engine ready on {}", socket.display());
        eprintln!("Remote Service engine ready on {}", socket.display());
        server::serve(socket_handle, service.handle(), stop_signal()).await;
        tracing::info!("Remote Service engine stopping");
        service.stop();
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on SIGTERM or SIGINT.
async fn stop_signal() {
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
