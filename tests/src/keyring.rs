//! A real Secret Service for a test: GNOME Keyring's daemon (Debian package
//! `gnome-keyring`) in the test desktop's own D-Bus session, with its keyring files in a
//! scratch folder of its own ([`Keyring::files`]).
//!
//! ```no_run
//! use remote_service_tests::desktop::Desktop;
//! use remote_service_tests::keyring::{files_containing, Keyring};
//!
//! let desktop = Desktop::start_without_tray();
//! let keyring = Keyring::start(&desktop); // unlocked "login" collection, the default
//! // … give the program under test `desktop.apply_env(&mut command)` or
//! // `keyring.bus_address()`, let it store "code-1" …
//! assert_eq!(keyring.lookup("verification_code").as_deref(), Some("code-1"));
//! assert!(keyring.items().iter().any(|item| item.secret.as_deref() == Some("code-1")));
//! assert!(files_containing(&keyring.files(), "code-1").is_empty(), "encrypted on disk");
//! ```
//!
//! The desktop's bus has no service folders, so nothing can show a prompt: gnome-keyring
//! dismisses every prompt at once (unlocking a [`Keyring::lock`]ed collection, creating a
//! default collection in [`Keyring::start_without_login_keyring`]). That is what a
//! headless session gets, and what the tests of those cases rely on.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zbus::blocking::fdo::DBusProxy;
use zbus::blocking::{Connection, Proxy};
use zbus::names::BusName;
use zbus::zvariant::{OwnedObjectPath, Value};

use crate::desktop::Desktop;

/// The keyring's unlock password (a test value).
const PASSWORD: &str = "test-keyring-password";

const SECRETS: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE: &str = "org.freedesktop.Secret.Service";
const COLLECTION: &str = "org.freedesktop.Secret.Collection";
const ITEM: &str = "org.freedesktop.Secret.Item";

/// A running gnome-keyring-daemon; stopped when dropped.
pub struct Keyring {
    daemon: Child,
    bus_address: String,
    connection: Connection,
    home: tempfile::TempDir,
}

/// One item of the keyring, as any program on the session bus sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringItem {
    /// The object path of its collection (`/org/freedesktop/secrets/collection/login`).
    pub collection: String,
    /// Its label.
    pub label: String,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Its secret as text; `None` while its collection is locked.
    pub secret: Option<String>,
}

impl Keyring {
    /// Starts the daemon on `desktop`'s bus with a `login` collection unlocked by the
    /// password on its standard input (what a desktop login does) as the default
    /// collection, and waits until it owns `org.freedesktop.secrets`.
    pub fn start(desktop: &Desktop) -> Keyring {
        Keyring::spawn(desktop, true)
    }

    /// The daemon without a login keyring: the Secret Service answers, but there is no
    /// default collection, and making one needs a prompt.
    pub fn start_without_login_keyring(desktop: &Desktop) -> Keyring {
        Keyring::spawn(desktop, false)
    }

