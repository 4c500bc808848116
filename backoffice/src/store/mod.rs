//! The back office's database: organisations with the hash of their verification code,
//! serial numbers, issued licences, help-desk accounts, install reports and assistance
//! requests. Nothing secret is stored in clear.
//!
//! In a SQLite file (the default: nothing to install, one machine) or in PostgreSQL (several
//! back office nodes on one database): [`Store`] hides which (`backend`); the schema is in
//! `migrations`; `copy` moves a SQLite back office's data into PostgreSQL (`migrate`).

mod backend;
mod copy;
pub mod lockouts;
mod migrations;
pub mod sessions;

use anyhow::{bail, Result};

pub use backend::{is_unreachable, Kind, Location, Store};
pub use copy::copy_all;

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
pub fn add_organisation(db: &mut Store, id: &str, name: &str, code_hash: &str) -> Result<()> {
    let added = db.execute(
        "INSERT INTO organisations (id, name, code_hash) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        &[&id, &name, &code_hash],
    )?;
    if added == 0 {
        bail!("organisation {id} exists already");
    }
    Ok(())
}

/// The organisation `id`.
pub fn organisation(db: &mut Store, id: &str) -> Result<Option<Organisation>> {
    db.query_first(
        "SELECT id, name, code_hash FROM organisations WHERE id = ?1",
        &[&id],
    )?
    .map(|row| {
        Ok(Organisation {
            id: row.text(0)?,
            name: row.text(1)?,
            code_hash: row.text(2)?,
        })
    })
    .transpose()
}

/// Registers a serial number with an organisation.
pub fn add_serial(db: &mut Store, serial: &Serial) -> Result<()> {
    if organisation(db, &serial.organisation_id)?.is_none() {
        bail!(
            "no organisation {}: add it first with `org add`",
            serial.organisation_id
        );
    }
    let added = db.execute(
        "INSERT INTO serials (serial, organisation_id, product_id, product_name) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        &[&serial.serial, &serial.organisation_id, &serial.product_id, &serial.product_name],
    )?;
    if added == 0 {
        bail!("serial number {} is registered already", serial.serial);
    }
    Ok(())
}

/// The serial number `serial`.
pub fn serial(db: &mut Store, serial: &str) -> Result<Option<Serial>> {
    db.query_first(
        "SELECT serial, organisation_id, product_id, product_name FROM serials WHERE serial = ?1",
        &[&serial],
    )?
    .map(|row| {
        Ok(Serial {
            serial: row.text(0)?,
            organisation_id: row.text(1)?,
            product_id: row.text(2)?,
            product_name: row.text(3)?,
        })
    })
    .transpose()
}

