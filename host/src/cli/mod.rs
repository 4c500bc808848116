//! The command line: `remote-service status|plugins|licence|config|…`. Every command is a
//! client of an engine through `remote-service-api`: the running one, or, for the commands
//! that work without one, an engine started in this process for the command alone
//! ([`access`]), so that the output is the same either way.

mod access;
mod assistance;
mod config;
mod connection;
mod licence;
mod output;
mod plugins;
mod proxy;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use remote_service_engine::Scope;
use time::Date;

/// Exit code of `entitlement check` when the licence does not cover the release.
pub const NOT_ENTITLED: u8 = 3;

/// Remote Service: keeps this installation connected to the remote service back office,
/// its licence current, and its optional features (plugins) running.
#[derive(Debug, Parser)]
#[command(name = "remote-service", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine without a user interface (the system service passes --system).
    Daemon {
        /// Use the system folders and the system socket instead of the user's.
        #[arg(long)]
        system: bool,
    },
    /// Show the tray light and menu (starts the engine in this process when none runs).
    Tray,
    /// Show the About box: version, serial number, licence and maintenance dates.
    About,
    /// Show the "Remote Service" settings window (brings it to the front when it is open).
    Settings,
    /// Show the connection state, whether Remote Service is enabled, the licence and the
    /// plugins, as the running engine sees them.
    Status {
        #[command(flatten)]
        output: Output,
    },
    /// List the plugins: id, version, plugin API version, state and detail.
    Plugins {
        #[command(flatten)]
        output: Output,
        /// Keep running the plugins and print a line each time something changes
        /// (a licence dropped into the licence folder, a plugin's state).
        #[arg(long)]
        watch: bool,
    },
    /// Show, verify or install the licence.
    #[command(subcommand)]
    Licence(LicenceCommand),
    /// Check what the installed licence entitles to.
    #[command(subcommand)]
    Entitlement(EntitlementCommand),
    /// Show or change the settings (through the running engine, so that a change takes
    /// effect at once; on the settings file and the keyring when none runs).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the connection to the back office step by step (DNS, TCP, TLS, HTTP,
    /// authentication) with timings; exit code 0 only when every step passes.
    TestConnection {
        #[command(flatten)]
        output: Output,
    },
    /// What the product would use to reach a URL: the proxy candidates in order.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// Remote assistance: let the help desk connect through TeamViewer, for a time.
    #[command(subcommand)]
    Assistance(AssistanceCommand),
}

#[derive(Debug, Subcommand)]
enum AssistanceCommand {
    /// Allow the help desk to ask to connect, for a time (through the running engine);
    /// refused with the missing precondition and what to do.
    Allow {
        /// How long, 1 to 168 hours (default: the setting assistance.hours, 72).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=168))]
        hours: Option<u32>,
    },
    /// End the allowance now (and the remote session, if one is on).
    Revoke,
    /// Whether remote assistance is allowed, until when, the TeamViewer ID, the session,
    /// the requests waiting and each precondition.
    Status {
        #[command(flatten)]
        output: Output,
    },
    /// The record: every allowance, revocation, expiry, request, answer and session.
    Log {
        #[command(flatten)]
        output: Output,
    },
    /// Answer a help-desk request (its id is in `assistance status`).
    Answer {
        /// The request.
        request: String,
        /// allow or deny.
        #[arg(value_parser = parse_answer)]
        answer: remote_service_api::Answer,
    },
    /// End the remote session on.
    End,
}

fn parse_answer(text: &str) -> Result<remote_service_api::Answer, String> {
    match text {
        "allow" => Ok(remote_service_api::Answer::Allow),
        "deny" => Ok(remote_service_api::Answer::Deny),
        _ => Err(format!("{text:?}: answer allow or deny")),
    }
}

