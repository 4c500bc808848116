//! The three commands of `remote_service_plugin_api::assistance`, driving the `teamviewer`
//! tool: CHECK (what is there), START (the daemon enabled and running, the ID), STOP (undo
//! what START did). The host keeps the rules; this only drives TeamViewer.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use remote_service_plugin_api::assistance::{
    errors, Check, ManualProxy, StartRequest, Started, StopRequest, Stopped,
};
use remote_service_plugin_api::PluginError;
use serde::Deserialize;

use crate::parse::{self, DaemonStatus};
use crate::tool::{Missing, Ran, RunError, Tool};

/// Where TeamViewer keeps its ID when the settings name no `global_conf`: the file
/// `teamviewer info` reads (its error words name it) and the link the package makes to it.
const GLOBAL_CONF: [&str; 2] = [
    "/opt/teamviewer/config/global.conf",
    "/etc/teamviewer/global.conf",
];
/// A global.conf is a few kilobytes; more is not one.
const GLOBAL_CONF_CAP: u64 = 1 << 20;
/// How often START reads the ID of a daemon it has just started, and the pause between.
const ID_ATTEMPTS: u32 = 5;
const ID_PAUSE: Duration = Duration::from_secs(1);
/// What to do when TeamViewer is missing.
const INSTALL: &str = "install TeamViewer 15 from teamviewer.com";

/// The plugin's own settings (`plugins/teamviewer-bridge.json`); every field may be left
/// out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The `teamviewer` program: a name looked for on the engine's PATH, or a path.
    pub program: Option<PathBuf>,
    /// The time limit of each invocation of the tool, in seconds (1 to 600).
    pub time_limit_s: Option<u64>,
    /// The global.conf to read the ID from when `teamviewer info` shows none.
    pub global_conf: Option<PathBuf>,
}

impl Settings {
    const DEFAULT_PROGRAM: &'static str = "teamviewer";
    const DEFAULT_TIME_LIMIT_S: u64 = 15;

    fn time_limit(&self) -> Result<Duration, PluginError> {
        match self.time_limit_s.unwrap_or(Self::DEFAULT_TIME_LIMIT_S) {
            seconds @ 1..=600 => Ok(Duration::from_secs(seconds)),
            other => Err(PluginError::new(
                "settings",
                format!("the setting time_limit_s must be 1 to 600 seconds, not {other}"),
            )),
        }
    }

    fn global_confs(&self) -> Vec<PathBuf> {
        match &self.global_conf {
            Some(path) => vec![path.clone()],
            None => GLOBAL_CONF.iter().map(PathBuf::from).collect(),
        }
    }
}

/// One run of a command: the settings of that moment and the plugin's stop flag.
pub struct Bridge {
    settings: Settings,
    stopping: Arc<AtomicBool>,
}

/// What CHECK found, for the status line as well as the answer.
pub enum Found {
    /// No program: the answer says so (and the status is "unavailable").
    NotInstalled(Check),
    /// The program is there.
    Installed(Check),
}

impl Bridge {
    /// A bridge with `settings`, ending invocations when `stopping` is set.
    pub fn new(settings: Settings, stopping: Arc<AtomicBool>) -> Bridge {
        Bridge { settings, stopping }
    }

