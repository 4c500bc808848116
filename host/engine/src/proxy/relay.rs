//! The relay: a private Unix socket that reqwest connects to instead of the network. Each
//! connection accepted there is opened to the back office through the route's hops in
//! order ([`super::tunnel::open`]) and the bytes are copied both ways; TLS to the back
//! office stays end to end, between reqwest and the back office.
//!
//! The socket lives in a folder of its own, 0700 with an unpredictable name, so that no
//! other user can borrow the proxy credentials through it. Why the last connection could
//! not be opened is kept for the back office client, which shows it instead of reqwest's
//! "connection closed".

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use super::tunnel::{self, Authenticated, Target};
use super::{Hop, ProxyCredentials};
use crate::connection::Failure;

struct Shared {
    target: Target,
    hops: Vec<Hop>,
    credentials: ProxyCredentials,
    tls: Arc<ClientConfig>,
    limit: Duration,
    /// How the proxy let the last connection through.
    authenticated: Mutex<Authenticated>,
    /// Why the last connection could not be opened (cleared by one that could).
    failure: Mutex<Option<Failure>>,
}

/// A running relay; dropping it stops accepting and removes its socket.
pub struct Relay {
    shared: Arc<Shared>,
    socket: PathBuf,
    accepting: JoinHandle<()>,
    _folder: tempfile::TempDir,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Relay")
            .field("target", &self.shared.target)
            .field("hops", &self.shared.hops)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts a relay to `target` through `hops` (tried in order while they cannot be
    /// reached) on the current tokio runtime. `tls` is for `https://` proxies.
    pub fn start(
        target: Target,
        hops: Vec<Hop>,
        credentials: ProxyCredentials,
        tls: Arc<ClientConfig>,
        limit: Duration,
    ) -> std::io::Result<Relay> {
        // 0700 from its creation: tempfile makes folders with the default mode.
        let folder = tempfile::Builder::new()
            .prefix("remote-service-proxy-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        let socket = folder.path().join("relay.sock");
        let listener = UnixListener::bind(&socket)?;
        let shared = Arc::new(Shared {
            target,
            hops,
            credentials,
            tls,
            limit,
            authenticated: Mutex::new(Authenticated::NotAsked),
            failure: Mutex::new(None),
        });
        let accepting = tokio::spawn(accept(listener, shared.clone()));
        Ok(Relay {
            shared,
            socket,
            accepting,
            _folder: folder,
        })
    }

    /// The socket reqwest connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Why the last connection could not be opened, if it could not.
    pub fn failure(&self) -> Option<Failure> {
        self.shared.failure.lock().ok()?.clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut local, _)) = listener.accept().await else {
            // Out of file descriptors, for example: the next connection may work.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            match open(&shared).await {
                Ok(mut upstream) => {
                    let _ = tokio::io::copy_bidirectional(&mut local, &mut upstream).await;
                }
                Err(failure) => {
                    tracing::info!("no connection through the proxy: {failure}");
                    if let Ok(mut last) = shared.failure.lock() {
                        *last = Some(failure);
                    }
                    // Dropping `local` tells reqwest; it then asks for the failure.
                }
            }
        });
    }
}

/// Opens a connection through the first hop that can be reached.
async fn open(shared: &Shared) -> Result<tunnel::Stream, Failure> {
    let known = shared
        .authenticated
        .lock()
        .map(|known| *known)
        .unwrap_or_default();
    let mut last = None;
    for hop in &shared.hops {
        match tunnel::open(
            hop,
            &shared.target,
            &shared.credentials,
            &shared.tls,
            shared.limit,
            known,
        )
        .await
        {
            Ok((stream, authenticated)) => {
                if let Ok(mut known) = shared.authenticated.lock() {
                    *known = authenticated;
                }
                if let Ok(mut failure) = shared.failure.lock() {
                    *failure = None;
                }
                return Ok(stream);
            }
            // The next candidate only when this one is not there: a proxy that answered
            // and refused has the last word.
            Err(failure) if failure.kind == crate::connection::FailureKind::Unreachable => {
                last = Some(failure)
            }
            Err(failure) => return Err(failure),
        }
    }
    Err(last
        .unwrap_or_else(|| Failure::refused("no proxy candidate to connect through".to_string())))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_relay_listens_in_a_folder_only_its_user_can_enter() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tls = crate::connection::tls::client_config(None).unwrap();
        let relay = runtime.block_on(async {
            Relay::start(
                Target {
                    host: "backoffice.example.com".into(),
                    port: 443,
                },
                vec![Hop::Direct],
                ProxyCredentials::default(),
                Arc::new(tls),
                Duration::from_secs(1),
            )
            .unwrap()
        });
        let folder = relay.socket().parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", folder.display());
        drop(relay);
        assert!(!folder.exists(), "the folder goes with the relay");
    }
}
