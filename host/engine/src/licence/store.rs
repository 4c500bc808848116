//! The licence in force, and the rules for replacing it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{
    install_file_atomically, refusal, verify_licence, InstallError, LicenceError, TrustedKeys,
    VerifiedLicence, MAX_LICENCE_BYTES,
};
use crate::atomic_file::read_bounded;

/// The copy of the licence in force, in the state folder.
const IN_FORCE_COPY: &str = "licence-in-force.lic";

/// Where the store reads and keeps licences.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The `DroppedLicense` folder the licence is read from and installed into.
    pub licence_folder: PathBuf,
    /// The system configuration folder with extra trusted keys.
    pub system_dir: PathBuf,
    /// Where the copy of the licence in force is kept.
    pub state_dir: PathBuf,
}

/// A licence file that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// What a scan of the folder found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Whether another licence is in force now.
    pub changed: bool,
    /// Files refused (each reported once for the same content).
    pub refused: Vec<Refusal>,
    /// Warnings about the licence now in force.
    pub warnings: Vec<String>,
}

/// What [`LicenceStore::install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The licence is in force now, as this file.
    Installed {
        /// The installed file.
        path: PathBuf,
    },
    /// The same licence was already in force.
    AlreadyInForce {
        /// The file.
        path: PathBuf,
    },
}

/// How a verified licence compares with the one in force.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It would replace the licence in force.
    Newer,
    /// It is the licence in force.
    Same,
}

/// The licence in force and the folder it comes from.
#[derive(Debug)]
pub struct LicenceStore {
    config: StoreConfig,
    keys: TrustedKeys,
    in_force: Option<VerifiedLicence>,
    /// What each file was when it was last judged, so that a file is judged (and a refusal
    /// reported) once per content.
    judged: HashMap<PathBuf, Seen>,
}

/// A file of the folder as the last scan found it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Its content.
    Content(Vec<u8>),
    /// It could not be read as a licence file, and why.
    Unreadable(String),
}

/// What a read of the licence folder found: each `*.lic` file (up to
/// [`MAX_LICENCE_FILES`]) as it was. Reading is apart from judging so that it can happen on
/// a thread that may wait for a hung network folder, never on the engine's.
#[derive(Debug)]
pub struct FolderRead {
    folder: PathBuf,
    files: Vec<(PathBuf, Seen)>,
    total: usize,
}

impl FolderRead {
    /// Reads `folder` on this thread.
    pub fn of(folder: &Path) -> FolderRead {
        let mut paths = licence_files(folder);
        let total = paths.len();
        paths.truncate(MAX_LICENCE_FILES);
        let files = paths
            .into_iter()
            .map(|path| {
                // Opened once, without following a link or waiting on a FIFO, type-checked
                // on the handle and size-capped: the folder may be a share others can write.
                let seen = match read_bounded(&path, MAX_LICENCE_BYTES) {
                    Ok(bytes) => Seen::Content(bytes),
                    Err(error) => Seen::Unreadable(error.to_string()),
                };
                (path, seen)
            })
            .collect();
        FolderRead {
            folder: folder.to_path_buf(),
            files,
            total,
        }
    }

    /// The licence files read.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(path, _)| path.clone()).collect()
    }

    /// Reads `folder` on a thread of its own and waits at most `limit`: `None` when it did
    /// not answer in time (a hung network folder); the reader then goes on waiting alone.
    pub fn within(folder: &Path, limit: std::time::Duration) -> Option<FolderRead> {
        let folder = folder.to_path_buf();
        crate::deadline::within("licence folder reader", limit, move || {
            FolderRead::of(&folder)
        })
    }
}

/// How long an install waits for the licence folder.
const WRITE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What [`write_into`] did.
enum Written {
    /// The folder holds the licence already (or the licence in force, which it is).
    AlreadyThere(PathBuf),
    /// It was written.
    Written(PathBuf),
}

