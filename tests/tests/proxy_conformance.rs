//! The proxy detector's conformance table (`tests/data/proxy-conformance.json`): each case's
//! inputs — the environment, GNOME's GSettings (the keyfile backend), KDE's `kioslaverc`,
//! `/etc/sysconfig/proxy`, a PAC script — given to
//! `remote-service proxy resolve URL --json` (with `proxy.mode auto` and no running engine,
//! so that the command's own engine and its proxy detector plugin see exactly them), and
//! the answer compared with the case's source and ordered candidates, or its error.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use remote_service_tests::Scratch;
use serde_json::Value;

/// What the process environment might carry that the cases set themselves.
const CLEARED: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
    "XDG_CURRENT_DESKTOP",
    "KDE_FULL_SESSION",
    "GSETTINGS_BACKEND",
];

#[test]
fn the_detector_answers_every_case_of_the_conformance_table() {
    let table: Value = serde_json::from_str(
        &fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/proxy-conformance.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 60, "at least 60 cases: {}", cases.len());
    let scratch = Scratch::new();
    scratch.write_settings("[proxy]\nmode = \"auto\"\n");
    let kioslaverc = scratch.root().join("config/kioslaverc");
    let sysconfig = scratch.root().join("sysconfig-proxy");
    // GSettings' keyfile backend (GSETTINGS_BACKEND=keyfile) reads this file.
    let keyfile = scratch.root().join("config/glib-2.0/settings/keyfile");
    let pac_file = scratch.root().join("proxy.pac");
    let pac_http = serve_file(pac_file.clone());
    // And over HTTPS, with a certificate of a throwaway CA that the commands trust
    // (SSL_CERT_FILE, as every TLS client of the system reads it).
    let certificates = scratch.root().join("certificates");
    fs::create_dir_all(&certificates).unwrap();
    let (ca, cert, key) = remote_service_tests::proxy::test_certificates(&certificates);
    let (_https_server, https_port) =
        remote_service_tests::proxy::https_file_server(scratch.root(), &cert, &key);
    let pac_https = format!("https://localhost:{https_port}/proxy.pac");
    fs::create_dir_all(keyfile.parent().unwrap()).unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let _ = fs::remove_file(&kioslaverc);
        let _ = fs::remove_file(&keyfile);
        // A case's PAC script is a file; `{pac}` in the desktop's settings is its URL.
        let pac_url = format!("file://{}", pac_file.display());
        let _ = fs::remove_file(&pac_file);
        if let Some(script) = case["pac"].as_str() {
            fs::write(&pac_file, script).unwrap();
        }
        // `{pac_http}`: the same script served over HTTP on loopback.
        let placeholders = |text: &str| {
            text.replace("{pac_http}", &pac_http)
                .replace("{pac_https}", &pac_https)
                .replace("{pac}", &pac_url)
        };
        if let Some(text) = case["gsettings"].as_str() {
            fs::write(&keyfile, placeholders(text)).unwrap();
        }
        let _ = fs::remove_file(&sysconfig);
        let _ = fs::remove_dir(&sysconfig);
        if let Some(text) = case["kioslaverc"].as_str() {
            fs::write(&kioslaverc, placeholders(text)).unwrap();
        }
        match case["sysconfig"].as_str() {
            Some("<folder>") => fs::create_dir(&sysconfig).unwrap(),
            Some(text) => fs::write(&sysconfig, text).unwrap(),
            None => {}
        }
        let mut command = scratch.command(&["proxy", "resolve", url, "--json"]);
        for name in CLEARED {
            command.env_remove(name);
        }
        command.env("REMOTE_SERVICE_SYSCONFIG_PROXY", &sysconfig);
        command.env("SSL_CERT_FILE", &ca);
        for (key, value) in case["env"].as_object().unwrap() {
            command.env(key, value.as_str().unwrap());
        }
        let output = command.output().unwrap();
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let problem = match case["error"].as_str() {
            Some(words) => {
                let error = answer["error"].as_str().unwrap_or_default();
                (output.status.code() != Some(1) || !error.contains(words) || answer["url"] != url)
                    .then(|| format!("expected exit 1 and an error with {words:?}"))
            }
            None => (output.status.code() != Some(0)
                || answer["url"] != url
                || answer["mode"] != "auto"
                || answer["source"] != case["source"]
                || answer["candidates"] != case["candidates"])
                .then(|| {
                    format!(
                        "expected source {} and candidates {}",
                        case["source"], case["candidates"]
                    )
                }),
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{name}: {problem}; got (exit {:?}) {answer}\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Serves `file` (read at each request) over HTTP on a loopback port, on a thread of its
/// own for the rest of the test process; its URL.
fn serve_file(file: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/proxy.pac", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // The whole request head before the answer, as an HTTP server reads it.
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && request.len() < 16 * 1024 {
                match stream.read(&mut byte) {
                    Ok(1) => request.push(byte[0]),
                    _ => break,
                }
            }
            let (status, body) = match fs::read(&file) {
                Ok(body) => ("200 OK", body),
                Err(_) => ("404 Not Found", Vec::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/x-ns-proxy-autoconfig\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    url
}
