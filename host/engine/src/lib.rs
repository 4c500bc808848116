//! The Remote Service engine: the licence store, the plugin host, the back office
//! connection, the settings and secrets, and the local API server that the front-ends
//! (tray, command line, windows) reach through `remote-service-api`.
//!
//! The binary uses [`start`] and little else: an engine runs on threads of its own, serves
//! its local API on a socket and stops when dropped. The other modules are public for the
//! workspace's tests and benchmarks, which look inside. See `docs/ARCHITECTURE.md`.

pub mod assistance;
pub mod atomic_file;
pub mod config;
pub mod connection;
pub mod deadline;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod licence;
pub mod logging;
pub mod mounts;
pub mod os;
pub mod paths;
pub mod plugins;
pub mod proxy;
pub mod running;
pub mod secrets;
pub mod server;
pub mod service;
pub mod settings;
pub mod trust;

pub use engine::Parts;
pub use running::{start, stop_signal, Listen, RunningEngine, Scope};

/// Sends warnings to standard error and the full record to the log file of `scope`'s
/// engine (see [`logging::init`]).
pub fn init_logging(scope: Scope) {
    match scope.paths() {
        Ok(paths) => logging::init(&paths.log_file()),
        Err(error) => eprintln!("warning: no log file: {error:#}"),
    }
}