    fn tool(&self) -> Result<Tool, PluginError> {
        let program = self
            .settings
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(Settings::DEFAULT_PROGRAM));
        let limit = self.settings.time_limit()?;
        Tool::find(&program, limit, self.stopping.clone())
            .map_err(|missing| PluginError::new(errors::NOT_INSTALLED, not_installed(&missing)))
    }

    /// Whether the program can be found at all (no process is started).
    pub fn installed(&self) -> Result<(), PluginError> {
        self.tool().map(|_| ())
    }

    /// CHECK: what is installed, whether the daemon runs, the ID; changes nothing.
    pub fn check(&self) -> Result<Found, PluginError> {
        let tool = match self.tool() {
            Ok(tool) => tool,
            Err(error) if error.code.as_str() == errors::NOT_INSTALLED => {
                return Ok(Found::NotInstalled(Check {
                    installed: false,
                    version: None,
                    daemon_running: false,
                    id: None,
                    detail: error.message.to_string(),
                }));
            }
            Err(error) => return Err(error),
        };
        let daemon = daemon_state(&tool)?;
        let (info, id) = self.read_id(&tool)?;
        let version = info.version.clone();
        let mut detail = format!(
            "TeamViewer {}, daemon {}",
            version.as_deref().unwrap_or("(version unknown)"),
            if daemon.running { "running" } else { "stopped" }
        );
        match &id {
            Some(id) => detail.push_str(&format!(", ID {id}")),
            None if daemon.running => detail.push_str(", no ID yet"),
            None => {}
        }
        Ok(Found::Installed(Check {
            installed: true,
            version,
            daemon_running: daemon.running,
            id,
            detail,
        }))
    }

    /// START: enables the daemon when it is disabled, starts it when it does not run, reads
    /// the ID. What it did is in the answer, for STOP; a failure undoes what it did first.
    pub fn start(&self, request: &StartRequest) -> Result<Started, PluginError> {
        let tool = self.tool()?;
        let daemon = daemon_state(&tool)?;
        let mut done = Done::default();
        if daemon.enabled == Some(false) {
            let ran = run(&tool, &["daemon", "enable"], true)?;
            if !ran.succeeded() {
                return Err(daemon_failed(&tool, "could not be enabled", &ran));
            }
            done.enabled = true;
        }
        if !daemon.running {
            let ran = match run(&tool, &["daemon", "start"], true) {
                Ok(ran) => ran,
                Err(error) => return Err(undo(&tool, &done, error)),
            };
            if !ran.succeeded() {
                let error = daemon_failed(&tool, "did not start", &ran);
                return Err(undo(&tool, &done, error));
            }
            done.started = true;
        }
        // A daemon started just now writes its ID into global.conf once it is up: give it
        // a few seconds before saying there is none.
        let mut attempts_left = if done.started { ID_ATTEMPTS } else { 1 };
        let id = loop {
            attempts_left -= 1;
            match self.read_id(&tool) {
                Ok((_, Some(id))) => break id,
                Ok((info, None)) if attempts_left == 0 => {
                    let error = self.no_id(&info);
                    return Err(undo(&tool, &done, error));
                }
                Ok((_, None)) => std::thread::sleep(ID_PAUSE),
                Err(error) => return Err(undo(&tool, &done, error)),
            }
        };
        Ok(Started {
            id,
            started_daemon: done.started,
            enabled_daemon: done.enabled,
            steps: request.proxy.iter().map(proxy_step).collect(),
        })
    }

    /// STOP: stops and disables the daemon as the request says.
    pub fn stop(&self, request: &StopRequest) -> Result<Stopped, PluginError> {
        if !request.stop_daemon && !request.disable_daemon {
            return Ok(Stopped {
                done: "nothing to stop: the bridge had neither started nor enabled TeamViewer's daemon"
                    .into(),
            });
        }
        let tool = self.tool()?;
        if request.stop_daemon {
            let ran = run(&tool, &["daemon", "stop"], true)?;
            if !ran.succeeded() {
                return Err(daemon_failed(&tool, "could not be stopped", &ran));
            }
        }
        if request.disable_daemon {
            let ran = run(&tool, &["daemon", "disable"], true)?;
            if !ran.succeeded() {
                return Err(daemon_failed(&tool, "could not be disabled", &ran));
            }
        }
        let done = match (request.stop_daemon, request.disable_daemon) {
            (true, true) => "TeamViewer's daemon stopped and disabled",
            (true, false) => "TeamViewer's daemon stopped",
            _ => "TeamViewer's daemon disabled",
        };
        Ok(Stopped { done: done.into() })
    }

    /// The ID from `teamviewer info` (as root too, for a per-user engine: only root reads
    /// global.conf), else from global.conf where the engine can read it.
    fn read_id(&self, tool: &Tool) -> Result<(parse::Info, Option<String>), PluginError> {
        let info = parse::info(&run(tool, &["info"], false)?.stdout);
        if info.id.is_some() {
            let id = info.id.clone();
            return Ok((info, id));
        }
        if tool.through_sudo() {
            // A sudo that refuses (no rule for this user) prints its reason on standard
            // error and no ID: the global.conf below is then the last chance.
            let as_root = parse::info(&run(tool, &["info"], true)?.stdout);
            if let Some(id) = as_root.id.clone() {
                return Ok((as_root, Some(id)));
            }
        }
        let id = self.settings.global_confs().iter().find_map(|path| {
            read_bounded(path)
                .ok()
                .and_then(|text| parse::global_conf_client_id(&text))
        });
        Ok((info, id))
    }

    /// The error when neither `teamviewer info` nor global.conf gives an ID, with why.
    fn no_id(&self, info: &parse::Info) -> PluginError {
        let said = match &info.hint {
            Some(hint) => format!("`teamviewer info` shows no ID (it says \"{hint}\")"),
            None => "`teamviewer info` shows no ID".to_string(),
        };
        let files: Vec<String> = self
            .settings
            .global_confs()
            .iter()
            .map(|path| match read_bounded(path) {
                Ok(_) => format!("{} has no ClientID", path.display()),
                Err(error) => format!("{} cannot be read ({error})", path.display()),
            })
            .collect();
        PluginError::new(
            errors::NO_ID,
            format!(
                "TeamViewer's ID cannot be read: {said} and {}; restart TeamViewer's daemon (`teamviewer daemon restart` as root) and allow remote assistance again",
                files.join(", ")
            ),
        )
    }
}

