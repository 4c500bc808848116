//! A headless desktop for end-to-end tests of the tray: Xvfb, a private D-Bus session bus,
//! a StatusNotifierWatcher (the part of a panel that tray items register with) and a
//! notification server that records what it receives. Tests read the tray as a panel does:
//! the StatusNotifierItem's properties and its `com.canonical.dbusmenu` menu, and click
//! its items with dbusmenu `Event`.
//!
//! No Debian package provides a headless StatusNotifierWatcher, so [`watcher`] is one (what
//! the specification asks of it). The notification server owns its name before any
//! application starts; the bus has no service folders, so nothing is ever started by D-Bus
//! activation (a real notification daemon such as dunst, a portal) behind a test's back.
//!
//! Both are served by the test process, on the threads of one zbus connection, plus one
//! thread that follows items leaving the bus. [`Desktop`]'s drop ends all of it.
//!
//! Needs the Debian packages `xvfb` and `dbus` (`tests/run` installs them).

mod item;
mod notifications;
mod watcher;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zbus::blocking::fdo::DBusProxy;
use zbus::blocking::Connection;
use zbus::names::BusName;

pub use item::{MenuNode, Pixmap, Tooltip, TrayItem};
pub use notifications::Notification;

/// The headless desktop; everything it started ends when it is dropped.
pub struct Desktop {
    /// Holds the runtime folder, the bus socket and the logs; removed last.
    _root: tempfile::TempDir,
    runtime_dir: PathBuf,
    display: String,
    bus_address: String,
    xvfb: Child,
    bus: Child,
    connection: Connection,
    items: watcher::Items,
    record: Arc<Mutex<notifications::Record>>,
    departures: Option<JoinHandle<()>>,
}

/// A bus for one desktop: the session bus's rules without its service folders, so that no
/// name is ever activated.
fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

impl Desktop {
    /// Starts Xvfb on a free display, a private session bus, a private `XDG_RUNTIME_DIR`
    /// (mode 0700), and on the bus the StatusNotifierWatcher and the notification server.
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
            .expect("scratch folder for the test desktop");
        let runtime_dir = root.path().join("run");
        fs::create_dir_all(&runtime_dir).unwrap();
        fs::set_permissions(&runtime_dir, fs::Permissions::from_mode(0o700)).unwrap();

        // -displayfd: Xvfb picks a free display and writes its number once it accepts
        // clients, so that desktops of tests running side by side never collide.
        let xvfb_log = root.path().join("xvfb.log");
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24"])
            .args(["-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&xvfb_log))
            .spawn()
            .expect("start Xvfb (Debian package xvfb)");
        let display = format!(":{}", first_line(&mut xvfb, "Xvfb", &xvfb_log));

        let config = root.path().join("bus.conf");
        fs::write(&config, bus_config(&root.path().join("bus"))).unwrap();
        let bus_log = root.path().join("bus.log");
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&bus_log))
            .spawn()
            .expect("start dbus-daemon (Debian package dbus)");
        let bus_address = first_line(&mut bus, "dbus-daemon", &bus_log);

