//! Unit tests of the licence store with real minisign signatures.

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use minisign::KeyPair;
use remote_service_licence_format::{armour, key_id_text, TRUSTED_COMMENT_TAG};

use super::*;

/// A key pair trusted through a `.pub` file in a scratch system folder.
struct Signer {
    pair: KeyPair,
    system_dir: tempfile::TempDir,
}

impl Signer {
    fn new() -> Signer {
        let pair = KeyPair::generate_unencrypted_keypair().unwrap();
        let system_dir = tempfile::tempdir().unwrap();
        fs::write(
            system_dir.path().join("test.pub"),
            pair.pk.to_box().unwrap().into_string(),
        )
        .unwrap();
        Signer { pair, system_dir }
    }

    fn keys(&self) -> TrustedKeys {
        TrustedKeys::load(self.system_dir.path())
    }

    fn key_id(&self) -> String {
        key_id_text(self.pair.pk.keynum())
    }

    /// Signs `payload` with the trusted comment `comment`.
    fn sign_with_comment(&self, payload: &str, comment: &str) -> Vec<u8> {
        let signature = minisign::sign(
            None,
            &self.pair.sk,
            Cursor::new(payload.as_bytes()),
            Some(comment),
            Some("test"),
        )
        .unwrap();
        armour(payload.as_bytes(), &signature.into_string()).into_bytes()
    }

    fn sign(&self, payload: &str) -> Vec<u8> {
        let value: serde_json::Value = serde_json::from_str(payload).unwrap();
        let comment = format!(
            "{TRUSTED_COMMENT_TAG} {} {}",
            value["licence_id"].as_str().unwrap(),
            value["sequence"]
        );
        self.sign_with_comment(payload, &comment)
    }
}

/// A payload for `serial` at `sequence` with `features`, changed by `edit`.
fn payload_with(
    serial: &str,
    sequence: u64,
    features: &[&str],
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let features: Vec<serde_json::Value> = features
        .iter()
        .map(|code| serde_json::json!({"code": code}))
        .collect();
    let mut value = serde_json::json!({
        "format": 1,
        "licence_id": format!("LIC-{sequence}"),
        "serial_number": serial,
        "sequence": sequence,
        "issued_at": "2026-11-01T09:00:00Z",
        "organisation": {"id": "ORG-1", "name": "Demo Print Shop"},
        "product": {"id": "prismadirect", "name": "PRISMAdirect"},
        "maintenance_through": "2027-12-31",
        "features": features,
    });
    edit(&mut value);
    serde_json::to_string(&value).unwrap()
}

fn payload(serial: &str, sequence: u64, features: &[&str]) -> String {
    payload_with(serial, sequence, features, |_| {})
}

