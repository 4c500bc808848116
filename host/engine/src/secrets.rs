//! The engine's secrets (the verification code, the proxy password): in the system keyring
//! (the Secret Service on the session bus: GNOME Keyring, KWallet), or where no keyring
//! exists (the system service, a server without a desktop) in a 0600 file of a 0700 folder
//! in the state folder (`<state>/secrets/<key>`, one file per secret).
//!
//! Which one is decided once, when the store is opened ([`SecretStore::open`]):
//!
//! - `REMOTE_SERVICE_SECRETS=file` in the environment chooses the file on purpose (the
//!   system service, the demo, tests); any other value is refused with an error on every
//!   use, never guessed at. Unset or empty: as follows.
//! - A Secret Service that answers on the session bus (D-Bus activation may start it):
//!   the keyring. Items live in its default collection (`login` on GNOME), with the
//!   attributes `application=remote-service` and `secret=<key>` and the label
//!   `Remote Service <key>`; they are sent over the bus encrypted (the Secret Service's
//!   `dh-ietf1024-sha256-aes128-cbc-pkcs7` session).
//! - No session bus, or nobody owns `org.freedesktop.secrets` on it: the file.
//!
//! [`SecretStore::open_with`] skips the environment and takes the [`Backend`] to use: a
//! test gives it its private session bus's address instead of changing its own
//! `DBUS_SESSION_BUS_ADDRESS`.
//!
//! A keyring that exists but refuses (locked, its unlock prompt dismissed or impossible on
//! a headless session, no default collection) is an error naming the secret and the fix,
//! never a silent fall-back to the file. [`SecretStore::backend`] says which store is in
//! use and why.
//!
//! A secret's value is never in a log line, an error message or a `Debug` output: values
//! are returned as [`Zeroizing`] strings (wiped when dropped, `Debug` shows no content) and
//! [`SecretError`] only ever names the secret, the bus or the file.
//!
//! The keyring is reached through the `secret-service` crate over the zbus 5 connection
//! code the tray already uses (pure-Rust session crypto: no libdbus, no OpenSSL).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use zeroize::Zeroizing;

use crate::atomic_file::{write_atomically, Access};
use crate::paths::Paths;

/// Chooses the file backend: `REMOTE_SERVICE_SECRETS=file`.
pub const SECRETS_ENV: &str = "REMOTE_SERVICE_SECRETS";

/// The `application` attribute of the keyring items.
const APPLICATION: &str = "remote-service";

/// How long one call to the Secret Service may take before it counts as failed (the D-Bus
/// reference implementation's default). Prompts are not calls: a user typing the keyring
/// password is waited for.
const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// The secrets the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The service organisation's verification code.
    VerificationCode,
    /// The manual proxy's password.
    ProxyPassword,
}

impl Secret {
    /// Every secret.
    pub const ALL: [Secret; 2] = [Secret::VerificationCode, Secret::ProxyPassword];

    /// Its name on the command line, in the keyring's attributes and as the file's name.
    pub fn key(self) -> &'static str {
        match self {
            Secret::VerificationCode => "verification_code",
            Secret::ProxyPassword => "proxy_password",
        }
    }

    /// The secret called `key`.
    pub fn from_key(key: &str) -> Option<Secret> {
        Secret::ALL.into_iter().find(|secret| secret.key() == key)
    }
}

/// A secret could not be read, stored or removed. Says which secret and where, never the
/// value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The keyring refused or failed.
    #[error("cannot {action} {key} in the keyring (Secret Service on {bus}): {reason}")]
    Keyring {
        /// What was being done: "read", "store", "remove", "look up".
        action: &'static str,
        /// The secret's name.
        key: &'static str,
        /// Which bus: "the session bus" or the address given.
        bus: String,
        /// Why, and what to do about it.
        reason: String,
    },
    /// The secrets file could not be read or written.
    #[error("cannot {action} the secrets file {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file (or its folder).
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The secrets file holds bytes that are not UTF-8 text.
    #[error("the secrets file {path} is not UTF-8 text: set the secret again")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// `REMOTE_SERVICE_SECRETS` has a value this version does not know.
    #[error("{SECRETS_ENV}={value:?} is not understood: set it to \"file\" or leave it unset")]
    UnknownChoice {
        /// The variable's value (a choice, not a secret).
        value: String,
    },
}