/// The daemon as `teamviewer daemon status` shows it.
struct DaemonState {
    running: bool,
    enabled: Option<bool>,
}

fn daemon_state(tool: &Tool) -> Result<DaemonState, PluginError> {
    // Reading the status needs no root.
    let ran = run(tool, &["daemon", "status"], false)?;
    match parse::daemon_status(&format!("{}\n{}", ran.stdout, ran.stderr)) {
        DaemonStatus::Known { running, enabled } => Ok(DaemonState { running, enabled }),
        DaemonStatus::UnitMissing(line) => Err(PluginError::new(
            errors::DAEMON_FAILED,
            format!("TeamViewer's daemon is not installed: `{}` says \"{line}\"; reinstall TeamViewer 15 from teamviewer.com", tool.words(&["daemon", "status"], false)),
        )),
        DaemonStatus::Unknown => {
            let said = parse::first_error_line(&ran.stdout, &ran.stderr)
                .unwrap_or_else(|| format!("nothing (exit code {})", exit_code(&ran)));
            Err(PluginError::new(
                errors::DAEMON_FAILED,
                format!(
                    "cannot tell whether TeamViewer's daemon runs: `{}` says \"{said}\"",
                    tool.words(&["daemon", "status"], false)
                ),
            ))
        }
    }
}

/// What START changed so far.
#[derive(Default)]
struct Done {
    enabled: bool,
    started: bool,
}

/// Undoes what START did before `error` and says so in its message.
fn undo(tool: &Tool, done: &Done, error: PluginError) -> PluginError {
    let mut undone = Vec::new();
    if done.started && run(tool, &["daemon", "stop"], true).is_ok_and(|ran| ran.succeeded()) {
        undone.push("stopped");
    }
    if done.enabled && run(tool, &["daemon", "disable"], true).is_ok_and(|ran| ran.succeeded()) {
        undone.push("disabled");
    }
    if undone.is_empty() {
        return error;
    }
    PluginError::new(
        error.code.as_str(),
        format!(
            "{} (the daemon the bridge had started or enabled was {} again)",
            error.message,
            undone.join(" and ")
        ),
    )
}

fn run(tool: &Tool, args: &[&str], as_root: bool) -> Result<Ran, PluginError> {
    let ran = if as_root {
        tool.run_as_root(args)
    } else {
        tool.run(args)
    };
    ran.map_err(|error| match error {
        RunError::TimedOut { command, limit } => PluginError::new(
            errors::TIMED_OUT,
            format!(
                "`{command}` did not answer within {} s (the bridge's time limit, setting time_limit_s) and was ended",
                limit.as_secs()
            ),
        ),
        RunError::Spawn { command, error } => PluginError::new(
            errors::NOT_INSTALLED,
            format!("TeamViewer cannot be run: `{command}` did not start ({error}); {INSTALL}"),
        ),
        RunError::Stopping { command } => PluginError::new(
            "stopped",
            format!("the bridge is stopping: `{command}` was ended"),
        ),
    })
}

fn daemon_failed(tool: &Tool, what: &str, ran: &Ran) -> PluginError {
    let said = parse::first_error_line(&ran.stdout, &ran.stderr)
        .unwrap_or_else(|| format!("exit code {}", exit_code(ran)));
    let mut message = format!("TeamViewer's daemon {what}: {said}");
    if tool.through_sudo() && said.starts_with("sudo:") {
        message.push_str(
            " (the Debian package's sudoers rule lets the members of the remote-service group run TeamViewer's daemon commands: add this user to that group)",
        );
    }
    PluginError::new(errors::DAEMON_FAILED, message)
}

fn exit_code(ran: &Ran) -> String {
    ran.code
        .map(|code| code.to_string())
        .unwrap_or_else(|| "none: ended by a signal".into())
}

