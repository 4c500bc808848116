//! The SDK: a plain Rust trait for plugin authors and the adapters that turn it into the
//! ABI's trait objects, with every call guarded by `catch_unwind`.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RBox, RResult, RStr, RString, RVec};
use serde::de::DeserializeOwned;
use serde::Serialize;

use abi_stable::sabi_trait::TD_CanDowncast;

use crate::ffi::{FfiPlugin, FfiPlugin_TO, HostBox, PluginBox, PluginMod, PluginMod_Ref};
use crate::types::{
    HostEvent, HostEvent_NE, LogLevel, MenuItem, Notice, PanicStrategy, PluginError,
    PluginManifest, PluginStatus,
};
use crate::v1_2::{self, Host1_2Box, LicenceInstalled};

/// A plugin's description, in plain Rust types; [`export_plugin!`](crate::export_plugin)
/// turns it into the ABI's [`PluginManifest`].
#[derive(Debug, Clone, Copy)]
pub struct Manifest {
    /// Stable identifier, lowercase with dashes.
    pub id: &'static str,
    /// The plugin's version; usually `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// Name shown to the user.
    pub display_name: &'static str,
    /// The licence option the plugin needs, if any.
    pub licence_option: Option<&'static str>,
    /// What the plugin offers; see [`crate::capability`].
    pub capabilities: &'static [&'static str],
}

/// What a plugin author implements. The host calls these on the plugin's worker thread,
/// one at a time; a panic in any of them is caught and reported as a [`PluginError`].
pub trait Plugin: Sized + 'static {
    /// Describes the plugin. Must not do any work: it runs even when the plugin's licence
    /// option is not licensed.
    fn manifest() -> Manifest;

    /// Starts the plugin. Spawn threads here if the plugin needs them, and stop them in
    /// [`Plugin::stop`].
    fn start(host: Host) -> Result<Self, PluginError>;

    /// Reacts to something that happened in the host. Events of a newer host that this
    /// SDK does not know are not passed on.
    fn on_event(&mut self, event: &HostEvent) -> Result<(), PluginError> {
        let _ = event;
        Ok(())
    }

    /// The items the plugin contributes to the tray menu now.
    fn menu_items(&mut self) -> Vec<MenuItem> {
        Vec::new()
    }

    /// The user clicked the plugin's menu item `item_id`.
    fn on_menu_click(&mut self, item_id: &str) -> Result<(), PluginError> {
        Err(PluginError::new(
            "unknown-menu-item",
            format!("no menu item {item_id:?} in this plugin"),
        ))
    }

    /// The plugin's state and status line now.
    fn status(&mut self) -> PluginStatus;

    /// Stops the plugin's work.
    fn stop(&mut self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Since 1.2. A front-end asks the plugin to run `command` and waits for the outcome.
    /// Return at once: hand the command to the plugin's own thread, which answers with
    /// [`Command::finish`] when done. An error returned here refuses the command (an
    /// unknown name, a bad argument); the plugin keeps running.
    fn on_command(&mut self, command: Command) -> Result<(), PluginError> {
        Err(PluginError::new(
            "unknown-command",
            format!("no command {:?} in this plugin", command.name()),
        ))
    }

    /// For a plugin with the capability [`crate::capability::PROXY_DETECTION`]: the proxies
    /// to try for `url`, in order (see [`crate::proxy`]). Runs on the plugin's worker
    /// thread and must answer within the host's time limit; an error says why detection
    /// failed, in words for the user. The host asks with the command
    /// [`crate::proxy::PROXY_CANDIDATES`], which the SDK routes here.
    fn proxy_candidates(
        &mut self,
        url: &str,
    ) -> Result<crate::proxy::ProxyCandidates, PluginError> {
        let _ = url;
        Err(PluginError::new(
            "unsupported",
            "this plugin does not detect proxies",
        ))
    }
}

