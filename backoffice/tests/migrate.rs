//! `migrate --from FILE.sqlite --to postgres://…` as a vendor runs it: a SQLite back office
//! populated with the real commands and the real protocol (the binary on a loopback port,
//! spoken to with curl, Debian package `curl`), moved into a real PostgreSQL server of the
//! test's own (`support::postgres_server`, Debian package `postgresql`), then served from
//! there: installations sign in with their old codes, the help desk with its old password.

// Each test file uses a part of the shared support.
#[allow(dead_code)]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::cli::{self, Answer, Process};
use support::http::{self, in_seconds, Stream};
use support::postgres_server::PostgresServer;

/// The schema version this back office makes (the last of its migrations).
const SCHEMA_VERSION: i64 = 3;
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
        let mut command = cli::command(args);
        command.env_remove("REMOTE_SERVICE_BACKOFFICE_DB");
        cli::run(command, stdin)
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
        self.ok_on(db, &cli::licence_issue(serial, features, &key), None)
            .stdout
    }

    /// The target's URL as `migrate` shows it: without the password.
    fn shown_url(&self) -> String {
        format!(
            "postgres://postgres:***@127.0.0.1:{}/office",
            self.postgres.port()
        )
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
        let command = cli::command(&[
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-interval",
            "5",
        ]);
        let (process, url) = cli::serve(command, Path::new(&self.path(log_name)));
        Server {
            url,
            process,
            dir: self.dir.path().to_path_buf(),
        }
    }
}

/// A running `serve`.
struct Server {
    process: Process,
    url: String,
    dir: PathBuf,
}

impl Server {
    /// A request with curl; headers and body through files.
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.url);
        http::request(&self.dir, &url, &[], method, token, body)
    }

    /// A new session of `serial` with `code`: the answer.
    fn session(&self, organisation: &str, code: &str, serial: &str) -> Answer {
        let hostname = format!("host-of-{serial}");
        let body = http::session_body_from(organisation, code, serial, &hostname);
        self.request("POST", "/v1/sessions", None, Some(&body))
    }

    /// A session that must be made: its token.
    fn token(&self, organisation: &str, code: &str, serial: &str) -> String {
        let answer = self.session(organisation, code, serial);
        assert_eq!(answer.code, 201, "{}", answer.stdout);
        answer.json()["session"].as_str().unwrap().to_string()
    }

    /// Signs a help desk in; the cookie goes to the jar file it returns.
    fn sign_in(&self, user: &str, password: &str) -> (Answer, String) {
        http::sign_in(&self.dir, &self.url, user, password)
    }

    /// Follows the session's event stream with curl: (event, data) pairs.
    fn events(&self, token: &str) -> Stream {
        let header = http::bearer(&self.dir, "stream-headers", token);
        http::follow(&format!("{}/v1/events", self.url), &["-H", &header])
    }

    /// Stops the server with SIGTERM and waits for it (it writes last-seen times first).
    fn stop(mut self) {
        self.process.terminate();
        let status = self.process.0.wait().unwrap();
        assert!(status.success(), "serve stopped with {status}");
    }
}

/// The first event named `name` within 20 s (others are skipped).
fn next_event(events: &Stream, name: &str) -> serde_json::Value {
    events
        .named(Duration::from_secs(20), name)
        .unwrap_or_else(|| panic!("no {name} event within 20 s"))
}

/// A `migrate` that failed: exit code 1, nothing on standard output, no password shown.
fn assert_refused(answer: &Answer) {
    assert_eq!(answer.code, 1, "{}", answer.stdout);
    answer.assert_no_password();
    assert_eq!(answer.stdout, "");
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

/// Organisation ORG-1 (code [`CODE`]) on the SQLite file `db`, its serial numbers SN-1 and
/// SN-2 and its help-desk account `hd` (password [`HELPDESK_PASSWORD`]).
fn add_shop_one(setup: &Setup, db: &str) {
    setup.ok_on(
        db,
        &["org", "add", "ORG-1", "--name", "Shop One"],
        Some(CODE),
    );
    setup.ok_on(
        db,
        &["serial", "add", "SN-1", "SN-2", "--org", "ORG-1"],
        None,
    );
    setup.ok_on(
        db,
        &["helpdesk", "add", "hd", "--org", "ORG-1"],
        Some(HELPDESK_PASSWORD),
    );
}

/// A SQLite back office made with the real commands: two organisations, three serial
/// numbers, a help-desk account, three licences (two for SN-1), and through the protocol an
/// install report of SN-1 (two folders) and an assistance request to it. The licence files
/// of SN-1, in order.
fn populate_sqlite(setup: &Setup) -> Vec<String> {
    let db = setup.sqlite();
    add_shop_one(setup, &db);
    setup.ok_on(
        &db,
        &["org", "add", "ORG-2", "--name", "Shop Two"],
        Some(OTHER_CODE),
    );
    setup.ok_on(&db, &["serial", "add", "SN-3", "--org", "ORG-2"], None);
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
    let until = in_seconds(3600);
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
    let asked = http::ask(&server.dir, &server.url, &jar, "SN-1");
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
    let shown_url = setup.shown_url();
    assert_eq!(
        migrated.stdout,
        format!(
            "migrated {} (schema version {SCHEMA_VERSION}) to {shown_url}\n\
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
    let url = format!("{}/helpdesk/installations", server.url);
    let listed = http::request(&server.dir, &url, &["-b", &jar], "GET", None, None);
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
    assert_refused(&again);
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
    add_shop_one(&setup, &db);
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
    assert_refused(&failed);
    let shown_url = setup.shown_url();
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
    assert_eq!(version, SCHEMA_VERSION, "the schema was migrated first");

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
        format!("remote-service-backoffice: the database {db}: the database's schema is version 99, this back office knows up to {SCHEMA_VERSION}: upgrade the back office\n")
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
