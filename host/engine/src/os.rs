//! Small operating system facts the engine needs in more than one place.

/// The effective user id of this process.
#[cfg(unix)]
pub fn effective_user_id() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}
