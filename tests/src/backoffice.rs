//! The real reference back office (`remote-service-backoffice`) for end-to-end tests: a
//! database with an organisation, a serial number and a signing key, served on a loopback
//! port that stays the same across a kill and a restart.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{artifact, Run};

/// The organisation every back office of the tests has.
pub const ORGANISATION: &str = "ORG-TEST";
/// Its verification code.
pub const VERIFICATION_CODE: &str = "vc-7Qz!secret-4411";
/// The serial number registered with it.
pub const SERIAL: &str = "RS-TEST-0001";

/// How the back office is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP on loopback.
    Http,
    /// HTTPS with a self-signed certificate written to `cert_file()`.
    SelfSignedTls,
}

/// A back office: its folder, database and signing key; the server runs between
/// [`BackofficeServer::start`] and [`BackofficeServer::kill`] (and is killed on drop).
pub struct BackofficeServer {
    dir: PathBuf,
    transport: Transport,
    heartbeat_interval_s: u32,
    /// `serve --assistance-answer-within`, when set.
    assistance_answer_within_s: Option<u32>,
    port: u16,
    url: Option<String>,
    child: Option<Child>,
}

impl BackofficeServer {
    /// A back office in `dir` (created) with [`ORGANISATION`], [`SERIAL`] and a key pair in
    /// `dir/keys`; not started yet.
    pub fn create(dir: &Path, transport: Transport) -> BackofficeServer {
        fs::create_dir_all(dir).unwrap();
        let server = BackofficeServer {
            dir: dir.to_path_buf(),
            transport,
            heartbeat_interval_s: 2,
            assistance_answer_within_s: None,
            port: crate::restartable_port(),
            url: None,
            child: None,
        };
        server
            .admin(
                &["keys", "generate", "--out"],
                Some(&server.keys_dir()),
                None,
            )
            .success();
        server
            .admin_db(
                &["org", "add", ORGANISATION, "--name", "Test Print Shop"],
                Some(VERIFICATION_CODE),
            )
            .success();
        server
            .admin_db(&["serial", "add", SERIAL, "--org", ORGANISATION], None)
            .success();
        server
    }

    /// How long installations wait for their user's answer to an assistance request
    /// (`serve --assistance-answer-within`, 1 to 300 s; the server's default, 300, when not
    /// set), from the next [`BackofficeServer::start`] on.
    pub fn set_assistance_answer_within(&mut self, seconds: u32) {
        self.assistance_answer_within_s = Some(seconds);
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.join("backoffice.sqlite")
    }

    /// The key pair folder: `licence.pub`, `licence.key`.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// The public key that installations must trust.
    pub fn public_key(&self) -> PathBuf {
        self.keys_dir().join("licence.pub")
    }

    /// The self-signed certificate (with [`Transport::SelfSignedTls`]).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("dev-cert.pem")
    }

    /// Runs an admin command; `path_arg` is appended after `args` (a folder argument).
    pub fn admin(&self, args: &[&str], path_arg: Option<&Path>, stdin: Option<&str>) -> Run {
        let mut command = Command::new(artifact("remote-service-backoffice"));
        command.args(args);
        if let Some(path) = path_arg {
            command.arg(path);
        }
        run_with_stdin(command, stdin)
    }

    /// Runs an admin command on this back office's database.
    pub fn admin_db(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = Command::new(artifact("remote-service-backoffice"));
        command.args(args).arg("--db").arg(self.db());
        run_with_stdin(command, stdin)
    }

    /// Issues a licence for `serial` (`features` as `code[=count],…`) signed with this back
    /// office's key; returns the licence file's text.
    pub fn issue_licence(&self, serial: &str, features: &str, maintenance_through: &str) -> String {
        let key = self.keys_dir().join("licence.key");
        let run = self.admin_db(
            &[
                "licence",
                "issue",
                serial,
                "--features",
                features,
                "--maintenance-through",
                maintenance_through,
                "--key",
                key.to_str().unwrap(),
            ],
            None,
        );
        run.success().to_string()
    }

    /// Starts the server (on the same port as before after a [`BackofficeServer::kill`])
    /// and waits until it accepts connections.
    pub fn start(&mut self) -> String {
        assert!(self.child.is_none(), "the back office already runs");
        let mut command = Command::new(artifact("remote-service-backoffice"));
        command
            .arg("serve")
            .arg("--db")
            .arg(self.db())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--heartbeat-interval")
            .arg(self.heartbeat_interval_s.to_string());
        if let Some(seconds) = self.assistance_answer_within_s {
            command
                .arg("--assistance-answer-within")
                .arg(seconds.to_string());
        }
        if self.transport == Transport::SelfSignedTls {
            command.arg("--dev-self-signed").arg(self.cert_file());
        }
        // Killed if it does not get ready (the guard is defused once it is).
        let mut child = crate::KillOnDrop(
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start remote-service-backoffice"),
        );
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = self.dir.join("backoffice.log");
        std::thread::spawn(move || {
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
            }
        });
        let (listening, url) = std::sync::mpsc::channel();
        // Reads its standard output to the end, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("remote-service-backoffice listening on ") {
                    let _ = listening.send(url.to_string());
                }
            }
        });
        let url = url
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the back office did not start listening within 30 s; its log:\n{}",
                    fs::read_to_string(self.dir.join("backoffice.log")).unwrap_or_default()
                )
            });
        let child = child.defuse();
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|port| port.trim_end_matches('/').parse().ok())
            .expect("a port in the URL");
        self.url = Some(url.clone());
        self.child = Some(child);
        url
    }

    /// The URL the server listens on (after the first start).
    pub fn url(&self) -> &str {
        self.url.as_deref().expect("the back office was started")
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server at once (SIGKILL): connections drop as if the machine went away.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the server: a stopped back office keeps
    /// its connections open and says nothing, as a hung one does.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the back office runs");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// The server's log (standard error).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// The file of [`BackofficeServer::log`].
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("backoffice.log")
    }
}

