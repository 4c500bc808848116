//! The engine: the licence store, the plugin host, the back office connection and the
//! settings together. A licence that appears in the `DroppedLicense` folder is put in force
//! and starts the plugins it licenses, without a restart. [`crate::service`] runs it on a
//! thread of its own for the local API.

mod assist;
mod parts;
mod views;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_channel::{select, unbounded, Receiver};
use remote_service_api::{
    CommandOutcome, ConfigView, Connection as Light, Entitlement, InstallOutcome, Installed,
    LicenceCheck, MenuEntry, PluginInfo,
};
use remote_service_plugin_api::{HostEvent, Notice};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub use assist::{BRIDGE_PLUGIN, HOST_NOTICES};
pub use parts::Parts;
pub use views::{config_view, connection_config, store_config, summary, SecretsKnown};

use crate::connection::{
    CodeState, Connection, ConnectionConfig, ConnectionUpdate, ProxyPasswordState,
};

/// A secret's value as the keyring thread read it (or a change stored it), for the engine.
#[derive(Debug, Clone)]
pub enum SecretValue {
    /// The verification code.
    Code(CodeState),
    /// The proxy password.
    ProxyPassword(ProxyPasswordState),
}
use crate::licence::{
    self, FolderRead, FolderWatcher, InstallOutcome as StoreOutcome, LicenceStore, Refusal,
    VerifiedLicence,
};
use crate::paths::Paths;
use crate::plugins::manager::CommandRefused;
use crate::plugins::{HostContext, PluginManager, PluginMessage};
use crate::secrets::{Secret, SecretStore};
use crate::settings::Settings;

/// Something the engine's front-ends show.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A new licence is in force.
    LicenceChanged,
    /// A licence file was refused; the licence in force stays.
    LicenceRefused(Refusal),
    /// A warning about a licence (a clock problem).
    LicenceWarning(String),
    /// A plugin changed state, status line, menu or details.
    PluginsChanged,
    /// A plugin raised a notice for the user.
    Notice {
        /// The plugin.
        plugin_id: String,
        /// The notice.
        notice: Notice,
    },
    /// The settings or a secret changed.
    ConfigChanged,
}

/// A command waiting for its plugin's answer.
struct PendingCommand {
    plugin: String,
    reply: Waiter,
}

/// Who waits for a command's answer.
enum Waiter {
    /// A caller of the local API.
    Caller(oneshot::Sender<CommandOutcome>),
    /// The engine itself, for remote assistance.
    Assistance(assist::Step),
    /// Nobody: the answer does not matter (`SESSION_STARTED`).
    Nobody,
}

/// How long the engine's thread waits for a read of the licence folder it asks for itself
/// (at start, after the folder setting changed, without a watcher); the watcher's own reads
/// happen on its thread.
const FOLDER_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a change of the back office may wait for the keyring to remove the code
/// entered for the old one. The engine's thread waits: it answers nothing else meanwhile.
const DELETE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A running engine.
pub struct Engine {
    store: LicenceStore,
    plugins: PluginManager,
    context: Arc<HostContext>,
    messages: Receiver<PluginMessage>,
    folder_changes: Receiver<FolderRead>,
    watcher: Option<FolderWatcher>,
    paths: Paths,
    settings: Settings,
    secrets: SecretStore,
    /// The verification code as last read from `secrets`, on another thread.
    code: CodeState,
    /// The proxy password, likewise.
    proxy_password: ProxyPasswordState,
    /// Which secrets are set, as last heard from that thread.
    known: SecretsKnown,
    connection: Option<Connection>,
    connection_updates: Receiver<ConnectionUpdate>,
    connection_sender: crossbeam_channel::Sender<ConnectionUpdate>,
    light: Light,
    commands: HashMap<u64, PendingCommand>,
    next_command: u64,
    /// Asks the proxy detector plugin (through `detections`, read on this thread).
    detector: crate::proxy::Detector,
    detections: Receiver<crate::proxy::Detection>,
    /// Remote assistance: allowance, requests, record.
    assistance: crate::assistance::Assistance,
    /// The plugin folder's watch, and what it reports.
    plugin_watch: Option<crate::plugins::watch::PluginFolderWatch>,
    plugin_changes: Receiver<()>,
}

