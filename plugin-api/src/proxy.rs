//! Proxy detection between the host and a plugin with the capability
//! [`crate::capability::PROXY_DETECTION`]: the host sends the command
//! [`PROXY_CANDIDATES`] with a URL as its argument (the 1.2 command call, so no ABI change
//! and every 1.x host and plugin stay loadable), and the plugin answers a
//! [`ProxyCandidates`] document, or an error the host shows when detection fails. The SDK
//! routes the command to [`crate::Plugin::proxy_candidates`].

use serde::{Deserialize, Serialize};

/// The command's name.
pub const PROXY_CANDIDATES: &str = "proxy-candidates";

/// The proxies to try for a URL, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyCandidates {
    /// Where the answer came from: `gnome`, `kde`, `env`, `sysconfig`, `pac`, `wpad`, or
    /// `none` (nothing configured: direct).
    pub source: String,
    /// The candidates, each with its scheme written out: `http://host:port`,
    /// `https://host:port`, `socks4://`, `socks4a://`, `socks5://host:port`, `direct://`.
    /// Never credentials.
    pub candidates: Vec<String>,
}
