//! The stable plugin ABI of Remote Service, and the SDK that plugin authors implement.
//!
//! This crate is the only one a plugin depends on. It has no I/O: everything a plugin
//! needs from the outside world (logging, notices, licence questions, its settings) goes
//! through the [`Host`] handed to it at start.
//!
//! # Writing a plugin
//!
//! Implement [`Plugin`] on a plain Rust type and export it with [`export_plugin!`]; build
//! the crate as a `cdylib` named `remote_service_plugin_<name>` (the host only looks at
//! files named `libremote_service_plugin_*.so`, `remote_service_plugin_*.dll` or
//! `libremote_service_plugin_*.dylib`).
//!
//! ```
//! use remote_service_plugin_api::{export_plugin, Host, Manifest, Plugin, PluginError, PluginStatus};
//!
//! struct Hello {
//!     host: Host,
//! }
//!
//! impl Plugin for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest {
//!             id: "hello",
//!             version: "0.1.0",
//!             display_name: "Hello",
//!             licence_option: None,
//!             capabilities: &[],
//!         }
//!     }
//!
//!     fn start(host: Host) -> Result<Self, PluginError> {
//!         host.info("hello from the plugin");
//!         Ok(Hello { host })
//!     }
//!
//!     fn status(&mut self) -> PluginStatus {
//!         PluginStatus::ok("says hello")
//!     }
//! }
//!
//! export_plugin!(Hello);
//! # fn main() {}
//! ```
//!
//! # Loading
//!
//! The host opens a plugin with abi_stable's `RawLibrary::load_at(path)` and
//! `lib_header_from_raw_library`, then `init_root_module::<PluginMod_Ref>()`. abi_stable
//! compares the major version of this crate that the plugin was built against with the
//! host's, then the layout of every type reachable from [`PluginMod`]; a plugin that
//! differs is refused with abi_stable's report and never called. A 1.2 host then looks for
//! the 1.2 module ([`v1_2::SYMBOL`]) in the same library and checks it the same way. Then
//! the host calls [`PluginMod::manifest`]: it is the only plugin code that runs while the
//! licence option the plugin needs is not licensed. When the option is licensed, the host
//! starts the plugin on the plugin's own worker thread ([`v1_2::Extension::start`] when the
//! plugin has the 1.2 module, [`PluginMod::start`] otherwise); every later call to the
//! plugin object happens on that thread.
//!
//! Every entry point that [`export_plugin!`] generates runs the plugin's code inside
//! `catch_unwind`: a panic becomes a [`PluginError`] with code `panic` and the host marks
//! the plugin faulted. A plugin built with `panic = "abort"` could take the host down, so
//! its manifest says so ([`PanicStrategy::ABORT`]) and the host refuses it.
//!
//! # Versioning and the evolution rule
//!
//! This crate follows semantic versioning, and its version is the plugin ABI version.
//!
//! abi_stable lets the loader's types be a prefix of the library's, never the other way
//! round: a host whose [`FfiPlugin`] or [`FfiHost`] has one method more than a plugin's
//! refuses that plugin ("too many fields"). So that every 1.x host loads every plugin
//! from 1.1 on, and every 1.x plugin loads in every host from 1.1 on:
//!
//! - The types reachable from [`PluginMod`] are frozen as they were in 1.1: no field, no
//!   method, no [`HostEvent`] variant is ever added to them again. (1.1 appended methods
//!   to [`FfiHost`] and a variant to [`HostEvent`], so 1.0 plugins do not load in 1.1 and
//!   later hosts.)
//! - A minor version adds a module of its own (`v1_2`, …) with its own frozen types, which
//!   [`export_plugin!`] exports under its own symbol beside the root module. A host looks
//!   for each such module it knows; a plugin that lacks one does not get that version's
//!   calls, and a host that does not know one never looks for it. The SDK hides this: a
//!   [`Host`] call the host lacks answers "unsupported".
//! - New constants of the integer-backed enums ([`PluginState`], [`LogLevel`],
//!   [`Urgency`], [`PanicStrategy`]) are allowed in a minor version: their layout does not
//!   change, and an unknown value is shown as unknown.
//! - Anything else is a major version; abi_stable refuses to load a plugin across major
//!   versions.
//!
//! The workspace test `a_plugin_built_against_plugin_api_1_1_runs_in_this_host` loads a
//! plugin built against the 1.1.0 crate, kept unchanged in
//! `tests/fixtures/api-1-1-plugin/vendor`.
//!
//! # Versions
//!
//! - 1.2 ([`v1_2`]): commands a front-end waits for ([`Plugin::on_command`], answered
//!   with [`Command::finish`]); structured details for the front-ends
//!   ([`Host::publish_details`]); the host's one way to write a licence file
//!   ([`Host::install_licence`]). A 1.1 plugin in a 1.2 host answers every command
//!   "unsupported"; a 1.2 plugin in a 1.1 host gets "unsupported" from the 1.2 calls.
//! - 1.1: the host reaches the back office for a plugin ([`Host::backoffice_request`],
//!   over the host's session, TLS settings and proxy), checks a licence file against its
//!   trusted keys and the licence in force ([`Host::check_licence`]) and tells the licence
//!   folders ([`Host::licence_folders`]); [`HostEvent::LicenceAvailable`] when the back
//!   office announces a licence.
//! - 1.0: the first ABI.
#![deny(missing_docs)]
// abi_stable's derives put trait impls inside generated constants; that is their design,
// not something this crate can move.
#![allow(non_local_definitions)]

