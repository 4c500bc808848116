#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    remote_service_plugin_teamviewer_bridge::fuzzing::teamviewer_output(data)
});
