//! A registered tray item, read and clicked as a panel does: the `org.kde.StatusNotifierItem`
//! properties and the `com.canonical.dbusmenu` menu.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const ITEM_INTERFACE: &str = "org.kde.StatusNotifierItem";
const MENU_INTERFACE: &str = "com.canonical.dbusmenu";

/// `IconPixmap` on the bus, `a(iiay)`: (width, height, ARGB bytes) for each size.
type WirePixmaps = Vec<(i32, i32, Vec<u8>)>;

/// A dbusmenu layout node on the bus, `(ia{sv}av)`: (id, properties, children).
type WireLayout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// A registered StatusNotifierItem, read fresh on every call: items signal `NewIcon` and
/// `NewToolTip`, not `PropertiesChanged`, so cached properties would be stale.
///
/// Every reading panics with the item and the property named when the item does not answer,
/// so that a test fails where the tray went wrong.
pub struct TrayItem {
    connection: Connection,
    bus_name: String,
    path: String,
}

/// An icon as the item sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixmap {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// The pixels, row by row, 4 bytes each: ARGB in network byte order, as on the bus.
    pub argb: Vec<u8>,
}

fn argb_to_rgba(argb: &[u8]) -> [u8; 4] {
    [argb[1], argb[2], argb[3], argb[0]]
}

impl Pixmap {
    /// The pixel at (`x`, `y`) as RGBA.
    pub fn pixel(&self, x: i32, y: i32) -> [u8; 4] {
        assert!(
            (0..self.width).contains(&x) && (0..self.height).contains(&y),
            "pixel ({x}, {y}) is outside the {}×{} icon",
            self.width,
            self.height
        );
        let at = ((y * self.width + x) * 4) as usize;
        let pixel = self.argb.get(at..at + 4).unwrap_or_else(|| {
            panic!(
                "the {}×{} icon has only {} bytes of pixels",
                self.width,
                self.height,
                self.argb.len()
            )
        });
        argb_to_rgba(pixel)
    }

    /// Saves the icon as an RGBA PNG file for a person to look at (the folder is made when
    /// missing).
    pub fn save_png(&self, path: &Path) {
        if let Some(folder) = path.parent() {
            fs::create_dir_all(folder)
                .unwrap_or_else(|error| panic!("make {}: {error}", folder.display()));
        }
        let file = fs::File::create(path)
            .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let rgba: Vec<u8> = self.argb.chunks_exact(4).flat_map(argb_to_rgba).collect();
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&rgba))
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }
}

/// The item's `ToolTip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tooltip {
    /// An icon name, usually empty.
    pub icon_name: String,
    /// Icons, usually none.
    pub icon_pixmaps: Vec<Pixmap>,
    /// The title line.
    pub title: String,
    /// The text.
    pub description: String,
}

/// A dbusmenu item and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuNode {
    /// The item's id in the menu (they differ between tray backends: find items by label).
    pub id: i32,
    /// The label as shown: mnemonic underscores removed, `__` shown as `_`.
    pub label: String,
    /// Whether it can be clicked.
    pub enabled: bool,
    /// Whether it is shown.
    pub visible: bool,
    /// `checkmark`, `radio` or empty.
    pub toggle_type: String,
    /// 1 checked, 0 not, -1 indeterminate or not a toggle.
    pub toggle_state: i32,
    /// `standard` or `separator`.
    pub kind: String,
    /// Its children.
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    /// The first item below this one (depth first, hidden ones too) with `label`.
    pub fn find(&self, label: &str) -> Option<&MenuNode> {
        self.children.iter().find_map(|child| {
            if child.label == label && child.kind != "separator" {
                Some(child)
            } else {
                child.find(label)
            }
        })
    }

    /// The labels of the visible items below this one, depth first, as a person reads them
    /// in the menu and its submenus (separators left out).
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

/// A dbusmenu label as shown: `_` marks the next character as the mnemonic and is not
/// shown; `__` shows one underscore.
fn shown_label(label: &str) -> String {
    let mut shown = String::with_capacity(label.len());
    let mut characters = label.chars();
    while let Some(character) = characters.next() {
        if character == '_' {
            if let Some(next) = characters.next() {
                shown.push(next);
            }
        } else {
            shown.push(character);
        }
    }
    shown
}

impl TrayItem {
    /// The item registered as `entry` (`<bus name><object path>`).
    pub(super) fn new(connection: &Connection, entry: &str) -> Option<TrayItem> {
        let split = entry.find('/')?;
        Some(TrayItem {
            connection: connection.clone(),
            bus_name: entry[..split].to_string(),
            path: entry[split..].to_string(),
        })
    }

