//! `migrate --from FILE.sqlite --to postgres://…` as a vendor runs it: a SQLite back office
//! populated with the real commands and the real protocol (the binary on a loopback port,
//! spoken to with curl, Debian package `curl`), moved into a real PostgreSQL server of the
//! test's own (`support::postgres_server`, Debian package `postgresql`), then served from
//! there: installations sign in with their old codes, the help desk with its old password.

// The harness serves several test files; this one does not restart its server.
#[allow(dead_code)]
mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::postgres_server::{self, PostgresServer};

const BINARY: &str = env!("CARGO_BIN_EXE_remote-service-backoffice");
const CODE: &str = "org-code-5521";
const OTHER_CODE: &str = "org-code-7780";
const HELPDESK_PASSWORD: &str = "hd-password-31";

/// Every table that holds data, and what `migrate` calls its rows.
const DATA_TABLES: &[&str] = &[
    "organisations",
    "serials",
    "helpdesk_users",
    "licences",
    "install_reports",
    "assistance",
    "sessions",
    "helpdesk_sessions",
    "nodes",
];

/// What a command or request gave.
struct Answer {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.stdout))
    }

    /// Neither output shows the PostgreSQL password.
    fn assert_no_password(&self) {
        for output in [&self.stdout, &self.stderr] {
            assert!(
                !output.contains(postgres_server::PASSWORD),
                "the password was shown: {output}"
            );
        }
    }
}

/// A scratch folder with a SQLite back office (`office.sqlite`), a key pair, and a
/// PostgreSQL server with an empty database `office`.
struct Setup {
    dir: tempfile::TempDir,
    postgres: PostgresServer,
    url: String,
}

fn setup() -> Setup {
    let postgres = PostgresServer::start();
    let url = postgres.create_database("office");
    let setup = Setup {
        dir: tempfile::tempdir().unwrap(),
        postgres,
        url,
    };
    let keys = setup.path("keys");
    setup.ok(&["keys", "generate", "--out", &keys], None);
    setup
}

impl Setup {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn sqlite(&self) -> String {
        self.path("office.sqlite")
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Answer {
        let mut child = Command::new(BINARY)
            .args(args)
            .env_remove("REMOTE_SERVICE_BACKOFFICE_DB")
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
        }
    }

