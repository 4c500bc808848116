//! The tray on Linux through tray-icon's `libappindicator` backend (build with
//! `--no-default-features --features appindicator`), for desktops without a
//! StatusNotifierWatcher: libappindicator falls back to an XEmbed icon there. It needs GTK,
//! whose main loop winit does not drive: the icon lives on a GTK thread of its own, and
//! views are handed to it through GLib's main context.

use std::cell::RefCell;
use std::sync::mpsc;

use tray_icon::TrayIcon;

use super::view::{apply, create, TrayView};

thread_local! {
    /// The icon and what it shows, on the GTK thread only.
    static ICON: RefCell<Option<(TrayIcon, TrayView)>> = const { RefCell::new(None) };
}

/// The tray icon; its GTK thread runs for the rest of the process.
pub struct Tray;

impl Tray {
    /// Starts GTK on a thread of its own and shows `view` there.
    pub fn start(view: TrayView) -> Result<Tray, String> {
        let (started, result) = mpsc::channel();
        std::thread::Builder::new()
            .name("gtk tray".into())
            .spawn(move || {
                if let Err(error) = gtk::init() {
                    let _ = started.send(Err(format!("cannot start GTK: {error}")));
                    return;
                }
                match create(&view) {
                    Ok(icon) => {
                        ICON.with(|cell| *cell.borrow_mut() = Some((icon, view)));
                        let _ = started.send(Ok(()));
                        gtk::main();
                    }
                    Err(error) => {
                        let _ = started.send(Err(error));
                    }
                }
            })
            .map_err(|error| format!("cannot start the GTK thread: {error}"))?;
        result
            .recv()
            .map_err(|_| "the GTK thread ended".to_string())??;
        Ok(Tray)
    }

    /// Shows `view` instead of what is shown, on the GTK thread.
    pub fn show(&mut self, view: TrayView) {
        gtk::glib::MainContext::default().invoke(move || {
            ICON.with(|cell| {
                if let Some((icon, shown)) = cell.borrow_mut().as_mut() {
                    apply(icon, shown, &view);
                    *shown = view;
                }
            });
        });
    }
}
