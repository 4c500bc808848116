//! The settings window driven by its labels (egui_kittest, AccessKit), against a real
//! engine started in this process on a private socket, with folders of its own.

use std::sync::{Mutex, OnceLock};

use eframe::egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use remote_service_api::Client;
use remote_service_engine::{Listen, Parts, RunningEngine, Scope};

use super::*;

/// The engine's folders for these tests: set once for the process (the engine reads them
/// from the environment), the tests one at a time.
fn engine() -> (std::sync::MutexGuard<'static, ()>, RunningEngine, Client) {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = ROOT.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let path = root.path();
        for (name, folder) in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("REMOTE_SERVICE_PLUGIN_DIR", "plugins"),
            ("REMOTE_SERVICE_SYSTEM_DIR", "etc"),
        ] {
            std::fs::create_dir_all(path.join(folder)).unwrap();
            std::env::set_var(name, path.join(folder));
        }
        std::env::set_var("REMOTE_SERVICE_SECRETS", "file");
        root
    });
    // Each test starts from the defaults.
    let _ = std::fs::remove_file(root.path().join("config/remote-service/settings.toml"));
    let engine = remote_service_engine::start(Scope::User, Listen::Private, Parts::SETTINGS)
        .expect("an engine of the test's own");
    let client = Client::new(engine.socket()).unwrap();
    (guard, engine, client)
}

fn window(client: &Client) -> Harness<'static, SettingsState> {
    let state = SettingsState::new(client.config().unwrap(), client.status().ok());
    Harness::new_ui_state(
        |ui, state: &mut SettingsState| settings_ui(ui, state),
        state,
    )
}

/// Does what the window asked for, as its thread does, and shows the outcome.
fn perform_pending(harness: &mut Harness<'static, SettingsState>, client: &Client) {
    let actions = std::mem::take(&mut harness.state_mut().pending);
    assert!(!actions.is_empty(), "the click asked for nothing");
    for action in actions {
        let (form, original) = (
            harness.state().form.clone(),
            harness.state().original.clone(),
        );
        if let Some(outcome) = perform(client, action, &form, &original) {
            harness.state_mut().heard(outcome);
        }
    }
    harness.run();
}

fn type_into(harness: &mut Harness<'static, SettingsState>, label: &str, text: &str) {
    let field = harness
        .query_by_role_and_label(Role::TextInput, label)
        .unwrap_or_else(|| harness.get_by_role_and_label(Role::PasswordInput, label));
    field.focus();
    field.type_text(text);
    harness.run();
}

fn setting(client: &Client, key: &str) -> Option<String> {
    client
        .config()
        .unwrap()
        .settings
        .get(key)
        .cloned()
        .flatten()
}

/// No engine answers: the window opens all the same, grey, and says the service is not
/// running and how to start it.
#[test]
fn without_an_engine_the_window_says_the_service_is_not_running() {
    let folder = tempfile::tempdir().unwrap();
    let client = Client::new(&folder.path().join("api.sock")).unwrap();
    let state = opening_state(&client).expect("the window opens");
    let harness = Harness::new_ui_state(
        |ui, state: &mut SettingsState| settings_ui(ui, state),
        state,
    );
    // The light's sentence, and the message under the buttons.
    assert!(
        harness
            .query_all_by_label(&remote_service_api::Connection::not_running().sentence())
            .count()
            >= 1,
        "the light says the service is not running"
    );
    assert_eq!(
        harness.state().message,
        Some((false, capitalised(remote_service_api::NOT_RUNNING)))
    );
    assert!(
        harness
            .query_all_by_label_contains("start it with `systemctl start remote-service`")
            .count()
            >= 1
    );
}

#[test]
fn what_is_typed_by_label_is_saved_by_the_engine_and_applied() {
    let (_one, _engine, client) = engine();
    let mut harness = window(&client);
    type_into(&mut harness, "Service organisation ID", "ORG-WINDOW");
    harness.get_by_label("Enabled").click();
    harness.run();
    type_into(
        &mut harness,
        "Verification code (not set)",
        "code-from-the-window",
    );
    harness.get_by_label("Save").click();
    harness.run();
    perform_pending(&mut harness, &client);

    harness.get_by_label("Saved: Remote Service uses the new settings now.");
    assert_eq!(
        setting(&client, "organisation_id").as_deref(),
        Some("ORG-WINDOW")
    );
    assert_eq!(setting(&client, "enabled").as_deref(), Some("true"));
    assert_eq!(
        client.config().unwrap().secrets["verification_code"],
        "set",
        "the code went to the secret store"
    );
    // The window now shows what is saved, the code as set and never its value.
    assert!(!harness.state().form.is_dirty(&harness.state().original));
    harness.get_by_role_and_label(Role::PasswordInput, "Verification code (set)");
    assert!(harness.query_by_label("code-from-the-window").is_none());
}

