//! The `remote-service` binary: see `remote-service --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match remote_service::cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
