//! Back office capacity across three nodes on PostgreSQL, on this machine: a real
//! PostgreSQL (`tests/support/postgres_server.rs`, as the tests start it), three release
//! `serve` nodes on it, and N simulated installations (`support/load.rs`, the same as the
//! one-node bench) in several generator processes, since the open-files limit is per
//! process. Each installation opens a session on its node (installation i on node i mod 3,
//! straight to the node: a balancer in front would itself need two sockets per held
//! stream, more than one process may open here), holds its event stream, and sends a
//! heartbeat every 30 s, the heartbeats spread evenly over the interval.
//!
//!     cargo bench -p remote-service-backoffice --bench capacity_nodes [-- N… [--keep-alive]]
//!
//! N defaults to 30000. The heartbeats go on a new connection each (`connection: close`),
//! so a node holds one socket per installation, its stream. `--keep-alive` sends them on
//! a kept-alive connection of each installation's own instead, as the one-node bench first
//! did (two sockets per installation on the node, so the open-files hard limit, 20000
//! here, caps a node at about 9,990); the nodes close a connection idle for
//! `--header-timeout` (10 s), so with 30 s heartbeats most of them fail, and are counted.
//!
//! After the ramp-up it measures for one full interval: every heartbeat's latency, the
//! failures and broken streams, each node's memory (RSS and PSS from
//! `/proc/PID/smaps_rollup`) per installation it holds, the CPU time of the nodes,
//! PostgreSQL (the postmaster and its backends), the generators and the whole machine, and
//! PostgreSQL's commits and rows written per second (`pg_stat_database`, `pg_stat_wal`).
//! Then it kills one node with SIGKILL and measures the time until every installation it
//! held has its stream open again on the other two (the installations reconnect at once,
//! at most 200 at a time in all, as after the ramp) and until the database shows all of
//! them online. Every process it starts ends with it, pass or fail.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// The one-node bench uses all of it; this one all but the single process's CPU time.
#[allow(dead_code)]
#[path = "support/load.rs"]
mod load;
// The tests use all of it; this bench starts and reads the server.
#[allow(dead_code)]
#[path = "../tests/support/postgres_server.rs"]
mod postgres_server;

use load::{HeartbeatConnection, Plan, Shared, BINARY, INTERVAL};
use postgres_server::PostgresServer;

const NODES: usize = 3;
/// Installations per generator process: one socket each for the stream, and the
/// heartbeats' (or two each with `--keep-alive`), under the hard limit of 20000.
const PER_GENERATOR: usize = 8_000;
/// Installations connecting at the same time in all, during the ramp-up and after the
/// kill: the nodes and PostgreSQL share two cores with the generators.
const CONNECTING_AT_ONCE: usize = 200;

