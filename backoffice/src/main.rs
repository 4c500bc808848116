//! `remote-service-backoffice`: the reference remote service back office (`serve`) and its
//! administration commands. The protocol is in `docs/protocol.md`.

mod helpdesk;
mod server;
mod signing;
mod store;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use clap::{Parser, Subcommand};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use server::Backoffice;

/// Whether the server speaks TLS (for the help desk's `Secure` cookie).
pub static TLS: OnceLock<bool> = OnceLock::new();

/// The reference remote service back office.
#[derive(Debug, Parser)]
#[command(name = "remote-service-backoffice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Db {
    /// The SQLite database (created when missing).
    #[arg(long, env = "REMOTE_SERVICE_BACKOFFICE_DB")]
    db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the back office.
    Serve {
        #[command(flatten)]
        db: Db,
        /// The address to listen on; plain HTTP only on a loopback address.
        #[arg(long)]
        listen: SocketAddr,
        /// The certificate chain (PEM).
        #[arg(long, requires = "tls_key", conflicts_with = "dev_self_signed")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Make a self-signed certificate for localhost, 127.0.0.1 and ::1 and write it
        /// (PEM) to this file, for installations to trust.
        #[arg(long, value_name = "CERT_OUT")]
        dev_self_signed: Option<PathBuf>,
        /// Seconds between an installation's heartbeats.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        heartbeat_interval: u64,
    },
    /// Service organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Serial numbers.
    #[command(subcommand)]
    Serial(SerialCommand),
    /// Help-desk accounts.
    #[command(subcommand)]
    Helpdesk(HelpdeskCommand),
    /// Licence signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Licences.
    #[command(subcommand)]
    Licence(LicenceCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Add a service organisation; its verification code is read from standard input.
    Add {
        /// The service organisation ID.
        id: String,
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
enum SerialCommand {
    /// Register serial numbers with an organisation (all or none).
    Add {
        /// The serial numbers.
        #[arg(required = true, num_args = 1..)]
        serials: Vec<String>,
        /// The organisation.
        #[arg(long)]
        org: String,
        /// The product's id.
        #[arg(long, default_value = "prismadirect")]
        product_id: String,
        /// The product's name.
        #[arg(long, default_value = "PRISMAdirect")]
        product_name: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
enum HelpdeskCommand {
    /// Add a help-desk account; its password is read from standard input.
    Add {
        /// The user name.
        user: String,
        /// The organisation whose installations it sees.
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a minisign key pair: DIR/licence.pub and DIR/licence.key (0600).
    Generate {
        /// The folder.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LicenceCommand {
    /// Sign the next licence of a serial number, store it, announce it to the installation
    /// and write it to standard output.
    Issue {
        /// The serial number.
        serial: String,
        /// The options: CODE or CODE=COUNT, separated by commas.
        #[arg(long, value_parser = signing_features)]
        features: Features,
        /// The last day of maintenance (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date)]
        maintenance_through: Date,
        /// When the licence ends (RFC 3339); perpetual when absent.
        #[arg(long, value_parser = parse_time)]
        expires: Option<OffsetDateTime>,
        /// The minisign secret key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        db: Db,
    },
    /// What the installation of a serial number reported of its licence installs, one JSON
    /// object per line (licence, folder, ok or the error, when), oldest first.
    Reports {
        /// The serial number.
        serial: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Clone)]
struct Features(Vec<signing::Feature>);

fn signing_features(text: &str) -> Result<Features, String> {
    signing::parse_features(text).map(Features)
}

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD"))
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (2027-12-31T23:59:59Z)"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REMOTE_SERVICE_BACKOFFICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("remote-service-backoffice: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            tls_cert,
            tls_key,
            dev_self_signed,
            heartbeat_interval,
        } => {
            let tls = match (tls_cert, tls_key, dev_self_signed) {
                (Some(cert), Some(key), None) => Some(tls_from_files(&cert, &key)?),
                (None, None, Some(cert_out)) => Some(self_signed(&cert_out)?),
                _ => None,
            };
            if tls.is_none() && !listen.ip().is_loopback() {
                bail!(
                    "plain HTTP is allowed on a loopback address only; {listen} is not one: give --tls-cert and --tls-key"
                );
            }
            serve(&db.db, listen, tls, Duration::from_secs(heartbeat_interval))
        }
        Command::Org(OrgCommand::Add { id, name, db }) => {
            check_identifier("organisation ID", &id)?;
            let code = read_secret("verification code")?;
            let hash = hash_secret(&code)?;
            store::add_organisation(&store::open(&db.db)?, &id, &name, &hash)?;
            println!("organisation {id} added");
            Ok(())
        }
        Command::Serial(SerialCommand::Add {
            serials,
            org,
            product_id,
            product_name,
            db,
        }) => {
            for serial in &serials {
                check_identifier("serial number", serial)?;
            }
            let connection = store::open(&db.db)?;
            // One transaction: a refused serial number leaves none of them registered.
            let transaction = connection.unchecked_transaction()?;
            for serial in &serials {
                store::add_serial(
                    &transaction,
                    &store::Serial {
                        serial: serial.clone(),
                        organisation_id: org.clone(),
                        product_id: product_id.clone(),
                        product_name: product_name.clone(),
                    },
                )?;
            }
            transaction.commit()?;
            match serials.as_slice() {
                [serial] => println!("serial number {serial} registered with {org}"),
                _ => println!("{} serial numbers registered with {org}", serials.len()),
            }
            Ok(())
        }
        Command::Helpdesk(HelpdeskCommand::Add { user, org, db }) => {
            check_identifier("user name", &user)?;
            let password = read_secret("password")?;
            let hash = hash_secret(&password)?;
            store::add_helpdesk_user(&store::open(&db.db)?, &user, &org, &hash)?;
            println!("help-desk account {user} added for {org}");
            Ok(())
        }
        Command::Keys(KeysCommand::Generate { out }) => {
            let (public, secret) = signing::generate_keys(&out)?;
            println!(
                "public key {} (installations trust it), secret key {} (keep it safe)",
                public.display(),
                secret.display()
            );
            Ok(())
        }
        Command::Licence(LicenceCommand::Reports { serial, db }) => {
            for report in store::install_reports(&store::open(&db.db)?, &serial)? {
                println!("{report}");
            }
            Ok(())
        }
        Command::Licence(LicenceCommand::Issue {
            serial,
            features,
            maintenance_through,
            expires,
            key,
            db,
        }) => {
            let issued = signing::issue_licence(
                &store::open(&db.db)?,
                &serial,
                &signing::LicenceTerms {
                    features: features.0,
                    maintenance_through,
                    expires,
                },
                &key,
            )?;
            eprintln!(
                "licence {} (sequence {}) issued for {serial}",
                issued.licence_id, issued.sequence
            );
            print!("{}", issued.text);
            std::io::stdout().flush()?;
            Ok(())
        }
    }
}

fn check_identifier(what: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value.len() > 128
        || value.chars().any(|character| {
            character.is_whitespace() || character.is_control() || character == '/'
        })
    {
        bail!("{what} {value:?} must be 1 to 128 characters without spaces or '/'");
    }
    Ok(())
}

/// One line of standard input without its line break; never echoed, never logged.
fn read_secret(what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("no {what} on standard input; nothing was changed");
    }
    Ok(value)
}

fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|error| anyhow!("cannot hash: {error}"))?
        .to_string())
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

