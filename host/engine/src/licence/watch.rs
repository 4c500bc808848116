//! Watching the licence folder: inotify (or the platform's equivalent) for local folders,
//! polling for network folders, where change notifications do not arrive.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Changes closer together than this are reported once, after the last: a file copied by
/// hand arrives in several writes and is read once complete.
const SETTLE: Duration = Duration::from_millis(150);
/// How often a network folder is listed.
const NETWORK_POLL: Duration = Duration::from_secs(10);
/// How often a folder that does not exist yet is looked for.
const MISSING_POLL: Duration = Duration::from_secs(2);

/// Why the folder cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch licence folder {folder}: {reason}")]
pub struct WatchError {
    folder: PathBuf,
    reason: String,
}

/// Watches one folder until dropped.
#[derive(Debug)]
pub struct FolderWatcher {
    _stop: Sender<()>,
}

impl FolderWatcher {
    /// Sends `()` on `changes` each time the folder's content changed and settled.
    pub fn start(folder: &Path, changes: Sender<()>) -> Result<FolderWatcher, WatchError> {
        let (stop, stopped) = bounded::<()>(0);
        let (raw_sender, raw) = unbounded::<()>();
        // The notify watch is set up before `start` returns, so that a change right after
        // it (and after the caller's own first read of the folder) is never missed.
        let watcher = watchable(folder)
            .then(|| start_notify(folder, raw_sender.clone()))
            .flatten();
        let folder = folder.to_path_buf();
        let watch_folder = folder.clone();
        thread::Builder::new()
            .name("licence folder watcher".into())
            .spawn(move || {
                watch(
                    &watch_folder,
                    watcher,
                    (raw_sender, raw),
                    &changes,
                    &stopped,
                )
            })
            .map_err(|error| WatchError {
                folder,
                reason: error.to_string(),
            })?;
        Ok(FolderWatcher { _stop: stop })
    }
}

/// Whether change notifications work for `folder`: it exists and is on this machine.
fn watchable(folder: &Path) -> bool {
    folder.is_dir() && !platform::is_network_folder(folder)
}

/// The watcher thread. Blocks without a timer while a local folder is quiet.
fn watch(
    folder: &Path,
    mut watcher: Option<RecommendedWatcher>,
    (raw_sender, raw): (Sender<()>, Receiver<()>),
    changes: &Sender<()>,
    stopped: &Receiver<()>,
) {
    let mut fingerprint = fingerprint(folder);
    loop {
        if watcher.is_none() && watchable(folder) {
            watcher = start_notify(folder, raw_sender.clone());
            // The folder appeared (or became watchable) while it was polled.
            if watcher.is_some() && changes.send(()).is_err() {
                return;
            }
        }
        let poll = match watcher {
            Some(_) => None,
            None if platform::is_network_folder(folder) => Some(NETWORK_POLL),
            None => Some(MISSING_POLL),
        };
        let timeout = poll.map_or_else(crossbeam_channel::never, crossbeam_channel::after);
        select! {
            recv(stopped) -> _ => return,
            recv(raw) -> _ => {
                // Wait until the writes settle.
                loop {
                    select! {
                        recv(stopped) -> _ => return,
                        recv(raw) -> _ => continue,
                        default(SETTLE) => break,
                    }
                }
                fingerprint = self::fingerprint(folder);
                if changes.send(()).is_err() {
                    return;
                }
            },
            recv(timeout) -> _ => {
                let now = self::fingerprint(folder);
                if now != fingerprint {
                    fingerprint = now;
                    if changes.send(()).is_err() {
                        return;
                    }
                }
            },
        }
    }
}

fn start_notify(folder: &Path, raw: Sender<()>) -> Option<RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|event| changes_content(&event.kind)) {
            let _ = raw.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(
                "cannot watch licence folder {}: {error}; it is polled instead",
                folder.display()
            );
            return None;
        }
    };
    match watcher.watch(folder, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(error) => {
            tracing::warn!(
                "cannot watch licence folder {}: {error}; it is polled instead",
                folder.display()
            );
            None
        }
    }
}

/// Whether an event can change what the folder holds. Reading the folder (which the store
/// does after every change) must not count, or each scan would cause the next.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Names, sizes and modification times of the folder's files: what polling compares.
fn fingerprint(folder: &Path) -> Vec<(std::ffi::OsString, u64, Option<SystemTime>)> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            Some((entry.file_name(), metadata.len(), metadata.modified().ok()))
        })
        .collect();
    files.sort();
    files
}

#[cfg(target_os = "linux")]
mod platform {
    use std::path::Path;

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

    /// Mount points escape space, tab, newline and backslash as octal (`\040`).
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
    use std::path::{Component, Path, Prefix};

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
    use std::path::Path;

    /// Other platforms: network mounts are not told apart yet, so every folder relies on
    /// the platform's change notifications.
    pub fn is_network_folder(_folder: &Path) -> bool {
        false
    }
}
