//! The tray as a desktop panel and a person see it: a headless X server, a private D-Bus
//! session, a StatusNotifierWatcher and a recording notification server (see
//! `remote_service_tests::desktop`), and the real `remote-service tray`.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use remote_service_tests::desktop::{Desktop, TrayItem};
use remote_service_tests::{PayloadBuilder, Scratch};

const SOON: Duration = Duration::from_secs(5);

/// A tray started in a scratch installation on a desktop.
struct Session {
    desktop: Desktop,
    scratch: Scratch,
    tray: Child,
}

impl Session {
    fn start() -> Session {
        Session::start_with(Scratch::new())
    }

    fn start_with(scratch: Scratch) -> Session {
        let desktop = Desktop::start();
        let tray = spawn_tray(&desktop, &scratch);
        Session {
            desktop,
            scratch,
            tray,
        }
    }

    /// Waits for the tray to end and returns how it ended.
    fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        remote_service_tests::exit_of(&mut self.tray, SOON, "the tray")
    }

    fn item(&self) -> TrayItem {
        self.desktop
            .wait_for_item(SOON)
            .expect("the tray item registers with the watcher")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The tray and what it started (the About box is a process of its own).
        let started = remote_service_tests::process_tree(self.tray.id());
        let _ = self.tray.kill();
        let _ = self.tray.wait();
        for pid in started.into_iter().skip(1) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn spawn_tray(desktop: &Desktop, scratch: &Scratch) -> Child {
    scratch
        .tray_command(desktop)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start remote-service tray")
}

#[test]
fn the_tray_shows_the_grey_light_with_its_reason_in_the_tooltip_and_the_menu() {
    let session = Session::start();
    let item = session.item();
    assert_eq!(item.id(), "remote-service");
    assert_eq!(item.title(), "Remote Service");
    let reason = "Disabled: there is no connection to the remote service back office";
    assert!(item.wait_until(SOON, |item| item.tooltip().description
        == format!("Remote Service: {reason}")));

    let menu = item.menu();
    assert_eq!(
        menu.labels(),
        vec![
            reason,
            "Enable Remote Service",
            "Test connection",
            "Settings…",
            "Start at login",
            "About…",
            "Quit"
        ]
    );
    assert!(
        !menu.find(reason).unwrap().enabled,
        "the status row is not clickable"
    );

    // Grey ring with a bar: the bar's middle is grey, inside the ring it is transparent.
    let pixmaps = item.icon_pixmaps();
    let icon = &pixmaps[0];
    assert_eq!((icon.width, icon.height), (32, 32));
    let [r, g, b, a] = icon.pixel(16, 16);
    assert!(
        a > 200 && r.abs_diff(0x7a) < 12 && g.abs_diff(0x7a) < 12 && b.abs_diff(0x7a) < 12,
        "bar pixel {:?}",
        (r, g, b, a)
    );
    assert!(
        icon.pixel(16, 8)[3] < 30,
        "inside the ring is transparent: {:?}",
        icon.pixel(16, 8)
    );
    icon.save_png(&remote_service_tests::output_path("tray-grey.png"));

    // One click enables it: the light leaves grey and says what is missing next.
    item.click("Enable Remote Service");
    assert!(
        item.wait_until(SOON, |item| item
            .tooltip()
            .description
            .starts_with("Remote Service: Not connected: ")),
        "{:?}",
        item.tooltip()
    );
    assert!(
        !item
            .menu()
            .labels()
            .contains(&"Enable Remote Service".to_string()),
        "{:?}",
        item.menu().labels()
    );
}

#[test]
fn a_licence_adds_the_updaters_menu_item_and_clicking_it_shows_the_plugins_notice() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let session = Session::start_with(scratch);
    let item = session.item();
    let payload = PayloadBuilder::new("RS-4444", 1).feature("auto-licence-update");
    let licence = session.scratch.licence_file(&key, &payload, "l.lic");
    fs::copy(
        &licence,
        session.scratch.licence_folder().join("RS-4444.lic"),
    )
    .unwrap();

    assert!(
        item.wait_until(SOON, |item| item
            .menu()
            .find("Check for licence update now")
            .is_some()),
        "the plugin's item appears: {:?}",
        item.menu().labels()
    );

    item.click("Check for licence update now");
    let notice = session
        .desktop
        .wait_for_notification(SOON, |notice| notice.summary == "Licence update")
        .expect("the plugin's notice");
    assert_eq!(notice.app_name, "Remote Service");
    assert_eq!(
        notice.body,
        "Cannot reach the back office: there is no session with the back office (the light is not green)"
    );
}

