//! What plugin API 1.2 adds: commands a front-end waits for, structured details for the
//! front-ends, and the host's one way to write a licence file.
//!
//! The types of 1.1 never change (see the crate's evolution rule); 1.2 is a module of its
//! own, which [`crate::export_plugin!`] exports under the symbol [`SYMBOL`] beside the root
//! module. A 1.2 host that finds it starts the plugin with [`Extension::start`] (the
//! plugin then also gets the host's [`FfiHost1_2`]) and sends commands with
//! [`Extension::on_command`]; a 1.1 host never looks for it and starts the plugin with the
//! root module, as before. A plugin built against 1.1 has no such symbol: a 1.2 host runs it
//! with the 1.1 calls and answers its commands "unsupported".
#![allow(non_camel_case_types)]

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RArc, RResult, RStr, RString};
use abi_stable::{declare_root_module_statics, sabi_trait, StableAbi};

use crate::ffi::{HostBox, PluginBox};
use crate::types::PluginError;

/// The exported name of the 1.2 module (a `LibHeader`, as abi_stable's root module is).
pub const SYMBOL: &str = "remote_service_plugin_api_1_2";

/// The 1.2 module a plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = Extension_Ref)))]
pub struct Extension {
    /// Starts the plugin, as [`crate::PluginMod::start`] does, with the host's 1.2 object
    /// besides; called on the plugin's worker thread instead of the root module's `start`.
    pub start:
        extern "C" fn(host: HostBox, host_1_2: Host1_2Box) -> RResult<PluginBox, PluginError>,

    /// The host asks the plugin object that [`Extension::start`] made to run its command
    /// `name` with `argument` (the command's own meaning; empty when it takes none), for a
    /// front-end that waits for the outcome. The plugin returns at once and answers later,
    /// exactly once and from any of its threads, with [`FfiHost1_2::finish_command`] and
    /// the same `id`. An error returned here refuses the command (an unknown name, a bad
    /// argument) without faulting the plugin.
    ///
    /// The last field: this module never changes either; a later minor version adds a
    /// module of its own.
    #[sabi(last_prefix_field)]
    pub on_command: extern "C" fn(
        plugin: &mut PluginBox,
        id: u64,
        name: RStr<'_>,
        argument: RStr<'_>,
    ) -> RResult<(), PluginError>,
}

impl RootModule for Extension_Ref {
    declare_root_module_statics! {Extension_Ref}
    const BASE_NAME: &'static str = "remote_service_plugin";
    const NAME: &'static str = "remote service plugin (API 1.2 module)";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// What a 1.2 host offers besides [`crate::FfiHost`]. Never panics, never blocks for long,
/// may be called from any of the plugin's threads.
#[sabi_trait]
pub trait FfiHost1_2: Clone + Send + Sync + 'static {
    /// The plugin's answer to the command `id` the host sent with
    /// [`Extension::on_command`]: what it did, in words for the user, or why it failed. An
    /// answer to an unknown or already answered `id` is ignored.
    fn finish_command(&self, id: u64, outcome: RResult<RString, PluginError>);

    /// Publishes structured data for the front-ends: a JSON document of the plugin's own
    /// documented shape (the licence updater's folders that failed), shown with the plugin
    /// by the local API. Replaces what the plugin published before.
    fn publish_details(&self, json: RStr<'_>);

    /// Installs the licence file `text` into `folder` as `<serial>.lic`, the host's one way
    /// to write a file there: the host verifies it first (trusted key, the serial number of
    /// the licence in force, not older than it), then writes a temp file it creates
    /// exclusively under an unpredictable name without following links, fsyncs it, renames
    /// it over the licence, fsyncs the folder and reads the result back. A folder that holds
    /// exactly this file already is left alone. Why not, with the code of the refusal
    /// (`already-in-force`, `downgrade`, `io`, …): the file that was there stays.
    ///
    /// The last method: this trait never changes; a later minor version adds a trait of its
    /// own.
    #[sabi(last_prefix_field)]
    fn install_licence(
        &self,
        folder: RStr<'_>,
        text: RStr<'_>,
    ) -> RResult<LicenceInstalled, PluginError>;
}

/// The host's 1.2 object as a plugin holds it: shareable between the plugin's threads.
pub type Host1_2Box = FfiHost1_2_TO<RArc<()>>;

/// What [`FfiHost1_2::install_licence`] did.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct LicenceInstalled {
    /// The licence file in the folder.
    pub path: RString,
    /// Whether it was written now (false: the folder held exactly this file already).
    pub written: bool,
}
