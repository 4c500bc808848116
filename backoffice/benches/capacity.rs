//! Back office capacity on this machine: N simulated installations, each holding its event
//! stream and sending a heartbeat every 30 s (spread evenly over the interval, on a
//! keep-alive connection of its own), against the real server binary (release) on
//! loopback with a temporary database. Reports the heartbeat latency (p50, p99, max) over
//! one full interval after the ramp-up, the streams that broke, and the server's memory
//! (RSS and PSS from /proc/PID/smaps_rollup) and CPU then.
//!
//!     cargo bench -p remote-service-backoffice --bench capacity [-- N…]
//!
//! N defaults to 1000 5000 9900. Each installation takes two sockets in this process and
//! two in the server, so the open-files limit bounds N (a hard limit of 20000 here, which
//! is why 9900 rather than 10000): the benchmark raises its own limit as far as it may
//! (the server inherits it and raises its soft limit to the hard one) and leaves out an N
//! that does not fit, saying so. The simulated installations run in this process on the
//! same cores as the server, so the figures are what the server sustains while sharing
//! the machine with that load.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const BINARY: &str = env!("CARGO_BIN_EXE_remote-service-backoffice");
const INTERVAL: Duration = Duration::from_secs(30);
const CODE: &str = "capacity-code";
/// Installations connecting at the same time during the ramp-up.
const CONNECTING_AT_ONCE: usize = 200;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
type Failure = String;

async fn connect(address: SocketAddr) -> Result<Sender, Failure> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn exchange(
    sender: &mut Sender,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: String,
) -> Result<(u16, Bytes), Failure> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .map_err(|error| format!("{method} {path}: {error}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("{method} {path}: {error}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// (RSS, PSS) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

/// The process's CPU time (user + system) in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ") ".
    let fields: Vec<&str> = text
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name and state.
    field(11) + field(12)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

/// Raises this process's open-files limit as far as it goes (the hard limit too, where
/// allowed); returns the soft limit now.
fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let wanted = limit.rlim_max.max(65_536);
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur
    }
}

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

/// What the simulated installations share.
#[derive(Default)]
struct Shared {
    /// When each heartbeat was sent and how long its answer took.
    latencies: Mutex<Vec<(Instant, Duration)>>,
    failures: Mutex<Vec<Failure>>,
    streams_broken: AtomicUsize,
}

/// One installation: a session, its event stream held open, a heartbeat every interval.
async fn installation(
    address: SocketAddr,
    index: usize,
    n: usize,
    connecting: Arc<tokio::sync::Semaphore>,
    ready: tokio::sync::mpsc::Sender<Result<(), Failure>>,
    shared: Arc<Shared>,
) {
    let serial = format!("CAP-{index:05}");
    let permit = connecting.acquire().await.unwrap();
    let opened = async {
        let mut control = connect(address).await?;
        let body = format!(
            r#"{{"organisation_id":"ORG-CAP","verification_code":"{CODE}","serial_number":"{serial}","client":"capacity","hostname":"host-{index}"}}"#
        );
        let (status, answer) = exchange(&mut control, "POST", "/v1/sessions", None, body).await?;
        if status != 201 {
            return Err(format!(
                "session: {status} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|error| format!("session: {error}"))?;
        let token = answer["session"].as_str().unwrap_or_default().to_string();
        let mut stream_sender = connect(address).await?;
        let request = Request::builder()
            .uri("/v1/events")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = stream_sender
            .send_request(request)
            .await
            .map_err(|error| format!("events: {error}"))?;
        if response.status() != 200 {
            return Err(format!("events: {}", response.status()));
        }
        let mut events = response.into_body();
        match events.frame().await {
            Some(Ok(_)) => {}
            _ => return Err("events: no hello".to_string()),
        }
        Ok((control, token, events, stream_sender))
    }
    .await;
    drop(permit);
    let (mut control, token, mut events, stream_sender) = match opened {
        Ok(opened) => opened,
        Err(failure) => {
            let _ = ready.send(Err(failure)).await;
            return;
        }
    };
    // Keep reading the stream (keep-alive comments); count it if the server ends it.
    let reader_shared = shared.clone();
    tokio::spawn(async move {
        let _keep = stream_sender;
        while let Some(Ok(_)) = events.frame().await {}
        reader_shared.streams_broken.fetch_add(1, Ordering::Relaxed);
    });
    let _ = ready.send(Ok(())).await;
    drop(ready);
    // Heartbeats spread evenly over the interval.
    tokio::time::sleep(INTERVAL.mul_f64(index as f64 / n as f64)).await;
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        match exchange(
            &mut control,
            "POST",
            "/v1/heartbeat",
            Some(&token),
            r#"{"licence_sequence":null}"#.to_string(),
        )
        .await
        {
            Ok((200, _)) => shared
                .latencies
                .lock()
                .unwrap()
                .push((started, started.elapsed())),
            Ok((status, body)) => shared.failures.lock().unwrap().push(format!(
                "heartbeat: {status} {}",
                String::from_utf8_lossy(&body)
            )),
            Err(failure) => {
                shared.failures.lock().unwrap().push(failure);
                return;
            }
        }
    }
}

fn run(n: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("capacity.sqlite");
    let admin = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(BINARY)
            .args(args)
            .arg("--db")
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            writeln!(child.stdin.take().unwrap(), "{text}").unwrap();
        }
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "{args:?}");
    };
    admin(&["org", "add", "ORG-CAP", "--name", "Capacity"], Some(CODE));
    let serials: Vec<String> = (0..n).map(|index| format!("CAP-{index:05}")).collect();
    let mut arguments = vec!["serial", "add"];
    arguments.extend(serials.iter().map(String::as_str));
    arguments.extend(["--org", "ORG-CAP"]);
    admin(&arguments, None);
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
    let address: SocketAddr = line
        .rsplit("//")
        .next()
        .unwrap()
        .parse()
        .expect("the listening address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared::default());
    let connecting = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let ramp_started = Instant::now();
    let (ramped, cpu_before) = runtime.block_on(async {
        let (ready_sender, mut ready) = tokio::sync::mpsc::channel(n);
        for index in 0..n {
            tokio::spawn(installation(
                address,
                index,
                n,
                connecting.clone(),
                ready_sender.clone(),
                shared.clone(),
            ));
        }
        drop(ready_sender);
        while let Some(opened) = ready.recv().await {
            if let Err(failure) = opened {
                shared.failures.lock().unwrap().push(failure);
            }
        }
        let ramped = Instant::now();
        let cpu_before = cpu_ticks(server.id());
        // One full interval after everyone is connected.
        tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
        (ramped, cpu_before)
    });
    let measured_for = ramped.elapsed();
    let cpu_used = cpu_ticks(server.id()).saturating_sub(cpu_before);
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (rss_kib, pss_kib) = memory_kib(server.id());
    let mut measured: Vec<Duration> = shared
        .latencies
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= ramped)
        .map(|(_, latency)| *latency)
        .collect();
    measured.sort();
    let failures = shared.failures.lock().unwrap().clone();
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
        // Two sockets per installation here, plus some room.
        if (2 * n + 100) as u64 > open_files {
            println!(
                "| {n} | left out: needs {} open files, the limit is {open_files} |",
                2 * n + 100
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
