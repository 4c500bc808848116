//! Back office capacity on this machine: N simulated installations, each holding its event
//! stream and sending a heartbeat every 30 s (spread evenly over the interval, each on a
//! new connection: the server closes a connection idle for `--header-timeout`, 10 s, so
//! a kept-alive one would be gone by the next heartbeat), against the real server binary (release) on
//! loopback with a temporary database. Reports the heartbeat latency (p50, p99, max) over
//! one full interval after the ramp-up, the streams that broke, and the server's memory
//! (RSS and PSS from /proc/PID/smaps_rollup) and CPU then.
//!
//!     cargo bench -p remote-service-backoffice --bench capacity [-- N…]
//!
//! N defaults to 1000 5000 9900. Each installation holds its stream's socket in this
//! process and in the server, and a heartbeat's for a moment; the open-files limit bounds
//! N (a hard limit of 20000 here; 9900 is the figure of the first measurement, when the
//! heartbeats' connections were kept, two sockets each): the benchmark raises its own limit as far as it may
//! (the server inherits it and raises its soft limit to the hard one) and leaves out an N
//! that does not fit, saying so. The simulated installations run in this process on the
//! same cores as the server, so the figures are what the server sustains while sharing
//! the machine with that load.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

// The nodes bench uses all of it; this one a single node.
#[allow(dead_code)]
#[path = "support/load.rs"]
mod load;

use load::{
    cpu_ticks, memory_kib, percentile, raise_open_files_limit, Failure, HeartbeatConnection, Plan,
    Shared, BINARY, INTERVAL,
};

/// Installations connecting at the same time during the ramp-up.
const CONNECTING_AT_ONCE: usize = 200;

struct Figures {
    n: usize,
    ramp: Duration,
    latencies: Vec<Duration>,
    failures: Vec<Failure>,
    streams_broken: usize,
    rss_kib: u64,
    pss_kib: u64,
    cpu_percent: f64,
}

fn run(n: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("capacity.sqlite");
    load::register(n, |command| {
        command.arg("--db").arg(&db);
    });
    let mut server = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("REMOTE_SERVICE_BACKOFFICE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let address = load::listening_address(&line);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared::default());
    let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let ramp_started = Instant::now();
    let (ramped, ramped_at, cpu_before) = runtime.block_on(async {
        let nodes = Arc::new(vec![address]);
        let mut ready = load::spawn_installations(
            0..n,
            |index| Plan {
                nodes: nodes.clone(),
                home: 0,
                index,
                n,
                heartbeats: HeartbeatConnection::PerHeartbeat,
                reopen: false,
            },
            &connecting,
            &shared,
        );
        while let Some(opened) = ready.recv().await {
            if let Err(failure) = opened {
                shared
                    .failures
                    .lock()
                    .unwrap()
                    .push((SystemTime::now(), failure));
            }
        }
        let ramped = Instant::now();
        let ramped_at = SystemTime::now();
        let cpu_before = cpu_ticks(server.id());
        // One full interval after everyone is connected.
        tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
        (ramped, ramped_at, cpu_before)
    });
    let measured_for = ramped.elapsed();
    let cpu_used = cpu_ticks(server.id()).saturating_sub(cpu_before);
    let ticks_per_second = load::ticks_per_second();
    let (rss_kib, pss_kib) = memory_kib(server.id());
    let mut measured: Vec<Duration> = shared
        .latencies
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= ramped_at)
        .map(|(_, latency)| *latency)
        .collect();
    measured.sort();
    let failures = shared
        .failures
        .lock()
        .unwrap()
        .iter()
        .map(|(_, failure)| failure.clone())
        .collect();
    let broken = shared.streams_broken.load(Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_millis(200));
    let _ = server.kill();
    let _ = server.wait();
    Figures {
        n,
        ramp: ramped.duration_since(ramp_started),
        latencies: measured,
        failures,
        streams_broken: broken,
        rss_kib,
        pss_kib,
        cpu_percent: cpu_used as f64 / ticks_per_second / measured_for.as_secs_f64() * 100.0,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 5000, 9900]
    } else {
        sizes
    };
    let open_files = raise_open_files_limit();
    println!(
        "Back office capacity: installations holding event streams, a heartbeat every {} s \
         (open-files limit {open_files}, {} cores)",
        INTERVAL.as_secs(),
        std::thread::available_parallelism().map_or(1, |cores| cores.get()),
    );
    println!(
        "| installations | ramp-up | heartbeats measured | p50 | p99 | max | failed | streams broken | server RSS | server PSS | server CPU (% of a core) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        // One socket per installation here, plus the heartbeats' and some room.
        if (n + n / 10 + 100) as u64 > open_files {
            println!(
                "| {n} | left out: needs {} open files, the limit is {open_files} |",
                n + n / 10 + 100
            );
            continue;
        }
        let figures = run(n);
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        println!(
            "| {} | {:.1} s | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} % |",
            figures.n,
            figures.ramp.as_secs_f64(),
            figures.latencies.len(),
            millis(percentile(&figures.latencies, 0.5)),
            millis(percentile(&figures.latencies, 0.99)),
            millis(figures.latencies.last().copied().unwrap_or_default()),
            figures.failures.len(),
            figures.streams_broken,
            figures.rss_kib as f64 / 1024.0,
            figures.pss_kib as f64 / 1024.0,
            figures.cpu_percent,
        );
        for failure in figures.failures.iter().take(3) {
            eprintln!("  {failure}");
        }
        std::io::stdout().flush().unwrap();
    }
}
