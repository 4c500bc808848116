//! The green and orange light against the real reference back office: a real
//! `remote-service daemon` (or tray) with its verification code in a real Secret Service
//! (gnome-keyring-daemon in the test's own D-Bus session), and `remote-service-backoffice`
//! on a loopback port.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::{
    configure_installation, BackofficeServer, MisbehavingServer, Misbehaviour, Transport,
    ORGANISATION, SERIAL, VERIFICATION_CODE,
};
use remote_service_tests::desktop::Desktop;
use remote_service_tests::keyring::{files_containing, Keyring};
use remote_service_tests::{wait_for, Daemon, EventStream, Run, Scratch};

const SOON: Duration = Duration::from_secs(10);

/// An installation with its keyring and its back office.
struct Setup {
    desktop: Desktop,
    keyring: Keyring,
    scratch: Scratch,
    backoffice: BackofficeServer,
}

impl Setup {
    /// A back office with the test organisation and serial, a licence for the serial in the
    /// installation's licence folder, the back office's key trusted, and the installation
    /// configured and enabled with the code in the keyring.
    fn new(transport: Transport) -> Setup {
        Setup::on(Desktop::start_without_tray(), transport)
    }

    /// The same on `desktop` (one with a system tray, for the tray's tests).
    fn on(desktop: Desktop, transport: Transport) -> Setup {
        let keyring = Keyring::start(&desktop);
        let scratch = Scratch::new();
        let mut backoffice =
            BackofficeServer::create(&scratch.root().join("backoffice"), transport);
        backoffice.start();
        configure_installation(&backoffice, &scratch, |args| {
            let mut command = scratch.command(args);
            command.env("DBUS_SESSION_BUS_ADDRESS", desktop.bus_address());
            command
        });
        let setup = Setup {
            desktop,
            keyring,
            scratch,
            backoffice,
        };
        setup
            .config(&["set", "connection.request_timeout_ms", "1500"])
            .success();
        if transport == Transport::SelfSignedTls {
            let cert = setup.backoffice.cert_file();
            setup
                .config(&["set", "backoffice_ca_file", cert.to_str().unwrap()])
                .success();
        }
        setup
    }

