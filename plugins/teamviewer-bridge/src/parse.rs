//! What the bridge reads out of TeamViewer's words: `teamviewer info` (the version and the
//! ID, in the 13.x/14.x and 15.x forms, with or without ANSI escapes), `teamviewer daemon
//! status` (systemd's status block, or upstart's line of older systems), `global.conf`
//! (`[int32] ClientID = 1234567890`) and the first line of an error.
//!
//! The fixtures of the tests are published captures of the real tool; `testdata/` says
//! where each comes from.

/// What `teamviewer info` says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The version ("15.11.6"), without the package type.
    pub version: Option<String>,
    /// The ID, as shown (digits, maybe grouped by spaces), when it is a TeamViewer ID.
    pub id: Option<String>,
    /// The tool's hint when it shows no ID ("Try restarting the TeamViewer daemon …").
    pub hint: Option<String>,
}

/// What `teamviewer daemon status` says of the daemon.
#[derive(Debug, PartialEq, Eq)]
pub enum DaemonStatus {
    /// The unit is there: whether it runs and, when systemd says, whether it is enabled.
    Known {
        /// Whether the daemon runs now.
        running: bool,
        /// Whether it starts with the system; `None` when the status does not say.
        enabled: Option<bool>,
    },
    /// The daemon's unit is not installed (the tool's line saying so).
    UnitMissing(String),
    /// Words the bridge does not know how to read.
    Unknown,
}

/// `text` without ANSI escape sequences (CSI, OSC and two-character escapes) and without
/// other control characters except new lines and tabs.
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    for next in chars.by_ref() {
                        if ('@'..='~').contains(&next) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(next) = chars.next() {
                        if next == '\u{7}' {
                            break;
                        }
                        if next == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' | '\t' => plain.push(character),
            other if other.is_control() => {}
            other => plain.push(other),
        }
    }
    plain
}

/// The ID in `value` when it is one: 8 to 12 digits, maybe grouped by single spaces, not
/// all zeros; returned with its groups as shown.
pub fn teamviewer_id(value: &str) -> Option<String> {
    let groups: Vec<&str> = value.split_whitespace().collect();
    if groups.is_empty()
        || !groups
            .iter()
            .all(|group| group.chars().all(|digit| digit.is_ascii_digit()))
    {
        return None;
    }
    let digits: String = groups.concat();
    if !(8..=12).contains(&digits.len()) || digits.chars().all(|digit| digit == '0') {
        return None;
    }
    Some(groups.join(" "))
}

/// Reads `teamviewer info`: the 15.x form (each label bold: `ESC[1m label ESC[0m value`),
/// the 13.x/14.x form as published (no escapes), and the 12.x order (the ID row last).
pub fn info(output: &str) -> Info {
    let mut info = Info::default();
    for line in strip_ansi(output).lines() {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("TeamViewer ID:") {
            // Only the row's own value: 15.x tools print the ID a second time on the next
            // line when global.conf has two ClientID lines, and the hint follows a blank.
            if info.id.is_none() {
                info.id = teamviewer_id(value);
            }
        } else if let Some(value) = line.strip_prefix("TeamViewer ") {
            let version = value.split_whitespace().next().unwrap_or("");
            if info.version.is_none() && version.starts_with(|c: char| c.is_ascii_digit()) {
                info.version = Some(version.to_string());
            }
        } else if line.starts_with("Try restarting the TeamViewer daemon") {
            // Shown to the user: one line of single spaces (a tab too), bounded.
            let words: Vec<&str> = line.split_whitespace().collect();
            info.hint = Some(words.join(" ").chars().take(200).collect());
        }
    }
    info
}

/// Reads `teamviewer daemon status`: systemd's block (`Loaded: …; enabled; …`, `Active:
/// active (running) …`) or upstart's `teamviewerd start/running, process N` of older
/// systems.
pub fn daemon_status(output: &str) -> DaemonStatus {
    let mut running = None;
    let mut enabled = None;
    for line in strip_ansi(output).lines() {
        let line = line.trim();
        if line.contains("could not be found")
            || line.contains("Unit teamviewerd.service not found")
        {
            return DaemonStatus::UnitMissing(line.to_string());
        }
        if let Some(loaded) = line.strip_prefix("Loaded:") {
            // "loaded (/etc/systemd/system/teamviewerd.service; enabled; vendor preset: …)"
            let state = loaded.split(';').nth(1).map(str::trim).unwrap_or_default();
            enabled = match state {
                "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" => Some(true),
                "disabled" => Some(false),
                _ => enabled,
            };
            if loaded.trim_start().starts_with("not-found") {
                return DaemonStatus::UnitMissing(line.to_string());
            }
        } else if let Some(active) = line.strip_prefix("Active:") {
            running = Some(active.split_whitespace().next() == Some("active"));
        } else if line.contains("start/running") {
            running = Some(true);
        } else if line.contains("stop/waiting") {
            running = Some(false);
        }
    }
    match running {
        Some(running) => DaemonStatus::Known { running, enabled },
        None => DaemonStatus::Unknown,
    }
}

