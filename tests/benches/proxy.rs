//! Proxy figures (release build):
//!
//! - resolution through the engine: `Client::resolve_proxy` (the local API, the engine's
//!   thread, and for `auto` the proxy detector plugin's worker) with `proxy.mode manual`
//!   and with `auto` (the environment);
//! - proxy back → green: from squid accepting connections again until the engine's status
//!   event says green (the back office's own figure is the connection bench's).
//!
//! The detector alone (no engine, no PAC) is measured by
//! `cargo bench -p remote-service-plugin-proxy-detector`.
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench proxy`

use std::time::{Duration, Instant};

use remote_service_api::Client;
use remote_service_tests::backoffice::Installation;
use remote_service_tests::proxy::{Squid, SquidAuth};
use remote_service_tests::EventStream;

const RESOLUTIONS: usize = 500;
const ROUNDS: usize = 10;

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize].as_secs_f64() * 1e6;
    println!(
        "{name}: median {:.0} µs, p99 {:.0} µs ({} runs)",
        at(0.5),
        at(0.99),
        times.len()
    );
}

fn resolutions(client: &Client, url: &str) -> Vec<Duration> {
    (0..RESOLUTIONS)
        .map(|_| {
            let started = Instant::now();
            client.resolve_proxy(url).expect("resolve");
            started.elapsed()
        })
        .collect()
}

fn next_light(events: &EventStream, state: &str) -> Instant {
    events
        .next_matching(Duration::from_secs(30), state, |event| {
            event["event"] == "status" && event["status"]["connection"]["state"] == state
        })
        .0
}

/// The light's next change to `state`, or the engine's status and log when it does not come.
fn next_light_or_tell(events: &EventStream, state: &str, installation: &Installation) -> Instant {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| next_light(events, state))) {
        Ok(at) => at,
        Err(_) => {
            let log = std::fs::read_to_string(installation.scratch.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "no {state} within 30 s; status {}\nlog (newest first):\n{}",
                installation.status(),
                tail.join("\n")
            );
        }
    }
}

fn main() {
    let installation = Installation::new();
    let mut squid = Squid::start(SquidAuth::None);
    installation
        .run(&["config", "set", "proxy.mode", "manual"])
        .success();
    installation
        .run(&["config", "set", "proxy.url", &squid.address()])
        .success();
    let mut command = installation.command(&["daemon"]);
    command.env("http_proxy", format!("http://{}", squid.address()));
    let _daemon = remote_service_tests::Scratch::spawn_daemon(command);
    let client = Client::new(&installation.scratch.socket()).unwrap();
    let events = EventStream::follow(&installation.scratch.socket());
    next_light(&events, "green");
    println!("remote-service proxy benchmark (release build, loopback)");
    summary(
        "resolve, manual (engine)",
        resolutions(&client, installation.backoffice.url()),
    );

    let mut back = Vec::new();
    for _ in 0..ROUNDS {
        squid.kill();
        next_light(&events, "orange");
        squid.restart();
        let accepting = Instant::now();
        back.push(next_light_or_tell(&events, "green", &installation).duration_since(accepting));
    }
    back.sort();
    println!(
        "proxy back -> green: median {:.0} ms, max {:.0} ms ({ROUNDS} rounds)",
        back[ROUNDS / 2].as_secs_f64() * 1000.0,
        back[ROUNDS - 1].as_secs_f64() * 1000.0
    );

    installation
        .run(&["config", "set", "proxy.mode", "auto"])
        .success();
    // The light may stay green through the reconnection: wait for the state, not an event.
    let green = remote_service_tests::wait_for(Duration::from_secs(30), || {
        installation.status()["connection"]["state"] == "green"
    });
    assert!(green.is_some(), "green again with proxy.mode auto");
    summary(
        "resolve, auto from the environment (engine + plugin)",
        resolutions(&client, installation.backoffice.url()),
    );
}
