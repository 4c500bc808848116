//! The licence updater plugin: when the back office announces a licence for this
//! installation (or on "Check for licence update now", or the `check-update` command of
//! `remote-service licence check-update`), downloads it through the host's connection, has
//! the host verify it (signature, serial number, higher sequence) and install it into the
//! local and remote `DroppedLicense` folders, each atomically; a balloon says what changed
//! at feature level.
//!
//! What it publishes for the front-ends (`Host::publish_details`, the local API's
//! `details` of the plugin): `{"failed": [{"folder": "…", "reason": "…"}]}`, the folders
//! the latest licence could not be installed in.
//!
//! Commands: `check-update` (answers what the check found), `save-failed` with a folder
//! (writes the licence a folder missed there, verified, to copy by hand).
//!
//! Licence option: `auto-licence-update`.

mod changes;
mod expiry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use remote_service_plugin_api::{
    capability, export_plugin, Command, Host, HostEvent, Manifest, MenuItem, Notice, NoticeAction,
    Plugin, PluginError, PluginState, PluginStatus, Urgency,
};
use serde::{Deserialize, Serialize};

/// What the plugin keeps in its settings file (`plugins/licence-updater.json`); nobody
/// else reads it: the front-ends get the failed folders from what it publishes.
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

/// A folder the licence could not be installed in (also the published shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FailedTarget {
    folder: String,
    reason: String,
}

/// What the plugin publishes for the front-ends.
#[derive(Serialize)]
struct Details<'a> {
    failed: &'a [FailedTarget],
}

/// The notice button that saves the licence file where the user can copy it by hand.
const SAVE_ACTION: &str = "save";

/// The menu item that checks for a new licence at once.
const CHECK_NOW: &str = "check-now";
/// The menu item, while a folder could not be updated, that saves the licence for copying
/// by hand.
const SAVE_NOW: &str = "save-failed";

/// The command that checks for a new licence and answers what it found.
const CHECK_COMMAND: &str = "check-update";
/// The command that saves the licence a folder missed into the folder given.
const SAVE_COMMAND: &str = "save-failed";

/// The error code of a check that installed the licence, but not in every folder.
const FOLDERS_FAILED: &str = "folders-failed";

/// Why a check runs.
#[derive(Debug)]
enum Job {
    /// The back office announced a licence.
    Announced,
    /// The user asked: say the outcome even when nothing changed; answer the command
    /// when there is one.
    Asked(Option<Command>),
    /// Save the licence that could not be installed into a folder (the home folder when
    /// none is given), answering the command when there is one.
    Save(Option<PathBuf>, Option<Command>),
    /// Time to look at the expiry dates (at start, when the licence changes, hourly).
    Expiry,
}

