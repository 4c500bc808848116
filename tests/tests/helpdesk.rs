//! The back office's help-desk page in a real headless Chromium (docs/protocol.md, "Help-desk
//! page"), with installations that connect to the real back office: as the protocol describes
//! it (curl starting a session, holding the event stream, reporting what remote assistance
//! allows and answering requests), and as the real `remote-service daemon` does. First the
//! browser harness's own tests, against a page of their own.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use remote_service_tests::backoffice::{
    configure_installation, BackofficeServer, Transport, ORGANISATION, SERIAL, VERIFICATION_CODE,
};
use remote_service_tests::browser::Browser;
use remote_service_tests::{wait_for, Daemon, Scratch};

/// The row of the installation [`SERIAL`] and its cells (the page's element contract).
const ROW: &str = "#installations tr[data-serial=\"RS-TEST-0001\"]";
const STATE: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .state";
const LAST_SEEN: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .last-seen";
const BADGES: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .badge";
const REQUEST_ASSISTANCE: &str =
    "#installations tr[data-serial=\"RS-TEST-0001\"] .request-assistance";
const ASSISTANCE: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .assistance";
const ALLOWED: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .allowed";
const SESSION: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] .session";
/// The badges with the meaning they show (their tooltip).
const RDP_BADGE: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] \
    .badge-rdp[title=\"remote assistance allowed, TeamViewer ID known\"]";
const VPN_BADGE: &str = "#installations tr[data-serial=\"RS-TEST-0001\"] \
    .badge-vpn[title=\"connected to the back office now\"]";
/// The request button, enabled or not.
const REQUEST_ENABLED: &str =
    "#installations tr[data-serial=\"RS-TEST-0001\"] .request-assistance:enabled";
const REQUEST_DISABLED: &str =
    "#installations tr[data-serial=\"RS-TEST-0001\"] .request-assistance:disabled";

/// The second organisation: its help desk must not see the first one's installations.
const OTHER_ORGANISATION: &str = "ORG-OTHER";
const OTHER_CODE: &str = "other-code-9921";
const OTHER_SERIAL: &str = "RS-OTHER-0001";

// ---------------------------------------------------------------------------------------
// The harness itself, against a page served from a thread of this test.

/// A sign-in form whose script greets the user, then redraws a row every 100 ms (as the
/// help-desk page redraws its table) and, 800 ms after the sign-in, redraws it `online`.
const HARNESS_PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>harness</title></head>
<body>
<form id="sign-in">
  <input id="user"> <input id="password" type="password"> <button type="submit">Sign in</button>
</form>
<p id="greeting">not signed in</p>
<table id="installations"><tbody></tbody></table>
<script>
let state = "offline";
function draw() {
  const row = document.createElement("tr");
  row.dataset.serial = "RS-1";
  const cell = document.createElement("td");
  cell.className = "state";
  cell.textContent = state;
  row.appendChild(cell);
  document.querySelector("#installations tbody").replaceChildren(row);
}
draw();
setInterval(draw, 100);
document.getElementById("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const user = document.getElementById("user").value;
  const password = document.getElementById("password").value;
  document.getElementById("greeting").textContent =
    "signed in as " + user + " with a password of " + password.length + " characters";
  setTimeout(() => { state = "online"; draw(); }, 800);
});
</script>
</body></html>
"##;

const HARNESS_STATE: &str = "#installations tr[data-serial=\"RS-1\"] .state";

/// Serves `page` at `/` on a loopback port from a thread (404 for anything else); the
/// thread ends with the test process.
fn serve_page(page: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let (status, body) = if request.starts_with(b"GET / ") {
                ("200 OK", page)
            } else {
                ("404 Not Found", "not found\n")
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

/// The processes (id, name) under `root`, `root` included, that are alive (not zombies).
fn process_tree(root: u32) -> Vec<(u32, String)> {
    remote_service_tests::process_tree(root)
        .into_iter()
        .filter(|pid| is_alive(*pid))
        .map(|pid| {
            let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, name.trim_end().to_string())
        })
        .collect()
}

/// Whether process `pid` is alive (a zombie is not).
fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, tail)| !tail.starts_with('Z'))
    })
}

