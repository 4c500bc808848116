//! A shop for remote assistance's tests and benchmark: an installation whose licence has
//! the `remote-assistance` option, its back office with a help desk, the TeamViewer
//! stand-in on the engine's PATH, the tray on a headless desktop and the help-desk page in
//! Chromium.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::backoffice::{Installation, ORGANISATION, SERIAL};
use crate::browser::Browser;
use crate::desktop::{Desktop, TrayItem};
use crate::teamviewer::StandIn;
use crate::{Daemon, KillOnDrop, Run, Scratch};

pub const ROW: &str = "#installations tr[data-serial=\"RS-TEST-0001\"]";
pub const STATE: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .state";
pub const BADGES: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .badge";
pub const ALLOWED: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .allowed";
pub const ANSWER: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .assistance";
pub const REQUEST_ENABLED: &str =
    "#installations tr[data-serial=\"RS-TEST-0001\"] .request-assistance:enabled";

/// The help desk that signs in.
pub const HELP_DESK: (&str, &str) = ("anna", "anna-pw-1");
/// The organisation's name as the back office has it.
pub const ORGANISATION_NAME: &str = "Test Print Shop";

/// A generous deadline for what the documents want within seconds: the figures themselves
/// are the benchmark's (`cargo bench -p remote-service-tests --bench assistance`).
pub const SOON: Duration = Duration::from_secs(30);

/// An installation whose licence has the remote-assistance option, its back office with a
/// help desk, and the TeamViewer stand-in.
pub struct Shop {
    /// The installation and its back office.
    pub installation: Installation,
    /// TeamViewer.
    pub teamviewer: StandIn,
}

impl Shop {
    pub fn new(answer_within_s: Option<u32>) -> Shop {
        let mut installation = Installation::new();
        if let Some(seconds) = answer_within_s {
            installation.backoffice.kill();
            installation
                .backoffice
                .set_assistance_answer_within(seconds);
            installation.backoffice.start();
        }
        installation
            .backoffice
            .admin_db(
                &["helpdesk", "add", HELP_DESK.0, "--org", ORGANISATION],
                Some(HELP_DESK.1),
            )
            .success();
        let licence = installation.backoffice.issue_licence(
            SERIAL,
            "auto-licence-update,remote-assistance,users=10",
            "2027-12-31",
        );
        fs::write(
            installation
                .scratch
                .licence_folder()
                .join(format!("{SERIAL}.lic")),
            licence,
        )
        .unwrap();
        Shop {
            installation,
            teamviewer: StandIn::new(),
        }
    }

    pub fn scratch(&self) -> &Scratch {
        &self.installation.scratch
    }

    /// `remote-service ARGS` with the stand-in on PATH.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.installation.command(args);
        self.teamviewer.apply_env(&mut command);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    pub fn daemon(&self) -> Daemon {
        Scratch::spawn_daemon(self.command(&["daemon"]))
    }

    /// The daemon without TeamViewer on its PATH.
    pub fn daemon_without_teamviewer(&self) -> Daemon {
        let mut command = self.installation.command(&["daemon"]);
        self.teamviewer.apply_state_only(&mut command);
        Scratch::spawn_daemon(command)
    }

    /// The tray on `desktop`, with its engine; waits for its item and the green light.
    pub fn tray(&self, desktop: &Desktop) -> (KillOnDrop, TrayItem) {
        let mut command = self.command(&["tray"]);
        desktop.apply_env(&mut command);
        command.env("XDG_RUNTIME_DIR", self.scratch().runtime_dir());
        let tray = KillOnDrop(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start remote-service tray"),
        );
        let item = desktop
            .wait_for_item(SOON)
            .expect("the tray's item registers");
        self.wait_until_green();
        (tray, item)
    }

    pub fn wait_until_green(&self) {
        self.installation.wait_for_light("green", "");
    }

    pub fn assistance(&self) -> serde_json::Value {
        self.run(&["assistance", "status", "--json"]).json()
    }

    pub fn log_events(&self) -> Vec<String> {
        let log = self.run(&["assistance", "log", "--json"]).json();
        log.as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                let answer = entry["answer"].as_str().map(|answer| format!(":{answer}"));
                format!(
                    "{}{}",
                    entry["event"].as_str().unwrap(),
                    answer.unwrap_or_default()
                )
            })
            .collect()
    }

    /// The page, signed in, showing the installation online.
    pub fn help_desk_page(&self) -> Browser {
        let browser = Browser::start();
        browser.goto(self.installation.backoffice.url());
        browser.type_into("#sign-in #user", HELP_DESK.0);
        browser.type_into("#sign-in #password", HELP_DESK.1);
        browser.click("#sign-in [type=submit]");
        browser.wait_for(ROW, SOON);
        browser.wait_for_text(STATE, "online", SOON);
        browser
    }
}

pub fn labels(item: &TrayItem) -> Vec<String> {
    item.menu().labels()
}

pub fn has_label_starting(item: &TrayItem, start: &str) -> bool {
    labels(item).iter().any(|label| label.starts_with(start))
}

pub fn badges(browser: &Browser) -> Vec<String> {
    let mut badges = browser.texts(BADGES);
    badges.sort();
    badges
}
