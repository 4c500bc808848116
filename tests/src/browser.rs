//! A real headless Chromium driven through chromedriver, for the help-desk page's tests.
//!
//! Debian's `chromium` and `chromium-driver` (tests/run installs them). Chromium gets the
//! flags that keep it off the network (this machine's is closed) and a fresh, empty profile.
//!
//! The WebDriver client is the dozen W3C WebDriver commands these tests use, as JSON over
//! the workspace's own hyper client, one HTTP/1.1 connection per command to chromedriver on
//! loopback. A WebDriver crate was weighed and left out: fantoccini, the lightest, brings 23
//! crates more through the `webdriver` crate, among them second copies of icu, `http`,
//! `cookie` and `base64`.
//!
//! chromedriver runs in a process group of its own with Chromium under it; when the
//! [`Browser`] is dropped the session is ended and the whole group is killed, so that no
//! Chromium process outlives a test, not even one that failed. A test that fails while a
//! browser is open leaves a screenshot in `tests/output/<test name>.png`.

use std::fmt;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key under which WebDriver returns an element's reference (W3C WebDriver, "web element
/// identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Reads the text of the first element a selector matches as WebDriver's "Get Element
/// Text" does (rendered, trimmed, empty when hidden), in one command: the help-desk page
/// replaces its rows whenever the list changes, and a find followed by a read could meet
/// a row that was replaced in between.
const READ_TEXT: &str = "const element = document.querySelector(arguments[0]);
    return element ? (element.checkVisibility() ? element.innerText.trim() : '') : null;";

/// The same for every element a selector matches.
const READ_TEXTS: &str = "return Array.from(document.querySelectorAll(arguments[0]),
    (element) => element.checkVisibility() ? element.innerText.trim() : '');";

/// How often the `wait_*` methods look at the page again.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How long one WebDriver command may take before the test fails instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A command chromedriver refused or could not carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDriverError {
    /// The HTTP status of the answer (0 when chromedriver did not answer at all).
    pub status: u16,
    /// The W3C error code (`no such element`, `stale element reference`, …).
    pub error: String,
    /// chromedriver's message.
    pub message: String,
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chromedriver's messages carry a stack trace of its own after the first line.
        let first_line = self.message.lines().next().unwrap_or_default();
        write!(formatter, "{} ({}): {first_line}", self.error, self.status)
    }
}

impl std::error::Error for WebDriverError {}

impl WebDriverError {
    fn transport(message: String) -> WebDriverError {
        WebDriverError {
            status: 0,
            error: "no answer from chromedriver".to_string(),
            message,
        }
    }

    fn is(&self, error: &str) -> bool {
        self.error == error
    }
}

/// The message for programs that are not installed, or `None` when all are.
pub fn missing_programs(programs: &[&Path]) -> Option<String> {
    let missing: Vec<String> = programs
        .iter()
        .filter(|program| !program.exists())
        .map(|program| program.display().to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} missing: install Debian's chromium and chromium-driver (tests/run does)",
            missing.join(" and ")
        )
    })
}