#[test]
fn the_harness_types_clicks_and_times_a_change_the_page_makes_by_itself() {
    let url = serve_page(HARNESS_PAGE);
    let browser = Browser::start();
    browser.goto(&url);

    assert_eq!(browser.text(HARNESS_STATE).as_deref(), Some("offline"));
    assert_eq!(browser.text("#no-such-element"), None);
    assert!(browser.find("#no-such-element").is_none());
    assert_eq!(browser.find_all("#sign-in input").len(), 2);
    assert!(browser.is_displayed("#sign-in"));

    browser.type_into("#user", "first");
    browser.type_into("#user", "anna");
    browser.type_into("#password", "pw-1234");
    let clicked = Instant::now();
    browser.click("#sign-in button[type=submit]");
    browser.wait_for_text(
        "#greeting",
        "signed in as anna with a password of 7 characters",
        Duration::from_secs(5),
    );
    // The row is replaced ten times a second: the harness reads through that.
    let waited = browser.wait_for_text(HARNESS_STATE, "online", Duration::from_secs(5));
    let since_click = clicked.elapsed();
    assert!(
        since_click >= Duration::from_millis(800),
        "the page changes 800 ms after the click, the harness saw it after {since_click:?}"
    );
    assert!(
        since_click < Duration::from_secs(3),
        "the change came 800 ms after the click, the harness saw it after {since_click:?}"
    );
    assert!(waited <= since_click);

    let never = browser.wait_until(Duration::from_millis(300), |browser| {
        browser.text(HARNESS_STATE).as_deref() == Some("never")
    });
    assert_eq!(never, None);

    let path = Browser::output_path("harness-self-test.png");
    let _ = fs::remove_file(&path);
    browser.screenshot(&path);
    let picture = png::Decoder::new(std::io::BufReader::new(fs::File::open(&path).unwrap()))
        .read_info()
        .expect("the screenshot is a PNG");
    assert_eq!(picture.info().width, 1280, "the window is 1280 pixels wide");
}

