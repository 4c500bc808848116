//! Logging: short warnings on standard error, the full record in the log file.

use std::fs::{self, OpenOptions};
use std::io::IsTerminal;
use std::path::Path;
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
    let (file_layer, file_problem) = match open_log_file(log_file) {
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

fn open_log_file(path: &Path) -> std::io::Result<fs::File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    if fs::metadata(path).is_ok_and(|metadata| metadata.len() > MAX_LOG_BYTES) {
        fs::rename(path, path.with_extension("log.old"))?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
