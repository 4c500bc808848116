//! `remote-service settings`: the "Remote Service" window of the documents — the light, the
//! general settings, the proxy, the licence path with the folders that failed, remote
//! assistance, and Test connection, Save and Cancel. A client of the engine's local API:
//! Save checks every change first (`POST /v1/config-check`, errors beside their fields),
//! then saves them together (`PUT /v1/config`: all or nothing) and the engine applies them
//! at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use eframe::egui::{self, Color32, RichText};
use remote_service_api::{
    capitalised, ApiEvent, AssistanceStatus, Client, ClientError, ConfigView, FailedFolder,
    FolderTest, LicenceUpdaterDetails, Light, Status, TestReport,
};

use super::single::{raise_if_asked, Instance};
use crate::local_time::local_time;

/// The window's title, as the documents name the dialog.
pub const TITLE: &str = "Remote Service";

/// The proxy choices of the documents' "Proxy server settings".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyChoice {
    /// No proxy.
    None,
    /// "Automatically detect settings".
    Auto,
    /// "Use proxy server".
    Manual,
}

impl ProxyChoice {
    fn setting(self) -> &'static str {
        match self {
            ProxyChoice::None => "none",
            ProxyChoice::Auto => "auto",
            ProxyChoice::Manual => "manual",
        }
    }
}

/// What the user edits, as text the way the fields show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub enabled: bool,
    pub organisation_id: String,
    /// A new verification code; empty: unchanged.
    pub verification_code: String,
    pub proxy: ProxyChoice,
    pub proxy_url: String,
    pub proxy_domain: String,
    pub proxy_user: String,
    /// A new proxy password; empty: unchanged.
    pub proxy_password: String,
    pub remote_folder: String,
    pub assistance_hours: u32,
    /// "Allow remote assistance" (applied on Save).
    pub allow_assistance: bool,
}

fn setting(config: &ConfigView, key: &str) -> String {
    config
        .settings
        .get(key)
        .cloned()
        .flatten()
        .unwrap_or_default()
}

impl Form {
    /// The form as the engine's settings are now.
    pub fn from_config(config: &ConfigView, assistance: Option<&AssistanceStatus>) -> Form {
        Form {
            enabled: setting(config, "enabled") == "true",
            organisation_id: setting(config, "organisation_id"),
            verification_code: String::new(),
            proxy: match setting(config, "proxy.mode").as_str() {
                "auto" => ProxyChoice::Auto,
                "manual" => ProxyChoice::Manual,
                _ => ProxyChoice::None,
            },
            proxy_url: setting(config, "proxy.url"),
            proxy_domain: setting(config, "proxy.domain"),
            proxy_user: setting(config, "proxy.user"),
            proxy_password: String::new(),
            remote_folder: setting(config, "licence.remote_folder"),
            assistance_hours: setting(config, "assistance.hours")
                .parse()
                .unwrap_or(remote_service_api::DEFAULT_HOURS),
            allow_assistance: assistance.is_some_and(|assistance| assistance.allowed),
        }
    }

    /// The settings that differ from `original`, by key (`None`: back to the default).
    pub fn changes(&self, original: &Form) -> BTreeMap<String, Option<String>> {
        let text = |value: &str| (!value.trim().is_empty()).then(|| value.trim().to_string());
        let mut changes = BTreeMap::new();
        let mut change = |key: &str, now: Option<String>, before: Option<String>| {
            if now != before {
                changes.insert(key.to_string(), now);
            }
        };
        change(
            "enabled",
            Some(self.enabled.to_string()),
            Some(original.enabled.to_string()),
        );
        change(
            "organisation_id",
            text(&self.organisation_id),
            text(&original.organisation_id),
        );
        change(
            "proxy.mode",
            Some(self.proxy.setting().to_string()),
            Some(original.proxy.setting().to_string()),
        );
        change(
            "proxy.url",
            text(&self.proxy_url),
            text(&original.proxy_url),
        );
        change(
            "proxy.domain",
            text(&self.proxy_domain),
            text(&original.proxy_domain),
        );
        change(
            "proxy.user",
            text(&self.proxy_user),
            text(&original.proxy_user),
        );
        change(
            "licence.remote_folder",
            text(&self.remote_folder),
            text(&original.remote_folder),
        );
        change(
            "assistance.hours",
            Some(self.assistance_hours.to_string()),
            Some(original.assistance_hours.to_string()),
        );
        changes
    }