#[derive(Debug, Subcommand)]
enum ProxyCommand {
    /// The proxy candidates for URL, as the running engine sees them (without one, with
    /// this command's own environment and desktop settings); exit 1 when detection fails.
    Resolve {
        /// The URL, for example https://remote-service.example.com.
        url: String,
        #[command(flatten)]
        output: Output,
    },
    /// Connect to the back office through the proxy in use, step by step with timings
    /// (the proxy, its name, TCP, its authentication, the tunnel, TLS, HTTP, the back
    /// office's authentication): the connection test, which goes the way the connection
    /// goes; exit code 0 only when every step passes.
    Test {
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Every setting with its value, and whether each secret is set.
    Show {
        #[command(flatten)]
        output: Output,
    },
    /// The value of one setting (an empty line when it is not set).
    Get {
        /// The setting, for example `backoffice_url` or `licence.local_folder`.
        key: String,
    },
    /// Change a setting; a bad value is refused with the reason and nothing is written.
    Set {
        /// The setting.
        key: String,
        /// The new value.
        value: String,
    },
    /// Put a setting back to its default.
    Unset {
        /// The setting.
        key: String,
    },
    /// Store a secret in the keyring, read from standard input (never an argument).
    SetSecret {
        /// `verification_code` or `proxy_password`.
        name: String,
    },
    /// Remove a secret from the keyring.
    DeleteSecret {
        /// `verification_code` or `proxy_password`.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum LicenceCommand {
    /// Show the licence in force.
    Show {
        #[command(flatten)]
        output: Output,
    },
    /// Verify a licence file: signature, trusted key and contents.
    Verify {
        /// The licence file.
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Verify a licence file, then install it into the licence folder.
    Install {
        /// The licence file.
        file: PathBuf,
    },
    /// Ask the back office for a newer licence now (the licence updater plugin of the
    /// running engine downloads, verifies and installs it) and print the outcome.
    CheckUpdate,
    /// The folders the latest licence could not be installed in, and why.
    Failed {
        #[command(flatten)]
        output: Output,
    },
    /// Write the licence that could not be installed into DIR, verified, to copy it by
    /// hand into the folder that failed.
    SaveFailed {
        /// The folder to write `<serial>.lic` into.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum EntitlementCommand {
    /// Exit 0 when the installed licence's maintenance covers a release, 3 when not.
    Check {
        /// The release date of the update, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        release_date: Date,
    },
}

#[derive(Debug, Args)]
struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD"))
}

/// Runs the command line and returns the exit code.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let scope = match cli.command {
        Command::Daemon { system: true } => Scope::System,
        _ => Scope::User,
    };
    remote_service_engine::init_logging(scope);
    match cli.command {
        Command::Daemon { .. } => crate::daemon::run(scope),
        Command::Tray => crate::tray::run(),
        Command::About => crate::windows::about::run(&remote_service_api::socket_path(false)),
        Command::Settings => crate::windows::settings::run(&remote_service_api::socket_path(false)),
        Command::Status { output } => status::status(output.json),
        Command::Plugins { output, watch } => plugins::plugins(output.json, watch),
        Command::Licence(LicenceCommand::Show { output }) => licence::show(output.json),
        Command::Licence(LicenceCommand::Verify { file, output }) => {
            licence::verify(&file, output.json)
        }
        Command::Licence(LicenceCommand::Install { file }) => licence::install(&file),
        Command::Licence(LicenceCommand::CheckUpdate) => licence::check_update(),
        Command::Licence(LicenceCommand::Failed { output }) => licence::failed(output.json),
        Command::Licence(LicenceCommand::SaveFailed { dir }) => licence::save_failed(&dir),
        Command::Entitlement(EntitlementCommand::Check { release_date }) => {
            licence::entitlement_check(release_date)
        }
        Command::Config(command) => config::run(command),
        Command::TestConnection { output } => connection::test_connection(output.json),
        Command::Proxy(ProxyCommand::Resolve { url, output }) => proxy::resolve(&url, output.json),
        Command::Proxy(ProxyCommand::Test { output }) => connection::test_connection(output.json),
        Command::Assistance(command) => match command {
            AssistanceCommand::Allow { hours } => assistance::allow(hours),
            AssistanceCommand::Revoke => assistance::revoke(),
            AssistanceCommand::Status { output } => assistance::status(output.json),
            AssistanceCommand::Log { output } => assistance::log(output.json),
            AssistanceCommand::Answer { request, answer } => assistance::answer(&request, answer),
            AssistanceCommand::End => assistance::end(),
        },
    }
}
