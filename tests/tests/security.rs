//! The holes a security review found (see `docs/security.md`), each shown closed on the real
//! binary: what someone who can write a shared folder, reach a socket, or run a back office
//! can and cannot make the engine do.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::Duration;

use remote_service_tests::backoffice::{Installation, SERIAL};

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Whoever can write a shared `DroppedLicense` folder plants a link where the licence
/// updater's temp file used to go (`.<serial>.lic.<pid>.partial`, a name anyone could
/// guess) and a FIFO under the licence's own name. The engine neither writes the file the
/// link points to nor waits on the FIFO: the licence is installed whole, as a regular file.
#[test]
fn links_and_fifos_planted_in_a_shared_licence_folder_are_never_followed_or_waited_on() {
    let installation = Installation::new();
    let scratch = &installation.scratch;
    let share = scratch.root().join("share/DroppedLicense");
    fs::create_dir_all(&share).unwrap();
    installation
        .run(&[
            "config",
            "set",
            "licence.remote_folder",
            share.to_str().unwrap(),
        ])
        .success();
    let victim = scratch.root().join("victim.conf");
    fs::write(&victim, "the engine must never write this\n").unwrap();
    let daemon = installation.daemon();
    let file_name = format!("{SERIAL}.lic");
    symlink(
        &victim,
        share.join(format!(".{file_name}.{}.partial", daemon.pid())),
    )
    .unwrap();
    mkfifo(&share.join(&file_name));
    installation.wait_until_green();

    installation
        .backoffice
        .issue_licence(SERIAL, "auto-licence-update,users=20", "2028-12-31");
    let check = installation.run(&["licence", "check-update"]);
    assert!(
        check.code == Some(0) && check.stdout.starts_with("licence sequence 2 installed"),
        "{}{}",
        check.stdout,
        check.stderr
    );
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "the engine must never write this\n"
    );
    let installed = share.join(&file_name);
    assert!(
        fs::symlink_metadata(&installed)
            .unwrap()
            .file_type()
            .is_file(),
        "the FIFO is replaced by a regular file"
    );
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(scratch.licence_folder().join(&file_name)).unwrap()
    );
    assert!(
        wait_until(|| installation.status()["licence"]["sequence"] == 2),
        "the new licence is in force"
    );
}

fn wait_until(condition: impl FnMut() -> bool) -> bool {
    remote_service_tests::wait_for(Duration::from_secs(10), condition).is_some()
}

/// A user id nobody on this machine has, for the impostor.
const IMPOSTOR: u32 = 65533;

/// `command` run as user `uid` (and its own group, no others), through setpriv.
fn as_user(uid: u32, program: &std::path::Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(program);
    command
}