    /// The secrets typed, by name.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        let mut secrets = Vec::new();
        if !self.verification_code.is_empty() {
            secrets.push(("verification_code", self.verification_code.clone()));
        }
        if !self.proxy_password.is_empty() {
            secrets.push(("proxy_password", self.proxy_password.clone()));
        }
        secrets
    }

    /// Whether anything differs from `original` (settings, a secret typed, the allowance).
    pub fn is_dirty(&self, original: &Form) -> bool {
        !self.changes(original).is_empty()
            || !self.secrets().is_empty()
            || self.allow_assistance != original.allow_assistance
    }
}

/// What the window asks of the engine, done on a thread of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Save,
    Cancel,
    TestConnection,
    TestFolder(String),
    SaveFailed { folder: String, into: String },
}

/// What came back from the engine.
pub enum Outcome {
    Saved(Result<Box<(ConfigView, Option<AssistanceStatus>)>, Failure>),
    Tested(Result<TestReport, String>),
    FolderTested(FolderTest),
    FailedSaved(Result<String, String>),
}

/// Why Save did not save: the reasons by field, or one for everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Fields(BTreeMap<String, String>),
    Other(String),
}

/// Everything the window shows.
pub struct SettingsState {
    pub form: Form,
    pub original: Form,
    pub config: ConfigView,
    pub status: Option<Status>,
    /// The reasons beside their fields, by setting (`verification_code` and
    /// `proxy_password` for the secrets).
    pub errors: BTreeMap<String, String>,
    /// A line under the buttons: saved, or why not.
    pub message: Option<(bool, String)>,
    pub report: Option<Result<TestReport, String>>,
    pub folder_test: Option<FolderTest>,
    /// Where "Save licence file…" writes (the user's home folder by default).
    pub save_into: String,
    /// What became of it.
    pub failed_saved: Option<Result<String, String>>,
    /// An operation runs: the buttons wait.
    pub busy: bool,
    /// The user asked to close with unsaved changes.
    pub confirm_close: bool,
    /// What the proxy detector finds now, for "Automatically detect settings".
    pub detected: Option<String>,
    /// What the user asked for and is not done yet.
    pub pending: Vec<Action>,
}

impl SettingsState {
    /// The state for `config` and `status`.
    pub fn new(config: ConfigView, status: Option<Status>) -> SettingsState {
        let form = Form::from_config(&config, status.as_ref().and_then(|s| s.assistance.as_ref()));
        SettingsState {
            original: form.clone(),
            form,
            config,
            status,
            errors: BTreeMap::new(),
            message: None,
            report: None,
            folder_test: None,
            save_into: std::env::var("HOME").unwrap_or_default(),
            failed_saved: None,
            busy: false,
            confirm_close: false,
            detected: None,
            pending: Vec::new(),
        }
    }

    fn detector_installed(&self) -> bool {
        self.status.as_ref().is_some_and(|status| {
            status
                .plugins
                .iter()
                .any(|plugin| plugin.id == "proxy-detector")
        })
    }

    fn failed_folders(&self) -> Vec<FailedFolder> {
        self.status
            .as_ref()
            .and_then(|status| {
                status
                    .plugins
                    .iter()
                    .find(|plugin| plugin.id == "licence-updater")
            })
            .and_then(|plugin| plugin.details.clone())
            .and_then(|details| serde_json::from_value::<LicenceUpdaterDetails>(details).ok())
            .map(|details| details.failed)
            .unwrap_or_default()
    }
}

