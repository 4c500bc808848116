//! The engine's secrets (the verification code, the proxy password): in the system keyring
//! (the Secret Service on the session bus: GNOME Keyring, KWallet), or where no keyring
//! exists (the system service, a server without a desktop) in a 0600 file of a 0700 folder
//! in the state folder.
//!
//! `REMOTE_SERVICE_SECRETS=file` chooses the file on purpose (the system service, the
//! demo). A keyring that exists but refuses (locked, the unlock prompt dismissed) is an
//! error, never a silent fall-back to the file.
//!
//! A secret's value is never in a log line, an error message or a `Debug` output.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic_file::{write_atomically, Access};
use crate::paths::Paths;

/// Chooses the file backend: `REMOTE_SERVICE_SECRETS=file`.
pub const SECRETS_ENV: &str = "REMOTE_SERVICE_SECRETS";

/// The secrets the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The service organisation's verification code.
    VerificationCode,
    /// The manual proxy's password.
    ProxyPassword,
}

impl Secret {
    /// Every secret.
    pub const ALL: [Secret; 2] = [Secret::VerificationCode, Secret::ProxyPassword];

    /// Its name on the command line and in the keyring's attributes.
    pub fn key(self) -> &'static str {
        match self {
            Secret::VerificationCode => "verification_code",
            Secret::ProxyPassword => "proxy_password",
        }
    }

    /// The secret called `key`.
    pub fn from_key(key: &str) -> Option<Secret> {
        Secret::ALL.into_iter().find(|secret| secret.key() == key)
    }
}

/// A secret could not be read, stored or removed. Says where, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The keyring refused or failed.
    #[error("the keyring (Secret Service) failed on {key}: {reason}")]
    Keyring {
        /// The secret's name.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The secrets file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// Where secrets are kept.
#[derive(Debug, Clone)]
enum Backend {
    SecretService,
    File { folder: PathBuf, why: String },
}

/// The secrets of one engine.
#[derive(Debug, Clone)]
pub struct SecretStore {
    backend: Backend,
}

const APPLICATION: &str = "remote-service";

impl SecretStore {
    /// The keyring when a Secret Service answers on the session bus, otherwise the file in
    /// the state folder.
    pub fn open(paths: &Paths) -> SecretStore {
        let folder = paths.state_dir.join("secrets");
        if std::env::var(SECRETS_ENV).as_deref() == Ok("file") {
            return SecretStore::file(&folder, format!("{SECRETS_ENV}=file"));
        }
        match secret_service::blocking::SecretService::connect(secret_service::EncryptionType::Dh) {
            Ok(_) => SecretStore {
                backend: Backend::SecretService,
            },
            Err(error) => SecretStore::file(
                &folder,
                format!("no Secret Service on the session bus: {}", reason(&error)),
            ),
        }
    }

    /// The file backend in `folder`.
    pub fn file(folder: &Path, why: String) -> SecretStore {
        SecretStore {
            backend: Backend::File {
                folder: folder.to_path_buf(),
                why,
            },
        }
    }

    /// Where secrets are kept, in words.
    pub fn backend(&self) -> String {
        match &self.backend {
            Backend::SecretService => "the keyring (Secret Service)".to_string(),
            Backend::File { folder, why } => {
                format!("a 0600 file in {} ({why})", folder.display())
            }
        }
    }

    /// The secret, if it is set.
    pub fn get(&self, secret: Secret) -> Result<Option<String>, SecretError> {
        match &self.backend {
            Backend::SecretService => keyring::get(secret),
            Backend::File { folder, .. } => {
                let path = folder.join(secret.key());
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(SecretError::File {
                        action: "read",
                        path,
                        source,
                    }),
                }
            }
        }
    }

    /// Stores the secret, replacing the one before.
    pub fn set(&self, secret: Secret, value: &str) -> Result<(), SecretError> {
        match &self.backend {
            Backend::SecretService => keyring::set(secret, value),
            Backend::File { folder, .. } => {
                create_private_folder(folder)?;
                write_atomically(folder, secret.key(), value.as_bytes(), Access::Private)
                    .map(drop)
                    .map_err(|error| SecretError::File {
                        action: "write",
                        path: folder.join(secret.key()),
                        source: io::Error::other(error.to_string()),
                    })
            }
        }
    }

    /// Removes the secret (nothing happens when it is not set).
    pub fn delete(&self, secret: Secret) -> Result<(), SecretError> {
        match &self.backend {
            Backend::SecretService => keyring::delete(secret),
            Backend::File { folder, .. } => {
                let path = folder.join(secret.key());
                match fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(SecretError::File {
                        action: "remove",
                        path,
                        source,
                    }),
                }
            }
        }
    }
}