/// Where [`SecretStore::open_with`] keeps secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The Secret Service on the session bus (`DBUS_SESSION_BUS_ADDRESS`) when one answers
    /// there, otherwise the file.
    SessionBus,
    /// The Secret Service on the bus at this D-Bus address (a test's private session bus)
    /// when one answers there, otherwise the file.
    BusAddress(String),
    /// The 0600 file, whatever the bus offers.
    File,
}

/// The secrets of one engine.
#[derive(Debug, Clone)]
pub struct SecretStore {
    store: Store,
}

#[derive(Debug, Clone)]
enum Store {
    Keyring(Bus),
    File { folder: PathBuf, why: String },
    UnknownChoice { value: String },
}

impl SecretStore {
    /// The store this process should use: `REMOTE_SERVICE_SECRETS` first, then the
    /// keyring when a Secret Service answers on the session bus, otherwise the file in
    /// `paths.state_dir`.
    pub fn open(paths: &Paths) -> SecretStore {
        let choice = std::env::var(SECRETS_ENV).unwrap_or_default();
        match backend_from_env(&choice) {
            Ok(Backend::File) => SecretStore::file(paths, format!("{SECRETS_ENV}=file")),
            Ok(backend) => SecretStore::open_with(paths, backend),
            Err(value) => SecretStore {
                store: Store::UnknownChoice { value },
            },
        }
    }

    /// The store on `backend`, without looking at the environment.
    pub fn open_with(paths: &Paths, backend: Backend) -> SecretStore {
        let bus = match backend {
            Backend::SessionBus => Bus::Session,
            Backend::BusAddress(address) => Bus::Address(address),
            Backend::File => return SecretStore::file(paths, "the file was chosen".to_string()),
        };
        match keyring::probe(&bus) {
            Ok(()) => SecretStore {
                store: Store::Keyring(bus),
            },
            Err(why) => SecretStore::file(paths, why),
        }
    }

    fn file(paths: &Paths, why: String) -> SecretStore {
        SecretStore {
            store: Store::File {
                folder: secrets_folder(paths),
                why,
            },
        }
    }

    /// Where secrets are kept, in words: "the keyring (Secret Service on the session bus)"
    /// or "a 0600 file in /…/secrets (no Secret Service on the session bus)".
    pub fn backend(&self) -> String {
        match &self.store {
            Store::Keyring(bus) => format!("the keyring (Secret Service on {bus})"),
            Store::File { folder, why } => {
                format!("a 0600 file in {} ({why})", folder.display())
            }
            Store::UnknownChoice { value } => {
                format!("nowhere: {SECRETS_ENV}={value:?} is not understood")
            }
        }
    }

    /// The secret, if it is set. A locked keyring is asked to unlock (its prompt may ask
    /// the user for the keyring's password).
    pub fn get(&self, secret: Secret) -> Result<Option<Zeroizing<String>>, SecretError> {
        match &self.store {
            Store::Keyring(bus) => keyring::get(bus, secret),
            Store::File { folder, .. } => file::get(folder, secret),
            Store::UnknownChoice { value } => Err(unknown_choice(value)),
        }
    }

    /// Whether the secret is set, without reading it (a locked keyring stays locked).
    pub fn is_set(&self, secret: Secret) -> Result<bool, SecretError> {
        match &self.store {
            Store::Keyring(bus) => keyring::is_set(bus, secret),
            Store::File { folder, .. } => file::is_set(folder, secret),
            Store::UnknownChoice { value } => Err(unknown_choice(value)),
        }
    }

    /// Stores the secret, replacing the one before.
    pub fn set(&self, secret: Secret, value: &str) -> Result<(), SecretError> {
        match &self.store {
            Store::Keyring(bus) => keyring::set(bus, secret, value),
            Store::File { folder, .. } => file::set(folder, secret, value),
            Store::UnknownChoice { value } => Err(unknown_choice(value)),
        }
    }

