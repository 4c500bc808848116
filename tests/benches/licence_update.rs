//! The licence updater's figures against the real back office (release build):
//!
//! - from "admin issues a licence" (`remote-service-backoffice licence issue` returns) until
//!   the engine has it in force (its status event shows the new sequence): median of 20
//!   (target under 1 s);
//! - SIGKILL of the engine at moments spread over its fetch-and-install, 200 runs: how many
//!   left the old licence, the new one, or anything else (must be 0).
//!
//! Run: `cargo build --release --workspace && cargo bench -p remote-service-tests --bench licence_update`

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::{Installation, SERIAL};
use remote_service_tests::EventStream;

fn main() {
    let installation = Installation::new();
    let (scratch, backoffice) = (&installation.scratch, &installation.backoffice);
    let command = |args: &[&str]| installation.command(args);

    let mut times = Vec::new();
    {
        let _daemon = installation.daemon();
        let events = EventStream::follow(&scratch.socket());
        let sequence_now =
            |event: &serde_json::Value| event["status"]["licence"]["sequence"].as_u64();
        let mut current = loop {
            let event = events.next(Duration::from_secs(10), "the first status");
            if let Some(sequence) = sequence_now(&event) {
                break sequence;
            }
        };
        for round in 0..20 {
            let issued = {
                backoffice.issue_licence(
                    SERIAL,
                    &format!("auto-licence-update,users={}", 20 + round),
                    "2028-12-31",
                );
                Instant::now()
            };
            current += 1;
            loop {
                let (at, event) =
                    events.next_timed(Duration::from_secs(10), "the new licence in force");
                if event["event"] == "status" && sequence_now(&event) == Some(current) {
                    times.push(at.duration_since(issued));
                    break;
                }
            }
        }
    }
    times.sort();
    println!("remote-service licence update benchmark (release build, loopback)");
    println!(
        "admin issues licence -> in force in the host: median {:.0} ms, max {:.0} ms ({} rounds)",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        times.len()
    );

    let file = scratch.licence_folder().join(format!("{SERIAL}.lic"));
    let runs = 200;
    let (mut old, mut new, mut corrupt) = (0, 0, 0);
    for run in 0..runs {
        let before = fs::read(&file).unwrap();
        backoffice.issue_licence(
            SERIAL,
            &format!("auto-licence-update,users={}", 100 + run),
            "2028-12-31",
        );
        let mut daemon = command(&["daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + (run as u64 * 13) % 150));
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        let after = fs::read(&file).unwrap();
        let verified = command(&["licence", "verify", file.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        let verified: serde_json::Value =
            serde_json::from_slice(&verified.stdout).unwrap_or_default();
        let strangers = fs::read_dir(scratch.licence_folder())
            .unwrap()
            .flatten()
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && name != format!("{SERIAL}.lic")
            })
            .count();
        if verified["valid"] != true || strangers > 0 {
            corrupt += 1;
        } else if after == before {
            old += 1;
        } else {
            new += 1;
        }
    }
    println!("SIGKILL during fetch-and-install: {runs} runs, {old} left the old licence, {new} the new one, {corrupt} anything else");
}