fn not_installed(missing: &Missing) -> String {
    match missing {
        Missing::NotOnPath(name) => {
            format!("TeamViewer is not installed: no `{name}` program on PATH; {INSTALL}")
        }
        Missing::NotAt(path) => format!(
            "TeamViewer is not installed: {} is not an executable file (the bridge's setting \"program\"); {INSTALL}, or correct the setting",
            path.display()
        ),
    }
}

/// What the user must do for TeamViewer to use the proxy set by hand: TeamViewer for
/// Linux has no command-line or configuration-file way to set one (its help lists none,
/// and its manuals document only the options dialog), so the bridge says where to set it.
fn proxy_step(proxy: &ManualProxy) -> String {
    let user = match &proxy.user {
        Some(user) => format!(", the user name {user} and its password"),
        None => String::new(),
    };
    format!(
        "Set the proxy in TeamViewer itself: open TeamViewer, Extras > Options > General, under Network settings click \"Configure…\" next to Proxy settings, choose \"Use manual proxy\" and enter {}:{}{user}",
        proxy.host, proxy.port
    )
}

/// Reads a file others write: opened once without waiting on a FIFO, a regular file of at
/// most `GLOBAL_CONF_CAP` bytes.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if metadata.len() > GLOBAL_CONF_CAP {
        return Err(std::io::Error::other(format!(
            "larger than {GLOBAL_CONF_CAP} bytes"
        )));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(GLOBAL_CONF_CAP)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_step_says_where_and_what() {
        assert_eq!(
            proxy_step(&ManualProxy {
                host: "proxy.example.com".into(),
                port: 3128,
                user: Some("alice".into()),
            }),
            "Set the proxy in TeamViewer itself: open TeamViewer, Extras > Options > General, under Network settings click \"Configure…\" next to Proxy settings, choose \"Use manual proxy\" and enter proxy.example.com:3128, the user name alice and its password"
        );
        assert!(proxy_step(&ManualProxy {
            host: "10.0.0.1".into(),
            port: 8080,
            user: None,
        })
        .ends_with("enter 10.0.0.1:8080"));
    }

    fn check_settings(json: &str, expect: Result<Duration, &str>) {
        let settings: Result<Settings, _> = serde_json::from_str(json);
        let limit = settings
            .map_err(|error| error.to_string())
            .and_then(|settings| {
                settings
                    .time_limit()
                    .map_err(|error| error.message.to_string())
            });
        match (limit, expect) {
            (Ok(limit), Ok(expected)) => assert_eq!(limit, expected, "{json}"),
            (Err(error), Err(fragment)) => {
                assert!(
                    error.contains(fragment),
                    "{json}: {error:?} lacks {fragment:?}"
                )
            }
            (got, expected) => panic!("{json}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn settings_have_defaults_and_limits() {
        check_settings("{}", Ok(Duration::from_secs(15)));
        check_settings(r#"{"time_limit_s": 2}"#, Ok(Duration::from_secs(2)));
        check_settings(
            r#"{"program": "/usr/bin/teamviewer", "time_limit_s": 600, "global_conf": "/x"}"#,
            Ok(Duration::from_secs(600)),
        );
        check_settings(r#"{"time_limit_s": 0}"#, Err("1 to 600 seconds, not 0"));
        check_settings(r#"{"time_limit_s": 601}"#, Err("1 to 600 seconds, not 601"));
        check_settings(r#"{"time_limit": 2}"#, Err("unknown field `time_limit`"));
    }

    #[test]
    fn a_missing_program_is_named_with_what_to_do() {
        assert_eq!(
            not_installed(&Missing::NotOnPath("teamviewer".into())),
            "TeamViewer is not installed: no `teamviewer` program on PATH; install TeamViewer 15 from teamviewer.com"
        );
        assert!(not_installed(&Missing::NotAt("/opt/tv".into()))
            .starts_with("TeamViewer is not installed: /opt/tv is not an executable file"));
    }

    #[test]
    fn global_conf_is_read_bounded_and_only_as_a_regular_file() {
        let folder = std::env::temp_dir().join(format!("tv-bridge-conf-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let conf = folder.join("global.conf");
        std::fs::write(&conf, "[int32] ClientID = 1234567890\n").unwrap();
        assert_eq!(
            parse::global_conf_client_id(&read_bounded(&conf).unwrap()).as_deref(),
            Some("1234567890")
        );
        assert!(read_bounded(&folder).is_err());
        let fifo = folder.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils)");
        assert!(made.success());
        // Opened without waiting for a writer, then refused.
        assert!(read_bounded(&fifo)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
