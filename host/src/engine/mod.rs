//! The engine: the licence store and the plugin host together. A licence that appears in
//! the `DroppedLicense` folder is put in force and starts the plugins it licenses, without
//! a restart.

pub mod service;

use std::fs;
use std::sync::Arc;

use anyhow::{Context, Result};
use crossbeam_channel::{select, unbounded, Receiver};
use remote_service_plugin_api::Notice;

use crate::licence::{FolderWatcher, LicenceStore, Refusal, StoreConfig, VerifiedLicence};
use crate::paths::Paths;
use crate::plugins::{HostContext, PluginInfo, PluginManager, PluginMessage};
use crate::settings::Settings;

/// Something the engine's users (the CLI now, the tray and the local API later) show.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A new licence is in force.
    LicenceChanged,
    /// A licence file was refused; the licence in force stays.
    LicenceRefused(Refusal),
    /// A warning about a licence (a clock problem).
    LicenceWarning(String),
    /// A plugin changed state or status line.
    PluginsChanged,
    /// A plugin raised a notice for the user.
    Notice {
        /// The plugin.
        plugin_id: String,
        /// The notice.
        notice: Notice,
    },
}

/// Where the licence store of these settings reads and keeps licences.
pub fn store_config(paths: &Paths, settings: &Settings) -> StoreConfig {
    StoreConfig {
        licence_folder: settings
            .licence
            .local_folder
            .clone()
            .unwrap_or_else(|| paths.default_licence_folder()),
        system_dir: paths.system_dir.clone(),
        state_dir: paths.state_dir.clone(),
    }
}

/// A running engine.
pub struct Engine {
    store: LicenceStore,
    plugins: PluginManager,
    context: Arc<HostContext>,
    messages: Receiver<PluginMessage>,
    folder_changes: Receiver<()>,
    watcher: Option<FolderWatcher>,
}

impl Engine {
    /// Opens the licence store, loads the plugins and starts the licensed ones.
    pub fn open(paths: &Paths, settings: &Settings) -> Result<Engine> {
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
        store.rescan();
        let (message_sender, messages) = unbounded();
        let context = HostContext::new(message_sender, paths.config_dir.join("plugins"));
        context.set_licence(store.in_force().cloned().map(Arc::new));
        let mut plugins = PluginManager::load(
            &paths.plugin_dir,
            context.clone(),
            settings.plugins.call_timeout(),
        );
        plugins.apply_licence();
        let (_, folder_changes) = unbounded();
        Ok(Engine {
            store,
            plugins,
            context,
            messages,
            folder_changes,
            watcher: None,
        })
    }

    /// Starts watching the licence folder, so that [`Engine::next_event`] reports licences
    /// dropped into it.
    pub fn watch_licence_folder(&mut self) -> Result<()> {
        let (sender, receiver) = unbounded();
        self.watcher = Some(FolderWatcher::start(self.store.folder(), sender)?);
        self.folder_changes = receiver;
        // A file dropped between opening the store and starting the watcher is not lost.
        self.licence_folder_changed();
        Ok(())
    }

    /// What the engine waits on: licence folder changes and plugin messages. Take them
    /// after [`Engine::watch_licence_folder`].
    pub fn inputs(&self) -> (Receiver<()>, Receiver<PluginMessage>) {
        (self.folder_changes.clone(), self.messages.clone())
    }

    /// The licence folder.
    pub fn licence_folder(&self) -> &std::path::Path {
        self.store.folder()
    }

    /// The menu items of the running plugins, with each plugin's id.
    pub fn menu_items(&mut self) -> Vec<(String, remote_service_plugin_api::MenuItem)> {
        self.plugins.menu_items()
    }

    /// Tells plugin `plugin_id` its menu item `item_id` was clicked; false when the plugin
    /// does not run or failed on it (then it is faulted).
    pub fn click(&mut self, plugin_id: &str, item_id: &str) -> bool {
        self.plugins.click(plugin_id, item_id)
    }

    /// Tells plugin `plugin_id` the user clicked the button `action_id` of its notice
    /// `notice_key`; false when the plugin does not run or failed on it.
    pub fn notice_action(&mut self, plugin_id: &str, notice_key: &str, action_id: &str) -> bool {
        let event = remote_service_plugin_api::HostEvent::NoticeAction {
            notice_key: notice_key.into(),
            action_id: action_id.into(),
        };
        self.plugins.send_event(plugin_id, event)
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

    /// Waits for the next thing that happened and returns what the user should see of it.
    pub fn next_events(&mut self) -> Vec<EngineEvent> {
        select! {
            recv(self.folder_changes) -> change => match change {
                Ok(()) => self.licence_folder_changed(),
                // The watcher is gone: nothing more will come from the folder.
                Err(_) => { self.folder_changes = crossbeam_channel::never(); Vec::new() }
            },
            recv(self.messages) -> message => match message {
                Ok(message) => self.plugin_message(message),
                Err(_) => Vec::new(),
            },
        }
    }

    /// Reads the licence folder again (it changed) and applies what it found.
    pub fn licence_folder_changed(&mut self) -> Vec<EngineEvent> {
        let outcome = self.store.rescan();
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
            self.context
                .set_licence(self.store.in_force().cloned().map(Arc::new));
            events.push(EngineEvent::LicenceChanged);
            if self.plugins.apply_licence() {
                events.push(EngineEvent::PluginsChanged);
            }
        }
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
        }
    }

    /// Stops every plugin.
    pub fn shutdown(&mut self) {
        self.watcher = None;
        self.plugins.stop_all();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
