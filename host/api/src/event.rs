//! The event stream (`GET /v1/events`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Status;

/// How urgent a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Informational.
    Low,
    /// Worth the user's attention.
    Normal,
    /// Something stopped working.
    Critical,
}

/// A notice a plugin raised for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The plugin.
    pub plugin: String,
    /// Notices with the same key replace each other.
    pub key: String,
    /// The title.
    pub summary: String,
    /// The text.
    pub body: String,
    /// How urgent it is.
    pub urgency: Urgency,
    /// Buttons: (id, label); a notice with buttons is a question whose answer goes back to
    /// the plugin (`POST /v1/plugins/{plugin}/notices/{key}/actions/{id}`).
    pub actions: Vec<(String, String)>,
}

/// Something the engine tells its clients on the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ApiEvent {
    /// The status changed (also the first event of every stream).
    Status {
        /// The new status.
        status: Box<Status>,
    },
    /// A plugin raised a notice for the user (its fields beside `event`).
    Notice(Notice),
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