fn light_colour(light: Light) -> Color32 {
    match light {
        Light::Green => Color32::from_rgb(0x2e, 0x9d, 0x44),
        Light::Orange => Color32::from_rgb(0xe8, 0x7b, 0x10),
        Light::Grey => Color32::from_rgb(0x8a, 0x8a, 0x8a),
    }
}

/// A text field with its label before it (the label names the field for AccessKit) and
/// its error, if any, after it.
fn field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    hint: &str,
    password: bool,
    error: Option<&String>,
) {
    let label = ui.label(label);
    let edit = egui::TextEdit::singleline(value)
        .hint_text(hint)
        .password(password)
        .desired_width(280.0);
    ui.add(edit).labelled_by(label.id);
    ui.end_row();
    if let Some(error) = error {
        ui.label("");
        ui.label(RichText::new(error).color(Color32::from_rgb(0xc0, 0x1c, 0x28)));
        ui.end_row();
    }
}

/// Draws the window; what the user asks for goes to `state.pending`.
pub fn settings_ui(ui: &mut egui::Ui, state: &mut SettingsState) {
    let mut actions = Vec::new();
    let connection = state
        .status
        .as_ref()
        .map(|status| status.connection.clone())
        .unwrap_or_else(remote_service_api::Connection::not_running);
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(16.0, 16.0), egui::Sense::hover());
        ui.painter()
            .circle_filled(rect.center(), 7.0, light_colour(connection.state));
        ui.label(RichText::new(connection.sentence()).strong());
    });
    ui.add_space(6.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.heading("General settings");
        egui::Grid::new("general")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.label("");
                ui.checkbox(&mut state.form.enabled, "Enabled");
                ui.end_row();
                field(
                    ui,
                    "Service organisation ID",
                    &mut state.form.organisation_id,
                    "ORG-…",
                    false,
                    state.errors.get("organisation_id"),
                );
                let code = state
                    .config
                    .secrets
                    .get("verification_code")
                    .cloned()
                    .unwrap_or_default();
                field(
                    ui,
                    &format!("Verification code ({code})"),
                    &mut state.form.verification_code,
                    "type a new code to change it",
                    true,
                    state.errors.get("verification_code"),
                );
                ui.label("Serial number");
                ui.label(
                    state
                        .status
                        .as_ref()
                        .and_then(|status| status.licence.as_ref())
                        .map(|licence| licence.serial_number.clone())
                        .unwrap_or_else(|| "no licence installed".into()),
                );
                ui.end_row();
            });
        if let Some(error) = state.errors.get("enabled") {
            ui.label(RichText::new(error).color(Color32::from_rgb(0xc0, 0x1c, 0x28)));
        }

        ui.add_space(8.0);
        ui.heading("Proxy server settings");
        ui.radio_value(&mut state.form.proxy, ProxyChoice::None, "No proxy server");
        if state.detector_installed() {
            ui.radio_value(
                &mut state.form.proxy,
                ProxyChoice::Auto,
                "Automatically detect settings",
            );
            if state.form.proxy == ProxyChoice::Auto {
                ui.label(format!(
                    "Detected now: {}",
                    state.detected.as_deref().unwrap_or("…")
                ));
                ui.label("Remote assistance does not work with detected settings: configure the proxy server manually to allow it.");
            }
        }
        ui.radio_value(&mut state.form.proxy, ProxyChoice::Manual, "Use proxy server");
        if let Some(error) = state.errors.get("proxy.mode") {
            ui.label(RichText::new(error).color(Color32::from_rgb(0xc0, 0x1c, 0x28)));
        }
        if state.form.proxy == ProxyChoice::Manual {
            egui::Grid::new("proxy")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    field(
                        ui,
                        "Proxy URL",
                        &mut state.form.proxy_url,
                        "proxy.example.com:8080",
                        false,
                        state.errors.get("proxy.url"),
                    );
                });
            ui.label(RichText::new("Proxy server authentication").strong());
            ui.label("Leave the user name empty for no authentication, or to use the current domain credentials (Kerberos).");
            egui::Grid::new("proxy-authentication")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    field(
                        ui,
                        "Domain",
                        &mut state.form.proxy_domain,
                        "",
                        false,
                        state.errors.get("proxy.domain"),
                    );
                    field(
                        ui,
                        "User name",
                        &mut state.form.proxy_user,
                        "",
                        false,
                        state.errors.get("proxy.user"),
                    );
                    let password = state
                        .config
                        .secrets
                        .get("proxy_password")
                        .cloned()
                        .unwrap_or_default();
                    field(
                        ui,
                        &format!("Password ({password})"),
                        &mut state.form.proxy_password,
                        "type a new password to change it",
                        true,
                        state.errors.get("proxy_password"),
                    );
                });
        }

        ui.add_space(8.0);
        ui.heading("Licence path");
        let local = state
            .status
            .as_ref()
            .map(|status| status.licence_folder.display().to_string())
            .unwrap_or_default();
        ui.label(format!(
            "Local Floating Licence Server: {local} (the new licence will be installed automatically in DroppedLicense)"
        ));
        egui::Grid::new("licence")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                field(
                    ui,
                    "Remote Floating Licence Server shared folder",
                    &mut state.form.remote_folder,
                    "/mnt/fls/DroppedLicense",
                    false,
                    state.errors.get("licence.remote_folder"),
                );
            });
        ui.horizontal(|ui| {
            let test = ui.add_enabled(
                !state.busy && !state.form.remote_folder.trim().is_empty(),
                egui::Button::new("Test folder"),
            );
            if test.clicked() {
                actions.push(Action::TestFolder(state.form.remote_folder.trim().to_string()));
            }
            if let Some(tested) = &state.folder_test {
                ui.label(tested.detail.as_str());
            }
        });
        let failed = state.failed_folders();
        if !failed.is_empty() {
            ui.add_space(4.0);
            ui.label(RichText::new("Failed to update licence on:").strong());
            field_row(ui, "Save into folder", &mut state.save_into);
            for folder in failed {
                ui.horizontal(|ui| {
                    ui.label(format!("{}: {}", folder.folder, folder.reason));
                    let save = ui.add_enabled(!state.busy, egui::Button::new("Save licence file…"));
                    if save.clicked() {
                        actions.push(Action::SaveFailed {
                            folder: folder.folder.clone(),
                            into: state.save_into.clone(),
                        });
                    }
                });
            }
            if let Some(saved) = &state.failed_saved {
                match saved {
                    Ok(done) => ui.label(done.as_str()),
                    Err(why) => ui.label(RichText::new(why).color(Color32::from_rgb(0xc0, 0x1c, 0x28))),
                };
            }
        }

        let assistance = state
            .status
            .as_ref()
            .and_then(|status| status.assistance.clone());
        if let Some(assistance) = assistance {
            ui.add_space(8.0);
            ui.heading("Remote assistance");
            ui.checkbox(&mut state.form.allow_assistance, "Allow remote assistance");
            ui.horizontal(|ui| {
                let label = ui.label("Hours");
                ui.add(
                    egui::DragValue::new(&mut state.form.assistance_hours)
                        .range(remote_service_api::MIN_HOURS..=remote_service_api::MAX_HOURS),
                )
                .labelled_by(label.id);
                if let (true, Some(until)) = (assistance.allowed, &assistance.until) {
                    ui.label(format!("allowed until {}", local_time(until)));
                }
            });
            if let Some(error) = state
                .errors
                .get("assistance.hours")
                .or(state.errors.get("assistance"))
            {
                ui.label(RichText::new(error).color(Color32::from_rgb(0xc0, 0x1c, 0x28)));
            }
            ui.label("Remote assistance by our organisation is based on TeamViewer. The help desk employee can request to allow a remote desktop connection for remote assistance.");
            for precondition in &assistance.preconditions {
                // Words, not marks: the window's font has no tick glyph.
                let mark = if precondition.ok { "met" } else { "MISSING" };
                ui.label(format!("{mark} — {}: {}", precondition.name, precondition.detail));
            }
            if !assistance.recent.is_empty() {
                ui.label(RichText::new("Recent activity").strong());
                for entry in &assistance.recent {
                    ui.label(format!(
                        "{}: {}",
                        local_time(&entry.at),
                        entry.words(&local_time)
                    ));
                }
            }
        }

        if let Some(report) = &state.report {
            ui.add_space(8.0);
            ui.heading("Connection test");
            match report {
                Ok(report) => {
                    for step in &report.steps {
                        ui.label(format!(
                            "{} {}: {}{}",
                            step.name,
                            step.outcome.as_str(),
                            step.detail,
                            if step.outcome == remote_service_api::StepOutcome::Skipped {
                                String::new()
                            } else {
                                format!(" ({:.0} ms)", step.milliseconds)
                            }
                        ));
                    }
                }
                Err(why) => {
                    ui.label(why.as_str());
                }
            }
        }
    });
    ui.add_space(8.0);
    ui.separator();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!state.busy, egui::Button::new("Test connection"))
            .clicked()
        {
            actions.push(Action::TestConnection);
        }
        if ui
            .add_enabled(!state.busy, egui::Button::new("Save"))
            .clicked()
        {
            actions.push(Action::Save);
        }
        if ui.button("Cancel").clicked() {
            actions.push(Action::Cancel);
        }
        if state.busy {
            ui.spinner();
        }
    });
    // Reasons for what has no field on the window now (remote assistance's hours while
    // the feature is absent, the settings file itself).
    let placed = [
        "enabled",
        "organisation_id",
        "verification_code",
        "proxy.mode",
        "proxy.url",
        "proxy.domain",
        "proxy.user",
        "proxy_password",
        "licence.remote_folder",
    ];
    let assistance_shown = state
        .status
        .as_ref()
        .is_some_and(|status| status.assistance.is_some());
    for (key, error) in &state.errors {
        let shown = placed.contains(&key.as_str())
            || (assistance_shown && (key == "assistance.hours" || key == "assistance"));
        if !shown {
            ui.label(RichText::new(error).color(Color32::from_rgb(0xc0, 0x1c, 0x28)));
        }
    }
    if let Some((ok, message)) = &state.message {
        let colour = if *ok {
            ui.visuals().text_color()
        } else {
            Color32::from_rgb(0xc0, 0x1c, 0x28)
        };
        ui.label(RichText::new(message).color(colour));
    }
    state.pending.extend(actions);
}

