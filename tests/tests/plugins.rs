//! The plugin host as a user of `remote-service plugins` sees it: real plugin files in a
//! scratch plugin folder, misbehaving ones among them.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use remote_service_tests::{PayloadBuilder, Run, Scratch};
use serde_json::Value;

fn plugin<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing
        .as_array()
        .expect("a list of plugins")
        .iter()
        .find(|plugin| plugin["id"] == id)
        .unwrap_or_else(|| panic!("no plugin {id} in {listing:#}"))
}

fn plugins_json(scratch: &Scratch) -> Value {
    let run = scratch.run(&["plugins", "--json"]);
    run.success();
    run.json()
}

fn check_state(listing: &Value, id: &str, state: &str, detail_fragment: &str) {
    assert!(
        !detail_fragment.is_empty(),
        "an empty fragment checks nothing"
    );
    let plugin = plugin(listing, id);
    assert_eq!(plugin["state"], state, "{plugin:#}");
    let detail = plugin["detail"].as_str().unwrap();
    assert!(
        detail.contains(detail_fragment),
        "detail of {id}: {detail:?} lacks {detail_fragment:?}"
    );
}

/// The host goes on: the real plugins are there, the unlicensed ones waiting.
fn check_real_plugins_unharmed(listing: &Value) {
    check_state(
        listing,
        "proxy-detector",
        "running",
        "detects the system's proxy (GNOME, KDE, PAC, WPAD, environment, sysconfig)",
    );
    check_state(
        listing,
        "licence-updater",
        "not-licensed",
        "needs the licence option auto-licence-update",
    );
    check_state(
        listing,
        "teamviewer-bridge",
        "not-licensed",
        "needs the licence option remote-assistance",
    );
}

#[test]
fn the_three_plugins_load_and_wait_for_their_licence_options() {
    let scratch = Scratch::new();
    let listing = plugins_json(&scratch);
    assert_eq!(listing.as_array().unwrap().len(), 3, "{listing:#}");
    check_real_plugins_unharmed(&listing);
    for id in ["proxy-detector", "licence-updater", "teamviewer-bridge"] {
        assert_eq!(plugin(&listing, id)["api_version"], "1.2.0");
        assert_eq!(plugin(&listing, id)["version"], "0.1.0");
    }
    assert_eq!(
        plugin(&listing, "licence-updater")["licence_option"],
        "auto-licence-update"
    );
    assert_eq!(
        plugin(&listing, "proxy-detector")["licence_option"],
        Value::Null
    );

    let table = scratch.run(&["plugins"]);
    let lines: Vec<&str> = table.success().lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATE"),
        "{}",
        table.stdout
    );
    assert!(
        lines.iter().any(|line| line.starts_with("licence-updater")
            && line.contains("0.1.0")
            && line.contains("1.2.0")
            && line.contains("not-licensed")),
        "{}",
        table.stdout
    );
}

#[test]
fn a_licence_with_both_options_starts_every_plugin() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-1001", 1)
        .feature("auto-licence-update")
        .feature("remote-assistance");
    let licence = scratch.licence_file(&key, &payload, "new.lic");
    scratch
        .run(&["licence", "install", licence.to_str().unwrap()])
        .success();

    let listing = plugins_json(&scratch);
    check_state(
        &listing,
        "licence-updater",
        "running",
        "waiting for the back office",
    );
    check_state(
        &listing,
        "teamviewer-bridge",
        "running",
        "TeamViewer is not installed",
    );
    assert_eq!(
        plugin(&listing, "teamviewer-bridge")["status"],
        "unavailable"
    );
}

