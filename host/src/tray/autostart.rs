//! "Start at login": on Linux the user's XDG autostart entry,
//! `$XDG_CONFIG_HOME/autostart/remote-service.desktop` (`~/.config` when it is not set),
//! written here, so that an installation with a configuration folder of its own (the demo,
//! the tests) never writes the real user's; elsewhere the registry or a launch agent,
//! through auto-launch.
//!
//! The Debian package starts the tray at every login with a system-wide entry of the same
//! name (`/etc/xdg/autostart/remote-service.desktop`, found through `$XDG_CONFIG_DIRS`). The
//! user's copy overrides it (the XDG Autostart specification): turning "Start at login" off
//! then writes a copy with `Hidden=true`, since removing the user's copy would leave the
//! system's in force.

use anyhow::{anyhow, Context, Result};

#[cfg(target_os = "linux")]
mod platform {
    use std::path::{Path, PathBuf};

    use anyhow::{anyhow, Context, Result};

    /// The entry's file.
    fn entry() -> Result<PathBuf> {
        let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                PathBuf::from(std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?)
                    .join(".config")
            }
        };
        Ok(config.join("autostart/remote-service.desktop"))
    }

    /// A system-wide entry of the same name, in the first `$XDG_CONFIG_DIRS` folder that
    /// has one (`/etc/xdg` when it is not set).
    fn system_entry() -> Option<PathBuf> {
        let dirs = std::env::var("XDG_CONFIG_DIRS")
            .ok()
            .filter(|dirs| !dirs.is_empty())
            .unwrap_or_else(|| "/etc/xdg".to_string());
        dirs.split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| PathBuf::from(dir).join("autostart/remote-service.desktop"))
            .find(|entry| entry.is_file())
    }

    /// Whether an entry's text says it is in force.
    fn in_force(text: &str) -> bool {
        !text.lines().any(|line| line.trim() == "Hidden=true")
    }

    /// `path` as the Desktop Entry specification quotes an `Exec` argument.
    fn quoted(path: &str) -> String {
        let mut quoted = String::from("\"");
        for character in path.chars() {
            if matches!(character, '"' | '`' | '$' | '\\') {
                quoted.push('\\');
            }
            quoted.push(character);
        }
        quoted.push('"');
        quoted
    }

    pub fn is_enabled() -> bool {
        entry().is_ok_and(|entry| enabled_at(&entry, system_entry().as_deref()))
    }

    /// Whether the user's `entry`, or else the `system` one, says the tray starts.
    fn enabled_at(entry: &Path, system: Option<&Path>) -> bool {
        match std::fs::read_to_string(entry) {
            Ok(text) => in_force(&text),
            Err(_) => system
                .and_then(|system| std::fs::read_to_string(system).ok())
                .is_some_and(|text| in_force(&text)),
        }
    }

    pub fn set_enabled(enabled: bool, exe: &str) -> Result<()> {
        set_enabled_at(&entry()?, system_entry().is_some(), enabled, exe)
    }

    /// Writes (or removes) the user's `entry`; with a system-wide entry, turning it off
    /// writes a copy with `Hidden=true`.
    fn set_enabled_at(entry: &Path, system_exists: bool, enabled: bool, exe: &str) -> Result<()> {
        if !enabled && !system_exists {
            return match std::fs::remove_file(entry) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(error).with_context(|| format!("cannot remove {}", entry.display()))
                }
                _ => Ok(()),
            };
        }
        let folder = entry.parent().expect("the entry has a folder");
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        let text = format!(
            "[Desktop Entry]\nType=Application\nName=Remote Service\nComment=The remote service light, its menu and its notices\nExec={} tray\nIcon=remote-service\nTerminal=false\nX-GNOME-Autostart-enabled={enabled}\n{}",
            quoted(exe),
            if enabled { "" } else { "Hidden=true\n" }
        );
        // Written whole: a new file, then renamed over the entry.
        let temporary = folder.join(".remote-service.desktop.partial");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, entry))
            .with_context(|| format!("cannot write {}", entry.display()))
    }

    #[cfg(test)]
    mod tests {
        use super::{enabled_at, set_enabled_at};

        /// With the package's system-wide entry, "Start at login" off is the user's copy
        /// with `Hidden=true` (removing the copy would leave the system's in force); on is a
        /// copy that runs this binary; without a system entry, off removes the copy.
        #[test]
        fn start_at_login_overrides_the_system_entry_with_the_users_copy() {
            let folder = tempfile::tempdir().unwrap();
            let system = folder.path().join("xdg/autostart/remote-service.desktop");
            std::fs::create_dir_all(system.parent().unwrap()).unwrap();
            std::fs::write(
                &system,
                "[Desktop Entry]\nType=Application\nExec=remote-service tray\n",
            )
            .unwrap();
            let user = folder
                .path()
                .join("config/autostart/remote-service.desktop");
            assert!(
                enabled_at(&user, Some(&system)),
                "the system's entry is in force"
            );
            assert!(!enabled_at(&user, None), "nothing starts the tray");

            set_enabled_at(&user, true, false, "/usr/bin/remote-service").unwrap();
            let copy = std::fs::read_to_string(&user).unwrap();
            assert!(copy.lines().any(|line| line == "Hidden=true"), "{copy}");
            assert!(!enabled_at(&user, Some(&system)), "the copy hides it");
            assert!(
                std::fs::read_to_string(&system)
                    .unwrap()
                    .contains("Exec=remote-service tray"),
                "the system's entry is left alone"
            );

            set_enabled_at(&user, true, true, "/opt/rs/remote-service").unwrap();
            let copy = std::fs::read_to_string(&user).unwrap();
            assert!(
                copy.contains("Exec=\"/opt/rs/remote-service\" tray"),
                "{copy}"
            );
            assert!(enabled_at(&user, Some(&system)));

            set_enabled_at(&user, false, false, "/opt/rs/remote-service").unwrap();
            assert!(
                !user.exists(),
                "without a system entry, off removes the copy"
            );
        }

        #[test]
        fn a_path_is_quoted_as_the_specification_says() {
            assert_eq!(
                super::quoted("/usr/bin/remote-service"),
                "\"/usr/bin/remote-service\""
            );
            assert_eq!(
                super::quoted("/opt/a \"b\"/$x"),
                "\"/opt/a \\\"b\\\"/\\$x\""
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use anyhow::{anyhow, Result};
    use auto_launch::{AutoLaunch, AutoLaunchBuilder};

    fn auto_launch(exe: &str) -> Result<AutoLaunch> {
        AutoLaunchBuilder::new()
            .set_app_name("Remote Service")
            .set_app_path(exe)
            .set_args(&["tray"])
            .build()
            .map_err(|error| anyhow!("cannot set up start at login: {error}"))
    }

    pub fn is_enabled() -> bool {
        super::exe()
            .and_then(|exe| auto_launch(&exe))
            .and_then(|launch| launch.is_enabled().map_err(|error| anyhow!("{error}")))
            .unwrap_or(false)
    }

    pub fn set_enabled(enabled: bool, exe: &str) -> Result<()> {
        let launch = auto_launch(exe)?;
        let result = if enabled {
            launch.enable()
        } else {
            launch.disable()
        };
        result.map_err(|error| anyhow!("cannot change start at login: {error}"))
    }
}

fn exe() -> Result<String> {
    let exe =
        std::env::current_exe().context("cannot find the path of the remote-service binary")?;
    exe.to_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the binary's path {} is not UTF-8", exe.display()))
}

/// Whether the tray starts at login.
pub fn is_enabled() -> bool {
    platform::is_enabled()
}

/// Makes the tray start at login, or not.
pub fn set_enabled(enabled: bool) -> Result<()> {
    platform::set_enabled(enabled, &exe()?)
}
