//! The plugin host: loads every plugin file, starts the licensed ones, and marks faulted a
//! plugin that panics, errors or hangs, so that the host and the other plugins go on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::RArc;
use remote_service_plugin_api::{
    FfiHost_TO, HostEvent, MenuItem, PluginState as StatusState, PluginStatus,
};
use serde::{Deserialize, Serialize};

use super::discovery;
use super::host_services::{HostContext, HostServices};
use super::worker::{CallError, Command, LoadError, Reply, Worker};

/// Where a plugin stands, as `remote-service plugins` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Started and answering.
    Running,
    /// Its licence option is not licensed; none of its code but the manifest ran.
    NotLicensed,
    /// It panicked, returned an error or did not answer in time; it is no longer called.
    Faulted,
    /// It cannot be loaded (unsafe permissions, not a library, incompatible ABI).
    Refused,
}

impl PluginState {
    /// The word shown for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::NotLicensed => "not-licensed",
            PluginState::Faulted => "faulted",
            PluginState::Refused => "refused",
        }
    }
}

/// One plugin file and what the host knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin's id; the file name when it was refused before its manifest was read.
    pub id: String,
    /// The plugin's version, empty when unknown.
    pub version: String,
    /// The plugin API version it was built against, empty when unknown.
    pub api_version: String,
    /// Its name for the user.
    pub display_name: String,
    /// The licence option it needs.
    pub licence_option: Option<String>,
    /// Where it stands.
    pub state: PluginState,
    /// One line: its own status line while running, otherwise why it is not running.
    pub detail: String,
    /// The plugin's own state word while running (`ok`, `unavailable`, ...).
    pub status: Option<String>,
    /// The file.
    pub path: PathBuf,
}

struct Managed {
    info: PluginInfo,
    worker: Option<Worker>,
}

/// All plugins of one plugin folder.
pub struct PluginManager {
    plugins: Vec<Managed>,
    folder_problem: Option<String>,
    timeout: Duration,
    context: Arc<HostContext>,
}

impl PluginManager {
    /// Loads every plugin file of `dir` (none are started yet: see
    /// [`PluginManager::apply_licence`]). A folder that cannot be used is reported by
    /// [`PluginManager::folder_problem`] and gives no plugins.
    pub fn load(dir: &Path, context: Arc<HostContext>, timeout: Duration) -> PluginManager {
        let mut manager = PluginManager {
            plugins: Vec::new(),
            folder_problem: None,
            timeout,
            context,
        };
        let candidates = match discovery::discover(dir) {
            Ok(candidates) => candidates,
            Err(error) => {
                tracing::error!("{error}");
                manager.folder_problem = Some(error.to_string());
                return manager;
            }
        };
        for candidate in candidates {
            let managed = manager.load_one(&candidate.path, candidate.permission);
            manager.plugins.push(managed);
        }
        manager
    }