/// Another user of the machine makes the folder the front-ends fall back to when there is
/// no `XDG_RUNTIME_DIR` (`$TMPDIR/remote-service-<uid>/`) and listens there as the engine.
/// The front-ends refuse to talk to it: `config set-secret` says why and sends nothing, so
/// the impostor never sees the verification code.
#[test]
fn a_front_end_never_talks_to_an_engine_socket_another_user_made() {
    assert_eq!(
        remote_service_tests::effective_uid(),
        0,
        "this test runs processes as other users (setpriv), which needs root: run it as root, as CI does"
    );
    let scratch = remote_service_tests::Scratch::new();
    let shared_tmp = scratch.root().join("tmp");
    fs::create_dir_all(&shared_tmp).unwrap();
    // Like /tmp: anyone may create in it; what each one makes is theirs.
    fs::set_permissions(
        &shared_tmp,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let victim: u32 = 65534;
    let socket = shared_tmp
        .join(format!("remote-service-{victim}"))
        .join("api.sock");
    let record = shared_tmp.join("impostor-record.txt");
    let mut impostor = remote_service_tests::KillOnDrop(
        as_user(
            IMPOSTOR,
            &remote_service_tests::artifact("remote-service-fake-engine"),
        )
        .arg(&socket)
        .arg(&record)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the impostor"),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(impostor.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "listening");

    let home = scratch.root().join("victim-home");
    fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(victim), Some(victim)).unwrap();
    let victim_command = |args: &[&str]| {
        let mut command = as_user(victim, &remote_service_tests::artifact("remote-service"));
        command
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("REMOTE_SERVICE_SOCKET")
            .env("TMPDIR", &shared_tmp)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("REMOTE_SERVICE_SECRETS", "file")
            .env("REMOTE_SERVICE_PLUGIN_DIR", &scratch.plugin_dir)
            .env("REMOTE_SERVICE_SYSTEM_DIR", &scratch.system_dir);
        command
    };
    let mut set_secret = victim_command(&["config", "set-secret", "verification_code"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        set_secret.stdin.as_mut().unwrap(),
        b"the-stolen-code-4711\n",
    )
    .unwrap();
    let set_secret: remote_service_tests::Run = set_secret.wait_with_output().unwrap().into();
    assert_ne!(set_secret.code, Some(0), "{}", set_secret.stdout);
    let expected = format!(
        "refused to use the Remote Service socket {}: its folder {} belongs to user id {IMPOSTOR}, not to you (user id {victim}) or root",
        socket.display(),
        socket.parent().unwrap().display()
    );
    assert!(
        set_secret.stderr.contains(&expected),
        "{}",
        set_secret.stderr
    );
    let status: remote_service_tests::Run = victim_command(&["status"]).output().unwrap().into();
    assert!(status.stderr.contains(&expected), "{}", status.stderr);
    let recorded = fs::read_to_string(&record).unwrap_or_default();
    assert!(recorded.is_empty(), "the impostor got requests: {recorded}");
}

/// The tray's lock beside the engine's socket: a link planted in its place is not
/// followed, so the file it points to is not truncated; the tray says why it cannot start.
#[test]
fn a_link_planted_as_the_tray_lock_is_not_followed() {
    let scratch = remote_service_tests::Scratch::new();
    let desktop = remote_service_tests::desktop::Desktop::start();
    let folder = scratch.socket().parent().unwrap().to_path_buf();
    fs::create_dir_all(&folder).unwrap();
    fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let victim = scratch.root().join("victim.conf");
    fs::write(&victim, "the tray must never truncate this\n").unwrap();
    symlink(&victim, folder.join("tray.lock")).unwrap();
    let mut tray = remote_service_tests::KillOnDrop(
        scratch
            .tray_command(&desktop)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let exited = remote_service_tests::wait_for(Duration::from_secs(20), || {
        matches!(tray.try_wait(), Ok(Some(_)))
    });
    assert!(exited.is_some(), "the tray refuses to start");
    let mut stderr = String::new();
    std::io::Read::read_to_string(tray.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("cannot open the tray lock") && stderr.contains("tray.lock"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "the tray must never truncate this\n"
    );
}

/// `remote-service daemon --system` in `scratch`: its folders, socket and group (`nogroup`,
/// which every Debian has: the tests cannot add a group to the machine) all in the scratch
/// folder, the socket's folder in `socket_parent`.
fn system_command(
    scratch: &remote_service_tests::Scratch,
    socket_parent: &std::path::Path,
    args: &[&str],
) -> Command {
    let mut command = scratch.command(args);
    command
        .env(
            "REMOTE_SERVICE_SOCKET",
            socket_parent.join("remote-service/api.sock"),
        )
        .env("REMOTE_SERVICE_SYSTEM_DATA_DIR", scratch.root().join("var"))
        .env("REMOTE_SERVICE_SYSTEM_GROUP", "nogroup")
        .env("REMOTE_SERVICE_SECRETS", "file");
    command
}

/// On the system service, a member of its group reads what it shows but changes nothing:
/// pointing `backoffice_url` at a back office of their own (where the next session would
/// post the verification code), storing a secret or installing a licence needs root. When
/// root changes `backoffice_url`, the stored code is removed: it goes to the new back office
/// only once entered again. A FIFO given as `backoffice_ca_file` is refused at once.
#[test]
fn on_the_system_service_only_root_changes_settings_and_a_new_back_office_needs_the_code_again() {
    assert_eq!(remote_service_tests::effective_uid(), 0, "this test runs processes as other users (setpriv), which needs root: run it as root, as CI does");
    let scratch = remote_service_tests::Scratch::new();
    let shared = tempfile::tempdir().unwrap();
    // The members must reach the socket's folder.
    for dir in [scratch.root(), shared.path()] {
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let socket = shared.path().join("remote-service/api.sock");
    let _daemon = remote_service_tests::Scratch::spawn_daemon(system_command(
        &scratch,
        shared.path(),
        &["daemon", "--system"],
    ));
    let root_run = |args: &[&str]| -> remote_service_tests::Run {
        system_command(&scratch, shared.path(), args)
            .output()
            .unwrap()
            .into()
    };
    for (key, value) in [
        ("enabled", "true"),
        ("organisation_id", "ORG-TEST"),
        ("backoffice_url", "http://127.0.0.1:9"),
    ] {
        root_run(&["config", "set", key, value]).success();
    }
    let set_code = system_command(
        &scratch,
        shared.path(),
        &["config", "set-secret", "verification_code"],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut set_code = remote_service_tests::KillOnDrop(set_code);
    std::io::Write::write_all(set_code.stdin.as_mut().unwrap(), b"root-entered-code\n").unwrap();
    drop(set_code.stdin.take());
    assert!(
        remote_service_tests::exit_of(&mut set_code, Duration::from_secs(30), "set-secret")
            .success()
    );

    // A member of the group (nobody, in nogroup).
    let member_curl = |method: &str, path: &str, body: Option<&str>| -> (String, String) {
        let curl = as_user(65534, std::path::Path::new("/usr/bin/curl"));
        remote_service_tests::curl_socket(curl, &socket, method, path, body)
    };
    let (_, code) = member_curl("GET", "/v1/status", None);
    assert_eq!(code, "200", "a member reads the status");
    for (method, path, body) in [
        (
            "PUT",
            "/v1/config/backoffice_url",
            Some(r#"{"value": "http://127.0.0.1:4444"}"#),
        ),
        ("DELETE", "/v1/config/backoffice_url", None),
        (
            "PUT",
            "/v1/config/licence.remote_folder",
            Some(r#"{"value": "/etc"}"#),
        ),
        (
            "PUT",
            "/v1/secrets/verification_code",
            Some(r#"{"value": "x"}"#),
        ),
        ("POST", "/v1/licence/install", Some(r#"{"text": "x"}"#)),
        (
            "POST",
            "/v1/plugins/licence-updater/commands/save-failed",
            Some(r#"{"argument": "/etc"}"#),
        ),
    ] {
        let (answer, code) = member_curl(method, path, body);
        assert_eq!(code, "403", "{method} {path}: {answer}");
        assert!(
            answer.contains("only root may change the system service"),
            "{answer}"
        );
    }
    let shown = root_run(&["config", "show", "--json"]).json();
    assert_eq!(shown["settings"]["backoffice_url"], "http://127.0.0.1:9");
    assert_eq!(shown["secrets"]["verification_code"], "set");

    // Root points it elsewhere: the code stays behind.
    let moved = root_run(&["config", "set", "backoffice_url", "http://127.0.0.1:10"]);
    moved.success();
    assert!(
        moved.stderr.contains("the verification code was removed"),
        "{}",
        moved.stderr
    );
    let shown = root_run(&["config", "show", "--json"]).json();
    assert_eq!(
        shown["secrets"]["verification_code"], "not set",
        "{shown:#}"
    );
    let status = root_run(&["status", "--json"]).json();
    assert!(
        status["connection"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("verification code is not set"),
        "{status:#}"
    );

    // A FIFO as the certificate file: refused with the reason, without waiting on it.
    let fifo = scratch.root().join("ca.pem");
    mkfifo(&fifo);
    let mut set_ca = remote_service_tests::KillOnDrop(
        system_command(
            &scratch,
            shared.path(),
            &[
                "config",
                "set",
                "backoffice_ca_file",
                fifo.to_str().unwrap(),
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let finished = remote_service_tests::wait_for(Duration::from_secs(30), || {
        matches!(set_ca.try_wait(), Ok(Some(_)))
    });
    assert!(
        finished.is_some(),
        "config set backoffice_ca_file waits on the FIFO"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(set_ca.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

/// A plugin library is loaded into the engine: a folder above the plugin folder that others
/// can write (they could replace the whole plugin folder), or a plugin file that is a link
/// into a folder others can write, is refused with the reason; the other plugins load.
#[test]
fn plugins_someone_else_could_replace_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = remote_service_tests::Scratch::new();
    let open = scratch.root().join("open");
    fs::create_dir_all(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let planted = open.join("libplanted.so");
    fs::copy(
        remote_service_tests::artifact(&remote_service_tests::library_file_name(
            "remote_service_plugin_proxy_detector",
        )),
        &planted,
    )
    .unwrap();
    fs::set_permissions(&planted, fs::Permissions::from_mode(0o755)).unwrap();
    let linked = scratch
        .plugin_dir
        .join(remote_service_tests::library_file_name(
            "remote_service_plugin_linked",
        ));
    symlink(&planted, &linked).unwrap();
    let listing = scratch.run(&["plugins", "--json"]).json();
    let refused = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["path"] == linked.to_str().unwrap())
        .unwrap_or_else(|| panic!("the linked plugin is listed: {listing:#}"));
    assert_eq!(refused["state"], "refused", "{refused:#}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the folder {} above it can be changed by others",
            open.display()
        )) && detail.contains("it is a link to"),
        "{detail}"
    );
    assert_eq!(
        listing
            .as_array()
            .unwrap()
            .iter()
            .filter(|plugin| plugin["state"] != "refused")
            .count(),
        3,
        "the real plugins load: {listing:#}"
    );

    // The plugin folder itself in a folder anyone can write.
    let moved = open.join("plugins");
    fs::rename(&scratch.plugin_dir, &moved).unwrap();
    fs::remove_file(moved.join(linked.file_name().unwrap())).unwrap();
    let run = scratch
        .command(&["plugins", "--json"])
        .env("REMOTE_SERVICE_PLUGIN_DIR", &moved)
        .output()
        .unwrap();
    let run: remote_service_tests::Run = run.into();
    assert_eq!(run.json(), serde_json::json!([]), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "plugin folder {} refused: the folder {} above it can be changed by others",
            moved.display(),
            open.display()
        )),
        "{}",
        run.stderr
    );
}

/// The misbehaving fixture as a plugin of `scratch`, set to `settings`, with a short time
/// limit for plugin calls.
fn misbehaving(scratch: &remote_service_tests::Scratch, settings: &str) {
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    scratch.write_plugin_settings("misbehaving", settings);
    scratch.write_settings("[plugins]\ncall_timeout_ms = 400\n");
}

/// A plugin that panics while it is dropped (when the engine stops it) does not take the
/// engine down: abi_stable aborts the process on a panic there, so the SDK catches it.
#[test]
fn a_plugin_that_panics_when_dropped_does_not_abort_the_engine() {
    let scratch = remote_service_tests::Scratch::new();
    misbehaving(&scratch, r#"{"at": "drop", "does": "panic"}"#);
    let daemon = scratch.start_daemon();
    let listing = scratch.run(&["plugins", "--json"]).json();
    assert!(
        listing
            .as_array()
            .unwrap()
            .iter()
            .any(|plugin| plugin["id"] == "misbehaving" && plugin["state"] == "running"),
        "{listing:#}"
    );
    // Stopping the engine stops (and drops) every plugin.
    assert_eq!(daemon.terminate(), Some(0), "the engine stops normally");
    let log = fs::read_to_string(scratch.log_file()).unwrap();
    assert!(
        log.contains("the plugin panicked while it was dropped: misbehaving on purpose at drop"),
        "{log}"
    );
}

/// A plugin faulted because it did not answer in time keeps its threads (nothing can end
/// them), but the host stops acting for it: its thread's writes through the host are
/// refused from then on.
#[test]
fn a_faulted_plugin_can_no_longer_act_through_the_host() {
    let scratch = remote_service_tests::Scratch::new();
    misbehaving(
        &scratch,
        r#"{"at": "status", "does": "hang", "chatter": true}"#,
    );
    let _daemon = scratch.start_daemon();
    let faulted = wait_until(|| {
        scratch
            .run(&["plugins", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|plugin| plugin["id"] == "misbehaving" && plugin["state"] == "faulted")
    });
    assert!(faulted, "the plugin is faulted for not answering");
    let settings = scratch.config_dir().join("plugins/misbehaving.json");
    let count = || -> u64 {
        serde_json::from_str::<serde_json::Value>(&fs::read_to_string(&settings).unwrap())
            .map(|value| value["count"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    // Whatever it wrote before the fault, nothing more gets through: the count stays put
    // while its thread goes on trying every 100 ms.
    let settled = count();
    let changed =
        remote_service_tests::wait_for(Duration::from_millis(1500), || count() != settled);
    assert!(
        changed.is_none(),
        "the faulted plugin still writes through the host: {} after {settled}",
        count()
    );
}

/// An engine stopping removes its socket only while the socket is its own: a second engine
/// that took the path over (the first one's socket file was removed while it ran) keeps
/// its socket and goes on answering.
#[test]
fn a_stopping_engine_leaves_a_socket_another_engine_took_over() {
    let scratch = remote_service_tests::Scratch::new();
    let first = scratch.start_daemon();
    fs::remove_file(scratch.socket()).unwrap();
    let _second = scratch.start_daemon();
    assert_eq!(first.terminate(), Some(0));
    assert!(
        scratch.socket().exists(),
        "the second engine's socket is gone"
    );
    scratch.run(&["status"]).success();
}

/// A setting changed by hand in the settings file while the engine runs is kept when
/// another setting is changed through the engine (not written over by what the engine
/// read at start), and takes effect.
#[test]
fn a_setting_changed_by_hand_survives_a_change_through_the_engine() {
    let scratch = remote_service_tests::Scratch::new();
    let _daemon = scratch.start_daemon();
    scratch
        .run(&["config", "set", "connection.request_timeout_ms", "2000"])
        .success();
    let file = scratch.config_dir().join("settings.toml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        text.replace("request_timeout_ms = 2000", "request_timeout_ms = 4321"),
    )
    .unwrap();
    scratch
        .run(&["config", "set", "plugins.call_timeout_ms", "1500"])
        .success();
    let shown = scratch.run(&["config", "show", "--json"]).json();
    assert_eq!(
        shown["settings"]["connection.request_timeout_ms"], "4321",
        "{shown:#}"
    );
    assert_eq!(
        shown["settings"]["plugins.call_timeout_ms"], "1500",
        "{shown:#}"
    );
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("request_timeout_ms = 4321"), "{text}");
}

/// Out of file descriptors, accepting a connection fails at once and again: the engine
/// waits a little between tries instead of spinning a core.
#[test]
fn out_of_file_descriptors_the_engine_does_not_spin() {
    let scratch = remote_service_tests::Scratch::new();
    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=80:80")
        .arg(remote_service_tests::artifact("remote-service"));
    let daemon_command = {
        let template = scratch.command(&["daemon"]);
        for (key, value) in template.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command.arg("daemon");
        command
    };
    let daemon = remote_service_tests::Scratch::spawn_daemon(daemon_command);
    let pid = daemon.pid();
    // Hold connections until the engine has no descriptor left, and more waiting behind.
    let held: Vec<_> = (0..200)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(scratch.socket()).ok())
        .collect();
    assert!(held.len() > 80, "{} connections", held.len());
    let cpu = || -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    let started = std::time::Instant::now();
    // A window to see whether it spins: half a second of a spinning core is 50 ticks.
    let spun = remote_service_tests::wait_for(Duration::from_secs(2), || cpu() - before > 50);
    assert!(
        spun.is_none(),
        "the engine used {} clock ticks of CPU in {:?} while out of descriptors",
        cpu() - before,
        started.elapsed()
    );
    drop(held);
}

/// `./demo` with its folder and port moved into `scratch`.
fn demo(scratch: &remote_service_tests::Scratch, args: &[&str]) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo");
    Command::new(script)
        .args(args)
        .env("REMOTE_SERVICE_DEMO_DIR", scratch.root().join("demo"))
        .output()
        .expect("run ./demo")
}

/// The demo keeps its back office's pid in a file; a pid names whatever process has it
/// now. `./demo backoffice stop` kills only a back office serving this demo's database,
/// never the process a stale or forged pid file names.
#[test]
fn the_demo_stops_its_own_back_office_and_no_other_process() {
    let scratch = remote_service_tests::Scratch::new();
    let folder = scratch.root().join("demo");
    fs::create_dir_all(&folder).unwrap();
    let mut stranger =
        remote_service_tests::KillOnDrop(Command::new("sleep").arg("600").spawn().unwrap());
    fs::write(folder.join("backoffice.pid"), stranger.id().to_string()).unwrap();
    let stopped = demo(&scratch, &["backoffice", "stop"]);
    assert!(stopped.status.success(), "{stopped:?}");
    assert_eq!(
        String::from_utf8_lossy(&stopped.stdout),
        "the demo back office is not running (its pid file names no back office of this demo: left alone)\n"
    );
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger was killed"
    );
    assert!(!folder.join("backoffice.pid").exists());

    // The demo's own back office (started as the demo starts it) is stopped.
    let mut own = remote_service_tests::KillOnDrop(
        Command::new(remote_service_tests::artifact("remote-service-backoffice"))
            .args(["serve", "--db"])
            .arg(folder.join("backoffice.sqlite"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    fs::write(folder.join("backoffice.pid"), own.id().to_string()).unwrap();
    let stopped = demo(&scratch, &["backoffice", "stop"]);
    assert_eq!(
        String::from_utf8_lossy(&stopped.stdout),
        "demo back office stopped\n"
    );
    assert!(
        wait_until(|| own.try_wait().unwrap().is_some()),
        "the demo's back office still runs"
    );
}

/// A FUSE mount of a folder (bindfs, in the foreground), unmounted when dropped; its daemon
/// can be stopped (`SIGSTOP`), which makes every access to the mount wait, as a network
/// share does when its server hangs.
struct HangingMount {
    daemon: remote_service_tests::KillOnDrop,
    mount: std::path::PathBuf,
}

impl HangingMount {
    fn bind(real: &std::path::Path, mount: &std::path::Path) -> HangingMount {
        fs::create_dir_all(mount).unwrap();
        let daemon = remote_service_tests::KillOnDrop(
            Command::new("bindfs")
                .args(["-f", "--no-allow-other"])
                .arg(real)
                .arg(mount)
                .spawn()
                .expect("run bindfs (Debian packages bindfs, fuse3)"),
        );
        let mounted = wait_until(|| {
            fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .any(|line| line.split(' ').nth(4) == mount.to_str())
        });
        assert!(mounted, "bindfs did not mount {}", mount.display());
        HangingMount {
            daemon,
            mount: mount.to_path_buf(),
        }
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.daemon.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

impl Drop for HangingMount {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(&self.mount)
            .status();
    }
}

/// The licence folder is on a file system that stops answering. The engine starts and
/// answers anyway (no licence in force yet, and it says why in its log), an install into
/// the folder gives up after its limit, and the licence is in force once the folder
/// answers again: only the folder's own reader and writer wait.
#[test]
fn a_licence_folder_that_hangs_holds_up_nothing_but_its_own_reading() {
    let scratch = remote_service_tests::Scratch::new();
    let key = scratch.trusted_key("vendor");
    let real = scratch.root().join("fls-export");
    fs::create_dir_all(&real).unwrap();
    let licence = scratch.licence_file(
        &key,
        &remote_service_tests::PayloadBuilder::new("RS-7007", 3),
        "licence.lic",
    );
    let share = HangingMount::bind(&real, &scratch.root().join("fls"));
    scratch
        .run(&[
            "config",
            "set",
            "licence.local_folder",
            share.mount.to_str().unwrap(),
        ])
        .success();
    share.signal("-STOP");
    // The licence server's side of the share has the licence; this computer sees nothing
    // of it while the share hangs.
    fs::copy(&licence, real.join("RS-7007.lic")).unwrap();
    let _daemon = scratch.start_daemon();
    for _ in 0..3 {
        let status = scratch.run(&["status", "--json"]);
        assert_eq!(
            status.code,
            Some(0),
            "the engine answers: {}",
            status.stderr
        );
        assert_eq!(status.json()["licence"], serde_json::Value::Null);
    }
    let log = fs::read_to_string(scratch.log_file()).unwrap_or_default();
    assert!(
        log.contains("did not answer within 10 s (a network folder that hangs?)"),
        "{log}"
    );
    // Installing into the hung folder gives up with the reason; the engine goes on.
    let install = scratch.run(&["licence", "install", licence.to_str().unwrap()]);
    assert_eq!(install.code, Some(1), "{}", install.stdout);
    assert!(
        install
            .stderr
            .contains("the folder did not answer within 10 s (a network folder that hangs?)"),
        "{}",
        install.stderr
    );
    assert_eq!(scratch.run(&["status", "--json"]).code, Some(0));
    share.signal("-CONT");
    let in_force = remote_service_tests::wait_for(Duration::from_secs(30), || {
        scratch.run(&["status", "--json"]).json()["licence"]["serial_number"] == "RS-7007"
    });
    assert!(
        in_force.is_some(),
        "the licence is in force once the folder answers"
    );
}
