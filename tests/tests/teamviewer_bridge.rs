//! The TeamViewer bridge in the real engine, driving the TeamViewer stand-in
//! (`tests/teamviewer/teamviewer`, first on the engine's PATH): the assistance commands
//! through the local API, as the host sends them, and what the stand-in recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use remote_service_tests::teamviewer::{hung_standin_lives, StandIn, DEFAULT_ID};
use remote_service_tests::{wait_for, Daemon, PayloadBuilder, Scratch};
use serde_json::{json, Value};

const BRIDGE: &str = "teamviewer-bridge";

/// What the engine finds on its PATH.
enum OnPath {
    /// The stand-in, first.
    StandIn,
    /// No `teamviewer`.
    Nothing,
}

/// A scratch installation licensed for remote assistance, the bridge's `settings`, and
/// its engine started with the stand-in as `path` says; waits until the bridge has looked
/// at TeamViewer once.
fn engine(scratch: &Scratch, standin: &StandIn, settings: &Value, path: OnPath) -> Daemon {
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-4101", 1).feature("remote-assistance");
    let licence = scratch.licence_file(&key, &payload, "assistance.lic");
    scratch
        .run(&["licence", "install", licence.to_str().unwrap()])
        .success();
    scratch.write_plugin_settings(BRIDGE, &settings.to_string());
    let mut command = scratch.command(&["daemon"]);
    match path {
        OnPath::StandIn => standin.apply_env(&mut command),
        OnPath::Nothing => standin.apply_state_only(&mut command),
    }
    let daemon = Scratch::spawn_daemon(command);
    let mut seen = Value::Null;
    let checked = wait_for(Duration::from_secs(60), || {
        seen = bridge(scratch);
        seen["state"] == "running" && seen["status"] != "busy"
    });
    assert!(
        checked.is_some(),
        "the bridge did not check TeamViewer within 60 s: {seen:#}"
    );
    daemon
}

/// The settings that point the bridge at the stand-in's global.conf.
/// A scratch installation, the stand-in, and the engine with the bridge reading the
/// stand-in's global.conf with a time limit of `time_limit_s`.
fn started(time_limit_s: u64, path: OnPath) -> (Scratch, StandIn, Daemon) {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), time_limit_s),
        path,
    );
    (scratch, standin, daemon)
}

fn settings_reading(global_conf: &Path, time_limit_s: u64) -> Value {
    json!({"global_conf": global_conf, "time_limit_s": time_limit_s})
}

/// The bridge as `GET /v1/plugins` shows it.
fn bridge(scratch: &Scratch) -> Value {
    let (body, code) = scratch.curl("GET", "/v1/plugins", None);
    assert_eq!(code, "200", "{body}");
    let plugins: Value = serde_json::from_str(&body).expect("the plugins as JSON");
    plugins
        .as_array()
        .expect("a list of plugins")
        .iter()
        .find(|plugin| plugin["id"] == BRIDGE)
        .cloned()
        .unwrap_or_else(|| panic!("no {BRIDGE} in {plugins:#}"))
}

/// Waits for the bridge's status line to be `line`.
fn wait_for_status_line(scratch: &Scratch, line: &str) -> Value {
    let mut seen = Value::Null;
    let reached = wait_for(Duration::from_secs(30), || {
        seen = bridge(scratch);
        seen["detail"] == line
    });
    assert!(
        reached.is_some(),
        "the status line never became {line:?}: {seen:#}"
    );
    seen
}

/// Sends an assistance command with `argument` (JSON) and returns the outcome
/// (`{"ok", "message"}` or `{"ok", "message", "code"}`).
fn command(scratch: &Scratch, name: &str, argument: &Value) -> Value {
    let body = json!({"argument": argument.to_string()}).to_string();
    let (answer, code) = scratch.curl(
        "POST",
        &format!("/v1/plugins/{BRIDGE}/commands/{name}"),
        Some(&body),
    );
    assert_eq!(code, "200", "{answer}");
    serde_json::from_str(&answer).expect("the outcome as JSON")
}

/// The answer of a command that succeeded, parsed from its message.
fn answered(outcome: &Value) -> Value {
    assert_eq!(outcome["ok"], true, "{outcome:#}");
    serde_json::from_str(outcome["message"].as_str().unwrap()).expect("the answer as JSON")
}

