#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| remote_service_engine::fuzzing::settings_file(data));
