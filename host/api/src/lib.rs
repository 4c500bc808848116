//! The contract of the Remote Service engine's local API (`docs/local-api.md`): HTTP/1.1 and
//! JSON on a Unix domain socket, served by the engine and used by the tray, the command line
//! and the windows.
//!
//! This crate is the whole contract and nothing else: the wire types ([`Status`],
//! [`ApiEvent`], [`ConfigView`], [`TestReport`], …), the endpoints ([`Endpoint`]: every
//! method and path, built and parsed in one place, each segment percent-encoded), where the
//! socket is ([`socket_path`]), and the one typed client ([`Client`]). It knows nothing of
//! the engine: the engine depends on it, never the other way round.
#![deny(missing_docs)]

mod assistance;
mod client;
mod endpoint;
mod event;
mod report;
mod socket;
mod status;

pub use assistance::{
    AllowRequest, Answer, AnswerRequest, AssistanceStatus, AuditEntry, HelpRequest, Precondition,
    RemoteSession, DEFAULT_HOURS, HOST_NOTICES, MAX_HOURS, MIN_HOURS, REQUEST_NOTICE,
};
pub use client::{Client, ClientError, Events};
pub use endpoint::{Endpoint, Unmatched};
pub use event::{ApiEvent, Notice, Urgency};
pub use report::{ProxyResolution, Step, StepOutcome, TestReport};
#[cfg(unix)]
pub use socket::distrust;
pub use socket::{client_socket, socket_path, system_service_installed, SOCKET_ENV, SYSTEM_SOCKET};
pub use status::{
    capitalised, feature_name, CommandOutcome, ConfigView, Connection, Entitlement, FailedFolder,
    FeatureSummary, InstallOutcome, Installed, LicenceCheck, LicenceSummary, LicenceUpdaterDetails,
    Light, MenuEntry, Named, PluginHealth, PluginInfo, PluginState, Status, NOT_RUNNING,
};

/// The body of `PUT /v1/config/{key}` and `PUT /v1/secrets/{name}`: `{"value": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Value {
    /// The new value.
    pub value: String,
}

/// The answer of `GET /v1/config/{key}`: `{"value": …}`, null when the setting is not set
/// and has no default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SettingValue {
    /// The value.
    pub value: Option<String>,
}

/// The body of `PUT /v1/config` and `POST /v1/config/check`: settings and their new values
/// (null: back to the default), applied together.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigChanges {
    /// Each setting's new value.
    pub settings: std::collections::BTreeMap<String, Option<String>>,
}

/// The answer of `POST /v1/config/check`: what is wrong with each setting, by key (empty
/// when all can be saved).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigCheck {
    /// The reason, by setting.
    pub errors: std::collections::BTreeMap<String, String>,
}

/// The answer of `POST /v1/licence/folder-test`: whether a licence can be written into a
/// folder, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FolderTest {
    /// Whether the folder is there, mounted and writable.
    pub ok: bool,
    /// What was found, or why not, in words.
    pub detail: String,
}

/// The body of a plugin command (`POST /v1/plugins/{plugin}/commands/{command}`):
/// `{"argument": "…"}`, whose meaning is the command's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandRequest {
    /// The command's argument (a folder for `save-failed`), empty when it takes none.
    #[serde(default)]
    pub argument: String,
}

/// The body of `POST /v1/licence/verify` and `POST /v1/licence/install`: the licence file's
/// text. The engine reads no file a caller names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LicenceText {
    /// The licence file.
    pub text: String,
}

/// An error answer: `{"error": "…"}`, with the HTTP status saying what kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong, in words for the user.
    pub error: String,
}