pub use abi_stable;

pub mod assistance;
mod ffi;
pub mod proxy;
mod sdk;
mod types;
pub mod v1_2;

pub use ffi::{
    FfiHost, FfiHost_TO, FfiPlugin, FfiPlugin_TO, HostBox, PluginBox, PluginMod, PluginMod_Ref,
};
pub use sdk::{extension_1_2, root_module, Command, Host, Manifest, Plugin};
pub use types::{
    BackofficeAnswer, HostEvent, HostEvent_NE, LicenceFolders, LogLevel, MenuItem, Notice,
    NoticeAction, PanicStrategy, PluginError, PluginManifest, PluginState, PluginStatus, Urgency,
};
pub use v1_2::LicenceInstalled;

/// The version of the plugin ABI this crate defines (the crate's own version).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The command the host sends every running plugin when a session with the back office
/// starts (the light turned green): a plugin that works with the back office can start its
/// work then instead of waiting for an announcement. Argument empty; a plugin that does not
/// know it refuses it, which is not a fault. The 1.2 command call: no ABI type changed.
pub const SESSION_STARTED: &str = "backoffice-session-started";

/// Well-known capability names a plugin lists in its manifest, so that the host and the
/// user interface know what it offers without starting it.
pub mod capability {
    /// Downloads and installs licences from the back office.
    pub const LICENCE_UPDATE: &str = "licence-update";
    /// Lets the help desk connect through TeamViewer after the user allowed it.
    pub const REMOTE_ASSISTANCE: &str = "remote-assistance";
    /// Detects the system's proxy settings.
    pub const PROXY_DETECTION: &str = "proxy-detection";
    /// Contributes items to the tray menu.
    pub const MENU: &str = "menu";
}

/// Exports a type implementing [`Plugin`] as this library's root module, and its 1.2 module.
///
/// Use it once, at the root of a `cdylib` crate. It generates the symbol that abi_stable's
/// loader looks for, the symbol of each minor version's module ([`v1_2::SYMBOL`]), and
/// entry points that wrap every call into the plugin in `catch_unwind` so that a panic
/// becomes a [`PluginError`] instead of unwinding into the host.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The abi_stable library header of this plugin (generated by `export_plugin!`).
        // The name is abi_stable 0.11's mangled root module loader name, which is what
        // `#[export_root_module]` generates; `export_plugin!` writes it out so that plugins
        // need no direct dependency on abi_stable. A unit test of the plugin API checks it
        // against `abi_stable::library::ROOT_MODULE_LOADER_NAME`.
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static REMOTE_SERVICE_PLUGIN_LIB_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn construct_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(
                    $crate::root_module::<$plugin>,
                )
            }
            // SAFETY: `construct_root_module` returns the `PluginMod_Ref` that
            // `root_module` builds, which is the module type given here.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginMod_Ref>(
                    construct_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };

        /// The plugin API 1.2 module of this plugin (generated by `export_plugin!`) under
        /// the name `remote_service_plugin_api::v1_2::SYMBOL` (`export_name` takes a
        /// literal only; the end-to-end tests of plugin commands fail if the two differ).
        #[doc(hidden)]
        #[export_name = "remote_service_plugin_api_1_2"]
        pub static REMOTE_SERVICE_PLUGIN_API_1_2: $crate::abi_stable::library::LibHeader = {
            extern "C" fn construct_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(
                    $crate::extension_1_2::<$plugin>,
                )
            }
            // SAFETY: `construct_module` returns the `v1_2::Extension_Ref` that
            // `extension_1_2` builds, which is the module type given here.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<
                    $crate::v1_2::Extension_Ref,
                >(
                    construct_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_macro_uses_the_loader_symbol_name_of_abi_stable() {
        // `export_plugin!` spells the symbol out; if abi_stable ever changes it, this fails
        // before a plugin silently becomes unloadable.
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
