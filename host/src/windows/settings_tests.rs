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
