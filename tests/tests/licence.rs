//! The licence store as a user of `remote-service licence ...` and the installer's
//! `entitlement check` see it: real licences signed with real keys, real files.

use std::fs;
use std::process::Command;

use remote_service_tests::{PayloadBuilder, Scratch};

fn installed(scratch: &Scratch, payload: &PayloadBuilder) -> std::path::PathBuf {
    let key = scratch.trusted_key("vendor");
    let licence = scratch.licence_file(&key, payload, "licence.lic");
    let run = scratch.run(&["licence", "install", licence.to_str().unwrap()]);
    assert!(
        run.success().contains("installed licence for serial"),
        "{}",
        run.stdout
    );
    licence
}

#[test]
fn show_without_a_licence_says_so_and_fails() {
    let scratch = Scratch::new();
    let run = scratch.run(&["licence", "show"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("no licence is installed"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_installed_licence_is_shown_with_everything_the_user_needs() {
    let scratch = Scratch::new();
    let payload = PayloadBuilder::new("RS-3003", 7)
        .feature("auto-licence-update")
        .feature_count("users", 25)
        .maintenance_through("2027-12-31")
        .licence_expires_at("2028-01-31T00:00:00Z");
    installed(&scratch, &payload);
    let on_disk = scratch.licence_folder().join("RS-3003.lic");
    assert!(on_disk.exists());
    let leftovers: Vec<_> = fs::read_dir(scratch.licence_folder())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("RS-3003.lic")],
        "no temp file is left behind"
    );

    let text = scratch.run(&["licence", "show"]);
    let text = text.success();
    for line in [
        "Serial number:      RS-3003",
        "Licence expires:    2028-01-31T00:00:00Z",
        "Maintenance until:  2027-12-31",
        "Features:           auto-licence-update, users (25)",
        "Sequence:           7",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }

    let json = scratch.run(&["licence", "show", "--json"]).json();
    assert_eq!(json["serial_number"], "RS-3003");
    assert_eq!(json["sequence"], 7);
    assert_eq!(json["maintenance_through"], "2027-12-31");
    assert_eq!(json["features"][1]["code"], "users");
    assert_eq!(json["features"][1]["count"], 25);
    assert_eq!(json["key_id"].as_str().unwrap().len(), 16);
}

#[test]
fn an_expired_licence_stays_in_force_and_says_that_it_expired() {
    let scratch = Scratch::new();
    let payload = PayloadBuilder::new("RS-3004", 2)
        .feature("remote-assistance")
        .maintenance_through("2025-12-31")
        .licence_expires_at("2026-01-31T00:00:00Z");
    installed(&scratch, &payload);
    let text = scratch.run(&["licence", "show"]);
    let text = text.success();
    for line in [
        "Serial number:      RS-3004",
        "Features:           remote-assistance",
        "Warning:            the licence expired on 2026-01-31: contact your supplier for a new licence (it stays in force here until one arrives)",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let json = scratch.run(&["licence", "show", "--json"]).json();
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("the licence expired on 2026-01-31"),
        "{json}"
    );
}

#[test]
fn verify_accepts_a_good_licence_and_names_what_is_wrong_with_a_bad_one() {
    let scratch = Scratch::new();
    let trusted = scratch.trusted_key("vendor");
    let stranger = scratch.untrusted_key("stranger");
    let payload = PayloadBuilder::new("RS-4004", 2);
    let good = scratch.licence_file(&trusted, &payload, "good.lic");
    let run = scratch.run(&["licence", "verify", good.to_str().unwrap()]);
    assert!(run.success().contains("is valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Serial number:      RS-4004"),
        "{}",
        run.stdout
    );

    let unknown = scratch.licence_file(&stranger, &payload, "unknown.lic");
    let text = fs::read_to_string(&good).unwrap();
    let forged = scratch.root().join("forged.lic");
    let other_payload = String::from_utf8(PayloadBuilder::new("RS-4004", 99).to_json()).unwrap();
    fs::write(&forged, swap_payload(&text, &other_payload)).unwrap();
    let truncated = scratch.root().join("truncated.lic");
    fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let garbage = scratch.root().join("garbage.lic");
    fs::write(&garbage, b"\x00\x01PK\x03\x04 not a licence").unwrap();

    for (file, reason) in [
        (
            &unknown,
            format!("signed with unknown key {}", stranger.key_id),
        ),
        (&forged, "does not verify".to_string()),
        (&truncated, "truncated".to_string()),
        (&garbage, "not a remote service licence".to_string()),
    ] {
        let run = scratch.run(&["licence", "verify", file.to_str().unwrap()]);
        assert_eq!(run.code, Some(1), "{}: {}", file.display(), run.stdout);
        assert!(
            run.stderr.contains(&reason),
            "{}: {:?} lacks {reason:?}",
            file.display(),
            run.stderr
        );
        let json = scratch
            .run(&["licence", "verify", "--json", file.to_str().unwrap()])
            .json();
        assert_eq!(json["valid"], false);
    }
}

/// Replaces the base64 payload of an armoured licence, keeping its signature.
fn swap_payload(licence: &str, payload_json: &str) -> String {
    use base64::Engine as _;
    let begin = "-----BEGIN REMOTE SERVICE LICENCE-----\n";
    let end = "-----END REMOTE SERVICE LICENCE-----";
    let tail = &licence[licence.find(end).unwrap()..];
    format!(
        "{begin}{}\n{tail}",
        base64::engine::general_purpose::STANDARD.encode(payload_json)
    )
}

#[test]
fn install_refuses_a_downgrade_and_keeps_the_licence_in_force() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    installed(
        &scratch,
        &PayloadBuilder::new("RS-5005", 5).feature("auto-licence-update"),
    );
    let before = fs::read(scratch.licence_folder().join("RS-5005.lic")).unwrap();

    let older = scratch.licence_file(&key, &PayloadBuilder::new("RS-5005", 4), "older.lic");
    let run = scratch.run(&["licence", "install", older.to_str().unwrap()]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("sequence 4 is lower than the installed sequence 5"),
        "{}",
        run.stderr
    );

    let same_sequence = scratch.licence_file(
        &key,
        &PayloadBuilder::new("RS-5005", 5).feature("remote-assistance"),
        "same.lic",
    );
    let run = scratch.run(&["licence", "install", same_sequence.to_str().unwrap()]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("sequence 5 is already installed with other content"),
        "{}",
        run.stderr
    );

    assert_eq!(
        fs::read(scratch.licence_folder().join("RS-5005.lic")).unwrap(),
        before
    );
    assert_eq!(
        scratch.run(&["licence", "show", "--json"]).json()["sequence"],
        5
    );
}

#[test]
fn a_bad_file_dropped_into_the_folder_is_refused_and_the_licence_stays() {
    let scratch = Scratch::new();
    installed(&scratch, &PayloadBuilder::new("RS-6006", 3));
    fs::write(
        scratch.licence_folder().join("broken.lic"),
        "-----BEGIN REMOTE SERVICE LICENCE-----\nAAAA",
    )
    .unwrap();
    let run = scratch.run(&["licence", "show", "--json"]);
    assert_eq!(run.json()["sequence"], 3);
    assert!(run.stderr.contains("broken.lic refused"), "{}", run.stderr);
}

#[test]
fn entitlement_check_compares_the_release_date_with_the_maintenance_end() {
    let scratch = Scratch::new();
    let run = scratch.run(&["entitlement", "check", "--release-date", "2026-12-01"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.contains("no valid licence is installed"),
        "{}",
        run.stderr
    );

    installed(
        &scratch,
        &PayloadBuilder::new("RS-7007", 1).maintenance_through("2027-06-30"),
    );
    let run = scratch.run(&["entitlement", "check", "--release-date", "2027-06-30"]);
    assert!(
        run.success()
            .contains("maintenance through 2027-06-30 covers the release of 2027-06-30"),
        "{}",
        run.stdout
    );

    let run = scratch.run(&["entitlement", "check", "--release-date", "2027-07-01"]);
    assert_eq!(run.code, Some(3));
    assert!(
        run.stderr.contains("2027-07-01") && run.stderr.contains("2027-06-30"),
        "{}",
        run.stderr
    );

    let run = scratch.run(&["entitlement", "check", "--release-date", "next week"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("is not a date of the form YYYY-MM-DD"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_licence_signed_by_the_real_minisign_tool_is_accepted() {
    let scratch = Scratch::new();
    let dir = scratch.root().join("minisign");
    fs::create_dir_all(&dir).unwrap();
    let payload = PayloadBuilder::new("RS-8008", 1).feature("remote-assistance");
    let payload_json = payload.to_json();
    fs::write(dir.join("payload.json"), &payload_json).unwrap();
    let status = Command::new("minisign")
        .args(["-G", "-W", "-p", "real.pub", "-s", "real.key"])
        .current_dir(&dir)
        .status()
        .expect("the minisign tool (Debian package minisign)");
    assert!(status.success());
    let status = Command::new("minisign")
        .args(["-S", "-s", "real.key", "-m", "payload.json", "-t"])
        .arg(format!(
            "remote-service-licence-v1 {} 1",
            payload.licence_id()
        ))
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    fs::copy(dir.join("real.pub"), scratch.system_dir.join("real.pub")).unwrap();
    let signature = fs::read_to_string(dir.join("payload.json.minisig")).unwrap();
    let licence = remote_service_tests::licence_kit::armour(&payload_json, &signature);
    let file = scratch.root().join("real.lic");
    fs::write(&file, licence).unwrap();
    let run = scratch.run(&["licence", "verify", file.to_str().unwrap()]);
    assert!(
        run.success().contains("Serial number:      RS-8008"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_licence_from_the_dev_signer_verifies_with_the_real_minisign_tool() {
    let scratch = Scratch::new();
    let key = scratch.trusted_key("vendor");
    let payload = PayloadBuilder::new("RS-9009", 2);
    let licence = fs::read_to_string(scratch.licence_file(&key, &payload, "x.lic")).unwrap();
    let signature_block = &licence[licence.find("untrusted comment:").unwrap()..];
    let dir = scratch.root();
    fs::write(dir.join("payload.json"), payload.to_json()).unwrap();
    fs::write(dir.join("payload.json.minisig"), signature_block).unwrap();
    let output = Command::new("minisign")
        .args(["-V", "-p"])
        .arg(&key.public)
        .args(["-m", "payload.json"])
        .current_dir(dir)
        .output()
        .expect("the minisign tool");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Signature and comment signature verified"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "remote-service-licence-v1 {} 2",
            payload.licence_id()
        )),
        "{stdout}"
    );
}
