//! What the tray shows, as plain data: made on the tray's thread from the engine's status,
//! turned into a tray-icon icon and menu by the backend on whichever thread its toolkit
//! needs.

use tray_icon::menu::{CheckMenuItem, IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tray_icon::{TrayIcon, TrayIconBuilder};

use super::{IconState, TRAY_ID};

/// One line of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuLine {
    /// A plain item.
    Item {
        id: String,
        label: String,
        enabled: bool,
    },
    /// A check item.
    Check {
        id: String,
        label: String,
        enabled: bool,
        checked: bool,
    },
    /// A separator.
    Separator,
    /// A submenu of lines.
    Submenu { label: String, lines: Vec<MenuLine> },
}

/// Everything the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// The icon.
    pub icon: IconState,
    /// The tooltip.
    pub tooltip: String,
    /// The menu, top to bottom.
    pub menu: Vec<MenuLine>,
}

fn build_menu(lines: &[MenuLine]) -> Menu {
    let menu = Menu::new();
    for item in items(lines) {
        if let Err(error) = menu.append(item.as_ref()) {
            tracing::error!("cannot build the tray menu: {error}");
        }
    }
    menu
}

fn items(lines: &[MenuLine]) -> Vec<Box<dyn IsMenuItem>> {
    let mut built = Vec::new();
    for line in lines {
        let item: Box<dyn IsMenuItem> = match line {
            MenuLine::Item { id, label, enabled } => {
                Box::new(MenuItem::with_id(id.as_str(), label, *enabled, None))
            }
            MenuLine::Check {
                id,
                label,
                enabled,
                checked,
            } => Box::new(CheckMenuItem::with_id(
                id.as_str(),
                label,
                *enabled,
                *checked,
                None,
            )),
            MenuLine::Separator => Box::new(PredefinedMenuItem::separator()),
            MenuLine::Submenu { label, lines } => {
                let submenu = Submenu::new(label, true);
                for item in items(lines) {
                    if let Err(error) = submenu.append(item.as_ref()) {
                        tracing::error!("cannot build the tray menu: {error}");
                    }
                }
                Box::new(submenu)
            }
        };
        built.push(item);
    }
    built
}

/// A tray icon showing `view`.
pub fn create(view: &TrayView) -> Result<TrayIcon, String> {
    TrayIconBuilder::new()
        .with_id(TRAY_ID)
        .with_title("Remote Service")
        .with_tooltip(&view.tooltip)
        .with_icon(view.icon.icon()?)
        .with_menu(Box::new(build_menu(&view.menu)))
        .build()
        .map_err(|error| error.to_string())
}

/// Changes `tray` from showing `shown` to showing `view`.
pub fn apply(tray: &mut TrayIcon, shown: &TrayView, view: &TrayView) {
    if shown.icon != view.icon {
        match view.icon.icon() {
            Ok(icon) => {
                if let Err(error) = tray.set_icon(Some(icon)) {
                    tracing::error!("cannot change the tray icon: {error}");
                }
            }
            Err(error) => tracing::error!("cannot load the tray icon: {error}"),
        }
    }
    if shown.tooltip != view.tooltip {
        if let Err(error) = tray.set_tooltip(Some(&view.tooltip)) {
            tracing::error!("cannot change the tray tooltip: {error}");
        }
    }
    if shown.menu != view.menu {
        tray.set_menu(Some(Box::new(build_menu(&view.menu))));
    }
}