#[test]
fn bad_values_are_said_beside_their_fields_and_nothing_is_saved() {
    let (_one, _engine, client) = engine();
    let mut harness = window(&client);
    type_into(&mut harness, "Service organisation ID", "ORG-HALF");
    harness.get_by_label("Use proxy server").click();
    harness.run();
    type_into(
        &mut harness,
        "Proxy URL",
        "http://me:secret@proxy.example.com:8080",
    );
    type_into(
        &mut harness,
        "Remote Floating Licence Server shared folder",
        "relative/DroppedLicense",
    );
    harness.state_mut().form.assistance_hours = 500;
    harness.get_by_label("Save").click();
    harness.run();
    perform_pending(&mut harness, &client);

    harness.get_by_label("Not saved: correct the fields marked in red. Nothing was changed.");
    let errors = harness.state().errors.clone();
    for key in ["proxy.url", "licence.remote_folder", "assistance.hours"] {
        let error = errors
            .get(key)
            .unwrap_or_else(|| panic!("no error for {key}: {errors:?}"));
        harness.get_by_label(error);
    }
    assert!(
        !errors["proxy.url"].contains("me:secret"),
        "the password typed into the URL is not repeated: {}",
        errors["proxy.url"]
    );
    assert!(
        errors["assistance.hours"].contains("1 to 168"),
        "{errors:?}"
    );
    // Nothing half-saved: the good change waited with the bad ones.
    assert_eq!(setting(&client, "organisation_id"), None);
    assert_eq!(setting(&client, "proxy.mode").as_deref(), Some("none"));
}

#[test]
fn test_connection_shows_each_step_with_its_outcome() {
    let (_one, _engine, client) = engine();
    client
        .set_config("backoffice_url", "http://127.0.0.1:9")
        .unwrap();
    let mut harness = window(&client);
    harness.get_by_label("Test connection").click();
    harness.run();
    perform_pending(&mut harness, &client);
    harness.get_by_label("Connection test");
    let report = match &harness.state().report {
        Some(Ok(report)) => report.clone(),
        other => panic!("a report: {other:?}"),
    };
    assert!(!report.passed());
    for step in &report.steps {
        let shown = harness
            .query_all_by_label_contains(&format!("{} {}", step.name, step.outcome.as_str()))
            .count();
        assert_eq!(shown, 1, "the step {} is shown", step.name);
    }
}

#[test]
fn the_folder_test_says_what_it_found() {
    let (_one, _engine, client) = engine();
    let mut harness = window(&client);
    type_into(
        &mut harness,
        "Remote Floating Licence Server shared folder",
        "/nonexistent/DroppedLicense",
    );
    harness.get_by_label("Test folder").click();
    harness.run();
    perform_pending(&mut harness, &client);
    harness.get_by_label("/nonexistent/DroppedLicense does not exist");

    let folder = tempfile::tempdir().unwrap();
    harness.state_mut().form.remote_folder = folder.path().display().to_string();
    harness.run();
    harness.get_by_label("Test folder").click();
    harness.run();
    perform_pending(&mut harness, &client);
    assert!(harness.state().folder_test.as_ref().unwrap().ok);
    assert_eq!(
        std::fs::read_dir(folder.path()).unwrap().count(),
        0,
        "the test leaves nothing behind"
    );
}

/// Snapshots of the window as a person sees it, without an engine: each light, a folder
/// that failed with errors beside fields, remote assistance, and at scale 2 (HiDPI). The
/// images are in `host/tests/snapshots/` (`UPDATE_SNAPSHOTS=1 cargo test -p remote-service
/// snapshot` makes them again after a deliberate change; look at them before committing).
mod snapshots {
    use std::collections::BTreeMap;

    use remote_service_api::{
        AssistanceStatus, Connection, FeatureSummary, LicenceSummary, Light, Named, PluginHealth,
        PluginInfo, PluginState, Precondition, Status,
    };

    use super::*;

