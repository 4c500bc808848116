//! The command line: `remote-service plugins|licence|entitlement ...`.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use time::Date;

use crate::api::client::{Client, ClientError};
use crate::api::server::Audience;
use crate::api::{self, ApiEvent, LicenceSummary, Light, Status};
use crate::engine::{store_config, Engine, EngineEvent};
use crate::licence::{self, LicenceStore, TrustedKeys};
use crate::paths::Paths;
use crate::plugins::PluginInfo;
use crate::settings::Settings;

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
    let system = matches!(cli.command, Command::Daemon { system: true });
    let paths = if system {
        Paths::system()?
    } else {
        Paths::per_user()?
    };
    crate::logging::init(&paths.log_file());
    let settings = Settings::load(&paths.settings_file())?;
    match cli.command {
        Command::Daemon { system } => crate::daemon::run(
            &paths,
            &settings,
            &api::socket_path(system)?,
            if system {
                Audience::System
            } else {
                Audience::User
            },
        ),
        Command::Tray => crate::tray::run(&paths, &settings),
        Command::About => crate::windows::about::run(&api::socket_path(false)?),
        Command::Status { output } => status(output.json),
        Command::Plugins { output, watch } => plugins(&paths, &settings, output.json, watch),
        Command::Licence(LicenceCommand::Show { output }) => {
            licence_show(&paths, &settings, output.json)
        }
        Command::Licence(LicenceCommand::Verify { file, output }) => {
            licence_verify(&paths, &file, output.json)
        }
        Command::Licence(LicenceCommand::Install { file }) => {
            licence_install(&paths, &settings, &file)
        }
        Command::Entitlement(EntitlementCommand::Check { release_date }) => {
            entitlement_check(&paths, &settings, release_date)
        }
    }
}

fn open_store(paths: &Paths, settings: &Settings) -> LicenceStore {
    let mut store = LicenceStore::open(store_config(paths, settings));
    let outcome = store.rescan();
    for refusal in &outcome.refused {
        eprintln!(
            "licence file {} refused: {}",
            refusal.path.display(),
            refusal.reason
        );
    }
    store
}

/// A client of the per-user engine, when one runs.
fn running_engine() -> Option<Client> {
    let client = Client::new(&api::socket_path(false).ok()?).ok()?;
    client.get::<Status>("/v1/status").is_ok().then_some(client)
}