impl Engine {
    /// Opens the licence store (reading the licence folder, with `parts.read_licence_folder`)
    /// and, with `parts.plugins`, loads the plugins and starts the licensed ones; the other
    /// parts are started by the caller.
    pub fn open(paths: &Paths, settings: &Settings, parts: Parts) -> Result<Engine> {
        let config = store_config(paths, settings);
        if settings.licence.local_folder.is_none() {
            // The per-user default folder is ours to create, so that a licence can be
            // copied into it by hand; a configured folder belongs to the licence server.
            fs::create_dir_all(&config.licence_folder).with_context(|| {
                format!(
                    "cannot create the licence folder {}",
                    config.licence_folder.display()
                )
            })?;
        }
        let mut store = LicenceStore::open(config);
        if parts.read_licence_folder {
            match FolderRead::within(store.folder(), FOLDER_LIMIT) {
                Some(read) => {
                    store.apply(read);
                }
                None => tracing::warn!(
                    "licence folder {} did not answer within {} s (a network folder that hangs?); its licences are read when it answers",
                    store.folder().display(),
                    FOLDER_LIMIT.as_secs()
                ),
            }
        }
        let (message_sender, messages) = unbounded();
        let context = HostContext::new(message_sender, paths.config_dir.join("plugins"));
        context.set_licence(store.in_force().cloned().map(Arc::new));
        context.set_trusted_keys(store.trusted_keys().clone());
        context.set_licence_folders(
            store.folder().to_path_buf(),
            settings.licence.remote_folder.clone(),
        );
        let mut plugins = if parts.plugins {
            PluginManager::load(
                &paths.plugin_dir,
                context.clone(),
                settings.plugins.call_timeout(),
            )
        } else {
            PluginManager::none(context.clone(), settings.plugins.call_timeout())
        };
        plugins.apply_licence();
        let (_, folder_changes) = unbounded();
        let (connection_sender, connection_updates) = unbounded();
        let (detection_sender, detections) = unbounded();
        let (assistance, undo) =
            crate::assistance::Assistance::open(&paths.data_dir, time::OffsetDateTime::now_utc());
        let mut engine = Engine {
            plugin_watch: None,
            plugin_changes: crossbeam_channel::never(),
            assistance,
            detector: crate::proxy::Detector::new(detection_sender),
            detections,
            store,
            plugins,
            context,
            messages,
            folder_changes,
            watcher: None,
            paths: paths.clone(),
            settings: settings.clone(),
            secrets: SecretStore::open(paths),
            code: CodeState::Reading,
            proxy_password: ProxyPasswordState::Reading,
            known: SecretsKnown::default(),
            connection: None,
            connection_updates,
            connection_sender,
            light: Light {
                state: remote_service_api::Light::Grey,
                reason: Some("Remote Service is starting".to_string()),
            },
            commands: HashMap::new(),
            next_command: 1,
        };
        if let Some(undo) = undo {
            engine.undo_after_start(undo);
        }
        Ok(engine)
    }

    /// Starts the connection to the back office on the runtime `io` (when enabled; the
    /// light says why not).
    pub fn connect(&mut self, io: &Handle) {
        let config = self.connection_config();
        if let Some(light) = config.missing_light() {
            self.light = light;
        }
        self.connection = Some(Connection::start(
            config,
            self.connection_sender.clone(),
            io,
            Some(self.detector.clone()),
        ));
    }

    /// What the connection needs now: settings, the verification code, the licence.
    pub fn connection_config(&self) -> ConnectionConfig {
        connection_config(
            &self.settings,
            &self.code,
            &self.proxy_password,
            self.store.in_force(),
        )
    }

