//! `remote-service about`: the About box of the documents, with the version, the serial
//! number, and the licence and maintenance dates.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use eframe::egui;

use remote_service_api::{Client, Status};

/// The window's title; panels and window lists show it.
pub const TITLE: &str = "About Remote Service";

/// What the About box shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AboutData {
    /// The program's version.
    pub version: String,
    /// Label and value rows.
    pub rows: Vec<(String, String)>,
}

impl AboutData {
    /// The About data from the engine's status, or a row saying the engine does not run.
    pub fn from_status(status: Option<&Status>) -> AboutData {
        let mut rows = Vec::new();
        match status {
            None => rows.push(("Remote Service".into(), "not running".into())),
            Some(status) => match &status.licence {
                None => rows.push(("Licence".into(), "none installed".into())),
                Some(licence) => {
                    rows.push(("Serial number".into(), licence.serial_number.clone()));
                    rows.push(("Organisation".into(), licence.organisation.name.clone()));
                    rows.push((
                        "Licence expires".into(),
                        licence
                            .licence_expires_at
                            .clone()
                            .unwrap_or_else(|| "never (perpetual licence)".into()),
                    ));
                    rows.push((
                        "Maintenance until".into(),
                        licence.maintenance_through.clone(),
                    ));
                    rows.push(("Features".into(), licence.features_text()));
                    // An expired licence, a clock behind the licence's issue: said here too.
                    for warning in &licence.warnings {
                        rows.push(("Warning".into(), warning.clone()));
                    }
                }
            },
        }
        AboutData {
            version: env!("CARGO_PKG_VERSION").to_string(),
            rows,
        }
    }
}

/// Draws the About box; returns true when the user clicked Close.
pub fn about_ui(ui: &mut egui::Ui, data: &AboutData) -> bool {
    ui.heading("Remote Service");
    ui.label(format!("Version {}", data.version));
    ui.add_space(8.0);
    egui::Grid::new("about")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            for (label, value) in &data.rows {
                ui.label(format!("{label}:"));
                ui.label(value);
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    ui.button("Close").clicked()
}

struct AboutApp {
    data: AboutData,
}

impl eframe::App for AboutApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            if about_ui(ui, &self.data) {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
    }
}

/// Shows the About box until it is closed.
pub fn run(socket: &Path) -> Result<ExitCode> {
    let status = Client::new(socket)
        .ok()
        .and_then(|client| client.status().ok());
    let data = AboutData::from_status(status.as_ref());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(TITLE)
            .with_inner_size([420.0, 260.0])
            .with_resizable(false),
        ..Default::default()
    };
    eframe::run_native(
        TITLE,
        options,
        Box::new(move |_creation| Ok(Box::new(AboutApp { data }))),
    )
    .map_err(|error| anyhow!("cannot show the About box: {error}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable;
    use egui_kittest::Harness;

    use super::*;
    use remote_service_api::{Connection, FeatureSummary, LicenceSummary, Light, Named};

    fn status_with_licence() -> Status {
        Status {
            connection: Connection {
                state: Light::Grey,
                reason: None,
            },
            enabled: false,
            licence: Some(LicenceSummary {
                serial_number: "RS-1001".into(),
                organisation: Named {
                    id: "ORG-1".into(),
                    name: "Demo Print Shop".into(),
                },
                product: Named {
                    id: "p".into(),
                    name: "PRISMAdirect".into(),
                },
                licence_id: "LIC-1".into(),
                sequence: 3,
                issued_at: "2026-11-01T09:00:00Z".into(),
                licence_expires_at: Some("2027-11-30T00:00:00Z".into()),
                maintenance_through: "2027-12-31".into(),
                features: vec![FeatureSummary {
                    code: "users".into(),
                    count: Some(25),
                }],
                key_id: "7CE99D1D729C426B".into(),
                warnings: Vec::new(),
            }),
            licence_folder: "/tmp".into(),
            plugins: Vec::new(),
            plugin_folder_problem: None,
            menu: Vec::new(),
            assistance: None,
        }
    }

    #[test]
    fn the_about_box_shows_the_version_and_both_licence_dates() {
        let data = AboutData::from_status(Some(&status_with_licence()));
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label(&format!("Version {}", env!("CARGO_PKG_VERSION")));
        harness.get_by_label("Licence expires:");
        harness.get_by_label("2027-11-30T00:00:00Z");
        harness.get_by_label("Maintenance until:");
        harness.get_by_label("2027-12-31");
        harness.get_by_label("users (25)");
        harness.get_by_label("Close");
    }

    #[test]
    fn the_about_box_says_when_the_licence_expired() {
        let mut status = status_with_licence();
        let warning = "the licence expired on 2026-01-31: contact your supplier for a new licence (it stays in force here until one arrives)";
        status.licence.as_mut().unwrap().warnings = vec![warning.to_string()];
        let data = AboutData::from_status(Some(&status));
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label("Warning:");
        harness.get_by_label(warning);
    }

    #[test]
    fn the_about_box_says_when_the_engine_does_not_run() {
        let data = AboutData::from_status(None);
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label("not running");
        assert!(harness.query_by_label("Maintenance until:").is_none());
    }
}