/// chromedriver and one headless Chromium session; both end when dropped.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    /// `127.0.0.1:PORT` of chromedriver.
    driver_address: String,
    /// The WebDriver session, once it was created.
    session: Option<String>,
    driver: Child,
    /// Chromium's profile (`profile/`) and chromedriver's log (`chromedriver.log`).
    scratch: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session, with a
    /// clear message when either program is missing.
    pub fn start() -> Browser {
        if let Some(message) = missing_programs(&[Path::new(CHROMIUM), Path::new(CHROMEDRIVER)]) {
            panic!("{message}");
        }
        let scratch = tempfile::Builder::new()
            .prefix("remote-service-chromium-")
            .tempdir()
            .expect("a folder for Chromium's profile");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the WebDriver client");
        let profile = scratch.path().join("profile");
        let log = scratch.path().join("chromedriver.log");

        // The free port is found by binding and letting go, so another program may take it
        // in between: chromedriver then exits at once and the next port is tried.
        let mut attempts = 0;
        let mut browser = loop {
            attempts += 1;
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free loopback port")
                .port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                // Its own process group, which Chromium's processes join: dropping the
                // browser kills the whole group.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("start {CHROMEDRIVER}: {error}"));
            let address = format!("127.0.0.1:{port}");
            match wait_until_driver_ready(&runtime, &address, &mut driver) {
                Ok(()) => {
                    break Browser {
                        runtime,
                        driver_address: address,
                        session: None,
                        driver,
                        scratch,
                    }
                }
                Err(reason) => {
                    kill_process_group(&mut driver);
                    assert!(
                        attempts < 3,
                        "chromedriver did not start: {reason}\n{}",
                        driver_log(&log)
                    );
                    eprintln!("chromedriver on port {port}: {reason}; trying another port");
                }
            }
        };

        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            "--window-size=1280,800",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let answer = browser
            .request(Method::POST, "/session", Some(capabilities))
            .unwrap_or_else(|error| {
                panic!(
                    "no Chromium session through chromedriver: {error}\n{}",
                    browser.log()
                )
            });
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver answered no session id: {answer}"));
        browser.session = Some(session.to_string());
        browser
    }

    /// The process group of chromedriver and Chromium (chromedriver's process id).
    pub fn process_group(&self) -> u32 {
        self.driver.id()
    }

    /// Opens `url` and waits until it has loaded.
    pub fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// The first element `css` matches now, or `None`.
    pub fn find(&self, css: &str) -> Option<Element<'_>> {
        let selector = json!({ "using": "css selector", "value": css });
        match self.command(Method::POST, "/element", Some(selector)) {
            Ok(reference) => Some(self.element(css, &reference)),
            Err(error) if error.is("no such element") => None,
            Err(error) => panic!("find {css}: {error}"),
        }
    }

    /// Every element `css` matches now, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let selector = json!({ "using": "css selector", "value": css });
        let references = self
            .command(Method::POST, "/elements", Some(selector))
            .unwrap_or_else(|error| panic!("find all {css}: {error}"));
        references
            .as_array()
            .map(|references| {
                references
                    .iter()
                    .map(|reference| self.element(css, reference))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element `css` matches, waiting up to `limit` for it to appear; a panic
    /// naming the selector after that.
    pub fn wait_for(&self, css: &str, limit: Duration) -> Element<'_> {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find(css) {
                return element;
            }
            assert!(
                started.elapsed() < limit,
                "no element {css} on the page within {limit:?}"
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Replaces what the input `css` holds with `text`, typed key by key as a person types
    /// (waits up to 5 s for the input).
    pub fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css, Duration::from_secs(5)).type_text(text);
    }

    /// Clicks the element `css` (waits up to 5 s for it).
    pub fn click(&self, css: &str) {
        self.wait_for(css, Duration::from_secs(5)).click();
    }

    /// The text a person sees in the first element `css` matches (empty when it is
    /// hidden), or `None` when there is none.
    pub fn text(&self, css: &str) -> Option<String> {
        let text = self.script(READ_TEXT, css);
        text.as_str().map(str::to_string)
    }

    /// The texts of every element `css` matches, in document order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let texts = self.script(READ_TEXTS, css);
        texts
            .as_array()
            .map(|texts| {
                texts
                    .iter()
                    .map(|text| text.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs one of this module's scripts on the page with the selector `css`.
    fn script(&self, script: &str, css: &str) -> Value {
        let body = json!({ "script": script, "args": [css] });
        self.command(Method::POST, "/execute/sync", Some(body))
            .unwrap_or_else(|error| panic!("read {css}: {error}"))
    }

    /// Whether the first element `css` matches is shown (false when there is none).
    pub fn is_displayed(&self, css: &str) -> bool {
        self.find(css)
            .is_some_and(|element| element.try_displayed().unwrap_or(false))
    }

    /// Waits until the element `css` reads `expected`; the time it took. After `limit`, a
    /// panic that says what it read last.
    pub fn wait_for_text(&self, css: &str, expected: &str, limit: Duration) -> Duration {
        let mut last = None;
        let waited = self.wait_until(limit, |browser| {
            last = browser.text(css);
            last.as_deref() == Some(expected)
        });
        waited.unwrap_or_else(|| {
            panic!(
                "{css} did not read {expected:?} within {limit:?}; it read {}",
                last.map_or_else(
                    || "nothing (no such element)".to_string(),
                    |text| format!("{text:?}")
                )
            )
        })
    }

    /// Looks at the page every 25 ms until `condition` holds, up to `limit`; the time it
    /// took, or `None`.
    pub fn wait_until(
        &self,
        limit: Duration,
        mut condition: impl FnMut(&Browser) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if condition(self) {
                return Some(started.elapsed());
            }
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The page as a PNG file at `path`.
    pub fn screenshot(&self, path: &Path) {
        self.try_screenshot(path)
            .unwrap_or_else(|error| panic!("screenshot to {}: {error}", path.display()));
    }

    /// `tests/output/<name>`, the folder created: where screenshots are kept for a person to
    /// look at (ignored by git).
    pub fn output_path(name: &str) -> PathBuf {
        crate::output_path(name)
    }

    fn try_screenshot(&self, path: &Path) -> Result<(), String> {
        let encoded = self
            .command(Method::GET, "/screenshot", None)
            .map_err(|error| error.to_string())?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|error| format!("the screenshot is not base64: {error}"))?;
        std::fs::write(path, png).map_err(|error| error.to_string())
    }

    fn element(&self, css: &str, reference: &Value) -> Element<'_> {
        let id = reference[ELEMENT_KEY].as_str().unwrap_or_else(|| {
            panic!("chromedriver answered no element reference for {css}: {reference}")
        });
        Element {
            browser: self,
            id: id.to_string(),
        }
    }

    /// A command of this session: `path` is relative to `/session/{id}`.
    fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let session = self.session.as_deref().expect("the session is open");
        self.request(method, &format!("/session/{session}{path}"), body)
    }

    /// One WebDriver request; the answer's `value`.
    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        send(&self.runtime, &self.driver_address, method, path, body)
    }

    /// chromedriver's log, for a message when it fails.
    fn log(&self) -> String {
        driver_log(&self.scratch.path().join("chromedriver.log"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.session.is_some() && std::thread::panicking() {
            // The test failed with the browser open: keep what the page showed.
            let test = std::thread::current()
                .name()
                .unwrap_or("browser")
                .replace("::", "-");
            let path = Browser::output_path(&format!("{test}.png"));
            match self.try_screenshot(&path) {
                Ok(()) => eprintln!("the page at the failure: {}", path.display()),
                Err(error) => eprintln!("no screenshot of the failure: {error}"),
            }
        }
        if self.session.is_some() {
            let _ = self.request(
                Method::DELETE,
                &format!("/session/{}", self.session.as_deref().unwrap_or_default()),
                None,
            );
            self.session = None;
        }
        kill_process_group(&mut self.driver);
    }
}

/// An element of the page; stale once the page replaces it.
pub struct Element<'browser> {
    browser: &'browser Browser,
    id: String,
}

