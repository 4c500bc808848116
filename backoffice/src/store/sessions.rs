//! What every node must see of the installations' sessions, the event streams they hold,
//! and the help desk's sign-ins (schema version 2). Tokens come here as their SHA-256
//! hash only ([`token_hash`]); times are milliseconds since 1970.

use anyhow::Result;

use super::backend::Store;

/// The SHA-256 of a session or sign-in token, hex: what the database keeps of it, so that
/// someone who reads the database cannot use the tokens in it.
pub fn token_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An installation's session as the database holds it.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The serial number.
    pub serial: String,
    /// The licence sequence the installation last reported (written in batches).
    pub licence_sequence: Option<u64>,
    /// When it was last seen (RFC 3339, written in batches).
    pub last_seen: String,
    /// Whether a live node holds its event stream.
    pub has_stream: bool,
    /// Until when remote assistance is allowed (milliseconds), if it is.
    pub allowed_until_ms: Option<i64>,
    /// The TeamViewer ID it reported while allowed.
    pub teamviewer_id: Option<String>,
    /// The remote session that is on: (help-desk user, started at).
    pub remote_session: Option<(String, String)>,
}

fn session_row(row: &super::backend::Row) -> Result<SessionRow> {
    let remote_user = row.optional_text(6)?;
    let remote_started = row.optional_text(7)?;
    Ok(SessionRow {
        serial: row.text(0)?,
        licence_sequence: row.optional_integer(1)?.map(|sequence| sequence as u64),
        last_seen: row.text(2)?,
        has_stream: row.boolean(3)?,
        allowed_until_ms: row.optional_integer(4)?,
        teamviewer_id: row.optional_text(5)?,
        remote_session: remote_user.zip(remote_started),
    })
}

/// Starts a session for `serial` under `token_hash`; the serial's previous session ends
/// (its token hash is returned, so that the node holding its stream closes it).
pub fn start_session(
    db: &mut Store,
    token_hash: &str,
    serial: &str,
    licence_sequence: Option<u64>,
    now: &str,
    now_ms: i64,
) -> Result<Option<String>> {
    let sequence = licence_sequence.map(|sequence| sequence as i64);
    db.transaction(|db| {
        let previous = db
            .query_first(
                "DELETE FROM sessions WHERE serial = ?1 RETURNING token_hash",
                &[&serial],
            )?
            .map(|row| row.text(0))
            .transpose()?;
        db.execute(
            "INSERT INTO sessions (token_hash, serial, licence_sequence, last_seen, last_activity_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[&token_hash, &serial, &sequence, &now, &now_ms],
        )?;
        Ok(previous)
    })
}

/// A query of the sessions' columns that [`session_row`] reads, with a stream counted as
/// open only while its node's lease runs (`?2`: now, in ms), for the sessions `$which`
/// selects (`?1`).
macro_rules! session_query {
    ($which:literal) => {
        concat!(
            "SELECT s.serial, s.licence_sequence, s.last_seen, ",
            "s.stream_node IS NOT NULL AND EXISTS (SELECT 1 FROM nodes AS n WHERE n.node = s.stream_node AND n.lease_ms > ?2), ",
            "s.allowed_until_ms, s.teamviewer_id, s.remote_user, s.remote_started ",
            "FROM sessions AS s WHERE ",
            $which
        )
    };
}

/// The session of `token_hash`: its serial and the sequence of the serial's latest
/// licence; `None` when there is no such session.
pub fn session_serial(db: &mut Store, token_hash: &str) -> Result<Option<(String, Option<u64>)>> {
    db.query_first(
        "SELECT s.serial, (SELECT MAX(sequence) FROM licences WHERE serial = s.serial) FROM sessions AS s WHERE s.token_hash = ?1",
        &[&token_hash],
    )?
    .map(|row| {
        Ok((
            row.text(0)?,
            row.optional_integer(1)?.map(|sequence| sequence as u64),
        ))
    })
    .transpose()
}

/// The session of `token_hash` with all it holds, at `now_ms` (for its stream's node
/// lease).
pub fn session(db: &mut Store, token_hash: &str, now_ms: i64) -> Result<Option<SessionRow>> {
    db.query_first(session_query!("s.token_hash = ?1"), &[&token_hash, &now_ms])?
        .as_ref()
        .map(session_row)
        .transpose()
}

/// The live session of `serial`, at `now_ms`.
pub fn session_of_serial(db: &mut Store, serial: &str, now_ms: i64) -> Result<Option<SessionRow>> {
    db.query_first(session_query!("s.serial = ?1"), &[&serial, &now_ms])?
        .as_ref()
        .map(session_row)
        .transpose()
}