fn field_row(ui: &mut egui::Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        let label = ui.label(label);
        ui.add(egui::TextEdit::singleline(value).desired_width(280.0))
            .labelled_by(label.id);
    });
}

/// Saves the form: checks every change, saves them together, stores the secrets typed,
/// then allows or revokes remote assistance; the reasons by field when a check fails.
pub fn save(
    client: &Client,
    form: &Form,
    original: &Form,
) -> Result<(ConfigView, Option<AssistanceStatus>), Failure> {
    let changes = form.changes(original);
    let other = |error: remote_service_api::ClientError| Failure::Other(format!("{error:#}"));
    if !changes.is_empty() {
        let check = client.check_configs(&changes).map_err(other)?;
        if !check.errors.is_empty() {
            return Err(Failure::Fields(check.errors));
        }
        client.set_configs(&changes).map_err(other)?;
    }
    // After the settings: a new organisation or back office removes the code, and the
    // code typed with it is for the new one.
    for (name, value) in form.secrets() {
        client.set_secret(name, &value).map_err(|error| {
            Failure::Fields(BTreeMap::from([(name.to_string(), format!("{error:#}"))]))
        })?;
    }
    let mut assistance = None;
    if form.allow_assistance != original.allow_assistance {
        let answer = if form.allow_assistance {
            client.allow_assistance(Some(form.assistance_hours))
        } else {
            client.revoke_assistance()
        };
        assistance = Some(answer.map_err(|error| {
            Failure::Fields(BTreeMap::from([(
                "assistance".to_string(),
                format!("{error:#}"),
            )]))
        })?);
    }
    let config = client.config().map_err(other)?;
    Ok((config, assistance))
}

