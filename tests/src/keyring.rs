//! A real Secret Service for a test: GNOME Keyring's daemon (Debian package
//! `gnome-keyring`), started unlocked in the test desktop's own D-Bus session, with its
//! keyring files in a scratch folder.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::desktop::Desktop;

/// The keyring's unlock password (a test value).
const PASSWORD: &str = "test-keyring-password";

/// A running gnome-keyring-daemon; stopped when dropped.
pub struct Keyring {
    daemon: Child,
    bus_address: String,
    home: tempfile::TempDir,
}

impl Keyring {
    /// Starts the daemon on `desktop`'s bus and waits until it owns
    /// `org.freedesktop.secrets`.
    pub fn start(desktop: &Desktop) -> Keyring {
        let home = tempfile::Builder::new()
            .prefix("remote-service-keyring-")
            .tempdir()
            .expect("scratch folder for the keyring");
        let runtime = home.path().join("run");
        fs::create_dir_all(&runtime).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", desktop.bus_address())
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon (Debian package gnome-keyring)");
        {
            let mut stdin = daemon.stdin.take().unwrap();
            stdin.write_all(PASSWORD.as_bytes()).unwrap();
        }
        let keyring = Keyring {
            daemon,
            bus_address: desktop.bus_address().to_string(),
            home,
        };
        let owned = crate::wait_for(Duration::from_secs(10), || keyring.answers());
        assert!(
            owned.is_some(),
            "gnome-keyring-daemon did not take org.freedesktop.secrets"
        );
        keyring
    }

    fn answers(&self) -> bool {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).contains("boolean true"))
            .unwrap_or(false)
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

    /// The folder of the keyring's own files (encrypted).
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