/// Since 1.2. A command a front-end sent the plugin ([`Plugin::on_command`]), and the way to
/// answer it. May be moved to another thread; answering consumes it, so it is answered at
/// most once. A command dropped without an answer is answered "the plugin did not say".
pub struct Command {
    name: String,
    argument: String,
    reply: Option<(Host, u64)>,
}

impl Command {
    /// The command's name (`check-update`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its argument, in the command's own terms; empty when it takes none.
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// Answers: what was done, in words for the user, or why it failed.
    pub fn finish(mut self, outcome: Result<String, PluginError>) {
        if let Some((host, id)) = self.reply.take() {
            host.finish_command(id, outcome);
        }
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        if let Some((host, id)) = self.reply.take() {
            host.finish_command(
                id,
                Err(PluginError::new(
                    "no-answer",
                    format!(
                        "the plugin dropped the command {:?} without an answer",
                        self.name
                    ),
                )),
            );
        }
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Command")
            .field("name", &self.name)
            .field("argument", &self.argument)
            .finish_non_exhaustive()
    }
}

/// The host, as a plugin sees it. Cheap to clone; may be used from any thread. Calls a
/// host of an older minor version does not have answer "unsupported" (or, for what only
/// informs the host, do nothing).
#[derive(Clone)]
pub struct Host {
    inner: HostBox,
    /// The host's 1.2 object, when the host is 1.2 or later.
    v1_2: Option<Host1_2Box>,
}

impl Host {
    /// Wraps the host objects handed to [`PluginMod::start`] (and, from a 1.2 host, to
    /// [`v1_2::Extension::start`]). Plugins get a [`Host`] from [`Plugin::start`] and do
    /// not need this.
    pub fn from_ffi(inner: HostBox, v1_2: Option<Host1_2Box>) -> Self {
        Host { inner, v1_2 }
    }

    fn finish_command(&self, id: u64, outcome: Result<String, PluginError>) {
        if let Some(host) = &self.v1_2 {
            host.finish_command(id, outcome.map(RString::from).into());
        }
    }

    fn older_host(call: &str) -> PluginError {
        PluginError::new(
            PluginError::UNSUPPORTED,
            format!("this Remote Service is too old for {call} (it has plugin API 1.1)"),
        )
    }

