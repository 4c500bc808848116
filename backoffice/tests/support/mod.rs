//! What the back office's test files share: the binary and its answers (`cli`), requests
//! and event streams through curl (`http`), and a PostgreSQL server of a test's own
//! (`postgres_server`). Each test file compiles its own copy and uses part of it, hence
//! the `#[allow(dead_code)]` on its `mod support;`.

pub mod cli;
pub mod http;
pub mod postgres_server;

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// The one way these tests wait: `check` is asked every 20 ms until it gives a value, at
/// most `limit`; past it the test fails with `what()` (which may name what was seen).
pub fn wait_for<T>(
    limit: Duration,
    what: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "within {limit:?}: {}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How `child` exited, if it did within `limit`.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
