//! The test desktop's `org.kde.StatusNotifierWatcher`: the part of a panel that tray items
//! register with. No Debian package provides one that runs without a desktop session, so
//! this is one, with what the StatusNotifierItem specification asks of a watcher.

use std::sync::{Arc, Mutex};

use zbus::blocking::fdo::DBusProxy;
use zbus::blocking::Connection;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::object_server::SignalEmitter;

/// Where the watcher is served.
pub(super) const PATH: &str = "/StatusNotifierWatcher";
/// Its well-known name and interface.
pub(super) const NAME: &str = "org.kde.StatusNotifierWatcher";

/// The path of an item registered by bus name (the specification's default).
const DEFAULT_ITEM_PATH: &str = "/StatusNotifierItem";

/// The registered items, each as `<unique bus name><object path>`, in registration order.
pub(super) type Items = Arc<Mutex<Vec<String>>>;

pub(super) struct Watcher {
    pub(super) items: Items,
}

/// The entry for `service` registered by `sender`: a path is an object of the sender; a bus
/// name is resolved to its owner's unique name, so that every entry names the connection
/// whose end removes it.
async fn item_entry(
    service: &str,
    sender: Option<&str>,
    connection: &zbus::Connection,
) -> zbus::fdo::Result<String> {
    if service.starts_with('/') {
        let sender = sender.ok_or_else(|| {
            zbus::fdo::Error::InvalidArgs(format!("no sender for the item path {service}"))
        })?;
        return Ok(format!("{sender}{service}"));
    }
    let name = BusName::try_from(service).map_err(|error| {
        zbus::fdo::Error::InvalidArgs(format!(
            "{service:?} is neither a bus name nor an object path: {error}"
        ))
    })?;
    let owner = match name {
        BusName::Unique(unique) => unique.to_string(),
        BusName::WellKnown(_) => zbus::fdo::DBusProxy::new(connection)
            .await?
            .get_name_owner(name)
            .await?
            .to_string(),
    };
    Ok(format!("{owner}{DEFAULT_ITEM_PATH}"))
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header.sender().map(|sender| sender.as_str());
        let entry = item_entry(service, sender, connection).await?;
        let is_new = {
            let mut items = self.items.lock().unwrap();
            let is_new = !items.contains(&entry);
            if is_new {
                items.push(entry.clone());
            }
            is_new
        };
        if is_new {
            Watcher::status_notifier_item_registered(&emitter, &entry).await?;
        }
        Ok(())
    }

    /// The test process is the one host; another host registering is announced as a real
    /// watcher does, and changes nothing.
    async fn register_status_notifier_host(
        &self,
        _service: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        Watcher::status_notifier_host_registered(&emitter).await?;
        Ok(())
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_item_unregistered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// Follows `NameOwnerChanged` on a thread of its own and forgets the items of every
/// connection that leaves the bus, announcing each with `StatusNotifierItemUnregistered`.
/// The thread ends when the bus does (its signal stream then ends).
pub(super) fn follow_departures(
    connection: &Connection,
    items: Items,
) -> std::thread::JoinHandle<()> {
    let bus = DBusProxy::new(connection).expect("a proxy for the bus itself");
    // Subscribed here, before any item can register, so that no departure is missed.
    let departures = bus
        .receive_name_owner_changed()
        .expect("subscribe to NameOwnerChanged");
    let connection = connection.clone();
    std::thread::Builder::new()
        .name("test desktop: tray item departures".into())
        .spawn(move || {
            for change in departures {
                let Ok(arguments) = change.args() else {
                    continue;
                };
                if arguments.new_owner().is_some() || !arguments.name().starts_with(':') {
                    continue;
                }
                let prefix = format!("{}/", arguments.name());
                let gone: Vec<String> = {
                    let mut items = items.lock().unwrap();
                    let gone = items
                        .iter()
                        .filter(|item| item.starts_with(&prefix))
                        .cloned()
                        .collect();
                    items.retain(|item| !item.starts_with(&prefix));
                    gone
                };
                for item in gone {
                    let _ = connection.emit_signal(
                        None::<&str>,
                        PATH,
                        NAME,
                        "StatusNotifierItemUnregistered",
                        &(item.as_str(),),
                    );
                }
            }
        })
        .expect("start the departures thread")
}
