//! Every input the fuzzers kept (`fuzz/corpus/TARGET/`) and every crash they found, fixed
//! since (`fuzz/regressions/TARGET/`), run through its parser on stable Rust: CI keeps the
//! corpora honest without a nightly compiler.

use std::fs;
use std::path::Path;

/// A fuzz target: its name and the function it fuzzes.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("licence_file", remote_service_engine::fuzzing::licence_file),
    (
        "settings_file",
        remote_service_engine::fuzzing::settings_file,
    ),
    (
        "local_api_request",
        remote_service_engine::fuzzing::local_api_request,
    ),
    (
        "backoffice_answers",
        remote_service_engine::fuzzing::backoffice_answers,
    ),
    (
        "backoffice_request_bodies",
        remote_service_backoffice::fuzzing::request_bodies,
    ),
    (
        "teamviewer_output",
        remote_service_plugin_teamviewer_bridge::fuzzing::teamviewer_output,
    ),
];

fn replay(folder: &str, target: &str, parse: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(folder)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| parse(&bytes)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {message}", path.display());
        }
        count += 1;
    }
    count
}

#[test]
fn every_kept_input_and_every_fixed_crash_is_parsed_without_a_broken_promise() {
    for (target, parse) in TARGETS {
        let kept = replay("corpus", target, *parse);
        assert!(
            kept > 0,
            "the corpus of {target} is empty: run the fuzzer (fuzz/README.md)"
        );
        replay("regressions", target, *parse);
    }
}