/// The serial numbers of an organisation with what was last heard of them.
pub fn serials_of(db: &mut Store, organisation_id: &str) -> Result<Vec<SerialRow>> {
    db.query(
        "SELECT serial, hostname, client, last_seen FROM serials WHERE organisation_id = ?1 ORDER BY serial",
        &[&organisation_id],
    )?
    .iter()
    .map(|row| {
        Ok(SerialRow {
            serial: row.text(0)?,
            hostname: row.optional_text(1)?,
            client: row.optional_text(2)?,
            last_seen: row.optional_text(3)?,
        })
    })
    .collect()
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
    db: &mut Store,
    serial: &str,
    hostname: Option<&str>,
    client: Option<&str>,
    at: &str,
) -> Result<()> {
    db.execute(
        "UPDATE serials SET hostname = COALESCE(?2, hostname), client = COALESCE(?3, client), last_seen = ?4 WHERE serial = ?1",
        &[&serial, &hostname, &client, &at],
    )?;
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
pub fn latest_sequence(db: &mut Store, serial: &str) -> Result<Option<u64>> {
    Ok(db
        .query_first(
            "SELECT MAX(sequence) FROM licences WHERE serial = ?1",
            &[&serial],
        )?
        .map(|row| row.optional_integer(0))
        .transpose()?
        .flatten()
        .map(|sequence| sequence as u64))
}

/// Keeps other issuers of licences out until the transaction ends: on PostgreSQL, so that
/// two issues for a serial never take the same sequence and licence rows are committed in
/// the order of their row numbers (the servers announce the rows after the last they saw;
/// a row committed after a higher one would be missed). A SQLite transaction holds the
/// write lock from its start already.
pub fn lock_licences(db: &mut Store) -> Result<()> {
    if db.kind() == Kind::Postgres {
        db.batch("LOCK TABLE licences IN SHARE ROW EXCLUSIVE MODE")?;
    }
    Ok(())
}

/// Stores a licence as the serial's latest.
pub fn add_licence(
    db: &mut Store,
    serial: &str,
    sequence: u64,
    licence_id: &str,
    text: &str,
    issued_at: &str,
) -> Result<()> {
    db.execute(
        "INSERT INTO licences (serial, sequence, licence_id, text, issued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&serial, &(sequence as i64), &licence_id, &text, &issued_at],
    )?;
    Ok(())
}

/// The serial's latest licence.
pub fn latest_licence(db: &mut Store, serial: &str) -> Result<Option<StoredLicence>> {
    db.query_first(
        "SELECT id, serial, sequence, licence_id, text FROM licences WHERE serial = ?1 ORDER BY sequence DESC LIMIT 1",
        &[&serial],
    )?
    .as_ref()
    .map(stored_licence)
    .transpose()
}

/// Licences stored after row `after`.
pub fn licences_after(db: &mut Store, after: i64) -> Result<Vec<StoredLicence>> {
    db.query(
        "SELECT id, serial, sequence, licence_id, text FROM licences WHERE id > ?1 ORDER BY id",
        &[&after],
    )?
    .iter()
    .map(stored_licence)
    .collect()
}

/// The last licence row.
pub fn last_licence_row(db: &mut Store) -> Result<i64> {
    db.query_first("SELECT COALESCE(MAX(id), 0) FROM licences", &[])?
        .map_or(Ok(0), |row| row.integer(0))
}

fn stored_licence(row: &backend::Row) -> Result<StoredLicence> {
    Ok(StoredLicence {
        row: row.integer(0)?,
        serial: row.text(1)?,
        sequence: row.integer(2)? as u64,
        licence_id: row.text(3)?,
        text: row.text(4)?,
    })
}

/// Adds a help-desk account.
pub fn add_helpdesk_user(
    db: &mut Store,
    user: &str,
    organisation_id: &str,
    password_hash: &str,
) -> Result<()> {
    if organisation(db, organisation_id)?.is_none() {
        bail!("no organisation {organisation_id}: add it first with `org add`");
    }
    let added = db.execute(
        r#"INSERT INTO helpdesk_users ("user", organisation_id, password_hash) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"#,
        &[&user, &organisation_id, &password_hash],
    )?;
    if added == 0 {
        bail!("help-desk account {user} exists already");
    }
    Ok(())
}

/// A help-desk account: (organisation, password hash).
pub fn helpdesk_user(db: &mut Store, user: &str) -> Result<Option<(String, String)>> {
    db.query_first(
        r#"SELECT organisation_id, password_hash FROM helpdesk_users WHERE "user" = ?1"#,
        &[&user],
    )?
    .map(|row| Ok((row.text(0)?, row.text(1)?)))
    .transpose()
}

/// The install reports of a serial number, oldest first, as JSON objects.
pub fn install_reports(db: &mut Store, serial: &str) -> Result<Vec<serde_json::Value>> {
    db.query(
        "SELECT licence_id, sequence, folder, ok, error, reported_at FROM install_reports WHERE serial = ?1 ORDER BY id",
        &[&serial],
    )?
    .iter()
    .map(|row| {
        Ok(serde_json::json!({
            "licence_id": row.text(0)?,
            "sequence": row.integer(1)?,
            "folder": row.text(2)?,
            "ok": row.boolean(3)?,
            "error": row.optional_text(4)?,
            "reported_at": row.text(5)?,
        }))
    })
    .collect()
}

/// Records an install report, one row per target folder, in one transaction: all of it is
/// committed when this returns, or none.
pub fn add_install_report(
    db: &mut Store,
    serial: &str,
    licence_id: &str,
    sequence: u64,
    targets: &[(String, bool, Option<String>)],
    at: &str,
) -> Result<()> {
    db.transaction(|db| {
        for (folder, ok, error) in targets {
            db.execute(
                "INSERT INTO install_reports (serial, licence_id, sequence, folder, ok, error, reported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[&serial, &licence_id, &(sequence as i64), folder, ok, error, &at],
            )?;
        }
        Ok(())
    })
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
pub fn add_assistance(db: &mut Store, request: &Assistance) -> Result<()> {
    db.execute(
        "INSERT INTO assistance (request_id, serial, help_desk_user, message, requested_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&request.request_id, &request.serial, &request.help_desk_user, &request.message, &request.requested_at],
    )?;
    Ok(())
}

/// The assistance request `request_id`.
pub fn assistance(db: &mut Store, request_id: &str) -> Result<Option<Assistance>> {
    db.query_first(
        "SELECT request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until FROM assistance WHERE request_id = ?1",
        &[&request_id],
    )?
    .as_ref()
    .map(assistance_row)
    .transpose()
}

/// The latest assistance request of each of an organisation's serial numbers that has
/// one, in one query. Requests of the same second are told apart by the order they were
/// stored in: SQLite's `rowid`, PostgreSQL's identity column `id`.
pub fn latest_assistance_of(
    db: &mut Store,
    organisation_id: &str,
) -> Result<std::collections::HashMap<String, Assistance>> {
    let sql = db.dialect(
        "SELECT request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until FROM assistance AS a
         WHERE a.serial IN (SELECT serial FROM serials WHERE organisation_id = ?1)
           AND a.rowid = (SELECT b.rowid FROM assistance AS b WHERE b.serial = a.serial ORDER BY b.requested_at DESC, b.rowid DESC LIMIT 1)",
        "SELECT DISTINCT ON (serial) request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until FROM assistance
         WHERE serial IN (SELECT serial FROM serials WHERE organisation_id = ?1)
         ORDER BY serial, requested_at DESC, id DESC",
    );
    db.query(sql, &[&organisation_id])?
        .iter()
        .map(|row| assistance_row(row).map(|assistance| (assistance.serial.clone(), assistance)))
        .collect()
}

fn assistance_row(row: &backend::Row) -> Result<Assistance> {
    Ok(Assistance {
        request_id: row.text(0)?,
        serial: row.text(1)?,
        help_desk_user: row.text(2)?,
        message: row.text(3)?,
        requested_at: row.text(4)?,
        answer: row.optional_text(5)?,
        teamviewer_id: row.optional_text(6)?,
        until: row.optional_text(7)?,
    })
}

/// Stores the answer to a request; false when it was answered before.
pub fn answer_assistance(
    db: &mut Store,
    request_id: &str,
    answer: &str,
    teamviewer_id: Option<&str>,
    until: Option<&str>,
    at: &str,
) -> Result<bool> {
    let changed = db.execute(
        "UPDATE assistance SET answer = ?2, teamviewer_id = ?3, until = ?4, answered_at = ?5 WHERE request_id = ?1 AND answer IS NULL",
        &[&request_id, &answer, &teamviewer_id, &until, &at],
    )?;
    Ok(changed == 1)
}
