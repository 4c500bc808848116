//! The tray's figures beside Debian's nm-applet and syncthingtray, all in one headless
//! desktop (Xvfb, private D-Bus session, the test StatusNotifierWatcher):
//!
//! - start → tray item registered with the watcher;
//! - PSS (from /proc/PID/smaps_rollup) after 30 s idle;
//! - CPU time and wake-ups (context switches) over 60 s idle;
//! - state shown within how long of the engine's state changing: a licence that adds the
//!   licence updater changes the engine's status; the time until the tray's menu (read over
//!   dbusmenu, as a panel does) shows the updater's item.
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench tray`
//! (needs the Debian packages xvfb, dbus, network-manager-gnome, syncthingtray).

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use remote_service_tests::desktop::{Desktop, TrayItem};
use remote_service_tests::measure::{cpu_and_switches, pss_kib};
use remote_service_tests::{EventStream, PayloadBuilder, Scratch};

const SETTLE: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(60);
const STATE_CHANGES: u64 = 20;

struct Subject {
    name: &'static str,
    child: Child,
    registered: Option<Duration>,
}

fn main() {
    let desktop = Desktop::start();
    // The first GTK program on a fresh X server probes OpenGL and caches the result on the
    // root window; let a throwaway one pay for that before anything is measured.
    let mut warm_up = desktop_command(&desktop, "nm-applet", &["--indicator"]);
    std::thread::sleep(Duration::from_secs(3));
    let _ = warm_up.kill();
    let _ = warm_up.wait();

    let latency = state_change_latency(&desktop);

    let attached_scratch = Scratch::new();
    let _daemon = attached_scratch.start_daemon();
    let embedded_scratch = Scratch::new();
    let mut subjects = vec![
        start_tray(
            &desktop,
            &attached_scratch,
            "remote-service tray, attached to a daemon",
        ),
        start_tray(
            &desktop,
            &embedded_scratch,
            "remote-service tray, embedded engine + 3 plugins",
        ),
        start_other(
            &desktop,
            "nm-applet --indicator",
            "nm-applet",
            &["--indicator"],
        ),
        start_other(&desktop, "syncthingtray", "syncthingtray", &[]),
    ];
    std::thread::sleep(SETTLE);
    let before: Vec<(u64, u64)> = subjects
        .iter()
        .map(|s| cpu_and_switches(s.child.id()))
        .collect();
    let pss: Vec<u64> = subjects.iter().map(|s| pss_kib(s.child.id())).collect();
    std::thread::sleep(IDLE);
    let after: Vec<(u64, u64)> = subjects
        .iter()
        .map(|s| cpu_and_switches(s.child.id()))
        .collect();

    println!("tray figures (release build, one headless desktop, side by side)\n");
    println!(
        "{:<50} {:>12} {:>10} {:>14} {:>16}",
        "", "registered", "PSS", "CPU in 60 s", "wake-ups in 60 s"
    );
    for (index, subject) in subjects.iter().enumerate() {
        let registered = subject.registered.map_or("no item".to_string(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        });
        println!(
            "{:<50} {:>12} {:>7.1} MB {:>11} ms {:>16}",
            subject.name,
            registered,
            pss[index] as f64 / 1024.0,
            (after[index].0 - before[index].0) * 10,
            after[index].1 - before[index].1,
        );
    }
    println!(
        "\nstate shown after the engine's state changed ({STATE_CHANGES} changes): median {:.1} ms, max {:.1} ms",
        latency.0, latency.1
    );
    for subject in &mut subjects {
        let _ = subject.child.kill();
        let _ = subject.child.wait();
    }
}

fn desktop_command(desktop: &Desktop, program: &str, args: &[&str]) -> Child {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    desktop.apply_env(&mut command);
    command
        .spawn()
        .unwrap_or_else(|error| panic!("{program}: {error}"))
}

fn start_tray(desktop: &Desktop, scratch: &Scratch, name: &'static str) -> Subject {
    let items_before = desktop.items().len();
    let mut command = scratch.tray_command(desktop);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let child = command.spawn().expect("remote-service tray");
    let registered = wait_for_new_item(desktop, items_before, started);
    Subject {
        name,
        child,
        registered,
    }
}

fn start_other(desktop: &Desktop, name: &'static str, program: &str, args: &[&str]) -> Subject {
    let items_before = desktop.items().len();
    let started = Instant::now();
    let child = desktop_command(desktop, program, args);
    let registered = wait_for_new_item(desktop, items_before, started);
    Subject {
        name,
        child,
        registered,
    }
}

fn wait_for_new_item(desktop: &Desktop, items_before: usize, started: Instant) -> Option<Duration> {
    while started.elapsed() < Duration::from_secs(10) {
        if desktop.items().len() > items_before {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// Licences alternately adding and removing the licence updater; each time, from the
/// engine's status event (read from its event stream) to the tray's menu showing the change.
fn state_change_latency(desktop: &Desktop) -> (f64, f64) {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("bench");
    let mut tray = scratch
        .tray_command(desktop)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("remote-service tray");
    let item = desktop
        .wait_for_item(Duration::from_secs(10))
        .expect("tray item");
    let events = EventStream::follow(&scratch.socket());
    events.next(Duration::from_secs(5), "the first status");
    let mut times = Vec::new();
    for sequence in 1..=STATE_CHANGES {
        let with_updater = sequence % 2 == 1;
        let mut payload = PayloadBuilder::new("RS-BENCH", sequence);
        if with_updater {
            payload = payload.feature("auto-licence-update");
        }
        let licence = scratch.licence_file(&key, &payload, "l.lic");
        fs::copy(&licence, scratch.licence_folder().join("RS-BENCH.lic")).unwrap();
        let changed_at = loop {
            let (at, event) = events.next_timed(Duration::from_secs(5), "a status event");
            if event["event"] == "status" && event["status"]["licence"]["sequence"] == sequence {
                break at;
            }
        };
        let shows = |item: &TrayItem| {
            item.menu().find("Check for licence update now").is_some() == with_updater
        };
        assert!(
            item.wait_until(Duration::from_secs(5), shows),
            "the tray never showed sequence {sequence}"
        );
        times.push(changed_at.elapsed().as_secs_f64() * 1000.0);
    }
    drop(events);
    let _ = tray.kill();
    let _ = tray.wait();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1])
}
