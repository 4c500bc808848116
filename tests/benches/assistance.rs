//! Remote assistance figures (release build), with the real back office, the tray on a
//! headless desktop, the TeamViewer bridge driving the stand-in, and Chromium:
//!
//! - help-desk request → notification shown: from sending the help desk's
//!   `POST /helpdesk/installations/{serial}/assistance` (curl, signed in) until the
//!   notification server has the question (goal: under 300 ms on loopback);
//! - allow in the tray menu → "RDP" on the help-desk page (the documents: within 5 s of
//!   signing in), then revoke in the menu → RDP gone.
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench assistance`

use remote_service_tests::measure::summary;
use std::process::Command;
use std::time::Instant;

use remote_service_tests::assistance::*;
use remote_service_tests::backoffice::SERIAL;
use remote_service_tests::desktop::Desktop;

const REQUESTS: usize = 20;
const ROUNDS: usize = 10;

/// curl with the help desk's cookie jar.
fn curl(jar: &std::path::Path) -> Command {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-f", "-o", "/dev/null", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar);
    curl
}

fn main() {
    let shop = Shop::new(None);
    let desktop = Desktop::start();
    let (_tray, item) = shop.tray(&desktop);
    let browser = shop.help_desk_page();
    let jar = shop.scratch().root().join("helpdesk-cookies");
    let url = shop.installation.backoffice.url().to_string();
    let signed_in = curl(&jar)
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!(
            r#"{{"user":"{}","password":"{}"}}"#,
            HELP_DESK.0, HELP_DESK.1
        ))
        .arg(format!("{url}/helpdesk/sign-in"))
        .status()
        .unwrap();
    assert!(signed_in.success(), "the help desk signs in");

    let mut rdp = Vec::new();
    for _ in 0..ROUNDS {
        let clicked = Instant::now();
        item.click("Allow remote assistance");
        browser
            .wait_until(SOON, |browser| badges(browser) == ["RDP", "VPN"])
            .expect("RDP on the page");
        rdp.push(clicked.elapsed());
        item.click("Revoke now");
        browser
            .wait_until(SOON, |browser| badges(browser) == ["VPN"])
            .expect("RDP gone");
        assert!(item.wait_until(SOON, |item| labels(item)
            .contains(&"Allow remote assistance".to_string())));
    }
    summary("allow in the menu -> RDP on the page", rdp);

    shop.run(&["assistance", "allow"]).success();
    browser
        .wait_until(SOON, |browser| badges(browser) == ["RDP", "VPN"])
        .expect("RDP on the page");
    let mut shown = Vec::new();
    for round in 0..REQUESTS {
        let before = desktop.notifications().len();
        let sent = Instant::now();
        let requested = curl(&jar)
            .args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!(r#"{{"message":"round {round}"}}"#))
            .arg(format!("{url}/helpdesk/installations/{SERIAL}/assistance"))
            .status()
            .unwrap();
        assert!(requested.success(), "the request is accepted");
        let question = desktop
            .wait_for_notification(SOON, |notification| {
                notification.body == format!("round {round}")
            })
            .expect("the notification");
        shown.push(sent.elapsed());
        assert!(desktop.notifications().len() > before);
        desktop.invoke_action(question.id, "deny");
        browser.wait_for_text(ANSWER, "denied", SOON);
    }
    summary("help-desk request -> notification shown", shown);
}
