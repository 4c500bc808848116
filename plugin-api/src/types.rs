//! The data that crosses the plugin boundary. Every type here is `#[repr(C)]` (or a
//! `#[repr(transparent)]` integer) and derives `StableAbi`, so abi_stable can compare its
//! layout between the host and a plugin at load time.

use std::fmt;

use abi_stable::std_types::{ROption, RString, RVec};
use abi_stable::StableAbi;

/// What a plugin says about itself before any of its other code runs.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginManifest {
    /// Stable identifier, lowercase with dashes (`licence-updater`); the key of the
    /// plugin's settings.
    pub id: RString,
    /// The plugin's own version (semantic versioning).
    pub version: RString,
    /// Name shown to the user.
    pub display_name: RString,
    /// The licence option (feature code of the licence) that must be licensed before the
    /// plugin may start; `None` for a plugin that is always available.
    pub licence_option: ROption<RString>,
    /// What the plugin offers; see [`crate::capability`] for the well-known names.
    pub capabilities: RVec<RString>,
    /// How the plugin was built to handle panics.
    pub panic_strategy: PanicStrategy,
}

/// The panic strategy a plugin was compiled with.
///
/// Integer-backed so that new values can be added in a minor version.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanicStrategy(pub u8);

impl PanicStrategy {
    /// `panic = "unwind"`: the SDK catches a panic and reports it as a [`PluginError`].
    pub const UNWIND: Self = PanicStrategy(0);
    /// `panic = "abort"`: a panic would abort the whole host, so the host refuses it.
    pub const ABORT: Self = PanicStrategy(1);
}

/// An error across the plugin boundary. Plugins never unwind into the host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// Short machine-readable kind, lowercase with dashes (`panic`, `settings`, `io`).
    pub code: RString,
    /// What went wrong, for the user and the log: lowercase, no trailing period.
    pub message: RString,
}

impl PluginError {
    /// Code of the error the SDK returns when the plugin panicked.
    pub const PANIC: &'static str = "panic";

    /// Since 1.2. Code of the error that says the other side was built against an older
    /// minor version of the API, which does not have the call.
    pub const UNSUPPORTED: &'static str = "unsupported";

    /// An error with the given code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: RString::from(code.into()),
            message: RString::from(message.into()),
        }
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for PluginError {}

/// The health of a plugin's feature, shown in the menu and by `remote-service plugins`.
///
/// Integer-backed so that new states can be added in a minor version; a host that does not
/// know a state shows it as [`PluginState::ATTENTION`].
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginState(pub u8);

impl PluginState {
    /// The feature works.
    pub const OK: Self = PluginState(0);
    /// The feature is doing something that takes a while (downloading, connecting).
    pub const BUSY: Self = PluginState(1);
    /// The feature works but the user should look (an expiry soon, a failed target).
    pub const ATTENTION: Self = PluginState(2);
    /// The feature does not work; the status line says why.
    pub const ERROR: Self = PluginState(3);
    /// The feature is not available in this build or on this machine; the status line says
    /// so plainly.
    pub const UNAVAILABLE: Self = PluginState(4);

    /// The lowercase word for this state (`ok`, `busy`, `attention`, `error`,
    /// `unavailable`), `unknown` for a value this version does not know.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OK => "ok",
            Self::BUSY => "busy",
            Self::ATTENTION => "attention",
            Self::ERROR => "error",
            Self::UNAVAILABLE => "unavailable",
            _ => "unknown",
        }
    }
}

/// A plugin's state and one line for the menu and the command line.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// The state.
    pub state: PluginState,
    /// One line, in words a user understands ("licence up to date, last checked 10:42").
    pub line: RString,
}

impl PluginStatus {
    /// A status with the given state and line.
    pub fn new(state: PluginState, line: impl Into<String>) -> Self {
        PluginStatus {
            state,
            line: RString::from(line.into()),
        }
    }

    /// [`PluginState::OK`] with the given line.
    pub fn ok(line: impl Into<String>) -> Self {
        Self::new(PluginState::OK, line)
    }