/// The running plugin: checks run on a thread of its own, so that the host's calls
/// return at once.
pub struct LicenceUpdater {
    jobs: Option<Sender<Job>>,
    status: Arc<Mutex<PluginStatus>>,
    /// Whether a folder could not be updated (the save item shows then).
    failed: Arc<AtomicBool>,
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
        let (jobs, requests) = mpsc::channel::<Job>();
        let kept: Kept = host.settings().unwrap_or_default();
        publish(&host, &kept.failed);
        let failed = Arc::new(AtomicBool::new(!kept.failed.is_empty()));
        let (worker_status, worker_failed) = (status.clone(), failed.clone());
        let worker = thread::Builder::new()
            .name("licence updater".into())
            .spawn(move || loop {
                // An expiry check at start, then at least once an hour.
                let job = match requests.recv_timeout(Duration::from_secs(3600)) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => Job::Expiry,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                let (outcome, command) = match job {
                    Job::Expiry => {
                        expiry_check(&host);
                        continue;
                    }
                    Job::Save(folder, command) => {
                        // Saving a copy changes nothing of what failed: the status stays.
                        let outcome = save_for_the_user(&host, folder);
                        if let Some(command) = command {
                            command.finish(outcome);
                        }
                        continue;
                    }
                    Job::Announced => (check(&host, false), None),
                    Job::Asked(command) => (check(&host, true), command),
                };
                let kept: Kept = host.settings().unwrap_or_default();
                worker_failed.store(!kept.failed.is_empty(), Ordering::Relaxed);
                let line = status_of(&outcome);
                *worker_status.lock().unwrap_or_else(|p| p.into_inner()) = line.clone();
                host.publish_status(line);
                if let Some(command) = command {
                    command.finish(outcome);
                }
            })
            .map_err(|error| PluginError::new("thread", error.to_string()))?;
        let _ = jobs.send(Job::Expiry);
        Ok(LicenceUpdater {
            jobs: Some(jobs),
            status,
            failed,
            worker: Some(worker),
        })
    }

    fn on_event(&mut self, event: &HostEvent) -> Result<(), PluginError> {
        match event {
            HostEvent::LicenceAvailable { .. } => self.queue(Job::Announced),
            HostEvent::LicenceChanged => self.queue(Job::Expiry),
            HostEvent::NoticeAction { action_id, .. } if action_id.as_str() == SAVE_ACTION => {
                self.queue(Job::Save(None, None))
            }
            _ => {}
        }
        Ok(())
    }

    fn menu_items(&mut self) -> Vec<MenuItem> {
        let mut items = vec![MenuItem::new(CHECK_NOW, "Check for licence update now")];
        if self.failed.load(Ordering::Relaxed) {
            items.push(MenuItem::new(
                SAVE_NOW,
                "Save licence file for a folder that failed…",
            ));
        }
        items
    }

    fn on_menu_click(&mut self, item_id: &str) -> Result<(), PluginError> {
        match item_id {
            CHECK_NOW => self.queue(Job::Asked(None)),
            SAVE_NOW => self.queue(Job::Save(None, None)),
            _ => {
                return Err(PluginError::new(
                    "unknown-menu-item",
                    format!("no menu item {item_id:?}"),
                ))
            }
        }
        Ok(())
    }

    fn on_command(&mut self, command: Command) -> Result<(), PluginError> {
        match command.name() {
            CHECK_COMMAND => self.queue(Job::Asked(Some(command))),
            // The light turned green: the first check, quietly (an announcement's check).
            remote_service_plugin_api::SESSION_STARTED => {
                command.finish(Ok("checking".into()));
                self.queue(Job::Announced)
            }
            SAVE_COMMAND => {
                let folder = PathBuf::from(command.argument());
                if !folder.is_absolute() {
                    return Err(PluginError::new(
                        "bad-argument",
                        format!(
                            "save-failed needs an absolute folder, not {:?}",
                            command.argument()
                        ),
                    ));
                }
                self.queue(Job::Save(Some(folder), Some(command)))
            }
            other => {
                return Err(PluginError::new(
                    "unknown-command",
                    format!(
                        "no command {other:?}; the commands are {CHECK_COMMAND} and {SAVE_COMMAND}"
                    ),
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
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        Ok(())
    }
}

impl LicenceUpdater {
    fn queue(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

/// The status line of a check's outcome: what failed is worth the user's attention when a
/// folder or the licence itself was refused, an error when the back office was not reached.
fn status_of(outcome: &Result<String, PluginError>) -> PluginStatus {
    match outcome {
        Ok(line) => PluginStatus::ok(line.clone()),
        Err(error) if [FOLDERS_FAILED, "licence-refused"].contains(&error.code.as_str()) => {
            PluginStatus::new(PluginState::ATTENTION, error.message.to_string())
        }
        Err(error) => PluginStatus::new(PluginState::ERROR, error.message.to_string()),
    }
}

/// Tells the front-ends which folders failed.
fn publish(host: &Host, failed: &[FailedTarget]) {
    if let Err(error) = host.publish_details(&Details { failed }) {
        host.warn(&format!(
            "cannot publish the failed folders: {}",
            error.message
        ));
    }
}

/// Saves the kept licence into `folder` (the user's home folder when `None`), verified by
/// the host, for a failed target to be updated by hand; tells the user in a notice.
fn save_for_the_user(host: &Host, folder: Option<PathBuf>) -> Result<String, PluginError> {
    let kept: Kept = host.settings().unwrap_or_default();
    let Some(text) = kept.licence else {
        let message =
            "no licence is waiting to be copied by hand: every folder has the latest licence";
        host.notify(Notice::new(
            "licence-saved",
            "Licence update",
            "There is no licence waiting to be copied by hand.",
        ));
        return Err(PluginError::new("nothing-waiting", message));
    };
    let folder = folder.unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
    });
    match host.install_licence(&folder.display().to_string(), &text) {
        Ok(installed) => {
            host.notify(Notice::new(
                "licence-saved",
                "Licence saved",
                format!(
                    "Saved to {}: copy it into the DroppedLicense folder that could not be updated.",
                    installed.path
                ),
            ));
            let folders: Vec<&str> = kept
                .failed
                .iter()
                .map(|target| target.folder.as_str())
                .collect();
            Ok(format!(
                "{} written: copy it into {}",
                installed.path,
                folders.join(", ")
            ))
        }
        Err(error) => {
            host.notify(Notice::new(
                "licence-saved",
                "Licence not saved",
                format!("{}: {}", folder.display(), error.message),
            ));
            Err(PluginError::new(
                error.code.as_str(),
                format!("cannot save the licence: {}", error.message),
            ))
        }
    }
}

/// One check: download, have it verified, install where missing, report, tell. `asked`:
/// the user asked, so the outcome is told even when nothing changed.
fn check(host: &Host, asked: bool) -> Result<String, PluginError> {
    let outcome = download_and_install(host);
    if asked {
        let body = match &outcome {
            Ok(Checked { told: true, .. }) => None,
            Ok(Checked { what, .. }) => Some(what.clone()),
            Err(error) => Some(error.message.to_string()),
        };
        if let Some(body) = body {
            host.notify(Notice::new("check-update", "Licence update", body));
        }
    }
    outcome.map(|checked| checked.line)
}

/// What a check that reached the back office found.
struct Checked {
    /// The status line.
    line: String,
    /// What happened, in words for a notice.
    what: String,
    /// Whether a notice said so already (the new licence's balloon).
    told: bool,
}

fn download_and_install(host: &Host) -> Result<Checked, PluginError> {
    let (status, text) = host
        .backoffice_request("GET", "/v1/licence", "")
        .map_err(|error| {
            PluginError::new(
                error.code.as_str(),
                format!("cannot reach the back office: {}", error.message),
            )
        })?;
    match status {
        200 => {}
        404 => {
            return Ok(Checked {
                line: "the back office has no licence for this installation".into(),
                what: "The back office has no licence for this installation.".into(),
                told: false,
            })
        }
        other => {
            return Err(PluginError::new(
                "backoffice",
                format!("the back office answered HTTP {other} for the licence"),
            ))
        }
    }
    let before = host.licence_payload();
    let (payload, is_new) = match host.check_licence(&text) {
        Ok(payload) => (payload, true),
        // The licence in force: the folders must still all hold it (one may have failed).
        Err(error) if error.code.as_str() == "already-in-force" => {
            (before.clone().unwrap_or_default(), false)
        }
        Err(error) => {
            let line = format!("the downloaded licence was refused: {}", error.message);
            host.warn(&line);
            return Err(PluginError::new("licence-refused", line));
        }
    };
    let (local, remote) = host.licence_folders();
    let mut targets = vec![local];
    targets.extend(remote);
    let mut results = Vec::new();
    let mut installed_now = 0;
    for folder in &targets {
        let outcome = host
            .install_licence(folder, &text)
            .map(|installed| installed.written)
            .map_err(|error| error.message.to_string());
        match &outcome {
            Ok(true) => installed_now += 1,
            Ok(false) => {}
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
        results.push((folder.clone(), outcome.map(drop)));
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
    publish(host, &failed);
    if installed_now > 0 || !failed.is_empty() {
        report(host, &payload, &results);
    }
    // A licence the folders already hold was installed by an earlier check (the host has
    // not put it in force yet): announcing it again would be a second balloon.
    let (what, told) = if is_new && installed_now > 0 {
        let what_changed = changes::describe(before.as_deref(), &payload);
        if what_changed.is_empty() {
            (
                "A new licence was installed; it changes no feature.".to_string(),
                false,
            )
        } else {
            host.notify(Notice::new(
                "licence-installed",
                "New licence installed",
                what_changed.join("\n"),
            ));
            (what_changed.join("\n"), true)
        }
    } else if installed_now > 0 {
        (
            "The licence was installed in the folders that missed it.".to_string(),
            false,
        )
    } else {
        ("The licence is up to date.".to_string(), false)
    };
    if !failed.is_empty() {
        let folders: Vec<&str> = failed.iter().map(|target| target.folder.as_str()).collect();
        return Err(PluginError::new(
            FOLDERS_FAILED,
            format!("Failed to update licence on: {}", folders.join(", ")),
        ));
    }
    Ok(Checked {
        line: format!(
            "licence sequence {} installed",
            changes::sequence(&payload).unwrap_or_default()
        ),
        what,
        told,
    })
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
    let judged = expiry::now(time::OffsetDateTime::now_utc(), kept.last_run, &payload);
    kept.last_run = Some(judged.now.unix_timestamp());
    let due = expiry::due(&payload, judged.now, &mut kept.shown);
    for notice in judged.clock_notice.into_iter().chain(due) {
        let mut shown = Notice::new(notice.key, notice.summary, notice.body);
        if notice.critical {
            shown.urgency = Urgency::CRITICAL;
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