    fn reconnect(&mut self) {
        if self.connection.is_some() {
            let config = self.connection_config();
            if let Some(connection) = &self.connection {
                connection.reconfigure(config);
            }
        }
    }

    /// The light: green, orange with the reason, or grey.
    pub fn light(&self) -> &Light {
        &self.light
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings by key, and which secrets are set.
    pub fn config_view(&self) -> ConfigView {
        config_view(&self.paths, &self.settings, &self.secrets, &self.known)
    }

    /// Writes the settings file when there is none yet (to open it in an editor).
    pub fn ensure_settings_file(&self) -> Result<ConfigView> {
        let file = self.paths.settings_file();
        if !file.exists() {
            self.settings.save(&file)?;
        }
        Ok(self.config_view())
    }

    /// Sets (or with `None` resets) setting `key`, saves the file and applies it at once.
    /// On a bad value or a failed save nothing changes.
    pub fn set_config(&mut self, key: &str, value: Option<&str>) -> Result<Vec<EngineEvent>> {
        self.set_configs(&[(key.to_string(), value.map(str::to_string))])
    }

    /// What is wrong with each of `changes` (a setting and its new value, `None` for the
    /// default), applied together to the settings file as it is now: empty when they can
    /// all be saved. Nothing is saved.
    pub fn check_configs(&self, changes: &[(String, Option<String>)]) -> BTreeMap<String, String> {
        let mut errors = BTreeMap::new();
        let mut settings = match Settings::load(&self.paths.settings_file()) {
            Ok(settings) => settings,
            Err(error) => {
                errors.insert("settings".to_string(), format!("{error:#}"));
                return errors;
            }
        };
        for (key, value) in changes {
            if let Err(why) = self.change_one(&mut settings, key, value.as_deref()) {
                errors.insert(key.clone(), why);
            }
        }
        errors
    }

    /// Applies one change to `settings`, with the checks that need the engine (automatic
    /// proxy detection needs its plugin).
    fn change_one(
        &self,
        settings: &mut Settings,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), String> {
        if key == "proxy.mode" && value == Some("auto") {
            self.detection_available()
                .map_err(|why| format!("proxy.mode cannot be auto: {why}"))?;
        }
        match value {
            Some(value) => crate::config::set(settings, key, value),
            None => crate::config::unset(settings, key),
        }
        .map_err(|error| error.to_string())
    }

    /// Sets every one of `changes` (a setting and its new value, `None` for the default)
    /// and saves the file once, or, when one is refused, changes nothing and says why.
    pub fn set_configs(
        &mut self,
        changes: &[(String, Option<String>)],
    ) -> Result<Vec<EngineEvent>> {
        // The file as it is now, not as it was at start: a change made by hand since is
        // kept, not written over (and takes effect with this one).
        let on_disk = Settings::load(&self.paths.settings_file())?;
        let mut settings = on_disk.clone();
        let refused: Vec<String> = changes
            .iter()
            .filter_map(|(key, value)| self.change_one(&mut settings, key, value.as_deref()).err())
            .collect();
        if !refused.is_empty() {
            anyhow::bail!("{}", refused.join("; "));
        }
        if settings == self.settings && settings == on_disk {
            return Ok(Vec::new());
        }
        // The verification code was entered for one back office and organisation: it is
        // never sent to another without being entered again. Removed first, so that a
        // keyring that refuses leaves everything as it was.
        let code_elsewhere = settings.backoffice_url() != self.settings.backoffice_url()
            || settings.organisation_id != self.settings.organisation_id;
        if code_elsewhere && self.known.may_be_set(Secret::VerificationCode) {
            let which = if settings.organisation_id != self.settings.organisation_id {
                "organisation_id"
            } else {
                "backoffice_url"
            };
            self.delete_code().with_context(|| {
                format!("{which} not changed: the verification code entered for the old value cannot be removed")
            })?;
            tracing::info!(
                "{which} changed: the verification code was removed and must be entered again"
            );
            self.code = CodeState::NotSet;
            self.known.learn(Secret::VerificationCode, Ok(false));
        }
        if settings != on_disk {
            settings.save(&self.paths.settings_file())?;
        }
        let folder_changed = settings.licence.local_folder != self.settings.licence.local_folder;
        self.settings = settings;
        self.context.set_licence_folders(
            store_config(&self.paths, &self.settings).licence_folder,
            self.settings.licence.remote_folder.clone(),
        );
        let mut events = vec![EngineEvent::ConfigChanged];
        if folder_changed {
            events.extend(self.reopen_licence_folder()?);
        }
        self.reconnect();
        Ok(events)
    }

    /// Removes the verification code, waiting for the keyring at most [`DELETE_LIMIT`]:
    /// the keyring is asked on a thread of its own, which may go on waiting. Should it
    /// remove the code after this gave up, the code is gone and is entered again: never
    /// the other way round.
    fn delete_code(&self) -> Result<()> {
        let secrets = self.secrets.clone();
        match crate::deadline::within("keyring", DELETE_LIMIT, move || {
            secrets.delete(Secret::VerificationCode)
        }) {
            Some(deleted) => Ok(deleted?),
            None => anyhow::bail!(
                "the keyring did not answer within {} s (is it waiting for its password?)",
                DELETE_LIMIT.as_secs()
            ),
        }
    }

    /// The secret store, for the threads that read and write the keyring (never this one:
    /// a keyring may wait for the user to unlock it).
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// The keyring answered what a secret is: the connection uses it from now on
    /// (reconnecting when it changed).
    pub fn secret_read(&mut self, value: SecretValue) {
        let changed = match value {
            SecretValue::Code(code) => std::mem::replace(&mut self.code, code) != self.code,
            SecretValue::ProxyPassword(password) => {
                std::mem::replace(&mut self.proxy_password, password) != self.proxy_password
            }
        };
        if changed {
            self.reconnect();
        }
    }

    /// Which secrets the keyring has (read on another thread).
    pub fn secrets_known(&mut self, known: Vec<(Secret, Result<bool, String>)>) {
        for (secret, set) in known {
            self.known.learn(secret, set);
        }
    }

    /// `secret` was stored (`set`) or removed, on another thread; `value` is what it is now.
    pub fn secret_changed(
        &mut self,
        secret: Secret,
        set: bool,
        value: SecretValue,
    ) -> Vec<EngineEvent> {
        self.known.learn(secret, Ok(set));
        self.secret_read(value);
        vec![EngineEvent::ConfigChanged]
    }

    /// The licence folder setting changed: read the new folder and watch it instead.
    fn reopen_licence_folder(&mut self) -> Result<Vec<EngineEvent>> {
        let config = store_config(&self.paths, &self.settings);
        self.store = LicenceStore::open(config);
        let watching = self.watcher.is_some();
        self.watcher = None;
        let mut events = if watching {
            self.watch_licence_folder()?;
            Vec::new()
        } else {
            self.licence_folder_changed()
        };
        // The store starts from the kept copy: tell everyone what is in force now.
        events.extend(self.licence_now_in_force());
        Ok(events)
    }

    /// Applies what the connection reported.
    pub fn connection_update(&mut self, update: ConnectionUpdate) -> Vec<EngineEvent> {
        match update {
            ConnectionUpdate::Light(light) => {
                if light.state != self.light.state {
                    tracing::info!(
                        "back office connection: {:?}{}",
                        light.state,
                        light
                            .reason
                            .as_deref()
                            .map(|reason| format!(" ({reason})"))
                            .unwrap_or_default()
                    );
                }
                self.light = light;
            }
            ConnectionUpdate::Session(link) => {
                let started = link.is_some();
                self.assistance.link(link.clone());
                self.context.set_backoffice(link);
                if started {
                    // The plugins that work with the back office start now (the licence
                    // updater's first check), not at the next announcement.
                    for plugin in self.plugins.running_ids() {
                        self.send_command(
                            &plugin,
                            remote_service_plugin_api::SESSION_STARTED,
                            "",
                            Waiter::Nobody,
                        );
                    }
                }
            }
            ConnectionUpdate::LicenceAvailable {
                licence_id,
                sequence,
            } => {
                tracing::info!(
                    "the back office has licence {licence_id} (sequence {sequence}) for this installation"
                );
                self.plugins.broadcast(&HostEvent::LicenceAvailable {
                    licence_id: licence_id.into(),
                    sequence,
                });
            }
            ConnectionUpdate::AssistanceRequested {
                request,
                answer_within,
            } => return self.assistance_requested(request, answer_within),
        }
        // Reported through the status.
        Vec::new()
    }

    /// Starts watching the licence folder, so that [`Engine::next_events`] reports licences
    /// dropped into it.
    pub fn watch_licence_folder(&mut self) -> Result<()> {
        let (sender, receiver) = unbounded();
        // Its thread reads the folder once the watch is set up: a file dropped between
        // opening the store and starting the watcher is not lost.
        self.watcher = Some(FolderWatcher::start(self.store.folder(), sender)?);
        self.folder_changes = receiver;
        Ok(())
    }

    /// Watches the plugin folder: a plugin file added, removed or replaced while the engine
    /// runs is loaded, stopped or marked (see [`PluginManager::rescan`]). A folder that
    /// cannot be watched is said in the log; its plugins are read at the next start.
    pub fn watch_plugin_folder(&mut self) {
        let (sender, receiver) = unbounded();
        match crate::plugins::watch::PluginFolderWatch::start(&self.paths.plugin_dir, sender) {
            Ok(watch) => {
                self.plugin_watch = Some(watch);
                self.plugin_changes = receiver;
            }
            Err(error) => tracing::warn!(
                "cannot watch the plugin folder {}: {error:#}; plugins installed now are loaded at the next start",
                self.paths.plugin_dir.display()
            ),
        }
    }

    /// Changes of the plugin folder.
    pub fn plugin_changes(&self) -> Receiver<()> {
        self.plugin_changes.clone()
    }

    /// The plugin folder changed: look at it again.
    pub fn plugin_folder_changed(&mut self) -> Vec<EngineEvent> {
        if self.plugins.rescan(&self.paths.plugin_dir) {
            vec![EngineEvent::PluginsChanged]
        } else {
            Vec::new()
        }
    }

    /// What the engine waits on: licence folder changes, plugin messages and the back
    /// office connection. They change when the licence folder setting does: take them
    /// again after every call that may change settings.
    pub fn inputs(
        &self,
    ) -> (
        Receiver<FolderRead>,
        Receiver<PluginMessage>,
        Receiver<ConnectionUpdate>,
        Receiver<crate::proxy::Detection>,
    ) {
        (
            self.folder_changes.clone(),
            self.messages.clone(),
            self.connection_updates.clone(),
            self.detections.clone(),
        )
    }

    /// Asks the proxy detector plugin for the candidates of a URL, from any thread.
    pub fn detector(&self) -> crate::proxy::Detector {
        self.detector.clone()
    }

    /// A request for the proxy detector: passed to the plugin as its command, or answered
    /// with why there is no detection.
    pub fn detect(&mut self, detection: crate::proxy::Detection) {
        if let Err(why) = self.detection_available() {
            let _ = detection.reply.send(CommandOutcome {
                ok: false,
                message: why,
                code: Some("not-running".to_string()),
            });
            return;
        }
        self.command(
            crate::proxy::DETECTOR_PLUGIN,
            remote_service_plugin_api::proxy::PROXY_CANDIDATES,
            &detection.url,
            detection.reply,
        );
    }

    /// Whether automatic proxy detection can run: the proxy detector plugin is installed
    /// and running.
    fn detection_available(&self) -> Result<(), String> {
        if self.plugins.is_running(crate::proxy::DETECTOR_PLUGIN) {
            return Ok(());
        }
        let installed = self
            .plugins
            .infos()
            .into_iter()
            .find(|info| info.id == crate::proxy::DETECTOR_PLUGIN);
        Err(match installed {
            None => "automatic proxy detection needs the proxy detector plugin, which is not installed".to_string(),
            Some(info) => format!(
                "automatic proxy detection needs the proxy detector plugin, which is not running: {}",
                info.detail
            ),
        })
    }

    /// The licence folder.
    pub fn licence_folder(&self) -> &std::path::Path {
        self.store.folder()
    }

    /// The menu items of the running plugins, as they last gave them.
    pub fn menu(&self) -> Vec<MenuEntry> {
        self.plugins.menu()
    }

    /// Tells plugin `plugin_id` its menu item `item_id` was clicked; false when the plugin
    /// does not run or failed on it (then it is faulted).
    pub fn click(&mut self, plugin_id: &str, item_id: &str) -> bool {
        self.plugins.click(plugin_id, item_id)
    }

    /// Tells plugin `plugin_id` the user clicked the button `action_id` of its notice
    /// `notice_key`; false when the plugin does not run or failed on it.
    pub fn notice_action(&mut self, plugin_id: &str, notice_key: &str, action_id: &str) -> bool {
        let event = HostEvent::NoticeAction {
            notice_key: notice_key.into(),
            action_id: action_id.into(),
        };
        self.plugins.send_event(plugin_id, event)
    }

    /// Hands plugin `plugin_id` its command `name`; `reply` gets the plugin's outcome when
    /// it answers, or at once when it refuses. Dropped unanswered when the plugin stops.
    pub fn command(
        &mut self,
        plugin_id: &str,
        name: &str,
        argument: &str,
        reply: oneshot::Sender<CommandOutcome>,
    ) {
        self.send_command(plugin_id, name, argument, Waiter::Caller(reply));
    }

    /// Hands plugin `plugin_id` its command `name`; `reply` waits for the outcome.
    fn send_command(&mut self, plugin_id: &str, name: &str, argument: &str, reply: Waiter) {
        let id = self.next_command;
        self.next_command += 1;
        // Registered before the plugin hears of it: its answer may come before the call
        // returns.
        self.commands.insert(
            id,
            PendingCommand {
                plugin: plugin_id.to_string(),
                reply,
            },
        );
        let refused = match self.plugins.command(plugin_id, id, name, argument) {
            Ok(()) => return,
            Err(CommandRefused::NotRunning(plugin)) => CommandOutcome {
                ok: false,
                message: format!("plugin {plugin} is not running"),
                code: Some("not-running".to_string()),
            },
            Err(CommandRefused::ByPlugin(error)) => CommandOutcome {
                ok: false,
                message: error.message.to_string(),
                code: Some(error.code.to_string()),
            },
            Err(CommandRefused::Faulted(reason)) => CommandOutcome {
                ok: false,
                message: format!("plugin {plugin_id} faulted: {reason}"),
                code: Some("faulted".to_string()),
            },
        };
        if let Some(pending) = self.commands.remove(&id) {
            self.command_answered(pending.reply, refused);
        }
    }

    /// Hands a command's outcome to whoever waits for it.
    fn command_answered(&mut self, waiter: Waiter, outcome: CommandOutcome) {
        match waiter {
            Waiter::Caller(reply) => {
                let _ = reply.send(outcome);
            }
            Waiter::Assistance(step) => {
                let outcome = if outcome.ok {
                    Ok(outcome.message)
                } else {
                    Err(outcome.message)
                };
                self.bridge_answered(step, outcome);
            }
            Waiter::Nobody => {}
        }
    }

    /// Forgets the commands whose plugin stopped or faulted before it answered (their
    /// callers hear that it stopped).
    pub fn drop_orphaned_commands(&mut self) {
        let orphaned: Vec<u64> = self
            .commands
            .iter()
            .filter(|(_, pending)| !self.plugins.is_running(&pending.plugin))
            .map(|(id, _)| *id)
            .collect();
        for id in orphaned {
            if let Some(pending) = self.commands.remove(&id) {
                // A caller hears that the plugin stopped when its reply is dropped; the
                // engine hears it in words.
                if let Waiter::Assistance(step) = pending.reply {
                    let stopped = format!("plugin {} stopped before it answered", pending.plugin);
                    self.bridge_answered(step, Err(stopped));
                }
            }
        }
    }

    /// The plugins and their states.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.plugins.infos()
    }