    /// [`PluginState::UNAVAILABLE`] with the given line.
    pub fn unavailable(line: impl Into<String>) -> Self {
        Self::new(PluginState::UNAVAILABLE, line)
    }
}

/// An item a plugin contributes to the tray menu.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    /// Identifier handed back to the plugin when the item is clicked; unique within the
    /// plugin.
    pub id: RString,
    /// The label shown.
    pub label: RString,
    /// Whether the item can be clicked.
    pub enabled: bool,
    /// `Some` for a check item, with its state.
    pub checked: ROption<bool>,
}

impl MenuItem {
    /// An enabled plain item.
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        MenuItem {
            id: RString::from(id.into()),
            label: RString::from(label.into()),
            enabled: true,
            checked: ROption::RNone,
        }
    }
}

/// How urgent a notice is (maps to the notification server's urgency).
///
/// Integer-backed so that new values can be added in a minor version.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Urgency(pub u8);

impl Urgency {
    /// Informational.
    pub const LOW: Self = Urgency(0);
    /// Worth the user's attention.
    pub const NORMAL: Self = Urgency(1);
    /// Something stopped working.
    pub const CRITICAL: Self = Urgency(2);
}

/// A button on a notice; clicking it sends [`HostEvent::NoticeAction`] to the plugin.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct NoticeAction {
    /// Identifier handed back to the plugin.
    pub id: RString,
    /// The button's label.
    pub label: RString,
}

/// A message for the user (a balloon on the desktop).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Notices with the same key replace each other and are rate-limited together
    /// (`licence-installed`, `expiry-warning`).
    pub key: RString,
    /// The title line.
    pub summary: RString,
    /// The text.
    pub body: RString,
    /// How urgent it is.
    pub urgency: Urgency,
    /// Buttons, possibly none.
    pub actions: RVec<NoticeAction>,
}

impl Notice {
    /// A notice of normal urgency without actions.
    pub fn new(
        key: impl Into<String>,
        summary: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Notice {
            key: RString::from(key.into()),
            summary: RString::from(summary.into()),
            body: RString::from(body.into()),
            urgency: Urgency::NORMAL,
            actions: RVec::new(),
        }
    }
}

/// Severity of a log line a plugin writes into the host's log.
///
/// Integer-backed so that new values can be added in a minor version.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Very detailed.
    pub const TRACE: Self = LogLevel(0);
    /// For developers.
    pub const DEBUG: Self = LogLevel(1);
    /// Normal operation.
    pub const INFO: Self = LogLevel(2);
    /// Something unexpected that the plugin handled.
    pub const WARN: Self = LogLevel(3);
    /// Something failed.
    pub const ERROR: Self = LogLevel(4);
}

/// Something that happened in the host that a plugin may react to.
///
/// Non-exhaustive across the ABI: it crosses as [`HostEvent_NE`], whose size is fixed, so a
/// minor version can add variants. The SDK hands a plugin only the variants it knows.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
#[sabi(kind(WithNonExhaustive(size = [usize; 16], traits(Debug, Clone, PartialEq))))]
#[non_exhaustive]
pub enum HostEvent {
    /// The licence in force changed (installed, replaced); ask [`crate::Host::licence_payload`].
    LicenceChanged,
    /// The plugin's settings were changed from outside the plugin.
    SettingsChanged,
    /// The user clicked a button of a notice the plugin raised.
    NoticeAction {
        /// The key of the notice.
        notice_key: RString,
        /// The id of the action.
        action_id: RString,
    },
    /// Since 1.1. The back office announced a licence with a higher sequence for this
    /// installation.
    LicenceAvailable {
        /// Its identifier.
        licence_id: RString,
        /// Its sequence.
        sequence: u64,
    },
}

/// Since 1.1. The back office's answer to [`crate::Host::backoffice_request`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct BackofficeAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: RString,
}

/// Since 1.1. The licence folders of the settings (the documents' "license path").
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct LicenceFolders {
    /// The local Floating Licence Server's `DroppedLicense` folder.
    pub local: RString,
    /// A remote Floating Licence Server's shared `DroppedLicense` folder, when set.
    pub remote: ROption<RString>,
}
