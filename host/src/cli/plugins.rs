//! `remote-service plugins [--watch]`: the plugins as the engine sees them.

use std::process::ExitCode;

use anyhow::Result;
use remote_service_api::{ApiEvent, LicenceSummary, Notice, PluginInfo};
use remote_service_engine::Parts;
use serde_json::json;

use super::access;
use super::output::{emit, plugins_table, print_json};

pub fn plugins(as_json: bool, watch: bool) -> Result<ExitCode> {
    // Without a running engine, one of this command's own loads the plugins (and, to
    // watch, keeps them running and watches the licence folder; no back office).
    let access = access::engine(Parts {
        watch_licence_folder: watch,
        connect: false,
        ..Parts::ALL
    })?;
    let client = access.client();
    if !watch {
        let status = client.status()?;
        if let Some(problem) = &status.plugin_folder_problem {
            eprintln!("{problem}");
        }
        if as_json {
            print_json(&status.plugins)?;
        } else {
            print!("{}", plugins_table(&status.plugins));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(engine) = access.own_engine() else {
        return watch_events(client, as_json);
    };
    // The command's own engine runs the plugins: Ctrl-C (or SIGTERM) stops it properly
    // (plugins stopped, its private socket and folder removed); the events are printed on
    // a thread of their own meanwhile, and end with the engine.
    let socket = client.socket().to_path_buf();
    let printer = std::thread::spawn(move || -> Result<ExitCode> {
        watch_events(&remote_service_api::Client::new(&socket)?, as_json)
    });
    engine.wait_for_stop_signal();
    drop(access);
    let _ = printer.join();
    Ok(ExitCode::SUCCESS)
}

/// Prints the plugins, and then each change, as the engine's event stream tells them.
fn watch_events(client: &remote_service_api::Client, as_json: bool) -> Result<ExitCode> {
    let mut shown_plugins: Option<Vec<PluginInfo>> = None;
    let mut shown_licence: Option<Option<LicenceSummary>> = None;
    for event in client.events()? {
        match event? {
            ApiEvent::Status { status } => {
                if shown_licence.is_some() && shown_licence.as_ref() != Some(&status.licence) {
                    licence_changed(as_json, status.licence.as_ref())?;
                }
                shown_licence = Some(status.licence.clone());
                if shown_plugins.as_ref() != Some(&status.plugins) {
                    emit(
                        as_json,
                        json!({"event": "plugins", "plugins": status.plugins}),
                        || plugins_table(&status.plugins),
                    )?;
                    shown_plugins = Some(status.plugins);
                }
            }
            ApiEvent::LicenceRefused { path, reason } => emit(
                as_json,
                json!({"event": "licence-refused", "path": path, "reason": reason}),
                || format!("licence file {} refused: {reason}\n", path.display()),
            )?,
            ApiEvent::LicenceWarning { warning } => emit(
                as_json,
                json!({"event": "licence-warning", "warning": warning}),
                || format!("licence warning: {warning}\n"),
            )?,
            ApiEvent::Notice(Notice {
                plugin,
                summary,
                body,
                ..
            }) => emit(
                as_json,
                json!({"event": "notice", "plugin": plugin, "summary": summary, "body": body}),
                || format!("notice from {plugin}: {summary}: {body}\n"),
            )?,
            ApiEvent::ConfigChanged => {}
        }
    }
    eprintln!("the engine stopped");
    Ok(ExitCode::FAILURE)
}

fn licence_changed(as_json: bool, licence: Option<&LicenceSummary>) -> Result<()> {
    emit(
        as_json,
        json!({"event": "licence-changed", "licence": licence}),
        || match licence {
            Some(summary) => format!(
                "licence now in force: serial {}, sequence {}\n",
                summary.serial_number, summary.sequence
            ),
            None => "no licence in force\n".to_string(),
        },
    )
}
