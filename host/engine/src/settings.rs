//! The engine's settings, kept in TOML in the configuration folder. Secrets are never
//! here: they live in the keyring (`crate::secrets`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::atomic_file::{read_regular, write_atomically, Access, WriteError};

/// A settings file is a few hundred bytes; one larger than this is not one.
const MAX_SETTINGS_FILE: u64 = 1 << 20;

/// The vendor's back office, used when `backoffice_url` is not set.
pub const DEFAULT_BACKOFFICE_URL: &str = "https://remote-service.example.com";

/// All settings. Unknown keys are refused, so that a typo is reported instead of ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The documents' "Enabled": without it there is no connection to the back office.
    pub enabled: bool,
    /// The service organisation ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<String>,
    /// The back office; [`DEFAULT_BACKOFFICE_URL`] when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoffice_url: Option<String>,
    /// A PEM file of certificates to trust for the back office besides the system's
    /// (a private back office, the demo's self-signed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoffice_ca_file: Option<PathBuf>,
    /// Where licences live.
    pub licence: LicenceSettings,
    /// How plugins are run.
    pub plugins: PluginSettings,
    /// How the back office is reached.
    pub connection: ConnectionSettings,
    /// What the tray does.
    pub tray: TraySettings,
    /// The proxy.
    pub proxy: crate::proxy::ProxySettings,
    /// Remote assistance.
    pub assistance: AssistanceSettings,
}

/// Remote assistance's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistanceSettings {
    /// How long "Allow remote assistance" allows it, in hours (1 to 168).
    pub hours: u32,
}

impl Default for AssistanceSettings {
    fn default() -> Self {
        AssistanceSettings {
            hours: remote_service_api::DEFAULT_HOURS,
        }
    }
}

/// The tray's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraySettings {
    /// How long (seconds) the light must stay orange before a "connection lost" balloon
    /// (and how long after the tray starts or the computer wakes none is shown).
    pub connection_lost_notice_s: u64,
}

impl Default for TraySettings {
    fn default() -> Self {
        TraySettings {
            connection_lost_notice_s: 60,
        }
    }
}

/// Time limits of the back office connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    /// How long a request to the back office may take before it counts as failed.
    pub request_timeout_ms: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            request_timeout_ms: 10_000,
        }
    }
}

impl ConnectionSettings {
    /// The request time limit.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
}

/// The licence folders (the documents' "license path").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenceSettings {
    /// The local Floating Licence Server's `DroppedLicense` folder; the per-user default
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_folder: Option<PathBuf>,
    /// A remote Floating Licence Server's shared `DroppedLicense` folder, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_folder: Option<PathBuf>,
}

/// Plugin host settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    /// How long a plugin may take to answer a call before it is marked faulted.
    pub call_timeout_ms: u64,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            call_timeout_ms: 5000,
        }
    }
}

impl PluginSettings {
    /// The call time limit.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms.max(1))
    }
}

/// A settings file that cannot be used. The file itself is left as it is.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read (or is a FIFO, a device, too large).
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: WriteError,
    },
    /// The file is not valid TOML or has an unknown key or a bad value.
    #[error("settings file {path} is not valid, fix or remove it: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// The file cannot be written; the previous file is intact unless the error says that
    /// the new one replaced it.
    #[error("cannot save settings file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: WriteError,
    },
}

impl Settings {
    /// Reads the settings file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let bytes = match read_regular(path, MAX_SETTINGS_FILE) {
            Ok(bytes) => bytes,
            Err(error) if error.is_not_found() => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Settings::parse(&bytes).map_err(|message| SettingsError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Reads the text of a settings file; the error names the line and what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Settings, String> {
        let text = std::str::from_utf8(bytes).map_err(|error| {
            format!(
                "it is not UTF-8 text (byte {} is not part of a character)",
                error.valid_up_to()
            )
        })?;
        toml::from_str(text).map_err(|error| error.to_string().trim_end().to_string())
    }

    /// Writes the settings file whole (temp file, fsync, rename): a reader sees the old
    /// file or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let failed = |source: WriteError| SettingsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let folder = path.parent().unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("settings.toml");
        fs::create_dir_all(folder)
            .map_err(|source| failed(WriteError::new("cannot create the folder", source)))?;
        let text = format!(
            "# Remote Service settings. Change them with `remote-service config set KEY VALUE`\n\
             # (it checks the value); secrets are in the keyring, never here.\n{}",
            toml::to_string(self).expect("settings serialise to TOML")
        );
        write_atomically(folder, file_name, text.as_bytes(), Access::Private).map_err(failed)?;
        Ok(())
    }

    /// The back office URL in use.
    pub fn backoffice_url(&self) -> &str {
        self.backoffice_url
            .as_deref()
            .unwrap_or(DEFAULT_BACKOFFICE_URL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<Settings, &str>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        fs::write(&path, text).unwrap();
        match (Settings::load(&path), expect) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected),
            (Err(error), Err(fragment)) => {
                let message = error.to_string();
                assert!(
                    message.contains(fragment),
                    "{message:?} does not contain {fragment:?}"
                );
                assert_eq!(
                    fs::read_to_string(&path).unwrap(),
                    text,
                    "the file must be left as it is"
                );
            }
            (actual, expected) => panic!("{text:?}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn settings_files() {
        check("", Ok(Settings::default()));
        let mut with_folder = Settings::default();
        with_folder.licence.local_folder = Some(PathBuf::from("/srv/fls/DroppedLicense"));
        check(
            "[licence]\nlocal_folder = \"/srv/fls/DroppedLicense\"\n",
            Ok(with_folder),
        );
        check("[licence]\nlocal_folder = 3\n", Err("line 2"));
        check(
            "[licence]\nlocal_foldr = \"/x\"\n",
            Err("unknown field `local_foldr`"),
        );
        check("[plugins\n", Err("line 1"));
    }

    #[test]
    fn saved_settings_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join("settings.toml");
        let mut settings = Settings {
            enabled: true,
            organisation_id: Some("ORG-1".into()),
            backoffice_url: Some("http://127.0.0.1:8080".into()),
            ..Settings::default()
        };
        settings.licence.remote_folder = Some(PathBuf::from("/mnt/fls/DroppedLicense"));
        settings.connection.request_timeout_ms = 1500;
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), settings);
        Settings::default().save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_huge_file_as_settings_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("settings.toml");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = Settings::load(&fifo).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let huge = dir.path().join("huge.toml");
        fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_SETTINGS_FILE + 1)
            .unwrap();
        let error = Settings::load(&huge).unwrap_err().to_string();
        assert!(error.contains("too large"), "{error}");
        fs::write(&huge, b"enabled = \xff\n").unwrap();
        let error = Settings::load(&huge).unwrap_err().to_string();
        assert!(error.contains("not UTF-8 text (byte 10"), "{error}");
    }

    #[test]
    fn a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Settings::load(&dir.path().join("none.toml")).unwrap(),
            Settings::default()
        );
    }
}
