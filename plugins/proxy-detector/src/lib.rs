//! The proxy detector plugin: finds the system's proxy for "Automatically detect settings"
//! (`proxy.mode auto`): KDE's and GNOME's settings, the environment, `/etc/sysconfig/proxy`
//! ([`detect`]), with the `no_proxy` rules of [`no_proxy`].
//!
//! No licence option: it is always available. The host asks it through
//! [`Plugin::proxy_candidates`]; each answer is read fresh from the system, so a change of
//! the desktop's settings counts from the next connection.

pub mod detect;
pub mod gnome;
pub mod no_proxy;
pub mod pac;

use remote_service_plugin_api::proxy::ProxyCandidates;
use remote_service_plugin_api::{
    capability, export_plugin, Host, Manifest, Plugin, PluginError, PluginStatus,
};

/// The running plugin.
pub struct ProxyDetector {
    _host: Host,
    /// The PAC scripts fetched and their engines, kept between questions.
    pac: pac::Pac,
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
        Ok(ProxyDetector {
            _host: host,
            pac: pac::Pac::default(),
        })
    }

    fn status(&mut self) -> PluginStatus {
        PluginStatus::ok(
            "detects the system's proxy (GNOME, KDE, PAC, WPAD, environment, sysconfig)",
        )
    }

    fn proxy_candidates(&mut self, url: &str) -> Result<ProxyCandidates, PluginError> {
        detect::candidates(url, &detect::Inputs::of_process(), &mut self.pac)
            .map_err(|why| PluginError::new("detection-failed", why))
    }
}

export_plugin!(ProxyDetector);
