//! `remote-service daemon [--system]`: the engine without a user interface, serving the
//! local API until it is told to stop (SIGTERM, SIGINT).

use std::process::ExitCode;

use anyhow::Result;
use remote_service_engine::{Listen, Parts, Scope};

/// Runs an engine of `scope` on its well-known socket until a stop signal.
pub fn run(scope: Scope) -> Result<ExitCode> {
    let engine = remote_service_engine::start(scope, Listen::Shared, Parts::ALL)?;
    eprintln!(
        "Remote Service engine ready on {}",
        engine.socket().display()
    );
    engine.wait_for_stop_signal();
    engine.stop();
    Ok(ExitCode::SUCCESS)
}
