//! Serving: the listener (plain TCP on loopback, or rustls with the ring provider), each
//! connection served by hyper with the axum router (an event stream asked for first on a
//! connection written by [`first_request`]), and the housekeeping beside it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::first_request::{self, First, Rewind};
use crate::state::{Backoffice, Peer};
use crate::store::{self, Location, Store};
use crate::{helpdesk, installations};

/// What one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is closed at once (each held event stream is
    /// one).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may stay idle before its next request (slowloris holds connections open
    /// by never finishing them).
    pub header_timeout: Duration,
}

/// How the server is reached.
pub enum Transport {
    /// Plain HTTP, on a loopback address only.
    Plain,
    /// TLS with this certificate and key.
    Tls(Arc<rustls::ServerConfig>),
}

impl Transport {
    /// TLS with the certificate chain and key of these PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Transport> {
        tls_from_files(cert, key).map(Transport::Tls)
    }

    /// TLS with a new self-signed certificate for localhost, written to `cert_out` for
    /// installations to trust.
    pub fn self_signed(cert_out: &Path) -> Result<Transport> {
        self_signed(cert_out).map(Transport::Tls)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn tls_from_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| {
            anyhow!(
                "cannot read certificates from {}: {error:?}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        bail!("{} contains no PEM certificate", cert.display());
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|error| anyhow!("cannot read the private key {}: {error:?}", key.display()))?;
    server_config(chain, key)
}

fn self_signed(cert_out: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot make a self-signed certificate")?;
    std::fs::write(cert_out, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_out.display()))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    server_config(vec![certified.cert.der().clone()], key)
}

/// Raises the soft limit of open files to the hard limit (every held event stream is a
/// socket); the limit then in force, if it is known.
// `rlim_t` is not `u64` on every platform.
#[allow(clippy::unnecessary_cast)]
fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// Descriptors kept for what is not a client's connection (the database's connections,
/// the log, the runtime's own), out of the open-files limit.
const DESCRIPTORS_KEPT: u64 = 200;

/// The connections to take at once: `wanted`, but never so many that the open-files limit
/// (`open_files`) runs out first. At the limit `accept` itself fails and the connections
/// wait in the kernel's queue, unanswered, instead of being closed at once for the client
/// to try another node.
fn connections_allowed(wanted: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => wanted.min(limit.saturating_sub(DESCRIPTORS_KEPT).max(1) as usize),
        None => wanted,
    }
}

/// Serves the back office over the database `db` on `listen` until SIGTERM or SIGINT.
pub fn serve(
    db: &Location,
    listen: SocketAddr,
    transport: Transport,
    heartbeat_interval: Duration,
    assistance_answer_within: Duration,
    limits: Limits,
) -> Result<()> {
    let tls = match transport {
        Transport::Tls(config) => Some(config),
        Transport::Plain if listen.ip().is_loopback() => None,
        Transport::Plain => bail!(
            "plain HTTP is allowed on a loopback address only; {listen} is not one: give --tls-cert and --tls-key"
        ),
    };
    let max_connections = connections_allowed(limits.max_connections, raise_open_files_limit());
    if max_connections < limits.max_connections {
        tracing::warn!(
            "at most {max_connections} connections at once, not {}: the open-files limit allows no more (raise it, LimitNOFILE= in a systemd unit)",
            limits.max_connections
        );
    }
    let state = Arc::new(Backoffice::new(
        db,
        heartbeat_interval,
        assistance_answer_within,
        tls.is_some(),
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        if let Ok(mut recorded) = state.address.lock() {
            *recorded = address.to_string();
        }
        // Its lease first: the streams it takes count as open from the start.
        {
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.renew_lease()).await?;
        }
        let app = helpdesk::routes()
            .merge(installations::routes())
            .with_state(state.clone());
        spawn_housekeeping(state.clone(), db.clone());
        println!(
            "remote-service-backoffice listening on {}://{address}",
            if tls.is_some() { "https" } else { "http" }
        );
        std::io::stdout().flush()?;
        tracing::info!("serving {db} on {address} as node {}", state.node);
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let stop = stop_signal();
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stop => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tracing::warn!(
                    "{max_connections} connections are open: the one from {peer} is closed"
                );
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let acceptor = acceptor.clone();
            // Each connection's state on the heap as the kind it is (`Box::pin`): the task
            // itself would otherwise be as large as the largest kind (a TLS connection),
            // for every held event stream.
            tokio::spawn(async move {
                let _permit = permit;
                match acceptor {
                    Some(acceptor) => {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                Box::pin(serve_connection(stream, app, peer, limits)).await
                            }
                            Ok(Err(error)) => tracing::debug!("TLS handshake failed: {error}"),
                            Err(_) => {}
                        }
                    }
                    None => Box::pin(serve_connection(stream, app, peer, limits)).await,
                }
            });
        }
        tracing::info!("stopping");
        {
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.leave()).await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // Held event streams would keep the runtime's shutdown waiting: leave at once.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Serves one connection: an event stream asked for first on it is written here
/// ([`first_request`]), anything else is hyper's.
async fn serve_connection<IO>(mut io: IO, app: axum::Router, peer: SocketAddr, limits: Limits)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    match first_request::read(&mut io, limits.header_timeout).await {
        First::Nothing => {}
        First::Events(request) => {
            let mut request = *request;
            request.extensions_mut().insert(Peer(peer));
            let Ok(response) = tower_service::Service::call(&mut app.clone(), request).await;
            first_request::write(&mut io, response).await;
        }
        First::Other(read) => {
            // The peer goes into each request's extensions (what `Extension<Peer>` reads),
            // not as a layer: `Router::layer` rebuilds the whole route table, tens of KiB
            // that a held event stream kept for as long as it was open.
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(Peer(peer));
                tower_service::Service::call(&mut app.clone(), request)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let io = TokioIo::new(Rewind::new(read, io));
            // Boxed: otherwise a held stream's future would be as large as hyper's.
            if let Err(error) = Box::pin(builder.serve_connection(io, service)).await {
                tracing::debug!("connection ended: {error}");
            }
        }
    }
}

