//! `remote-service assistance allow|revoke|status|log|answer|end`: remote assistance
//! through the running engine — the tray's, or `remote-service daemon` — which holds the
//! allowance, ends it at its time and tells the back office. `status` and `log` also work
//! without one.

use std::process::ExitCode;

use anyhow::{bail, Result};
use remote_service_api::{Answer, AssistanceStatus, Client};
use remote_service_engine::Parts;

use super::access;
use super::output::print_json;
use crate::local_time::local_time;

/// Without a running engine, `status` and `log` start one that loads the plugins (the
/// bridge says whether TeamViewer is there) without a connection.
const WITH_PLUGINS: Parts = Parts {
    plugins: true,
    ..Parts::STORE
};

fn running_engine() -> Result<Client> {
    match access::running()? {
        Some(client) => Ok(client),
        None => bail!(
            "no Remote Service engine runs: remote assistance is allowed through the running engine, which ends it at its time and tells the back office; start the tray (`remote-service tray`) or `remote-service daemon` first"
        ),
    }
}

pub fn allow(hours: Option<u32>) -> Result<ExitCode> {
    let status = running_engine()?.allow_assistance(hours)?;
    println!("{}", allowed_text(&status));
    for step in &status.steps {
        println!("still to do: {step}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn revoke() -> Result<ExitCode> {
    let status = running_engine()?.revoke_assistance()?;
    println!("{}", allowed_text(&status));
    Ok(ExitCode::SUCCESS)
}

pub fn answer(request: &str, answer: Answer) -> Result<ExitCode> {
    let status = running_engine()?.answer_assistance(request, answer)?;
    println!("{}", allowed_text(&status));
    Ok(ExitCode::SUCCESS)
}

pub fn end() -> Result<ExitCode> {
    let status = running_engine()?.end_session()?;
    println!("{}", allowed_text(&status));
    Ok(ExitCode::SUCCESS)
}

/// One line: allowed until when, with which ID, or not.
fn allowed_text(status: &AssistanceStatus) -> String {
    match (&status.until, &status.teamviewer_id) {
        (Some(until), id) if status.allowed => format!(
            "remote assistance allowed until {}{}",
            local_time(until),
            id.as_deref()
                .map(|id| format!(", TeamViewer ID {id}"))
                .unwrap_or_default()
        ),
        _ => "remote assistance not allowed".to_string(),
    }
}

pub fn status(as_json: bool) -> Result<ExitCode> {
    let access = access::engine(WITH_PLUGINS)?;
    let status = access.client().assistance()?;
    if as_json {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", allowed_text(&status));
    if let Some(session) = &status.session {
        println!(
            "remote session: {} of {} since {}",
            session.help_desk_user,
            session.organisation,
            local_time(&session.started_at)
        );
    }
    for request in &status.requests {
        println!(
            "request {}: {} (answer by {}: remote-service assistance answer {} allow|deny)",
            request.request_id,
            request.sentence(),
            local_time(&request.answer_by),
            request.request_id
        );
    }
    for step in &status.steps {
        println!("still to do: {step}");
    }
    println!("preconditions:");
    for precondition in &status.preconditions {
        println!(
            "  {} {:<15} {}",
            if precondition.ok { "ok  " } else { "MISSING" },
            precondition.name,
            precondition.detail
        );
    }
    if let Some(problem) = &status.record_problem {
        println!("{problem}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn log(as_json: bool) -> Result<ExitCode> {
    let access = access::engine(WITH_PLUGINS)?;
    let entries = access.client().assistance_log()?;
    if as_json {
        print_json(&entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no remote assistance yet");
    }
    for entry in &entries {
        println!("{}  {}", local_time(&entry.at), entry.words(&local_time));
    }
    Ok(ExitCode::SUCCESS)
}
