//! `remote-service test-connection`.

use std::process::ExitCode;

use anyhow::Result;
use remote_service_engine::Parts;

use super::access;
use super::output::print_json;

pub fn test_connection(as_json: bool) -> Result<ExitCode> {
    // The running engine's settings, or the settings file's when none runs (with the
    // plugins: automatic detection is the proxy detector's).
    let report = access::engine(Parts {
        plugins: true,
        ..Parts::STORE
    })?
    .client()
    .test_connection()?;
    if as_json {
        print_json(&report)?;
    } else {
        print!("{}", report.text());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