fn create_private_folder(folder: &Path) -> Result<(), SecretError> {
    let failed = |source| SecretError::File {
        action: "create the folder",
        path: folder.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(failed)?;
        // An existing folder may have been made with other rights: only the owner.
        fs::set_permissions(folder, fs::Permissions::from_mode(0o700)).map_err(failed)?;
    }
    #[cfg(not(unix))]
    fs::create_dir_all(folder).map_err(failed)?;
    Ok(())
}

fn reason(error: &secret_service::Error) -> String {
    match error {
        secret_service::Error::Locked => "the keyring is locked".to_string(),
        secret_service::Error::Prompt => "the keyring's unlock prompt was dismissed".to_string(),
        secret_service::Error::Unavailable => "no Secret Service answers".to_string(),
        other => other.to_string(),
    }
}

/// The Secret Service: items in the default collection with the attributes
/// `application=remote-service` and `secret=<key>`.
mod keyring {
    use super::*;
    use secret_service::blocking::SecretService;
    use secret_service::EncryptionType;

    fn failed(secret: Secret) -> impl Fn(secret_service::Error) -> SecretError {
        move |error| SecretError::Keyring {
            key: secret.key(),
            reason: reason(&error),
        }
    }

    fn attributes(secret: Secret) -> HashMap<&'static str, &'static str> {
        HashMap::from([("application", APPLICATION), ("secret", secret.key())])
    }

    fn connect(secret: Secret) -> Result<SecretService<'static>, SecretError> {
        SecretService::connect(EncryptionType::Dh).map_err(failed(secret))
    }

    pub fn get(secret: Secret) -> Result<Option<String>, SecretError> {
        let service = connect(secret)?;
        let found = service
            .search_items(attributes(secret))
            .map_err(failed(secret))?;
        let item = match (found.unlocked.first(), found.locked.first()) {
            (Some(item), _) => item,
            (None, Some(item)) => {
                item.unlock().map_err(failed(secret))?;
                item
            }
            (None, None) => return Ok(None),
        };
        let bytes = item.get_secret().map_err(failed(secret))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub fn set(secret: Secret, value: &str) -> Result<(), SecretError> {
        let service = connect(secret)?;
        let collection = service.get_default_collection().map_err(failed(secret))?;
        collection.ensure_unlocked().map_err(failed(secret))?;
        collection
            .create_item(
                &format!("Remote Service {}", secret.key()),
                attributes(secret),
                value.as_bytes(),
                true,
                "text/plain",
            )
            .map_err(failed(secret))?;
        Ok(())
    }

    pub fn delete(secret: Secret) -> Result<(), SecretError> {
        let service = connect(secret)?;
        let found = service
            .search_items(attributes(secret))
            .map_err(failed(secret))?;
        for item in found.unlocked.iter().chain(found.locked.iter()) {
            item.ensure_unlocked().map_err(failed(secret))?;
            item.delete().map_err(failed(secret))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_backend_keeps_secrets_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("state/secrets");
        let store = SecretStore::file(&folder, "test".into());
        assert_eq!(store.get(Secret::VerificationCode).unwrap(), None);
        store.set(Secret::VerificationCode, "s3cret code").unwrap();
        assert_eq!(
            store.get(Secret::VerificationCode).unwrap().as_deref(),
            Some("s3cret code")
        );
        assert_eq!(store.get(Secret::ProxyPassword).unwrap(), None);
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join("verification_code")), 0o600);
        store.set(Secret::VerificationCode, "other").unwrap();
        assert_eq!(
            store.get(Secret::VerificationCode).unwrap().as_deref(),
            Some("other")
        );
        store.delete(Secret::VerificationCode).unwrap();
        store.delete(Secret::VerificationCode).unwrap();
        assert_eq!(store.get(Secret::VerificationCode).unwrap(), None);
        assert!(store.backend().contains("0600 file"));
    }

    #[test]
    fn an_unreadable_secrets_file_names_the_file_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("secrets");
        let store = SecretStore::file(&folder, "test".into());
        // A folder where the file should be: reading fails.
        fs::create_dir_all(folder.join("verification_code")).unwrap();
        let message = store.get(Secret::VerificationCode).unwrap_err().to_string();
        assert!(message.contains("verification_code"), "{message}");
        let written = store.set(Secret::VerificationCode, "never-shown");
        let message = format!("{:?} {}", written, written.as_ref().unwrap_err());
        assert!(!message.contains("never-shown"), "{message}");
    }

    #[test]
    fn secrets_by_name() {
        assert_eq!(
            Secret::from_key("verification_code"),
            Some(Secret::VerificationCode)
        );
        assert_eq!(
            Secret::from_key("proxy_password"),
            Some(Secret::ProxyPassword)
        );
        assert_eq!(Secret::from_key("password"), None);
    }
}