/// The error of a command that failed: its code and message.
fn failed(outcome: &Value) -> (String, String) {
    assert_eq!(outcome["ok"], false, "{outcome:#}");
    (
        outcome["code"].as_str().unwrap().to_string(),
        outcome["message"].as_str().unwrap().to_string(),
    )
}

/// Waits until the bridge has done everything asked so far (its commands run one after
/// the other, and a CHECK command is not followed by another check), then forgets the
/// stand-in's invocations.
fn settle(scratch: &Scratch, standin: &StandIn) {
    answered(&command(scratch, "assistance-check", &json!({})));
    standin.clear_invocations();
}

/// Asserts that the stand-in's first invocations since it was cleared are `expected`
/// (a check follows each command, so more may come after them).
fn check_first_invocations(standin: &StandIn, expected: &[&str]) {
    let invocations = standin.invocations();
    assert!(
        invocations.len() >= expected.len() && invocations[..expected.len()] == *expected,
        "expected the bridge to run {expected:?} first, it ran {invocations:?}"
    );
}

fn check_never_ran(standin: &StandIn, commands: &[&str]) {
    let invocations = standin.invocations();
    for command in commands {
        assert!(
            !invocations.iter().any(|ran| ran == command),
            "the bridge ran {command:?}: {invocations:?}"
        );
    }
}

#[test]
fn the_stand_in_reproduces_the_published_15_11_6_capture_byte_for_byte() {
    // glpi-project/glpi-agent's capture of `teamviewer --info` on 15.11.6, whose publisher
    // masked the ID (and with it the row's trailing space).
    let capture = include_str!("../../plugins/teamviewer-bridge/testdata/info-15.11.6-rpm.txt");
    let standin = StandIn::new();
    standin.set_daemon(true, true);
    standin.set_client_id(Some("999 **MASKED**"));
    let run = standin.run(&["--info"]);
    let printed = run
        .success()
        .replace("999 **MASKED** \n", "999 **MASKED**\n");
    assert_eq!(printed, capture);
    assert_eq!(standin.invocations(), ["info"]);

    let help = standin.run(&["help"]);
    assert!(
        help.success().contains(
            "\u{1b}[1m teamviewer daemon start             \u{1b}[0m Start\t\tTeamViewer daemon. \n"
        ),
        "{}",
        help.stdout
    );
    let status = standin.run(&["daemon", "status"]);
    assert_eq!(status.code, Some(0));
    assert!(status.stdout.starts_with("\nsystemctl status teamviewerd.service\n* teamviewerd.service - TeamViewer remote control daemon\n"));
    standin.set_daemon(false, false);
    assert_eq!(standin.run(&["daemon", "status"]).code, Some(3));
}

#[test]
fn start_enables_and_starts_the_daemon_and_stop_undoes_it() {
    let (scratch, standin, daemon) = started(15, OnPath::StandIn);
    let seen = bridge(&scratch);
    assert_eq!(seen["status"], "ok", "{seen:#}");
    assert_eq!(
        seen["detail"],
        format!("TeamViewer 15.11.6, daemon stopped, ID {DEFAULT_ID}")
    );
    assert_eq!(
        seen["details"],
        json!({"installed": true, "version": "15.11.6", "daemon_running": false, "id": DEFAULT_ID,
               "detail": format!("TeamViewer 15.11.6, daemon stopped, ID {DEFAULT_ID}")})
    );
    let check = answered(&command(&scratch, "assistance-check", &json!({})));
    assert_eq!(check["installed"], true);
    assert_eq!(check["daemon_running"], false);

    settle(&scratch, &standin);
    let started = answered(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(
        started,
        json!({"id": DEFAULT_ID, "started_daemon": true, "enabled_daemon": true, "steps": []})
    );
    check_first_invocations(
        &standin,
        &["daemon status", "daemon enable", "daemon start", "info"],
    );
    assert!(standin.daemon_enabled() && standin.daemon_running());
    wait_for_status_line(
        &scratch,
        &format!("TeamViewer 15.11.6, daemon running, ID {DEFAULT_ID}"),
    );

    settle(&scratch, &standin);
    let stopped = answered(&command(
        &scratch,
        "assistance-stop",
        &json!({"stop_daemon": true, "disable_daemon": true}),
    ));
    assert_eq!(
        stopped,
        json!({"done": "TeamViewer's daemon stopped and disabled"})
    );
    check_first_invocations(&standin, &["daemon stop", "daemon disable"]);
    assert!(!standin.daemon_enabled() && !standin.daemon_running());
    wait_for_status_line(
        &scratch,
        &format!("TeamViewer 15.11.6, daemon stopped, ID {DEFAULT_ID}"),
    );
    daemon.terminate();
}

#[test]
fn stop_undoes_exactly_what_start_did() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    // Enabled, as the package leaves it, but not running.
    standin.set_daemon(true, false);
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), 15),
        OnPath::StandIn,
    );
    settle(&scratch, &standin);
    let started = answered(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(started["started_daemon"], true);
    assert_eq!(started["enabled_daemon"], false);
    check_first_invocations(&standin, &["daemon status", "daemon start", "info"]);
    check_never_ran(&standin, &["daemon enable"]);

    // What the host sends back: stop what was started, leave enabled what was enabled.
    settle(&scratch, &standin);
    let stop = json!({"stop_daemon": started["started_daemon"], "disable_daemon": started["enabled_daemon"]});
    let stopped = answered(&command(&scratch, "assistance-stop", &stop));
    assert_eq!(stopped, json!({"done": "TeamViewer's daemon stopped"}));
    check_first_invocations(&standin, &["daemon stop"]);
    check_never_ran(&standin, &["daemon disable"]);
    assert!(standin.daemon_enabled() && !standin.daemon_running());
    daemon.terminate();
}

