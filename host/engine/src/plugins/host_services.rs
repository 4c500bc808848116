//! The host object a plugin talks to: the host's side of [`FfiHost`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use abi_stable::std_types::{ROption, RResult, RStr, RString};
use crossbeam_channel::Sender;
use remote_service_plugin_api::v1_2::{FfiHost1_2, LicenceInstalled};
use remote_service_plugin_api::{
    BackofficeAnswer, FfiHost, LicenceFolders, LogLevel, Notice, PluginError, PluginStatus,
};

use crate::atomic_file::{write_atomically, Access};
use crate::connection::Link;
use crate::licence::{check_for_install, install_into, TrustedKeys, VerifiedLicence};

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
    /// A plugin published details for the front-ends.
    Details {
        /// The plugin.
        plugin_id: String,
        /// What it published.
        details: serde_json::Value,
    },
    /// A plugin answered a command.
    CommandFinished {
        /// The plugin.
        plugin_id: String,
        /// The command's id.
        id: u64,
        /// What it did, or why it failed.
        outcome: Result<String, PluginError>,
    },
}

/// State shared by the host objects of all plugins.
#[derive(Debug)]
pub struct HostContext {
    licence: RwLock<Option<Arc<VerifiedLicence>>>,
    messages: Sender<PluginMessage>,
    settings_dir: PathBuf,
    keys: RwLock<TrustedKeys>,
    folders: RwLock<(PathBuf, Option<PathBuf>)>,
    backoffice: RwLock<Option<Link>>,
}

/// A plugin's settings file is read and written whole: at most this many bytes.
const MAX_PLUGIN_SETTINGS: u64 = 1 << 20;

impl HostContext {
    /// A context whose plugins send their messages to `messages` and keep their settings
    /// in `settings_dir/<plugin id>.json`.
    pub fn new(messages: Sender<PluginMessage>, settings_dir: PathBuf) -> Arc<HostContext> {
        Arc::new(HostContext {
            licence: RwLock::new(None),
            messages,
            settings_dir,
            keys: RwLock::new(TrustedKeys::default()),
            folders: RwLock::new((PathBuf::new(), None)),
            backoffice: RwLock::new(None),
        })
    }

    /// The keys plugins' licences are checked with.
    pub fn set_trusted_keys(&self, keys: TrustedKeys) {
        *write(&self.keys) = keys;
    }

    /// The licence folders plugins see (local, remote).
    pub fn set_licence_folders(&self, local: PathBuf, remote: Option<PathBuf>) {
        *write(&self.folders) = (local, remote);
    }

