//! The command line: `serve` and the administration commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::listener::{self, Transport};
use crate::store::Location;
use crate::{admin, signing};

/// The reference remote service back office.
#[derive(Debug, Parser)]
#[command(name = "remote-service-backoffice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Db {
    /// The database: a SQLite file (PATH or sqlite:PATH, created when missing) or a
    /// PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE). Its schema is
    /// brought up to date first.
    // The environment's value is never shown in the help: it may hold a password.
    #[arg(
        long,
        env = "REMOTE_SERVICE_BACKOFFICE_DB",
        hide_env_values = true,
        value_name = "FILE_OR_URL"
    )]
    db: Location,
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
        /// Seconds an installation waits for its user's answer to an assistance request
        /// before it answers no-answer (it is told so with each request).
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=300))]
        assistance_answer_within: u64,
        /// Connections open at once (each installation's event stream is one); more are
        /// closed at once.
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_connections: u64,
        /// Seconds a client may take to send a request's headers, or keep a connection idle.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        header_timeout: u64,
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
    /// Move a SQLite back office's data whole into an empty PostgreSQL database: its
    /// schema is brought up to date, then everything is copied in one transaction (a
    /// failure leaves it empty), and the counts are printed. The SQLite file is only read.
    Migrate {
        /// The SQLite back office (PATH or sqlite:PATH); opened read-only.
        #[arg(long, value_name = "FILE")]
        from: Location,
        /// The empty PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE).
        // The environment's value is never shown in the help: it may hold a password.
        #[arg(
            long,
            env = "REMOTE_SERVICE_BACKOFFICE_DB",
            hide_env_values = true,
            value_name = "URL"
        )]
        to: Location,
    },
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

/// Runs the command line.
pub fn main() -> ExitCode {
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
            assistance_answer_within,
            max_connections,
            header_timeout,
        } => {
            let transport = match (tls_cert, tls_key, dev_self_signed) {
                (Some(cert), Some(key), None) => Transport::from_files(&cert, &key)?,
                (None, None, Some(cert_out)) => Transport::self_signed(&cert_out)?,
                _ => Transport::Plain,
            };
            listener::serve(
                &db.db,
                listen,
                transport,
                Duration::from_secs(heartbeat_interval),
                Duration::from_secs(assistance_answer_within),
                listener::Limits {
                    max_connections: max_connections as usize,
                    header_timeout: Duration::from_secs(header_timeout),
                },
            )
        }
        Command::Org(OrgCommand::Add { id, name, db }) => {
            admin::add_organisation(&db.db, &id, &name)
        }
        Command::Serial(SerialCommand::Add {
            serials,
            org,
            product_id,
            product_name,
            db,
        }) => admin::add_serials(&db.db, &serials, &org, &product_id, &product_name),
        Command::Helpdesk(HelpdeskCommand::Add { user, org, db }) => {
            admin::add_helpdesk_user(&db.db, &user, &org)
        }
        Command::Keys(KeysCommand::Generate { out }) => admin::generate_keys(&out),
        Command::Migrate { from, to } => admin::migrate(&from, &to),
        Command::Licence(LicenceCommand::Reports { serial, db }) => {
            admin::licence_reports(&db.db, &serial)
        }
        Command::Licence(LicenceCommand::Issue {
            serial,
            features,
            maintenance_through,
            expires,
            key,
            db,
        }) => admin::issue_licence(
            &db.db,
            &serial,
            &signing::LicenceTerms {
                features: features.0,
                maintenance_through,
                expires,
            },
            &key,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
