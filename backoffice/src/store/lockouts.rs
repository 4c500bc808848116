//! Wrong verification codes and help-desk passwords, by principal (organisation or user)
//! and the address that sent them (schema version 3): in the database, so that every node
//! counts the same attempts and a guesser gains nothing from spreading them over nodes.
//! The policy (how many, how long) is [`crate::guard`]'s; times are milliseconds since
//! 1970.

use std::net::IpAddr;

use anyhow::Result;

use super::backend::Store;

/// Until when `principal` is locked out for `address` (ms), if it is at `now_ms`.
pub fn locked_until(
    db: &mut Store,
    principal: &str,
    address: IpAddr,
    now_ms: i64,
) -> Result<Option<i64>> {
    db.query_first(
        "SELECT locked_until_ms FROM lockouts WHERE principal = ?1 AND address = ?2 AND locked_until_ms > ?3",
        &[&principal, &address.to_string(), &now_ms],
    )?
    .map(|row| row.integer(0))
    .transpose()
}

/// Counts a wrong attempt of `principal` from `address` at `now_ms`: the attempts since
/// `forgotten_before_ms` are counted on, older ones start again at one. `lockout` says,
/// for the count, how long the lockout from now is (ms), if there is one.
pub fn failed(
    db: &mut Store,
    principal: &str,
    address: IpAddr,
    now_ms: i64,
    forgotten_before_ms: i64,
    lockout: impl FnOnce(u32) -> Option<i64>,
) -> Result<()> {
    let address = address.to_string();
    db.transaction(|db| {
        let count = db
            .query_first(
                "INSERT INTO lockouts (principal, address, failures, last_ms) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (principal, address) DO UPDATE SET
                     failures = CASE WHEN lockouts.last_ms < ?4 THEN 1 ELSE lockouts.failures + 1 END,
                     locked_until_ms = CASE WHEN lockouts.last_ms < ?4 THEN NULL ELSE lockouts.locked_until_ms END,
                     last_ms = ?3
                 RETURNING failures",
                &[&principal, &address, &now_ms, &forgotten_before_ms],
            )?
            .map(|row| row.integer(0))
            .transpose()?
            .unwrap_or(1);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if let Some(for_ms) = lockout(count) {
            db.execute(
                "UPDATE lockouts SET locked_until_ms = ?3 WHERE principal = ?1 AND address = ?2",
                &[&principal, &address, &(now_ms + for_ms)],
            )?;
        }
        Ok(())
    })
}

/// The right code or password: what `principal` failed from `address` is forgotten.
pub fn succeeded(db: &mut Store, principal: &str, address: IpAddr) -> Result<()> {
    db.execute(
        "DELETE FROM lockouts WHERE principal = ?1 AND address = ?2",
        &[&principal, &address.to_string()],
    )?;
    Ok(())
}

/// Forgets the attempts last made before `before_ms` (an hour ago: their lockout, at most
/// a quarter of an hour, is over).
pub fn forget_before(db: &mut Store, before_ms: i64) -> Result<()> {
    db.execute("DELETE FROM lockouts WHERE last_ms < ?1", &[&before_ms])?;
    Ok(())
}