#[test]
fn a_running_daemon_is_left_alone_and_the_proxy_is_a_step_for_the_user() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    standin.set_daemon(true, true);
    standin.set_version(Some("15.48.4  (DEB)"));
    standin.set_client_id(Some("123 456 789"));
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), 15),
        OnPath::StandIn,
    );
    assert_eq!(
        bridge(&scratch)["detail"],
        "TeamViewer 15.48.4, daemon running, ID 123 456 789"
    );
    settle(&scratch, &standin);
    let started = answered(&command(
        &scratch,
        "assistance-start",
        &json!({"proxy": {"host": "proxy.example.com", "port": 3128, "user": "alice"}}),
    ));
    assert_eq!(started["id"], "123 456 789");
    assert_eq!(started["started_daemon"], false);
    assert_eq!(started["enabled_daemon"], false);
    assert_eq!(
        started["steps"],
        json!(["Set the proxy in TeamViewer itself: open TeamViewer, Extras > Options > General, under Network settings click \"Configure…\" next to Proxy settings, choose \"Use manual proxy\" and enter proxy.example.com:3128, the user name alice and its password"])
    );
    check_first_invocations(&standin, &["daemon status", "info"]);
    check_never_ran(&standin, &["daemon enable", "daemon start"]);
    // Nothing of the proxy reaches TeamViewer's command line.
    assert!(
        !standin
            .invocations()
            .iter()
            .any(|ran| ran.contains("proxy") || ran.contains("alice")),
        "{:?}",
        standin.invocations()
    );

    settle(&scratch, &standin);
    let stopped = answered(&command(
        &scratch,
        "assistance-stop",
        &json!({"stop_daemon": false, "disable_daemon": false}),
    ));
    assert_eq!(
        stopped["done"],
        "nothing to stop: the bridge had neither started nor enabled TeamViewer's daemon"
    );
    check_never_ran(&standin, &["daemon stop", "daemon disable"]);
    assert!(standin.daemon_enabled() && standin.daemon_running());
    daemon.terminate();
}

#[test]
fn the_13_14_form_is_read() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    standin.set_form_14(true);
    standin.set_daemon(true, true);
    standin.set_client_id(Some("1680132084"));
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), 15),
        OnPath::StandIn,
    );
    let seen = bridge(&scratch);
    assert_eq!(
        seen["detail"],
        "TeamViewer 14.7.1965, daemon running, ID 1680132084"
    );
    let check = answered(&command(&scratch, "assistance-check", &json!({})));
    assert_eq!(check["version"], "14.7.1965");
    assert_eq!(check["id"], "1680132084");
    let started = answered(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(started["id"], "1680132084");
    daemon.terminate();
}

#[test]
fn without_an_id_from_the_tool_the_id_comes_from_global_conf() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    standin.set_daemon(true, true);
    // The tool cannot read its global.conf (blank ID and the hint); the engine can.
    standin.set_no_id(true);
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), 15),
        OnPath::StandIn,
    );
    let info = standin.run(&["info"]);
    assert!(
        info.success()
            .contains("Try restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)"),
        "{}",
        info.stdout
    );
    assert_eq!(
        info.stderr,
        "grep: /opt/teamviewer/config/global.conf: Permission denied\n"
    );
    let started = answered(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(started["id"], DEFAULT_ID);
    daemon.terminate();
}