fn status(as_json: bool) -> Result<ExitCode> {
    let client = Client::new(&api::socket_path(false)?)?;
    match client.get::<Status>("/v1/status") {
        Ok(status) => {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status_text(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ ClientError::NotRunning { .. }) => {
            if as_json {
                let not_running = json!({
                    "running": false,
                    "connection": {"state": "grey", "reason": "Remote Service is not running"},
                    "error": error.to_string(),
                });
                println!("{}", serde_json::to_string_pretty(&not_running)?);
            }
            eprintln!("{error}; start it with `remote-service daemon` or `remote-service tray`");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}

fn status_text(status: &Status) -> String {
    let light = match status.connection.state {
        Light::Green => "connected (green)",
        Light::Orange => "not connected (orange)",
        Light::Grey => "not connected (grey)",
    };
    let mut text = format!("Connection:         {light}");
    if let Some(reason) = &status.connection.reason {
        text.push_str(&format!(": {reason}"));
    }
    text.push_str(&format!(
        "\nRemote Service:     {}\n",
        if status.enabled {
            "enabled"
        } else {
            "disabled"
        }
    ));
    match &status.licence {
        Some(licence) => text.push_str(&format!(
            "Licence:            serial {}, sequence {}, maintenance until {}, features: {}\n",
            licence.serial_number,
            licence.sequence,
            licence.maintenance_through,
            licence.features_text()
        )),
        None => text.push_str(&format!(
            "Licence:            none installed in {}\n",
            status.licence_folder.display()
        )),
    }
    if let Some(problem) = &status.plugin_folder_problem {
        text.push_str(&format!("Plugin folder:      {problem}\n"));
    }
    text.push_str("Plugins:\n");
    for line in plugins_table(&status.plugins).lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

fn plugins(paths: &Paths, settings: &Settings, as_json: bool, watch: bool) -> Result<ExitCode> {
    if let Some(client) = running_engine() {
        return plugins_of_running_engine(&client, as_json, watch);
    }
    let mut engine = Engine::open(paths, settings)?;
    if let Some(problem) = engine.plugin_folder_problem() {
        eprintln!("{problem}");
    }
    if !watch {
        print_plugins(&engine.plugins(), as_json)?;
        return Ok(ExitCode::SUCCESS);
    }
    engine.watch_licence_folder()?;
    emit(
        as_json,
        json!({"event": "plugins", "plugins": engine.plugins()}),
        || plugins_table(&engine.plugins()),
    )?;
    loop {
        for event in engine.next_events() {
            match event {
                EngineEvent::PluginsChanged => emit(
                    as_json,
                    json!({"event": "plugins", "plugins": engine.plugins()}),
                    || plugins_table(&engine.plugins()),
                )?,
                EngineEvent::LicenceChanged => {
                    let summary = engine.licence().map(LicenceSummary::of);
                    emit(
                        as_json,
                        json!({"event": "licence-changed", "licence": summary}),
                        || match &summary {
                            Some(summary) => format!(
                                "licence now in force: serial {}, sequence {}\n",
                                summary.serial_number, summary.sequence
                            ),
                            None => "no licence in force\n".to_string(),
                        },
                    )?
                }
                EngineEvent::LicenceRefused(refusal) => emit(
                    as_json,
                    json!({"event": "licence-refused", "path": refusal.path, "reason": refusal.reason}),
                    || {
                        format!(
                            "licence file {} refused: {}\n",
                            refusal.path.display(),
                            refusal.reason
                        )
                    },
                )?,
                EngineEvent::LicenceWarning(warning) => emit(
                    as_json,
                    json!({"event": "licence-warning", "warning": warning}),
                    || format!("licence warning: {warning}\n"),
                )?,
                EngineEvent::Notice { plugin_id, notice } => emit(
                    as_json,
                    json!({"event": "notice", "plugin": plugin_id, "summary": notice.summary.as_str(), "body": notice.body.as_str()}),
                    || {
                        format!(
                            "notice from {plugin_id}: {}: {}\n",
                            notice.summary, notice.body
                        )
                    },
                )?,
            }
        }
    }
}

/// `plugins` answered by the running engine, which is what runs.
fn plugins_of_running_engine(client: &Client, as_json: bool, watch: bool) -> Result<ExitCode> {
    if !watch {
        print_plugins(&client.get::<Vec<PluginInfo>>("/v1/plugins")?, as_json)?;
        return Ok(ExitCode::SUCCESS);
    }
    for event in client.events()? {
        match event? {
            ApiEvent::Status { status } => emit(
                as_json,
                json!({"event": "plugins", "plugins": status.plugins}),
                || plugins_table(&status.plugins),
            )?,
            ApiEvent::LicenceRefused { path, reason } => emit(
                as_json,
                json!({"event": "licence-refused", "path": path, "reason": reason}),
                || format!("licence file {} refused: {reason}\n", path.display()),
            )?,
            _ => {}
        }
    }
    eprintln!("the engine stopped");
    Ok(ExitCode::FAILURE)
}

/// Prints one event: a JSON line, or the text `text` makes.
fn emit(as_json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{value}")?;
    } else {
        write!(out, "{}", text())?;
    }
    out.flush()?;
    Ok(())
}

fn print_plugins(plugins: &[PluginInfo], as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(plugins)?);
    } else {
        print!("{}", plugins_table(plugins));
    }
    Ok(())
}

fn plugins_table(plugins: &[PluginInfo]) -> String {
    if plugins.is_empty() {
        return "no plugins found\n".to_string();
    }
    let rows: Vec<[&str; 5]> = plugins
        .iter()
        .map(|p| {
            [
                p.id.as_str(),
                p.version.as_str(),
                p.api_version.as_str(),
                p.state.as_str(),
                p.detail.as_str(),
            ]
        })
        .collect();
    let header = ["ID", "VERSION", "API", "STATE", "DETAIL"];
    let widths: Vec<usize> = (0..4)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].len())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        for column in 0..4 {
            table.push_str(&format!("{:width$}  ", row[column], width = widths[column]));
        }
        // A multi-line detail (an ABI report) is indented under the row.
        let mut detail_lines = row[4].lines();
        table.push_str(detail_lines.next().unwrap_or(""));
        table.push('\n');
        for line in detail_lines {
            table.push_str(&format!("    {line}\n"));
        }
    }
    table
}

