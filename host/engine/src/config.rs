//! The settings by key, as `remote-service config get|set|unset KEY` and the local API's
//! `/v1/config` name them: one table of keys, each with its check, so that the command
//! line, the API and the settings window refuse the same bad values with the same words.

use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// The secrets, set with `config set-secret NAME` (standard input), never with `config set`.
pub const SECRET_KEYS: [&str; 2] = ["verification_code", "proxy_password"];

/// A key that cannot be read or set, or a value that is not right for its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No such key.
    #[error("unknown setting {key:?}; the settings are: {}", KEYS.iter().map(|key| key.name).collect::<Vec<_>>().join(", "))]
    UnknownKey {
        /// The key asked for.
        key: String,
    },
    /// The key is a secret.
    #[error("{key} is a secret: set it with `remote-service config set-secret {key}`, which reads it from standard input")]
    Secret {
        /// The key.
        key: String,
    },
    /// The value is not right for the key.
    #[error("{key} cannot be {value:?}: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// Why not.
        reason: String,
    },
}

/// A setting.
pub struct Key {
    /// Its name (`licence.local_folder`).
    pub name: &'static str,
    /// What it is, for `config show`.
    pub description: &'static str,
    get: fn(&Settings) -> Option<String>,
    set: fn(&mut Settings, Option<&str>) -> Result<(), String>,
}