#[test]
fn without_any_id_start_fails_with_no_id_and_undoes_what_it_did() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    standin.set_no_id(true);
    let missing = scratch.root().join("no-such-global.conf");
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&missing, 15),
        OnPath::StandIn,
    );
    let (code, message) = failed(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(code, "no-id", "{message}");
    for fragment in [
        "TeamViewer's ID cannot be read",
        "Try restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)",
        &format!("{} cannot be read", missing.display()),
        "(the daemon the bridge had started or enabled was stopped and disabled again)",
    ] {
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
    assert!(!standin.daemon_enabled() && !standin.daemon_running());
    daemon.terminate();
}

#[test]
fn a_daemon_that_cannot_start_fails_in_the_tools_words() {
    let scratch = Scratch::new();
    let standin = StandIn::new();
    standin.set_daemon_fails(true);
    let daemon = engine(
        &scratch,
        &standin,
        &settings_reading(&standin.global_conf(), 15),
        OnPath::StandIn,
    );
    let (code, message) = failed(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(code, "daemon-failed", "{message}");
    assert_eq!(
        message,
        "TeamViewer's daemon did not start: Job for teamviewerd.service failed because the control process exited with error code. (the daemon the bridge had started or enabled was disabled again)"
    );
    assert!(!standin.daemon_enabled() && !standin.daemon_running());
    daemon.terminate();
}

#[test]
fn without_teamviewer_start_answers_not_installed() {
    let (scratch, standin, daemon) = started(15, OnPath::Nothing);
    let not_installed = "TeamViewer is not installed: no `teamviewer` program on PATH; install TeamViewer 15 from teamviewer.com";
    let seen = bridge(&scratch);
    assert_eq!(seen["status"], "unavailable", "{seen:#}");
    assert_eq!(seen["detail"], not_installed);
    assert_eq!(seen["details"]["installed"], false);

    let check = answered(&command(&scratch, "assistance-check", &json!({})));
    assert_eq!(
        check,
        json!({"installed": false, "version": null, "daemon_running": false, "id": null, "detail": not_installed})
    );
    let (code, message) = failed(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("not-installed", not_installed)
    );

    // A program set in the settings that is not there is named.
    scratch.write_plugin_settings(BRIDGE, r#"{"program": "/nonexistent/teamviewer"}"#);
    let (code, message) = failed(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(code, "not-installed");
    assert!(
        message.starts_with(
            "TeamViewer is not installed: /nonexistent/teamviewer is not an executable file"
        ),
        "{message}"
    );
    assert!(
        standin.invocations().is_empty(),
        "{:?}",
        standin.invocations()
    );
    daemon.terminate();
}

#[test]
fn a_hanging_teamviewer_is_ended_at_the_time_limit() {
    let (scratch, standin, daemon) = started(1, OnPath::StandIn);
    standin.set_hang(Some(""));
    let asked = Instant::now();
    let (code, message) = failed(&command(&scratch, "assistance-start", &json!({})));
    let took = asked.elapsed();
    assert_eq!(code, "timed-out", "{message}");
    assert_eq!(
        message,
        "`teamviewer daemon status` did not answer within 1 s (the bridge's time limit, setting time_limit_s) and was ended"
    );
    // Ended by the bridge's limit, not by the stand-in's hour of sleep or the engine's
    // 120 s for a command.
    assert!(took < Duration::from_secs(60), "the answer took {took:?}");
    let hung = standin.hung_pids();
    assert!(!hung.is_empty(), "the stand-in did not hang");
    let first = hung[0];
    assert!(
        wait_for(Duration::from_secs(30), || !hung_standin_lives(first)).is_some(),
        "the hung stand-in {first} still runs"
    );
    standin.set_hang(None);
    // The engine goes on: the bridge answers the next command.
    let started = answered(&command(&scratch, "assistance-start", &json!({})));
    assert_eq!(started["id"], DEFAULT_ID);
    daemon.terminate();
    for pid in standin.hung_pids() {
        assert!(
            !hung_standin_lives(pid),
            "the hung stand-in {pid} outlived the engine"
        );
    }
}
