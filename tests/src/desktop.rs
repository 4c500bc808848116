//! A headless desktop for end-to-end tests of the tray: Xvfb, a private D-Bus session bus,
//! a StatusNotifierWatcher (the part of a panel that tray items register with) and a
//! notification server that records what it receives. Tests read the tray as a panel does:
//! the StatusNotifierItem's properties and its `com.canonical.dbusmenu` menu, and click
//! its items with dbusmenu `Event`.
//!
//! No Debian package provides a headless StatusNotifierWatcher, so this module is one (the
//! few methods the specification asks of it); the notification server must own its name
//! before the application starts, or D-Bus would activate a real one.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// The headless desktop; everything it started ends when it is dropped.
pub struct Desktop {
    _root: tempfile::TempDir,
    runtime_dir: PathBuf,
    display: String,
    bus_address: String,
    xvfb: Child,
    bus: Child,
    connection: Connection,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    items: Vec<String>,
    notifications: Vec<Notification>,
    next_id: u32,
}

/// A notification as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The id the server gave it.
    pub id: u32,
    /// The application's name.
    pub app_name: String,
    /// The notification it replaces (0 for none).
    pub replaces_id: u32,
    /// The title.
    pub summary: String,
    /// The text.
    pub body: String,
    /// Buttons: (key, label).
    pub actions: Vec<(String, String)>,
    /// The urgency hint: 0 low, 1 normal, 2 critical.
    pub urgency: Option<u8>,
    /// How long it shows, in milliseconds (-1: the server decides).
    pub expire_timeout: i32,
}

struct Watcher {
    state: Arc<Mutex<State>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: &str, #[zbus(header)] header: Header<'_>) {
        let sender = header
            .sender()
            .map(|sender| sender.to_string())
            .unwrap_or_default();
        // A service is a bus name (its item at the usual path) or a path on the sender.
        let item = if service.starts_with('/') {
            format!("{sender}{service}")
        } else {
            format!("{service}/StatusNotifierItem")
        };
        let mut state = self.state.lock().unwrap();
        if !state.items.contains(&item) {
            state.items.push(item);
        }
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.state.lock().unwrap().items.clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

struct Notifications {
    state: Arc<Mutex<State>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
    ) -> u32 {
        let mut state = self.state.lock().unwrap();
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            state.next_id += 1;
            state.next_id
        };
        let urgency = hints
            .get("urgency")
            .and_then(|value| u8::try_from(value).ok());
        let actions = actions
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
            .collect();
        state.notifications.push(Notification {
            id,
            app_name,
            replaces_id,
            summary,
            body,
            actions,
            urgency,
            expire_timeout,
        });
        id
    }

    fn close_notification(&self, _id: u32) {}

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "remote-service-test-desktop".into(),
            "remote-service".into(),
            "1.0".into(),
            "1.2".into(),
        )
    }
}

impl Desktop {
    /// Starts Xvfb, a private session bus, the watcher and the notification server.
    pub fn start() -> Desktop {
        Desktop::start_with(true)
    }

    /// The same desktop without a system tray (no StatusNotifierWatcher), as on GNOME
    /// without the AppIndicator extension.
    pub fn start_without_tray() -> Desktop {
        Desktop::start_with(false)
    }

