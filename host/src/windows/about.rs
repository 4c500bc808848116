//! `remote-service about`: the About box of the documents, with the version, the serial
//! number, and the licence and maintenance dates.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use eframe::egui;

use remote_service_api::{Client, ConfigView, Status};

use super::single::{raise_if_asked, Instance};

/// The window's title; panels and window lists show it.
pub const TITLE: &str = "About Remote Service";

/// The day this version was released (the installer's entitlement check compares it with
/// the end of maintenance), stamped at build time (`build.rs`).
pub const RELEASE_DATE: &str = env!("REMOTE_SERVICE_RELEASE_DATE");

/// What the About box shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AboutData {
    /// The program's version.
    pub version: String,
    /// Label and value rows.
    pub rows: Vec<(String, String)>,
    /// Folders to open in the file manager: label and path.
    pub folders: Vec<(String, String)>,
}

/// "2027-01-31", with "(expires in 12 days)" when that is within a month of `today`.
fn with_days_left(day: &str, today: time::Date, soon: &str, past: &str) -> String {
    let date = time::Date::parse(
        day.get(..10).unwrap_or(day),
        time::macros::format_description!("[year]-[month]-[day]"),
    );
    match date {
        Ok(date) => {
            let left = (date - today).whole_days();
            match left {
                0..=31 => format!("{} ({soon} in {left} days)", &day[..10]),
                _ if left < 0 => format!("{} ({past})", &day[..10]),
                _ => day[..10].to_string(),
            }
        }
        Err(_) => day.to_string(),
    }
}

impl AboutData {
    /// The About data from the engine's status and settings, or a row saying the engine
    /// does not run; `today` decides "expires in N days".
    pub fn from_status(
        status: Option<&Status>,
        config: Option<&ConfigView>,
        today: time::Date,
    ) -> AboutData {
        let mut rows = vec![("Released".to_string(), RELEASE_DATE.to_string())];
        match status {
            None => rows.push(("Remote Service".into(), "not running".into())),
            Some(status) => {
                match &status.licence {
                    None => rows.push(("Licence".into(), "none installed".into())),
                    Some(licence) => {
                        rows.push(("Serial number".into(), licence.serial_number.clone()));
                        rows.push(("Organisation".into(), licence.organisation.name.clone()));
                        rows.push((
                            "Licence expires".into(),
                            licence
                                .licence_expires_at
                                .as_deref()
                                .map(|at| with_days_left(at, today, "expires", "expired"))
                                .unwrap_or_else(|| "never (perpetual licence)".into()),
                        ));
                        rows.push((
                            "Maintenance until".into(),
                            with_days_left(&licence.maintenance_through, today, "ends", "ended"),
                        ));
                        let features = licence.features_in_words();
                        rows.push((
                            "Features".into(),
                            if features.is_empty() {
                                "none".into()
                            } else {
                                features.join(", ")
                            },
                        ));
                        // An expired licence, a clock behind the licence's issue: said here too.
                        for warning in &licence.warnings {
                            rows.push(("Warning".into(), warning.clone()));
                        }
                    }
                }
                for plugin in &status.plugins {
                    rows.push((
                        plugin.name().to_string(),
                        format!("{} {}", plugin.version, plugin.state.as_str()),
                    ));
                }
            }
        }
        let mut folders = Vec::new();
        if let Some(config) = config {
            if let Some(log) = config.log_file.as_deref().and_then(Path::parent) {
                folders.push(("Log folder".to_string(), log.display().to_string()));
            }
            if let Some(data) = &config.data_dir {
                folders.push(("Data folder".to_string(), data.display().to_string()));
            }
        }
        AboutData {
            version: env!("CARGO_PKG_VERSION").to_string(),
            rows,
            folders,
        }
    }
}

/// What the user clicked in the About box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AboutAction {
    Close,
    Open(String),
}

/// Draws the About box; returns what the user clicked.
pub fn about_ui(ui: &mut egui::Ui, data: &AboutData) -> Option<AboutAction> {
    let mut action = None;
    egui::Frame::new()
        .inner_margin(egui::Margin::same(12))
        .show(ui, |ui| {
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
                    for (label, folder) in &data.folders {
                        ui.label(format!("{label}:"));
                        ui.horizontal(|ui| {
                            ui.label(folder);
                            if ui.button("Open").clicked() {
                                action = Some(AboutAction::Open(folder.clone()));
                            }
                        });
                        ui.end_row();
                    }
                });
            ui.add_space(12.0);
            if ui.button("Close").clicked() {
                action = Some(AboutAction::Close);
            }
        });
    action
}

