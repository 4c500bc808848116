//! The Debian packages' figures, in the throwaway Debian system of the package tests
//! (`tests/src/debian.rs`), with the system service started as its unit says:
//!
//! - a plugin package installed (`dpkg -i` returns) → the running engine lists the plugin
//!   (the issue: its feature in the menu within a second);
//! - the package removed (`dpkg -r` returns) → the plugin is gone.
//!
//! Run: `installer/build && cargo bench -p remote-service-tests --bench packages` (root:
//! it mounts and chroots). The packages are the release build's in `target/debian`.

use remote_service_tests::measure::summary;
use std::time::{Duration, Instant};

use remote_service_tests::debian::{package, DebianRoot};

const ROUNDS: usize = 10;
const LIMIT: Duration = Duration::from_secs(30);

/// Whether the running engine lists `id`.
fn listed(root: &DebianRoot, id: &str) -> bool {
    let run = root.run(&["remote-service", "plugins", "--json"]);
    run.code == Some(0)
        && run
            .json()
            .as_array()
            .is_some_and(|plugins| plugins.iter().any(|plugin| plugin["id"] == id))
}

fn until(root: &DebianRoot, id: &str, present: bool) -> Duration {
    let start = Instant::now();
    while listed(root, id) != present {
        assert!(
            start.elapsed() < LIMIT,
            "{id} present={present} not within {LIMIT:?}"
        );
    }
    start.elapsed()
}

fn main() {
    let root = DebianRoot::new();
    root.dpkg_install(&package("remote-service")).success();
    let _service = root.start_service("remote-service.service");
    root.wait_until_success(LIMIT, &["remote-service", "status"])
        .success();
    let plugin = package("remote-service-plugin-proxy-detector");
    let (mut installed, mut removed) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        root.dpkg_install(&plugin).success();
        installed.push(until(&root, "proxy-detector", true));
        root.run(&["dpkg", "-r", "remote-service-plugin-proxy-detector"])
            .success();
        removed.push(until(&root, "proxy-detector", false));
    }
    println!("(each poll is one `remote-service plugins --json` in the chroot, a few ms)");
    summary(
        "plugin package installed → listed by the running engine",
        installed,
    );
    summary(
        "plugin package removed → gone from the running engine",
        removed,
    );
}
