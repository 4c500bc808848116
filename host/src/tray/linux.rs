//! The Linux desktop: a display to attach to, and a StatusNotifierItem host (a panel's
//! StatusNotifierWatcher) on the session bus to show the icon.

use std::env;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The watcher panels own on the session bus.
const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// Whether there is a desktop session to show a tray in.
pub fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Why the tray icon cannot be seen, if it cannot: no session bus, or no panel that shows
/// StatusNotifierItems. The engine runs either way.
pub fn tray_host_problem() -> Option<String> {
    let connection = match zbus::blocking::Connection::session() {
        Ok(connection) => connection,
        Err(error) => {
            return Some(format!(
                "there is no D-Bus session bus ({error}), so no tray icon can be shown"
            ))
        }
    };
    let has_watcher = zbus::blocking::fdo::DBusProxy::new(&connection).and_then(|bus| {
        bus.name_has_owner(WATCHER.try_into().map_err(zbus::Error::from)?)
            .map_err(zbus::Error::from)
    });
    match has_watcher {
        Ok(true) => None,
        Ok(false) => Some(format!(
            "no system tray on this desktop ({WATCHER} is not on the session bus): the icon appears when a panel with a \
             system tray starts; on GNOME install the AppIndicator extension"
        )),
        Err(error) => Some(format!("cannot ask the session bus for a system tray: {error}")),
    }
}

/// Creates `dir` (and its parents) for this user only (0700) when missing.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens (or creates, 0600) the lock file `path`, without following a link planted there.
pub fn open_lock(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}