fn misbehaving(at: &str, does: &str) -> (Scratch, Run) {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    scratch.write_plugin_settings(
        "misbehaving",
        &format!(r#"{{"at": "{at}", "does": "{does}"}}"#),
    );
    scratch.write_settings("[plugins]\ncall_timeout_ms = 400\n");
    let run = scratch.run(&["plugins", "--json"]);
    (scratch, run)
}

/// Runs `plugins --json` with the misbehaving plugin set to misbehave `does` at `at`;
/// checks that the command succeeds, shows the plugin `state` with `detail`, and that the
/// real plugins are unharmed.
fn check_misbehaviour(at: &str, does: &str, state: &str, detail: &str) -> (Scratch, Run) {
    let (scratch, run) = misbehaving(at, does);
    run.success();
    let listing = run.json();
    check_state(&listing, "misbehaving", state, detail);
    check_real_plugins_unharmed(&listing);
    (scratch, run)
}

#[test]
fn a_well_behaved_fixture_runs() {
    check_misbehaviour("nowhere", "nothing", "running", "behaving");
}

#[test]
fn a_plugin_that_panics_is_faulted_and_the_host_goes_on() {
    let (scratch, run) = check_misbehaviour(
        "start",
        "panic",
        "faulted",
        "panicked while starting: plugin panicked: misbehaving on purpose at start",
    );
    // The panic's message and place are in the log, attributed to the plugin, and not on
    // the command's standard error.
    let log = fs::read_to_string(scratch.log_file()).unwrap();
    let panic_line = log
        .lines()
        .find(|line| line.contains("panic at "))
        .expect("the panic in the log");
    assert!(
        panic_line.contains("misbehaving on purpose at start")
            && panic_line.contains("plugin=\"misbehaving\""),
        "{panic_line}"
    );
    assert!(!run.stderr.contains("panicked at"), "{}", run.stderr);
}

#[test]
fn a_plugin_that_returns_an_error_is_faulted_and_the_host_goes_on() {
    check_misbehaviour(
        "start",
        "error",
        "faulted",
        "returned an error while starting: misbehaving on purpose at start (on-purpose)",
    );
}

#[test]
fn a_plugin_that_reports_an_error_is_running_with_its_error() {
    let (_scratch, run) = check_misbehaviour(
        "status",
        "error",
        "running",
        "misbehaving on purpose at status",
    );
    assert_eq!(plugin(&run.json(), "misbehaving")["status"], "error");
}

#[test]
fn a_plugin_that_hangs_is_faulted_after_the_time_limit_and_the_host_goes_on() {
    // The command ends (the host waits out the 400 ms limit, not the plugin) and says so.
    for (at, doing) in [("start", "starting"), ("status", "reporting its status")] {
        check_misbehaviour(
            at,
            "hang",
            "faulted",
            &format!("did not answer within 400 ms while {doing}"),
        );
    }
}

/// Through the real daemon: a plugin that hangs on an event (the licence changed) is faulted
/// after its time limit, the engine goes on answering, and the licence is in force.
#[test]
fn a_plugin_that_hangs_on_an_event_in_the_daemon_is_faulted_and_the_engine_goes_on() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    scratch.write_plugin_settings("misbehaving", r#"{"at": "event", "does": "hang"}"#);
    scratch.write_settings("[plugins]\ncall_timeout_ms = 400\n");
    let _daemon = scratch.start_daemon();
    let listed = scratch.run(&["plugins", "--json"]).json();
    check_state(&listed, "misbehaving", "running", "behaving");

    let payload = PayloadBuilder::new("RS-2003", 1).feature("auto-licence-update");
    let licence = scratch.licence_file(&key, &payload, "l.lic");
    fs::copy(&licence, scratch.licence_folder().join("RS-2003.lic")).unwrap();
    let mut last = Value::Null;
    let faulted = remote_service_tests::wait_for(Duration::from_secs(30), || {
        last = scratch.run(&["status", "--json"]).json();
        last["licence"]["serial_number"] == "RS-2003"
            && plugin(&last["plugins"], "misbehaving")["state"] == "faulted"
    });
    assert!(faulted.is_some(), "{last:#}");
    check_state(
        &last["plugins"],
        "misbehaving",
        "faulted",
        "did not answer within 400 ms while handling a licence change",
    );
    // The licensed updater started, and the engine answers as before.
    check_state(
        &last["plugins"],
        "licence-updater",
        "running",
        "waiting for the back office",
    );
    scratch.run(&["licence", "show"]).success();
}

#[test]
fn a_plugin_built_against_a_changed_abi_is_refused_with_the_loader_errors() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_changed_abi_plugin", "changed_abi");
    let run = scratch.run(&["plugins", "--json"]);
    let listing = run.json();
    let refused = plugin(&listing, "libremote_service_plugin_changed_abi.so");
    assert_eq!(refused["state"], "refused");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "built against an incompatible plugin ABI (this host has plugin API 1.2.0):"
        ),
        "{detail}"
    );
    assert!(
        detail
            .lines()
            .skip(1)
            .all(|line| line.starts_with("Error: ")),
        "{detail}"
    );
    assert!(detail.lines().count() > 1, "{detail}");
    check_real_plugins_unharmed(&listing);
    let log = fs::read_to_string(scratch.log_file()).unwrap();
    assert!(
        log.contains("full loader report") && log.contains("Layout of expected type"),
        "{log}"
    );
}

