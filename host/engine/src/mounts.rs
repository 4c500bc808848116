//! What the engine needs to know of mounted file systems: whether a folder is on another
//! machine (inotify does not see changes made there), and whether a share the system
//! expects to be mounted there is missing (a licence written into the empty mount point
//! would land on this computer's disk, where the licence server never looks).

use std::path::{Path, PathBuf};

/// Whether `folder` is on a network file system.
pub fn is_network_folder(folder: &Path) -> bool {
    platform::is_network_folder(folder)
}

/// The mount point the system's mount table (`/etc/fstab`; `REMOTE_SERVICE_FSTAB` names
/// another file, for tests) lists for `folder` when nothing is mounted there now: the
/// longest listed mount point that contains the folder, if it is not mounted. `None` when
/// the folder's file system is where it should be, or nothing is listed for it.
pub fn unmounted_share(folder: &Path) -> Option<PathBuf> {
    platform::unmounted_share(folder)
}

#[cfg(target_os = "linux")]
mod platform {
    use std::path::{Path, PathBuf};

    /// File systems on another machine, where inotify sees only this machine's changes.
    pub fn is_network_fs(fs_type: &str) -> bool {
        matches!(
            fs_type,
            "nfs"
                | "nfs4"
                | "cifs"
                | "smb3"
                | "smbfs"
                | "9p"
                | "afs"
                | "ceph"
                | "glusterfs"
                | "davfs"
                | "ncpfs"
        ) || fs_type.starts_with("fuse.sshfs")
            || fs_type == "fuse.rclone"
            || fs_type == "fuse.glusterfs"
    }

    /// Whether the mount holding `folder` is a network file system.
    pub fn is_network_folder(folder: &Path) -> bool {
        let Ok(folder) = folder.canonicalize() else {
            return false;
        };
        let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        mount_fs_type(&mountinfo, &folder).is_some_and(is_network_fs)
    }

    /// The system's mount table: `/etc/fstab`, or the file `REMOTE_SERVICE_FSTAB` names.
    fn fstab_path() -> PathBuf {
        std::env::var_os("REMOTE_SERVICE_FSTAB")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/fstab"))
    }

    pub fn unmounted_share(folder: &Path) -> Option<PathBuf> {
        let folder = folder.canonicalize().ok()?;
        // Both tables are small system files; a missing or unreadable one means there is
        // nothing to compare (the install goes on, as before this check).
        let fstab = crate::atomic_file::read_regular(&fstab_path(), 1 << 20).ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        missing_mount(&String::from_utf8_lossy(&fstab), &mountinfo, &folder)
    }

    /// The longest mount point of `fstab` that contains `folder`, when `mountinfo` does
    /// not have it mounted.
    pub fn missing_mount(fstab: &str, mountinfo: &str, folder: &Path) -> Option<PathBuf> {
        let expected = fstab
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let _device = fields.next()?;
                let mount_point = unescape(fields.next()?);
                let fs_type = fields.next().unwrap_or_default();
                (mount_point.starts_with('/') && fs_type != "swap").then_some(mount_point)
            })
            .filter(|mount_point| folder.starts_with(mount_point))
            .max_by_key(|mount_point| mount_point.len())?;
        let mounted = mountinfo.lines().any(|line| {
            line.split(' ')
                .nth(4)
                .is_some_and(|field| unescape(field) == expected)
        });
        (!mounted).then(|| PathBuf::from(expected))
    }

    /// The file system type of the longest mount point that contains `folder`.
    pub fn mount_fs_type<'a>(mountinfo: &'a str, folder: &Path) -> Option<&'a str> {
        mountinfo
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let mount_point = unescape(fields.get(4)?);
                let separator = fields.iter().position(|field| *field == "-")?;
                let fs_type = *fields.get(separator + 1)?;
                folder
                    .starts_with(&mount_point)
                    .then_some((mount_point.len(), fs_type))
            })
            .max_by_key(|(length, _)| *length)
            .map(|(_, fs_type)| fs_type)
    }

    /// Mount points escape space, tab, newline and backslash as octal (`\040`), in
    /// mountinfo and in fstab alike.
    fn unescape(field: &str) -> String {
        let mut text = String::new();
        let mut rest = field;
        while let Some(index) = rest.find('\\') {
            text.push_str(&rest[..index]);
            let code = rest
                .get(index + 1..index + 4)
                .and_then(|digits| u8::from_str_radix(digits, 8).ok());
            match code {
                Some(byte) => {
                    text.push(byte as char);
                    rest = &rest[index + 4..];
                }
                None => {
                    text.push('\\');
                    rest = &rest[index + 1..];
                }
            }
        }
        text.push_str(rest);
        text
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const FSTAB: &str = "\
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda1 / ext4 defaults 0 1
//fls/DroppedLicense /mnt/fls cifs credentials=/etc/fls.cred,noauto 0 0
server:/export /srv/nfs\\040share nfs4 defaults 0 0
server:/other /srv/away nfs4 noauto 0 0
/swapfile none swap sw 0 0
";

        #[test]
        fn a_share_listed_but_not_mounted_is_found() {
            let missing = |folder: &str| missing_mount(FSTAB, MOUNTINFO, Path::new(folder));
            assert_eq!(
                missing("/srv/away/DroppedLicense"),
                Some(PathBuf::from("/srv/away"))
            );
            assert_eq!(missing("/mnt/fls/DroppedLicense"), None, "mounted");
            assert_eq!(
                missing("/srv/nfs share/x"),
                None,
                "mounted, with an escaped space"
            );
            assert_eq!(
                missing("/home/user/DroppedLicense"),
                None,
                "the root file system"
            );
            assert_eq!(missing("/srv/awayx"), None, "not inside /srv/away");
            assert_eq!(missing_mount("", MOUNTINFO, Path::new("/srv/away")), None);
        }

        const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
40 22 0:35 / /mnt/fls rw,relatime shared:20 - cifs //fls/DroppedLicense rw,vers=3.0
41 22 0:36 / /srv/nfs\\040share rw - nfs4 server:/export rw
42 22 0:37 / /tmp rw - tmpfs tmpfs rw
";

        fn check(folder: &str, expect: Option<&str>) {
            assert_eq!(
                mount_fs_type(MOUNTINFO, Path::new(folder)),
                expect,
                "{folder}"
            );
        }

        #[test]
        fn the_longest_mount_point_decides() {
            check("/mnt/fls/sub", Some("cifs"));
            check("/srv/nfs share/licences", Some("nfs4"));
            check("/tmp/x", Some("tmpfs"));
            check(
                "/home/user/.local/share/remote-service/DroppedLicense",
                Some("ext4"),
            );
            check("/mnt/flsx", Some("ext4"));
        }

        #[test]
        fn network_file_systems() {
            for fs_type in ["nfs", "nfs4", "cifs", "smb3", "9p", "fuse.sshfs"] {
                assert!(is_network_fs(fs_type), "{fs_type}");
            }
            for fs_type in ["ext4", "xfs", "btrfs", "tmpfs", "overlay"] {
                assert!(!is_network_fs(fs_type), "{fs_type}");
            }
        }
    }
}

