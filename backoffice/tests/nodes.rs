//! Several back office nodes behind a real load balancer: a real HAProxy (Debian package
//! `haproxy`, in the foreground with a configuration the test writes, health checks on
//! `/health`) in front of three `remote-service-backoffice serve` nodes on one real
//! PostgreSQL (`support::postgres_server`), spoken to with curl as an installation and a
//! help desk would. Every process a test starts ends with the test, pass or fail.

// Each test file uses a part of the shared support.
#[allow(dead_code)]
mod support;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{self, Answer, Process};
use support::http::{self, in_seconds, Stream};
use support::postgres_server::PostgresServer;
use support::wait_for;

const CODE: &str = "org-code-5521";

/// A back office node: its process, URL and name in the database.
struct Node {
    process: Option<Process>,
    url: String,
    name: String,
    log: std::path::PathBuf,
}

/// The installation: the database, three nodes, the balancer in front.
struct Cluster {
    dir: tempfile::TempDir,
    // Dropped in this order: the balancer, the nodes, then PostgreSQL.
    balancer: Option<Process>,
    balancer_url: String,
    nodes: Vec<Node>,
    database_url: String,
    postgres: PostgresServer,
}

/// A free loopback port (bound and let go: HAProxy binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// PostgreSQL with ORG-1 (code [`CODE`]), serial SN-1, help desk `hd` and a key pair;
    /// three nodes on it and HAProxy in front.
    fn start() -> Cluster {
        let postgres = PostgresServer::start();
        let database_url = postgres.create_database("office");
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            balancer: None,
            balancer_url: String::new(),
            nodes: Vec::new(),
            database_url,
            postgres,
        };
        let keys = cluster.path("keys");
        cluster.admin(&["keys", "generate", "--out", &keys], None, false);
        cluster.admin(
            &["org", "add", "ORG-1", "--name", "Shop One"],
            Some(CODE),
            true,
        );
        cluster.admin(&["serial", "add", "SN-1", "--org", "ORG-1"], None, true);
        cluster.admin(
            &["helpdesk", "add", "hd", "--org", "ORG-1"],
            Some("hd-password"),
            true,
        );
        for index in 0..3 {
            let node = cluster.start_node(index);
            cluster.nodes.push(node);
        }
        cluster.start_balancer();
        cluster
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// An administration command that must succeed (with `--db` when `with_db`).
    fn admin(&self, args: &[&str], stdin: Option<&str>, with_db: bool) -> String {
        let mut command = cli::command(args);
        if with_db {
            command.env("REMOTE_SERVICE_BACKOFFICE_DB", &self.database_url);
        }
        let answer = cli::run(command, stdin);
        assert_eq!(answer.code, 0, "{args:?}: {}", answer.stderr);
        answer.stdout
    }

    /// `licence issue SN-1` with `features`, signed with the key pair.
    fn issue(&self, features: &str) {
        let key = self.path("keys/licence.key");
        self.admin(&cli::licence_issue("SN-1", features, &key), None, true);
    }

    fn start_node(&self, index: usize) -> Node {
        let log = self.dir.path().join(format!("node-{index}.log"));
        let mut command = cli::command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-interval",
            "1",
            "--assistance-answer-within",
            "5",
        ]);
        command.env("REMOTE_SERVICE_BACKOFFICE_DB", &self.database_url);
        let (process, url) = cli::serve(command, &log);
        let health = request(&url, "GET", "/health", &[], None);
        assert_eq!(health.code, 200, "{}", health.stdout);
        Node {
            process: Some(process),
            name: health.json()["node"].as_str().unwrap().to_string(),
            url,
            log,
        }
    }

    /// HAProxy in the foreground on a free port: round robin over the nodes, each checked
    /// on `/health` every 200 ms (down after 2 failures, up after 1 success); a request
    /// that cannot connect to its node is sent to another; timeouts of an hour for
    /// the event streams, which the nodes keep alive with comments every half interval.
    fn start_balancer(&mut self) {
        let port = free_port();
        let servers: String = self
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let address = node.url.trim_start_matches("http://");
                format!("    server node{index} {address} check inter 200ms fall 2 rise 1\n")
            })
            .collect();
        let config = format!(
            "global
    log stderr format short local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 10s
    option redispatch
    retries 3
frontend office
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
{servers}"
        );
        let config_path = self.path("haproxy.cfg");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(self.path("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f", &config_path])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("haproxy (Debian package haproxy)");
        self.balancer = Some(Process(child));
        self.balancer_url = format!("http://127.0.0.1:{port}");
        let url = self.balancer_url.clone();
        wait_for(
            Duration::from_secs(10),
            || "HAProxy answering".to_string(),
            || (request(&url, "GET", "/health", &[], None).code == 200).then_some(()),
        );
    }

    /// The first column (text) of the rows of `sql`, on a connection of the test's own.
    fn stored(&self, sql: &str) -> Vec<String> {
        self.postgres.stored("office", sql)
    }

    /// The index of the node that holds the stream of SN-1, as the database records it.
    fn stream_holder(&self) -> Option<usize> {
        let holder = self
            .stored("SELECT COALESCE(stream_node, '') FROM sessions WHERE serial = 'SN-1'")
            .pop()?;
        self.nodes.iter().position(|node| node.name == holder)
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for (index, node) in self.nodes.iter().enumerate() {
            all.push_str(&format!(
                "--- node {index} ({})\n{}",
                node.name,
                fs::read_to_string(&node.log).unwrap_or_default()
            ));
        }
        all.push_str(&format!(
            "--- haproxy\n{}",
            fs::read_to_string(self.path("haproxy.log")).unwrap_or_default()
        ));
        all
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.balancer.take();
        for node in &mut self.nodes {
            node.process.take();
        }
    }
}