    /// Why the plugin folder gave no plugins, if it could not be used.
    pub fn plugin_folder_problem(&self) -> Option<&str> {
        self.plugins.folder_problem()
    }

    /// The licence in force.
    pub fn licence(&self) -> Option<&VerifiedLicence> {
        self.store.in_force()
    }

    /// Verifies a licence file's text with the trusted keys.
    pub fn verify_licence(&self, text: &str) -> LicenceCheck {
        match licence::verify_licence(text.as_bytes(), self.store.trusted_keys()) {
            Ok(licence) => LicenceCheck {
                valid: true,
                licence: Some(summary(&licence)),
                reason: None,
            },
            Err(error) => LicenceCheck {
                valid: false,
                licence: None,
                reason: Some(error.to_string()),
            },
        }
    }

    /// Verifies a licence file's text, installs it into the licence folder and puts it in
    /// force; the error says why not (the licence in force stays).
    pub fn install_licence(&mut self, text: &str) -> Result<(Installed, Vec<EngineEvent>), String> {
        let outcome = self
            .store
            .install(text.as_bytes())
            .map_err(|error| error.to_string())?;
        let (outcome, path, events) = match outcome {
            StoreOutcome::Installed { path } => {
                (InstallOutcome::Installed, path, self.licence_now_in_force())
            }
            StoreOutcome::AlreadyInForce { path } => {
                (InstallOutcome::AlreadyInForce, path, Vec::new())
            }
        };
        let licence = self
            .store
            .in_force()
            .map(summary)
            .ok_or("the installed licence is not in force")?;
        Ok((
            Installed {
                outcome,
                path,
                licence,
            },
            events,
        ))
    }