    fn load_one(&self, path: &Path, permission: Result<(), String>) -> Managed {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut info = PluginInfo {
            id: file_name,
            version: String::new(),
            api_version: String::new(),
            display_name: String::new(),
            licence_option: None,
            state: PluginState::Refused,
            detail: String::new(),
            status: None,
            path: path.to_path_buf(),
        };
        if let Err(reason) = permission {
            info.detail = format!("refused {}: {reason}", path.display());
            tracing::error!("plugin {}", info.detail);
            return Managed { info, worker: None };
        }
        match Worker::spawn(path, self.timeout) {
            Ok((worker, loaded)) => {
                let manifest = loaded.manifest;
                info.id = manifest.id.to_string();
                info.version = manifest.version.to_string();
                info.api_version = loaded.api_version;
                info.display_name = manifest.display_name.to_string();
                info.licence_option = manifest.licence_option.into_option().map(|o| o.to_string());
                if let Some(other) = self
                    .plugins
                    .iter()
                    .find(|p| p.info.id == info.id && p.info.state != PluginState::Refused)
                {
                    info.detail = format!(
                        "another plugin with id {} is loaded from {}",
                        info.id,
                        other.info.path.display()
                    );
                    return Managed { info, worker: None };
                }
                info.state = PluginState::NotLicensed;
                info.detail = not_licensed_detail(&info);
                tracing::info!(plugin = %info.id, version = %info.version, api = %info.api_version, "plugin loaded from {}", path.display());
                Managed {
                    info,
                    worker: Some(worker),
                }
            }
            Err(LoadError::Refused { summary, report }) => {
                tracing::warn!("plugin {} refused: {summary}", path.display());
                if let Some(report) = report {
                    tracing::info!("full loader report for {}:\n{report}", path.display());
                }
                info.detail = summary;
                Managed { info, worker: None }
            }
            Err(LoadError::Faulted(reason)) => {
                tracing::error!("plugin {} faulted: {reason}", path.display());
                info.state = PluginState::Faulted;
                info.detail = reason;
                Managed { info, worker: None }
            }
        }
    }

    /// Why the plugin folder gave no plugins, if it could not be used.
    pub fn folder_problem(&self) -> Option<&str> {
        self.folder_problem.as_deref()
    }

    /// Every plugin file, in file name order.
    pub fn infos(&self) -> Vec<PluginInfo> {
        self.plugins.iter().map(|p| p.info.clone()).collect()
    }

    /// Starts plugins whose licence option is now licensed, stops those whose option no
    /// longer is, and tells the running ones that the licence changed. Returns whether any
    /// plugin changed state.
    pub fn apply_licence(&mut self) -> bool {
        let mut changed = false;
        for index in 0..self.plugins.len() {
            let licensed = match &self.plugins[index].info.licence_option {
                Some(option) => self.context.is_licensed(option),
                None => true,
            };
            let before = self.plugins[index].info.clone();
            match (before.state, licensed) {
                (PluginState::NotLicensed, true) => self.start(index),
                (PluginState::Running, false) => {
                    self.call(index, Command::Stop, "stopping");
                    let plugin = &mut self.plugins[index];
                    if plugin.info.state == PluginState::Running {
                        // The worker stays: the option may come back with a later licence.
                        plugin.info.state = PluginState::NotLicensed;
                        plugin.info.status = None;
                        plugin.info.detail = not_licensed_detail(&plugin.info);
                    }
                }
                (PluginState::Running, true) => {
                    self.call(
                        index,
                        Command::Event(HostEvent::LicenceChanged),
                        "handling a licence change",
                    );
                }
                _ => {}
            }
            changed |= self.plugins[index].info != before;
        }
        changed
    }

    fn start(&mut self, index: usize) {
        let id = self.plugins[index].info.id.clone();
        let services = HostServices::new(&id, self.context.clone());
        let host = FfiHost_TO::from_ptr(RArc::new(services), TD_Opaque);
        if self.call(index, Command::Start(host), "starting").is_some() {
            let plugin = &mut self.plugins[index];
            plugin.info.state = PluginState::Running;
            plugin.info.detail = "started".to_string();
            tracing::info!(plugin = %id, "plugin started");
            self.refresh_status(index);
        }
    }

    /// Asks every running plugin for its status.
    pub fn refresh_statuses(&mut self) {
        for index in 0..self.plugins.len() {
            self.refresh_status(index);
        }
    }

    fn refresh_status(&mut self, index: usize) {
        if let Some(Reply::Status(status)) =
            self.call(index, Command::Status, "reporting its status")
        {
            self.set_status(index, status);
        }
    }

    fn set_status(&mut self, index: usize, status: PluginStatus) {
        let info = &mut self.plugins[index].info;
        info.status = Some(status.state.as_str().to_string());
        info.detail = status.line.to_string();
        if status.state == StatusState::ERROR {
            tracing::warn!(plugin = %info.id, "plugin reports an error: {}", info.detail);
        }
    }