struct SettingsApp {
    client: Arc<Client>,
    state: SettingsState,
    outcomes: (Sender<Outcome>, Receiver<Outcome>),
    status: Arc<Mutex<Option<Status>>>,
    instance: Option<Instance>,
    close_anyway: bool,
}

/// Does what the user asked for (blocking: the window runs it on a thread of its own);
/// `None` for what needs no engine (Cancel).
pub fn perform(client: &Client, action: Action, form: &Form, original: &Form) -> Option<Outcome> {
    Some(match action {
        Action::Cancel => return None,
        Action::Save => Outcome::Saved(save(client, form, original).map(Box::new)),
        Action::TestConnection => Outcome::Tested(
            client
                .test_connection()
                .map_err(|error| format!("{error:#}")),
        ),
        Action::TestFolder(folder) => Outcome::FolderTested(
            client
                .test_folder(&folder)
                .unwrap_or_else(|error| FolderTest {
                    ok: false,
                    detail: format!("{error:#}"),
                }),
        ),
        Action::SaveFailed { into, .. } => Outcome::FailedSaved(
            client
                .run_command("licence-updater", "save-failed", &into)
                .map_err(|error| format!("{error:#}"))
                .and_then(|outcome| {
                    if outcome.ok {
                        Ok(outcome.message)
                    } else {
                        Err(outcome.message)
                    }
                }),
        ),
    })
}

