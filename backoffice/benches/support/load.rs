//! The simulated installations of the capacity benches (`capacity`: one node;
//! `capacity_nodes`: three nodes on PostgreSQL, with the installations in several
//! generator processes), and the readings of a process's memory and CPU time.
//!
//! An installation opens a session, holds its event stream, and sends a heartbeat every
//! [`INTERVAL`], the heartbeats of all installations spread evenly over the interval.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, Semaphore};

/// The back office, as this build made it.
pub const BINARY: &str = env!("CARGO_BIN_EXE_remote-service-backoffice");
pub const INTERVAL: Duration = Duration::from_secs(30);
pub const CODE: &str = "capacity-code";
pub const ORGANISATION: &str = "ORG-CAP";

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
pub type Failure = String;

/// Where `serve` listens, from the line it prints first
/// ("remote-service-backoffice listening on http://127.0.0.1:PORT").
pub fn listening_address(line: &str) -> SocketAddr {
    line.rsplit("//")
        .next()
        .and_then(|address| address.trim().parse().ok())
        .unwrap_or_else(|| panic!("no listening address in {line:?}"))
}

/// The serial number of installation `index`.
pub fn serial(index: usize) -> String {
    format!("CAP-{index:06}")
}

/// The loopback address installation `index` connects from, its own (127.1.0.0 on; Linux
/// routes all of 127/8 to the loopback device). As real installations come from hosts of
/// their own: from one address, tens of thousands of connections to one node's port left
/// each `connect` searching the ephemeral port range for a free port (the kernel's
/// `__inet_hash_connect` took 90 % of a generator's CPU once a node's streams moved to the
/// others), and the generators, not the nodes, were what failed.
pub fn source_address(index: usize) -> Ipv4Addr {
    let [_, high, middle, low] = (index as u32).to_be_bytes();
    Ipv4Addr::new(127, 1 + high, middle, low)
}

/// A connection to `address` from installation `index`'s own address.
pub async fn connect(address: SocketAddr, index: usize) -> Result<Sender, Failure> {
    let failed = |error: std::io::Error| format!("connect to {address}: {error}");
    let socket = TcpSocket::new_v4().map_err(failed)?;
    socket
        .bind(SocketAddr::new(source_address(index).into(), 0))
        .map_err(failed)?;
    let stream = socket.connect(address).await.map_err(failed)?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

pub async fn exchange(
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
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    send(sender, request, &format!("{method} {path}")).await
}

/// Sends `request` and reads its whole answer: (status, body); a failure names `what`.
async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
    what: &str,
) -> Result<(u16, Bytes), Failure> {
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("{what}: {error}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("{what}: {error}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// Registers the organisation and the serial numbers of installations `0..n` with the
/// back office's own commands; `database` names the database on each command.
pub fn register(n: usize, database: impl Fn(&mut std::process::Command)) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let admin = |args: &[&str], stdin: Option<&str>| {
        let mut command = Command::new(BINARY);
        command.args(args);
        database(&mut command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            writeln!(child.stdin.take().unwrap(), "{text}").unwrap();
        }
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "{:?}", &args[..2]);
    };
    admin(
        &["org", "add", ORGANISATION, "--name", "Capacity"],
        Some(CODE),
    );
    let serials: Vec<String> = (0..n).map(serial).collect();
    let mut arguments = vec!["serial", "add"];
    arguments.extend(serials.iter().map(String::as_str));
    arguments.extend(["--org", ORGANISATION]);
    admin(&arguments, None);
}

/// (RSS, PSS) in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
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

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces): the
/// state is field 0 here, the parent's PID 1, utime 11, stime 12, cutime 13, cstime 14.
pub fn stat_fields(pid: u32) -> Vec<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    text.rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|value| value.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

/// The process's CPU time (user + system) in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let fields = stat_fields(pid);
    let field = |index: usize| fields.get(index).copied().unwrap_or(0);
    field(11) + field(12)
}

