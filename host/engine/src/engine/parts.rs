//! Which parts of an engine run.

/// Which parts of the engine run: a command of the command line that works without a
/// running engine starts one with only what it needs, and does nothing else (a `config`
/// command does not even read the licence folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Read the licence folder and put the newest valid licence in force; without it the
    /// licence in force is the kept copy of the last one.
    pub read_licence_folder: bool,
    /// Watch the licence folder for licences dropped into it.
    pub watch_licence_folder: bool,
    /// Load the plugins and start the licensed ones.
    pub plugins: bool,
    /// Connect to the back office (when enabled).
    pub connect: bool,
}

impl Parts {
    /// Everything: the daemon and the tray's embedded engine.
    pub const ALL: Parts = Parts {
        read_licence_folder: true,
        watch_licence_folder: true,
        plugins: true,
        connect: true,
    };
    /// The licence store, the settings and the secrets.
    pub const STORE: Parts = Parts {
        read_licence_folder: true,
        watch_licence_folder: false,
        plugins: false,
        connect: false,
    };
    /// The settings and the secrets.
    pub const SETTINGS: Parts = Parts {
        read_licence_folder: false,
        watch_licence_folder: false,
        plugins: false,
        connect: false,
    };
}