/// The ID in a `global.conf` (`[int32] ClientID = 1234567890`), when it holds one.
pub fn global_conf_client_id(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (_, entry) = line.trim().strip_prefix('[')?.split_once(']')?;
        let value = entry
            .trim()
            .strip_prefix("ClientID")?
            .trim_start()
            .strip_prefix('=')?;
        teamviewer_id(value)
    })
}

/// The tool's own first words about a failure: the first line of standard error, else the
/// last line of standard output that is not the systemctl command the tool echoes.
pub fn first_error_line(stdout: &str, stderr: &str) -> Option<String> {
    let first_of_stderr = strip_ansi(stderr)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string);
    first_of_stderr.or_else(|| {
        strip_ansi(stdout)
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty() && !line.starts_with("systemctl "))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `teamviewer --info` on 15.11.6 (RPM), byte for byte with its escapes:
    /// glpi-project/glpi-agent, resources/generic/teamviewer/teamviewer-info-15.11.6-RPM.
    /// Its ID was masked by the person who published it ("999 **MASKED**").
    const INFO_15_11_6: &str = include_str!("../testdata/info-15.11.6-rpm.txt");

    /// `teamviewer info` on 14.7.1965 (RPM), as published (a terminal copy: no escapes).
    const INFO_14_7: &str = "
 TeamViewer                           14.7.1965  (RPM) 

 TeamViewer ID:                        1680132084 

 teamviewerd status                   ● teamviewerd.service - TeamViewer remote control daemon
   Loaded: loaded (/etc/systemd/system/teamviewerd.service; enabled; vendor preset: disabled)
   Active: active (running) since Sat 2019-12-14 00:59:37 EST; 14min ago
  Process: 10118 ExecStart=/opt/teamviewer/tv_bin/teamviewerd -d (code=exited, status=0/SUCCESS)
 Main PID: 10122 (teamviewerd)
    Tasks: 24
   CGroup: /system.slice/teamviewerd.service
           └─10122 /opt/teamviewer/tv_bin/teamviewerd -d 

";

    /// `teamviewer --info` on 13.2.75536 (RPM), as published.
    const INFO_13_2: &str = "
 TeamViewer                           13.2.75536  (RPM)

 TeamViewer ID:                        1315674770

 teamviewerd status                   ● teamviewerd.service - TeamViewer remote control daemon
   Loaded: loaded (/etc/systemd/system/teamviewerd.service; enabled; vendor preset: disabled)
   Active: active (running) since Thu 2019-06-27 05:11:13 EDT; 21min ago
";

    /// `teamviewer info` on 12.0.76279 (RPM), as published: the ID row last, blank, with
    /// the hint.
    const INFO_12_0_BLANK: &str = "
 TeamViewer                           12.0.76279  (RPM) 

 teamviewerd status                   teamviewerd start/running, process 15119 

 TeamViewer ID:                        
Try restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)
";

    /// `teamviewer info` on 8.0.20931, as published in a forum thread.
    const INFO_8_0_NOT_FOUND: &str = "
TeamViewer                      8.0.20931 


 teamviewerd status              teamviewerd start/running, process 2336 


