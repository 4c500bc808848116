//! The TeamViewer bridge plugin: drives TeamViewer so that the help desk can connect once
//! the local user allowed remote assistance. The host keeps the rules (consent, the time
//! box, the record, what the back office hears); the bridge only drives the `teamviewer`
//! tool, through the commands of `remote_service_plugin_api::assistance`:
//!
//! - `assistance-check`: what is installed, whether the daemon runs, the ID (`Check`);
//! - `assistance-start`: the daemon enabled and running, the ID, and what the user must do
//!   by hand (`Started`; the proxy: TeamViewer for Linux has no command-line or
//!   configuration-file way to set one, so the step says where in TeamViewer to set it);
//! - `assistance-stop`: stops and disables what START started and enabled (`Stopped`).
//!
//! Commands run on a thread of the plugin's own (the tool is a script that may hang: each
//! invocation has a time limit, `tool`), and a check follows each command and the start,
//! so that the status line ("TeamViewer 15.48.4, daemon running, ID 123 456 789") and the
//! published details (`Check`) say what is there now.
//!
//! Settings (`plugins/teamviewer-bridge.json`, every field optional): `program` (the
//! `teamviewer` program, a name on the engine's PATH or a path; default `teamviewer`),
//! `time_limit_s` (each invocation's limit, 1 to 600 s; default 15), `global_conf` (where
//! to read the ID when `teamviewer info` shows none; default
//! `/opt/teamviewer/config/global.conf`, then `/etc/teamviewer/global.conf`).
//!
//! Licence option: `remote-assistance`. No menu items: the host builds the menu.

mod bridge;
#[doc(hidden)]
pub mod fuzzing;
mod parse;
mod tool;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use remote_service_plugin_api::assistance::{self, errors, Check, StartRequest, StopRequest};
use remote_service_plugin_api::{
    capability, export_plugin, Command, Host, HostEvent, Manifest, Plugin, PluginError,
    PluginState, PluginStatus,
};
use serde::de::DeserializeOwned;

use bridge::{Bridge, Found, Settings};

/// What the worker thread does next.
enum Job {
    /// Look at TeamViewer and say what is there (status line and details).
    Check,
    /// Answer a command, then check.
    Command(Command, Request),
}

/// A command with its argument read.
enum Request {
    Check,
    Start(StartRequest),
    Stop(StopRequest),
}

