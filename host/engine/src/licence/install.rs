//! Installing a licence file so that nobody ever sees it half-written.

use std::path::{Path, PathBuf};

use super::{judge, verify_licence, LicenceError, TrustedKeys, VerifiedLicence};
use crate::atomic_file::{read_bounded, write_atomically, Access};

/// The largest licence file read from a folder: a licence is a few kilobytes, and
/// anything much larger is not one.
pub const MAX_LICENCE_BYTES: u64 = 64 * 1024;

/// Why a licence was not installed. The file that was there stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The licence itself was refused.
    #[error(transparent)]
    Licence(#[from] LicenceError),
    /// The folder could not be written.
    #[error("cannot install {file_name} into {folder}: {reason}")]
    Io {
        /// The folder.
        folder: PathBuf,
        /// The file's name.
        file_name: String,
        /// What failed, with the operating system's reason.
        reason: String,
    },
}

impl InstallError {
    /// A short machine-readable kind, for a plugin's `PluginError`.
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Licence(error) => error.code(),
            InstallError::Io { .. } => "io",
        }
    }
}

/// Installs a licence file as `folder/file_name` atomically (see
/// [`write_atomically`]): readable by everyone, because the licence server reads it.
pub fn install_file_atomically(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<PathBuf, InstallError> {
    write_atomically(folder, file_name, bytes, Access::Shared).map_err(|error| InstallError::Io {
        folder: folder.to_path_buf(),
        file_name: file_name.to_string(),
        reason: error.to_string(),
    })
}

/// Installs the licence `bytes` into `folder` (a `DroppedLicense` folder, or one the user
/// copies from by hand) as `<serial>.lic`, for the licence updater: verified with `keys`
/// and not older than the licence in force ([`judge`]). A folder that already holds exactly
/// these bytes is left alone. Returns the path and whether it was written.
pub fn install_into(
    folder: &Path,
    bytes: &[u8],
    keys: &TrustedKeys,
    in_force: Option<&VerifiedLicence>,
) -> Result<(PathBuf, bool), InstallError> {
    let licence = verify_licence(bytes, keys)?;
    judge(&licence, in_force)?;
    let file_name = licence.file_name();
    let io_error = |reason: String| InstallError::Io {
        folder: folder.to_path_buf(),
        file_name: file_name.clone(),
        reason,
    };
    if !folder.is_dir() {
        return Err(io_error(
            "the folder is not there (not mounted?)".to_string(),
        ));
    }
    if let Some(mount_point) = crate::mounts::unmounted_share(folder) {
        return Err(io_error(format!(
            "the share is not mounted: {} is listed in the system's mount table but nothing is mounted there, so the licence would land on this computer's disk instead of the licence server's",
            mount_point.display()
        )));
    }
    let path = folder.join(&file_name);
    if read_bounded(&path, MAX_LICENCE_BYTES).is_ok_and(|there| there == bytes) {
        return Ok((path, false));
    }
    install_file_atomically(folder, &file_name, bytes).map(|path| (path, true))
}
