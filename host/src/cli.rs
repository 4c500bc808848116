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
use crate::api::{self, ApiEvent, ConfigView, LicenceSummary, Light, Status};
use crate::engine::{store_config, Engine, EngineEvent};
use crate::licence::{self, LicenceStore, TrustedKeys};
use crate::paths::Paths;
use crate::plugins::PluginInfo;
use crate::secrets::{Secret, SecretStore};
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
    let system = matches!(cli.command, Command::Daemon { system: true });
    let paths = if system {
        Paths::system()?
    } else {
        Paths::per_user()?
    };
    crate::logging::init(&paths.log_file());
    if let Command::Config(command) = cli.command {
        // The config commands must work on a malformed settings file too: they say what
        // is wrong with it instead of refusing to start.
        return config_command(&paths, command);
    }
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
        Command::Licence(LicenceCommand::CheckUpdate) => licence_check_update(),
        Command::Licence(LicenceCommand::Failed { output }) => licence_failed(&paths, output.json),
        Command::Licence(LicenceCommand::SaveFailed { dir }) => licence_save_failed(&paths, &dir),
        Command::Entitlement(EntitlementCommand::Check { release_date }) => {
            entitlement_check(&paths, &settings, release_date)
        }
        Command::Config(command) => config_command(&paths, command),
        Command::TestConnection { output } => test_connection(&paths, &settings, output.json),
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
                EngineEvent::ConfigChanged => {}
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

fn config_command(paths: &Paths, command: ConfigCommand) -> Result<ExitCode> {
    use crate::api::client::Method;
    if let ConfigCommand::SetSecret { name } = &command {
        check_secret_name(name)?;
    }
    let engine = running_engine();
    match command {
        ConfigCommand::Show { output } => {
            let view = match &engine {
                Some(client) => client.get::<ConfigView>("/v1/config")?,
                None => offline_config_view(paths)?,
            };
            if output.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", config_text(&view));
            }
        }
        ConfigCommand::Get { key } => {
            let value = match &engine {
                Some(client) => {
                    let view = client.get::<ConfigView>("/v1/config")?;
                    crate::config::get(&Settings::default(), &key)?;
                    view.settings.get(&key).cloned().flatten()
                }
                None => crate::config::get(&Settings::load(&paths.settings_file())?, &key)?,
            };
            println!("{}", value.unwrap_or_default());
        }
        ConfigCommand::Set { key, value } => {
            change_setting(paths, engine.as_ref(), &key, Some(&value))?;
            println!("{key} = {value}");
        }
        ConfigCommand::Unset { key } => {
            change_setting(paths, engine.as_ref(), &key, None)?;
            let value = crate::config::get(&Settings::default(), &key)?;
            println!("{key} = {} (the default)", value.unwrap_or_default());
        }
        ConfigCommand::SetSecret { name } => {
            let value = read_secret_from_stdin(&name)?;
            match &engine {
                Some(client) => {
                    client.exchange::<()>(
                        Method::PUT,
                        &format!("/v1/secrets/{name}"),
                        Some(&json!({ "value": value })),
                    )?;
                }
                None => {
                    SecretStore::open(paths).set(secret_of(&name)?, &value)?;
                }
            }
            println!(
                "{name} stored in {}",
                secret_store_name(paths, engine.as_ref())
            );
        }
        ConfigCommand::DeleteSecret { name } => {
            check_secret_name(&name)?;
            match &engine {
                Some(client) => {
                    client.exchange::<()>(Method::DELETE, &format!("/v1/secrets/{name}"), None)?;
                }
                None => SecretStore::open(paths).delete(secret_of(&name)?)?,
            }
            println!("{name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_secret_name(name: &str) -> Result<()> {
    secret_of(name).map(drop)
}

fn secret_of(name: &str) -> Result<Secret> {
    Secret::from_key(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown secret {name:?}; the secrets are: {}",
            crate::config::SECRET_KEYS.join(", ")
        )
    })
}

fn secret_store_name(paths: &Paths, engine: Option<&Client>) -> String {
    match engine {
        Some(client) => client
            .get::<ConfigView>("/v1/config")
            .map(|view| view.secret_store)
            .unwrap_or_else(|_| "the keyring".to_string()),
        None => SecretStore::open(paths).backend(),
    }
}

/// Reads a secret from standard input: one line, without its line break.
fn read_secret_from_stdin(name: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("{name} (input is shown; pipe it in to keep it off the screen): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read standard input")?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        anyhow::bail!("no {name} on standard input; nothing was changed");
    }
    Ok(value)
}

fn change_setting(
    paths: &Paths,
    engine: Option<&Client>,
    key: &str,
    value: Option<&str>,
) -> Result<()> {
    use crate::api::client::Method;
    match engine {
        Some(client) => {
            let path = format!("/v1/config/{key}");
            match value {
                Some(value) => client.exchange::<ConfigView>(
                    Method::PUT,
                    &path,
                    Some(&json!({ "value": value })),
                )?,
                None => client.exchange::<ConfigView>(Method::DELETE, &path, None)?,
            };
        }
        None => {
            let file = paths.settings_file();
            let mut settings = Settings::load(&file)?;
            match value {
                Some(value) => crate::config::set(&mut settings, key, value)?,
                None => crate::config::unset(&mut settings, key)?,
            }
            settings.save(&file)?;
        }
    }
    Ok(())
}

