//! The settings window as a person uses it, on the headless desktop: opened from the tray
//! menu, an organisation ID typed and saved with the keyboard through the real window
//! (xdotool on Xvfb), and the engine applying it (the light changes). Needs the Debian
//! packages `xdotool` and `imagemagick` (`tests/run` installs them).

use std::process::{Command, Stdio};
use std::time::Duration;

use remote_service_tests::backoffice::Installation;
use remote_service_tests::browser::Browser;
use remote_service_tests::desktop::Desktop;
use remote_service_tests::{wait_for, KillOnDrop};

const SOON: Duration = Duration::from_secs(30);

/// `xdotool ARGS` on `desktop`'s display: its standard output.
fn xdotool(desktop: &Desktop, args: &[&str]) -> String {
    let output = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", desktop.display())
        .output()
        .expect("xdotool (Debian package xdotool)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The windows titled exactly `title`.
fn windows(desktop: &Desktop, title: &str) -> Vec<String> {
    xdotool(desktop, &["search", "--name", &format!("^{title}$")])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Ends the windows' processes when the test ends, pass or fail (they are the tray's
/// children, not the test's).
struct WindowProcesses(Vec<u32>);

impl Drop for WindowProcesses {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

#[test]
fn the_window_opened_from_the_tray_saves_what_is_typed_and_the_engine_applies_it() {
    let installation = Installation::new();
    let _daemon = installation.daemon();
    installation.wait_for_light("green", "");
    let desktop = Desktop::start();
    let mut tray = installation.command(&["tray"]);
    desktop.apply_env(&mut tray);
    tray.env("XDG_RUNTIME_DIR", installation.scratch.runtime_dir());
    let _tray = KillOnDrop(
        tray.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the tray"),
    );
    let item = desktop.wait_for_item(SOON).expect("the tray's item");

    item.click("Settings…");
    let mut found = Vec::new();
    assert!(
        wait_for(SOON, || {
            found = windows(&desktop, "Remote Service");
            !found.is_empty()
        })
        .is_some(),
        "the settings window opens"
    );
    let window = found[0].clone();
    let mut processes = WindowProcesses(Vec::new());
    if let Ok(pid) = xdotool(&desktop, &["getwindowpid", &window]).trim().parse() {
        processes.0.push(pid);
    }

    // Opening it again brings the same window to the front: still one.
    item.click("Settings…");
    let second = wait_for(Duration::from_secs(3), || {
        windows(&desktop, "Remote Service").len() > 1
    });
    assert!(
        second.is_none(),
        "one settings window: {:?}",
        windows(&desktop, "Remote Service")
    );

    // The keyboard, as a person: Tab to the organisation ID (after Enabled), replace it,
    // Ctrl+S.
    xdotool(&desktop, &["windowfocus", "--sync", &window]);
    xdotool(
        &desktop,
        &["key", "--window", &window, "Tab", "Tab", "ctrl+a"],
    );
    xdotool(
        &desktop,
        &["type", "--window", &window, "--delay", "20", "ORG-TYPED"],
    );
    let shot = Browser::output_path("settings-window.png");
    let _ = Command::new("import")
        .args(["-window", "root"])
        .arg(&shot)
        .env("DISPLAY", desktop.display())
        .status();
    xdotool(&desktop, &["key", "--window", &window, "ctrl+s"]);

    let saved = wait_for(SOON, || {
        installation
            .run(&["config", "get", "organisation_id"])
            .stdout
            .trim()
            == "ORG-TYPED"
    });
    assert!(
        saved.is_some(),
        "the engine saved the organisation ID typed; it has {:?}",
        installation
            .run(&["config", "get", "organisation_id"])
            .stdout
    );
    // Applied at once: the code was for the old organisation, so the light says so.
    installation.wait_for_light("orange", "verification code is not set");
    eprintln!("screenshot: {}", shot.display());

    // A left click on the icon (Activate) opens it too, once it was closed.
    for pid in std::mem::take(&mut processes.0) {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    assert!(
        wait_for(SOON, || windows(&desktop, "Remote Service").is_empty()).is_some(),
        "the window closed"
    );
    item.activate();
    let mut opened = Vec::new();
    assert!(
        wait_for(SOON, || {
            opened = windows(&desktop, "Remote Service");
            !opened.is_empty()
        })
        .is_some(),
        "activating the item opens the settings window"
    );
    if let Ok(pid) = xdotool(&desktop, &["getwindowpid", &opened[0]])
        .trim()
        .parse()
    {
        processes.0.push(pid);
    }
}