impl SettingsState {
    /// Shows what came back from the engine.
    pub fn heard(&mut self, outcome: Outcome) {
        self.busy = false;
        match outcome {
            Outcome::Saved(Ok(saved)) => {
                let (config, assistance) = *saved;
                let assistance = assistance.or_else(|| {
                    self.status
                        .as_ref()
                        .and_then(|status| status.assistance.clone())
                });
                let form = Form::from_config(&config, assistance.as_ref());
                self.form = form.clone();
                self.original = form;
                self.config = config;
                self.errors.clear();
                self.message = Some((
                    true,
                    "Saved: Remote Service uses the new settings now.".into(),
                ));
            }
            Outcome::Saved(Err(Failure::Fields(errors))) => {
                self.message = Some((
                    false,
                    "Not saved: correct the fields marked in red. Nothing was changed.".into(),
                ));
                self.errors = errors;
            }
            Outcome::Saved(Err(Failure::Other(why))) => {
                self.message = Some((false, format!("Not saved: {why}")));
            }
            Outcome::Tested(report) => self.report = Some(report),
            Outcome::FolderTested(tested) => self.folder_test = Some(tested),
            Outcome::FailedSaved(saved) => self.failed_saved = Some(saved),
        }
    }
}

impl SettingsApp {
    fn run(&mut self, action: Action, ctx: &egui::Context) {
        if action == Action::Cancel {
            self.state.form = self.state.original.clone();
            self.close_anyway = true;
            return;
        }
        self.state.busy = true;
        if action == Action::Save {
            self.state.message = None;
        }
        let (client, sender, ctx) = (self.client.clone(), self.outcomes.0.clone(), ctx.clone());
        let (form, original) = (self.state.form.clone(), self.state.original.clone());
        std::thread::spawn(move || {
            if let Some(outcome) = perform(&client, action, &form, &original) {
                let _ = sender.send(outcome);
            }
            ctx.request_repaint();
        });
    }
}

