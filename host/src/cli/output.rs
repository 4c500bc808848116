//! How the command line prints what the engine answers: the tables and texts, and JSON
//! with `--json`.

use std::io::Write;

use anyhow::Result;
use remote_service_api::{ConfigView, LicenceSummary, PluginInfo, Status};
use serde::Serialize;

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints one event of a watch: a JSON line, or the text `text` makes.
pub fn emit(as_json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        writeln!(out, "{value}")?;
    } else {
        write!(out, "{}", text())?;
    }
    out.flush()?;
    Ok(())
}

/// The plugins as a table: id, version, API, state, detail.
pub fn plugins_table(plugins: &[PluginInfo]) -> String {
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

/// The licence in words, one field a line, as `licence show` and `licence verify` print it.
pub fn licence_text(summary: &LicenceSummary) -> String {
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

/// The status in words, as `remote-service status` prints it.
pub fn status_text(status: &Status) -> String {
    let mut text = format!("Connection:         {}", status.connection.state.label());
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

/// The settings in words, as `config show` prints them: every key (in name order), then
/// the secrets.
pub fn config_text(view: &ConfigView) -> String {
    let mut text = format!("Settings file: {}\n", view.file.display());
    for (key, value) in &view.settings {
        text.push_str(&format!(
            "  {:<30} {}\n",
            key,
            value.clone().unwrap_or_else(|| "(not set)".to_string())
        ));
    }
    text.push_str(&format!("Secrets ({}):\n", view.secret_store));
    for (name, state) in &view.secrets {
        text.push_str(&format!("  {name:<30} {state}\n"));
    }
    text
}
