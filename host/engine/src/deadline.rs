//! Work that may wait without end (a keyring's unlock prompt, a network folder that hangs)
//! done on a thread of its own, with the caller waiting at most a limit.

use std::time::Duration;

/// Runs `work` on a new thread called `name` and waits at most `limit` for it: `None` when
/// it did not finish in time (or the thread could not start). Work that did not finish goes
/// on alone, and whatever it does later must be safe: the caller has moved on.
pub fn within<T: Send + 'static>(
    name: &str,
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, outcome) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = done.send(work());
        })
        .ok()?;
    outcome.recv_timeout(limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_that_finishes_is_returned_and_work_that_hangs_is_left() {
        assert_eq!(within("quick", Duration::from_secs(10), || 7), Some(7));
        let (_release, hang) = crossbeam_channel::bounded::<()>(0);
        let started = std::time::Instant::now();
        assert_eq!(
            within("hanging", Duration::from_millis(50), move || hang
                .recv()
                .is_ok()),
            None
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