/// The licence in words, one field a line, as `licence show` and `status` print it.
fn licence_text(summary: &LicenceSummary) -> String {
    let mut text = format!(
        "Serial number:      {}\n\
         Organisation:       {} ({})\n\
         Product:            {} ({})\n\
         Licence expires:    {}\n\
         Maintenance until:  {}\n\
         Features:           {}\n\
         Sequence:           {}\n\
         Licence id:         {}\n\
         Issued at:          {}\n\
         Signed with key:    {}\n",
        summary.serial_number,
        summary.organisation.name,
        summary.organisation.id,
        summary.product.name,
        summary.product.id,
        summary
            .licence_expires_at
            .as_deref()
            .unwrap_or("never (perpetual licence)"),
        summary.maintenance_through,
        summary.features_text(),
        summary.sequence,
        summary.licence_id,
        summary.issued_at,
        summary.key_id,
    );
    for warning in &summary.warnings {
        text.push_str(&format!("Warning:            {warning}\n"));
    }
    text
}

fn licence_show(paths: &Paths, settings: &Settings, as_json: bool) -> Result<ExitCode> {
    let store = open_store(paths, settings);
    let Some(licence) = store.in_force() else {
        eprintln!(
            "no licence is installed: none in force and no valid licence in {}",
            store.folder().display()
        );
        return Ok(ExitCode::FAILURE);
    };
    let summary = LicenceSummary::of(licence);
    if as_json {
        let mut value = serde_json::to_value(&summary)?;
        value["folder"] = json!(store.folder());
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{}Licence folder:     {}",
            licence_text(&summary),
            store.folder().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn licence_verify(paths: &Paths, file: &PathBuf, as_json: bool) -> Result<ExitCode> {
    let bytes =
        fs::read(file).with_context(|| format!("cannot read licence file {}", file.display()))?;
    let keys = TrustedKeys::load(&paths.system_dir);
    match licence::verify_licence(&bytes, &keys) {
        Ok(licence) => {
            let summary = LicenceSummary::of(&licence);
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"valid": true, "licence": summary}))?
                );
            } else {
                print!(
                    "licence {} is valid\n{}",
                    file.display(),
                    licence_text(&summary)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"valid": false, "reason": error.to_string()})
                    )?
                );
            } else {
                eprintln!("licence {} is not valid: {error}", file.display());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn licence_install(paths: &Paths, settings: &Settings, file: &PathBuf) -> Result<ExitCode> {
    let bytes =
        fs::read(file).with_context(|| format!("cannot read licence file {}", file.display()))?;
    let mut store = open_store(paths, settings);
    match store.install(&bytes) {
        Ok(licence::InstallOutcome::Installed { path }) => {
            let licence = store
                .in_force()
                .context("the installed licence is not in force")?;
            println!(
                "installed licence for serial {} (sequence {}) as {}",
                licence.payload.serial_number,
                licence.payload.sequence,
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(licence::InstallOutcome::AlreadyInForce { path }) => {
            println!("this licence is already installed as {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("licence {} not installed: {error}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn entitlement_check(paths: &Paths, settings: &Settings, release_date: Date) -> Result<ExitCode> {
    let store = open_store(paths, settings);
    let Some(licence) = store.in_force() else {
        eprintln!(
            "not entitled: no valid licence is installed in {}, so no maintenance covers the release of {release_date}",
            store.folder().display()
        );
        return Ok(ExitCode::from(NOT_ENTITLED));
    };
    match licence::check_entitlement(licence, release_date) {
        Ok(()) => {
            println!(
                "entitled: maintenance through {} covers the release of {release_date}",
                licence.payload.maintenance_through
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(not_entitled) => {
            eprintln!("not entitled: {not_entitled}");
            Ok(ExitCode::from(NOT_ENTITLED))
        }
    }
}
