//! The back office's HTTP side as an installation and a help desk speak it, through curl
//! (Debian package `curl`): requests, server-sent event streams, the bodies they send.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cli::{Answer, Process};

/// A request to `url` with curl (extra options: a cookie jar, a CA file, headers); the
/// headers, the body and the response headers go through files in `dir`, never the
/// command line (they hold the token).
pub fn request(
    dir: &Path,
    url: &str,
    options: &[&str],
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let headers = dir.join("headers");
    let mut header_text = "Content-Type: application/json\n".to_string();
    if let Some(token) = token {
        header_text.push_str(&format!("Authorization: Bearer {token}\n"));
    }
    fs::write(&headers, header_text).unwrap();
    let dumped = dir.join("response-headers");
    let _ = fs::remove_file(&dumped);
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .arg("-D")
        .arg(&dumped)
        .arg("-H")
        .arg(format!("@{}", headers.display()))
        .args(options);
    if let Some(body) = body {
        let file = dir.join("body");
        fs::write(&file, body).unwrap();
        command
            .arg("--data-binary")
            .arg(format!("@{}", file.display()));
    }
    let output = command
        .arg(url)
        .output()
        .expect("curl (Debian package curl)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Answer {
        code: status.trim().parse().unwrap_or(0),
        stdout: body.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        headers: fs::read_to_string(&dumped)
            .unwrap_or_default()
            .to_ascii_lowercase(),
    }
}

/// Signs the help desk `user` in at `base`; the cookie goes to the jar file in `dir` it
/// returns.
pub fn sign_in(dir: &Path, base: &str, user: &str, password: &str) -> (Answer, String) {
    let jar = dir.join(format!("jar-{user}"));
    let jar = jar.to_string_lossy().into_owned();
    let body = serde_json::json!({"user": user, "password": password}).to_string();
    let answer = request(
        dir,
        &format!("{base}/helpdesk/sign-in"),
        &["-c", &jar],
        "POST",
        None,
        Some(&body),
    );
    (answer, jar)
}

/// A help desk's request for assistance on `serial` at `base`, with the cookie jar `jar`.
pub fn ask(dir: &Path, base: &str, jar: &str, serial: &str) -> Answer {
    request(
        dir,
        &format!("{base}/helpdesk/installations/{serial}/assistance"),
        &["-b", jar],
        "POST",
        None,
        Some(r#"{"message": "may we?"}"#),
    )
}

/// Writes the header `Authorization: Bearer TOKEN` to the file `name` in `dir`; what
/// curl's `-H` is given to send it (the token stays off the command line).
pub fn bearer(dir: &Path, name: &str, token: &str) -> String {
    let file = dir.join(name);
    fs::write(&file, format!("Authorization: Bearer {token}\n")).unwrap();
    format!("@{}", file.display())
}

/// Follows the server-sent event stream at `url` with curl (options: the token's header
/// from [`bearer`], a cookie jar).
pub fn follow(url: &str, options: &[&str]) -> Stream {
    let mut child = Command::new("curl")
        .arg("-sN")
        .args(options)
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut name = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(event) = line.strip_prefix("event: ") {
                name = event.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if sender.send((name.clone(), data.to_string())).is_err() {
                    return;
                }
            }
        }
    });
    Stream {
        _curl: Process(child),
        receiver,
    }
}

/// A server-sent event stream followed with curl: (event, data) pairs; closed when curl
/// ends, and curl ends when the stream is dropped.
pub struct Stream {
    _curl: Process,
    receiver: mpsc::Receiver<(String, String)>,
}

impl Stream {
    /// The next event within `limit`, whatever its name.
    pub fn next(&self, limit: Duration) -> (String, serde_json::Value) {
        let (name, data) = self
            .receiver
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no event within {limit:?}"));
        (name, serde_json::from_str(&data).unwrap())
    }

    /// The first event within `limit` for which `wanted` holds (others are skipped);
    /// `None` when the stream closed or none came.
    pub fn find(
        &self,
        limit: Duration,
        wanted: impl Fn(&str, &serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let started = Instant::now();
        while let Some(left) = limit.checked_sub(started.elapsed()) {
            let Ok((name, data)) = self.receiver.recv_timeout(left) else {
                return None;
            };
            let data: serde_json::Value = serde_json::from_str(&data).unwrap();
            if wanted(&name, &data) {
                return Some(data);
            }
        }
        None
    }

    /// The next event called `name` within `limit` (others are skipped).
    pub fn named(&self, limit: Duration, name: &str) -> Option<serde_json::Value> {
        self.find(limit, |event, _| event == name)
    }

    /// The help desk's row of SN-1 in the first `installations` event within 20 s for which
    /// `wanted` holds; a panic saying `what` did not come after that.
    pub fn row(
        &self,
        what: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let row_of = |list: &serde_json::Value| {
            list.as_array()
                .and_then(|rows| rows.iter().find(|row| row["serial_number"] == "SN-1"))
                .cloned()
                .unwrap_or_default()
        };
        self.find(Duration::from_secs(20), |name, list| {
            name == "installations" && wanted(&row_of(list))
        })
        .map(|list| row_of(&list))
        .unwrap_or_else(|| panic!("the help desk's stream never showed SN-1 {what}"))
    }

    /// Whether the back office closed the stream within `limit`.
    pub fn closed_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while let Some(left) = limit.checked_sub(started.elapsed()) {
            match self.receiver.recv_timeout(left) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
        false
    }
}

/// The time `seconds` from now (negative: ago), RFC 3339 in UTC.
pub fn in_seconds(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The body of `POST /v1/sessions` from the host `test-host`.
pub fn session_body(organisation: &str, code: &str, serial: &str) -> String {
    session_body_from(organisation, code, serial, "test-host")
}

/// The body of `POST /v1/sessions` from `hostname`.
pub fn session_body_from(organisation: &str, code: &str, serial: &str, hostname: &str) -> String {
    serde_json::json!({
        "organisation_id": organisation, "verification_code": code, "serial_number": serial,
        "licence_sequence": 0, "client": "test", "hostname": hostname,
    })
    .to_string()
}
