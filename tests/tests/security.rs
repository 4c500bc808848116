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
        effective_uid(),
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

fn effective_uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .expect("the effective uid in /proc/self/status")
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
