//! Where the engine listens.

use std::env;
use std::path::PathBuf;

/// Overrides the socket path.
pub const SOCKET_ENV: &str = "REMOTE_SERVICE_SOCKET";

/// The socket of the system service.
pub const SYSTEM_SOCKET: &str = "/run/remote-service/api.sock";

/// Where the engine listens: `REMOTE_SERVICE_SOCKET`, else the system socket for the
/// system service, else `$XDG_RUNTIME_DIR/remote-service/api.sock`, else a private folder
/// of the user's in the temporary folder.
pub fn socket_path(system: bool) -> PathBuf {
    if let Some(path) = env::var_os(SOCKET_ENV).filter(|value| !value.is_empty()) {
        return PathBuf::from(path);
    }
    if system {
        return PathBuf::from(SYSTEM_SOCKET);
    }
    match env::var_os("XDG_RUNTIME_DIR").filter(|value| !value.is_empty()) {
        Some(runtime_dir) => PathBuf::from(runtime_dir)
            .join("remote-service")
            .join("api.sock"),
        // No session runtime folder (a plain ssh login, a container): a private folder of
        // this user in the temporary folder; the server refuses it if anyone else owns it
        // or can write it.
        None => env::temp_dir()
            .join(format!("remote-service-{}", user_tag()))
            .join("api.sock"),
    }
}

#[cfg(unix)]
fn user_tag() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn user_tag() -> String {
    env::var("USERNAME").unwrap_or_default()
}