    /// A command that must succeed.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> Answer {
        let answer = self.run(args, stdin);
        assert_eq!(answer.code, 0, "{args:?}: {}", answer.stderr);
        answer
    }

    /// A command on the database `db` that must succeed.
    fn ok_on(&self, db: &str, args: &[&str], stdin: Option<&str>) -> Answer {
        let mut all = args.to_vec();
        all.extend(["--db", db]);
        self.ok(&all, stdin)
    }

    /// `licence issue SERIAL` on `db`; the licence file.
    fn issue(&self, db: &str, serial: &str, features: &str) -> String {
        let key = self.path("keys/licence.key");
        let args = [
            "licence",
            "issue",
            serial,
            "--features",
            features,
            "--maintenance-through",
            "2027-12-31",
            "--key",
            &key,
        ];
        self.ok_on(db, &args, None).stdout
    }

    fn migrate(&self, from: &str) -> Answer {
        self.run(&["migrate", "--from", from, "--to", &self.url], None)
    }

    /// The rows of every data table of the target, by table: what PostgreSQL holds.
    fn target_counts(&self) -> Vec<(String, i64)> {
        let mut client = self.postgres.client("office").unwrap();
        DATA_TABLES
            .iter()
            .map(|table| {
                let count: i64 = client
                    .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                    .unwrap()
                    .get(0);
                (table.to_string(), count)
            })
            .collect()
    }

    /// Everything the target holds, as `pg_dump` writes it (without the random key of its
    /// `\restrict` lines).
    fn dump(&self) -> String {
        self.postgres
            .dump("office")
            .lines()
            .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn assert_target_empty(&self) {
        for (table, count) in self.target_counts() {
            assert_eq!(count, 0, "the target's {table} holds rows");
        }
    }

    /// Starts `serve` on `db`.
    fn serve(&self, db: &str, log_name: &str) -> Server {
        let log = fs::File::create(self.path(log_name)).unwrap();
        let mut child = Command::new(BINARY)
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
            .args(["--heartbeat-interval", "5"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            dir: self.dir.path().to_path_buf(),
        };
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
        server.url = line
            .strip_prefix("remote-service-backoffice listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        server
    }
}

/// A running `serve`.
struct Server {
    child: Option<Child>,
    url: String,
    dir: std::path::PathBuf,
}

impl Server {
    /// A request with curl (extra options: a cookie jar); headers and body through files.
    fn curl(
        &self,
        options: &[&str],
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let headers = self.dir.join("headers");
        let mut header_text = "Content-Type: application/json\n".to_string();
        if let Some(token) = token {
            header_text.push_str(&format!("Authorization: Bearer {token}\n"));
        }
        fs::write(&headers, header_text).unwrap();
        let mut command = Command::new("curl");
        command
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("-H")
            .arg(format!("@{}", headers.display()))
            .args(options);
        if let Some(body) = body {
            let file = self.dir.join("body");
            fs::write(&file, body).unwrap();
            command
                .arg("--data-binary")
                .arg(format!("@{}", file.display()));
        }
        let output = command
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl (Debian package curl)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Answer {
            code: status.trim().parse().unwrap_or(0),
            stdout: body.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        self.curl(&[], method, path, token, body)
    }

    /// A new session of `serial` with `code`: the answer.
    fn session(&self, organisation: &str, code: &str, serial: &str) -> Answer {
        let body = serde_json::json!({
            "organisation_id": organisation, "verification_code": code, "serial_number": serial,
            "licence_sequence": 0, "client": "test", "hostname": format!("host-of-{serial}"),
        });
        self.request("POST", "/v1/sessions", None, Some(&body.to_string()))
    }

    /// A session that must be made: its token.
    fn token(&self, organisation: &str, code: &str, serial: &str) -> String {
        let answer = self.session(organisation, code, serial);
        assert_eq!(answer.code, 201, "{}", answer.stdout);
        answer.json()["session"].as_str().unwrap().to_string()
    }

    /// Signs a help desk in; the cookie goes to the jar file it returns.
    fn sign_in(&self, user: &str, password: &str) -> (Answer, String) {
        let jar = self.dir.join(format!("jar-{user}"));
        let jar = jar.to_string_lossy().into_owned();
        let body = serde_json::json!({"user": user, "password": password}).to_string();
        let answer = self.curl(
            &["-c", &jar],
            "POST",
            "/helpdesk/sign-in",
            None,
            Some(&body),
        );
        (answer, jar)
    }

    /// Follows the session's event stream with curl: (event, data) pairs.
    fn events(&self, token: &str) -> mpsc::Receiver<(String, serde_json::Value)> {
        let headers = self.dir.join("stream-headers");
        fs::write(&headers, format!("Authorization: Bearer {token}\n")).unwrap();
        let mut child = Command::new("curl")
            .args(["-sN", "-H"])
            .arg(format!("@{}", headers.display()))
            .arg(format!("{}/v1/events", self.url))
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
                    let data = serde_json::from_str(data).unwrap();
                    if sender.send((name.clone(), data)).is_err() {
                        break;
                    }
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        });
        receiver
    }

    /// Stops the server with SIGTERM and waits for it (it writes last-seen times first).
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(status.success(), "serve stopped with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first event named `name` within 20 s (others are skipped).
fn next_event(
    events: &mpsc::Receiver<(String, serde_json::Value)>,
    name: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok((event, data)) if event == name => return data,
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    panic!("no {name} event within 20 s");
}

/// The SQLite file and the data SQLite keeps beside it (`-wal`, `-journal`): each name with
/// its size and a hash of its bytes. Not the `-shm` file: it is the shared memory in which
/// every reader of a WAL database, read-only or not, marks what it reads.
fn sqlite_files(dir: &Path) -> Vec<String> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("office.sqlite") && !name.ends_with("-shm")
        })
        .map(|entry| {
            let bytes = fs::read(entry.path()).unwrap();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            format!(
                "{} {} bytes {:016x}",
                entry.file_name().to_string_lossy(),
                bytes.len(),
                hasher.finish()
            )
        })
        .collect();
    files.sort();
    files
}

