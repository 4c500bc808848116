//! The licence updater plugin: downloads licences from the back office, verifies them,
//! installs them into the local and remote `DroppedLicense` folders and warns before the
//! licence or the maintenance period expires.
//!
//! Licence option: `auto-licence-update`. The download and install work arrives with the
//! back office; until then the plugin runs, and says plainly that it does not update
//! licences yet.

use remote_service_plugin_api::{
    capability, export_plugin, Host, Manifest, Plugin, PluginError, PluginStatus,
};

/// The running plugin.
pub struct LicenceUpdater {
    _host: Host,
}

impl Plugin for LicenceUpdater {
    fn manifest() -> Manifest {
        Manifest {
            id: "licence-updater",
            version: env!("CARGO_PKG_VERSION"),
            display_name: "Automatic licence update",
            licence_option: Some("auto-licence-update"),
            capabilities: &[capability::LICENCE_UPDATE],
        }
    }

    fn start(host: Host) -> Result<Self, PluginError> {
        Ok(LicenceUpdater { _host: host })
    }

    fn status(&mut self) -> PluginStatus {
        PluginStatus::unavailable("automatic licence update is not available in this version yet")
    }
}

export_plugin!(LicenceUpdater);
