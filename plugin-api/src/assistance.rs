//! Remote assistance between the host and a plugin with the capability
//! [`crate::capability::REMOTE_ASSISTANCE`] (the TeamViewer bridge).
//!
//! The host keeps the rules: the user's consent, the time box, the record, what the back
//! office hears. The plugin drives the remote desktop program. The host sends the 1.2
//! command call (no ABI change: every 1.x host and plugin stay loadable) with one of the
//! names below and a JSON argument; the plugin answers on a thread of its own (it starts
//! programs that may hang) with the JSON document named at each command, or a
//! [`crate::PluginError`] whose `code` is one of [`errors`] and whose message says, in words
//! for the user, what is wrong and what to do.

use serde::{Deserialize, Serialize};

/// Checks the remote desktop program without changing anything: argument empty, answer
/// [`Check`].
pub const CHECK: &str = "assistance-check";

/// Assistance is allowed (or a request was accepted): make sure the program can be reached
/// — its daemon enabled and running — and read its ID. Argument [`StartRequest`], answer
/// [`Started`].
pub const START: &str = "assistance-start";

/// Assistance ended: stop what [`START`] started. Argument [`StopRequest`], answer
/// [`Stopped`].
pub const STOP: &str = "assistance-stop";

/// The `code`s of the errors the plugin answers.
pub mod errors {
    /// The program is not installed.
    pub const NOT_INSTALLED: &str = "not-installed";
    /// Its daemon cannot be enabled or started.
    pub const DAEMON_FAILED: &str = "daemon-failed";
    /// Its ID cannot be read.
    pub const NO_ID: &str = "no-id";
    /// The program did not answer within the plugin's time limit.
    pub const TIMED_OUT: &str = "timed-out";
}

/// A proxy set by hand, for the remote desktop program. Never a password: the plugin
/// cannot put one anywhere the program reads without writing it into a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualProxy {
    /// The proxy's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The user name, when the proxy asks for one.
    pub user: Option<String>,
}

/// The argument of [`START`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    /// The proxy set by hand, when the installation uses one.
    pub proxy: Option<ManualProxy>,
}

/// The answer of [`START`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The ID the help desk connects to, as the program shows it (digits, maybe grouped by
    /// spaces).
    pub id: String,
    /// Whether the plugin started the daemon (it was not running): [`STOP`] stops it then.
    pub started_daemon: bool,
    /// Whether the plugin enabled the daemon (it was disabled): [`STOP`] disables it then.
    pub enabled_daemon: bool,
    /// What the user must still do by hand, in words (setting the proxy in the program where
    /// it has no other way); empty when nothing.
    pub steps: Vec<String>,
}

/// The argument of [`STOP`]: what to undo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    /// Stop the daemon (the plugin started it).
    pub stop_daemon: bool,
    /// Disable the daemon (the plugin enabled it).
    pub disable_daemon: bool,
}

/// The answer of [`STOP`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// What was done, in words ("TeamViewer's daemon stopped", "nothing to stop").
    pub done: String,
}

/// The answer of [`CHECK`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Whether the program is installed.
    pub installed: bool,
    /// Its version, when installed and it says.
    pub version: Option<String>,
    /// Whether its daemon runs now.
    pub daemon_running: bool,
    /// Its ID, when it can be read now.
    pub id: Option<String>,
    /// One line for the user: what is there, or what is missing and what to do.
    pub detail: String,
}
