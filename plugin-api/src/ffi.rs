//! The root module and the two trait objects that cross the plugin boundary. Plugin
//! authors do not use these directly: [`crate::Plugin`] and [`crate::export_plugin!`] wrap
//! them.
#![allow(non_camel_case_types)]

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RArc, RBox, ROption, RResult, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, sabi_trait, StableAbi};

use crate::types::{
    BackofficeAnswer, HostEvent_NE, LicenceFolders, LogLevel, MenuItem, Notice, PluginError,
    PluginManifest, PluginStatus,
};

/// The host object as a plugin holds it: shareable between the plugin's threads.
pub type HostBox = FfiHost_TO<RArc<()>>;

/// The plugin object as the host holds it, on the plugin's worker thread.
pub type PluginBox = FfiPlugin_TO<'static, RBox<()>>;

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginMod_Ref)))]
pub struct PluginMod {
    /// Describes the plugin. The only plugin code that runs while the plugin's licence
    /// option is not licensed.
    pub manifest: extern "C" fn() -> RResult<PluginManifest, PluginError>,

    /// Starts the plugin with the host object it talks to; called on the plugin's worker
    /// thread.
    ///
    /// This is the last field of the 1.0 prefix. The module is frozen as it was in 1.1:
    /// abi_stable refuses a library whose prefix types have fewer fields than the loader's,
    /// so a field added here would make every older plugin unloadable. A minor version
    /// adds a module of its own instead (see [`crate::v1_2`]).
    #[sabi(last_prefix_field)]
    pub start: extern "C" fn(host: HostBox) -> RResult<PluginBox, PluginError>,
}

impl RootModule for PluginMod_Ref {
    declare_root_module_statics! {PluginMod_Ref}
    const BASE_NAME: &'static str = "remote_service_plugin";
    const NAME: &'static str = "remote service plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// A running plugin, as seen by the host. Every method is called on the plugin's worker
/// thread and must return within the host's time limit.
#[sabi_trait]
pub trait FfiPlugin {
    /// Something happened in the host.
    fn on_event(&mut self, event: &HostEvent_NE) -> RResult<(), PluginError>;

    /// The items the plugin contributes to the tray menu now.
    fn menu_items(&mut self) -> RResult<RVec<MenuItem>, PluginError>;

    /// The user clicked the plugin's menu item `item_id`.
    fn on_menu_click(&mut self, item_id: RStr<'_>) -> RResult<(), PluginError>;

    /// The plugin's state and status line now.
    fn status(&mut self) -> RResult<PluginStatus, PluginError>;

    /// Stops the plugin: it ends its work and threads; the host calls nothing after it.
    ///
    /// This is the last method of the 1.0 prefix. The trait is frozen as it was in 1.1
    /// (a method added here would make every older plugin unloadable: abi_stable refuses a
    /// library whose vtables are shorter than the loader's); a minor version adds its own
    /// module instead (see [`crate::v1_2`]).
    #[sabi(last_prefix_field)]
    fn stop(&mut self) -> RResult<(), PluginError>;
}

/// What the host offers a plugin. The host's implementation never panics and never blocks
/// for long; it may be called from any of the plugin's threads.
#[sabi_trait]
pub trait FfiHost: Clone + Send + Sync + 'static {
    /// Writes a line into the host's log, attributed to the plugin.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Shows a notice to the user (rate-limited and merged by the host).
    fn notify(&self, notice: Notice);

    /// Whether the licence in force has the option `option` (a feature code).
    fn is_licensed(&self, option: RStr<'_>) -> bool;

    /// The verified payload JSON of the licence in force, `None` when there is none.
    fn licence_payload(&self) -> ROption<RString>;

    /// The plugin's own settings as a JSON document (`{}` when it has none yet).
    fn read_settings(&self) -> RResult<RString, PluginError>;

    /// Replaces the plugin's own settings with the JSON document `json`, atomically.
    fn write_settings(&self, json: RStr<'_>) -> RResult<(), PluginError>;

    /// Tells the host the plugin's state changed, so that the menu and the command line
    /// show it without asking.
    ///
    /// This is the last method of the 1.0 prefix; 1.1 appended the three below, with
    /// default bodies. The trait is frozen as it was in 1.1 (a method added now would make
    /// every 1.1 plugin unloadable: abi_stable refuses a library whose vtables are shorter
    /// than the loader's); a minor version adds its own module instead (see
    /// [`crate::v1_2`]).
    #[sabi(last_prefix_field)]
    fn publish_status(&self, status: PluginStatus);

    /// Since 1.1. Sends a request to the back office over the host's connection (its
    /// session, TLS settings and, later, proxy): `method` `GET` or `POST`, `path` under the
    /// back office (`/v1/licence`), `body` JSON or empty. Blocks for at most the host's
    /// request time limit. An error when there is no session (the light is not green).
    fn backoffice_request(
        &self,
        method: RStr<'_>,
        path: RStr<'_>,
        body: RStr<'_>,
    ) -> RResult<BackofficeAnswer, PluginError> {
        let _ = (method, path, body);
        RResult::RErr(PluginError::new(
            PluginError::UNSUPPORTED,
            "this Remote Service is too old to reach the back office for a plugin",
        ))
    }

    /// Since 1.1. Verifies a licence file with the host's trusted keys and its rules
    /// against the licence in force (same serial number, higher sequence): the payload JSON
    /// when it may be installed, otherwise why not.
    fn check_licence(&self, text: RStr<'_>) -> RResult<RString, PluginError> {
        let _ = text;
        RResult::RErr(PluginError::new(
            PluginError::UNSUPPORTED,
            "this Remote Service is too old to check licences for a plugin",
        ))
    }

    /// Since 1.1. The licence folders of the settings: the local `DroppedLicense` folder,
    /// and the remote one when set.
    fn licence_folders(&self) -> LicenceFolders {
        LicenceFolders {
            local: RString::new(),
            remote: ROption::RNone,
        }
    }
}
