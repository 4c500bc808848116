//! Logging: short warnings on standard error, the full record in the log file.

use std::fs::{self, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

/// Set to a filter (`debug`, `remote_service=trace`) to change what standard error shows.
pub const LOG_ENV: &str = "REMOTE_SERVICE_LOG";

/// A log file larger than this is moved aside to `<name>.old` at start.
const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// Logs warnings and errors to standard error (or what [`LOG_ENV`] says) and everything
/// from `info` up to `log_file`. A log file that cannot be opened is reported on standard
/// error and the program goes on without it.
pub fn init(log_file: &Path) {
    let stderr_filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .with_env_var(LOG_ENV)
        .from_env_lossy()
        // winit warns about desktop settings it cannot read (XSETTINGS on a bare X
        // server); nothing a user of a tray can act on.
        .add_directive("winit=error".parse().expect("a valid directive"));
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);
    let (file_layer, file_problem) = match RotatingLog::open(log_file) {
        Ok(file) => (
            Some(
                fmt::layer()
                    .with_writer(Mutex::new(file))
                    .with_ansi(false)
                    .with_filter(LevelFilter::INFO),
            ),
            None,
        ),
        Err(error) => (
            None,
            Some(format!(
                "cannot open log file {}: {error}",
                log_file.display()
            )),
        ),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    if let Some(problem) = file_problem {
        tracing::warn!("{problem}");
    }
}

/// The log file, moved aside to `<name>.old` (replacing the one before) whenever it grows
/// past [`MAX_LOG_BYTES`], at start and while running: an engine that runs for months
/// keeps at most twice that.
struct RotatingLog {
    path: PathBuf,
    file: fs::File,
    written: u64,
}

impl RotatingLog {
    fn open(path: &Path) -> io::Result<RotatingLog> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut log = RotatingLog {
            path: path.to_path_buf(),
            file: Self::append(path)?,
            written: fs::metadata(path)
                .map(|metadata| metadata.len())
                .unwrap_or(0),
        };
        if log.written > MAX_LOG_BYTES {
            log.rotate()?;
        }
        Ok(log)
    }

    fn append(path: &Path) -> io::Result<fs::File> {
        OpenOptions::new().create(true).append(true).open(path)
    }

    fn rotate(&mut self) -> io::Result<()> {
        fs::rename(&self.path, self.path.with_extension("log.old"))?;
        self.file = Self::append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.written > MAX_LOG_BYTES {
            // A log that cannot be moved aside goes on growing rather than losing lines.
            let _ = self.rotate();
        }
        let written = self.file.write(bytes)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_moved_aside_when_it_grows_past_the_limit_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("remote-service.log");
        let mut log = RotatingLog::open(&path).unwrap();
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_LOG_BYTES / line.len() as u64 * 3) {
            log.write_all(&line).unwrap();
        }
        let size = |path: &Path| fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(
            size(&path) <= MAX_LOG_BYTES + line.len() as u64,
            "{}",
            size(&path)
        );
        assert!(size(&path.with_extension("log.old")) <= MAX_LOG_BYTES + line.len() as u64);
        assert!(size(&path.with_extension("log.old")) > 0);
    }
}
