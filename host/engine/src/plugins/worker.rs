//! One plugin on its own thread: loading the library, its manifest, and every later call.
//!
//! The host never calls plugin code on its own threads. It sends a command to the plugin's
//! worker thread and waits for the answer with a time limit; a plugin that does not answer
//! in time is left alone on its thread and marked faulted by the caller.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use abi_stable::library::{
    lib_header_from_raw_library, AbiHeaderRef, LibraryError, RawLibrary, RootModule,
};
use abi_stable::std_types::RStr;
use crossbeam_channel::{bounded, Receiver, Sender};
use remote_service_plugin_api::v1_2::{self, Host1_2Box};
use remote_service_plugin_api::{
    HostBox, HostEvent, HostEvent_NE, MenuItem, PanicStrategy, PluginBox, PluginError,
    PluginManifest, PluginMod_Ref, PluginStatus, API_VERSION,
};

/// A call into a running plugin.
pub enum Command {
    /// Start the plugin with its host objects (the 1.2 one is used when the plugin has the
    /// 1.2 module).
    Start(HostBox, Host1_2Box),
    /// Hand it an event.
    Event(HostEvent),
    /// Ask for its menu items.
    MenuItems,
    /// Tell it that its menu item was clicked.
    Click(String),
    /// Ask for its status.
    Status,
    /// Hand it a command; it answers later with the same id.
    RunCommand {
        /// The id of its answer.
        id: u64,
        /// The command.
        name: String,
        /// Its argument.
        argument: String,
    },
    /// Stop it; it may be started again later.
    Stop,
}

/// A plugin's answer to a [`Command`].
#[derive(Debug)]
pub enum Reply {
    /// Started, event handled, click handled or stopped.
    Done,
    /// Its menu items.
    MenuItems(Vec<MenuItem>),
    /// Its status.
    Status(PluginStatus),
}

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin did not answer within the time limit.
    #[error("did not answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The plugin answered with an error (a panic is reported as one).
    #[error("{}", .0.message)]
    Plugin(PluginError),
    /// The worker thread is gone.
    #[error("its worker thread has ended")]
    Gone,
}

/// Why a plugin file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a plugin this host can load; it is never called.
    #[error("{summary}")]
    Refused {
        /// What the user sees.
        summary: String,
        /// The loader's full report, for the log.
        report: Option<String>,
    },
    /// The plugin's code misbehaved while describing itself.
    #[error("{0}")]
    Faulted(String),
}

/// What the host learns from a plugin file before starting it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The plugin's manifest.
    pub manifest: PluginManifest,
    /// The plugin API version the plugin was built against.
    pub api_version: String,
}

/// A plugin library's modules: the root module, and the 1.2 module when it has one.
#[derive(Clone, Copy)]
struct Modules {
    root: PluginMod_Ref,
    v1_2: Option<v1_2::Extension_Ref>,
    /// The plugin API version it was built against, for the messages.
    api_version: &'static str,
}

type Job = (Command, Sender<Result<Reply, PluginError>>);

/// The host's handle on one plugin's worker thread.
#[derive(Debug)]
pub struct Worker {
    jobs: Sender<Job>,
}

