//! Test support, never installed: a minimal tray item made with ksni (the same backend that
//! tray-icon uses on Linux), so that the test desktop's own tests have a real
//! StatusNotifierItem and dbusmenu to read and click.
//!
//! What it shows is fixed, and `tests/tests/desktop_harness.rs` checks it:
//! - id `remote-service-sample-tray`, title `Sample tray`;
//! - one 32×32 icon of colour [`COLOUR`] whose top-left 8×8 corner is transparent;
//! - a tooltip `Sample tray` / `ready` with one 16×16 icon of the same colour;
//! - a menu: `_Say hello`, the check item `Notifications` (checked), a separator, the
//!   submenu `More` (`Nested item`, `Open log__file`, a hidden and a disabled item), a
//!   separator and `Quit`.
//!
//! A click prints `clicked <label>` on standard output, the label as given to ksni (with its
//! mnemonic markers), and that line becomes the tooltip's text.
//! `Quit` ends the process; so does the end of standard input, so that the sample never
//! outlives a test that died.

use std::io::{Read, Write};

use ksni::blocking::TrayMethods;
use ksni::menu::{CheckmarkItem, MenuItem, StandardItem, SubMenu};

/// The icon's colour, RGB: three different channels so that a reader that mixes up the byte
/// order reads another colour.
const COLOUR: [u8; 3] = [0x20, 0x80, 0xe0];

struct SampleTray {
    notifications: bool,
    tooltip_text: String,
}

impl SampleTray {
    fn clicked(&mut self, label: &str) {
        println!("clicked {label}");
        let _ = std::io::stdout().flush();
        self.tooltip_text = format!("clicked {label}");
    }
}

/// A square icon of [`COLOUR`], ARGB in network byte order, whose top-left `corner`×`corner`
/// pixels are transparent.
fn icon(size: i32, corner: i32) -> ksni::Icon {
    let [red, green, blue] = COLOUR;
    let mut data = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            if x < corner && y < corner {
                data.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                data.extend_from_slice(&[0xff, red, green, blue]);
            }
        }
    }
    ksni::Icon {
        width: size,
        height: size,
        data,
    }
}

fn standard(label: &'static str) -> MenuItem<SampleTray> {
    StandardItem {
        label: label.into(),
        activate: Box::new(move |tray: &mut SampleTray| tray.clicked(label)),
        ..Default::default()
    }
    .into()
}

impl ksni::Tray for SampleTray {
    fn id(&self) -> String {
        "remote-service-sample-tray".into()
    }

    fn title(&self) -> String {
        "Sample tray".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![icon(32, 8)]
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            icon_name: String::new(),
            icon_pixmap: vec![icon(16, 0)],
            title: "Sample tray".into(),
            description: self.tooltip_text.clone(),
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        vec![
            standard("_Say hello"),
            CheckmarkItem {
                label: "Notifications".into(),
                checked: self.notifications,
                activate: Box::new(|tray: &mut SampleTray| {
                    tray.notifications = !tray.notifications;
                    tray.clicked("Notifications");
                }),
                ..Default::default()
            }
            .into(),
            MenuItem::Separator,
            SubMenu {
                label: "More".into(),
                submenu: vec![
                    standard("Nested item"),
                    standard("Open log__file"),
                    StandardItem {
                        label: "Hidden item".into(),
                        visible: false,
                        ..Default::default()
                    }
                    .into(),
                    StandardItem {
                        label: "Disabled item".into(),
                        enabled: false,
                        ..Default::default()
                    }
                    .into(),
                ],
                ..Default::default()
            }
            .into(),
            MenuItem::Separator,
            StandardItem {
                label: "Quit".into(),
                activate: Box::new(|tray: &mut SampleTray| {
                    tray.clicked("Quit");
                    std::process::exit(0);
                }),
                ..Default::default()
            }
            .into(),
        ]
    }
}

fn main() {
    let tray = SampleTray {
        notifications: true,
        tooltip_text: "ready".into(),
    };
    let _handle = match tray.spawn() {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("remote-service-sample-tray: cannot show the tray item: {error}");
            std::process::exit(1);
        }
    };
    // Live until the test closes standard input (or dies, which closes it too).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