impl Drop for BackofficeServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped process ignores nothing but SIGKILL; continue it anyway.
            self.signal("CONT");
        }
        self.kill();
    }
}

fn run_with_stdin(mut command: Command, stdin: Option<&str>) -> Run {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run remote-service-backoffice");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            writeln!(input, "{text}").unwrap();
        }
    }
    let output = child
        .wait_with_output()
        .expect("remote-service-backoffice output");
    output.into()
}

/// What a [`MisbehavingServer`] does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts and reads, never answers (a back office that hangs).
    Silent,
    /// Answers every request with 200 and a body that is not the protocol's JSON.
    Garbage,
    /// Answers with bytes that are not HTTP at all, then closes.
    NotHttp,
    /// Answers 503 with an HTML page, as a broken reverse proxy does.
    ServerError,
    /// Answers 201 with a body that never ends (a back office that would fill the
    /// installation's memory).
    Endless,
}

/// A loopback server that misbehaves in one way, for the "no hang, no crash" tests.
pub struct MisbehavingServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MisbehavingServer {
    /// Starts it on a free loopback port.
    pub fn start(misbehaviour: Misbehaviour) -> MisbehavingServer {
        use std::io::Read;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer);
                    let answer: &[u8] = match misbehaviour {
                        Misbehaviour::Silent => {
                            // Hold the connection open without a word.
                            std::thread::sleep(std::time::Duration::from_secs(600));
                            return;
                        }
                        Misbehaviour::Garbage => b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 19\r\nconnection: close\r\n\r\n<html>hello</html>\n",
                        Misbehaviour::NotHttp => b"\x16\x03\x01\x00\xffSSH-2.0-OpenSSH_9.2\r\n\x00\x01garbage",
                        Misbehaviour::ServerError => b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<h1>maintenance</h1>\n",
                        Misbehaviour::Endless => {
                            let _ = stream.write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"session\": \"");
                            let chunk = [b'x'; 65536];
                            while stream.write_all(&chunk).is_ok() {}
                            return;
                        }
                    };
                    let _ = stream.write_all(answer);
                });
            }
        });
        MisbehavingServer { url, stop }
    }
}

impl Drop for MisbehavingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// Makes `scratch` an installation of `server`: trusts the back office's key, puts a
/// licence for [`SERIAL`] into the licence folder, and sets `enabled`, `organisation_id`,
/// `backoffice_url` and the verification code with the real command line, each command
/// made by `command` (so that the caller chooses the environment: a keyring's bus, or the
/// secrets file).
pub fn configure_installation(
    server: &BackofficeServer,
    scratch: &crate::Scratch,
    command: impl Fn(&[&str]) -> Command,
) {
    fs::copy(
        server.public_key(),
        scratch.system_dir.join("backoffice.pub"),
    )
    .unwrap();
    let licence = server.issue_licence(SERIAL, "auto-licence-update,users=10", "2027-12-31");
    fs::create_dir_all(scratch.licence_folder()).unwrap();
    fs::write(
        scratch.licence_folder().join(format!("{SERIAL}.lic")),
        licence,
    )
    .unwrap();
    for (key, value) in [
        ("enabled", "true"),
        ("organisation_id", ORGANISATION),
        ("backoffice_url", server.url()),
    ] {
        let status = command(&["config", "set", key, value])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "config set {key} {value}");
    }
    set_code(command);
}