/// Writes `bytes` as `folder/file_name` unless it is there already; `in_force`: the bytes of
/// the licence in force when `bytes` is the same licence (another file of it counts too).
fn write_into(
    folder: &Path,
    file_name: &str,
    bytes: &[u8],
    in_force: Option<Vec<u8>>,
) -> Result<Written, InstallError> {
    let path = folder.join(file_name);
    if let Some(in_force) = in_force {
        let on_disk = read_bounded(&path, MAX_LICENCE_BYTES).unwrap_or_default();
        if on_disk == bytes || on_disk == in_force {
            return Ok(Written::AlreadyThere(path));
        }
    }
    fs::create_dir_all(folder).map_err(|error| InstallError::Io {
        folder: folder.to_path_buf(),
        file_name: file_name.to_string(),
        reason: format!("cannot create the folder: {error}"),
    })?;
    install_file_atomically(folder, file_name, bytes).map(Written::Written)
}

/// The most `*.lic` files a scan reads: a licence server's folder holds a few; a folder
/// filled with thousands by someone who can write it must not make every scan read them.
pub const MAX_LICENCE_FILES: usize = 64;

impl LicenceStore {
    /// The trusted keys.
    pub fn trusted_keys(&self) -> &TrustedKeys {
        &self.keys
    }

    /// Loads the trusted keys and the copy of the licence in force. Call
    /// [`LicenceStore::rescan`] to read the folder.
    pub fn open(config: StoreConfig) -> LicenceStore {
        let keys = TrustedKeys::load(&config.system_dir);
        let copy = config.state_dir.join(IN_FORCE_COPY);
        let in_force = match crate::atomic_file::read_regular(&copy, MAX_LICENCE_BYTES) {
            Ok(bytes) => match verify_licence(&bytes, &keys) {
                Ok(licence) => Some(licence),
                Err(error) => {
                    tracing::warn!(
                        "the copy of the licence in force {} is not usable: {error}",
                        copy.display()
                    );
                    None
                }
            },
            Err(_) => None,
        };
        LicenceStore {
            config,
            keys,
            in_force,
            judged: HashMap::new(),
        }
    }

    /// The licence in force.
    pub fn in_force(&self) -> Option<&VerifiedLicence> {
        self.in_force.as_ref()
    }

    /// The licence folder.
    pub fn folder(&self) -> &Path {
        &self.config.licence_folder
    }

    /// Reads every `*.lic` file of the folder that changed since it was last judged and
    /// puts the newest valid licence in force (reading on this thread: see
    /// [`FolderRead::within`] for a folder that may hang).
    pub fn rescan(&mut self) -> ScanOutcome {
        let read = FolderRead::of(&self.config.licence_folder);
        self.apply(read)
    }

    /// Judges what a read of the folder found and puts the newest valid licence in force.
    /// A read of another folder (the setting changed since) is ignored.
    pub fn apply(&mut self, read: FolderRead) -> ScanOutcome {
        let mut outcome = ScanOutcome::default();
        if read.folder != self.config.licence_folder {
            return outcome;
        }
        if read.total > MAX_LICENCE_FILES {
            tracing::warn!(
                "licence folder {} holds {} licence files; only the first {MAX_LICENCE_FILES} are read",
                self.config.licence_folder.display(),
                read.total
            );
        }
        self.judged
            .retain(|path, _| read.files.iter().any(|(read, _)| read == path));
        let mut candidates = Vec::new();
        for (path, seen) in read.files {
            if self.judged.get(&path) == Some(&seen) {
                continue;
            }
            match &seen {
                Seen::Content(bytes) => match verify_licence(bytes, &self.keys) {
                    Ok(licence) => candidates.push((path.clone(), licence)),
                    Err(error) => outcome.refused.push(refusal(path.clone(), error)),
                },
                Seen::Unreadable(reason) => outcome
                    .refused
                    .push(refusal(path.clone(), format!("cannot be read: {reason}"))),
            }
            self.judged.insert(path, seen);
        }
        // The newest first: it is the one that may replace the licence in force, and the
        // others are judged against the licence in force afterwards.
        candidates.sort_by_key(|(_, licence)| std::cmp::Reverse(licence.payload.sequence));
        for (path, licence) in candidates {
            match judge(&licence, self.in_force.as_ref()) {
                Ok(Verdict::Same) => {}
                Ok(Verdict::Newer) => {
                    outcome.warnings.extend(licence.warnings.iter().cloned());
                    self.put_in_force(licence);
                    outcome.changed = true;
                }
                Err(error) => outcome.refused.push(refusal(path, error)),
            }
        }
        for refused in &outcome.refused {
            tracing::warn!(
                "licence file {} refused: {}",
                refused.path.display(),
                refused.reason
            );
        }
        outcome
    }

