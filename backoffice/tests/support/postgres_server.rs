//! A real PostgreSQL server for a test (Debian package `postgresql`): `initdb` into a
//! scratch folder, `postgres` on a free loopback port with its Unix socket in that folder,
//! stopped when the value is dropped, whether the test passed or not.
//!
//! PostgreSQL refuses to run as root; as root (here and in CI) the harness runs `initdb`
//! and `postgres` as `nobody` through `setpriv`, and gives that user the data folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `postgresql` package puts the server's programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The superuser's name and password. The back office connects over TCP with the password
/// (scram-sha-256), as a real deployment would; the harness itself over the Unix socket.
pub const SUPERUSER: &str = "postgres";
pub const PASSWORD: &str = "pg-pass-7431-secret";

/// A running PostgreSQL server in a scratch folder.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    server: Option<Child>,
    port: u16,
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `program` from Debian's PostgreSQL, as `nobody` when we are root.
fn postgres_command(program: &str) -> Command {
    let path = Path::new(BIN).join(program);
    assert!(
        path.exists(),
        "{} is missing: install the Debian package postgresql",
        path.display()
    );
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(path);
        command
    } else {
        Command::new(path)
    }
}

/// Gives `path` to `nobody` when we are root (the server runs as `nobody` then).
fn hand_over(path: &Path) {
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(65534), Some(65534))
            .unwrap_or_else(|error| panic!("cannot give {} to nobody: {error}", path.display()));
    }
}

/// A loopback port nothing listens on now (the server may still lose it to another
/// process before it binds: [`PostgresServer::start`] tries again then).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl PostgresServer {
    /// Makes a cluster and starts its server; returns once it accepts connections.
    pub fn start() -> PostgresServer {
        let dir = tempfile::tempdir().expect("a scratch folder");
        {
            use std::os::unix::fs::PermissionsExt;
            // `nobody` must reach the folders inside.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        let password_file = dir.path().join("password");
        fs::create_dir(&data).unwrap();
        fs::create_dir(&socket).unwrap();
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        for path in [&data, &socket, &password_file] {
            hand_over(path);
        }
        let initdb = postgres_command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .args([
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut server = PostgresServer {
            dir,
            server: None,
            port: 0,
        };
        for _attempt in 0..5 {
            if server.try_start(free_port()) {
                return server;
            }
        }
        panic!("postgres did not start on a free port:\n{}", server.log());
    }

    /// Stops the server and starts it again on the same port, as an administrator restarting
    /// PostgreSQL would: every connection to it breaks.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts the stopped server again on its port.
    pub fn start_again(&mut self) {
        assert!(
            self.try_start(self.port),
            "postgres could not start again on port {}: it was taken",
            self.port
        );
    }

    /// Starts `postgres` on `port`; false when another process took the port first.
    fn try_start(&mut self, port: u16) -> bool {
        self.port = port;
        let log = fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = postgres_command("postgres")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir().display()
            ))
            // What these tests check does not depend on surviving a power cut: no fsync,
            // and small shared memory, so that servers of parallel tests start quickly.
            .args(["-c", "fsync=off", "-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=40"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("postgres runs");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.admin_client().is_ok() {
                return true;
            }
            let exited = self
                .server
                .as_mut()
                .and_then(|server| server.try_wait().unwrap());
            if exited.is_some() {
                self.server = None;
                if self.log().contains("could not bind") || self.log().contains("in use") {
                    return false;
                }
                panic!("postgres stopped at its start:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The folder of the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    /// The process ID of the server (the postmaster; its backends are its children).
    // Read by the nodes capacity bench (its CPU time), not by the tests.
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn admin_client(&self) -> Result<postgres::Client, postgres::Error> {
        self.client("postgres")
    }

    /// A connection as the superuser over the Unix socket (trusted) to `database`.
    pub fn client(&self, database: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host_path(self.socket_dir())
            .port(self.port)
            .user(SUPERUSER)
            .dbname(database)
            .connect_timeout(Duration::from_secs(5))
            .connect(postgres::NoTls)
    }

    /// The first column (text) of the rows of `sql` on `database`, read on a connection
    /// of the test's own: what the database holds, committed.
    pub fn stored(&self, database: &str, sql: &str) -> Vec<String> {
        self.client(database)
            .unwrap()
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Makes the database `name`; the URL the back office connects to it with (over TCP,
    /// with the superuser's password).
    pub fn create_database(&self, name: &str) -> String {
        self.admin_client()
            .expect("the server accepts connections")
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|error| panic!("cannot create the database {name}: {error}"));
        self.url(name)
    }

    /// The URL of `database`, with the password.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// `pg_dump` of `database` (its data, as SQL text): everything stored, as another
    /// program reads it.
    pub fn dump(&self, database: &str) -> String {
        let output = Command::new(Path::new(BIN).join("pg_dump"))
            .arg("--data-only")
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", SUPERUSER, database])
            .output()
            .expect("pg_dump runs");
        assert!(
            output.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl PostgresServer {
    /// Stops the server with a fast shutdown (SIGINT: clients are disconnected, the server
    /// exits cleanly), waited for; SIGKILL if it has not stopped within 30 s.
    pub fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // SAFETY: kill only sends a signal to the process we started (and still own).
        unsafe {
            libc::kill(server.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = server.kill();
        let _ = server.wait();
    }
}
