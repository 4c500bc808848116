//! The schema, as numbered migrations applied in order when a back office opens the
//! database, each recorded in `schema_version`. A database whose schema is newer than the
//! migrations this back office has (a newer node migrated it) is refused: an older node
//! would misread what it does not know.
//!
//! A migration is never changed once released; a change of schema is a new migration, for
//! both backends.

use anyhow::{anyhow, bail, Context, Result};

use super::backend::{Kind, Store};

/// One step of the schema.
struct Migration {
    /// Its number: 1, 2, 3, … in order.
    version: i64,
    /// What it does, in a few words (kept in `schema_version`).
    what: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    what: "organisations, serial numbers, licences, help-desk accounts, install reports, assistance requests",
    // `IF NOT EXISTS`: a SQLite file made before schema versions were recorded has these
    // tables already, and gets its version 1 recorded.
    sqlite: r#"
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
    "user" TEXT PRIMARY KEY,
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
"#,
    // The same tables; the row numbers SQLite keeps by itself (`rowid`) are identity
    // columns, booleans are booleans.
    postgres: r#"
CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    code_hash TEXT NOT NULL
);
CREATE TABLE serials (
    serial TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    product_id TEXT NOT NULL,
    product_name TEXT NOT NULL,
    hostname TEXT,
    client TEXT,
    last_seen TEXT
);
CREATE TABLE licences (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT NOT NULL REFERENCES serials(serial),
    sequence BIGINT NOT NULL,
    licence_id TEXT NOT NULL,
    text TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    UNIQUE (serial, sequence)
);
CREATE TABLE helpdesk_users (
    "user" TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    password_hash TEXT NOT NULL
);
CREATE TABLE install_reports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT NOT NULL,
    licence_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    folder TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    error TEXT,
    reported_at TEXT NOT NULL
);
CREATE TABLE assistance (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
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
CREATE INDEX assistance_by_serial ON assistance (serial, requested_at);
CREATE INDEX serials_by_organisation ON serials (organisation_id, serial);
"#,
}, Migration {
    version: 2,
    what: "installation sessions, help-desk sign-ins, which node holds each event stream (several nodes)",
    sqlite: SESSIONS_SQLITE,
    postgres: SESSIONS_POSTGRES,
}, Migration {
    version: 3,
    what: "wrong verification codes and passwords by principal and address, seen by every node",
    sqlite: r#"
CREATE TABLE lockouts (
    principal TEXT NOT NULL,
    address TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    locked_until_ms INTEGER,
    PRIMARY KEY (principal, address)
);
CREATE INDEX lockouts_by_last ON lockouts (last_ms);
"#,
    postgres: r#"
CREATE TABLE lockouts (
    principal TEXT NOT NULL,
    address TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    locked_until_ms BIGINT,
    PRIMARY KEY (principal, address)
);
CREATE INDEX lockouts_by_last ON lockouts (last_ms);
"#,
}];

/// Version 2: what every node must see of the installations' sessions and the help desk's
/// sign-ins, so that any node serves any request. Tokens are kept as their SHA-256 hash
/// only; times are milliseconds since 1970 (`_ms`), compared by the nodes' clocks.
/// `stream_node` holds the session's event stream while the node's lease in `nodes` runs:
/// each node renews its own row a few times per heartbeat interval; one that dies stops,
/// and the streams it held count as closed when its lease runs out.
const SESSIONS_SQLITE: &str = r#"
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    licence_sequence INTEGER,
    last_seen TEXT NOT NULL,
    last_activity_ms INTEGER NOT NULL,
    stream_id TEXT,
    stream_node TEXT,
    allowed_until_ms INTEGER,
    teamviewer_id TEXT,
    remote_user TEXT,
    remote_started TEXT
);
CREATE TABLE helpdesk_sessions (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    used_ms INTEGER NOT NULL
);
CREATE INDEX helpdesk_sessions_by_use ON helpdesk_sessions (used_ms);
CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    lease_ms INTEGER NOT NULL
);
"#;

/// The same tables, and a trigger that tells every listening node (`LISTEN
/// remote_service_backoffice`) that licences were stored, whichever process stored them.
const SESSIONS_POSTGRES: &str = r#"
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    licence_sequence BIGINT,
    last_seen TEXT NOT NULL,
    last_activity_ms BIGINT NOT NULL,
    stream_id TEXT,
    stream_node TEXT,
    allowed_until_ms BIGINT,
    teamviewer_id TEXT,
    remote_user TEXT,
    remote_started TEXT
);
CREATE TABLE helpdesk_sessions (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    used_ms BIGINT NOT NULL
);
CREATE INDEX helpdesk_sessions_by_use ON helpdesk_sessions (used_ms);
CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    lease_ms BIGINT NOT NULL
);
CREATE FUNCTION remote_service_backoffice_licence_stored() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('remote_service_backoffice', '{"origin":"database","kind":"licence"}');
    RETURN NULL;
