//! Installing a licence file so that nobody ever sees it half-written.

use std::path::{Path, PathBuf};

use super::LicenceError;
use crate::atomic_file::{write_atomically, Access};

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
