//! The command line: `remote-service status|plugins|licence|config|…`. Every command is a
//! client of an engine through `remote-service-api`: the running one, or, for the commands
//! that work without one, an engine started in this process for the command alone
//! ([`access`]), so that the output is the same either way.

mod access;
mod args;
mod assistance;
mod config;
mod connection;
mod licence;
mod output;
mod plugins;
mod proxy;
mod status;

use std::process::ExitCode;

use anyhow::Result;
use args::{
    AnswerArg, AssistanceCommand, Cli, Command, ConfigCommand, EntitlementCommand, LicenceCommand,
    ProxyCommand,
};
use clap::{CommandFactory, FromArgMatches};
use remote_service_engine::Scope;

/// The version and the release date, as `--version` and the About box say them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (released ",
    env!("REMOTE_SERVICE_RELEASE_DATE"),
    ")"
);

/// Exit code of `entitlement check` when the licence does not cover the release.
pub const NOT_ENTITLED: u8 = 3;

/// Runs the command line and returns the exit code.
pub fn run() -> Result<ExitCode> {
    // `--version` names the release date stamped at build time (`build.rs`).
    let matches = Cli::command().version(VERSION).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let scope = match cli.command {
        Command::Daemon { system: true } => Scope::System,
        _ => Scope::User,
    };
    remote_service_engine::init_logging(scope);
    match cli.command {
        Command::Daemon { .. } => crate::daemon::run(scope),
        Command::Tray => crate::tray::run(),
        Command::About => crate::windows::about::run(&remote_service_api::client_socket()),
        Command::Settings => crate::windows::settings::run(&remote_service_api::client_socket()),
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
            AssistanceCommand::Answer { request, answer } => assistance::answer(
                &request,
                match answer {
                    AnswerArg::Allow => remote_service_api::Answer::Allow,
                    AnswerArg::Deny => remote_service_api::Answer::Deny,
                },
            ),
            AssistanceCommand::End => assistance::end(),
        },
    }
}