#[test]
fn a_plugin_built_against_another_major_version_is_refused_naming_both() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_api_2_plugin", "api_2");
    let listing = scratch.run(&["plugins", "--json"]).json();
    let refused = plugin(&listing, "libremote_service_plugin_api_2.so");
    assert_eq!(refused["state"], "refused");
    assert_eq!(
        refused["detail"],
        "built against plugin API 2.0.0, this host has plugin API 1.2.0 (major versions must match)"
    );
    check_real_plugins_unharmed(&listing);
}

/// A plugin built with panic = "abort" (the SDK says so in its manifest): a panic in it
/// would end the engine, so it is refused and never started.
#[test]
fn a_plugin_built_with_panic_abort_is_refused() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_abort_plugin", "aborting");
    let listing = scratch.run(&["plugins", "--json"]).json();
    let refused = plugin(&listing, "libremote_service_plugin_aborting.so");
    assert_eq!(refused["state"], "refused", "{refused:#}");
    assert_eq!(
        refused["detail"],
        "it was built with panic = \"abort\": a panic in it would end the whole service"
    );
    check_real_plugins_unharmed(&listing);
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.plugin_dir.join("libremote_service_plugin_notes.so");
    fs::write(&path, "this is a text file\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let listing = plugins_json(&scratch);
    check_state(
        &listing,
        "libremote_service_plugin_notes.so",
        "refused",
        "not a loadable library:",
    );
    check_real_plugins_unharmed(&listing);
}

#[test]
fn files_that_do_not_match_the_plugin_pattern_are_ignored() {
    let scratch = Scratch::new();
    fs::write(scratch.plugin_dir.join("README.txt"), "notes\n").unwrap();
    scratch.add_plugin_file(
        &remote_service_tests::artifact("libfixture_misbehaving_plugin.so"),
        "libfixture_misbehaving_plugin.so",
    );
    assert_eq!(plugins_json(&scratch).as_array().unwrap().len(), 3);
}

#[test]
fn a_second_plugin_with_the_same_id_is_refused() {
    let scratch = Scratch::new();
    scratch.add_plugin_file(
        &remote_service_tests::artifact("libremote_service_plugin_proxy_detector.so"),
        "libremote_service_plugin_proxy_detector_copy.so",
    );
    let listing = plugins_json(&scratch);
    let copies: Vec<&Value> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["id"] == "proxy-detector")
        .collect();
    assert_eq!(copies.len(), 2, "{listing:#}");
    assert_eq!(copies[0]["state"], "running");
    assert_eq!(copies[1]["state"], "refused");
    assert!(copies[1]["path"].as_str().unwrap().ends_with("_copy.so"));
    let detail = copies[1]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("another plugin with id proxy-detector is loaded from"),
        "{detail}"
    );
}

