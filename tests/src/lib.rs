//! End-to-end test support: runs the real `remote-service` binary with real plugin files
//! and real signed licences in a scratch folder.
//!
//! The binaries and plugin libraries must be built first (`cargo build --workspace`, which
//! `tests/run` does); the harness finds them next to the test executable.

pub mod assistance;
pub mod backoffice;
pub mod browser;
pub mod debian;
pub mod desktop;
pub mod keyring;
pub mod licence_kit;
pub mod measure;
pub mod proxy;
pub mod teamviewer;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use licence_kit::{KeyFiles, PayloadBuilder};

/// The folder cargo put the binaries and plugin libraries in (`target/debug`), found from
/// the test executable (`target/debug/deps/<test>`), so that `CARGO_TARGET_DIR` is honoured.
pub fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let deps = exe.parent().expect("test executable folder");
    deps.parent().expect("target profile folder").to_path_buf()
}

/// An artifact of the workspace build, with a clear message when it was not built.
pub fn artifact(file_name: &str) -> PathBuf {
    let path = artifact_dir().join(file_name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (tests/run does)",
        path.display()
    );
    path
}

/// `tests/output/NAME`: pictures the tests leave for a person to look at (tray icons,
/// pages); the folder is made when missing.
pub fn output_path(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("output");
    fs::create_dir_all(&folder).expect("create tests/output");
    folder.join(name)
}

/// The file name of a cdylib called `name` on this platform.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The three plugins the product ships, by their library names.
pub const REAL_PLUGINS: [&str; 3] = [
    "remote_service_plugin_licence_updater",
    "remote_service_plugin_proxy_detector",
    "remote_service_plugin_teamviewer_bridge",
];

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts exit code 0 and returns standard output.
    pub fn success(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "expected success:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", self.stdout))
    }
}

/// A scratch installation: its own home, XDG folders, plugin folder and system folder.
pub struct Scratch {
    root: tempfile::TempDir,
    /// The plugin folder (`REMOTE_SERVICE_PLUGIN_DIR`), with the three real plugins.
    pub plugin_dir: PathBuf,
    /// The system configuration folder (`REMOTE_SERVICE_SYSTEM_DIR`) with trusted keys.
    pub system_dir: PathBuf,
    /// Where the test keeps its signing keys (never trusted unless copied to system_dir).
    pub keys_dir: PathBuf,
}

impl Scratch {
    /// A new scratch installation with the three real plugins.
    pub fn new() -> Scratch {
        let root = tempfile::Builder::new()
            .prefix("remote-service-test-")
            .tempdir()
            .expect("scratch folder");
        let plugin_dir = root.path().join("plugins");
        let system_dir = root.path().join("etc");
        let keys_dir = root.path().join("keys");
        let runtime_dir = root.path().join("run");
        for dir in [&plugin_dir, &system_dir, &keys_dir] {
            fs::create_dir_all(dir).unwrap();
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::create_dir_all(&runtime_dir).unwrap();
        fs::set_permissions(&runtime_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let scratch = Scratch {
            root,
            plugin_dir,
            system_dir,
            keys_dir,
        };
        for plugin in REAL_PLUGINS {
            let name = library_file_name(plugin);
            scratch.add_plugin_file(&artifact(&name), &name);
        }
        scratch
    }

    /// The scratch root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The per-user configuration folder.
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config/remote-service")
    }

    /// The default `DroppedLicense` folder.
    pub fn licence_folder(&self) -> PathBuf {
        self.root().join("data/remote-service/DroppedLicense")
    }

    /// The per-user runtime folder (`XDG_RUNTIME_DIR`).
    pub fn runtime_dir(&self) -> PathBuf {
        self.root().join("run")
    }

    /// The local API socket of the per-user engine.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("remote-service/api.sock")
    }

    /// Starts `remote-service daemon` and waits until it listens.
    pub fn start_daemon(&self) -> Daemon {
        Scratch::spawn_daemon(self.command(&["daemon"]))
    }