/// Raises the soft limit of open files to the hard limit: every held event stream is a
/// socket.
fn raise_open_files_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn serve(
    db: &Path,
    listen: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    heartbeat_interval: Duration,
) -> Result<()> {
    raise_open_files_limit();
    let _ = TLS.set(tls.is_some());
    let state = Arc::new(Backoffice::new(db, heartbeat_interval)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let app = helpdesk::routes()
            .merge(server::routes())
            .with_state(state.clone());
        spawn_housekeeping(state.clone(), db.to_path_buf());
        println!(
            "remote-service-backoffice listening on {}://{address}",
            if tls.is_some() { "https" } else { "http" }
        );
        std::io::stdout().flush()?;
        tracing::info!("serving {} on {address}", db.display());
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let stop = stop_signal();
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stop => break,
            };
            let (stream, _) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper::server::conn::http1::Builder::new();
                let served = match acceptor {
                    Some(acceptor) => {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                            }
                            Ok(Err(error)) => {
                                tracing::debug!("TLS handshake failed: {error}");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                    None => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(error) = served {
                    tracing::debug!("connection ended: {error}");
                }
            });
        }
        tracing::info!("stopping");
        state.save_last_seen();
        Ok::<_, anyhow::Error>(())
    })?;
    // Held event streams would keep the runtime's shutdown waiting: leave at once.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Expires silent sessions and announces licences that `licence issue` (another process)
/// stored: it polls SQLite's `data_version`, which changes when another connection writes.
fn spawn_housekeeping(state: Arc<Backoffice>, db_path: PathBuf) {
    let expiry = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(expiry.heartbeat_interval / 2);
        loop {
            ticker.tick().await;
            let expiry = expiry.clone();
            let _ = tokio::task::spawn_blocking(move || expiry.expire_sessions()).await;
        }
    });
    let saver = state.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(30));
        loop {
            ticker.tick().await;
            let saver = saver.clone();
            let _ = tokio::task::spawn_blocking(move || saver.save_last_seen()).await;
        }
    });
    tokio::task::spawn_blocking(move || {
        let watcher = match store::open(&db_path) {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::error!("cannot watch the database for new licences: {error:#}");
                return;
            }
        };
        let version = |connection: &rusqlite::Connection| -> i64 {
            connection
                .query_row("PRAGMA data_version", [], |row| row.get(0))
                .unwrap_or(0)
        };
        let mut seen_version = version(&watcher);
        let mut last_row = store::last_licence_row(&watcher).unwrap_or(0);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = version(&watcher);
            if now != seen_version {
                seen_version = now;
                last_row = state.announce_new_licences(last_row);
            }
        }
    });
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

    #[test]
    fn identifiers() {
        for good in ["ORG-DEMO", "RS-000001", "anna", "a.b_c"] {
            assert!(check_identifier("serial number", good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("RS 1", "space"),
            ("a/b", "slash"),
            ("a\tb", "tab"),
        ] {
            let error = check_identifier("serial number", bad).expect_err(why);
            assert_eq!(
                error.to_string(),
                format!("serial number {bad:?} must be 1 to 128 characters without spaces or '/'")
            );
        }
        assert!(check_identifier("user name", &"x".repeat(129)).is_err());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            parse_date("2027-12-31").unwrap(),
            time::macros::date!(2027 - 12 - 31)
        );
        assert_eq!(
            parse_date("31.12.2027").unwrap_err(),
            "\"31.12.2027\" is not a date of the form YYYY-MM-DD"
        );
        assert!(parse_date("2027-02-30").is_err());
        assert_eq!(
            parse_time("2027-11-23T10:00:00+01:00").unwrap(),
            time::macros::datetime!(2027-11-23 09:00:00 UTC)
        );
        assert!(parse_time("2027-11-23").unwrap_err().contains("RFC 3339"));
    }
}
