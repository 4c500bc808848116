//! `migrate`: a vendor's data copied whole from a SQLite back office into an empty
//! PostgreSQL one, in one transaction on PostgreSQL, so that a copy that fails leaves the
//! target as empty as it was.
//!
//! Copied: everything a vendor would lose otherwise (organisations with their code hashes,
//! serial numbers with what was last heard of them, help-desk accounts with their password
//! hashes, every issued licence with its row number and sequence, install reports and
//! assistance requests with their answers). Not copied: `schema_version` (the target has its
//! own, made by its migrations) and what lives only while a back office runs — installation
//! sessions, help-desk sign-ins and node leases (a SQLite back office ends those at its next
//! start anyway; installations open a new session with their code and the help desk signs
//! in again), and the wrong attempts counted towards lockouts, forgotten within the hour.

use anyhow::{bail, Context, Result};

use super::backend::{Kind, Row, Store};

/// One kind of data that is copied.
struct Table {
    /// The table.
    name: &'static str,
    /// What the report calls its rows.
    kind: &'static str,
    count: &'static str,
    /// The source's rows after a `rowid` (`?1`), a page at a time, in `rowid` order; column
    /// 0 is the `rowid`.
    select: &'static str,
    /// Writes one source row into the target.
    insert: fn(&mut Store, &Row) -> Result<u64>,
}

/// Rows read from the source at a time, so that a large back office is never held whole in
/// memory.
const PAGE: i64 = 500;

/// In the order the foreign keys need (organisations before the serial numbers and accounts
/// that name them, serial numbers before their licences).
const TABLES: &[Table] = &[
    Table {
        name: "organisations",
        kind: "organisations",
        count: "SELECT COUNT(*) FROM organisations",
        select: "SELECT rowid, id, name, code_hash FROM organisations WHERE rowid > ?1 ORDER BY rowid LIMIT 500",
        insert: |target, row| {
            target.execute(
                "INSERT INTO organisations (id, name, code_hash) VALUES (?1, ?2, ?3)",
                &[&row.text(1)?, &row.text(2)?, &row.text(3)?],
            )
        },
    },
    Table {
        name: "serials",
        kind: "serial numbers",
        count: "SELECT COUNT(*) FROM serials",
        select: "SELECT rowid, serial, organisation_id, product_id, product_name, hostname, client, last_seen FROM serials WHERE rowid > ?1 ORDER BY rowid LIMIT 500",
        insert: |target, row| {
            target.execute(
                "INSERT INTO serials (serial, organisation_id, product_id, product_name, hostname, client, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &[
                    &row.text(1)?,
                    &row.text(2)?,
                    &row.text(3)?,
                    &row.text(4)?,
                    &row.optional_text(5)?,
                    &row.optional_text(6)?,
                    &row.optional_text(7)?,
                ],
            )
        },
    },
    Table {
        name: "helpdesk_users",
        kind: "help-desk accounts",
        count: "SELECT COUNT(*) FROM helpdesk_users",
        select: r#"SELECT rowid, "user", organisation_id, password_hash FROM helpdesk_users WHERE rowid > ?1 ORDER BY rowid LIMIT 500"#,
        insert: |target, row| {
            target.execute(
                r#"INSERT INTO helpdesk_users ("user", organisation_id, password_hash) VALUES (?1, ?2, ?3)"#,
                &[&row.text(1)?, &row.text(2)?, &row.text(3)?],
            )
        },
    },
    // The row numbers are kept: the servers announce the licences stored after the last row
    // they saw, and the order of issue is the order of the rows.
    Table {
        name: "licences",
        kind: "licences",
        count: "SELECT COUNT(*) FROM licences",
        select: "SELECT rowid, serial, sequence, licence_id, text, issued_at FROM licences WHERE rowid > ?1 ORDER BY rowid LIMIT 500",
        insert: |target, row| {
            target.execute(
                "INSERT INTO licences (id, serial, sequence, licence_id, text, issued_at) OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &[
                    &row.integer(0)?,
                    &row.text(1)?,
                    &row.integer(2)?,
                    &row.text(3)?,
                    &row.text(4)?,
                    &row.text(5)?,
                ],
            )
        },
    },
    Table {
        name: "install_reports",
        kind: "install reports",
        count: "SELECT COUNT(*) FROM install_reports",
        select: "SELECT rowid, serial, licence_id, sequence, folder, ok, error, reported_at FROM install_reports WHERE rowid > ?1 ORDER BY rowid LIMIT 500",
        insert: |target, row| {
            target.execute(
                "INSERT INTO install_reports (id, serial, licence_id, sequence, folder, ok, error, reported_at) OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                &[
                    &row.integer(0)?,
                    &row.text(1)?,
                    &row.text(2)?,
                    &row.integer(3)?,
                    &row.text(4)?,
                    &row.boolean(5)?,
                    &row.optional_text(6)?,
                    &row.text(7)?,
                ],
            )
        },
    },
    // SQLite's `rowid` becomes the identity column `id`, which tells requests of the same
    // second apart in the order they were stored.
    Table {
        name: "assistance",
        kind: "assistance requests",
        count: "SELECT COUNT(*) FROM assistance",
        select: "SELECT rowid, request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until, answered_at FROM assistance WHERE rowid > ?1 ORDER BY rowid LIMIT 500",
        insert: |target, row| {
            target.execute(
                "INSERT INTO assistance (id, request_id, serial, help_desk_user, message, requested_at, answer, teamviewer_id, until, answered_at) OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &[
                    &row.integer(0)?,
                    &row.text(1)?,
                    &row.text(2)?,
                    &row.text(3)?,
                    &row.text(4)?,
                    &row.text(5)?,
                    &row.optional_text(6)?,
                    &row.optional_text(7)?,
                    &row.optional_text(8)?,
                    &row.optional_text(9)?,
                ],
            )
        },
    },
];