#[test]
fn a_refused_licence_and_a_faulted_plugin_raise_notices() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    scratch.write_plugin_settings("misbehaving", r#"{"at": "click", "does": "panic"}"#);
    let session = Session::start_with(scratch);
    let item = session.item();

    fs::write(
        session.scratch.licence_folder().join("garbage.lic"),
        "not a licence",
    )
    .unwrap();
    let refused = session
        .desktop
        .wait_for_notification(SOON, |notice| notice.summary == "Licence refused")
        .expect("a notice for the refused licence");
    assert!(
        refused.body.starts_with("garbage.lic: not a remote service licence: no -----BEGIN REMOTE SERVICE LICENCE----- line"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.ends_with("The licence in force stays."),
        "{}",
        refused.body
    );

    assert!(item.wait_until(SOON, |item| item.menu().find("Misbehave").is_some()));
    item.click("Misbehave");
    let faulted = session
        .desktop
        .wait_for_notification(SOON, |notice| {
            notice.summary == "Misbehaving test plugin stopped working"
        })
        .expect("a notice for the faulted plugin");
    assert!(
        faulted.body.contains("anicked while handling a menu click"),
        "{}",
        faulted.body
    );
    assert_eq!(faulted.urgency, Some(2));
    assert!(
        item.wait_until(SOON, |item| item.menu().find("Misbehave").is_none()),
        "its items are gone"
    );
}

#[test]
fn quit_ends_the_tray_and_its_embedded_engine() {
    let mut session = Session::start();
    let item = session.item();
    session.scratch.run(&["status"]).success();
    item.click("Quit");
    let status = session.wait_for_exit();
    assert!(status.success());
    assert!(
        !session.scratch.socket().exists(),
        "the embedded engine removed its socket"
    );
    assert_eq!(session.scratch.run(&["status"]).code, Some(1));
}

#[test]
fn the_tray_attaches_to_a_running_daemon_and_leaves_it_running() {
    let scratch = Scratch::new();
    let _daemon = scratch.start_daemon();
    let mut session = Session::start_with(scratch);
    session.item().click("Quit");
    let status = session.wait_for_exit();
    assert!(status.success());
    session.scratch.run(&["status"]).success();
}

#[test]
fn a_second_tray_in_the_same_session_is_refused() {
    let session = Session::start();
    session.item();
    let output = session
        .scratch
        .tray_command(&session.desktop)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the Remote Service tray already runs in this session"),
        "{stderr}"
    );
}

#[test]
fn start_at_login_writes_an_autostart_entry_and_shows_as_checked() {
    let session = Session::start();
    let item = session.item();
    assert_eq!(item.menu().find("Start at login").unwrap().toggle_state, 0);
    item.click("Start at login");
    assert!(item.wait_until(SOON, |item| item
        .menu()
        .find("Start at login")
        .unwrap()
        .toggle_state
        == 1));
    let entry = session
        .scratch
        .root()
        .join("config/autostart/remote-service.desktop");
    // The menu ticks a check item as it is clicked, before the tray has written the
    // entry: wait for the entry itself.
    assert!(
        remote_service_tests::wait_for(SOON, || entry.exists()).is_some(),
        "the XDG autostart entry {} was not written",
        entry.display()
    );
    let text = fs::read_to_string(&entry).expect("the XDG autostart entry");
    assert!(text.contains("remote-service\" tray"), "{text}");
    assert!(
        !session
            .scratch
            .root()
            .join("home/.config/autostart")
            .exists(),
        "nothing under ~/.config when XDG_CONFIG_HOME says elsewhere"
    );
    item.click("Start at login");
    assert!(item.wait_until(SOON, |item| item
        .menu()
        .find("Start at login")
        .unwrap()
        .toggle_state
        == 0));
    assert!(
        remote_service_tests::wait_for(SOON, || !entry.exists()).is_some(),
        "the autostart entry is still there"
    );
}

