//! The engine a command talks to: the running one when there is one, otherwise one started
//! in this process for the command alone, with only the parts it needs, on a private
//! socket. Either way the command is a client of the same API, so that what it prints does
//! not depend on whether an engine runs.

use anyhow::{Context, Result};
use remote_service_api::Client;
use remote_service_engine::{Listen, Parts, RunningEngine, Scope};

/// A client of an engine, and the engine itself when the command started it.
pub struct Access {
    client: Client,
    // Dropped after the client: the command's own engine stops when the command ends.
    _own_engine: Option<RunningEngine>,
}

impl Access {
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The command's own engine, when no engine was running.
    pub fn own_engine(&self) -> Option<&RunningEngine> {
        self._own_engine.as_ref()
    }
}

/// A client of the running engine (the system service where it is installed, the user's
/// otherwise), if one answers; an error when what answers is
/// not to be trusted (never a silent fall-back to an engine of the command's own).
pub fn running() -> Result<Option<Client>> {
    Ok(Client::running(&remote_service_api::client_socket())?)
}

/// A client of the running engine, or of one started now with `parts`.
pub fn engine(parts: Parts) -> Result<Access> {
    if let Some(client) = running()? {
        return Ok(Access {
            client,
            _own_engine: None,
        });
    }
    // Where the system service is installed, its folders (the installer's entitlement
    // check runs while the service is stopped); otherwise the user's.
    let scope = if remote_service_api::system_service_installed() {
        Scope::System
    } else {
        Scope::User
    };
    let engine = remote_service_engine::start(scope, Listen::Private, parts)?;
    let client = Client::new(engine.socket()).context("cannot reach the command's own engine")?;
    Ok(Access {
        client,
        _own_engine: Some(engine),
    })
}
