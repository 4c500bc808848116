//! The plugin host: loads every plugin file, starts the licensed ones, and marks faulted a
//! plugin that panics, errors or hangs, so that the host and the other plugins go on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::RArc;
use remote_service_api::{MenuEntry, PluginHealth, PluginInfo, PluginState};
use remote_service_plugin_api::v1_2::FfiHost1_2_TO;
use remote_service_plugin_api::{
    FfiHost_TO, HostEvent, MenuItem, PluginError, PluginState as StatusState, PluginStatus,
};

use super::discovery;
use super::host_services::{HostContext, HostServices};
use super::worker::{CallError, Command, LoadError, Reply, Worker};

/// What the host knows of one plugin file. Its wire form is [`PluginInfo`]
/// ([`Record::info`]); the plugin's own status, menu and details are kept as the plugin
/// gave them.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    id: String,
    version: String,
    api_version: String,
    display_name: String,
    licence_option: Option<String>,
    path: PathBuf,
    state: PluginState,
    /// Its status line while running, otherwise why it is not running.
    detail: String,
    /// Its own state word while running.
    health: Option<StatusState>,
    /// What it published for the front-ends.
    details: Option<serde_json::Value>,
    /// Its menu items while running, as it last gave them.
    menu: Vec<MenuItem>,
}

impl Record {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            id: self.id.clone(),
            version: self.version.clone(),
            api_version: self.api_version.clone(),
            display_name: self.display_name.clone(),
            licence_option: self.licence_option.clone(),
            state: self.state,
            detail: self.detail.clone(),
            status: self.health.map(health),
            path: self.path.clone(),
            details: self.details.clone(),
        }
    }

    /// No longer running: what it said while running goes.
    fn stopped(&mut self, state: PluginState, detail: String) {
        self.state = state;
        self.detail = detail;
        self.health = None;
        self.details = None;
        self.menu.clear();
    }
}

fn health(state: StatusState) -> PluginHealth {
    match state {
        StatusState::OK => PluginHealth::Ok,
        StatusState::BUSY => PluginHealth::Busy,
        StatusState::ATTENTION => PluginHealth::Attention,
        StatusState::ERROR => PluginHealth::Error,
        StatusState::UNAVAILABLE => PluginHealth::Unavailable,
        _ => PluginHealth::Unknown,
    }
}

/// Why a command did not reach a plugin, or was refused by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRefused {
    /// No running plugin has this id.
    NotRunning(String),
    /// The plugin refused it (an unknown command, a bad argument, a plugin API without
    /// commands); it goes on running.
    ByPlugin(PluginError),
    /// The call failed (a panic, no answer in time): the plugin is faulted now.
    Faulted(String),
}

struct Managed {
    info: Record,
    worker: Option<Worker>,
    /// Revokes the host object of the plugin's current start (see [`HostServices`]).
    revoked: Arc<AtomicBool>,
    /// The file loaded ([`file_identity`]).
    identity: Option<Identity>,
    /// Its file was replaced since it was loaded.
    replaced: bool,
}

impl Managed {
    fn new(info: Record, worker: Option<Worker>) -> Managed {
        let identity = file_identity(&info.path);
        Managed {
            info,
            worker,
            revoked: Arc::new(AtomicBool::new(false)),
            identity,
            replaced: false,
        }
    }

    /// The plugin no longer runs: its host object stops answering, whatever its threads
    /// still do.
    fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }
}

/// Which file a path names now (device and inode): a package upgrade renames a new file
/// over the old one.
/// With its size and modification time: a file copied in by hand is read again once its
/// writing ends.
type Identity = (u64, u64, u64, Option<std::time::SystemTime>);

fn file_identity(path: &Path) -> Option<Identity> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (device, inode) = {
        use std::os::unix::fs::MetadataExt;
        (metadata.dev(), metadata.ino())
    };
    #[cfg(not(unix))]
    let (device, inode) = (0, 0);
    Some((device, inode, metadata.len(), metadata.modified().ok()))
}