/// The live sessions of an organisation's installations, at `now_ms`.
pub fn sessions_of(db: &mut Store, organisation_id: &str, now_ms: i64) -> Result<Vec<SessionRow>> {
    db.query(
        session_query!("s.serial IN (SELECT serial FROM serials WHERE organisation_id = ?1)"),
        &[&organisation_id, &now_ms],
    )?
    .iter()
    .map(session_row)
    .collect()
}

/// Ends the session of `token_hash`; its serial, or `None` when there was none.
pub fn end_session(db: &mut Store, token_hash: &str) -> Result<Option<String>> {
    db.query_first(
        "DELETE FROM sessions WHERE token_hash = ?1 RETURNING serial",
        &[&token_hash],
    )?
    .map(|row| row.text(0))
    .transpose()
}

/// What heartbeats said since the last batch, for one session.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The session's token hash.
    pub token_hash: String,
    /// Its serial.
    pub serial: String,
    /// When it was last heard of (RFC 3339).
    pub last_seen: String,
    /// The same, in milliseconds.
    pub at_ms: i64,
    /// The licence sequence it reported, if it did.
    pub licence_sequence: Option<u64>,
}

/// Writes a batch of heartbeats' activity in one transaction: the sessions' last activity
/// and the serials' last seen.
pub fn record_activity(db: &mut Store, batch: &[Activity]) -> Result<()> {
    // One statement per table for the whole chunk, the rows as one JSON parameter (text
    // cast to json on PostgreSQL, which binds a Rust string as text only): at a
    // tick a node has thousands, and a statement (a round trip) per row kept the
    // connection busy for up to a second.
    let rows: Vec<serde_json::Value> = batch
        .iter()
        .map(|activity| {
            serde_json::json!({
                "token_hash": activity.token_hash,
                "serial": activity.serial,
                "last_seen": activity.last_seen,
                "at_ms": activity.at_ms,
                "sequence": activity.licence_sequence.map(|sequence| sequence as i64),
            })
        })
        .collect();
    let rows = serde_json::Value::Array(rows).to_string();
    let sessions = db.dialect(
        "UPDATE sessions SET last_seen = v.last_seen, last_activity_ms = v.at_ms,
                licence_sequence = COALESCE(v.sequence, sessions.licence_sequence)
         FROM (SELECT value ->> '$.token_hash' AS token_hash, value ->> '$.last_seen' AS last_seen,
                      value ->> '$.at_ms' AS at_ms, value ->> '$.sequence' AS sequence
               FROM json_each(?1)) AS v
         WHERE sessions.token_hash = v.token_hash",
        "UPDATE sessions AS s SET last_seen = v.last_seen, last_activity_ms = v.at_ms,
                licence_sequence = COALESCE(v.sequence, s.licence_sequence)
         FROM json_to_recordset(?1::text::json)
              AS v(token_hash text, last_seen text, at_ms bigint, sequence bigint)
         WHERE s.token_hash = v.token_hash",
    );
    let serials = db.dialect(
        "UPDATE serials SET last_seen = v.last_seen
         FROM (SELECT value ->> '$.serial' AS serial, value ->> '$.last_seen' AS last_seen
               FROM json_each(?1)) AS v
         WHERE serials.serial = v.serial",
        "UPDATE serials AS s SET last_seen = v.last_seen
         FROM json_to_recordset(?1::text::json) AS v(serial text, last_seen text)
         WHERE s.serial = v.serial",
    );
    db.transaction(|db| {
        db.execute(sessions, &[&rows])?;
        db.execute(serials, &[&rows])?;
        Ok(())
    })
}

/// Records that `node` holds the event stream `stream_id` of the session; false when the
/// session ended meanwhile.
pub fn open_stream(
    db: &mut Store,
    token_hash: &str,
    stream_id: &str,
    node: &str,
    now_ms: i64,
) -> Result<bool> {
    Ok(db.execute(
        "UPDATE sessions SET stream_id = ?2, stream_node = ?3, last_activity_ms = ?4 WHERE token_hash = ?1",
        &[&token_hash, &stream_id, &node, &now_ms],
    )? == 1)
}

/// Records that the event stream `stream_id` closed (unless another replaced it): the
/// three heartbeat intervals of the session start again at `now_ms`.
pub fn close_stream(
    db: &mut Store,
    token_hash: &str,
    stream_id: &str,
    now: &str,
    now_ms: i64,
) -> Result<bool> {
    Ok(db.execute(
        "UPDATE sessions SET stream_id = NULL, stream_node = NULL, last_seen = ?3, last_activity_ms = ?4 WHERE token_hash = ?1 AND stream_id = ?2",
        &[&token_hash, &stream_id, &now, &now_ms],
    )? == 1)
}

