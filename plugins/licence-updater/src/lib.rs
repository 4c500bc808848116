//! The licence updater plugin: when the back office announces a licence for this
//! installation (or on "Check for licence update now"), downloads it through the host's
//! connection, has the host verify it (signature, serial number, higher sequence) and
//! installs it into the local and remote `DroppedLicense` folders, each atomically; a balloon
//! says what changed at feature level.
//!
//! Licence option: `auto-licence-update`.

mod changes;
mod install;

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use remote_service_plugin_api::{
    capability, export_plugin, Host, HostEvent, Manifest, MenuItem, Notice, Plugin, PluginError,
    PluginState, PluginStatus,
};

/// The menu item that checks for a new licence at once.
const CHECK_NOW: &str = "check-now";

/// Why a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The back office announced a licence.
    Announced,
    /// The user asked: say the outcome even when nothing changed.
    Asked,
}

/// The running plugin: checks run on a thread of its own, so that the host's calls
/// return at once.
pub struct LicenceUpdater {
    checks: Option<Sender<Reason>>,
    status: Arc<Mutex<PluginStatus>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Plugin for LicenceUpdater {
    fn manifest() -> Manifest {
        Manifest {
            id: "licence-updater",
            version: env!("CARGO_PKG_VERSION"),
            display_name: "Automatic licence update",
            licence_option: Some("auto-licence-update"),
            capabilities: &[capability::LICENCE_UPDATE],
        }
    }

    fn start(host: Host) -> Result<Self, PluginError> {
        let status = Arc::new(Mutex::new(PluginStatus::ok("waiting for the back office")));
        let (checks, requests) = mpsc::channel::<Reason>();
        let worker_status = status.clone();
        let worker = thread::Builder::new()
            .name("licence updater".into())
            .spawn(move || {
                for reason in requests {
                    let line = check(&host, reason);
                    *worker_status.lock().unwrap_or_else(|p| p.into_inner()) = line.clone();
                    host.publish_status(line);
                }
            })
            .map_err(|error| PluginError::new("thread", error.to_string()))?;
        Ok(LicenceUpdater {
            checks: Some(checks),
            status,
            worker: Some(worker),
        })
    }

    fn on_event(&mut self, event: &HostEvent) -> Result<(), PluginError> {
        if let HostEvent::LicenceAvailable { .. } = event {
            self.queue(Reason::Announced);
        }
        Ok(())
    }

    fn menu_items(&mut self) -> Vec<MenuItem> {
        vec![MenuItem::new(CHECK_NOW, "Check for licence update now")]
    }

    fn on_menu_click(&mut self, item_id: &str) -> Result<(), PluginError> {
        if item_id != CHECK_NOW {
            return Err(PluginError::new(
                "unknown-menu-item",
                format!("no menu item {item_id:?}"),
            ));
        }
        self.queue(Reason::Asked);
        Ok(())
    }

    fn status(&mut self) -> PluginStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stop(&mut self) -> Result<(), PluginError> {
        self.checks = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        Ok(())
    }
}

impl LicenceUpdater {
    fn queue(&self, reason: Reason) {
        if let Some(checks) = &self.checks {
            let _ = checks.send(reason);
        }
    }
}

/// One check: download, verify, install, report, tell. Returns the status line.
fn check(host: &Host, reason: Reason) -> PluginStatus {
    let tell = |summary: &str, body: &str| {
        if reason == Reason::Asked {
            host.notify(Notice::new("check-update", summary, body));
        }
    };
    let (status, text) = match host.backoffice_request("GET", "/v1/licence", "") {
        Ok(answer) => answer,
        Err(error) => {
            let line = format!("cannot reach the back office: {}", error.message);
            tell("Licence update", &line);
            return PluginStatus::new(PluginState::ERROR, line);
        }
    };
    match status {
        200 => {}
        404 => {
            tell(
                "Licence update",
                "The back office has no licence for this installation.",
            );
            return PluginStatus::ok("the back office has no licence for this installation");
        }
        other => {
            let line = format!("the back office answered HTTP {other} for the licence");
            tell("Licence update", &line);
            return PluginStatus::new(PluginState::ERROR, line);
        }
    }
    let before = host.licence_payload();
    let payload = match host.check_licence(&text) {
        Ok(payload) => payload,
        Err(error) if error.message.contains("in force already") => {
            tell("Licence update", "The licence is up to date.");
            return PluginStatus::ok("the licence is up to date");
        }
        Err(error) => {
            let line = format!("the downloaded licence was refused: {}", error.message);
            host.warn(&line);
            tell("Licence update", &line);
            return PluginStatus::new(PluginState::ATTENTION, line);
        }
    };
    let serial = changes::serial_number(&payload).unwrap_or_else(|| "licence".to_string());
    let (local, remote) = host.licence_folders();
    let mut targets = vec![local];
    targets.extend(remote);
    let mut results = Vec::new();
    for folder in &targets {
        let outcome = install::install(
            std::path::Path::new(folder),
            &format!("{serial}.lic"),
            text.as_bytes(),
        );
        if let Err(reason) = &outcome {
            host.notify(Notice::new(
                format!("install-failed:{folder}"),
                "Licence could not be updated",
                format!("Licence could not be updated on: {folder}. {reason}"),
            ));
        }
        results.push((folder.clone(), outcome));
    }
    report(host, &payload, &results);
    let installed = results
        .iter()
        .filter(|(_, outcome)| outcome.is_ok())
        .count();
    if installed == 0 {
        return PluginStatus::new(
            PluginState::ERROR,
            "the new licence could not be installed in any folder",
        );
    }
    let what_changed = changes::describe(before.as_deref(), &payload);
    if !what_changed.is_empty() {
        host.notify(Notice::new(
            "licence-installed",
            "New licence installed",
            what_changed.join("\n"),
        ));
    } else {
        tell(
            "Licence update",
            "A new licence was installed; it changes no feature.",
        );
    }
    let failed = results.len() - installed;
    if failed > 0 {
        PluginStatus::new(
            PluginState::ATTENTION,
            format!("licence installed; {failed} folder(s) could not be updated"),
        )
    } else {
        PluginStatus::ok(format!(
            "licence sequence {} installed",
            changes::sequence(&payload).unwrap_or_default()
        ))
    }
}

/// Tells the back office how each target went (`POST /v1/licence/reports`).
fn report(host: &Host, payload: &str, results: &[(String, Result<(), String>)]) {
    let targets: Vec<String> = results
        .iter()
        .map(|(folder, outcome)| match outcome {
            Ok(()) => format!(r#"{{"folder":{},"ok":true}}"#, changes::json_string(folder)),
            Err(reason) => format!(
                r#"{{"folder":{},"ok":false,"error":{}}}"#,
                changes::json_string(folder),
                changes::json_string(reason)
            ),
        })
        .collect();
    let body = format!(
        r#"{{"licence_id":{},"sequence":{},"targets":[{}]}}"#,
        changes::json_string(&changes::licence_id(payload).unwrap_or_default()),
        changes::sequence(payload).unwrap_or_default(),
        targets.join(",")
    );
    if let Err(error) = host.backoffice_request("POST", "/v1/licence/reports", &body) {
        host.warn(&format!(
            "cannot report the install to the back office: {}",
            error.message
        ));
    }
}

export_plugin!(LicenceUpdater);