/// Every setting.
pub const KEYS: &[Key] = &[
    Key {
        name: "enabled",
        description: "connect to the remote service back office (true or false)",
        get: |settings| Some(settings.enabled.to_string()),
        set: |settings, value| {
            settings.enabled = match value {
                None => false,
                Some(value) => parse_bool(value)?,
            };
            Ok(())
        },
    },
    Key {
        name: "organisation_id",
        description: "the service organisation ID",
        get: |settings| settings.organisation_id.clone(),
        set: |settings, value| {
            settings.organisation_id = value.map(check_identifier).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "backoffice_url",
        description: "the remote service back office (https, or http on a loopback address)",
        get: |settings| Some(settings.backoffice_url().to_string()),
        set: |settings, value| {
            settings.backoffice_url = value.map(crate::connection::check_backoffice_url).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "backoffice_ca_file",
        description: "a PEM file of certificates to trust for the back office, besides the system's",
        get: |settings| settings.backoffice_ca_file.as_deref().map(display_path),
        set: |settings, value| {
            settings.backoffice_ca_file = value.map(check_ca_file).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "licence.local_folder",
        description: "the local Floating Licence Server's DroppedLicense folder",
        get: |settings| settings.licence.local_folder.as_deref().map(display_path),
        set: |settings, value| {
            settings.licence.local_folder = value.map(check_folder).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "licence.remote_folder",
        description: "a remote Floating Licence Server's shared DroppedLicense folder",
        get: |settings| settings.licence.remote_folder.as_deref().map(display_path),
        set: |settings, value| {
            settings.licence.remote_folder = value.map(check_folder).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "plugins.call_timeout_ms",
        description: "how long a plugin may take to answer before it is marked faulted (ms; at the next start)",
        get: |settings| Some(settings.plugins.call_timeout_ms.to_string()),
        set: |settings, value| {
            settings.plugins.call_timeout_ms = match value {
                None => crate::settings::PluginSettings::default().call_timeout_ms,
                Some(value) => parse_milliseconds(value)?,
            };
            Ok(())
        },
    },
    Key {
        name: "tray.connection_lost_notice_s",
        description: "how long the light stays orange before the tray says the connection is lost (s)",
        get: |settings| Some(settings.tray.connection_lost_notice_s.to_string()),
        set: |settings, value| {
            settings.tray.connection_lost_notice_s = match value {
                None => crate::settings::TraySettings::default().connection_lost_notice_s,
                Some(value) => parse_seconds(value)?,
            };
            Ok(())
        },
    },
    Key {
        name: "assistance.hours",
        description: "how long \"Allow remote assistance\" allows the help desk to connect (hours, 1 to 168)",
        get: |settings| Some(settings.assistance.hours.to_string()),
        set: |settings, value| {
            settings.assistance.hours = match value {
                None => crate::settings::AssistanceSettings::default().hours,
                Some(value) => match value.parse::<u32>() {
                    Ok(hours @ remote_service_api::MIN_HOURS..=remote_service_api::MAX_HOURS) => hours,
                    _ => return Err("it must be a number of hours from 1 to 168".to_string()),
                },
            };
            Ok(())
        },
    },
    Key {
        name: "proxy.mode",
        description: "none, auto (automatically detect settings) or manual (use proxy server: proxy.url)",
        get: |settings| Some(settings.proxy.mode.as_str().to_string()),
        set: |settings, value| {
            settings.proxy.mode = match value {
                None => crate::proxy::ProxyMode::None,
                Some(value) => crate::proxy::ProxyMode::parse(value)?,
            };
            Ok(())
        },
    },
    Key {
        name: "proxy.url",
        description: "the proxy server: host:port (http), http://, https:// (TLS to the proxy) or socks5://host:port",
        get: |settings| settings.proxy.url.clone(),
        set: |settings, value| {
            settings.proxy.url = value.map(crate::proxy::check_proxy_url).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "proxy.domain",
        description: "the domain of the proxy user (DOMAIN\\user)",
        get: |settings| settings.proxy.domain.clone(),
        set: |settings, value| {
            settings.proxy.domain = value.map(|domain| check_name(domain, "a domain")).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "proxy.user",
        description: "the proxy user name (its password: config set-secret proxy_password)",
        get: |settings| settings.proxy.user.clone(),
        set: |settings, value| {
            settings.proxy.user = value.map(|user| check_name(user, "a user name")).transpose()?;
            Ok(())
        },
    },
    Key {
        name: "connection.request_timeout_ms",
        description: "how long a request to the back office may take (ms)",
        get: |settings| Some(settings.connection.request_timeout_ms.to_string()),
        set: |settings, value| {
            settings.connection.request_timeout_ms = match value {
                None => crate::settings::ConnectionSettings::default().request_timeout_ms,
                Some(value) => parse_milliseconds(value)?,
            };
            Ok(())
        },
    },
];

fn key(name: &str) -> Result<&'static Key, ConfigError> {
    if SECRET_KEYS.contains(&name) {
        return Err(ConfigError::Secret {
            key: name.to_string(),
        });
    }
    KEYS.iter()
        .find(|key| key.name == name)
        .ok_or_else(|| ConfigError::UnknownKey {
            key: name.to_string(),
        })
}

/// The value of `name` (`None`: not set and without a default).
pub fn get(settings: &Settings, name: &str) -> Result<Option<String>, ConfigError> {
    Ok((key(name)?.get)(settings))
}

/// Sets `name` to `value` after checking it; on a bad value `settings` is unchanged.
pub fn set(settings: &mut Settings, name: &str, value: &str) -> Result<(), ConfigError> {
    let key = key(name)?;
    let mut changed = settings.clone();
    (key.set)(&mut changed, Some(value)).map_err(|reason| ConfigError::BadValue {
        key: name.to_string(),
        value: without_credentials(value),
        reason,
    })?;
    *settings = changed;
    Ok(())
}

/// Puts `name` back to its default.
pub fn unset(settings: &mut Settings, name: &str) -> Result<(), ConfigError> {
    let key = key(name)?;
    (key.set)(settings, None).map_err(|reason| ConfigError::BadValue {
        key: name.to_string(),
        value: String::new(),
        reason,
    })
}

/// Every key with its value.
pub fn entries(settings: &Settings) -> Vec<(&'static str, Option<String>)> {
    KEYS.iter()
        .map(|key| (key.name, (key.get)(settings)))
        .collect()
}

/// `value` as an error may repeat it: the user name and password of a URL (`http://me:pw@host`,
/// `me:pw@host`) replaced by `***`, so that a refused value never puts a secret into an
/// error, a log or a terminal's scrollback.
fn without_credentials(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    match rest.split_once('@') {
        Some((user_info, host)) if !user_info.contains('/') => format!("{scheme}***@{host}"),
        _ => value.to_string(),
    }
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}

/// A proxy user or domain: one line of printable text, no `:` (Basic authentication
/// separates the user from the password with it) and no `\\` (the domain's separator).
fn check_name(value: &str, what: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > 256 {
        return Err(format!("{what} has 1 to 256 characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == ':' || c == '\\')
    {
        return Err(format!(
            "{what} cannot contain control characters, ':' or '\\'"
        ));
    }
    Ok(value.to_string())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("it must be true or false".to_string()),
    }
}

fn parse_seconds(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(seconds @ 1..=86_400) => Ok(seconds),
        _ => Err("it must be a number of seconds from 1 to 86400".to_string()),
    }
}

fn parse_milliseconds(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(milliseconds @ 1..=600_000) => Ok(milliseconds),
        _ => Err("it must be a number of milliseconds from 1 to 600000".to_string()),
    }
}

fn check_identifier(value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > 128 {
        return Err("it must be 1 to 128 characters long".to_string());
    }
    if value
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err("it must not contain spaces or control characters".to_string());
    }
    Ok(value.to_string())
}

fn check_folder(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if !path.is_absolute() {
        return Err("it must be an absolute path".to_string());
    }
    Ok(path)
}

fn check_ca_file(value: &str) -> Result<PathBuf, String> {
    let path = check_folder(value)?;
    crate::connection::tls::read_certificates(&path).map_err(|error| error.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_value_is_repeated_without_the_credentials_in_it() {
        for (key, value) in [
            ("proxy.url", "http://alice:hunter2@proxy.example.com:8080"),
            ("proxy.url", "alice:hunter2@proxy.example.com:8080"),
            (
                "backoffice_url",
                "https://alice:hunter2@backoffice.example.com",
            ),
        ] {
            let message = set(&mut Settings::default(), key, value)
                .unwrap_err()
                .to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("***@"), "{message}");
        }
    }

    #[test]
    fn the_proxy_settings_are_checked() {
        check("proxy.mode", "manual", Ok(Some("manual")));
        check(
            "proxy.mode",
            "always",
            Err("none, auto (automatically detect settings) or manual"),
        );
        check(
            "proxy.url",
            "proxy.example.com:8080",
            Ok(Some("http://proxy.example.com:8080")),
        );
        check("proxy.url", "proxy.example.com", Err("give the port"));
        check("proxy.user", "alice", Ok(Some("alice")));
        check(
            "proxy.user",
            "alice:x",
            Err("cannot contain control characters, ':'"),
        );
        check("proxy.domain", "EXAMPLE", Ok(Some("EXAMPLE")));
        check("proxy.domain", "EX\\AMPLE", Err("cannot contain"));
    }

    fn check(key: &str, value: &str, expect: Result<Option<&str>, &str>) {
        let mut settings = Settings::default();
        let before = settings.clone();
        match (set(&mut settings, key, value), expect) {
            (Ok(()), Ok(expected)) => {
                assert_eq!(get(&settings, key).unwrap().as_deref(), expected, "{key}")
            }
            (Err(error), Err(fragment)) => {
                let message = error.to_string();
                assert!(
                    message.contains(fragment),
                    "{key}={value}: {message:?} does not contain {fragment:?}"
                );
                assert_eq!(settings, before, "a refused value changes nothing");
            }
            (actual, expected) => panic!("{key}={value}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn keys_and_values() {
        check("enabled", "true", Ok(Some("true")));
        check("enabled", "yes", Err("must be true or false"));
        check("organisation_id", "ORG-DEMO", Ok(Some("ORG-DEMO")));
        check("organisation_id", "two words", Err("spaces"));
        check("organisation_id", "", Err("1 to 128"));
        check(
            "backoffice_url",
            "https://backoffice.example.com/",
            Ok(Some("https://backoffice.example.com")),
        );
        check(
            "backoffice_url",
            "http://127.0.0.1:8080",
            Ok(Some("http://127.0.0.1:8080")),
        );
        check(
            "backoffice_url",
            "http://[::1]:80",
            Ok(Some("http://[::1]:80")),
        );
        check(
            "backoffice_url",
            "http://backoffice.example.com",
            Err("loopback addresses only"),
        );
        check(
            "backoffice_url",
            "https://user:secret@example.com",
            Err("user name or password"),
        );
        check("backoffice_url", "ftp://example.com", Err("must be https"));
        check("backoffice_url", "not a url", Err("not a URL"));
        check(
            "licence.remote_folder",
            "/mnt/fls/DroppedLicense",
            Ok(Some("/mnt/fls/DroppedLicense")),
        );
        check("licence.local_folder", "relative/folder", Err("absolute"));
        check("plugins.call_timeout_ms", "2500", Ok(Some("2500")));
        check("plugins.call_timeout_ms", "0", Err("1 to 600000"));
        check("connection.request_timeout_ms", "abc", Err("milliseconds"));
        check(
            "backoffice_ca_file",
            "/nonexistent.pem",
            Err("/nonexistent.pem"),
        );
        check("colour", "red", Err("unknown setting \"colour\""));
        check(
            "verification_code",
            "1234",
            Err("set-secret verification_code"),
        );
    }

    #[test]
    fn unset_goes_back_to_the_default() {
        let mut settings = Settings::default();
        set(&mut settings, "backoffice_url", "https://b.example.com").unwrap();
        set(&mut settings, "licence.remote_folder", "/mnt/x").unwrap();
        unset(&mut settings, "backoffice_url").unwrap();
        unset(&mut settings, "licence.remote_folder").unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(
            get(&settings, "backoffice_url").unwrap().as_deref(),
            Some(crate::settings::DEFAULT_BACKOFFICE_URL)
        );
    }
}