/// Every table that holds data, copied or not, as the refusal of a non-empty target names
/// them: (what its rows are, the count).
const DATA_TABLES: &[(&str, &str)] = &[
    ("organisations", "SELECT COUNT(*) FROM organisations"),
    ("serial numbers", "SELECT COUNT(*) FROM serials"),
    ("help-desk accounts", "SELECT COUNT(*) FROM helpdesk_users"),
    ("licences", "SELECT COUNT(*) FROM licences"),
    ("install reports", "SELECT COUNT(*) FROM install_reports"),
    ("assistance requests", "SELECT COUNT(*) FROM assistance"),
    ("installation sessions", "SELECT COUNT(*) FROM sessions"),
    (
        "help-desk sign-ins",
        "SELECT COUNT(*) FROM helpdesk_sessions",
    ),
    ("nodes", "SELECT COUNT(*) FROM nodes"),
    ("wrong attempts", "SELECT COUNT(*) FROM lockouts"),
];

/// The identity columns, set past the copied row numbers so that new rows do not collide.
const IDENTITIES: &[&str] = &[
    "SELECT setval(pg_get_serial_sequence('licences', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM licences",
    "SELECT setval(pg_get_serial_sequence('install_reports', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM install_reports",
    "SELECT setval(pg_get_serial_sequence('assistance', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM assistance",
];

/// How many rows of each kind were copied, in the order of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl std::fmt::Display for Counts {
    /// `organisations: 3, serial numbers: 120, …`
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(kind, count)| format!("{kind}: {count}"))
            .collect();
        formatter.write_str(&parts.join(", "))
    }
}

fn count(store: &mut Store, sql: &'static str) -> Result<u64> {
    Ok(store
        .query_first(sql, &[])?
        .map(|row| row.integer(0))
        .transpose()?
        .unwrap_or(0) as u64)
}

/// Copies everything of `source` (a SQLite store opened read-only) into `target` (a
/// PostgreSQL store whose schema is up to date), in one transaction on the target: it is
/// refused when the target holds any row, and committed only once the target's counts are
/// the source's. `target_shown` names the target in errors (without its password).
pub fn copy_all(source: &mut Store, target: &mut Store, target_shown: &str) -> Result<Counts> {
    if source.kind() != Kind::Sqlite || target.kind() != Kind::Postgres {
        bail!("a migration copies a SQLite back office into a PostgreSQL one");
    }
    // One read transaction on the source: a snapshot, even while a back office writes it.
    source
        .batch("BEGIN")
        .context("cannot start reading the source")?;
    let copied = target.transaction(|target| {
        // No other writer until the commit: the target stays empty but for this copy.
        target
            .batch(
                "LOCK TABLE organisations, serials, helpdesk_users, licences, install_reports, assistance, sessions, helpdesk_sessions, nodes, lockouts IN EXCLUSIVE MODE",
            )
            .context("cannot lock the target's tables")?;
        let mut found = Vec::new();
        for (kind, sql) in DATA_TABLES {
            let rows = count(target, sql)?;
            if rows > 0 {
                found.push(format!("{kind}: {rows}"));
            }
        }
        if !found.is_empty() {
            bail!(
                "the database {target_shown} is not empty ({}): migrate only into an empty database; nothing was changed",
                found.join(", ")
            );
        }
        let mut counts = Vec::new();
        for table in TABLES {
            let expected = count(source, table.count)
                .with_context(|| format!("cannot count the source's {}", table.kind))?;
            let mut copied = 0;
            let mut after = 0_i64;
            loop {
                let page = source
                    .query(table.select, &[&after])
                    .with_context(|| format!("cannot read the source's {}", table.kind))?;
                for row in &page {
                    let rowid = row.integer(0)?;
                    (table.insert)(target, row).with_context(|| {
                        format!(
                            "cannot copy row {rowid} of the table {} into {target_shown}",
                            table.name
                        )
                    })?;
                    copied += 1;
                    after = rowid;
                }
                if (page.len() as i64) < PAGE {
                    break;
                }
            }
            let stored = count(target, table.count)?;
            if copied != expected || stored != expected {
                bail!(
                    "the source has {expected} {kind}, {copied} were copied and the target holds {stored}: nothing was committed",
                    kind = table.kind
                );
            }
            counts.push((table.kind, stored));
        }
        for sql in IDENTITIES {
            target
                .query(sql, &[])
                .context("cannot set the target's row numbers past the copied ones")?;
        }
        Ok(Counts(counts))
    });
    // Only read: ending the snapshot changes nothing either way.
    if let Err(error) = source.batch("ROLLBACK") {
        tracing::warn!("cannot end the read of the source: {error:#}");
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_reported_in_words() {
        let counts = Counts(vec![("organisations", 3), ("serial numbers", 120)]);
        assert_eq!(counts.to_string(), "organisations: 3, serial numbers: 120");
    }

    #[test]
    fn every_copied_table_is_paged_by_its_rowid_and_named_in_the_refusal() {
        for table in TABLES {
            assert!(
                table.select.starts_with("SELECT rowid, ")
                    && table
                        .select
                        .ends_with(&format!("WHERE rowid > ?1 ORDER BY rowid LIMIT {PAGE}")),
                "{}",
                table.name
            );
            assert!(
                DATA_TABLES.contains(&(table.kind, table.count)),
                "{}",
                table.name
            );
        }
    }
}
