//! The plugin host: discovery, loading through the stable ABI, a worker thread per plugin,
//! licence gating and fault isolation.

pub mod discovery;
pub mod host_services;
pub mod manager;
pub mod watch;
pub mod worker;

pub use host_services::{HostContext, PluginMessage};
pub use manager::{CommandRefused, PluginManager};
pub use remote_service_api::{PluginInfo, PluginState};
