//! Installing a file so that nobody ever sees it half-written.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::LicenceError;

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

/// Writes `bytes` as `folder/file_name` atomically: a temp file in the same folder whose
/// name the licence server ignores (it starts with a dot and does not end in `.lic`),
/// write, fsync, rename over the target, fsync the folder, then read back and compare. On
/// any failure the temp file is removed and the previous file is intact.
pub fn install_file_atomically(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<PathBuf, InstallError> {
    let failed = |what: &str, error: io::Error| InstallError::Io {
        folder: folder.to_path_buf(),
        file_name: file_name.to_string(),
        reason: format!("{what}: {error}"),
    };
    let target = folder.join(file_name);
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .tempfile_in(folder)
        .map_err(|error| failed("cannot create a temporary file", error))?;
    temp.write_all(bytes)
        .map_err(|error| failed("cannot write", error))?;
    platform::make_readable_by_all(temp.as_file())
        .map_err(|error| failed("cannot set permissions", error))?;
    temp.as_file()
        .sync_all()
        .map_err(|error| failed("cannot flush to disk", error))?;
    temp.persist(&target)
        .map_err(|error| failed("cannot rename the temporary file", error.error))?;
    platform::sync_folder(folder)
        .map_err(|error| failed("cannot flush the folder to disk", error))?;
    let written = fs::read(&target).map_err(|error| failed("cannot read the file back", error))?;
    if written != bytes {
        return Err(failed(
            "the file read back differs from what was written",
            io::Error::other("content mismatch"),
        ));
    }
    Ok(target)
}

#[cfg(unix)]
mod platform {
    use std::fs::{self, File, Permissions};
    use std::io;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// Licence files are read by the licence server, which may run as another user.
    pub fn make_readable_by_all(file: &File) -> io::Result<()> {
        file.set_permissions(Permissions::from_mode(0o644))
    }

    /// Makes the rename durable.
    pub fn sync_folder(folder: &Path) -> io::Result<()> {
        fs::File::open(folder)?.sync_all()
    }
}

#[cfg(not(unix))]
mod platform {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    pub fn make_readable_by_all(_file: &File) -> io::Result<()> {
        Ok(())
    }

    /// Windows makes a rename durable with the file's own flush.
    pub fn sync_folder(_folder: &Path) -> io::Result<()> {
        Ok(())
    }
}
