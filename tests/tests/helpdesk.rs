//! The back office's help-desk page in a real headless Chromium, with a real installation
//! (`remote-service daemon`) connecting to the real back office.

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::{
    BackofficeServer, Transport, ORGANISATION, SERIAL, VERIFICATION_CODE,
};
use remote_service_tests::browser::Browser;
use remote_service_tests::{wait_for, Daemon, Scratch};

const ROW_STATE: &str = "tr[data-serial=\"RS-TEST-0001\"] .state";

/// A back office with two organisations' help desks and an installation of the first.
struct Setup {
    scratch: Scratch,
    backoffice: BackofficeServer,
}

impl Setup {
    fn new() -> Setup {
        let scratch = Scratch::new();
        let mut backoffice =
            BackofficeServer::create(&scratch.root().join("backoffice"), Transport::Http);
        backoffice
            .admin_db(
                &["helpdesk", "add", "anna", "--org", ORGANISATION],
                Some("anna-pw-1"),
            )
            .success();
        backoffice
            .admin_db(
                &["org", "add", "ORG-OTHER", "--name", "Other Shop"],
                Some("other-code"),
            )
            .success();
        backoffice
            .admin_db(
                &["helpdesk", "add", "otto", "--org", "ORG-OTHER"],
                Some("otto-pw-2"),
            )
            .success();
        let url = backoffice.start();
        fs::copy(
            backoffice.public_key(),
            scratch.system_dir.join("backoffice.pub"),
        )
        .unwrap();
        let licence = backoffice.issue_licence(SERIAL, "auto-licence-update", "2027-12-31");
        fs::create_dir_all(scratch.licence_folder()).unwrap();
        fs::write(
            scratch.licence_folder().join(format!("{SERIAL}.lic")),
            licence,
        )
        .unwrap();
        let setup = Setup {
            scratch,
            backoffice,
        };
        for (key, value) in [
            ("enabled", "true"),
            ("organisation_id", ORGANISATION),
            ("backoffice_url", url.as_str()),
        ] {
            setup
                .command(&["config", "set", key, value])
                .status()
                .unwrap();
        }
        let mut secret = setup
            .command(&["config", "set-secret", "verification_code"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(secret.stdin.take().unwrap(), "{VERIFICATION_CODE}").unwrap();
        assert!(secret.wait().unwrap().success());
        setup
    }

    /// This test is about the page: the installation keeps its code in the 0600 file
    /// (the keyring is the connection tests' subject).
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.scratch.command(args);
        command.env("REMOTE_SERVICE_SECRETS", "file");
        command
    }

    fn installation(&self) -> Daemon {
        let daemon = Scratch::spawn_daemon(self.command(&["daemon"]));
        let green = wait_for(Duration::from_secs(10), || {
            let output = self.command(&["status", "--json"]).output().unwrap();
            let status: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            status["connection"]["state"] == "green"
        });
        assert!(green.is_some(), "the installation connects");
        daemon
    }

    fn sign_in(&self, browser: &Browser, user: &str, password: &str) {
        browser.goto(self.backoffice.url());
        browser.type_into("#user", user);
        browser.type_into("#password", password);
        browser.click("#sign-in button[type=submit]");
    }
}

fn screenshot(browser: &Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("output");
    fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join(name));
}

#[test]
fn the_help_desk_sees_an_online_installation_within_5_seconds_of_signing_in() {
    let setup = Setup::new();
    let installation = setup.installation();
    let browser = Browser::start();

    setup.sign_in(&browser, "anna", "wrong password");
    let refused = browser.wait_until(Duration::from_secs(5), |browser| {
        browser
            .text("#sign-in-error")
            .is_some_and(|text| text.contains("wrong user name or password"))
    });
    assert!(
        refused.is_some(),
        "a wrong password is refused with a message"
    );

    let signing_in = Instant::now();
    setup.sign_in(&browser, "anna", "anna-pw-1");
    let online = browser.wait_until(Duration::from_secs(5), |browser| {
        browser.text(ROW_STATE).as_deref() == Some("online")
    });
    screenshot(&browser, "helpdesk-online.png");
    assert!(
        online.is_some(),
        "online within 5 s of signing in; the row says {:?}",
        browser.text(ROW_STATE)
    );
    let elapsed = signing_in.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let badges = browser.texts("tr[data-serial=\"RS-TEST-0001\"] .badge");
    assert_eq!(badges, vec!["RDP", "VPN"]);

    // The installation stops: offline with the time it was last seen, by itself.
    let stopped = Instant::now();
    assert_eq!(installation.terminate(), Some(0));
    let offline = browser.wait_until(Duration::from_secs(5), |browser| {
        browser.text(ROW_STATE).as_deref() == Some("offline")
    });
    assert!(offline.is_some(), "offline after the installation stopped");
    assert!(stopped.elapsed() < Duration::from_secs(5));
    let last_seen = browser
        .text("tr[data-serial=\"RS-TEST-0001\"] .last-seen")
        .unwrap_or_default();
    assert!(
        !last_seen.is_empty() && last_seen != "never",
        "{last_seen:?}"
    );
    assert!(browser
        .texts("tr[data-serial=\"RS-TEST-0001\"] .badge")
        .is_empty());

    // It comes back while the help desk watches: online again, by itself.
    let back = Instant::now();
    let _installation = setup.installation();
    let online_again = browser.wait_until(Duration::from_secs(5), |browser| {
        browser.text(ROW_STATE).as_deref() == Some("online")
    });
    assert!(online_again.is_some(), "online again without reloading");
    assert!(back.elapsed() < Duration::from_secs(10));

    // Asking for assistance reaches the installation's stream; the page shows it waiting.
    browser.click("tr[data-serial=\"RS-TEST-0001\"] .request-assistance");
    let requested = browser.wait_until(Duration::from_secs(5), |browser| {
        browser
            .text("tr[data-serial=\"RS-TEST-0001\"] .assistance")
            .is_some_and(|text| text.contains("requested by anna"))
    });
    screenshot(&browser, "helpdesk-assistance.png");
    assert!(requested.is_some(), "the request shows");
}

#[test]
fn a_help_desk_sees_only_its_own_organisations_installations() {
    let setup = Setup::new();
    let _installation = setup.installation();
    let browser = Browser::start();
    setup.sign_in(&browser, "otto", "otto-pw-2");
    let signed_in = browser.wait_until(Duration::from_secs(5), |browser| {
        browser.text("#live").as_deref() == Some("live")
    });
    assert!(
        signed_in.is_some(),
        "otto is signed in and the list is live"
    );
    assert_eq!(
        browser.text(ROW_STATE),
        None,
        "otto does not see ORG-TEST's installation"
    );
    assert!(browser.texts("#installations tbody tr").is_empty());
}
