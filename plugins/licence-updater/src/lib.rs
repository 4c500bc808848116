//! The licence updater plugin: when the back office announces a licence for this
//! installation (or on "Check for licence update now"), downloads it through the host's
//! connection, has the host verify it (signature, serial number, higher sequence) and
//! installs it into the local and remote `DroppedLicense` folders, each atomically; a balloon
//! says what changed at feature level.
//!
//! Licence option: `auto-licence-update`.

mod changes;
mod expiry;
mod install;

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use remote_service_plugin_api::{
    capability, export_plugin, Host, HostEvent, Manifest, MenuItem, Notice, NoticeAction, Plugin,
    PluginError, PluginState, PluginStatus,
};
use serde::{Deserialize, Serialize};

/// What the plugin keeps in its settings file (`plugins/licence-updater.json`), which
/// `remote-service licence failed` and `licence save-failed` read too.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    /// The folders the last licence could not be installed in, with why.
    #[serde(default)]
    failed: Vec<FailedTarget>,
    /// The verified licence file those folders should have, while any failed.
    #[serde(default)]
    licence: Option<String>,
    /// The latest "now" of an expiry check (Unix seconds): the clock turned back does not
    /// move it back.
    #[serde(default)]
    last_run: Option<i64>,
    /// Which expiry notice was shown on which day.
    #[serde(default)]
    shown: std::collections::BTreeMap<String, String>,
}

/// A folder the licence could not be installed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FailedTarget {
    folder: String,
    reason: String,
}

/// The notice button that saves the licence file where the user can copy it by hand.
const SAVE_ACTION: &str = "save";

/// The menu item that checks for a new licence at once.
const CHECK_NOW: &str = "check-now";
/// The menu item, while a folder could not be updated, that saves the licence for copying
/// by hand.
const SAVE_NOW: &str = "save-failed";

/// Why a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The back office announced a licence.
    Announced,
    /// The user asked: say the outcome even when nothing changed.
    Asked,
    /// The user asked to save the licence that could not be installed.
    Save,
    /// Time to look at the expiry dates (at start, when the licence changes, daily).
    Expiry,
}

