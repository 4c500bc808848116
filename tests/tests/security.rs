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
