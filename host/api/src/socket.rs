//! Where the engine listens.

use std::env;
#[cfg(unix)]
use std::path::Path;
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
    effective_user_id()
}

/// The effective user id of this process.
#[cfg(unix)]
pub(crate) fn effective_user_id() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why the engine that answers on `socket` is not to be trusted with a request, if it is
/// not: a front-end sends secrets and settings there, so the socket and its folder must
/// belong to this user or root and be writable by their owner only (another user could
/// otherwise have made the folder, in the temporary folder say, and listen there). A
/// missing socket is no reason: nothing answers there.
#[cfg(unix)]
pub fn distrust(socket: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = effective_user_id();
    let owned = |uid: u32| uid == me || uid == 0;
    let folder = socket.parent().unwrap_or(Path::new("/"));
    match std::fs::symlink_metadata(folder) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            return Some(format!(
                "its folder {} is a symbolic link",
                folder.display()
            ))
        }
        Ok(metadata) if !owned(metadata.uid()) => {
            return Some(format!(
                "its folder {} belongs to user id {}, not to you (user id {me}) or root",
                folder.display(),
                metadata.uid()
            ))
        }
        Ok(metadata) if metadata.mode() & 0o022 != 0 => {
            return Some(format!(
                "others can write its folder {} (mode {:04o})",
                folder.display(),
                metadata.mode() & 0o7777
            ))
        }
        _ => {}
    }
    match std::fs::symlink_metadata(socket) {
        Ok(metadata) if metadata.file_type().is_symlink() => Some("it is a symbolic link".into()),
        Ok(metadata) if !owned(metadata.uid()) => Some(format!(
            "it belongs to user id {}, not to you (user id {me}) or root",
            metadata.uid()
        )),
        _ => None,
    }
}

/// Whether a peer of user id `uid` may be the engine: this user's or root's.
#[cfg(unix)]
pub(crate) fn trusted_peer(uid: u32) -> bool {
    uid == effective_user_id() || uid == 0
}

#[cfg(not(unix))]
fn user_tag() -> String {
    env::var("USERNAME").unwrap_or_default()
}