fn check(signer: &Signer, licence: &[u8], expect: Result<&str, &str>) {
    match (verify_licence(licence, &signer.keys()), expect) {
        (Ok(verified), Ok(serial)) => assert_eq!(verified.payload.serial_number, serial),
        (Err(error), Err(fragment)) => assert!(
            error.to_string().contains(fragment),
            "{error:?} lacks {fragment:?}"
        ),
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn verification() {
    let signer = Signer::new();
    let stranger = Signer::new();
    let good = signer.sign(&payload("RS-1", 1, &["remote-assistance"]));
    check(&signer, &good, Ok("RS-1"));

    // Forged: the payload of another licence under this licence's signature.
    let text = String::from_utf8(good.clone()).unwrap();
    let forged_payload = base64::engine::general_purpose::STANDARD.encode(payload(
        "RS-1",
        1,
        &["remote-assistance", "users"],
    ));
    let original_payload = text.lines().nth(1).unwrap();
    let forged = text.replacen(
        original_payload,
        &forged_payload[..original_payload.len().min(forged_payload.len())],
        1,
    );
    check(&signer, forged.as_bytes(), Err("does not verify with key"));

    let unknown = stranger.sign(&payload("RS-1", 1, &[]));
    check(
        &signer,
        &unknown,
        Err(&format!("signed with unknown key {}", stranger.key_id())),
    );
    check(&signer, &good[..good.len() / 2], Err("truncated"));
    check(&signer, &good[..good.len() - 10], Err("malformed"));
    check(
        &signer,
        b"\x7fELF\x02\x01\x01garbage",
        Err("not a remote service licence"),
    );
    check(&signer, b"", Err("not a remote service licence"));

    let payload_text = payload("RS-1", 1, &[]);
    check(
        &signer,
        &signer.sign_with_comment(&payload_text, "timestamp:1700000000"),
        Err("expected \"remote-service-licence-v1 <licence_id> <sequence>\""),
    );
    check(
        &signer,
        &signer.sign_with_comment(&payload_text, "remote-service-licence-v1 LIC-1 2"),
        Err("the payload has licence id LIC-1 and sequence 1"),
    );

    let missing = payload_with("RS-1", 1, &[], |value| {
        value.as_object_mut().unwrap().remove("serial_number");
    });
    check(
        &signer,
        &signer.sign(&missing),
        Err("missing field `serial_number`"),
    );
    let unknown_field = payload_with("RS-1", 1, &[], |value| {
        value["licence_expire_at"] = "2030-01-01T00:00:00Z".into()
    });
    check(
        &signer,
        &signer.sign(&unknown_field),
        Err("unknown field `licence_expire_at`"),
    );
    let format_two = payload_with("RS-1", 1, &[], |value| value["format"] = 2.into());
    check(
        &signer,
        &signer.sign(&format_two),
        Err("format 2 is not supported"),
    );
    let bad_date = payload_with("RS-1", 1, &[], |value| {
        value["maintenance_through"] = "31/12/2027".into()
    });
    check(
        &signer,
        &signer.sign(&bad_date),
        Err("licence payload is not the documented JSON"),
    );
    let counted = payload_with("RS-1", 1, &[], |value| {
        value["features"] = serde_json::json!([{"code": "users", "count": 25}])
    });
    let counted = verify_licence(&signer.sign(&counted), &signer.keys()).unwrap();
    assert_eq!(counted.feature_count("users"), Some(25));
    assert!(counted.has_feature("users") && !counted.has_feature("remote-assistance"));
}

#[test]
fn a_legacy_signature_is_refused() {
    let signer = Signer::new();
    let text = String::from_utf8(signer.sign(&payload("RS-1", 1, &[]))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let signature_line = lines
        .iter()
        .position(|line| line.starts_with("untrusted comment:"))
        .unwrap()
        + 1;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(lines[signature_line])
        .unwrap();
    bytes[1] = b'd'; // "ED" (prehashed) becomes "Ed" (legacy)
    let legacy_line = base64::engine::general_purpose::STANDARD.encode(bytes);
    let legacy = text.replace(lines[signature_line], &legacy_line);
    check(&signer, legacy.as_bytes(), Err("legacy minisign signature"));
}

#[test]
fn a_licence_issued_in_the_future_gives_a_clock_warning() {
    let signer = Signer::new();
    let future = payload_with("RS-1", 1, &[], |value| {
        value["issued_at"] = "2099-01-01T00:00:00Z".into()
    });
    let verified = verify_licence(&signer.sign(&future), &signer.keys()).unwrap();
    assert_eq!(verified.warnings.len(), 1);
    assert!(
        verified.warnings[0].contains("in the future: check this computer's clock"),
        "{:?}",
        verified.warnings
    );
    let now = verify_licence(&signer.sign(&payload("RS-1", 1, &[])), &signer.keys()).unwrap();
    assert!(now.warnings.is_empty());
}

#[test]
fn entitlement_uses_the_maintenance_end_inclusive() {
    let signer = Signer::new();
    let licence = verify_licence(&signer.sign(&payload("RS-1", 1, &[])), &signer.keys()).unwrap();
    let date = |text| {
        time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap()
    };
    assert_eq!(check_entitlement(&licence, date("2027-12-31")), Ok(()));
    let error = check_entitlement(&licence, date("2028-01-01")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the release date 2028-01-01 is after the end of maintenance 2027-12-31; extend the maintenance contract to install this update"
    );
}

struct Folders {
    root: tempfile::TempDir,
}

impl Folders {
    fn new() -> Folders {
        Folders {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn licence_folder(&self) -> std::path::PathBuf {
        self.root.path().join("DroppedLicense")
    }

    fn open(&self, signer: &Signer) -> LicenceStore {
        LicenceStore::open(StoreConfig {
            licence_folder: self.licence_folder(),
            system_dir: signer.system_dir.path().to_path_buf(),
            state_dir: self.root.path().join("state"),
        })
    }
}

fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_applies_the_sequence_rules_and_keeps_the_licence_in_force() {
    let signer = Signer::new();
    let folders = Folders::new();
    let mut store = folders.open(&signer);
    assert!(store.in_force().is_none());

    let five = signer.sign(&payload("RS-1", 5, &["auto-licence-update"]));
    let path = folders.licence_folder().join("RS-1.lic");
    assert_eq!(
        store.install(&five).unwrap(),
        InstallOutcome::Installed { path: path.clone() }
    );
    assert_eq!(
        files_in(&folders.licence_folder()),
        vec!["RS-1.lic"],
        "no temp file is left"
    );
    assert_eq!(fs::read(&path).unwrap(), five);

    // The same payload signed again is the same licence.
    let five_again = signer.sign(&payload("RS-1", 5, &["auto-licence-update"]));
    assert_eq!(
        store.install(&five_again).unwrap(),
        InstallOutcome::AlreadyInForce { path: path.clone() }
    );

    for (licence, reason) in [
        (
            signer.sign(&payload("RS-1", 4, &[])),
            "licence sequence 4 is lower than the installed sequence 5",
        ),
        (
            signer.sign(&payload("RS-1", 5, &[])),
            "licence sequence 5 is already installed with other content",
        ),
        (
            signer.sign(&payload("RS-2", 9, &[])),
            "licence is for serial RS-2, this installation has serial RS-1",
        ),
    ] {
        let error = store.install(&licence).unwrap_err();
        assert_eq!(error.to_string(), reason);
        assert_eq!(
            fs::read(&path).unwrap(),
            five,
            "the installed licence stays"
        );
        assert_eq!(store.in_force().unwrap().payload.sequence, 5);
    }

    let six = signer.sign(&payload(
        "RS-1",
        6,
        &["auto-licence-update", "remote-assistance"],
    ));
    store.install(&six).unwrap();
    assert!(store.in_force().unwrap().has_feature("remote-assistance"));
}

#[test]
fn a_file_that_cannot_be_replaced_is_reported_with_the_folder_and_the_old_one_stays() {
    let signer = Signer::new();
    let folders = Folders::new();
    let mut store = folders.open(&signer);
    // A folder where `RS-1.lic` is a folder: the rename cannot replace it, even as root.
    fs::create_dir_all(folders.licence_folder().join("RS-1.lic/keep")).unwrap();
    let error = store
        .install(&signer.sign(&payload("RS-1", 1, &[])))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "cannot install RS-1.lic into {}: cannot rename the temporary file:",
            folders.licence_folder().display()
        )),
        "{error}"
    );
    assert_eq!(
        files_in(&folders.licence_folder()),
        vec!["RS-1.lic"],
        "the temp file is removed"
    );
    assert!(folders.licence_folder().join("RS-1.lic/keep").is_dir());
    assert!(store.in_force().is_none());
}

#[test]
fn a_scan_puts_the_newest_valid_licence_in_force_and_reports_each_bad_file_once() {
    let signer = Signer::new();
    let folders = Folders::new();
    fs::create_dir_all(folders.licence_folder()).unwrap();
    fs::write(
        folders.licence_folder().join("RS-1.lic"),
        signer.sign(&payload("RS-1", 3, &[])),
    )
    .unwrap();
    fs::write(
        folders.licence_folder().join("older.lic"),
        signer.sign(&payload("RS-1", 2, &[])),
    )
    .unwrap();
    fs::write(folders.licence_folder().join("broken.lic"), b"garbage").unwrap();
    fs::write(
        folders.licence_folder().join("notes.txt"),
        b"not a licence file name",
    )
    .unwrap();
    fs::write(
        folders.licence_folder().join(".RS-1.lic.x.partial"),
        b"half",
    )
    .unwrap();

    let mut store = folders.open(&signer);
    let outcome = store.rescan();
    assert!(outcome.changed);
    assert_eq!(store.in_force().unwrap().payload.sequence, 3);
    let refused = refused_by_name(&outcome);
    assert_eq!(
        refused,
        vec![
            "broken.lic: not a remote service licence: no -----BEGIN REMOTE SERVICE LICENCE----- line",
            "older.lic: licence sequence 2 is lower than the installed sequence 3",
        ]
    );

    let again = store.rescan();
    assert!(
        !again.changed && again.refused.is_empty(),
        "nothing changed, nothing is reported twice"
    );
}

/// A folder others can write (a share): whatever is planted under a licence's name is
/// opened once, without following a link or waiting on a FIFO, and refused with the reason.
#[cfg(unix)]
#[test]
fn links_fifos_and_oversized_files_in_the_folder_are_refused_without_reading_them() {
    let signer = Signer::new();
    let folders = Folders::new();
    let folder = folders.licence_folder();
    fs::create_dir_all(&folder).unwrap();
    // A valid licence outside the folder, linked in.
    let outside = folders.root.path().join("elsewhere.lic");
    fs::write(&outside, signer.sign(&payload("RS-1", 7, &[]))).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("linked.lic")).unwrap();
    // A FIFO nobody writes: reading it would wait forever.
    let fifo = std::ffi::CString::new(folder.join("fifo.lic").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path and a plain mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    // An endless-looking file: 1 GiB, sparse.
    fs::File::create(folder.join("huge.lic"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    let store = folders.open(&signer);
    // On a thread of its own: a scan that waits on the FIFO fails the test, never hangs it.
    let (mut store, outcome) =
        crate::deadline::within("scan", Duration::from_secs(60), move || {
            let mut store = store;
            let outcome = store.rescan();
            (store, outcome)
        })
        .expect("the scan waited on the FIFO or read the huge file");
    assert!(!outcome.changed, "the linked licence is not put in force");
    assert!(store.in_force().is_none());
    let refused = refused_by_name(&outcome);
    assert_eq!(
        refused,
        vec![
            "fifo.lic: cannot be read: not a regular file: a link, folder, FIFO or device where a file is expected",
            "huge.lic: cannot be read: too large: 1073741824 bytes, at most 65536 are read",
            "linked.lic: cannot be read: not a regular file: a symbolic link, which is not followed here",
        ]
    );
    assert!(store.rescan().refused.is_empty(), "each is reported once");
}

/// More licence files than a scan reads: the first ones are judged, the rest left alone.
#[test]
fn a_folder_flooded_with_licence_files_is_read_only_up_to_the_limit() {
    let signer = Signer::new();
    let folders = Folders::new();
    let folder = folders.licence_folder();
    fs::create_dir_all(&folder).unwrap();
    for index in 0..(MAX_LICENCE_FILES + 20) {
        fs::write(folder.join(format!("{index:04}.lic")), b"garbage").unwrap();
    }
    let mut store = folders.open(&signer);
    assert_eq!(store.rescan().refused.len(), MAX_LICENCE_FILES);
}

#[test]
fn a_downgrade_dropped_while_not_running_is_refused() {
    let signer = Signer::new();
    let folders = Folders::new();
    let mut store = folders.open(&signer);
    store
        .install(&signer.sign(&payload("RS-1", 5, &["remote-assistance"])))
        .unwrap();
    drop(store);

    // Someone copies an older licence over it while Remote Service is not running.
    fs::write(
        folders.licence_folder().join("RS-1.lic"),
        signer.sign(&payload("RS-1", 4, &[])),
    )
    .unwrap();
    let mut store = folders.open(&signer);
    let outcome = store.rescan();
    assert!(!outcome.changed);
    assert_eq!(
        outcome.refused[0].reason,
        "licence sequence 4 is lower than the installed sequence 5"
    );
    assert_eq!(store.in_force().unwrap().payload.sequence, 5);
    assert!(store.in_force().unwrap().has_feature("remote-assistance"));
}

/// How soon (within a second) is the foundation bench's licence pickup figure.
#[test]
fn the_watcher_reports_a_licence_copied_into_the_folder() {
    let folder = tempfile::tempdir().unwrap();
    let (sender, changes) = crossbeam_channel::unbounded();
    let _watcher = FolderWatcher::start(folder.path(), sender).unwrap();
    let first = changes
        .recv_timeout(Duration::from_secs(5))
        .expect("the folder as it is, once watched");
    assert!(first.paths().is_empty());
    fs::write(folder.path().join("RS-1.lic"), b"part one").unwrap();
    let read = changes
        .recv_timeout(Duration::from_secs(10))
        .expect("the change");
    assert_eq!(read.paths(), vec![folder.path().join("RS-1.lic")]);
    assert!(
        changes.recv_timeout(Duration::from_millis(300)).is_err(),
        "one write is one change"
    );
}

#[test]
fn the_watcher_notices_a_folder_that_appears_later() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("DroppedLicense");
    let (sender, changes) = crossbeam_channel::unbounded();
    let _watcher = FolderWatcher::start(&folder, sender).unwrap();
    changes
        .recv_timeout(Duration::from_secs(5))
        .expect("the folder as it is (not there yet)");
    fs::create_dir_all(&folder).unwrap();
    changes
        .recv_timeout(Duration::from_secs(5))
        .expect("the folder's appearance is a change");
    fs::write(folder.join("RS-1.lic"), b"x").unwrap();
    changes
        .recv_timeout(Duration::from_secs(10))
        .expect("then it is watched");
}

/// What the licence updater may install, given the licence in force (sequence 3 of
/// RS-1): every bad download is refused with its reason.
#[test]
fn a_downloaded_licence_is_checked_against_the_keys_and_the_licence_in_force() {
    let signer = Signer::new();
    let stranger = Signer::new();
    let in_force = verify_licence(
        &signer.sign(&payload("RS-1", 3, &["users"])),
        &signer.keys(),
    )
    .unwrap();
    let stranger_id = stranger.key_id();
    let cases: Vec<(&str, Vec<u8>, Result<u64, &str>)> = vec![
        ("newer", signer.sign(&payload("RS-1", 4, &["users"])), Ok(4)),
        (
            "forged",
            {
                let mut bytes = signer.sign(&payload("RS-1", 4, &["users"]));
                // One byte of the base64 payload changed: the signature no longer holds.
                bytes[45] = if bytes[45] == b'A' { b'B' } else { b'A' };
                bytes
            },
            Err("signature"),
        ),
        (
            "unknown key",
            stranger.sign(&payload("RS-1", 4, &["users"])),
            Err(&stranger_id),
        ),
        (
            "truncated",
            signer.sign(&payload("RS-1", 4, &["users"]))[..120].to_vec(),
            Err("licence is truncated"),
        ),
        (
            "garbage",
            b"{\"error\": \"not a licence\"}".to_vec(),
            Err("not a remote service licence"),
        ),
        (
            "downgrade",
            signer.sign(&payload("RS-1", 2, &["users"])),
            Err("sequence 2 is lower than the installed sequence 3"),
        ),
        (
            "same sequence, other content",
            signer.sign(&payload("RS-1", 3, &["users", "remote-assistance"])),
            Err("sequence 3 is already installed with other content"),
        ),
        (
            "the same licence",
            signer.sign(&payload("RS-1", 3, &["users"])),
            Err("in force already"),
        ),
        (
            "another serial",
            signer.sign(&payload("RS-2", 9, &["users"])),
            Err("licence is for serial RS-2, this installation has serial RS-1"),
        ),
    ];
    for (name, bytes, expect) in cases {
        match (
            check_for_install(&bytes, &signer.keys(), Some(&in_force)),
            expect,
        ) {
            (Ok(licence), Ok(sequence)) => assert_eq!(licence.payload.sequence, sequence, "{name}"),
            (Err(error), Err(fragment)) => {
                let reason = error.to_string();
                assert!(
                    reason.contains(fragment),
                    "{name}: {reason:?} lacks {fragment:?}"
                )
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
    // Without a licence in force, any verified licence may be installed.
    assert!(
        check_for_install(&signer.sign(&payload("RS-2", 1, &[])), &signer.keys(), None).is_ok()
    );
}

/// "file name: reason" of each refusal, sorted.
fn refused_by_name(outcome: &ScanOutcome) -> Vec<String> {
    let mut refused: Vec<String> = outcome
        .refused
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r.path.file_name().unwrap().to_string_lossy(),
                r.reason
            )
        })
        .collect();
    refused.sort();
    refused
}
