//! What the engine shows: the light, the licence, the plugins and their menu, the settings,
//! and the answers of the licence endpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

impl Light {
    /// The light in words with its colour, as `remote-service status` prints it:
    /// `connected (green)`.
    pub fn label(self) -> &'static str {
        match self {
            Light::Green => "connected (green)",
            Light::Orange => "not connected (orange)",
            Light::Grey => "not connected (grey)",
        }
    }
}

/// The connection to the back office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The light.
    pub state: Light,
    /// Why it is not green, in words for the user.
    pub reason: Option<String>,
}

/// Why there is no light: no engine answers, and how to start one.
pub const NOT_RUNNING: &str = "the Remote Service service is not running: start it with `systemctl start remote-service` (the system service) or `remote-service tray`";

impl Connection {
    /// The light of an engine that does not run.
    pub fn not_running() -> Connection {
        Connection {
            state: Light::Grey,
            // The documents' words: "When the service is not running, the application
            // cannot connect".
            reason: Some(NOT_RUNNING.to_string()),
        }
    }

    /// The connection in one sentence, as the tray's tooltip and first menu row say it:
    /// `Connected`, `Not connected: connection refused by …`, or for grey the reason alone
    /// (`Disabled: …`), which is not a failure.
    pub fn sentence(&self) -> String {
        let state = match self.state {
            Light::Green => "Connected",
            Light::Orange | Light::Grey => "Not connected",
        };
        match &self.reason {
            Some(reason) if self.state == Light::Grey && !reason.is_empty() => capitalised(reason),
            Some(reason) if self.state == Light::Orange => format!("{state}: {reason}"),
            _ => state.to_string(),
        }
    }

    /// The sentence kept short for the first row of the tray menu (what failed, at most
    /// 72 characters): the whole reason is in the tooltip and the settings window.
    pub fn short_sentence(&self) -> String {
        const MOST: usize = 72;
        let sentence = self.sentence();
        // Orange: after "Not connected: ", up to the first explanation. Grey: whole when it
        // fits, else up to the first explanation.
        let head = match self.state {
            Light::Orange => sentence.find(": ").map_or(0, |at| at + 2),
            _ if sentence.chars().count() <= MOST => return sentence,
            _ => 0,
        };
        let cut = [" (", "; ", ": "]
            .iter()
            .filter_map(|mark| sentence[head..].find(mark).map(|at| head + at))
            .min()
            .unwrap_or(sentence.len());
        let short = &sentence[..cut];
        if short.chars().count() <= MOST {
            return short.to_string();
        }
        let mut kept: String = short.chars().take(MOST - 1).collect();
        kept.push('…');
        kept
    }
}

/// Everything the tray and `remote-service status` show (`GET /v1/status`, and the
/// `status` event).
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
    /// The menu items of the running plugins, in plugin order: pushed with the status, so
    /// that a front-end never asks the plugins for them.
    #[serde(default)]
    pub menu: Vec<MenuEntry>,
    /// Remote assistance, while the feature is there (the TeamViewer bridge installed and
    /// licensed): the menu shows it then, and only then.
    #[serde(default)]
    pub assistance: Option<crate::AssistanceStatus>,
}

/// `text` with its first letter in upper case, as a sentence or a name starts.
pub fn capitalised(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// A licence feature's name in words: the known options by their documents' names, any
/// other code with its dashes as spaces and a capital first letter.
pub fn feature_name(code: &str) -> String {
    match code {
        "auto-licence-update" => "Automatic licence update".to_string(),
        "remote-assistance" => "Remote assistance".to_string(),
        "users" => "Users".to_string(),
        other => capitalised(&other.replace(['-', '_'], " ")),
    }
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

impl LicenceSummary {
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

    /// The features in words, one each: "Automatic licence update", "Users: 25".
    pub fn features_in_words(&self) -> Vec<String> {
        self.features
            .iter()
            .map(|feature| {
                let name = feature_name(&feature.code);
                match feature.count {
                    Some(count) => format!("{name}: {count}"),
                    None => name,
                }
            })
            .collect()
    }
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

/// Where a plugin stands, as `remote-service plugins` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Started and answering.
    Running,
    /// Its licence option is not licensed; none of its code but the manifest ran.
    NotLicensed,
    /// It panicked, returned an error or did not answer in time; it is no longer called.
    Faulted,
    /// It cannot be loaded (unsafe permissions, not a library, incompatible ABI).
    Refused,
}

impl PluginState {
    /// The word shown for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::NotLicensed => "not-licensed",
            PluginState::Faulted => "faulted",
            PluginState::Refused => "refused",
        }
    }
}

/// The health a running plugin reports of its feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginHealth {
    /// The feature works.
    Ok,
    /// It is doing something that takes a while.
    Busy,
    /// It works, but the user should look (an expiry soon, a folder that failed).
    Attention,
    /// It does not work; the detail says why.
    Error,
    /// It is not available in this build or on this machine.
    Unavailable,
    /// A state of a newer plugin API that this version does not know.
    Unknown,
}

