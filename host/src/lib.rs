//! Remote Service: the engine (plugin host, licence store, settings), and the command line.
//!
//! See `docs/ARCHITECTURE.md` for the map of the crate and its invariants.

pub mod api;
pub mod atomic_file;
pub mod cli;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod engine;
pub mod licence;
pub mod logging;
pub mod os;
pub mod paths;
pub mod plugins;
pub mod secrets;
pub mod settings;
pub mod tray;
pub mod windows;
