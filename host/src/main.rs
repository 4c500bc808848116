//! The `remote-service` binary: the command line, the tray, the windows and the daemon —
//! front-ends over an engine's local API (see `remote-service --help` and
//! `docs/ARCHITECTURE.md`).

mod cli;
mod daemon;
mod local_time;
mod tray;
mod windows;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