    /// Writes a line into the host's log.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, RStr::from_str(message));
    }

    /// Writes an informational line into the host's log.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::INFO, message);
    }

    /// Writes a warning into the host's log.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::WARN, message);
    }

    /// Shows a notice to the user.
    pub fn notify(&self, notice: Notice) {
        self.inner.notify(notice);
    }

    /// Whether the licence in force has the option `option`.
    pub fn is_licensed(&self, option: &str) -> bool {
        self.inner.is_licensed(RStr::from_str(option))
    }

    /// The verified payload JSON of the licence in force.
    pub fn licence_payload(&self) -> Option<String> {
        self.inner
            .licence_payload()
            .into_option()
            .map(RString::into_string)
    }

    /// The plugin's settings, or `T::default()` when it has none yet.
    pub fn settings<T: DeserializeOwned + Default>(&self) -> Result<T, PluginError> {
        let json = self.inner.read_settings().into_result()?;
        match serde_json::from_str(&json) {
            Ok(settings) => Ok(settings),
            // A plugin that never saved settings gets `{}`, which a `T` with required
            // fields cannot read: that is "nothing saved yet", not an error.
            Err(_) if json.trim() == "{}" => Ok(T::default()),
            Err(error) => Err(PluginError::new(
                "settings",
                format!("plugin settings are not valid: {error}"),
            )),
        }
    }

    /// Saves the plugin's settings.
    pub fn save_settings<T: Serialize>(&self, settings: &T) -> Result<(), PluginError> {
        let json = serde_json::to_string_pretty(settings).map_err(|error| {
            PluginError::new(
                "settings",
                format!("cannot encode plugin settings: {error}"),
            )
        })?;
        self.inner
            .write_settings(RStr::from_str(&json))
            .into_result()
    }

    /// Tells the host the plugin's state changed.
    pub fn publish_status(&self, status: PluginStatus) {
        self.inner.publish_status(status);
    }

    /// Since 1.1. A request to the back office over the host's connection: `(status, body)`.
    pub fn backoffice_request(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, String), PluginError> {
        self.inner
            .backoffice_request(
                RStr::from_str(method),
                RStr::from_str(path),
                RStr::from_str(body),
            )
            .into_result()
            .map(|answer| (answer.status, answer.body.into_string()))
    }

    /// Since 1.1. Verifies a licence file against the host's trusted keys and the licence
    /// in force: its payload JSON when it may be installed, otherwise why not.
    pub fn check_licence(&self, text: &str) -> Result<String, PluginError> {
        self.inner
            .check_licence(RStr::from_str(text))
            .into_result()
            .map(RString::into_string)
    }

    /// Since 1.1. The local licence folder and the remote one when set.
    pub fn licence_folders(&self) -> (String, Option<String>) {
        let folders = self.inner.licence_folders();
        (
            folders.local.into_string(),
            folders.remote.into_option().map(RString::into_string),
        )
    }

    /// Since 1.2. Publishes `details` (serialised as JSON, in the plugin's documented
    /// shape) for the front-ends; replaces what was published before.
    pub fn publish_details<T: Serialize>(&self, details: &T) -> Result<(), PluginError> {
        let json = serde_json::to_string(details).map_err(|error| {
            PluginError::new("details", format!("cannot encode the details: {error}"))
        })?;
        let host = self
            .v1_2
            .as_ref()
            .ok_or_else(|| Host::older_host("published details"))?;
        host.publish_details(RStr::from_str(&json));
        Ok(())
    }

    /// Since 1.2. Has the host verify the licence file `text` and install it into `folder`
    /// as `<serial>.lic`, atomically and without following links (unless the folder holds
    /// exactly this file already).
    pub fn install_licence(
        &self,
        folder: &str,
        text: &str,
    ) -> Result<LicenceInstalled, PluginError> {
        let host = self
            .v1_2
            .as_ref()
            .ok_or_else(|| Host::older_host("installing licences"))?;
        host.install_licence(RStr::from_str(folder), RStr::from_str(text))
            .into_result()
    }
}

/// The root module for plugin type `P`; used by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn root_module<P: Plugin>() -> PluginMod_Ref {
    PluginMod {
        manifest: ffi_manifest::<P>,
        start: ffi_start::<P>,
    }
    .leak_into_prefix()
}

/// The 1.2 module for plugin type `P`; used by [`export_plugin!`](crate::export_plugin).
#[doc(hidden)]
pub fn extension_1_2<P: Plugin>() -> v1_2::Extension_Ref {
    v1_2::Extension {
        start: ffi_start_1_2::<P>,
        on_command: ffi_on_command::<P>,
    }
    .leak_into_prefix()
}

/// Runs `body`, turning a panic into a [`PluginError`] with code `panic`.
fn guard<T>(body: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::new(
            PluginError::PANIC,
            format!("plugin panicked: {}", panic_text(payload.as_ref())),
        )),
    }
}

/// The text of a panic payload (a `&str` or a `String`, as `panic!` makes them).
fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

fn panic_strategy() -> PanicStrategy {
    if cfg!(panic = "unwind") {
        PanicStrategy::UNWIND
    } else {
        PanicStrategy::ABORT
    }
}

extern "C" fn ffi_manifest<P: Plugin>() -> RResult<PluginManifest, PluginError> {
    guard(|| {
        let manifest = P::manifest();
        Ok(PluginManifest {
            id: manifest.id.into(),
            version: manifest.version.into(),
            display_name: manifest.display_name.into(),
            licence_option: manifest.licence_option.map(RString::from).into(),
            capabilities: manifest
                .capabilities
                .iter()
                .map(|&name| RString::from(name))
                .collect(),
            panic_strategy: panic_strategy(),
        })
    })
}

extern "C" fn ffi_start<P: Plugin>(host: HostBox) -> RResult<PluginBox, PluginError> {
    guard(|| start::<P>(Host::from_ffi(host, None)))
}