TeamViewer ID: not found
Try restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)
";

    /// `teamviewer info` on 15.61.3 (DEB) as another project keeps it in its tests: root
    /// (the ID twice), and anyone else (global.conf unreadable: blank ID and the hint).
    const INFO_15_61_3_ROOT: &str = "\u{1b}[1m TeamViewer                          \u{1b}[0m 15.61.3  (DEB) \n\n\u{1b}[1m TeamViewer ID:                      \u{1b}[0m  1146575818\n 1146575818 \n\n\u{1b}[1m teamviewerd status                  \u{1b}[0m teamviewerd.service\n";
    const INFO_15_61_3_USER: &str = "\u{1b}[1m TeamViewer                          \u{1b}[0m 15.61.3  (DEB) \ngrep: /opt/teamviewer/config/global.conf: Permission denied\n\u{1b}[1m TeamViewer ID:                      \u{1b}[0m  \nTry restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)\n";

    const HINT: &str = "Try restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)";

    fn check_info(output: &str, version: Option<&str>, id: Option<&str>, hint: Option<&str>) {
        assert_eq!(
            info(output),
            Info {
                version: version.map(str::to_string),
                id: id.map(str::to_string),
                hint: hint.map(str::to_string),
            },
            "{output:?}"
        );
    }

    #[test]
    fn info_is_read_in_every_published_form() {
        // The published 15.11.6 capture's ID is masked: not an ID.
        check_info(INFO_15_11_6, Some("15.11.6"), None, None);
        let unmasked = INFO_15_11_6.replace("999 **MASKED**", "1234567890 ");
        check_info(&unmasked, Some("15.11.6"), Some("1234567890"), None);
        check_info(INFO_14_7, Some("14.7.1965"), Some("1680132084"), None);
        check_info(INFO_13_2, Some("13.2.75536"), Some("1315674770"), None);
        check_info(INFO_12_0_BLANK, Some("12.0.76279"), None, Some(HINT));
        check_info(INFO_8_0_NOT_FOUND, Some("8.0.20931"), None, Some(HINT));
        check_info(INFO_15_61_3_ROOT, Some("15.61.3"), Some("1146575818"), None);
        check_info(INFO_15_61_3_USER, Some("15.61.3"), None, Some(HINT));
    }

    #[test]
    fn the_stand_ins_forms_are_read() {
        // What tests/teamviewer/teamviewer prints: 15.x with escapes, 14.x as published.
        let blank_15 = "\n\u{1b}[1m TeamViewer                          \u{1b}[0m 15.48.4  (DEB) \n\n\u{1b}[1m TeamViewer ID:                      \u{1b}[0m  \nTry restarting the TeamViewer daemon (e.g. teamviewer --daemon restart)\n\n";
        check_info(blank_15, Some("15.48.4"), None, Some(HINT));
        let grouped = "\n TeamViewer                           14.7.1965  (RPM) \n\n TeamViewer ID:                        123 456 789 \n";
        check_info(grouped, Some("14.7.1965"), Some("123 456 789"), None);
    }

    fn check_id(value: &str, expect: Option<&str>) {
        assert_eq!(teamviewer_id(value).as_deref(), expect, "{value:?}");
    }

    #[test]
    fn an_id_is_8_to_12_digits_maybe_grouped_and_not_all_zeros() {
        check_id(" 1680132084 ", Some("1680132084"));
        check_id("123 456 789", Some("123 456 789"));
        check_id("1  234   567 890", Some("1 234 567 890"));
        check_id("12345678", Some("12345678"));
        check_id("123456789012", Some("123456789012"));
        check_id("1234567", None);
        check_id("1234567890123", None);
        check_id("0000000000", None);
        check_id("000 000 000", None);
        check_id("", None);
        check_id("   ", None);
        check_id("not found", None);
        check_id("999 **MASKED**", None);
        check_id("12345678a", None);
        check_id("-123456789", None);
        check_id("１２３４５６７８９", None);
    }

    #[test]
    fn ansi_escapes_and_controls_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1m bold\u{1b}[0m x"), " bold x");
        assert_eq!(strip_ansi("\u{1b}[38;5;196mred\u{1b}[m"), "red");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}text"), "text");
        assert_eq!(strip_ansi("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(strip_ansi("a\rb\u{8}c\td\n"), "abc\td\n");
        assert_eq!(strip_ansi("cut \u{1b}["), "cut ");
    }

    fn check_status(output: &str, expect: DaemonStatus) {
        assert_eq!(daemon_status(output), expect, "{output:?}");
    }

    #[test]
    fn the_daemon_status_is_read_from_systemd_and_upstart() {
        // `teamviewer --daemon status` on 12.0.76279 (NixOS/nixpkgs#31421).
        check_status(
            "\nsystemctl status teamviewerd.service\n● teamviewerd.service - TeamViewer remote control daemon\n   Loaded: loaded (/nix/store/zvlqjg708fkxmf5q2ybnaps1kc56mz3j-unit-teamviewerd.service/teamviewerd.service; enabled; vendor preset: enabled)\n   Active: active (running) since Thu 2017-11-09 08:09:55 CET; 16min ago\n",
            DaemonStatus::Known { running: true, enabled: Some(true) },
        );
        // The status block of the 15.11.6 capture, inside `teamviewer info`.
        check_status(
            INFO_15_11_6,
            DaemonStatus::Known {
                running: true,
                enabled: Some(true),
            },
        );
        // A unit that failed to start (solus-project/3rd-party#244).
        check_status(
            "● teamviewerd.service - TeamViewer remote control daemon\n   Loaded: loaded (/etc/systemd/system/teamviewerd.service; enabled; vendor preset: enabled)\n   Active: failed (Result: exit-code) since Sun 2017-10-29 12:43:35 CET; 1min 11s ago\n",
            DaemonStatus::Known { running: false, enabled: Some(true) },
        );
        // Stopped and disabled, newer systemd ("preset:").
        check_status(
            "\nsystemctl status teamviewerd.service\n○ teamviewerd.service - TeamViewer remote control daemon\n     Loaded: loaded (/etc/systemd/system/teamviewerd.service; disabled; preset: enabled)\n     Active: inactive (dead)\n",
            DaemonStatus::Known { running: false, enabled: Some(false) },
        );
        // Starting is not running yet.
        check_status(
            "   Loaded: loaded (/etc/systemd/system/teamviewerd.service; enabled; vendor preset: enabled)\n   Active: activating (start) since Thu 2017-11-09 08:09:55 CET; 1s ago\n",
            DaemonStatus::Known { running: false, enabled: Some(true) },
        );
        // Upstart (12.x and older): nothing about being enabled.
        check_status(
            "teamviewerd start/running, process 15119",
            DaemonStatus::Known {
                running: true,
                enabled: None,
            },
        );
        check_status(
            "teamviewerd stop/waiting",
            DaemonStatus::Known {
                running: false,
                enabled: None,
            },
        );
        // The unit is missing (systemd's words; NixOS/nixpkgs#276910 for start).
        check_status(
            "\nsystemctl status teamviewerd.service\nUnit teamviewerd.service could not be found.\n",
            DaemonStatus::UnitMissing("Unit teamviewerd.service could not be found.".into()),
        );
        check_status(
            "Failed to start teamviewerd.service: Unit teamviewerd.service not found.",
            DaemonStatus::UnitMissing(
                "Failed to start teamviewerd.service: Unit teamviewerd.service not found.".into(),
            ),
        );
        check_status("", DaemonStatus::Unknown);
        check_status(
            "\nsystemctl status teamviewerd.service\n",
            DaemonStatus::Unknown,
        );
    }

    fn check_conf(text: &str, expect: Option<&str>) {
        assert_eq!(global_conf_client_id(text).as_deref(), expect, "{text:?}");
    }

    #[test]
    fn the_client_id_is_read_from_global_conf() {
        check_conf(
            "TeamViewer Global Settings\n\n[int32] EulaAccepted = 1\n[int32] EulaAcceptedRevision = 6\n[int32] ClientID = 1234567890\n[strng] LastMACUsed = \"\"\n",
            Some("1234567890"),
        );
        check_conf("[int32] ClientID =", None);
        check_conf("[int32] ClientID = 0", None);
        check_conf("[int32] ClientIDOfTSUser = 1234567890", None);
        check_conf("ClientID = 1234567890", None);
        check_conf("[int32] EulaAccepted = 1\n", None);
        check_conf("  [int32]   ClientID=987654321  ", Some("987654321"));
        check_conf("", None);
    }

    #[test]
    fn the_first_error_line_is_the_tools_own() {
        // systemd's words when the unit cannot start, on standard error.
        assert_eq!(
            first_error_line(
                "\nsystemctl start teamviewerd.service\n",
                "Job for teamviewerd.service failed because the control process exited with error code.\nSee \"systemctl status teamviewerd.service\" and \"journalctl -xeu teamviewerd.service\" for details.\n",
            )
            .as_deref(),
            Some("Job for teamviewerd.service failed because the control process exited with error code.")
        );
        assert_eq!(
            first_error_line("", "sudo: a password is required\n").as_deref(),
            Some("sudo: a password is required")
        );
        assert_eq!(
            first_error_line(
                "\nsystemctl start teamviewerd.service\nsomething went wrong\n",
                ""
            )
            .as_deref(),
            Some("something went wrong")
        );
        assert_eq!(
            first_error_line("\nsystemctl start teamviewerd.service\n", ""),
            None
        );
    }
}
