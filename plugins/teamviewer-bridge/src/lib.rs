//! The TeamViewer bridge plugin: lets the help desk connect through TeamViewer once the
//! local user allowed it ("Allow remote assistance"), time-boxed and revocable.
//!
//! Licence option: `remote-assistance`. Driving TeamViewer arrives in its own release;
//! until then the plugin runs, and says plainly that remote assistance is not there yet.

use remote_service_plugin_api::{
    capability, export_plugin, Host, Manifest, Plugin, PluginError, PluginStatus,
};

/// The running plugin.
pub struct TeamViewerBridge {
    _host: Host,
}

impl Plugin for TeamViewerBridge {
    fn manifest() -> Manifest {
        Manifest {
            id: "teamviewer-bridge",
            version: env!("CARGO_PKG_VERSION"),
            display_name: "Remote assistance (TeamViewer)",
            licence_option: Some("remote-assistance"),
            capabilities: &[capability::REMOTE_ASSISTANCE],
        }
    }

    fn start(host: Host) -> Result<Self, PluginError> {
        Ok(TeamViewerBridge { _host: host })
    }

    fn status(&mut self) -> PluginStatus {
        PluginStatus::unavailable("remote assistance is not available in this version yet")
    }
}

export_plugin!(TeamViewerBridge);