    fn spawn(desktop: &Desktop, login: bool) -> Keyring {
        let home = tempfile::Builder::new()
            .prefix("remote-service-keyring-")
            .tempdir()
            .expect("scratch folder for the keyring");
        let runtime = home.path().join("run");
        fs::create_dir_all(&runtime).unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
        let log = home.path().join("gnome-keyring-daemon.log");
        let mut command = Command::new("gnome-keyring-daemon");
        command.args(["--foreground", "--components=secrets"]);
        if login {
            command.arg("--unlock");
        }
        let mut daemon = command
            .env("DBUS_SESSION_BUS_ADDRESS", desktop.bus_address())
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("keyring log"))
            .spawn()
            .expect("start gnome-keyring-daemon (Debian package gnome-keyring)");
        {
            // --unlock reads the password up to the end of its input.
            let mut stdin = daemon.stdin.take().unwrap();
            if login {
                stdin.write_all(PASSWORD.as_bytes()).unwrap();
            }
        }
        let connection = zbus::blocking::connection::Builder::address(desktop.bus_address())
            .and_then(|builder| builder.build())
            .expect("connect to the desktop's bus");
        let keyring = Keyring {
            daemon,
            bus_address: desktop.bus_address().to_string(),
            connection,
            home,
        };
        let owned = crate::wait_for(Duration::from_secs(10), || keyring.answers());
        assert!(
            owned.is_some(),
            "gnome-keyring-daemon did not take {SECRETS}; its log:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        if login {
            // The login keyring exists once --unlock has been read; until then the
            // default alias points nowhere.
            let ready = crate::wait_for(Duration::from_secs(10), || {
                keyring.default_collection().is_some()
            });
            assert!(ready.is_some(), "gnome-keyring made no login keyring");
        }
        keyring
    }

    fn answers(&self) -> bool {
        let name = BusName::try_from(SECRETS).unwrap();
        DBusProxy::new(&self.connection).is_ok_and(|bus| bus.name_has_owner(name).unwrap_or(false))
    }

    fn service(&self) -> Proxy<'_> {
        Proxy::new(&self.connection, SECRETS, SERVICE_PATH, SERVICE).expect("Secret Service")
    }

    fn default_collection(&self) -> Option<OwnedObjectPath> {
        let (path,): (OwnedObjectPath,) = self.service().call("ReadAlias", &("default",)).ok()?;
        (path.as_str() != "/").then_some(path)
    }

    /// The address of the session bus the keyring is on (the desktop's).
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// The secret stored for Remote Service's `key`, read with `secret-tool` (Debian
    /// package `libsecret-tools`) as another program would.
    pub fn lookup(&self, key: &str) -> Option<String> {
        let output = Command::new("secret-tool")
            .args(["lookup", "application", "remote-service", "secret", key])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .output()
            .expect("secret-tool (Debian package libsecret-tools)");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Every item of every collection, with its secret where its collection is unlocked;
    /// read over D-Bus with the Secret Service's plain session (this bus is the test's).
    pub fn items(&self) -> Vec<KeyringItem> {
        let service = self.service();
        let (_, session): (zbus::zvariant::OwnedValue, OwnedObjectPath) = service
            .call("OpenSession", &("plain", Value::from("")))
            .expect("OpenSession");
        let collections: Vec<OwnedObjectPath> =
            service.get_property("Collections").expect("Collections");
        let mut items = Vec::new();
        for collection_path in collections {
            let collection = Proxy::new(
                &self.connection,
                SECRETS,
                collection_path.as_str(),
                COLLECTION,
            )
            .expect("collection");
            let locked: bool = collection.get_property("Locked").expect("Locked");
            let paths: Vec<OwnedObjectPath> = collection.get_property("Items").expect("Items");
            let mut secrets: HashMap<OwnedObjectPath, (OwnedObjectPath, Vec<u8>, Vec<u8>, String)> =
                HashMap::new();
            if !locked && !paths.is_empty() {
                (secrets,) = service
                    .call("GetSecrets", &(&paths, &session))
                    .expect("GetSecrets");
            }
            for path in paths {
                let item =
                    Proxy::new(&self.connection, SECRETS, path.as_str(), ITEM).expect("item");
                items.push(KeyringItem {
                    collection: collection_path.to_string(),
                    label: item.get_property("Label").expect("Label"),
                    attributes: item
                        .get_property::<HashMap<String, String>>("Attributes")
                        .expect("Attributes")
                        .into_iter()
                        .collect(),
                    secret: secrets
                        .get(&path)
                        .map(|(_, _, value, _)| String::from_utf8_lossy(value).into_owned()),
                });
            }
        }
        let _ = Proxy::new(
            &self.connection,
            SECRETS,
            session.as_str(),
            "org.freedesktop.Secret.Session",
        )
        .and_then(|session| session.call_method("Close", &()));
        items
    }

    /// The items Remote Service stored (attribute `application=remote-service`).
    pub fn remote_service_items(&self) -> Vec<KeyringItem> {
        self.items()
            .into_iter()
            .filter(|item| {
                item.attributes.get("application").map(String::as_str) == Some("remote-service")
            })
            .collect()
    }

    /// Locks every collection, as the screen locker or "Lock" in Passwords and Keys does.
    /// Nothing here can unlock them again: the prompt cannot be shown.
    pub fn lock(&self) {
        let service = self.service();
        let collections: Vec<OwnedObjectPath> =
            service.get_property("Collections").expect("Collections");
        let (locked, _prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) =
            service.call("Lock", &(&collections,)).expect("Lock");
        assert_eq!(locked.len(), collections.len(), "every collection locked");
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.id()
    }

    /// Stops the daemon where it is (`SIGSTOP`): it answers nothing until
    /// [`Keyring::resume`], as a keyring waiting on its unlock prompt or a hung one does.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`Keyring::pause`]d daemon go on.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(signal)
            .arg(self.daemon.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} gnome-keyring-daemon");
    }

    /// The folder of the keyring's own files (its encrypted keyrings, its log).
    pub fn files(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() => {
                    if let Ok(bytes) = fs::read(&path) {
                        if bytes
                            .windows(needle.len())
                            .any(|window| window == needle.as_bytes())
                        {
                            found.push(path);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    found
}