    fn config() -> ConfigView {
        let settings: BTreeMap<String, Option<String>> = [
            ("enabled", Some("true")),
            ("organisation_id", Some("ORG-DEMO")),
            ("proxy.mode", Some("manual")),
            ("proxy.url", Some("http://proxy.example.com:8080")),
            ("proxy.user", Some("printer")),
            ("licence.remote_folder", Some("/mnt/fls2/DroppedLicense")),
            ("assistance.hours", Some("72")),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.map(str::to_string)))
        .collect();
        ConfigView {
            file: "/home/user/.config/remote-service/settings.toml".into(),
            settings,
            secrets: [
                ("verification_code".to_string(), "set".to_string()),
                ("proxy_password".to_string(), "not set".to_string()),
            ]
            .into(),
            secret_store: "keyring".into(),
            log_file: None,
            data_dir: None,
        }
    }

    fn plugin(id: &str, details: Option<serde_json::Value>) -> PluginInfo {
        PluginInfo {
            id: id.into(),
            version: "0.1.0".into(),
            api_version: "1.2.0".into(),
            display_name: id.into(),
            licence_option: None,
            state: PluginState::Running,
            detail: "ok".into(),
            status: Some(PluginHealth::Ok),
            path: format!("/usr/lib/remote-service/plugins/lib{id}.so").into(),
            details,
        }
    }

    fn status(state: Light, reason: Option<&str>) -> Status {
        Status {
            connection: Connection {
                state,
                reason: reason.map(str::to_string),
            },
            enabled: state != Light::Grey,
            licence: Some(LicenceSummary {
                serial_number: "RS-DEMO-0001".into(),
                organisation: Named {
                    id: "ORG-DEMO".into(),
                    name: "Demo Print Shop".into(),
                },
                product: Named {
                    id: "p".into(),
                    name: "PRISMAdirect".into(),
                },
                licence_id: "LIC-1".into(),
                sequence: 3,
                issued_at: "2026-11-01T09:00:00Z".into(),
                licence_expires_at: None,
                maintenance_through: "2027-12-31".into(),
                features: vec![FeatureSummary {
                    code: "users".into(),
                    count: Some(25),
                }],
                key_id: "7CE99D1D729C426B".into(),
                warnings: Vec::new(),
            }),
            licence_folder: "/srv/fls/DroppedLicense".into(),
            plugins: vec![
                plugin("proxy-detector", None),
                plugin("licence-updater", None),
            ],
            plugin_folder_problem: None,
            menu: Vec::new(),
            assistance: None,
        }
    }

    fn snapshot(name: &str, mut state: SettingsState, pixels_per_point: f32) {
        state.save_into = "/home/user".into();
        let mut harness = Harness::builder()
            .with_size([620.0, 900.0])
            .with_pixels_per_point(pixels_per_point)
            .with_theme(eframe::egui::Theme::Light)
            .build_ui_state(
                |ui, state: &mut SettingsState| settings_ui(ui, state),
                state,
            );
        harness.run();
        harness.snapshot(name);
    }

    #[test]
    fn the_window_when_connected() {
        snapshot(
            "settings-green",
            SettingsState::new(config(), Some(status(Light::Green, None))),
            1.0,
        );
    }

    #[test]
    fn the_window_when_the_connection_failed() {
        let reason = "connection refused by 127.0.0.1:47801: the back office is not running or a firewall blocks it";
        snapshot(
            "settings-orange",
            SettingsState::new(config(), Some(status(Light::Orange, Some(reason)))),
            1.0,
        );
    }

    #[test]
    fn the_window_when_disabled() {
        let reason = "disabled: there is no connection to the remote service back office";
        snapshot(
            "settings-grey",
            SettingsState::new(config(), Some(status(Light::Grey, Some(reason)))),
            1.0,
        );
    }

    #[test]
    fn the_window_with_a_folder_that_failed_and_errors_beside_their_fields() {
        let mut status = status(Light::Green, None);
        status.plugins[1].details = Some(serde_json::json!({"failed": [
            {"folder": "/mnt/fls2/DroppedLicense", "reason": "read-only file system (os error 30)"}
        ]}));
        let mut state = SettingsState::new(config(), Some(status));
        state.errors.insert(
            "proxy.url".into(),
            "proxy.url cannot be \"proxy example\": it is not a proxy address".into(),
        );
        state.message = Some((
            false,
            "Not saved: correct the fields marked in red. Nothing was changed.".into(),
        ));
        snapshot("settings-failures", state, 1.0);
    }

    #[test]
    fn the_window_with_remote_assistance_at_scale_2() {
        let mut status = status(Light::Green, None);
        status.assistance = Some(AssistanceStatus {
            allowed: false,
            until: None,
            teamviewer_id: None,
            session: None,
            preconditions: vec![
                Precondition {
                    name: "licence-update".into(),
                    ok: true,
                    detail: "automatic licence update is configured and connected".into(),
                },
                Precondition {
                    name: "teamviewer".into(),
                    ok: false,
                    detail: "TeamViewer is not installed".into(),
                },
            ],
            requests: Vec::new(),
            steps: Vec::new(),
            recent: Vec::new(),
            record_problem: None,
        });
        snapshot(
            "settings-assistance-hidpi",
            SettingsState::new(config(), Some(status)),
            2.0,
        );
    }
}
