//! The windows' figures (release build), on the headless desktop with a connected engine:
//!
//! - `remote-service settings` and `remote-service about` from their start to their window
//!   shown (mapped, with the settings read from the engine: the first frame), ten times each
//!   (goal for the settings window: under 500 ms);
//! - the tray's PSS, CPU and wake-ups over 30 s idle after its "Settings…" opened and closed
//!   the window ten times (the window is a process of its own: the tray's figures of the
//!   tray bench should hold).
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench windows`
//! (needs the Debian packages xvfb, dbus, xdotool).

use remote_service_tests::measure::summary;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::Installation;
use remote_service_tests::desktop::Desktop;
use remote_service_tests::measure::{cpu_and_switches, pss_kib};
use remote_service_tests::KillOnDrop;

const ROUNDS: usize = 10;
const IDLE: Duration = Duration::from_secs(30);

fn visible(desktop: &Desktop, title: &str) -> Vec<String> {
    let output = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", &format!("^{title}$")])
        .env("DISPLAY", desktop.display())
        .output()
        .expect("xdotool");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn main() {
    let installation = Installation::new();
    let _daemon = installation.daemon();
    installation.wait_for_light("green", "");
    let desktop = Desktop::start();
    for (command, title) in [
        ("settings", "Remote Service"),
        ("about", "About Remote Service"),
    ] {
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let mut window = installation.command(&[command]);
            desktop.apply_env(&mut window);
            window.env("XDG_RUNTIME_DIR", installation.scratch.runtime_dir());
            let started = Instant::now();
            let mut child = KillOnDrop(
                window
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start the window"),
            );
            assert!(
                wait_until(Duration::from_secs(30), || !visible(&desktop, title)
                    .is_empty()),
                "the {command} window shows"
            );
            times.push(started.elapsed());
            let _ = child.kill();
            let _ = child.wait();
            assert!(wait_until(Duration::from_secs(30), || visible(
                &desktop, title
            )
            .is_empty()));
        }
        summary(&format!("remote-service {command} -> window shown"), times);
    }

    // The tray after the window came and went ten times.
    let mut tray = installation.command(&["tray"]);
    desktop.apply_env(&mut tray);
    tray.env("XDG_RUNTIME_DIR", installation.scratch.runtime_dir());
    let tray = KillOnDrop(
        tray.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the tray"),
    );
    let item = desktop
        .wait_for_item(Duration::from_secs(30))
        .expect("the tray's item");
    for _ in 0..ROUNDS {
        item.click("Settings…");
        assert!(wait_until(Duration::from_secs(30), || !visible(
            &desktop,
            "Remote Service"
        )
        .is_empty()));
        for window in visible(&desktop, "Remote Service") {
            let pid = Command::new("xdotool")
                .args(["getwindowpid", &window])
                .env("DISPLAY", desktop.display())
                .output()
                .expect("xdotool");
            let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
            let _ = Command::new("kill").arg(&pid).status();
        }
        assert!(wait_until(Duration::from_secs(30), || visible(
            &desktop,
            "Remote Service"
        )
        .is_empty()));
    }
    std::thread::sleep(Duration::from_secs(5));
    let pid = tray.id();
    let (ticks_before, switches_before) = cpu_and_switches(pid);
    std::thread::sleep(IDLE);
    let (ticks_after, switches_after) = cpu_and_switches(pid);
    let ticks_per_second = 100.0;
    println!(
        "tray after {ROUNDS} settings windows: PSS {:.1} MB, CPU {:.2} s and {} wake-ups over {} s idle",
        pss_kib(pid) as f64 / 1024.0,
        (ticks_after - ticks_before) as f64 / ticks_per_second,
        switches_after - switches_before,
        IDLE.as_secs()
    );
}
