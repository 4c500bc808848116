//! The tray icon made and changed on the tray's (winit) thread: tray-icon's `ksni` backend
//! on Linux (a StatusNotifierItem and its dbusmenu on the session bus, served by ksni's own
//! thread; no GTK), and the native backends of Windows and macOS.

use tray_icon::TrayIcon;

use super::view::{apply, create, TrayView};

/// The tray icon.
pub struct Tray {
    icon: TrayIcon,
    shown: TrayView,
}

impl Tray {
    /// Shows `view`.
    pub fn start(view: TrayView) -> Result<Tray, String> {
        Ok(Tray {
            icon: create(&view)?,
            shown: view,
        })
    }

    /// Shows `view` instead of what is shown.
    pub fn show(&mut self, view: TrayView) {
        apply(&mut self.icon, &self.shown, &view);
        self.shown = view;
    }
}