    /// Whether the licence in force entitles to an update released on `release_date`
    /// (`YYYY-MM-DD`); never looks at the clock.
    pub fn entitlement(&self, release_date: &str) -> Result<Entitlement, String> {
        let date = time::Date::parse(
            release_date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| format!("{release_date:?} is not a date of the form YYYY-MM-DD"))?;
        let Some(licence) = self.store.in_force() else {
            return Ok(Entitlement {
                entitled: false,
                release_date: release_date.to_string(),
                maintenance_through: None,
                message: format!(
                    "not entitled: no valid licence is installed in {}, so no maintenance covers the release of {date}",
                    self.store.folder().display()
                ),
            });
        };
        let maintenance_through = licence.payload.maintenance_through;
        let (entitled, message) = match licence::check_entitlement(licence, date) {
            Ok(()) => (
                true,
                format!(
                    "entitled: maintenance through {maintenance_through} covers the release of {date}"
                ),
            ),
            Err(not_entitled) => (false, format!("not entitled: {not_entitled}")),
        };
        Ok(Entitlement {
            entitled,
            release_date: release_date.to_string(),
            maintenance_through: Some(maintenance_through.to_string()),
            message,
        })
    }

    /// Waits for the next thing that happened in the licence folder or the plugins and
    /// returns what the user should see of it (the engine without its service thread: the
    /// benchmarks).
    pub fn next_events(&mut self) -> Vec<EngineEvent> {
        select! {
            recv(self.folder_changes) -> change => match change {
                Ok(read) => self.licence_folder_read(read),
                // The watcher is gone: nothing more will come from the folder.
                Err(_) => { self.folder_changes = crossbeam_channel::never(); Vec::new() }
            },
            recv(self.messages) -> message => match message {
                Ok(message) => self.plugin_message(message),
                Err(_) => Vec::new(),
            },
        }
    }

