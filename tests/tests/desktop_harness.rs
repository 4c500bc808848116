//! The test desktop itself (`remote_service_tests::desktop`), checked against real programs:
//! a ksni tray item (`remote-service-sample-tray`, ksni being tray-icon's backend) and
//! libnotify's `notify-send`. If these pass, what the tray tests read is what a panel and a
//! notification server would.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use remote_service_tests::desktop::{Desktop, TrayItem};
use zbus::blocking::{Connection, Proxy};

/// How long a tray item may take to register (the notes measured ~23 ms for ksni).
const REGISTERS: Duration = Duration::from_secs(2);
/// How long anything else the tests wait for may take.
const SOON: Duration = Duration::from_secs(3);

/// The sample's icon colour (`COLOUR` in `src/bin/sample_tray.rs`), RGBA.
const SAMPLE_COLOUR: [u8; 4] = [0x20, 0x80, 0xe0, 0xff];

const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
const NOTIFICATIONS: &str = "org.freedesktop.Notifications";
const NOTIFICATIONS_PATH: &str = "/org/freedesktop/Notifications";

fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("output")
}

/// `remote-service-sample-tray` running on a desktop, with what it prints; ended when
/// dropped.
struct Sample {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Sample {
    fn start(desktop: &Desktop) -> Sample {
        let mut command = Command::new(env!("CARGO_BIN_EXE_remote-service-sample-tray"));
        desktop.apply_env(&mut command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start remote-service-sample-tray");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped standard output");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Sample {
            child,
            stdin,
            lines,
        }
    }

    /// Waits for the sample to print `expected`; the lines it printed before it.
    fn expect_line(&self, expected: &str) -> Result<(), Vec<String>> {
        let started = Instant::now();
        let mut before = Vec::new();
        while let Some(left) = SOON.checked_sub(started.elapsed()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line == expected => return Ok(()),
                Ok(line) => before.push(line),
                Err(_) => break,
            }
        }
        Err(before)
    }