    /// Removes the secret (nothing happens when it is not set).
    pub fn delete(&self, secret: Secret) -> Result<(), SecretError> {
        match &self.store {
            Store::Keyring(bus) => keyring::delete(bus, secret),
            Store::File { folder, .. } => file::delete(folder, secret),
            Store::UnknownChoice { value } => Err(unknown_choice(value)),
        }
    }
}

/// The folder of the file backend.
fn secrets_folder(paths: &Paths) -> PathBuf {
    paths.state_dir.join("secrets")
}

/// The backend `REMOTE_SERVICE_SECRETS=value` asks for, or the value when it means nothing.
fn backend_from_env(value: &str) -> Result<Backend, String> {
    match value {
        "" => Ok(Backend::SessionBus),
        "file" => Ok(Backend::File),
        other => Err(other.to_string()),
    }
}

fn unknown_choice(value: &str) -> SecretError {
    SecretError::UnknownChoice {
        value: value.to_string(),
    }
}

/// The bus the Secret Service is looked for on.
#[derive(Debug, Clone)]
enum Bus {
    Session,
    Address(String),
}

impl std::fmt::Display for Bus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::Session => formatter.write_str("the session bus"),
            Bus::Address(address) => write!(formatter, "the bus {address}"),
        }
    }
}

/// The file backend: `<folder>/<key>`, 0600, in a 0700 folder, written atomically.
mod file {
    use super::*;

    pub fn get(folder: &Path, secret: Secret) -> Result<Option<Zeroizing<String>>, SecretError> {
        let path = folder.join(secret.key());
        // A secret is a few bytes: a FIFO or a huge file planted there is refused.
        let bytes = match crate::atomic_file::read_regular(&path, 64 * 1024) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => {
                return Err(SecretError::File {
                    action: "read",
                    path,
                    source: io::Error::new(error.source.kind(), error.to_string()),
                })
            }
        };
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text.to_string()))),
            Err(_) => Err(SecretError::NotText { path }),
        }
    }

    pub fn is_set(folder: &Path, secret: Secret) -> Result<bool, SecretError> {
        let path = folder.join(secret.key());
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(SecretError::File {
                action: "look at",
                path,
                source,
            }),
        }
    }

    pub fn set(folder: &Path, secret: Secret, value: &str) -> Result<(), SecretError> {
        create_private_folder(folder)?;
        write_atomically(folder, secret.key(), value.as_bytes(), Access::Private)
            .map(drop)
            .map_err(|error| SecretError::File {
                action: "write",
                path: folder.join(secret.key()),
                source: io::Error::new(error.source.kind(), error.to_string()),
            })
    }

    pub fn delete(folder: &Path, secret: Secret) -> Result<(), SecretError> {
        let path = folder.join(secret.key());
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SecretError::File {
                action: "remove",
                path,
                source,
            }),
        }
    }

    fn create_private_folder(folder: &Path) -> Result<(), SecretError> {
        let failed = |source| SecretError::File {
            action: "create the folder of",
            path: folder.to_path_buf(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(folder)
                .map_err(failed)?;
            // An existing folder may have been made with other rights: only the owner.
            fs::set_permissions(folder, fs::Permissions::from_mode(0o700)).map_err(failed)?;
        }
        #[cfg(not(unix))]
        fs::create_dir_all(folder).map_err(failed)?;
        Ok(())
    }
}

/// The Secret Service: items in the default collection with the attributes
/// `application=remote-service` and `secret=<key>`. One connection per operation: the
/// engine reads its secrets rarely, and a keyring daemon that restarted in between is
/// found again.
mod keyring {
    use super::*;
    use secret_service::blocking::SecretService;
    use secret_service::{EncryptionType, Error};

    /// The D-Bus errors that mean "nobody owns `org.freedesktop.secrets`, and nothing can
    /// be activated for it".
    const ABSENT: [&str; 2] = [
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ];

    /// Why connecting failed.
    enum Connect {
        /// There is no bus, or no Secret Service on it: the file is the store.
        Absent(String),
        /// A Secret Service is there but failed.
        Failed(Error),
    }