#[test]
fn the_harness_keeps_a_screenshot_of_a_failure_and_leaves_no_process_behind() {
    let url = serve_page(HARNESS_PAGE);
    let path = Browser::output_path("harness-failure.png");
    let _ = fs::remove_file(&path);
    let (processes_sender, processes) = mpsc::channel();
    // A test of its own, in a thread named as libtest names a test's thread, that fails
    // with the browser open.
    let failed = std::thread::Builder::new()
        .name("harness-failure".to_string())
        .spawn(move || {
            let browser = Browser::start();
            browser.goto(&url);
            processes_sender
                .send(process_tree(browser.process_group()))
                .unwrap();
            browser.wait_for_text(HARNESS_STATE, "online", Duration::from_millis(300));
        })
        .unwrap()
        .join()
        .expect_err("waiting for a text that never comes fails");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        message,
        format!("{HARNESS_STATE} did not read \"online\" within 300ms; it read \"offline\"")
    );
    assert!(
        fs::read(&path).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"),
        "a screenshot of the failure in {}",
        path.display()
    );

    let processes = processes.recv().unwrap();
    assert!(
        processes.iter().any(|(_, name)| name == "chromedriver"),
        "{processes:?}"
    );
    assert!(
        processes
            .iter()
            .any(|(_, name)| name.starts_with("chrom") && name != "chromedriver"),
        "Chromium runs under chromedriver: {processes:?}"
    );
    let gone = wait_for(Duration::from_secs(5), || {
        processes.iter().all(|(pid, _)| !is_alive(*pid))
    });
    assert!(
        gone.is_some(),
        "left behind: {:?}",
        processes
            .iter()
            .filter(|(pid, _)| is_alive(*pid))
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------
// The back office's page.

/// A back office ([`ORGANISATION`] with [`SERIAL`]) with the help desk `anna` of it, and a
/// second organisation with its own serial number and help desk `otto`; started.
fn backoffice(dir: &Path) -> BackofficeServer {
    let mut backoffice = BackofficeServer::create(dir, Transport::Http);
    for (args, stdin) in [
        (
            vec!["helpdesk", "add", "anna", "--org", ORGANISATION],
            Some("anna-pw-1"),
        ),
        (
            vec!["org", "add", OTHER_ORGANISATION, "--name", "Other Shop"],
            Some(OTHER_CODE),
        ),
        (
            vec!["serial", "add", OTHER_SERIAL, "--org", OTHER_ORGANISATION],
            None,
        ),
        (
            vec!["helpdesk", "add", "otto", "--org", OTHER_ORGANISATION],
            Some("otto-pw-2"),
        ),
    ] {
        backoffice.admin_db(&args, stdin).success();
    }
    backoffice.start();
    backoffice
}

/// Opens the page and signs in, as a person does; when the sign-in was sent.
fn sign_in(browser: &Browser, url: &str, user: &str, password: &str) -> Instant {
    browser.goto(url);
    browser.type_into("#sign-in #user", user);
    browser.type_into("#sign-in #password", password);
    let submitted = Instant::now();
    browser.click("#sign-in [type=submit]");
    submitted
}

/// An installation as docs/protocol.md describes one, with curl: `POST /v1/sessions`, then
/// `GET /v1/events` held open. The verification code and the token go through curl's
/// standard input, never its arguments.
struct Installation {
    url: String,
    token: String,
    stream: Child,
    /// The event stream's lines after `hello`.
    lines: mpsc::Receiver<String>,
}

impl Installation {
    /// Starts a session for `serial` and holds its event stream (until `hello` came).
    fn connect(url: &str, organisation: &str, code: &str, serial: &str, hostname: &str) -> Self {
        let body = serde_json::json!({
            "organisation_id": organisation,
            "verification_code": code,
            "serial_number": serial,
            "client": "remote-service 0.1.0",
            "hostname": hostname,
        });
        let (status, answer) = curl(
            &[
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@-",
                &format!("{url}/v1/sessions"),
            ],
            &body.to_string(),
        );
        assert_eq!(status, 201, "POST /v1/sessions: {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let token = answer["session"].as_str().expect("a session token");

        let mut stream = remote_service_tests::KillOnDrop(
            Command::new("curl")
                .args(["-sN", "-H", "@-", &format!("{url}/v1/events")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("curl (Debian package curl)"),
        );
        writeln!(
            stream.stdin.take().unwrap(),
            "Authorization: Bearer {token}"
        )
        .unwrap();
        let (lines_sender, lines) = mpsc::channel();
        let stdout = stream.stdout.take().unwrap();
        // Reads the stream to its end, as an installation does: curl would die of a closed
        // pipe at the next keep-alive if nobody read, and the session with its stream.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_sender.send(line);
            }
        });
        let hello = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(5)).ok())
            .any(|line| line == "event: hello");
        assert!(hello, "the event stream opens with hello");
        Installation {
            url: url.to_string(),
            token: token.to_string(),
            stream: stream.defuse(),
            lines,
        }
    }

    /// A request with the session's token (through curl's standard input) and a JSON body
    /// (an argument: nothing secret in it); the HTTP status and the answer's body.
    fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> (u16, String) {
        curl(
            &[
                "-X",
                method,
                "-H",
                "@-",
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body.to_string(),
                &format!("{}{path}", self.url),
            ],
            &format!("Authorization: Bearer {}\n", self.token),
        )
    }

    /// `PUT /v1/assistance`: what remote assistance allows now.
    fn report_assistance(&self, body: serde_json::Value) {
        let (status, answer) = self.send("PUT", "/v1/assistance", &body);
        assert_eq!(status, 204, "PUT /v1/assistance {body}: {answer}");
    }

    /// The next `assistance-requested` event on its stream (within 20 s), its data.
    fn next_request(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut event = String::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if event == "assistance-requested" {
                    return serde_json::from_str(data).expect("the event's data is JSON");
                }
            }
        }
        panic!("no assistance-requested event on the installation's stream within 20 s");
    }

    /// `POST /v1/assistance/{request_id}/answer` for the request `request`.
    fn answer(&self, request: &serde_json::Value, body: serde_json::Value) {
        let path = format!(
            "/v1/assistance/{}/answer",
            request["request_id"].as_str().expect("a request id")
        );
        let (status, answer) = self.send("POST", &path, &body);
        assert_eq!(status, 204, "POST {path} {body}: {answer}");
    }

    /// `DELETE /v1/sessions/current`, as an installation that stops does.
    fn end(mut self) {
        assert!(
            matches!(self.stream.try_wait(), Ok(None)),
            "the installation held its event stream until now"
        );
        let (status, answer) = curl(
            &[
                "-X",
                "DELETE",
                "-H",
                "@-",
                &format!("{}/v1/sessions/current", self.url),
            ],
            &format!("Authorization: Bearer {}\n", self.token),
        );
        assert_eq!(status, 204, "DELETE /v1/sessions/current: {answer}");
    }
}