impl Element<'_> {
    /// The text a person sees in it.
    pub fn text(&self) -> String {
        self.try_text()
            .unwrap_or_else(|error| panic!("text of an element: {error}"))
    }

    /// Clicks it (scrolled into view first, as WebDriver does).
    pub fn click(&self) {
        self.command(Method::POST, "/click", Some(json!({})))
            .unwrap_or_else(|error| panic!("click: {error}"));
    }

    /// Empties the input and types `text` into it.
    pub fn type_text(&self, text: &str) {
        self.command(Method::POST, "/clear", Some(json!({})))
            .and_then(|_| self.command(Method::POST, "/value", Some(json!({ "text": text }))))
            .unwrap_or_else(|error| panic!("type into an input: {error}"));
    }

    /// Whether it is shown.
    pub fn is_displayed(&self) -> bool {
        self.try_displayed()
            .unwrap_or_else(|error| panic!("is an element displayed: {error}"))
    }

    fn try_text(&self) -> Result<String, WebDriverError> {
        self.command(Method::GET, "/text", None)
            .map(|text| text.as_str().unwrap_or_default().to_string())
    }

    fn try_displayed(&self) -> Result<bool, WebDriverError> {
        self.command(Method::GET, "/displayed", None)
            .map(|shown| shown.as_bool().unwrap_or(false))
    }

    fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        self.browser
            .command(method, &format!("/element/{}{path}", self.id), body)
    }
}

/// One WebDriver request to chromedriver at `address`; the answer's `value`.
fn send(
    runtime: &tokio::runtime::Runtime,
    address: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let exchange = exchange(address, method.clone(), path, body);
    let (status, answer) = runtime
        .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, exchange).await })
        .map_err(|_| {
            WebDriverError::transport(format!("{method} {path} took over {COMMAND_TIMEOUT:?}"))
        })?
        .map_err(WebDriverError::transport)?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(WebDriverError {
            status,
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// Waits up to 20 s until chromedriver says it is ready for a session.
fn wait_until_driver_ready(
    runtime: &tokio::runtime::Runtime,
    address: &str,
    driver: &mut Child,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        let last = match send(runtime, address, Method::GET, "/status", None) {
            Ok(status) if status["ready"] == true => return Ok(()),
            Ok(status) => format!("chromedriver is not ready: {status}"),
            Err(error) => error.to_string(),
        };
        if started.elapsed() > Duration::from_secs(20) {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the process group that `driver` leads (chromedriver and every Chromium process)
/// and reaps chromedriver.
fn kill_process_group(driver: &mut Child) {
    // `kill -KILL -- -PGID` signals the whole group.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// The last lines of chromedriver's log, for a message when it fails.
fn driver_log(log: &Path) -> String {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(40)..];
    format!("chromedriver's log (last lines):\n{}", tail.join("\n"))
}

/// One HTTP/1.1 exchange with chromedriver: the status and the JSON answer.
async fn exchange(
    address: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect to chromedriver at {address}: {error}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP with chromedriver: {error}"))?;
    tokio::spawn(connection);
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, address)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| format!("request {path}: {error}"))?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(|error| format!("{path}: {error}"))?;
    let status = answer.status().as_u16();
    let bytes = answer
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("{path}: reading the answer: {error}"))?
        .to_bytes();
    let answer = serde_json::from_slice(&bytes).map_err(|error| {
        format!(
            "{path}: the answer is not JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_named_with_the_packages_to_install() {
        let missing = Path::new("/nonexistent/chromedriver");
        assert_eq!(
            missing_programs(&[Path::new("/bin/sh"), missing]).as_deref(),
            Some(
                "/nonexistent/chromedriver missing: install Debian's chromium and \
                 chromium-driver (tests/run does)"
            )
        );
        assert_eq!(missing_programs(&[Path::new("/bin/sh")]), None);
    }
}
