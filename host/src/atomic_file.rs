//! Writing a file so that nobody ever sees it half-written: licences, settings, plugin
//! settings.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (0600): settings.
    Private,
    /// Everyone may read (0644): licence files, which the licence server (another user)
    /// reads.
    Shared,
}

/// A step of [`write_atomically`] failed; the previous file is intact.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct WriteError {
    /// What was being done.
    pub step: &'static str,
    /// The operating system's reason.
    #[source]
    pub source: io::Error,
}

/// Writes `bytes` as `folder/file_name`: a temp file in the same folder whose name starts
/// with a dot and ends in `.partial` (so that neither a licence server nor a settings
/// reader takes it for the real file), write, fsync, rename over the target, fsync the
/// folder, then read back and compare. On any failure the temp file is removed and the
/// previous file is intact.
pub fn write_atomically(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
    access: Access,
) -> Result<PathBuf, WriteError> {
    let failed = |step: &'static str| move |source: io::Error| WriteError { step, source };
    let target = folder.join(file_name);
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".partial")
        .tempfile_in(folder)
        .map_err(failed("cannot create a temporary file"))?;
    temp.write_all(bytes).map_err(failed("cannot write"))?;
    platform::set_access(temp.as_file(), access).map_err(failed("cannot set permissions"))?;
    temp.as_file()
        .sync_all()
        .map_err(failed("cannot flush to disk"))?;
    temp.persist(&target)
        .map_err(|error| failed("cannot rename the temporary file")(error.error))?;
    platform::sync_folder(folder).map_err(failed("cannot flush the folder to disk"))?;
    let written = fs::read(&target).map_err(failed("cannot read the file back"))?;
    if written != bytes {
        return Err(failed("the file read back differs from what was written")(
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

    use super::Access;

    pub fn set_access(file: &File, access: Access) -> io::Result<()> {
        let mode = match access {
            Access::Private => 0o600,
            Access::Shared => 0o644,
        };
        file.set_permissions(Permissions::from_mode(mode))
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

    use super::Access;

    /// Windows files inherit the folder's access control list.
    pub fn set_access(_file: &File, _access: Access) -> io::Result<()> {
        Ok(())
    }

    /// Windows makes a rename durable with the file's own flush.
    pub fn sync_folder(_folder: &Path) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temp_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        write_atomically(dir.path(), "a.toml", b"one", Access::Private).unwrap();
        let path = write_atomically(dir.path(), "a.toml", b"two", Access::Private).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.toml")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn a_failure_names_the_step_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty folder: the rename cannot replace it, even as root.
        fs::create_dir_all(dir.path().join("a.toml/keep")).unwrap();
        let error = write_atomically(dir.path(), "a.toml", b"x", Access::Private).unwrap_err();
        assert_eq!(error.step, "cannot rename the temporary file");
        assert!(dir.path().join("a.toml/keep").is_dir());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temp file is removed"
        );
    }
}
