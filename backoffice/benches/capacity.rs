//! Back office capacity on this machine: N simulated installations, each holding its event
//! stream and sending a heartbeat every 30 s (spread evenly over the interval, on a
//! keep-alive connection), against the real server binary (release) on loopback. Reports
//! the heartbeat latency (p50, p99, max) over one full interval after the ramp-up, and the
//! server's memory then.
//!
//!     cargo bench -p remote-service-backoffice --bench capacity [-- N…]
//!
//! (N defaults to 1000 5000 8000; each installation takes two sockets on each side, so the
//! open-files limit, 20000 here, bounds N.)

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

const BINARY: &str = env!("CARGO_BIN_EXE_remote-service-backoffice");
const INTERVAL: Duration = Duration::from_secs(30);
const CODE: &str = "capacity-code";

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(address: SocketAddr) -> Sender {
    let stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn exchange(
    sender: &mut Sender,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: String,
) -> (u16, Bytes) {
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
        .expect("request");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

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

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

fn run(n: usize) -> String {
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
        assert!(child.wait().unwrap().success());
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
    let latencies = Arc::new(Mutex::new(Vec::<(Instant, Duration)>::new()));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ramp_started = Instant::now();
    let ramped = runtime.block_on(async {
        let (ready_sender, mut ready) = tokio::sync::mpsc::channel::<()>(n);
        for index in 0..n {
            let latencies = latencies.clone();
            let failures = failures.clone();
            let ready_sender = ready_sender.clone();
            tokio::spawn(async move {
                let serial = format!("CAP-{index:05}");
                let mut control = connect(address).await;
                let body = format!(
                    r#"{{"organisation_id":"ORG-CAP","verification_code":"{CODE}","serial_number":"{serial}"}}"#
                );
                let (status, answer) = exchange(&mut control, "POST", "/v1/sessions", None, body).await;
                assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
                let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                let token = answer["session"].as_str().unwrap().to_string();
                let mut stream_sender = connect(address).await;
                let request = Request::builder()
                    .uri("/v1/events")
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let response = stream_sender.send_request(request).await.unwrap();
                let mut events = response.into_body();
                // Read the hello, then keep draining the stream in the background.
                let _ = events.frame().await;
                tokio::spawn(async move { while let Some(Ok(_)) = events.frame().await {} });
                let _ = ready_sender.send(()).await;
                // Heartbeats spread evenly over the interval.
                let offset = INTERVAL.mul_f64(index as f64 / n as f64);
                tokio::time::sleep(offset).await;
                let mut ticker = tokio::time::interval(INTERVAL);
                loop {
                    ticker.tick().await;
                    let started = Instant::now();
                    let (status, _) =
                        exchange(&mut control, "POST", "/v1/heartbeat", Some(&token), "{}".into())
                            .await;
                    if status == 200 {
                        latencies.lock().await.push((started, started.elapsed()));
                    } else {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        drop(ready_sender);
        for _ in 0..n {
            ready.recv().await;
        }
        let ramped = Instant::now();
        // One full interval after everyone is connected.
        tokio::time::sleep(INTERVAL + Duration::from_secs(2)).await;
        ramped
    });
    let ramp = ramped.duration_since(ramp_started);
    let (rss, pss) = memory_kib(server.id());
    let mut measured: Vec<Duration> = runtime
        .block_on(latencies.lock())
        .iter()
        .filter(|(at, _)| *at >= ramped)
        .map(|(_, latency)| *latency)
        .collect();
    measured.sort();
    let failed = failures.load(std::sync::atomic::Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_millis(200));
    let _ = server.kill();
    let _ = server.wait();
    format!(
        "| {n} | {:.1} s | {} | {:.2} ms | {:.2} ms | {:.2} ms | {failed} | {:.1} MB | {:.1} MB |",
        ramp.as_secs_f64(),
        measured.len(),
        percentile(&measured, 0.5).as_secs_f64() * 1000.0,
        percentile(&measured, 0.99).as_secs_f64() * 1000.0,
        measured.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 5000, 8000]
    } else {
        sizes
    };
    println!("Back office capacity: installations holding event streams, heartbeat every 30 s");
    println!("| installations | ramp-up | heartbeats measured | p50 | p99 | max | failed | server RSS | server PSS |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        println!("{}", run(n));
    }
}