/// Renews the lease of `node` (listening on `address`) until `lease_ms`.
pub fn renew_node(db: &mut Store, node: &str, address: &str, lease_ms: i64) -> Result<()> {
    db.execute(
        "INSERT INTO nodes (node, address, lease_ms) VALUES (?1, ?2, ?3) ON CONFLICT (node) DO UPDATE SET lease_ms = ?3",
        &[&node, &address, &lease_ms],
    )?;
    Ok(())
}

/// A node stops: the streams it held are closed at `now_ms`, its lease goes, and the nodes
/// whose lease ran out long ago are forgotten.
pub fn leave(db: &mut Store, node: &str, now: &str, now_ms: i64) -> Result<()> {
    db.transaction(|db| {
        db.execute(
            "UPDATE sessions SET stream_id = NULL, stream_node = NULL, last_seen = ?2, last_activity_ms = ?3 WHERE stream_node = ?1",
            &[&node, &now, &now_ms],
        )?;
        db.execute("DELETE FROM nodes WHERE node = ?1", &[&node])?;
        Ok(())
    })
}

/// Ends the sessions that had no activity since `idle_before_ms` and whose event stream no
/// live node holds (at `now_ms`); (serial, last seen) of each, which is written to its
/// serial.
pub fn expire_sessions(
    db: &mut Store,
    idle_before_ms: i64,
    now_ms: i64,
) -> Result<Vec<(String, String)>> {
    db.transaction(|db| {
        let expired: Vec<(String, String)> = db
            .query(
                "DELETE FROM sessions AS s WHERE s.last_activity_ms < ?1
                   AND NOT (s.stream_node IS NOT NULL AND EXISTS (SELECT 1 FROM nodes AS n WHERE n.node = s.stream_node AND n.lease_ms > ?2))
                 RETURNING serial, last_seen",
                &[&idle_before_ms, &now_ms],
            )?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .collect::<Result<_>>()?;
        for (serial, at) in &expired {
            db.execute(
                "UPDATE serials SET last_seen = ?2 WHERE serial = ?1",
                &[serial, at],
            )?;
        }
        Ok(expired)
    })
}

/// Ends every session and sign-in: a single SQLite back office starts without those of
/// its last run (its installations and help desk sign in again, as they did when these
/// lived in its memory).
pub fn forget_all(db: &mut Store) -> Result<()> {
    db.batch("DELETE FROM sessions; DELETE FROM helpdesk_sessions; DELETE FROM nodes;")
}

/// What `PUT /v1/assistance` reported: stored with the session; false when the session
/// ended. `until_ms` `None`: not allowed.
pub fn set_allowance(
    db: &mut Store,
    token_hash: &str,
    until_ms: Option<i64>,
    teamviewer_id: Option<&str>,
    remote_session: Option<(&str, &str)>,
) -> Result<bool> {
    let (user, started) = remote_session.unzip();
    Ok(db.execute(
        "UPDATE sessions SET allowed_until_ms = ?2, teamviewer_id = ?3, remote_user = ?4, remote_started = ?5 WHERE token_hash = ?1",
        &[&token_hash, &until_ms, &teamviewer_id, &user, &started],
    )? == 1)
}

/// Forgets the allowances whose time passed at `now_ms`; the serials that had one.
pub fn lapse_allowances(db: &mut Store, now_ms: i64) -> Result<Vec<String>> {
    db.query(
        "UPDATE sessions SET allowed_until_ms = NULL, teamviewer_id = NULL, remote_user = NULL, remote_started = NULL WHERE allowed_until_ms <= ?1 RETURNING serial",
        &[&now_ms],
    )?
    .iter()
    .map(|row| row.text(0))
    .collect()
}

/// When the next allowance in force ends (milliseconds).
pub fn next_allowance_end(db: &mut Store, now_ms: i64) -> Result<Option<i64>> {
    Ok(db
        .query_first(
            "SELECT MIN(allowed_until_ms) FROM sessions WHERE allowed_until_ms > ?1",
            &[&now_ms],
        )?
        .map(|row| row.optional_integer(0))
        .transpose()?
        .flatten())
}

/// Signs `user` of `organisation_id` in under `token_hash` at `now_ms`; the sign-ins
/// unused since `idle_before_ms` go, and beyond `max` the least recently used.
pub fn add_helpdesk_session(
    db: &mut Store,
    token_hash: &str,
    user: &str,
    organisation_id: &str,
    now_ms: i64,
    idle_before_ms: i64,
    max: i64,
) -> Result<()> {
    db.transaction(|db| {
        db.execute(
            "DELETE FROM helpdesk_sessions WHERE used_ms < ?1",
            &[&idle_before_ms],
        )?;
        let beyond = db.dialect(
            "DELETE FROM helpdesk_sessions WHERE token_hash IN (SELECT token_hash FROM helpdesk_sessions ORDER BY used_ms DESC LIMIT -1 OFFSET ?1)",
            "DELETE FROM helpdesk_sessions WHERE token_hash IN (SELECT token_hash FROM helpdesk_sessions ORDER BY used_ms DESC OFFSET ?1)",
        );
        db.execute(beyond, &[&(max - 1)])?;
        db.execute(
            r#"INSERT INTO helpdesk_sessions (token_hash, "user", organisation_id, used_ms) VALUES (?1, ?2, ?3, ?4)"#,
            &[&token_hash, &user, &organisation_id, &now_ms],
        )?;
        Ok(())
    })
}

