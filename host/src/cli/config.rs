//! `remote-service config …`: through the running engine, so that a change takes effect at
//! once, or through an engine of the command's own on the settings file and the keyring.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use remote_service_api::ConfigView;
use remote_service_engine::Parts;

use super::access;
use super::output::{config_text, print_json};
use super::ConfigCommand;

pub fn run(command: ConfigCommand) -> Result<ExitCode> {
    // `proxy.mode auto` needs the proxy detector plugin: the command's own engine loads the
    // plugins to tell whether it runs.
    let parts = match &command {
        ConfigCommand::Set { key, .. } if key == "proxy.mode" => Parts {
            plugins: true,
            ..Parts::SETTINGS
        },
        _ => Parts::SETTINGS,
    };
    let access = access::engine(parts)?;
    let client = access.client();
    match command {
        ConfigCommand::Show { output } => {
            let view = client.config()?;
            if output.json {
                print_json(&view)?;
            } else {
                print!("{}", config_text(&view));
            }
        }
        ConfigCommand::Get { key } => {
            println!("{}", client.get_config(&key)?.unwrap_or_default());
        }
        ConfigCommand::Set { key, value } => {
            let before = client.config()?;
            let after = client.set_config(&key, &value)?;
            println!("{key} = {value}");
            tell_code_removed(&key, &before, &after);
        }
        ConfigCommand::Unset { key } => {
            let before = client.config()?;
            let after = client.unset_config(&key)?;
            let value = after.settings.get(&key).cloned().flatten();
            println!("{key} = {} (the default)", value.unwrap_or_default());
            tell_code_removed(&key, &before, &after);
        }
        ConfigCommand::SetSecret { name } => {
            // The name is checked before anyone types the secret.
            let view = client.config()?;
            if !view.secrets.contains_key(&name) {
                let names: Vec<&str> = view.secrets.keys().map(String::as_str).collect();
                bail!(
                    "unknown secret {name:?}; the secrets are: {}",
                    names.join(", ")
                );
            }
            let value = read_secret_from_stdin(&name)?;
            client.set_secret(&name, &value)?;
            println!("{name} stored in {}", view.secret_store);
        }
        ConfigCommand::DeleteSecret { name } => {
            client.delete_secret(&name)?;
            println!("{name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says so when a change removed the verification code (it was entered for the old back
/// office or organisation, and is never sent to another).
fn tell_code_removed(key: &str, before: &ConfigView, after: &ConfigView) {
    let state = |view: &ConfigView| view.secrets.get("verification_code").cloned();
    if state(before).as_deref() == Some("set") && state(after).as_deref() != Some("set") {
        eprintln!(
            "the verification code was removed: it was entered for the old {key}; enter it again with `remote-service config set-secret verification_code`"
        );
    }
}

/// Reads a secret from standard input: one line, without its line break.
fn read_secret_from_stdin(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("{name} (input is shown; pipe it in to keep it off the screen): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no {name} on standard input; nothing was changed");
    }
    Ok(value)
}