/// Clock ticks per second of the times in `/proc`.
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

/// Raises this process's open-files limit as far as it goes (the hard limit too, where
/// allowed); returns the soft limit now.
pub fn raise_open_files_limit() -> u64 {
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

/// How an installation sends its heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatConnection {
    /// On a keep-alive connection of its own, opened with the session: two sockets per
    /// installation on its node.
    KeepAlive,
    /// On a new connection each time (`connection: close`): the node holds one socket per
    /// installation, its event stream.
    PerHeartbeat,
}

/// Where one installation connects, and how.
#[derive(Clone)]
pub struct Plan {
    /// The nodes; the installation starts on `home`.
    pub nodes: Arc<Vec<SocketAddr>>,
    pub home: usize,
    /// Its place among all `n` installations (its serial, its heartbeats' time).
    pub index: usize,
    pub n: usize,
    pub heartbeats: HeartbeatConnection,
    /// Whether a broken event stream is opened again on another node (as through a
    /// round-robin balancer), rather than counted and left.
    pub reopen: bool,
}

/// What the simulated installations share.
#[derive(Default)]
pub struct Shared {
    /// When each heartbeat was sent and how long its answer took.
    pub latencies: Mutex<Vec<(SystemTime, Duration)>>,
    pub failures: Mutex<Vec<(SystemTime, Failure)>>,
    pub streams_broken: AtomicUsize,
    /// When each broken stream was open again (with [`Plan::reopen`]).
    pub reopened: Mutex<Vec<SystemTime>>,
}

impl Shared {
    fn fail(&self, failure: Failure) {
        self.failures
            .lock()
            .unwrap()
            .push((SystemTime::now(), failure));
    }
}

/// An open event stream: its body, and the connection that carries it.
struct EventStream {
    body: Incoming,
    _connection: Sender,
}

/// Opens the event stream of the session `token` on `address` and reads its first event.
async fn open_stream(
    address: SocketAddr,
    index: usize,
    token: &str,
) -> Result<EventStream, Failure> {
    let mut connection = connect(address, index).await?;
    let request = Request::builder()
        .uri("/v1/events")
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = connection
        .send_request(request)
        .await
        .map_err(|error| format!("events: {error}"))?;
    if response.status() != 200 {
        return Err(format!("events: {}", response.status()));
    }
    let mut body = response.into_body();
    match body.frame().await {
        Some(Ok(_)) => Ok(EventStream {
            body,
            _connection: connection,
        }),
        _ => Err("events: no hello".to_string()),
    }
}

