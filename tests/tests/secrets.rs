//! The engine's secret store (`remote_service_engine::secrets`) against a real Secret Service:
//! gnome-keyring-daemon in the test's own D-Bus session (see `keyring.rs`), and the 0600
//! file where that session has no Secret Service. The store is given the desktop's bus
//! address explicitly, so the test process's environment stays as it is.
//!
//! What a user would check: the secret comes back; another program (`secret-tool`) finds
//! it in the keyring under Remote Service's attributes; its clear text is in no file at all
//! (the installation's, the desktop's, the keyring's own encrypted files); and a keyring
//! that cannot be used says so rather than sending the secret to the file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use remote_service_engine::paths::Paths;
use remote_service_engine::secrets::{Backend, Secret, SecretStore};
use remote_service_tests::desktop::Desktop;
use remote_service_tests::keyring::{files_containing, Keyring};

const CODE: &str = "vc-5d1e9a7c-secret-test";
const OTHER_CODE: &str = "vc-0b3f44e2-secret-test";
const PROXY_PASSWORD: &str = "pp-c29e61f8-secret-test";

/// A desktop session (with a keyring when asked) and an installation's folders.
struct Setup {
    keyring: Option<Keyring>,
    desktop: Desktop,
    scratch: tempfile::TempDir,
    paths: Paths,
}

enum KeyringState {
    /// No Secret Service on the session bus.
    None,
    /// gnome-keyring with its unlocked login collection.
    Unlocked,
    /// gnome-keyring without any keyring of the user's.
    WithoutLoginKeyring,
}

fn setup(keyring: KeyringState) -> Setup {
    let desktop = Desktop::start_without_tray();
    let keyring = match keyring {
        KeyringState::None => None,
        KeyringState::Unlocked => Some(Keyring::start(&desktop)),
        KeyringState::WithoutLoginKeyring => Some(Keyring::start_without_login_keyring(&desktop)),
    };
    let scratch = tempfile::Builder::new()
        .prefix("remote-service-secrets-")
        .tempdir()
        .expect("scratch folder");
    let root = scratch.path();
    let paths = Paths {
        config_dir: root.join("config/remote-service"),
        data_dir: root.join("data/remote-service"),
        state_dir: root.join("state/remote-service"),
        system_dir: root.join("etc"),
        plugin_dir: root.join("plugins"),
    };
    Setup {
        keyring,
        desktop,
        scratch,
        paths,
    }
}

impl Setup {
    /// The store as the engine opens it on this desktop's session bus.
    fn store(&self) -> SecretStore {
        SecretStore::open_with(
            &self.paths,
            Backend::BusAddress(self.desktop.bus_address().to_string()),
        )
    }

    fn keyring(&self) -> &Keyring {
        self.keyring.as_ref().expect("a keyring in this setup")
    }

    fn secrets_folder(&self) -> PathBuf {
        self.paths.state_dir.join("secrets")
    }

    /// Every file holding `value` in clear: the installation's, the desktop's (bus and X
    /// logs) and, when there is one, the keyring's own.
    fn files_with(&self, value: &str) -> Vec<PathBuf> {
        let desktop_root = self.desktop.runtime_dir().parent().unwrap();
        let mut found = files_containing(self.scratch.path(), value);
        found.extend(files_containing(desktop_root, value));
        if let Some(keyring) = &self.keyring {
            found.extend(files_containing(&keyring.files(), value));
        }
        found
    }
}

