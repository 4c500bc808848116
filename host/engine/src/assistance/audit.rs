//! The record of remote assistance: `assistance-log.jsonl` in the data folder, one JSON
//! object per line ([`AuditEntry`]), appended and synced line by line, never rewritten.
//!
//! Whole lines only: each line goes to the file in one `write` of a file opened for
//! appending, then `fsync`; a process killed in between leaves the file as it was or with
//! the whole line. Should a crash of the machine leave a torn last line all the same, the
//! next opening cuts it off (and says so in the log): what follows starts on a line of its
//! own and every line reads.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use remote_service_api::AuditEntry;

/// The file's name in the data folder.
pub const FILE_NAME: &str = "assistance-log.jsonl";

/// The most of the record read back (the menu's "Recent activity", `assistance log`): the
/// file itself only grows, about 200 bytes an entry.
const READ_LIMIT: u64 = 8 * 1024 * 1024;

/// The record.
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The record in `folder` (created when needed); a torn last line is cut off.
    pub fn open(folder: &Path) -> io::Result<AuditLog> {
        std::fs::create_dir_all(folder)?;
        let log = AuditLog {
            path: folder.join(FILE_NAME),
        };
        if let Some(mut file) = log.open_file(false)? {
            cut_torn_line(&mut file, &log.path)?;
        }
        Ok(log)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_file(&self, create: bool) -> io::Result<Option<File>> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(create);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The user reads it (the system service's group too); a link is not followed.
            options.mode(0o640).custom_flags(libc::O_NOFOLLOW);
        }
        match options.open(&self.path) {
            Ok(file) => {
                if !file.metadata()?.is_file() {
                    return Err(io::Error::other(format!(
                        "{} is not a regular file",
                        self.path.display()
                    )));
                }
                Ok(Some(file))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound && !create => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Appends `entry` as one line and syncs it to the disk.
    pub fn append(&self, entry: &AuditEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .open_file(true)?
            .ok_or_else(|| io::Error::other("the record vanished"))?;
        // One write: O_APPEND puts it at the end as a whole.
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Every entry, oldest first (the last [`READ_LIMIT`] bytes); a line that does not read
    /// is skipped and counted in the log.
    pub fn read(&self) -> io::Result<Vec<AuditEntry>> {
        let Some(mut file) = self.open_file(false)? else {
            return Ok(Vec::new());
        };
        let length = file.metadata()?.len();
        let start = length.saturating_sub(READ_LIMIT);
        file.seek(SeekFrom::Start(start))?;
        let mut text = Vec::new();
        file.take(READ_LIMIT).read_to_end(&mut text)?;
        let mut lines: &[u8] = &text;
        if start > 0 {
            // Starts mid-line: from the next line on.
            let next = lines
                .iter()
                .position(|&b| b == b'\n')
                .map_or(lines.len(), |at| at + 1);
            lines = &lines[next..];
        }
        let mut unreadable = 0;
        let entries = lines
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| match serde_json::from_slice(line) {
                Ok(entry) => Some(entry),
                Err(_) => {
                    unreadable += 1;
                    None
                }
            })
            .collect();
        if unreadable > 0 {
            tracing::warn!(
                "{unreadable} lines of {} cannot be read and were skipped",
                self.path.display()
            );
        }
        Ok(entries)
    }
}

/// Cuts the file after its last newline, when it does not end with one.
fn cut_torn_line(file: &mut File, path: &Path) -> io::Result<()> {
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(length - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Back from the end to the last newline, a block at a time.
    let mut end = length;
    let mut keep = 0;
    while end > 0 {
        let begin = end.saturating_sub(4096);
        let mut block = vec![0; (end - begin) as usize];
        file.seek(SeekFrom::Start(begin))?;
        file.read_exact(&mut block)?;
        if let Some(at) = block.iter().rposition(|&b| b == b'\n') {
            keep = begin + at as u64 + 1;
            break;
        }
        end = begin;
    }
    tracing::warn!(
        "the last line of {} was torn (the machine stopped while it was written): {} bytes cut off",
        path.display(),
        length - keep
    );
    file.set_len(keep)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> AuditEntry {
        AuditEntry::new("2026-12-01T10:00:00Z", event)
    }

    #[test]
    fn entries_are_appended_and_read_back_in_order() {
        let folder = tempfile::tempdir().unwrap();
        let log = AuditLog::open(folder.path()).unwrap();
        assert!(log.read().unwrap().is_empty());
        log.append(&entry("allowed")).unwrap();
        log.append(&entry("revoked")).unwrap();
        let read = AuditLog::open(folder.path()).unwrap().read().unwrap();
        assert_eq!(read, vec![entry("allowed"), entry("revoked")]);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_the_next_entry_starts_a_line() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(FILE_NAME);
        let whole = serde_json::to_string(&entry("allowed")).unwrap();
        std::fs::write(&path, format!("{whole}\n{{\"at\":\"2026-12")).unwrap();
        let log = AuditLog::open(folder.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{whole}\n")
        );
        log.append(&entry("revoked")).unwrap();
        assert_eq!(
            log.read().unwrap(),
            vec![entry("allowed"), entry("revoked")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_where_the_record_goes_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let elsewhere = folder.path().join("elsewhere");
        std::fs::write(&elsewhere, "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, folder.path().join(FILE_NAME)).unwrap();
        let log = AuditLog {
            path: folder.path().join(FILE_NAME),
        };
        assert!(log.append(&entry("allowed")).is_err());
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
    }
}