    /// Records a status a running plugin published; returns whether it changed anything.
    pub fn published_status(&mut self, plugin_id: &str, status: PluginStatus) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        let before = self.plugins[index].info.clone();
        self.set_status(index, status);
        self.plugins[index].info != before
    }

    /// Whether plugin `plugin_id` is running.
    pub fn is_running(&self, plugin_id: &str) -> bool {
        self.running_index(plugin_id).is_some()
    }

    fn running_index(&self, plugin_id: &str) -> Option<usize> {
        self.plugins
            .iter()
            .position(|p| p.info.id == plugin_id && p.info.state == PluginState::Running)
    }

    /// The menu items of every running plugin, with the plugin's id.
    pub fn menu_items(&mut self) -> Vec<(String, MenuItem)> {
        let mut items = Vec::new();
        for index in 0..self.plugins.len() {
            if let Some(Reply::MenuItems(plugin_items)) =
                self.call(index, Command::MenuItems, "listing its menu items")
            {
                let id = &self.plugins[index].info.id;
                items.extend(plugin_items.into_iter().map(|item| (id.clone(), item)));
            }
        }
        items
    }

    /// Tells plugin `plugin_id` that its menu item `item_id` was clicked.
    pub fn click(&mut self, plugin_id: &str, item_id: &str) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        self.call(
            index,
            Command::Click(item_id.to_string()),
            "handling a menu click",
        )
        .is_some()
    }

    /// Hands `event` to the running plugin `plugin_id`; false when it does not run or failed
    /// on it (it is then faulted).
    pub fn send_event(&mut self, plugin_id: &str, event: HostEvent) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        self.call(index, Command::Event(event), "handling an event")
            .is_some()
    }

    /// Hands `event` to every running plugin.
    pub fn broadcast(&mut self, event: &HostEvent) {
        for index in 0..self.plugins.len() {
            self.call(index, Command::Event(event.clone()), "handling an event");
        }
    }

    /// Stops every running plugin.
    pub fn stop_all(&mut self) {
        for index in 0..self.plugins.len() {
            if self.call(index, Command::Stop, "stopping").is_some() {
                self.plugins[index].worker = None;
            }
        }
    }

    /// Calls a running (or starting) plugin; on any failure marks it faulted and returns
    /// `None`. `doing` names the call for the message ("starting").
    fn call(&mut self, index: usize, command: Command, doing: &str) -> Option<Reply> {
        let plugin = &mut self.plugins[index];
        let starting = matches!(command, Command::Start(_));
        let callable = plugin.info.state == PluginState::Running
            || (starting && plugin.info.state == PluginState::NotLicensed);
        let worker = plugin.worker.as_ref().filter(|_| callable)?;
        match worker.call(command, self.timeout) {
            Ok(reply) => Some(reply),
            Err(error) => {
                let reason = match &error {
                    CallError::Plugin(plugin_error) if plugin_error.code.as_str() == "panic" => {
                        format!("panicked while {doing}: {}", plugin_error.message)
                    }
                    CallError::Plugin(plugin_error) => {
                        format!(
                            "returned an error while {doing}: {} ({})",
                            plugin_error.message, plugin_error.code
                        )
                    }
                    other => format!("{other} while {doing}"),
                };
                tracing::error!(plugin = %plugin.info.id, "plugin faulted: {reason}");
                // Dropping the worker handle ends its thread once the plugin returns; a
                // plugin that hangs keeps its thread, but is never called again.
                plugin.worker = None;
                plugin.info.state = PluginState::Faulted;
                plugin.info.status = None;
                plugin.info.detail = reason;
                None
            }
        }
    }
}

fn not_licensed_detail(info: &PluginInfo) -> String {
    match &info.licence_option {
        Some(option) => {
            format!("needs the licence option {option}, which the installed licence does not have")
        }
        None => String::new(),
    }
}