fn read(store: &SecretStore, secret: Secret) -> Option<String> {
    store
        .get(secret)
        .unwrap_or_else(|error| panic!("read {}: {error}", secret.key()))
        .map(|value| value.to_string())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Panics when the command line of this test or of a process it started (the keyring,
/// the bus, `secret-tool`) holds `value`.
fn assert_in_no_process_arguments(value: &str) {
    for pid in remote_service_tests::process_tree(std::process::id()) {
        if let Ok(arguments) = fs::read(format!("/proc/{pid}/cmdline")) {
            assert!(
                !arguments
                    .windows(value.len())
                    .any(|window| window == value.as_bytes()),
                "the arguments of process {pid} hold the secret"
            );
        }
    }
}

#[test]
fn a_secret_stored_in_the_keyring_comes_back_and_is_nowhere_else() {
    let setup = setup(KeyringState::Unlocked);
    let store = setup.store();
    let backend = store.backend();
    assert!(
        backend.contains("keyring (Secret Service on the bus unix:"),
        "{backend}"
    );
    assert_eq!(read(&store, Secret::VerificationCode), None);
    assert!(!store.is_set(Secret::VerificationCode).unwrap());

    store.set(Secret::VerificationCode, CODE).unwrap();
    assert_eq!(
        read(&store, Secret::VerificationCode).as_deref(),
        Some(CODE)
    );
    assert!(store.is_set(Secret::VerificationCode).unwrap());
    assert!(!store.is_set(Secret::ProxyPassword).unwrap());

    // Another program finds it, under Remote Service's attributes and label, in the
    // default (login) collection.
    let keyring = setup.keyring();
    assert_eq!(keyring.lookup("verification_code").as_deref(), Some(CODE));
    let items = keyring.remote_service_items();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].label, "Remote Service verification_code");
    assert_eq!(items[0].attributes["secret"], "verification_code");
    assert_eq!(
        items[0].collection,
        "/org/freedesktop/secrets/collection/login"
    );
    assert_eq!(items[0].secret.as_deref(), Some(CODE));

    // Not in clear in any file: no secrets file, nothing in the desktop's logs, and the
    // keyring's own file is encrypted.
    assert!(!setup.secrets_folder().exists());
    assert_eq!(setup.files_with(CODE), Vec::<PathBuf>::new());
    let keyring_file = keyring.files().join("data/keyrings/login.keyring");
    assert!(
        keyring_file.exists(),
        "gnome-keyring wrote its login keyring"
    );
    assert_in_no_process_arguments(CODE);

    // Setting it again replaces the item; the other secret is an item of its own.
    store.set(Secret::VerificationCode, OTHER_CODE).unwrap();
    store.set(Secret::ProxyPassword, PROXY_PASSWORD).unwrap();
    assert_eq!(
        read(&store, Secret::VerificationCode).as_deref(),
        Some(OTHER_CODE)
    );
    assert_eq!(
        read(&store, Secret::ProxyPassword).as_deref(),
        Some(PROXY_PASSWORD)
    );
    let mut secrets: Vec<_> = keyring
        .remote_service_items()
        .into_iter()
        .map(|item| (item.attributes["secret"].clone(), item.secret.unwrap()))
        .collect();
    secrets.sort();
    assert_eq!(
        secrets,
        [
            ("proxy_password".to_string(), PROXY_PASSWORD.to_string()),
            ("verification_code".to_string(), OTHER_CODE.to_string()),
        ]
    );
    for value in [CODE, OTHER_CODE, PROXY_PASSWORD] {
        assert_eq!(setup.files_with(value), Vec::<PathBuf>::new(), "{value}");
    }

    // Removing one leaves the other.
    store.delete(Secret::VerificationCode).unwrap();
    store.delete(Secret::VerificationCode).unwrap();
    assert_eq!(read(&store, Secret::VerificationCode), None);
    assert!(!store.is_set(Secret::VerificationCode).unwrap());
    assert_eq!(keyring.lookup("verification_code"), None);
    assert_eq!(
        keyring.lookup("proxy_password").as_deref(),
        Some(PROXY_PASSWORD)
    );
    assert_eq!(keyring.remote_service_items().len(), 1);
}

#[test]
fn a_session_without_a_secret_service_keeps_secrets_in_a_private_file() {
    let setup = setup(KeyringState::None);
    let store = setup.store();
    let folder = setup.secrets_folder();
    let backend = store.backend();
    assert!(
        backend.contains(&format!("a 0600 file in {}", folder.display())),
        "{backend}"
    );
    assert!(
        backend.contains("no Secret Service on the bus unix:"),
        "{backend}"
    );

    store.set(Secret::VerificationCode, CODE).unwrap();
    assert_eq!(
        read(&store, Secret::VerificationCode).as_deref(),
        Some(CODE)
    );
    assert_eq!(mode(&folder), 0o700);
    let file = folder.join("verification_code");
    assert_eq!(mode(&file), 0o600);
    // That file and nothing else holds it.
    assert_eq!(setup.files_with(CODE), [file]);

    store.delete(Secret::VerificationCode).unwrap();
    assert_eq!(read(&store, Secret::VerificationCode), None);
    assert_eq!(setup.files_with(CODE), Vec::<PathBuf>::new());
}