/// Ends allowances whose time ran out, writes the heartbeats' batch, renews this node's
/// lease, expires silent sessions, and watches for new licences and the other nodes'
/// messages ([`watch`]).
fn spawn_housekeeping(state: Arc<Backoffice>, db: Location) {
    let lapse = state.clone();
    tokio::spawn(async move {
        // At the end of the next allowance (a report wakes it to look again): the page
        // shows an allowance ended at its end, and nothing runs while none is due.
        loop {
            let wait = lapse
                .lapse_allowances()
                .map_or(Duration::from_secs(3600), |until| {
                    // A few milliseconds after: `until` has passed when it looks.
                    Duration::try_from(until - time::OffsetDateTime::now_utc()).unwrap_or_default()
                        + Duration::from_millis(5)
                });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = lapse.allowance_reported.notified() => {}
            }
        }
    });
    // Every tick: the heartbeats' batch is written, this node's lease renewed, and the
    // sessions idle for three intervals end (on whichever node finds them first).
    let ticking = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(ticking.tick());
        loop {
            ticker.tick().await;
            let ticking = ticking.clone();
            let _ = tokio::task::spawn_blocking(move || {
                ticking.renew_lease();
                ticking.expire_sessions();
            })
            .await;
        }
    });
    std::thread::spawn(move || watch(state, db));
}

/// Says a failure to read the database once, then at most every minute while it lasts,
/// and once when it is over: a database that is down must not flood the log.
struct Complaint {
    what: &'static str,
    since: Option<std::time::Instant>,
    said: Option<std::time::Instant>,
}

impl Complaint {
    fn new(what: &'static str) -> Complaint {
        Complaint {
            what,
            since: None,
            said: None,
        }
    }

    fn failed(&mut self, error: &anyhow::Error) {
        let now = std::time::Instant::now();
        self.since.get_or_insert(now);
        if self
            .said
            .is_none_or(|said| now.duration_since(said) >= Duration::from_secs(60))
        {
            tracing::warn!("cannot {}, trying again: {error:#}", self.what);
            self.said = Some(now);
        }
    }

    fn succeeded(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                "can {} again, after {:.1} s",
                self.what,
                since.elapsed().as_secs_f64()
            );
            self.said = None;
        }
    }
}

/// Announces new licences on the streams this node holds, and on PostgreSQL delivers what
/// the other nodes tell (`LISTEN`). On SQLite (one node, `licence issue` another process)
/// it looks every 200 ms whether another connection wrote (`PRAGMA data_version`), as
/// cheap as it gets; on PostgreSQL it waits for notifications, and reads the licence rows
/// it has not seen when one says licences were stored, when its connection was made
/// again (what was sent meanwhile was missed), and after 5 s without any.
fn watch(state: Arc<Backoffice>, db: Location) {
    let mut complaint = Complaint::new("read new licences");
    let mut watcher = loop {
        match Store::open(&db).and_then(|mut watcher| {
            watcher.listen(crate::state::CHANNEL)?;
            Ok(watcher)
        }) {
            Ok(watcher) => break watcher,
            Err(error) => {
                complaint.failed(&error);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    complaint.succeeded();
    let mut seen_version = 0;
    watcher.others_may_have_written(&mut seen_version);
    let mut last_row = store::last_licence_row(&mut watcher).unwrap_or(0);
    let postgres = watcher.kind() == store::Kind::Postgres;
    let mut missed = false;
    loop {
        let mut look = false;
        if postgres {
            match watcher.notifications(Duration::from_secs(5)) {
                Ok(payloads) => {
                    // Five quiet seconds: the rows are read anyway, so that a notification
                    // lost in a reconnection (one sent between the server's restart and
                    // this connection's LISTEN) delays a licence by 5 s, never for good.
                    if payloads.is_empty() {
                        look = true;
                    }
                    for payload in payloads {
                        if state.received(&payload) == Some(crate::state::Message::Licence) {
                            look = true;
                        }
                    }
                }
                Err(error) => {
                    complaint.failed(&error);
                    missed = true;
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            }
            if watcher.take_reconnected() || missed {
                // Notifications sent while it was not connected were lost: whatever they
                // said, the pages list again, and the licences are read.
                missed = false;
                look = true;
                let _ = state.changes.send(());
            }
        } else {
            std::thread::sleep(Duration::from_millis(200));
            look = watcher.others_may_have_written(&mut seen_version);
        }
        if look {
            match state.announce_new_licences(&mut watcher, last_row) {
                Ok(last) => {
                    last_row = last;
                    complaint.succeeded();
                }
                Err(error) => {
                    complaint.failed(&error);
                    missed = true;
                }
            }
        }
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        } else {
            std::future::pending::<()>().await;
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connections taken at once stay below the open-files limit, with room kept for
    /// the node's own descriptors; a limit that is not known changes nothing.
    #[test]
    fn connections_stop_short_of_the_open_files_limit() {
        assert_eq!(connections_allowed(20_000, Some(1_048_576)), 20_000);
        assert_eq!(connections_allowed(20_000, Some(20_000)), 20_000 - 200);
        assert_eq!(connections_allowed(20_000, Some(100)), 1);
        assert_eq!(connections_allowed(20_000, None), 20_000);
    }
}