fn offline_config_view(paths: &Paths) -> Result<ConfigView> {
    let settings = Settings::load(&paths.settings_file())?;
    Ok(crate::engine::config_view(
        paths,
        &settings,
        &SecretStore::open(paths),
    ))
}

fn config_text(view: &ConfigView) -> String {
    let mut text = format!("Settings file: {}\n", view.file.display());
    for key in crate::config::KEYS {
        let value = view.settings.get(key.name).cloned().flatten();
        text.push_str(&format!(
            "  {:<30} {}\n",
            key.name,
            value.unwrap_or_else(|| "(not set)".to_string())
        ));
    }
    text.push_str(&format!("Secrets ({}):\n", view.secret_store));
    for (name, state) in &view.secrets {
        text.push_str(&format!("  {name:<30} {state}\n"));
    }
    text
}

fn test_connection(paths: &Paths, settings: &Settings, as_json: bool) -> Result<ExitCode> {
    use crate::api::client::Method;
    use crate::connection::test::TestReport;
    let report: TestReport = match running_engine() {
        Some(client) => client.exchange(Method::POST, "/v1/test-connection", None)?,
        None => {
            let store = open_store(paths, settings);
            let config = crate::engine::connection_config(
                settings,
                &SecretStore::open(paths),
                store.in_force(),
            );
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the network runtime")?
                .block_on(crate::connection::test::test_connection(&config))
        }
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The licence updater's kept state (its settings file).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
struct UpdaterKept {
    #[serde(default)]
    failed: Vec<FailedTarget>,
    #[serde(default)]
    licence: Option<String>,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct FailedTarget {
    folder: String,
    reason: String,
}

fn updater_kept(paths: &Paths) -> Result<UpdaterKept> {
    let file = paths
        .config_dir
        .join("plugins")
        .join("licence-updater.json");
    match fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not the licence updater's state", file.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(UpdaterKept::default()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", file.display())),
    }
}

fn licence_failed(paths: &Paths, as_json: bool) -> Result<ExitCode> {
    let kept = updater_kept(paths)?;
    emit(as_json, json!({ "failed": kept.failed }), || {
        if kept.failed.is_empty() {
            return "No folder failed: the latest licence is installed everywhere.\n".to_string();
        }
        let mut text = "Failed to update licence on:\n".to_string();
        for target in &kept.failed {
            text.push_str(&format!("  {}: {}\n", target.folder, target.reason));
        }
        text.push_str("Save the licence with `remote-service licence save-failed DIR` and copy it there by hand.\n");
        text
    })?;
    Ok(ExitCode::SUCCESS)
}

fn licence_save_failed(paths: &Paths, dir: &std::path::Path) -> Result<ExitCode> {
    let kept = updater_kept(paths)?;
    let Some(text) = kept.licence else {
        eprintln!(
            "no licence is waiting to be copied by hand: every folder has the latest licence"
        );
        return Ok(ExitCode::FAILURE);
    };
    let keys = TrustedKeys::load(&paths.system_dir);
    let licence = licence::verify_licence(text.as_bytes(), &keys)
        .context("the kept licence does not verify; nothing was written")?;
    let name = format!("{}.lic", licence.payload.serial_number);
    crate::atomic_file::write_atomically(
        dir,
        &name,
        text.as_bytes(),
        crate::atomic_file::Access::Shared,
    )
    .with_context(|| format!("cannot write {}", dir.join(&name).display()))?;
    println!(
        "{} written (sequence {}): copy it into {}",
        dir.join(&name).display(),
        licence.payload.sequence,
        kept.failed
            .iter()
            .map(|target| target.folder.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn licence_check_update() -> Result<ExitCode> {
    let Some(client) = running_engine() else {
        eprintln!("Remote Service is not running: the licence updater runs in the engine; start it with `remote-service daemon` or `remote-service tray`");
        return Ok(ExitCode::FAILURE);
    };
    let updater = |client: &Client| -> Result<Option<PluginInfo>> {
        Ok(client
            .get::<Vec<PluginInfo>>("/v1/plugins")?
            .into_iter()
            .find(|plugin| plugin.id == "licence-updater"))
    };
    let before = match updater(&client)? {
        Some(plugin) if plugin.state == crate::plugins::PluginState::Running => plugin.detail,
        Some(plugin) => {
            eprintln!("the licence updater does not run: {}", plugin.detail);
            return Ok(ExitCode::FAILURE);
        }
        None => {
            eprintln!("the licence updater plugin is not installed");
            return Ok(ExitCode::FAILURE);
        }
    };
    client.post("/v1/plugins/licence-updater/menu/check-now/click")?;
    // The plugin checks on its own thread and publishes its status line (which says when
    // it checked) when done.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(plugin) = updater(&client)? {
            if plugin.detail != before {
                println!("{}", plugin.detail);
                return Ok(if plugin.status.as_deref() == Some("ok") {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
        }
    }
    eprintln!("the licence updater did not finish its check within 30 s");
    Ok(ExitCode::FAILURE)
}