    /// The back office session plugins' requests use; `None` while there is none.
    pub fn set_backoffice(&self, link: Option<Link>) {
        *write(&self.backoffice) = link;
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
    /// Set when the plugin is faulted or stopped: a plugin that did not answer in time
    /// keeps its threads, and they must not go on acting through the host.
    revoked: Arc<AtomicBool>,
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl HostServices {
    /// The host object of plugin `plugin_id`; once `revoked` is set, every call is refused
    /// (or, for what only informs the host, ignored).
    pub fn new(plugin_id: &str, context: Arc<HostContext>, revoked: Arc<AtomicBool>) -> Self {
        HostServices {
            plugin_id: plugin_id.into(),
            context,
            revoked,
        }
    }

    fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    fn revoked_error() -> PluginError {
        PluginError::new(
            "revoked",
            "the plugin was stopped or faulted: the host no longer acts for it",
        )
    }

    fn settings_file(&self) -> PathBuf {
        self.context
            .settings_dir
            .join(format!("{}.json", self.plugin_id))
    }

    fn save_settings(&self, json: &str) -> Result<(), String> {
        if json.len() as u64 > MAX_PLUGIN_SETTINGS {
            return Err(format!(
                "settings of {} bytes are more than the {MAX_PLUGIN_SETTINGS} a plugin may keep",
                json.len()
            ));
        }
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
        if self.is_revoked() {
            return;
        }
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
        if self.is_revoked() {
            return;
        }
        let _ = self.context.messages.send(PluginMessage::Notice {
            plugin_id: self.plugin_id.to_string(),
            notice,
        });
    }

    fn is_licensed(&self, option: RStr<'_>) -> bool {
        if self.is_revoked() {
            return false;
        }
        self.context.is_licensed(option.as_str())
    }

    fn licence_payload(&self) -> ROption<RString> {
        if self.is_revoked() {
            return ROption::RNone;
        }
        self.context
            .licence()
            .map(|licence| RString::from(licence.payload_json.clone()))
            .into()
    }

    fn read_settings(&self) -> RResult<RString, PluginError> {
        if self.is_revoked() {
            return RResult::RErr(Self::revoked_error());
        }
        let path = self.settings_file();
        match crate::atomic_file::read_regular(&path, MAX_PLUGIN_SETTINGS).and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                crate::atomic_file::WriteError::new(
                    "cannot read",
                    std::io::Error::other("it is not UTF-8 text"),
                )
            })
        }) {
            Ok(text) => RResult::ROk(text.into()),
            Err(error) if error.is_not_found() => RResult::ROk("{}".into()),
            Err(error) => RResult::RErr(PluginError::new(
                "settings",
                format!("cannot read {}: {error}", path.display()),
            )),
        }
    }

    fn write_settings(&self, json: RStr<'_>) -> RResult<(), PluginError> {
        if self.is_revoked() {
            return RResult::RErr(Self::revoked_error());
        }
        self.save_settings(json.as_str())
            .map_err(|message| PluginError::new("settings", message))
            .into()
    }

    fn publish_status(&self, status: PluginStatus) {
        if self.is_revoked() {
            return;
        }
        let _ = self.context.messages.send(PluginMessage::Status {
            plugin_id: self.plugin_id.to_string(),
            status,
        });
    }

    fn backoffice_request(
        &self,
        method: RStr<'_>,
        path: RStr<'_>,
        body: RStr<'_>,
    ) -> RResult<BackofficeAnswer, PluginError> {
        if self.is_revoked() {
            return RResult::RErr(Self::revoked_error());
        }
        if let Err(refused) =
            crate::connection::backoffice::plugin_may_request(method.as_str(), path.as_str())
        {
            return RResult::RErr(PluginError::new("backoffice", refused));
        }
        let link = read(&self.context.backoffice).clone();
        let Some(link) = link else {
            return RResult::RErr(PluginError::new(
                "no-session",
                "there is no session with the back office (the light is not green)",
            ));
        };
        // The plugin's own thread waits; the request runs on the connection's runtime.
        match link.request(method.as_str(), path.as_str(), body.as_str()) {
            Ok((status, body)) => RResult::ROk(BackofficeAnswer {
                status,
                body: body.into(),
            }),
            Err(failure) => RResult::RErr(PluginError::new("backoffice", failure.reason)),
        }
    }

    fn check_licence(&self, text: RStr<'_>) -> RResult<RString, PluginError> {
        if self.is_revoked() {
            return RResult::RErr(Self::revoked_error());
        }
        let keys = read(&self.context.keys).clone();
        let in_force = self.context.licence();
        check_for_install(text.as_str().as_bytes(), &keys, in_force.as_deref())
            .map(|licence| RString::from(licence.payload_json))
            .map_err(|error| PluginError::new(error.code(), error.to_string()))
            .into()
    }

    fn licence_folders(&self) -> LicenceFolders {
        let (local, remote) = read(&self.context.folders).clone();
        LicenceFolders {
            local: local.display().to_string().into(),
            remote: remote
                .map(|folder| RString::from(folder.display().to_string()))
                .into(),
        }
    }
}

impl FfiHost1_2 for HostServices {
    fn finish_command(&self, id: u64, outcome: RResult<RString, PluginError>) {
        if self.is_revoked() {
            return;
        }
        let _ = self.context.messages.send(PluginMessage::CommandFinished {
            plugin_id: self.plugin_id.to_string(),
            id,
            outcome: outcome.into_result().map(RString::into_string),
        });
    }

    fn publish_details(&self, json: RStr<'_>) {
        if self.is_revoked() {
            return;
        }
        match serde_json::from_str(json.as_str()) {
            Ok(details) => {
                let _ = self.context.messages.send(PluginMessage::Details {
                    plugin_id: self.plugin_id.to_string(),
                    details,
                });
            }
            Err(error) => tracing::warn!(
                plugin = &*self.plugin_id,
                "the plugin published details that are not JSON: {error}"
            ),
        }
    }

    fn install_licence(
        &self,
        folder: RStr<'_>,
        text: RStr<'_>,
    ) -> RResult<LicenceInstalled, PluginError> {
        if self.is_revoked() {
            return RResult::RErr(Self::revoked_error());
        }
        let keys = read(&self.context.keys).clone();
        let in_force = self.context.licence();
        install_into(
            Path::new(folder.as_str()),
            text.as_str().as_bytes(),
            &keys,
            in_force.as_deref(),
        )
        .map(|(path, written)| LicenceInstalled {
            path: path.display().to_string().into(),
            written,
        })
        .map_err(|error| PluginError::new(error.code(), error.to_string()))
        .into()
    }
}
