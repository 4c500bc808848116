//! The host object a plugin talks to: the host's side of [`FfiHost`].

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use crossbeam_channel::Sender;
use remote_service_plugin_api::{FfiHost, LogLevel, Notice, PluginError, PluginStatus};

use crate::atomic_file::{write_atomically, Access};
use crate::licence::VerifiedLicence;

/// What plugins send the engine without being asked.
#[derive(Debug, Clone)]
pub enum PluginMessage {
    /// A plugin published a new status.
    Status {
        /// The plugin.
        plugin_id: String,
        /// Its new status.
        status: PluginStatus,
    },
    /// A plugin raised a notice for the user.
    Notice {
        /// The plugin.
        plugin_id: String,
        /// The notice.
        notice: Notice,
    },
}

/// State shared by the host objects of all plugins.
#[derive(Debug)]
pub struct HostContext {
    licence: RwLock<Option<Arc<VerifiedLicence>>>,
    messages: Sender<PluginMessage>,
    settings_dir: PathBuf,
}

impl HostContext {
    /// A context whose plugins send their messages to `messages` and keep their settings
    /// in `settings_dir/<plugin id>.json`.
    pub fn new(messages: Sender<PluginMessage>, settings_dir: PathBuf) -> Arc<HostContext> {
        Arc::new(HostContext {
            licence: RwLock::new(None),
            messages,
            settings_dir,
        })
    }

    /// Sets the licence in force that plugins see.
    pub fn set_licence(&self, licence: Option<Arc<VerifiedLicence>>) {
        *self
            .licence
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = licence;
    }

    /// The licence in force.
    pub fn licence(&self) -> Option<Arc<VerifiedLicence>> {
        self.licence
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the licence in force has the option `option`.
    pub fn is_licensed(&self, option: &str) -> bool {
        self.licence()
            .is_some_and(|licence| licence.has_feature(option))
    }
}

/// The host object handed to one plugin.
#[derive(Debug, Clone)]
pub struct HostServices {
    plugin_id: Arc<str>,
    context: Arc<HostContext>,
}

impl HostServices {
    /// The host object of plugin `plugin_id`.
    pub fn new(plugin_id: &str, context: Arc<HostContext>) -> Self {
        HostServices {
            plugin_id: plugin_id.into(),
            context,
        }
    }

    fn settings_file(&self) -> PathBuf {
        self.context
            .settings_dir
            .join(format!("{}.json", self.plugin_id))
    }

    fn save_settings(&self, json: &str) -> Result<(), String> {
        serde_json::from_str::<serde_json::Value>(json)
            .map_err(|error| format!("settings are not JSON: {error}"))?;
        let dir = &self.context.settings_dir;
        fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        write_atomically(
            dir,
            &format!("{}.json", self.plugin_id),
            json.as_bytes(),
            Access::Private,
        )
        .map_err(|error| format!("cannot save {}: {error}", self.settings_file().display()))?;
        Ok(())
    }
}

impl FfiHost for HostServices {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let plugin = &*self.plugin_id;
        let message = message.as_str();
        match level {
            LogLevel::TRACE => tracing::trace!(target: "plugin", plugin, "{message}"),
            LogLevel::DEBUG => tracing::debug!(target: "plugin", plugin, "{message}"),
            LogLevel::INFO => tracing::info!(target: "plugin", plugin, "{message}"),
            LogLevel::WARN => tracing::warn!(target: "plugin", plugin, "{message}"),
            _ => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }

    fn notify(&self, notice: Notice) {
        let _ = self.context.messages.send(PluginMessage::Notice {
            plugin_id: self.plugin_id.to_string(),
            notice,
        });
    }

    fn is_licensed(&self, option: RStr<'_>) -> bool {
        self.context.is_licensed(option.as_str())
    }

    fn licence_payload(&self) -> ROption<RString> {
        self.context
            .licence()
            .map(|licence| RString::from(licence.payload_json.clone()))
            .into()
    }

    fn read_settings(&self) -> RResult<RString, PluginError> {
        let path = self.settings_file();
        match fs::read_to_string(&path) {
            Ok(text) => RResult::ROk(text.into()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => RResult::ROk("{}".into()),
            Err(error) => RResult::RErr(PluginError::new(
                "settings",
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }

    fn write_settings(&self, json: RStr<'_>) -> RResult<(), PluginError> {
        self.save_settings(json.as_str())
            .map_err(|message| PluginError::new("settings", message))
            .into()
    }

    fn publish_status(&self, status: PluginStatus) {
        let _ = self.context.messages.send(PluginMessage::Status {
            plugin_id: self.plugin_id.to_string(),
            status,
        });
    }
}