#[cfg(windows)]
mod platform {
    use std::path::{Component, Path, PathBuf, Prefix};

    /// Windows reaches a share by its UNC path, not through a mount point that may be
    /// empty.
    pub fn unmounted_share(_folder: &Path) -> Option<PathBuf> {
        None
    }

    /// UNC paths (`\\server\share\...`) are on another machine.
    pub fn is_network_folder(folder: &Path) -> bool {
        matches!(
            folder.components().next(),
            Some(Component::Prefix(prefix)) if matches!(prefix.kind(), Prefix::UNC(..) | Prefix::VerbatimUNC(..))
        )
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod platform {
    use std::path::{Path, PathBuf};

    /// Other platforms: the mount table is not read yet.
    pub fn unmounted_share(_folder: &Path) -> Option<PathBuf> {
        None
    }

    /// Other platforms: network mounts are not told apart yet, so every folder relies on
    /// the platform's change notifications.
    pub fn is_network_folder(_folder: &Path) -> bool {
        false
    }
}

/// Whether a licence can be written into `folder` (the settings window's "Test" of the
/// remote Floating Licence Server's shared folder): an absolute path, a folder, the share
/// the system lists for it mounted, and writable (a file is made there and removed). The
/// detail says what was found, or why not, in words. A folder on a network that hangs is
/// the caller's to bound in time.
pub fn test_licence_folder(folder: &Path) -> (bool, String) {
    if !folder.is_absolute() {
        return (
            false,
            format!("{} is not an absolute path", folder.display()),
        );
    }
    if let Some(share) = unmounted_share(folder) {
        return (
            false,
            format!(
                "the share {} that /etc/fstab lists for {} is not mounted: mount it first",
                share.display(),
                folder.display()
            ),
        );
    }
    match std::fs::metadata(folder) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return (false, format!("{} does not exist", folder.display()))
        }
        Err(error) => {
            return (
                false,
                format!("{} cannot be read: {error}", folder.display()),
            )
        }
        Ok(metadata) if !metadata.is_dir() => {
            return (false, format!("{} is not a folder", folder.display()))
        }
        Ok(_) => {}
    }
    let probe = tempfile::Builder::new()
        .prefix(".remote-service-test.")
        .suffix(".partial")
        .tempfile_in(folder);
    match probe {
        Ok(probe) => {
            drop(probe);
            let kind = if is_network_folder(folder) {
                "a network folder"
            } else {
                "a folder of this computer"
            };
            (
                true,
                format!(
                    "{} is {kind}, mounted and writable: licences can be installed there",
                    folder.display()
                ),
            )
        }
        Err(error) => (
            false,
            format!("{} cannot be written: {error}", folder.display()),
        ),
    }
}
