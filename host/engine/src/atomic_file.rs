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

/// A step of [`write_atomically`], [`read_bounded`] or [`read_regular`] failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}{}", if *.replaced { " (the new file is in place already: the previous one was replaced)" } else { "" })]
pub struct WriteError {
    /// What was being done.
    pub step: &'static str,
    /// The operating system's reason.
    #[source]
    pub source: io::Error,
    /// The failure came after the rename: the new file has replaced the previous one
    /// (which is gone), only checking it failed. `false`: the previous file is intact.
    pub replaced: bool,
}

impl WriteError {
    /// A failure of `step` that left the previous file as it was.
    pub fn new(step: &'static str, source: io::Error) -> WriteError {
        WriteError {
            step,
            source,
            replaced: false,
        }
    }

    /// Whether the file was missing (reading).
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// Writes `bytes` as `folder/file_name`: a temp file in the same folder, created
/// exclusively (`O_CREAT|O_EXCL`: a planted link or file of that name is never opened)
/// under an unpredictable name that starts with a dot and ends in `.partial` (so that
/// neither a licence server nor a settings reader takes it for the real file); write,
/// fsync, rename over the target (a link there is replaced, not followed), fsync the
/// folder, then read back through the open handle and check that the name still leads to
/// it. On a failure before the rename the temp file is removed and the previous file is
/// intact; after it ([`WriteError::replaced`]) the new file is in place and its check
/// failed.
pub fn write_atomically(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
    access: Access,
) -> Result<PathBuf, WriteError> {
    let failed = |step: &'static str| move |source: io::Error| WriteError::new(step, source);
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
    platform::sync_folder(folder).map_err(|error| WriteError {
        replaced: true,
        ..WriteError::new("cannot flush the folder to disk", error)
    })?;
    check_written(&mut file, &target, bytes)?;
    Ok(target)
}

/// After the rename: `file` (the handle written) holds `bytes` and `target` still names
/// it. The previous file is gone by now, whatever fails, and the error says so.
fn check_written(file: &mut File, target: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let failed = |step: &'static str| {
        move |source: io::Error| WriteError {
            replaced: true,
            ..WriteError::new(step, source)
        }
    };
    let written =
        read_handle(file, bytes.len() as u64).map_err(failed("cannot read the file back"))?;
    if written != bytes {
        return Err(failed("the file read back differs from what was written")(
            io::Error::other("content mismatch"),
        ));
    }
    if !platform::is_same_file(file, target).map_err(failed("cannot read the file back"))? {
        return Err(failed("the file read back is not the one written")(
            io::Error::other("the name was replaced while it was written"),
        ));
    }
    Ok(())
}

/// Reads the regular file `path` of a folder others may write, without following a link
/// and without waiting on a FIFO or a device (the type is checked on the open handle), and
/// at most `limit` bytes: a larger file is an error, not a partial read.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, WriteError> {
    let file = platform::open_no_follow(path).map_err(|error| {
        if platform::is_link_refused(&error) {
            WriteError::new(
                "not a regular file",
                io::Error::other("a symbolic link, which is not followed here"),
            )
        } else {
            WriteError::new("cannot open", error)
        }
    })?;
    read_checked(file, limit)
}

/// Reads the file `path` of a folder only the engine's user (or root) writes, such as its
/// settings: a link is followed (an administrator may keep the file elsewhere), but a FIFO
/// or a device is not waited on and at most `limit` bytes are read.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, WriteError> {
    let file =
        platform::open_nonblocking(path).map_err(|error| WriteError::new("cannot open", error))?;
    read_checked(file, limit)
}

fn read_checked(mut file: File, limit: u64) -> Result<Vec<u8>, WriteError> {
    let metadata = file
        .metadata()
        .map_err(|error| WriteError::new("cannot read its type", error))?;
    if !metadata.is_file() {
        return Err(WriteError::new(
            "not a regular file",
            io::Error::other("a link, folder, FIFO or device where a file is expected"),
        ));
    }
    if metadata.len() > limit {
        return Err(WriteError::new(
            "too large",
            io::Error::other(format!(
                "{} bytes, at most {limit} are read",
                metadata.len()
            )),
        ));
    }
    let bytes =
        read_handle(&mut file, limit).map_err(|error| WriteError::new("cannot read", error))?;
    if bytes.len() as u64 > limit {
        return Err(WriteError::new(
            "too large",
            io::Error::other(format!("it grew past {limit} bytes while being read")),
        ));
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

    /// Opens for reading, following links, without blocking on a FIFO.
    pub fn open_nonblocking(path: &Path) -> io::Result<File> {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
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

    /// Windows opens a pipe's name without waiting for a writer.
    pub fn open_nonblocking(path: &Path) -> io::Result<File> {
        File::open(path)
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
    fn a_check_that_fails_after_the_rename_does_not_claim_the_old_file_is_intact() {
        let dir = tempfile::tempdir().unwrap();
        let target = write_atomically(dir.path(), "a.lic", b"new", Access::Shared).unwrap();
        let mut handle = File::open(&target).unwrap();
        // Another file took the name after the rename (here: by hand).
        fs::rename(&target, dir.path().join("moved")).unwrap();
        fs::write(&target, b"new").unwrap();
        let error = check_written(&mut handle, &target, b"new").unwrap_err();
        assert!(error.replaced);
        assert_eq!(
            error.to_string(),
            "the file read back is not the one written: the name was replaced while it was \
             written (the new file is in place already: the previous one was replaced)"
        );
        let mut handle = File::open(dir.path().join("moved")).unwrap();
        let error = check_written(&mut handle, &dir.path().join("moved"), b"other").unwrap_err();
        assert_eq!(
            error.step,
            "the file read back differs from what was written"
        );
        assert!(error.replaced);
        // Before the rename nothing was replaced, and the message does not say otherwise.
        fs::create_dir_all(dir.path().join("b.lic/keep")).unwrap();
        let error = write_atomically(dir.path(), "b.lic", b"x", Access::Shared).unwrap_err();
        assert!(!error.replaced);
        assert!(!error.to_string().contains("in place"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn regular_reads_follow_links_but_refuse_fifos_and_huge_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real.toml"), b"enabled = true\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.toml"), dir.path().join("link.toml"))
            .unwrap();
        assert_eq!(
            read_regular(&dir.path().join("link.toml"), 100).unwrap(),
            b"enabled = true\n"
        );
        let fifo = dir.path().join("fifo.toml");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = read_regular(&fifo, 100).unwrap_err();
        assert_eq!(error.step, "not a regular file");
        let error = read_regular(&dir.path().join("real.toml"), 4).unwrap_err();
        assert_eq!(error.to_string(), "too large: 15 bytes, at most 4 are read");
        assert!(read_regular(&dir.path().join("none"), 4)
            .unwrap_err()
            .is_not_found());
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
