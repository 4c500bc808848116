//! Whether the engine may trust what a file or folder holds: plugin libraries (loaded into
//! the engine) and licence keys (which decide what a licence grants) must not be
//! changeable by anyone but this user or root. A file is judged where it really is (links
//! resolved), together with every folder above it, since whoever can write a folder can
//! replace what is in it. A sticky folder writable by all (`/tmp`) is fine above: nobody
//! can replace another's entries there.

use std::path::{Path, PathBuf};

/// Resolves `path` (a file or a folder) and checks it and every folder above it; returns
/// where it really is, which is what must then be opened.
pub fn check(path: &Path) -> Result<PathBuf, String> {
    platform::check(path)
}

#[cfg(unix)]
mod platform {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    const STICKY: u32 = 0o1000;

    pub fn check(path: &Path) -> Result<PathBuf, String> {
        let resolved = fs::canonicalize(path)
            .map_err(|error| format!("cannot read its permissions: {error}"))?;
        let metadata = fs::metadata(&resolved)
            .map_err(|error| format!("cannot read its permissions: {error}"))?;
        let is_link = fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink());
        let target = if is_link {
            format!(" (it is a link to {})", resolved.display())
        } else {
            String::new()
        };
        check_owner_and_mode(&metadata).map_err(|reason| format!("{reason}{target}"))?;
        for folder in resolved.ancestors().skip(1) {
            let metadata = fs::metadata(folder).map_err(|error| {
                format!(
                    "cannot read the permissions of {}: {error}",
                    folder.display()
                )
            })?;
            let mode = metadata.mode() & 0o7777;
            let replaceable = mode & 0o022 != 0 && mode & STICKY == 0;
            let owner = metadata.uid();
            let me = crate::os::effective_user_id();
            if replaceable || (owner != 0 && owner != me) {
                return Err(format!(
                    "the folder {} above it can be changed by others (mode {mode:04o}, owner user id {owner}){target}",
                    folder.display()
                ));
            }
        }
        Ok(resolved)
    }

    /// Refuses what group or others can write, or what belongs to someone other than the
    /// current user or root.
    fn check_owner_and_mode(metadata: &fs::Metadata) -> Result<(), String> {
        let mode = metadata.mode() & 0o7777;
        if mode & 0o002 != 0 {
            return Err(format!(
                "anyone can write it (mode {mode:04o}); run chmod o-w on it"
            ));
        }
        if mode & 0o020 != 0 {
            return Err(format!(
                "its group can write it (mode {mode:04o}); run chmod g-w on it"
            ));
        }
        let owner = metadata.uid();
        let me = crate::os::effective_user_id();
        if owner != 0 && owner != me {
            return Err(format!(
                "it belongs to user id {owner}, neither to you (user id {me}) nor to root"
            ));
        }
        Ok(())
    }
}

#[cfg(windows)]
mod platform {
    use std::path::{Path, PathBuf};

    /// On Windows the installer puts plugins and keys under Program Files and ProgramData,
    /// which only administrators can write; access control lists are not inspected here.
    pub fn check(path: &Path) -> Result<PathBuf, String> {
        Ok(path.to_path_buf())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_file_and_every_folder_above_it_are_judged() {
        let root = tempfile::tempdir().unwrap();
        let open_folder = root.path().join("open");
        let safe = root.path().join("safe");
        fs::create_dir_all(&open_folder).unwrap();
        fs::create_dir_all(safe.join("inner")).unwrap();
        let file = safe.join("inner/key.pub");
        fs::write(&file, "x").unwrap();
        mode(&file, 0o644);
        assert_eq!(check(&file).unwrap(), fs::canonicalize(&file).unwrap());

        mode(&file, 0o666);
        assert!(check(&file)
            .unwrap_err()
            .starts_with("anyone can write it (mode 0666)"));
        mode(&file, 0o644);

        // A folder above it that anyone can write: the file could be replaced.
        mode(&safe, 0o777);
        let refused = check(&file).unwrap_err();
        assert!(
            refused.contains(&format!("the folder {} above it", safe.display()))
                && refused.contains("mode 0777"),
            "{refused}"
        );
        // Sticky, as /tmp is: entries cannot be replaced by others.
        mode(&safe, 0o1777);
        assert!(check(&file).is_ok());
        mode(&safe, 0o755);

        // A link is judged by what it points to, where that is.
        mode(&open_folder, 0o777);
        let target = open_folder.join("real.pub");
        fs::write(&target, "x").unwrap();
        mode(&target, 0o644);
        let link = safe.join("inner/linked.pub");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = check(&link).unwrap_err();
        assert!(
            refused.contains("above it can be changed by others")
                && refused.contains("it is a link to"),
            "{refused}"
        );
    }
}