    /// Starts `command` (a `remote-service daemon` command line) and waits until it listens.
    pub fn spawn_daemon(mut command: Command) -> Daemon {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start remote-service daemon");
        let stderr = child.stderr.take().expect("daemon stderr");
        let (ready_sender, ready) = std::sync::mpsc::channel();
        // Reads its standard error to the end, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !told && line.contains("engine ready on") {
                    let _ = ready_sender.send(());
                    told = true;
                }
            }
        });
        let daemon = Daemon { child };
        // Generous, but an engine that hangs while it starts fails the test instead of
        // holding it for ever (the daemon is killed when `daemon` drops).
        assert!(
            ready.recv_timeout(Duration::from_secs(60)).is_ok(),
            "the daemon did not get ready within 60 s"
        );
        daemon
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.root().join("state/remote-service/remote-service.log")
    }

    /// Copies `source` into the plugin folder as `file_name`, mode 0755.
    pub fn add_plugin_file(&self, source: &Path, file_name: &str) -> PathBuf {
        let target = self.plugin_dir.join(file_name);
        fs::copy(source, &target)
            .unwrap_or_else(|error| panic!("copy {}: {error}", source.display()));
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        target
    }

    /// Puts a test fixture library (`fixture_misbehaving_plugin`) into the plugin folder
    /// under the plugin name `remote_service_plugin_<as_name>`.
    pub fn add_fixture_plugin(&self, fixture: &str, as_name: &str) -> PathBuf {
        self.add_plugin_file(
            &artifact(&library_file_name(fixture)),
            &library_file_name(&format!("remote_service_plugin_{as_name}")),
        )
    }

    /// Writes the engine's settings file.
    pub fn write_settings(&self, toml: &str) {
        fs::create_dir_all(self.config_dir()).unwrap();
        fs::write(self.config_dir().join("settings.toml"), toml).unwrap();
    }

    /// Writes a plugin's own settings.
    pub fn write_plugin_settings(&self, plugin_id: &str, json: &str) {
        let dir = self.config_dir().join("plugins");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("{plugin_id}.json")), json).unwrap();
    }

    /// Makes a signing key pair and trusts it (its `.pub` goes into the system folder).
    pub fn trusted_key(&self, name: &str) -> KeyFiles {
        let key = licence_kit::generate_key(&self.keys_dir, name).expect("key pair");
        fs::copy(&key.public, self.system_dir.join(format!("{name}.pub"))).unwrap();
        key
    }

    /// Makes a signing key pair that is not trusted.
    pub fn untrusted_key(&self, name: &str) -> KeyFiles {
        licence_kit::generate_key(&self.keys_dir, name).expect("key pair")
    }

    /// Signs `payload` with `key` and writes the licence file into the scratch root as
    /// `file_name`; returns its path.
    pub fn licence_file(
        &self,
        key: &KeyFiles,
        payload: &PayloadBuilder,
        file_name: &str,
    ) -> PathBuf {
        let text =
            licence_kit::sign_licence(&key.secret, &payload.to_json()).expect("signed licence");
        let path = self.root().join(file_name);
        fs::write(&path, text).unwrap();
        path
    }

    /// The binary, with this installation's environment and nothing of the caller's
    /// Remote Service settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(artifact("remote-service"));
        command
            .args(args)
            .env_remove("REMOTE_SERVICE_LOG")
            .env_remove("REMOTE_SERVICE_SOCKET")
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env("HOME", self.root().join("home"))
            .env("XDG_CONFIG_HOME", self.root().join("config"))
            .env("XDG_DATA_HOME", self.root().join("data"))
            .env("XDG_STATE_HOME", self.root().join("state"))
            .env("REMOTE_SERVICE_PLUGIN_DIR", &self.plugin_dir)
            .env("REMOTE_SERVICE_SYSTEM_DIR", &self.system_dir);
        command
    }

    /// `remote-service tray` in this installation, on `desktop`. It keeps this
    /// installation's runtime folder, so that the command line of the test finds the engine
    /// the tray starts.
    pub fn tray_command(&self, desktop: &desktop::Desktop) -> Command {
        let mut command = self.command(&["tray"]);
        desktop.apply_env(&mut command);
        command.env("XDG_RUNTIME_DIR", self.runtime_dir());
        command
    }

    /// `curl -X METHOD --unix-socket` to the per-user engine's local API, as a user would:
    /// the answer's body and HTTP status code. `body`, when given, is sent as JSON.
    pub fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (String, String) {
        curl_socket(Command::new("curl"), &self.socket(), method, path, body)
    }

    /// Runs the binary to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args)
            .output()
            .expect("run remote-service")
            .into()
    }
}

/// The engine's event stream read with `curl -N --unix-socket`, as a user would; one JSON
/// value per event, with the time it arrived. Stops curl when dropped.
pub struct EventStream {
    /// Ended when the stream is dropped.
    _curl: KillOnDrop,
    events: std::sync::mpsc::Receiver<(std::time::Instant, serde_json::Value)>,
    /// The stream's first event (the status when it started), until it is read.
    first: std::cell::RefCell<Option<(std::time::Instant, serde_json::Value)>>,
}