/// Reads the stream (keep-alive comments) until the node ends it; counts that, and with
/// [`Plan::reopen`] opens it again on another node, the installations of one node spread
/// over the others by their index.
async fn follow_stream(
    mut stream: EventStream,
    plan: Plan,
    token: Arc<str>,
    current: Arc<AtomicUsize>,
    connecting: Arc<Semaphore>,
    shared: Arc<Shared>,
) {
    loop {
        while let Some(Ok(_)) = stream.body.frame().await {}
        shared.streams_broken.fetch_add(1, Ordering::Relaxed);
        let others = plan.nodes.len() - 1;
        if !plan.reopen || others == 0 {
            return;
        }
        let from = current.load(Ordering::Relaxed);
        let mut attempt = 0;
        stream = loop {
            let node = (from + 1 + (plan.index + attempt) % others) % plan.nodes.len();
            let permit = connecting.acquire().await.unwrap();
            let opened = open_stream(plan.nodes[node], plan.index, &token).await;
            drop(permit);
            match opened {
                Ok(stream) => {
                    current.store(node, Ordering::Relaxed);
                    shared.reopened.lock().unwrap().push(SystemTime::now());
                    break stream;
                }
                Err(failure) => {
                    shared.fail(format!("reopening the stream on node {node}: {failure}"));
                    attempt += 1;
                    if attempt > 100 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
    }
}

async fn heartbeat(sender: &mut Sender, token: &str, close: bool) -> Result<(u16, Bytes), Failure> {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/heartbeat")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"));
    if close {
        request = request.header("connection", "close");
    }
    let body = Full::new(Bytes::from_static(br#"{"licence_sequence":null}"#));
    send(sender, request.body(body).unwrap(), "heartbeat").await
}

/// One installation: a session, its event stream held open, a heartbeat every interval.
/// Sends on `ready` once its stream is open (or why it could not be).
/// Starts installations `from..to` (each on its `plan`) on the current runtime; each says on
/// the returned channel when its session and stream are open, or why not.
pub fn spawn_installations(
    range: std::ops::Range<usize>,
    plan: impl Fn(usize) -> Plan,
    connecting: &Arc<Semaphore>,
    shared: &Arc<Shared>,
) -> mpsc::Receiver<Result<(), Failure>> {
    let (ready_sender, ready) = mpsc::channel(range.len().max(1));
    for index in range {
        tokio::spawn(installation(
            plan(index),
            connecting.clone(),
            ready_sender.clone(),
            shared.clone(),
        ));
    }
    ready
}

pub async fn installation(
    plan: Plan,
    connecting: Arc<Semaphore>,
    ready: mpsc::Sender<Result<(), Failure>>,
    shared: Arc<Shared>,
) {
    let serial = serial(plan.index);
    let index = plan.index;
    let address = plan.nodes[plan.home];
    let permit = connecting.acquire().await.unwrap();
    let opened = async {
        let mut control = connect(address, index).await?;
        let body = format!(
            r#"{{"organisation_id":"{ORGANISATION}","verification_code":"{CODE}","serial_number":"{serial}","client":"capacity","hostname":"host-{index}"}}"#
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
        let stream = open_stream(address, index, &token).await?;
        Ok((control, token, stream))
    }
    .await;
    drop(permit);
    let (control, token, stream) = match opened {
        Ok(opened) => opened,
        Err(failure) => {
            let _ = ready.send(Err(failure)).await;
            return;
        }
    };
    let token: Arc<str> = token.into();
    let current = Arc::new(AtomicUsize::new(plan.home));
    tokio::spawn(follow_stream(
        stream,
        plan.clone(),
        token.clone(),
        current.clone(),
        connecting,
        shared.clone(),
    ));
    let _ = ready.send(Ok(())).await;
    drop(ready);
    let mut control = match plan.heartbeats {
        HeartbeatConnection::KeepAlive => Some(control),
        HeartbeatConnection::PerHeartbeat => None,
    };
    // Heartbeats spread evenly over the interval.
    tokio::time::sleep(INTERVAL.mul_f64(plan.index as f64 / plan.n as f64)).await;
    let mut ticker = tokio::time::interval(INTERVAL);
    loop {
        ticker.tick().await;
        let sent_at = SystemTime::now();
        let started = Instant::now();
        let address = plan.nodes[current.load(Ordering::Relaxed)];
        let answered = match plan.heartbeats {
            HeartbeatConnection::KeepAlive => {
                if control.is_none() {
                    control = connect(address, index).await.ok();
                }
                match control.as_mut() {
                    Some(sender) => heartbeat(sender, &token, false).await,
                    None => Err(format!("heartbeat: cannot connect to {address}")),
                }
            }
            HeartbeatConnection::PerHeartbeat => match connect(address, index).await {
                Ok(mut sender) => heartbeat(&mut sender, &token, true).await,
                Err(failure) => Err(failure),
            },
        };
        match answered {
            Ok((200, _)) => shared
                .latencies
                .lock()
                .unwrap()
                .push((sent_at, started.elapsed())),
            Ok((status, body)) => shared.fail(format!(
                "heartbeat: {status} {}",
                String::from_utf8_lossy(&body)
            )),
            Err(failure) => {
                shared.fail(failure);
                if !plan.reopen {
                    return;
                }
                control = None;
            }
        }
    }
}
