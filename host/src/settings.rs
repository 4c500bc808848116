//! The engine's settings, kept in TOML in the configuration folder.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// All settings. Unknown keys are refused, so that a typo is reported instead of ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where licences live.
    pub licence: LicenceSettings,
    /// How plugins are run.
    pub plugins: PluginSettings,
}

/// The licence folders (the documents' "license path").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenceSettings {
    /// The local Floating Licence Server's `DroppedLicense` folder; the per-user default
    /// when absent.
    pub local_folder: Option<PathBuf>,
    /// A remote Floating Licence Server's shared `DroppedLicense` folder, if any.
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
    /// The file exists but cannot be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a bad value.
    #[error("settings file {path} is not valid, fix or remove it: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
}

impl Settings {
    /// Reads the settings file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|error| SettingsError::Invalid {
            path: path.to_path_buf(),
            message: error.to_string().trim_end().to_string(),
        })
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
    fn a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Settings::load(&dir.path().join("none.toml")).unwrap(),
            Settings::default()
        );
    }
}
