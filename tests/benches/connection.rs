//! The light's reaction times against the real back office (release build):
//!
//! - back office down → orange: from killing the back office (SIGKILL) until the engine's
//!   status event says orange (target: under 2 s);
//! - back office up → green: from the back office accepting connections again until the
//!   status event says green (target: under 1 s).
//!
//! Median and maximum of 20 of each. The installation keeps its code in the 0600 file
//! (REMOTE_SERVICE_SECRETS=file): the keyring plays no part in these times.
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench connection`

use remote_service_tests::measure::summary;
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::Installation;
use remote_service_tests::EventStream;

const ROUNDS: usize = 20;

fn next_light(events: &EventStream, state: &str) -> Instant {
    events
        .next_matching(Duration::from_secs(20), state, |event| {
            event["event"] == "status" && event["status"]["connection"]["state"] == state
        })
        .0
}

fn main() {
    let mut installation = Installation::new();
    let _daemon = installation.daemon();
    let events = EventStream::follow(&installation.scratch.socket());
    next_light(&events, "green");

    let (mut down, mut up) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let killed = Instant::now();
        installation.backoffice.kill();
        down.push(next_light(&events, "orange").duration_since(killed));
        // A moment down, as a restart takes.
        std::thread::sleep(Duration::from_millis(300));
        installation.backoffice.start();
        let back = Instant::now();
        up.push(next_light(&events, "green").duration_since(back));
    }
    println!("remote-service connection benchmark (release build, loopback)");
    summary("back office down -> orange", down);
    summary("back office up -> green", up);
}