#[test]
fn the_file_when_chosen_leaves_the_keyring_alone() {
    let setup = setup(KeyringState::Unlocked);
    let store = SecretStore::open_with(&setup.paths, Backend::File);
    assert!(store.backend().contains("0600 file"), "{}", store.backend());
    store.set(Secret::ProxyPassword, PROXY_PASSWORD).unwrap();
    assert_eq!(
        read(&store, Secret::ProxyPassword).as_deref(),
        Some(PROXY_PASSWORD)
    );
    let items = setup.keyring().remote_service_items();
    assert!(items.is_empty(), "{items:?}");
    assert_eq!(
        setup.files_with(PROXY_PASSWORD),
        [setup.secrets_folder().join("proxy_password")]
    );
}

#[test]
fn a_locked_keyring_is_an_error_that_names_the_secret_never_the_file() {
    let setup = setup(KeyringState::Unlocked);
    let store = setup.store();
    store.set(Secret::VerificationCode, CODE).unwrap();
    setup.keyring().lock();
    assert!(setup
        .keyring()
        .items()
        .iter()
        .all(|item| item.secret.is_none()));

    // Knowing that it is set needs no unlocking.
    assert!(store.is_set(Secret::VerificationCode).unwrap());
    // Reading, storing and removing need the keyring unlocked; nothing here can answer its
    // prompt, so each is refused with the reason and the fix.
    let read = store.get(Secret::VerificationCode).unwrap_err();
    let stored = store
        .set(Secret::ProxyPassword, PROXY_PASSWORD)
        .unwrap_err();
    let removed = store.delete(Secret::VerificationCode).unwrap_err();
    for (error, action, key) in [
        (read, "read", "verification_code"),
        (stored, "store", "proxy_password"),
        (removed, "remove", "verification_code"),
    ] {
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot {action} {key} in the keyring (Secret Service on the bus unix:"
            )),
            "{message}"
        );
        assert!(
            message.contains("the keyring is locked and its unlock prompt was dismissed"),
            "{message}"
        );
        assert!(message.contains("REMOTE_SERVICE_SECRETS=file"), "{message}");
        let shown = format!("{message} {error:?}");
        assert!(
            !shown.contains(CODE) && !shown.contains(PROXY_PASSWORD),
            "{shown}"
        );
    }
    // No fall-back: nothing went to a file, and the store still says keyring.
    assert!(!setup.secrets_folder().exists());
    assert!(store.backend().contains("keyring"), "{}", store.backend());
    assert_eq!(setup.files_with(PROXY_PASSWORD), Vec::<PathBuf>::new());
    assert_eq!(setup.files_with(CODE), Vec::<PathBuf>::new());
}

#[test]
fn a_keyring_without_a_default_collection_is_an_error_not_the_file() {
    let setup = setup(KeyringState::WithoutLoginKeyring);
    let store = setup.store();
    assert!(store.backend().contains("keyring"), "{}", store.backend());
    // Nothing stored yet: reading finds nothing, as with any empty keyring.
    assert_eq!(read(&store, Secret::VerificationCode), None);

    let message = store
        .set(Secret::VerificationCode, CODE)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot store verification_code in the keyring"),
        "{message}"
    );
    assert!(
        message.contains("the keyring has no default collection and its prompt to create one"),
        "{message}"
    );
    assert!(!message.contains(CODE), "{message}");
    assert!(!setup.secrets_folder().exists());
    let items = setup.keyring().remote_service_items();
    assert!(items.is_empty(), "{items:?}");
    assert_eq!(setup.files_with(CODE), Vec::<PathBuf>::new());
}