    /// Reads the licence folder again (it changed) and applies what it found; a folder
    /// that does not answer within [`FOLDER_LIMIT`] is left to its reader.
    pub fn licence_folder_changed(&mut self) -> Vec<EngineEvent> {
        match FolderRead::within(self.store.folder(), FOLDER_LIMIT) {
            Some(read) => self.licence_folder_read(read),
            None => {
                tracing::warn!(
                    "licence folder {} did not answer within {} s (a network folder that hangs?)",
                    self.store.folder().display(),
                    FOLDER_LIMIT.as_secs()
                );
                Vec::new()
            }
        }
    }

    /// Applies what a read of the licence folder found (the watcher's thread read it).
    pub fn licence_folder_read(&mut self, read: FolderRead) -> Vec<EngineEvent> {
        let outcome = self.store.apply(read);
        let mut events: Vec<EngineEvent> = outcome
            .refused
            .into_iter()
            .map(EngineEvent::LicenceRefused)
            .collect();
        events.extend(
            outcome
                .warnings
                .into_iter()
                .map(EngineEvent::LicenceWarning),
        );
        if outcome.changed {
            events.extend(self.licence_now_in_force());
        }
        events
    }

    /// Another licence is in force: the plugins see it and start or stop with it, and the
    /// back office hears of its serial number and sequence.
    fn licence_now_in_force(&mut self) -> Vec<EngineEvent> {
        self.context
            .set_licence(self.store.in_force().cloned().map(Arc::new));
        let mut events = vec![EngineEvent::LicenceChanged];
        if self.plugins.apply_licence() {
            events.push(EngineEvent::PluginsChanged);
        }
        self.reconnect();
        events
    }