#[test]
fn a_plugin_folder_anyone_can_write_is_refused_with_the_path_and_why() {
    let scratch = Scratch::new();
    fs::set_permissions(&scratch.plugin_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let run = scratch.run(&["plugins", "--json"]);
    run.success();
    assert_eq!(run.json(), Value::Array(vec![]));
    let expected = format!(
        "plugin folder {} refused: anyone can write it (mode 0777); run chmod o-w on it",
        scratch.plugin_dir.display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

#[test]
fn a_plugin_file_anyone_can_write_is_refused_with_the_path_and_why() {
    let scratch = Scratch::new();
    let path = scratch
        .plugin_dir
        .join("libremote_service_plugin_proxy_detector.so");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o757)).unwrap();
    let listing = plugins_json(&scratch);
    check_state(
        &listing,
        "libremote_service_plugin_proxy_detector.so",
        "refused",
        &format!(
            "refused {}: anyone can write it (mode 0757)",
            path.display()
        ),
    );
}

#[test]
fn a_licence_dropped_into_the_folder_starts_the_plugins_it_licenses_without_a_restart() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let mut watch = remote_service_tests::KillOnDrop(
        scratch
            .command(&["plugins", "--watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start plugins --watch"),
    );
    let (lines, received) = mpsc::channel::<Value>();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines
                .send(serde_json::from_str(&line).expect("a JSON line"))
                .is_err()
            {
                break;
            }
        }
    });
    let first = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the first listing");
    assert_eq!(first["event"], "plugins");
    check_state(
        &first["plugins"],
        "licence-updater",
        "not-licensed",
        "needs the licence option",
    );

    // Copied by hand, as a user would: not through `licence install`.
    let payload = PayloadBuilder::new("RS-2002", 4).feature("auto-licence-update");
    let licence = scratch.licence_file(&key, &payload, "dropped.lic");
    fs::copy(&licence, scratch.licence_folder().join("RS-2002.lic")).unwrap();

    let mut licence_changed = false;
    let started = loop {
        let event = received
            .recv_timeout(Duration::from_secs(20))
            .expect("the licence and the plugin started");
        if event["event"] == "licence-changed" {
            assert_eq!(event["licence"]["serial_number"], "RS-2002");
            assert_eq!(event["licence"]["sequence"], 4);
            licence_changed = true;
        }
        if event["event"] == "plugins"
            && plugin(&event["plugins"], "licence-updater")["state"] == "running"
        {
            break event;
        }
    };
    assert!(licence_changed);
    check_state(
        &started["plugins"],
        "teamviewer-bridge",
        "not-licensed",
        "remote-assistance",
    );
    check_state(
        &started["plugins"],
        "proxy-detector",
        "running",
        "detects the system's proxy (GNOME, KDE, PAC, WPAD, environment, sysconfig)",
    );
    watch.kill().unwrap();
    watch.wait().unwrap();
}

/// A plugin built against plugin API 1.1.0 (the released crate, kept in
/// `tests/fixtures/api-1-1-plugin/vendor`) loads in this host, runs, gets its clicks and
/// reaches the host's 1.1 calls; a command, which 1.1 has not, is answered "unsupported"
/// by the default body and the plugin goes on running.
#[test]
fn a_plugin_built_against_plugin_api_1_1_runs_in_this_host() {
    let scratch = Scratch::new();
    scratch.add_fixture_plugin("fixture_api_1_1_plugin", "old_api");
    let _daemon = scratch.start_daemon();
    let listing = plugins_json(&scratch);
    check_state(
        &listing,
        "old-api",
        "running",
        "built against plugin API 1.1.0",
    );
    assert_eq!(plugin(&listing, "old-api")["api_version"], "1.1.0");
    check_real_plugins_unharmed(&listing);

    let status = scratch.run(&["status", "--json"]).json();
    assert!(
        status["menu"].as_array().unwrap().iter().any(|entry| entry
            == &serde_json::json!({"plugin": "old-api", "id": "hello", "label": "Say hello (plugin API 1.1)", "enabled": true, "checked": null})),
        "{:#}",
        status["menu"]
    );

    let events = remote_service_tests::EventStream::follow(&scratch.socket());
    events.next(Duration::from_secs(10), "the first event");
    let (_, code) = scratch.curl("POST", "/v1/plugins/old-api/menu/hello/click", None);
    assert_eq!(code, "204");
    let (_, notice) =
        events.next_matching(Duration::from_secs(10), "the plugin's notice", |event| {
            event["event"] == "notice" && event["plugin"] == "old-api"
        });
    assert_eq!(notice["summary"], "Hello from plugin API 1.1");
    assert_eq!(notice["body"], "hello clicked; no back office: no-session");

    let (body, code) = scratch.curl(
        "POST",
        "/v1/plugins/old-api/commands/check-update",
        Some("{}"),
    );
    assert_eq!(code, "200", "{body}");
    let outcome: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(outcome["ok"], false, "{outcome:#}");
    assert_eq!(outcome["code"], "unsupported", "{outcome:#}");
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("built against plugin API 1.1.0, which has no commands"),
        "{outcome:#}"
    );
    check_state(
        &plugins_json(&scratch),
        "old-api",
        "running",
        "built against plugin API 1.1.0",
    );
}

