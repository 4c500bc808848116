//! `remote-service proxy resolve URL [--json]`: what the product would use to reach a URL.
//! With a running engine, as the engine sees it (its settings, its environment, its
//! proxy detector); without one, with this command's own engine, so with the command's
//! own environment and desktop settings.

use std::process::ExitCode;

use anyhow::Result;
use remote_service_api::ClientError;
use remote_service_engine::Parts;

/// The answer when detection fails: the URL, then why.
#[derive(serde::Serialize)]
struct Failed<'a> {
    url: &'a str,
    error: &'a str,
}

use super::access;
use super::output::print_json;

/// The proxy detector runs as a plugin: this command's own engine loads the plugins (no
/// back office, no licence folder watch).
const WITH_DETECTOR: Parts = Parts {
    plugins: true,
    ..Parts::STORE
};

pub fn resolve(url: &str, as_json: bool) -> Result<ExitCode> {
    let access = access::engine(WITH_DETECTOR)?;
    match access.client().resolve_proxy(url) {
        Ok(resolution) => {
            if as_json {
                print_json(&resolution)?;
            } else {
                println!("{url}");
                println!("  mode:           {}", resolution.mode);
                println!("  source:         {}", resolution.source);
                println!("  candidates:     {}", resolution.candidates.join(", "));
                println!("  authentication: {}", resolution.authentication);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Answer { status, message }) if status.as_u16() == 400 => {
            if as_json {
                print_json(&Failed {
                    url,
                    error: &message,
                })?;
            } else {
                eprintln!("error: {message}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}