/// `config set-secret verification_code` with [`VERIFICATION_CODE`] on standard input,
/// made by `command`.
pub fn set_code(command: impl Fn(&[&str]) -> Command) {
    let mut secret = command(&["config", "set-secret", "verification_code"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(secret.stdin.take().unwrap(), "{VERIFICATION_CODE}").unwrap();
    assert!(secret.wait().unwrap().success(), "config set-secret");
}

/// An installation connected to its own back office, for the end-to-end tests of what
/// travels between them: a scratch installation configured by [`configure_installation`]
/// with its code in the secrets file (`REMOTE_SERVICE_SECRETS=file`; the keyring is the
/// connection tests' subject), and the back office running on loopback.
pub struct Installation {
    /// The installation.
    pub scratch: crate::Scratch,
    /// Its back office.
    pub backoffice: BackofficeServer,
}

impl Installation {
    /// A configured installation and its running back office (no engine yet).
    pub fn new() -> Installation {
        let scratch = crate::Scratch::new();
        let mut backoffice =
            BackofficeServer::create(&scratch.root().join("backoffice"), Transport::Http);
        backoffice.start();
        let installation = Installation {
            scratch,
            backoffice,
        };
        configure_installation(&installation.backoffice, &installation.scratch, |args| {
            installation.command(args)
        });
        installation
    }

    /// `remote-service ARGS` in this installation.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.scratch.command(args);
        command.env("REMOTE_SERVICE_SECRETS", "file");
        command
    }

    /// Runs `remote-service ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> crate::Run {
        self.command(args)
            .output()
            .expect("run remote-service")
            .into()
    }

    /// `config set-secret NAME` with `value` on standard input.
    pub fn set_secret(&self, name: &str, value: &str) -> crate::Run {
        crate::set_secret(self.command(&["config", "set-secret", name]), value)
    }

    /// Waits (generously) until the light is `state` with a reason containing `words`;
    /// returns the reason.
    pub fn wait_for_light(&self, state: &str, words: &str) -> String {
        let mut last = serde_json::Value::Null;
        let seen = crate::wait_for(std::time::Duration::from_secs(30), || {
            last = self.status();
            last["connection"]["state"] == state
                && last["connection"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(words)
        });
        assert!(
            seen.is_some(),
            "the light is {state} with {words:?} in its reason; the status: {last}"
        );
        last["connection"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Enters the verification code again (a new `backoffice_url` removes it).
    pub fn set_code(&self) {
        set_code(|args| self.command(args));
    }

    /// Starts the engine (`remote-service daemon`).
    pub fn daemon(&self) -> crate::Daemon {
        crate::Scratch::spawn_daemon(self.command(&["daemon"]))
    }

    /// `remote-service status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.command(&["status", "--json"]).output().unwrap().stdout)
            .unwrap_or_default()
    }

    /// Waits until the light is green.
    pub fn wait_until_green(&self) {
        let green = crate::wait_for(std::time::Duration::from_secs(10), || {
            self.status()["connection"]["state"] == "green"
        });
        assert!(
            green.is_some(),
            "the installation connects: {}",
            self.status()
        );
    }
}

impl Default for Installation {
    fn default() -> Self {
        Installation::new()
    }
}

/// What a [`FaultyLink`] does to the back office's licence download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceFault {
    /// 500 with an error page.
    ServerError,
    /// 200 with JSON that is not a licence.
    Garbage,
    /// 200 announcing the whole file, sending half, then closing (the back office died
    /// mid-transfer).
    HalfThenClosed,
}

/// A reverse proxy between an installation and its back office that passes everything but
/// `GET /v1/licence`, which it answers with a fault: the network faults and broken back
/// offices the licence updater must survive. The rest is the real back office.
pub struct FaultyLink {
    /// `http://127.0.0.1:PORT`, the URL to give the installation.
    pub url: String,
    // Dropping it stops the proxy's thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FaultyLink {
    /// Starts it in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, fault: LicenceFault) -> FaultyLink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            return;
                        };
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                faulty_answer(request, upstream.clone(), fault)
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(client), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        FaultyLink { url, _stop: stop }
    }
}

type ProxyBody = http_body_util::combinators::BoxBody<hyper::body::Bytes, hyper::Error>;

/// Each request on its own: the licence download gets the fault, anything else goes to the
/// real back office on a connection of its own (so event streams pass through too).
async fn faulty_answer(
    request: hyper::Request<hyper::body::Incoming>,
    upstream: String,
    fault: LicenceFault,
) -> Result<hyper::Response<ProxyBody>, std::io::Error> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let whole = |status: u16, body: &'static str| {
        hyper::Response::builder()
            .status(status)
            .body(
                Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap()
    };
    if request.uri().path() == "/v1/licence" {
        return Ok(match fault {
            LicenceFault::ServerError => whole(500, "<h1>server error</h1>\n"),
            LicenceFault::Garbage => whole(200, "{\"error\": \"not a licence\"}\n"),
            LicenceFault::HalfThenClosed => {
                // Half a licence under a length of the whole: the connection closes before
                // the announced length.
                let mut response = whole(
                    200,
                    "-----BEGIN REMOTE SERVICE LICENCE-----\neyJmb3JtYXQiOjEs",
                );
                response.headers_mut().insert(
                    "content-length",
                    hyper::header::HeaderValue::from_static("900"),
                );
                response
            }
        });
    }
    let stream = tokio::net::TcpStream::connect(&upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    Ok(response.map(|body| body.boxed()))
}