/// One plugin file and what the host knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin's id; the file name when it was refused before its manifest was read.
    pub id: String,
    /// The plugin's version, empty when unknown.
    pub version: String,
    /// The plugin API version it was built against, empty when unknown.
    pub api_version: String,
    /// Its name for the user.
    pub display_name: String,
    /// The licence option it needs.
    pub licence_option: Option<String>,
    /// Where it stands.
    pub state: PluginState,
    /// One line: its own status line while running, otherwise why it is not running.
    pub detail: String,
    /// The plugin's own health while running.
    pub status: Option<PluginHealth>,
    /// The file.
    pub path: PathBuf,
    /// Structured data the plugin publishes for the front-ends (JSON whose shape is the
    /// plugin's: see [`LicenceUpdaterDetails`]); `None` until it publishes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl PluginInfo {
    /// The name to show: the display name, or the id when it has none.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.id
        } else {
            &self.display_name
        }
    }
}

/// What the licence updater plugin (`licence-updater`) publishes as its
/// [`PluginInfo::details`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceUpdaterDetails {
    /// The folders ("Failed to update licence on:") the latest licence could not be
    /// installed in, with why; empty when it is installed everywhere.
    #[serde(default)]
    pub failed: Vec<FailedFolder>,
}

/// A folder the licence could not be installed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFolder {
    /// The folder.
    pub folder: String,
    /// Why, with the operating system's reason.
    pub reason: String,
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

/// A plugin's answer to a command (`POST /v1/plugins/{plugin}/commands/{command}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// Whether the command did what it was asked.
    pub ok: bool,
    /// What happened, in words for the user.
    pub message: String,
    /// When it failed, the plugin's error code (`folders-failed`, `no-session`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The settings by key (`GET /v1/config`); secrets only say whether they are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The settings file.
    pub file: PathBuf,
    /// Every setting's value (`None`: not set).
    pub settings: BTreeMap<String, Option<String>>,
    /// Each secret: `set`, `not set`, or why it cannot be read.
    pub secrets: BTreeMap<String, String>,
    /// Where secrets are kept.
    pub secret_store: String,
    /// The engine's log file.
    #[serde(default)]
    pub log_file: Option<PathBuf>,
    /// The engine's data folder (the record of remote assistance, kept state).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// What `POST /v1/licence/verify` found of a licence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceCheck {
    /// Whether it verifies with a trusted key and its contents are the documented ones.
    pub valid: bool,
    /// The licence, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceSummary>,
    /// Why not, when not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `POST /v1/licence/install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Installed now, or already there.
    pub outcome: InstallOutcome,
    /// The licence file in the licence folder.
    pub path: PathBuf,
    /// The licence in force.
    pub licence: LicenceSummary,
}

/// Whether an install changed the licence in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallOutcome {
    /// The licence is in force now.
    Installed,
    /// The same licence was in force already.
    AlreadyInForce,
}

/// Whether the licence in force entitles to an update released on a day
/// (`GET /v1/entitlement/{release_date}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Whether the maintenance covers the release.
    pub entitled: bool,
    /// The release date asked about (`YYYY-MM-DD`).
    pub release_date: String,
    /// The last day of maintenance of the licence in force, when there is one.
    pub maintenance_through: Option<String>,
    /// The verdict in words, naming both dates.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(state: Light, reason: Option<&str>, expect: &str) {
        let connection = Connection {
            state,
            reason: reason.map(str::to_string),
        };
        assert_eq!(connection.sentence(), expect);
    }

    #[test]
    fn the_menu_row_says_what_failed_and_stays_short() {
        let short = |state, reason: &str| {
            Connection {
                state,
                reason: Some(reason.to_string()),
            }
            .short_sentence()
        };
        assert_eq!(
            short(
                Light::Orange,
                "connection refused by 127.0.0.1:47801 (is the back office running? it did not answer on that port)"
            ),
            "Not connected: connection refused by 127.0.0.1:47801"
        );
        let long = short(Light::Orange, &"x".repeat(200));
        assert_eq!(long.chars().count(), 72);
        assert!(long.ends_with('…'));
        assert_eq!(
            short(
                Light::Grey,
                "disabled: there is no connection to the back office"
            ),
            "Disabled: there is no connection to the back office"
        );
    }

    #[test]
    fn the_light_in_one_sentence() {
        check(Light::Green, None, "Connected");
        check(
            Light::Orange,
            Some("connection refused by 127.0.0.1:1"),
            "Not connected: connection refused by 127.0.0.1:1",
        );
        check(
            Light::Grey,
            Some("disabled: there is no connection"),
            "Disabled: there is no connection",
        );
        check(Light::Grey, None, "Not connected");
        assert_eq!(
            Connection::not_running().sentence(),
            format!("T{}", &NOT_RUNNING[1..])
        );
        assert_eq!(
            Connection::not_running().short_sentence(),
            "The Remote Service service is not running"
        );
    }
}
