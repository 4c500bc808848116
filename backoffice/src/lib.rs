//! `remote-service-backoffice`: the reference remote service back office (`serve`) and its
//! administration commands. The protocol is in `docs/protocol.md`.

mod admin;
mod cli;
mod errors;
mod first_request;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod helpdesk;
mod installations;
mod listener;
mod signing;
mod state;
mod store;

pub use cli::main;