END
$$;
CREATE TRIGGER licences_announced AFTER INSERT ON licences
    FOR EACH STATEMENT EXECUTE FUNCTION remote_service_backoffice_licence_stored();
"#;

/// The newest schema this back office knows.
pub const KNOWN_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The one table every version has: which migrations were applied, when.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY,
    what TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// A lock of the PostgreSQL database held while it is migrated, so that nodes starting at
/// once migrate one after the other (any number of ours; "RSBO" in ASCII).
const MIGRATION_LOCK: i64 = 0x5253_424F;

/// Applies the migrations the database lacks, in order, in one transaction; refuses a
/// schema newer than [`KNOWN_VERSION`].
pub fn migrate(store: &mut Store) -> Result<()> {
    store.transaction(|store| {
        if store.kind() == Kind::Postgres {
            store.execute("SELECT pg_advisory_xact_lock(?1)", &[&MIGRATION_LOCK])?;
        }
        store
            .batch(VERSION_TABLE)
            .context("cannot make the schema_version table")?;
        let current = store
            .query_first("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .map(|row| row.integer(0))
            .transpose()?
            .unwrap_or(0);
        if current > KNOWN_VERSION {
            return Err(newer_than_known(current));
        }
        for migration in MIGRATIONS
            .iter()
            .filter(|migration| migration.version > current)
        {
            store
                .batch(store.dialect(migration.sqlite, migration.postgres))
                .with_context(|| {
                    format!("cannot migrate the schema to version {}", migration.version)
                })?;
            store.execute(
                "INSERT INTO schema_version (version, what, applied_at) VALUES (?1, ?2, ?3)",
                &[
                    &migration.version,
                    &migration.what,
                    &crate::state::now_text(),
                ],
            )?;
            tracing::info!(
                "database schema migrated to version {}: {}",
                migration.version,
                migration.what
            );
        }
        Ok(())
    })
}

fn newer_than_known(current: i64) -> anyhow::Error {
    anyhow!(
        "the database's schema is version {current}, this back office knows up to {KNOWN_VERSION}: upgrade the back office"
    )
}

/// The schema version of a SQLite database opened read-only, which is never migrated (the
/// source of `migrate`): 0 for a file from before schema versions were recorded; refuses
/// a schema newer than [`KNOWN_VERSION`] as [`migrate`] does, and a file that is no back
/// office database.
pub fn check_read_only(store: &mut Store) -> Result<i64> {
    let has_table = |store: &mut Store, name: &str| -> Result<bool> {
        Ok(store
            .query_first(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                &[&name],
            )?
            .map(|row| row.integer(0))
            .transpose()?
            .unwrap_or(0)
            > 0)
    };
    if !has_table(store, "organisations")? {
        bail!("it is not a back office database (it has no organisations table)");
    }
    if !has_table(store, "schema_version")? {
        return Ok(0);
    }
    let current = store
        .query_first("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
        .map(|row| row.integer(0))
        .transpose()?
        .unwrap_or(0);
    if current > KNOWN_VERSION {
        return Err(newer_than_known(current));
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::super::backend::Location;
    use super::*;

    /// A SQLite file made before schema versions were recorded: its tables are there, its
    /// rows are kept, and version 1 is recorded; one raised past what is known is refused.
    #[test]
    fn a_sqlite_file_from_before_schema_versions_gets_them_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(MIGRATIONS[0].sqlite).unwrap();
            old.execute(
                "INSERT INTO organisations (id, name, code_hash) VALUES ('ORG-1', 'One', 'h')",
                [],
            )
            .unwrap();
        }
        let location = Location::Sqlite(path.clone());
        let mut store = Store::open(&location).unwrap();
        let versions = store
            .query("SELECT version FROM schema_version ORDER BY version", &[])
            .unwrap();
        let versions: Vec<i64> = versions.iter().map(|row| row.integer(0).unwrap()).collect();
        assert_eq!(versions, (1..=KNOWN_VERSION).collect::<Vec<_>>());
        assert!(crate::store::organisation(&mut store, "ORG-1")
            .unwrap()
            .is_some());
        store
            .execute(
                "INSERT INTO schema_version (version, what, applied_at) VALUES (?1, 'newer', 'now')",
                &[&(KNOWN_VERSION + 1)],
            )
            .unwrap();
        drop(store);
        let refused = Store::open(&location).err().expect("refused");
        assert_eq!(
            format!("{refused:#}"),
            format!(
                "the database {}: the database's schema is version {}, this back office knows up to {KNOWN_VERSION}: upgrade the back office",
                path.display(),
                KNOWN_VERSION + 1
            )
        );
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.what);
        }
    }
}
