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
//! The host opens a plugin with abi_stable's `lib_header_from_path(path)` followed by
//! `init_root_module::<PluginMod_Ref>()`. abi_stable compares the major version of this
//! crate that the plugin was built against with the host's, then the layout of every type
//! reachable from [`PluginMod`]; a plugin that differs is refused with abi_stable's report
//! and never called. Then the host calls [`PluginMod::manifest`]: it is the only plugin
//! code that runs while the licence option the plugin needs is not licensed. When the
//! option is licensed, the host calls [`PluginMod::start`] on the plugin's own worker
//! thread; every later call to the plugin object happens on that thread.
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
//! - A minor version (1.x) only *appends*: new fields of [`PluginMod`] after its
//!   `last_prefix_field`, new methods of [`FfiPlugin`] and [`FfiHost`] after their
//!   `last_prefix_field`, each with a default body, new variants of [`HostEvent`] (a
//!   non-exhaustive enum whose size is fixed), new constants of the integer-backed enums
//!   ([`PluginState`], [`LogLevel`], [`Urgency`], [`PanicStrategy`]). A plugin built
//!   against 1.0 then loads in a 1.x host and the other way round: a missing method falls
//!   back to its default body, an unknown event is ignored by the SDK.
//! - Anything else (a changed field, a removed method, a reordered variant) is a major
//!   version; abi_stable refuses to load a plugin across major versions.
//!
//! # Versions
//!
//! - 1.1: the host reaches the back office for a plugin ([`Host::backoffice_request`],
//!   over the host's session, TLS settings and proxy), checks a licence file against its
//!   trusted keys and the licence in force ([`Host::check_licence`]) and tells the licence
//!   folders ([`Host::licence_folders`]); [`HostEvent::LicenceAvailable`] when the back
//!   office announces a licence. In a 1.0 host the three methods answer "unsupported".
//! - 1.0: the first ABI.
#![deny(missing_docs)]
// abi_stable's derives put trait impls inside generated constants; that is their design,
// not something this crate can move.
#![allow(non_local_definitions)]

pub use abi_stable;

mod ffi;
mod sdk;
mod types;

pub use ffi::{
    FfiHost, FfiHost_TO, FfiPlugin, FfiPlugin_TO, HostBox, PluginBox, PluginMod, PluginMod_Ref,
};
pub use sdk::{root_module, Host, Manifest, Plugin};
pub use types::{
    BackofficeAnswer, HostEvent, HostEvent_NE, LicenceFolders, LogLevel, MenuItem, Notice,
    NoticeAction, PanicStrategy, PluginError, PluginManifest, PluginState, PluginStatus, Urgency,
};

/// The version of the plugin ABI this crate defines (the crate's own version).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

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

/// Exports a type implementing [`Plugin`] as this library's root module.
///
/// Use it once, at the root of a `cdylib` crate. It generates the symbol that abi_stable's
/// loader looks for, and entry points that wrap every call into the plugin in
/// `catch_unwind` so that a panic becomes a [`PluginError`] instead of unwinding into the
/// host.
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
