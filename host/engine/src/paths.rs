//! Where Remote Service keeps things: per-user XDG folders, the system configuration
//! folder with extra trusted keys, and the plugin folder.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

/// Overrides the system configuration folder (trusted `*.pub` keys); for tests.
pub const SYSTEM_DIR_ENV: &str = "REMOTE_SERVICE_SYSTEM_DIR";
/// Overrides the plugin folder.
pub const PLUGIN_DIR_ENV: &str = "REMOTE_SERVICE_PLUGIN_DIR";
/// Overrides the system service's data and state folder (`/var/lib/remote-service`); for
/// tests.
pub const SYSTEM_DATA_DIR_ENV: &str = "REMOTE_SERVICE_SYSTEM_DATA_DIR";

/// The folders of one engine (per user for now; the system service comes with the daemon).
#[derive(Debug, Clone)]
pub struct Paths {
    /// Settings: `settings.toml` and `plugins/<id>.json`.
    pub config_dir: PathBuf,
    /// Data: the default `DroppedLicense` folder.
    pub data_dir: PathBuf,
    /// State: the copy of the licence in force and the log.
    pub state_dir: PathBuf,
    /// System configuration: extra trusted keys (`*.pub`).
    pub system_dir: PathBuf,
    /// Where plugin libraries are looked for.
    pub plugin_dir: PathBuf,
}

impl Paths {
    /// The per-user folders (XDG on Linux), honouring the environment overrides.
    pub fn per_user() -> Result<Paths> {
        let dirs = directories::ProjectDirs::from("", "", "remote-service")
            .ok_or_else(|| anyhow!("cannot find the home folder: set HOME"))?;
        let state_dir = dirs
            .state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf();
        Ok(Paths {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
            state_dir,
            system_dir: env_path(SYSTEM_DIR_ENV).unwrap_or_else(platform::system_config_dir),
            plugin_dir: match env_path(PLUGIN_DIR_ENV) {
                Some(dir) => dir,
                None => default_plugin_dir()?,
            },
        })
    }

    /// The system service's folders (`remote-service daemon --system`).
    pub fn system() -> Result<Paths> {
        let (config_dir, data_dir) = platform::system_service_dirs();
        let config_dir = match env_path(SYSTEM_DATA_DIR_ENV) {
            Some(dir) if config_dir == data_dir => dir,
            _ => env_path(SYSTEM_DIR_ENV).unwrap_or(config_dir),
        };
        let data_dir = env_path(SYSTEM_DATA_DIR_ENV).unwrap_or(data_dir);
        Ok(Paths {
            config_dir,
            state_dir: data_dir.clone(),
            data_dir,
            system_dir: env_path(SYSTEM_DIR_ENV).unwrap_or_else(platform::system_config_dir),
            plugin_dir: match env_path(PLUGIN_DIR_ENV) {
                Some(dir) => dir,
                None => default_plugin_dir()?,
            },
        })
    }

    /// The settings file.
    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.toml")
    }

    /// The default `DroppedLicense` folder of the local Floating Licence Server.
    pub fn default_licence_folder(&self) -> PathBuf {
        self.data_dir.join("DroppedLicense")
    }

    /// The engine's log file.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("remote-service.log")
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The installed plugin folder when the binary is installed, the binary's own folder in
/// development (where cargo puts the plugin libraries next to it).
fn default_plugin_dir() -> Result<PathBuf> {
    let exe = env::current_exe().context("cannot find the path of the remote-service binary")?;
    let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(if platform::is_installed(&exe) {
        platform::installed_plugin_dir()
    } else {
        exe_dir
    })
}

#[cfg(unix)]
mod platform {
    use std::path::{Path, PathBuf};

    pub fn system_config_dir() -> PathBuf {
        PathBuf::from("/etc/remote-service")
    }

    /// Configuration and data of the system service: both its state folder. The service
    /// (its own user, in the package) writes its settings itself, and `/etc/remote-service`
    /// must stay root's: the trusted keys there are trusted only in a folder no one else
    /// can change (`trust::check`).
    pub fn system_service_dirs() -> (PathBuf, PathBuf) {
        (
            PathBuf::from("/var/lib/remote-service"),
            PathBuf::from("/var/lib/remote-service"),
        )
    }

    pub fn installed_plugin_dir() -> PathBuf {
        PathBuf::from("/usr/lib/remote-service/plugins")
    }

    pub fn is_installed(exe: &Path) -> bool {
        exe.starts_with("/usr/")
    }
}

#[cfg(windows)]
mod platform {
    use std::path::{Path, PathBuf};

    fn program_data() -> PathBuf {
        std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
    }

    pub fn system_config_dir() -> PathBuf {
        program_data().join("Remote Service")
    }

    /// Configuration and data of the system service.
    pub fn system_service_dirs() -> (PathBuf, PathBuf) {
        (
            system_config_dir(),
            program_data().join("Remote Service").join("data"),
        )
    }

    pub fn installed_plugin_dir() -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("plugins")))
            .unwrap_or_default()
    }

    pub fn is_installed(exe: &Path) -> bool {
        std::env::var_os("ProgramFiles").is_some_and(|dir| exe.starts_with(dir))
    }
}