impl Worker {
    /// Starts a worker thread that loads `path` and describes the plugin, waiting at most
    /// `timeout` for it.
    pub fn spawn(path: &Path, timeout: Duration) -> Result<(Worker, Loaded), LoadError> {
        let (loaded_sender, loaded_receiver) = bounded(1);
        let (jobs, job_receiver) = bounded::<Job>(16);
        let thread_path = path.to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        thread::Builder::new()
            .name(format!("plugin {name}"))
            .spawn(move || run(thread_path, loaded_sender, job_receiver))
            .map_err(|error| {
                LoadError::Faulted(format!("cannot start a thread for it: {error}"))
            })?;
        match loaded_receiver.recv_timeout(timeout) {
            Ok(Ok(loaded)) => Ok((Worker { jobs }, loaded)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(LoadError::Faulted(format!(
                "loading it and reading its manifest did not finish within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// Sends `command` to the plugin and waits at most `timeout` for the answer.
    pub fn call(&self, command: Command, timeout: Duration) -> Result<Reply, CallError> {
        let (reply_sender, reply_receiver) = bounded(1);
        self.jobs
            .send_timeout((command, reply_sender), timeout)
            .map_err(|error| match error {
                crossbeam_channel::SendTimeoutError::Timeout(_) => CallError::TimedOut(timeout),
                crossbeam_channel::SendTimeoutError::Disconnected(_) => CallError::Gone,
            })?;
        match reply_receiver.recv_timeout(timeout) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(CallError::Plugin(error)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(CallError::TimedOut(timeout)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(CallError::Gone),
        }
    }
}

/// The worker thread: load, describe, then serve calls until `Stop` or until the host
/// drops its handle.
fn run(path: PathBuf, loaded: Sender<Result<Loaded, LoadError>>, jobs: Receiver<Job>) {
    let modules = match open(&path) {
        Ok(opened) => opened,
        Err(error) => {
            let _ = loaded.send(Err(error));
            return;
        }
    };
    let manifest = match modules.root.manifest()().into_result() {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = loaded.send(Err(LoadError::Faulted(format!(
                "its manifest failed: {}",
                error.message
            ))));
            return;
        }
    };
    if manifest.panic_strategy != PanicStrategy::UNWIND {
        let _ = loaded.send(Err(LoadError::Refused {
            summary:
                "it was built with panic = \"abort\": a panic in it would end the whole service"
                    .into(),
            report: None,
        }));
        return;
    }
    if loaded
        .send(Ok(Loaded {
            manifest,
            api_version: modules.api_version.to_string(),
        }))
        .is_err()
    {
        return;
    }

    // Serves until the host drops its handle. A stopped plugin (its licence option went
    // away) may be started again on the same thread when the option comes back.
    let mut plugin: Option<PluginBox> = None;
    for (command, reply) in jobs {
        let result = serve(modules, &mut plugin, command);
        let _ = reply.send(result);
    }
}

fn serve(
    modules: Modules,
    plugin: &mut Option<PluginBox>,
    command: Command,
) -> Result<Reply, PluginError> {
    if let Command::Start(host, host_1_2) = command {
        let started = match modules.v1_2 {
            Some(v1_2) => v1_2.start()(host, host_1_2),
            None => modules.root.start()(host),
        };
        *plugin = Some(started.into_result()?);
        return Ok(Reply::Done);
    }
    let Some(running) = plugin.as_mut() else {
        return Err(PluginError::new(
            "not-started",
            "the plugin was called before it was started",
        ));
    };
    match command {
        Command::Start(..) => unreachable!("handled above"),
        Command::Event(event) => running
            .on_event(&HostEvent_NE::new(event))
            .into_result()
            .map(|()| Reply::Done),
        Command::MenuItems => running
            .menu_items()
            .into_result()
            .map(|items| Reply::MenuItems(items.into_vec())),
        Command::Click(item_id) => running
            .on_menu_click(RStr::from_str(&item_id))
            .into_result()
            .map(|()| Reply::Done),
        Command::Status => running.status().into_result().map(Reply::Status),
        Command::RunCommand { id, name, argument } => match modules.v1_2 {
            Some(v1_2) => v1_2.on_command()(
                running,
                id,
                RStr::from_str(&name),
                RStr::from_str(&argument),
            )
            .into_result()
            .map(|()| Reply::Done),
            None => Err(PluginError::new(
                PluginError::UNSUPPORTED,
                format!(
                    "the plugin was built against plugin API {}, which has no commands (1.2 has)",
                    modules.api_version
                ),
            )),
        },
        Command::Stop => {
            let result = running.stop().into_result().map(|()| Reply::Done);
            *plugin = None;
            result
        }
    }
}

/// Opens the library and checks it against this host's plugin ABI: the root module, and
/// the 1.2 module when the library has one (a plugin built against 1.1 has none).
fn open(path: &Path) -> Result<Modules, LoadError> {
    let library = RawLibrary::load_at(path).map_err(refusal)?;
    // SAFETY: the library is never unloaded (it is leaked below, as abi_stable's own
    // `lib_header_from_path` does), so the header's references stay valid.
    let header = unsafe { lib_header_from_raw_library(&library) }.map_err(refusal)?;
    let api_version = header.version_strings().version.as_str();
    let root = header
        .init_root_module::<PluginMod_Ref>()
        .map_err(refusal)?;
    let symbol = format!("{}\0", v1_2::SYMBOL);
    // SAFETY: the symbol, when present, is the `LibHeader` static that `export_plugin!`
    // generates; its address is read as a header reference, as abi_stable reads the root
    // module's.
    let v1_2 = match unsafe { library.get::<AbiHeaderRef>(symbol.as_bytes()) } {
        Ok(found) => Some(
            (*found)
                .upgrade()
                .and_then(|header| header.init_root_module::<v1_2::Extension_Ref>())
                .map_err(refusal)?,
        ),
        Err(_) => None,
    };
    std::mem::forget(library);
    Ok(Modules {
        root,
        v1_2,
        api_version,
    })
}

/// Turns abi_stable's error into a one-paragraph reason for the user and the full report
/// for the log.
fn refusal(error: LibraryError) -> LoadError {
    let report = error.to_string();
    let summary = match &error {
        LibraryError::OpenError { err, .. } => format!("not a loadable library: {}", err.to_string().trim()),
        LibraryError::GetSymbolError { .. } => {
            "not a Remote Service plugin: it exports no plugin root module".to_string()
        }
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "built against plugin API {actual_version}, this host has plugin API {API_VERSION} (major versions must match)"
        ),
        LibraryError::AbiInstability(_) => {
            let mut lines = vec![format!(
                "built against an incompatible plugin ABI (this host has plugin API {API_VERSION}):"
            )];
            lines.extend(error_lines(&report));
            lines.join("\n")
        }
        LibraryError::RootModule { .. } => "its root module failed to load".to_string(),
        _ => format!("cannot be loaded as a {}: {}", PluginMod_Ref::NAME, first_line(&report)),
    };
    LoadError::Refused {
        summary,
        report: Some(report),
    }
}

/// The `Error:` lines of abi_stable's layout report, each with the expected and found
/// values that follow it on one line.
fn error_lines(report: &str) -> Vec<String> {
    let lines: Vec<&str> = report.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if let Some(what) = line.trim_start().strip_prefix("Error:") {
            let mut text = format!("Error: {}", what.trim());
            let expected = lines.get(index + 2).map(|l| l.trim()).unwrap_or_default();
            let actual = lines.get(index + 4).map(|l| l.trim()).unwrap_or_default();
            if lines.get(index + 1).map(|l| l.trim()) == Some("Expected:") && !expected.is_empty() {
                text.push_str(&format!(" (expected {expected}, found {actual})"));
            }
            found.push(text);
        }
    }
    if found.is_empty() {
        found.push(format!("Error: {}", first_line(report)));
    }
    found
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_keep_what_was_expected_and_found() {
        let report = "Compared <this>:\n    X\n\n1 error(s).\n\nError:incompatible type size\nExpected:\n    8\nFound:\n    16\n";
        assert_eq!(
            error_lines(report),
            vec!["Error: incompatible type size (expected 8, found 16)"]
        );
    }
}