    /// Applies a message a plugin sent.
    pub fn plugin_message(&mut self, message: PluginMessage) -> Vec<EngineEvent> {
        match message {
            PluginMessage::Status { plugin_id, status } => {
                if self.plugins.published_status(&plugin_id, status) {
                    vec![EngineEvent::PluginsChanged]
                } else {
                    Vec::new()
                }
            }
            PluginMessage::Notice { plugin_id, notice } => {
                if self.plugins.is_running(&plugin_id) {
                    vec![EngineEvent::Notice { plugin_id, notice }]
                } else {
                    Vec::new()
                }
            }
            PluginMessage::Details { plugin_id, details } => {
                if self.plugins.published_details(&plugin_id, details) {
                    vec![EngineEvent::PluginsChanged]
                } else {
                    Vec::new()
                }
            }
            PluginMessage::CommandFinished {
                plugin_id,
                id,
                outcome,
            } => {
                let known = self
                    .commands
                    .get(&id)
                    .is_some_and(|pending| pending.plugin == plugin_id);
                if let Some(pending) = known.then(|| self.commands.remove(&id)).flatten() {
                    let outcome = match outcome {
                        Ok(message) => CommandOutcome {
                            ok: true,
                            message,
                            code: None,
                        },
                        Err(error) => CommandOutcome {
                            ok: false,
                            message: error.message.to_string(),
                            code: Some(error.code.to_string()),
                        },
                    };
                    self.command_answered(pending.reply, outcome);
                }
                Vec::new()
            }
        }
    }

    /// Stops every plugin.
    pub fn shutdown(&mut self) {
        // Ends the back office session first, so the help desk sees the installation
        // offline at once.
        self.connection = None;
        self.watcher = None;
        self.commands.clear();
        self.plugins.stop_all();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
