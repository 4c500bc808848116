//! The `remote-service-backoffice` binary as a test runs it: a command with its standard
//! input, `serve` until it says where it listens, and processes that end with the test.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::postgres_server;

pub const BINARY: &str = env!("CARGO_BIN_EXE_remote-service-backoffice");

/// What a command or request gave.
pub struct Answer {
    /// The exit code of a command (-1: killed by a signal), the HTTP status of a request
    /// (0: none came).
    pub code: i32,
    /// The standard output of a command, the body of a response.
    pub stdout: String,
    pub stderr: String,
    /// The response headers (requests only), lowercase names.
    pub headers: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.stdout))
    }

    /// Neither output shows the PostgreSQL password.
    pub fn assert_no_password(&self) {
        for output in [&self.stdout, &self.stderr] {
            assert!(
                !output.contains(postgres_server::PASSWORD),
                "the password was shown: {output}"
            );
        }
    }
}

/// The binary with `args`, for the caller to add to (an environment variable) and [`run`].
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command.args(args);
    command
}

/// The arguments of `licence issue SERIAL` with `features`, maintenance through the end of
/// 2027, signed with the secret key file `key`.
pub fn licence_issue<'a>(serial: &'a str, features: &'a str, key: &'a str) -> [&'a str; 9] {
    [
        "licence",
        "issue",
        serial,
        "--features",
        features,
        "--maintenance-through",
        "2027-12-31",
        "--key",
        key,
    ]
}

/// Runs `command` to its end with `stdin` (a line, if any) on its standard input.
pub fn run(mut command: Command, stdin: Option<&str>) -> Answer {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            writeln!(input, "{text}").unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    Answer {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        headers: String::new(),
    }
}

/// Starts `command` (a `serve`) with its standard error going to the file `log`; the
/// process and the URL it listens on. A server that never says so is killed on the panic.
pub fn serve(mut command: Command, log: &Path) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let url = listening_url(stdout);
    (process, url)
}

/// The URL that `serve` says it listens on, the first line of its standard output (within
/// 30 s); the rest of the output is read and dropped so that the server never blocks on it.
pub fn listening_url(stdout: ChildStdout) -> String {
    let (first, line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        if let Some(line) = lines.next() {
            let _ = first.send(line);
        }
        for _ in lines {}
    });
    let line = line
        .recv_timeout(Duration::from_secs(30))
        .expect("the listening line within 30 s");
    line.strip_prefix("remote-service-backoffice listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

/// A process the test started: killed and reaped when dropped, pass or fail.
pub struct Process(pub Child);

impl Process {
    /// Sends it SIGTERM (it may still be running when this returns).
    pub fn terminate(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
