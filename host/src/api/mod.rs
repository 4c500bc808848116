//! The local API: HTTP/1.1 + JSON on a Unix domain socket, served by the engine (daemon or
//! the tray's embedded engine) and used by the tray and the command line through one
//! client. The endpoints are documented in `docs/local-api.md`.

pub mod client;
pub mod server;

use std::env;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::licence::VerifiedLicence;
use crate::plugins::PluginInfo;

/// Overrides the socket path.
pub const SOCKET_ENV: &str = "REMOTE_SERVICE_SOCKET";

/// The socket of the system service.
pub const SYSTEM_SOCKET: &str = "/run/remote-service/api.sock";

/// Where the engine listens: `REMOTE_SERVICE_SOCKET`, else the system socket for the
/// system service, else `$XDG_RUNTIME_DIR/remote-service/api.sock`, else a private folder
/// of the user's in the temporary folder.
pub fn socket_path(system: bool) -> Result<PathBuf> {
    if let Some(path) = env::var_os(SOCKET_ENV).filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if system {
        return Ok(PathBuf::from(SYSTEM_SOCKET));
    }
    match env::var_os("XDG_RUNTIME_DIR").filter(|value| !value.is_empty()) {
        Some(runtime_dir) => Ok(PathBuf::from(runtime_dir)
            .join("remote-service")
            .join("api.sock")),
        // No session runtime folder (a plain ssh login, a container): a private folder of
        // this user in the temporary folder; the server refuses it if anyone else owns it
        // or can write it.
        None => Ok(env::temp_dir()
            .join(format!("remote-service-{}", user_tag()))
            .join("api.sock")),
    }
}

#[cfg(unix)]
fn user_tag() -> u32 {
    crate::os::effective_user_id()
}

#[cfg(not(unix))]
fn user_tag() -> String {
    env::var("USERNAME").unwrap_or_default()
}

/// The tray light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Connected to the back office.
    Green,
    /// The connection failed; the reason says why.
    Orange,
    /// Remote Service is disabled or not running.
    Grey,
}

/// The connection to the back office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The light.
    pub state: Light,
    /// Why it is not green, in words for the user.
    pub reason: Option<String>,
}

/// Everything the tray and `remote-service status` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The connection to the back office.
    pub connection: Connection,
    /// Whether Remote Service is enabled.
    pub enabled: bool,
    /// The licence in force.
    pub licence: Option<LicenceSummary>,
    /// The licence folder (`DroppedLicense`).
    pub licence_folder: PathBuf,
    /// The plugins and their states.
    pub plugins: Vec<PluginInfo>,
    /// Why the plugin folder gave no plugins, if it could not be used.
    pub plugin_folder_problem: Option<String>,
}

/// What the user needs to know of a licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceSummary {
    /// The installation's serial number.
    pub serial_number: String,
    /// The service organisation.
    pub organisation: Named,
    /// The product.
    pub product: Named,
    /// The licence's identifier.
    pub licence_id: String,
    /// Its sequence.
    pub sequence: u64,
    /// When it was issued (RFC 3339).
    pub issued_at: String,
    /// When it ends (RFC 3339); `None` for a perpetual licence.
    pub licence_expires_at: Option<String>,
    /// The last day of maintenance (`YYYY-MM-DD`).
    pub maintenance_through: String,
    /// The licensed options.
    pub features: Vec<FeatureSummary>,
    /// The id of the key that signed it.
    pub key_id: String,
    /// Warnings (a clock problem).
    pub warnings: Vec<String>,
}

/// An identifier with a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// The identifier.
    pub id: String,
    /// The name.
    pub name: String,
}

/// A licensed option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// The option's code.
    pub code: String,
    /// How many, for counted options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl LicenceSummary {
    /// The summary of a verified licence.
    pub fn of(licence: &VerifiedLicence) -> LicenceSummary {
        let payload = &licence.payload;
        let named = |party: &crate::licence::Party| Named {
            id: party.id.clone(),
            name: party.name.clone(),
        };
        LicenceSummary {
            serial_number: payload.serial_number.clone(),
            organisation: named(&payload.organisation),
            product: named(&payload.product),
            licence_id: payload.licence_id.clone(),
            sequence: payload.sequence,
            issued_at: payload.issued_at.format(&Rfc3339).unwrap_or_default(),
            licence_expires_at: payload
                .licence_expires_at
                .map(|at| at.format(&Rfc3339).unwrap_or_default()),
            maintenance_through: payload.maintenance_through.to_string(),
            features: payload
                .features
                .iter()
                .map(|feature| FeatureSummary {
                    code: feature.code.clone(),
                    count: feature.count,
                })
                .collect(),
            key_id: licence.key_id.clone(),
            warnings: licence.warnings.clone(),
        }
    }

    /// The licensed options in words: `auto-licence-update, users (25)`.
    pub fn features_text(&self) -> String {
        if self.features.is_empty() {
            return "none".to_string();
        }
        let features: Vec<String> = self
            .features
            .iter()
            .map(|feature| match feature.count {
                Some(count) => format!("{} ({count})", feature.code),
                None => feature.code.clone(),
            })
            .collect();
        features.join(", ")
    }
}

/// A menu item a running plugin contributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuEntry {
    /// The plugin.
    pub plugin: String,
    /// The item's id within the plugin.
    pub id: String,
    /// The label.
    pub label: String,
    /// Whether it can be clicked.
    pub enabled: bool,
    /// For a check item, its state.
    pub checked: Option<bool>,
}

/// Something the engine tells its clients on the event stream (`GET /v1/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ApiEvent {
    /// The status changed (also the first event of every stream).
    Status {
        /// The new status.
        status: Box<Status>,
    },
    /// A plugin raised a notice for the user.
    Notice {
        /// The plugin.
        plugin: String,
        /// Notices with the same key replace each other.
        key: String,
        /// The title.
        summary: String,
        /// The text.
        body: String,
        /// `low`, `normal` or `critical`.
        urgency: String,
        /// Buttons: (id, label).
        actions: Vec<(String, String)>,
    },
    /// A licence file was refused; the licence in force stays.
    LicenceRefused {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A warning about the licence in force.
    LicenceWarning {
        /// The warning.
        warning: String,
    },
    /// A setting or a secret changed (read `GET /v1/config` for the values).
    ConfigChanged,
}

/// The settings by key (`GET /v1/config`); secrets only say whether they are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The settings file.
    pub file: PathBuf,
    /// Every setting's value (`None`: not set).
    pub settings: std::collections::BTreeMap<String, Option<String>>,
    /// Each secret: `set`, `not set`, or why it cannot be read.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Where secrets are kept.
    pub secret_store: String,
}
