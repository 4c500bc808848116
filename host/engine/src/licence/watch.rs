//! Watching the licence folder: inotify (or the platform's equivalent) for local folders,
//! polling for network folders, where change notifications do not arrive. The watcher's
//! thread also reads the folder after each change and hands over what it found: a network
//! folder that hangs holds up this thread, never the engine's.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::FolderRead;
use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// Changes closer together than this are reported once, after the last: a file copied by
/// hand arrives in several writes and is read once complete.
pub(crate) const SETTLE: Duration = Duration::from_millis(150);
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
    /// Sends the folder as read on `changes` once the watch is set up (so that nothing
    /// dropped after the caller's own read is missed), then each time its content changed
    /// and settled.
    pub fn start(folder: &Path, changes: Sender<FolderRead>) -> Result<FolderWatcher, WatchError> {
        let (stop, stopped) = bounded::<()>(0);
        let (raw_sender, raw) = unbounded::<()>();
        let folder = folder.to_path_buf();
        let watch_folder = folder.clone();
        thread::Builder::new()
            .name("licence folder watcher".into())
            .spawn(move || {
                let watcher = watchable(&watch_folder)
                    .then(|| start_notify(&watch_folder, raw_sender.clone()))
                    .flatten();
                if changes.send(FolderRead::of(&watch_folder)).is_err() {
                    return;
                }
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
    folder.is_dir() && !crate::mounts::is_network_folder(folder)
}

/// The watcher thread. Blocks without a timer while a local folder is quiet.
fn watch(
    folder: &Path,
    mut watcher: Option<RecommendedWatcher>,
    (raw_sender, raw): (Sender<()>, Receiver<()>),
    changes: &Sender<FolderRead>,
    stopped: &Receiver<()>,
) {
    let mut fingerprint = fingerprint(folder);
    loop {
        if watcher.is_none() && watchable(folder) {
            watcher = start_notify(folder, raw_sender.clone());
            // The folder appeared (or became watchable) while it was polled.
            if watcher.is_some() && changes.send(FolderRead::of(folder)).is_err() {
                return;
            }
        }
        let poll = match watcher {
            Some(_) => None,
            None if crate::mounts::is_network_folder(folder) => Some(NETWORK_POLL),
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
                if changes.send(FolderRead::of(folder)).is_err() {
                    return;
                }
            },
            recv(timeout) -> _ => {
                let now = self::fingerprint(folder);
                if now != fingerprint {
                    fingerprint = now;
                    if changes.send(FolderRead::of(folder)).is_err() {
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
pub(crate) fn changes_content(kind: &EventKind) -> bool {
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