impl EventStream {
    /// Follows the events of the engine on `socket`; returns once the stream has started
    /// (its first event, the status then, has arrived), so nothing after this is missed.
    pub fn follow(socket: &Path) -> EventStream {
        let mut curl = KillOnDrop(
            Command::new("curl")
                .args(["-sN", "--unix-socket"])
                .arg(socket)
                .arg("http://localhost/v1/events")
                .stdout(Stdio::piped())
                .spawn()
                .expect("curl (Debian package curl)"),
        );
        let stdout = curl.stdout.take().expect("curl's output");
        let (sender, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(data) = line.strip_prefix("data: ") {
                    let event = serde_json::from_str(data).expect("a JSON event");
                    if sender.send((std::time::Instant::now(), event)).is_err() {
                        break;
                    }
                }
            }
        });
        let first = events
            .recv_timeout(Duration::from_secs(30))
            .expect("the event stream did not start within 30 s");
        EventStream {
            _curl: curl,
            events,
            first: std::cell::RefCell::new(Some(first)),
        }
    }

    /// The next event, or a panic naming `what` after `timeout`.
    pub fn next(&self, timeout: Duration, what: &str) -> serde_json::Value {
        self.next_timed(timeout, what).1
    }

    /// The first event for which `wanted` holds, skipping the others, and when it arrived;
    /// a panic naming `what` when none comes within `limit` in all.
    pub fn next_matching(
        &self,
        limit: Duration,
        what: &str,
        mut wanted: impl FnMut(&serde_json::Value) -> bool,
    ) -> (std::time::Instant, serde_json::Value) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, event) = self.next_timed(left, what);
            if wanted(&event) {
                return (at, event);
            }
        }
    }

    /// The next event within `timeout`, if one comes.
    pub fn try_next(&self, timeout: Duration) -> Option<serde_json::Value> {
        if let Some((_, event)) = self.first.borrow_mut().take() {
            return Some(event);
        }
        self.events
            .recv_timeout(timeout)
            .ok()
            .map(|(_, event)| event)
    }

    /// The next event and when it arrived.
    pub fn next_timed(
        &self,
        timeout: Duration,
        what: &str,
    ) -> (std::time::Instant, serde_json::Value) {
        if let Some(first) = self.first.borrow_mut().take() {
            return first;
        }
        self.events
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no event within {timeout:?}: {what}"))
    }
}

/// A child process the test started, killed (and reaped) when dropped, pass or fail.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl KillOnDrop {
    /// The child, no longer killed when this is dropped (it is someone else's to end).
    pub fn defuse(self) -> Child {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the child is moved out exactly once.
        unsafe { std::ptr::read(&this.0) }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `remote-service daemon`; killed when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks it to stop with SIGTERM and returns its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        exit_of(
            &mut self.child,
            Duration::from_secs(30),
            "the daemon (SIGTERM)",
        )
        .code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// Runs `command` (a `config set-secret NAME` command line) with `value` on standard input.
pub fn set_secret(mut command: Command, value: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start remote-service config set-secret");
    writeln!(child.stdin.take().unwrap(), "{value}").unwrap();
    child.wait_with_output().unwrap().into()
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns the time it
/// took, or `None`.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// `curl` (the command given: as another user, say) sending `METHOD path` to the local API
/// on `socket`: the answer's body and HTTP status code. `body`, when given, is sent as JSON.
pub fn curl_socket(
    mut curl: Command,
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (String, String) {
    curl.args(["-s", "-X", method, "-w", "\n%{http_code}", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://localhost{path}"));
    if let Some(body) = body {
        curl.args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let output = curl.output().expect("curl (Debian package curl)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("a status code line");
    (body.to_string(), code.to_string())
}

/// A loopback port for a server that is stopped and started again on the same port (the
/// back office after a kill): below the kernel's ephemeral range, so that no client
/// connection (which the kernel gives a port from that range) can hold it while the server
/// is down, and free when chosen.
pub fn restartable_port() -> u16 {
    let ephemeral = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = u64::from(ephemeral.saturating_sub(10_000).max(1));
    loop {
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.finish()
        };
        let port = 10_000 + (random % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `pid` and every process below it (its children, theirs, …), as `/proc` lists them: the
/// processes a test started, rather than every process of the machine.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let tasks = fs::read_dir(format!("/proc/{}/task", tree[index]));
        for task in tasks.into_iter().flatten().flatten() {
            if let Ok(children) = fs::read_to_string(task.path().join("children")) {
                tree.extend(
                    children
                        .split_whitespace()
                        .filter_map(|child| child.parse::<u32>().ok()),
                );
            }
        }
        index += 1;
    }
    tree
}

/// Waits at most `limit` for `child` to end and returns how it ended; fails the test with
/// `what` if it does not (the caller's guard then kills it).
pub fn exit_of(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let mut status = None;
    wait_for(limit, || {
        status = child.try_wait().expect("the child's state");
        status.is_some()
    });
    status.unwrap_or_else(|| panic!("{what} did not end within {limit:?}"))
}

/// The effective user id of the test process (root: 0).
pub fn effective_uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .expect("the effective uid in /proc/self/status")
}
