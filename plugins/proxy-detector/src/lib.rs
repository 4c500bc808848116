//! The proxy detector plugin: finds the system's proxy settings (environment, GNOME, KDE,
//! sysconfig, PAC, WPAD) for "Automatically detect settings".
//!
//! No licence option: it is always available. Detection arrives in its own release; until
//! then the plugin runs, and says plainly that it does not detect proxies yet.

use remote_service_plugin_api::{
    capability, export_plugin, Host, Manifest, Plugin, PluginError, PluginStatus,
};

/// The running plugin.
pub struct ProxyDetector {
    _host: Host,
}

impl Plugin for ProxyDetector {
    fn manifest() -> Manifest {
        Manifest {
            id: "proxy-detector",
            version: env!("CARGO_PKG_VERSION"),
            display_name: "Proxy detection",
            licence_option: None,
            capabilities: &[capability::PROXY_DETECTION],
        }
    }

    fn start(host: Host) -> Result<Self, PluginError> {
        Ok(ProxyDetector { _host: host })
    }

    fn status(&mut self) -> PluginStatus {
        PluginStatus::unavailable("automatic proxy detection is not available in this version yet")
    }
}

export_plugin!(ProxyDetector);