/// Installs `source` into the plugin folder as a package manager does: a file under another
/// name, then renamed over the plugin's name.
fn install_as_a_package_does(scratch: &Scratch, source: &std::path::Path, file_name: &str) {
    install_with_mode(scratch, source, file_name, 0o644);
}

fn install_with_mode(scratch: &Scratch, source: &std::path::Path, file_name: &str, mode: u32) {
    let temporary = scratch.plugin_dir.join(format!("{file_name}.dpkg-new"));
    fs::copy(source, &temporary).unwrap();
    fs::set_permissions(&temporary, fs::Permissions::from_mode(mode)).unwrap();
    fs::rename(&temporary, scratch.plugin_dir.join(file_name)).unwrap();
}

/// Features follow what is installed: a plugin added to the folder of a running engine is
/// loaded and started (its licence option is licensed), one removed stops and goes, one
/// replaced says its new version takes effect at the next start.
#[test]
fn plugins_installed_removed_and_upgraded_while_the_engine_runs_follow_at_once() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-2468", 1).feature("auto-licence-update");
    let licence = scratch.licence_file(&key, &payload, "l.lic");
    scratch
        .run(&["licence", "install", licence.to_str().unwrap()])
        .success();
    let name = remote_service_tests::library_file_name("remote_service_plugin_licence_updater");
    let installed = scratch.plugin_dir.join(&name);
    let original = scratch.root().join(&name);
    fs::rename(&installed, &original).unwrap();
    let daemon = scratch.start_daemon();
    let updater = |scratch: &Scratch| {
        plugins_json(scratch)
            .as_array()
            .unwrap()
            .iter()
            .find(|plugin| plugin["id"] == "licence-updater")
            .cloned()
    };
    assert!(updater(&scratch).is_none(), "not installed yet");

    install_as_a_package_does(&scratch, &original, &name);
    let mut seen = None;
    let loaded = remote_service_tests::wait_for(Duration::from_secs(30), || {
        seen = updater(&scratch);
        seen.as_ref()
            .is_some_and(|plugin| plugin["state"] == "running")
    });
    assert!(loaded.is_some(), "the new plugin runs: {seen:?}");
    let menu = scratch.curl("GET", "/v1/menu", None).0;
    assert!(
        menu.contains("Check for licence update now"),
        "its feature is in the menu: {menu}"
    );

    // Upgraded: a new file renamed over it.
    install_as_a_package_does(&scratch, &original, &name);
    let marked = remote_service_tests::wait_for(Duration::from_secs(30), || {
        seen = updater(&scratch);
        seen.as_ref().is_some_and(|plugin| {
            plugin["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("the new version takes effect at the next start")
        })
    });
    assert!(marked.is_some(), "the upgrade is said: {seen:?}");
    assert_eq!(
        seen.unwrap()["state"],
        "running",
        "the loaded version goes on"
    );

    // Removed: stopped, and its feature gone.
    fs::remove_file(&installed).unwrap();
    let gone =
        remote_service_tests::wait_for(Duration::from_secs(30), || updater(&scratch).is_none());
    assert!(gone.is_some(), "the removed plugin goes");
    let menu = scratch.curl("GET", "/v1/menu", None).0;
    assert!(!menu.contains("Check for licence update now"), "{menu}");

    // A file others may write is refused as at a start.
    install_with_mode(&scratch, &original, &name, 0o666);
    let refused = remote_service_tests::wait_for(Duration::from_secs(30), || {
        plugins_json(&scratch)
            .as_array()
            .unwrap()
            .iter()
            .any(|plugin| {
                plugin["state"] == "refused"
                    && plugin["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("anyone can write it")
            })
    });
    assert!(
        refused.is_some(),
        "{}",
        scratch.run(&["plugins", "--json"]).stdout
    );
    drop(daemon);
}
