//! The one way the engine writes a file that others read (licences, settings, plugin
//! settings) and reads a file from a folder others can write: nobody ever sees a file
//! half-written, and a link, a FIFO or an endless file planted where a file is expected is
//! never followed, waited on or read whole.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
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

/// A step of [`write_atomically`] or [`read_bounded`] failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct WriteError {
    /// What was being done.
    pub step: &'static str,
    /// The operating system's reason.
    #[source]
    pub source: io::Error,
}

/// Writes `bytes` as `folder/file_name`: a temp file in the same folder, created
/// exclusively (`O_CREAT|O_EXCL`: a planted link or file of that name is never opened)
/// under an unpredictable name that starts with a dot and ends in `.partial` (so that
/// neither a licence server nor a settings reader takes it for the real file); write,
/// fsync, rename over the target (a link there is replaced, not followed), fsync the
/// folder, then read back through the open handle and check that the name still leads to
/// it. On a failure before the rename the temp file is removed and the previous file is
/// intact.
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
        .rand_bytes(16)
        .tempfile_in(folder)
        .map_err(failed("cannot create a temporary file"))?;
    temp.write_all(bytes).map_err(failed("cannot write"))?;
    platform::set_access(temp.as_file(), access).map_err(failed("cannot set permissions"))?;
    temp.as_file()
        .sync_all()
        .map_err(failed("cannot flush to disk"))?;
    let mut file = temp
        .persist(&target)
        .map_err(|error| failed("cannot rename the temporary file")(error.error))?;
    platform::sync_folder(folder).map_err(failed("cannot flush the folder to disk"))?;
    let written =
        read_handle(&mut file, bytes.len() as u64).map_err(failed("cannot read the file back"))?;
    if written != bytes {
        return Err(failed("the file read back differs from what was written")(
            io::Error::other("content mismatch"),
        ));
    }
    if !platform::is_same_file(&file, &target).map_err(failed("cannot read the file back"))? {
        return Err(failed("the file read back is not the one written")(
            io::Error::other("the name was replaced while it was written"),
        ));
    }
    Ok(target)
}

/// Reads the regular file `path` of a folder others may write, without following a link
/// and without waiting on a FIFO or a device (the type is checked on the open handle), and
/// at most `limit` bytes: a larger file is an error, not a partial read.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, WriteError> {
    let failed = |step: &'static str| move |source: io::Error| WriteError { step, source };
    let mut file = platform::open_no_follow(path).map_err(|error| {
        if platform::is_link_refused(&error) {
            failed("not a regular file")(io::Error::other(
                "a symbolic link, which is not followed here",
            ))
        } else {
            failed("cannot open")(error)
        }
    })?;
    let metadata = file.metadata().map_err(failed("cannot read its type"))?;
    if !metadata.is_file() {
        return Err(failed("not a regular file")(io::Error::other(
            "a link, folder, FIFO or device where a file is expected",
        )));
    }
    if metadata.len() > limit {
        return Err(failed("too large")(io::Error::other(format!(
            "{} bytes, at most {limit} are read",
            metadata.len()
        ))));
    }
    let bytes = read_handle(&mut file, limit).map_err(failed("cannot read"))?;
    if bytes.len() as u64 > limit {
        return Err(failed("too large")(io::Error::other(format!(
            "it grew past {limit} bytes while being read"
        ))));
    }
    Ok(bytes)
}

/// Up to `limit + 1` bytes of `file` from its start (one more than allowed shows that it is
/// larger).
fn read_handle(file: &mut File, limit: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(unix)]
mod platform {
    use std::fs::{self, File, Permissions};
    use std::io;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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

    /// Whether `path` names the file `file` is open on (not a link to it, not another).
    pub fn is_same_file(file: &File, path: &Path) -> io::Result<bool> {
        let open = file.metadata()?;
        let named = fs::symlink_metadata(path)?;
        Ok(open.dev() == named.dev() && open.ino() == named.ino())
    }

    /// Opens for reading without following a final link and without blocking on a FIFO.
    pub fn open_no_follow(path: &Path) -> io::Result<File> {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    }

    /// Whether `open_no_follow` failed because the name is a link.
    pub fn is_link_refused(error: &io::Error) -> bool {
        error.raw_os_error() == Some(libc::ELOOP)
    }
}

#[cfg(not(unix))]
mod platform {
    use std::fs::{self, File};
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

    /// Windows has no cheap inode check; the rename of a file opened by us is trusted.
    pub fn is_same_file(_file: &File, path: &Path) -> io::Result<bool> {
        Ok(!fs::symlink_metadata(path)?.file_type().is_symlink())
    }

    pub fn open_no_follow(path: &Path) -> io::Result<File> {
        if fs::symlink_metadata(path)?.file_type().is_symlink() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        File::open(path)
    }

    pub fn is_link_refused(error: &io::Error) -> bool {
        error.kind() == io::ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

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

    #[cfg(unix)]
    #[test]
    fn a_link_where_the_file_goes_is_replaced_and_what_it_points_to_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "not ours").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("RS-1.lic")).unwrap();
        write_atomically(dir.path(), "RS-1.lic", b"licence", Access::Shared).unwrap();
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "not ours");
        let written = dir.path().join("RS-1.lic");
        assert!(!fs::symlink_metadata(&written)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&written).unwrap(), b"licence");
    }

    #[cfg(unix)]
    #[test]
    fn reading_refuses_links_fifos_and_files_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("RS-1.lic");
        fs::write(&file, "twelve bytes").unwrap();
        assert_eq!(read_bounded(&file, 12).unwrap(), b"twelve bytes");
        assert_eq!(read_bounded(&file, 11).unwrap_err().step, "too large");
        let link = dir.path().join("link.lic");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let refused = read_bounded(&link, 100).unwrap_err();
        assert_eq!(refused.step, "not a regular file");
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        let fifo = dir.path().join("fifo.lic");
        let fifo_name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path and a plain mode.
        assert_eq!(unsafe { libc::mkfifo(fifo_name.as_ptr(), 0o600) }, 0);
        assert_eq!(
            read_bounded(&fifo, 100).unwrap_err().step,
            "not a regular file"
        );
        assert_eq!(
            read_bounded(dir.path(), 100).unwrap_err().step,
            "not a regular file"
        );
    }
}