    fn start_with(system_tray: bool) -> Desktop {
        let root = tempfile::Builder::new()
            .prefix("remote-service-desktop-")
            .tempdir()
            .expect("scratch folder");
        let runtime_dir = root.path().join("run");
        fs::create_dir_all(&runtime_dir).unwrap();
        fs::set_permissions(&runtime_dir, fs::Permissions::from_mode(0o700)).unwrap();

        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian package xvfb)");
        let display = format!(":{}", first_line(&mut xvfb, "Xvfb's display number"));

        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:path={}",
                root.path().join("bus").display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus)");
        let bus_address = first_line(&mut bus, "the bus address");

        let state = Arc::new(Mutex::new(State::default()));
        let mut builder = zbus::blocking::connection::Builder::address(bus_address.as_str())
            .expect("bus address")
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications {
                    state: state.clone(),
                },
            )
            .expect("notifications object")
            .name("org.freedesktop.Notifications")
            .expect("notifications name");
        if system_tray {
            builder = builder
                .serve_at(
                    "/StatusNotifierWatcher",
                    Watcher {
                        state: state.clone(),
                    },
                )
                .expect("watcher object")
                .name("org.kde.StatusNotifierWatcher")
                .expect("watcher name");
        }
        let connection = builder.build().expect("connect to the private bus");
        Desktop {
            _root: root,
            runtime_dir,
            display,
            bus_address,
            xvfb,
            bus,
            connection,
            state,
        }
    }

    /// Puts a child process into this desktop: its display, bus and runtime folder.
    pub fn apply_env(&self, command: &mut Command) {
        command
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("WAYLAND_DISPLAY");
    }

    /// The X display (`:N`).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The session bus address.
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// The items registered now whose process is still on the bus.
    pub fn items(&self) -> Vec<TrayItem> {
        let items = self.state.lock().unwrap().items.clone();
        let bus = zbus::blocking::fdo::DBusProxy::new(&self.connection).expect("the bus itself");
        items
            .iter()
            .filter_map(|item| TrayItem::new(&self.connection, item))
            .filter(|item| {
                zbus::names::BusName::try_from(item.destination.as_str())
                    .is_ok_and(|name| bus.name_has_owner(name).unwrap_or(false))
            })
            .collect()
    }

    /// Waits until an item has registered with the watcher.
    pub fn wait_for_item(&self, timeout: Duration) -> Option<TrayItem> {
        let started = Instant::now();
        loop {
            if let Some(item) = self.items().into_iter().next() {
                return Some(item);
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every notification received so far, in order.
    pub fn notifications(&self) -> Vec<Notification> {
        self.state.lock().unwrap().notifications.clone()
    }

    /// Waits for a notification that `matching` accepts.
    pub fn wait_for_notification(
        &self,
        timeout: Duration,
        matching: impl Fn(&Notification) -> bool,
    ) -> Option<Notification> {
        let started = Instant::now();
        loop {
            if let Some(found) = self
                .notifications()
                .into_iter()
                .find(|notification| matching(notification))
            {
                return Some(found);
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Clicks a notification's button, as a server does: `ActionInvoked`, then
    /// `NotificationClosed` (reason 2, dismissed by the user).
    pub fn invoke_action(&self, id: u32, action_key: &str) {
        let path = "/org/freedesktop/Notifications";
        let interface = "org.freedesktop.Notifications";
        self.connection
            .emit_signal(
                None::<&str>,
                path,
                interface,
                "ActionInvoked",
                &(id, action_key),
            )
            .unwrap();
        self.connection
            .emit_signal(
                None::<&str>,
                path,
                interface,
                "NotificationClosed",
                &(id, 2u32),
            )
            .unwrap();
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in [&mut self.bus, &mut self.xvfb] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn first_line(child: &mut Child, what: &str) -> String {
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no output for {what}"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|error| panic!("reading {what}: {error}"));
    let line = line.trim().to_string();
    assert!(!line.is_empty(), "no {what}");
    line
}

/// `IconPixmap` on the bus: (width, height, ARGB bytes) for each size.
type WirePixmaps = Vec<(i32, i32, Vec<u8>)>;

/// A dbusmenu layout node on the bus: (id, properties, children).
type WireLayout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// A registered StatusNotifierItem, read fresh on every call (items signal `NewIcon` and
/// `NewToolTip`, not `PropertiesChanged`, so cached properties would be stale).
pub struct TrayItem {
    connection: Connection,
    destination: String,
    path: String,
}

/// An icon as the item sends it: ARGB32 in network byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixmap {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// The pixels, ARGB, big-endian.
    pub argb: Vec<u8>,
}

impl Pixmap {
    /// The pixel at (x, y) as RGBA.
    pub fn pixel(&self, x: i32, y: i32) -> [u8; 4] {
        let at = ((y * self.width + x) * 4) as usize;
        let argb = &self.argb[at..at + 4];
        [argb[1], argb[2], argb[3], argb[0]]
    }

    /// Saves the icon as an RGBA PNG file for a person to look at.
    pub fn save_png(&self, path: &Path) {
        let file =
            fs::File::create(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let rgba: Vec<u8> = self
            .argb
            .chunks(4)
            .flat_map(|p| [p[1], p[2], p[3], p[0]])
            .collect();
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&rgba)
            .unwrap();
    }
}

/// The item's tooltip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tooltip {
    /// An icon name, usually empty.
    pub icon_name: String,
    /// The title line.
    pub title: String,
    /// The text.
    pub description: String,
}

/// A dbusmenu item and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuNode {
    /// The item's id in the menu.
    pub id: i32,
    /// The label, without mnemonic underscores.
    pub label: String,
    /// Whether it can be clicked.
    pub enabled: bool,
    /// Whether it is shown.
    pub visible: bool,
    /// `checkmark`, `radio` or empty.
    pub toggle_type: String,
    /// 1 checked, 0 not, -1 indeterminate.
    pub toggle_state: i32,
    /// `standard` or `separator`.
    pub kind: String,
    /// Its children.
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    /// The first item below this one with `label`.
    pub fn find(&self, label: &str) -> Option<&MenuNode> {
        self.children.iter().find_map(|child| {
            if child.label == label && child.kind != "separator" {
                Some(child)
            } else {
                child.find(label)
            }
        })
    }

    /// The labels of the visible items below this one, in order (separators left out).
    pub fn labels(&self) -> Vec<String> {
        let mut labels = Vec::new();
        for child in self.children.iter().filter(|child| child.visible) {
            if child.kind != "separator" {
                labels.push(child.label.clone());
            }
            labels.extend(child.labels());
        }
        labels
    }
}

impl TrayItem {
    fn new(connection: &Connection, item: &str) -> Option<TrayItem> {
        let split = item.find('/')?;
        Some(TrayItem {
            connection: connection.clone(),
            destination: item[..split].to_string(),
            path: item[split..].to_string(),
        })
    }

    fn proxy(&self, path: &str, interface: &'static str) -> zbus::blocking::Proxy<'static> {
        zbus::blocking::proxy::Builder::new(&self.connection)
            .destination(self.destination.clone())
            .unwrap()
            .path(path.to_string())
            .unwrap()
            .interface(interface)
            .unwrap()
            .cache_properties(CacheProperties::No)
            .build()
            .expect("a proxy for the tray item")
    }

    fn property<T: TryFrom<OwnedValue>>(&self, name: &str) -> T
    where
        T::Error: Into<zbus::Error>,
    {
        self.proxy(&self.path, "org.kde.StatusNotifierItem")
            .get_property(name)
            .unwrap_or_else(|error| {
                panic!(
                    "property {name} of {}{}: {error}",
                    self.destination, self.path
                )
            })
    }

    /// The item's `Id`.
    pub fn id(&self) -> String {
        self.property("Id")
    }

    /// The item's `Title`.
    pub fn title(&self) -> String {
        self.property("Title")
    }

    /// The item's `Status` (`Active`, `Passive`, `NeedsAttention`).
    pub fn status(&self) -> String {
        self.property("Status")
    }

    /// The item's `IconPixmap`s.
    pub fn icon_pixmaps(&self) -> Vec<Pixmap> {
        let pixmaps: WirePixmaps = self.property("IconPixmap");
        pixmaps
            .into_iter()
            .map(|(width, height, argb)| Pixmap {
                width,
                height,
                argb,
            })
            .collect()
    }

    /// The item's `ToolTip`.
    pub fn tooltip(&self) -> Tooltip {
        let (icon_name, _pixmaps, title, description): (String, WirePixmaps, String, String) =
            self.property("ToolTip");
        Tooltip {
            icon_name,
            title,
            description,
        }
    }

    fn menu_path(&self) -> String {
        let path: OwnedObjectPath = self.property("Menu");
        path.to_string()
    }

    /// The menu, as `com.canonical.dbusmenu.GetLayout(0, -1, [])` gives it.
    pub fn menu(&self) -> MenuNode {
        let proxy = self.proxy(&self.menu_path(), "com.canonical.dbusmenu");
        let (_revision, layout): (u32, WireLayout) = proxy
            .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .expect("GetLayout");
        let (id, properties, children) = layout;
        menu_node(id, &properties, children.iter().map(|child| &**child))
    }

    /// Clicks the item labelled `label`, as a panel does.
    pub fn click(&self, label: &str) {
        let menu = self.menu();
        let item = menu
            .find(label)
            .unwrap_or_else(|| panic!("no menu item {label:?} in {:?}", menu.labels()));
        let proxy = self.proxy(&self.menu_path(), "com.canonical.dbusmenu");
        let timestamp = 0u32;
        let _: () = proxy
            .call("Event", &(item.id, "clicked", Value::from(0i32), timestamp))
            .expect("Event");
    }

    /// Polls until `condition` holds for the item.
    pub fn wait_until(&self, timeout: Duration, condition: impl Fn(&TrayItem) -> bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if condition(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        condition(self)
    }
}

fn menu_node<'a>(
    id: i32,
    properties: &HashMap<String, OwnedValue>,
    children: impl Iterator<Item = &'a Value<'a>>,
) -> MenuNode {
    let text = |name: &str| {
        properties
            .get(name)
            .and_then(|value| String::try_from(value.clone()).ok())
    };
    let flag = |name: &str| {
        properties
            .get(name)
            .and_then(|value| bool::try_from(&**value).ok())
            .unwrap_or(true)
    };
    MenuNode {
        id,
        label: text("label").unwrap_or_default().replace('_', ""),
        enabled: flag("enabled"),
        visible: flag("visible"),
        toggle_type: text("toggle-type").unwrap_or_default(),
        toggle_state: properties
            .get("toggle-state")
            .and_then(|value| i32::try_from(&**value).ok())
            .unwrap_or(-1),
        kind: text("type").unwrap_or_else(|| "standard".into()),
        children: children.filter_map(child_node).collect(),
    }
}

/// A child of a dbusmenu layout: a variant holding `(ia{sv}av)`.
fn child_node(value: &Value<'_>) -> Option<MenuNode> {
    let value = match value {
        Value::Value(inner) => inner.as_ref(),
        other => other,
    };
    let Value::Structure(structure) = value else {
        return None;
    };
    let fields = structure.fields();
    let id = i32::try_from(fields.first()?).ok()?;
    let properties: HashMap<String, OwnedValue> = match fields.get(1)? {
        Value::Dict(dict) => dict
            .iter()
            .filter_map(|(key, value)| {
                let key = String::try_from(key.try_clone().ok()?).ok()?;
                let value = match value {
                    Value::Value(inner) => inner.as_ref().try_clone().ok()?,
                    other => other.try_clone().ok()?,
                };
                Some((key, OwnedValue::try_from(value).ok()?))
            })
            .collect(),
        _ => HashMap::new(),
    };
    let children: Vec<&Value<'_>> = match fields.get(2)? {
        Value::Array(array) => array.iter().collect(),
        _ => Vec::new(),
    };
    Some(menu_node(id, &properties, children.into_iter()))
}
