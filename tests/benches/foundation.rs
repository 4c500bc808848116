//! Figures of the foundation, measured in a release build:
//!
//! - plugin load time: dlopen, abi_stable's version and layout checks and the manifest,
//!   per plugin file (target: under 1 ms);
//! - licence pickup latency: a licence file written into the watched `DroppedLicense`
//!   folder until the engine has it in force (target: under 1 s).
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench foundation`

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use remote_service_engine::engine::{Engine, EngineEvent, Parts};
use remote_service_engine::paths::Paths;
use remote_service_engine::plugins::worker::Worker;
use remote_service_engine::settings::Settings;
use remote_service_tests::{
    artifact, library_file_name, licence_kit, PayloadBuilder, REAL_PLUGINS,
};

const LOADS_PER_PLUGIN: usize = 30;
const PICKUPS: u64 = 20;

fn main() {
    let scratch = tempfile::tempdir().expect("scratch folder");
    println!(
        "remote-service foundation benchmark ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    plugin_loads(&scratch.path().join("plugins"));
    licence_pickups(scratch.path());
}

/// Loads fresh copies of each plugin file (a copy is a new file to the dynamic loader,
/// so every load is a real dlopen and layout check).
fn plugin_loads(dir: &std::path::Path) {
    fs::create_dir_all(dir).unwrap();
    println!(
        "\nplugin load (dlopen + ABI checks + manifest), {LOADS_PER_PLUGIN} fresh copies each:"
    );
    for plugin in REAL_PLUGINS {
        let source = artifact(&library_file_name(plugin));
        let mut times = Vec::new();
        for copy in 0..LOADS_PER_PLUGIN {
            let path = dir.join(library_file_name(&format!("{plugin}_{copy}")));
            fs::copy(&source, &path).unwrap();
            let started = Instant::now();
            let (_worker, loaded) =
                Worker::spawn(&path, Duration::from_secs(5)).expect("plugin loads");
            times.push(started.elapsed());
            assert!(!loaded.manifest.id.is_empty());
        }
        let first = times[0];
        report(plugin, &mut times, Some(first));
    }
}

fn licence_pickups(root: &std::path::Path) {
    let paths = Paths {
        config_dir: root.join("config"),
        data_dir: root.join("data"),
        state_dir: root.join("state"),
        system_dir: root.join("etc"),
        plugin_dir: root.join("no-plugins"),
    };
    for dir in [
        &paths.system_dir,
        &paths.plugin_dir,
        &paths.default_licence_folder(),
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    let key = licence_kit::generate_key(&root.join("keys"), "bench").unwrap();
    fs::copy(&key.public, paths.system_dir.join("bench.pub")).unwrap();
    let licences: Vec<(u64, Vec<u8>)> = (1..=PICKUPS)
        .map(|sequence| {
            let payload = PayloadBuilder::new("RS-BENCH", sequence).feature("auto-licence-update");
            (
                sequence,
                licence_kit::sign_licence(&key.secret, &payload.to_json())
                    .unwrap()
                    .into_bytes(),
            )
        })
        .collect();

    let mut engine = Engine::open(&paths, &Settings::default(), Parts::ALL).unwrap();
    engine.watch_licence_folder().unwrap();
    let target: PathBuf = paths.default_licence_folder().join("RS-BENCH.lic");
    let mut times = Vec::new();
    for (sequence, bytes) in licences {
        let started = Instant::now();
        // Written in place, as `cp` does when a user copies a licence by hand.
        fs::write(&target, &bytes).unwrap();
        loop {
            let events = engine.next_events();
            if events
                .iter()
                .any(|event| matches!(event, EngineEvent::LicenceChanged))
                && engine
                    .licence()
                    .is_some_and(|licence| licence.payload.sequence == sequence)
            {
                break;
            }
        }
        times.push(started.elapsed());
    }
    println!(
        "\nlicence pickup (file written into the watched folder -> in force), {PICKUPS} licences:"
    );
    report("pickup", &mut times, None);
}

fn report(name: &str, times: &mut [Duration], first: Option<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    let first = first
        .map(|first| format!("  first {:>9.3} ms", ms(first)))
        .unwrap_or_default();
    println!(
        "  {name:<42} median {:>9.3} ms  min {:>9.3} ms  max {:>9.3} ms{first}",
        ms(median),
        ms(times[0]),
        ms(max)
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
