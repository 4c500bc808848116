//! `remote-service licence …` and `entitlement check`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use remote_service_api::{
    Client, ClientError, InstallOutcome, LicenceUpdaterDetails, PluginInfo, PluginState,
};
use remote_service_engine::Parts;
use serde_json::json;
use time::Date;

use super::output::{emit, licence_text, print_json};
use super::{access, NOT_ENTITLED};

/// The licence updater plugin's id.
const UPDATER: &str = "licence-updater";

/// A licence file is a few kilobytes; anything past this is not one.
const MAX_LICENCE_FILE: u64 = 1024 * 1024;

/// The text of the licence file the user named (bytes that are not UTF-8 are replaced, and
/// the engine then refuses the file as not a licence).
fn read_licence_file(file: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|opened| opened.take(MAX_LICENCE_FILE + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read licence file {}", file.display()))?;
    if bytes.len() as u64 > MAX_LICENCE_FILE {
        return Err(anyhow!(
            "licence file {} is larger than {MAX_LICENCE_FILE} bytes: it is not a licence",
            file.display()
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn show(as_json: bool) -> Result<ExitCode> {
    let access = access::engine(Parts::STORE)?;
    let status = access.client().status()?;
    let Some(summary) = status.licence else {
        eprintln!(
            "no licence is installed: none in force and no valid licence in {}",
            status.licence_folder.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    if as_json {
        let mut value = serde_json::to_value(&summary)?;
        value["folder"] = json!(status.licence_folder);
        print_json(&value)?;
    } else {
        println!(
            "{}Licence folder:     {}",
            licence_text(&summary),
            status.licence_folder.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(file: &Path, as_json: bool) -> Result<ExitCode> {
    let text = read_licence_file(file)?;
    let check = access::engine(Parts::STORE)?
        .client()
        .verify_licence(&text)?;
    if as_json {
        print_json(&check)?;
    }
    match (&check.licence, &check.reason) {
        (Some(licence), _) if check.valid => {
            if !as_json {
                print!(
                    "licence {} is valid\n{}",
                    file.display(),
                    licence_text(licence)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        (_, reason) => {
            if !as_json {
                eprintln!(
                    "licence {} is not valid: {}",
                    file.display(),
                    reason.as_deref().unwrap_or("no reason given")
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn install(file: &Path) -> Result<ExitCode> {
    let text = read_licence_file(file)?;
    let access = access::engine(Parts::STORE)?;
    match access.client().install_licence(&text) {
        Ok(installed) => {
            match installed.outcome {
                InstallOutcome::Installed => println!(
                    "installed licence for serial {} (sequence {}) as {}",
                    installed.licence.serial_number,
                    installed.licence.sequence,
                    installed.path.display()
                ),
                InstallOutcome::AlreadyInForce => println!(
                    "this licence is already installed as {}",
                    installed.path.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Answer { message, .. }) => {
            eprintln!("licence {} not installed: {message}", file.display());
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}

pub fn entitlement_check(release_date: Date) -> Result<ExitCode> {
    let entitlement = access::engine(Parts::STORE)?
        .client()
        .entitlement(&release_date.to_string())?;
    if entitlement.entitled {
        println!("{}", entitlement.message);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{}", entitlement.message);
        Ok(ExitCode::from(NOT_ENTITLED))
    }
}

/// The running engine's licence updater, running; or why not, already said to the user.
fn running_updater() -> Result<Option<(Client, PluginInfo)>> {
    let Some(client) = access::running()? else {
        eprintln!(
            "{}: the licence updater runs in the engine",
            remote_service_api::NOT_RUNNING
        );
        return Ok(None);
    };
    let updater = client
        .plugins()?
        .into_iter()
        .find(|plugin| plugin.id == UPDATER);
    match updater {
        Some(plugin) if plugin.state == PluginState::Running => Ok(Some((client, plugin))),
        Some(plugin) => {
            eprintln!("the licence updater does not run: {}", plugin.detail);
            Ok(None)
        }
        None => {
            eprintln!("the licence updater plugin is not installed");
            Ok(None)
        }
    }
}

/// Runs one of the licence updater's commands and prints its outcome.
fn updater_command(command: &str, argument: &str) -> Result<ExitCode> {
    let Some((client, _)) = running_updater()? else {
        return Ok(ExitCode::FAILURE);
    };
    let outcome = client.run_command(UPDATER, command, argument)?;
    println!("{}", outcome.message);
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn check_update() -> Result<ExitCode> {
    updater_command("check-update", "")
}

pub fn save_failed(dir: &Path) -> Result<ExitCode> {
    // The engine does not run in this folder: it gets the folder as an absolute path.
    let dir = std::path::absolute(dir)
        .with_context(|| format!("cannot make {} an absolute path", dir.display()))?;
    updater_command("save-failed", &dir.display().to_string())
}

pub fn failed(as_json: bool) -> Result<ExitCode> {
    let Some((_, updater)) = running_updater()? else {
        return Ok(ExitCode::FAILURE);
    };
    let details: LicenceUpdaterDetails = match updater.details {
        Some(details) => serde_json::from_value(details)
            .context("the licence updater's details are not the documented ones")?,
        None => LicenceUpdaterDetails::default(),
    };
    emit(as_json, json!({ "failed": details.failed }), || {
        if details.failed.is_empty() {
            return "No folder failed: the latest licence is installed everywhere.\n".to_string();
        }
        let mut text = "Failed to update licence on:\n".to_string();
        for target in &details.failed {
            text.push_str(&format!("  {}: {}\n", target.folder, target.reason));
        }
        text.push_str("Save the licence with `remote-service licence save-failed DIR` and copy it there by hand.\n");
        text
    })?;
    Ok(ExitCode::SUCCESS)
}