    /// The bus name of the item's process (its unique name, `:1.N`).
    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// The item's object path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn proxy(&self, path: &str, interface: &'static str) -> zbus::blocking::Proxy<'static> {
        zbus::blocking::proxy::Builder::new(&self.connection)
            .destination(self.bus_name.clone())
            .and_then(|builder| builder.path(path.to_string()))
            .and_then(|builder| builder.interface(interface))
            .and_then(|builder| builder.cache_properties(CacheProperties::No).build())
            .unwrap_or_else(|error| panic!("a proxy for {}{path}: {error}", self.bus_name))
    }

    fn property<T: TryFrom<OwnedValue>>(&self, name: &str) -> T
    where
        T::Error: Into<zbus::Error>,
    {
        self.proxy(&self.path, ITEM_INTERFACE)
            .get_property(name)
            .unwrap_or_else(|error| {
                panic!(
                    "property {name} of the tray item {}{}: {error}",
                    self.bus_name, self.path
                )
            })
    }

    /// Activates the item as a panel does on a left click: `Activate(x, y)`.
    pub fn activate(&self) {
        let result: zbus::Result<()> = self
            .proxy(&self.path, ITEM_INTERFACE)
            .call("Activate", &(0i32, 0i32));
        if let Err(error) = result {
            panic!("Activate on the tray item: {error}");
        }
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

    /// The item's `IconPixmap`s, one for each size it offers.
    pub fn icon_pixmaps(&self) -> Vec<Pixmap> {
        pixmaps(self.property::<WirePixmaps>("IconPixmap"))
    }

    /// The item's `ToolTip`.
    pub fn tooltip(&self) -> Tooltip {
        let (icon_name, icon_pixmaps, title, description): (String, WirePixmaps, String, String) =
            self.property("ToolTip");
        Tooltip {
            icon_name,
            icon_pixmaps: pixmaps(icon_pixmaps),
            title,
            description,
        }
    }

    fn menu_proxy(&self) -> zbus::blocking::Proxy<'static> {
        let path: OwnedObjectPath = self.property("Menu");
        self.proxy(path.as_str(), MENU_INTERFACE)
    }

    /// The whole menu, as `com.canonical.dbusmenu.GetLayout(0, -1, [])` gives it; the root
    /// node has no label and holds the menu's items.
    pub fn menu(&self) -> MenuNode {
        let (_revision, layout): (u32, WireLayout) = self
            .menu_proxy()
            .call("GetLayout", &(0i32, -1i32, Vec::<String>::new()))
            .unwrap_or_else(|error| {
                panic!(
                    "GetLayout of the menu of {}{}: {error}",
                    self.bus_name, self.path
                )
            });
        let (id, properties, children) = layout;
        menu_node(id, &properties, children.iter().map(|child| &**child))
    }

    /// Clicks the item labelled `label` (as [`MenuNode::label`] shows it) as a panel does:
    /// `Event(id, "clicked", <int32 0>, 0)`. Panics when there is no such item, or when it
    /// is hidden or disabled, since a person could not click it either.
    pub fn click(&self, label: &str) {
        // The menu is rebuilt when the item's state changes; a click that raced with a
        // rebuild names an id that is gone: the panel reads the new menu and clicks again.
        for attempt in 0.. {
            let menu = self.menu();
            let item = menu
                .find(label)
                .unwrap_or_else(|| panic!("no menu item {label:?} in {:?}", menu.labels()));
            assert!(item.visible, "the menu item {label:?} is hidden");
            assert!(item.enabled, "the menu item {label:?} is disabled");
            let timestamp = 0u32;
            let result: zbus::Result<()> = self
                .menu_proxy()
                .call("Event", &(item.id, "clicked", Value::from(0i32), timestamp));
            match result {
                Ok(()) => return,
                Err(error) if error.to_string().contains("id not found") && attempt < 5 => continue,
                // An item such as Quit may end its process before it answers; a panel does
                // not wait for the answer, so that is a click like any other.
                Err(error) if is_no_reply(&error) && !self.is_on_the_bus() => return,
                Err(error) => panic!("click on the menu item {label:?}: {error}"),
            }
        }
    }

    /// Whether the item's process is still connected.
    fn is_on_the_bus(&self) -> bool {
        let bus = zbus::blocking::fdo::DBusProxy::new(&self.connection)
            .expect("a proxy for the bus itself");
        zbus::names::BusName::try_from(self.bus_name.as_str())
            .is_ok_and(|name| bus.name_has_owner(name).unwrap_or(false))
    }

    /// Polls every 10 ms until `condition` holds for the item; false if it did not within
    /// `timeout`.
    pub fn wait_until(&self, timeout: Duration, condition: impl Fn(&TrayItem) -> bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if condition(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        condition(self)
    }
}

/// The bus's answer to a call whose recipient left without replying.
fn is_no_reply(error: &zbus::Error) -> bool {
    match error {
        zbus::Error::MethodError(name, _, _) => {
            name.as_str() == "org.freedesktop.DBus.Error.NoReply"
        }
        zbus::Error::FDO(error) => matches!(**error, zbus::fdo::Error::NoReply(_)),
        _ => false,
    }
}

fn pixmaps(wire: WirePixmaps) -> Vec<Pixmap> {
    wire.into_iter()
        .map(|(width, height, argb)| Pixmap {
            width,
            height,
            argb,
        })
        .collect()
}

fn menu_node<'a>(
    id: i32,
    properties: &HashMap<String, OwnedValue>,
    children: impl Iterator<Item = &'a Value<'a>>,
) -> MenuNode {
    let text = |name: &str| {
        properties
            .get(name)
            .and_then(|value| <&str>::try_from(&**value).ok())
            .map(str::to_string)
    };
    let flag = |name: &str| {
        properties
            .get(name)
            .and_then(|value| bool::try_from(&**value).ok())
            .unwrap_or(true)
    };
    MenuNode {
        id,
        label: shown_label(&text("label").unwrap_or_default()),
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
                let key = <&str>::try_from(key).ok()?.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(label: &str, expect: &str) {
        assert_eq!(shown_label(label), expect, "label {label:?}");
    }

    #[test]
    fn mnemonic_markers_are_not_shown() {
        check("Quit", "Quit");
        check("_Quit", "Quit");
        check("Save _as…", "Save as…");
        check("log__file", "log_file");
        check("__init__", "_init_");
        check("trailing_", "trailing");
    }

    #[test]
    fn pixels_read_back_as_rgba() {
        let pixmap = Pixmap {
            width: 2,
            height: 1,
            argb: vec![0xff, 0x10, 0x20, 0x30, 0x00, 0x40, 0x50, 0x60],
        };
        assert_eq!(pixmap.pixel(0, 0), [0x10, 0x20, 0x30, 0xff]);
        assert_eq!(pixmap.pixel(1, 0), [0x40, 0x50, 0x60, 0x00]);
    }
}