/// What the detail says of a plugin whose file was replaced while it was loaded.
pub const REPLACED: &str = "updated on disk: the new version takes effect at the next start of Remote Service (a loaded plugin library cannot be unloaded safely)";

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

    /// A manager without plugins (an engine that a command starts only for its licence
    /// store or its settings).
    pub fn none(context: Arc<HostContext>, timeout: Duration) -> PluginManager {
        PluginManager {
            plugins: Vec::new(),
            folder_problem: None,
            timeout,
            context,
        }
    }

    fn load_one(&self, path: &Path, permission: Result<PathBuf, String>) -> Managed {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut info = Record {
            id: file_name,
            version: String::new(),
            api_version: String::new(),
            display_name: String::new(),
            licence_option: None,
            path: path.to_path_buf(),
            state: PluginState::Refused,
            detail: String::new(),
            health: None,
            details: None,
            menu: Vec::new(),
        };
        let resolved = match permission {
            Ok(resolved) => resolved,
            Err(reason) => {
                info.detail = format!("refused {}: {reason}", path.display());
                tracing::error!("plugin {}", info.detail);
                return Managed::new(info, None);
            }
        };
        // The file judged is the file loaded: its folders' writers are trusted, so nobody
        // else can swap it between the check and the load.
        match Worker::spawn(&resolved, self.timeout) {
            Ok((worker, loaded)) => {
                let manifest = loaded.manifest;
                info.id = manifest.id.to_string();
                info.version = manifest.version.to_string();
                info.api_version = loaded.api_version;
                info.display_name = manifest.display_name.to_string();
                info.licence_option = manifest.licence_option.into_option().map(|o| o.to_string());
                if info.id == remote_service_api::HOST_NOTICES {
                    // The engine's own notices carry that name: a plugin of that id would
                    // hear the answers to help-desk requests.
                    info.detail = format!("the id {} is the engine's own, not a plugin's", info.id);
                    return Managed::new(info, None);
                }
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
                    return Managed::new(info, None);
                }
                info.state = PluginState::NotLicensed;
                info.detail = not_licensed_detail(&info);
                tracing::info!(plugin = %info.id, version = %info.version, api = %info.api_version, "plugin loaded from {}", path.display());
                Managed::new(info, Some(worker))
            }
            Err(LoadError::Refused { summary, report }) => {
                tracing::warn!("plugin {} refused: {summary}", path.display());
                if let Some(report) = report {
                    tracing::info!("full loader report for {}:\n{report}", path.display());
                }
                info.detail = summary;
                Managed::new(info, None)
            }
            Err(LoadError::Faulted(reason)) => {
                tracing::error!("plugin {} faulted: {reason}", path.display());
                info.state = PluginState::Faulted;
                info.detail = reason;
                Managed::new(info, None)
            }
        }
    }

    /// Why the plugin folder gave no plugins, if it could not be used.
    pub fn folder_problem(&self) -> Option<&str> {
        self.folder_problem.as_deref()
    }

    /// Every plugin file, in file name order.
    pub fn infos(&self) -> Vec<PluginInfo> {
        self.plugins
            .iter()
            .map(|p| {
                let mut info = p.info.info();
                if p.replaced {
                    info.detail = format!("{}; {REPLACED}", info.detail);
                }
                info
            })
            .collect()
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
                        let detail = not_licensed_detail(&plugin.info);
                        plugin.info.stopped(PluginState::NotLicensed, detail);
                        plugin.revoke();
                    }
                }
                (PluginState::Running, true) => {
                    self.deliver(
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
        // A host object of its own for each start: a plugin stopped and started again
        // does not get the old one back.
        let revoked = Arc::new(AtomicBool::new(false));
        self.plugins[index].revoked = revoked.clone();
        let services = HostServices::new(&id, self.context.clone(), revoked);
        let host = FfiHost_TO::from_ptr(RArc::new(services.clone()), TD_Opaque);
        let host_1_2 = FfiHost1_2_TO::from_ptr(RArc::new(services), TD_Opaque);
        if self
            .call(index, Command::Start(host, host_1_2), "starting")
            .is_some()
        {
            let plugin = &mut self.plugins[index];
            plugin.info.state = PluginState::Running;
            plugin.info.detail = "started".to_string();
            tracing::info!(plugin = %id, "plugin started");
            self.refresh_status(index);
            self.refresh_menu(index);
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

    /// Asks a running plugin for its menu items, which the status then shows: after every
    /// call that may have changed them, never per request of a front-end.
    fn refresh_menu(&mut self, index: usize) {
        if let Some(Reply::MenuItems(items)) =
            self.call(index, Command::MenuItems, "listing its menu items")
        {
            self.plugins[index].info.menu = items;
        }
    }

    /// Hands a running plugin an event, a click or a command, then takes its menu again
    /// (what it was told may have changed it).
    fn deliver(&mut self, index: usize, command: Command, doing: &str) -> Option<Reply> {
        let reply = self.call(index, command, doing)?;
        self.refresh_menu(index);
        Some(reply)
    }

    fn set_status(&mut self, index: usize, status: PluginStatus) {
        let info = &mut self.plugins[index].info;
        info.health = Some(status.state);
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
        // A plugin that tells its status may have changed its menu with it.
        self.refresh_menu(index);
        self.plugins[index].info != before
    }

    /// Records the details a running plugin published; returns whether they changed.
    pub fn published_details(&mut self, plugin_id: &str, details: serde_json::Value) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        let info = &mut self.plugins[index].info;
        let changed = info.details.as_ref() != Some(&details);
        info.details = Some(details);
        changed
    }

    /// Whether plugin `plugin_id` is running.
    pub fn is_running(&self, plugin_id: &str) -> bool {
        self.running_index(plugin_id).is_some()
    }

    /// The ids of the plugins running now.
    pub fn running_ids(&self) -> Vec<String> {
        self.plugins
            .iter()
            .filter(|plugin| self.is_running(&plugin.info.id))
            .map(|plugin| plugin.info.id.clone())
            .collect()
    }

    fn running_index(&self, plugin_id: &str) -> Option<usize> {
        self.plugins
            .iter()
            .position(|p| p.info.id == plugin_id && p.info.state == PluginState::Running)
    }

    /// The menu items of every running plugin, with the plugin's id, as they last gave
    /// them (no plugin is called).
    pub fn menu_items(&self) -> Vec<(String, MenuItem)> {
        self.plugins
            .iter()
            .filter(|plugin| plugin.info.state == PluginState::Running)
            .flat_map(|plugin| {
                plugin
                    .info
                    .menu
                    .iter()
                    .map(|item| (plugin.info.id.clone(), item.clone()))
            })
            .collect()
    }

    /// The menu items of the running plugins, as the front-ends show them.
    pub fn menu(&self) -> Vec<MenuEntry> {
        self.menu_items()
            .into_iter()
            .map(|(plugin, item)| MenuEntry {
                plugin,
                id: item.id.to_string(),
                label: item.label.to_string(),
                enabled: item.enabled,
                checked: item.checked.into_option(),
            })
            .collect()
    }

    /// Tells plugin `plugin_id` that its menu item `item_id` was clicked.
    pub fn click(&mut self, plugin_id: &str, item_id: &str) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        self.deliver(
            index,
            Command::Click(item_id.to_string()),
            "handling a menu click",
        )
        .is_some()
    }

    /// Hands plugin `plugin_id` the command `name` with `argument`; it answers later with
    /// `id`. A refusal by the plugin leaves it running; a panic or no answer faults it.
    pub fn command(
        &mut self,
        plugin_id: &str,
        id: u64,
        name: &str,
        argument: &str,
    ) -> Result<(), CommandRefused> {
        let Some(index) = self.running_index(plugin_id) else {
            return Err(CommandRefused::NotRunning(plugin_id.to_string()));
        };
        let command = Command::RunCommand {
            id,
            name: name.to_string(),
            argument: argument.to_string(),
        };
        let worker = self.plugins[index].worker.as_ref();
        let answer = match worker {
            Some(worker) => worker.call(command, self.timeout),
            None => return Err(CommandRefused::NotRunning(plugin_id.to_string())),
        };
        match answer {
            Ok(_) => {
                self.refresh_menu(index);
                Ok(())
            }
            Err(CallError::Plugin(error)) if error.code.as_str() != PluginError::PANIC => {
                Err(CommandRefused::ByPlugin(error))
            }
            Err(error) => {
                let reason = self.fault(index, &error, "handling a command");
                Err(CommandRefused::Faulted(reason))
            }
        }
    }

    /// Hands `event` to the running plugin `plugin_id`; false when it does not run or failed
    /// on it (it is then faulted).
    pub fn send_event(&mut self, plugin_id: &str, event: HostEvent) -> bool {
        let Some(index) = self.running_index(plugin_id) else {
            return false;
        };
        self.deliver(index, Command::Event(event), "handling an event")
            .is_some()
    }

    /// Hands `event` to every running plugin.
    pub fn broadcast(&mut self, event: &HostEvent) {
        for index in 0..self.plugins.len() {
            self.deliver(index, Command::Event(event.clone()), "handling an event");
        }
    }

    /// Stops every running plugin.
    /// Looks at the plugin folder again (it changed): a new plugin file is loaded and, when
    /// licensed, started; a plugin whose file is gone is stopped and forgotten; one whose
    /// file was replaced goes on in the version loaded and says that the new one takes
    /// effect at the next start. The folder's and each file's permission rules apply.
    /// Returns whether anything changed.
    pub fn rescan(&mut self, dir: &Path) -> bool {
        let candidates = match discovery::discover(dir) {
            Ok(candidates) => candidates,
            Err(error) => {
                let problem = Some(error.to_string());
                let changed = self.folder_problem != problem;
                self.folder_problem = problem;
                return changed;
            }
        };
        let mut changed = self.folder_problem.take().is_some();
        // Gone.
        let mut index = 0;
        while index < self.plugins.len() {
            let path = self.plugins[index].info.path.clone();
            if candidates.iter().any(|candidate| candidate.path == path) {
                index += 1;
                continue;
            }
            tracing::info!(
                "plugin file {} removed: {} stops",
                path.display(),
                self.plugins[index].info.id
            );
            if self.call(index, Command::Stop, "stopping").is_some() {
                self.plugins[index].worker = None;
            }
            self.plugins[index].revoke();
            self.plugins.remove(index);
            changed = true;
        }
        for candidate in candidates {
            let known = self
                .plugins
                .iter()
                .position(|plugin| plugin.info.path == candidate.path);
            match known {
                Some(index) => {
                    let identity = file_identity(&candidate.path);
                    let plugin = &mut self.plugins[index];
                    if identity == plugin.identity {
                        continue;
                    }
                    if plugin.worker.is_none() {
                        // Refused or never loaded (a file still being copied): read again.
                        let managed = self.load_one(&candidate.path, candidate.permission);
                        self.plugins[index] = managed;
                        changed = true;
                    } else if !plugin.replaced {
                        // Replaced (a package upgrade renames the new file over the old).
                        plugin.replaced = true;
                        tracing::info!("plugin {}: {REPLACED}", plugin.info.id);
                        changed = true;
                    }
                }
                None => {
                    // A refused file stays listed with its reason; a good one loads.
                    let managed = self.load_one(&candidate.path, candidate.permission);
                    tracing::info!(
                        "plugin file {} added: {}",
                        candidate.path.display(),
                        managed.info.id
                    );
                    self.plugins.push(managed);
                    changed = true;
                }
            }
        }
        self.apply_licence() || changed
    }

    pub fn stop_all(&mut self) {
        for index in 0..self.plugins.len() {
            if self.call(index, Command::Stop, "stopping").is_some() {
                self.plugins[index].worker = None;
                self.plugins[index].revoke();
            }
        }
    }

    /// Calls a running (or starting) plugin; on any failure marks it faulted and returns
    /// `None`. `doing` names the call for the message ("starting").
    fn call(&mut self, index: usize, command: Command, doing: &str) -> Option<Reply> {
        let plugin = &mut self.plugins[index];
        let starting = matches!(command, Command::Start(..));
        let callable = plugin.info.state == PluginState::Running
            || (starting && plugin.info.state == PluginState::NotLicensed);
        let worker = plugin.worker.as_ref().filter(|_| callable)?;
        match worker.call(command, self.timeout) {
            Ok(reply) => Some(reply),
            Err(error) => {
                self.fault(index, &error, doing);
                None
            }
        }
    }

    /// Marks a plugin faulted after `error` while `doing`; returns the reason shown.
    fn fault(&mut self, index: usize, error: &CallError, doing: &str) -> String {
        let reason = match error {
            CallError::Plugin(plugin_error) if plugin_error.code.as_str() == PluginError::PANIC => {
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
        let plugin = &mut self.plugins[index];
        tracing::error!(plugin = %plugin.info.id, "plugin faulted: {reason}");
        // Dropping the worker handle ends its thread once the plugin returns; a plugin
        // that hangs keeps its thread, but is never called again.
        plugin.worker = None;
        plugin.revoke();
        plugin.info.stopped(PluginState::Faulted, reason.clone());
        reason
    }
}

fn not_licensed_detail(info: &Record) -> String {
    match &info.licence_option {
        Some(option) => {
            format!("needs the licence option {option}, which the installed licence does not have")
        }
        None => String::new(),
    }
}
