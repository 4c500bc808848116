//! The command line's words: its commands, options and help, with clap. Nothing else: the
//! build script includes this file too, to write the man page and the shell completions
//! from it (`build.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use time::Date;

/// Remote Service: keeps this installation connected to the remote service back office,
/// its licence current, and its optional features (plugins) running.
#[derive(Debug, Parser)]
#[command(name = "remote-service", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub enum AssistanceCommand {
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
        answer: AnswerArg,
    },
    /// End the remote session on.
    End,
}

/// The answer to a help-desk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnswerArg {
    /// Let the help desk connect.
    Allow,
    /// Refuse.
    Deny,
}

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
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
pub enum ConfigCommand {
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
pub enum LicenceCommand {
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
pub enum EntitlementCommand {
    /// Exit 0 when the installed licence's maintenance covers a release, 3 when not.
    Check {
        /// The release date of the update, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        release_date: Date,
    },
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD"))
}