/// A SQLite back office made with the real commands: two organisations, three serial
/// numbers, a help-desk account, three licences (two for SN-1), and through the protocol an
/// install report of SN-1 (two folders) and an assistance request to it. The licence files
/// of SN-1, in order.
fn populate_sqlite(setup: &Setup) -> Vec<String> {
    let db = setup.sqlite();
    setup.ok_on(
        &db,
        &["org", "add", "ORG-1", "--name", "Shop One"],
        Some(CODE),
    );
    setup.ok_on(
        &db,
        &["org", "add", "ORG-2", "--name", "Shop Two"],
        Some(OTHER_CODE),
    );
    setup.ok_on(
        &db,
        &["serial", "add", "SN-1", "SN-2", "--org", "ORG-1"],
        None,
    );
    setup.ok_on(&db, &["serial", "add", "SN-3", "--org", "ORG-2"], None);
    setup.ok_on(
        &db,
        &["helpdesk", "add", "hd", "--org", "ORG-1"],
        Some(HELPDESK_PASSWORD),
    );
    let first = setup.issue(&db, "SN-1", "users=10");
    let second = setup.issue(&db, "SN-1", "auto-licence-update,users=25");
    setup.issue(&db, "SN-3", "users=5");

    let server = setup.serve(&db, "sqlite.log");
    let token = server.token("ORG-1", CODE, "SN-1");
    let report = server.request(
        "POST", "/v1/licence/reports", Some(&token),
        Some(r#"{"licence_id": "LIC-SN-1-2", "sequence": 2, "targets": [{"folder": "/srv/fls", "ok": true}, {"folder": "/mnt/x", "ok": false, "error": "read-only"}]}"#),
    );
    assert_eq!(report.code, 204, "{}", report.stdout);
    let until = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let allowed = server.request(
        "PUT",
        "/v1/assistance",
        Some(&token),
        Some(
            &serde_json::json!({
                "allowed": true, "until": until, "teamviewer_id": "123 456 789", "session": null,
            })
            .to_string(),
        ),
    );
    assert_eq!(allowed.code, 204, "{}", allowed.stdout);
    // The help desk asks an installation whose stream is open; its answer is recorded.
    let events = server.events(&token);
    next_event(&events, "hello");
    let (signed_in, jar) = server.sign_in("hd", HELPDESK_PASSWORD);
    assert_eq!(signed_in.code, 204, "{}", signed_in.stdout);
    let asked = server.curl(
        &["-b", &jar],
        "POST",
        "/helpdesk/installations/SN-1/assistance",
        None,
        Some(r#"{"message": "may we?"}"#),
    );
    assert_eq!(asked.code, 202, "{}", asked.stdout);
    let request_id = asked.json()["request_id"].as_str().unwrap().to_string();
    next_event(&events, "assistance-requested");
    let body =
        serde_json::json!({"answer": "accepted", "teamviewer_id": "123 456 789", "until": until});
    let answered = server.request(
        "POST",
        &format!("/v1/assistance/{request_id}/answer"),
        Some(&token),
        Some(&body.to_string()),
    );
    assert_eq!(answered.code, 204, "{}", answered.stdout);
    server.stop();
    vec![first, second]
}

#[test]
fn a_sqlite_back_office_moves_whole_to_postgres_and_serves_from_there() {
    let setup = setup();
    let licences = populate_sqlite(&setup);
    let before = sqlite_files(setup.dir.path());

    let migrated = setup.migrate(&setup.sqlite());
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    migrated.assert_no_password();
    let shown_url = format!(
        "postgres://postgres:***@127.0.0.1:{}/office",
        setup.postgres.port()
    );
    assert_eq!(
        migrated.stdout,
        format!(
            "migrated {} (schema version 2) to {shown_url}\n\
             organisations: 2, serial numbers: 3, help-desk accounts: 1, licences: 3, install reports: 2, assistance requests: 1\n",
            setup.sqlite()
        )
    );
    assert_eq!(
        sqlite_files(setup.dir.path()),
        before,
        "the SQLite file (and every file beside it) is as it was"
    );
    let counts = setup.target_counts();
    assert_eq!(
        counts.iter().map(|(_, count)| *count).collect::<Vec<_>>(),
        [2, 3, 1, 3, 2, 1, 0, 0, 0],
        "{counts:?}"
    );

    // Served from PostgreSQL: the installation signs in with its old code and is told of
    // its latest licence, which it downloads exactly as it was issued.
    let server = setup.serve(&setup.url, "postgres.log");
    assert_eq!(server.session("ORG-1", "not-the-code", "SN-1").code, 401);
    let token = server.token("ORG-1", CODE, "SN-1");
    server.token("ORG-2", OTHER_CODE, "SN-3");
    let events = server.events(&token);
    next_event(&events, "hello");
    assert_eq!(next_event(&events, "licence-available")["sequence"], 2);
    let heartbeat = server.request(
        "POST",
        "/v1/heartbeat",
        Some(&token),
        Some(r#"{"licence_sequence": 0}"#),
    );
    assert_eq!(heartbeat.code, 200, "{}", heartbeat.stdout);
    assert_eq!(heartbeat.json()["latest_licence_sequence"], 2);
    let download = server.request("GET", "/v1/licence", Some(&token), None);
    assert_eq!(download.code, 200);
    assert_eq!(
        download.stdout, licences[1],
        "the latest licence, as issued"
    );

    // The help desk signs in with its old password and sees its installations.
    let (wrong, _) = server.sign_in("hd", "not-the-password");
    assert_eq!(wrong.code, 401);
    let (signed_in, jar) = server.sign_in("hd", HELPDESK_PASSWORD);
    assert_eq!(signed_in.code, 204, "{}", signed_in.stdout);
    let listed = server.curl(&["-b", &jar], "GET", "/helpdesk/installations", None, None);
    assert_eq!(listed.code, 200, "{}", listed.stdout);
    let listed = listed.json();
    let serials: Vec<_> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|row| row["serial_number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials, ["SN-1", "SN-2"], "{listed}");

    // The reports and the request came along; a new licence gets the next sequence and a
    // row number past the copied ones, and is announced.
    let reports = setup.ok_on(&setup.url, &["licence", "reports", "SN-1"], None);
    assert_eq!(reports.stdout.lines().count(), 2, "{}", reports.stdout);
    assert!(
        reports.stdout.contains(r#""error":"read-only""#),
        "{}",
        reports.stdout
    );
    let third = setup.issue(&setup.url, "SN-1", "users=50");
    assert_eq!(next_event(&events, "licence-available")["sequence"], 3);
    let download = server.request("GET", "/v1/licence", Some(&token), None);
    assert_eq!(download.stdout, third);
    let mut client = setup.postgres.client("office").unwrap();
    let ids: Vec<i64> = client
        .query("SELECT id FROM licences ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let assistance = client
        .query_one("SELECT message, answer, teamviewer_id FROM assistance", &[])
        .unwrap();
    let assistance: (String, String, String) =
        (assistance.get(0), assistance.get(1), assistance.get(2));
    assert_eq!(
        assistance,
        ("may we?".into(), "accepted".into(), "123 456 789".into())
    );
    server.stop();

    // A second migration into the database, now not empty, is refused and changes nothing.
    let dumped = setup.dump();
    let again = setup.migrate(&setup.sqlite());
    assert_eq!(again.code, 1, "{}", again.stdout);
    again.assert_no_password();
    assert_eq!(again.stdout, "");
    assert!(
        again.stderr.contains(&format!(
            "the database {shown_url} is not empty (organisations: 2, serial numbers: 3, help-desk accounts: 1, licences: 4, install reports: 2, assistance requests: 1"
        )) && again.stderr.contains("migrate only into an empty database; nothing was changed"),
        "{}",
        again.stderr
    );
    assert_eq!(setup.dump(), dumped);
}

/// A copy that fails half way (the source holds a licence of a serial number it does not
/// have, as a file written by a program that turned SQLite's foreign keys off may) leaves the target empty; once the row is gone the same target takes the copy.
#[test]
fn a_copy_that_fails_half_way_leaves_the_target_empty() {
    let setup = setup();
    let db = setup.sqlite();
    setup.ok_on(
        &db,
        &["org", "add", "ORG-1", "--name", "Shop One"],
        Some(CODE),
    );
    setup.ok_on(
        &db,
        &["serial", "add", "SN-1", "SN-2", "--org", "ORG-1"],
        None,
    );
    setup.ok_on(
        &db,
        &["helpdesk", "add", "hd", "--org", "ORG-1"],
        Some(HELPDESK_PASSWORD),
    );
    setup.issue(&db, "SN-1", "users=10");
    setup.issue(&db, "SN-2", "users=10");
    let damaged = rusqlite::Connection::open(&db).unwrap();
    damaged.pragma_update(None, "foreign_keys", "OFF").unwrap();
    damaged
        .execute(
            "INSERT INTO licences (id, serial, sequence, licence_id, text, issued_at) VALUES (7, 'SN-GONE', 1, 'LIC-SN-GONE-1', 'text', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();

    let failed = setup.migrate(&db);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    failed.assert_no_password();
    assert_eq!(failed.stdout, "");
    let shown_url = format!(
        "postgres://postgres:***@127.0.0.1:{}/office",
        setup.postgres.port()
    );
    assert!(
        failed.stderr.contains(&format!(
            "cannot migrate {db} to {shown_url}: cannot copy row 7 of the table licences into {shown_url}: "
        )) && failed.stderr.contains("violates foreign key constraint"),
        "{}",
        failed.stderr
    );
    // The organisation, serial numbers and account copied before the licence went too.
    setup.assert_target_empty();
    let mut client = setup.postgres.client("office").unwrap();
    let version: i64 = client
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 2, "the schema was migrated first");

    damaged
        .execute("DELETE FROM licences WHERE id = 7", [])
        .unwrap();
    drop(damaged);
    let migrated = setup.migrate(&db);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    assert!(
        migrated.stdout.ends_with(
            "organisations: 1, serial numbers: 2, help-desk accounts: 1, licences: 2, install reports: 0, assistance requests: 0\n"
        ),
        "{}",
        migrated.stdout
    );
}

/// What `migrate` refuses before it writes anything: a source whose schema is newer than
/// this back office knows, a file that is no SQLite database, a target that is no
/// PostgreSQL URL, a source that is none.
#[test]
fn a_newer_or_corrupt_source_and_a_wrong_target_are_refused_and_nothing_is_written() {
    let setup = setup();
    let db = setup.sqlite();
    setup.ok_on(
        &db,
        &["org", "add", "ORG-1", "--name", "Shop One"],
        Some(CODE),
    );
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO schema_version (version, what, applied_at) VALUES (99, 'newer', 'now')",
            [],
        )
        .unwrap();
    let newer = setup.migrate(&db);
    assert_eq!(newer.code, 1);
    assert_eq!(
        newer.stderr,
        format!("remote-service-backoffice: the database {db}: the database's schema is version 99, this back office knows up to 2: upgrade the back office\n")
    );

    let corrupt = setup.path("corrupt.sqlite");
    fs::write(&corrupt, "this is not a database, only text ".repeat(200)).unwrap();
    let refused = setup.migrate(&corrupt);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("file is not a database"),
        "{}",
        refused.stderr
    );

    let missing = setup.path("missing.sqlite");
    let refused = setup.migrate(&missing);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains(&format!("cannot open the database {missing} read-only")),
        "{}",
        refused.stderr
    );
    assert!(!Path::new(&missing).exists(), "no file was made");

    let to_sqlite = setup.run(
        &[
            "migrate",
            "--from",
            &db,
            "--to",
            &setup.path("other.sqlite"),
        ],
        None,
    );
    assert_eq!(to_sqlite.code, 1);
    assert!(
        to_sqlite.stderr.contains("is not a PostgreSQL URL"),
        "{}",
        to_sqlite.stderr
    );
    for answer in [&newer, &refused, &to_sqlite] {
        answer.assert_no_password();
    }

    // Nothing was made in the target: not even its schema.
    let mut client = setup.postgres.client("office").unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}