impl eframe::App for SettingsApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        raise_if_asked(self.instance.as_ref(), &ctx);
        while let Ok(outcome) = self.outcomes.1.try_recv() {
            self.state.heard(outcome);
        }
        if let Some(status) = self.status.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.state.status = Some(status);
        }
        if ctx.input(|input| input.viewport().close_requested())
            && !self.close_anyway
            && self.state.form.is_dirty(&self.state.original)
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.state.confirm_close = true;
        }
        // Ctrl+S saves, as in any editor.
        if !self.state.busy
            && ctx.input_mut(|input| input.consume_key(egui::Modifiers::COMMAND, egui::Key::S))
        {
            self.state.pending.push(Action::Save);
        }
        egui::CentralPanel::default().show(ui, |ui| settings_ui(ui, &mut self.state));
        for action in std::mem::take(&mut self.state.pending) {
            self.run(action, &ctx);
        }
        if self.state.confirm_close {
            egui::Modal::new(egui::Id::unique("unsaved")).show(&ctx, |ui| {
                ui.label("The settings have unsaved changes.");
                ui.horizontal(|ui| {
                    if ui.button("Discard changes").clicked() {
                        self.close_anyway = true;
                        self.state.confirm_close = false;
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                    if ui.button("Keep editing").clicked() {
                        self.state.confirm_close = false;
                    }
                });
            });
        }
        if self.close_anyway && !self.state.confirm_close {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

/// Follows the engine's events on a thread of its own: each status goes to `latest`, and
/// the window repaints.
fn follow(client: Arc<Client>, latest: Arc<Mutex<Option<Status>>>, ctx: egui::Context) {
    std::thread::spawn(move || loop {
        if let Ok(events) = client.events() {
            for event in events {
                if let Ok(ApiEvent::Status { status }) = event {
                    *latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(*status);
                    ctx.request_repaint();
                }
            }
        }
        // The engine went away: its absence shows, and the window follows it when it is back.
        *latest.lock().unwrap_or_else(|p| p.into_inner()) = None;
        ctx.request_repaint();
        std::thread::sleep(std::time::Duration::from_secs(1));
    });
}

/// Shows the window until it is closed; when it is open already, brings it to the front.
/// What the window opens with: the engine's settings and status. With no engine the window
/// still opens and says so with the light and a message ("the Remote Service service is
/// not running: start it with …"), as the documents' "When the service is not running, the
/// application cannot connect"; nothing can be saved until it runs.
fn opening_state(client: &Client) -> Result<SettingsState> {
    let (config, not_running) = match client.config() {
        Ok(config) => (config, false),
        Err(ClientError::NotRunning { .. }) => (
            ConfigView {
                file: PathBuf::new(),
                settings: BTreeMap::new(),
                secrets: BTreeMap::new(),
                secret_store: String::new(),
                log_file: None,
                data_dir: None,
            },
            true,
        ),
        Err(error) => return Err(anyhow!("cannot show the settings: {error}")),
    };
    let mut state = SettingsState::new(config, client.status().ok());
    if not_running {
        state.message = Some((false, capitalised(remote_service_api::NOT_RUNNING)));
    }
    Ok(state)
}

pub fn run(socket: &Path) -> Result<ExitCode> {
    let Some(instance) = Instance::claim("settings")? else {
        return Ok(ExitCode::SUCCESS);
    };
    let client = Arc::new(Client::new(socket)?);
    let mut state = opening_state(&client)?;
    if state.form.proxy == ProxyChoice::Auto || state.detector_installed() {
        let url = setting(&state.config, "backoffice_url");
        state.detected = client.resolve_proxy(&url).ok().map(|resolution| {
            format!(
                "{} ({})",
                resolution.candidates.join(", "),
                resolution.source
            )
        });
    }
    let options = eframe::NativeOptions {
        viewport: super::viewport(TITLE, [620.0, 720.0]),
        ..Default::default()
    };
    eframe::run_native(
        TITLE,
        options,
        Box::new(move |creation| {
            super::follow_desktop_theme(&creation.egui_ctx);
            let latest = Arc::new(Mutex::new(None));
            follow(client.clone(), latest.clone(), creation.egui_ctx.clone());
            let ctx = creation.egui_ctx.clone();
            instance.on_raise(move || ctx.request_repaint());
            Ok(Box::new(SettingsApp {
                client,
                state,
                outcomes: channel(),
                status: latest,
                instance: Some(instance),
                close_anyway: false,
            }))
        }),
    )
    .map_err(|error| anyhow!("cannot show the settings: {error}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