impl Drop for Installation {
    fn drop(&mut self) {
        let _ = self.stream.kill();
        let _ = self.stream.wait();
    }
}

/// Runs curl with `stdin`; the HTTP status and the body.
fn curl(args: &[&str], stdin: &str) -> (u16, String) {
    let mut child = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl (Debian package curl)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let output = String::from_utf8(output.stdout).unwrap();
    let (body, status) = output.rsplit_once('\n').unwrap();
    (status.parse().expect("an HTTP status"), body.to_string())
}

#[test]
fn helpdesk_page_shows_an_installation_online() {
    let scratch = tempfile::tempdir().unwrap();
    let backoffice = backoffice(&scratch.path().join("backoffice"));
    let url = backoffice.url();
    let browser = Browser::start();

    // A wrong password: refused with a message, and no installations shown.
    sign_in(&browser, url, "anna", "wrong password");
    let refused = browser.wait_until(Duration::from_secs(20), |browser| {
        browser
            .text("#sign-in-error")
            .is_some_and(|text| !text.trim().is_empty())
    });
    assert!(refused.is_some(), "#sign-in-error says why");
    assert_eq!(
        browser.text("#sign-in-error").unwrap().trim(),
        "wrong user name or password"
    );
    assert!(!browser.is_displayed("#installations"));
    assert!(browser.find(ROW).is_none());

    // Signed in: the organisation's installation, offline, never seen yet.
    sign_in(&browser, url, "anna", "anna-pw-1");
    browser.wait_for_text(STATE, "offline", Duration::from_secs(5));
    assert!(browser.is_displayed("#installations"));
    assert!(browser.texts(BADGES).is_empty());
    assert!(browser.find(REQUEST_ASSISTANCE).is_none());
    let never_seen = browser.text(LAST_SEEN).expect("a last-seen cell");

    // The installation comes online: the page shows it by itself, connected ("VPN"), with
    // remote assistance not allowed (no "RDP"): it did not say it allows it.
    let connecting = Instant::now();
    let installation = Installation::connect(
        url,
        ORGANISATION,
        VERIFICATION_CODE,
        SERIAL,
        "print-server-01",
    );
    let shown = browser.wait_until(Duration::from_secs(5), |browser| {
        browser.text(STATE).as_deref() == Some("online") && browser.texts(BADGES) == ["VPN"]
    });
    let online_within = connecting.elapsed();
    browser.screenshot(&Browser::output_path("helpdesk-installation-online.png"));
    assert!(
        shown.is_some(),
        "online with the VPN badge within 5 s; the row reads {:?} with badges {:?}",
        browser.text(STATE),
        browser.texts(BADGES)
    );
    eprintln!("online on the page {online_within:?} after the installation started its session");
    assert!(online_within < Duration::from_secs(5), "{online_within:?}");
    let row = browser.text(ROW).unwrap();
    assert!(
        row.contains("print-server-01"),
        "the host name shows: {row:?}"
    );
    assert!(browser.find(VPN_BADGE).is_some(), "VPN with its meaning");
    assert_eq!(browser.text(ALLOWED).as_deref(), Some("not allowed"));
    assert!(
        browser.find(REQUEST_DISABLED).is_some(),
        "the request button is there, disabled while not allowed"
    );

    // It holds its event stream and sends no heartbeat: still online past three heartbeat
    // intervals (the test back office's is 2 s), when a session without either would end.
    let flipped = browser.wait_until(Duration::from_secs(7), |browser| {
        browser.text(STATE).as_deref() != Some("online")
    });
    assert_eq!(
        flipped,
        None,
        "the row read {:?} while the installation held its stream",
        browser.text(STATE)
    );

    // It ends its session: offline at once, with the time it was last seen.
    let ending = Instant::now();
    installation.end();
    browser.wait_for_text(STATE, "offline", Duration::from_secs(5));
    eprintln!(
        "offline on the page {:?} after the session ended",
        ending.elapsed()
    );
    let last_seen = browser.text(LAST_SEEN).expect("a last-seen cell");
    browser.screenshot(&Browser::output_path("helpdesk-installation-offline.png"));
    assert!(
        last_seen != never_seen && last_seen.chars().any(|c| c.is_ascii_digit()),
        "a last-seen time after it was online (before: {never_seen:?}): {last_seen:?}"
    );
    assert!(browser.texts(BADGES).is_empty());
    assert!(browser.find(REQUEST_ASSISTANCE).is_none());
}

