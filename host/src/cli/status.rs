//! `remote-service status`: what the running engine shows.

use std::process::ExitCode;

use anyhow::Result;
use remote_service_api::{Client, ClientError, Connection};
use serde_json::json;

use super::output::{print_json, status_text};

pub fn status(as_json: bool) -> Result<ExitCode> {
    let client = Client::new(&remote_service_api::client_socket())?;
    match client.status() {
        Ok(status) => {
            if as_json {
                print_json(&status)?;
            } else {
                print!("{}", status_text(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ ClientError::NotRunning { .. }) => {
            if as_json {
                print_json(&json!({
                    "running": false,
                    "connection": Connection::not_running(),
                    "error": error.to_string(),
                }))?;
            }
            eprintln!(
                "{} (nothing answers on {})",
                remote_service_api::NOT_RUNNING,
                client.socket().display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}
