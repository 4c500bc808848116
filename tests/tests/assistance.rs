//! Remote assistance end to end: the real back office and its help-desk page in Chromium,
//! the tray read and clicked over D-Bus as a panel does, the notification server that
//! clicks Allow or Deny, the real TeamViewer bridge plugin driving the TeamViewer stand-in
//! (`tests/teamviewer/teamviewer`, first on the engine's PATH), and the record.

use std::fs;
use std::process::Command;
use std::time::Instant;

use remote_service_tests::assistance::*;
use remote_service_tests::backoffice::Installation;
use remote_service_tests::browser::Browser;
use remote_service_tests::desktop::Desktop;
use remote_service_tests::teamviewer::StandIn;
use remote_service_tests::{wait_for, Scratch};

#[test]
fn allowed_in_the_tray_requested_on_the_page_accepted_in_the_notification_and_revoked_in_the_menu()
{
    let shop = Shop::new(None);
    let desktop = Desktop::start();
    let (_tray, item) = shop.tray(&desktop);
    let browser = shop.help_desk_page();
    assert!(
        browser
            .wait_until(SOON, |browser| badges(browser) == ["VPN"])
            .is_some(),
        "connected, not allowed: {:?}",
        badges(&browser)
    );
    assert!(
        has_label_starting(&item, "Allow remote assistance"),
        "{:?}",
        labels(&item)
    );

    // Allow from the tray menu: RDP and VPN on the page.
    item.click("Allow remote assistance");
    let clicked = Instant::now();
    assert!(
        browser
            .wait_until(SOON, |browser| badges(browser) == ["RDP", "VPN"])
            .is_some(),
        "RDP and VPN: {:?}",
        badges(&browser)
    );
    eprintln!(
        "RDP and VPN on the page {:?} after the click",
        clicked.elapsed()
    );
    assert!(
        item.wait_until(SOON, |item| has_label_starting(
            item,
            "Remote assistance allowed until "
        ) && labels(item)
            .contains(&"Revoke now".to_string())),
        "{:?}",
        labels(&item)
    );
    let status = shop.assistance();
    let id = status["teamviewer_id"].as_str().unwrap().to_string();
    assert_eq!(
        id.replace(' ', ""),
        remote_service_tests::teamviewer::DEFAULT_ID,
        "the ID the stand-in's TeamViewer has"
    );
    assert!(browser
        .text(ALLOWED)
        .unwrap_or_default()
        .starts_with("allowed until"));
    assert!(
        shop.teamviewer.daemon_running(),
        "the bridge started TeamViewer's daemon"
    );
    let until = time::OffsetDateTime::parse(
        status["until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hours = (until - time::OffsetDateTime::now_utc()).whole_minutes();
    assert!(
        (71 * 60..=72 * 60).contains(&hours),
        "72 hours by default: {hours} min"
    );

    // The help desk asks: the notification with Allow and Deny.
    browser.click(REQUEST_ENABLED);
    let question = desktop
        .wait_for_notification(SOON, |notification| {
            notification.summary
                == format!(
                    "{} of {ORGANISATION_NAME} asks to connect for remote assistance",
                    HELP_DESK.0
                )
        })
        .unwrap_or_else(|| {
            panic!(
                "the request's notification; got {:?}",
                desktop.notifications()
            )
        });
    let keys: Vec<&str> = question
        .actions
        .iter()
        .map(|(key, _)| key.as_str())
        .collect();
    assert!(
        keys.contains(&"allow") && keys.contains(&"deny"),
        "{:?}",
        question.actions
    );
    assert!(
        item.wait_until(SOON, |item| labels(item)
            .contains(&format!("Allow {} to connect", HELP_DESK.0))),
        "the same choice in the menu: {:?}",
        labels(&item)
    );

    // Allow through the notification: the page shows accepted with the ID.
    desktop.invoke_action(question.id, "allow");
    let accepted = format!("accepted: connect to TeamViewer ID {id} (allowed until ");
    assert!(
        browser
            .wait_until(SOON, |browser| browser
                .text(ANSWER)
                .is_some_and(|text| text.starts_with(&accepted)))
            .is_some(),
        "accepted with the ID: {:?}",
        browser.text(ANSWER)
    );
    assert!(
        item.wait_until(SOON, |item| labels(item)
            .contains(&"End remote session".to_string())
            && item.tooltip().description.contains("remote session")),
        "the remote session shows: {:?} {:?}",
        labels(&item),
        item.tooltip()
    );
    assert_eq!(shop.assistance()["session"]["help_desk_user"], HELP_DESK.0);

    // Revoke from the menu: not allowed on the page, the daemon stopped.
    item.click("Revoke now");
    assert!(
        browser
            .wait_until(SOON, |browser| badges(browser) == ["VPN"]
                && browser.text(ALLOWED).as_deref() == Some("not allowed"))
            .is_some(),
        "not allowed: {:?} {:?}",
        badges(&browser),
        browser.text(ALLOWED)
    );
    assert!(
        wait_for(SOON, || !shop.teamviewer.daemon_running()).is_some(),
        "the bridge stopped the daemon it started"
    );
    assert!(
        item.wait_until(SOON, |item| has_label_starting(
            item,
            "Allow remote assistance"
        ) && !labels(item)
            .contains(&"End remote session".to_string())),
        "{:?}",
        labels(&item)
    );
    assert_eq!(
        shop.log_events(),
        [
            "allowed",
            "requested",
            "answered:accepted",
            "session-started",
            "session-ended",
            "revoked"
        ]
    );
    browser.screenshot(&Browser::output_path("assistance-revoked.png"));
}

#[test]
fn a_denied_request_and_one_without_an_answer_show_on_the_page() {
    let shop = Shop::new(Some(3));
    let desktop = Desktop::start();
    let (_tray, item) = shop.tray(&desktop);
    let browser = shop.help_desk_page();
    let allowed = shop.run(&["assistance", "allow", "--hours", "2"]);
    assert!(allowed
        .success()
        .starts_with("remote assistance allowed until "));
    browser.wait_for(REQUEST_ENABLED, SOON);

    browser.click(REQUEST_ENABLED);
    let question = desktop
        .wait_for_notification(SOON, |notification| {
            notification.summary.contains("asks to connect")
        })
        .expect("the request's notification");
    desktop.invoke_action(question.id, "deny");
    browser.wait_for_text(ANSWER, "denied", SOON);

    browser.click(REQUEST_ENABLED);
    let second = desktop
        .wait_for_notification(SOON, |notification| {
            notification.summary.contains("asks to connect") && notification.id != question.id
        })
        .expect("the second request's notification");
    assert!(second.actions.iter().any(|(key, _)| key == "deny"));
    // Nobody answers: after the 3 s the back office asked for, a denial.
    browser.wait_for_text(ANSWER, "no answer", SOON);
    assert!(
        item.wait_until(SOON, |item| !has_label_starting(item, "Deny ")),
        "the request left the menu: {:?}",
        labels(&item)
    );
    assert!(
        wait_for(SOON, || desktop.closed_notifications().contains(&second.id)).is_some(),
        "its question left the desktop"
    );
    assert_eq!(
        shop.log_events(),
        [
            "allowed",
            "requested",
            "answered:denied",
            "requested",
            "answered:no-answer"
        ]
    );
}

#[test]
fn each_missing_precondition_is_named_with_what_to_do() {
    let mut shop = Shop::new(None);
    // No engine runs: allowing needs the one that holds the allowance.
    let alone = shop.run(&["assistance", "allow"]);
    assert_eq!(alone.code, Some(1), "{}", alone.stderr);
    assert!(
        alone.stderr.contains("no Remote Service engine runs"),
        "{}",
        alone.stderr
    );

    // TeamViewer not installed: the bridge says so.
    let daemon = shop.daemon_without_teamviewer();
    shop.wait_until_green();
    let missing = shop.run(&["assistance", "allow"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("TeamViewer is not installed"),
        "{}",
        missing.stderr
    );
    assert_eq!(shop.assistance()["allowed"], false);
    assert_eq!(daemon.terminate(), Some(0));

    let _daemon = shop.daemon();
    shop.wait_until_green();
    // Automatic proxy detection: refused, and the proxy named.
    shop.run(&["config", "set", "proxy.mode", "auto"]).success();
    let refused = shop.run(&["assistance", "allow"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("proxy: remote assistance needs the proxy set by hand"),
        "{}",
        refused.stderr
    );
    let status = shop.assistance();
    let proxy = status["preconditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|precondition| precondition["name"] == "proxy")
        .unwrap()
        .clone();
    assert_eq!(proxy["ok"], false, "{status}");
    shop.run(&["config", "set", "proxy.mode", "none"]).success();
    shop.wait_until_green();

    // The back office gone: the light is orange and that is named.
    shop.installation.backoffice.kill();
    shop.installation.wait_for_light("orange", "");
    let orange = shop.run(&["assistance", "allow"]);
    assert!(
        orange.stderr.contains("licence-update: not connected"),
        "{}",
        orange.stderr
    );
    assert_eq!(
        shop.log_events(),
        ["refused", "refused", "refused"],
        "each refusal is on the record"
    );
}

#[test]
fn without_the_licence_option_remote_assistance_is_not_there() {
    let installation = Installation::new();
    let teamviewer = StandIn::new();
    let mut command = installation.command(&["daemon"]);
    teamviewer.apply_env(&mut command);
    let _daemon = Scratch::spawn_daemon(command);
    installation.wait_for_light("green", "");
    assert_eq!(installation.status()["assistance"], serde_json::Value::Null);
    let absent = installation.run(&["assistance", "status"]);
    assert_eq!(absent.code, Some(1), "{}", absent.stderr);
    assert!(
        absent.stderr.contains("remote-assistance licence option"),
        "{}",
        absent.stderr
    );
}

#[test]
fn an_allowance_survives_a_restart_and_one_that_expired_meanwhile_ends_everywhere() {
    let shop = Shop::new(None);
    let daemon = shop.daemon();
    shop.wait_until_green();
    shop.run(&["assistance", "allow", "--hours", "1"]).success();
    let before = shop.assistance();
    assert_eq!(before["allowed"], true);
    assert!(shop.teamviewer.daemon_running());
    assert_eq!(daemon.terminate(), Some(0));

    let daemon = shop.daemon();
    let after = shop.assistance();
    assert_eq!(after["allowed"], true, "{after}");
    assert_eq!(after["until"], before["until"]);
    assert_eq!(daemon.terminate(), Some(0));

    // The allowance ends while the engine is down: it is not revived.
    let state = shop
        .scratch()
        .root()
        .join("data/remote-service/assistance.json");
    let mut saved: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    saved["allowance"]["until"] = "2026-01-01T00:00:00Z".into();
    fs::write(&state, saved.to_string()).unwrap();
    let _daemon = shop.daemon();
    assert_eq!(shop.assistance()["allowed"], false);
    assert!(
        wait_for(SOON, || !shop.teamviewer.daemon_running()).is_some(),
        "what the bridge started is stopped"
    );
    let log = shop.run(&["assistance", "log", "--json"]).json();
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "expired");
    assert_eq!(last["at"], "2026-01-01T00:00:00Z");
}

/// The record is appended line by line with fsync: an engine killed while it writes leaves
/// whole lines only.
#[test]
fn an_engine_killed_while_it_writes_the_record_leaves_only_whole_lines() {
    let shop = Shop::new(None);
    let daemon = shop.daemon();
    shop.wait_until_green();
    let socket = shop.scratch().socket();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for path in ["/v1/assistance/allow", "/v1/assistance/revoke"] {
                        let _ = remote_service_tests::curl_socket(
                            Command::new("curl"),
                            &socket,
                            "POST",
                            path,
                            Some("{}"),
                        );
                    }
                }
            })
        })
        .collect();
    let log = shop
        .scratch()
        .root()
        .join("data/remote-service/assistance-log.jsonl");
    assert!(
        wait_for(SOON, || fs::read(&log)
            .is_ok_and(|bytes| bytes.len() > 4096))
        .is_some(),
        "the record grows"
    );
    Command::new("kill")
        .args(["-KILL", &daemon.pid().to_string()])
        .status()
        .unwrap();
    drop(daemon);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let bytes = fs::read(&log).unwrap();
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the record ends with a whole line"
    );
    for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let entry: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|error| {
            panic!(
                "a line that does not read ({error}): {}",
                String::from_utf8_lossy(line)
            )
        });
        assert!(entry["event"].is_string());
    }
}