extern "C" fn ffi_start_1_2<P: Plugin>(
    host: HostBox,
    host_1_2: Host1_2Box,
) -> RResult<PluginBox, PluginError> {
    guard(|| start::<P>(Host::from_ffi(host, Some(host_1_2))))
}

fn start<P: Plugin>(host: Host) -> Result<PluginBox, PluginError> {
    // Each plugin library has its own copy of the standard library, so this hook sees this
    // plugin's panics only: their message and place go into the host's log instead of the
    // host's standard error.
    let panic_log = host.clone();
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|location| location.to_string())
            .unwrap_or_default();
        let message = panic_text(info.payload());
        panic_log.log(LogLevel::ERROR, &format!("panic at {place}: {message}"));
    }));
    let plugin = P::start(host.clone())?;
    // Downcastable (within this library only): the 1.2 module's calls take the plugin
    // object back and find the plugin in it.
    Ok(FfiPlugin_TO::from_ptr(
        RBox::new(Adapter {
            plugin: ManuallyDrop::new(plugin),
            host,
        }),
        TD_CanDowncast,
    ))
}

extern "C" fn ffi_on_command<P: Plugin>(
    plugin: &mut PluginBox,
    id: u64,
    name: RStr<'_>,
    argument: RStr<'_>,
) -> RResult<(), PluginError> {
    guard(|| {
        let adapter = plugin
            .obj
            .downcast_as_mut::<Adapter<P>>()
            .map_err(|_| PluginError::new("wrong-object", "the object is not this plugin's"))?;
        let command = Command {
            name: name.as_str().to_string(),
            argument: argument.as_str().to_string(),
            reply: Some((adapter.host.clone(), id)),
        };
        if command.name() == crate::proxy::PROXY_CANDIDATES {
            let answer = adapter
                .plugin
                .proxy_candidates(command.argument())
                .and_then(|candidates| {
                    serde_json::to_string(&candidates)
                        .map_err(|error| PluginError::new("internal", error.to_string()))
                });
            command.finish(answer);
            return Ok(());
        }
        // Refused (an error here): the command the plugin dropped answers "no answer" too,
        // which the host ignores, having had the refusal first.
        adapter.plugin.on_command(command)
    })
}

/// Implements the ABI's plugin object on top of an SDK plugin, guarding every call, and the
/// drop too: the host drops the plugin object through abi_stable, which aborts the whole
/// process on a panic there.
struct Adapter<P> {
    plugin: ManuallyDrop<P>,
    /// For the answers to commands and the log.
    host: Host,
}

impl<P> Drop for Adapter<P> {
    fn drop(&mut self) {
        // SAFETY: the plugin is dropped exactly once, here, and never used afterwards.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.plugin)
        }));
        if let Err(payload) = dropped {
            self.host.log(
                LogLevel::ERROR,
                &format!(
                    "the plugin panicked while it was dropped: {}",
                    panic_text(payload.as_ref())
                ),
            );
        }
    }
}

impl<P: Plugin> FfiPlugin for Adapter<P> {
    fn on_event(&mut self, event: &HostEvent_NE) -> RResult<(), PluginError> {
        match event.as_enum() {
            Ok(event) => guard(|| self.plugin.on_event(event)),
            // An event of a newer host: this plugin cannot know what it means.
            Err(_) => RResult::ROk(()),
        }
    }

    fn menu_items(&mut self) -> RResult<RVec<MenuItem>, PluginError> {
        guard(|| Ok(self.plugin.menu_items().into()))
    }

    fn on_menu_click(&mut self, item_id: RStr<'_>) -> RResult<(), PluginError> {
        guard(|| self.plugin.on_menu_click(item_id.as_str()))
    }

    fn status(&mut self) -> RResult<PluginStatus, PluginError> {
        guard(|| Ok(self.plugin.status()))
    }

    fn stop(&mut self) -> RResult<(), PluginError> {
        guard(|| self.plugin.stop())
    }
}
