//! The back office's database (SQLite): organisations with the hash of their verification
//! code, serial numbers, issued licences, help-desk accounts, install reports and
//! assistance requests. Nothing secret is stored in clear.

use std::path::Path;

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS organisations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    code_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serials (
    serial TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    product_id TEXT NOT NULL,
    product_name TEXT NOT NULL,
    hostname TEXT,
    client TEXT,
    last_seen TEXT
);
CREATE TABLE IF NOT EXISTS licences (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL REFERENCES serials(serial),
    sequence INTEGER NOT NULL,
    licence_id TEXT NOT NULL,
    text TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    UNIQUE (serial, sequence)
);
CREATE TABLE IF NOT EXISTS helpdesk_users (
    user TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS install_reports (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL,
    licence_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    folder TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT,
    reported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assistance (
    request_id TEXT PRIMARY KEY,
    serial TEXT NOT NULL,
    help_desk_user TEXT NOT NULL,
    message TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    answer TEXT,
    teamviewer_id TEXT,
    until TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS assistance_by_serial ON assistance (serial, requested_at);
CREATE INDEX IF NOT EXISTS serials_by_organisation ON serials (organisation_id, serial);
";

/// Opens (and creates) the database, in WAL mode so that the admin commands and the server
/// work on it at the same time.
pub fn open(path: &Path) -> Result<Connection> {
    make_private(path)?;
    let connection = Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .context("cannot set the database's busy timeout")?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the database to WAL")?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .context("cannot set the database's synchronous mode")?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .context("cannot enable foreign keys")?;
    connection
        .execute_batch(SCHEMA)
        .with_context(|| format!("cannot create the tables in {}", path.display()))?;
    Ok(connection)
}

/// The database holds Argon2 hashes, which are not for everyone to read: a new file is made
/// 0600 before SQLite opens it, and SQLite gives its `-wal` and `-shm` files the database's
/// permissions when it creates them; files an earlier version left readable are made
/// private too (by name: opening and closing the database file beside SQLite would drop
/// SQLite's POSIX locks on it).
fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot create the database {}", path.display()))
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error)
                        .with_context(|| format!("cannot make {} private", file.display()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// An organisation.
#[derive(Debug, Clone)]
pub struct Organisation {
    /// The service organisation ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The Argon2 hash of its verification code.
    pub code_hash: String,
}

/// A registered serial number.
#[derive(Debug, Clone)]
pub struct Serial {
    /// The serial number.
    pub serial: String,
    /// Its organisation.
    pub organisation_id: String,
    /// The product's id.
    pub product_id: String,
    /// The product's name.
    pub product_name: String,
}

/// Adds an organisation.
pub fn add_organisation(db: &Connection, id: &str, name: &str, code_hash: &str) -> Result<()> {
    let added = db.execute(
        "INSERT INTO organisations (id, name, code_hash) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![id, name, code_hash],
    )?;
    if added == 0 {
        bail!("organisation {id} exists already");
    }
    Ok(())
}

/// The organisation `id`.
pub fn organisation(db: &Connection, id: &str) -> Result<Option<Organisation>> {
    Ok(db
        .prepare_cached("SELECT id, name, code_hash FROM organisations WHERE id = ?1")?
        .query_row(params![id], |row| {
            Ok(Organisation {
                id: row.get(0)?,
                name: row.get(1)?,
                code_hash: row.get(2)?,
            })
        })
        .optional()?)
}

/// Registers a serial number with an organisation.
pub fn add_serial(db: &Connection, serial: &Serial) -> Result<()> {
    if organisation(db, &serial.organisation_id)?.is_none() {
        bail!(
            "no organisation {}: add it first with `org add`",
            serial.organisation_id
        );
    }
    let added = db.execute(
        "INSERT INTO serials (serial, organisation_id, product_id, product_name) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        params![serial.serial, serial.organisation_id, serial.product_id, serial.product_name],
    )?;
    if added == 0 {
        bail!("serial number {} is registered already", serial.serial);
    }
    Ok(())
}

/// The serial number `serial`.
pub fn serial(db: &Connection, serial: &str) -> Result<Option<Serial>> {
    Ok(db
        .prepare_cached(
            "SELECT serial, organisation_id, product_id, product_name FROM serials WHERE serial = ?1",
        )?
        .query_row(
            params![serial],
            |row| {
                Ok(Serial {
                    serial: row.get(0)?,
                    organisation_id: row.get(1)?,
                    product_id: row.get(2)?,
                    product_name: row.get(3)?,
                })
            },
        )
        .optional()?)
}

/// The serial numbers of an organisation with what was last heard of them.
pub fn serials_of(db: &Connection, organisation_id: &str) -> Result<Vec<SerialRow>> {
    let mut statement = db.prepare_cached(
        "SELECT serial, hostname, client, last_seen FROM serials WHERE organisation_id = ?1 ORDER BY serial",
    )?;
    let rows = statement.query_map(params![organisation_id], |row| {
        Ok(SerialRow {
            serial: row.get(0)?,
            hostname: row.get(1)?,
            client: row.get(2)?,
            last_seen: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A serial number as the help desk lists it.
#[derive(Debug, Clone)]
pub struct SerialRow {
    /// The serial number.
    pub serial: String,
    /// The host name the installation gave.
    pub hostname: Option<String>,
    /// The client version it gave.
    pub client: Option<String>,
    /// When it was last heard of (RFC 3339).
    pub last_seen: Option<String>,
}

/// Records what an installation said of itself.
pub fn record_seen(
    db: &Connection,
    serial: &str,
    hostname: Option<&str>,
    client: Option<&str>,
    at: &str,
) -> Result<()> {
    db.prepare_cached(
        "UPDATE serials SET hostname = COALESCE(?2, hostname), client = COALESCE(?3, client), last_seen = ?4 WHERE serial = ?1",
    )?
    .execute(params![serial, hostname, client, at])?;
    Ok(())
}

/// Records when installations were last seen, `(serial, time)` pairs, in one transaction.
pub fn record_last_seen(db: &Connection, seen: &[(String, String)]) -> Result<()> {
    let transaction = db.unchecked_transaction()?;
    {
        let mut statement =
            transaction.prepare_cached("UPDATE serials SET last_seen = ?2 WHERE serial = ?1")?;
        for (serial, at) in seen {
            statement.execute(params![serial, at])?;
        }
    }
    transaction.commit()?;
    Ok(())
}

/// A stored licence.
#[derive(Debug, Clone)]
pub struct StoredLicence {
    /// The row id (increases with every issue).
    pub row: i64,
    /// The serial number.
    pub serial: String,
    /// Its sequence.
    pub sequence: u64,
    /// Its identifier.
    pub licence_id: String,
    /// The licence file.
    pub text: String,
}

/// The sequence of the serial's latest licence.
pub fn latest_sequence(db: &Connection, serial: &str) -> Result<Option<u64>> {
    Ok(db
        .prepare_cached("SELECT MAX(sequence) FROM licences WHERE serial = ?1")?
        .query_row(params![serial], |row| row.get::<_, Option<i64>>(0))?
        .map(|sequence| sequence as u64))
}

/// Stores a licence as the serial's latest.
pub fn add_licence(
    db: &Connection,
    serial: &str,
    sequence: u64,
    licence_id: &str,
    text: &str,
    issued_at: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO licences (serial, sequence, licence_id, text, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![serial, sequence as i64, licence_id, text, issued_at],
    )?;
    Ok(())
}

/// The serial's latest licence.
pub fn latest_licence(db: &Connection, serial: &str) -> Result<Option<StoredLicence>> {
    Ok(db
        .query_row(
            "SELECT id, serial, sequence, licence_id, text FROM licences WHERE serial = ?1 ORDER BY sequence DESC LIMIT 1",
            params![serial],
            stored_licence,
        )
        .optional()?)
}

/// Licences stored after row `after`.
pub fn licences_after(db: &Connection, after: i64) -> Result<Vec<StoredLicence>> {
    let mut statement = db.prepare(
        "SELECT id, serial, sequence, licence_id, text FROM licences WHERE id > ?1 ORDER BY id",
    )?;
    let rows = statement.query_map(params![after], stored_licence)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The last licence row.
pub fn last_licence_row(db: &Connection) -> Result<i64> {
    Ok(
        db.query_row("SELECT COALESCE(MAX(id), 0) FROM licences", [], |row| {
            row.get(0)
        })?,
    )
}

fn stored_licence(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLicence> {
    Ok(StoredLicence {
        row: row.get(0)?,
        serial: row.get(1)?,
        sequence: row.get::<_, i64>(2)? as u64,
        licence_id: row.get(3)?,
        text: row.get(4)?,
    })
}

/// Adds a help-desk account.
pub fn add_helpdesk_user(
    db: &Connection,
    user: &str,
    organisation_id: &str,
    password_hash: &str,
) -> Result<()> {
    if organisation(db, organisation_id)?.is_none() {
        bail!("no organisation {organisation_id}: add it first with `org add`");
    }
    let added = db.execute(
        "INSERT INTO helpdesk_users (user, organisation_id, password_hash) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![user, organisation_id, password_hash],
    )?;
    if added == 0 {
        bail!("help-desk account {user} exists already");
    }
    Ok(())
}

/// A help-desk account: (organisation, password hash).
pub fn helpdesk_user(db: &Connection, user: &str) -> Result<Option<(String, String)>> {
    Ok(db
        .query_row(
            "SELECT organisation_id, password_hash FROM helpdesk_users WHERE user = ?1",
            params![user],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// The install reports of a serial number, oldest first, as JSON objects.
pub fn install_reports(db: &Connection, serial: &str) -> Result<Vec<serde_json::Value>> {
    let mut statement = db.prepare(
        "SELECT licence_id, sequence, folder, ok, error, reported_at FROM install_reports WHERE serial = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map(params![serial], |row| {
        Ok(serde_json::json!({
            "licence_id": row.get::<_, String>(0)?,
            "sequence": row.get::<_, i64>(1)?,
            "folder": row.get::<_, String>(2)?,
            "ok": row.get::<_, bool>(3)?,
            "error": row.get::<_, Option<String>>(4)?,
            "reported_at": row.get::<_, String>(5)?,
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records an install report, one row per target folder.
pub fn add_install_report(
    db: &Connection,
    serial: &str,
    licence_id: &str,
    sequence: u64,
    targets: &[(String, bool, Option<String>)],
    at: &str,
) -> Result<()> {
    for (folder, ok, error) in targets {
        db.execute(
            "INSERT INTO install_reports (serial, licence_id, sequence, folder, ok, error, reported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![serial, licence_id, sequence as i64, folder, ok, error, at],
        )?;
    }
    Ok(())
}

/// An assistance request and its answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assistance {
    /// The request.
    pub request_id: String,
    /// The installation.
    #[serde(skip)]
    pub serial: String,
    /// Who asked.
    pub help_desk_user: String,
    /// What they wrote.
    pub message: String,
    /// When.
    pub requested_at: String,
    /// `accepted`, `denied`, `no-answer`, `not-allowed`, or none yet.
    pub answer: Option<String>,
    /// The TeamViewer ID the installation gave.
    pub teamviewer_id: Option<String>,
    /// Until when assistance is allowed.
    pub until: Option<String>,
}

/// Stores a new assistance request.
pub fn add_assistance(db: &Connection, request: &Assistance) -> Result<()> {
    db.execute(
        "INSERT INTO assistance (request_id, serial, help_desk_user, message, requested_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![request.request_id, request.serial, request.help_desk_user, request.message, request.requested_at],
    )?;
    Ok(())
}

/// The assistance request `request_id`.
pub fn assistance(db: &Connection, request_id: &str) -> Result<Option<Assistance>> {
    Ok(db
        .query_row(
            "SELECT request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until FROM assistance WHERE request_id = ?1",
            params![request_id],
            assistance_row,
        )
        .optional()?)
}

/// The latest assistance request of each of an organisation's serial numbers that has
/// one, in one query.
pub fn latest_assistance_of(
    db: &Connection,
    organisation_id: &str,
) -> Result<std::collections::HashMap<String, Assistance>> {
    let mut statement = db.prepare_cached(
        "SELECT request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until FROM assistance AS a
         WHERE a.serial IN (SELECT serial FROM serials WHERE organisation_id = ?1)
           AND a.rowid = (SELECT b.rowid FROM assistance AS b WHERE b.serial = a.serial ORDER BY b.requested_at DESC, b.rowid DESC LIMIT 1)",
    )?;
    let rows = statement.query_map(params![organisation_id], assistance_row)?;
    rows.map(|row| row.map(|assistance| (assistance.serial.clone(), assistance)))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

fn assistance_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Assistance> {
    Ok(Assistance {
        request_id: row.get(0)?,
        serial: row.get(1)?,
        help_desk_user: row.get(2)?,
        message: row.get(3)?,
        requested_at: row.get(4)?,
        answer: row.get(5)?,
        teamviewer_id: row.get(6)?,
        until: row.get(7)?,
    })
}

/// Stores the answer to a request; false when it was answered before.
pub fn answer_assistance(
    db: &Connection,
    request_id: &str,
    answer: &str,
    teamviewer_id: Option<&str>,
    until: Option<&str>,
    at: &str,
) -> Result<bool> {
    let changed = db.execute(
        "UPDATE assistance SET answer = ?2, teamviewer_id = ?3, until = ?4, answered_at = ?5 WHERE request_id = ?1 AND answer IS NULL",
        params![request_id, answer, teamviewer_id, until, at],
    )?;
    Ok(changed == 1)
}