/// The running plugin: checks run on a thread of its own, so that the host's calls
/// return at once.
pub struct LicenceUpdater {
    checks: Option<Sender<Reason>>,
    status: Arc<Mutex<PluginStatus>>,
    /// Whether a folder could not be updated (the save item shows then).
    failed: Arc<std::sync::atomic::AtomicBool>,
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
        let kept: Kept = host.settings().unwrap_or_default();
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(!kept.failed.is_empty()));
        let worker_failed = failed.clone();
        let worker = thread::Builder::new()
            .name("licence updater".into())
            .spawn(move || {
                let mut checks_done: u64 = 0;
                loop {
                    // An expiry check at start, then at least once a day.
                    let reason = match requests.recv_timeout(std::time::Duration::from_secs(3600)) {
                        Ok(reason) => reason,
                        Err(mpsc::RecvTimeoutError::Timeout) => Reason::Expiry,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    };
                    if reason == Reason::Expiry {
                        expiry_check(&host);
                        continue;
                    }
                    let mut line = check(&host, reason);
                    let kept: Kept = host.settings().unwrap_or_default();
                    worker_failed.store(
                        !kept.failed.is_empty(),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    // Says which check and when, so that each check shows as a change.
                    checks_done += 1;
                    line.line =
                        format!("{} (check {checks_done}, at {})", line.line, clock_time()).into();
                    *worker_status.lock().unwrap_or_else(|p| p.into_inner()) = line.clone();
                    host.publish_status(line);
                }
            })
            .map_err(|error| PluginError::new("thread", error.to_string()))?;
        let _ = checks.send(Reason::Expiry);
        Ok(LicenceUpdater {
            checks: Some(checks),
            status,
            failed,
            worker: Some(worker),
        })
    }

    fn on_event(&mut self, event: &HostEvent) -> Result<(), PluginError> {
        match event {
            HostEvent::LicenceAvailable { .. } => self.queue(Reason::Announced),
            HostEvent::LicenceChanged => self.queue(Reason::Expiry),
            HostEvent::NoticeAction { action_id, .. } if action_id.as_str() == SAVE_ACTION => {
                self.queue(Reason::Save)
            }
            _ => {}
        }
        Ok(())
    }

    fn menu_items(&mut self) -> Vec<MenuItem> {
        let mut items = vec![MenuItem::new(CHECK_NOW, "Check for licence update now")];
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            items.push(MenuItem::new(
                SAVE_NOW,
                "Save licence file for a folder that failed…",
            ));
        }
        items
    }

    fn on_menu_click(&mut self, item_id: &str) -> Result<(), PluginError> {
        match item_id {
            CHECK_NOW => self.queue(Reason::Asked),
            SAVE_NOW => self.queue(Reason::Save),
            _ => {
                return Err(PluginError::new(
                    "unknown-menu-item",
                    format!("no menu item {item_id:?}"),
                ))
            }
        }
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

/// Saves the kept licence into the user's home folder, for a failed target to be updated
/// by hand.
fn save_for_the_user(host: &Host) -> PluginStatus {
    let kept: Kept = host.settings().unwrap_or_default();
    let Some(text) = kept.licence else {
        host.notify(Notice::new(
            "licence-saved",
            "Licence update",
            "There is no licence waiting to be copied by hand.",
        ));
        return PluginStatus::ok("no licence waiting to be copied");
    };
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let payload = host.licence_payload().unwrap_or_default();
    let name = format!(
        "{}.lic",
        changes::serial_number(&payload).unwrap_or_else(|| "licence".into())
    );
    match install::install(&home, &name, text.as_bytes()) {
        Ok(()) => {
            let path = home.join(&name);
            host.notify(Notice::new(
                "licence-saved",
                "Licence saved",
                format!("Saved to {}: copy it into the DroppedLicense folder that could not be updated.", path.display()),
            ));
            PluginStatus::new(
                PluginState::ATTENTION,
                format!("licence saved to {} for copying by hand", path.display()),
            )
        }
        Err(reason) => {
            host.notify(Notice::new(
                "licence-saved",
                "Licence not saved",
                format!("{}: {reason}", home.display()),
            ));
            PluginStatus::new(
                PluginState::ERROR,
                format!("cannot save the licence: {reason}"),
            )
        }
    }
}

/// One check: download, verify, install where missing, report, tell. Returns the status
/// line.
fn check(host: &Host, reason: Reason) -> PluginStatus {
    if reason == Reason::Save {
        return save_for_the_user(host);
    }
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
    let (payload, is_new) = match host.check_licence(&text) {
        Ok(payload) => (payload, true),
        // The licence in force: the folders must still all hold it (one may have failed).
        Err(error) if error.message.contains("in force already") => {
            (before.clone().unwrap_or_default(), false)
        }
        Err(error) => {
            let line = format!("the downloaded licence was refused: {}", error.message);
            host.warn(&line);
            tell("Licence update", &line);
            return PluginStatus::new(PluginState::ATTENTION, line);
        }
    };
    let serial = changes::serial_number(&payload).unwrap_or_else(|| "licence".to_string());
    let file_name = format!("{serial}.lic");
    let (local, remote) = host.licence_folders();
    let mut targets = vec![local];
    targets.extend(remote);
    let mut results = Vec::new();
    let mut installed_now = 0;
    for folder in &targets {
        let path = std::path::Path::new(folder).join(&file_name);
        if std::fs::read(&path).is_ok_and(|bytes| bytes == text.as_bytes()) {
            results.push((folder.clone(), Ok(())));
            continue;
        }
        let outcome = install::install(std::path::Path::new(folder), &file_name, text.as_bytes());
        match &outcome {
            Ok(()) => installed_now += 1,
            Err(reason) => host.notify(Notice {
                actions: vec![NoticeAction {
                    id: SAVE_ACTION.into(),
                    label: "Save licence file…".into(),
                }]
                .into(),
                ..Notice::new(
                    format!("install-failed:{folder}"),
                    "Licence could not be updated",
                    format!("Licence could not be updated on: {folder}. {reason}"),
                )
            }),
        }
        results.push((folder.clone(), outcome));
    }
    let failed: Vec<FailedTarget> = results
        .iter()
        .filter_map(|(folder, outcome)| {
            outcome.as_ref().err().map(|reason| FailedTarget {
                folder: folder.clone(),
                reason: reason.clone(),
            })
        })
        .collect();
    let mut kept: Kept = host.settings().unwrap_or_default();
    kept.licence = (!failed.is_empty()).then(|| text.clone());
    kept.failed = failed.clone();
    if let Err(error) = host.save_settings(&kept) {
        host.warn(&format!(
            "cannot keep the failed folders: {}",
            error.message
        ));
    }
    if installed_now > 0 || !failed.is_empty() {
        report(host, &payload, &results);
    }
    // A licence the folders already hold was installed by an earlier check (the host has
    // not put it in force yet): announcing it again would be a second balloon.
    if is_new && installed_now > 0 {
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
    } else if installed_now > 0 {
        tell(
            "Licence update",
            "The licence was installed in the folders that missed it.",
        );
    } else {
        tell("Licence update", "The licence is up to date.");
    }
    if !failed.is_empty() {
        let folders: Vec<&str> = failed.iter().map(|target| target.folder.as_str()).collect();
        return PluginStatus::new(
            PluginState::ATTENTION,
            format!("Failed to update licence on: {}", folders.join(", ")),
        );
    }
    PluginStatus::ok(format!(
        "licence sequence {} installed",
        changes::sequence(&payload).unwrap_or_default()
    ))
}

/// Shows the expiry notices that are due (at most once a day each).
fn expiry_check(host: &Host) {
    let Some(payload) = host
        .licence_payload()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    else {
        return;
    };
    let mut kept: Kept = host.settings().unwrap_or_default();
    let now = expiry::now(time::OffsetDateTime::now_utc(), kept.last_run, &payload);
    kept.last_run = Some(now.unix_timestamp());
    for notice in expiry::due(&payload, now, &mut kept.shown) {
        let mut shown = Notice::new(notice.key, notice.summary, notice.body);
        if notice.critical {
            shown.urgency = remote_service_plugin_api::Urgency::CRITICAL;
        }
        host.notify(shown);
    }
    if let Err(error) = host.save_settings(&kept) {
        host.warn(&format!(
            "cannot keep the expiry check's state: {}",
            error.message
        ));
    }
}

/// The time of day in UTC, `HH:MM:SS`.
fn clock_time() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Tells the back office how each target went (`POST /v1/licence/reports`).
fn report(host: &Host, payload: &str, results: &[(String, Result<(), String>)]) {
    let targets: Vec<serde_json::Value> = results
        .iter()
        .map(|(folder, outcome)| match outcome {
            Ok(()) => serde_json::json!({"folder": folder, "ok": true}),
            Err(reason) => serde_json::json!({"folder": folder, "ok": false, "error": reason}),
        })
        .collect();
    let body = serde_json::json!({
        "licence_id": changes::licence_id(payload).unwrap_or_default(),
        "sequence": changes::sequence(payload).unwrap_or_default(),
        "targets": targets,
    })
    .to_string();
    if let Err(error) = host.backoffice_request("POST", "/v1/licence/reports", &body) {
        host.warn(&format!(
            "cannot report the install to the back office: {}",
            error.message
        ));
    }
}

export_plugin!(LicenceUpdater);