/// A process the bench started: killed and reaped when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes the process `command` starts receive SIGKILL when the bench dies (killed itself,
/// before it could end its children).
fn die_with_bench(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and only changes the child's own settings.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

fn micros(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

fn from_micros(value: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(value)
}

// ---------------------------------------------------------------------------------------
// The generator: a process of its own, driven by lines on its standard input.
// ---------------------------------------------------------------------------------------

/// `--generator FROM TO N MODE CONNECTING ADDRESS,…`: installations FROM..TO of N.
/// Prints `ramped OPENED FAILED` once all are connected, then answers
/// `report FROM_US TO_US` with `report FAILURES BROKEN SENT_MS:LATENCY_US…` (the
/// heartbeats sent in that window, when after its start and how long they took) and `status` with `status BROKEN REOPENED LAST_REOPENED_US FAILURES`;
/// ends when its standard input closes.
fn generator(arguments: &[String]) {
    let from: usize = arguments[0].parse().unwrap();
    let to: usize = arguments[1].parse().unwrap();
    let n: usize = arguments[2].parse().unwrap();
    let heartbeats = match arguments[3].as_str() {
        "keep-alive" => HeartbeatConnection::KeepAlive,
        _ => HeartbeatConnection::PerHeartbeat,
    };
    let connecting: usize = arguments[4].parse().unwrap();
    let nodes: Arc<Vec<SocketAddr>> = Arc::new(
        arguments[5]
            .split(',')
            .map(|address| address.parse().unwrap())
            .collect(),
    );
    load::raise_open_files_limit();
    let (command_sender, mut commands) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if command_sender.send(line).is_err() {
                return;
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared::default());
    let connecting = Arc::new(tokio::sync::Semaphore::new(connecting.max(1)));
    runtime.block_on(async {
        let mut ready = load::spawn_installations(
            from..to,
            |index| Plan {
                nodes: nodes.clone(),
                home: index % nodes.len(),
                index,
                n,
                heartbeats,
                reopen: true,
            },
            &connecting,
            &shared,
        );
        let (mut opened, mut failed) = (0, 0);
        while let Some(result) = ready.recv().await {
            match result {
                Ok(()) => opened += 1,
                Err(failure) => {
                    if failed < 3 {
                        eprintln!("  generator: {failure}");
                    }
                    failed += 1;
                }
            }
        }
        println!("ramped {opened} {failed}");
        std::io::stdout().flush().unwrap();
        while let Some(command) = commands.recv().await {
            let words: Vec<&str> = command.split_whitespace().collect();
            let failures = shared.failures.lock().unwrap().len();
            let broken = shared
                .streams_broken
                .load(std::sync::atomic::Ordering::Relaxed);
            match words.first().copied() {
                Some("report") => {
                    let window_start = from_micros(words[1].parse().unwrap());
                    let window_end = from_micros(words[2].parse().unwrap());
                    let latencies: Vec<String> = shared
                        .latencies
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(at, _)| *at >= window_start && *at < window_end)
                        .map(|(at, latency)| {
                            let offset = at.duration_since(window_start).unwrap_or_default();
                            format!("{}:{}", offset.as_millis(), latency.as_micros())
                        })
                        .collect();
                    for (_, failure) in shared.failures.lock().unwrap().iter().take(3) {
                        eprintln!("  generator: {failure}");
                    }
                    println!("report {failures} {broken} {}", latencies.join(" "));
                }
                Some("status") => {
                    let reopened = shared.reopened.lock().unwrap();
                    let last = reopened.iter().max().copied().map_or(0, micros);
                    println!("status {broken} {} {last} {failures}", reopened.len());
                }
                Some("reasons") => {
                    // What failed after the kill (`words[1]`, µs), by message with its
                    // numbers left out, the most frequent first.
                    let since = from_micros(words[1].parse().unwrap());
                    let mut counts: std::collections::HashMap<String, usize> = Default::default();
                    for (at, failure) in shared.failures.lock().unwrap().iter() {
                        if *at >= since {
                            let shape: String = failure
                                .chars()
                                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                                .collect();
                            *counts.entry(shape).or_default() += 1;
                        }
                    }
                    let mut counts: Vec<_> = counts.into_iter().collect();
                    counts.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
                    let shown: Vec<String> = counts
                        .iter()
                        .take(4)
                        .map(|(shape, count)| format!("{count} × {}", shape.replace('\n', " ")))
                        .collect();
                    println!("reasons {}", shown.join(" ;; "));
                }
                _ => println!("unknown command {command:?}"),
            }
            std::io::stdout().flush().unwrap();
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}

/// A generator process, seen from the bench.
struct Generator {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    process: Process,
}

impl Generator {
    fn start(
        from: usize,
        to: usize,
        n: usize,
        mode: &str,
        connecting: usize,
        nodes: &[SocketAddr],
    ) -> Generator {
        let addresses: Vec<String> = nodes.iter().map(SocketAddr::to_string).collect();
        let mut child = die_with_bench(&mut Command::new(std::env::current_exe().unwrap()))
            .arg("--generator")
            .args([
                from.to_string(),
                to.to_string(),
                n.to_string(),
                mode.to_string(),
                connecting.to_string(),
                addresses.join(","),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the generator starts");
        Generator {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            process: Process(child),
        }
    }

    /// The next line it prints, split into words after the first.
    fn line(&mut self, expected: &str) -> Vec<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let mut words = line.split_whitespace().map(str::to_string);
        assert_eq!(
            words.next().as_deref(),
            Some(expected),
            "generator {} said {line:?}",
            self.process.0.id()
        );
        words.collect()
    }

    fn ask(&mut self, command: &str, expected: &str) -> Vec<String> {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.line(expected)
    }
}

// ---------------------------------------------------------------------------------------
// The bench: PostgreSQL, three nodes, the generators.
// ---------------------------------------------------------------------------------------

/// A back office node.
struct Node {
    process: Option<Process>,
    address: SocketAddr,
    name: String,
}

impl Node {
    fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, |process| process.0.id())
    }
}

/// `GET /health` of a node: its name in the database.
fn node_name(address: SocketAddr) -> String {
    let mut connection = std::net::TcpStream::connect(address).unwrap();
    write!(
        connection,
        "GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let health: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|error| panic!("GET /health: {error}: {answer:?}"));
    health["node"].as_str().unwrap().to_string()
}

fn start_node(database_url: &str, log: &Path) -> Node {
    let mut child = die_with_bench(&mut Command::new(BINARY))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("REMOTE_SERVICE_BACKOFFICE_DB", database_url)
        .env("REMOTE_SERVICE_BACKOFFICE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let process = Process(child);
    let line = lines
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("the node said nothing: {}", read(log)));
    std::thread::spawn(move || for _ in lines {});
    let address = load::listening_address(&line);
    Node {
        process: Some(process),
        address,
        name: node_name(address),
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// CPU ticks of `pid` and its children (the children that ended included, as `cutime`).
fn tree_ticks(pid: u32) -> u64 {
    let own = load::stat_fields(pid);
    let field = |fields: &[u64], index: usize| fields.get(index).copied().unwrap_or(0);
    let mut ticks = (11..=14).map(|index| field(&own, index)).sum::<u64>();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        let fields = load::stat_fields(child);
        if field(&fields, 1) == pid as u64 {
            ticks += field(&fields, 11) + field(&fields, 12);
        }
    }
    ticks
}

/// (busy, all) ticks of the whole machine, from `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let text = read(Path::new("/proc/stat"));
    let values: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|value| value.parse().unwrap_or(0))
        .collect();
    let all: u64 = values.iter().sum();
    // idle and iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (all - idle, all)
}

/// PostgreSQL's counters for the database: commits, rows inserted, updated and deleted,
/// WAL records and bytes.
#[derive(Debug, Clone, Copy, Default)]
struct DatabaseCounters {
    commits: i64,
    rows_written: i64,
    wal_records: i64,
    wal_bytes: i64,
}

fn database_counters(client: &mut postgres::Client) -> DatabaseCounters {
    let row = client
        .query_one(
            "SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
                    w.wal_records, w.wal_bytes::bigint
             FROM pg_stat_database AS d, pg_stat_wal AS w WHERE d.datname = 'office'",
            &[],
        )
        .unwrap();
    DatabaseCounters {
        commits: row.get(0),
        rows_written: row.get(1),
        wal_records: row.get(2),
        wal_bytes: row.get(3),
    }
}

/// The held streams per node name, as the database records them.
fn streams_per_node(client: &mut postgres::Client) -> Vec<(String, i64)> {
    client
        .query(
            "SELECT stream_node, count(*) FROM sessions WHERE stream_node IS NOT NULL
             GROUP BY stream_node ORDER BY stream_node",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn run(n: usize, mode: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let postgres = PostgresServer::start();
    let database_url = postgres.create_database("office");
    load::register(n, |command| {
        command.env("REMOTE_SERVICE_BACKOFFICE_DB", &database_url);
    });

    let mut nodes: Vec<Node> = (0..NODES)
        .map(|index| start_node(&database_url, &dir.path().join(format!("node-{index}.log"))))
        .collect();
    let addresses: Vec<SocketAddr> = nodes.iter().map(|node| node.address).collect();
    let idle_memory: Vec<(u64, u64)> = nodes
        .iter()
        .map(|node| load::memory_kib(node.pid()))
        .collect();
    let n_generators = n.div_ceil(PER_GENERATOR);
    let connecting = CONNECTING_AT_ONCE.div_ceil(n_generators);
    println!(
        "{n} installations on {NODES} nodes on PostgreSQL, a heartbeat every {} s ({}), \
         from {n_generators} generator processes, straight to the nodes",
        INTERVAL.as_secs(),
        if mode == "keep-alive" {
            "on a kept-alive connection each"
        } else {
            "on a new connection each"
        }
    );
    let ramp_started = Instant::now();
    let mut generators: Vec<Generator> = (0..n_generators)
        .map(|index| {
            Generator::start(
                index * n / n_generators,
                (index + 1) * n / n_generators,
                n,
                mode,
                connecting,
                &addresses,
            )
        })
        .collect();
    let (mut opened, mut failed_at_ramp) = (0, 0);
    for generator in &mut generators {
        let words = generator.line("ramped");
        opened += words[0].parse::<usize>().unwrap();
        failed_at_ramp += words[1].parse::<usize>().unwrap();
    }
    let ramp = ramp_started.elapsed();
    println!(
        "ramp-up: {:.1} s, {opened} streams open, {failed_at_ramp} installations failed to connect",
        ramp.as_secs_f64()
    );

    // One full interval of heartbeats after the ramp-up.
    let mut client = postgres.client("office").unwrap();
    let window_start = SystemTime::now();
    let measure_started = Instant::now();
    let postgres_pid = postgres.pid().unwrap_or(0);
    let generator_pids: Vec<u32> = generators.iter().map(|g| g.process.0.id()).collect();
    let node_ticks_before: Vec<u64> = nodes.iter().map(|node| tree_ticks(node.pid())).collect();
    let postgres_ticks_before = tree_ticks(postgres_pid);
    let generator_ticks_before: u64 = generator_pids.iter().map(|pid| tree_ticks(*pid)).sum();
    let machine_before = machine_ticks();
    let counters_before = database_counters(&mut client);
    std::thread::sleep(INTERVAL + Duration::from_secs(1));
    let counters_after = database_counters(&mut client);
    let machine_after = machine_ticks();
    let seconds = measure_started.elapsed().as_secs_f64();
    let window_end = SystemTime::now();
    let per_second = load::ticks_per_second() * seconds / 100.0;
    let cpu_percent = |before: u64, after: u64| after.saturating_sub(before) as f64 / per_second;
    let node_cpu: Vec<f64> = nodes
        .iter()
        .zip(&node_ticks_before)
        .map(|(node, before)| cpu_percent(*before, tree_ticks(node.pid())))
        .collect();
    let postgres_cpu = cpu_percent(postgres_ticks_before, tree_ticks(postgres_pid));
    let generator_cpu = cpu_percent(
        generator_ticks_before,
        generator_pids.iter().map(|pid| tree_ticks(*pid)).sum(),
    );
    let memory: Vec<(u64, u64)> = nodes
        .iter()
        .map(|node| load::memory_kib(node.pid()))
        .collect();
    let held = streams_per_node(&mut client);

    // (sent, milliseconds after the window's start; latency)
    let mut heartbeats: Vec<(u64, Duration)> = Vec::new();
    let (mut failures, mut broken) = (0, 0);
    for generator in &mut generators {
        let words = generator.ask(
            &format!("report {} {}", micros(window_start), micros(window_end)),
            "report",
        );
        failures += words[0].parse::<usize>().unwrap();
        broken += words[1].parse::<usize>().unwrap();
        heartbeats.extend(words[2..].iter().map(|value| {
            let (sent, latency) = value.split_once(':').unwrap();
            (
                sent.parse().unwrap(),
                Duration::from_micros(latency.parse().unwrap()),
            )
        }));
    }
    let mut latencies: Vec<Duration> = heartbeats.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    // When the slow heartbeats were sent: spread out (the machine) or bunched (something
    // the nodes do at times, such as writing their batch).
    let slow = Duration::from_millis(50);
    let mut slow_per_second = std::collections::BTreeMap::<u64, usize>::new();
    for (sent, latency) in &heartbeats {
        if *latency > slow {
            *slow_per_second.entry(sent / 1000).or_default() += 1;
        }
    }
    let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "heartbeats measured over {seconds:.1} s: {}, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         failures {}, streams broken {broken}",
        latencies.len(),
        millis(load::percentile(&latencies, 0.5)),
        millis(load::percentile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default()),
        failures + failed_at_ramp,
    );
    let mut bunched: Vec<(u64, usize)> = slow_per_second.into_iter().collect();
    let n_slow: usize = bunched.iter().map(|(_, count)| count).sum();
    bunched.sort_by_key(|(second, count)| (std::cmp::Reverse(*count), *second));
    let worst: Vec<String> = bunched
        .iter()
        .take(8)
        .map(|(second, count)| format!("{count} in second {second}"))
        .collect();
    println!(
        "heartbeats over {} ms: {n_slow}, sent in {} distinct seconds of the window; most: {}",
        slow.as_millis(),
        bunched.len(),
        worst.join(", ")
    );
    let mut total_held = 0;
    for (index, node) in nodes.iter().enumerate() {
        let count = held
            .iter()
            .find(|(name, _)| *name == node.name)
            .map_or(0, |(_, count)| *count);
        total_held += count;
        let (rss, pss) = memory[index];
        let (_, idle_pss) = idle_memory[index];
        let per = |kib: u64| kib as f64 / count.max(1) as f64;
        println!(
            "node {}: {count} installations held, RSS {:.1} MiB, PSS {:.1} MiB \
             ({:.1} MiB idle): {:.1} KiB PSS per installation ({:.1} KiB above idle, \
             RSS {:.1} KiB), CPU {:.1} % of a core",
            index + 1,
            rss as f64 / 1024.0,
            pss as f64 / 1024.0,
            idle_pss as f64 / 1024.0,
            per(pss),
            per(pss.saturating_sub(idle_pss)),
            per(rss),
            node_cpu[index],
        );
    }
    let rate = |before: i64, after: i64| (after - before) as f64 / seconds;
    println!(
        "PostgreSQL: {:.0} commits/s (read-only statements included), {:.0} rows written/s \
         (inserted + updated + deleted), {:.0} WAL records/s, {:.1} KiB WAL/s; CPU {:.1} % of a core",
        rate(counters_before.commits, counters_after.commits),
        rate(counters_before.rows_written, counters_after.rows_written),
        rate(counters_before.wal_records, counters_after.wal_records),
        rate(counters_before.wal_bytes, counters_after.wal_bytes) / 1024.0,
        postgres_cpu,
    );
    println!(
        "generators: CPU {generator_cpu:.1} % of a core in all; the machine: {:.1} % busy \
         ({} cores)",
        (machine_after.0 - machine_before.0) as f64 * 100.0
            / (machine_after.1 - machine_before.1).max(1) as f64,
        std::thread::available_parallelism().map_or(1, |cores| cores.get()),
    );
    let held_ok = total_held as usize == n;
    if !held_ok {
        println!("the database shows {total_held} streams held, not {n}: {held:?}");
    }

    // A node lost: SIGKILL, and every installation it held online again on the others.
    let killed = &mut nodes[0];
    let expected = held
        .iter()
        .find(|(name, _)| *name == killed.name)
        .map_or(0, |(_, count)| *count as usize);
    let killed_name = killed.name.clone();
    let failures_before_kill = failures;
    let broken_before_kill = broken;
    let kill_at = SystemTime::now();
    let kill_started = Instant::now();
    killed.process.take();
    let mut database_back: Option<Duration> = None;
    let mut streams_back: Option<Duration> = None;
    let (mut reopened, mut broken_after, mut failures_after) = (0, 0, 0);
    while kill_started.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(100));
        if database_back.is_none() {
            let online: i64 = streams_per_node(&mut client)
                .iter()
                .filter(|(name, _)| *name != killed_name)
                .map(|(_, count)| count)
                .sum();
            if online as usize == n {
                database_back = Some(kill_started.elapsed());
            }
        }
        if streams_back.is_none() {
            let (mut last, mut all_back) = (0, true);
            (reopened, broken_after, failures_after) = (0, 0, 0);
            for generator in &mut generators {
                let words = generator.ask("status", "status");
                let broken: usize = words[0].parse().unwrap();
                let back: usize = words[1].parse().unwrap();
                all_back &= broken == back;
                broken_after += broken;
                reopened += back;
                last = last.max(words[2].parse::<u64>().unwrap());
                failures_after += words[3].parse::<usize>().unwrap();
            }
            if all_back && broken_after >= broken_before_kill + expected {
                streams_back = Some(
                    from_micros(last)
                        .duration_since(kill_at)
                        .unwrap_or_default(),
                );
            }
        }
        if database_back.is_some() && streams_back.is_some() {
            break;
        }
    }
    let seconds_or_not = |figure: Option<Duration>| {
        figure.map_or("not within 180 s".to_string(), |duration| {
            format!("{:.2} s", duration.as_secs_f64())
        })
    };
    println!(
        "node 1 killed (SIGKILL) holding {expected} installations: the last of their streams \
         open again on the other nodes {} after the kill ({} streams broke, {reopened} opened \
         again); the database shows all {n} online {} after the kill; {} failed requests \
         meanwhile (heartbeats to the killed node, streams refused before its lease ran out)",
        seconds_or_not(streams_back),
        broken_after - broken_before_kill,
        seconds_or_not(database_back),
        failures_after.saturating_sub(failures_before_kill),
    );
    for generator in &mut generators {
        let reasons = generator.ask(&format!("reasons {}", micros(kill_at)), "reasons");
        if !reasons.is_empty() {
            println!(
                "  failed after the kill, in one generator: {}",
                reasons.join(" ")
            );
        }
    }
    let passed = failures + failed_at_ramp == 0
        && broken == 0
        && held_ok
        && streams_back.is_some()
        && database_back.is_some();
    if !passed {
        for (index, _) in nodes.iter().enumerate() {
            let log = read(&dir.path().join(format!("node-{index}.log")));
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            eprintln!("--- node {} log (last lines, newest first)", index + 1);
            for line in tail {
                eprintln!("  {line}");
            }
        }
    }
    // The generators, then the nodes, then PostgreSQL (dropped last, as declared first).
    drop(generators);
    drop(nodes);
    passed
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.first().map(String::as_str) == Some("--generator") {
        generator(&arguments[1..]);
        return;
    }
    let mode = if arguments.iter().any(|argument| argument == "--keep-alive") {
        "keep-alive"
    } else {
        "per-heartbeat"
    };
    let sizes: Vec<usize> = arguments
        .iter()
        .filter_map(|argument| argument.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![30_000]
    } else {
        sizes
    };
    let open_files = load::raise_open_files_limit();
    println!(
        "Back office capacity across {NODES} nodes on PostgreSQL (open-files limit {open_files} \
         per process, {} cores)",
        std::thread::available_parallelism().map_or(1, |cores| cores.get()),
    );
    let mut all_passed = true;
    for n in sizes {
        let sockets_per_installation = if mode == "keep-alive" { 2 } else { 1 };
        if (sockets_per_installation * n.div_ceil(NODES) + 100) as u64 > open_files {
            println!(
                "{n}: left out: a node would need {} open files, the limit is {open_files}",
                sockets_per_installation * n.div_ceil(NODES) + 100
            );
            continue;
        }
        all_passed &= run(n, mode);
        std::io::stdout().flush().unwrap();
    }
    if !all_passed {
        std::process::exit(1);
    }
}
