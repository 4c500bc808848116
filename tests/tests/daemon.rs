//! The engine as a service: `remote-service daemon` and its local API, used the way the
//! tray, the command line and `curl --unix-socket` use it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use remote_service_tests::{EventStream, PayloadBuilder, Scratch};
use serde_json::Value;

fn curl(scratch: &Scratch, method: &str, path: &str) -> (String, String) {
    scratch.curl(method, path, None)
}

#[test]
fn status_says_plainly_when_no_engine_runs() {
    let scratch = Scratch::new();
    let run = scratch.run(&["status"]);
    assert_eq!(run.code, Some(1));
    let expected = format!(
        "{} (nothing answers on {})",
        remote_service_api::NOT_RUNNING,
        scratch.socket().display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the Remote Service service is not running: start it with `systemctl start remote-service`"),
        "{}",
        run.stderr
    );
    let json = scratch.run(&["status", "--json"]).json();
    assert_eq!(json["running"], false);
    assert_eq!(json["connection"]["state"], "grey");
    assert_eq!(
        json["connection"]["reason"],
        remote_service_api::NOT_RUNNING
    );
}

#[test]
fn the_daemon_serves_status_plugins_and_licence_on_a_private_socket() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-1111", 2).feature("remote-assistance");
    let licence = scratch.licence_file(&key, &payload, "l.lic");
    scratch
        .run(&["licence", "install", licence.to_str().unwrap()])
        .success();
    let daemon = scratch.start_daemon();

    let socket_mode = fs::metadata(scratch.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(socket_mode, 0o600);
    let dir_mode = fs::metadata(scratch.socket().parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    let status = scratch.run(&["status", "--json"]).json();
    assert_eq!(status["connection"]["state"], "grey");
    assert_eq!(status["enabled"], false);
    assert_eq!(status["licence"]["serial_number"], "RS-1111");
    assert_eq!(status["plugins"].as_array().unwrap().len(), 3);
    let text = scratch.run(&["status"]);
    assert!(
        text.success()
            .contains("Licence:            serial RS-1111, sequence 2"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("teamviewer-bridge"), "{}", text.stdout);

    // `plugins` asks the running engine instead of loading the plugins a second time.
    let plugins = scratch.run(&["plugins", "--json"]).json();
    assert_eq!(plugins, status["plugins"]);

    let (body, code) = curl(&scratch, "GET", "/v1/licence");
    assert_eq!(code, "200");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["sequence"], 2);
    let (body, code) = curl(&scratch, "GET", "/v1/nothing");
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("404", r#"{"error":"no such endpoint: GET /v1/nothing"}"#)
    );
    let (_, code) = curl(&scratch, "DELETE", "/v1/status");
    assert_eq!(code, "405");
    let (body, code) = curl(&scratch, "POST", "/v1/plugins/none/menu/x/click");
    assert_eq!(code, "404");
    assert!(body.contains("plugin none is not running"), "{body}");

    assert_eq!(daemon.terminate(), Some(0));
    assert!(!scratch.socket().exists(), "the socket is removed on exit");
}

#[test]
fn a_second_daemon_is_refused_and_the_first_goes_on() {
    let scratch = Scratch::new();
    let _daemon = scratch.start_daemon();
    let second = scratch.run(&["daemon"]);
    assert_eq!(second.code, Some(1));
    assert!(
        second
            .stderr
            .contains("a Remote Service engine already runs and answers on"),
        "{}",
        second.stderr
    );
    scratch.run(&["status"]).success();
}

#[test]
fn the_event_stream_reports_a_licence_dropped_into_the_folder() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let _daemon = scratch.start_daemon();
    let events = EventStream::follow(&scratch.socket());
    let first = events.next(Duration::from_secs(5), "the first event");
    assert_eq!(first["event"], "status");
    assert_eq!(first["status"]["licence"], Value::Null);

    fs::write(
        scratch.licence_folder().join("garbage.lic"),
        "not a licence",
    )
    .unwrap();
    let (_, refused) = events.next_matching(Duration::from_secs(20), "the refusal", |event| {
        event["event"] == "licence-refused"
    });
    assert!(refused["reason"]
        .as_str()
        .unwrap()
        .contains("not a remote service licence"));

    let payload = PayloadBuilder::new("RS-2222", 1).feature("auto-licence-update");
    fs::copy(
        scratch.licence_file(&key, &payload, "l.lic"),
        scratch.licence_folder().join("RS-2222.lic"),
    )
    .unwrap();
    let (_, status) = events.next_matching(
        Duration::from_secs(20),
        "the status with the licence",
        |event| event["event"] == "status" && !event["status"]["licence"].is_null(),
    );
    assert_eq!(status["status"]["licence"]["serial_number"], "RS-2222");
    let updater = status["status"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "licence-updater")
        .unwrap();
    assert_eq!(updater["state"], "running");
}

#[test]
fn a_plugin_menu_item_clicked_through_the_api_raises_the_plugins_notice() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-3333", 1).feature("auto-licence-update");
    let licence = scratch.licence_file(&key, &payload, "l.lic");
    scratch
        .run(&["licence", "install", licence.to_str().unwrap()])
        .success();
    let _daemon = scratch.start_daemon();

    let (menu, code) = curl(&scratch, "GET", "/v1/menu");
    assert_eq!(code, "200");
    let menu: Value = serde_json::from_str(&menu).unwrap();
    assert_eq!(
        menu,
        serde_json::json!([{"plugin": "licence-updater", "id": "check-now", "label": "Check for licence update now", "enabled": true, "checked": null}])
    );

    let events = EventStream::follow(&scratch.socket());
    assert_eq!(
        events.next(Duration::from_secs(5), "the first event")["event"],
        "status"
    );
    let (_, code) = curl(
        &scratch,
        "POST",
        "/v1/plugins/licence-updater/menu/check-now/click",
    );
    assert_eq!(code, "204");
    // The plugin's status changes too (its check ran): the notice is among the events.
    let (_, notice) = events.next_matching(Duration::from_secs(20), "the notice", |event| {
        event["event"] == "notice"
    });
    assert_eq!(notice["plugin"], "licence-updater");
    assert_eq!(notice["summary"], "Licence update");
    assert_eq!(
        notice["body"],
        "cannot reach the back office: there is no session with the back office (the light is not green)"
    );
}

#[test]
fn a_plugin_stops_when_a_licence_drops_its_option_and_starts_again_when_it_returns() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let _daemon = scratch.start_daemon();
    let updater_state = || {
        let status = scratch.run(&["status", "--json"]).json();
        let plugins = status["plugins"].as_array().unwrap().clone();
        let updater = plugins
            .iter()
            .find(|p| p["id"] == "licence-updater")
            .unwrap()
            .clone();
        updater["state"].as_str().unwrap().to_string()
    };
    for (sequence, with_option, expected) in [
        (1, true, "running"),
        (2, false, "not-licensed"),
        (3, true, "running"),
    ] {
        let mut payload = PayloadBuilder::new("RS-5555", sequence);
        if with_option {
            payload = payload.feature("auto-licence-update");
        }
        let licence = scratch.licence_file(&key, &payload, "l.lic");
        fs::copy(&licence, scratch.licence_folder().join("RS-5555.lic")).unwrap();
        let reached =
            remote_service_tests::wait_for(Duration::from_secs(3), || updater_state() == expected);
        assert!(
            reached.is_some(),
            "sequence {sequence}: the updater is {}, not {expected}",
            updater_state()
        );
    }
}