    fn connect(bus: &Bus) -> Result<SecretService<'static>, Connect> {
        let builder = match bus {
            Bus::Session => zbus::blocking::connection::Builder::session(),
            Bus::Address(address) => zbus::blocking::connection::Builder::address(address.as_str()),
        };
        let connection = builder
            .and_then(|builder| builder.method_timeout(CALL_TIMEOUT).build())
            .map_err(|error| Connect::Absent(format!("cannot reach {bus}: {error}")))?;
        SecretService::connect_with_existing(EncryptionType::Dh, connection).map_err(|error| {
            if is_absent(&error) {
                Connect::Absent(format!("no Secret Service on {bus}"))
            } else {
                Connect::Failed(error)
            }
        })
    }

    fn is_absent(error: &Error) -> bool {
        let fdo_absent = |error: &zbus::fdo::Error| {
            matches!(
                error,
                zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_)
            )
        };
        match error {
            Error::Unavailable => true,
            Error::Zbus(zbus::Error::MethodError(name, _, _)) => ABSENT.contains(&name.as_str()),
            Error::Zbus(zbus::Error::FDO(error)) => fdo_absent(error),
            Error::ZbusFdo(error) => fdo_absent(error),
            _ => false,
        }
    }

    /// `Ok` when a Secret Service answers on `bus`; otherwise why the file is used.
    /// A Secret Service that answers with an error is the store all the same: its error is
    /// then reported on use rather than hidden behind the file.
    pub fn probe(bus: &Bus) -> Result<(), String> {
        match connect(bus) {
            Ok(_) | Err(Connect::Failed(_)) => Ok(()),
            Err(Connect::Absent(why)) => Err(why),
        }
    }

    /// One operation on one secret: connects and turns every failure into a
    /// [`SecretError::Keyring`] that names the secret and the bus.
    struct Operation<'a> {
        bus: &'a Bus,
        secret: Secret,
        action: &'static str,
    }

    /// What was being done when the Secret Service failed, for the words of the error.
    #[derive(Clone, Copy)]
    enum Step {
        Call,
        Unlock,
        CreateCollection,
    }

    impl Operation<'_> {
        fn connect(&self) -> Result<SecretService<'static>, SecretError> {
            connect(self.bus).map_err(|error| match error {
                Connect::Absent(why) => self.error(why),
                Connect::Failed(error) => self.failed(Step::Call)(error),
            })
        }

        fn error(&self, reason: String) -> SecretError {
            SecretError::Keyring {
                action: self.action,
                key: self.secret.key(),
                bus: self.bus.to_string(),
                reason,
            }
        }

        fn failed(&self, step: Step) -> impl Fn(Error) -> SecretError + '_ {
            move |error| self.error(reason(&error, step))
        }
    }

    fn reason(error: &Error, step: Step) -> String {
        const FIX: &str = "unlock the keyring (log in to the desktop again, or open \
                           Passwords and Keys), or set REMOTE_SERVICE_SECRETS=file where no \
                           one can answer the keyring's prompts";
        match (error, step) {
            (Error::Prompt, Step::CreateCollection) => format!(
                "the keyring has no default collection and its prompt to create one was \
                 dismissed or could not be shown; create a default keyring, or set \
                 {SECRETS_ENV}=file where no one can answer the keyring's prompts"
            ),
            (Error::Prompt, _) => format!(
                "the keyring is locked and its unlock prompt was dismissed or could not be \
                 shown; {FIX}"
            ),
            (Error::Locked, _) => format!("the keyring is locked; {FIX}"),
            (Error::PromptDisconnected, _) => {
                "the keyring went away while its prompt was open".to_string()
            }
            (Error::Unavailable, _) => "no Secret Service answers".to_string(),
            (Error::NoResult, _) => "the keyring gave no answer".to_string(),
            (other, _) => other.to_string(),
        }
    }

    fn attributes(secret: Secret) -> HashMap<&'static str, &'static str> {
        HashMap::from([("application", APPLICATION), ("secret", secret.key())])
    }

    pub fn get(bus: &Bus, secret: Secret) -> Result<Option<Zeroizing<String>>, SecretError> {
        let operation = Operation {
            bus,
            secret,
            action: "read",
        };
        let service = operation.connect()?;
        let found = service
            .search_items(attributes(secret))
            .map_err(operation.failed(Step::Call))?;
        let item = match (found.unlocked.first(), found.locked.first()) {
            (Some(item), _) => item,
            (None, Some(item)) => {
                item.unlock().map_err(operation.failed(Step::Unlock))?;
                item
            }
            (None, None) => return Ok(None),
        };
        let bytes = Zeroizing::new(item.get_secret().map_err(operation.failed(Step::Call))?);
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text.to_string()))),
            Err(_) => Err(operation
                .error("the keyring's item is not UTF-8 text: set the secret again".to_string())),
        }
    }

    pub fn is_set(bus: &Bus, secret: Secret) -> Result<bool, SecretError> {
        let operation = Operation {
            bus,
            secret,
            action: "look up",
        };
        let service = operation.connect()?;
        // Searching tells locked items apart from unlocked ones without unlocking them.
        let found = service
            .search_items(attributes(secret))
            .map_err(operation.failed(Step::Call))?;
        Ok(!(found.unlocked.is_empty() && found.locked.is_empty()))
    }

    pub fn set(bus: &Bus, secret: Secret, value: &str) -> Result<(), SecretError> {
        let operation = Operation {
            bus,
            secret,
            action: "store",
        };
        let service = operation.connect()?;
        // As libsecret does: the default collection, made (with the keyring's own prompt
        // for a password) when there is none.
        let collection = match service.get_default_collection() {
            Ok(collection) => collection,
            Err(Error::NoResult) => service
                .create_collection("Login", "default")
                .map_err(operation.failed(Step::CreateCollection))?,
            Err(error) => return Err(operation.failed(Step::Call)(error)),
        };
        // Unlocking asks the keyring to prompt for its password when it is locked.
        if collection
            .is_locked()
            .map_err(operation.failed(Step::Call))?
        {
            collection
                .unlock()
                .map_err(operation.failed(Step::Unlock))?;
        }
        collection
            .create_item(
                &format!("Remote Service {}", secret.key()),
                attributes(secret),
                value.as_bytes(),
                true,
                "text/plain",
            )
            .map_err(operation.failed(Step::Call))?;
        Ok(())
    }

    pub fn delete(bus: &Bus, secret: Secret) -> Result<(), SecretError> {
        let operation = Operation {
            bus,
            secret,
            action: "remove",
        };
        let service = operation.connect()?;
        let found = service
            .search_items(attributes(secret))
            .map_err(operation.failed(Step::Call))?;
        if !found.locked.is_empty() {
            // One unlock (one prompt at most) for all of them.
            let locked: Vec<_> = found.locked.iter().collect();
            service
                .unlock_all(&locked)
                .map_err(operation.failed(Step::Unlock))?;
        }
        for item in found.unlocked.iter().chain(found.locked.iter()) {
            item.delete().map_err(operation.failed(Step::Call))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const VALUE: &str = "s3cret code 7f1c";

    /// Folders in a scratch folder; only `state_dir` matters to the store.
    fn scratch_paths(root: &Path) -> Paths {
        Paths {
            config_dir: root.join("config"),
            data_dir: root.join("data"),
            state_dir: root.join("state"),
            system_dir: root.join("etc"),
            plugin_dir: root.join("plugins"),
        }
    }

    fn file_store(root: &Path) -> SecretStore {
        SecretStore::open_with(&scratch_paths(root), Backend::File)
    }

    /// The value as a plain string, for comparing.
    fn read(store: &SecretStore, secret: Secret) -> Option<String> {
        store.get(secret).unwrap().map(|value| value.to_string())
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_file_backend_keeps_secrets_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        let folder = dir.path().join("state/secrets");
        assert_eq!(store.get(Secret::VerificationCode).unwrap(), None);
        assert!(!store.is_set(Secret::VerificationCode).unwrap());

        store.set(Secret::VerificationCode, VALUE).unwrap();
        assert_eq!(
            read(&store, Secret::VerificationCode).as_deref(),
            Some(VALUE)
        );
        assert!(store.is_set(Secret::VerificationCode).unwrap());
        assert_eq!(store.get(Secret::ProxyPassword).unwrap(), None);
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join("verification_code")), 0o600);
        assert_eq!(
            fs::read_to_string(folder.join("verification_code")).unwrap(),
            VALUE
        );
        // Nothing else in the folder: no temporary file left behind.
        assert_eq!(fs::read_dir(&folder).unwrap().count(), 1);

        store.set(Secret::VerificationCode, "other").unwrap();
        assert_eq!(
            read(&store, Secret::VerificationCode).as_deref(),
            Some("other")
        );
        assert_eq!(mode(&folder.join("verification_code")), 0o600);

        store.delete(Secret::VerificationCode).unwrap();
        store.delete(Secret::VerificationCode).unwrap();
        assert_eq!(store.get(Secret::VerificationCode).unwrap(), None);
        assert!(!store.is_set(Secret::VerificationCode).unwrap());

        let backend = store.backend();
        assert!(backend.contains("0600 file"), "{backend}");
        assert!(backend.contains(&folder.display().to_string()), "{backend}");
    }

    #[test]
    fn an_existing_folder_open_to_others_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("state/secrets");
        fs::create_dir_all(&folder).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
        file_store(dir.path())
            .set(Secret::ProxyPassword, VALUE)
            .unwrap();
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join("proxy_password")), 0o600);
    }

    #[test]
    fn errors_name_the_file_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        let folder = dir.path().join("state/secrets");
        // A folder where the file should be: reading and writing fail.
        fs::create_dir_all(folder.join("verification_code")).unwrap();
        let read = store.get(Secret::VerificationCode).unwrap_err();
        let written = store.set(Secret::VerificationCode, VALUE).unwrap_err();
        for error in [read, written] {
            let shown = format!("{error} {error:?}");
            assert!(shown.contains("verification_code"), "{shown}");
            assert!(!shown.contains(VALUE), "{shown}");
        }

        fs::write(folder.join("proxy_password"), [0xff, 0xfe, b'x']).unwrap();
        let error = store.get(Secret::ProxyPassword).unwrap_err().to_string();
        assert!(error.contains("proxy_password"), "{error}");
        assert!(error.contains("not UTF-8"), "{error}");
    }

    #[test]
    fn a_value_read_back_does_not_show_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(dir.path());
        store.set(Secret::ProxyPassword, VALUE).unwrap();
        let value = store.get(Secret::ProxyPassword);
        let shown = format!("{value:?} {store:?}");
        assert!(!shown.contains(VALUE), "{shown}");
    }

    #[test]
    fn no_bus_means_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("no-bus-here");
        let address = format!("unix:path={}", socket.display());
        let store =
            SecretStore::open_with(&scratch_paths(dir.path()), Backend::BusAddress(address));
        let backend = store.backend();
        assert!(backend.contains("0600 file"), "{backend}");
        assert!(
            backend.contains("cannot reach the bus unix:path="),
            "{backend}"
        );
        store.set(Secret::VerificationCode, VALUE).unwrap();
        assert!(dir.path().join("state/secrets/verification_code").exists());
    }

    #[test]
    fn the_environment_variable_chooses() {
        fn check(value: &str, expect: Result<Backend, String>) {
            assert_eq!(backend_from_env(value), expect, "{SECRETS_ENV}={value:?}");
        }
        check("", Ok(Backend::SessionBus));
        check("file", Ok(Backend::File));
        check("keyring", Err("keyring".to_string()));
        check("FILE", Err("FILE".to_string()));

        let store = SecretStore {
            store: Store::UnknownChoice {
                value: "keyring".to_string(),
            },
        };
        let error = store.set(Secret::VerificationCode, VALUE).unwrap_err();
        assert_eq!(
            error.to_string(),
            "REMOTE_SERVICE_SECRETS=\"keyring\" is not understood: set it to \"file\" or \
             leave it unset"
        );
        assert!(store.backend().contains("not understood"));
    }

    #[test]
    fn secrets_by_name() {
        fn check(key: &str, expect: Option<Secret>) {
            assert_eq!(Secret::from_key(key), expect, "{key}");
            if let Some(secret) = expect {
                assert_eq!(secret.key(), key);
            }
        }
        check("verification_code", Some(Secret::VerificationCode));
        check("proxy_password", Some(Secret::ProxyPassword));
        check("password", None);
        check("Verification_Code", None);
    }
}