    /// Waits for the sample to end by itself; its exit code.
    fn wait_for_exit(&mut self) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < SOON {
            if let Some(status) = self.child.try_wait().expect("sample status") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the sample did not end");
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        // Closing its standard input ends it; the kill is for a sample that hangs.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sample and waits for its item, as every tray test does.
fn sample_item(desktop: &Desktop) -> (Sample, TrayItem) {
    let sample = Sample::start(desktop);
    let item = desktop
        .wait_for_item(REGISTERS)
        .expect("the sample tray item registers with the watcher within 2 s");
    (sample, item)
}

/// A connection of another program on the desktop's bus (a panel, an application).
fn connect(desktop: &Desktop) -> Connection {
    zbus::blocking::connection::Builder::address(desktop.bus_address())
        .and_then(|builder| builder.build())
        .expect("connect to the desktop's bus")
}

fn proxy<'a>(connection: &Connection, name: &'a str, path: &'a str) -> Proxy<'a> {
    zbus::blocking::proxy::Builder::new(connection)
        .destination(name)
        .and_then(|builder| builder.path(path))
        .and_then(|builder| builder.interface(name))
        .and_then(|builder| {
            builder
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
        })
        .expect("proxy")
}

/// Each `signal` from `proxy`, as they come, on a channel (so that a test waits for one
/// with a time limit).
fn signals(proxy: &Proxy<'static>, signal: &'static str) -> mpsc::Receiver<zbus::Message> {
    let messages = proxy
        .receive_signal(signal)
        .unwrap_or_else(|error| panic!("subscribe to {signal}: {error}"));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for message in messages {
            if sender.send(message).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The next `signal` from `receiver`'s source, its arguments read as `T`.
fn next_signal<T>(receiver: &mpsc::Receiver<zbus::Message>) -> Result<T, String>
where
    T: for<'d> zbus::export::serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let message = receiver
        .recv_timeout(SOON)
        .map_err(|error| format!("no signal: {error}"))?;
    message
        .body()
        .deserialize()
        .map_err(|error| format!("signal arguments: {error}"))
}

fn registered_items(watcher: &Proxy<'_>) -> Vec<String> {
    watcher
        .get_property("RegisteredStatusNotifierItems")
        .expect("RegisteredStatusNotifierItems")
}

#[test]
fn a_tray_item_reads_as_a_panel_reads_it() {
    let desktop = Desktop::start();
    let (_sample, item) = sample_item(&desktop);

    assert_eq!(item.id(), "remote-service-sample-tray");
    assert_eq!(item.title(), "Sample tray");
    assert_eq!(item.status(), "Active");

    let pixmaps = item.icon_pixmaps();
    assert_eq!(pixmaps.len(), 1, "one icon size");
    let icon = &pixmaps[0];
    assert_eq!((icon.width, icon.height), (32, 32));
    assert_eq!(icon.pixel(16, 16), SAMPLE_COLOUR, "icon colour, RGBA");
    assert_eq!(icon.pixel(0, 0)[3], 0, "the top-left corner is transparent");
    assert_eq!(
        icon.pixel(8, 0),
        SAMPLE_COLOUR,
        "the corner is 8 pixels wide"
    );

    // The PNG is for a person to look at; read back, it has the same pixels.
    let png_path = output_dir().join("sample-tray-icon.png");
    icon.save_png(&png_path);
    let mut reader = png::Decoder::new(BufReader::new(std::fs::File::open(&png_path).unwrap()))
        .read_info()
        .expect("a PNG file");
    let mut pixels = vec![0; reader.output_buffer_size().expect("PNG size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG pixels");
    assert_eq!((frame.width, frame.height), (32, 32));
    assert_eq!(frame.color_type, png::ColorType::Rgba);
    let at = (16 * 32 + 16) * 4;
    assert_eq!(pixels[at..at + 4], SAMPLE_COLOUR);
    assert_eq!(pixels[3], 0, "transparent corner in the PNG");

    let tooltip = item.tooltip();
    assert_eq!(tooltip.title, "Sample tray");
    assert_eq!(tooltip.description, "ready");
    assert_eq!(tooltip.icon_name, "");
    assert_eq!(tooltip.icon_pixmaps.len(), 1);
    assert_eq!(tooltip.icon_pixmaps[0].pixel(0, 0), SAMPLE_COLOUR);

    let menu = item.menu();
    assert_eq!(
        menu.labels(),
        [
            "Say hello",
            "Notifications",
            "More",
            "Nested item",
            "Open log_file",
            "Disabled item",
            "Quit"
        ],
        "visible labels, mnemonic markers removed, `__` shown as `_`"
    );
    let kinds: Vec<&str> = menu
        .children
        .iter()
        .map(|child| child.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "standard",
            "standard",
            "separator",
            "standard",
            "separator",
            "standard"
        ]
    );
    let check = menu.find("Notifications").expect("the check item");
    assert_eq!(
        (check.toggle_type.as_str(), check.toggle_state),
        ("checkmark", 1)
    );
    let say_hello = menu.find("Say hello").expect("a standard item");
    assert_eq!(
        (say_hello.toggle_type.as_str(), say_hello.toggle_state),
        ("", -1)
    );
    let more = menu.find("More").expect("the submenu");
    assert_eq!(more.children.len(), 4);
    let hidden = menu
        .find("Hidden item")
        .expect("hidden items are in the tree");
    assert!(!hidden.visible && hidden.enabled);
    let disabled = menu.find("Disabled item").expect("the disabled item");
    assert!(disabled.visible && !disabled.enabled);
    assert!(menu.find("No such item").is_none());
}

#[test]
fn a_click_reaches_the_tray_item() {
    let desktop = Desktop::start();
    let (sample, item) = sample_item(&desktop);

    item.click("Say hello");
    assert_eq!(sample.expect_line("clicked _Say hello"), Ok(()));
    // The sample changes its tooltip and only signals NewToolTip: the item is read fresh.
    assert!(
        item.wait_until(SOON, |item| item.tooltip().description
            == "clicked _Say hello"),
        "tooltip after the click: {:?}",
        item.tooltip()
    );

    item.click("Nested item");
    assert_eq!(sample.expect_line("clicked Nested item"), Ok(()));

    item.click("Notifications");
    assert_eq!(sample.expect_line("clicked Notifications"), Ok(()));
    assert!(
        item.wait_until(SOON, |item| item
            .menu()
            .find("Notifications")
            .is_some_and(|check| check.toggle_state == 0)),
        "the check item is unchecked after a click"
    );
}

#[test]
#[should_panic(expected = "the menu item \"Disabled item\" is disabled")]
fn a_disabled_menu_item_cannot_be_clicked() {
    let desktop = Desktop::start();
    let (_sample, item) = sample_item(&desktop);
    item.click("Disabled item");
}

#[test]
fn the_watcher_announces_items_and_forgets_those_that_leave() {
    let desktop = Desktop::start();
    let panel = connect(&desktop);
    let watcher = proxy(&panel, WATCHER, WATCHER_PATH);
    let registered = signals(&watcher, "StatusNotifierItemRegistered");
    let unregistered = signals(&watcher, "StatusNotifierItemUnregistered");
    assert!(watcher
        .get_property::<bool>("IsStatusNotifierHostRegistered")
        .unwrap());
    assert_eq!(watcher.get_property::<i32>("ProtocolVersion").unwrap(), 0);
    assert!(registered_items(&watcher).is_empty());
    assert!(desktop.wait_for_item(Duration::from_millis(100)).is_none());

    // ksni registers with its well-known name; the watcher lists the owner's unique name.
    let (mut sample, item) = sample_item(&desktop);
    let entry = format!("{}{}", item.bus_name(), item.path());
    assert!(
        entry.starts_with(":1.") && entry.ends_with("/StatusNotifierItem"),
        "entry {entry}"
    );
    assert_eq!(next_signal::<(String,)>(&registered), Ok((entry.clone(),)));
    assert_eq!(registered_items(&watcher), std::slice::from_ref(&entry));

    // An item registered by object path is an object of the connection that registered it.
    let application = connect(&desktop);
    let application_name = application.unique_name().unwrap().to_string();
    let _: () = proxy(&application, WATCHER, WATCHER_PATH)
        .call(
            "RegisterStatusNotifierItem",
            &("/org/ayatana/NotificationItem/sample",),
        )
        .unwrap();
    let by_path = format!("{application_name}/org/ayatana/NotificationItem/sample");
    assert_eq!(
        next_signal::<(String,)>(&registered),
        Ok((by_path.clone(),))
    );
    assert_eq!(registered_items(&watcher), [entry.clone(), by_path.clone()]);
    assert_eq!(desktop.items().len(), 2);

    // Registering again announces nothing new.
    let _: () = proxy(&application, WATCHER, WATCHER_PATH)
        .call("RegisterStatusNotifierItem", &(application_name.as_str(),))
        .unwrap();
    let by_name = format!("{application_name}/StatusNotifierItem");
    assert_eq!(
        next_signal::<(String,)>(&registered),
        Ok((by_name.clone(),))
    );
    let _: () = proxy(&application, WATCHER, WATCHER_PATH)
        .call("RegisterStatusNotifierItem", &(application_name.as_str(),))
        .unwrap();
    assert_eq!(registered_items(&watcher).len(), 3);

    // Items leave with their connection.
    application.close().unwrap();
    let mut gone = vec![
        next_signal::<(String,)>(&unregistered).unwrap().0,
        next_signal::<(String,)>(&unregistered).unwrap().0,
    ];
    gone.sort();
    let mut expected = vec![by_path, by_name];
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(registered_items(&watcher), std::slice::from_ref(&entry));

    item.click("Quit");
    assert_eq!(sample.wait_for_exit(), Some(0));
    assert_eq!(next_signal::<(String,)>(&unregistered), Ok((entry,)));
    assert!(registered_items(&watcher).is_empty());
    assert!(desktop.items().is_empty());
    assert!(
        registered.try_recv().is_err(),
        "no registration announced twice"
    );
}

#[test]
fn notify_send_is_recorded_and_hears_its_action() {
    let desktop = Desktop::start();
    let mut command = Command::new("notify-send");
    desktop.apply_env(&mut command);
    let mut notify_send = command
        .args(["-a", "sample", "-u", "critical", "Summary", "Body"])
        .args(["-A", "yes=Allow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("notify-send (Debian package libnotify-bin)");

    let notification =
        desktop.wait_for_notification(SOON, |notification| notification.summary == "Summary");
    let Some(notification) = notification else {
        let _ = notify_send.kill();
        let output = notify_send.wait_with_output().unwrap();
        panic!(
            "no notification recorded; notify-send said: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert_eq!(notification.app_name, "sample");
    assert_eq!(notification.body, "Body");
    assert_eq!(
        notification.actions,
        [("yes".to_string(), "Allow".to_string())]
    );
    assert_eq!(notification.urgency, Some(2));
    assert_eq!(notification.replaces_id, 0);
    assert_eq!(notification.expire_timeout, -1);
    assert_eq!(desktop.notifications(), std::slice::from_ref(&notification));

    desktop.invoke_action(notification.id, "yes");
    let started = Instant::now();
    while notify_send.try_wait().unwrap().is_none() && started.elapsed() < SOON {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = notify_send.kill();
    let output = notify_send.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "yes\n",
        "notify-send prints the action clicked (stderr: {})",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(desktop.closed_notifications(), [notification.id]);
}

#[test]
#[should_panic(expected = "notification 1 has no action \"no\"")]
fn an_action_a_notification_does_not_offer_cannot_be_invoked() {
    let desktop = Desktop::start();
    let application = connect(&desktop);
    let notifications = proxy(&application, NOTIFICATIONS, NOTIFICATIONS_PATH);
    let id: u32 = notify(&notifications, 0, "Summary", &["yes", "Allow"]);
    desktop.invoke_action(id, "no");
}

fn notify(notifications: &Proxy<'_>, replaces_id: u32, summary: &str, actions: &[&str]) -> u32 {
    let mut hints = std::collections::HashMap::new();
    hints.insert("category", zbus::zvariant::Value::from("device"));
    hints.insert("urgency", zbus::zvariant::Value::from(0u8));
    notifications
        .call(
            "Notify",
            &(
                "app",
                replaces_id,
                "dialog-information",
                summary,
                "text",
                actions,
                hints,
                5000i32,
            ),
        )
        .expect("Notify")
}

#[test]
fn the_notification_server_answers_as_the_specification_says() {
    let desktop = Desktop::start();
    let application = connect(&desktop);
    let notifications = proxy(&application, NOTIFICATIONS, NOTIFICATIONS_PATH);
    let closed = signals(&notifications, "NotificationClosed");

    let capabilities: Vec<String> = notifications.call("GetCapabilities", &()).unwrap();
    assert_eq!(capabilities, ["actions", "body"]);
    let (name, vendor, _version, spec_version): (String, String, String, String) =
        notifications.call("GetServerInformation", &()).unwrap();
    assert_eq!(
        (name.as_str(), vendor.as_str(), spec_version.as_str()),
        ("remote-service-test-desktop", "remote-service", "1.2")
    );

    let first = notify(&notifications, 0, "First", &[]);
    let second = notify(&notifications, 0, "Second", &[]);
    assert!(second > first, "ids increase: {first}, {second}");
    assert_eq!(notify(&notifications, first, "First again", &[]), first);
    let third = notify(&notifications, 0, "Third", &[]);
    assert!(third > second);

    let recorded = desktop.notifications();
    let summaries: Vec<&str> = recorded.iter().map(|n| n.summary.as_str()).collect();
    assert_eq!(summaries, ["First", "Second", "First again", "Third"]);
    let replacing = &recorded[2];
    assert_eq!((replacing.id, replacing.replaces_id), (first, first));
    assert_eq!(replacing.app_icon, "dialog-information");
    assert_eq!(replacing.urgency, Some(0));
    assert_eq!(replacing.hints["category"], "device");
    assert_eq!(replacing.hints["urgency"], "0");
    assert_eq!(replacing.expire_timeout, 5000);

    let _: () = notifications.call("CloseNotification", &(second,)).unwrap();
    assert_eq!(
        next_signal::<(u32, u32)>(&closed),
        Ok((second, 3)),
        "NotificationClosed, reason 3: closed by CloseNotification"
    );
    assert_eq!(desktop.closed_notifications(), [second]);
}

#[test]
fn the_desktop_is_private_and_ends_with_its_drop() {
    let desktop = Desktop::start();
    let display = desktop.display().to_string();
    let number = display.strip_prefix(':').expect("display :N");
    let x_socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
    assert!(x_socket.exists(), "Xvfb listens on {}", x_socket.display());
    let runtime_dir = desktop.runtime_dir().to_path_buf();
    let mode = std::fs::metadata(&runtime_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "echo \"$DISPLAY|$DBUS_SESSION_BUS_ADDRESS|$XDG_RUNTIME_DIR|${WAYLAND_DISPLAY-none}\"",
        ])
        .env("WAYLAND_DISPLAY", "wayland-0");
    desktop.apply_env(&mut command);
    let output = command.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!(
            "{display}|{}|{}|none",
            desktop.bus_address(),
            runtime_dir.display()
        )
    );

    // The notification server owns its name from the start, and nothing is ever activated.
    let application = connect(&desktop);
    let bus = zbus::blocking::fdo::DBusProxy::new(&application).unwrap();
    assert!(bus
        .name_has_owner(NOTIFICATIONS.try_into().unwrap())
        .unwrap());
    let activatable = bus.list_activatable_names().unwrap();
    assert!(
        activatable
            .iter()
            .all(|name| name.as_str() == "org.freedesktop.DBus"),
        "activatable names: {activatable:?}"
    );
    drop(application);

    let bus_address = desktop.bus_address().to_string();
    drop(desktop);
    assert!(!x_socket.exists(), "Xvfb ended");
    assert!(!runtime_dir.exists(), "the runtime folder is removed");
    assert!(
        zbus::blocking::connection::Builder::address(bus_address.as_str())
            .and_then(|builder| builder.build())
            .is_err(),
        "the bus ended"
    );
}

#[test]
fn a_desktop_without_a_system_tray_has_no_watcher() {
    let desktop = Desktop::start_without_tray();
    let application = connect(&desktop);
    let bus = zbus::blocking::fdo::DBusProxy::new(&application).unwrap();
    assert!(!bus.name_has_owner(WATCHER.try_into().unwrap()).unwrap());
    assert!(bus
        .name_has_owner(NOTIFICATIONS.try_into().unwrap())
        .unwrap());
}