/// The (user, organisation) signed in under `token_hash`, used at `now_ms`; `None` when
/// there is none or it was unused since `idle_before_ms`. Its time of use is written when
/// it is more than a minute old (not on every request).
pub fn helpdesk_session(
    db: &mut Store,
    token_hash: &str,
    now_ms: i64,
    idle_before_ms: i64,
) -> Result<Option<(String, String)>> {
    let Some(row) = db.query_first(
        r#"SELECT "user", organisation_id, used_ms FROM helpdesk_sessions WHERE token_hash = ?1"#,
        &[&token_hash],
    )?
    else {
        return Ok(None);
    };
    let used_ms = row.integer(2)?;
    if used_ms < idle_before_ms {
        db.execute(
            "DELETE FROM helpdesk_sessions WHERE token_hash = ?1",
            &[&token_hash],
        )?;
        return Ok(None);
    }
    if now_ms - used_ms > 60_000 {
        db.execute(
            "UPDATE helpdesk_sessions SET used_ms = ?2 WHERE token_hash = ?1",
            &[&token_hash, &now_ms],
        )?;
    }
    Ok(Some((row.text(0)?, row.text(1)?)))
}

/// Signs `token_hash` out.
pub fn remove_helpdesk_session(db: &mut Store, token_hash: &str) -> Result<()> {
    db.execute(
        "DELETE FROM helpdesk_sessions WHERE token_hash = ?1",
        &[&token_hash],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{self, Location, Serial};

    fn activity(serial: &str, at: &str, at_ms: i64, sequence: Option<u64>) -> Activity {
        Activity {
            token_hash: token_hash(serial),
            serial: serial.into(),
            last_seen: at.into(),
            at_ms,
            licence_sequence: sequence,
        }
    }

    /// One statement per table writes the whole batch: every session and serial in it,
    /// a sequence kept where a heartbeat reported none, and nothing else touched.
    #[test]
    fn a_batch_writes_each_session_and_serial_it_names() {
        let folder = tempfile::tempdir().unwrap();
        let mut db = Store::open(&Location::Sqlite(folder.path().join("office.sqlite"))).unwrap();
        store::add_organisation(&mut db, "ORG-1", "Org", "hash").unwrap();
        for serial in ["SN-1", "SN-2", "SN-3"] {
            store::add_serial(
                &mut db,
                &Serial {
                    serial: serial.into(),
                    organisation_id: "ORG-1".into(),
                    product_id: "p".into(),
                    product_name: "P".into(),
                },
            )
            .unwrap();
            let start = "2026-12-01T10:00:00Z";
            start_session(&mut db, &token_hash(serial), serial, Some(4), start, 1_000).unwrap();
        }
        record_activity(
            &mut db,
            &[
                activity("SN-1", "2026-12-01T10:00:30Z", 31_000, Some(5)),
                activity("SN-2", "2026-12-01T10:00:31Z", 32_000, None),
            ],
        )
        .unwrap();

        let session = |db: &mut Store, serial: &str| {
            let row = session(db, &token_hash(serial), 0).unwrap().unwrap();
            (row.last_seen, row.licence_sequence)
        };
        assert_eq!(
            session(&mut db, "SN-1"),
            ("2026-12-01T10:00:30Z".into(), Some(5))
        );
        assert_eq!(
            session(&mut db, "SN-2"),
            ("2026-12-01T10:00:31Z".into(), Some(4))
        );
        assert_eq!(
            session(&mut db, "SN-3"),
            ("2026-12-01T10:00:00Z".into(), Some(4))
        );
        let seen: Vec<_> = store::serials_of(&mut db, "ORG-1")
            .unwrap()
            .into_iter()
            .map(|row| row.last_seen)
            .collect();
        assert_eq!(
            seen,
            [
                Some("2026-12-01T10:00:30Z".to_string()),
                Some("2026-12-01T10:00:31Z".to_string()),
                None,
            ]
        );
        let mut idle: Vec<_> = expire_sessions(&mut db, 31_500, 0)
            .unwrap()
            .into_iter()
            .map(|(serial, _)| serial)
            .collect();
        idle.sort();
        assert_eq!(
            idle,
            ["SN-1", "SN-3"],
            "SN-2's activity was written as 32,000 ms"
        );
    }
}