/// A request with curl to `base`, its files in a scratch folder of its own (requests run
/// from several threads); the token goes in `options` ([`http::bearer`]).
fn request(base: &str, method: &str, path: &str, options: &[&str], body: Option<&str>) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{base}{path}");
    http::request(dir.path(), &url, options, method, None, body)
}

/// Follows `path` on `base` with curl.
fn follow(base: &str, path: &str, options: &[&str]) -> Stream {
    http::follow(&format!("{base}{path}"), options)
}

/// Wrong codes on different nodes lock out on all; an installation through the balancer; a
/// licence and a help-desk request reach its stream from other nodes, the answer comes
/// back; the node holding its stream is killed and it carries on through another, and
/// nothing acknowledged is lost.
#[test]
fn three_nodes_behind_haproxy_serve_one_installation_and_survive_a_killed_node() {
    let mut cluster = Cluster::start();
    let balancer = cluster.balancer_url.clone();
    let scratch = tempfile::tempdir().unwrap();

    // Wrong codes spread over the nodes count together: five, at most two on any one node,
    // lock the organisation out from this address on all three.
    let guess = |node: &Node| {
        let body = serde_json::json!({
            "organisation_id": "ORG-GUESSED", "verification_code": "guess", "serial_number": "SN-9",
        })
        .to_string();
        request(&node.url, "POST", "/v1/sessions", &[], Some(&body))
    };
    for attempt in 0..5 {
        let answer = guess(&cluster.nodes[attempt % 3]);
        assert_eq!(answer.code, 401, "attempt {attempt}: {}", answer.stdout);
    }
    for node in &cluster.nodes {
        let answer = guess(node);
        assert_eq!(answer.code, 429, "on {}: {}", node.url, answer.stdout);
        assert_eq!(answer.json()["error"], "too-many-attempts");
    }

    // The installation, through the balancer.
    let body = serde_json::json!({
        "organisation_id": "ORG-1", "verification_code": CODE, "serial_number": "SN-1",
        "hostname": "print-server-01",
    })
    .to_string();
    let started = request(&balancer, "POST", "/v1/sessions", &[], Some(&body));
    assert_eq!(started.code, 201, "{}\n{}", started.stdout, cluster.logs());
    let token = started.json()["session"].as_str().unwrap().to_string();
    let auth = http::bearer(scratch.path(), "bearer", &token);
    let as_installation = ["-H", auth.as_str()];
    let stream = follow(&balancer, "/v1/events", &as_installation);
    assert!(stream.named(Duration::from_secs(10), "hello").is_some());
    let holder = wait_for(
        Duration::from_secs(10),
        || "the stream's node recorded".to_string(),
        || cluster.stream_holder(),
    );
    // Any node serves the session's other requests: each one directly.
    for node in &cluster.nodes {
        let heartbeat = request(&node.url, "POST", "/v1/heartbeat", &as_installation, None);
        assert_eq!(heartbeat.code, 200, "{}", heartbeat.stdout);
    }

    // A licence issued while node `holder` holds the stream reaches it (the database's
    // trigger tells every node).
    let issued_at = Instant::now();
    cluster.issue("users=3");
    let issued = Instant::now();
    let announced = stream.named(Duration::from_secs(5), "licence-available");
    let reached = issued.elapsed();
    assert!(
        announced.is_some(),
        "no licence-available\n{}",
        cluster.logs()
    );
    assert_eq!(announced.unwrap()["sequence"], 1);
    eprintln!(
        "licence-available reached the stream on node {holder} {:.1} ms after `licence issue` returned ({:.1} ms after it started)",
        reached.as_secs_f64() * 1000.0,
        issued_at.elapsed().as_secs_f64() * 1000.0
    );

    // The installation allows remote assistance; a help desk signed in on another node
    // (`desk`) sees it and asks; the request reaches the stream, the answer comes back.
    let allow = serde_json::json!({
        "allowed": true, "until": in_seconds(3600), "teamviewer_id": "123 456 789",
    })
    .to_string();
    let allowed = request(
        &balancer,
        "PUT",
        "/v1/assistance",
        &as_installation,
        Some(&allow),
    );
    assert_eq!(allowed.code, 204, "{}", allowed.stdout);
    let desk = (holder + 1) % 3;
    let desk_url = cluster.nodes[desk].url.clone();
    let jar = cluster.path("jar");
    let signed_in = request(
        &desk_url,
        "POST",
        "/helpdesk/sign-in",
        &["-c", &jar],
        Some(r#"{"user": "hd", "password": "hd-password"}"#),
    );
    assert_eq!(signed_in.code, 204, "{}", signed_in.stdout);
    let row = |url: &str| -> serde_json::Value {
        request(url, "GET", "/helpdesk/installations", &["-b", &jar], None).json()[0].clone()
    };
    // The sign-in counts on every node.
    for node in &cluster.nodes {
        let listed = request(
            &node.url,
            "GET",
            "/helpdesk/installations",
            &["-b", &jar],
            None,
        );
        assert_eq!(listed.code, 200, "{}", listed.stdout);
    }
    wait_for(
        Duration::from_secs(5),
        || "RDP on the desk's node".to_string(),
        || (row(&desk_url)["rdp"] == true).then_some(()),
    );
    let asked_at = Instant::now();
    let asked = request(
        &desk_url,
        "POST",
        "/helpdesk/installations/SN-1/assistance",
        &["-b", &jar],
        Some(r#"{"message": "may we?"}"#),
    );
    assert_eq!(asked.code, 202, "{}", asked.stdout);
    let request_id = asked.json()["request_id"].as_str().unwrap().to_string();
    let requested = stream.named(Duration::from_secs(5), "assistance-requested");
    assert!(requested.is_some(), "no request\n{}", cluster.logs());
    eprintln!(
        "assistance-requested from node {desk} reached the stream on node {holder} {:.1} ms after the 202",
        asked_at.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(requested.unwrap()["request_id"], request_id.as_str());
    let answer = serde_json::json!({
        "answer": "accepted", "teamviewer_id": "123 456 789", "until": in_seconds(3600),
    })
    .to_string();
    let answered = request(
        &balancer,
        "POST",
        &format!("/v1/assistance/{request_id}/answer"),
        &as_installation,
        Some(&answer),
    );
    assert_eq!(answered.code, 204, "{}", answered.stdout);
    wait_for(
        Duration::from_secs(5),
        || "the answer on the desk's node".to_string(),
        || (row(&desk_url)["assistance"]["answer"] == "accepted").then_some(()),
    );
    // An install report, acknowledged through the balancer.
    let report = serde_json::json!({
        "licence_id": "L", "sequence": 1, "targets": [{"folder": "/srv/fls", "ok": true}],
    })
    .to_string();
    let reported = request(
        &balancer,
        "POST",
        "/v1/licence/reports",
        &as_installation,
        Some(&report),
    );
    assert_eq!(reported.code, 204, "{}", reported.stdout);

    // The node holding the stream is killed: the stream breaks, the installation opens it
    // again through the balancer (as its backoff would), another node takes it, and the
    // help desk sees it online with VPN again.
    let killed_at = Instant::now();
    cluster.nodes[holder].process.take();
    assert!(
        stream.closed_within(Duration::from_secs(10)),
        "the stream did not break"
    );
    let again = wait_for(
        Duration::from_secs(15),
        || "the stream again".to_string(),
        || {
            let stream = follow(&balancer, "/v1/events", &as_installation);
            stream
                .named(Duration::from_secs(2), "hello")
                .map(|_| stream)
        },
    );
    let new_holder = wait_for(
        Duration::from_secs(10),
        || "another node holding it".to_string(),
        || cluster.stream_holder().filter(|index| *index != holder),
    );
    wait_for(
        Duration::from_secs(10),
        || "online with VPN on the desk".to_string(),
        || {
            let row = row(&desk_url);
            (row["online"] == true && row["vpn"] == true).then_some(())
        },
    );
    eprintln!(
        "node {holder} killed: the stream is on node {new_holder} and the desk sees it online with VPN {:.1} ms later",
        killed_at.elapsed().as_secs_f64() * 1000.0
    );
    // The session lives on: a heartbeat through the balancer.
    let heartbeat = request(&balancer, "POST", "/v1/heartbeat", &as_installation, None);
    assert_eq!(heartbeat.code, 200, "{}", heartbeat.stdout);
    assert_eq!(heartbeat.json()["latest_licence_sequence"], 1);

    // Nothing acknowledged was lost.
    assert_eq!(
        cluster.stored("SELECT sequence::text FROM licences WHERE serial = 'SN-1'"),
        ["1"]
    );
    assert_eq!(
        cluster.stored("SELECT answer FROM assistance"),
        ["accepted"]
    );
    assert_eq!(
        cluster.stored("SELECT folder FROM install_reports"),
        ["/srv/fls"]
    );
    // A second licence reaches the stream on its new node.
    cluster.issue("users=4");
    // (The stream opened again announced the first one, which the installation did not
    // report having; the second follows.)
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let announced = again.named(left, "licence-available");
        let announced = announced.expect("the second licence within 5 s");
        if announced["sequence"] == 2 {
            break;
        }
    }
    // The balancer's health checks took the killed node out; the others stay in.
    for (index, node) in cluster.nodes.iter().enumerate() {
        if index != holder {
            assert_eq!(request(&node.url, "GET", "/health", &[], None).code, 200);
        }
    }
}