/// The running plugin.
pub struct TeamViewerBridge {
    jobs: Option<Sender<Job>>,
    status: Arc<Mutex<PluginStatus>>,
    stopping: Arc<AtomicBool>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Plugin for TeamViewerBridge {
    fn manifest() -> Manifest {
        Manifest {
            id: "teamviewer-bridge",
            version: env!("CARGO_PKG_VERSION"),
            display_name: "Remote assistance (TeamViewer)",
            licence_option: Some("remote-assistance"),
            capabilities: &[capability::REMOTE_ASSISTANCE],
        }
    }

    fn start(host: Host) -> Result<Self, PluginError> {
        let stopping = Arc::new(AtomicBool::new(false));
        // Whether the program is there needs no process: the first status says it at once
        // when it is not, and "checking" while the first check runs otherwise.
        let first = match settings(&host)
            .and_then(|settings| Bridge::new(settings, stopping.clone()).installed())
        {
            Ok(()) => PluginStatus::new(PluginState::BUSY, "checking TeamViewer…"),
            Err(error) => {
                let status = status_of(&Err(error.clone()));
                publish_details(&host, &details_of_error(&error));
                status
            }
        };
        let status = Arc::new(Mutex::new(first));
        let (jobs, requests) = mpsc::channel::<Job>();
        let (worker_status, worker_stopping) = (status.clone(), stopping.clone());
        let worker = thread::Builder::new()
            .name("teamviewer bridge".into())
            .spawn(move || {
                for job in requests {
                    if worker_stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    let check = || {
                        settings(&host).and_then(|settings| {
                            Bridge::new(settings, worker_stopping.clone()).check()
                        })
                    };
                    let found = match job {
                        Job::Check => check(),
                        // The check a CHECK command runs is also the one after it.
                        Job::Command(command, Request::Check) => {
                            let found = check();
                            command.finish(check_answer(&found));
                            found
                        }
                        Job::Command(command, request) => {
                            command.finish(answer(&host, &worker_stopping, request));
                            if worker_stopping.load(Ordering::Relaxed) {
                                return;
                            }
                            check()
                        }
                    };
                    let line = status_of(&found);
                    *worker_status.lock().unwrap_or_else(|p| p.into_inner()) = line.clone();
                    host.publish_status(line);
                    publish_details(
                        &host,
                        &match found {
                            Ok(Found::Installed(check) | Found::NotInstalled(check)) => check,
                            Err(error) => details_of_error(&error),
                        },
                    );
                }
            })
            .map_err(|error| PluginError::new("thread", error.to_string()))?;
        let _ = jobs.send(Job::Check);
        Ok(TeamViewerBridge {
            jobs: Some(jobs),
            status,
            stopping,
            worker: Some(worker),
        })
    }

    fn on_event(&mut self, event: &HostEvent) -> Result<(), PluginError> {
        if let HostEvent::SettingsChanged = event {
            self.queue(Job::Check);
        }
        Ok(())
    }

    fn on_command(&mut self, command: Command) -> Result<(), PluginError> {
        let request = match command.name() {
            assistance::CHECK => Request::Check,
            assistance::START => Request::Start(argument(&command)?),
            assistance::STOP => Request::Stop(argument(&command)?),
            other => {
                return Err(PluginError::new(
                    "unknown-command",
                    format!(
                        "no command {other:?}; the commands are {}, {} and {}",
                        assistance::CHECK,
                        assistance::START,
                        assistance::STOP
                    ),
                ))
            }
        };
        self.queue(Job::Command(command, request));
        Ok(())
    }

    fn status(&mut self) -> PluginStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn stop(&mut self) -> Result<(), PluginError> {
        // A running invocation of the tool is ended at once (`tool::Tool`), so that the
        // host's time limit for stopping is kept even while `teamviewer` hangs.
        self.stopping.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        Ok(())
    }
}

impl TeamViewerBridge {
    fn queue(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

/// The plugin's settings now (read for each job, so that a change applies at once).
fn settings(host: &Host) -> Result<Settings, PluginError> {
    host.settings::<Settings>()
}

/// A command's JSON argument; an empty one is the default.
fn argument<T: DeserializeOwned + Default>(command: &Command) -> Result<T, PluginError> {
    if command.argument().trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(command.argument()).map_err(|error| {
        PluginError::new(
            "bad-argument",
            format!("the argument of {} is not valid: {error}", command.name()),
        )
    })
}

/// Runs a command and answers it as JSON.
fn answer(
    host: &Host,
    stopping: &Arc<AtomicBool>,
    request: Request,
) -> Result<String, PluginError> {
    let bridge = Bridge::new(settings(host)?, stopping.clone());
    let json = match request {
        Request::Check => return check_answer(&bridge.check()),
        Request::Start(request) => serde_json::to_string(&bridge.start(&request)?),
        Request::Stop(request) => serde_json::to_string(&bridge.stop(&request)?),
    };
    json.map_err(|error| PluginError::new("internal", error.to_string()))
}

/// The answer of CHECK: the `Check` as JSON (TeamViewer missing is an answer too).
fn check_answer(found: &Result<Found, PluginError>) -> Result<String, PluginError> {
    match found {
        Ok(Found::Installed(check) | Found::NotInstalled(check)) => serde_json::to_string(check)
            .map_err(|error| PluginError::new("internal", error.to_string())),
        Err(error) => Err(error.clone()),
    }
}

/// The status line of a check: unavailable without TeamViewer, worth a look when the
/// daemon runs without an ID, an error when the check failed.
fn status_of(found: &Result<Found, PluginError>) -> PluginStatus {
    match found {
        Ok(Found::NotInstalled(check)) => PluginStatus::unavailable(check.detail.clone()),
        Ok(Found::Installed(check)) if check.daemon_running && check.id.is_none() => {
            PluginStatus::new(PluginState::ATTENTION, check.detail.clone())
        }
        Ok(Found::Installed(check)) => PluginStatus::ok(check.detail.clone()),
        Err(error) if error.code.as_str() == errors::NOT_INSTALLED => {
            PluginStatus::unavailable(error.message.to_string())
        }
        Err(error) => PluginStatus::new(PluginState::ERROR, error.message.to_string()),
    }
}

/// The published details when the check failed: what is known, and why.
fn details_of_error(error: &PluginError) -> Check {
    Check {
        installed: error.code.as_str() != errors::NOT_INSTALLED,
        version: None,
        daemon_running: false,
        id: None,
        detail: error.message.to_string(),
    }
}

fn publish_details(host: &Host, check: &Check) {
    if let Err(error) = host.publish_details(check) {
        host.warn(&format!(
            "cannot publish TeamViewer's state: {}",
            error.message
        ));
    }
}

export_plugin!(TeamViewerBridge);
