//! Installing a licence file into a `DroppedLicense` folder so that the licence server
//! never sees half a file: a temp name it ignores (a leading dot, `.partial`), in the same
//! folder; write, fsync, rename over `<serial>.lic`, fsync the folder, read back and
//! compare. On any failure the temp file goes and the previous licence stays.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Installs `bytes` as `folder/file_name`; retries briefly on errors that may pass (an
/// interrupted call, a busy share). The error names the step and the reason.
pub fn install(folder: &Path, file_name: &str, bytes: &[u8]) -> Result<(), String> {
    let mut attempt = 0;
    loop {
        match install_once(folder, file_name, bytes) {
            Ok(()) => return Ok(()),
            Err((step, error)) => {
                let transient = matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                );
                if transient && attempt < 3 {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * attempt));
                    continue;
                }
                return Err(format!("{step}: {error}"));
            }
        }
    }
}

fn install_once(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<(), (&'static str, io::Error)> {
    if !folder.is_dir() {
        return Err((
            "the folder is not there (not mounted?)",
            io::Error::from(io::ErrorKind::NotFound),
        ));
    }
    remove_leftovers(folder, file_name);
    let temp = folder.join(format!(".{file_name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|error| ("cannot create a temporary file", error))?;
        file.write_all(bytes)
            .map_err(|error| ("cannot write", error))?;
        file.sync_all()
            .map_err(|error| ("cannot flush to disk", error))?;
        drop(file);
        fs::rename(&temp, folder.join(file_name))
            .map_err(|error| ("cannot rename the temporary file", error))?;
        if let Ok(directory) = fs::File::open(folder) {
            let _ = directory.sync_all();
        }
        let written = fs::read(folder.join(file_name))
            .map_err(|error| ("cannot read the file back", error))?;
        if written != bytes {
            return Err((
                "the file read back differs from what was written",
                io::Error::other("content mismatch"),
            ));
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Removes temp files an install killed half way left (`.<file_name>.<pid>.partial`): the
/// licence server ignores them, but they are nobody's.
fn remove_leftovers(folder: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.");
    if let Ok(entries) = fs::read_dir(folder) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".partial") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_licence_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("RS-1.lic"), "old").unwrap();
        // Left by an install that was killed half way.
        fs::write(dir.path().join(".RS-1.lic.4242.partial"), "half").unwrap();
        install(dir.path(), "RS-1.lic", b"new licence").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("RS-1.lic")).unwrap(),
            "new licence"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file stays: {names:?}");
    }

    #[test]
    fn a_missing_or_read_only_folder_keeps_the_old_licence_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = install(&dir.path().join("not-mounted"), "RS-1.lic", b"x").unwrap_err();
        assert!(missing.contains("not there"), "{missing}");
        #[cfg(unix)]
        if is_root() {
            // Root writes into read-only folders: the mode test means nothing then.
            return;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::write(dir.path().join("RS-1.lic"), "old").unwrap();
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
            let refused = install(dir.path(), "RS-1.lic", b"new").unwrap_err();
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
            assert!(
                refused.contains("cannot create a temporary file"),
                "{refused}"
            );
            assert_eq!(
                fs::read_to_string(dir.path().join("RS-1.lic")).unwrap(),
                "old"
            );
        }
    }

    #[cfg(unix)]
    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .map(|status| {
                status.lines().any(|line| {
                    line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0")
                })
            })
            .unwrap_or(false)
    }
}
