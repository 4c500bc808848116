//! The plugin host's calls that the command line does not reach yet (menu clicks, events),
//! driven through the host library with the real misbehaving plugin file.

use std::fs;
use std::time::Duration;

use crossbeam_channel::unbounded;
use remote_service_engine::plugins::{HostContext, PluginManager, PluginState};
use remote_service_plugin_api::HostEvent;
use remote_service_tests::Scratch;

/// A manager over a scratch plugin folder holding the misbehaving plugin, set to
/// misbehave `does` at `at`.
fn manager(scratch: &Scratch, at: &str, does: &str) -> PluginManager {
    scratch.add_fixture_plugin("fixture_misbehaving_plugin", "misbehaving");
    let settings_dir = scratch.config_dir().join("plugins");
    fs::create_dir_all(&settings_dir).unwrap();
    fs::write(
        settings_dir.join("misbehaving.json"),
        format!(r#"{{"at": "{at}", "does": "{does}"}}"#),
    )
    .unwrap();
    let (messages, _received) = unbounded();
    let context = HostContext::new(messages, settings_dir);
    let mut manager = PluginManager::load(&scratch.plugin_dir, context, Duration::from_millis(400));
    manager.apply_licence();
    manager
}

fn state_of(manager: &PluginManager, id: &str) -> (PluginState, String) {
    let info = manager
        .infos()
        .into_iter()
        .find(|info| info.id == id)
        .expect("plugin listed");
    (info.state, info.detail)
}

#[test]
fn a_plugin_that_panics_on_a_menu_click_is_faulted_and_its_items_disappear() {
    let scratch = Scratch::new();
    let mut manager = manager(&scratch, "click", "panic");
    let items = manager.menu_items();
    assert!(items
        .iter()
        .any(|(plugin, item)| plugin == "misbehaving" && item.label.as_str() == "Misbehave"));

    assert!(!manager.click("misbehaving", "misbehave"));
    let (state, detail) = state_of(&manager, "misbehaving");
    assert_eq!(state, PluginState::Faulted);
    assert_eq!(
        detail,
        "panicked while handling a menu click: plugin panicked: misbehaving on purpose at click"
    );
    assert!(manager
        .menu_items()
        .iter()
        .all(|(plugin, _)| plugin != "misbehaving"));
    assert_eq!(state_of(&manager, "proxy-detector").0, PluginState::Running);
}

#[test]
fn a_plugin_that_hangs_on_an_event_is_faulted_and_never_called_again() {
    let scratch = Scratch::new();
    let mut manager = manager(&scratch, "event", "hang");
    // Returns: the host waits for the plugin only as long as its time limit (400 ms).
    manager.broadcast(&HostEvent::SettingsChanged);
    let (state, detail) = state_of(&manager, "misbehaving");
    assert_eq!(state, PluginState::Faulted);
    assert_eq!(
        detail,
        "did not answer within 400 ms while handling an event"
    );

    // Never called again: its thread still hangs in the first event, so asking it for its
    // status would wait out the time limit and fault it "while reporting its status".
    for _ in 0..3 {
        manager.broadcast(&HostEvent::SettingsChanged);
        manager.refresh_statuses();
    }
    assert_eq!(
        state_of(&manager, "misbehaving"),
        (
            PluginState::Faulted,
            "did not answer within 400 ms while handling an event".to_string()
        ),
        "the detail is still the first fault's"
    );
    assert_eq!(state_of(&manager, "proxy-detector").0, PluginState::Running);
}
