//! The licence updater plugin: downloads licences from the back office, verifies them,
//! installs them into the local and remote `DroppedLicense` folders and warns before the
//! licence or the maintenance period expires.
//!
//! Licence option: `auto-licence-update`. The download and install work arrives with the
//! back office; until then the plugin runs, and says plainly that it does not update
//! licences yet.

use remote_service_plugin_api::{
    capability, export_plugin, Host, Manifest, MenuItem, Notice, Plugin, PluginError, PluginStatus,
};

/// The menu item that checks for a new licence at once.
const CHECK_NOW: &str = "check-now";

/// The running plugin.
pub struct LicenceUpdater {
    host: Host,
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
        Ok(LicenceUpdater { host })
    }

    fn menu_items(&mut self) -> Vec<MenuItem> {
        vec![MenuItem::new(CHECK_NOW, "Check for licence update now")]
    }

    fn on_menu_click(&mut self, item_id: &str) -> Result<(), PluginError> {
        if item_id != CHECK_NOW {
            return Err(PluginError::new(
                "unknown-menu-item",
                format!("no menu item {item_id:?}"),
            ));
        }
        // Said plainly until the download arrives with the back office.
        self.host.notify(Notice::new(
            "check-update",
            "Licence update",
            "Checking for a licence update is not available in this version yet.",
        ));
        Ok(())
    }

    fn status(&mut self) -> PluginStatus {
        PluginStatus::unavailable("automatic licence update is not available in this version yet")
    }
}

export_plugin!(LicenceUpdater);
