//! The command line: `remote-service plugins|licence|entitlement ...`.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::Date;

use crate::engine::{store_config, Engine, EngineEvent};
use crate::licence::{self, LicenceStore, TrustedKeys, VerifiedLicence};
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
    let paths = Paths::per_user()?;
    crate::logging::init(&paths.log_file());
    let settings = Settings::load(&paths.settings_file())?;
    match cli.command {
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

fn plugins(paths: &Paths, settings: &Settings, as_json: bool, watch: bool) -> Result<ExitCode> {
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

/// What `licence show` and `licence verify` print.
#[derive(Debug, Serialize)]
struct LicenceSummary {
    serial_number: String,
    organisation: serde_json::Value,
    product: serde_json::Value,
    licence_id: String,
    sequence: u64,
    issued_at: String,
    licence_expires_at: Option<String>,
    maintenance_through: String,
    features: Vec<serde_json::Value>,
    key_id: String,
    warnings: Vec<String>,
}

impl LicenceSummary {
    fn of(licence: &VerifiedLicence) -> LicenceSummary {
        let payload = &licence.payload;
        LicenceSummary {
            serial_number: payload.serial_number.clone(),
            organisation: json!({"id": payload.organisation.id, "name": payload.organisation.name}),
            product: json!({"id": payload.product.id, "name": payload.product.name}),
            licence_id: payload.licence_id.clone(),
            sequence: payload.sequence,
            issued_at: payload.issued_at.format(&Rfc3339).unwrap_or_default(),
            licence_expires_at: payload
                .licence_expires_at
                .map(|at| at.format(&Rfc3339).unwrap_or_default()),
            maintenance_through: payload.maintenance_through.to_string(),
            features: payload
                .features
                .iter()
                .map(|feature| match feature.count {
                    Some(count) => json!({"code": feature.code, "count": count}),
                    None => json!({"code": feature.code}),
                })
                .collect(),
            key_id: licence.key_id.clone(),
            warnings: licence.warnings.clone(),
        }
    }

    fn text(&self) -> String {
        let features: Vec<String> = self
            .features
            .iter()
            .map(|feature| match feature.get("count") {
                Some(count) => {
                    format!("{} ({count})", feature["code"].as_str().unwrap_or_default())
                }
                None => feature["code"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
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
            self.serial_number,
            self.organisation["name"].as_str().unwrap_or_default(),
            self.organisation["id"].as_str().unwrap_or_default(),
            self.product["name"].as_str().unwrap_or_default(),
            self.product["id"].as_str().unwrap_or_default(),
            self.licence_expires_at
                .as_deref()
                .unwrap_or("never (perpetual licence)"),
            self.maintenance_through,
            if features.is_empty() {
                "none".to_string()
            } else {
                features.join(", ")
            },
            self.sequence,
            self.licence_id,
            self.issued_at,
            self.key_id,
        );
        for warning in &self.warnings {
            text.push_str(&format!("Warning:            {warning}\n"));
        }
        text
    }
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
            summary.text(),
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
                print!("licence {} is valid\n{}", file.display(), summary.text());
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