    /// Verifies a licence, checks it against the licence in force, installs it into the
    /// folder atomically and puts it in force.
    pub fn install(&mut self, bytes: &[u8]) -> Result<InstallOutcome, InstallError> {
        let licence = verify_licence(bytes, &self.keys)?;
        let verdict = judge(&licence, self.in_force.as_ref())?;
        let folder = self.config.licence_folder.clone();
        let file_name = licence.file_name();
        // The folder may be a network share that hangs: its reads and writes happen on a
        // thread of their own, waited for at most WRITE_LIMIT. A write that completes
        // later leaves a verified licence in the folder, which the watcher then reads.
        let written = {
            let (folder, file_name) = (folder.clone(), file_name.clone());
            let bytes = bytes.to_vec();
            let in_force = self.in_force.as_ref().map(|licence| licence.bytes.clone());
            let same = verdict == Verdict::Same;
            crate::deadline::within("licence install", WRITE_LIMIT, move || {
                write_into(
                    &folder,
                    &file_name,
                    &bytes,
                    same.then_some(in_force).flatten(),
                )
            })
        };
        let written = written.unwrap_or_else(|| {
            Err(InstallError::Io {
                folder: folder.clone(),
                file_name: file_name.clone(),
                reason: format!(
                    "the folder did not answer within {} s (a network folder that hangs?); the licence may still arrive there",
                    WRITE_LIMIT.as_secs()
                ),
            })
        })?;
        let path = match written {
            Written::AlreadyThere(path) => return Ok(InstallOutcome::AlreadyInForce { path }),
            Written::Written(path) => path,
        };
        self.judged
            .insert(path.clone(), Seen::Content(bytes.to_vec()));
        if verdict == Verdict::Same {
            // The licence in force was missing from the folder: it is there again.
            return Ok(InstallOutcome::AlreadyInForce { path });
        }
        self.put_in_force(licence);
        tracing::info!("licence installed as {}", path.display());
        Ok(InstallOutcome::Installed { path })
    }

    fn put_in_force(&mut self, licence: VerifiedLicence) {
        let state_dir = &self.config.state_dir;
        let saved = fs::create_dir_all(state_dir)
            .map_err(|error| error.to_string())
            .and_then(|()| {
                install_file_atomically(state_dir, IN_FORCE_COPY, &licence.bytes)
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = saved {
            // The licence is still in force for this run; only the protection against a
            // downgrade while not running is weaker until the copy can be written.
            tracing::warn!("cannot keep a copy of the licence in force: {error}");
        }
        self.in_force = Some(licence);
    }
}

/// How `licence` (verified) compares with the licence in force: the rules every licence
/// must pass before it is installed, whoever brings it (the folder, `licence install`, the
/// licence updater).
pub fn judge(
    licence: &VerifiedLicence,
    in_force: Option<&VerifiedLicence>,
) -> Result<Verdict, LicenceError> {
    let Some(current) = in_force else {
        return Ok(Verdict::Newer);
    };
    let (offered, installed) = (&licence.payload, &current.payload);
    if offered.serial_number != installed.serial_number {
        return Err(LicenceError::OtherSerial {
            offered: offered.serial_number.clone(),
            installed: installed.serial_number.clone(),
        });
    }
    if offered.sequence < installed.sequence {
        return Err(LicenceError::Downgrade {
            offered: offered.sequence,
            installed: installed.sequence,
        });
    }
    if offered.sequence == installed.sequence {
        // Signatures are randomised, so the same payload signed twice differs in bytes:
        // the payload is what must be the same.
        return if licence.payload_json == current.payload_json {
            Ok(Verdict::Same)
        } else {
            Err(LicenceError::SameSequenceOtherContent(offered.sequence))
        };
    }
    Ok(Verdict::Newer)
}

/// The names ending in `.lic` of `folder` (not hidden ones), sorted; what each is, is
/// checked when it is opened.
fn licence_files(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Folders are not licences (a FIFO, a link or a device is opened and refused
            // with the reason).
            !name.starts_with('.')
                && name.ends_with(".lic")
                && !entry.file_type().is_ok_and(|kind| kind.is_dir())
        })
        .map(|entry| entry.path())
        .collect();
    files.sort();
    files
}
