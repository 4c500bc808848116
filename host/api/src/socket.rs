//! Where the engine listens.

use std::env;
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;

/// Overrides the socket path.
pub const SOCKET_ENV: &str = "REMOTE_SERVICE_SOCKET";

/// The socket of the system service.
pub const SYSTEM_SOCKET: &str = "/run/remote-service/api.sock";

/// The system service's unit where the Debian package installs it (`/lib` is the same
/// folder on a merged-/usr system, a different one on an older one).
#[cfg(target_os = "linux")]
const SYSTEM_UNITS: [&str; 2] = [
    "/usr/lib/systemd/system/remote-service.service",
    "/lib/systemd/system/remote-service.service",
];

/// Whether this machine's front-ends (the command line, the tray, the windows) are clients
/// of the system service: when its unit is installed (the Debian package) and
/// `REMOTE_SERVICE_SOCKET` does not name another socket. Otherwise (a development build, the
/// demo, the tests) each user runs an engine of their own.
pub fn system_service_installed() -> bool {
    if env::var_os(SOCKET_ENV).is_some_and(|value| !value.is_empty()) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        SYSTEM_UNITS.iter().any(|unit| Path::new(unit).is_file())
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The socket this machine's front-ends talk to: the system service's where it is installed
/// ([`system_service_installed`]), otherwise the user's engine's.
pub fn client_socket() -> PathBuf {
    socket_path(system_service_installed())
}

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
    let owned = |uid: u32| trusted_peer(uid, socket);
    let whom = if socket == Path::new(SYSTEM_SOCKET) {
        format!("you (user id {me}), root or the system service's user {SYSTEM_USER}")
    } else {
        format!("you (user id {me}) or root")
    };
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
                "its folder {} belongs to user id {}, not to {whom}",
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
            "it belongs to user id {}, not to {whom}",
            metadata.uid()
        )),
        _ => None,
    }
}

/// The system service's own user, which the Debian package makes (its unit's `User=`).
#[cfg(unix)]
pub const SYSTEM_USER: &str = "remote-service";

/// Whether a peer of user id `uid` may be the engine on `socket`: this user's or root's,
/// and on the system socket also the system service's user ([`SYSTEM_USER`]), whose folder
/// only systemd makes in the root's `/run`.
#[cfg(unix)]
pub(crate) fn trusted_peer(uid: u32, socket: &Path) -> bool {
    uid == effective_user_id()
        || uid == 0
        || (socket == Path::new(SYSTEM_SOCKET) && system_user_id() == Some(uid))
}

/// [`SYSTEM_USER`]'s user id, looked up in the user database once it exists (every request
/// to the system service asks; a tray started before the package made the user finds it
/// later).
#[cfg(unix)]
fn system_user_id() -> Option<u32> {
    static FOUND: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    if let Some(uid) = FOUND.get() {
        return Some(*uid);
    }
    let uid = user_id(SYSTEM_USER)?;
    Some(*FOUND.get_or_init(|| uid))
}

/// The user id of the user called `name`, if there is one.
#[cfg(unix)]
fn user_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwnam_r to fill.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, the buffer's length is its own.
    let code = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (code == 0 && !found.is_null()).then_some(entry.pw_uid)
}

#[cfg(not(unix))]
fn user_tag() -> String {
    env::var("USERNAME").unwrap_or_default()
}