struct AboutApp {
    data: AboutData,
    instance: Option<Instance>,
}

impl eframe::App for AboutApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        raise_if_asked(self.instance.as_ref(), ui.ctx());
        egui::CentralPanel::default().show(ui, |ui| match about_ui(ui, &self.data) {
            Some(AboutAction::Close) => ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close),
            Some(AboutAction::Open(folder)) => {
                // The file manager, reaped on a thread of its own.
                if let Ok(mut child) = std::process::Command::new("xdg-open").arg(&folder).spawn() {
                    std::thread::spawn(move || child.wait());
                }
            }
            None => {}
        });
    }
}

/// Shows the About box until it is closed; when it is open already, brings it to the front.
pub fn run(socket: &Path) -> Result<ExitCode> {
    let Some(instance) = Instance::claim("about")? else {
        return Ok(ExitCode::SUCCESS);
    };
    let client = Client::new(socket).ok();
    let status = client.as_ref().and_then(|client| client.status().ok());
    let config = client.as_ref().and_then(|client| client.config().ok());
    let data = AboutData::from_status(
        status.as_ref(),
        config.as_ref(),
        time::OffsetDateTime::now_utc().date(),
    );
    let options = eframe::NativeOptions {
        viewport: super::viewport(TITLE, [520.0, 420.0]).with_resizable(true),
        ..Default::default()
    };
    eframe::run_native(
        TITLE,
        options,
        Box::new(move |creation| {
            super::follow_desktop_theme(&creation.egui_ctx);
            let ctx = creation.egui_ctx.clone();
            instance.on_raise(move || ctx.request_repaint());
            Ok(Box::new(AboutApp {
                data,
                instance: Some(instance),
            }))
        }),
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
        let data = AboutData::from_status(Some(&status_with_licence()), None, today());
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label(&format!("Version {}", env!("CARGO_PKG_VERSION")));
        harness.get_by_label("Licence expires:");
        harness.get_by_label("2027-11-30");
        harness.get_by_label("Maintenance until:");
        harness.get_by_label("2027-12-31");
        harness.get_by_label("Users: 25");
        harness.get_by_label("Close");
    }

    fn today() -> time::Date {
        time::macros::date!(2026 - 12 - 01)
    }

    #[test]
    fn the_about_box_counts_the_days_left_within_a_month_and_shows_the_folders() {
        let mut status = status_with_licence();
        status.licence.as_mut().unwrap().maintenance_through = "2026-12-13".into();
        let config = ConfigView {
            file: "/home/u/.config/remote-service/settings.toml".into(),
            settings: Default::default(),
            secrets: Default::default(),
            secret_store: String::new(),
            log_file: Some("/home/u/.local/state/remote-service/remote-service.log".into()),
            data_dir: Some("/home/u/.local/share/remote-service".into()),
        };
        let data = AboutData::from_status(Some(&status), Some(&config), today());
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label("2026-12-13 (ends in 12 days)");
        harness.get_by_label("/home/u/.local/state/remote-service");
        harness.get_by_label("/home/u/.local/share/remote-service");
        assert_eq!(harness.query_all_by_label("Open").count(), 2);
    }

    /// The About box as a person sees it (`host/tests/snapshots/about.png`).
    #[test]
    fn the_about_box_snapshot() {
        let mut data = AboutData::from_status(Some(&status_with_licence()), None, today());
        // The release date is the build's: the picture shows the one it was taken with.
        assert_eq!(
            data.rows[0],
            ("Released".to_string(), RELEASE_DATE.to_string())
        );
        data.rows[0].1 = "2026-12-01".to_string();
        let mut harness = Harness::builder()
            .with_size([520.0, 420.0])
            .with_theme(egui::Theme::Light)
            .build_ui(|ui| {
                about_ui(ui, &data);
            });
        harness.run();
        harness.snapshot("about");
    }

    #[test]
    fn the_about_box_says_when_the_licence_expired() {
        let mut status = status_with_licence();
        let warning = "the licence expired on 2026-01-31: contact your supplier for a new licence (it stays in force here until one arrives)";
        status.licence.as_mut().unwrap().warnings = vec![warning.to_string()];
        let data = AboutData::from_status(Some(&status), None, today());
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label("Warning:");
        harness.get_by_label(warning);
    }

    #[test]
    fn the_about_box_says_when_the_engine_does_not_run() {
        let data = AboutData::from_status(None, None, today());
        let harness = Harness::new_ui(|ui| {
            about_ui(ui, &data);
        });
        harness.get_by_label("not running");
        assert!(harness.query_by_label("Maintenance until:").is_none());
    }
}
