//! The layers of `docs/ARCHITECTURE.md`, checked on the workspace as Cargo sees it
//! (`cargo metadata`) and on the binary's source: a dependency that crosses a layer fails
//! here, with the rule it breaks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace's packages as `cargo metadata` describes them (their declared
/// dependencies; nothing is resolved or downloaded).
fn metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace folder")
        .to_path_buf()
}

/// The names of the normal (not dev, not build) dependencies of package `name`.
fn dependencies(metadata: &Value, name: &str) -> BTreeSet<String> {
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in the workspace"));
    package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|dependency| dependency["kind"].is_null())
        .map(|dependency| dependency["name"].as_str().unwrap().to_string())
        .collect()
}

fn check_only(metadata: &Value, package: &str, allowed: &[&str], rule: &str) {
    let extra: Vec<String> = dependencies(metadata, package)
        .into_iter()
        .filter(|dependency| !allowed.contains(&dependency.as_str()))
        .collect();
    assert!(extra.is_empty(), "{package} depends on {extra:?}: {rule}");
}

fn check_none(metadata: &Value, package: &str, forbidden: &[&str], rule: &str) {
    let found: Vec<String> = dependencies(metadata, package)
        .into_iter()
        .filter(|dependency| forbidden.contains(&dependency.as_str()))
        .collect();
    assert!(found.is_empty(), "{package} depends on {found:?}: {rule}");
}

#[test]
fn each_crate_depends_only_on_the_layers_below_it() {
    let metadata = metadata();
    check_only(
        &metadata,
        "remote-service-plugin-api",
        &["abi_stable", "serde", "serde_json"],
        "the plugin ABI is the only crate a plugin needs and does no I/O",
    );
    check_only(
        &metadata,
        "remote-service-licence-format",
        &[
            "base64",
            "serde",
            "serde_json",
            "thiserror",
            "time",
            "minisign",
        ],
        "the licence format does no I/O and trusts nothing",
    );
    check_none(
        &metadata,
        "remote-service-api",
        &[
            "remote-service-engine",
            "remote-service-plugin-api",
            "remote-service-licence-format",
        ],
        "the local API's contract knows nothing of the engine",
    );
    for plugin in [
        "remote-service-plugin-licence-updater",
        "remote-service-plugin-teamviewer-bridge",
        "remote-service-plugin-proxy-detector",
    ] {
        check_none(
            &metadata,
            plugin,
            &[
                "remote-service-engine",
                "remote-service-api",
                "remote-service-licence-format",
                "remote-service",
            ],
            "a plugin depends on the plugin API and nothing of the host",
        );
    }
    check_none(
        &metadata,
        "remote-service-backoffice",
        &[
            "remote-service-engine",
            "remote-service-api",
            "remote-service-plugin-api",
        ],
        "the back office shares the licence format with the engine, nothing else",
    );
}

/// The binary's own files, with their text.
fn binary_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }
    let mut found = Vec::new();
    walk(&workspace().join("host/src"), &mut found);
    assert!(found.len() > 10, "the binary's sources: {found:?}");
    found
}

#[test]
fn the_front_ends_use_the_engine_crate_only_to_start_an_engine() {
    // What the engine crate offers the binary: starting an engine (and its logging and stop
    // signal). Everything else goes through the local API's client.
    let allowed = [
        "start",
        "init_logging",
        "stop_signal",
        "Listen",
        "Parts",
        "RunningEngine",
        "Scope",
    ];
    for (path, text) in binary_sources() {
        for (at, _) in text.match_indices("remote_service_engine::") {
            let rest = &text[at + "remote_service_engine::".len()..];
            let names: Vec<&str> = if let Some(list) = rest.strip_prefix('{') {
                list[..list.find('}').unwrap()]
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .collect()
            } else {
                let end = rest
                    .find(|character: char| !(character.is_alphanumeric() || character == '_'))
                    .unwrap_or(rest.len());
                vec![&rest[..end]]
            };
            for name in names {
                assert!(
                    allowed.contains(&name),
                    "{} uses remote_service_engine::{name}: front-ends reach the engine through remote_service_api's client",
                    path.display()
                );
            }
        }
    }
}