    /// The binary in this installation, with the desktop's session bus (the keyring).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.scratch.command(args);
        command.env("DBUS_SESSION_BUS_ADDRESS", self.desktop.bus_address());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        self.command(args)
            .output()
            .expect("run remote-service")
            .into()
    }

    fn config(&self, args: &[&str]) -> Run {
        let mut all = vec!["config"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `config set-secret verification_code` with the code on standard input.
    fn set_code(&self, code: &str) -> Run {
        self.set_secret("verification_code", code)
    }

    /// `config set-secret NAME` with the value on standard input.
    fn set_secret(&self, name: &str, value: &str) -> Run {
        remote_service_tests::set_secret(self.command(&["config", "set-secret", name]), value)
    }

    fn daemon(&self) -> Daemon {
        Scratch::spawn_daemon(self.command(&["daemon"]))
    }

    fn status(&self) -> serde_json::Value {
        self.run(&["status", "--json"]).json()
    }

    /// Waits until the light is `state`; returns the reason.
    fn wait_for_light(&self, state: &str) -> String {
        let mut last = serde_json::Value::Null;
        let reached = wait_for(SOON, || {
            last = self.status();
            last["connection"]["state"] == state
        });
        assert!(
            reached.is_some(),
            "the light did not turn {state}: {last}\nback office log:\n{}",
            self.backoffice.log()
        );
        last["connection"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// The next status event whose light is `state`, and when it came.
fn next_light(events: &EventStream, state: &str, limit: Duration) -> Instant {
    events
        .next_matching(limit, &format!("the light turning {state}"), |event| {
            event["event"] == "status" && event["status"]["connection"]["state"] == state
        })
        .0
}

#[test]
fn the_light_is_green_with_the_real_back_office_and_the_code_only_in_the_keyring() {
    let setup = Setup::new(Transport::Http);
    assert_eq!(
        setup.keyring.lookup("verification_code").as_deref(),
        Some(VERIFICATION_CODE),
        "the code is in the Secret Service"
    );
    let shown = setup.config(&["show", "--json"]).json();
    assert_eq!(shown["secrets"]["verification_code"], "set", "{shown}");
    assert!(
        shown["secret_store"]
            .as_str()
            .unwrap()
            .starts_with("the keyring (Secret Service on"),
        "{shown}"
    );

    let daemon = setup.daemon();
    setup.wait_for_light("green");
    let status = setup.status();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["connection"]["reason"], serde_json::Value::Null);
    // The engine asks for its event stream on a connection of its own, which the back
    // office holds at the least cost (docs/scaling.md).
    let opened = format!("event stream of {SERIAL} opened on a connection of its own");
    assert!(
        wait_for(SOON, || setup.backoffice.log().contains(&opened)).is_some(),
        "{opened:?} is not in the back office's log:\n{}",
        setup.backoffice.log()
    );

    let test = setup.run(&["test-connection"]);
    let report = test.success();
    for step in ["DNS", "TCP", "HTTP", "authentication"] {
        assert!(
            report
                .lines()
                .any(|line| line.trim_start().starts_with(step) && line.contains("pass")),
            "{step} passes:\n{report}"
        );
    }
    assert!(report.contains("The connection to the back office works."));

    // The code is nowhere but in the keyring: not in the installation's files (settings,
    // logs, state), not in the back office's database, not in the arguments of a process.
    let leaks = files_containing(setup.scratch.root(), VERIFICATION_CODE);
    assert!(leaks.is_empty(), "the code is in {leaks:?}");
    let keyring_leaks = files_containing(&setup.keyring.files(), VERIFICATION_CODE);
    assert!(
        keyring_leaks.is_empty(),
        "the keyring's files hold it in clear: {keyring_leaks:?}"
    );
    // The processes of this test: the engine, the back office, the keyring, and whatever
    // they started.
    let processes: Vec<u32> = [
        daemon.pid(),
        setup.backoffice.pid().unwrap(),
        setup.keyring.pid(),
    ]
    .into_iter()
    .flat_map(remote_service_tests::process_tree)
    .collect();
    assert!(processes.len() >= 3);
    for pid in processes {
        let arguments = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let arguments = String::from_utf8_lossy(&arguments);
        assert!(
            !arguments.contains(VERIFICATION_CODE),
            "a process has the code in its arguments: {arguments}"
        );
    }
    drop(daemon);
}

/// The keyring stops answering (its unlock prompt waits for the user, or it hangs) while a
/// new code is being stored. Only that change waits: the engine goes on answering the
/// status and `config show` at once, and the new code is used as soon as the keyring has
/// taken it.
#[test]
fn a_keyring_that_does_not_answer_holds_up_only_the_change_of_the_secret() {
    let setup = Setup::new(Transport::Http);
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    setup.keyring.pause();
    let mut changing = remote_service_tests::KillOnDrop(
        setup
            .command(&["config", "set-secret", "verification_code"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    writeln!(changing.stdin.take().unwrap(), "a-new-wrong-code").unwrap();
    for _ in 0..3 {
        let status = setup.run(&["status", "--json"]);
        assert_eq!(status.code, Some(0), "{}", status.stderr);
        assert_eq!(status.json()["connection"]["state"], "green");
        let shown = setup.config(&["show"]);
        assert!(
            shown
                .success()
                .lines()
                .any(|line| line.contains("verification_code") && line.contains("set")),
            "{}",
            shown.stdout
        );
    }
    assert!(
        changing.try_wait().unwrap().is_none(),
        "the change waits for the keyring"
    );
    setup.keyring.resume();
    let done = wait_for(SOON, || changing.try_wait().unwrap().is_some());
    assert!(
        done.is_some(),
        "set-secret still waits after the keyring is back"
    );
    assert!(changing.wait().unwrap().success());
    let reason = setup.wait_for_light("orange");
    assert!(
        reason.contains("authentication failed"),
        "the new code is used: {reason}"
    );
    assert_eq!(
        setup.keyring.lookup("verification_code").as_deref(),
        Some("a-new-wrong-code")
    );
}

/// The proxy password and the verification code, set and deleted from the command line:
/// in the keyring and out of it again, `config show` saying so each time, and a running
/// engine acting on it at once.
#[test]
fn secrets_are_set_and_deleted_from_the_command_line() {
    let setup = Setup::new(Transport::Http);
    let secret_state =
        |name: &str| setup.config(&["show", "--json"]).json()["secrets"][name].clone();
    // Without an engine running (the command's own engine).
    setup
        .set_secret("proxy_password", "pp-7781-from-the-cli")
        .success();
    assert_eq!(
        setup.keyring.lookup("proxy_password").as_deref(),
        Some("pp-7781-from-the-cli")
    );
    assert_eq!(secret_state("proxy_password"), "set");
    setup.config(&["delete-secret", "proxy_password"]).success();
    assert_eq!(setup.keyring.lookup("proxy_password"), None);
    assert_eq!(secret_state("proxy_password"), "not set");

    // Through a running engine: deleting the code turns the light orange and says why.
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    setup
        .config(&["delete-secret", "verification_code"])
        .success();
    let reason = setup.wait_for_light("orange");
    assert!(
        reason.contains("the verification code is not set"),
        "{reason}"
    );
    assert_eq!(setup.keyring.lookup("verification_code"), None);
    assert_eq!(secret_state("verification_code"), "not set");
    setup
        .set_secret("proxy_password", "pp-7782-from-the-cli")
        .success();
    assert_eq!(secret_state("proxy_password"), "set");
    let unknown = setup.config(&["delete-secret", "proxy_passwrd"]);
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("unknown secret"),
        "{}",
        unknown.stderr
    );
}

/// A back office whose name does not resolve: test-connection fails at DNS, names the host,
/// and does not try the later steps; `--json` gives the same steps. Run in a network
/// namespace of its own (`unshare --net`, as root): the name lookup fails there at once,
/// without asking a name server outside the machine.
#[test]
fn test_connection_names_a_host_that_does_not_resolve() {
    let setup = Setup::new(Transport::Http);
    setup
        .config(&[
            "set",
            "backoffice_url",
            "https://backoffice.remote-service.invalid",
        ])
        .success();
    let isolated = |args: &[&str]| -> Run {
        let inner = setup.command(args);
        let mut command = Command::new("unshare");
        command
            .args(["--net", "--"])
            .arg(inner.get_program())
            .args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
            .output()
            .expect("unshare (Debian package util-linux)")
            .into()
    };
    let text = isolated(&["test-connection"]);
    assert_eq!(text.code, Some(1), "{}{}", text.stdout, text.stderr);
    let dns = text
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("DNS"))
        .unwrap_or_else(|| panic!("no DNS line:\n{}", text.stdout));
    assert!(dns.contains("fail"), "{dns}");
    assert!(
        dns.contains("cannot resolve backoffice.remote-service.invalid"),
        "{dns}"
    );

    let json = isolated(&["test-connection", "--json"]);
    assert_eq!(json.code, Some(1));
    let report = json.json();
    assert_eq!(report["url"], "https://backoffice.remote-service.invalid");
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps
        .iter()
        .map(|step| step["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DNS", "TCP", "TLS", "HTTP", "authentication"]);
    assert_eq!(steps[0]["outcome"], "fail");
    assert!(steps[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("cannot resolve backoffice.remote-service.invalid"));
    assert!(steps[0]["milliseconds"].as_f64().unwrap() >= 0.0);
    for later in &steps[1..] {
        assert_eq!(later["outcome"], "skipped", "{later}");
        assert_eq!(later["detail"], "not tried: an earlier step failed");
    }
}

#[test]
fn a_wrong_verification_code_is_orange_authentication_failed() {
    let setup = Setup::new(Transport::Http);
    setup.set_code("not-the-code").success();
    let _daemon = setup.daemon();
    let reason = setup.wait_for_light("orange");
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(
        !reason.contains("not-the-code"),
        "the code is not in the reason: {reason}"
    );

    let test = setup.run(&["test-connection"]);
    assert_eq!(test.code, Some(1));
    assert!(
        test.stdout
            .lines()
            .any(|line| line.contains("authentication") && line.contains("fail")),
        "{}",
        test.stdout
    );

    // The right code, set through the running engine, turns it green at once.
    setup.set_code(VERIFICATION_CODE).success();
    setup.wait_for_light("green");
}

#[test]
fn an_unknown_serial_is_orange_with_the_serial() {
    let setup = Setup::new(Transport::Http);
    // The licence folder gets a licence for a serial this back office does not know.
    let stranger = setup.scratch.trusted_key("stranger");
    let payload =
        remote_service_tests::PayloadBuilder::new("RS-UNKNOWN-7", 5).feature("auto-licence-update");
    let file = setup
        .scratch
        .licence_file(&stranger, &payload, "unknown.lic");
    fs::remove_file(setup.scratch.licence_folder().join(format!("{SERIAL}.lic"))).unwrap();
    fs::copy(
        file,
        setup.scratch.licence_folder().join("RS-UNKNOWN-7.lic"),
    )
    .unwrap();
    let _daemon = setup.daemon();
    let reason = setup.wait_for_light("orange");
    assert!(reason.contains("unknown serial number"), "{reason}");
    assert!(reason.contains("RS-UNKNOWN-7"), "{reason}");
}

/// How fast (orange within 2 s, green within 1 s of the return) is measured by
/// `cargo bench -p remote-service-tests --bench connection`; this says that it happens.
#[test]
fn a_killed_back_office_turns_the_light_orange_and_its_return_green() {
    let mut setup = Setup::new(Transport::Http);
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    let events = EventStream::follow(&setup.scratch.socket());

    setup.backoffice.kill();
    next_light(&events, "orange", SOON);
    let reason = setup.status()["connection"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("connection refused"), "{reason}");

    setup.backoffice.start();
    next_light(&events, "green", SOON);
}

/// The test back office sends a heartbeat every 2 s and times sessions out after 6 s: the
/// light turns orange within one heartbeat timeout (measured by the connection bench).
#[test]
fn a_back_office_that_goes_silent_turns_the_light_orange() {
    let setup = Setup::new(Transport::Http);
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    let events = EventStream::follow(&setup.scratch.socket());
    setup.backoffice.signal("STOP");
    next_light(&events, "orange", SOON);
    let reason = setup.status()["connection"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("did not answer") || reason.contains("stopped answering"),
        "{reason}"
    );
    setup.backoffice.signal("CONT");
    next_light(&events, "green", SOON);
}

#[test]
fn a_self_signed_back_office_is_green_when_trusted_and_orange_certificate_when_not() {
    let setup = Setup::new(Transport::SelfSignedTls);
    assert!(setup.backoffice.url().starts_with("https://"));
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    let test = setup.run(&["test-connection"]);
    assert!(
        test.success()
            .lines()
            .any(|line| line.trim_start().starts_with("TLS") && line.contains("pass")),
        "{}",
        test.stdout
    );

    setup.config(&["unset", "backoffice_ca_file"]).success();
    let reason = setup.wait_for_light("orange");
    assert!(reason.contains("certificate"), "{reason}");
    assert!(reason.contains("not trusted"), "{reason}");
    let test = setup.run(&["test-connection"]);
    assert_eq!(test.code, Some(1));
    assert!(
        test.stdout
            .lines()
            .any(|line| line.trim_start().starts_with("TLS") && line.contains("fail")),
        "{}",
        test.stdout
    );
}

#[test]
fn slow_and_garbage_back_offices_turn_orange_without_hanging_the_engine() {
    let setup = Setup::new(Transport::Http);
    let _daemon = setup.daemon();
    setup.wait_for_light("green");
    let cases = [
        (Misbehaviour::Silent, "did not answer within"),
        (Misbehaviour::Garbage, "not the Remote Service protocol"),
        (Misbehaviour::NotHttp, "not HTTP"),
        (Misbehaviour::ServerError, "HTTP 503"),
        (Misbehaviour::Endless, "answer is larger than 64 KiB"),
    ];
    for (misbehaviour, fragment) in cases {
        let server = MisbehavingServer::start(misbehaviour);
        setup
            .config(&["set", "backoffice_url", &server.url])
            .success();
        // A new back office gets the code only when it is entered again.
        setup.set_code(VERIFICATION_CODE).success();
        let mut last = String::new();
        let reached = wait_for(SOON, || {
            // The engine answers whatever the back office does (within the client's own
            // time limit, or `status` fails).
            let status = setup.run(&["status", "--json"]);
            assert_eq!(status.code, Some(0), "{}", status.stderr);
            let status = status.json();
            last = status["connection"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            status["connection"]["state"] == "orange" && last.contains(fragment)
        });
        assert!(
            reached.is_some(),
            "{misbehaviour:?}: the reason was {last:?}"
        );
    }
    // And back to the real one: green again.
    setup
        .config(&["set", "backoffice_url", setup.backoffice.url()])
        .success();
    setup.set_code(VERIFICATION_CODE).success();
    setup.wait_for_light("green");
}

#[test]
fn disabled_is_grey_with_no_connection_at_all() {
    let setup = Setup::new(Transport::Http);
    setup.config(&["set", "enabled", "false"]).success();
    let _daemon = setup.daemon();
    let reason = setup.wait_for_light("grey");
    assert!(reason.contains("disabled"), "{reason}");
    // Grey is the connection's decision not to connect, made before any request: no
    // session can have started, nor start while it holds.
    assert!(
        !setup.backoffice.log().contains("session started"),
        "no session while disabled:\n{}",
        setup.backoffice.log()
    );
    setup.config(&["set", "enabled", "true"]).success();
    setup.wait_for_light("green");
}

#[test]
fn the_tray_icon_turns_green_then_orange_with_the_reason_in_its_tooltip() {
    let mut setup = Setup::on(Desktop::start(), Transport::Http);
    let mut tray = remote_service_tests::KillOnDrop(
        setup
            .scratch
            .tray_command(&setup.desktop)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let desktop = &setup.desktop;
    let item = desktop.wait_for_item(SOON).expect("the tray item");
    assert!(
        item.wait_until(SOON, |item| item.tooltip().description
            == "Remote Service: Connected"),
        "tooltip {:?}",
        item.tooltip().description
    );
    let green = item.icon_pixmaps();
    assert!(
        share_of(&green[0], [0x2e, 0x9e, 0x44]) > 0.2,
        "the icon is green"
    );
    green[0].save_png(&remote_service_tests::output_path("tray-green.png"));

    setup.backoffice.kill();
    assert!(
        item.wait_until(SOON, |item| item
            .tooltip()
            .description
            .starts_with("Remote Service: Not connected: connection refused")),
        "tooltip {:?}",
        item.tooltip().description
    );
    let orange = item.icon_pixmaps();
    assert!(
        share_of(&orange[0], [0xf0, 0x8a, 0x00]) > 0.2,
        "the icon is orange"
    );
    orange[0].save_png(&remote_service_tests::output_path("tray-orange.png"));
    let menu = item.menu();
    assert!(menu.labels()[0].starts_with("Not connected: connection refused"));

    // Test connection from the menu: a notice with the failing step.
    item.click("Test connection");
    let notice = desktop
        .wait_for_notification(SOON, |notice| notice.summary == "Connection test failed")
        .expect("the test's notice");
    // In the light's words, not the operating system's.
    assert!(
        notice
            .body
            .starts_with("TCP failed. Cannot connect: connection refused by 127.0.0.1:")
            && notice
                .body
                .contains("the back office is not running or a firewall blocks it")
            && !notice.body.contains("os error"),
        "{}",
        notice.body
    );

    let _ = tray.kill();
    let _ = tray.wait();
}

/// The share of opaque pixels within 24 of `colour` in each channel.
fn share_of(icon: &remote_service_tests::desktop::Pixmap, colour: [u8; 3]) -> f64 {
    let mut matching = 0;
    let mut opaque = 0;
    for y in 0..icon.height {
        for x in 0..icon.width {
            let [r, g, b, a] = icon.pixel(x, y);
            if a > 200 {
                opaque += 1;
                if r.abs_diff(colour[0]) < 24
                    && g.abs_diff(colour[1]) < 24
                    && b.abs_diff(colour[2]) < 24
                {
                    matching += 1;
                }
            }
        }
    }
    matching as f64 / opaque.max(1) as f64
}

#[test]
fn config_refuses_unknown_keys_and_bad_values_and_changes_nothing() {
    let setup = Setup::new(Transport::Http);
    let settings = setup.scratch.config_dir().join("settings.toml");
    let before = fs::read_to_string(&settings).unwrap();
    let check = |args: &[&str], fragment: &str| {
        let run = setup.config(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(fragment), "{args:?}: {}", run.stderr);
        assert_eq!(fs::read_to_string(&settings).unwrap(), before, "{args:?}");
    };
    check(&["set", "colour", "red"], "unknown setting \"colour\"");
    check(&["set", "enabled", "yes"], "must be true or false");
    check(
        &["set", "backoffice_url", "http://backoffice.example.com"],
        "loopback addresses only",
    );
    check(
        &["set", "verification_code", "1234"],
        "set-secret verification_code",
    );
    check(&["get", "colour"], "unknown setting");
    assert_eq!(setup.config(&["get", "enabled"]).success(), "true\n");
    assert_eq!(
        setup.config(&["get", "organisation_id"]).success(),
        format!("{ORGANISATION}\n")
    );
    // The same through a running engine, which applies the change at once.
    let _daemon = setup.daemon();
    check(&["set", "plugins.call_timeout_ms", "0"], "1 to 600000");
    setup
        .config(&["set", "licence.remote_folder", "/mnt/fls/DroppedLicense"])
        .success();
    assert_eq!(
        setup.config(&["get", "licence.remote_folder"]).success(),
        "/mnt/fls/DroppedLicense\n"
    );
    let json = setup.config(&["show", "--json"]).json();
    assert_eq!(
        json["settings"]["licence.remote_folder"],
        "/mnt/fls/DroppedLicense"
    );
    assert_eq!(json["secrets"]["verification_code"], "set");
    let saved = fs::read_to_string(&settings).unwrap();
    assert!(
        saved.contains("remote_folder = \"/mnt/fls/DroppedLicense\""),
        "{saved}"
    );
    assert!(!saved.contains(VERIFICATION_CODE));
}

/// The tray tells the user once that the connection is lost, when the light stays orange for
/// the grace period (`tray.connection_lost_notice_s`, 2 s here instead of a minute).
#[test]
fn the_tray_says_once_that_the_connection_is_lost_when_it_stays_lost() {
    let mut setup = Setup::on(Desktop::start(), Transport::Http);
    setup
        .config(&["set", "tray.connection_lost_notice_s", "2"])
        .success();
    let _tray = remote_service_tests::KillOnDrop(
        setup
            .scratch
            .tray_command(&setup.desktop)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let item = setup.desktop.wait_for_item(SOON).expect("the tray item");
    let connected = |item: &remote_service_tests::desktop::TrayItem| {
        item.tooltip().description == "Remote Service: Connected"
    };
    assert!(item.wait_until(SOON, connected));
    setup.backoffice.kill();
    let summary = "Connection to the remote service back office lost";
    let lost = setup
        .desktop
        .wait_for_notification(SOON, |notice| notice.summary == summary)
        .expect("the connection-lost balloon");
    assert!(lost.body.starts_with("Connection refused"), "{}", lost.body);
    assert!(
        lost.body
            .ends_with(". Remote Service keeps trying to connect."),
        "{}",
        lost.body
    );
    setup.backoffice.start();
    assert!(item.wait_until(SOON, connected));
    setup
        .desktop
        .wait_for_notification(SOON, |notice| {
            notice.summary == "Connection to the remote service back office restored"
        })
        .expect("the balloon that says it is back");
    let told = setup
        .desktop
        .notifications()
        .into_iter()
        .filter(|notice| notice.summary == summary)
        .count();
    assert_eq!(told, 1, "once");
}