        let items = watcher::Items::default();
        let record = Arc::new(Mutex::new(notifications::Record::default()));
        let mut builder = zbus::blocking::connection::Builder::address(bus_address.as_str())
            .and_then(|builder| {
                builder.serve_at(
                    notifications::PATH,
                    notifications::Server {
                        record: record.clone(),
                    },
                )
            })
            .and_then(|builder| builder.name(notifications::NAME))
            .expect("notification server");
        if system_tray {
            builder = builder
                .serve_at(
                    watcher::PATH,
                    watcher::Watcher {
                        items: items.clone(),
                    },
                )
                .and_then(|builder| builder.name(watcher::NAME))
                .expect("StatusNotifierWatcher");
        }
        let connection = builder
            .build()
            .unwrap_or_else(|error| panic!("connect to the private bus {bus_address}: {error}"));
        let departures = watcher::follow_departures(&connection, items.clone());
        Desktop {
            _root: root,
            runtime_dir,
            display,
            bus_address,
            xvfb,
            bus,
            connection,
            items,
            record,
            departures: Some(departures),
        }
    }

    /// Puts a child process into this desktop: its display, session bus and runtime folder,
    /// and no Wayland display (the tray must take the X11 path); GTK on X11 and no
    /// accessibility bus, as the notes on a headless session advise.
    pub fn apply_env(&self, command: &mut Command) {
        command
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
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

    /// The private `XDG_RUNTIME_DIR` (mode 0700).
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// The items registered now whose process is still on the bus, in registration order.
    /// (The watcher forgets an item when its process leaves the bus; the check here also
    /// covers the moment before it has heard of it.)
    pub fn items(&self) -> Vec<TrayItem> {
        let entries = self.items.lock().unwrap().clone();
        let bus = DBusProxy::new(&self.connection).expect("a proxy for the bus itself");
        entries
            .iter()
            .filter_map(|entry| TrayItem::new(&self.connection, entry))
            .filter(|item| {
                BusName::try_from(item.bus_name())
                    .is_ok_and(|name| bus.name_has_owner(name).unwrap_or(false))
            })
            .collect()
    }

    /// Waits until an item has registered with the watcher; the first one registered.
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
        self.record.lock().unwrap().notifications.clone()
    }

    /// Ids of the notifications closed so far (by `CloseNotification` or
    /// [`Desktop::invoke_action`]), in order.
    pub fn closed_notifications(&self) -> Vec<u32> {
        self.record.lock().unwrap().closed.clone()
    }

    /// Waits for a notification that `matching` accepts; the first such one received.
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

    /// Clicks a notification's button, as a server does: `ActionInvoked(id, action_key)`,
    /// then `NotificationClosed(id, 2)` (dismissed by the user). Panics when no notification
    /// `id` offered `action_key`, since a person could not click it.
    pub fn invoke_action(&self, id: u32, action_key: &str) {
        let offered = self
            .notifications()
            .into_iter()
            .rfind(|notification| notification.id == id)
            .unwrap_or_else(|| panic!("no notification {id}"))
            .actions;
        assert!(
            offered.iter().any(|(key, _label)| key == action_key),
            "notification {id} has no action {action_key:?}; its actions: {offered:?}"
        );
        let path = notifications::PATH;
        let interface = notifications::NAME;
        self.connection
            .emit_signal(
                None::<&str>,
                path,
                interface,
                "ActionInvoked",
                &(id, action_key),
            )
            .unwrap_or_else(|error| panic!("emit ActionInvoked: {error}"));
        if self.record.lock().unwrap().close(id) {
            let reason = notifications::CLOSED_BY_USER;
            self.connection
                .emit_signal(
                    None::<&str>,
                    path,
                    interface,
                    "NotificationClosed",
                    &(id, reason),
                )
                .unwrap_or_else(|error| panic!("emit NotificationClosed: {error}"));
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in [&mut self.bus, &mut self.xvfb] {
            terminate(child);
        }
        // The bus is gone, so the departures thread's signal stream ends; wait for it
        // briefly rather than leave it behind.
        if let Some(departures) = self.departures.take() {
            let started = Instant::now();
            while !departures.is_finished() && started.elapsed() < Duration::from_secs(1) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if departures.is_finished() {
                let _ = departures.join();
            }
        }
    }
}

/// Asks `child` to end with SIGTERM, so that Xvfb removes its lock file and socket, and
/// kills it if it has not within a second.
fn terminate(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(1) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn log_file(path: &Path) -> fs::File {
    fs::File::create(path).unwrap_or_else(|error| panic!("create {}: {error}", path.display()))
}

/// The first line `child` prints: what it says once it is ready. Panics with its log when
/// it ends without saying it.
fn first_line(child: &mut Child, program: &str, log: &Path) -> String {
    let stdout = child.stdout.take().expect("piped standard output");
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let line = line.trim().to_string();
    if line.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{program} did not start; its log:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
    }
    line
}
