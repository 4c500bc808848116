//! The TeamViewer stand-in (`tests/teamviewer/teamviewer`, whose header says what it
//! reproduces and from where): a state folder of the test's own, the PATH that finds the
//! stand-in first, its switches, and what it recorded (its daemon's state, every
//! invocation, the processes that hung).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Run;

/// The ID the stand-in's global.conf holds unless a test says otherwise.
pub const DEFAULT_ID: &str = "1234567890";

/// The folder that holds the stand-in, named `teamviewer`.
pub fn standin_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("teamviewer")
}

/// A PATH with the stand-in's folder first, then the test's own PATH.
pub fn path_with_standin() -> OsString {
    let mut folders = vec![standin_folder()];
    if let Some(path) = std::env::var_os("PATH") {
        folders.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(folders).expect("a PATH")
}

/// One stand-in installation: its state folder, removed (and any hung stand-in ended)
/// when dropped.
pub struct StandIn {
    state: tempfile::TempDir,
}

impl StandIn {
    /// A stand-in whose daemon is disabled and stopped and whose global.conf holds
    /// `DEFAULT_ID`, in the 15.x form.
    pub fn new() -> StandIn {
        let state = tempfile::Builder::new()
            .prefix("teamviewer-standin-")
            .tempdir()
            .expect("the stand-in's state folder");
        let standin = StandIn { state };
        standin.set_client_id(Some(DEFAULT_ID));
        standin
    }

    /// The state folder (`TEAMVIEWER_STANDIN_STATE`).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The stand-in program.
    pub fn program(&self) -> PathBuf {
        standin_folder().join("teamviewer")
    }

    /// Gives `command` the stand-in: PATH with it first and its state folder.
    pub fn apply_env(&self, command: &mut Command) {
        command
            .env("PATH", path_with_standin())
            .env("TEAMVIEWER_STANDIN_STATE", self.state_dir());
    }

    /// Gives `command` the state folder only: `teamviewer` is not on its PATH.
    pub fn apply_state_only(&self, command: &mut Command) {
        command.env("TEAMVIEWER_STANDIN_STATE", self.state_dir());
    }

    /// Runs the stand-in itself with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(self.program());
        command.args(args);
        self.apply_env(&mut command);
        command.output().expect("run the stand-in").into()
    }

    fn switch(&self, name: &str, on: bool, content: &str) {
        let path = self.state_dir().join(name);
        if on {
            fs::write(&path, content).unwrap_or_else(|error| panic!("write {name}: {error}"));
        } else if path.exists() {
            fs::remove_file(&path).unwrap_or_else(|error| panic!("remove {name}: {error}"));
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.state_dir().join(name).exists()
    }

    /// Sets the daemon's state: enabled (starts with the system) and running.
    pub fn set_daemon(&self, enabled: bool, running: bool) {
        self.switch("daemon-enabled", enabled, "");
        self.switch("daemon-running", running, "");
    }

    /// Whether the daemon is enabled now.
    pub fn daemon_enabled(&self) -> bool {
        self.flag("daemon-enabled")
    }

    /// Whether the daemon runs now.
    pub fn daemon_running(&self) -> bool {
        self.flag("daemon-running")
    }

    /// The 13.x/14.x form (`true`) or the 15.x form.
    pub fn set_form_14(&self, on: bool) {
        self.switch("form", on, "14\n");
    }

    /// The version and package type the tool shows ("15.48.4  (DEB)"); `None`: the form's.
    pub fn set_version(&self, version: Option<&str>) {
        self.switch("version", version.is_some(), version.unwrap_or_default());
    }

    /// `daemon start` fails as when the unit cannot start.
    pub fn set_daemon_fails(&self, on: bool) {
        self.switch("daemon-fails", on, "");
    }

    /// global.conf cannot be read by the tool: blank ID and the hint.
    pub fn set_no_id(&self, on: bool) {
        self.switch("no-id", on, "");
    }

    /// The tool hangs: on every invocation (`Some("")`), on the one invocation named
    /// (`Some("daemon start")`), or not at all (`None`).
    pub fn set_hang(&self, invocation: Option<&str>) {
        self.switch("hang", invocation.is_some(), invocation.unwrap_or_default());
    }

    /// The stand-in's global.conf (what `teamviewer info` reads the ID from).
    pub fn global_conf(&self) -> PathBuf {
        self.state_dir().join("global.conf")
    }

    /// Writes global.conf with `id` as its ClientID, or without a ClientID.
    pub fn set_client_id(&self, id: Option<&str>) {
        let mut text = String::from(
            "TeamViewer Global Settings\n\n[int32] EulaAccepted = 1\n[int32] EulaAcceptedRevision = 6\n",
        );
        if let Some(id) = id {
            text.push_str(&format!("[int32] ClientID = {id}\n"));
        }
        fs::write(self.global_conf(), text).expect("write the stand-in's global.conf");
    }

    /// Every invocation's arguments since the last `clear_invocations`, one per entry.
    pub fn invocations(&self) -> Vec<String> {
        fs::read_to_string(self.state_dir().join("invocations"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Forgets the invocations so far.
    pub fn clear_invocations(&self) {
        let _ = fs::remove_file(self.state_dir().join("invocations"));
    }

    /// The process ids of the invocations that hung.
    pub fn hung_pids(&self) -> Vec<u32> {
        fs::read_to_string(self.state_dir().join("hung-pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }
}

impl Default for StandIn {
    fn default() -> Self {
        StandIn::new()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // A hung stand-in the bridge did not end (the test failed first) is the test's own
        // process: end it, pass or fail. Only a process that is still the stand-in's
        // sleep is ended, never a process that took its id since.
        for pid in self.hung_pids() {
            if hung_standin_lives(pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Whether `pid` is still a hung stand-in (its `sleep`), not ended and not a zombie.
pub fn hung_standin_lives(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    let command = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !zombie && command.starts_with(b"sleep\0")
}
