//! The licence updater plugin with the real back office: an administrator issues a licence
//! and the installation installs it into the local and remote `DroppedLicense` folders,
//! puts it in force, starts the plugin the new option licenses and says what changed.

use std::fs;
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::{Installation, SERIAL};
use remote_service_tests::{wait_for, EventStream, Scratch};

/// How fast it is announced (within 2 s of `licence issue`) is measured by
/// `cargo bench -p remote-service-tests --bench licence_update`; this says that it is.
#[test]
fn an_issued_licence_is_installed_locally_and_remotely_and_announced() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let command = |args: &[&str]| installation.command(args);
    let remote = scratch.root().join("remote-fls/DroppedLicense");
    fs::create_dir_all(&remote).unwrap();
    assert!(command(&[
        "config",
        "set",
        "licence.remote_folder",
        remote.to_str().unwrap()
    ])
    .status()
    .unwrap()
    .success());
    let _daemon = installation.daemon();
    let events = EventStream::follow(&scratch.socket());
    let status = || installation.status();
    installation.wait_until_green();
    let bridge = |status: &serde_json::Value| {
        status["plugins"]
            .as_array()
            .and_then(|plugins| {
                plugins
                    .iter()
                    .find(|plugin| plugin["id"] == "teamviewer-bridge")
            })
            .map(|plugin| plugin["state"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(bridge(&status()), "not-licensed");

    backoffice.issue_licence(
        SERIAL,
        "auto-licence-update,users=25,remote-assistance",
        "2028-12-31",
    );
    let (_, notice) = events.next_matching(
        Duration::from_secs(20),
        "the licence updater's notice",
        |event| event["event"] == "notice" && event["key"] == "licence-installed",
    );
    let body = notice["body"].as_str().unwrap();
    for line in [
        "Users: 10 → 25",
        "Remote assistance is now licensed",
        "Maintenance extended to 2028-12-31",
    ] {
        assert!(body.contains(line), "{body:?} says {line:?}");
    }
    for folder in [scratch.licence_folder(), remote.clone()] {
        let text = fs::read_to_string(folder.join(format!("{SERIAL}.lic"))).unwrap();
        let verified = command(&[
            "licence",
            "verify",
            folder.join(format!("{SERIAL}.lic")).to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
        let verified: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
        assert_eq!(verified["valid"], true, "{}: {verified}", folder.display());
        assert_eq!(
            verified["licence"]["sequence"],
            2,
            "{}: {text}",
            folder.display()
        );
        let leftovers: Vec<_> = fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .filter(|name| name.to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "no temp file stays: {leftovers:?}");
    }
    assert!(
        wait_for(Duration::from_secs(20), || {
            let now = status();
            now["licence"]["sequence"] == 2 && bridge(&now) == "running"
        })
        .is_some(),
        "the new licence is in force and the bridge runs: {}",
        status()
    );
    let shown = command(&["licence", "show"]).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("users (25)"), "{shown}");
    assert!(shown.contains("2028-12-31"), "{shown}");
    // The back office heard how each folder went.
    let reports = backoffice.admin_db(&["licence", "reports", SERIAL], None);
    let reports: Vec<serde_json::Value> = reports
        .success()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let folders: Vec<(&str, bool)> = reports
        .iter()
        .filter(|report| report["sequence"] == 2)
        .map(|report| (report["folder"].as_str().unwrap(), report["ok"] == true))
        .collect();
    let local = scratch.licence_folder();
    assert_eq!(
        folders,
        vec![
            (local.to_str().unwrap(), true),
            (remote.to_str().unwrap(), true)
        ],
        "{reports:?}"
    );

    // A re-issue that changes nothing at feature level is installed without a balloon.
    backoffice.issue_licence(
        SERIAL,
        "auto-licence-update,users=25,remote-assistance",
        "2028-12-31",
    );
    let reissued = Instant::now();
    loop {
        let event = events.next(Duration::from_secs(5), "the re-issued licence in force");
        assert!(
            !(event["event"] == "notice" && event["key"] == "licence-installed"),
            "no balloon for a re-issue without changes: {event}"
        );
        if event["event"] == "status" && event["status"]["licence"]["sequence"] == 3 {
            break;
        }
    }
    // Nothing else follows for a moment either.
    while reissued.elapsed() < Duration::from_secs(1) {
        if let Some(event) = events.try_next(Duration::from_millis(100)) {
            assert!(
                !(event["event"] == "notice" && event["key"] == "licence-installed"),
                "no balloon for a re-issue without changes: {event}"
            );
        }
    }
}

#[test]
fn a_folder_that_cannot_be_written_is_listed_saved_by_hand_and_updated_when_it_returns() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let run = |args: &[&str]| installation.run(args);
    // The remote licence server's share is not mounted: its DroppedLicense folder is not there.
    let remote = scratch.root().join("remote-fls/DroppedLicense");
    run(&[
        "config",
        "set",
        "licence.remote_folder",
        remote.to_str().unwrap(),
    ])
    .success();
    let _daemon = installation.daemon();
    let events = EventStream::follow(&scratch.socket());
    installation.wait_until_green();

    let failed_notice = issue_and_fail(backoffice, &events);
    let body = failed_notice["body"].as_str().unwrap();
    assert!(
        body.starts_with(&format!(
            "Licence could not be updated on: {}",
            remote.display()
        )),
        "{body}"
    );
    assert!(body.contains("not there"), "{body}");
    let reported = wait_for(Duration::from_secs(2), || {
        backoffice
            .admin_db(&["licence", "reports", SERIAL], None)
            .success()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .any(|report| {
                report["folder"] == remote.to_str().unwrap()
                    && report["ok"] == false
                    && report["error"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("not there")
            })
    });
    assert!(
        reported.is_some(),
        "the back office hears which folder failed and why"
    );
    assert_eq!(failed_notice["actions"][0][0], "save");

    let listed = run(&["licence", "failed", "--json"]).json();
    assert_eq!(listed["failed"][0]["folder"], remote.to_str().unwrap());
    let text = run(&["licence", "failed"]);
    assert!(
        text.success().starts_with("Failed to update licence on:"),
        "{}",
        text.stdout
    );
    let updater_detail = || {
        run(&["plugins", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .find(|plugin| plugin["id"] == "licence-updater")
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        updater_detail().starts_with("Failed to update licence on:"),
        "{}",
        updater_detail()
    );
    // The local folder has it, in force.
    assert!(
        wait_for(Duration::from_secs(2), || run(&["status", "--json"]).json()
            ["licence"]["sequence"]
            == 2)
        .is_some()
    );

    let by_hand = scratch.root().join("by-hand");
    fs::create_dir_all(&by_hand).unwrap();
    let saved = run(&["licence", "save-failed", by_hand.to_str().unwrap()]);
    assert!(saved.success().contains("copy it into"), "{}", saved.stdout);
    let file = by_hand.join(format!("{SERIAL}.lic"));
    let verified = run(&["licence", "verify", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["licence"]["sequence"], 2);

    // The share is back: the next check installs the licence there and clears the entry.
    fs::create_dir_all(&remote).unwrap();
    let check = run(&["licence", "check-update"]);
    assert!(
        check.success().starts_with("licence sequence 2 installed"),
        "{}",
        check.stdout
    );
    assert_eq!(
        fs::read(remote.join(format!("{SERIAL}.lic"))).unwrap(),
        fs::read(scratch.licence_folder().join(format!("{SERIAL}.lic"))).unwrap()
    );
    assert_eq!(
        run(&["licence", "failed", "--json"]).json()["failed"],
        serde_json::json!([])
    );
    assert_eq!(
        run(&["licence", "save-failed", by_hand.to_str().unwrap()]).code,
        Some(1),
        "nothing waits to be copied any more"
    );
}

/// The remote licence server's share is listed in the mount table but not mounted, so its
/// mount point is an empty folder of this computer's disk. The licence is not written there
/// (the licence server would never see it), and the failure says why.
#[test]
fn a_share_that_is_not_mounted_is_not_written_into_and_the_failure_says_so() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let share = scratch.root().join("mnt/fls");
    fs::create_dir_all(&share).unwrap();
    let fstab = scratch.root().join("fstab");
    fs::write(
        &fstab,
        format!(
            "# the machine's table, with the licence server's share\n\
             //fls/DroppedLicense {} cifs credentials=/etc/fls.cred,noauto 0 0\n",
            share.display()
        ),
    )
    .unwrap();
    installation
        .run(&[
            "config",
            "set",
            "licence.remote_folder",
            share.to_str().unwrap(),
        ])
        .success();
    let mut daemon = installation.command(&["daemon"]);
    daemon.env("REMOTE_SERVICE_FSTAB", &fstab);
    let _daemon = remote_service_tests::Scratch::spawn_daemon(daemon);
    let events = EventStream::follow(&scratch.socket());
    installation.wait_until_green();

    let failed_notice = issue_and_fail(backoffice, &events);
    let body = failed_notice["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "the share is not mounted: {} is listed in the system's mount table but nothing is mounted there",
            share.display()
        )),
        "{body}"
    );
    assert_eq!(
        fs::read_dir(&share).unwrap().count(),
        0,
        "nothing is written into the empty mount point"
    );
    let mut failed = None;
    wait_for(Duration::from_secs(5), || {
        failed = backoffice
            .admin_db(&["licence", "reports", SERIAL], None)
            .success()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|report| report["folder"] == share.to_str().unwrap());
        failed.is_some()
    });
    let failed = failed.expect("the back office hears of the share");
    assert_eq!(failed["ok"], false, "{failed}");
}

/// Issues the serial's next licence and waits for the notice of a folder it could not be
/// installed in.
fn issue_and_fail(
    backoffice: &remote_service_tests::backoffice::BackofficeServer,
    events: &EventStream,
) -> serde_json::Value {
    backoffice.issue_licence(SERIAL, "auto-licence-update,users=12", "2028-06-30");
    events
        .next_matching(
            Duration::from_secs(5),
            "the failed-folder notice",
            |event| {
                event["event"] == "notice" && event["summary"] == "Licence could not be updated"
            },
        )
        .1
}

/// The time `offset` (a `date -d` phrase like `+10 days`) from now, RFC 3339 in UTC.
fn utc(offset: &str) -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", offset, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn a_licence_expiring_within_a_month_and_an_expired_one_are_announced() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let _daemon = scratch.start_daemon();
    let events = EventStream::follow(&scratch.socket());
    let notice = |key: &str| {
        events
            .next_matching(Duration::from_secs(5), key, |event| {
                event["event"] == "notice" && event["key"] == key
            })
            .1
    };

    let expires = utc("+10 days");
    let soon = remote_service_tests::PayloadBuilder::new("RS-EXP-1", 1)
        .feature("auto-licence-update")
        .licence_expires_at(&expires)
        .maintenance_through("2030-12-31")
        .issued_at(&utc("-1 day"));
    let file = scratch.licence_file(&key, &soon, "soon.lic");
    fs::copy(file, scratch.licence_folder().join("RS-EXP-1.lic")).unwrap();
    let expiring = notice("licence-expiring");
    assert_eq!(expiring["summary"], "Licence expires soon");
    assert_eq!(
        expiring["body"],
        format!("The licence expires on {}.", &expires[..10])
    );

    let expired_at = utc("-2 days");
    let expired = remote_service_tests::PayloadBuilder::new("RS-EXP-1", 2)
        .feature("auto-licence-update")
        .licence_expires_at(&expired_at)
        .maintenance_through("2030-12-31")
        .issued_at(&utc("-30 days"));
    let file = scratch.licence_file(&key, &expired, "expired.lic");
    fs::copy(file, scratch.licence_folder().join("RS-EXP-1.lic")).unwrap();
    let shown = notice("licence-expired");
    assert_eq!(shown["urgency"], "critical");
    assert!(shown["body"]
        .as_str()
        .unwrap()
        .starts_with(&format!("The licence expired on {}.", &expired_at[..10])));
}

#[test]
fn an_install_killed_at_any_moment_leaves_the_old_or_the_new_licence_whole() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let command = |args: &[&str]| installation.command(args);
    let file = scratch.licence_folder().join(format!("{SERIAL}.lic"));
    let runs = 30;
    let (mut old, mut new, mut corrupt) = (0, 0, 0);
    // How long fetching and installing takes on this machine now: the first run waits for
    // the install to finish; the others are killed at moments spread over that time (and a
    // little past it), so that the kills fall in every step of the work however loaded the
    // machine is.
    let mut full = None;
    for run in 0..runs {
        let before = fs::read(&file).unwrap();
        // A newer licence waits at the back office; the engine fetches it as soon as its
        // session starts, and is killed (SIGKILL) somewhere in that work.
        backoffice.issue_licence(
            SERIAL,
            &format!("auto-licence-update,users={}", 11 + run),
            "2028-12-31",
        );
        let started = Instant::now();
        let mut daemon = remote_service_tests::KillOnDrop(
            command(&["daemon"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        match full {
            None => {
                let installed = wait_for(Duration::from_secs(60), || {
                    fs::read(&file).is_ok_and(|now| now != before)
                });
                assert!(
                    installed.is_some(),
                    "the first run installs the new licence"
                );
                full = Some(started.elapsed());
            }
            Some(full) => {
                // Not a synchronisation: the moment of the kill is what the test varies.
                std::thread::sleep(full.mul_f64(f64::from(run) / f64::from(runs) * 1.2));
            }
        }
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        let after = fs::read(&file).unwrap();
        let verified = command(&["licence", "verify", file.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        let verified: serde_json::Value =
            serde_json::from_slice(&verified.stdout).unwrap_or_default();
        if verified["valid"] != true {
            corrupt += 1;
        } else if after == before {
            old += 1;
        } else {
            new += 1;
        }
        let strangers: Vec<String> = fs::read_dir(scratch.licence_folder())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.') && name != &format!("{SERIAL}.lic"))
            .collect();
        assert!(strangers.is_empty(), "run {run}: {strangers:?}");
        // The engine's socket of the killed daemon is stale: the next one replaces it.
    }
    eprintln!(
        "SIGKILL during install: {runs} runs over {:?}, {old} old, {new} new, {corrupt} corrupt",
        full.unwrap_or_default()
    );
    assert_eq!(corrupt, 0);
    assert!(new > 0, "the first run installed ({old} old, {new} new)");
}

/// A tmpfs mounted at `at` with `options` (this test runs as root, as CI does); unmounted
/// when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &std::path::Path, options: &str) -> Mount {
        fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "mount -t tmpfs -o {options} (the test needs root)"
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_and_a_read_only_share_are_reported_and_the_old_licence_stays() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let run = |args: &[&str]| installation.run(args);
    let installed = fs::read(scratch.licence_folder().join(format!("{SERIAL}.lic"))).unwrap();

    // The remote share: read-only, holding the licence of before.
    let remote = scratch.root().join("remote");
    let read_only = Mount::tmpfs(&remote, "size=64k");
    fs::write(remote.join(format!("{SERIAL}.lic")), &installed).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(status.success());
    run(&[
        "config",
        "set",
        "licence.remote_folder",
        remote.to_str().unwrap(),
    ])
    .success();
    let _daemon = installation.daemon();
    let events = EventStream::follow(&scratch.socket());
    installation.wait_until_green();
    backoffice.issue_licence(SERIAL, "auto-licence-update,users=30", "2028-12-31");
    let (_, failed) = events.next_matching(
        Duration::from_secs(5),
        "the read-only share's notice",
        |event| event["event"] == "notice" && event["summary"] == "Licence could not be updated",
    );
    assert!(
        failed["body"]
            .as_str()
            .unwrap()
            .contains("Read-only file system"),
        "{failed}"
    );
    assert_eq!(
        fs::read(remote.join(format!("{SERIAL}.lic"))).unwrap(),
        installed,
        "the old licence stays"
    );
    drop(read_only);

    // The share is now a full disk: the install fails for want of space, the old file stays.
    let full = Mount::tmpfs(&remote, "size=16k");
    fs::write(remote.join(format!("{SERIAL}.lic")), &installed).unwrap();
    let mut filler = 0;
    while fs::write(remote.join(format!("filler-{filler}")), vec![0u8; 4096]).is_ok() {
        filler += 1;
    }
    // Fill the last bytes too.
    let _ = fs::write(remote.join("filler-last"), vec![0u8; 1]);
    let check = run(&["licence", "check-update"]);
    assert_eq!(check.code, Some(1), "{}{}", check.stdout, check.stderr);

    assert!(
        check.stdout.starts_with("Failed to update licence on:"),
        "{}{}",
        check.stdout,
        check.stderr
    );
    let listed = run(&["licence", "failed", "--json"]).json();
    let reason = listed["failed"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("No space left on device"), "{reason}");
    assert_eq!(
        fs::read(remote.join(format!("{SERIAL}.lic"))).unwrap(),
        installed,
        "the old licence stays"
    );
    let partials: Vec<_> = fs::read_dir(&remote)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "no temp file stays");
    drop(full);
}

#[test]
fn a_broken_download_keeps_the_installed_licence_and_says_why() {
    use remote_service_tests::backoffice::{FaultyLink, LicenceFault};
    let installation = Installation::new();
    let file = installation
        .scratch
        .licence_folder()
        .join(format!("{SERIAL}.lic"));
    let installed = fs::read(&file).unwrap();
    let _daemon = installation.daemon();
    installation.wait_until_green();
    let cases = [
        (LicenceFault::ServerError, "answered HTTP 500"),
        (LicenceFault::Garbage, "not a remote service licence"),
        (LicenceFault::HalfThenClosed, "cannot reach the back office"),
    ];
    for (case, (fault, fragment)) in cases.into_iter().enumerate() {
        let link = FaultyLink::start(installation.backoffice.url(), fault);
        installation
            .run(&["config", "set", "backoffice_url", &link.url])
            .success();
        // A new back office gets the code only when it is entered again.
        installation.set_code();
        installation.wait_until_green();
        if case == 0 {
            // A newer licence waits, issued once the engine reaches the back office only
            // through the link (the updater fetches an announced licence at once): every
            // download of it breaks on the way.
            installation.backoffice.issue_licence(
                SERIAL,
                "auto-licence-update,users=40",
                "2028-12-31",
            );
        }
        // The light stays green while the engine moves its session to the new address: a
        // check in that moment finds no session; the next one goes through the link.
        let mut check = installation.run(&["licence", "check-update"]);
        let started = Instant::now();
        while check.stdout.contains("no session") && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(100));
            check = installation.run(&["licence", "check-update"]);
        }
        assert_eq!(check.code, Some(1), "{fault:?}: {}", check.stdout);
        assert!(
            check.stdout.contains(fragment),
            "{fault:?}: {}",
            check.stdout
        );
        assert_eq!(
            fs::read(&file).unwrap(),
            installed,
            "{fault:?}: the installed licence stays"
        );
        assert_eq!(installation.status()["licence"]["sequence"], 1, "{fault:?}");
    }
    // Straight to the back office again: the licence arrives whole.
    installation
        .run(&[
            "config",
            "set",
            "backoffice_url",
            installation.backoffice.url(),
        ])
        .success();
    installation.set_code();
    installation.wait_until_green();
    // The updater checks as the session starts: the licence is in force without asking.
    let installed_now = wait_for(Duration::from_secs(30), || {
        installation.status()["licence"]["sequence"] == 2
    });
    assert!(
        installed_now.is_some(),
        "the licence arrives whole: {}",
        installation.status()
    );
}

#[test]
fn the_tray_shows_the_new_licence_balloon_and_offers_to_save_a_licence_a_folder_missed() {
    use remote_service_tests::desktop::Desktop;
    let installation = Installation::new();
    let scratch = &installation.scratch;
    // A remote share that is not mounted.
    let remote = scratch.root().join("share/DroppedLicense");
    installation
        .run(&[
            "config",
            "set",
            "licence.remote_folder",
            remote.to_str().unwrap(),
        ])
        .success();
    fs::create_dir_all(scratch.root().join("home")).unwrap();
    let desktop = Desktop::start();
    let mut tray = scratch.tray_command(&desktop);
    tray.env("REMOTE_SERVICE_SECRETS", "file")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut tray = remote_service_tests::KillOnDrop(tray.spawn().unwrap());
    let item = desktop
        .wait_for_item(Duration::from_secs(5))
        .expect("the tray item");
    installation.wait_until_green();

    installation.backoffice.issue_licence(
        SERIAL,
        "auto-licence-update,users=25,remote-assistance",
        "2028-12-31",
    );
    let balloon = desktop
        .wait_for_notification(Duration::from_secs(5), |notice| {
            notice.summary == "New licence installed"
        })
        .expect("the new licence's balloon");
    assert_eq!(
        balloon.body,
        "Users: 10 → 25\nRemote assistance is now licensed\nMaintenance extended to 2028-12-31"
    );
    let failed = desktop
        .wait_for_notification(Duration::from_secs(5), |notice| {
            notice.summary == "Licence could not be updated"
        })
        .expect("the failed folder's notice");
    assert!(
        failed.body.contains(remote.to_str().unwrap()),
        "{}",
        failed.body
    );

    let save = "Save licence file for a folder that failed…";
    assert!(
        item.wait_until(Duration::from_secs(5), |item| item
            .menu()
            .find(save)
            .is_some()),
        "the menu offers to save the licence: {:?}",
        item.menu().labels()
    );
    item.click(save);
    let saved = desktop
        .wait_for_notification(Duration::from_secs(5), |notice| {
            notice.summary == "Licence saved"
        })
        .expect("the saved notice");
    let file = scratch.root().join("home").join(format!("{SERIAL}.lic"));
    assert!(
        saved.body.contains(file.to_str().unwrap()),
        "{}",
        saved.body
    );
    let verified = installation
        .run(&["licence", "verify", file.to_str().unwrap(), "--json"])
        .json();
    assert_eq!(verified["licence"]["sequence"], 2);

    // The failed folder's notice has the button too: clicked on the notification server,
    // it reaches the plugin through the tray and the engine (the notice's key holds the
    // folder's path, slashes and all), and the licence is saved again.
    fs::remove_file(&file).unwrap();
    assert_eq!(
        failed.actions,
        vec![("save".to_string(), "Save licence file…".to_string())]
    );
    let shown_before = desktop.notifications().len();
    desktop.invoke_action(failed.id, "save");
    let saved_again = wait_for(Duration::from_secs(10), || {
        desktop.notifications()[shown_before..]
            .iter()
            .any(|notice| {
                notice.summary.starts_with("Licence saved")
                    && notice.body.contains(file.to_str().unwrap())
            })
    });
    assert!(
        saved_again.is_some(),
        "the notice's button saves the licence: {:?}",
        &desktop.notifications()[shown_before..]
    );
    let verified = installation
        .run(&["licence", "verify", file.to_str().unwrap(), "--json"])
        .json();
    assert_eq!(verified["valid"], true, "{verified:#}");
    assert_eq!(verified["licence"]["sequence"], 2);
    let _ = tray.kill();
    let _ = tray.wait();
}

/// The first check happens when the light turns green, not at the next announcement: the
/// updater's line no longer says it waits for the back office.
#[test]
fn the_updater_checks_as_soon_as_the_connection_is_up() {
    let installation = Installation::new();
    let _daemon = installation.daemon();
    installation.wait_for_light("green", "");
    let mut detail = String::new();
    let checked = wait_for(Duration::from_secs(30), || {
        let status = installation.status();
        detail = status["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|plugin| plugin["id"] == "licence-updater")
            .and_then(|plugin| plugin["detail"].as_str())
            .unwrap_or_default()
            .to_string();
        !detail.is_empty() && detail != "waiting for the back office"
    });
    assert!(checked.is_some(), "the updater still says {detail:?}");
    assert_eq!(
        detail, "licence sequence 1 installed",
        "the licence it checked"
    );
}