#[test]
fn a_help_desk_sees_only_its_own_organisations_installations() {
    let scratch = tempfile::tempdir().unwrap();
    let backoffice = backoffice(&scratch.path().join("backoffice"));
    let url = backoffice.url();
    let _ours = Installation::connect(url, ORGANISATION, VERIFICATION_CODE, SERIAL, "ours");
    let _theirs =
        Installation::connect(url, OTHER_ORGANISATION, OTHER_CODE, OTHER_SERIAL, "theirs");
    let browser = Browser::start();
    sign_in(&browser, url, "otto", "otto-pw-2");
    browser.wait_for_text(
        "#installations tr[data-serial=\"RS-OTHER-0001\"] .state",
        "online",
        Duration::from_secs(5),
    );
    assert!(
        browser.find(ROW).is_none(),
        "otto does not see ORG-TEST's installation"
    );
    assert_eq!(browser.find_all("#installations tr[data-serial]").len(), 1);
}

/// The time `seconds` from now, RFC 3339 in UTC.
fn in_seconds(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Step 11 of the documents ("RDP" and "VPN" visible within 5 seconds) and the help desk's
/// side of remote assistance, with an installation made of the protocol's requests: what
/// it allows shows as the badges, "allowed until …" and the request button; a request shows
/// as waiting, then as each answer; a remote session and a revoke show by themselves.
#[test]
fn the_page_shows_when_remote_assistance_is_possible_and_every_answer() {
    let scratch = tempfile::tempdir().unwrap();
    let backoffice = backoffice(&scratch.path().join("backoffice"));
    let url = backoffice.url();
    let installation = Installation::connect(
        url,
        ORGANISATION,
        VERIFICATION_CODE,
        SERIAL,
        "print-server-01",
    );
    let browser = Browser::start();

    // Connected, not allowed: "VPN" alone, the button there but disabled.
    sign_in(&browser, url, "anna", "anna-pw-1");
    browser.wait_for_text(STATE, "online", Duration::from_secs(20));
    browser.wait_for_text(ALLOWED, "not allowed", Duration::from_secs(30));
    assert_eq!(browser.texts(BADGES), ["VPN"]);
    assert!(browser.find(VPN_BADGE).is_some(), "VPN says what it means");
    assert!(browser.find(REQUEST_DISABLED).is_some());
    assert_eq!(
        browser.text(REQUEST_ASSISTANCE).as_deref(),
        Some("Request remote assistance")
    );

    // The installation allows remote assistance: "RDP" and "VPN" within 5 s.
    let until = in_seconds(72 * 3600);
    let allowing = Instant::now();
    installation.report_assistance(serde_json::json!({
        "allowed": true, "until": until, "teamviewer_id": "123 456 789", "session": null,
    }));
    let shown = browser.wait_until(Duration::from_secs(20), |browser| {
        browser.texts(BADGES) == ["RDP", "VPN"] && browser.find(REQUEST_ENABLED).is_some()
    });
    let took = allowing.elapsed();
    browser.screenshot(&Browser::output_path("helpdesk-assistance-allowed.png"));
    assert!(
        shown.is_some(),
        "RDP and VPN with the button enabled; the badges read {:?}",
        browser.texts(BADGES)
    );
    eprintln!("RDP and VPN on the page {took:?} after the installation allowed assistance");
    assert!(browser.find(RDP_BADGE).is_some(), "RDP says what it means");
    let allowed = browser.text(ALLOWED).unwrap_or_default();
    assert!(
        allowed.starts_with("allowed until ") && allowed.chars().any(|c| c.is_ascii_digit()),
        "{allowed:?}"
    );

    // Asked and accepted: the page shows the TeamViewer ID to connect to.
    browser.click(REQUEST_ASSISTANCE);
    let request = installation.next_request();
    assert_eq!(request["help_desk_user"], "anna");
    assert_eq!(request["organisation"], "Test Print Shop");
    assert_eq!(request["answer_within_s"], 300);
    browser.wait_for_text(
        ASSISTANCE,
        "waiting for the answer",
        Duration::from_secs(30),
    );
    assert!(
        browser
            .find(&format!("{ASSISTANCE}[title^=\"requested by anna at \"]"))
            .is_some(),
        "who asked, and when"
    );
    let answering = Instant::now();
    installation.answer(
        &request,
        serde_json::json!({"answer": "accepted", "teamviewer_id": "123 456 789", "until": until}),
    );
    let accepted = browser.wait_until(Duration::from_secs(30), |browser| {
        browser.text(ASSISTANCE).is_some_and(|text| {
            text.starts_with("accepted: connect to TeamViewer ID 123 456 789 (allowed until ")
        })
    });
    browser.screenshot(&Browser::output_path("helpdesk-assistance-accepted.png"));
    assert!(accepted.is_some(), "{:?}", browser.text(ASSISTANCE));
    eprintln!(
        "the acceptance on the page {:?} after the installation answered",
        answering.elapsed()
    );

    // Denied, not answered in time, not allowed (a request that raced with a revoke).
    for (answer, shown) in [
        ("denied", "denied"),
        ("no-answer", "no answer"),
        ("not-allowed", "not allowed"),
    ] {
        browser.click(REQUEST_ENABLED);
        let request = installation.next_request();
        browser.wait_for_text(
            ASSISTANCE,
            "waiting for the answer",
            Duration::from_secs(30),
        );
        installation.answer(&request, serde_json::json!({"answer": answer}));
        browser.wait_for_text(ASSISTANCE, shown, Duration::from_secs(30));
    }

    // A remote session is on; its help-desk user shows as text, markup and all.
    installation.report_assistance(serde_json::json!({
        "allowed": true, "until": until, "teamviewer_id": "123 456 789",
        "session": {"help_desk_user": "anna <b>bold</b>", "started_at": in_seconds(0)},
    }));
    let in_session = browser.wait_until(Duration::from_secs(30), |browser| {
        browser
            .text(SESSION)
            .is_some_and(|text| text.starts_with("remote session by anna <b>bold</b> since "))
    });
    browser.screenshot(&Browser::output_path("helpdesk-remote-session.png"));
    assert!(in_session.is_some(), "{:?}", browser.text(SESSION));
    assert!(browser.find(&format!("{SESSION} b")).is_none(), "no markup");

    // Revoked: "RDP" goes, the button is disabled, "not allowed".
    let revoking = Instant::now();
    installation.report_assistance(serde_json::json!({"allowed": false}));
    let revoked = browser.wait_until(Duration::from_secs(30), |browser| {
        browser.texts(BADGES) == ["VPN"]
            && browser.find(REQUEST_DISABLED).is_some()
            && browser.text(ALLOWED).as_deref() == Some("not allowed")
    });
    assert!(
        revoked.is_some(),
        "the badges read {:?}, the allowance {:?}",
        browser.texts(BADGES),
        browser.text(ALLOWED)
    );
    eprintln!(
        "not allowed on the page {:?} after the installation revoked",
        revoking.elapsed()
    );
    assert_eq!(browser.text(SESSION).as_deref(), Some(""));

    // The installation goes: no badges, no button.
    installation.end();
    browser.wait_for_text(STATE, "offline", Duration::from_secs(5));
    assert!(browser.texts(BADGES).is_empty());
    assert!(browser.find(REQUEST_ASSISTANCE).is_none());
    assert_eq!(browser.text(ALLOWED).as_deref(), Some("not allowed"));
}

// ---------------------------------------------------------------------------------------
// The same page with the real installation, `remote-service daemon`.

/// A scratch installation configured for `backoffice`, with its licence.
fn installation_for(backoffice: &BackofficeServer, scratch: &Scratch) {
    configure_installation(backoffice, scratch, |args| daemon_command(scratch, args));
}

/// This test is about the page: the installation keeps its code in the 0600 file (the
/// keyring is the connection tests' subject).
fn daemon_command(scratch: &Scratch, args: &[&str]) -> Command {
    let mut command = scratch.command(args);
    command.env("REMOTE_SERVICE_SECRETS", "file");
    command
}

/// Starts the daemon and waits until its light is green.
fn start_daemon(scratch: &Scratch) -> Daemon {
    let daemon = Scratch::spawn_daemon(daemon_command(scratch, &["daemon"]));
    let green = wait_for(Duration::from_secs(10), || {
        let output = daemon_command(scratch, &["status", "--json"])
            .output()
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        status["connection"]["state"] == "green"
    });
    assert!(green.is_some(), "the installation connects");
    daemon
}

/// The time from signing in to "online" on the page is printed (about a second here); the
/// test waits for it with a generous deadline.
#[test]
fn the_help_desk_sees_a_running_installation_online_once_signed_in() {
    let scratch = Scratch::new();
    let backoffice = backoffice(&scratch.root().join("backoffice"));
    installation_for(&backoffice, &scratch);
    let daemon = start_daemon(&scratch);
    let browser = Browser::start();

    let signed_in = sign_in(&browser, backoffice.url(), "anna", "anna-pw-1");
    browser.wait_for_text(STATE, "online", Duration::from_secs(30));
    eprintln!(
        "online on the page {:?} after signing in",
        signed_in.elapsed()
    );
    // Connected, and remote assistance is not allowed (its licence has not the option).
    let connected = browser.wait_until(Duration::from_secs(20), |browser| {
        browser.texts(BADGES) == ["VPN"]
    });
    assert!(
        connected.is_some(),
        "the VPN badge alone; the badges read {:?}",
        browser.texts(BADGES)
    );
    assert_eq!(browser.text(ALLOWED).as_deref(), Some("not allowed"));
    assert!(
        browser
            .find(&format!(
                "{REQUEST_DISABLED}[title=\"remote assistance is not allowed on this installation\"]"
            ))
            .is_some(),
        "the request button is disabled and says why"
    );
    browser.screenshot(&Browser::output_path("helpdesk-online.png"));

    // The installation stops: offline with the time it was last seen, by itself.
    assert_eq!(daemon.terminate(), Some(0));
    browser.wait_for_text(STATE, "offline", Duration::from_secs(30));
    let last_seen = browser.text(LAST_SEEN).unwrap_or_default();
    assert!(
        last_seen.chars().any(|c| c.is_ascii_digit()),
        "a last-seen time: {last_seen:?}"
    );
    assert!(browser.texts(BADGES).is_empty());

    // It comes back while the help desk watches: online again, without reloading.
    let _daemon = start_daemon(&scratch);
    browser.wait_for_text(STATE, "online", Duration::from_secs(30));
    let connected = browser.wait_until(Duration::from_secs(20), |browser| {
        browser.texts(BADGES) == ["VPN"]
    });
    assert!(
        connected.is_some(),
        "connected again: {:?}",
        browser.texts(BADGES)
    );
}