#[test]
fn without_a_system_tray_the_tray_says_so_and_the_engine_runs() {
    let desktop = Desktop::start_without_tray();
    let scratch = Scratch::new();
    let mut tray = remote_service_tests::KillOnDrop(
        scratch
            .tray_command(&desktop)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = tray.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let line = received
        .recv_timeout(SOON)
        .expect("a message on standard error");
    assert!(
        line.contains(
            "no system tray on this desktop (org.kde.StatusNotifierWatcher is not on the session bus)"
        ),
        "{line}"
    );
    scratch.run(&["status"]).success();
    let log = fs::read_to_string(scratch.log_file()).unwrap();
    assert!(
        log.contains("no system tray on this desktop"),
        "the log has it too"
    );
    let _ = tray.kill();
    let _ = tray.wait();
}

#[test]
fn repeated_notices_are_merged_into_one_balloon() {
    let session = Session::start();
    session.item();
    // Each file once the balloon of the one before is up: three refusals, not one change
    // of three files.
    for (name, summary) in [
        ("first.lic", "Licence refused"),
        ("second.lic", "Licence refused (2 times)"),
        ("third.lic", "Licence refused (3 times)"),
    ] {
        fs::write(session.scratch.licence_folder().join(name), "not a licence").unwrap();
        session
            .desktop
            .wait_for_notification(SOON, |notice| notice.summary == summary)
            .unwrap_or_else(|| panic!("no balloon {summary:?}"));
    }
    let merged = session
        .desktop
        .notifications()
        .into_iter()
        .rfind(|notice| notice.summary == "Licence refused (3 times)")
        .expect("the third refusal merged into the first balloon");
    let refusals: Vec<_> = session
        .desktop
        .notifications()
        .into_iter()
        .filter(|notice| notice.summary.starts_with("Licence refused"))
        .collect();
    assert_eq!(refusals.len(), 3);
    assert_eq!(refusals[0].replaces_id, 0);
    assert!(
        refusals[1..]
            .iter()
            .all(|notice| notice.replaces_id == refusals[0].id),
        "{refusals:#?}"
    );
    assert!(merged.body.starts_with("third.lic:"), "{}", merged.body);
}

#[test]
fn about_opens_the_about_box_in_a_process_of_its_own() {
    let session = Session::start();
    let item = session.item();
    item.click("About…");
    let mut window = None;
    remote_service_tests::wait_for(SOON, || {
        let tree = Command::new("xwininfo")
            .args(["-root", "-tree", "-display", session.desktop.display()])
            .output()
            .expect("xwininfo (Debian package x11-utils)");
        window = String::from_utf8_lossy(&tree.stdout)
            .lines()
            .find(|line| line.contains("\"About Remote Service\""))
            .and_then(|line| line.split_whitespace().next().map(str::to_string));
        window.is_some()
    });
    let window = window.expect("no About window on the display");
    // The window's process (winit sets _NET_WM_PID) is one the tray started, running
    // `remote-service about`: not the tray itself.
    let property = Command::new("xprop")
        .args([
            "-display",
            session.desktop.display(),
            "-id",
            &window,
            "_NET_WM_PID",
        ])
        .output()
        .expect("xprop (Debian package x11-utils)");
    let property = String::from_utf8_lossy(&property.stdout);
    let pid: u32 = property
        .rsplit(" = ")
        .next()
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no _NET_WM_PID on the window: {property}"));
    assert_ne!(
        pid,
        session.tray.id(),
        "the About box is not the tray's window"
    );
    assert!(
        remote_service_tests::process_tree(session.tray.id()).contains(&pid),
        "the About window's process {pid} is not one the tray started"
    );
    let arguments = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let arguments: Vec<&[u8]> = arguments.split(|&byte| byte == 0).collect();
    assert_eq!(
        arguments.get(1).copied(),
        Some(&b"about"[..]),
        "{arguments:?}"
    );
}

#[test]
fn the_end_of_the_session_stops_the_tray_and_its_engine_cleanly() {
    let mut session = Session::start();
    session.item();
    session.scratch.run(&["status"]).success();
    let killed = Command::new("kill")
        .args(["-TERM", &session.tray.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = session.wait_for_exit();
    assert!(status.success(), "{status:?}");
    assert!(
        !session.scratch.socket().exists(),
        "the embedded engine removed its socket"
    );
}

#[test]
fn a_button_clicked_on_a_plugins_notice_reaches_the_plugin() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    let session = Session::start_with(scratch);
    let item = session.item();
    assert!(item.wait_until(SOON, |item| item.menu().find("Ask").is_some()));
    item.click("Ask");
    let question = session
        .desktop
        .wait_for_notification(SOON, |notice| notice.summary == "A question")
        .expect("the plugin's question");
    assert_eq!(question.body, "Do you agree?");
    assert_eq!(
        question.actions,
        vec![
            ("yes".to_string(), "Yes".to_string()),
            ("no".to_string(), "No".to_string())
        ]
    );
    session.desktop.invoke_action(question.id, "yes");
    let answered = remote_service_tests::wait_for(SOON, || {
        let status = session.scratch.run(&["status", "--json"]).json();
        status["plugins"].as_array().unwrap().iter().any(|plugin| {
            plugin["id"] == "misbehaving" && plugin["detail"] == "behaving, answered yes"
        })
    });
    assert!(answered.is_some(), "the plugin never heard the answer");
}

/// A licence whose maintenance ends within a month: the licence updater's balloon says when,
/// as the product documentation asks.
#[test]
fn maintenance_ending_within_a_month_shows_a_balloon() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let session = Session::start_with(scratch);
    session.item();
    let through = Command::new("date")
        .args(["-u", "-d", "+20 days", "+%F"])
        .output()
        .unwrap();
    let through = String::from_utf8(through.stdout)
        .unwrap()
        .trim()
        .to_string();
    let payload = PayloadBuilder::new("RS-MNT-1", 1)
        .feature("auto-licence-update")
        .maintenance_through(&through);
    let licence = session.scratch.licence_file(&key, &payload, "m.lic");
    fs::copy(
        &licence,
        session.scratch.licence_folder().join("RS-MNT-1.lic"),
    )
    .unwrap();
    let balloon = session
        .desktop
        .wait_for_notification(SOON, |notice| notice.summary == "Maintenance ends soon")
        .expect("the maintenance balloon");
    assert_eq!(
        balloon.body,
        format!("Maintenance ends on {through}. Updates released after that day are not covered.")
    );
    assert_eq!(balloon.app_name, "Remote Service");
    assert_eq!(
        balloon.urgency,
        Some(1),
        "a normal notice, not a critical one"
    );
}
